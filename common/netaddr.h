/* netaddr.h - IPv4/IPv6 networks in CIDR notation. */
#ifndef SEAL_NETADDR_H
#define SEAL_NETADDR_H

#include <stddef.h>

struct cidr {
	int family;                 /* AF_INET or AF_INET6 */
	unsigned char addr[16];
	unsigned prefix;
};

struct cidr_list {
	struct cidr *v;
	size_t n;
};

/* "10.0.0.0/8", "::1/128", or a bare address (full-length prefix). 0 on success. */
int cidr_parse(const char *s, struct cidr *out);
/* 1 when the textual address ip lies in net; 0 otherwise or when ip is not an address. */
int cidr_contains(const struct cidr *net, const char *ip);

#endif
