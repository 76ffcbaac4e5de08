/*
 * marker.c - the loop-guard marker header.
 *
 * A processed message carries "<milter.marker_header>: v=1; t=TIME; m=MAC"
 * where MAC = HMAC-SHA256(marker key, "sealmilter-marker-v1" | t | Message-ID
 * | Date | From | SHA-256 of the body), base64. Only a holder of the key can
 * make one; it is bound to the message's identity, its body and its time (a
 * marker copied onto other content does not verify); and it expires after
 * milter.marker_max_age. A message with a valid marker is not processed
 * again; invalid (forged) and expired (stale) markers are removed.
 *
 * Calling rules: thread-safe; the key is read at configuration load.
 * Untrusted input: the marker value and the identity headers come from the
 * message. Parsing is strict and bounded; comparison is constant-time.
 */
#include "build-config.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <strings.h>

#include "common/buf.h"
#include "common/util.h"
#include "engine/marker.h"

#define FUTURE_SKEW 300

static const char *
first_header(const struct header *h, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcasecmp(h[i].name, name) == 0)
			return h[i].value;
	return "";
}

static pthread_once_t sha_once = PTHREAD_ONCE_INIT;
static EVP_MD *sha256;

static void
fetch_sha256(void)
{
	sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
}

const EVP_MD *
marker_sha256(void)
{
	pthread_once(&sha_once, fetch_sha256);
	return sha256;
}

/* base64 of the MAC, into out (at least 45 bytes). 0 on success. */
static int
compute(const struct seal_config *cfg, const struct header *h, size_t n, const unsigned char *body_hash,
    long long t, char *out)
{
	static const char *const ids[] = { "Message-ID", "Date", "From" };
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	struct sbuf b;
	size_t i;
	int rc = -1;

	sbuf_init(&b, 0);
	sbuf_printf(&b, "sealmilter-marker-v1%c%lld", 0, t);
	for (i = 0; i < 3; i++) {
		char *v = unfold_trim(first_header(h, n, ids[i]));
		if (v == NULL)
			goto out;
		sbuf_addc(&b, 0);
		sbuf_adds(&b, v);
		free(v);
	}
	sbuf_addc(&b, 0);
	sbuf_add(&b, body_hash, MARKER_BODY_HASH_LEN);
	if (b.data == NULL || marker_sha256() == NULL || HMAC(marker_sha256(), cfg->marker_key, (int)cfg->marker_key_len,
	    (const unsigned char *)b.data, b.len, mac, &maclen) == NULL)
		goto out;
	EVP_EncodeBlock((unsigned char *)out, mac, (int)maclen);
	rc = 0;
out:
	sbuf_free(&b);
	return rc;
}

char *
marker_make(const struct seal_config *cfg, const struct header *h, size_t n, const unsigned char *body_hash,
    time_t now)
{
	char mac[64];
	char *v = NULL;

	if (compute(cfg, h, n, body_hash, (long long)now, mac) != 0)
		return NULL;
	if (asprintf(&v, " v=1; t=%lld; m=%s", (long long)now, mac) < 0)
		return NULL;
	return v;
}

enum marker_state
marker_check(const struct seal_config *cfg, const struct header *h, size_t n, const unsigned char *body_hash,
    const char *value, time_t now)
{
	char *v = unfold_trim(value);
	char want[64], got[64];
	long long t;
	int consumed = 0;
	enum marker_state st = MARKER_FORGED;

	if (v == NULL)
		return MARKER_FORGED;
	if (strlen(v) < 100 && sscanf(v, "v=1; t=%lld; m=%63s%n", &t, got, &consumed) == 2 &&
	    (size_t)consumed == strlen(v) && compute(cfg, h, n, body_hash, t, want) == 0 &&
	    strlen(got) == strlen(want) && ct_equal(got, want, strlen(want))) {
		if (t > (long long)now + FUTURE_SKEW)
			st = MARKER_FORGED;
		else if ((long long)now - t > (long long)cfg->marker_max_age)
			st = MARKER_STALE;
		else
			st = MARKER_VALID;
	}
	free(v);
	return st;
}
