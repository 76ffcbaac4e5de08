/*
 * fuzz_open.c - libFuzzer target for the opener: the bytes as a sealed
 * object (seal_cms_open) and, when it opens, its policy (seal_policy_parse);
 * the bytes also go to the policy parser directly. Keys are made once, at
 * start, in a private temp directory that is removed at once after loading.
 *
 * Input faced: anything: truncated, oversized, re-encoded or random DER, and
 * hostile JSON. The target must never crash, leak or hang, and an object it
 * did not seal itself must never open (that would be a forgery): it aborts
 * if one does.
 */
#include "build-config.h"

#include <openssl/bio.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mime/hdrdecode.h"
#include "rules/cfgerr.h"
#include "rules/config.h"
#include "seal/cms.h"
#include "seal/keys.h"
#include "seal/sealpolicy.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct seal_config *cfg;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char dir[] = "/tmp/fuzz-open-XXXXXX", *err = NULL, *yaml = NULL, *path = NULL;
	struct cfg_errors errs;
	FILE *f;

	(void)argc;
	(void)argv;
	mime_init();
	if (mkdtemp(dir) == NULL || seal_keys_generate("tenant", 2048, dir, "t", &err) != 0 ||
	    seal_keys_generate("issuer", 0, dir, "i", &err) != 0)
		abort();
	if (asprintf(&path, "%s/c.yaml", dir) < 0 || (f = fopen(path, "w")) == NULL)
		abort();
	fprintf(f, "organization: { domains: [example.com] }\nmilter: { spool_dir: /tmp }\nkeys:\n"
	    "  tenant: [ { id: t, cert: %s/t.pem, key: %s/t.key } ]\n  issuer: { cert: %s/i.pem, key: %s/i.key }\n",
	    dir, dir, dir, dir);
	fclose(f);
	memset(&errs, 0, sizeof(errs));
	cfg = config_load(path, 0, &errs);
	if (cfg == NULL)
		abort();
	if (asprintf(&yaml, "rm -rf %s", dir) < 0 || system(yaml) != 0)
		abort();
	free(yaml);
	free(path);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	BIO *in = BIO_new_mem_buf(data, (int)size), *out = BIO_new(BIO_s_mem());
	char *policy = NULL, *err = NULL;
	size_t plen = 0;
	struct seal_policy p;
	enum seal_open_error rc;
	char *data_out;

	if (in == NULL || out == NULL)
		abort();
	rc = seal_cms_open(&cfg->keys, in, 1 << 20, &policy, &plen, out, &err);
	/* The keys are fresh: no input can carry their signature. */
	if (rc == SEAL_OPEN_OK)
		abort();
	if (BIO_get_mem_data(out, &data_out) != 0)
		abort();      /* plaintext released on failure */
	free(policy);
	free(err);
	err = NULL;
	if (seal_policy_parse((const char *)data, size, &p, &err) == 0) {
		(void)seal_policy_expired(&p, 0);
		(void)seal_policy_allows(&p, "a@example.com");
		seal_policy_free(&p);
	}
	free(err);
	BIO_free(in);
	BIO_free(out);
	return 0;
}
