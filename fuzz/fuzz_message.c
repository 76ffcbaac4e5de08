/*
 * fuzz_message.c - libFuzzer target: arbitrary bytes as a message file,
 * through the same path as `sealctl process` (and so the milter): the
 * bytes are read by eml_feed() (engine/eml.c) into a session
 * (engine/session.c), which streams the body through the MIME scanner and
 * the spool, takes its envelope from the From/To/Cc/Bcc headers as sealctl
 * does, decides at end of message, and, when the message is accepted,
 * writes the delivered message (seal_session_write) to /dev/null. Outbound
 * mail is S/MIME-signed, so GMime's re-encoding of hostile MIME is covered.
 *
 * Input faced: anything a sender can put in a message file - malformed or
 * missing MIME boundaries, deep nesting, NUL bytes, 8-bit and invalid
 * UTF-8, broken RFC 2047/2231 words, endless lines, forged marker headers,
 * bare CR or mixed line ends. It must never crash, leak, hang, or trip a
 * sanitizer.
 *
 * The configuration is fixed and loaded once, from a YAML file written at
 * the first call into a private temp dir and removed once loaded (the spool
 * dir is TMPDIR, or /tmp). Its
 * limits are small so that every limit is within a fuzzer's reach, and its
 * rules use every condition kind (direction, sender, recipients, subject
 * with strip, header exists/contains/regex, body contains/regex/pattern
 * with the Luhn check, attachment file name/content type/size, size,
 * all/any/not) and every action (tag, reject, tempfail, stop).
 *
 * Built with fuzz/driver.c it runs over corpus files without libFuzzer.
 */
#include "build-config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "engine/eml.h"
#include "engine/session.h"
#include "mime/hdrdecode.h"
#include "rules/cfgerr.h"
#include "rules/config.h"
#include "seal/keys.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* @SPOOL@ stands for the spool dir (TMPDIR). */
static const char config_text[] =
	"organization:\n"
	"  name: Fuzz Corp\n"
	"  domains: [example.com, example.org]\n"
	"  trusted_networks: [127.0.0.0/8, \"::1/128\", 10.0.0.0/8]\n"
	"milter:\n"
	"  on_error: tempfail\n"
	"  spool_dir: @SPOOL@\n"
	"  spool_threshold: 4K\n"
	"limits:\n"
	"  max_headers: 64\n"
	"  max_header_size: 4K\n"
	"  max_recipients: 16\n"
	"  body_scan_size: 16K\n"
	"  max_mime_depth: 6\n"
	"  max_mime_parts: 40\n"
	"  regex_match_limit: 20000\n"
	"patterns:\n"
	"  card: { regex: '\\b(?:\\d[ -]?){13,19}\\b', check: luhn, description: Payment card numbers }\n"
	"  iban: { regex: '\\b[A-Z]{2}\\d{2}(?:[ ]?[A-Z0-9]{4}){3,7}\\b', check: none }\n"
	"rules:\n"
	"  - name: secure-subject\n"
	"    if:\n"
	"      direction: outbound\n"
	"      subject: { contains: [\"[secure]\", \"[encrypt]\"], strip: true }\n"
	"      recipients: { any: { not_in: organization } }\n"
	"    then:\n"
	"      tag: { header: X-Sealmilter-Rule, value: secure-subject }\n"
	"  - name: subject-regex\n"
	"    if: { subject: { regex: '(?:confidential|secret)\\s*\\d*', strip: true } }\n"
	"    then: { tag: { header: X-Fuzz-Subject, value: hit } }\n"
	"  - name: labels\n"
	"    if:\n"
	"      any:\n"
	"        - header: { name: Sensitivity, contains: private }\n"
	"        - header: { name: msip_labels, regex: 'Enabled=(?:true|1);' }\n"
	"        - all:\n"
	"            - header: { name: X-Flag, exists: true }\n"
	"            - not: { header: { name: X-Other, exists: true } }\n"
	"    then:\n"
	"      tag: [ { header: X-Fuzz-Label, value: a }, { header: X-Sealmilter-Rule, value: labels } ]\n"
	"  - name: dlp\n"
	"    if:\n"
	"      any:\n"
	"        - body: { pattern: card }\n"
	"        - body: { pattern: iban }\n"
	"        - body: { contains: [password, \"geheim\"] }\n"
	"        - body: { regex: '(a|aa)+b' }\n"
	"    then: { tag: { header: X-Fuzz-DLP, value: hit } }\n"
	"  - name: attachments\n"
	"    if:\n"
	"      any:\n"
	"        - attachment: { content_type: [\"application/*\", \"image/*\"], size: { over: 10, under: 1M } }\n"
	"        - attachment: { filename: [\"*.pdf\", \"*.doc?\"] }\n"
	"    then: { tag: { header: X-Fuzz-Attachment, value: hit } }\n"
	"  - name: executables\n"
	"    if: { attachment: { filename: [\"*.exe\", \"*.scr\", \"*.[jv]s\"] } }\n"
	"    then: { reject: \"5.7.1 Executable attachments are not accepted\" }\n"
	"  - name: sender-block\n"
	"    if:\n"
	"      sender: { domain: evil.test }\n"
	"      recipients: { all: { in: organization } }\n"
	"    then: { reject: { code: 550, status: 5.7.1, text: Blocked sender } }\n"
	"  - name: not-internal\n"
	"    if: { direction: [inbound, external], sender: { glob: \"*@bounce.*\" } }\n"
	"    then: { tempfail: true }\n"
	"  - name: big\n"
	"    if: { size: { over: 40K } }\n"
	"    then: { tempfail: \"4.7.1 Too big for now\", stop: true }\n"
	"  - name: recipients-none\n"
	"    if: { recipients: { none: { regex: '^postmaster@' } }, subject: stopnow }\n"
	"    then: { stop: true }\n"
	"  - name: sign-outbound\n"
	"    if: { direction: outbound }\n"
	"    then: { sign: true }\n";

