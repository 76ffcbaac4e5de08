/* resolver.h - TXT look-ups with a deadline, through libunbound. */
#ifndef SEAL_RESOLVER_H
#define SEAL_RESOLVER_H

#include <stddef.h>

struct strlist;
struct dns_resolver;
struct dns_query;

enum dns_status {
	DNS_FOUND,        /* records[] holds the TXT records */
	DNS_NOTFOUND,     /* NXDOMAIN, or the name has no TXT record */
	DNS_TEMPFAIL      /* timeout, SERVFAIL, a malformed answer, DNSSEC bogus, no memory */
};

enum dns_security { DNS_INSECURE, DNS_SECURE, DNS_BOGUS };

#define DNS_MAX_RECORDS 16          /* more TXT records than this: only the first are kept */
#define DNS_MAX_RECORD_SIZE 16384   /* one record (its strings joined); a longer one is dropped */

/* The answer to one TXT query. Each record is its character-strings
 * joined, NUL-terminated; a record holding a NUL byte is dropped (no key
 * record can contain one). */
struct dns_txt {
	enum dns_status status;
	enum dns_security security;
	char **records;
	size_t nrecords;
	size_t dropped;             /* records dropped as malformed, too large or too many */
	char *why;                  /* for DNS_TEMPFAIL and DNS_NOTFOUND: a short reason */
};

/* "192.0.2.1", "192.0.2.1@5353", "::1" or "::1@5353": 1 when valid. */
int dns_nameserver_valid(const char *s);

/* A resolver. nameservers: addresses (as above) to forward to; empty means
 * the system's /etc/resolv.conf. timeout_ms bounds every query from its
 * start. trust_anchor_file: a DNSSEC trust anchor for validation, or NULL.
 * Nothing is opened until the first query (so a resolver made before a
 * fork is safe to use in the child). NULL (and *err) on bad settings. */
struct dns_resolver *dns_resolver_new(const struct strlist *nameservers, unsigned timeout_ms,
    const char *trust_anchor_file, char **err);
/* Frees; no query may be outstanding. */
void dns_resolver_free(struct dns_resolver *r);

/* Start a TXT query for name (so it runs while the caller does other
 * work). Never NULL: a query that could not start answers DNS_TEMPFAIL. */
struct dns_query *dns_txt_start(struct dns_resolver *r, const char *name);
/* Wait for the answer until the query's deadline and fill out; frees q. */
void dns_txt_wait(struct dns_query *q, struct dns_txt *out);
/* Abandon a query without waiting (a message aborted). */
void dns_query_cancel(struct dns_query *q);
void dns_txt_free(struct dns_txt *t);

/* Parse TXT RDATA (length-prefixed character-strings) into one record.
 * NULL when malformed (a length past the end, a NUL byte, too large). */
char *dns_txt_rdata(const unsigned char *rdata, size_t len);

#endif
