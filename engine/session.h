/* session.h - one message through the policy: the library's front door.
 *
 * In:  connection facts, envelope, headers, body (as a stream).
 * Out: a seal_result: the decision (rules fired and why), the verdict and
 *      reply, and the edits to make (header changes). The milter turns the
 *      edits into smfi_* calls; sealctl applies them to the message itself
 *      (seal_result_write), so both deliver the same bytes.
 */
#ifndef SEAL_SESSION_H
#define SEAL_SESSION_H

#include <stdint.h>
#include <stdio.h>

#include "common/util.h"

#include "rules/policy.h"

struct dkim_outcome;

/* EDIT_INSERT_HEADER puts the field at the top of the header block
 * (smfi_insheader at index 0); EDIT_ADD_HEADER appends it. */
enum edit_kind { EDIT_ADD_HEADER, EDIT_INSERT_HEADER, EDIT_CHANGE_HEADER, EDIT_DELETE_HEADER, EDIT_REPLACE_BODY,
	EDIT_DELETE_RCPT };   /* delete rcpt: name is the envelope recipient as the MTA gave it, value the normalized one */

struct edit {
	enum edit_kind kind;
	char *name;
	char *value;          /* raw, with its leading space; NULL for delete and replace */
	int fd;               /* replace: an unlinked temp file holding the new body (CRLF); else -1 */
	size_t len;           /* replace: the new body's length */
	int index;            /* change/delete: 1-based among fields of this name, at the time it is applied */
};

/* One copy of a split message: its recipients, and what the MTA called it. */
struct split_copy {
	struct strlist rcpts;
	char *queue_id;       /* from the MTA's reply; NULL when it was handed over on an earlier try */
	int again;            /* the same copy was handed over on an earlier try of this message: not sent twice */
};

/* Why a message was not simply accepted: a tempfail's or a reject's cause,
 * or (verdict accept, milter.on_error: accept) the error let through. A
 * small fixed set, for the log line (cause=) and the metrics. */
enum seal_cause {
	CAUSE_NONE,
	CAUSE_RULE,          /* a rule's reject or tempfail */
	CAUSE_POLICY,        /* the rules could not be evaluated (a regex limit, ...) */
	CAUSE_LIMIT,         /* a limit was passed: 552 5.3.4 */
	CAUSE_MEMORY,        /* out of memory */
	CAUSE_SPOOL,         /* the body or a temp file could not be stored (milter.spool_dir) */
	CAUSE_SEAL,          /* sealing or S/MIME encryption failed */
	CAUSE_VIEWER,        /* sealview did not take the registration */
	CAUSE_SIGN,          /* S/MIME or DKIM signing failed */
	CAUSE_SUBMIT,        /* a split message's copy could not be handed to the MTA */
	CAUSE_MTA,           /* the MTA refused an edit (the milter) */
	CAUSE_CONFIG,        /* no configuration, or one this connection cannot apply (the milter) */
	CAUSE_INTERNAL,      /* anything else */
	CAUSE_COUNT
};
/* "rule", "policy", ...; "none" for CAUSE_NONE. */
const char *seal_cause_name(int cause);

struct seal_result {
	int verdict;          /* enum verdict */
	char *code, *xcode, *text;   /* the SMTP reply, for reject/tempfail */
	struct edit *edits;
	size_t nedits;
	struct decision decision;
	int direction;        /* enum direction */
	int internal;
	int already_processed;       /* a valid marker: passed through untouched */
	char *summary;        /* the one log line for this message */
	const struct dkim_outcome *dkim;   /* inbound with dkim.verify_inbound: one per checked signature */
	size_t ndkim;
	int dkim_checked;     /* DKIM was verified (ndkim 0: unsigned) */
	size_t dkim_unchecked;        /* signatures past dkim.max_signatures, left unchecked */
	char *authres;        /* the Authentication-Results value added, or NULL */
	struct split_copy *copies;   /* a split message: the copies handed to the MTA (milter.submit_url) */
	size_t ncopies;
	int cause;            /* enum seal_cause */
	/* What was done to the message as delivered (its copies included); all
	 * 0 unless the verdict is accept. */
	unsigned nsealed;     /* sealed objects made (message.sealed) */
	unsigned nencrypted;  /* S/MIME-encrypted instead (prefer_smime) */
	unsigned nsigned;     /* S/MIME-signed */
	unsigned ndkim_signed;       /* DKIM-Signature fields added */
	int decrypted;        /* a sealed message was opened for its recipients */
	uint64_t size;        /* bytes of header and body seen */
	double seconds;       /* from end of message to the verdict (DNS wait, sealing, signing, copies); a
	                       * deferral after eom (seal_session_defer) counts to then */
};

