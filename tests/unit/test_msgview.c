/* test_msgview.c - unit tests for the viewer's message reader (msgview.c)
 * and its HTML escaping (html.c).
 *
 * Covers: plain text, multipart/alternative, HTML only, multipart/related
 * with cid: images inlined as data: URIs (and so not listed), attachment
 * file names (RFC 2231 continuations, RFC 2047, path separators and control
 * characters, none at all), nesting, message/rfc822, charset conversion
 * (ISO-8859-1 read as windows-1252, windows-1252, unknown charsets, invalid
 * UTF-8), transfer encodings (8bit, quoted-printable, base64, broken
 * base64), header decoding, broken structure (missing boundary, boundary
 * never closed), every limit (depth, parts, attachments, text, HTML,
 * message size) and input that is refused (empty, not a message). Then
 * html_escape(), html_escape_lines(), url_encode() and form_decode(). */
#include "build-config.h"

#include <glib.h>

#include "viewer/html.h"
#include "viewer/msgview.h"
#include "testutil.h"

#define NCASES(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* ---- helpers ------------------------------------------------------------ */

static struct msgview_limits
def_limits(void)
{
	struct msgview_limits l;

	msgview_default_limits(&l);
	return l;
}

static void
parse_ok(const char *what, const char *eml, size_t len, const struct msgview_limits *lim, struct msgview *v)
{
	struct msgview_limits d = def_limits();
	char *err = NULL;
	int rc = msgview_parse(eml, len ? len : strlen(eml), lim ? lim : &d, v, &err);

	ck_assert_msg(rc == 0, "%s: msgview_parse failed: %s", what, err ? err : "(no error)");
	ck_assert_msg(err == NULL, "%s: error set on success: %s", what, err);
}

/* got must equal want (both NULL counts as equal). */
static void
check_str(const char *what, const char *field, const char *got, const char *want)
{
	if (want == NULL) {
		ck_assert_msg(got == NULL, "%s: %s: got \"%s\", want NULL", what, field, got);
		return;
	}
	ck_assert_msg(got != NULL, "%s: %s: got NULL, want \"%s\"", what, field, want);
	ck_assert_msg(strcmp(got, want) == 0, "%s: %s: got \"%s\", want \"%s\"", what, field, got, want);
}

/* The attachments as "filename|type|size" lines (malloc'd). */
static char *
describe_atts(const struct msgview *v)
{
	struct sbuf b;
	size_t i;

	sbuf_init(&b, 0);
	for (i = 0; i < v->natt; i++)
		sbuf_printf(&b, "%s|%s|%zu\n", v->att[i].filename, v->att[i].content_type, v->att[i].size);
	return sbuf_steal(&b);
}

static int
utf8_ok(const char *s)
{
	return s != NULL && g_utf8_validate(s, -1, NULL);
}

