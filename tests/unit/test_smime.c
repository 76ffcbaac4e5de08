/* test_smime.c - S/MIME signing as a stream (seal/smime.c, smime_sign_stream): the
 * transport-safety decision and the canonical form do not depend on where the entity's
 * chunks break (a CR at the end of one chunk, "From " split over two); the signature
 * verifies with OpenSSL over exactly the part the output carries; only an unsafe entity
 * takes the re-encoding path (and its temp files); a line over 998 octets is refused.
 * S/MIME encryption as a stream (seal/smimeenc.c, smime_encrypt_stream): what OpenSSL
 * decrypts is the entity in canonical CRLF, exactly, for GCM and CBC, whatever the chunks. */
#include "build-config.h"

#include <check.h>
#include <openssl/cms.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/util.h"
#include "seal/smime.h"
#include "seal/smimeenc.h"

static struct smime_identity id;

/* A self-signed RSA-2048 signer; 0, or -1 (main reports it: no ck_assert outside a test). */
static int
make_identity(void)
{
	X509 *x = X509_new();
	X509_NAME *n;
	X509V3_CTX v3;
	X509_EXTENSION *ext;

	id.name = (char *)"test";
	id.key = EVP_RSA_gen(2048);
	if (id.key == NULL || x == NULL)
		return -1;
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, id.key);
	n = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"Test", -1, -1, 0);
	X509_set_issuer_name(x, n);
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, NID_key_usage, "critical,digitalSignature");
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	id.cert = x;
	id.chain = sk_X509_new_null();
	return X509_sign(x, id.key, EVP_sha256()) > 0 && id.chain ? 0 : -1;
}

/* A source that hands the entity over in chunks of a given size. */
struct src {
	const char *data;
	size_t len, chunk;
	int tmps;                 /* temp files asked for */
};

static int
src_each(void *ctx, int (*fn)(void *arg, const char *p, size_t n), void *arg)
{
	struct src *s = ctx;
	size_t off;

	for (off = 0; off < s->len; off += s->chunk)
		if (fn(arg, s->data + off, s->len - off < s->chunk ? s->len - off : s->chunk) != 0)
			return -1;
	return 0;
}

static int
src_tmp(void *ctx)
{
	((struct src *)ctx)->tmps++;
	return memfd_create("test", 0);
}

/* Sign; returns the output (malloc'd) or NULL with *err. */
static char *
sign(const char *entity, size_t chunk, int *tmps, char **err)
{
	struct src s = { entity, strlen(entity), chunk, 0 };
	struct smime_source src = { src_each, src_tmp, &s };
	int fd = memfd_create("out", 0);
	char *ctype = NULL, *out;
	off_t len;

	ck_assert_int_ge(fd, 0);
	if (smime_sign_stream(&id, &src, fd, &ctype, err) != 0) {
		close(fd);
		*tmps = s.tmps;
		return NULL;
	}
	free(ctype);
	len = lseek(fd, 0, SEEK_END);
	out = calloc(1, (size_t)len + 1);
	ck_assert_int_eq(pread(fd, out, (size_t)len, 0), len);
	close(fd);
	*tmps = s.tmps;
	return out;
}

/* The signed part of a multipart/signed body (between the first boundary
 * line and the CRLF before the second), and the signature (base64 text). */
static void
split_signed(const char *out, char **part, char **sig)
{
	const char *b = strstr(out, "\r\n--"), *e, *eol;
	char boundary[128];
	size_t bl;

	ck_assert_ptr_nonnull(b);
	b += 2;
	eol = strstr(b, "\r\n");
	bl = (size_t)(eol - b);
	ck_assert_uint_lt(bl, sizeof(boundary));
	memcpy(boundary, b, bl);
	boundary[bl] = '\0';
	e = strstr(eol + 2, boundary);
	ck_assert_ptr_nonnull(e);
	*part = strndup(eol + 2, (size_t)(e - 2 - (eol + 2)));
	b = strstr(e, "\r\n\r\n");
	ck_assert_ptr_nonnull(b);
	*sig = strndup(b + 4, (size_t)(strstr(b + 4, "--") - (b + 4)));
}

static void
verify(const char *part, const char *sig64)
{
	BIO *b64 = BIO_new(BIO_f_base64()), *mem = BIO_new_mem_buf(sig64, -1), *content;
	CMS_ContentInfo *cms;
	X509_STORE *st = X509_STORE_new();
	STACK_OF(X509) *certs = sk_X509_new_null();

	BIO_push(b64, mem);
	cms = d2i_CMS_bio(b64, NULL);
	ck_assert_ptr_nonnull(cms);
	content = BIO_new_mem_buf(part, -1);
	sk_X509_push(certs, id.cert);
	ck_assert_msg(CMS_verify(cms, certs, st, content, NULL, CMS_BINARY | CMS_NO_SIGNER_CERT_VERIFY) == 1,
	    "the signature does not verify over the signed part");
	CMS_ContentInfo_free(cms);
	BIO_free(content);
	BIO_free_all(b64);
	sk_X509_free(certs);
	X509_STORE_free(st);
}

