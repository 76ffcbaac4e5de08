/*
 * test_policy.c - sealing templates and branding (seal/template.c) and the
 * policy JSON (seal/sealpolicy.c): configuration errors with positions,
 * build -> parse round trips with hostile values, a strict parser against
 * hostile JSON, expiry and allowed recipients, and a policy carried through
 * a sealed object.
 */
#include "build-config.h"

#include <time.h>

#include "seal/cms.h"
#include "seal/sealpolicy.h"
#include "seal/template.h"
#include "testutil.h"

/* ---- templates and branding --------------------------------------------- */

struct tpl_err {
	const char *name;
	const char *yaml;
	const char *want;
};

static const struct tpl_err tpl_errs[] = {
	{ "unknown right", "templates:\n  t: { rights: [view, fly] }\n",
	  ":4:23: template 't': rights: 'fly' is not one of view, reply" },
	{ "no view", "templates:\n  t: { rights: [reply] }\n", "rights: must include view" },
	{ "no rights", "templates:\n  t: { expires: 7d }\n", "template 't': rights: expected a list" },
	{ "bad expiry", "templates:\n  t: { rights: [view], expires: soon }\n",
	  ":4:33: template 't': expires: expected a duration (30d, 12h) or a date" },
	{ "past expiry", "templates:\n  t: { rights: [view], expires: 2020-01-01 }\n", "expires: 2020-01-01 is in the past" },
	{ "bad recipients", "templates:\n  t: { rights: [view], recipients: everyone }\n",
	  "recipients: expected message, or a list" },
	{ "bad subject", "templates:\n  t: { rights: [view], subject: hide }\n", "subject: expected keep or protect" },
	{ "protect without branding", "templates:\n  t: { rights: [view], subject: protect }\n",
	  "subject: protect needs a branding" },
	{ "missing branding", "templates:\n  t: { rights: [view], branding: fancy }\n",
	  "branding: 'fancy' is not defined under branding:" },
	{ "unknown template key", "templates:\n  t: { rights: [view], colour: red }\n", "template 't': unknown key 'colour'" },
	{ "bad color", "branding:\n  default: { color: blue }\n", "branding 'default': color: expected #rrggbb" },
	{ "long button", "branding:\n  default: { button: \"0123456789012345678901234567890123456789012345678901234567890\" }\n",
	  "button: expected a text of at most 60 characters" },
	{ "bad placeholder", "branding:\n  default: { intro: \"{recipient} got mail\" }\n",
	  "intro: the only placeholders are {sender} and {org}" },
	{ "logo missing", "branding:\n  default: { logo: /nonexistent/logo.png }\n", "logo: cannot read /nonexistent/logo.png" },
	{ "logo relative", "branding:\n  default: { logo: logo.png }\n", "logo: expected an absolute path" },
	{ "bad template name", "templates:\n  \"bad name\": { rights: [view] }\n",
	  "template 'bad name': a name is 1 to 64 letters, digits" },
	{ "templates twice", "templates:\n  t: { rights: [view] }\ntemplates:\n  u: { rights: [view] }\n",
	  "duplicate key 'templates'" },
};

START_TEST(test_template_errors)
{
	const struct tpl_err *c = &tpl_errs[_i];
	char *yaml = NULL, *errors = NULL;

	ck_assert_int_ge(asprintf(&yaml, TU_ORG "%s", c->yaml), 0);
	ck_assert_msg(tu_load(yaml, &errors) == NULL, "%s: accepted", c->name);
	ck_assert_msg(strstr(errors, c->want) != NULL, "%s: got\n%s\nwant a line containing\n%s", c->name, errors, c->want);
	free(errors);
	free(yaml);
}
END_TEST

