/*
 * test_config.c - the configuration loader: every kind of error is refused
 * with file:line:column and a clear message, nothing is half-loaded, several
 * errors are reported together, defaults and includes work.
 */
#include "build-config.h"

#include <sys/stat.h>

#include "rules/cfgdoc.h"
#include "rules/policy.h"
#include "testutil.h"

struct err_case {
	const char *name;
	const char *yaml;
	const char *want;      /* substring of the error output, with the position */
};

#define RULE_HEAD "rules:\n  - name: r\n"

static const struct err_case err_cases[] = {
	{ "unknown key with suggestion", TU_ORG "limits:\n  max_header: 5\n",
	  ":4:3: unknown key 'limits.max_header' (did you mean 'limits.max_headers'?)" },
	{ "unknown section", TU_ORG "milters:\n  socket: x\n", ":3:1: unknown section 'milters' (did you mean 'milter'?)" },
	{ "wrong type: number", TU_ORG "limits:\n  max_headers: lots\n", ":4:16: limits.max_headers: 'lots' is not a whole number" },
	{ "wrong type: list for a scalar", TU_ORG "limits:\n  max_headers: [1, 2]\n",
	  ":4:16: limits.max_headers: expected a single value, found a list" },
	{ "out of range", TU_ORG "limits:\n  max_mime_depth: 1000\n", ":4:19: limits.max_mime_depth: 1000 is out of range (1 to 100)" },
	{ "bad size", TU_ORG "limits:\n  body_scan_size: 10Q\n", "'10Q' is not a size" },
	{ "bad enum", "organization: { domains: [example.com] }\nmilter: { on_error: maybe }\n",
	  ":2:21: milter.on_error: 'maybe' is not one of: tempfail|accept" },
	{ "relative path", "organization: { domains: [example.com] }\nmilter: { spool_dir: spool }\n", "must be an absolute path" },
	{ "bad domain", "organization: { domains: [\"exa mple.com\"] }\n", "'exa mple.com' is not a domain name" },
	{ "bad network", "organization: { domains: [example.com], trusted_networks: [10.0.0.0/33] }\n",
	  "'10.0.0.0/33' is not an address or network" },
	{ "no domains", "organization: { name: X }\n", "organization.domains: at least one domain is required" },
	{ "yaml syntax", TU_ORG "rules: [\n", "YAML syntax error" },
	{ "duplicate key", TU_ORG "limits:\n  max_headers: 10\n  max_headers: 20\n", ":5:3: duplicate key 'max_headers' (first at line 4)" },
	{ "alias refused", TU_ORG "x: &a 1\ny: *a\n", "YAML aliases (*a) are not supported" },
	{ "bad regex", TU_ORG RULE_HEAD "    if: { subject: { regex: 'a(b' } }\n    then: { tag: { header: X-T, value: v } }\n",
	  ":5:29: subject: bad regex at offset 4: missing closing parenthesis" },
	{ "bad pattern regex", TU_ORG "patterns:\n  p: { regex: '[z-a]' }\n", ":4:15: pattern 'p': bad regex" },
	{ "undefined pattern", TU_ORG RULE_HEAD "    if: { body: { pattern: nope } }\n    then: { tag: { header: X-T, value: v } }\n",
	  ":5:28: body: pattern 'nope' is not defined under patterns:" },
	{ "unknown condition", TU_ORG RULE_HEAD "    if: { subjet: x }\n    then: { stop: true }\n",
	  ":5:19: unknown condition 'subjet' (did you mean 'subject'?)" },
	{ "unknown action", TU_ORG RULE_HEAD "    if: { subject: x }\n    then: { seel: x }\n",
	  ":6:13: rule 'r': unknown action 'seel'" },
	{ "no then", TU_ORG RULE_HEAD "    if: { subject: x }\n", "rule 'r': then: is required" },
	{ "missing name", TU_ORG "rules:\n  - if: { subject: x }\n    then: { stop: true }\n", "rule: name: is required" },
	{ "duplicate rule", TU_ORG RULE_HEAD "    then: { stop: true }\n  - name: r\n    then: { stop: true }\n",
	  ":6:11: rule 'r' is defined twice" },
	{ "unknown rule key", TU_ORG RULE_HEAD "    when: x\n    then: { stop: true }\n", ":5:5: rule: unknown key 'when'" },
	{ "bad direction", TU_ORG RULE_HEAD "    if: { direction: sideways }\n    then: { stop: true }\n",
	  "direction: 'sideways' is not one of inbound, outbound, internal, external" },
	{ "bad tag header", TU_ORG RULE_HEAD "    then: { tag: { header: 'X Bad', value: v } }\n",
	  "tag: header: is required and must be a header field name" },
	{ "tag value with newline", TU_ORG RULE_HEAD "    then: { tag: { header: X-T, value: \"a\\nb\" } }\n",
	  "tag: value: is required: one line" },
	{ "reject bad status", TU_ORG RULE_HEAD "    then: { reject: \"4.7.1 not permanent\" }\n",
	  "reject: '4.7.1 not permanent' does not start with a valid status like 5.7.1" },
	{ "reject bad code", TU_ORG RULE_HEAD "    then: { reject: { code: 450 } }\n", "reject: code: expected a 5xx SMTP code" },
	{ "reply with percent", TU_ORG RULE_HEAD "    then: { tempfail: \"4.7.1 100% busy\" }\n", "without %" },
	{ "reject and tempfail", TU_ORG RULE_HEAD "    then: { reject: true, tempfail: true }\n", "give only one of reject and tempfail" },
	{ "empty any", TU_ORG RULE_HEAD "    if: { any: [] }\n    then: { stop: true }\n", "any: the list is empty" },
	{ "header without name", TU_ORG RULE_HEAD "    if: { header: { contains: x } }\n    then: { stop: true }\n",
	  "header: name: is required" },
	{ "header exists false with contains", TU_ORG RULE_HEAD
	  "    if: { header: { name: X, exists: false, contains: y } }\n    then: { stop: true }\n",
	  "exists: false cannot be combined with contains or regex" },
	{ "bad size condition", TU_ORG RULE_HEAD "    if: { size: { over: big } }\n    then: { stop: true }\n",
	  "size: over: expected a size like 10M" },
	{ "attachment unknown key", TU_ORG RULE_HEAD "    if: { attachment: { name: x } }\n    then: { stop: true }\n",
	  "attachment: unknown key 'name' (keys: filename, content_type, size)" },
	{ "recipients bad key", TU_ORG RULE_HEAD "    if: { recipients: { any: { domian: x } } }\n    then: { stop: true }\n",
	  "recipients: unknown key 'domian'" },
	{ "include missing", TU_ORG "include: nothere.yaml\n", "nothere.yaml: cannot open: No such file or directory" },
	{ "marker key missing", "organization: { domains: [example.com] }\nmilter: { marker_key_file: /nonexistent/key }\n",
	  "milter.marker_key_file: cannot open /nonexistent/key" },
	{ "top level list", "- a\n- b\n", ":1:1: the top level must be a mapping" },
	{ "seal: unknown template", TU_ORG RULE_HEAD "    then: { seal: nothere }\n",
	  ":5:19: rule 'r': seal: 'nothere' is not defined under templates:" },
	{ "seal: no keys", TU_ORG "templates:\n  t: { rights: [view] }\n" RULE_HEAD "    then: { seal: t }\n",
	  "rule 'r': seal: needs keys.tenant and keys.issuer" },
	{ "decrypt: no private key", TU_ORG RULE_HEAD "    then: { decrypt: true }\n",
	  "rule 'r': decrypt: needs a tenant private key (keys.tenant[].key)" },
	{ "decrypt: not true", TU_ORG RULE_HEAD "    then: { decrypt: sometimes }\n", "rule 'r': decrypt: expected true" },
	{ "empty file", "", "the file is empty" },
	{ "metrics off loopback", "organization: { domains: [example.com] }\nmilter: { metrics_listen: 0.0.0.0:9141 }\n",
	  ":2:11: milter.metrics_listen: '0.0.0.0:9141' is not a loopback address: the metrics endpoint has no "
	  "authentication; set milter.metrics_allow_remote: true" },
	{ "metrics: a name, not an address", "organization: { domains: [example.com] }\nmilter: { metrics_listen: localhost:9141 }\n",
	  "milter.metrics_listen: 'localhost:9141' is not ADDRESS:PORT" },
	{ "metrics: no port", "organization: { domains: [example.com] }\nmilter: { metrics_listen: 127.0.0.1 }\n",
	  "milter.metrics_listen: '127.0.0.1' is not ADDRESS:PORT" },
	{ "sealview metrics off loopback", "organization: { domains: [example.com] }\n"
	  "sealview: { metrics_listen: \"[2001:db8::1]:9142\" }\n",
	  "sealview.metrics_listen: '[2001:db8::1]:9142' is not a loopback address" },
	{ "sealview metrics on the public socket", "organization: { domains: [example.com] }\n"
	  "sealview: { listen: 127.0.0.1:8025, metrics_listen: 127.0.0.1:8025 }\n",
	  "sealview.metrics_listen: '127.0.0.1:8025' is sealview.listen" },
};

