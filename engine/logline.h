/* logline.h - the one log line per message, written and read back.
 *
 *   QUEUEID: direction=outbound from=<alice@example.com> rcpts=2 rules=seal-secure,card
 *     dkim=pass:example.net actions=add:X-Sealmilter-Rule,replace:body sealed=1
 *     verdict=accept size=18734 ms=12.4 why="seal-secure (...)" note="..."
 *
 * (one line in the log). After the queue id come key=value pairs, each
 * preceded by one space. A value holding a space, a double quote or a
 * backslash, or an empty one, is written in double quotes with \" and \\
 * escaped. A list value (rules, dkim, actions, copyN) is comma-separated,
 * and each item has ',', '%', '"', '\', '<', '>', '=' and every byte up to
 * the space percent-encoded (%2C), so a list never needs quotes and an item
 * can hold anything. docs/operations.md lists the keys.
 *
 * Reading: `sealctl stats` takes mail.log lines (a traditional or RFC 3339
 * syslog prefix, or sealmilter -f's "sealmilter: info: "), finds the ones
 * sealmilter wrote for a message, and splits them into pairs. Everything
 * in such a line but the prefix may come from mail (addresses, header
 * text), so the reader trusts nothing it has not checked.
 */
#ifndef SEAL_LOGLINE_H
#define SEAL_LOGLINE_H

#include <stddef.h>
#include <time.h>

#include "common/buf.h"
#include "common/util.h"

/* ---- writing ---------------------------------------------------------------- */

/* " key=value", quoted when the value needs it. */
void logline_add(struct sbuf *b, const char *key, const char *value);
/* One list item, percent-encoded (no separator: the caller adds ','). */
void logline_item(struct sbuf *b, const char *item);

/* ---- reading ---------------------------------------------------------------- */

#define LOGLINE_MAX_PAIRS 64
#define LOGLINE_MAX_LINE (1u << 20)   /* longer lines are not read (sealctl stats counts them as malformed) */

struct logline_pair {
	char *key;
	char *value;               /* unquoted, unescaped; list items are still encoded (logline_split) */
};

struct logline {
	char *qid;
	time_t when;               /* from the syslog prefix; (time_t)-1 when the line has none */
	struct logline_pair *pairs;
	size_t npairs;
};

enum logline_kind {
	LOGLINE_OTHER,             /* not a line sealmilter wrote about a message (another program's, a start-up line) */
	LOGLINE_MESSAGE,           /* one: *out is filled (logline_free it) */
	LOGLINE_MALFORMED          /* sealmilter's prefix and "QUEUEID: direction=", but the pairs do not parse */
};

/* Parse one line (len bytes, no line end; may hold anything, NULs too).
 * now: the current time, for the year of a traditional syslog stamp (the
 * latest year that does not put the line more than a day in the future). */
enum logline_kind logline_parse(const char *line, size_t len, time_t now, struct logline *out);
/* The value of key, or NULL (the first one when it repeats). */
const char *logline_get(const struct logline *l, const char *key);
void logline_free(struct logline *l);
/* A list value into its decoded items (appended to items). 0, or -1 when
 * an item is badly encoded or memory ran out. "" is an empty list. */
int logline_split(const char *value, struct strlist *items);

/* "2026-03-01", "2026-03-01 12:30", "2026-03-01T12:30:05", local time, or
 * with "Z" or "+01:00" at the end. 0, or -1. */
int logline_parse_time(const char *s, time_t *out);

#endif
