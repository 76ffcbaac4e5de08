/* marker.h - the loop-guard marker header: proof that sealmilter processed a message. */
#ifndef SEAL_MARKER_H
#define SEAL_MARKER_H

#include <stddef.h>
#include <time.h>

#include "rules/policy.h"

enum marker_state { MARKER_VALID, MARKER_FORGED, MARKER_STALE };

/* The header value (with its leading space) for a message with these headers. */
char *marker_make(const struct seal_config *cfg, const struct header *h, size_t n, time_t now);
/* Check one marker value against the message's headers. */
enum marker_state marker_check(const struct seal_config *cfg, const struct header *h, size_t n,
    const char *value, time_t now);

#endif
