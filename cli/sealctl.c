/*
 * sealctl.c - the administrator's command line.
 *
 *   sealctl -c FILE check
 *   sealctl -c FILE explain MSG.eml [--from A] [--to A]... [--client-ip IP] [--auth USER]
 *   sealctl -c FILE explain --dir FOLDER [same options]
 *   sealctl -c FILE process MSG.eml [same options]
 *   sealctl -c FILE open MSG.eml [--ignore-expiry]
 *   sealctl config-reference [--man]
 *   sealctl -c FILE keys dkim-record
 *   sealctl -c FILE keys check       (certificates: days left, chains; exit 0, 1 warning, 2 expired)
 *   sealctl keys generate marker --out FILE
 *   sealctl keys generate tenant [--bits N] [--name ID] --out DIR
 *   sealctl keys generate issuer [--name NAME] --out DIR
 *   sealctl -c FILE keys rotate [--bits N] --out DIR
 *   sealctl stats [--since TIME] [--until TIME] [MAIL.LOG...]   (cli/logstats.c)
 *
 * explain and process run the daemon's own pipeline (core/session.c) on a
 * file: process prints the message exactly as it would be delivered, or the
 * rejection (exit 2 for reject, 75 for tempfail). Without --from/--to the
 * envelope comes from the From, To, Cc and Bcc headers; without
 * --client-ip the client is 127.0.0.1, as for mail submitted locally.
 *
 * Calling rules: a short-lived process; errors go to stderr.
 * Untrusted input: the message files (see core/eml.c) and directory
 * entries; file names are printed, never interpreted.
 */
#include "build-config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "engine/eml.h"
#include "engine/opener.h"
#include "dkim/dkim.h"
#include "seal/certcheck.h"
#include "dns/resolver.h"
#include "engine/session.h"
#include "mime/hdrdecode.h"
#include "rules/cfgdoc.h"
#include "rules/cfgerr.h"
#include "rules/config.h"
#include "cli/progress.h"
#include "cli/logstats.h"
#include "cli/viewadmin.h"
#include "seal/keys.h"

#define EXIT_REJECT 2
#define EXIT_TEMPFAIL 75

struct opts {
	const char *config;
	const char *from;
	struct strlist to;
	const char *client_ip;
	const char *auth;
	const char *dir;
	const char *out;
	const char *name;
	int bits;
	int verbose;
	int man;                  /* config-reference --man */
	int ignore_expiry;
	int json, verify;
	const char *since, *until;   /* stats */
};

static void
usage(FILE *f)
{
	fputs("usage: sealctl -c FILE check\n"
	    "       sealctl -c FILE explain MSG.eml [--from ADDR] [--to ADDR]... [--client-ip IP] [--auth USER]\n"
	    "       sealctl -c FILE explain --dir FOLDER [--verbose] [same options]\n"
	    "       sealctl -c FILE process MSG.eml [same options]\n"
	    "       sealctl -c FILE open MSG.eml [--ignore-expiry]\n"
	    "       sealctl config-reference [--man]\n"
	    "       sealctl keys generate marker --out FILE\n"
	    "       sealctl keys generate tenant [--bits 2048|3072|4096] [--name ID] --out DIR\n"
	    "       sealctl keys generate issuer [--name NAME] --out DIR\n"
	    "       sealctl -c FILE keys rotate [--bits N] --out DIR\n"
	    "       sealctl -c FILE keys dkim-record\n"
	    "       sealctl -c FILE keys check\n"
	    "       sealctl -c FILE revoke SEAL-ID|MESSAGE-ID\n"
	    "       sealctl -c FILE audit [SEAL-ID] [--json]\n"
	    "       sealctl -c FILE audit --verify\n"
	    "       sealctl stats [--since TIME] [--until TIME] [MAIL.LOG...]\n", f);
}