/* Loopback in any form, or anywhere once allowed. */
START_TEST(test_metrics_listen_accepted)
{
	static const char *const ok[] = {
		"milter: { metrics_listen: 127.0.0.1:9141 }\n",
		"milter: { metrics_listen: 127.8.9.10:9141 }\n",
		"milter: { metrics_listen: \"[::1]:9141\" }\n",
		"milter: { metrics_listen: 0.0.0.0:9141, metrics_allow_remote: true }\n",
		"sealview: { metrics_listen: \"[2001:db8::1]:9142\", metrics_allow_remote: true }\n",
	};
	size_t i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		char *yaml = NULL, *errors = NULL;
		struct seal_config *c;
		ck_assert_int_ge(asprintf(&yaml, "organization: { domains: [example.com] }\n%s", ok[i]), 0);
		c = tu_load(yaml, &errors);
		ck_assert_msg(c != NULL, "%s: refused:\n%s", ok[i], errors ? errors : "");
		config_unref(c);
		free(errors);
		free(yaml);
	}
}
END_TEST

START_TEST(test_config_errors)
{
	const struct err_case *c = &err_cases[_i];
	char *errors = NULL;
	struct seal_config *cfg = tu_load(c->yaml, &errors);

	ck_assert_msg(cfg == NULL, "case '%s': configuration was accepted, want an error", c->name);
	ck_assert_msg(strstr(errors, c->want) != NULL, "case '%s': got errors:\n%s\nwant a line containing:\n%s",
	    c->name, errors, c->want);
	free(errors);
}
END_TEST

