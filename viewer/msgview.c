/*
 * msgview.c - take a decrypted original message apart for the web viewer:
 * display header fields, the text body, the HTML body with its cid: images
 * inlined as data: URIs, and the attachments (see msgview.h for the rules).
 *
 * Why not GMime's parser: it keeps every header field and every part as
 * objects (measured: about 100 bytes per header line and 1.3 KB per empty
 * part), so a 64 MiB message made of short lines would cost gigabytes.
 * This file walks the structure itself in one pass over the bytes in
 * memory, with an explicit stack of open boundaries, keeping only the few
 * header fields it needs (as spans of the input); GMime (through
 * mime/hdrdecode.c) decodes header values, Content-Type and
 * Content-Disposition parameters (RFC 2047, RFC 2231) and converts
 * charsets, and its codecs decode base64 and quoted-printable.
 *
 * Calling rules: msgview_parse() on a zeroed or fresh struct msgview, then
 * msgview_free() (also after a failure, when it is a no-op). GMime is
 * initialised through mime_init() (once per process). Thread-safe: no
 * global state of its own.
 * Untrusted input: the whole message, crafted by an outside sender: any
 * bytes (NUL, invalid UTF-8, bare CR), missing, wrong, unclosed or
 * duplicated boundaries, multiparts nested without end, millions of tiny
 * parts or header lines, broken base64 and quoted-printable, unknown
 * charsets, hostile file names and Content-IDs. Memory is bounded by a
 * small multiple of the input (itself capped by max_message), time is
 * linear in it (times the nesting depth for lines that begin with "--"),
 * and recursion by max_depth (and MAX_NEST whatever max_depth says). Every
 * string handed out is valid UTF-8 without NUL; the HTML is not
 * interpreted (it is shown sandboxed), only its cid: URLs are rewritten.
 */
#include "build-config.h"

#include <glib.h>
#include <gmime/gmime.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/buf.h"
#include "common/util.h"
#include "mime/hdrdecode.h"
#include "viewer/msgview.h"

#define MAX_NEST 128             /* hard cap on multipart nesting, whatever max_depth says */
#define HDR_VALUE_CAP 65536      /* bytes of one header value that are decoded */
#define MAX_FILENAME 255         /* bytes of a file name (UTF-8) */
#define MAX_TYPE_HALF 127        /* RFC 6838 4.2: type and subtype names */
#define NAME_CAP 4096            /* bytes of a raw file name or subject looked at */

void
msgview_default_limits(struct msgview_limits *l)
{
	l->max_message = 64u * 1024 * 1024;
	l->max_parts = 500;
	l->max_depth = 20;
	l->max_text = 2u * 1024 * 1024;
	l->max_html = 8u * 1024 * 1024;
	l->max_attachments = 100;
}

/* ---- UTF-8 -------------------------------------------------------------- */

/* p[0..n) as valid UTF-8 without NUL (invalid bytes and NUL become U+FFFD),
 * at most cap bytes, cut before a character that would pass it (*cut is
 * then set). NULL when out of memory. */
static char *
utf8_clean(const char *p, size_t n, size_t cap, int *cut)
{
	const unsigned char *u = (const unsigned char *)p;
	struct sbuf b;
	size_t i = 0, run = 0, used;

	*cut = 0;
	sbuf_init(&b, 0);
	while (i < n) {
		long cp = u[i] == 0 ? -1 : utf8_next(u + i, n - i, &used);
		size_t add = cp < 0 ? 3 : used;

		if (b.len + (i - run) + add > cap) {
			*cut = 1;
			break;
		}
		if (cp >= 0) {
			i += used;
			continue;
		}
		if ((i > run && sbuf_add(&b, p + run, i - run) != 0) || sbuf_add(&b, "\xef\xbf\xbd", 3) != 0) {
			sbuf_free(&b);
			return NULL;
		}
		i++;
		run = i;
	}
	if (i > run && sbuf_add(&b, p + run, i - run) != 0) {
		sbuf_free(&b);
		return NULL;
	}
	return sbuf_steal(&b);
}

/* ---- header blocks ------------------------------------------------------- */

struct span {
	const char *p;           /* NULL when the field is absent */
	size_t n;
};

enum { H_CTYPE, H_CTE, H_DISP, H_CID, H_FROM, H_TO, H_CC, H_DATE, H_SUBJECT, H_MSGID, H_COUNT };

static const char *const hdr_names[H_COUNT] = {
	"Content-Type", "Content-Transfer-Encoding", "Content-Disposition", "Content-ID",
	"From", "To", "Cc", "Date", "Subject", "Message-ID",
};

