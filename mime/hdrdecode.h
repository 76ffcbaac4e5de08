/* hdrdecode.h - header value decoding (RFC 2047) and MIME parameter parsing via GMime. */
#ifndef SEAL_HDRDECODE_H
#define SEAL_HDRDECODE_H

#include <stddef.h>

/* Initialise GMime once; safe to call from any thread, any number of times. */
void mime_init(void);
/* Unfold, trim and decode a raw header value to UTF-8 (malloc'd). 8-bit
 * bytes that are not valid UTF-8 are converted from a fallback charset, so
 * the result is always valid UTF-8. NULL only when out of memory. */
char *hdr_decode(const char *raw);
/* Encode a UTF-8 text for a header (RFC 2047 when it is not plain ASCII). */
char *hdr_encode(const char *utf8);

struct mime_ctype {
	char *type;       /* "text/plain", lower case */
	char *boundary;   /* multipart boundary, or NULL */
	char *charset;    /* or NULL */
	char *name;       /* the name parameter, decoded, or NULL */
};
/* Parse a Content-Type value; a missing or broken value gives def. 0, or
 * -1 when out of memory (out may then be partly filled: free it). */
int mime_ctype_parse(const char *raw, const char *def, struct mime_ctype *out);
void mime_ctype_free(struct mime_ctype *ct);
/* Parse a Content-Disposition: sets *attachment and the decoded filename.
 * 0, or -1 when out of memory. */
int mime_disposition_parse(const char *raw, int *attachment, char **filename);
/* 1 when text in charset must be converted to become UTF-8 (not for
 * UTF-8, US-ASCII or no charset). */
int mime_needs_conversion(const char *charset);
/* Convert bytes in charset to UTF-8; unknown charsets and invalid input
 * degrade to a best effort. Returns a malloc'd string and its length. */
char *mime_to_utf8(const char *charset, const char *p, size_t n, size_t *outlen);

struct strlist;
/* Append the mailbox addresses of an address header (From, To, Cc) to out. */
void mime_addresses(const char *raw, struct strlist *out);

#endif
