/*
 * sealpolicy.c - the usage policy of one sealed message: built from a
 * template and the message's facts when sealing, parsed when opening.
 *
 *   {"v":1,"seal_id":"5f0c...","template":"do-not-forward","rights":["view","reply"],
 *    "issued_at":"2026-11-22T10:00:00Z","expires":"2026-12-22T10:00:00Z",
 *    "recipients":["bob@partner.test"],"sender":"alice@example.com","message_id":"<m1@example.com>"}
 *
 * JSON, because any reader (a browser, a script, jq) can read it; it is a
 * signed attribute of the sealed object, so it is authentic once the
 * signature verified, but it is still parsed as hostile input.
 *
 * Calling rules: thread-safe.
 * Untrusted input: the JSON (from a sealed attachment in mail). The parser
 * is strict and bounded: at most SEAL_POLICY_MAX bytes, one flat object of
 * strings, integers, null and arrays of strings (unknown keys of those types
 * are skipped, for later versions), strings at most 4096 bytes, arrays at
 * most 10000 items, no duplicate keys, valid escapes only.
 */
#include "build-config.h"

#include <ctype.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/buf.h"
#include "seal/sealpolicy.h"

#define MAX_STRING 4096
#define MAX_ITEMS 10000

/* ---- writing ------------------------------------------------------------- */

/* Length of a valid UTF-8 sequence at p (at most n bytes), or 0. */
static size_t
utf8_len(const unsigned char *p, size_t n)
{
	size_t len, i;
	unsigned cp;

	if (p[0] < 0x80)
		return 1;
	if ((p[0] & 0xe0) == 0xc0) {
		len = 2;
		cp = p[0] & 0x1f;
	} else if ((p[0] & 0xf0) == 0xe0) {
		len = 3;
		cp = p[0] & 0x0f;
	} else if ((p[0] & 0xf8) == 0xf0) {
		len = 4;
		cp = p[0] & 0x07;
	} else
		return 0;
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

void
json_string(struct sbuf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s);

	sbuf_addc(b, '"');
	while (n > 0) {
		size_t l;
		if (*p == '"' || *p == '\\') {
			sbuf_addc(b, '\\');
			sbuf_addc(b, (char)*p);
			l = 1;
		} else if (*p < 0x20 || *p == 0x7f) {
			sbuf_printf(b, "\\u%04x", *p);
			l = 1;
		} else if ((l = utf8_len(p, n)) == 0) {
			sbuf_adds(b, "\\ufffd");      /* invalid UTF-8 from a header */
			l = 1;
		} else {
			sbuf_add(b, p, l);
		}
		p += l;
		n -= l;
	}
	sbuf_addc(b, '"');
}

static void
json_time(struct sbuf *b, time_t t)
{
	struct tm tm;
	char buf[32];

	gmtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	json_string(b, buf);
}

static int
new_uuid(char out[37])
{
	unsigned char r[16];

	if (RAND_bytes(r, sizeof(r)) != 1)
		return -1;
	r[6] = (unsigned char)((r[6] & 0x0f) | 0x40);
	r[8] = (unsigned char)((r[8] & 0x3f) | 0x80);
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", r[0], r[1], r[2],
	    r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13], r[14], r[15]);
	return 0;
}

