/* test_mime.c - unit tests for the streaming MIME scanner (mimescan_*) and
 * the header helpers of hdrdecode.c (hdr_decode, hdr_encode,
 * mime_ctype_parse, mime_disposition_parse, mime_addresses, mime_to_utf8).
 *
 * Covers: single-part text (LF, CRLF, quoted-printable, base64) and the
 * decoded text body conditions see; multipart/mixed parts, content types,
 * RFC 2231 / RFC 2047 file names and decoded sizes; nesting, message/rfc822
 * and multipart/digest; charset conversion; results that do not depend on
 * how the body is chunked; malformed input (best reading, no crash, a
 * "malformed" note); the depth, part and text limits; and header decoding
 * that always yields valid UTF-8. */
#include "build-config.h"

#include <glib.h>

#include "mime/mimescan.h"
#include "testutil.h"

#define MIB (1024u * 1024u)

static const struct mimescan_limits def_lim = { MIB, 20, 1000 };

/* ---- helpers ------------------------------------------------------------ */

/* Scan body (len bytes) under the given top-level headers, feeding it in
 * chunks of chunk bytes (0: all at once). Free with mimescan_free(). */
static struct mimescan *
scan_chunked(const char *ctype, const char *cte, const char *body, size_t len, size_t chunk,
    const struct mimescan_limits *lim)
{
	struct mimescan *ms = mimescan_new(lim ? lim : &def_lim);
	size_t off;

	ck_assert_ptr_nonnull(ms);
	mimescan_header(ms, "Subject", "not a MIME header");
	if (ctype)
		mimescan_header(ms, "Content-Type", ctype);
	if (cte)
		mimescan_header(ms, "Content-Transfer-Encoding", cte);
	if (chunk == 0)
		chunk = len ? len : 1;
	for (off = 0; off < len; off += chunk)
		mimescan_feed(ms, body + off, len - off < chunk ? len - off : chunk);
	mimescan_finish(ms);
	return ms;
}

static struct mimescan *
scan(const char *ctype, const char *cte, const char *body, const struct mimescan_limits *lim)
{
	return scan_chunked(ctype, cte, body, strlen(body), 0, lim);
}

/* Everything the scanner reports, as one byte string (for comparisons). */
static void
describe(const struct mimescan *ms, struct sbuf *b)
{
	const struct part_info *p;
	const char *t;
	size_t n, i, tl;
	int tr;

	sbuf_init(b, 0);
	t = mimescan_text(ms, &tl, &tr);
	sbuf_printf(b, "text(%zu, truncated=%d)=[", tl, tr);
	sbuf_add(b, t, tl);
	p = mimescan_parts(ms, &n);
	sbuf_printf(b, "]\nparts=%zu\n", n);
	for (i = 0; i < n; i++)
		sbuf_printf(b, "%s|%s|%llu|%d\n", p[i].content_type, p[i].filename ? p[i].filename : "(none)",
		    (unsigned long long)p[i].size, p[i].attachment);
	sbuf_printf(b, "malformed=%s\nlimit=%s\n", mimescan_malformed(ms) ? mimescan_malformed(ms) : "(none)",
	    mimescan_limit_error(ms) ? mimescan_limit_error(ms) : "(none)");
}

/* Fail with the first difference between two descriptions. */
static void
assert_same(const struct sbuf *got, const struct sbuf *want, const char *what)
{
	size_t i = 0, n = got->len < want->len ? got->len : want->len;

	if (got->len == want->len && memcmp(got->data, want->data, got->len) == 0)
		return;
	while (i < n && got->data[i] == want->data[i])
		i++;
	ck_abort_msg("%s: results differ at byte %zu (got length %zu, want %zu): got \"%.60s\", want \"%.60s\"",
	    what, i, got->len, want->len, got->data + (i > 20 ? i - 20 : 0), want->data + (i > 20 ? i - 20 : 0));
}

/* The scanned text with trailing line ends removed (the scanner ends every
 * part's text with a separator). */
static size_t
trimmed_text(const struct mimescan *ms, const char **t)
{
	size_t len;
	int tr;

	*t = mimescan_text(ms, &len, &tr);
	while (len > 0 && (*t)[len - 1] == '\n')
		len--;
	return len;
}

static int
text_has(const struct mimescan *ms, const char *needle)
{
	size_t len;
	int tr;
	const char *t = mimescan_text(ms, &len, &tr);

	return memmem(t, len, needle, strlen(needle)) != NULL;
}

static int
utf8_ok(const char *s)
{
	return s != NULL && g_utf8_validate(s, -1, NULL);
}

static char *
repeat(const char *unit, size_t times)
{
	size_t ul = strlen(unit), i;
	char *s = malloc(ul * times + 1);

	ck_assert_ptr_nonnull(s);
	for (i = 0; i < times; i++)
		memcpy(s + i * ul, unit, ul);
	s[ul * times] = '\0';
	return s;
}

/* ---- single-part messages ---------------------------------------------- */

static const struct single_case {
	const char *name;
	const char *ctype, *cte;
	const char *body;
	const char *want_text;      /* trailing line ends ignored */
	long long want_size;        /* decoded bytes of the part */
	const char *want_type;
} single_cases[] = {
	{ "LF text", NULL, NULL, "Hello\nWorld\n", "Hello\nWorld", 12, "text/plain" },
	{ "CRLF text", "text/plain; charset=us-ascii", NULL, "Hello\r\nWorld\r\n", "Hello\nWorld", 12, "text/plain" },
	{ "no final line end", "text/plain", NULL, "Hello\nWorld", "Hello\nWorld", 11, "text/plain" },
	{ "type is lower-cased", "TEXT/Plain; Charset=UTF-8", "7BIT", "caf\xc3\xa9\n", "caf\xc3\xa9", 6, "text/plain" },
	{ "html is read as text", "text/html", NULL, "<p>Hi &amp; <b>b</b>ye</p>\n", " Hi & bye ", 27, "text/html" },
	{ "qp soft line breaks", "text/plain; charset=utf-8", "quoted-printable",
	  "soft=\nbreak and =3D sign=\r\n here\n", "softbreak and = sign here", 26, "text/plain" },
	{ "qp escapes upper and lower case", "text/plain; charset=utf-8", "Quoted-Printable",
	  "caf=C3=A9 =e2=82=ac\n", "caf\xc3\xa9 \xe2\x82\xac", 10, "text/plain" },
	{ "qp invalid escapes kept", "text/plain", "quoted-printable", "=ZZ a=4\n", "=ZZ a=4", 8, "text/plain" },
	{ "qp trailing white space dropped", "text/plain", "quoted-printable", "abc  \t\ndef\n", "abc\ndef", 8,
	  "text/plain" },
	{ "qp soft break after white space", "text/plain", "quoted-printable", "abc= \r\ndef\r\n", "abcdef", 7,
	  "text/plain" },
	{ "base64 whole groups", "text/plain", "base64", "SGVsbG8h\n", "Hello!", 6, "text/plain" },
	{ "base64 across lines, CRLF", "text/plain", "BASE64", "SGVs\r\nbG8h\r\n", "Hello!", 6, "text/plain" },
	{ "base64 with white space inside", "text/plain", "base64", "SGVs bG8h\n", "Hello!", 6, "text/plain" },
	{ "base64 with == padding", "text/plain", "base64", "SGVsbG8sIHdvcmxkIQ==\n", "Hello, world!", 13,
	  "text/plain" },
	{ "base64 with = padding", "text/plain", "base64", "SGk=\n", "Hi", 2, "text/plain" },
	{ "base64 one byte", "text/plain", "base64", "QQ==", "A", 1, "text/plain" },
	{ "non-text part has no text", "application/pdf", "base64", "JVBERi0xLjQK\n", "", 9, "application/pdf" },
	{ "empty body", NULL, NULL, "", "", 0, "text/plain" },
	/* RFC 2045 5.2: a syntactically invalid Content-Type is read as text/plain. */
	{ "type without subtype is text/plain", "text", NULL, "hidden text\n", "hidden text", 12, "text/plain" },
	{ "garbage type is text/plain", "garbage", NULL, "hidden text\n", "hidden text", 12, "text/plain" },
};

