/*
 * sign.c - DKIM signing (RFC 6376 5, RFC 8463) of a message as it will be
 * delivered.
 *
 * The caller gives the header fields exactly as the MTA will deliver them
 * (every edit applied) and the body hash (dkim_body_hash over the final
 * body), and gets the DKIM-Signature value to insert at the top. The
 * signed header set is sign_headers below: the author and MIME fields are
 * over-signed (listed once more than they occur, so none can be added
 * after signing); Cc, Reply-To, Sender and Subject are listed even when
 * absent (so none can be added); a missing Date or Message-ID is not
 * listed, so an MTA that adds one later does not break the signature. Values are folded with LF + TAB (the milter
 * convention); b= is computed over the field as it will be delivered, with
 * b= empty.
 *
 * Calling rules: thread-safe; the key is read-only (an EVP_PKEY may be
 * shared by threads for signing in OpenSSL 3).
 * Untrusted input: the header fields and the body (hashed, never parsed).
 */
#include "build-config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "dkim/dkim.h"
#include "rules/policy.h"

/* name; over-signed (listed once more than it occurs); listed even when
 * absent (no MTA adds it, so nobody may add it after signing: Cc,
 * Reply-To, Sender, Subject; but not Date or Message-ID, which an MTA adds
 * when they are missing). */
static const struct {
	const char *name;
	int over;
	int absent_too;
} sign_headers[] = {
	{ "from", 1, 0 }, { "to", 1, 0 }, { "cc", 1, 1 }, { "subject", 1, 1 }, { "date", 1, 0 },
	{ "message-id", 1, 0 }, { "mime-version", 1, 0 }, { "content-type", 1, 0 },
	{ "content-transfer-encoding", 1, 0 }, { "reply-to", 1, 1 }, { "sender", 1, 1 }, { "in-reply-to", 0, 0 },
	{ "references", 0, 0 }, { "list-id", 0, 0 }, { "list-unsubscribe", 0, 0 }, { "list-unsubscribe-post", 0, 0 },
	{ "x-sealmilter-sealed", 1, 1 },
};

const char *
dkim_sign_headers_doc(void)
{
	return "From, To, Cc, Subject, Date, Message-ID, MIME-Version, Content-Type, Content-Transfer-Encoding, "
	    "Reply-To, Sender and X-Sealmilter-Sealed over-signed (listed once more than they occur; Cc, Subject, "
	    "Reply-To, Sender and X-Sealmilter-Sealed even when absent), In-Reply-To, References, List-Id, "
	    "List-Unsubscribe and List-Unsubscribe-Post once per field";
}

struct hash_sink {
	EVP_MD_CTX *md;
	int failed;
};

static void
hash_emit(void *arg, const char *p, size_t n)
{
	struct hash_sink *h = arg;

	if (EVP_DigestUpdate(h->md, p, n) != 1)
		h->failed = 1;
}

struct dkim_body_hasher {
	struct dkim_body_canon bc;
	struct hash_sink sink;
};

