/* test_session.c - unit tests for engine/session.c, driven through tu_run()
 * and tu_output() (as sealctl process does) and through the session API
 * directly.
 *
 * Covers: untouched pass-through (byte-identical output); tags replacing
 * forged headers and adding the loop-guard marker; the loop guard (valid,
 * tampered, stale, future and foreign-key markers); every limit (headers,
 * header size, message size, recipients, MIME depth and parts) giving
 * 552 5.3.4; spooling a large body to disk and leaving nothing behind;
 * milter.on_error for evaluation errors and for seal_session_fail(); and
 * the direction (inbound, outbound, internal). */
#include "build-config.h"

#include <dirent.h>
#include <sys/stat.h>
#include <time.h>

#include "common/metrics.h"
#include "common/spool.h"
#include "engine/logline.h"
#include "engine/marker.h"
#include "engine/stats.h"
#include "testutil.h"

#define ORG "organization: { name: Example, domains: [example.com, example.org], " \
	"trusted_networks: [127.0.0.0/8, 10.1.0.0/16] }\n"

#define TAG_RULE \
	"rules:\n" \
	"  - name: tag-secret\n" \
	"    if: { subject: { contains: [secret] } }\n" \
	"    then: { tag: { header: X-Seal-Class, value: confidential } }\n"

#define MARKER "X-Sealmilter-Marker"

#define ID_HEADERS \
	"From: Alice <alice@example.com>\n" \
	"To: Bob <bob@partner.test>\n" \
	"Date: Mon, 02 Nov 2026 10:00:00 +0000\n" \
	"Message-ID: <m1@example.com>\n"

/* ---- helpers ------------------------------------------------------------ */

static int
count_edits(const struct seal_result *r, enum edit_kind kind, const char *name)
{
	size_t i;
	int n = 0;

	for (i = 0; i < r->nedits; i++)
		if (r->edits[i].kind == kind && strcasecmp(r->edits[i].name, name) == 0)
			n++;
	return n;
}

/* Occurrences of needle in hay. */
static int
count_str(const char *hay, const char *needle)
{
	int n = 0;
	const char *p = hay;

	while ((p = strstr(p, needle)) != NULL) {
		n++;
		p += strlen(needle);
	}
	return n;
}

static const char *
verdict_name(int v)
{
	return v == VERDICT_ACCEPT ? "accept" : v == VERDICT_REJECT ? "reject" : v == VERDICT_TEMPFAIL ? "tempfail"
	    : "?";
}

#define OR_NONE(s) ((s) ? (s) : "(none)")

/* Show where two byte strings differ. */
static void
assert_bytes(const char *got, size_t glen, const char *want, size_t wlen, const char *what)
{
	size_t i = 0, n = glen < wlen ? glen : wlen;

	if (glen == wlen && memcmp(got, want, glen) == 0)
		return;
	while (i < n && got[i] == want[i])
		i++;
	ck_abort_msg("%s: output differs at byte %zu (got %zu bytes, want %zu): got \"%.50s\", want \"%.50s\"", what, i,
	    glen, wlen, got + (i > 10 ? i - 10 : 0), want + (i > 10 ? i - 10 : 0));
}

/* A key file of 48 bytes, mode 0600; returns its path (malloc'd). */
static char *
key_file(const char *seed)
{
	char *key = NULL, *path;

	ck_assert_int_ge(asprintf(&key, "%s-0123456789abcdefghijklmnopqrstuvwxyz0123456789", seed), 0);
	path = tu_write_temp(key, ".key");
	ck_assert_int_eq(chmod(path, 0600), 0);
	free(key);
	return path;
}

/* A configuration whose marker key comes from a file made from seed. */
static struct seal_config *
keyed_config(const char *seed)
{
	char *path = key_file(seed), *yaml = NULL;
	struct seal_config *c;

	ck_assert_int_ge(asprintf(&yaml, ORG "milter: { spool_dir: /tmp, marker_key_file: %s }\n" TAG_RULE, path), 0);
	c = tu_config(yaml);
	unlink(path);
	free(path);
	free(yaml);
	return c;
}

/* Entries in a directory, . and .. left out. */
static int
dir_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

/* ---- pass-through ------------------------------------------------------- */

static const struct pass_case {
	const char *name;
	const char *eml;
	const char *eol;
} pass_cases[] = {
	{ "plain", ID_HEADERS "Subject: lunch\nMIME-Version: 1.0\n\nHello Bob,\n\nsee you.\n", "\n" },
	{ "folded and empty headers", ID_HEADERS "Subject: lunch\nX-Folded: first\n\tsecond\n  third\nX-Empty:\n"
	  "X-NoSpace:value\n\nbody\n", "\n" },
	{ "no final line end", ID_HEADERS "Subject: lunch\n\nno newline at the end", "\n" },
	{ "empty body", ID_HEADERS "Subject: lunch\n\n", "\n" },
	{ "multipart", ID_HEADERS "Subject: files\nContent-Type: multipart/mixed; boundary=b\n\n"
	  "--b\nContent-Type: text/plain\n\nhi\n--b\nContent-Type: application/pdf\n"
	  "Content-Disposition: attachment; filename=a.pdf\n\n%PDF\n--b--\n", "\n" },
	{ "CRLF written with CRLF", "From: alice@example.com\r\nSubject: lunch\r\nX-Folded: a\r\n b\r\n\r\n"
	  "line 1\r\nline 2\r\n", "\r\n" },
	{ "8-bit header and body", ID_HEADERS "Subject: caf\xe9\n\nGr\xfc\xdf" "e\n", "\n" },
};

START_TEST(test_pass_through)
{
	const struct pass_case *c = &pass_cases[_i];
	struct seal_config *cfg = tu_config(TU_ORG TAG_RULE);
	struct tu_msg m = { .eml = c->eml };
	struct seal_session *s = tu_run(cfg, &m);
	const struct seal_result *r = seal_session_eom(s);
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);

	ck_assert_msg(r->verdict == VERDICT_ACCEPT, "%s: verdict: got %s, want accept", c->name, verdict_name(r->verdict));
	ck_assert_msg(r->nedits == 0, "%s: edits: got %zu, want 0", c->name, r->nedits);
	ck_assert_msg(r->decision.nfired == 0, "%s: rules fired: got %zu, want 0", c->name, r->decision.nfired);
	ck_assert_msg(r->already_processed == 0, "%s: already_processed: got 1, want 0", c->name);
	ck_assert_ptr_nonnull(out);
	ck_assert_int_eq(seal_session_write(s, out, c->eol), 0);
	fclose(out);
	assert_bytes(buf, len, c->eml, strlen(c->eml), c->name);
	ck_assert_msg(strstr(r->summary, "rules=none") && strstr(r->summary, "verdict=accept"),
	    "%s: summary: got \"%s\", want rules=none and verdict=accept", c->name, r->summary);
	free(buf);
	seal_session_free(s);
	config_unref(cfg);
}
END_TEST

