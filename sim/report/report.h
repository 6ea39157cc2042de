/* report.h: report.html, one self-contained page per run (and per compare).
 *
 * The page has no external resources: styles are inline, the figures are
 * the SVGs gnuplot wrote, inlined with their element ids made unique per
 * figure (or a PNG as a data: URI when there is no SVG). It reads on a phone
 * and on a wide screen: tables scroll sideways inside their box, figures
 * scale to the width.
 */
#ifndef DORMANT_REPORT_H
#define DORMANT_REPORT_H

#include <stddef.h>
#include <stdio.h>

#include "error.h"
#include "rundata.h"

/* One figure as the report shows it. */
struct report_fig {
	const char *name;   /* file stem in the plots directory: NAME.svg, NAME.png, NAME.gp, NAME.dat */
	char title[160];
	char caption[700];  /* what the figure shows and how to read it */
	char note[300];     /* why it was left out (drawn == 0) */
	int drawn;
};

/* The page's shell: <!DOCTYPE> to <body>, with TITLE escaped. */
void report_head(FILE *f, const char *title);
void report_tail(FILE *f);
/* mkdir -p PATH (0755): 0, or -1 with errno. */
int report_mkdirs(const char *path);
/* S with & < > " escaped. */
void report_esc(FILE *f, const char *s);
/* A <figure> with FIG's image from PLOTDIR (inline SVG, else PNG data: URI),
 * its caption and links to its files (LINKDIR: PLOTDIR relative to the page). */
void report_figure(FILE *f, const char *plotdir, const char *linkdir, const struct report_fig *fig, int seq);

/* Writes RD->dir/report.html (temporary file, then rename): the summary
 * table, TLS and failure tables when there are any, every figure of FIGS
 * (from RD->dir/plots), notes on those left out, the scenario and the
 * environment. ERR_IO with ERR on failure. */
enum dormant_err report_write(struct rundata *rd, const struct report_fig *figs, size_t nfigs, char *err,
                              size_t errlen);

#endif