struct seal_session;

/* Hand a copy (len bytes in fd, from offset 0, CRLF) to the MTA for rcpts.
 * 0 with *queue_id (malloc'd, may be NULL), or -1 with *err (malloc'd).
 * The daemon's is SMTP to milter.submit_url; sealctl process prints. */
typedef int (*seal_submit_fn)(void *arg, const char *sender, char *const *rcpts, size_t nrcpts, int fd, size_t len,
    char **queue_id, char **err);

/* Pins cfg (a reference) for the life of the session. NULL on no memory. */
struct seal_session *seal_session_new(struct seal_config *cfg);
void seal_session_client(struct seal_session *s, const char *ip, const char *host);
void seal_session_auth(struct seal_session *s, const char *user);
void seal_session_queue_id(struct seal_session *s, const char *qid);
void seal_session_mail(struct seal_session *s, const char *sender);
/* 0, or -1 when the recipient is past limits.max_recipients (refuse it with 452 4.5.3). */
int seal_session_rcpt(struct seal_session *s, const char *rcpt);
void seal_session_header(struct seal_session *s, const char *name, const char *value);
/* The line end the message uses ("\r\n", the default, as from an MTA; or
 * "\n" for a file): a sealed original is rebuilt with it, byte for byte. */
void seal_session_eol(struct seal_session *s, const char *eol);
void seal_session_eoh(struct seal_session *s);
void seal_session_body(struct seal_session *s, const void *p, size_t n);
/* 1 when the body is no longer needed (a limit was passed): the milter may skip it. */
int seal_session_body_done(const struct seal_session *s);
/* Who takes the copies of a split message (default: SMTP to
 * milter.submit_url, with a record in spool_dir so that a retry of the
 * same message does not send a copy twice). */
void seal_session_set_submitter(struct seal_session *s, seal_submit_fn fn, void *arg);
/* Called before each copy of a split message is made (the milter tells the
 * MTA it is still working: smfi_progress). */
void seal_session_set_progress(struct seal_session *s, void (*fn)(void *arg), void *arg);
/* Decide. The result belongs to the session. Never NULL. */
const struct seal_result *seal_session_eom(struct seal_session *s);
/* The result's log line (queue id first, then key=value pairs); never NULL. */
const char *seal_result_summary(const struct seal_result *r);
/* Write the message as it will be delivered (headers with the edits applied,
 * then the body); eol is "\r\n" or "\n" for headers the edits add. */
int seal_session_write(struct seal_session *s, FILE *out, const char *eol);
/* Record an internal error (the milter failed to apply an edit, and so on). */
void seal_session_fail(struct seal_session *s, const char *what);
/* After eom (or instead of it): the message is deferred after all (451
 * 4.3.0) for cause, and why goes in the log line, which is made again.
 * The milter's own failures: an edit the MTA refused (CAUSE_MTA), a
 * configuration this connection cannot apply (CAUSE_CONFIG). */
const struct seal_result *seal_session_defer(struct seal_session *s, int cause, const char *why);
const struct seal_config *seal_session_config(const struct seal_session *s);
/* The decoded content of the message's sealed attachment (message.sealed),
 * after eom; NULL when there is none (or it is larger than SEALED_MAX:
 * *too_big is then set). */
const char *seal_session_sealed(const struct seal_session *s, size_t *len, int *too_big);
#define SEALED_MAX (256u << 20)
/* The envelope recipients, as given. */
size_t seal_session_rcpt_count(const struct seal_session *s);
const char *seal_session_rcpt_at(const struct seal_session *s, size_t i);
/* The header fields received so far, in order. */
const struct header *seal_session_headers(const struct seal_session *s, size_t *n);
uint64_t seal_session_spooled(const struct seal_session *s, int *on_disk);
void seal_session_free(struct seal_session *s);

#endif