static struct seal_config *
load(const struct opts *o)
{
	struct cfg_errors errs;
	struct seal_config *c;
	size_t i;

	memset(&errs, 0, sizeof(errs));
	if (o->config == NULL) {
		fprintf(stderr, "sealctl: -c FILE is required\n");
		return NULL;
	}
	c = config_load(o->config, 0, &errs);
	for (i = 0; i < errs.count; i++)
		fprintf(stderr, "%s\n", errs.msgs[i]);
	if (errs.dropped)
		fprintf(stderr, "(%zu more errors)\n", errs.dropped);
	cfg_errors_free(&errs);
	if (c && access(c->spool_dir, W_OK | X_OK) != 0) {
		/* A dry run on an administrator's machine: spool to the temp dir. */
		const char *t = getenv("TMPDIR");
		free(c->spool_dir);
		c->spool_dir = strdup(t && *t ? t : "/tmp");
	}
	return c;
}

/* Give the session its envelope: the options, or else the From, To, Cc
 * and Bcc headers of the message. Called at end of headers (eml_feed's
 * hook), where the daemon has the envelope from the MTA. */
struct envelope_arg {
	const struct opts *o;
	const char *path;
};

static void
set_envelope(struct seal_session *s, void *arg)
{
	const struct envelope_arg *ea = arg;
	const struct opts *o = ea->o;
	struct strlist from = { NULL, 0 }, to = { NULL, 0 };
	const struct strlist *rcpts = o->to.n ? &o->to : &to;
	const struct header *h;
	size_t i, n;

	h = seal_session_headers(s, &n);
	for (i = 0; i < n; i++) {
		if (!o->from && from.n == 0 && strcasecmp(h[i].name, "From") == 0)
			mime_addresses(h[i].value, &from);
		else if (!o->to.n && (strcasecmp(h[i].name, "To") == 0 || strcasecmp(h[i].name, "Cc") == 0 ||
		    strcasecmp(h[i].name, "Bcc") == 0))
			mime_addresses(h[i].value, &to);
	}
	seal_session_mail(s, o->from ? o->from : from.n ? from.v[0] : "");
	for (i = 0; i < rcpts->n; i++)
		if (seal_session_rcpt(s, rcpts->v[i]) != 0) {
			fprintf(stderr, "sealctl: %s: recipients past limits.max_recipients (%zu) are left out, as the "
			    "MTA would defer them\n", ea->path, i);
			break;
		}
	strlist_free(&from);
	strlist_free(&to);
}

/* The copies of a split message, kept as the daemon would hand them to the
 * MTA (milter.submit_url); process prints them before the original. */
struct kept_copy {
	struct strlist rcpts;
	struct sbuf msg;
};
static struct kept_copy *kept;
static size_t nkept;

static int
keep_copy(void *arg, const char *sender, char *const *rcpts, size_t nrcpts, int fd, size_t len, char **queue_id,
    char **err)
{
	struct kept_copy *k = realloc(kept, (nkept + 1) * sizeof(*k));
	char buf[65536];
	size_t off = 0, i;
	ssize_t n;

	(void)arg;
	(void)sender;
	*queue_id = NULL;
	if (k == NULL) {
		*err = strdup("out of memory");
		return -1;
	}
	kept = k;
	k = &kept[nkept];
	memset(k, 0, sizeof(*k));
	sbuf_init(&k->msg, 0);
	for (i = 0; i < nrcpts; i++)
		strlist_add(&k->rcpts, rcpts[i]);
	while (off < len && (n = pread(fd, buf, sizeof(buf), (off_t)off)) > 0) {
		sbuf_add(&k->msg, buf, (size_t)n);
		off += (size_t)n;
	}
	nkept++;
	if (asprintf(queue_id, "sealctl-copy-%zu", nkept) < 0)
		*queue_id = NULL;
	return 0;
}

static void
kept_free(void)
{
	size_t i;

	for (i = 0; i < nkept; i++) {
		strlist_free(&kept[i].rcpts);
		sbuf_free(&kept[i].msg);
	}
	free(kept);
	kept = NULL;
	nkept = 0;
}

