/*
 * metrics.c - a registry of counters, gauges and histograms, and its
 * rendering in the Prometheus text exposition format 0.0.4:
 *
 *   # HELP NAME HELP-TEXT         (backslash and line feed escaped)
 *   # TYPE NAME counter|gauge|histogram
 *   NAME{LABEL="VALUE",...} VALUE (backslash, double quote and line feed escaped)
 *
 * A histogram's series are NAME_bucket{...,le="BOUND"} (cumulative, the
 * last le="+Inf"), NAME_sum and NAME_count; the count is the +Inf bucket's,
 * so a scrape during an observation is never inconsistent with itself.
 *
 * Calling rules: families are made at start-up (metrics_counter() and its
 * kin may be called at any time, but they take the registry's lock); the
 * updates are thread-safe and take a family's lock for reading only to find
 * a series (for writing only the first time a series appears); the values
 * are atomics. Series are never removed.
 * Untrusted input: none should reach here (label values come from fixed
 * sets), but a label value is escaped and its invalid UTF-8 replaced with
 * '?' whatever it holds, and a family's series are capped (max_series): past
 * the cap the values "_other" collect the rest, so memory stays bounded.
 */
#include "build-config.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/metrics.h"
#include "common/util.h"

struct series {
	char *lv[METRIC_MAX_LABELS];
	uint64_t value;          /* counter: the count; gauge: the bits of a double */
	uint64_t sum;            /* histogram: the bits of the sum (a double) */
	uint64_t *buckets;       /* histogram: nbounds + 1 counts, not cumulative; the last is +Inf */
};

struct metric {
	enum metric_type type;
	char *name, *help;
	char *labels[METRIC_MAX_LABELS];
	size_t nlabels;
	size_t max_series;
	double bounds[METRIC_MAX_BUCKETS];
	size_t nbounds;
	pthread_rwlock_t lock;
	struct series **series;
	size_t nseries, cap;
};

struct collector {
	void (*fn)(void *arg);
	void *arg;
};

struct metrics {
	pthread_mutex_t lock;
	struct metric **fam;
	size_t nfam, cap;
	struct collector coll[METRIC_MAX_COLLECTORS];
	size_t ncoll;
};

static const char other[] = "_other";

/* ---- doubles as atomics ---------------------------------------------------- */

static uint64_t
bits_of(double d)
{
	uint64_t u;

	memcpy(&u, &d, sizeof(u));
	return u;
}

static double
double_of(uint64_t u)
{
	double d;

	memcpy(&d, &u, sizeof(d));
	return d;
}

static void
atomic_add_double(uint64_t *p, double d)
{
	uint64_t old = __atomic_load_n(p, __ATOMIC_RELAXED), want;

	do
		want = bits_of(double_of(old) + d);
	while (!__atomic_compare_exchange_n(p, &old, want, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED));
}

/* ---- the registry ---------------------------------------------------------- */

struct metrics *
metrics_new(void)
{
	struct metrics *reg = calloc(1, sizeof(*reg));

	if (reg != NULL && pthread_mutex_init(&reg->lock, NULL) != 0) {
		free(reg);
		reg = NULL;
	}
	return reg;
}

static void
series_free(struct series *s)
{
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < METRIC_MAX_LABELS; i++)
		free(s->lv[i]);
	free(s->buckets);
	free(s);
}

static void
family_free(struct metric *f)
{
	size_t i;

	if (f == NULL)
		return;
	for (i = 0; i < f->nseries; i++)
		series_free(f->series[i]);
	free(f->series);
	for (i = 0; i < f->nlabels; i++)
		free(f->labels[i]);
	free(f->name);
	free(f->help);
	pthread_rwlock_destroy(&f->lock);
	free(f);
}

void
metrics_free(struct metrics *reg)
{
	size_t i;

	if (reg == NULL)
		return;
	for (i = 0; i < reg->nfam; i++)
		family_free(reg->fam[i]);
	free(reg->fam);
	pthread_mutex_destroy(&reg->lock);
	free(reg);
}