/* ---- tags --------------------------------------------------------------- */

static const struct tag_case {
	const char *name;
	const char *forged;          /* header lines of the sender's own X-Seal-Class fields */
	int ndeletes;
} tag_cases[] = {
	{ "no forged header", "", 0 },
	{ "one forged header", "X-Seal-Class: public\n", 1 },
	{ "forged headers in other case, folded", "x-seal-class: public\nX-SEAL-CLASS: also\n forged\n", 2 },
};

START_TEST(test_tag)
{
	const struct tag_case *c = &tag_cases[_i];
	struct seal_config *cfg = tu_config(TU_ORG TAG_RULE);
	char *eml = NULL, *want = NULL, *got;
	const char *mval;
	struct tu_msg m = { 0 };
	struct seal_session *s;
	const struct seal_result *r;
	size_t i;

	ck_assert_int_ge(asprintf(&eml, ID_HEADERS "%sSubject: secret plans\n\nthe body\n", c->forged), 0);
	m.eml = eml;
	s = tu_run(cfg, &m);
	r = seal_session_eom(s);
	ck_assert_msg(r->verdict == VERDICT_ACCEPT, "%s: verdict: got %s, want accept", c->name, verdict_name(r->verdict));
	ck_assert_msg(tu_fired(r, "tag-secret"), "%s: rule tag-secret did not fire", c->name);
	ck_assert_msg(r->nedits == (size_t)c->ndeletes + 2, "%s: edits: got %zu, want %d", c->name, r->nedits,
	    c->ndeletes + 2);
	/* Deletes first, highest index first, so none shifts one still to come. */
	for (i = 0; i < (size_t)c->ndeletes; i++) {
		const struct edit *e = &r->edits[i];
		ck_assert_msg(e->kind == EDIT_DELETE_HEADER && strcasecmp(e->name, "X-Seal-Class") == 0 &&
		    e->index == c->ndeletes - (int)i, "%s: edit %zu: got kind %d %s index %d, want delete X-Seal-Class index %d",
		    c->name, i, (int)e->kind, e->name, e->index, c->ndeletes - (int)i);
	}
	ck_assert_msg(r->edits[i].kind == EDIT_ADD_HEADER && strcmp(r->edits[i].name, "X-Seal-Class") == 0 &&
	    strcmp(r->edits[i].value, " confidential") == 0, "%s: edit %zu: got %s:%s, want add X-Seal-Class: confidential",
	    c->name, i, r->edits[i].name, OR_NONE(r->edits[i].value));
	i++;
	ck_assert_msg(r->edits[i].kind == EDIT_ADD_HEADER && strcmp(r->edits[i].name, MARKER) == 0 &&
	    strncmp(r->edits[i].value, " v=1; t=", 8) == 0, "%s: edit %zu: got %s:%s, want add " MARKER ": v=1; t=...",
	    c->name, i, r->edits[i].name, OR_NONE(r->edits[i].value));
	mval = r->edits[i].value;
	ck_assert_int_ge(asprintf(&want, ID_HEADERS "Subject: secret plans\nX-Seal-Class: confidential\n" MARKER ":%s\n"
	    "\nthe body\n", mval), 0);
	got = tu_output(s);
	assert_bytes(got, strlen(got), want, strlen(want), c->name);
	free(got);
	free(want);
	free(eml);
	seal_session_free(s);
	config_unref(cfg);
}
END_TEST

/* ---- loop guard --------------------------------------------------------- */

#define SECRET_MSG ID_HEADERS "Subject: secret plans\n\nthe body\n"

/* The output of a tagged message passes through untouched the second time. */
START_TEST(test_marker_loop)
{
	struct seal_config *cfg = tu_config(TU_ORG TAG_RULE);
	struct tu_msg m = { .eml = SECRET_MSG };
	struct seal_session *s1 = tu_run(cfg, &m), *s2;
	const struct seal_result *r;
	char *out1 = tu_output(s1), *out2;

	ck_assert_msg(seal_session_eom(s1)->nedits == 2, "first pass: edits: got %zu, want 2", seal_session_eom(s1)->nedits);
	ck_assert_msg(count_str(out1, MARKER ": v=1; t=") == 1, "first pass: want one marker in \"%s\"", out1);
	m.eml = out1;
	s2 = tu_run(cfg, &m);
	r = seal_session_eom(s2);
	ck_assert_msg(r->already_processed == 1, "second pass: already_processed: got %d, want 1", r->already_processed);
	ck_assert_msg(r->nedits == 0, "second pass: edits: got %zu, want 0", r->nedits);
	ck_assert_msg(r->verdict == VERDICT_ACCEPT, "second pass: verdict: got %s, want accept", verdict_name(r->verdict));
	/* The policy is still evaluated (a reject would still apply); nothing is changed. */
	ck_assert_msg(r->decision.nfired == 1, "second pass: rules fired: got %zu, want 1", r->decision.nfired);
	out2 = tu_output(s2);
	assert_bytes(out2, strlen(out2), out1, strlen(out1), "second pass");
	free(out1);
	free(out2);
	seal_session_free(s1);
	seal_session_free(s2);
	config_unref(cfg);
}
END_TEST

/* One character of the MAC changed: forged, removed, processed again. */
START_TEST(test_marker_tampered)
{
	struct seal_config *cfg = tu_config(TU_ORG TAG_RULE);
	struct tu_msg m = { .eml = SECRET_MSG };
	struct seal_session *s1 = tu_run(cfg, &m), *s2, *s3;
	const struct seal_result *r;
	char *out1 = tu_output(s1), *out2, *mac;

	mac = strstr(out1, "; m=");
	ck_assert_ptr_nonnull(mac);
	mac += 4;
	*mac = *mac == 'A' ? 'B' : 'A';
	m.eml = out1;
	s2 = tu_run(cfg, &m);
	r = seal_session_eom(s2);
	ck_assert_msg(r->already_processed == 0, "tampered: already_processed: got 1, want 0");
	ck_assert_msg(tu_fired(r, "tag-secret"), "tampered: the message was not processed again");
	ck_assert_msg(count_edits(r, EDIT_DELETE_HEADER, MARKER) == 1, "tampered: marker deletes: got %d, want 1",
	    count_edits(r, EDIT_DELETE_HEADER, MARKER));
	ck_assert_msg(count_edits(r, EDIT_DELETE_HEADER, "X-Seal-Class") == 1, "tampered: tag deletes: got %d, want 1",
	    count_edits(r, EDIT_DELETE_HEADER, "X-Seal-Class"));
	ck_assert_msg(count_edits(r, EDIT_ADD_HEADER, MARKER) == 1, "tampered: marker adds: got %d, want 1",
	    count_edits(r, EDIT_ADD_HEADER, MARKER));
	out2 = tu_output(s2);
	ck_assert_msg(count_str(out2, MARKER ":") == 1 && count_str(out2, "X-Seal-Class:") == 1,
	    "tampered: want one marker and one tag in \"%s\"", out2);
	ck_assert_msg(strstr(out2, mac - 4) == NULL, "tampered: the forged marker is still in the output");
	/* The new marker is valid. */
	m.eml = out2;
	s3 = tu_run(cfg, &m);
	ck_assert_msg(seal_session_eom(s3)->already_processed == 1, "third pass: already_processed: got 0, want 1");
	free(out1);
	free(out2);
	seal_session_free(s1);
	seal_session_free(s2);
	seal_session_free(s3);
	config_unref(cfg);
}
END_TEST

