/*
 * sealview.c - the web viewer's daemon: libmicrohttpd in front of the
 * application in viewer/app.c.
 *
 *   sealview -c FILE [-n] [-d]
 *
 * It reads the same YAML file as sealmilter, through the same loader, but
 * with CONFIG_VIEWER: no private key is ever read. -n checks the file and
 * the store, and exits. Otherwise it serves in the foreground (systemd
 * style; logs go to stderr) until SIGTERM or SIGINT, then stops accepting,
 * finishes the requests in flight, sends the queued mail and exits.
 *
 * Calling rules: one process; a thread pool of sealview.threads serves
 * requests; a purge thread deletes expired messages every
 * sealview.purge_interval.
 * Untrusted input: every request. Bodies are collected into a buffer capped
 * per route (app_max_body: sealview.max_object for a registration,
 * sealview.max_form for the rest; 413 over it, logged); a connection idle for 30 s is
 * closed; at most sealview.max_connections at once. X-Forwarded-For is
 * believed only from sealview.trusted_proxies, and only its last address.
 */
#include "build-config.h"

#include <curl/curl.h>
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/privs.h"
#include "common/netaddr.h"
#include "common/util.h"
#include "mime/hdrdecode.h"
#include "rules/cfgerr.h"
#include "rules/config.h"
#include "seal/certcheck.h"
#include "viewer/app.h"
#include "viewer/store.h"
#include "web/metricsd.h"

#if MHD_VERSION < 0x00097100
typedef int MHD_Result_compat;
#else
typedef enum MHD_Result MHD_Result_compat;
#endif

struct server {
	struct seal_config *cfg;
	struct app *app;
	int hsts;
	pthread_mutex_t conn_lock;   /* connections open, for the sealview.max_connections log lines */
	unsigned long nconns;
	int at_limit;
};

struct upload {
	struct sbuf body;
	int too_big;
	int preauth;          /* an API request whose signature passed before its body */
	size_t max;           /* the body's limit, and the setting that gives it */
	const char *max_key;
};

static void
usage(FILE *f)
{
	fprintf(f, "usage: sealview -c FILE [-n] [-d]\n"
	    "  -c FILE  the configuration (the same file as sealmilter's; sealview reads viewer:, sealview:,\n"
	    "           keys: (certificates only), templates: and branding:)\n"
	    "  -n       check the configuration and the store, then exit\n"
	    "  -d       debug logging\n");
}

/* The client's address: the connection's, or the last X-Forwarded-For
 * address when the connection comes from a trusted proxy. */
static void
client_ip(struct server *s, struct MHD_Connection *c, char out[INET6_ADDRSTRLEN])
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;
	const char *xff, *last;
	size_t i;

	out[0] = '\0';
	if (sa && sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out, INET6_ADDRSTRLEN);
	else if (sa && sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, out, INET6_ADDRSTRLEN);
	xff = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Forwarded-For");
	if (xff == NULL || out[0] == '\0')
		return;
	for (i = 0; i < s->cfg->sv_trusted_proxies.n; i++)
		if (cidr_contains(&s->cfg->sv_trusted_proxies.v[i], out))
			break;
	if (i == s->cfg->sv_trusted_proxies.n)
		return;
	last = strrchr(xff, ',');
	last = last ? last + 1 : xff;
	while (*last == ' ')
		last++;
	{
		char tmp[INET6_ADDRSTRLEN];
		unsigned char bin[sizeof(struct in6_addr)];
		size_t n = strcspn(last, " ");
		if (n == 0 || n >= sizeof(tmp))
			return;
		memcpy(tmp, last, n);
		tmp[n] = '\0';
		if (inet_pton(AF_INET, tmp, bin) == 1 || inet_pton(AF_INET6, tmp, bin) == 1)
			memcpy(out, tmp, n + 1);
	}
}

