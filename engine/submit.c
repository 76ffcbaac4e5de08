/*
 * submit.c - SMTP submission of a split message's copy (libcurl).
 *
 * The copy goes back to the MTA (milter.submit_url, on loopback), which runs
 * it through sealmilter again: it carries a valid marker, so it passes
 * unchanged. The MTA's last reply line is kept, for its queue id.
 *
 * Calling rules: thread-safe; blocks for at most timeout_s seconds. curl's
 * global set-up happens in the programs before threads start.
 * Untrusted input: the MTA's replies (capped, only read for the queue id).
 * The addresses are envelope addresses the MTA gave us; libcurl refuses
 * CR and LF in them.
 */
#include "build-config.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "engine/submit.h"

struct src {
	int fd;
	size_t len, off;
	int failed;
};

static size_t
read_fd(char *buf, size_t size, size_t nmemb, void *arg)
{
	struct src *s = arg;
	size_t want = size * nmemb, left = s->len - s->off;
	ssize_t n;

	if (want > left)
		want = left;
	if (want == 0)
		return 0;
	do
		n = pread(s->fd, buf, want, (off_t)s->off);
	while (n < 0 && errno == EINTR);
	if (n <= 0) {
		s->failed = 1;
		return CURL_READFUNC_ABORT;
	}
	s->off += (size_t)n;
	return (size_t)n;
}

/* The server's reply lines: keep the last one. */
static int
on_debug(CURL *c, curl_infotype type, char *data, size_t size, void *arg)
{
	struct sbuf *last = arg;

	(void)c;
	if (type != CURLINFO_HEADER_IN)
		return 0;
	sbuf_reset(last);
	while (size > 0 && (data[size - 1] == '\n' || data[size - 1] == '\r'))
		size--;
	(void)sbuf_add(last, data, size < 500 ? size : 500);
	return 0;
}

/* The queue id in the MTA's final reply: Postfix says "250 2.0.0 Ok: queued
 * as 4F2A1", Sendmail "250 2.0.0 6AN2tfdC006816 Message accepted for
 * delivery". Else the whole reply. */
static char *
queue_id_of(const char *reply)
{
	const char *q = strstr(reply, "queued as "), *p = reply;

	if (q)
		return strndup(q + 10, strcspn(q + 10, " ;,)"));
	if (strncmp(p, "250", 3) == 0) {
		p += 3;
		p += strspn(p, " -");
		if (p[0] >= '2' && p[0] <= '5' && p[1] == '.')     /* an enhanced status code */
			p += strcspn(p, " ");
		p += strspn(p, " ");
		if (*p)
			return strndup(p, strcspn(p, " ;,)"));
	}
	return strdup(reply);
}

int
submit_smtp(const char *url, long timeout_s, const char *sender, char *const *rcpts, size_t nrcpts, int fd,
    size_t len, char **queue_id, char **err)
{
	struct src src = { fd, len, 0, 0 };
	struct curl_slist *rl = NULL;
	struct sbuf last;
	char ebuf[CURL_ERROR_SIZE], *from = NULL;
	CURLcode cc;
	CURL *c = NULL;
	size_t i;
	int rc = -1;

	*queue_id = NULL;
	*err = NULL;
	sbuf_init(&last, 1024);
	for (i = 0; i < nrcpts; i++) {
		struct curl_slist *n = curl_slist_append(rl, rcpts[i]);
		if (n == NULL)
			goto oom;
		rl = n;
	}
	/* The null sender is "<>" on the wire: libcurl writes what it is given in the brackets. */
	if ((from = strdup(sender ? sender : "")) == NULL || (c = curl_easy_init()) == NULL)
		goto oom;
	ebuf[0] = '\0';
	if (curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp,smtps") != CURLE_OK) {
		*err = strdup("libcurl refuses to limit itself to SMTP");
		goto out;
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_MAIL_FROM, from);
	curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rl);
	curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(c, CURLOPT_READFUNCTION, read_fd);
	curl_easy_setopt(c, CURLOPT_READDATA, &src);
	curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, timeout_s);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, timeout_s);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
	curl_easy_setopt(c, CURLOPT_DEBUGFUNCTION, on_debug);
	curl_easy_setopt(c, CURLOPT_DEBUGDATA, &last);
	curl_easy_setopt(c, CURLOPT_VERBOSE, 1L);
	cc = curl_easy_perform(c);
	if (cc != CURLE_OK || src.failed) {
		if (asprintf(err, "SMTP to %s: %s%s%s", url, src.failed ? "the copy could not be read back"
		    : ebuf[0] ? ebuf : curl_easy_strerror(cc), last.data ? " (last reply: " : "",
		    last.data ? last.data : "") < 0)
			*err = NULL;
		if (*err && last.data) {
			char *e2 = NULL;
			if (asprintf(&e2, "%s)", *err) >= 0) {
				free(*err);
				*err = e2;
			}
		}
		goto out;
	}
	*queue_id = queue_id_of(last.data ? last.data : "");
	rc = 0;
	goto out;
oom:
	*err = strdup("out of memory");
out:
	curl_slist_free_all(rl);
	curl_easy_cleanup(c);
	free(from);
	sbuf_free(&last);
	return rc;
}

int
submit_refused_permanently(const char *err)
{
	const char *r = err ? strstr(err, "(last reply: ") : NULL;

	return r != NULL && r[13] == '5';
}
