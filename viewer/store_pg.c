/*
 * store_pg.c - the PostgreSQL backend of sealview's store (viewer/store.h),
 * through libpq: a small pool of connections to one database, which several
 * sealview processes (nodes) may share.
 *
 * Calling rules: called only through viewer/store.c, which has already
 * checked the arguments. Any number of threads at once: each call takes a
 * connection of its own from the pool (at most PG_POOL_MAX; more callers
 * wait) and gives it back; a connection that broke is dropped, and one
 * taken from the idle pool is re-established once if its first statement
 * finds it broken (e.g. after a server restart). Atomicity across nodes:
 * a passcode try locks its row (SELECT ... FOR UPDATE), passcode and
 * session creation lock the message row (FOR SHARE) against a concurrent
 * revocation, a rate-limit hit and a nonce are one INSERT ... ON CONFLICT
 * each, a revocation locks the message row, and an audit append holds a
 * transaction-level advisory lock, so appends from every node are
 * serialised and the chain never forks. Schema migrations run under another
 * advisory lock, so nodes starting together do not race.
 * Untrusted input: every value from a web request or mail is sent as a
 * query parameter (text, or binary for bytea), never spliced into SQL.
 * Results are read in binary with their lengths checked. Error messages
 * use the server's primary message only (the DETAIL of a constraint
 * violation would repeat the values), and never the connection URI.
 */
#include "build-config.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>
#include <openssl/crypto.h>

#include "common/util.h"
#include "viewer/store.h"
#include "viewer/store_impl.h"

#define PG_POOL_MAX 8
#define PG_MAX_PARAMS 12
/* Advisory lock keys ("sealview", "sealaudi" in ASCII). */
#define PG_LOCK_SCHEMA "8315159405480469879"
#define PG_LOCK_AUDIT "8315159405128934505"
/* Audit records fetched at a time while scanning. */
#define PG_FETCH "FETCH FORWARD 500 FROM sv_audit"

/* Type OIDs of the parameters we send (fixed in PostgreSQL's catalog). */
#define PG_OID_BYTEA 17
#define PG_OID_INT8 20
#define PG_OID_TEXT 25

/* ---- the schema ------------------------------------------------------------- */

static const char pg_schema_version_table[] =
	"CREATE TABLE IF NOT EXISTS schema_version (version BIGINT PRIMARY KEY, applied BIGINT NOT NULL)";

static const struct vstore_migration pg_migrations[] = {
	{ 1,
	"CREATE TABLE messages ("
	"  lookup TEXT PRIMARY KEY CHECK (length(lookup) BETWEEN 1 AND 64),"
	"  seal_id TEXT NOT NULL UNIQUE,"
	"  message_id TEXT NOT NULL,"
	"  sender TEXT NOT NULL,"
	"  template_name TEXT NOT NULL,"
	"  policy TEXT NOT NULL,"
	"  recipients TEXT NOT NULL,"
	"  created BIGINT NOT NULL,"
	"  expires BIGINT NOT NULL,"
	"  revoked BIGINT NOT NULL DEFAULT 0,"
	"  object BYTEA);"
	/* Sealed objects are encrypted: do not try to compress them. */
	"ALTER TABLE messages ALTER COLUMN object SET STORAGE EXTERNAL;"
	"CREATE INDEX messages_message_id ON messages (message_id);"
	"CREATE INDEX messages_expires ON messages (expires) WHERE expires <> 0;"
	"CREATE TABLE passcodes ("
	"  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
	"  lookup TEXT NOT NULL REFERENCES messages (lookup),"
	"  address TEXT NOT NULL,"
	"  ref TEXT NOT NULL,"
	"  hash BYTEA NOT NULL,"
	"  created BIGINT NOT NULL,"
	"  expires BIGINT NOT NULL,"
	"  tries BIGINT NOT NULL DEFAULT 0,"
	"  used BIGINT NOT NULL DEFAULT 0);"
	"CREATE INDEX passcodes_lookup_address ON passcodes (lookup, address);"
	"CREATE INDEX passcodes_expires ON passcodes (expires);"
	"CREATE TABLE sessions ("
	"  id_hash BYTEA PRIMARY KEY,"
	"  lookup TEXT NOT NULL REFERENCES messages (lookup),"
	"  address TEXT NOT NULL,"
	"  csrf TEXT NOT NULL,"
	"  created BIGINT NOT NULL,"
	"  last_seen BIGINT NOT NULL);"
	"CREATE INDEX sessions_lookup ON sessions (lookup);"
	"CREATE INDEX sessions_last_seen ON sessions (last_seen);"
	"CREATE TABLE rate_limits ("
	"  rate_key TEXT NOT NULL,"
	"  window_start BIGINT NOT NULL,"
	"  window_end BIGINT NOT NULL,"
	"  hits BIGINT NOT NULL,"
	"  PRIMARY KEY (rate_key, window_start));"
	"CREATE INDEX rate_limits_end ON rate_limits (window_end);"
	"CREATE TABLE nonces ("
	"  nonce TEXT PRIMARY KEY,"
	"  expires BIGINT NOT NULL);"
	"CREATE INDEX nonces_expires ON nonces (expires);"
	"CREATE TABLE audit ("
	"  seq BIGINT PRIMARY KEY,"
	"  logged BIGINT NOT NULL,"
	"  event TEXT NOT NULL,"
	"  seal_id TEXT NOT NULL,"
	"  address TEXT NOT NULL,"
	"  client_ip TEXT NOT NULL,"
	"  user_agent TEXT NOT NULL,"
	"  outcome TEXT NOT NULL,"
	"  detail TEXT NOT NULL,"
	"  prev_hash BYTEA NOT NULL,"
	"  hash BYTEA NOT NULL);"
	"CREATE INDEX audit_seal_id ON audit (seal_id, seq);" },
	{ 2,
	/* Version 2: addresses a reader forwarded the message to (the forward right). */
	"CREATE TABLE forwards ("
	"  lookup TEXT NOT NULL REFERENCES messages (lookup),"
	"  address TEXT NOT NULL,"
	"  by_address TEXT NOT NULL,"
	"  created BIGINT NOT NULL,"
	"  PRIMARY KEY (lookup, address));" },
};

