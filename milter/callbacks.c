/*
 * callbacks.c - translate libmilter callbacks into the session API
 * (core/session.h) and the session's edits back into smfi_* calls. This
 * file and sealmilter.c are the only ones that include libmilter.
 *
 * Per connection: client address and name, and whether the body was
 * negotiated. Per message: one seal_session, created at MAIL FROM and freed
 * at end of message, abort or close, so its spool file never outlives it.
 *
 * Fail closed: an edit the MTA refuses, a configuration that needs the body
 * on a connection that negotiated it away, or no memory for a session, all
 * end in a tempfail; the MTA keeps the message and retries.
 *
 * At most milter.max_connections connections are served at once: past it
 * a connection is refused at connect (451 4.3.2, and a log line naming the
 * limit). Only cb_connect admits a connection (it is then counted) and only
 * cb_close releases it; libmilter calls close exactly once per connection,
 * whether the MTA said QUIT, dropped the socket, or the worker is stopping.
 *
 * Calling rules: libmilter calls these, one thread per connection.
 * Untrusted input: everything the MTA relays from the SMTP client.
 */
#include "build-config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "engine/session.h"
#include "engine/stats.h"
#include "milter/milter.h"

struct conn {
	char ip[INET6_ADDRSTRLEN];
	char *host;
	int have_body;            /* the body steps were negotiated */
	int can_add;              /* SMFIF_ADDHDRS was negotiated */
	int can_chgbody;          /* SMFIF_CHGBODY was negotiated */
	int can_delrcpt;          /* SMFIF_DELRCPT was negotiated (milter.submit_url: split messages) */
	int can_skip;             /* the MTA understands SMFIS_SKIP */
	int nr_hdr;               /* SMFIP_NR_HDR: headers get no reply (one round trip less per field) */
	int nr_eoh;               /* SMFIP_NR_EOH: end of headers gets no reply */
	int nr_body;              /* SMFIP_NR_BODY: body chunks get no reply */
	int nr_mail;              /* SMFIP_NR_MAIL: MAIL gets no reply; a failure there shows at RCPT */
	int counted;              /* admitted by cb_connect: one of the open connections */
	int rcpt_refused;         /* this message had a recipient past limits.max_recipients (logged once) */
	struct seal_session *msg;
};

/* Connections admitted and not yet closed (milter.max_connections). */
static pthread_mutex_t conn_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned long nconns;

/* Admit one more connection unless max are open already: 1 admitted, 0
 * refused; *open is the count that decided. */
static int
conn_admit(unsigned long max, unsigned long *open)
{
	int ok;

	pthread_mutex_lock(&conn_lock);
	*open = nconns;
	ok = nconns < max;
	if (ok)
		nconns++;
	pthread_mutex_unlock(&conn_lock);
	return ok;
}

static void
conn_release(void)
{
	pthread_mutex_lock(&conn_lock);
	if (nconns > 0)
		nconns--;
	pthread_mutex_unlock(&conn_lock);
}

static pthread_mutex_t cfg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct seal_config *current;
static struct seal_stats *stats;      /* set once, before the first connection */

void
milter_stats_set(struct seal_stats *st)
{
	stats = st;
}

struct seal_config *
milter_config_get(void)
{
	struct seal_config *c;

	pthread_mutex_lock(&cfg_lock);
	c = current ? config_ref(current) : NULL;
	pthread_mutex_unlock(&cfg_lock);
	return c;
}

void
milter_config_set(struct seal_config *c)
{
	struct seal_config *old;

	pthread_mutex_lock(&cfg_lock);
	old = current;
	current = c;
	pthread_mutex_unlock(&cfg_lock);
	config_unref(old);
}

static struct conn *
conn_of(SMFICTX *ctx)
{
	return smfi_getpriv(ctx);
}

static void
end_message(struct conn *c)
{
	seal_session_free(c->msg);
	c->msg = NULL;
}

