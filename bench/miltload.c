/*
 * miltload.c - a milter protocol load driver, for benchmarks (docs/benchmarks.md).
 * It speaks to a milter as Postfix does (protocol version 6): option
 * negotiation, the macros Postfix sends (or the ones the milter asks for),
 * connect, HELO, MAIL, RCPT, DATA, headers, end of headers, the body in
 * chunks of at most 64 KiB, end of message, reading every reply and
 * honouring the steps and replies the milter negotiates away. It runs N
 * connections at once, each sending its share of the messages, and reports
 * messages per second, the p50 and p99 latency (MAIL to the end-of-message
 * reply), the replies by type and, given the milter's pid, its CPU per
 * message and peak resident set during the run (from /proc). It never uses
 * libmilter, so it measures any milter (sealmilter, OpenDKIM) the same way.
 *
 *   miltload -s inet:PORT@HOST|unix:PATH (-m MSG.eml | -d DIR) [-c CONNECTIONS]
 *            [-n MESSAGES] [-t SECONDS] [-p MILTER_PID] [-f FROM] [-r RCPT]
 *            [-e NAME~TEXT]... [-x TEXT]
 *
 * -d: every *.eml file of DIR, taken in turn. -t: stop each connection after
 * SECONDS (the message under way is finished), -n being the cap.
 * -e: every message must end with a header added, inserted or changed with
 * that name whose value contains TEXT; the name "body" instead asks for a
 * replacement body chunk containing TEXT. -x: no replacement body chunk may
 * contain TEXT (a plaintext marker). A message that fails either counts as
 * wrong and the exit status is 3, so a milter that is fast but wrong does
 * not win. Exit 1: a connection failed.
 *
 * Calling rules: a command-line tool for benchmarks and the bench smoke test.
 * Input faced: the milter's replies (every length is checked before it is
 * read; at most 1 MiB a reply) and the message files.
 */
#include "build-config.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_REPLY (1u << 20)
#define MAX_EXPECT 8
#define CHUNK 65535

/* Protocol steps (SMFIP_*) as libmilter's mfapi.h numbers them. */
enum {
	P_NOCONNECT = 0x1, P_NOHELO = 0x2, P_NOMAIL = 0x4, P_NORCPT = 0x8, P_NOBODY = 0x10, P_NOHDRS = 0x20,
	P_NOEOH = 0x40, P_NR_HDR = 0x80, P_NODATA = 0x200, P_SKIP = 0x400, P_NR_CONN = 0x1000,
	P_NR_HELO = 0x2000, P_NR_MAIL = 0x4000, P_NR_RCPT = 0x8000, P_NR_DATA = 0x10000, P_NR_EOH = 0x40000,
	P_NR_BODY = 0x80000, P_HDR_LEADSPC = 0x100000
};
/* Macro stages (SMFIM_*) and the command each one precedes. */
enum { M_CONNECT, M_HELO, M_MAIL, M_RCPT, M_DATA, M_EOM, M_EOH, M_STAGES };
static const char stage_cmd[M_STAGES] = { 'C', 'H', 'M', 'R', 'T', 'E', 'N' };
/* Postfix's default milter_*_macros. */
static const char *const default_macros[M_STAGES] = {
	"j {daemon_name} {daemon_addr} v _", "{tls_version} {cipher} {cipher_bits} {cert_subject} {cert_issuer}",
	"i {auth_type} {auth_authen} {auth_author} {mail_addr} {mail_host} {mail_mailer}",
	"i {rcpt_addr} {rcpt_host} {rcpt_mailer}", "i", "i", "i"
};

static struct {
	const char *name, *text;
	size_t nlen;
	int body;
} expect[MAX_EXPECT];
static int n_expect;
static const char *forbid;           /* -x TEXT */
static const char *env_from = "alice@example.com", *env_rcpt = "bob@partner.test";

struct msg {
	char *data;
	size_t len, body;      /* body: offset of the body */
};

/* Shared with the forked connections. */
struct shared {
	long replies[5];             /* accept (or continue at the end), reject, tempfail, discard, early */
	long wrong;                  /* messages that missed an -e or hit -x */
	long *done;                  /* per connection: messages finished */
	double *bytes;               /* per connection: message bytes sent */
	double *lat_ms;              /* per connection, a slice of `per` entries */
	int per;
};
static struct shared *sh;

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

