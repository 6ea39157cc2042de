/* plot.c: a run's figures (data files, gnuplot scripts, PNG and SVG) and
 * its report. One function per figure, listed in one table; each writes
 * NAME.dat and NAME.gp into RUNDIR/plots or says why the run has nothing
 * to draw for it. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "gnuplot.h"
#include "plot.h"
#include "report.h"
#include "rundata.h"

struct pctx {
	struct rundata *rd;
	char dir[4200]; /* RUNDIR/plots */
	char *err;
	size_t errlen;
};

/* 1: NAME.dat and NAME.gp written; 0: nothing to draw (FIG->note says why); -1: error in C->err. */
typedef int (*fig_fn)(struct pctx *c, struct report_fig *fig);

static const char *const phase_colors[RD_PHASES] = { "#4e79a7", "#f28e2b", "#59a14f",
	                                              "#e15759", "#b07aa1", "#9c755f" };
static const char *const series_colors[] = { "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
	                                      "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf" };
#define NSERIES_COLORS (sizeof(series_colors) / sizeof(series_colors[0]))

static const char *series_color(size_t i) { return series_colors[i % NSERIES_COLORS]; }
static int series_dash(size_t i) { return 1 + (int)(i / NSERIES_COLORS) % 5; }

static FILE *dat_open(struct pctx *c, const char *name)
{
	char path[4400];
	snprintf(path, sizeof(path), "%s/%s.dat", c->dir, name);
	FILE *f = fopen(path, "w");
	if (!f)
		snprintf(c->err, c->errlen, "%s: %s", path, strerror(errno));
	return f;
}

static int dat_close(struct pctx *c, FILE *f, const char *name)
{
	char path[4400];
	snprintf(path, sizeof(path), "%s/%s.dat", c->dir, name);
	return gnuplot_file_close(f, path, c->err, c->errlen);
}

static void put_num(FILE *f, double x)
{
	if (isnan(x) || isinf(x))
		fputs("NaN", f);
	else
		fprintf(f, "%.6g", x);
}

/* A data-file text field: tabs and newlines would break the row. */
static void put_text(FILE *f, const char *s)
{
	for (; *s; s++)
		fputc(*s == '\t' || *s == '\n' || *s == '\r' ? ' ' : *s, f);
}

/* Canvas width for N bars or groups. */
static int canvas_w(size_t n)
{
	size_t w = 300 + 120 * n;
	return w < 960 ? 960 : w > 2400 ? 2400 : (int)w;
}

/* The variants' names under bars 0..nv-1 (wrapped as gnuplot_xtics does). */
static void gp_xtics(FILE *gp, const struct rundata *rd, int w)
{
	const char **names = malloc((rd->nv ? rd->nv : 1) * sizeof(*names));
	if (!names)
		return;
	for (size_t i = 0; i < rd->nv; i++)
		names[i] = rd->v[i].name;
	gnuplot_xtics(gp, names, rd->nv, w);
	free(names);
}

static int nok(const struct rundata *rd)
{
	uint64_t n = 0;
	for (size_t i = 0; i < rd->nv; i++)
		n += rd->v[i].ok;
	return n > 0;
}

/* ---- bytes per wake, stacked by phase ---- */

static int fig_bytes(struct pctx *c, struct report_fig *fig, int ip)
{
	struct rundata *rd = c->rd;
	const char *name = fig->name;
	enum rd_counter up = ip ? RD_IP_UP : RD_PLAIN_UP, down = ip ? RD_IP_DOWN : RD_PLAIN_DOWN;
	if (ip) {
		snprintf(fig->title, sizeof(fig->title), "Bytes per wake at the IP level, by phase");
		snprintf(fig->caption, sizeof(fig->caption),
		         "Mean bytes per successful wake on the wire, IPv4 and TCP headers included (52 B per segment, "
		         "60 B for SYN and SYN-ACK), split into the phases of the wake. Top: uplink (device to server); "
		         "bottom: downlink. The number on a bar is its total.");
	} else {
		snprintf(fig->title, sizeof(fig->title), "Protocol (plaintext) bytes per wake, by phase");
		snprintf(fig->caption, sizeof(fig->caption),
		         "Mean bytes per successful wake that the protocol stack itself wrote and read, before TLS and "
		         "TCP/IP: what the protocol costs on its own. Top: uplink; bottom: downlink.");
	}
	if (!(rd->has & RD_HAS_PHASES) || !nok(rd)) {
		snprintf(fig->note, sizeof(fig->note), "%s", !nok(rd) ? "no successful wakes" : "wakes.csv has no per-phase columns");
		return 0;
	}
	int used[RD_PHASES] = { 0 }, nused = 0;
	for (size_t i = 0; i < rd->nv; i++)
		for (int p = 0; p < RD_PHASES; p++)
			if (rd->v[i].ph[p][up] > 0 || rd->v[i].ph[p][down] > 0)
				used[p] = 1;
	for (int p = 0; p < RD_PHASES; p++)
		nused += used[p];
	if (!nused) {
		snprintf(fig->note, sizeof(fig->note), "every phase counted 0 bytes");
		return 0;
	}
	FILE *d = dat_open(c, name);
	if (!d)
		return -1;
	fprintf(d, "# %s: mean %s bytes per ok wake, by phase. Block 0: uplink, block 1: downlink.\n", name,
	        ip ? "IP" : "plaintext");
	for (int dir = 0; dir < 2; dir++) {
		fputs(dir ? "\n\n# downlink\n" : "# uplink\n", d);
		fputs("# variant", d);
		for (int p = 0; p < RD_PHASES; p++)
			fprintf(d, "\t%s", rd_phase_names[p]);
		fputs("\ttotal\tok_wakes\n", d);
		for (size_t i = 0; i < rd->nv; i++) {
			struct rd_variant *v = &rd->v[i];
			double total = 0;
			put_text(d, v->name);
			for (int p = 0; p < RD_PHASES; p++) {
				double x = v->ok ? rd_phase_mean(v, p, dir ? down : up) : 0;
				total += x;
				fputc('\t', d);
				put_num(d, x);
			}
			fputc('\t', d);
			put_num(d, total);
			fprintf(d, "\t%llu\n", (unsigned long long)v->ok);
		}
	}
	if (dat_close(c, d, name) != 0)
		return -1;

	int w = canvas_w(rd->nv);
	FILE *gp = gnuplot_script_open(c->dir, name, fig->title, w, 820, c->err, c->errlen);
	if (!gp)
		return -1;
	fprintf(gp, "set multiplot layout 2,1 title \"%s\" font \",14\"\n", fig->title);
	fputs("set style data histograms\n"
	      "set style histogram rowstacked\n"
	      "set style fill solid 0.85 border rgb \"#444444\"\n"
	      "set boxwidth 0.6 relative\n"
	      "set lmargin 11\nset rmargin 4\n"
	      "set ylabel \"bytes per wake\"\n"
	      "set yrange [0:*]\n"
	      "set offsets 0, 0, graph 0.14, 0\n",
	      gp);
	gp_xtics(gp, rd, w);
	for (int dir = 0; dir < 2; dir++) {
		if (dir == 0)
			fputs("set key outside top center horizontal samplen 2 title \"phase\"\n", gp);
		else
			fputs("unset key\n", gp);
		fprintf(gp, "set title \"%s\"\n", dir ? "downlink (server → device)" : "uplink (device → server)");
		fputs("plot ", gp);
		int first = 1;
		for (int p = 0; p < RD_PHASES; p++) {
			if (!used[p])
				continue;
			if (first)
				fprintf(gp, "'%s.dat' index %d using %d", name, dir, p + 2);
			else
				fprintf(gp, ", \\\n     '' index %d using %d", dir, p + 2);
			fprintf(gp, " title '%s' lc rgb '%s'", rd_phase_names[p], phase_colors[p]);
			first = 0;
		}
		fprintf(gp, ", \\\n     '' index %d using 0:%d:(sprintf(\"%%.0f B\", column(%d))) with labels offset 0,0.8 "
		            "notitle\n",
		        dir, RD_PHASES + 2, RD_PHASES + 2);
	}
	fputs("unset multiplot\n", gp);
	return gnuplot_script_close(gp, c->dir, name, c->err, c->errlen) == 0 ? 1 : -1;
}