START_TEST(test_single_part)
{
	const struct single_case *c = &single_cases[_i];
	struct mimescan *ms = scan(c->ctype, c->cte, c->body, NULL);
	const struct part_info *p;
	const char *t;
	size_t n, tl = trimmed_text(ms, &t);

	p = mimescan_parts(ms, &n);
	ck_assert_msg(n == 1, "%s: parts: got %zu, want 1", c->name, n);
	ck_assert_msg(strcmp(p[0].content_type, c->want_type) == 0, "%s: type: got %s, want %s", c->name,
	    p[0].content_type, c->want_type);
	ck_assert_msg(tl == strlen(c->want_text) && memcmp(t, c->want_text, tl) == 0,
	    "%s: text: got \"%.*s\", want \"%s\"", c->name, (int)tl, t, c->want_text);
	ck_assert_msg(memchr(t, '\r', tl) == NULL, "%s: text holds a CR", c->name);
	ck_assert_msg((long long)p[0].size == c->want_size, "%s: size: got %llu, want %lld", c->name,
	    (unsigned long long)p[0].size, c->want_size);
	ck_assert_msg(mimescan_malformed(ms) == NULL, "%s: malformed: got \"%s\", want none", c->name,
	    mimescan_malformed(ms));
	ck_assert_ptr_null(mimescan_limit_error(ms));
	mimescan_free(ms);
}
END_TEST

/* LF and CRLF versions of the same message read the same. */
START_TEST(test_lf_crlf_same)
{
	static const char lf[] = "--b\nContent-Type: text/plain\n\none\ntwo\n--b\n"
	    "Content-Type: application/zip\nContent-Disposition: attachment; filename=x.zip\n\nPK\n--b--\n";
	struct sbuf crlf, d1, d2;
	struct mimescan *a, *b;
	size_t i;

	sbuf_init(&crlf, 0);
	for (i = 0; lf[i]; i++) {
		if (lf[i] == '\n')
			sbuf_addc(&crlf, '\r');
		sbuf_addc(&crlf, lf[i]);
	}
	a = scan("multipart/mixed; boundary=b", NULL, lf, NULL);
	b = scan("multipart/mixed; boundary=b", NULL, crlf.data, NULL);
	describe(a, &d1);
	describe(b, &d2);
	assert_same(&d2, &d1, "CRLF vs LF");
	ck_assert_msg(text_has(a, "one\ntwo"), "text: got no \"one\\ntwo\", want it");
	sbuf_free(&crlf);
	sbuf_free(&d1);
	sbuf_free(&d2);
	mimescan_free(a);
	mimescan_free(b);
}
END_TEST

/* ---- multipart/mixed ---------------------------------------------------- */

static const char mixed_body[] =
    "This is a preamble.\r\n"
    "--=_outer\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: quoted-printable\r\n"
    "\r\n"
    "Please find the r=C3=A9sum=C3=A9 attached.\r\n"
    "--=_outer\r\n"
    "Content-Type: Application/PDF; name=\"ignored.pdf\"\r\n"
    "Content-Disposition: attachment;\r\n"
    " filename*=UTF-8''%E2%82%AC%20rates.pdf\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n"
    "JVBERi0xLjQK\r\n"
    "--=_outer\r\n"
    "Content-Type: application/octet-stream;\r\n"
    "\tname=\"=?utf-8?B?w6l0w6kuYmlu?=\"\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n"
    "AAECAwQFBgcICQ==\r\n"
    "--=_outer\r\n"
    "Content-Type: text/csv\r\n"
    "Content-Disposition: attachment; filename=\"data.csv\"\r\n"
    "Content-Transfer-Encoding: quoted-printable\r\n"
    "\r\n"
    "a,b=\r\n"
    ",c=3D1\r\n"
    "--=_outer--\r\n"
    "This epilogue is ignored.\r\n";

static const struct want_part {
	const char *type;
	const char *filename;
	unsigned long long size;
	int attachment;
} mixed_parts[] = {
	{ "text/plain", NULL, 35, 0 },
	{ "application/pdf", "\xe2\x82\xac rates.pdf", 9, 1 },           /* RFC 2231 */
	{ "application/octet-stream", "\xc3\xa9t\xc3\xa9.bin", 10, 1 },   /* RFC 2047 name= */
	{ "text/csv", "data.csv", 8, 1 },
};

START_TEST(test_multipart_mixed)
{
	struct mimescan *ms = scan("multipart/mixed;\r\n boundary=\"=_outer\"", NULL, mixed_body, NULL);
	const struct part_info *p;
	size_t n, i;

	p = mimescan_parts(ms, &n);
	ck_assert_msg(n == 4, "parts: got %zu, want 4", n);
	for (i = 0; i < n; i++) {
		const struct want_part *w = &mixed_parts[i];
		ck_assert_msg(strcmp(p[i].content_type, w->type) == 0, "part %zu: type: got %s, want %s", i,
		    p[i].content_type, w->type);
		ck_assert_msg(w->filename ? p[i].filename && strcmp(p[i].filename, w->filename) == 0
		    : p[i].filename == NULL, "part %zu: filename: got %s, want %s", i,
		    p[i].filename ? p[i].filename : "(none)", w->filename ? w->filename : "(none)");
		ck_assert_msg(p[i].attachment == w->attachment, "part %zu: attachment: got %d, want %d", i,
		    p[i].attachment, w->attachment);
	}
	ck_assert_msg(text_has(ms, "r\xc3\xa9sum\xc3\xa9 attached."), "text: want the decoded text part");
	/* Preamble and epilogue reach the recipient too: body conditions see them. */
	ck_assert_msg(text_has(ms, "preamble"), "text: the preamble must be scanned");
	ck_assert_msg(text_has(ms, "epilogue"), "text: the epilogue must be scanned");
	/* Text attachments are scanned (the recipient gets them); others are not. */
	ck_assert_msg(!text_has(ms, "PDF"), "text: a PDF attachment must not be scanned");
	ck_assert_msg(text_has(ms, "a,b"), "text: a text/csv attachment must be scanned");
	ck_assert_ptr_null(mimescan_malformed(ms));
	/* Sizes last, so the checks above run whatever the decoders do. */
	for (i = 0; i < n; i++)
		ck_assert_msg(p[i].size == mixed_parts[i].size, "part %zu (%s): size: got %llu, want %llu", i,
		    mixed_parts[i].type, (unsigned long long)p[i].size, mixed_parts[i].size);
	mimescan_free(ms);
}
END_TEST