/* A marker is bound to the sender, the direction, the header block and the
 * body: a marked message changed in any of them is processed again. */
static const struct replay_case {
	const char *name;
	const char *from;           /* envelope sender of the replay */
	const char *ip;             /* client of the replay */
	const char *find, *repl;    /* an edit of the delivered message */
	int want_valid;
} replay_cases[] = {
	{ "unchanged", "<alice@example.com>", NULL, NULL, NULL, 1 },
	{ "relay adds a Received field", "<alice@example.com>", NULL, "From:", "Received: from relay\nFrom:", 1 },
	{ "another envelope sender", "<mallory@example.com>", NULL, NULL, NULL, 0 },
	{ "sent back in from outside", "<alice@example.com>", "192.0.2.66", NULL, NULL, 0 },
	{ "subject changed", "<alice@example.com>", NULL, "Subject: Q3", "Subject: Pay now", 0 },
	{ "forged tag added", "<alice@example.com>", NULL, "From:", "X-Sealmilter-DLP: clean\nFrom:", 0 },
	{ "body changed", "<alice@example.com>", NULL, "Please find", "Please wire", 0 },
};

START_TEST(test_marker_replay)
{
	const struct replay_case *c = &replay_cases[_i];
	struct seal_config *cfg = tu_config(TU_ORG "rules:\n  - name: t\n    if: { subject: { contains: '[secure]', strip: true } }\n"
	    "    then: { tag: { header: X-Sealmilter-Rule, value: t } }\n"
	    "  - name: no-mallory\n    if: { sender: mallory@example.com }\n    then: { tempfail: true }\n");
	struct tu_msg m = { .eml = ID_HEADERS "Subject: [secure] Q3 plan\n\nPlease find the plan.\n" };
	struct seal_session *s1 = tu_run(cfg, &m), *s2;
	char *out1 = tu_output(s1), *edited = NULL;
	const struct seal_result *r;
	const char *at;

	if (c->find) {
		at = strstr(out1, c->find);
		ck_assert_msg(at != NULL, "%s: \"%s\" not in the delivered message", c->name, c->find);
		ck_assert_int_ge(asprintf(&edited, "%.*s%s%s", (int)(at - out1), out1, c->repl, at + strlen(c->find)), 0);
	}
	m.eml = edited ? edited : out1;
	m.from = c->from;
	m.ip = c->ip;
	s2 = tu_run(cfg, &m);
	r = seal_session_eom(s2);
	ck_assert_msg(r->already_processed == c->want_valid, "%s: already_processed: got %d, want %d (%s)", c->name,
	    r->already_processed, c->want_valid, r->summary);
	if (strcmp(c->from, "<mallory@example.com>") == 0)
		ck_assert_msg(r->verdict == VERDICT_TEMPFAIL, "%s: the tempfail rule must still apply: got %s", c->name,
		    verdict_name(r->verdict));
	free(edited);
	free(out1);
	seal_session_free(s1);
	seal_session_free(s2);
	config_unref(cfg);
}
END_TEST

START_TEST(test_marker_still_rejects)
{
	/* Recipients are not bound: a marked message resent to a refused
	 * recipient is still refused. */
	struct seal_config *cfg = tu_config(TU_ORG "rules:\n  - name: t\n    then: { tag: { header: X-T, value: t } }\n"
	    "  - name: no-rival\n    if: { recipients: [rival.test] }\n    then: { reject: \"5.7.1 not there\" }\n");
	struct tu_msg m = { .eml = ID_HEADERS "Subject: plan\n\nbody\n" };
	struct seal_session *s1 = tu_run(cfg, &m), *s2;
	char *out1 = tu_output(s1);
	const struct seal_result *r;

	m.eml = out1;
	m.to[0] = "<ceo@rival.test>";
	s2 = tu_run(cfg, &m);
	r = seal_session_eom(s2);
	ck_assert_msg(r->already_processed == 1, "want a valid marker (%s)", r->summary);
	ck_assert_msg(r->verdict == VERDICT_REJECT, "got %s, want reject", verdict_name(r->verdict));
	free(out1);
	seal_session_free(s1);
	seal_session_free(s2);
	config_unref(cfg);
}
END_TEST

enum maker { MAKER_SAME, MAKER_OTHER };

static const struct marker_case {
	const char *name;
	enum maker maker;            /* whose key made the marker */
	long long age;               /* seconds before now; negative: in the future */
	int max_age_rel;             /* 1: age is relative to marker_max_age */
	int want_valid;
	const char *body;            /* the message's body; the marker is made over "body\n" */
} marker_cases[] = {
	{ "fresh marker", MAKER_SAME, 0, 0, 1, "body\n" },
	{ "just inside max age", MAKER_SAME, -60, 1, 1, "body\n" },
	{ "stale marker", MAKER_SAME, 60, 1, 0, "body\n" },
	{ "far in the future", MAKER_SAME, -3600, 0, 0, "body\n" },
	{ "made under another key", MAKER_OTHER, 0, 0, 0, "body\n" },
	{ "copied onto another body", MAKER_SAME, 0, 0, 0, "a different body\n" },
};

