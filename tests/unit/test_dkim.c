/* test_dkim.c - DKIM verification: tag-lists, canonicalisation (RFC 6376
 * 3.4), key records, signature fields, the RFC 8463 Appendix A vector, and
 * the verifier's outcomes on changed messages and keys. DNS is a table
 * here; tests/e2e/test-dkim-postfix.sh uses a real server. */
#include "build-config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sys/stat.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "common/buf.h"
#include "dkim/dkim.h"
#include "dns/resolver.h"
#include "rules/policy.h"
#include "testutil.h"

/* ---- tag-lists ------------------------------------------------------------ */

START_TEST(test_tags)
{
	struct dkim_tags t;
	char *err = NULL;
	const char *s = " v = 1 ;\r\n\ta=rsa-sha256; unknown=x y;b=ab\r\n cd ;";

	ck_assert_int_eq(dkim_tags_parse(s, strlen(s), &t, &err), 0);
	ck_assert_uint_eq(t.n, 4);
	ck_assert_str_eq(dkim_tag_get(&t, "v")->value, "1");
	ck_assert_str_eq(dkim_tag_get(&t, "a")->value, "rsa-sha256");
	ck_assert_str_eq(dkim_tag_get(&t, "unknown")->value, "x y");
	ck_assert_str_eq(dkim_tag_get(&t, "b")->value, "ab\r\n cd");
	/* The raw span of b= reaches the ';', white space included. */
	ck_assert_int_eq(s[dkim_tag_get(&t, "b")->vend], ';');
	ck_assert_int_eq(s[dkim_tag_get(&t, "b")->vstart - 1], '=');
	dkim_tags_free(&t);

	static const struct {
		const char *in;
		const char *err;
	} bad[] = {
		{ "a=1; a=2", "duplicate tag a" },
		{ "a=1;; b=2", "empty tag-spec" },
		{ "a=1; b", "without '='" },
		{ "=1", "valid name" },
		{ "1a=1", "valid name" },
		{ "a-b=1", "invalid character" },
		{ "a=x\001y", "control character" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(dkim_tags_parse(bad[i].in, strlen(bad[i].in), &t, &err) == -1, "accepted: %s", bad[i].in);
		ck_assert_msg(err && strstr(err, bad[i].err), "%s: got %s, want %s", bad[i].in, err, bad[i].err);
		free(err);
		err = NULL;
	}
	/* Too many tags. */
	struct sbuf many;
	sbuf_init(&many, 0);
	for (int i = 0; i < DKIM_MAX_TAGS + 1; i++)
		sbuf_printf(&many, "t%d=x;", i);
	ck_assert_int_eq(dkim_tags_parse(many.data, many.len, &t, &err), -1);
	ck_assert_ptr_nonnull(strstr(err, "too many"));
	free(err);
	sbuf_free(&many);
	/* Empty and trailing semicolons are fine. */
	ck_assert_int_eq(dkim_tags_parse("", 0, &t, &err), 0);
	ck_assert_uint_eq(t.n, 0);
	ck_assert_int_eq(dkim_tags_parse("a=;", 3, &t, &err), 0);
	ck_assert_str_eq(t.v[0].value, "");
	dkim_tags_free(&t);
}
END_TEST

/* ---- canonicalisation ---------------------------------------------------- */

static void
collect(void *arg, const char *p, size_t n)
{
	sbuf_add(arg, p, n);
}

/* Canonicalise body in pieces of chunk bytes (0: at once). */
static char *
canon_body(enum dkim_canon c, const char *body, size_t chunk)
{
	struct dkim_body_canon b;
	struct sbuf out;
	size_t len = strlen(body), off = 0;

	sbuf_init(&out, 0);
	sbuf_add(&out, "", 0);
	dkim_body_init(&b, c, collect, &out);
	if (chunk == 0)
		chunk = len ? len : 1;
	while (off < len) {
		size_t n = len - off < chunk ? len - off : chunk;
		dkim_body_feed(&b, body + off, n);
		off += n;
	}
	dkim_body_finish(&b);
	ck_assert_uint_eq(b.out, out.len);
	return sbuf_steal(&out);
}

START_TEST(test_canon_rfc_example)
{
	/* RFC 6376 3.4.6. */
	struct sbuf h;
	sbuf_init(&h, 0);
	dkim_canon_header(&h, DKIM_RELAXED, "A", " X", 1);
	dkim_canon_header(&h, DKIM_RELAXED, "B", " Y\t\r\n\tZ  ", 1);
	sbuf_add(&h, "", 1);
	ck_assert_str_eq(h.data, "a:X\r\nb:Y Z\r\n");
	sbuf_free(&h);
	sbuf_init(&h, 0);
	dkim_canon_header(&h, DKIM_SIMPLE, "A", " X", 1);
	dkim_canon_header(&h, DKIM_SIMPLE, "B", " Y\t\n\tZ  ", 1);     /* an LF from the MTA becomes CRLF */
	sbuf_add(&h, "", 1);
	ck_assert_str_eq(h.data, "A: X\r\nB: Y\t\r\n\tZ  \r\n");
	sbuf_free(&h);

	const char *body = " C \r\nD \t E\r\n\r\n\r\n";
	for (size_t chunk = 0; chunk <= 4; chunk++) {
		char *r = canon_body(DKIM_RELAXED, body, chunk), *s = canon_body(DKIM_SIMPLE, body, chunk);
		ck_assert_str_eq(r, " C\r\nD E\r\n");
		ck_assert_str_eq(s, " C \r\nD \t E\r\n");
		free(r);
		free(s);
	}
}
END_TEST

START_TEST(test_canon_body_edges)
{
	static const struct {
		int canon;
		const char *in, *want;
	} cases[] = {
		{ DKIM_SIMPLE, "", "\r\n" },                     /* empty body: one CRLF */
		{ DKIM_RELAXED, "", "" },                        /* erratum 1384 */
		{ DKIM_SIMPLE, "\r\n\r\n", "\r\n" },
		{ DKIM_RELAXED, "\r\n \r\n", "" },
		{ DKIM_SIMPLE, "abc", "abc\r\n" },               /* missing final CRLF */
		{ DKIM_RELAXED, "abc  ", "abc\r\n" },
		{ DKIM_SIMPLE, "a\nb\n\n", "a\r\nb\r\n" },       /* bare LF (a file) */
		{ DKIM_RELAXED, "a\rb\r\n", "a\rb\r\n" },        /* a bare CR is text */
		{ DKIM_SIMPLE, "a\r", "a\r\r\n" },
		{ DKIM_SIMPLE, "  \r\n", "  \r\n" },             /* white space is text in simple */
		{ DKIM_RELAXED, "\t x\t y \r\n\r\nz\r\n", " x y\r\n\r\nz\r\n" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		for (size_t chunk = 0; chunk <= 3; chunk++) {
			char *got = canon_body(cases[i].canon, cases[i].in, chunk);
			ck_assert_msg(strcmp(got, cases[i].want) == 0, "case %zu chunk %zu: got [%s], want [%s]", i, chunk, got,
			    cases[i].want);
			free(got);
		}
}
END_TEST

/* ---- key records ------------------------------------------------------------ */

static const char *ED_KEY = "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
static const char *RSA_KEY = "v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQiY/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB";

static char *rsa_record_of(EVP_PKEY *k);

/* An RSA public key record of the given size and public exponent (0: 65537), made here. */
static char *
rsa_record_e(int bits, unsigned long long e)
{
	EVP_PKEY *k = NULL;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	BIGNUM *bn = BN_new();

	ck_assert(ctx && bn && EVP_PKEY_keygen_init(ctx) == 1 && EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, bits) == 1);
	ck_assert(BN_set_word(bn, e ? e : 65537) == 1 && EVP_PKEY_CTX_set1_rsa_keygen_pubexp(ctx, bn) == 1);
	ck_assert(EVP_PKEY_keygen(ctx, &k) == 1);
	EVP_PKEY_CTX_free(ctx);
	BN_free(bn);
	return rsa_record_of(k);
}

static char *
rsa_record(int bits)
{
	return rsa_record_e(bits, 0);
}

static char *
rsa_record_of(EVP_PKEY *k)
{
	unsigned char *der = NULL;
	int len = i2d_PUBKEY(k, &der);
	char *b64 = malloc((size_t)len * 2 + 4), *rec = NULL;

	ck_assert_int_gt(len, 0);
	EVP_EncodeBlock((unsigned char *)b64, der, len);
	ck_assert_int_ge(asprintf(&rec, "v=DKIM1; p=%s", b64), 0);
	OPENSSL_free(der);
	free(b64);
	EVP_PKEY_free(k);
	return rec;
}

START_TEST(test_key_records)
{
	struct dkim_key k;
	char *err = NULL;

	ck_assert_int_eq(dkim_key_parse(ED_KEY, &k, &err), 0);
	ck_assert_int_eq(k.alg_key, DKIM_ED25519_SHA256);
	dkim_key_free(&k);
	ck_assert_int_eq(dkim_key_parse(RSA_KEY, &k, &err), 0);
	ck_assert_int_eq(k.alg_key, DKIM_RSA_SHA256);
	ck_assert_int_eq(k.bits, 1024);
	dkim_key_free(&k);
	ck_assert_int_eq(dkim_key_parse("k=ed25519; t=y:s; h=sha1:sha256; s=email; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
	    &k, &err), 0);
	ck_assert(k.testing && k.strict);
	dkim_key_free(&k);

	static const struct {
		const char *rec, *err;
	} bad[] = {
		{ "v=DKIM1; p=", "revoked" },
		{ "k=rsa; v=DKIM1; p=AAAA", "v= is not DKIM1" },
		{ "v=DKIM2; p=AAAA", "v= is not DKIM1" },
		{ "v=DKIM1; h=sha1; p=AAAA", "sha256" },
		{ "v=DKIM1; s=other; p=AAAA", "email" },
		{ "v=DKIM1; k=dsa; p=AAAA", "unknown key type" },
		{ "v=DKIM1; k=rsa", "no p=" },
		{ "v=DKIM1; p=!!!!", "not base64" },
		{ "v=DKIM1; p=AAAA", "not an RSA public key" },
		{ "v=DKIM1; k=ed25519; p=AAAA", "32 bytes" },
		{ "hello world", "key record" },
		{ "v=DKIM1; p=a; p=b", "duplicate" },
		{ "averyveryverylongtagname=1; v=DKIM1; p=AAAA", "v= is not DKIM1" },
		{ "v=DKIM1; k=rsa; p=AA==AAAA", "not base64" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(dkim_key_parse(bad[i].rec, &k, &err) == -1, "accepted: %s", bad[i].rec);
		ck_assert_msg(err && strstr(err, bad[i].err), "%s: got %s, want %s", bad[i].rec, err, bad[i].err);
		free(err);
		err = NULL;
	}
	/* RFC 8301: RSA keys under 1024 bits are refused. */
	char *small = rsa_record(768);
	ck_assert_int_eq(dkim_key_parse(small, &k, &err), -1);
	ck_assert_ptr_nonnull(strstr(err, "768 bits"));
	free(err);
	free(small);
	/* A public exponent over 32 bits makes every verification as dear as a signature: refused. */
	char *bige = rsa_record_e(2048, (1ULL << 35) + 1);
	ck_assert_int_eq(dkim_key_parse(bige, &k, &err), -1);
	ck_assert_ptr_nonnull(strstr(err, "exponent"));
	free(err);
	free(bige);
	/* RFC 8301's upper bound. */
	char *big = rsa_record(6144);
	ck_assert_int_eq(dkim_key_parse(big, &k, &err), -1);
	ck_assert_ptr_nonnull(strstr(err, "6144 bits"));
	free(err);
	free(big);
}
END_TEST

/* ---- signature fields ------------------------------------------------------- */

START_TEST(test_sig_fields)
{
	struct dkim_sig s;
	char *err = NULL;
	const char *good = " v=1; a=rsa-sha256; c=relaxed; d=Example.COM; s=sel; h=From:To : subject;"
	    " bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=; b=AAAA; l=10; t=100; x=200; i=joe@mail.example.com";

	ck_assert_int_eq(dkim_sig_parse(good, &s, &err), 0);
	ck_assert_str_eq(s.d, "example.com");
	ck_assert_int_eq(s.hcanon, DKIM_RELAXED);
	ck_assert_int_eq(s.bcanon, DKIM_SIMPLE);
	ck_assert_uint_eq(s.h.n, 3);
	ck_assert_str_eq(s.h.v[2], "subject");
	ck_assert(s.has_l && s.l == 10 && s.t == 100 && s.x == 200);
	dkim_sig_free(&s);

	static const struct {
		const char *sig, *err;
	} bad[] = {
		{ "v=1; a=rsa-sha1; d=e.com; s=s; h=from; bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=; b=AAAA", "rsa-sha1" },
		{ "v=2; a=rsa-sha256; d=e.com; s=s; h=from; bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=; b=AAAA", "v=" },
		{ "v=1; a=rsa-sha256; d=e.com; s=s; h=to; bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=; b=AAAA", "From" },
		{ "v=1; a=rsa-sha256; d=e.com; s=s; h=from; bh=AAAA; b=AAAA", "bh=" },
		{ "v=1; a=rsa-sha256; d=e.com; s=s; h=from; bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=", "b=" },
		{ "v=1; a=rsa-sha256; s=s; h=from; bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=; b=AAAA", "no d=" },
		{ "v=1; a=rsa-sha256; d=e.com; s=s; h=from; bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=; b=AAAA; i=@other.com",
		  "i= is not within d=" },
		{ "v=1; a=rsa-sha256; d=e.com; s=s; h=from; bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=; b=AAAA; t=10; x=5",
		  "x= is not after t=" },
		{ "v=1; a=rsa-sha256; d=e.com; s=s; h=from; bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=; b=AAAA; c=fancy",
		  "canonicalization" },
		{ "v=1; a=rsa-sha256; d=e.com; s=s; h=from; bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=; b=AAAA; q=http",
		  "dns/txt" },
		{ "v=1; a=rsa-sha256; d=e.com; s=s; h=from; bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=; b=AAAA; q=xdns/txtx",
		  "dns/txt" },
		{ "v=1; a=rsa-sha256; d=e.com; s=s; h=from; bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=; b=AAAA; t=10; x=10",
		  "x= is not after t=" },
		{ "v=1; a=rsa-sha256; d=e..com; s=s; h=from; bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=; b=AAAA",
		  "not a domain" },
		{ "v=1; a=rsa-sha256; d=e.com; s=s; h=from; bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=; b=AAAA; l=-1",
		  "l=" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(dkim_sig_parse(bad[i].sig, &s, &err) == -1, "accepted: %s", bad[i].sig);
		ck_assert_msg(err && strstr(err, bad[i].err), "%s: got %s, want %s", bad[i].sig, err, bad[i].err);
		free(err);
		err = NULL;
		dkim_sig_free(&s);
	}
}
END_TEST

/* ---- the verifier -------------------------------------------------------------- */

/* DNS as a table: name -> records ("" entries are left out); a name
 * listed with TEMPFAIL fails temporarily. */
struct fake_dns {
	const char *name;
	const char *recs[3];
	int status;
};
static const struct fake_dns *dns_table;

static void *
fake_start(void *arg, const char *name)
{
	return strdup(name);
}

static void
fake_wait(void *arg, void *h, struct dns_txt *out)
{
	memset(out, 0, sizeof(*out));
	out->status = DNS_NOTFOUND;
	out->why = strdup("NXDOMAIN");
	for (const struct fake_dns *d = dns_table; d && d->name; d++) {
		if (strcmp(d->name, h) != 0)
			continue;
		out->status = d->status;
		free(out->why);
		out->why = d->status == DNS_TEMPFAIL ? strdup("SERVFAIL") : NULL;
		out->records = calloc(3, sizeof(char *));
		for (int i = 0; i < 3 && d->recs[i]; i++)
			out->records[out->nrecords++] = strdup(d->recs[i]);
	}
	free(h);
}

static void
fake_cancel(void *arg, void *h)
{
	free(h);
}

static const struct fake_dns rfc_dns[] = {
	{ "brisbane._domainkey.football.example.com", { NULL }, DNS_FOUND },
	{ "test._domainkey.football.example.com", { NULL }, DNS_FOUND },
	{ NULL, { NULL }, 0 },
};

/* Split a CRLF message into header fields (raw values) and its body. */
static size_t
split_message(char *msg, struct header *h, size_t max, const char **body)
{
	size_t n = 0;
	char *p = msg;

	while (*p && !(p[0] == '\r' && p[1] == '\n')) {
		char *colon = strchr(p, ':'), *e = p;
		for (;;) {
			e = strstr(e, "\r\n");
			if (e[2] != ' ' && e[2] != '\t')
				break;
			e += 2;
		}
		*colon = '\0';
		*e = '\0';
		ck_assert_uint_lt(n, max);
		h[n].name = p;
		h[n].value = colon + 1;
		n++;
		p = e + 2;
	}
	*body = p + 2;
	return n;
}

static char *
read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	struct sbuf b;
	char buf[4096];
	size_t n;

	ck_assert_ptr_nonnull(f);
	sbuf_init(&b, 0);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		sbuf_add(&b, buf, n);
	fclose(f);
	return sbuf_steal(&b);
}

/* Verify msg (edited by replacing from with to, when given) against table. */
static char *
verify_text(const char *from, const char *to, const struct fake_dns *table, unsigned maxsig, size_t chunk,
    int *results, size_t *nres, size_t *unchecked)
{
	char *msg = read_file(SRCDIR "/tests/data/dkim/rfc8463.eml");
	struct header h[32];
	const char *body;
	struct dkim_opts o = { maxsig, 1 };
	struct dkim_lookup lk = { fake_start, fake_wait, fake_cancel, NULL };
	struct sbuf why;

	if (from) {
		char *at = strstr(msg, from), *edited = NULL;
		ck_assert_ptr_nonnull(at);
		ck_assert_int_ge(asprintf(&edited, "%.*s%s%s", (int)(at - msg), msg, to, at + strlen(from)), 0);
		free(msg);
		msg = edited;
	}
	dns_table = table;
	size_t nh = split_message(msg, h, 32, &body);
	struct dkim_verifier *v = dkim_verify_start(h, nh, &o, &lk, 1700000000);
	ck_assert_ptr_nonnull(v);
	size_t len = strlen(body), off = 0;
	if (chunk == 0)
		chunk = len;
	while (off < len) {
		size_t k = len - off < chunk ? len - off : chunk;
		dkim_verify_body(v, body + off, k);
		off += k;
	}
	const struct dkim_outcome *out = dkim_verify_finish(v, nres, unchecked);
	sbuf_init(&why, 0);
	for (size_t i = 0; i < *nres; i++) {
		results[i] = out[i].result;
		sbuf_printf(&why, "%s%s(%s)", i ? " " : "", dkim_result_name(out[i].result), out[i].reason ? out[i].reason : "");
	}
	char *ar = dkim_authres("mx.example.net", out, *nres, *unchecked);
	sbuf_printf(&why, "\n%s", ar);
	free(ar);
	dkim_verify_free(v);
	free(msg);
	return sbuf_steal(&why);
}

static struct fake_dns *
rfc_table(const char *ed, const char *rsa, int status)
{
	static struct fake_dns t[3];
	memcpy(t, rfc_dns, sizeof(rfc_dns));
	t[0].recs[0] = ed;
	t[1].recs[0] = rsa;
	t[0].status = t[1].status = status;
	return t;
}

START_TEST(test_rfc8463_vector)
{
	int r[8];
	size_t n, unchecked;

	/* Appendix A: both signatures verify, whatever the body's chunking. */
	for (size_t chunk = 0; chunk <= 7; chunk += 7) {
		char *why = verify_text(NULL, NULL, rfc_table(ED_KEY, RSA_KEY, DNS_FOUND), 5, chunk ? chunk : 0, r, &n,
		    &unchecked);
		ck_assert_msg(n == 2 && r[0] == DKIM_PASS && r[1] == DKIM_PASS, "%s", why);
		ck_assert_ptr_nonnull(strstr(why, " mx.example.net;\n\tdkim=pass header.d=football.example.com "
		    "header.s=brisbane header.i=@football.example.com header.b=\"/gCrinpc\";"));
		free(why);
	}
	/* Byte by byte. */
	char *why = verify_text(NULL, NULL, rfc_table(ED_KEY, RSA_KEY, DNS_FOUND), 5, 1, r, &n, &unchecked);
	ck_assert_msg(r[0] == DKIM_PASS && r[1] == DKIM_PASS, "%s", why);
	free(why);
}
END_TEST

START_TEST(test_verifier_outcomes)
{
	static const struct {
		const char *from, *to;      /* an edit of the message */
		const char *ed, *rsa;       /* key records */
		int status;
		int want0, want1;
		const char *reason;         /* in the first outcome's reason */
	} cases[] = {
		/* Body changed: body hash. */
		{ "hungry yet?", "hungry now?", NULL, NULL, DNS_FOUND, DKIM_FAIL, DKIM_FAIL, "body hash mismatch" },
		/* A signed header changed: the signature. */
		{ "Subject: Is dinner ready?", "Subject: Is lunch ready?", NULL, NULL, DNS_FOUND, DKIM_FAIL, DKIM_FAIL,
		  "signature did not verify" },
		/* Relaxed canonicalisation: white space changes do not matter. */
		{ "Subject: Is dinner ready?", "Subject:   Is  dinner\tready?  ", NULL, NULL, DNS_FOUND, DKIM_PASS, DKIM_PASS, NULL },
		{ "the game.  Are", "the game. Are", NULL, NULL, DNS_FOUND, DKIM_PASS, DKIM_PASS, NULL },
		/* An unsigned header may be added; a second From (over-signed) may not. */
		{ "To: Suzie", "X-Added: yes\r\nTo: Suzie", NULL, NULL, DNS_FOUND, DKIM_PASS, DKIM_PASS, NULL },
		{ "To: Suzie", "From: evil@example.org\r\nTo: Suzie", NULL, NULL, DNS_FOUND, DKIM_FAIL, DKIM_FAIL,
		  "signature did not verify" },
		/* Keys: DNS failure, missing, revoked, wrong type, several records. */
		{ NULL, NULL, NULL, NULL, DNS_TEMPFAIL, DKIM_TEMPERROR, DKIM_TEMPERROR, "key lookup failed: SERVFAIL" },
		{ NULL, NULL, NULL, NULL, DNS_NOTFOUND, DKIM_PERMERROR, DKIM_PERMERROR, "no key for brisbane" },
		{ NULL, NULL, "v=DKIM1; k=ed25519; p=", "v=DKIM1; p=", DNS_FOUND, DKIM_PERMERROR, DKIM_PERMERROR, "revoked" },
		{ NULL, NULL, "v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQiY/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB",
		  NULL, DNS_FOUND, DKIM_PERMERROR, DKIM_PASS, "key type does not match" },
		{ NULL, NULL, "not a key", NULL, DNS_FOUND, DKIM_PERMERROR, DKIM_PASS, "key record" },
		/* A signature with expiry in the past; a broken signature field. */
		{ "t=1528637909; h=from : to :", "t=1528637909; x=1528637910; h=from : to :", NULL, NULL, DNS_FOUND,
		  DKIM_PERMERROR, DKIM_PASS, "expired" },
		{ "a=ed25519-sha256", "a=rsa-sha1", NULL, NULL, DNS_FOUND, DKIM_PERMERROR, DKIM_PASS, "rsa-sha1" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int r[8];
		size_t n, unchecked;
		char *why = verify_text(cases[i].from, cases[i].to,
		    rfc_table(cases[i].ed ? cases[i].ed : ED_KEY, cases[i].rsa ? cases[i].rsa : RSA_KEY, cases[i].status),
		    5, 0, r, &n, &unchecked);
		ck_assert_msg(n == 2 && r[0] == cases[i].want0 && r[1] == cases[i].want1, "case %zu: %s", i, why);
		if (cases[i].reason)
			ck_assert_msg(strstr(why, cases[i].reason) != NULL, "case %zu: want reason %s in %s", i, cases[i].reason, why);
		free(why);
	}
	/* A second key record that works is enough. */
	{
		struct fake_dns t[3];
		int r[8];
		size_t n, unchecked;
		memcpy(t, rfc_dns, sizeof(rfc_dns));
		t[0].recs[0] = "v=DKIM1; k=ed25519; p=";
		t[0].recs[1] = ED_KEY;
		t[1].recs[0] = RSA_KEY;
		char *why = verify_text(NULL, NULL, t, 5, 0, r, &n, &unchecked);
		ck_assert_msg(r[0] == DKIM_PASS && r[1] == DKIM_PASS, "%s", why);
		free(why);
	}
	/* max_signatures: the second is left unchecked, and the A-R says so. */
	{
		int r[8];
		size_t n, unchecked;
		char *why = verify_text(NULL, NULL, rfc_table(ED_KEY, RSA_KEY, DNS_FOUND), 1, 0, r, &n, &unchecked);
		ck_assert_msg(n == 1 && unchecked == 1 && r[0] == DKIM_PASS, "%s", why);
		ck_assert_ptr_nonnull(strstr(why, "1 more DKIM signature not checked"));
		free(why);
	}
}
END_TEST

/* ---- Authentication-Results --------------------------------------------------- */

START_TEST(test_authres)
{
	struct dkim_outcome o[2];

	memset(o, 0, sizeof(o));
	o[0].result = DKIM_FAIL;
	o[0].reason = "body (hash) mismatch \\ \x01";
	o[0].d = "example.com";
	o[0].i = "joe@example.com";
	o[0].b8 = "ab/+=cde";
	o[1].result = DKIM_PERMERROR;
	char *v = dkim_authres("mx.example.net", o, 2, 0);
	ck_assert_str_eq(v, " mx.example.net;\n\tdkim=fail (body \\(hash\\) mismatch \\\\ ?) header.d=example.com "
	    "header.i=joe@example.com header.b=\"ab/+=cde\";\n\tdkim=permerror");
	free(v);
	v = dkim_authres("mx.example.net", NULL, 0, 0);
	ck_assert_str_eq(v, " mx.example.net;\n\tdkim=none");
	free(v);

	ck_assert(dkim_authres_is_ours(" mx.example.net; dkim=pass", "mx.example.net"));
	ck_assert(dkim_authres_is_ours(" (forged) MX.Example.NET;dkim=pass", "mx.example.net"));
	ck_assert(dkim_authres_is_ours(" \"mx.example.net\"; none", "mx.example.net"));
	ck_assert(dkim_authres_is_ours("\r\n\tmx.example.net 1; dkim=pass", "mx.example.net"));
	ck_assert(!dkim_authres_is_ours(" mx.example.net.evil; dkim=pass", "mx.example.net"));
	ck_assert(!dkim_authres_is_ours(" other.example; dkim=pass (mx.example.net)", "mx.example.net"));
	ck_assert(!dkim_authres_is_ours(" (unclosed mx.example.net;", "mx.example.net"));
	ck_assert(dkim_authres_is_ours(" \"mx.example\\.net\"; dkim=pass", "mx.example.net"));
	ck_assert(!dkim_authres_is_ours(" \"mx.example.net.x\"; dkim=pass", "mx.example.net"));

	char *d = dkim_org_domain("Mail.Bank.Example");
	ck_assert_str_eq(d, "bank.example");
	free(d);
	d = dkim_org_domain("a.b.example.co.uk");
	ck_assert_str_eq(d, "example.co.uk");
	free(d);
	d = dkim_org_domain("co.uk");
	ck_assert_str_eq(d, "co.uk");
	free(d);
}
END_TEST

START_TEST(test_txt_rdata)
{
	/* Several character-strings are joined; a length past the end, or a NUL, is refused. */
	char *r = dns_txt_rdata((const unsigned char *)"\003abc\002de\000", 8);
	ck_assert_str_eq(r, "abcde");
	free(r);
	ck_assert_ptr_null(dns_txt_rdata((const unsigned char *)"\005abc", 4));
	ck_assert_ptr_null(dns_txt_rdata((const unsigned char *)"\003a\000c", 4));
	r = dns_txt_rdata((const unsigned char *)"", 0);
	ck_assert_str_eq(r, "");
	free(r);
	ck_assert(dns_nameserver_valid("127.0.0.1"));
	ck_assert(dns_nameserver_valid("127.0.0.1@5353"));
	ck_assert(dns_nameserver_valid("::1@53"));
	ck_assert(!dns_nameserver_valid("127.0.0.1@0"));
	ck_assert(!dns_nameserver_valid("127.0.0.1@70000"));
	ck_assert(!dns_nameserver_valid("localhost"));
	ck_assert(!dns_nameserver_valid("@53"));
}
END_TEST

/* ---- rules on the results -------------------------------------------------------- */

#define DKIM_CFG TU_ORG "dkim: { verify_inbound: true, authserv_id: mx.example.com }\n"

/* Evaluate one condition over outcomes and a From field. */
static int
eval_cond(const char *cond, const struct dkim_outcome *o, size_t n, int checked, const char *from)
{
	char *yaml = NULL;
	struct seal_config *cfg;
	struct msg_facts f;
	struct decision d;
	struct header h[2] = { { "From", NULL }, { "From", NULL } };
	char *copy = from ? strdup(from) : NULL, *second = copy ? strstr(copy, "\nFrom:") : NULL;
	int fired;

	h[0].value = copy;
	if (second) {
		*second = '\0';
		h[1].value = second + 6;
	}

	ck_assert_int_ge(asprintf(&yaml, DKIM_CFG "rules:\n  - name: r\n    if: %s\n    then: { tag: { header: X-T, value: v } }\n",
	    cond), 0);
	cfg = tu_config(yaml);
	memset(&f, 0, sizeof(f));
	memset(&d, 0, sizeof(d));
	f.cfg = cfg;
	f.sender = "";
	f.direction = DIR_INBOUND;
	f.headers = h;
	f.nheaders = from ? (second ? 2 : 1) : 0;
	f.subject = "";
	f.dkim = o;
	f.ndkim = n;
	f.dkim_checked = checked;
	ck_assert_int_eq(policy_eval(cfg, &f, &d), 0);
	fired = d.nfired == 1;
	decision_free(&d);
	config_unref(cfg);
	free(yaml);
	free(copy);
	return fired;
}

START_TEST(test_dkim_conditions)
{
	struct dkim_outcome o[3];

	memset(o, 0, sizeof(o));
	o[0].result = DKIM_PASS;
	o[0].d = "mail.partner.example";
	o[1].result = DKIM_FAIL;
	o[1].d = "bank.example";
	o[1].reason = "body hash mismatch";
	o[2].result = DKIM_TEMPERROR;
	o[2].d = "other.example";

	static const struct {
		const char *cond, *from;
		int checked, want;
	} cases[] = {
		{ "{ dkim: { domain: bank.example, result: [fail, permerror, none] } }", " x@bank.example", 1, 1 },
		{ "{ dkim: { domain: bank.example } }", " x@bank.example", 1, 0 },
		{ "{ dkim: { domain: partner.example } }", " x@partner.example", 1, 1 },          /* subdomain */
		{ "{ dkim: { result: pass, domain: partner.example } }", " x@partner.example", 1, 1 },
		{ "{ dkim: { domain: PARTNER.example, result: [fail] } }", " x@partner.example", 1, 0 },
		{ "{ dkim: { domain: nobody.example, result: none } }", " x@partner.example", 1, 1 },
		{ "{ dkim: { aligned_with_from: true } }", " Boss <ceo@example.com>", 1, 0 },
		{ "{ not: { dkim: { aligned_with_from: true } } }", " Boss <ceo@example.com>", 1, 1 },
		{ "{ dkim: { aligned_with_from: true } }", " News <x@news.partner.example>", 1, 1 },  /* relaxed */
		{ "{ dkim: { aligned_with_from: true } }", " a@partner.example, b@partner.example", 1, 0 }, /* two authors */
		{ "{ dkim: { aligned_with_from: true } }", NULL, 1, 0 },
		{ "{ dkim: { aligned_with_from: true, result: [fail] } }", " x@bank.example", 1, 1 },
		{ "{ dkim: { result: pass } }", " x@bank.example", 1, 1 },                      /* any signature */
		{ "{ dkim: { domain: other.example, result: [temperror] } }", " x@bank.example", 1, 1 },
		/* Not verified (outbound): none. */
		{ "{ dkim: { domain: bank.example, result: none } }", " x@bank.example", 0, 1 },
		{ "{ dkim: { domain: partner.example } }", " x@partner.example", 0, 0 },
		/* from */
		{ "{ from: { in: organization } }", " Boss <ceo@example.com>", 1, 1 },
		{ "{ from: { in: organization } }", " x@bank.example", 1, 0 },
		{ "{ from: [bank.example] }", " \"Bank\" <alerts@mail.bank.example>", 1, 1 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		ck_assert_msg(eval_cond(cases[i].cond, o, 3, cases[i].checked, cases[i].from) == cases[i].want,
		    "case %zu: %s with From:%s: want %d", i, cases[i].cond, cases[i].from ? cases[i].from : "(none)",
		    cases[i].want);

	/* A pass with a key in testing mode counts as unsigned for rules (RFC 6376 3.6.1). */
	o[0].testing = 1;
	ck_assert(!eval_cond("{ dkim: { domain: partner.example } }", o, 3, 1, " x@partner.example"));
	ck_assert(eval_cond("{ dkim: { domain: partner.example, result: none } }", o, 3, 1, " x@partner.example"));
	o[0].testing = 0;
	/* Two From fields (one without an address GMime can read): no alignment. */
	{
		struct dkim_outcome one = { .result = DKIM_PASS, .d = "partner.example" };
		ck_assert(eval_cond("{ dkim: { aligned_with_from: true } }", &one, 1, 1, " x@partner.example"));
		ck_assert(!eval_cond("{ dkim: { aligned_with_from: true } }", &one, 1, 1, " x@partner.example\nFrom: ???"));
	}
	/* The best result of a domain counts: a pass beside a fail is a pass. */
	o[2].result = DKIM_PASS;
	o[2].d = "bank.example";
	ck_assert(!eval_cond("{ dkim: { domain: bank.example, result: [fail] } }", o, 3, 1, " x@bank.example"));
	ck_assert(eval_cond("{ dkim: { domain: bank.example } }", o, 3, 1, " x@bank.example"));
}
END_TEST

START_TEST(test_dkim_config_errors)
{
	static const struct {
		const char *yaml, *err;
	} cases[] = {
		{ TU_ORG "rules:\n  - name: r\n    if: { dkim: { domain: a.example } }\n    then: { reject: true }\n",
		  "needs dkim.verify_inbound" },
		{ DKIM_CFG "rules:\n  - name: r\n    if: { dkim: { aligned_with_from: false } }\n    then: { reject: true }\n",
		  "only true is meaningful" },
		{ DKIM_CFG "rules:\n  - name: r\n    if: { dkim: { result: [pass, broken] } }\n    then: { reject: true }\n",
		  "'broken' is not one of" },
		{ DKIM_CFG "rules:\n  - name: r\n    if: { dkim: { selector: x } }\n    then: { reject: true }\n",
		  "selector" },
		{ TU_ORG "dns: { nameservers: [\"127.0.0.1@99999\"] }\n", "not an IP address or address@port" },
		{ TU_ORG "dns: { timeout: 0s }\n", "out of range" },
		{ TU_ORG "dkim: { verify_inbound: maybe }\n", "not true or false" },
		{ TU_ORG "dkim: { authserv_id: \"mx example\" }\n", "must be a host name" },
		{ TU_ORG "dkim: { authserv_id: \"\" }\n", "must not be empty" },
		{ TU_ORG "dkim: { max_signatures: 0 }\n", "out of range" },
		{ TU_ORG "dkim: { unsigned_tail: maybe }\n", "not one of: policy|pass" },
		{ TU_ORG "dkm: { verify_inbound: true }\n", "did you mean 'dkim'" },
		{ TU_ORG "dkim: { keys: { domain: example.com } }\n", "expected a list" },
		{ TU_ORG "dkim: { keys: [ { domain: example.com, selector: s1 } ] }\n", "key: is required" },
		{ TU_ORG "dkim: { keys: [ { domain: 'not a domain', selector: s1, key: /x } ] }\n", "domain: is required" },
		{ TU_ORG "dkim: { keys: [ { domain: example.com, selector: s1, key: /nonexistent/k.pem } ] }\n",
		  "/nonexistent/k.pem" },
		{ TU_ORG "dkim: { keys: [ { domain: example.com, selector: s1, key: /x, canonicalization: fancy } ] }\n",
		  "canonicalization: expected" },
		{ TU_ORG "dkim: { keys: [ { domain: example.com, selector: s1, key: /x, algo: rsa } ] }\n", "algo" },
		{ TU_ORG "rules:\n  - name: r\n    then: { dkim_sign: true }\n", "needs a signing key (dkim.keys)" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *errors = NULL;
		struct seal_config *c = tu_load(cases[i].yaml, &errors);
		ck_assert_msg(c == NULL, "case %zu accepted", i);
		ck_assert_msg(errors && strstr(errors, cases[i].err), "case %zu: got %s, want %s", i, errors, cases[i].err);
		free(errors);
	}
	/* Defaults: off, 5 signatures, policy for unsigned tails, the host name. */
	struct seal_config *c = tu_config(TU_ORG);
	ck_assert(!c->dkim_verify && c->dkim_max_signatures == 5 && c->dkim_unsigned_tail == TAIL_POLICY);
	ck_assert(c->dkim_authserv_id && *c->dkim_authserv_id);
	ck_assert_ptr_null(c->resolver);
	config_unref(c);
}
END_TEST

/* ---- signing: a round trip through the verifier --------------------------------- */

static char *
pub_record(EVP_PKEY *k)
{
	unsigned char raw[64], *der = NULL;
	size_t rl = sizeof(raw);
	int len;
	char b64[2048], *rec = NULL;

	if (EVP_PKEY_get_base_id(k) == EVP_PKEY_ED25519) {
		ck_assert_int_eq(EVP_PKEY_get_raw_public_key(k, raw, &rl), 1);
		EVP_EncodeBlock((unsigned char *)b64, raw, (int)rl);
		ck_assert_int_ge(asprintf(&rec, "v=DKIM1; k=ed25519; p=%s", b64), 0);
	} else {
		len = i2d_PUBKEY(k, &der);
		ck_assert_int_gt(len, 0);
		EVP_EncodeBlock((unsigned char *)b64, der, len);
		OPENSSL_free(der);
		ck_assert_int_ge(asprintf(&rec, "v=DKIM1; k=rsa; p=%s", b64), 0);
	}
	return rec;
}

/* dkim.keys: real key files of the wrong kind are refused with their name. */
START_TEST(test_dkim_keys_config)
{
	char dir[] = "/tmp/sealdkimkeys-XXXXXX", *yaml = NULL, *errors = NULL, path[64];
	EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"), *rsa = EVP_RSA_gen(2048);
	struct seal_config *c;
	FILE *f;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/ec.pem", dir);
	f = fopen(path, "w");
	PEM_write_PrivateKey(f, ec, NULL, NULL, 0, NULL, NULL);
	fclose(f);
	chmod(path, 0600);
	snprintf(path, sizeof(path), "%s/rsa.pem", dir);
	f = fopen(path, "w");
	PEM_write_PrivateKey(f, rsa, NULL, NULL, 0, NULL, NULL);
	fclose(f);
	chmod(path, 0600);
	ck_assert_int_ge(asprintf(&yaml, TU_ORG "dkim:\n  keys:\n    - { domain: example.com, selector: s1, key: %s/ec.pem }\n", dir), 0);
	c = tu_load(yaml, &errors);
	ck_assert_ptr_null(c);
	ck_assert_msg(errors && strstr(errors, "must be an RSA key of 1024 to 4096 bits or an Ed25519 key"), "%s", errors);
	free(errors);
	free(yaml);
	/* A good one; a second key for the same domain is refused. */
	ck_assert_int_ge(asprintf(&yaml, TU_ORG "dkim:\n  keys:\n    - { domain: example.com, selector: s1, key: %s/rsa.pem }\n"
	    "    - { domain: Example.com, selector: s2, key: %s/rsa.pem }\n", dir, dir), 0);
	c = tu_load(yaml, &errors);
	ck_assert_ptr_null(c);
	ck_assert_msg(errors && strstr(errors, "has a key already"), "%s", errors);
	free(errors);
	free(yaml);
	ck_assert_int_ge(asprintf(&yaml, TU_ORG "dkim:\n  sign_outbound: true\n  keys:\n"
	    "    - { domain: example.com, selector: s1, key: %s/rsa.pem, canonicalization: simple/relaxed }\n", dir), 0);
	c = tu_config(yaml);
	ck_assert_uint_eq(c->ndkim_signers, 1);
	ck_assert(c->dkim_signers[0].hcanon == DKIM_SIMPLE && c->dkim_signers[0].bcanon == DKIM_RELAXED);
	ck_assert_ptr_eq(config_dkim_signer(c, "mail.example.com"), &c->dkim_signers[0]);
	ck_assert_ptr_null(config_dkim_signer(c, "example.org"));
	ck_assert(c->needs & NEED_ADD_HEADERS);
	config_unref(c);
	free(yaml);
	EVP_PKEY_free(ec);
	EVP_PKEY_free(rsa);
	ck_assert_int_ge(asprintf(&yaml, "rm -rf %s", dir), 0);
	ck_assert_int_eq(system(yaml), 0);
	free(yaml);
}
END_TEST

START_TEST(test_sign_roundtrip)
{
	static const int algs[] = { DKIM_RSA_SHA256, DKIM_ED25519_SHA256 };
	int alg = algs[_i / 2];
	enum dkim_canon canon = _i % 2 ? DKIM_RELAXED : DKIM_SIMPLE;
	EVP_PKEY *key = alg == DKIM_RSA_SHA256 ? EVP_RSA_gen(2048) : EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	struct dkim_signer k = { "example.com", "s1", alg, canon, canon, key };
	struct header h[8] = {
		{ "Received", " from a by b;\n\tSun, 22 Nov 2026 10:00:00 +0000" },
		{ "From", " Alice <alice@example.com>" },
		{ "To", " bob@partner.example,\n\tcarol@partner.example" },
		{ "Subject", " Quarterly  figures " },
		{ "Date", " Sun, 22 Nov 2026 10:00:00 +0000" },
		{ "X-Unsigned", " may change" },
	};
	const char *body = "Hello  Bob,\r\n\r\nfigures attached. \r\n\r\n";
	unsigned char bh[32];
	struct dkim_body_hasher *bhs = dkim_body_hasher_new(canon);
	char *err = NULL, *value, *rec = pub_record(key);
	struct fake_dns t[2] = { { "s1._domainkey.example.com", { rec }, DNS_FOUND }, { NULL, { NULL }, 0 } };
	struct dkim_opts o = { 5, 1 };
	struct dkim_lookup lk = { fake_start, fake_wait, fake_cancel, NULL };
	struct header all[9];
	size_t n, unchecked;

	ck_assert_ptr_nonnull(key);
	dkim_body_hasher_feed(bhs, body, strlen(body));
	ck_assert_int_eq(dkim_body_hasher_final(bhs, bh), 0);
	dkim_body_hasher_free(bhs);
	value = dkim_sign(&k, h, 6, bh, 1700000000, &err);
	ck_assert_msg(value != NULL, "%s", err);
	/* Over-signed: from twice; unsigned: Received and X-Unsigned; absent names not listed. */
	{
		char *flat = strdup(value), *w = flat;
		for (const char *p = value; *p; p++)
			if (*p != '\n' && *p != '\t')
				*w++ = *p;
		*w = '\0';
		ck_assert_msg(strstr(flat, "h=from:from:to:to:cc:subject:subject:date:date:reply-to:sender:x-sealmilter-sealed;")
		    != NULL, "%s", value);
		free(flat);
	}
	ck_assert_ptr_null(strstr(value, "x-unsigned"));
	for (const char *p = value; *p; p++)
		ck_assert_msg(*p != '\n' || p[1] == '\t', "folded with LF TAB: %s", value);

	dns_table = t;
	all[0].name = "DKIM-Signature";
	all[0].value = value;
	memcpy(all + 1, h, 6 * sizeof(h[0]));
	for (int variant = 0; variant < 3; variant++) {
		struct header copy[9];
		memcpy(copy, all, sizeof(all));
		if (variant == 1)
			copy[6].value = " changed, unsigned";       /* X-Unsigned may change */
		if (variant == 2)
			copy[4].value = " Quarterly figures!";      /* Subject may not */
		struct dkim_verifier *v = dkim_verify_start(copy, 7, &o, &lk, 1700000000);
		dkim_verify_body(v, body, strlen(body));
		const struct dkim_outcome *out = dkim_verify_finish(v, &n, &unchecked);
		ck_assert_uint_eq(n, 1);
		ck_assert_msg(out[0].result == (variant == 2 ? DKIM_FAIL : DKIM_PASS), "alg %d canon %d variant %d: %s (%s)\n%s",
		    alg, canon, variant, dkim_result_name(out[0].result), out[0].reason ? out[0].reason : "", value);
		dkim_verify_free(v);
	}
	free(value);
	free(rec);
	EVP_PKEY_free(key);
}
END_TEST

static Suite *
dkim_suite(void)
{
	Suite *s = suite_create("dkim");
	TCase *tc = tcase_create("dkim");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_tags);
	tcase_add_test(tc, test_canon_rfc_example);
	tcase_add_test(tc, test_canon_body_edges);
	tcase_add_test(tc, test_key_records);
	tcase_add_test(tc, test_sig_fields);
	tcase_add_test(tc, test_rfc8463_vector);
	tcase_add_test(tc, test_verifier_outcomes);
	tcase_add_test(tc, test_authres);
	tcase_add_test(tc, test_txt_rdata);
	tcase_add_test(tc, test_dkim_conditions);
	tcase_add_test(tc, test_dkim_config_errors);
	tcase_add_loop_test(tc, test_sign_roundtrip, 0, 4);
	tcase_add_test(tc, test_dkim_keys_config);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(dkim_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
