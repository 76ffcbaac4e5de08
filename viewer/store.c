/*
 * store.c - sealview's database, the common part: parse the store spec
 * ("sqlite:PATH", "postgresql://..." or "postgres://..."), dispatch every
 * call through the chosen backend's ops (viewer/store_impl.h), check and
 * normalise the arguments once for both backends, compute the audit chain's
 * HMAC and verify the chain, and free what the store fills in.
 *
 * Calling rules: a struct vstore may be used by any number of threads at
 * once (the backends keep a pool of connections); vstore_close() only when
 * no call is in progress. Each call into the backend is timed into the
 * histogram vstore_observe() gave (sealview_store_seconds). Strings filled into struct vmessage / vsession
 * are owned by the caller (vmessage_free / vsession_free); every *err is
 * malloc'd and names the store and the cause, never a password.
 * Untrusted input: lookups, addresses, seal ids, Message-IDs, nonces and
 * audit fields come from web requests and mail. They are only ever bound as
 * SQL parameters. Text must be UTF-8 (PostgreSQL insists): a lookup that is
 * not valid UTF-8 simply finds nothing, a write of such text is refused,
 * and audit fields, rate-limit keys and nonces have each invalid byte
 * replaced with '?' (the audit hash covers what is stored). Sizes are
 * bounded by the caller (request limits) and by the backends' own limits.
 */
#include "build-config.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "common/metrics.h"
#include "common/util.h"
#include "viewer/store.h"
#include "viewer/store_impl.h"

/* ---- timing --------------------------------------------------------------- */

/* Each call into the backend is timed (vstore_observe): a call never nests
 * another on the same thread, so one start time per thread will do. */
static __thread struct timespec op_t0;

static void
op_start(void)
{
	clock_gettime(CLOCK_MONOTONIC, &op_t0);
}

static void
op_done(const struct vstore *st, const char *op)
{
	struct timespec t1;

	if (st->latency == NULL)
		return;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	metric_observe(st->latency, METRIC_LV(op),
	    (double)(t1.tv_sec - op_t0.tv_sec) + (double)(t1.tv_nsec - op_t0.tv_nsec) / 1e9);
}

void
vstore_observe(struct vstore *st, struct metric *latency)
{
	if (st != NULL)
		st->latency = latency;
}

/* ---- errors ------------------------------------------------------------- */

/* Replace every occurrence of a secret in *msg with "***". */
static void
secrets_scrub(const struct vstore *st, char **msg)
{
	size_t i;

	for (i = 0; i < VSTORE_NSECRETS && *msg != NULL; i++) {
		const char *sec = st->secret[i];
		size_t sl, off = 0;
		char *hit;

		if (sec == NULL || (sl = strlen(sec)) == 0)
			continue;
		while ((hit = strstr(*msg + off, sec)) != NULL) {
			size_t at = (size_t)(hit - *msg);
			char *n = NULL;

			if (asprintf(&n, "%.*s***%s", (int)at, *msg, hit + sl) < 0) {
				free(*msg);
				*msg = NULL;
				break;
			}
			free(*msg);
			*msg = n;
			off = at + 3;
		}
	}
}

void
vstore_seterr(const struct vstore *st, char **err, const char *fmt, ...)
{
	va_list ap;
	char *msg = NULL;

	if (err == NULL)
		return;
	free(*err);
	*err = NULL;
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	if (msg == NULL)
		return;
	if (asprintf(err, "%s: %s", st != NULL && st->name != NULL ? st->name : "store", msg) < 0)
		*err = NULL;
	free(msg);
	if (st != NULL)
		secrets_scrub(st, err);
}

/* Give e to the caller, or drop it when the caller did not ask. */
static void
hand_err(char **err, char *e)
{
	if (err != NULL)
		*err = e;
	else
		free(e);
}

char *
vstore_strdup(const char *s)
{
	return strdup(s != NULL ? s : "");
}

/* ---- text checks ------------------------------------------------------------ */

