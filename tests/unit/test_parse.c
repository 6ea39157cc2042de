/* test_parse.c: the strict number, duration, size and bool parsers. */
#include "parse.h"
#include "unit.h"

#define US_PER_S UINT64_C(1000000)

/* Parses with full range; checks result and (on PARSE_OK) value. Leaves
 * out untouched on failure, which the sentinel checks. */
#define CHECK_PARSE(fn, s, want_rc, want_v)                                  \
	do {                                                                 \
		uint64_t v_ = UINT64_C(0xdeadbeef);                          \
		CHECK_INT_EQ(fn(s, 0, UINT64_MAX, &v_), want_rc);            \
		if ((want_rc) == PARSE_OK)                                   \
			CHECK_U64_EQ(v_, want_v);                            \
		else                                                         \
			CHECK_U64_EQ(v_, 0xdeadbeef);                        \
	} while (0)

static void test_uint(void)
{
	CHECK_PARSE(parse_uint, "0", PARSE_OK, 0);
	CHECK_PARSE(parse_uint, "42", PARSE_OK, 42);
	CHECK_PARSE(parse_uint, "007", PARSE_OK, 7);
	CHECK_PARSE(parse_uint, "18446744073709551615", PARSE_OK, UINT64_MAX);
	CHECK_PARSE(parse_uint, "18446744073709551616", PARSE_TOO_LARGE, 0);
	CHECK_PARSE(parse_uint, "99999999999999999999999", PARSE_TOO_LARGE, 0);

	CHECK_PARSE(parse_uint, "", PARSE_BAD, 0);
	CHECK_PARSE(parse_uint, " 5", PARSE_BAD, 0);
	CHECK_PARSE(parse_uint, "5 ", PARSE_BAD, 0);
	CHECK_PARSE(parse_uint, "+5", PARSE_BAD, 0);
	CHECK_PARSE(parse_uint, "0x10", PARSE_BAD, 0);
	CHECK_PARSE(parse_uint, "5x", PARSE_BAD, 0);
	CHECK_PARSE(parse_uint, "1.0", PARSE_BAD, 0);
	CHECK_PARSE(parse_uint, "1e3", PARSE_BAD, 0);
	CHECK_PARSE(parse_uint, "-", PARSE_BAD, 0);
	CHECK_PARSE(parse_uint, "--5", PARSE_BAD, 0);
	CHECK_PARSE(parse_uint, "-5x", PARSE_BAD, 0);

	CHECK_PARSE(parse_uint, "-5", PARSE_NEGATIVE, 0);
	CHECK_PARSE(parse_uint, "-0", PARSE_NEGATIVE, 0);
	CHECK_PARSE(parse_uint, "-99999999999999999999999", PARSE_NEGATIVE, 0);

	uint64_t v = 0;
	CHECK_INT_EQ(parse_uint("0", 1, 400, &v), PARSE_TOO_SMALL);
	CHECK_INT_EQ(parse_uint("1", 1, 400, &v), PARSE_OK);
	CHECK_U64_EQ(v, 1);
	CHECK_INT_EQ(parse_uint("400", 1, 400, &v), PARSE_OK);
	CHECK_U64_EQ(v, 400);
	CHECK_INT_EQ(parse_uint("401", 1, 400, &v), PARSE_TOO_LARGE);
}

