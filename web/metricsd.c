/*
 * metricsd.c - the metrics endpoint: one libmicrohttpd daemon with a single
 * thread, answering
 *   GET /metrics   200, the registry in the Prometheus text format
 *   GET /          200, a line that says where the metrics are
 *   anything else  404 (405 for a method other than GET or HEAD)
 * It serves whoever reaches the socket (no authentication), which is why
 * the configuration keeps it on loopback unless told otherwise.
 *
 * Calling rules: metricsd_start() after the socket is open; metricsd_stop()
 * before the registry is freed. One thread answers, so renderings (and the
 * registry's collectors) never run twice at once from here.
 * Untrusted input: requests from whoever reaches the socket. Nothing of a
 * request is read but its method and path; a body is discarded; at most 16
 * connections, 16 KiB of memory and 10 s each.
 */
#include "build-config.h"

#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "common/metrics.h"
#include "web/metricsd.h"

#if MHD_VERSION < 0x00097100
typedef int mhd_result;
#else
typedef enum MHD_Result mhd_result;
#endif

struct metricsd {
	struct MHD_Daemon *d;
	struct metrics *reg;
};

static mhd_result
answer(struct MHD_Connection *c, unsigned status, const char *type, char *body, size_t len)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	mhd_result ret;

	if (r == NULL) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", type);
	MHD_add_response_header(r, "Cache-Control", "no-store");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static mhd_result
text(struct MHD_Connection *c, unsigned status, const char *msg)
{
	char *body = strdup(msg);

	return body ? answer(c, status, "text/plain; charset=utf-8", body, strlen(body)) : MHD_NO;
}

static mhd_result
handler(void *cls, struct MHD_Connection *c, const char *url, const char *method, const char *version,
    const char *upload_data, size_t *upload_size, void **con_cls)
{
	struct metricsd *m = cls;
	static int first;

	(void)version;
	(void)upload_data;
	if (*con_cls == NULL) {
		*con_cls = &first;      /* headers only, the first time: wait for the body (if any) */
		return MHD_YES;
	}
	if (*upload_size > 0) {
		*upload_size = 0;       /* discarded */
		return MHD_YES;
	}
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return text(c, 405, "only GET\n");
	if (strcmp(url, "/metrics") == 0) {
		size_t len = 0;
		char *body = metrics_render(m->reg, &len);
		if (body == NULL)
			return text(c, 503, "out of memory\n");
		return answer(c, 200, METRICS_CONTENT_TYPE, body, len);
	}
	if (strcmp(url, "/") == 0)
		return text(c, 200, "metrics: /metrics\n");
	return text(c, 404, "not found; the metrics are at /metrics\n");
}

static void mhd_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
	char *line = NULL;

	(void)cls;
	if (vasprintf(&line, fmt, ap) < 0)
		return;
	line[strcspn(line, "\n")] = '\0';
	seal_warn("metrics endpoint: %s", line);
	free(line);
}

struct metricsd *
metricsd_start(int fd, struct metrics *reg, const char *name)
{
	struct metricsd *m = calloc(1, sizeof(*m));
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;

	if (m == NULL) {
		close(fd);
		seal_err("%s: cannot start the metrics endpoint: out of memory", name);
		return NULL;
	}
	m->reg = reg;
	memset(&ss, 0, sizeof(ss));
	if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0 && ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	m->d = MHD_start_daemon(flags, 0, NULL, NULL, handler, m,
	    MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,     /* first: it takes the messages of the options after it */
	    MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
	    MHD_OPTION_CONNECTION_LIMIT, 16u,
	    MHD_OPTION_CONNECTION_TIMEOUT, 10u,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(16 * 1024),
	    MHD_OPTION_END);
	if (m->d == NULL) {
		/* libmicrohttpd closes a socket it was given when it cannot start. */
		seal_err("%s: cannot start the metrics endpoint (libmicrohttpd refused the socket)", name);
		free(m);
		return NULL;
	}
	return m;
}

void
metricsd_stop(struct metricsd *m)
{
	if (m == NULL)
		return;
	MHD_stop_daemon(m->d);
	free(m);
}
