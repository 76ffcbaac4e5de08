/*
 * session.c - one message through the policy, the same way for the milter
 * and for `sealctl process`.
 *
 * Data flows one way: facts about the message (envelope, headers, a MIME
 * scan of the body as it streams in) -> policy decision (policy.c) -> edits
 * and a verdict. Order of the work at end of message:
 *   1. an internal error or a passed limit decides alone (fail closed);
 *   2. a valid loop-guard marker: pass the message through untouched;
 *      forged or stale markers are scheduled for removal;
 *   3. the rules are evaluated; reject/tempfail end it;
 *   4. edits: remove stale markers, strip the subject, replace tag headers,
 *      add the marker when the message was changed.
 *
 * Calling rules: one session per message, one thread at a time, in protocol
 * order (mail, rcpt..., header..., eoh, body..., eom), then free. A session
 * freed before eom (abort, connection closed) leaves nothing behind: the
 * spool file is unlinked from the start.
 * Untrusted input: everything but the configuration. Every input is
 * counted against the limits; once a limit is passed the rest is ignored
 * and the verdict is a 552 5.3.4 rejection.
 */
#include "build-config.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <errno.h>

#include <openssl/evp.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/spool.h"
#include "common/util.h"
#include "dkim/dkim.h"
#include "dns/resolver.h"
#include "engine/logline.h"
#include "engine/marker.h"
#include "engine/session.h"
#include "mime/hdrdecode.h"
#include "mime/mimescan.h"
#include "engine/opener.h"
#include "seal/cms.h"
#include "seal/envelope.h"
#include "seal/sealpolicy.h"
#include "seal/smime.h"
#include "seal/smimeenc.h"
#include "seal/viewapi.h"
#include "seal/viewtoken.h"
#include "engine/submit.h"

struct seal_session {
	struct seal_config *cfg;
	char *client_ip, *client_host, *auth, *qid;
	char *sender;
	struct strlist rcpts;
	struct strlist rcpts_raw;   /* the same, as the MTA gave them (for smfi_delrcpt, which matches exactly) */
	struct header *headers;
	size_t nheaders, hcap;
	uint64_t size;
	struct mimescan *scan;
	struct spool *spool;
	int spool_failed;      /* the body could not be stored (spool_dir full or gone) */
	struct body_hit *body_hits;   /* body conditions matched in earlier windows of text */
	char *scan_error;      /* a body condition failed on a window (regex limit) */
	char *decrypt_note;    /* why transport decryption left the message sealed */
	EVP_MD_CTX *body_md;   /* SHA-256 of the body, for the loop-guard marker */
	unsigned char body_hash[MARKER_BODY_HASH_LEN];
	int eoh_seen;
	const char *eol;       /* the message's line end, for rebuilding a sealed original */
	int *gone;             /* per received header: deleted by an edit already */
	char *limit_error;     /* passed a limit: reject */
	char *error;           /* internal error: tempfail */
	int error_cause;       /* enum seal_cause of error */
	struct timespec eom_start;    /* when end of message began */
	int done;
	struct seal_result res;
	char *subject;
	struct dkim_verifier *dkim;   /* inbound, dkim.verify_inbound: started at end of headers */
	struct strlist notes;  /* notes for the log line (why unsigned, sealed rather than encrypted, ...): kept to the end */
	seal_submit_fn submit_fn;     /* NULL: SMTP to milter.submit_url */
	void *submit_arg;
	void (*progress_fn)(void *arg);
	void *progress_arg;
};

/* Fallbacks when even an error's text cannot be copied (static: never freed). */
static const char out_of_memory[] = "out of memory";
static const char limit_passed[] = "a limit was passed";

