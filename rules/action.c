/*
 * action.c - rule actions: built from the "then:" part of a rule.
 *
 * Actions in this release: tag (add a header), reject and tempfail (an SMTP
 * reply), and stop (end evaluation). The order in which fired actions take
 * effect is fixed and documented in docs/policy.md, whatever order a rule
 * lists them in: reject/tempfail of the first rule that has one decides the
 * reply and ends evaluation; otherwise the subject is stripped and tags are
 * added in rule order.
 *
 * Calling rules: actions_build() at load time only.
 * Untrusted input: none (configuration). Header names and values and reply
 * texts are validated here so that nothing the milter sends the MTA can
 * break the SMTP or header syntax.
 */
#include "build-config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "rules/cfgerr.h"
#include "rules/policy.h"
#include "rules/regex.h"
#include "rules/yamltree.h"
#include "seal/template.h"

const struct key_doc action_docs[] = {
	{ "tag", "tag: { header: NAME, value: TEXT } (or a list of them)",
	  "Add a header field to the delivered message. Any field of that name already in the message is "
	  "removed first, so a sender cannot forge a tag." },
	{ "reject", "reject: \"5.7.1 TEXT\" | { code: 550, status: 5.7.1, text: TEXT } | true",
	  "Refuse the message with a permanent SMTP error (5xx). The client, not the recipient, gets the text." },
	{ "tempfail", "tempfail: \"4.7.1 TEXT\" | { code: 451, status: 4.7.1, text: TEXT } | true",
	  "Refuse the message with a temporary SMTP error (4xx): the client retries later." },
	{ "seal", "seal: TEMPLATE",
	  "Seal the message under a template (templates:): the original goes, encrypted, into the attachment "
	  "message.sealed of a notice, with its usage policy signed (docs/format.md). Needs keys.tenant and "
	  "keys.issuer. Mail already sealed or S/MIME-encrypted is not sealed again. When several rules "
	  "seal, the first one's template applies." },
	{ "prefer_smime", "prefer_smime: true (beside seal:)",
	  "When every recipient has a usable certificate in smime.cert_dir, encrypt the message as standard "
	  "S/MIME (application/pkcs7-mime) to them and to the tenant certificate instead of sealing it; "
	  "otherwise seal it with the template, and the log says which recipient had no usable certificate "
	  "and why." },
	{ "for", "for: external | internal | all (beside seal:)",
	  "Which recipients the seal applies to: external (outside organization.domains), internal, or all (the "
	  "default). When the message also has other recipients, it is split before it is accepted: the "
	  "original stays, sealed, with the recipients the seal applies to, and the others get the message as "
	  "it is in a copy that goes back to the MTA (milter.submit_url, with the loop-guard marker, so it is "
	  "not processed again) after they are taken out of the original. A recipient in neither To nor Cc "
	  "(Bcc) gets a sealed copy of its own. If a copy cannot be handed over, the whole message is deferred. "
	  "Needs milter.submit_url. See docs/policy.md." },
	{ "decrypt", "decrypt: true",
	  "Transport decryption (for inbound mail to the organisation's own recipients): a sealed message whose "
	  "signature, content and policy are valid, and whose policy allows every recipient, is delivered as "
	  "its original, with an X-Sealmilter-Decrypted header naming the policy; otherwise it is delivered "
	  "sealed, untouched, and the log says why. Needs a tenant private key (keys.tenant[].key)." },
	{ "dkim_sign", "dkim_sign: true",
	  "DKIM-sign the message (outbound mail) with the dkim.keys entry of its From domain, last, over the "
	  "message as delivered. When no key fits, or signing fails, the message is deferred (tempfail), never "
	  "sent unsigned. dkim.sign_outbound: true does this for all outbound mail from the signing domains." },
	{ "sign", "sign: true | IDENTITY",
	  "S/MIME-sign the message (multipart/signed, SHA-256) with the identity (signing.identities) that "
	  "matches its From address, or the one named. It is made safe for transport first (8-bit parts "
	  "re-encoded, long lines and trailing white space protected), and signed after sealing, so the "
	  "signature covers the notice and the attachment. An identity whose certificate has expired, or no "
	  "identity (with signing.missing_identity: tempfail), defers the message: it is never sent unsigned." },
	{ "stop", "stop: true", "Evaluate no further rules once this rule fires." },
};
const size_t action_ndocs = sizeof(action_docs) / sizeof(action_docs[0]);

static int
valid_reply_text(const char *t)
{
	const unsigned char *p;

	if (strlen(t) > 400)
		return 0;
	for (p = (const unsigned char *)t; *p; p++)
		if (*p < 0x20 || *p > 0x7e || *p == '%')
			return 0;
	return 1;
}

