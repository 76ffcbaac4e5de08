/*
 * log.c - logging to stderr or syslog (facility mail).
 *
 * Calling rules: seal_log_use_syslog() and seal_log_set_level() are called
 * once at start-up, before threads exist; seal_log() is thread-safe after
 * that (stderr writes are one fprintf each, syslog is thread-safe).
 * Untrusted input: callers may log message data; non-printable bytes are
 * escaped here so a hostile header cannot forge log lines.
 */
#include "build-config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <syslog.h>

#include "common/log.h"

static int use_syslog;
static enum seal_log_level min_level = SEAL_LOG_INFO;
static const char *prog = "sealmilter";

void
seal_log_set_name(const char *name)
{
	prog = name;
}

void
seal_log_use_syslog(const char *ident)
{
	openlog(ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
	use_syslog = 1;
}

void
seal_log_set_level(enum seal_log_level level)
{
	min_level = level;
}

static const char *
level_name(enum seal_log_level level)
{
	switch (level) {
	case SEAL_LOG_DEBUG: return "debug";
	case SEAL_LOG_INFO: return "info";
	case SEAL_LOG_WARN: return "warning";
	default: return "error";
	}
}

void
seal_log(enum seal_log_level level, const char *fmt, ...)
{
	va_list ap;
	char *line = NULL;
	size_t i, n;
	int len;

	if (level < min_level)
		return;
	va_start(ap, fmt);
	len = vasprintf(&line, fmt, ap);
	va_end(ap);
	if (len < 0)
		return;
	/* Escape control characters: a header value must never start a new log line. */
	n = (size_t)len;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)line[i];
		if (c < 0x20 || c == 0x7f)
			line[i] = '?';
	}
	if (use_syslog) {
		int pri = level == SEAL_LOG_DEBUG ? LOG_DEBUG
		    : level == SEAL_LOG_INFO ? LOG_INFO
		    : level == SEAL_LOG_WARN ? LOG_WARNING : LOG_ERR;
		syslog(pri, "%s", line);
	} else {
		fprintf(stderr, "%s: %s: %s\n", prog, level_name(level), line);
	}
	free(line);
}