static void
set_limit(struct seal_session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
set_limit(struct seal_session *s, const char *fmt, ...)
{
	va_list ap;

	if (s->limit_error)
		return;
	va_start(ap, fmt);
	if (vasprintf(&s->limit_error, fmt, ap) < 0)
		s->limit_error = NULL;
	va_end(ap);
	if (s->limit_error == NULL && (s->limit_error = strdup("a limit was passed")) == NULL)
		s->limit_error = (char *)limit_passed;     /* static: never freed */
	/* Nothing more is needed: free the body's storage now. */
	spool_free(s->spool);
	s->spool = NULL;
}


/* Record an error and its cause (the first one stays). */
static void
fail_as(struct seal_session *s, int cause, const char *what)
{
	if (s->error != NULL)
		return;
	s->error_cause = cause;
	/* When even the copy cannot be made, the failure must not be lost: a
	 * static text marks it (never freed), and the message is deferred. */
	if ((s->error = strdup(what)) == NULL) {
		s->error = (char *)out_of_memory;
		s->error_cause = CAUSE_MEMORY;
	}
}

void
seal_session_fail(struct seal_session *s, const char *what)
{
	fail_as(s, CAUSE_INTERNAL, what);
}

const char *
seal_cause_name(int cause)
{
	static const char *const names[] = { "none", "rule", "policy", "limit", "memory", "spool", "seal", "viewer",
		"sign", "submit", "mta", "config", "internal" };

	_Static_assert(sizeof(names) / sizeof(names[0]) == CAUSE_COUNT, "a name for each cause");
	return cause >= 0 && cause < CAUSE_COUNT ? names[cause] : "internal";
}

/* Keep a note for the log line until the session ends, so that whoever
 * holds it (the summary) can never see it freed. The kept copy, or NULL. */
static const char *
keep_note(struct seal_session *s, const char *text)
{
	if (text == NULL || strlist_add(&s->notes, text) != 0)
		return NULL;
	return s->notes.v[s->notes.n - 1];
}

/* A full window of decoded text: match every body condition not yet matched,
 * so text past limits.body_scan_size is still seen (in overlapping windows). */
static void
body_window(void *arg, const char *text, size_t len)
{
	struct seal_session *s = arg;
	size_t i;

	for (i = 0; i < s->cfg->nbody_conds && s->scan_error == NULL; i++) {
		char *what = NULL, *err = NULL;
		if (s->body_hits[i].hit)
			continue;
		switch (cond_body_scan(s->cfg->body_conds[i], text, len, &what, &err)) {
		case 1:
			s->body_hits[i].hit = 1;
			s->body_hits[i].what = what;
			what = NULL;
			break;
		case -1:
			s->scan_error = err ? err : strdup("a body condition failed");
			err = NULL;
			break;
		default:
			break;
		}
		free(what);
		free(err);
	}
}

struct seal_session *
seal_session_new(struct seal_config *cfg)
{
	struct seal_session *s = calloc(1, sizeof(*s));
	struct mimescan_limits lim;

	if (s == NULL)
		return NULL;
	s->cfg = config_ref(cfg);
	/* Text is decoded and kept only when a body condition will read it. */
	lim.text_max = cfg->nbody_conds ? (size_t)cfg->body_scan_size : 0;
	lim.max_depth = (unsigned)cfg->max_mime_depth;
	lim.max_parts = (unsigned)cfg->max_mime_parts;
	s->scan = mimescan_new(&lim);
	s->spool = spool_new(cfg->spool_dir, (size_t)cfg->spool_threshold);
	s->sender = strdup("");
	s->eol = "\r\n";
	s->body_hits = calloc(cfg->nbody_conds ? cfg->nbody_conds : 1, sizeof(*s->body_hits));
	s->body_md = EVP_MD_CTX_new();
	if (s->scan == NULL || s->spool == NULL || s->sender == NULL || s->body_md == NULL || s->body_hits == NULL ||
	    marker_sha256() == NULL || EVP_DigestInit_ex(s->body_md, marker_sha256(), NULL) != 1) {
		seal_session_free(s);
		return NULL;
	}
	mimescan_on_window(s->scan, body_window, s);
	mimescan_capture(s->scan, SEALED_MEDIA_TYPE, SEALED_MAX);
	return s;
}

static void
replace(struct seal_session *s, char **slot, const char *v)
{
	free(*slot);
	*slot = v ? strdup(v) : NULL;
	/* A lost client address or AUTH name would change the direction, and
	 * with it which rules apply: defer instead. */
	if (v && *slot == NULL)
		fail_as(s, CAUSE_MEMORY, "out of memory");
}

void
seal_session_client(struct seal_session *s, const char *ip, const char *host)
{
	replace(s, &s->client_ip, ip);
	replace(s, &s->client_host, host);
}

void
seal_session_auth(struct seal_session *s, const char *user)
{
	replace(s, &s->auth, user && *user ? user : NULL);
}

void
seal_session_queue_id(struct seal_session *s, const char *qid)
{
	replace(s, &s->qid, qid);
}

void
seal_session_mail(struct seal_session *s, const char *sender)
{
	char *n = addr_normalize(sender);

	if (n == NULL) {
		fail_as(s, CAUSE_MEMORY, "out of memory");
		return;
	}
	free(s->sender);
	s->sender = n;
}

int
seal_session_rcpt(struct seal_session *s, const char *rcpt)
{
	char *n;

	if (s->rcpts.n >= s->cfg->max_recipients)
		return -1;
	n = addr_normalize(rcpt);
	if (n == NULL || strlist_add(&s->rcpts, n) != 0 || strlist_add(&s->rcpts_raw, rcpt) != 0)
		fail_as(s, CAUSE_MEMORY, "out of memory");
	free(n);
	return 0;
}

void
seal_session_header(struct seal_session *s, const char *name, const char *value)
{
	size_t hlen = strlen(name) + strlen(value) + 3;
	struct header *h;

	if (s->limit_error || s->error)
		return;
	s->size += hlen;
	if (hlen > s->cfg->max_header_size) {
		set_limit(s, "header field %.40s is %zu bytes, over limits.max_header_size (%llu)", name, hlen,
		    (unsigned long long)s->cfg->max_header_size);
		return;
	}
	if (s->nheaders >= s->cfg->max_headers) {
		set_limit(s, "more than limits.max_headers (%llu) header fields",
		    (unsigned long long)s->cfg->max_headers);
		return;
	}
	if (s->nheaders == s->hcap) {
		size_t ncap = s->hcap ? s->hcap * 2 : 32;
		struct header *nh = realloc(s->headers, ncap * sizeof(*nh));
		if (nh == NULL) {
			fail_as(s, CAUSE_MEMORY, "out of memory storing headers");
			return;
		}
		s->headers = nh;
		s->hcap = ncap;
	}
	h = &s->headers[s->nheaders];
	h->name = strdup(name);
	h->value = strdup(value);
	if (h->name == NULL || h->value == NULL) {
		free(h->name);
		free(h->value);
		fail_as(s, CAUSE_MEMORY, "out of memory storing headers");
		return;
	}
	s->nheaders++;
	mimescan_header(s->scan, name, value);
}

void
seal_session_eol(struct seal_session *s, const char *eol)
{
	s->eol = strcmp(eol, "\n") == 0 ? "\n" : "\r\n";
}

/* Key look-ups through the configuration's resolver. */
static void *
lk_start(void *arg, const char *name)
{
	return dns_txt_start(arg, name);
}

static void
lk_wait(void *arg, void *q, struct dns_txt *out)
{
	dns_txt_wait(q, out);
}

static void
lk_cancel(void *arg, void *q)
{
	dns_query_cancel(q);
}

static void compute_direction(struct seal_session *s);

void
seal_session_eoh(struct seal_session *s)
{
	s->eoh_seen = 1;
	s->size += 2;
	/* Inbound mail is verified before anything else touches it: the key
	 * look-ups start now and run while the body arrives. */
	compute_direction(s);
	if (s->cfg->dkim_verify && s->cfg->resolver && s->res.direction == DIR_INBOUND && !s->limit_error &&
	    !s->error && s->dkim == NULL) {
		struct dkim_opts o;
		struct dkim_lookup lk = { lk_start, lk_wait, lk_cancel, s->cfg->resolver };
		o.max_signatures = (unsigned)s->cfg->dkim_max_signatures;
		o.tail_policy = s->cfg->dkim_unsigned_tail == TAIL_POLICY;
		s->dkim = dkim_verify_start(s->headers, s->nheaders, &o, &lk, time(NULL));
		if (s->dkim == NULL)
			fail_as(s, CAUSE_MEMORY, "out of memory starting DKIM verification");
	}
}

void
seal_session_body(struct seal_session *s, const void *p, size_t n)
{
	if (s->limit_error || s->error)
		return;
	s->size += n;
	if (s->cfg->max_message_size && s->size > s->cfg->max_message_size) {
		set_limit(s, "message larger than limits.max_message_size (%llu bytes)",
		    (unsigned long long)s->cfg->max_message_size);
		return;
	}
	if (!s->spool_failed && spool_write(s->spool, p, n) != 0) {
		/* The policy is still evaluated (the scanner has the bytes); only
		 * what needs the stored body (sealctl process) fails. */
		s->spool_failed = 1;
		seal_log(SEAL_LOG_ERR, "%s", spool_error(s->spool));
	}
	if (EVP_DigestUpdate(s->body_md, p, n) != 1) {
		fail_as(s, CAUSE_INTERNAL, "cannot hash the body");
		return;
	}
	if (s->dkim)
		dkim_verify_body(s->dkim, p, n);
	mimescan_feed(s->scan, p, n);
	if (mimescan_oom(s->scan))
		fail_as(s, CAUSE_MEMORY, "out of memory scanning the message");
	else if (mimescan_limit_error(s->scan))
		set_limit(s, "%s", mimescan_limit_error(s->scan));
}

int
seal_session_body_done(const struct seal_session *s)
{
	return s->limit_error != NULL || s->error != NULL;
}

/* ---- end of message ----------------------------------------------------- */

static int
add_edit(struct seal_result *r, enum edit_kind kind, const char *name, const char *value, int index)
{
	struct edit *ne = realloc(r->edits, (r->nedits + 1) * sizeof(*ne));

	if (ne == NULL)
		return -1;
	r->edits = ne;
	ne[r->nedits].kind = kind;
	ne[r->nedits].name = strdup(name);
	ne[r->nedits].value = value ? strdup(value) : NULL;
	ne[r->nedits].index = index;
	ne[r->nedits].fd = -1;
	ne[r->nedits].len = 0;
	if (ne[r->nedits].name == NULL || (value && ne[r->nedits].value == NULL)) {
		free(ne[r->nedits].name);
		free(ne[r->nedits].value);
		return -1;
	}
	r->nedits++;
	return 0;
}

static void
set_reply(struct seal_result *r, int verdict, const char *code, const char *xcode, const char *text)
{
	r->verdict = verdict;
	/* A copy that cannot be made leaves the MTA's own reply text: the
	 * verdict stands either way. */
	free(r->code);
	free(r->xcode);
	free(r->text);
	r->code = code ? strdup(code) : NULL;
	r->xcode = xcode ? strdup(xcode) : NULL;
	r->text = text ? strdup(text) : NULL;
}

/* Delete every received field of name that is still there (and not kept),
 * highest first, with its index among the received fields of that name that
 * remain: so a field is never deleted twice, and fields an edit added (the
 * MTA appends them after the received ones) are never hit. */
static int
delete_all(struct seal_session *s, const char *name, const int *keep)
{
	size_t i, j;
	int rc = 0;

	int inserted = 0;

	/* Fields an earlier edit inserted at the top come first among those of
	 * this name, for the MTA as for delivered_headers(). */
	for (j = 0; j < s->res.nedits; j++)
		if (s->res.edits[j].kind == EDIT_INSERT_HEADER && strcasecmp(s->res.edits[j].name, name) == 0)
			inserted++;
	for (i = s->nheaders; i-- > 0;) {
		int idx = inserted;
		if (s->gone[i] || (keep && keep[i]) || strcasecmp(s->headers[i].name, name) != 0)
			continue;
		for (j = 0; j <= i; j++)
			if (!s->gone[j] && strcasecmp(s->headers[j].name, name) == 0)
				idx++;
		rc |= add_edit(&s->res, EDIT_DELETE_HEADER, name, NULL, idx);
		s->gone[i] = 1;
	}
	return rc;
}

static void
compute_direction(struct seal_session *s)
{
	const struct seal_config *c = s->cfg;
	size_t i;
	int trusted = config_is_trusted_ip(c, s->client_ip) || s->auth != NULL;
	int org_sender = *s->sender && config_is_org_domain(c, addr_domain(s->sender));

	s->res.direction = org_sender && trusted ? DIR_OUTBOUND : DIR_INBOUND;
	s->res.internal = 0;
	if (s->res.direction == DIR_OUTBOUND && s->rcpts.n > 0) {
		s->res.internal = 1;
		for (i = 0; i < s->rcpts.n; i++)
			if (!config_is_org_domain(c, addr_domain(s->rcpts.v[i])))
				s->res.internal = 0;
	}
}

static const char *
direction_name(const struct seal_result *r)
{
	return r->direction == DIR_INBOUND ? "inbound" : r->internal ? "internal" : "outbound";
}

/* " key=VALUE" from a value built in v (then emptied): an incomplete one
 * makes the whole line incomplete, never logged as if whole. */
static void
add_built(struct sbuf *b, const char *key, struct sbuf *v)
{
	if (v->oom)
		b->oom = 1;
	logline_add(b, key, v->data);
	sbuf_reset(v);
}

/* The one log line for this message (engine/logline.h; docs/operations.md
 * lists the keys). Every value from mail is quoted or encoded, so none can
 * pass for a pair of its own. */
static void
make_summary(struct seal_session *s, const char *note)
{
	struct seal_result *r = &s->res;
	struct sbuf b, v;
	size_t i, j;
	char num[32];

	sbuf_init(&b, 0);
	sbuf_init(&v, 0);
	sbuf_adds(&b, s->qid ? s->qid : "NOQUEUE");
	sbuf_addc(&b, ':');
	logline_add(&b, "direction", direction_name(r));
	sbuf_printf(&v, "<%s>", s->sender);
	add_built(&b, "from", &v);
	sbuf_printf(&b, " rcpts=%zu", s->rcpts.n);
	/* rules=a,b (names percent-encoded; a rule called "none" too, so that
	 * "none" always means that none fired) */
	sbuf_adds(&b, " rules=");
	if (r->decision.nfired == 0)
		sbuf_adds(&b, "none");
	for (i = 0; i < r->decision.nfired; i++) {
		const char *name = r->decision.fired[i].rule->name;
		if (i)
			sbuf_addc(&b, ',');
		if (strcmp(name, "none") == 0)
			sbuf_adds(&b, "%6Eone");
		else
			logline_item(&b, name);
	}
	if (r->dkim_checked) {
		/* dkim=pass:example.com,fail:bank.example (none: unsigned) */
		sbuf_adds(&b, " dkim=");
		if (r->ndkim == 0)
			sbuf_adds(&b, "none");
		for (i = 0; i < r->ndkim; i++) {
			sbuf_printf(&b, "%s%s:", i ? "," : "", dkim_result_name(r->dkim[i].result));
			logline_item(&b, r->dkim[i].d ? r->dkim[i].d : "?");
			sbuf_adds(&b, r->dkim[i].dnssec == DNS_SECURE ? "(dnssec)" : r->dkim[i].dnssec == DNS_BOGUS ?
			    "(dnssec-bogus)" : "");
		}
		if (r->dkim_unchecked) {
			/* One pair, quoted: a bare "(past ...)" would break the key=value form. */
			char nv[96];
			snprintf(nv, sizeof(nv), "%zu (past dkim.max_signatures: %llu)", r->dkim_unchecked,
			    (unsigned long long)s->cfg->dkim_max_signatures);
			logline_add(&b, "dkim_unchecked", nv);
		}
	}
	sbuf_adds(&b, " actions=");
	if (r->nedits == 0)
		sbuf_adds(&b, "none");
	for (j = 0; j < r->nedits; j++) {
		const struct edit *e = &r->edits[j];
		if (j)
			sbuf_addc(&b, ',');
		if (e->kind == EDIT_REPLACE_BODY) {
			sbuf_adds(&b, "replace:body");
		} else if (e->kind == EDIT_DELETE_RCPT) {
			sbuf_adds(&b, "delrcpt:<");
			logline_item(&b, e->value);
			sbuf_addc(&b, '>');
		} else {
			sbuf_adds(&b, e->kind == EDIT_ADD_HEADER ? "add:" : e->kind == EDIT_INSERT_HEADER ? "insert:"
			    : e->kind == EDIT_CHANGE_HEADER ? "change:" : "delete:");
			logline_item(&b, e->name);
		}
	}
	if (r->nsealed)
		sbuf_printf(&b, " sealed=%u", r->nsealed);
	if (r->nencrypted)
		sbuf_printf(&b, " encrypted=%u", r->nencrypted);
	if (r->nsigned)
		sbuf_printf(&b, " signed=%u", r->nsigned);
	if (r->ndkim_signed)
		sbuf_printf(&b, " dkim_signed=%u", r->ndkim_signed);
	if (r->decrypted)
		sbuf_adds(&b, " decrypted=1");
	for (j = 0; j < r->ncopies; j++) {
		/* A split message: each copy handed back to the MTA, its queue id
		 * (or "earlier": handed over on an earlier try) and recipients. */
		const struct split_copy *cp = &r->copies[j];
		sbuf_printf(&b, " copy%zu=", j + 1);
		logline_item(&b, cp->again ? "earlier" : cp->queue_id ? cp->queue_id : "?");
		for (i = 0; i < cp->rcpts.n; i++) {
			sbuf_adds(&b, i ? ",<" : ":<");
			logline_item(&b, cp->rcpts.v[i]);
			sbuf_addc(&b, '>');
		}
	}
	sbuf_printf(&b, " verdict=%s", r->verdict == VERDICT_ACCEPT ? "accept"
	    : r->verdict == VERDICT_REJECT ? "reject" : "tempfail");
	if (r->cause != CAUSE_NONE)
		sbuf_printf(&b, " cause=%s", seal_cause_name(r->cause));
	if (r->verdict != VERDICT_ACCEPT) {
		sbuf_printf(&v, "%s %s %s", r->code ? r->code : "451", r->xcode ? r->xcode : "4.3.0", r->text ? r->text : "");
		add_built(&b, "reply", &v);
	}
	sbuf_printf(&b, " size=%llu", (unsigned long long)r->size);
	snprintf(num, sizeof(num), "%.1f", r->seconds * 1000);
	logline_add(&b, "ms", num);
	if (r->decision.nfired > 0) {
		/* Why each rule fired: name (explanation), name (explanation) */
		for (i = 0; i < r->decision.nfired; i++) {
			const struct fired_rule *f = &r->decision.fired[i];
			sbuf_printf(&v, "%s%s (%s)", i ? ", " : "", f->rule->name, f->why ? f->why : "?");
		}
		add_built(&b, "why", &v);
	}
	if (note)
		logline_add(&b, "note", note);
	sbuf_free(&v);
	free(r->summary);
	r->summary = sbuf_steal(&b);     /* NULL when memory ran out: seal_result_summary() says so */
}

const char *
seal_result_summary(const struct seal_result *r)
{
	return r->summary ? r->summary : "(out of memory: this message's log line could not be written)";
}

static struct header *delivered_headers(const struct seal_session *s, size_t *count);

static void
marker_subject(const struct seal_session *s, struct marker_subject *m, const struct header *h, size_t n)
{
	m->headers = h;
	m->nheaders = n;
	m->marker_header = s->cfg->marker_header;
	m->sender = s->sender;
	m->direction = direction_name(&s->res);
	m->body_hash = s->body_hash;
}

/* The direction of the transaction a marker is made for, as it will be
 * delivered: a split message's copy, or what is left of the original, can
 * be internal where the whole message was outbound. A marker made with the
 * whole message's direction would not verify on a copy that comes back
 * internal, and would let the plain original for colleagues pass unsealed
 * if it were sent on, byte for byte, to the outside. */
static const char *
delivered_direction(const struct seal_session *s)
{
	const struct seal_result *r = &s->res;
	size_t i, j;
	int any = 0;

	if (r->direction == DIR_INBOUND)
		return "inbound";
	for (i = 0; i < s->rcpts.n; i++) {
		int gone = 0;
		for (j = 0; j < r->nedits; j++)
			gone |= r->edits[j].kind == EDIT_DELETE_RCPT && strcmp(r->edits[j].value, s->rcpts.v[i]) == 0;
		if (gone)
			continue;
		any = 1;
		if (!config_is_org_domain(s->cfg, addr_domain(s->rcpts.v[i])))
			return "outbound";
	}
	return any ? "internal" : direction_name(r);
}

/* The top-level Content-Type is multipart/signed (S/MIME). */
static int
is_smime_signed(struct seal_session *s)
{
	size_t i;
	int yes = 0;

	for (i = 0; i < s->nheaders; i++)
		if (strcasecmp(s->headers[i].name, "Content-Type") == 0) {
			struct mime_ctype ct;
			if (mime_ctype_parse(s->headers[i].value, "text/plain", &ct) != 0) {
				fail_as(s, CAUSE_MEMORY, "out of memory reading the Content-Type");
				mime_ctype_free(&ct);
				break;
			}
			yes = strcmp(ct.type, "multipart/signed") == 0;
			mime_ctype_free(&ct);
			break;
		}
	return yes;
}

/* Is the message, as a whole, one this organisation sealed? Its top
 * carries X-Sealmilter-Sealed; its parts are only a notice (text, HTML, a
 * logo) and, last, the sealed object; and that object's signature verifies
 * against our issuer. A sealed part inside other content (a reply that
 * still carries message.sealed, with new text beside it) is not enough. */
static int
is_our_envelope(struct seal_session *s)
{
	const struct part_info *parts;
	const char *der;
	size_t n, i, len;
	int too_big, has_header = 0;

	for (i = 0; i < s->nheaders; i++)
		if (strcasecmp(s->headers[i].name, "X-Sealmilter-Sealed") == 0)
			has_header = 1;
	/* Exactly the layout seal_envelope_write() makes: text, HTML, an optional logo, the sealed part;
	 * S/MIME-signed after sealing, with the signature as one more part. */
	parts = mimescan_parts(s->scan, &n);
	if (n >= 4 && is_smime_signed(s) && strcmp(parts[n - 1].content_type, "application/pkcs7-signature") == 0)
		n--;
	if (!has_header || (n != 3 && n != 4) || strcmp(parts[0].content_type, "text/plain") != 0 ||
	    strcmp(parts[1].content_type, "text/html") != 0 ||
	    (n == 4 && strncmp(parts[2].content_type, "image/", 6) != 0) ||
	    strcmp(parts[n - 1].content_type, SEALED_MEDIA_TYPE) != 0)
		return 0;
	der = seal_session_sealed(s, &len, &too_big);
	return der != NULL && seal_cms_verify(&s->cfg->keys, der, len);
}

/* Mail that is sealed already, or S/MIME-encrypted, is not sealed again. */
static const char *
already_protected(struct seal_session *s)
{
	size_t i;

	if (is_our_envelope(s))
		return "already sealed: not sealed again";
	if (is_smime_signed(s)) {
		/* S/MIME-encrypted, then signed: the signed content is the encrypted object. */
		size_t n;
		const struct part_info *parts = mimescan_parts(s->scan, &n);
		if (n == 2 && (strcmp(parts[0].content_type, "application/pkcs7-mime") == 0 ||
		    strcmp(parts[0].content_type, "application/x-pkcs7-mime") == 0) &&
		    strcmp(parts[1].content_type, "application/pkcs7-signature") == 0)
			return "already S/MIME-encrypted (and signed): not sealed";
	}
	for (i = 0; i < s->nheaders; i++) {
		struct mime_ctype ct;
		int encrypted;
		if (strcasecmp(s->headers[i].name, "Content-Type") != 0)
			continue;
		if (mime_ctype_parse(s->headers[i].value, "text/plain", &ct) != 0) {
			fail_as(s, CAUSE_MEMORY, "out of memory reading the Content-Type");
			mime_ctype_free(&ct);
			break;
		}
		/* Only enveloped data is encrypted: compressed-data and certs-only
		 * are readable by anyone, and signed-data is not secret either. */
		encrypted = (strcmp(ct.type, "application/pkcs7-mime") == 0 ||
		    strcmp(ct.type, "application/x-pkcs7-mime") == 0) &&
		    (memcasemem(s->headers[i].value, strlen(s->headers[i].value), "enveloped-data", 14) != NULL);
		mime_ctype_free(&ct);
		if (encrypted)
			return "already S/MIME-encrypted: not sealed";
		break;
	}
	return NULL;
}

/* The original, as received: each header field, the blank line, the body. */
static int
original_bytes(struct seal_session *s, BIO *out)
{
	char buf[65536];
	size_t i;
	long n;

	for (i = 0; i < s->nheaders; i++)
		if (BIO_printf(out, "%s:%s%s", s->headers[i].name, s->headers[i].value, s->eol) < 0)
			return -1;
	/* BIO_write, not BIO_puts: a digest BIO (the ledger's hash) has no puts. */
	if (BIO_write(out, s->eol, (int)strlen(s->eol)) != (int)strlen(s->eol) || spool_rewind(s->spool) != 0)
		return -1;
	while ((n = spool_read(s->spool, buf, sizeof(buf))) > 0)
		if (BIO_write(out, buf, (int)n) != (int)n)
			return -1;
	return n < 0 ? -1 : 0;
}

/* The marker's hash of a new (CRLF) body in fd, as it will be delivered:
 * with the message's own line ends (a file written with LF gets LF). */
static int
hash_body_fd(struct seal_session *s, int fd, size_t len)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	char buf[65536];
	size_t off = 0, k, start;
	int ok = md && EVP_DigestInit_ex(md, marker_sha256(), NULL) == 1, cr = 0;
	ssize_t n;

	while (ok && off < len && (n = pread(fd, buf, sizeof(buf), (off_t)off)) > 0) {
		off += (size_t)n;
		start = 0;
		if (s->eol[0] == '\n') {
			/* A CR held back from the previous chunk goes in unless an LF follows. */
			if (cr && buf[0] != '\n')
				ok = EVP_DigestUpdate(md, "\r", 1) == 1;
			cr = 0;
			for (k = 0; ok && k < (size_t)n; k++)
				if (buf[k] == '\r' && (k + 1 == (size_t)n || buf[k + 1] == '\n')) {
					ok = EVP_DigestUpdate(md, buf + start, k - start) == 1;
					start = k + 1;
					cr = k + 1 == (size_t)n;
				}
		}
		ok = ok && EVP_DigestUpdate(md, buf + start, (size_t)n - start) == 1;
	}
	if (cr)
		ok = ok && EVP_DigestUpdate(md, "\r", 1) == 1;
	ok = ok && off == len && EVP_DigestFinal_ex(md, s->body_hash, NULL) == 1;
	EVP_MD_CTX_free(md);
	return ok ? 0 : -1;
}

