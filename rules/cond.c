/*
 * cond.c - rule conditions: built from the "if:" part of a rule, evaluated
 * against the facts of one message.
 *
 * The grammar (documented in cond_docs[] below, which feeds the reference):
 *   if: { KEY: VALUE, ... }        every key must hold (an implicit all)
 *   all: [ COND, ... ]  any: [ COND, ... ]  not: COND
 *   direction, sender, recipients, subject, header, body, attachment, size
 *
 * Calling rules: cond_build() at load time; cond_eval() is thread-safe and
 * reads only the configuration and the facts.
 * Untrusted input: cond_eval() reads message facts (addresses, decoded
 * header values, body text, part names). Strings are compared with explicit
 * lengths; regexes run with the configured match limit and a limit hit is
 * an error, never a silent "no match".
 */
#include "build-config.h"

#include <ctype.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/util.h"
#include "dkim/dkim.h"
#include "mime/hdrdecode.h"
#include "rules/cfgerr.h"
#include "rules/policy.h"
#include "rules/regex.h"
#include "rules/yamltree.h"

const struct key_doc cond_docs[] = {
	{ "all", "all: [COND, ...]", "True when every condition in the list is true." },
	{ "any", "any: [COND, ...]", "True when at least one condition in the list is true." },
	{ "not", "not: COND", "True when the condition is false." },
	{ "direction", "direction: inbound|outbound|internal|external (or a list)",
	  "outbound: the envelope sender is in organization.domains and the client is trusted "
	  "(trusted_networks or SMTP AUTH). internal: outbound and every recipient is in the organisation. "
	  "external: outbound and not internal. inbound: everything else." },
	{ "sender", "sender: ADDRESSES",
	  "The envelope sender (MAIL FROM) matches. ADDRESSES is a list (or one item) of addresses, domains "
	  "(subdomains included) and globs (*@example.com), or a mapping with any of address, domain, glob, "
	  "regex, in, not_in (`in: organization`); every key given must hold." },
	{ "recipients", "recipients: { any|all|none: ADDRESSES }",
	  "The envelope recipients match: any (the default when the quantifier is left out), all (at least "
	  "one recipient, and every one matches) or none." },
	{ "subject", "subject: { contains: [TEXT, ...], regex: RE, strip: true }",
	  "The decoded Subject contains a text or matches a regex, case-insensitively. A plain string or "
	  "list is short for contains. strip: true removes the matched text from the delivered subject when "
	  "the rule fires." },
	{ "header", "header: { name: NAME, exists: true|false, contains: TEXT, regex: RE }",
	  "A header field (by name, case-insensitive; decoded) exists, is absent, contains a text or matches "
	  "a regex. Works for sensitivity labels such as Sensitivity: and msip_labels:." },
	{ "body", "body: { contains: [TEXT, ...], regex: RE, pattern: NAME }",
	  "The decoded text of every text/* part (attachments too; HTML as the reader sees it: tags removed, "
	  "entities decoded) and of the multipart preamble and epilogue contains a text, matches a regex, or "
	  "matches a named pattern, case-insensitively. All of the text is matched, in windows of "
	  "limits.body_scan_size." },
	{ "attachment", "attachment: { filename: [GLOB, ...], content_type: [GLOB, ...], size: { over: SIZE, under: SIZE } }",
	  "Some MIME part matches every key given: its decoded file name (the Content-Disposition filename "
	  "or the Content-Type name: either may match), its content type (like application/*), its decoded "
	  "size." },
	{ "size", "size: { over: SIZE, under: SIZE }", "The message size (headers and body) in bytes." },
	{ "from", "from: ADDRESSES",
	  "An address in the From header field matches (the author the reader sees, which the envelope sender "
	  "need not be). ADDRESSES as for sender, so `from: { in: organization }` is mail that claims to "
	  "come from the organisation." },
	{ "dkim", "dkim: { domain: [DOMAIN, ...], result: [RESULT, ...], aligned_with_from: true }",
	  "The DKIM result (needs dkim.verify_inbound). The signatures considered are those whose d= is one of "
	  "the domains (or a subdomain of one; all signatures when domain is left out) and, with "
	  "aligned_with_from, whose organisational domain is that of the From address (relaxed alignment). "
	  "Their best result counts (pass, then policy, temperror, fail, permerror; none when there is no such "
	  "signature, or the message was not verified: outbound mail is not). True when it is one of result "
	  "(none, pass, fail, policy, temperror, permerror), or pass when result is left out. "
	  "`not: { dkim: { aligned_with_from: true } }` is mail without a passing aligned signature." },
};
const size_t cond_ndocs = sizeof(cond_docs) / sizeof(cond_docs[0]);

/* ---- building ----------------------------------------------------------- */

struct builder {
	const struct seal_config *cfg;
	struct cfg_errors *errs;
	int depth;
};

static struct cond *build(struct builder *B, const char *key, const struct ynode *val);

static struct cond *
new_cond(enum cond_kind kind)
{
	struct cond *c = calloc(1, sizeof(*c));

	if (c)
		c->kind = kind;
	return c;
}

/* A scalar or a list of scalars into l. */
static int
add_strings(struct builder *B, const char *what, const struct ynode *n, struct strlist *l)
{
	size_t i;

	if (n->kind == Y_SCALAR)
		return strlist_add(l, n->value);
	if (n->kind != Y_SEQ) {
		cfg_error(B->errs, n, "%s: expected a string or a list of strings", what);
		return -1;
	}
	if (n->n == 0) {
		cfg_error(B->errs, n, "%s: the list is empty", what);
		return -1;
	}
	for (i = 0; i < n->n; i++) {
		if (n->items[i]->kind != Y_SCALAR) {
			cfg_error(B->errs, n->items[i], "%s: expected a string, found %s", what,
			    ykind_name(n->items[i]->kind));
			return -1;
		}
		if (strlist_add(l, n->items[i]->value) != 0)
			return -1;
	}
	return 0;
}

