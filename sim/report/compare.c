/* compare.c: variants matched by name across runs, with differences to the
 * first run, as a table and as grouped bar charts. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "compare.h"
#include "gnuplot.h"
#include "report.h"
#include "rundata.h"

#define MAX_RUNS 26

/* ---- metrics: one table, one line each ---- */

static double m_ok(struct rd_variant *v) { return (double)v->ok; }
static double m_failed_pct(struct rd_variant *v) { return v->rows ? 100.0 * (double)v->failed / (double)v->rows : NAN; }
static double m_wake50(struct rd_variant *v) { return samples_pct(&v->wake_ms, 50); }
static double m_wake90(struct rd_variant *v) { return samples_pct(&v->wake_ms, 90); }
static double m_wake99(struct rd_variant *v) { return samples_pct(&v->wake_ms, 99); }
static double m_e2e50(struct rd_variant *v) { return samples_pct(&v->e2e_ms, 50); }
static double m_e2e99(struct rd_variant *v) { return samples_pct(&v->e2e_ms, 99); }
static double m_ip_up(struct rd_variant *v) { return rd_total_mean(v, RD_T_IP_UP); }
static double m_ip_down(struct rd_variant *v) { return rd_total_mean(v, RD_T_IP_DOWN); }
static double m_plain_up(struct rd_variant *v) { return rd_total_mean(v, RD_T_PLAIN_UP); }
static double m_plain_down(struct rd_variant *v) { return rd_total_mean(v, RD_T_PLAIN_DOWN); }
static double m_segs_up(struct rd_variant *v) { return rd_total_mean(v, RD_T_SEGS_UP); }
static double m_segs_down(struct rd_variant *v) { return rd_total_mean(v, RD_T_SEGS_DOWN); }
static double m_cpu50(struct rd_variant *v) { return samples_pct(&v->cpu_us, 50); }
static double m_heap50(struct rd_variant *v) { return samples_pct(&v->heap_kib, 50); }
static double m_lost(struct rd_variant *v) { return v->lost; }

static double m_resumed_pct(struct rd_variant *v)
{
	uint64_t n = v->hs[0].n + v->hs[1].n;
	return n ? 100.0 * (double)v->hs[1].n / (double)n : NAN;
}

static double hs_bytes(struct rd_variant *v, int k)
{
	return v->hs[k].n ? (v->hs[k].ip_up + v->hs[k].ip_down) / (double)v->hs[k].n : NAN;
}
static double m_full_bytes(struct rd_variant *v) { return hs_bytes(v, 0); }
static double m_res_bytes(struct rd_variant *v) { return hs_bytes(v, 1); }
static double m_full_ms(struct rd_variant *v) { return samples_pct(&v->hs[0].t_ms, 50); }
static double m_res_ms(struct rd_variant *v) { return samples_pct(&v->hs[1].t_ms, 50); }
static double m_full_cpu(struct rd_variant *v) { return samples_pct(&v->hs[0].cpu_us, 50); }
static double m_res_cpu(struct rd_variant *v) { return samples_pct(&v->hs[1].cpu_us, 50); }

static const struct metric {
	const char *label;
	int prec;
	double (*get)(struct rd_variant *v);
} metrics[] = {
	{ "ok wakes", 0, m_ok },
	{ "failed %", 2, m_failed_pct },
	{ "wake p50 ms", 3, m_wake50 },
	{ "wake p90 ms", 3, m_wake90 },
	{ "wake p99 ms", 3, m_wake99 },
	{ "e2e p50 ms", 3, m_e2e50 },
	{ "e2e p99 ms", 3, m_e2e99 },
	{ "IP bytes up", 1, m_ip_up },
	{ "IP bytes down", 1, m_ip_down },
	{ "plaintext up", 1, m_plain_up },
	{ "plaintext down", 1, m_plain_down },
	{ "segments up", 2, m_segs_up },
	{ "segments down", 2, m_segs_down },
	{ "CPU p50 us", 1, m_cpu50 },
	{ "heap p50 KiB", 1, m_heap50 },
	{ "lost messages", 0, m_lost },
	{ "TLS resumed %", 1, m_resumed_pct },
	{ "TLS full hs bytes", 1, m_full_bytes },
	{ "TLS resumed hs bytes", 1, m_res_bytes },
	{ "TLS full hs p50 ms", 3, m_full_ms },
	{ "TLS resumed hs p50 ms", 3, m_res_ms },
	{ "TLS full hs CPU us", 1, m_full_cpu },
	{ "TLS resumed hs CPU us", 1, m_res_cpu },
};
#define NMETRICS (sizeof(metrics) / sizeof(metrics[0]))

