/*
 * mimescan.c - walk a message body as it streams in, without building a
 * tree: find every MIME part, its type, file name and decoded size, and
 * collect the decoded text of text parts (up to a cap) for body conditions.
 *
 * Why not GMime's parser: it recurses once per nesting level and has no
 * depth limit, so a small hostile message could exhaust the stack; and it
 * wants the whole message. This scanner keeps an explicit stack of
 * boundaries (bounded by max_depth), memory bounded by the line cap, the
 * part-header cap and text_max, and it never looks back.
 *
 * Calling rules: mimescan_header() for the top-level headers, then
 * mimescan_feed() with the body, then mimescan_finish(); one thread.
 * Untrusted input: everything. Missing or wrong boundaries, bad base64,
 * bad quoted-printable, unknown charsets, NUL bytes and endless lines are
 * all tolerated; the result is a best reading plus a "malformed" note, and
 * passing a structural limit is reported as a limit error.
 */
#include "build-config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/buf.h"
#include "common/util.h"
#include "mime/hdrdecode.h"
#include "mime/mimescan.h"

#define LINE_CAP 8192          /* longer lines are content, never boundaries */
#define PART_HEADER_CAP 65536  /* bytes of one part's headers that are read */
#define MAX_BOUNDARY 4000      /* RFC 2046 allows 70; a delimiter line must fit LINE_CAP */
#define PART_CHUNK (1u << 20)  /* part text is converted to UTF-8 in chunks of this size */
#define MAX_OVERLAP 65536      /* text kept from one window to the next */

enum state { S_HEADERS, S_BODY, S_PREAMBLE, S_EPILOGUE };
enum cte { CTE_IDENTITY, CTE_BASE64, CTE_QP, CTE_OOM };   /* CTE_OOM: could not be read (out of memory) */

struct frame {
	char *boundary;
	size_t blen;
	int digest;               /* multipart/digest: parts default to message/rfc822 */
	unsigned depth;           /* nesting depth of this multipart's parts */
};

struct mimescan {
	struct mimescan_limits lim;
	enum state state;
	struct frame *frames;
	size_t nframes;
	unsigned depth;           /* frames plus message/rfc822 levels */
	int top_begun;

	/* The current part's headers. */
	char *h_ctype, *h_cte, *h_disp;
	struct sbuf hdrs;         /* raw header block of a nested part */
	int hdrs_over;
	const char *default_ctype;

	/* The current leaf part. */
	int in_leaf;
	enum cte cte;
	int is_text;
	char *charset;
	struct sbuf parttext;     /* decoded text of this part, before charset conversion */
	int is_html;              /* text/html: body conditions see its text, not its markup */
	int h_state;              /* html_text() state, kept across chunks */
	char h_buf[16];           /* a tag name or an entity being read */
	size_t h_len;
	uint32_t b64acc;
	int b64n;
	size_t leaf_index;

	/* The line being assembled. */
	struct sbuf line;
	int line_partial;         /* the current line continues one cut at LINE_CAP */
	size_t pend_fi;           /* an over-long line that so far is a delimiter padded with white space */
	int pend_close;
	struct sbuf pending;      /* its first piece, in case it turns out to be content */

	/* Results. */
	struct sbuf text;         /* the current window of decoded text */
	int text_truncated;       /* earlier text was handed to on_window (or dropped without one) */
	void (*on_window)(void *, const char *, size_t);
	void *window_arg;

	/* Capturing one part's content (mimescan_capture). */
	char *cap_type;
	struct sbuf cap;
	int capturing, cap_done, cap_over;
	struct part_info *parts;
	size_t nparts, partcap;
	unsigned part_count;
	char *limit_error;
	char *malformed;
	int dead;                 /* a limit was passed: ignore the rest */
	int oom;                  /* out of memory: the scan is incomplete (the message is deferred) */
};

struct mimescan *
mimescan_new(const struct mimescan_limits *lim)
{
	struct mimescan *ms = calloc(1, sizeof(*ms));

	if (ms == NULL)
		return NULL;
	ms->lim = *lim;
	ms->state = S_BODY;
	ms->default_ctype = "text/plain";
	sbuf_init(&ms->hdrs, PART_HEADER_CAP);
	sbuf_init(&ms->parttext, PART_CHUNK);
	sbuf_init(&ms->line, LINE_CAP);    /* line_add() never passes it */
	sbuf_init(&ms->pending, LINE_CAP);
	sbuf_init(&ms->text, lim->text_max ? lim->text_max : 1);
	return ms;
}

