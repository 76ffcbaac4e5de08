/*
 * regex.c - PCRE2 regular expressions, compiled once at configuration load
 * and matched with a match limit and a depth limit.
 *
 * Calling rules: sregex_compile() at load time only; sregex_find() is
 * thread-safe (the compiled code and match context are read-only, match
 * data is per call).
 * Untrusted input: the subject text comes from mail. Invalid UTF-8 is
 * accepted (PCRE2_MATCH_INVALID_UTF), and a match that exceeds the limits
 * reports an error instead of running away.
 */
#include "build-config.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules/regex.h"

struct sregex {
	pcre2_code *code;
	pcre2_match_context *mctx;
	char *source;
	uint32_t match_limit;
};

struct sregex *
sregex_compile(const char *pattern, int caseless, uint32_t match_limit,
    char *err, size_t errlen, size_t *erroffset)
{
	struct sregex *re;
	int errcode;
	PCRE2_SIZE off;
	uint32_t opts = PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_NEVER_BACKSLASH_C;

	if (caseless)
		opts |= PCRE2_CASELESS;
	re = calloc(1, sizeof(*re));
	if (re == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	re->code = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, opts, &errcode, &off, NULL);
	if (re->code == NULL) {
		PCRE2_UCHAR buf[256];
		pcre2_get_error_message(errcode, buf, sizeof(buf));
		snprintf(err, errlen, "%s", (const char *)buf);
		*erroffset = (size_t)off + 1;
		free(re);
		return NULL;
	}
	/* JIT is an optimisation only; the interpreter honours the same limits. */
	(void)pcre2_jit_compile(re->code, PCRE2_JIT_COMPLETE);
	re->mctx = pcre2_match_context_create(NULL);
	re->source = strdup(pattern);
	if (re->mctx == NULL || re->source == NULL) {
		sregex_free(re);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	re->match_limit = match_limit;
	pcre2_set_match_limit(re->mctx, match_limit);
	pcre2_set_depth_limit(re->mctx, match_limit / 10 + 100);
	pcre2_set_heap_limit(re->mctx, 20 * 1024);   /* KiB */
	return re;
}

int
sregex_find(const struct sregex *re, const char *subj, size_t len, size_t start,
    size_t *mstart, size_t *mend)
{
	pcre2_match_data *md = pcre2_match_data_create_from_pattern(re->code, NULL);
	PCRE2_SIZE *ov;
	int rc;

	if (md == NULL)
		return -1;
	rc = pcre2_match(re->code, (PCRE2_SPTR)subj, len, start, 0, md, re->mctx);
	if (rc >= 0) {
		ov = pcre2_get_ovector_pointer(md);
		*mstart = ov[0];
		*mend = ov[1];
		rc = 1;
	} else if (rc == PCRE2_ERROR_NOMATCH) {
		rc = 0;
	} else {
		rc = -1;
	}
	pcre2_match_data_free(md);
	return rc;
}

uint32_t
sregex_match_limit(const struct sregex *re)
{
	return re->match_limit;
}

const char *
sregex_source(const struct sregex *re)
{
	return re->source;
}

void
sregex_free(struct sregex *re)
{
	if (re == NULL)
		return;
	pcre2_code_free(re->code);
	pcre2_match_context_free(re->mctx);
	free(re->source);
	free(re);
}