static struct seal_config *cfg;
static FILE *devnull;

static void
cleanup(void)
{
	config_unref(cfg);
	cfg = NULL;
	if (devnull)
		fclose(devnull);
	devnull = NULL;
}

/* Write the configuration to a private temp dir, load it, and remove it
 * again at once, so that a crash leaves nothing behind. Spool files go to
 * TMPDIR itself; they are created unlinked. */
static void
init(void)
{
	const char *t = getenv("TMPDIR");
	const char *at = strstr(config_text, "@SPOOL@");
	char dir[4096], path[4200];
	struct cfg_errors errs;
	FILE *f;
	size_t i;

	mime_init();
	if (t == NULL || *t == '\0')
		t = "/tmp";
	snprintf(dir, sizeof(dir), "%s/fuzz_message.XXXXXX", t);
	if (mkdtemp(dir) == NULL) {
		perror("fuzz_message: mkdtemp");
		abort();
	}
	/* An S/MIME signing identity (a self-signed ECDSA key with digitalSignature), so
	 * outbound mail goes through S/MIME signing and GMime's re-encoding. */
	{
		char *kerr = NULL;
		if (seal_keys_generate("issuer", 0, dir, "sign", &kerr) != 0) {
			fprintf(stderr, "fuzz_message: %s\n", kerr ? kerr : "key generation failed");
			abort();
		}
	}
	snprintf(path, sizeof(path), "%s/sealmilter.yaml", dir);
	f = fopen(path, "w");
	if (f == NULL || at == NULL || fwrite(config_text, 1, (size_t)(at - config_text), f) == 0 ||
	    fputs(t, f) == EOF || fputs(at + 7, f) == EOF ||
	    fprintf(f, "signing:\n  identities: [ { match: \"*\", cert: %s/sign.pem, key: %s/sign.key } ]\n"
	    "  missing_identity: skip\n", dir, dir) < 0 || fclose(f) != 0) {
		perror("fuzz_message: writing the configuration");
		abort();
	}
	memset(&errs, 0, sizeof(errs));
	cfg = config_load(path, 0, &errs);
	(void)unlink(path);
	snprintf(path, sizeof(path), "%s/sign.pem", dir);
	(void)unlink(path);
	snprintf(path, sizeof(path), "%s/sign.key", dir);
	(void)unlink(path);
	(void)rmdir(dir);
	for (i = 0; i < errs.count; i++)
		fprintf(stderr, "fuzz_message: %s\n", errs.msgs[i]);
	cfg_errors_free(&errs);
	devnull = fopen("/dev/null", "w");
	if (cfg == NULL || devnull == NULL) {
		fprintf(stderr, "fuzz_message: cannot set up\n");
		abort();
	}
	atexit(cleanup);
}

/* The envelope as sealctl makes it without --from/--to: the first From
 * address, and every To, Cc and Bcc address; at end of headers, as sealctl. */
static void
envelope_hook(struct seal_session *s, void *arg)
{
	struct strlist from = { NULL, 0 }, to = { NULL, 0 };
	const struct header *h;
	size_t i, n;

	(void)arg;
	h = seal_session_headers(s, &n);
	for (i = 0; i < n; i++) {
		if (from.n == 0 && strcasecmp(h[i].name, "From") == 0)
			mime_addresses(h[i].value, &from);
		else if (strcasecmp(h[i].name, "To") == 0 || strcasecmp(h[i].name, "Cc") == 0 ||
		    strcasecmp(h[i].name, "Bcc") == 0)
			mime_addresses(h[i].value, &to);
	}
	seal_session_mail(s, from.n ? from.v[0] : "");
	for (i = 0; i < to.n; i++)
		if (seal_session_rcpt(s, to.v[i]) != 0)
			break;    /* past max_recipients: the MTA defers the rest */
	strlist_free(&from);
	strlist_free(&to);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct seal_session *s;
	const struct seal_result *r;
	const char *eol = "\r\n";
	char *err = NULL;
	FILE *in;

	if (cfg == NULL)
		init();
	/* fmemopen() of 0 bytes is refused by some libcs: an empty file then. */
	in = size ? fmemopen((void *)(uintptr_t)data, size, "rb") : fopen("/dev/null", "rb");
	if (in == NULL)
		return 0;
	s = seal_session_new(cfg);
	if (s == NULL) {
		fclose(in);
		return 0;
	}
	seal_session_client(s, "127.0.0.1", "localhost");
	seal_session_auth(s, NULL);
	seal_session_queue_id(s, "fuzz");
	if (eml_feed(s, in, &eol, &err, envelope_hook, NULL) != 0) {
		free(err);
		seal_session_free(s);
		fclose(in);
		return 0;
	}
	fclose(in);
	r = seal_session_eom(s);
	if (r->summary == NULL || strstr(r->summary, "verdict=") == NULL)
		abort();    /* every message has its one log line */
	if (r->verdict == VERDICT_ACCEPT) {
		if (seal_session_write(s, devnull, eol) != 0)
			abort();    /* an accepted message can always be written */
	} else if (r->code == NULL || r->xcode == NULL || r->text == NULL) {
		abort();    /* a refusal always has its reply */
	}
	seal_session_free(s);
	return 0;
}
