/*
 * texts.c - the catalogue of sealview's texts (English). A translation is
 * a second table of the same shape, chosen by text().
 *
 * Calling rules: read-only data. Untrusted input: none.
 */
#include "build-config.h"

#include <string.h>

#include "common/buf.h"
#include "viewer/html.h"
#include "viewer/texts.h"

static const char *const en[T_COUNT] = {
	[T_TITLE] = "Protected message",
	[T_FROM_ORG] = "A protected message from %s",
	/* NOLINTNEXTLINE(bugprone-suspicious-missing-comma): long texts are split, one an index */
	[T_ADDRESS_INTRO] = "To read this message, confirm that it was sent to you. Enter your e-mail address, and "
	    "we will mail you a one-time passcode.",
	[T_ADDRESS_LABEL] = "Your e-mail address",
	[T_SEND_CODE] = "Send me a passcode",
	[T_CODE_INTRO] = "If %s may read this message, a passcode is on its way to that address. It is valid for "
	    "%s minutes and can be used once.",
	[T_CODE_REF] = "Reference code (the mail shows the same)",
	[T_CODE_LABEL] = "Passcode (8 digits)",
	[T_CODE_SUBMIT] = "Open the message",
	[T_CODE_AGAIN] = "Use another address, or send a new passcode",
	[T_CODE_BAD] = "That passcode is not valid, or it has expired. Check the latest passcode mail, or ask for a new "
	    "passcode.",
	[T_RATE_LIMITED] = "Too many attempts. Please wait 15 minutes and try again.",
	[T_NOT_FOUND] = "This link is not valid. Check that you copied all of it.",
	[T_EXPIRED] = "This message has expired and can no longer be read.",
	[T_REVOKED] = "The sender has revoked this message. It can no longer be read.",
	[T_ERROR] = "Something went wrong on our side. Please try again in a few minutes.",
	[T_BAD_FORM] = "The form had expired. Please try again.",
	[T_H_FROM] = "From",
	[T_H_TO] = "To",
	[T_H_CC] = "Cc",
	[T_H_DATE] = "Date",
	[T_H_SUBJECT] = "Subject",
	[T_RIGHTS] = "What you may do",
	[T_EXPIRES] = "Expires",
	[T_NEVER] = "never",
	[T_ATTACHMENTS] = "Attachments",
	[T_NO_SAVE] = "The sender does not allow attachments to be downloaded.",
	[T_HTML_TITLE] = "The formatted message",
	[T_HTML_DROPPED] = "The formatted version of this message is too large to show; the text version is below.",
	[T_TEXT_TRUNCATED] = "The text is too long to show in full.",
	[T_PRINTABLE] = "Printable version",
	[T_REPLY] = "Reply to the sender",
	[T_REPLY_LABEL] = "Your reply",
	[T_REPLY_SEND] = "Send the reply",
	[T_REPLY_SENT] = "Your reply was sent.",
	[T_SIGN_OUT] = "Sign out",
	[T_SIGNED_IN_AS] = "Signed in as %s",
	[T_NO_COPY] = "The sender does not allow copying from this message.",
	[T_MAIL_SUBJECT] = "Your passcode for a protected message (reference %s)",
	[T_MAIL_BODY] = "Your one-time passcode is: %s\r\n\r\nReference code: %s (the page you came from shows the "
	    "same code).\r\nIt is valid for %s minutes and can be used once.\r\n\r\nIf you did not ask for it, ignore "
	    "this mail.\r\n",
	[T_FORWARD] = "Forward this message",
	[T_FORWARD_LABEL] = "Their e-mail address",
	[T_FORWARD_SEND] = "Forward",
	[T_FORWARD_NOTE] = "They get a link by mail, and can read the message with a passcode of their own, as you do.",
	[T_FORWARDED] = "The message was forwarded to %s.",
	[T_FWD_MAIL_SUBJECT] = "%s shared a protected message with you",
	[T_FWD_MAIL_BODY] = "%s has shared a protected message with you.\r\n\r\nRead it here:\r\n%s\r\n\r\nYou will "
	    "be asked for your e-mail address and a one-time passcode that is mailed to you.\r\n",
	[T_R_VIEW] = "read",
	[T_R_REPLY] = "reply",
	[T_R_REPLY_ALL] = "reply to all",
	[T_R_FORWARD] = "forward",
	[T_R_PRINT] = "print",
	[T_R_COPY] = "copy text",
	[T_R_SAVE] = "download attachments",
	[T_R_EDIT] = "edit",
};

const char *
text(enum text_id id)
{
	return id < T_COUNT && en[id] ? en[id] : "";
}

int
text_fill(struct sbuf *b, int html, enum text_id id, const char *a1, const char *a2, const char *a3)
{
	const char *args[3] = { a1, a2, a3 }, *t = text(id), *p;
	size_t used = 0;
	int rc = 0;

	while ((p = strstr(t, "%s")) != NULL) {
		const char *v = used < 3 && args[used] ? args[used] : "";
		used++;
		rc |= html ? html_escape(b, t, (size_t)(p - t)) : sbuf_add(b, t, (size_t)(p - t));
		rc |= html ? html_escapes(b, v) : sbuf_adds(b, v);
		t = p + 2;
	}
	rc |= html ? html_escapes(b, t) : sbuf_adds(b, t);
	return rc ? -1 : 0;
}