struct hdrs {
	struct span f[H_COUNT];  /* the first field of each name, value as in the input (folded) */
};

struct frame {
	const char *b;           /* boundary, without trailing white space */
	size_t blen;
	uint32_t hash;
};

struct cand {                    /* a leaf that may become an attachment */
	char *name;              /* file name as given (decoded, maybe invalid UTF-8), or NULL */
	char *subject;           /* message/rfc822: the inner Subject, decoded, or NULL */
	char *ctype;             /* sanitised */
	unsigned char *data;
	size_t size;
	char *cid;               /* an image/ part: its Content-ID without brackets, or NULL */
	size_t refs, refbytes;   /* cid: URLs in the HTML that name it, and their bytes */
	int inlined;
};

struct walker {
	const struct msgview_limits *lim;
	const char *end;
	const char *pos;         /* always at a line start */
	struct frame stack[MAX_NEST];
	size_t nstack, max_nest;
	size_t nparts;
	int stop;                /* max_parts reached */
	int oom;
	struct msgview *out;
	int have_text, have_html;
	struct cand *cands;
	size_t ncands, candcap;
};

static uint32_t
fnv_step(uint32_t h, unsigned char c)
{
	return (h ^ c) * 16777619u;
}

#define FNV_INIT 2166136261u

/* The line at p: its length without the line end (LF or CRLF), and where
 * the next one begins. */
static size_t
line_at(const char *p, const char *end, const char **next)
{
	const char *nl = memchr(p, '\n', (size_t)(end - p));
	size_t n;

	if (nl == NULL) {
		*next = end;
		n = (size_t)(end - p);
	} else {
		*next = nl + 1;
		n = (size_t)(nl - p);
	}
	if (n > 0 && p[n - 1] == '\r')
		n--;
	return n;
}

/* When the line p[0..n) is a delimiter of an open multipart (RFC 2046
 * 5.1.1: "--" boundary, "--" for the close delimiter, then only white
 * space): the index of the innermost such multipart, *close set for a
 * close delimiter. Else -1. */
static int
delimiter(const struct walker *w, const char *p, size_t n, int *close)
{
	uint32_t h = FNV_INIT, hshort = FNV_INIT;
	size_t i;

	if (w == NULL || w->nstack == 0 || n < 2 || p[0] != '-' || p[1] != '-')
		return -1;
	p += 2;
	n -= 2;
	while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t' || p[n - 1] == '\r'))
		n--;
	for (i = 0; i < n; i++) {
		if (i + 2 == n)
			hshort = h;
		h = fnv_step(h, (unsigned char)p[i]);
	}
	for (i = w->nstack; i-- > 0;) {
		const struct frame *f = &w->stack[i];
		if (n == f->blen && h == f->hash && memcmp(p, f->b, n) == 0) {
			*close = 0;
			return (int)i;
		}
		if (n == f->blen + 2 && hshort == f->hash && p[n - 2] == '-' && p[n - 1] == '-' &&
		    memcmp(p, f->b, f->blen) == 0) {
			*close = 1;
			return (int)i;
		}
	}
	return -1;
}

/* Length of the field name when the line p[0..n) is a header field
 * ("name:" with printable ASCII, white space allowed before the colon as in
 * RFC 5322 obs-syntax); 0 when it is not one. *colon is set to it. */
static size_t
field_name(const char *p, size_t n, const char **colon)
{
	size_t i = 0, name;

	while (i < n && (unsigned char)p[i] > 32 && (unsigned char)p[i] < 127 && p[i] != ':')
		i++;
	name = i;
	if (name == 0)
		return 0;
	while (i < n && (p[i] == ' ' || p[i] == '\t'))
		i++;
	if (i >= n || p[i] != ':')
		return 0;
	*colon = p + i;
	return name;
}

/* Read a header block at p: up to an empty line (consumed), a line that is
 * neither a field nor a continuation (the body's first line), a delimiter
 * of an open multipart, or the end. Keeps the first field of each name in
 * hdr_names (top: all of them; else only the Content-* ones). Returns
 * where the body begins. */
