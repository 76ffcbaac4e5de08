/* test_store.c - unit tests for viewer/store.c and its backends.
 *
 * The store under test comes from SEALVIEW_TEST_STORE: unset, a fresh
 * SQLite file in a new temp dir per test; "sqlite:PATH", that file, removed
 * before each test; "postgresql://..." (tests/cli/test-store-pg.sh starts a
 * server of its own), a schema of its own per test: CREATE SCHEMA
 * sv_test_RUNPID_TESTPID_N, and the store's URI gets
 * options=-csearch_path%3DTHAT_SCHEMA. So every test starts from an empty
 * database, and runs can share one database. Each test removes its
 * database at its end; main() removes whatever a failed test left (its
 * temp dir, or every schema of the run).
 *
 * Covers: open and migration (twice, two handles, the version); messages
 * (idempotent put, both conflicts, get with and without the object, find
 * by seal id and by Message-ID, revoke and its cascade, purge); passcodes
 * (used once, wrong tries counting down, the lock, expiry, the newest
 * wins); sessions (create, get and touch, idle expiry, delete); rate limits;
 * nonces; the audit chain (the exact HMAC, listing, verify, and a changed
 * field, a changed time, a deleted record, a deleted first record and
 * swapped records, each found at the right seq); concurrency (8 threads of
 * audit appends and rate hits; two handles and two processes racing on one
 * passcode: exactly max_tries wrong tries count); bad input (unknown
 * scheme, unwritable SQLite path, a PostgreSQL port nobody listens on: -1
 * with an error naming the store and never the password; text that is not
 * UTF-8). */
#include "build-config.h"

#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ftw.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sqlite3.h>

#include "common/metrics.h"
#include "viewer/store.h"

#define NCASES(a) ((int)(sizeof(a) / sizeof((a)[0])))
#define T0 ((int64_t)1800000000)

static const unsigned char key[32] = "0123456789abcdef0123456789abcdef";

/* ---- the store under test --------------------------------------------------- */

/* Set once in main(), before any test runs (so forked tests see them). */
static const char *env_store;   /* SEALVIEW_TEST_STORE, or NULL */
static char *run_dir;           /* SQLite by default: this run's temp dir */
static char run_prefix[64];     /* PostgreSQL: this run's schemas start with it */
/* This test's store. */
static char *spec;
static char *test_dir;          /* SQLite by default: this test's dir in run_dir */
static char *sqlite_path;       /* SQLite: the database file */
static char *pg_base;           /* PostgreSQL: the URI from the environment */
static char *pg_schema;         /* PostgreSQL: this test's schema */

static int
env_is_pg(void)
{
	return env_store != NULL && (strncmp(env_store, "postgresql://", 13) == 0 ||
	    strncmp(env_store, "postgres://", 11) == 0);
}

static int
is_pg(void)
{
	return pg_base != NULL;
}

static void
rm_sqlite(const char *path)
{
	static const char *const sfx[] = { "", "-wal", "-shm", "-journal" };
	int i;

	for (i = 0; i < 4; i++) {
		char *p = NULL;

		if (asprintf(&p, "%s%s", path, sfx[i]) >= 0) {
			unlink(p);
			free(p);
		}
	}
}

static void
pg_quiet(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

static void
pg_admin(const char *sql)
{
	PGconn *c = PQconnectdb(pg_base);
	PGresult *r;

	ck_assert_msg(PQstatus(c) == CONNECTION_OK, "cannot connect to %s: %s", pg_base, PQerrorMessage(c));
	PQsetNoticeProcessor(c, pg_quiet, NULL);
	r = PQexec(c, sql);
	ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK, "%s: %s", sql, PQerrorMessage(c));
	PQclear(r);
	PQfinish(c);
}

static void
setup(void)
{
	static int counter;

	if (env_is_pg()) {
		char *sql = NULL;

		pg_base = strdup(env_store);
		ck_assert_int_ge(asprintf(&pg_schema, "%s_%ld_%d", run_prefix, (long)getpid(), ++counter), 0);
		ck_assert_int_ge(asprintf(&sql, "DROP SCHEMA IF EXISTS %s CASCADE; CREATE SCHEMA %s", pg_schema, pg_schema),
		    0);
		pg_admin(sql);
		free(sql);
		ck_assert_int_ge(asprintf(&spec, "%s%coptions=-csearch_path%%3D%s", env_store,
		    strchr(env_store, '?') ? '&' : '?', pg_schema), 0);
	} else if (env_store != NULL) {
		sqlite_path = strdup(env_store + 7);
		rm_sqlite(sqlite_path);
		spec = strdup(env_store);
	} else {
		ck_assert_int_ge(asprintf(&test_dir, "%s/tXXXXXX", run_dir), 0);
		ck_assert_ptr_nonnull(mkdtemp(test_dir));
		ck_assert_int_ge(asprintf(&sqlite_path, "%s/test.db", test_dir), 0);
		ck_assert_int_ge(asprintf(&spec, "sqlite:%s", sqlite_path), 0);
	}
}

/* A test that fails ends at once, without teardown: what it leaves is
 * removed by main() at the end of the run. */
static void
teardown(void)
{
	if (pg_schema != NULL) {
		char *sql = NULL;

		ck_assert_int_ge(asprintf(&sql, "DROP SCHEMA %s CASCADE", pg_schema), 0);
		pg_admin(sql);
		free(sql);
	}
	if (sqlite_path != NULL)
		rm_sqlite(sqlite_path);
	if (test_dir != NULL)
		rmdir(test_dir);
	free(spec);
	free(test_dir);
	free(sqlite_path);
	free(pg_base);
	free(pg_schema);
	spec = test_dir = sqlite_path = pg_base = pg_schema = NULL;
}

/* At the end of the run: drop every schema of this run / remove the run's
 * temp dir, whatever the tests left. */
static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

static void
run_cleanup(void)
{
	if (env_is_pg()) {
		PGconn *c = PQconnectdb(env_store);
		char *sql = NULL;

		if (PQstatus(c) == CONNECTION_OK && asprintf(&sql, "DO $$DECLARE s text; BEGIN FOR s IN SELECT nspname "
		    "FROM pg_namespace WHERE starts_with(nspname, '%s_') LOOP EXECUTE format('DROP SCHEMA %%I CASCADE', s); "
		    "END LOOP; END$$", run_prefix) >= 0) {
			PQsetNoticeProcessor(c, pg_quiet, NULL);
			PQclear(PQexec(c, sql));
			free(sql);
		}
		PQfinish(c);
	} else if (env_store != NULL) {
		rm_sqlite(env_store + 7);
	} else if (run_dir != NULL) {
		nftw(run_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
		free(run_dir);
		run_dir = NULL;
	}
}

static struct vstore *
open_store(void)
{
	struct vstore *st = NULL;
	char *err = NULL;

	ck_assert_msg(vstore_open(spec, key, &st, &err) == 0, "open %s: %s", spec, err);
	ck_assert_ptr_null(err);
	ck_assert_ptr_nonnull(st);
	return st;
}

/* Run SQL on the store's database behind its back (for tampering). */
static void
raw_exec(const char *sql)
{
	if (is_pg()) {
		PGconn *c = PQconnectdb(spec);
		PGresult *r;

		ck_assert_msg(PQstatus(c) == CONNECTION_OK, "%s", PQerrorMessage(c));
		PQsetNoticeProcessor(c, pg_quiet, NULL);
		r = PQexec(c, sql);
		ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK, "%s: %s", sql, PQerrorMessage(c));
		PQclear(r);
		PQfinish(c);
	} else {
		sqlite3 *db = NULL;
		char *msg = NULL;

		ck_assert_int_eq(sqlite3_open(sqlite_path, &db), SQLITE_OK);
		sqlite3_busy_timeout(db, 10000);
		ck_assert_msg(sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK, "%s: %s", sql, msg);
		sqlite3_close(db);
	}
}

/* The first column of the first row of a query, as an integer. */
static int64_t
raw_int(const char *sql)
{
	int64_t v = -1;

	if (is_pg()) {
		PGconn *c = PQconnectdb(spec);
		PGresult *r;

		ck_assert_msg(PQstatus(c) == CONNECTION_OK, "%s", PQerrorMessage(c));
		r = PQexec(c, sql);
		ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1, "%s: %s", sql, PQerrorMessage(c));
		v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
		PQclear(r);
		PQfinish(c);
	} else {
		sqlite3 *db = NULL;
		sqlite3_stmt *s = NULL;

		ck_assert_int_eq(sqlite3_open(sqlite_path, &db), SQLITE_OK);
		sqlite3_busy_timeout(db, 10000);
		ck_assert_msg(sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK, "%s: %s", sql, sqlite3_errmsg(db));
		ck_assert_int_eq(sqlite3_step(s), SQLITE_ROW);
		v = sqlite3_column_int64(s, 0);
		sqlite3_finalize(s);
		sqlite3_close(db);
	}
	return v;
}

