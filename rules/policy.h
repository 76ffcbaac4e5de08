/* policy.h - rules, conditions, actions, and their evaluation over message facts. */
#ifndef SEAL_POLICY_H
#define SEAL_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "rules/config.h"

struct sregex;
struct ynode;
struct cfg_errors;
struct dkim_outcome;

/* ---- message facts: what conditions look at ---------------------------- */

enum direction { DIR_INBOUND = 1, DIR_OUTBOUND = 2 };

struct header {
	char *name;
	char *value;        /* raw, as received: leading space and folding kept */
};

struct part_info {
	char *content_type; /* "type/subtype", lower case */
	char *filename;     /* decoded (UTF-8), or NULL: Content-Disposition filename, else Content-Type name */
	char *alt_name;     /* the Content-Type name when it differs from filename (clients differ on which they show) */
	uint64_t size;      /* decoded bytes */
	int attachment;     /* has a filename or Content-Disposition: attachment */
};

struct msg_facts {
	const struct seal_config *cfg;
	const char *sender;          /* normalized envelope sender; "" for <> */
	char *const *rcpts;          /* normalized envelope recipients */
	size_t nrcpts;
	int direction;               /* enum direction */
	int internal;                /* outbound and every recipient in the organisation */
	const struct header *headers;
	size_t nheaders;
	const char *subject;         /* decoded (UTF-8), "" when absent */
	const char *text;            /* the last window of decoded text (UTF-8); earlier ones are in body_hits */
	size_t textlen;
	const struct part_info *parts;
	size_t nparts;
	uint64_t size;               /* header and body bytes */
	const struct body_hit *body_hits;   /* body conditions that matched text already scanned */
	const struct dkim_outcome *dkim;    /* DKIM outcomes (inbound, dkim.verify_inbound), top signature first */
	size_t ndkim;
	int dkim_checked;            /* 0: DKIM was not verified (outbound, or verification off) */
};

/* A body condition that matched a window of text scanned before the end. */
struct body_hit {
	int hit;
	char *what;
};

/* ---- patterns ----------------------------------------------------------- */

enum pattern_check { CHECK_NONE, CHECK_LUHN };

struct pattern {
	char *name;
	char *description;
	struct sregex *re;
	int check;                   /* enum pattern_check */
};

/* ---- conditions --------------------------------------------------------- */

enum cond_kind {
	C_ALL, C_ANY, C_NOT, C_DIRECTION, C_SENDER, C_RECIPIENTS, C_SUBJECT,
	C_HEADER, C_BODY, C_ATTACHMENT, C_SIZE, C_FROM, C_DKIM
};

enum quantifier { Q_ANY, Q_ALL, Q_NONE };

/* Matches one address. Every criterion given must hold. */
struct addr_matcher {
	struct strlist addresses;    /* exact, case-insensitive */
	struct strlist domains;      /* domain or subdomain */
	struct strlist globs;        /* fnmatch, case-insensitive */
	struct sregex **res;
	size_t nres;
	int org;                     /* 1: in organization, -1: not in, 0: unused */
	int has_list;                /* "in: [..]"/"not_in: [..]": list of addresses and domains */
	int list_negated;
	struct strlist list;
};

/* Matches text: any of the strings, any of the regexes, or the pattern. */
struct text_matcher {
	struct strlist contains;
	struct sregex **res;
	size_t nres;
	const struct pattern *pattern;
};

struct cond {
	enum cond_kind kind;
	char *desc;                  /* how it reads in "why" lines */
	struct cond **kids;          /* all/any/not */
	size_t nkids;
	unsigned directions;         /* C_DIRECTION: bit set of DIRM_* */
	struct addr_matcher am;      /* sender, recipients */
	int quant;                   /* recipients: enum quantifier */
	struct text_matcher tm;      /* subject, header, body */
	int strip;                   /* subject: remove the trigger when the rule fires */
	char *header_name;           /* header */
	int exists;                  /* header: -1 unset, 0 must be absent, 1 must exist */
	struct strlist filenames;    /* attachment */
	struct strlist ctypes;       /* attachment */
	uint64_t over, under;        /* size / attachment size; 0 = unset */
	int has_over, has_under;
	size_t body_index;           /* body: its slot in msg_facts.body_hits */
	struct strlist dkim_domains; /* dkim: signing domains (subdomains too); empty: any */
	unsigned dkim_results;       /* dkim: bit set of 1 << enum dkim_result; 0: pass only */
	int dkim_aligned;            /* dkim: only signatures aligned with From count */
};

