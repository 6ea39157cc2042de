/* ykeys.c: a flat mapping against a key table (see ykeys.h). */
#include "ykeys.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "parse.h"

const char *ykeys_list(const struct ykey *table, size_t n, char *buf, size_t len)
{
	size_t o = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < n && o < len; i++)
		o += (size_t)snprintf(buf + o, len - o, "%s%s", o ? ", " : "", table[i].name);
	return buf;
}

/* "600000", "0.001": a bound as the file would write it. */
static const char *format_bound(double v, char *buf, size_t n)
{
	snprintf(buf, n, "%.15g", v);
	return buf;
}

/* A bound of a duration or size key, in its own unit ("1s", "10KiB"). */
static const char *format_typed(const struct ykey *k, double v, char *buf, size_t n)
{
	if (k->type == YK_DURATION)
		return format_duration((uint64_t)v, buf, n);
	if (k->type == YK_SIZE)
		return format_size((uint64_t)v, buf, n);
	return format_bound(v, buf, n);
}

/* The message for parse result PR of AT's text (GOT, quoted). Always -1. */
static int parse_fail(struct yreader *r, const struct ykey *k, const struct ynode *at, enum parse_result pr,
                      const char *got)
{
	char bound[64];
	switch (pr) {
	case PARSE_NEGATIVE:
		return ytree_fail_at(r, at, k->name, "must not be negative, got %s", got);
	case PARSE_TOO_SMALL:
		return ytree_fail_at(r, at, k->name, "must be at least %s, got %s",
		                     format_typed(k, k->min, bound, sizeof bound), got);
	case PARSE_TOO_LARGE:
		if (k->max_why)
			return ytree_fail_at(r, at, k->name, "must be at most %s (%s), got %s",
			                     format_typed(k, k->max, bound, sizeof bound), k->max_why, got);
		return ytree_fail_at(r, at, k->name, "must be at most %s, got %s",
		                     format_typed(k, k->max, bound, sizeof bound), got);
	default:
		return ytree_fail_at(r, at, k->name, "expected %s, got %s", k->expected, got);
	}
}

/* AT must be a scalar; its text quoted into GOT. 0, or -1 with the message. */
static int scalar(struct yreader *r, const struct ykey *k, const struct ynode *at, char *got, size_t n)
{
	if (at->kind != YNODE_SCALAR)
		return ytree_fail_at(r, at, k->name, "expected %s, got %s", k->expected, ytree_describe(at, got, n));
	ytree_quoted(at->text, got, n);
	return 0;
}

static int set_decimal(struct yreader *r, const struct ykey *k, const struct ynode *at, double *out)
{
	char got[YTREE_QUOTED_SIZE];
	if (scalar(r, k, at, got, sizeof got) < 0)
		return -1;
	enum parse_result pr = parse_decimal(at->text, k->min, k->max, out);
	return pr == PARSE_OK ? 0 : parse_fail(r, k, at, pr, got);
}

static int set_u64(struct yreader *r, const struct ykey *k, const struct ynode *at, uint64_t *out)
{
	char got[YTREE_QUOTED_SIZE];
	if (scalar(r, k, at, got, sizeof got) < 0)
		return -1;
	uint64_t lo = (uint64_t)k->min, hi = (uint64_t)k->max;
	enum parse_result pr = k->type == YK_DURATION ? parse_duration_us(at->text, lo, hi, out)
	                       : k->type == YK_SIZE   ? parse_size_bytes(at->text, lo, hi, out)
	                                              : parse_uint(at->text, lo, hi, out);
	return pr == PARSE_OK ? 0 : parse_fail(r, k, at, pr, got);
}

static int set_int(struct yreader *r, const struct ykey *k, const struct ynode *at, int *out)
{
	uint64_t v;
	if (set_u64(r, k, at, &v) < 0)
		return -1;
	*out = (int)v;
	return 0;
}

static int set_range(struct yreader *r, const struct ykey *k, const struct ynode *at, void *out)
{
	double *lo = (double *)((char *)out + k->offset), *hi = (double *)((char *)out + k->offset2);
	char got[YTREE_QUOTED_SIZE];

	if (at->kind == YNODE_SCALAR) {
		if (set_decimal(r, k, at, lo) < 0)
			return -1;
		*hi = *lo;
		return 0;
	}
	if (at->kind != YNODE_SEQUENCE || at->nchild != 2)
		return ytree_fail_at(r, at, k->name, "expected %s, got %s", k->expected,
		                     at->kind == YNODE_SEQUENCE ? "a sequence not of two values"
		                                                : ytree_describe(at, got, sizeof got));
	if (set_decimal(r, k, at->child[0], lo) < 0 || set_decimal(r, k, at->child[1], hi) < 0)
		return -1;
	if (*hi < *lo)
		return ytree_fail_at(r, at->child[1], k->name,
		                     "the range's maximum must not be below its minimum (%s), got %s",
		                     at->child[0]->text, ytree_quoted(at->child[1]->text, got, sizeof got));
	return 0;
}

