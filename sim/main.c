/* main.c: the dormant command line.
 *
 * Every command is one entry of the command table below, with its operands,
 * its options (one table per command, parsed by getopt_long) and its help
 * text. `dormant help`, `dormant CMD --help`, the parser and the synopsis
 * lines in README "Commands" all come from that table
 * (tests/it/test_cli.py checks the README against `dormant help`).
 */
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <inttypes.h>

#include "bench.h"
#include "compare.h"
#include "engine.h"
#include "loop.h"
#include "plot.h"
#include "predict.h"
#include "measure.h"
#include "recommend.h"
#include "parse.h"
#include "scenario.h"
#include "sched.h"
#include "simulate.h"

#define NELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* ---- The tables ----------------------------------------------------- */

/* What an option sets; getopt_long returns it. Options with a short form
 * use the letter itself. */
enum opt_id {
	OPT_HELP = 'h',
	OPT_OUTPUT = 'o',
	OPT_PROGRESS = 256,
	OPT_NO_PROGRESS,
	OPT_NO_PLOT,
	OPT_LINK,
	OPT_VARIANT,
	OPT_JSON,
	OPT_FOR,
	OPT_MEASURE,
	OPT_WAKES,
	OPT_REPEAT,
	OPT_CONCURRENCY,
};

struct cli_opt {
	const char *name;    /* long name, without "--" */
	int id;              /* enum opt_id; a letter is also the short form */
	const char *arg;     /* its argument's placeholder ("DIR"), NULL: none */
	int alt;             /* shown with the option before it as one choice: [--a|--b] */
	const char *help;
	int required;        /* the command needs it: no brackets in the synopsis */
};

/* What the options of a command line set. */
struct cli_args {
	const char *output;  /* -o DIR; NULL: the command's default */
	int progress;        /* -1: not given */
	int no_plot;
	const char *link;    /* --link NAME_OR_PATH */
	const char *variant; /* --variant V */
	int json;
	const char *span;    /* --for DURATION */
	int measure;         /* recommend --measure */
	const char *wakes, *repeat, *concurrency; /* bench */
	char **operands;
	int noperands;
};

struct cli_cmd {
	const char *name;
	const char *aliases[2];  /* other spellings of the command (--help) */
	const char *operands;    /* "FILE", "RUN_A RUN_B [...]"; "" for none */
	int min_operands, max_operands; /* max -1: any number */
	const char *missing;     /* said when operands are missing */
	const char *summary;     /* its line in `dormant help` */
	const char *text;        /* its --help, after the usage line */
	const struct cli_opt *opts;
	size_t nopts;
	int (*run)(const struct cli_cmd *c, const struct cli_args *a);
};

#define OPTS(t) .opts = (t), .nopts = NELEMS(t)

/* Every command takes -h, --help; it is listed in each --help, not in the synopsis. */
static const struct cli_opt opt_help = { "help", OPT_HELP, NULL, 0, "this text", 0 };

static const struct cli_opt run_opts[] = {
	{ "output", OPT_OUTPUT, "DIR", 0, "results root (default: results)", 0 },
	{ "progress", OPT_PROGRESS, NULL, 0, "live progress line on stderr (default when stderr is a terminal)", 0 },
	{ "no-progress", OPT_NO_PROGRESS, NULL, 1, "no progress line", 0 },
	{ "no-plot", OPT_NO_PLOT, NULL, 0, "no figures or report.html at the end (`dormant plot` draws them later)", 0 },
};
static const struct cli_opt compare_opts[] = {
	{ "output", OPT_OUTPUT, "DIR", 0, "where the comparison goes (default: compare-<UTC time> beside RUN_A)", 0 },
};

static const struct cli_opt model_opts[] = {
	{ "link", OPT_LINK, "NAME_OR_PATH", 0, "the target link profile: scenarios/links/NAME.yaml, or a path (required)", 1 },
	{ "variant", OPT_VARIANT, "V", 0, "only the variant named V", 0 },
	{ "json", OPT_JSON, NULL, 0, "the figures as JSON on stdout instead of the table", 0 },
};

static const struct cli_opt simulate_opts[] = {
	{ "for", OPT_FOR, "DURATION", 0, "the span to cost, like 90s or 30d (default: a year, 365 days)", 0 },
	{ "json", OPT_JSON, NULL, 0, "the figures as JSON on stdout instead of the table", 0 },
};

static int cmd_run(const struct cli_cmd *c, const struct cli_args *a);
static int cmd_simulate(const struct cli_cmd *c, const struct cli_args *a);
static int cmd_recommend(const struct cli_cmd *c, const struct cli_args *a);

