/*
 * test_metrics.c - common/metrics.c: the exposition text, byte for byte
 * (HELP and label escaping, invalid UTF-8, doubles, cumulative buckets);
 * the families it refuses; the cap on series; and exact totals when eight
 * threads count, observe and render at once.
 */
#include "build-config.h"

#include <math.h>
#include <pthread.h>

#include "common/metrics.h"
#include "testutil.h"

static void
expect_text(struct metrics *reg, const char *want)
{
	size_t len = 0;
	char *got = metrics_render(reg, &len);

	ck_assert_ptr_nonnull(got);
	ck_assert_uint_eq(len, strlen(got));
	ck_assert_msg(strcmp(got, want) == 0, "rendered:\n%s\nwant:\n%s", got, want);
	free(got);
}

START_TEST(test_render_exact)
{
	struct metrics *reg = metrics_new();
	const double b[] = { 0.005, 0.1, 1, 2.5 };
	struct metric *c = metrics_counter(reg, "x_messages_total", "Messages by direction.\nSecond \\ line.", NULL, 0);
	struct metric *l = metrics_counter(reg, "x_rules_total", "Rules fired.", "rule,why", 10);
	struct metric *g = metrics_gauge(reg, "x_temp", "A gauge.", NULL, 0);
	struct metric *h = metrics_histogram(reg, "x_seconds", "Latency.", "op", 4, b, 4);
	struct metric *e = metrics_counter(reg, "x_never_total", "No series yet.", "a", 4);

	ck_assert_ptr_nonnull(c);
	ck_assert_ptr_nonnull(l);
	ck_assert_ptr_nonnull(g);
	ck_assert_ptr_nonnull(h);
	ck_assert_ptr_nonnull(e);
	metric_add(c, NULL, 41);
	metric_inc(c, NULL);
	metric_inc(l, METRIC_LV("secure \"subject\"", "a\\b\nc"));
	metric_add(l, METRIC_LV("bad\xff\xc3 utf8 caf\xc3\xa9", ""), 3);
	metric_inc(l, METRIC_LV("secure \"subject\"", "a\\b\nc"));
	metric_set(g, NULL, 1.5);
	metric_gauge_add(g, NULL, -3.75);
	metric_observe(h, METRIC_LV("get"), 0.005);     /* on the bound: le is inclusive */
	metric_observe(h, METRIC_LV("get"), 0.05);
	metric_observe(h, METRIC_LV("get"), 7);
	metric_observe(h, METRIC_LV("put"), 0.001);
	metric_observe(h, METRIC_LV("put"), NAN);       /* ignored */
	expect_text(reg,
	    "# HELP x_messages_total Messages by direction.\\nSecond \\\\ line.\n"
	    "# TYPE x_messages_total counter\n"
	    "x_messages_total 42\n"
	    "# HELP x_rules_total Rules fired.\n"
	    "# TYPE x_rules_total counter\n"
	    "x_rules_total{rule=\"secure \\\"subject\\\"\",why=\"a\\\\b\\nc\"} 2\n"
	    "x_rules_total{rule=\"bad?? utf8 caf\xc3\xa9\",why=\"\"} 3\n"
	    "# HELP x_temp A gauge.\n"
	    "# TYPE x_temp gauge\n"
	    "x_temp -2.25\n"
	    "# HELP x_seconds Latency.\n"
	    "# TYPE x_seconds histogram\n"
	    "x_seconds_bucket{op=\"get\",le=\"0.005\"} 1\n"
	    "x_seconds_bucket{op=\"get\",le=\"0.1\"} 2\n"
	    "x_seconds_bucket{op=\"get\",le=\"1\"} 2\n"
	    "x_seconds_bucket{op=\"get\",le=\"2.5\"} 2\n"
	    "x_seconds_bucket{op=\"get\",le=\"+Inf\"} 3\n"
	    "x_seconds_sum{op=\"get\"} 7.055\n"
	    "x_seconds_count{op=\"get\"} 3\n"
	    "x_seconds_bucket{op=\"put\",le=\"0.005\"} 1\n"
	    "x_seconds_bucket{op=\"put\",le=\"0.1\"} 1\n"
	    "x_seconds_bucket{op=\"put\",le=\"1\"} 1\n"
	    "x_seconds_bucket{op=\"put\",le=\"2.5\"} 1\n"
	    "x_seconds_bucket{op=\"put\",le=\"+Inf\"} 1\n"
	    "x_seconds_sum{op=\"put\"} 0.001\n"
	    "x_seconds_count{op=\"put\"} 1\n"
	    "# HELP x_never_total No series yet.\n"
	    "# TYPE x_never_total counter\n");
	ck_assert(metric_value(c, NULL) == 42);
	ck_assert(metric_value(l, METRIC_LV("secure \"subject\"", "a\\b\nc")) == 2);
	ck_assert(metric_value(h, METRIC_LV("get")) == 3);
	ck_assert(metric_value(h, METRIC_LV("nothing")) == 0);
	metrics_free(reg);
}
END_TEST