static int
add_regexes(struct builder *B, const char *what, const struct ynode *n, struct sregex ***res, size_t *nres)
{
	struct strlist l = { NULL, 0 };
	size_t i;
	int rc = 0;

	if (add_strings(B, what, n, &l) != 0)
		return -1;
	*res = calloc(l.n, sizeof(**res)); /* NOLINT(bugprone-sizeof-expression): an array of pointers */
	for (i = 0; *res && i < l.n; i++) {
		char err[256];
		size_t off = 0;
		const struct ynode *at = n->kind == Y_SEQ ? n->items[i] : n;
		struct sregex *re = sregex_compile(l.v[i], 1, (uint32_t)B->cfg->regex_match_limit, err,
		    sizeof(err), &off);
		if (re == NULL) {
			cfg_error(B->errs, at, "%s: bad regex at offset %zu: %s", what, off, err);
			rc = -1;
			continue;
		}
		(*res)[(*nres)++] = re;
	}
	strlist_free(&l);
	return rc;
}

static int
build_addr(struct builder *B, const char *what, const struct ynode *n, struct addr_matcher *am)
{
	static const char *const keys[] = { "address", "domain", "glob", "regex", "in", "not_in", NULL };
	size_t i;
	int rc = 0;

	if (n->kind != Y_MAP) {
		am->has_list = 1;
		return add_strings(B, what, n, &am->list);
	}
	if (n->n == 0) {
		cfg_error(B->errs, n, "%s: the mapping is empty", what);
		return -1;
	}
	if (cfg_check_keys(B->errs, n, what, keys) != 0)
		rc = -1;
	for (i = 0; i < n->n; i++) {
		const char *k = ymap_key(n, i)->value;
		const struct ynode *v = ymap_val(n, i);
		if (strcmp(k, "address") == 0)
			rc |= add_strings(B, what, v, &am->addresses);
		else if (strcmp(k, "domain") == 0)
			rc |= add_strings(B, what, v, &am->domains);
		else if (strcmp(k, "glob") == 0)
			rc |= add_strings(B, what, v, &am->globs);
		else if (strcmp(k, "regex") == 0)
			rc |= add_regexes(B, what, v, &am->res, &am->nres);
		else if (strcmp(k, "in") == 0 || strcmp(k, "not_in") == 0) {
			int neg = k[0] == 'n';
			if (v->kind == Y_SCALAR && strcmp(v->value, "organization") == 0) {
				am->org = neg ? -1 : 1;
			} else if (am->has_list) {
				cfg_error(B->errs, v, "%s: give only one of in and not_in with a list", what);
				rc = -1;
			} else {
				am->has_list = 1;
				am->list_negated = neg;
				rc |= add_strings(B, what, v, &am->list);
			}
		}
	}
	return rc ? -1 : 0;
}

static int
build_text(struct builder *B, const char *what, const struct ynode *n, struct text_matcher *tm,
    int allow_pattern, int *strip)
{
	static const char *const subject_keys[] = { "contains", "regex", "strip", NULL };
	static const char *const body_keys[] = { "contains", "regex", "pattern", NULL };
	const struct ynode *v;
	int rc = 0;

	if (n->kind != Y_MAP)
		return add_strings(B, what, n, &tm->contains);
	if (strip)
		rc |= cfg_check_keys(B->errs, n, what, subject_keys);
	else if (allow_pattern)
		rc |= cfg_check_keys(B->errs, n, what, body_keys);
	if ((v = ymap_get(n, "contains")))
		rc |= add_strings(B, what, v, &tm->contains);
	if ((v = ymap_get(n, "regex")))
		rc |= add_regexes(B, what, v, &tm->res, &tm->nres);
	if ((v = ymap_get(n, "pattern"))) {
		size_t i;
		if (v->kind != Y_SCALAR) {
			cfg_error(B->errs, v, "%s: pattern: expected the name of a pattern", what);
			return -1;
		}
		for (i = 0; i < B->cfg->npatterns; i++)
			if (strcmp(B->cfg->patterns[i].name, v->value) == 0)
				tm->pattern = &B->cfg->patterns[i];
		if (tm->pattern == NULL) {
			cfg_error(B->errs, v, "%s: pattern '%s' is not defined under patterns:", what, v->value);
			return -1;
		}
	}
	if (strip && (v = ymap_get(n, "strip")) && yscalar_bool(v, strip) != 0) {
		cfg_error(B->errs, v, "%s: strip: expected true or false", what);
		return -1;
	}
	if (rc == 0 && tm->contains.n == 0 && tm->nres == 0 && tm->pattern == NULL) {
		cfg_error(B->errs, n, "%s: give contains, regex%s", what, allow_pattern ? " or pattern" : "");
		return -1;
	}
	return rc ? -1 : 0;
}

