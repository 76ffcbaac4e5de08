/*
 * cms.c - make and open the sealed object (docs/format.md):
 *
 *   ContentInfo(SignedData)                      signed by the issuer key
 *     eContentType  id-ct-contentInfo            1.2.840.113549.1.9.16.1.6
 *     eContent      DER ContentInfo(AuthEnvelopedData)   RFC 5083/5084
 *                     AES-256-GCM; the content key wrapped for every tenant
 *                     certificate with RSAES-OAEP, SHA-256, MGF1-SHA-256
 *                     encryptedContent: the original message, byte for byte
 *     signedAttrs   contentType, messageDigest, signingTime,
 *                   smimeCapabilities, and the policy: UTF8String under
 *                   SEAL_POLICY_OID (readable without decrypting; any change
 *                   breaks the signature)
 *
 * It is written streaming (BER with indefinite lengths), which every CMS
 * reader accepts. Stock OpenSSL opens it:
 *   openssl cms -verify -inform DER -in att.der -CAfile issuer.pem -out inner.der
 *   openssl cms -decrypt -inform DER -in inner.der -inkey tenant.key -recip tenant.pem
 *
 * Calling rules: thread-safe; the keys are read-only. The algorithms are
 * fetched once per process.
 * Untrusted input: seal_cms_open() reads sealed objects from mail. The size
 * is capped before parsing, the signature is checked before anything is
 * decrypted, and the plaintext is released only after the GCM tag
 * verified, so a tampered object yields a reason and no partial output.
 */
#include "build-config.h"

#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/rsa.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "seal/cms.h"
#include "seal/viewtoken.h"

static pthread_once_t once = PTHREAD_ONCE_INIT;
static EVP_CIPHER *gcm;
static EVP_MD *sha256;
static ASN1_OBJECT *policy_oid, *contentinfo_oid;

static void
init(void)
{
	gcm = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
	sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	policy_oid = OBJ_txt2obj(SEAL_POLICY_OID, 1);
	contentinfo_oid = OBJ_txt2obj(SEAL_CONTENTINFO_OID, 1);
}

static int
ready(char **err)
{
	pthread_once(&once, init);
	if (gcm && sha256 && policy_oid && contentinfo_oid)
		return 1;
	*err = strdup("OpenSSL lacks AES-256-GCM, SHA-256 or the OIDs");
	return 0;
}

/* The first OpenSSL error as text, for a reason. */
static char *
ossl_reason(const char *what)
{
	unsigned long e = ERR_peek_last_error();
	char buf[256], *s = NULL;

	ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	if (asprintf(&s, "%s%s%s", what, e ? ": " : "", e ? buf : "") < 0)
		s = NULL;
	return s;
}

int
seal_cms_make(const struct seal_keys *k, const char *policy, size_t policy_len, const unsigned char *viewer_kek,
    BIO *in, BIO *out, char **err)
{
	/* Streaming (BER, indefinite lengths): the message flows from in through
	 * the envelope into the signature and out, a buffer at a time, so a
	 * large message costs no more memory than a small one. */
	const unsigned flags = CMS_BINARY | CMS_PARTIAL | CMS_STREAM;
	CMS_ContentInfo *env = NULL, *sd = NULL;
	CMS_SignerInfo *si;
	BIO *sdw = NULL;
	size_t i;
	int rc = -1;

	*err = NULL;
	if (!ready(err))
		return -1;
	if (k->ntenant == 0 || k->issuer_key == NULL) {
		*err = strdup("sealing needs keys.tenant and keys.issuer");
		return -1;
	}
	/* The envelope: an AEAD cipher makes it an AuthEnvelopedData. */
	env = CMS_encrypt(NULL, NULL, gcm, flags);
	if (env == NULL) {
		*err = ossl_reason("cannot start the envelope");
		goto out;
	}
	for (i = 0; i < k->ntenant; i++) {
		CMS_RecipientInfo *ri = CMS_add1_recipient_cert(env, k->tenant[i].cert, CMS_KEY_PARAM);
		EVP_PKEY_CTX *pctx = ri ? CMS_RecipientInfo_get0_pkey_ctx(ri) : NULL;
		if (pctx == NULL || EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_OAEP_PADDING) <= 0 ||
		    EVP_PKEY_CTX_set_rsa_oaep_md(pctx, sha256) <= 0 || EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, sha256) <= 0) {
			*err = ossl_reason("cannot wrap the content key for a tenant certificate");
			goto out;
		}
	}
	if (viewer_kek != NULL) {
		/* The viewer's KEKRecipientInfo (AES-256 key wrap): the key comes
		 * from the link token, which only the recipients hold. */
		unsigned char *kek = OPENSSL_malloc(32);
		unsigned char *id = OPENSSL_malloc(sizeof(VIEW_KEK_ID) - 1);
		if (kek == NULL || id == NULL) {
			OPENSSL_free(kek);
			OPENSSL_free(id);
			*err = strdup("out of memory");
			goto out;
		}
		memcpy(kek, viewer_kek, 32);
		memcpy(id, VIEW_KEK_ID, sizeof(VIEW_KEK_ID) - 1);
		/* On success the recipient info owns both. */
		if (CMS_add0_recipient_key(env, NID_id_aes256_wrap, kek, 32, id, sizeof(VIEW_KEK_ID) - 1, NULL, NULL,
		    NULL) == NULL) {
			OPENSSL_clear_free(kek, 32);
			OPENSSL_free(id);
			*err = ossl_reason("cannot wrap the content key for the viewer");
			goto out;
		}
	}
	/* The signature over it, with the policy as a signed attribute. */
	sd = CMS_sign(NULL, NULL, NULL, NULL, flags);
	if (sd == NULL || CMS_set1_eContentType(sd, contentinfo_oid) != 1) {
		*err = ossl_reason("cannot start the signature");
		goto out;
	}
	si = CMS_add1_signer(sd, k->issuer_cert, k->issuer_key, sha256, flags);
	if (si == NULL || CMS_signed_add1_attr_by_OBJ(si, policy_oid, V_ASN1_UTF8STRING, policy, (int)policy_len) != 1) {
		*err = ossl_reason("cannot add the signer and the policy");
		goto out;
	}
	/* out <- the signing stream <- the enveloping stream <- in. */
	sdw = BIO_new_CMS(out, sd);
	if (sdw == NULL || i2d_CMS_bio_stream(sdw, env, in, flags) != 1 || BIO_flush(sdw) != 1) {
		*err = ossl_reason("cannot encrypt and sign the message");
		goto out;
	}
	rc = BIO_flush(out) == 1 ? 0 : -1;
	if (rc != 0)
		*err = strdup("cannot write the sealed object");
