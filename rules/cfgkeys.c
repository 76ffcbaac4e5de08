/*
 * cfgkeys.c - the one table of scalar configuration keys.
 *
 * The loader (config.c), `sealmilter -n` and the generated reference
 * (`sealctl config-reference`, docs/config-reference.md) all read this
 * table, so a key exists in exactly one place. Sections whose values are
 * structured (patterns, rules, include) are listed as CT_SECTION for the
 * documentation; their grammar lives with their builders (cond.c, action.c).
 *
 * Calling rules: read-only data.
 * Untrusted input: none.
 */
#include "build-config.h"

#include <stddef.h>

#include "rules/config.h"

#define OFF(field) offsetof(struct seal_config, field)
#define KIB 1024ULL
#define MIB (1024ULL * 1024)
#define GIB (1024ULL * 1024 * 1024)
#define DAY 86400ULL

const struct cfg_key cfg_keys[] = {
	{ "organization.name", CT_STRING, OFF(org_name), "", 0, 0, NULL,
	  "The organisation's name, used in logs and (later) in branding.",
	  "Example Corp" },
	{ "organization.domains", CT_DOMAINS, OFF(org_domains), NULL, 0, 0, NULL,
	  "The organisation's mail domains (required). Subdomains count too. A sender or recipient in these "
	  "domains is \"in organization\".",
	  "[example.com, example.org]" },
	{ "organization.trusted_networks", CT_NETWORKS, OFF(trusted), "127.0.0.0/8, ::1/128", 0, 0, NULL,
	  "Client networks allowed to send outbound mail. A message is outbound when its envelope sender is in "
	  "the organisation's domains and it comes from one of these networks or from an authenticated SMTP "
	  "session ({auth_authen}). Everything else is inbound.",
	  "[127.0.0.0/8, \"::1/128\", 192.0.2.0/24]" },
	{ "milter.socket", CT_STRING, OFF(socket), NULL, 0, 0, NULL,
	  "Where the daemon listens: unix:/path or inet:PORT@HOST. `sealmilter -p` overrides it. Changing it "
	  "needs a restart.",
	  "inet:8894@127.0.0.1" },
	{ "milter.on_error", CT_ENUM, OFF(on_error), "tempfail", 0, 0, "tempfail|accept",
	  "What happens to a message when the policy could not be evaluated (an internal error, a regex that "
	  "hit its match limit): tempfail (the MTA retries later) or accept (deliver unchanged). A rule that "
	  "fired but whose action fails always tempfails, whatever this says.",
	  "tempfail" },
	{ "milter.spool_dir", CT_PATH, OFF(spool_dir), "/var/spool/sealmilter", 0, 0, NULL,
	  "Directory for bodies larger than spool_threshold. Files are created mode 0600 and unlinked at once, "
	  "so none is left behind on any path.",
	  "/var/spool/sealmilter" },
	{ "milter.spool_threshold", CT_SIZE, OFF(spool_threshold), "1M", 0, 256 * MIB, NULL,
	  "Bodies up to this size are held in memory; larger ones are spooled to spool_dir. A message up to "
	  "this size is also sealed in memory (about four times its size while it is sealed).",
	  "4M" },
	{ "milter.user", CT_STRING, OFF(user), NULL, 0, 0, NULL,
	  "User to run as after the socket and keys are open (the daemon must start as root for this).",
	  "sealmilter" },
	{ "milter.group", CT_STRING, OFF(group), NULL, 0, 0, NULL,
	  "Group to run as; default: the user's primary group.",
	  "postfix" },
	{ "milter.pid_file", CT_PATH, OFF(pid_file), NULL, 0, 0, NULL,
	  "File to write the supervisor's process id to (send it SIGHUP to reload, SIGTERM to stop). It is "
	  "written as root, never through a symbolic link, and removed at exit as milter.user: put it in a "
	  "directory that user owns, such as /run/sealmilter.",
	  "/run/sealmilter/sealmilter.pid" },
	{ "milter.marker_key_file", CT_PATH, OFF(marker_key_file), NULL, 0, 0, NULL,
	  "Secret (at least 32 bytes, mode 0600) that authenticates the loop-guard marker header. It is read "
	  "at start, as root; a reload keeps that key while the path is the same (a new path is read, so it "
	  "must be readable by milter.user). Without it a random key is made at start, and markers do not "
	  "survive a restart or work across several daemons. Create one with "
	  "`sealctl keys generate marker --out FILE`.",
	  "/etc/sealmilter/marker.key" },
	{ "milter.marker_header", CT_HEADER_NAME, OFF(marker_header), "X-Sealmilter-Marker", 0, 0, NULL,
	  "Name of the loop-guard marker header.",
	  "X-Example-Marker" },
	{ "milter.marker_max_age", CT_DURATION, OFF(marker_max_age), "7d", 60, 365 * DAY, NULL,
	  "A marker older than this is stale: it is removed and the message is processed again.",
	  "2d" },
	{ "milter.expiry_warning", CT_DURATION, OFF(expiry_warning), "30d", DAY, 3650 * DAY, NULL,
	  "How long before a certificate expires to start warning: S/MIME signing identities, the tenant "
	  "certificates, the issuer certificate and sealview.tls_cert. `sealctl keys check` and "
	  "`sealmilter -n` print WARNING and exit 1 within this time; sealmilter and sealview log a warning "
	  "at start and on reload. Whole days count.",
	  "60d" },
	{ "milter.submit_url", CT_STRING, OFF(submit_url), NULL, 0, 0, NULL,
	  "Where the copies of a split message go back to the MTA: smtp://127.0.0.1:PORT, a listener of the "
	  "MTA on loopback that runs sealmilter too (the copies carry the loop-guard marker, so they pass "
	  "unchanged). Needed by seal rules with for: external or for: internal, and to keep Bcc recipients "
	  "out of each other's sealed copies (docs/policy.md). A record in spool_dir/submitted makes sure a "
	  "retried message does not send a copy twice.",
	  "smtp://127.0.0.1:10026" },
	{ "milter.submit_timeout", CT_DURATION, OFF(submit_timeout), "30s", 1, 600, NULL,
	  "How long handing over one copy may take before the whole message is deferred.",
	  "1m" },
	{ "milter.max_connections", CT_UINT, OFF(max_connections), "256", 1, 100000, NULL,
	  "Most MTA connections served at once (the MTA opens one per SMTP session; each has a thread and "
	  "up to spool_threshold of body in memory). Past it a new connection is refused at connect with "
	  "451 4.3.2, a temporary failure (the mail of that session is tried again later), and the log names "
	  "the limit; a refused connection does no work and is not counted. The default is above Postfix's "
	  "default_process_limit (100 smtpd processes) and its cleanup servers. Each connection also needs a "
	  "file descriptor: keep the open-file limit above this.",
	  "512" },
	{ "milter.max_split_copies", CT_UINT, OFF(max_split_copies), "20", 1, 1000, NULL,
	  "Most sealed copies one message may be split into (each recipient in neither To nor Cc gets one of "
	  "its own). Each copy is sealed and handed over before the MTA's end-of-message timeout, so a message "
	  "needing more is rejected (552 5.3.4), and the log says why.",
	  "50" },
	{ "milter.metrics_listen", CT_STRING, OFF(metrics_listen), NULL, 0, 0, NULL,
	  "ADDRESS:PORT ([IPv6]:PORT) where sealmilter answers GET /metrics with its counters in the Prometheus "
	  "text format, over plain HTTP: for example 127.0.0.1:9141. Off when unset. It must be a loopback "
	  "address unless milter.metrics_allow_remote is true. The socket is opened at start, as root; changing "
	  "it needs a restart. docs/operations.md lists the metrics.",
	  "127.0.0.1:9141" },
	{ "milter.metrics_allow_remote", CT_BOOL, OFF(metrics_allow_remote), "false", 0, 0, NULL,
	  "Let milter.metrics_listen be an address other than loopback (0.0.0.0:9141, a management network). "
	  "The metrics hold no message content and no address, but they do hold rule names and mail volumes, "
	  "and the endpoint has no authentication: let a firewall decide who reaches it.",
	  "true" },
	{ "limits.max_headers", CT_UINT, OFF(max_headers), "5000", 10, 1000000, NULL,
	  "Most header fields a message may have. Over it the message is rejected (552 5.3.4).",
	  "1000" },
	{ "limits.max_header_size", CT_SIZE, OFF(max_header_size), "64K", KIB, 16 * MIB, NULL,
	  "Largest single header field (name and value). Over it the message is rejected (552 5.3.4).",
	  "128K" },
	{ "limits.max_message_size", CT_SIZE, OFF(max_message_size), "0", 0, 64 * GIB, NULL,
	  "Largest message (headers and body); 0 leaves the limit to the MTA. Over it the message is rejected "
	  "(552 5.3.4).",
	  "50M" },
	{ "limits.max_recipients", CT_UINT, OFF(max_recipients), "5000", 1, 1000000, NULL,
	  "Most envelope recipients per message. Recipients past it are refused at RCPT TO with 452 4.5.3, so "
	  "the client sends them again in another transaction and nothing is lost; the log says so once per "
	  "message.",
	  "1000" },
	{ "limits.body_scan_size", CT_SIZE, OFF(body_scan_size), "1M", 0, 64 * MIB, NULL,
	  "Size of the window of decoded text (every text/* part and the multipart preamble and epilogue, in "
	  "UTF-8) that body conditions are matched against. Longer text is matched window by "
	  "window, each overlapping the last by a quarter (at most 64K), so all of it is seen in bounded "
	  "memory; a match longer than the overlap can be missed at a window edge. 0 turns body scanning off.",
	  "2M" },
	{ "limits.max_mime_depth", CT_UINT, OFF(max_mime_depth), "20", 1, 100, NULL,
	  "Deepest nesting of multipart and message/rfc822 parts. Deeper messages cannot be inspected fully "
	  "and are rejected (552 5.3.4).",
	  "10" },
	{ "limits.max_mime_parts", CT_UINT, OFF(max_mime_parts), "1000", 1, 100000, NULL,
	  "Most MIME parts in a message. More cannot be inspected fully and are rejected (552 5.3.4).",
	  "500" },
	{ "limits.regex_match_limit", CT_UINT, OFF(regex_match_limit), "1000000", 1000, 100000000, NULL,
	  "PCRE2 match limit for every regex, so a hostile message cannot make a match run away. A match "
	  "that hits it is an evaluation error (see milter.on_error).",
	  "5000000" },
	{ "dns.nameservers", CT_NAMESERVERS, OFF(dns_nameservers), NULL, 0, 0, NULL,
	  "Nameservers for DKIM key look-ups: addresses, or address@port (127.0.0.1@5353). Default: the "
	  "system's /etc/resolv.conf. Queries go through libunbound, which caches answers, positive and "
	  "negative, within their TTL.",
	  "[127.0.0.1, \"192.0.2.53@5353\"]" },
	{ "dns.timeout", CT_DURATION, OFF(dns_timeout), "5s", 1, 60, NULL,
	  "How long a key look-up may take, counted from the end of the headers (the look-up runs while the "
	  "body arrives). A look-up that takes longer gives dkim=temperror.",
	  "3s" },
	{ "dns.trust_anchor_file", CT_PATH, OFF(dns_trust_anchor), NULL, 0, 0, NULL,
	  "A DNSSEC trust anchor (such as /usr/share/dns/root.key) to validate key records with. Without it "
	  "nothing is validated; with it, a key record that fails validation gives dkim=temperror, and the "
	  "log line marks keys that validated with (dnssec).",
	  "/usr/share/dns/root.key" },
	{ "dkim.verify_inbound", CT_BOOL, OFF(dkim_verify), "false", 0, 0, NULL,
	  "Verify DKIM signatures on inbound mail (RFC 6376; rsa-sha256 and ed25519-sha256), add one "
	  "Authentication-Results field at the top, and remove any that claim dkim.authserv_id. Rules can then "
	  "use the dkim condition. See docs/dkim.md.",
	  "true" },
	{ "dkim.authserv_id", CT_STRING, OFF(dkim_authserv_id), NULL, 0, 0, NULL,
	  "The authserv-id of the Authentication-Results field (RFC 8601), usually this host's name, the "
	  "same on every MX of the organisation. Default: the host name.",
	  "mx.example.com" },
	{ "dkim.max_signatures", CT_UINT, OFF(dkim_max_signatures), "5", 1, 50, NULL,
	  "Most DKIM-Signature fields checked per message, from the top; the field says how many more were "
	  "left unchecked.",
	  "10" },
	{ "dkim.unsigned_tail", CT_ENUM, OFF(dkim_unsigned_tail), "policy", 0, 0, "policy|pass",
	  "A signature with l= that verifies, but leaves text after the signed part of the body: policy "
	  "(dkim=policy, so a rule asking for pass or alignment does not trust appended text) or pass (as "
	  "python3-dkim and OpenDKIM do).",
	  "pass" },
	{ "dkim.sign_outbound", CT_BOOL, OFF(dkim_sign_outbound), "false", 0, 0, NULL,
	  "DKIM-sign all outbound mail whose From domain has a key in dkim.keys (a rule can ask for it with "
	  "dkim_sign: true instead). The signature is made last, over the message exactly as it is delivered "
	  "(after sealing and tags).",
	  "true" },
	{ "dkim.keys", CT_NODE, 0, NULL, 0, 0, NULL,
	  "Signing keys, one per domain: a list of { domain: example.com, selector: s2026, key: FILE or "
	  "pkcs11: URI, canonicalization: relaxed/relaxed }. An RSA key (1024 to 4096 bits; 2048 is the "
	  "norm) signs rsa-sha256, an Ed25519 key ed25519-sha256 (RFC 8463). A message is signed with the key "
	  "of its From domain, or of the closest parent domain listed. Publish the public key with "
	  "`sealctl keys dkim-record`.",
	  "[ { domain: example.com, selector: s2026, key: /etc/sealmilter/dkim-example.com.key } ]" },
	{ "smime.cert_dir", CT_PATH, OFF(smime_cert_dir), NULL, 0, 0, NULL,
	  "Directory of recipients' S/MIME certificates, one PEM file per address named after it in lower "
	  "case (bob@partner.example.pem). A seal action with prefer_smime: true encrypts as S/MIME instead "
	  "of sealing when every recipient has a usable certificate here. See docs/smime.md.",
	  "/etc/sealmilter/smime-certs" },
	{ "smime.cipher", CT_ENUM, OFF(smime_cipher), "aes-256-gcm", 0, 0, "aes-256-gcm|aes-256-cbc",
	  "Content encryption for S/MIME: aes-256-gcm (AuthEnvelopedData, RFC 5083) or aes-256-cbc "
	  "(EnvelopedData, for older clients).",
	  "aes-256-cbc" },
	{ "viewer.public_url", CT_STRING, OFF(viewer_public_url), NULL, 0, 0, NULL,
	  "sealview's public address (https://secure.example.com), as recipients outside the organisation reach "
	  "it. Sealed mail to such recipients carries a link PUBLIC_URL/m/TOKEN. Setting viewer.public_url, "
	  "api_url and secret_file turns the viewer on. See docs/viewer.md.",
	  "https://secure.example.com" },
	{ "viewer.api_url", CT_STRING, OFF(viewer_api_url), NULL, 0, 0, NULL,
	  "Where sealmilter registers sealed messages with sealview (http://127.0.0.1:8025). Before it accepts a "
	  "sealed message for an outside recipient, sealmilter registers it there; if that fails, the message "
	  "is deferred (451), so it never goes out with a dead link.",
	  "http://127.0.0.1:8025" },
	{ "viewer.secret_file", CT_PATH, OFF(viewer_secret_file), NULL, 0, 0, NULL,
	  "The secret shared by sealmilter and sealview (at least 32 random bytes; mode 0600, or 0640 with "
	  "owner and group the two daemons' users on one host: chown sealmilter:sealview): it signs "
	  "registrations and admin requests (HMAC-SHA-256 with a timestamp and a nonce) and keys sealview's "
	  "passcode and session hashes and its audit chain. It opens no message.",
	  "/etc/sealmilter/viewer.secret" },
	{ "viewer.timeout", CT_DURATION, OFF(viewer_timeout), "10s", 1, 120, NULL,
	  "How long a registration with sealview may take before the message is deferred.",
	  "20s" },
	{ "sealview.listen", CT_STRING, OFF(sv_listen), "127.0.0.1:8025", 0, 0, NULL,
	  "ADDRESS:PORT sealview listens on. Keep it on loopback behind a TLS-terminating reverse proxy "
	  "(contrib/nginx-sealview.conf), or set sealview.tls_cert and tls_key.",
	  "127.0.0.1:8025" },
	{ "sealview.metrics_listen", CT_STRING, OFF(sv_metrics_listen), NULL, 0, 0, NULL,
	  "ADDRESS:PORT ([IPv6]:PORT) where sealview answers GET /metrics (Prometheus text format, plain "
	  "HTTP), on a socket of its own, never sealview.listen: for example 127.0.0.1:9142. Off when unset. "
	  "It must be a loopback address unless sealview.metrics_allow_remote is true. docs/operations.md "
	  "lists the metrics.",
	  "127.0.0.1:9142" },
	{ "sealview.metrics_allow_remote", CT_BOOL, OFF(sv_metrics_allow_remote), "false", 0, 0, NULL,
	  "Let sealview.metrics_listen be an address other than loopback. The metrics hold no token, passcode "
	  "or address, but the endpoint has no authentication: let a firewall decide who reaches it.",
	  "true" },
	{ "sealview.user", CT_STRING, OFF(sv_user), NULL, 0, 0, NULL,
	  "User to run as after the listening socket, the TLS key and the viewer secret are open (sealview "
	  "must start as root for this). The store is opened as this user, so it owns the SQLite file. Give "
	  "sealview a user of its own that cannot read the tenant or issuer private keys.",
	  "sealview" },
	{ "sealview.group", CT_STRING, OFF(sv_group), NULL, 0, 0, NULL,
	  "Group to run as; default: the user's primary group.",
	  "sealview" },
	{ "sealview.store", CT_STRING, OFF(sv_store), "sqlite:/var/lib/sealview/sealview.db", 0, 0, NULL,
	  "The database: sqlite:/path/file.db (one node) or a libpq URI postgresql://user@host/db (several "
	  "sealview nodes behind a load balancer share it). The schema is created and migrated at start.",
	  "postgresql://sealview@db.example.com/sealview" },
	{ "sealview.smtp", CT_STRING, OFF(sv_smtp), "smtp://127.0.0.1:25", 0, 0, NULL,
	  "The MTA that sends passcodes and replies (smtp://host:port). Replies go through it so the "
	  "organisation's own rules apply to them.",
	  "smtp://127.0.0.1:25" },
	{ "sealview.passcode_from", CT_STRING, OFF(sv_passcode_from), NULL, 0, 0, NULL,
	  "The sender of passcode mail (no-reply@example.com). Make sure no rule seals mail from it.",
	  "no-reply@example.com" },
	{ "sealview.threads", CT_UINT, OFF(sv_threads), "8", 1, 256, NULL,
	  "Worker threads serving requests.",
	  "16" },
	{ "sealview.max_connections", CT_UINT, OFF(sv_max_connections), "512", 8, 100000, NULL,
	  "Most connections at once (libmicrohttpd divides it among sealview.threads). Past it a new "
	  "connection waits in the listen queue until one closes; the log says when the limit is reached "
	  "and when it is not any more.",
	  "1024" },
	{ "sealview.max_object", CT_SIZE, OFF(sv_max_object), "64M", 1024, 1 * GIB, NULL,
	  "Largest sealed object a registration may carry. Over it the request is refused (HTTP 413, before "
	  "the body is read; sealview logs the limit), so sealmilter defers the message (451) and logs the "
	  "refusal.",
	  "32M" },
	{ "sealview.max_form", CT_SIZE, OFF(sv_max_form), "256K", 64 * KIB, 16 * MIB, NULL,
	  "Largest body of any other request (the forms: an address, a passcode, a reply). Over it the "
	  "request is refused with HTTP 413 before the body is read (or as soon as a chunked body passes "
	  "it), and the log names the limit. A reply may have 64 KiB of text, up to 192 KiB once "
	  "form-encoded: set it below about 200K and the longest replies are refused.",
	  "512K" },
	{ "sealview.session_idle", CT_DURATION, OFF(sv_session_idle), "1h", 60, DAY, NULL,
	  "A reader's session ends after this long without a request.",
	  "30m" },
	{ "sealview.passcode_ttl", CT_DURATION, OFF(sv_passcode_ttl), "15m", 60, 3600, NULL,
	  "How long a passcode is valid. Each passcode can be used once, and allows 5 wrong tries.",
	  "10m" },
	{ "sealview.rate_per_ip", CT_UINT, OFF(sv_rate_ip), "60", 1, 1000000, NULL,
	  "Passcode requests and passcode tries allowed per client IP address in 15 minutes.",
	  "120" },
	{ "sealview.rate_per_address", CT_UINT, OFF(sv_rate_address), "5", 1, 1000, NULL,
	  "Passcodes mailed to one address for one message in 15 minutes.",
	  "3" },
	{ "sealview.rate_per_message", CT_UINT, OFF(sv_rate_message), "30", 1, 100000, NULL,
	  "Passcode requests and passcode tries allowed per message in 15 minutes.",
	  "20" },
	{ "sealview.purge_interval", CT_DURATION, OFF(sv_purge_interval), "5m", 10, DAY, NULL,
	  "How often expired messages are deleted (their pages then say expired), with idle sessions and "
	  "old passcodes.",
	  "10m" },
	{ "sealview.tls_cert", CT_PATH, OFF(sv_tls_cert), NULL, 0, 0, NULL,
	  "A PEM certificate (chain) for sealview to serve HTTPS itself, with sealview.tls_key.",
	  "/etc/sealmilter/tls.pem" },
	{ "sealview.tls_key", CT_PATH, OFF(sv_tls_key), NULL, 0, 0, NULL,
	  "The private key of sealview.tls_cert (mode 0600).",
	  "/etc/sealmilter/tls.key" },
	{ "sealview.trusted_proxies", CT_NETWORKS, OFF(sv_trusted_proxies), "127.0.0.0/8, ::1/128", 0, 0, NULL,
	  "Reverse proxies whose X-Forwarded-For names the client (for rate limits and the audit log). From "
	  "anywhere else, the connection's address is the client.",
	  "[127.0.0.1/32, 10.0.0.5/32]" },
	{ "patterns", CT_SECTION, 0, NULL, 0, 0, NULL,
	  "Named data-loss patterns for body conditions: NAME: { regex: '...', check: luhn|none, "
	  "description: '...' }. check: luhn keeps only matches whose digits pass the Luhn checksum (card "
	  "numbers).",
	  "{ card: { regex: '\\b(?:\\d[ -]?){13,19}\\b', check: luhn } }" },
	{ "rules", CT_SECTION, 0, NULL, 0, 0, NULL,
	  "The ordered list of rules: { name, description, if: CONDITION, then: ACTIONS }. See the conditions "
	  "and actions below.",
	  "[ { name: no-exe, if: { attachment: { filename: [\"*.exe\"] } }, then: { reject: \"5.7.1 No "
	  "executables\" } } ]" },
	{ "keys", CT_SECTION, 0, NULL, 0, 0, NULL,
	  "The organisation's keys: `tenant:` a list of { id, cert, key } (RSA 2048, 3072 or 4096; the first "
	  "seals, the others still open older messages; the private key is needed only to open), and "
	  "`issuer:` { cert, key } (ECDSA P-256 or RSA; it signs every policy). Certificates are PEM files; a "
	  "private key is a PEM file (refused when group or others can read it) or an RFC 7512 PKCS#11 URI "
	  "(`pkcs11:token=...;object=...;type=private?pin-value=...`, through OpenSSL's pkcs11 engine; "
	  "`pkcs11_module:` names the module, such as /usr/lib/softhsm/libsofthsm2.so; a PIN in the "
	  "configuration makes it a secret: chmod 600 it). Read at start and again at each reload, as the "
	  "user the daemon runs as. `sealctl keys generate tenant|issuer` and `sealctl keys rotate` make "
	  "them. docs/format.md describes the sealed object.",
	  "{ tenant: [ { id: t2026, cert: /etc/sealmilter/t2026.pem, key: /etc/sealmilter/t2026.key } ], "
	  "issuer: { cert: /etc/sealmilter/issuer.pem, key: /etc/sealmilter/issuer.key } }" },
	{ "templates", CT_SECTION, 0, NULL, 0, 0, NULL,
	  "Sealing templates: NAME: { description, rights: [view, reply, reply_all, forward, print, copy, save, "
	  "edit] (view is required), expires: a duration (30d) or a date (2027-01-31, 2027-01-31T12:00:00Z), "
	  "recipients: message (default) or a list of addresses and domains, subject: keep (default) or "
	  "protect, branding: NAME (default: the branding called default), viewer: true (default: mail to "
	  "recipients outside the organisation gets a sealview link, when viewer: is configured) or false }.",
	  "{ do-not-forward: { rights: [view, reply, reply_all], expires: 30d } }" },
	{ "branding", CT_SECTION, 0, NULL, 0, 0, NULL,
	  "How the notice of a sealed message looks: NAME: { org_name (100), intro (500; placeholders {sender} "
	  "and {org}), button (60), disclaimer (2000), color: \"#rrggbb\", logo: a PNG or JPEG of at most 40 KB }; "
	  "the numbers are the most characters allowed.",
	  "{ default: { org_name: Example Corp, color: \"#0b5cad\", disclaimer: Confidential. } }" },
	{ "signing", CT_SECTION, 0, NULL, 0, 0, NULL,
	  "S/MIME signing identities: `identities:` a list of { match: ADDRESS or GLOB (*@example.com), cert, "
	  "key (PEM file or pkcs11: URI), chain: [CA files] } or { match, pkcs12: FILE, password_file: FILE }, "
	  "with an optional name: for `sign: NAME`; the most specific match for the From address wins (an "
	  "exact address, then the glob with the most literal characters). `missing_identity:` tempfail (the "
	  "default: a message a rule wants signed is never sent unsigned) or skip. Each certificate must match "
	  "its key and allow S/MIME signing.",
	  "{ identities: [ { match: \"*@example.com\", cert: /etc/sealmilter/smime.pem, key: "
	  "/etc/sealmilter/smime.key } ] }" },
	{ "include", CT_SECTION, 0, NULL, 0, 0, NULL,
	  "A file name or a list of them, relative to the including file. Included files have the same "
	  "sections; their patterns and rules are appended in order, and a setting may be given only once "
	  "across all files.",
	  "[rules-dlp.yaml]" },
};

const size_t cfg_nkeys = sizeof(cfg_keys) / sizeof(cfg_keys[0]);

_Static_assert(sizeof(cfg_keys) / sizeof(cfg_keys[0]) <= CFG_MAX_KEYS, "raise CFG_MAX_KEYS");
