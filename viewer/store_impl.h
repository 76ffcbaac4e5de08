/* store_impl.h - what viewer/store.c shares with the two backends
 * (viewer/store_sqlite.c, viewer/store_pg.c); not for callers of store.h.
 *
 * store.c checks and normalises the arguments (NULL pointers, lengths,
 * UTF-8), clears the output structures, and hands each backend op a non-NULL
 * err; a backend op sets *err (with vstore_seterr) whenever it fails. */
#ifndef VIEWER_STORE_IMPL_H
#define VIEWER_STORE_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "viewer/store.h"

/* Called by a backend's audit scan for every record, in seq order: rec with
 * its stored hash, and the stored previous hash (prev, prevlen bytes). The
 * strings are valid only during the call. Returns 0 to go on, anything else
 * to stop the scan (which then returns that value). */
typedef int (*vaudit_scan_fn)(const struct vaudit *rec, const unsigned char *prev, size_t prevlen, void *arg);

struct vstore_ops {
	const char *kind;
	/* target: what follows "sqlite:" (the path), or the whole libpq URI. */
	int (*open)(struct vstore *st, const char *target, char **err);
	void (*close)(struct vstore *st);
	int (*schema_version)(struct vstore *st);
	int (*ping)(struct vstore *st);
	int (*put_message)(struct vstore *st, const struct vmessage *m, char **err);
	int (*get_message)(struct vstore *st, const char *lookup, int with_object, struct vmessage *m, char **err);
	int (*find_message)(struct vstore *st, const char *key, struct vmessage *m, char **err);
	int (*revoke)(struct vstore *st, const char *seal_id, int64_t now, char **err);
	long (*purge)(struct vstore *st, int64_t now, int64_t session_cutoff, char **err);
	int (*add_passcode)(struct vstore *st, const char *lookup, const char *address, const char *ref,
	    const unsigned char hash[VSTORE_HASH_LEN], int64_t now, int64_t expires, char **err);
	enum vpass_result (*try_passcode)(struct vstore *st, const char *lookup, const char *address,
	    const unsigned char hash[VSTORE_HASH_LEN], int64_t now, int max_tries, int *tries_left, char **err);
	int (*session_create)(struct vstore *st, const unsigned char id_hash[VSTORE_HASH_LEN], const char *lookup,
	    const char *address, const char *csrf, int64_t now, char **err);
	/* cutoff: the oldest last_seen that is still live. */
	int (*session_get)(struct vstore *st, const unsigned char id_hash[VSTORE_HASH_LEN], int64_t now,
	    int64_t cutoff, struct vsession *s, char **err);
	int (*session_delete)(struct vstore *st, const unsigned char id_hash[VSTORE_HASH_LEN], char **err);
	/* Sessions with last_seen >= cutoff; -1 with *err. */
	long (*count_sessions)(struct vstore *st, int64_t cutoff, char **err);
	int (*add_forward)(struct vstore *st, const char *lookup, const char *address, const char *by, int64_t now,
	    char **err);
	int (*is_forwarded)(struct vstore *st, const char *lookup, const char *address, char **err);
	/* Count a hit in the window (key, start) that ends at end; *count: the
	 * count with this hit. 0 or -1. */
	int (*rate_hit)(struct vstore *st, const char *key, int64_t start, int64_t end, int64_t *count, char **err);
	int (*nonce_use)(struct vstore *st, const char *nonce, int64_t now, int64_t expires, char **err);
	/* Append rec (strings already checked): assign seq, compute the hash
	 * with vstore_audit_hash, all in one transaction serialised against
	 * every other appender. */
	int (*audit_add)(struct vstore *st, struct vaudit *rec, char **err);
	/* Every record (of seal_id; NULL: all) in seq order; 0, fn's non-zero
	 * value, or -1 with *err. */
	int (*audit_scan)(struct vstore *st, const char *seal_id, vaudit_scan_fn fn, void *arg, char **err);
};

extern const struct vstore_ops vstore_sqlite_ops;
extern const struct vstore_ops vstore_pg_ops;

#define VSTORE_NSECRETS 4
struct vstore {
	const struct vstore_ops *ops;
	char *name;                    /* for messages: the spec without any password or query */
	char *secret[VSTORE_NSECRETS]; /* the spec's passwords (as written, decoded): kept out of messages */
	unsigned char audit_key[32];
	EVP_MAC *mac;                  /* HMAC, fetched once */
	void *impl;                    /* the backend's state */
	struct metric *latency;        /* NULL, or a histogram with label op: each call's time (vstore_observe) */
};

/* *err = "NAME: " + the formatted message (malloc'd), with any password of
 * the spec masked. On no memory *err is left NULL. */
void vstore_seterr(const struct vstore *st, char **err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* hash = HMAC-SHA-256(audit_key, prev || be64(seq) || be64(time) || for
 * event, seal_id, address, client_ip, user_agent, outcome, detail:
 * be32(len) || bytes). NULL strings count as "". 0, or -1. */
int vstore_audit_hash(const struct vstore *st, const unsigned char prev[VSTORE_HASH_LEN], const struct vaudit *rec,
    unsigned char out[VSTORE_HASH_LEN]);

/* A malloc'd copy of s ("" for NULL); NULL on no memory. */
char *vstore_strdup(const char *s);

/* One schema migration: the script (several statements) that takes the
 * schema from version - 1 to version. Each backend keeps a table of them,
 * in order; version 1 creates everything. */
struct vstore_migration {
	int version;
	const char *sql;
};

/* 0 when a message with these revoked and expires values can still get
 * passcodes and sessions at now; else -1 with *err ("WHAT: the message is
 * revoked / has expired"). */
int vstore_message_live(struct vstore *st, int64_t revoked, int64_t expires, int64_t now, const char *what, char **err);

#endif
