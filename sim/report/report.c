/* report.c: report.html, a self-contained page: tables, inline SVG figures,
 * the scenario and the environment. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mbedtls/base64.h>

#include "report.h"

static const char css[] =
	":root{--fg:#1d232a;--muted:#5b6570;--line:#d8dde3;--bg:#ffffff;--head:#f2f4f7;--accent:#2f5d8a;"
	"--warn:#9a3412}\n"
	"*{box-sizing:border-box}\n"
	"html{-webkit-text-size-adjust:100%}\n"
	"body{margin:0;font:15px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;"
	"color:var(--fg);background:var(--bg)}\n"
	"main{max-width:1680px;margin:0 auto;padding:16px clamp(10px,3vw,40px) 40px}\n"
	"h1{font-size:1.6rem;margin:.3em 0 .1em;line-height:1.2}\n"
	"h2{font-size:1.25rem;margin:1.8em 0 .6em;padding-bottom:.2em;border-bottom:1px solid var(--line)}\n"
	"h3{font-size:1.05rem;margin:1.2em 0 .4em}\n"
	"p{margin:.4em 0;max-width:75em}\n"
	"a{color:var(--accent)}\n"
	".sub{color:var(--muted);margin:0}\n"
	"nav{margin:.8em 0;display:flex;flex-wrap:wrap;gap:.4em 1.2em}\n"
	".scroll{overflow-x:auto;-webkit-overflow-scrolling:touch;border:1px solid var(--line);border-radius:6px}\n"
	"table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums;font-size:.92rem}\n"
	"th,td{padding:5px 10px;text-align:right;white-space:nowrap;border-bottom:1px solid var(--line)}\n"
	"thead th{background:var(--head);font-weight:600;vertical-align:bottom}\n"
	"th.grp{text-align:center;border-left:1px solid var(--line)}\n"
	"td.l,th.l{text-align:left}\n"
	"td.b{border-left:1px solid var(--line)}\n"
	"tbody tr:nth-child(even) td{background:#fafbfc}\n"
	"tbody td:first-child{position:sticky;left:0;background:var(--bg);font-weight:600}\n"
	"tbody tr:nth-child(even) td:first-child{background:#fafbfc}\n"
	".warn{color:var(--warn)}\n"
	".figs{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,620px),1fr));gap:22px}\n"
	"figure{margin:0;padding:10px;border:1px solid var(--line);border-radius:6px;background:#fff;min-width:0}\n"
	"figure .img{overflow-x:auto;-webkit-overflow-scrolling:touch}\n"
	"figure.wide{grid-column:1/-1}\n"
	"figure svg,figure img{display:block;width:100%;height:auto}\n"
	"figcaption{color:var(--muted);font-size:.9rem;margin-top:8px}\n"
	"figcaption b{color:var(--fg)}\n"
	".files{font-size:.85rem;margin-top:4px}\n"
	"pre{overflow-x:auto;background:var(--head);padding:12px;border-radius:6px;font-size:.85rem;line-height:1.4}\n"
	"ul.notes{padding-left:1.2em;color:var(--muted)}\n"
	"table.kv td{text-align:left;white-space:normal;word-break:break-word}\n"
	"table.kv td:first-child{white-space:nowrap;font-weight:normal;color:var(--muted)}\n"
	"footer{margin-top:3em;color:var(--muted);font-size:.85rem}\n"
	"@media (max-width:640px){body{font-size:14px}th,td{padding:4px 6px}h1{font-size:1.3rem}"
	"tbody td:first-child{white-space:normal;min-width:7em;max-width:10em}"
	"figure svg,figure img{min-width:560px}figure{padding:6px}}\n"
	"@media print{.files,nav{display:none}figure{break-inside:avoid}}\n";

int report_mkdirs(const char *path)
{
	char buf[4096];
	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(buf, 0755) != 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return mkdir(buf, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

void report_esc(FILE *f, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '&': fputs("&amp;", f); break;
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '"': fputs("&quot;", f); break;
		default: fputc(*s, f);
		}
	}
}

void report_head(FILE *f, const char *title)
{
	fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
	      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>",
	      f);
	report_esc(f, title);
	fprintf(f, "</title>\n<style>\n%s</style>\n</head>\n<body>\n<main>\n", css);
}

void report_tail(FILE *f)
{
	fputs("</main>\n</body>\n</html>\n", f);
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	struct stat st;
	if (fstat(fileno(f), &st) != 0 || st.st_size <= 0 || st.st_size > (64 << 20)) {
		fclose(f);
		return NULL;
	}
	char *buf = malloc((size_t)st.st_size + 1);
	size_t n = buf ? fread(buf, 1, (size_t)st.st_size, f) : 0;
	fclose(f);
	if (!buf)
		return NULL;
	buf[n] = 0;
	*len = n;
	return buf;
}

/* The canvas width gnuplot gave an SVG (width="N" on its root), or 0. */
static int svg_width(const char *svg)
{
	const char *p = strstr(svg, "<svg");
	const char *w = p ? strstr(p, "width=\"") : NULL;
	const char *end = p ? strchr(p, '>') : NULL;
	if (!w || !end || w > end)
		return 0;
	long n = strtol(w + 7, NULL, 10);
	return n > 0 && n < 100000 ? (int)n : 0;
}

