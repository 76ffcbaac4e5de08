/* config.h - the loaded configuration: settings, patterns and rules. */
#ifndef SEAL_CONFIG_H
#define SEAL_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "common/netaddr.h"
#include "common/util.h"
#include "seal/keys.h"
#include "seal/smime.h"
#include "seal/template.h"

struct cfg_errors;
struct rule;
struct pattern;
struct cond;
struct dns_resolver;
struct dkim_signer;

enum on_error { ON_ERROR_TEMPFAIL, ON_ERROR_ACCEPT };
enum unsigned_tail { TAIL_POLICY, TAIL_PASS };
enum smime_cipher { SMIME_GCM, SMIME_CBC };


#define VIEWER_SECRET_MIN 32
#define VIEWER_SECRET_MAX 1024
#define MARKER_KEY_MIN 32
#define MARKER_KEY_MAX 256

struct seal_config {
	int refs;                      /* see config_ref()/config_unref() */
	char *path;

	/* organization */
	char *org_name;
	struct strlist org_domains;
	struct cidr_list trusted;

	/* milter */
	char *socket;
	int on_error;                  /* enum on_error */
	char *spool_dir;
	uint64_t spool_threshold;
	char *user;
	char *group;
	char *pid_file;
	char *marker_key_file;
	char *submit_url;              /* where the copies of a split message go (smtp://127.0.0.1:PORT) */
	uint64_t submit_timeout;
	uint64_t max_split_copies;
	uint64_t max_connections;       /* MTA connections served at once */
	char *metrics_listen;          /* milter.metrics_listen: ADDRESS:PORT, or NULL (off) */
	int metrics_allow_remote;
	char *marker_header;
	uint64_t marker_max_age;
	uint64_t expiry_warning;   /* seconds before a certificate expires to warn (milter.expiry_warning) */
	unsigned char marker_key[MARKER_KEY_MAX];
	size_t marker_key_len;
	int marker_key_ephemeral;      /* no key file: random per process */

	/* limits */
	uint64_t max_headers;
	uint64_t max_header_size;
	uint64_t max_message_size;
	uint64_t max_recipients;
	uint64_t body_scan_size;
	uint64_t max_mime_depth;
	uint64_t max_mime_parts;
	uint64_t regex_match_limit;

	/* policy */
	struct pattern *patterns;
	size_t npatterns;
	struct rule *rules;
	size_t nrules;
	struct cond **body_conds;      /* every body condition, by body_index */
	size_t nbody_conds;
	unsigned needs;                /* NEED_*: what the milter must ask the MTA for */

	/* dns */
	struct strlist dns_nameservers;
	uint64_t dns_timeout;
	char *dns_trust_anchor;

	/* dkim */
	int dkim_verify;
	char *dkim_authserv_id;        /* default: the host name */
	uint64_t dkim_max_signatures;
	int dkim_unsigned_tail;        /* enum unsigned_tail */
	struct dns_resolver *resolver; /* made at load when dkim.verify_inbound is on */
	int dkim_sign_outbound;
	struct dkim_signer *dkim_signers;   /* dkim.keys: one per signing domain */
	size_t ndkim_signers;

	/* keys, templates, branding */
	struct seal_keys keys;
	struct seal_templates templates;
	struct smime_identities signing;   /* signing: S/MIME identities */
	char *smime_cert_dir;          /* smime.cert_dir: recipients' certificates */
	int smime_cipher;              /* enum smime_cipher */

	/* viewer: what sealmilter needs to hand sealed mail to sealview */
	char *viewer_public_url;       /* the links' base, no trailing slash */
	char *viewer_api_url;          /* where sealview's API listens */
	char *viewer_secret_file;
	uint64_t viewer_timeout;
	unsigned char viewer_secret[VIEWER_SECRET_MAX];
	size_t viewer_secret_len;      /* 0: no viewer */

