/*
 * spool.c - message body storage: memory up to a threshold, then a temp file.
 *
 * Calling rules: one spool per message, used by one thread; spool_free() on
 * every path (eom, abort, close). The temp file is created unlinked
 * (O_TMPFILE, or mkstemp()+unlink() where the file system lacks it), mode
 * 0600, so it disappears when the descriptor closes, even if the process dies.
 * spool_tempfd_sized() gives small content an anonymous memory file instead.
 * Untrusted input: the body bytes; they are stored, never interpreted here.
 */
#include "build-config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/spool.h"

struct spool {
	char *dir;
	size_t threshold;
	char *mem;
	size_t memlen, memcap;
	int fd;               /* -1 while in memory */
	uint64_t size;
	uint64_t rpos;        /* read position */
	char err[256];
};

struct spool *
spool_new(const char *dir, size_t threshold)
{
	struct spool *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->dir = strdup(dir ? dir : "/tmp");
	if (s->dir == NULL) {
		free(s);
		return NULL;
	}
	s->threshold = threshold;
	s->fd = -1;
	return s;
}

int
spool_tempfd(const char *dir)
{
	int fd;
	char *tmpl;
	size_t n;

#ifdef O_TMPFILE
	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0)
		return fd;
#endif
	n = strlen(dir) + sizeof("/sealmilter.XXXXXX");
	tmpl = malloc(n);
	if (tmpl == NULL)
		return -1;
	snprintf(tmpl, n, "%s/sealmilter.XXXXXX", dir);
	fd = mkstemp(tmpl);
	if (fd >= 0) {
		(void)unlink(tmpl);
		(void)fchmod(fd, 0600);
	}
	free(tmpl);
	return fd;
}

int
spool_tempfd_sized(const char *dir, uint64_t expected, uint64_t mem_limit)
{
#ifdef MFD_CLOEXEC
	if (expected <= mem_limit) {
		int fd = memfd_create("sealmilter", MFD_CLOEXEC);
		if (fd >= 0)
			return fd;
	}
#else
	(void)expected;
	(void)mem_limit;
#endif
	return spool_tempfd(dir);
}

static int
open_tmp(struct spool *s)
{
	return spool_tempfd(s->dir);
}

static int
write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int
spool_write(struct spool *s, const void *p, size_t n)
{
	if (s->fd < 0 && s->memlen + n > s->threshold) {
		int fd = open_tmp(s);
		if (fd < 0) {
			snprintf(s->err, sizeof(s->err), "cannot create a temp file in spool_dir %s: %s",
			    s->dir, strerror(errno));
			return -1;
		}
		if (write_all(fd, s->mem, s->memlen) != 0) {
			snprintf(s->err, sizeof(s->err), "cannot write to a temp file in spool_dir %s: %s",
			    s->dir, strerror(errno));
			close(fd);
			return -1;
		}
		free(s->mem);
		s->mem = NULL;
		s->memlen = s->memcap = 0;
		s->fd = fd;
	}
	if (s->fd >= 0) {
		if (write_all(s->fd, p, n) != 0) {
			snprintf(s->err, sizeof(s->err), "cannot write to a temp file in spool_dir %s: %s",
			    s->dir, strerror(errno));
			return -1;
		}
	} else if (n > 0) {
		if (s->memlen + n > s->memcap) {
			size_t ncap = s->memcap ? s->memcap : 4096;
			char *nm;
			while (ncap < s->memlen + n)
				ncap *= 2;
			nm = realloc(s->mem, ncap);
			if (nm == NULL) {
				snprintf(s->err, sizeof(s->err), "out of memory spooling the body");
				return -1;
			}
			s->mem = nm;
			s->memcap = ncap;
		}
		memcpy(s->mem + s->memlen, p, n);
		s->memlen += n;
	}
	s->size += n;
	return 0;
}

uint64_t
spool_size(const struct spool *s)
{
	return s->size;
}

int
spool_on_disk(const struct spool *s)
{
	return s->fd >= 0;
}

int
spool_rewind(struct spool *s)
{
	s->rpos = 0;
	if (s->fd >= 0 && lseek(s->fd, 0, SEEK_SET) < 0) {
		snprintf(s->err, sizeof(s->err), "cannot rewind the spool file: %s", strerror(errno));
		return -1;
	}
	return 0;
}

long
spool_read(struct spool *s, void *buf, size_t n)
{
	if (s->fd >= 0) {
		ssize_t r;
		do
			r = read(s->fd, buf, n);
		while (r < 0 && errno == EINTR);
		if (r < 0)
			snprintf(s->err, sizeof(s->err), "cannot read the spool file: %s", strerror(errno));
		return (long)r;
	}
	if (s->rpos >= s->memlen)
		return 0;
	if (n > s->memlen - s->rpos)
		n = s->memlen - (size_t)s->rpos;
	memcpy(buf, s->mem + s->rpos, n);
	s->rpos += n;
	return (long)n;
}

int
spool_copy_to(struct spool *s, FILE *out)
{
	char buf[65536];
	long r;

	if (spool_rewind(s) != 0)
		return -1;
	while ((r = spool_read(s, buf, sizeof(buf))) > 0)
		if (fwrite(buf, 1, (size_t)r, out) != (size_t)r)
			return -1;
	return r < 0 ? -1 : 0;
}

const char *
spool_error(const struct spool *s)
{
	return s->err[0] ? s->err : "no error";
}

void
spool_free(struct spool *s)
{
	if (s == NULL)
		return;
	if (s->fd >= 0)
		close(s->fd);
	free(s->mem);
	free(s->dir);
	free(s);
}
