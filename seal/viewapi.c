/*
 * viewapi.c - the client side of sealview's signed API (libcurl), and the
 * signature both sides compute (viewapi.h describes the wire format).
 *
 * Calling rules: thread-safe (libcurl is initialised once, through
 * pthread_once; each request has its own easy handle). A request blocks
 * for at most timeout_s seconds.
 * Untrusted input: the response, read into a capped buffer, and its
 * signature field; a response without sealview's signature over the
 * request's nonce, its status and its body is refused here.
 */
#include "build-config.h"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/util.h"
#include "seal/viewapi.h"
#include "seal/viewtoken.h"

int
viewapi_key(const unsigned char *secret, size_t secret_len, unsigned char key[32])
{
	return hkdf_sha256(secret, secret_len, "sealmilter-viewer", "api v1", key, 32);
}

/* HMAC-SHA-256 under key of the n bytes at msg (from asprintf: freed here; n < 0 is its
 * failure), as hex into out. */
static int
mac_hex(const unsigned char key[32], char *msg, int n, char out[65])
{
	unsigned char mac[32];
	int rc;

	if (n < 0)
		return -1;
	rc = hmac_sha256(key, 32, msg, (size_t)n, mac);
	free(msg);
	if (rc == 0)
		hex_encode(mac, 32, out);
	return rc;
}

int
viewapi_sign(const unsigned char key[32], const char *method, const char *path, const char *date, const char *nonce,
    const unsigned char body_sha256[32], char out[65])
{
	char hb[65], *msg = NULL;
	int n;

	hex_encode(body_sha256, 32, hb);
	n = asprintf(&msg, "sealview-api-v1\n%s\n%s\n%s\n%s\n%s", method, path, date, nonce, hb);
	return mac_hex(key, msg, n, out);
}

int
viewapi_sign_response(const unsigned char key[32], const char *nonce, long status, const unsigned char body_sha256[32],
    char out[65])
{
	char hb[65], *msg = NULL;
	int n;

	hex_encode(body_sha256, 32, hb);
	n = asprintf(&msg, "sealview-api-v1-response\n%s\n%ld\n%s", nonce, status, hb);
	return mac_hex(key, msg, n, out);
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static int curl_ok;

static void
curl_init(void)
{
	curl_ok = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
}

struct reader {
	const struct viewapi_body *b;
	size_t off;
	int failed;
};

static size_t
read_body(char *buf, size_t size, size_t nmemb, void *arg)
{
	struct reader *r = arg;
	size_t want = size * nmemb, left = r->b->len - r->off;
	ssize_t n;

	if (want > left)
		want = left;
	if (want == 0)
		return 0;
	if (r->b->data) {
		memcpy(buf, (const char *)r->b->data + r->off, want);
		n = (ssize_t)want;
	} else {
		do
			n = read(r->b->fd, buf, want);
		while (n < 0 && errno == EINTR);
		if (n <= 0) {
			r->failed = 1;
			return CURL_READFUNC_ABORT;
		}
	}
	r->off += (size_t)n;
	return (size_t)n;
}

static size_t
write_resp(char *p, size_t size, size_t nmemb, void *arg)
{
	struct sbuf *b = arg;

	return sbuf_add(b, p, size * nmemb) == 0 ? size * nmemb : 0;
}

/* The response's signature field, kept when it has the right form (64 hex
 * digits); any other header line is ignored. */
static size_t
read_header(char *p, size_t size, size_t nmemb, void *arg)
{
	static const char name[] = "X-Seal-Response-Signature:";
	char *sig = arg;
	size_t n = size * nmemb, i, k, nl = sizeof(name) - 1;

	if (n > nl && strncasecmp(p, name, nl) == 0) {
		for (i = nl; i < n && (p[i] == ' ' || p[i] == '\t'); i++)
			;
		for (k = 0; k < 64 && i + k < n && ((p[i + k] >= '0' && p[i + k] <= '9') || (p[i + k] >= 'a' &&
		    p[i + k] <= 'f')); k++)
			;
		if (k == 64 && (i + 64 == n || p[i + 64] == '\r' || p[i + 64] == '\n' || p[i + 64] == ' ')) {
			memcpy(sig, p + i, 64);
			sig[64] = '\0';
		}
	}
	return n;
}

/* SHA-256 of the body; an fd body is read and put back where it was. */
static int
body_hash(const struct viewapi_body *b, unsigned char out[32])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char buf[65536];
	size_t left = b ? b->len : 0;
	off_t start = 0;
	int rc = -1;

	if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
		goto out;
	if (b && b->data) {
		if (EVP_DigestUpdate(md, b->data, b->len) != 1)
			goto out;
	} else if (b && b->fd >= 0) {
		if ((start = lseek(b->fd, 0, SEEK_CUR)) < 0)
			goto out;
		while (left > 0) {
			ssize_t n = read(b->fd, buf, left < sizeof(buf) ? left : sizeof(buf));
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0 || EVP_DigestUpdate(md, buf, (size_t)n) != 1)
				goto out;
			left -= (size_t)n;
		}
		if (lseek(b->fd, start, SEEK_SET) != start)
			goto out;
	}
	rc = EVP_DigestFinal_ex(md, out, NULL) == 1 ? 0 : -1;
out:
	EVP_MD_CTX_free(md);
	return rc;
}