static MHD_Result_compat
send_response(struct server *s, struct MHD_Connection *c, struct app_response *r)
{
	struct MHD_Response *resp;
	MHD_Result_compat ret;
	int has_csp = 0, has_cache = 0;
	size_t i;

	resp = MHD_create_response_from_buffer(r->body_len, r->body, MHD_RESPMEM_MUST_FREE);
	if (resp == NULL)
		return MHD_NO;
	r->body = NULL;      /* the response owns it now */
	MHD_add_response_header(resp, "Content-Type", r->content_type ? r->content_type : "text/plain");
	for (i = 0; i < r->nheaders; i++) {
		if (strcasecmp(r->headers[i].name, "Content-Security-Policy") == 0) {
			has_csp = 1;
			MHD_add_response_header(resp, "X-Frame-Options",
			    strstr(r->headers[i].value, "frame-ancestors 'self'") ? "SAMEORIGIN" : "DENY");
		}
		if (strcasecmp(r->headers[i].name, "Cache-Control") == 0)
			has_cache = 1;
		MHD_add_response_header(resp, r->headers[i].name, r->headers[i].value);
	}
	/* Every response: these, whatever the route. */
	if (!has_csp) {
		MHD_add_response_header(resp, "Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'");
		MHD_add_response_header(resp, "X-Frame-Options", "DENY");
	}
	if (!has_cache)
		MHD_add_response_header(resp, "Cache-Control", "no-store");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(resp, "Cross-Origin-Opener-Policy", "same-origin");
	MHD_add_response_header(resp, "Cross-Origin-Resource-Policy", "same-origin");
	if (s->hsts)
		MHD_add_response_header(resp, "Strict-Transport-Security", "max-age=31536000");
	ret = MHD_queue_response(c, (unsigned)r->status, resp);
	MHD_destroy_response(resp);
	app_count_response(s->app, r->status);
	return ret;
}

static MHD_Result_compat
plain(struct server *s, struct MHD_Connection *c, int status, const char *msg)
{
	struct app_response r;

	memset(&r, 0, sizeof(r));
	r.status = status;
	r.content_type = strdup("text/plain; charset=utf-8");
	r.body = strdup(msg);
	r.body_len = r.body ? strlen(r.body) : 0;
	{
		MHD_Result_compat ret = r.body ? send_response(s, c, &r) : MHD_NO;
		app_response_free(&r);
		return ret;
	}
}

/* Refuse a body over its limit: 413, and a log line naming the limit and
 * its value. n: the size the client announced, or 0 for a chunked body
 * found over the limit as it came. */
static MHD_Result_compat
too_large(struct server *s, struct MHD_Connection *c, const char *method, const struct upload *u, uint64_t n)
{
	char ip[INET6_ADDRSTRLEN], *msg = NULL;
	MHD_Result_compat ret;

	client_ip(s, c, ip);
	if (n)
		seal_warn("%.16s from %s refused with 413: a body of %llu bytes, over %s (%zu)", method, ip,
		    (unsigned long long)n, u->max_key, u->max);
	else
		seal_warn("%.16s from %s refused with 413: a chunked body over %s (%zu)", method, ip, u->max_key, u->max);
	if (asprintf(&msg, "the request is too large (more than %zu bytes)\n", u->max) < 0)
		msg = NULL;
	ret = plain(s, c, 413, msg ? msg : "the request is too large\n");
	free(msg);
	return ret;
}

static MHD_Result_compat
handler(void *cls, struct MHD_Connection *c, const char *url, const char *method, const char *version,
    const char *upload_data, size_t *upload_size, void **con_cls)
{
	struct server *s = cls;
	struct upload *u = *con_cls;
	struct app_request req;
	struct app_response r;
	char ip[INET6_ADDRSTRLEN];
	MHD_Result_compat ret;
	size_t max;

	(void)version;
	if (u == NULL) {
		const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
		uint64_t n = 0;
		u = calloc(1, sizeof(*u));
		if (u == NULL)
			return MHD_NO;
		max = app_max_body(s->app, method, url, &u->max_key);
		u->max = max;
		sbuf_init(&u->body, max);
		*con_cls = u;
		/* Refuse before reading a byte of the body: too large, or an API
		 * request with no fresh signature (an anonymous client must not
		 * make sealview buffer a registration's worth of memory). */
		if (cl && parse_uint(cl, &n) != 0)
			return plain(s, c, 413, "the request is too large\n");    /* not a number we can hold */
		if (cl && n > max)
			return too_large(s, c, method, u, n);
		if (strncmp(url, "/api/", 5) == 0) {
			struct app_request h;
			const char *why = NULL;
			int status = 401;
			memset(&h, 0, sizeof(h));
			client_ip(s, c, ip);
			h.method = method;
			h.path = url;
			h.client_ip = ip;
			h.x_date = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Seal-Date");
			h.x_nonce = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Seal-Nonce");
			h.x_signature = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Seal-Signature");
			h.x_content_sha256 = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Seal-Content-SHA256");
			if (!app_api_preauth(s->app, &h, &status, &why))
				return plain(s, c, status, why);
			u->preauth = 1;
		}
		return MHD_YES;
	}
	if (*upload_size > 0) {
		if (!u->too_big && sbuf_add(&u->body, upload_data, *upload_size) != 0)
			u->too_big = 1;
		*upload_size = 0;
		return MHD_YES;
	}
	if (u->too_big)
		return too_large(s, c, method, u, 0);
	client_ip(s, c, ip);
	memset(&req, 0, sizeof(req));
	req.method = method;
	req.path = url;
	req.client_ip = ip;
	req.user_agent = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "User-Agent");
	req.cookie = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Cookie");
	req.content_type = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
	req.x_date = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Seal-Date");
	req.x_nonce = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Seal-Nonce");
	req.x_signature = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Seal-Signature");
	req.x_content_sha256 = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Seal-Content-SHA256");
	req.api_preauthorized = u->preauth;
	req.body = u->body.data ? u->body.data : "";
	req.body_len = u->body.len;
	app_handle(s->app, &req, &r);
	ret = send_response(s, c, &r);
	app_response_free(&r);
	return ret;
}

