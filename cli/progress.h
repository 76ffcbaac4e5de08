/* progress.h - a progress line on a terminal for long sealctl operations. */
#ifndef CLI_PROGRESS_H
#define CLI_PROGRESS_H

#include <pthread.h>
#include <stddef.h>
#include <time.h>

struct progress {
	int on;                  /* stderr is a terminal: draw; else every call does nothing */
	const char *what;        /* "explain", "audit --verify" */
	size_t done, total;      /* total 0: unknown (elapsed time only) */
	struct timespec start, drawn;
	pthread_mutex_t lock;
	pthread_t ticker;
	int ticking, stop;
};

/* Starts a progress line for `what` over total items (0: unknown). Draws only when
 * stderr is a terminal, TERM is not "dumb" and quiet is 0 (the caller prints lines
 * of its own meanwhile). */
void progress_begin(struct progress *p, const char *what, size_t total, int quiet);
/* done items so far; redraws at most ten times a second. */
void progress_step(struct progress *p, size_t done);
/* For one long call with no steps (a request): redraw the elapsed time from a thread
 * until progress_end. */
void progress_tick(struct progress *p);
/* Clears the line (the summary follows on a clean line). Returns the seconds elapsed. */
double progress_end(struct progress *p);

#endif