/* Length of the valid UTF-8 sequence at p (n bytes left), or 0. */
static size_t
utf8_seq(const unsigned char *p, size_t n)
{
	unsigned char c = p[0];

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		return n >= 2 && (p[1] & 0xc0) == 0x80 ? 2 : 0;
	if (c >= 0xe0 && c <= 0xef) {
		if (n < 3 || (p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80)
			return 0;
		if (c == 0xe0 && p[1] < 0xa0)          /* overlong */
			return 0;
		if (c == 0xed && p[1] >= 0xa0)         /* surrogate */
			return 0;
		return 3;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		if (n < 4 || (p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80 || (p[3] & 0xc0) != 0x80)
			return 0;
		if (c == 0xf0 && p[1] < 0x90)          /* overlong */
			return 0;
		if (c == 0xf4 && p[1] >= 0x90)         /* past U+10FFFF */
			return 0;
		return 4;
	}
	return 0;
}

static int
utf8_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s), k;

	while (n > 0) {
		if ((k = utf8_seq(p, n)) == 0)
			return 0;
		p += k;
		n -= k;
	}
	return 1;
}

/* s itself when it is valid UTF-8 (*tofree NULL), else a copy with every
 * invalid byte replaced by '?' (*tofree: that copy). NULL counts as "".
 * Returns NULL on no memory. */
static const char *
utf8_clean(const char *s, char **tofree)
{
	char *c;
	size_t i = 0, n, k;

	*tofree = NULL;
	if (s == NULL)
		return "";
	if (utf8_valid(s))
		return s;
	n = strlen(s);
	if ((c = strdup(s)) == NULL)
		return NULL;
	while (i < n) {
		k = utf8_seq((const unsigned char *)c + i, n - i);
		if (k == 0) {
			c[i] = '?';
			k = 1;
		}
		i += k;
	}
	*tofree = c;
	return c;
}

/* A lookup id as a caller may register it: 1..64 printable ASCII. */
static int
lookup_ok(const char *s)
{
	size_t i;

	if (s == NULL || s[0] == '\0')
		return 0;
	for (i = 0; s[i] != '\0'; i++)
		if (i >= VSTORE_LOOKUP_LEN || s[i] <= ' ' || s[i] > '~')
			return 0;
	return 1;
}

static int
text_ok(const char *s)
{
	return s == NULL || utf8_valid(s);
}

/* a - b, clamped to the int64 range. */
static int64_t
sub_clamp(int64_t a, int64_t b)
{
	int64_t r;

	if (__builtin_sub_overflow(a, b, &r))
		return b > 0 ? INT64_MIN : INT64_MAX;
	return r;
}

/* ---- the spec ----------------------------------------------------------- */

/* "scheme://[user[:password]@]host[:port][/db][?params]" shown as
 * "scheme://[user@]host[:port][/db]": the password and every parameter (one
 * may be password=...) are left out. */
static char *
redact_uri(const char *spec)
{
	const char *sep = strstr(spec, "://");
	const char *auth, *aend, *at = NULL, *colon, *path, *pend, *p;
	char *out = NULL;
	int r;

	if (sep == NULL)
		return strdup(spec);
	auth = sep + 3;
	aend = auth + strcspn(auth, "/?");
	for (p = auth; p < aend; p++)
		if (*p == '@')
			at = p;
	path = aend;
	pend = path + strcspn(path, "?");
	if (at != NULL) {
		colon = memchr(auth, ':', (size_t)(at - auth));
		if (colon == NULL)
			colon = at;
		r = asprintf(&out, "%.*s%.*s@%.*s%.*s", (int)(auth - spec), spec, (int)(colon - auth), auth,
		    (int)(aend - at - 1), at + 1, (int)(pend - path), path);
	} else {
		r = asprintf(&out, "%.*s%.*s", (int)(aend - spec), spec, (int)(pend - path), path);
	}
	return r < 0 ? NULL : out;
}

