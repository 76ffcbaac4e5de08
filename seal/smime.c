/*
 * smime.c - S/MIME signing: the identities of "signing:", and a message's
 * MIME entity turned into a multipart/signed body (RFC 8551, RFC 1847).
 *
 * The entity (the message's Content-* fields and body) is first made safe
 * for transport, so no relay needs to touch what was signed: every part
 * that is 8-bit or binary, or has a line over 998 octets, trailing white
 * space, a line starting "From " or a bare CR, is re-encoded by GMime (text
 * as quoted-printable, the rest as base64); the result is written with
 * CRLF line ends. That entity is
 * signed as a detached CMS SignedData with SHA-256 (micalg=sha-256), whose
 * signed attributes carry the signing time and the S/MIME capabilities,
 * and which carries the signer's certificate and chain.
 *
 * Calling rules: identities are loaded once (config load) and read-only
 * afterwards; smime_sign_stream() is thread-safe. mime_init() must have
 * run (GMime).
 * Untrusted input: the entity (a message from a local user, after the
 * policy's MIME limits); the configuration's certificate and key files.
 */
#include "build-config.h"

#include <errno.h>
#include <limits.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <gmime/gmime.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/rand.h>

#include "common/util.h"
#include "mime/hdrdecode.h"
#include "rules/cfgerr.h"
#include "rules/yamltree.h"
#include "seal/keys.h"
#include "seal/smime.h"

/* ---- identities ------------------------------------------------------------ */

/* A PKCS#12 file and the first line of its password file. */
static int
read_p12(struct smime_identity *id, const char *path, const char *passfile, const struct ynode *at,
    struct cfg_errors *errs)
{
	char pass[1024] = "", *why;
	FILE *f;
	PKCS12 *p12;
	STACK_OF(X509) *ca = NULL;
	int ok;

	if ((why = seal_key_file_problem(path)) != NULL) {
		cfg_error(errs, at, "signing: %s", why);
		free(why);
		return -1;
	}
	if (passfile) {
		if ((why = seal_key_file_problem(passfile)) != NULL) {
			cfg_error(errs, at, "signing: password_file: %s", why);
			free(why);
			return -1;
		}
		if ((f = fopen(passfile, "r")) == NULL) {
			cfg_error(errs, at, "signing: cannot open password_file %s: %s", passfile, strerror(errno));
			return -1;
		}
		if (fgets(pass, sizeof(pass), f) == NULL)
			pass[0] = '\0';
		fclose(f);
		pass[strcspn(pass, "\r\n")] = '\0';
	}
	if ((f = fopen(path, "rb")) == NULL) {
		cfg_error(errs, at, "signing: cannot open %s: %s", path, strerror(errno));
		OPENSSL_cleanse(pass, sizeof(pass));
		return -1;
	}
	p12 = d2i_PKCS12_fp(f, NULL);
	fclose(f);
	ok = p12 != NULL && PKCS12_parse(p12, pass, &id->key, &id->cert, &ca) == 1;
	OPENSSL_cleanse(pass, sizeof(pass));
	PKCS12_free(p12);
	if (!ok || id->key == NULL || id->cert == NULL) {
		cfg_error(errs, at, "signing: %s: not a PKCS#12 file, or the password (password_file) is wrong", path);
		sk_X509_pop_free(ca, X509_free);
		return -1;
	}
	if (ca) {
		while (sk_X509_num(ca) > 0)
			sk_X509_push(id->chain, sk_X509_shift(ca));
		sk_X509_free(ca);
	}
	return 0;
}

static const char *
scalar(const struct ynode *map, const char *key)
{
	const struct ynode *v = ymap_get(map, key);

	return v && v->kind == Y_SCALAR ? v->value : NULL;
}

static int
load_identity(const struct ynode *e, struct seal_keys *keys, const char *module, struct smime_identity *id,
    struct cfg_errors *errs)
{
	static const char *const allowed[] = { "name", "match", "cert", "key", "chain", "pkcs12", "password_file",
		NULL };
	const char *match, *cert, *key, *p12, *pass, *name;
	const struct ynode *chain;
	size_t i;

