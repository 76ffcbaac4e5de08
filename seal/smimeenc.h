/* smimeenc.h - S/MIME encryption to recipients' certificates (prefer_smime). */
#ifndef SEAL_SMIMEENC_H
#define SEAL_SMIMEENC_H

#include <stddef.h>
#include <time.h>

#include <openssl/x509.h>

/* The usable certificate of addr in dir (DIR/ADDRESS.pem, lower case), or
 * NULL and *why (malloc'd): no certificate, expired, not valid yet, not
 * naming the address, not for S/MIME encryption, not a plain address. */
X509 *smime_recipient_cert(const char *dir, const char *addr, time_t now, char **why);

struct smime_source;

/* Encrypt the entity of src (Content-* fields, blank line, body; made
 * canonical CRLF here) to certs and tenant (may be NULL), as base64 into
 * out_fd: the body of an application/pkcs7-mime message whose Content-Type
 * value (leading space) goes to *ctype. AES-256-GCM AuthEnvelopedData, or
 * AES-256-CBC EnvelopedData when cbc. The entity streams, and the DER goes
 * through one temp file of src's. 0, or -1 with *err. */
int smime_encrypt_stream(X509 *const *certs, size_t n, X509 *tenant, int cbc, const struct smime_source *src, int out_fd,
    char **ctype, char **err);

#endif
