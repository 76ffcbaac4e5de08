/* test_split.c - split messages (engine/session.c, seal_split): who gets a sealed copy, who
 * keeps the original, that no copy or policy names a Bcc to anyone else, and that a copy
 * that cannot be handed over defers the whole message with nothing changed. The copies are
 * caught by a submitter of the test's own (the daemon's would send them by SMTP). */
#include "build-config.h"

#include <openssl/bio.h>
#include <time.h>

#include "engine/opener.h"
#include "seal/keys.h"
#include "seal/sealpolicy.h"
#include "testutil.h"

static char *dir;

struct caught {
	char rcpts[512];          /* "a,b" */
	char *msg;
	size_t len;
};
static struct caught caught[8];
static size_t ncaught;
static int fail_at;               /* fail the Nth hand-over (1-based); 0: never */

static int
catch_copy(void *arg, const char *sender, char *const *rcpts, size_t n, int fd, size_t len, char **qid, char **err)
{
	struct caught *c;
	size_t i;

	(void)arg;
	(void)sender;
	*qid = NULL;
	if (fail_at && (int)ncaught + 1 == fail_at) {
		*err = strdup("421 4.3.2 test: service not available");
		return -1;
	}
	ck_assert_uint_lt(ncaught, 8);
	c = &caught[ncaught++];
	c->rcpts[0] = '\0';
	for (i = 0; i < n; i++)
		snprintf(c->rcpts + strlen(c->rcpts), sizeof(c->rcpts) - strlen(c->rcpts), "%s%s", i ? "," : "", rcpts[i]);
	c->msg = malloc(len + 1);
	ck_assert_ptr_nonnull(c->msg);
	ck_assert_int_eq(pread(fd, c->msg, len, 0), (ssize_t)len);
	c->msg[len] = '\0';
	c->len = len;
	*qid = strdup("QCOPY");
	return 0;
}

static void
reset(void)
{
	size_t i;

	for (i = 0; i < ncaught; i++)
		free(caught[i].msg);
	ncaught = 0;
	fail_at = 0;
}

static struct seal_config *
config(const char *for_who, int submit)
{
	char *yaml = NULL;
	struct seal_config *c;

	ck_assert_int_ge(asprintf(&yaml, "organization: { domains: [example.com] }\n"
	    "milter: { spool_dir: /tmp%s }\n"
	    "keys:\n  tenant: [ { id: t1, cert: %s/t1.pem, key: %s/t1.key } ]\n"
	    "  issuer: { cert: %s/issuer.pem, key: %s/issuer.key }\n"
	    "templates:\n  dnf: { rights: [view], expires: 30d }\n"
	    "rules:\n  - name: seal\n    if: { subject: { contains: [\"[secure]\"] } }\n"
	    "    then: { seal: dnf%s%s }\n", submit ? ", submit_url: \"smtp://127.0.0.1:1\"" : "", dir, dir, dir, dir,
	    for_who ? ", for: " : "", for_who ? for_who : ""), 0);
	c = tu_config(yaml);
	free(yaml);
	return c;
}

/* Run a message with the test's submitter. */
static struct seal_session *
run(struct seal_config *cfg, const char *eml, const char *const *rcpts)
{
	struct seal_session *s = seal_session_new(cfg);
	FILE *in = fmemopen((void *)eml, strlen(eml), "rb");
	const char *eol;
	char *err = NULL;
	size_t i;

	ck_assert_ptr_nonnull(s);
	seal_session_client(s, "127.0.0.1", "localhost");
	seal_session_queue_id(s, "TESTQ");
	seal_session_set_submitter(s, catch_copy, NULL);
	seal_session_mail(s, "<alice@example.com>");
	for (i = 0; rcpts[i]; i++)
		seal_session_rcpt(s, rcpts[i]);
	ck_assert_int_eq(eml_feed(s, in, &eol, &err, NULL, NULL), 0);
	fclose(in);
	(void)seal_session_eom(s);
	return s;
}