static int
build_size(struct builder *B, const char *what, const struct ynode *n, struct cond *c)
{
	static const char *const keys[] = { "over", "under", NULL };
	const struct ynode *v;

	if (n->kind != Y_MAP) {
		cfg_error(B->errs, n, "%s: expected { over: SIZE } and/or { under: SIZE }", what);
		return -1;
	}
	if (cfg_check_keys(B->errs, n, what, keys) != 0)
		return -1;
	if ((v = ymap_get(n, "over"))) {
		if (v->kind != Y_SCALAR || parse_size(v->value, &c->over) != 0) {
			cfg_error(B->errs, v, "%s: over: expected a size like 10M", what);
			return -1;
		}
		c->has_over = 1;
	}
	if ((v = ymap_get(n, "under"))) {
		if (v->kind != Y_SCALAR || parse_size(v->value, &c->under) != 0) {
			cfg_error(B->errs, v, "%s: under: expected a size like 10M", what);
			return -1;
		}
		c->has_under = 1;
	}
	if (!c->has_over && !c->has_under) {
		cfg_error(B->errs, n, "%s: give over or under", what);
		return -1;
	}
	return 0;
}

/* A list of conditions (all/any) or one mapping (if/not). */
static int
build_kids(struct builder *B, const char *what, const struct ynode *n, struct cond *c) /* NOLINT(misc-no-recursion): 32 levels, B->depth */
{
	size_t i, j, count = 0;
	const struct ynode *const *items;

	if (n->kind == Y_SEQ) {
		items = (const struct ynode *const *)n->items;
		if (n->n == 0) {
			cfg_error(B->errs, n, "%s: the list is empty", what);
			return -1;
		}
		for (i = 0; i < n->n; i++) {
			if (items[i]->kind != Y_MAP) {
				cfg_error(B->errs, items[i], "%s: each item must be a condition mapping", what);
				return -1;
			}
			count += items[i]->n;
		}
	} else if (n->kind == Y_MAP) {
		items = &n;
		count = n->n;
		if (count == 0) {
			cfg_error(B->errs, n, "%s: the condition is empty", what);
			return -1;
		}
	} else {
		cfg_error(B->errs, n, "%s: expected %s, found %s", what,
		    c->kind == C_NOT ? "a condition mapping" : "a list of conditions", ykind_name(n->kind));
		return -1;
	}
	c->kids = calloc(count, sizeof(*c->kids)); /* NOLINT(bugprone-sizeof-expression): an array of pointers */
	if (c->kids == NULL)
		return -1;
	for (i = 0; i < (n->kind == Y_SEQ ? n->n : 1); i++) {
		const struct ynode *m = items[i];
		struct cond *grp = c;
		/* A list item with several keys is an implicit all. */
		if (n->kind == Y_SEQ && m->n > 1) {
			grp = new_cond(C_ALL);
			if (grp == NULL)
				return -1;
			grp->kids = calloc(m->n, sizeof(*grp->kids)); /* NOLINT(bugprone-sizeof-expression): an array of pointers */
			grp->desc = strdup("all");
			c->kids[c->nkids++] = grp;
		}
		for (j = 0; j < m->n; j++) {
			struct cond *k = build(B, ymap_key(m, j)->value, ymap_val(m, j));
			if (k == NULL)
				return -1;
			grp->kids[grp->nkids++] = k;
		}
	}
	return 0;
}

static char *
describe_list(const char *prefix, const struct strlist *l)
{
	struct sbuf b;
	size_t i;

	sbuf_init(&b, 0);
	sbuf_adds(&b, prefix);
	for (i = 0; i < l->n && i < 3; i++)
		sbuf_printf(&b, "%s\"%s\"", i ? ", " : " ", l->v[i]);
	if (l->n > 3)
		sbuf_printf(&b, " (+%zu more)", l->n - 3);
	return sbuf_steal(&b);
}

/* dkim: { domain, result, aligned_with_from } */
static int
build_dkim(struct builder *B, const struct ynode *val, struct cond *c)
{
	static const char *const keys[] = { "domain", "result", "aligned_with_from", NULL };
	const struct ynode *v;
	struct strlist res = { NULL, 0 };
	struct sbuf d;
	size_t i;
	int rc = 0;

	if (val->kind != Y_MAP || val->n == 0) {
		cfg_error(B->errs, val, "dkim: expected { domain: DOMAINS, result: RESULTS, aligned_with_from: true }");
		return -1;
	}
	if (!B->cfg->dkim_verify) {
		cfg_error(B->errs, val, "dkim: needs dkim.verify_inbound: true (nothing is verified without it)");
		rc = -1;
	}
	rc |= cfg_check_keys(B->errs, val, "dkim", keys);
	if ((v = ymap_get(val, "domain")) != NULL) {
		rc |= add_strings(B, "dkim: domain", v, &c->dkim_domains);
		for (i = 0; i < c->dkim_domains.n; i++)
			for (char *p = c->dkim_domains.v[i]; *p; p++)
				*p = (char)tolower((unsigned char)*p);
	}
	if ((v = ymap_get(val, "result")) != NULL) {
		rc |= add_strings(B, "dkim: result", v, &res);
		for (i = 0; i < res.n; i++) {
			int r = dkim_result_parse(res.v[i]);
			if (r < 0 || r == DKIM_NEUTRAL) {
				cfg_error(B->errs, v, "dkim: result: '%s' is not one of none, pass, fail, policy, temperror, "
				    "permerror", res.v[i]);
				rc = -1;
			} else {
				c->dkim_results |= 1u << r;
			}
		}
	}
	if ((v = ymap_get(val, "aligned_with_from")) != NULL) {
		if (yscalar_bool(v, &c->dkim_aligned) != 0 || !c->dkim_aligned) {
			cfg_error(B->errs, v, "dkim: aligned_with_from: only true is meaningful (for mail without an "
			    "aligned pass, write not: { dkim: { aligned_with_from: true } })");
			rc = -1;
		}
	}
	sbuf_init(&d, 0);
	sbuf_adds(&d, "dkim");
	for (i = 0; i < c->dkim_domains.n; i++)
		sbuf_printf(&d, "%s%s", i ? "," : " from ", c->dkim_domains.v[i]);
	if (c->dkim_aligned)
		sbuf_adds(&d, " aligned with From");
	if (res.n) {
		sbuf_adds(&d, " is");
		for (i = 0; i < res.n; i++)
			sbuf_printf(&d, "%s%s", i ? "|" : " ", res.v[i]);
	} else {
		sbuf_adds(&d, " passes");
	}
	c->desc = sbuf_steal(&d);
	strlist_free(&res);
	return rc ? -1 : 0;
}

