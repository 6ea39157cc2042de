/* json.h: a small, tolerant JSON reader for dormant's own files
 * (summary.json, env.json) when plotting and comparing runs.
 *
 * json_parse() builds a tree from a NUL-terminated text; lookups on a NULL
 * node or a node of the wrong type return NULL (or the fallback), so a
 * reader asks for what it wants and gets "absent" for a file of an older or
 * newer format instead of an error. Numbers are doubles; strings are UTF-8
 * with escapes decoded (\uXXXX to UTF-8, surrogate pairs joined).
 *
 * Ownership: json_parse returns a tree the caller frees with json_free;
 * every node and string returned by a lookup belongs to that tree.
 */
#ifndef DORMANT_JSON_H
#define DORMANT_JSON_H

#include <stddef.h>
#include <stdio.h>

enum json_type { JSON_NULL, JSON_BOOL, JSON_NUM, JSON_STR, JSON_ARR, JSON_OBJ };

struct json {
	enum json_type type;
	double num;            /* JSON_NUM; JSON_BOOL: 0 or 1 */
	char *str;             /* JSON_STR */
	char *key;             /* the member name when the parent is an object */
	struct json **kids;    /* JSON_ARR, JSON_OBJ: members in file order */
	size_t nkids;
};

/* NULL on a syntax error, with "LINE:COL: message" in ERR. */
struct json *json_parse(const char *text, char *err, size_t errlen);
/* Reads and parses PATH; NULL when it is missing or invalid (ERR says which). */
struct json *json_load(const char *path, char *err, size_t errlen);
void json_free(struct json *j);

/* Member KEY of an object; a '.' in KEY descends ("cpu.library_threads_ms"). */
const struct json *json_get(const struct json *j, const char *key);
/* Element I of an array; NULL when out of range. */
const struct json *json_at(const struct json *j, size_t i);
/* The number at KEY (NULL: J itself), or FALLBACK when absent or not a number. */
double json_num_at(const struct json *j, const char *key, double fallback);
/* The string at KEY (NULL: J itself), or FALLBACK. */
const char *json_str_at(const struct json *j, const char *key, const char *fallback);

/* Writes S to F as a JSON string, quoted and escaped (control characters as \uXXXX). */
void json_write_str(FILE *f, const char *s);

#endif
