/*
 * app.c - sealview's application: routing, the passcode flow, sessions,
 * the reading pages and the signed API (app.h lists the routes).
 *
 * Design (docs/viewer-security.md):
 *   - A message is found by the lookup id derived from the link token; the
 *     token itself is never stored or logged, and it alone (with the issuer
 *     certificate) opens the sealed object, for the length of one request.
 *   - Passcodes (8 digits, 15 minutes, one use, 5 tries), session ids and
 *     CSRF tokens are random; the store keeps only keyed hashes of the
 *     first two. Keys are derived from viewer.secret_file with HKDF.
 *   - The passcode request answers the same page, in the same time (the
 *     mail is queued), whether or not the address may read the message.
 *   - Every response gets a Content-Security-Policy; the HTML body of a
 *     message is served on its own URL with a CSP that forbids scripts,
 *     forms and all remote content, inside an iframe sandbox.
 *   - The API's requests are signed, and so are its answers to them (over
 *     the request's nonce), so that nobody between sealmilter or sealctl
 *     and sealview can forge either (seal/viewapi.h).
 *
 * Calling rules: app_handle() is called from many threads at once; the app
 * itself is read-only after app_new(), and the store and the mailer are
 * thread-safe.
 * Untrusted input: everything in a request (path, cookies, form fields,
 * API bodies, the signature fields), and the opened message (msgview.c).
 * Form bodies are capped at sealview.max_form by the server, every field is
 * length-checked here, every value is HTML-escaped on output, and every
 * SQL parameter is bound by the store.
 */
#include "build-config.h"

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/util.h"
#include "rules/config.h"
#include "seal/cms.h"
#include "mime/hdrdecode.h"
#include "seal/envelope.h"
#include "seal/sealpolicy.h"
#include "seal/viewapi.h"
#include "seal/viewtoken.h"
#include "viewer/app.h"
#include "viewer/html.h"
#include "viewer/mailout.h"
#include "viewer/msgview.h"
#include "viewer/store.h"
#include "viewer/texts.h"
#include "viewer/vstats.h"

#define MAX_TRIES 5
#define RATE_WINDOW (15 * 60)
#define MAX_ADDRESS 254
#define MAX_REPLY (64u * 1024)
#define MAX_REPLIES 20            /* replies per reader and message in RATE_WINDOW */
#define SESSION_MAX_AGE (12 * 3600)   /* a session ends after this, however active */
#define UA_MAX 200
#define PAGE_LIMIT (64u * 1024 * 1024)

/* The page CSP: our own stylesheet, images inline (the logo), the body
 * frame from ourselves, forms to ourselves, no scripts at all. */
#define CSP_PAGE "default-src 'none'; style-src 'self'; img-src data:; frame-src 'self'; form-action 'self'; " \
	"frame-ancestors 'none'; base-uri 'none'"
/* The message's own HTML: nothing runs, nothing loads but its inline images. */
#define CSP_BODY "default-src 'none'; img-src data:; style-src 'unsafe-inline'; font-src data:; " \
	"form-action 'none'; frame-ancestors 'self'; base-uri 'none'; sandbox"

struct app {
	struct seal_config *cfg;
	struct vstore *st;
	struct mailout *mail;
	unsigned char k_api[32], k_pass[32], k_sess[32], k_csrf[32], k_audit[32];
	int secure_cookies;
	struct view_stats *stats;      /* NULL: no metrics (app_use_metrics) */
};

static const char STYLE[] =
    "*{box-sizing:border-box}body{margin:0;font:16px/1.5 system-ui,sans-serif;color:#1b1b1b;background:#f4f5f7}"
    "header{background:var(--brand,#0b5cad);color:#fff;padding:12px 16px;display:flex;gap:12px;align-items:center}"
    "header img{max-height:40px}header h1{font-size:1.1rem;margin:0}"
    "main{max-width:52rem;margin:0 auto;padding:16px}"
    ".card{background:#fff;border:1px solid #d0d4da;border-radius:6px;padding:16px;margin:0 0 16px}"
    "label{display:block;font-weight:600;margin:8px 0 4px}"
    "input[type=email],input[type=text],textarea{width:100%;font:inherit;padding:8px;border:1px solid #6b7280;"
    "border-radius:4px}textarea{min-height:8rem}"
    "button,.button{display:inline-block;margin-top:12px;font:inherit;padding:8px 16px;border:0;border-radius:4px;"
    "background:var(--brand,#0b5cad);color:#fff;text-decoration:none;cursor:pointer}"
    "button:focus,a:focus,input:focus,textarea:focus{outline:3px solid #ffbf47;outline-offset:1px}"
    ".error{border-left:4px solid #b00020;padding-left:12px}.note{color:#444;font-size:.9rem}"
    ".ref{font:600 1.3rem monospace;letter-spacing:.1em}"
    "dl.h{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin:0}dl.h dt{font-weight:600}"
    "dl.h dd{margin:0;overflow-wrap:anywhere}"
    ".text{white-space:pre-wrap;overflow-wrap:anywhere;font-family:inherit}"
    ".nocopy{-webkit-user-select:none;user-select:none}"
    "iframe{width:100%;min-height:24rem;border:1px solid #d0d4da;background:#fff}"
    "ul.att{padding-left:1.2rem}.inline{display:inline}"
    "@media (max-width:40rem){main{padding:8px}.card{padding:12px}}"
    "@media print{.noprint{display:none}}";

/* ---- small helpers ------------------------------------------------------ */

static void
set_header(struct app_response *r, const char *name, const char *value)
{
	struct app_header *h = realloc(r->headers, (r->nheaders + 1) * sizeof(*h));

	if (h == NULL)
		return;
	r->headers = h;
	h[r->nheaders].name = strdup(name);
	h[r->nheaders].value = strdup(value);
	if (h[r->nheaders].name && h[r->nheaders].value)
		r->nheaders++;
	else {
		free(h[r->nheaders].name);
		free(h[r->nheaders].value);
	}
}

static void
respond(struct app_response *r, int status, const char *ctype, struct sbuf *body)
{
	r->status = status;
	free(r->content_type);
	r->content_type = strdup(ctype);
	free(r->body);
	r->body_len = body && body->data ? body->len : 0;
	r->body = body && body->data ? sbuf_steal(body) : strdup("");
	if (r->body == NULL || r->content_type == NULL) {
		r->status = 500;
		r->body_len = 0;
	}
}

static void
respond_text(struct app_response *r, int status, const char *ctype, const char *s)
{
	struct sbuf b;

	sbuf_init(&b, 0);
	sbuf_adds(&b, s);
	respond(r, status, ctype, &b);
}

void
app_response_free(struct app_response *r)
{
	size_t i;

	for (i = 0; i < r->nheaders; i++) {
		free(r->headers[i].name);
		free(r->headers[i].value);
	}
	free(r->headers);
	free(r->content_type);
	free(r->body);
	memset(r, 0, sizeof(*r));
}

/* A random token of 32 bytes as base64url (43 characters). */
static int
random_token(char out[44])
{
	unsigned char r[32];

	if (RAND_priv_bytes(r, sizeof(r)) != 1)
		return -1;
	b64url_encode(r, sizeof(r), out);
	OPENSSL_cleanse(r, sizeof(r));
	return 0;
}

/* HMAC of three length-prefixed strings. 0, or -1 (out is then random, so
 * that it matches nothing stored). */
static int
keyed(const unsigned char key[32], const char *a, const char *b, const char *c, unsigned char out[32])
{
	struct sbuf m;
	int rc = -1;

	sbuf_init(&m, 0);
	/* Length-prefixed, so that no two triples hash alike. */
	sbuf_printf(&m, "%zu:%s|%zu:%s|%zu:%s", strlen(a), a, strlen(b), b, strlen(c), c);
	if (m.data != NULL && hmac_sha256(key, 32, m.data, m.len, out) == 0)
		rc = 0;
	else if (RAND_bytes(out, 32) != 1)
		memset(out, 0xa5, 32);
	if (m.data)
		OPENSSL_cleanse(m.data, m.len);
	sbuf_free(&m);
	return rc;
}

/* The value of cookie name in a Cookie header, copied into out (at most
 * outlen-1 characters of [A-Za-z0-9_-]); 0 when found. */
static int
cookie_get(const char *hdr, const char *name, char *out, size_t outlen)
{
	size_t nl = strlen(name), i;
	const char *p = hdr;

	while (p && *p) {
		while (*p == ' ' || *p == ';')
			p++;
		if (strncmp(p, name, nl) == 0 && p[nl] == '=') {
			p += nl + 1;
			for (i = 0; i + 1 < outlen && (isalnum((unsigned char)p[i]) || p[i] == '-' || p[i] == '_'); i++)
				out[i] = p[i];
			out[i] = '\0';
			return i > 0 ? 0 : -1;
		}
		p = strchr(p, ';');
	}
	return -1;
}

/* The value of a field of an application/x-www-form-urlencoded body,
 * decoded (malloc'd), or NULL when absent, malformed or over max bytes. */
static char *
form_get(const struct app_request *req, const char *name, size_t max)
{
	const char *p = req->body, *end;
	size_t nl = strlen(name);

	if (p == NULL)
		return NULL;
	end = p + req->body_len;     /* not before: NULL + 0 is undefined */
	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p)), *fe = amp ? amp : end;
		if ((size_t)(fe - p) > nl && strncmp(p, name, nl) == 0 && p[nl] == '=') {
			size_t n = (size_t)(fe - p) - nl - 1;
			char *v;
			long dl;
			if (n > 3 * max || (v = xstrndup(p + nl + 1, n)) == NULL)
				return NULL;
			dl = form_decode(v, n);
			if (dl < 0 || (size_t)dl > max) {
				free(v);
				return NULL;
			}
			v[dl] = '\0';
			return v;
		}
		p = fe + 1;
	}
	return NULL;
}

/* An address as typed: trimmed, lower case; NULL when it is not one. */
static char *
clean_address(const char *in)
{
	char *a, *at;
	size_t i, n;

	while (*in == ' ' || *in == '\t')
		in++;
	n = strlen(in);
	while (n > 0 && (in[n - 1] == ' ' || in[n - 1] == '\t'))
		n--;
	if (n == 0 || n > MAX_ADDRESS || (a = xstrndup(in, n)) == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)a[i];
		if (c <= ' ' || c >= 0x7f || strchr("<>()[]\\,;:\"", c) != NULL) {
			free(a);
			return NULL;
		}
		a[i] = (char)tolower(c);
	}
	at = strrchr(a, '@');
	if (at == NULL || at == a || at[1] == '\0' || strchr(at + 1, '.') == NULL || strchr(a, '@') != at) {
		free(a);
		return NULL;
	}
	return a;
}

/* Write an audit record (and a log line). 0, or -1 when it could not be
 * written: what it records must then not happen. */