int
metrics_on_collect(struct metrics *reg, void (*fn)(void *arg), void *arg)
{
	int rc = -1;

	if (reg == NULL || fn == NULL)
		return -1;
	pthread_mutex_lock(&reg->lock);
	if (reg->ncoll < METRIC_MAX_COLLECTORS) {
		reg->coll[reg->ncoll].fn = fn;
		reg->coll[reg->ncoll].arg = arg;
		reg->ncoll++;
		rc = 0;
	}
	pthread_mutex_unlock(&reg->lock);
	return rc;
}

/* ---- families ---------------------------------------------------------------- */

static int
name_char(char c, int first, int colon)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':') ||
	    (!first && c >= '0' && c <= '9');
}

static int
valid_name(const char *s, size_t n, int colon)
{
	size_t i;

	if (n == 0)
		return 0;
	for (i = 0; i < n; i++)
		if (!name_char(s[i], i == 0, colon))
			return 0;
	return 1;
}

static struct series *series_new(const struct metric *f, const char *const *lv);

static struct metric *
family_new(struct metrics *reg, enum metric_type type, const char *name, const char *help, const char *labels,
    size_t max_series, const double *bounds, size_t nbounds)
{
	struct metric *f;
	const char *p;
	size_t i;

	if (reg == NULL || name == NULL || help == NULL || !valid_name(name, strlen(name), 1))
		return NULL;
	if (type == METRIC_HISTOGRAM && (bounds == NULL || nbounds == 0 || nbounds > METRIC_MAX_BUCKETS))
		return NULL;
	for (i = 0; type == METRIC_HISTOGRAM && i < nbounds; i++)
		if (isnan(bounds[i]) || isinf(bounds[i]) || (i > 0 && !(bounds[i] > bounds[i - 1])))
			return NULL;
	if ((f = calloc(1, sizeof(*f))) == NULL)
		return NULL;
	if (pthread_rwlock_init(&f->lock, NULL) != 0) {
		free(f);
		return NULL;
	}
	f->type = type;
	f->max_series = max_series ? max_series : 1;
	if (type == METRIC_HISTOGRAM) {
		memcpy(f->bounds, bounds, nbounds * sizeof(*bounds));
		f->nbounds = nbounds;
	}
	if ((f->name = strdup(name)) == NULL || (f->help = strdup(help)) == NULL)
		goto fail;
	for (p = labels ? labels : ""; *p != '\0';) {
		size_t n = strcspn(p, ",");
		if (f->nlabels == METRIC_MAX_LABELS || !valid_name(p, n, 0) || (n >= 2 && p[0] == '_' && p[1] == '_') ||
		    (type == METRIC_HISTOGRAM && n == 2 && memcmp(p, "le", 2) == 0))
			goto fail;
		if ((f->labels[f->nlabels] = xstrndup(p, n)) == NULL)
			goto fail;
		for (i = 0; i < f->nlabels; i++)
			if (strcmp(f->labels[i], f->labels[f->nlabels]) == 0) {
				free(f->labels[f->nlabels]);
				goto fail;
			}
		f->nlabels++;
		p += n;
		if (*p == ',' && *++p == '\0')
			goto fail;      /* "a," */
	}
	if (f->nlabels == 0) {
		/* The one series exists from the start: a counter reads 0 before its first event. */
		if ((f->series = calloc(1, sizeof(*f->series))) == NULL || /* NOLINT(bugprone-sizeof-expression): an array of pointers */
		    (f->series[0] = series_new(f, NULL)) == NULL)
			goto fail;
		f->nseries = f->cap = 1;
	}
	pthread_mutex_lock(&reg->lock);
	for (i = 0; i < reg->nfam; i++)
		if (strcmp(reg->fam[i]->name, name) == 0)
			break;
	if (i < reg->nfam) {
		pthread_mutex_unlock(&reg->lock);
		goto fail;
	}
	if (reg->nfam == reg->cap) {
		size_t cap = reg->cap ? reg->cap * 2 : 16;
		struct metric **grown = realloc(reg->fam, cap * sizeof(*grown)); /* NOLINT(bugprone-sizeof-expression): an array of pointers */
		if (grown == NULL) {
			pthread_mutex_unlock(&reg->lock);
			goto fail;
		}
		reg->fam = grown;
		reg->cap = cap;
	}
	reg->fam[reg->nfam++] = f;
	pthread_mutex_unlock(&reg->lock);
	return f;
fail:
	family_free(f);
	return NULL;
}