static struct cond *
build(struct builder *B, const char *key, const struct ynode *val) /* NOLINT(misc-no-recursion): 32 levels, B->depth */
{
	struct cond *c = NULL;
	int rc = 0;

	if (++B->depth > 32) {
		cfg_error(B->errs, val, "conditions nested more than 32 deep");
		B->depth--;
		return NULL;
	}
	if (strcmp(key, "all") == 0 || strcmp(key, "any") == 0 || strcmp(key, "not") == 0) {
		c = new_cond(key[0] == 'n' ? C_NOT : key[1] == 'l' ? C_ALL : C_ANY);
		if (c == NULL)
			goto fail;
		c->desc = strdup(key);
		rc = build_kids(B, key, val, c);
		if (rc == 0 && c->kind == C_NOT && c->nkids > 1) {
			/* not: { a, b } negates "a and b". */
			struct cond *grp = new_cond(C_ALL);
			if (grp == NULL)
				goto fail;
			grp->kids = c->kids;
			grp->nkids = c->nkids;
			grp->desc = strdup("all");
			c->kids = calloc(1, sizeof(*c->kids)); /* NOLINT(bugprone-sizeof-expression): an array of pointers */
			if (c->kids == NULL) {
				cond_free(grp);
				goto fail;
			}
			c->kids[0] = grp;
			c->nkids = 1;
		}
	} else if (strcmp(key, "direction") == 0) {
		struct strlist l = { NULL, 0 };
		size_t i;
		c = new_cond(C_DIRECTION);
		if (c == NULL || add_strings(B, key, val, &l) != 0) {
			strlist_free(&l);
			goto fail;
		}
		for (i = 0; i < l.n; i++) {
			if (strcmp(l.v[i], "inbound") == 0)
				c->directions |= DIRM_INBOUND;
			else if (strcmp(l.v[i], "outbound") == 0)
				c->directions |= DIRM_OUTBOUND;
			else if (strcmp(l.v[i], "internal") == 0)
				c->directions |= DIRM_INTERNAL;
			else if (strcmp(l.v[i], "external") == 0)
				c->directions |= DIRM_EXTERNAL;
			else {
				cfg_error(B->errs, val, "direction: '%s' is not one of inbound, outbound, internal, external",
				    l.v[i]);
				rc = -1;
			}
		}
		c->desc = describe_list("direction is", &l);
		strlist_free(&l);
	} else if (strcmp(key, "sender") == 0) {
		c = new_cond(C_SENDER);
		if (c == NULL)
			goto fail;
		rc = build_addr(B, key, val, &c->am);
		c->desc = strdup("sender");
	} else if (strcmp(key, "recipients") == 0) {
		const struct ynode *m = val;
		c = new_cond(C_RECIPIENTS);
		if (c == NULL)
			goto fail;
		c->quant = Q_ANY;
		if (val->kind == Y_MAP && val->n == 1 && (strcmp(ymap_key(val, 0)->value, "any") == 0 ||
		    strcmp(ymap_key(val, 0)->value, "all") == 0 || strcmp(ymap_key(val, 0)->value, "none") == 0)) {
			const char *q = ymap_key(val, 0)->value;
			c->quant = q[0] == 'n' ? Q_NONE : q[1] == 'l' ? Q_ALL : Q_ANY;
			m = ymap_val(val, 0);
		}
		rc = build_addr(B, key, m, &c->am);
		c->desc = strdup(c->quant == Q_ALL ? "all recipients" : c->quant == Q_NONE ? "no recipient"
		    : "a recipient");
	} else if (strcmp(key, "subject") == 0) {
		c = new_cond(C_SUBJECT);
		if (c == NULL)
			goto fail;
		rc = build_text(B, key, val, &c->tm, 0, &c->strip);
		c->desc = strdup("subject");
	} else if (strcmp(key, "header") == 0) {
		static const char *const keys[] = { "name", "exists", "contains", "regex", NULL };
		const struct ynode *name, *ex;
		c = new_cond(C_HEADER);
		if (c == NULL)
			goto fail;
		c->exists = -1;
		if (val->kind != Y_MAP) {
			cfg_error(B->errs, val, "header: expected { name: NAME, exists|contains|regex: ... }");
			goto fail;
		}
		rc = cfg_check_keys(B->errs, val, key, keys);
		name = ymap_get(val, "name");
		if (name == NULL || name->kind != Y_SCALAR || !valid_header_name(name->value)) {
			cfg_error(B->errs, name ? name : val, "header: name: is required and must be a header field name");
			goto fail;
		}
		c->header_name = strdup(name->value);
		if ((ex = ymap_get(val, "exists")) && yscalar_bool(ex, &c->exists) != 0) {
			cfg_error(B->errs, ex, "header: exists: expected true or false");
			rc = -1;
		}
		if (ymap_get(val, "contains") || ymap_get(val, "regex")) {
			rc |= build_text(B, key, val, &c->tm, 0, NULL);
			if (c->exists == 0) {
				cfg_error(B->errs, ex, "header: exists: false cannot be combined with contains or regex");
				rc = -1;
			}
		} else if (c->exists < 0) {
			c->exists = 1;
		}
		if (asprintf(&c->desc, "header %s", c->header_name) < 0)
			c->desc = NULL;
	} else if (strcmp(key, "body") == 0) {
		c = new_cond(C_BODY);
		if (c == NULL)
			goto fail;
		rc = build_text(B, key, val, &c->tm, 1, NULL);
		c->desc = strdup("body");
	} else if (strcmp(key, "attachment") == 0) {
		static const char *const keys[] = { "filename", "content_type", "size", NULL };
		const struct ynode *v;
		c = new_cond(C_ATTACHMENT);
		if (c == NULL)
			goto fail;
		if (val->kind != Y_MAP || val->n == 0) {
			cfg_error(B->errs, val, "attachment: expected { filename: GLOBS, content_type: GLOBS, size: ... }");
			goto fail;
		}
		rc = cfg_check_keys(B->errs, val, key, keys);
		if ((v = ymap_get(val, "filename")))
			rc |= add_strings(B, "attachment: filename", v, &c->filenames);
		if ((v = ymap_get(val, "content_type")))
			rc |= add_strings(B, "attachment: content_type", v, &c->ctypes);
		if ((v = ymap_get(val, "size")))
			rc |= build_size(B, "attachment: size", v, c);
		c->desc = strdup("attachment");
	} else if (strcmp(key, "from") == 0) {
		c = new_cond(C_FROM);
		if (c == NULL)
			goto fail;
		rc = build_addr(B, key, val, &c->am);
		c->desc = strdup("From address");
	} else if (strcmp(key, "dkim") == 0) {
		c = new_cond(C_DKIM);
		if (c == NULL)
			goto fail;
		rc = build_dkim(B, val, c);
	} else if (strcmp(key, "size") == 0) {
		c = new_cond(C_SIZE);
		if (c == NULL)
			goto fail;
		rc = build_size(B, key, val, c);
		c->desc = strdup("size");
	} else {
		size_t i, best = 0;
		const char *s = NULL;
		for (i = 0; i < cond_ndocs; i++) {
			size_t common = 0;
			while (key[common] && key[common] == cond_docs[i].name[common])
				common++;
			if (common > best) {
				best = common;
				s = cond_docs[i].name;
			}
		}
		if (s && best >= 2)
			cfg_error(B->errs, val, "unknown condition '%s' (did you mean '%s'?)", key, s);
		else
			cfg_error(B->errs, val, "unknown condition '%s' (conditions: all, any, not, direction, sender, "
			    "recipients, from, subject, header, body, attachment, size, dkim)", key);
		goto fail;
	}
	if (rc != 0 || c->desc == NULL)
		goto fail;
	B->depth--;
	return c;
fail:
	B->depth--;
	cond_free(c);
	return NULL;
}