static const struct cli_opt recommend_opts[] = {
	{ "json", OPT_JSON, NULL, 0, "the ranking as JSON on stdout instead of the table", 0 },
	{ "output", OPT_OUTPUT, "DIR", 0, "where its figures and pages go (default: RUN_DIR/recommend/<deployment>)", 0 },
	{ "measure", OPT_MEASURE, NULL, 0, "first run the candidates the RUN_DIRs lack (into results/; as root)", 0 },
};
static const struct cli_opt bench_opts[] = {
	{ "output", OPT_OUTPUT, "DIR", 0, "results root (default: results): the bench writes DIR/bench-<UTC time>/", 0 },
	{ "wakes", OPT_WAKES, "N", 0, "wakes per plaintext row and repetition, 640 to 1000000 (default 6400; TLS rows a third)", 0 },
	{ "repeat", OPT_REPEAT, "K", 0, "interleaved repetitions, 1 to 15 (default 3): the table gives their medians", 0 },
	{ "concurrency", OPT_CONCURRENCY, "C", 0, "wakes in flight in every row, 1 to 400 (default 64)", 0 },
};
static int cmd_bench(const struct cli_cmd *c, const struct cli_args *a);
static int cmd_model(const struct cli_cmd *c, const struct cli_args *a);
static int cmd_check(const struct cli_cmd *c, const struct cli_args *a);
static int cmd_plot(const struct cli_cmd *c, const struct cli_args *a);
static int cmd_compare(const struct cli_cmd *c, const struct cli_args *a);
static int cmd_help(const struct cli_cmd *c, const struct cli_args *a);
static int cmd_version(const struct cli_cmd *c, const struct cli_args *a);