/* gnuplot's SVG from its <svg> element on, each id and reference to one
 * prefixed with "fSEQ-", so several figures share a page without their
 * definitions (gpPt0, gnuplot_canvas, ...) colliding. */
static int inline_svg(FILE *f, char *svg, int seq, const char *title)
{
	char *p = strstr(svg, "<svg");
	if (!p)
		return -1;
	char pre[16];
	snprintf(pre, sizeof(pre), "f%d-", seq);
	static const char *const marks[] = { "id=\"", "id='", "href=\"#", "href='#", "url(#" };
	while (*p) {
		if (!strncmp(p, "<title>", 7)) {
			char *e = strstr(p, "</title>");
			if (e) {
				fputs("<title>", f);
				report_esc(f, title);
				fputs("</title>", f);
				p = e + 8;
				continue;
			}
		}
		int hit = 0;
		for (size_t m = 0; m < sizeof(marks) / sizeof(marks[0]); m++) {
			size_t ml = strlen(marks[m]);
			/* id= must start an attribute, not end one like "clip-pathid=" */
			if (!strncmp(p, marks[m], ml) && (m > 1 || p == svg || p[-1] == ' ' || p[-1] == '\t' || p[-1] == '\n')) {
				fwrite(p, 1, ml, f);
				fputs(pre, f);
				p += ml;
				hit = 1;
				break;
			}
		}
		if (!hit)
			fputc(*p++, f);
	}
	return 0;
}

/* S as base64 (mbedTLS's encoder); 0, or -1 when out of memory. */
static int base64(FILE *f, const unsigned char *s, size_t n)
{
	size_t need = 4 * ((n + 2) / 3) + 1, olen = 0;
	unsigned char *out = malloc(need);
	if (!out || mbedtls_base64_encode(out, need, &olen, s, n) != 0) {
		free(out);
		return -1;
	}
	fwrite(out, 1, olen, f);
	free(out);
	return 0;
}

void report_figure(FILE *f, const char *plotdir, const char *linkdir, const struct report_fig *fig, int seq)
{
	char path[4400];
	size_t len;
	snprintf(path, sizeof(path), "%s/%s.svg", plotdir, fig->name);
	char *svg = slurp(path, &len);
	/* a figure drawn wide (many variants) takes a whole row of the grid */
	fprintf(f, "<figure id=\"fig-%s\"%s><div class=\"img\">", fig->name,
	        svg && svg_width(svg) > 1100 ? " class=\"wide\"" : "");
	int shown = svg && inline_svg(f, svg, seq, fig->title) == 0;
	free(svg);
	snprintf(path, sizeof(path), "%s/%s.png", plotdir, fig->name);
	if (!shown) {
		char *png = slurp(path, &len);
		if (png) {
			fputs("<img alt=\"", f);
			report_esc(f, fig->title);
			fputs("\" src=\"data:image/png;base64,", f);
			shown = base64(f, (const unsigned char *)png, len) == 0;
			fputs("\">", f);
			free(png);
		}
	}
	if (!shown)
		fputs("<p class=\"warn\">(image missing)</p>", f);
	fputs("</div>\n<figcaption><b>", f);
	report_esc(f, fig->title);
	fputs(".</b> ", f);
	report_esc(f, fig->caption);
	if (fig->note[0]) {
		fputs(" <i>", f);
		report_esc(f, fig->note);
		fputs(".</i>", f);
	}
	fputs("\n<div class=\"files\">", f);
	static const char *const exts[] = { "png", "svg", "gp", "dat" };
	static const char *const what[] = { "PNG", "SVG", "gnuplot script", "data" };
	for (size_t i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "%s/%s.%s", plotdir, fig->name, exts[i]);
		struct stat st;
		if (stat(path, &st) != 0)
			continue;
		fprintf(f, "%s<a href=\"%s/", i ? " · " : "", linkdir);
		report_esc(f, fig->name);
		fprintf(f, ".%s\">%s</a>", exts[i], what[i]);
	}
	fputs("</div></figcaption>\n</figure>\n", f);
}

