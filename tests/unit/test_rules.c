/*
 * test_rules.c - every condition, combinator and action, table-driven:
 * a condition (the YAML of "if:"), a message and its envelope, and whether
 * the rule must fire (and the reason it must give).
 */
#include "build-config.h"

#include "rules/policy.h"
#include "testutil.h"

#define HDRS "From: Alice <alice@example.com>\nTo: bob@partner.test\nMessage-ID: <m1@example.com>\n"
#define PLAIN(subject, body) HDRS "Subject: " subject "\n\n" body "\n"

static const char *const MULTI =
    HDRS "Subject: files\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b\"\n\n"
    "--b\nContent-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n\n"
    "Gr=FC=DFe, the numbers are attached.\n"
    "--b\nContent-Type: text/html; charset=utf-8\n\n<p>Secret <b>plan</b></p>\n"
    "--b\nContent-Type: application/x-msdownload\nContent-Disposition: attachment; filename=\"setup.EXE\"\n"
    "Content-Transfer-Encoding: base64\n\nTVqQAAMAAAAEAAAA\n"
    "--b\nContent-Type: application/pdf\nContent-Disposition: attachment; filename*=utf-8''r%C3%A9sum%C3%A9.pdf\n\n"
    "%PDF-1.4 0123456789012345678901234567890123456789\n"
    "--b--\n";

struct rule_case {
	const char *name;
	const char *cond;          /* YAML for if: */
	struct tu_msg msg;
	int fire;
	const char *why;           /* substring of the reason when it fires */
};

#define OUT_TO { "<bob@partner.test>" }
#define IN_TO { "<bob@example.com>" }