char *
vstore_display(const char *spec)
{
	return strstr(spec, "://") != NULL ? redact_uri(spec) : strdup(spec);
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* A malloc'd percent-decoded copy of p[0..n). */
static char *
pct_decode(const char *p, size_t n)
{
	char *d = malloc(n + 1);
	size_t i, j = 0;

	if (d == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		if (p[i] == '%' && i + 2 < n && hexval(p[i + 1]) >= 0 && hexval(p[i + 2]) >= 0) {
			d[j++] = (char)(hexval(p[i + 1]) * 16 + hexval(p[i + 2]));
			i += 2;
		} else {
			d[j++] = p[i];
		}
	}
	d[j] = '\0';
	return d;
}

/* The secrets a spec may hold (the URI's password and a password=
 * parameter, as written and percent-decoded), so that no error message
 * ever repeats them. */
static void
secret_add(struct vstore *st, const char *p, size_t n)
{
	size_t i;

	if (n == 0)
		return;
	for (i = 0; i + 1 < VSTORE_NSECRETS; i += 2) {
		if (st->secret[i] == NULL) {
			st->secret[i] = strndup(p, n);
			st->secret[i + 1] = pct_decode(p, n);
			return;
		}
	}
}

static void
secrets_find(struct vstore *st, const char *spec)
{
	const char *sep = strstr(spec, "://");
	const char *auth, *aend, *at = NULL, *colon, *q, *p;

	if (sep == NULL)
		return;
	auth = sep + 3;
	aend = auth + strcspn(auth, "/?");
	for (p = auth; p < aend; p++)
		if (*p == '@')
			at = p;
	if (at != NULL && (colon = memchr(auth, ':', (size_t)(at - auth))) != NULL)
		secret_add(st, colon + 1, (size_t)(at - colon - 1));
	if ((q = strchr(spec, '?')) == NULL)
		return;
	for (p = q + 1; *p != '\0'; p += strcspn(p, "&"), p += *p == '&') {
		if (strncmp(p, "password=", 9) == 0 || strncmp(p, "sslpassword=", 12) == 0) {
			const char *v = strchr(p, '=') + 1;
			secret_add(st, v, strcspn(v, "&"));
		}
	}
}

static void
secrets_free(struct vstore *st)
{
	size_t i;

	for (i = 0; i < VSTORE_NSECRETS; i++) {
		if (st->secret[i] != NULL) {
			OPENSSL_cleanse(st->secret[i], strlen(st->secret[i]));
			free(st->secret[i]);
			st->secret[i] = NULL;
		}
	}
}

/* ---- open and close ------------------------------------------------------ */

static void
store_free(struct vstore *st)
{
	if (st == NULL)
		return;
	EVP_MAC_free(st->mac);
	secrets_free(st);
	OPENSSL_cleanse(st->audit_key, sizeof(st->audit_key));
	free(st->name);
	free(st);
}

int
vstore_open(const char *spec, const unsigned char audit_key[32], struct vstore **out, char **err)
{
	struct vstore *st;
	const char *target;
	char *e = NULL;

	if (err != NULL)
		*err = NULL;
	if (out == NULL)
		return -1;
	*out = NULL;
	if (spec == NULL || audit_key == NULL) {
		hand_err(err, strdup("store: no store spec or no audit key"));
		return -1;
	}
	if ((st = calloc(1, sizeof(*st))) == NULL) {
		hand_err(err, strdup("store: out of memory"));
		return -1;
	}
	target = spec;
	if (strncmp(spec, "sqlite:", 7) == 0) {
		st->ops = &vstore_sqlite_ops;
		target = spec + 7;
		st->name = strdup(spec);
	} else if (strncmp(spec, "postgresql://", 13) == 0 || strncmp(spec, "postgres://", 11) == 0) {
		st->ops = &vstore_pg_ops;
		st->name = redact_uri(spec);
		secrets_find(st, spec);
	} else if (strstr(spec, "://") != NULL) {
		st->name = redact_uri(spec);
	} else {
		/* Perhaps a libpq "key=value" string, with a password: show
		 * only what comes before the first ':', '=' or blank. */
		size_t n = strcspn(spec, ":= \t\n");

		st->name = n > 0 ? strndup(spec, n) : strdup("store");
	}
	if (st->name == NULL) {
		e = strdup("store: out of memory");
		goto fail;
	}
	if (st->ops == NULL) {
		vstore_seterr(st, &e, "unknown kind of store (want sqlite:PATH, postgresql://... or postgres://...)");
		goto fail;
	}
	if ((st->mac = EVP_MAC_fetch(NULL, "HMAC", NULL)) == NULL) {
		vstore_seterr(st, &e, "OpenSSL has no HMAC");
		goto fail;
	}
	memcpy(st->audit_key, audit_key, sizeof(st->audit_key));
	if (st->ops->open(st, target, &e) != 0) {
		if (e == NULL)
			vstore_seterr(st, &e, "cannot open the store");
		goto fail;
	}
	*out = st;
	return 0;
fail:
	secrets_scrub(st, &e);
	hand_err(err, e);
	store_free(st);
	return -1;
}

void
vstore_close(struct vstore *st)
{
	if (st == NULL)
		return;
	if (st->impl != NULL)
		st->ops->close(st);
	store_free(st);
}

int
vstore_schema_version(struct vstore *st)
{
	return st != NULL ? st->ops->schema_version(st) : -1;
}

const char *
vstore_kind(const struct vstore *st)
{
	return st != NULL ? st->ops->kind : "none";
}

int
vstore_ping(struct vstore *st)
{
	return st != NULL && st->ops->ping(st) == 1 ? 1 : 0;
}

/* ---- messages ------------------------------------------------------------- */

void
vmessage_free(struct vmessage *m)
{
	if (m == NULL)
		return;
	free(m->seal_id);
	free(m->message_id);
	free(m->sender);
	free(m->template_name);
	free(m->policy);
	free(m->recipients);
	free(m->object);
	memset(m, 0, sizeof(*m));
}

int
vstore_put_message(struct vstore *st, const struct vmessage *m, char **err)
{
	char *e = NULL;
	int r;

	if (err != NULL)
		*err = NULL;
	if (st == NULL || m == NULL)
		return -1;
	if (memchr(m->lookup, '\0', sizeof(m->lookup)) == NULL || !lookup_ok(m->lookup)) {
		vstore_seterr(st, err, "cannot register a message: the lookup id is not 1 to %d printable characters",
		    VSTORE_LOOKUP_LEN);
		return -1;
	}
	if (m->seal_id == NULL || m->seal_id[0] == '\0') {
		vstore_seterr(st, err, "cannot register a message without a seal id");
		return -1;
	}
	if (!text_ok(m->seal_id) || !text_ok(m->message_id) || !text_ok(m->sender) || !text_ok(m->template_name) ||
	    !text_ok(m->policy) || !text_ok(m->recipients)) {
		vstore_seterr(st, err, "cannot register message %s: a field is not valid UTF-8", utf8_valid(m->seal_id) ?
		    m->seal_id : "(invalid)");
		return -1;
	}
	if (m->object == NULL && m->object_len != 0) {
		vstore_seterr(st, err, "cannot register message %s: object length without an object", m->seal_id);
		return -1;
	}
	op_start();
	r = st->ops->put_message(st, m, &e);
	op_done(st, "put_message");
	hand_err(err, e);
	return r;
}

int
vstore_get_message(struct vstore *st, const char *lookup, int with_object, struct vmessage *m, char **err)
{
	char *e = NULL;
	int r;

	if (err != NULL)
		*err = NULL;
	if (m == NULL || st == NULL)
		return -1;
	memset(m, 0, sizeof(*m));
	if (!lookup_ok(lookup))
		return 0;
	op_start();
	r = st->ops->get_message(st, lookup, with_object, m, &e);
	op_done(st, "get_message");
	if (r != 1)
		vmessage_free(m);
	hand_err(err, e);
	return r;
}

int
vstore_find_message(struct vstore *st, const char *seal_id_or_message_id, struct vmessage *m, char **err)
{
	char *e = NULL;
	int r;

	if (err != NULL)
		*err = NULL;
	if (m == NULL || st == NULL)
		return -1;
	memset(m, 0, sizeof(*m));
	if (seal_id_or_message_id == NULL || seal_id_or_message_id[0] == '\0' || !utf8_valid(seal_id_or_message_id))
		return 0;
	op_start();
	r = st->ops->find_message(st, seal_id_or_message_id, m, &e);
	op_done(st, "find_message");
	if (r != 1)
		vmessage_free(m);
	hand_err(err, e);
	return r;
}

int
vstore_revoke(struct vstore *st, const char *seal_id, int64_t now, char **err)
{
	char *e = NULL;
	int r;

	if (err != NULL)
		*err = NULL;
	if (st == NULL)
		return -1;
	if (seal_id == NULL || seal_id[0] == '\0' || !utf8_valid(seal_id)) {
		vstore_seterr(st, err, "cannot revoke: no such seal id");
		return -1;
	}
	op_start();
	r = st->ops->revoke(st, seal_id, now, &e);
	op_done(st, "revoke");
	hand_err(err, e);
	return r;
}

long
vstore_purge(struct vstore *st, int64_t now, int64_t session_idle, char **err)
{
	char *e = NULL;
	long r;

	if (err != NULL)
		*err = NULL;
	if (st == NULL)
		return -1;
	if (session_idle < 0) {
		vstore_seterr(st, err, "cannot purge: negative session idle time");
		return -1;
	}
	op_start();
	r = st->ops->purge(st, now, sub_clamp(now, session_idle), &e);
	op_done(st, "purge");
	hand_err(err, e);
	return r;
}

/* ---- passcodes ------------------------------------------------------------ */

int
vstore_add_passcode(struct vstore *st, const char *lookup, const char *address, const char *ref,
    const unsigned char hash[VSTORE_HASH_LEN], int64_t now, int64_t expires, char **err)
{
	char *e = NULL;
	int r;

	if (err != NULL)
		*err = NULL;
	if (st == NULL)
		return -1;
	if (!lookup_ok(lookup) || address == NULL || hash == NULL) {
		vstore_seterr(st, err, "cannot add a passcode: no lookup id, address or hash");
		return -1;
	}
	if (!text_ok(address) || !text_ok(ref)) {
		vstore_seterr(st, err, "cannot add a passcode: the address or reference is not valid UTF-8");
		return -1;
	}
	op_start();
	r = st->ops->add_passcode(st, lookup, address, ref != NULL ? ref : "", hash, now, expires, &e);
	op_done(st, "add_passcode");
	hand_err(err, e);
	return r;
}

enum vpass_result
vstore_try_passcode(struct vstore *st, const char *lookup, const char *address,
    const unsigned char hash[VSTORE_HASH_LEN], int64_t now, int max_tries, int *tries_left, char **err)
{
	enum vpass_result r;
	char *e = NULL;
	int left = 0;

	if (err != NULL)
		*err = NULL;
	if (tries_left != NULL)
		*tries_left = 0;
	if (st == NULL)
		return VPASS_ERROR;
	if (max_tries < 1 || hash == NULL) {
		vstore_seterr(st, err, "cannot try a passcode: %s", hash == NULL ? "no hash" : "max_tries must be at least 1");
		return VPASS_ERROR;
	}
	if (!lookup_ok(lookup) || address == NULL || !utf8_valid(address))
		return VPASS_NONE;
	op_start();
	r = st->ops->try_passcode(st, lookup, address, hash, now, max_tries, &left, &e);
	op_done(st, "try_passcode");
	if (tries_left != NULL)
		*tries_left = left;
	hand_err(err, e);
	return r;
}

/* ---- sessions ------------------------------------------------------------- */

void
vsession_free(struct vsession *s)
{
	if (s == NULL)
		return;
	free(s->address);
	free(s->csrf);
	memset(s, 0, sizeof(*s));
}

int
vstore_session_create(struct vstore *st, const unsigned char id_hash[VSTORE_HASH_LEN], const char *lookup,
    const char *address, const char *csrf, int64_t now, char **err)
{
	char *e = NULL;
	int r;

	if (err != NULL)
		*err = NULL;
	if (st == NULL)
		return -1;
	if (id_hash == NULL || !lookup_ok(lookup) || address == NULL || csrf == NULL) {
		vstore_seterr(st, err, "cannot create a session: no id, lookup id, address or CSRF token");
		return -1;
	}
	if (!utf8_valid(address) || !utf8_valid(csrf)) {
		vstore_seterr(st, err, "cannot create a session: the address or CSRF token is not valid UTF-8");
		return -1;
	}
	op_start();
	r = st->ops->session_create(st, id_hash, lookup, address, csrf, now, &e);
	op_done(st, "session_create");
	hand_err(err, e);
	return r;
}

int
vstore_session_get(struct vstore *st, const unsigned char id_hash[VSTORE_HASH_LEN], int64_t now, int64_t idle,
    struct vsession *s, char **err)
{
	char *e = NULL;
	int r;

	if (err != NULL)
		*err = NULL;
	if (st == NULL || s == NULL)
		return -1;
	memset(s, 0, sizeof(*s));
	if (id_hash == NULL)
		return 0;
	if (idle < 0) {
		vstore_seterr(st, err, "cannot look a session up: negative idle time");
		return -1;
	}
	op_start();
	r = st->ops->session_get(st, id_hash, now, sub_clamp(now, idle), s, &e);
	op_done(st, "session_get");
	if (r != 1)
		vsession_free(s);
	hand_err(err, e);
	return r;
}

int
vstore_add_forward(struct vstore *st, const char *lookup, const char *address, const char *by, int64_t now,
    char **err)
{
	char *e = NULL;
	int r;

	if (err != NULL)
		*err = NULL;
	if (st == NULL || lookup == NULL || address == NULL || by == NULL)
		return -1;
	op_start();
	r = st->ops->add_forward(st, lookup, address, by, now, &e);
	op_done(st, "add_forward");
	hand_err(err, e);
	return r;
}

int
vstore_is_forwarded(struct vstore *st, const char *lookup, const char *address, char **err)
{
	char *e = NULL;
	int r;

	if (err != NULL)
		*err = NULL;
	if (st == NULL || lookup == NULL || address == NULL)
		return -1;
	op_start();
	r = st->ops->is_forwarded(st, lookup, address, &e);
	op_done(st, "is_forwarded");
	hand_err(err, e);
	return r;
}

int
vstore_session_delete(struct vstore *st, const unsigned char id_hash[VSTORE_HASH_LEN], char **err)
{
	char *e = NULL;
	int r;

	if (err != NULL)
		*err = NULL;
	if (st == NULL)
		return -1;
	if (id_hash == NULL)
		return 0;
	op_start();
	r = st->ops->session_delete(st, id_hash, &e);
	op_done(st, "session_delete");
	hand_err(err, e);
	return r;
}

long
vstore_count_sessions(struct vstore *st, int64_t now, int64_t idle, char **err)
{
	char *e = NULL;
	long r;

	if (err != NULL)
		*err = NULL;
	if (st == NULL)
		return -1;
	if (idle < 0) {
		vstore_seterr(st, err, "cannot count the sessions: negative idle time");
		return -1;
	}
	op_start();
	r = st->ops->count_sessions(st, sub_clamp(now, idle), &e);
	op_done(st, "count_sessions");
	hand_err(err, e);
	return r;
}

/* ---- rate limits and nonces ------------------------------------------------- */

int
vstore_rate_hit(struct vstore *st, const char *key, int64_t now, int64_t window, long limit, char **err)
{
	int64_t start, end, count = 0;
	const char *k;
	char *e = NULL, *kfree;
	int r;

	if (err != NULL)
		*err = NULL;
	if (st == NULL)
		return -1;
	if (key == NULL || window <= 0) {
		vstore_seterr(st, err, "cannot count a hit: no key, or a window that is not positive");
		return -1;
	}
	start = now / window * window;
	if (now % window < 0)
		start -= window;
	if (__builtin_add_overflow(start, window, &end))
		end = INT64_MAX;
	if ((k = utf8_clean(key, &kfree)) == NULL) {
		vstore_seterr(st, err, "out of memory");
		return -1;
	}
	op_start();
	r = st->ops->rate_hit(st, k, start, end, &count, &e);
	op_done(st, "rate_hit");
	free(kfree);
	hand_err(err, e);
	if (r != 0)
		return -1;
	return count <= (int64_t)limit ? 1 : 0;
}

int
vstore_nonce_use(struct vstore *st, const char *nonce, int64_t now, int64_t expires, char **err)
{
	const char *n;
	char *e = NULL, *nfree;
	int r;

	if (err != NULL)
		*err = NULL;
	if (st == NULL)
		return -1;
	if (nonce == NULL || nonce[0] == '\0') {
		vstore_seterr(st, err, "cannot record an empty nonce");
		return -1;
	}
	if ((n = utf8_clean(nonce, &nfree)) == NULL) {
		vstore_seterr(st, err, "out of memory");
		return -1;
	}
	op_start();
	r = st->ops->nonce_use(st, n, now, expires, &e);
	op_done(st, "nonce_use");
	free(nfree);
	hand_err(err, e);
	return r;
}

/* ---- the audit chain ------------------------------------------------------ */

static void
be64(unsigned char *p, uint64_t v)
{
	int i;

	for (i = 7; i >= 0; i--) {
		p[i] = (unsigned char)(v & 0xff);
		v >>= 8;
	}
}

static int
mac_field(EVP_MAC_CTX *c, const char *s)
{
	size_t n = s != NULL ? strlen(s) : 0;
	unsigned char l[4];

	if (n > UINT32_MAX)
		return -1;
	l[0] = (unsigned char)(n >> 24);
	l[1] = (unsigned char)(n >> 16);
	l[2] = (unsigned char)(n >> 8);
	l[3] = (unsigned char)n;
	if (!EVP_MAC_update(c, l, sizeof(l)))
		return -1;
	if (n > 0 && !EVP_MAC_update(c, (const unsigned char *)s, n))
		return -1;
	return 0;
}

int
vstore_audit_hash(const struct vstore *st, const unsigned char prev[VSTORE_HASH_LEN], const struct vaudit *rec,
    unsigned char out[VSTORE_HASH_LEN])
{
	static char digest[] = "SHA256";
	OSSL_PARAM params[2];
	unsigned char num[16];
	EVP_MAC_CTX *c;
	size_t outlen = 0;
	int ok;

	if ((c = EVP_MAC_CTX_new(st->mac)) == NULL)
		return -1;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0);
	params[1] = OSSL_PARAM_construct_end();
	be64(num, (uint64_t)rec->seq);
	be64(num + 8, (uint64_t)rec->time);
	ok = EVP_MAC_init(c, st->audit_key, sizeof(st->audit_key), params) &&
	    EVP_MAC_update(c, prev, VSTORE_HASH_LEN) &&
	    EVP_MAC_update(c, num, sizeof(num)) &&
	    mac_field(c, rec->event) == 0 &&
	    mac_field(c, rec->seal_id) == 0 &&
	    mac_field(c, rec->address) == 0 &&
	    mac_field(c, rec->client_ip) == 0 &&
	    mac_field(c, rec->user_agent) == 0 &&
	    mac_field(c, rec->outcome) == 0 &&
	    mac_field(c, rec->detail) == 0 &&
	    EVP_MAC_final(c, out, &outlen, VSTORE_HASH_LEN) &&
	    outlen == VSTORE_HASH_LEN;
	EVP_MAC_CTX_free(c);
	return ok ? 0 : -1;
}