START_TEST(test_templates_and_logo)
{
	/* A real PNG header is enough for the check; a 41 KB file is too big; text is not an image. */
	static const unsigned char png[] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R' };
	char *logo = tu_write_temp("", ".png"), *big = tu_write_temp("", ".png"), *txt = tu_write_temp("hello", ".png");
	char *yaml = NULL, *errors = NULL;
	struct seal_config *c;
	const struct seal_template *t;
	FILE *f = fopen(logo, "wb");
	size_t i;

	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(png, 1, sizeof(png), f), sizeof(png));
	ck_assert_int_eq(fclose(f), 0);
	f = fopen(big, "wb");
	ck_assert_ptr_nonnull(f);
	for (i = 0; i < 41 * 1024; i++)
		fputc(0, f);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_ge(asprintf(&yaml, TU_ORG "templates:\n  dnf: { rights: [view, reply, reply_all], expires: 30d }\n"
	    "  cvo: { rights: [view], expires: 2099-01-31T12:00:00Z, recipients: [partner.test, x@y.test], "
	    "subject: protect }\nbranding:\n  default: { org_name: Example, intro: \"{sender} sent a protected message.\", "
	    "color: \"#0b5cad\", logo: %s }\n", logo), 0);
	c = tu_load(yaml, &errors);
	ck_assert_msg(c != NULL, "refused:\n%s", errors);
	t = seal_template_find(&c->templates, "dnf");
	ck_assert_ptr_nonnull(t);
	ck_assert_uint_eq(t->rights, RIGHT_VIEW | RIGHT_REPLY | RIGHT_REPLY_ALL);
	ck_assert_uint_eq(t->expires_after, 30 * 86400);
	ck_assert_int_eq(t->recipients_message, 1);
	ck_assert_msg(t->branding && strcmp(t->branding->name, "default") == 0, "the default branding applies");
	t = seal_template_find(&c->templates, "cvo");
	ck_assert_int_eq(t->expires_at, 4073544000);     /* 2099-01-31T12:00:00Z */
	ck_assert_int_eq(t->recipients_message, 0);
	ck_assert_uint_eq(t->recipients.n, 2);
	ck_assert_int_eq(t->protect_subject, 1);
	ck_assert_str_eq(t->branding->logo_type, "image/png");
	ck_assert_uint_eq(t->branding->logo_len, sizeof(png));
	ck_assert_ptr_null(seal_template_find(&c->templates, "nope"));
	config_unref(c);
	free(yaml);
	free(errors);
	/* Too big, and not an image. */
	ck_assert_int_ge(asprintf(&yaml, TU_ORG "branding:\n  a: { logo: %s }\n  b: { logo: %s }\n", big, txt), 0);
	ck_assert_ptr_null(tu_load(yaml, &errors));
	ck_assert_msg(strstr(errors, "must be a file of at most 40960 bytes"), "got:\n%s", errors);
	ck_assert_msg(strstr(errors, "is neither a PNG nor a JPEG image"), "got:\n%s", errors);
	free(errors);
	free(yaml);
	unlink(logo);
	unlink(big);
	unlink(txt);
	free(logo);
	free(big);
	free(txt);
}
END_TEST

/* ---- policy JSON: build and parse --------------------------------------- */

static struct seal_template
tpl(unsigned rights, uint64_t after, time_t at)
{
	struct seal_template t;

	memset(&t, 0, sizeof(t));
	t.name = (char *)"do-not-forward";
	t.rights = rights;
	t.expires_after = after;
	t.expires_at = at;
	t.recipients_message = 1;
	return t;
}