_Static_assert(sizeof(pg_migrations) / sizeof(pg_migrations[0]) == VSTORE_SCHEMA_VERSION,
    "one migration per schema version");

/* ---- connections -------------------------------------------------------------- */

struct pgstore {
	char *conninfo;                /* the URI (holds the password, if any) */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	PGconn *idle[PG_POOL_MAX];
	int nidle;
	int total;                     /* open connections, idle or in use */
};

/* A connection taken from the pool for one operation. */
struct pgc {
	PGconn *c;
	int fresh;                     /* from the idle pool, nothing sent yet */
};

static void
pg_quiet(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

/* libpq's message on one line: newlines and tabs become spaces, the end is
 * trimmed. (It names host and port, never the password.) */
static char *
pg_flat(const char *msg)
{
	char *m = vstore_strdup(msg), *p;
	size_t n;

	if (m == NULL)
		return NULL;
	for (p = m; *p != '\0'; p++)
		if (*p == '\n' || *p == '\t' || *p == '\r')
			*p = ' ';
	n = strlen(m);
	while (n > 0 && m[n - 1] == ' ')
		m[--n] = '\0';
	return m;
}

/* The cause of a failed statement: the server's primary message, or
 * libpq's own. */
static void
pg_err(struct vstore *st, PGconn *c, const PGresult *res, char **err, const char *what)
{
	const char *prim = res != NULL ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	char *m = pg_flat(prim != NULL ? prim : c != NULL ? PQerrorMessage(c) : "out of memory");

	vstore_seterr(st, err, "%s: %s", what, m != NULL && m[0] != '\0' ? m : "unknown error");
	free(m);
}

static int
pg_connect(struct vstore *st, PGconn **out, char **err)
{
	struct pgstore *ps = st->impl;
	/* The URI's own connect_timeout wins over ours; the encoding is ours. */
	const char *const kw[] = { "connect_timeout", "dbname", "fallback_application_name", "client_encoding", NULL };
	const char *const val[] = { "10", ps->conninfo, "sealview", "UTF8", NULL };
	PGconn *c;

	*out = NULL;
	if ((c = PQconnectdbParams(kw, val, 1)) == NULL) {
		vstore_seterr(st, err, "cannot connect: out of memory");
		return -1;
	}
	if (PQstatus(c) != CONNECTION_OK) {
		char *m = pg_flat(PQerrorMessage(c));

		vstore_seterr(st, err, "cannot connect: %s", m != NULL ? m : "out of memory");
		free(m);
		PQfinish(c);
		return -1;
	}
	PQsetNoticeProcessor(c, pg_quiet, NULL);
	*out = c;
	return 0;
}

/* Take a connection (waits while all are in use). 0, or -1 with *err. */
static int
pg_get(struct vstore *st, struct pgc *pc, char **err)
{
	struct pgstore *ps = st->impl;

	pc->c = NULL;
	pc->fresh = 0;
	pthread_mutex_lock(&ps->mu);
	for (;;) {
		if (ps->nidle > 0) {
			pc->c = ps->idle[--ps->nidle];
			pc->fresh = 1;
			pthread_mutex_unlock(&ps->mu);
			return 0;
		}
		if (ps->total < PG_POOL_MAX) {
			ps->total++;
			break;
		}
		pthread_cond_wait(&ps->cv, &ps->mu);
	}
	pthread_mutex_unlock(&ps->mu);
	if (pg_connect(st, &pc->c, err) != 0) {
		pthread_mutex_lock(&ps->mu);
		ps->total--;
		pthread_cond_signal(&ps->cv);
		pthread_mutex_unlock(&ps->mu);
		return -1;
	}
	return 0;
}

/* Give a connection back: a transaction left open (an error path) is rolled
 * back; a connection that is broken, or still busy, is closed. */
static void
pg_put(struct vstore *st, struct pgc *pc)
{
	struct pgstore *ps = st->impl;
	PGconn *c = pc->c;

	if (c == NULL)
		return;
	pc->c = NULL;
	if (PQstatus(c) == CONNECTION_OK) {
		PGTransactionStatusType ts = PQtransactionStatus(c);

		if (ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR)
			PQclear(PQexec(c, "ROLLBACK"));
	}
	pthread_mutex_lock(&ps->mu);
	if (PQstatus(c) == CONNECTION_OK && PQtransactionStatus(c) == PQTRANS_IDLE) {
		ps->idle[ps->nidle++] = c;
		c = NULL;
	} else {
		ps->total--;
	}
	pthread_cond_signal(&ps->cv);
	pthread_mutex_unlock(&ps->mu);
	if (c != NULL)
		PQfinish(c);
}

/* ---- statements ------------------------------------------------------------- */

/* Run sql with the arguments fmt describes ($1 on): 't' text (const char *,
 * NULL for ""), 'i' int64_t, 'h' a hash (VSTORE_HASH_LEN bytes), 'b' a blob
 * (const void *, size_t; NULL pointer: SQL NULL). Results come in binary.
 * Returns the result (PQclear it), or NULL with *err. */
static PGresult *
pg_vexec(struct vstore *st, struct pgc *pc, char **err, const char *what, const char *sql, const char *fmt,
    va_list ap)
{
	const char *vals[PG_MAX_PARAMS];
	char nums[PG_MAX_PARAMS][24];
	int lens[PG_MAX_PARAMS], fmts[PG_MAX_PARAMS];
	Oid types[PG_MAX_PARAMS];
	int i, n = (int)strlen(fmt), fresh = pc->fresh;
	PGresult *res;
	ExecStatusType rs;

	pc->fresh = 0;
	if (n > PG_MAX_PARAMS) {
		vstore_seterr(st, err, "%s: too many parameters", what);
		return NULL;
	}
	for (i = 0; i < n; i++) {
		lens[i] = 0;
		fmts[i] = 0;
		switch (fmt[i]) {
		case 't':
			vals[i] = va_arg(ap, const char *);
			if (vals[i] == NULL)
				vals[i] = "";
			types[i] = PG_OID_TEXT;
			break;
		case 'i':
			snprintf(nums[i], sizeof(nums[i]), "%lld", (long long)va_arg(ap, int64_t));
			vals[i] = nums[i];
			types[i] = PG_OID_INT8;
			break;
		case 'h':
			vals[i] = (const char *)va_arg(ap, const unsigned char *);
			lens[i] = VSTORE_HASH_LEN;
			fmts[i] = 1;
			types[i] = PG_OID_BYTEA;
			break;
		case 'b': {
			const void *p = va_arg(ap, const void *);
			size_t len = va_arg(ap, size_t);

			if (len > INT_MAX) {
				vstore_seterr(st, err, "%s: a value is too large", what);
				return NULL;
			}
			vals[i] = p;
			lens[i] = (int)len;
			fmts[i] = 1;
			types[i] = PG_OID_BYTEA;
			break;
		}
		default:
			vstore_seterr(st, err, "%s: bad parameter list", what);
			return NULL;
		}
	}
	for (;;) {
		res = PQexecParams(pc->c, sql, n, types, vals, lens, fmts, 1);
		rs = res != NULL ? PQresultStatus(res) : PGRES_FATAL_ERROR;
		if (rs == PGRES_COMMAND_OK || rs == PGRES_TUPLES_OK)
			return res;
		/* A connection that lay idle in the pool may have been closed
		 * meanwhile (a server restart, an idle timeout, an
		 * administrator): this operation's first statement then never
		 * ran, so connect again and retry it, once. */
		if (fresh && PQstatus(pc->c) == CONNECTION_BAD) {
			fresh = 0;
			PQclear(res);
			PQreset(pc->c);
			if (PQstatus(pc->c) == CONNECTION_OK) {
				PQsetNoticeProcessor(pc->c, pg_quiet, NULL);
				continue;
			}
			res = NULL;
		}
		break;
	}
	pg_err(st, pc->c, res, err, what);
	PQclear(res);
	return NULL;
}

static PGresult *
pg_exec(struct vstore *st, struct pgc *pc, char **err, const char *what, const char *sql, const char *fmt, ...)
{
	PGresult *res;
	va_list ap;

	va_start(ap, fmt);
	res = pg_vexec(st, pc, err, what, sql, fmt, ap);
	va_end(ap);
	return res;
}

/* Run a statement for its effect: the number of rows it touched, or -1
 * with *err. */
static long
pg_run(struct vstore *st, struct pgc *pc, char **err, const char *what, const char *sql, const char *fmt, ...)
{
	PGresult *res;
	va_list ap;
	long n;

	va_start(ap, fmt);
	res = pg_vexec(st, pc, err, what, sql, fmt, ap);
	va_end(ap);
	if (res == NULL)
		return -1;
	n = strtol(PQcmdTuples(res), NULL, 10);
	PQclear(res);
	return n;
}

static int
pg_begin(struct vstore *st, struct pgc *pc, char **err, const char *what)
{
	return pg_run(st, pc, err, what, "BEGIN", "") < 0 ? -1 : 0;
}

static int
pg_commit(struct vstore *st, struct pgc *pc, char **err, const char *what)
{
	return pg_run(st, pc, err, what, "COMMIT", "") < 0 ? -1 : 0;
}

/* ---- reading results ---------------------------------------------------------- */

/* An integer column (int2, int4 or int8; binary or text). NULL reads 0. */
static int64_t
pg_i64(const PGresult *res, int row, int col)
{
	const unsigned char *p = (const unsigned char *)PQgetvalue(res, row, col);
	int len = PQgetlength(res, row, col), i;
	uint64_t v = 0;

	if (PQgetisnull(res, row, col))
		return 0;
	if (PQfformat(res, col) == 0)
		return strtoll((const char *)p, NULL, 10);
	for (i = 0; i < len && i < 8; i++)
		v = v << 8 | p[i];
	if (len == 4)
		return (int32_t)(uint32_t)v;
	if (len == 2)
		return (int16_t)(uint16_t)v;
	return (int64_t)v;
}

/* A text column, as a new string ("" for NULL). */
static char *
pg_text(const PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return strdup("");
	return strndup(PQgetvalue(res, row, col), (size_t)PQgetlength(res, row, col));
}

/* A bytea column: its bytes (*n), valid until res (or *tofree) is freed. */
static const unsigned char *
pg_bytes(const PGresult *res, int row, int col, size_t *n, unsigned char **tofree)
{
	*tofree = NULL;
	*n = 0;
	if (PQgetisnull(res, row, col))
		return NULL;
	if (PQfformat(res, col) == 0) {
		*tofree = PQunescapeBytea((const unsigned char *)PQgetvalue(res, row, col), n);
		return *tofree;
	}
	*n = (size_t)PQgetlength(res, row, col);
	return (const unsigned char *)PQgetvalue(res, row, col);
}

static void
pg_lookup(const PGresult *res, int row, int col, char out[VSTORE_LOOKUP_LEN + 1])
{
	snprintf(out, VSTORE_LOOKUP_LEN + 1, "%.*s", PQgetlength(res, row, col), PQgetvalue(res, row, col));
}

/* ---- open and close ----------------------------------------------------------- */

static void
pg_close(struct vstore *st)
{
	struct pgstore *ps = st->impl;
	int i;

	if (ps == NULL)
		return;
	for (i = 0; i < ps->nidle; i++)
		PQfinish(ps->idle[i]);
	pthread_mutex_destroy(&ps->mu);
	pthread_cond_destroy(&ps->cv);
	if (ps->conninfo != NULL) {
		OPENSSL_cleanse(ps->conninfo, strlen(ps->conninfo));
		free(ps->conninfo);
	}
	free(ps);
	st->impl = NULL;
}

static int
pg_version(struct vstore *st, struct pgc *pc, char **err)
{
	PGresult *res;
	int v = -1;

	res = pg_exec(st, pc, err, "cannot read the schema version", "SELECT coalesce(max(version), 0) FROM schema_version",
	    "");
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 1)
		v = (int)pg_i64(res, 0, 0);
	else
		vstore_seterr(st, err, "cannot read the schema version");
	PQclear(res);
	return v;
}

