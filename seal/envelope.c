/*
 * envelope.c - build the message that is delivered in place of a sealed
 * one (docs/format.md):
 *
 *   multipart/mixed
 *     multipart/alternative              the notice, from the branding
 *       text/plain (quoted-printable)
 *       multipart/related                (text/html alone when there is no logo)
 *         text/html (quoted-printable)
 *         image/png|jpeg (base64, Content-ID logo)
 *     application/vnd.sealmilter.sealed  message.sealed: the CMS object, base64
 *
 * Calling rules: pure functions of their arguments (and random boundaries);
 * thread-safe.
 * Untrusted input: the sender address comes from the envelope, so it is
 * HTML-escaped in the HTML notice and quoted-printable-encoded everywhere;
 * branding texts are the administrator's but get the same treatment.
 */
#include "build-config.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/buf.h"
#include "common/util.h"
#include "seal/envelope.h"

#define SUBJECT_MAX 300

int
seal_envelope_keeps(const char *name)
{
	static const char *const kept[] = { "From", "Sender", "Reply-To", "To", "Cc", "Date", "Message-ID",
		"Subject", "References", "In-Reply-To", "Received", "Return-Path", NULL };

	return strcase_in(name, kept);
}

/* The branding text with {sender} and {org} filled in (raw, not escaped). */
static char *
fill(const char *tpl, const char *sender, const char *org)
{
	struct sbuf b;
	const char *p;

	sbuf_init(&b, 0);
	for (p = tpl; *p; p++) {
		if (strncmp(p, "{sender}", 8) == 0) {
			sbuf_adds(&b, sender);
			p += 7;
		} else if (strncmp(p, "{org}", 5) == 0) {
			sbuf_adds(&b, org);
			p += 4;
		} else {
			sbuf_addc(&b, *p);
		}
	}
	return sbuf_steal(&b);
}

static const char *
org_of(const struct seal_template *t)
{
	return t->branding && t->branding->org_name ? t->branding->org_name : "our organisation";
}

static char *
intro_text(const struct seal_template *t, const char *sender)
{
	const char *tpl = t->branding && t->branding->intro ? t->branding->intro
	    : "{sender} has sent you a protected message.";

	return fill(tpl, sender && *sender ? sender : "Someone", org_of(t));
}

char *
seal_envelope_subject(const struct seal_template *t, const char *sender)
{
	char *s = intro_text(t, sender), *p;

	/* One line, well within the 998-character limit of a header line
	 * (an intro with several {sender} could pass it). */
	for (p = s; p && *p; p++)
		if (*p == '\r' || *p == '\n')
			*p = ' ';
	if (s && strlen(s) > SUBJECT_MAX) {
		size_t n = SUBJECT_MAX;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;       /* never cut a UTF-8 character */
		s[n] = '\0';
	}
	return s;
}

static void
html_escape(struct sbuf *b, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&': sbuf_adds(b, "&amp;"); break;
		case '<': sbuf_adds(b, "&lt;"); break;
		case '>': sbuf_adds(b, "&gt;"); break;
		case '"': sbuf_adds(b, "&quot;"); break;
		case '\'': sbuf_adds(b, "&#39;"); break;
		case '\n': sbuf_adds(b, "<br>"); break;
		default: sbuf_addc(b, *s);
		}
	}
}

/* Quoted-printable (RFC 2045), CRLF line ends, lines of at most 76 characters. */
void
qp_encode(struct sbuf *out, const char *s)
{
	size_t col = 0;

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char enc[4];
		size_t w;
		if (c == '\n') {
			sbuf_adds(out, "\r\n");
			col = 0;
			continue;
		}
		if (c == '\r')
			continue;
		if ((c >= 33 && c <= 126 && c != '=') || (c == ' ' && s[1] != '\n' && s[1] != '\r' && s[1] != '\0')) {
			enc[0] = (char)c;
			w = 1;
		} else {
			snprintf(enc, sizeof(enc), "=%02X", c);
			w = 3;
		}
		if (col + w > 75) {
			sbuf_adds(out, "=\r\n");
			col = 0;
		}
		sbuf_add(out, enc, w);
		col += w;
	}
	sbuf_adds(out, "\r\n");
}

