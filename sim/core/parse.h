/* parse.h: strict parsers for numbers, durations, sizes and booleans.
 *
 * Every parser takes the whole string: no leading or trailing space, no sign,
 * no hex, no empty input. The result tells a malformed string (PARSE_BAD)
 * from a well-formed negative one and from one outside [min, max], so a
 * message can say which. Values that overflow uint64_t are PARSE_TOO_LARGE.
 * *out is written only on PARSE_OK.
 *
 *   parse_uint         "42"                      decimal digits
 *   parse_duration_us  "30s" "1.5s" "250us"      number + us ms s m h d;
 *                                                a fraction is allowed if the
 *                                                result is whole microseconds
 *   parse_size_bytes   "48B" "2KiB" "1MB"        integer + B KB KiB MB MiB GB GiB
 *                                                (KB = 1000, KiB = 1024)
 *   parse_bool         "true" "false"            nothing else
 *   parse_decimal      "5" "0.015" "792"         digits, optionally '.' and more
 *                                                digits (no exponent, no ".5"
 *                                                or "5."); for physical figures
 *                                                such as mW, kbit/s, Wh
 *
 * The format_* helpers write the shortest exact form ("100ms", "15m", "2KiB")
 * into buf (always NUL-terminated when n > 0) and return buf.
 */
#ifndef DORMANT_PARSE_H
#define DORMANT_PARSE_H

#include <stddef.h>
#include <stdint.h>

enum parse_result {
	PARSE_OK,
	PARSE_BAD,        /* not of the expected form */
	PARSE_NEGATIVE,   /* of the form, but with a leading '-' */
	PARSE_TOO_SMALL,  /* below min */
	PARSE_TOO_LARGE,  /* above max, or does not fit in 64 bits */
};

enum parse_result parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out);
enum parse_result parse_duration_us(const char *s, uint64_t min, uint64_t max, uint64_t *out);
enum parse_result parse_size_bytes(const char *s, uint64_t min, uint64_t max, uint64_t *out);
enum parse_result parse_bool(const char *s, int *out);
/* At most DECIMAL_DIGITS_MAX digits in all, so the value is the double
 * nearest the decimal as written. */
#define DECIMAL_DIGITS_MAX 15
enum parse_result parse_decimal(const char *s, double min, double max, double *out);

/* Big enough for any uint64_t in any unit. */
#define FORMAT_MAX 32
char *format_duration(uint64_t us, char *buf, size_t n);
char *format_size(uint64_t bytes, char *buf, size_t n);

#endif
