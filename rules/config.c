/*
 * config.c - load the YAML configuration into a struct seal_config.
 *
 * The scalar settings are driven by cfg_keys[] (cfgkeys.c): the loader looks
 * every key up there, so a misspelt key is an error that names the closest
 * real key, and no key name is written twice in the code. Patterns and rules
 * are built by cond.c and action.c.
 *
 * Calling rules: config_load() may run in any thread but builds a private
 * configuration; publish it only when it returned non-NULL. The result is
 * reference counted: config_ref()/config_unref() are thread-safe.
 * Untrusted input: the files are the administrator's, but a mistake must
 * be reported precisely (file:line:column) and never half-applied: any
 * error frees everything and returns NULL.
 */
#include "build-config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/netaddr.h"
#include "common/util.h"
#include "dkim/dkim.h"
#include "dns/resolver.h"
#include "rules/cfgerr.h"
#include "rules/config.h"
#include "rules/policy.h"
#include "rules/regex.h"
#include "rules/yamltree.h"

#define MAX_INCLUDE_DEPTH 8
#define MAX_FILES 64

struct load {
	struct seal_config *c;
	struct cfg_errors *errs;
	struct ytree tree;
	const struct seal_config *prev;
	const struct ynode *seen[CFG_MAX_KEYS];   /* indexed like cfg_keys */
	const struct ynode *nodes[CFG_MAX_KEYS];  /* CT_NODE values, for their builders */
	const struct ynode **pattern_lists;
	size_t npattern_lists;
	const struct ynode **rule_lists;
	size_t nrule_lists;
	const struct ynode *keys;         /* the keys: section, wherever it was given */
	const struct ynode *templates_node, *branding_node;
	const struct ynode *signing_node;
	unsigned flags;
};

/* ---- small list helpers ------------------------------------------------- */

int
strlist_add(struct strlist *l, const char *s)
{
	char **nv = realloc(l->v, (l->n + 1) * sizeof(*nv));

	if (nv == NULL)
		return -1;
	l->v = nv;
	l->v[l->n] = strdup(s);
	if (l->v[l->n] == NULL)
		return -1;
	l->n++;
	return 0;
}

void
strlist_free(struct strlist *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/* ---- scalar settings from the key table -------------------------------- */

static const struct cfg_key *
find_key(const char *name, size_t *idx)
{
	size_t i;

	for (i = 0; i < cfg_nkeys; i++)
		if (strcmp(cfg_keys[i].name, name) == 0) {
			if (idx)
				*idx = i;
			return &cfg_keys[i];
		}
	return NULL;
}

/* Edit distance, for "did you mean". */
static size_t
distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i, j, prev, cur, tmp;
	size_t row[64];

	if (lb >= 64)
		return 99;
	for (j = 0; j <= lb; j++)
		row[j] = j;
	for (i = 1; i <= la; i++) {
		prev = row[0];
		row[0] = i;
		for (j = 1; j <= lb; j++) {
			tmp = row[j];
			cur = prev + (tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]));
			if (row[j] + 1 < cur)
				cur = row[j] + 1;
			if (row[j - 1] + 1 < cur)
				cur = row[j - 1] + 1;
			row[j] = cur;
			prev = tmp;
		}
	}
	return row[lb];
}

/* The closest key of a section ("milter.") to the misspelt full name. */
static const char *
suggest(const char *full)
{
	const char *best = NULL;
	size_t bestd = 4, i;

	for (i = 0; i < cfg_nkeys; i++) {
		size_t d = distance(full, cfg_keys[i].name);
		if (d < bestd) {
			bestd = d;
			best = cfg_keys[i].name;
		}
	}
	return best;
}

static int
valid_domain(const char *d)
{
	const char *p;

	if (*d == '\0' || strlen(d) > 253 || *d == '.' || *d == '-')
		return 0;
	for (p = d; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '.' && *p != '-')
			return 0;
	return 1;
}

/* Apply one setting from a YAML node, or from its default text when node is
 * NULL (at is then only a position for errors). */