/* Replace the body with the content of fd (taken over), and hash it for the marker. */
static int
add_body_edit_fd(struct seal_session *s, int fd)
{
	struct seal_result *r = &s->res;
	off_t len = lseek(fd, 0, SEEK_END);

	if (len < 0 || add_edit(r, EDIT_REPLACE_BODY, "body", NULL, 0) != 0) {
		close(fd);
		return -1;
	}
	r->edits[r->nedits - 1].fd = fd;
	r->edits[r->nedits - 1].len = (size_t)len;
	return hash_body_fd(s, fd, (size_t)len);
}

/* A buffered BIO writing to fd (which stays open). */
static BIO *
fd_writer(int fd)
{
	BIO *f = BIO_new_fd(fd, BIO_NOCLOSE), *b = f ? BIO_new(BIO_f_buffer()) : NULL;

	if (b == NULL) {
		BIO_free(f);
		return NULL;
	}
	return BIO_push(b, f);
}

/* 1 when the message goes to a recipient outside the organisation. */
static int
has_outside_recipient(const struct seal_session *s)
{
	size_t i;

	for (i = 0; i < s->rcpts.n; i++)
		if (!config_is_org_domain(s->cfg, addr_domain(s->rcpts.v[i])))
			return 1;
	return 0;
}

/* Register the sealed object (derfd, len bytes, read from offset 0) with
 * sealview under the token's lookup id. 0, or -1 with *err: the message
 * must then not go out, since its link would lead nowhere. */
static int
register_with_viewer(const struct seal_config *c, const struct view_token *tok, int derfd, size_t len, char **err)
{
	struct viewapi_body b = { NULL, derfd, len, SEALED_MEDIA_TYPE };
	char *path = NULL, *resp = NULL, *e = NULL;
	long status = 0;
	int rc = -1;

	if (lseek(derfd, 0, SEEK_SET) != 0 || asprintf(&path, "/api/v1/messages/%s", tok->lookup) < 0) {
		*err = strdup("cannot read back the sealed object");
		return -1;
	}
	if (viewapi_request(c->viewer_api_url, c->viewer_secret, c->viewer_secret_len, (long)c->viewer_timeout, "PUT",
	    path, &b, 4096, &status, &resp, &e) != 0) {
		if (asprintf(err, "cannot register it with sealview (viewer.api_url): %s", e ? e : "failed") < 0)
			*err = NULL;
	} else if (status != 200 && status != 201) {
		if (asprintf(err, "sealview (viewer.api_url %s) refused the registration: HTTP %ld %.200s",
		    c->viewer_api_url, status, resp ? resp : "") < 0)
			*err = NULL;
	} else
		rc = 0;
	free(e);
	free(resp);
	free(path);
	return rc;
}

/* Seal: the original becomes the attachment of a notice. Any failure is an
 * error (the rule asked for protection, so the message is deferred). */