/* Per message: which -e were seen, and whether -x was. */
struct check {
	int seen[MAX_EXPECT];
	int forbidden;
};

static void
check_modification(char c, const char *buf, size_t len, struct check *ck)
{
	size_t off = c == 'h' ? 0 : 4, nl, vl;
	const char *name = buf + off, *value;
	int i;

	if (c == 'b') {
		for (i = 0; i < n_expect; i++)
			if (expect[i].body && memmem(buf, len, expect[i].text, strlen(expect[i].text)))
				ck->seen[i] = 1;
		if (forbid && memmem(buf, len, forbid, strlen(forbid)))
			ck->forbidden = 1;
		return;
	}
	if ((c != 'h' && c != 'i' && c != 'm') || len <= off)
		return;
	nl = strnlen(name, len - off);
	if (off + nl + 1 >= len)
		return;
	value = name + nl + 1;
	vl = strnlen(value, len - off - nl - 1);
	for (i = 0; i < n_expect; i++)
		if (!expect[i].body && nl == expect[i].nlen && strncasecmp(name, expect[i].name, nl) == 0 &&
		    memmem(value, vl, expect[i].text, strlen(expect[i].text)))
			ck->seen[i] = 1;
}

/* Read replies until one that ends a step (continue, accept, reject,
 * tempfail, discard, skip, or a custom reply); modifications and progress
 * in between are checked (ck) or skipped. Returns the letter, 0 on error. */
static char
step_reply(int fd, char *buf, struct check *ck)
{
	size_t len;
	char c;

	for (;;) {
		if ((c = read_reply(fd, buf, &len)) == 0)
			return 0;
		if (strchr("cartdsy", c))
			return c;
		if (ck)
			check_modification(c, buf, len, ck);
	}
}

/* Send one step and, unless the milter said it needs no reply, read it.
 * Returns the reply ('c' when none is due), or 0 on error. */
static char
step(int fd, char cmd, const void *data, size_t len, int no_reply, char *buf)
{
	if (send_cmd(fd, cmd, data, len) != 0)
		return 0;
	return no_reply ? 'c' : step_reply(fd, buf, NULL);
}

/* The value Postfix would give a macro, or NULL. */
static const char *
macro_value(const char *name, const char *qid)
{
	static const struct { const char *name, *value; } v[] = {
		{ "j", "mta.example.test" }, { "{daemon_name}", "smtpd" }, { "{daemon_addr}", "127.0.0.1" },
		{ "v", "Postfix 3.7.11" }, { "_", "client.example.test [127.0.0.1]" }, { "{mail_mailer}", "smtp" },
		{ "{rcpt_mailer}", "smtp" }, { "{mail_host}", "client.example.test" },
		{ "{rcpt_host}", "partner.test" }
	};
	size_t i;

	if (strcmp(name, "i") == 0 || strcmp(name, "{i}") == 0)
		return qid;
	if (strcmp(name, "{mail_addr}") == 0)
		return env_from;
	if (strcmp(name, "{rcpt_addr}") == 0)
		return env_rcpt;
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		if (strcmp(name, v[i].name) == 0)
			return v[i].value;
	return NULL;
}

/* Send the macros of a stage (SMFIC_MACRO; it has no reply). */
static int
send_macros(int fd, char *const lists[M_STAGES], int stage, const char *qid)
{
	char out[1024], names[512], *tok, *save = NULL;
	size_t n = 1;
	const char *v;

	out[0] = stage_cmd[stage];
	snprintf(names, sizeof(names), "%s", lists[stage]);
	for (tok = strtok_r(names, " ,", &save); tok; tok = strtok_r(NULL, " ,", &save)) {
		size_t nl = strlen(tok) + 1, vl;
		if ((v = macro_value(tok, qid)) == NULL)
			continue;
		vl = strlen(v) + 1;
		if (n + nl + vl > sizeof(out))
			break;
		memcpy(out + n, tok, nl);
		memcpy(out + n + nl, v, vl);
		n += nl + vl;
	}
	return n > 1 ? send_cmd(fd, 'D', out, n) : 0;
}

