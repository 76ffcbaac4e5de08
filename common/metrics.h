/* metrics.h - counters, gauges and histograms for an operator, rendered in
 * the Prometheus text exposition format (version 0.0.4). It knows nothing
 * of HTTP: a front end serves metrics_render()'s text on /metrics.
 *
 * A registry holds families (one name, one help text, one type, up to
 * METRIC_MAX_LABELS label names); a family holds series, one per set of
 * label values. Label values must come from small, fixed sets (a direction,
 * a result, a rule name from the configuration), never from mail or from a
 * request: a family refuses more than its max_series distinct sets, and
 * counts the rest under the values "_other". */
#ifndef SEAL_METRICS_H
#define SEAL_METRICS_H

#include <stddef.h>
#include <stdint.h>

#define METRIC_MAX_LABELS 3
#define METRIC_MAX_BUCKETS 32
#define METRIC_MAX_COLLECTORS 8

enum metric_type { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM };

struct metrics;
struct metric;

/* Label values, in the order of the family's label names. */
#define METRIC_LV(...) ((const char *const []){ __VA_ARGS__ })

struct metrics *metrics_new(void);
/* Only when no thread uses the registry or its families any more. */
void metrics_free(struct metrics *reg);

/* A family. name: [a-zA-Z_:][a-zA-Z0-9_:]* (a counter's ends in _total);
 * labels: NULL or "a,b" (each [a-zA-Z_][a-zA-Z0-9_]*, not starting with
 * "__"; "le" is taken by histograms); max_series >= 1 bounds the label sets
 * (ignored without labels); a histogram has 1 to METRIC_MAX_BUCKETS upper
 * bounds, strictly increasing (+Inf is implied). A family without labels
 * has its one series from the start, at 0. NULL when an argument is
 * invalid, the name is taken, or memory ran out: every call on a NULL
 * family is a no-op, so a caller need not check. */
struct metric *metrics_counter(struct metrics *reg, const char *name, const char *help, const char *labels,
    size_t max_series);
struct metric *metrics_gauge(struct metrics *reg, const char *name, const char *help, const char *labels,
    size_t max_series);
struct metric *metrics_histogram(struct metrics *reg, const char *name, const char *help, const char *labels,
    size_t max_series, const double *bounds, size_t nbounds);

/* Thread-safe, lock-free once a series exists (atomics); lv is NULL for a
 * family without labels, else exactly as many values as it has labels
 * (METRIC_LV("inbound", "accept")). A series that cannot be made (no
 * memory) loses the update. */
void metric_add(struct metric *f, const char *const *lv, uint64_t n);        /* counter */
void metric_inc(struct metric *f, const char *const *lv);                    /* counter: + 1 */
void metric_set(struct metric *f, const char *const *lv, double v);          /* gauge */
void metric_gauge_add(struct metric *f, const char *const *lv, double d);    /* gauge: + d (d may be negative) */
void metric_observe(struct metric *f, const char *const *lv, double v);      /* histogram */
/* Make the series exist (at 0) so that it is exported before its first event. */
void metric_touch(struct metric *f, const char *const *lv);
/* Remove every series (a gauge family that describes a configuration, made
 * again after a reload). Only for a family that a single thread updates:
 * another thread's update in flight would write to a freed series. */
void metric_clear(struct metric *f);

/* The current value of a counter or gauge series, or a histogram's count
 * (tests and sealctl); 0 when there is no such series. */
double metric_value(struct metric *f, const char *const *lv);

/* fn(arg) runs at the start of every metrics_render(), to refresh gauges
 * that are read rather than counted (a store's session count, uptime).
 * At most METRIC_MAX_COLLECTORS; 0, or -1 when full. Register before the
 * registry is rendered from another thread. */
int metrics_on_collect(struct metrics *reg, void (*fn)(void *arg), void *arg);

/* The whole registry as text/plain; version=0.0.4, families in the order
 * they were made, series in the order they appeared. malloc'd (*len its
 * length), NULL when memory ran out. Thread-safe. */
char *metrics_render(struct metrics *reg, size_t *len);

/* The Content-Type of the rendered text. */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#endif
