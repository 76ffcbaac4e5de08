/*
 * logline.c - write the key=value pairs of the per-message log line
 * (engine/session.c builds the line), and read such lines back out of a
 * mail log (sealctl stats). logline.h describes the format.
 *
 * Calling rules: pure functions, thread-safe.
 * Untrusted input: the reader's lines are a log file, and everything after
 * the syslog prefix can hold text from mail (addresses, header fields,
 * DKIM domains): it is read with explicit lengths (NUL bytes included),
 * each pair is checked (key characters, quotes closed, only \" and \\
 * escapes, at most LOGLINE_MAX_PAIRS), and a line that breaks any rule is
 * LOGLINE_MALFORMED rather than half-read. No fixed-size buffer holds
 * anything from the line. The writer quotes and encodes so that a value
 * from mail can never start a pair of its own.
 */
#include "build-config.h"

#include <stdlib.h>
#include <string.h>

#include "engine/logline.h"

/* ---- writing ---------------------------------------------------------------- */

static int
needs_quotes(const char *v)
{
	const unsigned char *p = (const unsigned char *)v;

	if (*p == '\0')
		return 1;
	for (; *p; p++)
		if (*p <= ' ' || *p == '"' || *p == '\\' || *p == 0x7f)
			return 1;
	return 0;
}

void
logline_add(struct sbuf *b, const char *key, const char *value)
{
	const char *p;

	sbuf_printf(b, " %s=", key);
	if (value == NULL)
		value = "";
	if (!needs_quotes(value)) {
		sbuf_adds(b, value);
		return;
	}
	sbuf_addc(b, '"');
	for (p = value; *p; p++) {
		if (*p == '"' || *p == '\\')
			sbuf_addc(b, '\\');
		sbuf_addc(b, *p);
	}
	sbuf_addc(b, '"');
}

void
logline_item(struct sbuf *b, const char *item)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p;

	for (p = (const unsigned char *)(item ? item : ""); *p; p++) {
		if (*p <= ' ' || *p == 0x7f || strchr(",%\"\\<>=", *p) != NULL) {
			char e[3] = { '%', hex[*p >> 4], hex[*p & 15] };
			sbuf_add(b, e, 3);
		} else
			sbuf_addc(b, (char)*p);
	}
}

/* ---- reading: the prefix ------------------------------------------------------ */

struct cur {
	const char *p, *end;
};

static int
at_end(const struct cur *c)
{
	return c->p >= c->end;
}

static int
take(struct cur *c, const char *lit)
{
	size_t n = strlen(lit);

	if ((size_t)(c->end - c->p) < n || memcmp(c->p, lit, n) != 0)
		return 0;
	c->p += n;
	return 1;
}

/* Exactly n digits into *v. */
static int
digits(struct cur *c, int n, int *v)
{
	int i;

	if (c->end - c->p < n)
		return 0;
	*v = 0;
	for (i = 0; i < n; i++) {
		if (c->p[i] < '0' || c->p[i] > '9')
			return 0;
		*v = *v * 10 + (c->p[i] - '0');
	}
	c->p += n;
	return 1;
}

static int
valid_tm(const struct tm *tm)
{
	return tm->tm_mon >= 0 && tm->tm_mon < 12 && tm->tm_mday >= 1 && tm->tm_mday <= 31 && tm->tm_hour < 24 &&
	    tm->tm_min < 60 && tm->tm_sec <= 60;
}

/* YYYY-MM-DD[(T| )HH:MM[:SS[.frac]]][Z|(+|-)HH[:]MM]; without a zone, local
 * time. need_time: the time of day is required (a syslog stamp). */
static int
iso_time(struct cur *c, int need_time, time_t *out)
{
	struct tm tm;
	int y, mo, d, h = 0, mi = 0, s = 0, zone = 0, off = 0, oh, om;

	memset(&tm, 0, sizeof(tm));
	if (!digits(c, 4, &y) || !take(c, "-") || !digits(c, 2, &mo) || !take(c, "-") || !digits(c, 2, &d))
		return 0;
	if (!at_end(c) && (*c->p == 'T' || (*c->p == ' ' && !need_time))) {
		c->p++;
		if (!digits(c, 2, &h) || !take(c, ":") || !digits(c, 2, &mi))
			return 0;
		if (take(c, ":")) {
			if (!digits(c, 2, &s))
				return 0;
			if (take(c, "."))
				while (!at_end(c) && *c->p >= '0' && *c->p <= '9')
					c->p++;
		}
	} else if (need_time)
		return 0;
	if (take(c, "Z")) {
		zone = 1;
	} else if (!at_end(c) && (*c->p == '+' || *c->p == '-')) {
		int sign = *c->p++ == '-' ? -1 : 1;
		if (!digits(c, 2, &oh))
			return 0;
		(void)take(c, ":");
		if (!digits(c, 2, &om) || oh > 23 || om > 59)
			return 0;
		zone = 1;
		off = sign * (oh * 3600 + om * 60);
	}
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = s;
	if (!valid_tm(&tm))
		return 0;
	if (zone) {
		*out = timegm(&tm) - off;
	} else {
		tm.tm_isdst = -1;
		*out = mktime(&tm);
	}
	return *out != (time_t)-1;
}

