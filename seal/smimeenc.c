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
 * Calling rules: thread-safe. The entity streams (smime_source): memory
 * stays small whatever its size.
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
#include "seal/smime.h"
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


/* out_fd gets der_fd's content (from its start) as base64 in 76-character
 * CRLF lines: read in multiples of 57 bytes, so the lines stay whole. */
static int
base64_fd(int der_fd, int out_fd)
{
	unsigned char buf[57 * 1024];
	off_t off = 0;
	ssize_t got;

	for (;;) {
		size_t have = 0;
		while (have < sizeof(buf) && (got = pread(der_fd, buf + have, sizeof(buf) - have, off)) > 0) {
			have += (size_t)got;
			off += got;
		}
		if (have == 0)
			return got < 0 ? -1 : 0;
		if (write_base64_lines(out_fd, buf, have) != 0)
			return -1;
		if (have < sizeof(buf))
			return 0;
	}
}

int
smime_encrypt_stream(X509 *const *certs, size_t n, X509 *tenant, int cbc, const struct smime_source *src, int out_fd,
    char **ctype, char **err)
{
	CMS_ContentInfo *cms = NULL;
	BIO *fdbio = NULL, *buf = NULL, *ndef = NULL, *t;
	struct smime_crlf w;
	size_t i;
	int rc = -1, der_fd = -1, ok;

	*err = NULL;
	*ctype = NULL;
	memset(&w, 0, sizeof(w));
	cms = CMS_encrypt(NULL, NULL, cbc ? EVP_aes_256_cbc() : EVP_aes_256_gcm(), CMS_PARTIAL | CMS_BINARY | CMS_STREAM);
	if (cms == NULL)
		goto fail;
	for (i = 0; i < n; i++)
		if (CMS_add1_recipient_cert(cms, certs[i], 0) == NULL)
			goto fail;
	if (tenant && CMS_add1_recipient_cert(cms, tenant, 0) == NULL)
		goto fail;
	/* The DER streams to a temp file as the entity is encrypted (never
	 * whole in memory), then goes out as base64. */
	if ((der_fd = src->new_tmp(src->ctx)) < 0) {
		if (asprintf(err, "S/MIME encryption: cannot create a temp file: %s", strerror(errno)) < 0)
			*err = NULL;
		goto out;
	}
	if ((fdbio = BIO_new_fd(der_fd, BIO_NOCLOSE)) == NULL || (buf = BIO_new(BIO_f_buffer())) == NULL ||
	    BIO_set_write_buffer_size(buf, 65536) != 1)
		goto fail;
	BIO_push(buf, fdbio);
	fdbio = NULL;
	if ((ndef = BIO_new_NDEF(buf, (ASN1_VALUE *)cms, ASN1_ITEM_rptr(CMS_ContentInfo))) == NULL)
		goto fail;
	w.out[0] = ndef;
	ok = src->each(src->ctx, smime_crlf_chunk, &w);
	if (ok != 0 && !w.failed) {
		*err = strdup("S/MIME encryption: cannot read the message");
		goto out;
	}
	if (ok != 0 || BIO_flush(ndef) != 1)
		goto fail;
	/* Take the NDEF filters off (that writes the trailers), down to buf. */
	while (ndef != buf) {
		t = BIO_pop(ndef);
		BIO_free(ndef);
		ndef = t;
	}
	ndef = NULL;
	if (BIO_flush(buf) != 1 || base64_fd(der_fd, out_fd) != 0) {
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
	/* On failure, free the NDEF filters down to buf, then buf and the fd BIO. */
	while (ndef && ndef != buf) {
		t = BIO_pop(ndef);
		BIO_free(ndef);
		ndef = t;
	}
	BIO_free_all(buf);
	BIO_free(fdbio);
	CMS_ContentInfo_free(cms);
	if (der_fd >= 0)
		close(der_fd);
	return rc;
}
