/* mailout.h - hand a message to the MTA over SMTP (libcurl): passcodes and
 * replies. A small queue with one sending thread keeps the page's answer
 * time the same whether or not a mail goes out, so timing tells nobody
 * whether an address may read a message. */
#ifndef VIEWER_MAILOUT_H
#define VIEWER_MAILOUT_H

#include <stddef.h>

struct mailout;

/* smtp_url: smtp://host:port. 0, or -1 with *err. */
int mailout_new(const char *smtp_url, struct mailout **out, char **err);
/* Stop after everything queued was tried. */
void mailout_free(struct mailout *m);
/* Send one message now (blocking). 0, or -1 with *err. */
int mailout_send(const char *smtp_url, const char *from, const char *to, const char *msg, size_t len, char **err);
/* Queue one message (the copies are the queue's). done (may be NULL) is
 * called from the sending thread with the outcome (err NULL on success). */
typedef void (*mailout_done_fn)(void *arg, const char *err);
int mailout_queue(struct mailout *m, const char *from, const char *to, const char *msg, size_t len,
    mailout_done_fn done, void *arg);
/* Wait until the queue is empty. */
void mailout_drain(struct mailout *m);

#endif