static int fig_bytes_ip(struct pctx *c, struct report_fig *fig) { return fig_bytes(c, fig, 1); }
static int fig_bytes_plain(struct pctx *c, struct report_fig *fig) { return fig_bytes(c, fig, 0); }

/* ---- TLS: full against resumed handshakes ---- */

static void put_pcts(FILE *d, struct samples *s)
{
	double p50 = samples_pct(s, 50), p10 = samples_pct(s, 10), p90 = samples_pct(s, 90);
	fputc('\t', d);
	put_num(d, p50);
	fputc('\t', d);
	put_num(d, p10);
	fputc('\t', d);
	put_num(d, p90);
}

/* Value labels over the bars of a clustered histogram (gap G): column COLS[i]
 * is bar i of K in each group, printed with FMT. */
static void gp_cluster_labels(FILE *gp, const int *cols, int k, double g, const char *fmt)
{
	double bw = 1.0 / ((double)k + g);
	for (int i = 0; i < k; i++)
		fprintf(gp, ", \\\n     '' using ($0%+.4f):%d:(sprintf(\"%s\", column(%d))) with labels offset 0,0.7 "
		            "font \",9\" notitle",
		        ((double)i - (double)(k - 1) / 2.0) * bw, cols[i], fmt, cols[i]);
	fputc('\n', gp);
}

static int fig_tls(struct pctx *c, struct report_fig *fig)
{
	struct rundata *rd = c->rd;
	const char *name = fig->name;
	snprintf(fig->title, sizeof(fig->title), "TLS handshakes: full against resumed");
	snprintf(fig->caption, sizeof(fig->caption),
	         "For each TLS variant, successful wakes whose handshake was full and those that resumed a session "
	         "(resumed=1 in wakes.csv, set only with proof of resumption): handshake bytes at the IP level "
	         "(the tls phase), handshake time and the handshake's CPU time. Bars: medians; whiskers: p10 to p90.");
	if (!rd->any_tls) {
		snprintf(fig->note, sizeof(fig->note), "no TLS variants in this run (every variant has tls=none)");
		return 0;
	}
	size_t ntls = 0;
	for (size_t i = 0; i < rd->nv; i++)
		if (rd->v[i].hs[0].n + rd->v[i].hs[1].n)
			ntls++;
	if (!ntls) {
		snprintf(fig->note, sizeof(fig->note), "no successful TLS wakes");
		return 0;
	}
	FILE *d = dat_open(c, name);
	if (!d)
		return -1;
	fprintf(d, "# %s: TLS handshakes per variant; bytes are means of ip_*_tls, times in ms and CPU in us are "
	           "p50/p10/p90.\n",
	        name);
	fputs("# variant\tfull_n\tresumed_n\tfull_ip_up\tfull_ip_down\tresumed_ip_up\tresumed_ip_down"
	      "\tfull_ms_p50\tfull_ms_p10\tfull_ms_p90\tresumed_ms_p50\tresumed_ms_p10\tresumed_ms_p90"
	      "\tfull_cpu_p50\tfull_cpu_p10\tfull_cpu_p90\tresumed_cpu_p50\tresumed_cpu_p10\tresumed_cpu_p90"
	      "\trefused\tfull_rec_up\tfull_rec_down\tresumed_rec_up\tresumed_rec_down"
	      "\tfull_heap_kib_p50\tresumed_heap_kib_p50\tfull_session_b_p50\tresumed_session_b_p50\n",
	      d);
	for (size_t i = 0; i < rd->nv; i++) {
		struct rd_variant *v = &rd->v[i];
		if (!(v->hs[0].n + v->hs[1].n))
			continue;
		put_text(d, v->name);
		fprintf(d, "\t%llu\t%llu", (unsigned long long)v->hs[0].n, (unsigned long long)v->hs[1].n);
		for (int k = 0; k < 2; k++) {
			double n = (double)v->hs[k].n;
			fputc('\t', d);
			put_num(d, n ? v->hs[k].ip_up / n : NAN);
			fputc('\t', d);
			put_num(d, n ? v->hs[k].ip_down / n : NAN);
		}
		put_pcts(d, &v->hs[0].t_ms);
		put_pcts(d, &v->hs[1].t_ms);
		put_pcts(d, &v->hs[0].cpu_us);
		put_pcts(d, &v->hs[1].cpu_us);
		fprintf(d, "\t%llu", (unsigned long long)v->resume_refused);
		for (int k = 0; k < 2; k++) {
			double n = (double)v->hs[k].n;
			fputc('\t', d);
			put_num(d, n ? v->hs[k].rec_up / n : NAN);
			fputc('\t', d);
			put_num(d, n ? v->hs[k].rec_down / n : NAN);
		}
		for (int k = 0; k < 2; k++) {
			fputc('\t', d);
			put_num(d, samples_pct(&v->hs[k].heap_kib, 50));
		}
		for (int k = 0; k < 2; k++) {
			fputc('\t', d);
			put_num(d, samples_pct(&v->hs[k].session_b, 50));
		}
		fputc('\n', d);
	}
	if (dat_close(c, d, name) != 0)
		return -1;

	/* a column can exist and still be empty (plaintext wakes leave the TLS ones blank) */
	int has_t = 0, has_cpu = 0;
	for (size_t i = 0; i < rd->nv; i++)
		for (int k = 0; k < 2; k++) {
			has_t |= rd->v[i].hs[k].t_ms.n > 0;
			has_cpu |= rd->v[i].hs[k].cpu_us.n > 0;
		}
	int panels = 1 + has_t + has_cpu;
	int w = canvas_w(ntls + ntls / 2);
	FILE *gp = gnuplot_script_open(c->dir, name, fig->title, w, 330 * panels + 80, c->err, c->errlen);
	if (!gp)
		return -1;
	fprintf(gp, "set multiplot layout %d,1 title \"%s\" font \",14\"\n", panels, fig->title);
	fputs("set style data histograms\n"
	      "set style fill solid 0.85 border rgb \"#444444\"\n"
	      "set lmargin 11\nset rmargin 4\n"
	      "set yrange [0:*]\n"
	      "set key outside top center horizontal samplen 2\n",
	      gp);
	{
		const char *names[ntls];
		size_t k = 0;
		for (size_t i = 0; i < rd->nv; i++)
			if (rd->v[i].hs[0].n + rd->v[i].hs[1].n)
				names[k++] = rd->v[i].name;
		gnuplot_xtics(gp, names, ntls, w);
	}
	/* gnuplot refuses a histogram series with no valid point, so a kind of
	 * handshake no variant made (no resumption in the run) is left out */
	int kinds[2] = { 0, 0 };
	for (size_t i = 0; i < rd->nv; i++)
		for (int k = 0; k < 2; k++)
			kinds[k] |= rd->v[i].hs[k].n > 0;
	static const char *const kname[2] = { "full", "resumed" };
	static const char *const kcolor[2][2] = { { "#1f4e79", "#6fa8dc" }, { "#b45f06", "#f6b26b" } };
	fprintf(gp, "set style histogram clustered gap 1.5\n"
	            "set offsets 0, 0, graph 0.12, 0\n"
	            "set title \"handshake bytes per wake (IP level, mean)\"\n"
	            "set ylabel \"bytes\"\n"
	            "plot ");
	int cols[4], nc = 0;
	for (int k = 0; k < 2; k++)
		for (int dir = 0; dir < 2 && kinds[k]; dir++) {
			cols[nc] = 4 + 2 * k + dir;
			fprintf(gp, "%s'%s%s' using %d title '%s, %s' lc rgb '%s'", nc ? ", \\\n     " : "", nc ? "" : name, nc ? "" : ".dat",
			        cols[nc], kname[k], dir ? "down" : "up", kcolor[k][dir]);
			nc++;
		}
	gp_cluster_labels(gp, cols, nc, 1.5, "%.0f");
	fputs("set style histogram errorbars gap 1.5 lw 1\n"
	      "set errorbars small\n",
	      gp);
	/* the time panel (columns 8.., p50:p10:p90 for full then resumed) and the CPU one (14..) */
	for (int panel = 0; panel < 2; panel++) {
		if (!(panel ? has_cpu : has_t))
			continue;
		int base = panel ? 14 : 8;
		fprintf(gp, "set title \"handshake %s (median; whiskers p10–p90)\"\nset ylabel \"%s\"\nplot ",
		        panel ? "CPU time" : "time", panel ? "CPU µs" : "ms");
		nc = 0;
		for (int k = 0; k < 2; k++) {
			if (!kinds[k])
				continue;
			cols[nc] = base + 3 * k;
			fprintf(gp, "%s'%s%s' using %d:%d:%d title '%s' lc rgb '%s'", nc ? ", \\\n     " : "", nc ? "" : name, nc ? "" : ".dat",
			        cols[nc], cols[nc] + 1, cols[nc] + 2, kname[k], kcolor[k][0]);
			nc++;
		}
		gp_cluster_labels(gp, cols, nc, 1.5, panel ? "%.0f µs" : "%.2f ms");
	}
	fputs("unset multiplot\n", gp);
	if (!has_t || !has_cpu)
		snprintf(fig->note, sizeof(fig->note), "no %s%s%s figures in wakes.csv: that panel is left out",
		         has_t ? "" : "t_tls_us", !has_t && !has_cpu ? " or " : "", has_cpu ? "" : "tls_hs_cpu_us");
	return gnuplot_script_close(gp, c->dir, name, c->err, c->errlen) == 0 ? 1 : -1;
}

