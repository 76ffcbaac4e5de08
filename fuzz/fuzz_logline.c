/*
 * fuzz_logline.c - libFuzzer target: arbitrary bytes as a mail log, read
 * the way `sealctl stats` reads it (engine/logline.c): every line through
 * logline_parse(), the list values of each message line through
 * logline_split(), and the time of --since through logline_parse_time().
 *
 * And the writer against the reader: the input's first line, as a value
 * and as a list item, is written with logline_add() and logline_item()
 * into a line of sealmilter's, which must parse back to exactly that value
 * and that one item; a value from mail can never make a pair of its own.
 *
 * Input faced: any bytes - NULs, unterminated quotes, stray escapes,
 * percent signs, stamps that are almost dates, lines of any length.
 * Aborts when the round trip differs. Built with fuzz/driver.c it runs over
 * corpus files without libFuzzer.
 */
#include "build-config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "common/util.h"
#include "engine/logline.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
round_trip(const char *value)
{
	struct sbuf b;
	struct logline l;
	struct strlist items = { NULL, 0 };
	const char *got;

	sbuf_init(&b, 0);
	sbuf_adds(&b, "sealmilter: info: Q1: direction=inbound");
	logline_add(&b, "from", value);
	sbuf_adds(&b, " rules=");
	logline_item(&b, value);
	sbuf_adds(&b, " verdict=accept");
	if (b.oom || b.data == NULL)
		abort();
	if (logline_parse(b.data, b.len, 0, &l) != LOGLINE_MESSAGE)
		abort();
	got = logline_get(&l, "from");
	if (got == NULL || strcmp(got, value) != 0 || strcmp(logline_get(&l, "verdict"), "accept") != 0 || l.npairs != 4)
		abort();
	if (logline_split(logline_get(&l, "rules"), &items) != 0 || (value[0] != '\0' && (items.n != 1 ||
	    strcmp(items.v[0], value) != 0)))
		abort();
	strlist_free(&items);
	logline_free(&l);
	sbuf_free(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;
	int first = 1;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		struct logline l;
		char *line = xstrndup(p, n);
		time_t t;

		if (line == NULL)
			return 0;
		if (logline_parse(p, n, 1795412578, &l) == LOGLINE_MESSAGE) {
			static const char *const lists[] = { "rules", "dkim", "actions", "copy1" };
			size_t i;
			for (i = 0; i < 4; i++) {
				struct strlist items = { NULL, 0 };
				(void)logline_split(logline_get(&l, lists[i]), &items);
				strlist_free(&items);
			}
			logline_free(&l);
		}
		(void)logline_parse_time(line, &t);
		if (first && strlen(line) == n)      /* no NUL: a value sealmilter could log */
			round_trip(line);
		first = 0;
		free(line);
		p += n + 1;
	}
	return 0;
}
