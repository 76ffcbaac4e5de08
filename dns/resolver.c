/*
 * resolver.c - TXT look-ups with a deadline, through libunbound.
 *
 * Needs libunbound >= 1.13 (configure checks): abandon() relies on
 * ub_cancel() returning UB_NOID once an answer has been taken for
 * delivery, and 0 only when the callback will never run.
 *
 * Why libunbound: it forwards to nameservers given as address@port (what
 * dns.nameservers takes), falls back to /etc/resolv.conf, caches answers,
 * positive and negative, within their TTL, validates DNSSEC when given a
 * trust anchor (and says so: dns_txt.security), and is thread-safe. It is
 * also what OpenDKIM uses, so both resolve the same way in the benchmarks.
 * libresolv has no cache and no per-query port; c-ares has no DNSSEC.
 *
 * Shape: one libunbound context per resolver, resolving in its own
 * threads (ub_ctx_async). A dispatcher thread of ours waits on the
 * context's file descriptor and runs the callbacks, which hand each answer
 * to the query that waits for it. A caller starts a query early
 * (dns_txt_start, at end of headers) and waits for it late
 * (dns_txt_wait, at end of message), so the look-up overlaps the body. A
 * wait ends at the query's deadline (dns.timeout from its start) whatever
 * unbound is still doing; the query is then cancelled.
 *
 * Calling rules: the context and the dispatcher are made at the first
 * query, not by dns_resolver_new(), so a resolver built before a fork is
 * used safely by the child; when that fails (no file descriptors, a file
 * unreadable after dropping privileges), queries tempfail with the reason
 * and it is tried again INIT_RETRY seconds later. Queries may be started and waited for from
 * any thread; each query is waited for (or cancelled) exactly once.
 * dns_resolver_free() only when no query is outstanding.
 * Untrusted input: DNS answers. libunbound parses the packet; the TXT
 * RDATA is walked here with bounds checks (dns_txt_rdata), and records
 * that are malformed, hold a NUL byte or are too large are dropped.
 */
#include "build-config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <unbound.h>

#include "common/util.h"
#include "dns/resolver.h"

#define RR_TYPE_TXT 16
#define RR_CLASS_IN 1

struct dns_resolver {
	pthread_mutex_t lock;
	struct ub_ctx *ctx;          /* NULL until the first query */
	pthread_t thread;
	int thread_started;
	int wake[2];                 /* written to stop the dispatcher */
	struct strlist fwd;
	char *trust_anchor;
	unsigned timeout_ms;
	char *init_error;            /* the context could not be made: queries tempfail until a retry */
	struct timespec init_failed; /* when (CLOCK_MONOTONIC); made again after INIT_RETRY s */
};

#define INIT_RETRY 30

struct dns_query {
	struct dns_resolver *r;
	pthread_mutex_t m;
	pthread_cond_t cv;
	int done;
	int refs;                    /* the caller, and the callback while it may still run */
	int async_id;
	struct timespec deadline;    /* CLOCK_MONOTONIC */
	struct dns_txt ans;
};

int
dns_nameserver_valid(const char *s)
{
	const char *at = strchr(s, '@');
	char host[INET6_ADDRSTRLEN + 1];
	unsigned char addr[sizeof(struct in6_addr)];
	size_t hl = at ? (size_t)(at - s) : strlen(s);
	uint64_t port;

	if (hl == 0 || hl >= sizeof(host))
		return 0;
	memcpy(host, s, hl);
	host[hl] = '\0';
	if (inet_pton(AF_INET, host, addr) != 1 && inet_pton(AF_INET6, host, addr) != 1)
		return 0;
	if (at && (parse_uint(at + 1, &port) != 0 || port == 0 || port > 65535))
		return 0;
	return 1;
}