static int
audit(struct app *a, const struct app_request *req, const char *event, const char *seal_id, const char *address,
    const char *outcome, const char *detail)
{
	struct vaudit rec;
	char ua[UA_MAX + 1], *err = NULL;
	size_t i;

	memset(&rec, 0, sizeof(rec));
	/* The user agent, printable ASCII only and cut short. */
	for (i = 0; req && req->user_agent && req->user_agent[i] && i < UA_MAX; i++)
		ua[i] = req->user_agent[i] >= ' ' && req->user_agent[i] < 0x7f ? req->user_agent[i] : '?';
	ua[i] = '\0';
	rec.time = (int64_t)time(NULL);
	rec.event = event;
	rec.seal_id = seal_id ? seal_id : "";
	rec.address = address ? address : "";
	rec.client_ip = req && req->client_ip ? req->client_ip : "";
	rec.user_agent = ua;
	rec.outcome = outcome;
	rec.detail = detail ? detail : "";
	seal_info("%s seal=%s address=%s ip=%s outcome=%s%s%s", event, rec.seal_id,
	    rec.address[0] ? rec.address : "-", rec.client_ip[0] ? rec.client_ip : "-", outcome,
	    rec.detail[0] ? " " : "", rec.detail);
	if (vstore_audit_add(a->st, &rec, &err) != 0) {
		seal_err("cannot write the audit record (%s %s): %s", event, rec.seal_id, err ? err : "?");
		free(err);
		return -1;
	}
	/* Counted once recorded: an event whose record failed does not happen. */
	view_stats_event(a->stats, event, outcome);
	return 0;
}

/* ---- pages -------------------------------------------------------------- */

struct page {
	struct sbuf b;
	const struct seal_template *tpl;
};

static void
page_start(struct app *a, struct page *pg, const struct seal_template *tpl, int allow_print)
{
	const struct branding *br = tpl ? tpl->branding : NULL;
	const char *org = br && br->org_name ? br->org_name : a->cfg->org_name && a->cfg->org_name[0] ? a->cfg->org_name
	    : "";

	pg->tpl = tpl;
	sbuf_init(&pg->b, PAGE_LIMIT);
	sbuf_adds(&pg->b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
	    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
	    "<meta name=\"referrer\" content=\"no-referrer\"><title>");
	html_escapes(&pg->b, text(T_TITLE));
	sbuf_adds(&pg->b, "</title><link rel=\"stylesheet\" href=\"/static/style.css\">");
	/* The brand colour: CSP allows styles from 'self' only, so it comes
	 * as a one-line stylesheet per template. */
	if (tpl && br && br->color) {
		sbuf_adds(&pg->b, "<link rel=\"stylesheet\" href=\"/static/brand/");
		url_encode(&pg->b, tpl->name, strlen(tpl->name));
		sbuf_adds(&pg->b, ".css\">");
	}
	if (!allow_print)
		sbuf_adds(&pg->b, "<link rel=\"stylesheet\" href=\"/static/noprint.css\" media=\"print\">");
	sbuf_adds(&pg->b, "</head>\n<body><header>");
	if (br && br->logo) {
		char *b64 = malloc(4 * ((br->logo_len + 2) / 3) + 1);
		if (b64) {
			EVP_EncodeBlock((unsigned char *)b64, br->logo, (int)br->logo_len);
			sbuf_adds(&pg->b, "<img alt=\"\" src=\"data:");
			html_escapes(&pg->b, br->logo_type);
			sbuf_adds(&pg->b, ";base64,");
			sbuf_adds(&pg->b, b64);
			sbuf_adds(&pg->b, "\">");
			free(b64);
		}
	}
	sbuf_adds(&pg->b, "<h1>");
	if (org[0])
		text_fill(&pg->b, 1, T_FROM_ORG, org, NULL, NULL);
	else
		html_escapes(&pg->b, text(T_TITLE));
	sbuf_adds(&pg->b, "</h1></header>\n<main>\n");
}

static void
page_end(struct app *a, struct page *pg, struct app_response *r, int status)
{
	const struct branding *br = pg->tpl ? pg->tpl->branding : NULL;

	if (br && br->disclaimer) {
		sbuf_adds(&pg->b, "<p class=\"note\">");
		html_escapes(&pg->b, br->disclaimer);
		sbuf_adds(&pg->b, "</p>\n");
	}
	sbuf_adds(&pg->b, "</main></body></html>\n");
	(void)a;
	if (pg->b.data == NULL) {
		respond_text(r, 500, "text/plain; charset=utf-8", "internal error\n");
		return;
	}
	respond(r, status, "text/html; charset=utf-8", &pg->b);
	set_header(r, "Content-Security-Policy", CSP_PAGE);
}

/* A page with one message and nothing else. */
static void
page_message(struct app *a, struct app_response *r, int status, const struct seal_template *tpl, enum text_id id)
{
	struct page pg;

	page_start(a, &pg, tpl, 1);
	sbuf_adds(&pg.b, "<div class=\"card\"><p role=\"status\">");
	text_fill(&pg.b, 1, id, NULL, NULL, NULL);
	sbuf_adds(&pg.b, "</p></div>\n");
	page_end(a, &pg, r, status);
}

static void
csrf_field(struct app *a, struct sbuf *b, const char *csrf_cookie, const char *lookup)
{
	unsigned char mac[32];
	char tok[44];

	(void)keyed(a->k_csrf, "csrf", csrf_cookie, lookup, mac);   /* on failure: random, it matches nothing */
	b64url_encode(mac, sizeof(mac), tok);
	sbuf_adds(b, "<input type=\"hidden\" name=\"csrf\" value=\"");
	sbuf_adds(b, tok);
	sbuf_adds(b, "\">");
}

static int
csrf_ok(struct app *a, const struct app_request *req, const char *lookup)
{
	char cookie[64], want[44], *got;
	unsigned char mac[32];
	int ok;

	if (req->cookie == NULL || cookie_get(req->cookie, "svc", cookie, sizeof(cookie)) != 0)
		return 0;
	if ((got = form_get(req, "csrf", 64)) == NULL)
		return 0;
	ok = keyed(a->k_csrf, "csrf", cookie, lookup, mac) == 0;
	b64url_encode(mac, sizeof(mac), want);
	ok = ok && strlen(got) == strlen(want) && ct_equal(got, want, strlen(want));
	free(got);
	return ok;
}

/* The CSRF cookie of this browser, made (and set on the response) when it
 * has none. */
static void
csrf_cookie(struct app *a, const struct app_request *req, struct app_response *r, char out[64])
{
	char *c = NULL;

	if (req->cookie && cookie_get(req->cookie, "svc", out, 64) == 0 && strlen(out) == 43)
		return;
	if (random_token(out) != 0) {
		out[0] = '\0';
		return;
	}
	if (asprintf(&c, "svc=%s; Path=/m/; HttpOnly; SameSite=Strict%s", out, a->secure_cookies ? "; Secure" : "") >= 0)
		set_header(r, "Set-Cookie", c);
	free(c);
}

/* ---- the message -------------------------------------------------------- */

struct ctx {
	struct view_token tok;
	struct vmessage m;
	struct seal_policy pol;
	const struct seal_template *tpl;
	int have_m, have_pol;
};

static void
ctx_free(struct ctx *c)
{
	view_token_clear(&c->tok);
	if (c->have_m)
		vmessage_free(&c->m);
	if (c->have_pol)
		seal_policy_free(&c->pol);
}

/* Find the message of the token in the path. 0 when it can be read; else
 * the page is made (not found, revoked, expired, error) and -1 returned. */
static int
find_message(struct app *a, const char *token, size_t toklen, int with_object, struct ctx *c,
    const struct app_request *req, struct app_response *r)
{
	char *err = NULL;
	int rc;

	memset(c, 0, sizeof(*c));
	if (view_token_parse(token, toklen, a->cfg->viewer_secret, a->cfg->viewer_secret_len, &c->tok) != 0) {
		page_message(a, r, 404, NULL, T_NOT_FOUND);
		return -1;
	}
	rc = vstore_get_message(a->st, c->tok.lookup, with_object, &c->m, &err);
	if (rc < 0) {
		seal_err("store: %s", err ? err : "?");
		free(err);
		page_message(a, r, 503, NULL, T_ERROR);
		return -1;
	}
	if (rc == 0) {
		page_message(a, r, 404, NULL, T_NOT_FOUND);
		return -1;
	}
	c->have_m = 1;
	if (seal_policy_parse(c->m.policy, strlen(c->m.policy), &c->pol, &err) != 0) {
		seal_err("the stored policy of %s does not parse: %s", c->m.seal_id, err ? err : "?");
		free(err);
		page_message(a, r, 500, NULL, T_ERROR);
		return -1;
	}
	c->have_pol = 1;
	c->tpl = seal_template_find(&a->cfg->templates, c->m.template_name);
	if (c->m.revoked) {
		audit(a, req, "view", c->m.seal_id, NULL, "revoked", NULL);
		page_message(a, r, 410, c->tpl, T_REVOKED);
		return -1;
	}
	/* The stored column drives the purge; the policy (checked against the
	 * signed object whenever it is opened) is checked too, so that a
	 * changed column in the database cannot bring back an expired message. */
	if ((c->m.expires && (int64_t)time(NULL) >= c->m.expires) || seal_policy_expired(&c->pol, time(NULL))) {
		audit(a, req, "view", c->m.seal_id, NULL, "expired", NULL);
		page_message(a, r, 410, c->tpl, T_EXPIRED);
		return -1;
	}
	if (with_object && c->m.object == NULL) {
		/* Purged, but the expiry check above did not see it: treat as expired. */
		page_message(a, r, 410, c->tpl, T_EXPIRED);
		return -1;
	}
	return 0;
}

/* Read the sealed object of a found message, once the reader is known to
 * have a session (an anonymous request never loads it). 0, or -1 with the
 * page made. */
static int
load_object(struct app *a, struct ctx *c, struct app_response *r)
{
	struct vmessage m;
	char *err = NULL;
	int rc = vstore_get_message(a->st, c->tok.lookup, 1, &m, &err);

	if (rc < 0) {
		seal_err("store: %s", err ? err : "?");
		free(err);
		page_message(a, r, 503, c->tpl, T_ERROR);
		return -1;
	}
	if (rc == 0 || m.object == NULL || m.revoked) {
		int revoked = rc == 1 && m.revoked;
		if (rc == 1)
			vmessage_free(&m);
		page_message(a, r, 410, c->tpl, revoked ? T_REVOKED : T_EXPIRED);
		return -1;
	}
	free(c->m.object);
	c->m.object = m.object;
	c->m.object_len = m.object_len;
	m.object = NULL;
	vmessage_free(&m);
	return 0;
}