/* ---- the run report ---- */

static void td_num(FILE *f, double x, int prec, int border)
{
	fprintf(f, "<td%s>", border ? " class=\"b\"" : "");
	if (isnan(x))
		fputs("–", f);
	else
		fprintf(f, "%.*f", prec, x);
	fputs("</td>", f);
}

static int prec_for(double x)
{
	double a = fabs(x);
	return isnan(a) ? 0 : a >= 100 ? 0 : a >= 10 ? 1 : a >= 1 ? 2 : 3;
}

static void td_auto(FILE *f, double x, int border) { td_num(f, x, prec_for(x), border); }

static void summary_table(FILE *f, struct rundata *rd)
{
	int heap = 0, msgs = rd->summary != NULL;
	for (size_t i = 0; i < rd->nv; i++)
		heap |= rd->v[i].heap_kib.n > 0;
	fputs("<div class=\"scroll\"><table>\n<thead><tr><th class=\"l\" rowspan=\"2\">variant</th>"
	      "<th class=\"grp\" colspan=\"4\">wakes</th><th class=\"grp\" colspan=\"3\">wake time, ms</th>"
	      "<th class=\"grp\" colspan=\"2\">end-to-end, ms</th><th class=\"grp\" colspan=\"2\">IP bytes / wake</th>"
	      "<th class=\"grp\" colspan=\"2\">plaintext bytes / wake</th><th class=\"grp\" colspan=\"2\">segments / wake</th>"
	      "<th class=\"grp\" colspan=\"1\">CPU µs</th>",
	      f);
	if (heap)
		fprintf(f, "<th class=\"grp\">%s KiB</th>", !strncmp(rd->heap_col, "tls_", 4) ? "TLS heap" : "heap");
	if (msgs)
		fputs("<th class=\"grp\" colspan=\"3\">messages</th>", f);
	fputs("</tr>\n<tr><th class=\"grp\">ok</th><th>expected</th><th>failed</th><th>late</th>"
	      "<th class=\"grp\">p50</th><th>p90</th><th>p99</th><th class=\"grp\">p50</th><th>p99</th>"
	      "<th class=\"grp\">up</th><th>down</th><th class=\"grp\">up</th><th>down</th>"
	      "<th class=\"grp\">up</th><th>down</th><th class=\"grp\">p50</th>",
	      f);
	if (heap)
		fputs("<th class=\"grp\">p50</th>", f);
	if (msgs)
		fputs("<th class=\"grp\">received</th><th>lost</th><th>dup</th>", f);
	fputs("</tr></thead>\n<tbody>\n", f);
	for (size_t i = 0; i < rd->nv; i++) {
		struct rd_variant *v = &rd->v[i];
		fputs("<tr><td class=\"l\">", f);
		report_esc(f, v->name);
		if (v->interrupted)
			fputs(" <span class=\"warn\">(interrupted)</span>", f);
		fputs("</td>", f);
		td_num(f, (double)v->ok, 0, 1);
		td_num(f, v->expected, 0, 0);
		fprintf(f, "<td%s>%llu</td>", v->failed ? " class=\"warn\"" : "", (unsigned long long)v->failed);
		td_num(f, v->late, 0, 0);
		td_auto(f, samples_pct(&v->wake_ms, 50), 1);
		td_auto(f, samples_pct(&v->wake_ms, 90), 0);
		td_auto(f, samples_pct(&v->wake_ms, 99), 0);
		td_auto(f, samples_pct(&v->e2e_ms, 50), 1);
		td_auto(f, samples_pct(&v->e2e_ms, 99), 0);
		td_num(f, rd_total_mean(v, RD_T_IP_UP), 0, 1);
		td_num(f, rd_total_mean(v, RD_T_IP_DOWN), 0, 0);
		td_num(f, rd_total_mean(v, RD_T_PLAIN_UP), 0, 1);
		td_num(f, rd_total_mean(v, RD_T_PLAIN_DOWN), 0, 0);
		td_num(f, rd_total_mean(v, RD_T_SEGS_UP), 1, 1);
		td_num(f, rd_total_mean(v, RD_T_SEGS_DOWN), 1, 0);
		td_num(f, samples_pct(&v->cpu_us, 50), 0, 1);
		if (heap)
			td_auto(f, samples_pct(&v->heap_kib, 50), 1);
		if (msgs) {
			td_num(f, v->received, 0, 1);
			fprintf(f, "<td%s>", v->lost > 0 ? " class=\"warn\"" : "");
			if (isnan(v->lost))
				fputs("–", f);
			else
				fprintf(f, "%.0f", v->lost);
			fputs("</td>", f);
			td_num(f, v->dups, 0, 0);
		}
		fputs("</tr>\n", f);
	}
	fputs("</tbody></table></div>\n", f);
	/* a variant that fell behind its schedule says so here too, never only in a column */
	for (size_t i = 0; i < rd->nv; i++) {
		struct rd_variant *v = &rd->v[i];
		if (!v->limit[0] || !strcmp(v->limit, "none"))
			continue;
		fputs("<p class=\"warn\">", f);
		report_esc(f, v->name);
		fprintf(f, ": behind its schedule: %.0f of %.0f wakes started late (p99 %.0f ms), %.1f wakes/s achieved of "
		        "%.1f scheduled", v->late, v->expected, v->lag_p99_ms, v->achieved_per_s, v->scheduled_per_s);
		if (v->not_started > 0)
			fprintf(f, "; %.0f not started (overrun: stop)", v->not_started);
		fputs(". Limit: ", f);
		report_esc(f, v->sched_why);
		fputs(".</p>\n", f);
	}
	fputs("<p class=\"sub\">Times and bytes are over successful wakes. <b>wake</b>: adapter start to connection "
	      "closed and accounted; <b>end-to-end</b>: publish call to arrival at the backend (slowest message of "
	      "the wake); <b>IP bytes</b> include IPv4 and TCP headers; <b>plaintext</b>: what the protocol stack "
	      "wrote and read; <b>CPU</b>: client library and adapter, on wakes that ran alone; <b>late</b>: wakes "
	      "that started more than 10 ms after their slot; <b>lost</b>: acknowledged (or, at QoS 0, written) but "
	      "never received.</p>\n",
	      f);
}