/* The figure's four panels: metric index, panel title, y label. */
static const struct panel {
	size_t metric;
	const char *title, *ylabel;
} panels[] = {
	{ 2, "median wake time", "ms" },
	{ 5, "median end-to-end latency", "ms" },
	{ 7, "IP bytes up per wake (mean)", "bytes" },
	{ 8, "IP bytes down per wake (mean)", "bytes" },
};

struct cmp {
	int n;
	struct rundata *rd[MAX_RUNS];
	char **names; /* variants in order of first appearance */
	size_t nnames;
};

static int add_name(struct cmp *c, const char *name)
{
	for (size_t i = 0; i < c->nnames; i++)
		if (!strcmp(c->names[i], name))
			return 0;
	char **nn = realloc(c->names, (c->nnames + 1) * sizeof(*nn));
	if (!nn)
		return -1;
	c->names = nn;
	if (!(nn[c->nnames] = strdup(name)))
		return -1;
	c->nnames++;
	return 0;
}

static void fmt_num(char *buf, size_t len, double x, int prec)
{
	if (isnan(x))
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%.*f", prec, x);
}

static void fmt_diff(char *abs, char *pct, size_t len, double a, double b, int prec)
{
	if (isnan(a) || isnan(b)) {
		snprintf(abs, len, "-");
		snprintf(pct, len, "-");
		return;
	}
	double d = b - a;
	if (fabs(d) < 0.5 * pow(10, -prec))
		d = 0; /* no "-0.000" */
	snprintf(abs, len, "%+.*f", prec, d);
	if (a != 0)
		snprintf(pct, len, "%+.1f%%", 100.0 * d / fabs(a));
	else
		snprintf(pct, len, "%s", d == 0 ? "+0.0%" : "n/a");
}

/* Prints the whole comparison to F. */
static void print_tables(struct cmp *c, FILE *f)
{
	fputs("runs:\n", f);
	for (int r = 0; r < c->n; r++)
		fprintf(f, "  %c  %s  (%s: %zu variant%s, %llu wakes)\n", 'A' + r, c->rd[r]->dir, c->rd[r]->name,
		        c->rd[r]->nv, c->rd[r]->nv == 1 ? "" : "s", (unsigned long long)c->rd[r]->rows);
	fputs("differences are to run A: absolute, and in % of A\n", f);
	int lw = 22;
	for (size_t i = 0; i < c->nnames; i++) {
		const char *name = c->names[i];
		struct rd_variant *v[MAX_RUNS];
		int present = 0;
		char where[MAX_RUNS + 1];
		size_t nw = 0;
		for (int r = 0; r < c->n; r++) {
			v[r] = rundata_variant(c->rd[r], name);
			if (v[r]) {
				present++;
				where[nw++] = (char)('A' + r);
			}
		}
		where[nw] = 0;
		fprintf(f, "\nvariant \"%s\"", name);
		if (present < 2) {
			fprintf(f, ": only in %s\n", where);
			continue;
		}
		if (present < c->n)
			fprintf(f, " (in %s only)", where);
		fputc('\n', f);
		fprintf(f, "  %-*s %12s", lw, "metric", "A");
		for (int r = 1; r < c->n; r++)
			fprintf(f, " %12c %11c-A %9c-A %%", 'A' + r, 'A' + r, 'A' + r);
		fputc('\n', f);
		for (size_t m = 0; m < NMETRICS; m++) {
			double val[MAX_RUNS];
			int any = 0;
			for (int r = 0; r < c->n; r++) {
				val[r] = v[r] ? metrics[m].get(v[r]) : NAN;
				any |= !isnan(val[r]);
			}
			if (!any)
				continue;
			char a[32], b[32], d[32], p[32];
			fmt_num(a, sizeof(a), val[0], metrics[m].prec);
			fprintf(f, "  %-*s %12s", lw, metrics[m].label, a);
			for (int r = 1; r < c->n; r++) {
				fmt_num(b, sizeof(b), val[r], metrics[m].prec);
				fmt_diff(d, p, sizeof(d), val[0], val[r], metrics[m].prec);
				fprintf(f, " %12s %13s %11s", b, d, p);
			}
			fputc('\n', f);
		}
	}
}

