/* marker.h - the loop-guard marker header: proof that sealmilter processed a message. */
#ifndef SEAL_MARKER_H
#define SEAL_MARKER_H

#include <stddef.h>
#include <time.h>

#include <openssl/evp.h>

#include "rules/policy.h"

enum marker_state { MARKER_VALID, MARKER_FORGED, MARKER_STALE };

#define MARKER_BODY_HASH_LEN 32

/* SHA-256, fetched once per process (thread-safe). */
const EVP_MD *marker_sha256(void);
/* What a marker is bound to, besides the key and its time. */
struct marker_subject {
	const struct header *headers;   /* the header block as delivered (marker fields are skipped) */
	size_t nheaders;
	const char *marker_header;      /* its name */
	const char *sender;             /* envelope sender */
	const char *direction;          /* "inbound", "internal" or "outbound" */
	const unsigned char *body_hash; /* SHA-256 of the body as delivered */
};

/* The header value (with its leading space) for a message. */
char *marker_make(const struct seal_config *cfg, const struct marker_subject *m, time_t now);
/* Check one marker value against the message. */
enum marker_state marker_check(const struct seal_config *cfg, const struct marker_subject *m,
    const char *value, time_t now);

#endif