/* Each copy of a split message takes a while: tell the MTA we are at it. */
static void
progress(void *arg)
{
	(void)smfi_progress((SMFICTX *)arg);
}

/* A message that could not even be started (MAIL): no log line of its own
 * follows, so this is it. */
static sfsistat
tempfail(SMFICTX *ctx, int cause, const char *why)
{
	seal_err("%s: %s: tempfail", smfi_getsymval(ctx, "i") ? smfi_getsymval(ctx, "i") : "NOQUEUE", why);
	seal_stats_tempfail(stats, cause);
	smfi_setreply(ctx, "451", "4.3.0", "Temporary failure in the message filter");
	return SMFIS_TEMPFAIL;
}

/* The message's one log line, and its metrics. */
static void
message_done(const struct seal_result *r)
{
	seal_info("%s", seal_result_summary(r));
	seal_stats_message(stats, r);
}

/* Defer a message after all (the milter's own failure), with its log line. */
static sfsistat
defer(SMFICTX *ctx, struct conn *c, int cause, const char *why)
{
	message_done(seal_session_defer(c->msg, cause, why));
	smfi_setreply(ctx, "451", "4.3.0", "Temporary failure in the message filter");
	end_message(c);
	return SMFIS_TEMPFAIL;
}

static sfsistat
cb_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1, unsigned long f2, unsigned long f3,
    unsigned long *pf0, unsigned long *pf1, unsigned long *pf2, unsigned long *pf3)
{
	struct seal_config *cfg = milter_config_get();
	unsigned long want_actions = SMFIF_CHGHDRS;   /* always: forged markers are removed */
	unsigned long steps = SMFIP_NOHELO | SMFIP_NOUNKNOWN | SMFIP_NODATA;
	struct conn *c;
	unsigned need;

	(void)f2;
	(void)f3;
	if (cfg == NULL)
		return SMFIS_REJECT;
	need = cfg->needs;
	if (need & NEED_ADD_HEADERS)
		want_actions |= SMFIF_ADDHDRS;
	if (need & NEED_CHANGE_BODY)
		want_actions |= SMFIF_CHGBODY;
	if (need & NEED_DEL_RCPT)
		want_actions |= SMFIF_DELRCPT;
	if ((f0 & want_actions) != want_actions) {
		seal_err("the MTA does not offer the header actions sealmilter needs (offered 0x%lx)", f0);
		config_unref(cfg);
		return SMFIS_REJECT;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		config_unref(cfg);
		return SMFIS_REJECT;
	}
	/* Ask only for what the configuration needs. */
	steps &= f1;
	if (f1 & SMFIP_HDR_LEADSPC)
		steps |= SMFIP_HDR_LEADSPC;
	else
		seal_warn("the MTA cannot pass headers with their leading space; header bytes may change");
	if (!(need & NEED_BODY) && (f1 & SMFIP_NOBODY))
		steps |= SMFIP_NOBODY;
	c->have_body = !(steps & SMFIP_NOBODY);
	c->can_add = (want_actions & SMFIF_ADDHDRS) != 0;
	c->can_chgbody = (want_actions & SMFIF_CHGBODY) != 0;
	c->can_delrcpt = (want_actions & SMFIF_DELRCPT) != 0;
	/* Body chunks need no reply either: a round trip per 64K chunk saved
	 * on every message is worth more than skipping the rest of a body
	 * once a limit is passed (SMFIS_SKIP needs a reply), which only saves
	 * work on mail that is rejected anyway. */
	/* MAIL needs no reply: when a message cannot be started, every RCPT
	 * of it is refused with 451 (cb_envrcpt), so nothing passes. */
	c->nr_mail = (f1 & SMFIP_NR_MAIL) != 0;
	if (c->nr_mail)
		steps |= SMFIP_NR_MAIL;
	c->nr_body = (f1 & SMFIP_NR_BODY) != 0;
	c->can_skip = !c->nr_body && (f1 & SMFIP_SKIP) != 0;
	if (c->nr_body)
		steps |= SMFIP_NR_BODY;
	if (c->can_skip)
		steps |= SMFIP_SKIP;
	/* A header is never refused on its own (a problem with one is decided at
	 * end of message), so the MTA need not wait for a reply to each. */
	c->nr_hdr = (f1 & SMFIP_NR_HDR) != 0;
	if (c->nr_hdr)
		steps |= SMFIP_NR_HDR;
	/* Nor is the end of headers: the key look-ups start there, the verdict comes at end of message. */
	c->nr_eoh = (f1 & SMFIP_NR_EOH) != 0;
	if (c->nr_eoh)
		steps |= SMFIP_NR_EOH;
	*pf0 = want_actions | (f0 & SMFIF_SETSYMLIST);
	*pf1 = steps;
	*pf2 = 0;
	*pf3 = 0;
	smfi_setpriv(ctx, c);
	if (f0 & SMFIF_SETSYMLIST) {
		smfi_setsymlist(ctx, SMFIM_ENVFROM, "{auth_authen} i");
		smfi_setsymlist(ctx, SMFIM_EOM, "i");
	}
	config_unref(cfg);
	return SMFIS_CONTINUE;
}