static int
set_value(struct load *L, const struct cfg_key *k, const struct ynode *node, const char *deftext)
{
	char *base = (char *)L->c + k->offset;
	const char *text = node ? node->value : deftext;
	uint64_t v;
	size_t i;

	if (k->type == CT_DOMAINS || k->type == CT_NETWORKS || k->type == CT_NAMESERVERS) {
		/* A list, or a single string; defaults are comma-separated. */
		struct strlist items = { NULL, 0 };
		int bad = 0;
		if (node && node->kind == Y_SEQ) {
			for (i = 0; i < node->n; i++) {
				if (node->items[i]->kind != Y_SCALAR) {
					cfg_error(L->errs, node->items[i], "%s: each item must be a string", k->name);
					bad = 1;
					continue;
				}
				strlist_add(&items, node->items[i]->value);
			}
		} else if (node && node->kind == Y_MAP) {
			cfg_error(L->errs, node, "%s: expected a list, found %s", k->name, ykind_name(node->kind));
			return -1;
		} else {
			char *copy = strdup(text), *tok, *save = NULL;
			for (tok = strtok_r(copy, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save))
				strlist_add(&items, tok);
			free(copy);
		}
		if (k->type == CT_NAMESERVERS) {
			struct strlist *out = (struct strlist *)(void *)base;
			strlist_free(out);
			for (i = 0; i < items.n; i++) {
				if (!dns_nameserver_valid(items.v[i])) {
					cfg_error(L->errs, node, "%s: '%s' is not an IP address or address@port", k->name,
					    items.v[i]);
					bad = 1;
				} else
					strlist_add(out, items.v[i]);
			}
		} else if (k->type == CT_DOMAINS) {
			struct strlist *out = (struct strlist *)(void *)base;
			strlist_free(out);
			for (i = 0; i < items.n; i++) {
				char *p;
				for (p = items.v[i]; *p; p++)
					*p = (char)tolower((unsigned char)*p);
				if (!valid_domain(items.v[i])) {
					cfg_error(L->errs, node, "%s: '%s' is not a domain name", k->name, items.v[i]);
					bad = 1;
				} else
					strlist_add(out, items.v[i]);
			}
		} else {
			struct cidr_list *out = (struct cidr_list *)(void *)base;
			free(out->v);
			out->v = calloc(items.n ? items.n : 1, sizeof(*out->v));
			out->n = 0;
			for (i = 0; i < items.n; i++) {
				if (cidr_parse(items.v[i], &out->v[out->n]) != 0) {
					cfg_error(L->errs, node, "%s: '%s' is not an address or network (a.b.c.d/len or ipv6/len)",
					    k->name, items.v[i]);
					bad = 1;
				} else
					out->n++;
			}
		}
		strlist_free(&items);
		return bad ? -1 : 0;
	}

	if (node && node->kind != Y_SCALAR) {
		cfg_error(L->errs, node, "%s: expected a single value, found %s", k->name, ykind_name(node->kind));
		return -1;
	}
	switch (k->type) {
	case CT_BOOL:
		if (strcmp(text, "true") == 0 || strcmp(text, "yes") == 0 || strcmp(text, "on") == 0) {
			*(int *)(void *)base = 1;
		} else if (strcmp(text, "false") == 0 || strcmp(text, "no") == 0 || strcmp(text, "off") == 0) {
			*(int *)(void *)base = 0;
		} else {
			cfg_error(L->errs, node, "%s: '%s' is not true or false", k->name, text);
			return -1;
		}
		return 0;
	case CT_STRING:
	case CT_PATH:
	case CT_HEADER_NAME: {
		char **sp = (char **)(void *)base;
		if (k->type == CT_HEADER_NAME && !valid_header_name(text)) {
			cfg_error(L->errs, node, "%s: '%s' is not a valid header field name", k->name, text);
			return -1;
		}
		if (k->type == CT_PATH && text[0] != '/' && node) {
			cfg_error(L->errs, node, "%s: '%s' must be an absolute path", k->name, text);
			return -1;
		}
		free(*sp);
		*sp = strdup(text);
		return 0;
	}
	case CT_ENUM: {
		const char *p = k->choices, *bar;
		int idx = 0;
		for (;;) {
			bar = strchr(p, '|');
			size_t len = bar ? (size_t)(bar - p) : strlen(p);
			if (strlen(text) == len && strncmp(text, p, len) == 0) {
				*(int *)(void *)base = idx;
				return 0;
			}
			if (!bar)
				break;
			p = bar + 1;
			idx++;
		}
		cfg_error(L->errs, node, "%s: '%s' is not one of: %s", k->name, text, k->choices);
		return -1;
	}
	case CT_SIZE:
	case CT_DURATION:
	case CT_UINT: {
		int rc = k->type == CT_SIZE ? parse_size(text, &v)
		    : k->type == CT_DURATION ? parse_duration(text, &v) : parse_uint(text, &v);
		if (rc != 0) {
			cfg_error(L->errs, node, "%s: '%s' is not %s", k->name, text,
			    k->type == CT_SIZE ? "a size (like 512K, 10M, 1G)"
			    : k->type == CT_DURATION ? "a duration (like 30s, 5m, 2h, 7d)" : "a whole number");
			return -1;
		}
		if ((v < k->min || v > k->max) && !(v == 0 && k->min == 0)) {
			cfg_error(L->errs, node, "%s: %s is out of range (%llu to %llu)", k->name, text,
			    (unsigned long long)k->min, (unsigned long long)k->max);
			return -1;
		}
		*(uint64_t *)(void *)base = v;
		return 0;
	}
	default:
		return -1;
	}
}

static void
load_section(struct load *L, const char *section, const struct ynode *map)
{
	size_t i;

	if (map->kind != Y_MAP) {
		cfg_error(L->errs, map, "%s: expected a mapping, found %s", section, ykind_name(map->kind));
		return;
	}
	for (i = 0; i < map->n; i++) {
		const struct ynode *kn = ymap_key(map, i), *vn = ymap_val(map, i);
		char *full = NULL;
		const struct cfg_key *k;
		size_t idx;

		if (asprintf(&full, "%s.%s", section, kn->value) < 0)
			return;
		k = find_key(full, &idx);
		if (k == NULL || k->type == CT_SECTION) {
			const char *s = suggest(full);
			if (s)
				cfg_error(L->errs, kn, "unknown key '%s' (did you mean '%s'?)", full, s);
			else
				cfg_error(L->errs, kn, "unknown key '%s'", full);
		} else if (L->seen[idx]) {
			cfg_error(L->errs, kn, "%s is already set at %s:%d:%d", full, L->seen[idx]->file,
			    L->seen[idx]->line, L->seen[idx]->col);
		} else if (k->type == CT_NODE) {
			L->seen[idx] = kn;
			L->nodes[idx] = vn;
		} else {
			L->seen[idx] = kn;
			set_value(L, k, vn, NULL);
		}
		free(full);
	}
}

/* ---- files and includes ------------------------------------------------- */

static int
push_node(const struct ynode ***list, size_t *n, const struct ynode *node)
{
	const struct ynode **nl = realloc(*list, (*n + 1) * sizeof(*nl)); /* NOLINT(bugprone-sizeof-expression): an array of pointers */

	if (nl == NULL)
		return -1;
	*list = nl;
	nl[(*n)++] = node;
	return 0;
}

static void load_file(struct load *L, const char *path, int depth, const struct ynode *from);

