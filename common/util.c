/*
 * util.c - small string, number and address helpers.
 *
 * Calling rules: pure functions, thread-safe.
 * Untrusted input: envelope addresses and header values from mail; every
 * function takes explicit lengths or NUL-terminated strings and allocates
 * exactly what it returns.
 */
#include "build-config.h"

#include <arpa/inet.h>

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <unistd.h>
#include <openssl/evp.h>

#include "common/util.h"

char *
xstrndup(const char *s, size_t n)
{
	char *d = malloc(n + 1);

	if (d == NULL)
		return NULL;
	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

const char *
memcasemem(const char *hay, size_t haylen, const char *needle, size_t nlen)
{
	size_t i;

	if (nlen == 0)
		return hay;
	if (nlen > haylen)
		return NULL;
	for (i = 0; i + nlen <= haylen; i++) {
		if (tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[0]) &&
		    strncasecmp(hay + i, needle, nlen) == 0)
			return hay + i;
	}
	return NULL;
}

int
parse_uint(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (s == NULL || !isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return -1;
	*out = v;
	return 0;
}

static int
parse_scaled(const char *s, uint64_t *out, const char *units, const uint64_t *mult)
{
	char *end;
	unsigned long long v;
	const char *u;

	if (s == NULL || !isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		return -1;
	if (*end == '\0') {
		*out = v;
		return 0;
	}
	if (end[1] != '\0' || (u = strchr(units, *end)) == NULL)
		return -1;
	if (v > UINT64_MAX / mult[u - units])
		return -1;
	*out = v * mult[u - units];
	return 0;
}

int
parse_size(const char *s, uint64_t *out)
{
	static const uint64_t m[] = { 1024, 1024, 1024ULL * 1024, 1024ULL * 1024,
	    1024ULL * 1024 * 1024, 1024ULL * 1024 * 1024 };
	return parse_scaled(s, out, "kKmMgG", m);
}

int
parse_duration(const char *s, uint64_t *out)
{
	static const uint64_t m[] = { 1, 60, 3600, 86400, 7 * 86400 };
	return parse_scaled(s, out, "smhdw", m);
}

char *
addr_normalize(const char *raw)
{
	const char *p = raw, *e;
	char *out, *at;

	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '<') {
		p++;
		e = strchr(p, '>');
		if (e == NULL)
			e = p + strlen(p);
	} else {
		e = p;
		while (*e && *e != ' ' && *e != '\t')
			e++;
	}
	/* Drop a source route "@a,@b:user@dom". */
	if (*p == '@') {
		const char *colon = memchr(p, ':', (size_t)(e - p));
		if (colon)
			p = colon + 1;
	}
	out = xstrndup(p, (size_t)(e - p));
	if (out == NULL)
		return NULL;
	at = strrchr(out, '@');
	if (at)
		for (at++; *at; at++)
			*at = (char)tolower((unsigned char)*at);
	return out;
}

const char *
addr_domain(const char *addr)
{
	const char *at = strrchr(addr, '@');

	return at ? at + 1 : "";
}

int
domain_matches(const char *domain, const char *d)
{
	size_t dl = strlen(domain), l = strlen(d);

	if (l == 0 || dl < l)
		return 0;
	if (strcasecmp(domain + dl - l, d) != 0)
		return 0;
	return dl == l || domain[dl - l - 1] == '.';
}

char *
unfold_trim(const char *raw)
{
	size_t n = strlen(raw), i, j = 0;
	char *out = malloc(n + 1);

	if (out == NULL)
		return NULL;
	for (i = 0; i < n; i++)
		if (raw[i] != '\r' && raw[i] != '\n')
			out[j++] = raw[i];
	while (j > 0 && (out[j - 1] == ' ' || out[j - 1] == '\t'))
		j--;
	out[j] = '\0';
	i = 0;
	while (out[i] == ' ' || out[i] == '\t')
		i++;
	if (i > 0)
		memmove(out, out + i, j - i + 1);
	return out;
}

int
ct_equal(const void *a, const void *b, size_t n)
{
	const unsigned char *x = a, *y = b;
	unsigned char d = 0;
	size_t i;

	for (i = 0; i < n; i++)
		d |= x[i] ^ y[i];
	return d == 0;
}

int
valid_header_name(const char *h)
{
	const char *p;

	if (*h == '\0' || strlen(h) > 76)
		return 0;
	for (p = h; *p; p++)
		if (*p <= 32 || *p >= 127 || *p == ':')
			return 0;
	return 1;
}

int
strcase_in(const char *s, const char *const *list)
{
	for (; *list; list++)
		if (strcasecmp(s, *list) == 0)
			return 1;
	return 0;
}

char *
crlf_canon(const void *in, size_t n, size_t *outlen)
{
	const unsigned char *p = in;
	char *out = malloc(n * 2 + 1);
	size_t i, o = 0;

	if (out == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		if (p[i] == '\r' || p[i] == '\n') {
			out[o++] = '\r';
			out[o++] = '\n';
			if (p[i] == '\r' && i + 1 < n && p[i + 1] == '\n')
				i++;
		} else {
			out[o++] = (char)p[i];
		}
	}
	*outlen = o;
	return out;
}

int
write_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n > 0) {
		ssize_t w = write(fd, c, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

int
write_base64_lines(int fd, const unsigned char *p, size_t n)
{
	size_t lines = (n + 56) / 57, off, o = 0;
	unsigned char *buf = malloc(lines * 78 + 1);
	int rc;

	/* 57 input bytes make one 76-character line; one write for them all. */
	if (buf == NULL)
		return -1;
	for (off = 0; off < n; off += 57) {
		o += (size_t)EVP_EncodeBlock(buf + o, p + off, (int)(n - off < 57 ? n - off : 57));
		buf[o++] = '\r';
		buf[o++] = '\n';
	}
	rc = write_all(fd, buf, o);
	free(buf);
	return rc;
}

long
utf8_next(const unsigned char *p, size_t n, size_t *used)
{
	unsigned long cp, min;
	size_t len, i;

	*used = 1;
	if (p[0] < 0x80)
		return p[0];
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		len = 2;
		cp = p[0] & 0x1fu;
		min = 0x80;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		len = 3;
		cp = p[0] & 0x0fu;
		min = 0x800;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		len = 4;
		cp = p[0] & 0x07u;
		min = 0x10000;
	} else {
		return -1;
	}
	if (n < len)
		return -1;
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return -1;
		cp = (cp << 6) | (p[i] & 0x3fu);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return -1;
	*used = len;
	return (long)cp;
}

int
hex_digit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int
strlist_has(const struct strlist *l, const char *s)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (strcmp(l->v[i], s) == 0)
			return 1;
	return 0;
}

int
url_is_loopback_http(const char *url)
{
	char host[64];
	const char *a, *end, *colon;
	size_t n;
	unsigned char bin[16];

	if (strncmp(url, "http://", 7) != 0)
		return 0;
	a = url + 7;
	end = a + strcspn(a, "/?#");
	if (memchr(a, '@', (size_t)(end - a)) != NULL)
		return 0;
	if (*a == '[') {
		const char *rb = memchr(a, ']', (size_t)(end - a));
		if (rb == NULL || (rb[1] != ':' && rb + 1 != end) || (size_t)(rb - a - 1) >= sizeof(host))
			return 0;
		memcpy(host, a + 1, (size_t)(rb - a - 1));
		host[rb - a - 1] = '\0';
		return inet_pton(AF_INET6, host, bin) == 1 && memcmp(bin, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\1", 16) == 0;
	}
	colon = memchr(a, ':', (size_t)(end - a));
	n = (size_t)((colon ? colon : end) - a);
	if (n == 0 || n >= sizeof(host))
		return 0;
	memcpy(host, a, n);
	host[n] = '\0';
	if (strcasecmp(host, "localhost") == 0)
		return 1;
	return inet_pton(AF_INET, host, bin) == 1 && bin[0] == 127;
}