out:
	/* Free the filters BIO_new_CMS() pushed on out, not out itself. */
	while (sdw != NULL && sdw != out) {
		BIO *next = BIO_pop(sdw);
		BIO_free(sdw);
		sdw = next;
	}
	CMS_ContentInfo_free(env);
	CMS_ContentInfo_free(sd);
	return rc;
}

const char *
seal_open_error_name(enum seal_open_error e)
{
	switch (e) {
	case SEAL_OPEN_OK: return "ok";
	case SEAL_OPEN_NOT_SEALED: return "not a sealed object";
	case SEAL_OPEN_BAD_SIGNATURE: return "the signature does not verify (the policy or the content was altered, "
	    "or it was not issued by this organisation)";
	case SEAL_OPEN_NO_POLICY: return "signed, but it carries no policy";
	case SEAL_OPEN_NO_KEY: return "no configured tenant key can open it";
	case SEAL_OPEN_ALTERED: return "the content was altered (authentication failed)";
	default: return "internal error";
	}
}

/* Read at most max bytes of in into a memory BIO; NULL when larger. */
static BIO *
read_capped(BIO *in, size_t max)
{
	BIO *m = BIO_new(BIO_s_mem());
	char buf[16384];
	size_t total = 0;
	int n;

	while (m && (n = BIO_read(in, buf, sizeof(buf))) > 0) {
		total += (size_t)n;
		if (total > max || BIO_write(m, buf, n) != n) {
			BIO_free(m);
			return NULL;
		}
	}
	return m;
}

/* Parse a SignedData of a ContentInfo and verify it against the issuer
 * certificate (the only trust anchor); its content goes to inner. */
static enum seal_open_error
verify_signed(const struct seal_keys *k, BIO *raw, CMS_ContentInfo **sdp, BIO *inner, char **err)
{
	X509_STORE *store = NULL;
	CMS_ContentInfo *sd = d2i_CMS_bio(raw, NULL);
	enum seal_open_error rc = SEAL_OPEN_INTERNAL;

	*sdp = sd;
	if (sd == NULL || OBJ_obj2nid(CMS_get0_type(sd)) != NID_pkcs7_signed ||
	    OBJ_cmp(CMS_get0_eContentType(sd), contentinfo_oid) != 0) {
		*err = ossl_reason("not a CMS SignedData of a ContentInfo");
		return SEAL_OPEN_NOT_SEALED;
	}
	store = X509_STORE_new();
	if (store == NULL || inner == NULL || k->issuer_cert == NULL || X509_STORE_add_cert(store, k->issuer_cert) != 1)
		goto out;
	if (CMS_verify(sd, NULL, store, NULL, inner, CMS_BINARY) != 1) {
		rc = SEAL_OPEN_BAD_SIGNATURE;
		*err = ossl_reason("verification failed");
		goto out;
	}
	rc = SEAL_OPEN_OK;
out:
	X509_STORE_free(store);
	return rc;
}