/* ---- helpers ---------------------------------------------------------------- */

static int
starts_with(const char *s, const char *prefix)
{
	return s != NULL && strncmp(s, prefix, strlen(prefix)) == 0;
}

static void
sha256(const char *s, unsigned char out[32])
{
	unsigned int n = 0;

	ck_assert_int_eq(EVP_Digest(s, strlen(s), out, &n, EVP_sha256(), NULL), 1);
}

/* A lookup id as sealview makes them: 64 hex digits. */
static void
mk_lookup(char out[VSTORE_LOOKUP_LEN + 1], const char *seed)
{
	unsigned char h[32];
	int i;

	sha256(seed, h);
	for (i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", h[i]);
}

static const unsigned char object_bytes[] = { 0x30, 0x82, 0x00, 0x05, 0x00, 0xff, 0x01, 0x00 };

static void
mk_message(struct vmessage *m, const char *seed, const char *seal_id, const char *message_id, int64_t created,
    int64_t expires)
{
	memset(m, 0, sizeof(*m));
	mk_lookup(m->lookup, seed);
	m->seal_id = (char *)seal_id;
	m->message_id = (char *)message_id;
	m->sender = (char *)"alice@example.com";
	m->template_name = (char *)"dnf";
	m->policy = (char *)"{\"rights\":[\"view\"]}";
	m->recipients = (char *)"bob@partner.test\npartner2.test";
	m->created = created;
	m->expires = expires;
	m->object = (unsigned char *)object_bytes;
	m->object_len = sizeof(object_bytes);
}

/* Register a message and return its lookup id. */
static void
put(struct vstore *st, const char *seed, const char *seal_id, const char *message_id, int64_t created, int64_t expires,
    char lookup[VSTORE_LOOKUP_LEN + 1])
{
	struct vmessage m;
	char *err = NULL;

	mk_message(&m, seed, seal_id, message_id, created, expires);
	ck_assert_msg(vstore_put_message(st, &m, &err) == 1, "put %s: %s", seal_id, err);
	if (lookup != NULL)
		memcpy(lookup, m.lookup, VSTORE_LOOKUP_LEN + 1);
}

/* The prefix every error of this store starts with: its name. */
static void
assert_names_store(const char *err)
{
	size_t n = strcspn(spec, "?");

	ck_assert_ptr_nonnull(err);
	ck_assert_msg(strncmp(err, spec, n) == 0 && strncmp(err + n, ": ", 2) == 0, "error does not name %.*s: %s",
	    (int)n, spec, err);
}

/* ---- open and migration --------------------------------------------------------- */

START_TEST(test_open_twice)
{
	struct vstore *a = open_store(), *b;

	ck_assert_int_eq(vstore_schema_version(a), VSTORE_SCHEMA_VERSION);
	ck_assert_str_eq(vstore_kind(a), is_pg() ? "postgresql" : "sqlite");
	ck_assert_int_eq(vstore_ping(a), 1);
	if (!is_pg()) {
		struct stat sb;

		/* WAL mode, and a file only its owner may read. */
		ck_assert_int_eq(raw_int("SELECT count(*) FROM pragma_journal_mode WHERE journal_mode = 'wal'"), 1);
		ck_assert_int_eq(stat(sqlite_path, &sb), 0);
		ck_assert_int_eq(sb.st_mode & 0777, 0600);
	}
	vstore_close(a);
	/* Again: nothing to migrate; and a second handle while one is open. */
	a = open_store();
	b = open_store();
	ck_assert_int_eq(vstore_schema_version(a), VSTORE_SCHEMA_VERSION);
	ck_assert_int_eq(vstore_schema_version(b), VSTORE_SCHEMA_VERSION);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM schema_version"), VSTORE_SCHEMA_VERSION);
	ck_assert_int_eq(raw_int("SELECT max(version) FROM schema_version"), VSTORE_SCHEMA_VERSION);
	vstore_close(b);
	vstore_close(a);
	vstore_close(NULL);
	if (is_pg() && strncmp(spec, "postgresql://", 13) == 0) {
		char *alt = NULL, *err = NULL;

		/* The short scheme works too. */
		ck_assert_int_ge(asprintf(&alt, "postgres://%s", spec + 13), 0);
		ck_assert_msg(vstore_open(alt, key, &a, &err) == 0, "%s", err);
		ck_assert_str_eq(vstore_kind(a), "postgresql");
		ck_assert_int_eq(vstore_schema_version(a), VSTORE_SCHEMA_VERSION);
		vstore_close(a);
		free(alt);
	}
}
END_TEST

START_TEST(test_newer_schema)
{
	struct vstore *st = open_store();
	char *err = NULL;

	vstore_close(st);
	raw_exec("INSERT INTO schema_version (version, applied) VALUES (99, 0)");
	st = NULL;
	ck_assert_int_eq(vstore_open(spec, key, &st, &err), -1);
	ck_assert_ptr_null(st);
	assert_names_store(err);
	ck_assert_msg(strstr(err, "schema version 99") != NULL, "%s", err);
	free(err);
}
END_TEST

/* ---- messages ------------------------------------------------------------------ */

START_TEST(test_put_message)
{
	struct vstore *st = open_store();
	struct vmessage m, g;
	char *err = NULL;

	mk_message(&m, "one", "S1", "<m1@example.com>", T0, T0 + 86400);
	ck_assert_int_eq(vstore_put_message(st, &m, &err), 1);
	ck_assert_ptr_null(err);
	ck_assert_int_eq(vstore_put_message(st, &m, &err), 0);      /* idempotent */
	ck_assert_ptr_null(err);
	/* The same lookup for another seal id. */
	m.seal_id = (char *)"S2";
	ck_assert_int_eq(vstore_put_message(st, &m, &err), -1);
	assert_names_store(err);
	ck_assert_msg(strstr(err, "S2") != NULL && strstr(err, "another seal id") != NULL, "%s", err);
	free(err);
	err = NULL;
	/* The same seal id under another lookup. */
	mk_message(&m, "two", "S1", "<m1@example.com>", T0, T0 + 86400);
	ck_assert_int_eq(vstore_put_message(st, &m, &err), -1);
	assert_names_store(err);
	ck_assert_msg(strstr(err, "another lookup") != NULL, "%s", err);
	free(err);
	err = NULL;
	/* Neither conflicting put changed anything. */
	mk_message(&m, "one", "S1", "<m1@example.com>", T0, T0 + 86400);
	ck_assert_int_eq(vstore_get_message(st, m.lookup, 0, &g, &err), 1);
	ck_assert_str_eq(g.seal_id, "S1");
	vmessage_free(&g);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM messages"), 1);
	/* Bad registrations. */
	memset(m.lookup, 0, sizeof(m.lookup));
	ck_assert_int_eq(vstore_put_message(st, &m, &err), -1);
	ck_assert_ptr_nonnull(err);
	free(err);
	mk_message(&m, "three", "", "<m3@example.com>", T0, 0);
	ck_assert_int_eq(vstore_put_message(st, &m, &err), -1);
	free(err);
	mk_message(&m, "three", NULL, "<m3@example.com>", T0, 0);
	ck_assert_int_eq(vstore_put_message(st, &m, NULL), -1);
	mk_message(&m, "three", "S3", "<m3@example.com>", T0, 0);
	m.sender = (char *)"caf\xe9@example.com";                   /* Latin-1, not UTF-8 */
	ck_assert_int_eq(vstore_put_message(st, &m, &err), -1);
	ck_assert_msg(strstr(err, "UTF-8") != NULL, "%s", err);
	free(err);
	vstore_close(st);
}
END_TEST

START_TEST(test_get_message)
{
	struct vstore *st = open_store();
	struct vmessage m, g;
	char *err = NULL;

	mk_message(&m, "one", "S1", "<m1@example.com>", T0, T0 + 86400);
	m.revoked = 0;
	ck_assert_int_eq(vstore_put_message(st, &m, &err), 1);
	ck_assert_int_eq(vstore_get_message(st, m.lookup, 1, &g, &err), 1);
	ck_assert_ptr_null(err);
	ck_assert_str_eq(g.lookup, m.lookup);
	ck_assert_str_eq(g.seal_id, "S1");
	ck_assert_str_eq(g.message_id, "<m1@example.com>");
	ck_assert_str_eq(g.sender, m.sender);
	ck_assert_str_eq(g.template_name, "dnf");
	ck_assert_str_eq(g.policy, m.policy);
	ck_assert_str_eq(g.recipients, m.recipients);
	ck_assert_int_eq(g.created, T0);
	ck_assert_int_eq(g.expires, T0 + 86400);
	ck_assert_int_eq(g.revoked, 0);
	ck_assert_uint_eq(g.object_len, sizeof(object_bytes));
	ck_assert_mem_eq(g.object, object_bytes, sizeof(object_bytes));
	vmessage_free(&g);
	ck_assert_ptr_null(g.seal_id);
	/* Without the object. */
	ck_assert_int_eq(vstore_get_message(st, m.lookup, 0, &g, &err), 1);
	ck_assert_ptr_null(g.object);
	ck_assert_uint_eq(g.object_len, 0);
	ck_assert_str_eq(g.seal_id, "S1");
	vmessage_free(&g);
	/* Unknown, and lookups no one could have registered. */
	ck_assert_int_eq(vstore_get_message(st, "0000000000000000000000000000000000000000000000000000000000000000", 1,
	    &g, &err), 0);
	ck_assert_ptr_null(err);
	ck_assert_ptr_null(g.seal_id);
	ck_assert_int_eq(vstore_get_message(st, "", 1, &g, &err), 0);
	ck_assert_int_eq(vstore_get_message(st, "x' OR '1'='1", 1, &g, &err), 0);
	ck_assert_int_eq(vstore_get_message(st, "\xff\xfe", 1, &g, &err), 0);
	ck_assert_int_eq(vstore_get_message(st, NULL, 1, &g, &err), 0);
	vmessage_free(&g);
	/* A message registered without an object, and one that never expires. */
	mk_message(&m, "two", "S2", "<m2@example.com>", T0, 0);
	m.object = NULL;
	m.object_len = 0;
	ck_assert_int_eq(vstore_put_message(st, &m, &err), 1);
	ck_assert_int_eq(vstore_get_message(st, m.lookup, 1, &g, &err), 1);
	ck_assert_ptr_null(g.object);
	ck_assert_int_eq(g.expires, 0);
	vmessage_free(&g);
	vstore_close(st);
}
END_TEST

START_TEST(test_find_message)
{
	struct vstore *st = open_store();
	char l1[VSTORE_LOOKUP_LEN + 1], l3[VSTORE_LOOKUP_LEN + 1];
	struct vmessage g;
	char *err = NULL;

	put(st, "one", "S1", "<m1@example.com>", T0, 0, l1);
	put(st, "two", "S2", "<same@example.com>", T0, 0, NULL);
	put(st, "three", "S3", "<same@example.com>", T0 + 10, 0, l3);
	ck_assert_int_eq(vstore_find_message(st, "S1", &g, &err), 1);
	ck_assert_str_eq(g.lookup, l1);
	ck_assert_ptr_null(g.object);
	vmessage_free(&g);
	ck_assert_int_eq(vstore_find_message(st, "<m1@example.com>", &g, &err), 1);
	ck_assert_str_eq(g.seal_id, "S1");
	ck_assert_ptr_null(g.object);
	vmessage_free(&g);
	/* The same Message-ID twice: the newest. */
	ck_assert_int_eq(vstore_find_message(st, "<same@example.com>", &g, &err), 1);
	ck_assert_str_eq(g.lookup, l3);
	vmessage_free(&g);
	/* A seal id wins over a Message-ID. */
	put(st, "four", "<m1@example.com>", "<m4@example.com>", T0, 0, NULL);
	ck_assert_int_eq(vstore_find_message(st, "<m1@example.com>", &g, &err), 1);
	ck_assert_str_eq(g.seal_id, "<m1@example.com>");
	vmessage_free(&g);
	ck_assert_int_eq(vstore_find_message(st, "m1@example.com", &g, &err), 0);
	ck_assert_int_eq(vstore_find_message(st, "S9", &g, &err), 0);
	ck_assert_int_eq(vstore_find_message(st, "", &g, &err), 0);
	ck_assert_int_eq(vstore_find_message(st, "\xc3", &g, &err), 0);
	ck_assert_ptr_null(err);
	vstore_close(st);
}
END_TEST

/* Forwards (schema version 2): recorded once, found per message and address,
 * refused for a revoked or expired message, dropped with revocation and purge. */
START_TEST(test_forwards)
{
	struct vstore *st = open_store();
	char lk[VSTORE_LOOKUP_LEN + 1], other[VSTORE_LOOKUP_LEN + 1], ex[VSTORE_LOOKUP_LEN + 1];
	char *err = NULL;

	put(st, "one", "F1", "<f1@example.com>", T0, T0 + 86400, lk);
	put(st, "two", "F2", "<f2@example.com>", T0, T0 + 86400, other);
	put(st, "three", "F3", "<f3@example.com>", T0, T0 + 100, ex);
	ck_assert_int_eq(vstore_add_forward(st, lk, "frank@other.test", "bob@partner.test", T0 + 10, &err), 1);
	ck_assert_int_eq(vstore_add_forward(st, lk, "frank@other.test", "bob@partner.test", T0 + 11, &err), 0);
	ck_assert_int_eq(vstore_is_forwarded(st, lk, "frank@other.test", &err), 1);
	ck_assert_int_eq(vstore_is_forwarded(st, other, "frank@other.test", &err), 0);
	ck_assert_int_eq(vstore_is_forwarded(st, lk, "grace@other.test", &err), 0);
	ck_assert_ptr_null(err);
	/* Expired: refused, and the purge drops what there was. */
	ck_assert_int_eq(vstore_add_forward(st, ex, "frank@other.test", "bob@partner.test", T0 + 10, &err), 1);
	ck_assert_int_eq(vstore_add_forward(st, ex, "grace@other.test", "bob@partner.test", T0 + 200, &err), -1);
	ck_assert_ptr_nonnull(strstr(err, "expired"));
	free(err);
	err = NULL;
	ck_assert_int_ge(vstore_purge(st, T0 + 200, 3600, &err), 1);
	ck_assert_int_eq(vstore_is_forwarded(st, ex, "frank@other.test", &err), 0);
	/* Revoked: dropped, and no new one. */
	ck_assert_int_eq(vstore_revoke(st, "F1", T0 + 20, &err), 1);
	ck_assert_int_eq(vstore_is_forwarded(st, lk, "frank@other.test", &err), 0);
	ck_assert_int_eq(vstore_add_forward(st, lk, "frank@other.test", "bob@partner.test", T0 + 30, &err), -1);
	free(err);
	vstore_close(st);
}
END_TEST

START_TEST(test_revoke)
{
	struct vstore *st = open_store();
	char lk[VSTORE_LOOKUP_LEN + 1], other[VSTORE_LOOKUP_LEN + 1];
	unsigned char pass[32], sid[32], sid2[32];
	struct vmessage g;
	struct vsession s;
	char *err = NULL;
	int left;

	put(st, "one", "S1", "<m1@example.com>", T0, T0 + 86400, lk);
	put(st, "two", "S2", "<m2@example.com>", T0, T0 + 86400, other);
	sha256("123456", pass);
	sha256("session", sid);
	sha256("session2", sid2);
	ck_assert_int_eq(vstore_add_passcode(st, lk, "bob@partner.test", "r1", pass, T0, T0 + 600, &err), 0);
	ck_assert_int_eq(vstore_add_passcode(st, other, "bob@partner.test", "r2", pass, T0, T0 + 600, &err), 0);
	ck_assert_int_eq(vstore_session_create(st, sid, lk, "bob@partner.test", "csrf", T0, &err), 0);
	ck_assert_int_eq(vstore_session_create(st, sid2, other, "bob@partner.test", "csrf", T0, &err), 0);
	ck_assert_ptr_null(err);

	ck_assert_int_eq(vstore_revoke(st, "S1", T0 + 5, &err), 1);
	ck_assert_ptr_null(err);
	ck_assert_int_eq(vstore_get_message(st, lk, 1, &g, &err), 1);
	ck_assert_int_eq(g.revoked, T0 + 5);
	ck_assert_ptr_null(g.object);
	vmessage_free(&g);
	ck_assert_int_eq(vstore_try_passcode(st, lk, "bob@partner.test", pass, T0 + 6, 5, &left, &err), VPASS_NONE);
	ck_assert_int_eq(vstore_session_get(st, sid, T0 + 6, 3600, &s, &err), 0);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM passcodes"), 1);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM sessions"), 1);
	/* A revoked message takes no new passcodes or sessions. */
	ck_assert_int_eq(vstore_add_passcode(st, lk, "bob@partner.test", "r3", pass, T0 + 7, T0 + 600, &err), -1);
	ck_assert_msg(strstr(err, "revoked") != NULL, "%s", err);
	free(err);
	ck_assert_int_eq(vstore_session_create(st, sid, lk, "bob@partner.test", "csrf", T0 + 7, &err), -1);
	ck_assert_msg(strstr(err, "revoked") != NULL, "%s", err);
	free(err);
	err = NULL;
	/* Again: nothing changes, the first time stays. */
	ck_assert_int_eq(vstore_revoke(st, "S1", T0 + 50, &err), 0);
	ck_assert_ptr_null(err);
	ck_assert_int_eq(vstore_get_message(st, lk, 1, &g, &err), 1);
	ck_assert_int_eq(g.revoked, T0 + 5);
	vmessage_free(&g);
	/* The other message is untouched. */
	ck_assert_int_eq(vstore_get_message(st, other, 1, &g, &err), 1);
	ck_assert_int_eq(g.revoked, 0);
	ck_assert_ptr_nonnull(g.object);
	vmessage_free(&g);
	ck_assert_int_eq(vstore_session_get(st, sid2, T0 + 6, 3600, &s, &err), 1);
	vsession_free(&s);
	/* Unknown. */
	ck_assert_int_eq(vstore_revoke(st, "S9", T0, &err), -1);
	assert_names_store(err);
	ck_assert_msg(strstr(err, "S9") != NULL, "%s", err);
	free(err);
	ck_assert_int_eq(vstore_revoke(st, "", T0, NULL), -1);
	vstore_close(st);
}
END_TEST

