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
/* The header value (with its leading space) for a message with these headers
 * and this body (its SHA-256, as delivered). */
char *marker_make(const struct seal_config *cfg, const struct header *h, size_t n,
    const unsigned char *body_hash, time_t now);
/* Check one marker value against the message's headers and body hash. */
enum marker_state marker_check(const struct seal_config *cfg, const struct header *h, size_t n,
    const unsigned char *body_hash, const char *value, time_t now);

#endif