static const struct rule_case cases[] = {
	/* direction */
	{ "outbound from trusted net", "{ direction: outbound }", { .eml = PLAIN("x", "y") }, 1, "direction is outbound" },
	{ "outbound needs org sender", "{ direction: outbound }", { .from = "<x@other.test>", .eml = PLAIN("x", "y") }, 0, NULL },
	{ "untrusted ip is inbound", "{ direction: inbound }", { .ip = "192.0.2.7", .eml = PLAIN("x", "y") }, 1, "inbound" },
	{ "untrusted ip with auth is outbound", "{ direction: outbound }", { .ip = "192.0.2.7", .auth = "alice",
	  .eml = PLAIN("x", "y") }, 1, NULL },
	{ "internal", "{ direction: internal }", { .to = IN_TO, .eml = PLAIN("x", "y") }, 1, "direction is internal" },
	{ "internal is also outbound", "{ direction: outbound }", { .to = IN_TO, .eml = PLAIN("x", "y") }, 1, NULL },
	{ "external excludes internal", "{ direction: external }", { .to = IN_TO, .eml = PLAIN("x", "y") }, 0, NULL },
	{ "mixed recipients are external", "{ direction: external }", { .to = { "<a@example.com>", "<b@partner.test>" },
	  .eml = PLAIN("x", "y") }, 1, NULL },
	{ "direction list", "{ direction: [inbound, internal] }", { .to = IN_TO, .eml = PLAIN("x", "y") }, 1, NULL },
	{ "null sender is inbound", "{ direction: inbound }", { .from = "<>", .eml = PLAIN("x", "y") }, 1, NULL },
	{ "subdomain of org counts", "{ direction: outbound }", { .from = "<a@mail.example.org>", .eml = PLAIN("x", "y") }, 1, NULL },
	/* sender */
	{ "sender address", "{ sender: alice@example.com }", { .eml = PLAIN("x", "y") }, 1, "sender <alice@example.com>" },
	{ "sender address case-insensitive", "{ sender: ALICE@Example.COM }", { .eml = PLAIN("x", "y") }, 1, NULL },
	{ "sender domain", "{ sender: { domain: example.com } }", { .eml = PLAIN("x", "y") }, 1, NULL },
	{ "sender wrong domain", "{ sender: { domain: example.org } }", { .eml = PLAIN("x", "y") }, 0, NULL },
	{ "sender glob", "{ sender: { glob: 'ali*@*.com' } }", { .eml = PLAIN("x", "y") }, 1, NULL },
	{ "sender glob in list", "{ sender: ['*@nowhere.test', 'a*@example.com'] }", { .eml = PLAIN("x", "y") }, 1, NULL },
	{ "sender regex", "{ sender: { regex: '^al.ce@' } }", { .eml = PLAIN("x", "y") }, 1, NULL },
	{ "sender in organization", "{ sender: { in: organization } }", { .eml = PLAIN("x", "y") }, 1, NULL },
	{ "sender not_in organization", "{ sender: { not_in: organization } }", { .eml = PLAIN("x", "y") }, 0, NULL },
	{ "sender not_in list", "{ sender: { not_in: [partner.test, ceo@example.com] } }", { .eml = PLAIN("x", "y") }, 1, NULL },
	{ "sender two criteria must both hold", "{ sender: { domain: example.com, regex: '^bob' } }",
	  { .eml = PLAIN("x", "y") }, 0, NULL },
	/* recipients */
	{ "any recipient not in org", "{ recipients: { any: { not_in: organization } } }",
	  { .to = { "<a@example.com>", "<b@partner.test>" }, .eml = PLAIN("x", "y") }, 1, "recipient <b@partner.test> matches" },
	{ "no external recipient", "{ recipients: { any: { not_in: organization } } }",
	  { .to = { "<a@example.com>", "<c@example.org>" }, .eml = PLAIN("x", "y") }, 0, NULL },
	{ "all recipients", "{ recipients: { all: { domain: example.com } } }",
	  { .to = { "<a@example.com>", "<c@sub.example.com>" }, .eml = PLAIN("x", "y") }, 1, "all 2 recipients match" },
	{ "not all recipients", "{ recipients: { all: { domain: example.com } } }",
	  { .to = { "<a@example.com>", "<c@partner.test>" }, .eml = PLAIN("x", "y") }, 0, NULL },
	{ "none of the recipients", "{ recipients: { none: [ceo@example.com] } }",
	  { .to = { "<a@example.com>" }, .eml = PLAIN("x", "y") }, 1, "no recipient matches" },
	{ "none fails when one matches", "{ recipients: { none: [ceo@example.com] } }",
	  { .to = { "<a@example.com>", "<CEO@example.com>" }, .eml = PLAIN("x", "y") }, 0, NULL },
	{ "bare list means any", "{ recipients: [partner.test] }", { .eml = PLAIN("x", "y") }, 1, NULL },
	{ "recipient regex", "{ recipients: { regex: '^b.b@' } }", { .eml = PLAIN("x", "y") }, 1, NULL },
	/* subject */
	{ "subject contains", "{ subject: { contains: ['[secure]'] } }", { .eml = PLAIN("[secure] plan", "y") }, 1,
	  "subject contains \"[secure]\"" },
	{ "subject case-insensitive", "{ subject: '[SECURE]' }", { .eml = PLAIN("[Secure] plan", "y") }, 1, NULL },
	{ "subject absent", "{ subject: '[secure]' }", { .eml = HDRS "\nbody\n" }, 0, NULL },
	{ "subject RFC 2047", "{ subject: 'vertraulich' }", { .eml = PLAIN("=?utf-8?q?Streng_VERTRAULICH_=C3=BC?=", "y") }, 1, NULL },
	{ "subject regex", "{ subject: { regex: '^re:\\s+\\[enc' } }", { .eml = PLAIN("RE:  [encrypt] x", "y") }, 1,
	  "subject matches" },
	{ "subject regex no match", "{ subject: { regex: '^\\[enc' } }", { .eml = PLAIN("RE: [encrypt] x", "y") }, 0, NULL },
	{ "subject folded (unfolding keeps the space)", "{ subject: 'secure plan' }",
	  { .eml = HDRS "Subject: the secure\n plan\n\nx\n" }, 1, NULL },
	{ "subject folded joins", "{ subject: 'secure plan' }", { .eml = HDRS "Subject: the secure\n  plan\n\nx\n" }, 0, NULL },
	{ "subject unfolded text", "{ subject: 'secure  plan' }", { .eml = HDRS "Subject: the secure\n  plan\n\nx\n" }, 1, NULL },
	/* header */
	{ "header exists", "{ header: { name: Sensitivity } }", { .eml = HDRS "Sensitivity: Company-Confidential\n\nx\n" }, 1,
	  "header Sensitivity exists" },
	{ "header name case-insensitive", "{ header: { name: SENSITIVITY, exists: true } }",
	  { .eml = HDRS "sensitivity: Private\n\nx\n" }, 1, NULL },
	{ "header absent", "{ header: { name: Sensitivity, exists: false } }", { .eml = PLAIN("x", "y") }, 1, "is absent" },
	{ "header present but must be absent", "{ header: { name: Sensitivity, exists: false } }",
	  { .eml = HDRS "Sensitivity: Private\n\nx\n" }, 0, NULL },
	{ "header contains", "{ header: { name: Sensitivity, contains: confidential } }",
	  { .eml = HDRS "Sensitivity: Company-Confidential\n\nx\n" }, 1, "contains \"confidential\"" },
	{ "msip_labels label", "{ header: { name: msip_labels, regex: 'MSIP_Label_[0-9a-f-]+_Name=Highly Confidential' } }",
	  { .eml = HDRS "msip_labels: MSIP_Label_a1b2-c3_Enabled=true;\n MSIP_Label_a1b2-c3_Name=Highly Confidential;\n\nx\n" },
	  1, NULL },
	{ "header second occurrence", "{ header: { name: X-Class, contains: secret } }",
	  { .eml = HDRS "X-Class: public\nX-Class: secret\n\nx\n" }, 1, NULL },
	/* body */
	{ "body contains", "{ body: { contains: [merger] } }", { .eml = PLAIN("x", "The Merger is on.") }, 1, "body contains" },
	{ "body contains absent", "{ body: merger }", { .eml = PLAIN("x", "Nothing here.") }, 0, NULL },
	{ "body regex", "{ body: { regex: 'project\\s+\\w+' } }", { .eml = PLAIN("x", "Project   Falcon") }, 1, NULL },
	{ "body card pattern with luhn", "{ body: { pattern: card } }", { .eml = PLAIN("x", "card 4111-1111-1111-1111 ok") }, 1,
	  "matches pattern card" },
	{ "body card pattern fails luhn", "{ body: { pattern: card } }", { .eml = PLAIN("x", "card 4111-1111-1111-1112 ok") }, 0,
	  NULL },
	{ "card followed by a reference group", "{ body: { pattern: card } }",
	  { .eml = PLAIN("x", "card 4111 1111 1111 1111 123") }, 1, NULL },
	{ "reference group followed by a card", "{ body: { pattern: card } }",
	  { .eml = PLAIN("x", "ref 12 4111 1111 1111 1111") }, 1, NULL },
	{ "a run of digits is judged whole", "{ body: { pattern: card } }",
	  { .eml = PLAIN("x", "id 4111111111111111123") }, 0, NULL },
	{ "utf-16 with an odd trailing byte is still read", "{ body: secret }",
	  { .eml = HDRS "Content-Type: text/plain; charset=utf-16le\nContent-Transfer-Encoding: base64\n\n"
	    "cwBlAGMAcgBlAHQAIAB4AHgA/w==\n" }, 1, NULL },
	{ "body decoded from quoted-printable latin-1", "{ body: 'grüße' }", { .eml = MULTI }, 1, NULL },
	{ "body looks at html parts", "{ body: secret }", { .eml = MULTI }, 1, NULL },
	{ "body ignores binary attachments", "{ body: PDF-1.4 }", { .eml = MULTI }, 0, NULL },
	{ "html: a word split by tags", "{ body: topsecret }",
	  { .eml = HDRS "Content-Type: text/html\n\n<p>TOP<b></b>SECRET</p>\n" }, 1, NULL },
	{ "html: a stray < does not hide text", "{ body: topsecret }",
	  { .eml = HDRS "Content-Type: text/html\n\n<p>if a < b then TOPSECRET</p>\n" }, 1, NULL },
	{ "html: entities are decoded", "{ body: topsecret }",
	  { .eml = HDRS "Content-Type: text/html\n\n&#84;OP&#x53;ECRET &amp; more\n" }, 1, NULL },
	{ "html: markup is not text", "{ body: 'href' }",
	  { .eml = HDRS "Content-Type: text/html\n\n<a href=\"x\">link</a>\n" }, 0, NULL },
	{ "a text/csv attachment is scanned", "{ body: { pattern: card } }",
	  { .eml = HDRS "Subject: csv\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"c\"\n\n"
	    "--c\nContent-Type: text/plain\n\nsee attached\n--c\nContent-Type: text/csv\n"
	    "Content-Disposition: attachment; filename=\"cards.csv\"\n\nname,card\nbob,4111 1111 1111 1111\n--c--\n" }, 1, NULL },
	{ "body base64 text", "{ body: 'hello world' }", { .eml = HDRS "Content-Transfer-Encoding: base64\n\naGVsbG8gd29ybGQ=\n" },
	  1, NULL },
	/* attachment */
	{ "attachment filename glob", "{ attachment: { filename: ['*.exe', '*.scr'] } }", { .eml = MULTI }, 1,
	  "attachment \"setup.EXE\"" },
	{ "attachment RFC 2231 filename", "{ attachment: { filename: 'résumé.*' } }", { .eml = MULTI }, 1, NULL },
	{ "attachment no match", "{ attachment: { filename: '*.zip' } }", { .eml = MULTI }, 0, NULL },
	{ "attachment named differently in Content-Type", "{ attachment: { filename: '*.exe' } }",
	  { .eml = HDRS "Subject: x\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"d\"\n\n--d\n"
	    "Content-Type: application/octet-stream; name=\"invoice.exe\"\n"
	    "Content-Disposition: attachment; filename=\"invoice.pdf\"\n\nMZ\n--d--\n" }, 1, "also named \"invoice.exe\"" },
	{ "attachment content type", "{ attachment: { content_type: 'application/x-ms*' } }", { .eml = MULTI }, 1, NULL },
	{ "attachment size over", "{ attachment: { content_type: application/pdf, size: { over: 20 } } }", { .eml = MULTI }, 1,
	  NULL },
	{ "attachment size under", "{ attachment: { content_type: application/pdf, size: { under: 20 } } }", { .eml = MULTI },
	  0, NULL },
	{ "attachment both keys must match one part", "{ attachment: { filename: '*.exe', content_type: application/pdf } }",
	  { .eml = MULTI }, 0, NULL },
	/* size */
	{ "size over", "{ size: { over: 100 } }", { .eml = MULTI }, 1, "size " },
	{ "size under", "{ size: { under: 100 } }", { .eml = MULTI }, 0, NULL },
	{ "size over and under", "{ size: { over: 10, under: 100000 } }", { .eml = MULTI }, 1, NULL },
	/* combinators */
	{ "implicit all", "{ direction: outbound, subject: x }", { .eml = PLAIN("x", "y") }, 1, NULL },
	{ "implicit all fails", "{ direction: inbound, subject: x }", { .eml = PLAIN("x", "y") }, 0, NULL },
	{ "any", "{ any: [ { subject: nope }, { body: yes } ] }", { .eml = PLAIN("x", "yes") }, 1, "body contains" },
	{ "any fails", "{ any: [ { subject: nope }, { body: nope } ] }", { .eml = PLAIN("x", "yes") }, 0, NULL },
	{ "all", "{ all: [ { subject: x }, { body: yes } ] }", { .eml = PLAIN("x", "yes") }, 1, NULL },
	{ "not", "{ not: { subject: nope } }", { .eml = PLAIN("x", "y") }, 1, "not (subject)" },
	{ "not fails", "{ not: { subject: x } }", { .eml = PLAIN("x", "y") }, 0, NULL },
	{ "not of two keys is not(a and b)", "{ not: { subject: x, body: nope } }", { .eml = PLAIN("x", "y") }, 1, NULL },
	{ "nested", "{ any: [ { all: [ { direction: inbound }, { subject: x } ] }, { not: { sender: { in: organization } } } ] }",
	  { .eml = PLAIN("x", "y") }, 0, NULL },
	{ "list item with two keys is an all", "{ any: [ { subject: x, body: nope }, { body: nope2 } ] }",
	  { .eml = PLAIN("x", "y") }, 0, NULL },
};

