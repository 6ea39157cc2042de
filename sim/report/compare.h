/* compare.h: the same variants across runs, side by side (`dormant compare`).
 *
 * compare_run() reads N run directories (as rundata.h reads them), matches
 * variants by name, and for every variant found in at least two runs prints
 * one table to OUT: each metric for run A (the first), B, ... with the
 * difference to A, absolute and in percent. Variants found in only one run
 * are listed as such. Runs are labelled A, B, C, ... in the order given.
 *
 * In OUTDIR (created; NULL: <parent of the first run>/compare-<UTC time>) it
 * writes compare.txt (the same table), compare.dat and compare.gp, the
 * figure compare.png/.svg (grouped bars per variant, one bar per run:
 * median wake time, median end-to-end latency, IP bytes up and down per
 * wake), and compare.html, self-contained like report.html.
 *
 * Returns ERR_OK; ERR_USAGE when fewer than 2 or more than 26 runs are
 * given or one is not a run directory; ERR_IO when OUTDIR cannot be
 * written; ERR_INTERNAL when gnuplot is missing or failed (the table is
 * printed and written all the same). ERR holds one line.
 */
#ifndef DORMANT_COMPARE_H
#define DORMANT_COMPARE_H

#include <stddef.h>
#include <stdio.h>

#include "error.h"

enum dormant_err compare_run(int n, char *const *rundirs, const char *outdir, FILE *out, char *err, size_t errlen);

#endif