/* Create or migrate the schema in one transaction (DDL is transactional),
 * under an advisory lock: nodes that start together take turns. */
static int
pg_migrate(struct vstore *st, struct pgc *pc, char **err)
{
	const char *what = "cannot create or migrate the schema";
	PGresult *res;
	size_t i;
	int v;

	if (pg_begin(st, pc, err, what) != 0 ||
	    pg_run(st, pc, err, what, "SELECT pg_advisory_xact_lock(" PG_LOCK_SCHEMA ")", "") < 0 ||
	    pg_run(st, pc, err, what, pg_schema_version_table, "") < 0)
		return -1;
	if ((v = pg_version(st, pc, err)) < 0)
		return -1;
	if (v > VSTORE_SCHEMA_VERSION) {
		vstore_seterr(st, err, "the database is at schema version %d, newer than this sealview's %d", v,
		    VSTORE_SCHEMA_VERSION);
		return -1;
	}
	for (i = 0; i < sizeof(pg_migrations) / sizeof(pg_migrations[0]); i++) {
		int64_t ver = pg_migrations[i].version, now = (int64_t)time(NULL);

		if (pg_migrations[i].version <= v)
			continue;
		/* A script of several statements: the simple protocol. */
		res = PQexec(pc->c, pg_migrations[i].sql);
		if (res == NULL || PQresultStatus(res) != PGRES_COMMAND_OK) {
			pg_err(st, pc->c, res, err, what);
			PQclear(res);
			return -1;
		}
		PQclear(res);
		if (pg_run(st, pc, err, what, "INSERT INTO schema_version (version, applied) VALUES ($1, $2)", "ii",
		    ver, now) < 0)
			return -1;
	}
	return pg_commit(st, pc, err, what);
}

