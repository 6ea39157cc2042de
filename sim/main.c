/* main.c: the dormant command line. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine.h"
#include "scenario.h"
#include "sched.h"

static const char usage_main[] =
	"usage: dormant COMMAND [ARGS]\n"
	"\n"
	"dormant measures what a protocol and its TLS set-up cost a fleet of sleeping\n"
	"devices: it starts real brokers on 127.0.0.1, runs every device wake through\n"
	"the real protocol stack and a modem that counts every byte and segment, and\n"
	"writes one row per wake.\n"
	"\n"
	"commands:\n"
	"  run FILE [-o DIR]   run a scenario; results go to DIR/<name>-<UTC time>/\n"
	"  check FILE          validate a scenario and print its plan\n"
	"  help [COMMAND]      this text, or a command's\n"
	"  version             print the version\n"
	"\n"
	"exit codes:\n"
	"  0    success (a run's failed wakes are results, not errors)\n"
	"  1    internal error\n"
	"  2    bad command line\n"
	"  3    invalid scenario file (one FILE:LINE:COL: message on stderr; nothing written)\n"
	"  4    a server (broker) could not be started; its log is in the run directory\n"
	"  5    results could not be written\n"
	"  130  interrupted (SIGINT/SIGTERM); rows and summary so far are kept, servers stopped\n";

static const char usage_run[] =
	"usage: dormant run FILE [-o|--output DIR] [--progress|--no-progress]\n"
	"\n"
	"Runs every variant of the scenario in FILE in turn: starts its broker on a\n"
	"free 127.0.0.1 port, wakes each device on schedule for the scenario's\n"
	"duration, and stops the broker. Writes DIR/<name>-<UTC time>/ with\n"
	"scenario.yaml, env.json, wakes.csv, summary.json and servers/, and prints a\n"
	"summary table.\n"
	"\n"
	"  -o, --output DIR   results root (default: results)\n"
	"  --progress         live progress line on stderr (default when stderr is a terminal)\n"
	"  --no-progress      no progress line\n"
	"\n"
	"Ctrl-C stops scheduling, ends the wakes in flight, writes what it has and\n"
	"stops the servers (exit 130); a second Ctrl-C stops at once.\n";

static const char usage_check[] =
	"usage: dormant check FILE\n"
	"\n"
	"Validates FILE and prints the expanded plan: variants, devices, expected\n"
	"wakes and messages per variant. Exit 0 if valid, 3 if not.\n";

/* One line naming what was wrong, never the whole usage text. */
static int bad_usage(const char *cmd, const char *what, const char *arg)
{
	fprintf(stderr, "dormant: %s%s%s%s%s%s (see 'dormant %s%s--help')\n", cmd ? cmd : "", cmd ? ": " : "", what,
	        arg ? " '" : "", arg ? arg : "", arg ? "'" : "", cmd ? cmd : "", cmd ? " " : "");
	return EXIT_USAGE;
}

static struct scenario *load(const char *path)
{
	struct scenario *sc = NULL;
	char err[1024];
	if (scenario_load(path, &sc, err, sizeof(err)) != ERR_OK) {
		fprintf(stderr, "%s\n", err);
		return NULL;
	}
	return sc;
}

