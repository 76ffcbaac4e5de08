/* test_app.c - sealview's application (viewer/app.c) driven directly, without HTTP:
 * the signed API (signature, skew, replay, signed answers, what registration accepts), the pages and
 * their headers, CSRF on every form, the same answer for any address, the passcode
 * lock, sessions required for the body and attachments, revocation, the audit chain, and the
 * rate limits at and one past their value (429, and the audit record and log line name the limit). */
#include "build-config.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <time.h>

#include "rules/cfgerr.h"
#include "seal/cms.h"
#include "seal/keys.h"
#include "seal/viewapi.h"
#include "seal/viewtoken.h"
#include "testutil.h"
#include "viewer/app.h"

static char *dir;
static unsigned char secret[32];

/* Keys and the viewer secret, made once for the suite (outside any test:
 * plain checks, a failure ends the program). */
static void
setup_dir(void)
{
	char *err = NULL, *p = NULL;
	FILE *f;
	size_t i;

	dir = strdup("/tmp/sealtest-app-XXXXXX");
	if (dir == NULL || mkdtemp(dir) == NULL || seal_keys_generate("tenant", 2048, dir, "t1", &err) != 0 ||
	    seal_keys_generate("issuer", 0, dir, "issuer", &err) != 0 ||
	    seal_keys_generate("issuer", 0, dir, "other", &err) != 0 || asprintf(&p, "%s/secret", dir) < 0) {
		fprintf(stderr, "test_app: cannot make the keys: %s\n", err ? err : "?");
		exit(EXIT_FAILURE);
	}
	for (i = 0; i < sizeof(secret); i++)
		secret[i] = (unsigned char)(i * 7 + 1);
	f = fopen(p, "wb");
	if (f == NULL || fwrite(secret, 1, sizeof(secret), f) != sizeof(secret) || fclose(f) != 0 || chmod(p, 0600) != 0) {
		fprintf(stderr, "test_app: cannot write %s\n", p);
		exit(EXIT_FAILURE);
	}
	free(p);
}

/* The sealview rate lines of the next viewer_config() (NULL: a high per-IP limit). */
static const char *viewer_rates;

/* The configuration, loaded as sealview loads it, with a fresh SQLite store. */
static struct seal_config *
viewer_config(int n, int full_keys)
{
	char *yaml = NULL, *path;
	struct cfg_errors errs;
	struct seal_config *c;
	size_t i;

	ck_assert_int_ge(asprintf(&yaml, TU_ORG
	    "keys:\n  tenant: [ { id: t1, cert: %s/t1.pem, key: %s/t1.key } ]\n  issuer: { cert: %s/issuer.pem%s%s%s }\n"
	    "templates:\n  dnf: { rights: [view, reply], expires: 30d }\n"
	    "viewer: { public_url: \"http://127.0.0.1:8025\", api_url: \"http://127.0.0.1:8025\", secret_file: %s/secret }\n"
	    "sealview:\n  store: sqlite:%s/db%d.sqlite\n  smtp: smtp://127.0.0.1:1\n  passcode_from: no-reply@example.com\n"
	    "%s", dir, dir, dir, full_keys ? ", key: " : "", full_keys ? dir : "",
	    full_keys ? "/issuer.key" : "", dir, dir, n, viewer_rates ? viewer_rates : "  rate_per_ip: 1000\n"), 0);
	path = tu_write_temp(yaml, ".yaml");
	memset(&errs, 0, sizeof(errs));
	c = config_load(path, CONFIG_VIEWER, &errs);
	for (i = 0; i < errs.count; i++)
		fprintf(stderr, "%s\n", errs.msgs[i]);
	ck_assert_ptr_nonnull(c);
	ck_assert_ptr_null(c->keys.tenant[0].key);      /* CONFIG_VIEWER reads no private key */
	ck_assert_ptr_null(c->keys.issuer_key);
	cfg_errors_free(&errs);
	unlink(path);
	free(path);
	free(yaml);
	return c;
}