static const char *
read_headers(const struct walker *w, const char *p, const char *end, int top, struct hdrs *h)
{
	struct span *cur = NULL;
	int have_field = 0, close;

	memset(h, 0, sizeof(*h));
	while (p < end) {
		const char *next, *colon = NULL;
		size_t n = line_at(p, end, &next), name, k;

		if (n == 0)
			return next;
		if (p[0] == ' ' || p[0] == '\t') {
			if (!have_field)
				return p;
			if (cur)
				cur->n = (size_t)(p + n - cur->p);
			p = next;
			continue;
		}
		if (delimiter(w, p, n, &close) >= 0 || (name = field_name(p, n, &colon)) == 0)
			return p;
		have_field = 1;
		cur = NULL;
		for (k = 0; k < (top ? H_COUNT : H_FROM); k++)
			if (strlen(hdr_names[k]) == name && strncasecmp(p, hdr_names[k], name) == 0) {
				if (h->f[k].p == NULL) {
					h->f[k].p = colon + 1;
					h->f[k].n = (size_t)(p + n - (colon + 1));
					cur = &h->f[k];
				}
				break;
			}
		p = next;
	}
	return end;
}

/* A field's value as a C string (up to HDR_VALUE_CAP bytes; a NUL ends it
 * early), or NULL when absent or out of memory. */
static char *
span_dup(const struct span *s)
{
	if (s->p == NULL)
		return NULL;
	return xstrndup(s->p, s->n < HDR_VALUE_CAP ? s->n : HDR_VALUE_CAP);
}

/* A display field: decoded (RFC 2047) to UTF-8, unfolded, controls made
 * spaces; "" when absent. NULL only when out of memory. */
static char *
display_field(const struct span *s)
{
	char *raw = span_dup(s), *d, *q;
	int cut;

	if (raw == NULL)
		return s->p ? NULL : strdup("");
	d = hdr_decode(raw);
	free(raw);
	if (d == NULL)
		return NULL;
	raw = utf8_clean(d, strlen(d), SIZE_MAX, &cut);
	free(d);
	for (q = raw; q && *q; q++)
		if ((unsigned char)*q < 0x20 || *q == 0x7f)
			*q = ' ';
	return raw;
}

/* ---- sanitising ---------------------------------------------------------- */

/* "type/subtype" when both halves are 1..127 of [a-z0-9.+-] (the type is
 * already lower case); else application/octet-stream. */
