/* bench.c: `dormant bench`, what dormant spends per wake beside the floor
 * and the bare library, in one invocation.
 *
 * One private mosquitto (plaintext and TLS listeners, the run's ECDSA
 * PKI) serves the floor, Tsung and the bare loop, with a subscriber on every
 * device's telemetry (mosquitto_sub, a process of its own) so that the
 * broker forwards each message as it does to dormant's backend. dormant's
 * own rows are `dormant run` of a generated scenario, in this process,
 * against the mosquitto that run starts with the same configuration
 * (dormant does not yet speak TLS to a broker it did not start); their
 * client CPU is the engine thread's and paho's threads' (summary.json's
 * cpu), their broker CPU that mosquitto's (its server_cost, sampled in
 * 10 ms clock ticks, so it is the coarsest figure in the table).
 *
 * Repetitions are interleaved (floor, bare, dormant; plain, then TLS;
 * again), so a slow moment of this shared machine falls on one row of one
 * repetition, and the table gives medians over them.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <dirent.h>
#include <jansson.h>

#include "bench.h"
#include "clock.h"
#include "columns.h"
#include "engine.h"
#include "loop.h"
#include "mosq.h"
#include "pki.h"
#include "scenario.h"
#include "server.h"

/* Tsung's arrival rate: where it held 3,450-4,300 wakes/s on this machine
 * type (its launcher tops out near 6,000); and its two phases' lengths. */
#define TSUNG_RATE 4500
#define TSUNG_SHORT_S 3
#define TSUNG_LONG_S 9
/* dormant's rows: each device wakes this often, the shortest period a
 * scenario takes, so the plan asks for devices x 1000 / PERIOD wakes/s */
#define DORMANT_PERIOD_MS 100

void bench_result_free(struct bench_result *r)
{
	samples_free(&r->lat);
}

uint64_t bench_proc_cpu_ns(int pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	DIR *d = opendir(path);
	if (!d)
		return 0;
	uint64_t sum = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char p[320];
		snprintf(p, sizeof(p), "/proc/%d/task/%s/schedstat", pid, e->d_name);
		FILE *f = fopen(p, "r");
		unsigned long long ns = 0;
		if (f) {
			if (fscanf(f, "%llu", &ns) == 1)
				sum += ns;
			fclose(f);
		}
	}
	closedir(d);
	return sum;
}

enum { ROW_FLOOR, ROW_TSUNG, ROW_BARE, ROW_DORMANT, ROW_REPLAY, NROWS };
static const char *const row_name[NROWS] = { "floor (epoll, precomputed bytes)", "Tsung 1.7 (ts_mqtt)",
	                                     "paho MQTTAsync, bare loop", "dormant, paho through the modem",
	                                     "dormant, replay engine" };

