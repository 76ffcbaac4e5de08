/* viewtoken.h - the link token of a sealed message and the keys derived
 * from it (docs/viewer-security.md).
 *
 * sealmilter makes a fresh 256-bit token per sealed message; it travels only
 * in the link of the delivered notice. From it, HKDF-SHA-256 derives:
 *   - the lookup id: what sealview stores and looks messages up by;
 *   - the viewer KEK (with the viewer secret as a pepper): an AES-256
 *     key-wrap key, under which the content key is also wrapped in the
 *     sealed object (a CMS KEKRecipientInfo).
 * sealview can therefore open a message only while it serves a request
 * that presents the token; its database holds neither the token nor a key,
 * and the delivered mail (token and object) cannot open itself without the
 * secret. */
#ifndef SEAL_VIEWTOKEN_H
#define SEAL_VIEWTOKEN_H

#include <stddef.h>

#define VIEW_TOKEN_BYTES 32
#define VIEW_TOKEN_TEXT 43          /* base64url, no padding */
#define VIEW_KEK_ID "sealmilter-viewer-v1"   /* the KEKRecipientInfo's keyIdentifier */

struct view_token {
	unsigned char raw[VIEW_TOKEN_BYTES];
	char text[VIEW_TOKEN_TEXT + 1];  /* as it appears in the link */
	char lookup[65];                 /* hex of the lookup id */
	unsigned char kek[32];
};

/* A fresh random token, with its derived values (secret: the viewer
 * secret, which must not be empty). 0, or -1 (no randomness, no secret). */
int view_token_new(const unsigned char *secret, size_t secret_len, struct view_token *t);
/* A token from its text (exactly 43 base64url characters); 0, or -1 when it
 * is not one. */
int view_token_parse(const char *text, size_t len, const unsigned char *secret, size_t secret_len,
    struct view_token *t);
/* Wipe it. */
void view_token_clear(struct view_token *t);

/* HKDF-SHA-256 (RFC 5869) of ikm with salt and info into out[outlen]. 0 or -1. */
int hkdf_sha256(const void *ikm, size_t ikmlen, const char *salt, const char *info, unsigned char *out, size_t outlen);
/* HMAC-SHA-256; 0 or -1. */
int hmac_sha256(const void *key, size_t keylen, const void *data, size_t len, unsigned char out[32]);
/* base64url without padding of n bytes into out (4n/3 + 2 bytes). */
void b64url_encode(const unsigned char *p, size_t n, char *out);
/* Lower-case hex of n bytes into out (2n+1 bytes). */
void hex_encode(const unsigned char *p, size_t n, char *out);

#endif