/* The policy attribute of the one signer of a verified SignedData, copied
 * (NUL-terminated) into *policy. SEAL_OPEN_OK, NO_POLICY or INTERNAL. */
static enum seal_open_error
signed_policy(CMS_ContentInfo *sd, char **policy, size_t *policy_len)
{
	STACK_OF(CMS_SignerInfo) *sis = CMS_get0_SignerInfos(sd);
	ASN1_STRING *p = sk_CMS_SignerInfo_num(sis) == 1
	    ? CMS_signed_get0_data_by_OBJ(sk_CMS_SignerInfo_value(sis, 0), policy_oid, -3, V_ASN1_UTF8STRING) : NULL;

	if (p == NULL)
		return SEAL_OPEN_NO_POLICY;
	if ((*policy = malloc((size_t)ASN1_STRING_length(p) + 1)) == NULL)
		return SEAL_OPEN_INTERNAL;
	memcpy(*policy, ASN1_STRING_get0_data(p), (size_t)ASN1_STRING_length(p));
	(*policy)[ASN1_STRING_length(p)] = '\0';
	*policy_len = (size_t)ASN1_STRING_length(p);
	return SEAL_OPEN_OK;
}

int
seal_cms_verify(const struct seal_keys *k, const void *der, size_t len)
{
	BIO *raw, *inner;
	CMS_ContentInfo *sd = NULL;
	char *err = NULL;
	int ok;

	if (!ready(&err) || len > INT_MAX) {
		free(err);
		return 0;
	}
	raw = BIO_new_mem_buf(der, (int)len);
	inner = BIO_new(BIO_s_mem());
	ok = raw && inner && verify_signed(k, raw, &sd, inner, &err) == SEAL_OPEN_OK;
	CMS_ContentInfo_free(sd);
	BIO_free(raw);
	BIO_free(inner);
	free(err);
	ERR_clear_error();
	return ok;
}

/* Open with a configured tenant key (kek NULL) or with the viewer's KEK. */
static enum seal_open_error
cms_open(const struct seal_keys *k, const unsigned char *kek, BIO *in, size_t max_len, char **policy,
    size_t *policy_len, BIO *out, char **err)
{
	enum seal_open_error rc = SEAL_OPEN_INTERNAL;
	CMS_ContentInfo *sd = NULL, *env = NULL;
	STACK_OF(CMS_RecipientInfo) *ris;
	BIO *raw = NULL, *inner = NULL, *plain = NULL;
	const struct tenant_key *t = NULL;
	size_t i;
	int j;

	*err = NULL;
	*policy = NULL;
	*policy_len = 0;
	if (!ready(err))
		return SEAL_OPEN_INTERNAL;
	if ((raw = read_capped(in, max_len)) == NULL) {
		rc = SEAL_OPEN_NOT_SEALED;
		if (asprintf(err, "larger than %zu bytes, or unreadable", max_len) < 0)
			*err = NULL;
		goto out;
	}
	rc = verify_signed(k, raw, &sd, inner = BIO_new(BIO_s_mem()), err);
	if (rc != SEAL_OPEN_OK)
		goto out;
	if ((rc = signed_policy(sd, policy, policy_len)) != SEAL_OPEN_OK)
		goto out;
	rc = SEAL_OPEN_INTERNAL;

	env = d2i_CMS_bio(inner, NULL);
	if (env == NULL || OBJ_obj2nid(CMS_get0_type(env)) != NID_id_smime_ct_authEnvelopedData) {
		rc = SEAL_OPEN_NOT_SEALED;
		*err = ossl_reason("the signed content is not an AuthEnvelopedData");
		goto out;
	}
	/* Which configured key is a recipient? */
	ris = CMS_get0_RecipientInfos(env);
	if (kek != NULL) {
		/* Only the viewer's KEK recipient is tried: the tenant keys stay out of it. */
		if (CMS_decrypt_set1_key(env, (unsigned char *)kek, 32, (const unsigned char *)VIEW_KEK_ID,
		    sizeof(VIEW_KEK_ID) - 1) != 1) {
			rc = SEAL_OPEN_NO_KEY;
			*err = ossl_reason("no viewer key in it, or the token does not open it");
			goto out;
		}
		ris = NULL;
	}
	for (i = 0; ris != NULL && i < k->ntenant && t == NULL; i++) {
		if (k->tenant[i].key == NULL)
			continue;
		for (j = 0; j < sk_CMS_RecipientInfo_num(ris); j++) {
			CMS_RecipientInfo *ri = sk_CMS_RecipientInfo_value(ris, j);
			if (CMS_RecipientInfo_type(ri) == CMS_RECIPINFO_TRANS &&
			    CMS_RecipientInfo_ktri_cert_cmp(ri, k->tenant[i].cert) == 0) {
				t = &k->tenant[i];
				break;
			}
		}
	}
	if (t == NULL && kek == NULL) {
		rc = SEAL_OPEN_NO_KEY;
		goto out;
	}
	/* Decrypt into memory first: nothing reaches out until the tag verified. */
	plain = BIO_new(BIO_s_mem());
	if (plain == NULL)
		goto out;
	if (CMS_decrypt(env, t ? t->key : NULL, t ? t->cert : NULL, NULL, plain, CMS_BINARY) != 1) {
		rc = SEAL_OPEN_ALTERED;
		*err = ossl_reason("decryption failed");
		goto out;
	}
	{
		char *data;
		long n = BIO_get_mem_data(plain, &data);
		if (n < 0 || BIO_write(out, data, (int)n) != (int)n || BIO_flush(out) != 1)
			goto out;
	}
	rc = SEAL_OPEN_OK;
out:
	if (rc != SEAL_OPEN_OK && rc != SEAL_OPEN_NO_KEY && rc != SEAL_OPEN_ALTERED) {
		free(*policy);
		*policy = NULL;
		*policy_len = 0;
	}
	ERR_clear_error();
	BIO_free(raw);
	BIO_free(inner);
	BIO_free(plain);
	CMS_ContentInfo_free(sd);
	CMS_ContentInfo_free(env);
	return rc;
}