/* What checking for commands costs, and how long commands waited. */
static void downlink_table(FILE *f, struct rundata *rd)
{
	int d = -1;
	for (int p = 0; p < RD_PHASES; p++)
		if (!strcmp(rd_phase_names[p], "downlink"))
			d = p;
	fputs("<h3 id=\"downlink\">Downlink: commands</h3>\n<div class=\"scroll\"><table>\n<thead><tr>"
	      "<th class=\"l\" rowspan=\"2\">variant</th><th class=\"grp\" colspan=\"5\">commands</th>"
	      "<th class=\"grp\" colspan=\"2\">delay, ms</th><th class=\"grp\" colspan=\"2\">plaintext bytes / wake</th>"
	      "<th class=\"grp\" colspan=\"2\">IP bytes / wake</th></tr>\n<tr><th class=\"grp\">checks</th><th>sent</th>"
	      "<th>received</th><th>pending</th><th>dropped</th><th class=\"grp\">p50</th><th>p99</th><th class=\"grp\">up</th><th>down</th>"
	      "<th class=\"grp\">up</th><th>down</th></tr></thead>\n<tbody>\n",
	      f);
	for (size_t i = 0; i < rd->nv; i++) {
		struct rd_variant *v = &rd->v[i];
		if (!(v->polls > 0) || d < 0 || !v->ok)
			continue;
		double n = (double)v->ok;
		fputs("<tr><td class=\"l\">", f);
		report_esc(f, v->name);
		fputs("</td>", f);
		td_num(f, v->polls, 0, 1);
		td_num(f, v->cmd_issued, 0, 0);
		td_num(f, (double)v->commands, 0, 0);
		td_num(f, v->cmd_pending, 0, 0);
		td_num(f, v->cmd_dropped, 0, 0);
		td_auto(f, samples_pct(&v->cmd_delay_ms, 50), 1);
		td_auto(f, samples_pct(&v->cmd_delay_ms, 99), 0);
		td_num(f, v->ph[d][RD_PLAIN_UP] / n, 0, 1);
		td_num(f, v->ph[d][RD_PLAIN_DOWN] / n, 0, 0);
		td_num(f, v->ph[d][RD_IP_UP] / n, 0, 1);
		td_num(f, v->ph[d][RD_IP_DOWN] / n, 0, 0);
		fputs("</tr>\n", f);
	}
	fputs("</tbody></table></div>\n<p class=\"sub\">The downlink phase of every wake that checked: MQTT's "
	      "commands come with its persistent session (nothing to ask), AMQP's through a receiver link, HTTP's "
	      "by a GET poll. <b>delay</b>: from the backend's publish to the device's receipt; commands wait for "
	      "the device's next wake. <b>pending</b>: still queued for the device at the end, issued after its "
	      "last wake began. <b>dropped</b>: dropped by the broker: no session for the device yet. An MQTT "
	      "broker keeps a command only for a session that holds the subscription when the command comes; "
	      "with <code>session: before-window</code> (the default, as for a deployed device) each device's "
	      "session is made before the window on a set-up connection that is not a wake, with "
	      "<code>session: first-wake</code> only at its first wake's SUBACK. AMQP's queues and HTTP's ingest "
	      "keep commands per device from before the window. issued = received + pending + dropped.</p>\n",
	      f);
	for (size_t i = 0; i < rd->nv; i++) {
		struct rd_variant *v = &rd->v[i];
		if (!(v->polls > 0) || !(v->cmd_dropped > 0))
			continue;
		fputs("<p class=\"sub\">", f);
		report_esc(f, v->name);
		fprintf(f, ": %.0f of %.0f commands dropped by the broker: no session for the device yet (issued "
		        "before its first subscription).</p>\n", v->cmd_dropped, v->cmd_issued);
	}
}

