/*
 * keys.c - the tenant keys (RSA: they wrap each message's content key) and
 * the issuer key (ECDSA P-256 or RSA: it signs each policy), loaded once at
 * configuration load and never per message.
 *
 *   keys:
 *     tenant:
 *       - { id: t2026, cert: /etc/sealmilter/tenant-t2026.pem, key: /etc/sealmilter/tenant-t2026.key }
 *     issuer: { cert: /etc/sealmilter/issuer.pem, key: /etc/sealmilter/issuer.key }
 *
 * A private key is a PEM file or an RFC 7512 PKCS#11 URI
 * ("pkcs11:token=...;object=...;type=private"), loaded through OpenSSL's
 * pkcs11 engine (Debian: libengine-pkcs11-openssl); keys.pkcs11_module names
 * the module (say /usr/lib/softhsm/libsofthsm2.so), else the engine's default.
 * The ENGINE API is deprecated in OpenSSL 3 but is the one that works with
 * SoftHSM2 on Debian 12 (TESTBED.md); it is confined to this file.
 *
 * The first tenant key seals; the others still open older messages, so a
 * rollover loses nothing. Sealing needs only the tenant certificates; the
 * tenant private keys are needed only to open.
 *
 * Calling rules: seal_keys_load() from the configuration loader; the loaded
 * keys are read-only afterwards and may be used from any thread.
 * Untrusted input: none from mail. The files are the administrator's, but a
 * private key readable by group or others is refused, as is a certificate
 * whose key does not match, or a key of the wrong type or size.
 */
#include "build-config.h"

/* The ENGINE API (PKCS#11) is deprecated in OpenSSL 3, and used here on purpose. */
#define OPENSSL_SUPPRESS_DEPRECATED

#include <errno.h>
#include <fcntl.h>
#include <openssl/ec.h>
#include <openssl/engine.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rules/cfgerr.h"
#include "rules/yamltree.h"
#include "seal/keys.h"

char *
seal_key_file_problem(const char *path)
{
	struct stat st;
	char *why = NULL;

	if (stat(path, &st) != 0) {
		if (asprintf(&why, "cannot read %s: %s", path, strerror(errno)) < 0)
			why = NULL;
	} else if (!S_ISREG(st.st_mode)) {
		if (asprintf(&why, "%s is not a regular file", path) < 0)
			why = NULL;
	} else if (st.st_mode & 077) {
		if (asprintf(&why, "%s is readable or writable by group or others (mode %03o); chmod 600 it", path,
		    (unsigned)(st.st_mode & 0777)) < 0)
			why = NULL;
	}
	return why;
}

X509 *
seal_cert_read(const struct ynode *at, const char *path, struct cfg_errors *errs)
{
	FILE *f = fopen(path, "r");
	X509 *x;

	if (f == NULL) {
		cfg_error(errs, at, "cannot open certificate %s: %s", path, strerror(errno));
		return NULL;
	}
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (x == NULL)
		cfg_error(errs, at, "%s is not a PEM certificate", path);
	return x;
}

/* A key named by a PKCS#11 URI, through the pkcs11 engine (started once). */
static EVP_PKEY *
read_p11_key(struct seal_keys *keys, const char *module, const struct ynode *at, const char *uri,
    struct cfg_errors *errs)
{
	ENGINE *e = keys->engine;
	EVP_PKEY *k;
	const char *q = strchr(uri, '?');
	int shown = q ? (int)(q - uri) : (int)strlen(uri);    /* never echo a pin-value */

