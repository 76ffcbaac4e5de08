/*
 * canon.c - DKIM canonicalisation (RFC 6376 3.4), simple and relaxed.
 *
 * Header fields: one at a time, from the raw value as the MTA gave it
 * (leading white space kept, folded lines joined by LF or CRLF).
 * Body: a streaming state machine, so the body is hashed as it arrives and
 * never held: trailing empty lines are counted, not stored, and emitted
 * only when text follows them. Line ends may be CRLF (from an MTA) or bare
 * LF (a file); both become CRLF. A bare CR is text.
 *   simple:  lines as they are; trailing empty lines dropped; a missing
 *            final CRLF added; an empty body becomes one CRLF.
 *   relaxed: runs of WSP become one SP; WSP at line ends goes; trailing
 *            empty lines dropped; an empty body stays empty (erratum 1384).
 *
 * Calling rules: header functions are pure; a body canonicaliser belongs
 * to one thread.
 * Untrusted input: every byte of header values and body.
 */
#include "build-config.h"

#include <ctype.h>
#include <string.h>

#include "dkim/dkim.h"

int
dkim_canon_header(struct sbuf *out, enum dkim_canon c, const char *name, const char *value, int crlf)
{
	const char *p;
	int rc = 0;

	if (c == DKIM_SIMPLE) {
		rc |= sbuf_adds(out, name);
		rc |= sbuf_addc(out, ':');
		/* Line breaks inside the value become CRLF, as on the wire. */
		for (p = value; *p; p++) {
			if (*p == '\n' && (p == value || p[-1] != '\r'))
				rc |= sbuf_addc(out, '\r');
			rc |= sbuf_addc(out, *p);
		}
	} else {
		int wsp = 0, any = 0;
		for (p = name; *p; p++)
			rc |= sbuf_addc(out, (char)tolower((unsigned char)*p));
		/* The name never ends in white space here, but be safe. */
		while (out->len && (out->data[out->len - 1] == ' ' || out->data[out->len - 1] == '\t'))
			out->len--;
		rc |= sbuf_addc(out, ':');
		for (p = value; *p; p++) {
			if (*p == '\r' || *p == '\n')
				continue;                       /* unfold */
			if (*p == ' ' || *p == '\t') {
				wsp = 1;
				continue;
			}
			if (wsp && any)
				rc |= sbuf_addc(out, ' ');
			wsp = 0;
			any = 1;
			rc |= sbuf_addc(out, *p);
		}
	}
	if (crlf)
		rc |= sbuf_add(out, "\r\n", 2);
	return rc ? -1 : 0;
}

void
dkim_body_init(struct dkim_body_canon *b, enum dkim_canon c, void (*emit)(void *, const char *, size_t), void *arg)
{
	memset(b, 0, sizeof(*b));
	b->canon = c;
	b->emit = emit;
	b->arg = arg;
}

static void
flush(struct dkim_body_canon *b)
{
	if (b->blen) {
		b->emit(b->arg, b->buf, b->blen);
		b->out += b->blen;
		b->blen = 0;
	}
}

static void
put(struct dkim_body_canon *b, const char *p, size_t n)
{
	if (b->blen + n > sizeof(b->buf))
		flush(b);
	memcpy(b->buf + b->blen, p, n);
	b->blen += n;
}

/* Text (not a line end) on the current line: first the empty lines held
 * back, then a pending run of white space. */
static void
text(struct dkim_body_canon *b, char c)
{
	for (; b->empty; b->empty--)
		put(b, "\r\n", 2);
	if (b->wsp) {
		put(b, " ", 1);
		b->wsp = 0;
	}
	put(b, &c, 1);
	b->content = 1;
}

static void
line_end(struct dkim_body_canon *b)
{
	b->wsp = 0;       /* relaxed: white space at the end of a line goes */
	if (b->content)
		put(b, "\r\n", 2);
	else
		b->empty++;
	b->content = 0;
}

/* Plain text needs no decision per byte: a run of it goes out at once. */
static int
plain(char c)
{
	return c != '\r' && c != '\n' && c != ' ' && c != '\t';
}

void
dkim_body_feed(struct dkim_body_canon *b, const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		char c = p[i];
		if (!b->cr && plain(c)) {
			size_t j = i + 1;
			while (j < n && plain(p[j]))
				j++;
			text(b, c);                 /* empty lines and white space held back go first */
			i++;
			while (i < j) {
				size_t k = j - i < sizeof(b->buf) ? j - i : sizeof(b->buf);
				put(b, p + i, k);
				i += k;
			}
			i--;
			continue;
		}
		if (b->cr) {
			b->cr = 0;
			if (c == '\n') {
				line_end(b);
				continue;
			}
			text(b, '\r');              /* a bare CR */
		}
		if (c == '\r') {
			b->cr = 1;
		} else if (c == '\n') {
			line_end(b);                /* a bare LF (a file) ends a line too */
		} else if (b->canon == DKIM_RELAXED && (c == ' ' || c == '\t')) {
			b->wsp = 1;
		} else {
			text(b, c);
		}
	}
}

void
dkim_body_finish(struct dkim_body_canon *b)
{
	if (b->cr) {
		b->cr = 0;
		text(b, '\r');
	}
	if (b->content)
		line_end(b);                    /* the missing final CRLF */
	b->empty = 0;                           /* trailing empty lines are dropped */
	if (b->canon == DKIM_SIMPLE && b->out + b->blen == 0)
		put(b, "\r\n", 2);
	flush(b);
}