#define CFG_HEAD TU_ORG "patterns:\n  card: { regex: '\\b(?:\\d[ -]?){13,19}\\b', check: luhn }\n"

START_TEST(test_conditions)
{
	const struct rule_case *c = &cases[_i];
	char *yaml = NULL;
	struct seal_config *cfg;
	struct seal_session *s;
	const struct seal_result *r;
	int fired;

	ck_assert_int_ge(asprintf(&yaml, CFG_HEAD "rules:\n  - name: r\n    if: %s\n    then: { tag: { header: X-T, value: v } }\n",
	    c->cond), 0);
	cfg = tu_config(yaml);
	s = tu_run(cfg, &c->msg);
	r = seal_session_eom(s);
	fired = tu_fired(r, "r");
	ck_assert_msg(fired == c->fire, "case '%s': got fired=%d, want %d (log: %s)", c->name, fired, c->fire, r->summary);
	if (c->fire && c->why)
		ck_assert_msg(strstr(r->decision.fired[0].why, c->why) != NULL, "case '%s': got why \"%s\", want it to contain \"%s\"",
		    c->name, r->decision.fired[0].why, c->why);
	seal_session_free(s);
	config_unref(cfg);
	free(yaml);
}
END_TEST

/* ---- actions ------------------------------------------------------------ */

