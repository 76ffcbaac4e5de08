/* submit.h - hand a copy of a message to the MTA over SMTP (milter.submit_url),
 * for a split message: one transaction per copy, with its own recipients. */
#ifndef ENGINE_SUBMIT_H
#define ENGINE_SUBMIT_H

#include <stddef.h>

/* Send len bytes read from fd (from offset 0; CRLF line ends, not dot-stuffed)
 * to url (smtp://host:port) as MAIL FROM:<sender> and one RCPT TO per
 * recipient, within timeout_s. *queue_id gets the id the MTA named in its
 * final reply (Postfix's "queued as 4F2A1", Sendmail's "250 2.0.0 6AN2tfdC006816
 * Message accepted", or else the whole reply), malloc'd. 0 when the MTA accepted it for every recipient,
 * else -1 with *err (the MTA's reply, or why it was not reached). */
int submit_smtp(const char *url, long timeout_s, const char *sender, char *const *rcpts, size_t nrcpts, int fd,
    size_t len, char **queue_id, char **err);
/* 1 when err (from submit_smtp) carries a permanent (5xx) refusal. */
int submit_refused_permanently(const char *err);

#endif
