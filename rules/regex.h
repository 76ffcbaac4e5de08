/* regex.h - PCRE2 regular expressions compiled once, matched with limits. */
#ifndef SEAL_REGEX_H
#define SEAL_REGEX_H

#include <stddef.h>
#include <stdint.h>

struct sregex;

/* Compile pattern (PCRE syntax, UTF-8, case-insensitive when caseless).
 * match_limit bounds the work one match may do. On failure returns NULL and
 * writes a message and the 1-based offset of the problem. */
struct sregex *sregex_compile(const char *pattern, int caseless, uint32_t match_limit,
    char *err, size_t errlen, size_t *erroffset);
/* Find the first match at or after start. Returns 1 and sets *mstart and *mend on
 * a match, 0 when there is none, -1 when a limit was hit (the message is
 * hostile or the pattern pathological: the caller must not treat it as "no"). */
int sregex_find(const struct sregex *re, const char *subj, size_t len, size_t start,
    size_t *mstart, size_t *mend);
const char *sregex_source(const struct sregex *re);
/* The match limit it was compiled with (limits.regex_match_limit), for error messages. */
uint32_t sregex_match_limit(const struct sregex *re);
void sregex_free(struct sregex *re);

#endif
