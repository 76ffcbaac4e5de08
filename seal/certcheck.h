/* certcheck.h - days left and chains of a configuration's certificates. */
#ifndef SEAL_CERTCHECK_H
#define SEAL_CERTCHECK_H

#include <stdio.h>
#include <time.h>

struct seal_config;

#define CERT_WARN_DAYS 30   /* when milter.expiry_warning is not set */

/* milter.expiry_warning in whole days. */
int cert_warn_days(const struct seal_config *cfg);

/* One line per certificate to out. Returns 0 when all are fine, 1 when
 * one expires within warn_days or a chain does not verify, 2 when one has
 * expired (or is not valid yet) where it is still used to sign or seal. */
int cert_report(const struct seal_config *cfg, FILE *out, int warn_days);

/* cert_report's WARNING and ERROR lines to the log (at start and reload).
 * Returns cert_report's level, or -1 when out of memory. */
int cert_log_warnings(const struct seal_config *cfg);

/* Each certificate of cfg with its end of validity (notAfter, Unix time):
 * kind is "signing" (name: the identity's), "tenant" (its id) or "issuer"
 * (name "issuer"). For the metrics (engine/stats.c). */
void cert_each(const struct seal_config *cfg, void (*fn)(void *arg, const char *kind, const char *name, time_t not_after),
    void *arg);

#endif
