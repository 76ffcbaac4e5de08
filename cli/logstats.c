/*
 * logstats.c - sealctl stats [--since TIME] [--until TIME] [FILE...]: a
 * summary of sealmilter's per-message log lines (engine/logline.h) in
 * mail.log-style files, or standard input: messages by direction and
 * verdict, what was done to the mail accepted, the rules that fired, the
 * DKIM results, tempfails and rejects by cause, and the latency (p50, p95,
 * max of ms=). Lines of other programs are skipped and counted; lines of
 * sealmilter's that do not parse are counted as malformed.
 *
 * Calling rules: cmd_stats() once, from main().
 * Untrusted input: the log. Each line is read into a buffer capped at
 * LOGLINE_MAX_LINE (a longer one is skipped to its end and counted), parsed
 * by engine/logline.c, and only values from fixed sets or the numbers are
 * believed; a rule name is printed with every byte that is not printable
 * ASCII or UTF-8 shown as '?', and at most MAX_NAMES distinct names are
 * kept (the rest count as "(other)").
 */
#include "build-config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/logstats.h"
#include "common/buf.h"
#include "common/util.h"
#include "engine/logline.h"

#define MAX_NAMES 10000

/* A count per name, kept sorted by name for bsearch. */
struct tally {
	struct name_count {
		char *name;
		unsigned long n;
	} *v;
	size_t len, cap;
	unsigned long other;       /* names past MAX_NAMES */
};