struct cond *
cond_build(const struct ynode *node, const struct seal_config *cfg, struct cfg_errors *errs)
{
	struct builder B = { cfg, errs, 0 };
	struct cond *c;

	if (node->kind != Y_MAP || node->n == 0) {
		cfg_error(errs, node, "if: expected a mapping of conditions");
		return NULL;
	}
	c = new_cond(C_ALL);
	if (c == NULL)
		return NULL;
	c->desc = strdup("all");
	if (build_kids(&B, "if", node, c) != 0) {
		cond_free(c);
		return NULL;
	}
	return c;
}

static void
free_regexes(struct sregex **res, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		sregex_free(res[i]);
	free(res);
}

void
cond_free(struct cond *c) /* NOLINT(misc-no-recursion): build() stops at 32 levels */
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < c->nkids; i++)
		cond_free(c->kids[i]);
	free(c->kids);
	free(c->desc);
	strlist_free(&c->am.addresses);
	strlist_free(&c->am.domains);
	strlist_free(&c->am.globs);
	strlist_free(&c->am.list);
	free_regexes(c->am.res, c->am.nres);
	strlist_free(&c->tm.contains);
	free_regexes(c->tm.res, c->tm.nres);
	free(c->header_name);
	strlist_free(&c->filenames);
	strlist_free(&c->dkim_domains);
	strlist_free(&c->ctypes);
	free(c);
}

/* ---- evaluation --------------------------------------------------------- */