/* The session of this browser for this message: 1 (s filled), 0 none. */
static int
session_of(struct app *a, const struct app_request *req, const struct ctx *c, struct vsession *s)
{
	char sid[64], *err = NULL;
	unsigned char h[32];
	int rc;

	if (req->cookie == NULL || cookie_get(req->cookie, "svs", sid, sizeof(sid)) != 0)
		return 0;
	rc = keyed(a->k_sess, "session", sid, "", h);
	OPENSSL_cleanse(sid, sizeof(sid));
	if (rc != 0)
		return 0;
	rc = vstore_session_get(a->st, h, (int64_t)time(NULL), (int64_t)a->cfg->sv_session_idle, s, &err);
	if (rc < 0) {
		seal_err("store: %s", err ? err : "?");
		free(err);
		return 0;
	}
	if (rc == 1 && s->created + SESSION_MAX_AGE < (int64_t)time(NULL)) {
		/* Older than SESSION_MAX_AGE, however active: it ends. */
		vsession_free(s);
		if (vstore_session_delete(a->st, h, &err) < 0) {
			seal_err("store: %s", err ? err : "?");
			free(err);
		}
		return 0;
	}
	if (rc == 1 && strcmp(s->lookup, c->tok.lookup) != 0) {
		/* Another message's session. */
		vsession_free(s);
		return 0;
	}
	return rc;
}

/* Open the sealed object with the token and take the original apart. */
static int
open_view(struct app *a, struct ctx *c, struct msgview *v, char **err)
{
	BIO *in = BIO_new_mem_buf(c->m.object, (int)c->m.object_len), *out = BIO_new(BIO_s_mem());
	struct msgview_limits lim;
	char *policy = NULL, *data;
	size_t plen;
	long n;
	int rc = -1;
	enum seal_open_error e;

	*err = NULL;
	memset(v, 0, sizeof(*v));
	if (in == NULL || out == NULL) {
		*err = strdup("out of memory");
		goto out;
	}
	e = seal_cms_open_kek(&a->cfg->keys, c->tok.kek, in, a->cfg->sv_max_object, &policy, &plen, out, err);
	if (e != SEAL_OPEN_OK) {
		char *why = NULL;
		if (asprintf(&why, "%s%s%s", seal_open_error_name(e), *err ? ": " : "", *err ? *err : "") < 0)
			why = NULL;
		free(*err);
		*err = why;
		goto out;
	}
	if (strlen(policy) != strlen(c->m.policy) || strcmp(policy, c->m.policy) != 0) {
		*err = strdup("the sealed object's policy differs from the registered one");
		goto out;
	}
	n = BIO_get_mem_data(out, &data);
	msgview_default_limits(&lim);
	rc = msgview_parse(data, (size_t)n, &lim, v, err);
	OPENSSL_cleanse(data, (size_t)n);
out:
	free(policy);
	BIO_free(in);
	BIO_free(out);
	return rc;
}

static void
time_text(int64_t t, char out[40])
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(out, 40, "%Y-%m-%d %H:%M UTC", &tm);
}

static void
header_row(struct sbuf *b, enum text_id name, const char *value)
{
	if (value == NULL || value[0] == '\0')
		return;
	sbuf_adds(b, "<dt>");
	html_escapes(b, text(name));
	sbuf_adds(b, "</dt><dd>");
	html_escapes(b, value);
	sbuf_adds(b, "</dd>");
}

/* The start of a form on the message page: a titled card, the form posting
 * to /m/TOKEN/ACTION with its CSRF field, and the label of its first field. */
static void
form_start(struct app *a, struct sbuf *b, const char *csrf, const char *lookup, const char *path_token,
    const char *action, enum text_id title, const char *field, enum text_id label)
{
	sbuf_adds(b, "<section class=\"card noprint\"><h2>");
	html_escapes(b, text(title));
	sbuf_printf(b, "</h2><form method=\"post\" action=\"/m/%s/%s\">", path_token, action);
	csrf_field(a, b, csrf, lookup);
	sbuf_printf(b, "<label for=\"%s\">", field);
	html_escapes(b, text(label));
	sbuf_adds(b, "</label>");
}

static void
show_message(struct app *a, struct ctx *c, const struct vsession *s, const struct app_request *req,
    struct app_response *r, const char *path_token, int printable)
{
	static const enum text_id rn[RIGHT_COUNT] = { T_R_VIEW, T_R_REPLY, T_R_REPLY_ALL, T_R_FORWARD, T_R_PRINT,
		T_R_COPY, T_R_SAVE, T_R_EDIT };
	char csrf[64], when[40], *err = NULL;
	struct msgview v;
	struct page pg;
	unsigned rights = c->pol.rights;
	size_t i, shown = 0;

	if (open_view(a, c, &v, &err) != 0) {
		seal_err("cannot open %s: %s", c->m.seal_id, err ? err : "?");
		audit(a, req, "view", c->m.seal_id, s->address, "error", err);
		free(err);
		page_message(a, r, 500, c->tpl, T_ERROR);
		return;
	}
	csrf_cookie(a, req, r, csrf);
	page_start(a, &pg, c->tpl, (rights & RIGHT_PRINT) != 0);
	if (!printable) {
		sbuf_adds(&pg.b, "<div class=\"card noprint\"><p>");
		text_fill(&pg.b, 1, T_SIGNED_IN_AS, s->address, NULL, NULL);
		sbuf_printf(&pg.b, "</p><form class=\"inline\" method=\"post\" action=\"/m/%s/logout\">", path_token);
		csrf_field(a, &pg.b, csrf, c->tok.lookup);
		sbuf_adds(&pg.b, "<button type=\"submit\">");
		html_escapes(&pg.b, text(T_SIGN_OUT));
		sbuf_adds(&pg.b, "</button></form>");
		if (rights & RIGHT_PRINT) {
			sbuf_printf(&pg.b, " <a class=\"button\" href=\"/m/%s/print\">", path_token);
			html_escapes(&pg.b, text(T_PRINTABLE));
			sbuf_adds(&pg.b, "</a>");
		}
		sbuf_adds(&pg.b, "</div>\n");
	}
	/* The header fields. */
	sbuf_adds(&pg.b, "<section class=\"card\" aria-label=\"Message\"><dl class=\"h\">");
	header_row(&pg.b, T_H_FROM, v.from);
	header_row(&pg.b, T_H_TO, v.to);
	header_row(&pg.b, T_H_CC, v.cc);
	header_row(&pg.b, T_H_DATE, v.date);
	header_row(&pg.b, T_H_SUBJECT, v.subject);
	sbuf_adds(&pg.b, "</dl></section>\n");
	/* Rights and expiry. */
	sbuf_adds(&pg.b, "<section class=\"card noprint\" id=\"rights\"><dl class=\"h\"><dt>");
	html_escapes(&pg.b, text(T_RIGHTS));
	sbuf_adds(&pg.b, "</dt><dd>");
	for (i = 0; i < RIGHT_COUNT; i++)
		if (rights & (1u << i)) {
			sbuf_printf(&pg.b, "%s<span data-right=\"%s\">", shown++ ? ", " : "", seal_right_name((unsigned)i));
			html_escapes(&pg.b, text(rn[i]));
			sbuf_adds(&pg.b, "</span>");
		}
	sbuf_adds(&pg.b, "</dd><dt>");
	html_escapes(&pg.b, text(T_EXPIRES));
	sbuf_adds(&pg.b, "</dt><dd id=\"expires\">");
	if (c->m.expires) {
		time_text(c->m.expires, when);
		html_escapes(&pg.b, when);
	} else
		html_escapes(&pg.b, text(T_NEVER));
	sbuf_adds(&pg.b, "</dd></dl></section>\n");
	/* The body: the formatted version in its sandbox, the text version. */
	if (v.html && !printable) {
		sbuf_adds(&pg.b, "<section class=\"card\"><iframe sandbox title=\"");
		html_escapes(&pg.b, text(T_HTML_TITLE));
		sbuf_printf(&pg.b, "\" src=\"/m/%s/body\" referrerpolicy=\"no-referrer\"></iframe></section>\n", path_token);
	} else if (v.html_dropped) {
		sbuf_adds(&pg.b, "<p class=\"note\">");
		html_escapes(&pg.b, text(T_HTML_DROPPED));
		sbuf_adds(&pg.b, "</p>");
	}
	if (v.text && (printable || !v.html)) {
		sbuf_printf(&pg.b, "<section class=\"card\"><div class=\"text%s\" id=\"text\">",
		    rights & RIGHT_COPY ? "" : " nocopy");
		html_escapes(&pg.b, v.text);
		sbuf_adds(&pg.b, "</div>");
		if (v.text_truncated) {
			sbuf_adds(&pg.b, "<p class=\"note\">");
			html_escapes(&pg.b, text(T_TEXT_TRUNCATED));
			sbuf_adds(&pg.b, "</p>");
		}
		if (!(rights & RIGHT_COPY)) {
			sbuf_adds(&pg.b, "<p class=\"note noprint\">");
			html_escapes(&pg.b, text(T_NO_COPY));
			sbuf_adds(&pg.b, "</p>");
		}
		sbuf_adds(&pg.b, "</section>\n");
	}
	/* Attachments. */
	if (v.natt > 0) {
		sbuf_adds(&pg.b, "<section class=\"card\" id=\"attachments\"><h2>");
		html_escapes(&pg.b, text(T_ATTACHMENTS));
		sbuf_adds(&pg.b, "</h2><ul class=\"att\">");
		for (i = 0; i < v.natt; i++) {
			sbuf_adds(&pg.b, "<li>");
			if ((rights & RIGHT_SAVE) && !printable) {
				sbuf_printf(&pg.b, "<a href=\"/m/%s/att/%zu\" download>", path_token, i + 1);
				html_escapes(&pg.b, v.att[i].filename);
				sbuf_adds(&pg.b, "</a>");
			} else
				html_escapes(&pg.b, v.att[i].filename);
			sbuf_printf(&pg.b, " <span class=\"note\">(%zu bytes)</span></li>", v.att[i].size);
		}
		sbuf_adds(&pg.b, "</ul>");
		if (!(rights & RIGHT_SAVE)) {
			sbuf_adds(&pg.b, "<p class=\"note\">");
			html_escapes(&pg.b, text(T_NO_SAVE));
			sbuf_adds(&pg.b, "</p>");
		}
		sbuf_adds(&pg.b, "</section>\n");
	}
	/* Reply. */
	if ((rights & (RIGHT_REPLY | RIGHT_REPLY_ALL)) && !printable) {
		form_start(a, &pg.b, csrf, c->tok.lookup, path_token, "reply", T_REPLY, "reply", T_REPLY_LABEL);
		sbuf_adds(&pg.b, "<textarea id=\"reply\" name=\"text\" required maxlength=\"65536\"></textarea>"
		    "<button type=\"submit\">");
		html_escapes(&pg.b, text(T_REPLY_SEND));
		sbuf_adds(&pg.b, "</button></form></section>\n");
	}
	/* Forward, with the forward right. */
	if ((rights & RIGHT_FORWARD) && !printable) {
		form_start(a, &pg.b, csrf, c->tok.lookup, path_token, "forward", T_FORWARD, "forward", T_FORWARD_LABEL);
		sbuf_adds(&pg.b, "<input type=\"email\" id=\"forward\" name=\"address\" required maxlength=\"254\">"
		    "<p class=\"note\">");
		html_escapes(&pg.b, text(T_FORWARD_NOTE));
		sbuf_adds(&pg.b, "</p><button type=\"submit\">");
		html_escapes(&pg.b, text(T_FORWARD_SEND));
		sbuf_adds(&pg.b, "</button></form></section>\n");
	}
	msgview_free(&v);
	if (audit(a, req, printable ? "print" : "view", c->m.seal_id, s->address, "ok", NULL) != 0) {
		sbuf_free(&pg.b);
		page_message(a, r, 503, c->tpl, T_ERROR);
		return;
	}
	page_end(a, &pg, r, 200);
}

