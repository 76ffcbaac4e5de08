/*
 * keyrec.c - DKIM key records from DNS (RFC 6376 3.6.1, RFC 8301, RFC 8463).
 *
 * v= (if present: first, and DKIM1), h= (must allow sha256), k= (rsa, the
 * default, or ed25519), s= (must allow email), t= (y: testing, s: strict),
 * p= (empty: revoked; RSA as SubjectPublicKeyInfo, or a bare RSAPublicKey
 * as some signers publish; Ed25519 as the raw 32-byte key). RSA keys under
 * 1024 bits (RFC 8301) or over DKIM_MAX_RSA_BITS, and RSA keys whose public
 * exponent is over 32 bits (a verification with a 3000-bit exponent costs
 * as much as a signature: a cheap way to burn our CPU), are refused. Every refusal
 * is a permerror with its reason.
 *
 * dkim_key_get() keeps the last KEY_CACHE keys parsed, by their exact
 * record text: OpenSSL 3 decodes a public key through its decoder
 * machinery, which costs more than verifying with it, and a busy MX sees
 * the same few keys all day. The text is the cache key, so a key changed
 * in DNS is a new entry; nothing in it can go stale.
 *
 * Calling rules: thread-safe (the cache has its own lock).
 * Untrusted input: the record text (a DNS answer), bounded by its length.
 */
#include "build-config.h"

#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
#include <string.h>
#include <strings.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "dkim/dkim.h"

static int
fail(char **err, const char *msg)
{
	*err = strdup(msg);
	return -1;
}

/* base64 without white space -> bytes; NULL when not base64. */
static unsigned char *
b64_decode(const char *s, size_t *outlen)
{
	size_t n = strlen(s);
	unsigned char *out;
	int len, pad = 0;

	const char *eq = strchr(s, '=');

	if (n == 0 || n % 4 != 0)
		return NULL;
	/* Padding only at the end: "AA==AAAA" is not base64 (EVP_DecodeBlock would take '=' as zero bits). */
	if (eq && (eq < s + n - 2 || (eq == s + n - 2 && s[n - 1] != '=')))
		return NULL;
	out = malloc(n / 4 * 3 + 1);
	if (out == NULL)
		return NULL;
	len = EVP_DecodeBlock(out, (const unsigned char *)s, (int)n);
	if (len < 0) {
		free(out);
		return NULL;
	}
	if (s[n - 1] == '=')
		pad++;
	if (n > 1 && s[n - 2] == '=')
		pad++;
	*outlen = (size_t)len - (size_t)pad;
	return out;
}

unsigned char *
dkim_b64_decode(const char *s, size_t *outlen)
{
	return b64_decode(s, outlen);
}

static EVP_PKEY *
rsa_key(const unsigned char *der, size_t len)
{
	const unsigned char *p = der;
	EVP_PKEY *k = d2i_PUBKEY(NULL, &p, (long)len);

	if (k != NULL && p == der + len)
		return k;
	EVP_PKEY_free(k);
	/* A bare PKCS#1 RSAPublicKey. */
	p = der;
	k = d2i_PublicKey(EVP_PKEY_RSA, NULL, &p, (long)len);
	if (k != NULL && p == der + len)
		return k;
	EVP_PKEY_free(k);
	return NULL;
}