static void
why(struct eval_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
why(struct eval_ctx *ctx, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	if (s == NULL)
		return;
	if (ctx->why.len)
		sbuf_adds(&ctx->why, "; ");
	sbuf_adds(&ctx->why, s);
	free(s);
}

static int
set_error(struct eval_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
set_error(struct eval_ctx *ctx, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (ctx->error == NULL && vasprintf(&ctx->error, fmt, ap) < 0)
		ctx->error = NULL;
	va_end(ap);
	return -1;
}

static int
glob_match(const char *glob, const char *s)
{
	return fnmatch(glob, s, FNM_CASEFOLD) == 0;
}

static int
has_glob(const char *s)
{
	return strpbrk(s, "*?[") != NULL;
}

/* One list entry: a glob, an address (has @) or a domain. */
static int
entry_match(const char *entry, const char *addr)
{
	if (has_glob(entry))
		return glob_match(entry, addr);
	if (strchr(entry, '@'))
		return strcasecmp(entry, addr) == 0;
	return domain_matches(addr_domain(addr), entry);
}

/* 1 when addr satisfies every criterion given; -1 on a regex error. */
static int
addr_match(const struct addr_matcher *am, const char *addr, struct eval_ctx *ctx)
{
	size_t i;
	int hit;

	if (am->addresses.n) {
		for (hit = 0, i = 0; i < am->addresses.n && !hit; i++)
			hit = strcasecmp(am->addresses.v[i], addr) == 0;
		if (!hit)
			return 0;
	}
	if (am->domains.n) {
		for (hit = 0, i = 0; i < am->domains.n && !hit; i++)
			hit = domain_matches(addr_domain(addr), am->domains.v[i]);
		if (!hit)
			return 0;
	}
	if (am->globs.n) {
		for (hit = 0, i = 0; i < am->globs.n && !hit; i++)
			hit = glob_match(am->globs.v[i], addr);
		if (!hit)
			return 0;
	}
	if (am->nres) {
		for (hit = 0, i = 0; i < am->nres && hit == 0; i++) {
			size_t s, e;
			hit = sregex_find(am->res[i], addr, strlen(addr), 0, &s, &e);
			if (hit < 0)
				return set_error(ctx, "regex /%s/ hit its match limit (limits.regex_match_limit: %u)",
				    sregex_source(am->res[i]), (unsigned)sregex_match_limit(am->res[i]));
		}
		if (!hit)
			return 0;
	}
	if (am->org) {
		int in = *addr && config_is_org_domain(ctx->f->cfg, addr_domain(addr));
		if (in != (am->org > 0))
			return 0;
	}
	if (am->has_list) {
		for (hit = 0, i = 0; i < am->list.n && !hit; i++)
			hit = entry_match(am->list.v[i], addr);
		if (hit == am->list_negated)
			return 0;
	}
	return 1;
}

static void
record_span(struct eval_ctx *ctx, size_t s, size_t e)
{
	struct strip_span *ns;

	if (ctx->negated || e <= s)
		return;
	ns = realloc(ctx->spans, (ctx->nspans + 1) * sizeof(*ns));
	if (ns == NULL) {
		/* A strip the rule asked for must not be skipped silently. */
		if (ctx->error == NULL)
			ctx->error = strdup("out of memory recording subject text to strip");
		return;
	}
	ctx->spans = ns;
	ns[ctx->nspans].start = s;
	ns[ctx->nspans].end = e;
	ctx->nspans++;
}

static int
luhn_digits(const char *d, size_t n)
{
	int sum = 0, dbl = 0;
	size_t k;

	for (k = n; k-- > 0;) {
		int v = (unsigned char)d[k];
		if (dbl && (v *= 2) > 9)
			v -= 9;
		sum += v;
		dbl = !dbl;
	}
	return sum % 10 == 0;
}

/* Does the match hold a card number that passes the Luhn checksum? A greedy
 * regex may take in a group of digits around the number ("4111 1111 1111
 * 1111 123"), so every run of whole digit groups (split at spaces and
 * dashes) of 13 to 19 digits is tried. A run of digits with no separator is
 * judged whole: trying every window of it would pass most random numbers. */
static int
luhn_ok(const char *s, size_t n)
{
	char d[64];
	size_t cut[65], ncut = 0, nd = 0, i, j;

	cut[ncut++] = 0;
	for (i = 0; i < n && nd < sizeof(d); i++) {
		if (isdigit((unsigned char)s[i]))
			d[nd++] = (char)(s[i] - '0');
		else if (nd > 0 && cut[ncut - 1] != nd)
			cut[ncut++] = nd;
	}
	if (cut[ncut - 1] != nd)
		cut[ncut++] = nd;
	for (i = 0; i < ncut; i++)
		for (j = i + 1; j < ncut; j++) {
			size_t len = cut[j] - cut[i];
			if (len >= 13 && len <= 19 && luhn_digits(d + cut[i], len))
				return 1;
		}
	return 0;
}

/* Does text match? Reports the first match in *what; records every match
 * as a strip span when spans is set. 1/0/-1. */
static int
text_match(const struct text_matcher *tm, const char *text, size_t len, struct eval_ctx *ctx,
    int spans, char **what)
{
	size_t i, s, e;
	int found = 0, rc;

	for (i = 0; i < tm->contains.n; i++) {
		const char *needle = tm->contains.v[i];
		size_t nl = strlen(needle), pos = 0;
		const char *p;
		while (pos <= len && (p = memcasemem(text + pos, len - pos, needle, nl)) != NULL) {
			if (!found && asprintf(what, "contains \"%s\"", needle) < 0)
				*what = NULL;
			found = 1;
			if (!spans)
				return 1;
			record_span(ctx, (size_t)(p - text), (size_t)(p - text) + nl);
			pos = (size_t)(p - text) + (nl ? nl : 1);
		}
	}
	for (i = 0; i < tm->nres; i++) {
		size_t pos = 0;
		while (pos <= len && (rc = sregex_find(tm->res[i], text, len, pos, &s, &e)) != 0) {
			if (rc < 0)
				return set_error(ctx, "regex /%s/ hit its match limit (limits.regex_match_limit: %u)",
				    sregex_source(tm->res[i]), (unsigned)sregex_match_limit(tm->res[i]));
			if (!found && asprintf(what, "matches /%s/", sregex_source(tm->res[i])) < 0)
				*what = NULL;
			found = 1;
			if (!spans)
				return 1;
			record_span(ctx, s, e);
			pos = e > s ? e : e + 1;
		}
	}
	if (tm->pattern) {
		size_t pos = 0;
		while (pos <= len && (rc = sregex_find(tm->pattern->re, text, len, pos, &s, &e)) != 0) {
			if (rc < 0)
				return set_error(ctx, "pattern %s hit the regex match limit (limits.regex_match_limit: %u)",
				    tm->pattern->name, (unsigned)sregex_match_limit(tm->pattern->re));
			if (tm->pattern->check != CHECK_LUHN || luhn_ok(text + s, e - s)) {
				if (asprintf(what, "matches pattern %s", tm->pattern->name) < 0)
					*what = NULL;
				return 1;
			}
			pos = e > s ? e : e + 1;
		}
	}
	return found;
}

static int
eval_header(const struct cond *c, struct eval_ctx *ctx)
{
	const struct msg_facts *f = ctx->f;
	size_t i;
	int seen = 0;

	for (i = 0; i < f->nheaders; i++) {
		char *val, *what = NULL;
		int rc;
		if (strcasecmp(f->headers[i].name, c->header_name) != 0)
			continue;
		seen = 1;
		if (c->tm.contains.n == 0 && c->tm.nres == 0)
			break;
		val = hdr_decode(f->headers[i].value);
		if (val == NULL)
			return set_error(ctx, "out of memory decoding header %s", c->header_name);
		rc = text_match(&c->tm, val, strlen(val), ctx, 0, &what);
		free(val);
		if (rc != 0) {
			if (rc > 0)
				why(ctx, "header %s %s", c->header_name, what ? what : "matches");
			free(what);
			return rc;
		}
	}
	if (c->tm.contains.n || c->tm.nres)
		return 0;
	if (seen == c->exists) {
		why(ctx, "header %s %s", c->header_name, seen ? "exists" : "is absent");
		return 1;
	}
	return 0;
}

static int
eval_attachment(const struct cond *c, struct eval_ctx *ctx)
{
	const struct msg_facts *f = ctx->f;
	size_t i, j;

	for (i = 0; i < f->nparts; i++) {
		const struct part_info *p = &f->parts[i];
		int ok = 1;
		if (c->filenames.n) {
			ok = 0;
			for (j = 0; p->filename && j < c->filenames.n && !ok; j++)
				ok = glob_match(c->filenames.v[j], p->filename) ||
				    (p->alt_name && glob_match(c->filenames.v[j], p->alt_name));
		}
		if (ok && c->ctypes.n) {
			ok = 0;
			for (j = 0; j < c->ctypes.n && !ok; j++)
				ok = glob_match(c->ctypes.v[j], p->content_type);
		}
		if (ok && c->has_over && !(p->size > c->over))
			ok = 0;
		if (ok && c->has_under && !(p->size < c->under))
			ok = 0;
		if (ok) {
			why(ctx, "attachment \"%s\"%s%s%s (%s, %llu bytes)", p->filename ? p->filename : "(no name)",
			    p->alt_name ? " (also named \"" : "", p->alt_name ? p->alt_name : "", p->alt_name ? "\")" : "",
			    p->content_type, (unsigned long long)p->size);
			return 1;
		}
	}
	return 0;
}

/* The addresses of the From field(s). */
static void
from_addresses(const struct msg_facts *f, struct strlist *out)
{
	size_t i;

	for (i = 0; i < f->nheaders; i++)
		if (strcasecmp(f->headers[i].name, "From") == 0)
			mime_addresses(f->headers[i].value, out);
}

static int
eval_from(const struct cond *c, struct eval_ctx *ctx)
{
	struct strlist from = { NULL, 0 };
	size_t i;
	int rc = 0;

	from_addresses(ctx->f, &from);
	for (i = 0; i < from.n && rc == 0; i++) {
		rc = addr_match(&c->am, from.v[i], ctx);
		if (rc > 0)
			why(ctx, "From <%s> matches", from.v[i]);
	}
	strlist_free(&from);
	return rc;
}

/* How strongly a result claims authenticity: the best one counts. */
static int
dkim_rank(int r)
{
	switch (r) {
	case DKIM_PASS: return 6;
	case DKIM_POLICY: return 5;
	case DKIM_TEMPERROR: return 4;
	case DKIM_FAIL: return 3;
	case DKIM_PERMERROR: return 2;
	case DKIM_NEUTRAL: return 1;
	default: return 0;
	}
}

static int
eval_dkim(const struct cond *c, struct eval_ctx *ctx)
{
	const struct msg_facts *f = ctx->f;
	char *from_org = NULL;
	const struct dkim_outcome *best = NULL;
	size_t i, j;
	int result, want;

	if (c->dkim_aligned) {
		/* Alignment needs exactly one From field with exactly one address:
		 * with two, which one the reader sees is up to the reader's software. */
		struct strlist from = { NULL, 0 };
		size_t fields = 0;
		for (i = 0; i < f->nheaders; i++)
			fields += strcasecmp(f->headers[i].name, "From") == 0;
		from_addresses(f, &from);
		if (fields == 1 && from.n == 1 && *addr_domain(from.v[0]))
			from_org = dkim_org_domain(addr_domain(from.v[0]));
		strlist_free(&from);
		if (from_org == NULL) {
			result = DKIM_NONE;
			goto decide;
		}
	}
	for (i = 0; f->dkim_checked && i < f->ndkim; i++) {
		const struct dkim_outcome *o = &f->dkim[i];
		int hit = c->dkim_domains.n == 0;
		/* RFC 6376 3.6.1: mail signed with a key in testing mode (t=y) is
		 * treated as unsigned. */
		if (o->d == NULL || o->testing)
			continue;
		for (j = 0; j < c->dkim_domains.n && !hit; j++)
			hit = domain_matches(o->d, c->dkim_domains.v[j]);
		if (hit && from_org) {
			char *org = dkim_org_domain(o->d);
			hit = org && strcmp(org, from_org) == 0;
			free(org);
		}
		if (hit && (best == NULL || dkim_rank(o->result) > dkim_rank(best->result)))
			best = o;
	}
	result = best ? best->result : DKIM_NONE;
decide:
	free(from_org);
	want = c->dkim_results ? (c->dkim_results & (1u << result)) != 0 : result == DKIM_PASS;
	if (want) {
		if (best)
			why(ctx, "dkim=%s for d=%s%s%s%s", dkim_result_name(result), best->d, best->reason ? " (" : "",
			    best->reason ? best->reason : "", best->reason ? ")" : "");
		else
			why(ctx, "dkim=none%s", c->dkim_aligned ? " aligned with From" : "");
	}
	return want;
}

int
cond_eval(const struct cond *c, struct eval_ctx *ctx) /* NOLINT(misc-no-recursion): build() stops at 32 levels */
{
	const struct msg_facts *f = ctx->f;
	size_t i;
	int rc;

	switch (c->kind) {
	case C_ALL:
		for (i = 0; i < c->nkids; i++)
			if ((rc = cond_eval(c->kids[i], ctx)) != 1)
				return rc;
		return 1;
	case C_ANY:
		for (i = 0; i < c->nkids; i++)
			if ((rc = cond_eval(c->kids[i], ctx)) != 0)
				return rc;
		return 0;
	case C_NOT: {
		size_t mark = ctx->why.len;
		ctx->negated++;
		rc = cond_eval(c->kids[0], ctx);
		ctx->negated--;
		/* Reasons for the inner condition being true are moot when the not is false. */
		ctx->why.len = mark;
		if (ctx->why.data)
			ctx->why.data[mark] = '\0';
		if (rc < 0)
			return rc;
		if (rc == 0)
			why(ctx, "not (%s)", c->kids[0]->desc);
		return !rc;
	}
	case C_DIRECTION: {
		unsigned have = f->direction == DIR_OUTBOUND
		    ? DIRM_OUTBOUND | (f->internal ? DIRM_INTERNAL : DIRM_EXTERNAL) : DIRM_INBOUND;
		if (have & c->directions) {
			why(ctx, "direction is %s", f->direction == DIR_INBOUND ? "inbound"
			    : f->internal ? "internal" : "outbound");
			return 1;
		}
		return 0;
	}
	case C_SENDER:
		rc = addr_match(&c->am, f->sender, ctx);
		if (rc > 0)
			why(ctx, "sender <%s> matches", f->sender);
		return rc;
	case C_RECIPIENTS: {
		size_t hits = 0;
		const char *first = NULL;
		for (i = 0; i < f->nrcpts; i++) {
			rc = addr_match(&c->am, f->rcpts[i], ctx);
			if (rc < 0)
				return rc;
			if (rc) {
				hits++;
				if (!first)
					first = f->rcpts[i];
				if (c->quant == Q_ANY)
					break;
			}
		}
		if (c->quant == Q_ANY && hits) {
			why(ctx, "recipient <%s> matches", first);
			return 1;
		}
		if (c->quant == Q_ALL && f->nrcpts > 0 && hits == f->nrcpts) {
			why(ctx, "all %zu recipients match", f->nrcpts);
			return 1;
		}
		if (c->quant == Q_NONE && hits == 0) {
			why(ctx, "no recipient matches");
			return 1;
		}
		return 0;
	}
	case C_SUBJECT: {
		char *what = NULL;
		rc = text_match(&c->tm, f->subject, strlen(f->subject), ctx, c->strip, &what);
		if (ctx->error)
			rc = -1;
		if (rc > 0)
			why(ctx, "subject %s", what ? what : "matches");
		free(what);
		return rc;
	}
	case C_HEADER:
		return eval_header(c, ctx);
	case C_BODY: {
		char *what = NULL;
		if (f->body_hits && f->body_hits[c->body_index].hit) {
			why(ctx, "body %s", f->body_hits[c->body_index].what ? f->body_hits[c->body_index].what : "matches");
			return 1;
		}
		rc = text_match(&c->tm, f->text ? f->text : "", f->textlen, ctx, 0, &what);
		if (rc > 0)
			why(ctx, "body %s", what ? what : "matches");
		free(what);
		return rc;
	}
	case C_ATTACHMENT:
		return eval_attachment(c, ctx);
	case C_FROM:
		return eval_from(c, ctx);
	case C_DKIM:
		return eval_dkim(c, ctx);
	case C_SIZE:
		if ((c->has_over && !(f->size > c->over)) || (c->has_under && !(f->size < c->under)))
			return 0;
		why(ctx, "size %llu bytes", (unsigned long long)f->size);
		return 1;
	}
	return 0;
}

int
cond_body_scan(const struct cond *c, const char *text, size_t len, char **what, char **error)
{
	struct eval_ctx ctx;
	int rc;

	memset(&ctx, 0, sizeof(ctx));
	ctx.negated = 1;       /* no strip spans */
	*what = NULL;
	rc = text_match(&c->tm, text, len, &ctx, 0, what);
	*error = ctx.error;
	return rc;
}