START_TEST(test_purge)
{
	struct vstore *st = open_store();
	char a[VSTORE_LOOKUP_LEN + 1], b[VSTORE_LOOKUP_LEN + 1], c[VSTORE_LOOKUP_LEN + 1];
	unsigned char pass[32], s1[32], s2[32], s3[32];
	struct vmessage g;
	struct vsession s;
	char *err = NULL;
	int left;

	put(st, "a", "SA", "<a@example.com>", T0, T0 + 100, a);      /* expires first */
	put(st, "b", "SB", "<b@example.com>", T0, 0, b);             /* never */
	put(st, "c", "SC", "<c@example.com>", T0, T0 + 200, c);      /* later */
	sha256("pass", pass);
	sha256("s1", s1);
	sha256("s2", s2);
	sha256("s3", s3);
	ck_assert_int_eq(vstore_add_passcode(st, a, "bob@partner.test", "", pass, T0, T0 + 1000, &err), 0);
	ck_assert_int_eq(vstore_add_passcode(st, b, "bob@partner.test", "", pass, T0, T0 + 50, &err), 0);
	ck_assert_int_eq(vstore_add_passcode(st, b, "carol@partner.test", "", pass, T0, T0 + 1000, &err), 0);
	ck_assert_int_eq(vstore_session_create(st, s1, a, "bob@partner.test", "x", T0 + 90, &err), 0);
	ck_assert_int_eq(vstore_session_create(st, s2, b, "bob@partner.test", "x", T0, &err), 0);       /* idle */
	ck_assert_int_eq(vstore_session_create(st, s3, b, "carol@partner.test", "x", T0 + 140, &err), 0);
	ck_assert_int_eq(vstore_nonce_use(st, "old", T0, T0 + 60, &err), 1);
	ck_assert_int_eq(vstore_nonce_use(st, "new", T0, T0 + 600, &err), 1);
	ck_assert_int_eq(vstore_rate_hit(st, "ip:1", T0, 60, 10, &err), 1);
	ck_assert_int_eq(vstore_rate_hit(st, "ip:1", T0 + 150, 60, 10, &err), 1);
	ck_assert_ptr_null(err);
	{
		/* The live sessions (sealview_active_sessions), each call timed. */
		struct metrics *reg = metrics_new();
		const double bounds[] = { 1 };
		struct metric *h = metrics_histogram(reg, "store_seconds", "s", "op", 32, bounds, 1);
		vstore_observe(st, h);
		ck_assert_int_eq(vstore_count_sessions(st, T0 + 150, 60, &err), 2);    /* s2 is idle */
		ck_assert_int_eq(vstore_count_sessions(st, T0 + 150, 200, &err), 3);
		ck_assert_int_eq(vstore_count_sessions(st, T0 + 150, -1, &err), -1);
		ck_assert_ptr_nonnull(err);
		free(err);
		err = NULL;
		ck_assert(metric_value(h, METRIC_LV("count_sessions")) == 2);
		vstore_observe(st, NULL);
		metrics_free(reg);
	}

	ck_assert_int_eq(vstore_purge(st, T0 + 150, 60, &err), 1);
	ck_assert_ptr_null(err);
	/* The expired message keeps its row, loses its object; not revoked. */
	ck_assert_int_eq(vstore_get_message(st, a, 1, &g, &err), 1);
	ck_assert_ptr_null(g.object);
	ck_assert_int_eq(g.revoked, 0);
	ck_assert_int_eq(g.expires, T0 + 100);
	vmessage_free(&g);
	ck_assert_int_eq(vstore_get_message(st, b, 1, &g, &err), 1);
	ck_assert_ptr_nonnull(g.object);
	vmessage_free(&g);
	ck_assert_int_eq(vstore_get_message(st, c, 1, &g, &err), 1);
	ck_assert_ptr_nonnull(g.object);
	vmessage_free(&g);
	/* Its passcode and session went; so did an expired passcode and an
	 * idle session; the live ones stay. */
	ck_assert_int_eq(raw_int("SELECT count(*) FROM passcodes"), 1);
	ck_assert_int_eq(vstore_try_passcode(st, b, "carol@partner.test", pass, T0 + 150, 5, &left, &err), VPASS_OK);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM sessions"), 1);
	ck_assert_int_eq(vstore_session_get(st, s3, T0 + 150, 60, &s, &err), 1);
	vsession_free(&s);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM nonces"), 1);
	ck_assert_int_eq(vstore_nonce_use(st, "new", T0 + 150, T0 + 600, &err), 0);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM rate_limits"), 1);
	/* Again: nothing left to do. */
	ck_assert_int_eq(vstore_purge(st, T0 + 150, 60, &err), 0);
	/* Later the other one goes too. */
	ck_assert_int_eq(vstore_purge(st, T0 + 200, 60, &err), 1);
	ck_assert_int_eq(vstore_get_message(st, c, 1, &g, &err), 1);
	ck_assert_ptr_null(g.object);
	vmessage_free(&g);
	ck_assert_int_eq(vstore_purge(st, T0, -1, &err), -1);
	free(err);
	vstore_close(st);
}
END_TEST