static int
tally_add(struct tally *t, const char *name, unsigned long n)
{
	size_t lo = 0, hi = t->len;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(t->v[mid].name, name);
		if (c == 0) {
			t->v[mid].n += n;
			return 0;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (t->len >= MAX_NAMES) {
		t->other += n;
		return 0;
	}
	if (t->len == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		struct name_count *g = realloc(t->v, cap * sizeof(*g));
		if (g == NULL)
			return -1;
		t->v = g;
		t->cap = cap;
	}
	memmove(&t->v[lo + 1], &t->v[lo], (t->len - lo) * sizeof(*t->v));
	if ((t->v[lo].name = strdup(name)) == NULL) {
		memmove(&t->v[lo], &t->v[lo + 1], (t->len - lo) * sizeof(*t->v));
		return -1;
	}
	t->v[lo].n = n;
	t->len++;
	return 0;
}

static void
tally_free(struct tally *t)
{
	size_t i;

	for (i = 0; i < t->len; i++)
		free(t->v[i].name);
	free(t->v);
	memset(t, 0, sizeof(*t));
}

static int
by_count(const void *a, const void *b)
{
	const struct name_count *x = a, *y = b;

	if (x->n != y->n)
		return x->n > y->n ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* One of a fixed set, or "(other)": nothing else from the log is shown. */
static const char *
one_of(const char *v, const char *const *set)
{
	size_t i;

	for (i = 0; v && set[i]; i++)
		if (strcmp(v, set[i]) == 0)
			return set[i];
	return "(other)";
}

static const char *const directions[] = { "inbound", "outbound", "internal", NULL };
static const char *const verdicts[] = { "accept", "reject", "tempfail", NULL };
static const char *const dkim_results[] = { "pass", "fail", "policy", "neutral", "temperror", "permerror", "none",
	NULL };
static const char *const causes[] = { "rule", "policy", "limit", "memory", "spool", "seal", "viewer", "sign", "submit",
	"mta", "config", "internal", NULL };

struct stats {
	unsigned long messages, other_lines, malformed, too_long, outside, no_time;
	unsigned long by[4][4];        /* direction (3 = other) x verdict (3 = other) */
	unsigned long sealed, encrypted, signed_, dkim_signed, decrypted, copies;
	struct tally rules, dkim, tempfails, rejects, errors_accepted;
	double *ms;
	size_t nms, capms;
	time_t first, last;
	int oom;
};

static size_t
index_of(const char *v, const char *const *set)
{
	size_t i;

	for (i = 0; v && set[i]; i++)
		if (strcmp(v, set[i]) == 0)
			return i;
	return i;      /* the "other" slot */
}

static unsigned long
number(const char *v)
{
	uint64_t n;

	return v && parse_uint(v, &n) == 0 && n < 1000000 ? (unsigned long)n : 0;
}

static void
add_ms(struct stats *s, const char *v)
{
	char *end;
	double d;

	if (v == NULL)
		return;
	errno = 0;
	d = strtod(v, &end);
	if (end == v || *end != '\0' || errno != 0 || !(d >= 0) || d > 1e9)
		return;
	if (s->nms == s->capms) {
		size_t cap = s->capms ? s->capms * 2 : 1024;
		double *g = realloc(s->ms, cap * sizeof(*g));
		if (g == NULL) {
			s->oom = 1;
			return;
		}
		s->ms = g;
		s->capms = cap;
	}
	s->ms[s->nms++] = d;
}

static void
count_message(struct stats *s, const struct logline *l)
{
	const char *verdict = logline_get(l, "verdict"), *cause = logline_get(l, "cause");
	struct strlist items = { NULL, 0 };
	size_t i;

	s->messages++;
	s->by[index_of(logline_get(l, "direction"), directions)][index_of(verdict, verdicts)]++;
	s->sealed += number(logline_get(l, "sealed"));
	s->encrypted += number(logline_get(l, "encrypted"));
	s->signed_ += number(logline_get(l, "signed"));
	s->dkim_signed += number(logline_get(l, "dkim_signed"));
	s->decrypted += number(logline_get(l, "decrypted"));
	for (i = 0; i < l->npairs; i++)
		if (strncmp(l->pairs[i].key, "copy", 4) == 0 && l->pairs[i].key[4] >= '1' && l->pairs[i].key[4] <= '9')
			s->copies++;
	if (logline_get(l, "rules") && strcmp(logline_get(l, "rules"), "none") != 0) {
		if (logline_split(logline_get(l, "rules"), &items) != 0)
			s->oom |= tally_add(&s->rules, "(badly encoded)", 1) != 0;
		for (i = 0; i < items.n; i++)
			s->oom |= tally_add(&s->rules, items.v[i], 1) != 0;
		strlist_free(&items);
	}
	if (logline_get(l, "dkim")) {
		if (logline_split(logline_get(l, "dkim"), &items) == 0)
			for (i = 0; i < items.n; i++) {
				items.v[i][strcspn(items.v[i], ":")] = '\0';
				s->oom |= tally_add(&s->dkim, one_of(items.v[i], dkim_results), 1) != 0;
			}
		strlist_free(&items);
	}
	if (verdict && strcmp(verdict, "tempfail") == 0)
		s->oom |= tally_add(&s->tempfails, cause ? one_of(cause, causes) : "(none given)", 1) != 0;
	else if (verdict && strcmp(verdict, "reject") == 0)
		s->oom |= tally_add(&s->rejects, cause ? one_of(cause, causes) : "(none given)", 1) != 0;
	else if (cause)
		s->oom |= tally_add(&s->errors_accepted, one_of(cause, causes), 1) != 0;
	add_ms(s, logline_get(l, "ms"));
	if (l->when != (time_t)-1) {
		if (s->first == 0 || l->when < s->first)
			s->first = l->when;
		if (l->when > s->last)
			s->last = l->when;
	}
}

/* Read one line (its end removed) into b, at most LOGLINE_MAX_LINE bytes:
 * 1 a line, 2 a line too long (skipped to its end), 0 end of file. */
static int
read_line(FILE *f, struct sbuf *b)
{
	int c, too_long = 0, any = 0;

	sbuf_reset(b);
	while ((c = getc_unlocked(f)) != EOF) {
		any = 1;
		if (c == '\n')
			break;
		if (!too_long && sbuf_addc(b, (char)c) != 0)
			too_long = 1;
	}
	if (!any)
		return 0;
	return too_long ? 2 : 1;
}

static void
read_file(struct stats *s, FILE *f, time_t now, const time_t *since, const time_t *until)
{
	struct sbuf b;
	struct logline l;
	int r;

	sbuf_init(&b, LOGLINE_MAX_LINE);
	while ((r = read_line(f, &b)) != 0) {
		if (r == 2) {
			s->too_long++;
			continue;
		}
		switch (logline_parse(b.data ? b.data : "", b.len, now, &l)) {
		case LOGLINE_OTHER:
			s->other_lines++;
			break;
		case LOGLINE_MALFORMED:
			s->malformed++;
			break;
		case LOGLINE_MESSAGE:
			if ((since || until) && l.when == (time_t)-1)
				s->no_time++;
			else if ((since && l.when < *since) || (until && l.when >= *until))
				s->outside++;
			else
				count_message(s, &l);
			logline_free(&l);
			break;
		}
	}
	sbuf_free(&b);
}

/* Printable ASCII and valid UTF-8 as they are; anything else '?'. */
static void
print_name(const char *s, int width)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s), used;
	int shown = 0;

	while (n > 0) {
		if (*p >= 0x20 && *p < 0x7f) {
			putchar(*p);
			p++;
			n--;
		} else if (*p >= 0x80 && utf8_next(p, n, &used) >= 0xa0) {
			if (fwrite(p, 1, used, stdout) != used)
				return;     /* stdout failed: the caller's final check reports it */
			p += used;
			n -= used;
		} else {
			putchar('?');
			p++;
			n--;
		}
		shown++;
	}
	for (; shown < width; shown++)
		putchar(' ');
}