static void
base64_lines(struct sbuf *out, const unsigned char *p, size_t n)
{
	unsigned char line[80];
	size_t i;

	for (i = 0; i < n; i += 57) {
		size_t chunk = n - i < 57 ? n - i : 57;
		int w = EVP_EncodeBlock(line, p + i, (int)chunk);
		sbuf_add(out, line, (size_t)w);
		sbuf_adds(out, "\r\n");
	}
}

/* Read until buf is full or the input ends; *failed on a read error (an
 * empty memory BIO says "retry" at its end, which is not one). */
static size_t
read_full(BIO *in, unsigned char *buf, size_t n, int *failed)
{
	size_t got = 0;
	int r = 1;

	while (got < n && (r = BIO_read(in, buf + got, (int)(n - got))) > 0)
		got += (size_t)r;
	*failed = r < 0 && !BIO_should_retry(in);
	return got;
}

/* The sealed object, base64 in lines of 76 characters, as it streams: whole
 * 57-byte groups at a time, so every line but the last is complete. */
static int
base64_stream(BIO *in, BIO *out)
{
	unsigned char buf[57 * 256];
	struct sbuf b;
	size_t n;
	int failed = 0, rc = 0;

	sbuf_init(&b, 0);
	while (rc == 0 && (n = read_full(in, buf, sizeof(buf), &failed)) > 0) {
		sbuf_reset(&b);
		base64_lines(&b, buf, n);
		/* A line lost to a failed append would corrupt the object: never write part of it. */
		if (b.data == NULL || b.oom || BIO_write(out, b.data, (int)b.len) != (int)b.len)
			rc = -1;
		if (n < sizeof(buf))
			break;
	}
	sbuf_free(&b);
	return failed ? -1 : rc;
}

static int
boundary(char out[40], const char *tag)
{
	unsigned char r[12];
	size_t i;

	if (RAND_bytes(r, sizeof(r)) != 1)
		return -1;
	snprintf(out, 40, "=_seal_%s_", tag);
	for (i = 0; i < sizeof(r); i++)
		snprintf(out + strlen(out), 40 - strlen(out), "%02x", r[i]);
	return 0;
}

