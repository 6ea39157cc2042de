/* plot.h: figures and report.html for a run directory (`dormant plot`).
 *
 * plot_run() reads RUNDIR (wakes.csv by column name, summary.json,
 * scenario.yaml, env.json, servers/NN-<variant>/broker.csv when present) and
 * writes RUNDIR/plots/: for every figure a tab-separated NAME.dat, a gnuplot
 * script NAME.gp that draws NAME.png and NAME.svg from it (edit and re-run
 * with `cd plots && gnuplot NAME.gp`), and the images; then RUNDIR/report.html,
 * self-contained (the SVGs inline, no network, no external files), through
 * a temporary file and rename(). Figures a run has no data for (no TLS
 * variants, no broker samples, no failures) are left out with a note, in
 * the report and on LOG.
 *
 * The figures: bytes_ip, bytes_plain (bytes per wake by variant, stacked by
 * phase, uplink and downlink), tls (full against resumed handshakes: bytes,
 * time, CPU), cdf_wake and cdf_e2e (latency CDFs per variant), cpu_heap (CPU
 * time and heap high-water per wake), broker (broker CPU and RSS over the
 * run), failures (failed wakes by kind).
 *
 * Plotting reads the rows once and hands gnuplot only aggregates (at most a
 * few thousand CDF points per variant), so 100,000 wakes take seconds.
 */
#ifndef DORMANT_PLOT_H
#define DORMANT_PLOT_H

#include <stddef.h>
#include <stdio.h>

#include "error.h"

enum plot_format { PLOT_PNG = 1, PLOT_SVG = 2, PLOT_ALL = PLOT_PNG | PLOT_SVG };

/* Returns ERR_OK; ERR_USAGE when RUNDIR is not a run directory (no
 * wakes.csv); ERR_IO when plots/ or report.html cannot be written;
 * ERR_INTERNAL when gnuplot is missing or failed on a figure (report.html
 * is still written, without that figure); ERR_INTERRUPTED when INTERRUPTED
 * (NULL: never) returned nonzero, which it is asked between figures and
 * while gnuplot runs: the running gnuplot is killed, every figure not yet
 * drawn whole has its files (NAME.dat, .gp, .png, .svg, .log) removed, and
 * report.html is not written (one written before stays as it was).
 * ERR holds one line. Progress and notes (figures left out and why, where
 * the report is) go to LOG, which may be NULL. FORMATS: PLOT_* bits; the
 * report needs PLOT_SVG to inline figures, else it embeds the PNGs.
 *
 * The analysis does not know how the caller takes signals: INTERRUPTED is
 * typically "is SIGINT pending" for a caller that keeps it blocked. */
enum dormant_err plot_run(const char *rundir, int formats, int (*interrupted)(void), FILE *log, char *err,
                          size_t errlen);

#endif