START_TEST(test_special_gauges)
{
	struct metrics *reg = metrics_new();
	struct metric *g = metrics_gauge(reg, "g", "G.", "k", 8);

	metric_set(g, METRIC_LV("inf"), INFINITY);
	metric_set(g, METRIC_LV("ninf"), -INFINITY);
	metric_set(g, METRIC_LV("nan"), NAN);
	metric_set(g, METRIC_LV("big"), 1e300);
	metric_set(g, METRIC_LV("third"), 1.0 / 3);
	metric_touch(g, METRIC_LV("zero"));
	expect_text(reg, "# HELP g G.\n# TYPE g gauge\n"
	    "g{k=\"inf\"} +Inf\ng{k=\"ninf\"} -Inf\ng{k=\"nan\"} NaN\ng{k=\"big\"} 1e+300\n"
	    "g{k=\"third\"} 0.3333333333333333\ng{k=\"zero\"} 0\n");
	metrics_free(reg);
}
END_TEST

/* Families the format does not allow, and misuse, are refused or ignored. */
START_TEST(test_refused)
{
	struct metrics *reg = metrics_new();
	const double up[] = { 1, 2 }, down[] = { 2, 1 }, same[] = { 1, 1 }, inf[] = { 1, INFINITY };
	struct metric *c;

	ck_assert_ptr_nonnull(metrics_counter(reg, "ok_total", "ok", "a,b,c", 3));
	ck_assert_ptr_null(metrics_counter(reg, "ok_total", "taken", NULL, 0));
	ck_assert_ptr_null(metrics_counter(reg, "9starts_with_digit", "x", NULL, 0));
	ck_assert_ptr_null(metrics_counter(reg, "has-dash", "x", NULL, 0));
	ck_assert_ptr_null(metrics_counter(reg, "", "x", NULL, 0));
	ck_assert_ptr_null(metrics_counter(reg, "x1", NULL, NULL, 0));
	ck_assert_ptr_null(metrics_counter(reg, "x2", "x", "a,b,c,d", 3));      /* too many labels */
	ck_assert_ptr_null(metrics_counter(reg, "x3", "x", "a:b", 3));          /* no colon in label names */
	ck_assert_ptr_null(metrics_counter(reg, "x4", "x", "__reserved", 3));
	ck_assert_ptr_null(metrics_counter(reg, "x5", "x", "a,a", 3));
	ck_assert_ptr_null(metrics_counter(reg, "x6", "x", "a,", 3));
	ck_assert_ptr_null(metrics_counter(reg, "x7", "x", ",a", 3));
	ck_assert_ptr_null(metrics_histogram(reg, "h1", "x", "le", 3, up, 2));
	ck_assert_ptr_null(metrics_histogram(reg, "h2", "x", NULL, 3, down, 2));
	ck_assert_ptr_null(metrics_histogram(reg, "h3", "x", NULL, 3, same, 2));
	ck_assert_ptr_null(metrics_histogram(reg, "h4", "x", NULL, 3, inf, 2));
	ck_assert_ptr_null(metrics_histogram(reg, "h5", "x", NULL, 3, up, 0));
	ck_assert_ptr_nonnull(metrics_histogram(reg, "name:with_colon", "x", "", 3, up, 2));
	/* Calls on a refused (NULL) family, and of the wrong kind, do nothing. */
	metric_inc(NULL, NULL);
	metric_observe(NULL, NULL, 1);
	metric_set(NULL, NULL, 1);
	c = metrics_counter(reg, "c_total", "c", NULL, 0);
	metric_set(c, NULL, 5);
	metric_observe(c, NULL, 5);
	ck_assert(metric_value(c, NULL) == 0);
	metrics_free(reg);
}
END_TEST