/* ---- latency CDFs ---- */

/* Sorted S as CDF points (value, percent at or below), thinned to about
 * 1,500 evenly ranked points plus every point of the top 1 % (at most 500),
 * where the tail that matters lives. */
static void write_cdf(FILE *d, struct samples *s)
{
	size_t n = s->n;
	if (!n)
		return;
	samples_pct(s, 50); /* sorts */
	const size_t M = 1500;
	put_num(d, s->v[0]);
	fputs("\t0\n", d);
	size_t tail = n / 100 > 500 ? 500 : n / 100, last = 0;
	if (n <= 2 * M)
		tail = n;
	size_t body = n - tail;
	for (size_t k = 1; body && k <= M; k++) {
		size_t r = (size_t)ceil((double)k * (double)body / (double)M);
		if (r <= last || r > body)
			continue;
		last = r;
		put_num(d, s->v[r - 1]);
		fprintf(d, "\t%.4f\n", 100.0 * (double)r / (double)n);
	}
	for (size_t r = body + 1; r <= n; r++) {
		put_num(d, s->v[r - 1]);
		fprintf(d, "\t%.4f\n", 100.0 * (double)r / (double)n);
	}
}

static struct samples *cdf_samples(struct rd_variant *v, int e2e) { return e2e ? &v->e2e_ms : &v->wake_ms; }

