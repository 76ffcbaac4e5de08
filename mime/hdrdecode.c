/*
 * hdrdecode.c - decode header values (RFC 2047, RFC 2231 parameters) and
 * convert charsets, through GMime. The only file that calls GMime's header
 * helpers, so the rest of the code deals in plain malloc'd UTF-8 strings.
 *
 * Calling rules: mime_init() first (every function here calls it, it is
 * idempotent and thread-safe). All functions are thread-safe.
 * Untrusted input: raw header values from mail: 8-bit bytes, invalid UTF-8,
 * broken encoded-words, NUL-free (the milter protocol cannot carry NULs in
 * headers). Lengths are bounded by limits.max_header_size upstream.
 */
#include "build-config.h"

#include <errno.h>
#include <gmime/gmime.h>
#include <stdint.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "mime/hdrdecode.h"
#include "rules/config.h"

static pthread_once_t once = PTHREAD_ONCE_INIT;

static void
do_init(void)
{
	g_mime_init();
}

void
mime_init(void)
{
	pthread_once(&once, do_init);
}

/* GMime allocates with g_malloc: hand callers memory they can free(). */
static char *
from_g(char *g)
{
	char *s;

	if (g == NULL)
		return NULL;
	s = strdup(g);
	g_free(g);
	return s;
}

char *
hdr_decode(const char *raw)
{
	char *unfolded, *dec;

	mime_init();
	unfolded = unfold_trim(raw);
	if (unfolded == NULL)
		return NULL;
	dec = from_g(g_mime_utils_header_decode_text(NULL, unfolded));
	if (dec == NULL)
		return unfolded;
	free(unfolded);
	if (!g_utf8_validate(dec, -1, NULL)) {
		char *fixed = from_g(g_utf8_make_valid(dec, -1));
		free(dec);
		dec = fixed;
	}
	return dec;
}

char *
hdr_encode(const char *utf8)
{
	const unsigned char *p;

	mime_init();
	for (p = (const unsigned char *)utf8; *p; p++)
		if (*p >= 0x80)
			return from_g(g_mime_utils_header_encode_text(NULL, utf8, "utf-8"));
	return strdup(utf8);
}