START_TEST(test_round_trip)
{
	struct seal_template t = tpl(RIGHT_VIEW | RIGHT_REPLY | RIGHT_EDIT, 7 * 86400, 0);
	char *rcpts[] = { (char *)"bob@partner.test", (char *)"carol@example.com" };
	/* Hostile values from headers: quotes, backslashes, control characters, invalid UTF-8. */
	const char *mid = "<\"quoted\\\"\x01\xff\xc3\xa9@x>";
	time_t now = 1795000000;
	size_t len;
	char *json = seal_policy_build(&t, "alice@example.com", rcpts, 2, mid, now, &len), *err = NULL;
	struct seal_policy p;

	ck_assert_ptr_nonnull(json);
	ck_assert_msg(seal_policy_parse(json, len, &p, &err) == 0, "%s\n%s", err, json);
	ck_assert_int_eq(p.version, 1);
	ck_assert_str_eq(p.template_name, "do-not-forward");
	ck_assert_uint_eq(p.rights, RIGHT_VIEW | RIGHT_REPLY | RIGHT_EDIT);
	ck_assert_int_eq(p.issued_at, now);
	ck_assert_int_eq(p.expires, now + 7 * 86400);
	ck_assert_uint_eq(p.recipients.n, 2);
	ck_assert_str_eq(p.recipients.v[1], "carol@example.com");
	ck_assert_str_eq(p.sender, "alice@example.com");
	ck_assert_str_eq(p.message_id, "<\"quoted\\\"\x01\xef\xbf\xbd\xc3\xa9@x>");   /* invalid byte -> U+FFFD */
	ck_assert_uint_eq(strlen(p.seal_id), 36);
	ck_assert(strstr(json, "\"rights\":[\"view\",\"reply\",\"edit\"]") != NULL);
	ck_assert(!seal_policy_expired(&p, now + 7 * 86400 - 1));
	ck_assert(seal_policy_expired(&p, now + 7 * 86400));
	ck_assert(seal_policy_allows(&p, "BOB@partner.test"));
	ck_assert(!seal_policy_allows(&p, "eve@partner.test"));
	seal_policy_free(&p);
	free(json);

	/* No expiry; the template's own recipients (a domain and an address). */
	t = tpl(RIGHT_VIEW, 0, 0);
	t.recipients_message = 0;
	strlist_add(&t.recipients, "partner.test");
	json = seal_policy_build(&t, "a@example.com", rcpts, 2, "", now, &len);
	ck_assert_int_eq(seal_policy_parse(json, len, &p, &err), 0);
	ck_assert_int_eq(p.expires, 0);
	ck_assert(!seal_policy_expired(&p, now + 100 * 365 * 86400LL));
	ck_assert(seal_policy_allows(&p, "eve@mail.partner.test"));
	ck_assert(!seal_policy_allows(&p, "carol@example.com"));
	ck_assert(strstr(json, "\"expires\":null") != NULL);
	seal_policy_free(&p);
	strlist_free(&t.recipients);
	free(json);
}
END_TEST

#define GOOD_TAIL "\"issued_at\":\"2026-11-22T10:00:00Z\",\"expires\":null,\"recipients\":[\"b@x.test\"]," \
	"\"sender\":\"a@example.com\",\"message_id\":\"<m@x>\"}"
#define GOOD_HEAD "{\"v\":1,\"seal_id\":\"5f0c7f5e-0d54-4a8e-9f3b-7c1f6d2a9b10\",\"template\":\"t\",\"rights\":[\"view\"],"

struct json_case {
	const char *name;
	const char *json;
	const char *want;          /* NULL: must parse */
};

