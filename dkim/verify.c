/*
 * verify.c - the DKIM verifier for one message (RFC 6376 6.1).
 *
 * Follows the milter's stages:
 *   dkim_verify_start()   end of headers: parse up to max_signatures
 *                         DKIM-Signature fields, top first (the rest are
 *                         counted as unchecked); refuse expired and
 *                         future ones at once; build each signature's
 *                         header data (h= names picked from the bottom up,
 *                         names past the last instance add nothing, the
 *                         field itself with b= blanked); start the key
 *                         look-ups, so DNS overlaps the body;
 *   dkim_verify_body()    each body chunk goes through every signature's
 *                         canonicaliser into its SHA-256, up to l=;
 *                         nothing is stored;
 *   dkim_verify_finish()  wait for the keys and decide each signature.
 * Order of the checks per signature: syntax and times (permerror), the
 * key (temperror for DNS failure, permerror for a missing, revoked,
 * unusable or mismatched key), the body hash (fail), the signature (fail).
 * Several key records are tried in turn (RFC 6376 3.6.2.2 leaves it open),
 * identical ones once, at most DKIM_MAX_KEYS_TRIED through the public-key
 * operation; one that verifies is enough. Signatures with the same body
 * canonicalisation and l= share one body hash. A signature whose l= leaves text after the
 * signed part verifies, and then gives "policy" (opts.tail_policy) or pass.
 *
 * Calling rules: one thread at a time per verifier, in stage order; free
 * it at any point (queries still running are cancelled).
 * Untrusted input: every header field, the body, and the key records.
 */
#include "build-config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "dkim/dkim.h"
#include "dns/resolver.h"
#include "rules/policy.h"

/* One body hash, shared by every signature with the same canonicalisation
 * and l=, so fifty signatures do not hash a large body fifty times. */
struct bodyhash {
	enum dkim_canon canon;
	int has_l;
	uint64_t l;
	struct dkim_body_canon bc;
	EVP_MD_CTX *md;
	uint64_t hashed;
	int failed;
	int finished;
	unsigned char digest[32];
};

struct sigstate {
	struct dkim_verifier *v;
	struct dkim_sig sig;
	struct dkim_outcome out;
	int decided;                 /* out is final (an early permerror) */
	struct sbuf hdata;           /* canonical header data the signature covers */
	size_t bh;                   /* its body hash, in dkim_verifier.bh */
	void *query;
};

struct dkim_verifier {
	struct sigstate *s;
	size_t n;
	size_t unchecked;
	struct bodyhash *bh;         /* at most one per signature */
	size_t nbh;
	struct dkim_lookup lk;
	struct dkim_opts o;
	struct dkim_outcome *outs;
};

const char *
dkim_result_name(int r)
{
	static const char *const names[] = { "none", "pass", "fail", "policy", "neutral", "temperror", "permerror" };

	return r >= 0 && r <= DKIM_PERMERROR ? names[r] : "?";
}

int
dkim_result_parse(const char *name)
{
	int r;

	for (r = DKIM_NONE; r <= DKIM_PERMERROR; r++)
		if (strcasecmp(name, dkim_result_name(r)) == 0)
			return r;
	return -1;
}

static void
decide(struct sigstate *st, int result, const char *reason)
{
	st->out.result = result;
	free(st->out.reason);
	st->out.reason = reason ? strdup(reason) : NULL;
	st->decided = 1;
}

static void
body_emit(void *arg, const char *p, size_t n)
{
	struct bodyhash *b = arg;

	if (b->has_l) {
		uint64_t room = b->l > b->hashed ? b->l - b->hashed : 0;
		if (n > room)
			n = (size_t)room;
	}
	if (n && EVP_DigestUpdate(b->md, p, n) != 1)
		b->failed = 1;
	b->hashed += n;
}

/* The body hash for this signature: an existing one with the same
 * canonicalisation and l=, or a new one. -1 on no memory. */