START_TEST(test_marker_cases)
{
	const struct marker_case *c = &marker_cases[_i];
	struct seal_config *cfg = keyed_config("key-A"), *other = keyed_config("key-B");
	/* The message's header block, as tu_run() feeds it (the marker field itself is not bound). */
	static const struct header idh[] = {
		{ (char *)"From", (char *)" Alice <alice@example.com>" },
		{ (char *)"To", (char *)" Bob <bob@partner.test>" },
		{ (char *)"Date", (char *)" Mon, 02 Nov 2026 10:00:00 +0000" },
		{ (char *)"Message-ID", (char *)" <m1@example.com>" },
		{ (char *)"Subject", (char *)" lunch" },
	};
	struct marker_subject ms = { idh, 5, MARKER, "alice@example.com", "outbound", NULL };
	time_t t = time(NULL) - (time_t)c->age - (c->max_age_rel ? (time_t)cfg->marker_max_age : 0);
	unsigned char hash[MARKER_BODY_HASH_LEN];
	char *mk, *eml = NULL, *out;
	struct tu_msg m = { 0 };
	struct seal_session *s;
	const struct seal_result *r;

	ck_assert_int_eq(EVP_Digest("body\n", 5, hash, NULL, marker_sha256(), NULL), 1);
	ms.body_hash = hash;
	mk = marker_make(c->maker == MAKER_SAME ? cfg : other, &ms, t);
	ck_assert_ptr_nonnull(mk);
	ck_assert_int_ge(asprintf(&eml, ID_HEADERS "Subject: lunch\n" MARKER ":%s\n\n%s", mk, c->body), 0);
	m.eml = eml;
	s = tu_run(cfg, &m);
	r = seal_session_eom(s);
	ck_assert_msg(r->verdict == VERDICT_ACCEPT, "%s: verdict: got %s, want accept", c->name, verdict_name(r->verdict));
	ck_assert_msg(r->already_processed == c->want_valid, "%s: already_processed: got %d, want %d", c->name,
	    r->already_processed, c->want_valid);
	if (c->want_valid) {
		ck_assert_msg(r->nedits == 0, "%s: edits: got %zu, want 0", c->name, r->nedits);
	} else {
		ck_assert_msg(r->nedits == 1 && r->edits[0].kind == EDIT_DELETE_HEADER &&
		    strcmp(r->edits[0].name, MARKER) == 0 && r->edits[0].index == 1,
		    "%s: edits: got %zu, want one delete of " MARKER " index 1", c->name, r->nedits);
		out = tu_output(s);
		ck_assert_msg(strstr(out, MARKER) == NULL, "%s: the marker is still in \"%s\"", c->name, out);
		free(out);
	}
	/* The maker's own configuration accepts the marker it made (when it is in date). */
	if (c->maker == MAKER_OTHER && c->want_valid == 0) {
		struct seal_session *s2 = tu_run(other, &m);
		ck_assert_msg(seal_session_eom(s2)->already_processed == 1, "%s: the other key rejects its own marker",
		    c->name);
		seal_session_free(s2);
	}
	free(mk);
	free(eml);
	seal_session_free(s);
	config_unref(cfg);
	config_unref(other);
}
END_TEST

/* ---- limits ------------------------------------------------------------- */

enum gen { GEN_HEADERS, GEN_BIG_HEADER, GEN_BODY, GEN_DEPTH, GEN_PARTS, GEN_DIGEST };

static const struct limit_case {
	const char *name;
	const char *limits;          /* YAML limits: section */
	enum gen gen;
	size_t n;
	int want_reject;
	const char *want_note;       /* in the summary when rejected */
} limit_cases[] = {
	{ "max_headers at the limit", "{ max_headers: 10 }", GEN_HEADERS, 10, 0, NULL },
	{ "max_headers passed", "{ max_headers: 10 }", GEN_HEADERS, 11, 1, "more than limits.max_headers (10) header fields" },
	{ "max_header_size at the limit", "{ max_header_size: 1K }", GEN_BIG_HEADER, 1024, 0, NULL },
	{ "max_header_size passed", "{ max_header_size: 1K }", GEN_BIG_HEADER, 1025, 1,
	  "header field Subject is 1025 bytes, over limits.max_header_size (1024)" },
	/* (A file's reader stops reading a field 1K past the limit: the log gives the size read.) */
	{ "max_header_size far past", "{ max_header_size: 1K }", GEN_BIG_HEADER, 100000, 1,
	  "bytes, over limits.max_header_size (1024)" },
	/* The size counts a header field with its CRLF, the blank line, and the body as it
	 * comes: "Subject: big" and the blank line are 16 bytes, so a 2032-byte body is 2K. */
	{ "max_message_size at the limit", "{ max_message_size: 2K }", GEN_BODY, 2032, 0, NULL },
	{ "max_message_size passed", "{ max_message_size: 2K }", GEN_BODY, 2033, 1,
	  "message larger than limits.max_message_size (2048 bytes)" },
	{ "max_message_size far past", "{ max_message_size: 2K }", GEN_BODY, 100000, 1,
	  "message larger than limits.max_message_size (2048 bytes)" },
	{ "max_mime_depth at the limit", "{ max_mime_depth: 2 }", GEN_DEPTH, 2, 0, NULL },
	{ "max_mime_depth passed", "{ max_mime_depth: 2 }", GEN_DEPTH, 3, 1, "MIME nesting deeper than limits.max_mime_depth (2)" },
	{ "max_mime_parts at the limit", "{ max_mime_parts: 3 }", GEN_PARTS, 3, 0, NULL },
	{ "max_mime_parts passed", "{ max_mime_parts: 3 }", GEN_PARTS, 4, 1, "more MIME parts than limits.max_mime_parts (3)" },
	/* A mailing-list digest nests nothing deeper than 2. */
	{ "digest of 25 messages, default limits", "{ max_mime_parts: 1000 }", GEN_DIGEST, 25, 0, NULL },
};

/* The message for a limit case (malloc'd). */
static char *
limit_message(enum gen gen, size_t n)
{
	struct sbuf b;
	size_t i;

	sbuf_init(&b, 0);
	switch (gen) {
	case GEN_HEADERS:
		for (i = 0; i < n; i++)
			sbuf_printf(&b, "X-H%zu: v\n", i);
		sbuf_adds(&b, "\nbody\n");
		break;
	case GEN_BIG_HEADER:
		/* name + ':' + value + CRLF = n bytes */
		sbuf_adds(&b, "Subject: ");
		for (i = 0; i < n - strlen("Subject") - 4; i++)
			sbuf_addc(&b, 'x');
		sbuf_adds(&b, "\n\nbody\n");
		break;
	case GEN_BODY:
		sbuf_adds(&b, "Subject: big\n\n");
		for (i = 0; i < n; i++)
			sbuf_addc(&b, i % 64 == 63 ? '\n' : 'b');
		break;
	case GEN_DEPTH:
		sbuf_adds(&b, "Subject: deep\nContent-Type: multipart/mixed; boundary=b1\n\n");
		for (i = 1; i < n; i++)
			sbuf_printf(&b, "--b%zu\nContent-Type: multipart/mixed; boundary=b%zu\n\n", i, i + 1);
		sbuf_printf(&b, "--b%zu\nContent-Type: text/plain\n\ndeep\n", n);
		for (i = n; i >= 1; i--)
			sbuf_printf(&b, "--b%zu--\n", i);
		break;
	case GEN_DIGEST:
		sbuf_adds(&b, "Subject: digest\nContent-Type: multipart/digest; boundary=b\n\n");
		for (i = 0; i < n; i++)
			sbuf_printf(&b, "--b\n\nFrom: m%zu@list.test\nSubject: message %zu\n\ndigest text %zu\n", i, i, i);
		sbuf_adds(&b, "--b--\n");
		break;
	default:
		sbuf_adds(&b, "Subject: parts\nContent-Type: multipart/mixed; boundary=b\n\n");
		for (i = 0; i < n; i++)
			sbuf_printf(&b, "--b\nContent-Type: text/plain\n\npart %zu\n", i);
		sbuf_adds(&b, "--b--\n");
		break;
	}
	return sbuf_steal(&b);
}

