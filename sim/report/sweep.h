/* sweep.h: how a deployment's ranking moves with one of its inputs, and
 * where it flips (for `dormant recommend`'s sensitivity figures).
 *
 * sweep_run() costs every candidate of SET again at NX points of one axis,
 * log-spaced, with everything else the deployment's:
 *
 *   SWEEP_PERIOD   the wake period, 1 min .. 24 h (widened to take in the
 *                  deployment's own and its command deadline); the measured wakes as they are, so a
 *                  per-wake device's curve is its sleep floor against its
 *                  wakes a day, and a kept connection's has a step at each
 *                  keep-alive more a sleep needs (energy_kept_period)
 *   SWEEP_PAYLOAD  one message's size, 10 B .. 10 KB (widened likewise),
 *                  at the deployment's period: modelled from the measured
 *                  wake (sim_cost with a payload), not measured
 *
 * A candidate counts at a point only where the deployment's constraints
 * allow it there (recommend_rule_out with that period or payload: a command
 * deadline rules per-wake devices out above it). The best at each point is
 * the one with the longest battery life; where it changes between two
 * points, the point of change is found by bisection (to 0.1 %) and kept as
 * a flip: the value, the candidate before and the one after (-1: none is
 * allowed on that side).
 */
#ifndef DORMANT_SWEEP_H
#define DORMANT_SWEEP_H

#include <stddef.h>

#include "simulate.h"

enum sweep_axis { SWEEP_PERIOD, SWEEP_PAYLOAD };

#define SWEEP_FLIPS 16

struct sweep_flip {
	double x;
	int from, to; /* indices into set->c; -1: none allowed */
};

struct sweep {
	int axis;
	double lo, hi;           /* the axis' range */
	double at;               /* the deployment's own value on it */
	double measured;         /* payload axis: the measured payload, where every candidate agrees (NaN: not) */
	size_t nx, nc;
	double *x;               /* nx values */
	double *years;           /* nx x nc: years[i * nc + k], NaN where not costed or not allowed */
	int *best;               /* nx: the best candidate, -1: none */
	struct sweep_flip flips[SWEEP_FLIPS];
	size_t nflips;
	int flips_cut;           /* more flips than SWEEP_FLIPS: the rest not kept */
};

/* 0 when candidate K of SET is allowed at X on AXIS (its costs into *C);
 * 1 when it cannot be costed there or a constraint rules it out, the reason in WHY. */
int sweep_why(const struct sim_set *set, int axis, size_t k, double x, struct sim_cand *c, char *why, size_t n);

/* 0, or -1 when out of memory. */
int sweep_run(const struct sim_set *set, int axis, size_t nx, struct sweep *out);
void sweep_free(struct sweep *s);

/* X (seconds) as "45 s", "4.3 min", "2.5 h", "1.5 d"; (bytes) as "120 B", "1.5 KB". */
void sweep_fmt(int axis, double x, char *buf, size_t n);

#endif