static int fig_cdf(struct pctx *c, struct report_fig *fig, int e2e)
{
	struct rundata *rd = c->rd;
	const char *name = fig->name;
	if (e2e) {
		snprintf(fig->title, sizeof(fig->title), "End-to-end latency: CDF per variant");
		snprintf(fig->caption, sizeof(fig->caption),
		         "Publish call to arrival at the backend, per successful wake (its slowest message). A curve "
		         "further left is faster; where a curve reaches 99 %% is its p99.");
	} else {
		snprintf(fig->title, sizeof(fig->title), "Wake time: CDF per variant");
		snprintf(fig->caption, sizeof(fig->caption),
		         "Adapter start to connection closed and accounted, per successful wake: how long the device is "
		         "awake for the network. A curve further left is faster; where a curve reaches 99 %% is its p99.");
	}
	if (e2e && !(rd->has & RD_HAS_E2E)) {
		snprintf(fig->note, sizeof(fig->note), "wakes.csv has no e2e_us column");
		return 0;
	}
	double lo = INFINITY, hi = 0;
	size_t nser = 0;
	for (size_t i = 0; i < rd->nv; i++) {
		struct samples *s = cdf_samples(&rd->v[i], e2e);
		if (!s->n)
			continue;
		nser++;
		samples_pct(s, 50);
		for (size_t k = 0; k < s->n; k++)
			if (s->v[k] > 0) {
				if (s->v[k] < lo)
					lo = s->v[k];
				break;
			}
		if (s->v[s->n - 1] > hi)
			hi = s->v[s->n - 1];
	}
	if (!nser) {
		snprintf(fig->note, sizeof(fig->note), "no successful wakes with a %s time", e2e ? "end-to-end" : "wake");
		return 0;
	}
	int logx = isfinite(lo) && lo > 0 && hi / lo >= 20;
	FILE *d = dat_open(c, name);
	if (!d)
		return -1;
	fprintf(d, "# %s: CDF per variant, one block each (index i = the i-th series of %s.gp)\n", name, name);
	for (size_t i = 0; i < rd->nv; i++) {
		struct samples *s = cdf_samples(&rd->v[i], e2e);
		if (!s->n)
			continue;
		fputs("# variant: ", d);
		put_text(d, rd->v[i].name);
		fputs("\n# ms\tpercent_at_or_below\n", d);
		write_cdf(d, s);
		fputs("\n\n", d);
	}
	if (dat_close(c, d, name) != 0)
		return -1;

	FILE *gp = gnuplot_script_open(c->dir, name, fig->title, 960, 560 + 20 * (int)nser, c->err, c->errlen);
	if (!gp)
		return -1;
	fprintf(gp, "set title \"%s\" font \",14\"\n", fig->title);
	fprintf(gp, "set xlabel \"%s, ms%s\"\n", e2e ? "end-to-end latency (publish to backend)" : "wake time",
	        logx ? " (log scale)" : "");
	fputs("set ylabel \"wakes at or below, %\"\n"
	      "set yrange [0:100]\n"
	      "set ytics 0,10,90\n"
	      "set ytics add (\"99\" 99)\n"
	      "set grid xtics ytics mxtics lc rgb \"#dddddd\"\n"
	      "set key below left Left reverse samplen 3 spacing 1.1\n"
	      "set arrow from graph 0, first 99 to graph 1, first 99 nohead dt 3 lc rgb \"#888888\"\n"
	      "set arrow from graph 0, first 50 to graph 1, first 50 nohead dt 3 lc rgb \"#888888\"\n",
	      gp);
	if (logx) {
		/* a tight range, labelled 1-2-5 per decade: decades alone leave a short range with two labels */
		fprintf(gp, "set logscale x 10\nset format x \"%%g\"\nset mxtics 10\nset xrange [%.6g:%.6g]\nset xtics (",
		        lo * 0.9, hi * 1.1);
		int first = 1;
		for (double dec = pow(10, floor(log10(lo * 0.9))); dec <= hi * 1.1; dec *= 10)
			for (int m = 0; m < 3; m++) {
				double t = dec * (m == 0 ? 1 : m == 1 ? 2 : 5);
				if (t < lo * 0.9 || t > hi * 1.1)
					continue;
				fprintf(gp, "%s%.6g", first ? "" : ", ", t);
				first = 0;
			}
		fputs(")\n", gp);
	}
	else
		fputs("set xrange [0:*]\n", gp);
	fputs("plot ", gp);
	size_t idx = 0;
	for (size_t i = 0; i < rd->nv; i++) {
		struct samples *s = cdf_samples(&rd->v[i], e2e);
		if (!s->n)
			continue;
		char t[256];
		snprintf(t, sizeof(t), "%s  (n=%zu, p50 %.3g ms, p99 %.3g ms)", rd->v[i].name, s->n, samples_pct(s, 50),
		         samples_pct(s, 99));
		fprintf(gp, "%s'%s.dat' index %zu using 1:2 with lines lw 2 lc rgb '%s' dt %d title ",
		        idx ? ", \\\n     " : "", name, idx, series_color(idx), series_dash(idx));
		gnuplot_quote(gp, t);
		idx++;
	}
	fputc('\n', gp);
	return gnuplot_script_close(gp, c->dir, name, c->err, c->errlen) == 0 ? 1 : -1;
}

static int fig_cdf_wake(struct pctx *c, struct report_fig *fig) { return fig_cdf(c, fig, 0); }
static int fig_cdf_e2e(struct pctx *c, struct report_fig *fig) { return fig_cdf(c, fig, 1); }

/* ---- CPU and heap per wake ---- */

static void put_box_row(FILE *d, size_t x, const char *label, struct samples *s)
{
	fprintf(d, "%zu\t", x);
	put_text(d, label);
	fprintf(d, "\t%zu", s->n);
	double p[5] = { 10, 25, 50, 75, 90 };
	for (int i = 0; i < 5; i++) {
		fputc('\t', d);
		put_num(d, samples_pct(s, p[i]));
	}
	fputc('\t', d);
	put_num(d, samples_mean(s));
	fputc('\n', d);
}

static void gp_box_panel(FILE *gp, const char *name, int index, const char *title, const char *ylabel,
                         const char *unit, const char *color)
{
	fprintf(gp, "set title \"%s\"\nset ylabel \"%s\"\n", title, ylabel);
	fprintf(gp, "plot '%s.dat' index %d using 1:5:4:8:7 with candlesticks whiskerbars 0.5 lc rgb '%s' lw 1.5 "
	            "notitle, \\\n"
	            "     '' index %d using 1:6:6:6:6 with candlesticks lc rgb '#000000' lw 2.5 notitle, \\\n"
	            "     '' index %d using 1:8:(sprintf(\"%s %s\\nn=%%d\", column(6), column(3))) with labels "
	            "offset 0,1.4 font \",9\" notitle\n",
	        name, index, color, index, index, strcmp(unit, "s") ? "%.0f" : "%.2f", unit);
}

/* The script of a figure of PANELS box panels stacked, one box per variant. */
static FILE *gp_box_open(struct pctx *c, struct report_fig *fig, int panels)
{
	struct rundata *rd = c->rd;
	int w = canvas_w(rd->nv);
	FILE *gp = gnuplot_script_open(c->dir, fig->name, fig->title, w, 380 * panels + 60, c->err, c->errlen);
	if (!gp)
		return NULL;
	fprintf(gp, "set multiplot layout %d,1 title \"%s\" font \",14\"\n", panels, fig->title);
	fputs("set style fill solid 0.45 border\n"
	      "set boxwidth 0.45\n"
	      "set lmargin 11\nset rmargin 4\n"
	      "set yrange [0:*]\n"
	      "set offsets 0, 0, graph 0.14, 0\n",
	      gp);
	fprintf(gp, "set xrange [-0.6:%zu.6]\n", rd->nv - 1);
	gp_xtics(gp, rd, w);
	return gp;
}

