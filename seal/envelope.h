/* envelope.h - the protected message that replaces a sealed one: a notice and the sealed attachment. */
#ifndef SEAL_ENVELOPE_H
#define SEAL_ENVELOPE_H

#include <openssl/bio.h>
#include <stddef.h>

#include "seal/template.h"

#define SEALED_MEDIA_TYPE "application/vnd.sealmilter.sealed"
#define SEALED_FILENAME "message.sealed"

/* 1 when a header field of the original is kept on the protected message:
 * routing, display and trace fields only (docs/format.md). */
int seal_envelope_keeps(const char *name);

/* The text that replaces the subject when the template protects it. */
char *seal_envelope_subject(const struct seal_template *t, const char *sender);

/* Write the protected body (CRLF line ends) to out: multipart/mixed with a
 * multipart/alternative notice (text, and HTML with the branding, every
 * inserted value escaped) and the sealed object, read from der_in as it
 * streams, as the base64 attachment message.sealed. link (NULL: none) is
 * the sealview address of the message, shown as the button. *content_type gets the value for the Content-Type header
 * (malloc'd, with its boundary). 0, or -1 and *err. */
int seal_envelope_write(const struct seal_template *t, const char *sender, const char *link, BIO *der_in, BIO *out,
    char **content_type, char **err);

struct sbuf;
/* Append the text s as quoted-printable (RFC 2045): CRLF line ends, lines of
 * at most 76 characters. */
void qp_encode(struct sbuf *out, const char *s);

#endif