/* "Mar  1 12:00:00" (the traditional syslog stamp: no year, local time). */
static int
bsd_time(struct cur *c, time_t now, time_t *out)
{
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	struct tm tm, nowtm;
	int mo, d, h, mi, s;

	if (c->end - c->p < 15)
		return 0;
	for (mo = 0; mo < 12; mo++)
		if (memcmp(c->p, months + 3 * mo, 3) == 0)
			break;
	if (mo == 12 || c->p[3] != ' ')
		return 0;
	c->p += 4;
	if (*c->p == ' ') {
		c->p++;
		if (!digits(c, 1, &d))
			return 0;
	} else if (!digits(c, 2, &d))
		return 0;
	if (!take(c, " ") || !digits(c, 2, &h) || !take(c, ":") || !digits(c, 2, &mi) || !take(c, ":") ||
	    !digits(c, 2, &s))
		return 0;
	localtime_r(&now, &nowtm);
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = nowtm.tm_year;
	tm.tm_mon = mo;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = s;
	tm.tm_isdst = -1;
	if (!valid_tm(&tm))
		return 0;
	*out = mktime(&tm);
	if (*out != (time_t)-1 && *out > now + 86400) {
		/* December's lines read in January. */
		memset(&tm, 0, sizeof(tm));
		tm.tm_year = nowtm.tm_year - 1;
		tm.tm_mon = mo;
		tm.tm_mday = d;
		tm.tm_hour = h;
		tm.tm_min = mi;
		tm.tm_sec = s;
		tm.tm_isdst = -1;
		*out = mktime(&tm);
	}
	return *out != (time_t)-1;
}

/* One token of printable, non-space bytes (the host name). */
static int
token(struct cur *c)
{
	const char *start = c->p;

	while (!at_end(c) && (unsigned char)*c->p > ' ' && (unsigned char)*c->p < 0x7f)
		c->p++;
	return c->p > start;
}

/* "sealmilter[PID]: " or "sealmilter: " */
static int
tag(struct cur *c)
{
	if (!take(c, "sealmilter"))
		return 0;
	if (take(c, "[")) {
		const char *start = c->p;
		while (!at_end(c) && *c->p >= '0' && *c->p <= '9')
			c->p++;
		if (c->p == start || c->p - start > 10 || !take(c, "]"))
			return 0;
	}
	return take(c, ": ");
}

int
logline_parse_time(const char *s, time_t *out)
{
	struct cur c;

	if (s == NULL)
		return -1;
	c.p = s;
	c.end = s + strlen(s);
	return iso_time(&c, 0, out) && at_end(&c) ? 0 : -1;
}

/* ---- reading: the pairs ------------------------------------------------------- */

static char *
pair_value(struct cur *c, int *ok)
{
	struct sbuf v;

	*ok = 0;
	sbuf_init(&v, 0);
	if (take(c, "\"")) {
		for (;;) {
			if (at_end(c) || *c->p == '\0')
				goto bad;
			if (*c->p == '"') {
				c->p++;
				break;
			}
			if (*c->p == '\\') {
				c->p++;
				if (at_end(c) || (*c->p != '\\' && *c->p != '"'))
					goto bad;
			}
			sbuf_addc(&v, *c->p++);
		}
	} else {
		while (!at_end(c) && *c->p != ' ') {
			if (*c->p == '\0' || *c->p == '"')
				goto bad;
			sbuf_addc(&v, *c->p++);
		}
	}
	*ok = 1;
	return sbuf_steal(&v);
bad:
	sbuf_free(&v);
	return NULL;
}

static int
add_pair(struct logline *l, char *key, char *value)
{
	struct logline_pair *grown;

	if (l->npairs >= LOGLINE_MAX_PAIRS)
		return -1;
	grown = realloc(l->pairs, (l->npairs + 1) * sizeof(*grown));
	if (grown == NULL)
		return -1;
	l->pairs = grown;
	l->pairs[l->npairs].key = key;
	l->pairs[l->npairs].value = value;
	l->npairs++;
	return 0;
}