struct metric *
metrics_counter(struct metrics *reg, const char *name, const char *help, const char *labels, size_t max_series)
{
	return family_new(reg, METRIC_COUNTER, name, help, labels, max_series, NULL, 0);
}

struct metric *
metrics_gauge(struct metrics *reg, const char *name, const char *help, const char *labels, size_t max_series)
{
	return family_new(reg, METRIC_GAUGE, name, help, labels, max_series, NULL, 0);
}

struct metric *
metrics_histogram(struct metrics *reg, const char *name, const char *help, const char *labels, size_t max_series,
    const double *bounds, size_t nbounds)
{
	return family_new(reg, METRIC_HISTOGRAM, name, help, labels, max_series, bounds, nbounds);
}

/* ---- series ------------------------------------------------------------------ */

static struct series *
series_new(const struct metric *f, const char *const *lv)
{
	struct series *s = calloc(1, sizeof(*s));
	size_t i;

	if (s == NULL)
		return NULL;
	for (i = 0; i < f->nlabels; i++)
		if ((s->lv[i] = strdup(lv[i] ? lv[i] : "")) == NULL)
			goto fail;
	if (f->type == METRIC_HISTOGRAM && (s->buckets = calloc(f->nbounds + 1, sizeof(*s->buckets))) == NULL)
		goto fail;
	return s;
fail:
	series_free(s);
	return NULL;
}

static int
same_values(const struct metric *f, const struct series *s, const char *const *lv)
{
	size_t i;

	for (i = 0; i < f->nlabels && i < METRIC_MAX_LABELS; i++)
		if (strcmp(s->lv[i], lv[i] ? lv[i] : "") != 0)
			return 0;
	return 1;
}

static struct series *
scan(const struct metric *f, const char *const *lv)
{
	size_t i;

	for (i = 0; i < f->nseries; i++)
		if (same_values(f, f->series[i], lv))
			return f->series[i];
	return NULL;
}

/* The series for lv, made when new; NULL only when memory ran out. */
static struct series *
series_of(struct metric *f, const char *const *lv)
{
	const char *others[METRIC_MAX_LABELS] = { other, other, other };
	struct series *s;

	if (f->nlabels == 0)
		return f->series[0];
	if (lv == NULL)
		lv = others;
	pthread_rwlock_rdlock(&f->lock);
	s = scan(f, lv);
	pthread_rwlock_unlock(&f->lock);
	if (s != NULL)
		return s;
	pthread_rwlock_wrlock(&f->lock);
	if ((s = scan(f, lv)) == NULL) {
		if (f->nseries >= f->max_series) {
			/* Past the cap: one series more, at most, for everything else. */
			lv = others;
			s = scan(f, lv);
		}
		if (s == NULL && f->nseries == f->cap) {
			size_t cap = f->cap ? f->cap * 2 : 8;
			struct series **grown = realloc(f->series, cap * sizeof(*grown)); /* NOLINT(bugprone-sizeof-expression): an array of pointers */
			if (grown != NULL) {
				f->series = grown;
				f->cap = cap;
			}
		}
		if (s == NULL && f->nseries < f->cap && (s = series_new(f, lv)) != NULL)
			f->series[f->nseries++] = s;
	}
	pthread_rwlock_unlock(&f->lock);
	return s;
}

void
metric_add(struct metric *f, const char *const *lv, uint64_t n)
{
	struct series *s;

	if (f == NULL || f->type != METRIC_COUNTER || (s = series_of(f, lv)) == NULL)
		return;
	__atomic_add_fetch(&s->value, n, __ATOMIC_RELAXED);
}

void
metric_inc(struct metric *f, const char *const *lv)
{
	metric_add(f, lv, 1);
}

void
metric_touch(struct metric *f, const char *const *lv)
{
	if (f != NULL)
		(void)series_of(f, lv);
}