	if (e->kind != Y_MAP) {
		cfg_error(errs, e, "signing.identities: each entry is { match, cert, key } or { match, pkcs12, "
		    "password_file }");
		return -1;
	}
	if (cfg_check_keys(errs, e, "signing.identities", allowed) != 0)
		return -1;
	match = scalar(e, "match");
	cert = scalar(e, "cert");
	key = scalar(e, "key");
	p12 = scalar(e, "pkcs12");
	pass = scalar(e, "password_file");
	name = scalar(e, "name");
	if (match == NULL || *match == '\0') {
		cfg_error(errs, e, "signing.identities: match: is required (an address or a glob like *@example.com)");
		return -1;
	}
	if (!p12 == !(cert && key) || (p12 && (cert || key))) {
		cfg_error(errs, e, "signing.identities: give either cert and key, or pkcs12 (with password_file)");
		return -1;
	}
	id->match = strdup(match);
	id->name = strdup(name ? name : match);
	id->chain = sk_X509_new_null();
	if (id->match == NULL || id->name == NULL || id->chain == NULL)
		return -1;
	if (p12) {
		if (read_p12(id, p12, pass, ymap_get(e, "pkcs12"), errs) != 0)
			return -1;
		id->cert_path = strdup(p12);
	} else {
		if ((id->cert = seal_cert_read(ymap_get(e, "cert"), cert, errs)) == NULL)
			return -1;
		id->cert_path = strdup(cert);
		if ((id->key = seal_key_read(keys, module, ymap_get(e, "key"), key, errs)) == NULL)
			return -1;
	}
	if ((chain = ymap_get(e, "chain")) != NULL) {
		if (chain->kind != Y_SEQ) {
			cfg_error(errs, chain, "signing.identities: chain: expected a list of certificate files");
			return -1;
		}
		for (i = 0; i < chain->n; i++) {
			X509 *x;
			if (chain->items[i]->kind != Y_SCALAR ||
			    (x = seal_cert_read(chain->items[i], chain->items[i]->value, errs)) == NULL)
				return -1;
			sk_X509_push(id->chain, x);
		}
	}
	if (X509_check_private_key(id->cert, id->key) != 1) {
		cfg_error(errs, ymap_get(e, p12 ? "pkcs12" : "key"), "signing.identities: %s: the key does not match the "
		    "certificate %s", id->name, id->cert_path);
		ERR_clear_error();
		return -1;
	}
	if (X509_check_purpose(id->cert, X509_PURPOSE_SMIME_SIGN, 0) != 1) {
		cfg_error(errs, ymap_get(e, p12 ? "pkcs12" : "cert"), "signing.identities: %s: the certificate %s does "
		    "not allow S/MIME signing (key usage digitalSignature, extended key usage emailProtection)", id->name,
		    id->cert_path);
		return -1;
	}
	return 0;
}

int
smime_identities_load(const struct ynode *node, struct seal_keys *keys, const char *pkcs11_module,
    struct smime_identities *out, struct cfg_errors *errs)
{
	static const char *const top[] = { "identities", "missing_identity", NULL };
	const struct ynode *list, *missing;
	size_t i, j;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (node == NULL)
		return 0;
	if (node->kind != Y_MAP) {
		cfg_error(errs, node, "signing: expected { identities: [...], missing_identity: tempfail|skip }");
		return -1;
	}
	rc |= cfg_check_keys(errs, node, "signing", top);
	if ((missing = ymap_get(node, "missing_identity")) != NULL) {
		if (missing->kind == Y_SCALAR && strcmp(missing->value, "tempfail") == 0)
			out->missing = MISSING_TEMPFAIL;
		else if (missing->kind == Y_SCALAR && strcmp(missing->value, "skip") == 0)
			out->missing = MISSING_SKIP;
		else {
			cfg_error(errs, missing, "signing.missing_identity: expected tempfail or skip");
			rc = -1;
		}
	}
	list = ymap_get(node, "identities");
	if (list == NULL || list->kind != Y_SEQ || list->n == 0) {
		cfg_error(errs, list ? list : node, "signing.identities: expected a list of at least one identity");
		return -1;
	}
	if ((out->v = calloc(list->n, sizeof(*out->v))) == NULL)
		return -1;
	for (i = 0; i < list->n; i++) {
		if (load_identity(list->items[i], keys, pkcs11_module, &out->v[out->n], errs) != 0)
			rc = -1;
		out->n++;
		for (j = 0; j + 1 < out->n && out->v[out->n - 1].name; j++)
			if (out->v[j].name && strcmp(out->v[j].name, out->v[out->n - 1].name) == 0) {
				cfg_error(errs, list->items[i], "signing.identities: the name %s is used twice", out->v[j].name);
				rc = -1;
			}
	}
	return rc ? -1 : 0;
}

