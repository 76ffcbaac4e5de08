/*
 * tags.c - DKIM tag-lists (RFC 6376 3.2): "name=value; name=value".
 *
 * Shared by DKIM-Signature fields and key records. Each tag-spec may be
 * surrounded by folding white space, and so may the '='. A tag-list is
 * invalid as a whole when a name occurs twice, a tag-spec has no '=', a
 * name is not ALPHA *(ALPHA / DIGIT / "_"), or a value holds a control
 * character other than white space. Unknown tags are kept (callers ignore
 * them). The raw span of each value is recorded, so the verifier can blank
 * b= in the signature field exactly as received.
 *
 * Calling rules: pure functions; thread-safe.
 * Untrusted input: the whole string (a header value, a DNS TXT record),
 * bounded by its length and by DKIM_MAX_TAGS.
 */
#include "build-config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dkim/dkim.h"

static int
is_fws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* *err = a followed by b. */
static int
fail(char **err, const char *a, const char *b)
{
	if (asprintf(err, "%s%s", a, b) < 0)
		*err = NULL;
	return -1;
}

int
dkim_tags_parse(const char *s, size_t len, struct dkim_tags *out, char **err)
{
	size_t pos = 0;

	memset(out, 0, sizeof(*out));
	*err = NULL;
	while (pos < len) {
		size_t end, ns, ne, vs, ve, k;
		const char *semi = memchr(s + pos, ';', len - pos);
		const char *eq;
		struct dkim_tag *t;

		end = semi ? (size_t)(semi - s) : len;
		/* An empty tag-spec: allowed only at the end ("a=1;" or "a=1; "). */
		for (k = pos; k < end && is_fws(s[k]); k++)
			;
		if (k == end) {
			if (semi == NULL)
				break;
			dkim_tags_free(out);
			return fail(err, "empty tag-spec in the tag-list", "");
		}
		eq = memchr(s + pos, '=', end - pos);
		if (eq == NULL) {
			dkim_tags_free(out);
			return fail(err, "a tag without '='", "");
		}
		for (ns = pos; ns < end && is_fws(s[ns]); ns++)
			;
		for (ne = (size_t)(eq - s); ne > ns && is_fws(s[ne - 1]); ne--)
			;
		if (ne == ns || !isalpha((unsigned char)s[ns])) {
			dkim_tags_free(out);
			return fail(err, "a tag without a valid name", "");
		}
		for (k = ns; k < ne; k++)
			if (!isalnum((unsigned char)s[k]) && s[k] != '_') {
				dkim_tags_free(out);
				return fail(err, "a tag name with an invalid character", "");
			}
		for (k = (size_t)(eq - s) + 1; k < end; k++)
			if (((unsigned char)s[k] < 0x20 && !is_fws(s[k])) || s[k] == 0x7f) {
				dkim_tags_free(out);
				return fail(err, "a control character in a tag value", "");
			}
		for (vs = (size_t)(eq - s) + 1; vs < end && is_fws(s[vs]); vs++)
			;
		for (ve = end; ve > vs && is_fws(s[ve - 1]); ve--)
			;
		if (out->n >= DKIM_MAX_TAGS) {
			dkim_tags_free(out);
			return fail(err, "too many tags (most: 64)", "");
		}
		if (ne - ns >= sizeof(out->v[0].name) && out->n == 0)
			out->long_first = 1;      /* never one we know, but "v= first" must still see it */
		if (ne - ns < sizeof(out->v[0].name)) {
			char name[16];
			memcpy(name, s + ns, ne - ns);
			name[ne - ns] = '\0';
			if (dkim_tag_get(out, name)) {
				dkim_tags_free(out);
				return fail(err, "duplicate tag ", name);
			}
			if (out->n % 16 == 0) {
				struct dkim_tag *nv = realloc(out->v, (out->n + 16) * sizeof(*nv));
				if (nv == NULL) {
					dkim_tags_free(out);
					return fail(err, "out of memory", "");
				}
				out->v = nv;
			}
			t = &out->v[out->n];
			memcpy(t->name, name, sizeof(name));
			t->value = malloc(ve - vs + 1);
			if (t->value == NULL) {
				dkim_tags_free(out);
				return fail(err, "out of memory", "");
			}
			memcpy(t->value, s + vs, ve - vs);
			t->value[ve - vs] = '\0';
			t->vstart = (size_t)(eq - s) + 1;
			t->vend = end;
			out->n++;
		}
		if (semi == NULL)
			break;
		pos = end + 1;
	}
	return 0;
}

const struct dkim_tag *
dkim_tag_get(const struct dkim_tags *t, const char *name)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		if (strcmp(t->v[i].name, name) == 0)
			return &t->v[i];
	return NULL;
}

void
dkim_tags_free(struct dkim_tags *t)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		free(t->v[i].value);
	free(t->v);
	t->v = NULL;
	t->n = 0;
}

char *
dkim_strip_ws(const char *s)
{
	char *out = malloc(strlen(s) + 1), *o = out;

	if (out == NULL)
		return NULL;
	for (; *s; s++)
		if (!is_fws(*s))
			*o++ = *s;
	*o = '\0';
	return out;
}

int
dkim_list_has(const char *list, const char *want, int nocase)
{
	const char *p = list;
	size_t wl = strlen(want);

	while (*p) {
		const char *e, *t;
		while (is_fws(*p) || *p == ':')
			p++;
		for (e = p; *e && *e != ':'; e++)
			;
		for (t = e; t > p && is_fws(t[-1]); t--)
			;
		if ((size_t)(t - p) == wl && (nocase ? strncasecmp(p, want, wl) : strncmp(p, want, wl)) == 0)
			return 1;
		p = e;
	}
	return 0;
}
