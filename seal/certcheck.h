/* certcheck.h - days left and chains of a configuration's certificates. */
#ifndef SEAL_CERTCHECK_H
#define SEAL_CERTCHECK_H

#include <stdio.h>

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

/* fn(arg, what, days left) for each certificate cert_report covers (negative:
 * expired), for a metric. what is "signing NAME", "tenant ID", "issuer" or
 * "sealview.tls_cert": names from the configuration, a bounded set. */
void cert_days(const struct seal_config *cfg, void (*fn)(void *arg, const char *what, int days), void *arg);

#endif
