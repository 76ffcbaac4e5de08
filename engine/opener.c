/*
 * opener.c - open a sealed message: find its message.sealed attachment
 * (captured by the session's MIME scan, bounded by SEALED_MAX), check the
 * signature, read and check the policy (it must parse, and must not have
 * expired), decrypt, and only then write the original out.
 *
 * Calling rules: after seal_session_eom(); thread-safe.
 * Untrusted input: the whole message. Every refusal has its own reason and
 * result, and no partial plaintext is ever written.
 */
#include "build-config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/opener.h"
#include "seal/cms.h"

static enum open_result
because(char **reason, enum open_result r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static enum open_result
because(char **reason, enum open_result r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(reason, fmt, ap) < 0)
		*reason = NULL;
	va_end(ap);
	return r;
}

enum open_result
seal_open(const struct seal_session *s, time_t now, int ignore_expiry, BIO *out, struct seal_policy *policy,
    char **reason)
{
	const struct seal_config *cfg = seal_session_config(s);
	const char *att;
	size_t len, plen = 0;
	int too_big;
	BIO *in = NULL, *plain = NULL;
	char *json = NULL, *err = NULL, *data;
	enum open_result r;
	enum seal_open_error e;
	long n;

	*reason = NULL;
	memset(policy, 0, sizeof(*policy));
	att = seal_session_sealed(s, &len, &too_big);
	if (att == NULL)
		return too_big ? because(reason, OPEN_NOT_SEALED, "the sealed attachment is larger than %u bytes", SEALED_MAX)
		    : because(reason, OPEN_NOT_SEALED, "no sealed attachment (message.sealed) in this message");
	in = BIO_new_mem_buf(att, (int)len);
	plain = BIO_new(BIO_s_mem());
	if (in == NULL || plain == NULL) {
		r = because(reason, OPEN_INTERNAL, "out of memory");
		goto out;
	}
	e = seal_cms_open(&cfg->keys, in, SEALED_MAX, &json, &plen, plain, &err);
	switch (e) {
	case SEAL_OPEN_OK:
		break;
	case SEAL_OPEN_NOT_SEALED:
		r = because(reason, OPEN_NOT_SEALED, "the attachment is not a sealed object: %s", err ? err : "?");
		goto out;
	case SEAL_OPEN_BAD_SIGNATURE:
	case SEAL_OPEN_NO_POLICY:
		r = because(reason, OPEN_BAD_SIGNATURE, "%s", seal_open_error_name(e));
		goto out;
	case SEAL_OPEN_NO_KEY:
		r = because(reason, OPEN_NO_KEY, "%s", seal_open_error_name(e));
		goto out;
	case SEAL_OPEN_ALTERED:
		r = because(reason, OPEN_ALTERED, "%s", seal_open_error_name(e));
		goto out;
	default:
		r = because(reason, OPEN_INTERNAL, "%s", err ? err : "internal error");
		goto out;
	}
	free(err);
	err = NULL;
	if (seal_policy_parse(json, plen, policy, &err) != 0) {
		r = because(reason, OPEN_BAD_SIGNATURE, "the policy does not parse: %s", err ? err : "?");
		goto out;
	}
	if (seal_policy_expired(policy, now) && !ignore_expiry) {
		r = because(reason, OPEN_EXPIRED, "the policy expired (it was sealed under template %s)",
		    policy->template_name);
		goto out;
	}
	n = BIO_get_mem_data(plain, &data);
	if (n < 0 || (n > 0 && BIO_write(out, data, (int)n) != (int)n) || BIO_flush(out) != 1) {
		r = because(reason, OPEN_INTERNAL, "cannot write the original");
		goto out;
	}
	r = OPEN_OK;
out:
	if (r != OPEN_OK && r != OPEN_EXPIRED)
		seal_policy_free(policy);
	free(json);
	free(err);
	BIO_free(in);
	BIO_free(plain);
	return r;
}
