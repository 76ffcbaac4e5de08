/*
 * fuzz_app.c - libFuzzer target for sealview's request handling (viewer/app.c)
 * as an Internet client reaches it: routing, cookies, forms (address,
 * passcode, CSRF), and the signed API (date, nonce, signature, body hash,
 * registration), through app_api_preauth() and app_handle() as web/sealview.c
 * calls them. At start one message is sealed and registered with a valid
 * signed PUT, so /m/TOKEN routes find it: "@T@" in the input's path, cookie or
 * body becomes its token, "@L@" its lookup id.
 *
 * Input: byte 0 picks the method (GET, POST, PUT, HEAD); then, separated by
 * '\n': path, cookie, content type, X-Seal-Date, X-Seal-Nonce,
 * X-Seal-Signature, X-Seal-Content-SHA256, user agent; the rest is the body.
 * A missing field is absent (NULL).
 *
 * Input faced: anything. The target must never crash, leak or hang, and it
 * aborts when a promise is broken: a status outside 200..599, an HTML
 * response without a Content-Security-Policy, or any response carrying the
 * registered message's text (no one here ever signs in: the passcode is
 * mailed to a closed port, and a session id is 256 random bits).
 */
#include "build-config.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "mime/hdrdecode.h"
#include "rules/cfgerr.h"
#include "rules/config.h"
#include "seal/cms.h"
#include "seal/keys.h"
#include "seal/viewapi.h"
#include "seal/viewtoken.h"
#include "viewer/app.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PLAINTEXT "FUZZ-PLAINTEXT-7c1e9a"

static char dir[] = "/tmp/fuzz-app-XXXXXX";
static struct seal_config *cfg;
static struct app *app;
static struct view_token tok;

static void
remove_dir(void)
{
	char *cmd = NULL;

	if (app)
		app_free(app);
	if (cfg)
		config_unref(cfg);
	if (asprintf(&cmd, "rm -rf %s", dir) >= 0 && system(cmd) != 0)
		fprintf(stderr, "fuzz_app: cannot remove %s\n", dir);
	free(cmd);
}

static struct seal_config *
load(const char *yaml, int flags)
{
	char *path = NULL;
	struct cfg_errors errs;
	struct seal_config *c;
	FILE *f;
	size_t i;

	if (asprintf(&path, "%s/c%d.yaml", dir, flags) < 0 || (f = fopen(path, "w")) == NULL)
		abort();
	fputs(yaml, f);
	fclose(f);
	memset(&errs, 0, sizeof(errs));
	c = config_load(path, flags, &errs);
	for (i = 0; i < errs.count; i++)
		fprintf(stderr, "fuzz_app: %s\n", errs.msgs[i]);
	if (c == NULL)
		abort();
	cfg_errors_free(&errs);
	free(path);
	return c;
}

/* Seal a message for bob@partner.test and register it as sealmilter does. */
static void
register_message(const unsigned char *secret, size_t slen)
{
	static const char policy_fmt[] = "{\"v\":1,\"seal_id\":\"55555555-5555-4555-8555-555555555555\","
	    "\"template\":\"dnf\",\"rights\":[\"view\",\"reply\"],\"issued_at\":\"2026-11-22T10:00:00Z\",\"expires\":null,"
	    "\"recipients\":[\"bob@partner.test\"],\"sender\":\"alice@example.com\",\"message_id\":\"<f@example.com>\"}";
	struct seal_config *sc;
	char *yaml = NULL, *err = NULL, *path = NULL, *der, date[32], nonce[33], sig[65];
	unsigned char key[32], bh[32];
	BIO *in, *out;
	long n;
	struct app_request req;
	struct app_response r;

	if (asprintf(&yaml, "organization: { domains: [example.com] }\nmilter: { spool_dir: /tmp }\nkeys:\n"
	    "  tenant: [ { id: t1, cert: %s/t1.pem } ]\n  issuer: { cert: %s/issuer.pem, key: %s/issuer.key }\n",
	    dir, dir, dir) < 0)
		abort();
	sc = load(yaml, 0);
	in = BIO_new_mem_buf("From: alice@example.com\r\nTo: bob@partner.test\r\nSubject: Hi\r\n\r\n" PLAINTEXT "\r\n", -1);
	out = BIO_new(BIO_s_mem());
	if (view_token_new(secret, slen, &tok) != 0 ||
	    seal_cms_make(&sc->keys, policy_fmt, strlen(policy_fmt), tok.kek, in, out, &err) != 0)
		abort();
	n = BIO_get_mem_data(out, &der);
	snprintf(date, sizeof(date), "%lld", (long long)time(NULL));
	snprintf(nonce, sizeof(nonce), "%032x", 1);
	if (asprintf(&path, "/api/v1/messages/%s", tok.lookup) < 0 || viewapi_key(secret, slen, key) != 0 ||
	    EVP_Digest(der, (size_t)n, bh, NULL, EVP_sha256(), NULL) != 1 ||
	    viewapi_sign(key, "PUT", path, date, nonce, bh, sig) != 0)
		abort();
	memset(&req, 0, sizeof(req));
	req.method = "PUT";
	req.path = path;
	req.client_ip = "127.0.0.1";
	req.x_date = date;
	req.x_nonce = nonce;
	req.x_signature = sig;
	req.body = der;
	req.body_len = (size_t)n;
	memset(&r, 0, sizeof(r));
	app_handle(app, &req, &r);
	if (r.status != 201) {
		fprintf(stderr, "fuzz_app: registration answered %d\n", r.status);
		abort();
	}
	app_response_free(&r);
	BIO_free(in);
	BIO_free(out);
	config_unref(sc);
	free(path);
	free(yaml);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	unsigned char secret[32];
	char *err = NULL, *yaml = NULL, *p = NULL;
	FILE *f;
	size_t i;

	(void)argc;
	(void)argv;
	mime_init();
	if (mkdtemp(dir) == NULL || seal_keys_generate("tenant", 2048, dir, "t1", &err) != 0 ||
	    seal_keys_generate("issuer", 0, dir, "issuer", &err) != 0 || asprintf(&p, "%s/secret", dir) < 0)
		abort();
	atexit(remove_dir);
	for (i = 0; i < sizeof(secret); i++)
		secret[i] = (unsigned char)(i * 13 + 5);
	if ((f = fopen(p, "wb")) == NULL || fwrite(secret, 1, sizeof(secret), f) != sizeof(secret) || fclose(f) != 0 ||
	    chmod(p, 0600) != 0)
		abort();
	/* Rate limits out of the way, so every request reaches the code behind them. */
	if (asprintf(&yaml, "organization: { domains: [example.com] }\nmilter: { spool_dir: /tmp }\nkeys:\n"
	    "  tenant: [ { id: t1, cert: %s/t1.pem } ]\n  issuer: { cert: %s/issuer.pem }\n"
	    "templates:\n  dnf: { rights: [view, reply], expires: 30d }\n"
	    "viewer: { public_url: \"http://127.0.0.1:8025\", api_url: \"http://127.0.0.1:8025\", secret_file: %s }\n"
	    "sealview:\n  store: sqlite:%s/db.sqlite\n  smtp: smtp://127.0.0.1:1\n  passcode_from: no-reply@example.com\n"
	    "  rate_per_ip: 100000\n  rate_per_address: 1000\n  rate_per_message: 100000\n  max_object: 1M\n",
	    dir, dir, p, dir) < 0)
		abort();
	cfg = load(yaml, CONFIG_VIEWER);
	if (app_new(cfg, &app, &err) != 0) {
		fprintf(stderr, "fuzz_app: %s\n", err ? err : "?");
		abort();
	}
	register_message(secret, sizeof(secret));
	seal_log_set_level(SEAL_LOG_ERR);      /* a line per request would slow the fuzzer down */
	free(yaml);
	free(p);
	return 0;
}