/* The recipients named in the sealed policy of a message (a caught copy,
 * or the original's output), "a,b"; "" when it is not sealed. */
static char *
policy_rcpts(struct seal_config *cfg, const char *msg)
{
	static const char *const to[] = { "<x@partner.test>", NULL };
	struct seal_session *s = run(cfg, msg, to);
	struct seal_policy p;
	char *reason = NULL, *out = calloc(1, 512);
	BIO *b = BIO_new(BIO_s_mem());
	size_t i;

	memset(&p, 0, sizeof(p));
	if (seal_open(s, time(NULL), 0, b, &p, &reason) == OPEN_OK)
		for (i = 0; i < p.recipients.n; i++)
			snprintf(out + strlen(out), 512 - strlen(out), "%s%s", i ? "," : "", p.recipients.v[i]);
	seal_policy_free(&p);
	free(reason);
	BIO_free(b);
	seal_session_free(s);
	reset();    /* feeding it may not have made copies, but keep the counter honest */
	return out;
}

static size_t
count_kind(const struct seal_result *r, enum edit_kind k, const char *name)
{
	size_t i, n = 0;

	for (i = 0; i < r->nedits; i++)
		n += r->edits[i].kind == k && (name == NULL || strcmp(k == EDIT_DELETE_RCPT ? r->edits[i].value
		    : r->edits[i].name, name) == 0);
	return n;
}

static const char MIXED[] = "From: alice@example.com\nTo: bob@partner.test, carol@example.com\nCc: dave@example.com\n"
    "Subject: [secure] Q4\nMessage-ID: <s1@example.com>\n\nRevenue 4.2M\n";
static const char BCC[] = "From: alice@example.com\nTo: erin@partner.test, carol@example.com\n"
    "Subject: [secure] Q4\nMessage-ID: <s2@example.com>\n\nRevenue 4.2M\n";

START_TEST(test_external_and_internal)
{
	static const char *const to[] = { "<bob@partner.test>", "<carol@example.com>", "<dave@example.com>", NULL };
	struct seal_config *c = config("external", 1);
	struct seal_session *s = run(c, MIXED, to);
	const struct seal_result *r = seal_session_eom(s);
	char *out = tu_output(s), *copy_msg, *p1, *p2;

	ck_assert_int_eq(r->verdict, VERDICT_ACCEPT);
	/* The colleagues get one plain copy; the original stays, sealed, with the partner. */
	ck_assert_uint_eq(ncaught, 1);
	ck_assert_str_eq(caught[0].rcpts, "carol@example.com,dave@example.com");
	ck_assert_ptr_null(strstr(caught[0].msg, "X-Sealmilter-Sealed"));
	ck_assert_ptr_nonnull(strstr(caught[0].msg, "X-Sealmilter-Marker:"));
	ck_assert_ptr_nonnull(strstr(caught[0].msg, "Revenue 4.2M"));
	ck_assert_uint_eq(count_kind(r, EDIT_DELETE_RCPT, NULL), 2);
	ck_assert_uint_eq(count_kind(r, EDIT_DELETE_RCPT, "carol@example.com"), 1);
	ck_assert_uint_eq(count_kind(r, EDIT_DELETE_RCPT, "dave@example.com"), 1);
	ck_assert_uint_eq(count_kind(r, EDIT_REPLACE_BODY, NULL), 1);
	ck_assert_ptr_null(strstr(out, "Revenue 4.2M"));
	ck_assert_ptr_nonnull(strstr(out, "X-Sealmilter-Sealed"));
	ck_assert_ptr_nonnull(strstr(r->summary, "copy1=QCOPY:<carol@example.com>,<dave@example.com>"));
	copy_msg = strdup(caught[0].msg);
	p1 = policy_rcpts(c, out);
	ck_assert_str_eq(p1, "bob@partner.test");
	p2 = policy_rcpts(c, copy_msg);
	ck_assert_str_eq(p2, "");
	free(p1);
	free(p2);
	free(copy_msg);
	free(out);
	seal_session_free(s);
	reset();
	config_unref(c);
}
END_TEST

