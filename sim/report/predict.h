/* predict.h: `dormant model`, a run's flight traces replayed on a link.
 *
 * predict_run() reads RUN_DIR's packets.csv (sim/core/trace.h) and wakes.csv
 * (rundata.h), and for every ok wake with a trace predicts the same wake on
 * the target link profile with the analytic model (sim/core/model.h): the
 * source delay is the trace's delay_us, the target delay the device's draw
 * on the target (link_delay_ms with the run's seed, from its scenario.yaml).
 * Per variant it prints the median predicted wake time, energy, TX and RX
 * time and flights; when the variant itself ran on a link of the target's
 * name, the measured medians of the same wakes beside them and the ratio
 * predicted / measured (the agreement). JSON: the same figures as one object
 * on OUT instead of the table.
 *
 * LINK is a profile path (it has a '/' or ends in .yaml) or a name, looked
 * up as scenarios/links/NAME.yaml from the current directory, then in the
 * source tree's scenarios/links/ (DORMANT_LINKS_DIR).
 *
 * Returns ERR_OK; ERR_USAGE when RUN_DIR is not a run directory, has no
 * packets.csv (a run without links) or no variant VARIANT (NULL: all);
 * ERR_SCENARIO when the profile cannot be read (its one-line message);
 * ERR_IO when packets.csv is unreadable or malformed (PATH:LINE: what);
 * ERR_NOMEM. ERR holds one line.
 */
#ifndef DORMANT_PREDICT_H
#define DORMANT_PREDICT_H

#include <stddef.h>
#include <stdio.h>

#include "error.h"

struct predict_opts {
	const char *rundir;
	const char *link;      /* name or path */
	const char *variant;   /* NULL: every variant */
	int json;
};

enum dormant_err predict_run(const struct predict_opts *o, FILE *out, char *err, size_t errlen);

#endif