static int
connect_milter(const char *spec)
{
	int fd, one = 1;

	if (strncmp(spec, "unix:", 5) == 0 || strncmp(spec, "local:", 6) == 0) {
		struct sockaddr_un su;
		const char *path = strchr(spec, ':') + 1;
		memset(&su, 0, sizeof(su));
		su.sun_family = AF_UNIX;
		if (strlen(path) >= sizeof(su.sun_path) || (fd = socket(AF_UNIX, SOCK_STREAM, 0)) < 0)
			return -1;
		memcpy(su.sun_path, path, strlen(path) + 1);
		if (connect(fd, (struct sockaddr *)&su, sizeof(su)) != 0) {
			close(fd);
			return -1;
		}
		return fd;
	} else {
		struct sockaddr_in sa;
		unsigned long port;
		char *end;

		/* Not sscanf("%u"): it takes 4294967321 for 25, without a word. */
		if (strncmp(spec, "inet:", 5) != 0 || spec[5] < '0' || spec[5] > '9')
			return -1;
		errno = 0;
		port = strtoul(spec + 5, &end, 10);
		if (errno != 0 || port > 65535 || *end != '@')
			return -1;
		memset(&sa, 0, sizeof(sa));
		sa.sin_family = AF_INET;
		sa.sin_port = htons((uint16_t)port);
		if (inet_pton(AF_INET, end + 1, &sa.sin_addr) != 1 || (fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
			return -1;
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
			close(fd);
			return -1;
		}
		/* The driver's own writes go at once, so any delayed-ACK stall
		 * measured is the milter's (its replies), not the driver's. */
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		return fd;
	}
}

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

/* Parse the milter's option reply: its steps, and the macro lists it asks for. */
static int
negotiate(int fd, char *buf, uint32_t *proto, char *lists[M_STAGES])
{
	uint32_t neg[3] = { htonl(6), htonl(0x1ff), htonl(0x1fffff) }, v;
	size_t len, off = 12;
	int i;

	for (i = 0; i < M_STAGES; i++)
		lists[i] = (char *)default_macros[i];
	if (send_cmd(fd, 'O', neg, sizeof(neg)) != 0 || read_reply(fd, buf, &len) != 'O' || len < 12)
		return -1;
	memcpy(&v, buf + 8, 4);
	*proto = ntohl(v);
	while (off + 4 < len) {
		uint32_t stage;
		size_t sl;
		memcpy(&stage, buf + off, 4);
		stage = ntohl(stage);
		off += 4;
		sl = strnlen(buf + off, len - off);
		if (off + sl >= len)
			break;
		if (stage < M_STAGES)
			lists[stage] = strdup(buf + off);
		off += sl + 1;
	}
	return 0;
}

/*
 * One message on an open connection. Returns the final reply letter
 * ('c' or 'a' accepted, 'r', 't', 'd', 'y'), or 0 when the connection broke.
 * A step answered with anything but continue ends the message there, and the
 * MTA then aborts it (SMFIC_ABORT) before the next one.
 */
static char
one_message(int fd, char *buf, uint32_t proto, char *const lists[M_STAGES], const struct msg *m, const char *qid,
    struct check *ck)
{
	char from[320], to[320], c;
	size_t p = 0, off;

	snprintf(from, sizeof(from), "<%s>", env_from);
	snprintf(to, sizeof(to), "<%s>", env_rcpt);
	if (send_macros(fd, lists, M_MAIL, qid) != 0)
		return 0;
	if (!(proto & P_NOMAIL) && (c = step(fd, 'M', from, strlen(from) + 1, proto & P_NR_MAIL, buf)) != 'c')
		goto early;
	if (send_macros(fd, lists, M_RCPT, qid) != 0)
		return 0;
	if (!(proto & P_NORCPT) && (c = step(fd, 'R', to, strlen(to) + 1, proto & P_NR_RCPT, buf)) != 'c')
		goto early;
	if (send_macros(fd, lists, M_DATA, qid) != 0)
		return 0;
	if (!(proto & P_NODATA) && (c = step(fd, 'T', NULL, 0, proto & P_NR_DATA, buf)) != 'c')
		goto early;
	/* Headers: "Name\0value\0", folding kept, the value's leading space only when negotiated. */
	while (!(proto & P_NOHDRS) && p < m->body) {
		size_t e = p, colon, vstart;
		char *h;
		while (e < m->body && !(m->data[e] == '\n' && (e + 1 >= m->body || (m->data[e + 1] != ' ' &&
		    m->data[e + 1] != '\t'))))
			e++;
		colon = p;
		while (colon < e && m->data[colon] != ':')
			colon++;
		if (colon < e) {
			size_t vend = e > p && m->data[e - 1] == '\r' ? e - 1 : e, nl = colon - p;
			vstart = colon + 1;
			if (!(proto & P_HDR_LEADSPC) && vstart < vend && m->data[vstart] == ' ')
				vstart++;
			if ((h = malloc(nl + 1 + (vend - vstart) + 1)) == NULL)
				return 0;
			memcpy(h, m->data + p, nl);
			h[nl] = '\0';
			memcpy(h + nl + 1, m->data + vstart, vend - vstart);
			h[nl + 1 + (vend - vstart)] = '\0';
			c = step(fd, 'L', h, nl + 1 + (vend - vstart) + 1, proto & P_NR_HDR, buf);
			free(h);
			if (c != 'c')
				goto early;
		}
		p = e + 1;
	}
	if (send_macros(fd, lists, M_EOH, qid) != 0)
		return 0;
	if (!(proto & P_NOEOH) && (c = step(fd, 'N', NULL, 0, proto & P_NR_EOH, buf)) != 'c')
		goto early;
	for (off = m->body; !(proto & P_NOBODY) && off < m->len; off += CHUNK) {
		size_t chunk = m->len - off < CHUNK ? m->len - off : CHUNK;
		c = step(fd, 'B', m->data + off, chunk, proto & P_NR_BODY, buf);
		if (c == 's')             /* SMFIS_SKIP: no more body */
			break;
		if (c != 'c')
			goto early;
	}
	if (send_macros(fd, lists, M_EOM, qid) != 0 || send_cmd(fd, 'E', NULL, 0) != 0)
		return 0;
	return step_reply(fd, buf, ck);
early:
	if (c == 0 || send_cmd(fd, 'A', NULL, 0) != 0)
		return 0;
	__atomic_add_fetch(&sh->replies[4], 1, __ATOMIC_RELAXED);
	return c;
}

/* One connection: negotiate, connect, HELO, then its messages. 0 on success. */
static int
run_connection(const char *spec, int idx, int conns, const struct msg *msgs, size_t nmsgs, double deadline)
{
	char *buf = malloc(MAX_REPLY), *lists[M_STAGES], qid[32];
	static const char conn[] = "client.example.test\0" "4" "\x00\x19" "127.0.0.1", helo[] = "client.example.test";
	int fd = connect_milter(spec), i, k, rc = -1;
	uint32_t proto = 0;
	char c;

	if (fd < 0 || buf == NULL || negotiate(fd, buf, &proto, lists) != 0)
		goto out;
	snprintf(qid, sizeof(qid), "C%dS0", idx);
	if (send_macros(fd, lists, M_CONNECT, qid) != 0)
		goto out;
	if (!(proto & P_NOCONNECT) && step(fd, 'C', conn, sizeof(conn), proto & P_NR_CONN, buf) != 'c')
		goto out;
	if (send_macros(fd, lists, M_HELO, qid) != 0)
		goto out;
	if (!(proto & P_NOHELO) && step(fd, 'H', helo, sizeof(helo), proto & P_NR_HELO, buf) != 'c')
		goto out;
	for (i = 0; i < sh->per; i++) {
		const struct msg *m = &msgs[((size_t)idx + (size_t)i * (size_t)conns) % nmsgs];
		struct check ck;
		double t = now_ms();
		memset(&ck, 0, sizeof(ck));
		snprintf(qid, sizeof(qid), "%04X%08X", (unsigned)idx, (unsigned)i);
		if ((c = one_message(fd, buf, proto, lists, m, qid, &ck)) == 0)
			goto out;
		sh->lat_ms[(size_t)idx * (size_t)sh->per + (size_t)i] = now_ms() - t;
		sh->done[idx]++;
		sh->bytes[idx] += (double)m->len;
		/* A custom reply ('y', "451 4.7.1 ...") is a tempfail or a reject by its code. */
		__atomic_add_fetch(&sh->replies[c == 'a' || c == 'c' ? 0 : c == 't' || (c == 'y' && buf[0] == '4') ? 2
		    : c == 'd' ? 3 : 1], 1, __ATOMIC_RELAXED);
		for (k = 0; k < n_expect; k++)
			if (!ck.seen[k])
				break;
		if (k < n_expect || ck.forbidden)
			__atomic_add_fetch(&sh->wrong, 1, __ATOMIC_RELAXED);
		if (deadline > 0 && now_ms() >= deadline)
			break;
	}
	send_cmd(fd, 'Q', NULL, 0);
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	return rc;
}

/* The milter's CPU time so far (user + system of every thread), in seconds. */
static double
cpu_of(long pid)
{
	char path[64], line[1024], *p;
	unsigned long ut, st;
	FILE *f;
	double total = -1;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	if (fgets(line, sizeof(line), f) && (p = strrchr(line, ')')) &&
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) == 2) /* NOLINT(cert-err34-c): the kernel's */
		total = (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
	fclose(f);
	return total;
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
		if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)      /* NOLINT(cert-err34-c): the kernel's numbers */
			break;
	fclose(f);
	return kb;
}

