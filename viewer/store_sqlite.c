/*
 * store_sqlite.c - the SQLite backend of sealview's store (viewer/store.h):
 * one database file in WAL mode, shared by every thread of the process
 * through a small pool of connections, and by other processes through
 * SQLite's file locks.
 *
 * Calling rules: called only through viewer/store.c, which has already
 * checked the arguments. Any number of threads at once: each call takes a
 * connection of its own from the pool (at most SQ_POOL_MAX; more callers
 * wait) and gives it back. Every operation that reads and then writes is
 * one BEGIN IMMEDIATE transaction, which takes the database's write lock at
 * the start, so it is serialised against every other writer, in this
 * process or another (waiting up to SQ_BUSY_MS for the lock). The audit
 * append is such a transaction, so the chain never forks.
 * Untrusted input: every value from a web request or mail is bound as a
 * statement parameter, never spliced into SQL; text and blobs are bound
 * with their exact lengths (SQLite's own SQLITE_MAX_LENGTH bounds them).
 * The database file is created with mode 0600 (its -wal and -shm files
 * take the same mode).
 */
#include "build-config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "common/util.h"
#include "viewer/store.h"
#include "viewer/store_impl.h"

#define SQ_POOL_MAX 8
#define SQ_BUSY_MS 20000

/* ---- the schema ------------------------------------------------------------- */

static const char sq_schema_version_table[] =
	"CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY NOT NULL, applied INTEGER NOT NULL)";

static const struct vstore_migration sq_migrations[] = {
	{ 1,
	"CREATE TABLE messages ("
	"  lookup TEXT PRIMARY KEY NOT NULL CHECK (length(lookup) BETWEEN 1 AND 64),"
	"  seal_id TEXT NOT NULL UNIQUE,"
	"  message_id TEXT NOT NULL,"
	"  sender TEXT NOT NULL,"
	"  template_name TEXT NOT NULL,"
	"  policy TEXT NOT NULL,"
	"  recipients TEXT NOT NULL,"
	"  created INTEGER NOT NULL,"
	"  expires INTEGER NOT NULL,"
	"  revoked INTEGER NOT NULL DEFAULT 0,"
	"  object BLOB);"
	"CREATE INDEX messages_message_id ON messages (message_id);"
	"CREATE INDEX messages_expires ON messages (expires) WHERE expires <> 0;"
	"CREATE TABLE passcodes ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  lookup TEXT NOT NULL REFERENCES messages (lookup),"
	"  address TEXT NOT NULL,"
	"  ref TEXT NOT NULL,"
	"  hash BLOB NOT NULL,"
	"  created INTEGER NOT NULL,"
	"  expires INTEGER NOT NULL,"
	"  tries INTEGER NOT NULL DEFAULT 0,"
	"  used INTEGER NOT NULL DEFAULT 0);"
	"CREATE INDEX passcodes_lookup_address ON passcodes (lookup, address);"
	"CREATE INDEX passcodes_expires ON passcodes (expires);"
	"CREATE TABLE sessions ("
	"  id_hash BLOB PRIMARY KEY NOT NULL,"
	"  lookup TEXT NOT NULL REFERENCES messages (lookup),"
	"  address TEXT NOT NULL,"
	"  csrf TEXT NOT NULL,"
	"  created INTEGER NOT NULL,"
	"  last_seen INTEGER NOT NULL);"
	"CREATE INDEX sessions_lookup ON sessions (lookup);"
	"CREATE INDEX sessions_last_seen ON sessions (last_seen);"
	"CREATE TABLE rate_limits ("
	"  rate_key TEXT NOT NULL,"
	"  window_start INTEGER NOT NULL,"
	"  window_end INTEGER NOT NULL,"
	"  hits INTEGER NOT NULL,"
	"  PRIMARY KEY (rate_key, window_start));"
	"CREATE INDEX rate_limits_end ON rate_limits (window_end);"
	"CREATE TABLE nonces ("
	"  nonce TEXT PRIMARY KEY NOT NULL,"
	"  expires INTEGER NOT NULL);"
	"CREATE INDEX nonces_expires ON nonces (expires);"
	"CREATE TABLE audit ("
	"  seq INTEGER PRIMARY KEY NOT NULL,"
	"  logged INTEGER NOT NULL,"
	"  event TEXT NOT NULL,"
	"  seal_id TEXT NOT NULL,"
	"  address TEXT NOT NULL,"
	"  client_ip TEXT NOT NULL,"
	"  user_agent TEXT NOT NULL,"
	"  outcome TEXT NOT NULL,"
	"  detail TEXT NOT NULL,"
	"  prev_hash BLOB NOT NULL,"
	"  hash BLOB NOT NULL);"
	"CREATE INDEX audit_seal_id ON audit (seal_id, seq);" },
	{ 2,
	/* Version 2: addresses a reader forwarded the message to (the forward right). */
	"CREATE TABLE forwards ("
	"  lookup TEXT NOT NULL REFERENCES messages (lookup),"
	"  address TEXT NOT NULL,"
	"  by_address TEXT NOT NULL,"
	"  created INTEGER NOT NULL,"
	"  PRIMARY KEY (lookup, address));" },
};

_Static_assert(sizeof(sq_migrations) / sizeof(sq_migrations[0]) == VSTORE_SCHEMA_VERSION,
    "one migration per schema version");

/* ---- connections -------------------------------------------------------------- */

struct sqstore {
	char *path;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	sqlite3 *idle[SQ_POOL_MAX];
	int nidle;
	int total;                     /* open connections, idle or in use */
};

