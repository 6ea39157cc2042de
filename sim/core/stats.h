/* stats.h: sample sets and their percentiles (nearest-rank on sorted data). */
#ifndef DORMANT_STATS_H
#define DORMANT_STATS_H

#include <stddef.h>

struct samples {
	double *v;
	size_t n, cap;
	int sorted;
};

int samples_add(struct samples *s, double x);
/* P in [0,100]; NaN when empty. */
double samples_pct(struct samples *s, double p);
double samples_mean(const struct samples *s);
double samples_max(struct samples *s);
void samples_free(struct samples *s);

#endif
