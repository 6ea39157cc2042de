/* stats.c: percentiles by nearest rank: the value a reader can find in wakes.csv. */
#include <math.h>
#include <stdlib.h>

#include "stats.h"

int samples_add(struct samples *s, double x)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 256;
		double *v = realloc(s->v, cap * sizeof(*v));
		if (!v)
			return -1;
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n++] = x;
	s->sorted = 0;
	return 0;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

double samples_pct(struct samples *s, double p)
{
	if (!s->n)
		return NAN;
	if (!s->sorted) {
		qsort(s->v, s->n, sizeof(*s->v), cmp);
		s->sorted = 1;
	}
	/* p/100*n rounds 99.9/100*1000 up to 999.0000000000001 (rank 1000, not
	 * 999); multiplying first and forgiving a last-bit excess keeps decimal
	 * percentiles exact */
	double x = p * (double)s->n / 100.0;
	size_t rank = x > 0 ? (size_t)ceil(x - x * 1e-12) : 1;
	if (rank < 1)
		rank = 1;
	if (rank > s->n)
		rank = s->n;
	return s->v[rank - 1];
}

double samples_mean(const struct samples *s)
{
	if (!s->n)
		return NAN;
	double sum = 0;
	for (size_t i = 0; i < s->n; i++)
		sum += s->v[i];
	return sum / (double)s->n;
}

double samples_max(struct samples *s)
{
	return samples_pct(s, 100);
}

void samples_free(struct samples *s)
{
	free(s->v);
	s->v = NULL;
	s->n = s->cap = 0;
}