	if (e == NULL) {
		ENGINE_load_builtin_engines();
		e = ENGINE_by_id("pkcs11");
		if (e == NULL) {
			cfg_error(errs, at, "the OpenSSL pkcs11 engine is not installed (Debian: libengine-pkcs11-openssl)");
			return NULL;
		}
		if ((module && ENGINE_ctrl_cmd_string(e, "MODULE_PATH", module, 0) != 1) || ENGINE_init(e) != 1) {
			cfg_error(errs, at, "cannot start the pkcs11 engine%s%s", module ? " with module " : "",
			    module ? module : "");
			ENGINE_free(e);
			return NULL;
		}
		keys->engine = e;
	}
	/* The PIN goes to the engine by its own control, never inside the URI:
	 * the engine prints the URI it cannot find, and logs must not get a PIN. */
	{
		char *bare = strndup(uri, (size_t)shown), *pin = NULL;
		const char *pv = q ? strstr(q, "pin-value=") : NULL;
		if (pv) {
			pin = strdup(pv + 10);
			if (pin)
				pin[strcspn(pin, "&")] = '\0';
		}
		if (bare == NULL || (pv && pin == NULL) ||
		    (pin && ENGINE_ctrl_cmd_string(e, "PIN", pin, 0) != 1)) {
			cfg_error(errs, at, "cannot pass the PIN to the pkcs11 engine");
			k = NULL;
		} else {
			k = ENGINE_load_private_key(e, bare, NULL, NULL);
			if (k == NULL)
				cfg_error(errs, at, "cannot load the PKCS#11 key %s (token, object, PIN?)", bare);
		}
		if (pin)
			OPENSSL_cleanse(pin, strlen(pin));
		free(pin);
		free(bare);
	}
	return k;
}

EVP_PKEY *
seal_key_read(struct seal_keys *keys, const char *module, const struct ynode *at, const char *path,
    struct cfg_errors *errs)
{
	char *why;
	EVP_PKEY *k;
	FILE *f;

	if (strncmp(path, "pkcs11:", 7) == 0)
		return read_p11_key(keys, module, at, path, errs);
	why = seal_key_file_problem(path);

	if (why) {
		cfg_error(errs, at, "%s", why);
		free(why);
		return NULL;
	}
	if ((f = fopen(path, "r")) == NULL) {
		cfg_error(errs, at, "cannot open key %s: %s", path, strerror(errno));
		return NULL;
	}
	k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (k == NULL)
		cfg_error(errs, at, "%s is not an unencrypted PEM private key", path);
	return k;
}

static const struct ynode *
string_key(const struct ynode *map, const char *key, const char *what, int required, struct cfg_errors *errs)
{
	const struct ynode *v = ymap_get(map, key);

	if (v == NULL) {
		if (required)
			cfg_error(errs, map, "%s: %s: is required", what, key);
		return NULL;
	}
	if (v->kind != Y_SCALAR || (v->value[0] != '/' && !(strcmp(key, "key") == 0 &&
	    strncmp(v->value, "pkcs11:", 7) == 0))) {
		cfg_error(errs, v, "%s: %s: expected an absolute path%s", what, key,
		    strcmp(key, "key") == 0 ? " or a pkcs11: URI" : "");
		return NULL;
	}
	return v;
}

/* The certificate and key, when both given, must belong together. */
static int
pair_ok(const struct ynode *at, X509 *cert, EVP_PKEY *key, const char *what, struct cfg_errors *errs)
{
	if (cert && key && X509_check_private_key(cert, key) != 1) {
		cfg_error(errs, at, "%s: the key does not belong to the certificate", what);
		return -1;
	}
	return 0;
}

static int
load_tenant(struct seal_keys *sk, const char *module, int public_only, const struct ynode *n, struct tenant_key *t,
    struct cfg_errors *errs)
{
	static const char *const keys[] = { "id", "cert", "key", NULL };
	const struct ynode *id, *cert, *key;
	EVP_PKEY *pub;
	int bits, rc = 0;

	if (n->kind != Y_MAP) {
		cfg_error(errs, n, "keys.tenant: each key is { id, cert, key }");
		return -1;
	}
	rc |= cfg_check_keys(errs, n, "keys.tenant", keys);
	id = ymap_get(n, "id");
	if (id == NULL || id->kind != Y_SCALAR || id->value[0] == '\0' || strlen(id->value) > 64) {
		cfg_error(errs, id ? id : n, "keys.tenant: id: is required (a short name, like t2026)");
		return -1;
	}
	t->id = strdup(id->value);
	if ((cert = string_key(n, "cert", "keys.tenant", 1, errs)) == NULL)
		return -1;
	t->cert_path = strdup(cert->value);
	if ((t->cert = seal_cert_read(cert, cert->value, errs)) == NULL)
		return -1;
	pub = X509_get0_pubkey(t->cert);
	bits = pub ? EVP_PKEY_get_bits(pub) : 0;
	if (pub == NULL || EVP_PKEY_get_base_id(pub) != EVP_PKEY_RSA || (bits != 2048 && bits != 3072 && bits != 4096)) {
		cfg_error(errs, cert, "keys.tenant %s: the certificate must hold an RSA key of 2048, 3072 or 4096 bits",
		    t->id);
		return -1;
	}
	if ((key = string_key(n, "key", "keys.tenant", 0, errs)) != NULL && (t->key_path = strdup(key->value)) != NULL &&
	    !public_only && ((t->key = seal_key_read(sk, module, key, key->value, errs)) == NULL ||
	    pair_ok(key, t->cert, t->key, "keys.tenant", errs)))
		return -1;
	return rc;
}