/* Every string of a result is valid UTF-8. */
static void
check_utf8(const char *what, const struct msgview *v)
{
	const char *f[] = { v->from, v->to, v->cc, v->date, v->subject, v->message_id };
	size_t i;

	for (i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		ck_assert_msg(utf8_ok(f[i]), "%s: display field %zu is not valid UTF-8", what, i);
	ck_assert_msg(v->text == NULL || utf8_ok(v->text), "%s: text is not valid UTF-8", what);
	ck_assert_msg(v->html == NULL || utf8_ok(v->html), "%s: html is not valid UTF-8", what);
	for (i = 0; i < v->natt; i++)
		ck_assert_msg(utf8_ok(v->att[i].filename) && utf8_ok(v->att[i].content_type),
		    "%s: attachment %zu: name or type not valid UTF-8", what, i);
}

/* ---- messages ------------------------------------------------------------ */

#define HDR "From: Alice <alice@example.com>\nTo: bob@example.org\nSubject: test\n"

static const struct view_case {
	const char *name;
	const char *eml;
	const char *text;        /* want: the text body, NULL for none */
	const char *html;        /* want: the HTML body, NULL for none */
	const char *atts;        /* want: describe_atts() */
} view_cases[] = {
	{ "plain text only",
	  HDR "\nHello\nWorld\n",
	  "Hello\nWorld\n", NULL, "" },
	{ "plain text, CRLF",
	  "From: a@example.com\r\nSubject: crlf\r\n\r\nHello\r\nWorld\r\n",
	  "Hello\r\nWorld\r\n", NULL, "" },
	{ "mbox From_ line before the header",
	  "From alice@example.com Mon Jan  1 00:00:00 2024\n" HDR "\nbody\n",
	  "body\n", NULL, "" },
	{ "no header fields at all",
	  "\nonly a body\n",
	  "only a body\n", NULL, "" },
	{ "multipart/alternative: text and HTML",
	  HDR "Content-Type: multipart/alternative; boundary=\"b1\"\n\npreamble\n--b1\n"
	  "Content-Type: text/plain; charset=utf-8\n\nplain version\n--b1\n"
	  "Content-Type: text/html; charset=utf-8\n\n<p>html version</p>\n--b1--\nepilogue\n",
	  "plain version", "<p>html version</p>", "" },
	{ "multipart/alternative, CRLF",
	  "From: a@example.com\r\nContent-Type: multipart/alternative; boundary=b1\r\n\r\n--b1\r\n"
	  "Content-Type: text/plain\r\n\r\nplain\r\n--b1\r\nContent-Type: text/html\r\n\r\n<b>x</b>\r\n--b1--\r\n",
	  "plain", "<b>x</b>", "" },
	{ "alternative: a third version is not an attachment",
	  HDR "Content-Type: multipart/alternative; boundary=b1\n\n--b1\nContent-Type: text/plain\n\none\n"
	  "--b1\nContent-Type: text/plain\n\ntwo\n--b1\nContent-Type: text/html\n\n<i>3</i>\n--b1--\n",
	  "one", "<i>3</i>", "" },
	{ "HTML only",
	  HDR "MIME-Version: 1.0\nContent-Type: text/html; charset=utf-8\n\n<html><body>Hi</body></html>\n",
	  NULL, "<html><body>Hi</body></html>\n", "" },
	{ "multipart/related: cid: images inlined, not listed",
	  HDR "Content-Type: multipart/related; boundary=rel\n\n--rel\nContent-Type: text/html\n\n"
	  "<img src=\"cid:logo@x\"><td background='cid:logo@x'><div style=\"background: url( cid:logo%40x )\">"
	  "<img src=\"cid:LOGO@x\"><img src=\"cid:missing@x\"> see cid:logo@x\n"
	  "--rel\nContent-Type: image/png; name=logo.png\nContent-ID: <logo@x>\nContent-Transfer-Encoding: base64\n\n"
	  "iVBORw0KGgo=\n"
	  "--rel\nContent-Type: image/gif\nContent-ID: <unused@x>\n\nGIF89a\n--rel--\n",
	  NULL,
	  "<img src=\"data:image/png;base64,iVBORw0KGgo=\"><td background='data:image/png;base64,iVBORw0KGgo='>"
	  "<div style=\"background: url( data:image/png;base64,iVBORw0KGgo= )\">"
	  "<img src=\"cid:LOGO@x\"><img src=\"cid:missing@x\"> see cid:logo@x",
	  "attachment-1|image/gif|6\n" },
	{ "a cid: reference to a non-image is left alone",
	  HDR "Content-Type: multipart/related; boundary=rel\n\n--rel\nContent-Type: text/html\n\n"
	  "<a href=\"cid:doc\">doc</a>\n--rel\nContent-Type: application/pdf\nContent-ID: <doc>\n\n%PDF\n--rel--\n",
	  NULL, "<a href=\"cid:doc\">doc</a>", "attachment-1|application/pdf|4\n" },
	{ "Content-ID forms: folded with a comment, bare; a percent-encoded reference",
	  HDR "Content-Type: multipart/related; boundary=rel\n\n--rel\nContent-Type: text/html\n\n"
	  "<img src=\"cid:a%40b\"><img src='cid:bare'>\n"
	  "--rel\nContent-Type: image/jpeg\nContent-ID:\n <a@b> (the logo)\n\nJ\n"
	  "--rel\nContent-Type: image/png\nContent-ID: bare\n\nP\n--rel--\n",
	  NULL, "<img src=\"data:image/jpeg;base64,Sg==\"><img src='data:image/png;base64,UA=='>", "" },
	{ "attachment: RFC 2231 file name, UTF-8 with continuations",
	  HDR "Content-Type: multipart/mixed; boundary=m\n\n--m\n\nbody\n--m\n"
	  "Content-Type: application/pdf\nContent-Disposition: attachment;\n filename*0*=UTF-8''%E2%82%AC%20rate;\n"
	  " filename*1=\"s of 2024.pdf\"\nContent-Transfer-Encoding: base64\n\nJVBERi0xLjQK\n--m--\n",
	  "body", NULL, "\xe2\x82\xac rates of 2024.pdf|application/pdf|9\n" },
	{ "attachment: RFC 2047 file name",
	  HDR "Content-Type: multipart/mixed; boundary=m\n\n--m\n\nbody\n--m\n"
	  "Content-Type: application/octet-stream; name=\"=?utf-8?B?w6lsw6h2ZS5iaW4=?=\"\n\nxyz\n--m--\n",
	  "body", NULL, "\xc3\xa9l\xc3\xa8ve.bin|application/octet-stream|3\n" },
	{ "attachment: path separators and control characters",
	  HDR "Content-Type: multipart/mixed; boundary=m\n\n--m\n\nbody\n--m\n"
	  "Content-Type: text/plain\nContent-Disposition: attachment; filename=\"../../etc/passwd\"\n\nroot\n--m\n"
	  "Content-Type: text/plain\nContent-Disposition: attachment; filename=\"..\\\\..\\\\a\x01\x1b[31m\x7f.txt\"\n\nx\n"
	  "--m\nContent-Type: text/plain\nContent-Disposition: attachment; filename=\"evil\xe2\x80\xae" "exe.txt\"\n\nx\n--m--\n",
	  "body", NULL,
	  "_.._etc_passwd|text/plain|4\n"
	  "_.._a__[31m_.txt|text/plain|1\n"
	  "evil_exe.txt|text/plain|1\n" },
	{ "attachment without a name; odd content types",
	  HDR "Content-Type: multipart/mixed; boundary=m\n\n--m\n\nbody\n--m\nContent-Type: image/GIF\n\nGIF89a\n"
	  "--m\nContent-Type: application/x_y; name=a.bin\n\n1\n--m\nContent-Type: application/\n\n2\n"
	  "--m\nContent-Type: bogus\nContent-Disposition: attachment\n\n3\n--m--\n",
	  "body", NULL,
	  "attachment-1|image/gif|6\na.bin|application/octet-stream|1\n"
	  "attachment-3|text/plain|1\nattachment-4|text/plain|1\n" },
	{ "a second inline text part in mixed is listed; the first is the body",
	  HDR "Content-Type: multipart/mixed; boundary=m\n\n--m\nContent-Type: text/plain\n\nfirst\n"
	  "--m\nContent-Type: image/png\nContent-Disposition: inline\n\nP\n--m\nContent-Type: text/plain\n\nfooter\n--m--\n",
	  "first", NULL, "attachment-1|image/png|1\nattachment-2|text/plain|6\n" },
	{ "nested multipart/mixed inside alternative",
	  HDR "Content-Type: multipart/alternative; boundary=o\n\n--o\nContent-Type: multipart/mixed; boundary=i\n\n"
	  "--i\nContent-Type: text/plain\n\ninner text\n--i\nContent-Type: application/zip; name=a.zip\n\nPK\n--i--\n"
	  "--o\nContent-Type: multipart/related; boundary=r\n\n--r\nContent-Type: text/html\n\n<p>inner html</p>\n"
	  "--r--\n--o--\n",
	  "inner text", "<p>inner html</p>", "a.zip|application/zip|2\n" },
	{ "message/rfc822 attachment, named after its subject",
	  HDR "Content-Type: multipart/mixed; boundary=m\n\n--m\n\nsee attached\n--m\nContent-Type: message/rfc822\n\n"
	  "From: c@example.com\nSubject: =?utf-8?q?Re=3A_caf=C3=A9/plans?=\n\ninner body\n--m\n"
	  "Content-Type: message/rfc822\n\nFrom: d@example.com\n\nno subject\n--m--\n",
	  "see attached", NULL,
	  "Re: caf\xc3\xa9_plans.eml|message/rfc822|74\nattachment-2.eml|message/rfc822|31\n" },
	{ "multipart/digest: parts default to message/rfc822",
	  HDR "Content-Type: multipart/digest; boundary=d\n\n--d\n\nSubject: one\n\n1\n--d--\n",
	  NULL, NULL, "one.eml|message/rfc822|15\n" },
	{ "a missing boundary is guessed from the body",
	  HDR "Content-Type: multipart/mixed\n\n--guess\nContent-Type: text/plain\n\nguessed\n"
	  "--guess\nContent-Type: application/pdf; name=x.pdf\n\n%PDF\n--guess--\n",
	  "guessed", NULL, "x.pdf|application/pdf|4\n" },
	{ "a multipart without any boundary is shown as text",
	  HDR "Content-Type: multipart/mixed\n\njust text\n",
	  "just text\n", NULL, "" },
	{ "a boundary never closed",
	  HDR "Content-Type: multipart/mixed; boundary=m\n\n--m\nContent-Type: text/plain\n\ntext\n"
	  "--m\nContent-Type: application/pdf; name=cut.pdf\n\n%PDF-1.4\nrest\n",
	  "text", NULL, "cut.pdf|application/pdf|14\n" },
	{ "an inner multipart never closed ends at the outer delimiter",
	  HDR "Content-Type: multipart/mixed; boundary=o\n\n--o\nContent-Type: multipart/alternative; boundary=i\n\n"
	  "--i\nContent-Type: text/plain\n\ninner\n--o\nContent-Type: image/png; name=p.png\n\nPNG\n--o--\n",
	  "inner", NULL, "p.png|image/png|3\n" },
	{ "delimiters with transport padding; a longer boundary is not ours",
	  HDR "Content-Type: multipart/mixed; boundary=ab\n\n--ab \t\n\nfirst\n--abc\n--ab\nContent-Type: image/png\n\nX\n--ab-- \n",
	  "first\n--abc", NULL, "attachment-1|image/png|1\n" },
	{ "a part that names no Content-Type and has no blank line",
	  HDR "Content-Type: multipart/mixed; boundary=m\n\n--m\nnot a header line\n--m--\n",
	  "not a header line", NULL, "" },
	{ "two Content-Type fields: the first counts",
	  HDR "Content-Type: text/html\nContent-Type: text/plain\n\n<b>x</b>\n",
	  NULL, "<b>x</b>\n", "" },
	{ "a text part with a file name is an attachment",
	  HDR "Content-Type: text/plain; name=notes.txt\n\nnotes\n",
	  NULL, NULL, "notes.txt|text/plain|6\n" },
	{ "top-level attachment (no body)",
	  HDR "Content-Type: application/pdf\nContent-Transfer-Encoding: base64\n\nJVBERi0xLjQK\n",
	  NULL, NULL, "attachment-1|application/pdf|9\n" },
};

START_TEST(test_view)
{
	const struct view_case *c = &view_cases[_i];
	struct msgview v;
	char *atts;

	parse_ok(c->name, c->eml, 0, NULL, &v);
	check_utf8(c->name, &v);
	check_str(c->name, "text", v.text, c->text);
	check_str(c->name, "html", v.html, c->html);
	atts = describe_atts(&v);
	check_str(c->name, "attachments", atts, c->atts);
	ck_assert_msg(!v.text_truncated && !v.html_dropped && !v.att_dropped, "%s: a limit flag is set", c->name);
	free(atts);
	msgview_free(&v);
}
END_TEST

/* Display fields and the decoded bytes of attachments. */
START_TEST(test_fields_and_data)
{
	const char *eml =
	    "From: =?utf-8?q?Andr=C3=A9?= <andre@example.com>\nTo: a@example.org,\n\tb@example.org\n"
	    "Cc: c@example.org\nDate: Mon, 1 Jan 2024 10:00:00 +0000\nSubject: Hello\nMessage-ID: <x1@example.com>\n"
	    "Content-Type: multipart/mixed; boundary=m\n\n--m\n\nbody\n--m\nContent-Type: application/pdf; name=a.pdf\n"
	    "Content-Transfer-Encoding: base64\n\nJVBE\nRi0x\nLjQK\n--m--\n";
	struct msgview v;

	parse_ok("fields", eml, 0, NULL, &v);
	check_str("fields", "from", v.from, "Andr\xc3\xa9 <andre@example.com>");
	check_str("fields", "to", v.to, "a@example.org, b@example.org");
	check_str("fields", "cc", v.cc, "c@example.org");
	check_str("fields", "date", v.date, "Mon, 1 Jan 2024 10:00:00 +0000");
	check_str("fields", "subject", v.subject, "Hello");
	check_str("fields", "message_id", v.message_id, "<x1@example.com>");
	ck_assert_uint_eq(v.natt, 1);
	ck_assert_uint_eq(v.att[0].size, 9);
	ck_assert_msg(memcmp(v.att[0].data, "%PDF-1.4\n", 9) == 0, "decoded data: got \"%.*s\", want \"%%PDF-1.4\\n\"",
	    (int)v.att[0].size, (const char *)v.att[0].data);
	msgview_free(&v);
	msgview_free(&v);     /* a second free is harmless */

	parse_ok("no fields", "X-Other: 1\n\nbody\n", 0, NULL, &v);
	check_str("no fields", "from", v.from, "");
	check_str("no fields", "subject", v.subject, "");
	check_str("no fields", "message_id", v.message_id, "");
	msgview_free(&v);
}
END_TEST

/* ---- header decoding ------------------------------------------------------- */

static const struct subject_case {
	const char *name;
	const char *raw;         /* the Subject field's value as sent */
	const char *want;        /* NULL: only valid UTF-8 is wanted */
} subject_cases[] = {
	{ "RFC 2047 Q", "=?utf-8?q?Gr=C3=BC=C3=9Fe?=", "Gr\xc3\xbc\xc3\x9f" "e" },
	{ "RFC 2047 B, ISO-8859-1", "=?iso-8859-1?b?Y2Fm6Q==?= ok", "caf\xc3\xa9 ok" },
	{ "folded", "one\n two", "one two" },
	{ "controls become spaces", "a\x01" "b\x7f" "c", "a b c" },
	{ "encoded control", "=?utf-8?q?a=0Ab?=", "a b" },
	{ "raw 8-bit, not UTF-8", "caf\xe9 \xff\xfe", NULL },
	{ "broken UTF-8 sequences", "\xc3\x28 \xed\xa0\x80 \xf4\x90\x80\x80 \xc3", NULL },
	{ "unknown charset in an encoded word", "=?x-bogus?q?abc?=", NULL },
};

START_TEST(test_subject)
{
	const struct subject_case *c = &subject_cases[_i];
	struct sbuf b;
	struct msgview v;

	sbuf_init(&b, 0);
	sbuf_printf(&b, "From: a@example.com\nSubject: %s\n\nbody\n", c->raw);
	parse_ok(c->name, b.data, b.len, NULL, &v);
	check_utf8(c->name, &v);
	if (c->want)
		check_str(c->name, "subject", v.subject, c->want);
	else
		ck_assert_msg(*v.subject != '\0', "%s: subject is empty", c->name);
	msgview_free(&v);
	sbuf_free(&b);
}
END_TEST

/* ---- charsets and transfer encodings ------------------------------------- */

static const struct body_case {
	const char *name;
	const char *ctype;       /* Content-Type value */
	const char *cte;         /* Content-Transfer-Encoding, or NULL */
	const char *body;
	size_t len;              /* when the body holds NUL bytes; else 0 */
	const char *want;        /* the text body */
} body_cases[] = {
	{ "ISO-8859-1", "text/plain; charset=ISO-8859-1", "8bit", "caf\xe9", 0, "caf\xc3\xa9" },
	{ "ISO-8859-1 is read as windows-1252", "text/plain; charset=iso-8859-1", NULL, "\x80 5", 0, "\xe2\x82\xac 5" },
	{ "windows-1252", "text/plain; charset=windows-1252", NULL, "\x93hi\x94 \x85", 0,
	  "\xe2\x80\x9chi\xe2\x80\x9d \xe2\x80\xa6" },
	{ "windows-1252 quoted-printable", "text/plain; charset=\"Windows-1252\"", "quoted-printable",
	  "=93hi=94", 0, "\xe2\x80\x9chi\xe2\x80\x9d" },
	{ "UTF-16LE", "text/plain; charset=utf-16le", NULL, "h\0i\0", 4, "hi" },
	{ "unknown charset: UTF-8 with replacement", "text/plain; charset=x-no-such-charset", NULL,
	  "caf\xc3\xa9 \xff!", 0, "caf\xc3\xa9 \xef\xbf\xbd!" },
	{ "invalid UTF-8 and NUL", "text/plain; charset=utf-8", NULL, "a\xc3\x28" "b\0c\xed\xa0\x80", 9,
	  "a\xef\xbf\xbd(b\xef\xbf\xbd" "c\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },
	{ "8bit", "text/plain; charset=utf-8", "8bit", "caf\xc3\xa9\n", 0, "caf\xc3\xa9\n" },
	{ "quoted-printable", "text/plain; charset=utf-8", "Quoted-Printable",
	  "caf=C3=A9 soft=\nbreak =3D=\r\nend", 0, "caf\xc3\xa9 softbreak =end" },
	{ "base64", "text/plain; charset=utf-8", "base64", "Y2Fm\nw6kgYmFz\r\nZTY0\n", 0, "caf\xc3\xa9 base64" },
	{ "base64 in upper case", "text/plain; charset=utf-8", "BASE64", "aGk=", 0, "hi" },
	{ "broken base64: junk skipped", "text/plain", "base64", "aG!!k*=\nhello", 0, "hi" },
	{ "broken base64: truncated", "text/plain", "base64", "aGVsbG8gd29y", 0, "hello wor" },
	{ "unknown transfer encoding: as is", "text/plain", "x-unknown", "as is", 0, "as is" },
};

START_TEST(test_body)
{
	const struct body_case *c = &body_cases[_i];
	struct sbuf b;
	struct msgview v;

	sbuf_init(&b, 0);
	sbuf_printf(&b, "From: a@example.com\nContent-Type: %s\n", c->ctype);
	if (c->cte)
		sbuf_printf(&b, "Content-Transfer-Encoding: %s\n", c->cte);
	sbuf_adds(&b, "\n");
	sbuf_add(&b, c->body, c->len ? c->len : strlen(c->body));
	parse_ok(c->name, b.data, b.len, NULL, &v);
	check_utf8(c->name, &v);
	check_str(c->name, "text", v.text, c->want);
	msgview_free(&v);
	sbuf_free(&b);
}
END_TEST

/* ---- limits ---------------------------------------------------------------- */

/* levels multiparts nested, a text part at the bottom. */
static char *
nested(size_t levels)
{
	struct sbuf b;
	size_t i;

	sbuf_init(&b, 0);
	sbuf_adds(&b, "From: a@example.com\n");
	for (i = 0; i < levels; i++)
		sbuf_printf(&b, "Content-Type: multipart/mixed; boundary=b%zu\n\n--b%zu\n", i, i);
	sbuf_adds(&b, "Content-Type: text/plain\n\ndeep text\n");
	return sbuf_steal(&b);
}

static const struct depth_case {
	size_t levels, max_depth;
	int found;
} depth_cases[] = {
	{ 0, 0, 1 }, { 1, 0, 0 }, { 3, 3, 1 }, { 4, 3, 0 }, { 20, 20, 1 }, { 21, 20, 0 },
	{ 5000, 20, 0 }, { 5000, 100000, 0 },
};

START_TEST(test_depth)
{
	const struct depth_case *c = &depth_cases[_i];
	struct msgview_limits lim = def_limits();
	char *eml = nested(c->levels);
	struct msgview v;

	lim.max_depth = c->max_depth;
	lim.max_parts = 100000;
	parse_ok("depth", eml, 0, &lim, &v);
	ck_assert_msg((v.text != NULL) == c->found, "%zu levels, max_depth %zu: text got %s, want %s", c->levels,
	    c->max_depth, v.text ? v.text : "NULL", c->found ? "deep text" : "NULL");
	if (c->found)
		check_str("depth", "text", v.text, "deep text\n");
	msgview_free(&v);
	free(eml);
}
END_TEST

/* A multipart/mixed of a text part and n attachments. */
static char *
many_parts(size_t n)
{
	struct sbuf b;
	size_t i;

	sbuf_init(&b, 0);
	sbuf_adds(&b, "From: a@example.com\nContent-Type: multipart/mixed; boundary=x\n\n--x\n\nthe text\n");
	for (i = 0; i < n; i++)
		sbuf_printf(&b, "--x\nContent-Type: application/octet-stream; name=f%zu.bin\n\n%zu\n", i + 1, i + 1);
	sbuf_adds(&b, "--x--\n");
	return sbuf_steal(&b);
}

static const struct parts_case {
	size_t natt_in, max_parts, max_attachments;
	size_t want_natt;
	int want_dropped;
	const char *want_last;   /* the last attachment's name */
} parts_cases[] = {
	{ 50, 500, 100, 50, 0, "f50.bin" },
	{ 50, 10, 100, 8, 0, "f8.bin" },         /* the multipart and the text are parts too */
	{ 50, 500, 5, 5, 1, "f5.bin" },
	{ 50, 1, 100, 0, 0, NULL },
	{ 0, 500, 0, 0, 0, NULL },
	{ 3, 500, 0, 0, 1, NULL },
	{ 20000, 500, 100, 100, 1, "f100.bin" },
};

START_TEST(test_parts)
{
	const struct parts_case *c = &parts_cases[_i];
	struct msgview_limits lim = def_limits();
	char *eml = many_parts(c->natt_in);
	struct msgview v;

	lim.max_parts = c->max_parts;
	lim.max_attachments = c->max_attachments;
	parse_ok("parts", eml, 0, &lim, &v);
	ck_assert_msg(v.natt == c->want_natt && v.att_dropped == c->want_dropped,
	    "%zu attachments, max_parts %zu, max_attachments %zu: got %zu (dropped %d), want %zu (dropped %d)",
	    c->natt_in, c->max_parts, c->max_attachments, v.natt, v.att_dropped, c->want_natt, c->want_dropped);
	if (c->want_last)
		check_str("parts", "last name", v.att[v.natt - 1].filename, c->want_last);
	msgview_free(&v);
	free(eml);
}
END_TEST

static const struct text_max_case {
	const char *body;
	size_t max_text;
	const char *want;
	int truncated;
} text_max_cases[] = {
	{ "abcdef", 6, "abcdef", 0 },
	{ "abcdef", 5, "abcde", 1 },
	{ "ab\xc3\xa9" "cd", 3, "ab", 1 },                 /* not in the middle of é */
	{ "ab\xc3\xa9" "cd", 4, "ab\xc3\xa9", 1 },
	{ "\xe2\x82\xac\xe2\x82\xac", 5, "\xe2\x82\xac", 1 },
	{ "\xf0\x9f\x98\x80x", 3, "", 1 },
	{ "abc", 0, "", 1 },
	{ "", 0, "", 0 },
	{ "a\xff", 3, "a", 1 },                            /* U+FFFD is 3 bytes */
};

START_TEST(test_text_max)
{
	const struct text_max_case *c = &text_max_cases[_i];
	struct msgview_limits lim = def_limits();
	struct msgview v;
	struct sbuf b;

	sbuf_init(&b, 0);
	sbuf_printf(&b, "From: a@example.com\n\n%s", c->body);
	lim.max_text = c->max_text;
	parse_ok("text max", b.data, b.len, &lim, &v);
	check_str("text max", "text", v.text, c->want);
	ck_assert_msg(v.text_truncated == c->truncated, "\"%s\", max %zu: truncated got %d, want %d", c->body,
	    c->max_text, v.text_truncated, c->truncated);
	msgview_free(&v);
	sbuf_free(&b);
}
END_TEST

START_TEST(test_long_text)
{
	struct msgview_limits lim = def_limits();
	struct msgview v;
	struct sbuf b;
	size_t i;

	/* A large text body, charset converted: cut at the limit, not before. */
	sbuf_init(&b, 0);
	sbuf_adds(&b, "From: a@example.com\nContent-Type: text/plain; charset=iso-8859-1\n\n");
	for (i = 0; i < 300000; i++)
		sbuf_adds(&b, "\xe9");
	lim.max_text = 100001;
	parse_ok("long text", b.data, b.len, &lim, &v);
	ck_assert_msg(v.text_truncated, "long text: not flagged as truncated");
	ck_assert_msg(strlen(v.text) == 100000, "long text: got %zu bytes, want 100000", strlen(v.text));
	ck_assert_msg(utf8_ok(v.text), "long text: not valid UTF-8");
	msgview_free(&v);
	sbuf_free(&b);
}
END_TEST

static const char related_eml[] =
    "From: a@example.com\nContent-Type: multipart/related; boundary=r\n\n--r\nContent-Type: text/html\n\n"
    "<p>0123456789</p><img src=\"cid:i1\"><img src=\"cid:i2\">\n"
    "--r\nContent-Type: image/png\nContent-ID: <i1>\n\n0123456789012345678901234567890123456789\n"
    "--r\nContent-Type: image/png\nContent-ID: <i2>\n\nsmall\n--r--\n";

static const struct html_max_case {
	size_t max_html;
	int dropped;
	int inlined1, inlined2;  /* image i1, i2 became data: URIs */
	size_t natt;
} html_max_cases[] = {
	{ 1000, 0, 1, 1, 0 },
	{ 100, 0, 0, 1, 1 },     /* i1 does not fit: it stays an attachment, i2 is inlined */
	{ 60, 0, 0, 0, 2 },      /* only the HTML itself fits */
	{ 30, 1, 0, 0, 2 },      /* the HTML alone is over the limit */
};

START_TEST(test_html_max)
{
	const struct html_max_case *c = &html_max_cases[_i];
	struct msgview_limits lim = def_limits();
	struct msgview v;

	lim.max_html = c->max_html;
	parse_ok("html max", related_eml, 0, &lim, &v);
	ck_assert_msg(v.html_dropped == c->dropped && (v.html == NULL) == c->dropped,
	    "max_html %zu: dropped got %d (html %s), want %d", c->max_html, v.html_dropped, v.html ? "set" : "NULL",
	    c->dropped);
	if (v.html) {
		ck_assert_msg(strlen(v.html) <= c->max_html, "max_html %zu: html is %zu bytes", c->max_html, strlen(v.html));
		ck_assert_msg((strstr(v.html, "cid:i1") == NULL) == c->inlined1, "max_html %zu: i1 inlined: got %s",
		    c->max_html, v.html);
		ck_assert_msg((strstr(v.html, "cid:i2") == NULL) == c->inlined2, "max_html %zu: i2 inlined: got %s",
		    c->max_html, v.html);
	}
	ck_assert_msg(v.natt == c->natt, "max_html %zu: attachments got %zu, want %zu", c->max_html, v.natt, c->natt);
	msgview_free(&v);
}
END_TEST

/* ---- refused input ------------------------------------------------------- */

static const struct refuse_case {
	const char *name;
	const char *input;
	size_t len;
	size_t max_message;      /* 0: the default */
	const char *want_err;    /* a part of the error */
} refuse_cases[] = {
	{ "empty", "", 0, 0, "empty" },
	{ "binary noise", "\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06", 26, 0, "not a message" },
	{ "text that is not a header", "Hello, this is not a message\n\nreally\n", 0, 0, "not a message" },
	{ "a continuation line first", " Subject: x\n\nbody\n", 0, 0, "not a message" },
	{ "over max_message", "Subject: 12345678\n\n0123456789\n", 0, 29,
	  "message is 30 bytes, over the viewer's limit of 29" },
};

START_TEST(test_refuse)
{
	const struct refuse_case *c = &refuse_cases[_i];
	struct msgview_limits lim = def_limits();
	struct msgview v;
	char *err = NULL;
	size_t len = c->len ? c->len : strlen(c->input);
	int rc;

	if (c->max_message)
		lim.max_message = c->max_message;
	rc = msgview_parse(c->input, len, &lim, &v, &err);
	ck_assert_msg(rc == -1, "%s: got %d, want -1", c->name, rc);
	ck_assert_msg(err && strstr(err, c->want_err), "%s: error got \"%s\", want one with \"%s\"", c->name,
	    err ? err : "(none)", c->want_err);
	ck_assert_msg(v.from == NULL && v.text == NULL && v.att == NULL, "%s: result not empty", c->name);
	msgview_free(&v);
	free(err);
}
END_TEST

START_TEST(test_max_message_default)
{
	struct msgview_limits lim;
	struct msgview v;
	char *err = NULL;
	size_t len = 70000000;
	char *big = malloc(len);

	msgview_default_limits(&lim);
	ck_assert_uint_eq(lim.max_message, 67108864);
	ck_assert_uint_eq(lim.max_parts, 500);
	ck_assert_uint_eq(lim.max_depth, 20);
	ck_assert_uint_eq(lim.max_text, 2u * 1024 * 1024);
	ck_assert_uint_eq(lim.max_html, 8u * 1024 * 1024);
	ck_assert_uint_eq(lim.max_attachments, 100);
	ck_assert_ptr_nonnull(big);
	memset(big, 'a', len);
	memcpy(big, "Subject: big\n\n", 14);    /* NOLINT(bugprone-not-null-terminated-result): len bytes, counted */
	ck_assert_int_eq(msgview_parse(big, len, &lim, &v, &err), -1);
	check_str("70 MB", "error", err, "message is 70000000 bytes, over the viewer's limit of 67108864");
	free(err);
	/* Just at the limit it is read. */
	err = NULL;
	parse_ok("64 MiB", big, lim.max_message, &lim, &v);
	ck_assert_msg(v.text_truncated && strlen(v.text) == lim.max_text, "64 MiB: text not cut at max_text");
	msgview_free(&v);
	free(big);
}
END_TEST

/* Hostile structure that must neither crash nor blow up. */
START_TEST(test_hostile)
{
	static const char *const evil[] = {
		"From: a\nContent-Type: multipart/mixed; boundary=a\n\n--a\nContent-Type: multipart/mixed; boundary=a\n\n"
		"--a\n\nsame boundary\n--a--\n--a--\n",
		"From: a\nContent-Type: multipart/mixed; boundary=\"\"\n\n--\n\nx\n",
		"From: a\nContent-Type: multipart/mixed; boundary=a\n\n--a--\n--a\n\nafter close\n",
		"From: a\nContent-Type: multipart/mixed; boundary=a\n\n--a",
		"From: a\nContent-Type: multipart/mixed; boundary=a\n\n--a\n",
		"From: a\nContent-Type: multipart/mixed; boundary=a:b\n\n--a:b\nContent-Type: text/plain\n\nx\n--a:b--\n",
		"From: a\nContent-Type: message/rfc822\n\n",
		"From: a\nContent-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\n!!!!\n",
		"From: a\nContent-Type: text/html\n\n<img src=cid:>cid:cid:=cid:=\"cid:%zz\" (cid:%00",
		"From: a\nContent-Type: multipart/related; boundary=r\n\n--r\nContent-Type: text/html\n\n=cid:%\n"
		"--r\nContent-Type: image/png\nContent-ID: <%>\n\nx\n--r\nContent-Type: image/png\nContent-ID: <>\n\ny\n--r--\n",
		"From:\n\n",
		"From: a\r\r\n\r\nbare CR\r",
		"From: a\nContent-Type: multipart/mixed; boundary=m\n\n--m\nContent-Disposition: attachment; filename=\"...\"\n\n"
		"x\n--m\nContent-Disposition: attachment; filename=\"\\x01\"\n\ny\n--m--\n",
	};
	struct msgview_limits lim = def_limits();
	struct msgview v;
	size_t i;

	for (i = 0; i < sizeof(evil) / sizeof(evil[0]); i++) {
		char *err = NULL, what[32];
		snprintf(what, sizeof(what), "hostile %zu", i);
		if (msgview_parse(evil[i], strlen(evil[i]), &lim, &v, &err) == 0)
			check_utf8(what, &v);
		msgview_free(&v);
		free(err);
	}
}
END_TEST

/* Millions of tiny parts and header lines cost memory in proportion to
 * what is kept, not to what was sent. */
START_TEST(test_tiny_parts)
{
	struct msgview_limits lim = def_limits();
	struct msgview v;
	struct sbuf b;
	size_t i;

	sbuf_init(&b, 0);
	sbuf_adds(&b, "From: a@example.com\n");
	for (i = 0; i < 200000; i++)
		sbuf_adds(&b, "X: y\n");
	sbuf_adds(&b, "Content-Type: multipart/mixed; boundary=b\n\n");
	for (i = 0; i < 1000000; i++)
		sbuf_adds(&b, "--b\n\n");
	parse_ok("tiny parts", b.data, b.len, &lim, &v);
	/* The first empty part is the text; the next 498 are listed (empty
	 * inline text parts in a mixed), up to max_attachments. */
	ck_assert_msg(v.natt == 100 && v.att_dropped && v.text && *v.text == '\0',
	    "tiny parts: got %zu attachments (dropped %d), text \"%s\"", v.natt, v.att_dropped, v.text ? v.text : "NULL");
	msgview_free(&v);
	sbuf_free(&b);
}
END_TEST

/* ---- html.c ---------------------------------------------------------------- */

static const struct esc_case {
	const char *in;
	size_t len;              /* 0: strlen */
	const char *want;
	const char *want_lines;  /* html_escape_lines(); NULL: the same as want */
} esc_cases[] = {
	{ "plain", 0, "plain", NULL },
	{ "&", 0, "&amp;", NULL },
	{ "<", 0, "&lt;", NULL },
	{ ">", 0, "&gt;", NULL },
	{ "\"", 0, "&quot;", NULL },
	{ "'", 0, "&#39;", NULL },
	{ "<a href=\"x\" title='y'>&amp;</a>", 0, "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;amp;&lt;/a&gt;", NULL },
	{ "\" onmouseover=\"alert(1)", 0, "&quot; onmouseover=&quot;alert(1)", NULL },
	{ "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 0, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", NULL },
	{ "a\xff" "b", 0, "a\xef\xbf\xbd" "b", NULL },
	{ "\xc3", 0, "\xef\xbf\xbd", NULL },                            /* cut sequence */
	{ "\xc0\xbc", 0, "\xef\xbf\xbd\xef\xbf\xbd", NULL },            /* overlong '<' */
	{ "\xed\xa0\x80", 0, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", NULL },   /* surrogate */
	{ "\xf4\x90\x80\x80", 0, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", NULL },   /* > U+10FFFF */
	{ "a\0b", 3, "ab", NULL },
	{ "a\x01\x08\x0b\x0c\x1b\x1f" "b", 0, "ab", NULL },
	{ "a\x7f" "b\xc2\x80\xc2\x9f" "c\xc2\xa0" "d", 0, "abc\xc2\xa0" "d", NULL },
	{ "t\tn\nr\r.", 0, "t\tn\nr\r.", "t\tn<br>r<br>." },
	{ "1\r\n2\n\n3", 0, "1\r\n2\n\n3", "1<br>2<br><br>3" },
	{ "<b>\n</b>", 0, "&lt;b&gt;\n&lt;/b&gt;", "&lt;b&gt;<br>&lt;/b&gt;" },
	{ "", 0, "", NULL },
};

START_TEST(test_escape)
{
	const struct esc_case *c = &esc_cases[_i];
	size_t len = c->len ? c->len : strlen(c->in);
	const char *wl = c->want_lines ? c->want_lines : c->want;
	struct sbuf b;

	sbuf_init(&b, 0);
	sbuf_adds(&b, "[");
	ck_assert_int_eq(html_escape(&b, c->in, len), 0);
	ck_assert_msg(strcmp(b.data + 1, c->want) == 0, "html_escape case %d: got \"%s\", want \"%s\"", _i, b.data + 1,
	    c->want);
	sbuf_reset(&b);
	ck_assert_int_eq(html_escape_lines(&b, c->in, len), 0);
	ck_assert_msg(strcmp(b.data ? b.data : "", wl) == 0, "html_escape_lines case %d: got \"%s\", want \"%s\"", _i,
	    b.data ? b.data : "", wl);
	if (c->len == 0) {
		sbuf_reset(&b);
		ck_assert_int_eq(html_escapes(&b, c->in), 0);
		ck_assert_msg(strcmp(b.data ? b.data : "", c->want) == 0, "html_escapes case %d: got \"%s\", want \"%s\"",
		    _i, b.data ? b.data : "", c->want);
	}
	sbuf_free(&b);
}
END_TEST

/* A buffer that refuses keeps what it had: no half-escaped value. */
START_TEST(test_escape_refused)
{
	struct sbuf b;

	sbuf_init(&b, 10);
	sbuf_adds(&b, "ok");
	ck_assert_int_eq(html_escape(&b, "abc<def", 7), -1);
	check_str("refused", "buffer", b.data, "ok");
	ck_assert_int_eq(html_escape_lines(&b, "a\nb\nc", 5), -1);
	check_str("refused lines", "buffer", b.data, "ok");
	ck_assert_int_eq(url_encode(&b, "a b c", 5), -1);
	check_str("refused url", "buffer", b.data, "ok");
	ck_assert_int_eq(html_escape(&b, "<", 1), 0);
	check_str("fits", "buffer", b.data, "ok&lt;");
	ck_assert_int_eq(html_escapes(&b, NULL), 0);
	sbuf_free(&b);
}
END_TEST

static const struct url_case {
	const char *in;
	size_t len;
	const char *want;
} url_cases[] = {
	{ "abcXYZ019-._~", 0, "abcXYZ019-._~" },
	{ "a b+c/d?e=f&g#h%", 0, "a%20b%2Bc%2Fd%3Fe%3Df%26g%23h%25" },
	{ "caf\xc3\xa9", 0, "caf%C3%A9" },
	{ "\0\xff", 2, "%00%FF" },
	{ "\"<>'", 0, "%22%3C%3E%27" },
	{ "", 0, "" },
};

START_TEST(test_url_encode)
{
	const struct url_case *c = &url_cases[_i];
	struct sbuf b;

	sbuf_init(&b, 0);
	ck_assert_int_eq(url_encode(&b, c->in, c->len ? c->len : strlen(c->in)), 0);
	ck_assert_msg(strcmp(b.data ? b.data : "", c->want) == 0, "url_encode case %d: got \"%s\", want \"%s\"", _i,
	    b.data ? b.data : "", c->want);
	sbuf_free(&b);
}
END_TEST

static const struct form_case {
	const char *in;
	long want_len;           /* -1: refused */
	const char *want;
} form_cases[] = {
	{ "a+b", 3, "a b" },
	{ "%41%42c", 3, "ABc" },
	{ "%e2%82%AC", 3, "\xe2\x82\xac" },
	{ "100%25+sure", 9, "100% sure" },
	{ "%2B", 1, "+" },
	{ "", 0, "" },
	{ "%4", -1, NULL },
	{ "%", -1, NULL },
	{ "%4g", -1, NULL },
	{ "%G1", -1, NULL },
	{ "a%00b", -1, NULL },
	{ "%%41", -1, NULL },
};

START_TEST(test_form_decode)
{
	const struct form_case *c = &form_cases[_i];
	char *s = strdup(c->in);
	long n;

	ck_assert_ptr_nonnull(s);
	n = form_decode(s, strlen(s));
	ck_assert_msg(n == c->want_len, "form_decode(\"%s\"): got %ld, want %ld", c->in, n, c->want_len);
	if (n >= 0)
		ck_assert_msg((size_t)n == strlen(c->want) && memcmp(s, c->want, (size_t)n) == 0 && s[n] == '\0',
		    "form_decode(\"%s\"): got \"%.*s\", want \"%s\"", c->in, (int)n, s, c->want);
	free(s);

	/* A raw NUL is refused too. */
	ck_assert_int_eq(form_decode((char[]){ 'a', '\0', 'b' }, 3), -1);
}
END_TEST

/* ---- suite ------------------------------------------------------------------ */

static Suite *
msgview_suite(void)
{
	Suite *s = suite_create("msgview");
	TCase *tc;

	tc = tcase_create("parse");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_view, 0, NCASES(view_cases));
	tcase_add_test(tc, test_fields_and_data);
	tcase_add_loop_test(tc, test_subject, 0, NCASES(subject_cases));
	tcase_add_loop_test(tc, test_body, 0, NCASES(body_cases));
	suite_add_tcase(s, tc);

	tc = tcase_create("limits");
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_depth, 0, NCASES(depth_cases));
	tcase_add_loop_test(tc, test_parts, 0, NCASES(parts_cases));
	tcase_add_loop_test(tc, test_text_max, 0, NCASES(text_max_cases));
	tcase_add_test(tc, test_long_text);
	tcase_add_loop_test(tc, test_html_max, 0, NCASES(html_max_cases));
	tcase_add_loop_test(tc, test_refuse, 0, NCASES(refuse_cases));
	tcase_add_test(tc, test_max_message_default);
	tcase_add_test(tc, test_hostile);
	tcase_add_test(tc, test_tiny_parts);
	suite_add_tcase(s, tc);

	tc = tcase_create("html");
	tcase_add_loop_test(tc, test_escape, 0, NCASES(esc_cases));
	tcase_add_test(tc, test_escape_refused);
	tcase_add_loop_test(tc, test_url_encode, 0, NCASES(url_cases));
	tcase_add_loop_test(tc, test_form_decode, 0, NCASES(form_cases));
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run_suite(msgview_suite());
}