/* The MTA matches a deleted recipient as a string: it gets the address exactly as it
 * was given (Postfix compares case-sensitively; a miss would deliver the original). */
START_TEST(test_delete_as_given)
{
	static const char *const to[] = { "<bob@partner.test>", "<Carol@Example.COM>", NULL };
	static const char M[] = "From: alice@example.com\nTo: bob@partner.test, Carol@Example.COM\n"
	    "Subject: [secure] Q4\nMessage-ID: <s9@example.com>\n\nRevenue 4.2M\n";
	struct seal_config *c = config("external", 1);
	struct seal_session *s = run(c, M, to);
	const struct seal_result *r = seal_session_eom(s);
	size_t i, found = 0;

	ck_assert_int_eq(r->verdict, VERDICT_ACCEPT);
	ck_assert_uint_eq(ncaught, 1);
	for (i = 0; i < r->nedits; i++)
		if (r->edits[i].kind == EDIT_DELETE_RCPT) {
			ck_assert_str_eq(r->edits[i].name, "<Carol@Example.COM>");
			found++;
		}
	ck_assert_uint_eq(found, 1);
	seal_session_free(s);
	reset();
	config_unref(c);
}
END_TEST

START_TEST(test_bcc_gets_its_own)
{
	static const char *const to[] = { "<erin@partner.test>", "<carol@example.com>", "<bob@partner.test>", NULL };
	struct seal_config *c = config("external", 1);
	struct seal_session *s = run(c, BCC, to);
	const struct seal_result *r = seal_session_eom(s);
	char *out = tu_output(s), *m0, *p0, *po;

	ck_assert_int_eq(r->verdict, VERDICT_ACCEPT);
	/* bob (Bcc) gets a sealed copy of his own, carol a plain one; erin keeps the sealed original. */
	ck_assert_uint_eq(ncaught, 2);
	ck_assert_str_eq(caught[0].rcpts, "bob@partner.test");
	ck_assert_ptr_nonnull(strstr(caught[0].msg, "X-Sealmilter-Sealed"));
	ck_assert_str_eq(caught[1].rcpts, "carol@example.com");
	ck_assert_ptr_null(strstr(caught[1].msg, "bob@partner.test"));   /* no other copy names the Bcc */
	ck_assert_ptr_null(strstr(out, "bob@partner.test"));
	ck_assert_uint_eq(count_kind(r, EDIT_DELETE_RCPT, NULL), 2);
	m0 = strdup(caught[0].msg);
	p0 = policy_rcpts(c, m0);
	po = policy_rcpts(c, out);
	ck_assert_str_eq(p0, "bob@partner.test");
	ck_assert_str_eq(po, "erin@partner.test");
	free(p0);
	free(po);
	free(m0);
	free(out);
	seal_session_free(s);
	reset();
	config_unref(c);
}
END_TEST

/* All sealed, one of them Bcc: the original stays sealed for the visible one. */
START_TEST(test_all_sealed_with_bcc)
{
	static const char *const to[] = { "<erin@partner.test>", "<bob@partner.test>", NULL };
	static const char ONE[] = "From: alice@example.com\nTo: erin@partner.test\nSubject: [secure] Q4\n"
	    "Message-ID: <s3@example.com>\n\nRevenue 4.2M\n";
	struct seal_config *c = config(NULL, 1);
	struct seal_session *s = run(c, ONE, to);
	const struct seal_result *r = seal_session_eom(s);
	char *out = tu_output(s), *p;

	ck_assert_int_eq(r->verdict, VERDICT_ACCEPT);
	ck_assert_uint_eq(ncaught, 1);
	ck_assert_str_eq(caught[0].rcpts, "bob@partner.test");
	ck_assert_uint_eq(count_kind(r, EDIT_DELETE_RCPT, "bob@partner.test"), 1);
	ck_assert_uint_eq(count_kind(r, EDIT_DELETE_RCPT, NULL), 1);
	ck_assert_ptr_nonnull(strstr(out, "X-Sealmilter-Sealed"));
	reset();
	p = policy_rcpts(c, out);
	ck_assert_str_eq(p, "erin@partner.test");
	free(p);
	free(out);
	seal_session_free(s);
	reset();
	config_unref(c);
}
END_TEST