START_TEST(test_chunks_do_not_matter)
{
	static const char entity[] = "Content-Type: text/plain\r\n\r\nfirst line\r\nbare CR\rFro\r\n"
	    "m here: not at the start\r\nxFrom \r\nlast";
	/* Safe as it is: only the line ends change, and exactly so. */
	static const char safe[] = "Content-Type: text/plain\n\nCRLF line\r\nLF line\n\nFro\r\nm x\nend";
	static const char safe_canon[] = "Content-Type: text/plain\r\n\r\nCRLF line\r\nLF line\r\n\r\nFro\r\nm x\r\nend";
	static const size_t chunks[] = { 1, 2, 3, 7, 64, 65536 };
	char *ref = NULL, *part, *sig, *err = NULL, *out;
	size_t i;
	int tmps;

	for (i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
		out = sign(safe, chunks[i], &tmps, &err);
		ck_assert_msg(out != NULL, "chunk %zu: %s", chunks[i], err ? err : "?");
		ck_assert_int_eq(tmps, 0);
		split_signed(out, &part, &sig);
		ck_assert_str_eq(part, safe_canon);
		verify(part, sig);
		free(part);
		free(sig);
		free(out);
	}
	for (i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
		out = sign(entity, chunks[i], &tmps, &err);
		ck_assert_msg(out != NULL, "chunk %zu: %s", chunks[i], err ? err : "?");
		split_signed(out, &part, &sig);
		verify(part, sig);
		/* A bare CR in the body is not safe: re-encoded through GMime (temp files). */
		ck_assert_int_eq(tmps, 2);
		if (ref == NULL)
			ref = strdup(part);
		else
			ck_assert_str_eq(part, ref);
		free(part);
		free(sig);
		free(out);
	}
	free(ref);
}
END_TEST

/* Each case: is it safe as it is (no re-encoding, no temp file), whatever the chunk size? */
START_TEST(test_safety_across_chunks)
{
	static const struct { const char *body; int safe; } cases[] = {
		{ "a\r\nb\r\n", 1 }, { "a\nb\n", 1 }, { "a \r\nb\r\n", 0 }, { "a\t\nb\n", 0 }, { "a\rb\r\n", 0 },
		{ "x\r\nFrom here\r\n", 0 }, { "x\r\nxFrom here\r\n", 1 }, { "x\r\nFrom\r\n", 1 },
		{ "x\r\nFro\r\nm here\r\n", 1 }, { "caf\xc3\xa9\r\n", 0 }, { "ends in space ", 0 }, { "ends in CR\r", 0 },
	};
	char entity[2048], *out, *err = NULL;
	size_t i, c;
	int tmps;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		for (c = 1; c <= 4; c++) {
			snprintf(entity, sizeof(entity), "Content-Type: text/plain\r\n\r\n%s", cases[i].body);
			out = sign(entity, c, &tmps, &err);
			ck_assert_msg(out != NULL, "case %zu: %s", i, err ? err : "?");
			ck_assert_msg((tmps == 0) == cases[i].safe, "case %zu (chunk %zu): temp files %d, want safe=%d", i,
			    c, tmps, cases[i].safe);
			free(out);
		}
}
END_TEST

START_TEST(test_line_limits)
{
	char *entity, *out, *err = NULL, *part, *sig;
	int tmps;

	/* 998 octets in a body line: safe and signed as it is. */
	ck_assert_int_ge(asprintf(&entity, "Content-Type: text/plain\r\n\r\n%0998d\r\n", 7), 0);
	out = sign(entity, 100, &tmps, &err);
	ck_assert_ptr_nonnull(out);
	ck_assert_int_eq(tmps, 0);
	split_signed(out, &part, &sig);
	verify(part, sig);
	free(part);
	free(sig);
	free(out);
	free(entity);
	/* 999 octets in the body: re-encoded (quoted-printable), then signed. */
	ck_assert_int_ge(asprintf(&entity, "Content-Type: text/plain\r\n\r\n%0999d\r\n", 7), 0);
	out = sign(entity, 100, &tmps, &err);
	ck_assert_ptr_nonnull(out);
	ck_assert_int_eq(tmps, 2);
	ck_assert_ptr_nonnull(strstr(out, "quoted-printable"));
	free(out);
	free(entity);
	/* 999 octets in a header field, which nothing can re-encode: refused. */
	ck_assert_int_ge(asprintf(&entity, "Content-Type: text/plain; x=%0990d\r\n\r\nbody\r\n", 7), 0);
	out = sign(entity, 100, &tmps, &err);
	ck_assert_ptr_null(out);
	ck_assert_ptr_nonnull(err);
	ck_assert_ptr_nonnull(strstr(err, "line over 998 octets"));
	free(err);
	free(entity);
}
END_TEST