/* Out of memory: stop, and say so (the message is deferred, never judged
 * on a partial scan). */
static void
oom(struct mimescan *ms)
{
	ms->oom = 1;
	ms->dead = 1;
}

static void
note_malformed(struct mimescan *ms, const char *what)
{
	if (ms->malformed == NULL && (ms->malformed = strdup(what)) == NULL)
		oom(ms);
}

/* Record that a limit was passed: what, and the limit's value. */
static void
limit(struct mimescan *ms, const char *what, unsigned v)
{
	if (ms->limit_error == NULL && asprintf(&ms->limit_error, "%s (%u)", what, v) < 0) {
		ms->limit_error = NULL;
		oom(ms);
	}
	ms->dead = 1;
}

int
mimescan_oom(const struct mimescan *ms)
{
	return ms->oom;
}

void
mimescan_header(struct mimescan *ms, const char *name, const char *value)
{
	char **slot = NULL;

	if (strcasecmp(name, "Content-Type") == 0)
		slot = &ms->h_ctype;
	else if (strcasecmp(name, "Content-Transfer-Encoding") == 0)
		slot = &ms->h_cte;
	else if (strcasecmp(name, "Content-Disposition") == 0)
		slot = &ms->h_disp;
	if (slot == NULL)
		return;
	if (*slot != NULL) {
		/* Readers disagree on which of two fields counts (GMime takes the
		 * last, others the first), so a sender could show the recipient a
		 * part the policy never saw: refuse to guess. */
		char what[96];
		snprintf(what, sizeof(what), "two %s fields in one MIME part (ambiguous); at depth", name);
		limit(ms, what, ms->depth);
		return;
	}
	if ((*slot = strdup(value)) == NULL)
		oom(ms);
}

static void
clear_part_headers(struct mimescan *ms)
{
	free(ms->h_ctype);
	free(ms->h_cte);
	free(ms->h_disp);
	ms->h_ctype = ms->h_cte = ms->h_disp = NULL;
}

void
mimescan_capture(struct mimescan *ms, const char *ctype, size_t max)
{
	free(ms->cap_type);
	if ((ms->cap_type = strdup(ctype)) == NULL)
		oom(ms);
	sbuf_free(&ms->cap);
	sbuf_init(&ms->cap, max);
}

const char *
mimescan_captured(const struct mimescan *ms, size_t *len, int *over)
{
	*over = ms->cap_over;
	*len = ms->cap.len;
	return ms->cap_done && !ms->cap_over ? (ms->cap.data ? ms->cap.data : "") : NULL;
}

void
mimescan_on_window(struct mimescan *ms, void (*fn)(void *, const char *, size_t), void *arg)
{
	ms->on_window = fn;
	ms->window_arg = arg;
}

/* Append decoded text. When the window is full it is handed to on_window
 * and the last part of it is kept, so a match across the cut is found in
 * the next window; without on_window, text past text_max is dropped. */
static void
text_add(struct mimescan *ms, const char *p, size_t n)
{
	size_t max = ms->lim.text_max, room, keep;

	if (max == 0) {
		ms->text_truncated |= n > 0;
		return;
	}
	while (n > 0) {
		room = max - ms->text.len;
		if (n <= room) {
			if (sbuf_add(&ms->text, p, n) != 0)
				oom(ms);
			return;
		}
		if (sbuf_add(&ms->text, p, room) != 0) {
			oom(ms);
			return;
		}
		p += room;
		n -= room;
		ms->text_truncated = 1;
		if (ms->on_window == NULL)
			return;
		ms->on_window(ms->window_arg, ms->text.data, ms->text.len);
		keep = max / 4 < MAX_OVERLAP ? max / 4 : MAX_OVERLAP;
		memmove(ms->text.data, ms->text.data + ms->text.len - keep, keep);
		ms->text.len = keep;
		ms->text.data[keep] = '\0';
	}
}

/* ---- HTML to text ------------------------------------------------------- */

enum { H_TEXT, H_LT, H_TAG, H_ENT };

