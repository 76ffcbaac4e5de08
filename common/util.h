/* util.h - small string, number and address helpers shared by every module. */
#ifndef SEAL_UTIL_H
#define SEAL_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* A list of strings (owned). */
struct strlist {
	char **v;
	size_t n;
};
int strlist_add(struct strlist *l, const char *s);
/* 1 when s is in l (exactly). */
int strlist_has(const struct strlist *l, const char *s);
void strlist_free(struct strlist *l);

/* Allocation that never returns NULL: aborts the process on exhaustion is
 * NOT done here; these return NULL and callers check. */
char *xstrndup(const char *s, size_t n);

/* ASCII case-insensitive search for needle in hay[0..haylen). */
const char *memcasemem(const char *hay, size_t haylen, const char *needle, size_t nlen);

/* Parse "123", "10K", "5M", "1G" (binary units). 0 on success. */
int parse_size(const char *s, uint64_t *out);
/* Parse "30s", "5m", "2h", "7d" or a plain number of seconds. 0 on success. */
int parse_duration(const char *s, uint64_t *out_seconds);
/* Parse a non-negative decimal integer with no sign, no junk. 0 on success. */
int parse_uint(const char *s, uint64_t *out);

/* Strip an SMTP envelope address: "<a@b> SIZE=1" -> "a@b"; "<>" -> "".
 * Returns a new string (lower-cased domain), or NULL on allocation failure. */
char *addr_normalize(const char *raw);
/* The domain part of a normalized address ("" when there is none). */
const char *addr_domain(const char *addr);
/* 1 when domain equals d or is a subdomain of it; ASCII case-insensitive. */
int domain_matches(const char *domain, const char *d);

/* Remove CR and LF (header unfolding) and trim surrounding white space. */
char *unfold_trim(const char *raw);

/* 1 when h is a valid header field name (printable ASCII, no colon, <= 76). */
int valid_header_name(const char *h);

/* 1 when s equals one of list (NULL-terminated), ASCII case-insensitively. */
int strcase_in(const char *s, const char *const *list);

/* A copy of p[0..n) with every line end (LF, CR, CRLF) made CRLF; NULL on
 * no memory. */
char *crlf_canon(const void *p, size_t n, size_t *outlen);

/* Write all n bytes to fd (retrying on EINTR and short writes). 0, or -1
 * with errno set. */
int write_all(int fd, const void *p, size_t n);
/* bytes as base64 lines of 76 characters ending in CRLF, to fd. 0 or -1. */
int write_base64_lines(int fd, const unsigned char *p, size_t n);

/* One UTF-8 sequence at p (n > 0 bytes there): its code point, or -1 for a
 * byte that does not start a valid, complete, shortest-form sequence of a
 * scalar value (then *used is 1: each bad byte counts alone). */
long utf8_next(const unsigned char *p, size_t n, size_t *used);
/* The value of a hexadecimal digit (either case), or -1. */
int hex_digit(int c);
/* 1 when url is plain http:// to a loopback host, exactly: localhost,
 * 127.0.0.0/8 or [::1], with an optional port and path (no user part). */
int url_is_loopback_http(const char *url);
/* Constant-time comparison of n bytes. */
int ct_equal(const void *a, const void *b, size_t n);

#endif