static void
sq_err(struct vstore *st, sqlite3 *db, char **err, const char *what)
{
	vstore_seterr(st, err, "%s: %s", what, db != NULL ? sqlite3_errmsg(db) : "out of memory");
}

static int
sq_exec(struct vstore *st, sqlite3 *db, char **err, const char *sql, const char *what)
{
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) {
		sq_err(st, db, err, what);
		return -1;
	}
	return 0;
}

static int
sq_connect(struct vstore *st, sqlite3 **out, char **err)
{
	struct sqstore *sq = st->impl;
	sqlite3 *db = NULL;
	int rc;

	*out = NULL;
	rc = sqlite3_open_v2(sq->path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		vstore_seterr(st, err, "%s", db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		sqlite3_close(db);
		return -1;
	}
	sqlite3_extended_result_codes(db, 1);
	sqlite3_busy_timeout(db, SQ_BUSY_MS);
	if (sq_exec(st, db, err, "PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL", "cannot set up the connection")) {
		sqlite3_close(db);
		return -1;
	}
	*out = db;
	return 0;
}

/* A connection of the pool (waits while all are in use), or NULL with *err. */
static sqlite3 *
sq_get(struct vstore *st, char **err)
{
	struct sqstore *sq = st->impl;
	sqlite3 *db = NULL;

	pthread_mutex_lock(&sq->mu);
	for (;;) {
		if (sq->nidle > 0) {
			db = sq->idle[--sq->nidle];
			pthread_mutex_unlock(&sq->mu);
			return db;
		}
		if (sq->total < SQ_POOL_MAX) {
			sq->total++;
			break;
		}
		pthread_cond_wait(&sq->cv, &sq->mu);
	}
	pthread_mutex_unlock(&sq->mu);
	if (sq_connect(st, &db, err) != 0) {
		pthread_mutex_lock(&sq->mu);
		sq->total--;
		pthread_cond_signal(&sq->cv);
		pthread_mutex_unlock(&sq->mu);
		return NULL;
	}
	return db;
}

/* Give a connection back; a transaction left open (an error path) is
 * rolled back first. */
static void
sq_put(struct vstore *st, sqlite3 *db)
{
	struct sqstore *sq = st->impl;

	if (!sqlite3_get_autocommit(db))
		(void)sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	pthread_mutex_lock(&sq->mu);
	sq->idle[sq->nidle++] = db;
	pthread_cond_signal(&sq->cv);
	pthread_mutex_unlock(&sq->mu);
}

static int
sq_begin(struct vstore *st, sqlite3 *db, char **err, const char *what)
{
	return sq_exec(st, db, err, "BEGIN IMMEDIATE", what);
}

static int
sq_commit(struct vstore *st, sqlite3 *db, char **err, const char *what)
{
	return sq_exec(st, db, err, "COMMIT", what);
}

/* ---- statements ------------------------------------------------------------- */

/* Bind the arguments fmt describes, from parameter 1 on: 't' text (const
 * char *, NULL for ""), 'i' int64_t, 'h' a hash (VSTORE_HASH_LEN bytes),
 * 'b' a blob (const void *, size_t; NULL pointer: SQL NULL). */
static int
sq_bindv(sqlite3_stmt *s, const char *fmt, va_list ap)
{
	int i, rc = SQLITE_OK;

	for (i = 0; fmt[i] != '\0' && rc == SQLITE_OK; i++) {
		switch (fmt[i]) {
		case 't': {
			const char *v = va_arg(ap, const char *);

			if (v == NULL)
				v = "";
			rc = sqlite3_bind_text64(s, i + 1, v, strlen(v), SQLITE_STATIC, SQLITE_UTF8);
			break;
		}
		case 'i':
			rc = sqlite3_bind_int64(s, i + 1, va_arg(ap, int64_t));
			break;
		case 'h':
			rc = sqlite3_bind_blob(s, i + 1, va_arg(ap, const unsigned char *), VSTORE_HASH_LEN, SQLITE_STATIC);
			break;
		case 'b': {
			const void *p = va_arg(ap, const void *);
			size_t n = va_arg(ap, size_t);

			rc = p != NULL ? sqlite3_bind_blob64(s, i + 1, p, n, SQLITE_STATIC) : sqlite3_bind_null(s, i + 1);
			break;
		}
		default:
			rc = SQLITE_MISUSE;
		}
	}
	return rc;
}

static sqlite3_stmt *
sq_vprep(struct vstore *st, sqlite3 *db, char **err, const char *what, const char *sql, const char *fmt, va_list ap)
{
	sqlite3_stmt *s = NULL;

	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) {
		sq_err(st, db, err, what);
		sqlite3_finalize(s);
		return NULL;
	}
	if (sq_bindv(s, fmt, ap) != SQLITE_OK) {
		sq_err(st, db, err, what);
		sqlite3_finalize(s);
		return NULL;
	}
	return s;
}

/* A prepared statement with its parameters bound, or NULL with *err. */
static sqlite3_stmt *
sq_prep(struct vstore *st, sqlite3 *db, char **err, const char *what, const char *sql, const char *fmt, ...)
{
	sqlite3_stmt *s;
	va_list ap;

	va_start(ap, fmt);
	s = sq_vprep(st, db, err, what, sql, fmt, ap);
	va_end(ap);
	return s;
}