/* One row's repetitions. */
struct row {
	double wps[16], client_us[16], server_us[16], p50[16], p99[16];
	int n;
	uint64_t failed, full_hs, resumed_hs;
	char why[256];
	char note[160];
	char limit[32];            /* dormant's rows: what held the run (summary.json schedule.limit) */
	int plan_held;             /* dormant's rows: a repetition ran at 90 % or more of the plan's rate */
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(const double *v, int n)
{
	if (n <= 0)
		return NAN;
	double s[16];
	memcpy(s, v, (size_t)n * sizeof(double));
	qsort(s, (size_t)n, sizeof(double), cmp_double);
	return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

static void add_rep(struct row *row, struct bench_result *r)
{
	if (row->n >= 16)
		return;
	int i = row->n++;
	row->wps[i] = r->wall_s > 0 ? (double)r->wakes / r->wall_s : NAN;
	row->client_us[i] = r->wakes ? r->client_cpu_s * 1e6 / (double)r->wakes : NAN;
	row->server_us[i] = r->wakes ? r->server_cpu_s * 1e6 / (double)r->wakes : NAN;
	row->p50[i] = samples_pct(&r->lat, 50);
	row->p99[i] = samples_pct(&r->lat, 99);
	row->failed += r->failed;
	row->full_hs += r->full_hs;
	row->resumed_hs += r->resumed_hs;
	if (r->failed && !row->why[0])
		snprintf(row->why, sizeof(row->why), "%s", r->why);
	if (r->limit[0])
		snprintf(row->limit, sizeof(row->limit), "%s", r->limit);
	if (r->note[0])
		snprintf(row->note, sizeof(row->note), "%s", r->note);
}

/* One pass of an in-process client against the bench's broker. */
static int pass_client(int (*fn)(const struct bench_target *, const struct bench_load *, struct bench_result *),
                       const struct bench_target *t, const struct bench_load *l, pid_t broker, struct bench_result *r)
{
	uint64_t b0 = bench_proc_cpu_ns(broker);
	int rc = fn(t, l, r);
	uint64_t b1 = bench_proc_cpu_ns(broker);
	r->server_cpu_s = (double)(b1 - b0) / 1e9;
	return rc;
}

static double jget(json_t *o, const char *path)
{
	char buf[128];
	snprintf(buf, sizeof(buf), "%s", path);
	json_t *cur = o;
	for (char *save = NULL, *k = strtok_r(buf, ".", &save); k && cur; k = strtok_r(NULL, ".", &save))
		cur = json_object_get(cur, k);
	return cur && json_is_number(cur) ? json_number_value(cur) : NAN;
}

/* The wake times (ms) of RUNDIR's ok wakes, with TLS of its resumed ones
 * only, found by column name (wakes.csv's header) into R->lat. */
static int read_wake_times(const char *rundir, int tls, struct bench_result *r)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/wakes.csv", rundir);
	FILE *f = fopen(path, "r");
	char **fld = calloc(columns_count, sizeof(char *));
	if (!f || !fld) {
		if (f)
			fclose(f);
		free(fld);
		return -1;
	}
	int max = (int)columns_count;
	char *line = NULL;
	size_t len = 0;
	int c_out = -1, c_wake = -1, c_res = -1;
	if (getline(&line, &len, f) > 0) {
		line[strcspn(line, "\n")] = 0;
		int n = columns_split(line, fld, max);
		for (int i = 0; i < n; i++) {
			if (!strcmp(fld[i], "outcome"))
				c_out = i;
			else if (!strcmp(fld[i], "t_wake_us"))
				c_wake = i;
			else if (!strcmp(fld[i], "resumed"))
				c_res = i;
		}
	}
	while (c_out >= 0 && c_wake >= 0 && (!tls || c_res >= 0) && getline(&line, &len, f) > 0) {
		line[strcspn(line, "\n")] = 0;
		int n = columns_split(line, fld, max);
		if (n <= c_wake || n <= c_out || (tls && n <= c_res) || strcmp(fld[c_out], "ok"))
			continue;
		if (tls && strcmp(fld[c_res], "1"))
			continue;
		samples_add(&r->lat, strtod(fld[c_wake], NULL) / 1000.0);
	}
	free(line);
	free(fld);
	fclose(f);
	return c_wake >= 0 ? 0 : -1;
}

/* A Ctrl-C that one of dormant's own runs took. */
static int interrupted;

static int stop_asked(void)
{
	return interrupted || loop_signal_pending();
}

/* One pass of dormant's own: a scenario of L's devices waking far faster
 * than they can, as one run in this process; the figures from its
 * summary.json and wakes.csv. */
static int pass_dormant(const char *dir, int tls, int replay, const struct bench_load *l, const char *tag,
                        struct bench_result *r)
{
	memset(r, 0, sizeof(*r));
	char path[4200], root[4200], text[2048];
	snprintf(path, sizeof(path), "%s/%s-%s.yaml", dir, replay ? "replay" : "dormant", tag);
	snprintf(root, sizeof(root), "%s/dormant", dir);
	/* Each device wakes every 100 ms (the shortest period a scenario
	 * takes), wakes/devices times: the bench picks enough devices that the
	 * plan asks for far more than dormant can do, so it runs them as fast
	 * as its concurrency lets it (overrun: finish starts every one). */
	uint64_t per_dev = l->wakes / l->devices;
	snprintf(text, sizeof(text),
	         "name: bench-%s\n"
	         "duration: %" PRIu64 "ms\n"
	         "concurrency: %d\n"
	         "overrun: finish\n"
	         "fleets:\n"
	         "  - name: bench\n"
	         "    count: %u\n"
	         "    wake_every: %dms\n"
	         "    payload: %zuB\n"
	         "    qos: 1\n"
	         "matrix:\n"
	         "  - protocol: mqtt\n"
	         "    tls: %s\n"
	         "%s%s",
	         tag, per_dev * DORMANT_PERIOD_MS, l->concurrency, l->devices, DORMANT_PERIOD_MS, l->payload,
	         tls ? "ecdsa" : "none",
	         tls ? "    resume: ticket\n" : "",
	         /* the first wake runs on paho and is recorded, the rest replay it (clients/replay.h) */
	         replay ? "    stack: replay\n" : "");
	FILE *f = fopen(path, "w");
	if (!f || fputs(text, f) < 0 || fclose(f)) {
		snprintf(r->why, sizeof(r->why), "cannot write %.160s: %s", path, strerror(errno));
		return -1;
	}
	struct scenario *sc = NULL;
	char err[2048] = "";
	if (scenario_load(path, &sc, err, sizeof(err)) != ERR_OK) {
		snprintf(r->why, sizeof(r->why), "%.250s", err);
		return -1;
	}
	struct engine_opts o = { .results_root = root, .progress = 0 };
	char rundir[4096] = "";
	/* The run's own summary table is in its directory; the bench prints its own. */
	fflush(stdout);
	int saved = dup(1), devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (saved >= 0 && devnull >= 0)
		dup2(devnull, 1);
	int rc = engine_run(sc, &o, rundir, sizeof(rundir), err, sizeof(err));
	fflush(stdout);
	if (saved >= 0 && devnull >= 0)
		dup2(saved, 1);
	if (saved >= 0)
		close(saved);
	if (devnull >= 0)
		close(devnull);
	scenario_free(sc);
	if (rc == EXIT_INTERRUPTED)
		interrupted = 1; /* the run took the signal from its signalfd: it is no longer pending */
	if (rc != EXIT_OK) {
		snprintf(r->why, sizeof(r->why), "dormant run: exit %d: %.200s", rc, err);
		return -1;
	}
	char sp[4200];
	snprintf(sp, sizeof(sp), "%s/summary.json", rundir);
	json_error_t je;
	json_t *js = json_load_file(sp, 0, &je);
	json_t *v = js ? json_array_get(json_object_get(js, "variants"), 0) : NULL;
	if (!v) {
		snprintf(r->why, sizeof(r->why), "%.120s: %.100s", sp, js ? "no variant" : je.text);
		json_decref(js);
		return -1;
	}
	double wakes = jget(v, "wakes"), ok = jget(v, "ok");
	r->wakes = (uint64_t)wakes;
	r->failed = (uint64_t)(wakes - ok);
	r->wall_s = jget(v, "schedule.span_s");
	r->client_cpu_s = (jget(v, "cpu.engine_thread_ms") + jget(v, "cpu.library_threads_ms")) / 1000.0;
	r->server_cpu_s = jget(v, "server_cost.cpu_ms") / 1000.0;
	r->full_hs = (uint64_t)fmax(0, jget(v, "tls_handshakes.full.n"));
	r->resumed_hs = (uint64_t)fmax(0, jget(v, "tls_handshakes.resumed.n"));
	const char *lim = json_string_value(json_object_get(json_object_get(v, "schedule"), "limit"));
	snprintf(r->limit, sizeof(r->limit), "%s", lim ? lim : "?");
	json_decref(js);
	if (r->failed)
		snprintf(r->why, sizeof(r->why), "see %.200s/wakes.csv", rundir);
	if (read_wake_times(rundir, tls, r) < 0) {
		snprintf(r->why, sizeof(r->why), "%.200s/wakes.csv: no wake times", rundir);
		return -1;
	}
	return 0;
}

/* The wakes a second dormant's plan asks for. */
static double plan_rate(const struct bench_load *l)
{
	return l->devices * 1000.0 / DORMANT_PERIOD_MS;
}

enum kind { KIND_FLOOR, KIND_BARE, KIND_DORMANT, KIND_REPLAY };

/* Tsung's row: one repetition is its own two runs (tsung.c). */
static void run_tsung(const char *dir, const struct bench_target *t, const struct bench_load *l, pid_t broker,
                      uint16_t epmd_port, int rep, struct row *row)
{
	char sub[4200];
	snprintf(sub, sizeof(sub), "%s/tsung-%d", dir, rep);
	struct bench_result r;
	if (server_mkdirs(sub) < 0) {
		snprintf(row->why, sizeof(row->why), "cannot create %.200s: %s", sub, strerror(errno));
		return;
	}
	if (!epmd_port) {
		snprintf(row->why, sizeof(row->why), "not run: no epmd of the bench's for its VM");
		return;
	}
	if (tsung_run(sub, t->port, TSUNG_RATE, TSUNG_SHORT_S, TSUNG_LONG_S, l->payload, broker, epmd_port, &r) < 0) {
		if (!row->why[0])
			snprintf(row->why, sizeof(row->why), "%s", r.why);
		return;
	}
	add_rep(row, &r);
	row->p50[row->n - 1] = row->p99[row->n - 1] = NAN;
	bench_result_free(&r);
}

static int pass(enum kind k, const char *dir, const struct bench_target *t, const struct bench_load *l, pid_t broker,
                const char *tag, struct bench_result *r)
{
	switch (k) {
	case KIND_FLOOR:
		return pass_client(floor_run, t, l, broker, r);
	case KIND_BARE:
		return pass_client(bare_paho_run, t, l, broker, r);
	case KIND_REPLAY:
		return pass_dormant(dir, t->tls, 1, l, tag, r);
	default:
		return pass_dormant(dir, t->tls, 0, l, tag, r);
	}
}

/* One repetition of a row. Plaintext: one pass. TLS: the resumed wake's
 * cost is the difference between a pass of 40 wakes a device and one of
 * 10, so each device's first, full handshake (in both) cancels out of the
 * rate and the CPU; the times are the longer pass's resumed wakes. (Thirty
 * wakes a device between them: with fewer, the noise of this shared
 * machine on two passes was as large as the difference.) */
static void run_row(enum kind k, const char *dir, const struct bench_target *t, const struct bench_load *l,
                    pid_t broker, int rep, struct row *row)
{
	char tag[48];
	struct bench_result a = { 0 }, b = { 0 };
	snprintf(tag, sizeof(tag), "%s-%d", t->tls ? "tls-long" : "plain", rep);
	struct bench_load l2 = *l;
	if (t->tls)
		l2.wakes = 4 * l->wakes;
	int rc = pass(k, dir, t, &l2, broker, tag, &b);
	/* the plan asks for devices x 10 wakes/s: at that rate it, not dormant, set the pace */
	if (rc == 0 && (k == KIND_DORMANT || k == KIND_REPLAY) && b.wall_s > 0 && (double)b.wakes / b.wall_s >= 0.9 * plan_rate(l))
		row->plan_held = 1;
	if (rc == 0 && t->tls) {
		snprintf(tag, sizeof(tag), "tls-short-%d", rep);
		rc = pass(k, dir, t, l, broker, tag, &a);
		if (rc < 0)
			snprintf(b.why, sizeof(b.why), "%s", a.why);
		b.wakes -= a.wakes;
		b.wall_s -= a.wall_s;
		b.client_cpu_s -= a.client_cpu_s;
		b.server_cpu_s -= a.server_cpu_s;
		b.failed += a.failed;
		if (b.wall_s <= 0)
			b.wall_s = NAN;
	}
	if (rc < 0) {
		if (!row->why[0])
			snprintf(row->why, sizeof(row->why), "%s", b.why);
	} else {
		add_rep(row, &b);
	}
	bench_result_free(&a);
	bench_result_free(&b);
}

/* ---- the invocation ---- */

struct mode {
	const char *name;          /* "plain", "TLS" */
	int tls;
	struct bench_load load;
	struct row rows[NROWS];
};

static void print_table(FILE *out, struct mode *m, int nmodes)
{
	fprintf(out, "\n%-6s %-34s %9s %11s %11s %8s %8s %9s %9s %9s\n", "", "row", "wakes/s", "client", "broker",
	        "p50", "p99", "rate vs", "CPU vs", "CPU vs");
	fprintf(out, "%-6s %-34s %9s %11s %11s %8s %8s %9s %9s %9s\n", "", "", "", "us/wake", "us/wake", "ms", "ms",
	        "floor", "floor", "bare");
	for (int mi = 0; mi < nmodes; mi++) {
		struct row *fl = &m[mi].rows[ROW_FLOOR], *bare = &m[mi].rows[ROW_BARE];
		double f_wps = median(fl->wps, fl->n), f_cpu = median(fl->client_us, fl->n);
		double b_cpu = median(bare->client_us, bare->n);
		for (int ri = 0; ri < NROWS; ri++) {
			struct row *r = &m[mi].rows[ri];
			if (!r->n) {
				fprintf(out, "%-6s %-34s %s\n", m[mi].name, row_name[ri], r->why[0] ? r->why : "not run");
				continue;
			}
			double wps = median(r->wps, r->n), cpu = median(r->client_us, r->n);
			char vb[16] = "", p50[16] = "-", p99[16] = "-";
			if ((ri == ROW_DORMANT || ri == ROW_REPLAY) && bare->n)
				snprintf(vb, sizeof(vb), "%.2fx", cpu / b_cpu);
			if (!isnan(median(r->p50, r->n)))
				snprintf(p50, sizeof(p50), "%.3f", median(r->p50, r->n));
			if (!isnan(median(r->p99, r->n)))
				snprintf(p99, sizeof(p99), "%.3f", median(r->p99, r->n));
			fprintf(out, "%-6s %-34s %9.0f %11.0f %11.0f %8s %8s %8.2fx %8.2fx %9s\n", m[mi].name, row_name[ri],
			        wps, cpu, median(r->server_us, r->n), p50, p99, wps / f_wps, cpu / f_cpu, vb);
			struct row *ts = &m[mi].rows[ROW_TSUNG];
			if ((ri == ROW_DORMANT || ri == ROW_REPLAY) && ts->n)
				fprintf(out, "%-6s   %.2fx Tsung's wakes/s, %.2fx its client CPU per wake\n", "",
				        wps / median(ts->wps, ts->n), cpu / median(ts->client_us, ts->n));
			if (r->note[0])
				fprintf(out, "%-6s   %s\n", "", r->note);
			if (r->failed)
				fprintf(out, "%-6s   %" PRIu64 " wakes failed: %s\n", "", r->failed, r->why);
			if ((ri == ROW_DORMANT || ri == ROW_REPLAY) && r->plan_held)
				fprintf(out, "%-6s   dormant kept up with its plan (%.0f wakes/s; limit: %s): the rate is the plan's, raise --wakes\n",
				        "", plan_rate(&m[mi].load), r->limit);
		}
	}
}

static json_t *row_json(const struct row *r)
{
	json_t *o = json_object();
	json_object_set_new(o, "repetitions", json_integer(r->n));
	const struct {
		const char *k;
		const double *v;
	} f[] = { { "wakes_per_s", r->wps }, { "client_us_per_wake", r->client_us }, { "server_us_per_wake", r->server_us },
		  { "p50_ms", r->p50 }, { "p99_ms", r->p99 } };
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		json_t *a = json_array();
		for (int j = 0; j < r->n; j++)
			json_array_append_new(a, isnan(f[i].v[j]) ? json_null() : json_real(f[i].v[j]));
		json_t *m = json_object();
		double med = median(f[i].v, r->n);
		json_object_set_new(m, "median", r->n && !isnan(med) ? json_real(med) : json_null());
		json_object_set_new(m, "each", a);
		json_object_set_new(o, f[i].k, m);
	}
	json_object_set_new(o, "failed", json_integer((json_int_t)r->failed));
	json_object_set_new(o, "full_handshakes", json_integer((json_int_t)r->full_hs));
	json_object_set_new(o, "resumed_handshakes", json_integer((json_int_t)r->resumed_hs));
	json_object_set_new(o, "note", json_string(r->why));
	if (r->limit[0]) {
		json_object_set_new(o, "limit", json_string(r->limit));
		json_object_set_new(o, "plan_held", json_boolean(r->plan_held));
	}
	return o;
}