static int fig_cpu_heap(struct pctx *c, struct report_fig *fig)
{
	struct rundata *rd = c->rd;
	const char *name = fig->name;
	int has_heap = !!(rd->has & RD_HAS_HEAP);
	int tls_heap = !strncmp(rd->heap_col, "tls_", 4);
	size_t ncpu = 0, nheap = 0;
	for (size_t i = 0; i < rd->nv; i++) {
		ncpu += rd->v[i].cpu_us.n != 0;
		nheap += rd->v[i].heap_kib.n != 0;
	}
	snprintf(fig->title, sizeof(fig->title), nheap ? "CPU time and heap high-water per wake" : "CPU time per wake");
	snprintf(fig->caption, sizeof(fig->caption),
	         "Client CPU per successful wake (the protocol library's threads and the adapter, measured on wakes "
	         "that ran alone)%s. Boxes: p25 to p75; whiskers: p10 to p90; black line and label: median, "
	         "with n the wakes measured.",
	         !nheap ? ""
	         : tls_heap ? "; heap high-water of the wake's TLS context (tls_heap_peak; TLS variants only, and "
	                      "not measured under AddressSanitizer)"
	                    : "; heap high-water mark per wake");
	if (!has_heap)
		snprintf(fig->note, sizeof(fig->note), "wakes.csv has no heap column (heap_peak, tls_heap_peak): heap is "
		                                       "left out");
	else if (!nheap)
		snprintf(fig->note, sizeof(fig->note), "no wake has a %s figure%s: heap is left out", rd->heap_col,
		         tls_heap ? " (it is measured for TLS wakes, and not under AddressSanitizer)" : "");
	if (!ncpu && !nheap) {
		snprintf(fig->note, sizeof(fig->note), "no wake has a CPU%s figure (cpu_us is measured only on wakes "
		                                       "that ran alone)",
		         has_heap ? " or heap" : "");
		return 0;
	}
	FILE *d = dat_open(c, name);
	if (!d)
		return -1;
	fprintf(d, "# %s: per variant p10 p25 p50 p75 p90 and mean. Block 0: cpu_us; block 1: heap KiB.\n", name);
	for (int b = 0; b < 2; b++) {
		fputs(b ? "\n\n# heap high-water, KiB\n" : "# client CPU per wake, us\n", d);
		fputs("# x\tvariant\tn\tp10\tp25\tp50\tp75\tp90\tmean\n", d);
		for (size_t i = 0; i < rd->nv; i++)
			put_box_row(d, i, rd->v[i].name, b ? &rd->v[i].heap_kib : &rd->v[i].cpu_us);
	}
	if (dat_close(c, d, name) != 0)
		return -1;

	int panels = (ncpu != 0) + (nheap != 0);
	FILE *gp = gp_box_open(c, fig, panels);
	if (!gp)
		return -1;
	if (ncpu)
		gp_box_panel(gp, name, 0, "client CPU per wake (wakes that ran alone)", "CPU µs", "µs", "#4e79a7");
	if (nheap)
		gp_box_panel(gp, name, 1, tls_heap ? "heap high-water of the TLS context per wake" : "heap high-water per wake",
		             "KiB", "KiB", "#59a14f");
	fputs("unset multiplot\n", gp);
	return gnuplot_script_close(gp, c->dir, name, c->err, c->errlen) == 0 ? 1 : -1;
}

/* ---- broker CPU and RSS over the run ---- */

/* Unit factor of a column name's suffix, to seconds (time, CPU) or KiB (memory). */
static double time_unit(const char *col)
{
	const char *u = strrchr(col, '_');
	if (!u)
		return 1;
	if (!strcmp(u, "_ns"))
		return 1e-9;
	if (!strcmp(u, "_us"))
		return 1e-6;
	if (!strcmp(u, "_ms"))
		return 1e-3;
	if (!strcmp(u, "_ticks") || !strcmp(u, "_jiffies"))
		return 1e-2;
	return 1;
}

static double mem_unit_kib(const char *col)
{
	const char *u = strrchr(col, '_');
	if (!u)
		return 1;
	if (!strcmp(u, "_b") || !strcmp(u, "_bytes"))
		return 1.0 / 1024.0;
	if (!strcmp(u, "_mb") || !strcmp(u, "_mib"))
		return 1024.0;
	if (!strcmp(u, "_pages"))
		return 4.0;
	return 1; /* _kb, _kib, or none: /proc's kB */
}

/* The columns of a broker.csv this reader understands, found by name. */
struct bcols {
	int t, cpu_pct, rss;
	int cum[8];        /* cumulative CPU columns, summed: cpu_user_ms + cpu_sys_ms, utime + stime, cpu_us */
	double cum_unit[8];
	int ncum;
	double t_unit, rss_unit;
};

static void broker_header(struct bcols *b, char *line)
{
	memset(b, 0xff, sizeof(*b));
	b->ncum = 0;
	b->t_unit = b->rss_unit = 1;
	int i = 0;
	for (char *tok = strtok(line, ","); tok; tok = strtok(NULL, ","), i++) {
		tok[strcspn(tok, "\r\n")] = 0;
		if (b->t < 0 && (!strcmp(tok, "t") || !strncmp(tok, "t_", 2) || !strncmp(tok, "time", 4) ||
		                 !strncmp(tok, "elapsed", 7) || !strncmp(tok, "mono", 4))) {
			b->t = i;
			b->t_unit = time_unit(tok);
		} else if (strstr(tok, "cpu") && (strstr(tok, "pct") || strstr(tok, "percent"))) {
			if (b->cpu_pct < 0)
				b->cpu_pct = i;
		} else if ((strstr(tok, "cpu") || !strncmp(tok, "utime", 5) || !strncmp(tok, "stime", 5)) && b->ncum < 8) {
			b->cum[b->ncum] = i;
			b->cum_unit[b->ncum++] = time_unit(tok);
		} else if (strstr(tok, "rss") && b->rss < 0) {
			b->rss = i;
			b->rss_unit = mem_unit_kib(tok);
		}
	}
}

static double field_num(char **f, int nf, int col)
{
	if (col < 0 || col >= nf || !f[col][0])
		return NAN;
	char *end;
	double x = strtod(f[col], &end);
	return end == f[col] ? NAN : x;
}

static int split_commas(char *line, char **f, int max)
{
	int n = 0;
	line[strcspn(line, "\r\n")] = 0;
	for (char *p = line; n < max;) {
		f[n++] = p;
		p = strchr(p, ',');
		if (!p)
			break;
		*p++ = 0;
	}
	return n;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* One sample of a server: the sums over its processes' rows at one time. */
struct bsample {
	double t, cum, pct, rss_kib;
	int n;
};

/* Writes one sample (seconds since T0, CPU %, RSS MiB) to D; CPU from the
 * change of the summed cumulative CPU since PREV, unless given as a percentage. */
static void put_sample(FILE *d, const struct bsample *s, const struct bsample *prev, double t0, int *has_cpu,
                       int *has_rss)
{
	double cpu = s->pct;
	if (isnan(cpu) && prev && !isnan(s->cum) && !isnan(prev->cum) && s->t > prev->t)
		cpu = 100.0 * (s->cum - prev->cum) / (s->t - prev->t);
	double rss = s->rss_kib / 1024.0;
	*has_cpu |= !isnan(cpu);
	*has_rss |= !isnan(rss);
	fprintf(d, "%.6f\t", s->t - t0);
	put_num(d, cpu);
	fputc('\t', d);
	put_num(d, rss);
	fputc('\n', d);
}

static double add_nan(double a, double b)
{
	return isnan(b) ? a : isnan(a) ? b : a + b;
}

/* Reads one servers/NN-<variant>/broker.csv (as brokers/procstat.h writes
 * it: t_s,pid,cpu_user_ms,cpu_sys_ms,rss_kib, a row per process per sample)
 * into a block of D: per sample time, the server's processes summed. The
 * columns are found by name, so other spellings read too: a time (t_s,
 * t_ms, t_us, time_*, elapsed_*, mono_*), CPU as a percentage (cpu_pct) or
 * cumulative (any other cpu_ column, or utime_ and stime_ ones, summed), RSS
 * (rss_kib, rss_kb, rss_bytes, rss_mib, rss_pages; no unit: kB as /proc
 * says). Returns the samples written, 0 when the file has none it reads. */
static int broker_file(const char *path, FILE *d, int *has_cpu, int *has_rss)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	char line[4096];
	struct bcols b;
	if (!fgets(line, sizeof(line), f)) {
		fclose(f);
		return 0;
	}
	broker_header(&b, line);
	if (b.t < 0 || (b.ncum == 0 && b.cpu_pct < 0 && b.rss < 0)) {
		fclose(f);
		return 0;
	}
	char *fl[64];
	struct bsample cur = { .n = 0 }, prev = { .n = 0 };
	double t0 = NAN;
	int written = 0;
	for (int more = 1; more;) {
		more = fgets(line, sizeof(line), f) != NULL;
		double t = NAN;
		int nf = 0;
		if (more) {
			nf = split_commas(line, fl, 64);
			t = field_num(fl, nf, b.t) * b.t_unit;
			if (isnan(t))
				continue;
		}
		if (cur.n && (!more || fabs(t - cur.t) > 1e-9)) {
			if (isnan(t0))
				t0 = cur.t;
			put_sample(d, &cur, prev.n ? &prev : NULL, t0, has_cpu, has_rss);
			written++;
			prev = cur;
			cur.n = 0;
		}
		if (!more)
			break;
		if (!cur.n)
			cur = (struct bsample){ .t = t, .cum = NAN, .pct = NAN, .rss_kib = NAN };
		cur.n++;
		double cum = NAN;
		for (int k = 0; k < b.ncum; k++)
			cum = add_nan(cum, field_num(fl, nf, b.cum[k]) * b.cum_unit[k]);
		cur.cum = add_nan(cur.cum, cum);
		cur.pct = add_nan(cur.pct, field_num(fl, nf, b.cpu_pct));
		cur.rss_kib = add_nan(cur.rss_kib, field_num(fl, nf, b.rss) * b.rss_unit);
	}
	fclose(f);
	return written;
}

