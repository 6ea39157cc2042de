/* test_stats.c: percentiles by nearest rank (sim/core/stats.c), on the
 * edge cases a summary meets: no sample, one, ties, p=0 and p=100. */
#include <math.h>

#include "stats.h"
#include "unit.h"

#define CHECK_PCT(s, p, want)                                                                  \
	do {                                                                                   \
		double got_ = samples_pct(s, p);                                               \
		if (got_ != (want))                                                            \
			UNIT_FAIL_("samples_pct(%s, %g) = %g, want %g", #s, (double)(p), got_, \
			           (double)(want));                                            \
	} while (0)

static void test_empty(void)
{
	struct samples s = { 0 };
	CHECK(isnan(samples_pct(&s, 0)));
	CHECK(isnan(samples_pct(&s, 50)));
	CHECK(isnan(samples_pct(&s, 100)));
	CHECK(isnan(samples_mean(&s)));
	CHECK(isnan(samples_max(&s)));
	samples_free(&s);
}

static void test_one_sample(void)
{
	struct samples s = { 0 };
	CHECK_INT_EQ(samples_add(&s, 7.5), 0);
	CHECK_PCT(&s, 0, 7.5);
	CHECK_PCT(&s, 50, 7.5);
	CHECK_PCT(&s, 99, 7.5);
	CHECK_PCT(&s, 100, 7.5);
	CHECK(samples_mean(&s) == 7.5);
	samples_free(&s);
}

/* Nearest rank: the ceil(p/100 * n)-th smallest, at least the first. Added
 * out of order, so the sort is exercised. */
static void test_nearest_rank(void)
{
	struct samples s = { 0 };
	const double v[] = { 40, 10, 30, 20 };
	for (int i = 0; i < 4; i++)
		samples_add(&s, v[i]);
	CHECK_PCT(&s, 0, 10);    /* rank 0 clamps to the first */
	CHECK_PCT(&s, 25, 10);   /* ceil(1.0) = 1 */
	CHECK_PCT(&s, 26, 20);   /* ceil(1.04) = 2 */
	CHECK_PCT(&s, 50, 20);   /* ceil(2.0) = 2: a value in the data, never an interpolation */
	CHECK_PCT(&s, 75, 30);
	CHECK_PCT(&s, 99, 40);
	CHECK_PCT(&s, 100, 40);
	CHECK(samples_max(&s) == 40);
	CHECK(samples_mean(&s) == 25);
	/* adding after a percentile re-sorts */
	samples_add(&s, 0);
	CHECK_PCT(&s, 0, 0);
	CHECK_PCT(&s, 50, 20); /* n=5: ceil(2.5) = 3 -> 20 */
	samples_free(&s);
	CHECK_INT_EQ(s.n, 0);
}

static void test_ties(void)
{
	struct samples s = { 0 };
	for (int i = 0; i < 9; i++)
		samples_add(&s, 3);
	samples_add(&s, 100);
	CHECK_PCT(&s, 50, 3);
	CHECK_PCT(&s, 90, 3);   /* ceil(9.0) = 9: still a tie */
	CHECK_PCT(&s, 91, 100); /* ceil(9.1) = 10 */
	CHECK_PCT(&s, 100, 100);
	samples_free(&s);
}

/* More samples than the first allocation: growth keeps every value. */
static void test_many(void)
{
	struct samples s = { 0 };
	for (int i = 1000; i >= 1; i--)
		CHECK_INT_EQ(samples_add(&s, i), 0);
	CHECK_INT_EQ(s.n, 1000);
	CHECK_PCT(&s, 50, 500);
	CHECK_PCT(&s, 99, 990);
	CHECK_PCT(&s, 99.9, 999);
	CHECK_PCT(&s, 100, 1000);
	samples_free(&s);
}

int main(void)
{
	RUN(test_empty);
	RUN(test_one_sample);
	RUN(test_nearest_rank);
	RUN(test_ties);
	RUN(test_many);
	return UNIT_EXIT();
}