static void tls_table(FILE *f, struct rundata *rd)
{
	fputs("<h3 id=\"tls\">TLS handshakes</h3>\n<div class=\"scroll\"><table>\n<thead><tr><th class=\"l\" "
	      "rowspan=\"2\">variant</th><th class=\"grp\" colspan=\"3\">handshakes</th>"
	      "<th class=\"grp\" colspan=\"4\">full: bytes up / down</th>"
	      "<th class=\"grp\" colspan=\"4\">resumed: bytes up / down</th>"
	      "<th class=\"grp\" colspan=\"2\">time p50, ms</th><th class=\"grp\" colspan=\"2\">CPU p50, µs</th>"
	      "<th class=\"grp\" colspan=\"2\">TLS heap p50, KiB</th><th class=\"grp\">session</th></tr>\n"
	      "<tr><th class=\"grp\">full</th><th>resumed</th><th>refused</th>"
	      "<th class=\"grp\">IP</th><th></th><th>records</th><th></th>"
	      "<th class=\"grp\">IP</th><th></th><th>records</th><th></th>"
	      "<th class=\"grp\">full</th><th>resumed</th><th class=\"grp\">full</th><th>resumed</th>"
	      "<th class=\"grp\">full</th><th>resumed</th><th class=\"grp\">bytes</th></tr></thead>\n<tbody>\n",
	      f);
	for (size_t i = 0; i < rd->nv; i++) {
		struct rd_variant *v = &rd->v[i];
		if (!(v->hs[0].n + v->hs[1].n))
			continue;
		fputs("<tr><td class=\"l\">", f);
		report_esc(f, v->name);
		fputs("</td>", f);
		td_num(f, (double)v->hs[0].n, 0, 1);
		td_num(f, (double)v->hs[1].n, 0, 0);
		td_num(f, rd->has & RD_HAS_REFUSED ? (double)v->resume_refused : NAN, 0, 0);
		for (int k = 0; k < 2; k++) {
			double n = (double)v->hs[k].n;
			td_num(f, n ? v->hs[k].ip_up / n : NAN, 0, 1);
			td_num(f, n ? v->hs[k].ip_down / n : NAN, 0, 0);
			td_num(f, n ? v->hs[k].rec_up / n : NAN, 0, 0);
			td_num(f, n ? v->hs[k].rec_down / n : NAN, 0, 0);
		}
		td_auto(f, samples_pct(&v->hs[0].t_ms, 50), 1);
		td_auto(f, samples_pct(&v->hs[1].t_ms, 50), 0);
		td_num(f, samples_pct(&v->hs[0].cpu_us, 50), 0, 1);
		td_num(f, samples_pct(&v->hs[1].cpu_us, 50), 0, 0);
		td_auto(f, samples_pct(&v->hs[0].heap_kib, 50), 1);
		td_auto(f, samples_pct(&v->hs[1].heap_kib, 50), 0);
		struct samples all = { 0 };
		for (int k = 0; k < 2; k++)
			for (size_t j = 0; j < v->hs[k].session_b.n; j++)
				samples_add(&all, v->hs[k].session_b.v[j]);
		td_num(f, samples_pct(&all, 50), 0, 1);
		samples_free(&all);
		fputs("</tr>\n", f);
	}
	fputs("</tbody></table></div>\n<p class=\"sub\">A wake counts as <b>resumed</b> only with proof (the server "
	      "echoed the offered session and sent no Certificate). <b>IP</b>: the tls phase at the IP level; "
	      "<b>records</b>: TLS record bytes on the stream. <b>refused</b>: a session was offered and the server "
	      "made a full handshake instead.</p>\n",
	      f);
}

