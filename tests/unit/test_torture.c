/* test_torture.c - allocation failure, each allocation in turn: the session pipeline (as
 * sealctl process and the milter run it) is run once per allocation its own code makes, with
 * that one allocation failing. Every run must end in a tempfail, or in exactly what a run with
 * no failure delivers: never a crash (the sanitizers watch), never a reject, never a message
 * that a rule said to seal delivered without its seal, never a tag quietly dropped.
 *
 * The core library's allocations are caught at link time (-Wl,--wrap=malloc and the others, on
 * this program only): GLib, GMime and OpenSSL allocate on their own (GLib aborts when it cannot,
 * by design), so their allocations are not failed here. */
#include "build-config.h"

#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <execinfo.h>
#include <stdarg.h>
#include <sys/stat.h>

#include "engine/logline.h"
#include "engine/opener.h"
#include "seal/keys.h"
#include "seal/sealpolicy.h"
#include "testutil.h"

/* ---- the allocation wrappers ----------------------------------------------------- */

/* NOLINTBEGIN(bugprone-reserved-identifier): the names ld --wrap gives */
void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
int __real_vasprintf(char **out, const char *fmt, va_list ap);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t m);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);
int __wrap_asprintf(char **out, const char *fmt, ...);
int __wrap_vasprintf(char **out, const char *fmt, va_list ap);
/* NOLINTEND(bugprone-reserved-identifier) */

static long fail_at;          /* fail the allocation with this number (1-based); 0: none */
static char *summary;         /* the last accepted run's log line (its decision and edits) */
static long counted;          /* allocations counted since the last reset */
static int counting;
static void *failed_at[24];   /* where the failed allocation was made, to report it */
static int nfailed_at;

static int
fail_now(void)
{
	if (!counting || ++counted != fail_at)
		return 0;
	nfailed_at = backtrace(failed_at, 24);
	return 1;
}

/* Say where allocation i was made (resolve with addr2line -e test_torture). */
static void
report(long i, const char *what)
{
	fprintf(stderr, "torture: allocation %ld failing: %s; it was made at:\n", i, what);
	backtrace_symbols_fd(failed_at, nfailed_at, 2);
}

void *
__wrap_malloc(size_t n)
{
	return fail_now() ? NULL : __real_malloc(n);
}

void *
__wrap_calloc(size_t n, size_t m)
{
	return fail_now() ? NULL : __real_calloc(n, m);
}

void *
__wrap_realloc(void *p, size_t n)
{
	return fail_now() ? NULL : __real_realloc(p, n);
}

char *
__wrap_strdup(const char *s)
{
	return fail_now() ? NULL : __real_strdup(s);
}

char *
__wrap_strndup(const char *s, size_t n)
{
	return fail_now() ? NULL : __real_strndup(s, n);
}

int
__wrap_vasprintf(char **out, const char *fmt, va_list ap)
{
	if (fail_now()) {
		*out = NULL;     /* glibc leaves it undefined; the callers' checks must not rely on it */
		return -1;
	}
	return __real_vasprintf(out, fmt, ap);
}

int
__wrap_asprintf(char **out, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = __wrap_vasprintf(out, fmt, ap);
	va_end(ap);
	return rc;
}

/* ---- keys, configurations, messages -------------------------------------------------- */

static char *dir;

/* A signing certificate and key for alice@example.com (digitalSignature, emailProtection). */
static int
make_signer(void)
{
	EVP_PKEY *k = EVP_RSA_gen(2048);
	X509 *x = X509_new();
	X509V3_CTX v3;
	X509_EXTENSION *e;
	char *p = NULL;
	FILE *f;
	int ok;

	if (k == NULL || x == NULL)
		return -1;
	ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, k);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC, (const unsigned char *)"Alice", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	e = X509V3_EXT_conf_nid(NULL, &v3, NID_key_usage, "critical,digitalSignature");
	X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	e = X509V3_EXT_conf_nid(NULL, &v3, NID_ext_key_usage, "emailProtection");
	X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	e = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, "email:alice@example.com");
	X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	ok = X509_sign(x, k, EVP_sha256()) > 0 && asprintf(&p, "%s/sign.pem", dir) > 0 && (f = fopen(p, "w")) != NULL &&
	    PEM_write_X509(f, x) == 1 && fclose(f) == 0;
	free(p);
	p = NULL;
	ok = ok && asprintf(&p, "%s/sign.key", dir) > 0 && (f = fopen(p, "w")) != NULL &&
	    PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL) == 1 && fclose(f) == 0 && chmod(p, 0600) == 0;
	free(p);
	X509_free(x);
	EVP_PKEY_free(k);
	return ok ? 0 : -1;
}

