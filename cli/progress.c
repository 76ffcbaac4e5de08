/*
 * progress.c - a progress line on a terminal for long sealctl operations
 * (explain --dir over thousands of messages, audit --verify), drawn on stderr
 * with a carriage return and erased at the end, so stdout (the summary, or
 * what a script reads) never holds it. When stderr is not a terminal, or
 * TERM is "dumb", nothing is drawn: cron jobs and pipes stay quiet.
 *
 * Calling rules: one struct progress per operation; begin, then steps or one
 * tick, then end. progress_tick starts a thread that redraws the elapsed
 * time; the other calls may run alongside it (a mutex guards the line).
 * Untrusted input: none (counts and the operation's name).
 */
#include "build-config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/progress.h"

static double
since(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

/* Draws the line; the caller holds the lock. */
static void
draw(struct progress *p, const struct timespec *now)
{
	double t = since(&p->start, now);

	if (p->total > 0) {
		double rate = t > 0 ? (double)p->done / t : 0;
		double left = rate > 0 ? (double)(p->total - p->done) / rate : 0;
		fprintf(stderr, "\r%s: %zu of %zu (%.0f%%), %.0f/s, %.0f s left\033[K", p->what, p->done, p->total,
		    100.0 * (double)p->done / (double)p->total, rate, left);
	} else {
		fprintf(stderr, "\r%s: %.0f s\033[K", p->what, t);
	}
	fflush(stderr);
	p->drawn = *now;
}

void
progress_begin(struct progress *p, const char *what, size_t total, int quiet)
{
	const char *term = getenv("TERM");

	memset(p, 0, sizeof(*p));
	p->what = what;
	p->total = total;
	p->on = !quiet && isatty(STDERR_FILENO) && !(term && strcmp(term, "dumb") == 0);
	clock_gettime(CLOCK_MONOTONIC, &p->start);
	pthread_mutex_init(&p->lock, NULL);
	if (p->on) {
		pthread_mutex_lock(&p->lock);
		draw(p, &p->start);
		pthread_mutex_unlock(&p->lock);
	}
}

void
progress_step(struct progress *p, size_t done)
{
	struct timespec now;

	p->done = done;
	if (!p->on)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	pthread_mutex_lock(&p->lock);
	if (since(&p->drawn, &now) >= 0.1 || done == p->total)
		draw(p, &now);
	pthread_mutex_unlock(&p->lock);
}

static void *
ticker(void *arg)
{
	struct progress *p = arg;
	struct timespec now, pause = { 0, 200 * 1000 * 1000 };

	for (;;) {
		nanosleep(&pause, NULL);
		pthread_mutex_lock(&p->lock);
		if (p->stop) {
			pthread_mutex_unlock(&p->lock);
			return NULL;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		draw(p, &now);
		pthread_mutex_unlock(&p->lock);
	}
}

void
progress_tick(struct progress *p)
{
	if (p->on && pthread_create(&p->ticker, NULL, ticker, p) == 0)
		p->ticking = 1;
}

double
progress_end(struct progress *p)
{
	struct timespec now;

	if (p->ticking) {
		pthread_mutex_lock(&p->lock);
		p->stop = 1;
		pthread_mutex_unlock(&p->lock);
		pthread_join(p->ticker, NULL);
		p->ticking = 0;
	}
	if (p->on) {
		fputs("\r\033[K", stderr);
		fflush(stderr);
	}
	pthread_mutex_destroy(&p->lock);
	clock_gettime(CLOCK_MONOTONIC, &now);
	return since(&p->start, &now);
}
