/*
 * sealmilter.c - the daemon: command line, configuration, privileges,
 * signals, and the libmilter main loop.
 *
 *   sealmilter -c FILE [-p SOCKET] [-f] [-n] [-d]
 *
 * Start-up order: load the configuration (refuse to start on any error),
 * detach unless -f, open the socket and the keys as root, write the pid
 * file, then drop to milter.user/milter.group, then serve.
 *
 * Processes: libmilter's own signal thread waits for SIGHUP, SIGTERM and
 * SIGINT and answers SIGHUP by stopping the milter. No arrangement of
 * threads keeps a second SIGHUP away from it, so the daemon is two
 * processes, as in Postfix and OpenSSH: a small supervisor that owns the
 * signals and the pid file, and a worker that runs libmilter on the socket
 * the supervisor opened. SIGHUP to the supervisor becomes SIGUSR1 to the
 * worker (libmilter ignores SIGUSR1), which reloads the configuration
 * atomically: a new reference-counted snapshot, messages in flight finish
 * on the one they started with, and a configuration that fails to load is
 * logged while the old one stays. SIGTERM/SIGINT are passed on: libmilter
 * stops accepting, and the MTA defers what was in progress (nothing is
 * lost). A worker that dies is started again; a supervisor that dies
 * (SIGKILL) takes its worker with it, so the daemon can start again.
 *
 * Calling rules: main() only.
 * Untrusted input: none here (the command line and configuration are the
 * administrator's); mail is handled in callbacks.c.
 */
#include "build-config.h"

#include <curl/curl.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/metrics.h"
#include "common/netaddr.h"
#include "common/privs.h"
#include "engine/stats.h"
#include "mime/hdrdecode.h"
#include "milter/milter.h"
#include "seal/certcheck.h"
#include "rules/cfgerr.h"
#include "rules/config.h"
#include "web/metricsd.h"

static int sigpipe_fds[2] = { -1, -1 };
/* The metrics (engine/stats.h): counted in the worker, served on
 * milter.metrics_listen by a thread of the worker's. */
static struct metrics *registry;
static struct seal_stats *stats;
static int metrics_fd = -1;

static void
usage(FILE *f)
{
	fputs("usage: sealmilter -c FILE [-p unix:/path|inet:PORT@HOST] [-f] [-n] [-d]\n"
	    "  -c FILE  configuration file (YAML)\n"
	    "  -p SOCK  socket to listen on (overrides milter.socket)\n"
	    "  -f       stay in the foreground and log to stderr\n"
	    "  -n       check the configuration and exit (0 when valid)\n"
	    "  -d       log debug messages\n", f);
}

static struct seal_config *
load_config(const char *path, const struct seal_config *prev, int to_stderr)
{
	struct cfg_errors errs;
	struct seal_config *c;
	size_t i;

	memset(&errs, 0, sizeof(errs));
	c = config_reload(path, CONFIG_DAEMON, prev, &errs);
	for (i = 0; i < errs.count; i++) {
		if (to_stderr)
			fprintf(stderr, "%s\n", errs.msgs[i]);
		else
			seal_err("%s", errs.msgs[i]);
	}
	if (errs.dropped) {
		if (to_stderr)
			fprintf(stderr, "(%zu more errors not shown)\n", errs.dropped);
		else
			seal_err("(%zu more errors not shown)", errs.dropped);
	}
	cfg_errors_free(&errs);
	return c;
}

static void
on_signal(int sig)
{
	unsigned char b = (unsigned char)sig;
	int saved = errno;

	if (write(sigpipe_fds[1], &b, 1) < 0) {
		/* Nothing to do: the pipe is full, a signal is pending already. */
	}
	errno = saved;
}