char *
seal_policy_build(const struct seal_template *t, const char *sender, char *const *rcpts, size_t nrcpts,
    const char *message_id, time_t now, size_t *len)
{
	struct sbuf b;
	char uuid[37];
	unsigned i, first = 1;
	size_t j;
	time_t exp = t->expires_at ? t->expires_at : t->expires_after ? now + (time_t)t->expires_after : 0;

	if (new_uuid(uuid) != 0)
		return NULL;
	sbuf_init(&b, SEAL_POLICY_MAX);
	sbuf_printf(&b, "{\"v\":%d,\"seal_id\":", SEAL_POLICY_VERSION);
	json_string(&b, uuid);
	sbuf_adds(&b, ",\"template\":");
	json_string(&b, t->name);
	sbuf_adds(&b, ",\"rights\":[");
	for (i = 0; i < RIGHT_COUNT; i++)
		if (t->rights & (1u << i)) {
			if (!first)
				sbuf_addc(&b, ',');
			json_string(&b, seal_right_name(i));
			first = 0;
		}
	sbuf_adds(&b, "],\"issued_at\":");
	json_time(&b, now);
	sbuf_adds(&b, ",\"expires\":");
	if (exp)
		json_time(&b, exp);
	else
		sbuf_adds(&b, "null");
	sbuf_adds(&b, ",\"recipients\":[");
	if (t->recipients_message) {
		for (j = 0; j < nrcpts; j++) {
			if (j)
				sbuf_addc(&b, ',');
			json_string(&b, rcpts[j]);
		}
	} else {
		for (j = 0; j < t->recipients.n; j++) {
			if (j)
				sbuf_addc(&b, ',');
			json_string(&b, t->recipients.v[j]);
		}
	}
	sbuf_adds(&b, "],\"sender\":");
	json_string(&b, sender ? sender : "");
	sbuf_adds(&b, ",\"message_id\":");
	json_string(&b, message_id ? message_id : "");
	sbuf_addc(&b, '}');
	/* An append that passed SEAL_POLICY_MAX was dropped, and a later shorter
	 * one may have fit: check the result is what a reader will parse. */
	{
		struct seal_policy check;
		char *err = NULL;
		int ok = b.data && seal_policy_parse(b.data, b.len, &check, &err) == 0;
		if (ok)
			seal_policy_free(&check);
		free(err);
		if (!ok) {
			sbuf_free(&b);
			return NULL;
		}
	}
	*len = b.len;
	return sbuf_steal(&b);
}

/* ---- parsing ------------------------------------------------------------- */

struct parser {
	const char *start, *p, *end;
	char *err;
};

static int
fail(struct parser *P, const char *what)
{
	if (P->err == NULL && asprintf(&P->err, "policy: %s at byte %ld", what, (long)(P->p - P->start)) < 0)
		P->err = NULL;
	return -1;
}

static void
ws(struct parser *P)
{
	while (P->p < P->end && (*P->p == ' ' || *P->p == '\t' || *P->p == '\n' || *P->p == '\r'))
		P->p++;
}

