/* netaddr.h - IPv4/IPv6 networks in CIDR notation. */
#ifndef SEAL_NETADDR_H
#define SEAL_NETADDR_H

#include <stddef.h>
#include <sys/socket.h>

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

/* ADDRESS:PORT, or [IPv6]:PORT, into a socket address (no names: no DNS at
 * start-up). 0, or -1 when it is not that. */
int hostport_parse(const char *spec, struct sockaddr_storage *ss, socklen_t *len);
/* 1 for 127.0.0.0/8 and ::1. */
int hostport_is_loopback(const struct sockaddr_storage *ss);
/* A listening TCP socket (close-on-exec, SO_REUSEADDR, IPv6 only for an
 * IPv6 address) on ss: fd, or -1 with errno. */
int listen_tcp(const struct sockaddr_storage *ss, socklen_t len, int backlog);

#endif
