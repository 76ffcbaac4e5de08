/* yamltree.h - a YAML file as a tree of positioned nodes. */
#ifndef SEAL_YAMLTREE_H
#define SEAL_YAMLTREE_H

#include <stddef.h>

struct cfg_errors;

enum ynode_kind { Y_SCALAR, Y_SEQ, Y_MAP };

struct ynode {
	enum ynode_kind kind;
	const char *file;        /* owned by the ytree */
	int line, col;           /* 1-based */
	char *value;             /* Y_SCALAR: the text */
	int plain;               /* Y_SCALAR: 1 when unquoted */
	size_t n;                /* Y_SEQ: items; Y_MAP: pairs */
	struct ynode **items;    /* Y_MAP: key i at items[2i], value at items[2i+1] */
	struct ynode *next_alloc;
};

/* Owns every node and file name of one configuration (with its includes). */
struct ytree {
	struct ynode *nodes;     /* allocation list */
	size_t node_count;
	char **files;
	size_t nfiles;
};

#define YTREE_MAX_FILE_SIZE (4u << 20)
#define YTREE_MAX_NODES 200000
#define YTREE_MAX_DEPTH 64

/* Load one YAML file (one document) into t. Returns its root node, or NULL
 * after adding errors to errs. */
struct ynode *ytree_load(struct ytree *t, const char *path, struct cfg_errors *errs);
void ytree_free(struct ytree *t);

/* Map helpers. */
struct ynode *ymap_key(const struct ynode *map, size_t i);
struct ynode *ymap_val(const struct ynode *map, size_t i);
struct ynode *ymap_get(const struct ynode *map, const char *key);
/* Scalar booleans: true/false/yes/no/on/off. 0 on success. */
int yscalar_bool(const struct ynode *n, int *out);
const char *ykind_name(enum ynode_kind k);

#endif