static void
load_includes(struct load *L, const char *from_path, const struct ynode *val, int depth) /* NOLINT(misc-no-recursion): MAX_INCLUDE_DEPTH */
{
	size_t i, n = val->kind == Y_SEQ ? val->n : 1;

	if (val->kind == Y_MAP) {
		cfg_error(L->errs, val, "include: expected a file name or a list of them");
		return;
	}
	for (i = 0; i < n; i++) {
		const struct ynode *item = val->kind == Y_SEQ ? val->items[i] : val;
		char *path, *dirbuf;
		if (item->kind != Y_SCALAR) {
			cfg_error(L->errs, item, "include: each item must be a file name");
			continue;
		}
		if (item->value[0] == '/') {
			path = strdup(item->value);
		} else {
			dirbuf = strdup(from_path);
			if (asprintf(&path, "%s/%s", dirname(dirbuf), item->value) < 0)
				path = NULL;
			free(dirbuf);
		}
		if (path == NULL)
			continue;
		load_file(L, path, depth + 1, item);
		free(path);
	}
}

/* 1 when the key table has settings in section k ("k.something"). */
static int
table_section(const char *k)
{
	size_t i, n = strlen(k);

	for (i = 0; i < cfg_nkeys; i++)
		if (strncmp(cfg_keys[i].name, k, n) == 0 && cfg_keys[i].name[n] == '.')
			return 1;
	return 0;
}

static void
load_file(struct load *L, const char *path, int depth, const struct ynode *from) /* NOLINT(misc-no-recursion): MAX_INCLUDE_DEPTH */
{
	struct ynode *root;
	size_t i;

	if (depth > MAX_INCLUDE_DEPTH) {
		cfg_error(L->errs, from, "include: nested more than %d levels deep", MAX_INCLUDE_DEPTH);
		return;
	}
	for (i = 0; i < L->tree.nfiles; i++)
		if (strcmp(L->tree.files[i], path) == 0) {
			cfg_error(L->errs, from, "include: %s is included twice (or includes itself)", path);
			return;
		}
	if (L->tree.nfiles >= MAX_FILES) {
		cfg_error(L->errs, from, "include: more than %d files", MAX_FILES);
		return;
	}
	root = ytree_load(&L->tree, path, L->errs);
	if (root == NULL)
		return;
	if (root->kind != Y_MAP) {
		cfg_error(L->errs, root, "the top level must be a mapping of sections, found %s",
		    ykind_name(root->kind));
		return;
	}
	for (i = 0; i < root->n; i++) {
		const struct ynode *kn = ymap_key(root, i), *vn = ymap_val(root, i);
		const char *k = kn->value;

		if (table_section(k)) {
			load_section(L, k, vn);
		} else if (strcmp(k, "patterns") == 0) {
			if (vn->kind != Y_MAP)
				cfg_error(L->errs, vn, "patterns: expected a mapping of names to patterns");
			else
				push_node(&L->pattern_lists, &L->npattern_lists, vn);
		} else if (strcmp(k, "rules") == 0) {
			if (vn->kind != Y_SEQ)
				cfg_error(L->errs, vn, "rules: expected a list of rules");
			else
				push_node(&L->rule_lists, &L->nrule_lists, vn);
		} else if (strcmp(k, "include") == 0) {
			load_includes(L, path, vn, depth);
		} else if (strcmp(k, "templates") == 0 || strcmp(k, "branding") == 0) {
			const struct ynode **slot = k[0] == 't' ? &L->templates_node : &L->branding_node;
			if (*slot)
				cfg_error(L->errs, kn, "%s: is already given at %s:%d:%d", k, (*slot)->file, (*slot)->line,
				    (*slot)->col);
			else
				*slot = vn;
		} else if (strcmp(k, "signing") == 0) {
			if (L->signing_node)
				cfg_error(L->errs, kn, "signing: is already given at %s:%d:%d", L->signing_node->file,
				    L->signing_node->line, L->signing_node->col);
			else
				L->signing_node = vn;
		} else if (strcmp(k, "keys") == 0) {
			if (L->keys)
				cfg_error(L->errs, kn, "keys: is already given at %s:%d:%d", L->keys->file, L->keys->line,
				    L->keys->col);
			else
				L->keys = vn;
		} else {
			static const char *const sections[] = { "organization", "milter", "limits", "dns", "dkim",
				"patterns", "rules", "include", "keys", "templates", "branding", "signing", "smime", "viewer",
				"sealview" };
			const char *s = NULL;
			size_t j, bestd = 3;
			for (j = 0; j < sizeof(sections) / sizeof(sections[0]); j++)
				if (distance(k, sections[j]) < bestd) {
					bestd = distance(k, sections[j]);
					s = sections[j];
				}
			if (s)
				cfg_error(L->errs, kn, "unknown section '%s' (did you mean '%s'?)", k, s);
			else
				cfg_error(L->errs, kn, "unknown section '%s' (sections: organization, milter, limits, dns, "
				    "dkim, smime, viewer, sealview, patterns, rules, include, keys, templates, branding, signing)",
				    k);
		}
	}
}

/* ---- patterns and rules ------------------------------------------------- */