static void test_duration(void)
{
	CHECK_PARSE(parse_duration_us, "250us", PARSE_OK, 250);
	CHECK_PARSE(parse_duration_us, "0us", PARSE_OK, 0);
	CHECK_PARSE(parse_duration_us, "100ms", PARSE_OK, 100000);
	CHECK_PARSE(parse_duration_us, "30s", PARSE_OK, 30 * US_PER_S);
	CHECK_PARSE(parse_duration_us, "15m", PARSE_OK, 15 * 60 * US_PER_S);
	CHECK_PARSE(parse_duration_us, "2h", PARSE_OK, 2 * 3600 * US_PER_S);
	CHECK_PARSE(parse_duration_us, "7d", PARSE_OK, 7 * 86400 * US_PER_S);
	CHECK_PARSE(parse_duration_us, "1.5s", PARSE_OK, 1500000);
	CHECK_PARSE(parse_duration_us, "0.25ms", PARSE_OK, 250);
	CHECK_PARSE(parse_duration_us, "1.000000000000000000000000s", PARSE_OK, US_PER_S);
	CHECK_PARSE(parse_duration_us, "0.000001s", PARSE_OK, 1);
	CHECK_PARSE(parse_duration_us, "0.0000000125d", PARSE_OK, 1080);
	CHECK_PARSE(parse_duration_us, "0.0000000003125d", PARSE_OK, 27); /* 13 fraction digits */
	CHECK_PARSE(parse_duration_us, "1.5m", PARSE_OK, 90 * US_PER_S);
	CHECK_PARSE(parse_duration_us, "0.5h", PARSE_OK, 1800 * US_PER_S);
	CHECK_PARSE(parse_duration_us, "18446744073709551615us", PARSE_OK, UINT64_MAX);

	/* bad forms */
	CHECK_PARSE(parse_duration_us, "", PARSE_BAD, 0);
	CHECK_PARSE(parse_duration_us, " 5s", PARSE_BAD, 0);
	CHECK_PARSE(parse_duration_us, "5s ", PARSE_BAD, 0);
	CHECK_PARSE(parse_duration_us, "5 s", PARSE_BAD, 0);
	CHECK_PARSE(parse_duration_us, "5", PARSE_BAD, 0);
	CHECK_PARSE(parse_duration_us, "5x", PARSE_BAD, 0);
	CHECK_PARSE(parse_duration_us, "5ss", PARSE_BAD, 0);
	CHECK_PARSE(parse_duration_us, "5S", PARSE_BAD, 0);
	CHECK_PARSE(parse_duration_us, "0x10s", PARSE_BAD, 0);
	CHECK_PARSE(parse_duration_us, "s", PARSE_BAD, 0);
	CHECK_PARSE(parse_duration_us, ".5s", PARSE_BAD, 0);
	CHECK_PARSE(parse_duration_us, "5.s", PARSE_BAD, 0);
	CHECK_PARSE(parse_duration_us, "1.2.3s", PARSE_BAD, 0);
	CHECK_PARSE(parse_duration_us, "+5s", PARSE_BAD, 0);
	CHECK_PARSE(parse_duration_us, "1e3s", PARSE_BAD, 0);
	CHECK_PARSE(parse_duration_us, "-5", PARSE_BAD, 0);

	/* fractions that are not whole microseconds */
	CHECK_PARSE(parse_duration_us, "0.5us", PARSE_BAD, 0);
	CHECK_PARSE(parse_duration_us, "1.0001ms", PARSE_BAD, 0);
	CHECK_PARSE(parse_duration_us, "0.0000001s", PARSE_BAD, 0);
	CHECK_PARSE(parse_duration_us, "0.00000000001d", PARSE_BAD, 0);    /* 0.864us */
	CHECK_PARSE(parse_duration_us, "0.00000000003125d", PARSE_BAD, 0); /* 2.7us */
	CHECK_PARSE(parse_duration_us, "1.00000000000000000000000000001s", PARSE_BAD, 0);

	/* negative */
	CHECK_PARSE(parse_duration_us, "-5s", PARSE_NEGATIVE, 0);
	CHECK_PARSE(parse_duration_us, "-1.5ms", PARSE_NEGATIVE, 0);

	/* overflow */
	CHECK_PARSE(parse_duration_us, "99999999999999999999s", PARSE_TOO_LARGE, 0);
	CHECK_PARSE(parse_duration_us, "18446744073709551616us", PARSE_TOO_LARGE, 0);
	CHECK_PARSE(parse_duration_us, "213503983d", PARSE_TOO_LARGE, 0);
	CHECK_PARSE(parse_duration_us, "18446744073709551615.5ms", PARSE_TOO_LARGE, 0);

	/* bounds */
	uint64_t v = 0;
	CHECK_INT_EQ(parse_duration_us("10ms", 100000, 86400 * US_PER_S, &v), PARSE_TOO_SMALL);
	CHECK_INT_EQ(parse_duration_us("2d", 100000, 86400 * US_PER_S, &v), PARSE_TOO_LARGE);
	CHECK_INT_EQ(parse_duration_us("1d", 100000, 86400 * US_PER_S, &v), PARSE_OK);
	CHECK_U64_EQ(v, 86400 * US_PER_S);
	CHECK_INT_EQ(parse_duration_us("0.1s", 100000, 86400 * US_PER_S, &v), PARSE_OK);
	CHECK_U64_EQ(v, 100000);
}