#define DIRM_INBOUND  1u
#define DIRM_OUTBOUND 2u
#define DIRM_INTERNAL 4u
#define DIRM_EXTERNAL 8u

/* ---- actions and rules -------------------------------------------------- */

enum action_kind { A_TAG, A_REJECT, A_TEMPFAIL, A_SEAL, A_DECRYPT, A_DKIM_SIGN, A_SIGN };

struct action {
	enum action_kind kind;
	char *header;                /* tag */
	char *value;                 /* tag */
	char *code;                  /* reject/tempfail: "550" */
	char *xcode;                 /* "5.7.1" */
	char *text;
	const struct seal_template *tpl;   /* seal */
	char *identity;              /* sign: a named identity, or NULL (by the From address) */
	int prefer_smime;            /* seal: S/MIME-encrypt instead when every recipient has a certificate */
	int for_who;                 /* seal: enum for_who: which recipients get the sealed copy */
};

/* Which recipients a seal applies to; the others get the message as it is
 * (a split message: docs/policy.md). */
enum for_who { FOR_ALL, FOR_EXTERNAL, FOR_INTERNAL };

struct rule {
	char *name;
	char *description;
	char *file;                  /* where it was defined, for messages */
	int line;
	struct cond *cond;
	struct action *actions;
	size_t nactions;
	int stop;
};

/* ---- building (config loader) ------------------------------------------ */

/* Build the condition in node (the value of "if:"). NULL on error (errors added). */
struct cond *cond_build(const struct ynode *node, const struct seal_config *cfg,
    struct cfg_errors *errs);
void cond_free(struct cond *c);
/* Build the actions of "then:" into r. 0 on success. */
int actions_build(const struct ynode *node, struct rule *r, const struct seal_config *cfg, struct cfg_errors *errs);
void rule_clear(struct rule *r);
void pattern_clear(struct pattern *p);

/* Documentation of the condition and action keys, for the generated reference. */
struct key_doc {
	const char *name;
	const char *syntax;
	const char *doc;
};
extern const struct key_doc cond_docs[];
extern const size_t cond_ndocs;
extern const struct key_doc action_docs[];
extern const size_t action_ndocs;

/* ---- evaluation --------------------------------------------------------- */

/* A subject trigger that matched in a rule that fired: [start, end) in the
 * decoded subject. */
struct strip_span {
	size_t start, end;
};

struct eval_ctx {
	const struct msg_facts *f;
	struct sbuf why;             /* reasons, "; "-separated */
	int negated;                 /* inside a not: record no strip spans */
	struct strip_span *spans;
	size_t nspans;
	char *error;                 /* set when evaluation could not finish */
};

/* 1 true, 0 false, -1 error (ctx->error says why). */
int cond_eval(const struct cond *c, struct eval_ctx *ctx);
/* Match a body condition against one window of text, as the text streams
 * in. 1 (and *what, malloc'd), 0, or -1 (and *error, malloc'd). */
int cond_body_scan(const struct cond *c, const char *text, size_t len, char **what, char **error);

struct fired_rule {
	const struct rule *rule;
	char *why;
};

enum verdict { VERDICT_ACCEPT, VERDICT_REJECT, VERDICT_TEMPFAIL };

struct decision {
	struct fired_rule *fired;
	size_t nfired;
	int verdict;                 /* enum verdict */
	const struct action *reply;  /* the reject/tempfail that decided, if any */
	const struct rule *reply_rule;
	struct strip_span *spans;    /* subject text to strip */
	size_t nspans;
	const struct action *seal;   /* the first seal action of the rules that fired, or NULL */
	const struct rule *seal_rule;
	int decrypt;                 /* a rule that fired asked for transport decryption */
	int dkim_sign;               /* a rule that fired asked for a DKIM signature */
	const struct action *sign;   /* the first S/MIME sign action of the rules that fired, or NULL */
	char *error;                 /* evaluation error: on_error applies */
};

/* Evaluate every rule in order. Returns 0, or -1 when evaluation failed
 * (d->error set; the caller applies milter.on_error). */
int policy_eval(const struct seal_config *cfg, const struct msg_facts *f, struct decision *d);
void decision_free(struct decision *d);
/* The subject with the spans removed and white space tidied. */
char *subject_strip(const char *subject, const struct strip_span *spans, size_t n);

#endif
