/*
 * cfgerr.c - collect configuration errors with their position.
 *
 * Calling rules: zero-initialise a struct cfg_errors, add errors, read
 * msgs[0..count), then cfg_errors_free(). Not thread-safe (the loader runs
 * in one thread).
 * Untrusted input: none; messages are built from the configuration, which
 * the administrator wrote.
 */
#include "build-config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules/cfgerr.h"
#include "common/buf.h"
#include "rules/yamltree.h"

static void
add(struct cfg_errors *e, char *msg)
{
	if (msg == NULL)
		return;
	if (e->count >= CFG_MAX_ERRORS) {
		e->dropped++;
		free(msg);
		return;
	}
	e->msgs[e->count++] = msg;
}

static void
vadd(struct cfg_errors *e, const char *file, int line, int col, const char *fmt, va_list ap)
    __attribute__((format(printf, 5, 0)));

static void
vadd(struct cfg_errors *e, const char *file, int line, int col, const char *fmt, va_list ap)
{
	char *body = NULL, *msg = NULL;

	if (vasprintf(&body, fmt, ap) < 0)
		return;
	if (file && line > 0) {
		if (asprintf(&msg, "%s:%d:%d: %s", file, line, col, body) < 0)
			msg = NULL;
	} else if (file) {
		if (asprintf(&msg, "%s: %s", file, body) < 0)
			msg = NULL;
	} else {
		msg = body;
		body = NULL;
	}
	free(body);
	add(e, msg);
}

void
cfg_error(struct cfg_errors *e, const struct ynode *at, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vadd(e, at ? at->file : NULL, at ? at->line : 0, at ? at->col : 0, fmt, ap);
	va_end(ap);
}

void
cfg_error_at(struct cfg_errors *e, const char *file, int line, int col, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vadd(e, file, line, col, fmt, ap);
	va_end(ap);
}

void
cfg_errors_free(struct cfg_errors *e)
{
	size_t i;

	for (i = 0; i < e->count; i++)
		free(e->msgs[i]);
	e->count = 0;
	e->dropped = 0;
}

int
cfg_check_keys(struct cfg_errors *e, const struct ynode *map, const char *what, const char *const *allowed)
{
	size_t i, j;
	int rc = 0;

	for (i = 0; i < map->n; i++) {
		const char *k = ymap_key(map, i)->value;
		int ok = 0;
		for (j = 0; allowed[j]; j++)
			ok |= strcmp(k, allowed[j]) == 0;
		if (!ok) {
			struct sbuf list;
			sbuf_init(&list, 0);
			for (j = 0; allowed[j]; j++)
				sbuf_printf(&list, "%s%s", j ? ", " : "", allowed[j]);
			cfg_error(e, ymap_key(map, i), "%s: unknown key '%s' (keys: %s)", what, k, list.data ? list.data : "");
			sbuf_free(&list);
			rc = -1;
		}
	}
	return rc;
}