int
vstore_audit_add(struct vstore *st, struct vaudit *rec, char **err)
{
	const char **f[7];
	char *tofree[7];
	struct vaudit c;
	char *e = NULL;
	size_t i;
	int r = -1;

	if (err != NULL)
		*err = NULL;
	if (st == NULL || rec == NULL)
		return -1;
	c = *rec;
	f[0] = &c.event;
	f[1] = &c.seal_id;
	f[2] = &c.address;
	f[3] = &c.client_ip;
	f[4] = &c.user_agent;
	f[5] = &c.outcome;
	f[6] = &c.detail;
	memset(tofree, 0, sizeof(tofree));
	for (i = 0; i < 7; i++) {
		if ((*f[i] = utf8_clean(*f[i], &tofree[i])) == NULL) {
			vstore_seterr(st, &e, "out of memory");
			goto out;
		}
	}
	op_start();
	r = st->ops->audit_add(st, &c, &e);
	op_done(st, "audit_add");
	if (r == 0) {
		rec->seq = c.seq;
		memcpy(rec->hash, c.hash, sizeof(rec->hash));
	}
out:
	for (i = 0; i < 7; i++)
		free(tofree[i]);
	hand_err(err, e);
	return r;
}

struct list_arg {
	vaudit_fn fn;
	void *arg;
};

