/* milter.h - the libmilter front end: callbacks and the current configuration. */
#ifndef SEAL_MILTER_H
#define SEAL_MILTER_H

#include <libmilter/mfapi.h>

#include "rules/config.h"

/* The configuration new messages start with (a new reference). */
struct seal_config *milter_config_get(void);
/* Publish a new configuration; the previous one is released once the
 * messages that pinned it finish. Takes over the caller's reference. */
void milter_config_set(struct seal_config *c);

/* Where each message's end is counted (engine/stats.h); NULL: nowhere.
 * Set before libmilter starts. */
struct seal_stats;
void milter_stats_set(struct seal_stats *st);

extern struct smfiDesc sealmilter_desc;

#endif