static char *
clean_ctype(const char *t)
{
	const char *slash = strchr(t, '/'), *p;
	int ok = slash && slash > t && slash - t <= MAX_TYPE_HALF && slash[1] && strlen(slash + 1) <= MAX_TYPE_HALF;

	for (p = t; ok && *p; p++)
		if (p != slash && !((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '.' ||
		    *p == '+' || *p == '-'))
			ok = 0;
	return strdup(ok ? t : "application/octet-stream");
}

/* A file name that is safe to offer: valid UTF-8 (bytes that are not are
 * read as windows-1252, as mail clients do), path separators, control
 * characters and bidirectional overrides replaced by '_', no leading dots
 * or white space, no trailing white space, at most max bytes at a
 * character boundary. NULL when nothing is left (or out of memory). */
static char *
clean_filename(const char *in, size_t max)
{
	size_t n = strnlen(in, NAME_CAP), i = 0, used, ulen;
	char *conv = NULL;
	const unsigned char *u;
	struct sbuf b;

	if (!g_utf8_validate(in, (gssize)n, NULL) && (conv = mime_to_utf8("windows-1252", in, n, &ulen)) != NULL) {
		in = conv;
		n = ulen;
	}
	u = (const unsigned char *)in;
	sbuf_init(&b, 0);
	while (i < n) {
		long cp = utf8_next(u + i, n - i, &used);
		const char *add = in + i;
		size_t alen = used;

		if (cp < 0) {
			add = "\xef\xbf\xbd";
			alen = 3;
		} else if (cp < 0x20 || cp == '/' || cp == '\\' || (cp >= 0x7f && cp <= 0x9f) ||
		    (cp >= 0x200e && cp <= 0x200f) || (cp >= 0x202a && cp <= 0x202e) ||
		    (cp >= 0x2066 && cp <= 0x2069) || cp == 0x061c) {
			add = "_";
			alen = 1;
		} else if (b.len == 0 && (cp == '.' || cp == ' ')) {     /* a tab is a control: '_' above */
			alen = 0;
		}
		i += used;
		if (b.len + alen > max)
			break;
		if (alen && sbuf_add(&b, add, alen) != 0) {
			sbuf_free(&b);
			free(conv);
			return NULL;
		}
	}
	free(conv);
	while (b.len > 0 && b.data[b.len - 1] == ' ')
		b.data[--b.len] = '\0';
	if (b.len == 0) {
		sbuf_free(&b);
		return NULL;
	}
	return sbuf_steal(&b);
}

/* ---- leaves -------------------------------------------------------------- */

/* The content p[0..n) with its Content-Transfer-Encoding undone (base64 and
 * quoted-printable; anything else is taken as it is). malloc'd, *outlen set. */
static unsigned char *
decode_cte(const struct span *cte, const char *p, size_t n, size_t *outlen)
{
	char *v = span_dup(cte), *t;
	unsigned char *out = malloc(n + 4);
	int state = 0, kind = 0;
	guint32 save = 0;

	if (v) {
		t = unfold_trim(v);
		if (t && strncasecmp(t, "base64", 6) == 0 && (t[6] == '\0' || t[6] == ' ' || t[6] == ';'))
			kind = 1;
		else if (t && strncasecmp(t, "quoted-printable", 16) == 0 && (t[16] == '\0' || t[16] == ' ' || t[16] == ';'))
			kind = 2;
		free(t);
		free(v);
	}
	if (out == NULL)
		return NULL;
	if (kind == 1)
		*outlen = g_mime_encoding_base64_decode_step((const unsigned char *)p, n, out, &state, &save);
	else if (kind == 2)
		*outlen = g_mime_encoding_quoted_decode_step((const unsigned char *)p, n, out, &state, &save);
	else {
		if (n)
			memcpy(out, p, n);
		*outlen = n;
	}
	return out;
}

/* Decoded text in charset as clean UTF-8 of at most cap bytes (*cut when
 * more was there). Only a prefix of the input that is sure to give cap
 * bytes is converted. ISO-8859-1 is read as windows-1252, as browsers do. */
static char *
text_utf8(const char *charset, const unsigned char *p, size_t n, size_t cap, int *cut)
{
	size_t take = n, ulen;
	const char *cs = charset;
	char *conv = NULL, *res;
	int cut2 = 0;

	if (cap < (SIZE_MAX - 64) / 4 && n > cap * 4 + 64) {
		take = cap * 4 + 64;     /* UTF-32 needs 4 bytes a character; odder input is cut shorter */
		cut2 = 1;
	}
	if (cs) {
		const char *canon = g_mime_charset_canon_name(cs);
		if (canon && (g_ascii_strcasecmp(canon, "iso-8859-1") == 0 || g_ascii_strcasecmp(canon, "latin1") == 0))
			cs = "windows-1252";
	}
	if (mime_needs_conversion(cs)) {
		conv = mime_to_utf8(cs, (const char *)p, take, &ulen);
		if (conv == NULL)
			return NULL;
		res = utf8_clean(conv, ulen, cap, cut);
		free(conv);
	} else {
		res = utf8_clean((const char *)p, take, cap, cut);
	}
	*cut |= cut2;
	return res;
}

static int
is_type(const char *type, const char *prefix)
{
	return strncmp(type, prefix, strlen(prefix)) == 0;
}

/* A leaf part: the text or HTML body, or an attachment candidate. */
static void
leaf(struct walker *w, const struct hdrs *h, const struct mime_ctype *ct, const char *p, size_t n, int in_alt)
{
	int attach = 0, is_plain = strcmp(ct->type, "text/plain") == 0, is_html = strcmp(ct->type, "text/html") == 0;
	char *disp = span_dup(&h->f[H_DISP]), *name = NULL;
	unsigned char *data;
	size_t dlen;
	struct cand *c;

	if (disp) {
		mime_disposition_parse(disp, &attach, &name);
		free(disp);
	}
	if (name == NULL && ct->name)
		name = strdup(ct->name);
	if ((is_plain || is_html) && !attach && name == NULL) {
		if ((is_plain && w->have_text) || (is_html && w->have_html)) {
			if (in_alt)
				return;      /* another version of a body that is shown */
		} else {
			data = decode_cte(&h->f[H_CTE], p, n, &dlen);
			if (data == NULL) {
				w->oom = 1;
				return;
			}
			if (is_plain) {
				w->have_text = 1;
				w->out->text = text_utf8(ct->charset, data, dlen, w->lim->max_text, &w->out->text_truncated);
				w->oom |= w->out->text == NULL;
			} else {
				int cut = 0;
				w->have_html = 1;
				w->out->html = text_utf8(ct->charset, data, dlen, w->lim->max_html, &cut);
				if (w->out->html == NULL)
					w->oom = 1;
				else if (cut) {
					free(w->out->html);
					w->out->html = NULL;
					w->out->html_dropped = 1;
				}
			}
			free(data);
			return;
		}
	}
	if (w->ncands == w->candcap) {
		size_t nc = w->candcap ? w->candcap * 2 : 8;
		struct cand *cc = realloc(w->cands, nc * sizeof(*cc));
		if (cc == NULL) {
			free(name);
			w->oom = 1;
			return;
		}
		w->cands = cc;
		w->candcap = nc;
	}
	c = &w->cands[w->ncands];
	memset(c, 0, sizeof(*c));
	c->name = name;
	c->ctype = clean_ctype(ct->type);
	c->data = decode_cte(&h->f[H_CTE], p, n, &c->size);
	w->ncands++;
	if (c->ctype == NULL || c->data == NULL) {
		w->oom = 1;
		return;
	}
	if (is_type(c->ctype, "image/") && h->f[H_CID].p) {
		char *v = span_dup(&h->f[H_CID]), *t = v ? unfold_trim(v) : NULL;
		free(v);
		if (t) {
			/* "<id>", perhaps followed by a comment; or a bare id. */
			char *gt = t[0] == '<' ? strchr(t, '>') : NULL;
			if (gt) {
				memmove(t, t + 1, (size_t)(gt - t - 1));
				t[gt - t - 1] = '\0';
			}
			if (*t)
				c->cid = t;
			else
				free(t);
		}
	}
	if (strcmp(c->ctype, "message/rfc822") == 0 || strcmp(c->ctype, "message/global") == 0) {
		struct hdrs ih;
		const char *e = (const char *)c->data + c->size;
		read_headers(NULL, (const char *)c->data, e, 1, &ih);
		c->subject = display_field(&ih.f[H_SUBJECT]);
	}
}

/* ---- structure ----------------------------------------------------------- */

/* Content from w->pos up to the next delimiter line of an open multipart,
 * or the end: its extent (without the line end before the delimiter, which
 * belongs to it); w->pos is left at the delimiter line. Returns the index
 * of the multipart whose delimiter it is, or -1 at the end. */
static int
scan_content(struct walker *w, const char **cs, size_t *cn, int *close)
{
	const char *p = w->pos, *next;

	*cs = p;
	*close = 0;
	if (w->nstack > 0) {
		while (p < w->end) {
			size_t n = line_at(p, w->end, &next);
			int i = delimiter(w, p, n, close);
			if (i >= 0) {
				const char *ce = p;
				if (ce > *cs && ce[-1] == '\n' && --ce > *cs && ce[-1] == '\r')
					ce--;
				*cn = (size_t)(ce - *cs);
				w->pos = p;
				return i;
			}
			p = next;
		}
	}
	*cn = (size_t)(w->end - *cs);
	w->pos = w->end;
	return -1;
}

/* A boundary for a multipart that names none: the first line of its body
 * that begins with "--" (RFC 2046 recovery, as mail clients do). */
static char *
guess_boundary(const struct walker *w, const char *p)
{
	const char *next;
	int close;

	while (p < w->end) {
		size_t n = line_at(p, w->end, &next);
		if (delimiter(w, p, n, &close) >= 0)
			return NULL;
		while (n > 2 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (n > 2 && n <= 200 && p[0] == '-' && p[1] == '-')
			return xstrndup(p + 2, n - 2);
		p = next;
	}
	return NULL;
}

static void walk(struct walker *w, size_t depth, const char *defctype, int in_alt);

/* The parts of a multipart whose body begins at w->pos. */
static void
multipart(struct walker *w, const char *boundary, size_t depth, const char *subtype) /* NOLINT(misc-no-recursion): max_nest, MAX_NEST at most */
{
	struct frame *f = &w->stack[w->nstack];
	size_t me = w->nstack, i, blen = strlen(boundary);
	const char *cs, *next;
	size_t cn;
	int which, close;

	while (blen > 0 && (boundary[blen - 1] == ' ' || boundary[blen - 1] == '\t'))
		blen--;
	f->b = boundary;
	f->blen = blen;
	f->hash = FNV_INIT;
	for (i = 0; i < blen; i++)
		f->hash = fnv_step(f->hash, (unsigned char)boundary[i]);
	w->nstack++;
	which = scan_content(w, &cs, &cn, &close);        /* the preamble */
	while (!w->stop && !w->oom && which == (int)me && !close) {
		line_at(w->pos, w->end, &next);
		w->pos = next;
		walk(w, depth + 1, strcmp(subtype, "digest") == 0 ? "message/rfc822" : "text/plain",
		    strcmp(subtype, "alternative") == 0);
		if (w->pos >= w->end)
			break;
		which = delimiter(w, w->pos, line_at(w->pos, w->end, &next), &close);
	}
	w->nstack = me;
	if (which == (int)me && close && !w->stop) {
		line_at(w->pos, w->end, &next);
		w->pos = next;
		scan_content(w, &cs, &cn, &close);        /* the epilogue */
	}
}

/* The entity (header block and body) at w->pos, depth levels down; w->pos
 * ends at the delimiter that ends it, or the end. */
static void
walk(struct walker *w, size_t depth, const char *defctype, int in_alt) /* NOLINT(misc-no-recursion): max_nest, MAX_NEST at most */
{
	struct hdrs h;
	struct mime_ctype ct;
	const char *cs;
	char *raw, *guessed = NULL;
	size_t cn;
	int close;

	if (w->nparts >= w->lim->max_parts) {
		w->stop = 1;
		return;
	}
	w->nparts++;
	w->pos = read_headers(w, w->pos, w->end, 0, &h);
	raw = span_dup(&h.f[H_CTYPE]);
	mime_ctype_parse(raw, defctype, &ct);
	free(raw);
	if (ct.type == NULL) {
		w->oom = 1;
		mime_ctype_free(&ct);
		return;
	}
	if (is_type(ct.type, "multipart/")) {
		const char *b = ct.boundary ? ct.boundary : (guessed = guess_boundary(w, w->pos));
		if (depth >= w->max_nest || w->nstack >= MAX_NEST) {
			scan_content(w, &cs, &cn, &close);    /* too deep: skipped */
		} else if (b) {
			multipart(w, b, depth, ct.type + 10);
		} else {
			free(ct.type);
			ct.type = strdup("text/plain");      /* no boundary at all: show it as text */
			if (ct.type == NULL)
				w->oom = 1;
			else {
				scan_content(w, &cs, &cn, &close);
				leaf(w, &h, &ct, cs, cn, in_alt);
			}
		}
	} else {
		scan_content(w, &cs, &cn, &close);
		leaf(w, &h, &ct, cs, cn, in_alt);
	}
	free(guessed);
	mime_ctype_free(&ct);
}

/* ---- cid: images ---------------------------------------------------------- */

static int
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

/* The next cid: URL at or after *pos that stands as an attribute value or
 * in a CSS url() (after '=' or '(', perhaps quoted) and names an image with
 * that Content-ID (RFC 2392: percent-decoded, compared case-sensitively):
 * the image's index, with [*start, *end) the "cid:..." text. -1 when there
 * is none left, -2 when out of memory. *pos moves past what was read. */
static long
next_ref(const char *html, size_t len, size_t *pos, GHashTable *ids, struct sbuf *tmp, size_t *start, size_t *end)
{
	size_t i = *pos;

	while (i + 4 <= len) {
		size_t k = i, e, j, back = 0;
		gpointer v;

		if ((html[i] != 'c' && html[i] != 'C') || g_ascii_strncasecmp(html + i, "cid:", 4) != 0) {
			i++;
			continue;
		}
		while (k > 0 && back < 64 && is_space(html[k - 1])) {
			k--;
			back++;
		}
		if (k > 0 && (html[k - 1] == '"' || html[k - 1] == '\'')) {
			k--;
			while (k > 0 && back < 128 && is_space(html[k - 1])) {
				k--;
				back++;
			}
		}
		e = i + 4;
		while (e < len && html[e] != '\0' && !is_space(html[e]) && strchr("\"'<>()", html[e]) == NULL)
			e++;
		if (k == 0 || (html[k - 1] != '=' && html[k - 1] != '(') || e == i + 4) {
			i = e;
			continue;
		}
		sbuf_reset(tmp);
		for (j = i + 4; j < e; j++) {
			char c = html[j];
			int hi, lo;
			if (c == '%' && e - j > 2 && (hi = hex_digit(html[j + 1])) >= 0 && (lo = hex_digit(html[j + 2])) >= 0) {
				c = (char)(hi * 16 + lo);
				j += 2;
			}
			if (sbuf_addc(tmp, c) != 0) {
				*pos = len;
				return -2;
			}
		}
		if (memchr(tmp->data, '\0', tmp->len) == NULL && g_hash_table_lookup_extended(ids, tmp->data, NULL, &v)) {
			*start = i;
			*end = e;
			*pos = e;
			return (long)GPOINTER_TO_SIZE(v);
		}
		i = e;
	}
	*pos = len;
	return -1;
}

/* p[0..n) in base64, without line breaks, appended to b. */
static int
add_base64(struct sbuf *b, const unsigned char *p, size_t n)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t olen = (n + 2) / 3 * 4, i, o = 0;
	char *out = malloc(olen + 1);
	int rc;

	if (out == NULL)
		return -1;
	for (i = 0; i + 3 <= n; i += 3) {
		unsigned long v = ((unsigned long)p[i] << 16) | ((unsigned long)p[i + 1] << 8) | p[i + 2];
		out[o++] = tab[(v >> 18) & 63];
		out[o++] = tab[(v >> 12) & 63];
		out[o++] = tab[(v >> 6) & 63];
		out[o++] = tab[v & 63];
	}
	if (n - i == 1) {
		unsigned long v = (unsigned long)p[i] << 16;
		out[o++] = tab[(v >> 18) & 63];
		out[o++] = tab[(v >> 12) & 63];
		out[o++] = '=';
		out[o++] = '=';
	} else if (n - i == 2) {
		unsigned long v = ((unsigned long)p[i] << 16) | ((unsigned long)p[i + 1] << 8);
		out[o++] = tab[(v >> 18) & 63];
		out[o++] = tab[(v >> 12) & 63];
		out[o++] = tab[(v >> 6) & 63];
		out[o++] = '=';
	}
	rc = sbuf_add(b, out, o);
	free(out);
	return rc;
}

/* Replace the cid: URLs of images in the HTML by data: URIs, image by image
 * (in the order of the parts) as long as the HTML stays within max_html;
 * an image that does not fit keeps its cid: URL and stays an attachment. */
static void
inline_images(struct walker *w)
{
	struct msgview *v = w->out;
	size_t len, size, pos, start = 0, end = 0, last = 0, i, max = w->lim->max_html;
	struct sbuf tmp, out;
	GHashTable *ids;
	int any = 0;
	long idx = -1;

	if (v->html == NULL || w->ncands == 0)
		return;
	ids = g_hash_table_new(g_str_hash, g_str_equal);
	for (i = 0; i < w->ncands; i++)
		if (w->cands[i].cid && !g_hash_table_contains(ids, w->cands[i].cid))
			g_hash_table_insert(ids, w->cands[i].cid, GSIZE_TO_POINTER(i));
	len = strlen(v->html);
	sbuf_init(&tmp, 0);
	sbuf_init(&out, 0);
	pos = 0;
	if (g_hash_table_size(ids) > 0)
		while ((idx = next_ref(v->html, len, &pos, ids, &tmp, &start, &end)) >= 0) {
			w->cands[idx].refs++;
			w->cands[idx].refbytes += end - start;
		}
	size = len;
	for (i = 0; i < w->ncands; i++) {
		struct cand *c = &w->cands[i];
		size_t d, base;
		if (c->refs == 0)
			continue;
		base = size - c->refbytes;
		if (c->size > max || c->size > SIZE_MAX / 2)
			continue;     /* its data: URI is longer still */
		d = strlen("data:;base64,") + strlen(c->ctype) + (c->size + 2) / 3 * 4;
		if (base > max || d > max || c->refs > (max - base) / d)
			continue;
		c->inlined = 1;
		size = base + c->refs * d;
		any = 1;
	}
	pos = 0;
	while (any && (idx = next_ref(v->html, len, &pos, ids, &tmp, &start, &end)) >= 0) {
		struct cand *c = &w->cands[idx];
		if (!c->inlined)
			continue;
		if (sbuf_add(&out, v->html + last, start - last) != 0 || sbuf_adds(&out, "data:") != 0 ||
		    sbuf_adds(&out, c->ctype) != 0 || sbuf_adds(&out, ";base64,") != 0 ||
		    add_base64(&out, c->data, c->size) != 0) {
			w->oom = 1;
			break;
		}
		last = end;
	}
	if (any && !w->oom) {
		if (sbuf_add(&out, v->html + last, len - last) != 0)
			w->oom = 1;
		else {
			free(v->html);
			v->html = sbuf_steal(&out);
		}
	}
	if (idx == -2)
		w->oom = 1;
	sbuf_free(&out);
	sbuf_free(&tmp);
	g_hash_table_destroy(ids);
}

/* ---- the result ----------------------------------------------------------- */

static int
ends_with_eml(const char *s)
{
	size_t n = strlen(s);

	return n >= 4 && g_ascii_strcasecmp(s + n - 4, ".eml") == 0;
}

/* The file name of attachment number n (from 1). */
static char *
att_name(const struct cand *c, size_t n)
{
	char *name = NULL, *s = NULL;

	if (strcmp(c->ctype, "message/rfc822") == 0 || strcmp(c->ctype, "message/global") == 0) {
		if (c->subject && *c->subject)
			name = clean_filename(c->subject, MAX_FILENAME - 4);
		if (name == NULL && c->name)
			name = clean_filename(c->name, MAX_FILENAME - 4);
		if (name && ends_with_eml(name))
			return name;
		if (name == NULL)
			return asprintf(&s, "attachment-%zu.eml", n) < 0 ? NULL : s;
		if (asprintf(&s, "%s.eml", name) < 0)
			s = NULL;
		free(name);
		return s;
	}
	if (c->name && (name = clean_filename(c->name, MAX_FILENAME)) != NULL)
		return name;
	return asprintf(&s, "attachment-%zu", n) < 0 ? NULL : s;
}

static void
finish_attachments(struct walker *w)
{
	struct msgview *v = w->out;
	size_t i, want = 0;

	for (i = 0; i < w->ncands; i++)
		want += !w->cands[i].inlined;
	if (want > w->lim->max_attachments) {
		want = w->lim->max_attachments;
		v->att_dropped = 1;
	}
	if (want == 0 || w->oom)
		return;
	v->att = calloc(want, sizeof(*v->att));
	if (v->att == NULL) {
		w->oom = 1;
		return;
	}
	for (i = 0; i < w->ncands && v->natt < want; i++) {
		struct cand *c = &w->cands[i];
		struct msgview_attachment *a = &v->att[v->natt];
		if (c->inlined)
			continue;
		if ((a->filename = att_name(c, v->natt + 1)) == NULL) {
			w->oom = 1;
			return;
		}
		a->content_type = c->ctype;
		a->data = c->data;
		a->size = c->size;
		c->ctype = NULL;
		c->data = NULL;
		v->natt++;
	}
}

static int
fail(char **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
fail(char **err, const char *fmt, ...)
{
	va_list ap;

	if (err) {
		va_start(ap, fmt);
		if (vasprintf(err, fmt, ap) < 0)
			*err = NULL;
		va_end(ap);
	}
	return -1;
}

int
msgview_parse(const void *raw, size_t len, const struct msgview_limits *lim, struct msgview *out, char **err)
{
	const char *p = raw, *end = p + len, *next, *colon;
	struct walker w;
	struct hdrs top;
	size_t i, n;

	memset(out, 0, sizeof(*out));
	if (err)
		*err = NULL;
	if (len > lim->max_message)
		return fail(err, "message is %zu bytes, over the viewer's limit of %zu", len, lim->max_message);
	if (len == 0)
		return fail(err, "the message is empty");
	mime_init();
	if (len >= 5 && memcmp(p, "From ", 5) == 0) {
		line_at(p, end, &next);     /* an mbox From_ line */
		p = next;
	}
	if (p < end && (n = line_at(p, end, &next)) > 0 && field_name(p, n, &colon) == 0)
		return fail(err, "not a message: it does not begin with a header field");
	memset(&w, 0, sizeof(w));
	w.lim = lim;
	w.end = end;
	w.pos = p;
	w.out = out;
	w.max_nest = lim->max_depth < MAX_NEST ? lim->max_depth : MAX_NEST;
	read_headers(NULL, p, end, 1, &top);
	if ((out->from = display_field(&top.f[H_FROM])) == NULL || (out->to = display_field(&top.f[H_TO])) == NULL ||
	    (out->cc = display_field(&top.f[H_CC])) == NULL || (out->date = display_field(&top.f[H_DATE])) == NULL ||
	    (out->subject = display_field(&top.f[H_SUBJECT])) == NULL ||
	    (out->message_id = display_field(&top.f[H_MSGID])) == NULL)
		w.oom = 1;
	if (!w.oom)
		walk(&w, 0, "text/plain", 0);
	if (!w.oom)
		inline_images(&w);
	if (!w.oom)
		finish_attachments(&w);
	for (i = 0; i < w.ncands; i++) {
		free(w.cands[i].name);
		free(w.cands[i].subject);
		free(w.cands[i].ctype);
		free(w.cands[i].data);
		free(w.cands[i].cid);
	}
	free(w.cands);
	if (w.oom) {
		msgview_free(out);
		return fail(err, "out of memory while reading the message");
	}
	return 0;
}

void
msgview_free(struct msgview *v)
{
	size_t i;

	if (v == NULL)
		return;
	free(v->from);
	free(v->to);
	free(v->cc);
	free(v->date);
	free(v->subject);
	free(v->message_id);
	free(v->text);
	free(v->html);
	for (i = 0; i < v->natt; i++) {
		free(v->att[i].filename);
		free(v->att[i].content_type);
		free(v->att[i].data);
	}
	free(v->att);
	memset(v, 0, sizeof(*v));
}