static int
pg_open(struct vstore *st, const char *uri, char **err)
{
	struct pgstore *ps;
	struct pgc pc;
	int r;

	if (!PQisthreadsafe()) {
		vstore_seterr(st, err, "this libpq was built without thread support");
		return -1;
	}
	if ((ps = calloc(1, sizeof(*ps))) == NULL || (ps->conninfo = strdup(uri)) == NULL) {
		free(ps);
		vstore_seterr(st, err, "out of memory");
		return -1;
	}
	pthread_mutex_init(&ps->mu, NULL);
	pthread_cond_init(&ps->cv, NULL);
	st->impl = ps;
	if (pg_get(st, &pc, err) != 0) {
		pg_close(st);
		return -1;
	}
	r = pg_migrate(st, &pc, err);
	pg_put(st, &pc);
	if (r != 0)
		pg_close(st);
	return r;
}

static int
pg_schema_version(struct vstore *st)
{
	char *err = NULL;
	struct pgc pc;
	int v;

	if (pg_get(st, &pc, &err) != 0) {
		free(err);
		return -1;
	}
	v = pg_version(st, &pc, &err);
	pg_put(st, &pc);
	free(err);
	return v;
}

static int
pg_ping(struct vstore *st)
{
	char *err = NULL;
	struct pgc pc;
	long n;

	if (pg_get(st, &pc, &err) != 0) {
		free(err);
		return 0;
	}
	n = pg_run(st, &pc, &err, "ping", "SELECT 1", "");
	pg_put(st, &pc);
	free(err);
	return n == 1;
}

/* ---- messages ------------------------------------------------------------- */

#define PG_MSG_COLS "lookup, seal_id, message_id, sender, template_name, policy, recipients, created, expires, revoked"

static int
pg_fill_message(const PGresult *res, int with_object, struct vmessage *m)
{
	pg_lookup(res, 0, 0, m->lookup);
	m->seal_id = pg_text(res, 0, 1);
	m->message_id = pg_text(res, 0, 2);
	m->sender = pg_text(res, 0, 3);
	m->template_name = pg_text(res, 0, 4);
	m->policy = pg_text(res, 0, 5);
	m->recipients = pg_text(res, 0, 6);
	m->created = pg_i64(res, 0, 7);
	m->expires = pg_i64(res, 0, 8);
	m->revoked = pg_i64(res, 0, 9);
	if (m->seal_id == NULL || m->message_id == NULL || m->sender == NULL || m->template_name == NULL ||
	    m->policy == NULL || m->recipients == NULL)
		return -1;
	if (with_object && !PQgetisnull(res, 0, 10)) {
		unsigned char *tofree;
		const unsigned char *p;
		size_t n;

		p = pg_bytes(res, 0, 10, &n, &tofree);
		if (p == NULL || (m->object = malloc(n > 0 ? n : 1)) == NULL) {
			PQfreemem(tofree);
			return -1;
		}
		memcpy(m->object, p, n);
		m->object_len = n;
		PQfreemem(tofree);
	}
	return 0;
}

static int
pg_put_message(struct vstore *st, const struct vmessage *m, char **err)
{
	const char *what = "cannot register a message";
	PGresult *res;
	struct pgc pc;
	long n;
	int r = -1;

	if (pg_get(st, &pc, err) != 0)
		return -1;
	/* One statement: of two nodes registering the same message, one
	 * inserts and the other finds it. */
	n = pg_run(st, &pc, err, what,
	    "INSERT INTO messages (lookup, seal_id, message_id, sender, template_name, policy, recipients, created, "
	    "expires, revoked, object) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING",
	    "tttttttiiib", m->lookup, m->seal_id, m->message_id, m->sender, m->template_name, m->policy,
	    m->recipients, m->created, m->expires, m->revoked, (const void *)m->object, m->object_len);
	if (n == 1) {
		r = 1;
	} else if (n == 0) {
		res = pg_exec(st, &pc, err, what, "SELECT seal_id FROM messages WHERE lookup = $1", "t", m->lookup);
		if (res != NULL) {
			if (PQntuples(res) == 1 && (size_t)PQgetlength(res, 0, 0) == strlen(m->seal_id) &&
			    memcmp(PQgetvalue(res, 0, 0), m->seal_id, strlen(m->seal_id)) == 0)
				r = 0;
			else if (PQntuples(res) == 1)
				vstore_seterr(st, err, "cannot register seal id %s: its lookup id is already registered for "
				    "another seal id", m->seal_id);
			else
				vstore_seterr(st, err, "cannot register seal id %s: it is already registered under another "
				    "lookup id", m->seal_id);
			PQclear(res);
		}
	}
	pg_put(st, &pc);
	return r;
}

