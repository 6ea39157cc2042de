/* main.c: the dormant command line. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "compare.h"
#include "engine.h"
#include "plot.h"
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
	"  plot RUN_DIR        figures (PNG, SVG) and report.html for a run\n"
	"  compare RUN_A RUN_B [...] [-o DIR]\n"
	"                      the same variants across runs, with differences\n"
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
	"usage: dormant run FILE [-o|--output DIR] [--progress|--no-progress] [--no-plot]\n"
	"\n"
	"Runs every variant of the scenario in FILE in turn: starts its broker on a\n"
	"free 127.0.0.1 port, wakes each device on schedule for the scenario's\n"
	"duration, and stops the broker. Writes DIR/<name>-<UTC time>/ with\n"
	"scenario.yaml, env.json, wakes.csv, summary.json and servers/, prints a\n"
	"summary table, then draws the figures and report.html (as `dormant plot`).\n"
	"\n"
	"  -o, --output DIR   results root (default: results)\n"
	"  --progress         live progress line on stderr (default when stderr is a terminal)\n"
	"  --no-progress      no progress line\n"
	"  --no-plot          no figures or report.html at the end (`dormant plot` draws them later)\n"
	"\n"
	"Ctrl-C stops scheduling, ends the wakes in flight, writes what it has and\n"
	"stops the servers (exit 130); a second Ctrl-C stops at once.\n";

static const char usage_check[] =
	"usage: dormant check FILE\n"
	"\n"
	"Validates FILE and prints the expanded plan: variants, devices, expected\n"
	"wakes and messages per variant. Exit 0 if valid, 3 if not.\n";

static const char usage_plot[] =
	"usage: dormant plot RUN_DIR\n"
	"\n"
	"Draws a run's figures with gnuplot into RUN_DIR/plots/ (per figure: NAME.dat,\n"
	"the script NAME.gp to edit and re-run with `gnuplot NAME.gp` there, NAME.png,\n"
	"NAME.svg) and writes RUN_DIR/report.html, one self-contained page. Figures a\n"
	"run has no data for are left out with a note. Exit 0, 2 if RUN_DIR is not a\n"
	"run directory, 5 if files cannot be written, 1 if gnuplot is missing or fails.\n";

static const char usage_compare[] =
	"usage: dormant compare RUN_A RUN_B [RUN_C ...] [-o|--output DIR]\n"
	"\n"
	"Matches the runs' variants by name and prints, for each variant in two or more\n"
	"runs, every metric per run with its difference to RUN_A (absolute and %).\n"
	"Writes compare.txt, compare.png/.svg (grouped bars) and compare.html into DIR\n"
	"(default: compare-<UTC time> beside RUN_A). Exit codes as for plot.\n";

static int plot_exit(enum dormant_err e)
{
	return e == ERR_OK ? EXIT_OK : e == ERR_USAGE ? EXIT_USAGE : e == ERR_IO ? EXIT_IO : EXIT_INTERNAL;
}

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
	uint64_t wakes = sched_expected_wakes(sc), msgs = sched_expected_messages(sc);
	printf("scenario %s (seed %llu): %u devices in %zu fleet%s, window %.3gs, concurrency %u\n", sc->name,
	       (unsigned long long)sc->seed, sc->ndevices, sc->nfleets, sc->nfleets == 1 ? "" : "s",
	       (double)sc->duration_us / 1e6, sc->concurrency);
	if (sc->endpoint_host[0])
		printf("endpoint %s:%u (no broker is started)\n", sc->endpoint_host, sc->endpoint_port);
	if (!sc->tls_verify)
		printf("tls_verify: false: devices do NOT verify the server certificate\n");
	if (sc->auth_fault != AUTH_FAULT_NONE)
		printf("auth_fault: %s: injected on every HTTP wake\n", auth_fault_name(sc->auth_fault));
	if (sc->tls_fault != TLS_FAULT_NONE)
		printf("tls_fault: %s: injected on every TLS wake\n", tls_fault_name(sc->tls_fault));
	for (size_t i = 0; i < sc->nfleets; i++) {
		const struct fleet *f = &sc->fleets[i];
		snprintf(d, sizeof(d), "%.6gs", (double)f->wake_every_us / 1e6);
		printf("  fleet %-12s %6u devices  every %s  jitter %.6gs  payload %uB x %u  qos %d  %s", f->name,
		       f->count, d, (double)f->jitter_us / 1e6, f->payload_bytes, f->messages_per_wake, f->qos,
		       conn_mode_name(f->connection));
		if (f->downlink)
			printf("  polls for commands");
		if (f->command_every_us)
			printf(", one every %.6gs", (double)f->command_every_us / 1e6);
		putchar('\n');
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
	int no_plot = 0;
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
		} else if (!strcmp(a, "--no-plot")) {
			no_plot = 1;
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
	if (err[0] && rc != EXIT_OK) /* a server start that a retry fixed leaves its message behind */
		fprintf(stderr, "dormant: %s\n", err);
	if (rundir[0])
		printf("results: %s\n", rundir);
	scenario_free(sc);
	/* The run's outcome is its exit code; a figure gnuplot could not draw is reported, not fatal. */
	if (rundir[0] && !no_plot && (rc == EXIT_OK || rc == EXIT_INTERRUPTED)) {
		char perr[2048] = "";
		if (plot_run(rundir, PLOT_ALL, stdout, perr, sizeof(perr)) != ERR_OK)
			fprintf(stderr, "dormant: plot: %s\n", perr);
	}
	return rc;
}

