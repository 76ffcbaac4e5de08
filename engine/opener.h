/* opener.h - open a sealed message: check it, apply its policy, restore the original. */
#ifndef SEAL_OPENER_H
#define SEAL_OPENER_H

#include <openssl/bio.h>
#include <time.h>

#include "engine/session.h"
#include "seal/sealpolicy.h"

enum open_result {
	OPEN_OK = 0,
	OPEN_NOT_SEALED = 3,     /* no sealed attachment */
	OPEN_BAD_SIGNATURE = 4,  /* the signature, the issuer or the policy is not valid */
	OPEN_NO_KEY = 5,         /* no configured tenant key opens it */
	OPEN_ALTERED = 6,        /* the content was altered */
	OPEN_EXPIRED = 7,        /* the policy has expired */
	OPEN_INTERNAL = 8
};

/* Open the sealed message that session s (after eom) read. The original is
 * written to out only when everything checked out; otherwise nothing is
 * written. *policy is filled once the signature verified (free it with
 * seal_policy_free), *reason says what went wrong (malloc'd). With
 * ignore_expiry, an expired policy opens (the caller must log it). */
enum open_result seal_open(const struct seal_session *s, time_t now, int ignore_expiry, BIO *out,
    struct seal_policy *policy, char **reason);

#endif