int bench_main(const struct bench_opts *o)
{
	loop_block_signals();
	signal(SIGPIPE, SIG_IGN);
	char dir[3800], err[2048] = "";
	char stamp[32];
	clock_utc_label(stamp, sizeof(stamp));
	snprintf(dir, sizeof(dir), "%s/bench-%s", o->results_root, stamp);
	if (server_mkdirs(dir) < 0) {
		fprintf(stderr, "dormant: bench: cannot create %s: %s\n", dir, strerror(errno));
		return EXIT_IO;
	}
	int C = o->concurrency;
	struct mode modes[2] = { { .name = "plain", .tls = 0 }, { .name = "TLS", .tls = 1 } };
	/* plain: a tenth as many devices as wakes, ten wakes each; TLS: a
	 * twentieth, passes of 40 and 10 wakes each (run_row) */
	uint32_t dp = (uint32_t)(o->wakes / 10 / (uint64_t)C) * (uint32_t)C;
	uint32_t dt = (uint32_t)(o->wakes / 20 / (uint64_t)C) * (uint32_t)C;
	if (dp < (uint32_t)C)
		dp = (uint32_t)C;
	if (dt < (uint32_t)C)
		dt = (uint32_t)C;
	modes[0].load = (struct bench_load){ .devices = dp, .wakes = 10 * (uint64_t)dp, .concurrency = C, .payload = 48 };
	modes[1].load = (struct bench_load){ .devices = dt, .wakes = 10 * (uint64_t)dt, .concurrency = C, .payload = 48 };
	snprintf(modes[1].rows[ROW_BARE].why, sizeof(modes[1].rows[ROW_BARE].why),
	         "not run: Debian's paho does TLS with OpenSSL, not mbedTLS");
	snprintf(modes[1].rows[ROW_TSUNG].why, sizeof(modes[1].rows[ROW_TSUNG].why),
	         "not run: plaintext only (Tsung's TLS is Erlang's, not mbedTLS)");

	/* the PKI and one mosquitto for the floor and the bare loop */
	struct pki pki;
	memset(&pki, 0, sizeof(pki));
	char pkidir[3900], crt[4200], key[4200], mdir[3900];
	snprintf(pkidir, sizeof(pkidir), "%s/pki", dir);
	snprintf(mdir, sizeof(mdir), "%s/mosquitto", dir);
	int rc = EXIT_OK;
	struct server mq, sub;
	memset(&mq, 0, sizeof(mq));
	memset(&sub, 0, sizeof(sub));
	if (pki_create(&pki, pkidir, err, sizeof(err)) != ERR_OK ||
	    pki_server(&pki, TLS_ECDSA, 0, crt, key, sizeof(crt), err, sizeof(err)) != ERR_OK) {
		fprintf(stderr, "dormant: bench: %s\n", err);
		pki_destroy(&pki);
		return EXIT_IO;
	}
	struct mosq_tls mt = { .cafile = pki.ca_crt, .certfile = crt, .keyfile = key };
	if (server_mkdirs(mdir) < 0 || mosq_start(&mq, mdir, 0x7f000001u, &mt, err, sizeof(err)) != ERR_OK) {
		fprintf(stderr, "dormant: bench: mosquitto: %s\n", err[0] ? err : strerror(errno));
		pki_destroy(&pki);
		return EXIT_SERVER;
	}
	/* the backend's counterpart: one subscriber takes every device's telemetry */
	snprintf(sub.name, sizeof(sub.name), "mosquitto_sub");
	snprintf(sub.dir, sizeof(sub.dir), "%s", mdir);
	snprintf(sub.log, sizeof(sub.log), "/dev/null"); /* it prints every payload */
	char port[8];
	snprintf(port, sizeof(port), "%u", mq.backend_port);
	char *argv[] = { "mosquitto_sub", "-h", "127.0.0.1", "-p", port, "-q", "1", "-t", "dormant/+/telemetry", NULL };
	if (server_spawn(&sub, argv, err, sizeof(err)) != ERR_OK) {
		fprintf(stderr, "dormant: bench: %s\n", err);
		server_stop(&mq);
		pki_destroy(&pki);
		return EXIT_SERVER;
	}
	usleep(300000); /* its SUBSCRIBE is in before the first wake */
	/* Tsung's Erlang VM needs an epmd; left to itself it starts `epmd
	 * -daemon` on every address, which outlives the bench. This one is on
	 * loopback and stopped with the rest. */
	struct server epmd;
	memset(&epmd, 0, sizeof(epmd));
	snprintf(epmd.name, sizeof(epmd.name), "epmd");
	snprintf(epmd.dir, sizeof(epmd.dir), "%s", mdir);
	snprintf(epmd.log, sizeof(epmd.log), "%.3900s/epmd.log", mdir);
	uint16_t ep = 0;
	char epstr[8];
	if (server_pick_ports(&ep, 1, err, sizeof(err)) == ERR_OK) {
		snprintf(epstr, sizeof(epstr), "%u", ep);
		char *eargv[] = { "epmd", "-port", epstr, "-address", "127.0.0.1", NULL };
		if (server_start_on(&epmd, eargv, 0x7f000001u, ep, 10000, err, sizeof(err)) != ERR_OK) {
			fprintf(stderr, "dormant: bench: epmd for Tsung: %s (its row is not run)\n", err);
			memset(&epmd, 0, sizeof(epmd));
		}
	}

	printf("dormant bench: MQTT QoS 1, %zu B payload, %d wakes in flight, %d interleaved repetitions; results in %s\n",
	       modes[0].load.payload, C, o->repeat, dir);
	printf("  plain: %" PRIu64 " wakes a row over %u devices; TLS (ECDSA, tickets) over %u devices: a pass of %" PRIu64
	       " wakes less one of %" PRIu64 ",\n  so each device's first, full handshake cancels out and the figures are the resumed wakes'\n",
	       modes[0].load.wakes, modes[0].load.devices, modes[1].load.devices, 4 * modes[1].load.wakes, modes[1].load.wakes);
	fflush(stdout);
	for (int rep = 1; rep <= o->repeat && !stop_asked(); rep++) {
		for (int mi = 0; mi < 2 && !stop_asked(); mi++) {
			struct mode *m = &modes[mi];
			struct bench_target t = { .port = m->tls ? mq.port : mq.backend_port, .tls = m->tls, .ca_file = pki.ca_crt };
			fprintf(stderr, "bench: repetition %d of %d, %s: floor", rep, o->repeat, m->name);
			run_row(KIND_FLOOR, dir, &t, &m->load, mq.pid, rep, &m->rows[ROW_FLOOR]);
			if (!m->tls && !stop_asked()) {
				fprintf(stderr, ", Tsung");
				run_tsung(dir, &t, &m->load, mq.pid, epmd.pid ? epmd.port : 0, rep, &m->rows[ROW_TSUNG]);
			}
			if (!m->tls && !stop_asked()) {
				fprintf(stderr, ", paho bare");
				run_row(KIND_BARE, dir, &t, &m->load, mq.pid, rep, &m->rows[ROW_BARE]);
			}
			if (!stop_asked()) {
				fprintf(stderr, ", dormant");
				run_row(KIND_DORMANT, dir, &t, &m->load, mq.pid, rep, &m->rows[ROW_DORMANT]);
			}
			if (!stop_asked()) {
				fprintf(stderr, ", replay");
				run_row(KIND_REPLAY, dir, &t, &m->load, mq.pid, rep, &m->rows[ROW_REPLAY]);
			}
			fputc('\n', stderr);
		}
	}
	if (stop_asked())
		rc = EXIT_INTERRUPTED;
	if (epmd.pid)
		server_stop(&epmd);
	server_stop(&sub);
	server_stop(&mq);
	pki_destroy(&pki);

	print_table(stdout, modes, 2);
	printf("\nclient CPU: every thread of the client (the floor's one, paho's two and the caller, dormant's engine and paho's);\n"
	       "broker CPU: mosquitto's, from /proc schedstat (ns) for the floor and bare rows, from its 10 ms clock ticks for dormant's.\n"
	       "p50/p99: the wake from its start to the server's FIN (TLS: resumed wakes only).\n");
	json_t *js = json_object();
	json_object_set_new(js, "concurrency", json_integer(C));
	json_object_set_new(js, "repetitions", json_integer(o->repeat));
	for (int mi = 0; mi < 2; mi++) {
		json_t *mo = json_object();
		json_object_set_new(mo, "devices", json_integer(modes[mi].load.devices));
		json_object_set_new(mo, "wakes", json_integer((json_int_t)modes[mi].load.wakes));
		if (modes[mi].tls)
			json_object_set_new(mo, "long_pass_wakes", json_integer((json_int_t)(4 * modes[mi].load.wakes)));
		static const char *const key_of[NROWS] = { "floor", "tsung", "bare_paho", "dormant", "replay" };
		for (int ri = 0; ri < NROWS; ri++)
			json_object_set_new(mo, key_of[ri], row_json(&modes[mi].rows[ri]));
		json_object_set_new(js, modes[mi].tls ? "tls" : "plain", mo);
	}
	char jp[4200];
	snprintf(jp, sizeof(jp), "%s/bench.json", dir);
	if (json_dump_file(js, jp, JSON_INDENT(2) | JSON_REAL_PRECISION(6))) {
		fprintf(stderr, "dormant: bench: cannot write %s\n", jp);
		rc = EXIT_IO;
	}
	json_decref(js);
	printf("bench.json: %s\n", jp);
	return rc;
}