/* ---- structure: nesting, message/rfc822, digest, malformed ------------- */

static const struct struct_case {
	const char *name;
	const char *ctype;
	const char *body;
	size_t nparts;
	const char *types[6];         /* expected content types, in order */
	const char *filenames[6];     /* NULL: no file name */
	const char *text_has[4];
	const char *text_hasnt[4];
	int malformed;                /* 1: a note is expected, 0: none, -1: either */
} struct_cases[] = {
	{ "alternative inside mixed", "multipart/mixed; boundary=outer",
	  "--outer\n"
	  "Content-Type: multipart/alternative; boundary=inner\n\n"
	  "--inner\nContent-Type: text/plain\n\nplain version\n"
	  "--inner\nContent-Type: text/html\n\n<b>html version</b>\n"
	  "--inner--\n"
	  "--outer\nContent-Type: application/zip\nContent-Disposition: attachment; filename=a.zip\n\nPK\n"
	  "--outer--\n",
	  3, { "text/plain", "text/html", "application/zip" }, { NULL, NULL, "a.zip" },
	  { "plain version", "html version" }, { "PK" }, 0 },
	{ "message/rfc822 attachment", "multipart/mixed; boundary=\"outer\"",
	  "--outer\nContent-Type: text/plain\n\ncover note\n"
	  "--outer\nContent-Type: message/rfc822\nContent-Disposition: attachment\n\n"
	  "From: someone@example.net\nSubject: forwarded\n"
	  "Content-Type: multipart/mixed; boundary=\"in\"\n\n"
	  "--in\nContent-Type: text/plain\n\ninner body\n"
	  "--in\nContent-Type: application/x-msdownload\n"
	  "Content-Disposition: attachment; filename=\"evil.exe\"\n\nMZ\n"
	  "--in--\n"
	  "--outer--\n",
	  3, { "text/plain", "text/plain", "application/x-msdownload" }, { NULL, NULL, "evil.exe" },
	  { "cover note", "inner body" }, { "forwarded", "MZ" }, 0 },
	{ "single-part message/rfc822 inside", "multipart/mixed; boundary=o",
	  "--o\nContent-Type: message/rfc822\n\nSubject: inner\n\ninner text\n--o--\n",
	  1, { "text/plain" }, { NULL }, { "inner text" }, { "Subject" }, 0 },
	{ "top-level message/rfc822", "message/rfc822",
	  "From: a@example.net\nContent-Type: text/html\n\n<p>wrapped</p>\n",
	  1, { "text/html" }, { NULL }, { "wrapped" }, { "From:" }, 0 },
	{ "multipart/digest default type", "multipart/digest; boundary=d",
	  "--d\n\nFrom: a@example.net\nSubject: one\n\nfirst digest message\n"
	  "--d\n\nFrom: b@example.net\nSubject: two\nContent-Type: text/html\n\n<i>second</i>\n"
	  "--d\nContent-Type: text/plain\n\nexplicit plain part\n"
	  "--d--\n",
	  3, { "text/plain", "text/html", "text/plain" }, { NULL, NULL, NULL },
	  { "first digest message", "second", "explicit plain part" }, { "Subject" }, 0 },
	{ "boundary with trailing white space", "multipart/mixed; boundary=b",
	  "--b  \t\nContent-Type: text/plain\n\nbody\n--b-- \n",
	  1, { "text/plain" }, { NULL }, { "body" }, { "--b" }, 0 },
	{ "longer line starting with the boundary is content", "multipart/mixed; boundary=b",
	  "--b\nContent-Type: text/plain\n\n--bx is not a delimiter\nmore\n--b--\n",
	  1, { "text/plain" }, { NULL }, { "--bx is not a delimiter\nmore" }, { NULL }, 0 },
	{ "part headers folded", "multipart/mixed; boundary=b",
	  "--b\nContent-Type: application/octet-stream;\n name=\"folded.bin\"\n\nxx\n--b--\n",
	  1, { "application/octet-stream" }, { "folded.bin" }, { NULL }, { "xx" }, 0 },
	/* Malformed input: a best reading and a note. */
	/* Unsplittable multiparts are read as text, so DLP conditions still see them. */
	{ "missing boundary parameter", "multipart/mixed",
	  "--x\nContent-Type: text/plain\n\nhidden\n--x--\n",
	  1, { "text/plain" }, { NULL }, { "hidden" }, { NULL }, 1 },
	{ "boundary never appears", "multipart/mixed; boundary=nope",
	  "--other\nContent-Type: text/plain\n\ntext\n--other--\n",
	  0, { NULL }, { NULL }, { "text" }, { NULL }, 1 },
	{ "unclosed multipart", "multipart/mixed; boundary=b",
	  "--b\nContent-Type: text/plain\n\nhello there\n",
	  1, { "text/plain" }, { NULL }, { "hello there" }, { NULL }, 1 },
	{ "outer close delimiter closes the inner", "multipart/mixed; boundary=o",
	  "--o\nContent-Type: multipart/alternative; boundary=i\n\n"
	  "--i\nContent-Type: text/plain\n\ninner plain\n"
	  "--o--\nepilogue text\n",
	  1, { "text/plain" }, { NULL }, { "inner plain", "epilogue" }, { NULL }, 1 },
	{ "outer delimiter while the inner is open", "multipart/mixed; boundary=o",
	  "--o\nContent-Type: multipart/alternative; boundary=i\n\n"
	  "--i\nContent-Type: text/plain\n\nfirst\n"
	  "--o\nContent-Type: text/plain\n\nsecond\n--o--\n",
	  2, { "text/plain", "text/plain" }, { NULL, NULL }, { "first", "second" }, { NULL }, 1 },
	{ "garbage base64", "multipart/mixed; boundary=b",
	  "--b\nContent-Type: text/plain\nContent-Transfer-Encoding: base64\n\n!!!! #### $$$$\n@@@@\n"
	  "--b\nContent-Type: text/plain\n\nstill read\n--b--\n",
	  2, { "text/plain", "text/plain" }, { NULL, NULL }, { "still read" }, { NULL }, -1 },
	{ "part headers never end", "multipart/mixed; boundary=b",
	  "--b\nContent-Type: text/plain\nX-Other: y\n",
	  1, { "text/plain" }, { NULL }, { NULL }, { "X-Other" }, 1 },
};