/* One step: SQLITE_ROW, SQLITE_DONE, or -1 with *err. */
static int
sq_step(struct vstore *st, sqlite3 *db, sqlite3_stmt *s, char **err, const char *what)
{
	int rc = sqlite3_step(s);

	if (rc == SQLITE_ROW || rc == SQLITE_DONE)
		return rc;
	sq_err(st, db, err, what);
	return -1;
}

/* Run a statement that returns no rows: the number of rows it changed, or
 * -1 with *err. */
static long
sq_run(struct vstore *st, sqlite3 *db, char **err, const char *what, const char *sql, const char *fmt, ...)
{
	sqlite3_stmt *s;
	va_list ap;
	long r = -1;

	va_start(ap, fmt);
	s = sq_vprep(st, db, err, what, sql, fmt, ap);
	va_end(ap);
	if (s == NULL)
		return -1;
	if (sq_step(st, db, s, err, what) == SQLITE_DONE)
		r = sqlite3_changes(db);
	else if (*err == NULL)
		vstore_seterr(st, err, "%s: the statement returned rows", what);
	sqlite3_finalize(s);
	return r;
}

static char *
col_text(sqlite3_stmt *s, int i)
{
	const unsigned char *t = sqlite3_column_text(s, i);

	return vstore_strdup((const char *)t);
}

static void
col_lookup(sqlite3_stmt *s, int i, char out[VSTORE_LOOKUP_LEN + 1])
{
	const unsigned char *t = sqlite3_column_text(s, i);

	snprintf(out, VSTORE_LOOKUP_LEN + 1, "%s", t != NULL ? (const char *)t : "");
}

/* ---- open and close ----------------------------------------------------------- */

static void
sq_close(struct vstore *st)
{
	struct sqstore *sq = st->impl;
	int i;

	if (sq == NULL)
		return;
	for (i = 0; i < sq->nidle; i++)
		sqlite3_close(sq->idle[i]);
	pthread_mutex_destroy(&sq->mu);
	pthread_cond_destroy(&sq->cv);
	free(sq->path);
	free(sq);
	st->impl = NULL;
}

static int
sq_version(struct vstore *st, sqlite3 *db, char **err)
{
	sqlite3_stmt *s;
	int v = -1;

	s = sq_prep(st, db, err, "cannot read the schema version",
	    "SELECT coalesce(max(version), 0) FROM schema_version", "");
	if (s == NULL)
		return -1;
	if (sq_step(st, db, s, err, "cannot read the schema version") == SQLITE_ROW)
		v = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	return v;
}

/* Create or migrate the schema, in one transaction that holds the write
 * lock: a second process opening at the same time waits, then finds the
 * work done. */
static int
sq_migrate(struct vstore *st, sqlite3 *db, char **err)
{
	const char *what = "cannot create or migrate the schema";
	size_t i;
	int v;

	if (sq_begin(st, db, err, what) != 0)
		return -1;
	if (sq_exec(st, db, err, sq_schema_version_table, what) != 0)
		return -1;
	if ((v = sq_version(st, db, err)) < 0)
		return -1;
	if (v > VSTORE_SCHEMA_VERSION) {
		vstore_seterr(st, err, "the database is at schema version %d, newer than this sealview's %d", v,
		    VSTORE_SCHEMA_VERSION);
		return -1;
	}
	for (i = 0; i < sizeof(sq_migrations) / sizeof(sq_migrations[0]); i++) {
		int64_t ver = sq_migrations[i].version, now = (int64_t)time(NULL);

		if (sq_migrations[i].version <= v)
			continue;
		if (sq_exec(st, db, err, sq_migrations[i].sql, what) != 0)
			return -1;
		if (sq_run(st, db, err, what, "INSERT INTO schema_version (version, applied) VALUES (?1, ?2)", "ii",
		    ver, now) < 0)
			return -1;
	}
	return sq_commit(st, db, err, what);
}

static int
sq_open(struct vstore *st, const char *path, char **err)
{
	struct sqstore *sq;
	sqlite3_stmt *s;
	sqlite3 *db;
	int fd, ok = 0;

	if (path[0] == '\0' || strcmp(path, ":memory:") == 0 || strncmp(path, "file:", 5) == 0) {
		vstore_seterr(st, err, "want the path of a database file");
		return -1;
	}
	if (!sqlite3_threadsafe()) {
		vstore_seterr(st, err, "this SQLite library was built without thread support");
		return -1;
	}
	/* Create the file ourselves, so that it is private from the start. */
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0) {
		vstore_seterr(st, err, "unable to open database file: %s", strerror(errno));
		return -1;
	}
	close(fd);
	if ((sq = calloc(1, sizeof(*sq))) == NULL || (sq->path = strdup(path)) == NULL) {
		free(sq);
		vstore_seterr(st, err, "out of memory");
		return -1;
	}
	pthread_mutex_init(&sq->mu, NULL);
	pthread_cond_init(&sq->cv, NULL);
	st->impl = sq;
	if ((db = sq_get(st, err)) == NULL)
		goto fail;
	s = sq_prep(st, db, err, "cannot switch to WAL mode", "PRAGMA journal_mode = WAL", "");
	if (s != NULL && sq_step(st, db, s, err, "cannot switch to WAL mode") == SQLITE_ROW) {
		const unsigned char *mode = sqlite3_column_text(s, 0);

		if (mode != NULL && strcmp((const char *)mode, "wal") == 0)
			ok = 1;
		else
			vstore_seterr(st, err, "cannot switch to WAL mode (the journal mode stays %s)",
			    mode != NULL ? (const char *)mode : "unknown");
	}
	sqlite3_finalize(s);
	if (ok && sq_migrate(st, db, err) != 0)
		ok = 0;
	sq_put(st, db);
	if (ok)
		return 0;
