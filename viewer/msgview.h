/* msgview.h - take an opened original message apart for the web viewer:
 * the display header fields, the text body, the HTML body (made
 * self-contained: cid: images become data: URIs) and the attachments.
 * The input is the decrypted original, which an outside sender may have
 * crafted: every part is size-capped, and nothing here ever interprets the
 * HTML (the browser shows it in a sandbox, under a strict CSP). */
#ifndef VIEWER_MSGVIEW_H
#define VIEWER_MSGVIEW_H

#include <stddef.h>

struct msgview_limits {
	size_t max_message;      /* refuse input larger than this (bytes) */
	size_t max_parts;        /* MIME parts looked at */
	size_t max_depth;        /* MIME nesting */
	size_t max_text;         /* text body kept (bytes, UTF-8); longer is cut at a character boundary, truncated=1 */
	size_t max_html;         /* HTML body kept, after inlining images; over it: html is NULL, html_dropped=1 */
	size_t max_attachments;  /* attachments listed */
};
/* Sensible defaults: 64 MiB, 500 parts, 20 levels, 2 MiB text, 8 MiB HTML, 100 attachments. */
void msgview_default_limits(struct msgview_limits *l);

struct msgview_attachment {
	char *filename;          /* UTF-8, decoded (RFC 2231/2047), path separators and control characters replaced;
	                            "attachment-N" (N from 1) when the part has none */
	char *content_type;      /* "type/subtype", lower case, only [a-z0-9.+-] in each half; else application/octet-stream */
	size_t size;             /* decoded size in bytes */
	unsigned char *data;     /* decoded content (owned) */
};

struct msgview {
	/* Display fields, decoded to UTF-8 (RFC 2047), unfolded; "" when absent. */
	char *from, *to, *cc, *date, *subject, *message_id;
	char *text;              /* the text/plain body as UTF-8 (charset converted; invalid bytes become U+FFFD), or NULL */
	int text_truncated;
	char *html;              /* the text/html body as UTF-8, with cid: images inlined as data: URIs; NULL when none */
	int html_dropped;        /* there was HTML, but over max_html */
	struct msgview_attachment *att;
	size_t natt;
	int att_dropped;         /* more attachments than max_attachments */
};

/* Parse the original (raw RFC 5322 bytes, CRLF or LF). The text body is the
 * first text/plain that is not an attachment (in multipart/alternative,
 * related, mixed); the HTML body likewise the first text/html; parts that
 * are images referenced from the HTML by cid: are inlined and not listed as
 * attachments; every other leaf with a filename or Content-Disposition
 * attachment, and every non-text leaf, is an attachment. An attached
 * message/rfc822 is an attachment (filename from its subject + ".eml").
 * Returns 0, or -1 with *err (malloc'd) for input it refuses (too large,
 * not a message). Malformed MIME is never an error: whatever can be shown
 * is shown. */
int msgview_parse(const void *raw, size_t len, const struct msgview_limits *lim, struct msgview *out, char **err);
void msgview_free(struct msgview *v);

#endif