static const struct cli_cmd commands[] = {
	{ "run", { NULL }, "FILE", 1, 1, "a scenario FILE is required",
	  "run a scenario; results go to DIR/<name>-<UTC time>/",
	  "Runs every variant of the scenario in FILE in turn: starts its broker on a\n"
	  "free 127.0.0.1 port, wakes each device on schedule for the scenario's\n"
	  "duration, and stops the broker. Writes DIR/<name>-<UTC time>/ with\n"
	  "scenario.yaml, env.json, wakes.csv, summary.json and servers/, prints a\n"
	  "summary table, then draws the figures and report.html (as `dormant plot`).\n"
	  "Ctrl-C stops scheduling, ends the wakes in flight, writes what it has and\n"
	  "stops the servers (exit 130); a second Ctrl-C stops at once. Ctrl-C while\n"
	  "the figures are drawn stops them as for `dormant plot` (exit 130).\n",
	  OPTS(run_opts), cmd_run },
	{ "check", { NULL }, "FILE", 1, 1, "a scenario FILE is required",
	  "validate a scenario and print its plan",
	  "Validates FILE and prints the expanded plan: fleets, variants, and the\n"
	  "wakes, messages and commands of each variant. Exit 0 if valid, 3 if not\n"
	  "(one FILE:LINE:COL: KEY: message on stderr).\n",
	  .opts = NULL, .nopts = 0, cmd_check },
	{ "plot", { NULL }, "RUN_DIR", 1, 1, "a RUN_DIR is required",
	  "figures (PNG, SVG) and report.html for a run",
	  "Draws a run's figures with gnuplot into RUN_DIR/plots/ (per figure: NAME.dat,\n"
	  "the script NAME.gp to edit and re-run with `gnuplot NAME.gp` there, NAME.png,\n"
	  "NAME.svg) and writes RUN_DIR/report.html, one self-contained page. Figures a\n"
	  "run has no data for are left out with a note. Exit 0, 2 if RUN_DIR is not a\n"
	  "run directory, 5 if files cannot be written, 1 if gnuplot is missing or fails,\n"
	  "130 if interrupted (Ctrl-C): gnuplot is stopped, the figures not drawn whole\n"
	  "are removed and report.html is not written.\n",
	  .opts = NULL, .nopts = 0, cmd_plot },
	{ "compare", { NULL }, "RUN_A RUN_B [...]", 2, -1, "two or more run directories are required",
	  "the same variants across runs, with differences",
	  "Matches the runs' variants by name and prints, for each variant in two or more\n"
	  "runs, every metric per run with its difference to RUN_A (absolute and %).\n"
	  "Writes compare.txt, compare.png/.svg (grouped bars) and compare.html into DIR.\n"
	  "Exit codes as for plot.\n",
	  OPTS(compare_opts), cmd_compare },
	{ "model", { NULL }, "RUN_DIR", 1, 1, "a RUN_DIR is required",
	  "a run's wakes predicted on another link, and how well that agrees",
	  "Replays every ok wake of a run with links (its flight trace, packets.csv)\n"
	  "on the link profile --link with the analytic model (README \"Analytic model\"):\n"
	  "the trace's flights cost the target's one-way delay and serialisation, the\n"
	  "hosts' time between them is kept. Prints per variant the median predicted\n"
	  "wake time, energy, TX and RX time; when the variant ran on a link of that\n"
	  "name, the measured medians beside them and the ratio (model / measured).\n"
	  "Exit 0, 2 if RUN_DIR is not a run directory, has no packets.csv or no such\n"
	  "variant, 3 if the profile is invalid, 5 if packets.csv cannot be read.\n",
	  OPTS(model_opts), cmd_model },
	{ "simulate", { NULL }, "DEPLOYMENT RUN_DIR [...]", 2, -1, "a DEPLOYMENT file and one or more RUN_DIRs are required",
	  "measured wakes carried to a deployment's fleet, over a year",
	  "Costs every variant the runs measured on the DEPLOYMENT's link (a deployment\n"
	  "file: scenarios/deployments/, README \"Deployments\") as that fleet would pay\n"
	  "it: per device its battery life (at the mean wake, and at the p50 and p99\n"
	  "wake), energy a day, IP bytes each way and their price, radio-on hours; for\n"
	  "the fleet its wakes a second and the measured broker's cores at that rate.\n"
	  "Closed-form, so a million devices take no longer than one. Each figure names\n"
	  "the run and variant it came from. Exit 0, 2 if a RUN_DIR is not a run\n"
	  "directory or none measured the link, 3 if the deployment file is invalid.\n",
	  OPTS(simulate_opts), cmd_simulate },
	{ "recommend", { NULL }, "DEPLOYMENT [RUN_DIR...]", 1, -1, "a DEPLOYMENT file is required",
	  "a ranked, explained choice of protocol and TLS set-up for a deployment",
	  "Costs the runs' variants on the DEPLOYMENT's link as `dormant simulate` does,\n"
	  "rules out those the deployment cannot use (encryption, reachable ports,\n"
	  "client authentication, command deadline, RAM budget), each with its reason,\n"
	  "and ranks the rest by battery life: the winner and runner-up with the margin\n"
	  "and whether it exceeds the wake-to-wake spread, a paragraph of why, and the\n"
	  "run and variant every figure came from; then where the answer flips along\n"
	  "the wake period and the payload (figures with the crossovers marked), and\n"
	  "on the other links the runs measured. Text, JSON, figures and an HTML\n"
	  "section go to -o DIR, or RUN_DIR/recommend/<deployment>/ and the run's\n"
	  "report.html. With --measure it first writes and runs (`dormant run`, into\n"
	  "results/) a small scenario of the per-wake candidates the deployment needs\n"
	  "and the RUN_DIRs lack, saying which and about how long, and uses that run\n"
	  "too; without it at least one RUN_DIR is required. Exit codes as for\n"
	  "simulate; 130 if Ctrl-C stopped the measuring run (its rows are kept).\n",
	  OPTS(recommend_opts), cmd_recommend },
	{ "bench", { NULL }, "", 0, 0, NULL,
	  "dormant's own cost per wake beside a floor client, Tsung and the bare library",
	  "Starts one private mosquitto and runs the same MQTT wake (QoS 1, 48 B; plaintext,\n"
	  "then TLS with ECDSA and tickets) through: the floor, a minimal epoll client\n"
	  "built in with precomputed packets and the same mbedTLS; Tsung 1.7 at 4,500\n"
	  "arrivals/s (plaintext only); paho's MQTTAsync as a bare loop without dormant\n"
	  "(plaintext only); dormant's full path (a run of a generated scenario); and\n"
	  "the same run with stack: replay (its first wake on paho, the rest replayed).\n"
	  "Prints for each wakes/s, client and broker CPU per wake, p50/p99 wake time,\n"
	  "and the ratios to the floor, to the bare loop and to Tsung, as\n"
	  "medians of interleaved repetitions; writes bench.json and every run into\n"
	  "DIR/bench-<UTC time>/. Takes about 4 minutes with the defaults. Exit 0, 2 on a\n"
	  "bad argument, 4 if mosquitto would not start, 5 if files cannot be written,\n"
	  "130 if interrupted (the repetitions done are printed).\n",
	  OPTS(bench_opts), cmd_bench },
	{ "help", { "--help", "-h" }, "[COMMAND]", 0, 1, NULL,
	  "this text, or a command's",
	  "Prints the list of commands, or COMMAND's options (as `dormant COMMAND --help`).\n",
	  .opts = NULL, .nopts = 0, cmd_help },
	{ "version", { "--version", NULL }, "", 0, 0, NULL,
	  "print the version",
	  "Prints dormant's version.\n",
	  .opts = NULL, .nopts = 0, cmd_version },
};

static const char intro[] =
	"dormant measures what a protocol and its TLS set-up cost a fleet of sleeping\n"
	"devices: it starts real brokers on 127.0.0.1, runs every device wake through\n"
	"the real protocol stack and a modem that counts every byte and segment, and\n"
	"writes one row per wake.\n";

