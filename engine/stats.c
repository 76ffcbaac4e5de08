/*
 * stats.c - sealmilter's metric families, and what each message adds:
 *
 *   sealmilter_messages_total{direction,verdict}   every message's end
 *   sealmilter_rules_fired_total{rule}              each rule that fired
 *   sealmilter_sealed_total, _smime_encrypted_total, _smime_signed_total,
 *   _dkim_signed_total, _decrypted_total, _split_copies_total
 *                                                   what was done to the mail delivered
 *   sealmilter_dkim_results_total{result}           each signature checked (none: unsigned)
 *   sealmilter_tempfails_total{cause}, _rejects_total{cause},
 *   _errors_accepted_total{cause}                   why a message was not simply accepted
 *   sealmilter_processing_seconds                   the work at end of message (histogram)
 *   sealmilter_config_reloads_total{result}, _certificate_expiry_timestamp_seconds{kind,name},
 *   sealmilter_build_info{version}, process_start_time_seconds
 *
 * Calling rules: seal_stats_new() once; the recording functions from any
 * thread; seal_stats_certificates() from one thread at a time (start-up,
 * then the reload thread).
 * Untrusted input: none reaches a label. Directions, verdicts, causes and
 * DKIM results are fixed sets; rule, identity and tenant names come from
 * the configuration (capped at 512 and 256 series all the same).
 */
#include "build-config.h"

#include <stdlib.h>
#include <time.h>

#include "dkim/dkim.h"
#include "engine/stats.h"
#include "rules/config.h"
#include "rules/policy.h"
#include "seal/certcheck.h"

struct seal_stats {
	struct metric *messages, *rules, *sealed, *encrypted, *signed_, *dkim_signed, *decrypted, *copies;
	struct metric *dkim, *tempfails, *rejects, *errors_accepted, *seconds, *reloads, *certs, *start;
};

/* Seconds: from a millisecond to a minute (the MTA's end-of-message timeout is longer). */
static const double latency_bounds[] = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
	60 };

static const char *const directions[] = { "inbound", "outbound", "internal" };
static const char *const verdicts[] = { "accept", "reject", "tempfail" };

struct seal_stats *
seal_stats_new(struct metrics *reg, const char *version)
{
	struct seal_stats *st = calloc(1, sizeof(*st));
	struct metric *info, *start;
	size_t i, j;
	int r;

	if (st == NULL)
		return NULL;
	st->messages = metrics_counter(reg, "sealmilter_messages_total",
	    "Messages at their end, by direction (inbound, outbound, internal) and verdict (accept, reject, tempfail).",
	    "direction,verdict", 16);
	st->rules = metrics_counter(reg, "sealmilter_rules_fired_total", "Rules that fired, by rule name.", "rule", 512);
	st->sealed = metrics_counter(reg, "sealmilter_sealed_total",
	    "Sealed objects (message.sealed) in mail accepted, the copies of split messages included.", NULL, 0);
	st->encrypted = metrics_counter(reg, "sealmilter_smime_encrypted_total",
	    "Messages S/MIME-encrypted instead of sealed (prefer_smime), copies included.", NULL, 0);
	st->signed_ = metrics_counter(reg, "sealmilter_smime_signed_total", "Messages S/MIME-signed, copies included.",
	    NULL, 0);
	st->dkim_signed = metrics_counter(reg, "sealmilter_dkim_signed_total", "DKIM signatures added, copies included.",
	    NULL, 0);
	st->decrypted = metrics_counter(reg, "sealmilter_decrypted_total",
	    "Sealed messages decrypted for their recipients (decrypt action).", NULL, 0);
	st->copies = metrics_counter(reg, "sealmilter_split_copies_total",
	    "Copies of split messages handed back to the MTA (milter.submit_url).", NULL, 0);
	st->dkim = metrics_counter(reg, "sealmilter_dkim_results_total",
	    "DKIM verification results of inbound mail, one per signature checked; none: a message without one.",
	    "result", 16);
	st->tempfails = metrics_counter(reg, "sealmilter_tempfails_total", "Messages deferred (4xx), by cause.", "cause",
	    CAUSE_COUNT + 1);
	st->rejects = metrics_counter(reg, "sealmilter_rejects_total", "Messages refused (5xx), by cause (rule, limit).",
	    "cause", CAUSE_COUNT + 1);
	st->errors_accepted = metrics_counter(reg, "sealmilter_errors_accepted_total",
	    "Messages delivered unchanged after an error because milter.on_error is accept, by cause.", "cause",
	    CAUSE_COUNT + 1);
	st->seconds = metrics_histogram(reg, "sealmilter_processing_seconds",
	    "Time from the end of a message to sealmilter's verdict: waiting for DKIM keys, sealing, signing, handing "
	    "over copies (not the transfer of the edits to the MTA).", NULL, 0, latency_bounds, sizeof(latency_bounds) / sizeof(latency_bounds[0]));
	st->reloads = metrics_counter(reg, "sealmilter_config_reloads_total",
	    "Configuration reloads (SIGHUP) by result: ok, or failed (the previous configuration stays).", "result", 4);
	st->certs = metrics_gauge(reg, "sealmilter_certificate_expiry_timestamp_seconds",
	    "When each certificate of the configuration in use expires (Unix time), by kind (signing, tenant, issuer) "
	    "and name.", "kind,name", 256);
	info = metrics_gauge(reg, "sealmilter_build_info", "Always 1; the version in its label.", "version", 1);
	start = st->start = metrics_gauge(reg, "process_start_time_seconds", "When the serving process started (Unix time).",
	    NULL, 0);
	if (st->messages == NULL || st->rules == NULL || st->sealed == NULL || st->encrypted == NULL ||
	    st->signed_ == NULL || st->dkim_signed == NULL || st->decrypted == NULL || st->copies == NULL ||
	    st->dkim == NULL || st->tempfails == NULL || st->rejects == NULL || st->errors_accepted == NULL ||
	    st->seconds == NULL || st->reloads == NULL || st->certs == NULL || info == NULL || start == NULL) {
		free(st);
		return NULL;
	}
	metric_set(info, METRIC_LV(version), 1);
	metric_set(start, NULL, (double)time(NULL));
	/* Every fixed series from the start, at 0: a rate over them works from the first scrape. */
	for (i = 0; i < 3; i++)
		for (j = 0; j < 3; j++)
			metric_touch(st->messages, METRIC_LV(directions[i], verdicts[j]));
	for (r = DKIM_NONE; r <= DKIM_PERMERROR; r++)
		metric_touch(st->dkim, METRIC_LV(dkim_result_name(r)));
	for (r = CAUSE_RULE; r < CAUSE_COUNT; r++)
		if (r != CAUSE_LIMIT)
			metric_touch(st->tempfails, METRIC_LV(seal_cause_name(r)));
	metric_touch(st->rejects, METRIC_LV(seal_cause_name(CAUSE_RULE)));
	metric_touch(st->rejects, METRIC_LV(seal_cause_name(CAUSE_LIMIT)));
	metric_touch(st->reloads, METRIC_LV("ok"));
	metric_touch(st->reloads, METRIC_LV("failed"));
	return st;
}