struct dns_resolver *
dns_resolver_new(const struct strlist *nameservers, unsigned timeout_ms, const char *trust_anchor_file, char **err)
{
	struct dns_resolver *r = calloc(1, sizeof(*r));
	size_t i;

	*err = NULL;
	if (r == NULL)
		goto oom;
	pthread_mutex_init(&r->lock, NULL);
	r->wake[0] = r->wake[1] = -1;
	r->timeout_ms = timeout_ms ? timeout_ms : 5000;
	for (i = 0; nameservers && i < nameservers->n; i++) {
		if (!dns_nameserver_valid(nameservers->v[i])) {
			if (asprintf(err, "'%s' is not an address or address@port", nameservers->v[i]) < 0)
				*err = NULL;
			dns_resolver_free(r);
			return NULL;
		}
		if (strlist_add(&r->fwd, nameservers->v[i]) != 0)
			goto oom;
	}
	if (trust_anchor_file && *trust_anchor_file && (r->trust_anchor = strdup(trust_anchor_file)) == NULL)
		goto oom;
	return r;
oom:
	dns_resolver_free(r);
	*err = strdup("out of memory");
	return NULL;
}

static void *
dispatcher(void *arg)
{
	struct dns_resolver *r = arg;
	struct pollfd p[2];

	p[0].fd = ub_fd(r->ctx);
	p[0].events = POLLIN;
	p[1].fd = r->wake[0];
	p[1].events = POLLIN;
	for (;;) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents)
			break;
		if (p[0].revents)
			ub_process(r->ctx);   /* runs the callbacks of answered queries */
	}
	return NULL;
}

/* Make the context and the dispatcher; called under r->lock. */
static void
init_locked(struct dns_resolver *r)
{
	struct ub_ctx *ctx;
	const char *what = NULL;
	int rc = 0;
	size_t i;

	if (r->ctx)
		return;
	if (r->init_error) {
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - r->init_failed.tv_sec < INIT_RETRY)
			return;
		free(r->init_error);
		r->init_error = NULL;
	}
	clock_gettime(CLOCK_MONOTONIC, &r->init_failed);   /* kept only if this fails */
	ctx = ub_ctx_create();
	if (ctx == NULL) {
		r->init_error = strdup("cannot create the resolver (libunbound)");
		return;
	}
	/* Forwarders on loopback (a local cache, a test server) are allowed;
	 * a server that timed out is probed again rather than shunned. */
	if ((rc = ub_ctx_set_option(ctx, "do-not-query-localhost:", "no")) != 0)
		what = "do-not-query-localhost";
	else if ((rc = ub_ctx_set_option(ctx, "infra-keep-probing:", "yes")) != 0)
		what = "infra-keep-probing";
	else if ((rc = ub_ctx_async(ctx, 1)) != 0)
		what = "threads";
	for (i = 0; rc == 0 && i < r->fwd.n; i++)
		if ((rc = ub_ctx_set_fwd(ctx, r->fwd.v[i])) != 0)
			what = r->fwd.v[i];
	if (rc == 0 && r->fwd.n == 0 && (rc = ub_ctx_resolvconf(ctx, NULL)) != 0)
		what = "/etc/resolv.conf";
	if (rc == 0 && r->trust_anchor && (rc = ub_ctx_add_ta_file(ctx, r->trust_anchor)) != 0)
		what = r->trust_anchor;
	if (rc == 0 && pipe(r->wake) != 0) {
		rc = -1;    /* UB_SYSERR */
		what = "pipe";
		r->wake[0] = r->wake[1] = -1;
	}
	if (rc != 0) {
		if (asprintf(&r->init_error, "resolver setup failed (%s): %s", what, ub_strerror(rc)) < 0)
			r->init_error = NULL;
		ub_ctx_delete(ctx);
		return;
	}
	r->ctx = ctx;
	if (pthread_create(&r->thread, NULL, dispatcher, r) != 0) {
		r->init_error = strdup("cannot start the resolver's thread");
		ub_ctx_delete(ctx);
		r->ctx = NULL;
		close(r->wake[0]);
		close(r->wake[1]);
		r->wake[0] = r->wake[1] = -1;
		return;
	}
	r->thread_started = 1;
}

