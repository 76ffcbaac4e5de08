/*
 * html.c - escaping for server-rendered HTML and URLs: every value that
 * reaches a viewer page goes through html_escape() (text content and
 * double- or single-quoted attribute values alike) or url_encode(); form
 * bodies and query strings come back through form_decode().
 *
 * Calling rules: none beyond html.h; no global state, thread-safe. An
 * append that the buffer refuses (its cap, or no memory) leaves the buffer
 * as it was: a page never carries half an escaped value.
 * Untrusted input: everything. Header fields and bodies of mail sent by
 * anyone (invalid UTF-8, NUL and other control bytes, overlong forms,
 * surrogates) and form values typed or forged by a browser. Invalid UTF-8
 * becomes U+FFFD, C0 controls other than tab, CR and LF are dropped, and
 * so are DEL and the C1 controls; & < > " ' always become entities.
 */
#include "build-config.h"

#include <limits.h>
#include <string.h>

#include "common/buf.h"
#include "common/util.h"
#include "viewer/html.h"

static const char replacement[] = "\xef\xbf\xbd";    /* U+FFFD */

static int
undo(struct sbuf *b, size_t len)
{
	b->len = len;
	if (b->data)
		b->data[len] = '\0';
	return -1;
}

/* The escaper behind html_escape() and html_escape_lines(). */
static int
escape(struct sbuf *b, const char *s, size_t n, int lines)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t start = b->len, i = 0, run = 0, used;

	if (s == NULL)
		return 0;
	while (i < n) {
		unsigned char c = p[i];
		const char *rep = NULL;
		size_t skip = 1;
		long cp;

		if (c >= 0x20 && c < 0x7f) {
			switch (c) {
			case '&': rep = "&amp;"; break;
			case '<': rep = "&lt;"; break;
			case '>': rep = "&gt;"; break;
			case '"': rep = "&quot;"; break;
			case '\'': rep = "&#39;"; break;
			default:
				i++;
				continue;
			}
		} else if (c == '\t' || ((c == '\n' || c == '\r') && !lines)) {
			i++;
			continue;
		} else if (c == '\n' || c == '\r') {
			rep = "<br>";
			if (c == '\r' && i + 1 < n && p[i + 1] == '\n')
				skip = 2;
		} else if (c >= 0x80) {
			cp = utf8_next(p + i, n - i, &used);
			if (cp >= 0xa0) {
				i += used;     /* valid, and not a C1 control: copied as it is */
				continue;
			}
			if (cp < 0)
				rep = replacement;
			skip = used;       /* a C1 control is dropped */
		}
		/* Otherwise a C0 control or DEL: dropped (rep stays NULL). */
		if (i > run && sbuf_add(b, s + run, i - run) != 0)
			return undo(b, start);
		if (rep && sbuf_adds(b, rep) != 0)
			return undo(b, start);
		i += skip;
		run = i;
	}
	if (i > run && sbuf_add(b, s + run, i - run) != 0)
		return undo(b, start);
	return 0;
}

int
html_escape(struct sbuf *b, const char *s, size_t n)
{
	return escape(b, s, n, 0);
}

int
html_escapes(struct sbuf *b, const char *s)
{
	return escape(b, s, s ? strlen(s) : 0, 0);
}

int
html_escape_lines(struct sbuf *b, const char *s, size_t n)
{
	return escape(b, s, n, 1);
}

int
url_encode(struct sbuf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t start = b->len, i, run = 0;

	if (s == NULL)
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char e[3];

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~')
			continue;
		if (i > run && sbuf_add(b, s + run, i - run) != 0)
			return undo(b, start);
		e[0] = '%';
		e[1] = hex[c >> 4];
		e[2] = hex[c & 15];
		if (sbuf_add(b, e, 3) != 0)
			return undo(b, start);
		run = i + 1;
	}
	if (i > run && sbuf_add(b, s + run, i - run) != 0)
		return undo(b, start);
	return 0;
}

long
form_decode(char *s, size_t n)
{
	size_t i, j = 0;

	if (n > (size_t)LONG_MAX)
		return -1;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '+') {
			c = ' ';
		} else if (c == '%') {
			int hi, lo;
			if (n - i < 3 || (hi = hex_digit((unsigned char)s[i + 1])) < 0 ||
			    (lo = hex_digit((unsigned char)s[i + 2])) < 0)
				return -1;
			c = (unsigned char)(hi * 16 + lo);
			i += 2;
		}
		if (c == '\0')
			return -1;
		s[j++] = (char)c;
	}
	if (j < n)
		s[j] = '\0';
	return (long)j;
}