static int fig_broker(struct pctx *c, struct report_fig *fig)
{
	struct rundata *rd = c->rd;
	const char *name = fig->name;
	snprintf(fig->title, sizeof(fig->title), "Broker CPU and memory over each variant's run");
	snprintf(fig->caption, sizeof(fig->caption),
	         "CPU (100 %% = one core) and resident memory of each variant's server, all its processes summed, "
	         "sampled from /proc while the variant ran (servers/NN-variant/broker.csv); time from the "
	         "server's first sample.");
	char sdir[4400];
	snprintf(sdir, sizeof(sdir), "%s/servers", rd->dir);
	DIR *dh = opendir(sdir);
	char *names[256];
	size_t nn = 0;
	struct dirent *de;
	while (dh && (de = readdir(dh)) && nn < 256) {
		if (de->d_name[0] == '.')
			continue;
		char p[4800];
		snprintf(p, sizeof(p), "%s/%s/broker.csv", sdir, de->d_name);
		if (access(p, R_OK) == 0 && (names[nn] = strdup(de->d_name)) != NULL)
			nn++;
	}
	if (dh)
		closedir(dh);
	if (!nn) {
		snprintf(fig->note, sizeof(fig->note), "no broker samples in this run (no servers/*/broker.csv)");
		return 0;
	}
	qsort(names, nn, sizeof(names[0]), cmp_str);
	FILE *d = dat_open(c, name);
	if (!d) {
		for (size_t i = 0; i < nn; i++)
			free(names[i]);
		return -1;
	}
	fprintf(d, "# %s: one block per server (its processes summed): s since its first sample, CPU %% of one "
	           "core, RSS MiB\n",
	        name);
	char labels[256][200];
	size_t nser = 0;
	int has_cpu = 0, has_rss = 0;
	for (size_t i = 0; i < nn; i++) {
		/* NN-<variant>: NN is the variant's place in the run */
		char *end;
		long k = strtol(names[i], &end, 10);
		if (end != names[i] && *end == '-' && k >= 1 && (size_t)k <= rd->nv)
			snprintf(labels[nser], sizeof(labels[nser]), "%.199s", rd->v[k - 1].name);
		else
			snprintf(labels[nser], sizeof(labels[nser]), "%.199s", names[i]);
		char p[4800];
		snprintf(p, sizeof(p), "%s/%s/broker.csv", sdir, names[i]);
		fputs("# ", d);
		put_text(d, labels[nser]);
		fputs("\n# s\tcpu_pct\trss_mib\n", d);
		if (broker_file(p, d, &has_cpu, &has_rss) > 0) {
			fputs("\n\n", d);
			nser++;
		} /* else: nothing read, and no block: the next server's block follows the comment */
	}
	for (size_t i = 0; i < nn; i++)
		free(names[i]);
	if (dat_close(c, d, name) != 0)
		return -1;
	if (!nser || (!has_cpu && !has_rss)) {
		snprintf(fig->note, sizeof(fig->note), "servers/*/broker.csv has no samples with a time and a CPU or "
		                                       "RSS column");
		return 0;
	}
	int panels = has_cpu + has_rss;
	FILE *gp = gnuplot_script_open(c->dir, name, fig->title, 960, 360 * panels + 80 + 10 * (int)nser, c->err,
	                               c->errlen);
	if (!gp)
		return -1;
	fprintf(gp, "set multiplot layout %d,1 title \"%s\" font \",14\"\n", panels, fig->title);
	fputs("set lmargin 11\nset rmargin 4\nset xlabel \"s since the server's first sample\"\n"
	      "set yrange [0:*]\nset key outside top center horizontal samplen 3\n",
	      gp);
	for (int pnl = 0; pnl < 2; pnl++) {
		if ((pnl == 0 && !has_cpu) || (pnl == 1 && !has_rss))
			continue;
		fprintf(gp, "set title \"%s\"\nset ylabel \"%s\"\n", pnl ? "resident memory (RSS)" : "CPU",
		        pnl ? "MiB" : "% of one core");
		fputs("plot ", gp);
		for (size_t i = 0; i < nser; i++) {
			fprintf(gp, "%s'%s.dat' index %zu using 1:%d with lines lw 2 lc rgb '%s' dt %d title ",
			        i ? ", \\\n     " : "", name, i, pnl ? 3 : 2, series_color(i), series_dash(i));
			gnuplot_quote(gp, labels[i]);
		}
		fputc('\n', gp);
	}
	fputs("unset multiplot\n", gp);
	return gnuplot_script_close(gp, c->dir, name, c->err, c->errlen) == 0 ? 1 : -1;
}

/* ---- failures by kind ---- */

static const char *kind_color(const char *kind, size_t i)
{
	static const struct { const char *kind, *color; } known[] = {
		{ "connect", "#e15759" },  { "timeout", "#f28e2b" },       { "protocol", "#b07aa1" },
		{ "reset", "#9c755f" },    { "closed", "#76b7b2" },        { "library", "#edc948" },
		{ "tls_handshake", "#4e79a7" }, { "tls_verify", "#59a14f" }, { "interrupted", "#bab0ac" },
	};
	for (size_t k = 0; k < sizeof(known) / sizeof(known[0]); k++)
		if (!strcmp(kind, known[k].kind))
			return known[k].color;
	return series_color(i);
}