static void
completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
	struct upload *u = *con_cls;

	(void)cls;
	(void)c;
	(void)toe;
	if (u) {
		/* Bodies carry passcodes and replies: wipe them. */
		if (u->body.data)
			OPENSSL_cleanse(u->body.data, u->body.len);
		sbuf_free(&u->body);
		free(u);
	}
	*con_cls = NULL;
}

/* Count connections. libmicrohttpd stops accepting at
 * sealview.max_connections: new ones wait in the listen queue until one
 * closes. Say so once when the limit is reached, and once when it is not
 * any more. */
static void
conn_notify(void *cls, struct MHD_Connection *c, void **socket_context, enum MHD_ConnectionNotificationCode toe)
{
	struct server *s = cls;
	unsigned long max = (unsigned long)s->cfg->sv_max_connections;

	(void)c;
	(void)socket_context;
	pthread_mutex_lock(&s->conn_lock);
	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		if (++s->nconns >= max && !s->at_limit) {
			s->at_limit = 1;
			seal_warn("http: %lu connections open, the most sealview.max_connections (%lu) allows: new ones "
			    "wait in the listen queue until one closes", s->nconns, max);
		}
	} else if (s->nconns > 0 && --s->nconns < max && s->at_limit) {
		s->at_limit = 0;
		seal_info("http: below sealview.max_connections (%lu) again", max);
	}
	pthread_mutex_unlock(&s->conn_lock);
}
static void mhd_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
	const struct server *s = cls;
	char buf[512];

	vsnprintf(buf, sizeof(buf), fmt, ap);
	buf[strcspn(buf, "\n")] = '\0';
	/* libmicrohttpd's refusal past MHD_OPTION_CONNECTION_LIMIT: name our setting. */
	if (strstr(buf, "connection limit") != NULL)
		seal_warn("http: %s (sealview.max_connections: %llu)", buf, (unsigned long long)s->cfg->sv_max_connections);
	else
		seal_warn("http: %s", buf);
}

static char *
slurp(const char *path, size_t max)
{
	struct sbuf b;
	char buf[8192];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return NULL;
	sbuf_init(&b, max);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		if (sbuf_add(&b, buf, (size_t)n) != 0) {
			n = -1;
			break;
		}
	close(fd);
	if (n < 0) {
		sbuf_free(&b);
		return NULL;
	}
	return b.data ? sbuf_steal(&b) : strdup("");
}

/* The purge thread: every purge_interval, until told to stop. */
static pthread_mutex_t purge_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t purge_cv = PTHREAD_COND_INITIALIZER;
static int purge_stop;