void
dns_resolver_free(struct dns_resolver *r)
{
	if (r == NULL)
		return;
	if (r->thread_started) {
		ssize_t w = write(r->wake[1], "x", 1);
		(void)w;
		pthread_join(r->thread, NULL);
	}
	if (r->ctx)
		ub_ctx_delete(r->ctx);
	if (r->wake[0] >= 0) {
		close(r->wake[0]);
		close(r->wake[1]);
	}
	strlist_free(&r->fwd);
	free(r->trust_anchor);
	free(r->init_error);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

char *
dns_txt_rdata(const unsigned char *rdata, size_t len)
{
	char *out;
	size_t i = 0, o = 0;

	if (len > DNS_MAX_RECORD_SIZE + 255 || (out = malloc(len + 1)) == NULL)
		return NULL;
	while (i < len) {
		size_t sl = rdata[i++];
		if (sl > len - i || memchr(rdata + i, '\0', sl) != NULL) {
			free(out);
			return NULL;
		}
		memcpy(out + o, rdata + i, sl);
		o += sl;
		i += sl;
	}
	if (o > DNS_MAX_RECORD_SIZE) {
		free(out);
		return NULL;
	}
	out[o] = '\0';
	return out;
}

/* why = a followed by b. */
static void
set_why(struct dns_txt *t, enum dns_status st, const char *a, const char *b)
{
	t->status = st;
	free(t->why);
	if (asprintf(&t->why, "%s%s", a, b) < 0)
		t->why = NULL;
}

/* Turn libunbound's answer into a dns_txt. */
static void
fill_answer(struct dns_txt *t, int err, struct ub_result *res)
{
	size_t i;

	if (err != 0 || res == NULL) {
		set_why(t, DNS_TEMPFAIL, "DNS error: ", ub_strerror(err));
		return;
	}
	t->security = res->bogus ? DNS_BOGUS : res->secure ? DNS_SECURE : DNS_INSECURE;
	if (res->bogus) {
		set_why(t, DNS_TEMPFAIL, "DNSSEC validation failed: ", res->why_bogus ? res->why_bogus : "bogus");
		return;
	}
	if (res->rcode == 3) {
		set_why(t, DNS_NOTFOUND, "no such name (NXDOMAIN)", "");
		return;
	}
	if (res->rcode != 0) {
		char code[32];
		snprintf(code, sizeof(code), "%d)", res->rcode);
		set_why(t, DNS_TEMPFAIL, res->rcode == 2 ? "DNS server failure (SERVFAIL, rcode " : "DNS error (rcode ",
		    code);
		return;
	}
	if (!res->havedata) {
		set_why(t, DNS_NOTFOUND, "no TXT record", "");
		return;
	}
	for (i = 0; res->data[i] != NULL; i++) {
		char *rec;
		if (t->nrecords >= DNS_MAX_RECORDS) {
			t->dropped++;
			continue;
		}
		rec = dns_txt_rdata((const unsigned char *)res->data[i], (size_t)res->len[i]);
		if (rec == NULL) {
			t->dropped++;
			continue;
		}
		if (t->records == NULL && (t->records = calloc(DNS_MAX_RECORDS, sizeof(char *))) == NULL) {
			free(rec);
			set_why(t, DNS_TEMPFAIL, "out of memory", "");
			return;
		}
		t->records[t->nrecords++] = rec;
	}
	t->status = DNS_FOUND;
}

static void
query_unref(struct dns_query *q)
{
	int left;

	pthread_mutex_lock(&q->m);
	left = --q->refs;
	pthread_mutex_unlock(&q->m);
	if (left > 0)
		return;
	dns_txt_free(&q->ans);
	pthread_mutex_destroy(&q->m);
	pthread_cond_destroy(&q->cv);
	free(q);
}

static void
answered(void *arg, int err, struct ub_result *res)
{
	struct dns_query *q = arg;

	pthread_mutex_lock(&q->m);
	if (!q->done) {
		fill_answer(&q->ans, err, res);
		q->done = 1;
		pthread_cond_signal(&q->cv);
	}
	pthread_mutex_unlock(&q->m);
	if (res)
		ub_resolve_free(res);
	query_unref(q);
}

struct dns_query *
dns_txt_start(struct dns_resolver *r, const char *name)
{
	struct dns_query *q = calloc(1, sizeof(*q));
	pthread_condattr_t ca;
	int rc;

	if (q == NULL)
		return NULL;     /* dns_txt_wait(NULL) answers tempfail */
	q->r = r;
	q->refs = 1;
	pthread_mutex_init(&q->m, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&q->cv, &ca);
	pthread_condattr_destroy(&ca);
	clock_gettime(CLOCK_MONOTONIC, &q->deadline);
	q->deadline.tv_sec += r->timeout_ms / 1000;
	q->deadline.tv_nsec += (long)(r->timeout_ms % 1000) * 1000000L;
	if (q->deadline.tv_nsec >= 1000000000L) {
		q->deadline.tv_sec++;
		q->deadline.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&r->lock);
	init_locked(r);
	if (r->init_error || !r->thread_started) {
		set_why(&q->ans, DNS_TEMPFAIL, r->init_error ? r->init_error : "resolver unavailable", "");
		q->done = 1;
		pthread_mutex_unlock(&r->lock);
		return q;
	}
	pthread_mutex_unlock(&r->lock);
	q->refs = 2;    /* the callback holds one until it runs */
	rc = ub_resolve_async(r->ctx, name, RR_TYPE_TXT, RR_CLASS_IN, q, answered, &q->async_id);
	if (rc != 0) {
		q->refs = 1;
		set_why(&q->ans, DNS_TEMPFAIL, "DNS error: ", ub_strerror(rc));
		q->done = 1;
	}
	return q;
}

/* Stop waiting: cancel the query in unbound, or let its callback (already
 * under way) drop its own reference. Called with q->m not held. */
static void
abandon(struct dns_query *q)
{
	int was_done;

	pthread_mutex_lock(&q->m);
	was_done = q->done;
	q->done = 1;     /* a late callback fills nothing */
	pthread_mutex_unlock(&q->m);
	if (!was_done && ub_cancel(q->r->ctx, q->async_id) == 0)
		query_unref(q);   /* the callback will never run: drop its reference */
	/* The analyzer cannot see that a query not done holds two references (ours
	 * and the callback's), so it takes the first unref for the last. */
	query_unref(q);   /* NOLINT(clang-analyzer-unix.Malloc) */
}

void
dns_txt_wait(struct dns_query *q, struct dns_txt *out)
{
	memset(out, 0, sizeof(*out));
	if (q == NULL) {
		out->status = DNS_TEMPFAIL;
		out->why = strdup("out of memory");
		return;
	}
	pthread_mutex_lock(&q->m);
	while (!q->done)
		if (pthread_cond_timedwait(&q->cv, &q->m, &q->deadline) == ETIMEDOUT)
			break;
	if (q->done) {
		*out = q->ans;     /* the answer moves to the caller */
		memset(&q->ans, 0, sizeof(q->ans));
		pthread_mutex_unlock(&q->m);
		query_unref(q);
		return;
	}
	pthread_mutex_unlock(&q->m);
	out->status = DNS_TEMPFAIL;
	if (asprintf(&out->why, "DNS timeout after %u ms", q->r->timeout_ms) < 0)
		out->why = NULL;
	abandon(q);
}

void
dns_query_cancel(struct dns_query *q)
{
	if (q != NULL)
		abandon(q);
}

void
dns_txt_free(struct dns_txt *t)
{
	size_t i;

	for (i = 0; i < t->nrecords; i++)
		free(t->records[i]);
	free(t->records);
	free(t->why);
	memset(t, 0, sizeof(*t));
}
