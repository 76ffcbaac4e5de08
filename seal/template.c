/*
 * template.c - sealing templates and branding, validated at load:
 *
 *   templates:
 *     do-not-forward: { rights: [view, reply, reply_all], expires: 30d }
 *     confidential-view-only:
 *       rights: [view]
 *       expires: 7d                 # a duration, or a date: 2027-01-31 or 2027-01-31T12:00:00Z
 *       recipients: message         # the message's recipients (default), or a list of addresses/domains
 *       subject: protect            # keep (default) or protect
 *       branding: default
 *   branding:
 *     default: { org_name: Example Corp, logo: /etc/sealmilter/logo.png, intro: "{sender} has sent you a
 *                protected message.", button: "Read the message", disclaimer: "...", color: "#0b5cad" }
 *
 * Calling rules: seal_templates_load() from the configuration loader; the
 * result is read-only afterwards.
 * Untrusted input: none from mail (the texts are the administrator's; they
 * are length-limited here and HTML-escaped where they are used).
 */
#include "build-config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/util.h"
#include "rules/cfgerr.h"
#include "rules/yamltree.h"
#include "seal/template.h"

static const char *const right_names[RIGHT_COUNT] = {
	"view", "reply", "reply_all", "forward", "print", "copy", "save", "edit"
};

const char *
seal_right_name(unsigned i)
{
	return i < RIGHT_COUNT ? right_names[i] : NULL;
}

unsigned
seal_right_bit(const char *name)
{
	unsigned i;

	for (i = 0; i < RIGHT_COUNT; i++)
		if (strcmp(name, right_names[i]) == 0)
			return 1u << i;
	return 0;
}

/* "2027-01-31" or "2027-01-31T12:00:00Z" (UTC). 0 on success. */
static int
parse_date(const char *s, time_t *out)
{
	struct tm tm;
	char *end;

	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%Y-%m-%d", &tm);
	if (end == NULL)
		return -1;
	if (*end == 'T') {
		end = strptime(end + 1, "%H:%M:%S", &tm);
		if (end == NULL || strcmp(end, "Z") != 0)
			return -1;
	} else if (*end != '\0') {
		return -1;
	}
	*out = timegm(&tm);
	return *out == (time_t)-1 ? -1 : 0;
}

static char *
text(const struct ynode *map, const char *key, size_t max, const char *what, int *rc, struct cfg_errors *errs)
{
	const struct ynode *v = ymap_get(map, key);
	const unsigned char *p;

	if (v == NULL)
		return NULL;
	if (v->kind != Y_SCALAR || strlen(v->value) > max) {
		cfg_error(errs, v, "%s: %s: expected a text of at most %zu characters", what, key, max);
		*rc = -1;
		return NULL;
	}
	for (p = (const unsigned char *)v->value; *p; p++)
		if (*p < 0x20 && *p != '\n') {
			cfg_error(errs, v, "%s: %s: control characters are not allowed", what, key);
			*rc = -1;
			return NULL;
		}
	return strdup(v->value);
}

/* Placeholders in branding texts: only {sender} and {org}. */
static int
placeholders_ok(const char *s)
{
	const char *p = s;

	while ((p = strchr(p, '{')) != NULL) {
		if (strncmp(p, "{sender}", 8) != 0 && strncmp(p, "{org}", 5) != 0)
			return 0;
		p++;
	}
	return 1;
}

static int
load_logo(struct branding *b, const struct ynode *v, const char *what, struct cfg_errors *errs)
{
	static const unsigned char png[] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
	struct stat st;
	FILE *f;

	if (v->kind != Y_SCALAR || v->value[0] != '/') {
		cfg_error(errs, v, "%s: logo: expected an absolute path", what);
		return -1;
	}
	if (stat(v->value, &st) != 0 || (f = fopen(v->value, "rb")) == NULL) {
		cfg_error(errs, v, "%s: logo: cannot read %s: %s", what, v->value, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode) || st.st_size <= 0 || (size_t)st.st_size > BRANDING_LOGO_MAX) {
		cfg_error(errs, v, "%s: logo: %s must be a file of at most %u bytes", what, v->value, BRANDING_LOGO_MAX);
		fclose(f);
		return -1;
	}
	b->logo = malloc((size_t)st.st_size);
	b->logo_len = b->logo ? fread(b->logo, 1, (size_t)st.st_size, f) : 0;
	fclose(f);
	if (b->logo_len != (size_t)st.st_size) {
		cfg_error(errs, v, "%s: logo: cannot read %s", what, v->value);
		return -1;
	}
	if (b->logo_len >= 8 && memcmp(b->logo, png, 8) == 0)
		b->logo_type = strdup("image/png");
	else if (b->logo_len >= 3 && b->logo[0] == 0xff && b->logo[1] == 0xd8 && b->logo[2] == 0xff)
		b->logo_type = strdup("image/jpeg");
	else {
		cfg_error(errs, v, "%s: logo: %s is neither a PNG nor a JPEG image", what, v->value);
		return -1;
	}
	return 0;
}

