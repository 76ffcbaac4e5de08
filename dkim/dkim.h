/* dkim.h - DKIM verification (RFC 6376, RFC 8301, RFC 8463): parsers,
 * canonicalisation, the streaming verifier, and its results. */
#ifndef SEAL_DKIM_H
#define SEAL_DKIM_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "common/buf.h"
#include "common/util.h"

struct header;
struct dns_txt;

/* ---- limits (fixed; documented in docs/dkim.md) -------------------------- */
#define DKIM_MAX_TAGS 64            /* tags in one tag-list */
#define DKIM_MAX_SIGNED_HEADERS 128 /* names in h= */
#define DKIM_MAX_RSA_BITS 4096      /* RFC 8301's upper bound: larger keys cost more to verify */
#define DKIM_MAX_RSA_E_BITS 32      /* public exponent; OpenSSL bounds it only over 3072 bits */
#define DKIM_MAX_KEYS_TRIED 2       /* distinct key records tried per signature */
#define DKIM_MIN_RSA_BITS 1024      /* RFC 8301 */
#define DKIM_FUTURE_SLACK 3600      /* t= may be this far ahead of our clock */

/* ---- tag-lists (RFC 6376 3.2) -------------------------------------------- */
struct dkim_tag {
	char name[16];               /* longer names are never ones we know: skipped */
	char *value;                 /* trimmed of surrounding FWS; inner FWS kept */
	size_t vstart, vend;         /* the raw value's span in the input, FWS included */
};
struct dkim_tags {
	struct dkim_tag *v;
	size_t n;
	int long_first;              /* the first tag-spec had a name too long to keep */
};
/* 0, or -1 with *err (malloc'd): a tag without '=', an empty tag-spec in
 * the middle, a bad name, a control character, a duplicate, too many. */
int dkim_tags_parse(const char *s, size_t len, struct dkim_tags *out, char **err);
const struct dkim_tag *dkim_tag_get(const struct dkim_tags *t, const char *name);
void dkim_tags_free(struct dkim_tags *t);
/* 1 when the colon-separated list (white space allowed) holds want. */
int dkim_list_has(const char *list, const char *want, int nocase);
/* The value with every white space character removed (b=, bh=, p=). */
char *dkim_strip_ws(const char *s);
/* Padded base64 (no white space) to bytes; NULL when it is not. */
unsigned char *dkim_b64_decode(const char *s, size_t *outlen);

/* ---- canonicalisation (RFC 6376 3.4) --------------------------------------- */
enum dkim_canon { DKIM_SIMPLE, DKIM_RELAXED };

/* Append the canonical form of one header field (raw value: leading space
 * and folding as received, line breaks LF or CRLF) and, when crlf, CRLF. */
int dkim_canon_header(struct sbuf *out, enum dkim_canon c, const char *name, const char *value, int crlf);

/* The body, streamed. Line ends may be CRLF or bare LF (a file); a bare CR
 * is text. Output goes to emit() in pieces. */
struct dkim_body_canon {
	enum dkim_canon canon;
	int cr;                      /* a CR was seen and is not yet known to end a line */
	int wsp;                     /* relaxed: a run of WSP is pending */
	int content;                 /* the current line has content */
	uint64_t empty;              /* empty lines held back (trailing ones are dropped) */
	uint64_t out;                /* canonical bytes emitted so far */
	void (*emit)(void *arg, const char *p, size_t n);
	void *arg;
	char buf[4096];
	size_t blen;
};
void dkim_body_init(struct dkim_body_canon *b, enum dkim_canon c, void (*emit)(void *, const char *, size_t),
    void *arg);
void dkim_body_feed(struct dkim_body_canon *b, const char *p, size_t n);
void dkim_body_finish(struct dkim_body_canon *b);

/* ---- key records (RFC 6376 3.6.1, RFC 8463) -------------------------------- */
enum dkim_alg { DKIM_RSA_SHA256 = 1, DKIM_ED25519_SHA256 = 2 };

struct dkim_key {
	int alg_key;                 /* enum dkim_alg, by key type */
	int revoked;                 /* p= is empty */
	int testing;                 /* t=y */
	int strict;                  /* t=s: i= must be in d= itself */
	void *pkey;                  /* EVP_PKEY */
	int bits;
};
/* 0, or -1 with *err: the permerror reason (v=, k=, h=, s=, p= problems). */
int dkim_key_parse(const char *rec, struct dkim_key *k, char **err);
/* The same, through a small cache of parsed keys (by record text). */
int dkim_key_get(const char *rec, struct dkim_key *k, char **err);
/* SHA-256, fetched once. */
const struct evp_md_st *dkim_sha256(void);
void dkim_key_free(struct dkim_key *k);