static int
same(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

static void
reload(const char *path)
{
	struct seal_config *old = milter_config_get(), *c;

	seal_info("SIGHUP: reloading %s", path);
	c = load_config(path, old, 0);
	if (c == NULL) {
		seal_err("reload failed: the configuration has errors (above); still running the previous one");
		seal_stats_reload(stats, 0);
		config_unref(old);
		return;
	}
	if (old && (!same(old->socket, c->socket) || !same(old->user, c->user) || !same(old->group, c->group) ||
	    !same(old->pid_file, c->pid_file) || !same(old->metrics_listen, c->metrics_listen) ||
	    old->metrics_allow_remote != c->metrics_allow_remote))
		seal_warn("milter.socket, user, group, pid_file and metrics_listen take effect only after a restart");
	seal_info("reloaded: %zu rules, %zu patterns", c->nrules, c->npatterns);
	seal_stats_reload(stats, 1);
	seal_stats_certificates(stats, c);
	(void)cert_log_warnings(c);
	milter_config_set(c);
	config_unref(old);
}

/* Give the unix socket to the run-time user, so the MTA's group can reach it. */
static void
socket_ownership(const char *sock, const struct seal_config *c)
{
	struct passwd *pw;
	struct group *gr;
	uid_t uid = (uid_t)-1;
	gid_t gid = (gid_t)-1;
	const char *path;

	if (strncmp(sock, "unix:", 5) == 0)
		path = sock + 5;
	else if (strncmp(sock, "local:", 6) == 0)
		path = sock + 6;
	else if (sock[0] == '/')
		path = sock;
	else
		return;
	/* cppcheck-suppress getpwnamCalled ; at start-up, before any thread */
	if (c->user && (pw = getpwnam(c->user)) != NULL) {
		uid = pw->pw_uid;
		gid = pw->pw_gid;
	}
	/* cppcheck-suppress getgrnamCalled ; at start-up, before any thread */
	if (c->group && (gr = getgrnam(c->group)) != NULL)
		gid = gr->gr_gid;
	if ((uid != (uid_t)-1 || gid != (gid_t)-1) && chown(path, uid, gid) != 0)
		seal_warn("cannot chown socket %s: %s", path, strerror(errno));
	if (chmod(path, 0660) != 0)
		seal_warn("cannot chmod socket %s: %s", path, strerror(errno));
}

/* libmilter answers each step with a small write and waits for the next
 * command: with Nagle's algorithm on, every reply meets the MTA's delayed
 * ACK (about 40 ms a message over TCP). libmilter gives no handle on its
 * sockets, but on Linux an accepted socket inherits TCP_NODELAY from the
 * listening one, so set it there: find the listening TCP socket among our
 * descriptors. */
static void
tcp_nodelay_listener(void)
{
	int fd, one = 1, listening, type;
	socklen_t len;
	struct sockaddr_storage ss;

	for (fd = 3; fd < 1024; fd++) {
		len = sizeof(listening);
		if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 || !listening)
			continue;
		len = sizeof(type);
		if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM)
			continue;
		len = sizeof(ss);
		if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0 ||     /* it sets ss when it returns 0: */
		    (ss.ss_family != AF_INET && ss.ss_family != AF_INET6))   /* NOLINT(clang-analyzer-core.UndefinedBinaryOperatorResult) */
			continue;
		if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0)
			seal_warn("cannot set TCP_NODELAY on the milter socket: %s", strerror(errno));
	}
}

