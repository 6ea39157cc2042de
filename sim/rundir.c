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

#include <yaml.h>

#include "adapter.h"
#include "clock.h"
#include "json.h"
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

static void put_version(void *arg, const char *key, const char *value)
{
	FILE *f = arg;
	fprintf(f, ",\n  \"%s\": ", key);
	json_write_str(f, value);
}

static int write_env(const char *dir)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/env.json", dir);
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	struct utsname u;
	uname(&u);
	char buf[512];
	fprintf(f, "{\n  \"dormant\": \"%s\",\n  \"libraries\": ", DORMANT_VERSION);
	adapter_versions(buf, sizeof(buf));
	json_write_str(f, buf);
	fprintf(f, ",\n  \"libyaml\": \"%s\"", yaml_get_version_string());
	stack_versions(put_version, f);
	fputs(",\n  \"kernel\": ", f);
	snprintf(buf, sizeof(buf), "%s %s %s", u.sysname, u.release, u.version);
	json_write_str(f, buf);
	fputs(",\n  \"machine\": ", f);
	json_write_str(f, u.machine);
	cpu_model(buf, sizeof(buf));
	fputs(",\n  \"cpu\": ", f);
	json_write_str(f, buf);
	fprintf(f, ",\n  \"cpus_online\": %ld", sysconf(_SC_NPROCESSORS_ONLN));
	fputs(",\n  \"sysctl\": {", f);
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
		fprintf(f, "%s\n    \"%s\": ", i ? "," : "", knobs[i]);
		json_write_str(f, buf);
	}
	fputs("\n  }\n}\n", f);
	int bad = ferror(f);
	if (fclose(f) != 0 || bad) {
		unlink(path);
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
	errno = 0;
	if (write_env(out) != 0) {
		snprintf(err, errlen, "%s/env.json: %s", out, strerror(errno ? errno : EIO));
		return ERR_IO;
	}
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
