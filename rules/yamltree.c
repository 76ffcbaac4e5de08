/*
 * yamltree.c - read a YAML file into a tree of nodes that remember their
 * file, line and column, so every configuration error can point at its place.
 *
 * Calling rules: zero-initialise a struct ytree, ytree_load() one or more
 * files into it (includes share the tree), ytree_free() once. Not thread-safe.
 * Untrusted input: the configuration files. They are written by the
 * administrator, but still bounded: file size, node count and nesting depth
 * are capped, and anchors/aliases are refused (they would let a small file
 * expand without bound, and no setting needs them). Duplicate mapping keys
 * are errors, since a silently ignored duplicate is a policy that never runs.
 */
#include "build-config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <yaml.h>

#include "rules/cfgerr.h"
#include "rules/yamltree.h"

struct loader {
	struct ytree *t;
	yaml_parser_t parser;
	const char *file;
	struct cfg_errors *errs;
	int failed;
};

static struct ynode *
new_node(struct loader *L, enum ynode_kind kind, const yaml_event_t *ev)
{
	struct ynode *n;

	if (L->t->node_count >= YTREE_MAX_NODES) {
		cfg_error_at(L->errs, L->file, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1,
		    "configuration too large: more than %d YAML nodes", YTREE_MAX_NODES);
		return NULL;
	}
	n = calloc(1, sizeof(*n));
	if (n == NULL)
		return NULL;
	n->kind = kind;
	n->file = L->file;
	n->line = (int)ev->start_mark.line + 1;
	n->col = (int)ev->start_mark.column + 1;
	n->next_alloc = L->t->nodes;
	L->t->nodes = n;
	L->t->node_count++;
	return n;
}

/* Make room for one more mapping pair. */
static int
grow_pairs(struct ynode *map)
{
	struct ynode **ni = realloc(map->items, (map->n + 1) * 2 * sizeof(*ni)); /* NOLINT(bugprone-sizeof-expression): an array of pointers */

	if (ni == NULL)
		return -1;
	map->items = ni;
	return 0;
}

static int
next_event(struct loader *L, yaml_event_t *ev)
{
	if (!yaml_parser_parse(&L->parser, ev)) {
		cfg_error_at(L->errs, L->file, (int)L->parser.problem_mark.line + 1,
		    (int)L->parser.problem_mark.column + 1, "YAML syntax error: %s%s%s",
		    L->parser.problem ? L->parser.problem : "unknown problem",
		    L->parser.context ? " " : "", L->parser.context ? L->parser.context : "");
		L->failed = 1;
		return -1;
	}
	return 0;
}

static struct ynode *parse_node(struct loader *L, yaml_event_t *ev, int depth);

/* Parse children until the matching end event. */
static int
parse_children(struct loader *L, struct ynode *parent, int depth) /* NOLINT(misc-no-recursion): YTREE_MAX_DEPTH */
{
	yaml_event_t ev;

	for (;;) {
		struct ynode *child;
		if (next_event(L, &ev) != 0)
			return -1;
		if (ev.type == YAML_SEQUENCE_END_EVENT || ev.type == YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&ev);
			return 0;
		}
		child = parse_node(L, &ev, depth + 1);
		yaml_event_delete(&ev);
		if (child == NULL)
			return -1;
		if (parent->kind == Y_SEQ) {
			struct ynode **ni = realloc(parent->items, (parent->n + 1) * sizeof(*ni)); /* NOLINT(bugprone-sizeof-expression): an array of pointers */
			if (ni == NULL)
				return -1;
			parent->items = ni;
			parent->items[parent->n++] = child;
		} else {
			/* Key then value. */
			struct ynode *val;
			size_t i;
			if (child->kind != Y_SCALAR) {
				cfg_error(L->errs, child, "a mapping key must be a plain string");
				L->failed = 1;
				return -1;
			}
			for (i = 0; i < parent->n; i++)
				if (strcmp(parent->items[2 * i]->value, child->value) == 0) {
					cfg_error(L->errs, child, "duplicate key '%s' (first at line %d)",
					    child->value, parent->items[2 * i]->line);
					L->failed = 1;
				}
			if (next_event(L, &ev) != 0)
				return -1;
			val = parse_node(L, &ev, depth + 1);
			yaml_event_delete(&ev);
			if (val == NULL)
				return -1;
			if (grow_pairs(parent) != 0)
				return -1;
			parent->items[2 * parent->n] = child;
			parent->items[2 * parent->n + 1] = val;
			parent->n++;
		}
	}
}

static struct ynode *
parse_node(struct loader *L, yaml_event_t *ev, int depth) /* NOLINT(misc-no-recursion): YTREE_MAX_DEPTH */
{
	struct ynode *n;

	if (depth > YTREE_MAX_DEPTH) {
		cfg_error_at(L->errs, L->file, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1,
		    "nesting deeper than %d levels", YTREE_MAX_DEPTH);
		L->failed = 1;
		return NULL;
	}
	switch (ev->type) {
	case YAML_ALIAS_EVENT:
		cfg_error_at(L->errs, L->file, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1,
		    "YAML aliases (*%s) are not supported; write the value out",
		    (const char *)ev->data.alias.anchor);
		L->failed = 1;
		return NULL;
	case YAML_SCALAR_EVENT:
		n = new_node(L, Y_SCALAR, ev);
		if (n == NULL)
			return NULL;
		n->value = strndup((const char *)ev->data.scalar.value, ev->data.scalar.length);
		if (n->value == NULL)
			return NULL;
		if (strlen(n->value) != ev->data.scalar.length) {
			cfg_error(L->errs, n, "NUL byte in a string");
			L->failed = 1;
		}
		n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
		return n;
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT:
		n = new_node(L, ev->type == YAML_SEQUENCE_START_EVENT ? Y_SEQ : Y_MAP, ev);
		if (n == NULL)
			return NULL;
		if (parse_children(L, n, depth) != 0)
			return NULL;
		return n;
	default:
		cfg_error_at(L->errs, L->file, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1,
		    "unexpected YAML event");
		L->failed = 1;
		return NULL;
	}
}

