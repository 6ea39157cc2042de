/* sweep.c: a deployment's ranking along one input (see sweep.h). */
#include "sweep.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "recommend.h"

int sweep_why(const struct sim_set *set, int axis, size_t k, double x, struct sim_cand *c, char *why, size_t n)
{
	struct deployment d = set->d;
	double payload = -1;
	if (axis == SWEEP_PERIOD)
		d.wake_every_us = (uint64_t)llround(x * 1e6);
	else
		payload = x;
	const struct sim_cand *m = &set->c[k];
	if (sim_cost(&d, m->rd, m->v, set->span_s, payload, c) != 0) {
		snprintf(why, n, "%s", c->note);
		return 1;
	}
	return recommend_rule_out(&d, c, why, n) ? 1 : 0;
}

/* Candidate K of SET at X on AXIS: its battery years, NaN when it cannot be
 * costed there or the deployment's constraints rule it out there. */
static double years_at(const struct sim_set *set, int axis, size_t k, double x)
{
	struct sim_cand c;
	char why[256];
	return sweep_why(set, axis, k, x, &c, why, sizeof why) ? NAN : c.years;
}

/* The best candidate at X (-1: none), its years into *Y. Ties keep the first. */
static int best_at(const struct sim_set *set, int axis, double x, double *y)
{
	int best = -1;
	double by = NAN;
	for (size_t k = 0; k < set->n; k++) {
		double v = years_at(set, axis, k, x);
		if (!isnan(v) && (best < 0 || v > by)) {
			best = (int)k;
			by = v;
		}
	}
	if (y)
		*y = by;
	return best;
}

int sweep_run(const struct sim_set *set, int axis, size_t nx, struct sweep *out)
{
	memset(out, 0, sizeof(*out));
	out->axis = axis;
	out->nc = set->n;
	out->measured = NAN;
	if (axis == SWEEP_PERIOD) {
		out->at = (double)set->d.wake_every_us / 1e6;
		out->lo = 60;
		out->hi = 86400;
	} else {
		out->at = (double)set->d.payload_bytes;
		out->lo = 10;
		out->hi = 10000;
		for (size_t k = 0; k < set->n; k++) {
			double p = set->c[k].payload_b;
			if (k == 0)
				out->measured = p;
			else if (p != out->measured)
				out->measured = NAN;
		}
	}
	/* the deployment's own value inside the range, never on its edge (its
	 * marker would hide in the frame) */
	if (out->at < out->lo * 1.2)
		out->lo = out->at / 2;
	/* a command deadline under the range: show the periods a per-wake device
	 * would have to wake at to meet it */
	double dl = (double)set->d.command_deadline_us / 1e6;
	if (axis == SWEEP_PERIOD && dl > 0 && dl <= out->lo)
		out->lo = dl / 2 < 1 ? 1 : dl / 2;
	if (out->at > out->hi / 1.2)
		out->hi = out->at * 2;
	if (nx < 2)
		nx = 2;
	out->nx = nx;
	out->x = calloc(nx, sizeof(*out->x));
	out->years = calloc(nx * (set->n ? set->n : 1), sizeof(*out->years));
	out->best = calloc(nx, sizeof(*out->best));
	if (!out->x || !out->years || !out->best) {
		sweep_free(out);
		return -1;
	}
	double l0 = log(out->lo), l1 = log(out->hi);
	for (size_t i = 0; i < nx; i++) {
		out->x[i] = exp(l0 + (l1 - l0) * (double)i / (double)(nx - 1));
		out->best[i] = -1;
		double by = NAN;
		for (size_t k = 0; k < set->n; k++) {
			double v = years_at(set, axis, k, out->x[i]);
			out->years[i * set->n + k] = v;
			if (!isnan(v) && (out->best[i] < 0 || v > by)) {
				out->best[i] = (int)k;
				by = v;
			}
		}
	}
	/* Each change of the best between two grid points, narrowed down: a kept
	 * connection's curve steps where a sleep needs one keep-alive more, so
	 * the change is found by bisection rather than by interpolation. */
	for (size_t i = 0; i + 1 < nx; i++) {
		if (out->best[i] == out->best[i + 1])
			continue;
		double a = log(out->x[i]), b = log(out->x[i + 1]);
		int from = out->best[i];
		while (b - a > 1e-3) {
			double mid = (a + b) / 2;
			if (best_at(set, axis, exp(mid), NULL) == from)
				a = mid;
			else
				b = mid;
		}
		if (out->nflips == SWEEP_FLIPS) {
			out->flips_cut = 1;
			break;
		}
		out->flips[out->nflips++] = (struct sweep_flip){ .x = exp(b), .from = from, .to = out->best[i + 1] };
	}
	return 0;
}

void sweep_free(struct sweep *s)
{
	free(s->x);
	free(s->years);
	free(s->best);
	s->x = s->years = NULL;
	s->best = NULL;
}

void sweep_fmt(int axis, double x, char *buf, size_t n)
{
	if (axis == SWEEP_PAYLOAD) {
		if (x < 1000)
			snprintf(buf, n, "%.0f B", x);
		else
			snprintf(buf, n, "%.3g KB", x / 1000);
		return;
	}
	if (x < 90)
		snprintf(buf, n, "%.3g s", x);
	else if (x < 5400)
		snprintf(buf, n, "%.3g min", x / 60);
	else if (x < 2 * 86400)
		snprintf(buf, n, "%.3g h", x / 3600);
	else
		snprintf(buf, n, "%.3g d", x / 86400);
}