static int
pairs(struct cur *c, struct logline *l)
{
	while (!at_end(c)) {
		const char *k = c->p;
		char *key, *value;
		int ok;

		while (!at_end(c) && ((*c->p >= 'a' && *c->p <= 'z') || (*c->p >= '0' && *c->p <= '9') || *c->p == '_'))
			c->p++;
		if (c->p == k || c->p - k > 32 || !take(c, "="))
			return -1;
		key = xstrndup(k, (size_t)(c->p - k - 1));
		value = pair_value(c, &ok);
		if (key == NULL || !ok || value == NULL || add_pair(l, key, value) != 0) {
			free(key);
			free(value);
			return -1;
		}
		if (at_end(c))
			break;
		if (!take(c, " "))
			return -1;
		{
			/* Trailing white space (a syslog pad) ends the line. */
			const char *r = c->p;
			while (r < c->end && *r == ' ')
				r++;
			if (r == c->end)
				break;
		}
		if (*c->p == ' ')
			return -1;      /* two spaces mid-line: not our writing */
	}
	return l->npairs ? 0 : -1;
}

void
logline_free(struct logline *l)
{
	size_t i;

	if (l == NULL)
		return;
	for (i = 0; i < l->npairs; i++) {
		free(l->pairs[i].key);
		free(l->pairs[i].value);
	}
	free(l->pairs);
	free(l->qid);
	memset(l, 0, sizeof(*l));
}

enum logline_kind
logline_parse(const char *line, size_t len, time_t now, struct logline *out)
{
	struct cur c = { line, line + len };
	const char *q;
	time_t when = (time_t)-1;

	memset(out, 0, sizeof(*out));
	out->when = (time_t)-1;
	while (c.end > c.p && (c.end[-1] == '\r' || c.end[-1] == '\n'))
		c.end--;
	/* The prefix: a syslog stamp, the host and sealmilter's tag; or -f's. */
	if (!take(&c, "sealmilter: info: ")) {
		struct cur t = c;
		if (iso_time(&t, 1, &when)) {
			c = t;
		} else {
			t = c;
			if (!bsd_time(&t, now, &when))
				return LOGLINE_OTHER;
			c = t;
		}
		if (!take(&c, " ") || !token(&c) || !take(&c, " ") || !tag(&c))
			return LOGLINE_OTHER;
		/* stderr captured by the journal: its own prefix follows. */
		(void)take(&c, "sealmilter: info: ");
	}
	/* QUEUEID: direction= */
	q = c.p;
	while (!at_end(&c) && ((*c.p >= '0' && *c.p <= '9') || (*c.p >= 'A' && *c.p <= 'Z') || (*c.p >= 'a' && *c.p <= 'z')))
		c.p++;
	if (c.p == q || c.p - q > 64)
		return LOGLINE_OTHER;
	{
		struct cur d = c;
		if (!take(&d, ": direction="))
			return LOGLINE_OTHER;
	}
	if ((out->qid = xstrndup(q, (size_t)(c.p - q))) == NULL)
		return LOGLINE_MALFORMED;
	c.p += 2;
	out->when = when;
	if (pairs(&c, out) != 0) {
		logline_free(out);
		out->when = (time_t)-1;
		return LOGLINE_MALFORMED;
	}
	return LOGLINE_MESSAGE;
}

const char *
logline_get(const struct logline *l, const char *key)
{
	size_t i;

	for (i = 0; i < l->npairs; i++)
		if (strcmp(l->pairs[i].key, key) == 0)
			return l->pairs[i].value;
	return NULL;
}

int
logline_split(const char *value, struct strlist *items)
{
	const char *p = value;

	if (value == NULL || *value == '\0')
		return 0;
	for (;;) {
		size_t n = strcspn(p, ","), i;
		struct sbuf it;
		int rc;

		sbuf_init(&it, 0);
		for (i = 0; i < n; i++) {
			if (p[i] == '%') {
				int hi = i + 2 < n ? hex_digit((unsigned char)p[i + 1]) : -1;
				int lo = hi >= 0 ? hex_digit((unsigned char)p[i + 2]) : -1;
				if (lo < 0) {
					sbuf_free(&it);
					return -1;
				}
				sbuf_addc(&it, (char)(hi * 16 + lo));
				i += 2;
			} else
				sbuf_addc(&it, p[i]);
		}
		{
			char *s = sbuf_steal(&it);
			rc = s ? strlist_add(items, s) : -1;
			free(s);
		}
		if (rc != 0)
			return -1;
		if (p[n] == '\0')
			return 0;
		p += n + 1;
	}
}