/* Template and branding names go into headers and policies: keep them plain. */
static int
name_ok(const char *name)
{
	const char *p;

	if (*name == '\0' || strlen(name) > 64)
		return 0;
	for (p = name; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '.' && *p != '_' && *p != '-')
			return 0;
	return 1;
}

static int
load_branding(const char *name, const struct ynode *m, struct branding *b, struct cfg_errors *errs)
{
	static const char *const keys[] = { "org_name", "logo", "intro", "button", "disclaimer", "color", NULL };
	char what[128];
	const struct ynode *v;
	int rc = 0;

	snprintf(what, sizeof(what), "branding '%s'", name);
	b->name = strdup(name);
	if (!name_ok(name)) {
		cfg_error(errs, m, "%s: a name is 1 to 64 letters, digits, '.', '_' or '-'", what);
		return -1;
	}
	if (m->kind != Y_MAP) {
		cfg_error(errs, m, "%s: expected a mapping", what);
		return -1;
	}
	rc |= cfg_check_keys(errs, m, what, keys);
	b->org_name = text(m, "org_name", 100, what, &rc, errs);
	b->intro = text(m, "intro", 500, what, &rc, errs);
	b->button = text(m, "button", 60, what, &rc, errs);
	b->disclaimer = text(m, "disclaimer", 2000, what, &rc, errs);
	b->color = text(m, "color", 7, what, &rc, errs);
	if (b->intro && !placeholders_ok(b->intro)) {
		cfg_error(errs, ymap_get(m, "intro"), "%s: intro: the only placeholders are {sender} and {org}", what);
		rc = -1;
	}
	if (b->color) {
		size_t i;
		int ok = strlen(b->color) == 7 && b->color[0] == '#';
		for (i = 1; ok && i < 7; i++)
			ok = isxdigit((unsigned char)b->color[i]);
		if (!ok) {
			cfg_error(errs, ymap_get(m, "color"), "%s: color: expected #rrggbb", what);
			rc = -1;
		}
	}
	if ((v = ymap_get(m, "logo")) != NULL)
		rc |= load_logo(b, v, what, errs);
	return rc;
}

static int
load_template(const char *name, const struct ynode *m, const struct seal_templates *ts, struct seal_template *t,
    struct cfg_errors *errs)
{
	static const char *const keys[] = { "description", "rights", "expires", "recipients", "subject", "branding",
		"viewer", NULL };
	char what[128];
	const struct ynode *v;
	size_t i;
	int rc = 0;

