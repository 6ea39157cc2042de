/* link.c: link profiles (see link.h).
 *
 * Like a scenario, the file is read into a tree (ytree.c) and the tree is
 * checked against a key table (ykeys.h) that declares every key once with its type,
 * bounds and field. Every key is required (the listening figures as a group
 * of four or none): a profile is a set of cited
 * figures, and a figure left to a default would be one nobody cited.
 */
#include "link.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ykeys.h"
#include "ytree.h"

#define NELEMS(a) (sizeof(a) / sizeof((a)[0]))

#define AT(member) .offset = offsetof(struct link_profile, member)
#define MS_MAX 600000.0        /* 10 minutes: longer than any radio timer */
#define MW_MAX 100000.0        /* 100 W: no device radio draws more */

/* Every key is required (no .def): a figure left to a default would be one nobody cited. */
static const struct ykey lkeys[] = {
	{ "name", YK_NAME, .expected = "a name of letters, digits, '_', '.' and '-'", AT(name), .len = LINK_NAME_MAX },
	{ "delay_ms", YK_RANGE, 0, 60000, "a one-way delay in ms like 300 or a range like [200, 1500]",
	  .offset = offsetof(struct link_profile, delay_ms_min),
	  .offset2 = offsetof(struct link_profile, delay_ms_max) },
	{ "up_kbps", YK_DECIMAL, 0.001, 1e7, "a rate in kbit/s like 25.5", AT(up_kbps) },
	{ "down_kbps", YK_DECIMAL, 0.001, 1e7, "a rate in kbit/s like 25.5", AT(down_kbps) },
	{ "loss_up", YK_DECIMAL, 0, 0.5, "a fraction of packets like 0.01",
	  .max_why = "TCP makes no progress beyond", AT(loss_up) },
	{ "loss_down", YK_DECIMAL, 0, 0.5, "a fraction of packets like 0.01",
	  .max_why = "TCP makes no progress beyond", AT(loss_down) },
	{ "queue_packets", YK_INT, 1, 100000, "a number of packets like 50", AT(queue_packets) },
	{ "mtu", YK_INT, 576, 9000, "a size in bytes like 1500",
	  .max_why = "a jumbo frame", AT(mtu) },
	{ "link_overhead_bytes", YK_INT, 0, 1000, "a number of bytes like 20", AT(link_overhead_bytes) },
	{ "attach_ms", YK_DECIMAL, 0, MS_MAX, "a time in ms like 1500", AT(attach_ms) },
	{ "attach_mj", YK_DECIMAL, 0, 1e6, "an energy in mJ like 400", AT(attach_mj) },
	{ "nat_timeout_s", YK_DECIMAL, 0, 7 * 86400.0, "a time in s like 300 (0: none)", AT(nat_timeout_s) },
	{ "tx_mw", YK_DECIMAL, 0, MW_MAX, "a power in mW like 792", AT(tx_mw) },
	{ "rx_mw", YK_DECIMAL, 0, MW_MAX, "a power in mW like 180", AT(rx_mw) },
	{ "idle_mw", YK_DECIMAL, 0, MW_MAX, "a power in mW like 20", AT(idle_mw) },
	{ "tail_ms", YK_DECIMAL, 0, MS_MAX, "a time in ms like 20000", AT(tail_ms) },
	{ "tail_mw", YK_DECIMAL, 0, MW_MAX, "a power in mW like 20", AT(tail_mw) },
	{ "release_assist", YK_BOOL, .expected = "true or false", AT(release_assist) },
	{ "sleep_uw", YK_DECIMAL, 0, 1e6, "a power in uW like 15", AT(sleep_uw) },
	/* Optional as a group (LISTEN_KEYS): a link whose device can stay reachable asleep. */
	{ "listen_uw", YK_DECIMAL, 0, 1e6, "a power in uW like 11000", AT(listen_uw), .def = "" },
	{ "listen_ms", YK_DECIMAL, 0, MS_MAX, "a time in ms like 102.4", AT(listen_ms), .def = "" },
	{ "listen_attach_ms", YK_DECIMAL, 0, MS_MAX, "a time in ms like 1", AT(listen_attach_ms), .def = "" },
	{ "listen_attach_mj", YK_DECIMAL, 0, 1e6, "an energy in mJ like 0.3", AT(listen_attach_mj), .def = "" },
};
#define LISTEN_FIRST 19 /* lkeys[LISTEN_FIRST..]: the listening figures */
#define LISTEN_KEYS 4

#define NLKEYS NELEMS(lkeys)

enum dormant_err link_profile_load_buffer(const char *path, const char *text, size_t len,
                                          struct link_profile *out, char *err, size_t errlen)
{
	char req[512];
	struct yreader r = { .path = path, .text = text, .len = len, .what = "link profile",
	                     .required = ykeys_list(lkeys, NLKEYS - LISTEN_KEYS, req, sizeof req), .err = err, .errlen = errlen };

	memset(out, 0, sizeof *out);
	double *listen[LISTEN_KEYS] = { &out->listen_uw, &out->listen_ms, &out->listen_attach_ms, &out->listen_attach_mj };
	for (int i = 0; i < LISTEN_KEYS; i++)
		*listen[i] = -1;
	if (ytree_read(&r) == 0 &&
	    ykeys_load(&r, lkeys, NLKEYS, out, "link profile", "a profile gives every figure, with its source") == 0) {
		int given = 0, missing = -1;
		for (int i = 0; i < LISTEN_KEYS; i++) {
			if (*listen[i] >= 0)
				given++;
			else if (missing < 0)
				missing = i;
		}
		if (given && given < LISTEN_KEYS) {
			/* point at the mapping: the key that is missing has no place of its own */
			ytree_fail_at(&r, r.root, lkeys[LISTEN_FIRST + missing].name,
			              "missing: listen_uw, listen_ms, listen_attach_ms and listen_attach_mj go "
			              "together (a device that stays reachable asleep): give all four or none");
		} else {
			out->can_listen = given == LISTEN_KEYS;
			snprintf(out->path, sizeof out->path, "%s", path);
		}
	}
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

int link_listening(const struct link_profile *p, struct link_profile *out)
{
	if (!p->can_listen)
		return -1;
	*out = *p;
	out->sleep_uw = p->listen_uw;
	out->attach_ms = p->listen_attach_ms;
	out->attach_mj = p->listen_attach_mj;
	out->listening = 1;
	return 0;
}