void
smime_identities_free(struct smime_identities *ids)
{
	size_t i;

	for (i = 0; i < ids->n; i++) {
		free(ids->v[i].name);
		free(ids->v[i].match);
		free(ids->v[i].cert_path);
		X509_free(ids->v[i].cert);
		EVP_PKEY_free(ids->v[i].key);
		sk_X509_pop_free(ids->v[i].chain, X509_free);
	}
	free(ids->v);
	memset(ids, 0, sizeof(*ids));
}

/* How specific a pattern is: an exact address beats any glob; then the
 * more literal characters, the more specific. */
static size_t
specificity(const char *pattern)
{
	size_t n = 0;

	if (strpbrk(pattern, "*?[") == NULL)
		return (size_t)-1;
	for (; *pattern; pattern++)
		if (*pattern != '*' && *pattern != '?')
			n++;
	return n;
}

const struct smime_identity *
smime_identity_for(const struct smime_identities *ids, const char *addr, const char *name)
{
	const struct smime_identity *best = NULL;
	size_t i, bs = 0;

	for (i = 0; i < ids->n; i++) {
		const struct smime_identity *id = &ids->v[i];
		if (id->cert == NULL || id->key == NULL)
			continue;
		if (name) {
			if (strcmp(id->name, name) == 0)
				return id;
			continue;
		}
		if (fnmatch(id->match, addr, FNM_CASEFOLD) == 0 && (best == NULL || specificity(id->match) > bs)) {
			best = id;
			bs = specificity(id->match);
		}
	}
	return best;
}

const char *
smime_identity_problem(const struct smime_identity *id, time_t now)
{
	if (X509_cmp_time(X509_get0_notAfter(id->cert), &now) < 0)
		return "its certificate has expired";
	if (X509_cmp_time(X509_get0_notBefore(id->cert), &now) > 0)
		return "its certificate is not valid yet";
	return NULL;
}

/* ---- transport safety ---------------------------------------------------------- */

/* 1 when content must be re-encoded for transport: an 8-bit byte, a line
 * over 998 octets, trailing white space, a bare CR, a NUL; 2 for a line
 * starting "From " (it needs base64). 0 when it is safe as it is. */
static int
needs_protection(const unsigned char *p, size_t n)
{
	size_t i, col = 0;

	for (i = 0; i < n; i++) {
		if (p[i] >= 0x80 || col > 998)
			return 1;
		if (p[i] == '\n') {
			if (i > 0 && (p[i - 1] == ' ' || p[i - 1] == '\t' ||
			    (p[i - 1] == '\r' && i > 1 && (p[i - 2] == ' ' || p[i - 2] == '\t'))))
				return 1;
			col = 0;
			continue;
		}
		if (p[i] == '\0' || (p[i] == '\r' && (i + 1 >= n || p[i + 1] != '\n')))
			return 1;
		if (col == 0 && n - i >= 5 && memcmp(p + i, "From ", 5) == 0)
			return 2;
		col++;
	}
	return n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t');
}

/* A part the parser left without content (a hostile or truncated one)
 * gets empty content: GMime's encoder would otherwise trip over it. */