static char *
lower_dup(const char *s)
{
	char *d = strdup(s ? s : ""), *p;

	for (p = d; p && *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	return d;
}

/* "type/subtype" with both tokens present, before any parameter. */
static int
ctype_well_formed(const char *v)
{
	size_t t = strcspn(v, "/;"), st;

	if (t == 0 || v[t] != '/')
		return 0;
	st = strcspn(v + t + 1, "; \t");
	return st > 0;
}

int
mime_ctype_parse(const char *raw, const char *def, struct mime_ctype *out)
{
	GMimeContentType *ct;
	const char *v;
	char *unfolded;
	int oom = 0;

	mime_init();
	memset(out, 0, sizeof(*out));
	unfolded = raw ? unfold_trim(raw) : NULL;
	if (raw && unfolded == NULL)
		return -1;
	/* GMime turns a broken value into application/octet-stream; RFC 2045 5.2
	 * says to read it as the default (text/plain), and so do we. */
	ct = unfolded && ctype_well_formed(unfolded) ? g_mime_content_type_parse(NULL, unfolded) : NULL;
	free(unfolded);
	if (ct == NULL || g_mime_content_type_get_media_type(ct) == NULL ||
	    g_mime_content_type_get_media_subtype(ct) == NULL) {
		out->type = strdup(def);
		if (ct)
			g_object_unref(ct);
		return out->type ? 0 : -1;
	}
	{
		char *t = NULL;
		if (asprintf(&t, "%s/%s", g_mime_content_type_get_media_type(ct),
		    g_mime_content_type_get_media_subtype(ct)) < 0)
			t = NULL;
		out->type = t ? lower_dup(t) : NULL;
		oom |= out->type == NULL;
		free(t);
	}
	if ((v = g_mime_content_type_get_parameter(ct, "boundary")) && *v)
		oom |= (out->boundary = strdup(v)) == NULL;
	if ((v = g_mime_content_type_get_parameter(ct, "charset")) && *v)
		oom |= (out->charset = lower_dup(v)) == NULL;
	if ((v = g_mime_content_type_get_parameter(ct, "name")) && *v)
		oom |= (out->name = strdup(v)) == NULL;
	g_object_unref(ct);
	return oom ? -1 : 0;
}

void
mime_ctype_free(struct mime_ctype *ct)
{
	free(ct->type);
	free(ct->boundary);
	free(ct->charset);
	free(ct->name);
	memset(ct, 0, sizeof(*ct));
}

int
mime_disposition_parse(const char *raw, int *attachment, char **filename)
{
	GMimeContentDisposition *cd;
	const char *v;
	char *unfolded;
	int rc = 0;

	mime_init();
	*attachment = 0;
	*filename = NULL;
	if (raw == NULL)
		return 0;
	unfolded = unfold_trim(raw);
	if (unfolded == NULL)
		return -1;
	cd = g_mime_content_disposition_parse(NULL, unfolded);
	free(unfolded);
	if (cd == NULL)
		return 0;
	v = g_mime_content_disposition_get_disposition(cd);
	*attachment = v && g_ascii_strcasecmp(v, "attachment") == 0;
	if ((v = g_mime_content_disposition_get_parameter(cd, "filename")) && *v && (*filename = strdup(v)) == NULL)
		rc = -1;
	g_object_unref(cd);
	return rc;
}

/* iconv from charset to UTF-8, replacing every invalid or incomplete input
 * sequence with U+FFFD and going on: one bad byte must not hide a part's
 * text from body conditions. NULL when the charset is unknown. */
static char *
convert_lenient(const char *charset, const char *p, size_t n, size_t *outlen)
{
	GIConv cd = g_iconv_open("UTF-8", g_mime_charset_iconv_name(charset));
	size_t cap = n * 4 + 16, used = 0;
	char *out, *in = (char *)(uintptr_t)p;
	gsize inleft = n;

	if (cd == (GIConv)-1)
		return NULL;
	out = malloc(cap + 1);
	while (out && inleft > 0) {
		char *o = out + used;
		gsize oleft = cap - used;
		if (g_iconv(cd, &in, &inleft, &o, &oleft) == (gsize)-1) {
			used = (size_t)(o - out);
			if (errno == E2BIG) {
				char *nb = realloc(out, cap * 2 + 1);
				if (nb == NULL)
					break;
				out = nb;
				cap *= 2;
				continue;
			}
			/* EILSEQ or EINVAL: replace one byte and carry on. */
			if (cap - used < 3) {
				char *nb = realloc(out, cap * 2 + 1);
				if (nb == NULL)
					break;
				out = nb;
				cap *= 2;
			}
			memcpy(out + used, "\xef\xbf\xbd", 3);
			used += 3;
			in++;
			inleft--;
			g_iconv(cd, NULL, NULL, NULL, NULL);
			continue;
		}
		used = (size_t)(o - out);
	}
	g_iconv_close(cd);
	if (out == NULL || inleft > 0) {
		free(out);
		return NULL;
	}
	out[used] = '\0';
	*outlen = used;
	return out;
}

int
mime_needs_conversion(const char *charset)
{
	return charset && g_ascii_strcasecmp(charset, "utf-8") != 0 && g_ascii_strcasecmp(charset, "us-ascii") != 0;
}

char *
mime_to_utf8(const char *charset, const char *p, size_t n, size_t *outlen)
{
	char *out = NULL;

	mime_init();
	if (mime_needs_conversion(charset) && (out = convert_lenient(charset, p, n, outlen)) != NULL)
		return out;
	/* UTF-8, ASCII, or a charset iconv does not know: keep the bytes (regexes
	 * accept invalid UTF-8). */
	out = xstrndup(p, n);
	*outlen = out ? n : 0;
	return out;
}

static void
collect(InternetAddressList *list, struct strlist *out, int depth) /* NOLINT(misc-no-recursion): groups 4 deep at most */
{
	int i, n = internet_address_list_length(list);

	for (i = 0; i < n && depth < 4; i++) {
		InternetAddress *a = internet_address_list_get_address(list, i);
		if (INTERNET_ADDRESS_IS_MAILBOX(a)) {
			const char *addr = internet_address_mailbox_get_idn_addr(INTERNET_ADDRESS_MAILBOX(a));
			if (addr && *addr)
				strlist_add(out, addr);
		} else if (INTERNET_ADDRESS_IS_GROUP(a)) {
			collect(internet_address_group_get_members(INTERNET_ADDRESS_GROUP(a)), out, depth + 1);
		}
	}
}

void
mime_addresses(const char *raw, struct strlist *out)
{
	InternetAddressList *list;
	char *unfolded;

	mime_init();
	unfolded = unfold_trim(raw);
	if (unfolded == NULL)
		return;
	list = internet_address_list_parse(NULL, unfolded);
	free(unfolded);
	if (list == NULL)
		return;
	collect(list, out, 0);
	g_object_unref(list);
}
