/*
 * netaddr.c - parse networks in CIDR notation and test addresses against them.
 *
 * Calling rules: pure functions, thread-safe.
 * Untrusted input: the client address comes from the MTA (trusted) or from
 * the sealctl command line; anything that does not parse is "not in".
 * IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) are compared as IPv4.
 */
#include "build-config.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

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