/* ---- passcodes ------------------------------------------------------------------ */

START_TEST(test_passcode_once)
{
	struct vstore *st = open_store();
	char lk[VSTORE_LOOKUP_LEN + 1];
	unsigned char pass[32];
	char *err = NULL;
	int left = -1;

	put(st, "one", "S1", "<m1@example.com>", T0, 0, lk);
	sha256("483920", pass);
	ck_assert_int_eq(vstore_try_passcode(st, lk, "bob@partner.test", pass, T0, 5, &left, &err), VPASS_NONE);
	ck_assert_int_eq(vstore_add_passcode(st, lk, "bob@partner.test", "REF1", pass, T0, T0 + 600, &err), 0);
	ck_assert_int_eq(vstore_try_passcode(st, lk, "bob@partner.test", pass, T0 + 1, 5, &left, &err), VPASS_OK);
	ck_assert_int_eq(left, 5);
	/* Used up. */
	ck_assert_int_eq(vstore_try_passcode(st, lk, "bob@partner.test", pass, T0 + 2, 5, &left, &err), VPASS_NONE);
	ck_assert_int_eq(left, 0);
	/* Another address, another message. */
	ck_assert_int_eq(vstore_add_passcode(st, lk, "bob@partner.test", "REF2", pass, T0, T0 + 600, &err), 0);
	ck_assert_int_eq(vstore_try_passcode(st, lk, "carol@partner.test", pass, T0 + 2, 5, &left, &err), VPASS_NONE);
	ck_assert_int_eq(vstore_try_passcode(st, "ffff", "bob@partner.test", pass, T0 + 2, 5, NULL, &err), VPASS_NONE);
	ck_assert_int_eq(vstore_try_passcode(st, lk, "bob@partner.test", pass, T0 + 2, 0, &left, &err), VPASS_ERROR);
	ck_assert_ptr_nonnull(err);
	free(err);
	err = NULL;
	/* Unknown message. */
	ck_assert_int_eq(vstore_add_passcode(st, "abcd", "bob@partner.test", "", pass, T0, T0 + 600, &err), -1);
	assert_names_store(err);
	free(err);
	vstore_close(st);
}
END_TEST