/* A sealed object for bob@partner.test with the token's viewer key (issuer: "issuer" or "other"). */
static const char *message_id_override;    /* NULL: <m-SEAL-ID@example.com> */

static unsigned char *
sealed(const struct view_token *tok, const char *issuer, const char *seal_id, size_t *len)
{
	char *yaml = NULL, *err = NULL, *policy = NULL, *data;
	struct seal_config *c;
	BIO *in, *out;
	long n;
	unsigned char *der;

	ck_assert_int_ge(asprintf(&yaml, TU_ORG "keys:\n  tenant: [ { id: t1, cert: %s/t1.pem } ]\n"
	    "  issuer: { cert: %s/%s.pem, key: %s/%s.key }\n", dir, dir, issuer, dir, issuer), 0);
	c = tu_config(yaml);
	ck_assert_int_ge(asprintf(&policy, "{\"v\":1,\"seal_id\":\"%s\",\"template\":\"dnf\",\"rights\":[\"view\","
	    "\"reply\"],\"issued_at\":\"2026-11-22T10:00:00Z\",\"expires\":null,\"recipients\":[\"bob@partner.test\"],"
	    "\"sender\":\"alice@example.com\",\"message_id\":\"%s%s%s\"}", seal_id,
	    message_id_override ? "" : "<m-", message_id_override ? message_id_override : seal_id,
	    message_id_override ? "" : "@example.com>"), 0);
	in = BIO_new_mem_buf("From: alice@example.com\r\nTo: bob@partner.test\r\nSubject: Hi\r\n\r\nSecret text.\r\n", -1);
	out = BIO_new(BIO_s_mem());
	ck_assert_msg(seal_cms_make(&c->keys, policy, strlen(policy), tok ? tok->kek : NULL, in, out, &err) == 0, "%s",
	    err);
	n = BIO_get_mem_data(out, &data);
	der = malloc((size_t)n);
	memcpy(der, data, (size_t)n);
	*len = (size_t)n;
	BIO_free(in);
	BIO_free(out);
	free(policy);
	free(yaml);
	config_unref(c);
	return der;
}

static const char *
header(const struct app_response *r, const char *name)
{
	size_t i;

	for (i = 0; i < r->nheaders; i++)
		if (strcasecmp(r->headers[i].name, name) == 0)
			return r->headers[i].value;
	return NULL;
}

/* A signed API request; skew shifts its date, nonce_id picks its nonce. */
static int
api(struct app *a, const char *method, const char *path, const void *body, size_t len, long skew, int nonce_id,
    int bad_sig, struct app_response *out)
{
	unsigned char key[32], bh[32];
	struct app_request req;
	char nonce[33], date[32], sig[65];

	memset(&req, 0, sizeof(req));
	snprintf(date, sizeof(date), "%lld", (long long)time(NULL) + skew);
	snprintf(nonce, sizeof(nonce), "%032x", nonce_id);
	ck_assert_int_eq(viewapi_key(secret, sizeof(secret), key), 0);
	EVP_Digest(body ? body : "", len, bh, NULL, EVP_sha256(), NULL);
	ck_assert_int_eq(viewapi_sign(key, method, path, date, nonce, bh, sig), 0);
	if (bad_sig)
		sig[0] = sig[0] == 'a' ? 'b' : 'a';
	req.method = method;
	req.path = path;
	req.client_ip = "192.0.2.7";
	req.x_date = date;
	req.x_nonce = nonce;
	req.x_signature = sig;
	req.body = body ? body : "";
	req.body_len = len;
	app_handle(a, &req, out);
	return out->status;
}

/* The answer to the API request with nonce_id carries sealview's signature over that
 * nonce, its status and its body (want 1), or no signature at all (want 0). */