static void
build_patterns(struct load *L)
{
	size_t li, i, total = 0;

	for (li = 0; li < L->npattern_lists; li++)
		total += L->pattern_lists[li]->n;
	L->c->patterns = calloc(total ? total : 1, sizeof(*L->c->patterns));
	if (L->c->patterns == NULL)
		return;
	for (li = 0; li < L->npattern_lists; li++) {
		const struct ynode *map = L->pattern_lists[li];
		for (i = 0; i < map->n; i++) {
			const struct ynode *kn = ymap_key(map, i), *vn = ymap_val(map, i), *re, *chk;
			struct pattern *p;
			char err[256];
			size_t off = 0, j;
			int dup = 0;

			/* Every counted pattern has a name (the analyzer does not know npatterns
			 * starts at 0 and counts only named ones). */
			for (j = 0; j < L->c->npatterns; j++)
				if (strcmp(L->c->patterns[j].name, kn->value) == 0)   /* NOLINT(clang-analyzer-core.NonNullParamChecker) */
					dup = 1;
			if (dup) {
				cfg_error(L->errs, kn, "pattern '%s' is defined twice", kn->value);
				continue;
			}
			if (vn->kind != Y_MAP) {
				cfg_error(L->errs, vn, "pattern '%s': expected a mapping with regex:", kn->value);
				continue;
			}
			for (j = 0; j < vn->n; j++) {
				const char *pk = ymap_key(vn, j)->value;
				if (strcmp(pk, "regex") && strcmp(pk, "check") && strcmp(pk, "description"))
					cfg_error(L->errs, ymap_key(vn, j),
					    "pattern '%s': unknown key '%s' (keys: regex, check, description)", kn->value, pk);
			}
			re = ymap_get(vn, "regex");
			if (re == NULL || re->kind != Y_SCALAR) {
				cfg_error(L->errs, re ? re : vn, "pattern '%s': regex: is required and must be a string",
				    kn->value);
				continue;
			}
			p = &L->c->patterns[L->c->npatterns];
			p->name = strdup(kn->value);
			if (p->name == NULL) {     /* not counted: the next pattern's strcmp() would meet NULL */
				cfg_error(L->errs, kn, "out of memory");
				continue;
			}
			p->re = sregex_compile(re->value, 1, (uint32_t)L->c->regex_match_limit, err, sizeof(err), &off);
			if (p->re == NULL) {
				cfg_error_at(L->errs, re->file, re->line, re->col, "pattern '%s': bad regex at offset %zu: %s",
				    kn->value, off, err);
				free(p->name);
				p->name = NULL;
				continue;
			}
			chk = ymap_get(vn, "check");
			if (chk) {
				if (chk->kind == Y_SCALAR && strcmp(chk->value, "luhn") == 0)
					p->check = CHECK_LUHN;
				else if (!(chk->kind == Y_SCALAR && strcmp(chk->value, "none") == 0))
					cfg_error(L->errs, chk, "pattern '%s': check: must be luhn or none", kn->value);
			}
			if ((re = ymap_get(vn, "description")) && re->kind == Y_SCALAR &&
			    (p->description = strdup(re->value)) == NULL)
				cfg_error(L->errs, re, "out of memory");
			L->c->npatterns++;
		}
	}
}

static void
build_rules(struct load *L)
{
	size_t li, i, total = 0;

	for (li = 0; li < L->nrule_lists; li++)
		total += L->rule_lists[li]->n;
	L->c->rules = calloc(total ? total : 1, sizeof(*L->c->rules));
	if (L->c->rules == NULL)
		return;
	for (li = 0; li < L->nrule_lists; li++) {
		const struct ynode *list = L->rule_lists[li];
		for (i = 0; i < list->n; i++) {
			const struct ynode *rn = list->items[i], *name, *ifn, *thenn, *desc;
			struct rule *r;
			size_t j;
			int dup = 0;

			if (rn->kind != Y_MAP) {
				cfg_error(L->errs, rn, "rules: each rule must be a mapping with name, if and then");
				continue;
			}
			for (j = 0; j < rn->n; j++) {
				const char *k = ymap_key(rn, j)->value;
				if (strcmp(k, "name") && strcmp(k, "description") && strcmp(k, "if") && strcmp(k, "then"))
					cfg_error(L->errs, ymap_key(rn, j),
					    "rule: unknown key '%s' (keys: name, description, if, then)", k);
			}
			name = ymap_get(rn, "name");
			if (name == NULL || name->kind != Y_SCALAR || name->value[0] == '\0') {
				cfg_error(L->errs, name ? name : rn, "rule: name: is required and must be a string");
				continue;
			}
			for (j = 0; j < L->c->nrules; j++)    /* every counted rule has a name, as above */
				if (strcmp(L->c->rules[j].name, name->value) == 0)   /* NOLINT(clang-analyzer-core.NonNullParamChecker) */
					dup = 1;
			if (dup) {
				cfg_error(L->errs, name, "rule '%s' is defined twice", name->value);
				continue;
			}
			r = &L->c->rules[L->c->nrules];
			r->name = strdup(name->value);
			r->file = strdup(rn->file);
			if (r->name == NULL || r->file == NULL) {     /* not counted: a NULL name would meet strcmp() */
				free(r->name);
				free(r->file);
				r->name = r->file = NULL;
				cfg_error(L->errs, rn, "out of memory");
				continue;
			}
			L->c->nrules++;
			r->line = rn->line;
			if ((desc = ymap_get(rn, "description")) && desc->kind == Y_SCALAR &&
			    (r->description = strdup(desc->value)) == NULL)
				cfg_error(L->errs, desc, "out of memory");
			ifn = ymap_get(rn, "if");
			if (ifn)
				r->cond = cond_build(ifn, L->c, L->errs);
			thenn = ymap_get(rn, "then");
			if (thenn == NULL)
				cfg_error(L->errs, rn, "rule '%s': then: is required", r->name);
			else
				actions_build(thenn, r, L->c, L->errs);
		}
	}
}

/* Number the body conditions: their matches are found window by window as
 * the text streams in (engine/session.c), before the rules are evaluated.
 * Recursion is bounded: cond_build() refuses nesting deeper than 32. */
static int
index_body_conds(struct seal_config *c, struct cond *k) /* NOLINT(misc-no-recursion): 32 levels (above) */
{
	size_t j;

	if (k == NULL)
		return 0;
	if (k->kind == C_BODY) {
		struct cond **nb = realloc(c->body_conds, (c->nbody_conds + 1) * sizeof(*nb)); /* NOLINT(bugprone-sizeof-expression): an array of pointers */
		if (nb == NULL)
			return -1;
		c->body_conds = nb;
		k->body_index = c->nbody_conds;
		nb[c->nbody_conds++] = k;
	}
	for (j = 0; j < k->nkids; j++)
		if (index_body_conds(c, k->kids[j]) != 0)
			return -1;
	return 0;
}

