/*
 * authres.c - the Authentication-Results field (RFC 8601, RFC 6008) for
 * DKIM outcomes, recognising fields that claim our authserv-id, and the
 * organisational domain used for From alignment.
 *
 * Our field:  " mx.example.com;\n\tdkim=pass header.d=... header.s=...
 *              header.i=... header.b=\"12345678\";\n\tdkim=fail (reason) ..."
 * folded with LF + TAB (the milter convention; sealctl writes the
 * message's own line end). A reason is a comment, with '(', ')' and '\'
 * escaped and control characters replaced, so text taken from a hostile
 * message or DNS answer cannot break out of it.
 *
 * Organisational domains come from the public suffix list (libpsl, with
 * the list Debian keeps in /usr/share/publicsuffix, falling back to the
 * list built into libpsl): the registrable domain of "mail.bank.example"
 * is "bank.example".
 *
 * Calling rules: thread-safe (the suffix list is loaded once).
 * Untrusted input: existing Authentication-Results values (from the
 * message), and d=, s=, i=, b= of its signatures.
 */
#include "build-config.h"

#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libpsl.h>

#include "dkim/dkim.h"

/* A property value: a token as it is, otherwise a quoted string. */
static int
add_value(struct sbuf *b, const char *v)
{
	static const char tspecials[] = "()<>@,;:\\\"/[]?=";
	const char *p;
	int token = *v != '\0', rc = 0;

	for (p = v; *p; p++)
		if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 127 || strchr(tspecials, *p))
			token = 0;
	if (token)
		return sbuf_adds(b, v);
	rc |= sbuf_addc(b, '"');
	for (p = v; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (c < ' ' || c == 127)
			c = '?';
		if (c == '"' || c == '\\')
			rc |= sbuf_addc(b, '\\');
		rc |= sbuf_addc(b, (char)c);
	}
	rc |= sbuf_addc(b, '"');
	return rc;
}

/* header.i may hold an '@' (RFC 8601: [local-part] "@" domain). */
static int
add_identity(struct sbuf *b, const char *i)
{
	const char *p;

	for (p = i; *p; p++)
		if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 127 || strchr("()<>,;:\\\"/[]?=", *p))
			return add_value(b, i);
	return sbuf_adds(b, i);
}

static int
add_comment(struct sbuf *b, const char *text)
{
	const char *p;
	int rc = sbuf_adds(b, " (");

	for (p = text; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (c < ' ' || c == 127)
			c = '?';
		if (c == '(' || c == ')' || c == '\\')
			rc |= sbuf_addc(b, '\\');
		rc |= sbuf_addc(b, (char)c);
	}
	return rc | sbuf_addc(b, ')');
}

char *
dkim_authres(const char *authserv_id, const struct dkim_outcome *o, size_t n, size_t unchecked)
{
	struct sbuf b;
	size_t k;
	int rc = 0;

	sbuf_init(&b, 0);
	rc |= sbuf_addc(&b, ' ');
	rc |= sbuf_adds(&b, authserv_id);
	rc |= sbuf_addc(&b, ';');
	if (n == 0)
		rc |= sbuf_adds(&b, "\n\tdkim=none");
	for (k = 0; k < n; k++) {
		rc |= sbuf_printf(&b, "\n\tdkim=%s", dkim_result_name(o[k].result));
		if (o[k].reason)
			rc |= add_comment(&b, o[k].reason);
		if (o[k].d) {
			rc |= sbuf_adds(&b, " header.d=");
			rc |= add_value(&b, o[k].d);
		}
		if (o[k].s) {
			rc |= sbuf_adds(&b, " header.s=");
			rc |= add_value(&b, o[k].s);
		}
		if (o[k].i && strlen(o[k].i) <= 256) {        /* a longer one would make an over-long line */
			rc |= sbuf_adds(&b, " header.i=");
			rc |= add_identity(&b, o[k].i);
		}
		if (o[k].b8) {
			rc |= sbuf_adds(&b, " header.b=");
			rc |= add_value(&b, o[k].b8);
		}
		if (k + 1 < n)
			rc |= sbuf_addc(&b, ';');
	}
	if (unchecked)
		rc |= sbuf_printf(&b, "\n\t(%zu more DKIM signature%s not checked: dkim.max_signatures)", unchecked,
		    unchecked == 1 ? "" : "s");
	if (rc) {
		sbuf_free(&b);
		return NULL;
	}
	return sbuf_steal(&b);
}

/* Skip white space and (nested) comments. */
static const char *
skip_cfws(const char *p)
{
	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
			p++;
		if (*p != '(')
			return p;
		{
			int depth = 0;
			for (; *p; p++) {
				if (*p == '\\' && p[1]) {
					p++;
					continue;
				}
				if (*p == '(')
					depth++;
				else if (*p == ')' && --depth == 0) {
					p++;
					break;
				}
			}
		}
	}
}

int
dkim_authres_is_ours(const char *value, const char *authserv_id)
{
	const char *p = skip_cfws(value), *e;
	size_t n = strlen(authserv_id);

	for (e = p; *e && *e != ';' && *e != ' ' && *e != '\t' && *e != '\r' && *e != '\n' && *e != '('; e++)
		;
	/* A quoted authserv-id ("mx.example.com", "mx.example\.com") counts
	 * too: compared after its quoted-pairs are undone, as a reader would. */
	if (*p == '"') {
		char *u = malloc(strlen(p) + 1), *o = u;
		const char *q;
		int ours;
		if (u == NULL)
			return 1;      /* no memory: treat it as forged, and remove it */
		for (q = p + 1; *q && *q != '"'; q++) {
			if (*q == '\\' && q[1])
				q++;
			*o++ = *q;
		}
		*o = '\0';
		ours = strcasecmp(u, authserv_id) == 0;
		free(u);
		return ours;
	}
	return (size_t)(e - p) == n && strncasecmp(p, authserv_id, n) == 0;
}

static const psl_ctx_t *psl;
static pthread_once_t psl_once = PTHREAD_ONCE_INIT;

static void
psl_load(void)
{
	psl = psl_latest(NULL);
	if (psl == NULL)
		psl = psl_builtin();
}

char *
dkim_org_domain(const char *domain)
{
	char *lower = strdup(domain), *p, *out;
	const char *reg;

	if (lower == NULL)
		return NULL;
	for (p = lower; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	while (p > lower && p[-1] == '.')
		*--p = '\0';
	pthread_once(&psl_once, psl_load);
	reg = psl ? psl_registrable_domain(psl, lower) : NULL;
	/* A domain that is itself a public suffix (or no list): itself. */
	out = strdup(reg ? reg : lower);
	free(lower);
	return out;
}