static int
pg_select_message(struct vstore *st, struct pgc *pc, const char *sql, const char *key, int with_object,
    struct vmessage *m, char **err)
{
	const char *what = "cannot read a message";
	PGresult *res;
	int r = 0;

	if ((res = pg_exec(st, pc, err, what, sql, "t", key)) == NULL)
		return -1;
	if (PQntuples(res) > 0) {
		if (pg_fill_message(res, with_object, m) == 0) {
			r = 1;
		} else {
			vstore_seterr(st, err, "%s: out of memory", what);
			r = -1;
		}
	}
	PQclear(res);
	return r;
}

static int
pg_get_message(struct vstore *st, const char *lookup, int with_object, struct vmessage *m, char **err)
{
	struct pgc pc;
	int r;

	if (pg_get(st, &pc, err) != 0)
		return -1;
	r = pg_select_message(st, &pc, with_object ? "SELECT " PG_MSG_COLS ", object FROM messages WHERE lookup = $1" :
	    "SELECT " PG_MSG_COLS " FROM messages WHERE lookup = $1", lookup, with_object, m, err);
	pg_put(st, &pc);
	return r;
}

static int
pg_find_message(struct vstore *st, const char *key, struct vmessage *m, char **err)
{
	struct pgc pc;
	int r;

	if (pg_get(st, &pc, err) != 0)
		return -1;
	r = pg_select_message(st, &pc, "SELECT " PG_MSG_COLS " FROM messages WHERE seal_id = $1", key, 0, m, err);
	if (r == 0)
		r = pg_select_message(st, &pc, "SELECT " PG_MSG_COLS " FROM messages WHERE message_id = $1 "
		    "ORDER BY revoked <> 0, created DESC, lookup LIMIT 1", key, 0, m, err);
	pg_put(st, &pc);
	return r;
}

static int
pg_revoke(struct vstore *st, const char *seal_id, int64_t now, char **err)
{
	const char *what = "cannot revoke";
	char lookup[VSTORE_LOOKUP_LEN + 1];
	int64_t revoked, when = now > 0 ? now : 1;
	PGresult *res;
	struct pgc pc;
	int r = -1;

	if (pg_get(st, &pc, err) != 0)
		return -1;
	if (pg_begin(st, &pc, err, what) != 0)
		goto out;
	res = pg_exec(st, &pc, err, what, "SELECT lookup, revoked FROM messages WHERE seal_id = $1 FOR UPDATE", "t",
	    seal_id);
	if (res == NULL)
		goto out;
	if (PQntuples(res) != 1) {
		vstore_seterr(st, err, "cannot revoke %s: no such seal id", seal_id);
		PQclear(res);
		goto out;
	}
	pg_lookup(res, 0, 0, lookup);
	revoked = pg_i64(res, 0, 1);
	PQclear(res);
	if (pg_run(st, &pc, err, what, "UPDATE messages SET revoked = CASE WHEN revoked = 0 THEN $2 ELSE revoked END, "
	    "object = NULL WHERE lookup = $1", "ti", lookup, when) < 0 ||
	    pg_run(st, &pc, err, what, "DELETE FROM passcodes WHERE lookup = $1", "t", lookup) < 0 ||
	    pg_run(st, &pc, err, what, "DELETE FROM sessions WHERE lookup = $1", "t", lookup) < 0 ||
	    pg_run(st, &pc, err, what, "DELETE FROM forwards WHERE lookup = $1", "t", lookup) < 0)
		goto out;
	if (pg_commit(st, &pc, err, what) == 0)
		r = revoked == 0 ? 1 : 0;
out:
	pg_put(st, &pc);
	return r;
}

static long
pg_purge(struct vstore *st, int64_t now, int64_t cutoff, char **err)
{
	const char *what = "cannot purge";
	struct pgc pc;
	long n, r = -1;

	if (pg_get(st, &pc, err) != 0)
		return -1;
	if (pg_begin(st, &pc, err, what) != 0)
		goto out;
	n = pg_run(st, &pc, err, what, "UPDATE messages SET object = NULL "
	    "WHERE expires <> 0 AND expires <= $1 AND object IS NOT NULL", "i", now);
	if (n < 0 ||
	    pg_run(st, &pc, err, what, "DELETE FROM passcodes WHERE expires <= $1 OR lookup IN "
	    "(SELECT lookup FROM messages WHERE expires <> 0 AND expires <= $1)", "i", now) < 0 ||
	    pg_run(st, &pc, err, what, "DELETE FROM sessions WHERE last_seen < $2 OR lookup IN "
	    "(SELECT lookup FROM messages WHERE expires <> 0 AND expires <= $1)", "ii", now, cutoff) < 0 ||
	    pg_run(st, &pc, err, what, "DELETE FROM nonces WHERE expires <= $1", "i", now) < 0 ||
	    pg_run(st, &pc, err, what, "DELETE FROM forwards WHERE lookup IN "
	    "(SELECT lookup FROM messages WHERE expires <> 0 AND expires <= $1)", "i", now) < 0 ||
	    pg_run(st, &pc, err, what, "DELETE FROM rate_limits WHERE window_end <= $1", "i", now) < 0)
		goto out;
	if (pg_commit(st, &pc, err, what) == 0)
		r = n;
out:
	pg_put(st, &pc);
	return r;
}

/* ---- passcodes and sessions ------------------------------------------------- */

/* Inside a transaction: lock the message row against a concurrent
 * revocation (FOR SHARE) and check that it is neither revoked nor expired
 * at now. 0, or -1 with *err. */