static int fig_failures(struct pctx *c, struct report_fig *fig)
{
	struct rundata *rd = c->rd;
	const char *name = fig->name;
	snprintf(fig->title, sizeof(fig->title), "Failed wakes by kind");
	snprintf(fig->caption, sizeof(fig->caption),
	         "Wakes that did not finish, per variant, by error kind (error_kind in wakes.csv); the label gives "
	         "the count and its share of the variant's wakes. A failed wake is a result, not an error of the run.");
	uint64_t failed = 0;
	for (size_t i = 0; i < rd->nv; i++)
		failed += rd->v[i].failed;
	if (!failed) {
		snprintf(fig->note, sizeof(fig->note), "no failed wakes");
		return 0;
	}
	FILE *d = dat_open(c, name);
	if (!d)
		return -1;
	fprintf(d, "# %s: failed wakes per variant by kind\n# variant", name);
	for (size_t k = 0; k < rd->nkinds; k++)
		fprintf(d, "\t%s", rd->kinds[k]);
	fputs("\tfailed\twakes\tpercent\n", d);
	for (size_t i = 0; i < rd->nv; i++) {
		struct rd_variant *v = &rd->v[i];
		put_text(d, v->name);
		for (size_t k = 0; k < rd->nkinds; k++)
			fprintf(d, "\t%llu", (unsigned long long)v->fails[k]);
		fprintf(d, "\t%llu\t%llu\t", (unsigned long long)v->failed, (unsigned long long)v->rows);
		put_num(d, v->rows ? 100.0 * (double)v->failed / (double)v->rows : 0);
		fputc('\n', d);
	}
	if (dat_close(c, d, name) != 0)
		return -1;
	int w = canvas_w(rd->nv);
	FILE *gp = gnuplot_script_open(c->dir, name, fig->title, w, 560, c->err, c->errlen);
	if (!gp)
		return -1;
	fprintf(gp, "set title \"%s\" font \",14\"\n", fig->title);
	fputs("set style data histograms\n"
	      "set style histogram rowstacked\n"
	      "set style fill solid 0.85 border rgb \"#444444\"\n"
	      "set boxwidth 0.6 relative\n"
	      "set ylabel \"failed wakes\"\n"
	      "set yrange [0:*]\n"
	      "set offsets 0, 0, graph 0.14, 0\n"
	      "set key outside right top vertical samplen 2 title \"error kind\"\n",
	      gp);
	gp_xtics(gp, rd, w);
	fputs("plot ", gp);
	size_t col_failed = rd->nkinds + 2;
	for (size_t k = 0; k < rd->nkinds; k++) {
		if (k == 0)
			fprintf(gp, "'%s.dat' using 2", name);
		else
			fprintf(gp, ", \\\n     '' using %zu", k + 2);
		fputs(" title ", gp);
		gnuplot_quote(gp, rd->kinds[k]);
		fprintf(gp, " lc rgb '%s'", kind_color(rd->kinds[k], k));
	}
	fprintf(gp, ", \\\n     '' using 0:%zu:(sprintf(\"%%d (%%.1f%%%%)\", column(%zu), column(%zu))) with labels "
	            "offset 0,0.8 notitle\n",
	        col_failed, col_failed, col_failed + 2);
	return gnuplot_script_close(gp, c->dir, name, c->err, c->errlen) == 0 ? 1 : -1;
}

/* ---- the radio behind links: energy, radio time, battery life ---- */

static int fig_radio(struct pctx *c, struct report_fig *fig)
{
	struct rundata *rd = c->rd;
	const char *name = fig->name;
	size_t n = 0, nyears = 0;
	for (size_t i = 0; i < rd->nv; i++) {
		n += rd->v[i].energy_mj.n != 0;
		nyears += !isnan(rd->v[i].years_at[0]);
	}
	snprintf(fig->title, sizeof(fig->title), "Radio energy, radio time and battery life per wake");
	snprintf(fig->caption, sizeof(fig->caption),
	         "Behind emulated links: the radio's energy per successful wake (attach, TX, RX, connected idle and "
	         "the inactivity tail, sim/core/energy.h) and its time out of sleep; boxes p25 to p75, whiskers p10 "
	         "to p90, black line and label the median. Bottom: battery life in years (log scale) of a device "
	         "making the variant's mean measured wake every 1 min, 15 min, 1 h and 1 day, with the profile's "
	         "sleep floor between wakes and the scenario's battery.");
	if (!n) {
		snprintf(fig->note, sizeof(fig->note), "no wake ran behind an emulated link (no energy_mj in wakes.csv)");
		return 0;
	}
	FILE *d = dat_open(c, name);
	if (!d)
		return -1;
	fprintf(d, "# %s: per variant p10 p25 p50 p75 p90 and mean. Block 0: energy_mj; block 1: radio_on s; "
	           "block 2: battery years at 1m 15m 1h 1d.\n", name);
	for (int b = 0; b < 2; b++) {
		fputs(b ? "\n\n# radio on per wake, s\n" : "# energy per wake, mJ\n", d);
		fputs("# x\tvariant\tn\tp10\tp25\tp50\tp75\tp90\tmean\n", d);
		for (size_t i = 0; i < rd->nv; i++) {
			struct samples s = rd->v[i].radio_on_ms;
			if (b) { /* seconds read better at radio scales */
				memset(&s, 0, sizeof(s));
				for (size_t k = 0; k < rd->v[i].radio_on_ms.n; k++)
					if (samples_add(&s, rd->v[i].radio_on_ms.v[k] / 1000.0) != 0)
						break;
			}
			put_box_row(d, i, rd->v[i].name, b ? &s : &rd->v[i].energy_mj);
			if (b)
				samples_free(&s);
		}
	}
	fputs("\n\n# battery life, years\n# x\tvariant", d);
	for (int k = 0; k < RD_BATTERY_PERIODS; k++)
		fprintf(d, "\t%s", rd_battery_periods[k]);
	fputc('\n', d);
	for (size_t i = 0; i < rd->nv; i++) {
		fprintf(d, "%zu\t", i);
		put_text(d, rd->v[i].name);
		for (int k = 0; k < RD_BATTERY_PERIODS; k++) {
			fputc('\t', d);
			put_num(d, rd->v[i].years_at[k]);
		}
		fputc('\n', d);
	}
	if (dat_close(c, d, name) != 0)
		return -1;

	int panels = 2 + (nyears != 0);
	FILE *gp = gp_box_open(c, fig, panels);
	if (!gp)
		return -1;
	gp_box_panel(gp, name, 0, "radio energy per wake", "mJ", "mJ", "#e15759");
	gp_box_panel(gp, name, 1, "radio out of sleep per wake", "s", "s", "#4e79a7");
	if (nyears) {
		fputs("set title \"battery life waking every period (mean wake)\"\nset ylabel \"years\"\n"
		      "set logscale y\nset yrange [*:*]\nset offsets 0, 0, 0, 0\nset key outside right top\n", gp);
		for (int k = 0; k < RD_BATTERY_PERIODS; k++)
			fprintf(gp, "%s'%s.dat' index 2 using 1:%d with linespoints lw 2 pt 7 lc rgb '%s' title \"every %s\"%s",
			        k ? "     " : "plot ", name, 3 + k, series_color((size_t)k), rd_battery_periods[k],
			        k + 1 < RD_BATTERY_PERIODS ? ", \\\n" : "\n");
	}
	fputs("unset multiplot\n", gp);
	return gnuplot_script_close(gp, c->dir, name, c->err, c->errlen) == 0 ? 1 : -1;
}