static sfsistat
cb_connect(SMFICTX *ctx, char *host, _SOCK_ADDR *sa)
{
	struct conn *c = conn_of(ctx);
	struct seal_config *cfg;
	unsigned long max, open;

	if (c == NULL) {
		c = calloc(1, sizeof(*c));
		if (c == NULL)
			return SMFIS_TEMPFAIL;
		c->have_body = 1;
		c->can_add = 1;
		c->can_chgbody = 1;
		smfi_setpriv(ctx, c);
	}
	c->ip[0] = '\0';
	if (sa && sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)(void *)sa)->sin_addr, c->ip, sizeof(c->ip));
	else if (sa && sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)(void *)sa)->sin6_addr, c->ip, sizeof(c->ip));
	free(c->host);
	c->host = strdup(host ? host : "");
	if (c->counted)
		return SMFIS_CONTINUE;     /* admitted already (a second connect without close) */
	if ((cfg = milter_config_get()) == NULL)
		return tempfail(ctx, CAUSE_CONFIG, "no configuration");
	max = (unsigned long)cfg->max_connections;
	config_unref(cfg);
	if (!conn_admit(max, &open)) {
		seal_warn("connection from %s [%s] refused: %lu connections open, the most milter.max_connections (%lu) "
		    "allows; replied 451 4.3.2", host ? host : "unknown", c->ip[0] ? c->ip : "-", open, max);
		smfi_setreply(ctx, "451", "4.3.2", "Mail filter busy (too many connections), try again later");
		seal_stats_tempfail(stats, CAUSE_LIMIT);
		return SMFIS_TEMPFAIL;
	}
	c->counted = 1;
	return SMFIS_CONTINUE;
}

static sfsistat
cb_envfrom(SMFICTX *ctx, char **argv)
{
	struct conn *c = conn_of(ctx);
	struct seal_config *cfg;

	if (c == NULL)
		return SMFIS_TEMPFAIL;
	end_message(c);
	c->rcpt_refused = 0;
	cfg = milter_config_get();
	if (cfg == NULL) {
		sfsistat rc = tempfail(ctx, CAUSE_CONFIG, "no configuration");
		return c->nr_mail ? SMFIS_NOREPLY : rc;
	}
	c->msg = seal_session_new(cfg);
	config_unref(cfg);
	if (c->msg)
		seal_session_set_progress(c->msg, progress, ctx);
	if (c->msg == NULL) {
		sfsistat rc = tempfail(ctx, CAUSE_MEMORY, "out of memory starting a message");
		return c->nr_mail ? SMFIS_NOREPLY : rc;     /* every RCPT is refused then */
	}
	seal_session_client(c->msg, c->ip, c->host);
	seal_session_auth(c->msg, smfi_getsymval(ctx, "{auth_authen}"));
	seal_session_mail(c->msg, argv[0] ? argv[0] : "<>");
	return c->nr_mail ? SMFIS_NOREPLY : SMFIS_CONTINUE;
}

