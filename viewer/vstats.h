/* vstats.h - sealview's metrics: the families (docs/operations.md lists
 * them), fed by the audit events, the responses and the store. No HTTP
 * here: web/sealview.c serves the registry on sealview.metrics_listen. */
#ifndef VIEWER_VSTATS_H
#define VIEWER_VSTATS_H

#include <stdint.h>

struct metrics;
struct vstore;
struct view_stats;

/* Make the families in reg; st's calls are timed from now on, and its live
 * sessions are counted at each scrape (idle: sealview.session_idle). NULL
 * when memory ran out. Call before the store is used by other threads. */
struct view_stats *view_stats_new(struct metrics *reg, struct vstore *st, int64_t idle, const char *version);
void view_stats_free(struct view_stats *vs);

/* An audited event and its outcome (viewer/app.c's audit()); both from
 * fixed sets in the code. vs may be NULL. Thread-safe. */
void view_stats_event(struct view_stats *vs, const char *event, const char *outcome);
/* A response sent, by its status. */
void view_stats_response(struct view_stats *vs, int status);

#endif