/* Start the peak resident set afresh (clear_refs 5), so it is this run's. */
static int
reset_peak_rss(long pid)
{
	char path[64];
	int fd, ok;

	snprintf(path, sizeof(path), "/proc/%ld/clear_refs", pid);
	if ((fd = open(path, O_WRONLY)) < 0)
		return -1;
	ok = write(fd, "5", 1) == 1;
	close(fd);
	return ok ? 0 : -1;
}

static int
load_message(const char *path, struct msg *m)
{
	FILE *f = fopen(path, "rb");
	long n;
	size_t i;

	if (f == NULL)
		return -1;
	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0 ||
	    (m->data = malloc((size_t)n + 1)) == NULL || fread(m->data, 1, (size_t)n, f) != (size_t)n) {
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

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every *.eml of DIR, in name order. */
static struct msg *
load_dir(const char *dir, size_t *count)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **names = NULL, path[4096];
	size_t n = 0, cap = 0, i;
	struct msg *m = NULL;

	if (d == NULL)
		return NULL;
	while ((e = readdir(d)) != NULL) {
		size_t l = strlen(e->d_name);
		if (l < 5 || strcmp(e->d_name + l - 4, ".eml") != 0)
			continue;
		if (n == cap) {
			char **nn = realloc(names, (cap = cap ? cap * 2 : 64) * sizeof(*names));
			if (nn == NULL)
				goto fail;
			names = nn;
		}
		if ((names[n] = strdup(e->d_name)) == NULL)
			goto fail;
		n++;
	}
	if (n == 0 || (m = calloc(n, sizeof(*m))) == NULL)
		goto fail;
	qsort(names, n, sizeof(*names), name_cmp);
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (load_message(path, &m[i]) != 0) {
			fprintf(stderr, "miltload: cannot read %s\n", path);
			free(m);
			m = NULL;
			goto fail;
		}
	}
	*count = n;