static int
attach_bodyhash(struct dkim_verifier *v, struct sigstate *st)
{
	size_t i;
	struct bodyhash *b;

	for (i = 0; i < v->nbh; i++) {
		b = &v->bh[i];
		if (b->canon == st->sig.bcanon && b->has_l == st->sig.has_l && (!b->has_l || b->l == st->sig.l)) {
			st->bh = i;
			return 0;
		}
	}
	b = &v->bh[v->nbh];
	memset(b, 0, sizeof(*b));
	b->canon = st->sig.bcanon;
	b->has_l = st->sig.has_l;
	b->l = st->sig.l;
	if ((b->md = EVP_MD_CTX_new()) == NULL || EVP_DigestInit_ex(b->md, dkim_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(b->md);
		return -1;
	}
	dkim_body_init(&b->bc, b->canon, body_emit, b);
	st->bh = v->nbh++;
	return 0;
}

/* The header data: the fields h= names, then this field with b= blanked. */
static int
header_data(struct sigstate *st, const struct header *h, size_t nh, size_t self)
{
	char *used = calloc(nh + 1, 1);
	const char *val = h[self].value;
	size_t i, vlen = strlen(val);
	char *blank = NULL;
	int rc = 0;

	if (used == NULL)
		return -1;
	used[self] = 1;    /* the field being verified did not exist when it was signed */
	for (i = 0; i < st->sig.h.n && rc == 0; i++) {
		size_t j;
		for (j = nh; j-- > 0;)
			if (!used[j] && strcasecmp(h[j].name, st->sig.h.v[i]) == 0) {
				used[j] = 1;
				rc = dkim_canon_header(&st->hdata, st->sig.hcanon, h[j].name, h[j].value, 1);
				break;
			}
	}
	if (rc == 0 && !(st->sig.b_end <= vlen && st->sig.b_start <= st->sig.b_end))
		rc = -1;      /* cannot happen (same string, same parse); never sign off on it */
	if (rc == 0) {
		blank = malloc(vlen + 1);
		if (blank == NULL) {
			rc = -1;
		} else {
			memcpy(blank, val, st->sig.b_start);
			memcpy(blank + st->sig.b_start, val + st->sig.b_end, vlen - st->sig.b_end);
			blank[st->sig.b_start + vlen - st->sig.b_end] = '\0';
			rc = dkim_canon_header(&st->hdata, st->sig.hcanon, h[self].name, blank, 0);
		}
	}
	free(blank);
	free(used);
	return rc;
}

static int
start_one(struct dkim_verifier *v, struct sigstate *st, const struct header *h, size_t nh, size_t self, time_t now)
{
	char *err = NULL, *qname = NULL;

	st->v = v;
	st->out.dnssec = -1;
	sbuf_init(&st->hdata, 0);
	if (dkim_sig_parse(h[self].value, &st->sig, &err) != 0) {
		decide(st, DKIM_PERMERROR, err ? err : "signature: invalid");
	} else if (st->sig.has_x && (uint64_t)now > st->sig.x) {
		decide(st, DKIM_PERMERROR, "signature expired (x=)");
	} else if (st->sig.has_t && st->sig.t > (uint64_t)now + DKIM_FUTURE_SLACK) {
		decide(st, DKIM_PERMERROR, "signature made in the future (t=)");
	}
	free(err);
	st->out.d = st->sig.d ? strdup(st->sig.d) : NULL;
	st->out.s = st->sig.s ? strdup(st->sig.s) : NULL;
	st->out.i = st->sig.i ? strdup(st->sig.i) : NULL;
	st->out.b8 = st->sig.b64 ? xstrndup(st->sig.b64, strnlen(st->sig.b64, 8)) : NULL;
	st->out.alg = st->sig.alg;
	if (st->decided)
		return 0;
	if (header_data(st, h, nh, self) != 0 || attach_bodyhash(v, st) != 0)
		return -1;
	if (asprintf(&qname, "%s._domainkey.%s", st->sig.s, st->sig.d) < 0)
		return -1;
	if (strlen(qname) > 253)
		decide(st, DKIM_PERMERROR, "the key's DNS name is longer than 253 characters");
	else
		st->query = v->lk.start(v->lk.arg, qname);
	free(qname);
	return 0;
}

struct dkim_verifier *
dkim_verify_start(const struct header *h, size_t nh, const struct dkim_opts *o, const struct dkim_lookup *lk,
    time_t now)
{
	struct dkim_verifier *v = calloc(1, sizeof(*v));
	size_t i, want = 0;

	if (v == NULL)
		return NULL;
	v->lk = *lk;
	v->o = *o;
	for (i = 0; i < nh; i++)
		if (strcasecmp(h[i].name, "DKIM-Signature") == 0)
			want++;
	if (want > o->max_signatures) {
		v->unchecked = want - o->max_signatures;
		want = o->max_signatures;
	}
	if (want && ((v->s = calloc(want, sizeof(*v->s))) == NULL || (v->bh = calloc(want, sizeof(*v->bh))) == NULL)) {
		free(v->s);
		free(v);
		return NULL;
	}
	for (i = 0; i < nh && v->n < want; i++) {
		if (strcasecmp(h[i].name, "DKIM-Signature") != 0)
			continue;
		if (start_one(v, &v->s[v->n++], h, nh, i, now) != 0) {
			dkim_verify_free(v);
			return NULL;
		}
	}
	return v;
}

void
dkim_verify_body(struct dkim_verifier *v, const void *p, size_t n)
{
	size_t i;

	for (i = 0; i < v->nbh; i++)
		dkim_body_feed(&v->bh[i].bc, p, n);
}

static int
verify_with(struct sigstate *st, EVP_PKEY *pk)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok = 0;

	if (ctx == NULL)
		return -1;
	if (st->sig.alg == DKIM_ED25519_SHA256) {
		/* RFC 8463: Ed25519 signs the SHA-256 hash of the header data. */
		unsigned char hash[32];
		unsigned int hl = 0;
		ok = EVP_Digest(st->hdata.data, st->hdata.len, hash, &hl, dkim_sha256(), NULL) == 1 &&
		    EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pk) == 1 &&
		    EVP_DigestVerify(ctx, st->sig.b, st->sig.blen, hash, hl) == 1;
	} else {
		ok = EVP_DigestVerifyInit(ctx, NULL, dkim_sha256(), NULL, pk) == 1 &&
		    EVP_DigestVerify(ctx, st->sig.b, st->sig.blen, (const unsigned char *)st->hdata.data, st->hdata.len) == 1;
	}
	EVP_MD_CTX_free(ctx);
	return ok;
}