START_TEST(test_passcode_wrong)
{
	struct vstore *st = open_store();
	char lk[VSTORE_LOOKUP_LEN + 1];
	unsigned char pass[32], bad[32];
	char *err = NULL;
	int i, left = -1;

	put(st, "one", "S1", "<m1@example.com>", T0, 0, lk);
	sha256("483920", pass);
	sha256("000000", bad);
	/* Four wrong, then right: still fine. */
	ck_assert_int_eq(vstore_add_passcode(st, lk, "bob@partner.test", "", pass, T0, T0 + 600, &err), 0);
	for (i = 0; i < 4; i++) {
		ck_assert_int_eq(vstore_try_passcode(st, lk, "bob@partner.test", bad, T0 + i, 5, &left, &err), VPASS_WRONG);
		ck_assert_int_eq(left, 4 - i);
	}
	ck_assert_int_eq(vstore_try_passcode(st, lk, "bob@partner.test", pass, T0 + 5, 5, &left, &err), VPASS_OK);
	ck_assert_int_eq(left, 1);
	/* Five wrong: dead, even for the right one. */
	ck_assert_int_eq(vstore_add_passcode(st, lk, "bob@partner.test", "", pass, T0 + 10, T0 + 600, &err), 0);
	for (i = 0; i < 5; i++) {
		ck_assert_int_eq(vstore_try_passcode(st, lk, "bob@partner.test", bad, T0 + 11, 5, &left, &err), VPASS_WRONG);
		ck_assert_int_eq(left, 4 - i);
	}
	ck_assert_int_eq(vstore_try_passcode(st, lk, "bob@partner.test", pass, T0 + 12, 5, &left, &err), VPASS_LOCKED);
	ck_assert_int_eq(left, 0);
	ck_assert_int_eq(vstore_try_passcode(st, lk, "bob@partner.test", bad, T0 + 12, 5, &left, &err), VPASS_LOCKED);
	ck_assert_int_eq(raw_int("SELECT max(tries) FROM passcodes"), 5);
	/* A new passcode is newer than the locked one, and works. */
	ck_assert_int_eq(vstore_add_passcode(st, lk, "bob@partner.test", "", pass, T0 + 20, T0 + 600, &err), 0);
	ck_assert_int_eq(vstore_try_passcode(st, lk, "bob@partner.test", pass, T0 + 21, 5, &left, &err), VPASS_OK);
	ck_assert_ptr_null(err);
	vstore_close(st);
}
END_TEST

START_TEST(test_passcode_expiry_newest)
{
	struct vstore *st = open_store();
	char lk[VSTORE_LOOKUP_LEN + 1];
	unsigned char p1[32], p2[32];
	char *err = NULL;
	int left;

	put(st, "one", "S1", "<m1@example.com>", T0, 0, lk);
	sha256("111111", p1);
	sha256("222222", p2);
	/* Expired at its expiry time. */
	ck_assert_int_eq(vstore_add_passcode(st, lk, "bob@partner.test", "", p1, T0, T0 + 600, &err), 0);
	ck_assert_int_eq(vstore_try_passcode(st, lk, "bob@partner.test", p1, T0 + 600, 5, &left, &err), VPASS_NONE);
	ck_assert_int_eq(vstore_try_passcode(st, lk, "bob@partner.test", p1, T0 + 599, 5, &left, &err), VPASS_OK);
	/* Two live ones: only the newest counts. */
	ck_assert_int_eq(vstore_add_passcode(st, lk, "bob@partner.test", "", p1, T0 + 100, T0 + 700, &err), 0);
	ck_assert_int_eq(vstore_add_passcode(st, lk, "bob@partner.test", "", p2, T0 + 200, T0 + 800, &err), 0);
	ck_assert_int_eq(vstore_try_passcode(st, lk, "bob@partner.test", p1, T0 + 300, 5, &left, &err), VPASS_WRONG);
	ck_assert_int_eq(left, 4);
	ck_assert_int_eq(vstore_try_passcode(st, lk, "bob@partner.test", p2, T0 + 300, 5, &left, &err), VPASS_OK);
	/* With the newest used up, the older live one is the newest live. */
	ck_assert_int_eq(vstore_try_passcode(st, lk, "bob@partner.test", p1, T0 + 300, 5, &left, &err), VPASS_OK);
	ck_assert_int_eq(vstore_try_passcode(st, lk, "bob@partner.test", p1, T0 + 300, 5, &left, &err), VPASS_NONE);
	/* Expired message: no new passcode. */
	put(st, "two", "S2", "<m2@example.com>", T0, T0 + 10, lk);
	ck_assert_int_eq(vstore_add_passcode(st, lk, "bob@partner.test", "", p1, T0 + 10, T0 + 700, &err), -1);
	ck_assert_msg(strstr(err, "expired") != NULL, "%s", err);
	free(err);
	vstore_close(st);
}
END_TEST

/* ---- sessions ------------------------------------------------------------------- */

START_TEST(test_sessions)
{
	struct vstore *st = open_store();
	char lk[VSTORE_LOOKUP_LEN + 1];
	unsigned char sid[32], sid2[32];
	struct vsession s;
	char *err = NULL;

	put(st, "one", "S1", "<m1@example.com>", T0, 0, lk);
	sha256("cookie", sid);
	sha256("cookie2", sid2);
	ck_assert_int_eq(vstore_session_create(st, sid, lk, "bob@partner.test", "csrf-token", T0, &err), 0);
	ck_assert_ptr_null(err);
	ck_assert_int_eq(vstore_session_get(st, sid, T0 + 10, 60, &s, &err), 1);
	ck_assert_str_eq(s.lookup, lk);
	ck_assert_str_eq(s.address, "bob@partner.test");
	ck_assert_str_eq(s.csrf, "csrf-token");
	ck_assert_int_eq(s.created, T0);
	/* Touched less than VSTORE_TOUCH_EVERY ago: nothing is written. */
	ck_assert_int_eq(s.last_seen, T0);
	ck_assert_int_eq(raw_int("SELECT last_seen - 1800000000 FROM sessions"), 0);
	vsession_free(&s);
	ck_assert_ptr_null(s.address);
	/* At +40 it is written. */
	ck_assert_int_eq(vstore_session_get(st, sid, T0 + 40, 60, &s, &err), 1);
	ck_assert_int_eq(s.last_seen, T0 + 40);
	ck_assert_int_eq(raw_int("SELECT last_seen - 1800000000 FROM sessions"), 40);
	vsession_free(&s);
	/* Touched at +40, so still live at +90 with 60 s idle (and touched again). */
	ck_assert_int_eq(vstore_session_get(st, sid, T0 + 90, 60, &s, &err), 1);
	ck_assert_int_eq(s.last_seen, T0 + 90);
	vsession_free(&s);
	/* A clock behind does not move last_seen back. */
	ck_assert_int_eq(vstore_session_get(st, sid, T0 + 85, 60, &s, &err), 1);
	ck_assert_int_eq(s.last_seen, T0 + 90);
	vsession_free(&s);
	/* Idle too long: gone, even for a later lenient look. */
	ck_assert_int_eq(vstore_session_get(st, sid, T0 + 151, 60, &s, &err), 0);
	ck_assert_ptr_null(s.address);
	ck_assert_int_eq(vstore_session_get(st, sid, T0 + 151, 100000, &s, &err), 0);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM sessions"), 0);
	/* Delete. */
	ck_assert_int_eq(vstore_session_create(st, sid2, lk, "bob@partner.test", "c2", T0, &err), 0);
	ck_assert_int_eq(vstore_session_create(st, sid2, lk, "bob@partner.test", "c2", T0, &err), -1);
	assert_names_store(err);
	free(err);
	err = NULL;
	ck_assert_int_eq(vstore_session_delete(st, sid2, &err), 1);
	ck_assert_int_eq(vstore_session_get(st, sid2, T0, 60, &s, &err), 0);
	ck_assert_int_eq(vstore_session_delete(st, sid2, &err), 0);
	ck_assert_ptr_null(err);
	/* Unknown message. */
	ck_assert_int_eq(vstore_session_create(st, sid2, "abcd", "bob@partner.test", "c2", T0, &err), -1);
	ck_assert_ptr_nonnull(err);
	free(err);
	vstore_close(st);
}
END_TEST

/* ---- rate limits and nonces --------------------------------------------------------- */