int
viewapi_request(const char *base_url, const unsigned char *secret, size_t secret_len, long timeout_s,
    const char *method, const char *path, const struct viewapi_body *body, size_t max_resp, long *status,
    char **resp, char **err)
{
	unsigned char key[32], bh[32], nb[16], rh[32];
	char date[32], nonce[33], sig[65], rsig[65] = "", want[65], *url = NULL, *h = NULL, *dpath = NULL;
	struct curl_slist *hdrs = NULL;
	struct reader rd = { body, 0, 0 };
	struct sbuf rb;
	char ebuf[CURL_ERROR_SIZE];
	CURL *c = NULL;
	CURLcode cc;
	int rc = -1;

	*err = NULL;
	*status = 0;
	if (resp)
		*resp = NULL;
	sbuf_init(&rb, max_resp);
	pthread_once(&curl_once, curl_init);
	if (!curl_ok) {
		*err = strdup("libcurl cannot be initialised");
		return -1;
	}
	snprintf(date, sizeof(date), "%lld", (long long)time(NULL));
	if (RAND_bytes(nb, sizeof(nb)) != 1 || viewapi_key(secret, secret_len, key) != 0 || body_hash(body, bh) != 0) {
		*err = strdup("cannot sign the request (randomness, or the body cannot be read)");
		goto out;
	}
	hex_encode(nb, sizeof(nb), nonce);
	/* The path is signed percent-decoded, as the server reads it. */
	if ((dpath = strdup(path)) == NULL) {
		*err = strdup("out of memory");
		goto out;
	}
	{
		char *p, *q;
		for (p = q = dpath; *p; p++, q++) {
			if (p[0] == '%' && hex_digit(p[1]) >= 0 && hex_digit(p[2]) >= 0) {
				*q = (char)(hex_digit(p[1]) * 16 + hex_digit(p[2]));
				p += 2;
			} else
				*q = *p;
		}
		*q = '\0';
	}
	if (viewapi_sign(key, method, dpath, date, nonce, bh, sig) != 0 || asprintf(&url, "%s%s", base_url, path) < 0) {
		url = NULL;
		*err = strdup("out of memory");
		goto out;
	}
#define ADDH(fmt, v) do { if (asprintf(&h, fmt, v) < 0) goto oom; \
		struct curl_slist *n_ = curl_slist_append(hdrs, h); free(h); h = NULL; if (!n_) goto oom; hdrs = n_; } while (0)
	ADDH("X-Seal-Date: %s", date);
	ADDH("X-Seal-Nonce: %s", nonce);
	ADDH("X-Seal-Signature: %s", sig);
	{
		char bhex[65];
		hex_encode(bh, sizeof(bh), bhex);
		ADDH("X-Seal-Content-SHA256: %s", bhex);
	}
	ADDH("Content-Type: %s", body && body->content_type ? body->content_type : "application/octet-stream");
	ADDH("Expect:%s", "");
#undef ADDH
	if ((c = curl_easy_init()) == NULL)
		goto oom;
	ebuf[0] = '\0';
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, timeout_s);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, timeout_s);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_resp);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &rb);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, read_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, rsig);
	if (body != NULL && (body->data != NULL || body->fd >= 0)) {
		curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)body->len);
		curl_easy_setopt(c, CURLOPT_READFUNCTION, read_body);
		curl_easy_setopt(c, CURLOPT_READDATA, &rd);
	}
	cc = curl_easy_perform(c);
	if (cc != CURLE_OK) {
		if (asprintf(err, "%s %s: %s", method, url, rd.failed ? "the body could not be read"
		    /* cppcheck-suppress knownConditionTrueFalse ; libcurl fills ebuf (CURLOPT_ERRORBUFFER) */
		    : cc == CURLE_WRITE_ERROR ? "the response is too large" : ebuf[0] ? ebuf : curl_easy_strerror(cc)) < 0)
			*err = NULL;
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	/* Only sealview holds the key: an answer it did not sign (a proxy's, an
	 * attacker's on the way, or a refusal before the request was checked)
	 * is not believed, whatever it says. */
	if (EVP_Digest(rb.data ? rb.data : "", rb.data ? rb.len : 0, rh, NULL, EVP_sha256(), NULL) != 1 ||
	    viewapi_sign_response(key, nonce, *status, rh, want) != 0) {
		*err = strdup("cannot check the signature of sealview's answer");
		goto out;
	}
	if (rsig[0] == '\0' || !ct_equal(rsig, want, 64)) {
		if (asprintf(err, "%s %s: the answer (HTTP %ld) %s: %.200s", method, url, *status,
		    rsig[0] ? "has a wrong signature: not from a sealview with this viewer secret"
		    : "is not signed by sealview (refused before the request was checked, or not from sealview)",
		    rb.data ? rb.data : "") < 0)
			*err = NULL;
		goto out;
	}
	if (resp)
		*resp = rb.data ? sbuf_steal(&rb) : strdup("");
	rc = 0;
	goto out;
oom:
	*err = strdup("out of memory");
out:
	OPENSSL_cleanse(key, sizeof(key));
	curl_easy_cleanup(c);
	curl_slist_free_all(hdrs);
	free(url);
	free(dpath);
	sbuf_free(&rb);
	return rc;
}
