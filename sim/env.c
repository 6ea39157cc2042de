/* env.c: env.json, what a result needs to be reproduced or compared:
 * versions of dormant, the libraries and the brokers, the kernel, the CPU,
 * and the TCP settings that shape every byte count and timing. */
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <yaml.h>

#include "backend.h"
#include "engine.h"
#include "json.h"
#include "ingest.h"
#include "mosq.h"
#include "nginx.h"


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

int env_write(const char *dir, const char *adapter_versions)
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
	json_write_str(f, adapter_versions);
	backend_version(buf, sizeof(buf));
	fputs(",\n  \"backend\": ", f);
	json_write_str(f, buf);
	fprintf(f, ",\n  \"libyaml\": \"%s\"", yaml_get_version_string());
	mosq_version(buf, sizeof(buf));
	fputs(",\n  \"mosquitto\": ", f);
	json_write_str(f, buf);
	nginx_version(buf, sizeof(buf));
	fputs(",\n  \"nginx\": ", f);
	json_write_str(f, buf);
	ingest_version(buf, sizeof(buf));
	fputs(",\n  \"ingest\": ", f);
	json_write_str(f, buf);
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
	return fclose(f);
}
