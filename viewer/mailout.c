/*
 * mailout.c - SMTP submission to the configured MTA through libcurl, with
 * a queue and one sending thread.
 *
 * Calling rules: mailout_queue() and mailout_send() are thread-safe. The
 * queue is in memory: a mail still queued when the process dies is lost
 * (a reader asks for a new passcode; a reply says it was queued).
 * Untrusted input: the addresses (checked by the caller: a recipient of the
 * message, or its sender) and the message, built by the caller with every
 * header value checked; libcurl refuses CR and LF in addresses.
 */
#include "build-config.h"

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "viewer/mailout.h"

struct item {
	struct item *next;
	char *from, *to, *msg;
	size_t len;
	mailout_done_fn done;
	void *arg;
};

struct mailout {
	char *url;
	pthread_mutex_t mu;
	pthread_cond_t cv, idle;
	struct item *head, *tail;
	int stop, busy;
	pthread_t thread;
};

struct payload {
	const char *p;
	size_t len, off;
};

static size_t
read_payload(char *buf, size_t size, size_t nmemb, void *arg)
{
	struct payload *pl = arg;
	size_t n = size * nmemb;

	if (n > pl->len - pl->off)
		n = pl->len - pl->off;
	memcpy(buf, pl->p + pl->off, n);
	pl->off += n;
	return n;
}

int
mailout_send(const char *smtp_url, const char *from, const char *to, const char *msg, size_t len, char **err)
{
	struct payload pl = { msg, len, 0 };
	struct curl_slist *rcpt = NULL;
	char ebuf[CURL_ERROR_SIZE];
	CURLcode cc;
	CURL *c;
	int rc = -1;

	*err = NULL;
	ebuf[0] = '\0';
	if ((c = curl_easy_init()) == NULL || (rcpt = curl_slist_append(NULL, to)) == NULL) {
		*err = strdup("out of memory");
		goto out;
	}
	curl_easy_setopt(c, CURLOPT_URL, smtp_url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
	curl_easy_setopt(c, CURLOPT_MAIL_FROM, from);
	curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt);
	curl_easy_setopt(c, CURLOPT_READFUNCTION, read_payload);
	curl_easy_setopt(c, CURLOPT_READDATA, &pl);
	curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
	cc = curl_easy_perform(c);
	if (cc != CURLE_OK) {
		if (asprintf(err, "SMTP to %s: %s", smtp_url, ebuf[0] ? ebuf : curl_easy_strerror(cc)) < 0)
			*err = NULL;
		goto out;
	}
	rc = 0;
out:
	curl_slist_free_all(rcpt);
	curl_easy_cleanup(c);
	return rc;
}

static void
item_free(struct item *it)
{
	free(it->from);
	free(it->to);
	if (it->msg)
		OPENSSL_cleanse(it->msg, it->len);    /* a passcode, or a reader's reply */
	free(it->msg);
	free(it);
}

static void *
sender(void *arg)
{
	struct mailout *m = arg;

	pthread_mutex_lock(&m->mu);
	for (;;) {
		struct item *it;
		char *err = NULL;

		while (m->head == NULL && !m->stop)
			pthread_cond_wait(&m->cv, &m->mu);
		if (m->head == NULL)
			break;
		it = m->head;
		m->head = it->next;
		if (m->head == NULL)
			m->tail = NULL;
		m->busy = 1;
		pthread_mutex_unlock(&m->mu);
		if (mailout_send(m->url, it->from, it->to, it->msg, it->len, &err) != 0)
			seal_log(SEAL_LOG_ERR, "cannot send mail: %s", err ? err : "failed");
		if (it->done)
			it->done(it->arg, err ? err : NULL);
		free(err);
		item_free(it);
		pthread_mutex_lock(&m->mu);
		m->busy = 0;
		if (m->head == NULL)
			pthread_cond_broadcast(&m->idle);
	}
	pthread_mutex_unlock(&m->mu);
	return NULL;
}

int
mailout_new(const char *smtp_url, struct mailout **out, char **err)
{
	struct mailout *m = calloc(1, sizeof(*m));

	*out = NULL;
	if (strncmp(smtp_url, "smtp://", 7) != 0 && strncmp(smtp_url, "smtps://", 8) != 0) {
		if (asprintf(err, "sealview.smtp: '%s' is not smtp://host:port", smtp_url) < 0)
			*err = NULL;
		free(m);
		return -1;
	}
	if (m == NULL || (m->url = strdup(smtp_url)) == NULL) {
		free(m);
		*err = strdup("out of memory");
		return -1;
	}
	pthread_mutex_init(&m->mu, NULL);
	pthread_cond_init(&m->cv, NULL);
	pthread_cond_init(&m->idle, NULL);
	if (pthread_create(&m->thread, NULL, sender, m) != 0) {
		free(m->url);
		free(m);
		*err = strdup("cannot start the mail thread");
		return -1;
	}
	*out = m;
	return 0;
}

int
mailout_queue(struct mailout *m, const char *from, const char *to, const char *msg, size_t len,
    mailout_done_fn done, void *arg)
{
	struct item *it = calloc(1, sizeof(*it));

	if (it == NULL || (it->from = strdup(from)) == NULL || (it->to = strdup(to)) == NULL ||
	    (it->msg = malloc(len ? len : 1)) == NULL) {
		if (it)
			item_free(it);
		return -1;
	}
	it->len = len;
	memcpy(it->msg, msg, len);
	it->done = done;
	it->arg = arg;
	pthread_mutex_lock(&m->mu);
	if (m->tail)
		m->tail->next = it;
	else
		m->head = it;
	m->tail = it;
	pthread_cond_signal(&m->cv);
	pthread_mutex_unlock(&m->mu);
	return 0;
}

void
mailout_drain(struct mailout *m)
{
	pthread_mutex_lock(&m->mu);
	while (m->head != NULL || m->busy)
		pthread_cond_wait(&m->idle, &m->mu);
	pthread_mutex_unlock(&m->mu);
}

void
mailout_free(struct mailout *m)
{
	if (m == NULL)
		return;
	pthread_mutex_lock(&m->mu);
	m->stop = 1;
	pthread_cond_signal(&m->cv);
	pthread_mutex_unlock(&m->mu);
	pthread_join(m->thread, NULL);
	pthread_mutex_destroy(&m->mu);
	pthread_cond_destroy(&m->cv);
	pthread_cond_destroy(&m->idle);
	free(m->url);
	free(m);
}