static void
fill_empty(GMimeObject *parent, GMimeObject *part, gpointer data)
{
	(void)parent;
	(void)data;
	if (GMIME_IS_PART(part) && g_mime_part_get_content(GMIME_PART(part)) == NULL) {
		GMimeStream *st = g_mime_stream_mem_new();
		GMimeDataWrapper *dw = g_mime_data_wrapper_new_with_stream(st, GMIME_CONTENT_ENCODING_DEFAULT);
		g_mime_part_set_content(GMIME_PART(part), dw);
		g_object_unref(dw);
		g_object_unref(st);
	}
}

static void
protect_part(GMimeObject *parent, GMimeObject *part, gpointer data) /* NOLINT(misc-no-recursion): limits.max_mime_depth (below) */
{
	GMimeContentEncoding enc;
	GMimeDataWrapper *w;
	GMimeStream *mem;
	GByteArray *arr;
	int *failed = data;

	(void)parent;
	if (GMIME_IS_MESSAGE_PART(part)) {
		/* A forwarded message: its parts need the same care (depth is
		 * bounded: the policy's MIME limits passed before signing). */
		GMimeMessage *m = g_mime_message_part_get_message(GMIME_MESSAGE_PART(part));
		GMimeObject *body = m ? g_mime_message_get_mime_part(m) : NULL;
		if (body && GMIME_IS_MULTIPART(body)) {
			g_mime_multipart_foreach(GMIME_MULTIPART(body), fill_empty, NULL);
			g_mime_multipart_foreach(GMIME_MULTIPART(body), protect_part, data);
		} else if (body) {
			fill_empty(NULL, body, NULL);
			protect_part(NULL, body, data);
		}
		return;
	}
	if (!GMIME_IS_PART(part))
		return;
	enc = g_mime_part_get_content_encoding(GMIME_PART(part));
	w = g_mime_part_get_content(GMIME_PART(part));
	if (w == NULL)
		return;
	if (enc == GMIME_CONTENT_ENCODING_BASE64 || enc == GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE ||
	    enc == GMIME_CONTENT_ENCODING_UUENCODE) {
		/* Encoded already; but a writer may have put it in lines over 998
		 * octets, which a relay would break: then encode it afresh. */
		GMimeStream *raw = g_mime_data_wrapper_get_stream(w);
		GMimeStream *copy = g_mime_stream_mem_new();
		GByteArray *ra;
		size_t i, col = 0;
		int longline = 0;
		if (raw == NULL || g_mime_stream_reset(raw) < 0 || g_mime_stream_write_to_stream(raw, copy) < 0) {
			*failed = 1;
			g_object_unref(copy);
			return;
		}
		g_mime_stream_reset(raw);
		ra = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(copy));
		for (i = 0; i < ra->len && !longline; i++) {
			col = ra->data[i] == '\n' ? 0 : col + 1;
			longline = col > 998;
		}
		g_object_unref(copy);
		if (!longline || enc == GMIME_CONTENT_ENCODING_UUENCODE)
			return;
		mem = g_mime_stream_mem_new();
		if (g_mime_data_wrapper_write_to_stream(w, mem) < 0) {     /* decoded */
			*failed = 1;
			g_object_unref(mem);
			return;
		}
		g_mime_stream_reset(mem);
		{
			GMimeDataWrapper *dw = g_mime_data_wrapper_new_with_stream(mem, GMIME_CONTENT_ENCODING_DEFAULT);
			g_mime_part_set_content(GMIME_PART(part), dw);
			g_object_unref(dw);
		}
		g_mime_part_set_content_encoding(GMIME_PART(part), enc);
		g_object_unref(mem);
		return;
	}
	mem = g_mime_stream_mem_new();
	if (g_mime_data_wrapper_write_to_stream(w, mem) < 0) {
		*failed = 1;
		g_object_unref(mem);
		return;
	}
	arr = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
	switch (needs_protection(arr->data, arr->len)) {
	case 0:
		break;
	case 2:
		/* A line starting "From ": quoted-printable would leave it as it
		 * is (and some relays and mailbox formats mangle it): base64. */
		g_mime_part_set_content_encoding(GMIME_PART(part), GMIME_CONTENT_ENCODING_BASE64);
		break;
	default: {
		GMimeContentType *ct = g_mime_object_get_content_type(part);
		g_mime_part_set_content_encoding(GMIME_PART(part),
		    ct && g_mime_content_type_is_type(ct, "text", "*") ? GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE
		    : GMIME_CONTENT_ENCODING_BASE64);
		break;
	}
	}
	g_object_unref(mem);
}