static struct seal_session *
run_policy(const char *rules, const struct tu_msg *m, struct seal_config **cfgp)
{
	char *yaml = NULL;

	ck_assert_int_ge(asprintf(&yaml, CFG_HEAD "rules:\n%s", rules), 0);
	*cfgp = tu_config(yaml);
	free(yaml);
	return tu_run(*cfgp, m);
}

START_TEST(test_tag_and_order)
{
	struct tu_msg m = { .eml = HDRS "Subject: [secure] Plan\nX-Sealmilter-Rule: forged\n\nbody\n" };
	struct seal_config *cfg;
	struct seal_session *s = run_policy(
	    "  - name: one\n    if: { subject: '[secure]' }\n    then: { tag: { header: X-Sealmilter-Rule, value: one } }\n"
	    "  - name: two\n    then: { tag: [ { header: X-Sealmilter-Rule, value: two }, { header: X-Other, value: o } ] }\n",
	    &m, &cfg);
	const struct seal_result *r = seal_session_eom(s);
	char *out = tu_output(s);

	ck_assert_int_eq(r->verdict, VERDICT_ACCEPT);
	ck_assert(tu_fired(r, "one") && tu_fired(r, "two"));
	/* The forged header is gone; tags come in rule order; then the marker. */
	ck_assert_ptr_null(strstr(out, "forged"));
	ck_assert_msg(strstr(out, "X-Sealmilter-Rule: one\nX-Sealmilter-Rule: two\nX-Other: o\nX-Sealmilter-Marker: v=1; t=")
	    != NULL, "got:\n%s", out);
	ck_assert_uint_eq(r->edits[0].kind, EDIT_DELETE_HEADER);
	ck_assert_str_eq(r->edits[0].name, "X-Sealmilter-Rule");
	free(out);
	seal_session_free(s);
	config_unref(cfg);
}
END_TEST