static const struct json_case json_cases[] = {
	{ "good", GOOD_HEAD GOOD_TAIL, NULL },
	{ "good with spaces and an unknown field", " { \"v\" : 1 , \"future\" : [\"x\"], \"seal_id\":\"5f0c7f5e-0d54-4a8e-9f3b-7c1f6d2a9b10\",\"template\":\"t\","
	  "\"rights\":[\"view\"]," GOOD_TAIL " ", NULL },
	{ "escapes", GOOD_HEAD "\"x\":\"\\u00e9\\ud83d\\ude00\\n\\/\"," GOOD_TAIL, NULL },
	{ "empty", "", "expected an object" },
	{ "truncated", GOOD_HEAD "\"issued_at\":\"2026-11-22T10:00", "unterminated string" },
	{ "not an object", "[\"view\"]", "expected an object" },
	{ "trailing text", GOOD_HEAD GOOD_TAIL "x", "text after the object" },
	{ "missing field", "{\"v\":1,\"seal_id\":\"5f0c7f5e-0d54-4a8e-9f3b-7c1f6d2a9b10\"}", "template is missing" },
	{ "wrong version", "{\"v\":2,\"seal_id\":\"5f0c7f5e-0d54-4a8e-9f3b-7c1f6d2a9b10\",\"template\":\"t\",\"rights\":[\"view\"]," GOOD_TAIL,
	  "version 2 is not supported" },
	{ "wrong type", "{\"v\":\"1\",\"seal_id\":\"5f0c7f5e-0d54-4a8e-9f3b-7c1f6d2a9b10\",\"template\":\"t\",\"rights\":[\"view\"]," GOOD_TAIL,
	  "v has a wrong type" },
	{ "unknown right", "{\"v\":1,\"seal_id\":\"5f0c7f5e-0d54-4a8e-9f3b-7c1f6d2a9b10\",\"template\":\"t\",\"rights\":[\"view\",\"fly\"]," GOOD_TAIL,
	  "rights has a wrong type" },
	{ "no view", "{\"v\":1,\"seal_id\":\"5f0c7f5e-0d54-4a8e-9f3b-7c1f6d2a9b10\",\"template\":\"t\",\"rights\":[\"reply\"]," GOOD_TAIL, "no view right" },
	{ "bad time", GOOD_HEAD "\"issued_at\":\"yesterday\",\"expires\":null,\"recipients\":[],\"sender\":\"\","
	  "\"message_id\":\"\"}", "issued_at has a wrong type" },
	{ "duplicate key", "{\"v\":1,\"v\":1}", "duplicate key" },
	{ "nested object", GOOD_HEAD "\"x\":{\"y\":1}," GOOD_TAIL, "unsupported value" },
	{ "array of numbers", GOOD_HEAD "\"x\":[1]," GOOD_TAIL, "expected a string" },
	{ "bad escape", GOOD_HEAD "\"x\":\"\\q\"," GOOD_TAIL, "unknown escape" },
	{ "lone surrogate", GOOD_HEAD "\"x\":\"\\ud83d\"," GOOD_TAIL, "unpaired surrogate" },
	{ "escaped NUL", GOOD_HEAD "\"x\":\"a\\u0000b\"," GOOD_TAIL, "bad \\u escape" },
	{ "raw control character", GOOD_HEAD "\"x\":\"a\tb\"," GOOD_TAIL, "control character" },
	{ "invalid UTF-8", GOOD_HEAD "\"x\":\"\xc3\x28\"," GOOD_TAIL, "invalid UTF-8" },
	{ "overlong UTF-8", GOOD_HEAD "\"x\":\"\xc0\xaf\"," GOOD_TAIL, "invalid UTF-8" },
	{ "huge number", "{\"v\":12345678901234567890}", "number too large" },
};

START_TEST(test_hostile_json)
{
	const struct json_case *c = &json_cases[_i];
	struct seal_policy p;
	char *err = NULL;
	int rc = seal_policy_parse(c->json, strlen(c->json), &p, &err);

	if (c->want == NULL) {
		ck_assert_msg(rc == 0, "%s: got error %s, want it to parse", c->name, err);
		seal_policy_free(&p);
	} else {
		ck_assert_msg(rc != 0, "%s: parsed, want an error with \"%s\"", c->name, c->want);
		ck_assert_msg(strstr(err, c->want) != NULL, "%s: got \"%s\", want \"%s\"", c->name, err, c->want);
		ck_assert_ptr_null(p.seal_id);
	}
	free(err);
}
END_TEST