static void
finish_one(struct dkim_verifier *v, struct sigstate *st)
{
	struct dns_txt ans;
	const struct bodyhash *b = &v->bh[st->bh];
	const unsigned char *bh = b->digest;
	unsigned int bhl = sizeof(b->digest);
	char *first_err = NULL, *msg = NULL;
	size_t r, q;
	int tried = 0, passed = 0, testing = 0, mismatch = 0;
	uint64_t total;

	v->lk.wait(v->lk.arg, st->query, &ans);
	st->query = NULL;
	st->out.dnssec = ans.status == DNS_TEMPFAIL && ans.security != DNS_BOGUS ? -1 : (int)ans.security;
	if (ans.status == DNS_TEMPFAIL) {
		if (asprintf(&msg, "key lookup failed: %s", ans.why ? ans.why : "DNS error") < 0)
			msg = NULL;
		decide(st, DKIM_TEMPERROR, msg ? msg : "key lookup failed");
		goto out;
	}
	if (ans.status == DNS_NOTFOUND || ans.nrecords == 0) {
		if (asprintf(&msg, "no key for %s._domainkey.%s (%s)", st->sig.s, st->sig.d,
		    ans.why ? ans.why : ans.dropped ? "malformed TXT record" : "no TXT record") < 0)
			msg = NULL;
		decide(st, DKIM_PERMERROR, msg ? msg : "no key");
		goto out;
	}
	if (b->failed || !b->finished) {
		decide(st, DKIM_TEMPERROR, "internal error hashing the body");
		goto out;
	}
	total = b->bc.out;
	/* Each distinct record in turn, at most DKIM_MAX_KEYS_TRIED of them
	 * through the public-key operation (a signer needs one). */
	for (r = 0; r < ans.nrecords && !passed && tried < DKIM_MAX_KEYS_TRIED; r++) {
		struct dkim_key k;
		char *err = NULL;
		for (q = 0; q < r; q++)
			if (strcmp(ans.records[q], ans.records[r]) == 0)
				break;
		if (q < r)
			continue;
		if (dkim_key_get(ans.records[r], &k, &err) != 0) {
			if (first_err == NULL)
				first_err = err;
			else
				free(err);
			continue;
		}
		if (k.alg_key != st->sig.alg) {
			mismatch = 1;
		} else if (k.strict && strcasecmp(strrchr(st->sig.i, '@') + 1, st->sig.d) != 0) {
			if (first_err == NULL)
				first_err = strdup("the key is strict (t=s) but i= is a subdomain of d=");
		} else {
			tried++;
			if (bhl == st->sig.bhlen && memcmp(bh, st->sig.bh, bhl) == 0 && (!st->sig.has_l || st->sig.l <= total)) {
				int ok = verify_with(st, k.pkey);
				if (ok > 0) {
					passed = 1;
					testing = k.testing;
				}
			}
		}
		dkim_key_free(&k);
	}
	if (passed) {
		if (st->sig.has_l && total > st->sig.l) {
			if (asprintf(&msg, "%llu bytes of body after l=%llu are not signed",
			    (unsigned long long)(total - st->sig.l), (unsigned long long)st->sig.l) < 0)
				msg = NULL;
			decide(st, v->o.tail_policy ? DKIM_POLICY : DKIM_PASS, msg);
		} else {
			decide(st, DKIM_PASS, testing ? "key in testing mode (t=y)" : NULL);
			st->out.testing = testing;
		}
	} else if (!tried) {
		decide(st, DKIM_PERMERROR, first_err ? first_err
		    : mismatch ? "the key type does not match a=" : "no usable key");
	} else if (st->sig.has_l && st->sig.l > total) {
		decide(st, DKIM_FAIL, "l= is longer than the body");
	} else if (bhl != st->sig.bhlen || memcmp(bh, st->sig.bh, bhl) != 0) {
		decide(st, DKIM_FAIL, "body hash mismatch");
	} else {
		decide(st, DKIM_FAIL, "signature did not verify");
	}
out:
	free(msg);
	free(first_err);
	dns_txt_free(&ans);
}