/* ---- the table of figures, in report order ---- */

static const struct figdef {
	const char *name;
	fig_fn write;
} figdefs[] = {
	{ "bytes_ip", fig_bytes_ip },   { "bytes_plain", fig_bytes_plain }, { "tls", fig_tls },
	{ "cdf_wake", fig_cdf_wake },   { "cdf_e2e", fig_cdf_e2e },         { "cpu_heap", fig_cpu_heap },
	{ "broker", fig_broker },       { "failures", fig_failures },       { "radio", fig_radio },
};
#define NFIGS (sizeof(figdefs) / sizeof(figdefs[0]))

static void remove_outputs(const char *dir, const char *name)
{
	static const char *const exts[] = { "png", "svg", "dat", "gp", "log" };
	for (size_t i = 0; i < sizeof(exts) / sizeof(exts[0]); i++) {
		char p[4400];
		snprintf(p, sizeof(p), "%s/%s.%s", dir, name, exts[i]);
		unlink(p);
	}
}

static double mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Stops plotting at an interrupt: every figure of FIGS not drawn whole loses
 * its files, so only whole figures stay; report.html is left as it was. */
static enum dormant_err plot_stop(struct rundata *rd, const char *dir, const struct report_fig *figs, FILE *log,
                                  char *err, size_t errlen)
{
	size_t kept = 0;
	for (size_t i = 0; i < NFIGS; i++) {
		if (figs[i].drawn)
			kept++;
		else
			remove_outputs(dir, figs[i].name);
	}
	snprintf(err, errlen, "interrupted: report.html not written; %zu whole figure%s kept in %s", kept,
	         kept == 1 ? "" : "s", dir);
	if (log)
		fflush(log);
	rundata_free(rd);
	return ERR_INTERRUPTED;
}

enum dormant_err plot_run(const char *rundir, int formats, int (*interrupted)(void), FILE *log, char *err,
                          size_t errlen)
{
	double t0 = mono_s();
	struct rundata *rd = NULL;
	enum dormant_err rc = rundata_load(rundir, &rd, err, errlen);
	if (rc != ERR_OK)
		return rc;
	struct pctx c = { .rd = rd, .err = err, .errlen = errlen };
	snprintf(c.dir, sizeof(c.dir), "%s/plots", rd->dir);
	if (mkdir(c.dir, 0755) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "%s: %s", c.dir, strerror(errno));
		rundata_free(rd);
		return ERR_IO;
	}
	if (log)
		fprintf(log, "plot: %llu wakes of %zu variant%s read in %.2f s\n", (unsigned long long)rd->rows, rd->nv,
		        rd->nv == 1 ? "" : "s", mono_s() - t0);
	/* a summary.json that is there but does not parse is worth a line: where it broke */
	struct stat sst;
	char spath[4200];
	snprintf(spath, sizeof(spath), "%s/summary.json", rd->dir);
	if (log && !rd->summary && stat(spath, &sst) == 0)
		fprintf(log, "plot: %s: read from wakes.csv only\n", rd->summary_err);

	struct report_fig figs[NFIGS];
	const char *torun[NFIGS];
	size_t idx[NFIGS], nrun = 0;
	memset(figs, 0, sizeof(figs));
	for (size_t i = 0; i < NFIGS; i++)
		figs[i].name = figdefs[i].name;
	for (size_t i = 0; i < NFIGS; i++) {
		if (interrupted && interrupted())
			return plot_stop(rd, c.dir, figs, log, err, errlen);
		remove_outputs(c.dir, figdefs[i].name);
		int r = figdefs[i].write(&c, &figs[i]);
		if (r < 0) {
			remove_outputs(c.dir, figdefs[i].name); /* its data and script may be cut short */
			rundata_free(rd);
			return ERR_IO;
		}
		if (r > 0) {
			torun[nrun] = figdefs[i].name;
			idx[nrun++] = i;
		}
	}
	char fmts[16] = "";
	if (formats & PLOT_PNG)
		strcat(fmts, "png");
	if (formats & PLOT_SVG)
		strcat(fmts, fmts[0] ? " svg" : "svg");
	if (!fmts[0])
		strcpy(fmts, "png svg");

	int ok[NFIGS];
	char gerr[1024] = "";
	int failed = nrun ? gnuplot_run(c.dir, torun, nrun, fmts, 120, interrupted, ok, gerr, sizeof(gerr)) : 0;
	if (failed < 0) {
		/* the scripts that finished before the stop may still have drawn whole images */
		for (size_t k = 0; k < nrun; k++) {
			char e[1024];
			figs[idx[k]].drawn = ok[k] && gnuplot_outputs_check(c.dir, figs[idx[k]].name, fmts, e, sizeof(e)) == 0;
		}
		return plot_stop(rd, c.dir, figs, log, err, errlen);
	}
	/* gnuplot exits 0 even when it could not write its images: each is checked whole */
	char ioerr[1024] = "";
	for (size_t k = 0; k < nrun; k++) {
		struct report_fig *fg = &figs[idx[k]];
		char e[1024];
		int chk = gnuplot_outputs_check(c.dir, fg->name, fmts, e, sizeof(e)), have = chk == 0;
		/* a full disk, or images cut short by a gnuplot that said all was well: an I/O failure */
		if ((chk == -2 || (chk < 0 && ok[k])) && !ioerr[0])
			snprintf(ioerr, sizeof(ioerr), "%s", e);
		fg->drawn = ok[k] && have;
		if (!fg->drawn && !fg->note[0])
			snprintf(fg->note, sizeof(fg->note), "gnuplot did not draw it (plots/%s.gp, plots/%s.log)", fg->name,
			         fg->name);
		else if (!fg->drawn)
			snprintf(fg->note + strlen(fg->note), sizeof(fg->note) - strlen(fg->note),
			         "; gnuplot did not draw it (plots/%s.log)", fg->name);
	}
	if (log) {
		size_t drawn = 0;
		for (size_t i = 0; i < NFIGS; i++)
			drawn += figs[i].drawn ? 1u : 0u;
		fprintf(log, "plot: %zu figure%s in %s (%.2f s)\n", drawn, drawn == 1 ? "" : "s", c.dir, mono_s() - t0);
		for (size_t i = 0; i < NFIGS; i++)
			if (figs[i].note[0])
				fprintf(log, "plot: %s: %s%s\n", figs[i].name, figs[i].drawn ? "" : "left out: ", figs[i].note);
	}
	if (interrupted && interrupted())
		return plot_stop(rd, c.dir, figs, log, err, errlen);
	char rerr[1024];
	rc = report_write(rd, figs, NFIGS, rerr, sizeof(rerr));
	if (ioerr[0]) {
		/* the first file that could not be written is the one to name */
		snprintf(err, errlen, "%s", ioerr);
		rc = ERR_IO;
	} else if (rc != ERR_OK) {
		snprintf(err, errlen, "%s", rerr);
	} else {
		if (log)
			fprintf(log, "report: %s/report.html\n", rd->dir);
		if (failed) {
			snprintf(err, errlen, "%s", gerr);
			rc = ERR_INTERNAL;
		}
	}
	rundata_free(rd);
	return rc;
}