static void
print_tally(const char *title, struct tally *t)
{
	size_t i;

	printf("\n%-34s %9s\n", title, "count");
	if (t->len == 0 && t->other == 0)
		printf("  (none)\n");
	if (t->len > 1)
		qsort(t->v, t->len, sizeof(*t->v), by_count);
	for (i = 0; i < t->len; i++) {
		printf("  ");
		print_name(t->v[i].name, 32);
		printf(" %9lu\n", t->v[i].n);
	}
	if (t->other)
		printf("  %-32s %9lu\n", "(more names than shown)", t->other);
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Nearest rank: the smallest value with at least p% of them at or below it. */
static double
percentile(const double *v, size_t n, double p)
{
	size_t rank = (size_t)((p / 100.0) * (double)n + 0.999999999);

	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return v[rank - 1];
}

static void
print_time(const char *label, time_t t)
{
	char buf[64];
	struct tm tm;

	localtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm);
	printf("%s%s", label, buf);
}

static void
report(struct stats *s, int nfiles)
{
	static const char *const dir_names[] = { "inbound", "outbound", "internal", "(other)" };
	unsigned long col[4] = { 0, 0, 0, 0 };
	size_t d, v;

	printf("sealmilter messages: %lu", s->messages);
	printf(" (%d file%s; skipped: %lu lines of other programs, %lu malformed, %lu too long", nfiles,
	    nfiles == 1 ? "" : "s", s->other_lines, s->malformed, s->too_long);
	if (s->outside || s->no_time)
		printf(", %lu outside the period, %lu without a time", s->outside, s->no_time);
	printf(")\n");
	if (s->first) {
		print_time("period: ", s->first);
		print_time(" to ", s->last);
		printf("\n");
	}
	printf("\n%-12s %9s %9s %9s %9s %9s\n", "direction", "accept", "reject", "tempfail", "(other)", "total");
	for (d = 0; d < 4; d++) {
		unsigned long row = 0;
		if (d == 3 && !(s->by[3][0] | s->by[3][1] | s->by[3][2] | s->by[3][3]))
			continue;
		printf("%-12s", dir_names[d]);
		for (v = 0; v < 4; v++) {
			printf(" %9lu", s->by[d][v]);
			row += s->by[d][v];
			col[v] += s->by[d][v];
		}
		printf(" %9lu\n", row);
	}
	printf("%-12s %9lu %9lu %9lu %9lu %9lu\n", "total", col[0], col[1], col[2], col[3], s->messages);
	printf("\ndone to mail: sealed %lu, S/MIME-encrypted %lu, S/MIME-signed %lu, DKIM-signed %lu, decrypted %lu, "
	    "split copies %lu\n", s->sealed, s->encrypted, s->signed_, s->dkim_signed, s->decrypted, s->copies);
	print_tally("rules fired", &s->rules);
	print_tally("DKIM results (per signature)", &s->dkim);
	print_tally("tempfails by cause", &s->tempfails);
	print_tally("rejects by cause", &s->rejects);
	if (s->errors_accepted.len)
		print_tally("errors let through (on_error)", &s->errors_accepted);
	printf("\n");
	if (s->nms == 0) {
		printf("latency (ms): no values\n");
	} else {
		qsort(s->ms, s->nms, sizeof(*s->ms), cmp_double);
		printf("latency (ms): p50 %.1f  p95 %.1f  max %.1f  (%zu messages)\n", percentile(s->ms, s->nms, 50),
		    percentile(s->ms, s->nms, 95), s->ms[s->nms - 1], s->nms);
	}
}

int
cmd_stats(const char *since_text, const char *until_text, char *const *files, int nfiles)
{
	struct stats s;
	time_t since, until, now = time(NULL);
	int i, rc = 0;

	if (since_text && logline_parse_time(since_text, &since) != 0) {
		fprintf(stderr, "sealctl stats: --since: '%s' is not a time (2026-03-01, 2026-03-01T12:00, ...)\n",
		    since_text);
		return 1;
	}
	if (until_text && logline_parse_time(until_text, &until) != 0) {
		fprintf(stderr, "sealctl stats: --until: '%s' is not a time (2026-03-01, 2026-03-01T12:00, ...)\n",
		    until_text);
		return 1;
	}
	memset(&s, 0, sizeof(s));
	if (nfiles == 0)
		read_file(&s, stdin, now, since_text ? &since : NULL, until_text ? &until : NULL);
	for (i = 0; i < nfiles; i++) {
		FILE *f = fopen(files[i], "r");
		if (f == NULL) {
			fprintf(stderr, "sealctl stats: %s: %s\n", files[i], strerror(errno));
			rc = 1;
			continue;
		}
		read_file(&s, f, now, since_text ? &since : NULL, until_text ? &until : NULL);
		if (ferror(f)) {
			fprintf(stderr, "sealctl stats: %s: read error\n", files[i]);
			rc = 1;
		}
		fclose(f);
	}
	if (s.oom) {
		fprintf(stderr, "sealctl stats: out of memory\n");
		rc = 1;
	} else {
		report(&s, nfiles ? nfiles : 1);
	}
	tally_free(&s.rules);
	tally_free(&s.dkim);
	tally_free(&s.tempfails);
	tally_free(&s.rejects);
	tally_free(&s.errors_accepted);
	free(s.ms);
	return rc;
}