static void *
purger(void *arg)
{
	struct server *s = arg;
	struct timespec ts;

	pthread_mutex_lock(&purge_mu);
	while (!purge_stop) {
		pthread_mutex_unlock(&purge_mu);
		app_purge(s->app);
		pthread_mutex_lock(&purge_mu);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += (time_t)s->cfg->sv_purge_interval;
		while (!purge_stop && pthread_cond_timedwait(&purge_cv, &purge_mu, &ts) != ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&purge_mu);
	return NULL;
}

int
main(int argc, char **argv)
{
	const char *cfgpath = NULL;
	struct cfg_errors errs;
	struct server s;
	struct sockaddr_storage ss;
	socklen_t sslen = 0;
	struct MHD_Daemon *d = NULL;
	struct metrics *registry = NULL;
	struct metricsd *md = NULL;
	char *err = NULL, *cert = NULL, *key = NULL;
	pthread_t pt;
	sigset_t set;
	unsigned flags;
	int ch, check = 0, debug = 0, sig, rc = 1, have_purger = 0, lfd = -1, mfd = -1;
	size_t i;

	while ((ch = getopt(argc, argv, "c:ndh")) != -1) {
		switch (ch) {
		case 'c': cfgpath = optarg; break;
		case 'n': check = 1; break;
		case 'd': debug = 1; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 1;
		}
	}
	if (cfgpath == NULL || optind != argc) {
		usage(stderr);
		return 1;
	}
	seal_log_set_name("sealview");
	if (debug)
		seal_log_set_level(SEAL_LOG_DEBUG);
	mime_init();
	/* Before any thread starts (libcurl's global set-up is not thread-safe everywhere). */
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "sealview: libcurl cannot be initialised\n");
		return 1;
	}
	memset(&s, 0, sizeof(s));
	pthread_mutex_init(&s.conn_lock, NULL);
	memset(&errs, 0, sizeof(errs));
	s.cfg = config_load(cfgpath, CONFIG_VIEWER, &errs);
	if (s.cfg == NULL) {
		for (i = 0; i < errs.count; i++)
			fprintf(stderr, "%s\n", errs.msgs[i]);
		fprintf(stderr, "sealview: %s: configuration refused\n", cfgpath);
		cfg_errors_free(&errs);
		return 1;
	}
	cfg_errors_free(&errs);
	if (hostport_parse(s.cfg->sv_listen, &ss, &sslen) != 0) {
		fprintf(stderr, "sealview: %s: sealview.listen: '%s' is not ADDRESS:PORT ([IPv6]:PORT)\n", cfgpath,
		    s.cfg->sv_listen);
		goto out;
	}
	if ((s.cfg->sv_tls_cert == NULL) != (s.cfg->sv_tls_key == NULL)) {
		fprintf(stderr, "sealview: %s: sealview.tls_cert and sealview.tls_key go together\n", cfgpath);
		goto out;
	}
	if (s.cfg->sv_tls_cert) {
		char *problem = seal_key_file_problem(s.cfg->sv_tls_key);
		if (problem != NULL) {
			fprintf(stderr, "sealview: %s: sealview.tls_key: %s\n", cfgpath, problem);
			free(problem);
			goto out;
		}
		if ((cert = slurp(s.cfg->sv_tls_cert, 1 << 20)) == NULL || (key = slurp(s.cfg->sv_tls_key, 1 << 20)) == NULL) {
			fprintf(stderr, "sealview: %s: cannot read sealview.tls_cert or tls_key: %s\n", cfgpath, strerror(errno));
			goto out;
		}
	}
	/* The socket is bound (a port below 1024 needs root), the TLS key and
	 * the viewer secret are read: root goes now, before the store is
	 * opened (so sealview.user owns the SQLite file) and before any thread.
	 * A check (-n) run by someone else keeps its own user. */
	if (!check && (lfd = listen_tcp(&ss, sslen, 256)) < 0) {
		seal_err("cannot listen on %s: %s", s.cfg->sv_listen, strerror(errno));
		goto out;
	}
	if (!check && s.cfg->sv_metrics_listen) {
		/* The loader checked the address (loopback unless allowed). */
		struct sockaddr_storage ms;
		socklen_t mslen = 0;
		if (hostport_parse(s.cfg->sv_metrics_listen, &ms, &mslen) != 0 || (mfd = listen_tcp(&ms, mslen, 16)) < 0) {
			seal_err("sealview.metrics_listen: cannot listen on %s: %s", s.cfg->sv_metrics_listen, strerror(errno));
			goto out;
		}
	}
	if ((!check || geteuid() == 0) &&
	    privs_drop(s.cfg->sv_user, s.cfg->sv_group, "sealview.user", "sealview.group") != 0)
		goto out;
	if (app_new(s.cfg, &s.app, &err) != 0) {
		fprintf(stderr, "sealview: %s: %s\n", cfgpath, err ? err : "cannot start");
		goto out;
	}
	if (check) {
		char *shown = vstore_display(s.cfg->sv_store);
		printf("%s: OK (store %s, %zu templates)\n", cfgpath, shown ? shown : "(out of memory)", s.cfg->templates.n);
		free(shown);
		rc = 0;
		goto out;
	}
	s.hsts = cert != NULL || (s.cfg->viewer_public_url && strncmp(s.cfg->viewer_public_url, "https://", 8) == 0);
	/* Counted always (it is cheap); served only on sealview.metrics_listen. */
	if ((registry = metrics_new()) == NULL || app_use_metrics(s.app, registry, PACKAGE_VERSION) != 0) {
		seal_err("cannot set up the metrics: out of memory");
		goto out;
	}

	/* Signals are taken by sigwait() below, in this thread only. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC | MHD_USE_ERROR_LOG;
	if (cert)
		flags |= MHD_USE_TLS;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	d = MHD_start_daemon(flags, 0, NULL, NULL, handler, &s,
	    MHD_OPTION_EXTERNAL_LOGGER, mhd_log, &s,       /* first: it takes the messages of the options after it */
	    MHD_OPTION_LISTEN_SOCKET, (MHD_socket)lfd,
	    MHD_OPTION_THREAD_POOL_SIZE, (unsigned)s.cfg->sv_threads,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)s.cfg->sv_max_connections,
	    MHD_OPTION_CONNECTION_TIMEOUT, 30u,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024),
	    MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
	    MHD_OPTION_NOTIFY_CONNECTION, conn_notify, &s,
	    cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, cert,
	    MHD_OPTION_HTTPS_MEM_KEY, key,
	    MHD_OPTION_END);
	lfd = -1;      /* the daemon's now: it closes it itself when it cannot start */
	if (d == NULL) {
		seal_err("cannot serve on %s", s.cfg->sv_listen);
		goto out;
	}
	if (pthread_create(&pt, NULL, purger, &s) == 0)
		have_purger = 1;
	if (mfd >= 0) {
		md = metricsd_start(mfd, registry, "sealview");
		mfd = -1;      /* the endpoint's now */
		if (md == NULL)
			goto out;
		seal_info("metrics on http://%s/metrics", s.cfg->sv_metrics_listen);
	}
	{
		char *shown = vstore_display(s.cfg->sv_store);   /* never the store's password */
		seal_info("listening on %s%s (store %s, %llu threads)", s.cfg->sv_listen, cert ? " (TLS)" : "",
		    shown ? shown : "(out of memory)", (unsigned long long)s.cfg->sv_threads);
		free(shown);
	}
	(void)cert_log_warnings(s.cfg);     /* certificates near their end (milter.expiry_warning) */
	for (;;) {
		if (sigwait(&set, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			seal_info("SIGHUP: a configuration change needs a restart (connections finish first)");
			continue;
		}
		break;
	}
	seal_info("stopping: finishing the requests in flight");
	{
		/* No new connections; the open ones get up to 10 s to finish. */
		MHD_socket qfd = MHD_quiesce_daemon(d);
		int waited;
		/* New clients are refused at once rather than left to hang. */
		if (qfd != MHD_INVALID_SOCKET)
			close(qfd);
		for (waited = 0; waited < 100; waited++) {
			const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
			if (di == NULL || di->num_connections == 0)
				break;
			nanosleep(&(struct timespec){ 0, 100 * 1000 * 1000L }, NULL);
		}
	}
	MHD_stop_daemon(d);
	d = NULL;
	app_drain(s.app);
	rc = 0;
out:
	metricsd_stop(md);
	if (mfd >= 0)
		close(mfd);
	if (have_purger) {
		pthread_mutex_lock(&purge_mu);
		purge_stop = 1;
		pthread_cond_signal(&purge_cv);
		pthread_mutex_unlock(&purge_mu);
		pthread_join(pt, NULL);
	}
	if (d)
		MHD_stop_daemon(d);
	if (lfd >= 0)
		close(lfd);
	app_free(s.app);
	metrics_free(registry);
	config_unref(s.cfg);
	free(err);
	free(cert);
	if (key) {
		memset(key, 0, strlen(key));
		free(key);
	}
	if (rc == 0 && !check)
		seal_info("stopped");
	return rc;
}
