/* spool.h - message body storage: memory up to a threshold, then a temp file. */
#ifndef SEAL_SPOOL_H
#define SEAL_SPOOL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct spool;

/* dir: where temp files go; threshold: bytes kept in memory before spilling. */
struct spool *spool_new(const char *dir, size_t threshold);
/* Append bytes. 0 on success; -1 on I/O error (errno set, spool_error() says more). */
int spool_write(struct spool *s, const void *p, size_t n);
uint64_t spool_size(const struct spool *s);
/* 1 once the body has spilled to disk. */
int spool_on_disk(const struct spool *s);
/* Copy the whole content to out. 0 on success. */
int spool_copy_to(struct spool *s, FILE *out);
/* Read sequentially: spool_rewind() then spool_read() until it returns 0. */
int spool_rewind(struct spool *s);
/* Returns bytes read, 0 at end, -1 on error. */
long spool_read(struct spool *s, void *buf, size_t n);
const char *spool_error(const struct spool *s);
/* A new unlinked temp file (mode 0600) in dir, open for reading and
 * writing; -1 on failure (errno set). It disappears when closed. */
int spool_tempfd(const char *dir);
/* The same for content of about `expected` bytes: an anonymous memory file
 * (memfd) when expected <= mem_limit, since creating and deleting a file
 * on disk costs more than sealing a small message; otherwise, or where
 * memfd is unavailable, spool_tempfd(dir). */
int spool_tempfd_sized(const char *dir, uint64_t expected, uint64_t mem_limit);
void spool_free(struct spool *s);

#endif