START_TEST(test_structure)
{
	const struct struct_case *c = &struct_cases[_i];
	struct mimescan *ms = scan(c->ctype, NULL, c->body, NULL);
	const struct part_info *p;
	size_t n, i;

	p = mimescan_parts(ms, &n);
	ck_assert_msg(n == c->nparts, "%s: parts: got %zu, want %zu", c->name, n, c->nparts);
	for (i = 0; i < n; i++) {
		ck_assert_msg(strcmp(p[i].content_type, c->types[i]) == 0, "%s: part %zu type: got %s, want %s",
		    c->name, i, p[i].content_type, c->types[i]);
		ck_assert_msg(c->filenames[i] ? p[i].filename && strcmp(p[i].filename, c->filenames[i]) == 0
		    : p[i].filename == NULL, "%s: part %zu filename: got %s, want %s", c->name, i,
		    p[i].filename ? p[i].filename : "(none)", c->filenames[i] ? c->filenames[i] : "(none)");
	}
	for (i = 0; i < 4 && c->text_has[i]; i++)
		ck_assert_msg(text_has(ms, c->text_has[i]), "%s: text: got no \"%s\", want it", c->name,
		    c->text_has[i]);
	for (i = 0; i < 4 && c->text_hasnt[i]; i++)
		ck_assert_msg(!text_has(ms, c->text_hasnt[i]), "%s: text: got \"%s\", want it absent", c->name,
		    c->text_hasnt[i]);
	if (c->malformed >= 0)
		ck_assert_msg((mimescan_malformed(ms) != NULL) == c->malformed, "%s: malformed: got %s, want %s",
		    c->name, mimescan_malformed(ms) ? mimescan_malformed(ms) : "(none)",
		    c->malformed ? "a note" : "none");
	ck_assert_msg(mimescan_limit_error(ms) == NULL, "%s: limit error: got %s, want none", c->name,
	    mimescan_limit_error(ms));
	mimescan_free(ms);
}
END_TEST

/* NUL bytes are content like any other byte. */
START_TEST(test_nul_bytes)
{
	static const char body[] = "--b\nContent-Type: text/plain\n\na\0b\nc\0\n--b\n"
	    "Content-Type: text/plain\n\nafter\n--b--\n";
	struct mimescan *ms = scan_chunked("multipart/mixed; boundary=b", NULL, body, sizeof(body) - 1, 0, NULL);
	const struct part_info *p;
	const char *t;
	size_t n, tl;
	int tr;

	p = mimescan_parts(ms, &n);
	ck_assert_msg(n == 2, "parts: got %zu, want 2", n);
	ck_assert_msg(p[0].size == 7, "part 0 size: got %llu, want 7", (unsigned long long)p[0].size);
	t = mimescan_text(ms, &tl, &tr);
	ck_assert_msg(tl >= 7 && memcmp(t, "a\0b\nc\0\n", 7) == 0, "text: got %zu bytes, want \"a\\0b\\nc\\0\\n\" first", tl);
	ck_assert_msg(text_has(ms, "after"), "text: got no \"after\", want it (scanning must go on past NULs)");
	mimescan_free(ms);
}
END_TEST

/* ---- charsets ----------------------------------------------------------- */

static const struct charset_case {
	const char *name;
	const char *charset;
	const char *in;
	const char *want;
} charset_cases[] = {
	{ "iso-8859-1", "iso-8859-1", "caf\xe9 cr\xe8me", "caf\xc3\xa9 cr\xc3\xa8me" },
	{ "latin1 alias, upper case", "ISO-8859-1", "\xfc" "ber", "\xc3\xbc" "ber" },
	{ "windows-1252", "windows-1252", "\x80 \x93q\x94 \x85", "\xe2\x82\xac \xe2\x80\x9cq\xe2\x80\x9d \xe2\x80\xa6" },
	{ "utf-8 unchanged", "utf-8", "caf\xc3\xa9", "caf\xc3\xa9" },
	{ "us-ascii unchanged", "us-ascii", "plain", "plain" },
	{ "unknown charset keeps the bytes", "x-no-such-charset", "caf\xe9", "caf\xe9" },
	{ "no charset keeps the bytes", NULL, "caf\xe9", "caf\xe9" },
};

START_TEST(test_charset_scan)
{
	const struct charset_case *c = &charset_cases[_i];
	char *ctype = NULL, *body = NULL;
	struct mimescan *ms;
	const char *t;
	size_t tl;

	if (c->charset)
		ck_assert_int_ge(asprintf(&ctype, "text/plain; charset=\"%s\"", c->charset), 0);
	else
		ctype = strdup("text/plain");
	ck_assert_int_ge(asprintf(&body, "%s\n", c->in), 0);
	ms = scan(ctype, "8bit", body, NULL);
	tl = trimmed_text(ms, &t);
	ck_assert_msg(tl == strlen(c->want) && memcmp(t, c->want, tl) == 0, "%s: text: got \"%.*s\", want \"%s\"",
	    c->name, (int)tl, t, c->want);
	mimescan_free(ms);
	free(ctype);
	free(body);
}
END_TEST

START_TEST(test_mime_to_utf8)
{
	const struct charset_case *c = &charset_cases[_i];
	size_t outlen = 12345;
	char *out = mime_to_utf8(c->charset, c->in, strlen(c->in), &outlen);

	ck_assert_ptr_nonnull(out);
	ck_assert_msg(outlen == strlen(c->want) && memcmp(out, c->want, outlen) == 0,
	    "%s: got \"%.*s\" (%zu bytes), want \"%s\"", c->name, (int)outlen, out, outlen, c->want);
	ck_assert_msg(out[outlen] == '\0', "%s: result not NUL-terminated", c->name);
	free(out);
}
END_TEST

/* ---- chunking ----------------------------------------------------------- */

/* A message with every decoder and some nesting; plain is the text of its
 * base64 part (a multiple of 3 bytes, so padding plays no part here). */
static char *
chunk_message(char **plain)
{
	struct sbuf pt, b;
	gchar *b64;
	size_t i, len;

	sbuf_init(&pt, 0);
	for (i = 0; i < 30; i++)
		sbuf_printf(&pt, "Line %02zu: the quick brown fox jumps over the lazy dog.\n", i);
	pt.len -= pt.len % 3;
	pt.data[pt.len] = '\0';
	b64 = g_base64_encode((const guchar *)pt.data, pt.len);
	sbuf_init(&b, 0);
	sbuf_adds(&b, "preamble\r\n--mix\r\nContent-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\n");
	len = strlen(b64);
	for (i = 0; i < len; i += 76) {
		sbuf_add(&b, b64 + i, len - i < 76 ? len - i : 76);
		sbuf_adds(&b, "\r\n");
	}
	sbuf_adds(&b, "--mix\r\nContent-Type: multipart/alternative; boundary=\"alt\"\r\n\r\n"
	    "--alt\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
	    "Gr=FC=DFe aus K=F6ln, a soft=\r\n break and =3D.\r\n"
	    "--alt\r\nContent-Type: text/html\r\n\r\n<p>html</p>\r\n--alt--\r\n"
	    "--mix\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\ninner message\r\n"
	    "--mix\r\nContent-Type: image/png\r\nContent-Disposition: attachment; filename*=utf-8''%C3%A9.png\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\niVBORw0KGgoAAAAN\r\n"
	    "--mix--\r\nepilogue\r\n");
	g_free(b64);
	*plain = sbuf_steal(&pt);
	return sbuf_steal(&b);
}