/* s with "@T@" made the token and "@L@" the lookup id (malloc'd,
 * NUL-terminated; *len, when given, counts NULs inside). */
static char *
expand(const char *s, size_t n, size_t *len)
{
	size_t cap = n * 32 + 1, o = 0, i;
	char *out = malloc(cap);

	if (out == NULL)
		abort();
	for (i = 0; i < n; i++) {
		if (i + 3 <= n && s[i] == '@' && s[i + 2] == '@' && (s[i + 1] == 'T' || s[i + 1] == 'L')) {
			const char *v = s[i + 1] == 'T' ? tok.text : tok.lookup;
			memcpy(out + o, v, strlen(v));
			o += strlen(v);
			i += 2;
		} else {
			out[o++] = s[i];
		}
	}
	out[o] = '\0';
	if (len)
		*len = o;
	return out;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const methods[] = { "GET", "POST", "PUT", "HEAD" };
	char *field[8] = { NULL }, *body;
	const char *p = (const char *)data + 1, *end = (const char *)data + size, *nl;
	struct app_request req;
	struct app_response r;
	size_t i, body_len;
	int status = 0, csp = 0;
	const char *why = NULL;

	if (size == 0)
		return 0;
	for (i = 0; i < 8 && p < end && (nl = memchr(p, '\n', (size_t)(end - p))) != NULL; i++) {
		field[i] = expand(p, (size_t)(nl - p), NULL);
		p = nl + 1;
	}
	body = expand(p, (size_t)(end - p), &body_len);
	memset(&req, 0, sizeof(req));
	req.method = methods[data[0] % 4];
	req.path = field[0] ? field[0] : "/";
	req.client_ip = "203.0.113.9";
	req.cookie = field[1];
	req.content_type = field[2];
	req.x_date = field[3];
	req.x_nonce = field[4];
	req.x_signature = field[5];
	req.x_content_sha256 = field[6];
	req.user_agent = field[7];
	req.body = body;
	req.body_len = body_len;
	(void)app_max_body(app, req.method, req.path, NULL);
	(void)app_api_plausible(req.x_date, req.x_nonce, req.x_signature);
	/* The front end asks before it reads an API body (with the signature
	 * fields only, as web/sealview.c does); a refusal ends the request there. */
	if (strncmp(req.path, "/api/", 5) == 0 && !app_api_preauth(app, &req, &status, &why)) {
		if (status < 400 || status > 599 || why == NULL)
			abort();
	} else {
		req.api_preauthorized = strncmp(req.path, "/api/", 5) == 0;
		memset(&r, 0, sizeof(r));
		app_handle(app, &req, &r);
		if (r.status < 200 || r.status > 599)
			abort();
		for (i = 0; i < r.nheaders; i++)
			if (strcasecmp(r.headers[i].name, "Content-Security-Policy") == 0)
				csp = 1;
		if (r.content_type && strncmp(r.content_type, "text/html", 9) == 0 && !csp)
			abort();
		if (r.body && r.body_len >= strlen(PLAINTEXT) && memmem(r.body, r.body_len, PLAINTEXT, strlen(PLAINTEXT)))
			abort();     /* the message read without signing in */
		app_response_free(&r);
	}
	for (i = 0; i < 8; i++)
		free(field[i]);
	free(body);
	return 0;
}
