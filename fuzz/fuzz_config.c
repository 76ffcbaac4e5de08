/*
 * fuzz_config.c - libFuzzer target: arbitrary bytes as a YAML
 * configuration file, loaded with config_load() (rules/config.c: the YAML
 * tree of rules/yamltree.c, the settings table of rules/cfgkeys.c, the
 * pattern, condition and action builders, the marker key), exactly as
 * `sealctl -c FILE check` and the daemon at start and on reload do.
 *
 * Input faced: any bytes - broken YAML, anchors and aliases, duplicate
 * keys, deep nesting, huge scalars, wrong types, out-of-range sizes and
 * durations, bad CIDRs, regexes PCRE2 refuses, includes. The bytes are
 * written to a file in a private temp dir (removed after each load), so
 * relative includes find nothing but that file; absolute ones reach
 * whatever they name. Whatever the input, config_load() returns a
 * configuration or NULL with at least one error, and must never crash,
 * leak or hang. A loaded configuration is also run past the helpers the
 * daemon calls on it.
 *
 * Built with fuzz/driver.c it runs over corpus files without libFuzzer.
 */
#include "build-config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rules/cfgerr.h"
#include "rules/config.h"
#include "engine/session.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char tmpdir[4096];
static char path[4200];

static void
cleanup(void)
{
	(void)unlink(path);
	(void)rmdir(tmpdir);
}

static void
init(void)
{
	const char *t = getenv("TMPDIR");

	snprintf(tmpdir, sizeof(tmpdir), "%s/fuzz_config.XXXXXX", t && *t ? t : "/tmp");
	if (mkdtemp(tmpdir) == NULL) {
		perror("fuzz_config: mkdtemp");
		abort();
	}
	snprintf(path, sizeof(path), "%s/sealmilter.yaml", tmpdir);
	/* An include of /dev/stdin must not wait for a terminal. */
	if (freopen("/dev/null", "r", stdin) == NULL)
		abort();
	atexit(cleanup);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cfg_errors errs;
	struct seal_config *c;
	FILE *f;

	if (tmpdir[0] == '\0')
		init();
	f = fopen(path, "wb");
	if (f == NULL)
		abort();
	if ((size && fwrite(data, 1, size, f) != size) || fclose(f) != 0)
		abort();
	memset(&errs, 0, sizeof(errs));
	c = config_load(path, 0, &errs);
	if (c == NULL && errs.count == 0)
		abort();    /* a refused configuration always says why */
	if (c != NULL) {
		if (errs.count != 0)
			abort();    /* never half-loaded */
		(void)c->needs;
		(void)config_is_org_domain(c, "example.com");
		(void)config_is_trusted_ip(c, "127.0.0.1");
		(void)config_is_trusted_ip(c, "2001:db8::1");
		(void)config_is_trusted_ip(c, "not an address");
		config_unref(c);
	}
	cfg_errors_free(&errs);
	(void)unlink(path);    /* so that a crash leaves only an empty dir */
	return 0;
}
