/* deploy.c: deployment files (see deploy.h). */
#include "deploy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ykeys.h"
#include "ytree.h"

#define NELEMS(a) (sizeof(a) / sizeof((a)[0]))
#define AT(member) .offset = offsetof(struct deployment, member)
#define US_PER_S 1000000.0

static const char *const encodings[] = { "binary", "cbor", "json", "text", NULL };
static const char *const encryptions[] = { "required", "optional", NULL };
static const char *const auths[] = { "any", "token", "certificate", "psk", NULL };

static const struct ykey dkeys[] = {
	{ "name", YK_NAME, .expected = "a name of letters, digits, '_', '.' and '-'", AT(name), .len = DEPLOY_NAME_MAX },
	{ "devices", YK_UINT64, 1, 1e8, "a number of devices like 10000", AT(devices) },
	{ "wake_every", YK_DURATION, US_PER_S, 7 * 86400 * US_PER_S, "a duration like 15m", AT(wake_every_us) },
	{ "jitter", YK_DURATION, 0, 7 * 86400 * US_PER_S, "a duration like 30s", AT(jitter_us), .def = "0s" },
	{ "payload", YK_SIZE, 1, 1 << 20, "a size like 48B", AT(payload_bytes) },
	{ "encoding", YK_ENUM, .expected = "an encoding", AT(encoding), .values = encodings, .def = "binary" },
	{ "messages_per_wake", YK_INT, 1, 1000, "a number like 1", AT(messages_per_wake), .def = "1" },
	{ "commands_per_day", YK_DECIMAL, 0, 86400 * 10.0, "a rate like 0.5", AT(commands_per_day), .def = "0" },
	{ "command_deadline", YK_DURATION, 0, 7 * 86400 * US_PER_S, "a duration like 2s (0s: none)",
	  AT(command_deadline_us), .def = "0s" },
	{ "link", YK_NAME, .expected = "a link like nbiot (links/nbiot.yaml beside the file, or ../links/)",
	  AT(link_name), .len = LINK_NAME_MAX },
	{ "battery_wh", YK_DECIMAL, 0.001, 1e6, "an energy in Wh like 5", AT(battery_wh) },
	{ "sleep_uw", YK_DECIMAL, 0, 1e6, "a power in uW like 15", AT(sleep_uw), .def = "" },
	{ "ram_budget", YK_SIZE, 0, (double)(UINT64_C(1) << 40), "a size like 64KiB (0B: none)", AT(ram_budget),
	  .def = "0B" },
	{ "flash_budget", YK_SIZE, 0, (double)(UINT64_C(1) << 40), "a size like 512KiB (0B: none)",
	  AT(flash_budget), .def = "0B" },
	{ "encryption", YK_ENUM, .expected = "required or optional", AT(encryption), .values = encryptions,
	  .def = "required" },
	{ "client_auth", YK_ENUM, .expected = "a way to authenticate", AT(client_auth), .values = auths, .def = "any" },
	{ "ports", YK_INTS, 1, 65535, "a port like 443 or a list like [443, 8883]", AT(ports),
	  .offset2 = offsetof(struct deployment, nports), .max_items = DEPLOY_PORTS_MAX, .def = "" },
	{ "inbound", YK_BOOL, .expected = "true or false", AT(inbound), .def = "false" },
	{ "price_per_mb", YK_DECIMAL, 0, 1e6, "a price like 0.25 (0: unknown)", AT(price_per_mb), .def = "0" },
};

#define NDKEYS NELEMS(dkeys)

/* The value of top-level KEY in ROOT (a mapping ykeys_load accepted), or ROOT when the key is absent. */
static const struct ynode *value_at(const struct ynode *root, const char *key)
{
	for (size_t i = 0; i + 1 < root->nchild; i += 2)
		if (strcmp(root->child[i]->text, key) == 0)
			return root->child[i + 1];
	return root;
}