const struct dkim_outcome *
dkim_verify_finish(struct dkim_verifier *v, size_t *n, size_t *unchecked)
{
	size_t i;

	if (v->outs == NULL) {
		v->outs = calloc(v->n ? v->n : 1, sizeof(*v->outs));
		if (v->outs == NULL)
			return NULL;
		for (i = 0; i < v->nbh; i++) {
			unsigned int len = 0;
			dkim_body_finish(&v->bh[i].bc);
			v->bh[i].finished = EVP_DigestFinal_ex(v->bh[i].md, v->bh[i].digest, &len) == 1 && len == 32;
		}
		for (i = 0; i < v->n; i++) {
			if (!v->s[i].decided)
				finish_one(v, &v->s[i]);
			v->outs[i] = v->s[i].out;
		}
	}
	*n = v->n;
	*unchecked = v->unchecked;
	return v->outs;
}

void
dkim_verify_free(struct dkim_verifier *v)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; i < v->n; i++) {
		struct sigstate *st = &v->s[i];
		if (st->query)
			v->lk.cancel(v->lk.arg, st->query);
		dkim_sig_free(&st->sig);
		sbuf_free(&st->hdata);
		free(st->out.d);
		free(st->out.s);
		free(st->out.i);
		free(st->out.b8);
		free(st->out.reason);
	}
	for (i = 0; i < v->nbh; i++)
		EVP_MD_CTX_free(v->bh[i].md);
	free(v->bh);
	free(v->s);
	free(v->outs);
	free(v);
}