static int
seal_now(struct seal_session *s, const struct seal_template *t)
{
	struct view_token tok;
	int viewer = t->viewer && s->cfg->viewer_secret_len > 0 && s->cfg->viewer_api_url && s->cfg->viewer_public_url &&
	    has_outside_recipient(s);
	char *link = NULL;
	struct seal_result *r = &s->res;
	BIO *orig = NULL, *der = NULL, *body = NULL;
	char *policy = NULL, *err = NULL, *ct = NULL, *mid = NULL, *val = NULL;
	const char *json_id;
	size_t plen, i;
	uint64_t osize;
	int rc = -1, origfd = -1, derfd = -1, bodyfd = -1, fd, cause = CAUSE_SEAL;

	if (s->spool == NULL || s->spool_failed) {
		fail_as(s, CAUSE_SPOOL, "cannot seal: the body could not be stored (see milter.spool_dir)");
		return -1;
	}
	memset(&tok, 0, sizeof(tok));
	for (i = 0; i < s->nheaders && mid == NULL; i++)
		if (strcasecmp(s->headers[i].name, "Message-ID") == 0)
			mid = unfold_trim(s->headers[i].value);
	policy = seal_policy_build(t, s->sender, s->rcpts.v, s->rcpts.n, mid ? mid : "", time(NULL), &plen);
	if (policy == NULL) {
		err = strdup("the policy would be larger than 64 KiB (too many recipients?)");
		goto out;
	}
	/* Everything streams through unlinked temp files: the original, the
	 * sealed object, the new body. A message no larger than
	 * spool_threshold uses anonymous memory files (creating and deleting
	 * three files on disk cost more CPU than sealing 10 KB); a larger one
	 * uses files in spool_dir, so memory stays small whatever its size. */
	osize = spool_size(s->spool);
	for (i = 0; i < s->nheaders; i++)
		osize += strlen(s->headers[i].name) + strlen(s->headers[i].value) + 3;
	origfd = spool_tempfd_sized(s->cfg->spool_dir, osize, s->cfg->spool_threshold);
	derfd = spool_tempfd_sized(s->cfg->spool_dir, osize, s->cfg->spool_threshold);
	bodyfd = spool_tempfd_sized(s->cfg->spool_dir, osize, s->cfg->spool_threshold);
	if (origfd < 0 || derfd < 0 || bodyfd < 0) {
		if (asprintf(&err, "cannot create temp files in spool_dir %s: %s", s->cfg->spool_dir, strerror(errno)) < 0)
			err = NULL;
		cause = CAUSE_SPOOL;
		goto out;
	}
	orig = fd_writer(origfd);
	if (orig == NULL || original_bytes(s, orig) != 0 || BIO_flush(orig) != 1) {
		err = strdup("cannot write the original to spool_dir");
		cause = CAUSE_SPOOL;
		goto out;
	}
	BIO_free_all(orig);
	orig = BIO_new_fd(origfd, BIO_NOCLOSE);
	der = fd_writer(derfd);
	if (orig == NULL || der == NULL || lseek(origfd, 0, SEEK_SET) != 0)
		goto oom;
	if (viewer && view_token_new(s->cfg->viewer_secret, s->cfg->viewer_secret_len, &tok) != 0) {
		err = strdup("cannot make a link token (no randomness)");
		goto out;
	}
	if (seal_cms_make(&s->cfg->keys, policy, plen, viewer ? tok.kek : NULL, orig, der, &err) != 0)
		goto out;
	BIO_free_all(der);
	der = NULL;
	if (viewer) {
		off_t dlen = lseek(derfd, 0, SEEK_END);
		if (dlen < 0 || register_with_viewer(s->cfg, &tok, derfd, (size_t)dlen, &err) != 0) {
			cause = CAUSE_VIEWER;
			goto out;
		}
		if (asprintf(&link, "%s/m/%s", s->cfg->viewer_public_url, tok.text) < 0) {
			link = NULL;
			goto oom;
		}
	}
	der = BIO_new_fd(derfd, BIO_NOCLOSE);
	body = fd_writer(bodyfd);
	if (der == NULL || body == NULL || lseek(derfd, 0, SEEK_SET) != 0)
		goto oom;
	if (seal_envelope_write(t, s->sender, link, der, body, &ct, &err) != 0)
		goto out;
	/* Headers: only routing, display and trace fields stay. */
	for (i = 0; i < s->nheaders; i++)
		if (!s->gone[i] && !seal_envelope_keeps(s->headers[i].name) &&
		    delete_all(s, s->headers[i].name, NULL) != 0)
			goto oom;
	if (t->protect_subject) {
		/* Every Subject field goes (a second one would show the real
		 * subject), then the branding's text is added. */
		char *subj = seal_envelope_subject(t, s->sender), *enc = subj ? hdr_encode(subj) : NULL;
		if (enc == NULL || delete_all(s, "Subject", NULL) != 0 || asprintf(&val, " %s", enc) < 0 ||
		    add_edit(r, EDIT_ADD_HEADER, "Subject", val, 0) != 0) {
			free(subj);
			free(enc);
			goto oom;
		}
		free(subj);
		free(enc);
		free(val);
		val = NULL;
	}
	json_id = strstr(policy, "\"seal_id\":\"");
	if (add_edit(r, EDIT_ADD_HEADER, "MIME-Version", " 1.0", 0) != 0 || asprintf(&val, " %s", ct) < 0 ||
	    add_edit(r, EDIT_ADD_HEADER, "Content-Type", val, 0) != 0)
		goto oom;
	free(val);
	val = NULL;
	if (asprintf(&val, " v=1; template=%s; id=%.36s", t->name, json_id ? json_id + 11 : "?") < 0 ||
	    add_edit(r, EDIT_ADD_HEADER, "X-Sealmilter-Sealed", val, 0) != 0)
		goto oom;
	/* The body (the edit takes the file over), and the marker's hash of it. */
	fd = bodyfd;
	bodyfd = -1;
	if (add_body_edit_fd(s, fd) != 0) {
		err = strdup("cannot read back the new body");
		goto out;
	}
	rc = 0;
	r->nsealed++;
	goto out;
oom:
	err = strdup("out of memory");
	cause = CAUSE_MEMORY;
out:
	if (rc != 0) {
		char *msg = NULL;
		if (asprintf(&msg, "cannot seal under template %s: %s", t->name, err ? err : "failed") < 0)
			msg = NULL;
		fail_as(s, cause, msg ? msg : "cannot seal");
		free(msg);
	}
	free(err);
	free(val);
	free(ct);
	free(mid);
	free(policy);
	if (link)
		OPENSSL_cleanse(link, strlen(link));
	free(link);
	view_token_clear(&tok);
	BIO_free_all(orig);
	BIO_free_all(der);
	BIO_free_all(body);
	if (origfd >= 0)
		close(origfd);
	if (derfd >= 0)
		close(derfd);
	if (bodyfd >= 0)
		close(bodyfd);
	return rc;
}

/* Trace fields describe this delivery: a decrypted message keeps the
 * current ones and drops the original's. */
static int
is_trace(const char *name)
{
	static const char *const trace[] = { "Received", "Return-Path", "Authentication-Results", "Delivered-To",
		"X-Original-To", NULL };

	return strcase_in(name, trace);
}

/* Add the header fields of the original (unfolded: a milter adds each as
 * one value) except its trace fields. */
static int
add_original_headers(struct seal_session *s, const char *p, size_t n)
{
	struct sbuf field;
	size_t i = 0;
	int rc = 0;

	sbuf_init(&field, 1u << 20);
	while (i < n && rc == 0) {
		size_t e = i;
		while (e < n && p[e] != '\n')
			e++;
		/* One line [i, e), without its CR. */
		{
			size_t len = e - i;
			if (len && p[i + len - 1] == '\r')
				len--;
			if (len && (p[i] == ' ' || p[i] == '\t') && field.len) {
				rc = sbuf_add(&field, p + i, len);
			} else {
				if (field.len) {
					char *colon = memchr(field.data, ':', field.len);
					if (colon) {
						*colon = '\0';
						if (!is_trace(field.data))
							rc = add_edit(&s->res, EDIT_ADD_HEADER, field.data, colon + 1, 0);
					}
					sbuf_reset(&field);
				}
				if (rc == 0)
					rc = sbuf_add(&field, p + i, len);
			}
		}
		i = e + 1;
	}
	if (rc == 0 && field.len) {
		char *colon = memchr(field.data, ':', field.len);
		if (colon) {
			*colon = '\0';
			if (!is_trace(field.data))
				rc = add_edit(&s->res, EDIT_ADD_HEADER, field.data, colon + 1, 0);
		}
	}
	sbuf_free(&field);
	return rc;
}

/* Transport decryption: 1 when the message became its original, 0 when it
 * stays as it is (*note says why, when there was a sealed attachment), -1
 * on an internal error. */
static int
decrypt_now(struct seal_session *s, const char **note)
{
	BIO *out = BIO_new(BIO_s_mem());
	struct seal_policy p;
	char *reason = NULL, *data, *val = NULL;
	const char *body;
	enum open_result r;
	size_t i, hlen;
	long n;
	int rc = 0, too_big;

	memset(&p, 0, sizeof(p));
	if (out == NULL)
		return -1;
	if (seal_session_sealed(s, &hlen, &too_big) == NULL && !too_big) {
		BIO_free(out);
		return 0;       /* nothing sealed: nothing to do */
	}
	r = seal_open(s, time(NULL), 0, out, &p, &reason);
	if (r != OPEN_OK) {
		free(s->decrypt_note);
		if (asprintf(&s->decrypt_note, "not decrypted: %s; delivered sealed", reason ? reason : "?") < 0)
			s->decrypt_note = NULL;
		*note = s->decrypt_note;
		goto out;
	}
	for (i = 0; i < s->rcpts.n; i++)
		if (!seal_policy_allows(&p, s->rcpts.v[i])) {
			free(s->decrypt_note);
			if (asprintf(&s->decrypt_note, "not decrypted: the policy does not allow <%s>; delivered sealed",
			    s->rcpts.v[i]) < 0)
				s->decrypt_note = NULL;
			*note = s->decrypt_note;
			goto out;
		}
	n = BIO_get_mem_data(out, &data);
	/* The original's header section ends at its first empty line. */
	for (i = 0, body = NULL; i < (size_t)n; i++)
		if (data[i] == '\n' && (i + 1 < (size_t)n && (data[i + 1] == '\n' ||
		    (data[i + 1] == '\r' && i + 2 < (size_t)n && data[i + 2] == '\n')))) {
			body = data + i + (data[i + 1] == '\n' ? 2 : 3);
			hlen = i + 1;
			break;
		}
	if (body == NULL) {
		body = data + n;
		hlen = (size_t)n;
	}
	for (i = 0; i < s->nheaders; i++)
		if (!s->gone[i] && !is_trace(s->headers[i].name) && delete_all(s, s->headers[i].name, NULL) != 0)
			goto oom;
	if (add_original_headers(s, data, hlen) != 0)
		goto oom;
	if (asprintf(&val, " v=1; template=%s; id=%s; by=%s", p.template_name, p.seal_id,
	    s->cfg->org_name && *s->cfg->org_name ? s->cfg->org_name : "sealmilter") < 0 ||
	    add_edit(&s->res, EDIT_ADD_HEADER, "X-Sealmilter-Decrypted", val, 0) != 0)
		goto oom;
	{
		size_t blen = (size_t)(data + n - body), off = 0;
		int fd = spool_tempfd_sized(s->cfg->spool_dir, blen, s->cfg->spool_threshold);
		ssize_t w = 0;
		while (fd >= 0 && off < blen && (w = write(fd, body + off, blen - off)) > 0)
			off += (size_t)w;
		if (fd < 0 || off != blen || add_body_edit_fd(s, fd) != 0) {
			if (fd >= 0 && off != blen)
				close(fd);
			goto oom;
		}
	}
	rc = 1;
	goto out;
oom:
	fail_as(s, CAUSE_MEMORY, "out of memory decrypting");
	rc = -1;
out:
	free(val);
	free(reason);
	seal_policy_free(&p);
	BIO_free(out);
	return rc;
}

/* The body as it will be delivered, chunk by chunk to fn: the
 * replacement body when there is one, else the stored original. */
static int
each_body_chunk(struct seal_session *s, int (*fn)(void *arg, const char *p, size_t n), void *arg)
{
	char buf[65536];
	size_t i;
	long n;

	for (i = 0; i < s->res.nedits; i++)
		if (s->res.edits[i].kind == EDIT_REPLACE_BODY) {
			const struct edit *e = &s->res.edits[i];
			size_t off = 0;
			ssize_t got;
			while (off < e->len && (got = pread(e->fd, buf, sizeof(buf), (off_t)off)) > 0) {
				if (fn(arg, buf, (size_t)got) != 0)
					return -1;
				off += (size_t)got;
			}
			return off == e->len ? 0 : -1;
		}
	if (s->spool == NULL || s->spool_failed || spool_rewind(s->spool) != 0)
		return -1;
	while ((n = spool_read(s->spool, buf, sizeof(buf))) > 0)
		if (fn(arg, buf, (size_t)n) != 0)
			return -1;
	return n < 0 ? -1 : 0;
}

static int
is_content_field(const char *name)
{
	return strncasecmp(name, "Content-", 8) == 0;
}

static struct header *delivered_headers(const struct seal_session *s, size_t *count);

/* The Content-* fields (CRLF) and the blank line of the message's MIME
 * entity as it will be delivered. *has_mime_version says whether a
 * MIME-Version field will be delivered. */
static int
entity_head(struct seal_session *s, struct sbuf *head, int *has_mime_version)
{
	struct header *h;
	size_t i, nh;
	int rc = 0;

	*has_mime_version = 0;
	if ((h = delivered_headers(s, &nh)) == NULL)
		return -1;
	for (i = 0; i < nh && rc == 0; i++) {
		const char *v;
		if (strcasecmp(h[i].name, "MIME-Version") == 0)
			*has_mime_version = 1;
		if (!is_content_field(h[i].name))
			continue;
		rc |= sbuf_printf(head, "%s:", h[i].name);
		for (v = h[i].value; rc == 0 && *v; v++)
			if (*v != '\r')
				rc |= *v == '\n' ? sbuf_add(head, "\r\n", 2) : sbuf_addc(head, *v);
		rc |= sbuf_add(head, "\r\n", 2);
	}
	free(h);
	return rc == 0 && sbuf_add(head, "\r\n", 2) == 0 ? 0 : -1;
}

/* The delivered body's size in bytes. */
static uint64_t
delivered_body_size(const struct seal_session *s)
{
	size_t i;

	for (i = 0; i < s->res.nedits; i++)
		if (s->res.edits[i].kind == EDIT_REPLACE_BODY)
			return s->res.edits[i].len;
	return s->spool ? spool_size(s->spool) : 0;
}

/* The entity streamed from its head and the delivered body (smime_source). */
struct entity_stream {
	struct seal_session *s;
	struct sbuf head;
};

static int
entity_each(void *ctx, int (*fn)(void *arg, const char *p, size_t n), void *arg)
{
	struct entity_stream *e = ctx;

	if (e->head.len > 0 && fn(arg, e->head.data, e->head.len) != 0)
		return -1;
	return each_body_chunk(e->s, fn, arg);
}

