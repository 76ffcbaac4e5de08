/* store.h - sealview's database: registered messages, passcodes, sessions,
 * rate limits, request nonces and the hash-chained audit log, on SQLite
 * (one file, WAL) or PostgreSQL (several sealview nodes share one).
 *
 * Every operation that must be atomic across nodes (a passcode try, a rate
 * limit hit, a nonce, an audit append) is one transaction in the backend, so
 * any node can serve any step. All SQL is parameterised. */
#ifndef VIEWER_STORE_H
#define VIEWER_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct vstore;

/* The lookup id of a message: hex of 32 bytes derived from the link token
 * (seal/viewtoken.h). sealview never stores the token itself. */
#define VSTORE_LOOKUP_LEN 64
/* Keyed hashes (passcodes, session ids) are 32 bytes. */
#define VSTORE_HASH_LEN 32

/* Open a store. spec: "sqlite:/path/file.db" or "postgresql://..." /
 * "postgres://..." (a libpq connection URI). The schema is created or
 * migrated to the current version. audit_key (32 bytes) keys the audit
 * chain, so that the database alone cannot forge a consistent chain.
 * Returns 0, or -1 with *err (malloc'd, names the store and the cause). */
int vstore_open(const char *spec, const unsigned char audit_key[32], struct vstore **out, char **err);

/* The store spec as logs and messages may show it: a URI without its password and
 * parameters (one may be password=...). Malloc'd; NULL when out of memory. */
char *vstore_display(const char *spec);
void vstore_close(struct vstore *st);
/* The schema version the code expects, and the one the store is at. */
#define VSTORE_SCHEMA_VERSION 2
int vstore_schema_version(struct vstore *st);
/* A short name for logs: "sqlite" or "postgresql". */
const char *vstore_kind(const struct vstore *st);
/* 1 when the backend answers (a trivial query), for the health endpoint. */
int vstore_ping(struct vstore *st);

/* A registered message. Strings are owned (malloc'd) when filled by the
 * store; free with vmessage_free. */
struct vmessage {
	char lookup[VSTORE_LOOKUP_LEN + 1];
	char *seal_id;
	char *message_id;
	char *sender;
	char *template_name;
	char *policy;                  /* the policy JSON, as signed */
	char *recipients;              /* allowed recipients, lower case, one per line (addresses and domains) */
	int64_t created, expires;      /* unix times; expires 0: never */
	int64_t revoked;               /* 0, or when it was revoked */
	unsigned char *object;         /* the sealed CMS object (DER); NULL once revoked, expired or deleted */
	size_t object_len;
};
void vmessage_free(struct vmessage *m);

/* Register a message (idempotent). Returns 1 when it was stored, 0 when the
 * same lookup was already registered with the same seal_id (nothing
 * changes), -1 on error or conflict (the lookup or the seal_id is already
 * registered with a different partner) with *err. */
int vstore_put_message(struct vstore *st, const struct vmessage *m, char **err);
/* Find a message by lookup id. with_object: also read the object. Returns
 * 1 found (m filled), 0 not found, -1 error with *err. */
int vstore_get_message(struct vstore *st, const char *lookup, int with_object, struct vmessage *m, char **err);
/* The same, by seal_id or, when that finds nothing, by Message-ID (as
 * written in the policy, with angle brackets). Never reads the object. */
int vstore_find_message(struct vstore *st, const char *seal_id_or_message_id, struct vmessage *m, char **err);
/* Revoke: set revoked = now (if not already) and delete the object, its
 * passcodes and its sessions. 1 revoked now, 0 already revoked, -1 error
 * (including: no such seal_id). */
int vstore_revoke(struct vstore *st, const char *seal_id, int64_t now, char **err);
/* Delete the objects (and passcodes and sessions) of messages whose expiry
 * has passed; the message rows stay, so the page can say "expired". Also
 * drop expired passcodes, idle sessions (last_seen < now - session_idle),
 * old nonces and old rate-limit windows. Returns how many objects were
 * deleted, or -1 with *err. */
long vstore_purge(struct vstore *st, int64_t now, int64_t session_idle, char **err);

/* Passcodes: stored only as a keyed hash (HMAC-SHA-256 by the caller). */
int vstore_add_passcode(struct vstore *st, const char *lookup, const char *address, const char *ref,
    const unsigned char hash[VSTORE_HASH_LEN], int64_t now, int64_t expires, char **err);

enum vpass_result {
	VPASS_OK,          /* matched: the passcode is now used up */
	VPASS_WRONG,       /* did not match; *tries_left says how many remain */
	VPASS_LOCKED,      /* max_tries wrong tries already: this passcode is dead */
	VPASS_NONE,        /* no live (unused, unexpired) passcode for this address and message */
	VPASS_ERROR
};
/* Try a passcode for (lookup, address): the newest live passcode is
 * compared (constant time) with hash. A mismatch counts a try; the
 * max_tries-th mismatch locks it. One transaction. */