static int
list_one(const struct vaudit *rec, const unsigned char *prev, size_t prevlen, void *arg)
{
	struct list_arg *a = arg;

	(void)prev;
	(void)prevlen;
	return a->fn(rec, a->arg) != 0 ? 1 : 0;
}

int
vstore_audit_list(struct vstore *st, const char *seal_id, vaudit_fn fn, void *arg, char **err)
{
	struct list_arg a;
	char *e = NULL;
	int r;

	if (err != NULL)
		*err = NULL;
	if (st == NULL || fn == NULL)
		return -1;
	if (seal_id != NULL && !utf8_valid(seal_id))
		return 0;
	a.fn = fn;
	a.arg = arg;
	op_start();
	r = st->ops->audit_scan(st, seal_id, list_one, &a, &e);
	op_done(st, "audit_scan");
	hand_err(err, e);
	return r < 0 ? -1 : 0;
}

struct verify_arg {
	struct vstore *st;
	int64_t count;                 /* records that verified */
	int64_t bad_seq;
	unsigned char prev[VSTORE_HASH_LEN];
	char *why;
};

static int
verify_one(const struct vaudit *rec, const unsigned char *prev, size_t prevlen, void *arg)
{
	struct verify_arg *v = arg;
	unsigned char h[VSTORE_HASH_LEN];
	int64_t want = v->count + 1;

	v->bad_seq = rec->seq;
	if (rec->seq != want) {
		if (v->count == 0)
			vstore_seterr(v->st, &v->why, "the audit log starts at record %lld, not 1: records are missing",
			    (long long)rec->seq);
		else
			vstore_seterr(v->st, &v->why, "audit record %lld follows record %lld: records are missing or moved",
			    (long long)rec->seq, (long long)v->count);
		return 1;
	}
	if (prevlen != VSTORE_HASH_LEN || !ct_equal(prev, v->prev, VSTORE_HASH_LEN)) {
		vstore_seterr(v->st, &v->why, "audit record %lld does not follow record %lld (deleted, replaced or moved)",
		    (long long)rec->seq, (long long)v->count);
		return 1;
	}
	if (vstore_audit_hash(v->st, v->prev, rec, h) != 0) {
		vstore_seterr(v->st, &v->why, "cannot compute the audit hash");
		return -1;
	}
	if (!ct_equal(h, rec->hash, VSTORE_HASH_LEN)) {
		vstore_seterr(v->st, &v->why, "audit record %lld does not verify: it was changed", (long long)rec->seq);
		return 1;
	}
	memcpy(v->prev, rec->hash, VSTORE_HASH_LEN);
	v->count++;
	v->bad_seq = 0;
	return 0;
}

