/* stats.h - sealmilter's metrics: the families (docs/operations.md lists
 * them) and what one message's result adds to them. The daemon serves the
 * registry on milter.metrics_listen; this knows nothing of HTTP or
 * libmilter. */
#ifndef SEAL_STATS_H
#define SEAL_STATS_H

#include "common/metrics.h"
#include "engine/session.h"

struct seal_config;
struct seal_stats;

/* Make the families in reg (which must outlive the result). NULL when
 * memory ran out. version: the build's, for sealmilter_build_info. */
struct seal_stats *seal_stats_new(struct metrics *reg, const char *version);
void seal_stats_free(struct seal_stats *st);

/* A message's end (after eom, or seal_session_defer): its direction and
 * verdict, the rules that fired, the DKIM results, what was sealed and
 * signed, a tempfail's or reject's cause, and the time taken. st may be
 * NULL (no-op). Thread-safe. */
void seal_stats_message(struct seal_stats *st, const struct seal_result *r);
/* A tempfail with no result to show for it: the message could not even be
 * started (no configuration, no memory at MAIL). */
void seal_stats_tempfail(struct seal_stats *st, int cause);
/* The serving process (a new worker) starts now: process_start_time_seconds. */
void seal_stats_started(struct seal_stats *st);
/* A configuration reload: ok 1 when it took effect. */
void seal_stats_reload(struct seal_stats *st, int ok);
/* The certificates of the configuration in use (signing identities, tenant
 * and issuer), each one's end of validity. Call at start and after each
 * reload, from one thread at a time. */
void seal_stats_certificates(struct seal_stats *st, const struct seal_config *cfg);

#endif