enum vpass_result vstore_try_passcode(struct vstore *st, const char *lookup, const char *address,
    const unsigned char hash[VSTORE_HASH_LEN], int64_t now, int max_tries, int *tries_left, char **err);

/* Sessions: the cookie value is never stored, only its keyed hash. */
struct vsession {
	char lookup[VSTORE_LOOKUP_LEN + 1];
	char *address;
	char *csrf;                    /* the session's CSRF token */
	int64_t created, last_seen;
};
void vsession_free(struct vsession *s);
int vstore_session_create(struct vstore *st, const unsigned char id_hash[VSTORE_HASH_LEN], const char *lookup,
    const char *address, const char *csrf, int64_t now, char **err);
/* Find a live session (last_seen >= now - idle) and touch it (last_seen =
 * now, written only when the stored value is VSTORE_TOUCH_EVERY seconds or
 * more behind, so that page views rarely write). 1 found, 0 none or idle
 * too long (then it is deleted), -1 error. */
#define VSTORE_TOUCH_EVERY 30
int vstore_session_get(struct vstore *st, const unsigned char id_hash[VSTORE_HASH_LEN], int64_t now, int64_t idle,
    struct vsession *s, char **err);
int vstore_session_delete(struct vstore *st, const unsigned char id_hash[VSTORE_HASH_LEN], char **err);
/* How many sessions are live (last_seen >= now - idle), on every node; -1
 * with *err. For the metrics (sealview_active_sessions). */
long vstore_count_sessions(struct vstore *st, int64_t now, int64_t idle, char **err);

/* Time every call into the backend: latency is a histogram (common/metrics.h)
 * with one label, op (put_message, try_passcode, ...). Set before the store
 * is shared between threads; NULL stops it. */
struct metric;
void vstore_observe(struct vstore *st, struct metric *latency);

/* Forwards (the forward right): an address a reader shared the message
 * with may then ask for a passcode like a recipient. add: 1 recorded, 0
 * already there, -1 error (also: the message is unknown, revoked or
 * expired). is: 1 yes, 0 no, -1 error. Revocation and the purge of an
 * expired message drop them. */
int vstore_add_forward(struct vstore *st, const char *lookup, const char *address, const char *by, int64_t now,
    char **err);
int vstore_is_forwarded(struct vstore *st, const char *lookup, const char *address, char **err);

/* Rate limits: fixed windows. Count one hit for key in the window that now
 * falls in; 1 when the count (with this hit) is at most limit, 0 when over,
 * -1 on error. Keys are chosen by the caller ("ip:1.2.3.4", "msg:LOOKUP",
 * "addr:a@b"). */
int vstore_rate_hit(struct vstore *st, const char *key, int64_t now, int64_t window, long limit, char **err);

/* Replay protection for signed API requests: 1 when nonce was not seen
 * before (it is now recorded until expires), 0 when it was, -1 error. */
int vstore_nonce_use(struct vstore *st, const char *nonce, int64_t now, int64_t expires, char **err);

/* The audit log. Each record's hash is HMAC-SHA-256(audit_key, the previous
 * record's hash || seq || every field below, each length-prefixed), so a
 * changed or deleted record (or a reordering) breaks the chain. The first
 * record's previous hash is 32 zero bytes. */
struct vaudit {
	int64_t seq;                   /* assigned by the store: 1, 2, ... */
	int64_t time;
	const char *event;             /* register, passcode_request, passcode_fail, passcode_ok, view, download, reply, revoke, expire */
	const char *seal_id;
	const char *address;           /* "" when none */
	const char *client_ip;         /* "" when none */
	const char *user_agent;        /* "" when none; the caller truncates it */
	const char *outcome;           /* ok, refused, wrong, locked, not_recipient, expired, revoked, rate_limited, error, ... */
	const char *detail;            /* "" when none; never a token or a passcode */
	unsigned char hash[VSTORE_HASH_LEN];   /* filled by the store */
};
/* Append a record (seq and hash are set in rec). 0, or -1 with *err. */
int vstore_audit_add(struct vstore *st, struct vaudit *rec, char **err);
/* Call fn for every record of seal_id (NULL: all), in seq order; strings
 * are valid only during the call. fn returns 0 to go on. 0, or -1. */
typedef int (*vaudit_fn)(const struct vaudit *rec, void *arg);
int vstore_audit_list(struct vstore *st, const char *seal_id, vaudit_fn fn, void *arg, char **err);
/* Recompute the whole chain. Returns 1 when it is intact (*count records,
 * *head the last hash), 0 when it is broken (*bad_seq the first record
 * that does not verify, or the record after a gap; *err says how), -1 on
 * error. */
int vstore_audit_verify(struct vstore *st, int64_t *count, int64_t *bad_seq, unsigned char head[VSTORE_HASH_LEN],
    char **err);

#endif
