/*
 * test_seal.c - the sealed object (seal/cms.c) and the keys (seal/keys.c):
 * round trip, stock `openssl cms` opening it byte for byte, the policy
 * readable without decrypting, tampering of every kind detected with no
 * partial plaintext, wrong keys, rollover, and key configuration errors.
 */
#include "build-config.h"

#include <openssl/cms.h>
#include <sys/stat.h>

#include "seal/cms.h"
#include "seal/keys.h"
#include "seal/viewtoken.h"
#include "testutil.h"

static char *dir;                  /* keys made once for the whole suite */
static const char MSG[] = "From: Alice <alice@example.com>\r\nTo: bob@partner.test\r\nSubject: Q3\r\n\r\n"
    "The contract terms.\r\nNo final line end";
static const char POLICY[] = "{\"v\":1,\"template\":\"do-not-forward\",\"rights\":[\"view\",\"reply\"]}";

static void
make_keys(void)
{
	char *err = NULL;

	dir = strdup("/tmp/sealtest-keys-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_msg(seal_keys_generate("tenant", 2048, dir, "ta", &err) == 0, "ta: %s", err);
	ck_assert_msg(seal_keys_generate("tenant", 2048, dir, "tb", &err) == 0, "tb: %s", err);
	ck_assert_msg(seal_keys_generate("issuer", 0, dir, "issuer", &err) == 0, "issuer: %s", err);
	ck_assert_msg(seal_keys_generate("issuer", 0, dir, "other", &err) == 0, "other: %s", err);
}

static struct seal_config *
keyed(const char *tenants, const char *issuer, char **errors)
{
	char *yaml = NULL;
	struct seal_config *c;

	ck_assert_int_ge(asprintf(&yaml, TU_ORG "keys:\n  tenant:\n%s  issuer: { cert: %s/%s.pem, key: %s/%s.key }\n",
	    tenants, dir, issuer, dir, issuer), 0);
	c = tu_load(yaml, errors);
	free(yaml);
	return c;
}

static char *
tenant_line(const char *id, int with_key)
{
	char *s = NULL;

	if (with_key)
		ck_assert_int_ge(asprintf(&s, "    - { id: %s, cert: %s/%s.pem, key: %s/%s.key }\n", id, dir, id, dir, id), 0);
	else
		ck_assert_int_ge(asprintf(&s, "    - { id: %s, cert: %s/%s.pem }\n", id, dir, id), 0);
	return s;
}

static struct seal_config *
config_with(const char *t1, const char *t2, int keys, const char *issuer)
{
	char *a = tenant_line(t1, keys), *b = t2 ? tenant_line(t2, keys) : strdup(""), *both = NULL, *errors = NULL;
	struct seal_config *c;

	ck_assert_int_ge(asprintf(&both, "%s%s", a, b), 0);
	c = keyed(both, issuer, &errors);
	ck_assert_msg(c != NULL, "keys refused:\n%s", errors);
	free(a);
	free(b);
	free(both);
	free(errors);
	return c;
}

/* Seal MSG under cfg: the DER bytes (malloc'd) and their length. */
static unsigned char *
seal(const struct seal_config *cfg, size_t *len)
{
	BIO *in = BIO_new_mem_buf(MSG, (int)strlen(MSG)), *out = BIO_new(BIO_s_mem());
	char *err = NULL, *data;
	unsigned char *der;
	long n;

	ck_assert_msg(seal_cms_make(&cfg->keys, POLICY, strlen(POLICY), NULL, in, out, &err) == 0, "seal: %s", err);
	n = BIO_get_mem_data(out, &data);
	der = malloc((size_t)n);
	memcpy(der, data, (size_t)n);
	*len = (size_t)n;
	BIO_free(in);
	BIO_free(out);
	return der;
}

/* Open der under cfg: the result, and the plaintext in *plain (malloc'd, may be empty). */
static enum seal_open_error
open_der(const struct seal_config *cfg, const unsigned char *der, size_t len, size_t max, char **plain,
    size_t *plen, char **policy)
{
	BIO *in = BIO_new_mem_buf(der, (int)len), *out = BIO_new(BIO_s_mem());
	char *err = NULL, *data;
	size_t pl = 0;
	long n;
	enum seal_open_error rc = seal_cms_open(&cfg->keys, in, max, policy, &pl, out, &err);

	n = BIO_get_mem_data(out, &data);
	*plain = malloc((size_t)n + 1);
	if (n > 0)
		memcpy(*plain, data, (size_t)n);
	(*plain)[n] = '\0';
	*plen = (size_t)n;
	free(err);
	BIO_free(in);
	BIO_free(out);
	return rc;
}

START_TEST(test_round_trip)
{
	struct seal_config *cfg = config_with("ta", NULL, 1, "issuer");
	size_t len, plen;
	unsigned char *der = seal(cfg, &len);
	char *plain = NULL, *policy = NULL;

	ck_assert_int_eq(open_der(cfg, der, len, 1 << 20, &plain, &plen, &policy), SEAL_OPEN_OK);
	ck_assert_msg(plen == strlen(MSG) && memcmp(plain, MSG, plen) == 0, "plaintext differs: got %zu bytes", plen);
	ck_assert_str_eq(policy, POLICY);
	free(plain);
	free(policy);
	free(der);
	config_unref(cfg);
}
END_TEST

static int
run(const char *cmd)
{
	int rc = system(cmd);

	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

START_TEST(test_stock_openssl)
{
	struct seal_config *cfg = config_with("ta", NULL, 0, "issuer");   /* sealing needs no tenant private key */
	size_t len;
	unsigned char *der = seal(cfg, &len);
	char *path = NULL, *cmd = NULL, *orig = NULL, *printed = NULL;
	FILE *f;

	ck_assert_int_ge(asprintf(&path, "%s/att.der", dir), 0);
	f = fopen(path, "wb");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(der, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_ge(asprintf(&orig, "%s/orig.eml", dir), 0);
	f = fopen(orig, "wb");
	fputs(MSG, f);
	fclose(f);
	/* Exactly the commands of docs/format.md. */
	ck_assert_int_ge(asprintf(&cmd, "cd %s && openssl cms -verify -inform DER -in att.der -CAfile issuer.pem "
	    "-out inner.der 2>/dev/null && openssl cms -decrypt -inform DER -in inner.der -inkey ta.key -recip ta.pem "
	    "-out plain.eml && cmp -s plain.eml orig.eml", dir), 0);
	ck_assert_msg(run(cmd) == 0, "stock openssl did not verify and decrypt it to the original: %s", cmd);
	free(cmd);
	/* The policy is readable without decrypting. */
	ck_assert_int_ge(asprintf(&printed, "%s/printed.txt", dir), 0);
	ck_assert_int_ge(asprintf(&cmd, "openssl cms -cmsout -print -inform DER -in %s/att.der > %s", dir, printed), 0);
	ck_assert_int_eq(run(cmd), 0);
	free(cmd);
	ck_assert_int_ge(asprintf(&cmd, "grep -q 'do-not-forward' %s && grep -q '%s' %s", printed,
	    SEAL_POLICY_OID, printed), 0);
	ck_assert_msg(run(cmd) == 0, "the policy and its OID are not visible in openssl cms -print");
	free(cmd);
	/* And a wrong issuer does not verify with stock openssl either. */
	ck_assert_int_ge(asprintf(&cmd, "openssl cms -verify -inform DER -in %s/att.der -CAfile %s/other.pem "
	    "-out /dev/null 2>/dev/null", dir, dir), 0);
	ck_assert_msg(run(cmd) != 0, "openssl verified it against another issuer");
	free(cmd);
	free(printed);
	free(path);
	free(orig);
	free(der);
	config_unref(cfg);
}
END_TEST

/* The viewer's key: a KEKRecipientInfo under the key derived from the link
 * token. It opens with the token alone (and the issuer certificate), by us
 * and by stock openssl; a wrong token opens nothing; a configuration with
 * public keys only sees that it is there but cannot open it otherwise. */
START_TEST(test_viewer_kek)
{
	struct seal_config *cfg = config_with("ta", NULL, 0, "issuer");
	struct view_token tok, other, back;
	BIO *in = BIO_new_mem_buf(MSG, (int)strlen(MSG)), *out = BIO_new(BIO_s_mem()), *rd, *plain;
	char *err = NULL, *data, *policy = NULL, *cmd = NULL, kekhex[65], *path = NULL;
	size_t plen = 0;
	long n;
	int has = 0;
	FILE *f;

	static const unsigned char secret[32] = "0123456789abcdef0123456789abcde";
	static const unsigned char secret2[32] = "another secret, as long as that";
	struct view_token nopepper;

	ck_assert_int_eq(view_token_new(secret, sizeof(secret), &tok), 0);
	ck_assert_int_eq((int)strlen(tok.text), VIEW_TOKEN_TEXT);
	ck_assert_int_eq(view_token_parse(tok.text, strlen(tok.text), secret, sizeof(secret), &back), 0);
	ck_assert_str_eq(back.lookup, tok.lookup);
	ck_assert_mem_eq(back.kek, tok.kek, 32);
	ck_assert_int_ne(memcmp(tok.kek, tok.raw, 32), 0);
	/* The KEK needs the secret; the lookup id does not (sealview finds it either way). */
	ck_assert_int_eq(view_token_parse(tok.text, strlen(tok.text), secret2, sizeof(secret2), &nopepper), 0);
	ck_assert_str_eq(nopepper.lookup, tok.lookup);
	ck_assert_int_ne(memcmp(nopepper.kek, tok.kek, 32), 0);
	ck_assert_int_eq(view_token_new(secret, 0, &nopepper), -1);
	ck_assert_int_eq(view_token_parse(tok.text, 42, secret, sizeof(secret), &back), -1);
	ck_assert_int_eq(view_token_parse("++++++++++++++++++++++++++++++++++++++++++A", 43, secret, sizeof(secret), &back),
	    -1);
	ck_assert_int_eq(view_token_new(secret, sizeof(secret), &other), 0);
	ck_assert_str_ne(other.lookup, tok.lookup);

	ck_assert_msg(seal_cms_make(&cfg->keys, POLICY, strlen(POLICY), tok.kek, in, out, &err) == 0, "seal: %s", err);
	n = BIO_get_mem_data(out, &data);
	ck_assert_int_eq(seal_cms_inspect(&cfg->keys, data, (size_t)n, &policy, &plen, &has, &err), SEAL_OPEN_OK);
	ck_assert_int_eq(has, 1);
	ck_assert_str_eq(policy, POLICY);
	free(policy);

	rd = BIO_new_mem_buf(data, (int)n);
	plain = BIO_new(BIO_s_mem());
	ck_assert_int_eq(seal_cms_open_kek(&cfg->keys, tok.kek, rd, 1 << 20, &policy, &plen, plain, &err), SEAL_OPEN_OK);
	free(policy);
	{
		char *pd;
		long pn = BIO_get_mem_data(plain, &pd);
		ck_assert_int_eq(pn, (long)strlen(MSG));
		ck_assert_mem_eq(pd, MSG, strlen(MSG));
	}
	BIO_free(rd);
	BIO_free(plain);
	/* The mail alone (the token, with another secret): nothing comes out. */
	rd = BIO_new_mem_buf(data, (int)n);
	plain = BIO_new(BIO_s_mem());
	ck_assert_int_ne(seal_cms_open_kek(&cfg->keys, nopepper.kek, rd, 1 << 20, &policy, &plen, plain, &err), SEAL_OPEN_OK);
	ck_assert_int_eq(BIO_pending(plain), 0);
	free(policy);
	free(err);
	err = NULL;
	BIO_free(rd);
	BIO_free(plain);
	/* A wrong token: nothing comes out. */
	rd = BIO_new_mem_buf(data, (int)n);
	plain = BIO_new(BIO_s_mem());
	ck_assert_int_ne(seal_cms_open_kek(&cfg->keys, other.kek, rd, 1 << 20, &policy, &plen, plain, &err), SEAL_OPEN_OK);
	ck_assert_int_eq(BIO_pending(plain), 0);
	free(policy);
	free(err);
	err = NULL;
	BIO_free(rd);
	BIO_free(plain);
	/* Without a viewer key, inspect says so. */
	{
		size_t len2;
		unsigned char *der2 = seal(cfg, &len2);
		ck_assert_int_eq(seal_cms_inspect(&cfg->keys, der2, len2, &policy, &plen, &has, &err), SEAL_OPEN_OK);
		ck_assert_int_eq(has, 0);
		free(policy);
		free(der2);
	}
	/* Stock openssl opens it with the derived key alone (token and secret). */
	ck_assert_int_ge(asprintf(&path, "%s/kek.der", dir), 0);
	f = fopen(path, "wb");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(data, 1, (size_t)n, f), (size_t)n);
	ck_assert_int_eq(fclose(f), 0);
	hex_encode(tok.kek, 32, kekhex);
	ck_assert_int_ge(asprintf(&cmd, "cd %s && openssl cms -verify -inform DER -in kek.der -CAfile issuer.pem "
	    "-out kinner.der 2>/dev/null && openssl cms -decrypt -inform DER -in kinner.der -secretkey %s "
	    "-secretkeyid 7365616c6d696c7465722d7669657765722d7631 -out kplain.eml && head -c 31 kplain.eml | "
	    "grep -q '^From: Alice <alice@example.com>$'", dir, kekhex), 0);
	ck_assert_msg(run(cmd) == 0, "stock openssl did not open it with the viewer key: %s", cmd);
	free(cmd);
	free(path);
	BIO_free(in);
	BIO_free(out);
	view_token_clear(&tok);
	config_unref(cfg);
}
END_TEST

START_TEST(test_tampering)
{
	struct seal_config *cfg = config_with("ta", NULL, 1, "issuer");
	size_t len, plen, i, detected = 0, tries = 0;
	unsigned char *der = seal(cfg, &len), *copy = malloc(len + 16);
	char *plain = NULL, *policy = NULL, *at;
	enum seal_open_error rc;

	/* The policy text: changed, it no longer verifies. */
	memcpy(copy, der, len);
	at = memmem(copy, len, "do-not-forward", 14);
	ck_assert_ptr_nonnull(at);
	memcpy(at, "do-not-forwarx", 14);
	rc = open_der(cfg, copy, len, 1 << 20, &plain, &plen, &policy);
	ck_assert_msg(rc == SEAL_OPEN_BAD_SIGNATURE, "changed policy: got %s", seal_open_error_name(rc));
	ck_assert_msg(plen == 0 && policy == NULL, "changed policy: output or policy released");
	free(plain);
	/* Every byte flip: never plaintext other than the original, never partial. */
	for (i = 0; i < len; i += 7) {
		memcpy(copy, der, len);
		copy[i] ^= 0x5a;
		rc = open_der(cfg, copy, len, 1 << 20, &plain, &plen, &policy);
		tries++;
		if (rc != SEAL_OPEN_OK) {
			detected++;
			ck_assert_msg(plen == 0, "flip at %zu: %s, but %zu bytes of output", i, seal_open_error_name(rc), plen);
		} else {
			ck_assert_msg(plen == strlen(MSG) && memcmp(plain, MSG, plen) == 0, "flip at %zu: wrong plaintext", i);
		}
		free(plain);
		free(policy);
	}
	ck_assert_msg(detected * 10 >= tries * 9, "only %zu of %zu flips detected", detected, tries);
	/* Truncated, oversized, garbage. */
	rc = open_der(cfg, der, len / 2, 1 << 20, &plain, &plen, &policy);
	ck_assert_msg(rc == SEAL_OPEN_NOT_SEALED && plen == 0, "truncated: got %s", seal_open_error_name(rc));
	free(plain);
	rc = open_der(cfg, der, len, len - 1, &plain, &plen, &policy);
	ck_assert_msg(rc == SEAL_OPEN_NOT_SEALED && plen == 0, "over max_len: got %s", seal_open_error_name(rc));
	free(plain);
	rc = open_der(cfg, (const unsigned char *)"garbage", 7, 1 << 20, &plain, &plen, &policy);
	ck_assert_msg(rc == SEAL_OPEN_NOT_SEALED && plen == 0, "garbage: got %s", seal_open_error_name(rc));
	free(plain);
	free(copy);
	free(der);
	config_unref(cfg);
}
END_TEST

/* An attacker who could sign (or a bug upstream) still cannot change the
 * content: re-sign an envelope whose ciphertext was altered; GCM refuses it. */
START_TEST(test_gcm_tag)
{
	struct seal_config *cfg = config_with("ta", NULL, 1, "issuer");
	size_t len, plen;
	unsigned char *der = seal(cfg, &len);
	BIO *in = BIO_new_mem_buf(der, (int)len), *inner = BIO_new(BIO_s_mem()), *resigned = BIO_new(BIO_s_mem());
	CMS_ContentInfo *sd = d2i_CMS_bio(in, NULL), *sd2;
	X509_STORE *store = X509_STORE_new();
	CMS_SignerInfo *si;
	ASN1_OBJECT *ci_oid, *pol_oid;
	char *data, *plain = NULL, *policy = NULL;
	long n;
	enum seal_open_error rc;

	X509_STORE_add_cert(store, cfg->keys.issuer_cert);
	ck_assert_int_eq(CMS_verify(sd, NULL, store, NULL, inner, CMS_BINARY), 1);
	n = BIO_get_mem_data(inner, &data);
	data[n - 20] ^= 1;          /* inside the encrypted content or the tag, near the end */
	ci_oid = OBJ_txt2obj(SEAL_CONTENTINFO_OID, 1);
	pol_oid = OBJ_txt2obj(SEAL_POLICY_OID, 1);
	sd2 = CMS_sign(NULL, NULL, NULL, NULL, CMS_BINARY | CMS_PARTIAL);
	CMS_set1_eContentType(sd2, ci_oid);
	si = CMS_add1_signer(sd2, cfg->keys.issuer_cert, cfg->keys.issuer_key, EVP_sha256(), CMS_BINARY | CMS_PARTIAL);
	CMS_signed_add1_attr_by_OBJ(si, pol_oid, V_ASN1_UTF8STRING, POLICY, (int)strlen(POLICY));
	ck_assert_int_eq(CMS_final(sd2, inner, NULL, CMS_BINARY), 1);
	ck_assert_int_eq(i2d_CMS_bio(resigned, sd2), 1);
	n = BIO_get_mem_data(resigned, &data);
	rc = open_der(cfg, (unsigned char *)data, (size_t)n, 1 << 20, &plain, &plen, &policy);
	ck_assert_msg(rc == SEAL_OPEN_ALTERED || rc == SEAL_OPEN_NOT_SEALED, "altered ciphertext: got %s",
	    seal_open_error_name(rc));
	ck_assert_msg(plen == 0, "altered ciphertext: %zu bytes of plaintext released", plen);
	free(plain);
	free(policy);
	CMS_ContentInfo_free(sd);
	CMS_ContentInfo_free(sd2);
	ASN1_OBJECT_free(ci_oid);
	ASN1_OBJECT_free(pol_oid);
	X509_STORE_free(store);
	BIO_free(in);
	BIO_free(inner);
	BIO_free(resigned);
	free(der);
	config_unref(cfg);
}
END_TEST

START_TEST(test_keys_and_rollover)
{
	struct seal_config *a = config_with("ta", NULL, 1, "issuer"), *b = config_with("tb", NULL, 1, "issuer");
	struct seal_config *ba = config_with("tb", "ta", 1, "issuer"), *other = config_with("ta", NULL, 1, "other");
	size_t la, lba, plen;
	unsigned char *da = seal(a, &la), *dba = seal(ba, &lba);
	char *plain = NULL, *policy = NULL;
	enum seal_open_error rc;

	/* A key that is not a recipient. */
	rc = open_der(b, da, la, 1 << 20, &plain, &plen, &policy);
	ck_assert_msg(rc == SEAL_OPEN_NO_KEY && plen == 0, "wrong tenant key: got %s", seal_open_error_name(rc));
	free(plain);
	free(policy);
	/* Another issuer: the signature does not verify. */
	rc = open_der(other, da, la, 1 << 20, &plain, &plen, &policy);
	ck_assert_msg(rc == SEAL_OPEN_BAD_SIGNATURE && plen == 0, "wrong issuer: got %s", seal_open_error_name(rc));
	free(plain);
	free(policy);
	/* Rollover: [tb, ta] opens what ta sealed, and what it seals itself. */
	ck_assert_int_eq(open_der(ba, da, la, 1 << 20, &plain, &plen, &policy), SEAL_OPEN_OK);
	free(plain);
	free(policy);
	ck_assert_int_eq(open_der(ba, dba, lba, 1 << 20, &plain, &plen, &policy), SEAL_OPEN_OK);
	free(plain);
	free(policy);
	/* The content key is wrapped for every configured tenant certificate. */
	ck_assert_int_eq(open_der(a, dba, lba, 1 << 20, &plain, &plen, &policy), SEAL_OPEN_OK);
	ck_assert(plen == strlen(MSG) && memcmp(plain, MSG, plen) == 0);
	free(plain);
	free(policy);
	free(da);
	free(dba);
	config_unref(a);
	config_unref(b);
	config_unref(ba);
	config_unref(other);
}
END_TEST

START_TEST(test_key_errors)
{
	char *path = NULL, *errors = NULL, *lines = NULL;
	struct seal_config *c;

	/* A private key readable by others. */
	ck_assert_int_ge(asprintf(&path, "%s/ta.key", dir), 0);
	chmod(path, 0644);
	lines = tenant_line("ta", 1);
	c = keyed(lines, "issuer", &errors);
	chmod(path, 0600);
	ck_assert_ptr_null(c);
	ck_assert_msg(strstr(errors, "ta.key is readable or writable by group or others (mode 644); chmod 600 it"),
	    "got:\n%s", errors);
	free(errors);
	free(lines);
	free(path);
	/* A key that does not belong to the certificate. */
	ck_assert_int_ge(asprintf(&lines, "    - { id: ta, cert: %s/ta.pem, key: %s/tb.key }\n", dir, dir), 0);
	ck_assert_ptr_null(keyed(lines, "issuer", &errors));
	ck_assert_msg(strstr(errors, "keys.tenant: the key does not belong to the certificate"), "got:\n%s", errors);
	free(errors);
	free(lines);
	/* An EC certificate as a tenant key. */
	ck_assert_int_ge(asprintf(&lines, "    - { id: ec, cert: %s/issuer.pem }\n", dir), 0);
	ck_assert_ptr_null(keyed(lines, "issuer", &errors));
	ck_assert_msg(strstr(errors, "must hold an RSA key of 2048, 3072 or 4096 bits"), "got:\n%s", errors);
	free(errors);
	free(lines);
	/* Duplicate ids, a missing file, a relative path. */
	ck_assert_int_ge(asprintf(&lines, "    - { id: x, cert: %s/ta.pem }\n    - { id: x, cert: %s/tb.pem }\n"
	    "    - { id: y, cert: %s/nothere.pem }\n    - { id: z, cert: ta.pem }\n", dir, dir, dir), 0);
	ck_assert_ptr_null(keyed(lines, "issuer", &errors));
	ck_assert_msg(strstr(errors, "keys.tenant: id x is used twice"), "got:\n%s", errors);
	ck_assert_msg(strstr(errors, "cannot open certificate") && strstr(errors, "nothere.pem: No such file"), "got:\n%s", errors);
	ck_assert_msg(strstr(errors, "keys.tenant: cert: expected an absolute path"), "got:\n%s", errors);
	free(errors);
	free(lines);
}
END_TEST

static Suite *
seal_suite(void)
{
	Suite *s = suite_create("seal");
	TCase *tc = tcase_create("seal");

	tcase_set_timeout(tc, 60);
	tcase_add_unchecked_fixture(tc, make_keys, NULL);
	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_stock_openssl);
	tcase_add_test(tc, test_viewer_kek);
	tcase_add_test(tc, test_tampering);
	tcase_add_test(tc, test_gcm_tag);
	tcase_add_test(tc, test_keys_and_rollover);
	tcase_add_test(tc, test_key_errors);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	int rc = tu_run_suite(seal_suite());
	char *cmd = NULL;

	if (dir && asprintf(&cmd, "rm -rf %s", dir) >= 0 && system(cmd) != 0)
		rc = EXIT_FAILURE;
	free(cmd);
	free(dir);
	return rc;
}