/* Past max_series, new label sets are counted under "_other". */
START_TEST(test_series_cap)
{
	struct metrics *reg = metrics_new();
	struct metric *c = metrics_counter(reg, "rules_total", "r", "rule", 2);
	char name[16];
	int i;

	for (i = 0; i < 50; i++) {
		snprintf(name, sizeof(name), "r%d", i);
		metric_inc(c, METRIC_LV(name));
	}
	metric_inc(c, METRIC_LV("r0"));
	expect_text(reg, "# HELP rules_total r\n# TYPE rules_total counter\n"
	    "rules_total{rule=\"r0\"} 2\nrules_total{rule=\"r1\"} 1\nrules_total{rule=\"_other\"} 48\n");
	metrics_free(reg);
}
END_TEST

/* ---- eight threads at once --------------------------------------------------- */

#define THREADS 8
#define ROUNDS 20000

struct shared {
	struct metrics *reg;
	struct metric *c, *l, *h, *g;
	int stop;
	int bad_render;
};

static void *
worker(void *arg)
{
	struct shared *sh = arg;
	static const char *const dirs[] = { "inbound", "outbound", "internal", "new-a", "new-b" };
	int i;

	for (i = 0; i < ROUNDS; i++) {
		metric_inc(sh->c, NULL);
		metric_inc(sh->l, METRIC_LV(dirs[i % 5]));
		metric_observe(sh->h, METRIC_LV(i % 2 ? "odd" : "even"), (double)(i % 4));   /* 0, 1, 2, 3 */
		metric_gauge_add(sh->g, NULL, 1);
	}
	return NULL;
}

/* Every rendering taken while the workers run: each histogram's buckets
 * never decrease, and its count is its +Inf bucket. */
