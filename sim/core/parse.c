/* parse.c: strict parsers (see parse.h). */
#include "parse.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct unit {
	const char *name;
	uint64_t mult;
};

/* Largest first, so the format helpers find the biggest exact unit first. */
static const struct unit duration_units[] = {
	{ "d", UINT64_C(86400000000) },
	{ "h", UINT64_C(3600000000) },
	{ "m", UINT64_C(60000000) },
	{ "s", UINT64_C(1000000) },
	{ "ms", UINT64_C(1000) },
	{ "us", UINT64_C(1) },
};

/* Binary before decimal: format_size() prefers 2KiB over 2048B and, at equal
 * length, the binary unit. */
static const struct unit size_units[] = {
	{ "GiB", UINT64_C(1) << 30 },
	{ "GB", UINT64_C(1000000000) },
	{ "MiB", UINT64_C(1) << 20 },
	{ "MB", UINT64_C(1000000) },
	{ "KiB", UINT64_C(1) << 10 },
	{ "KB", UINT64_C(1000) },
	{ "B", UINT64_C(1) },
};

#define NUNITS(t) (sizeof(t) / sizeof((t)[0]))

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Consumes the decimal digits at *p. Returns how many there were; *v gets
 * their value, *overflow is set when that does not fit in 64 bits. */
static size_t scan_digits(const char **p, uint64_t *v, int *overflow)
{
	const char *s = *p;
	uint64_t acc = 0;
	int ovf = 0;

	while (is_digit(*s)) {
		unsigned d = (unsigned)(*s - '0');
		if (acc > (UINT64_MAX - d) / 10)
			ovf = 1;
		else
			acc = acc * 10 + d;
		s++;
	}
	size_t n = (size_t)(s - *p);
	*p = s;
	*v = acc;
	*overflow = ovf;
	return n;
}

/* The unit whose name is exactly the rest of the string, or NULL. */
static const struct unit *find_unit(const char *s, const struct unit *units, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(s, units[i].name) == 0)
			return &units[i];
	return NULL;
}

static enum parse_result check_bounds(uint64_t v, int overflow, uint64_t min, uint64_t max,
                                      uint64_t *out)
{
	if (overflow || v > max)
		return PARSE_TOO_LARGE;
	if (v < min)
		return PARSE_TOO_SMALL;
	*out = v;
	return PARSE_OK;
}

/* a*b+c, or *overflow set. */
static uint64_t mul_add(uint64_t a, uint64_t b, uint64_t c, int *overflow)
{
	if (b != 0 && a > UINT64_MAX / b) {
		*overflow = 1;
		return 0;
	}
	uint64_t r = a * b;
	if (r > UINT64_MAX - c) {
		*overflow = 1;
		return 0;
	}
	return r + c;
}

enum parse_result parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	int neg = s[0] == '-';
	const char *p = s + neg;
	uint64_t v;
	int ovf;

	if (scan_digits(&p, &v, &ovf) == 0 || *p != '\0')
		return PARSE_BAD;
	if (neg)
		return PARSE_NEGATIVE;
	return check_bounds(v, ovf, min, max, out);
}

/* The largest number of fraction digits (trailing zeros removed) that can
 * still be a whole number of microseconds: the finest fraction any unit
 * resolves is 1us/1d = 1/(864 * 10^8), and a fraction whose last digit is not
 * zero needs at most 8 + 5 digits for that (864 = 2^5 * 27). */
#define FRACTION_DIGITS_MAX 13