struct dkim_body_hasher *
dkim_body_hasher_new(enum dkim_canon c)
{
	struct dkim_body_hasher *h = calloc(1, sizeof(*h));

	if (h == NULL)
		return NULL;
	h->sink.md = EVP_MD_CTX_new();
	if (h->sink.md == NULL || EVP_DigestInit_ex(h->sink.md, dkim_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(h->sink.md);
		free(h);
		return NULL;
	}
	dkim_body_init(&h->bc, c, hash_emit, &h->sink);
	return h;
}

void
dkim_body_hasher_feed(struct dkim_body_hasher *h, const void *p, size_t n)
{
	dkim_body_feed(&h->bc, p, n);
}

int
dkim_body_hasher_final(struct dkim_body_hasher *h, unsigned char out[32])
{
	unsigned int len = 0;

	dkim_body_finish(&h->bc);
	return !h->sink.failed && EVP_DigestFinal_ex(h->sink.md, out, &len) == 1 && len == 32 ? 0 : -1;
}

void
dkim_body_hasher_free(struct dkim_body_hasher *h)
{
	if (h == NULL)
		return;
	EVP_MD_CTX_free(h->sink.md);
	free(h);
}

static char *
b64(const unsigned char *p, size_t n)
{
	char *out = malloc(4 * ((n + 2) / 3) + 1);

	if (out)
		EVP_EncodeBlock((unsigned char *)out, p, (int)n);
	return out;
}

/* The tags before b=, folded at about 72 columns with LF + TAB. */
static int
add_folded(struct sbuf *v, size_t *col, const char *piece)
{
	size_t n = strlen(piece);
	int rc = 0;

	if (*col + n + 1 > 72 && *col > 1) {
		rc |= sbuf_adds(v, "\n\t");
		*col = 8;
	} else {
		rc |= sbuf_addc(v, ' ');
		(*col)++;
	}
	rc |= sbuf_adds(v, piece);
	*col += n;
	return rc;
}

char *
dkim_sign(const struct dkim_signer *k, const struct header *h, size_t nh, const unsigned char bh[32], time_t now,
    char **err)
{
	struct sbuf v, hdata, hlist;
	char *bh64 = NULL, *sig64 = NULL, *tag = NULL, *value = NULL;
	unsigned char *sig = NULL, hash[32];
	size_t i, j, col = 16, siglen = 0;
	char *used = calloc(nh + 1, 1);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int rc = 0, ok = 0;

	*err = NULL;
	sbuf_init(&v, 0);
	sbuf_init(&hdata, 0);
	sbuf_init(&hlist, 0);
	if (used == NULL || ctx == NULL || (bh64 = b64(bh, 32)) == NULL)
		goto oom;
	/* h=: the names present, the over-signed ones once more. */
	for (i = 0; i < sizeof(sign_headers) / sizeof(sign_headers[0]); i++) {
		size_t count = 0;
		for (j = 0; j < nh; j++)
			if (strcasecmp(h[j].name, sign_headers[i].name) == 0)
				count++;
		if ((count && sign_headers[i].over) || (count == 0 && sign_headers[i].absent_too))
			count++;
		for (j = 0; j < count; j++)
			rc |= sbuf_printf(&hlist, "%s%s", hlist.len ? ":" : "", sign_headers[i].name);
	}
	/* The header data: each listed name takes the next instance from the bottom. */
	for (i = 0; i < sizeof(sign_headers) / sizeof(sign_headers[0]); i++) {
		size_t count = 0;
		for (j = 0; j < nh; j++)
			if (strcasecmp(h[j].name, sign_headers[i].name) == 0)
				count++;
		while (count--) {
			for (j = nh; j-- > 0;)
				if (!used[j] && strcasecmp(h[j].name, sign_headers[i].name) == 0) {
					used[j] = 1;
					rc |= dkim_canon_header(&hdata, k->hcanon, h[j].name, h[j].value, 1);
					break;
				}
		}
	}
	/* The field itself, b= empty. */
	rc |= sbuf_printf(&v, " v=1; a=%s;", k->alg == DKIM_ED25519_SHA256 ? "ed25519-sha256" : "rsa-sha256");
	col = 16 + v.len;
	if (asprintf(&tag, "c=%s/%s;", k->hcanon == DKIM_RELAXED ? "relaxed" : "simple",
	    k->bcanon == DKIM_RELAXED ? "relaxed" : "simple") < 0)
		goto oom;
	rc |= add_folded(&v, &col, tag);
	free(tag);
	tag = NULL;
	if (asprintf(&tag, "d=%s;", k->domain) < 0)
		goto oom;
	rc |= add_folded(&v, &col, tag);
	free(tag);
	tag = NULL;
	if (asprintf(&tag, "s=%s;", k->selector) < 0)
		goto oom;
	rc |= add_folded(&v, &col, tag);
	free(tag);
	tag = NULL;
	if (asprintf(&tag, "t=%lld;", (long long)now) < 0)
		goto oom;
	rc |= add_folded(&v, &col, tag);
	free(tag);
	tag = NULL;
	/* h= may be long: fold between names. */
	{
		const char *p = hlist.data ? hlist.data : "";
		rc |= add_folded(&v, &col, "h=");
		while (*p) {
			const char *e = strchr(p, ':');
			size_t n = e ? (size_t)(e - p) + 1 : strlen(p);
			if (col + n > 76) {
				rc |= sbuf_adds(&v, "\n\t");
				col = 8;
			}
			rc |= sbuf_add(&v, p, n);
			col += n;
			p += n;
		}
		rc |= sbuf_addc(&v, ';');
		col++;
	}
	if (asprintf(&tag, "bh=%s;", bh64) < 0)
		goto oom;
	rc |= add_folded(&v, &col, tag);
	free(tag);
	tag = NULL;
	rc |= sbuf_adds(&v, "\n\tb=");
	rc |= sbuf_add(&v, "", 1);      /* NUL-terminated for the canonicaliser */
	if (rc)
		goto oom;
	v.len--;
	if (dkim_canon_header(&hdata, k->hcanon, "DKIM-Signature", v.data, 0) != 0)
		goto oom;
	/* Sign: RSA over the data; Ed25519 over its SHA-256 (RFC 8463). */
	if (k->alg == DKIM_ED25519_SHA256) {
		unsigned int hl = 0;
		ok = EVP_Digest(hdata.data, hdata.len, hash, &hl, dkim_sha256(), NULL) == 1 &&
		    EVP_DigestSignInit(ctx, NULL, NULL, NULL, k->key) == 1 &&
		    EVP_DigestSign(ctx, NULL, &siglen, hash, hl) == 1 && (sig = malloc(siglen)) != NULL &&
		    EVP_DigestSign(ctx, sig, &siglen, hash, hl) == 1;
	} else {
		ok = EVP_DigestSignInit(ctx, NULL, dkim_sha256(), NULL, k->key) == 1 &&
		    EVP_DigestSign(ctx, NULL, &siglen, (const unsigned char *)hdata.data, hdata.len) == 1 &&
		    (sig = malloc(siglen)) != NULL &&
		    EVP_DigestSign(ctx, sig, &siglen, (const unsigned char *)hdata.data, hdata.len) == 1;
	}
	if (!ok) {
		if (asprintf(err, "DKIM signing with the key for %s (selector %s) failed", k->domain, k->selector) < 0)
			*err = NULL;
		goto out;
	}
	if ((sig64 = b64(sig, siglen)) == NULL)
		goto oom;
	/* b= folded in lines of 64. */
	{
		size_t blen = strlen(sig64);
		for (i = 0; i < blen; i += 64) {
			if (i)
				rc |= sbuf_adds(&v, "\n\t  ");
			rc |= sbuf_add(&v, sig64 + i, blen - i < 64 ? blen - i : 64);
		}
	}
	if (rc || sbuf_add(&v, "", 1) != 0)
		goto oom;
	value = sbuf_steal(&v);
	goto out;
oom:
	*err = strdup("out of memory signing with DKIM");
out:
	if (value == NULL && *err == NULL)
		*err = strdup("DKIM signing failed");
	EVP_MD_CTX_free(ctx);
	free(used);
	free(bh64);
	free(sig64);
	free(sig);
	free(tag);
	sbuf_free(&v);
	sbuf_free(&hdata);
	sbuf_free(&hlist);
	return value;
}