static void
check_response_signature(const struct app_response *r, int nonce_id, int want)
{
	const char *got = header(r, "X-Seal-Response-Signature");
	unsigned char key[32], bh[32];
	char nonce[33], sig[65];

	if (!want) {
		ck_assert_ptr_null(got);
		return;
	}
	ck_assert_ptr_nonnull(got);
	snprintf(nonce, sizeof(nonce), "%032x", nonce_id);
	ck_assert_int_eq(viewapi_key(secret, sizeof(secret), key), 0);
	EVP_Digest(r->body, r->body_len, bh, NULL, EVP_sha256(), NULL);
	ck_assert_int_eq(viewapi_sign_response(key, nonce, (long)r->status, bh, sig), 0);
	ck_assert_str_eq(got, sig);
	/* Bound to the nonce and the status: another request's, or another status, differs. */
	snprintf(nonce, sizeof(nonce), "%032x", nonce_id + 1);
	ck_assert_int_eq(viewapi_sign_response(key, nonce, (long)r->status, bh, sig), 0);
	ck_assert_str_ne(got, sig);
	snprintf(nonce, sizeof(nonce), "%032x", nonce_id);
	ck_assert_int_eq(viewapi_sign_response(key, nonce, 200L + 201L - (long)r->status, bh, sig), 0);
	ck_assert_str_ne(got, sig);
}

/* A browser request with a cookie header and a form body. */
static int
web(struct app *a, const char *method, const char *path, const char *cookie, const char *form, struct app_response *out)
{
	struct app_request req;

	memset(&req, 0, sizeof(req));
	req.method = method;
	req.path = path;
	req.client_ip = "198.51.100.9";
	req.user_agent = "test_app/1.0";
	req.cookie = cookie;
	req.body = form ? form : "";
	req.body_len = form ? strlen(form) : 0;
	app_handle(a, &req, out);
	return out->status;
}

/* The csrf value of the first form in a page, and the svc cookie it goes with. */
static char *
csrf_of(const char *page)
{
	const char *p = strstr(page, "name=\"csrf\" value=\"");
	const char *e;

	ck_assert_ptr_nonnull(p);
	p += strlen("name=\"csrf\" value=\"");
	e = strchr(p, '"');
	return xstrndup(p, (size_t)(e - p));
}

static char *
cookie_of(const struct app_response *r)
{
	const char *c = header(r, "Set-Cookie");
	ck_assert_ptr_nonnull(c);
	return xstrndup(c, strcspn(c, ";"));
}

static struct app *
new_app(struct seal_config *c)
{
	struct app *a = NULL;
	char *err = NULL;

	ck_assert_msg(app_new(c, &a, &err) == 0, "%s", err);
	return a;
}

START_TEST(test_api_signature)
{
	struct seal_config *c = viewer_config(1, 0);
	struct app *a = new_app(c);
	struct view_token tok;
	struct app_response r;
	size_t len;
	unsigned char *der;
	char *path = NULL;

	ck_assert_int_eq(view_token_new(secret, sizeof(secret), &tok), 0);
	der = sealed(&tok, "issuer", "11111111-1111-4111-8111-111111111111", &len);
	ck_assert_int_ge(asprintf(&path, "/api/v1/messages/%s", tok.lookup), 0);
	ck_assert_int_eq(api(a, "PUT", path, der, len, 0, 1, 1, &r), 401);       /* bad signature */
	app_response_free(&r);
	ck_assert_int_eq(api(a, "PUT", path, der, len, -400, 2, 0, &r), 401);    /* too old */
	app_response_free(&r);
	ck_assert_int_eq(api(a, "PUT", path, der, len, 400, 3, 0, &r), 401);     /* from the future */
	app_response_free(&r);
	ck_assert_int_eq(api(a, "PUT", path, der, len - 1, 0, 4, 0, &r), 422);   /* signed, but truncated */
	app_response_free(&r);
	ck_assert_int_eq(api(a, "PUT", path, der, len, 0, 5, 0, &r), 201);
	check_response_signature(&r, 5, 1);
	app_response_free(&r);
	ck_assert_int_eq(api(a, "PUT", path, der, len, 0, 5, 0, &r), 401);       /* the same nonce again: replay */
	ck_assert_ptr_nonnull(strstr(r.body, "replay"));
	check_response_signature(&r, 5, 0);                                     /* a refusal is not signed */
	app_response_free(&r);
	ck_assert_int_eq(api(a, "PUT", path, der, len, 0, 6, 0, &r), 200);      /* idempotent */
	check_response_signature(&r, 6, 1);
	app_response_free(&r);
	ck_assert_int_eq(api(a, "GET", "/api/v1/nothing", NULL, 0, 0, 7, 0, &r), 404);
	check_response_signature(&r, 7, 1);                                     /* signed, whatever its status */
	app_response_free(&r);
	/* Unsigned: refused before anything else. */
	ck_assert_int_eq(web(a, "GET", "/api/v1/audit", NULL, NULL, &r), 401);
	app_response_free(&r);
	free(der);
	free(path);
	app_free(a);
	config_unref(c);
}
END_TEST