int
dkim_key_parse(const char *rec, struct dkim_key *k, char **err)
{
	struct dkim_tags t;
	const struct dkim_tag *v, *h, *kk, *s, *fl, *p;
	char *perr = NULL, *pv = NULL;
	unsigned char *der = NULL;
	size_t derlen = 0;
	int rc = -1;

	memset(k, 0, sizeof(*k));
	*err = NULL;
	if (dkim_tags_parse(rec, strlen(rec), &t, &perr) != 0) {
		if (asprintf(err, "key record: %s", perr ? perr : "invalid") < 0)
			*err = NULL;
		free(perr);
		return -1;
	}
	v = dkim_tag_get(&t, "v");
	if (v && (v != &t.v[0] || t.long_first || strcmp(v->value, "DKIM1") != 0)) {
		fail(err, "key record: v= is not DKIM1 (or not the first tag)");
		goto out;
	}
	if ((h = dkim_tag_get(&t, "h")) && !dkim_list_has(h->value, "sha256", 1)) {
		fail(err, "key record: h= does not allow sha256");
		goto out;
	}
	if ((s = dkim_tag_get(&t, "s")) && !dkim_list_has(s->value, "email", 1) && !dkim_list_has(s->value, "*", 1)) {
		fail(err, "key record: s= does not allow email");
		goto out;
	}
	if ((fl = dkim_tag_get(&t, "t")) != NULL) {
		k->testing = dkim_list_has(fl->value, "y", 0);
		k->strict = dkim_list_has(fl->value, "s", 0);
	}
	kk = dkim_tag_get(&t, "k");
	if (kk == NULL || strcmp(kk->value, "rsa") == 0)
		k->alg_key = DKIM_RSA_SHA256;
	else if (strcmp(kk->value, "ed25519") == 0)
		k->alg_key = DKIM_ED25519_SHA256;
	else {
		fail(err, "key record: unknown key type k=");
		goto out;
	}
	if ((p = dkim_tag_get(&t, "p")) == NULL) {
		fail(err, "key record: no p= tag");
		goto out;
	}
	if ((pv = dkim_strip_ws(p->value)) == NULL) {
		fail(err, "out of memory");
		goto out;
	}
	if (*pv == '\0') {
		k->revoked = 1;
		fail(err, "key revoked (empty p=)");
		goto out;
	}
	if ((der = b64_decode(pv, &derlen)) == NULL) {
		fail(err, "key record: p= is not base64");
		goto out;
	}
	if (k->alg_key == DKIM_ED25519_SHA256) {
		if (derlen != 32) {
			fail(err, "key record: an ed25519 key must be 32 bytes");
			goto out;
		}
		k->pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, der, derlen);
		k->bits = 256;
	} else {
		EVP_PKEY *pk = rsa_key(der, derlen);
		if (pk == NULL || EVP_PKEY_base_id(pk) != EVP_PKEY_RSA) {
			EVP_PKEY_free(pk);
			fail(err, "key record: p= is not an RSA public key");
			goto out;
		}
		k->pkey = pk;
		k->bits = EVP_PKEY_get_bits(pk);
		if (k->bits < DKIM_MIN_RSA_BITS || k->bits > DKIM_MAX_RSA_BITS) {
			if (asprintf(err, "RSA key of %d bits (accepted: %d to %d, RFC 8301)", k->bits, DKIM_MIN_RSA_BITS,
			    DKIM_MAX_RSA_BITS) < 0)
				*err = NULL;
			goto out;
		}
		{
			BIGNUM *e = NULL;
			int ebits = EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_E, &e) == 1 ? BN_num_bits(e) : -1;
			BN_free(e);
			if (ebits < 2 || ebits > DKIM_MAX_RSA_E_BITS) {
				fail(err, "key record: the RSA public exponent is over 32 bits");
				goto out;
			}
		}
	}
	if (k->pkey == NULL) {
		fail(err, "key record: p= is not a valid key");
		goto out;
	}
	rc = 0;
out:
	if (rc != 0) {
		EVP_PKEY_free(k->pkey);
		k->pkey = NULL;
		if (*err == NULL)
			*err = strdup("key record: invalid");
	}
	free(der);
	free(pv);
	dkim_tags_free(&t);
	return rc;
}

void
dkim_key_free(struct dkim_key *k)
{
	EVP_PKEY_free(k->pkey);
	k->pkey = NULL;
}

#define KEY_CACHE 64

static struct {
	char *rec;
	struct dkim_key key;
} cache[KEY_CACHE];
static size_t cache_next;
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;

int
dkim_key_get(const char *rec, struct dkim_key *k, char **err)
{
	size_t i;

	pthread_mutex_lock(&cache_lock);
	for (i = 0; i < KEY_CACHE; i++)
		if (cache[i].rec && strcmp(cache[i].rec, rec) == 0 && EVP_PKEY_up_ref(cache[i].key.pkey) == 1) {
			*k = cache[i].key;
			pthread_mutex_unlock(&cache_lock);
			*err = NULL;
			return 0;
		}
	pthread_mutex_unlock(&cache_lock);
	if (dkim_key_parse(rec, k, err) != 0)
		return -1;
	if (strlen(rec) <= 4096) {
		char *copy = strdup(rec);
		if (copy != NULL && EVP_PKEY_up_ref(k->pkey) == 1) {
			pthread_mutex_lock(&cache_lock);
			i = cache_next++ % KEY_CACHE;
			free(cache[i].rec);
			EVP_PKEY_free(cache[i].key.pkey);
			cache[i].rec = copy;
			cache[i].key = *k;
			pthread_mutex_unlock(&cache_lock);
		} else {
			free(copy);
		}
	}
	return 0;
}

/* SHA-256, fetched once (an implicit fetch per use takes OpenSSL's locks). */
static EVP_MD *sha256_md;

static void
sha256_fetch(void)
{
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

const EVP_MD *
dkim_sha256(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, sha256_fetch);
	return sha256_md ? sha256_md : EVP_sha256();
}