START_TEST(test_every_error_reported)
{
	/* -n must report every error, not just the first. */
	char *errors = NULL;
	struct seal_config *cfg = tu_load(TU_ORG "limits:\n  max_headers: x\n  max_mime_depth: 0\n" RULE_HEAD
	    "    if: { subjet: x }\n    then: { seel: y }\n", &errors);
	int n = 0;
	const char *p;

	ck_assert_ptr_null(cfg);
	for (p = errors; (p = strchr(p, '\n')) != NULL; p++)
		n++;
	ck_assert_msg(n >= 4, "got %d errors:\n%s\nwant at least 4", n, errors);
	free(errors);
}
END_TEST

START_TEST(test_defaults_and_example)
{
	char *path = NULL, *text = NULL, *errors = NULL;
	struct seal_config *c;
	FILE *f;
	size_t len = 0;

	/* The shipped example loads once its spool_dir exists. */
	ck_assert_int_ge(asprintf(&path, "%s/contrib/sealmilter.yaml", SRCDIR), 0);
	f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_ge(getdelim(&text, &len, '\0', f), 0);
	fclose(f);
	c = tu_load(text, &errors);
	ck_assert_msg(c != NULL, "contrib/sealmilter.yaml refused:\n%s", errors);
	ck_assert_uint_eq(c->nrules, 3);
	ck_assert_uint_eq(c->npatterns, 1);
	ck_assert_str_eq(c->socket, "inet:8894@127.0.0.1");
	/* Defaults from the key table. */
	ck_assert_uint_eq(c->max_headers, 5000);
	ck_assert_uint_eq(c->max_header_size, 64 * 1024);
	ck_assert_uint_eq(c->spool_threshold, 1024 * 1024);
	ck_assert_uint_eq(c->marker_max_age, 7 * 86400);
	ck_assert_str_eq(c->marker_header, "X-Sealmilter-Marker");
	ck_assert_int_eq(c->on_error, ON_ERROR_TEMPFAIL);
	ck_assert_int_eq(c->marker_key_ephemeral, 1);
	ck_assert(config_is_org_domain(c, "example.com"));
	ck_assert(config_is_org_domain(c, "mail.example.org"));
	ck_assert(!config_is_org_domain(c, "badexample.com"));
	ck_assert(config_is_trusted_ip(c, "127.0.0.1"));
	ck_assert(config_is_trusted_ip(c, "::1"));
	ck_assert(!config_is_trusted_ip(c, "192.0.2.1"));
	config_unref(c);
	free(errors);
	free(text);
	free(path);
}
END_TEST

START_TEST(test_include)
{
	char *inc = tu_write_temp(RULE_HEAD "    then: { tag: { header: X-Inc, value: yes } }\n"
	    "patterns:\n  p2: { regex: 'abc' }\n", ".yaml");
	char *yaml = NULL, *errors = NULL;
	struct seal_config *c;

	ck_assert_int_ge(asprintf(&yaml, TU_ORG "include: [%s]\npatterns:\n  p1: { regex: 'x' }\n"
	    "rules:\n  - name: main\n    if: { body: { pattern: p2 } }\n    then: { stop: true }\n", inc), 0);
	c = tu_load(yaml, &errors);
	ck_assert_msg(c != NULL, "refused:\n%s", errors);
	/* The included file's rules come where the include stands: before main's. */
	ck_assert_uint_eq(c->nrules, 2);
	ck_assert_str_eq(c->rules[0].name, "r");
	ck_assert_str_eq(c->rules[1].name, "main");
	ck_assert_uint_eq(c->npatterns, 2);
	config_unref(c);
	free(yaml);
	free(errors);

	/* A setting given in two files is an error naming the first place. */
	free(inc);
	inc = tu_write_temp("limits: { max_headers: 10 }\n", ".yaml");
	ck_assert_int_ge(asprintf(&yaml, TU_ORG "include: %s\nlimits: { max_headers: 20 }\n", inc), 0);
	c = tu_load(yaml, &errors);
	ck_assert_ptr_null(c);
	ck_assert_msg(strstr(errors, "limits.max_headers is already set at") != NULL, "got:\n%s", errors);
	unlink(inc);
	free(inc);
	free(yaml);
	free(errors);
}
END_TEST