static int
valid_header_value(const char *v)
{
	const unsigned char *p;

	if (strlen(v) > 900)
		return 0;
	for (p = (const unsigned char *)v; *p; p++)
		if (*p == '\r' || *p == '\n' || *p == 0)
			return 0;
	return 1;
}

/* "5.7.1 text" -> xcode, text. */
static int
split_status(const char *s, char cls, char **xcode, char **text)
{
	const char *sp;

	/* Something that looks like a status must be a valid one of this class. */
	if (isdigit((unsigned char)s[0]) && s[1] == '.' && s[0] != cls)
		return -1;
	if (s[0] == cls && s[1] == '.' && isdigit((unsigned char)s[2]) && (sp = strchr(s, ' ')) != NULL) {
		const char *p;
		int dots = 0;
		for (p = s; p < sp; p++) {
			if (*p == '.')
				dots++;
			else if (!isdigit((unsigned char)*p))
				return -1;
		}
		if (dots != 2)
			return -1;
		*xcode = xstrndup(s, (size_t)(sp - s));
		*text = strdup(sp + 1);
	} else {
		*text = strdup(s);
	}
	return 0;
}

static int
build_reply(const struct ynode *n, struct rule *r, struct action *a, struct cfg_errors *errs)
{
	int perm = a->kind == A_REJECT;
	const char *what = perm ? "reject" : "tempfail";
	char cls = perm ? '5' : '4';
	int flag;

	if (n->kind == Y_SCALAR && yscalar_bool(n, &flag) == 0) {
		if (!flag) {
			cfg_error(errs, n, "%s: false makes no sense; leave the action out", what);
			return -1;
		}
	} else if (n->kind == Y_SCALAR) {
		if (split_status(n->value, cls, &a->xcode, &a->text) != 0) {
			cfg_error(errs, n, "%s: '%s' does not start with a valid status like %c.7.1", what, n->value, cls);
			return -1;
		}
	} else if (n->kind == Y_MAP) {
		static const char *const keys[] = { "code", "status", "text" };
		const struct ynode *v;
		size_t i, j;
		for (i = 0; i < n->n; i++) {
			int ok = 0;
			for (j = 0; j < 3; j++)
				ok |= strcmp(ymap_key(n, i)->value, keys[j]) == 0;
			if (!ok) {
				cfg_error(errs, ymap_key(n, i), "%s: unknown key '%s' (keys: code, status, text)", what,
				    ymap_key(n, i)->value);
				return -1;
			}
		}
		if ((v = ymap_get(n, "code"))) {
			if (v->kind != Y_SCALAR || strlen(v->value) != 3 || v->value[0] != cls ||
			    !isdigit((unsigned char)v->value[1]) || !isdigit((unsigned char)v->value[2])) {
				cfg_error(errs, v, "%s: code: expected a %cxx SMTP code", what, cls);
				return -1;
			}
			a->code = strdup(v->value);
		}
		if ((v = ymap_get(n, "status"))) {
			char *dummy = NULL;
			char *tmp = NULL;
			if (v->kind != Y_SCALAR || asprintf(&tmp, "%s x", v->value) < 0 ||
			    split_status(tmp, cls, &a->xcode, &dummy) != 0 || a->xcode == NULL) {
				cfg_error(errs, v, "%s: status: expected an enhanced status code like %c.7.1", what, cls);
				free(tmp);
				free(dummy);
				return -1;
			}
			free(tmp);
			free(dummy);
		}
		if ((v = ymap_get(n, "text"))) {
			if (v->kind != Y_SCALAR) {
				cfg_error(errs, v, "%s: text: expected a string", what);
				return -1;
			}
			a->text = strdup(v->value);
		}
	} else {
		cfg_error(errs, n, "%s: expected \"%c.7.1 text\", true, or { code, status, text }", what, cls);
		return -1;
	}
	if (a->code == NULL)
		a->code = strdup(perm ? "550" : "451");
	if (a->xcode == NULL)
		a->xcode = strdup(perm ? "5.7.1" : "4.7.1");
	if (a->text == NULL && asprintf(&a->text, "Message %s by policy (rule %s)",
	    perm ? "rejected" : "deferred", r->name) < 0)
		a->text = NULL;
	if (a->text == NULL || !valid_reply_text(a->text)) {
		cfg_error(errs, n, "%s: the text must be printable ASCII, at most 400 characters, without %%", what);
		return -1;
	}
	return 0;
}

