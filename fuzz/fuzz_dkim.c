/*
 * fuzz_dkim.c - libFuzzer target for DKIM: the bytes up to the first LF are
 * a key record (what DNS would answer for every selector, also parsed alone
 * and as TXT RDATA); the rest is a message whose DKIM-Signature fields are
 * parsed and verified in full (header data, streamed body in uneven chunks,
 * keys, signatures) and whose outcomes become an Authentication-Results
 * value. Every header value also goes through the tag-list parser and the
 * authserv-id check.
 *
 * Input faced: anything. The target must never crash, leak or hang; a
 * signature that passes must have a key that parsed (it aborts otherwise).
 */
#include "build-config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dkim/dkim.h"
#include "dns/resolver.h"
#include "rules/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *key_record;

static void *
fz_start(void *arg, const char *name)
{
	(void)arg;
	return strdup(name);
}

static void
fz_wait(void *arg, void *h, struct dns_txt *out)
{
	(void)arg;
	memset(out, 0, sizeof(*out));
	free(h);
	out->status = DNS_FOUND;
	out->records = calloc(1, sizeof(char *));
	if (out->records && (out->records[0] = strdup(key_record)) != NULL)
		out->nrecords = 1;
}

static void
fz_cancel(void *arg, void *h)
{
	(void)arg;
	free(h);
}

/* Header fields of a message: name ":" value lines, continuation lines
 * folded in, until an empty line. Returns the number of fields. */
static size_t
split(char *p, char *end, struct header *h, size_t max, char **body)
{
	size_t n = 0;

	while (p < end && *p != '\n' && !(*p == '\r' && p + 1 < end && p[1] == '\n')) {
		char *e = p, *colon;
		for (;;) {
			while (e < end && *e != '\n')
				e++;
			if (e + 1 < end && (e[1] == ' ' || e[1] == '\t')) {
				e++;
				continue;
			}
			break;
		}
		colon = memchr(p, ':', (size_t)(e - p));
		if (e < end)
			*e = '\0';
		if (colon && n < max && e < end) {
			*colon = '\0';
			h[n].name = p;
			h[n].value = colon + 1;
			n++;
		}
		p = e < end ? e + 1 : end;
	}
	if (p < end)
		p += *p == '\r' ? 2 : 1;
	*body = p < end ? p : end;
	return n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *lf = memchr(data, '\n', size);
	size_t klen = lf ? (size_t)(lf - data) : size, i, n, unchecked;
	char *msg, *body, *ar, *rd;
	struct header h[64];
	struct dkim_opts o = { 3, 1 };
	struct dkim_lookup lk = { fz_start, fz_wait, fz_cancel, NULL };
	struct dkim_verifier *v;
	const struct dkim_outcome *out;
	struct dkim_key k;
	char *err = NULL;

	key_record = malloc(klen + 1);
	msg = malloc(size - klen + 1);
	if (key_record == NULL || msg == NULL)
		abort();
	memcpy(key_record, data, klen);
	key_record[klen] = '\0';
	if (dkim_key_parse(key_record, &k, &err) == 0)
		dkim_key_free(&k);
	free(err);
	rd = dns_txt_rdata(data, klen);
	free(rd);
	n = size - klen - (lf ? 1 : 0);
	memcpy(msg, lf ? (const char *)lf + 1 : "", n);
	msg[n] = '\0';
	n = split(msg, msg + n, h, 64, &body);
	for (i = 0; i < n; i++) {
		struct dkim_tags t;
		struct dkim_sig s;
		err = NULL;
		if (dkim_tags_parse(h[i].value, strlen(h[i].value), &t, &err) == 0)
			dkim_tags_free(&t);
		free(err);
		err = NULL;
		(void)dkim_sig_parse(h[i].value, &s, &err);
		dkim_sig_free(&s);
		free(err);
		(void)dkim_authres_is_ours(h[i].value, "mx.example.org");
	}
	v = dkim_verify_start(h, n, &o, &lk, 1700000000);
	if (v == NULL)
		abort();
	{
		size_t blen = strlen(body), off = 0, chunk = 1;
		while (off < blen) {
			size_t c = blen - off < chunk ? blen - off : chunk;
			dkim_verify_body(v, body + off, c);
			off += c;
			chunk = chunk * 3 + 1;
		}
	}
	out = dkim_verify_finish(v, &n, &unchecked);
	if (out == NULL)
		abort();
	for (i = 0; i < n; i++)
		if (out[i].result == DKIM_PASS) {
			/* A pass needs a key that parses. */
			err = NULL;
			if (dkim_key_parse(key_record, &k, &err) != 0)
				abort();
			dkim_key_free(&k);
		}
	ar = dkim_authres("mx.example.org", out, n, unchecked);
	free(ar);
	dkim_verify_free(v);
	free(msg);
	free(key_record);
	return 0;
}