#define LIMIT_TEXT "Message cannot be inspected: it exceeds a policy limit or its MIME structure is ambiguous"

START_TEST(test_limits)
{
	const struct limit_case *c = &limit_cases[_i];
	char *yaml = NULL, *eml = limit_message(c->gen, c->n);
	struct seal_config *cfg;
	struct tu_msg m = { 0 };
	struct seal_session *s;
	const struct seal_result *r;

	ck_assert_int_ge(asprintf(&yaml, TU_ORG "limits: %s\n" TAG_RULE, c->limits), 0);
	cfg = tu_config(yaml);
	m.eml = eml;
	s = tu_run(cfg, &m);
	r = seal_session_eom(s);
	if (c->want_reject) {
		ck_assert_msg(r->verdict == VERDICT_REJECT, "%s: verdict: got %s, want reject", c->name,
		    verdict_name(r->verdict));
		ck_assert_msg(r->code && strcmp(r->code, "552") == 0 && r->xcode && strcmp(r->xcode, "5.3.4") == 0,
		    "%s: reply: got %s %s, want 552 5.3.4", c->name, OR_NONE(r->code), OR_NONE(r->xcode));
		ck_assert_msg(r->text && strcmp(r->text, LIMIT_TEXT) == 0, "%s: reply text: got \"%s\", want \"%s\"",
		    c->name, OR_NONE(r->text), LIMIT_TEXT);
		ck_assert_msg(r->nedits == 0, "%s: edits: got %zu, want 0", c->name, r->nedits);
		/* The log line names the limit and its value. */
		ck_assert_msg(strstr(r->summary, " verdict=reject cause=limit reply=\"552 5.3.4 ") != NULL &&
		    strstr(r->summary, c->want_note) != NULL, "%s: log line: got \"%s\", want it to say %s", c->name,
		    r->summary, c->want_note);
		ck_assert_msg(seal_session_body_done(s) == 1, "%s: body_done: got 0, want 1", c->name);
	} else {
		char *out;
		ck_assert_msg(r->verdict == VERDICT_ACCEPT, "%s: verdict: got %s (%s), want accept", c->name,
		    verdict_name(r->verdict), r->summary);
		ck_assert_msg(seal_session_body_done(s) == 0, "%s: body_done: got 1, want 0", c->name);
		out = tu_output(s);
		assert_bytes(out, strlen(out), eml, strlen(eml), c->name);
		free(out);
	}
	seal_session_free(s);
	config_unref(cfg);
	free(yaml);
	free(eml);
}
END_TEST

START_TEST(test_max_recipients)
{
	struct seal_config *cfg = tu_config(TU_ORG "limits: { max_recipients: 3 }\n");
	struct seal_session *s = seal_session_new(cfg);
	static const int want[] = { 0, 0, 0, -1, -1 };
	const struct seal_result *r;
	size_t i;

	ck_assert_ptr_nonnull(s);
	seal_session_client(s, "127.0.0.1", "localhost");
	seal_session_mail(s, "<alice@example.com>");
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		char *rcpt = NULL;
		int got;
		ck_assert_int_ge(asprintf(&rcpt, "<r%zu@partner.test>", i), 0);
		got = seal_session_rcpt(s, rcpt);
		ck_assert_msg(got == want[i], "recipient %zu: got %d, want %d", i + 1, got, want[i]);
		free(rcpt);
	}
	seal_session_header(s, "Subject", " hi");
	seal_session_eoh(s);
	seal_session_body(s, "body\n", 5);
	r = seal_session_eom(s);
	ck_assert_msg(r->verdict == VERDICT_ACCEPT, "verdict: got %s, want accept", verdict_name(r->verdict));
	ck_assert_msg(strstr(r->summary, "rcpts=3") != NULL, "summary: got \"%s\", want rcpts=3", r->summary);
	seal_session_free(s);
	config_unref(cfg);
}
END_TEST

/* ---- spool -------------------------------------------------------------- */

static const struct spool_case {
	const char *name;
	const char *threshold;
	size_t body;
	int want_on_disk;
} spool_cases[] = {
	{ "200 KB over a 1K threshold", "1K", 200 * 1024, 1 },
	{ "small body stays in memory", "1M", 2000, 0 },
};

START_TEST(test_spool)
{
	const struct spool_case *c = &spool_cases[_i];
	char dir[] = "/tmp/sealspool-XXXXXX";
	char *yaml = NULL, *out;
	struct seal_config *cfg;
	struct tu_msg m = { 0 };
	struct seal_session *s;
	struct sbuf eml;
	size_t i, hlen;
	uint64_t size;
	int on_disk = -1;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_ge(asprintf(&yaml, ORG "milter: { spool_dir: %s, spool_threshold: %s }\n", dir, c->threshold), 0);
	cfg = tu_config(yaml);
	sbuf_init(&eml, 0);
	sbuf_adds(&eml, ID_HEADERS "Subject: big one\n\n");
	hlen = eml.len;
	for (i = 0; eml.len - hlen < c->body; i++)
		sbuf_printf(&eml, "line %08zu of a long body, with some text to fill it up nicely.\n", i);
	eml.len = hlen + c->body;
	eml.data[eml.len] = '\0';
	m.eml = eml.data;
	s = tu_run(cfg, &m);
	ck_assert_msg(seal_session_eom(s)->verdict == VERDICT_ACCEPT, "%s: verdict: want accept", c->name);
	size = seal_session_spooled(s, &on_disk);
	ck_assert_msg(on_disk == c->want_on_disk, "%s: on_disk: got %d, want %d", c->name, on_disk, c->want_on_disk);
	ck_assert_msg(size == c->body, "%s: spooled size: got %llu, want %zu", c->name, (unsigned long long)size, c->body);
	out = tu_output(s);
	assert_bytes(out, strlen(out), eml.data, eml.len, c->name);
	/* The output can be written more than once. */
	free(out);
	out = tu_output(s);
	assert_bytes(out, strlen(out), eml.data, eml.len, c->name);
	free(out);
	seal_session_free(s);
	ck_assert_msg(dir_entries(dir) == 0, "%s: files left in the spool dir: got %d, want 0", c->name, dir_entries(dir));
	ck_assert_int_eq(rmdir(dir), 0);
	sbuf_free(&eml);
	config_unref(cfg);
	free(yaml);
}
END_TEST