static int
entity_tmp(void *ctx)
{
	struct entity_stream *e = ctx;

	return spool_tempfd_sized(e->s->cfg->spool_dir, e->head.len + delivered_body_size(e->s) * 2,
	    e->s->cfg->spool_threshold);
}

/* Give the message a new MIME structure: its Content-* fields go (those
 * received and those an edit added), the given fields come, and the body
 * in fd (taken over) replaces whatever was there, a sealed body included. */
static int
replace_content(struct seal_session *s, int fd, const char *const *names, const char *const *values, size_t n,
    int has_mime_version)
{
	struct seal_result *r = &s->res;
	size_t i, j;

	for (i = 0; i < s->nheaders; i++)
		if (!s->gone[i] && is_content_field(s->headers[i].name) && delete_all(s, s->headers[i].name, NULL) != 0)
			goto fail;
	for (i = 0, j = 0; i < r->nedits; i++) {
		if (r->edits[i].kind == EDIT_ADD_HEADER && is_content_field(r->edits[i].name)) {
			free(r->edits[i].name);
			free(r->edits[i].value);
			continue;
		}
		r->edits[j++] = r->edits[i];
	}
	r->nedits = j;
	if (!has_mime_version && add_edit(r, EDIT_ADD_HEADER, "MIME-Version", " 1.0", 0) != 0)
		goto fail;
	for (i = 0; i < n; i++)
		if (add_edit(r, EDIT_ADD_HEADER, names[i], values[i], 0) != 0)
			goto fail;
	for (i = 0; i < r->nedits; i++)
		if (r->edits[i].kind == EDIT_REPLACE_BODY) {
			close(r->edits[i].fd);
			r->edits[i].fd = fd;
			r->edits[i].len = (size_t)lseek(fd, 0, SEEK_END);
			return hash_body_fd(s, fd, r->edits[i].len);
		}
	return add_body_edit_fd(s, fd);
fail:
	close(fd);
	return -1;
}

/* S/MIME-sign the message as it stands (sealed or not). *signed_now is set
 * when it was signed; a note says why not; an error (s->error) defers it. */
static const char *
smime_sign_now(struct seal_session *s, const struct action *a, int *signed_now)
{
	struct strlist from = { NULL, 0 };
	const struct smime_identity *id = NULL;
	struct entity_stream entity = { s, { NULL, 0, 0, 0, 0 } };
	char *msg = NULL, *err = NULL, *ctype = NULL;
	const char *note = NULL, *problem;
	size_t i, fields = 0;
	int fd = -1, has_mime_version = 0;

	*signed_now = 0;
	sbuf_init(&entity.head, 0);
	for (i = 0; i < s->nheaders; i++)
		if (strcasecmp(s->headers[i].name, "From") == 0) {
			fields++;
			mime_addresses(s->headers[i].value, &from);
		}
	/* The identity follows the author, and the author must be the sender
	 * the MTA accepted (the envelope sender, which SMTP AUTH binds): a From
	 * field alone, which anyone writes, never picks someone's certificate. */
	if (a->identity)
		id = smime_identity_for(&s->cfg->signing, "", a->identity);
	else if (fields == 1 && from.n == 1 && strcasecmp(from.v[0], s->sender) == 0)
		id = smime_identity_for(&s->cfg->signing, from.v[0], NULL);
	if (id == NULL) {
		if (a->identity == NULL && fields == 1 && from.n == 1 && strcasecmp(from.v[0], s->sender) != 0) {
			if (asprintf(&msg, "sign: the From address <%s> is not the envelope sender <%s>: no S/MIME identity",
			    from.v[0], s->sender) < 0)
				msg = NULL;
		} else if (asprintf(&msg, "sign: no S/MIME identity for %s%s%s", fields == 1 && from.n == 1 ? "<" : "",
		    fields == 1 && from.n == 1 ? from.v[0] : "a message without a single From address",
		    fields == 1 && from.n == 1 ? ">" : "") < 0)
			msg = NULL;
		if (s->cfg->signing.missing == MISSING_SKIP) {
			note = keep_note(s, msg);     /* the note outlives this call */
		} else {
			fail_as(s, CAUSE_SIGN, msg ? msg : "sign: no S/MIME identity");
		}
		goto done;
	}
	if ((problem = smime_identity_problem(id, time(NULL))) != NULL) {
		if (asprintf(&msg, "sign: the S/MIME identity %s cannot sign: %s (%s)", id->name, problem, id->cert_path) < 0)
			msg = NULL;
		fail_as(s, CAUSE_SIGN, msg ? msg : "sign: the identity cannot sign");
		goto done;
	}
	if (entity_head(s, &entity.head, &has_mime_version) != 0)
		goto oom;
	fd = spool_tempfd_sized(s->cfg->spool_dir, (entity.head.len + delivered_body_size(s)) * 2 + 8192,
	    s->cfg->spool_threshold);
	if (fd < 0) {
		if (asprintf(&msg, "sign: cannot create a temp file in spool_dir %s: %s", s->cfg->spool_dir,
		    strerror(errno)) < 0)
			msg = NULL;
		fail_as(s, CAUSE_SPOOL, msg ? msg : "sign: no temp file");
		goto done;
	}
	{
		const struct smime_source src = { entity_each, entity_tmp, &entity };
		if (smime_sign_stream(id, &src, fd, &ctype, &err) != 0) {
			fail_as(s, CAUSE_SIGN, err ? err : "sign: S/MIME signing failed");
			goto done;
		}
	}
	{
		const char *names[] = { "Content-Type" }, *values[] = { ctype };
		int f = fd;
		fd = -1;
		if (replace_content(s, f, names, values, 1, has_mime_version) != 0) {
			fail_as(s, CAUSE_SIGN, "sign: cannot put the signed message in place");
			goto done;
		}
	}
	*signed_now = 1;
	s->res.nsigned++;
	goto done;
oom:
	fail_as(s, CAUSE_MEMORY, "out of memory S/MIME-signing");
done:
	if (fd >= 0)
		close(fd);
	free(msg);
	free(err);
	free(ctype);
	sbuf_free(&entity.head);
	strlist_free(&from);
	return note;
}

/* prefer_smime: when every recipient has a usable certificate, encrypt as
 * S/MIME to them and to the sealing tenant certificate. 1 when encrypted;
 * 0 when the message is to be sealed instead (*note says why); -1 on an
 * error (s->error set). */
static int
smime_encrypt_now(struct seal_session *s, const char **note)
{
	X509 **certs = calloc(s->rcpts.n + 1, sizeof(*certs)); /* NOLINT(bugprone-sizeof-expression): an array of pointers */
	struct entity_stream entity = { s, { NULL, 0, 0, 0, 0 } };
	char *why = NULL, *err = NULL, *ctype = NULL, *marker = NULL;
	size_t i, n = 0;
	int fd = -1, has_mime_version, rc = -1;
	time_t now = time(NULL);

	sbuf_init(&entity.head, 0);
	if (certs == NULL)
		goto oom;
	for (i = 0; i < s->rcpts.n; i++) {
		if ((certs[n] = smime_recipient_cert(s->cfg->smime_cert_dir, s->rcpts.v[i], now, &why)) == NULL) {
			char *t = NULL;
			if (asprintf(&t, "sealed, not S/MIME-encrypted: <%s>: %s", s->rcpts.v[i],
			    why ? why : "no usable certificate") < 0)
				t = NULL;
			*note = t ? keep_note(s, t) : NULL;
			free(t);
			rc = 0;
			goto done;
		}
		n++;
	}
	if (n == 0) {
		rc = 0;
		goto done;
	}
	if (entity_head(s, &entity.head, &has_mime_version) != 0)
		goto oom;
	fd = spool_tempfd_sized(s->cfg->spool_dir, (entity.head.len + delivered_body_size(s)) * 2 + 8192,
	    s->cfg->spool_threshold);
	if (fd < 0) {
		fail_as(s, CAUSE_SPOOL, "S/MIME encryption: cannot create a temp file in spool_dir");
		goto done;
	}
	{
		const struct smime_source src = { entity_each, entity_tmp, &entity };
		if (smime_encrypt_stream(certs, n, s->cfg->keys.ntenant ? s->cfg->keys.tenant[0].cert : NULL,
		    s->cfg->smime_cipher == SMIME_CBC, &src, fd, &ctype, &err) != 0) {
			fail_as(s, CAUSE_SEAL, err ? err : "S/MIME encryption failed");
			goto done;
		}
	}
	if (asprintf(&marker, " v=1; smime; cipher=%s; recipients=%zu", s->cfg->smime_cipher == SMIME_CBC ? "aes-256-cbc"
	    : "aes-256-gcm", n) < 0) {
		marker = NULL;
		goto oom;
	}
	{
		const char *names[] = { "Content-Type", "Content-Transfer-Encoding", "Content-Disposition",
			"X-Sealmilter-Encrypted" };
		const char *values[] = { ctype, " base64", " attachment; filename=\"smime.p7m\"", marker };
		int f = fd;
		fd = -1;
		if (replace_content(s, f, names, values, 4, has_mime_version) != 0) {
			fail_as(s, CAUSE_SEAL, "S/MIME encryption: cannot put the encrypted message in place");
			goto done;
		}
	}
	rc = 1;
	s->res.nencrypted++;
	goto done;
oom:
	fail_as(s, CAUSE_MEMORY, "out of memory S/MIME-encrypting");
done:
	for (i = 0; certs && i < n; i++)
		X509_free(certs[i]);
	free(certs);
	if (fd >= 0)
		close(fd);
	free(why);
	free(err);
	free(ctype);
	free(marker);
	sbuf_free(&entity.head);
	return s->error ? -1 : rc;
}

static int
to_hasher(void *arg, const char *p, size_t n)
{
	dkim_body_hasher_feed(arg, p, n);
	return 0;
}

static struct header *delivered_headers(const struct seal_session *s, size_t *count);

/* Sign with the dkim.keys entry of the From domain. Returns a note when
 * the message stays unsigned on purpose; a failure where a rule asked for
 * the signature (required) is an error (tempfail). Without a rule
 * (dkim.sign_outbound), mail whose From domain has no key is left alone. */
static const char *
dkim_sign_now(struct seal_session *s, int required)
{
	struct strlist from = { NULL, 0 };
	const struct dkim_signer *k = NULL;
	struct dkim_body_hasher *bh = NULL;
	struct header *h = NULL;
	unsigned char hash[32];
	char *value = NULL, *err = NULL, *msg = NULL;
	const char *note = NULL;
	size_t i, nh, fields = 0;
	int cause = CAUSE_SIGN;

	for (i = 0; i < s->nheaders; i++)
		if (strcasecmp(s->headers[i].name, "From") == 0) {
			fields++;
			mime_addresses(s->headers[i].value, &from);
		}
	if (fields == 1 && from.n == 1)
		k = config_dkim_signer(s->cfg, addr_domain(from.v[0]));
	if (k == NULL) {
		const char *why = fields != 1 || from.n != 1 ? "no single From address"
		    : "no dkim.keys entry for the From domain";
		if (required) {
			/* A rule asked for a signature that cannot be made: defer, never send it unsigned. */
			if (asprintf(&msg, "dkim_sign: %s", why) < 0)
				msg = NULL;
			goto fail;
		}
		{
			char *t = NULL;
			if (asprintf(&t, "not DKIM-signed: %s", why) < 0)
				t = NULL;
			note = t ? keep_note(s, t) : NULL;
			free(t);
		}
		goto done;
	}
	if ((bh = dkim_body_hasher_new(k->bcanon)) == NULL || each_body_chunk(s, to_hasher, bh) != 0 ||
	    dkim_body_hasher_final(bh, hash) != 0) {
		if (asprintf(&msg, "cannot DKIM-sign for %s: the body could not be read back", k->domain) < 0)
			msg = NULL;
		goto fail;
	}
	if ((h = delivered_headers(s, &nh)) == NULL)
		goto oom;
	value = dkim_sign(k, h, nh, hash, time(NULL), &err);
	if (value == NULL) {
		msg = err;
		err = NULL;
		goto fail;
	}
	if (add_edit(&s->res, EDIT_INSERT_HEADER, "DKIM-Signature", value, 0) != 0)
		goto oom;
	s->res.ndkim_signed++;
	goto done;
oom:
	msg = strdup("out of memory DKIM-signing");
	cause = CAUSE_MEMORY;
fail:
	fail_as(s, cause, msg ? msg : "DKIM signing failed");
done:
	free(msg);
	free(err);
	free(value);
	free(h);
	dkim_body_hasher_free(bh);
	strlist_free(&from);
	return note;
}