static void failures_table(FILE *f, struct rundata *rd)
{
	fputs("<h3 id=\"failures\">Failed wakes</h3>\n<div class=\"scroll\"><table>\n<thead><tr><th class=\"l\">variant"
	      "</th><th class=\"l\">kind</th><th>wakes</th><th>share</th><th class=\"l\">first detail</th></tr></thead>\n"
	      "<tbody>\n",
	      f);
	for (size_t i = 0; i < rd->nv; i++) {
		struct rd_variant *v = &rd->v[i];
		for (size_t k = 0; k < rd->nkinds; k++) {
			if (!v->fails[k])
				continue;
			fputs("<tr><td class=\"l\">", f);
			report_esc(f, v->name);
			fputs("</td><td class=\"l\">", f);
			report_esc(f, rd->kinds[k]);
			fprintf(f, "</td><td>%llu</td><td>%.1f %%</td><td class=\"l\">", (unsigned long long)v->fails[k],
			        v->rows ? 100.0 * (double)v->fails[k] / (double)v->rows : 0.0);
			report_esc(f, v->fail_example[k]);
			fputs("</td></tr>\n", f);
		}
	}
	fputs("</tbody></table></div>\n", f);
}

static void kv_rows(FILE *f, const json_t *j, const char *prefix);

static void kv_row(FILE *f, const json_t *k, const char *key)
{
	if (json_is_object(k) || json_is_array(k)) {
		kv_rows(f, k, key);
		return;
	}
	fputs("<tr><td>", f);
	report_esc(f, key);
	fputs("</td><td>", f);
	if (json_is_string(k))
		report_esc(f, json_string_value(k));
	else if (json_is_number(k))
		fprintf(f, "%.10g", json_number_value(k));
	else if (json_is_boolean(k))
		fputs(json_is_true(k) ? "true" : "false", f);
	else
		fputs("null", f);
	fputs("</td></tr>\n", f);
}

/* Every leaf of J as a row, its key the path to it ("tcp · rmem[1]"), in file order. */
static void kv_rows(FILE *f, const json_t *j, const char *prefix)
{
	char key[512];
	if (json_is_object(j)) {
		const char *name;
		json_t *k;
		json_object_foreach ((json_t *)j, name, k) {
			snprintf(key, sizeof(key), "%s%s%s", prefix, prefix[0] ? " · " : "", name);
			kv_row(f, k, key);
		}
	} else if (json_is_array(j)) {
		for (size_t i = 0; i < json_array_size(j); i++) {
			snprintf(key, sizeof(key), "%s[%zu]", prefix, i);
			kv_row(f, json_array_get(j, i), key);
		}
	}
}

