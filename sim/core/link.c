/* link.c: link profiles (see link.h).
 *
 * Like a scenario, the file is read into a tree (ytree.c) and the tree is
 * checked against a key table that declares every key once with its type,
 * bounds and field. Every key is required: a profile is a set of cited
 * figures, and a figure left to a default would be one nobody cited.
 */
#include "link.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse.h"
#include "ytree.h"

#define NELEMS(a) (sizeof(a) / sizeof((a)[0]))

enum ltype {
	L_NAME,     /* [A-Za-z0-9_.-] into name[] */
	L_DECIMAL,  /* a double */
	L_RANGE,    /* a double, or [min, max] into two doubles */
	L_INT,      /* an int, from parse_uint */
	L_BOOL,     /* an int, 0 or 1 */
};

struct lkey {
	const char *name;
	enum ltype type;
	double min, max;
	const char *expected;  /* "expected ..., got" */
	const char *max_why;   /* said after "must be at most X" */
	size_t offset, offset2; /* offset2: L_RANGE's max */
};

#define AT(member) .offset = offsetof(struct link_profile, member)
#define MS_MAX 600000.0        /* 10 minutes: longer than any radio timer */
#define MW_MAX 100000.0        /* 100 W: no device radio draws more */

static const struct lkey lkeys[] = {
	{ "name", L_NAME, .expected = "a name of letters, digits, '_', '.' and '-'", AT(name) },
	{ "delay_ms", L_RANGE, 0, 60000, "a one-way delay in ms like 300 or a range like [200, 1500]",
	  .offset = offsetof(struct link_profile, delay_ms_min),
	  .offset2 = offsetof(struct link_profile, delay_ms_max) },
	{ "up_kbps", L_DECIMAL, 0.001, 1e7, "a rate in kbit/s like 25.5", AT(up_kbps) },
	{ "down_kbps", L_DECIMAL, 0.001, 1e7, "a rate in kbit/s like 25.5", AT(down_kbps) },
	{ "loss_up", L_DECIMAL, 0, 0.5, "a fraction of packets like 0.01",
	  .max_why = "TCP makes no progress beyond", AT(loss_up) },
	{ "loss_down", L_DECIMAL, 0, 0.5, "a fraction of packets like 0.01",
	  .max_why = "TCP makes no progress beyond", AT(loss_down) },
	{ "queue_packets", L_INT, 1, 100000, "a number of packets like 50", AT(queue_packets) },
	{ "mtu", L_INT, 576, 9000, "a size in bytes like 1500",
	  .max_why = "a jumbo frame", AT(mtu) },
	{ "link_overhead_bytes", L_INT, 0, 1000, "a number of bytes like 20", AT(link_overhead_bytes) },
	{ "attach_ms", L_DECIMAL, 0, MS_MAX, "a time in ms like 1500", AT(attach_ms) },
	{ "attach_mj", L_DECIMAL, 0, 1e6, "an energy in mJ like 400", AT(attach_mj) },
	{ "nat_timeout_s", L_DECIMAL, 0, 7 * 86400.0, "a time in s like 300 (0: none)", AT(nat_timeout_s) },
	{ "tx_mw", L_DECIMAL, 0, MW_MAX, "a power in mW like 792", AT(tx_mw) },
	{ "rx_mw", L_DECIMAL, 0, MW_MAX, "a power in mW like 180", AT(rx_mw) },
	{ "idle_mw", L_DECIMAL, 0, MW_MAX, "a power in mW like 20", AT(idle_mw) },
	{ "tail_ms", L_DECIMAL, 0, MS_MAX, "a time in ms like 20000", AT(tail_ms) },
	{ "tail_mw", L_DECIMAL, 0, MW_MAX, "a power in mW like 20", AT(tail_mw) },
	{ "release_assist", L_BOOL, .expected = "true or false", AT(release_assist) },
	{ "sleep_uw", L_DECIMAL, 0, 1e6, "a power in uW like 15", AT(sleep_uw) },
};

#define NLKEYS NELEMS(lkeys)

static const char *lkey_list(char *buf, size_t n)
{
	size_t o = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < NLKEYS && o < n; i++)
		o += (size_t)snprintf(buf + o, n - o, "%s%s", o ? ", " : "", lkeys[i].name);
	return buf;
}

static const struct lkey *find_lkey(const char *name)
{
	for (size_t i = 0; i < NLKEYS; i++)
		if (strcmp(lkeys[i].name, name) == 0)
			return &lkeys[i];
	return NULL;
}

