/* texts.h - every text sealview shows, in one catalogue, so that a
 * translation is one more table (texts.c). Texts are plain: pages escape
 * them like any other value. Each %s marks where a value goes, in order. */
#ifndef VIEWER_TEXTS_H
#define VIEWER_TEXTS_H

enum text_id {
	T_TITLE,                /* "Protected message" */
	T_FROM_ORG,             /* "A protected message from %s" */
	T_ADDRESS_INTRO,
	T_ADDRESS_LABEL,
	T_SEND_CODE,
	T_CODE_INTRO,           /* "If %s may read this message, a passcode is on its way ..." */
	T_CODE_REF,             /* "Reference code" */
	T_CODE_LABEL,
	T_CODE_SUBMIT,
	T_CODE_AGAIN,
	T_CODE_BAD,
	T_RATE_LIMITED,
	T_NOT_FOUND,
	T_EXPIRED,
	T_REVOKED,
	T_ERROR,
	T_BAD_FORM,
	T_H_FROM, T_H_TO, T_H_CC, T_H_DATE, T_H_SUBJECT,
	T_RIGHTS,               /* "What you may do" */
	T_EXPIRES,              /* "Expires" */
	T_NEVER,
	T_ATTACHMENTS,
	T_NO_SAVE,
	T_HTML_TITLE,
	T_HTML_DROPPED,
	T_TEXT_TRUNCATED,
	T_PRINTABLE,
	T_REPLY,
	T_REPLY_LABEL,
	T_REPLY_SEND,
	T_REPLY_SENT,
	T_SIGN_OUT,
	T_SIGNED_IN_AS,         /* "Signed in as %s" */
	T_NO_COPY,
	T_MAIL_SUBJECT,         /* passcode mail subject: "Your passcode (reference %s)" */
	T_MAIL_BODY,            /* passcode mail body: code, reference, minutes */
	T_FORWARD, T_FORWARD_LABEL, T_FORWARD_SEND, T_FORWARD_NOTE,
	T_FORWARDED,            /* "The message was forwarded to %s." */
	T_FWD_MAIL_SUBJECT,     /* "%s shared a protected message with you" */
	T_FWD_MAIL_BODY,        /* who, link */
	T_R_VIEW, T_R_REPLY, T_R_REPLY_ALL, T_R_FORWARD, T_R_PRINT, T_R_COPY, T_R_SAVE, T_R_EDIT,
	T_COUNT
};

const char *text(enum text_id id);
struct sbuf;
/* Append text id with each %s replaced by the next of args (missing: ""),
 * HTML-escaped (texts and values) when html is 1. 0 or -1. */
int text_fill(struct sbuf *b, int html, enum text_id id, const char *a1, const char *a2, const char *a3);

#endif