int
seal_keys_load(const struct ynode *node, int public_only, struct seal_keys *out, struct cfg_errors *errs)
{
	static const char *const top[] = { "tenant", "issuer", "pkcs11_module", NULL };
	static const char *const issuer_keys[] = { "cert", "key", NULL };
	const struct ynode *tl, *is, *cert, *key, *mod;
	const char *module;
	size_t i, j;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (node == NULL)
		return 0;
	if (node->kind != Y_MAP) {
		cfg_error(errs, node, "keys: expected { tenant: [...], issuer: {...} }");
		return -1;
	}
	rc |= cfg_check_keys(errs, node, "keys", top);
	if ((mod = ymap_get(node, "pkcs11_module")) != NULL && (mod->kind != Y_SCALAR || mod->value[0] != '/')) {
		cfg_error(errs, mod, "keys.pkcs11_module: expected the absolute path of a PKCS#11 module");
		return -1;
	}
	module = mod ? mod->value : NULL;
	tl = ymap_get(node, "tenant");
	if (tl == NULL || tl->kind != Y_SEQ || tl->n == 0) {
		cfg_error(errs, tl ? tl : node, "keys.tenant: expected a list of at least one key");
		rc = -1;
	} else {
		out->tenant = calloc(tl->n, sizeof(*out->tenant));
		if (out->tenant == NULL)
			return -1;
		for (i = 0; i < tl->n; i++) {
			rc |= load_tenant(out, module, public_only, tl->items[i], &out->tenant[out->ntenant], errs);
			if (out->tenant[out->ntenant].id) {
				for (j = 0; j < out->ntenant; j++)
					if (strcmp(out->tenant[j].id, out->tenant[out->ntenant].id) == 0) {
						cfg_error(errs, tl->items[i], "keys.tenant: id %s is used twice", out->tenant[j].id);
						rc = -1;
					}
			}
			out->ntenant++;
		}
	}
	is = ymap_get(node, "issuer");
	if (is == NULL || is->kind != Y_MAP) {
		cfg_error(errs, is ? is : node, "keys.issuer: expected { cert, key }");
		return -1;
	}
	rc |= cfg_check_keys(errs, is, "keys.issuer", issuer_keys);
	if ((cert = string_key(is, "cert", "keys.issuer", 1, errs)) == NULL ||
	    (out->issuer_cert = seal_cert_read(cert, cert->value, errs)) == NULL)
		return -1;
	/* sealview (public_only) needs the certificate alone: the key may be absent. */
	if ((key = string_key(is, "key", "keys.issuer", !public_only, errs)) == NULL || public_only)
		return rc || (key == NULL && !public_only) ? -1 : 0;
	if ((out->issuer_key = seal_key_read(out, module, key, key->value, errs)) == NULL)
		return -1;
	rc |= pair_ok(key, out->issuer_cert, out->issuer_key, "keys.issuer", errs);
	if (EVP_PKEY_get_base_id(out->issuer_key) != EVP_PKEY_EC && EVP_PKEY_get_base_id(out->issuer_key) != EVP_PKEY_RSA) {
		cfg_error(errs, key, "keys.issuer: the key must be ECDSA (P-256) or RSA");
		rc = -1;
	}
	return rc ? -1 : 0;
}

void
seal_keys_free(struct seal_keys *k)
{
	size_t i;

	for (i = 0; i < k->ntenant; i++) {
		free(k->tenant[i].id);
		free(k->tenant[i].cert_path);
		free(k->tenant[i].key_path);
		X509_free(k->tenant[i].cert);
		EVP_PKEY_free(k->tenant[i].key);
	}
	free(k->tenant);
	X509_free(k->issuer_cert);
	EVP_PKEY_free(k->issuer_key);
	if (k->engine) {
		ENGINE_finish(k->engine);
		ENGINE_free(k->engine);
	}
	memset(k, 0, sizeof(*k));
}