START_TEST(test_register_checks)
{
	struct seal_config *c = viewer_config(2, 0);
	struct app *a = new_app(c);
	struct view_token tok;
	struct app_response r;
	size_t len;
	unsigned char *der;
	char *path = NULL;

	ck_assert_int_eq(view_token_new(secret, sizeof(secret), &tok), 0);
	ck_assert_int_ge(asprintf(&path, "/api/v1/messages/%s", tok.lookup), 0);
	der = sealed(NULL, "issuer", "22222222-2222-4222-8222-222222222222", &len);     /* no viewer key */
	ck_assert_int_eq(api(a, "PUT", path, der, len, 0, 10, 0, &r), 422);
	ck_assert_ptr_nonnull(strstr(r.body, "no viewer key"));
	app_response_free(&r);
	free(der);
	der = sealed(&tok, "other", "33333333-3333-4333-8333-333333333333", &len);       /* another issuer */
	ck_assert_int_eq(api(a, "PUT", path, der, len, 0, 11, 0, &r), 422);
	app_response_free(&r);
	free(der);
	ck_assert_int_eq(api(a, "PUT", "/api/v1/messages/xyz", "x", 1, 0, 12, 0, &r), 400);
	app_response_free(&r);
	free(path);
	app_free(a);
	config_unref(c);
}
END_TEST

