/*
 * eml.c - read a message file and feed it to a session exactly as the
 * milter feeds what the MTA sends: each header field as name and raw value
 * (the leading space kept, folding kept, the final line end dropped), then
 * end of headers, then the body bytes untouched.
 *
 * Calling rules: used by sealctl (process, explain) and the fuzzers; one
 * call per session, before seal_session_eom().
 * Untrusted input: the file. Header fields are read with a cap just over
 * limits.max_header_size, so an endless header costs bounded memory and
 * still reaches the session as "too large"; NUL bytes in headers (which the
 * milter protocol cannot carry) become spaces, body bytes are untouched; a
 * line that is not a header field ends the header section, as in Postfix,
 * which also accepts white space before the colon ("Subject :"; the name is
 * passed on trimmed, so the output writes "Subject:").
 */
#include "build-config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "engine/eml.h"

static int
header_name_ok(const char *p, size_t n)
{
	size_t i;

	if (n == 0)
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)p[i] <= 32 || (unsigned char)p[i] >= 127 || p[i] == ':')
			return 0;
	return 1;
}

/* Read one line (with its LF) into b, at most cap bytes: a longer line is
 * left unread past the cap (*lf is 0). Returns the bytes read (0 at EOF). */
static size_t
read_line(FILE *in, struct sbuf *b, size_t cap, int *lf)
{
	int c;

	sbuf_reset(b);
	*lf = 0;
	while (b->len < cap && (c = getc(in)) != EOF) {
		if (sbuf_addc(b, (char)c) != 0)
			break;        /* out of memory: b->oom tells the caller */
		if (c == '\n') {
			*lf = 1;
			break;
		}
	}
	return b->len;
}

/* Skip the rest of an over-long header line. */
static void
drain_line(FILE *in)
{
	int c;

	while ((c = getc(in)) != EOF && c != '\n')
		;
}

/* The length of a header field name before the colon at colon, with white
 * space before the colon allowed ("Subject :", obsolete but accepted by
 * Postfix); 0 when it is not a field name. */
static size_t
field_name_len(const char *line, const char *colon)
{
	size_t n = (size_t)(colon - line);

	while (n > 0 && (line[n - 1] == ' ' || line[n - 1] == '\t'))
		n--;
	return header_name_ok(line, n) ? n : 0;
}

static void
emit(struct seal_session *s, struct sbuf *field)
{
	char *colon;
	size_t len = field->len, i;

	if (field->len == 0)
		return;
	for (i = 0; i < len; i++)
		if (field->data[i] == '\0')
			field->data[i] = ' ';
	/* Drop the final line end; keep interior ones (folding). */
	if (len && field->data[len - 1] == '\n')
		len--;
	if (len && field->data[len - 1] == '\r')
		len--;
	field->data[len] = '\0';
	colon = memchr(field->data, ':', len);
	if (colon) {
		field->data[field_name_len(field->data, colon)] = '\0';
		seal_session_header(s, field->data, colon + 1);
	}
	sbuf_reset(field);
}

int
eml_feed(struct seal_session *s, FILE *in, const char **eol, char **err, eml_at_eoh hook, void *arg)
{
	const struct seal_config *cfg = seal_session_config(s);
	size_t cap = (size_t)cfg->max_header_size + 1024;
	struct sbuf line, field;
	char buf[65536];
	size_t n;
	int lf, first = 1, rc = 0;

	*eol = "\r\n";
	*err = NULL;
	sbuf_init(&line, 0);
	sbuf_init(&field, 0);
	for (;;) {
		size_t got = read_line(in, &line, cap, &lf);
		const char *colon;
		if (line.oom || field.oom)
			goto oom;
		if (got == 0)
			break;
		if (first) {
			*eol = line.len >= 2 && line.data[line.len - 1] == '\n' && line.data[line.len - 2] == '\r'
			    ? "\r\n" : "\n";
			if (line.len >= 5 && memcmp(line.data, "From ", 5) == 0) {
				first = 0;
				continue;    /* an mbox separator, not part of the message */
			}
			first = 0;
		}
		/* End of the header section. */
		if ((line.len == 1 && line.data[0] == '\n') || (line.len == 2 && line.data[0] == '\r' && line.data[1] == '\n'))
			break;
		if ((line.data[0] == ' ' || line.data[0] == '\t') && field.len > 0) {
			if (field.len < cap)
				sbuf_add(&field, line.data, line.len < cap - field.len ? line.len : cap - field.len);
			if (!lf)
				drain_line(in);      /* the field is over the limit already */
			continue;
		}
		colon = memchr(line.data, ':', line.len);
		if (colon == NULL || field_name_len(line.data, colon) == 0) {
			/* Not a header field: the body starts here, with this line whole
			 * (the rest of a long one is read below). */
			emit(s, &field);
			if (hook)
				hook(s, arg);
			seal_session_eoh(s);
			seal_session_body(s, line.data, line.len);
			goto body;
		}
		emit(s, &field);
		sbuf_add(&field, line.data, line.len);
		if (!lf)
			drain_line(in);
	}
	if (field.oom)
		goto oom;
	emit(s, &field);
	if (hook)
		hook(s, arg);
	seal_session_eoh(s);
body:
	seal_session_eol(s, *eol);
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		seal_session_body(s, buf, n);
	if (ferror(in)) {
		if (asprintf(err, "read error: %s", strerror(errno)) < 0)
			*err = NULL;
		rc = -1;
	}
	sbuf_free(&line);
	sbuf_free(&field);
	return rc;
oom:
	/* A header line that cannot be held is never passed on cut short. */
	sbuf_free(&line);
	sbuf_free(&field);
	*err = strdup("out of memory reading the message");
	return -1;
}