static void test_size(void)
{
	CHECK_PARSE(parse_size_bytes, "0B", PARSE_OK, 0);
	CHECK_PARSE(parse_size_bytes, "48B", PARSE_OK, 48);
	CHECK_PARSE(parse_size_bytes, "2KB", PARSE_OK, 2000);
	CHECK_PARSE(parse_size_bytes, "2KiB", PARSE_OK, 2048);
	CHECK_PARSE(parse_size_bytes, "3MB", PARSE_OK, 3000000);
	CHECK_PARSE(parse_size_bytes, "3MiB", PARSE_OK, 3 << 20);
	CHECK_PARSE(parse_size_bytes, "4GB", PARSE_OK, UINT64_C(4000000000));
	CHECK_PARSE(parse_size_bytes, "4GiB", PARSE_OK, UINT64_C(4) << 30);

	CHECK_PARSE(parse_size_bytes, "", PARSE_BAD, 0);
	CHECK_PARSE(parse_size_bytes, "48", PARSE_BAD, 0);
	CHECK_PARSE(parse_size_bytes, " 48B", PARSE_BAD, 0);
	CHECK_PARSE(parse_size_bytes, "48 B", PARSE_BAD, 0);
	CHECK_PARSE(parse_size_bytes, "1.5B", PARSE_BAD, 0);
	CHECK_PARSE(parse_size_bytes, "1.5KiB", PARSE_BAD, 0);
	CHECK_PARSE(parse_size_bytes, "0x10B", PARSE_BAD, 0);
	CHECK_PARSE(parse_size_bytes, "5x", PARSE_BAD, 0);
	CHECK_PARSE(parse_size_bytes, "5BB", PARSE_BAD, 0);
	CHECK_PARSE(parse_size_bytes, "5kb", PARSE_BAD, 0);
	CHECK_PARSE(parse_size_bytes, "5KIB", PARSE_BAD, 0);
	CHECK_PARSE(parse_size_bytes, "5s", PARSE_BAD, 0);
	CHECK_PARSE(parse_size_bytes, "-B", PARSE_BAD, 0);

	CHECK_PARSE(parse_size_bytes, "-5B", PARSE_NEGATIVE, 0);
	CHECK_PARSE(parse_size_bytes, "-2KiB", PARSE_NEGATIVE, 0);

	CHECK_PARSE(parse_size_bytes, "17179869184GiB", PARSE_TOO_LARGE, 0);
	CHECK_PARSE(parse_size_bytes, "99999999999999999999B", PARSE_TOO_LARGE, 0);

	uint64_t v = 0;
	CHECK_INT_EQ(parse_size_bytes("23B", 24, 256 << 10, &v), PARSE_TOO_SMALL);
	CHECK_INT_EQ(parse_size_bytes("24B", 24, 256 << 10, &v), PARSE_OK);
	CHECK_U64_EQ(v, 24);
	CHECK_INT_EQ(parse_size_bytes("256KiB", 24, 256 << 10, &v), PARSE_OK);
	CHECK_U64_EQ(v, 256 << 10);
	CHECK_INT_EQ(parse_size_bytes("257KiB", 24, 256 << 10, &v), PARSE_TOO_LARGE);
	CHECK_INT_EQ(parse_size_bytes("1MB", 24, 256 << 10, &v), PARSE_TOO_LARGE);
}

static void test_bool(void)
{
	int b = 7;
	CHECK_INT_EQ(parse_bool("true", &b), PARSE_OK);
	CHECK_INT_EQ(b, 1);
	CHECK_INT_EQ(parse_bool("false", &b), PARSE_OK);
	CHECK_INT_EQ(b, 0);
	b = 7;
	CHECK_INT_EQ(parse_bool("yes", &b), PARSE_BAD);
	CHECK_INT_EQ(parse_bool("no", &b), PARSE_BAD);
	CHECK_INT_EQ(parse_bool("True", &b), PARSE_BAD);
	CHECK_INT_EQ(parse_bool("1", &b), PARSE_BAD);
	CHECK_INT_EQ(parse_bool("", &b), PARSE_BAD);
	CHECK_INT_EQ(parse_bool("true ", &b), PARSE_BAD);
	CHECK_INT_EQ(b, 7);
}

