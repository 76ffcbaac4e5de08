/* template.h - sealing templates (rights, expiry, recipients) and branding, from the configuration. */
#ifndef SEAL_TEMPLATE_H
#define SEAL_TEMPLATE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "common/util.h"

struct ynode;
struct cfg_errors;

/* Usage rights, named after Azure RMS usage rights (docs/format.md). */
enum seal_right {
	RIGHT_VIEW = 1u << 0, RIGHT_REPLY = 1u << 1, RIGHT_REPLY_ALL = 1u << 2, RIGHT_FORWARD = 1u << 3,
	RIGHT_PRINT = 1u << 4, RIGHT_COPY = 1u << 5, RIGHT_SAVE = 1u << 6, RIGHT_EDIT = 1u << 7
};
#define RIGHT_COUNT 8
/* The name of bit i (0..RIGHT_COUNT-1), as written in configurations and policies. */
const char *seal_right_name(unsigned i);
/* The bit of a right's name, or 0. */
unsigned seal_right_bit(const char *name);

struct branding {
	char *name;
	char *org_name, *intro, *button, *disclaimer, *color;
	unsigned char *logo;         /* PNG or JPEG, at most BRANDING_LOGO_MAX bytes, or NULL */
	size_t logo_len;
	char *logo_type;             /* "image/png" or "image/jpeg" */
};

#define BRANDING_LOGO_MAX (40u * 1024)

struct seal_template {
	char *name;
	char *description;
	unsigned rights;             /* RIGHT_* bits; always includes view */
	uint64_t expires_after;      /* seconds after sealing; 0: see expires_at */
	time_t expires_at;           /* an absolute expiry; 0: none */
	int recipients_message;      /* 1: the message's recipients (the default) */
	struct strlist recipients;   /* otherwise: addresses and domains */
	int protect_subject;         /* 1: the visible subject becomes the branding's text */
	int viewer;                  /* 1 (default): outside recipients get a sealview link (when viewer: is set) */
	const struct branding *branding;   /* NULL: none */
};

struct seal_templates {
	struct seal_template *t;
	size_t n;
	struct branding *b;
	size_t nb;
};

/* Load the templates: and branding: sections (either may be NULL). 0 on
 * success; errors are added with positions. */
int seal_templates_load(const struct ynode *templates, const struct ynode *branding, struct seal_templates *out,
    struct cfg_errors *errs);
const struct seal_template *seal_template_find(const struct seal_templates *ts, const char *name);
void seal_templates_free(struct seal_templates *ts);

#endif