/* Walk every rule's condition tree and actions once. */
/* dkim.keys: { domain, selector, key, canonicalization } per signing domain. */
static void
load_dkim_signers(struct load *L)
{
	static const char *const keys[] = { "domain", "selector", "key", "canonicalization", NULL };
	struct seal_config *c = L->c;
	const struct ynode *list, *mod;
	size_t idx = 0, i, j;

	find_key("dkim.keys", &idx);
	list = L->nodes[idx];
	if (list == NULL)
		return;
	if (list->kind != Y_SEQ || list->n == 0) {
		cfg_error(L->errs, list, "dkim.keys: expected a list of { domain, selector, key }");
		return;
	}
	mod = L->keys && L->keys->kind == Y_MAP ? ymap_get(L->keys, "pkcs11_module") : NULL;
	c->dkim_signers = calloc(list->n, sizeof(*c->dkim_signers));
	if (c->dkim_signers == NULL) {
		cfg_error(L->errs, list, "out of memory");
		return;
	}
	for (i = 0; i < list->n; i++) {
		const struct ynode *e = list->items[i], *d, *sel, *key, *canon;
		struct dkim_signer *k = &c->dkim_signers[c->ndkim_signers];
		EVP_PKEY *pk;
		int bad = 0;
		if (e->kind != Y_MAP) {
			cfg_error(L->errs, e, "dkim.keys: each entry is { domain, selector, key }");
			continue;
		}
		bad |= cfg_check_keys(L->errs, e, "dkim.keys", keys);
		d = ymap_get(e, "domain");
		sel = ymap_get(e, "selector");
		key = ymap_get(e, "key");
		canon = ymap_get(e, "canonicalization");
		if (d == NULL || d->kind != Y_SCALAR || !valid_domain(d->value)) {
			cfg_error(L->errs, d ? d : e, "dkim.keys: domain: is required and must be a domain name");
			bad = 1;
		}
		if (sel == NULL || sel->kind != Y_SCALAR || !valid_domain(sel->value)) {
			cfg_error(L->errs, sel ? sel : e, "dkim.keys: selector: is required (letters, digits, '-' and '.')");
			bad = 1;
		}
		if (key == NULL || key->kind != Y_SCALAR) {
			cfg_error(L->errs, key ? key : e, "dkim.keys: key: is required (a PEM file or a pkcs11: URI)");
			bad = 1;
		}
		k->hcanon = k->bcanon = DKIM_RELAXED;
		if (canon) {
			const char *v = canon->kind == Y_SCALAR ? canon->value : "";
			const char *slash = strchr(v, '/');
			size_t hl = slash ? (size_t)(slash - v) : strlen(v);
			int okh = (hl == 6 && strncmp(v, "simple", 6) == 0) || (hl == 7 && strncmp(v, "relaxed", 7) == 0);
			int okb = slash && (strcmp(slash + 1, "simple") == 0 || strcmp(slash + 1, "relaxed") == 0);
			if (!okh || !okb) {
				cfg_error(L->errs, canon, "dkim.keys: canonicalization: expected relaxed/relaxed, relaxed/simple, "
				    "simple/relaxed or simple/simple");
				bad = 1;
			} else {
				k->hcanon = v[0] == 'r' ? DKIM_RELAXED : DKIM_SIMPLE;
				k->bcanon = slash[1] == 'r' ? DKIM_RELAXED : DKIM_SIMPLE;
			}
		}
		if (bad)
			continue;
		for (j = 0; j < c->ndkim_signers; j++)
			if (strcasecmp(c->dkim_signers[j].domain, d->value) == 0) {
				cfg_error(L->errs, d, "dkim.keys: %s has a key already", d->value);
				bad = 1;
			}
		if (bad || (pk = seal_key_read(&c->keys, mod && mod->kind == Y_SCALAR ? mod->value : NULL, key, key->value,
		    L->errs)) == NULL)
			continue;
		if (EVP_PKEY_get_base_id(pk) == EVP_PKEY_ED25519) {
			k->alg = DKIM_ED25519_SHA256;
		} else if (EVP_PKEY_get_base_id(pk) == EVP_PKEY_RSA && EVP_PKEY_get_bits(pk) >= DKIM_MIN_RSA_BITS &&
		    EVP_PKEY_get_bits(pk) <= DKIM_MAX_RSA_BITS) {
			k->alg = DKIM_RSA_SHA256;
		} else {
			cfg_error(L->errs, key, "dkim.keys: %s must be an RSA key of 1024 to 4096 bits or an Ed25519 key",
			    key->value);
			EVP_PKEY_free(pk);
			continue;
		}
		k->key = pk;
		k->domain = strdup(d->value);
		k->selector = strdup(sel->value);
		if (k->domain == NULL || k->selector == NULL) {
			cfg_error(L->errs, e, "out of memory");
			continue;
		}
		for (char *p = k->domain; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		c->ndkim_signers++;
	}
}

const struct dkim_signer *
config_dkim_signer(const struct seal_config *c, const char *domain)
{
	const struct dkim_signer *best = NULL;
	size_t i;

	for (i = 0; i < c->ndkim_signers; i++)
		if (domain_matches(domain, c->dkim_signers[i].domain) &&
		    (best == NULL || strlen(c->dkim_signers[i].domain) > strlen(best->domain)))
			best = &c->dkim_signers[i];
	return best;
}

/* dkim.authserv_id (default: the host name) and the resolver for key
 * look-ups. The resolver opens nothing until its first query. */
static void
load_dkim(struct load *L)
{
	struct seal_config *c = L->c;
	char host[256], *err = NULL;
	const char *p;
	size_t idx = 0;
	const struct ynode *at;

	find_key("dkim.authserv_id", &idx);
	at = L->seen[idx];
	if (c->dkim_authserv_id == NULL) {
		if (gethostname(host, sizeof(host)) != 0)
			snprintf(host, sizeof(host), "localhost");
		host[sizeof(host) - 1] = '\0';
		c->dkim_authserv_id = strdup(host);
	}
	if (c->dkim_authserv_id && *c->dkim_authserv_id == '\0') {
		cfg_error(L->errs, at, "dkim.authserv_id: must not be empty");
		return;
	}
	/* An RFC 8601 authserv-id is a value: a token, so no white space, ';' or comment. */
	for (p = c->dkim_authserv_id; p && *p; p++)
		if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 127 || strchr("()<>,;:\\\"/[]?=", *p)) {
			if (at)
				cfg_error(L->errs, at, "dkim.authserv_id: '%s' must be a host name (no spaces, ';' or quotes)",
				    c->dkim_authserv_id);
			else
				cfg_error_at(L->errs, c->path, 0, 0, "dkim.authserv_id: the host name '%s' cannot be used; set "
				    "dkim.authserv_id", c->dkim_authserv_id);
			return;
		}
	if (!c->dkim_verify)
		return;
	if (c->dns_trust_anchor && access(c->dns_trust_anchor, R_OK) != 0) {
		find_key("dns.trust_anchor_file", &idx);
		cfg_error(L->errs, L->seen[idx], "dns.trust_anchor_file: %s: %s", c->dns_trust_anchor, strerror(errno));
		return;
	}
	c->resolver = dns_resolver_new(&c->dns_nameservers, (unsigned)(c->dns_timeout * 1000), c->dns_trust_anchor,
	    &err);
	if (c->resolver == NULL) {
		cfg_error_at(L->errs, c->path, 0, 0, "dns: %s", err ? err : "cannot make the resolver");
		free(err);
	}
}