	/* sealview: the viewer's own settings */
	char *sv_listen;
	char *sv_metrics_listen;       /* sealview.metrics_listen, or NULL (off) */
	int sv_metrics_allow_remote;
	char *sv_store;
	char *sv_smtp;
	char *sv_passcode_from;
	uint64_t sv_threads;
	uint64_t sv_max_connections;
	uint64_t sv_max_object;
	uint64_t sv_max_form;
	uint64_t sv_session_idle;
	uint64_t sv_passcode_ttl;
	uint64_t sv_rate_ip, sv_rate_address, sv_rate_message;
	uint64_t sv_purge_interval;
	char *sv_tls_cert, *sv_tls_key;
	char *sv_user, *sv_group;
	struct cidr_list sv_trusted_proxies;
};

/* What a configuration needs from the MTA (computed at load), so the milter
 * negotiates no more than that. */
#define NEED_BODY        1u   /* body, attachment or size conditions, or limits.max_message_size */
#define NEED_ADD_HEADERS 2u   /* tags, or a change that gets the marker */
#define NEED_CHANGE_BODY 4u   /* seal, sign: the body is replaced */
#define NEED_DEL_RCPT    8u   /* milter.submit_url: a split message's copies' recipients leave the original */

/* The table of scalar settings: it drives the loader, `sealmilter -n` and
 * the generated reference (docs/config-reference.md). */
enum cfg_type {
	CT_STRING, CT_PATH, CT_ENUM, CT_SIZE, CT_DURATION, CT_UINT, CT_DOMAINS,
	CT_NETWORKS, CT_HEADER_NAME, CT_BOOL, CT_NAMESERVERS, CT_NODE, CT_SECTION
};

struct cfg_key {
	const char *name;      /* "section.key" */
	enum cfg_type type;
	size_t offset;         /* into struct seal_config; unused for CT_SECTION */
	const char *def;       /* default as written in YAML; NULL = unset */
	uint64_t min, max;     /* bounds for numbers, sizes, durations */
	const char *choices;   /* CT_ENUM: "a|b|c" in enum order */
	const char *doc;
	const char *example;   /* a value as written in YAML after "key: " (required: the
	                        * reference shows it, tests/cli/test-guides.sh loads them all) */
};

#define CFG_MAX_KEYS 96
extern const struct cfg_key cfg_keys[];
extern const size_t cfg_nkeys;

/* Load path (and what it includes). On error returns NULL with every error
 * found in errs; a configuration is never half-loaded.
 * */
struct seal_config *config_load(const char *path, unsigned flags, struct cfg_errors *errs);
/* The same, for a reload: when milter.marker_key_file names the same file
 * as in prev (or none, in both), prev's key is kept rather than read again:
 * the daemon may have dropped the privileges that read it, and a random key
 * must outlive reloads. */
struct seal_config *config_reload(const char *path, unsigned flags, const struct seal_config *prev,
    struct cfg_errors *errs);
/* Check what only the daemon needs: spool_dir exists and is writable. */
#define CONFIG_DAEMON 1u
/* Load for sealview: no private key is read (keys: gives certificates
 * only; signing identities, DKIM keys and the marker key are skipped), so
 * the viewer never holds a key that opens messages; patterns and rules,
 * which only sealmilter uses, are not built (sealmilter -n checks them). */
#define CONFIG_VIEWER 2u

/* Reference counting: a message pins the configuration it started with,
 * so a reload never changes the rules under a message in flight. */
struct seal_config *config_ref(struct seal_config *c);
void config_unref(struct seal_config *c);

/* The dkim.keys entry that signs for domain (lower case): the one whose
 * domain equals it, else the longest one it is a subdomain of; NULL. */
const struct dkim_signer *config_dkim_signer(const struct seal_config *c, const char *domain);

/* 1 when domain (lower case) is one of the organisation's domains or a
 * subdomain of one. */
int config_is_org_domain(const struct seal_config *c, const char *domain);
int config_is_trusted_ip(const struct seal_config *c, const char *ip);


#endif