static const size_t chunk_sizes[] = { 1, 2, 3, 7, 4096 };

START_TEST(test_chunk_sizes)
{
	char *plain, *msg = chunk_message(&plain);
	size_t len = strlen(msg), i;
	struct mimescan *ref = scan_chunked("multipart/mixed; boundary=mix", NULL, msg, len, 0, NULL);
	struct sbuf want;
	const struct part_info *p;
	size_t n;

	/* The one-piece reading is right in the first place. */
	p = mimescan_parts(ref, &n);
	ck_assert_msg(n == 5, "parts: got %zu, want 5", n);
	ck_assert_msg(p[0].size == strlen(plain), "base64 part size: got %llu, want %zu", (unsigned long long)p[0].size,
	    strlen(plain));
	ck_assert_msg(text_has(ref, plain), "text: want the whole decoded base64 part");
	ck_assert_msg(text_has(ref, "Gr\xc3\xbc\xc3\x9f" "e aus K\xc3\xb6ln, a soft break and =."),
	    "text: want the decoded quoted-printable latin-1 part");
	ck_assert_msg(p[4].filename && strcmp(p[4].filename, "\xc3\xa9.png") == 0, "part 4 filename: got %s, want \xc3\xa9.png",
	    p[4].filename ? p[4].filename : "(none)");
	describe(ref, &want);
	for (i = 0; i < sizeof(chunk_sizes) / sizeof(chunk_sizes[0]); i++) {
		struct mimescan *ms = scan_chunked("multipart/mixed; boundary=mix", NULL, msg, len, chunk_sizes[i], NULL);
		struct sbuf got;
		char what[64];
		describe(ms, &got);
		snprintf(what, sizeof(what), "chunks of %zu bytes", chunk_sizes[i]);
		assert_same(&got, &want, what);
		sbuf_free(&got);
		mimescan_free(ms);
	}
	sbuf_free(&want);
	mimescan_free(ref);
	free(msg);
	free(plain);
}
END_TEST

/* Split the message in two at every byte boundary. */
START_TEST(test_every_split)
{
	char *plain, *msg = chunk_message(&plain);
	size_t len = strlen(msg), k;
	struct mimescan *ref = scan_chunked("multipart/mixed; boundary=mix", NULL, msg, len, 0, NULL);
	struct sbuf want;

	describe(ref, &want);
	for (k = 0; k <= len; k++) {
		struct mimescan *ms = mimescan_new(&def_lim);
		struct sbuf got;
		char what[64];
		mimescan_header(ms, "Content-Type", "multipart/mixed; boundary=mix");
		mimescan_feed(ms, msg, k);
		mimescan_feed(ms, msg + k, len - k);
		mimescan_finish(ms);
		describe(ms, &got);
		snprintf(what, sizeof(what), "split at byte %zu", k);
		assert_same(&got, &want, what);
		sbuf_free(&got);
		mimescan_free(ms);
	}
	sbuf_free(&want);
	mimescan_free(ref);
	free(msg);
	free(plain);
}
END_TEST

/* ---- over-long lines ---------------------------------------------------- */

enum long_kind { LONG_PLAIN, LONG_BOUNDARY_PREFIX, LONG_BOUNDARY_SPACES, LONG_QP, LONG_CRLF };

static const struct long_case {
	const char *name;
	enum long_kind kind;
} long_cases[] = {
	{ "1 MB line without a line end", LONG_PLAIN },
	{ "1 MB line that starts like a delimiter", LONG_BOUNDARY_PREFIX },
	{ "delimiter followed by 1 MB of white space", LONG_BOUNDARY_SPACES },
	{ "quoted-printable line of 1 MB", LONG_QP },
	/* 8196 bytes: with 7-byte chunks the CR ends the chunk that overflows the line buffer. */
	{ "over-long line ending in CRLF", LONG_CRLF },
};

/* Build the message for a long case: *ctype, *cte, the body and its length. */
static char *
long_message(enum long_kind kind, const char **ctype, const char **cte, size_t *len)
{
	struct sbuf b;
	char *big;

	sbuf_init(&b, 0);
	*cte = NULL;
	switch (kind) {
	case LONG_PLAIN:
		*ctype = "text/plain";
		big = repeat("x", MIB);
		sbuf_adds(&b, big);
		break;
	case LONG_BOUNDARY_PREFIX:
		*ctype = "multipart/mixed; boundary=b";
		big = repeat("x", MIB);
		sbuf_adds(&b, "--b\nContent-Type: text/plain\n\nbefore\n--b");
		sbuf_adds(&b, big);
		sbuf_adds(&b, "\nafter\n--b\nContent-Type: text/plain\n\nsecond part\n--b--\n");
		break;
	case LONG_BOUNDARY_SPACES:
		*ctype = "multipart/mixed; boundary=b";
		big = repeat(" ", MIB);
		sbuf_adds(&b, "--b\nContent-Type: text/plain\n\nbefore\n--b");
		sbuf_adds(&b, big);
		sbuf_adds(&b, "\nContent-Type: text/plain\n\nafter\n--b--\n");
		break;
	case LONG_CRLF:
		*ctype = "text/plain";
		big = repeat("x", 8196);
		sbuf_adds(&b, big);
		sbuf_adds(&b, "\r\nend\r\n");
		break;
	default:
		*ctype = "text/plain";
		*cte = "quoted-printable";
		big = repeat("=41", MIB / 3);
		sbuf_adds(&b, big);
		sbuf_adds(&b, "\n");
		break;
	}
	free(big);
	*len = b.len;
	return sbuf_steal(&b);
}

