/* cms.h - the sealed object: standard CMS that stock OpenSSL can check and open. */
#ifndef SEAL_CMS_H
#define SEAL_CMS_H

#include <openssl/bio.h>
#include <stddef.h>

#include "seal/keys.h"

/* The signed attribute that carries the policy (UTF-8 text), in the 2.25
 * (UUID) arc: UUID b80f3c4d-4a75-40da-b3b6-018a7c3b8452. */
#define SEAL_POLICY_OID "2.25.244657058745490917040776985972385219666"
/* id-ct-contentInfo: the signed content is a DER ContentInfo. */
#define SEAL_CONTENTINFO_OID "1.2.840.113549.1.9.16.1.6"

/* Seal the message read from in: a SignedData (issuer key) whose content is
 * the DER ContentInfo of an AuthEnvelopedData (AES-256-GCM, the content key
 * wrapped with RSA-OAEP-SHA256 for every tenant certificate, and, when
 * viewer_kek is not NULL, with AES-256 key wrap under that 32-byte key for
 * sealview: a KEKRecipientInfo named VIEW_KEK_ID), with the policy as a
 * signed attribute. Writes DER to out. 0, or -1 and *err. */
int seal_cms_make(const struct seal_keys *k, const char *policy, size_t policy_len, const unsigned char *viewer_kek,
    BIO *in, BIO *out, char **err);

enum seal_open_error {
	SEAL_OPEN_OK = 0,
	SEAL_OPEN_NOT_SEALED,      /* not a sealed object (or truncated, or too large) */
	SEAL_OPEN_BAD_SIGNATURE,   /* the signature or the issuer does not verify: policy or content altered */
	SEAL_OPEN_NO_POLICY,       /* signed, but carries no policy */
	SEAL_OPEN_NO_KEY,          /* no configured tenant key is a recipient */
	SEAL_OPEN_ALTERED,         /* the content does not authenticate (GCM tag) */
	SEAL_OPEN_INTERNAL
};

/* Check and open a sealed object (DER, at most max_len bytes, from in).
 * Nothing is written to out unless the signature verified, a configured key
 * opened it and the content authenticated: no partial plaintext, ever.
 * *policy gets the policy text (malloc'd) once the signature verified. */
enum seal_open_error seal_cms_open(const struct seal_keys *k, BIO *in, size_t max_len, char **policy,
    size_t *policy_len, BIO *out, char **err);
/* The same, opened with the viewer's KEK (from the link token) instead of a
 * tenant key: k needs only the issuer certificate. */
enum seal_open_error seal_cms_open_kek(const struct seal_keys *k, const unsigned char kek[32], BIO *in,
    size_t max_len, char **policy, size_t *policy_len, BIO *out, char **err);
/* Check a sealed object without opening it (no private key needed): the
 * signature against the issuer, the policy (into *policy, malloc'd), and
 * whether the viewer's KEK recipient is in it (*has_viewer_key). */
enum seal_open_error seal_cms_inspect(const struct seal_keys *k, const void *der, size_t len, char **policy,
    size_t *policy_len, int *has_viewer_key, char **err);
const char *seal_open_error_name(enum seal_open_error e);
/* 1 when the bytes are a sealed object whose signature verifies against the
 * issuer (no key needed, nothing decrypted), else 0. */
int seal_cms_verify(const struct seal_keys *k, const void *der, size_t len);

#endif