static int
write_pid_file(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;

	if (f == NULL) {
		if (fd >= 0)
			close(fd);
		seal_err("milter.pid_file: cannot write %s: %s", path, strerror(errno));
		return -1;
	}
	fprintf(f, "%ld\n", (long)getpid());
	if (fclose(f) != 0) {
		seal_err("milter.pid_file: cannot write %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

static int
daemonize(void)
{
	pid_t pid = fork();
	int fd;

	if (pid < 0)
		return -1;
	if (pid > 0)
		_exit(0);
	if (setsid() < 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid > 0)
		_exit(0);
	if (chdir("/") != 0)
		return -1;
	fd = open("/dev/null", O_RDWR);
	if (fd < 0)
		return -1;
	dup2(fd, 0);
	dup2(fd, 1);
	dup2(fd, 2);
	if (fd > 2)
		close(fd);
	return 0;
}

/* ---- the worker ---------------------------------------------------------- */

static const char *worker_cfgpath;

/* Waits for SIGUSR1 (blocked in every thread, so only sigwait takes it). */
static void *
reload_thread(void *arg)
{
	sigset_t set;
	int sig;

	(void)arg;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	for (;;)
		if (sigwait(&set, &sig) == 0 && sig == SIGUSR1)
			reload(worker_cfgpath);
	return NULL;
}

/* Run libmilter until it stops. Returns the exit status. */
static int
worker(const char *cfgpath)
{
	sigset_t set;
	pthread_t tid;
	struct metricsd *md = NULL;
	int rc;

	worker_cfgpath = cfgpath;
	signal(SIGHUP, SIG_IGN);      /* only the supervisor reloads: libmilter would stop on it */
	signal(SIGPIPE, SIG_IGN);
	/* Blocked in every thread: SIGUSR1 goes to reload_thread's sigwait, SIGTERM
	 * and SIGINT to libmilter's, which stops gracefully. */
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	if (pthread_create(&tid, NULL, reload_thread, NULL) != 0) {
		seal_err("cannot start the reload thread");
		return 1;
	}
	pthread_detach(tid);
	seal_stats_started(stats);
	{
		struct seal_config *c = milter_config_get();
		seal_stats_certificates(stats, c);
		config_unref(c);
	}
	/* The endpoint's thread, in the worker (a thread does not survive fork).
	 * The supervisor keeps its copy of the socket for the next worker. If it
	 * cannot start, mail still flows: the log says so. */
	if (metrics_fd >= 0) {
		int fd = dup(metrics_fd);
		if (fd < 0)
			seal_err("milter.metrics_listen: cannot serve the metrics: %s", strerror(errno));
		else
			md = metricsd_start(fd, registry, "sealmilter");
	}
	rc = smfi_main() == MI_SUCCESS ? 0 : 1;
	metricsd_stop(md);
	return rc;
}

/* ---- the supervisor ------------------------------------------------------ */

static pid_t
start_worker(const char *cfgpath)
{
	pid_t parent = getpid();
	pid_t pid = fork();

	if (pid == 0) {
		struct sigaction sa;
		/* A worker must not outlive its supervisor: killed with SIGKILL, the
		 * supervisor cannot pass anything on, and an orphaned worker would keep
		 * the socket, so the daemon could not start again. It dies at once
		 * (libmilter takes seconds to stop on SIGTERM, and a restart would find
		 * the socket still taken); the MTA defers what was in progress, as for
		 * any crash. The setting holds: privileges were dropped before the fork. */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
			_exit(1);
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = SIG_DFL;
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGCHLD, &sa, NULL);
		close(sigpipe_fds[0]);
		close(sigpipe_fds[1]);
		_exit(worker(cfgpath));
	}
	if (pid < 0)
		seal_err("cannot start a worker: %s", strerror(errno));
	return pid;
}

/* Relay signals to the worker; start it again if it dies. Returns the exit status. */
static int
supervise(const char *cfgpath)
{
	struct sigaction sa;
	pid_t child;
	time_t started;
	int quick_deaths = 0, stopping = 0;

	if (pipe(sigpipe_fds) != 0) {
		seal_err("pipe: %s", strerror(errno));
		return 1;
	}
	fcntl(sigpipe_fds[0], F_SETFD, FD_CLOEXEC);
	fcntl(sigpipe_fds[1], F_SETFD, FD_CLOEXEC);
	fcntl(sigpipe_fds[1], F_SETFL, O_NONBLOCK);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGCHLD, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	child = start_worker(cfgpath);
	started = time(NULL);
	if (child < 0)
		return 1;
	for (;;) {
		unsigned char b;
		int status;
		pid_t done;
		ssize_t n = read(sigpipe_fds[0], &b, 1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return 1;
		if (b == SIGHUP) {
			kill(child, SIGUSR1);
			continue;
		}
		if (b == SIGTERM || b == SIGINT) {
			if (!stopping)
				seal_info("signal %d: stopping (the MTA defers messages in progress)", b);
			stopping = 1;
			kill(child, SIGTERM);
			continue;
		}
		/* SIGCHLD */
		while ((done = waitpid(-1, &status, WNOHANG)) > 0) {
			if (done != child)
				continue;
			if (stopping)
				return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
			if (WIFSIGNALED(status))
				seal_err("worker %ld died of signal %d; starting another", (long)child, WTERMSIG(status));
			else
				seal_err("worker %ld exited with status %d; starting another", (long)child, WEXITSTATUS(status));
			quick_deaths = time(NULL) - started < 10 ? quick_deaths + 1 : 0;
			if (quick_deaths >= 5) {
				seal_err("the worker died 5 times within seconds of starting; giving up");
				return 1;
			}
			sleep((unsigned)quick_deaths);
			child = start_worker(cfgpath);
			started = time(NULL);
			if (child < 0)
				return 1;
		}
	}
}

int
main(int argc, char **argv)
{
	const char *cfgpath = NULL, *sock = NULL;
	char *pid_file = NULL, *sock_copy = NULL, *cfgpath_abs = NULL;
	int ch, foreground = 0, check = 0, debug = 0, rc;
	struct seal_config *cfg;

	while ((ch = getopt(argc, argv, "c:p:fndh")) != -1) {
		switch (ch) {
		case 'c': cfgpath = optarg; break;
		case 'p': sock = optarg; break;
		case 'f': foreground = 1; break;
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
	/* Reloads happen after chdir("/"): remember where the file is. */
	cfgpath_abs = realpath(cfgpath, NULL);
	if (cfgpath_abs)
		cfgpath = cfgpath_abs;
	mime_init();
	/* Before any thread starts: libcurl's global set-up (registration with
	 * sealview, the copies of split messages) is not thread-safe everywhere. */
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "sealmilter: libcurl cannot be initialised\n");
		free(cfgpath_abs);
		return 1;
	}
	cfg = load_config(cfgpath, NULL, 1);
	rc = 1;
	if (cfg == NULL) {
		fprintf(stderr, "sealmilter: %s: configuration refused\n", cfgpath);
		goto out;
	}
	if (check) {
		printf("%s: OK (%zu rules, %zu patterns)\n", cfgpath, cfg->nrules, cfg->npatterns);
		/* Certificate care: days left and chains (sealctl keys check exits with the worst). */
		cert_report(cfg, stdout, cert_warn_days(cfg));
		rc = 0;
		goto out;
	}
	/* A copy: the configuration that holds milter.socket may be replaced by a reload. */
	sock_copy = strdup(sock ? sock : cfg->socket ? cfg->socket : "");
	sock = sock_copy && *sock_copy ? sock_copy : NULL;
	if (sock == NULL) {
		fprintf(stderr, "sealmilter: no socket: give -p or milter.socket\n");
		goto out;
	}
	if (debug)
		seal_log_set_level(SEAL_LOG_DEBUG);
	if (!foreground) {
		if (daemonize() != 0) {
			fprintf(stderr, "sealmilter: cannot detach: %s\n", strerror(errno));
			goto out;
		}
		seal_log_use_syslog("sealmilter");
	}
	if (cfg->marker_key_ephemeral)
		seal_warn("milter.marker_key_file is not set: using a random key; markers will not survive a restart");

	if (smfi_setconn((char *)sock) == MI_FAILURE || smfi_register(sealmilter_desc) == MI_FAILURE ||
	    smfi_opensocket(1) == MI_FAILURE) {
		seal_err("cannot listen on %s (in use, or a bad address?)", sock);
		goto out;
	}
	socket_ownership(sock, cfg);
	tcp_nodelay_listener();
	registry = metrics_new();
	stats = registry ? seal_stats_new(registry, PACKAGE_VERSION) : NULL;
	if (stats == NULL) {
		seal_err("cannot set up the metrics: out of memory");
		goto out;
	}
	milter_stats_set(stats);
	if (cfg->metrics_listen) {
		/* Opened here, as root, like the milter socket (loader checked the address). */
		struct sockaddr_storage ss;
		socklen_t sslen = 0;
		if (hostport_parse(cfg->metrics_listen, &ss, &sslen) != 0 || (metrics_fd = listen_tcp(&ss, sslen, 16)) < 0) {
			seal_err("milter.metrics_listen: cannot listen on %s: %s", cfg->metrics_listen, strerror(errno));
			goto out;
		}
		seal_info("metrics on http://%s/metrics", cfg->metrics_listen);
	}
	if (cfg->pid_file && write_pid_file(cfg->pid_file) != 0)
		goto out;
	if (privs_drop(cfg->user, cfg->group, "milter.user", "milter.group") != 0)
		goto out;
	pid_file = cfg->pid_file ? strdup(cfg->pid_file) : NULL;
	seal_info("listening on %s (%zu rules)", sock, cfg->nrules);
	(void)cert_log_warnings(cfg);
	milter_config_set(cfg);     /* the milter owns this reference now */
	cfg = NULL;
	rc = supervise(cfgpath);
	milter_config_set(NULL);
	if (pid_file)
		(void)unlink(pid_file);
	seal_info("stopped");
out:
	if (metrics_fd >= 0)
		close(metrics_fd);
	milter_stats_set(NULL);
	seal_stats_free(stats);
	metrics_free(registry);
	config_unref(cfg);
	free(pid_file);
	free(sock_copy);
	free(cfgpath_abs);
	return rc;
}