static const char exit_codes[] =
	"exit codes:\n"
	"  0    success (a run's failed wakes are results, not errors)\n"
	"  1    internal error\n"
	"  2    bad command line (the message names the argument)\n"
	"  3    invalid scenario file (one FILE:LINE:COL: KEY: message on stderr; nothing written)\n"
	"  4    a server (broker) could not be started; its log is in the run directory\n"
	"  5    results could not be written\n"
	"  130  interrupted (SIGINT/SIGTERM); rows and summary so far are kept, servers stopped\n";

/* ---- Help, from the tables ------------------------------------------ */

static const struct cli_cmd *find_command(const char *name)
{
	for (size_t i = 0; i < NELEMS(commands); i++) {
		const struct cli_cmd *c = &commands[i];
		if (!strcmp(c->name, name))
			return c;
		for (size_t j = 0; j < NELEMS(c->aliases); j++)
			if (c->aliases[j] && !strcmp(c->aliases[j], name))
				return c;
	}
	return NULL;
}

/* "dormant run FILE [-o DIR] [--progress|--no-progress] [--no-plot]" */
static void print_synopsis(FILE *out, const struct cli_cmd *c)
{
	fprintf(out, "dormant %s%s%s", c->name, c->operands[0] ? " " : "", c->operands);
	for (size_t i = 0; i < c->nopts; i++) {
		const struct cli_opt *o = &c->opts[i];
		int last = i + 1 == c->nopts || !c->opts[i + 1].alt;
		fputs(o->alt ? "|" : o->required ? " " : " [", out);
		if (o->id < 256)
			fprintf(out, "-%c", o->id);
		else
			fprintf(out, "--%s", o->name);
		if (o->arg)
			fprintf(out, " %s", o->arg);
		if (last && !o->required)
			fputc(']', out);
	}
	fputc('\n', out);
}

/* "-o, --output DIR" */
static int opt_label(const struct cli_opt *o, char *buf, size_t n)
{
	char s[8] = "";
	if (o->id < 256)
		snprintf(s, sizeof(s), "-%c, ", o->id);
	return snprintf(buf, n, "%s--%s%s%s", s, o->name, o->arg ? " " : "", o->arg ? o->arg : "");
}

static void print_command_help(FILE *out, const struct cli_cmd *c)
{
	char label[64];
	int width = opt_label(&opt_help, label, sizeof(label));
	for (size_t i = 0; i < c->nopts; i++) {
		int w = opt_label(&c->opts[i], label, sizeof(label));
		if (w > width)
			width = w;
	}
	fputs("usage: ", out);
	print_synopsis(out, c);
	fprintf(out, "\n%s\noptions:\n", c->text);
	for (size_t i = 0; i <= c->nopts; i++) {
		const struct cli_opt *o = i < c->nopts ? &c->opts[i] : &opt_help;
		opt_label(o, label, sizeof(label));
		fprintf(out, "  %-*s  %s\n", width, label, o->help);
	}
}

static void print_main_help(FILE *out)
{
	fprintf(out, "usage: dormant COMMAND [ARGS]\n\n%s\ncommands:\n", intro);
	for (size_t i = 0; i < NELEMS(commands); i++) {
		fputs("  ", out);
		print_synopsis(out, &commands[i]);
		fprintf(out, "        %s\n", commands[i].summary);
	}
	fprintf(out, "\n'dormant help COMMAND' or 'dormant COMMAND --help' lists a command's options.\n\n%s",
	        exit_codes);
}

/* ---- Parsing, from the tables --------------------------------------- */