void
metric_clear(struct metric *f)
{
	size_t i;

	if (f == NULL || f->nlabels == 0)
		return;
	pthread_rwlock_wrlock(&f->lock);
	for (i = 0; i < f->nseries; i++)
		series_free(f->series[i]);
	f->nseries = 0;
	pthread_rwlock_unlock(&f->lock);
}

void
metric_set(struct metric *f, const char *const *lv, double v)
{
	struct series *s;

	if (f == NULL || f->type != METRIC_GAUGE || (s = series_of(f, lv)) == NULL)
		return;
	__atomic_store_n(&s->value, bits_of(v), __ATOMIC_RELAXED);
}

void
metric_gauge_add(struct metric *f, const char *const *lv, double d)
{
	struct series *s;

	if (f == NULL || f->type != METRIC_GAUGE || (s = series_of(f, lv)) == NULL)
		return;
	atomic_add_double(&s->value, d);
}

void
metric_observe(struct metric *f, const char *const *lv, double v)
{
	struct series *s;
	size_t i;

	if (f == NULL || f->type != METRIC_HISTOGRAM || isnan(v) || (s = series_of(f, lv)) == NULL)
		return;
	for (i = 0; i < f->nbounds && v > f->bounds[i]; i++)
		;
	/* The sum first: a scrape in between sees the sum ahead of the count, never a count without it. */
	atomic_add_double(&s->sum, v);
	__atomic_add_fetch(&s->buckets[i], 1, __ATOMIC_RELAXED);
}

static uint64_t
hist_count(const struct metric *f, const struct series *s)
{
	uint64_t n = 0;
	size_t i;

	for (i = 0; i <= f->nbounds; i++)
		n += __atomic_load_n(&s->buckets[i], __ATOMIC_RELAXED);
	return n;
}

double
metric_value(struct metric *f, const char *const *lv)
{
	const char *none[METRIC_MAX_LABELS] = { "", "", "" };
	const struct series *s;
	double v = 0;

	if (f == NULL)
		return 0;
	pthread_rwlock_rdlock(&f->lock);
	s = f->nlabels == 0 ? f->series[0] : scan(f, lv ? lv : none);
	if (s != NULL)
		v = f->type == METRIC_COUNTER ? (double)__atomic_load_n(&s->value, __ATOMIC_RELAXED)
		    : f->type == METRIC_GAUGE ? double_of(__atomic_load_n(&s->value, __ATOMIC_RELAXED))
		    : (double)hist_count(f, s);
	pthread_rwlock_unlock(&f->lock);
	return v;
}

/* ---- rendering --------------------------------------------------------------- */

/* The shortest text that reads back as the same double (a whole number
 * as one); +Inf, -Inf, NaN. */
static void
add_double(struct sbuf *b, double v)
{
	char num[40];
	int prec;

	if (isnan(v)) {
		sbuf_adds(b, "NaN");
		return;
	}
	if (isinf(v)) {
		sbuf_adds(b, v > 0 ? "+Inf" : "-Inf");
		return;
	}
	if (v == floor(v) && fabs(v) < 1e15) {
		/* A whole number, as a whole number (80000, not 8e+04). */
		snprintf(num, sizeof(num), "%.0f", v);
		sbuf_adds(b, num);
		return;
	}
	for (prec = 1; prec <= 17; prec++) {
		snprintf(num, sizeof(num), "%.*g", prec, v);
		if (strtod(num, NULL) == v)
			break;
	}
	sbuf_adds(b, num);
}

/* HELP text: backslash and line feed escaped. */
static void
add_help(struct sbuf *b, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			sbuf_adds(b, "\\\\");
		else if (*s == '\n')
			sbuf_adds(b, "\\n");
		else
			sbuf_addc(b, *s);
	}
}

/* A label value: backslash, double quote and line feed escaped, each byte
 * of invalid UTF-8 made '?'. */
static void
add_label_value(struct sbuf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s), used;

	while (n > 0) {
		if (*p == '\\')
			sbuf_adds(b, "\\\\");
		else if (*p == '"')
			sbuf_adds(b, "\\\"");
		else if (*p == '\n')
			sbuf_adds(b, "\\n");
		else if (*p < 0x80)
			sbuf_addc(b, (char)*p);
		else if (utf8_next(p, n, &used) < 0)
			sbuf_addc(b, '?');
		else {
			sbuf_add(b, p, used);
			p += used;
			n -= used;
			continue;
		}
		p++;
		n--;
	}
}

