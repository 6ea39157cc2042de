/* tsung.c: Tsung 1.7 (Debian's, ts_mqtt) as a row of `dormant bench`, the
 * load generator people already use for MQTT brokers.
 *
 * Tsung is open-loop: it starts new users (one wake each: connect with
 * clean session, publish the payload at QoS 1 and wait for its PUBACK,
 * disconnect) at an arrival rate. Its Erlang VM takes seconds of CPU to
 * boot and to write its logs, so a repetition is two runs at the same rate,
 * a short and a long arrival phase, and the row is their difference: the
 * extra wakes over the extra seconds, and their CPU (the whole process
 * tree, as the children reaped) over those wakes. If Tsung cannot start users as fast
 * as asked, fewer wakes end and the rate says so. Tsung's log gives means,
 * not percentiles: the row's p50 and p99 are left empty and its note has
 * the mean wake.
 */
#include <errno.h>
#include <glob.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "server.h"

/* The last value of "stats: NAME COUNT ..." in tsung.log (its final dump
 * holds the totals for counters), and for the session line its mean. */
static int log_stat(const char *path, const char *name, double *count, double *mean)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	char line[512], key[80];
	snprintf(key, sizeof(key), "stats: %s ", name);
	size_t kl = strlen(key);
	int found = 0;
	double total = 0, m = NAN;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, key, kl))
			continue;
		double c, x;
		int n = sscanf(line + kl, "%lf %lf", &c, &x);
		if (n >= 1) {
			/* sample lines (session) are per dump interval; counters repeat the running total second */
			if (mean) {
				if (n == 2 && c > 0)
					m = isnan(m) ? x : (m * total + x * c) / (total + c);
				total += c;
			} else {
				total = n == 2 ? x : c;
			}
			found = 1;
		}
	}
	fclose(f);
	*count = total;
	if (mean)
		*mean = m;
	return found ? 0 : -1;
}

struct tsung_pass {
	double wakes, acked, mean_ms, cpu_s, server_s;
};

