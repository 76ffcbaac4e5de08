/* cfgerr.h - collect configuration errors as "file:line:column: message". */
#ifndef SEAL_CFGERR_H
#define SEAL_CFGERR_H

#include <stddef.h>

struct ynode;

#define CFG_MAX_ERRORS 100

struct cfg_errors {
	char *msgs[CFG_MAX_ERRORS];
	size_t count;       /* errors stored */
	size_t dropped;     /* errors past CFG_MAX_ERRORS */
};

/* An error at a node's position (node may be NULL: then file, or nothing). */
void cfg_error(struct cfg_errors *e, const struct ynode *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void cfg_error_at(struct cfg_errors *e, const char *file, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
void cfg_errors_free(struct cfg_errors *e);
/* Every key of the mapping map must be in allowed (NULL-terminated); each
 * other one is an error "WHAT: unknown key 'k' (keys: ...)". 0 or -1. */
int cfg_check_keys(struct cfg_errors *e, const struct ynode *map, const char *what, const char *const *allowed);

#endif