/* compare.dat: per panel one block, rows = variants in two or more runs, columns = runs. */
static int write_figure(struct cmp *c, const char *dir, char *err, size_t errlen)
{
	char path[4400];
	snprintf(path, sizeof(path), "%s/compare.dat", dir);
	FILE *d = fopen(path, "w");
	if (!d) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	size_t rows = 0;
	fputs("# compare.dat: one block per panel of compare.gp; a row per variant, a column per run\n", d);
	for (size_t pn = 0; pn < sizeof(panels) / sizeof(panels[0]); pn++) {
		fprintf(d, "%s# %s, %s\n# variant", pn ? "\n\n" : "", panels[pn].title, panels[pn].ylabel);
		for (int r = 0; r < c->n; r++)
			fprintf(d, "\t%c", 'A' + r);
		fputc('\n', d);
		for (size_t i = 0; i < c->nnames; i++) {
			int present = 0;
			for (int r = 0; r < c->n; r++)
				present += rundata_variant(c->rd[r], c->names[i]) != NULL;
			if (present < 2)
				continue;
			if (!pn)
				rows++;
			for (const char *s = c->names[i]; *s; s++)
				fputc(*s == '\t' ? ' ' : *s, d);
			for (int r = 0; r < c->n; r++) {
				struct rd_variant *v = rundata_variant(c->rd[r], c->names[i]);
				double x = v ? metrics[panels[pn].metric].get(v) : NAN;
				if (isnan(x))
					fputs("\tNaN", d);
				else
					fprintf(d, "\t%.6g", x);
			}
			fputc('\n', d);
		}
	}
	if (gnuplot_file_close(d, path, err, errlen) != 0)
		return -1;
	if (!rows)
		return 0;
	static const char *const run_colors[] = { "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#b07aa1",
		                                  "#9c755f", "#76b7b2", "#edc948", "#ff9da7", "#bab0ac" };
	size_t w = 300 + rows * (size_t)(40 + 28 * c->n);
	w = w < 960 ? 960 : w > 2400 ? 2400 : w;
	FILE *gp = gnuplot_script_open(dir, "compare", "the same variants across runs, side by side", (int)w, 900,
	                               err, errlen);
	if (!gp)
		return -1;
	fputs("set multiplot layout 2,2 title \"Runs compared: the same variants side by side\" font \",14\"\n"
	      "set style data histograms\n"
	      "set style histogram clustered gap 1.5\n"
	      "set style fill solid 0.85 border rgb \"#444444\"\n"
	      "set yrange [0:*]\n"
	      "set offsets 0, 0, graph 0.08, 0\n"
	      "set key outside top center horizontal samplen 2\n",
	      gp);
	{
		const char *common[rows];
		size_t k = 0;
		for (size_t i = 0; i < c->nnames && k < rows; i++) {
			int present = 0;
			for (int r = 0; r < c->n; r++)
				present += rundata_variant(c->rd[r], c->names[i]) != NULL;
			if (present >= 2)
				common[k++] = c->names[i];
		}
		gnuplot_xtics(gp, common, k, (int)w / 2);
	}
	for (size_t pn = 0; pn < sizeof(panels) / sizeof(panels[0]); pn++) {
		fprintf(gp, "set title \"%s\"\nset ylabel \"%s\"\nplot ", panels[pn].title, panels[pn].ylabel);
		for (int r = 0; r < c->n; r++) {
			const char *base = strrchr(c->rd[r]->dir, '/');
			char t[300];
			snprintf(t, sizeof(t), "%c: %.250s", 'A' + r, base ? base + 1 : c->rd[r]->dir);
			if (r == 0)
				fprintf(gp, "'compare.dat' index %zu using 2", pn);
			else
				fprintf(gp, ", \\\n     '' index %zu using %d", pn, r + 2);
			fputs(" title ", gp);
			gnuplot_quote(gp, t);
			fprintf(gp, " lc rgb '%s'", run_colors[r % 10]);
		}
		fputc('\n', gp);
	}
	fputs("unset multiplot\n", gp);
	return gnuplot_script_close(gp, dir, "compare", err, errlen) == 0 ? 1 : -1;
}

static enum dormant_err write_html(struct cmp *c, const char *dir, const char *table, int drawn, char *err,
                                   size_t errlen)
{
	char tmp[4400], path[4400];
	snprintf(tmp, sizeof(tmp), "%s/.compare.html.tmp", dir);
	snprintf(path, sizeof(path), "%s/compare.html", dir);
	FILE *f = fopen(tmp, "w");
	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return ERR_IO;
	}
	report_head(f, "dormant: runs compared");
	fputs("<header><h1>Runs compared</h1><p class=\"sub\">", f);
	for (int r = 0; r < c->n; r++) {
		fprintf(f, "%s<b>%c</b> ", r ? " · " : "", 'A' + r);
		report_esc(f, c->rd[r]->dir);
	}
	fputs("</p></header>\n", f);
	if (drawn) {
		struct report_fig fig = { .name = "compare", .drawn = 1 };
		snprintf(fig.title, sizeof(fig.title), "The same variants across runs");
		snprintf(fig.caption, sizeof(fig.caption),
		         "One bar per run for each variant found in two or more runs: median wake time, median "
		         "end-to-end latency, and mean IP bytes per wake up and down.");
		fputs("<section><div class=\"figs\">\n", f);
		report_figure(f, dir, ".", &fig, 1);
		fputs("</div></section>\n", f);
	}
	fputs("<section><h2>Differences</h2>\n<pre>", f);
	report_esc(f, table);
	fputs("</pre></section>\n", f);
	report_tail(f);
	int bad = ferror(f);
	errno = 0;
	if (fclose(f) != 0 || bad || rename(tmp, path) != 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno ? errno : EIO));
		unlink(tmp); /* never left behind */
		return ERR_IO;
	}
	return ERR_OK;
}