int
vstore_audit_verify(struct vstore *st, int64_t *count, int64_t *bad_seq, unsigned char head[VSTORE_HASH_LEN],
    char **err)
{
	struct verify_arg v;
	char *e = NULL;
	int r;

	if (err != NULL)
		*err = NULL;
	if (count != NULL)
		*count = 0;
	if (bad_seq != NULL)
		*bad_seq = 0;
	if (head != NULL)
		memset(head, 0, VSTORE_HASH_LEN);
	if (st == NULL)
		return -1;
	memset(&v, 0, sizeof(v));
	v.st = st;
	op_start();
	r = st->ops->audit_scan(st, NULL, verify_one, &v, &e);
	op_done(st, "audit_scan");
	if (count != NULL)
		*count = v.count;
	if (r == 0) {
		if (head != NULL)
			memcpy(head, v.prev, VSTORE_HASH_LEN);
		free(v.why);
		hand_err(err, e);
		return 1;
	}
	if (r == 1) {
		if (bad_seq != NULL)
			*bad_seq = v.bad_seq;
		free(e);
		hand_err(err, v.why);
		return 0;
	}
	if (e == NULL) {
		e = v.why;
		v.why = NULL;
	}
	free(v.why);
	hand_err(err, e);
	return -1;
}

int
vstore_message_live(struct vstore *st, int64_t revoked, int64_t expires, int64_t now, const char *what, char **err)
{
	if (revoked != 0)
		vstore_seterr(st, err, "%s: the message is revoked", what);
	else if (expires != 0 && expires <= now)
		vstore_seterr(st, err, "%s: the message has expired", what);
	else
		return 0;
	return -1;
}