static sfsistat
cb_envrcpt(SMFICTX *ctx, char **argv)
{
	struct conn *c = conn_of(ctx);

	if (c == NULL || c->msg == NULL) {
		/* The message could not be started at MAIL (no reply there). */
		smfi_setreply(ctx, "451", "4.3.0", "Temporary failure in the message filter");
		return SMFIS_TEMPFAIL;
	}
	if (seal_session_rcpt(c->msg, argv[0] ? argv[0] : "") != 0) {
		/* Once per message: the client sends the rest again in another transaction. */
		if (!c->rcpt_refused) {
			const char *qid = smfi_getsymval(ctx, "i");
			seal_warn("%s: recipients past limits.max_recipients (%llu) refused with 452 4.5.3, from the first: %.200s",
			    qid ? qid : "NOQUEUE", (unsigned long long)seal_session_config(c->msg)->max_recipients,
			    argv[0] ? argv[0] : "<>");
			c->rcpt_refused = 1;
		}
		smfi_setreply(ctx, "452", "4.5.3", "Too many recipients");
		return SMFIS_TEMPFAIL;
	}
	return SMFIS_CONTINUE;
}

static sfsistat
cb_header(SMFICTX *ctx, char *name, char *value)
{
	struct conn *c = conn_of(ctx);

	if (c == NULL)
		return SMFIS_TEMPFAIL;
	if (c->msg != NULL && name != NULL)
		seal_session_header(c->msg, name, value ? value : "");
	else if (c->msg != NULL)
		seal_session_fail(c->msg, "a header field without a name");
	/* With no message (MAIL was refused) the MTA sends no headers; it is
	 * not an error to ignore one. */
	return c->nr_hdr ? SMFIS_NOREPLY : c->msg ? SMFIS_CONTINUE : SMFIS_TEMPFAIL;
}

static sfsistat
cb_eoh(SMFICTX *ctx)
{
	struct conn *c = conn_of(ctx);

	if (c == NULL)
		return SMFIS_TEMPFAIL;
	if (c->msg != NULL)
		seal_session_eoh(c->msg);
	return c->nr_eoh ? SMFIS_NOREPLY : c->msg ? SMFIS_CONTINUE : SMFIS_TEMPFAIL;
}

static sfsistat
cb_body(SMFICTX *ctx, unsigned char *p, size_t n)
{
	struct conn *c = conn_of(ctx);

	if (c == NULL)
		return SMFIS_TEMPFAIL;
	if (c->msg != NULL)
		seal_session_body(c->msg, p, n);
	if (c->nr_body)
		return SMFIS_NOREPLY;
	if (c->msg == NULL)
		return SMFIS_TEMPFAIL;
	if (c->can_skip && seal_session_body_done(c->msg))
		return SMFIS_SKIP;
	return SMFIS_CONTINUE;
}

/* The new body, from its temp file, in chunks (libmilter sends at most 64K per call). */
static int
replace_body(SMFICTX *ctx, const struct edit *e)
{
	unsigned char buf[65535];
	size_t off = 0;
	ssize_t n;

	while (off < e->len) {
		n = pread(e->fd, buf, e->len - off < sizeof(buf) ? e->len - off : sizeof(buf), (off_t)off);
		if (n <= 0 || smfi_replacebody(ctx, buf, (int)n) != MI_SUCCESS)
			return MI_FAILURE;
		off += (size_t)n;
	}
	return MI_SUCCESS;
}

/* Take a recipient (a split message's copy has it) out of this transaction. */
static int
delrcpt(SMFICTX *ctx, const char *rcpt)
{
	char *a = NULL;
	int ok;

	if (asprintf(&a, rcpt[0] == '<' ? "%s" : "<%s>", rcpt) < 0)
		return MI_FAILURE;
	ok = smfi_delrcpt(ctx, a);
	free(a);
	return ok;
}