enum dormant_err compare_run(int n, char *const *rundirs, const char *outdir, FILE *out, char *err, size_t errlen)
{
	if (n < 2 || n > MAX_RUNS) {
		snprintf(err, errlen, "compare needs 2 to %d run directories, got %d", MAX_RUNS, n);
		return ERR_USAGE;
	}
	struct cmp c = { .n = n };
	enum dormant_err rc = ERR_OK;
	char *table = NULL;
	size_t tlen = 0;
	for (int r = 0; r < n && rc == ERR_OK; r++)
		rc = rundata_load(rundirs[r], &c.rd[r], err, errlen);
	for (int r = 0; r < n && rc == ERR_OK; r++)
		for (size_t i = 0; i < c.rd[r]->nv && rc == ERR_OK; i++)
			if (add_name(&c, c.rd[r]->v[i].name) != 0) {
				snprintf(err, errlen, "out of memory");
				rc = ERR_NOMEM;
			}
	if (rc != ERR_OK)
		goto out;

	FILE *mem = open_memstream(&table, &tlen);
	if (!mem) {
		snprintf(err, errlen, "out of memory");
		rc = ERR_NOMEM;
		goto out;
	}
	print_tables(&c, mem);
	fclose(mem);
	if (out) {
		fputs(table, out);
		fflush(out);
	}

	char dir[4096];
	if (outdir) {
		snprintf(dir, sizeof(dir), "%s", outdir);
	} else {
		char parent[4096];
		snprintf(parent, sizeof(parent), "%s", c.rd[0]->dir);
		char *slash = strrchr(parent, '/');
		if (slash)
			*slash = 0;
		else
			snprintf(parent, sizeof(parent), ".");
		time_t now = time(NULL);
		struct tm tm;
		gmtime_r(&now, &tm);
		char stamp[32];
		strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
		snprintf(dir, sizeof(dir), "%.4000s/compare-%s", parent, stamp);
	}
	if (report_mkdirs(dir) != 0) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		rc = ERR_IO;
		goto out;
	}
	char path[4400];
	snprintf(path, sizeof(path), "%s/compare.txt", dir);
	FILE *t = fopen(path, "w");
	if (!t) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		rc = ERR_IO;
		goto out;
	}
	fputs(table, t);
	if (gnuplot_file_close(t, path, err, errlen) != 0) {
		rc = ERR_IO;
		goto out;
	}
	int fig = write_figure(&c, dir, err, errlen);
	if (fig < 0) {
		rc = ERR_IO;
		goto out;
	}
	int drawn = 0;
	char gerr[1024] = "";
	if (fig > 0) {
		const char *names[] = { "compare" };
		int ok = 0;
		drawn = gnuplot_run(dir, names, 1, "png svg", 120, NULL, &ok, gerr, sizeof(gerr)) == 0 && ok;
		/* gnuplot exits 0 when it could not write its images: a cut one is an I/O failure */
		char ioerr[1024];
		int chk = gnuplot_outputs_check(dir, "compare", "png svg", ioerr, sizeof(ioerr));
		drawn = drawn && chk == 0;
		if (chk == -2 || (ok && chk < 0)) {
			snprintf(err, errlen, "%s", ioerr);
			rc = ERR_IO;
			goto out;
		}
	}
	rc = write_html(&c, dir, table, drawn, err, errlen);
	if (rc != ERR_OK)
		goto out;
	if (out) {
		fprintf(out, "\ncompare: %s/compare.txt%s\nreport: %s/compare.html\n", dir,
		        drawn ? ", compare.png, compare.svg" : "", dir);
		if (!fig)
			fprintf(out, "compare: no variant is in two runs: no figure\n");
	}
	if (fig > 0 && !drawn) {
		snprintf(err, errlen, "%s", gerr[0] ? gerr : "gnuplot did not draw compare.gp");
		rc = ERR_INTERNAL;
	}
out:
	for (int r = 0; r < n; r++)
		rundata_free(c.rd[r]);
	for (size_t i = 0; i < c.nnames; i++)
		free(c.names[i]);
	free(c.names);
	free(table);
	return rc;
}