/* DIR/links/NAME.yaml beside FILE into PATH, DIR/../links/NAME.yaml into ALT; which exists (PATH when neither). */
static const char *link_paths(const char *file, const char *name, char *path, char *alt, size_t n)
{
	char dir[LINK_PATH_MAX];
	ytree_dir(file, dir, sizeof dir);
	snprintf(path, n, "%s/links/%s.yaml", dir, name);
	snprintf(alt, n, "%s/../links/%s.yaml", dir, name);
	return access(path, F_OK) == 0 ? path : alt;
}

int deploy_link_path(const struct deployment *d, const char *name, char *buf, size_t n)
{
	char path[LINK_PATH_MAX + 64], alt[LINK_PATH_MAX + 64];
	const char *use = link_paths(d->path, name, path, alt, sizeof path);
	if (access(use, F_OK) != 0)
		return -1;
	snprintf(buf, n, "%s", use);
	return 0;
}

/* Loads the link the deployment names: DIR/links/NAME.yaml, else DIR/../links/NAME.yaml. */
static int load_link(struct yreader *r, struct deployment *d)
{
	char path[LINK_PATH_MAX + 64], alt[LINK_PATH_MAX + 64], perr[1024];
	const char *use = link_paths(r->path, d->link_name, path, alt, sizeof path);
	if (access(use, F_OK) != 0) {
		return ytree_fail_at(r, value_at(r->root, "link"), "link", "no link profile \"%s\": neither %s nor %s exists (%s)", d->link_name,
		                     path, alt, strerror(errno));
	}
	enum dormant_err rc = link_profile_load(use, &d->link, perr, sizeof perr);
	if (rc != ERR_OK) {
		char msg[sizeof perr + LINK_PATH_MAX + 32];
		snprintf(msg, sizeof msg, "%s (the link of %s)", perr, r->path);
		return ytree_fail_as_is(r, rc, msg);
	}
	return 0;
}

enum dormant_err deploy_load_buffer(const char *path, const char *text, size_t len, struct deployment *out,
                                    char *err, size_t errlen)
{
	char req[1024];
	struct yreader r = { .path = path, .text = text, .len = len, .what = "deployment",
	                     .required = ykeys_list(dkeys, NDKEYS, req, sizeof req), .err = err, .errlen = errlen };

	memset(out, 0, sizeof *out);
	out->sleep_uw = -1; /* not given: the link's */
	if (err && errlen)
		err[0] = '\0';
	if (ytree_read(&r) == 0 && ykeys_load(&r, dkeys, NDKEYS, out, "deployment", NULL) == 0 &&
	    load_link(&r, out) == 0) {
		snprintf(out->path, sizeof out->path, "%s", path);
		out->sleep_given = out->sleep_uw >= 0;
		if (out->sleep_uw < 0)
			out->sleep_uw = out->link.sleep_uw;
		if (out->jitter_us * 2 > out->wake_every_us) {
			char got[32];
			snprintf(got, sizeof got, "%.15g s", (double)out->jitter_us / US_PER_S);
			ytree_fail_at(&r, value_at(r.root, "jitter"), "jitter",
			              "must be at most half of wake_every (wakes would overtake each other), got %s", got);
		}
	}
	ytree_free(r.root);
	return r.rc;
}

enum dormant_err deploy_load(const char *path, struct deployment *out, char *err, size_t errlen)
{
	size_t len = 0;
	enum dormant_err rc;
	char *text = ytree_slurp(path, "a deployment", DEPLOY_FILE_MAX, &len, &rc, err, errlen);
	if (!text)
		return rc;
	rc = deploy_load_buffer(path, text, len, out, err, errlen);
	free(text);
	return rc;
}

int deploy_port_ok(const struct deployment *d, int port)
{
	if (!d->nports)
		return 1;
	for (int i = 0; i < d->nports; i++)
		if (d->ports[i] == port)
			return 1;
	return 0;
}

const char *deploy_encoding_name(int e) { return e >= 0 && e < (int)NELEMS(encodings) - 1 ? encodings[e] : "?"; }
const char *deploy_auth_name(int a) { return a >= 0 && a < (int)NELEMS(auths) - 1 ? auths[a] : "?"; }