/* The entity (read from in_fd), re-encoded for transport, written to
 * out_fd. GMime reads the parts from the file as it needs them. */
static int
transport_safe(int in_fd, int out_fd, char **err)
{
	GMimeStream *src, *out;
	GMimeParser *parser;
	GMimeObject *obj;
	GMimeFormatOptions *fo;
	int failed = 0, dupfd = dup(in_fd);

	if (dupfd < 0 || lseek(dupfd, 0, SEEK_SET) != 0) {
		if (dupfd >= 0)
			close(dupfd);
		*err = strdup("sign: cannot read the message back for re-encoding");
		return -1;
	}
	src = g_mime_stream_fs_new(dupfd);        /* owns dupfd */
	parser = g_mime_parser_new_with_stream(src);
	obj = g_mime_parser_construct_part(parser, NULL);
	g_object_unref(parser);
	if (obj == NULL) {
		g_object_unref(src);
		*err = strdup("the message cannot be parsed as MIME");
		return -1;
	}
	if (GMIME_IS_MULTIPART(obj))
		g_mime_multipart_foreach(GMIME_MULTIPART(obj), fill_empty, NULL);
	else
		fill_empty(NULL, obj, NULL);
	if (GMIME_IS_MULTIPART(obj))
		g_mime_multipart_foreach(GMIME_MULTIPART(obj), protect_part, &failed);
	else
		protect_part(NULL, obj, &failed);
	fo = g_mime_format_options_new();
	g_mime_format_options_set_newline_format(fo, GMIME_NEWLINE_FORMAT_DOS);
	out = g_mime_stream_fs_new(out_fd);
	g_mime_stream_fs_set_owner(GMIME_STREAM_FS(out), FALSE);
	/* No g_mime_stream_flush(): on a file stream it is an fsync, and the
	 * temp file is read back at once with pread (GMime's fs stream does
	 * not buffer writes). */
	if (failed || g_mime_object_write_to_stream(obj, fo, out) < 0)
		failed = 1;
	g_mime_format_options_free(fo);
	g_object_unref(obj);
	g_object_unref(out);
	g_object_unref(src);
	if (failed) {
		*err = strdup("the message could not be re-encoded for signing");
		return -1;
	}
	return 0;
}

/* Whether an entity is safe for transport as it is, chunk by chunk: every
 * byte 7-bit and not NUL, every line within 998 octets, no line ending in
 * white space or starting "From ", CR only before LF. Nothing for GMime
 * to re-encode then (the common case, and every sealed message). */
struct safe_scan {
	size_t col;            /* octets in the line so far (CR and LF not counted) */
	size_t from;           /* octets of "From " matched at the line's start */
	unsigned char prev;
	int bad;
};

static int
safe_chunk(void *arg, const char *chunk, size_t n)
{
	struct safe_scan *st = arg;
	const unsigned char *p = (const unsigned char *)chunk;
	size_t i;

	for (i = 0; i < n && !st->bad; i++) {
		unsigned char c = p[i];
		if (st->prev == '\r' && c != '\n')
			st->bad = 1;     /* NOLINT(bugprone-branch-clone): each rule of its own */
		else if (c == '\r' || c == '\n') {
			if (st->prev == ' ' || st->prev == '\t' || (c == '\n' && st->col > 998))
				st->bad = 1;
			if (c == '\n')
				st->col = st->from = 0;
		} else if (c >= 0x80 || c == '\0') {
			st->bad = 1;
		} else {
			if (st->from == st->col && st->col < 5 && c == (unsigned char)"From "[st->col] && ++st->from == 5)
				st->bad = 1;
			st->col++;
		}
		st->prev = c;
	}
	return 0;
}

static int
safe_end(const struct safe_scan *st)
{
	return !st->bad && st->prev != '\r' && st->prev != ' ' && st->prev != '\t' && st->col <= 998;
}

