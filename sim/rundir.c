/* rundir.c: the run directory, the scenario's copy and env.json (see rundir.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <jansson.h>
#include <yaml.h>

#include "adapter.h"
#include "clock.h"
#include "rundir.h"
#include "server.h"
#include "stack.h"

static int copy_file(const char *from, const char *to)
{
	FILE *in = fopen(from, "rb");
	if (!in)
		return -1;
	FILE *out = fopen(to, "wb");
	if (!out) {
		fclose(in);
		return -1;
	}
	char buf[8192];
	size_t n;
	int bad = 0;
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		bad |= fwrite(buf, 1, n, out) != n;
	bad |= ferror(in);
	fclose(in);
	if (fclose(out) != 0 || bad) {
		if (!errno)
			errno = EIO;
		unlink(to); /* nothing half-written is left */
		return -1;
	}
	return 0;
}

static void read_first_line(const char *path, char *buf, size_t len)
{
	buf[0] = 0;
	FILE *f = fopen(path, "r");
	if (!f)
		return;
	if (fgets(buf, (int)len, f))
		buf[strcspn(buf, "\n")] = 0;
	fclose(f);
}

static void cpu_model(char *buf, size_t len)
{
	buf[0] = 0;
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[512];
	while (f && fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "model name", 10)) {
			char *c = strchr(line, ':');
			if (c) {
				snprintf(buf, len, "%s", c + 2);
				buf[strcspn(buf, "\n")] = 0;
			}
			break;
		}
	}
	if (f)
		fclose(f);
}

/* S as a JSON string; a byte jansson refuses (not UTF-8) becomes '?'. NULL when out of memory. */
static json_t *jstr(const char *s)
{
	json_t *v = json_string(s);
	if (v)
		return v;
	char *copy = strdup(s);
	if (!copy)
		return NULL;
	for (char *p = copy; *p; p++)
		if ((unsigned char)*p >= 0x80)
			*p = '?';
	v = json_string(copy);
	free(copy);
	return v;
}

/* json_object_set_new takes V even when it fails (V NULL: out of memory);
 * *BAD remembers that the tree is not whole. */
static void put(json_t *o, const char *key, json_t *v, int *bad)
{
	if (json_object_set_new(o, key, v) != 0)
		*bad = 1;
}

struct put_arg {
	json_t *o;
	int *bad;
};

static void put_version(void *arg, const char *key, const char *value)
{
	struct put_arg *a = arg;
	put(a->o, key, jstr(value), a->bad);
}

/* env.json's tree, its keys in file order (tests/it/test_plot.py and
 * sim/report/rundata.c read it). NULL when out of memory. */
static json_t *env_tree(void)
{
	int bad = 0;
	json_t *root = json_object(), *sysctl = json_object();
	if (!root || !sysctl) {
		json_decref(root);
		json_decref(sysctl);
		return NULL;
	}
	struct utsname u;
	uname(&u);
	char buf[512];
	put(root, "dormant", jstr(DORMANT_VERSION), &bad);
	adapter_versions(buf, sizeof(buf));
	put(root, "libraries", jstr(buf), &bad);
	put(root, "libyaml", jstr(yaml_get_version_string()), &bad);
	stack_versions(put_version, &(struct put_arg){ root, &bad });
	snprintf(buf, sizeof(buf), "%s %s %s", u.sysname, u.release, u.version);
	put(root, "kernel", jstr(buf), &bad);
	put(root, "machine", jstr(u.machine), &bad);
	cpu_model(buf, sizeof(buf));
	put(root, "cpu", jstr(buf), &bad);
	put(root, "cpus_online", json_integer(sysconf(_SC_NPROCESSORS_ONLN)), &bad);
	static const char *const knobs[] = {
		"net/ipv4/tcp_congestion_control", "net/ipv4/tcp_timestamps", "net/ipv4/tcp_sack",
		"net/ipv4/tcp_window_scaling", "net/ipv4/tcp_slow_start_after_idle", "net/ipv4/tcp_no_metrics_save",
		"net/ipv4/tcp_syn_retries", "net/ipv4/tcp_fin_timeout", "net/ipv4/tcp_rmem", "net/ipv4/tcp_wmem",
		"net/ipv4/tcp_tw_reuse", "net/ipv4/ip_local_port_range", "net/core/somaxconn",
	};
	for (size_t i = 0; i < sizeof(knobs) / sizeof(knobs[0]); i++) {
		char p[128];
		snprintf(p, sizeof(p), "/proc/sys/%s", knobs[i]);
		read_first_line(p, buf, sizeof(buf));
		put(sysctl, knobs[i], jstr(buf), &bad);
	}
	put(root, "sysctl", sysctl, &bad);
	if (bad) {
		json_decref(root);
		return NULL;
	}
	return root;
}