static int
pg_live_message(struct vstore *st, struct pgc *pc, const char *lookup, int64_t now, char **err, const char *what)
{
	PGresult *res;
	int r = -1;

	res = pg_exec(st, pc, err, what, "SELECT revoked, expires FROM messages WHERE lookup = $1 FOR SHARE", "t", lookup);
	if (res == NULL)
		return -1;
	if (PQntuples(res) != 1) {
		vstore_seterr(st, err, "%s: no such message", what);
	} else {
		r = vstore_message_live(st, pg_i64(res, 0, 0), pg_i64(res, 0, 1), now, what, err);
	}
	PQclear(res);
	return r;
}

static int
pg_add_passcode(struct vstore *st, const char *lookup, const char *address, const char *ref,
    const unsigned char hash[VSTORE_HASH_LEN], int64_t now, int64_t expires, char **err)
{
	const char *what = "cannot add a passcode";
	struct pgc pc;
	int r = -1;

	if (pg_get(st, &pc, err) != 0)
		return -1;
	if (pg_begin(st, &pc, err, what) != 0 || pg_live_message(st, &pc, lookup, now, err, what) != 0)
		goto out;
	if (pg_run(st, &pc, err, what, "INSERT INTO passcodes (lookup, address, ref, hash, created, expires) "
	    "VALUES ($1, $2, $3, $4, $5, $6)", "ttthii", lookup, address, ref, hash, now, expires) < 0)
		goto out;
	if (pg_commit(st, &pc, err, what) == 0)
		r = 0;
out:
	pg_put(st, &pc);
	return r;
}

static enum vpass_result
pg_try_passcode(struct vstore *st, const char *lookup, const char *address, const unsigned char hash[VSTORE_HASH_LEN],
    int64_t now, int max_tries, int *tries_left, char **err)
{
	const char *what = "cannot check a passcode";
	enum vpass_result r = VPASS_ERROR, res_kind;
	int64_t id, tries, used = now > 0 ? now : 1;
	const unsigned char *stored;
	unsigned char *tofree;
	PGresult *res;
	struct pgc pc;
	size_t slen;
	int match;

	if (pg_get(st, &pc, err) != 0)
		return VPASS_ERROR;
	if (pg_begin(st, &pc, err, what) != 0)
		goto out;
	/* The row stays locked until COMMIT: a concurrent try on any node
	 * waits, then sees this one's count. */
	res = pg_exec(st, &pc, err, what, "SELECT id, hash, tries FROM passcodes "
	    "WHERE lookup = $1 AND address = $2 AND used = 0 AND expires > $3 ORDER BY created DESC, id DESC LIMIT 1 "
	    "FOR UPDATE", "tti", lookup, address, now);
	if (res == NULL)
		goto out;
	if (PQntuples(res) != 1) {
		PQclear(res);
		if (pg_commit(st, &pc, err, what) == 0)
			r = VPASS_NONE;
		goto out;
	}
	id = pg_i64(res, 0, 0);
	stored = pg_bytes(res, 0, 1, &slen, &tofree);
	match = stored != NULL && slen == VSTORE_HASH_LEN && ct_equal(stored, hash, VSTORE_HASH_LEN);
	PQfreemem(tofree);
	tries = pg_i64(res, 0, 2);
	PQclear(res);
	if (tries >= max_tries) {
		*tries_left = 0;
		if (pg_commit(st, &pc, err, what) == 0)
			r = VPASS_LOCKED;
		goto out;
	}
	if (match) {
		if (pg_run(st, &pc, err, what, "UPDATE passcodes SET used = $2 WHERE id = $1", "ii", id, used) < 0)
			goto out;
		*tries_left = (int)(max_tries - tries);
		res_kind = VPASS_OK;
	} else {
		if (pg_run(st, &pc, err, what, "UPDATE passcodes SET tries = tries + 1 WHERE id = $1", "i", id) < 0)
			goto out;
		*tries_left = (int)(max_tries - tries - 1);
		res_kind = VPASS_WRONG;
	}
	if (pg_commit(st, &pc, err, what) == 0)
		r = res_kind;
	else
		*tries_left = 0;
out:
	pg_put(st, &pc);
	return r;
}

static int
pg_session_create(struct vstore *st, const unsigned char id_hash[VSTORE_HASH_LEN], const char *lookup,
    const char *address, const char *csrf, int64_t now, char **err)
{
	const char *what = "cannot create a session";
	struct pgc pc;
	int r = -1;

	if (pg_get(st, &pc, err) != 0)
		return -1;
	if (pg_begin(st, &pc, err, what) != 0 || pg_live_message(st, &pc, lookup, now, err, what) != 0)
		goto out;
	if (pg_run(st, &pc, err, what, "INSERT INTO sessions (id_hash, lookup, address, csrf, created, last_seen) "
	    "VALUES ($1, $2, $3, $4, $5, $5)", "httti", id_hash, lookup, address, csrf, now) < 0)
		goto out;
	if (pg_commit(st, &pc, err, what) == 0)
		r = 0;
out:
	pg_put(st, &pc);
	return r;
}

static int
pg_session_get(struct vstore *st, const unsigned char id_hash[VSTORE_HASH_LEN], int64_t now, int64_t cutoff,
    struct vsession *ses, char **err)
{
	const char *what = "cannot read a session";
	PGresult *res;
	struct pgc pc;
	int r = -1;