/* ---- signatures (RFC 6376 3.5) ---------------------------------------------- */
struct dkim_sig {
	int alg;                     /* enum dkim_alg */
	enum dkim_canon hcanon, bcanon;
	char *d, *s, *i;             /* d lower case; i as given (default "@d") */
	char *b64;                   /* b= without white space */
	unsigned char *b, *bh;
	size_t blen, bhlen;
	size_t b_start, b_end;       /* b='s raw value in the field value, white space included */
	int has_l, has_t, has_x;
	uint64_t l, t, x;
	struct strlist h;            /* h= names, lower case */
};
/* Parse a DKIM-Signature value. 0, or -1 with *err (the permerror reason). */
int dkim_sig_parse(const char *value, struct dkim_sig *sig, char **err);
void dkim_sig_free(struct dkim_sig *sig);

/* ---- results ------------------------------------------------------------- */
enum dkim_result {
	DKIM_NONE, DKIM_PASS, DKIM_FAIL, DKIM_POLICY, DKIM_NEUTRAL, DKIM_TEMPERROR, DKIM_PERMERROR
};
const char *dkim_result_name(int r);
/* -1 when name is not a result. */
int dkim_result_parse(const char *name);

struct dkim_outcome {
	int result;                  /* enum dkim_result */
	char *d, *s, *i;             /* NULL when the signature could not be parsed that far */
	char *b8;                    /* the first 8 characters of b= */
	char *reason;                /* why it is not pass; a note for pass (testing key) */
	int alg;
	int dnssec;                  /* enum dns_security of the key answer; -1 when none */
	int testing;                 /* passed with a key in testing mode (t=y) */
};

/* ---- the verifier (one per message) ----------------------------------------- */
struct dkim_lookup {
	/* Start a TXT query for name; returns a handle for wait. */
	void *(*start)(void *arg, const char *name);
	/* Wait for it and fill out (dns_txt semantics); frees the handle. */
	void (*wait)(void *arg, void *handle, struct dns_txt *out);
	/* Abandon it. */
	void (*cancel)(void *arg, void *handle);
	void *arg;
};

struct dkim_opts {
	unsigned max_signatures;
	int tail_policy;             /* 1: unsigned text after l= gives "policy"; 0: pass */
};

struct dkim_verifier;
/* At end of headers: parse up to max_signatures DKIM-Signature fields (top
 * first), hash their header sets, and start the key queries. NULL only on
 * no memory. */
struct dkim_verifier *dkim_verify_start(const struct header *h, size_t nh, const struct dkim_opts *o,
    const struct dkim_lookup *lk, time_t now);
/* Body bytes as they arrive. */
void dkim_verify_body(struct dkim_verifier *v, const void *p, size_t n);
/* At end of message: wait for the keys, decide. The outcomes belong to v. */
const struct dkim_outcome *dkim_verify_finish(struct dkim_verifier *v, size_t *n, size_t *unchecked);
void dkim_verify_free(struct dkim_verifier *v);

/* ---- Authentication-Results (RFC 8601) --------------------------------------- */
/* The value (with its leading space, folded) of our Authentication-Results
 * for these outcomes (none: "dkim=none"). NULL on no memory. */
char *dkim_authres(const char *authserv_id, const struct dkim_outcome *o, size_t n, size_t unchecked);
/* 1 when an Authentication-Results value names authserv_id as its author. */
int dkim_authres_is_ours(const char *value, const char *authserv_id);

/* ---- signing (dkim/sign.c) ------------------------------------------------ */
struct dkim_signer {
	char *domain;                /* d= */
	char *selector;              /* s= */
	int alg;                     /* enum dkim_alg, from the key type */
	enum dkim_canon hcanon, bcanon;
	void *key;                   /* EVP_PKEY (private) */
};

/* The body hash over the final body, streamed. */
struct dkim_body_hasher;
struct dkim_body_hasher *dkim_body_hasher_new(enum dkim_canon c);
void dkim_body_hasher_feed(struct dkim_body_hasher *h, const void *p, size_t n);
int dkim_body_hasher_final(struct dkim_body_hasher *h, unsigned char out[32]);
void dkim_body_hasher_free(struct dkim_body_hasher *h);

/* The DKIM-Signature value (leading space, folded with LF + TAB) for the
 * header fields h as they will be delivered and body hash bh. NULL and
 * *err (malloc'd) on failure. */
char *dkim_sign(const struct dkim_signer *k, const struct header *h, size_t nh, const unsigned char bh[32],
    time_t now, char **err);
/* The signed header set, in words, for the documentation. */
const char *dkim_sign_headers_doc(void);

/* The organisational domain (public suffix list), lower case; malloc'd. */
char *dkim_org_domain(const char *domain);

#endif
