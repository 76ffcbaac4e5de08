/* buf.h - growable byte buffer with a hard cap. */
#ifndef SEAL_BUF_H
#define SEAL_BUF_H

#include <stddef.h>

struct sbuf {
	char *data;      /* always NUL-terminated when non-NULL */
	size_t len;
	size_t cap;      /* allocated bytes */
	size_t limit;    /* hard cap on len; 0 = none (only for trusted data) */
	int oom;         /* sticky: an append ran out of memory (the content is incomplete) */
};

/* Initialise an empty buffer that refuses to grow past limit bytes. */
void sbuf_init(struct sbuf *b, size_t limit);
/* Append n bytes. Returns 0; -1 when the cap would be passed (nothing is
 * appended); SBUF_OOM (-2) when memory is exhausted. Callers that treat
 * any failure alike test != 0; callers that refuse input past a cap must
 * tell the two apart (out of memory defers, a cap is the input's fault). */
#define SBUF_OOM (-2)
int sbuf_add(struct sbuf *b, const void *p, size_t n);
int sbuf_adds(struct sbuf *b, const char *s);
int sbuf_addc(struct sbuf *b, char c);
int sbuf_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append code point cp as UTF-8 (U+FFFD for one that is not a scalar value). */
int sbuf_add_utf8(struct sbuf *b, unsigned long cp);
void sbuf_reset(struct sbuf *b);
/* Hand the data over to the caller (never NULL on success), and reset.
 * NULL when memory ran out (an append failed, or this copy): incomplete
 * content is never handed over as if it were whole. */
char *sbuf_steal(struct sbuf *b);
void sbuf_free(struct sbuf *b);

#endif