static unsigned
config_needs(const struct seal_config *cfg)
{
	unsigned need = 0;
	size_t i, j;
	struct cond *stack[256];

	if (cfg->max_message_size)
		need |= NEED_BODY;           /* the size can only be counted from the body */
	if (cfg->submit_url)
		need |= NEED_DEL_RCPT;
	if (cfg->dkim_verify || (cfg->dkim_sign_outbound && cfg->ndkim_signers))
		need |= NEED_BODY | NEED_ADD_HEADERS;   /* the body hash; Authentication-Results, DKIM-Signature */
	for (i = 0; i < cfg->nrules; i++) {
		size_t sp = 0;
		for (j = 0; j < cfg->rules[i].nactions; j++)
			if (cfg->rules[i].actions[j].kind == A_TAG)
				need |= NEED_ADD_HEADERS;
			else if (cfg->rules[i].actions[j].kind == A_SIGN)
				need |= NEED_BODY | NEED_ADD_HEADERS | NEED_CHANGE_BODY;   /* NOLINT(bugprone-branch-clone): one line an action */
			else if (cfg->rules[i].actions[j].kind == A_DKIM_SIGN)
				need |= NEED_BODY | NEED_ADD_HEADERS;
			else if (cfg->rules[i].actions[j].kind == A_SEAL || cfg->rules[i].actions[j].kind == A_DECRYPT)
				need |= NEED_BODY | NEED_ADD_HEADERS | NEED_CHANGE_BODY;
		if (cfg->rules[i].cond)
			stack[sp++] = cfg->rules[i].cond;
		while (sp > 0) {
			struct cond *c = stack[--sp];
			size_t k;
			if (c->kind == C_BODY || c->kind == C_ATTACHMENT || c->kind == C_SIZE)
				need |= NEED_BODY;
			if (c->kind == C_SUBJECT && c->strip)
				need |= NEED_ADD_HEADERS;   /* the marker goes on a changed message */
			for (k = 0; k < c->nkids; k++) {
				if (sp == sizeof(stack) / sizeof(stack[0]))
					return need | NEED_BODY | NEED_ADD_HEADERS;   /* too deep to tell */
				stack[sp++] = c->kids[k];
			}
		}
	}
	return need;
}

/* ---- the marker key ----------------------------------------------------- */

/* Read a secret of min..max bytes from path (a regular file only its owner
 * can read) for the setting key; errors point at the setting. 0 or -1. */
static int
read_secret(struct load *L, const char *key, const char *path, unsigned char *buf, size_t max, size_t min,
    const char *howto, size_t *len)
{
	const struct ynode *at;
	struct stat st;
	size_t idx = 0;
	ssize_t n;
	int fd, rc = -1;

	find_key(key, &idx);
	at = L->seen[idx];
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		cfg_error(L->errs, at, "%s: cannot open %s: %s", key, path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		cfg_error(L->errs, at, "%s: %s is not a regular file", key, path);
	} else if (st.st_mode & 037) {
		/* Group read is allowed: sealmilter and sealview share viewer.secret_file on one host
		 * as owner and group (chown sealmilter:sealview, chmod 640). */
		cfg_error(L->errs, at, "%s: %s is writable by its group or open to others (mode %03o); chmod 600 it, or "
		    "640 to share it with one group", key, path, (unsigned)(st.st_mode & 0777));
	} else {
		n = read(fd, buf, max);
		if (n < (ssize_t)min)
			cfg_error(L->errs, at, "%s: %s holds %zd bytes; at least %zu random bytes are needed (%s)", key, path,
			    n < 0 ? 0 : n, min, howto);
		else {
			*len = (size_t)n;
			rc = 0;
		}
	}
	close(fd);
	return rc;
}

static void
load_marker_key(struct load *L)
{
	struct seal_config *c = L->c;

	if (L->prev && L->prev->marker_key_len &&
	    ((c->marker_key_file == NULL && L->prev->marker_key_file == NULL) ||
	    (c->marker_key_file && L->prev->marker_key_file &&
	    strcmp(c->marker_key_file, L->prev->marker_key_file) == 0))) {
		memcpy(c->marker_key, L->prev->marker_key, L->prev->marker_key_len);
		c->marker_key_len = L->prev->marker_key_len;
		c->marker_key_ephemeral = L->prev->marker_key_ephemeral;
		return;
	}
	if (c->marker_key_file == NULL) {
		if (RAND_bytes(c->marker_key, MARKER_KEY_MIN) != 1) {
			cfg_error(L->errs, NULL, "cannot generate a random marker key");
			return;
		}
		c->marker_key_len = MARKER_KEY_MIN;
		c->marker_key_ephemeral = 1;
		return;
	}
	if (read_secret(L, "milter.marker_key_file", c->marker_key_file, c->marker_key, sizeof(c->marker_key),
	    MARKER_KEY_MIN, "sealctl keys generate marker --out FILE", &c->marker_key_len) != 0)
		c->marker_key_len = 0;
}