static int
block_tag(const char *name)
{
	static const char *const blocks[] = { "p", "br", "div", "tr", "td", "th", "li", "ul", "ol", "table",
		"h1", "h2", "h3", "h4", "h5", "h6", "hr", "blockquote", "pre", "title", "section", "article", NULL };

	return strcase_in(name, blocks);
}

/* An entity name (without & and ;): its text, or the original when unknown. */
static void
entity(struct sbuf *out, const char *e)
{
	static const struct { const char *name; unsigned long cp; } named[] = {
		{ "amp", '&' }, { "lt", '<' }, { "gt", '>' }, { "quot", '"' }, { "apos", '\'' }, { "nbsp", ' ' },
	};
	size_t i;

	if (e[0] == '#') {
		char *end;
		unsigned long cp = (e[1] == 'x' || e[1] == 'X') ? strtoul(e + 2, &end, 16) : strtoul(e + 1, &end, 10);
		if (*end == '\0' && end != e + 1) {
			sbuf_add_utf8(out, cp);
			return;
		}
	}
	for (i = 0; i < sizeof(named) / sizeof(named[0]); i++)
		if (strcmp(e, named[i].name) == 0) {
			sbuf_add_utf8(out, named[i].cp);
			return;
		}
	sbuf_printf(out, "&%s;", e);
}

/* The text a reader sees in HTML: tags removed (block tags become a space,
 * so words do not run together), entities decoded. A '<' starts a tag only
 * before a letter, '/', '!' or '?' (as in HTML), so "a < b" stays text:
 * reading too much as text is safe, too little would hide words. */
static void
html_text(struct mimescan *ms, const char *p, size_t n, struct sbuf *out)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		switch (ms->h_state) {
		case H_LT:
			if (isalpha(c) || c == '/' || c == '!' || c == '?') {
				ms->h_state = H_TAG;
				ms->h_len = 0;
				if (isalpha(c))
					ms->h_buf[ms->h_len++] = (char)c;
				continue;
			}
			sbuf_addc(out, '<');
			ms->h_state = H_TEXT;
			break;     /* c is text: below */
		case H_TAG:
			if (c == '>') {
				ms->h_buf[ms->h_len] = '\0';
				if (block_tag(ms->h_buf))
					sbuf_addc(out, ' ');
				ms->h_state = H_TEXT;
			} else if (isalnum(c) && ms->h_len > 0 && ms->h_len < sizeof(ms->h_buf) - 1 &&
			    isalnum((unsigned char)ms->h_buf[ms->h_len - 1])) {    /* NOLINT(bugprone-branch-clone): two cases */
				ms->h_buf[ms->h_len++] = (char)c;
			} else if (ms->h_len > 0 && ms->h_len < sizeof(ms->h_buf) - 1) {
				ms->h_buf[ms->h_len++] = ' ';     /* the name has ended */
			} else if (ms->h_len == 0 && isalpha(c)) {
				ms->h_buf[ms->h_len++] = (char)c;
			}
			continue;
		case H_ENT:
			if (c == ';' && ms->h_len > 0) {
				ms->h_buf[ms->h_len] = '\0';
				entity(out, ms->h_buf);
				ms->h_state = H_TEXT;
				continue;
			}
			if ((isalnum(c) || (c == '#' && ms->h_len == 0)) && ms->h_len < sizeof(ms->h_buf) - 1) {
				ms->h_buf[ms->h_len++] = (char)c;
				continue;
			}
			sbuf_addc(out, '&');
			sbuf_add(out, ms->h_buf, ms->h_len);
			ms->h_state = H_TEXT;
			break;     /* c is text: below */
		default:
			break;
		}
		if (c == '<') {
			ms->h_state = H_LT;
		} else if (c == '&') {
			ms->h_state = H_ENT;
			ms->h_len = 0;
		} else {
			sbuf_addc(out, (char)c);
		}
	}
}

/* Pass the collected part text on, as UTF-8 (converted only when its
 * charset needs it: a large body is not copied for nothing). */