/* Run one file through the pipeline. Returns the session (after eom) or NULL. */
static struct seal_session *
run_file(struct seal_config *cfg, const struct opts *o, const char *path, const char **eol)
{
	struct envelope_arg ea;
	struct seal_session *s;
	FILE *in;
	char *err = NULL;

	in = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	if (in == NULL) {
		fprintf(stderr, "sealctl: %s: %s\n", path, strerror(errno));
		return NULL;
	}
	s = seal_session_new(cfg);
	if (s == NULL) {
		fprintf(stderr, "sealctl: out of memory\n");
		if (in != stdin)
			fclose(in);
		return NULL;
	}
	seal_session_client(s, o->client_ip ? o->client_ip : "127.0.0.1", "localhost");
	seal_session_auth(s, o->auth);
	seal_session_queue_id(s, "sealctl");
	seal_session_set_submitter(s, keep_copy, NULL);
	kept_free();
	ea.o = o;
	ea.path = path;
	if (eml_feed(s, in, eol, &err, set_envelope, &ea) != 0) {
		fprintf(stderr, "sealctl: %s: %s\n", path, err ? err : "read error");
		free(err);
		seal_session_free(s);
		if (in != stdin)
			fclose(in);
		return NULL;
	}
	if (in != stdin)
		fclose(in);
	return s;
}

static const char *
verdict_name(int v)
{
	return v == VERDICT_ACCEPT ? "accept" : v == VERDICT_REJECT ? "reject" : "tempfail";
}

static const struct seal_result *
finish(struct seal_session *s, const struct opts *o, const char *path)
{
	(void)o;
	(void)path;
	return seal_session_eom(s);
}

static int
cmd_explain_one(struct seal_config *cfg, const struct opts *o, const char *path)
{
	const char *eol;
	struct seal_session *s = run_file(cfg, o, path, &eol);
	const struct seal_result *r;
	size_t i, j;

	if (s == NULL)
		return 1;
	r = finish(s, o, path);
	printf("message:   %s\n", path);
	printf("direction: %s\n", r->direction == DIR_INBOUND ? "inbound" : r->internal ? "internal (outbound)"
	    : "outbound");
	if (r->dkim_checked) {
		printf("dkim:\n");
		if (r->ndkim == 0)
			printf("  none       (no DKIM-Signature)\n");
		for (i = 0; i < r->ndkim; i++) {
			const struct dkim_outcome *d = &r->dkim[i];
			printf("  %-10s d=%s s=%s%s%s%s%s\n", dkim_result_name(d->result), d->d ? d->d : "?", d->s ? d->s : "?",
			    d->reason ? " (" : "", d->reason ? d->reason : "", d->reason ? ")" : "",
			    d->dnssec == DNS_SECURE ? " [key DNSSEC-secure]" : d->dnssec == DNS_BOGUS ? " [key DNSSEC-bogus]"
			    : d->dnssec == DNS_INSECURE ? " [key not DNSSEC-signed]" : "");
		}
	}
	printf("rules:\n");
	for (i = 0; i < cfg->nrules; i++) {
		const struct rule *rule = &cfg->rules[i];
		const struct fired_rule *f = NULL;
		for (j = 0; j < r->decision.nfired; j++)
			if (r->decision.fired[j].rule == rule)
				f = &r->decision.fired[j];
		if (f)
			printf("  fired      %s: %s\n", rule->name, f->why);
		else
			printf("  not fired  %s\n", rule->name);
	}
	printf("actions:\n");
	if (r->nedits == 0)
		printf("  (none)\n");
	for (i = 0; i < r->nedits; i++) {
		const struct edit *e = &r->edits[i];
		if (e->kind == EDIT_REPLACE_BODY)
			printf("  replace body   (%zu bytes: the sealed message)\n", e->len);
		else if (e->kind == EDIT_ADD_HEADER)
			printf("  add header     %s:%s\n", e->name, e->value);
		else if (e->kind == EDIT_INSERT_HEADER)
			printf("  insert header  %s:%s\n", e->name, e->value);
		else if (e->kind == EDIT_CHANGE_HEADER)
			printf("  change header  %s #%d:%s\n", e->name, e->index, e->value);
		else if (e->kind == EDIT_DELETE_RCPT)
			printf("  delete rcpt    <%s> (it gets a copy of its own)\n", e->value);
		else
			printf("  delete header  %s #%d\n", e->name, e->index);
	}
	printf("verdict:   %s", verdict_name(r->verdict));
	if (r->verdict != VERDICT_ACCEPT)
		printf(" (%s %s %s)", r->code, r->xcode, r->text);
	printf("\n");
	if (r->already_processed)
		printf("note:      already processed by sealmilter (valid marker); passed through\n");
	printf("log:       %s\n", seal_result_summary(r));
	seal_session_free(s);
	return 0;
}