/* ---- generation ---------------------------------------------------------- */

static int
add_ext(X509 *x, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (ext == NULL)
		return 0;
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok;
}

static X509 *
self_signed(EVP_PKEY *key, const char *cn, const char *key_usage, int days)
{
	X509 *x = X509_new();
	unsigned char serial[16];
	BIGNUM *bn = NULL;
	X509_NAME *name;

	if (x == NULL || RAND_bytes(serial, sizeof(serial)) != 1)
		goto fail;
	serial[0] &= 0x7f;
	bn = BN_bin2bn(serial, sizeof(serial), NULL);
	if (bn == NULL || BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL)
		goto fail;
	if (!X509_set_version(x, 2) || !X509_gmtime_adj(X509_getm_notBefore(x), 0) ||
	    !X509_gmtime_adj(X509_getm_notAfter(x), (long)days * 86400) || !X509_set_pubkey(x, key))
		goto fail;
	name = X509_get_subject_name(x);
	if (!X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0) ||
	    !X509_set_issuer_name(x, name))
		goto fail;
	if (!add_ext(x, NID_basic_constraints, "critical,CA:TRUE") || !add_ext(x, NID_key_usage, key_usage) ||
	    !add_ext(x, NID_subject_key_identifier, "hash"))
		goto fail;
	if (X509_sign(x, key, EVP_sha256()) <= 0)
		goto fail;
	BN_free(bn);
	return x;
fail:
	BN_free(bn);
	X509_free(x);
	return NULL;
}

int
seal_keys_generate(const char *kind, int bits, const char *dir, const char *name, char **err)
{
	char *kpath = NULL, *cpath = NULL;
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	FILE *f = NULL;
	int fd = -1, rc = -1, tenant = strcmp(kind, "tenant") == 0;

	*err = NULL;
	if (!tenant && strcmp(kind, "issuer") != 0) {
		*err = strdup("the kind of key is tenant or issuer");
		return -1;
	}
	if (tenant && bits != 2048 && bits != 3072 && bits != 4096) {
		*err = strdup("--bits must be 2048, 3072 or 4096");
		return -1;
	}
	if (asprintf(&kpath, "%s/%s.key", dir, name) < 0 || asprintf(&cpath, "%s/%s.pem", dir, name) < 0)
		goto out;
	key = tenant ? EVP_RSA_gen((unsigned)bits) : EVP_EC_gen("P-256");
	if (key == NULL) {
		*err = strdup("key generation failed");
		goto out;
	}
	/* Tenant: keyEncipherment (OAEP key transport). Issuer: signatures; the
	 * self-signed certificate is its own trust anchor (keyCertSign). */
	cert = self_signed(key, name, tenant ? "critical,keyEncipherment,keyCertSign" :
	    "critical,digitalSignature,keyCertSign", 3650);
	if (cert == NULL) {
		*err = strdup("certificate creation failed");
		goto out;
	}
	fd = open(kpath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 || (f = fdopen(fd, "w")) == NULL || !PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) ||
	    fclose(f) != 0) {
		if (asprintf(err, "%s: %s", kpath, fd < 0 ? strerror(errno) : "write failed") < 0)
			*err = NULL;
		if (fd >= 0 && f == NULL)
			close(fd);
		f = NULL;
		goto out;
	}
	f = NULL;
	fd = open(cpath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0 || (f = fdopen(fd, "w")) == NULL || !PEM_write_X509(f, cert) || fclose(f) != 0) {
		if (asprintf(err, "%s: %s", cpath, fd < 0 ? strerror(errno) : "write failed") < 0)
			*err = NULL;
		if (fd >= 0 && f == NULL)
			close(fd);
		f = NULL;
		goto out;
	}
	rc = 0;
out:
	if (rc != 0 && *err == NULL)
		*err = strdup("out of memory");
	X509_free(cert);
	EVP_PKEY_free(key);
	free(kpath);
	free(cpath);
	return rc;
}
