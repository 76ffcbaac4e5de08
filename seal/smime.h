/* smime.h - S/MIME signing identities and multipart/signed messages. */
#ifndef SEAL_SMIME_H
#define SEAL_SMIME_H

#include <stddef.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

struct ynode;
struct cfg_errors;
struct seal_keys;

struct smime_identity {
	char *name;                  /* for "sign: NAME"; default: the match pattern */
	char *match;                 /* an address or a glob ("*@example.com") */
	char *cert_path;
	X509 *cert;
	EVP_PKEY *key;
	STACK_OF(X509) *chain;       /* intermediates (and the root, if given) to carry */
};

enum missing_identity { MISSING_TEMPFAIL, MISSING_SKIP };

struct smime_identities {
	struct smime_identity *v;
	size_t n;
	int missing;                 /* enum missing_identity */
};

/* Load "signing:" (node may be NULL). Keys are PEM files, PKCS#12 files
 * with a password file, or PKCS#11 URIs (through keys' engine). Each
 * certificate must match its key and allow digital signatures for e-mail.
 * 0, or -1 with errors at their positions. */
int smime_identities_load(const struct ynode *node, struct seal_keys *keys, const char *pkcs11_module,
    struct smime_identities *out, struct cfg_errors *errs);
void smime_identities_free(struct smime_identities *ids);

/* The identity for addr: the one named name when given; else the most
 * specific match (an exact address, then the glob with the most literal
 * characters; the first listed on a tie). NULL when none. */
const struct smime_identity *smime_identity_for(const struct smime_identities *ids, const char *addr,
    const char *name);

/* Why the identity cannot sign at time now (expired, not yet valid), or
 * NULL when it can. Static text. */
const char *smime_identity_problem(const struct smime_identity *id, time_t now);

/* Where smime_sign_stream() reads the entity it signs. */
struct smime_source {
	/* Call fn with the entity (Content-* header fields, a blank line, the
	 * body; LF or CRLF), chunk by chunk, from its start; 0, or -1 when
	 * fn failed or the entity could not be read. Called more than once. */
	int (*each)(void *ctx, int (*fn)(void *arg, const char *p, size_t n), void *arg);
	/* An empty read-write temp file (unlinked), or -1 with errno. */
	int (*new_tmp)(void *ctx);
	void *ctx;
};

/* A writer of canonical CRLF (every CR, LF or CRLF becomes CRLF) to
 * out[0] and, when set, out[1]; zero it, set out and max_line (0: no
 * limit), then feed it with smime_crlf_chunk (a smime_source callback).
 * -1 when a write failed (failed) or a line passed max_line (long_line). */
struct smime_crlf {
	BIO *out[2];
	size_t max_line, col;
	int cr, long_line, failed;
};
int smime_crlf_chunk(void *arg, const char *p, size_t n);

/* Sign the entity of src, made safe for transport first (8-bit and binary
 * parts re-encoded, lines within 998 octets, trailing white space
 * protected, CRLF), into out_fd as the body of a multipart/signed message.
 * The entity streams: memory stays small whatever its size. *ctype gets
 * its Content-Type value (malloc'd, with a leading space). 0, or -1 with
 * *err (malloc'd); out_fd then holds a partial body, to be discarded. */
int smime_sign_stream(const struct smime_identity *id, const struct smime_source *src, int out_fd, char **ctype,
    char **err);

#endif
