/*
 * miltload.c - a milter protocol load driver, for benchmarks (docs/benchmarks.md).
 * It speaks to a milter as an MTA does (protocol version 6: option
 * negotiation, connect, MAIL, RCPT, headers, body in 64K chunks, end of
 * message) over N connections at once, M messages each, and reports
 * messages per second, the p50 and p99 latency (MAIL to the end-of-message
 * reply), the end-of-message replies by type and, given the milter's pid,
 * its CPU per message and peak resident set (from /proc). It never uses
 * libmilter, so the same driver measures any milter (sealmilter, OpenDKIM)
 * the same way.
 *
 *   miltload -s inet:PORT@127.0.0.1 -m MSG.eml [-c CONNECTIONS] [-n MESSAGES] [-p MILTER_PID]
 *            [-e NAME~TEXT]
 *
 * -e: every end of message must bring a header added, inserted or changed
 * with that name whose value contains TEXT (for DKIM verification:
 * -e 'Authentication-Results~dkim=pass'), so a milter that is fast but
 * wrong does not win; a message without it counts as wrong and the exit
 * status is 3.
 *
 * Calling rules: a command-line tool. Input faced: the milter's replies
 * (lengths are checked before reading) and the message file.
 */
#include "build-config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_REPLY (1u << 20)

