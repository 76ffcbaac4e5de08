/*
 * buf.c - growable byte buffer with a hard cap.
 *
 * Calling rules: sbuf_init() before use, sbuf_free() after. A buffer is not
 * shared between threads.
 * Untrusted input: any bytes, including NUL; the cap bounds memory use, and
 * an append that would pass it fails as a whole, so callers see a clean
 * "limit reached" rather than a silently truncated value.
 */
#include "build-config.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"

void
sbuf_init(struct sbuf *b, size_t limit)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->limit = limit;
	b->oom = 0;
}

int
sbuf_add(struct sbuf *b, const void *p, size_t n)
{
	size_t need;

	if (b->limit != 0 && (n > b->limit || b->len > b->limit - n))
		return -1;
	if (n > SIZE_MAX / 2 - b->len) {
		b->oom = 1;
		return SBUF_OOM;
	}
	need = b->len + n + 1;
	if (need > b->cap) {
		size_t ncap = b->cap ? b->cap : 64;
		char *nd;
		while (ncap < need)
			ncap *= 2;
		if (b->limit != 0 && ncap > b->limit + 1)     /* never more than the limit can use */
			ncap = b->limit + 1;
		nd = realloc(b->data, ncap);
		if (nd == NULL) {
			b->oom = 1;
			return SBUF_OOM;
		}
		b->data = nd;
		b->cap = ncap;
	}
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int
sbuf_adds(struct sbuf *b, const char *s)
{
	return sbuf_add(b, s, strlen(s));
}

int
sbuf_addc(struct sbuf *b, char c)
{
	return sbuf_add(b, &c, 1);
}

int
sbuf_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	int n, rc;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->oom = 1;
		return SBUF_OOM;
	}
	rc = sbuf_add(b, s, (size_t)n);
	free(s);
	return rc;
}

int
sbuf_add_utf8(struct sbuf *b, unsigned long cp)
{
	char u[4];
	size_t n;

	if (cp == 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		cp = 0xfffd;
	if (cp < 0x80) {
		u[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | (cp >> 6));
		u[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | (cp >> 12));
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		u[0] = (char)(0xf0 | (cp >> 18));
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	return sbuf_add(b, u, n);
}

void
sbuf_reset(struct sbuf *b)
{
	b->len = 0;
	b->oom = 0;
	if (b->data)
		b->data[0] = '\0';
}

char *
sbuf_steal(struct sbuf *b)
{
	char *d = b->data;

	/* Incomplete content is never handed over as if it were whole. */
	if (b->oom) {
		free(d);
		d = NULL;
	} else if (d == NULL) {
		d = strdup("");
	}
	b->data = NULL;
	b->len = b->cap = 0;
	b->oom = 0;
	return d;
}

void
sbuf_free(struct sbuf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
	b->oom = 0;
}