	snprintf(what, sizeof(what), "template '%s'", name);
	t->name = strdup(name);
	t->recipients_message = 1;
	t->viewer = 1;
	if (!name_ok(name)) {
		cfg_error(errs, m, "%s: a name is 1 to 64 letters, digits, '.', '_' or '-'", what);
		return -1;
	}
	if (m->kind != Y_MAP) {
		cfg_error(errs, m, "%s: expected a mapping with rights:", what);
		return -1;
	}
	rc |= cfg_check_keys(errs, m, what, keys);
	t->description = text(m, "description", 200, what, &rc, errs);
	v = ymap_get(m, "rights");
	if (v == NULL || v->kind != Y_SEQ || v->n == 0) {
		cfg_error(errs, v ? v : m, "%s: rights: expected a list (view, reply, reply_all, forward, print, copy, "
		    "save, edit)", what);
		rc = -1;
	} else {
		for (i = 0; i < v->n; i++) {
			unsigned bit = v->items[i]->kind == Y_SCALAR ? seal_right_bit(v->items[i]->value) : 0;
			if (bit == 0) {
				cfg_error(errs, v->items[i], "%s: rights: '%s' is not one of view, reply, reply_all, forward, "
				    "print, copy, save, edit", what, v->items[i]->kind == Y_SCALAR ? v->items[i]->value : "?");
				rc = -1;
			}
			t->rights |= bit;
		}
		if (rc == 0 && !(t->rights & RIGHT_VIEW)) {
			cfg_error(errs, v, "%s: rights: must include view (without it nobody can read the message)", what);
			rc = -1;
		}
	}
	if ((v = ymap_get(m, "expires")) != NULL) {
		if (v->kind != Y_SCALAR || (parse_duration(v->value, &t->expires_after) != 0 &&
		    parse_date(v->value, &t->expires_at) != 0)) {
			cfg_error(errs, v, "%s: expires: expected a duration (30d, 12h) or a date (2027-01-31, "
			    "2027-01-31T12:00:00Z)", what);
			rc = -1;
		} else if (t->expires_at && t->expires_at <= time(NULL)) {
			cfg_error(errs, v, "%s: expires: %s is in the past", what, v->value);
			rc = -1;
		} else if (t->expires_after == 0 && t->expires_at == 0) {
			cfg_error(errs, v, "%s: expires: must be more than 0", what);
			rc = -1;
		}
	}
	if ((v = ymap_get(m, "recipients")) != NULL) {
		if (v->kind == Y_SCALAR && strcmp(v->value, "message") == 0) {
			t->recipients_message = 1;
		} else if (v->kind == Y_SEQ && v->n > 0) {
			t->recipients_message = 0;
			for (i = 0; i < v->n; i++) {
				if (v->items[i]->kind != Y_SCALAR || v->items[i]->value[0] == '\0') {
					cfg_error(errs, v->items[i], "%s: recipients: each item is an address or a domain", what);
					rc = -1;
				} else
					strlist_add(&t->recipients, v->items[i]->value);
			}
		} else {
			cfg_error(errs, v, "%s: recipients: expected message, or a list of addresses and domains", what);
			rc = -1;
		}
	}
	if ((v = ymap_get(m, "subject")) != NULL) {
		if (v->kind == Y_SCALAR && strcmp(v->value, "protect") == 0)
			t->protect_subject = 1;
		else if (!(v->kind == Y_SCALAR && strcmp(v->value, "keep") == 0)) {
			cfg_error(errs, v, "%s: subject: expected keep or protect", what);
			rc = -1;
		}
	}
	if ((v = ymap_get(m, "viewer")) != NULL) {
		if (v->kind == Y_SCALAR && strcmp(v->value, "true") == 0)
			t->viewer = 1;
		else if (v->kind == Y_SCALAR && strcmp(v->value, "false") == 0)
			t->viewer = 0;
		else {
			cfg_error(errs, v, "%s: viewer: expected true or false", what);
			rc = -1;
		}
	}
	v = ymap_get(m, "branding");
	if (v != NULL) {
		for (i = 0; v->kind == Y_SCALAR && i < ts->nb; i++)
			if (strcmp(ts->b[i].name, v->value) == 0)
				t->branding = &ts->b[i];
		if (t->branding == NULL) {
			cfg_error(errs, v, "%s: branding: '%s' is not defined under branding:", what,
			    v->kind == Y_SCALAR ? v->value : "?");
			rc = -1;
		}
	} else {
		for (i = 0; i < ts->nb; i++)
			if (strcmp(ts->b[i].name, "default") == 0)
				t->branding = &ts->b[i];
	}
	if (t->protect_subject && t->branding == NULL) {
		cfg_error(errs, m, "%s: subject: protect needs a branding (its text replaces the subject)", what);
		rc = -1;
	}
	return rc;
}

int
seal_templates_load(const struct ynode *templates, const struct ynode *branding, struct seal_templates *out,
    struct cfg_errors *errs)
{
	size_t i;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (branding) {
		if (branding->kind != Y_MAP) {
			cfg_error(errs, branding, "branding: expected a mapping of names to brandings");
			return -1;
		}
		out->b = calloc(branding->n ? branding->n : 1, sizeof(*out->b));
		if (out->b == NULL)
			return -1;
		for (i = 0; i < branding->n; i++, out->nb++)
			rc |= load_branding(ymap_key(branding, i)->value, ymap_val(branding, i), &out->b[i], errs);
	}
	if (templates) {
		if (templates->kind != Y_MAP) {
			cfg_error(errs, templates, "templates: expected a mapping of names to templates");
			return -1;
		}
		out->t = calloc(templates->n ? templates->n : 1, sizeof(*out->t));
		if (out->t == NULL)
			return -1;
		for (i = 0; i < templates->n; i++, out->n++)
			rc |= load_template(ymap_key(templates, i)->value, ymap_val(templates, i), out, &out->t[i], errs);
	}
	return rc ? -1 : 0;
}

const struct seal_template *
seal_template_find(const struct seal_templates *ts, const char *name)
{
	size_t i;

	for (i = 0; i < ts->n; i++)
		if (strcmp(ts->t[i].name, name) == 0)
			return &ts->t[i];
	return NULL;
}

void
seal_templates_free(struct seal_templates *ts)
{
	size_t i;

	for (i = 0; i < ts->n; i++) {
		free(ts->t[i].name);
		free(ts->t[i].description);
		strlist_free(&ts->t[i].recipients);
	}
	free(ts->t);
	for (i = 0; i < ts->nb; i++) {
		struct branding *b = &ts->b[i];
		free(b->name);
		free(b->org_name);
		free(b->intro);
		free(b->button);
		free(b->disclaimer);
		free(b->color);
		free(b->logo);
		free(b->logo_type);
	}
	free(ts->b);
	memset(ts, 0, sizeof(*ts));
}
