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
 * milter protocol cannot carry) become spaces; a line that is not a header
 * field ends the header section, as in Postfix.
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

/* Read one line (with its LF) into b, keeping at most cap bytes; the rest of
 * a longer line is consumed and dropped. Returns bytes read (0 at EOF). */
static size_t
read_line(FILE *in, struct sbuf *b, size_t cap, int *lf)
{
	size_t total = 0;
	int c;

	sbuf_reset(b);
	*lf = 0;
	while ((c = getc(in)) != EOF) {
		total++;
		if (c == 0)
			c = ' ';
		if (b->len < cap)
			sbuf_addc(b, (char)c);
		if (c == '\n') {
			*lf = 1;
			break;
		}
	}
	return total;
}

static void
emit(struct seal_session *s, struct sbuf *field)
{
	char *colon;
	size_t len = field->len;

	if (field->len == 0)
		return;
	/* Drop the final line end; keep interior ones (folding). */
	if (len && field->data[len - 1] == '\n')
		len--;
	if (len && field->data[len - 1] == '\r')
		len--;
	field->data[len] = '\0';
	colon = memchr(field->data, ':', len);
	if (colon) {
		*colon = '\0';
		seal_session_header(s, field->data, colon + 1);
	}
	sbuf_reset(field);
}

int
eml_feed(struct seal_session *s, FILE *in, const char **eol, char **err)
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
			continue;
		}
		colon = memchr(line.data, ':', line.len);
		if (colon == NULL || !header_name_ok(line.data, (size_t)(colon - line.data))) {
			/* Not a header field: the body starts here. */
			emit(s, &field);
			seal_session_eoh(s);
			seal_session_body(s, line.data, line.len);
			goto body;
		}
		emit(s, &field);
		sbuf_add(&field, line.data, line.len);
	}
	emit(s, &field);
	seal_session_eoh(s);
body:
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
}
