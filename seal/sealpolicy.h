/* sealpolicy.h - the usage policy of one sealed message, as JSON text (docs/format.md). */
#ifndef SEAL_SEALPOLICY_H
#define SEAL_SEALPOLICY_H

#include <stddef.h>
#include <time.h>

#include "common/util.h"
#include "seal/template.h"

#define SEAL_POLICY_VERSION 1
#define SEAL_POLICY_MAX (64u * 1024)

struct seal_policy {
	int version;
	char *seal_id;           /* a random UUID */
	char *template_name;
	unsigned rights;         /* RIGHT_* bits */
	time_t issued_at;
	time_t expires;          /* 0: never */
	struct strlist recipients;   /* allowed: addresses and domains */
	char *sender;
	char *message_id;
};

/* The policy of a message sealed now under t, as JSON (malloc'd, *len set).
 * The allowed recipients are the message's (rcpts) unless the template
 * names its own. NULL when out of memory. */
char *seal_policy_build(const struct seal_template *t, const char *sender, char *const *rcpts, size_t nrcpts,
    const char *message_id, time_t now, size_t *len);
/* Parse a policy. 0, or -1 and *err (malloc'd): a specific reason. */
int seal_policy_parse(const char *json, size_t len, struct seal_policy *out, char **err);
int seal_policy_expired(const struct seal_policy *p, time_t now);
/* 1 when addr (an address) is an allowed recipient (the address, or its domain). */
int seal_policy_allows(const struct seal_policy *p, const char *addr);
void seal_policy_free(struct seal_policy *p);
struct sbuf;
/* Append s as a JSON string (quoted, escaped; invalid UTF-8 becomes U+FFFD). */
void json_string(struct sbuf *b, const char *s);

#endif