START_TEST(test_rate)
{
	struct vstore *st = open_store();
	char *err = NULL;
	int i;

	for (i = 0; i < 3; i++)
		ck_assert_int_eq(vstore_rate_hit(st, "ip:192.0.2.1", T0 + i, 60, 3, &err), 1);
	ck_assert_int_eq(vstore_rate_hit(st, "ip:192.0.2.1", T0 + 10, 60, 3, &err), 0);
	ck_assert_int_eq(vstore_rate_hit(st, "ip:192.0.2.1", T0 + 11, 60, 3, &err), 0);
	/* Another key counts apart. */
	ck_assert_int_eq(vstore_rate_hit(st, "ip:192.0.2.2", T0 + 11, 60, 3, &err), 1);
	/* T0 is a multiple of 60: the next window starts at T0 + 60. */
	ck_assert_int_eq(vstore_rate_hit(st, "ip:192.0.2.1", T0 + 59, 60, 3, &err), 0);
	ck_assert_int_eq(vstore_rate_hit(st, "ip:192.0.2.1", T0 + 60, 60, 3, &err), 1);
	ck_assert_int_eq(vstore_rate_hit(st, "ip:192.0.2.1", T0 + 61, 60, 3, &err), 1);
	ck_assert_int_eq(vstore_rate_hit(st, "ip:192.0.2.1", T0 + 62, 60, 3, &err), 1);
	ck_assert_int_eq(vstore_rate_hit(st, "ip:192.0.2.1", T0 + 63, 60, 3, &err), 0);
	ck_assert_int_eq(vstore_rate_hit(st, "addr:\xff@x", T0, 60, 0, &err), 0);
	ck_assert_ptr_null(err);
	ck_assert_int_eq(vstore_rate_hit(st, "k", T0, 0, 3, &err), -1);
	assert_names_store(err);
	free(err);
	vstore_close(st);
}
END_TEST

START_TEST(test_nonce)
{
	struct vstore *st = open_store();
	char *err = NULL;

	ck_assert_int_eq(vstore_nonce_use(st, "n-1", T0, T0 + 300, &err), 1);
	ck_assert_int_eq(vstore_nonce_use(st, "n-1", T0 + 1, T0 + 301, &err), 0);
	ck_assert_int_eq(vstore_nonce_use(st, "n-1", T0 + 299, T0 + 599, &err), 0);
	ck_assert_int_eq(vstore_nonce_use(st, "n-2", T0 + 1, T0 + 301, &err), 1);
	/* Once its time is up it is forgotten, purged or not. */
	ck_assert_int_eq(vstore_nonce_use(st, "n-1", T0 + 300, T0 + 600, &err), 1);
	ck_assert_int_eq(vstore_nonce_use(st, "n-1", T0 + 301, T0 + 601, &err), 0);
	ck_assert_ptr_null(err);
	ck_assert_int_eq(vstore_nonce_use(st, "", T0, T0 + 1, &err), -1);
	free(err);
	vstore_close(st);
}
END_TEST

/* ---- the audit chain ------------------------------------------------------------ */

static void
put_be(unsigned char *p, uint64_t v, int n)
{
	int i;

	for (i = n - 1; i >= 0; i--) {
		p[i] = (unsigned char)(v & 0xff);
		v >>= 8;
	}
}

/* The chain's hash, computed here from the specification. */
static void
expect_hash(const unsigned char prev[32], const struct vaudit *r, unsigned char out[32])
{
	const char *f[7] = { r->event, r->seal_id, r->address, r->client_ip, r->user_agent, r->outcome, r->detail };
	unsigned char buf[4096];
	size_t n = 0;
	unsigned int olen = 0;
	int i;

	memcpy(buf, prev, 32);
	n = 32;
	put_be(buf + n, (uint64_t)r->seq, 8);
	put_be(buf + n + 8, (uint64_t)r->time, 8);
	n += 16;
	for (i = 0; i < 7; i++) {
		size_t l = strlen(f[i]);

		ck_assert_uint_lt(n + 4 + l, sizeof(buf));
		put_be(buf + n, l, 4);
		memcpy(buf + n + 4, f[i], l);
		n += 4 + l;
	}
	ck_assert_ptr_nonnull(HMAC(EVP_sha256(), key, sizeof(key), buf, n, out, &olen));
	ck_assert_uint_eq(olen, 32);
}

static void
mk_audit(struct vaudit *r, int64_t t, const char *event, const char *seal_id, const char *detail)
{
	memset(r, 0, sizeof(*r));
	r->time = t;
	r->event = event;
	r->seal_id = seal_id;
	r->address = "bob@partner.test";
	r->client_ip = "192.0.2.7";
	r->user_agent = "Mozilla/5.0";
	r->outcome = "ok";
	r->detail = detail;
}

/* Append n records, alternating between seal ids S1 and S2. */
static void
add_records(struct vstore *st, int n)
{
	unsigned char prev[32], want[32];
	struct vaudit r;
	char *err = NULL;
	int i;

	memset(prev, 0, sizeof(prev));
	for (i = 1; i <= n; i++) {
		mk_audit(&r, T0 + i, i == 1 ? "register" : "view", i % 2 ? "S1" : "S2", i == 3 ? "three" : "");
		ck_assert_msg(vstore_audit_add(st, &r, &err) == 0, "audit add: %s", err);
		ck_assert_int_eq(r.seq, i);
		expect_hash(prev, &r, want);
		ck_assert_mem_eq(r.hash, want, 32);
		memcpy(prev, r.hash, 32);
	}
}

struct collected {
	int n;
	int64_t seq[64];
	char seal[64][8];
	int stop_after;
};

static int
collect(const struct vaudit *r, void *arg)
{
	struct collected *c = arg;

	if (c->n < 64) {
		c->seq[c->n] = r->seq;
		snprintf(c->seal[c->n], sizeof(c->seal[c->n]), "%s", r->seal_id);
	}
	c->n++;
	return c->stop_after != 0 && c->n >= c->stop_after;
}

START_TEST(test_audit)
{
	struct vstore *st = open_store();
	unsigned char head[32], want[32];
	struct collected c;
	int64_t count = -1, bad = -1;
	struct vaudit r;
	char *err = NULL;
	int i;

	ck_assert_int_eq(vstore_audit_verify(st, &count, &bad, head, &err), 1);    /* empty: intact */
	ck_assert_int_eq(count, 0);
	add_records(st, 6);
	memset(&c, 0, sizeof(c));
	ck_assert_int_eq(vstore_audit_list(st, "S1", collect, &c, &err), 0);
	ck_assert_int_eq(c.n, 3);
	for (i = 0; i < 3; i++) {
		ck_assert_int_eq(c.seq[i], 2 * i + 1);
		ck_assert_str_eq(c.seal[i], "S1");
	}
	memset(&c, 0, sizeof(c));
	ck_assert_int_eq(vstore_audit_list(st, NULL, collect, &c, &err), 0);
	ck_assert_int_eq(c.n, 6);
	for (i = 0; i < 6; i++)
		ck_assert_int_eq(c.seq[i], i + 1);
	memset(&c, 0, sizeof(c));
	c.stop_after = 2;
	ck_assert_int_eq(vstore_audit_list(st, NULL, collect, &c, &err), 0);
	ck_assert_int_eq(c.n, 2);
	memset(&c, 0, sizeof(c));
	ck_assert_int_eq(vstore_audit_list(st, "S9", collect, &c, &err), 0);
	ck_assert_int_eq(c.n, 0);
	ck_assert_int_eq(vstore_audit_verify(st, &count, &bad, head, &err), 1);
	ck_assert_ptr_null(err);
	ck_assert_int_eq(count, 6);
	ck_assert_int_eq(bad, 0);
	/* The head is the last record's hash. */
	mk_audit(&r, T0 + 7, "view", "S1", "");
	ck_assert_int_eq(vstore_audit_add(st, &r, &err), 0);
	ck_assert_int_eq(r.seq, 7);
	expect_hash(head, &r, want);
	ck_assert_mem_eq(r.hash, want, 32);
	ck_assert_int_eq(vstore_audit_verify(st, NULL, NULL, head, NULL), 1);
	ck_assert_mem_eq(head, r.hash, 32);
	/* A user agent cut in the middle of a character is stored with '?'
	 * and still verifies. */
	mk_audit(&r, T0 + 8, "view", "S1", "");
	r.user_agent = "Agent \xc3";
	ck_assert_int_eq(vstore_audit_add(st, &r, &err), 0);
	ck_assert_int_eq(vstore_audit_verify(st, &count, &bad, head, &err), 1);
	ck_assert_int_eq(count, 8);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM audit WHERE user_agent = 'Agent ?'"), 1);
	vstore_close(st);
}
END_TEST