	if (pg_get(st, &pc, err) != 0)
		return -1;
	/* Read a live session; touch it only when the stored time is
	 * VSTORE_TOUCH_EVERY seconds behind, so page views rarely write. An
	 * unknown (or forged) cookie costs a read, never a write. */
	res = pg_exec(st, &pc, err, what, "SELECT lookup, address, csrf, created, last_seen FROM sessions "
	    "WHERE id_hash = $1", "h", id_hash);
	if (res == NULL)
		goto out;
	if (PQntuples(res) == 1 && pg_i64(res, 0, 4) < cutoff) {
		/* Idle too long: it goes (only if still idle: another node may touch it). */
		PQclear(res);
		if (pg_run(st, &pc, err, what, "DELETE FROM sessions WHERE id_hash = $1 AND last_seen < $2", "hi", id_hash,
		    cutoff) >= 0)
			r = 0;
		goto out;
	}
	if (PQntuples(res) == 1) {
		pg_lookup(res, 0, 0, ses->lookup);
		ses->address = pg_text(res, 0, 1);
		ses->csrf = pg_text(res, 0, 2);
		ses->created = pg_i64(res, 0, 3);
		ses->last_seen = pg_i64(res, 0, 4);
		PQclear(res);
		if (ses->address == NULL || ses->csrf == NULL) {
			vstore_seterr(st, err, "%s: out of memory", what);
			goto out;
		}
		if (now - ses->last_seen < VSTORE_TOUCH_EVERY) {
			r = 1;
			goto out;
		}
		if (pg_run(st, &pc, err, what, "UPDATE sessions SET last_seen = GREATEST(last_seen, $2) WHERE id_hash = $1",
		    "hi", id_hash, now) >= 0) {
			ses->last_seen = now;
			r = 1;
		}
		goto out;
	}
	PQclear(res);
	r = 0;      /* none */
out:
	pg_put(st, &pc);
	return r;
}

static long
pg_count_sessions(struct vstore *st, int64_t cutoff, char **err)
{
	const char *what = "cannot count the sessions";
	PGresult *res;
	struct pgc pc;
	long n = -1;

	if (pg_get(st, &pc, err) != 0)
		return -1;
	res = pg_exec(st, &pc, err, what, "SELECT count(*) FROM sessions WHERE last_seen >= $1", "i", cutoff);
	if (res != NULL) {
		if (PQntuples(res) == 1)
			n = (long)pg_i64(res, 0, 0);
		PQclear(res);
	}
	pg_put(st, &pc);
	return n;
}

static int
pg_add_forward(struct vstore *st, const char *lookup, const char *address, const char *by, int64_t now, char **err)
{
	const char *what = "cannot record a forward";
	struct pgc pc;
	long n;
	int r = -1;

	if (pg_get(st, &pc, err) != 0)
		return -1;
	if (pg_begin(st, &pc, err, what) != 0 || pg_live_message(st, &pc, lookup, now, err, what) != 0)
		goto out;
	n = pg_run(st, &pc, err, what, "INSERT INTO forwards (lookup, address, by_address, created) VALUES ($1, $2, $3, $4) "
	    "ON CONFLICT DO NOTHING", "ttti", lookup, address, by, now);
	if (n >= 0 && pg_commit(st, &pc, err, what) == 0)
		r = n > 0;
out:
	pg_put(st, &pc);
	return r;
}

static int
pg_is_forwarded(struct vstore *st, const char *lookup, const char *address, char **err)
{
	PGresult *res;
	struct pgc pc;
	int r = -1;

	if (pg_get(st, &pc, err) != 0)
		return -1;
	res = pg_exec(st, &pc, err, "cannot read the forwards", "SELECT 1 FROM forwards WHERE lookup = $1 AND address = $2",
	    "tt", lookup, address);
	if (res != NULL) {
		r = PQntuples(res) > 0;
		PQclear(res);
	}
	pg_put(st, &pc);
	return r;
}

static int
pg_session_delete(struct vstore *st, const unsigned char id_hash[VSTORE_HASH_LEN], char **err)
{
	struct pgc pc;
	long n;

	if (pg_get(st, &pc, err) != 0)
		return -1;
	n = pg_run(st, &pc, err, "cannot delete a session", "DELETE FROM sessions WHERE id_hash = $1", "h", id_hash);
	pg_put(st, &pc);
	return n < 0 ? -1 : n > 0;
}

/* ---- rate limits and nonces --------------------------------------------------- */

static int
pg_rate_hit(struct vstore *st, const char *key, int64_t start, int64_t end, int64_t *count, char **err)
{
	const char *what = "cannot count a hit";
	PGresult *res;
	struct pgc pc;
	int r = -1;

	if (pg_get(st, &pc, err) != 0)
		return -1;
	res = pg_exec(st, &pc, err, what, "INSERT INTO rate_limits (rate_key, window_start, window_end, hits) "
	    "VALUES ($1, $2, $3, 1) ON CONFLICT (rate_key, window_start) DO UPDATE SET hits = rate_limits.hits + 1 "
	    "RETURNING hits", "tii", key, start, end);
	if (res != NULL) {
		if (PQntuples(res) == 1) {
			*count = pg_i64(res, 0, 0);
			r = 0;
		} else {
			vstore_seterr(st, err, "%s: no count returned", what);
		}
		PQclear(res);
	}
	pg_put(st, &pc);
	return r;
}

static int
pg_nonce_use(struct vstore *st, const char *nonce, int64_t now, int64_t expires, char **err)
{
	struct pgc pc;
	long n;

	if (pg_get(st, &pc, err) != 0)
		return -1;
	/* One statement: a nonce still recorded is refused; one whose time is
	 * up is as good as new. */
	n = pg_run(st, &pc, err, "cannot record a nonce", "INSERT INTO nonces (nonce, expires) VALUES ($1, $2) "
	    "ON CONFLICT (nonce) DO UPDATE SET expires = EXCLUDED.expires WHERE nonces.expires <= $3",
	    "tii", nonce, expires, now);
	pg_put(st, &pc);
	return n < 0 ? -1 : n > 0;
}

/* ---- the audit log ------------------------------------------------------------ */

