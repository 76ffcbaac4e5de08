/* viewapi.h - the signed HTTP API between sealmilter/sealctl and sealview.
 *
 * Every request carries three header fields:
 *   X-Seal-Date: unix time          (sealview accepts +-300 s)
 *   X-Seal-Nonce: 32 hex digits     (sealview refuses one it has seen)
 *   X-Seal-Signature: hex HMAC-SHA-256(api key,
 *       "sealview-api-v1\n" METHOD "\n" PATH "\n" DATE "\n" NONCE "\n" hex SHA-256(body))
 * where PATH is percent-decoded (as the server reads it), and
 *   X-Seal-Content-SHA256: hex SHA-256 of the body
 * so that sealview checks the signature before it reads the body, and the
 * body against the hash after.
 * where the api key is HKDF-SHA-256(viewer secret, "sealmilter-viewer", "api v1").
 *
 * Every answer to a request whose signature passed carries
 *   X-Seal-Response-Signature: hex HMAC-SHA-256(api key,
 *       "sealview-api-v1-response\n" NONCE "\n" STATUS "\n" hex SHA-256(body))
 * with the request's nonce, so an answer cannot be forged, altered or
 * replayed on the way; the client believes no other answer.
 *
 * The endpoints (docs/viewer.md):
 *   PUT  /api/v1/messages/LOOKUP    body: the sealed object (DER). Idempotent. 201 or 200.
 *   POST /api/v1/revoke/ID          ID: a seal id or a Message-ID. 200, 404.
 *   GET  /api/v1/audit[/SEAL-ID]    the audit records, one JSON object per line.
 *   GET  /api/v1/audit-verify       {"intact":true,"records":N,"head":"hex"} or the first bad record.
 */
#ifndef SEAL_VIEWAPI_H
#define SEAL_VIEWAPI_H

#include <stddef.h>
#include <stdint.h>

#define VIEWAPI_MAX_SKEW 300

/* The api key from the viewer secret. 0 or -1. */
int viewapi_key(const unsigned char *secret, size_t secret_len, unsigned char key[32]);
/* The signature (65 bytes: hex and NUL) over a request. 0 or -1. */
int viewapi_sign(const unsigned char key[32], const char *method, const char *path, const char *date,
    const char *nonce, const unsigned char body_sha256[32], char out[65]);

/* The signature (65 bytes: hex and NUL) over an answer to the request with nonce. 0 or -1. */
int viewapi_sign_response(const unsigned char key[32], const char *nonce, long status,
    const unsigned char body_sha256[32], char out[65]);

struct viewapi_body {
	const void *data;       /* the body in memory, or */
	int fd;                 /* read from fd (from its current offset, len bytes), when data is NULL and fd >= 0 */
	size_t len;
	const char *content_type;
};

/* Send a signed request to base_url + path. The response body is kept in
 * *resp (malloc'd, NUL-terminated, at most max_resp bytes; NULL allowed to
 * drop it) and its status in *status. 0 when a response signed by sealview
 * came (whatever its status), -1 with *err when none did (connection,
 * timeout, too large, or an answer without a valid signature: *status is
 * then its status). */
int viewapi_request(const char *base_url, const unsigned char *secret, size_t secret_len, long timeout_s,
    const char *method, const char *path, const struct viewapi_body *body, size_t max_resp, long *status,
    char **resp, char **err);

#endif
