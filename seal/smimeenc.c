/*
 * smimeenc.c - S/MIME encryption (RFC 8551) for recipients whose
 * certificates the organisation holds: the alternative to sealing that a
 * rule asks for with prefer_smime: true.
 *
 * Certificates live in smime.cert_dir, one PEM file per address, named
 * after it in lower case (bob@partner.example.pem). A certificate is used
 * only if it names the address (subjectAltName or emailAddress), is valid
 * now, and allows S/MIME encryption (emailProtection, keyEncipherment);
 * otherwise the reason is given and the message is sealed instead. The
 * MIME entity (Content-* fields and body, canonical CRLF) is encrypted to
 * every recipient and to the sealing tenant certificate, so the
 * organisation keeps access: AES-256-GCM AuthEnvelopedData
 * (smime-type=authEnveloped-data), or AES-256-CBC EnvelopedData
 * (smime-type=enveloped-data) for older clients. Key transport is RSA
 * PKCS#1 v1.5, which every S/MIME client reads.
 *
 * Calling rules: thread-safe.
 * Untrusted input: recipient addresses (they name files: anything that is
 * not a plain address is refused before a path is built), the entity.
 */
#include "build-config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "common/util.h"
#include "seal/smimeenc.h"

/* A plain address: one '@', no '/', no leading dot, printable ASCII only. */
static int
safe_address(const char *a)
{
	const char *at = strchr(a, '@');

	if (*a == '\0' || *a == '.' || at == NULL || strchr(at + 1, '@') || strlen(a) > 254 || strstr(a, ".."))
		return 0;
	for (; *a; a++)
		if ((unsigned char)*a <= ' ' || (unsigned char)*a >= 127 || *a == '/' || *a == '\\')
			return 0;
	return 1;
}

X509 *
smime_recipient_cert(const char *dir, const char *addr, time_t now, char **why)
{
	char *path = NULL, *lower = strdup(addr), *p;
	FILE *f;
	X509 *x = NULL;

	*why = NULL;
	if (lower == NULL)
		return NULL;
	for (p = lower; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	if (!safe_address(lower)) {
		*why = strdup("not a plain address");
		goto out;
	}
	if (asprintf(&path, "%s/%s.pem", dir, lower) < 0) {
		path = NULL;
		goto out;
	}
	if ((f = fopen(path, "r")) == NULL) {
		if (errno == ENOENT)
			*why = strdup("no certificate");
		else if (asprintf(why, "cannot read %s: %s", path, strerror(errno)) < 0)
			*why = NULL;
		goto out;
	}
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (x == NULL) {
		if (asprintf(why, "%s is not a PEM certificate", path) < 0)
			*why = NULL;
	} else if (X509_check_email(x, lower, 0, 0) != 1) {
		*why = strdup("the certificate does not name this address");
	} else if (X509_cmp_time(X509_get0_notAfter(x), &now) < 0) {
		*why = strdup("the certificate has expired");
	} else if (X509_cmp_time(X509_get0_notBefore(x), &now) > 0) {
		*why = strdup("the certificate is not valid yet");
	} else if (X509_check_purpose(x, X509_PURPOSE_SMIME_ENCRYPT, 0) != 1) {
		*why = strdup("the certificate does not allow S/MIME encryption (emailProtection, keyEncipherment)");
	} else if (X509_get0_pubkey(x) == NULL || EVP_PKEY_get_base_id(X509_get0_pubkey(x)) != EVP_PKEY_RSA) {
		/* Key transport here is RSA; anything else would fail at every retry. */
		*why = strdup("the certificate's key is not RSA");
	} else {
		goto out;
	}
	X509_free(x);
	x = NULL;
out:
	ERR_clear_error();
	if (x == NULL && *why == NULL)
		*why = strdup("out of memory");
	free(path);
	free(lower);
	return x;
}


int
smime_encrypt_entity(X509 *const *certs, size_t n, X509 *tenant, int cbc, const char *in, size_t inlen, int out_fd,
    char **ctype, char **err)
{
	CMS_ContentInfo *cms = NULL;
	BIO *data = NULL, *der = NULL;
	unsigned char *dp;
	char *canon = NULL;
	size_t i, clen = 0;
	long dl;
	int rc = -1;

	*err = NULL;
	*ctype = NULL;
	cms = CMS_encrypt(NULL, NULL, cbc ? EVP_aes_256_cbc() : EVP_aes_256_gcm(), CMS_PARTIAL | CMS_BINARY);
	if (cms == NULL)
		goto fail;
	for (i = 0; i < n; i++)
		if (CMS_add1_recipient_cert(cms, certs[i], 0) == NULL)
			goto fail;
	if (tenant && CMS_add1_recipient_cert(cms, tenant, 0) == NULL)
		goto fail;
	if ((canon = crlf_canon(in, inlen, &clen)) == NULL)
		goto fail;
	if (clen > INT_MAX) {
		*err = strdup("S/MIME encryption: the message is over 2 GiB");
		goto out;
	}
	data = BIO_new_mem_buf(canon, (int)clen);
	if (data == NULL || CMS_final(cms, data, NULL, CMS_BINARY) != 1 || (der = BIO_new(BIO_s_mem())) == NULL ||
	    i2d_CMS_bio(der, cms) != 1)
		goto fail;
	dl = BIO_get_mem_data(der, (char **)&dp);
	if (dl <= 0)
		goto fail;
	if (write_base64_lines(out_fd, dp, (size_t)dl) != 0) {
		if (asprintf(err, "cannot write the encrypted message: %s", strerror(errno)) < 0)
			*err = NULL;
		goto out;
	}
	if (asprintf(ctype, " application/pkcs7-mime; smime-type=%s; name=\"smime.p7m\"",
	    cbc ? "enveloped-data" : "authEnveloped-data") < 0) {
		*ctype = NULL;
		goto fail;
	}
	rc = 0;
	goto out;
fail:
	if (asprintf(err, "S/MIME encryption failed (%s)", ERR_reason_error_string(ERR_peek_last_error())
	    ? ERR_reason_error_string(ERR_peek_last_error()) : "out of memory") < 0)
		*err = NULL;
	ERR_clear_error();
out:
	free(canon);
	BIO_free(data);
	BIO_free(der);
	CMS_ContentInfo_free(cms);
	return rc;
}
