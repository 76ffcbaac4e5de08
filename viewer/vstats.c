/*
 * vstats.c - sealview's metric families:
 *
 *   sealview_passcodes_sent_total, sealview_passcode_mail_failures_total
 *   sealview_passcode_failures_total{reason}   wrong, locked, no_passcode, malformed, rate_limited, bad_form
 *   sealview_signins_total, sealview_views_total
 *   sealview_events_total{event,outcome}       every audited event
 *   sealview_http_responses_total{code}        1xx ... 5xx
 *   sealview_active_sessions                   live sessions in the store (all nodes), read at each scrape
 *   sealview_store_seconds{op}                 each call into the store (histogram)
 *   sealview_build_info{version}, process_start_time_seconds
 *
 * Calling rules: view_stats_new() once, before the store is shared; the
 * rest from any thread. The session count runs in the registry's collector,
 * that is in the thread rendering the metrics.
 * Untrusted input: none reaches a label. Events, outcomes and reasons are
 * the literals of viewer/app.c (capped at 128 series all the same), the
 * store's op names are the code's, and a status is reduced to its class.
 */
#include "build-config.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/metrics.h"
#include "viewer/store.h"
#include "viewer/vstats.h"

struct view_stats {
	struct metric *sent, *mail_failed, *failed, *signins, *views, *events, *responses, *sessions, *store;
	struct vstore *st;
	int64_t idle;
};

/* Seconds: a cached read to a PostgreSQL across a slow network. */
static const double store_bounds[] = { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5 };

static void
collect_sessions(void *arg)
{
	struct view_stats *vs = arg;
	char *err = NULL;
	long n = vstore_count_sessions(vs->st, (int64_t)time(NULL), vs->idle, &err);

	if (n >= 0) {
		metric_set(vs->sessions, NULL, (double)n);
	} else {
		/* The store did not answer: the gauge keeps its last value, the log says why. */
		seal_warn("metrics: %s", err ? err : "cannot count the sessions");
		free(err);
	}
}

struct view_stats *
view_stats_new(struct metrics *reg, struct vstore *st, int64_t idle, const char *version)
{
	static const char *const reasons[] = { "wrong", "locked", "no_passcode", "malformed", "rate_limited", "bad_form" };
	static const char *const classes[] = { "1xx", "2xx", "3xx", "4xx", "5xx" };
	struct view_stats *vs = calloc(1, sizeof(*vs));
	struct metric *info, *start;
	size_t i;

	if (vs == NULL)
		return NULL;
	vs->st = st;
	vs->idle = idle;
	vs->sent = metrics_counter(reg, "sealview_passcodes_sent_total", "Passcode mails the MTA took.", NULL, 0);
	vs->mail_failed = metrics_counter(reg, "sealview_passcode_mail_failures_total",
	    "Passcode mails the MTA did not take (sealview.smtp).", NULL, 0);
	vs->failed = metrics_counter(reg, "sealview_passcode_failures_total",
	    "Passcode tries that did not sign in, by reason: wrong, locked (after 5 wrong), no_passcode, malformed, "
	    "rate_limited, bad_form.", "reason", 16);
	vs->signins = metrics_counter(reg, "sealview_signins_total", "Passcodes that signed a reader in.", NULL, 0);
	vs->views = metrics_counter(reg, "sealview_views_total", "Messages shown to a signed-in reader.", NULL, 0);
	vs->events = metrics_counter(reg, "sealview_events_total",
	    "Every audited event (docs/viewer.md) by event and outcome.", "event,outcome", 128);
	vs->responses = metrics_counter(reg, "sealview_http_responses_total",
	    "Responses on sealview.listen, by status class.", "code", 8);
	vs->sessions = metrics_gauge(reg, "sealview_active_sessions",
	    "Readers' sessions used within sealview.session_idle, in the store (every node's).", NULL, 0);
	vs->store = metrics_histogram(reg, "sealview_store_seconds", "Time of each call into the store, by operation.",
	    "op", 32, store_bounds, sizeof(store_bounds) / sizeof(store_bounds[0]));
	info = metrics_gauge(reg, "sealview_build_info", "Always 1; the version in its label.", "version", 1);
	start = metrics_gauge(reg, "process_start_time_seconds", "When the serving process started (Unix time).", NULL, 0);
	if (vs->sent == NULL || vs->mail_failed == NULL || vs->failed == NULL || vs->signins == NULL ||
	    vs->views == NULL || vs->events == NULL || vs->responses == NULL || vs->sessions == NULL ||
	    vs->store == NULL || info == NULL || start == NULL || metrics_on_collect(reg, collect_sessions, vs) != 0) {
		free(vs);
		return NULL;
	}
	metric_set(info, METRIC_LV(version), 1);
	metric_set(start, NULL, (double)time(NULL));
	for (i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		metric_touch(vs->failed, METRIC_LV(reasons[i]));
	for (i = 0; i < sizeof(classes) / sizeof(classes[0]); i++)
		metric_touch(vs->responses, METRIC_LV(classes[i]));
	vstore_observe(st, vs->store);
	return vs;
}

void
view_stats_free(struct view_stats *vs)
{
	if (vs == NULL)
		return;
	vstore_observe(vs->st, NULL);
	free(vs);
}

void
view_stats_event(struct view_stats *vs, const char *event, const char *outcome)
{
	if (vs == NULL || event == NULL || outcome == NULL)
		return;
	metric_inc(vs->events, METRIC_LV(event, outcome));
	if (strcmp(event, "passcode_mail") == 0)
		metric_inc(strcmp(outcome, "sent") == 0 ? vs->sent : vs->mail_failed, NULL);
	else if (strcmp(event, "passcode_fail") == 0)
		metric_inc(vs->failed, METRIC_LV(outcome));
	else if (strcmp(event, "passcode_ok") == 0 && strcmp(outcome, "ok") == 0)
		metric_inc(vs->signins, NULL);
	else if (strcmp(event, "view") == 0 && strcmp(outcome, "ok") == 0)
		metric_inc(vs->views, NULL);
}

void
view_stats_response(struct view_stats *vs, int status)
{
	static const char *const classes[] = { "1xx", "2xx", "3xx", "4xx", "5xx" };

	if (vs != NULL && status >= 100 && status <= 599)
		metric_inc(vs->responses, METRIC_LV(classes[status / 100 - 1]));
}