START_TEST(test_for_internal)
{
	static const char *const to[] = { "<bob@partner.test>", "<carol@example.com>", NULL };
	struct seal_config *c = config("internal", 1);
	struct seal_session *s = run(c, MIXED, to);
	const struct seal_result *r = seal_session_eom(s);

	ck_assert_int_eq(r->verdict, VERDICT_ACCEPT);
	/* The partner gets the plain copy; the original stays, sealed, with the colleague. */
	ck_assert_uint_eq(ncaught, 1);
	ck_assert_str_eq(caught[0].rcpts, "bob@partner.test");
	ck_assert_ptr_null(strstr(caught[0].msg, "X-Sealmilter-Sealed"));
	ck_assert_uint_eq(count_kind(r, EDIT_DELETE_RCPT, "bob@partner.test"), 1);
	ck_assert_uint_eq(count_kind(r, EDIT_REPLACE_BODY, NULL), 1);
	seal_session_free(s);
	reset();
	config_unref(c);
}
END_TEST

/* A copy that cannot be handed over defers everything, and changes nothing. */
START_TEST(test_hand_over_fails)
{
	static const char *const to1[] = { "<bob@partner.test>", "<carol@example.com>", NULL };
	static const char *const to2[] = { "<erin@partner.test>", "<carol@example.com>", "<bob@partner.test>", NULL };
	struct seal_config *c = config("external", 1);
	struct seal_session *s;
	const struct seal_result *r;
	int at;

	for (at = 1; at <= 2; at++) {
		fail_at = at;
		s = run(c, at == 1 ? MIXED : BCC, at == 1 ? to1 : to2);
		r = seal_session_eom(s);
		ck_assert_msg(r->verdict == VERDICT_TEMPFAIL, "failing hand-over %d: got verdict %d", at, r->verdict);
		ck_assert_uint_eq(r->nedits, 0);
		ck_assert_ptr_nonnull(strstr(r->summary, "milter.submit_url"));
		ck_assert_ptr_nonnull(strstr(r->summary, "421 4.3.2"));
		seal_session_free(s);
		reset();
	}
	config_unref(c);
}
END_TEST

/* Without milter.submit_url nothing is split; a Bcc is then named, and the log says so. */
START_TEST(test_no_submit_url)
{
	static const char *const to[] = { "<erin@partner.test>", "<bob@partner.test>", NULL };
	struct seal_config *c = config(NULL, 0);
	struct seal_session *s;
	const struct seal_result *r;
	char *yaml = NULL, *errors = NULL;

	/* No submitter of the test's own here: the daemon's case, with no milter.submit_url. */
	(void)to;
	s = seal_session_new(c);
	{
		FILE *in = fmemopen((void *)BCC, strlen(BCC), "rb");
		const char *eol;
		char *err = NULL;
		seal_session_client(s, "127.0.0.1", "localhost");
		seal_session_mail(s, "<alice@example.com>");
		seal_session_rcpt(s, "<erin@partner.test>");
		seal_session_rcpt(s, "<bob@partner.test>");
		ck_assert_int_eq(eml_feed(s, in, &eol, &err, NULL, NULL), 0);
		fclose(in);
	}
	r = seal_session_eom(s);
	ck_assert_int_eq(r->verdict, VERDICT_ACCEPT);
	ck_assert_uint_eq(count_kind(r, EDIT_DELETE_RCPT, NULL), 0);
	ck_assert_ptr_nonnull(strstr(r->summary, "Bcc"));
	seal_session_free(s);
	config_unref(c);
	/* And for: external without it is refused at load, with the key named. */
	ck_assert_int_ge(asprintf(&yaml, "organization: { domains: [example.com] }\nmilter: { spool_dir: /tmp }\n"
	    "keys:\n  tenant: [ { id: t1, cert: %s/t1.pem, key: %s/t1.key } ]\n"
	    "  issuer: { cert: %s/issuer.pem, key: %s/issuer.key }\n"
	    "templates:\n  dnf: { rights: [view] }\nrules:\n  - name: s\n    if: { subject: { contains: [x] } }\n"
	    "    then: { seal: dnf, for: external }\n", dir, dir, dir, dir), 0);
	ck_assert_ptr_null(tu_load(yaml, &errors));
	ck_assert_ptr_nonnull(strstr(errors, "milter.submit_url"));
	free(errors);
	free(yaml);
}
END_TEST