/* ---- the passcode flow -------------------------------------------------- */

/* An error line at the top of a form (T_COUNT: none). */
static void
alert(struct sbuf *b, enum text_id error)
{
	if (error == T_COUNT)
		return;
	sbuf_adds(b, "<p class=\"error\" role=\"alert\">");
	html_escapes(b, text(error));
	sbuf_adds(b, "</p>");
}

static void
address_form(struct app *a, struct ctx *c, const struct app_request *req, struct app_response *r,
    const char *path_token, enum text_id error)
{
	char csrf[64];
	struct page pg;

	csrf_cookie(a, req, r, csrf);
	page_start(a, &pg, c->tpl, 1);
	sbuf_adds(&pg.b, "<div class=\"card\">");
	alert(&pg.b, error);
	sbuf_adds(&pg.b, "<p>");
	html_escapes(&pg.b, text(T_ADDRESS_INTRO));
	sbuf_printf(&pg.b, "</p><form method=\"post\" action=\"/m/%s/code\">", path_token);
	csrf_field(a, &pg.b, csrf, c->tok.lookup);
	sbuf_adds(&pg.b, "<label for=\"address\">");
	html_escapes(&pg.b, text(T_ADDRESS_LABEL));
	sbuf_adds(&pg.b, "</label><input type=\"email\" id=\"address\" name=\"address\" required autocomplete=\"email\" "
	    "maxlength=\"254\"><button type=\"submit\">");
	html_escapes(&pg.b, text(T_SEND_CODE));
	sbuf_adds(&pg.b, "</button></form></div>\n");
	page_end(a, &pg, r, error == T_COUNT ? 200 : error == T_RATE_LIMITED ? 429 : 400);
}

static void
code_form(struct app *a, struct ctx *c, const struct app_request *req, struct app_response *r,
    const char *path_token, const char *address, const char *ref, enum text_id error)
{
	char csrf[64], mins[24];
	struct page pg;

	csrf_cookie(a, req, r, csrf);
	snprintf(mins, sizeof(mins), "%llu", (unsigned long long)(a->cfg->sv_passcode_ttl / 60));
	page_start(a, &pg, c->tpl, 1);
	sbuf_adds(&pg.b, "<div class=\"card\">");
	alert(&pg.b, error);
	sbuf_adds(&pg.b, "<p>");
	text_fill(&pg.b, 1, T_CODE_INTRO, address, mins, NULL);
	sbuf_adds(&pg.b, "</p>");
	if (ref && ref[0]) {
		sbuf_adds(&pg.b, "<p>");
		html_escapes(&pg.b, text(T_CODE_REF));
		sbuf_adds(&pg.b, ": <span class=\"ref\" id=\"ref\">");
		html_escapes(&pg.b, ref);
		sbuf_adds(&pg.b, "</span></p>");
	}
	sbuf_printf(&pg.b, "<form method=\"post\" action=\"/m/%s/verify\">", path_token);
	csrf_field(a, &pg.b, csrf, c->tok.lookup);
	sbuf_adds(&pg.b, "<input type=\"hidden\" name=\"address\" value=\"");
	html_escapes(&pg.b, address);
	sbuf_adds(&pg.b, "\"><label for=\"code\">");
	html_escapes(&pg.b, text(T_CODE_LABEL));
	sbuf_adds(&pg.b, "</label><input type=\"text\" id=\"code\" name=\"code\" required inputmode=\"numeric\" "
	    "autocomplete=\"one-time-code\" pattern=\"[0-9 ]{8,12}\" maxlength=\"12\"><button type=\"submit\">");
	html_escapes(&pg.b, text(T_CODE_SUBMIT));
	sbuf_printf(&pg.b, "</button></form><p><a href=\"/m/%s\">", path_token);
	html_escapes(&pg.b, text(T_CODE_AGAIN));
	sbuf_adds(&pg.b, "</a></p></div>\n");
	page_end(a, &pg, r, error == T_COUNT ? 200 : error == T_RATE_LIMITED ? 429 : 400);
}

/* Count one hit against a limit: 1 allowed, 0 over it or a store error
 * (fail closed). When refused and *which is still NULL, it is set to what
 * refused (the limit's name and value, for the audit record and its log line). */
static int
hit(struct app *a, char *key, uint64_t limit, const char *name, char **which)
{
	char *err = NULL;
	int rc = key ? vstore_rate_hit(a->st, key, (int64_t)time(NULL), RATE_WINDOW, (long)limit, &err) : -1;

	if (rc < 0) {
		seal_err("rate limit store: %s", err ? err : "out of memory");
		free(err);
	}
	free(key);
	if (rc != 1 && *which == NULL && asprintf(which, rc < 0 ? "the rate limit store failed (%s)" :
	    "%s (%llu in %d minutes)", name, (unsigned long long)limit, RATE_WINDOW / 60) < 0)
		*which = NULL;
	return rc == 1;
}

static char *
key2(const char *a, const char *b, const char *c)
{
	char *k = NULL;

	if (asprintf(&k, "%s:%s%s%s", a, b, c ? ":" : "", c ? c : "") < 0)
		return NULL;
	return k;
}

/* Count one hit against each limit; 1 when all allow it. Otherwise *which
 * names the first limit that refused, with its value (free it). */
static int
rate_ok(struct app *a, const struct app_request *req, const struct ctx *c, const char *address, char **which)
{
	int ok = 1;

	*which = NULL;
	ok &= hit(a, key2("ip", req->client_ip ? req->client_ip : "", NULL), a->cfg->sv_rate_ip, "sealview.rate_per_ip",
	    which);
	ok &= hit(a, key2("msg", c->tok.lookup, NULL), a->cfg->sv_rate_message, "sealview.rate_per_message", which);
	if (address)
		ok &= hit(a, key2("addr", c->tok.lookup, address), a->cfg->sv_rate_address, "sealview.rate_per_address",
		    which);
	return ok;
}

/* 1 when address may read the message: the policy allows it, or a reader
 * with the forward right shared it with that address. */
static int
may_read(struct app *a, const struct ctx *c, const char *address)
{
	char *err = NULL;
	int f;

	if (seal_policy_allows(&c->pol, address))
		return 1;
	if (!(c->pol.rights & RIGHT_FORWARD))
		return 0;
	f = vstore_is_forwarded(a->st, c->tok.lookup, address, &err);
	if (f < 0) {
		seal_err("store: %s", err ? err : "?");
		free(err);
	}
	return f == 1;
}

/* 8 uniformly random digits. */
static int
new_passcode(char out[9])
{
	unsigned char r[4];
	uint32_t v;

	do {
		if (RAND_priv_bytes(r, sizeof(r)) != 1)
			return -1;
		v = ((uint32_t)r[0] << 24 | (uint32_t)r[1] << 16 | (uint32_t)r[2] << 8 | r[3]);
	} while (v >= 4200000000u);     /* a multiple of 10^8: no bias */
	snprintf(out, 9, "%08u", (unsigned)(v % 100000000u));
	return 0;
}

/* A short reference code shown on the page and in the mail. */
static int
new_ref(char out[10])
{
	static const char al[] = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";   /* 32: no bias, nothing to confuse */
	unsigned char r[8];
	size_t i;

	if (RAND_bytes(r, sizeof(r)) != 1)
		return -1;
	for (i = 0; i < 4; i++)
		out[i] = al[r[i] & 31];
	out[4] = '-';
	for (i = 4; i < 8; i++)
		out[i + 1] = al[r[i] & 31];
	out[9] = '\0';
	return 0;
}

static void
passcode_hash(struct app *a, const char *lookup, const char *address, const char *code, unsigned char out[32])
{
	keyed(a->k_pass, lookup, address, code, out);
}