void
seal_stats_free(struct seal_stats *st)
{
	free(st);
}

void
seal_stats_message(struct seal_stats *st, const struct seal_result *r)
{
	const char *dir, *verdict;
	size_t i;

	if (st == NULL || r == NULL)
		return;
	dir = r->direction == DIR_INBOUND ? "inbound" : r->internal ? "internal" : "outbound";
	verdict = r->verdict == VERDICT_ACCEPT ? "accept" : r->verdict == VERDICT_REJECT ? "reject" : "tempfail";
	metric_inc(st->messages, METRIC_LV(dir, verdict));
	for (i = 0; i < r->decision.nfired; i++)
		metric_inc(st->rules, METRIC_LV(r->decision.fired[i].rule->name));
	if (r->dkim_checked && r->ndkim == 0)
		metric_inc(st->dkim, METRIC_LV("none"));
	for (i = 0; i < r->ndkim; i++)
		metric_inc(st->dkim, METRIC_LV(dkim_result_name(r->dkim[i].result)));
	metric_add(st->sealed, NULL, r->nsealed);
	metric_add(st->encrypted, NULL, r->nencrypted);
	metric_add(st->signed_, NULL, r->nsigned);
	metric_add(st->dkim_signed, NULL, r->ndkim_signed);
	metric_add(st->decrypted, NULL, r->decrypted ? 1 : 0);
	if (r->verdict == VERDICT_ACCEPT)
		metric_add(st->copies, NULL, r->ncopies);
	if (r->verdict == VERDICT_TEMPFAIL)
		metric_inc(st->tempfails, METRIC_LV(seal_cause_name(r->cause ? r->cause : CAUSE_INTERNAL)));
	else if (r->verdict == VERDICT_REJECT)
		metric_inc(st->rejects, METRIC_LV(seal_cause_name(r->cause ? r->cause : CAUSE_RULE)));
	else if (r->cause != CAUSE_NONE)
		metric_inc(st->errors_accepted, METRIC_LV(seal_cause_name(r->cause)));
	metric_observe(st->seconds, NULL, r->seconds);
}

void
seal_stats_tempfail(struct seal_stats *st, int cause)
{
	if (st != NULL)
		metric_inc(st->tempfails, METRIC_LV(seal_cause_name(cause)));
}

void
seal_stats_started(struct seal_stats *st)
{
	if (st != NULL)
		metric_set(st->start, NULL, (double)time(NULL));
}

void
seal_stats_reload(struct seal_stats *st, int ok)
{
	if (st != NULL)
		metric_inc(st->reloads, METRIC_LV(ok ? "ok" : "failed"));
}

static void
one_cert(void *arg, const char *kind, const char *name, time_t not_after)
{
	metric_set(arg, METRIC_LV(kind, name), (double)not_after);
}

void
seal_stats_certificates(struct seal_stats *st, const struct seal_config *cfg)
{
	if (st == NULL || cfg == NULL)
		return;
	/* A reload may drop or rename a certificate: the old series go. */
	metric_clear(st->certs);
	cert_each(cfg, one_cert, st->certs);
}
