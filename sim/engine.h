/* engine.h: runs a scenario: for each variant, the server side up, the
 * fleet's wakes on schedule through the protocol adapter and the modem, one
 * row per wake, the server side down. */
#ifndef DORMANT_ENGINE_H
#define DORMANT_ENGINE_H

#include <stddef.h>

#include "scenario.h"

struct engine_opts {
	const char *results_root;  /* results/ by default */
	int progress;              /* live progress line on stderr */
};

/* Exit codes of `dormant run` (README "Exit codes"). */
enum {
	EXIT_OK = 0,
	EXIT_INTERNAL = 1,
	EXIT_USAGE = 2,
	EXIT_SCENARIO = 3,
	EXIT_SERVER = 4,
	EXIT_IO = 5,
	EXIT_INTERRUPTED = 130,
};

/* Runs SC; writes the run directory path into RUNDIR. Returns an EXIT_* code;
 * on failure ERR holds one line (without newline). It blocks the run's
 * signals (loop_block_signals, loop.h) in the calling thread and leaves
 * them blocked; a second SIGINT/SIGTERM during the run exits 130 at once. */
int engine_run(const struct scenario *sc, const struct engine_opts *o, char *rundir, size_t rundir_len, char *err,
               size_t errlen);

#endif