static int
build_tag(const struct ynode *n, struct action *a, struct cfg_errors *errs)
{
	const struct ynode *h, *v;
	size_t i;

	if (n->kind != Y_MAP) {
		cfg_error(errs, n, "tag: expected { header: NAME, value: TEXT }");
		return -1;
	}
	for (i = 0; i < n->n; i++)
		if (strcmp(ymap_key(n, i)->value, "header") && strcmp(ymap_key(n, i)->value, "value")) {
			cfg_error(errs, ymap_key(n, i), "tag: unknown key '%s' (keys: header, value)", ymap_key(n, i)->value);
			return -1;
		}
	h = ymap_get(n, "header");
	v = ymap_get(n, "value");
	if (h == NULL || h->kind != Y_SCALAR || !valid_header_name(h->value)) {
		cfg_error(errs, h ? h : n, "tag: header: is required and must be a header field name");
		return -1;
	}
	if (v == NULL || v->kind != Y_SCALAR || !valid_header_value(v->value)) {
		cfg_error(errs, v ? v : n, "tag: value: is required: one line of at most 900 characters");
		return -1;
	}
	a->kind = A_TAG;
	a->header = strdup(h->value);
	a->value = strdup(v->value);
	return 0;
}

static struct action *
push_action(struct rule *r)
{
	struct action *na = realloc(r->actions, (r->nactions + 1) * sizeof(*na));

	if (na == NULL)
		return NULL;
	r->actions = na;
	memset(&na[r->nactions], 0, sizeof(*na));
	return &na[r->nactions++];
}

