/*
 * test_envelope.c - the protected message (seal/envelope.c), read back by an
 * independent parser (GMime): structure, the attachment decoding to exactly
 * the sealed bytes, CRLF line ends of at most 78 characters, hostile sender
 * text escaped in the HTML, the logo, the protected subject, kept headers.
 */
#include "build-config.h"

#include <gmime/gmime.h>

#include "seal/envelope.h"
#include "testutil.h"

static struct branding brand = { (char *)"default", (char *)"Example & Co", (char *)"{sender} sent you a secret.",
	(char *)"Read it", (char *)"Confidential.\nDo not share.", (char *)"#112233", NULL, 0, NULL };

static struct seal_template
tpl(int with_logo)
{
	static unsigned char png[] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 1, 2, 3 };
	struct seal_template t;

	memset(&t, 0, sizeof(t));
	t.name = (char *)"dnf";
	t.rights = 1;
	t.branding = &brand;
	brand.logo = with_logo ? png : NULL;
	brand.logo_len = with_logo ? sizeof(png) : 0;
	brand.logo_type = with_logo ? (char *)"image/png" : NULL;
	return t;
}

/* Write the envelope and parse it (with headers put in front) with GMime. */
static GMimeMessage *
build(const struct seal_template *t, const char *sender, const unsigned char *der, size_t n, char **raw)
{
	BIO *out = BIO_new(BIO_s_mem());
	char *ct = NULL, *err = NULL, *data, *full = NULL;
	GMimeStream *stream;
	GMimeParser *parser;
	GMimeMessage *msg;
	long len;
	BIO *in = BIO_new_mem_buf(der, (int)n);

	ck_assert_msg(seal_envelope_write(t, sender, NULL, in, out, &ct, &err) == 0, "%s", err);
	BIO_free(in);
	len = BIO_get_mem_data(out, &data);
	ck_assert_int_ge(asprintf(&full, "From: a@example.com\r\nMIME-Version: 1.0\r\nContent-Type: %s\r\n\r\n%.*s", ct,
	    (int)len, data), 0);
	*raw = full;
	stream = g_mime_stream_mem_new_with_buffer(full, strlen(full));
	parser = g_mime_parser_new_with_stream(stream);
	msg = g_mime_parser_construct_message(parser, NULL);
	ck_assert_ptr_nonnull(msg);
	g_object_unref(parser);
	g_object_unref(stream);
	free(ct);
	BIO_free(out);
	return msg;
}

/* The part's media type is want (GMime hands back a string to free). */
static void
assert_type(GMimeObject *o, const char *want)
{
	char *got = g_mime_content_type_get_mime_type(g_mime_object_get_content_type(o));

	ck_assert_msg(strcmp(got, want) == 0, "type: got %s, want %s", got, want);
	g_free(got);
}

static GMimeObject *
child(GMimeObject *mp, int i)
{
	ck_assert(GMIME_IS_MULTIPART(mp));
	ck_assert_int_gt(g_mime_multipart_get_count(GMIME_MULTIPART(mp)), i);
	return g_mime_multipart_get_part(GMIME_MULTIPART(mp), i);
}

static char *
decoded(GMimeObject *part, size_t *len)
{
	GMimeDataWrapper *w = g_mime_part_get_content(GMIME_PART(part));
	GMimeStream *s = g_mime_stream_mem_new();
	GByteArray *a;
	char *out;

	g_mime_data_wrapper_write_to_stream(w, s);
	a = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(s));
	out = malloc(a->len + 1);
	memcpy(out, a->data, a->len);
	out[a->len] = '\0';
	*len = a->len;
	g_object_unref(s);
	return out;
}