static int
hex4(const char *p, unsigned *out)
{
	unsigned v = 0;
	int i;

	for (i = 0; i < 4; i++) {
		int c = (unsigned char)p[i];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

/* A JSON string into *out (malloc'd, NUL-free). */
static int
string(struct parser *P, char **out)
{
	struct sbuf b;

	if (P->p >= P->end || *P->p != '"')
		return fail(P, "expected a string");
	P->p++;
	sbuf_init(&b, MAX_STRING);
	while (P->p < P->end && *P->p != '"') {
		unsigned char c = (unsigned char)*P->p;
		int rc = 0;
		if (c < 0x20) {
			sbuf_free(&b);
			return fail(P, "control character in a string");
		}
		if (c == '\\') {
			if (P->end - P->p < 2) {
				sbuf_free(&b);
				return fail(P, "truncated escape");
			}
			P->p++;
			switch (*P->p) {
			case '"': case '\\': case '/': rc = sbuf_addc(&b, *P->p); break;
			case 'b': rc = sbuf_addc(&b, '\b'); break;
			case 'f': rc = sbuf_addc(&b, '\f'); break;
			case 'n': rc = sbuf_addc(&b, '\n'); break;
			case 'r': rc = sbuf_addc(&b, '\r'); break;
			case 't': rc = sbuf_addc(&b, '\t'); break;
			case 'u': {
				unsigned cp, lo;
				if (P->end - P->p < 5 || hex4(P->p + 1, &cp) != 0) {
					sbuf_free(&b);
					return fail(P, "bad \\u escape");
				}
				P->p += 4;
				if (cp >= 0xd800 && cp <= 0xdbff) {
					if (P->end - P->p < 7 || P->p[1] != '\\' || P->p[2] != 'u' || hex4(P->p + 3, &lo) != 0 ||
					    lo < 0xdc00 || lo > 0xdfff) {
						sbuf_free(&b);
						return fail(P, "unpaired surrogate");
					}
					P->p += 6;
					cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				} else if ((cp >= 0xdc00 && cp <= 0xdfff) || cp == 0) {
					sbuf_free(&b);
					return fail(P, "bad \\u escape");
				}
				sbuf_add_utf8(&b, cp);
				break;
			}
			default:
				sbuf_free(&b);
				return fail(P, "unknown escape");
			}
			P->p++;
		} else {
			size_t l = utf8_len((const unsigned char *)P->p, (size_t)(P->end - P->p));
			if (l == 0) {
				sbuf_free(&b);
				return fail(P, "invalid UTF-8");
			}
			rc = sbuf_add(&b, P->p, l);
			P->p += l;
		}
		if (rc != 0) {
			sbuf_free(&b);
			return fail(P, "string too long");
		}
	}
	if (P->p >= P->end) {
		sbuf_free(&b);
		return fail(P, "unterminated string");
	}
	P->p++;
	if ((*out = sbuf_steal(&b)) == NULL)      /* an append ran out of memory */
		return fail(P, "out of memory");
	return 0;
}

enum vkind { V_STRING, V_INT, V_NULL, V_ARRAY };

struct value {
	enum vkind kind;
	char *s;
	long long i;
	struct strlist a;
};

static void
value_free(struct value *v)
{
	free(v->s);
	strlist_free(&v->a);
	memset(v, 0, sizeof(*v));
}

static int
value(struct parser *P, struct value *v)
{
	memset(v, 0, sizeof(*v));
	ws(P);
	if (P->p >= P->end)
		return fail(P, "expected a value");
	if (*P->p == '"') {
		v->kind = V_STRING;
		return string(P, &v->s);
	}
	if (*P->p == 'n' && P->end - P->p >= 4 && memcmp(P->p, "null", 4) == 0) {
		v->kind = V_NULL;
		P->p += 4;
		return 0;
	}
	if (*P->p == '-' || isdigit((unsigned char)*P->p)) {
		int neg = *P->p == '-', digits = 0;
		v->kind = V_INT;
		if (neg)
			P->p++;
		while (P->p < P->end && isdigit((unsigned char)*P->p)) {
			if (++digits > 15)
				return fail(P, "number too large");
			v->i = v->i * 10 + (*P->p - '0');
			P->p++;
		}
		if (digits == 0)
			return fail(P, "bad number");
		if (neg)
			v->i = -v->i;
		return 0;
	}
	if (*P->p == '[') {
		v->kind = V_ARRAY;
		P->p++;
		ws(P);
		if (P->p < P->end && *P->p == ']') {
			P->p++;
			return 0;
		}
		for (;;) {
			char *s = NULL;
			ws(P);
			if (string(P, &s) != 0)
				return -1;
			if (v->a.n >= MAX_ITEMS || strlist_add(&v->a, s) != 0) {
				free(s);
				return fail(P, "array too long");
			}
			free(s);
			ws(P);
			if (P->p < P->end && *P->p == ',') {
				P->p++;
				continue;
			}
			if (P->p < P->end && *P->p == ']') {
				P->p++;
				return 0;
			}
			return fail(P, "expected , or ] in an array");
		}
	}
	return fail(P, "unsupported value (strings, integers, null and arrays of strings only)");
}

static int
parse_time(const char *s, time_t *out)
{
	struct tm tm;
	char *end;

	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (end == NULL || *end != '\0')
		return -1;
	*out = timegm(&tm);
	return *out == (time_t)-1 ? -1 : 0;
}

/* 8-4-4-4-12 hexadecimal digits: a seal id goes into headers. */
static int
is_uuid(const char *s)
{
	size_t i;

	if (strlen(s) != 36)
		return 0;
	for (i = 0; i < 36; i++)
		if ((i == 8 || i == 13 || i == 18 || i == 23) ? s[i] != '-' : !isxdigit((unsigned char)s[i]))
			return 0;
	return 1;
}

int
seal_policy_parse(const char *json, size_t len, struct seal_policy *out, char **err)
{
	static const char *const required[] = { "v", "seal_id", "template", "rights", "issued_at", "expires",
		"recipients", "sender", "message_id" };
	struct parser P = { json, json, json + len, NULL };
	struct strlist seen = { NULL, 0 };
	unsigned have = 0;
	size_t i;

	memset(out, 0, sizeof(*out));
	*err = NULL;
	if (len > SEAL_POLICY_MAX) {
		if (asprintf(err, "policy: larger than %u bytes", SEAL_POLICY_MAX) < 0)
			*err = NULL;
		return -1;
	}
	ws(&P);
	if (P.p >= P.end || *P.p != '{') {
		fail(&P, "expected an object");
		goto bad;
	}
	P.p++;
	ws(&P);
	if (P.p < P.end && *P.p == '}') {
		P.p++;
	} else for (;;) {
		char *key = NULL;
		struct value v;
		int known = -1, ok = 1;
		ws(&P);
		if (string(&P, &key) != 0)
			goto bad;
		for (i = 0; i < seen.n; i++)
			if (strcmp(seen.v[i], key) == 0) {
				free(key);
				fail(&P, "duplicate key");
				goto bad;
			}
		if (strlist_add(&seen, key) != 0) {
			free(key);
			fail(&P, "out of memory");
			goto bad;
		}
		ws(&P);
		if (P.p >= P.end || *P.p != ':') {
			free(key);
			fail(&P, "expected :");
			goto bad;
		}
		P.p++;
		if (value(&P, &v) != 0) {
			free(key);
			value_free(&v);
			goto bad;
		}
		for (i = 0; i < sizeof(required) / sizeof(required[0]); i++)
			if (strcmp(key, required[i]) == 0)
				known = (int)i;
		switch (known) {
		case 0: ok = v.kind == V_INT; out->version = (int)v.i; break;
		case 1: ok = v.kind == V_STRING && is_uuid(v.s); out->seal_id = v.s; v.s = NULL; break;
		case 2: ok = v.kind == V_STRING; out->template_name = v.s; v.s = NULL; break;
		case 3:
			ok = v.kind == V_ARRAY;
			for (i = 0; ok && i < v.a.n; i++) {
				unsigned bit = seal_right_bit(v.a.v[i]);
				ok = bit != 0;
				out->rights |= bit;
			}
			break;
		case 4: ok = v.kind == V_STRING && parse_time(v.s, &out->issued_at) == 0; break;
		case 5: ok = v.kind == V_NULL || (v.kind == V_STRING && parse_time(v.s, &out->expires) == 0); break;
		case 6: ok = v.kind == V_ARRAY; out->recipients = v.a; memset(&v.a, 0, sizeof(v.a)); break;
		case 7: ok = v.kind == V_STRING; out->sender = v.s; v.s = NULL; break;
		case 8: ok = v.kind == V_STRING; out->message_id = v.s; v.s = NULL; break;
		default: break;     /* a later version's field */
		}
		if (known >= 0)
			have |= 1u << known;
		value_free(&v);
		if (!ok) {
			if (asprintf(&P.err, "policy: %s has a wrong type or value", key) < 0)
				P.err = NULL;
			free(key);
			goto bad;
		}
		free(key);
		ws(&P);
		if (P.p < P.end && *P.p == ',') {
			P.p++;
			continue;
		}
		if (P.p < P.end && *P.p == '}') {
			P.p++;
			break;
		}
		fail(&P, "expected , or } in the object");
		goto bad;
	}
	ws(&P);
	if (P.p != P.end) {
		fail(&P, "text after the object");
		goto bad;
	}
	for (i = 0; i < sizeof(required) / sizeof(required[0]); i++)
		if (!(have & (1u << i))) {
			if (asprintf(&P.err, "policy: %s is missing", required[i]) < 0)
				P.err = NULL;
			goto bad;
		}
	if (out->version != SEAL_POLICY_VERSION) {
		if (asprintf(&P.err, "policy: version %d is not supported (this is version %d)", out->version,
		    SEAL_POLICY_VERSION) < 0)
			P.err = NULL;
		goto bad;
	}
	if (!(out->rights & RIGHT_VIEW)) {
		P.err = strdup("policy: no view right");
		goto bad;
	}
	strlist_free(&seen);
	return 0;
bad:
	strlist_free(&seen);
	seal_policy_free(out);
	*err = P.err ? P.err : strdup("policy: does not parse");
	return -1;
}

int
seal_policy_expired(const struct seal_policy *p, time_t now)
{
	return p->expires != 0 && now >= p->expires;
}

int
seal_policy_allows(const struct seal_policy *p, const char *addr)
{
	const char *at = strrchr(addr, '@');
	size_t i;

	for (i = 0; i < p->recipients.n; i++) {
		const char *r = p->recipients.v[i];
		if (strchr(r, '@') ? strcasecmp(r, addr) == 0 : (at && domain_matches(at + 1, r)))
			return 1;
	}
	return 0;
}

void
seal_policy_free(struct seal_policy *p)
{
	free(p->seal_id);
	free(p->template_name);
	free(p->sender);
	free(p->message_id);
	strlist_free(&p->recipients);
	memset(p, 0, sizeof(*p));
}