static sfsistat
cb_eom(SMFICTX *ctx)
{
	struct conn *c = conn_of(ctx);
	const struct seal_result *r;
	const char *qid = smfi_getsymval(ctx, "i");
	size_t i;
	unsigned need;
	sfsistat rc;

	if (c == NULL || c->msg == NULL)
		return SMFIS_TEMPFAIL;
	seal_session_queue_id(c->msg, qid ? qid : "NOQUEUE");
	need = seal_session_config(c->msg)->needs;
	if ((!c->have_body && (need & NEED_BODY)) || (!c->can_add && (need & NEED_ADD_HEADERS)) ||
	    (!c->can_chgbody && (need & NEED_CHANGE_BODY)) || (!c->can_delrcpt && (need & NEED_DEL_RCPT))) {
		/* Always a tempfail, whatever on_error says: the policy cannot be
		 * applied on this connection, and a retry on a new one will work. */
		return defer(ctx, c, CAUSE_CONFIG, "the configuration was reloaded and needs a step this connection "
		    "negotiated away; the MTA retries on a new connection");
	}
	r = seal_session_eom(c->msg);
	if (r->verdict == VERDICT_ACCEPT) {
		for (i = 0; i < r->nedits; i++) {
			const struct edit *e = &r->edits[i];
			int ok = e->kind == EDIT_REPLACE_BODY ? replace_body(ctx, e)
			    : e->kind == EDIT_DELETE_RCPT ? delrcpt(ctx, e->name)
			    : e->kind == EDIT_ADD_HEADER ? smfi_addheader(ctx, e->name, e->value)
			    : e->kind == EDIT_INSERT_HEADER ? smfi_insheader(ctx, 0, e->name, e->value)
			    : smfi_chgheader(ctx, e->name, e->index, e->kind == EDIT_DELETE_HEADER ? NULL : e->value);
			if (ok != MI_SUCCESS) {
				/* Copies of a split message may be with the MTA already: a retry
				 * finds them in the ledger and does not send them twice. */
				return defer(ctx, c, CAUSE_MTA, "the MTA refused an edit");
			}
		}
	}
	message_done(r);
	switch (r->verdict) {
	case VERDICT_REJECT:
		smfi_setreply(ctx, r->code, r->xcode, r->text);
		rc = SMFIS_REJECT;
		break;
	case VERDICT_TEMPFAIL:
		smfi_setreply(ctx, r->code, r->xcode, r->text);
		rc = SMFIS_TEMPFAIL;
		break;
	default:
		rc = SMFIS_ACCEPT;
	}
	end_message(c);
	return rc;
}

static sfsistat
cb_abort(SMFICTX *ctx)
{
	struct conn *c = conn_of(ctx);

	if (c)
		end_message(c);
	return SMFIS_CONTINUE;
}

static sfsistat
cb_close(SMFICTX *ctx)
{
	struct conn *c = conn_of(ctx);

	if (c) {
		end_message(c);
		if (c->counted)
			conn_release();
		free(c->host);
		free(c);
		smfi_setpriv(ctx, NULL);
	}
	return SMFIS_CONTINUE;
}

struct smfiDesc sealmilter_desc = {
	.xxfi_name = "sealmilter",
	.xxfi_version = SMFI_VERSION,
	.xxfi_flags = SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_CHGBODY | SMFIF_DELRCPT | SMFIF_SETSYMLIST,
	.xxfi_connect = cb_connect,
	.xxfi_helo = NULL,
	.xxfi_envfrom = cb_envfrom,
	.xxfi_envrcpt = cb_envrcpt,
	.xxfi_header = cb_header,
	.xxfi_eoh = cb_eoh,
	.xxfi_body = cb_body,
	.xxfi_eom = cb_eom,
	.xxfi_abort = cb_abort,
	.xxfi_close = cb_close,
	.xxfi_unknown = NULL,
	.xxfi_data = NULL,
	.xxfi_negotiate = cb_negotiate,
};