static const char *
intern_file(struct ytree *t, const char *path)
{
	char **nf = realloc(t->files, (t->nfiles + 1) * sizeof(*nf));

	if (nf == NULL)
		return NULL;
	t->files = nf;
	t->files[t->nfiles] = strdup(path);
	if (t->files[t->nfiles] == NULL)
		return NULL;
	return t->files[t->nfiles++];
}

struct ynode *
ytree_load(struct ytree *t, const char *path, struct cfg_errors *errs)
{
	struct loader L;
	yaml_event_t ev;
	struct ynode *root = NULL;
	struct stat st;
	FILE *fp;

	memset(&L, 0, sizeof(L));
	L.t = t;
	L.errs = errs;
	L.file = intern_file(t, path);
	if (L.file == NULL) {
		cfg_error(errs, NULL, "%s: out of memory", path);
		return NULL;
	}
	fp = fopen(path, "rb");
	if (fp == NULL) {
		cfg_error_at(errs, path, 0, 0, "cannot open: %s", strerror(errno));
		return NULL;
	}
	if (fstat(fileno(fp), &st) == 0 && (uint64_t)st.st_size > YTREE_MAX_FILE_SIZE) {
		cfg_error_at(errs, path, 0, 0, "file larger than %u bytes", YTREE_MAX_FILE_SIZE);
		fclose(fp);
		return NULL;
	}
	yaml_parser_initialize(&L.parser);
	yaml_parser_set_input_file(&L.parser, fp);
	/* STREAM-START, then DOCUMENT-START or STREAM-END (empty file). */
	if (next_event(&L, &ev) != 0)
		goto out;
	yaml_event_delete(&ev);
	if (next_event(&L, &ev) != 0)
		goto out;
	if (ev.type == YAML_STREAM_END_EVENT) {
		yaml_event_delete(&ev);
		cfg_error_at(errs, path, 0, 0, "the file is empty");
		goto out;
	}
	yaml_event_delete(&ev);
	if (next_event(&L, &ev) != 0)
		goto out;
	root = parse_node(&L, &ev, 0);
	yaml_event_delete(&ev);
	if (root == NULL || L.failed) {
		root = NULL;
		goto out;
	}
	/* DOCUMENT-END, then STREAM-END: a second document is an error. */
	if (next_event(&L, &ev) != 0) {
		root = NULL;
		goto out;
	}
	yaml_event_delete(&ev);
	if (next_event(&L, &ev) != 0) {
		root = NULL;
		goto out;
	}
	if (ev.type != YAML_STREAM_END_EVENT) {
		cfg_error_at(errs, path, (int)ev.start_mark.line + 1, (int)ev.start_mark.column + 1,
		    "only one YAML document per file is allowed");
		root = NULL;
	}
	yaml_event_delete(&ev);
out:
	yaml_parser_delete(&L.parser);
	fclose(fp);
	return root;
}

void
ytree_free(struct ytree *t)
{
	struct ynode *n, *next;
	size_t i;

	for (n = t->nodes; n; n = next) {
		next = n->next_alloc;
		free(n->value);
		free(n->items);
		free(n);
	}
	for (i = 0; i < t->nfiles; i++)
		free(t->files[i]);
	free(t->files);
	memset(t, 0, sizeof(*t));
}

struct ynode *
ymap_key(const struct ynode *map, size_t i)
{
	return map->items[2 * i];
}

struct ynode *
ymap_val(const struct ynode *map, size_t i)
{
	return map->items[2 * i + 1];
}

struct ynode *
ymap_get(const struct ynode *map, const char *key)
{
	size_t i;

	if (map == NULL || map->kind != Y_MAP)
		return NULL;
	for (i = 0; i < map->n; i++)
		if (strcmp(map->items[2 * i]->value, key) == 0)
			return map->items[2 * i + 1];
	return NULL;
}

int
yscalar_bool(const struct ynode *n, int *out)
{
	static const char *const t[] = { "true", "yes", "on" };
	static const char *const f[] = { "false", "no", "off" };
	size_t i;

	if (n->kind != Y_SCALAR)
		return -1;
	for (i = 0; i < 3; i++) {
		if (strcasecmp(n->value, t[i]) == 0) {
			*out = 1;
			return 0;
		}
		if (strcasecmp(n->value, f[i]) == 0) {
			*out = 0;
			return 0;
		}
	}
	return -1;
}

const char *
ykind_name(enum ynode_kind k)
{
	switch (k) {
	case Y_SCALAR: return "a string";
	case Y_SEQ: return "a list";
	default: return "a mapping";
	}
}