enum seal_open_error
seal_cms_open(const struct seal_keys *k, BIO *in, size_t max_len, char **policy, size_t *policy_len, BIO *out,
    char **err)
{
	return cms_open(k, NULL, in, max_len, policy, policy_len, out, err);
}

enum seal_open_error
seal_cms_open_kek(const struct seal_keys *k, const unsigned char kek[32], BIO *in, size_t max_len, char **policy,
    size_t *policy_len, BIO *out, char **err)
{
	return cms_open(k, kek, in, max_len, policy, policy_len, out, err);
}

enum seal_open_error
seal_cms_inspect(const struct seal_keys *k, const void *der, size_t len, char **policy, size_t *policy_len,
    int *has_viewer_key, char **err)
{
	enum seal_open_error rc;
	CMS_ContentInfo *sd = NULL, *env = NULL;
	STACK_OF(CMS_RecipientInfo) *ris;
	BIO *raw = NULL, *inner = NULL;
	int j;

	*err = NULL;
	*policy = NULL;
	*policy_len = 0;
	*has_viewer_key = 0;
	if (!ready(err))
		return SEAL_OPEN_INTERNAL;
	if (len > INT_MAX || (raw = BIO_new_mem_buf(der, (int)len)) == NULL || (inner = BIO_new(BIO_s_mem())) == NULL) {
		rc = SEAL_OPEN_INTERNAL;
		goto out;
	}
	if ((rc = verify_signed(k, raw, &sd, inner, err)) != SEAL_OPEN_OK)
		goto out;
	if ((rc = signed_policy(sd, policy, policy_len)) != SEAL_OPEN_OK)
		goto out;
	env = d2i_CMS_bio(inner, NULL);
	if (env == NULL || OBJ_obj2nid(CMS_get0_type(env)) != NID_id_smime_ct_authEnvelopedData) {
		rc = SEAL_OPEN_NOT_SEALED;
		*err = ossl_reason("the signed content is not an AuthEnvelopedData");
		goto out;
	}
	ris = CMS_get0_RecipientInfos(env);
	for (j = 0; j < sk_CMS_RecipientInfo_num(ris); j++) {
		CMS_RecipientInfo *ri = sk_CMS_RecipientInfo_value(ris, j);
		ASN1_OCTET_STRING *kid = NULL;
		if (CMS_RecipientInfo_type(ri) == CMS_RECIPINFO_KEK &&
		    CMS_RecipientInfo_kekri_get0_id(ri, NULL, &kid, NULL, NULL, NULL) == 1 && kid != NULL &&
		    ASN1_STRING_length(kid) == (int)sizeof(VIEW_KEK_ID) - 1 &&
		    memcmp(ASN1_STRING_get0_data(kid), VIEW_KEK_ID, sizeof(VIEW_KEK_ID) - 1) == 0)
			*has_viewer_key = 1;
	}
	rc = SEAL_OPEN_OK;
out:
	ERR_clear_error();
	BIO_free(raw);
	BIO_free(inner);
	CMS_ContentInfo_free(sd);
	CMS_ContentInfo_free(env);
	return rc;
}