START_TEST(test_reject_and_tempfail)
{
	struct tu_msg m = { .eml = PLAIN("x", "y") };
	struct seal_config *cfg;
	struct seal_session *s = run_policy(
	    "  - name: first\n    then: { tag: { header: X-A, value: a } }\n"
	    "  - name: rej\n    if: { subject: x }\n    then: { reject: \"5.7.1 No thanks\" }\n"
	    "  - name: later\n    then: { tempfail: true }\n", &m, &cfg);
	const struct seal_result *r = seal_session_eom(s);

	ck_assert_int_eq(r->verdict, VERDICT_REJECT);
	ck_assert_str_eq(r->code, "550");
	ck_assert_str_eq(r->xcode, "5.7.1");
	ck_assert_str_eq(r->text, "No thanks");
	ck_assert(!tu_fired(r, "later"));     /* a reply ends evaluation */
	ck_assert_uint_eq(r->nedits, 0);      /* a rejected message gets no edits */
	seal_session_free(s);
	config_unref(cfg);

	s = run_policy("  - name: tf\n    then: { tempfail: { code: 452, status: 4.3.1, text: Try later } }\n", &m, &cfg);
	r = seal_session_eom(s);
	ck_assert_int_eq(r->verdict, VERDICT_TEMPFAIL);
	ck_assert_str_eq(r->code, "452");
	ck_assert_str_eq(r->xcode, "4.3.1");
	ck_assert_str_eq(r->text, "Try later");
	seal_session_free(s);
	config_unref(cfg);

	s = run_policy("  - name: dflt\n    then: { reject: true }\n", &m, &cfg);
	r = seal_session_eom(s);
	ck_assert_str_eq(r->code, "550");
	ck_assert_str_eq(r->text, "Message rejected by policy (rule dflt)");
	seal_session_free(s);
	config_unref(cfg);
}
END_TEST

