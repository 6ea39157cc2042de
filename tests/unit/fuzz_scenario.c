/* fuzz_scenario.c: the scenario parser and the link profile parser must
 * never crash, leak, or break their contracts, whatever the input: each
 * input is fed to both.
 *
 * Built with DORMANT_LIBFUZZER (cmake -DDORMANT_FUZZ=ON, clang) this is a
 * libFuzzer target; seed it with scenarios/, scenarios/links/ and tests/unit/bad/:
 *   ./fuzz_scenario corpus/ ../scenarios ../scenarios/links ../tests/unit/bad
 * Otherwise it is a replay program for ctest: each file given on the command
 * line is fed as is, truncated at every byte, and with single bytes replaced
 * at up to FLIP_POSITIONS positions, all under the sanitizers.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "link.h"
#include "scenario.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A link profile: complete and consistent, or one line naming the file. */
static void feed_profile(const uint8_t *data, size_t size)
{
	struct link_profile p;
	char err[512];

	memset(err, 'x', sizeof err);
	enum dormant_err rc = link_profile_load_buffer("fuzz.yaml", (const char *)data, size, &p, err, sizeof err);
	if (rc == ERR_OK) {
		if (err[0] != '\0' || !p.name[0] || p.delay_ms_min > p.delay_ms_max || !(p.up_kbps > 0) ||
		    !(p.down_kbps > 0) || strcmp(p.path, "fuzz.yaml") != 0)
			abort();
		return;
	}
	if ((rc != ERR_SCENARIO && rc != ERR_NOMEM) || !memchr(err, '\0', sizeof err) ||
	    strncmp(err, "fuzz.yaml:", 10) != 0 || strchr(err, '\n'))
		abort();
}

/* A scenario: complete and consistent, or one line naming the file (or a
 * link profile it names, and where). */
static void feed_scenario(const uint8_t *data, size_t size)
{
	struct scenario *s = (struct scenario *)1;
	char err[512];

	memset(err, 'x', sizeof err);
	enum dormant_err rc = scenario_load_buffer("fuzz.yaml", (const char *)data, size, &s, err,
	                                           sizeof err);
	if (rc == ERR_OK) {
		if (!s || err[0] != '\0' || s->nfleets < 1 || s->nfleets > FLEETS_MAX ||
		    s->nvariants < 1 || s->nvariants > VARIANTS_MAX)
			abort();
		scenario_free(s);
		return;
	}
	if (s != NULL || (rc != ERR_SCENARIO && rc != ERR_NOMEM) || !memchr(err, '\0', sizeof err) ||
	    (strncmp(err, "fuzz.yaml:", 10) != 0 && !strstr(err, "(the link of fuzz.yaml:")) || strchr(err, '\n'))
		abort();
}

/* Returns 0; a broken contract aborts so the fuzzer records the input. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	feed_scenario(data, size);
	feed_profile(data, size);
	return 0;
}

#ifndef DORMANT_LIBFUZZER

#define FLIP_POSITIONS 512

/* Byte values that matter to YAML or to the value parsers. */
static const uint8_t replacements[] = {
	0x00, 0xff, '\n', ' ', ':', '-', '[', '{', '*', '&', '"', '#', '9', '.',
};

static long runs;
/* The replay feeds a link profile (a file under links/) to the profile
 * parser alone and the rest to the scenario parser alone: both at once
 * doubles a run that ctest repeats. */
static void (*parser)(const uint8_t *data, size_t size);

static void feed(const uint8_t *data, size_t size)
{
	/* An exact-size copy, so reading past the end is caught. */
	uint8_t *copy = malloc(size ? size : 1);
	if (!copy) {
		perror("malloc");
		exit(2);
	}
	memcpy(copy, data, size);
	parser(copy, size);
	free(copy);
	runs++;
}

static int replay(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		perror(path);
		return -1;
	}
	static uint8_t buf[1 << 20];
	parser = strstr(path, "/links/") ? feed_profile : feed_scenario;
	size_t n = fread(buf, 1, sizeof buf, f);
	fclose(f);

	feed(buf, n);
	for (size_t len = 0; len < n; len++)
		feed(buf, len);

	size_t step = n > FLIP_POSITIONS ? n / FLIP_POSITIONS : 1;
	for (size_t pos = 0; pos < n; pos += step) {
		uint8_t saved = buf[pos];
		for (size_t r = 0; r < sizeof replacements; r++) {
			if (replacements[r] == saved)
				continue;
			buf[pos] = replacements[r];
			feed(buf, n);
		}
		buf[pos] = saved ^ 0x20; /* case and space flips */
		feed(buf, n);
		buf[pos] = saved;
	}
	return 0;
}

int main(int argc, char **argv)
{
	int failed = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE...\n", argv[0]);
		return 2;
	}
	for (int i = 1; i < argc; i++)
		if (replay(argv[i]) < 0)
			failed = 1;
	printf("fuzz_scenario: %d files, %ld inputs, no crash\n", argc - 1, runs);
	return failed;
}

#endif