static int
cmd_process(struct seal_config *cfg, const struct opts *o, const char *path)
{
	const char *eol;
	struct seal_session *s = run_file(cfg, o, path, &eol);
	const struct seal_result *r;
	int rc = 0;

	if (s == NULL)
		return 1;
	r = finish(s, o, path);
	fprintf(stderr, "%s\n", seal_result_summary(r));
	if (r->verdict == VERDICT_ACCEPT && nkept > 0) {
		/* A split message: every copy with its recipients, then the original's. */
		size_t i, j;
		for (i = 0; i < nkept; i++) {
			printf("==> copy %zu, handed back to the MTA, for", i + 1);
			for (j = 0; j < kept[i].rcpts.n; j++)
				printf(" <%s>", kept[i].rcpts.v[j]);
			printf(":\n");
			if (kept[i].msg.len)       /* a failed write is seen by ferror() below */
				(void)fwrite(kept[i].msg.data, 1, kept[i].msg.len, stdout);
		}
		printf("==> the original transaction, for");
		for (i = 0; i < seal_session_rcpt_count(s); i++) {
			const char *who = seal_session_rcpt_at(s, i);
			int gone = 0;
			for (j = 0; j < r->nedits; j++)
				gone |= r->edits[j].kind == EDIT_DELETE_RCPT && strcmp(r->edits[j].value, who) == 0;
			if (!gone)
				printf(" <%s>", who);
		}
		printf(":\n");
	}
	if (r->verdict == VERDICT_ACCEPT) {
		if (seal_session_write(s, stdout, eol) != 0 || fflush(stdout) != 0 || ferror(stdout)) {
			fprintf(stderr, "sealctl: cannot write the message\n");
			rc = 1;
		}
	} else {
		fprintf(stderr, "%s: %s %s %s\n", r->verdict == VERDICT_REJECT ? "rejected" : "deferred", r->code,
		    r->xcode, r->text);
		rc = r->verdict == VERDICT_REJECT ? EXIT_REJECT : EXIT_TEMPFAIL;
	}
	seal_session_free(s);
	kept_free();
	return rc;
}

/* ---- open ----------------------------------------------------------------- */

static void
print_policy(const struct seal_policy *p)
{
	char issued[32], expires[32];
	struct tm tm;
	unsigned i;
	size_t j;

	gmtime_r(&p->issued_at, &tm);
	strftime(issued, sizeof(issued), "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (p->expires) {
		gmtime_r(&p->expires, &tm);
		strftime(expires, sizeof(expires), "%Y-%m-%dT%H:%M:%SZ", &tm);
	} else {
		snprintf(expires, sizeof(expires), "never");
	}
	fprintf(stderr, "policy:     template %s, seal id %s\n", p->template_name, p->seal_id);
	fprintf(stderr, "sender:     %s\nmessage-id: %s\nissued:     %s\nexpires:    %s\nrights:    ", p->sender,
	    p->message_id, issued, expires);
	for (i = 0; i < RIGHT_COUNT; i++)
		if (p->rights & (1u << i))
			fprintf(stderr, " %s", seal_right_name(i));
	fprintf(stderr, "\nrecipients:");
	for (j = 0; j < p->recipients.n; j++)
		fprintf(stderr, " %s", p->recipients.v[j]);
	fprintf(stderr, "\n");
}

/* Check and open a sealed message: the policy to stderr, the original to
 * stdout, or a reason and a non-zero exit (nothing on stdout). */
