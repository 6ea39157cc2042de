/* unit.h: assertions for the unit tests (after libuv test/task.h).
 *
 * A failed check prints file, line, the expression and both values, counts
 * the failure and carries on, so one run shows every broken check. A test
 * program runs its cases with RUN(fn) and ends with `return UNIT_EXIT();`,
 * which is nonzero when any check failed.
 */
#ifndef DORMANT_UNIT_H
#define DORMANT_UNIT_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int unit_failures;

#define UNIT_FAIL_(...)                                                      \
	do {                                                                 \
		fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);              \
		fprintf(stderr, __VA_ARGS__);                                \
		fputc('\n', stderr);                                         \
		unit_failures++;                                             \
	} while (0)

#define CHECK(expr)                                                          \
	do {                                                                 \
		if (!(expr))                                                 \
			UNIT_FAIL_("CHECK(%s) failed", #expr);               \
	} while (0)

#define CHECK_INT_EQ(a, b)                                                   \
	do {                                                                 \
		long long a_ = (long long)(a), b_ = (long long)(b);          \
		if (a_ != b_)                                                \
			UNIT_FAIL_("CHECK_INT_EQ(%s, %s) failed: %lld != %lld", \
			           #a, #b, a_, b_);                          \
	} while (0)

#define CHECK_U64_EQ(a, b)                                                   \
	do {                                                                 \
		uint64_t a_ = (uint64_t)(a), b_ = (uint64_t)(b);             \
		if (a_ != b_)                                                \
			UNIT_FAIL_("CHECK_U64_EQ(%s, %s) failed: %" PRIu64   \
			           " != %" PRIu64, #a, #b, a_, b_);          \
	} while (0)

#define CHECK_STR_EQ(a, b)                                                   \
	do {                                                                 \
		const char *a_ = (a), *b_ = (b);                             \
		if (!a_ || !b_ || strcmp(a_, b_) != 0)                       \
			UNIT_FAIL_("CHECK_STR_EQ(%s, %s) failed:\n"          \
			           "  got:      \"%s\"\n  expected: \"%s\"", \
			           #a, #b, a_ ? a_ : "(null)",               \
			           b_ ? b_ : "(null)");                      \
	} while (0)

#define CHECK_STR_CONTAINS(hay, needle)                                      \
	do {                                                                 \
		const char *h_ = (hay), *n_ = (needle);                      \
		if (!h_ || !n_ || !strstr(h_, n_))                           \
			UNIT_FAIL_("CHECK_STR_CONTAINS(%s, %s) failed:\n"    \
			           "  string: \"%s\"\n  lacks:  \"%s\"",     \
			           #hay, #needle, h_ ? h_ : "(null)",        \
			           n_ ? n_ : "(null)");                      \
	} while (0)

/* Runs one test case and reports it by name. */
#define RUN(fn)                                                              \
	do {                                                                 \
		int before_ = unit_failures;                                 \
		fn();                                                        \
		printf("%s %s\n", unit_failures == before_ ? "ok  " : "FAIL", #fn); \
		fflush(stdout);                                              \
	} while (0)

#define UNIT_EXIT()                                                          \
	(unit_failures ? (fprintf(stderr, "%d check(s) failed\n", unit_failures), 1) : 0)

#endif