fail:
	sq_close(st);
	return -1;
}

static int
sq_schema_version(struct vstore *st)
{
	char *err = NULL;
	sqlite3 *db;
	int v;

	if ((db = sq_get(st, &err)) == NULL) {
		free(err);
		return -1;
	}
	v = sq_version(st, db, &err);
	sq_put(st, db);
	free(err);
	return v;
}

static int
sq_ping(struct vstore *st)
{
	char *err = NULL;
	sqlite3_stmt *s;
	sqlite3 *db;
	int r = 0;

	if ((db = sq_get(st, &err)) == NULL) {
		free(err);
		return 0;
	}
	if ((s = sq_prep(st, db, &err, "ping", "SELECT count(*) FROM schema_version", "")) != NULL)
		r = sq_step(st, db, s, &err, "ping") == SQLITE_ROW;
	sqlite3_finalize(s);
	sq_put(st, db);
	free(err);
	return r;
}

/* ---- messages ------------------------------------------------------------- */

#define SQ_MSG_COLS "lookup, seal_id, message_id, sender, template_name, policy, recipients, created, expires, revoked"

/* Fill m from a row of SQ_MSG_COLS (and the object after them). */
static int
sq_fill_message(sqlite3_stmt *s, int with_object, struct vmessage *m)
{
	col_lookup(s, 0, m->lookup);
	m->seal_id = col_text(s, 1);
	m->message_id = col_text(s, 2);
	m->sender = col_text(s, 3);
	m->template_name = col_text(s, 4);
	m->policy = col_text(s, 5);
	m->recipients = col_text(s, 6);
	m->created = sqlite3_column_int64(s, 7);
	m->expires = sqlite3_column_int64(s, 8);
	m->revoked = sqlite3_column_int64(s, 9);
	if (m->seal_id == NULL || m->message_id == NULL || m->sender == NULL || m->template_name == NULL ||
	    m->policy == NULL || m->recipients == NULL)
		return -1;
	if (with_object && sqlite3_column_type(s, 10) != SQLITE_NULL) {
		const void *p = sqlite3_column_blob(s, 10);
		int n = sqlite3_column_bytes(s, 10);

		if ((m->object = malloc(n > 0 ? (size_t)n : 1)) == NULL)
			return -1;
		if (n > 0)
			memcpy(m->object, p, (size_t)n);
		m->object_len = (size_t)n;
	}
	return 0;
}