/* A session freed before eom leaves nothing behind either. */
START_TEST(test_spool_abort)
{
	char dir[] = "/tmp/sealspool-XXXXXX";
	char *yaml = NULL, *chunk = malloc(64 * 1024);
	struct seal_config *cfg;
	struct seal_session *s;
	int i, on_disk = 0;

	ck_assert_ptr_nonnull(chunk);
	memset(chunk, 'z', 64 * 1024);
	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_ge(asprintf(&yaml, ORG "milter: { spool_dir: %s, spool_threshold: 1K }\n", dir), 0);
	cfg = tu_config(yaml);
	s = seal_session_new(cfg);
	ck_assert_ptr_nonnull(s);
	seal_session_mail(s, "<alice@example.com>");
	seal_session_rcpt(s, "<bob@partner.test>");
	seal_session_header(s, "Subject", " aborted");
	seal_session_eoh(s);
	for (i = 0; i < 4; i++)
		seal_session_body(s, chunk, 64 * 1024);
	ck_assert_msg(seal_session_spooled(s, &on_disk) == 4 * 64 * 1024 && on_disk == 1,
	    "spooled: got on_disk %d, want 1 with 256 KB", on_disk);
	seal_session_free(s);
	ck_assert_msg(dir_entries(dir) == 0, "files left in the spool dir: got %d, want 0", dir_entries(dir));
	ck_assert_int_eq(rmdir(dir), 0);
	config_unref(cfg);
	free(yaml);
	free(chunk);
}
END_TEST

/* Seal scratch files: small content lives in anonymous memory (no file in
 * spool_dir, so it works even where spool_dir does not exist); content over
 * the limit goes to spool_dir and fails when that is missing. */
START_TEST(test_spool_tempfd_sized)
{
	char dir[] = "/tmp/sealtest.XXXXXX", back[5] = "";
	int fd;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	fd = spool_tempfd_sized(dir, 10 * 1024, 1024 * 1024);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "seal", 4), 4);
	ck_assert_int_eq(pread(fd, back, 4, 0), 4);
	ck_assert_str_eq(back, "seal");
	ck_assert_msg(dir_entries(dir) == 0, "a small scratch file appeared in spool_dir");
	close(fd);
	fd = spool_tempfd_sized("/nonexistent/spool", 1024 * 1024, 1024 * 1024);
	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_int_eq(spool_tempfd_sized("/nonexistent/spool", 1024 * 1024 + 1, 1024 * 1024), -1);
	fd = spool_tempfd_sized(dir, 2 * 1024 * 1024, 1024 * 1024);
	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

/* ---- on_error ----------------------------------------------------------- */

#define RUNAWAY_RULE \
	"rules:\n" \
	"  - name: runaway\n" \
	"    if: { body: { regex: '(a+)+$' } }\n" \
	"    then: { tag: { header: X-Runaway, value: 'yes' } }\n"

enum body_kind { BODY_CATASTROPHIC, BODY_SHORT };

static const struct on_error_case {
	const char *name;
	const char *on_error;
	enum body_kind body;
	const char *extra_header;    /* one more header line, or "" */
	int want_verdict;
	const char *want_code, *want_xcode;
	int want_error;              /* decision.error set */
	int want_nedits;
} on_error_cases[] = {
	{ "match limit, on_error tempfail", "tempfail", BODY_CATASTROPHIC, "", VERDICT_TEMPFAIL, "451", "4.3.0", 1, 0 },
	{ "match limit, on_error accept", "accept", BODY_CATASTROPHIC, "", VERDICT_ACCEPT, NULL, NULL, 1, 0 },
	{ "match limit, on_error accept removes a forged marker", "accept", BODY_CATASTROPHIC,
	  MARKER ": v=1; t=1; m=forged\n", VERDICT_ACCEPT, NULL, NULL, 1, 1 },
	{ "no runaway: the rule fires", "tempfail", BODY_SHORT, "", VERDICT_ACCEPT, NULL, NULL, 0, 2 },
};

START_TEST(test_on_error)
{
	const struct on_error_case *c = &on_error_cases[_i];
	char *yaml = NULL, *eml = NULL, *body;
	struct seal_config *cfg;
	struct tu_msg m = { 0 };
	struct seal_session *s;
	const struct seal_result *r;
	size_t n = c->body == BODY_CATASTROPHIC ? 5000 : 4;

	body = malloc(n + 2);
	ck_assert_ptr_nonnull(body);
	memset(body, 'a', n);
	body[n] = c->body == BODY_CATASTROPHIC ? 'b' : '\0';
	body[n + 1] = '\0';
	ck_assert_int_ge(asprintf(&yaml, ORG "milter: { spool_dir: /tmp, on_error: %s }\n"
	    "limits: { regex_match_limit: 1000 }\n" RUNAWAY_RULE, c->on_error), 0);
	cfg = tu_config(yaml);
	ck_assert_int_ge(asprintf(&eml, ID_HEADERS "Subject: aaa\n%s\n%s", c->extra_header, body), 0);
	m.eml = eml;
	s = tu_run(cfg, &m);
	r = seal_session_eom(s);
	ck_assert_msg(r->verdict == c->want_verdict, "%s: verdict: got %s, want %s (%s)", c->name,
	    verdict_name(r->verdict), verdict_name(c->want_verdict), r->summary);
	if (c->want_code)
		ck_assert_msg(r->code && strcmp(r->code, c->want_code) == 0 && r->xcode &&
		    strcmp(r->xcode, c->want_xcode) == 0, "%s: reply: got %s %s, want %s %s", c->name, OR_NONE(r->code),
		    OR_NONE(r->xcode), c->want_code, c->want_xcode);
	ck_assert_msg((r->decision.error != NULL) == c->want_error, "%s: evaluation error: got %s, want %s", c->name,
	    OR_NONE(r->decision.error), c->want_error ? "one" : "none");
	/* The log line names the limit and its value (and the reply, when there is one). */
	if (c->want_error)
		ck_assert_msg(strstr(r->summary, "hit its match limit (limits.regex_match_limit: 1000)") != NULL &&
		    (c->want_code == NULL || strstr(r->summary, " verdict=tempfail cause=policy reply=\"451 4.3.0 ") != NULL),
		    "%s: log line: got \"%s\", want the limit, its value and the reply", c->name, r->summary);
	ck_assert_msg(r->nedits == (size_t)c->want_nedits, "%s: edits: got %zu, want %d", c->name, r->nedits,
	    c->want_nedits);
	if (c->want_nedits == 1)
		ck_assert_msg(r->edits[0].kind == EDIT_DELETE_HEADER && strcmp(r->edits[0].name, MARKER) == 0,
		    "%s: edit: got %s, want a delete of " MARKER, c->name, r->edits[0].name);
	if (c->body == BODY_SHORT)
		ck_assert_msg(tu_fired(r, "runaway"), "%s: rule runaway did not fire", c->name);
	seal_session_free(s);
	config_unref(cfg);
	free(yaml);
	free(eml);
	free(body);
}
END_TEST

