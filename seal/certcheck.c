/*
 * certcheck.c - certificate care: the certificates of a loaded
 * configuration (S/MIME signing identities, the tenant and issuer keys,
 * sealview.tls_cert), how many days each has left, and whether each signing
 * identity's chain verifies. Warnings start milter.expiry_warning before
 * the end.
 *
 * One line per certificate, for `sealmilter -n` and `sealctl keys check`:
 *   ok       signing ceo@example.com: /etc/sealmilter/ceo.pem: 212 days left; chain verifies
 *   WARNING  signing *@example.com: ...: expires in 12 days (2026-12-05)
 *   ERROR    signing cfo: ...: expired 3 days ago (2026-11-20)
 *   WARNING  ...: chain does not verify: unable to get local issuer certificate
 * A chain verifies when the identity's chain: holds its way up to a
 * self-signed root (S/MIME signing purpose, at the time of the check).
 *
 * Calling rules: read-only over the configuration; thread-safe.
 * Untrusted input: none (the administrator's certificates).
 */
#include "build-config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "common/log.h"
#include "rules/config.h"
#include "seal/certcheck.h"

static void
date_of(const ASN1_TIME *t, char *out, size_t n)
{
	struct tm tm;

	if (ASN1_TIME_to_tm(t, &tm) == 1)
		strftime(out, n, "%Y-%m-%d", &tm);
	else
		snprintf(out, n, "?");
}

/* Days from now to t (negative: past). */
static int
days_to(const ASN1_TIME *t)
{
	int days = 0, secs = 0;

	if (ASN1_TIME_diff(&days, &secs, NULL, t) != 1)
		return 0;
	return days;
}

/* One certificate: 0 ok, 1 warning, 2 error. */
static int
report_cert(FILE *out, const char *what, const char *path, X509 *cert, int warn_days, const char *chain_note,
    int chain_bad)
{
	char date[32];
	int left = days_to(X509_get0_notAfter(cert)), level;

	date_of(X509_get0_notAfter(cert), date, sizeof(date));
	if (X509_cmp_current_time(X509_get0_notAfter(cert)) < 0) {
		level = 2;
		fprintf(out, "ERROR    %s: %s: expired %d day%s ago (%s)", what, path, -left, -left == 1 ? "" : "s", date);
	} else if (X509_cmp_current_time(X509_get0_notBefore(cert)) > 0) {
		level = 2;
		date_of(X509_get0_notBefore(cert), date, sizeof(date));
		fprintf(out, "ERROR    %s: %s: not valid before %s", what, path, date);
	} else if (left <= warn_days) {
		level = 1;
		fprintf(out, "WARNING  %s: %s: expires in %d day%s (%s)", what, path, left, left == 1 ? "" : "s", date);
	} else {
		/* A chain that does not verify is a warning: the signature still verifies where the issuer is trusted. */
		level = chain_bad ? 1 : 0;
		fprintf(out, "%s%s: %s: %d days left (%s)", chain_bad ? "WARNING  " : "ok       ", what, path, left, date);
	}
	if (chain_note)
		fprintf(out, "; %s", chain_note);
	fputc('\n', out);
	return level;
}

/* Does the signing certificate verify up to a root in its own chain? */
static const char *
chain_status(const struct smime_identity *id, char *buf, size_t n, int *bad)
{
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	STACK_OF(X509) *untrusted = sk_X509_new_null();
	int i, roots = 0, ok = 0;

	*bad = 0;
	if (store == NULL || ctx == NULL || untrusted == NULL) {
		snprintf(buf, n, "chain not checked (out of memory)");
		goto out;
	}
	for (i = 0; i < sk_X509_num(id->chain); i++) {
		X509 *x = sk_X509_value(id->chain, i);
		if (X509_check_issued(x, x) == X509_V_OK) {
			X509_STORE_add_cert(store, x);
			roots++;
		} else {
			sk_X509_push(untrusted, x);
		}
	}
	if (roots == 0) {
		*bad = 1;
		snprintf(buf, n, "chain not verifiable: chain: holds no self-signed root (recipients need to trust the "
		    "issuer themselves)");
		goto out;
	}
	if (X509_STORE_CTX_init(ctx, store, id->cert, untrusted) == 1 &&
	    X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SMIME_SIGN) == 1)
		ok = X509_verify_cert(ctx) == 1;
	if (ok) {
		snprintf(buf, n, "chain verifies");
	} else {
		*bad = 1;
		snprintf(buf, n, "chain does not verify: %s", X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
	}
out:
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	sk_X509_free(untrusted);
	return buf;
}