static int
count_rows(int n, const char *sql)
{
	char *p = NULL;
	sqlite3 *db;
	sqlite3_stmt *s;
	int v = -1;

	ck_assert_int_ge(asprintf(&p, "%s/db%d.sqlite", dir, n), 0);
	ck_assert_int_eq(sqlite3_open(p, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
	if (sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	free(p);
	return v;
}

START_TEST(test_pages)
{
	struct seal_config *c = viewer_config(3, 0);
	struct app *a = new_app(c);
	struct view_token tok, other;
	struct app_response r, r2;
	size_t len, i;
	unsigned char *der;
	char *path = NULL, *page = NULL, *cookie, *csrf, *form = NULL, *p1, *p2, *ref1, *ref2;

	ck_assert_int_eq(view_token_new(secret, sizeof(secret), &tok), 0);
	ck_assert_int_eq(view_token_new(secret, sizeof(secret), &other), 0);
	der = sealed(&tok, "issuer", "44444444-4444-4444-8444-444444444444", &len);
	ck_assert_int_ge(asprintf(&path, "/api/v1/messages/%s", tok.lookup), 0);
	ck_assert_int_eq(api(a, "PUT", path, der, len, 0, 20, 0, &r), 201);
	app_response_free(&r);

	/* Unknown and malformed tokens: the same 404 page. */
	ck_assert_int_ge(asprintf(&page, "/m/%s", other.text), 0);
	ck_assert_int_eq(web(a, "GET", page, NULL, NULL, &r), 404);
	ck_assert_int_eq(web(a, "GET", "/m/short", NULL, NULL, &r2), 404);
	ck_assert_str_eq(r.body, r2.body);
	ck_assert_ptr_nonnull(header(&r, "Content-Security-Policy"));
	app_response_free(&r);
	app_response_free(&r2);
	free(page);

	/* The address form: a CSRF cookie, a CSP without scripts. */
	ck_assert_int_ge(asprintf(&page, "/m/%s", tok.text), 0);
	ck_assert_int_eq(web(a, "GET", page, NULL, NULL, &r), 200);
	ck_assert_ptr_nonnull(strstr(header(&r, "Content-Security-Policy"), "default-src 'none'"));
	ck_assert_ptr_null(strstr(header(&r, "Content-Security-Policy"), "script-src"));
	ck_assert_ptr_nonnull(strstr(header(&r, "Set-Cookie"), "HttpOnly; SameSite=Strict"));
	ck_assert_ptr_null(strstr(header(&r, "Set-Cookie"), "Secure"));      /* http on loopback: a test */
	cookie = cookie_of(&r);
	csrf = csrf_of(r.body);
	app_response_free(&r);

	/* No CSRF token, or another browser's: refused, and no passcode made. */
	ck_assert_int_ge(asprintf(&form, "address=bob%%40partner.test"), 0);
	ck_assert_int_eq(web(a, "POST", "/m/x/code", cookie, form, &r), 404);
	app_response_free(&r);
	{
		char *p3 = NULL;
		ck_assert_int_ge(asprintf(&p3, "%s/code", page), 0);
		ck_assert_int_eq(web(a, "POST", p3, cookie, form, &r), 400);
		app_response_free(&r);
		free(form);
		ck_assert_int_ge(asprintf(&form, "csrf=%s&address=bob%%40partner.test", csrf), 0);
		ck_assert_int_eq(web(a, "POST", p3, "svc=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", form, &r), 400);
		app_response_free(&r);
		ck_assert_int_eq(count_rows(3, "SELECT count(*) FROM passcodes"), 0);

		/* A recipient and a stranger: the same page, apart from the address and the reference. */
		ck_assert_int_eq(web(a, "POST", p3, cookie, form, &r), 200);
		free(form);
		ck_assert_int_ge(asprintf(&form, "csrf=%s&address=eve%%40evil.example", csrf), 0);
		ck_assert_int_eq(web(a, "POST", p3, cookie, form, &r2), 200);
		ref1 = xstrndup(strstr(r.body, "id=\"ref\">") + 9, 9);
		ref2 = xstrndup(strstr(r2.body, "id=\"ref\">") + 9, 9);
		p1 = r.body;
		p2 = r2.body;
		ck_assert_uint_eq(strlen(p1) - strlen("bob@partner.test"), strlen(p2) - strlen("eve@evil.example"));
		/* Both get a passcode row (the stranger's hash is random and it is never mailed): the
		 * same store work either way. */
		ck_assert_int_eq(count_rows(3, "SELECT count(*) FROM passcodes"), 2);
		ck_assert_int_eq(count_rows(3, "SELECT count(*) FROM passcodes WHERE address = 'bob@partner.test'"), 1);
		ck_assert_str_ne(ref1, ref2);
		free(ref1);
		free(ref2);
		app_response_free(&r);
		app_response_free(&r2);
		free(p3);
	}
	/* Wrong passcodes: one answer for all; the 6th try is refused as locked. */
	{
		char *p4 = NULL;
		ck_assert_int_ge(asprintf(&p4, "%s/verify", page), 0);
		for (i = 0; i < 6; i++) {
			free(form);
			ck_assert_int_ge(asprintf(&form, "csrf=%s&address=bob%%40partner.test&code=1234+5678", csrf), 0);
			ck_assert_int_eq(web(a, "POST", p4, cookie, form, &r), 400);
			ck_assert_ptr_nonnull(strstr(r.body, "not valid"));
			ck_assert_ptr_null(header(&r, "Location"));
			app_response_free(&r);
		}
		/* The stranger's passcode matches nothing: the same answer. */
		free(form);
		ck_assert_int_ge(asprintf(&form, "csrf=%s&address=eve%%40evil.example&code=12345678", csrf), 0);
		ck_assert_int_eq(web(a, "POST", p4, cookie, form, &r), 400);
		ck_assert_ptr_nonnull(strstr(r.body, "not valid"));
		app_response_free(&r);
		free(p4);
	}
	ck_assert_int_eq(count_rows(3, "SELECT count(*) FROM audit WHERE event = 'passcode_fail' AND outcome = 'locked'"),
	    1);
	ck_assert_int_eq(count_rows(3, "SELECT count(*) FROM audit WHERE event = 'passcode_fail' AND outcome = 'wrong'"),
	    6);
	ck_assert_int_eq(count_rows(3, "SELECT count(*) FROM audit WHERE user_agent = 'test_app/1.0'"), 11);
	ck_assert_int_eq(count_rows(3, "SELECT count(*) FROM audit WHERE outcome = 'bad_form'"), 2);
	/* The body, an attachment, a reply: only with a session. */
	{
		static const char *const rest[] = { "body", "att/1", "print" };
		for (i = 0; i < 3; i++) {
			char *p5 = NULL;
			ck_assert_int_ge(asprintf(&p5, "%s/%s", page, rest[i]), 0);
			ck_assert_int_eq(web(a, "GET", p5, cookie, NULL, &r), 303);
			app_response_free(&r);
			free(p5);
		}
	}
	/* Revoked: 410, and the page says so. */
	{
		char *rv = NULL;
		ck_assert_int_ge(asprintf(&rv, "/api/v1/revoke/%s", "44444444-4444-4444-8444-444444444444"), 0);
		ck_assert_int_eq(api(a, "POST", rv, NULL, 0, 0, 21, 0, &r), 200);
		app_response_free(&r);
		free(rv);
		ck_assert_int_eq(web(a, "GET", page, cookie, NULL, &r), 410);
		ck_assert_ptr_nonnull(strstr(r.body, "revoked"));
		app_response_free(&r);
		ck_assert_int_eq(count_rows(3, "SELECT count(*) FROM messages WHERE object IS NOT NULL"), 0);
	}
	/* The audit chain holds. */
	ck_assert_int_eq(api(a, "GET", "/api/v1/audit-verify", NULL, 0, 0, 22, 0, &r), 200);
	ck_assert_ptr_nonnull(strstr(r.body, "\"intact\":true"));
	app_response_free(&r);
	/* Static files and unknown paths keep the headers. */
	ck_assert_int_eq(web(a, "GET", "/static/style.css", NULL, NULL, &r), 200);
	app_response_free(&r);
	ck_assert_int_eq(web(a, "DELETE", "/healthz", NULL, NULL, &r), 405);
	app_response_free(&r);
	ck_assert_int_eq(web(a, "GET", "/healthz", NULL, NULL, &r), 200);
	app_response_free(&r);
	free(csrf);
	free(cookie);
	free(form);
	free(page);
	free(path);
	free(der);
	app_free(a);
	config_unref(c);
}
END_TEST

/* Each rate limit at its value (allowed) and one past it (429, and the audit record, whose
 * log line is the same text, names the limit and its value). The other limits are high. */
static const struct rate_case {
	const char *name;
	const char *rates;        /* sealview: lines */
	const char *action;       /* code: request a passcode; verify: try one */
	int same_address;         /* every request for bob (else a new address each time) */
	int limit;
	int at_status;            /* the answer to a request within the limit */
	const char *detail;
} rate_cases[] = {
	{ "rate_per_address", "  rate_per_ip: 1000\n  rate_per_message: 1000\n  rate_per_address: 2\n", "code", 1, 2, 200,
	  "sealview.rate_per_address (2 in 15 minutes)" },
	{ "rate_per_message", "  rate_per_ip: 1000\n  rate_per_message: 3\n  rate_per_address: 1000\n", "code", 0, 3, 200,
	  "sealview.rate_per_message (3 in 15 minutes)" },
	{ "rate_per_ip", "  rate_per_ip: 2\n  rate_per_message: 1000\n  rate_per_address: 1000\n", "code", 0, 2, 200,
	  "sealview.rate_per_ip (2 in 15 minutes)" },
	/* Passcode tries count too (wrong ones: 400 within the limit, before the 5-try lock). */
	{ "rate_per_ip, passcode tries", "  rate_per_ip: 3\n  rate_per_message: 1000\n  rate_per_address: 1000\n", "verify",
	  1, 3, 400, "sealview.rate_per_ip (3 in 15 minutes)" },
};

START_TEST(test_rate_limits)
{
	const struct rate_case *rc = &rate_cases[_i];
	int n = 10 + _i, i;
	struct seal_config *c;
	struct app *a;
	struct view_token tok;
	struct app_response r;
	size_t len;
	unsigned char *der;
	char *path = NULL, *page = NULL, *post = NULL, *cookie, *csrf, *sql = NULL;

	viewer_rates = rc->rates;
	c = viewer_config(n, 0);
	viewer_rates = NULL;
	a = new_app(c);
	ck_assert_int_eq(view_token_new(secret, sizeof(secret), &tok), 0);
	der = sealed(&tok, "issuer", "55555555-5555-4555-8555-555555555555", &len);
	ck_assert_int_ge(asprintf(&path, "/api/v1/messages/%s", tok.lookup), 0);
	ck_assert_int_eq(api(a, "PUT", path, der, len, 0, 30, 0, &r), 201);
	app_response_free(&r);
	ck_assert_int_ge(asprintf(&page, "/m/%s", tok.text), 0);
	ck_assert_int_eq(web(a, "GET", page, NULL, NULL, &r), 200);
	cookie = cookie_of(&r);
	csrf = csrf_of(r.body);
	app_response_free(&r);
	ck_assert_int_ge(asprintf(&post, "%s/%s", page, rc->action), 0);
	for (i = 0; i <= rc->limit; i++) {
		char *form = NULL;
		int want = i < rc->limit ? rc->at_status : 429, got;
		if (rc->same_address)
			ck_assert_int_ge(asprintf(&form, "csrf=%s&address=bob%%40partner.test&code=1234+5678", csrf), 0);
		else
			ck_assert_int_ge(asprintf(&form, "csrf=%s&address=r%d%%40partner.test&code=1234+5678", csrf, i), 0);
		got = web(a, "POST", post, cookie, form, &r);
		ck_assert_msg(got == want, "%s: request %d of a limit of %d: got HTTP %d, want %d", rc->name, i + 1, rc->limit,
		    got, want);
		if (want == 429)
			ck_assert_msg(strstr(r.body, "Too many attempts") != NULL, "%s: the page does not say why", rc->name);
		app_response_free(&r);
		free(form);
	}
	/* One refusal, recorded (and logged) with the limit's name and value. */
	ck_assert_int_ge(asprintf(&sql, "SELECT count(*) FROM audit WHERE outcome = 'rate_limited' AND detail = '%s'",
	    rc->detail), 0);
	ck_assert_msg(count_rows(n, sql) == 1, "%s: want one audit record saying %s", rc->name, rc->detail);
	ck_assert_int_eq(count_rows(n, "SELECT count(*) FROM audit WHERE outcome = 'rate_limited'"), 1);
	free(sql);
	free(csrf);
	free(cookie);
	free(post);
	free(page);
	free(path);
	free(der);
	app_free(a);
	config_unref(c);
}
END_TEST

/* One Message-ID registered twice (a split delivery, a retry): revoking by
 * Message-ID revokes both. */
START_TEST(test_revoke_all)
{
	struct seal_config *c = viewer_config(5, 0);
	struct app *a = new_app(c);
	struct view_token t1, t2;
	struct app_response r;
	unsigned char *d1, *d2;
	size_t l1, l2;
	char *p1 = NULL, *p2 = NULL;

	ck_assert_int_eq(view_token_new(secret, sizeof(secret), &t1), 0);
	ck_assert_int_eq(view_token_new(secret, sizeof(secret), &t2), 0);
	message_id_override = "<twice@example.com>";
	d1 = sealed(&t1, "issuer", "55555555-5555-4555-8555-555555555555", &l1);
	d2 = sealed(&t2, "issuer", "66666666-6666-4666-8666-666666666666", &l2);
	message_id_override = NULL;
	ck_assert_int_ge(asprintf(&p1, "/api/v1/messages/%s", t1.lookup), 0);
	ck_assert_int_ge(asprintf(&p2, "/api/v1/messages/%s", t2.lookup), 0);
	ck_assert_int_eq(api(a, "PUT", p1, d1, l1, 0, 30, 0, &r), 201);
	app_response_free(&r);
	ck_assert_int_eq(api(a, "PUT", p2, d2, l2, 0, 31, 0, &r), 201);
	app_response_free(&r);
	ck_assert_int_eq(api(a, "POST", "/api/v1/revoke/<twice@example.com>", NULL, 0, 0, 32, 0, &r), 200);
	ck_assert_ptr_nonnull(strstr(r.body, "\"revoked_now\":2"));
	app_response_free(&r);
	ck_assert_int_eq(count_rows(5, "SELECT count(*) FROM messages WHERE revoked = 0 OR object IS NOT NULL"), 0);
	ck_assert_int_eq(api(a, "POST", "/api/v1/revoke/<twice@example.com>", NULL, 0, 0, 33, 0, &r), 200);
	ck_assert_ptr_nonnull(strstr(r.body, "\"revoked\":\"already\""));
	app_response_free(&r);
	ck_assert_int_eq(api(a, "POST", "/api/v1/revoke/nothing", NULL, 0, 0, 34, 0, &r), 404);
	app_response_free(&r);
	ck_assert_int_eq(api(a, "POST", "/api/v1/revoke/", NULL, 0, 0, 35, 0, &r), 400);
	app_response_free(&r);
	free(p1);
	free(p2);
	free(d1);
	free(d2);
	app_free(a);
	config_unref(c);
}
END_TEST

START_TEST(test_new_refuses)
{
	struct seal_config *c = viewer_config(4, 1);
	struct app *a = NULL;
	char *err = NULL;

	/* No passcode sender: refused with the key's name. */
	free(c->sv_passcode_from);
	c->sv_passcode_from = NULL;
	ck_assert_int_eq(app_new(c, &a, &err), -1);
	ck_assert_ptr_nonnull(strstr(err, "sealview.passcode_from"));
	free(err);
	config_unref(c);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("app");
	TCase *tc = tcase_create("app");
	int rc;

	setup_dir();
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_api_signature);
	tcase_add_test(tc, test_register_checks);
	tcase_add_test(tc, test_pages);
	tcase_add_loop_test(tc, test_rate_limits, 0, (int)(sizeof(rate_cases) / sizeof(rate_cases[0])));
	tcase_add_test(tc, test_revoke_all);
	tcase_add_test(tc, test_new_refuses);
	suite_add_tcase(s, tc);
	rc = tu_run_suite(s);
	{
		char *cmd = NULL;
		if (asprintf(&cmd, "rm -rf %s", dir) >= 0 && system(cmd) != 0)
			rc = EXIT_FAILURE;
		free(cmd);
	}
	free(dir);
	return rc;
}
