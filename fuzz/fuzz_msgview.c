/*
 * fuzz_msgview.c - libFuzzer target for the viewer's message reader and
 * its HTML escaping: the bytes are a message for msgview_parse() (small
 * limits, so that every limit is reached often); on success every field is
 * escaped with html_escape() (and the text with html_escape_lines()) into
 * a capped buffer, and the result's promises are checked. The raw bytes
 * also go through html_escape(), url_encode() and form_decode() on their
 * own.
 *
 * Input faced: anything. The target must never crash, leak or hang, and
 * it aborts when a promise is broken: escaped output with a raw '<', '>',
 * '"' or '\'' or a control character, any string that is not valid UTF-8
 * (or holds a NUL), a file name with '/', '\\', a control character or a
 * leading dot or over 255 bytes, a content type outside [a-z0-9.+-], a
 * text or HTML body or attachment list over its limit.
 */
#include "build-config.h"

#include <glib.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "viewer/html.h"
#include "viewer/msgview.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define OUT_CAP (16u * 1024 * 1024)

/* Escaped output: valid UTF-8, no markup character, no control but tab
 * and line ends. */
static void
check_escaped(const struct sbuf *b)
{
	size_t i;

	if (b->len == 0)
		return;
	if (!g_utf8_validate(b->data, (gssize)b->len, NULL))
		abort();
	for (i = 0; i < b->len; i++) {
		unsigned char c = (unsigned char)b->data[i];
		if (c == '<' || c == '>' || c == '"' || c == '\'' || c == 0x7f ||
		    (c < 0x20 && c != '\t' && c != '\n' && c != '\r'))
			abort();
		/* C1 controls are U+0080..U+009F: 0xc2 0x80..0x9f. */
		if (c == 0xc2 && i + 1 < b->len && (unsigned char)b->data[i + 1] <= 0x9f)
			abort();
	}
}

static void
escape_checked(const char *s, size_t n)
{
	struct sbuf b;

	sbuf_init(&b, OUT_CAP);
	if (html_escape(&b, s, n) == 0)
		check_escaped(&b);
	else if (b.len != 0)
		abort();     /* a refused append leaves the buffer as it was */
	sbuf_free(&b);
}

static void
check_string(const char *s)
{
	if (s == NULL || !g_utf8_validate(s, -1, NULL))
		abort();
	escape_checked(s, strlen(s));
}

static void
check_type(const char *t)
{
	const char *slash = strchr(t, '/'), *p;

	if (slash == NULL || slash == t || slash[1] == '\0')
		abort();
	for (p = t; *p; p++)
		if (p != slash && !((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '.' ||
		    *p == '+' || *p == '-'))
			abort();
}

static void
check_view(const struct msgview *v, const struct msgview_limits *lim)
{
	size_t i;

	check_string(v->from);
	check_string(v->to);
	check_string(v->cc);
	check_string(v->date);
	check_string(v->subject);
	check_string(v->message_id);
	if (v->text) {
		struct sbuf b;
		check_string(v->text);
		if (strlen(v->text) > lim->max_text)
			abort();
		sbuf_init(&b, OUT_CAP);
		if (html_escape_lines(&b, v->text, strlen(v->text)) == 0 && b.len && strchr(b.data, '"'))
			abort();
		sbuf_free(&b);
	}
	if (v->html) {
		check_string(v->html);
		if (strlen(v->html) > lim->max_html || v->html_dropped)
			abort();
	}
	if (v->natt > lim->max_attachments || (v->natt > 0 && v->att == NULL))
		abort();
	for (i = 0; i < v->natt; i++) {
		const struct msgview_attachment *a = &v->att[i];
		size_t fl;
		check_string(a->filename);
		check_string(a->content_type);
		check_type(a->content_type);
		fl = strlen(a->filename);
		if (fl == 0 || fl > 255 || a->filename[0] == '.' || strchr(a->filename, '/') || strchr(a->filename, '\\'))
			abort();
		for (fl = 0; a->filename[fl]; fl++)
			if ((unsigned char)a->filename[fl] < 0x20 || a->filename[fl] == 0x7f)
				abort();
		if (a->data == NULL && a->size > 0)
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct msgview_limits lim;
	struct msgview v;
	struct sbuf b;
	char *err = NULL, *copy;
	long n;

	msgview_default_limits(&lim);
	lim.max_message = 1u << 20;
	lim.max_parts = 40;
	lim.max_depth = 6;
	lim.max_text = 4096;
	lim.max_html = 8192;
	lim.max_attachments = 8;
	if (msgview_parse(data, size, &lim, &v, &err) == 0) {
		if (err != NULL)
			abort();
		check_view(&v, &lim);
	} else if (err == NULL) {
		abort();
	}
	msgview_free(&v);
	free(err);

	escape_checked((const char *)data, size);
	sbuf_init(&b, OUT_CAP);
	if (url_encode(&b, (const char *)data, size) == 0)
		for (n = 0; (size_t)n < b.len; n++)
			if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~%", b.data[n]) ||
			    b.data[n] == '\0')
				abort();
	sbuf_free(&b);
	copy = malloc(size + 1);
	if (copy == NULL)
		abort();
	memcpy(copy, data, size);
	copy[size] = '\0';
	n = form_decode(copy, size);
	if (n > (long)size || (n >= 0 && memchr(copy, '\0', (size_t)n) != NULL))
		abort();
	free(copy);
	return 0;
}