/* The certificate in the PEM file at path, or NULL. */
static X509 *
read_cert(const char *path)
{
	FILE *f = fopen(path, "r");
	X509 *x;

	if (f == NULL)
		return NULL;
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	return x;
}

int
cert_warn_days(const struct seal_config *cfg)
{
	return cfg->expiry_warning ? (int)(cfg->expiry_warning / 86400) : CERT_WARN_DAYS;
}

int
cert_report(const struct seal_config *cfg, FILE *out, int warn_days)
{
	size_t i;
	int worst = 0, l;
	char what[300], note[300];

	for (i = 0; i < cfg->signing.n; i++) {
		const struct smime_identity *id = &cfg->signing.v[i];
		int bad;
		if (id->cert == NULL)
			continue;
		snprintf(what, sizeof(what), "signing %s", id->name);
		chain_status(id, note, sizeof(note), &bad);
		l = report_cert(out, what, id->cert_path, id->cert, warn_days, note, bad);
		if (bad && l == 0)
			l = 1;
		if (l > worst)
			worst = l;
	}
	for (i = 0; i < cfg->keys.ntenant; i++) {
		snprintf(what, sizeof(what), "tenant %s", cfg->keys.tenant[i].id);
		/* An expired tenant certificate still opens old mail; only the sealing one matters. */
		l = report_cert(out, what, cfg->keys.tenant[i].cert_path, cfg->keys.tenant[i].cert, warn_days,
		    i == 0 ? "seals new mail" : "opens older mail", 0);
		if (i == 0 && l > worst)
			worst = l;
	}
	if (cfg->keys.issuer_cert) {
		l = report_cert(out, "issuer", "keys.issuer.cert", cfg->keys.issuer_cert, warn_days, NULL, 0);
		if (l > worst)
			worst = l;
	}
	if (cfg->sv_tls_cert) {
		X509 *x = read_cert(cfg->sv_tls_cert);
		if (x == NULL) {
			fprintf(out, "WARNING  sealview.tls_cert: %s: cannot read a PEM certificate from it\n", cfg->sv_tls_cert);
			l = 1;
		} else {
			l = report_cert(out, "sealview.tls_cert", cfg->sv_tls_cert, x, warn_days, NULL, 0);
			X509_free(x);
		}
		if (l > worst)
			worst = l;
	}
	return worst;
}

int
cert_log_warnings(const struct seal_config *cfg)
{
	char *text = NULL, *line, *save = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	int worst;

	if (f == NULL)
		return -1;
	worst = cert_report(cfg, f, cert_warn_days(cfg));
	if (fclose(f) != 0 || text == NULL) {
		free(text);
		return -1;
	}
	for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "WARNING  ", 9) == 0)
			seal_warn("certificate: %s (milter.expiry_warning is %d days)", line + 9, cert_warn_days(cfg));
		else if (strncmp(line, "ERROR    ", 9) == 0)
			seal_err("certificate: %s", line + 9);
	}
	free(text);
	return worst;
}

static int
not_after(X509 *cert, time_t *out)
{
	struct tm tm;

	if (cert == NULL || ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) != 1)
		return -1;
	*out = timegm(&tm);
	return *out == (time_t)-1 ? -1 : 0;
}

void
cert_each(const struct seal_config *cfg, void (*fn)(void *arg, const char *kind, const char *name, time_t not_after),
    void *arg)
{
	time_t t;
	size_t i;

	for (i = 0; i < cfg->signing.n; i++)
		if (not_after(cfg->signing.v[i].cert, &t) == 0)
			fn(arg, "signing", cfg->signing.v[i].name, t);
	for (i = 0; i < cfg->keys.ntenant; i++)
		if (not_after(cfg->keys.tenant[i].cert, &t) == 0)
			fn(arg, "tenant", cfg->keys.tenant[i].id, t);
	if (not_after(cfg->keys.issuer_cert, &t) == 0)
		fn(arg, "issuer", "issuer", t);
}