static int
cmd_open(struct seal_config *cfg, const struct opts *o, const char *path)
{
	const char *eol;
	struct seal_session *s = run_file(cfg, o, path, &eol);
	struct seal_policy p;
	BIO *out;
	char *reason = NULL;
	enum open_result r;

	if (s == NULL)
		return 1;
	(void)seal_session_eom(s);
	out = BIO_new_fp(stdout, BIO_NOCLOSE);
	r = seal_open(s, time(NULL), o->ignore_expiry, out, &p, &reason);
	if (r == OPEN_OK || r == OPEN_EXPIRED)
		print_policy(&p);
	if (r == OPEN_OK && o->ignore_expiry && seal_policy_expired(&p, time(NULL))) {
		/* An administrator's override: it leaves a trace. */
		openlog("sealctl", LOG_PID, LOG_MAIL);
		syslog(LOG_WARNING, "%s: expired policy (seal id %s) opened with --ignore-expiry by uid %ld", path,
		    p.seal_id, (long)getuid());
		closelog();
		fprintf(stderr, "warning:    the policy has expired; opened anyway (--ignore-expiry), and logged\n");
	}
	if (r != OPEN_OK)
		fprintf(stderr, "sealctl: %s: cannot open: %s\n", path, reason ? reason : "failed");
	seal_policy_free(&p);
	free(reason);
	BIO_free(out);
	seal_session_free(s);
	return (int)r;
}

/* ---- explain --dir ------------------------------------------------------ */

struct tally {
	size_t messages, errors, verdicts[3];
	size_t *fired;
};

static void
tally_file(struct seal_config *cfg, const struct opts *o, const char *path, struct tally *t)
{
	const char *eol;
	struct seal_session *s = run_file(cfg, o, path, &eol);
	const struct seal_result *r;
	size_t i, j;

	t->messages++;
	if (s == NULL) {
		t->errors++;
		return;
	}
	r = finish(s, o, path);
	t->verdicts[r->verdict]++;
	for (i = 0; i < r->decision.nfired; i++)
		for (j = 0; j < cfg->nrules; j++)
			if (r->decision.fired[i].rule == &cfg->rules[j])
				t->fired[j]++;
	if (o->verbose)
		printf("%s: %s\n", path, seal_result_summary(r));
	seal_session_free(s);
}

static int
is_file(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every regular file of dir (not hidden), sorted; for a Maildir, cur/ and new/. */
static void
scan_dir(const char *dir, struct strlist *files, int depth) /* NOLINT(misc-no-recursion): depth 0, then 1 for cur/ and new/ */
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t first = files->n;

	if (d == NULL) {
		fprintf(stderr, "sealctl: %s: %s\n", dir, strerror(errno));
		return;
	}
	while ((e = readdir(d)) != NULL) {
		char *p = NULL;
		if (e->d_name[0] == '.')
			continue;
		if (asprintf(&p, "%s/%s", dir, e->d_name) < 0)
			continue;
		if (is_file(p))
			strlist_add(files, p);
		else if (depth == 0 && (strcmp(e->d_name, "cur") == 0 || strcmp(e->d_name, "new") == 0))
			scan_dir(p, files, 1);
		free(p);
	}
	closedir(d);
	if (files->n > first)      /* none found: files->v may be NULL, and qsort(NULL) is undefined */
		qsort(files->v + first, files->n - first, sizeof(char *), name_cmp);
}

/* share: n of all as a percentage (0 when all is 0). */
static double
share(size_t n, size_t all)
{
	return all ? 100.0 * (double)n / (double)all : 0.0;
}

static int
cmd_explain_dir(struct seal_config *cfg, const struct opts *o)
{
	static const char *const names[] = { "accept", "reject", "tempfail" };
	struct strlist files = { NULL, 0 };
	struct progress pr;
	struct tally t;
	size_t i, w = 4;
	double secs;

	memset(&t, 0, sizeof(t));
	t.fired = calloc(cfg->nrules + 1, sizeof(*t.fired));
	if (t.fired == NULL)
		return 1;
	scan_dir(o->dir, &files, 0);
	/* --verbose prints a line per message on stdout: no progress line between them. */
	progress_begin(&pr, "explain", files.n, o->verbose);
	for (i = 0; i < files.n; i++) {
		tally_file(cfg, o, files.v[i], &t);
		progress_step(&pr, i + 1);
	}
	secs = progress_end(&pr);
	printf("messages: %zu (%zu unreadable) in %.1f s\n\n", t.messages, t.errors, secs);
	printf("%-10s %9s %7s\n", "VERDICT", "MESSAGES", "SHARE");
	for (i = 0; i < 3; i++)
		printf("%-10s %9zu %6.1f%%\n", names[i], t.verdicts[i], share(t.verdicts[i], t.messages));
	for (i = 0; i < cfg->nrules; i++)
		if (strlen(cfg->rules[i].name) > w)
			w = strlen(cfg->rules[i].name);
	printf("\n%-*s %9s %7s\n", (int)w, "RULE", "FIRED ON", "SHARE");
	for (i = 0; i < cfg->nrules; i++)
		printf("%-*s %9zu %6.1f%%\n", (int)w, cfg->rules[i].name, t.fired[i], share(t.fired[i], t.messages));
	free(t.fired);
	strlist_free(&files);
	return t.errors ? 1 : 0;
}

