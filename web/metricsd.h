/* metricsd.h - GET /metrics over plain HTTP for a metrics registry
 * (libmicrohttpd), on a socket the caller opened (as root, before dropping
 * privileges). sealmilter and sealview each run one. */
#ifndef SEAL_METRICSD_H
#define SEAL_METRICSD_H

struct metrics;
struct metricsd;

/* Serve reg on the listening socket fd (the server owns it from now on,
 * even on failure). name: for log lines ("sealmilter"). NULL when the
 * server cannot start (logged). */
struct metricsd *metricsd_start(int fd, struct metrics *reg, const char *name);
void metricsd_stop(struct metricsd *d);

#endif