/* One line naming what was wrong, never the whole usage text. */
static int bad_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int bad_usage(const char *cmd, const char *fmt, ...)
{
	char what[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (cmd)
		fprintf(stderr, "dormant: %s: %s (see 'dormant %s --help')\n", cmd, what, cmd);
	else
		fprintf(stderr, "dormant: %s (see 'dormant help')\n", what);
	return EXIT_USAGE;
}

/* The option of C whose getopt value is ID (the help option included). */
static const struct cli_opt *find_opt(const struct cli_cmd *c, int id)
{
	for (size_t i = 0; i < c->nopts; i++)
		if (c->opts[i].id == id)
			return &c->opts[i];
	return id == OPT_HELP ? &opt_help : NULL;
}

/* Parses ARGV (ARGV[0] is the command's name) against C's option table
 * into A. Returns -1 to go on, or the exit code to return at once (help
 * printed, or a bad argument named). */
static int parse_args(const struct cli_cmd *c, int argc, char **argv, struct cli_args *a)
{
	struct option longopts[8];
	char shortopts[2 * NELEMS(longopts) + 2] = ":";
	size_t ns = 1, nl = 0;

	if (c->nopts + 2 > NELEMS(longopts))
		return EXIT_INTERNAL;
	for (size_t i = 0; i <= c->nopts; i++) {
		const struct cli_opt *o = i < c->nopts ? &c->opts[i] : &opt_help;
		longopts[nl++] = (struct option){ o->name, o->arg ? required_argument : no_argument, NULL, o->id };
		if (o->id < 256) {
			shortopts[ns++] = (char)o->id;
			if (o->arg)
				shortopts[ns++] = ':';
		}
	}
	longopts[nl] = (struct option){ 0 };
	shortopts[ns] = '\0';

	*a = (struct cli_args){ .progress = -1 };
	opterr = 0;
	optind = 1;
	for (;;) {
		int id = getopt_long(argc, argv, shortopts, longopts, NULL);
		if (id == -1)
			break;
		/* The argument getopt stopped at, as written. */
		const char *at = argv[optind - 1];
		const struct cli_opt *o = find_opt(c, id == ':' || id == '?' ? optopt : id);
		switch (id) {
		case OPT_HELP:
			print_command_help(stdout, c);
			return EXIT_OK;
		case OPT_OUTPUT:
			if (!optarg[0])
				return bad_usage(c->name, "-o/--output needs a directory, got ''");
			a->output = optarg;
			break;
		case OPT_PROGRESS:
			a->progress = 1;
			break;
		case OPT_NO_PROGRESS:
			a->progress = 0;
			break;
		case OPT_NO_PLOT:
			a->no_plot = 1;
			break;
		case OPT_LINK:
			a->link = optarg;
			break;
		case OPT_VARIANT:
			a->variant = optarg;
			break;
		case OPT_JSON:
			a->json = 1;
			break;
		case OPT_FOR:
			a->span = optarg;
			break;
		case OPT_MEASURE:
			a->measure = 1;
			break;
		case OPT_WAKES:
			a->wakes = optarg;
			break;
		case OPT_REPEAT:
			a->repeat = optarg;
			break;
		case OPT_CONCURRENCY:
			a->concurrency = optarg;
			break;
		case ':':
			return bad_usage(c->name, "'%s' needs a %s after it", at, o && o->arg ? o->arg : "value");
		default: /* '?' */
			if (o && optopt)  /* a known long option given a value: --no-plot=x */
				return bad_usage(c->name, "'%s': --%s takes no value", at, o->name);
			if (strncmp(at, "--", 2) == 0)
				return bad_usage(c->name, "unknown or ambiguous option '%s'", at);
			return bad_usage(c->name, "unknown option '-%c'", optopt > 0 && optopt < 256 ? optopt : '?');
		}
	}
	a->operands = argv + optind;
	a->noperands = argc - optind;
	if (a->noperands < c->min_operands)
		return bad_usage(c->name, "%s", c->missing);
	if (c->max_operands >= 0 && a->noperands > c->max_operands)
		return bad_usage(c->name, "unexpected argument '%s'", a->operands[c->max_operands]);
	return -1;
}

/* ---- The commands --------------------------------------------------- */

static int plot_exit(enum dormant_err e)
{
	return e == ERR_OK ? EXIT_OK : e == ERR_USAGE ? EXIT_USAGE : e == ERR_IO ? EXIT_IO : EXIT_INTERNAL;
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

/* "nbiot", "per fleet" (fleets differ), "none" (loopback). */
static const char *variant_link(const struct scenario *sc, const struct variant *v)
{
	if (v->link >= 0)
		return sc->links[v->link].name;
	for (size_t i = 1; i < sc->nfleets; i++)
		if (sc->fleets[i].link != sc->fleets[0].link)
			return "per fleet";
	return sc->fleets[0].link >= 0 ? sc->links[sc->fleets[0].link].name : "none";
}

/* One line per link profile the scenario names, and the battery. */
static void print_links(const struct scenario *sc)
{
	for (size_t i = 0; i < sc->nlinks; i++) {
		const struct link_profile *p = &sc->links[i];
		char delay[64];
		if (p->delay_ms_max > p->delay_ms_min)
			snprintf(delay, sizeof(delay), "%.6g-%.6gms", p->delay_ms_min, p->delay_ms_max);
		else
			snprintf(delay, sizeof(delay), "%.6gms", p->delay_ms_min);
		printf("  link %-13s %s: delay %s, up %.6g kbit/s, down %.6g kbit/s, loss %.3g%%/%.3g%%, "
		       "queue %d, mtu %d, attach %.6gms %.6gmJ, tail %.6gms%s, sleep %.6guW\n",
		       p->name, p->path, delay, p->up_kbps, p->down_kbps, p->loss_up * 100, p->loss_down * 100,
		       p->queue_packets, p->mtu, p->attach_ms, p->attach_mj, p->tail_ms,
		       p->release_assist ? " (release assist)" : "", p->sleep_uw);
	}
	if (!scenario_has_links(sc))
		return;
	printf("  battery %.6gWh", sc->battery_wh);
	if (sc->sleep_uw >= 0)
		printf(", sleep %.6guW", sc->sleep_uw);
	for (size_t i = 0; i < sc->nfleets; i++) {
		const struct fleet *f = &sc->fleets[i];
		if (f->battery_wh != sc->battery_wh || f->sleep_uw != sc->sleep_uw)
			printf(" (fleet %s: %.6gWh%s)", f->name, f->battery_wh, f->sleep_uw >= 0 ? ", own sleep floor" : "");
	}
	putchar('\n');
}

static void print_plan(const struct scenario *sc)
{
	char d[32];
	uint64_t wakes = sched_expected_wakes(sc), msgs = sched_expected_messages(sc);
	uint64_t cmds = sched_expected_commands(sc);
	printf("scenario %s (seed %llu): %u devices in %zu fleet%s, window %.3gs, concurrency %u\n", sc->name,
	       (unsigned long long)sc->seed, sc->ndevices, sc->nfleets, sc->nfleets == 1 ? "" : "s",
	       (double)sc->duration_us / 1e6, sc->concurrency);
	if (sc->endpoint_host[0])
		printf("endpoint %s:%u (no broker is started)\n", sc->endpoint_host, sc->endpoint_port);
	if (!sc->tls_verify)
		printf("tls_verify: false: devices do NOT verify the server certificate\n");
	if (sc->auth_fault != AUTH_FAULT_NONE)
		printf("auth_fault: %s: injected on every HTTP wake\n", auth_fault_name(sc->auth_fault));
	if (sc->overrun == OVERRUN_STOP)
		printf("overrun: stop: wakes still waiting to start when a window ends are counted as not started, not run\n");
	if (sc->tls_fault != TLS_FAULT_NONE)
		printf("tls_fault: %s: injected on every TLS wake\n", tls_fault_name(sc->tls_fault));
	for (size_t i = 0; i < sc->nfleets; i++) {
		const struct fleet *f = &sc->fleets[i];
		snprintf(d, sizeof(d), "%.6gs", (double)f->wake_every_us / 1e6);
		printf("  fleet %-12s %6u devices  every %s  jitter %.6gs  payload %uB x %u  qos %d  %s", f->name,
		       f->count, d, (double)f->jitter_us / 1e6, f->payload_bytes, f->messages_per_wake, f->qos,
		       conn_mode_name(f->connection));
		if (f->connection == CONN_PERSISTENT || f->keepalive_us != 60000000u)
			printf(" (keepalive %.6gs)", (double)f->keepalive_us / 1e6);
		if (f->downlink)
			printf("  polls for commands");
		if (f->command_every_us)
			printf(", one every %.6gs", (double)f->command_every_us / 1e6);
		if (f->link >= 0)
			printf("  link %s", sc->links[f->link].name);
		putchar('\n');
	}
	print_links(sc);
	printf("%zu variant%s, each %llu wakes and %llu messages", sc->nvariants, sc->nvariants == 1 ? "" : "s",
	       (unsigned long long)wakes, (unsigned long long)msgs);
	if (cmds)
		printf(", %llu commands", (unsigned long long)cmds);
	printf(":\n");
	for (size_t i = 0; i < sc->nvariants; i++) {
		const struct variant *v = &sc->variants[i];
		char q[16];
		if (v->qos < 0)
			snprintf(q, sizeof(q), "per fleet");
		else
			snprintf(q, sizeof(q), "%d", v->qos);
		printf("  %2zu  %-40s protocol=%s broker=%s tls=%s client_cert=%s resume=%s qos=%s", i + 1, v->name,
		       protocol_name(v->protocol), broker_kind_name(v->broker), tls_mode_name(v->tls),
		       v->client_cert ? "true" : "false", resume_mode_name(v->resume), q);
		/* Without links the plan reads as it always has. */
		if (scenario_has_links(sc))
			printf(" link=%s", variant_link(sc, v));
		if (v->connection >= 0)
			printf(" connection=%s", conn_mode_name((enum conn_mode)v->connection));
		if (v->stack != STACK_REAL)
			printf(" stack=%s", stack_mode_name(v->stack));
		putchar('\n');
	}
	printf("total: %llu wakes\n", (unsigned long long)(wakes * sc->nvariants));
}

/* Whether this process holds capability CAP (linux/capability.h's number)
 * in its effective set, from /proc/self/status. */
static int has_capability(int cap)
{
	FILE *f = fopen("/proc/self/status", "re");
	char line[256];
	unsigned long long eff = 0;
	int found = 0;
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "CapEff: %llx", &eff) == 1) {
			found = 1;
			break;
		}
	if (f)
		fclose(f);
	return found && (eff >> cap & 1);
}

