/*
 * sig.c - parse a DKIM-Signature field value (RFC 6376 3.5, RFC 8301,
 * RFC 8463) into a struct dkim_sig.
 *
 * Required: v=1, a=, b=, bh=, d=, h= (naming From), s=. Optional: c=, i=
 * (within d=), l=, q= (dns/txt), t=, x= (after t=). a=rsa-sha1 is refused
 * (RFC 8301). Every refusal is a permerror, with the reason in *err.
 *
 * Calling rules: pure; thread-safe.
 * Untrusted input: the value, as received (a header field of the message).
 */
#include "build-config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dkim/dkim.h"

static int
fail(char **err, const char *msg)
{
	if (*err == NULL)
		*err = strdup(msg);
	return -1;
}

/* Domain names and selectors: dot-separated labels of letters, digits,
 * '-' and '_', no empty label, at most 253 characters. */
static int
valid_name(const char *s)
{
	size_t n = strlen(s), label = 0;

	if (n == 0 || n > 253)
		return 0;
	for (; *s; s++) {
		if (*s == '.') {
			if (label == 0)
				return 0;
			label = 0;
		} else if (isalnum((unsigned char)*s) || *s == '-' || *s == '_') {
			if (++label > 63)
				return 0;
		} else {
			return 0;
		}
	}
	return label > 0;
}

