/* eml.h - feed a message file (RFC 5322, LF or CRLF) to a session, as an MTA would. */
#ifndef SEAL_EML_H
#define SEAL_EML_H

#include <stdio.h>

#include "engine/session.h"

/* Called once, after the last header field and before end of headers: by
 * then an MTA has given the envelope, so a caller that takes the envelope
 * from the header fields (sealctl) sets it here, and the session sees the
 * same order as in the daemon (direction, and so DKIM, is decided at end
 * of headers). */
typedef void (*eml_at_eoh)(struct seal_session *s, void *arg);

/* Reads headers then body from in. *eol is set to the file's line end
 * ("\r\n" or "\n"). hook may be NULL. 0 on success; -1 on a read error
 * (*err set, malloc'd). */
int eml_feed(struct seal_session *s, FILE *in, const char **eol, char **err, eml_at_eoh hook, void *arg);

#endif