/* The viewer's shared secret (viewer.secret_file): sealmilter signs its
 * registrations with it, sealview checks them and keys its hashes with it.
 * Checked for shape when set; sealview requires it (sealview.c). */
static void
load_viewer(struct load *L)
{
	struct seal_config *c = L->c;
	const char *u;
	size_t idx = 0;

	if (c->viewer_public_url) {
		u = c->viewer_public_url;
		find_key("viewer.public_url", &idx);
		if (strncmp(u, "https://", 8) != 0 && strncmp(u, "http://", 7) != 0)
			cfg_error(L->errs, L->seen[idx], "viewer.public_url: '%s' must start with https:// (or http:// "
			    "for a test on loopback)", u);
		else if (strpbrk(u, " \t\"<>?#") != NULL)
			cfg_error(L->errs, L->seen[idx], "viewer.public_url: '%s' must be a plain URL with no query, "
			    "fragment, space or quote", u);
		else if (u[strlen(u) - 1] == '/')
			c->viewer_public_url[strlen(u) - 1] = '\0';
	}
	if (c->submit_url && strncmp(c->submit_url, "smtp://", 7) != 0 && strncmp(c->submit_url, "smtps://", 8) != 0) {
		find_key("milter.submit_url", &idx);
		cfg_error(L->errs, L->seen[idx], "milter.submit_url: '%s' must be smtp://HOST:PORT", c->submit_url);
	} else if (c->submit_url && !(L->flags & CONFIG_VIEWER) && !config_is_trusted_ip(c, "127.0.0.1")) {
		/* The copies come back from sealmilter's own connection to the MTA. */
		find_key("milter.submit_url", &idx);
		cfg_error(L->errs, L->seen[idx], "milter.submit_url: the copies of a split message come back from "
		    "127.0.0.1, which must be in organization.trusted_networks (else they would count as inbound)");
	}
	if (c->viewer_api_url) {
		u = c->viewer_api_url;
		find_key("viewer.api_url", &idx);
		if (strncmp(u, "https://", 8) != 0 && strncmp(u, "http://", 7) != 0)
			cfg_error(L->errs, L->seen[idx], "viewer.api_url: '%s' must start with http:// or https://", u);
		else if (u[strlen(u) - 1] == '/')
			c->viewer_api_url[strlen(u) - 1] = '\0';
	}
	if (c->viewer_public_url && strncmp(c->viewer_public_url, "http://", 7) == 0 &&
	    !url_is_loopback_http(c->viewer_public_url)) {
		find_key("viewer.public_url", &idx);
		cfg_error(L->errs, L->seen[idx], "viewer.public_url: '%s': plain http is for a test on loopback only "
		    "(readers' cookies are Secure); use https://", c->viewer_public_url);
	}
	if (!((c->viewer_public_url && c->viewer_api_url && c->viewer_secret_file) ||
	    (!c->viewer_public_url && !c->viewer_api_url && !c->viewer_secret_file))) {
		find_key("viewer.public_url", &idx);
		cfg_error_at(L->errs, c->path, 0, 0, "viewer: public_url, api_url and secret_file go together "
		    "(the link, where to register it, and the key that signs the registration)");
	}
	if (c->viewer_secret_file)
		(void)read_secret(L, "viewer.secret_file", c->viewer_secret_file, c->viewer_secret,
		    sizeof(c->viewer_secret), VIEWER_SECRET_MIN, "head -c 32 /dev/urandom > FILE; chmod 600 FILE",
		    &c->viewer_secret_len);
}

/* The metrics endpoints: ADDRESS:PORT, on loopback unless allowed off it. */
static void
check_metrics_listen(struct load *L, const char *key, const char *allow_key, const char *spec, int allow_remote)
{
	struct sockaddr_storage ss;
	socklen_t len;
	size_t idx = 0;

	if (spec == NULL)
		return;
	find_key(key, &idx);
	if (hostport_parse(spec, &ss, &len) != 0)
		cfg_error(L->errs, L->seen[idx], "%s: '%s' is not ADDRESS:PORT ([IPv6]:PORT), such as 127.0.0.1:9141", key,
		    spec);
	else if (!allow_remote && !hostport_is_loopback(&ss))
		cfg_error(L->errs, L->seen[idx], "%s: '%s' is not a loopback address: the metrics endpoint has no "
		    "authentication; set %s: true to serve it beyond this host", key, spec, allow_key);
}

/* ---- public ------------------------------------------------------------- */

struct seal_config *
config_load(const char *path, unsigned flags, struct cfg_errors *errs)
{
	return config_reload(path, flags, NULL, errs);
}