static int
write_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n > 0) {
		ssize_t w = write(fd, c, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

static int
read_all(int fd, void *p, size_t n)
{
	char *c = p;

	while (n > 0) {
		ssize_t r = read(fd, c, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		c += r;
		n -= (size_t)r;
	}
	return 0;
}

static int
send_cmd(int fd, char cmd, const void *data, size_t len)
{
	uint32_t n = htonl((uint32_t)(len + 1));

	return write_all(fd, &n, 4) || write_all(fd, &cmd, 1) || (len && write_all(fd, data, len)) ? -1 : 0;
}

/* Read one reply; returns its command letter, or 0 on error. */
static char
read_reply(int fd, char *buf, size_t *len)
{
	uint32_t n;
	char cmd;

	if (read_all(fd, &n, 4) != 0)
		return 0;
	n = ntohl(n);
	if (n == 0 || n > MAX_REPLY || read_all(fd, &cmd, 1) != 0 || (n > 1 && read_all(fd, buf, n - 1) != 0))
		return 0;
	*len = n - 1;
	return cmd;
}

static const char *expect_name, *expect_text;   /* -e NAME~TEXT */
static size_t expect_nlen;

/* 1 when a header modification (h: add, i: insert, m: change) matches -e. */
static int
matches_expect(char c, const char *buf, size_t len)
{
	size_t off = c == 'h' ? 0 : 4, nl, vl;
	const char *name = buf + off, *value;

	if (expect_name == NULL || (c != 'h' && c != 'i' && c != 'm') || len <= off)
		return 0;
	nl = strnlen(name, len - off);
	if (nl != expect_nlen || strncasecmp(name, expect_name, nl) != 0 || off + nl + 1 >= len)
		return 0;
	value = name + nl + 1;
	vl = strnlen(value, len - off - nl - 1);
	return memmem(value, vl, expect_text, strlen(expect_text)) != NULL;
}

/* A reply that ends a step: continue, accept, reject, tempfail, discard.
 * *seen (when given) is set when a modification matched -e. */
static int
final_reply_seen(int fd, char *buf, int *seen)
{
	size_t len;
	char c;

	for (;;) {
		c = read_reply(fd, buf, &len);
		if (c == 0)
			return -1;
		if (strchr("cartdy", c))
			return c;
		/* a modification (h, m, b, i, e, +, -, ...) or progress: keep reading */
		if (seen && matches_expect(c, buf, len))
			*seen = 1;
	}
}

static int
final_reply(int fd, char *buf)
{
	return final_reply_seen(fd, buf, NULL);
}

static int
connect_milter(const char *spec)
{
	struct sockaddr_in sa;
	int fd, one = 1;
	unsigned port;
	char host[64];

	if (sscanf(spec, "inet:%u@%63s", &port, host) != 2)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1 || (fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

struct msg {
	char *data;
	size_t len, body;      /* body: offset of the body */
};

/* One connection: negotiate, connect, then n messages. 0 on success. */
/* Shared with the forked connections: each message's latency (from MAIL
 * to the end-of-message reply), and the end-of-message replies by type. */
struct shared {
	long replies[4];             /* accept, continue, reject (or discard), tempfail */
	double lat_ms[];             /* one per message, by connection */
};
static struct shared *sh;

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The milter's peak resident set (VmHWM), in KiB; -1 when unknown. */
static long
peak_rss_kb(long pid)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/status", pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

static int
run_connection(const char *spec, const struct msg *m, int n, long *rejected, long *wrong, double *lat)
{
	char *buf = malloc(MAX_REPLY);
	int fd = connect_milter(spec), i, rc = -1;
	uint32_t neg[3] = { htonl(6), htonl(0x1ff), htonl(0x1fffff) }, proto;
	size_t len;
	char c;

	if (fd < 0 || buf == NULL)
		goto out;
	if (send_cmd(fd, 'O', neg, sizeof(neg)) != 0 || read_reply(fd, buf, &len) != 'O' || len < 12)
		goto out;
	memcpy(&proto, buf + 8, 4);
	proto = ntohl(proto);
	{
		static const char conn[] = "client.example.test\0" "4" "\x00\x19" "127.0.0.1";
		if (send_cmd(fd, 'C', conn, sizeof(conn)) != 0 || final_reply(fd, buf) < 0)
			goto out;
	}
	for (i = 0; i < n; i++) {
		size_t p = 0, off;
		static const char from[] = "<alice@example.com>", to[] = "<bob@partner.test>";
		double t_start = now_ms();
		if (send_cmd(fd, 'M', from, sizeof(from)) != 0 || (!(proto & 0x4000) && final_reply(fd, buf) < 0) ||
		    send_cmd(fd, 'R', to, sizeof(to)) != 0 || final_reply(fd, buf) < 0)   /* 0x4000: SMFIP_NR_MAIL */
			goto out;
		/* Headers: "Name: value" lines (folding kept), value with its leading space. */
		while (p < m->body) {
			size_t e = p, colon;
			char *h;
			while (e < m->body && !(m->data[e] == '\n' && (e + 1 >= m->body || (m->data[e + 1] != ' ' &&
			    m->data[e + 1] != '\t'))))
				e++;
			colon = p;
			while (colon < e && m->data[colon] != ':')
				colon++;
			if (colon < e) {
				size_t hl = e - p + 1;
				h = malloc(hl + 1);
				memcpy(h, m->data + p, colon - p);
				h[colon - p] = '\0';
				memcpy(h + (colon - p) + 1, m->data + colon + 1, e - colon - 1);
				h[e - p] = '\0';
				if (e > p && h[e - p - 1] == '\r')
					h[e - p - 1] = '\0';
				if (send_cmd(fd, 'L', h, hl) != 0 || (!(proto & 0x80) && final_reply(fd, buf) < 0)) {
					free(h);
					goto out;
				}
				free(h);
			}
			p = e + 1;
		}
		if (send_cmd(fd, 'N', NULL, 0) != 0 || (!(proto & 0x40000) && final_reply(fd, buf) < 0))   /* SMFIP_NR_EOH */
			goto out;
		if (!(proto & 0x10)) {       /* SMFIP_NOBODY not asked */
			for (off = m->body; off < m->len; off += 65535) {
				size_t chunk = m->len - off < 65535 ? m->len - off : 65535;
				if (send_cmd(fd, 'B', m->data + off, chunk) != 0)
					goto out;
				if (proto & 0x80000)       /* SMFIP_NR_BODY: no reply to wait for */
					continue;
				if ((c = (char)final_reply(fd, buf)) != 'c' && c != 's')
					goto out;
			}
		}
		{
			int seen = 0;
			if (send_cmd(fd, 'E', NULL, 0) != 0 || (c = (char)final_reply_seen(fd, buf, &seen)) == 0)
				goto out;
			if (expect_name && !seen)
				(*wrong)++;
		}
		lat[i] = now_ms() - t_start;
		__atomic_add_fetch(&sh->replies[c == 'a' ? 0 : c == 'c' ? 1 : c == 't' ? 3 : 2], 1, __ATOMIC_RELAXED);
		if (c == 'r' || c == 't' || c == 'y')
			(*rejected)++;
	}
	send_cmd(fd, 'Q', NULL, 0);
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	return rc;
}

/* The milter's CPU time so far (user + system), in seconds. */
static double
cpu_of(long pid)
{
	char path[64], line[1024], *p;
	unsigned long ut, st;
	FILE *f;
	double total = 0;

	/* utime and stime of the whole process (every thread): fields 14 and 15. */
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	if ((f = fopen(path, "r")) == NULL || fgets(line, sizeof(line), f) == NULL) {
		if (f)
			fclose(f);
		return -1;
	}
	fclose(f);
	p = strrchr(line, ')');
	if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) == 2)
		total = (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
	return total;
}

static int
load_message(const char *path, struct msg *m)
{
	FILE *f = fopen(path, "rb");
	long n;
	size_t i;

	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
		return -1;
	m->data = malloc((size_t)n + 1);
	if (m->data == NULL || fread(m->data, 1, (size_t)n, f) != (size_t)n) {
		fclose(f);
		return -1;
	}
	fclose(f);
	m->len = (size_t)n;
	m->body = m->len;
	for (i = 0; i + 1 < m->len; i++)
		if (m->data[i] == '\n' && (m->data[i + 1] == '\n' || (m->data[i + 1] == '\r' && i + 2 < m->len &&
		    m->data[i + 2] == '\n'))) {
			m->body = i + (m->data[i + 1] == '\n' ? 2 : 3);
			break;
		}
	return 0;
}

int
main(int argc, char **argv)
{
	const char *spec = NULL, *file = NULL;
	int conns = 1, msgs = 100, ch, i, status, failed = 0;
	long pid = 0, rejected = 0, wrong = 0;
	char *tilde;
	struct timeval t0, t1;
	double cpu0 = 0, cpu1 = 0, secs;
	struct msg m;

	while ((ch = getopt(argc, argv, "s:m:c:n:p:e:")) != -1) {
		switch (ch) {
		case 's': spec = optarg; break;
		case 'm': file = optarg; break;
		case 'c': conns = (int)strtol(optarg, NULL, 10); break;
		case 'n': msgs = (int)strtol(optarg, NULL, 10); break;
		case 'p': pid = strtol(optarg, NULL, 10); break;
		case 'e':
			if ((tilde = strchr(optarg, '~')) == NULL)
				goto usage;
			*tilde = '\0';
			expect_name = optarg;
			expect_nlen = strlen(optarg);
			expect_text = tilde + 1;
			break;
		default: goto usage;
		}
	}
	if (spec == NULL || file == NULL || conns < 1 || msgs < 1)
		goto usage;
	if (load_message(file, &m) != 0) {
		fprintf(stderr, "miltload: cannot read %s\n", file);
		return 1;
	}
	sh = mmap(NULL, sizeof(*sh) + (size_t)msgs * sizeof(double), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1,
	    0);
	if (sh == MAP_FAILED) {
		fprintf(stderr, "miltload: mmap: %s\n", strerror(errno));
		return 1;
	}
	if (pid)
		cpu0 = cpu_of(pid);
	gettimeofday(&t0, NULL);
	for (i = 0; i < conns; i++) {
		if (fork() == 0) {
			long rej = 0, bad = 0;
			int rc = run_connection(spec, &m, msgs / conns, &rej, &bad, sh->lat_ms + (size_t)i * (size_t)(msgs / conns));
			_exit(rc != 0 ? 1 : bad > 0 ? 3 : rej > 0 ? 2 : 0);
		}
	}
	for (i = 0; i < conns; i++) {
		wait(&status);
		if (!WIFEXITED(status) || WEXITSTATUS(status) == 1)
			failed++;
		else if (WEXITSTATUS(status) == 2)
			rejected++;
		else if (WEXITSTATUS(status) == 3)
			wrong++;
	}
	gettimeofday(&t1, NULL);
	if (pid)
		cpu1 = cpu_of(pid);
	secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_usec - t0.tv_usec) / 1e6;
	msgs = msgs / conns * conns;
	printf("messages %d size %zu connections %d seconds %.3f msgs_per_s %.1f MB_per_s %.1f", msgs, m.len, conns,
	    secs, msgs / secs, (double)msgs * (double)m.len / secs / 1e6);
	if (pid)
		printf(" milter_cpu_s %.3f cpu_ms_per_msg %.3f", cpu1 - cpu0, (cpu1 - cpu0) * 1000.0 / msgs);
	printf(" failed_connections %d connections_with_rejects %ld", failed, rejected);
	if (expect_name)
		printf(" connections_missing_%s %ld", expect_name, wrong);
	qsort(sh->lat_ms, (size_t)msgs, sizeof(double), cmp_double);
	printf(" p50_ms %.2f p99_ms %.2f replies accept=%ld continue=%ld reject=%ld tempfail=%ld",
	    sh->lat_ms[(size_t)msgs / 2], sh->lat_ms[(size_t)msgs * 99 / 100 < (size_t)msgs ? (size_t)msgs * 99 / 100
	    : (size_t)msgs - 1], sh->replies[0], sh->replies[1], sh->replies[2], sh->replies[3]);
	if (pid)
		printf(" milter_peak_rss_kb %ld", peak_rss_kb(pid));
	printf("\n");
	free(m.data);
	return failed ? 1 : wrong ? 3 : 0;
usage:
	fprintf(stderr, "usage: miltload -s inet:PORT@127.0.0.1 -m MSG.eml [-c CONNECTIONS] [-n MESSAGES] [-p PID] "
	    "[-e NAME~TEXT]\n");
	return 1;
}