static void clear_edits(struct seal_result *r);

/* Authentication-Results: fields that claim our authserv-id are forged
 * (RFC 8601 5) and go; ours goes on top. */
static int
remove_forged_authres(struct seal_session *s)
{
	const char *id = s->cfg->dkim_authserv_id;
	int *keep = calloc(s->nheaders + 1, sizeof(*keep));
	size_t i;
	int rc;

	if (keep == NULL)
		return -1;
	for (i = 0; i < s->nheaders; i++)
		keep[i] = strcasecmp(s->headers[i].name, "Authentication-Results") != 0 ||
		    !dkim_authres_is_ours(s->headers[i].value, id);
	rc = delete_all(s, "Authentication-Results", keep);
	free(keep);
	return rc;
}

static int
add_authres(struct seal_session *s, const struct dkim_outcome *o, size_t n, size_t unchecked)
{
	const char *id = s->cfg->dkim_authserv_id;
	int rc = remove_forged_authres(s);

	free(s->res.authres);
	s->res.authres = rc == 0 ? dkim_authres(id, o, n, unchecked) : NULL;
	if (s->res.authres == NULL)
		return -1;
	return add_edit(&s->res, EDIT_INSERT_HEADER, "Authentication-Results", s->res.authres, 0);
}

/* Everything after the checks: evaluate and turn the decision into edits. */
/* ---- split messages ------------------------------------------------------- */

static int
add_marker(struct seal_session *s)
{
	/* Over the header block as it will be delivered. */
	struct marker_subject ms;
	size_t nh;
	struct header *h = delivered_headers(s, &nh);
	char *m = NULL;
	int rc;

	if (h != NULL) {
		marker_subject(s, &ms, h, nh);
		ms.direction = delivered_direction(s);
		m = marker_make(s->cfg, &ms, time(NULL));
	}
	free(h);
	rc = m != NULL && add_edit(&s->res, EDIT_ADD_HEADER, s->cfg->marker_header, m, 0) == 0 ? 0 : -1;
	free(m);
	return rc;
}

static int
wants_dkim_signature(const struct seal_session *s)
{
	const struct seal_result *r = &s->res;

	return r->direction == DIR_OUTBOUND && (r->decision.dkim_sign || s->cfg->dkim_sign_outbound) &&
	    s->cfg->ndkim_signers > 0;
}

/* Seal (or S/MIME-encrypt, when asked and possible) the message for the
 * session's current recipients. 0, or -1 with s->error. */
static int
seal_in_place(struct seal_session *s, const struct action *sa, const char **note)
{
	int enc = 0;

	if (sa->prefer_smime && s->cfg->smime_cert_dir && (enc = smime_encrypt_now(s, note)) < 0)
		return -1;
	return enc ? 0 : seal_now(s, sa->tpl);
}

/* 1 when addr is named in a To or Cc field: a recipient others can see. */
static int
is_visible(const struct seal_session *s, const char *addr)
{
	size_t i, j;
	int found = 0;

	for (i = 0; i < s->nheaders && !found; i++) {
		struct strlist l = { NULL, 0 };
		if (strcasecmp(s->headers[i].name, "To") != 0 && strcasecmp(s->headers[i].name, "Cc") != 0)
			continue;
		mime_addresses(s->headers[i].value, &l);
		for (j = 0; j < l.n && !found; j++)
			found = strcasecmp(l.v[j], addr) == 0;
		strlist_free(&l);
	}
	return found;
}

static void
truncate_edits(struct seal_result *r, size_t n)
{
	while (r->nedits > n) {
		struct edit *e = &r->edits[--r->nedits];
		free(e->name);
		free(e->value);
		if (e->fd >= 0)
			close(e->fd);
	}
}

/* The record of a copy handed over: spool_dir/submitted/HASH, where HASH
 * covers the original message (header fields but trace fields, and the
 * body, as received) and the copy's recipients. A retry of the same message finds it and does not
 * send that copy again. NULL when out of memory. */
static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *
ledger_path(struct seal_session *s, char *const *rcpts, size_t n)
{
	BIO *null = BIO_new(BIO_s_null()), *md = BIO_new(BIO_f_md());
	unsigned char h[EVP_MAX_MD_SIZE];
	char hex[2 * 32 + 1], *path = NULL;
	size_t i;
	int ok;

	ok = null && md && BIO_set_md(md, marker_sha256()) == 1;
	if (ok) {
		char buf[65536];
		long got = 0;
		BIO_push(md, null);
		null = NULL;
		/* The header fields but the trace fields (an MTA adds a new Received,
		 * with a new queue id, on each try), then the body. */
		for (i = 0; ok && i < s->nheaders; i++)
			if (!is_trace(s->headers[i].name))
				ok = BIO_printf(md, "%s:%s\n", s->headers[i].name, s->headers[i].value) > 0;
		ok = ok && BIO_write(md, "\n", 1) == 1 && spool_rewind(s->spool) == 0;
		while (ok && (got = spool_read(s->spool, buf, sizeof(buf))) > 0)
			ok = BIO_write(md, buf, (int)got) == (int)got;
		ok = ok && got == 0 && BIO_write(md, "\n--\n", 4) == 4;
		{
			/* The recipients sorted and case-folded: the same set in any order. */
			char **sorted = calloc(n ? n : 1, sizeof(*sorted));
			size_t k;
			ok = ok && sorted != NULL;
			for (i = 0; ok && i < n; i++) {
				ok = (sorted[i] = strdup(rcpts[i])) != NULL;
				for (k = 0; ok && sorted[i][k]; k++)
					sorted[i][k] = (char)tolower((unsigned char)sorted[i][k]);
			}
			if (ok)
				qsort(sorted, n, sizeof(*sorted), cmp_str);
			for (i = 0; ok && i < n; i++)
				ok = BIO_write(md, sorted[i], (int)strlen(sorted[i]) + 1) > 0;
			for (i = 0; sorted && i < n; i++)
				free(sorted[i]);
			free(sorted);
		}
		ok = ok && BIO_gets(md, (char *)h, EVP_MAX_MD_SIZE) == 32;
	}
	if (ok) {
		hex_encode(h, 32, hex);
		if (asprintf(&path, "%s/submitted/%s", s->cfg->spool_dir, hex) < 0)
			path = NULL;
	}
	BIO_free_all(md);
	BIO_free(null);
	return path;
}

/* Hand a finished copy over: through the session's submitter, or by SMTP
 * to milter.submit_url with the ledger. 0, or -1 with *err. */
static int
hand_over(struct seal_session *s, char *const *rcpts, size_t n, int fd, size_t len, struct split_copy *cp, char **err)
{
	struct stat st;
	char *path, *dir = NULL;
	int lfd;

	if (s->submit_fn)
		return s->submit_fn(s->submit_arg, s->sender, rcpts, n, fd, len, &cp->queue_id, err);
	if ((path = ledger_path(s, rcpts, n)) == NULL) {
		*err = strdup("out of memory");
		return -1;
	}
	if (stat(path, &st) == 0 && st.st_mtime >= time(NULL) - (time_t)s->cfg->marker_max_age) {
		cp->again = 1;        /* handed over on an earlier try of this same message */
		free(path);
		return 0;
	}
	if (submit_smtp(s->cfg->submit_url, (long)s->cfg->submit_timeout, s->sender, rcpts, n, fd, len, &cp->queue_id,
	    err) != 0) {
		free(path);
		return -1;
	}
	/* Recorded after the MTA took it: a crash in between may send it twice, never lose it. */
	if (asprintf(&dir, "%s/submitted", s->cfg->spool_dir) >= 0)
		(void)mkdir(dir, 0700);
	free(dir);
	lfd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (lfd < 0 || write_all(lfd, cp->queue_id ? cp->queue_id : "", cp->queue_id ? strlen(cp->queue_id) : 0) != 0)
		seal_warn("%s: cannot record the copy handed over in %s (%s): a retry would send it again",
		    s->qid ? s->qid : "NOQUEUE", path, strerror(errno));
	if (lfd >= 0)
		close(lfd);
	free(path);
	return 0;
}

/* Make the copy for rcpts: the same treatment as the original would get
 * (sealed when seal is 1, then S/MIME sign, marker, DKIM), written out
 * whole, handed to the MTA; then every change it made to the session is
 * undone. 0, or -1 with s->error (the whole message is then deferred). */
static int
split_copy(struct seal_session *s, const struct action *sa, int seal, char *const *rcpts, size_t n)
{
	struct seal_result *r = &s->res;
	struct strlist keep = s->rcpts, group = { NULL, 0 };
	struct split_copy cp, *grown;
	unsigned char body_hash[MARKER_BODY_HASH_LEN];
	size_t nedits = r->nedits, i;
	int *gone = malloc((s->nheaders + 1) * sizeof(*gone)), fd = -1, rc = -1;
	const char *note = NULL;
	char *err = NULL, *msg = NULL;
	off_t len;
	FILE *f = NULL;

	memset(&cp, 0, sizeof(cp));
	if (s->progress_fn)
		s->progress_fn(s->progress_arg);
	for (i = 0; i < n && gone; i++)
		if (strlist_add(&group, rcpts[i]) != 0 || strlist_add(&cp.rcpts, rcpts[i]) != 0) {
			free(gone);
			gone = NULL;
		}
	if (gone == NULL) {
		fail_as(s, CAUSE_MEMORY, "out of memory splitting the message");
		strlist_free(&group);
		strlist_free(&cp.rcpts);
		return -1;
	}
	memcpy(gone, s->gone, (s->nheaders + 1) * sizeof(*gone));
	memcpy(body_hash, s->body_hash, sizeof(body_hash));
	s->rcpts = group;
	if (seal && seal_in_place(s, sa, &note) != 0)
		goto out;
	if (r->decision.sign && r->direction == DIR_OUTBOUND) {
		int signed_now = 0;
		(void)smime_sign_now(s, r->decision.sign, &signed_now);
		if (s->error)
			goto out;
	}
	if (add_marker(s) != 0) {
		fail_as(s, CAUSE_MEMORY, "out of memory marking the copy");
		goto out;
	}
	if (wants_dkim_signature(s)) {
		(void)dkim_sign_now(s, r->decision.dkim_sign);
		if (s->error)
			goto out;
	}
	/* The copy, whole, as the MTA will get it. */
	fd = spool_tempfd_sized(s->cfg->spool_dir, s->size + 65536, s->cfg->spool_threshold);
	if (fd >= 0) {
		int d = dup(fd);
		f = d >= 0 ? fdopen(d, "w") : NULL;
		if (f == NULL && d >= 0)
			close(d);
	}
	{
		int wrc = f ? seal_session_write(s, f, "\r\n") : -1, crc = f ? fclose(f) : -1;
		f = NULL;
		if (wrc != 0 || crc != 0 || (len = lseek(fd, 0, SEEK_END)) < 0) {
			fail_as(s, CAUSE_SPOOL, "cannot write the sealed copy of a split message to spool_dir");
			goto out;
		}
	}
	if (hand_over(s, rcpts, n, fd, (size_t)len, &cp, &err) != 0) {
		if (asprintf(&msg, "cannot hand the sealed copy for %zu recipient%s to milter.submit_url: %s", n,
		    n == 1 ? "" : "s", err ? err : "failed") < 0)
			msg = NULL;
		if (submit_refused_permanently(err))
			set_limit(s, "%s (a permanent refusal: the message is rejected rather than retried for ever)",
			    msg ? msg : "the MTA refused the sealed copy");
		else
			fail_as(s, CAUSE_SUBMIT, msg ? msg : "cannot hand over the sealed copy");
		goto out;
	}
	grown = realloc(r->copies, (r->ncopies + 1) * sizeof(*grown));
	if (grown == NULL) {
		fail_as(s, CAUSE_MEMORY, "out of memory");
		goto out;
	}
	r->copies = grown;
	r->copies[r->ncopies++] = cp;
	memset(&cp, 0, sizeof(cp));
	rc = 0;
out:
	if (f)
		fclose(f);
	if (fd >= 0)
		close(fd);
	truncate_edits(r, nedits);
	memcpy(s->gone, gone, (s->nheaders + 1) * sizeof(*gone));
	memcpy(s->body_hash, body_hash, sizeof(body_hash));
	strlist_free(&s->rcpts);
	s->rcpts = keep;
	strlist_free(&cp.rcpts);
	free(cp.queue_id);
	free(gone);
	free(err);
	free(msg);
	return rc;
}