START_TEST(test_limits)
{
	struct sbuf b;
	struct seal_policy p;
	char *err = NULL;
	size_t i;

	/* An array of more than 10,000 items. */
	sbuf_init(&b, 0);
	sbuf_adds(&b, GOOD_HEAD "\"x\":[");
	for (i = 0; i < 10001; i++)
		sbuf_adds(&b, i ? ",\"a\"" : "\"a\"");
	sbuf_adds(&b, "]," GOOD_TAIL);
	ck_assert_int_ne(seal_policy_parse(b.data, b.len, &p, &err), 0);
	ck_assert_msg(strstr(err, "array too long") || strstr(err, "larger than"), "got %s", err);
	free(err);
	sbuf_free(&b);
	/* A string of more than 4096 bytes. */
	sbuf_init(&b, 0);
	sbuf_adds(&b, GOOD_HEAD "\"x\":\"");
	for (i = 0; i < 5000; i++)
		sbuf_addc(&b, 'a');
	sbuf_adds(&b, "\"," GOOD_TAIL);
	ck_assert_int_ne(seal_policy_parse(b.data, b.len, &p, &err), 0);
	ck_assert_msg(strstr(err, "string too long"), "got %s", err);
	free(err);
	sbuf_free(&b);
	/* Over the whole-policy cap. */
	sbuf_init(&b, 0);
	for (i = 0; i < SEAL_POLICY_MAX + 1; i++)
		sbuf_addc(&b, ' ');
	ck_assert_int_ne(seal_policy_parse(b.data, b.len, &p, &err), 0);
	ck_assert_msg(strstr(err, "larger than"), "got %s", err);
	free(err);
	sbuf_free(&b);
}
END_TEST

/* The policy travels as a signed attribute and parses back on the other side. */
START_TEST(test_policy_in_sealed_object)
{
	char *dir = strdup("/tmp/sealtest-pol-XXXXXX"), *err = NULL, *yaml = NULL, *json, *got = NULL, *cmd = NULL;
	struct seal_template t = tpl(RIGHT_VIEW, 3600, 0);
	char *rcpts[] = { (char *)"bob@partner.test" };
	struct seal_config *c;
	struct seal_policy p;
	size_t len, glen;
	BIO *in, *out, *back;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_msg(seal_keys_generate("tenant", 2048, dir, "t", &err) == 0, "%s", err);
	ck_assert_msg(seal_keys_generate("issuer", 0, dir, "i", &err) == 0, "%s", err);
	ck_assert_int_ge(asprintf(&yaml, TU_ORG "keys:\n  tenant: [ { id: t, cert: %s/t.pem, key: %s/t.key } ]\n"
	    "  issuer: { cert: %s/i.pem, key: %s/i.key }\n", dir, dir, dir, dir), 0);
	c = tu_config(yaml);
	json = seal_policy_build(&t, "alice@example.com", rcpts, 1, "<m1@example.com>", time(NULL), &len);
	in = BIO_new_mem_buf("Subject: x\r\n\r\nbody\r\n", -1);
	out = BIO_new(BIO_s_mem());
	ck_assert_msg(seal_cms_make(&c->keys, json, len, NULL, in, out, &err) == 0, "%s", err);
	back = BIO_new(BIO_s_mem());
	ck_assert_int_eq(seal_cms_open(&c->keys, out, 1 << 20, &got, &glen, back, &err), SEAL_OPEN_OK);
	ck_assert_msg(seal_policy_parse(got, glen, &p, &err) == 0, "%s", err);
	ck_assert_str_eq(p.message_id, "<m1@example.com>");
	ck_assert(!seal_policy_expired(&p, time(NULL)));
	ck_assert(seal_policy_allows(&p, "bob@partner.test"));
	seal_policy_free(&p);
	BIO_free(in);
	BIO_free(out);
	BIO_free(back);
	free(got);
	free(json);
	free(yaml);
	config_unref(c);
	ck_assert_int_ge(asprintf(&cmd, "rm -rf %s", dir), 0);
	ck_assert_int_eq(system(cmd), 0);
	free(cmd);
	free(dir);
}
END_TEST

static Suite *
policy_suite(void)
{
	Suite *s = suite_create("policy");
	TCase *tc = tcase_create("policy");

	tcase_add_loop_test(tc, test_template_errors, 0, (int)(sizeof(tpl_errs) / sizeof(tpl_errs[0])));
	tcase_add_test(tc, test_templates_and_logo);
	tcase_add_test(tc, test_round_trip);
	tcase_add_loop_test(tc, test_hostile_json, 0, (int)(sizeof(json_cases) / sizeof(json_cases[0])));
	tcase_add_test(tc, test_limits);
	tcase_add_test(tc, test_policy_in_sealed_object);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run_suite(policy_suite());
}