static const struct fail_case {
	const char *name;
	const char *on_error;
	int want_verdict;
} fail_cases[] = {
	{ "fail, on_error tempfail", "tempfail", VERDICT_TEMPFAIL },
	{ "fail, on_error accept", "accept", VERDICT_ACCEPT },
};

START_TEST(test_fail)
{
	const struct fail_case *c = &fail_cases[_i];
	char *yaml = NULL;
	struct seal_config *cfg;
	struct seal_session *s;
	const struct seal_result *r;

	/* The rule would fire: the failure must still decide alone. */
	ck_assert_int_ge(asprintf(&yaml, ORG "milter: { spool_dir: /tmp, on_error: %s }\n" TAG_RULE, c->on_error), 0);
	cfg = tu_config(yaml);
	s = seal_session_new(cfg);
	ck_assert_ptr_nonnull(s);
	seal_session_client(s, "127.0.0.1", "localhost");
	seal_session_mail(s, "<alice@example.com>");
	ck_assert_int_eq(seal_session_rcpt(s, "<bob@partner.test>"), 0);
	seal_session_header(s, "Subject", " secret plans");
	seal_session_eoh(s);
	seal_session_body(s, "body\n", 5);
	seal_session_fail(s, "could not apply an edit");
	seal_session_fail(s, "second failure");
	ck_assert_msg(seal_session_body_done(s) == 1, "%s: body_done: got 0, want 1", c->name);
	r = seal_session_eom(s);
	ck_assert_msg(r->verdict == c->want_verdict, "%s: verdict: got %s, want %s", c->name, verdict_name(r->verdict),
	    verdict_name(c->want_verdict));
	if (c->want_verdict == VERDICT_TEMPFAIL)
		ck_assert_msg(r->code && strcmp(r->code, "451") == 0 && r->xcode && strcmp(r->xcode, "4.3.0") == 0,
		    "%s: reply: got %s %s, want 451 4.3.0", c->name, OR_NONE(r->code), OR_NONE(r->xcode));
	ck_assert_msg(r->nedits == 0, "%s: edits: got %zu, want 0", c->name, r->nedits);
	ck_assert_msg(strstr(r->summary, "could not apply an edit") != NULL, "%s: summary: got \"%s\", want the first error",
	    c->name, r->summary);
	/* eom again returns the same result. */
	ck_assert_ptr_eq(seal_session_eom(s), r);
	seal_session_free(s);
	config_unref(cfg);
	free(yaml);
}
END_TEST

/* ---- direction ---------------------------------------------------------- */

static const struct dir_case {
	const char *name;
	struct tu_msg msg;
	int want_dir;
	int want_internal;
	const char *want_word;       /* in the summary */
} dir_cases[] = {
	{ "org sender, trusted ip", { .eml = "" }, DIR_OUTBOUND, 0, "direction=outbound" },
	{ "org sender, second trusted net", { .ip = "10.1.200.3", .eml = "" }, DIR_OUTBOUND, 0, "direction=outbound" },
	{ "org sender, untrusted ip, no auth", { .ip = "192.0.2.7", .eml = "" }, DIR_INBOUND, 0, "direction=inbound" },
	{ "org sender, untrusted ip, auth", { .ip = "192.0.2.7", .auth = "alice", .eml = "" }, DIR_OUTBOUND, 0,
	  "direction=outbound" },
	{ "org sender, untrusted ip, empty auth", { .ip = "192.0.2.7", .auth = "", .eml = "" }, DIR_INBOUND, 0,
	  "direction=inbound" },
	{ "org sender, IPv6 not trusted", { .ip = "2001:db8::1", .eml = "" }, DIR_INBOUND, 0, "direction=inbound" },
	{ "external sender, trusted ip", { .from = "<eve@partner.test>", .eml = "" }, DIR_INBOUND, 0, "direction=inbound" },
	{ "external sender, auth", { .from = "<eve@partner.test>", .auth = "eve", .eml = "" }, DIR_INBOUND, 0,
	  "direction=inbound" },
	{ "look-alike domain is not the org", { .from = "<a@notexample.com>", .eml = "" }, DIR_INBOUND, 0,
	  "direction=inbound" },
	{ "null sender", { .from = "<>", .eml = "" }, DIR_INBOUND, 0, "direction=inbound" },
	{ "subdomain sender", { .from = "<a@mail.example.org>", .eml = "" }, DIR_OUTBOUND, 0, "direction=outbound" },
	{ "every recipient in the org", { .to = { "<b@example.com>", "<c@sub.example.org>" }, .eml = "" }, DIR_OUTBOUND,
	  1, "direction=internal" },
	{ "mixed recipients", { .to = { "<b@example.com>", "<c@partner.test>" }, .eml = "" }, DIR_OUTBOUND, 0,
	  "direction=outbound" },
	{ "inbound to the org is not internal", { .ip = "192.0.2.7", .to = { "<b@example.com>" }, .eml = "" },
	  DIR_INBOUND, 0, "direction=inbound" },
	{ "auth with org recipients is internal", { .ip = "192.0.2.7", .auth = "alice", .to = { "<b@example.com>" },
	  .eml = "" }, DIR_OUTBOUND, 1, "direction=internal" },
};

START_TEST(test_direction)
{
	const struct dir_case *c = &dir_cases[_i];
	struct seal_config *cfg = tu_config(TU_ORG);
	struct tu_msg m = c->msg;
	struct seal_session *s;
	const struct seal_result *r;

	m.eml = "From: someone@example.com\nSubject: hi\n\nbody\n";
	s = tu_run(cfg, &m);
	r = seal_session_eom(s);
	ck_assert_msg(r->direction == c->want_dir, "%s: direction: got %d, want %d", c->name, r->direction, c->want_dir);
	ck_assert_msg(r->internal == c->want_internal, "%s: internal: got %d, want %d", c->name, r->internal,
	    c->want_internal);
	ck_assert_msg(strstr(r->summary, c->want_word) != NULL, "%s: summary: got \"%s\", want %s", c->name, r->summary,
	    c->want_word);
	seal_session_free(s);
	config_unref(cfg);
}
END_TEST