static int set_ints(struct yreader *r, const struct ykey *k, const struct ynode *at, void *out)
{
	int *v = (int *)(void *)((char *)out + k->offset), *count = (int *)(void *)((char *)out + k->offset2);
	if (at->kind == YNODE_SCALAR) {
		*count = 1;
		return set_int(r, k, at, v);
	}
	if (at->kind != YNODE_SEQUENCE || at->nchild == 0 || at->nchild > (size_t)k->max_items) {
		char got[YTREE_QUOTED_SIZE];
		return ytree_fail_at(r, at, k->name, "expected %s (at most %d), got %s", k->expected, k->max_items,
		                     at->kind == YNODE_SEQUENCE ? (at->nchild ? "more" : "an empty sequence")
		                                                : ytree_describe(at, got, sizeof got));
	}
	for (size_t i = 0; i < at->nchild; i++)
		if (set_int(r, k, at->child[i], &v[i]) < 0)
			return -1;
	*count = (int)at->nchild;
	return 0;
}

static int name_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
	       c == '-';
}

static int set_name(struct yreader *r, const struct ykey *k, const struct ynode *at, char *out)
{
	char got[YTREE_QUOTED_SIZE];
	if (scalar(r, k, at, got, sizeof got) < 0)
		return -1;
	size_t len = strlen(at->text);
	for (size_t i = 0; i < len; i++)
		if (!name_char(at->text[i]))
			len = 0;
	if (len == 0)
		return ytree_fail_at(r, at, k->name, "expected %s, got %s", k->expected, got);
	if (len >= k->len)
		return ytree_fail_at(r, at, k->name, "must be at most %zu characters, got %s", k->len - 1, got);
	memcpy(out, at->text, len + 1);
	return 0;
}

static int set_enum(struct yreader *r, const struct ykey *k, const struct ynode *at, int *out)
{
	char got[YTREE_QUOTED_SIZE], list[256];
	if (scalar(r, k, at, got, sizeof got) < 0)
		return -1;
	size_t o = 0;
	list[0] = '\0';
	for (int i = 0; k->values[i]; i++) {
		if (strcmp(at->text, k->values[i]) == 0) {
			*out = i;
			return 0;
		}
		if (o < sizeof list)
			o += (size_t)snprintf(list + o, sizeof list - o, "%s%s", i ? ", " : "", k->values[i]);
	}
	return ytree_fail_at(r, at, k->name, "expected one of %s, got %s", list, got);
}

static int set_value(struct yreader *r, const struct ykey *k, const struct ynode *at, void *out)
{
	char got[YTREE_QUOTED_SIZE];
	void *field = (char *)out + k->offset;

	switch (k->type) {
	case YK_NAME:
		return set_name(r, k, at, field);
	case YK_DECIMAL:
		return set_decimal(r, k, at, field);
	case YK_RANGE:
		return set_range(r, k, at, out);
	case YK_INT:
		return set_int(r, k, at, field);
	case YK_UINT64:
	case YK_DURATION:
	case YK_SIZE:
		return set_u64(r, k, at, field);
	case YK_BOOL:
		if (scalar(r, k, at, got, sizeof got) < 0)
			return -1;
		if (parse_bool(at->text, field) != PARSE_OK)
			return ytree_fail_at(r, at, k->name, "expected %s, got %s", k->expected, got);
		return 0;
	case YK_ENUM:
		return set_enum(r, k, at, field);
	case YK_INTS:
		return set_ints(r, k, at, out);
	}
	return ytree_fail_at(r, at, k->name, "internal error: key type %d", (int)k->type);
}

int ykeys_load(struct yreader *r, const struct ykey *table, size_t n, void *out, const char *what,
               const char *missing_why)
{
	const struct ynode *root = r->root;
	const struct ynode *seen[64] = { 0 };
	char got[YTREE_QUOTED_SIZE], list[1024];

	if (n > sizeof seen / sizeof seen[0])
		return ytree_fail_at(r, root, NULL, "internal error: %zu keys in one table", n);
	if (root->kind != YNODE_MAPPING)
		return ytree_fail_at(r, root, NULL, "expected a mapping of %s keys at the top level, got %s", what,
		                     root->kind == YNODE_SCALAR && root->text[0] == '\0' ? "nothing"
		                                                                         : ytree_describe(root, got, sizeof got));
	for (size_t i = 0; i + 1 < root->nchild; i += 2) {
		const struct ynode *kn = root->child[i], *vn = root->child[i + 1];
		if (kn->kind != YNODE_SCALAR)
			return ytree_fail_at(r, kn, NULL, "expected a key name, got %s", ytree_describe(kn, got, sizeof got));
		size_t id = 0;
		while (id < n && strcmp(table[id].name, kn->text) != 0)
			id++;
		if (id == n)
			return ytree_fail_at(r, kn, kn->text, "unknown key; valid %s keys: %s", what,
			                     ykeys_list(table, n, list, sizeof list));
		if (seen[id])
			return ytree_fail_at(r, kn, table[id].name, "duplicate key (first at line %lu)", seen[id]->line);
		seen[id] = kn;
		if (set_value(r, &table[id], vn, out) < 0)
			return -1;
	}
	for (size_t id = 0; id < n; id++) {
		if (seen[id])
			continue;
		if (!table[id].def)
			return ytree_fail_at(r, root, NULL, "missing required key \"%s\"%s%s%s", table[id].name,
			                     missing_why ? " (" : "", missing_why ? missing_why : "", missing_why ? ")" : "");
		if (!table[id].def[0])
			continue; /* optional without a default: the field stays as the caller set it */
		/* a default is written as a file would write it, and read like one */
		struct ynode def = { .kind = YNODE_SCALAR, .line = root->line, .col = root->col,
		                     .text = (char *)table[id].def };
		if (set_value(r, &table[id], &def, out) < 0)
			return -1;
	}
	return 0;
}