/* "600000", "0.001": a bound as the profile would write it. */
static const char *format_bound(double v, char *buf, size_t n)
{
	snprintf(buf, n, "%.15g", v);
	return buf;
}

static int set_decimal(struct yreader *r, const struct lkey *k, const struct ynode *at, double *out)
{
	char got[YTREE_QUOTED_SIZE], bound[64];

	if (at->kind != YNODE_SCALAR)
		return ytree_fail_at(r, at, k->name, "expected %s, got %s", k->expected,
		                     ytree_describe(at, got, sizeof got));
	ytree_quoted(at->text, got, sizeof got);
	switch (parse_decimal(at->text, k->min, k->max, out)) {
	case PARSE_OK:
		return 0;
	case PARSE_NEGATIVE:
		return ytree_fail_at(r, at, k->name, "must not be negative, got %s", got);
	case PARSE_TOO_SMALL:
		return ytree_fail_at(r, at, k->name, "must be at least %s, got %s",
		                     format_bound(k->min, bound, sizeof bound), got);
	case PARSE_TOO_LARGE:
		if (k->max_why)
			return ytree_fail_at(r, at, k->name, "must be at most %s (%s), got %s",
			                     format_bound(k->max, bound, sizeof bound), k->max_why, got);
		return ytree_fail_at(r, at, k->name, "must be at most %s, got %s",
		                     format_bound(k->max, bound, sizeof bound), got);
	default:
		return ytree_fail_at(r, at, k->name, "expected %s, got %s", k->expected, got);
	}
}

static int set_range(struct yreader *r, const struct lkey *k, const struct ynode *at,
                     struct link_profile *p)
{
	double *lo = (double *)((char *)p + k->offset), *hi = (double *)((char *)p + k->offset2);
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

static int set_int(struct yreader *r, const struct lkey *k, const struct ynode *at, int *out)
{
	char got[YTREE_QUOTED_SIZE];
	uint64_t v;

	if (at->kind != YNODE_SCALAR)
		return ytree_fail_at(r, at, k->name, "expected %s, got %s", k->expected,
		                     ytree_describe(at, got, sizeof got));
	ytree_quoted(at->text, got, sizeof got);
	switch (parse_uint(at->text, (uint64_t)k->min, (uint64_t)k->max, &v)) {
	case PARSE_OK:
		*out = (int)v;
		return 0;
	case PARSE_NEGATIVE:
		return ytree_fail_at(r, at, k->name, "must not be negative, got %s", got);
	case PARSE_TOO_SMALL:
		return ytree_fail_at(r, at, k->name, "must be at least %.0f, got %s", k->min, got);
	case PARSE_TOO_LARGE:
		if (k->max_why)
			return ytree_fail_at(r, at, k->name, "must be at most %.0f (%s), got %s", k->max,
			                     k->max_why, got);
		return ytree_fail_at(r, at, k->name, "must be at most %.0f, got %s", k->max, got);
	default:
		return ytree_fail_at(r, at, k->name, "expected %s, got %s", k->expected, got);
	}
}

static int name_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '.' || c == '-';
}

static int set_name(struct yreader *r, const struct lkey *k, const struct ynode *at, char *out)
{
	char got[YTREE_QUOTED_SIZE];

	if (at->kind != YNODE_SCALAR)
		return ytree_fail_at(r, at, k->name, "expected %s, got %s", k->expected,
		                     ytree_describe(at, got, sizeof got));
	size_t len = strlen(at->text);
	for (size_t i = 0; i < len; i++)
		if (!name_char(at->text[i]))
			len = 0;
	if (len == 0)
		return ytree_fail_at(r, at, k->name, "expected %s, got %s", k->expected,
		                     ytree_quoted(at->text, got, sizeof got));
	if (len >= LINK_NAME_MAX)
		return ytree_fail_at(r, at, k->name, "must be at most %d characters, got %s",
		                     LINK_NAME_MAX - 1, ytree_quoted(at->text, got, sizeof got));
	memcpy(out, at->text, len + 1);
	return 0;
}

static int set_value(struct yreader *r, const struct lkey *k, const struct ynode *at,
                     struct link_profile *p)
{
	char got[YTREE_QUOTED_SIZE];
	void *field = (char *)p + k->offset;