static void *
renderer(void *arg)
{
	struct shared *sh = arg;

	while (!__atomic_load_n(&sh->stop, __ATOMIC_ACQUIRE)) {
		size_t len;
		char *t = metrics_render(sh->reg, &len), *line, *save = NULL;
		unsigned long long last = 0, inf = 0, count;
		ck_assert_ptr_nonnull(t);
		for (line = strtok_r(t, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
			unsigned long long v;
			const char *sp = strrchr(line, ' ');
			if (strncmp(line, "h_seconds_bucket", 16) == 0) {
				v = strtoull(sp + 1, NULL, 10);
				if (strstr(line, "le=\"0\"") != NULL)
					last = 0;
				if (v < last)
					__atomic_store_n(&sh->bad_render, 1, __ATOMIC_RELEASE);
				last = v;
				if (strstr(line, "le=\"+Inf\"") != NULL)
					inf = v;
			} else if (strncmp(line, "h_seconds_count", 15) == 0) {
				count = strtoull(sp + 1, NULL, 10);
				if (count != inf)
					__atomic_store_n(&sh->bad_render, 1, __ATOMIC_RELEASE);
			}
		}
		free(t);
	}
	return NULL;
}

START_TEST(test_threads)
{
	struct shared sh;
	const double b[] = { 0, 1, 2 };
	pthread_t t[THREADS], r;
	int i;

	memset(&sh, 0, sizeof(sh));
	sh.reg = metrics_new();
	sh.c = metrics_counter(sh.reg, "c_total", "c", NULL, 0);
	sh.l = metrics_counter(sh.reg, "l_total", "l", "dir", 4);
	sh.h = metrics_histogram(sh.reg, "h_seconds", "h", "parity", 4, b, 3);
	sh.g = metrics_gauge(sh.reg, "g", "g", NULL, 0);
	ck_assert_int_eq(pthread_create(&r, NULL, renderer, &sh), 0);
	for (i = 0; i < THREADS; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, worker, &sh), 0);
	for (i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	__atomic_store_n(&sh.stop, 1, __ATOMIC_RELEASE);
	pthread_join(r, NULL);
	ck_assert_msg(!sh.bad_render, "a rendering taken during the updates was inconsistent");
	ck_assert(metric_value(sh.c, NULL) == THREADS * ROUNDS);
	ck_assert(metric_value(sh.g, NULL) == THREADS * ROUNDS);
	/* Five directions, four series at most: the fifth went to _other. */
	ck_assert(metric_value(sh.l, METRIC_LV("inbound")) == (double)(THREADS * ROUNDS) / 5);
	ck_assert(metric_value(sh.l, METRIC_LV("outbound")) == (double)(THREADS * ROUNDS) / 5);
	ck_assert(metric_value(sh.l, METRIC_LV("_other")) == (double)(THREADS * ROUNDS) / 5);
	ck_assert(metric_value(sh.h, METRIC_LV("even")) == (double)(THREADS * ROUNDS) / 2);
	ck_assert(metric_value(sh.h, METRIC_LV("odd")) == (double)(THREADS * ROUNDS) / 2);
	{
		/* even rounds observe 0 and 2, odd ones 1 and 3: the sums are exact in binary. */
		char want[512];
		size_t len;
		char *t2 = metrics_render(sh.reg, &len);
		unsigned long long q = THREADS * ROUNDS / 4;
		ck_assert_ptr_nonnull(t2);
		snprintf(want, sizeof(want),
		    "h_seconds_bucket{parity=\"even\",le=\"0\"} %llu\nh_seconds_bucket{parity=\"even\",le=\"1\"} %llu\n"
		    "h_seconds_bucket{parity=\"even\",le=\"2\"} %llu\nh_seconds_bucket{parity=\"even\",le=\"+Inf\"} %llu\n"
		    "h_seconds_sum{parity=\"even\"} %llu\nh_seconds_count{parity=\"even\"} %llu\n",
		    q, q, 2 * q, 2 * q, 2 * q, 2 * q);
		ck_assert_msg(strstr(t2, want) != NULL, "got:\n%s\nwant in it:\n%s", t2, want);
		free(t2);
	}
	metrics_free(sh.reg);
}
END_TEST

/* A collector runs before each rendering. */
static void
collect(void *arg)
{
	metric_set(arg, NULL, 7);
}

START_TEST(test_collector)
{
	struct metrics *reg = metrics_new();
	struct metric *g = metrics_gauge(reg, "sessions", "Open sessions.", NULL, 0);
	int i;

	for (i = 0; i < METRIC_MAX_COLLECTORS; i++)
		ck_assert_int_eq(metrics_on_collect(reg, collect, g), 0);
	ck_assert_int_eq(metrics_on_collect(reg, collect, g), -1);
	expect_text(reg, "# HELP sessions Open sessions.\n# TYPE sessions gauge\nsessions 7\n");
	metrics_free(reg);
}
END_TEST

/* A family made again (a configuration's certificates after a reload). */
START_TEST(test_clear)
{
	struct metrics *reg = metrics_new();
	struct metric *g = metrics_gauge(reg, "cert_expiry", "E.", "name", 8);

	metric_set(g, METRIC_LV("old"), 1);
	metric_clear(g);
	metric_set(g, METRIC_LV("new"), 2);
	expect_text(reg, "# HELP cert_expiry E.\n# TYPE cert_expiry gauge\ncert_expiry{name=\"new\"} 2\n");
	metrics_free(reg);
}
END_TEST

static Suite *
metrics_suite(void)
{
	Suite *su = suite_create("metrics");
	TCase *tc = tcase_create("metrics");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_render_exact);
	tcase_add_test(tc, test_special_gauges);
	tcase_add_test(tc, test_refused);
	tcase_add_test(tc, test_series_cap);
	tcase_add_test(tc, test_threads);
	tcase_add_test(tc, test_collector);
	tcase_add_test(tc, test_clear);
	suite_add_tcase(su, tc);
	return su;
}

int
main(void)
{
	return tu_run_suite(metrics_suite());
}