START_TEST(test_long_lines)
{
	const struct long_case *c = &long_cases[_i];
	static const size_t sizes[] = { 1, 7, 4096 };
	static const struct mimescan_limits lim = { 4 * MIB, 20, 1000 };
	const char *ctype, *cte;
	size_t len, i, n;
	char *msg = long_message(c->kind, &ctype, &cte, &len);
	struct mimescan *ref = scan_chunked(ctype, cte, msg, len, 0, &lim);
	const struct part_info *p;
	struct sbuf want;

	p = mimescan_parts(ref, &n);
	ck_assert_ptr_null(mimescan_limit_error(ref));
	switch (c->kind) {
	case LONG_PLAIN:
		ck_assert_msg(n == 1 && p[0].size == MIB, "%s: got %zu parts, size %llu, want 1 part of %u bytes",
		    c->name, n, n ? (unsigned long long)p[0].size : 0ULL, MIB);
		break;
	case LONG_BOUNDARY_PREFIX:
		ck_assert_msg(n == 2, "%s: parts: got %zu, want 2", c->name, n);
		ck_assert_msg(text_has(ref, "after") && text_has(ref, "second part"), "%s: text: want both parts' text",
		    c->name);
		ck_assert_msg(p[0].size == strlen("before\n--b\nafter\n") + MIB, "%s: part 0 size: got %llu, want %zu",
		    c->name, (unsigned long long)p[0].size, strlen("before\n--b\nafter\n") + MIB);
		break;
	case LONG_BOUNDARY_SPACES:
		ck_assert_msg(n >= 1, "%s: parts: got %zu, want at least 1", c->name, n);
		break;
	case LONG_CRLF:
		ck_assert_msg(n == 1 && p[0].size == 8196 + 1 + 4, "%s: got %zu parts, size %llu, want 1 part of 8201 bytes",
		    c->name, n, n ? (unsigned long long)p[0].size : 0ULL);
		break;
	default:
		ck_assert_msg(n == 1 && p[0].size == MIB / 3 + 1, "%s: got %zu parts, size %llu, want 1 part of %u bytes",
		    c->name, n, n ? (unsigned long long)p[0].size : 0ULL, MIB / 3 + 1);
		break;
	}
	describe(ref, &want);
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		struct mimescan *ms = scan_chunked(ctype, cte, msg, len, sizes[i], &lim);
		struct sbuf got;
		char what[128];
		describe(ms, &got);
		snprintf(what, sizeof(what), "%s, chunks of %zu", c->name, sizes[i]);
		assert_same(&got, &want, what);
		sbuf_free(&got);
		mimescan_free(ms);
	}
	sbuf_free(&want);
	mimescan_free(ref);
	free(msg);
}
END_TEST

/* ---- limits ------------------------------------------------------------- */

/* depth multiparts nested inside each other, a text part in the innermost. */
static char *
nested_multiparts(unsigned depth)
{
	struct sbuf b;
	unsigned i;

	sbuf_init(&b, 0);
	for (i = 1; i < depth; i++)
		sbuf_printf(&b, "--b%u\nContent-Type: multipart/mixed; boundary=b%u\n\n", i, i + 1);
	sbuf_printf(&b, "--b%u\nContent-Type: text/plain\n\ndeep text\n--b%u--\n", depth, depth);
	for (i = depth - 1; i >= 1; i--)
		sbuf_printf(&b, "--b%u--\n", i);
	return sbuf_steal(&b);
}

/* depth message/rfc822 parts nested inside each other. */
static char *
nested_messages(unsigned depth)
{
	struct sbuf b;
	unsigned i;

	sbuf_init(&b, 0);
	for (i = 0; i < depth; i++)
		sbuf_printf(&b, "Subject: level %u\nContent-Type: message/rfc822\n\n", i + 1);
	sbuf_adds(&b, "Subject: last\n\ndeep text\n");
	return sbuf_steal(&b);
}

/* A multipart with count leaf parts; as_messages: each is a
 * message/rfc822 (siblings, not nested); 2: a digest part (no headers). */
static char *
many_parts(unsigned count, int as_messages)
{
	struct sbuf b;
	unsigned i;

	sbuf_init(&b, 0);
	for (i = 0; i < count; i++) {
		if (as_messages == 2)
			sbuf_printf(&b, "--b\n\nSubject: m%u\n\ndigest message %u\n", i, i);
		else if (as_messages)
			sbuf_printf(&b, "--b\nContent-Type: message/rfc822\n\nSubject: m%u\n\nforwarded %u\n", i, i);
		else
			sbuf_printf(&b, "--b\nContent-Type: text/plain\n\npart %u\n", i);
	}
	sbuf_adds(&b, "--b--\n");
	return sbuf_steal(&b);
}

enum gen { GEN_MULTIPART_DEPTH, GEN_MESSAGE_DEPTH, GEN_PARTS, GEN_SIBLING_MESSAGES, GEN_DIGEST };

static const struct limit_case {
	const char *name;
	enum gen gen;
	unsigned n;
	struct mimescan_limits lim;
	const char *want_error;      /* substring of the limit error; NULL: none */
	size_t want_parts;           /* checked when no error is expected */
} limit_cases[] = {
	{ "multipart depth at the limit", GEN_MULTIPART_DEPTH, 3, { MIB, 3, 1000 }, NULL, 1 },
	{ "multipart depth over the limit", GEN_MULTIPART_DEPTH, 4, { MIB, 3, 1000 }, "limits.max_mime_depth", 0 },
	{ "very deep multipart", GEN_MULTIPART_DEPTH, 5000, { MIB, 20, 1000 }, "limits.max_mime_depth", 0 },
	/* The top-level message/rfc822 is one level, each nested one another. */
	{ "message/rfc822 depth at the limit", GEN_MESSAGE_DEPTH, 2, { MIB, 3, 1000 }, NULL, 1 },
	{ "message/rfc822 depth over the limit", GEN_MESSAGE_DEPTH, 3, { MIB, 3, 1000 }, "limits.max_mime_depth", 0 },
	{ "parts at the limit", GEN_PARTS, 5, { MIB, 20, 5 }, NULL, 5 },
	{ "parts over the limit", GEN_PARTS, 6, { MIB, 20, 5 }, "limits.max_mime_parts", 0 },
	/* Sibling forwarded messages are not nested: depth stays 2. */
	{ "sibling message/rfc822 parts are not nesting", GEN_SIBLING_MESSAGES, 6, { MIB, 3, 1000 }, NULL, 6 },
	{ "digest of 25 messages, default limits", GEN_DIGEST, 25, { MIB, 20, 1000 }, NULL, 25 },
};

START_TEST(test_limits)
{
	const struct limit_case *c = &limit_cases[_i];
	char *body;
	const char *ctype = "multipart/mixed; boundary=b";
	struct mimescan *ms;
	const char *err;
	size_t n;

	switch (c->gen) {
	case GEN_MULTIPART_DEPTH:
		body = nested_multiparts(c->n);
		ctype = "multipart/mixed; boundary=b1";
		break;
	case GEN_MESSAGE_DEPTH:
		body = nested_messages(c->n);
		ctype = "message/rfc822";
		break;
	case GEN_PARTS:
		body = many_parts(c->n, 0);
		break;
	case GEN_DIGEST:
		body = many_parts(c->n, 2);
		ctype = "multipart/digest; boundary=b";
		break;
	default:
		body = many_parts(c->n, 1);
		break;
	}
	ms = scan(ctype, NULL, body, &c->lim);
	err = mimescan_limit_error(ms);
	if (c->want_error) {
		ck_assert_msg(err && strstr(err, c->want_error), "%s: limit error: got %s, want one mentioning %s",
		    c->name, err ? err : "(none)", c->want_error);
	} else {
		ck_assert_msg(err == NULL, "%s: limit error: got \"%s\", want none", c->name, err);
		(void)mimescan_parts(ms, &n);
		ck_assert_msg(n == c->want_parts, "%s: parts: got %zu, want %zu", c->name, n, c->want_parts);
	}
	mimescan_free(ms);
	free(body);
}
END_TEST