	switch (k->type) {
	case L_NAME:
		return set_name(r, k, at, field);
	case L_DECIMAL:
		return set_decimal(r, k, at, field);
	case L_RANGE:
		return set_range(r, k, at, p);
	case L_INT:
		return set_int(r, k, at, field);
	case L_BOOL:
		if (at->kind != YNODE_SCALAR || parse_bool(at->text, field) != PARSE_OK)
			return ytree_fail_at(r, at, k->name, "expected %s, got %s", k->expected,
			                     ytree_describe(at, got, sizeof got));
		return 0;
	}
	return ytree_fail_at(r, at, k->name, "internal error: key type %d", (int)k->type);
}

static int load_profile(struct yreader *r, struct link_profile *p)
{
	const struct ynode *root = r->root, *seen[NLKEYS] = { 0 };
	char got[YTREE_QUOTED_SIZE], list[512];

	if (root->kind != YNODE_MAPPING)
		return ytree_fail_at(r, root, NULL, "expected a mapping of link profile keys at the top level, got %s",
		                     root->kind == YNODE_SCALAR && root->text[0] == '\0'
		                             ? "nothing"
		                             : ytree_describe(root, got, sizeof got));
	for (size_t i = 0; i + 1 < root->nchild; i += 2) {
		const struct ynode *kn = root->child[i], *vn = root->child[i + 1];
		if (kn->kind != YNODE_SCALAR)
			return ytree_fail_at(r, kn, NULL, "expected a key name, got %s",
			                     ytree_describe(kn, got, sizeof got));
		const struct lkey *k = find_lkey(kn->text);
		if (!k)
			return ytree_fail_at(r, kn, kn->text, "unknown key; valid link profile keys: %s",
			                     lkey_list(list, sizeof list));
		size_t id = (size_t)(k - lkeys);
		if (seen[id])
			return ytree_fail_at(r, kn, k->name, "duplicate key (first at line %lu)", seen[id]->line);
		seen[id] = kn;
		if (set_value(r, k, vn, p) < 0)
			return -1;
	}
	for (size_t id = 0; id < NLKEYS; id++)
		if (!seen[id])
			return ytree_fail_at(r, root, NULL,
			                     "missing required key \"%s\" (a profile gives every figure, with its source)",
			                     lkeys[id].name);
	return 0;
}

enum dormant_err link_profile_load_buffer(const char *path, const char *text, size_t len,
                                          struct link_profile *out, char *err, size_t errlen)
{
	char req[512];
	struct yreader r = { .path = path, .text = text, .len = len, .what = "link profile",
	                     .required = lkey_list(req, sizeof req), .err = err, .errlen = errlen };

	memset(out, 0, sizeof *out);
	if (ytree_read(&r) == 0 && load_profile(&r, out) == 0)
		snprintf(out->path, sizeof out->path, "%s", path);
	ytree_free(r.root);
	return r.rc;
}

enum dormant_err link_profile_load(const char *path, struct link_profile *out, char *err,
                                   size_t errlen)
{
	size_t len = 0;
	enum dormant_err rc;

	if (err && errlen)
		err[0] = '\0';
	char *text = ytree_slurp(path, "a link profile", LINK_FILE_MAX, &len, &rc, err, errlen);
	if (!text)
		return rc;
	rc = link_profile_load_buffer(path, text, len, out, err, errlen);
	free(text);
	return rc;
}

/* splitmix64's finalizer, as in sched.c: a well-mixed 64-bit function. */
static uint64_t mix64(uint64_t z)
{
	z += UINT64_C(0x9e3779b97f4a7c15);
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* Keeps the delay draws apart from sched.c's jitter draws of the same
 * (seed, device): "link" in ASCII. */
#define DELAY_DOMAIN UINT64_C(0x6c696e6b)

double link_delay_ms(const struct link_profile *p, uint64_t seed, uint32_t device)
{
	if (p->delay_ms_max <= p->delay_ms_min)
		return p->delay_ms_min;
	uint64_t h = mix64(mix64(mix64(seed) ^ DELAY_DOMAIN) ^ device);
	double u = (double)(h >> 11) * 0x1.0p-53; /* [0, 1) with 53 bits */
	return p->delay_ms_min + u * (p->delay_ms_max - p->delay_ms_min);
}

double link_serialise_us(double kbps, size_t len)
{
	return kbps > 0 ? (double)len * 8.0 / kbps * 1000.0 : 0; /* bits / (kbit/s) = ms; x1000 = us */
}

double link_settle_ms(const struct link_profile *p)
{
	double rtt = 2 * p->delay_ms_max + link_serialise_us(p->up_kbps, (size_t)p->mtu) / 1000.0 +
	             link_serialise_us(p->down_kbps, (size_t)p->mtu) / 1000.0;
	return 2 * rtt + 200.0 + 100.0;
}