static const struct {
	const char *name;
	const char *sql;
	int64_t bad_seq;
	int64_t count;                 /* records that still verify before it */
	const char *why;
} tamper_cases[] = {
	{ "changed field", "UPDATE audit SET detail = 'thre' WHERE seq = 3", 3, 2, "changed" },
	{ "changed outcome", "UPDATE audit SET outcome = 'refused' WHERE seq = 4", 4, 3, "changed" },
	{ "changed time", "UPDATE audit SET logged = logged + 1 WHERE seq = 2", 2, 1, "changed" },
	{ "changed last", "UPDATE audit SET address = 'eve@evil.test' WHERE seq = 6", 6, 5, "changed" },
	{ "deleted middle", "DELETE FROM audit WHERE seq = 3", 4, 2, "missing" },
	{ "deleted first", "DELETE FROM audit WHERE seq = 1", 2, 0, "missing" },
	{ "swapped", "UPDATE audit SET seq = -1 WHERE seq = 3; UPDATE audit SET seq = 3 WHERE seq = 5; "
	    "UPDATE audit SET seq = 5 WHERE seq = -1", 3, 2, "does not follow" },
	{ "swapped neighbours", "UPDATE audit SET seq = -1 WHERE seq = 4; UPDATE audit SET seq = 4 WHERE seq = 5; "
	    "UPDATE audit SET seq = 5 WHERE seq = -1", 4, 3, "does not follow" },
	{ "renumbered after delete", "DELETE FROM audit WHERE seq = 3; UPDATE audit SET seq = 3 WHERE seq = 4", 3, 2,
	    "does not follow" },
	{ "prev hash replaced", "UPDATE audit SET prev_hash = (SELECT hash FROM audit WHERE seq = 1) WHERE seq = 3", 3,
	    2, "does not follow" },
};

START_TEST(test_audit_tamper)
{
	struct vstore *st = open_store();
	unsigned char head[32];
	int64_t count = -1, bad = -1;
	char *err = NULL;

	add_records(st, 6);
	ck_assert_int_eq(vstore_audit_verify(st, &count, &bad, head, &err), 1);
	raw_exec(tamper_cases[_i].sql);
	ck_assert_msg(vstore_audit_verify(st, &count, &bad, head, &err) == 0, "%s: not detected", tamper_cases[_i].name);
	ck_assert_msg(bad == tamper_cases[_i].bad_seq, "%s: bad_seq %lld, want %lld (%s)", tamper_cases[_i].name,
	    (long long)bad, (long long)tamper_cases[_i].bad_seq, err);
	ck_assert_int_eq(count, tamper_cases[_i].count);
	assert_names_store(err);
	ck_assert_msg(strstr(err, tamper_cases[_i].why) != NULL, "%s: %s", tamper_cases[_i].name, err);
	free(err);
	/* A caller that does not want the details. */
	ck_assert_int_eq(vstore_audit_verify(st, NULL, NULL, NULL, NULL), 0);
	vstore_close(st);
}
END_TEST

/* ---- concurrency ---------------------------------------------------------------- */

#define NTHREADS 8
#define PER_THREAD 25

struct worker {
	struct vstore *st;
	int id;
	int failures;
	int allowed;
	int wrong, locked, other;
	int left_seen[8];
	const char *lookup;
	const unsigned char *bad;
};

static void *
audit_rate_worker(void *arg)
{
	struct worker *w = arg;
	char detail[32];
	int i;

	for (i = 0; i < PER_THREAD; i++) {
		struct vaudit r;
		char *err = NULL;
		int h;

		snprintf(detail, sizeof(detail), "t%d-%d", w->id, i);
		mk_audit(&r, T0 + i, "view", w->id % 2 ? "S1" : "S2", detail);
		if (vstore_audit_add(w->st, &r, &err) != 0) {
			fprintf(stderr, "audit: %s\n", err);
			w->failures++;
		}
		free(err);
		err = NULL;
		h = vstore_rate_hit(w->st, "ip:203.0.113.9", T0, 3600, 100, &err);
		if (h < 0) {
			fprintf(stderr, "rate: %s\n", err);
			w->failures++;
		} else {
			w->allowed += h;
		}
		free(err);
	}
	return NULL;
}

START_TEST(test_concurrent_audit_rate)
{
	struct vstore *st = open_store();
	struct worker w[NTHREADS];
	pthread_t t[NTHREADS];
	int64_t count = -1, bad = -1;
	char *err = NULL;
	int i, allowed = 0;

	memset(w, 0, sizeof(w));
	for (i = 0; i < NTHREADS; i++) {
		w[i].st = st;
		w[i].id = i;
		ck_assert_int_eq(pthread_create(&t[i], NULL, audit_rate_worker, &w[i]), 0);
	}
	for (i = 0; i < NTHREADS; i++) {
		pthread_join(t[i], NULL);
		ck_assert_int_eq(w[i].failures, 0);
		allowed += w[i].allowed;
	}
	ck_assert_int_eq(allowed, 100);
	ck_assert_int_eq(raw_int("SELECT hits FROM rate_limits"), NTHREADS * PER_THREAD);
	ck_assert_int_eq(vstore_audit_verify(st, &count, &bad, NULL, &err), 1);
	ck_assert_msg(err == NULL, "%s", err);
	ck_assert_int_eq(count, NTHREADS * PER_THREAD);
	ck_assert_int_eq(raw_int("SELECT count(DISTINCT detail) FROM audit"), NTHREADS * PER_THREAD);
	vstore_close(st);
}
END_TEST

#define TRIES_EACH 10
#define MAX_TRIES 5

static void *
passcode_worker(void *arg)
{
	struct worker *w = arg;
	int i;

	for (i = 0; i < TRIES_EACH; i++) {
		char *err = NULL;
		int left = -1;

		switch (vstore_try_passcode(w->st, w->lookup, "bob@partner.test", w->bad, T0 + 1, MAX_TRIES, &left, &err)) {
		case VPASS_WRONG:
			w->wrong++;
			if (left >= 0 && left < 8)
				w->left_seen[left]++;
			break;
		case VPASS_LOCKED:
			w->locked++;
			break;
		default:
			fprintf(stderr, "passcode: %s\n", err != NULL ? err : "unexpected result");
			w->other++;
		}
		free(err);
	}
	return NULL;
}

/* Two handles (as two nodes would have), two threads on each, all trying
 * wrong passcodes at once: exactly MAX_TRIES count, each tries_left once. */
START_TEST(test_two_handles_passcode)
{
	struct vstore *a = open_store(), *b = open_store();
	char lk[VSTORE_LOOKUP_LEN + 1];
	unsigned char pass[32], bad[32];
	struct worker w[4];
	pthread_t t[4];
	char *err = NULL;
	int i, j, wrong = 0, locked = 0, left;

	put(a, "one", "S1", "<m1@example.com>", T0, 0, lk);
	sha256("483920", pass);
	sha256("000000", bad);
	ck_assert_int_eq(vstore_add_passcode(b, lk, "bob@partner.test", "", pass, T0, T0 + 600, &err), 0);
	memset(w, 0, sizeof(w));
	for (i = 0; i < 4; i++) {
		w[i].st = i % 2 ? b : a;
		w[i].lookup = lk;
		w[i].bad = bad;
		ck_assert_int_eq(pthread_create(&t[i], NULL, passcode_worker, &w[i]), 0);
	}
	for (i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	for (i = 0; i < 4; i++) {
		ck_assert_int_eq(w[i].other, 0);
		wrong += w[i].wrong;
		locked += w[i].locked;
	}
	ck_assert_int_eq(wrong, MAX_TRIES);
	ck_assert_int_eq(locked, 4 * TRIES_EACH - MAX_TRIES);
	for (j = 0; j < MAX_TRIES; j++) {
		int seen = 0;

		for (i = 0; i < 4; i++)
			seen += w[i].left_seen[j];
		ck_assert_msg(seen == 1, "tries_left %d seen %d times", j, seen);
	}
	ck_assert_int_eq(raw_int("SELECT tries FROM passcodes"), MAX_TRIES);
	ck_assert_int_eq(vstore_try_passcode(a, lk, "bob@partner.test", pass, T0 + 2, MAX_TRIES, &left, &err),
	    VPASS_LOCKED);
	vstore_close(b);
	vstore_close(a);
}
END_TEST

/* The same with two real processes, each with its own store, also
 * appending to the audit chain at the same time. */
START_TEST(test_two_processes)
{
	struct vstore *st = open_store();
	char lk[VSTORE_LOOKUP_LEN + 1];
	unsigned char pass[32], bad[32];
	struct worker w;
	int64_t count = -1;
	char *err = NULL;
	int status = 0, i;
	pid_t pid;

	put(st, "one", "S1", "<m1@example.com>", T0, 0, lk);
	sha256("483920", pass);
	sha256("000000", bad);
	ck_assert_int_eq(vstore_add_passcode(st, lk, "bob@partner.test", "", pass, T0, T0 + 600, &err), 0);
	vstore_close(st);
	fflush(NULL);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	/* Both processes: a store of their own, tries and appends. */
	st = NULL;
	if (vstore_open(spec, key, &st, &err) != 0) {
		if (pid == 0)
			_exit(100);
		ck_abort_msg("open: %s", err);
	}
	memset(&w, 0, sizeof(w));
	w.st = st;
	w.lookup = lk;
	w.bad = bad;
	for (i = 0; i < 20; i++) {
		struct vaudit r;

		mk_audit(&r, T0 + i, "view", "S1", pid == 0 ? "child" : "parent");
		if (vstore_audit_add(st, &r, NULL) != 0)
			w.other++;
		if (i < TRIES_EACH)
			passcode_worker(&w);
	}
	vstore_close(st);
	if (pid == 0)
		_exit(w.other != 0 ? 101 : w.wrong);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) <= MAX_TRIES, "child: status %d", status);
	ck_assert_int_eq(w.other, 0);
	ck_assert_int_eq(w.wrong + WEXITSTATUS(status), MAX_TRIES);
	ck_assert_int_eq(raw_int("SELECT tries FROM passcodes"), MAX_TRIES);
	st = open_store();
	ck_assert_int_eq(vstore_audit_verify(st, &count, NULL, NULL, &err), 1);
	ck_assert_int_eq(count, 40);
	vstore_close(st);
}
END_TEST