static const struct text_max_case {
	const char *name;
	size_t text_max;
	const char *ctype;
	const char *body;            /* "x" in it is repeated: see below */
	unsigned xs;                 /* body is xs copies of body */
	int want_truncated;
	size_t want_len;             /* 0: == text_max */
} text_max_cases[] = {
	{ "one long part", 100, "text/plain", "x", 1000, 1, 0 },
	{ "exactly text_max is not truncated", 100, "text/plain", "x", 100, 0, 100 },
	{ "two parts over the cap", 100, "multipart/mixed; boundary=b",
	  "--b\nContent-Type: text/plain\n\n012345678901234567890123456789012345678901234567890123456789\n", 2, 1, 0 },
	{ "charset conversion grows past the cap", 10, "text/plain; charset=iso-8859-1", "\xe9", 8, 1, 0 },
	{ "zero text_max", 0, "text/plain", "y", 10, 1, 0 },
};

START_TEST(test_text_max)
{
	const struct text_max_case *c = &text_max_cases[_i];
	struct mimescan_limits lim = { c->text_max, 20, 1000 };
	char *body = repeat(c->body, c->xs);
	struct mimescan *ms;
	size_t len, want = c->want_len ? c->want_len : c->text_max;
	int tr;

	ms = scan(c->ctype, NULL, body, &lim);
	(void)mimescan_text(ms, &len, &tr);
	ck_assert_msg(tr == c->want_truncated, "%s: truncated: got %d, want %d", c->name, tr, c->want_truncated);
	ck_assert_msg(len == want, "%s: text length: got %zu, want %zu", c->name, len, want);
	ck_assert_ptr_null(mimescan_limit_error(ms));
	mimescan_free(ms);
	free(body);
}
END_TEST

/* ---- header decoding ---------------------------------------------------- */

static const struct decode_case {
	const char *name;
	const char *raw;
	const char *want;           /* NULL: only check it is valid UTF-8 */
} decode_cases[] = {
	{ "plain", " Hello world", "Hello world" },
	{ "trimmed", " \t Hello \t ", "Hello" },
	{ "RFC 2047 B", " =?utf-8?B?w6lsw6h2ZQ==?=", "\xc3\xa9l\xc3\xa8ve" },
	{ "RFC 2047 Q latin-1", " =?ISO-8859-1?Q?caf=E9_cr=E8me?=", "caf\xc3\xa9 cr\xc3\xa8me" },
	{ "RFC 2047 in text", " Re: =?utf-8?Q?=E2=82=AC?= 100", "Re: \xe2\x82\xac 100" },
	{ "adjacent words joined", " =?utf-8?Q?ab?= =?utf-8?Q?cd?=", "abcd" },
	{ "folded CRLF", " first part\r\n second part", "first part second part" },
	{ "folded LF", " first\n\tsecond", "first\tsecond" },
	{ "folded encoded words", " =?utf-8?Q?fold?=\r\n =?utf-8?Q?ed?=", "folded" },
	{ "8-bit latin-1", " caf\xe9 cr\xe8me", NULL },
	{ "invalid UTF-8 bytes", " \xff\xfe abc \xc3", NULL },
	{ "surrogate in UTF-8", " a\xed\xa0\x80z", NULL },
	{ "invalid UTF-8 in a B word", " =?utf-8?B?/w==?= x", NULL },
	{ "unknown charset in a word", " =?x-unknown?Q?abc=FF?=", NULL },
	{ "broken word", " =?utf-8?Q?unterminated", NULL },
	{ "valid UTF-8 kept", " \xc3\xa9t\xc3\xa9", "\xc3\xa9t\xc3\xa9" },
};

START_TEST(test_hdr_decode)
{
	const struct decode_case *c = &decode_cases[_i];
	char *got = hdr_decode(c->raw);

	ck_assert_msg(got != NULL, "%s: got NULL", c->name);
	ck_assert_msg(utf8_ok(got), "%s: got invalid UTF-8 \"%s\"", c->name, got);
	if (c->want)
		ck_assert_msg(strcmp(got, c->want) == 0, "%s: got \"%s\", want \"%s\"", c->name, got, c->want);
	ck_assert_msg(strchr(got, '\r') == NULL && strchr(got, '\n') == NULL, "%s: got a line end in \"%s\"",
	    c->name, got);
	free(got);
}
END_TEST

/* 8-bit latin-1 in a raw header is read as latin-1, not replaced. */
START_TEST(test_hdr_decode_latin1)
{
	char *got = hdr_decode(" caf\xe9");

	ck_assert_msg(got && strcmp(got, "caf\xc3\xa9") == 0, "got \"%s\", want \"caf\xc3\xa9\"", got ? got : "(null)");
	free(got);
}
END_TEST

static const struct encode_case {
	const char *name;
	const char *in;
	int ascii;                  /* 1: must come back unchanged */
} encode_cases[] = {
	{ "ascii unchanged", "Quarterly report [secure]", 1 },
	{ "empty", "", 1 },
	{ "latin letters", "R\xc3\xa9sum\xc3\xa9 f\xc3\xbcr K\xc3\xb6ln", 0 },
	{ "euro sign", "Price: 100 \xe2\x82\xac", 0 },
	{ "long non-ascii", "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9 "
	  "a fairly long subject line that has to be folded or split into several encoded words "
	  "\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac", 0 },
};

START_TEST(test_hdr_encode)
{
	const struct encode_case *c = &encode_cases[_i];
	char *enc = hdr_encode(c->in), *dec;
	const unsigned char *p;

	ck_assert_msg(enc != NULL, "%s: got NULL", c->name);
	if (c->ascii)
		ck_assert_msg(strcmp(enc, c->in) == 0, "%s: got \"%s\", want \"%s\"", c->name, enc, c->in);
	else
		ck_assert_msg(strstr(enc, "=?") != NULL, "%s: got \"%s\", want RFC 2047 words", c->name, enc);
	for (p = (const unsigned char *)enc; *p; p++)
		ck_assert_msg(*p < 0x80, "%s: got 8-bit byte in \"%s\"", c->name, enc);
	dec = hdr_decode(enc);
	ck_assert_msg(dec && strcmp(dec, c->in) == 0, "%s: round trip: got \"%s\", want \"%s\"", c->name,
	    dec ? dec : "(null)", c->in);
	free(dec);
	free(enc);
}
END_TEST

static const struct ctype_case {
	const char *name;
	const char *raw;
	const char *type, *boundary, *charset, *pname;
} ctype_cases[] = {
	{ "lower-cased", " Text/HTML; Charset=ISO-8859-1", "text/html", NULL, "iso-8859-1", NULL },
	{ "quoted boundary", " multipart/mixed; boundary=\"=_a b\"", "multipart/mixed", "=_a b", NULL, NULL },
	{ "folded", " multipart/alternative;\r\n\tboundary=xyz", "multipart/alternative", "xyz", NULL, NULL },
	{ "RFC 2047 name", " application/pdf; name=\"=?utf-8?B?w6l0w6kucGRm?=\"", "application/pdf", NULL, NULL,
	  "\xc3\xa9t\xc3\xa9.pdf" },
	{ "RFC 2231 name", " application/pdf; name*=utf-8''%E2%82%AC.pdf", "application/pdf", NULL, NULL,
	  "\xe2\x82\xac.pdf" },
	{ "missing", NULL, "text/plain", NULL, NULL, NULL },
	{ "empty", " ", "text/plain", NULL, NULL, NULL },
	{ "no slash", " garbage", "text/plain", NULL, NULL, NULL },
	{ "no subtype", " text", "text/plain", NULL, NULL, NULL },
	{ "empty type", " /plain", "text/plain", NULL, NULL, NULL },
	{ "empty boundary", " multipart/mixed; boundary=\"\"", "multipart/mixed", NULL, NULL, NULL },
};