static void
flush_part_text(struct mimescan *ms)
{
	size_t ulen = ms->parttext.len;
	const char *t = ms->parttext.data;
	char *u = NULL;

	if (ulen == 0)
		return;
	if (mime_needs_conversion(ms->charset)) {
		u = mime_to_utf8(ms->charset, ms->parttext.data, ms->parttext.len, &ulen);
		t = u;
	}
	if (t && ms->is_html) {
		struct sbuf h;
		sbuf_init(&h, 0);
		html_text(ms, t, ulen, &h);
		text_add(ms, h.data ? h.data : "", h.len);
		sbuf_free(&h);
	} else if (t) {
		text_add(ms, t, ulen);
	}
	free(u);
	sbuf_reset(&ms->parttext);
}

/* ---- leaf parts --------------------------------------------------------- */

static void
leaf_bytes(struct mimescan *ms, const char *p, size_t n)
{
	ms->parts[ms->leaf_index].size += n;
	if (ms->capturing && !ms->cap_over) {
		int rc = sbuf_add(&ms->cap, p, n);
		if (rc == SBUF_OOM)
			oom(ms);
		else if (rc != 0)
			ms->cap_over = 1;
	}
	if (!ms->is_text)
		return;
	if (ms->lim.text_max == 0) {      /* no body condition wants text: none is decoded */
		ms->text_truncated |= n > 0;
		return;
	}
	while (n > 0) {
		size_t room = PART_CHUNK - ms->parttext.len, take = n < room ? n : room;
		if (sbuf_add(&ms->parttext, p, take) != 0) {
			oom(ms);
			return;
		}
		p += take;
		n -= take;
		if (ms->parttext.len == PART_CHUNK)
			flush_part_text(ms);
	}
}

static int
b64val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Emit the bytes of a partial base64 quantum (at padding or the end). */
static size_t
b64_flush(struct mimescan *ms, char *out)
{
	size_t o = 0;

	if (ms->b64n == 2) {
		out[o++] = (char)(ms->b64acc >> 4);
	} else if (ms->b64n == 3) {
		out[o++] = (char)(ms->b64acc >> 10);
		out[o++] = (char)(ms->b64acc >> 2);
	}
	ms->b64n = 0;
	ms->b64acc = 0;
	return o;
}

/* Decode one body line (without its line end) of the current leaf. The
 * line may be any length (over-long lines arrive whole); out is flushed
 * whenever it fills. */