/* Seal the message for the recipients the seal applies to, splitting it
 * when its recipients need different treatments (docs/policy.md):
 *   - the sealed recipients named in To or Cc keep the original
 *     transaction, sealed for them (or the first Bcc, when none is named);
 *   - each other sealed recipient named nowhere (Bcc) gets a sealed copy of
 *     its own, so no policy or RecipientInfo names a Bcc to anyone else;
 *   - the recipients it does not apply to (for: external/internal) get one
 *     plain copy.
 * Copies go back to the MTA, and their recipients leave this transaction.
 * Without milter.submit_url nothing is split (a Bcc recipient then shares
 * the sealed message, and the log says so). *sealed_here: the original
 * transaction itself was sealed. */
static int
seal_split(struct seal_session *s, const struct action *sa, int *sealed_here, const char **note)
{
	struct strlist sealed = { NULL, 0 }, plain = { NULL, 0 }, visible = { NULL, 0 }, hidden = { NULL, 0 };
	/* Inbound mail is never split: its copy would come back from loopback, a
	 * trusted client, and could pass for outbound mail of the organisation. */
	int can_split = (s->cfg->submit_url != NULL || s->submit_fn != NULL) && s->res.direction != DIR_INBOUND;
	int rc = -1, oom = 0;
	size_t i, first_copy = 0;

	*sealed_here = 0;
	for (i = 0; i < s->rcpts.n; i++) {
		int external = !config_is_org_domain(s->cfg, addr_domain(s->rcpts.v[i]));
		int applies = sa->for_who == FOR_ALL || (sa->for_who == FOR_EXTERNAL) == external;
		oom |= strlist_add(applies ? &sealed : &plain, s->rcpts.v[i]);
	}
	for (i = 0; i < sealed.n; i++)
		oom |= strlist_add(is_visible(s, sealed.v[i]) ? &visible : &hidden, sealed.v[i]);
	if (oom) {
		fail_as(s, CAUSE_MEMORY, "out of memory");
		goto out;
	}
	if (sealed.n == 0) {
		*note = sa->for_who == FOR_EXTERNAL ? "no recipient outside the organisation: not sealed"
		    : "no recipient inside the organisation: not sealed";
		rc = 0;
		goto out;
	}
	if (!can_split || (plain.n == 0 && hidden.n == 0) || (plain.n == 0 && sealed.n == 1)) {
		/* One sealed message for all its recipients, in place. */
		if (seal_in_place(s, sa, note) != 0)
			goto out;
		if (hidden.n > 0 && sealed.n > 1 && *note == NULL)
			*note = keep_note(s, "a recipient in neither To nor Cc (Bcc) is named in the sealed policy with "
			    "the others: set milter.submit_url to give each a copy of its own");
		*sealed_here = 1;
		rc = 0;
		goto out;
	}
	{
		/* The original transaction stays sealed, for the visible sealed
		 * recipients (or the first Bcc when none is visible): if the MTA
		 * ever failed to take a recipient out, that recipient would get a
		 * sealed message too, never plaintext. Each other Bcc gets a sealed
		 * copy; the recipients the seal does not apply to get one plain copy. */
		size_t ncopies = hidden.n - (visible.n > 0 ? 0 : 1) + (plain.n > 0);
		struct strlist keep = s->rcpts, mine = { NULL, 0 };
		if (ncopies > s->cfg->max_split_copies) {
			set_limit(s, "splitting it would take %zu copies (recipients not in To or Cc each get a sealed "
			    "one of their own), over milter.max_split_copies (%llu)", ncopies,
			    (unsigned long long)s->cfg->max_split_copies);
			goto out;
		}
		first_copy = visible.n > 0 ? 0 : 1;
		for (i = first_copy; i < hidden.n; i++)
			if (split_copy(s, sa, 1, &hidden.v[i], 1) != 0)
				goto out;
		if (plain.n > 0 && split_copy(s, sa, 0, plain.v, plain.n) != 0)
			goto out;
		/* The copies' recipients leave this transaction, exactly as the MTA gave
		 * them: Postfix and Sendmail match the address as a string. */
		for (i = 0; i < s->rcpts.n; i++) {
			int keep_here = visible.n > 0 ? strlist_has(&visible, s->rcpts.v[i])
			    : strcmp(s->rcpts.v[i], hidden.v[0]) == 0;
			if (!keep_here && add_edit(&s->res, EDIT_DELETE_RCPT, i < s->rcpts_raw.n ? s->rcpts_raw.v[i]
			    : s->rcpts.v[i], s->rcpts.v[i], 0) != 0) {
				fail_as(s, CAUSE_MEMORY, "out of memory");
				goto out;
			}
		}
		/* Seal the original for the recipients it keeps. */
		if (visible.n > 0)
			for (i = 0; i < visible.n; i++)
				oom |= strlist_add(&mine, visible.v[i]);
		else
			oom |= strlist_add(&mine, hidden.v[0]);
		if (oom) {
			strlist_free(&mine);
			fail_as(s, CAUSE_MEMORY, "out of memory");
			goto out;
		}
		s->rcpts = mine;
		i = (size_t)seal_in_place(s, sa, note);
		strlist_free(&s->rcpts);
		s->rcpts = keep;
		if (i != 0)
			goto out;
		*sealed_here = 1;
	}
	rc = 0;
out:
	strlist_free(&sealed);
	strlist_free(&plain);
	strlist_free(&visible);
	strlist_free(&hidden);
	return rc;
}

static const char *
decide(struct seal_session *s, int *marker_keep)
{
	struct seal_result *r = &s->res;
	struct msg_facts f;
	const char *subj_raw = NULL, *note = NULL;
	size_t i, nparts = 0;
	int modified = 0, truncated = 0, decrypted = 0;

	mimescan_finish(s->scan);
	if (mimescan_oom(s->scan)) {
		fail_as(s, CAUSE_MEMORY, "out of memory scanning the message");
		return NULL;
	}
	if (mimescan_limit_error(s->scan)) {
		set_limit(s, "%s", mimescan_limit_error(s->scan));
		return NULL;
	}
	if (s->dkim) {
		size_t n, unchecked;
		const struct dkim_outcome *o = dkim_verify_finish(s->dkim, &n, &unchecked);
		if (o == NULL) {
			fail_as(s, CAUSE_MEMORY, "out of memory finishing DKIM verification");
			return NULL;
		}
		r->dkim = o;
		r->ndkim = n;
		r->dkim_checked = 1;
		r->dkim_unchecked = unchecked;
		/* A marked message was verified and given its field by an earlier
		 * pass; the marker covers that field, so it cannot have been forged. */
		if (!r->already_processed && add_authres(s, o, n, unchecked) != 0)
			goto oom;
	} else if (s->cfg->dkim_verify && !r->already_processed && remove_forged_authres(s) != 0) {
		/* Outbound and internal mail is not verified, but no one inside may
		 * speak for this server either (RFC 8601 5). */
		goto oom;
	}
	for (i = 0; i < s->nheaders; i++)
		if (strcasecmp(s->headers[i].name, "Subject") == 0) {
			subj_raw = s->headers[i].value;
			break;
		}
	s->subject = subj_raw ? hdr_decode(subj_raw) : strdup("");
	if (s->subject == NULL) {
		fail_as(s, CAUSE_MEMORY, "out of memory decoding the subject");
		return NULL;
	}
	memset(&f, 0, sizeof(f));
	f.cfg = s->cfg;
	f.sender = s->sender;
	f.rcpts = s->rcpts.v;
	f.nrcpts = s->rcpts.n;
	f.direction = r->direction;
	f.internal = r->internal;
	f.headers = s->headers;
	f.nheaders = s->nheaders;
	f.subject = s->subject;
	f.text = mimescan_text(s->scan, &f.textlen, &truncated);   /* windows before it were scanned already */
	f.body_hits = s->body_hits;
	f.dkim = r->dkim;
	f.ndkim = r->ndkim;
	f.dkim_checked = r->dkim_checked;
	if (s->scan_error) {
		/* A window of text could not be matched: as for any evaluation error. */
		r->cause = CAUSE_POLICY;
		if (s->cfg->on_error == ON_ERROR_TEMPFAIL)
			set_reply(r, VERDICT_TEMPFAIL, "451", "4.3.0", "Policy evaluation failed; try again later");
		else if (delete_all(s, s->cfg->marker_header, marker_keep) != 0)
			fail_as(s, CAUSE_MEMORY, "out of memory");
		return s->scan_error;
	}
	f.parts = mimescan_parts(s->scan, &nparts);
	f.nparts = nparts;
	f.size = s->size;

	if (policy_eval(s->cfg, &f, &r->decision) != 0) {
		/* A rule that already fired asked for protection that can no longer
		 * be given in full: tempfail, whatever on_error says. */
		r->cause = CAUSE_POLICY;
		if (s->cfg->on_error == ON_ERROR_TEMPFAIL || r->decision.nfired > 0) {
			set_reply(r, VERDICT_TEMPFAIL, "451", "4.3.0", "Policy evaluation failed; try again later");
			return r->decision.error;
		}
		/* on_error: accept. Still remove forged markers. */
		if (delete_all(s, s->cfg->marker_header, marker_keep) != 0)
			fail_as(s, CAUSE_MEMORY, "out of memory");
		return r->decision.error;
	}
	if (r->decision.verdict != VERDICT_ACCEPT) {
		const struct action *a = r->decision.reply;
		clear_edits(r);      /* a refused message is not changed (Authentication-Results included) */
		set_reply(r, r->decision.verdict, a->code, a->xcode, a->text);
		r->cause = CAUSE_RULE;
		return r->already_processed ? "already processed (valid marker), but refused by a rule" : NULL;
	}
	/* A marked message is not changed twice; reject and tempfail (above)
	 * still apply, since its recipients are not bound by the marker. */
	if (r->already_processed)
		return "already processed (valid marker): passed through unchanged";

	/* Forged or stale markers go, and on mail from outside, any claim that it
	 * was decrypted here (only this pass may say so). */
	if (delete_all(s, s->cfg->marker_header, marker_keep) != 0 ||
	    (r->direction == DIR_INBOUND && delete_all(s, "X-Sealmilter-Decrypted", NULL) != 0))
		goto oom;
	/* Subject stripping. */
	if (r->decision.nspans && subj_raw) {
		char *stripped = subject_strip(s->subject, r->decision.spans, r->decision.nspans);
		char *enc = stripped ? hdr_encode(stripped) : NULL;
		char *val = NULL;
		if (enc == NULL || asprintf(&val, " %s", enc) < 0 ||
		    add_edit(r, EDIT_CHANGE_HEADER, "Subject", val, 1) != 0) {
			free(stripped);
			free(enc);
			free(val);
			goto oom;
		}
		free(stripped);
		free(enc);
		free(val);
		modified = 1;
	}
	/* Tags: a sender cannot forge them, so existing fields of that name go first. */
	for (i = 0; i < r->decision.nfired; i++) {
		const struct rule *rule = r->decision.fired[i].rule;
		size_t j;
		for (j = 0; j < rule->nactions; j++) {
			const struct action *a = &rule->actions[j];
			char *val = NULL;
			if (a->kind != A_TAG)
				continue;
			if (delete_all(s, a->header, NULL) != 0)     /* a no-op for fields already gone */
				goto oom;
			if (asprintf(&val, " %s", a->value) < 0 || add_edit(r, EDIT_ADD_HEADER, a->header, val, 0) != 0) {
				free(val);
				goto oom;
			}
			free(val);
			modified = 1;
		}
	}
	if (r->decision.decrypt) {
		int d = decrypt_now(s, &note);
		if (d < 0)
			return NULL;     /* s->error is set: tempfail */
		if (d > 0)
			modified = decrypted = r->decrypted = 1;
	}
	if (r->decision.seal && !decrypted) {
		const char *why = already_protected(s);
		if (why) {
			note = why;
		} else {
			int sealed_here = 0;
			if (seal_split(s, r->decision.seal, &sealed_here, &note) != 0)
				return NULL;     /* s->error is set: tempfail */
			modified |= sealed_here;
		}
	}
	/* S/MIME signing, after sealing: the signature covers the notice and the attachment. */
	if (r->decision.sign && r->direction == DIR_OUTBOUND && !decrypted) {
		int signed_now = 0;
		const char *why = smime_sign_now(s, r->decision.sign, &signed_now);
		if (s->error)
			return NULL;     /* tempfail: never sent unsigned */
		if (why && note == NULL)
			note = why;
		modified |= signed_now;
	}
	if (modified && add_marker(s) != 0)
		goto oom;
	/* DKIM signing comes last, over the message exactly as delivered. */
	if (wants_dkim_signature(s)) {
		const char *why = dkim_sign_now(s, r->decision.dkim_sign);
		if (s->error)
			return NULL;      /* tempfail */
		if (why && note == NULL)
			note = why;
	}
	return note;
oom:
	fail_as(s, CAUSE_MEMORY, "out of memory building edits");
	return NULL;
}