static char *
rfc2822_date(void)
{
	char buf[64];
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(buf, sizeof(buf), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	return strdup(buf);
}

/* What a queued mail was for, so that its outcome is audited. */
struct mail_job {
	struct app *a;
	char *event;       /* passcode_mail, reply_mail */
	char *seal_id, *address, *client_ip;
};

static struct mail_job *
mail_job(struct app *a, const char *event, const char *seal_id, const char *address, const char *client_ip)
{
	struct mail_job *j = calloc(1, sizeof(*j));

	if (j == NULL)
		return NULL;
	j->a = a;
	j->event = strdup(event);
	j->seal_id = strdup(seal_id ? seal_id : "");
	j->address = strdup(address ? address : "");
	j->client_ip = strdup(client_ip ? client_ip : "");
	return j;
}

static void
mail_job_free(struct mail_job *j)
{
	if (j == NULL)
		return;
	free(j->event);
	free(j->seal_id);
	free(j->address);
	free(j->client_ip);
	free(j);
}

/* From the mail thread: the MTA took the mail, or did not. */
static void
mail_done(void *arg, const char *err)
{
	struct mail_job *j = arg;
	struct app_request req;

	if (j == NULL)
		return;
	memset(&req, 0, sizeof(req));
	req.client_ip = j->client_ip;
	audit(j->a, &req, j->event ? j->event : "mail", j->seal_id, j->address, err ? "error" : "sent", err);
	mail_job_free(j);
}

static void
send_passcode(struct app *a, const struct app_request *req, const char *seal_id, const char *address, const char *code,
    const char *ref)
{
	struct mail_job *j = mail_job(a, "passcode_mail", seal_id, address, req->client_ip);
	struct sbuf m;
	char mins[24], *date = rfc2822_date(), mid[40];
	unsigned char r[12];

	snprintf(mins, sizeof(mins), "%llu", (unsigned long long)(a->cfg->sv_passcode_ttl / 60));
	if (RAND_bytes(r, sizeof(r)) != 1)
		memset(r, 0, sizeof(r));
	hex_encode(r, sizeof(r), mid);
	sbuf_init(&m, 0);
	sbuf_printf(&m, "From: %s\r\nTo: %s\r\nDate: %s\r\nMessage-ID: <%s@sealview>\r\nSubject: ", a->cfg->sv_passcode_from,
	    address, date ? date : "", mid);
	text_fill(&m, 0, T_MAIL_SUBJECT, ref, NULL, NULL);
	sbuf_adds(&m, "\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nAuto-Submitted: auto-generated\r\n"
	    "X-Sealview-Reference: ");
	sbuf_adds(&m, ref);
	sbuf_adds(&m, "\r\n\r\n");
	text_fill(&m, 0, T_MAIL_BODY, code, ref, mins);
	free(date);
	if (m.data == NULL || m.oom || mailout_queue(a->mail, a->cfg->sv_passcode_from, address, m.data, m.len, mail_done,
	    j) != 0) {
		seal_err("cannot queue the passcode mail");
		mail_job_free(j);
	}
	OPENSSL_cleanse(m.data, m.len);
	sbuf_free(&m);
}

static void
request_code(struct app *a, struct ctx *c, const struct app_request *req, struct app_response *r, const char *path_token)
{
	char *raw = form_get(req, "address", MAX_ADDRESS), *address = raw ? clean_address(raw) : NULL, *err = NULL;
	char code[9], ref[10], *which = NULL;
	unsigned char h[32];
	int64_t now = (int64_t)time(NULL);
	int allowed;

	free(raw);
	if (!csrf_ok(a, req, c->tok.lookup)) {
		audit(a, req, "passcode_request", c->m.seal_id, address, "bad_form", "no or wrong CSRF token");
		free(address);
		address_form(a, c, req, r, path_token, T_BAD_FORM);
		return;
	}
	if (address == NULL) {
		address_form(a, c, req, r, path_token, T_ADDRESS_LABEL);
		return;
	}
	if (!rate_ok(a, req, c, address, &which)) {
		audit(a, req, "passcode_request", c->m.seal_id, address, "rate_limited", which ? which : "a rate limit");
		free(which);
		address_form(a, c, req, r, path_token, T_RATE_LIMITED);
		free(address);
		return;
	}
	if (new_ref(ref) != 0) {
		free(address);
		page_message(a, r, 500, c->tpl, T_ERROR);
		return;
	}
	allowed = may_read(a, c, address);
	{
		/* The same work for every address: a stranger gets a passcode row
		 * too, whose hash is random (it matches nothing) and which is never
		 * mailed, so the store's timing and answers tell nothing. */
		if (new_passcode(code) != 0) {
			free(address);
			page_message(a, r, 500, c->tpl, T_ERROR);
			return;
		}
		if (allowed)
			passcode_hash(a, c->tok.lookup, address, code, h);
		else if (RAND_bytes(h, sizeof(h)) != 1) {
			free(address);
			page_message(a, r, 500, c->tpl, T_ERROR);
			return;
		}
		if (vstore_add_passcode(a->st, c->tok.lookup, address, ref, h, now, now + (int64_t)a->cfg->sv_passcode_ttl,
		    &err) != 0) {
			seal_err("store: %s", err ? err : "?");
			free(err);
			free(address);
			OPENSSL_cleanse(code, sizeof(code));
			page_message(a, r, 503, c->tpl, T_ERROR);
			return;
		}
		if (allowed)
			send_passcode(a, req, c->m.seal_id, address, code, ref);
		OPENSSL_cleanse(code, sizeof(code));
		audit(a, req, "passcode_request", c->m.seal_id, address, allowed ? "ok" : "not_recipient", ref);
	}
	/* The same page either way. */
	code_form(a, c, req, r, path_token, address, ref, T_COUNT);
	free(address);
}

static void
verify_code(struct app *a, struct ctx *c, const struct app_request *req, struct app_response *r, const char *path_token)
{
	char *raw = form_get(req, "address", MAX_ADDRESS), *address = raw ? clean_address(raw) : NULL;
	char *code = form_get(req, "code", 32), digits[9], sid[44], csrf[44], *cookie = NULL, *err = NULL, *loc = NULL;
	char *which = NULL;
	unsigned char h[32];
	size_t i, n = 0;
	int left = 0;
	enum vpass_result pr;

	free(raw);
	if (!csrf_ok(a, req, c->tok.lookup) || address == NULL || code == NULL) {
		audit(a, req, "passcode_fail", c->m.seal_id, address, "bad_form", "no or wrong CSRF token, or a field missing");
		free(address);
		if (code)
			OPENSSL_cleanse(code, strlen(code));
		free(code);
		address_form(a, c, req, r, path_token, T_BAD_FORM);
		return;
	}
	/* Digits only; spaces are allowed between them. */
	for (i = 0; code[i] && n < 9; i++)
		if (code[i] >= '0' && code[i] <= '9')
			digits[n++] = code[i];
		else if (code[i] != ' ')
			n = 9;
	OPENSSL_cleanse(code, strlen(code));
	free(code);
	if (!rate_ok(a, req, c, NULL, &which)) {
		audit(a, req, "passcode_fail", c->m.seal_id, address, "rate_limited", which ? which : "a rate limit");
		free(which);
		code_form(a, c, req, r, path_token, address, NULL, T_RATE_LIMITED);
		free(address);
		return;
	}
	if (n != 8) {
		audit(a, req, "passcode_fail", c->m.seal_id, address, "malformed", NULL);
		code_form(a, c, req, r, path_token, address, NULL, T_CODE_BAD);
		free(address);
		return;
	}
	digits[8] = '\0';
	passcode_hash(a, c->tok.lookup, address, digits, h);
	OPENSSL_cleanse(digits, sizeof(digits));
	pr = vstore_try_passcode(a->st, c->tok.lookup, address, h, (int64_t)time(NULL), MAX_TRIES, &left, &err);
	/* Defence in depth: only an address the policy allows ever signs in. */
	if (pr == VPASS_OK && !may_read(a, c, address))
		pr = VPASS_NONE;
	if (pr == VPASS_ERROR) {
		seal_err("store: %s", err ? err : "?");
		free(err);
		free(address);
		page_message(a, r, 503, c->tpl, T_ERROR);
		return;
	}
	if (pr != VPASS_OK) {
		char d[32];
		snprintf(d, sizeof(d), "tries_left=%d", left);
		audit(a, req, "passcode_fail", c->m.seal_id, address,
		    pr == VPASS_WRONG ? "wrong" : pr == VPASS_LOCKED ? "locked" : "no_passcode", pr == VPASS_WRONG ? d : NULL);
		/* One answer for every failure: it tells nothing about the address. */
		code_form(a, c, req, r, path_token, address, NULL, T_CODE_BAD);
		free(address);
		return;
	}
	/* A session: the cookie holds the id, the store its keyed hash. */
	if (random_token(sid) != 0 || random_token(csrf) != 0) {
		free(address);
		page_message(a, r, 500, c->tpl, T_ERROR);
		return;
	}
	if (keyed(a->k_sess, "session", sid, "", h) != 0 ||
	    vstore_session_create(a->st, h, c->tok.lookup, address, csrf, (int64_t)time(NULL), &err) != 0) {
		seal_err("store: %s", err ? err : "cannot make a session");
		free(err);
		free(address);
		OPENSSL_cleanse(sid, sizeof(sid));
		page_message(a, r, 503, c->tpl, T_ERROR);
		return;
	}
	audit(a, req, "passcode_ok", c->m.seal_id, address, "ok", NULL);
	respond_text(r, 303, "text/plain; charset=utf-8", "");
	if (asprintf(&cookie, "svs=%s; Path=/m/; HttpOnly; SameSite=Strict%s", sid, a->secure_cookies ? "; Secure" : "") >= 0)
		set_header(r, "Set-Cookie", cookie);
	if (asprintf(&loc, "/m/%s", path_token) >= 0)
		set_header(r, "Location", loc);
	set_header(r, "Content-Security-Policy", CSP_PAGE);
	if (cookie)
		OPENSSL_cleanse(cookie, strlen(cookie));
	OPENSSL_cleanse(sid, sizeof(sid));
	free(cookie);
	free(loc);
	free(address);
}

/* ---- signed-in actions -------------------------------------------------- */

static void
serve_body(struct app *a, struct ctx *c, const struct vsession *s, const struct app_request *req,
    struct app_response *r)
{
	struct msgview v;
	struct sbuf b;
	char *err = NULL;

	if (open_view(a, c, &v, &err) != 0 || v.html == NULL) {
		if (err)
			seal_err("cannot open %s: %s", c->m.seal_id, err);
		free(err);
		msgview_free(&v);
		respond_text(r, 404, "text/plain; charset=utf-8", "no formatted version\n");
		return;
	}
	(void)s;
	(void)req;
	sbuf_init(&b, 0);
	/* The rights reach the frame too (it can be opened on its own): no
	 * printing without print, no selecting without copy. The message's
	 * own <meta charset> is overridden by the header's charset. */
	{
		/* After a leading doctype, so that the message keeps its rendering mode. */
		const char *h = v.html, *after = h + strspn(h, " \t\r\n");
		size_t pre = 0;
		if (strncasecmp(after, "<!doctype", 9) == 0 && strchr(after, '>') != NULL)
			pre = (size_t)(strchr(after, '>') + 1 - h);
		sbuf_add(&b, h, pre);
		if (!(c->pol.rights & RIGHT_PRINT))
			sbuf_adds(&b, "<style>@media print{html{display:none!important}}</style>");
		if (!(c->pol.rights & RIGHT_COPY))
			sbuf_adds(&b, "<style>html,body{-webkit-user-select:none!important;user-select:none!important}</style>");
		sbuf_adds(&b, h + pre);
	}
	msgview_free(&v);
	respond(r, 200, "text/html; charset=utf-8", &b);
	set_header(r, "Content-Security-Policy", CSP_BODY);
}

static void
serve_attachment(struct app *a, struct ctx *c, const struct vsession *s, const struct app_request *req,
    struct app_response *r, const char *num)
{
	struct msgview v;
	struct sbuf b, cd;
	char *err = NULL, what[64];
	uint64_t n = 0;

	if (!(c->pol.rights & RIGHT_SAVE)) {
		audit(a, req, "download", c->m.seal_id, s->address, "refused", "no save right");
		respond_text(r, 403, "text/plain; charset=utf-8", "downloads are not allowed for this message\n");
		return;
	}
	if (parse_uint(num, &n) != 0 || n == 0 || open_view(a, c, &v, &err) != 0) {
		free(err);
		respond_text(r, 404, "text/plain; charset=utf-8", "no such attachment\n");
		return;
	}
	if (n > v.natt) {
		msgview_free(&v);
		respond_text(r, 404, "text/plain; charset=utf-8", "no such attachment\n");
		return;
	}
	sbuf_init(&b, 0);
	if (v.att[n - 1].size > 0)
		sbuf_add(&b, v.att[n - 1].data, v.att[n - 1].size);
	else
		sbuf_adds(&b, "");
	sbuf_init(&cd, 0);
	sbuf_adds(&cd, "attachment; filename*=UTF-8''");
	url_encode(&cd, v.att[n - 1].filename, strlen(v.att[n - 1].filename));
	/* The audit names the attachment by its number, not its file name: a
	 * file name is part of the message, and the database holds none of it. */
	snprintf(what, sizeof(what), "attachment %llu of %zu", (unsigned long long)n, v.natt);
	if (audit(a, req, "download", c->m.seal_id, s->address, "ok", what) != 0) {
		sbuf_free(&b);
		sbuf_free(&cd);
		msgview_free(&v);
		respond_text(r, 503, "text/plain; charset=utf-8", "the audit log is unavailable; try again later\n");
		return;
	}
	respond(r, 200, "application/octet-stream", &b);
	if (cd.data)
		set_header(r, "Content-Disposition", cd.data);
	set_header(r, "Content-Security-Policy", "default-src 'none'; sandbox");
	sbuf_free(&cd);
	msgview_free(&v);
}

/* A header value from the message, made safe to put in a header of ours:
 * one line, at most 900 bytes. */
static char *
one_line(const char *s)
{
	size_t n = strlen(s), i;
	char *o;

	if (n > 900)
		n = 900;
	if ((o = xstrndup(s, n)) == NULL)
		return NULL;
	for (i = 0; i < n; i++)
		if (o[i] == '\r' || o[i] == '\n' || o[i] == '\0')
			o[i] = ' ';
	return o;
}

static void
send_reply(struct app *a, struct ctx *c, const struct vsession *s, const struct app_request *req,
    struct app_response *r, const char *path_token)
{
	char *body = form_get(req, "text", MAX_REPLY), *err = NULL, *date = NULL, *subj = NULL, *mid = NULL;
	char *which = NULL;
	struct mail_job *job;
	struct msgview v;
	struct sbuf m;
	char *crlf;
	size_t clen;

	if (!csrf_ok(a, req, c->tok.lookup) || body == NULL) {
		free(body);
		page_message(a, r, 400, c->tpl, T_BAD_FORM);
		return;
	}
	if (!(c->pol.rights & (RIGHT_REPLY | RIGHT_REPLY_ALL)) || c->pol.sender == NULL || c->pol.sender[0] == '\0') {
		audit(a, req, "reply", c->m.seal_id, s->address, "refused", "no reply right");
		free(body);
		respond_text(r, 403, "text/plain; charset=utf-8", "replies are not allowed for this message\n");
		return;
	}
	if (!hit(a, key2("reply", c->tok.lookup, s->address), MAX_REPLIES, "replies per reader and message", &which)) {
		audit(a, req, "reply", c->m.seal_id, s->address, "rate_limited", which ? which : "a rate limit");
		free(which);
		free(body);
		page_message(a, r, 429, c->tpl, T_RATE_LIMITED);
		return;
	}
	if (open_view(a, c, &v, &err) != 0) {
		seal_err("cannot open %s: %s", c->m.seal_id, err ? err : "?");
		free(err);
		free(body);
		page_message(a, r, 500, c->tpl, T_ERROR);
		return;
	}
	date = rfc2822_date();
	{
		char *re = NULL, *line = one_line(v.subject ? v.subject : "");
		if (line && asprintf(&re, "Re: %s", line) >= 0)
			subj = hdr_encode(re);        /* RFC 2047 when it is not ASCII */
		free(re);
		free(line);
	}
	mid = one_line(c->pol.message_id ? c->pol.message_id : "");
	/* From the organisation's own address, so SPF and DMARC pass wherever the
	 * reply goes; the reader is the Reply-To and named in From. */
	sbuf_init(&m, 0);
	sbuf_printf(&m, "From: \"Reply through the protected-message viewer\" <%s>\r\nReply-To: %s\r\nTo: %s\r\n"
	    "Date: %s\r\nSubject: %s\r\n", a->cfg->sv_passcode_from, s->address, c->pol.sender, date ? date : "",
	    subj ? subj : "Re:");
	if (mid && mid[0] == '<')
		sbuf_printf(&m, "In-Reply-To: %s\r\nReferences: %s\r\n", mid, mid);
	sbuf_printf(&m, "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\nX-Sealview-Reply-To-Seal: %s\r\n\r\n", c->m.seal_id);
	{
		/* The reply, then the original quoted, as quoted-printable. */
		struct sbuf t;
		const char *p, *q;
		sbuf_init(&t, 0);
		for (q = body; *q; q++)
			if (*q != '\r')
				sbuf_addc(&t, *q);
		sbuf_adds(&t, "\n\n> ");
		for (p = v.text ? v.text : ""; *p; p++) {
			if (*p == '\r')
				continue;
			sbuf_addc(&t, *p);
			if (*p == '\n' && p[1])
				sbuf_adds(&t, "> ");
		}
		sbuf_adds(&t, "\n");
		if (t.oom)
			m.oom = 1;      /* the quote is lost: the reply is not sent without it */
		else if (t.data) {
			qp_encode(&m, t.data);
			OPENSSL_cleanse(t.data, t.len);
		}
		sbuf_free(&t);
	}
	/* A reply missing a piece lost to memory is not sent (the reader is told it failed). */
	crlf = m.data && !m.oom ? crlf_canon(m.data, m.len, &clen) : NULL;
	job = mail_job(a, "reply_mail", c->m.seal_id, s->address, req->client_ip);
	if (crlf == NULL || mailout_queue(a->mail, a->cfg->sv_passcode_from, c->pol.sender, crlf, clen, mail_done,
	    job) != 0) {
		mail_job_free(job);
		audit(a, req, "reply", c->m.seal_id, s->address, "error", "cannot queue");
		page_message(a, r, 503, c->tpl, T_ERROR);
	} else {
		audit(a, req, "reply", c->m.seal_id, s->address, "ok", NULL);
		{
			struct page pg;
			page_start(a, &pg, c->tpl, 1);
			sbuf_adds(&pg.b, "<div class=\"card\"><p role=\"status\" id=\"reply-sent\">");
			html_escapes(&pg.b, text(T_REPLY_SENT));
			sbuf_printf(&pg.b, "</p><p><a href=\"/m/%s\">", path_token);
			html_escapes(&pg.b, text(T_TITLE));
			sbuf_adds(&pg.b, "</a></p></div>");
			page_end(a, &pg, r, 200);
		}
	}
	/* The reply and the decrypted original it quotes: wiped, not just freed. */
	if (crlf)
		OPENSSL_cleanse(crlf, clen);
	free(crlf);
	if (m.data)
		OPENSSL_cleanse(m.data, m.len);
	sbuf_free(&m);
	free(date);
	free(subj);
	free(mid);
	OPENSSL_cleanse(body, strlen(body));
	free(body);
	msgview_free(&v);
}

/* Forward (the forward right): the address may then read the message like
 * a recipient, and gets the link by mail. */
static void
forward(struct app *a, struct ctx *c, const struct vsession *s, const struct app_request *req, struct app_response *r,
    const char *path_token)
{
	char *raw = form_get(req, "address", MAX_ADDRESS), *to = raw ? clean_address(raw) : NULL, *err = NULL;
	char *link = NULL, *which = NULL;
	struct mail_job *job;
	struct sbuf m;
	int rc;

	free(raw);
	if (!csrf_ok(a, req, c->tok.lookup) || to == NULL) {
		audit(a, req, "forward", c->m.seal_id, s->address, "bad_form", NULL);
		free(to);
		page_message(a, r, 400, c->tpl, T_BAD_FORM);
		return;
	}
	if (!(c->pol.rights & RIGHT_FORWARD)) {
		audit(a, req, "forward", c->m.seal_id, s->address, "refused", "no forward right");
		free(to);
		respond_text(r, 403, "text/plain; charset=utf-8", "forwarding is not allowed for this message\n");
		return;
	}
	if (!hit(a, key2("fwd", c->tok.lookup, s->address), MAX_REPLIES, "forwards per reader and message", &which)) {
		char *d = NULL;
		if (asprintf(&d, "%s; to %s", which ? which : "a rate limit", to) < 0)
			d = NULL;
		audit(a, req, "forward", c->m.seal_id, s->address, "rate_limited", d ? d : to);
		free(d);
		free(which);
		free(to);
		page_message(a, r, 429, c->tpl, T_RATE_LIMITED);
		return;
	}
	rc = vstore_add_forward(a->st, c->tok.lookup, to, s->address, (int64_t)time(NULL), &err);
	if (rc < 0) {
		seal_err("store: %s", err ? err : "?");
		free(err);
		free(to);
		page_message(a, r, 503, c->tpl, T_ERROR);
		return;
	}
	if (asprintf(&link, "%s/m/%s", a->cfg->viewer_public_url ? a->cfg->viewer_public_url : "", path_token) < 0)
		link = NULL;
	sbuf_init(&m, 0);
	sbuf_printf(&m, "From: %s\r\nTo: %s\r\nReply-To: %s\r\nSubject: ", a->cfg->sv_passcode_from, to, s->address);
	text_fill(&m, 0, T_FWD_MAIL_SUBJECT, s->address, NULL, NULL);
	sbuf_adds(&m, "\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nAuto-Submitted: auto-generated\r\n\r\n");
	text_fill(&m, 0, T_FWD_MAIL_BODY, s->address, link ? link : "", NULL);
	job = mail_job(a, "forward_mail", c->m.seal_id, to, req->client_ip);
	if (m.data == NULL || link == NULL ||
	    mailout_queue(a->mail, a->cfg->sv_passcode_from, to, m.data, m.len, mail_done, job) != 0) {
		mail_job_free(job);
		audit(a, req, "forward", c->m.seal_id, s->address, "error", to);
		page_message(a, r, 503, c->tpl, T_ERROR);
	} else {
		struct page pg;
		audit(a, req, "forward", c->m.seal_id, s->address, rc == 1 ? "ok" : "again", to);
		page_start(a, &pg, c->tpl, 1);
		sbuf_adds(&pg.b, "<div class=\"card\"><p role=\"status\" id=\"forwarded\">");
		text_fill(&pg.b, 1, T_FORWARDED, to, NULL, NULL);
		sbuf_printf(&pg.b, "</p><p><a href=\"/m/%s\">", path_token);
		html_escapes(&pg.b, text(T_TITLE));
		sbuf_adds(&pg.b, "</a></p></div>");
		page_end(a, &pg, r, 200);
	}
	if (link)
		OPENSSL_cleanse(link, strlen(link));
	free(link);
	if (m.data)
		OPENSSL_cleanse(m.data, m.len);
	sbuf_free(&m);
	free(to);
}

static void
logout(struct app *a, struct ctx *c, const struct app_request *req, struct app_response *r, const char *path_token)
{
	char sid[64], *err = NULL, *loc = NULL;
	unsigned char h[32];

	if (csrf_ok(a, req, c->tok.lookup) && req->cookie && cookie_get(req->cookie, "svs", sid, sizeof(sid)) == 0) {
		keyed(a->k_sess, "session", sid, "", h);
		if (vstore_session_delete(a->st, h, &err) != 0) {
			seal_err("store: %s", err ? err : "?");
			free(err);
		}
	}
	respond_text(r, 303, "text/plain; charset=utf-8", "");
	set_header(r, "Set-Cookie", "svs=; Path=/m/; HttpOnly; SameSite=Strict; Max-Age=0");
	if (asprintf(&loc, "/m/%s", path_token) >= 0)
		set_header(r, "Location", loc);
	free(loc);
}

/* ---- the API -------------------------------------------------------------- */

int
app_api_plausible(const char *date, const char *nonce, const char *signature)
{
	int64_t now = (int64_t)time(NULL);
	uint64_t d;
	size_t i;

	if (date == NULL || nonce == NULL || signature == NULL || parse_uint(date, &d) != 0 || strlen(nonce) != 32 ||
	    strlen(signature) != 64)
		return 0;
	for (i = 0; i < 32; i++)
		if (!isxdigit((unsigned char)nonce[i]))
			return 0;
	return (int64_t)d >= now - VIEWAPI_MAX_SKEW && (int64_t)d <= now + VIEWAPI_MAX_SKEW;
}

/* The signature over the request's method, path, date, nonce and the
 * given body hash, and the nonce (used up here). 1 good; 0 refused, with
 * *status and *why; the caller answers. */
static int
check_signature(struct app *a, const struct app_request *req, const unsigned char body_hash[32], int *status,
    const char **why)
{
	char want[65], *err = NULL;
	uint64_t date = 0;
	int64_t now = (int64_t)time(NULL);
	int rc;

	*status = 401;
	if (!app_api_plausible(req->x_date, req->x_nonce, req->x_signature) || parse_uint(req->x_date, &date) != 0) {
		*why = "unsigned, malformed or stale request (the date must be within 300 s)\n";
		return 0;
	}
	if (viewapi_sign(a->k_api, req->method, req->path, req->x_date, req->x_nonce, body_hash, want) != 0 ||
	    !ct_equal(want, req->x_signature, 64)) {
		*why = "bad signature\n";
		return 0;
	}
	/* Kept until no request with this date can pass the skew check. */
	rc = vstore_nonce_use(a->st, req->x_nonce, now, (int64_t)date + VIEWAPI_MAX_SKEW + 1, &err);
	if (rc != 1) {
		if (rc < 0)
			seal_err("store: %s", err ? err : "?");
		free(err);
		*status = rc < 0 ? 503 : 401;
		*why = rc < 0 ? "store unavailable\n" : "replayed request\n";
		return 0;
	}
	return 1;
}

static int
hash_of_hex(const char *hex, unsigned char out[32])
{
	size_t i;

	if (hex == NULL || strlen(hex) != 64)
		return -1;
	for (i = 0; i < 32; i++) {
		int hi = hex_digit(hex[2 * i]), lo = hex_digit(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (unsigned char)(hi * 16 + lo);
	}
	return 0;
}

int
app_api_preauth(struct app *a, const struct app_request *req, int *status, const char **why)
{
	unsigned char claimed[32];

	if (hash_of_hex(req->x_content_sha256, claimed) != 0) {
		*status = 401;
		*why = "X-Seal-Content-SHA256 is missing or malformed\n";
		return 0;
	}
	if (!check_signature(a, req, claimed, status, why)) {
		seal_warn("API %s %s from %s refused before its body: %s", req->method, req->path,
		    req->client_ip ? req->client_ip : "?", *why);
		return 0;
	}
	return 1;
}

/* A signed API request: checked before its body was read (the server's
 * pre-authentication: then the body must match the signed hash), or here
 * in full. 1 good; 0 answered. */
static int
api_auth(struct app *a, const struct app_request *req, struct app_response *r)
{
	unsigned char bh[32], claimed[32];
	const char *why = NULL;
	int status = 401;

	if (EVP_Digest(req->body ? req->body : "", req->body_len, bh, NULL, EVP_sha256(), NULL) != 1) {
		respond_text(r, 500, "text/plain; charset=utf-8", "internal error\n");
		return 0;
	}
	if (req->api_preauthorized) {
		if (hash_of_hex(req->x_content_sha256, claimed) != 0 || memcmp(claimed, bh, 32) != 0) {
			seal_warn("API %s %s from %s: the body does not match its signed hash", req->method, req->path,
			    req->client_ip ? req->client_ip : "?");
			respond_text(r, 401, "text/plain; charset=utf-8", "the body does not match its signed hash\n");
			return 0;
		}
		return 1;
	}
	if (!check_signature(a, req, bh, &status, &why)) {
		seal_warn("API %s %s from %s: %s", req->method, req->path, req->client_ip ? req->client_ip : "?", why);
		respond_text(r, status, "text/plain; charset=utf-8", why);
		return 0;
	}
	return 1;
}

static void
api_register(struct app *a, const struct app_request *req, struct app_response *r, const char *lookup)
{
	struct vmessage m;
	struct seal_policy pol;
	struct sbuf rc_list;
	char *policy = NULL, *err = NULL, *msg = NULL;
	size_t plen, i;
	int has_kek = 0, rc;
	enum seal_open_error e;

	if (strlen(lookup) != VSTORE_LOOKUP_LEN || strspn(lookup, "0123456789abcdef") != VSTORE_LOOKUP_LEN) {
		respond_text(r, 400, "text/plain; charset=utf-8", "bad lookup id\n");
		return;
	}
	e = seal_cms_inspect(&a->cfg->keys, req->body, req->body_len, &policy, &plen, &has_kek, &err);
	if (e != SEAL_OPEN_OK || !has_kek || seal_policy_parse(policy, plen, &pol, &err) != 0) {
		if (asprintf(&msg, "refused: %s%s%s\n", e != SEAL_OPEN_OK ? seal_open_error_name(e)
		    : !has_kek ? "it carries no viewer key" : "its policy does not parse", err ? ": " : "", err ? err : "") < 0)
			msg = NULL;
		audit(a, req, "register", "", NULL, "refused", msg);
		respond_text(r, 422, "text/plain; charset=utf-8", msg ? msg : "refused\n");
		free(msg);
		free(err);
		free(policy);
		return;
	}
	sbuf_init(&rc_list, 0);
	for (i = 0; i < pol.recipients.n; i++)
		sbuf_printf(&rc_list, "%s%s", i ? "\n" : "", pol.recipients.v[i]);
	memset(&m, 0, sizeof(m));
	memcpy(m.lookup, lookup, VSTORE_LOOKUP_LEN);
	m.seal_id = pol.seal_id;
	m.message_id = pol.message_id ? pol.message_id : (char *)"";
	m.sender = pol.sender ? pol.sender : (char *)"";
	m.template_name = pol.template_name ? pol.template_name : (char *)"";
	m.policy = policy;
	m.recipients = rc_list.data ? rc_list.data : (char *)"";
	m.created = (int64_t)time(NULL);
	m.expires = (int64_t)pol.expires;
	m.object = (unsigned char *)req->body;
	m.object_len = req->body_len;
	rc = vstore_put_message(a->st, &m, &err);
	if (rc < 0) {
		audit(a, req, "register", pol.seal_id, NULL, "error", err);
		if (asprintf(&msg, "cannot store it: %s\n", err ? err : "?") < 0)
			msg = NULL;
		respond_text(r, err && strstr(err, "already") ? 409 : 503, "text/plain; charset=utf-8", msg ? msg : "error\n");
	} else {
		audit(a, req, "register", pol.seal_id, NULL, rc == 1 ? "ok" : "again", NULL);
		if (asprintf(&msg, "{\"seal_id\":\"%s\",\"registered\":%s}\n", pol.seal_id, rc == 1 ? "true" : "false") < 0)
			msg = NULL;
		respond_text(r, rc == 1 ? 201 : 200, "application/json", msg ? msg : "{}\n");
	}
	free(msg);
	free(err);
	free(policy);
	sbuf_free(&rc_list);
	seal_policy_free(&pol);
}

/* Revoke by seal id, or every registration of a Message-ID (a message can
 * be registered more than once: split deliveries, retries). */
static void
api_revoke(struct app *a, const struct app_request *req, struct app_response *r, const char *id)
{
	struct vmessage m;
	struct sbuf b;
	char *err = NULL;
	int rc, n = 0, already = 0, failed = 0, round;

	if (id[0] == '\0') {
		respond_text(r, 400, "text/plain; charset=utf-8", "give a seal id or a Message-ID\n");
		return;
	}
	sbuf_init(&b, 0);
	sbuf_adds(&b, "{\"seal_ids\":[");
	/* find_message returns a registration not yet revoked first. */
	for (round = 0; round < 10000; round++) {
		rc = vstore_find_message(a->st, id, &m, &err);
		if (rc != 1) {
			if (rc < 0)
				failed = 1;
			break;
		}
		if (m.revoked) {
			if (n == 0) {
				already = 1;
				json_string(&b, m.seal_id);     /* which one it was */
			}
			vmessage_free(&m);
			break;
		}
		rc = vstore_revoke(a->st, m.seal_id, (int64_t)time(NULL), &err);
		audit(a, req, "revoke", m.seal_id, NULL, rc == 1 ? "ok" : rc == 0 ? "already" : "error", err);
		if (rc < 0) {
			failed = 1;
			vmessage_free(&m);
			break;
		}
		sbuf_adds(&b, n++ ? "," : "");
		json_string(&b, m.seal_id);
		rc = strcmp(id, m.seal_id) == 0;     /* a seal id: that one only */
		vmessage_free(&m);
		if (rc)
			break;
	}
	if (err)
		seal_err("revoke %s: %s", id, err);
	free(err);
	if (failed) {
		sbuf_free(&b);
		respond_text(r, 503, "text/plain; charset=utf-8", "store unavailable\n");
		return;
	}
	if (n == 0 && !already) {
		sbuf_free(&b);
		respond_text(r, 404, "text/plain; charset=utf-8", "no message with that seal id or Message-ID\n");
		return;
	}
	sbuf_printf(&b, "],\"revoked_now\":%d,\"revoked\":\"%s\"}\n", n, n ? "now" : "already");
	respond(r, 200, "application/json", &b);
}

static int
audit_line(const struct vaudit *rec, void *arg)
{
	struct sbuf *b = arg;
	char h[65], when[40];
	time_t t = (time_t)rec->time;
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	hex_encode(rec->hash, 32, h);
	sbuf_printf(b, "{\"seq\":%lld,\"time\":\"%s\",\"event\":", (long long)rec->seq, when);
	json_string(b, rec->event);
	sbuf_adds(b, ",\"seal_id\":");
	json_string(b, rec->seal_id);
	sbuf_adds(b, ",\"address\":");
	json_string(b, rec->address);
	sbuf_adds(b, ",\"client_ip\":");
	json_string(b, rec->client_ip);
	sbuf_adds(b, ",\"user_agent\":");
	json_string(b, rec->user_agent);
	sbuf_adds(b, ",\"outcome\":");
	json_string(b, rec->outcome);
	sbuf_adds(b, ",\"detail\":");
	json_string(b, rec->detail);
	sbuf_printf(b, ",\"hash\":\"%s\"}\n", h);
	return b->data == NULL;
}

static void
api_audit(struct app *a, struct app_response *r, const char *seal_id)
{
	struct sbuf b;
	char *err = NULL;

	sbuf_init(&b, 0);
	if (vstore_audit_list(a->st, seal_id && seal_id[0] ? seal_id : NULL, audit_line, &b, &err) != 0) {
		respond_text(r, 503, "text/plain; charset=utf-8", "store unavailable\n");
		seal_err("audit list: %s", err ? err : "?");
		free(err);
		sbuf_free(&b);
		return;
	}
	if (b.data == NULL)
		sbuf_adds(&b, "");
	respond(r, 200, "application/x-ndjson", &b);
}

static void
api_audit_verify(struct app *a, struct app_response *r)
{
	int64_t count = 0, bad = 0;
	unsigned char head[32];
	char h[65], *err = NULL;
	struct sbuf b;
	int rc;

	memset(head, 0, sizeof(head));
	rc = vstore_audit_verify(a->st, &count, &bad, head, &err);
	hex_encode(head, 32, h);
	sbuf_init(&b, 0);
	if (rc == 1)
		sbuf_printf(&b, "{\"intact\":true,\"records\":%lld,\"head\":\"%s\"}\n", (long long)count, h);
	else if (rc == 0) {
		sbuf_printf(&b, "{\"intact\":false,\"records\":%lld,\"first_bad\":%lld,\"reason\":", (long long)count,
		    (long long)bad);
		json_string(&b, err ? err : "");
		sbuf_adds(&b, "}\n");
	}
	free(err);
	if (rc < 0) {
		sbuf_free(&b);
		respond_text(r, 503, "text/plain; charset=utf-8", "store unavailable\n");
		return;
	}
	respond(r, 200, "application/json", &b);
}

/* ---- routing -------------------------------------------------------------- */

size_t
app_max_body(const struct app *a, const char *method, const char *path, const char **key)
{
	int reg = strcmp(method, "PUT") == 0 && strncmp(path, "/api/v1/messages/", 17) == 0;

	if (key)
		*key = reg ? "sealview.max_object" : "sealview.max_form";
	return (size_t)(reg ? a->cfg->sv_max_object : a->cfg->sv_max_form);
}

static void
route_message(struct app *a, const struct app_request *req, struct app_response *r)
{
	const char *p = req->path + 3, *slash = strchr(p, '/');
	size_t toklen = slash ? (size_t)(slash - p) : strlen(p);
	const char *action = slash ? slash + 1 : "";
	char token[VIEW_TOKEN_TEXT + 1];
	int get = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
	int post = strcmp(req->method, "POST") == 0;
	int need_object;
	struct vsession s;
	struct ctx c;
	int have_s;

	if (toklen != VIEW_TOKEN_TEXT) {
		page_message(a, r, 404, NULL, T_NOT_FOUND);
		return;
	}
	memcpy(token, p, toklen);
	token[toklen] = '\0';
	need_object = get || strcmp(action, "reply") == 0;
	if (find_message(a, token, toklen, 0, &c, req, r) != 0) {
		ctx_free(&c);
		return;
	}
	memset(&s, 0, sizeof(s));
	have_s = session_of(a, req, &c, &s) == 1;
	if (have_s && need_object && load_object(a, &c, r) != 0) {
		/* The page is made. */
	} else if (get && action[0] == '\0') {
		if (have_s)
			show_message(a, &c, &s, req, r, token, 0);
		else
			address_form(a, &c, req, r, token, T_COUNT);
	} else if (post && strcmp(action, "code") == 0) {
		request_code(a, &c, req, r, token);
	} else if (post && strcmp(action, "verify") == 0) {
		verify_code(a, &c, req, r, token);
	} else if (!have_s && (get || post)) {
		/* Everything below needs a session: back to the start. */
		char *loc = NULL;
		respond_text(r, 303, "text/plain; charset=utf-8", "");
		if (asprintf(&loc, "/m/%s", token) >= 0)
			set_header(r, "Location", loc);
		free(loc);
	} else if (get && strcmp(action, "body") == 0) {
		serve_body(a, &c, &s, req, r);
	} else if (get && strncmp(action, "att/", 4) == 0) {
		serve_attachment(a, &c, &s, req, r, action + 4);
	} else if (get && strcmp(action, "print") == 0) {
		if (c.pol.rights & RIGHT_PRINT)
			show_message(a, &c, &s, req, r, token, 1);
		else
			respond_text(r, 403, "text/plain; charset=utf-8", "printing is not allowed for this message\n");
	} else if (post && strcmp(action, "reply") == 0) {
		send_reply(a, &c, &s, req, r, token);
	} else if (post && strcmp(action, "forward") == 0) {
		forward(a, &c, &s, req, r, token);
	} else if (post && strcmp(action, "logout") == 0) {
		logout(a, &c, req, r, token);
	} else {
		respond_text(r, get || post ? 404 : 405, "text/plain; charset=utf-8", "not found\n");
	}
	if (have_s)
		vsession_free(&s);
	OPENSSL_cleanse(token, sizeof(token));
	ctx_free(&c);
}

static void
api_route(struct app *a, const struct app_request *req, struct app_response *r, const char *path)
{
	if (strcmp(req->method, "PUT") == 0 && strncmp(path, "/api/v1/messages/", 17) == 0)
		api_register(a, req, r, path + 17);
	else if (strcmp(req->method, "POST") == 0 && strncmp(path, "/api/v1/revoke/", 15) == 0)
		api_revoke(a, req, r, path + 15);
	else if (strcmp(req->method, "GET") == 0 && strcmp(path, "/api/v1/audit") == 0)
		api_audit(a, r, NULL);
	else if (strcmp(req->method, "GET") == 0 && strncmp(path, "/api/v1/audit/", 14) == 0)
		api_audit(a, r, path + 14);
	else if (strcmp(req->method, "GET") == 0 && strcmp(path, "/api/v1/audit-verify") == 0)
		api_audit_verify(a, r);
	else
		respond_text(r, 404, "text/plain; charset=utf-8", "no such endpoint\n");
}

/* The answer to a signed request is signed too, over the request's nonce,
 * the status and the body (seal/viewapi.h), so that nobody on the way can
 * forge or change it: sealctl and sealmilter believe no other. */
static void
sign_response(struct app *a, const struct app_request *req, struct app_response *r)
{
	unsigned char h[32];
	char sig[65];

	if (EVP_Digest(r->body ? r->body : "", r->body ? r->body_len : 0, h, NULL, EVP_sha256(), NULL) == 1 &&
	    viewapi_sign_response(a->k_api, req->x_nonce, (long)r->status, h, sig) == 0)
		set_header(r, "X-Seal-Response-Signature", sig);
}

void
app_handle(struct app *a, const struct app_request *req, struct app_response *r)
{
	const char *path = req->path;

	memset(r, 0, sizeof(*r));
	if (strncmp(path, "/api/v1/", 8) == 0) {
		if (!api_auth(a, req, r))
			return;
		api_route(a, req, r, path);
		sign_response(a, req, r);
		return;
	}
	if (strncmp(path, "/m/", 3) == 0) {
		route_message(a, req, r);
		return;
	}
	if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) {
		respond_text(r, 405, "text/plain; charset=utf-8", "method not allowed\n");
		return;
	}
	if (strcmp(path, "/healthz") == 0) {
		int ok = vstore_ping(a->st);
		respond_text(r, ok ? 200 : 503, "text/plain; charset=utf-8", ok ? "ok\n" : "store unavailable\n");
	} else if (strcmp(path, "/static/style.css") == 0) {
		respond_text(r, 200, "text/css; charset=utf-8", STYLE);
		set_header(r, "Cache-Control", "public, max-age=3600");
	} else if (strncmp(path, "/static/brand/", 14) == 0 && strlen(path) > 18 &&
	    strcmp(path + strlen(path) - 4, ".css") == 0) {
		char *name = xstrndup(path + 14, strlen(path) - 18);
		const struct seal_template *t = name ? seal_template_find(&a->cfg->templates, name) : NULL;
		struct sbuf b;
		free(name);
		if (t == NULL || t->branding == NULL || t->branding->color == NULL) {
			respond_text(r, 404, "text/plain; charset=utf-8", "not found\n");
			return;
		}
		sbuf_init(&b, 0);
		sbuf_printf(&b, ":root{--brand:%s}\n", t->branding->color);   /* #rrggbb, checked at load */
		respond(r, 200, "text/css; charset=utf-8", &b);
		set_header(r, "Cache-Control", "public, max-age=3600");
	} else if (strcmp(path, "/static/noprint.css") == 0) {
		respond_text(r, 200, "text/css; charset=utf-8", "body{display:none}\n");
		set_header(r, "Cache-Control", "public, max-age=3600");
	} else {
		page_message(a, r, 404, NULL, T_NOT_FOUND);
	}
}

/* ---- life cycle ----------------------------------------------------------- */

int
app_new(struct seal_config *cfg, struct app **out, char **err)
{
	struct app *a = calloc(1, sizeof(*a));

	*out = NULL;
	*err = NULL;
	if (a == NULL) {
		*err = strdup("out of memory");
		return -1;
	}
	a->cfg = cfg;
	if (cfg->viewer_secret_len == 0) {
		*err = strdup("viewer.secret_file is required: the secret shared with sealmilter");
		goto fail;
	}
	if (cfg->keys.issuer_cert == NULL) {
		*err = strdup("keys.issuer.cert is required: sealview checks every sealed object against it");
		goto fail;
	}
	if (cfg->sv_passcode_from == NULL || strchr(cfg->sv_passcode_from, '@') == NULL) {
		*err = strdup("sealview.passcode_from is required: the sender address of passcode mail");
		goto fail;
	}
	if (viewapi_key(cfg->viewer_secret, cfg->viewer_secret_len, a->k_api) != 0 ||
	    hkdf_sha256(cfg->viewer_secret, cfg->viewer_secret_len, "sealmilter-viewer", "passcode v1", a->k_pass, 32) != 0 ||
	    hkdf_sha256(cfg->viewer_secret, cfg->viewer_secret_len, "sealmilter-viewer", "session v1", a->k_sess, 32) != 0 ||
	    hkdf_sha256(cfg->viewer_secret, cfg->viewer_secret_len, "sealmilter-viewer", "csrf v1", a->k_csrf, 32) != 0 ||
	    hkdf_sha256(cfg->viewer_secret, cfg->viewer_secret_len, "sealmilter-viewer", "audit v1", a->k_audit, 32) != 0) {
		*err = strdup("cannot derive keys from viewer.secret_file");
		goto fail;
	}
	/* Cookies are Secure unless the public address is plain http on loopback (a test). */
	a->secure_cookies = !(cfg->viewer_public_url && url_is_loopback_http(cfg->viewer_public_url));
	if (vstore_open(cfg->sv_store, a->k_audit, &a->st, err) != 0)
		goto fail;
	if (mailout_new(cfg->sv_smtp, &a->mail, err) != 0)
		goto fail;
	*out = a;
	return 0;
fail:
	app_free(a);
	return -1;
}

void
app_drain(struct app *a)
{
	if (a && a->mail)
		mailout_drain(a->mail);
}

int
app_use_metrics(struct app *a, struct metrics *reg, const char *version)
{
	a->stats = view_stats_new(reg, a->st, (int64_t)a->cfg->sv_session_idle, version);
	return a->stats ? 0 : -1;
}

void
app_count_response(struct app *a, int status)
{
	view_stats_response(a->stats, status);
}

void
app_free(struct app *a)
{
	if (a == NULL)
		return;
	mailout_free(a->mail);     /* its thread's last audits count too: the stats go after it */
	view_stats_free(a->stats);
	vstore_close(a->st);
	OPENSSL_cleanse(a, sizeof(*a));
	free(a);
}

void
app_purge(struct app *a)
{
	char *err = NULL;
	long n = vstore_purge(a->st, (int64_t)time(NULL), (int64_t)a->cfg->sv_session_idle, &err);

	if (n < 0) {
		seal_err("purge: %s", err ? err : "?");
		free(err);
	} else if (n > 0) {
		char d[32];
		snprintf(d, sizeof(d), "%ld objects", n);
		audit(a, NULL, "expire", "", NULL, "ok", d);
	}
}
