/*
 * viewadmin.c - sealctl's commands for sealview, through its signed admin
 * API (seal/viewapi.h): revoke a message, show and export the audit log,
 * check the audit chain (with a progress line on a terminal while sealview
 * works through it, then a summary).
 *
 *   sealctl -c FILE revoke SEAL-ID|MESSAGE-ID
 *   sealctl -c FILE audit [SEAL-ID] [--json]
 *   sealctl -c FILE audit --verify [--json]
 *
 * Calling rules: the configuration must set viewer.api_url and
 * viewer.secret_file (the same as sealmilter's).
 * Untrusted input: sealview's answers, read into capped buffers; the text
 * view takes fields out of the JSON lines and prints them with terminal
 * control characters (C0, DEL, C1) replaced.
 */
#include "build-config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/progress.h"
#include "cli/viewadmin.h"
#include "common/buf.h"
#include "rules/config.h"
#include "seal/viewapi.h"

#define AUDIT_MAX (256u * 1024 * 1024)

static int
call(const struct seal_config *c, const char *method, const char *path, size_t max, long *status, char **resp)
{
	char *err = NULL;

	if (c->viewer_api_url == NULL || c->viewer_secret_len == 0) {
		fprintf(stderr, "sealctl: %s: viewer.api_url and viewer.secret_file are needed to reach sealview\n",
		    c->path);
		return -1;
	}
	if (viewapi_request(c->viewer_api_url, c->viewer_secret, c->viewer_secret_len, 30, method, path, NULL, max, status,
	    resp, &err) != 0) {
		fprintf(stderr, "sealctl: sealview: %s\n", err ? err : "no answer");
		free(err);
		return -1;
	}
	return 0;
}

/* The id as a path segment: anything but [A-Za-z0-9._@-] percent-encoded. */
static char *
segment(const char *id)
{
	struct sbuf b;

	sbuf_init(&b, 4096);
	for (; *id; id++) {
		unsigned char ch = (unsigned char)*id;
		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || strchr("._@-", ch))
			sbuf_addc(&b, (char)ch);
		else
			sbuf_printf(&b, "%%%02X", ch);
	}
	return b.data ? sbuf_steal(&b) : strdup("");
}

int
cmd_revoke(const struct seal_config *c, const char *id)
{
	char *seg = segment(id), *path = NULL, *resp = NULL;
	long status = 0;
	int rc = 1;

	if (seg == NULL || asprintf(&path, "/api/v1/revoke/%s", seg) < 0) {
		free(seg);
		return 1;
	}
	if (call(c, "POST", path, 4096, &status, &resp) == 0) {
		if (status == 200) {
			fputs(resp, stdout);
			rc = 0;
		} else {
			fprintf(stderr, "sealctl: revoke %s: HTTP %ld: %s", id, status, resp ? resp : "");
			rc = status == 404 ? 2 : 1;
		}
	}
	free(resp);
	free(path);
	free(seg);
	return rc;
}

/* The JSON string value of key in one line of ours, unescaped, with
 * control characters shown as '?'. */
static void
field(const char *line, const char *key, char *out, size_t outlen)
{
	char pat[64];
	const char *p;
	size_t o = 0;

	out[0] = '\0';
	snprintf(pat, sizeof(pat), "\"%s\":\"", key);
	if ((p = strstr(line, pat)) == NULL)
		return;
	for (p += strlen(pat); *p && *p != '"' && o + 1 < outlen; p++) {
		char ch = *p;
		if (ch == '\\' && p[1]) {
			p++;
			ch = *p == 'u' ? '?' : *p;
			if (*p == 'u')
				p += strlen(p) >= 5 ? 4 : strlen(p) - 1;
		}
		/* No terminal controls: C0, DEL, and C1 (U+0080-U+009F, UTF-8 C2 80-9F). */
		if ((unsigned char)ch == 0xc2 && (unsigned char)p[1] >= 0x80 && (unsigned char)p[1] <= 0x9f) {
			p++;
			ch = '?';
		}
		out[o++] = (unsigned char)ch < ' ' || ch == 0x7f ? '?' : ch;
	}
	out[o] = '\0';
}

/* The number after "key": in a JSON line, or -1. */
static long long
num_field(const char *line, const char *key)
{
	char pat[64];
	const char *p;
	char *end;
	long long v;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	if ((p = strstr(line, pat)) == NULL)
		return -1;
	v = strtoll(p + strlen(pat), &end, 10);
	return end == p + strlen(pat) ? -1 : v;
}

int
cmd_audit(const struct seal_config *c, const char *seal_id, int json, int verify)
{
	char *seg = NULL, *path = NULL, *resp = NULL, *line, *save = NULL;
	long status = 0;
	int rc = 1;

	if (verify)
		path = strdup("/api/v1/audit-verify");
	else if (seal_id) {
		seg = segment(seal_id);
		if (seg == NULL || asprintf(&path, "/api/v1/audit/%s", seg) < 0)
			path = NULL;
	} else
		path = strdup("/api/v1/audit");
	if (verify) {
		/* The whole chain is checked on the server: on a terminal, show that it is working. */
		struct progress pr;
		int r;
		progress_begin(&pr, "audit --verify", 0, 0);
		progress_tick(&pr);
		r = path ? call(c, "GET", path, AUDIT_MAX, &status, &resp) : -1;
		progress_end(&pr);
		if (r != 0)
			goto out;
	} else if (path == NULL || call(c, "GET", path, AUDIT_MAX, &status, &resp) != 0)
		goto out;
	if (status != 200) {
		fprintf(stderr, "sealctl: audit: HTTP %ld: %s", status, resp ? resp : "");
		goto out;
	}
	if (verify) {
		/* Exit 0: intact; 4: broken (a record changed or went missing). */
		rc = strstr(resp, "\"intact\":true") ? 0 : 4;
		if (json) {
			fputs(resp, stdout);
		} else {
			char head[80], reason[256];
			field(resp, "head", head, sizeof(head));
			field(resp, "reason", reason, sizeof(reason));
			printf("%-12s %s\n%-12s %lld\n", "audit chain", rc == 0 ? "intact" : "BROKEN", "records",
			    num_field(resp, "records"));
			if (rc == 0)
				printf("%-12s %s  (keep it elsewhere to compare: deleting the newest records leaves "
				    "the chain intact)\n", "head", head);
			else
				printf("%-12s %lld\n%-12s %s\n", "first bad", num_field(resp, "first_bad"), "reason", reason);
		}
		goto out;
	}
	if (json) {
		fputs(resp, stdout);
		rc = 0;
		goto out;
	}
	printf("%-20s  %-16s  %-36s  %-28s  %-15s  %-13s  %s\n", "TIME", "EVENT", "SEAL ID", "ADDRESS", "CLIENT IP",
	    "OUTCOME", "DETAIL");
	for (line = strtok_r(resp, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char t[32], ev[32], sid[64], addr[256], ip[64], out[32], det[256];
		field(line, "time", t, sizeof(t));
		field(line, "event", ev, sizeof(ev));
		field(line, "seal_id", sid, sizeof(sid));
		field(line, "address", addr, sizeof(addr));
		field(line, "client_ip", ip, sizeof(ip));
		field(line, "outcome", out, sizeof(out));
		field(line, "detail", det, sizeof(det));
		printf("%-20s  %-16s  %-36s  %-28s  %-15s  %-13s  %s\n", t, ev, sid[0] ? sid : "-", addr[0] ? addr : "-",
		    ip[0] ? ip : "-", out, det);
	}
	rc = 0;
out:
	free(resp);
	free(path);
	free(seg);
	return rc;
}