static void print_plan(const struct scenario *sc)
{
	char d[32];
	uint64_t wakes = sched_expected_wakes(sc), msgs = 0;
	struct sched *s = sched_create(sc);
	struct sched_wake sw;
	while (s && sched_next(s, &sw))
		msgs += sc->fleets[sw.fleet].messages_per_wake;
	sched_destroy(s);
	printf("scenario %s (seed %llu): %u devices in %zu fleet%s, window %.3gs, concurrency %u\n", sc->name,
	       (unsigned long long)sc->seed, sc->ndevices, sc->nfleets, sc->nfleets == 1 ? "" : "s",
	       (double)sc->duration_us / 1e6, sc->concurrency);
	if (sc->endpoint_host[0])
		printf("endpoint %s:%u (no broker is started)\n", sc->endpoint_host, sc->endpoint_port);
	if (!sc->tls_verify)
		printf("tls_verify: false: devices do NOT verify the server certificate\n");
	if (sc->tls_fault != TLS_FAULT_NONE)
		printf("tls_fault: %s: injected on every TLS wake\n", tls_fault_name(sc->tls_fault));
	for (size_t i = 0; i < sc->nfleets; i++) {
		const struct fleet *f = &sc->fleets[i];
		snprintf(d, sizeof(d), "%.6gs", (double)f->wake_every_us / 1e6);
		printf("  fleet %-12s %6u devices  every %s  jitter %.6gs  payload %uB x %u  qos %d  %s\n", f->name,
		       f->count, d, (double)f->jitter_us / 1e6, f->payload_bytes, f->messages_per_wake, f->qos,
		       conn_mode_name(f->connection));
	}
	printf("%zu variant%s, each %llu wakes and %llu messages:\n", sc->nvariants, sc->nvariants == 1 ? "" : "s",
	       (unsigned long long)wakes, (unsigned long long)msgs);
	for (size_t i = 0; i < sc->nvariants; i++) {
		const struct variant *v = &sc->variants[i];
		char q[16];
		if (v->qos < 0)
			snprintf(q, sizeof(q), "per fleet");
		else
			snprintf(q, sizeof(q), "%d", v->qos);
		printf("  %2zu  %-40s protocol=%s broker=%s tls=%s client_cert=%s resume=%s qos=%s\n", i + 1, v->name,
		       protocol_name(v->protocol), broker_kind_name(v->broker), tls_mode_name(v->tls),
		       v->client_cert ? "true" : "false", resume_mode_name(v->resume), q);
	}
	printf("total: %llu wakes\n", (unsigned long long)(wakes * sc->nvariants));
}

static int cmd_check(int argc, char **argv)
{
	const char *file = NULL;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			fputs(usage_check, stdout);
			return EXIT_OK;
		}
		if (argv[i][0] == '-' && argv[i][1])
			return bad_usage("check", "unknown option", argv[i]);
		if (file)
			return bad_usage("check", "one scenario file at a time, got a second:", argv[i]);
		file = argv[i];
	}
	if (!file)
		return bad_usage("check", "a scenario FILE is required", NULL);
	struct scenario *sc = load(file);
	if (!sc)
		return EXIT_SCENARIO;
	print_plan(sc);
	scenario_free(sc);
	return EXIT_OK;
}

static int cmd_run(int argc, char **argv)
{
	const char *file = NULL;
	struct engine_opts o = { .results_root = "results", .progress = isatty(2) };
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			fputs(usage_run, stdout);
			return EXIT_OK;
		} else if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
			if (i + 1 >= argc || !argv[i + 1][0])
				return bad_usage("run", "a directory must follow", a);
			o.results_root = argv[++i];
		} else if (!strncmp(a, "--output=", 9) && a[9]) {
			o.results_root = a + 9;
		} else if (!strcmp(a, "--progress")) {
			o.progress = 1;
		} else if (!strcmp(a, "--no-progress")) {
			o.progress = 0;
		} else if (a[0] == '-' && a[1]) {
			return bad_usage("run", "unknown option", a);
		} else if (file) {
			return bad_usage("run", "one scenario file at a time, got a second:", a);
		} else {
			file = a;
		}
	}
	if (!file)
		return bad_usage("run", "a scenario FILE is required", NULL);
	struct scenario *sc = load(file);
	if (!sc)
		return EXIT_SCENARIO;

	/* Signals are taken by the engine's signalfd; block them before any
	 * library starts a thread, so every thread inherits the mask. */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	char rundir[4096] = "", err[2048] = "";
	int rc = engine_run(sc, &o, rundir, sizeof(rundir), err, sizeof(err));
	if (err[0])
		fprintf(stderr, "dormant: %s\n", err);
	if (rundir[0])
		printf("results: %s\n", rundir);
	scenario_free(sc);
	return rc;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2) {
		fputs(usage_main, stderr);
		return EXIT_USAGE;
	}
	const char *cmd = argv[1];
	if (!strcmp(cmd, "run"))
		return cmd_run(argc - 1, argv + 1);
	if (!strcmp(cmd, "check"))
		return cmd_check(argc - 1, argv + 1);
	if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
		if (argc > 2 && !strcmp(argv[2], "run"))
			fputs(usage_run, stdout);
		else if (argc > 2 && !strcmp(argv[2], "check"))
			fputs(usage_check, stdout);
		else
			fputs(usage_main, stdout);
		return EXIT_OK;
	}
	if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
		printf("dormant %s\n", DORMANT_VERSION);
		return EXIT_OK;
	}
	return bad_usage(NULL, "unknown command", cmd);
}