#define CANARY "TORTURE-CANARY-5d2f"

/* An outbound message with a text part and an attachment, the canary in both. */
static const char msg_seal[] =
    "From: Alice <alice@example.com>\r\nTo: bob@partner.test\r\nSubject: [secure] Q3 figures\r\n"
    "Message-ID: <t1@example.com>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    "The figures: " CANARY "\r\n--b1\r\nContent-Type: application/octet-stream; name=\"f.bin\"\r\n"
    "Content-Disposition: attachment; filename=\"f.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    "VE9SVFVSRS1DQU5BUlktNWQyZg==\r\n--b1--\r\n";

/* Run msg through a new session with allocation fail_at failing. Returns the verdict
 * (VERDICT_*), or VERDICT_TEMPFAIL when the pipeline could not go on, as the milter does;
 * *out (accepted only) is the delivered message, written with no allocation failing. */
static int
run_once(struct seal_config *cfg, const char *msg, const char *rcpt, char **out)
{
	struct seal_session *s;
	const struct seal_result *r;
	FILE *in = NULL;
	const char *eol;
	char *err = NULL;
	int verdict = VERDICT_TEMPFAIL, rc;

	*out = NULL;
	free(summary);
	summary = NULL;
	counted = 0;
	counting = 1;
	s = seal_session_new(cfg);
	if (s == NULL)
		goto done;
	seal_session_client(s, "127.0.0.1", "localhost");
	seal_session_auth(s, NULL);
	seal_session_queue_id(s, "TORTQ");
	seal_session_mail(s, "<alice@example.com>");
	seal_session_rcpt(s, rcpt);
	counting = 0;
	in = fmemopen((void *)msg, strlen(msg), "rb");
	counting = 1;
	rc = in ? eml_feed(s, in, &eol, &err, NULL, NULL) : -1;
	counting = 0;
	free(err);
	if (in)
		fclose(in);
	counting = 1;
	if (rc == 0 && (r = seal_session_eom(s)) != NULL)
		verdict = r->verdict;
	counting = 0;
	if (verdict == VERDICT_ACCEPT) {
		/* What the milter would do: the decision and its edits (the log
		 * line lists them); and, when it can be written, the message. */
		size_t len = 0;
		FILE *o = open_memstream(out, &len);
		const struct seal_result *res = seal_session_eom(s);
		ck_assert_ptr_nonnull(o);
		summary = res && res->summary ? strdup(res->summary) : NULL;
		if (seal_session_write(s, o, "\n") != 0) {
			/* Only when the body could not be kept (sealctl prints it; the
			 * milter leaves it with the MTA): the edits must still be right. */
			fclose(o);
			free(*out);
			*out = NULL;
		} else {
			fclose(o);
		}
	}
done:
	counting = 0;
	if (s)
		seal_session_free(s);
	return verdict;
}

/* Fail each allocation in turn; check every outcome with ok(). Returns the number of runs. */
static long
torture(struct seal_config *cfg, const char *msg, const char *rcpt, const char *(*ok)(const char *out))
{
	long i, tempfails = 0, accepts = 0;
	char *out;
	int v;

	for (i = 1;; i++) {
		fail_at = i;
		const char *why;
		v = run_once(cfg, msg, rcpt, &out);
		if (v == VERDICT_REJECT)
			report(i, "the message was rejected");
		ck_assert_msg(v != VERDICT_REJECT, "allocation %ld failing: the message was rejected", i);
		if (v == VERDICT_ACCEPT) {
			if ((why = ok(out)) != NULL)
				report(i, why);
			ck_assert_msg(why == NULL, "allocation %ld failing: %s:\n%s", i, why ? why : "", out);
			accepts++;
		} else {
			tempfails++;
		}
		free(out);
		if (counted < i)       /* this run never reached allocation i: every one has failed once */
			break;
	}
	fail_at = 0;
	fprintf(stderr, "torture: %ld allocations failed in turn: %ld tempfail, %ld delivered as without failure\n",
	    i - 1, tempfails, accepts);
	return i - 1;
}

