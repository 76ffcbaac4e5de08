/*
 * policy.c - evaluate the rules, in order, over the facts of one message,
 * and turn the rules that fire into one decision.
 *
 * Order of effects (docs/policy.md): rules are evaluated top to bottom. A
 * rule with no "if:" always fires. When a rule fires, its reasons are
 * recorded; reject or tempfail decides the reply and ends evaluation; stop:
 * true ends evaluation after the rule. Tags and subject stripping from every
 * fired rule are applied by the session, in rule order.
 *
 * Calling rules: thread-safe; reads the configuration and the facts only.
 * Untrusted input: the facts (see cond.c).
 */
#include "build-config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules/policy.h"

static int
add_fired(struct decision *d, const struct rule *r, char *why)
{
	struct fired_rule *nf;

	if (why == NULL)       /* its explanation ran out of memory */
		return -1;
	if ((nf = realloc(d->fired, (d->nfired + 1) * sizeof(*nf))) == NULL) {
		free(why);
		return -1;
	}
	d->fired = nf;
	nf[d->nfired].rule = r;
	nf[d->nfired].why = why;
	d->nfired++;
	return 0;
}

int
policy_eval(const struct seal_config *cfg, const struct msg_facts *f, struct decision *d)
{
	size_t i, j;

	memset(d, 0, sizeof(*d));
	d->verdict = VERDICT_ACCEPT;
	for (i = 0; i < cfg->nrules; i++) {
		const struct rule *r = &cfg->rules[i];
		struct eval_ctx ctx;
		int rc = 1, stop = r->stop;

		memset(&ctx, 0, sizeof(ctx));
		ctx.f = f;
		sbuf_init(&ctx.why, 64 * 1024);
		if (r->cond)
			rc = cond_eval(r->cond, &ctx);
		if (rc < 0) {
			if (asprintf(&d->error, "rule %s: %s", r->name, ctx.error ? ctx.error : "evaluation failed") < 0)
				d->error = NULL;
			free(ctx.error);
			free(ctx.spans);
			sbuf_free(&ctx.why);
			return -1;
		}
		if (rc == 0) {
			free(ctx.spans);
			sbuf_free(&ctx.why);
			continue;
		}
		if (add_fired(d, r, ctx.why.len ? sbuf_steal(&ctx.why) : strdup("always")) != 0) {
			free(ctx.spans);
			sbuf_free(&ctx.why);
			d->error = strdup("out of memory");
			return -1;
		}
		sbuf_free(&ctx.why);
		if (ctx.nspans) {
			struct strip_span *ns = realloc(d->spans, (d->nspans + ctx.nspans) * sizeof(*ns));
			if (ns == NULL) {
				free(ctx.spans);
				d->error = strdup("out of memory recording subject text to strip");
				return -1;
			}
			memcpy(ns + d->nspans, ctx.spans, ctx.nspans * sizeof(*ns));
			d->spans = ns;
			d->nspans += ctx.nspans;
		}
		free(ctx.spans);
		for (j = 0; j < r->nactions; j++) {
			const struct action *a = &r->actions[j];
			if (a->kind == A_DECRYPT)
				d->decrypt = 1;
			if (a->kind == A_DKIM_SIGN)
				d->dkim_sign = 1;
			if (a->kind == A_SIGN && d->sign == NULL)
				d->sign = a;
			if (a->kind == A_SEAL && d->seal == NULL) {
				d->seal = a;
				d->seal_rule = r;
			}
			if (a->kind == A_REJECT || a->kind == A_TEMPFAIL) {
				d->verdict = a->kind == A_REJECT ? VERDICT_REJECT : VERDICT_TEMPFAIL;
				d->reply = a;
				d->reply_rule = r;
				stop = 1;
			}
		}
		if (stop)
			break;
	}
	return 0;
}

void
decision_free(struct decision *d)
{
	size_t i;

	for (i = 0; i < d->nfired; i++)
		free(d->fired[i].why);
	free(d->fired);
	free(d->spans);
	free(d->error);
	memset(d, 0, sizeof(*d));
}

static int
span_cmp(const void *a, const void *b)
{
	const struct strip_span *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

char *
subject_strip(const char *subject, const struct strip_span *spans, size_t n)
{
	size_t len = strlen(subject), i, o = 0, pos = 0;
	struct strip_span *sorted;
	char *out = malloc(len + 1);
	int space = 1;

	if (out == NULL)
		return NULL;
	sorted = malloc((n ? n : 1) * sizeof(*sorted));
	if (sorted == NULL) {
		free(out);
		return NULL;
	}
	memcpy(sorted, spans, n * sizeof(*sorted));
	qsort(sorted, n, sizeof(*sorted), span_cmp);
	/* Copy what no span covers, collapsing runs of white space. */
	for (i = 0; pos < len; pos++) {
		while (i < n && sorted[i].end <= pos)
			i++;
		if (i < n && sorted[i].start <= pos && pos < sorted[i].end)
			continue;
		if (subject[pos] == ' ' || subject[pos] == '\t') {
			if (space)
				continue;
			space = 1;
			out[o++] = ' ';
		} else {
			space = 0;
			out[o++] = subject[pos];
		}
	}
	while (o > 0 && out[o - 1] == ' ')
		o--;
	out[o] = '\0';
	free(sorted);
	return out;
}