static void
leaf_line(struct mimescan *ms, const char *p, size_t n, int eol)
{
	char out[LINE_CAP + 4];
	size_t o = 0, i;

	switch (ms->cte) {
	case CTE_BASE64:
		for (i = 0; i < n; i++) {
			int v = b64val((unsigned char)p[i]);
			/* Room for the 3 bytes one character can complete. */
			if (o + 3 > sizeof(out)) {
				leaf_bytes(ms, out, o);
				o = 0;
			}
			if (p[i] == '=') {
				o += b64_flush(ms, out + o);
				continue;
			}
			if (v < 0)
				continue;
			ms->b64acc = (ms->b64acc << 6) | (uint32_t)v;
			if (++ms->b64n == 4) {
				out[o++] = (char)(ms->b64acc >> 16);
				out[o++] = (char)(ms->b64acc >> 8);
				out[o++] = (char)ms->b64acc;
				ms->b64n = 0;
				ms->b64acc = 0;
			}
		}
		leaf_bytes(ms, out, o);
		break;
	case CTE_QP: {
		int soft = 0;
		/* Trailing white space is not part of the data (RFC 2045 6.7). */
		while (eol && n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		for (i = 0; i < n; i++) {
			if (p[i] == '=') {
				if (i + 1 == n) {
					soft = 1;
					break;
				}
				if (i + 2 < n && hex_digit((unsigned char)p[i + 1]) >= 0 &&
				    hex_digit((unsigned char)p[i + 2]) >= 0) {
					out[o++] = (char)(hex_digit((unsigned char)p[i + 1]) * 16 + hex_digit((unsigned char)p[i + 2]));
					i += 2;
					if (o + 2 > sizeof(out)) {
						leaf_bytes(ms, out, o);
						o = 0;
					}
					continue;
				}
			}
			out[o++] = p[i];
			if (o + 2 > sizeof(out)) {
				leaf_bytes(ms, out, o);
				o = 0;
			}
		}
		if (eol && !soft)
			out[o++] = '\n';
		leaf_bytes(ms, out, o);
		break;
	}
	default:
		leaf_bytes(ms, p, n);
		if (eol)
			leaf_bytes(ms, "\n", 1);
		break;
	}
}

static void
end_leaf(struct mimescan *ms)
{
	char tail[2];
	size_t nt;

	if (!ms->in_leaf)
		return;
	if (ms->capturing) {
		ms->capturing = 0;
		ms->cap_done = 1;
	}
	if (ms->cte == CTE_BASE64 && (nt = b64_flush(ms, tail)) > 0)
		leaf_bytes(ms, tail, nt);
	if (ms->is_text) {
		flush_part_text(ms);
		/* Keep parts apart, without doubling a final line end; a separator
		 * never opens a new window. */
		if (ms->text.len && ms->text.len < ms->lim.text_max && ms->text.data[ms->text.len - 1] != '\n')
			text_add(ms, "\n", 1);
	}
	sbuf_reset(&ms->parttext);
	free(ms->charset);
	ms->charset = NULL;
	ms->in_leaf = 0;
}

/* Raw text outside any part (preamble, epilogue), for body conditions. */
static void
outer_text(struct mimescan *ms, const char *p, size_t n, int eol)
{
	text_add(ms, p, n);
	if (eol)
		text_add(ms, "\n", 1);
}

/* ---- structure ---------------------------------------------------------- */

static void
begin_part(struct mimescan *ms, const char *default_ctype)
{
	end_leaf(ms);
	clear_part_headers(ms);
	sbuf_reset(&ms->hdrs);
	ms->hdrs_over = 0;
	ms->default_ctype = default_ctype;
	ms->state = S_HEADERS;
}

static int
push_frame(struct mimescan *ms, const char *boundary, int digest)
{
	struct frame *nf = realloc(ms->frames, (ms->nframes + 1) * sizeof(*nf));

	if (nf == NULL)
		return -1;
	ms->frames = nf;
	if ((nf[ms->nframes].boundary = strdup(boundary)) == NULL)
		return -1;
	nf[ms->nframes].blen = strlen(boundary);
	nf[ms->nframes].digest = digest;
	nf[ms->nframes].depth = ms->depth;
	ms->nframes++;
	return 0;
}

static enum cte
cte_parse(const char *raw)
{
	enum cte e = CTE_IDENTITY;
	char *c;

	if (raw == NULL)
		return CTE_IDENTITY;
	if ((c = unfold_trim(raw)) == NULL)
		return CTE_OOM;
	if (strcasecmp(c, "base64") == 0)
		e = CTE_BASE64;
	else if (strcasecmp(c, "quoted-printable") == 0)
		e = CTE_QP;
	free(c);
	return e;
}

/* The headers of the current part are complete: decide what it is. */
static void
headers_done(struct mimescan *ms)
{
	struct mime_ctype ct;
	struct part_info *pi;
	char *fname = NULL;
	int att = 0;
	enum cte cte = cte_parse(ms->h_cte);

	if (mime_ctype_parse(ms->h_ctype, ms->default_ctype, &ct) != 0 || cte == CTE_OOM) {
		mime_ctype_free(&ct);
		oom(ms);
		return;
	}
	if (strncmp(ct.type, "multipart/", 10) == 0) {
		if (ct.boundary && strlen(ct.boundary) > MAX_BOUNDARY) {
			/* Others may still split it: refuse rather than read it whole. */
			mime_ctype_free(&ct);
			limit(ms, "multipart boundary longer than the scanner accepts (characters)", MAX_BOUNDARY);
			return;
		}
		if (ct.boundary == NULL) {
			/* Unsplittable for every reader: read it as text so body conditions see it. */
			note_malformed(ms, "multipart without a boundary");
			free(ct.type);
			if ((ct.type = strdup("text/plain")) == NULL) {
				mime_ctype_free(&ct);
				oom(ms);
				return;
			}
		} else {
			if (++ms->depth > ms->lim.max_depth) {
				limit(ms, "MIME nesting deeper than limits.max_mime_depth", ms->lim.max_depth);
			} else if (push_frame(ms, ct.boundary, strcmp(ct.type, "multipart/digest") == 0) == 0) {
				ms->state = S_PREAMBLE;
			} else {
				oom(ms);
			}
			mime_ctype_free(&ct);
			clear_part_headers(ms);
			return;
		}
	}
	if (strcmp(ct.type, "message/rfc822") == 0 && cte != CTE_IDENTITY) {
		/* RFC 2046 forbids it, but GMime decodes and shows what is inside. */
		mime_ctype_free(&ct);
		limit(ms, "message/rfc822 part with a base64 or quoted-printable encoding; at depth", ms->depth);
		return;
	}
	if (strcmp(ct.type, "message/rfc822") == 0) {
		/* A message inside: its own headers follow. */
		mime_ctype_free(&ct);
		if (++ms->depth > ms->lim.max_depth) {
			limit(ms, "MIME nesting deeper than limits.max_mime_depth", ms->lim.max_depth);
			return;
		}
		begin_part(ms, "text/plain");
		return;
	}
	/* A leaf. */
	if (++ms->part_count > ms->lim.max_parts) {
		mime_ctype_free(&ct);
		limit(ms, "more MIME parts than limits.max_mime_parts", ms->lim.max_parts);
		return;
	}
	if (ms->nparts == ms->partcap) {
		size_t ncap = ms->partcap ? ms->partcap * 2 : 8;
		struct part_info *np = realloc(ms->parts, ncap * sizeof(*np));
		if (np == NULL) {
			mime_ctype_free(&ct);
			oom(ms);
			return;
		}
		ms->parts = np;
		ms->partcap = ncap;
	}
	if (mime_disposition_parse(ms->h_disp, &att, &fname) != 0) {
		mime_ctype_free(&ct);
		oom(ms);
		return;
	}
	if (fname == NULL && ct.name) {
		fname = ct.name;
		ct.name = NULL;
	}
	pi = &ms->parts[ms->nparts];
	memset(pi, 0, sizeof(*pi));
	pi->content_type = ct.type;
	ct.type = NULL;
	pi->filename = fname;
	if (ct.name && fname && strcmp(ct.name, fname) != 0) {
		pi->alt_name = ct.name;
		ct.name = NULL;
	}
	pi->attachment = att || fname != NULL;
	ms->leaf_index = ms->nparts++;
	ms->in_leaf = 1;
	ms->capturing = ms->cap_type && !ms->cap_done && strcmp(pi->content_type, ms->cap_type) == 0;
	/* Every text part counts, attachments too: a text/csv of card numbers
	 * reaches the recipient as surely as the message text does. */
	ms->is_text = strncmp(pi->content_type, "text/", 5) == 0;
	ms->is_html = strcmp(pi->content_type, "text/html") == 0;
	ms->h_state = H_TEXT;
	ms->charset = ct.charset;
	ct.charset = NULL;
	ms->cte = cte;
	ms->b64acc = 0;
	ms->b64n = 0;
	mime_ctype_free(&ct);
	clear_part_headers(ms);
	ms->state = S_BODY;
}

static void
top_begin(struct mimescan *ms)
{
	ms->top_begun = 1;
	headers_done(ms);
}

/* Parse the accumulated header block of a nested part. */
static void
parse_part_headers(struct mimescan *ms)
{
	char *p = ms->hdrs.data, *line, *save = NULL;

	if (p == NULL)
		return;
	/* NUL bytes would end the fields early for us but not for others. */
	for (line = p; line < p + ms->hdrs.len; line++)
		if (*line == '\0')
			*line = ' ';
	for (line = strtok_r(p, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *colon = strchr(line, ':'), *end;
		if (colon == NULL)
			continue;
		/* "Name :" is a field too (obsolete syntax; GMime and Postfix accept it). */
		for (end = colon; end > line && (end[-1] == ' ' || end[-1] == '\t'); end--)
			;
		*end = '\0';
		mimescan_header(ms, line, colon + 1);
	}
}

/* Is line a boundary of an open frame? Returns the frame index + 1, and
 * sets *close for a closing delimiter. */
static size_t
boundary_of(struct mimescan *ms, const char *p, size_t n, int *close)
{
	size_t i, j;

	if (n < 3 || p[0] != '-' || p[1] != '-')
		return 0;
	for (i = ms->nframes; i-- > 0;) {
		const struct frame *f = &ms->frames[i];
		if (n - 2 < f->blen || memcmp(p + 2, f->boundary, f->blen) != 0)
			continue;
		j = 2 + f->blen;
		*close = n - j >= 2 && p[j] == '-' && p[j + 1] == '-';
		if (*close)
			j += 2;
		for (; j < n; j++)
			if (p[j] != ' ' && p[j] != '\t')
				break;
		if (j == n)
			return i + 1;
	}
	return 0;
}

/* A delimiter of open frame fi (1-based) was found. */
static void parse_part_headers(struct mimescan *ms);
static void headers_done(struct mimescan *ms);

static void
delimiter(struct mimescan *ms, size_t fi, int close)
{
	int digest = ms->frames[fi - 1].digest;

	/* A part whose headers run straight into a delimiter has no body, but
	 * its headers still say what it is (GMime reads it so). */
	if (ms->state == S_HEADERS) {
		parse_part_headers(ms);
		headers_done(ms);
		if (ms->dead)
			return;
	}
	end_leaf(ms);
	/* Frames inside the matched one end here too (missing close delimiters). */
	while (ms->nframes > fi) {
		ms->nframes--;
		free(ms->frames[ms->nframes].boundary);
		note_malformed(ms, "a multipart was not closed");
	}
	/* Any message/rfc822 levels inside the previous part end here too. */
	ms->depth = ms->frames[fi - 1].depth;
	if (close) {
		ms->nframes--;
		free(ms->frames[ms->nframes].boundary);
		ms->depth--;
		ms->state = S_EPILOGUE;
	} else {
		begin_part(ms, digest ? "message/rfc822" : "text/plain");
	}
}

static void
process_line(struct mimescan *ms, const char *p, size_t n, int eol, int at_start)
{
	size_t fi;
	int close = 0;

	if (ms->dead)
		return;
	/* Strip the CR of CRLF. */
	if (eol && n > 0 && p[n - 1] == '\r')
		n--;
	if (at_start && (fi = boundary_of(ms, p, n, &close)) != 0) {
		delimiter(ms, fi, close);
		return;
	}
	switch (ms->state) {
	case S_HEADERS:
		if (at_start && n == 0) {
			parse_part_headers(ms);
			headers_done(ms);
		} else if (!ms->hdrs_over) {
			/* Unfold continuation lines into the previous header. */
			if (at_start && ms->hdrs.len > 0 && (p[0] == ' ' || p[0] == '\t'))
				ms->hdrs.len--, ms->hdrs.data[ms->hdrs.len] = '\0';
			int rc = sbuf_add(&ms->hdrs, p, n);
			if (rc == 0 && eol)
				rc = sbuf_addc(&ms->hdrs, '\n');
			if (rc == SBUF_OOM) {
				oom(ms);
			} else if (rc != 0) {
				/* Another reader would see the fields past our cap. */
				ms->hdrs_over = 1;
				limit(ms, "MIME part headers longer than the scanner reads (bytes)", PART_HEADER_CAP);
			}
		}
		break;
	case S_BODY:
		if (ms->in_leaf)
			leaf_line(ms, p, n, eol);
		break;
	default:
		/* Preamble and epilogue: no reader shows them, but they reach the
		 * recipient, so body conditions see them (as raw text). */
		outer_text(ms, p, n, eol);
		break;
	}
}

static int
all_space(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r')
			return 0;
	return 1;
}

/* The first piece of an over-long line stays pending while the line is a
 * delimiter followed by transport padding (RFC 2046 5.1.1 allows any amount
 * of white space); any other byte turns it back into content. */
static void
pending_to_content(struct mimescan *ms)
{
	if (ms->pend_fi) {
		ms->pend_fi = 0;
		process_line(ms, ms->pending.data, ms->pending.len, 0, 0);
		sbuf_reset(&ms->pending);
	}
}

static void
long_piece(struct mimescan *ms, const char *p, size_t n)
{
	size_t fi;
	int close = 0;

	if (!ms->line_partial) {
		if ((fi = boundary_of(ms, p, n, &close)) != 0) {
			ms->pend_fi = fi;
			ms->pend_close = close;
			sbuf_reset(&ms->pending);
			if (sbuf_add(&ms->pending, p, n) != 0)
				oom(ms);
			return;
		}
	} else if (ms->pend_fi && all_space(p, n)) {
		return;
	}
	pending_to_content(ms);
	process_line(ms, p, n, 0, 0);
}

/* The last piece of a line (eol: it ended with LF). */
static void
line_end(struct mimescan *ms, int eol)
{
	const char *d = ms->line.data ? ms->line.data : "";

	if (ms->pend_fi && all_space(d, ms->line.len)) {
		size_t fi = ms->pend_fi;
		ms->pend_fi = 0;
		sbuf_reset(&ms->pending);
		delimiter(ms, fi, ms->pend_close);
	} else {
		pending_to_content(ms);
		process_line(ms, d, ms->line.len, eol, !ms->line_partial && (eol || ms->line.len < LINE_CAP));
	}
	sbuf_reset(&ms->line);
	ms->line_partial = 0;
}

/* Append bytes of the current line. A line longer than LINE_CAP is passed on
 * in pieces cut at places that depend only on the line's content (every
 * LINE_CAP bytes, moved back so as not to split "=XX" or CRLF), whatever the
 * chunking of the input; no piece of it is ever taken for a delimiter. */
static void
line_add(struct mimescan *ms, const char *p, size_t n)
{
	while (n > 0 && !ms->dead) {
		size_t room = LINE_CAP - ms->line.len, take = n < room ? n : room;
		if (sbuf_add(&ms->line, p, take) != 0) {
			oom(ms);
			return;
		}
		p += take;
		n -= take;
		if (ms->line.len == LINE_CAP && n > 0) {
			/* Never cut inside a quoted-printable escape or a CRLF: hold
			 * those bytes back for the next piece. */
			char *d = ms->line.data;
			size_t len = ms->line.len, keep = 0;
			if (d[len - 1] == '=' || d[len - 1] == '\r')
				keep = 1;
			else if (d[len - 2] == '=')
				keep = 2;
			long_piece(ms, d, len - keep);
			memmove(d, d + len - keep, keep);
			ms->line.len = keep;
			d[keep] = '\0';
			ms->line_partial = 1;
		}
	}
}

void
mimescan_feed(struct mimescan *ms, const char *p, size_t n)
{
	size_t i, start = 0;

	if (!ms->top_begun)
		top_begin(ms);
	for (i = 0; i < n && !ms->dead; i++) {
		if (p[i] != '\n')
			continue;
		line_add(ms, p + start, i - start);
		if (!ms->dead)
			line_end(ms, 1);
		start = i + 1;
	}
	if (start < n && !ms->dead)
		line_add(ms, p + start, n - start);
}

void
mimescan_finish(struct mimescan *ms)
{
	if (!ms->top_begun)
		top_begin(ms);
	if ((ms->line.len || ms->pend_fi) && !ms->dead)
		line_end(ms, 0);
	sbuf_reset(&ms->line);
	if (ms->state == S_HEADERS && !ms->dead) {
		parse_part_headers(ms);
		headers_done(ms);
	}
	end_leaf(ms);
	if (ms->nframes && !ms->dead)
		note_malformed(ms, "a multipart has no closing boundary");
}

const char *
mimescan_text(const struct mimescan *ms, size_t *len, int *truncated)
{
	*len = ms->text.len;
	*truncated = ms->text_truncated;
	return ms->text.data ? ms->text.data : "";
}

const struct part_info *
mimescan_parts(const struct mimescan *ms, size_t *n)
{
	*n = ms->nparts;
	return ms->parts;
}

const char *
mimescan_limit_error(const struct mimescan *ms)
{
	return ms->limit_error;
}

const char *
mimescan_malformed(const struct mimescan *ms)
{
	return ms->malformed;
}

void
mimescan_free(struct mimescan *ms)
{
	size_t i;

	if (ms == NULL)
		return;
	for (i = 0; i < ms->nframes; i++)
		free(ms->frames[i].boundary);
	free(ms->frames);
	for (i = 0; i < ms->nparts; i++) {
		free(ms->parts[i].content_type);
		free(ms->parts[i].filename);
		free(ms->parts[i].alt_name);
	}
	free(ms->parts);
	clear_part_headers(ms);
	free(ms->charset);
	sbuf_free(&ms->hdrs);
	sbuf_free(&ms->parttext);
	sbuf_free(&ms->line);
	sbuf_free(&ms->pending);
	sbuf_free(&ms->text);
	sbuf_free(&ms->cap);
	free(ms->cap_type);
	free(ms->limit_error);
	free(ms->malformed);
	free(ms);
}