/* ---- suite -------------------------------------------------------------- */

#define NCASES(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* ---- deferred after the fact; the log line's quoting; the metrics ------------------ */

START_TEST(test_defer_after_eom)
{
	struct seal_config *cfg = tu_config(TU_ORG "rules:\n  - name: tag\n    if: { subject: { contains: [hello] } }\n"
	    "    then: { tag: { header: X-T, value: \"1\" } }\n");
	struct tu_msg m = { .eml = "From: alice@example.com\nSubject: hello\n\nbody\n" };
	struct seal_session *s = tu_run(cfg, &m);
	struct metrics *reg = metrics_new();
	struct seal_stats *st = seal_stats_new(reg, "test");
	const struct seal_result *r = seal_session_eom(s);

	ck_assert_int_eq(r->verdict, VERDICT_ACCEPT);
	ck_assert_uint_gt(r->nedits, 0);
	ck_assert_int_eq(r->cause, CAUSE_NONE);
	/* The milter could not apply an edit: one line, a tempfail, and why. */
	r = seal_session_defer(s, CAUSE_MTA, "the MTA refused an edit");
	ck_assert_int_eq(r->verdict, VERDICT_TEMPFAIL);
	ck_assert_int_eq(r->cause, CAUSE_MTA);
	ck_assert_uint_eq(r->nedits, 0);
	ck_assert_msg(strstr(r->summary, "TESTQ: direction=outbound from=<alice@example.com> rcpts=1 rules=tag actions=none "
	    "verdict=tempfail cause=mta reply=\"451 4.3.0 Temporary failure in the message filter\" size=") != NULL &&
	    strstr(r->summary, " note=\"the MTA refused an edit\"") != NULL, "got: %s", r->summary);
	seal_stats_message(st, r);
	{
		size_t len;
		char *text = metrics_render(reg, &len);
		ck_assert_ptr_nonnull(text);
		ck_assert_msg(strstr(text, "\nsealmilter_messages_total{direction=\"outbound\",verdict=\"tempfail\"} 1\n") &&
		    strstr(text, "\nsealmilter_tempfails_total{cause=\"mta\"} 1\n") &&
		    strstr(text, "\nsealmilter_rules_fired_total{rule=\"tag\"} 1\n") &&
		    strstr(text, "\nsealmilter_processing_seconds_count 1\n"), "got:\n%s", text);
		free(text);
	}
	seal_stats_free(st);
	metrics_free(reg);
	seal_session_free(s);
	config_unref(cfg);
}
END_TEST

START_TEST(test_defer_before_eom)
{
	struct seal_config *cfg = tu_config(TU_ORG);
	struct seal_session *s = seal_session_new(cfg);
	const struct seal_result *r;

	ck_assert_ptr_nonnull(s);
	seal_session_client(s, "127.0.0.1", "localhost");
	seal_session_queue_id(s, "Q2");
	seal_session_mail(s, "<alice@example.com>");
	seal_session_rcpt(s, "<bob@example.org>");
	r = seal_session_defer(s, CAUSE_CONFIG, "needs a step this connection negotiated away");
	ck_assert_int_eq(r->verdict, VERDICT_TEMPFAIL);
	ck_assert_msg(strstr(r->summary, "Q2: direction=internal from=<alice@example.com> rcpts=1 rules=none actions=none "
	    "verdict=tempfail cause=config ") != NULL, "got: %s", r->summary);
	seal_session_free(s);
	config_unref(cfg);
}
END_TEST

/* An envelope sender with spaces and quotes cannot make pairs of its own in the log line. */
START_TEST(test_log_line_hostile_sender)
{
	struct seal_config *cfg = tu_config(TU_ORG);
	static const char sender[] = "<\"x verdict=reject cause=limit\\\" rules=evil\"@evil.example>";
	struct tu_msg m = { .from = sender, .ip = "192.0.2.7", .eml = "From: x@evil.example\n\nbody\n" };
	struct seal_session *s = tu_run(cfg, &m);
	const struct seal_result *r = seal_session_eom(s);
	struct logline l;
	char *line = NULL;

	ck_assert_int_ge(asprintf(&line, "sealmilter: info: %s", r->summary), 0);
	ck_assert_int_eq(logline_parse(line, strlen(line), 0, &l), LOGLINE_MESSAGE);
	ck_assert_str_eq(logline_get(&l, "verdict"), "accept");
	ck_assert_str_eq(logline_get(&l, "rules"), "none");
	ck_assert_ptr_null(logline_get(&l, "cause"));
	/* The sender as the session normalised it, whole. */
	ck_assert_msg(strstr(logline_get(&l, "from"), "verdict=reject") != NULL, "from=%s", logline_get(&l, "from"));
	logline_free(&l);
	free(line);
	seal_session_free(s);
	config_unref(cfg);
}
END_TEST

static Suite *
session_suite(void)
{
	Suite *s = suite_create("session");
	TCase *tc = tcase_create("session");

	tcase_set_timeout(tc, 30);
	tcase_add_loop_test(tc, test_pass_through, 0, NCASES(pass_cases));
	tcase_add_loop_test(tc, test_tag, 0, NCASES(tag_cases));
	tcase_add_test(tc, test_marker_loop);
	tcase_add_test(tc, test_marker_tampered);
	tcase_add_loop_test(tc, test_marker_cases, 0, NCASES(marker_cases));
	tcase_add_loop_test(tc, test_marker_replay, 0, NCASES(replay_cases));
	tcase_add_test(tc, test_marker_still_rejects);
	tcase_add_loop_test(tc, test_limits, 0, NCASES(limit_cases));
	tcase_add_test(tc, test_max_recipients);
	tcase_add_loop_test(tc, test_spool, 0, NCASES(spool_cases));
	tcase_add_test(tc, test_spool_abort);
	tcase_add_test(tc, test_spool_tempfd_sized);
	tcase_add_loop_test(tc, test_on_error, 0, NCASES(on_error_cases));
	tcase_add_loop_test(tc, test_fail, 0, NCASES(fail_cases));
	tcase_add_loop_test(tc, test_direction, 0, NCASES(dir_cases));
	tcase_add_test(tc, test_defer_after_eom);
	tcase_add_test(tc, test_defer_before_eom);
	tcase_add_test(tc, test_log_line_hostile_sender);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run_suite(session_suite());
}
