/* keys.h - the organisation's tenant and issuer keys, loaded once. */
#ifndef SEAL_KEYS_H
#define SEAL_KEYS_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stddef.h>

struct ynode;
struct cfg_errors;

struct tenant_key {
	char *id;
	char *cert_path, *key_path;   /* as configured (key_path may be NULL) */
	X509 *cert;          /* RSA 2048, 3072 or 4096: wraps content keys */
	EVP_PKEY *key;       /* the private key, or NULL: only needed to open */
};

struct engine_st;

struct seal_keys {
	struct engine_st *engine;    /* the pkcs11 engine, when a key is a PKCS#11 URI */
	struct tenant_key *tenant;   /* tenant[0] seals; the others still open older messages */
	size_t ntenant;
	X509 *issuer_cert;           /* signs every policy: ECDSA P-256 or RSA */
	EVP_PKEY *issuer_key;
};

/* Load the "keys:" section (node may be NULL: no keys). With public_only,
 * only the certificates are read, never a private key (sealview). 0 on
 * success; otherwise errors are added, with the position of the offending
 * value. */
int seal_keys_load(const struct ynode *node, int public_only, struct seal_keys *out, struct cfg_errors *errs);
void seal_keys_free(struct seal_keys *k);

/* A PEM certificate; NULL with an error at the position of at. */
X509 *seal_cert_read(const struct ynode *at, const char *path, struct cfg_errors *errs);

/* A private key: a PEM file (refused when group or others can read it) or
 * a PKCS#11 URI through the pkcs11 engine (kept in keys). NULL with an
 * error at the position of at. */
EVP_PKEY *seal_key_read(struct seal_keys *keys, const char *module, const struct ynode *at, const char *path,
    struct cfg_errors *errs);

/* A private key file must be a regular file that group and others cannot
 * read. NULL when it is fine, else a malloc'd reason. */
char *seal_key_file_problem(const char *path);

/* Make a key and a self-signed certificate: kind "tenant" (RSA, bits) or
 * "issuer" (ECDSA P-256). Writes DIR/NAME.key (0600, refuses to overwrite)
 * and DIR/NAME.pem. 0 on success, else -1 with *err (malloc'd). */
int seal_keys_generate(const char *kind, int bits, const char *dir, const char *name, char **err);

#endif