START_TEST(test_stop)
{
	struct tu_msg m = { .eml = PLAIN("x", "y") };
	struct seal_config *cfg;
	struct seal_session *s = run_policy(
	    "  - name: a\n    if: { subject: nomatch }\n    then: { stop: true }\n"
	    "  - name: b\n    then: { tag: { header: X-B, value: b }, stop: true }\n"
	    "  - name: c\n    then: { tag: { header: X-C, value: c } }\n", &m, &cfg);
	const struct seal_result *r = seal_session_eom(s);

	ck_assert(!tu_fired(r, "a"));
	ck_assert(tu_fired(r, "b"));
	ck_assert(!tu_fired(r, "c"));
	seal_session_free(s);
	config_unref(cfg);
}
END_TEST

struct strip_case {
	const char *name;
	const char *subject;
	const char *cond;
	const char *want;          /* the delivered Subject line */
};

static const struct strip_case strip_cases[] = {
	{ "prefix", "[secure] Q3 contract", "{ contains: ['[secure]'], strip: true }", "Subject: Q3 contract\n" },
	{ "middle and case", "Re: [SECURE] Q3", "{ contains: ['[secure]'], strip: true }", "Subject: Re: Q3\n" },
	{ "two triggers", "[encrypt] a [secure] b", "{ contains: ['[secure]', '[encrypt]'], strip: true }", "Subject: a b\n" },
	{ "regex", "Plan #secure#", "{ regex: '#secure#', strip: true }", "Subject: Plan\n" },
	{ "encoded subject", "=?utf-8?q?=5Bsecure=5D_Gr=C3=BC=C3=9Fe?=", "{ contains: ['[secure]'], strip: true }",
	  "Subject: =?UTF-8?b?R3LDvMOfZQ==?=\n" },
	{ "no strip", "[secure] Q3", "{ contains: ['[secure]'] }", "Subject: [secure] Q3\n" },
};

START_TEST(test_strip)
{
	const struct strip_case *c = &strip_cases[_i];
	char *eml = NULL, *rules = NULL, *out;
	struct tu_msg m;
	struct seal_config *cfg;
	struct seal_session *s;

	ck_assert_int_ge(asprintf(&eml, HDRS "Subject: %s\n\nbody\n", c->subject), 0);
	ck_assert_int_ge(asprintf(&rules, "  - name: s\n    if: { subject: %s }\n    then: { tag: { header: X-S, value: s } }\n",
	    c->cond), 0);
	memset(&m, 0, sizeof(m));
	m.eml = eml;
	s = run_policy(rules, &m, &cfg);
	out = tu_output(s);
	ck_assert_msg(strstr(out, c->want) != NULL, "case '%s': got\n%s\nwant a line %s", c->name, out, c->want);
	free(out);
	seal_session_free(s);
	config_unref(cfg);
	free(eml);
	free(rules);
}
END_TEST