START_TEST(test_structure)
{
	unsigned char der[3000];
	struct seal_template t = tpl(_i == 1);
	char *raw = NULL, *text, *html, *att, *line, *save = NULL;
	GMimeMessage *m;
	GMimeObject *top, *alt, *htmlpart;
	size_t i, len;

	for (i = 0; i < sizeof(der); i++)
		der[i] = (unsigned char)(i * 7 + 3);
	m = build(&t, "<script>alert(1)</script>@evil.test", der, sizeof(der), &raw);
	top = g_mime_message_get_mime_part(m);
	assert_type(top, "multipart/mixed");
	alt = child(top, 0);
	assert_type(alt, "multipart/alternative");
	text = decoded(child(alt, 0), &len);
	ck_assert_msg(strstr(text, "<script>alert(1)</script>@evil.test sent you a secret.") != NULL, "text: %s", text);
	htmlpart = child(alt, 1);
	if (_i == 1) {
		GMimeObject *img;
		assert_type(htmlpart, "multipart/related");
		img = child(htmlpart, 1);
		assert_type(img, "image/png");
		free(decoded(img, &len));
		ck_assert_uint_eq(len, 11);
		htmlpart = child(htmlpart, 0);
	}
	html = decoded(htmlpart, &len);
	ck_assert_msg(strstr(html, "&lt;script&gt;alert(1)&lt;/script&gt;@evil.test sent you a secret.") != NULL, "html: %s", html);
	ck_assert_msg(strstr(html, "<script>") == NULL, "unescaped script in the HTML");
	ck_assert_msg(strstr(html, "Confidential.<br>Do not share.") != NULL, "disclaimer: %s", html);
	ck_assert_msg(strstr(html, "background:#112233") != NULL, "color");
	ck_assert_msg((_i == 1) == (strstr(html, "cid:logo@sealmilter") != NULL), "logo reference");
	/* The attachment decodes to exactly the sealed bytes. */
	{
		GMimeObject *a = child(top, 1);
		assert_type(a, SEALED_MEDIA_TYPE);
		ck_assert_str_eq(g_mime_part_get_filename(GMIME_PART(a)), SEALED_FILENAME);
		att = decoded(a, &len);
		ck_assert_uint_eq(len, sizeof(der));
		ck_assert(memcmp(att, der, len) == 0);
	}
	/* CRLF everywhere, lines of at most 78 characters plus CRLF. */
	for (i = 0; raw[i]; i++)
		if (raw[i] == '\n')
			ck_assert_msg(i > 0 && raw[i - 1] == '\r', "bare LF at %zu", i);
	for (line = strtok_r(raw, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		ck_assert_msg(strlen(line) <= 79, "line of %zu characters: %.80s", strlen(line), line);
	free(text);
	free(html);
	free(att);
	free(raw);
	g_object_unref(m);
}
END_TEST

START_TEST(test_subject_and_headers)
{
	struct seal_template t = tpl(0);
	char *s = seal_envelope_subject(&t, "alice@example.com");

	ck_assert_str_eq(s, "alice@example.com sent you a secret.");
	free(s);
	brand.intro = (char *)"Line one\nline two from {org}";
	s = seal_envelope_subject(&t, "a@b");
	ck_assert_str_eq(s, "Line one line two from Example & Co");
	brand.intro = (char *)"{sender}{sender}{sender}{sender}{sender}{sender}{sender}{sender}{sender}{sender}"
	    "{sender}{sender}{sender}{sender}{sender}{sender}{sender}{sender}{sender}{sender}";
	free(s);
	s = seal_envelope_subject(&t, "a-rather-long-sender-address@example.com");
	ck_assert_msg(strlen(s) <= 300, "a protected subject of %zu characters", strlen(s));
	brand.intro = (char *)"{sender} sent you a secret.";
	free(s);
	ck_assert(seal_envelope_keeps("from") && seal_envelope_keeps("Message-ID") && seal_envelope_keeps("In-Reply-To"));
	ck_assert(seal_envelope_keeps("Received") && seal_envelope_keeps("Reply-To"));
	/* Content headers, and headers that leak the content (Thread-Topic carries the subject). */
	ck_assert(!seal_envelope_keeps("Content-Type") && !seal_envelope_keeps("Thread-Topic"));
	ck_assert(!seal_envelope_keeps("X-Mailer") && !seal_envelope_keeps("Keywords"));
}
END_TEST

static Suite *
envelope_suite(void)
{
	Suite *s = suite_create("envelope");
	TCase *tc = tcase_create("envelope");

	tcase_add_loop_test(tc, test_structure, 0, 2);
	tcase_add_test(tc, test_subject_and_headers);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run_suite(envelope_suite());
}