struct seal_config *
config_reload(const char *path, unsigned flags, const struct seal_config *prev, struct cfg_errors *errs)
{
	struct load L;
	size_t i, errs_before = errs->count + errs->dropped;
	struct seal_config *c;

	memset(&L, 0, sizeof(L));
	L.errs = errs;
	L.flags = flags;
	L.prev = prev;
	c = L.c = calloc(1, sizeof(*c));
	if (c == NULL) {
		cfg_error(errs, NULL, "out of memory");
		return NULL;
	}
	c->refs = 1;
	c->path = strdup(path);
	load_file(&L, path, 0, NULL);

	/* Defaults for everything not given, then required keys. */
	for (i = 0; i < cfg_nkeys; i++) {
		const struct cfg_key *k = &cfg_keys[i];
		if (k->type == CT_SECTION || k->type == CT_NODE || L.seen[i] || k->def == NULL)
			continue;
		set_value(&L, k, NULL, k->def);
	}
	if (L.tree.nfiles > 0 && errs->count + errs->dropped == errs_before) {
		if (c->org_domains.n == 0)
			cfg_error_at(errs, path, 0, 0, "organization.domains: at least one domain is required "
			    "(it decides which mail is outbound)");
		if ((flags & CONFIG_DAEMON) && access(c->spool_dir, W_OK | X_OK) != 0) {
			size_t idx = 0;
			find_key("milter.spool_dir", &idx);
			if (L.seen[idx])
				cfg_error(errs, L.seen[idx], "milter.spool_dir: %s: %s", c->spool_dir, strerror(errno));
			else
				cfg_error_at(errs, path, 0, 0, "milter.spool_dir: the default %s: %s", c->spool_dir,
				    strerror(errno));
		}
	}
	/* sealview needs no rules: they are sealmilter's, and may name keys
	 * it never reads (signing identities, DKIM keys). */
	if (!(flags & CONFIG_VIEWER))
		build_patterns(&L);
	/* Keys and templates first: seal actions refer to them. */
	if (seal_keys_load(L.keys, (flags & CONFIG_VIEWER) != 0, &c->keys, errs) != 0 && errs->count + errs->dropped == errs_before)
		cfg_error_at(errs, path, 0, 0, "keys: cannot be loaded");
	if (seal_templates_load(L.templates_node, L.branding_node, &c->templates, errs) != 0 &&
	    errs->count + errs->dropped == errs_before)
		cfg_error_at(errs, path, 0, 0, "templates: cannot be loaded");
	{
		const struct ynode *mod = L.keys && L.keys->kind == Y_MAP ? ymap_get(L.keys, "pkcs11_module") : NULL;
		if (!(flags & CONFIG_VIEWER) && smime_identities_load(L.signing_node, &c->keys, mod && mod->kind == Y_SCALAR ? mod->value : NULL,
		    &c->signing, errs) != 0 && errs->count + errs->dropped == errs_before)
			cfg_error_at(errs, path, 0, 0, "signing: cannot be loaded");
	}
	if (!(flags & CONFIG_VIEWER))
		load_dkim_signers(&L);
	if (!(flags & CONFIG_VIEWER))
		build_rules(&L);
	for (i = 0; i < c->nrules; i++)
		if (index_body_conds(c, c->rules[i].cond) != 0) {
			cfg_error(errs, NULL, "out of memory");   /* never load with a body condition left out */
			break;
		}
	if (!(flags & CONFIG_VIEWER))
		load_marker_key(&L);
	load_viewer(&L);
	check_metrics_listen(&L, "milter.metrics_listen", "milter.metrics_allow_remote", c->metrics_listen,
	    c->metrics_allow_remote);
	check_metrics_listen(&L, "sealview.metrics_listen", "sealview.metrics_allow_remote", c->sv_metrics_listen,
	    c->sv_metrics_allow_remote);
	if (c->sv_metrics_listen && c->sv_listen && strcmp(c->sv_metrics_listen, c->sv_listen) == 0) {
		size_t idx = 0;
		find_key("sealview.metrics_listen", &idx);
		cfg_error(L.errs, L.seen[idx], "sealview.metrics_listen: '%s' is sealview.listen: the metrics need a "
		    "socket of their own, off the public one", c->sv_metrics_listen);
	}
	if (!(flags & CONFIG_VIEWER))
		load_dkim(&L);
	c->needs = config_needs(c);


	free(L.pattern_lists);
	free(L.rule_lists);
	ytree_free(&L.tree);
	if (errs->count + errs->dropped != errs_before) {
		config_unref(c);
		return NULL;
	}
	return c;
}

struct seal_config *
config_ref(struct seal_config *c)
{
	__atomic_add_fetch(&c->refs, 1, __ATOMIC_ACQ_REL);
	return c;
}

void
config_unref(struct seal_config *c)
{
	size_t i;

	if (c == NULL || __atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	for (i = 0; i < cfg_nkeys; i++) {
		const struct cfg_key *k = &cfg_keys[i];
		char *base = (char *)c + k->offset;
		if (k->type == CT_STRING || k->type == CT_PATH || k->type == CT_HEADER_NAME)
			free(*(char **)(void *)base);
		else if (k->type == CT_DOMAINS || k->type == CT_NAMESERVERS)
			strlist_free((struct strlist *)(void *)base);
		else if (k->type == CT_NETWORKS)
			free(((struct cidr_list *)(void *)base)->v);
	}
	for (i = 0; i < c->npatterns; i++)
		pattern_clear(&c->patterns[i]);
	free(c->patterns);
	for (i = 0; i < c->nrules; i++)
		rule_clear(&c->rules[i]);
	free(c->rules);
	free(c->body_conds);
	for (i = 0; i < c->ndkim_signers; i++) {
		EVP_PKEY_free(c->dkim_signers[i].key);    /* before the engine that may hold it goes */
		free(c->dkim_signers[i].domain);
		free(c->dkim_signers[i].selector);
	}
	free(c->dkim_signers);
	smime_identities_free(&c->signing);    /* before the engine that may hold a key */
	seal_keys_free(&c->keys);
	seal_templates_free(&c->templates);
	dns_resolver_free(c->resolver);
	OPENSSL_cleanse(c->marker_key, sizeof(c->marker_key));
	OPENSSL_cleanse(c->viewer_secret, sizeof(c->viewer_secret));
	free(c->path);
	free(c);
}

int
config_is_org_domain(const struct seal_config *c, const char *domain)
{
	size_t i;

	for (i = 0; i < c->org_domains.n; i++)
		if (domain_matches(domain, c->org_domains.v[i]))
			return 1;
	return 0;
}

int
config_is_trusted_ip(const struct seal_config *c, const char *ip)
{
	size_t i;

	for (i = 0; i < c->trusted.n; i++)
		if (cidr_contains(&c->trusted.v[i], ip))
			return 1;
	return 0;
}