static int
number(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (*s == '\0' || strlen(s) > 19)
		return -1;
	for (; *s; s++) {
		if (!isdigit((unsigned char)*s))
			return -1;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return 0;
}

static int
canon_name(const char *s, size_t n, enum dkim_canon *c)
{
	if (n == 6 && strncmp(s, "simple", 6) == 0)
		*c = DKIM_SIMPLE;
	else if (n == 7 && strncmp(s, "relaxed", 7) == 0)
		*c = DKIM_RELAXED;
	else
		return -1;
	return 0;
}

/* h=: colon-separated field names, white space around each allowed. */
static int
parse_h(const char *v, struct strlist *out)
{
	const char *p = v;
	int from = 0;

	while (1) {
		const char *s, *e, *colon = strchr(p, ':');
		char *name;
		e = colon ? colon : p + strlen(p);
		for (s = p; s < e && isspace((unsigned char)*s); s++)
			;
		while (e > s && isspace((unsigned char)e[-1]))
			e--;
		if (e == s)
			return -1;
		if (out->n >= DKIM_MAX_SIGNED_HEADERS)
			return -2;
		name = xstrndup(s, (size_t)(e - s));
		if (name == NULL)
			return -1;
		for (char *q = name; *q; q++) {
			if ((unsigned char)*q <= ' ' || (unsigned char)*q > '~') {
				free(name);
				return -1;
			}
			*q = (char)tolower((unsigned char)*q);
		}
		if (strcmp(name, "from") == 0)
			from = 1;
		if (strlist_add(out, name) != 0) {
			free(name);
			return -1;
		}
		free(name);
		if (colon == NULL)
			break;
		p = colon + 1;
	}
	return from ? 0 : -3;
}

int
dkim_sig_parse(const char *value, struct dkim_sig *sig, char **err)
{
	struct dkim_tags t;
	const struct dkim_tag *tg;
	char *perr = NULL, *bh = NULL;
	int rc = -1, hr;

	memset(sig, 0, sizeof(*sig));
	*err = NULL;
	if (dkim_tags_parse(value, strlen(value), &t, &perr) != 0) {
		if (asprintf(err, "signature: %s", perr ? perr : "invalid tag-list") < 0)
			*err = NULL;
		free(perr);
		return -1;
	}
	/* d= and s= first, so a failure can still be reported with them. */
	if ((tg = dkim_tag_get(&t, "d")) != NULL && valid_name(tg->value)) {
		if ((sig->d = strdup(tg->value)) != NULL)
			for (char *q = sig->d; *q; q++)
				*q = (char)tolower((unsigned char)*q);
	}
	if ((tg = dkim_tag_get(&t, "s")) != NULL && valid_name(tg->value))
		sig->s = strdup(tg->value);
	if ((tg = dkim_tag_get(&t, "b")) != NULL) {
		sig->b64 = dkim_strip_ws(tg->value);
		sig->b_start = tg->vstart;
		sig->b_end = tg->vend;
	}
	if ((tg = dkim_tag_get(&t, "v")) == NULL || strcmp(tg->value, "1") != 0) {
		fail(err, "signature: v= is missing or not 1");
		goto out;
	}
	if ((tg = dkim_tag_get(&t, "a")) == NULL) {
		fail(err, "signature: no a= tag");
		goto out;
	}
	if (strcasecmp(tg->value, "rsa-sha256") == 0)
		sig->alg = DKIM_RSA_SHA256;
	else if (strcasecmp(tg->value, "ed25519-sha256") == 0)
		sig->alg = DKIM_ED25519_SHA256;
	else if (strcasecmp(tg->value, "rsa-sha1") == 0) {
		fail(err, "rsa-sha1 is not accepted (RFC 8301)");
		goto out;
	} else {
		fail(err, "signature: unknown algorithm a=");
		goto out;
	}
	if (dkim_tag_get(&t, "d") == NULL || sig->d == NULL) {
		fail(err, dkim_tag_get(&t, "d") ? "signature: d= is not a domain name" : "signature: no d= tag");
		goto out;
	}
	if (dkim_tag_get(&t, "s") == NULL || sig->s == NULL) {
		fail(err, dkim_tag_get(&t, "s") ? "signature: s= is not a valid selector" : "signature: no s= tag");
		goto out;
	}
	if (sig->b64 == NULL || *sig->b64 == '\0' || (sig->b = dkim_b64_decode(sig->b64, &sig->blen)) == NULL) {
		fail(err, "signature: b= is missing or not base64");
		goto out;
	}
	if ((tg = dkim_tag_get(&t, "bh")) == NULL || (bh = dkim_strip_ws(tg->value)) == NULL ||
	    (sig->bh = dkim_b64_decode(bh, &sig->bhlen)) == NULL || sig->bhlen != 32) {
		fail(err, "signature: bh= is missing or not a base64 SHA-256 hash");
		goto out;
	}
	if ((tg = dkim_tag_get(&t, "h")) == NULL) {
		fail(err, "signature: no h= tag");
		goto out;
	}
	if ((hr = parse_h(tg->value, &sig->h)) != 0) {
		fail(err, hr == -3 ? "signature: h= does not include From" : hr == -2 ? "signature: h= names too many fields"
		    : "signature: h= is malformed");
		goto out;
	}
	sig->hcanon = sig->bcanon = DKIM_SIMPLE;
	if ((tg = dkim_tag_get(&t, "c")) != NULL) {
		const char *slash = strchr(tg->value, '/');
		size_t hl = slash ? (size_t)(slash - tg->value) : strlen(tg->value);
		if (canon_name(tg->value, hl, &sig->hcanon) != 0 ||
		    (slash && canon_name(slash + 1, strlen(slash + 1), &sig->bcanon) != 0)) {
			fail(err, "signature: unknown canonicalization c=");
			goto out;
		}
	}
	if ((tg = dkim_tag_get(&t, "q")) != NULL && !dkim_list_has(tg->value, "dns/txt", 1)) {
		fail(err, "signature: q= does not offer dns/txt");
		goto out;
	}
	if ((tg = dkim_tag_get(&t, "l")) != NULL) {
		if (number(tg->value, &sig->l) != 0) {
			fail(err, "signature: l= is not a number (or too large)");
			goto out;
		}
		sig->has_l = 1;
	}
	if ((tg = dkim_tag_get(&t, "t")) != NULL) {
		if (number(tg->value, &sig->t) != 0) {
			fail(err, "signature: t= is not a number");
			goto out;
		}
		sig->has_t = 1;
	}
	if ((tg = dkim_tag_get(&t, "x")) != NULL) {
		if (number(tg->value, &sig->x) != 0) {
			fail(err, "signature: x= is not a number");
			goto out;
		}
		sig->has_x = 1;
		if (sig->has_t && sig->x <= sig->t) {
			fail(err, "signature: x= is not after t=");
			goto out;
		}
	}
	if ((tg = dkim_tag_get(&t, "i")) != NULL) {
		const char *at = strrchr(tg->value, '@');
		if (at == NULL || !valid_name(at + 1) || !domain_matches(at + 1, sig->d)) {
			fail(err, "signature: i= is not within d=");
			goto out;
		}
		sig->i = strdup(tg->value);
	} else if (asprintf(&sig->i, "@%s", sig->d) < 0) {
		sig->i = NULL;
	}
	if (sig->i == NULL) {
		fail(err, "out of memory");
		goto out;
	}
	rc = 0;
out:
	free(bh);
	dkim_tags_free(&t);
	return rc;
}

void
dkim_sig_free(struct dkim_sig *sig)
{
	free(sig->d);
	free(sig->s);
	free(sig->i);
	free(sig->b64);
	free(sig->b);
	free(sig->bh);
	strlist_free(&sig->h);
	memset(sig, 0, sizeof(*sig));
}