static int
sq_put_message(struct vstore *st, const struct vmessage *m, char **err)
{
	const char *what = "cannot register a message";
	sqlite3_stmt *s;
	sqlite3 *db;
	int r = -1, rc;

	if ((db = sq_get(st, err)) == NULL)
		return -1;
	if (sq_begin(st, db, err, what) != 0)
		goto out;
	s = sq_prep(st, db, err, what, "SELECT seal_id FROM messages WHERE lookup = ?1", "t", m->lookup);
	if (s == NULL)
		goto out;
	rc = sq_step(st, db, s, err, what);
	if (rc == SQLITE_ROW) {
		const unsigned char *sid = sqlite3_column_text(s, 0);

		if (sid != NULL && strcmp((const char *)sid, m->seal_id) == 0)
			r = 0;
		else
			vstore_seterr(st, err, "cannot register seal id %s: its lookup id is already registered for "
			    "another seal id", m->seal_id);
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		goto out;
	s = sq_prep(st, db, err, what, "SELECT 1 FROM messages WHERE seal_id = ?1", "t", m->seal_id);
	if (s == NULL)
		goto out;
	rc = sq_step(st, db, s, err, what);
	sqlite3_finalize(s);
	if (rc == SQLITE_ROW)
		vstore_seterr(st, err, "cannot register seal id %s: it is already registered under another lookup id",
		    m->seal_id);
	if (rc != SQLITE_DONE)
		goto out;
	if (sq_run(st, db, err, what,
	    "INSERT INTO messages (lookup, seal_id, message_id, sender, template_name, policy, recipients, created, "
	    "expires, revoked, object) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)", "tttttttiiib",
	    m->lookup, m->seal_id, m->message_id, m->sender, m->template_name, m->policy, m->recipients, m->created,
	    m->expires, m->revoked, (const void *)m->object, m->object_len) < 0)
		goto out;
	if (sq_commit(st, db, err, what) == 0)
		r = 1;
out:
	sq_put(st, db);
	return r;
}

/* Run a SELECT of SQ_MSG_COLS with one text parameter; 1 found (m
 * filled), 0 none, -1 error. */
static int
sq_select_message(struct vstore *st, sqlite3 *db, const char *sql, const char *key, int with_object,
    struct vmessage *m, char **err)
{
	const char *what = "cannot read a message";
	sqlite3_stmt *s;
	int rc, r = -1;

	if ((s = sq_prep(st, db, err, what, sql, "t", key)) == NULL)
		return -1;
	rc = sq_step(st, db, s, err, what);
	if (rc == SQLITE_DONE)
		r = 0;
	else if (rc == SQLITE_ROW) {
		if (sq_fill_message(s, with_object, m) == 0)
			r = 1;
		else
			vstore_seterr(st, err, "%s: out of memory", what);
	}
	sqlite3_finalize(s);
	return r;
}

static int
sq_get_message(struct vstore *st, const char *lookup, int with_object, struct vmessage *m, char **err)
{
	sqlite3 *db;
	int r;

	if ((db = sq_get(st, err)) == NULL)
		return -1;
	r = sq_select_message(st, db, with_object ? "SELECT " SQ_MSG_COLS ", object FROM messages WHERE lookup = ?1" :
	    "SELECT " SQ_MSG_COLS " FROM messages WHERE lookup = ?1", lookup, with_object, m, err);
	sq_put(st, db);
	return r;
}

static int
sq_find_message(struct vstore *st, const char *key, struct vmessage *m, char **err)
{
	sqlite3 *db;
	int r;

	if ((db = sq_get(st, err)) == NULL)
		return -1;
	r = sq_select_message(st, db, "SELECT " SQ_MSG_COLS " FROM messages WHERE seal_id = ?1", key, 0, m, err);
	if (r == 0)
		r = sq_select_message(st, db, "SELECT " SQ_MSG_COLS " FROM messages WHERE message_id = ?1 "
		    "ORDER BY revoked <> 0, created DESC, lookup LIMIT 1", key, 0, m, err);
	sq_put(st, db);
	return r;
}

static int
sq_revoke(struct vstore *st, const char *seal_id, int64_t now, char **err)
{
	const char *what = "cannot revoke";
	char lookup[VSTORE_LOOKUP_LEN + 1];
	int64_t revoked = 0, when = now > 0 ? now : 1;
	sqlite3_stmt *s;
	sqlite3 *db;
	int r = -1, rc;

	if ((db = sq_get(st, err)) == NULL)
		return -1;
	if (sq_begin(st, db, err, what) != 0)
		goto out;
	s = sq_prep(st, db, err, what, "SELECT lookup, revoked FROM messages WHERE seal_id = ?1", "t", seal_id);
	if (s == NULL)
		goto out;
	rc = sq_step(st, db, s, err, what);
	if (rc == SQLITE_ROW) {
		col_lookup(s, 0, lookup);
		revoked = sqlite3_column_int64(s, 1);
	} else if (rc == SQLITE_DONE) {
		vstore_seterr(st, err, "cannot revoke %s: no such seal id", seal_id);
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_ROW)
		goto out;
	if (sq_run(st, db, err, what, "UPDATE messages SET revoked = CASE WHEN revoked = 0 THEN ?2 ELSE revoked END, "
	    "object = NULL WHERE lookup = ?1", "ti", lookup, when) < 0 ||
	    sq_run(st, db, err, what, "DELETE FROM passcodes WHERE lookup = ?1", "t", lookup) < 0 ||
	    sq_run(st, db, err, what, "DELETE FROM sessions WHERE lookup = ?1", "t", lookup) < 0 ||
	    sq_run(st, db, err, what, "DELETE FROM forwards WHERE lookup = ?1", "t", lookup) < 0)
		goto out;
	if (sq_commit(st, db, err, what) == 0)
		r = revoked == 0 ? 1 : 0;
out:
	sq_put(st, db);
	return r;
}

static long
sq_purge(struct vstore *st, int64_t now, int64_t cutoff, char **err)
{
	const char *what = "cannot purge";
	sqlite3 *db;
	long n, r = -1;

	if ((db = sq_get(st, err)) == NULL)
		return -1;
	if (sq_begin(st, db, err, what) != 0)
		goto out;
	n = sq_run(st, db, err, what, "UPDATE messages SET object = NULL "
	    "WHERE expires <> 0 AND expires <= ?1 AND object IS NOT NULL", "i", now);
	if (n < 0 ||
	    sq_run(st, db, err, what, "DELETE FROM passcodes WHERE expires <= ?1 OR lookup IN "
	    "(SELECT lookup FROM messages WHERE expires <> 0 AND expires <= ?1)", "i", now) < 0 ||
	    sq_run(st, db, err, what, "DELETE FROM sessions WHERE last_seen < ?2 OR lookup IN "
	    "(SELECT lookup FROM messages WHERE expires <> 0 AND expires <= ?1)", "ii", now, cutoff) < 0 ||
	    sq_run(st, db, err, what, "DELETE FROM nonces WHERE expires <= ?1", "i", now) < 0 ||
	    sq_run(st, db, err, what, "DELETE FROM forwards WHERE lookup IN "
	    "(SELECT lookup FROM messages WHERE expires <> 0 AND expires <= ?1)", "i", now) < 0 ||
	    sq_run(st, db, err, what, "DELETE FROM rate_limits WHERE window_end <= ?1", "i", now) < 0)
		goto out;
	if (sq_commit(st, db, err, what) == 0)
		r = n;
out:
	sq_put(st, db);
	return r;
}

/* ---- passcodes and sessions ------------------------------------------------- */

/* Inside a transaction: 0 when lookup names a message that is neither
 * revoked nor expired at now, else -1 with *err. */
static int
sq_live_message(struct vstore *st, sqlite3 *db, const char *lookup, int64_t now, char **err, const char *what)
{
	sqlite3_stmt *s;
	int rc, r = -1;

	s = sq_prep(st, db, err, what, "SELECT revoked, expires FROM messages WHERE lookup = ?1", "t", lookup);
	if (s == NULL)
		return -1;
	rc = sq_step(st, db, s, err, what);
	if (rc == SQLITE_DONE) {
		vstore_seterr(st, err, "%s: no such message", what);
	} else if (rc == SQLITE_ROW) {
		r = vstore_message_live(st, sqlite3_column_int64(s, 0), sqlite3_column_int64(s, 1), now, what, err);
	}
	sqlite3_finalize(s);
	return r;
}

static int
sq_add_passcode(struct vstore *st, const char *lookup, const char *address, const char *ref,
    const unsigned char hash[VSTORE_HASH_LEN], int64_t now, int64_t expires, char **err)
{
	const char *what = "cannot add a passcode";
	sqlite3 *db;
	int r = -1;

	if ((db = sq_get(st, err)) == NULL)
		return -1;
	if (sq_begin(st, db, err, what) != 0 || sq_live_message(st, db, lookup, now, err, what) != 0)
		goto out;
	if (sq_run(st, db, err, what, "INSERT INTO passcodes (lookup, address, ref, hash, created, expires) "
	    "VALUES (?1, ?2, ?3, ?4, ?5, ?6)", "ttthii", lookup, address, ref, hash, now, expires) < 0)
		goto out;
	if (sq_commit(st, db, err, what) == 0)
		r = 0;
out:
	sq_put(st, db);
	return r;
}

static enum vpass_result
sq_try_passcode(struct vstore *st, const char *lookup, const char *address, const unsigned char hash[VSTORE_HASH_LEN],
    int64_t now, int max_tries, int *tries_left, char **err)
{
	const char *what = "cannot check a passcode";
	enum vpass_result r = VPASS_ERROR, res;
	int64_t id, tries, used = now > 0 ? now : 1;
	sqlite3_stmt *s;
	sqlite3 *db;
	int rc, match;

	if ((db = sq_get(st, err)) == NULL)
		return VPASS_ERROR;
	if (sq_begin(st, db, err, what) != 0)
		goto out;
	s = sq_prep(st, db, err, what, "SELECT id, hash, tries FROM passcodes "
	    "WHERE lookup = ?1 AND address = ?2 AND used = 0 AND expires > ?3 ORDER BY created DESC, id DESC LIMIT 1",
	    "tti", lookup, address, now);
	if (s == NULL)
		goto out;
	rc = sq_step(st, db, s, err, what);
	if (rc != SQLITE_ROW) {
		sqlite3_finalize(s);
		if (rc == SQLITE_DONE && sq_commit(st, db, err, what) == 0)
			r = VPASS_NONE;
		goto out;
	}
	id = sqlite3_column_int64(s, 0);
	match = sqlite3_column_bytes(s, 1) == VSTORE_HASH_LEN && ct_equal(sqlite3_column_blob(s, 1), hash, VSTORE_HASH_LEN);
	tries = sqlite3_column_int64(s, 2);
	sqlite3_finalize(s);
	if (tries >= max_tries) {
		*tries_left = 0;
		if (sq_commit(st, db, err, what) == 0)
			r = VPASS_LOCKED;
		goto out;
	}
	if (match) {
		if (sq_run(st, db, err, what, "UPDATE passcodes SET used = ?2 WHERE id = ?1", "ii", id, used) < 0)
			goto out;
		*tries_left = (int)(max_tries - tries);
		res = VPASS_OK;
	} else {
		if (sq_run(st, db, err, what, "UPDATE passcodes SET tries = tries + 1 WHERE id = ?1", "i", id) < 0)
			goto out;
		*tries_left = (int)(max_tries - tries - 1);
		res = VPASS_WRONG;
	}
	if (sq_commit(st, db, err, what) == 0)
		r = res;
	else
		*tries_left = 0;
out:
	sq_put(st, db);
	return r;
}

static int
sq_session_create(struct vstore *st, const unsigned char id_hash[VSTORE_HASH_LEN], const char *lookup,
    const char *address, const char *csrf, int64_t now, char **err)
{
	const char *what = "cannot create a session";
	sqlite3 *db;
	int r = -1;

	if ((db = sq_get(st, err)) == NULL)
		return -1;
	if (sq_begin(st, db, err, what) != 0 || sq_live_message(st, db, lookup, now, err, what) != 0)
		goto out;
	if (sq_run(st, db, err, what, "INSERT INTO sessions (id_hash, lookup, address, csrf, created, last_seen) "
	    "VALUES (?1, ?2, ?3, ?4, ?5, ?5)", "httti", id_hash, lookup, address, csrf, now) < 0)
		goto out;
	if (sq_commit(st, db, err, what) == 0)
		r = 0;
out:
	sq_put(st, db);
	return r;
}

static int
sq_session_get(struct vstore *st, const unsigned char id_hash[VSTORE_HASH_LEN], int64_t now, int64_t cutoff,
    struct vsession *ses, char **err)
{
	const char *what = "cannot read a session";
	int64_t last_seen;
	sqlite3_stmt *s;
	sqlite3 *db;
	int r = -1, rc;

	if ((db = sq_get(st, err)) == NULL)
		return -1;
	/* A read first, outside any write transaction: most requests of a
	 * session find it touched within the last VSTORE_TOUCH_EVERY seconds
	 * and write nothing, so page views do not queue for the write lock. */
	s = sq_prep(st, db, err, what, "SELECT lookup, address, csrf, created, last_seen FROM sessions "
	    "WHERE id_hash = ?1", "h", id_hash);
	if (s == NULL)
		goto out;
	rc = sq_step(st, db, s, err, what);
	if (rc != SQLITE_ROW) {
		sqlite3_finalize(s);
		if (rc == SQLITE_DONE)
			r = 0;
		goto out;
	}
	last_seen = sqlite3_column_int64(s, 4);
	if (last_seen < cutoff) {
		sqlite3_finalize(s);
		/* Only if it is still idle: another node may have just touched it. */
		if (sq_run(st, db, err, what, "DELETE FROM sessions WHERE id_hash = ?1 AND last_seen < ?2", "hi", id_hash,
		    cutoff) >= 0)
			r = 0;
		goto out;
	}
	col_lookup(s, 0, ses->lookup);
	ses->address = col_text(s, 1);
	ses->csrf = col_text(s, 2);
	ses->created = sqlite3_column_int64(s, 3);
	ses->last_seen = last_seen > now ? last_seen : now;
	sqlite3_finalize(s);
	if (ses->address == NULL || ses->csrf == NULL) {
		vstore_seterr(st, err, "%s: out of memory", what);
		goto out;
	}
	if (now - last_seen < VSTORE_TOUCH_EVERY) {
		ses->last_seen = last_seen;
		r = 1;
	} else if (sq_run(st, db, err, what, "UPDATE sessions SET last_seen = ?2 WHERE id_hash = ?1 AND last_seen < ?2",
	    "hi", id_hash, ses->last_seen) >= 0)
		r = 1;
out:
	sq_put(st, db);
	return r;
}

static long
sq_count_sessions(struct vstore *st, int64_t cutoff, char **err)
{
	const char *what = "cannot count the sessions";
	sqlite3_stmt *s;
	sqlite3 *db;
	long n = -1;

	if ((db = sq_get(st, err)) == NULL)
		return -1;
	s = sq_prep(st, db, err, what, "SELECT count(*) FROM sessions WHERE last_seen >= ?1", "i", cutoff);
	if (s != NULL) {
		if (sq_step(st, db, s, err, what) == SQLITE_ROW)
			n = (long)sqlite3_column_int64(s, 0);
		sqlite3_finalize(s);
	}
	sq_put(st, db);
	return n;
}

static int
sq_session_delete(struct vstore *st, const unsigned char id_hash[VSTORE_HASH_LEN], char **err)
{
	sqlite3 *db;
	long n;

	if ((db = sq_get(st, err)) == NULL)
		return -1;
	n = sq_run(st, db, err, "cannot delete a session", "DELETE FROM sessions WHERE id_hash = ?1", "h", id_hash);
	sq_put(st, db);
	return n < 0 ? -1 : n > 0;
}

/* ---- forwards ------------------------------------------------------------------ */

static int
sq_add_forward(struct vstore *st, const char *lookup, const char *address, const char *by, int64_t now, char **err)
{
	const char *what = "cannot record a forward";
	sqlite3 *db;
	long n;
	int r = -1;

	if ((db = sq_get(st, err)) == NULL)
		return -1;
	if (sq_begin(st, db, err, what) != 0 || sq_live_message(st, db, lookup, now, err, what) != 0)
		goto out;
	n = sq_run(st, db, err, what, "INSERT INTO forwards (lookup, address, by_address, created) VALUES (?1, ?2, ?3, ?4) "
	    "ON CONFLICT DO NOTHING", "ttti", lookup, address, by, now);
	if (n >= 0 && sq_commit(st, db, err, what) == 0)
		r = n > 0;
out:
	sq_put(st, db);
	return r;
}

static int
sq_is_forwarded(struct vstore *st, const char *lookup, const char *address, char **err)
{
	const char *what = "cannot read the forwards";
	sqlite3_stmt *s;
	sqlite3 *db;
	int r = -1, rc;

	if ((db = sq_get(st, err)) == NULL)
		return -1;
	s = sq_prep(st, db, err, what, "SELECT 1 FROM forwards WHERE lookup = ?1 AND address = ?2", "tt", lookup, address);
	if (s != NULL) {
		rc = sq_step(st, db, s, err, what);
		r = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
		sqlite3_finalize(s);
	}
	sq_put(st, db);
	return r;
}

/* ---- rate limits and nonces --------------------------------------------------- */

static int
sq_rate_hit(struct vstore *st, const char *key, int64_t start, int64_t end, int64_t *count, char **err)
{
	const char *what = "cannot count a hit";
	sqlite3_stmt *s;
	sqlite3 *db;
	int r = -1;

	if ((db = sq_get(st, err)) == NULL)
		return -1;
	if (sq_begin(st, db, err, what) != 0)
		goto out;
	if (sq_run(st, db, err, what, "INSERT INTO rate_limits (rate_key, window_start, window_end, hits) "
	    "VALUES (?1, ?2, ?3, 1) ON CONFLICT (rate_key, window_start) DO UPDATE SET hits = hits + 1",
	    "tii", key, start, end) < 0)
		goto out;
	s = sq_prep(st, db, err, what, "SELECT hits FROM rate_limits WHERE rate_key = ?1 AND window_start = ?2",
	    "ti", key, start);
	if (s == NULL)
		goto out;
	if (sq_step(st, db, s, err, what) == SQLITE_ROW) {
		*count = sqlite3_column_int64(s, 0);
		r = 0;
	} else if (*err == NULL) {
		vstore_seterr(st, err, "%s: the window vanished", what);
	}
	sqlite3_finalize(s);
	if (r == 0 && sq_commit(st, db, err, what) != 0)
		r = -1;
out:
	sq_put(st, db);
	return r;
}

static int
sq_nonce_use(struct vstore *st, const char *nonce, int64_t now, int64_t expires, char **err)
{
	sqlite3 *db;
	long n;

	if ((db = sq_get(st, err)) == NULL)
		return -1;
	/* One statement: a nonce still recorded is refused; one whose time is
	 * up is as good as new. */
	n = sq_run(st, db, err, "cannot record a nonce", "INSERT INTO nonces (nonce, expires) VALUES (?1, ?2) "
	    "ON CONFLICT (nonce) DO UPDATE SET expires = excluded.expires WHERE nonces.expires <= ?3",
	    "tii", nonce, expires, now);
	sq_put(st, db);
	return n < 0 ? -1 : n > 0;
}

/* ---- the audit log ------------------------------------------------------------ */

static int
sq_audit_add(struct vstore *st, struct vaudit *rec, char **err)
{
	const char *what = "cannot append to the audit log";
	unsigned char prev[VSTORE_HASH_LEN];
	sqlite3_stmt *s;
	sqlite3 *db;
	int r = -1, rc;

	if ((db = sq_get(st, err)) == NULL)
		return -1;
	if (sq_begin(st, db, err, what) != 0)
		goto out;
	s = sq_prep(st, db, err, what, "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", "");
	if (s == NULL)
		goto out;
	rc = sq_step(st, db, s, err, what);
	memset(prev, 0, sizeof(prev));
	rec->seq = 1;
	if (rc == SQLITE_ROW) {
		if (sqlite3_column_bytes(s, 1) != VSTORE_HASH_LEN) {
			vstore_seterr(st, err, "%s: the last record's hash is damaged", what);
			rc = -1;
		} else {
			rec->seq = sqlite3_column_int64(s, 0) + 1;
			memcpy(prev, sqlite3_column_blob(s, 1), VSTORE_HASH_LEN);
		}
	}
	sqlite3_finalize(s);
	if (rc < 0)
		goto out;
	if (vstore_audit_hash(st, prev, rec, rec->hash) != 0) {
		vstore_seterr(st, err, "%s: cannot compute the hash", what);
		goto out;
	}
	if (sq_run(st, db, err, what, "INSERT INTO audit (seq, logged, event, seal_id, address, client_ip, user_agent, "
	    "outcome, detail, prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)", "iitttttttbb",
	    rec->seq, rec->time, rec->event, rec->seal_id, rec->address, rec->client_ip, rec->user_agent, rec->outcome,
	    rec->detail, (const void *)prev, (size_t)VSTORE_HASH_LEN, (const void *)rec->hash,
	    (size_t)VSTORE_HASH_LEN) < 0)
		goto out;
	if (sq_commit(st, db, err, what) == 0)
		r = 0;
out:
	sq_put(st, db);
	return r;
}

static const char *
col_str(sqlite3_stmt *s, int i)
{
	const unsigned char *t = sqlite3_column_text(s, i);

	return t != NULL ? (const char *)t : "";
}

static int
sq_audit_scan(struct vstore *st, const char *seal_id, vaudit_scan_fn fn, void *arg, char **err)
{
	const char *what = "cannot read the audit log";
	sqlite3_stmt *s;
	sqlite3 *db;
	int r = 0, rc;

	if ((db = sq_get(st, err)) == NULL)
		return -1;
	/* One statement: one consistent snapshot, however long it runs. */
	if (seal_id != NULL)
		s = sq_prep(st, db, err, what, "SELECT seq, logged, event, seal_id, address, client_ip, user_agent, "
		    "outcome, detail, prev_hash, hash FROM audit WHERE seal_id = ?1 ORDER BY seq", "t", seal_id);
	else
		s = sq_prep(st, db, err, what, "SELECT seq, logged, event, seal_id, address, client_ip, user_agent, "
		    "outcome, detail, prev_hash, hash FROM audit ORDER BY seq", "");
	if (s == NULL) {
		sq_put(st, db);
		return -1;
	}
	while ((rc = sq_step(st, db, s, err, what)) == SQLITE_ROW) {
		struct vaudit rec;
		const unsigned char *prev;
		int hlen, plen;

		memset(&rec, 0, sizeof(rec));
		rec.seq = sqlite3_column_int64(s, 0);
		rec.time = sqlite3_column_int64(s, 1);
		rec.event = col_str(s, 2);
		rec.seal_id = col_str(s, 3);
		rec.address = col_str(s, 4);
		rec.client_ip = col_str(s, 5);
		rec.user_agent = col_str(s, 6);
		rec.outcome = col_str(s, 7);
		rec.detail = col_str(s, 8);
		prev = sqlite3_column_blob(s, 9);
		plen = sqlite3_column_bytes(s, 9);
		hlen = sqlite3_column_bytes(s, 10);
		if (hlen == VSTORE_HASH_LEN)
			memcpy(rec.hash, sqlite3_column_blob(s, 10), VSTORE_HASH_LEN);
		if ((r = fn(&rec, prev, plen > 0 ? (size_t)plen : 0, arg)) != 0)
			break;
	}
	if (rc < 0)
		r = -1;
	sqlite3_finalize(s);
	sq_put(st, db);
	return r;
}

const struct vstore_ops vstore_sqlite_ops = {
	.kind = "sqlite",
	.open = sq_open,
	.close = sq_close,
	.schema_version = sq_schema_version,
	.ping = sq_ping,
	.put_message = sq_put_message,
	.get_message = sq_get_message,
	.find_message = sq_find_message,
	.revoke = sq_revoke,
	.purge = sq_purge,
	.add_passcode = sq_add_passcode,
	.try_passcode = sq_try_passcode,
	.session_create = sq_session_create,
	.session_get = sq_session_get,
	.count_sessions = sq_count_sessions,
	.session_delete = sq_session_delete,
	.add_forward = sq_add_forward,
	.is_forwarded = sq_is_forwarded,
	.rate_hit = sq_rate_hit,
	.nonce_use = sq_nonce_use,
	.audit_add = sq_audit_add,
	.audit_scan = sq_audit_scan,
};