int
seal_envelope_write(const struct seal_template *t, const char *sender, const char *link, BIO *der_in, BIO *out,
    char **content_type, char **err)
{
	const struct branding *br = t->branding;
	char mixed[40], alt[40], rel[40];
	char *intro = intro_text(t, sender);
	const char *button = br && br->button ? br->button : "Read the message";
	const char *color = br && br->color ? br->color : "#0b5cad";
	struct sbuf b, text, html;
	int rc = -1, logo = br && br->logo;

	*err = NULL;
	*content_type = NULL;
	if (intro == NULL || boundary(mixed, "m") != 0 || boundary(alt, "a") != 0 || boundary(rel, "r") != 0) {
		free(intro);
		*err = strdup("out of memory or randomness");
		return -1;
	}
	/* The notice, as text and as HTML. */
	sbuf_init(&text, 0);
	if (link)
		sbuf_printf(&text, "%s\n\n%s:\n%s\n\nYou will be asked for your e-mail address and a one-time passcode "
		    "that is mailed to you. Inside the organisation, the attachment %s opens with the organisation's "
		    "viewer.\n", intro, button, link, SEALED_FILENAME);
	else
		sbuf_printf(&text, "%s\n\n%s: open the attachment %s with the organisation's viewer, or ask the sender "
		    "for access.\n", intro, button, SEALED_FILENAME);
	if (br && br->disclaimer)
		sbuf_printf(&text, "\n%s\n", br->disclaimer);
	sbuf_init(&html, 0);
	sbuf_adds(&html, "<!DOCTYPE html>\n<html><body style=\"font-family:sans-serif\">\n");
	if (logo)
		sbuf_adds(&html, "<p><img src=\"cid:logo@sealmilter\" alt=\"\"></p>\n");
	sbuf_adds(&html, "<p>");
	html_escape(&html, intro);
	if (link) {
		sbuf_adds(&html, "</p>\n<p><a href=\"");
		html_escape(&html, link);
		sbuf_printf(&html, "\" style=\"background:%s;color:#fff;padding:8px 16px;text-decoration:none\">", color);
		html_escape(&html, button);
		sbuf_adds(&html, "</a></p>\n<p>You will be asked for your e-mail address and a one-time passcode that is "
		    "mailed to you. Inside the organisation, the attachment ");
		html_escape(&html, SEALED_FILENAME);
		sbuf_adds(&html, " opens with the organisation's viewer.</p>\n");
	} else {
		sbuf_printf(&html, "</p>\n<p><span style=\"background:%s;color:#fff;padding:8px 16px\">", color);
		html_escape(&html, button);
		sbuf_adds(&html, "</span></p>\n<p>Open the attachment ");
		html_escape(&html, SEALED_FILENAME);
		sbuf_adds(&html, " with the organisation's viewer.</p>\n");
	}
	if (br && br->disclaimer) {
		sbuf_adds(&html, "<p style=\"font-size:small\">");
		html_escape(&html, br->disclaimer);
		sbuf_adds(&html, "</p>\n");
	}
	sbuf_adds(&html, "</body></html>\n");

	sbuf_init(&b, 0);
	if (text.oom || html.oom || text.data == NULL || html.data == NULL) {
		*err = strdup("out of memory building the protected message");
		goto out;
	}
	sbuf_printf(&b, "This is a protected message: open %s to read it.\r\n\r\n", SEALED_FILENAME);
	sbuf_printf(&b, "--%s\r\nContent-Type: multipart/alternative;\r\n boundary=\"%s\"\r\n\r\n", mixed, alt);
	sbuf_printf(&b, "--%s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n",
	    alt);
	qp_encode(&b, text.data);
	if (logo)
		sbuf_printf(&b, "--%s\r\nContent-Type: multipart/related;\r\n boundary=\"%s\"\r\n\r\n--%s\r\n", alt, rel, rel);
	else
		sbuf_printf(&b, "--%s\r\n", alt);
	sbuf_adds(&b, "Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n");
	qp_encode(&b, html.data);
	if (logo) {
		sbuf_printf(&b, "--%s\r\nContent-Type: %s\r\nContent-ID: <logo@sealmilter>\r\n"
		    "Content-Disposition: inline\r\nContent-Transfer-Encoding: base64\r\n\r\n", rel, br->logo_type);
		base64_lines(&b, br->logo, br->logo_len);
		sbuf_printf(&b, "--%s--\r\n", rel);
	}
	sbuf_printf(&b, "--%s--\r\n", alt);
	if (sbuf_printf(&b, "--%s\r\nContent-Type: %s; name=\"%s\"\r\nContent-Disposition: attachment; filename=\"%s\"\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\n", mixed, SEALED_MEDIA_TYPE, SEALED_FILENAME, SEALED_FILENAME) != 0 ||
	    b.data == NULL || b.oom) {
		*err = strdup("out of memory building the protected message");
		goto out;
	}
	/* The notice, then the sealed object as it streams, then the end. */
	if (BIO_write(out, b.data, (int)b.len) != (int)b.len || base64_stream(der_in, out) != 0 ||
	    BIO_printf(out, "--%s--\r\n", mixed) <= 0 || BIO_flush(out) != 1) {
		*err = strdup("cannot write the protected message");
		goto out;
	}
	if (asprintf(content_type, "multipart/mixed; boundary=\"%s\"", mixed) < 0) {
		*content_type = NULL;
		*err = strdup("out of memory");
		goto out;
	}
	rc = 0;
out:
	free(intro);
	sbuf_free(&b);
	sbuf_free(&text);
	sbuf_free(&html);
	return rc;
}