/* The sections `dormant recommend` left in DIR/recommend/NAME/section.html,
 * by name (scandir's sort): each deployment recommended from this run shows
 * on its report. Returns how many; with F NULL only counts them. */
static int recommend_sections(FILE *f, const char *dir)
{
	char rdir[4300];
	snprintf(rdir, sizeof(rdir), "%s/recommend", dir);
	struct dirent **ents = NULL;
	int n = scandir(rdir, &ents, NULL, alphasort);
	if (n < 0)
		return 0;
	int found = 0;
	for (int i = 0; i < n; i++) {
		char path[4600];
		size_t len = 0;
		char *sec = NULL;
		if (ents[i]->d_name[0] != '.') {
			snprintf(path, sizeof(path), "%s/%s/section.html", rdir, ents[i]->d_name);
			sec = slurp(path, &len);
		}
		if (sec) {
			found++;
			if (f)
				fwrite(sec, 1, len, f);
			free(sec);
		}
		free(ents[i]);
	}
	free(ents);
	return found;
}

enum dormant_err report_write(struct rundata *rd, const struct report_fig *figs, size_t nfigs, char *err,
                              size_t errlen)
{
	char tmp[4300], path[4300], plotdir[4300];
	snprintf(tmp, sizeof(tmp), "%s/.report.html.tmp", rd->dir);
	snprintf(path, sizeof(path), "%s/report.html", rd->dir);
	snprintf(plotdir, sizeof(plotdir), "%s/plots", rd->dir);
	FILE *f = fopen(tmp, "w");
	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return ERR_IO;
	}
	const char *base = strrchr(rd->dir, '/');
	base = base ? base + 1 : rd->dir;
	char title[300];
	snprintf(title, sizeof(title), "dormant: %s", rd->name);
	report_head(f, title);
	fputs("<header><h1>", f);
	report_esc(f, rd->name);
	fputs("</h1><p class=\"sub\">run ", f);
	report_esc(f, base);
	fprintf(f, " · %zu variant%s · %llu wakes", rd->nv, rd->nv == 1 ? "" : "s", (unsigned long long)rd->rows);
	const char *ver = json_str_at(rd->env, "dormant", NULL);
	if (ver) {
		fputs(" · dormant ", f);
		report_esc(f, ver);
	}
	const char *kernel = json_str_at(rd->env, "kernel", NULL), *cpu = json_str_at(rd->env, "cpu", NULL);
	if (kernel) {
		fputs(" · ", f);
		report_esc(f, kernel);
	}
	if (cpu) {
		fputs(" · ", f);
		report_esc(f, cpu);
	}
	fputs("</p></header>\n<nav><a href=\"#summary\">Summary</a>", f);
	if (rd->any_tls)
		fputs("<a href=\"#tls\">TLS</a>", f);
	int anypoll = 0;
	for (size_t i = 0; i < rd->nv; i++)
		anypoll |= rd->v[i].polls > 0;
	if (anypoll)
		fputs("<a href=\"#downlink\">Downlink</a>", f);
	int anyfail = 0;
	for (size_t i = 0; i < rd->nv; i++)
		anyfail |= rd->v[i].failed > 0;
	if (anyfail)
		fputs("<a href=\"#failures\">Failures</a>", f);
	int nrec = recommend_sections(NULL, rd->dir);
	if (nrec)
		fputs("<a href=\"#recommend\">Recommendations</a>", f);
	fputs("<a href=\"#figures\">Figures</a><a href=\"#scenario\">Scenario</a><a href=\"#env\">Environment</a>"
	      "</nav>\n",
	      f);
	if (!rd->summary) {
		fputs("<p class=\"warn\">summary.json is missing or unreadable (an interrupted run?): expected wakes and "
		      "message counts are not shown; everything else comes from wakes.csv. (",
		      f);
		report_esc(f, rd->summary_err);
		fputs(")</p>\n", f);
	}

	fputs("<section id=\"summary\"><h2>Summary</h2>\n", f);
	summary_table(f, rd);
	/* wakes.csv marks rows whose IP figures TCP_INFO could not make exact: say how many, where */
	for (size_t i = 0; i < rd->nv; i++) {
		const struct rd_variant *v = &rd->v[i];
		if (v->ip_lower_bound) {
			fputs("<p class=\"warn\">", f);
			report_esc(f, v->name);
			fprintf(f, ": the IP bytes of %llu of %llu wakes are lower bounds (<code>ip_lower_bound</code>: the "
			           "server sent a segment twice, which TCP_INFO does not count).</p>\n",
			        (unsigned long long)v->ip_lower_bound, (unsigned long long)v->rows);
		}
		if (v->ip_rst_unsure) {
			fputs("<p class=\"warn\">", f);
			report_esc(f, v->name);
			fprintf(f, ": the IP bytes down of %llu of %llu wakes may be one bare RST off, 40 B short or 12 B "
			           "over (<code>ip_rst_unsure</code>: a RST crossed a segment of the device's, which "
			           "TCP_INFO may not count).</p>\n",
			        (unsigned long long)v->ip_rst_unsure, (unsigned long long)v->rows);
		}
	}
	if (rd->any_tls)
		tls_table(f, rd);
	if (anypoll)
		downlink_table(f, rd);
	if (anyfail)
		failures_table(f, rd);
	fputs("</section>\n", f);

	if (nrec) {
		/* each section is written whole by recommend (its figures inline, its
		 * links relative to this directory) */
		fputs("<div id=\"recommend\">\n", f);
		recommend_sections(f, rd->dir);
		fputs("</div>\n", f);
	}

	fputs("<section id=\"figures\"><h2>Figures</h2>\n<div class=\"figs\">\n", f);
	int seq = 0;
	for (size_t i = 0; i < nfigs; i++)
		if (figs[i].drawn)
			report_figure(f, plotdir, "plots", &figs[i], ++seq);
	fputs("</div>\n", f);
	int left = 0;
	for (size_t i = 0; i < nfigs; i++)
		left |= !figs[i].drawn;
	if (left) {
		fputs("<p>Not drawn for this run:</p><ul class=\"notes\">\n", f);
		for (size_t i = 0; i < nfigs; i++) {
			if (figs[i].drawn)
				continue;
			fputs("<li><b>", f);
			report_esc(f, figs[i].title[0] ? figs[i].title : figs[i].name);
			fputs("</b>: ", f);
			report_esc(f, figs[i].note[0] ? figs[i].note : "not drawn");
			fputs("</li>\n", f);
		}
		fputs("</ul>\n", f);
	}
	fputs("<p class=\"sub\">Each figure's data (tab-separated) and gnuplot script are in <code>plots/</code>; "
	      "edit a script and re-run it there with <code>gnuplot NAME.gp</code>.</p>\n</section>\n",
	      f);

	fputs("<section id=\"scenario\"><h2>Scenario</h2>\n", f);
	if (rd->scenario_text) {
		fputs("<pre>", f);
		report_esc(f, rd->scenario_text);
		fputs("</pre>\n", f);
	} else {
		fputs("<p class=\"warn\">scenario.yaml is missing.</p>\n", f);
	}
	fputs("</section>\n<section id=\"env\"><h2>Environment</h2>\n", f);
	if (rd->env) {
		fputs("<div class=\"scroll\"><table class=\"kv\"><tbody>\n", f);
		kv_rows(f, rd->env, "");
		fputs("</tbody></table></div>\n", f);
	} else if (rd->env_text) {
		fputs("<p class=\"warn\">", f);
		report_esc(f, rd->env_err);
		fputs("</p><pre>", f);
		report_esc(f, rd->env_text);
		fputs("</pre>\n", f);
	} else {
		fputs("<p class=\"warn\">env.json is missing.</p>\n", f);
	}
	fputs("</section>\n<footer>Written by <code>dormant plot</code> from wakes.csv and summary.json in this "
	      "directory. Self-contained: no network, no external files.</footer>\n",
	      f);
	report_tail(f);
	int bad = ferror(f);
	errno = 0;
	if (fclose(f) != 0 || bad || rename(tmp, path) != 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno ? errno : EIO));
		unlink(tmp);
		return ERR_IO;
	}
	return ERR_OK;
}
