/* gnuplot.h: gnuplot scripts that draw one figure as PNG and SVG, and
 * running them.
 *
 * A script NAME.gp sits next to its data files and draws NAME.png
 * (pngcairo) and NAME.svg (svg) from them; a user can edit it and re-run
 * `gnuplot NAME.gp` in that directory, or `gnuplot -e 'fmts="png"' NAME.gp`
 * for one format. The body between gnuplot_script_open and
 * gnuplot_script_close is drawn once per format (a `do for` loop), after
 * `reset`, with a tab as the data separator and text without enhanced markup
 * (variant names keep their underscores).
 */
#ifndef DORMANT_GNUPLOT_H
#define DORMANT_GNUPLOT_H

#include <stddef.h>
#include <stdio.h>

/* Full path of the gnuplot binary in PATH into BUF; 0, or -1 when absent. */
int gnuplot_find(char *buf, size_t len);

/* Creates DIR/NAME.gp and writes its header: PURPOSE as a comment, the
 * canvas size W x H (variables W and H in the script), the format loop.
 * NULL with ERR on failure. The caller writes the body and closes it. */
FILE *gnuplot_script_open(const char *dir, const char *name, const char *purpose, int w, int h, char *err,
                          size_t errlen);
/* Ends the loop and closes F (DIR/NAME.gp); 0, or -1 with ERR when the file
 * could not be written, which is then removed. */
int gnuplot_script_close(FILE *f, const char *dir, const char *name, char *err, size_t errlen);

/* S as a gnuplot single-quoted string literal. */
void gnuplot_quote(FILE *f, const char *s);

/* `set xtics (...)` putting LABELS[i] under x = i, for N bars or groups
 * across a plot W pixels wide: long labels wrap at spaces onto several
 * lines; only a label with a word too long for its slot slants them all.
 * Sets the bottom margin to fit them (gnuplot does not for several lines). */
void gnuplot_xtics(FILE *f, const char *const *labels, size_t n, int w);

/* Runs `gnuplot -e 'fmts="FMTS"' NAME.gp` in DIR for each of the N names, a
 * few at a time, each with DEADLINE_S seconds; stderr goes to DIR/NAME.log
 * (removed when empty). OK[i] is set to 1 when script i exited 0. Returns the
 * number that failed; on the first failure ERR says which and why.
 * INTERRUPTED (NULL: never) is asked before each script starts and while
 * they run; once it returns nonzero, no script is started, the running ones
 * are killed and waited for, and gnuplot_run returns -1 with ERR
 * "interrupted": OK[i] is 1 only for scripts that had finished (the caller
 * removes the others' files, which may be cut short). */
int gnuplot_run(const char *dir, const char *const *names, size_t n, const char *fmts, int deadline_s,
                int (*interrupted)(void), int *ok, char *err, size_t errlen);

/* Checks that gnuplot wrote each of FMTS ("png svg") of DIR/NAME whole: a
 * PNG ends in its IEND chunk, an SVG in </svg>. gnuplot exits 0 when its
 * output could not be written (a full disk leaves 0-byte or cut files), so
 * this is how a write failure is seen. Returns 0; or, having removed NAME's
 * PNG and SVG (no half figure stays), with ERR naming the first bad file
 * and why, -2 when the file system is (nearly) full ("No space left on
 * device"), else -1 (incomplete: gnuplot failed, or could not write). */
int gnuplot_outputs_check(const char *dir, const char *name, const char *fmts, char *err, size_t errlen);

/* Closes F, written to PATH: 0, or -1 with ERR "PATH: <why>" and PATH removed. */
int gnuplot_file_close(FILE *f, const char *path, char *err, size_t errlen);

#endif