/* DIR/env.json through DIR/.env.json.tmp and rename(), so it is whole or
 * not there, and the temporary file never stays. 0, or -1 with ERR naming
 * env.json. */
static int write_env(const char *dir, char *err, size_t errlen)
{
	char tmp[4200], path[4200];
	snprintf(tmp, sizeof(tmp), "%s/.env.json.tmp", dir);
	snprintf(path, sizeof(path), "%s/env.json", dir);
	json_t *root = env_tree();
	if (!root) {
		snprintf(err, errlen, "%s: %s", path, strerror(ENOMEM));
		return -1;
	}
	int e = 0;
	FILE *f = fopen(tmp, "w");
	if (!f) {
		e = errno;
	} else {
		errno = 0;
		int bad = json_dumpf(root, f, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0;
		bad |= fputc('\n', f) == EOF;
		bad |= ferror(f);
		e = bad ? errno : 0;
		/* a buffered write that failed shows at the close's flush */
		if (fclose(f) != 0 && !e)
			e = errno ? errno : EIO;
		if (bad && !e)
			e = EIO;
		if (!e && rename(tmp, path) != 0)
			e = errno;
		if (e)
			unlink(tmp);
	}
	json_decref(root);
	if (e) {
		snprintf(err, errlen, "%s: %s", path, strerror(e));
		return -1;
	}
	return 0;
}

enum dormant_err rundir_create(const struct scenario *sc, const char *root, char *out, size_t len, char *err,
                               size_t errlen)
{
	char label[32];
	clock_utc_label(label, sizeof(label));
	/* Absolute: servers run from their own directories and get paths from us. */
	char abs[PATH_MAX];
	if (server_mkdirs(root) < 0 || !realpath(root, abs)) {
		snprintf(err, errlen, "%s: cannot create run directory: %s", root, strerror(errno));
		return ERR_IO;
	}
	int made = 0;
	for (int i = 1; i < 100 && !made; i++) {
		int n = i == 1 ? snprintf(out, len, "%s/%s-%s", abs, sc->name, label)
		               : snprintf(out, len, "%s/%s-%s-%d", abs, sc->name, label, i);
		if (n < 0 || (size_t)n >= len) {
			snprintf(err, errlen, "%s: cannot create run directory: %s", root, strerror(ENAMETOOLONG));
			return ERR_IO;
		}
		if (mkdir(out, 0700) == 0)
			made = 1;
		else if (errno != EEXIST) {
			snprintf(err, errlen, "%s: cannot create run directory: %s", root, strerror(errno));
			return ERR_IO;
		}
	}
	if (!made) {
		snprintf(err, errlen, "%s: cannot create run directory: %s", root, strerror(EEXIST));
		return ERR_IO;
	}
	char path[PATH_MAX + 32];
	snprintf(path, sizeof(path), "%s/scenario.yaml", out);
	if (copy_file(sc->path, path) != 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return ERR_IO;
	}
	if (write_env(out, err, errlen) != 0)
		return ERR_IO;
	return ERR_OK;
}

void rundir_servers(const char *rundir, uint32_t vi, const char *variant, char *out, size_t len)
{
	char s[128];
	size_t j = 0;
	for (; *variant && j + 1 < sizeof(s); variant++)
		s[j++] = (*variant == ' ' || *variant == '=' || *variant == '/') ? '-' : *variant;
	s[j] = 0;
	snprintf(out, len, "%s/servers/%02u-%s", rundir, vi + 1, s);
}
