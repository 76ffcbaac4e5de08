/* buf.h - growable byte buffer with a hard cap. */
#ifndef SEAL_BUF_H
#define SEAL_BUF_H

#include <stddef.h>

struct sbuf {
	char *data;      /* always NUL-terminated when non-NULL */
	size_t len;
	size_t cap;      /* allocated bytes */
	size_t limit;    /* hard cap on len; 0 = none (only for trusted data) */
};

/* Initialise an empty buffer that refuses to grow past limit bytes. */
void sbuf_init(struct sbuf *b, size_t limit);
/* Append n bytes. Returns 0, or -1 when the cap would be passed (nothing
 * is appended) or memory is exhausted. */
int sbuf_add(struct sbuf *b, const void *p, size_t n);
int sbuf_adds(struct sbuf *b, const char *s);
int sbuf_addc(struct sbuf *b, char c);
int sbuf_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append code point cp as UTF-8 (U+FFFD for one that is not a scalar value). */
int sbuf_add_utf8(struct sbuf *b, unsigned long cp);
void sbuf_reset(struct sbuf *b);
/* Hand the data over to the caller (never NULL on success), and reset. */
char *sbuf_steal(struct sbuf *b);
void sbuf_free(struct sbuf *b);

#endif
