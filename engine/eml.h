/* eml.h - feed a message file (RFC 5322, LF or CRLF) to a session, as an MTA would. */
#ifndef SEAL_EML_H
#define SEAL_EML_H

#include <stdio.h>

#include "engine/session.h"

/* Reads headers then body from in. *eol is set to the file's line end
 * ("\r\n" or "\n"). 0 on success; -1 on a read error (*err set, malloc'd). */
int eml_feed(struct seal_session *s, FILE *in, const char **eol, char **err);

#endif