static void finish(struct seal_session *s, const char *note);

static void
clear_edits(struct seal_result *r)
{
	size_t i;

	for (i = 0; i < r->nedits; i++) {
		free(r->edits[i].name);
		free(r->edits[i].value);
		if (r->edits[i].fd >= 0)
			close(r->edits[i].fd);
	}
	free(r->edits);
	r->edits = NULL;
	r->nedits = 0;
}

const struct seal_result *
seal_session_eom(struct seal_session *s)
{
	struct seal_result *r = &s->res;
	const char *note = NULL;
	int *keep = NULL;
	size_t i;
	time_t now = time(NULL);

	if (s->done)
		return r;
	s->done = 1;
	clock_gettime(CLOCK_MONOTONIC, &s->eom_start);
	r->verdict = VERDICT_ACCEPT;
	compute_direction(s);

	if (!s->limit_error && !s->error && EVP_DigestFinal_ex(s->body_md, s->body_hash, NULL) != 1)
		fail_as(s, CAUSE_INTERNAL, "cannot hash the body");
	if (!s->limit_error && !s->error && (s->gone = calloc(s->nheaders + 1, sizeof(*s->gone))) == NULL)
		fail_as(s, CAUSE_MEMORY, "out of memory");
	if (!s->limit_error && !s->error) {
		/* Loop guard. keep[i] marks markers that are valid. */
		struct marker_subject ms;
		keep = calloc(s->nheaders ? s->nheaders : 1, sizeof(*keep));
		if (keep == NULL)
			fail_as(s, CAUSE_MEMORY, "out of memory");
		marker_subject(s, &ms, s->headers, s->nheaders);
		for (i = 0; keep && i < s->nheaders; i++) {
			if (strcasecmp(s->headers[i].name, s->cfg->marker_header) != 0)
				continue;
			if (marker_check(s->cfg, &ms, s->headers[i].value, now) == MARKER_VALID) {
				keep[i] = 1;
				r->already_processed = 1;
			}
		}
		if (keep)
			note = decide(s, keep);
		free(keep);
	}
	if (s->error) {
		clear_edits(r);
		if (s->cfg->on_error == ON_ERROR_TEMPFAIL || r->decision.nfired > 0)
			set_reply(r, VERDICT_TEMPFAIL, "451", "4.3.0", "Temporary failure in the message filter");
		else
			r->verdict = VERDICT_ACCEPT;
		r->cause = s->error_cause;
		note = s->error;
	} else if (s->limit_error) {
		clear_edits(r);
		set_reply(r, VERDICT_REJECT, "552", "5.3.4",
		    "Message cannot be inspected: it exceeds a policy limit or its MIME structure is ambiguous");
		r->cause = CAUSE_LIMIT;
		note = s->limit_error;
	} else if (mimescan_malformed(s->scan) && note == NULL) {
		note = mimescan_malformed(s->scan);
	}
	finish(s, note);
	return r;
}

/* The end of every message, decided or deferred: what was done counts only
 * for a message accepted with its edits; the time taken; the log line. */
static void
finish(struct seal_session *s, const char *note)
{
	struct seal_result *r = &s->res;
	struct timespec now;

	if (r->verdict != VERDICT_ACCEPT || s->error != NULL) {
		r->nsealed = r->nencrypted = r->nsigned = r->ndkim_signed = 0;
		r->decrypted = 0;
	}
	r->size = s->size;
	clock_gettime(CLOCK_MONOTONIC, &now);
	r->seconds = (double)(now.tv_sec - s->eom_start.tv_sec) + (double)(now.tv_nsec - s->eom_start.tv_nsec) / 1e9;
	if (r->seconds < 0)
		r->seconds = 0;
	make_summary(s, note);
}

const struct seal_result *
seal_session_defer(struct seal_session *s, int cause, const char *why)
{
	struct seal_result *r = &s->res;

	if (!s->done) {
		/* Deferred before its end: no decision, only the envelope's facts. */
		s->done = 1;
		clock_gettime(CLOCK_MONOTONIC, &s->eom_start);
		compute_direction(s);
	}
	clear_edits(r);
	set_reply(r, VERDICT_TEMPFAIL, "451", "4.3.0", "Temporary failure in the message filter");
	r->cause = cause;
	fail_as(s, cause, why ? why : "deferred");
	finish(s, why);
	return r;
}

/* ---- the delivered header block ------------------------------------------ */

/* The header fields as they will be delivered: the received ones with the
 * edits applied in order, as the MTA applies them. The array points into
 * the session (free only the array). NULL when out of memory. */
static struct header *
delivered_headers(const struct seal_session *s, size_t *count)
{
	const struct seal_result *r = &s->res;
	size_t n = s->nheaders, i, j, k;
	struct header *h = calloc(n + r->nedits + 1, sizeof(*h));
	int *gone = calloc(n + r->nedits + 1, sizeof(*gone));

	if (h == NULL || gone == NULL) {
		free(h);
		free(gone);
		return NULL;
	}
	if (n)
		memcpy(h, s->headers, n * sizeof(*h));
	for (j = 0; j < r->nedits; j++) {
		const struct edit *e = &r->edits[j];
		int seen = 0;
		if (e->kind == EDIT_REPLACE_BODY || e->kind == EDIT_DELETE_RCPT)
			continue;
		if (e->kind == EDIT_ADD_HEADER) {
			h[n].name = e->name;
			h[n].value = e->value;
			n++;
			continue;
		}
		if (e->kind == EDIT_INSERT_HEADER) {
			memmove(h + 1, h, n * sizeof(*h));
			memmove(gone + 1, gone, n * sizeof(*gone));
			h[0].name = e->name;
			h[0].value = e->value;
			gone[0] = 0;
			n++;
			continue;
		}
		for (i = 0; i < n; i++) {
			if (gone[i] || strcasecmp(h[i].name, e->name) != 0)
				continue;
			if (++seen == e->index) {
				if (e->kind == EDIT_DELETE_HEADER)
					gone[i] = 1;
				else
					h[i].value = e->value;
				break;
			}
		}
	}
	for (i = 0, k = 0; i < n; i++)
		if (!gone[i])
			h[k++] = h[i];
	free(gone);
	*count = k;
	return h;
}

/* A replacement body (CRLF, as the MTA wants it) to out; a file written
 * with LF gets LF, like its headers. */
static int
write_body_fd(int fd, size_t len, const char *eol, FILE *out)
{
	char buf[65536];
	size_t off = 0, k;
	ssize_t n;
	int cr = 0;

	while (off < len && (n = pread(fd, buf, sizeof(buf), (off_t)off)) > 0) {
		off += (size_t)n;
		for (k = 0; k < (size_t)n; k++) {
			if (eol[0] == '\n') {
				if (cr && buf[k] != '\n' && fputc('\r', out) == EOF)
					return -1;
				cr = buf[k] == '\r';
				if (cr)
					continue;
			}
			if (fputc(buf[k], out) == EOF)
				return -1;
		}
	}
	if (cr && fputc('\r', out) == EOF)
		return -1;
	return off == len ? 0 : -1;
}

int
seal_session_write(struct seal_session *s, FILE *out, const char *eol)
{
	struct header *h;
	size_t n, i;
	int rc = 0;

	if (s->spool == NULL || s->spool_failed)
		return -1;
	h = delivered_headers(s, &n);
	if (h == NULL)
		return -1;
	/* Values are raw (folding kept, final line end not included); a line
	 * break inside one (LF from the milter convention, or CRLF) is written
	 * with the message's line end. */
	for (i = 0; i < n && rc == 0; i++) {
		const char *v;
		if (fprintf(out, "%s:", h[i].name) < 0)
			rc = -1;
		for (v = h[i].value; rc == 0 && *v; v++) {
			if (*v == '\r' && v[1] == '\n')
				continue;
			if ((*v == '\n' ? fputs(eol, out) : fputc(*v, out)) < 0)
				rc = -1;
		}
		if (rc == 0 && fputs(eol, out) < 0)
			rc = -1;
	}
	if (rc == 0 && fputs(eol, out) < 0)
		rc = -1;
	for (i = 0; rc == 0 && i < s->res.nedits; i++)
		if (s->res.edits[i].kind == EDIT_REPLACE_BODY) {
			rc = write_body_fd(s->res.edits[i].fd, s->res.edits[i].len, eol, out);
			free(h);
			return rc;
		}
	if (rc == 0 && spool_copy_to(s->spool, out) != 0)
		rc = -1;
	free(h);
	return rc;
}

size_t
seal_session_rcpt_count(const struct seal_session *s)
{
	return s->rcpts.n;
}

const char *
seal_session_rcpt_at(const struct seal_session *s, size_t i)
{
	return i < s->rcpts.n ? s->rcpts.v[i] : NULL;
}

void
seal_session_set_progress(struct seal_session *s, void (*fn)(void *arg), void *arg)
{
	s->progress_fn = fn;
	s->progress_arg = arg;
}

void
seal_session_set_submitter(struct seal_session *s, seal_submit_fn fn, void *arg)
{
	s->submit_fn = fn;
	s->submit_arg = arg;
}

const struct seal_config *
seal_session_config(const struct seal_session *s)
{
	return s->cfg;
}

const char *
seal_session_sealed(const struct seal_session *s, size_t *len, int *too_big)
{
	return mimescan_captured(s->scan, len, too_big);
}

const struct header *
seal_session_headers(const struct seal_session *s, size_t *n)
{
	*n = s->nheaders;
	return s->headers;
}

uint64_t
seal_session_spooled(const struct seal_session *s, int *on_disk)
{
	*on_disk = s->spool ? spool_on_disk(s->spool) : 0;
	return s->spool ? spool_size(s->spool) : 0;
}

void
seal_session_free(struct seal_session *s)
{
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < s->nheaders; i++) {
		free(s->headers[i].name);
		free(s->headers[i].value);
	}
	free(s->headers);
	strlist_free(&s->rcpts);
	strlist_free(&s->rcpts_raw);
	mimescan_free(s->scan);
	spool_free(s->spool);
	EVP_MD_CTX_free(s->body_md);
	if (s->body_hits)
		for (i = 0; i < s->cfg->nbody_conds; i++)
			free(s->body_hits[i].what);
	free(s->body_hits);
	free(s->scan_error);
	free(s->decrypt_note);
	clear_edits(&s->res);
	decision_free(&s->res.decision);
	free(s->res.code);
	free(s->res.xcode);
	free(s->res.text);
	free(s->res.summary);
	free(s->res.authres);
	for (i = 0; i < s->res.ncopies; i++) {
		strlist_free(&s->res.copies[i].rcpts);
		free(s->res.copies[i].queue_id);
	}
	free(s->res.copies);
	strlist_free(&s->notes);
	dkim_verify_free(s->dkim);
	free(s->client_ip);
	free(s->client_host);
	free(s->auth);
	free(s->qid);
	free(s->sender);
	free(s->subject);
	if (s->limit_error != limit_passed)
		free(s->limit_error);
	if (s->error != out_of_memory)
		free(s->error);
	free(s->gone);
	config_unref(s->cfg);
	free(s);
}