/* A scenario with links needs the emulator's namespace and TUN devices:
 * one line saying so, at check as at run; none without links. */
static int links_allowed(const struct scenario *sc)
{
	enum { CAP_NET_ADMIN_ = 12, CAP_SYS_ADMIN_ = 21 };
	if (!scenario_has_links(sc) || (has_capability(CAP_NET_ADMIN_) && has_capability(CAP_SYS_ADMIN_)))
		return 1;
	fprintf(stderr, "%s: links need CAP_NET_ADMIN and CAP_SYS_ADMIN (the emulator makes a network namespace and "
	                "TUN devices): run as root, or remove the scenario's links\n", sc->path);
	return 0;
}

static int cmd_check(const struct cli_cmd *c, const struct cli_args *a)
{
	struct scenario *sc = load(a->operands[0]);
	if (!sc)
		return EXIT_SCENARIO;
	if (!links_allowed(sc)) {
		scenario_free(sc);
		return EXIT_SCENARIO;
	}
	print_plan(sc);
	scenario_free(sc);
	return EXIT_OK;
}

static int cmd_run(const struct cli_cmd *c, const struct cli_args *a)
{
	struct engine_opts o = { .results_root = a->output ? a->output : "results",
	                         .progress = a->progress >= 0 ? a->progress : isatty(2) };
	struct scenario *sc = load(a->operands[0]);
	if (!sc)
		return EXIT_SCENARIO;
	if (!links_allowed(sc)) {
		scenario_free(sc);
		return EXIT_SCENARIO;
	}

	/* Signals are taken by the engine's signalfd; block them before any
	 * library starts a thread, so every thread inherits the mask. They stay
	 * blocked after the window, so the figures can ask loop_signal_pending(). */
	loop_block_signals();
	signal(SIGPIPE, SIG_IGN);

	char rundir[4096] = "", err[2048] = "";
	int rc = engine_run(sc, &o, rundir, sizeof(rundir), err, sizeof(err));
	if (err[0] && rc != EXIT_OK) /* a server start that a retry fixed leaves its message behind */
		fprintf(stderr, "dormant: %s\n", err);
	if (rundir[0])
		printf("results: %s\n", rundir);
	scenario_free(sc);
	/* The run's outcome is its exit code; a figure gnuplot could not draw is reported, not fatal. */
	if (rundir[0] && !a->no_plot && (rc == EXIT_OK || rc == EXIT_INTERRUPTED)) {
		char perr[2048] = "";
		enum dormant_err e = plot_run(rundir, PLOT_ALL, loop_signal_pending, stdout, perr, sizeof(perr));
		if (e == ERR_INTERRUPTED) {
			fprintf(stderr, "dormant: plot %s; the run's rows and summary are kept ('dormant plot %s' draws it)\n",
			        perr, rundir);
			rc = EXIT_INTERRUPTED;
		} else if (e != ERR_OK) {
			fprintf(stderr, "dormant: plot: %s\n", perr);
		}
	}
	return rc;
}