enum parse_result parse_duration_us(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	int neg = s[0] == '-';
	const char *p = s + neg;
	uint64_t whole;
	int ovf;

	if (scan_digits(&p, &whole, &ovf) == 0)
		return PARSE_BAD;
	const char *frac = p;
	size_t nfrac = 0;
	if (*p == '.') {
		frac = ++p;
		while (is_digit(*p))
			p++;
		nfrac = (size_t)(p - frac);
		if (nfrac == 0)
			return PARSE_BAD;
	}
	const struct unit *u = find_unit(p, duration_units, NUNITS(duration_units));
	if (!u)
		return PARSE_BAD;
	if (neg)
		return PARSE_NEGATIVE;

	/* The fraction: digits frac[0..nfrac) times the unit, exactly. Trailing
	 * zeros change nothing; strip them, and cancel powers of ten between the
	 * fraction's denominator and the unit so the product stays small. */
	while (nfrac > 0 && frac[nfrac - 1] == '0')
		nfrac--;
	if (nfrac > FRACTION_DIGITS_MAX)
		return PARSE_BAD;
	uint64_t fnum = 0;
	for (size_t i = 0; i < nfrac; i++)
		fnum = fnum * 10 + (uint64_t)(frac[i] - '0');
	uint64_t mult = u->mult;
	size_t denom_digits = nfrac;
	while (denom_digits > 0 && mult % 10 == 0) {
		mult /= 10;
		denom_digits--;
	}
	uint64_t denom = 1;
	for (size_t i = 0; i < denom_digits; i++)
		denom *= 10;
	uint64_t fpart = fnum * mult; /* < 10^13 * 864: fits */
	if (fpart % denom != 0)
		return PARSE_BAD; /* not a whole number of microseconds */
	fpart /= denom;

	uint64_t v = mul_add(whole, u->mult, fpart, &ovf);
	return check_bounds(v, ovf, min, max, out);
}

enum parse_result parse_size_bytes(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	int neg = s[0] == '-';
	const char *p = s + neg;
	uint64_t n;
	int ovf;

	if (scan_digits(&p, &n, &ovf) == 0)
		return PARSE_BAD;
	const struct unit *u = find_unit(p, size_units, NUNITS(size_units));
	if (!u)
		return PARSE_BAD;
	if (neg)
		return PARSE_NEGATIVE;
	uint64_t v = mul_add(n, u->mult, 0, &ovf);
	return check_bounds(v, ovf, min, max, out);
}

enum parse_result parse_bool(const char *s, int *out)
{
	if (strcmp(s, "true") == 0) {
		*out = 1;
		return PARSE_OK;
	}
	if (strcmp(s, "false") == 0) {
		*out = 0;
		return PARSE_OK;
	}
	return PARSE_BAD;
}

enum parse_result parse_decimal(const char *s, double min, double max, double *out)
{
	int neg = s[0] == '-';
	const char *p = s + neg;
	size_t digits = 0;

	while (is_digit(*p)) {
		p++;
		digits++;
	}
	if (digits == 0)
		return PARSE_BAD;
	if (*p == '.') {
		const char *frac = ++p;
		while (is_digit(*p))
			p++;
		if (p == frac)
			return PARSE_BAD;
		digits += (size_t)(p - frac);
	}
	if (*p != '\0' || digits > DECIMAL_DIGITS_MAX)
		return PARSE_BAD;
	if (neg)
		return PARSE_NEGATIVE;
	/* The form is checked: strtod reads it exactly as written (dormant never
	 * calls setlocale, so the decimal point is '.'). */
	double v = strtod(s, NULL);
	if (v > max)
		return PARSE_TOO_LARGE;
	if (v < min)
		return PARSE_TOO_SMALL;
	*out = v;
	return PARSE_OK;
}

char *format_duration(uint64_t us, char *buf, size_t n)
{
	if (us == 0) {
		snprintf(buf, n, "0s");
		return buf;
	}
	for (size_t i = 0; i < NUNITS(duration_units); i++) {
		const struct unit *u = &duration_units[i];
		if (us % u->mult == 0) {
			snprintf(buf, n, "%" PRIu64 "%s", us / u->mult, u->name);
			break;
		}
	}
	return buf;
}

char *format_size(uint64_t bytes, char *buf, size_t n)
{
	char best[FORMAT_MAX] = "";
	size_t best_len = SIZE_MAX;

	for (size_t i = 0; i < NUNITS(size_units); i++) {
		const struct unit *u = &size_units[i];
		if (bytes % u->mult != 0)
			continue;
		char cand[FORMAT_MAX];
		int len = snprintf(cand, sizeof cand, "%" PRIu64 "%s", bytes / u->mult, u->name);
		if (len > 0 && (size_t)len < best_len) {
			best_len = (size_t)len;
			memcpy(best, cand, (size_t)len + 1);
		}
	}
	snprintf(buf, n, "%s", best);
	return buf;
}