/* ---- keys --------------------------------------------------------------- */

/* A rollover: a new tenant key (same size as the current one unless --bits),
 * named after today, and the keys.tenant list to put in the configuration:
 * the new key first (it seals), the old ones after (they still open older
 * messages). The configuration file is not edited: it is the
 * administrator's, with its comments and includes. */
static int
cmd_rotate(const struct seal_config *cfg, const struct opts *o)
{
	char id[32], *err = NULL;
	time_t now = time(NULL);
	struct tm tm;
	size_t i;
	int bits, n = 1;

	if (o->out == NULL) {
		fprintf(stderr, "sealctl: keys rotate needs --out DIR\n");
		return 1;
	}
	if (cfg->keys.ntenant == 0) {
		fprintf(stderr, "sealctl: %s has no keys.tenant to roll over: use keys generate tenant\n", cfg->path);
		return 1;
	}
	bits = o->bits ? o->bits : EVP_PKEY_get_bits(X509_get0_pubkey(cfg->keys.tenant[0].cert));
	gmtime_r(&now, &tm);
	strftime(id, sizeof(id), "t%Y%m%d", &tm);
	for (i = 0; i < cfg->keys.ntenant; i++)
		if (strcmp(cfg->keys.tenant[i].id, id) == 0) {
			snprintf(id + 9, sizeof(id) - 9, "-%d", ++n);
			i = (size_t)-1;     /* check the new name from the start */
		}
	if (seal_keys_generate("tenant", bits, o->out, id, &err) != 0) {
		fprintf(stderr, "sealctl: %s\n", err ? err : "key generation failed");
		free(err);
		return 1;
	}
	printf("# New tenant key %s (RSA %d). Put this in %s, then reload (kill -HUP):\n", id, bits, cfg->path);
	printf("keys:\n  tenant:\n    - { id: %s, cert: %s/%s.pem, key: %s/%s.key }\n", id, o->out, id, o->out, id);
	for (i = 0; i < cfg->keys.ntenant; i++) {
		const struct tenant_key *t = &cfg->keys.tenant[i];
		printf("    - { id: %s, cert: %s%s%s }\n", t->id, t->cert_path, t->key_path ? ", key: " : "",
		    t->key_path ? t->key_path : "");
	}
	return 0;
}

/* The DNS TXT record to publish for each dkim.keys entry, in zone-file
 * syntax, split into strings of at most 255 characters. */
static int
cmd_dkim_record(const struct seal_config *cfg)
{
	size_t i;

	if (cfg->ndkim_signers == 0) {
		fprintf(stderr, "sealctl: no dkim.keys in %s\n", cfg->path);
		return 1;
	}
	for (i = 0; i < cfg->ndkim_signers; i++) {
		const struct dkim_signer *k = &cfg->dkim_signers[i];
		unsigned char raw[64], *der = NULL;
		size_t rl = sizeof(raw), off, len;
		int dl = 0;
		char *b64, *rec = NULL;

		if (k->alg == DKIM_ED25519_SHA256) {
			if (EVP_PKEY_get_raw_public_key(k->key, raw, &rl) != 1)
				return 1;
			der = raw;
			dl = (int)rl;
		} else if ((dl = i2d_PUBKEY(k->key, &der)) <= 0) {
			return 1;
		}
		b64 = malloc((size_t)dl * 2 + 4);
		if (b64 == NULL)
			return 1;
		EVP_EncodeBlock((unsigned char *)b64, der, dl);
		if (der != raw)
			OPENSSL_free(der);
		if (asprintf(&rec, "v=DKIM1; k=%s; p=%s", k->alg == DKIM_ED25519_SHA256 ? "ed25519" : "rsa", b64) < 0) {
			free(b64);
			return 1;
		}
		printf("%s._domainkey.%s. IN TXT (", k->selector, k->domain);
		len = strlen(rec);
		for (off = 0; off < len; off += 255)
			printf(" \"%.*s\"", (int)(len - off < 255 ? len - off : 255), rec + off);
		printf(" )\n");
		free(rec);
		free(b64);
	}
	return 0;
}