START_TEST(test_include_cycle)
{
	char *a = tu_write_temp("", ".yaml"), *yaml = NULL, *errors = NULL;
	FILE *f = fopen(a, "w");

	ck_assert_ptr_nonnull(f);
	fprintf(f, "include: %s\n", a);
	fclose(f);
	ck_assert_int_ge(asprintf(&yaml, TU_ORG "include: %s\n", a), 0);
	ck_assert_ptr_null(tu_load(yaml, &errors));
	ck_assert_msg(strstr(errors, "is included twice (or includes itself)") != NULL, "got:\n%s", errors);
	unlink(a);
	free(a);
	free(yaml);
	free(errors);
}
END_TEST

START_TEST(test_marker_key_file)
{
	char *key = tu_write_temp("0123456789abcdef0123456789abcdef", ".key");
	char *yaml = NULL, *errors = NULL;
	struct seal_config *c;

	ck_assert_int_ge(asprintf(&yaml, "organization: { domains: [example.com] }\nmilter: { marker_key_file: %s }\n", key), 0);
	chmod(key, 0644);
	ck_assert_ptr_null(tu_load(yaml, &errors));
	ck_assert_msg(strstr(errors, "is writable by its group or open to others (mode 644); chmod 600 it, or 640") != NULL,
	    "got:\n%s", errors);
	free(errors);
	chmod(key, 0660);
	ck_assert_ptr_null(tu_load(yaml, &errors));
	ck_assert_msg(strstr(errors, "(mode 660)") != NULL, "got:\n%s", errors);
	free(errors);
	/* Owner and one group may read it: sealmilter and sealview share the viewer's secret so. */
	chmod(key, 0640);
	c = tu_load(yaml, &errors);
	ck_assert_msg(c != NULL, "mode 640 refused:\n%s", errors ? errors : "");
	config_unref(c);
	free(errors);
	errors = NULL;
	chmod(key, 0600);
	c = tu_load(yaml, &errors);
	ck_assert_msg(c != NULL, "refused:\n%s", errors);
	ck_assert_uint_eq(c->marker_key_len, 32);
	ck_assert_int_eq(c->marker_key_ephemeral, 0);
	config_unref(c);
	free(errors);
	/* Too short. */
	{
		FILE *f = fopen(key, "w");
		ck_assert_ptr_nonnull(f);
		fputs("short", f);
		fclose(f);
	}
	ck_assert_ptr_null(tu_load(yaml, &errors));
	ck_assert_msg(strstr(errors, "holds 5 bytes; at least 32") != NULL, "got:\n%s", errors);
	free(errors);
	unlink(key);
	free(key);
	free(yaml);
}
END_TEST

START_TEST(test_reference_covers_every_key)
{
	char *buf = NULL;
	size_t len = 0, i;
	FILE *out = open_memstream(&buf, &len);

	config_write_reference(out);
	fclose(out);
	for (i = 0; i < cfg_nkeys; i++) {
		char *want = NULL;
		ck_assert_int_ge(asprintf(&want, "`%s`", cfg_keys[i].name), 0);
		ck_assert_msg(strstr(buf, want) != NULL, "reference lacks %s", want);
		free(want);
		/* Each key shows an example (test-guides.sh loads them all together). */
		ck_assert_msg(cfg_keys[i].example != NULL && cfg_keys[i].example[0] != '\0', "%s has no example",
		    cfg_keys[i].name);
	}
	for (i = 0; i < cond_ndocs; i++)
		ck_assert_msg(strstr(buf, cond_docs[i].name) != NULL, "reference lacks condition %s", cond_docs[i].name);
	free(buf);
}
END_TEST

static Suite *
config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("config");

	tcase_add_loop_test(tc, test_config_errors, 0, (int)(sizeof(err_cases) / sizeof(err_cases[0])));
	tcase_add_test(tc, test_every_error_reported);
	tcase_add_test(tc, test_metrics_listen_accepted);
	tcase_add_test(tc, test_defaults_and_example);
	tcase_add_test(tc, test_include);
	tcase_add_test(tc, test_include_cycle);
	tcase_add_test(tc, test_marker_key_file);
	tcase_add_test(tc, test_reference_covers_every_key);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run_suite(config_suite());
}