/* ---- the paths ---------------------------------------------------------------------- */

static struct seal_config *seal_cfg;

/* Does the delivered message open, with the tenant key, to the original (the canary in it)? */
static int
opens(const char *out)
{
	struct seal_session *s = seal_session_new(seal_cfg);
	FILE *in = fmemopen((void *)out, strlen(out), "rb");
	struct seal_policy p;
	const char *eol;
	char *err = NULL, *reason = NULL, *data;
	BIO *b = BIO_new(BIO_s_mem());
	long n;
	int ok;

	ck_assert_ptr_nonnull(s);
	ck_assert_ptr_nonnull(in);
	seal_session_client(s, "192.0.2.1", "mx.partner.test");
	seal_session_mail(s, "<alice@example.com>");
	seal_session_rcpt(s, "<bob@partner.test>");
	ck_assert_int_eq(eml_feed(s, in, &eol, &err, NULL, NULL), 0);
	fclose(in);
	(void)seal_session_eom(s);
	memset(&p, 0, sizeof(p));
	ok = seal_open(s, time(NULL), 0, b, &p, &reason) == OPEN_OK;
	n = BIO_get_mem_data(b, &data);
	ok = ok && n > 0 && memmem(data, (size_t)n, CANARY, strlen(CANARY)) != NULL;
	seal_policy_free(&p);
	free(reason);
	BIO_free(b);
	seal_session_free(s);
	return ok;
}

static const char *
sealed_ok(const char *out)
{
	if (out == NULL)
		return summary && strstr(summary, "replace:body") ? NULL : "accepted without its seal";
	if (strstr(out, CANARY) != NULL)
		return "the plaintext was delivered";
	if (!opens(out))
		return "the sealed object does not open to the original (corrupted)";
	if (strstr(out, "application/vnd.sealmilter.sealed") == NULL)
		return "not sealed";
	if (strstr(out, "multipart/signed") == NULL)
		return "not signed";
	if (strstr(out, "X-Sealmilter-Sealed:") == NULL)
		return "no seal header";
	return NULL;
}

START_TEST(test_seal_and_sign)
{
	char *yaml = NULL, *out;
	struct seal_config *cfg;
	long n;

	ck_assert_int_ge(asprintf(&yaml, TU_ORG "keys:\n  tenant: [ { id: t1, cert: %s/t1.pem, key: %s/t1.key } ]\n"
	    "  issuer: { cert: %s/issuer.pem, key: %s/issuer.key }\n"
	    "templates:\n  dnf: { rights: [view, reply], expires: 30d }\n"
	    "signing:\n  identities: [ { match: \"alice@example.com\", cert: %s/sign.pem, key: %s/sign.key } ]\n"
	    "rules:\n  - name: secure\n    if: { direction: outbound, subject: { contains: [\"[secure]\"], strip: true } }\n"
	    "    then: { seal: dnf, sign: true }\n", dir, dir, dir, dir, dir, dir), 0);
	cfg = tu_config(yaml);
	seal_cfg = cfg;
	/* The reference: no failure. */
	fail_at = 0;
	ck_assert_int_eq(run_once(cfg, msg_seal, "<bob@partner.test>", &out), VERDICT_ACCEPT);
	ck_assert_ptr_null(sealed_ok(out));
	free(out);
	n = torture(cfg, msg_seal, "<bob@partner.test>", sealed_ok);
	ck_assert_int_gt(n, 100);
	config_unref(cfg);
	free(yaml);
}
END_TEST

static char *tag_reference, *tag_summary;