int
actions_build(const struct ynode *node, struct rule *r, const struct seal_config *cfg, struct cfg_errors *errs)
{
	size_t i, j;
	int rc = 0, terminal = 0, prefer_smime = 0, for_who = FOR_ALL;

	if (node->kind != Y_MAP || node->n == 0) {
		cfg_error(errs, node, "rule '%s': then: expected a mapping of actions (tag, reject, tempfail, seal, stop)",
		    r->name);
		return -1;
	}
	for (i = 0; i < node->n; i++) {
		const char *k = ymap_key(node, i)->value;
		const struct ynode *v = ymap_val(node, i);
		struct action *a;

		if (strcmp(k, "tag") == 0) {
			size_t n = v->kind == Y_SEQ ? v->n : 1;
			for (j = 0; j < n; j++) {
				if ((a = push_action(r)) == NULL)
					return -1;
				if (build_tag(v->kind == Y_SEQ ? v->items[j] : v, a, errs) != 0) {
					r->nactions--;
					rc = -1;
				}
			}
		} else if (strcmp(k, "reject") == 0 || strcmp(k, "tempfail") == 0) {
			if (terminal++) {
				cfg_error(errs, ymap_key(node, i), "rule '%s': give only one of reject and tempfail", r->name);
				rc = -1;
				continue;
			}
			if ((a = push_action(r)) == NULL)
				return -1;
			a->kind = k[0] == 'r' ? A_REJECT : A_TEMPFAIL;
			if (build_reply(v, r, a, errs) != 0)
				rc = -1;
		} else if (strcmp(k, "seal") == 0) {
			const struct seal_template *t = v->kind == Y_SCALAR ? seal_template_find(&cfg->templates, v->value) : NULL;
			if (t == NULL) {
				cfg_error(errs, v, "rule '%s': seal: '%s' is not defined under templates:", r->name,
				    v->kind == Y_SCALAR ? v->value : "?");
				rc = -1;
				continue;
			}
			if (cfg->keys.ntenant == 0 || cfg->keys.issuer_cert == NULL) {   /* the key itself: not read for sealview */
				cfg_error(errs, v, "rule '%s': seal: needs keys.tenant and keys.issuer", r->name);
				rc = -1;
				continue;
			}
			if ((a = push_action(r)) == NULL)
				return -1;
			a->kind = A_SEAL;
			a->tpl = t;
		} else if (strcmp(k, "decrypt") == 0) {
			int on = 0;
			size_t t;
			int have_key = 0;
			if (yscalar_bool(v, &on) != 0 || !on) {
				cfg_error(errs, v, "rule '%s': decrypt: expected true", r->name);
				rc = -1;
				continue;
			}
			for (t = 0; t < cfg->keys.ntenant; t++)
				have_key |= cfg->keys.tenant[t].key != NULL;
			if (!have_key) {
				cfg_error(errs, v, "rule '%s': decrypt: needs a tenant private key (keys.tenant[].key)", r->name);
				rc = -1;
				continue;
			}
			if ((a = push_action(r)) == NULL)
				return -1;
			a->kind = A_DECRYPT;
		} else if (strcmp(k, "sign") == 0) {
			int on = 0;
			if (cfg->signing.n == 0) {
				cfg_error(errs, v, "rule '%s': sign: needs signing.identities", r->name);
				rc = -1;
				continue;
			}
			if (v->kind != Y_SCALAR || (yscalar_bool(v, &on) == 0 && !on)) {
				cfg_error(errs, v, "rule '%s': sign: expected true or an identity's name", r->name);
				rc = -1;
				continue;
			}
			if (yscalar_bool(v, &on) != 0 && smime_identity_for(&cfg->signing, "", v->value) == NULL) {
				cfg_error(errs, v, "rule '%s': sign: no identity named %s in signing.identities", r->name, v->value);
				rc = -1;
				continue;
			}
			if ((a = push_action(r)) == NULL)
				return -1;
			a->kind = A_SIGN;
			if (yscalar_bool(v, &on) != 0 && (a->identity = strdup(v->value)) == NULL)
				return -1;
		} else if (strcmp(k, "dkim_sign") == 0) {
			int on = 0;
			if (yscalar_bool(v, &on) != 0 || !on) {
				cfg_error(errs, v, "rule '%s': dkim_sign: expected true", r->name);
				rc = -1;
				continue;
			}
			if (cfg->ndkim_signers == 0) {
				cfg_error(errs, v, "rule '%s': dkim_sign: needs a signing key (dkim.keys)", r->name);
				rc = -1;
				continue;
			}
			if ((a = push_action(r)) == NULL)
				return -1;
			a->kind = A_DKIM_SIGN;
		} else if (strcmp(k, "prefer_smime") == 0) {
			int on = 0;
			if (yscalar_bool(v, &on) != 0 || !on) {
				cfg_error(errs, v, "rule '%s': prefer_smime: expected true", r->name);
				rc = -1;
			} else if (!ymap_get(node, "seal")) {
				cfg_error(errs, v, "rule '%s': prefer_smime: goes beside a seal: action", r->name);
				rc = -1;
			} else if (cfg->smime_cert_dir == NULL) {
				cfg_error(errs, v, "rule '%s': prefer_smime: needs smime.cert_dir", r->name);
				rc = -1;
			} else {
				prefer_smime = 1;
			}
		} else if (strcmp(k, "for") == 0) {
			if (v->kind != Y_SCALAR || (strcmp(v->value, "external") != 0 && strcmp(v->value, "internal") != 0 &&
			    strcmp(v->value, "all") != 0)) {
				cfg_error(errs, v, "rule '%s': for: expected external, internal or all", r->name);
				rc = -1;
			} else if (!ymap_get(node, "seal")) {
				cfg_error(errs, v, "rule '%s': for: goes beside a seal: action", r->name);
				rc = -1;
			} else if (strcmp(v->value, "all") != 0 && cfg->submit_url == NULL) {
				cfg_error(errs, v, "rule '%s': for: %s splits messages, which needs milter.submit_url (where "
				    "the copies go back to the MTA)", r->name, v->value);
				rc = -1;
			} else
				for_who = v->value[0] == 'e' ? FOR_EXTERNAL : v->value[0] == 'i' ? FOR_INTERNAL : FOR_ALL;
		} else if (strcmp(k, "stop") == 0) {
			if (yscalar_bool(v, &r->stop) != 0) {
				cfg_error(errs, v, "stop: expected true or false");
				rc = -1;
			}
		} else {
			cfg_error(errs, ymap_key(node, i), "rule '%s': unknown action '%s' (actions: tag, reject, tempfail, "
			    "seal, prefer_smime, for, decrypt, sign, dkim_sign, stop)", r->name, k);
			rc = -1;
		}
	}
	if (rc == 0 && r->nactions == 0 && !r->stop) {
		cfg_error(errs, node, "rule '%s': then: has no action", r->name);
		rc = -1;
	}
	for (i = 0; i < r->nactions; i++)
		if (r->actions[i].kind == A_SEAL) {
			r->actions[i].prefer_smime = prefer_smime;
			r->actions[i].for_who = for_who;
		}
	return rc;
}

void
rule_clear(struct rule *r)
{
	size_t i;

	for (i = 0; i < r->nactions; i++) {
		free(r->actions[i].header);
		free(r->actions[i].value);
		free(r->actions[i].code);
		free(r->actions[i].xcode);
		free(r->actions[i].text);
		free(r->actions[i].identity);
	}
	free(r->actions);
	cond_free(r->cond);
	free(r->name);
	free(r->description);
	free(r->file);
	memset(r, 0, sizeof(*r));
}

void
pattern_clear(struct pattern *p)
{
	free(p->name);
	free(p->description);
	sregex_free(p->re);
	memset(p, 0, sizeof(*p));
}
