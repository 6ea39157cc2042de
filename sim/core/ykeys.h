/* ykeys.h: a flat YAML mapping checked against a key table, for files of
 * one level of keys (link profiles, link.c; deployments, deploy.c).
 *
 * The table declares every key once: its name, type, bounds, what a good
 * value looks like, and where it goes in the caller's struct. ykeys_load()
 * refuses unknown and duplicate keys and any bad value with ytree's one
 * line, FILE:LINE:COL: KEY: expected ..., got "...", and fills a key left
 * out from its default text, or refuses it when it has none (required).
 * Scenarios have nesting and cross-key rules of their own (scenario.c).
 *
 * Ownership: nothing is allocated; the table is static data.
 */
#ifndef DORMANT_YKEYS_H
#define DORMANT_YKEYS_H

#include <stddef.h>
#include <stdint.h>

#include "ytree.h"

enum ykey_type {
	YK_NAME,      /* [A-Za-z0-9_.-]+ into a char[len] (len: max + 1 bytes) */
	YK_DECIMAL,   /* a double in [min, max] */
	YK_RANGE,     /* a double, or [lo, hi], into two doubles (offset, offset2) */
	YK_INT,       /* an int in [min, max] */
	YK_UINT64,    /* a uint64_t in [min, max] */
	YK_BOOL,      /* an int, 0 or 1 */
	YK_DURATION,  /* "15m", "500ms": a uint64_t of microseconds in [min, max] */
	YK_SIZE,      /* "48B", "1KiB": a uint64_t of bytes in [min, max] */
	YK_ENUM,      /* one of values[] (NULL-terminated): its index, an int */
	YK_INTS,      /* an int, or a sequence of up to max_items ints in [min, max]: int[max_items] at offset,
	               * their count (an int) at offset2 */
};

struct ykey {
	const char *name;
	enum ykey_type type;
	double min, max;
	const char *expected;      /* "expected ..., got" */
	const char *max_why;       /* said after "must be at most X" */
	size_t offset, offset2;
	size_t len;                /* YK_NAME: the buffer's size */
	const char *const *values; /* YK_ENUM */
	int max_items;             /* YK_INTS */
	const char *def;           /* the value when the key is left out; NULL: required; "": optional, the
	                            * field left as the caller set it */
};

/* Checks r->root (a mapping of WHAT keys, e.g. "link profile") against the
 * N keys of TABLE into OUT. MISSING_WHY follows "missing required key
 * \"K\"" in parentheses (NULL: nothing). Returns 0, or -1 with the error
 * in R. */
int ykeys_load(struct yreader *r, const struct ykey *table, size_t n, void *out, const char *what,
               const char *missing_why);
/* "a, b, c": the keys' names, for messages. */
const char *ykeys_list(const struct ykey *table, size_t n, char *buf, size_t len);

#endif
