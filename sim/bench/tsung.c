/* tsung.c: Tsung 1.7 (Debian's, ts_mqtt) as a row of `dormant bench`, the
 * load generator people already use for MQTT brokers.
 *
 * Tsung is open-loop: it starts new users (one wake each: connect with
 * clean session, publish the payload at QoS 1 and wait for its PUBACK,
 * disconnect) at an arrival rate. Its Erlang VM takes seconds of CPU to
 * boot and to write its logs, so a repetition is two runs at the same rate,
 * a short and a long arrival phase, and the row is their difference: the
 * extra wakes over the extra seconds, and their CPU (the whole process
 * tree, from wait4) over those wakes. If Tsung cannot start users as fast
 * as asked, fewer wakes end and the rate says so. Tsung's log gives means,
 * not percentiles: the row's p50 and p99 are left empty and its note has
 * the mean wake.
 */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

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
	double wakes, acked, mean_ms, cpu_s, server_s, wall_s;
};

extern char **environ;

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
	 * loopback, never start `epmd -daemon` (every address, outlives us). */
	char e_port[48], e_addr[] = "ERL_EPMD_ADDRESS=127.0.0.1",
	     e_z[] = "ERL_ZFLAGS=-start_epmd false -kernel inet_dist_use_interface {127,0,0,1}";
	snprintf(e_port, sizeof(e_port), "ERL_EPMD_PORT=%u", epmd_port);
	size_t nenv = 0;
	while (environ[nenv])
		nenv++;
	char **envp = calloc(nenv + 4, sizeof(char *));
	if (!envp) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	size_t k = 0;
	for (size_t i = 0; i < nenv; i++)
		if (strncmp(environ[i], "ERL_", 4))
			envp[k++] = environ[i];
	envp[k++] = e_port;
	envp[k++] = e_addr;
	envp[k++] = e_z;
	envp[k] = NULL;
	uint64_t b0 = bench_proc_cpu_ns(broker);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		snprintf(why, whylen, "fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(127);
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		setpgid(0, 0);
		int fd = open(outlog, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		int null = open("/dev/null", O_RDONLY);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		if (null >= 0)
			dup2(null, 0);
		char *argv[] = { "tsung", "-f", conf, "-l", logdir, "-n", "start", NULL };
		execvpe("tsung", argv, envp);
		_exit(127);
	}
	free(envp);
	int status = 0;
	struct rusage ru;
	/* the phase, and a minute for the VM's start and its logs */
	for (int waited = 0;; waited++) {
		pid_t r = wait4(pid, &status, WNOHANG, &ru);
		if (r == pid)
			break;
		if (r < 0 && errno != EINTR) {
			snprintf(why, whylen, "wait for tsung: %s", strerror(errno));
			return -1;
		}
		if (waited > (seconds + 60) * 10) {
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			snprintf(why, whylen, "tsung did not end within %d s (%.200s)", seconds + 60, outlog);
			return -1;
		}
		usleep(100000);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		snprintf(why, whylen, "tsung exited %d (%.200s)", WIFEXITED(status) ? WEXITSTATUS(status) : -1, outlog);
		return -1;
	}
	out->server_s = (double)(bench_proc_cpu_ns(broker) - b0) / 1e9;
	out->cpu_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
	             (double)ru.ru_stime.tv_usec / 1e6;
	out->wall_s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
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