/* The entity in canonical CRLF (every CR, LF or CRLF becomes CRLF:
 * GMime's DOS newline format leaves a multipart preamble and epilogue with
 * bare LF, which every relay and verifier turns into CRLF; sign what they
 * will see), written to one or two BIOs: for signing, the output and the
 * CMS digest. With max_line, a longer line stops it (long_line set). */
static int
crlf_put(struct smime_crlf *w, const void *p, size_t n)
{
	if (n == 0)
		return 0;
	if (n > INT_MAX || BIO_write(w->out[0], p, (int)n) != (int)n ||
	    (w->out[1] && BIO_write(w->out[1], p, (int)n) != (int)n)) {
		w->failed = 1;
		return -1;
	}
	return 0;
}

int
smime_crlf_chunk(void *arg, const char *p, size_t n)
{
	struct smime_crlf *w = arg;
	size_t i, start = 0;

	for (i = 0; i < n; i++) {
		char c = p[i];
		if (w->cr && c == '\n') {       /* the LF of a CRLF: written already */
			w->cr = 0;
			start = i + 1;
			continue;
		}
		w->cr = 0;
		if (c == '\r' || c == '\n') {
			if (crlf_put(w, p + start, i - start) != 0 || crlf_put(w, "\r\n", 2) != 0)
				return -1;
			start = i + 1;
			w->col = 0;
			w->cr = c == '\r';
		} else if (++w->col > w->max_line && w->max_line) {
			w->long_line = 1;
			return -1;
		}
	}
	return crlf_put(w, p + start, n - start);
}

/* Read an fd from its start, chunk by chunk. */
static int
each_fd_chunk(int fd, int (*fn)(void *arg, const char *p, size_t n), void *arg)
{
	char buf[65536];
	off_t off = 0;
	ssize_t got;

	while ((got = pread(fd, buf, sizeof(buf), off)) > 0) {
		if (fn(arg, buf, (size_t)got) != 0)
			return -1;
		off += got;
	}
	return got < 0 ? -1 : 0;
}

static int
to_fd(void *arg, const char *p, size_t n)
{
	return write_all(*(int *)arg, p, n);
}

/* ---- signing ------------------------------------------------------------------- */