static int
pg_audit_add(struct vstore *st, struct vaudit *rec, char **err)
{
	const char *what = "cannot append to the audit log";
	unsigned char prev[VSTORE_HASH_LEN];
	PGresult *res;
	struct pgc pc;
	int r = -1;

	if (pg_get(st, &pc, err) != 0)
		return -1;
	/* The advisory lock is held until COMMIT: appenders on every node
	 * take turns, each seeing the one before. It needs no privilege on
	 * the table, so the audit table may be insert-only for sealview. */
	if (pg_begin(st, &pc, err, what) != 0 ||
	    pg_run(st, &pc, err, what, "SELECT pg_advisory_xact_lock(" PG_LOCK_AUDIT ")", "") < 0)
		goto out;
	res = pg_exec(st, &pc, err, what, "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", "");
	if (res == NULL)
		goto out;
	memset(prev, 0, sizeof(prev));
	rec->seq = 1;
	if (PQntuples(res) == 1) {
		unsigned char *tofree;
		const unsigned char *h;
		size_t hlen;

		h = pg_bytes(res, 0, 1, &hlen, &tofree);
		if (h == NULL || hlen != VSTORE_HASH_LEN) {
			vstore_seterr(st, err, "%s: the last record's hash is damaged", what);
			PQfreemem(tofree);
			PQclear(res);
			goto out;
		}
		memcpy(prev, h, VSTORE_HASH_LEN);
		PQfreemem(tofree);
		rec->seq = pg_i64(res, 0, 0) + 1;
	}
	PQclear(res);
	if (vstore_audit_hash(st, prev, rec, rec->hash) != 0) {
		vstore_seterr(st, err, "%s: cannot compute the hash", what);
		goto out;
	}
	if (pg_run(st, &pc, err, what, "INSERT INTO audit (seq, logged, event, seal_id, address, client_ip, user_agent, "
	    "outcome, detail, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)", "iitttttttbb",
	    rec->seq, rec->time, rec->event, rec->seal_id, rec->address, rec->client_ip, rec->user_agent, rec->outcome,
	    rec->detail, (const void *)prev, (size_t)VSTORE_HASH_LEN, (const void *)rec->hash,
	    (size_t)VSTORE_HASH_LEN) < 0)
		goto out;
	if (pg_commit(st, &pc, err, what) == 0)
		r = 0;
out:
	pg_put(st, &pc);
	return r;
}

/* Hand each row of a FETCH to fn; 0 to go on, fn's value, or -1. */
static int
pg_audit_rows(struct vstore *st, const PGresult *res, vaudit_scan_fn fn, void *arg, char **err)
{
	int i, n = PQntuples(res), r = 0;

	for (i = 0; i < n && r == 0; i++) {
		unsigned char *pfree, *hfree;
		const unsigned char *prev, *h;
		size_t plen, hlen;
		struct vaudit rec;

		memset(&rec, 0, sizeof(rec));
		rec.seq = pg_i64(res, i, 0);
		rec.time = pg_i64(res, i, 1);
		rec.event = PQgetvalue(res, i, 2);
		rec.seal_id = PQgetvalue(res, i, 3);
		rec.address = PQgetvalue(res, i, 4);
		rec.client_ip = PQgetvalue(res, i, 5);
		rec.user_agent = PQgetvalue(res, i, 6);
		rec.outcome = PQgetvalue(res, i, 7);
		rec.detail = PQgetvalue(res, i, 8);
		prev = pg_bytes(res, i, 9, &plen, &pfree);
		h = pg_bytes(res, i, 10, &hlen, &hfree);
		if ((pfree == NULL && PQfformat(res, 9) == 0 && !PQgetisnull(res, i, 9)) ||
		    (hfree == NULL && PQfformat(res, 10) == 0 && !PQgetisnull(res, i, 10))) {
			vstore_seterr(st, err, "cannot read the audit log: out of memory");
			r = -1;
		} else {
			if (h != NULL && hlen == VSTORE_HASH_LEN)
				memcpy(rec.hash, h, VSTORE_HASH_LEN);
			r = fn(&rec, prev, plen, arg);
		}
		PQfreemem(pfree);
		PQfreemem(hfree);
	}
	return r;
}

static int
pg_audit_scan(struct vstore *st, const char *seal_id, vaudit_scan_fn fn, void *arg, char **err)
{
	const char *what = "cannot read the audit log";
	PGresult *res;
	struct pgc pc;
	int r = -1;

	if (pg_get(st, &pc, err) != 0)
		return -1;
	/* A cursor in a read-only transaction: one snapshot, read a batch
	 * at a time however long the log is. */
	if (pg_run(st, &pc, err, what, "BEGIN READ ONLY", "") < 0)
		goto out;
	if (seal_id != NULL)
		res = pg_exec(st, &pc, err, what, "DECLARE sv_audit BINARY NO SCROLL CURSOR FOR SELECT seq, logged, event, "
		    "seal_id, address, client_ip, user_agent, outcome, detail, prev_hash, hash FROM audit "
		    "WHERE seal_id = $1 ORDER BY seq", "t", seal_id);
	else
		res = pg_exec(st, &pc, err, what, "DECLARE sv_audit BINARY NO SCROLL CURSOR FOR SELECT seq, logged, event, "
		    "seal_id, address, client_ip, user_agent, outcome, detail, prev_hash, hash FROM audit ORDER BY seq", "");
	if (res == NULL)
		goto out;
	PQclear(res);
	for (;;) {
		int n;

		if ((res = pg_exec(st, &pc, err, what, PG_FETCH, "")) == NULL) {
			r = -1;
			goto out;
		}
		n = PQntuples(res);
		r = pg_audit_rows(st, res, fn, arg, err);
		PQclear(res);
		if (r != 0 || n == 0)
			break;
	}
	if (r >= 0 && pg_commit(st, &pc, err, what) != 0)
		r = -1;
out:
	pg_put(st, &pc);
	return r;
}

const struct vstore_ops vstore_pg_ops = {
	.kind = "postgresql",
	.open = pg_open,
	.close = pg_close,
	.schema_version = pg_schema_version,
	.ping = pg_ping,
	.put_message = pg_put_message,
	.get_message = pg_get_message,
	.find_message = pg_find_message,
	.revoke = pg_revoke,
	.purge = pg_purge,
	.add_passcode = pg_add_passcode,
	.try_passcode = pg_try_passcode,
	.session_create = pg_session_create,
	.session_get = pg_session_get,
	.count_sessions = pg_count_sessions,
	.session_delete = pg_session_delete,
	.add_forward = pg_add_forward,
	.is_forwarded = pg_is_forwarded,
	.rate_hit = pg_rate_hit,
	.nonce_use = pg_nonce_use,
	.audit_add = pg_audit_add,
	.audit_scan = pg_audit_scan,
};
