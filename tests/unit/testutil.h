/* testutil.h - helpers shared by the Check unit tests: write a configuration
 * to a temp file and load it, run a message through the session pipeline
 * exactly as sealctl does, and capture the delivered bytes. */
#ifndef SEAL_TESTUTIL_H
#define SEAL_TESTUTIL_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "engine/eml.h"
#include "engine/session.h"
#include "mime/hdrdecode.h"
#include "rules/cfgerr.h"
#include "rules/config.h"

#define TU_UNUSED __attribute__((unused))

/* The minimum every test configuration needs. */
#define TU_ORG "organization: { name: Example, domains: [example.com, example.org], " \
	"trusted_networks: [127.0.0.0/8, 10.1.0.0/16] }\nmilter: { spool_dir: /tmp }\n"

/* Write text to a new temp file; returns its path (malloc'd). */
static TU_UNUSED char *
tu_write_temp(const char *text, const char *suffix)
{
	char *path = NULL;
	int fd;
	FILE *f;

	ck_assert_int_ge(asprintf(&path, "/tmp/sealtest-XXXXXX%s", suffix), 0);
	fd = mkstemps(path, (int)strlen(suffix));
	ck_assert_msg(fd >= 0, "mkstemps failed");
	f = fdopen(fd, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	return path;
}

/* Load yaml; on failure the joined errors go to *errors (malloc'd). */
static TU_UNUSED struct seal_config *
tu_load(const char *yaml, char **errors)
{
	char *path = tu_write_temp(yaml, ".yaml");
	struct cfg_errors errs;
	struct seal_config *c;
	struct sbuf b;
	size_t i;

	memset(&errs, 0, sizeof(errs));
	c = config_load(path, 0, &errs);
	sbuf_init(&b, 0);
	for (i = 0; i < errs.count; i++) {
		sbuf_adds(&b, errs.msgs[i]);
		sbuf_addc(&b, '\n');
	}
	if (errors)
		*errors = sbuf_steal(&b);
	else
		sbuf_free(&b);
	cfg_errors_free(&errs);
	unlink(path);
	free(path);
	return c;
}

/* Load yaml that must be valid. */
static TU_UNUSED struct seal_config *
tu_config(const char *yaml)
{
	char *errors = NULL;
	struct seal_config *c = tu_load(yaml, &errors);

	ck_assert_msg(c != NULL, "configuration refused:\n%s\n---\n%s", errors, yaml);
	free(errors);
	return c;
}

struct tu_msg {
	const char *from;        /* envelope sender */
	const char *to[8];       /* envelope recipients, NULL-terminated */
	const char *ip;          /* client address; default 127.0.0.1 */
	const char *auth;        /* SMTP AUTH user, or NULL */
	const char *eml;         /* the message */
	size_t len;              /* its length when it holds NUL bytes; else 0 */
};

/* Feed the message to a new session and decide. Free with seal_session_free(). */
static TU_UNUSED struct seal_session *
tu_run(struct seal_config *cfg, const struct tu_msg *m)
{
	struct seal_session *s = seal_session_new(cfg);
	size_t len = m->len ? m->len : strlen(m->eml);
	FILE *in = fmemopen((void *)m->eml, len, "rb");
	const char *eol;
	char *err = NULL;
	size_t i;

	ck_assert_ptr_nonnull(s);
	ck_assert_ptr_nonnull(in);
	seal_session_client(s, m->ip ? m->ip : "127.0.0.1", "localhost");
	seal_session_auth(s, m->auth);
	seal_session_queue_id(s, "TESTQ");
	seal_session_mail(s, m->from ? m->from : "<alice@example.com>");
	for (i = 0; i < 8 && m->to[i]; i++)
		seal_session_rcpt(s, m->to[i]);
	if (m->to[0] == NULL)
		seal_session_rcpt(s, "<bob@partner.test>");
	ck_assert_int_eq(eml_feed(s, in, &eol, &err, NULL, NULL), 0);
	fclose(in);
	(void)seal_session_eom(s);
	return s;
}

/* The delivered message as sealctl process would print it (malloc'd). */
static TU_UNUSED char *
tu_output(struct seal_session *s)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);

	ck_assert_ptr_nonnull(out);
	ck_assert_int_eq(seal_session_write(s, out, "\n"), 0);
	fclose(out);
	return buf;
}

/* Did the rule called name fire? */
static TU_UNUSED int
tu_fired(const struct seal_result *r, const char *name)
{
	size_t i;

	for (i = 0; i < r->decision.nfired; i++)
		if (strcmp(r->decision.fired[i].rule->name, name) == 0)
			return 1;
	return 0;
}

/* Run a suite; the exit status for main(). */
static TU_UNUSED int
tu_run_suite(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	mime_init();
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