int
smime_sign_stream(const struct smime_identity *id, const struct smime_source *src, int out_fd, char **ctype,
    char **err)
{
	struct safe_scan scan;
	struct smime_crlf sp;
	BIO *der = NULL, *fdbio = NULL;
	CMS_ContentInfo *cms = NULL;
	unsigned char rnd[12], *dp;
	char boundary[64], *head = NULL;
	long dl;
	int i, rc = -1, tmp = -1, safe_fd = -1, ok;

	*err = NULL;
	*ctype = NULL;
	memset(&sp, 0, sizeof(sp));
	memset(&scan, 0, sizeof(scan));
	mime_init();
	if (src->each(src->ctx, safe_chunk, &scan) != 0) {
		*err = strdup("sign: cannot read the message");
		return -1;
	}
	if (!safe_end(&scan)) {
		/* Some part needs re-encoding: through GMime, from one temp file to another. */
		if ((tmp = src->new_tmp(src->ctx)) < 0 || (safe_fd = src->new_tmp(src->ctx)) < 0) {
			if (asprintf(err, "sign: cannot create a temp file: %s", strerror(errno)) < 0)
				*err = NULL;
			goto out;
		}
		if (src->each(src->ctx, to_fd, &tmp) != 0) {
			if (asprintf(err, "sign: cannot write a temp file: %s", strerror(errno)) < 0)
				*err = NULL;
			goto out;
		}
		if (transport_safe(tmp, safe_fd, err) != 0)
			goto out;
		close(tmp);
		tmp = -1;
	}
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		goto fail;
	snprintf(boundary, sizeof(boundary), "=_sealmilter-signed-");
	for (i = 0; i < (int)sizeof(rnd); i++)
		snprintf(boundary + strlen(boundary), sizeof(boundary) - strlen(boundary), "%02x", rnd[i]);
	/* A detached SignedData whose digest is fed as the entity is written
	 * out: the entity is never held in memory whole. */
	cms = CMS_sign(NULL, NULL, NULL, NULL, CMS_PARTIAL | CMS_DETACHED | CMS_BINARY | CMS_STREAM);
	if (cms == NULL || CMS_add1_signer(cms, id->cert, id->key, EVP_sha256(), CMS_BINARY) == NULL)
		goto fail;
	for (i = 0; i < sk_X509_num(id->chain); i++)
		if (CMS_add1_cert(cms, sk_X509_value(id->chain, i)) != 1)
			goto fail;
	sp.max_line = 998;
	if ((sp.out[1] = CMS_dataInit(cms, NULL)) == NULL || (fdbio = BIO_new_fd(out_fd, BIO_NOCLOSE)) == NULL ||
	    (sp.out[0] = BIO_new(BIO_f_buffer())) == NULL || BIO_set_write_buffer_size(sp.out[0], 65536) != 1)
		goto fail;
	BIO_push(sp.out[0], fdbio);
	fdbio = NULL;
	if (asprintf(&head, "This is an S/MIME signed message.\r\n\r\n--%s\r\n", boundary) < 0) {
		head = NULL;
		goto fail;
	}
	if (BIO_write(sp.out[0], head, (int)strlen(head)) != (int)strlen(head))
		goto io;
	ok = safe_fd >= 0 ? each_fd_chunk(safe_fd, smime_crlf_chunk, &sp) : src->each(src->ctx, smime_crlf_chunk, &sp);
	if (sp.long_line) {
		*err = strdup("sign: a header field or the text around the MIME parts has a line over 998 octets, "
		    "which a relay would break: not signed");
		goto out;
	}
	if (ok != 0 || sp.failed)
		goto io;
	if (BIO_flush(sp.out[1]) != 1 || CMS_dataFinal(cms, sp.out[1]) != 1 || (der = BIO_new(BIO_s_mem())) == NULL ||
	    i2d_CMS_bio(der, cms) != 1)
		goto fail;
	dl = BIO_get_mem_data(der, (char **)&dp);
	if (dl <= 0)
		goto fail;
	free(head);
	if (asprintf(&head, "\r\n--%s\r\nContent-Type: application/pkcs7-signature; name=\"smime.p7s\"\r\n"
	    "Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"smime.p7s\"\r\n"
	    "Content-Description: S/MIME Cryptographic Signature\r\n\r\n", boundary) < 0) {
		head = NULL;
		goto fail;
	}
	if (BIO_write(sp.out[0], head, (int)strlen(head)) != (int)strlen(head) || BIO_flush(sp.out[0]) != 1)
		goto io;
	if (write_base64_lines(out_fd, dp, (size_t)dl) != 0)
		goto io;
	free(head);
	if (asprintf(&head, "--%s--\r\n", boundary) < 0) {
		head = NULL;
		goto fail;
	}
	if (write_all(out_fd, head, strlen(head)) != 0)
		goto io;
	if (asprintf(ctype, " multipart/signed; protocol=\"application/pkcs7-signature\"; micalg=sha-256;\n"
	    "\tboundary=\"%s\"", boundary) < 0) {
		*ctype = NULL;
		goto fail;
	}
	rc = 0;
	goto out;
io:
	if (asprintf(err, "cannot write the signed message: %s", strerror(errno)) < 0)
		*err = NULL;
	goto out;
fail:
	if (asprintf(err, "S/MIME signing as %s failed (%s)", id->name,
	    ERR_reason_error_string(ERR_peek_last_error()) ? ERR_reason_error_string(ERR_peek_last_error())
	    : "out of memory") < 0)
		*err = NULL;
	ERR_clear_error();
out:
	free(head);
	BIO_free(der);
	BIO_free(fdbio);
	BIO_free_all(sp.out[0]);
	BIO_free_all(sp.out[1]);
	CMS_ContentInfo_free(cms);
	if (tmp >= 0)
		close(tmp);
	if (safe_fd >= 0)
		close(safe_fd);
	return rc;
}