static void test_decimal(void)
{
	double d = -1;
	CHECK_INT_EQ(parse_decimal("5", 0, 100, &d), PARSE_OK);
	CHECK(d == 5.0);
	CHECK_INT_EQ(parse_decimal("0.015", 0, 100, &d), PARSE_OK);
	CHECK(d == 0.015);
	CHECK_INT_EQ(parse_decimal("792.0", 0, 1000, &d), PARSE_OK);
	CHECK(d == 792.0);
	CHECK_INT_EQ(parse_decimal("0", 0, 1, &d), PARSE_OK);
	CHECK(d == 0.0);
	CHECK_INT_EQ(parse_decimal("123456789012345", 0, 1e15, &d), PARSE_OK);
	CHECK(d == 123456789012345.0);
	d = -1;
	CHECK_INT_EQ(parse_decimal("1234567890123456", 0, 1e16, &d), PARSE_BAD);
	CHECK_INT_EQ(parse_decimal(".5", 0, 1, &d), PARSE_BAD);
	CHECK_INT_EQ(parse_decimal("5.", 0, 10, &d), PARSE_BAD);
	CHECK_INT_EQ(parse_decimal("1e3", 0, 1e4, &d), PARSE_BAD);
	CHECK_INT_EQ(parse_decimal("+1", 0, 10, &d), PARSE_BAD);
	CHECK_INT_EQ(parse_decimal(" 1", 0, 10, &d), PARSE_BAD);
	CHECK_INT_EQ(parse_decimal("1 ", 0, 10, &d), PARSE_BAD);
	CHECK_INT_EQ(parse_decimal("", 0, 10, &d), PARSE_BAD);
	CHECK_INT_EQ(parse_decimal("-", 0, 10, &d), PARSE_BAD);
	CHECK_INT_EQ(parse_decimal("0x10", 0, 100, &d), PARSE_BAD);
	CHECK_INT_EQ(parse_decimal("nan", 0, 10, &d), PARSE_BAD);
	CHECK_INT_EQ(parse_decimal("inf", 0, 10, &d), PARSE_BAD);
	CHECK_INT_EQ(parse_decimal("-0.5", 0, 10, &d), PARSE_NEGATIVE);
	CHECK_INT_EQ(parse_decimal("1.5", 0, 1, &d), PARSE_TOO_LARGE);
	CHECK_INT_EQ(parse_decimal("0.5", 1, 2, &d), PARSE_TOO_SMALL);
	CHECK(d == -1); /* untouched on every error */
}

static void test_format(void)
{
	char buf[FORMAT_MAX];

	CHECK_STR_EQ(format_duration(0, buf, sizeof buf), "0s");
	CHECK_STR_EQ(format_duration(250, buf, sizeof buf), "250us");
	CHECK_STR_EQ(format_duration(100000, buf, sizeof buf), "100ms");
	CHECK_STR_EQ(format_duration(1500000, buf, sizeof buf), "1500ms");
	CHECK_STR_EQ(format_duration(30 * US_PER_S, buf, sizeof buf), "30s");
	CHECK_STR_EQ(format_duration(15 * 60 * US_PER_S, buf, sizeof buf), "15m");
	CHECK_STR_EQ(format_duration(3600 * US_PER_S, buf, sizeof buf), "1h");
	CHECK_STR_EQ(format_duration(86400 * US_PER_S, buf, sizeof buf), "1d");
	CHECK_STR_EQ(format_duration(7 * 86400 * US_PER_S, buf, sizeof buf), "7d");
	CHECK_STR_EQ(format_duration(UINT64_MAX, buf, sizeof buf), "18446744073709551615us");

	CHECK_STR_EQ(format_size(0, buf, sizeof buf), "0B");
	CHECK_STR_EQ(format_size(48, buf, sizeof buf), "48B");
	CHECK_STR_EQ(format_size(24, buf, sizeof buf), "24B");
	CHECK_STR_EQ(format_size(1000, buf, sizeof buf), "1KB");
	CHECK_STR_EQ(format_size(2048, buf, sizeof buf), "2KiB");
	CHECK_STR_EQ(format_size(256 << 10, buf, sizeof buf), "256KiB");
	CHECK_STR_EQ(format_size(1 << 20, buf, sizeof buf), "1MiB");
	CHECK_STR_EQ(format_size(1000001, buf, sizeof buf), "1000001B");

	/* Truncation keeps the buffer terminated. */
	char small[4];
	CHECK_STR_EQ(format_duration(250, small, sizeof small), "250");
	CHECK_STR_EQ(format_size(256 << 10, small, sizeof small), "256");

	/* Round trip: what the formatters write, the parsers read back. */
	static const uint64_t durations[] = { 1, 999, 1000, 100000, 1500000, 60 * US_PER_S,
	                                      86400 * US_PER_S, UINT64_MAX };
	for (size_t i = 0; i < sizeof durations / sizeof durations[0]; i++) {
		uint64_t v = 0;
		format_duration(durations[i], buf, sizeof buf);
		CHECK_INT_EQ(parse_duration_us(buf, 0, UINT64_MAX, &v), PARSE_OK);
		CHECK_U64_EQ(v, durations[i]);
	}
	static const uint64_t sizes[] = { 1, 24, 48, 1000, 1024, 3000000, 1 << 30, UINT64_MAX };
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		uint64_t v = 0;
		format_size(sizes[i], buf, sizeof buf);
		CHECK_INT_EQ(parse_size_bytes(buf, 0, UINT64_MAX, &v), PARSE_OK);
		CHECK_U64_EQ(v, sizes[i]);
	}
}

int main(void)
{
	RUN(test_uint);
	RUN(test_duration);
	RUN(test_size);
	RUN(test_bool);
	RUN(test_decimal);
	RUN(test_format);
	return UNIT_EXIT();
}
