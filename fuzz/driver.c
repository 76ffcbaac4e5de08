/*
 * driver.c - a main() for the fuzz targets when libFuzzer is not there
 * (gcc, `make check`): runs LLVMFuzzerTestOneInput() once on every file
 * named on the command line and on every file (not hidden) in every
 * directory named there, in name order, each from an exactly sized heap
 * buffer so that a sanitizer sees any read past its end.
 *
 *   fuzz_message DIR_OR_FILE...
 *   fuzz_message            (no arguments: FUZZ_CORPUS_DIR, when it was
 *                            defined at build time, as for `make check`)
 *
 * Built with UBSan, a report ends the run (halt_on_error), so that a test
 * harness sees it in the exit status, as it does an ASan or LSan report.
 *
 * Input faced: the corpus and crash files it is given, which are hostile
 * by design; the driver itself only reads them. Exit status: 0 when every
 * input ran (a crash ends the process with the sanitizer's report or a
 * signal), 1 when a file could not be read or no input was found.
 * An input that takes longer than 10 seconds is named on stderr.
 */
#include "build-config.h"

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

const char *__ubsan_default_options(void);   /* NOLINT(bugprone-reserved-identifier): UBSan's hook */

const char *
__ubsan_default_options(void)
{
	return "print_stacktrace=1:halt_on_error=1";
}

static size_t ran, failed;

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	struct stat st;
	uint8_t *buf;
	size_t size;
	double t0;

	if (f == NULL || fstat(fileno(f), &st) != 0) {
		fprintf(stderr, "driver: %s: %s\n", path, strerror(errno));
		if (f)
			fclose(f);
		failed++;
		return;
	}
	size = (size_t)st.st_size;
	buf = malloc(size ? size : 1);
	if (buf == NULL || (size && fread(buf, 1, size, f) != size)) {
		fprintf(stderr, "driver: %s: cannot read\n", path);
		free(buf);
		fclose(f);
		failed++;
		return;
	}
	fclose(f);
	t0 = now();
	LLVMFuzzerTestOneInput(buf, size);
	if (now() - t0 > 10.0)
		fprintf(stderr, "driver: %s: slow input (%.1f s)\n", path, now() - t0);
	free(buf);
	ran++;
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
run_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **names = NULL;
	size_t n = 0, i;

	if (d == NULL) {
		fprintf(stderr, "driver: %s: %s\n", dir, strerror(errno));
		failed++;
		return;
	}
	while ((e = readdir(d)) != NULL) {
		char *p, **nn;
		struct stat st;
		if (e->d_name[0] == '.')
			continue;
		if (asprintf(&p, "%s/%s", dir, e->d_name) < 0)
			continue;
		if (stat(p, &st) != 0 || !S_ISREG(st.st_mode) || (nn = realloc(names, (n + 1) * sizeof(*nn))) == NULL) {
			free(p);
			continue;
		}
		names = nn;
		names[n++] = p;
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), name_cmp);
	for (i = 0; i < n; i++) {
		run_file(names[i]);
		free(names[i]);
	}
	free(names);
}

int
main(int argc, char **argv)
{
	int i;

	if (LLVMFuzzerInitialize)
		LLVMFuzzerInitialize(&argc, &argv);
	if (argc < 2) {
#ifdef FUZZ_CORPUS_DIR
		run_dir(FUZZ_CORPUS_DIR);
		fprintf(stderr, "%s: %zu inputs from %s ran, %zu unreadable\n", argv[0], ran, FUZZ_CORPUS_DIR, failed);
		return failed || ran == 0 ? 1 : 0;
#else
		fprintf(stderr, "usage: %s DIR_OR_FILE...\n", argv[0]);
		return 1;
#endif
	}
	for (i = 1; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode))
			run_dir(argv[i]);
		else
			run_file(argv[i]);
	}
	fprintf(stderr, "%s: %zu inputs ran, %zu unreadable\n", argv[0], ran, failed);
	return failed || ran == 0 ? 1 : 0;
}