static int cmd_plot(int argc, char **argv)
{
	const char *dir = NULL;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			fputs(usage_plot, stdout);
			return EXIT_OK;
		}
		if (argv[i][0] == '-' && argv[i][1])
			return bad_usage("plot", "unknown option", argv[i]);
		if (dir)
			return bad_usage("plot", "one run directory at a time, got a second:", argv[i]);
		dir = argv[i];
	}
	if (!dir)
		return bad_usage("plot", "a RUN_DIR is required", NULL);
	char err[2048] = "";
	enum dormant_err e = plot_run(dir, PLOT_ALL, stdout, err, sizeof(err));
	if (e != ERR_OK)
		fprintf(stderr, "dormant: plot: %s\n", err);
	return plot_exit(e);
}

static int cmd_compare(int argc, char **argv)
{
	const char *out = NULL;
	char **dirs = calloc((size_t)argc, sizeof(*dirs));
	int n = 0;
	if (!dirs)
		return EXIT_INTERNAL;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			fputs(usage_compare, stdout);
			free(dirs);
			return EXIT_OK;
		} else if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
			if (i + 1 >= argc || !argv[i + 1][0]) {
				free(dirs);
				return bad_usage("compare", "a directory must follow", a);
			}
			out = argv[++i];
		} else if (!strncmp(a, "--output=", 9) && a[9]) {
			out = a + 9;
		} else if (a[0] == '-' && a[1]) {
			free(dirs);
			return bad_usage("compare", "unknown option", a);
		} else {
			dirs[n++] = argv[i];
		}
	}
	if (n < 2) {
		free(dirs);
		return bad_usage("compare", "two or more run directories are required", NULL);
	}
	char err[2048] = "";
	enum dormant_err e = compare_run(n, dirs, out, stdout, err, sizeof(err));
	if (e != ERR_OK)
		fprintf(stderr, "dormant: compare: %s\n", err);
	free(dirs);
	return plot_exit(e);
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
	if (!strcmp(cmd, "plot"))
		return cmd_plot(argc - 1, argv + 1);
	if (!strcmp(cmd, "compare"))
		return cmd_compare(argc - 1, argv + 1);
	if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
		if (argc > 2 && !strcmp(argv[2], "run"))
			fputs(usage_run, stdout);
		else if (argc > 2 && !strcmp(argv[2], "check"))
			fputs(usage_check, stdout);
		else if (argc > 2 && !strcmp(argv[2], "plot"))
			fputs(usage_plot, stdout);
		else if (argc > 2 && !strcmp(argv[2], "compare"))
			fputs(usage_compare, stdout);
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