static int cmd_plot(const struct cli_cmd *c, const struct cli_args *a)
{
	/* Ctrl-C is taken between figures (plot_run asks), not by a default
	 * action that would leave a figure half-written. */
	loop_block_signals();
	char err[2048] = "";
	enum dormant_err e = plot_run(a->operands[0], PLOT_ALL, loop_signal_pending, stdout, err, sizeof(err));
	if (e == ERR_INTERRUPTED) {
		fprintf(stderr, "dormant: plot %s\n", err);
		return EXIT_INTERRUPTED;
	}
	if (e != ERR_OK)
		fprintf(stderr, "dormant: plot: %s\n", err);
	return plot_exit(e);
}

static int cmd_compare(const struct cli_cmd *c, const struct cli_args *a)
{
	char err[2048] = "";
	enum dormant_err e = compare_run(a->noperands, a->operands, a->output, stdout, err, sizeof(err));
	if (e != ERR_OK)
		fprintf(stderr, "dormant: compare: %s\n", err);
	return plot_exit(e);
}

static int cmd_model(const struct cli_cmd *c, const struct cli_args *a)
{
	if (!a->link)
		return bad_usage(c->name, "--link NAME_OR_PATH is required (the link to predict the wakes on)");
	char err[2048] = "";
	struct predict_opts o = { .rundir = a->operands[0], .link = a->link, .variant = a->variant, .json = a->json };
	enum dormant_err e = predict_run(&o, stdout, err, sizeof(err));
	if (e != ERR_OK)
		fprintf(stderr, "dormant: model: %s\n", err);
	return e == ERR_SCENARIO ? EXIT_SCENARIO : plot_exit(e);
}

/* simulate and recommend: DEPLOYMENT RUN_DIR..., over SPAN_US (0: a year), through RUN. */
static int deployment_command(const struct cli_cmd *c, const struct cli_args *a, uint64_t span_us,
                              enum dormant_err (*run)(const struct simulate_opts *, FILE *, char *, size_t))
{
	char err[2048] = "";
	struct simulate_opts o = { .deployment = a->operands[0], .rundirs = (const char *const *)a->operands + 1,
	                           .nruns = (size_t)a->noperands - 1, .for_us = span_us, .json = a->json,
	                           .outdir = a->output };
	enum dormant_err e = run(&o, stdout, err, sizeof(err));
	if (e != ERR_OK)
		fprintf(stderr, "dormant: %s: %s\n", c->name, err);
	return e == ERR_SCENARIO ? EXIT_SCENARIO : plot_exit(e);
}

