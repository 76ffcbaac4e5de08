/*
 * netaddr.c - parse networks in CIDR notation and test addresses against them.
 *
 * Calling rules: pure functions, thread-safe.
 * Untrusted input: the client address comes from the MTA (trusted) or from
 * the sealctl command line; anything that does not parse is "not in".
 * IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) are compared as IPv4.
 * Also: ADDRESS:PORT listening addresses (sealview.listen, *.metrics_listen),
 * from the configuration, and a listening TCP socket on one.
 */
#include "build-config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/netaddr.h"
#include "common/util.h"

static int
parse_addr(const char *s, int *family, unsigned char *addr)
{
	if (inet_pton(AF_INET, s, addr) == 1) {
		*family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, s, addr) == 1) {
		static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
		if (memcmp(addr, mapped, 12) == 0) {
			memmove(addr, addr + 12, 4);
			*family = AF_INET;
		} else
			*family = AF_INET6;
		return 0;
	}
	return -1;
}

int
cidr_parse(const char *s, struct cidr *out)
{
	const char *slash = strchr(s, '/');
	char *host;
	unsigned max;
	int rc;

	host = slash ? xstrndup(s, (size_t)(slash - s)) : strdup(s);
	if (host == NULL)
		return -1;
	memset(out, 0, sizeof(*out));
	rc = parse_addr(host, &out->family, out->addr);
	free(host);
	if (rc != 0)
		return -1;
	max = out->family == AF_INET ? 32 : 128;
	out->prefix = max;
	if (slash) {
		uint64_t p;
		if (parse_uint(slash + 1, &p) != 0 || p > max)
			return -1;
		out->prefix = (unsigned)p;
	}
	return 0;
}

int
cidr_contains(const struct cidr *net, const char *ip)
{
	unsigned char a[16];
	int family;
	unsigned full, rem;

	if (ip == NULL || parse_addr(ip, &family, a) != 0 || family != net->family)
		return 0;
	full = net->prefix / 8;
	rem = net->prefix % 8;
	if (memcmp(a, net->addr, full) != 0)
		return 0;
	if (rem) {
		unsigned char mask = (unsigned char)(0xff << (8 - rem));
		if ((a[full] & mask) != (net->addr[full] & mask))
			return 0;
	}
	return 1;
}

int
hostport_parse(const char *spec, struct sockaddr_storage *ss, socklen_t *len)
{
	const char *colon = spec ? strrchr(spec, ':') : NULL;
	char *host;
	uint64_t port;
	size_t hl;
	int rc = -1;

	memset(ss, 0, sizeof(*ss));
	if (colon == NULL || parse_uint(colon + 1, &port) != 0 || port == 0 || port > 65535)
		return -1;
	hl = (size_t)(colon - spec);
	if ((host = xstrndup(spec, hl)) == NULL)
		return -1;
	if (hl > 2 && host[0] == '[' && host[hl - 1] == ']') {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
		host[hl - 1] = '\0';
		if (inet_pton(AF_INET6, host + 1, &s6->sin6_addr) == 1) {
			s6->sin6_family = AF_INET6;
			s6->sin6_port = htons((uint16_t)port);
			*len = sizeof(*s6);
			rc = 0;
		}
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
		if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
			s4->sin_family = AF_INET;
			s4->sin_port = htons((uint16_t)port);
			*len = sizeof(*s4);
			rc = 0;
		}
	}
	free(host);
	return rc;
}

int
hostport_is_loopback(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)(const void *)ss)->sin_addr.s_addr) >> 24) == 127;
	if (ss->ss_family == AF_INET6)
		return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)(const void *)ss)->sin6_addr);
	return 0;
}

int
listen_tcp(const struct sockaddr_storage *ss, socklen_t len, int backlog)
{
	int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1, e;

	if (fd < 0)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    (ss->ss_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) != 0) ||
	    bind(fd, (const struct sockaddr *)ss, len) != 0 || listen(fd, backlog) != 0) {
		e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}
