/*
 * viewtoken.c - link tokens for sealview and the keys derived from them.
 *
 *   token  = 32 random bytes, base64url without padding in the link
 *   lookup = HKDF-SHA-256(token, salt "sealmilter-viewer", info "lookup v1"), hex
 *   pepper = HKDF-SHA-256(viewer secret, salt "sealmilter-viewer", info "kek pepper v1")
 *   kek    = HKDF-SHA-256(token, salt pepper, info "kek v1")
 *
 * The outputs are independent: knowing the lookup id (sealview's database)
 * tells nothing of the KEK. The pepper keeps the delivered mail, which
 * carries both the token and the sealed object, from opening itself
 * offline: the KEK needs the token (only in the mail) and the viewer secret
 * (only on sealmilter's and sealview's hosts). docs/viewer-security.md has
 * the whole design.
 *
 * Calling rules: thread-safe (HKDF is fetched once). Secrets are wiped by
 * view_token_clear().
 * Untrusted input: view_token_parse() takes the token from a URL a browser
 * sent; anything but exactly 43 base64url characters is refused.
 */
#include "build-config.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <string.h>

#include "seal/viewtoken.h"

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

void
hex_encode(const unsigned char *p, size_t n, char *out)
{
	static const char hx[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = hx[p[i] >> 4];
		out[2 * i + 1] = hx[p[i] & 15];
	}
	out[2 * n] = '\0';
}

int
hmac_sha256(const void *key, size_t keylen, const void *data, size_t len, unsigned char out[32])
{
	unsigned int n = 32;

	return HMAC(EVP_sha256(), key, (int)keylen, data, len, out, &n) != NULL && n == 32 ? 0 : -1;
}

/* HKDF is fetched once per process: a fetch takes the provider's locks,
 * and every page view derives keys (docs/benchmarks.md). */
static pthread_once_t kdf_once = PTHREAD_ONCE_INIT;
static EVP_KDF *hkdf;

static void
kdf_init(void)
{
	hkdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
}

static int
hkdf_bin_salt(const void *ikm, size_t ikmlen, const unsigned char *salt, size_t saltlen, const char *info,
    unsigned char *out, size_t outlen)
{
	EVP_KDF_CTX *ctx;
	OSSL_PARAM params[5];
	int rc = -1;

	pthread_once(&kdf_once, kdf_init);
	ctx = hkdf ? EVP_KDF_CTX_new(hkdf) : NULL;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm, ikmlen);
	params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, saltlen);
	params[3] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, strlen(info));
	params[4] = OSSL_PARAM_construct_end();
	if (ctx != NULL && EVP_KDF_derive(ctx, out, outlen, params) == 1)
		rc = 0;
	EVP_KDF_CTX_free(ctx);
	return rc;
}

int
hkdf_sha256(const void *ikm, size_t ikmlen, const char *salt, const char *info, unsigned char *out, size_t outlen)
{
	return hkdf_bin_salt(ikm, ikmlen, (const unsigned char *)salt, strlen(salt), info, out, outlen);
}

static int
derive(struct view_token *t, const unsigned char *secret, size_t secret_len)
{
	unsigned char lk[32], pepper[32];
	int rc = -1;

	if (secret_len > 0 &&
	    hkdf_sha256(t->raw, sizeof(t->raw), "sealmilter-viewer", "lookup v1", lk, sizeof(lk)) == 0 &&
	    hkdf_sha256(secret, secret_len, "sealmilter-viewer", "kek pepper v1", pepper, sizeof(pepper)) == 0 &&
	    hkdf_bin_salt(t->raw, sizeof(t->raw), pepper, sizeof(pepper), "kek v1", t->kek, sizeof(t->kek)) == 0) {
		hex_encode(lk, sizeof(lk), t->lookup);
		rc = 0;
	}
	OPENSSL_cleanse(pepper, sizeof(pepper));
	return rc;
}

void
b64url_encode(const unsigned char *p, size_t n, char *out)
{
	unsigned v = 0;
	int bits = 0;
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		v = (v << 8) | p[i];
		bits += 8;
		while (bits >= 6) {
			bits -= 6;
			out[o++] = b64url[(v >> bits) & 63];
		}
	}
	if (bits > 0)
		out[o++] = b64url[(v << (6 - bits)) & 63];
	out[o] = '\0';
}

int
view_token_new(const unsigned char *secret, size_t secret_len, struct view_token *t)
{
	memset(t, 0, sizeof(*t));
	if (RAND_priv_bytes(t->raw, sizeof(t->raw)) != 1)
		return -1;
	b64url_encode(t->raw, sizeof(t->raw), t->text);
	return derive(t, secret, secret_len);
}

int
view_token_parse(const char *text, size_t len, const unsigned char *secret, size_t secret_len, struct view_token *t)
{
	size_t i, o = 0;
	unsigned v = 0;
	int bits = 0;

	memset(t, 0, sizeof(*t));
	if (len != VIEW_TOKEN_TEXT)
		return -1;
	for (i = 0; i < len; i++) {
		const char *p = text[i] ? strchr(b64url, text[i]) : NULL;
		if (p == NULL)
			return -1;
		v = (v << 6) | (unsigned)(p - b64url);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			t->raw[o++] = (unsigned char)(v >> bits);
		}
	}
	/* 43 characters carry 258 bits: the last 2 must be zero (canonical). */
	if (o != VIEW_TOKEN_BYTES || (v & ((1u << bits) - 1)) != 0)
		return -1;
	memcpy(t->text, text, len);
	return derive(t, secret, secret_len);
}

void
view_token_clear(struct view_token *t)
{
	OPENSSL_cleanse(t, sizeof(*t));
}