fail:
	closedir(d);
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return m;
}

static void *
shared_alloc(size_t n)
{
	void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	/* cppcheck-suppress memleak ; MAP_FAILED is no mapping, and a mapping is returned */
	return p == MAP_FAILED ? NULL : p;
}

int
main(int argc, char **argv)
{
	const char *spec = NULL, *file = NULL, *dir = NULL;
	int conns = 1, msgs = 100, ch, i, status, failed = 0, rss_reset = -1;
	long pid = 0, total = 0;
	char *tilde;
	double t0, t1, cpu0 = 0, cpu1 = 0, secs, seconds = 0, bytes = 0, *lat;
	struct msg *m;
	size_t nm = 1, k;

	while ((ch = getopt(argc, argv, "s:m:d:c:n:t:p:f:r:e:x:")) != -1) {
		switch (ch) {
		case 's': spec = optarg; break;
		case 'm': file = optarg; break;
		case 'd': dir = optarg; break;
		case 'c': conns = (int)strtol(optarg, NULL, 10); break;
		case 'n': msgs = (int)strtol(optarg, NULL, 10); break;
		case 't': seconds = strtod(optarg, NULL); break;
		case 'p': pid = strtol(optarg, NULL, 10); break;
		case 'f': env_from = optarg; break;
		case 'r': env_rcpt = optarg; break;
		case 'x': forbid = optarg; break;
		case 'e':
			if ((tilde = strchr(optarg, '~')) == NULL || n_expect == MAX_EXPECT)
				goto usage;
			*tilde = '\0';
			expect[n_expect].name = optarg;
			expect[n_expect].nlen = strlen(optarg);
			expect[n_expect].text = tilde + 1;
			expect[n_expect].body = strcmp(optarg, "body") == 0;
			n_expect++;
			break;
		default: goto usage;
		}
	}
	if (spec == NULL || (file == NULL) == (dir == NULL) || conns < 1 || conns > 4096 || msgs < conns ||
	    seconds < 0)
		goto usage;
	if (dir) {
		if ((m = load_dir(dir, &nm)) == NULL) {
			fprintf(stderr, "miltload: no readable *.eml in %s\n", dir);
			return 1;
		}
	} else if ((m = calloc(1, sizeof(*m))) == NULL || load_message(file, m) != 0) {
		fprintf(stderr, "miltload: cannot read %s\n", file);
		return 1;
	}
	sh = shared_alloc(sizeof(*sh));
	if (sh == NULL || (sh->done = shared_alloc((size_t)conns * sizeof(long))) == NULL ||
	    (sh->bytes = shared_alloc((size_t)conns * sizeof(double))) == NULL ||
	    (sh->lat_ms = shared_alloc((size_t)msgs * sizeof(double))) == NULL) {
		fprintf(stderr, "miltload: mmap: %s\n", strerror(errno));   /* NOLINT(clang-analyzer-unix.Malloc): exit frees m */
		return 1;
	}
	sh->per = msgs / conns;
	if (pid) {
		rss_reset = reset_peak_rss(pid);
		cpu0 = cpu_of(pid);
	}
	t0 = now_ms();
	for (i = 0; i < conns; i++) {
		pid_t c = fork();
		if (c == 0)
			_exit(run_connection(spec, i, conns, m, nm, seconds > 0 ? t0 + seconds * 1000.0 : 0) ? 1 : 0);
		if (c < 0) {
			fprintf(stderr, "miltload: fork: %s\n", strerror(errno));
			failed++;
		}
	}
	while (wait(&status) > 0)
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			failed++;
	t1 = now_ms();
	if (pid)
		cpu1 = cpu_of(pid);
	secs = (t1 - t0) / 1000.0;
	/* Gather the latencies of the messages that finished. */
	lat = sh->lat_ms;
	for (i = 0, k = 0; i < conns; i++) {
		memmove(lat + k, sh->lat_ms + (size_t)i * (size_t)sh->per, (size_t)sh->done[i] * sizeof(double));
		k += (size_t)sh->done[i];
		total += sh->done[i];
		bytes += sh->bytes[i];
	}
	printf("messages %ld bytes_per_msg %.0f connections %d seconds %.3f msgs_per_s %.1f MB_per_s %.1f", total,
	    total ? bytes / (double)total : 0, conns, secs, total / secs, bytes / secs / 1e6);
	if (pid)
		printf(" milter_cpu_s %.3f cpu_ms_per_msg %.3f", cpu1 - cpu0,
		    total ? (cpu1 - cpu0) * 1000.0 / (double)total : 0);
	if (total > 0) {
		qsort(lat, (size_t)total, sizeof(double), cmp_double);
		printf(" p50_ms %.2f p99_ms %.2f", lat[total / 2], lat[(size_t)total * 99 / 100 < (size_t)total ?
		    (size_t)total * 99 / 100 : (size_t)total - 1]);
	}
	printf(" accept %ld reject %ld tempfail %ld discard %ld ended_early %ld wrong %ld failed_connections %d",
	    sh->replies[0], sh->replies[1], sh->replies[2], sh->replies[3], sh->replies[4], sh->wrong, failed);
	if (pid)
		printf(" milter_peak_rss_kb %ld%s", peak_rss_kb(pid), rss_reset == 0 ? "" : " (not reset: since start)");
	printf("\n");
	for (k = 0; k < nm; k++)
		free(m[k].data);
	free(m);
	return failed ? 1 : sh->wrong ? 3 : 0;
usage:
	fprintf(stderr, "usage: miltload -s inet:PORT@HOST|unix:PATH (-m MSG.eml | -d DIR) [-c CONNECTIONS] "
	    "[-n MESSAGES] [-t SECONDS] [-p PID] [-f FROM] [-r RCPT] [-e NAME~TEXT]... [-x TEXT]\n");
	return 1;
}