/* {a="x",b="y"[,le="BOUND"]}, or nothing without labels. le_bound: NULL, or the bound. */
static void
add_labels(struct sbuf *b, const struct metric *f, const struct series *s, const double *le)
{
	size_t i;

	if (f->nlabels == 0 && le == NULL)
		return;
	sbuf_addc(b, '{');
	for (i = 0; i < f->nlabels; i++) {
		sbuf_printf(b, "%s%s=\"", i ? "," : "", f->labels[i]);
		add_label_value(b, s->lv[i]);
		sbuf_addc(b, '"');
	}
	if (le != NULL) {
		sbuf_printf(b, "%sle=\"", f->nlabels ? "," : "");
		add_double(b, *le);
		sbuf_addc(b, '"');
	}
	sbuf_addc(b, '}');
}

static void
render_family(struct sbuf *b, struct metric *f)
{
	static const char *const type_names[] = { "counter", "gauge", "histogram" };
	const double inf = INFINITY;
	size_t i, j;

	sbuf_printf(b, "# HELP %s ", f->name);
	add_help(b, f->help);
	sbuf_printf(b, "\n# TYPE %s %s\n", f->name, type_names[f->type]);
	pthread_rwlock_rdlock(&f->lock);
	for (i = 0; i < f->nseries; i++) {
		const struct series *s = f->series[i];
		if (f->type != METRIC_HISTOGRAM) {
			uint64_t v = __atomic_load_n(&s->value, __ATOMIC_RELAXED);
			sbuf_adds(b, f->name);
			add_labels(b, f, s, NULL);
			if (f->type == METRIC_COUNTER)
				sbuf_printf(b, " %llu\n", (unsigned long long)v);
			else {
				sbuf_addc(b, ' ');
				add_double(b, double_of(v));
				sbuf_addc(b, '\n');
			}
			continue;
		} else {
			uint64_t counts[METRIC_MAX_BUCKETS + 1], cum = 0;
			/* The sum before the counts (observe() adds it first): never a count without its sum. */
			double sum = double_of(__atomic_load_n(&s->sum, __ATOMIC_RELAXED));
			for (j = 0; j <= f->nbounds; j++)
				counts[j] = __atomic_load_n(&s->buckets[j], __ATOMIC_RELAXED);
			for (j = 0; j <= f->nbounds; j++) {
				cum += counts[j];
				sbuf_printf(b, "%s_bucket", f->name);
				add_labels(b, f, s, j < f->nbounds ? &f->bounds[j] : &inf);
				sbuf_printf(b, " %llu\n", (unsigned long long)cum);
			}
			sbuf_printf(b, "%s_sum", f->name);
			add_labels(b, f, s, NULL);
			sbuf_addc(b, ' ');
			add_double(b, sum);
			sbuf_printf(b, "\n%s_count", f->name);
			add_labels(b, f, s, NULL);
			sbuf_printf(b, " %llu\n", (unsigned long long)cum);
		}
	}
	pthread_rwlock_unlock(&f->lock);
}

char *
metrics_render(struct metrics *reg, size_t *len)
{
	struct collector coll[METRIC_MAX_COLLECTORS];
	struct sbuf b;
	size_t i, ncoll, n;
	char *out;

	if (reg == NULL)
		return NULL;
	pthread_mutex_lock(&reg->lock);
	ncoll = reg->ncoll;
	memcpy(coll, reg->coll, sizeof(coll));
	pthread_mutex_unlock(&reg->lock);
	for (i = 0; i < ncoll; i++)
		coll[i].fn(coll[i].arg);
	sbuf_init(&b, 0);
	pthread_mutex_lock(&reg->lock);
	n = reg->nfam;
	for (i = 0; i < n; i++)
		render_family(&b, reg->fam[i]);
	pthread_mutex_unlock(&reg->lock);
	*len = b.len;
	out = sbuf_steal(&b);
	if (out == NULL)
		*len = 0;
	return out;
}