/* PostgreSQL: the server drops the pool's idle connections (a restart,
 * an administrator): the next calls connect again and succeed. */
START_TEST(test_pg_reconnect)
{
	struct vstore *st;
	struct vmessage g;
	char lk[VSTORE_LOOKUP_LEN + 1];
	char *err = NULL;

	if (!is_pg())
		return;
	st = open_store();
	put(st, "one", "S1", "<m1@example.com>", T0, 0, lk);
	ck_assert_int_eq(vstore_ping(st), 1);
	ck_assert_int_ge(raw_int("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
	    "WHERE application_name = 'sealview' AND pid <> pg_backend_pid()"), 1);
	ck_assert_int_eq(vstore_get_message(st, lk, 1, &g, &err), 1);
	ck_assert_msg(err == NULL, "%s", err);
	vmessage_free(&g);
	ck_assert_int_eq(vstore_ping(st), 1);
	ck_assert_int_eq(vstore_nonce_use(st, "n", T0, T0 + 10, &err), 1);
	vstore_close(st);
}
END_TEST

/* ---- bad specs -------------------------------------------------------------------- */

static int
closed_port(void)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	ck_assert_int_ge(fd, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	close(fd);          /* bound, never listened: closed */
	return ntohs(sa.sin_port);
}

START_TEST(test_bad_specs)
{
	struct vstore *st = (struct vstore *)&st;
	char *err = NULL, *uri = NULL, *want = NULL;
	int port = closed_port();

	ck_assert_int_eq(vstore_open("mysql://root:Secr3tPw@db.example/x", key, &st, &err), -1);
	ck_assert_ptr_null(st);
	ck_assert_ptr_nonnull(err);
	ck_assert_msg(starts_with(err, "mysql://root@db.example/x: unknown kind of store"), "%s", err);
	ck_assert_msg(strstr(err, "Secr3tPw") == NULL, "%s", err);
	free(err);
	ck_assert_int_eq(vstore_open("/var/lib/x.db", key, &st, &err), -1);
	ck_assert_msg(starts_with(err, "/var/lib/x.db: unknown kind"), "%s", err);
	free(err);
	ck_assert_int_eq(vstore_open("host=db user=x password=Secr3tPw", key, &st, &err), -1);
	ck_assert_msg(starts_with(err, "host: unknown kind"), "%s", err);
	free(err);
	ck_assert_int_eq(vstore_open("", key, &st, &err), -1);
	ck_assert_msg(starts_with(err, "store: unknown kind"), "%s", err);
	free(err);

	ck_assert_int_eq(vstore_open("sqlite:/nonexistent-dir/sub/x.db", key, &st, &err), -1);
	ck_assert_ptr_null(st);
	ck_assert_msg(starts_with(err, "sqlite:/nonexistent-dir/sub/x.db: unable to open database file"), "%s", err);
	free(err);
	ck_assert_int_eq(vstore_open("sqlite:", key, &st, &err), -1);
	ck_assert_ptr_nonnull(err);
	free(err);
	ck_assert_int_eq(vstore_open("sqlite::memory:", key, &st, NULL), -1);
	ck_assert_int_eq(vstore_open("sqlite:/tmp", key, &st, &err), -1);      /* a directory */
	ck_assert_ptr_nonnull(err);
	free(err);
	/* A file that is not a database. */
	{
		char junk[] = "/tmp/sealstore-junk-XXXXXX";
		int fd = mkstemp(junk);

		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(write(fd, "this is not a database, just text long enough to have a header........."
		    "...........................................................", 130), 130);
		close(fd);
		ck_assert_int_ge(asprintf(&uri, "sqlite:%s", junk), 0);
		ck_assert_int_eq(vstore_open(uri, key, &st, &err), -1);
		ck_assert_ptr_null(st);
		ck_assert_msg(starts_with(err, uri) && strstr(err, "not a database") != NULL, "%s", err);
		free(err);
		free(uri);
		uri = NULL;
		unlink(junk);
	}

	ck_assert_int_ge(asprintf(&uri, "postgresql://sealtest:Hunter2pw@127.0.0.1:%d/sealdb?sslmode=disable&"
	    "password=Other9pw", port), 0);
	ck_assert_int_ge(asprintf(&want, "postgresql://sealtest@127.0.0.1:%d/sealdb: cannot connect: ", port), 0);
	ck_assert_int_eq(vstore_open(uri, key, &st, &err), -1);
	ck_assert_ptr_null(st);
	ck_assert_msg(starts_with(err, want), "%s", err);
	ck_assert_msg(strstr(err, "refused") != NULL, "%s", err);
	ck_assert_msg(strstr(err, "Hunter2pw") == NULL && strstr(err, "Other9pw") == NULL, "%s", err);
	ck_assert_msg(strchr(err, '\n') == NULL, "%s", err);
	free(err);
	free(uri);
	free(want);
	/* A URI libpq itself refuses: its message must not repeat the password. */
	ck_assert_int_eq(vstore_open("postgres://u:pa%zzword@127.0.0.1:1/db", key, &st, &err), -1);
	ck_assert_msg(starts_with(err, "postgres://u@127.0.0.1:1/db: "), "%s", err);
	ck_assert_msg(strstr(err, "pa%zzword") == NULL, "%s", err);
	free(err);
	ck_assert_int_eq(vstore_open(spec, NULL, &st, &err), -1);
	free(err);
}
END_TEST

static Suite *
store_suite(void)
{
	Suite *s = suite_create("store");
	TCase *tc = tcase_create("store");

	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_open_twice);
	tcase_add_test(tc, test_newer_schema);
	tcase_add_test(tc, test_put_message);
	tcase_add_test(tc, test_get_message);
	tcase_add_test(tc, test_find_message);
	tcase_add_test(tc, test_revoke);
	tcase_add_test(tc, test_purge);
	tcase_add_test(tc, test_passcode_once);
	tcase_add_test(tc, test_passcode_wrong);
	tcase_add_test(tc, test_passcode_expiry_newest);
	tcase_add_test(tc, test_sessions);
	tcase_add_test(tc, test_forwards);
	tcase_add_test(tc, test_rate);
	tcase_add_test(tc, test_nonce);
	tcase_add_test(tc, test_audit);
	tcase_add_loop_test(tc, test_audit_tamper, 0, NCASES(tamper_cases));
	tcase_add_test(tc, test_concurrent_audit_rate);
	tcase_add_test(tc, test_two_handles_passcode);
	tcase_add_test(tc, test_two_processes);
	tcase_add_test(tc, test_pg_reconnect);
	tcase_add_test(tc, test_bad_specs);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr;
	int failed;

	env_store = getenv("SEALVIEW_TEST_STORE");
	if (env_store != NULL && env_store[0] == '\0')
		env_store = NULL;
	if (env_store != NULL && !env_is_pg() && strncmp(env_store, "sqlite:", 7) != 0) {
		fprintf(stderr, "SEALVIEW_TEST_STORE: want sqlite:PATH or postgresql://...\n");
		return EXIT_FAILURE;
	}
	snprintf(run_prefix, sizeof(run_prefix), "sv_test_%ld", (long)getpid());
	if (env_store == NULL) {
		run_dir = strdup("/tmp/sealstore-XXXXXX");
		if (run_dir == NULL || mkdtemp(run_dir) == NULL) {
			perror("mkdtemp");
			return EXIT_FAILURE;
		}
	}
	sr = srunner_create(store_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	run_cleanup();
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