/* Decrypt base64 DER with the test key; returns the content (malloc'd). */
static char *
decrypt_b64(const char *b64, size_t len, size_t *outlen)
{
	BIO *f = BIO_new(BIO_f_base64()), *mem = BIO_new_mem_buf(b64, (int)len), *out = BIO_new(BIO_s_mem());
	CMS_ContentInfo *cms;
	char *data, *copy;
	long n;

	BIO_push(f, mem);
	cms = d2i_CMS_bio(f, NULL);
	ck_assert_ptr_nonnull(cms);
	ck_assert_msg(CMS_decrypt(cms, id.key, id.cert, NULL, out, CMS_BINARY) == 1, "OpenSSL cannot decrypt it");
	n = BIO_get_mem_data(out, &data);
	copy = malloc((size_t)n + 1);
	memcpy(copy, data, (size_t)n);
	copy[n] = '\0';
	*outlen = (size_t)n;
	CMS_ContentInfo_free(cms);
	BIO_free(out);
	BIO_free_all(f);
	return copy;
}

START_TEST(test_encrypt_stream)
{
	static const size_t chunks[] = { 1, 5, 65536 };
	size_t big = 3 * 1024 * 1024 + 17, i, k, got_len, want_len = 0, elen;
	char *entity = malloc(big + 64), *want = malloc(2 * big + 64), *ctype, *err = NULL, *out, *got;
	X509 *certs[1] = { id.cert };
	int cbc;

	/* Mixed line ends: LF, CRLF and bare CR, then a long run without any. */
	elen = (size_t)snprintf(entity, 64, "Content-Type: text/plain\n\n");
	for (i = elen; i < big; i++)
		entity[i] = i % 97 == 0 ? '\n' : i % 89 == 0 ? '\r' : (char)('a' + i % 26);
	entity[big] = '\0';
	for (i = 0; i < big; i++) {
		if (entity[i] == '\r' || entity[i] == '\n') {
			want[want_len++] = '\r';
			want[want_len++] = '\n';
			if (entity[i] == '\r' && entity[i + 1] == '\n')
				i++;
		} else {
			want[want_len++] = entity[i];
		}
	}
	for (cbc = 0; cbc <= 1; cbc++)
		for (k = 0; k < sizeof(chunks) / sizeof(chunks[0]); k++) {
			/* 1-byte chunks over 3 MB are slow under sanitizers: the small entity for those. */
			struct src s = { entity, chunks[k] < 64 ? 4000 : big, chunks[k], 0 };
			struct smime_source src = { src_each, src_tmp, &s };
			int fd = memfd_create("enc", 0);
			off_t len;
			ck_assert_int_eq(smime_encrypt_stream(certs, 1, NULL, cbc, &src, fd, &ctype, &err), 0);
			ck_assert_int_eq(s.tmps, 1);
			ck_assert_ptr_nonnull(strstr(ctype, cbc ? "smime-type=enveloped-data" : "smime-type=authEnveloped-data"));
			free(ctype);
			len = lseek(fd, 0, SEEK_END);
			out = malloc((size_t)len + 1);
			ck_assert_int_eq(pread(fd, out, (size_t)len, 0), len);
			close(fd);
			for (i = 0; i + 1 < (size_t)len; i++)
				if (out[i] == '\n')
					ck_assert_msg(out[i - 1] == '\r', "base64 lines end in CRLF");
			got = decrypt_b64(out, (size_t)len, &got_len);
			if (s.len == big) {
				ck_assert_uint_eq(got_len, want_len);
				ck_assert_msg(memcmp(got, want, want_len) == 0, "cbc=%d chunk %zu: content differs", cbc, chunks[k]);
			} else {
				ck_assert_msg(got_len > 0 && memcmp(got, want, got_len) == 0 && got[got_len - 1] != '\r',
				    "cbc=%d chunk %zu: content differs", cbc, chunks[k]);
			}
			free(got);
			free(out);
		}
	free(entity);
	free(want);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("smime");
	TCase *tc = tcase_create("sign");
	SRunner *sr;
	int failed;

	if (make_identity() != 0) {
		fprintf(stderr, "test_smime: cannot make the test signer\n");
		return 1;
	}
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_chunks_do_not_matter);
	tcase_add_test(tc, test_safety_across_chunks);
	tcase_add_test(tc, test_line_limits);
	tcase_add_test(tc, test_encrypt_stream);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	EVP_PKEY_free(id.key);
	X509_free(id.cert);
	sk_X509_free(id.chain);
	return failed ? 1 : 0;
}