/* More copies than milter.max_split_copies: rejected, never half-split. */
START_TEST(test_too_many_copies)
{
	static const char *const to[] = { "<erin@partner.test>", "<carol@example.com>", "<b1@partner.test>",
		"<b2@partner.test>", NULL };
	struct seal_config *c = config("external", 1);
	struct seal_session *s;
	const struct seal_result *r;

	c->max_split_copies = 2;        /* one per Bcc, and the colleague's plain copy: 3 */
	s = run(c, BCC, to);
	r = seal_session_eom(s);
	ck_assert_int_eq(r->verdict, VERDICT_REJECT);
	ck_assert_uint_eq(ncaught, 0);
	ck_assert_ptr_nonnull(strstr(r->summary, "milter.max_split_copies (2)"));
	seal_session_free(s);
	reset();
	config_unref(c);
}
END_TEST

/* for: external with only colleagues: nothing to seal. */
START_TEST(test_nobody_to_seal)
{
	static const char *const to[] = { "<carol@example.com>", "<dave@example.com>", NULL };
	struct seal_config *c = config("external", 1);
	struct seal_session *s = run(c, MIXED, to);
	const struct seal_result *r = seal_session_eom(s);

	ck_assert_int_eq(r->verdict, VERDICT_ACCEPT);
	ck_assert_uint_eq(ncaught, 0);
	ck_assert_uint_eq(count_kind(r, EDIT_REPLACE_BODY, NULL), 0);
	ck_assert_ptr_nonnull(strstr(r->summary, "no recipient outside the organisation"));
	seal_session_free(s);
	config_unref(c);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("split");
	TCase *tc = tcase_create("split");
	char *err = NULL, *cmd = NULL;
	int rc;

	dir = strdup("/tmp/sealtest-split-XXXXXX");
	if (dir == NULL || mkdtemp(dir) == NULL || seal_keys_generate("tenant", 2048, dir, "t1", &err) != 0 ||
	    seal_keys_generate("issuer", 0, dir, "issuer", &err) != 0) {
		fprintf(stderr, "test_split: cannot make keys: %s\n", err ? err : "?");
		return EXIT_FAILURE;
	}
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_external_and_internal);
	tcase_add_test(tc, test_delete_as_given);
	tcase_add_test(tc, test_bcc_gets_its_own);
	tcase_add_test(tc, test_all_sealed_with_bcc);
	tcase_add_test(tc, test_for_internal);
	tcase_add_test(tc, test_hand_over_fails);
	tcase_add_test(tc, test_no_submit_url);
	tcase_add_test(tc, test_nobody_to_seal);
	tcase_add_test(tc, test_too_many_copies);
	suite_add_tcase(s, tc);
	rc = tu_run_suite(s);
	if (asprintf(&cmd, "rm -rf %s", dir) >= 0 && system(cmd) != 0)
		rc = EXIT_FAILURE;
	free(cmd);
	free(dir);
	return rc;
}
