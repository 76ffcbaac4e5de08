/*
 * marker.c - the loop-guard marker header.
 *
 * A processed message carries "<milter.marker_header>: v=1; t=TIME; m=MAC"
 * where MAC = HMAC-SHA256(marker key, "sealmilter-marker-v2" | t | envelope
 * sender | direction | every header field as delivered except trace fields
 * (an Authentication-Results naming our authserv-id is not a trace field)
 * | SHA-256 of the body), base64. Only a holder of the key can make one, and
 * it verifies only on the same message, from the same sender, in the same
 * direction, with the same header fields and body: a marker copied onto
 * other content, a changed subject, an added (forged) tag header or another
 * sender does not verify. Trace fields that relays add on the way
 * (Received, Return-Path, ...) are left out, and values are unfolded, so a
 * relay does not break it. It expires after milter.marker_max_age. The
 * recipients are not bound: a relay may split them (the session still
 * applies reject and tempfail rules to a marked message).
 *
 * Calling rules: thread-safe; the key is read at configuration load.
 * Untrusted input: the marker value and the identity headers come from the
 * message. Parsing is strict and bounded; comparison is constant-time.
 */
#include "build-config.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <strings.h>

#include "common/buf.h"
#include "common/util.h"
#include "dkim/dkim.h"
#include "engine/marker.h"

#define FUTURE_SKEW 300

/* Fields relays add or change in transit, and the marker itself. An
 * Authentication-Results field that names our own authserv-id (when DKIM
 * verification is on) is covered, though: on a marked message it is kept
 * as ours, so one added later (forged) must break the marker. */
static int
skipped(const struct seal_config *cfg, const char *name, const char *value, const char *marker_header)
{
	static const char *const trace[] = { "Received", "Return-Path", "Delivered-To", "X-Original-To",
		"Authentication-Results", "ARC-Seal", "ARC-Message-Signature", "ARC-Authentication-Results",
		"DKIM-Signature", "X-Spam-Status", "X-Spam-Score", "X-Spam-Level", "X-Spam-Flag", NULL };

	if (cfg->dkim_verify && cfg->dkim_authserv_id && strcasecmp(name, "Authentication-Results") == 0 &&
	    dkim_authres_is_ours(value, cfg->dkim_authserv_id))
		return 0;
	return strcasecmp(name, marker_header) == 0 || strcase_in(name, trace);
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
compute(const struct seal_config *cfg, const struct marker_subject *m, long long t, char *out)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	struct sbuf b;
	size_t i;
	int rc = -1;

	sbuf_init(&b, 0);
	sbuf_printf(&b, "sealmilter-marker-v2%c%lld%c%s%c%s", 0, t, 0, m->sender, 0, m->direction);
	for (i = 0; i < m->nheaders; i++) {
		char *v, *p;
		if (skipped(cfg, m->headers[i].name, m->headers[i].value, m->marker_header))
			continue;
		v = unfold_trim(m->headers[i].value);
		if (v == NULL)
			goto out;
		sbuf_addc(&b, 0);
		for (p = m->headers[i].name; *p; p++)
			sbuf_addc(&b, (char)tolower((unsigned char)*p));
		sbuf_addc(&b, ':');
		sbuf_adds(&b, v);
		free(v);
	}
	sbuf_addc(&b, 0);
	sbuf_add(&b, m->body_hash, MARKER_BODY_HASH_LEN);
	if (b.data == NULL || b.oom || marker_sha256() == NULL || HMAC(marker_sha256(), cfg->marker_key,
	    (int)cfg->marker_key_len, (const unsigned char *)b.data, b.len, mac, &maclen) == NULL)
		goto out;
	EVP_EncodeBlock((unsigned char *)out, mac, (int)maclen);
	rc = 0;
out:
	sbuf_free(&b);
	return rc;
}

char *
marker_make(const struct seal_config *cfg, const struct marker_subject *m, time_t now)
{
	char mac[64];
	char *v = NULL;

	if (compute(cfg, m, (long long)now, mac) != 0)
		return NULL;
	if (asprintf(&v, " v=1; t=%lld; m=%s", (long long)now, mac) < 0)
		return NULL;
	return v;
}

enum marker_state
marker_check(const struct seal_config *cfg, const struct marker_subject *m, const char *value, time_t now)
{
	char *v = unfold_trim(value);
	char want[64], got[64];
	long long t;
	int consumed = 0;
	enum marker_state st = MARKER_FORGED;

	if (v == NULL)
		return MARKER_FORGED;
	/* sscanf's %lld on a number out of range: glibc stops at LLONG_MAX (as strtoll
	 * does), and that t cannot give the MAC the marker carries: forged either way. */
	if (strlen(v) < 100 && sscanf(v, "v=1; t=%lld; m=%63s%n", &t, got, &consumed) == 2 &&   /* NOLINT(cert-err34-c) */
	    (size_t)consumed == strlen(v) && compute(cfg, m, t, want) == 0 &&
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