static int one_run(const char *dir, uint16_t port, int rate, int seconds, size_t payload, int broker,
                   uint16_t epmd_port, struct tsung_pass *out, char *why, size_t whylen)
{
	char conf[4200], logdir[4200], outlog[4200];
	snprintf(conf, sizeof(conf), "%s/tsung-%ds.xml", dir, seconds);
	snprintf(logdir, sizeof(logdir), "%s/tsung-%ds", dir, seconds);
	snprintf(outlog, sizeof(outlog), "%s/tsung-%ds.out", dir, seconds);
	FILE *f = fopen(conf, "w");
	if (!f) {
		snprintf(why, whylen, "cannot write %.200s: %s", conf, strerror(errno));
		return -1;
	}
	/* Sixteen source addresses beside the devices' 127.80.0.0/14, so that
	 * tens of thousands of wakes a minute do not run 127.0.0.1 out of
	 * ephemeral ports (each closed connection holds one in TIME_WAIT). */
	char ips[1024] = "";
	for (int i = 1; i <= 16; i++) {
		size_t n = strlen(ips);
		snprintf(ips + n, sizeof(ips) - n, "<ip value=\"127.84.0.%d\"/>", i);
	}
	char body[65536 + 1];
	if (payload > sizeof(body) - 1)
		payload = sizeof(body) - 1;
	memset(body, 'x', payload);
	body[payload] = 0;
	fprintf(f,
	        "<?xml version=\"1.0\"?>\n"
	        "<!DOCTYPE tsung SYSTEM \"/usr/share/tsung/tsung-1.0.dtd\">\n"
	        "<!-- written by dormant bench: one wake per user, as dormant's MQTT wake -->\n"
	        "<tsung loglevel=\"warning\" dumptraffic=\"false\">\n"
	        "  <clients><client host=\"localhost\" use_controller_vm=\"true\" maxusers=\"1000000\">%s</client></clients>\n"
	        "  <servers><server host=\"127.0.0.1\" port=\"%u\" type=\"tcp\"/></servers>\n"
	        "  <load><arrivalphase phase=\"1\" duration=\"%d\" unit=\"second\">\n"
	        "    <users arrivalrate=\"%d\" unit=\"second\"/></arrivalphase></load>\n"
	        "  <sessions><session name=\"wake\" probability=\"100\" type=\"ts_mqtt\">\n"
	        "    <request><mqtt type=\"connect\" clean_start=\"true\" keepalive=\"60\"></mqtt></request>\n"
	        "    <request><mqtt type=\"publish\" qos=\"1\" topic=\"dormant/tsung/telemetry\">%s</mqtt></request>\n"
	        "    <request><mqtt type=\"disconnect\"></mqtt></request>\n"
	        "  </session></sessions>\n"
	        "</tsung>\n",
	        ips, port, seconds, rate, body);
	if (fclose(f)) {
		snprintf(why, whylen, "cannot write %.200s: %s", conf, strerror(errno));
		return -1;
	}
	/* Tsung's VM is a distributed node: it must use the bench's epmd on
	 * loopback, never start `epmd -daemon` (every address, outlives us);
	 * the user's ERL_* flags are kept out. */
	char e_port[48];
	snprintf(e_port, sizeof(e_port), "ERL_EPMD_PORT=%u", epmd_port);
	char *argv[] = { "env", "-u", "ERL_AFLAGS", "-u", "ERL_FLAGS", e_port, "ERL_EPMD_ADDRESS=127.0.0.1",
		         "ERL_ZFLAGS=-start_epmd false -kernel inet_dist_use_interface {127,0,0,1}",
		         "tsung", "-f", conf, "-l", logdir, "-n", "start", NULL };
	struct server ts;
	memset(&ts, 0, sizeof(ts));
	snprintf(ts.name, sizeof(ts.name), "tsung");
	snprintf(ts.dir, sizeof(ts.dir), "%.4000s", dir);
	snprintf(ts.log, sizeof(ts.log), "%.4100s", outlog);
	uint64_t b0 = bench_proc_cpu_ns(broker);
	/* its CPU: what the children reaped meanwhile used, and the only
	 * child reaped meanwhile is Tsung's tree (the servers run on) */
	struct rusage ru0, ru;
	getrusage(RUSAGE_CHILDREN, &ru0);
	int status = 0;
	char err[512];
	if (server_spawn(&ts, argv, err, sizeof(err)) != ERR_OK ||
	    server_wait_exit(&ts, (seconds + 60) * 1000, &status, err, sizeof(err)) != ERR_OK) {
		snprintf(why, whylen, "%.250s", err);
		return -1;
	}
	getrusage(RUSAGE_CHILDREN, &ru);
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		snprintf(why, whylen, "tsung exited %d (%.200s)", WIFEXITED(status) ? WEXITSTATUS(status) : -1, outlog);
		return -1;
	}
	out->server_s = (double)(bench_proc_cpu_ns(broker) - b0) / 1e9;
	out->cpu_s = (double)(ru.ru_utime.tv_sec - ru0.ru_utime.tv_sec) + (double)(ru.ru_utime.tv_usec - ru0.ru_utime.tv_usec) / 1e6 +
	             (double)(ru.ru_stime.tv_sec - ru0.ru_stime.tv_sec) + (double)(ru.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e6;
	char pat[4300];
	snprintf(pat, sizeof(pat), "%s/*/tsung.log", logdir);
	glob_t g;
	if (glob(pat, 0, NULL, &g) || g.gl_pathc != 1) {
		snprintf(why, whylen, "no tsung.log under %.200s", logdir);
		globfree(&g);
		return -1;
	}
	double dummy;
	int rc = log_stat(g.gl_pathv[0], "session", &out->wakes, &out->mean_ms);
	if (rc == 0)
		rc = log_stat(g.gl_pathv[0], "mqtt_server_pubacked", &out->acked, NULL);
	if (rc == 0 && log_stat(g.gl_pathv[0], "error_connect_econnrefused", &dummy, NULL) == 0 && dummy > 0)
		rc = -1;
	if (rc < 0)
		snprintf(why, whylen, "%.200s: no session or PUBACK counts", g.gl_pathv[0]);
	globfree(&g);
	return rc;
}

int tsung_run(const char *dir, uint16_t port, int rate, int short_s, int long_s, size_t payload, int broker,
              uint16_t epmd_port, struct bench_result *r)
{
	memset(r, 0, sizeof(*r));
	struct tsung_pass a, b;
	if (one_run(dir, port, rate, long_s, payload, broker, epmd_port, &b, r->why, sizeof(r->why)) < 0 ||
	    one_run(dir, port, rate, short_s, payload, broker, epmd_port, &a, r->why, sizeof(r->why)) < 0)
		return -1;
	r->wakes = (uint64_t)(b.wakes - a.wakes);
	r->failed = (uint64_t)((b.wakes - b.acked) + (a.wakes - a.acked));
	/* the arrival phases differ by long_s - short_s seconds: the extra
	 * wakes are what Tsung started and ended in them */
	r->wall_s = (double)(long_s - short_s);
	r->client_cpu_s = b.cpu_s - a.cpu_s;
	r->server_cpu_s = b.server_s - a.server_s;
	snprintf(r->note, sizeof(r->note), "Tsung at an arrival rate of %d/s; its log gives the mean wake, %.2f ms, "
	         "no percentiles", rate, b.mean_ms);
	return 0;
}