static int cmd_simulate(const struct cli_cmd *c, const struct cli_args *a)
{
	uint64_t span = 0;
	if (a->span && parse_duration_us(a->span, 1000000, UINT64_C(100) * 365 * 86400 * 1000000, &span) != PARSE_OK)
		return bad_usage(c->name, "--for needs a duration from 1s to 100y like 30d, got '%s'", a->span);
	return deployment_command(c, a, span, simulate_run);
}

static int cmd_recommend(const struct cli_cmd *c, const struct cli_args *a)
{
	if (!a->measure && a->noperands < 2)
		return bad_usage(c->name, "a DEPLOYMENT file and one or more RUN_DIRs are required (or --measure)");
	if (!a->measure)
		return deployment_command(c, a, 0, recommend_run);
	/* the measuring run's summary is the user's to see, but never in --json's stdout */
	char err[2048] = "";
	static struct measured m; /* two paths of PATH_MAX and more: not on the stack */
	enum dormant_err e = measure_missing(a->operands[0], (const char *const *)a->operands + 1,
	                                     (size_t)a->noperands - 1, "results", a->json ? stderr : stdout, &m, err,
	                                     sizeof err);
	if (e != ERR_OK) {
		fprintf(stderr, "dormant: %s: %s\n", c->name, err);
		return e == ERR_INTERRUPTED ? EXIT_INTERRUPTED : e == ERR_SCENARIO ? EXIT_SCENARIO : plot_exit(e);
	}
	if (!m.n)
		return deployment_command(c, a, 0, recommend_run);
	char **ops = calloc((size_t)a->noperands + 2, sizeof(*ops));
	if (!ops) {
		fprintf(stderr, "dormant: %s: out of memory\n", c->name);
		return EXIT_INTERNAL;
	}
	/* the new runs first: the recommendation and its report section land in the first */
	ops[0] = a->operands[0];
	for (int k = 0; k < m.n; k++)
		ops[1 + k] = m.dir[k];
	for (int i = 1; i < a->noperands; i++)
		ops[i + m.n] = a->operands[i];
	struct cli_args b = *a;
	b.operands = ops;
	b.noperands = a->noperands + m.n;
	int rc = deployment_command(c, &b, 0, recommend_run);
	free(ops);
	return rc;
}

static int cmd_bench(const struct cli_cmd *c, const struct cli_args *a)
{
	uint64_t wakes = 6400, repeat = 3, conc = 64;
	if (a->wakes && parse_uint(a->wakes, 640, 1000000, &wakes) != PARSE_OK)
		return bad_usage(c->name, "--wakes needs a whole number from 640 to 1000000, got '%s'", a->wakes);
	if (a->repeat && parse_uint(a->repeat, 1, 15, &repeat) != PARSE_OK)
		return bad_usage(c->name, "--repeat needs a whole number from 1 to 15, got '%s'", a->repeat);
	if (a->concurrency && parse_uint(a->concurrency, 1, 400, &conc) != PARSE_OK)
		return bad_usage(c->name, "--concurrency needs a whole number from 1 to 400, got '%s'", a->concurrency);
	if (wakes / 10 < conc)
		return bad_usage(c->name, "--wakes %" PRIu64 " is too few for --concurrency %" PRIu64 ": at least ten a wake in flight",
		                 wakes, conc);
	struct bench_opts o = { .results_root = a->output ? a->output : "results", .wakes = wakes,
		                .concurrency = (int)conc, .repeat = (int)repeat };
	return bench_main(&o);
}

static int cmd_help(const struct cli_cmd *c, const struct cli_args *a)
{
	if (a->noperands == 0) {
		print_main_help(stdout);
		return EXIT_OK;
	}
	const struct cli_cmd *of = find_command(a->operands[0]);
	if (!of)
		return bad_usage(c->name, "unknown command '%s'", a->operands[0]);
	print_command_help(stdout, of);
	return EXIT_OK;
}

static int cmd_version(const struct cli_cmd *c, const struct cli_args *a)
{
	printf("dormant %s\n", DORMANT_VERSION);
	return EXIT_OK;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2)
		return bad_usage(NULL, "a command is required: run, check, plot, compare, model, simulate, recommend, bench, help or version");
	const struct cli_cmd *c = find_command(argv[1]);
	if (!c)
		return bad_usage(NULL, "unknown command '%s'", argv[1]);
	struct cli_args a;
	int rc = parse_args(c, argc - 1, argv + 1, &a);
	return rc >= 0 ? rc : c->run(c, &a);
}