static int
cmd_keys(int argc, char **argv, const struct opts *o)
{
	unsigned char key[32];
	int fd;

	if (argc < 2 || strcmp(argv[0], "generate") != 0 || o->out == NULL) {
		usage(stderr);
		return 1;
	}
	if (strcmp(argv[1], "tenant") == 0 || strcmp(argv[1], "issuer") == 0) {
		/* --out is a directory: NAME.key (0600) and NAME.pem go there. */
		const char *name = o->name ? o->name : argv[1];
		char *err = NULL;
		if (seal_keys_generate(argv[1], o->bits ? o->bits : 2048, o->out, name, &err) != 0) {
			fprintf(stderr, "sealctl: %s\n", err ? err : "key generation failed");
			free(err);
			return 1;
		}
		printf("wrote %s/%s.key (mode 0600) and %s/%s.pem (%s)\n", o->out, name, o->out, name,
		    strcmp(argv[1], "tenant") == 0 ? "RSA, wraps content keys" : "ECDSA P-256, signs policies");
		return 0;
	}
	if (strcmp(argv[1], "marker") != 0) {
		usage(stderr);
		return 1;
	}
	if (RAND_bytes(key, sizeof(key)) != 1) {
		fprintf(stderr, "sealctl: no randomness\n");
		return 1;
	}
	fd = open(o->out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		fprintf(stderr, "sealctl: %s: %s\n", o->out, strerror(errno));
		return 1;
	}
	if (write(fd, key, sizeof(key)) != (ssize_t)sizeof(key) || close(fd) != 0) {
		fprintf(stderr, "sealctl: %s: write failed\n", o->out);
		return 1;
	}
	printf("wrote a %zu-byte marker key to %s (mode 0600)\n", sizeof(key), o->out);
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "from", required_argument, NULL, 'f' },
		{ "to", required_argument, NULL, 't' },
		{ "client-ip", required_argument, NULL, 'i' },
		{ "auth", required_argument, NULL, 'a' },
		{ "dir", required_argument, NULL, 'd' },
		{ "out", required_argument, NULL, 'o' },
		{ "name", required_argument, NULL, 'n' },
		{ "bits", required_argument, NULL, 'b' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "man", no_argument, NULL, 'M' },
		{ "ignore-expiry", no_argument, NULL, 'E' },
		{ "json", no_argument, NULL, 'J' },
		{ "verify", no_argument, NULL, 'V' },
		{ "since", required_argument, NULL, 'S' },
		{ "until", required_argument, NULL, 'U' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct opts o;
	struct seal_config *cfg;
	const char *cmd;
	int ch, rc;

	memset(&o, 0, sizeof(o));
	while ((ch = getopt_long(argc, argv, "c:hv", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c': o.config = optarg; break;
		case 'f': o.from = optarg; break;
		case 't': strlist_add(&o.to, optarg); break;
		case 'i': o.client_ip = optarg; break;
		case 'a': o.auth = optarg; break;
		case 'd': o.dir = optarg; break;
		case 'o': o.out = optarg; break;
		case 'n': o.name = optarg; break;
		case 'b': {
			uint64_t b;
			if (parse_uint(optarg, &b) != 0 || b > 16384) {
				fprintf(stderr, "sealctl: --bits: '%s' is not a key size\n", optarg);
				return 1;
			}
			o.bits = (int)b;
			break;
		}
		case 'v': o.verbose = 1; break;
		case 'M': o.man = 1; break;
		case 'E': o.ignore_expiry = 1; break;
		case 'J': o.json = 1; break;
		case 'V': o.verify = 1; break;
		case 'S': o.since = optarg; break;
		case 'U': o.until = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 1;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 1;
	}
	cmd = argv[optind++];
	if (strcmp(cmd, "stats") == 0)
		return cmd_stats(o.since, o.until, argv + optind, argc - optind);
	if (strcmp(cmd, "config-reference") == 0) {
		if (o.man)
			config_write_man(stdout);
		else
			config_write_reference(stdout);
		return 0;
	}
	if (strcmp(cmd, "keys") == 0 && optind < argc && strcmp(argv[optind], "rotate") == 0) {
		mime_init();
		if ((cfg = load(&o)) == NULL)
			return 1;
		rc = cmd_rotate(cfg, &o);
		config_unref(cfg);
		strlist_free(&o.to);
		return rc;
	}
	if (strcmp(cmd, "keys") == 0 && optind < argc && strcmp(argv[optind], "check") == 0) {
		/* Exit 0: all fine; 1: something expires within milter.expiry_warning (30 days) or a chain
		 * does not verify; 2: expired. */
		mime_init();
		if ((cfg = load(&o)) == NULL)
			return 3;
		rc = cert_report(cfg, stdout, cert_warn_days(cfg));
		config_unref(cfg);
		strlist_free(&o.to);
		return rc;
	}
	if (strcmp(cmd, "keys") == 0 && optind < argc && strcmp(argv[optind], "dkim-record") == 0) {
		mime_init();
		if ((cfg = load(&o)) == NULL)
			return 1;
		rc = cmd_dkim_record(cfg);
		config_unref(cfg);
		strlist_free(&o.to);
		return rc;
	}
	if (strcmp(cmd, "keys") == 0)
		return cmd_keys(argc - optind, argv + optind, &o);
	if (strcmp(cmd, "revoke") == 0 || strcmp(cmd, "audit") == 0) {
		/* sealview's admin API: the certificates are enough, no private key is read. */
		struct cfg_errors errs;
		size_t i;
		int want = strcmp(cmd, "revoke") == 0 ? 1 : 0;
		if (o.config == NULL || argc - optind > 1 || argc - optind < want) {
			usage(stderr);
			return 1;
		}
		memset(&errs, 0, sizeof(errs));
		cfg = config_load(o.config, CONFIG_VIEWER, &errs);
		for (i = 0; i < errs.count; i++)
			fprintf(stderr, "%s\n", errs.msgs[i]);
		cfg_errors_free(&errs);
		if (cfg == NULL)
			return 1;
		rc = want ? cmd_revoke(cfg, argv[optind])
		    : cmd_audit(cfg, optind < argc ? argv[optind] : NULL, o.json, o.verify);
		config_unref(cfg);
		return rc;
	}
	if (strcmp(cmd, "check") && strcmp(cmd, "explain") && strcmp(cmd, "process") && strcmp(cmd, "open")) {
		fprintf(stderr, "sealctl: unknown command '%s'\n", cmd);
		usage(stderr);
		return 1;
	}
	mime_init();
	cfg = load(&o);
	if (cfg == NULL)
		return 1;
	if (strcmp(cmd, "check") == 0) {
		printf("%s: OK (%zu rules, %zu patterns)\n", o.config, cfg->nrules, cfg->npatterns);
		rc = 0;
	} else if (strcmp(cmd, "explain") == 0 && o.dir) {
		rc = cmd_explain_dir(cfg, &o);
	} else if (optind != argc - 1) {
		usage(stderr);
		rc = 1;
	} else if (strcmp(cmd, "explain") == 0) {
		rc = cmd_explain_one(cfg, &o, argv[optind]);
	} else if (strcmp(cmd, "open") == 0) {
		rc = cmd_open(cfg, &o, argv[optind]);
	} else {
		rc = cmd_process(cfg, &o, argv[optind]);
	}
	config_unref(cfg);
	strlist_free(&o.to);
	return rc;
}