/* The decision in a log line: the rules that fired, the edits and the
 * verdict, without the explanations (their text may be lost to a failed
 * allocation; the decision may not) or the time taken. */
static char *
decision(const char *line)
{
	struct logline l;
	char *text = NULL, *d = NULL;
	enum logline_kind k;

	ck_assert_int_ge(asprintf(&text, "sealmilter: info: %s", line ? line : ""), 0);
	k = logline_parse(text, strlen(text), time(NULL), &l);
	if (k == LOGLINE_MESSAGE) {
		ck_assert_int_ge(asprintf(&d, "rules=%s actions=%s verdict=%s cause=%s",
		    logline_get(&l, "rules") ? logline_get(&l, "rules") : "?",
		    logline_get(&l, "actions") ? logline_get(&l, "actions") : "?",
		    logline_get(&l, "verdict") ? logline_get(&l, "verdict") : "?",
		    logline_get(&l, "cause") ? logline_get(&l, "cause") : "-"), 0);
		logline_free(&l);
	} else {
		ck_assert_msg(line == NULL, "the log line does not parse: %s", line);
		d = strdup("");
	}
	free(text);
	ck_assert_ptr_nonnull(d);
	return d;
}

static const char *
tagged_ok(const char *out)
{
	char *a = decision(summary), *b = decision(tag_summary);
	int same = strcmp(a, b) == 0;

	free(a);
	free(b);
	/* The log line itself may be lost to the failure: the message then shows the decision. */
	if (summary == NULL && out == NULL)
		return "neither the log line nor the message: nothing shows what was decided";
	if (summary != NULL && !same)
		return "decided differently";
	return out == NULL || strcmp(out, tag_reference) == 0 ? NULL : "delivered differently";
}

START_TEST(test_tag_and_scan)
{
	char *yaml = NULL;
	struct seal_config *cfg;
	long n;

	ck_assert_int_ge(asprintf(&yaml, TU_ORG "patterns:\n  card: { regex: '\\b(?:\\d[ -]?){13,19}\\b', check: luhn }\n"
	    "rules:\n  - name: canary\n    if: { body: { contains: [\"" CANARY "\"] } }\n"
	    "    then: { tag: { header: X-Torture, value: canary } }\n"
	    "  - name: attach\n    if: { attachment: { filename: [\"*.bin\"] } }\n"
	    "    then: { tag: { header: X-Torture-Attachment, value: bin } }\n"), 0);
	cfg = tu_config(yaml);
	fail_at = 0;
	ck_assert_int_eq(run_once(cfg, msg_seal, "<carol@example.com>", &tag_reference), VERDICT_ACCEPT);
	ck_assert_ptr_nonnull(strstr(tag_reference, "X-Torture: canary"));
	ck_assert_ptr_nonnull(strstr(tag_reference, "X-Torture-Attachment: bin"));
	ck_assert_ptr_nonnull(summary);
	tag_summary = strdup(summary);
	n = torture(cfg, msg_seal, "<carol@example.com>", tagged_ok);
	ck_assert_int_gt(n, 50);
	free(tag_reference);
	free(tag_summary);
	config_unref(cfg);
	free(yaml);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("torture");
	TCase *tc = tcase_create("each allocation");
	char *err = NULL;
	int rc;

	dir = strdup("/tmp/sealtest-torture-XXXXXX");
	if (dir == NULL || mkdtemp(dir) == NULL || seal_keys_generate("tenant", 2048, dir, "t1", &err) != 0 ||
	    seal_keys_generate("issuer", 0, dir, "issuer", &err) != 0 || make_signer() != 0) {
		fprintf(stderr, "test_torture: cannot make the keys: %s\n", err ? err : "?");
		return EXIT_FAILURE;
	}
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_seal_and_sign);
	tcase_add_test(tc, test_tag_and_scan);
	suite_add_tcase(s, tc);
	rc = tu_run_suite(s);
	{
		char *cmd = NULL;
		if (asprintf(&cmd, "rm -rf %s", dir) >= 0 && system(cmd) != 0)
			fprintf(stderr, "test_torture: cannot remove %s\n", dir);
		free(cmd);
	}
	free(dir);
	return rc;
}
