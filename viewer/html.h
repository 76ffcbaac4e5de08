/* html.h - escaping for server-rendered HTML. Every value that reaches a
 * page goes through one of these: text content and attribute values alike
 * (the attribute escaper also quotes). Invalid UTF-8 becomes U+FFFD;
 * control characters other than tab and line ends are dropped. */
#ifndef VIEWER_HTML_H
#define VIEWER_HTML_H

#include <stddef.h>

struct sbuf;

/* Append s[0..n) escaped for HTML text or a double-quoted attribute value:
 * & < > " ' become entities. 0, or -1 when the buffer refuses. */
int html_escape(struct sbuf *b, const char *s, size_t n);
int html_escapes(struct sbuf *b, const char *s);
/* The same, with line ends turned into <br> (for text bodies shown in a
 * <div>, when <pre> is not wanted). */
int html_escape_lines(struct sbuf *b, const char *s, size_t n);
/* Append s percent-encoded for a URL path segment or query value
 * (unreserved characters kept). */
int url_encode(struct sbuf *b, const char *s, size_t n);
/* Decode an application/x-www-form-urlencoded value in place ('+' is a
 * space, %XX bytes). Returns the new length, or -1 for a bad escape or a
 * NUL byte. */
long form_decode(char *s, size_t n);

#endif