static int
str_eq_null(const char *a, const char *b)
{
	return a == NULL ? b == NULL : b != NULL && strcmp(a, b) == 0;
}

#define OR_NONE(s) ((s) ? (s) : "(none)")

START_TEST(test_ctype_parse)
{
	const struct ctype_case *c = &ctype_cases[_i];
	struct mime_ctype ct;

	mime_ctype_parse(c->raw, "text/plain", &ct);
	ck_assert_msg(str_eq_null(ct.type, c->type), "%s: type: got %s, want %s", c->name, OR_NONE(ct.type), c->type);
	ck_assert_msg(str_eq_null(ct.boundary, c->boundary), "%s: boundary: got %s, want %s", c->name,
	    OR_NONE(ct.boundary), OR_NONE(c->boundary));
	ck_assert_msg(str_eq_null(ct.charset, c->charset), "%s: charset: got %s, want %s", c->name,
	    OR_NONE(ct.charset), OR_NONE(c->charset));
	ck_assert_msg(str_eq_null(ct.name, c->pname), "%s: name: got %s, want %s", c->name, OR_NONE(ct.name),
	    OR_NONE(c->pname));
	mime_ctype_free(&ct);
	ck_assert_ptr_null(ct.type);
}
END_TEST

static const struct disp_case {
	const char *name;
	const char *raw;
	int attachment;
	const char *filename;
} disp_cases[] = {
	{ "attachment", " attachment; filename=report.pdf", 1, "report.pdf" },
	{ "upper case", " ATTACHMENT; FILENAME=\"A.PDF\"", 1, "A.PDF" },
	{ "inline", " inline", 0, NULL },
	{ "inline with a name", " inline; filename=\"pic.png\"", 0, "pic.png" },
	{ "RFC 2231", " attachment; filename*=UTF-8''%E2%82%AC%20rates.xlsx", 1, "\xe2\x82\xac rates.xlsx" },
	{ "RFC 2231 continuations", " attachment;\r\n filename*0=\"long-file\";\r\n filename*1=\"name.txt\"", 1,
	  "long-filename.txt" },
	{ "RFC 2231 latin-1", " attachment; filename*=iso-8859-1'de'K%F6ln.txt", 1, "K\xc3\xb6ln.txt" },
	{ "RFC 2047 in quotes", " attachment; filename=\"=?utf-8?Q?r=C3=A9sum=C3=A9.doc?=\"", 1,
	  "r\xc3\xa9sum\xc3\xa9.doc" },
	{ "missing", NULL, 0, NULL },
	{ "empty", "", 0, NULL },
};

START_TEST(test_disposition_parse)
{
	const struct disp_case *c = &disp_cases[_i];
	int att = -1;
	char *fn = (char *)"sentinel";

	mime_disposition_parse(c->raw, &att, &fn);
	ck_assert_msg(att == c->attachment, "%s: attachment: got %d, want %d", c->name, att, c->attachment);
	ck_assert_msg(str_eq_null(fn, c->filename), "%s: filename: got %s, want %s", c->name, OR_NONE(fn),
	    OR_NONE(c->filename));
	free(fn);
}
END_TEST

static const struct addr_case {
	const char *name;
	const char *raw;
	const char *want[4];
} addr_cases[] = {
	{ "two mailboxes", " Alice <alice@example.com>, bob@example.org", { "alice@example.com", "bob@example.org" } },
	{ "encoded display name", " =?utf-8?Q?J=C3=B6rg?= <joerg@example.net>", { "joerg@example.net" } },
	{ "group", " Team: a@example.com, \"B, b\" <b@example.com>;", { "a@example.com", "b@example.com" } },
	{ "empty group", " undisclosed-recipients:;", { NULL } },
	{ "folded", " one@example.com,\r\n\ttwo@example.com", { "one@example.com", "two@example.com" } },
	{ "IDN domain", " user@b\xc3\xbc" "cher.example", { "user@xn--bcher-kva.example" } },
	{ "empty", "", { NULL } },
};

START_TEST(test_addresses)
{
	const struct addr_case *c = &addr_cases[_i];
	struct strlist l = { NULL, 0 };
	size_t i, nwant = 0;

	while (nwant < 4 && c->want[nwant])
		nwant++;
	mime_addresses(c->raw, &l);
	ck_assert_msg(l.n == nwant, "%s: count: got %zu, want %zu", c->name, l.n, nwant);
	for (i = 0; i < nwant; i++)
		ck_assert_msg(strcmp(l.v[i], c->want[i]) == 0, "%s: address %zu: got %s, want %s", c->name, i, l.v[i],
		    c->want[i]);
	strlist_free(&l);
}
END_TEST

/* ---- suite -------------------------------------------------------------- */

#define NCASES(a) ((int)(sizeof(a) / sizeof((a)[0])))

static Suite *
mime_suite(void)
{
	Suite *s = suite_create("mime");
	TCase *tc;

	tc = tcase_create("scan");
	tcase_set_timeout(tc, 30);
	tcase_add_loop_test(tc, test_single_part, 0, NCASES(single_cases));
	tcase_add_test(tc, test_lf_crlf_same);
	tcase_add_test(tc, test_multipart_mixed);
	tcase_add_loop_test(tc, test_structure, 0, NCASES(struct_cases));
	tcase_add_test(tc, test_nul_bytes);
	tcase_add_loop_test(tc, test_charset_scan, 0, NCASES(charset_cases));
	tcase_add_loop_test(tc, test_mime_to_utf8, 0, NCASES(charset_cases));
	tcase_add_test(tc, test_chunk_sizes);
	tcase_add_test(tc, test_every_split);
	tcase_add_loop_test(tc, test_long_lines, 0, NCASES(long_cases));
	tcase_add_loop_test(tc, test_limits, 0, NCASES(limit_cases));
	tcase_add_loop_test(tc, test_text_max, 0, NCASES(text_max_cases));
	suite_add_tcase(s, tc);

	tc = tcase_create("headers");
	tcase_add_loop_test(tc, test_hdr_decode, 0, NCASES(decode_cases));
	tcase_add_test(tc, test_hdr_decode_latin1);
	tcase_add_loop_test(tc, test_hdr_encode, 0, NCASES(encode_cases));
	tcase_add_loop_test(tc, test_ctype_parse, 0, NCASES(ctype_cases));
	tcase_add_loop_test(tc, test_disposition_parse, 0, NCASES(disp_cases));
	tcase_add_loop_test(tc, test_addresses, 0, NCASES(addr_cases));
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run_suite(mime_suite());
}
