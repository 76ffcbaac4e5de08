/* mimescan.h - a streaming MIME scanner that collects what conditions need. */
#ifndef SEAL_MIMESCAN_H
#define SEAL_MIMESCAN_H

#include <stddef.h>
#include <stdint.h>

#include "rules/policy.h"

struct mimescan_limits {
	size_t text_max;      /* the window of decoded text kept for body conditions */
	unsigned max_depth;   /* multipart / message nesting */
	unsigned max_parts;
};

struct mimescan;

struct mimescan *mimescan_new(const struct mimescan_limits *lim);
/* Hand each full window of decoded text to fn before it is overwritten
 * (body conditions see all the text that way); without it, text past
 * text_max is dropped and mimescan_text() reports it truncated. */
void mimescan_on_window(struct mimescan *ms, void (*fn)(void *arg, const char *text, size_t len), void *arg);
/* Keep the decoded content of the first part whose type is ctype (lower
 * case), up to max bytes: mimescan_captured() gives it (NULL when there was
 * none, or it was larger: *over is then set). */
void mimescan_capture(struct mimescan *ms, const char *ctype, size_t max);
const char *mimescan_captured(const struct mimescan *ms, size_t *len, int *over);
/* Top-level headers that matter (Content-Type, Content-Transfer-Encoding,
 * Content-Disposition); call for every header, others are ignored. */
void mimescan_header(struct mimescan *ms, const char *name, const char *value);
/* Body bytes, in order, in chunks of any size. */
void mimescan_feed(struct mimescan *ms, const char *p, size_t n);
/* End of body: closes open parts. */
void mimescan_finish(struct mimescan *ms);

const char *mimescan_text(const struct mimescan *ms, size_t *len, int *truncated);
const struct part_info *mimescan_parts(const struct mimescan *ms, size_t *n);
/* Non-NULL when a limit was passed: the message could not be inspected fully. */
const char *mimescan_limit_error(const struct mimescan *ms);
/* 1 when memory ran out: the scan is incomplete, and the message must be
 * deferred (never judged, never a limit's rejection). */
int mimescan_oom(const struct mimescan *ms);
/* Non-NULL when the structure was broken (informational: scanning went on). */
const char *mimescan_malformed(const struct mimescan *ms);
void mimescan_free(struct mimescan *ms);

#endif