START_TEST(test_strip_only_when_rule_fires)
{
	/* The subject matches, but the rule as a whole does not fire: no strip. */
	struct tu_msg m = { .eml = PLAIN("[secure] Q3", "y") };
	struct seal_config *cfg;
	struct seal_session *s = run_policy(
	    "  - name: s\n    if: { subject: { contains: '[secure]', strip: true }, direction: inbound }\n"
	    "    then: { tag: { header: X-S, value: s } }\n", &m, &cfg);
	char *out = tu_output(s);

	ck_assert_msg(strstr(out, "Subject: [secure] Q3\n") != NULL, "got:\n%s", out);
	ck_assert_uint_eq(seal_session_eom(s)->nedits, 0);
	free(out);
	seal_session_free(s);
	config_unref(cfg);
}
END_TEST

/* Text longer than limits.body_scan_size is matched window by window. */
struct window_case {
	const char *name;
	size_t pad;                /* bytes of padding before the secret */
	const char *ctype;         /* top-level Content-Type, or NULL */
	const char *prefix;        /* body before the padding (e.g. a preamble) */
	int fire;
};

static const struct window_case window_cases[] = {
	{ "in the first window", 10, NULL, "", 1 },
	{ "after several windows", 5000, NULL, "", 1 },
	{ "across a window edge", 1024 - 4, NULL, "", 1 },
	{ "after preamble padding", 3000, "multipart/mixed; boundary=b", "", 1 },
	{ "absent", 5000, NULL, "", 0 },
};

START_TEST(test_body_windows)
{
	const struct window_case *c = &window_cases[_i];
	struct seal_config *cfg = tu_config(CFG_HEAD "limits: { body_scan_size: 1K }\nrules:\n  - name: s\n"
	    "    if: { body: { contains: TOPSECRET } }\n    then: { tag: { header: X-S, value: s } }\n"
	    "  - name: card\n    if: { body: { pattern: card } }\n    then: { tag: { header: X-C, value: c } }\n");
	struct sbuf b;
	struct tu_msg m;
	struct seal_session *ss;
	size_t i;

	sbuf_init(&b, 0);
	sbuf_adds(&b, HDRS "Subject: w\n");
	if (c->ctype)
		sbuf_printf(&b, "Content-Type: %s\n", c->ctype);
	sbuf_adds(&b, "\n");
	sbuf_adds(&b, c->prefix);
	for (i = 0; i < c->pad; i++)
		sbuf_addc(&b, i % 64 == 63 ? '\n' : ' ');
	sbuf_adds(&b, c->fire ? "TOPSECRET 4111 1111 1111 1111\n" : "nothing here\n");
	if (c->ctype)
		sbuf_adds(&b, "--b\nContent-Type: text/plain\n\nshort part\n--b--\n");
	memset(&m, 0, sizeof(m));
	m.eml = b.data;
	ss = tu_run(cfg, &m);
	ck_assert_msg(tu_fired(seal_session_eom(ss), "s") == c->fire, "%s: contains: got fired=%d, want %d (%s)", c->name,
	    !c->fire, c->fire, seal_session_eom(ss)->summary);
	ck_assert_msg(tu_fired(seal_session_eom(ss), "card") == c->fire, "%s: card pattern: got fired=%d, want %d", c->name,
	    !c->fire, c->fire);
	seal_session_free(ss);
	config_unref(cfg);
	sbuf_free(&b);
}
END_TEST

static Suite *
rules_suite(void)
{
	Suite *su = suite_create("rules");
	TCase *tc = tcase_create("rules");

	tcase_add_loop_test(tc, test_conditions, 0, (int)(sizeof(cases) / sizeof(cases[0])));
	tcase_add_test(tc, test_tag_and_order);
	tcase_add_test(tc, test_reject_and_tempfail);
	tcase_add_test(tc, test_stop);
	tcase_add_loop_test(tc, test_strip, 0, (int)(sizeof(strip_cases) / sizeof(strip_cases[0])));
	tcase_add_test(tc, test_strip_only_when_rule_fires);
	tcase_add_loop_test(tc, test_body_windows, 0, (int)(sizeof(window_cases) / sizeof(window_cases[0])));
	suite_add_tcase(su, tc);
	return su;
}

int
main(void)
{
	return tu_run_suite(rules_suite());
}
