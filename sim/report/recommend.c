/* recommend.c: `dormant recommend` (see recommend.h). */
#include "recommend.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gnuplot.h"
#include "json.h"
#include "plot.h"
#include "report.h"
#include "rundata.h"
#include "sweep.h"

int recommend_port(const char *protocol, const char *tls)
{
	int plain = strcmp(tls, "none") == 0;
	if (strcmp(protocol, "mqtt") == 0)
		return plain ? 1883 : 8883;
	if (strcmp(protocol, "amqp") == 0)
		return plain ? 5672 : 5671;
	return plain ? 80 : 443;
}

int recommend_rule_out(const struct deployment *d, const struct sim_cand *c, char *why, size_t n)
{
	int plain = strcmp(c->tls, "none") == 0;
	double P = (double)d->wake_every_us / 1e6, deadline = (double)d->command_deadline_us / 1e6;
	int port = recommend_port(c->protocol, c->tls);
	if (d->encryption == ENCRYPT_REQUIRED && plain)
		return snprintf(why, n, "plaintext; the deployment requires encryption"), 1;
	if (!deploy_port_ok(d, port))
		return snprintf(why, n, "its server port %d is not one the site can reach", port), 1;
	if (d->client_auth == AUTH_CERTIFICATE && !c->client_cert)
		return snprintf(why, n, "measured without a client certificate (the deployment authenticates devices by "
		                        "certificate: measure with client_cert: true)"), 1;
	if (d->client_auth == AUTH_PSK && strcmp(c->tls, "psk") != 0)
		return snprintf(why, n, "not TLS-PSK (the deployment authenticates devices by PSK)"), 1;
	if (d->commands_per_day > 0 && c->kept && !c->listening)
		return snprintf(why, n, "measured without commands (persistent, downlink: false): what taking them on "
		                        "its kept connection costs is not known"), 1;
	if (d->commands_per_day > 0 && deadline > 0) {
		if (c->kept && isnan(c->cmd_delay_p99_ms))
			return snprintf(why, n, "no command delay was measured on its kept connection"), 1;
		if (c->kept && c->cmd_delay_p99_ms > deadline * 1000)
			return snprintf(why, n, "its pushed commands took up to %.0f ms (p99, the link's listen wait included); "
			                        "the deadline is %.4g s", c->cmd_delay_p99_ms, deadline), 1;
		if (!c->kept && P > deadline)
			return snprintf(why, n, "takes a command at its next wake, up to %.4g s later; the deadline is %.4g s", P,
			                deadline), 1;
	}
	/* a device whose wake outlasts the period never sleeps: it cannot wake that often */
	if (!c->kept && c->period_on_ms >= P * 1000)
		return snprintf(why, n, "its wake keeps the radio on %.2f s (the link's attach and tail included), "
		                        "longer than the %.4g s period", c->period_on_ms / 1e3, P), 1;
	if (d->ram_budget && !isnan(c->heap_kib) && c->heap_kib * 1024 > (double)d->ram_budget)
		return snprintf(why, n, "its TLS context alone peaked at %.1f KiB, over the %.1f KiB RAM budget", c->heap_kib,
		                (double)d->ram_budget / 1024), 1;
	return 0;
}

struct ranked {
	const struct sim_cand *c;
	size_t at;     /* its place among the runs' variants: ties keep it */
	char why[256]; /* ruled out: why; else "" */
};

static int by_years(const void *a, const void *b)
{
	const struct ranked *x = a, *y = b;
	if (!!x->why[0] != !!y->why[0])
		return x->why[0] ? 1 : -1; /* the usable first */
	if (x->c->years != y->c->years)
		return x->c->years > y->c->years ? -1 : 1;
	if (x->why[0])
		return x->at < y->at ? -1 : x->at > y->at;
	double bx = x->c->up_b + x->c->down_b, by = y->c->up_b + y->c->down_b;
	if (bx != by)
		return bx < by ? -1 : 1;
	return x->at < y->at ? -1 : x->at > y->at;
}

/* The paragraph of why, from the numbers. */
/* A winner that keeps its connection and listens for commands: what its
 * commands took, and what listening costs it. */
static void listening_why(FILE *out, const struct deployment *d, const struct sim_cand *w)
{
	if (!w->listening)
		return;
	double P = (double)d->wake_every_us / 1e6, floor_mj = w->sleep_uw * P / 1e3;
	char lbuf[80];
	snprintf(lbuf, sizeof lbuf, "waking every %g ms to hear whether one waits", d->link.listen_ms);
	fprintf(out, " It keeps its connection through its sleeps and listens for commands (%s) at %.1f mW: %.0f mJ a "
	             "period, %.0f %% of the whole, against %.0f mJ for its wake on the kept connection.",
	        d->link.can_listen && d->link.listen_ms > 0 ? lbuf : "the link never sleeps", w->sleep_uw / 1e3, floor_mj, 100 * floor_mj / (floor_mj + w->period_mj), w->period_mj);
	if (!isnan(w->cmd_delay_p99_ms))
		fprintf(out, " Commands pushed down it reached the device within %.0f ms (p99, the listen wait included).",
		        w->cmd_delay_p99_ms);
	if (d->command_deadline_us)
		fprintf(out, " The deadline is %g s.", (double)d->command_deadline_us / 1e6);
}

static void explain(FILE *out, const struct deployment *d, const struct ranked *r, size_t nok)
{
	const struct sim_cand *w = r[0].c;
	double P = (double)d->wake_every_us / 1e6;
	double attach = d->link.attach_mj, tail = d->link.release_assist ? 0 : d->link.tail_ms * d->link.tail_mw / 1000;
	fprintf(out, "\nWhy: on %s, waking every %g s, %s lasts %.2f years on a %g Wh battery", d->link.name, P,
	        w->variant, w->years, d->battery_wh);
	if (nok < 2) {
		fprintf(out, "; it is the only candidate left.");
		listening_why(out, d, w);
		fputc('\n', out);
		return;
	}
	const struct sim_cand *s = r[1].c;
	double margin = (w->years / s->years - 1) * 100;
	int clear = w->years_p99 > s->years_p50;
	fprintf(out, ", %.1f %% longer than %s (%.2f years)%s. Above the sleep floor a period costs it %.0f mJ against %.0f mJ. ", margin,
	        s->variant, s->years,
	        clear ? "" : ", within the wake-to-wake spread: call it a tie", w->period_mj, s->period_mj);
	if (attach + tail > 0)
		fprintf(out, "Both pay the link's attach (%.0f mJ) and inactivity tail (%.0f mJ) every time the radio "
		             "wakes: %.0f %% of the winner's period. ",
		        attach, tail, 100 * (attach + tail) / w->period_mj);
	/* a link that draws while the device sleeps (Ethernet stays up) hides the wakes' difference in the battery */
	double sleep_mj = w->sleep_uw * P / 1e3;
	if (sleep_mj > w->period_mj)
		fprintf(out, "The sleep itself costs %.0f mJ a period (%s %.1f mW while asleep), %.0f %% of the whole, so "
		             "battery life hardly tells them apart: a wake costs it %.0f %% less energy than the runner-up's. ",
		        sleep_mj, w->listening ? "listening for its commands," : "the link's", w->sleep_uw / 1e3,
		        100 * sleep_mj / (sleep_mj + w->period_mj),
		        (1 - w->period_mj / s->period_mj) * 100);
	fprintf(out, "It moves %.1f kB a period against %.1f kB%s.", (w->up_b + w->down_b) / 1e3,
	        (s->up_b + s->down_b) / 1e3,
	        w->kept ? "; it keeps its connection, so the wake skips TCP, TLS and the protocol's set-up" : "");
	/* the runner-up is often the winner with another TLS set-up: say what
	 * the choice of protocol itself is worth, with each other protocol's best */
	const char *seen[8];
	size_t nseen = 1;
	seen[0] = w->protocol;
	for (size_t i = 1; i < nok && nseen < 8; i++) {
		const struct sim_cand *o = r[i].c;
		size_t k = 0;
		while (k < nseen && strcmp(seen[k], o->protocol) != 0)
			k++;
		if (k < nseen)
			continue;
		seen[nseen++] = o->protocol;
		fprintf(out, "%s %s at best (%s): %.2f years, %.1f %% shorter; %.0f mJ and %.1f s of radio a period, "
		             "%.1f kB",
		        nseen == 2 ? " Against the other protocols:" : ";", o->protocol, o->variant, o->years,
		        (1 - o->years / w->years) * 100, o->period_mj, o->period_on_ms / 1e3, (o->up_b + o->down_b) / 1e3);
	}
	if (nseen > 1)
		fprintf(out, " (the winner: %.0f mJ, %.1f s, %.1f kB).", w->period_mj, w->period_on_ms / 1e3,
		        (w->up_b + w->down_b) / 1e3);
	fputc('\n', out);
}

/* ---- sensitivity: the ranking along the period, the payload, the link ---- */

#define SWEEP_POINTS 240
#define FIG_LINES 10 /* candidates drawn in a sensitivity figure */

struct rec {
	struct sim_set *set;
	struct ranked *r;
	size_t nok;
	int *pos;              /* set index -> place in r (its letter) */
	struct sweep sw[2];    /* SWEEP_PERIOD, SWEEP_PAYLOAD */
	int swept[2];
	struct link_best {
		char name[LINK_NAME_MAX];
		int found;         /* a candidate was allowed there */
		char variant[256];
		const char *rundir;
		double years;
		size_t n, nok;     /* variants measured on it; allowed */
	} links[8];
	size_t nlinks;
};

/* Candidate K's letter in the figures: its place in the ranking (A, B, ..., Z, a, ...). */
static void letter(const struct rec *x, int k, char *buf, size_t n)
{
	if (k < 0) {
		snprintf(buf, n, "none");
		return;
	}
	int p = x->pos[k];
	if (p < 26)
		snprintf(buf, n, "%c", 'A' + p);
	else if (p < 52)
		snprintf(buf, n, "%c", 'a' + p - 26);
	else
		snprintf(buf, n, "#%d", p + 1);
}

static const char *cand_name(const struct rec *x, int k) { return k < 0 ? "none allowed" : x->set->c[k].variant; }

/* Why no candidate is best anywhere on a sweep's axis: nothing could be
 * modelled there, or the rule-out of the deployment's first candidate at V. */
static void none_why(const struct rec *x, int axis, double v, char *buf, size_t n)
{
	struct deployment d = x->set->d;
	if (axis == SWEEP_PERIOD)
		d.wake_every_us = (uint64_t)llround(v * 1e6);
	snprintf(buf, n, "no candidate is allowed anywhere on it");
	const struct sweep *s = &x->sw[axis];
	int costed = 0;
	for (size_t i = 0; i < s->nx * s->nc && !costed; i++)
		costed = !isnan(s->years[i]);
	if (axis == SWEEP_PAYLOAD && !costed) {
		/* nothing to model from: say why for the first candidate that was costed as measured */
		for (size_t i = 0; i < x->set->n; i++) {
			const struct sim_cand *c = x->r[i].c;
			struct sim_cand m;
			if (!c->usable)
				continue;
			if (sim_cost(&d, c->rd, c->v, x->set->span_s, v, &m) != 0) {
				snprintf(buf, n, "no candidate can be modelled at another payload (e.g. %s: %s)", c->variant, m.note);
				return;
			}
		}
	}
	if (x->nok == 0 && x->set->n) {
		char why[256];
		if (recommend_rule_out(&d, x->r[0].c, why, sizeof why))
			snprintf(buf, n, "none allowed anywhere on it (e.g. %s: %s)", x->r[0].c->variant, why);
	}
}

/* Why the candidate best before flip F is allowed no more past it: the
 * reason at the first swept point beyond the flip. */
static void none_after(FILE *out, const struct rec *x, const struct sweep *s, struct sweep_flip f)
{
	if (f.from < 0)
		return;
	for (size_t i = 0; i < s->nx; i++) {
		struct sim_cand c;
		char why[256];
		if (s->x[i] <= f.x)
			continue;
		if (sweep_why(x->set, s->axis, (size_t)f.from, s->x[i], &c, why, sizeof why))
			fprintf(out, " (%s: %s)", x->set->c[f.from].variant, why);
		return;
	}
}

/* The sweep as "up to X: A ...; from X to Y: B ...; above Y: ...". */
static void print_segments(FILE *out, const struct rec *x, const struct sweep *s)
{
	char a[32], b[32], l[8];
	if (!s->nflips) {
		int k = s->best[0];
		letter(x, k, l, sizeof l);
		if (k < 0) {
			char why[400];
			none_why(x, s->axis, s->at, why, sizeof why);
			fprintf(out, "    %s\n", why);
		} else {
			fprintf(out, "    no flip: %s %s is best throughout\n", l, cand_name(x, k));
		}
		return;
	}
	for (size_t i = 0; i <= s->nflips; i++) {
		int k = i < s->nflips ? s->flips[i].from : s->flips[i - 1].to;
		letter(x, k, l, sizeof l);
		if (i == 0) {
			sweep_fmt(s->axis, s->flips[0].x, a, sizeof a);
			fprintf(out, "    up to %s:", a);
		} else if (i == s->nflips) {
			sweep_fmt(s->axis, s->flips[i - 1].x, a, sizeof a);
			fprintf(out, "    above %s:", a);
		} else {
			sweep_fmt(s->axis, s->flips[i - 1].x, a, sizeof a);
			sweep_fmt(s->axis, s->flips[i].x, b, sizeof b);
			fprintf(out, "    %s to %s:", a, b);
		}
		fprintf(out, " %s %s", k < 0 ? "-" : l, cand_name(x, k));
		if (k < 0 && i > 0)
			none_after(out, x, s, s->flips[i - 1]);
		fputc('\n', out);
	}
	if (s->flips_cut)
		fprintf(out, "    (more flips than %d: the rest not listed)\n", SWEEP_FLIPS);
}

/* Every other link the runs measured, costed for the deployment: its best allowed candidate. */
static void cost_links(struct rec *x)
{
	const struct sim_set *set = x->set;
	for (size_t r = 0; r < set->nruns; r++)
		for (size_t i = 0; i < set->rds[r]->nv; i++) {
			const char *ln = set->rds[r]->v[i].link;
			if (!ln || !ln[0] || strcmp(ln, "none") == 0 || strcmp(ln, set->d.link.name) == 0)
				continue;
			size_t k = 0;
			while (k < x->nlinks && strcmp(x->links[k].name, ln) != 0)
				k++;
			if (k == x->nlinks && x->nlinks < sizeof x->links / sizeof x->links[0])
				snprintf(x->links[x->nlinks++].name, sizeof x->links[0].name, "%s", ln);
		}
	for (size_t k = 0; k < x->nlinks; k++) {
		struct link_best *lb = &x->links[k];
		struct deployment d = set->d;
		char path[LINK_PATH_MAX + 64], perr[512];
		if (deploy_link_path(&set->d, lb->name, path, sizeof path) != 0 ||
		    link_profile_load(path, &d.link, perr, sizeof perr) != ERR_OK) {
			lb->n = 0;
			continue;
		}
		if (!set->d.sleep_given)
			d.sleep_uw = d.link.sleep_uw;
		for (size_t r = 0; r < set->nruns; r++)
			for (size_t i = 0; i < set->rds[r]->nv; i++) {
				struct rd_variant *v = &set->rds[r]->v[i];
				if (strcmp(v->link, lb->name) != 0)
					continue;
				lb->n++;
				struct sim_cand c;
				char why[256];
				if (sim_cost(&d, set->rds[r], v, set->span_s, -1, &c) != 0 || recommend_rule_out(&d, &c, why, sizeof why))
					continue;
				lb->nok++;
				if (!lb->found || c.years > lb->years) {
					lb->found = 1;
					lb->years = c.years;
					lb->rundir = set->rds[r]->dir;
					snprintf(lb->variant, sizeof lb->variant, "%s", v->name);
				}
			}
	}
}

static void print_sensitivity(FILE *out, const struct rec *x)
{
	const struct deployment *d = &x->set->d;
	char a[32], b[32];
	fprintf(out, "\nWhere the answer flips (battery life; the letters are the figures'):\n");
	if (x->swept[SWEEP_PERIOD]) {
		const struct sweep *s = &x->sw[SWEEP_PERIOD];
		sweep_fmt(SWEEP_PERIOD, s->lo, a, sizeof a);
		sweep_fmt(SWEEP_PERIOD, s->hi, b, sizeof b);
		fprintf(out, "  wake period, %s to %s (the measured wakes; the deployment's constraints at each period):\n",
		        a, b);
		print_segments(out, x, s);
	}
	if (x->swept[SWEEP_PAYLOAD]) {
		const struct sweep *s = &x->sw[SWEEP_PAYLOAD];
		sweep_fmt(SWEEP_PAYLOAD, s->lo, a, sizeof a);
		sweep_fmt(SWEEP_PAYLOAD, s->hi, b, sizeof b);
		char m[32] = "measured";
		if (!isnan(s->measured))
			sweep_fmt(SWEEP_PAYLOAD, s->measured, m, sizeof m);
		fprintf(out, "  payload, %s to %s a message, at the deployment's period (modelled from the %s wake: "
		             "the extra bytes at the link's uplink rate and TX power):\n",
		        a, b, m);
		print_segments(out, x, s);
	}
	fprintf(out, "  link (the same deployment on the other links the runs measured):\n");
	if (!x->nlinks)
		fprintf(out, "    no run measured another link than %s\n", d->link.name);
	for (size_t k = 0; k < x->nlinks; k++) {
		const struct link_best *lb = &x->links[k];
		if (!lb->n)
			fprintf(out, "    %s: no link profile of that name beside the deployment\n", lb->name);
		else if (!lb->found)
			fprintf(out, "    %s: none of its %zu candidates is allowed\n", lb->name, lb->n);
		else
			fprintf(out, "    %s: %s, %.2f years (%zu of %zu candidates allowed; %s)\n", lb->name, lb->variant,
			        lb->years, lb->nok, lb->n, lb->rundir);
	}
	if (d->commands_per_day > 0) {
		fprintf(out, "  commands per day (%g): a per-wake device takes its commands at the wake it makes anyway, so "
		             "how many there are changes none of these figures",
		        d->commands_per_day);
		if (d->command_deadline_us)
			fprintf(out, "; the deadline (%g s) does: per-wake candidates are allowed only at periods up to it",
			        (double)d->command_deadline_us / 1e6);
		fprintf(out, ".\n");
		for (size_t i = 0; i < x->nok; i++) {
			const struct sim_cand *c = x->r[i].c;
			if (!c->listening || isnan(c->cmd_mj))
				continue;
			double day = c->day_mj, cmd_day = d->commands_per_day * c->cmd_mj;
			fprintf(out, "    a kept connection pays for each command pushed while it sleeps: %s %.0f mJ a command, "
			             "%.2f %% of its day at %g a day; %.0f a day would cost as much as the rest of its day\n",
			        c->variant, c->cmd_mj, 100 * cmd_day / day, d->commands_per_day,
			        (day - cmd_day) / c->cmd_mj);
		}
	}
}

/* The sensitivity figure of sweep S: battery years along its axis, one line
 * per candidate drawn (dashed: a kept connection), the deployment's value
 * and every flip marked. 1: written; 0: nothing to draw; -1: ERR. */
static int write_sweep_fig(const struct rec *x, const struct sweep *s, const char *dir, const char *name, char *err,
                           size_t errlen)
{
	const struct sim_set *set = x->set;
	int draw[FIG_LINES], nd = 0;
	/* the candidates that are ever best first, then by rank, while allowed somewhere */
	for (int pass = 0; pass < 2; pass++)
		for (size_t p = 0; p < set->n && nd < FIG_LINES; p++) {
			int k = (int)(x->r[p].c - set->c), best = 0, any = 0, dup = 0;
			for (size_t i = 0; i < s->nx; i++) {
				best |= s->best[i] == k;
				any |= !isnan(s->years[i * s->nc + (size_t)k]);
			}
			for (int j = 0; j < nd; j++)
				dup |= draw[j] == k;
			if (!dup && any && (pass == 1 || best))
				draw[nd++] = k;
		}
	if (!nd)
		return 0;
	char path[4500];
	snprintf(path, sizeof path, "%.4400s/%s.dat", dir, name);
	FILE *f = fopen(path, "w");
	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	fprintf(f, "# %s: battery years along the %s, per candidate (NaN: not allowed or not costed there)\n# x", name,
	        s->axis == SWEEP_PERIOD ? "wake period (s)" : "payload (B)");
	for (int j = 0; j < nd; j++)
		fprintf(f, "\t%s", set->c[draw[j]].variant);
	fputc('\n', f);
	for (size_t i = 0; i < s->nx; i++) {
		fprintf(f, "%.6g", s->x[i]);
		for (int j = 0; j < nd; j++) {
			double y = s->years[i * s->nc + (size_t)draw[j]];
			if (isnan(y))
				fputs("\tNaN", f);
			else
				fprintf(f, "\t%.6g", y);
		}
		fputc('\n', f);
	}
	if (gnuplot_file_close(f, path, err, errlen) != 0)
		return -1;
	char purpose[200];
	snprintf(purpose, sizeof purpose, "battery life against the %s for deployment %s, with the flips marked",
	         s->axis == SWEEP_PERIOD ? "wake period" : "payload", set->d.name);
	FILE *gp = gnuplot_script_open(dir, name, purpose, 1000, 560, err, errlen);
	if (!gp)
		return -1;
	static const char *const colors[] = { "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
	                                      "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf" };
	fputs("set datafile missing 'NaN'\nset logscale xy\nset key outside below Left reverse samplen 3 maxrows 5\n"
	      "set ylabel 'battery life, years'\nset grid xtics ytics lc rgb '#dddddd'\n",
	      gp);
	if (s->axis == SWEEP_PERIOD)
		fprintf(gp, "set xlabel 'wake period'\nset xtics ('10 s' 10, '1 min' 60, '5 min' 300, '15 min' 900, "
		            "'1 h' 3600, '6 h' 21600, '24 h' 86400, '7 d' 604800)\n");
	else
		fprintf(gp, "set xlabel 'payload a message'\nset xtics ('10 B' 10, '100 B' 100, '1 KB' 1000, '10 KB' 10000, "
		            "'100 KB' 100000)\n");
	fprintf(gp, "set xrange [%g:%g]\n", s->lo, s->hi);
	char t[64];
	sweep_fmt(s->axis, s->at, t, sizeof t);
	fprintf(gp, "set arrow from %g, graph 0 to %g, graph 1 nohead dt 2 lw 1.5 lc rgb '#555555'\n", s->at, s->at);
	fprintf(gp, "set label 'deployment: %s' at %g, graph 0.98 left offset 0.5,0 tc rgb '#555555'\n", t, s->at);
	if (s->axis == SWEEP_PAYLOAD && !isnan(s->measured) && s->measured != s->at) {
		fprintf(gp, "set arrow from %g, graph 0 to %g, graph 1 nohead dt 3 lc rgb '#999999'\n", s->measured,
		        s->measured);
		sweep_fmt(s->axis, s->measured, t, sizeof t);
		fprintf(gp, "set label 'measured: %s' at %g, graph 0.92 left offset 0.5,0 tc rgb '#999999'\n", t, s->measured);
	}
	if (s->axis == SWEEP_PERIOD && set->d.command_deadline_us && set->d.commands_per_day > 0) {
		double dl = (double)set->d.command_deadline_us / 1e6;
		if (dl > s->lo && dl < s->hi) {
			fprintf(gp, "set arrow from %g, graph 0 to %g, graph 1 nohead dt 4 lc rgb '#d62728'\n", dl, dl);
			fprintf(gp, "set label 'command deadline' at %g, graph 0.86 left offset 0.5,0 tc rgb '#d62728'\n", dl);
		}
	}
	for (size_t i = 0; i < s->nflips; i++) {
		const struct sweep_flip *fl = &s->flips[i];
		if (fl->to < 0 && fl->from < 0)
			continue;
		char a[12], b[12], v[32];
		letter(x, fl->from, a, sizeof a);
		letter(x, fl->to, b, sizeof b);
		sweep_fmt(s->axis, fl->x, v, sizeof v);
		int on = fl->to >= 0 ? fl->to : fl->from;
		struct deployment d = set->d;
		struct sim_cand c;
		double payload = -1;
		if (s->axis == SWEEP_PERIOD)
			d.wake_every_us = (uint64_t)llround(fl->x * 1e6);
		else
			payload = fl->x;
		if (sim_cost(&d, set->c[on].rd, set->c[on].v, set->span_s, payload, &c) != 0)
			continue;
		fprintf(gp, "set label %zu '%s → %s at %s' at %g, %g point pt 7 ps 1.3 lc rgb '#000000' offset 0.8,%s\n",
		        i + 1, a, b, v, fl->x, c.years, i % 2 ? "-1" : "1");
	}
	fputs("plot ", gp);
	for (int j = 0; j < nd; j++) {
		char l[12], title[320];
		letter(x, draw[j], l, sizeof l);
		snprintf(title, sizeof title, "%s  %s", l, set->c[draw[j]].variant);
		fprintf(gp, "%s'%s.dat' using 1:%d with lines lw 2 dt %d lc rgb '%s' title ", j ? ", \\\n     " : "", name,
		        j + 2, set->c[draw[j]].kept ? 2 : 1, colors[j % 10]);
		gnuplot_quote(gp, title);
	}
	fputc('\n', gp);
	return gnuplot_script_close(gp, dir, name, err, errlen) == 0 ? 1 : -1;
}

/* ---- the outputs ---- */

static json_t *sweep_json(const struct rec *x, const struct sweep *s)
{
	json_t *j = json_object(), *fl = json_array();
	json_object_set_new(j, "from", json_real(s->lo));
	json_object_set_new(j, "to", json_real(s->hi));
	json_object_set_new(j, "deployment", json_real(s->at));
	json_object_set_new(j, "best_at_start", s->best[0] >= 0 ? json_string(cand_name(x, s->best[0])) : json_null());
	for (size_t i = 0; i < s->nflips; i++) {
		json_t *f = json_object();
		json_object_set_new(f, "at", json_real(s->flips[i].x));
		json_object_set_new(f, "from", s->flips[i].from >= 0 ? json_string(cand_name(x, s->flips[i].from)) : json_null());
		json_object_set_new(f, "to", s->flips[i].to >= 0 ? json_string(cand_name(x, s->flips[i].to)) : json_null());
		json_array_append_new(fl, f);
	}
	json_object_set_new(j, "flips", fl);
	if (s->axis == SWEEP_PAYLOAD)
		json_object_set_new(j, "modelled", json_true());
	return j;
}

/* Nothing meets a command deadline under the period: the best candidate
 * allowed were the device to wake at the deadline instead, costed into *BC
 * (NULL: the deadline is not the problem, or none is allowed there either). */
static const struct sim_cand *deadline_best(const struct rec *x, struct sim_cand *bc)
{
	const struct sim_set *set = x->set;
	struct deployment d = set->d;
	if (x->nok || !d.command_deadline_us || d.command_deadline_us >= d.wake_every_us)
		return NULL;
	d.wake_every_us = d.command_deadline_us;
	const struct sim_cand *best = NULL;
	for (size_t i = 0; i < set->n; i++) {
		const struct sim_cand *c = &set->c[i];
		struct sim_cand m;
		char why[256];
		if (!c->usable || c->kept || sim_cost(&d, c->rd, c->v, set->span_s, -1, &m) != 0 ||
		    recommend_rule_out(&d, &m, why, sizeof why))
			continue;
		if (!best || m.years > bc->years) {
			*bc = m;
			best = c;
		}
	}
	return best;
}

/* What a kept connection, which takes a command as it comes, would do:
 * measured (it is in the table or ruled out above) or not. */
static void kept_note(FILE *out, const struct rec *x)
{
	for (size_t i = 0; i < x->set->n; i++)
		if (x->set->c[i].kept && x->set->c[i].listening)
			return; /* measured: the table or the rule-outs say what it does */
	fprintf(out, "A kept connection takes a command as it comes; none that takes commands was measured on %s "
	             "(measure one with connection: persistent, downlink: true, command_every).\n",
	        x->set->d.link.name);
}

static void deadline_by_waking(FILE *out, const struct rec *x)
{
	const struct deployment *d = &x->set->d;
	if (!d->command_deadline_us || d->command_deadline_us >= d->wake_every_us)
		return;
	struct sim_cand bc;
	const struct sim_cand *best = deadline_best(x, &bc);
	double dl = (double)d->command_deadline_us / 1e6;
	if (!best) {
		/* say why with the first candidate that could be costed there */
		struct deployment at = *d;
		at.wake_every_us = d->command_deadline_us;
		char why[256] = "";
		for (size_t i = 0; i < x->set->n && !why[0]; i++) {
			const struct sim_cand *c = &x->set->c[i];
			struct sim_cand m;
			if (c->usable && !c->kept && sim_cost(&at, c->rd, c->v, x->set->span_s, -1, &m) == 0 &&
			    recommend_rule_out(&at, &m, why, sizeof why))
				fprintf(out, "Waking every %g s (the command deadline) would not do either: %s: %s.\n", dl,
				        c->variant, why);
		}
		if (!why[0])
			fprintf(out, "Waking every %g s (the command deadline) would not do either: no candidate is allowed "
			             "there.\n", dl);
		kept_note(out, x);
		return;
	}
	fprintf(out, "To meet the %g s command deadline by waking, a device would wake every %g s: the best there is "
	             "%s, %.3f years (%.0f mJ a period; %s).\n",
	        dl, dl, best->variant, bc.years, bc.period_mj, best->rundir);
	kept_note(out, x);
}

static json_t *jnum_or_null(double v) { return isnan(v) ? json_null() : json_real(v); }

static json_t *rec_json(const struct rec *x, const char *figdir)
{
	const struct deployment *d = &x->set->d;
	const struct ranked *r = x->r;
	size_t nok = x->nok;
	json_t *j = json_object(), *a = json_array();
	json_object_set_new(j, "deployment", json_string(d->name));
	json_object_set_new(j, "link", json_string(d->link.name));
	json_object_set_new(j, "wake_every_s", json_real((double)d->wake_every_us / 1e6));
	json_object_set_new(j, "winner", nok ? json_string(r[0].c->variant) : json_null());
	json_object_set_new(j, "runner_up", nok > 1 ? json_string(r[1].c->variant) : json_null());
	json_object_set_new(j, "margin_pct", nok > 1 ? json_real((r[0].c->years / r[1].c->years - 1) * 100) : json_null());
	json_object_set_new(j, "clear", nok > 1 ? json_boolean(r[0].c->years_p99 > r[1].c->years_p50) : json_null());
	for (size_t i = 0; i < x->set->n; i++) {
		json_t *c = json_object();
		char l[12];
		letter(x, (int)(r[i].c - x->set->c), l, sizeof l);
		json_object_set_new(c, "rank", r[i].why[0] ? json_null() : json_integer((json_int_t)i + 1));
		json_object_set_new(c, "letter", json_string(l));
		json_object_set_new(c, "variant", json_string(r[i].c->variant));
		json_object_set_new(c, "run", json_string(r[i].c->rundir));
		json_object_set_new(c, "wakes", json_integer((json_int_t)r[i].c->wakes));
		json_object_set_new(c, "ruled_out", r[i].why[0] ? json_string(r[i].why) : json_null());
		json_object_set_new(c, "port", json_integer(recommend_port(r[i].c->protocol, r[i].c->tls)));
		json_object_set_new(c, "connection", json_string(r[i].c->kept ? "persistent" : "per-wake"));
		if (r[i].c->usable) {
			json_object_set_new(c, "battery_years", json_real(r[i].c->years));
			json_object_set_new(c, "battery_years_p50_wake", json_real(r[i].c->years_p50));
			json_object_set_new(c, "battery_years_p99_wake", json_real(r[i].c->years_p99));
			json_object_set_new(c, "period_mj", json_real(r[i].c->period_mj));
			json_object_set_new(c, "ip_bytes_per_period", json_real(r[i].c->up_b + r[i].c->down_b));
			json_object_set_new(c, "sleep_uw", json_real(r[i].c->sleep_uw));
			json_object_set_new(c, "listening", json_boolean(r[i].c->listening));
			if (r[i].c->listening) {
				json_object_set_new(c, "command_delay_p99_ms", jnum_or_null(r[i].c->cmd_delay_p99_ms));
				json_object_set_new(c, "command_mj", jnum_or_null(r[i].c->cmd_mj));
			}
		}
		if (r[i].c->note[0])
			json_object_set_new(c, "note", json_string(r[i].c->note));
		json_array_append_new(a, c);
	}
	json_object_set_new(j, "candidates", a);
	json_t *sens = json_object();
	if (x->swept[SWEEP_PERIOD])
		json_object_set_new(sens, "period_s", sweep_json(x, &x->sw[SWEEP_PERIOD]));
	if (x->swept[SWEEP_PAYLOAD])
		json_object_set_new(sens, "payload_bytes", sweep_json(x, &x->sw[SWEEP_PAYLOAD]));
	json_t *links = json_array();
	for (size_t k = 0; k < x->nlinks; k++) {
		json_t *l = json_object();
		json_object_set_new(l, "link", json_string(x->links[k].name));
		json_object_set_new(l, "candidates", json_integer((json_int_t)x->links[k].n));
		json_object_set_new(l, "allowed", json_integer((json_int_t)x->links[k].nok));
		json_object_set_new(l, "best", x->links[k].found ? json_string(x->links[k].variant) : json_null());
		json_object_set_new(l, "battery_years", x->links[k].found ? json_real(x->links[k].years) : json_null());
		json_array_append_new(links, l);
	}
	json_object_set_new(sens, "links", links);
	json_object_set_new(j, "sensitivity", sens);
	struct sim_cand bc;
	const struct sim_cand *db = deadline_best(x, &bc);
	json_t *dj = json_null();
	if (db) {
		dj = json_object();
		json_object_set_new(dj, "wake_every_s", json_real((double)d->command_deadline_us / 1e6));
		json_object_set_new(dj, "variant", json_string(db->variant));
		json_object_set_new(dj, "run", json_string(db->rundir));
		json_object_set_new(dj, "battery_years", json_real(bc.years));
		json_object_set_new(dj, "period_mj", json_real(bc.period_mj));
	}
	json_object_set_new(j, "deadline_by_waking", dj);
	json_object_set_new(j, "output", figdir ? json_string(figdir) : json_null());
	return j;
}

static void print_text(FILE *out, const struct rec *x)
{
	const struct sim_set *set = x->set;
	const struct deployment *d = &set->d;
	const struct ranked *r = x->r;
	size_t nok = x->nok;
	fprintf(out, "recommend: %s: %llu devices on %s, a wake every %g s, %g Wh\n\n", d->name,
	        (unsigned long long)d->devices, d->link.name, (double)d->wake_every_us / 1e6, d->battery_wh);
	int w = 12;
	for (size_t i = 0; i < set->n; i++)
		if ((int)strlen(r[i].c->variant) > w)
			w = (int)strlen(r[i].c->variant);
	fprintf(out, "%4s %-*s %6s %8s %15s %11s  %s\n", "rank", w + 3, "candidate", "port", "years", "(p50/p99 wake)",
	        "kB/period", "source");
	for (size_t i = 0; i < set->n; i++) {
		const struct sim_cand *c = r[i].c;
		if (r[i].why[0])
			continue;
		char band[32], l[8];
		snprintf(band, sizeof band, "%.2f/%.2f", c->years_p50, c->years_p99);
		letter(x, (int)(c - set->c), l, sizeof l);
		char src[64];
		if (c->steady)
			snprintf(src, sizeof src, "%llu resumed of %llu wakes", (unsigned long long)c->steady,
			         (unsigned long long)c->wakes);
		else
			snprintf(src, sizeof src, "%llu wakes", (unsigned long long)c->wakes);
		fprintf(out, "%4zu %-2s %-*s %6d %8.2f %15s %11.2f  %s (%s)\n", i + 1, l, w, c->variant,
		        recommend_port(c->protocol, c->tls), c->years, band, (c->up_b + c->down_b) / 1e3, c->rundir, src);
	}
	if (nok < set->n) {
		fprintf(out, "\nruled out:\n");
		for (size_t i = 0; i < set->n; i++) {
			char l[12];
			letter(x, (int)(r[i].c - set->c), l, sizeof l);
			if (r[i].why[0])
				fprintf(out, "  %-2s %-*s %s\n", l, w, r[i].c->variant, r[i].why);
		}
	}
	if (nok) {
		fprintf(out, "\nwinner: %s", r[0].c->variant);
		if (nok > 1)
			fprintf(out, "; runner-up: %s, %.1f %% shorter battery life%s", r[1].c->variant,
			        (1 - r[1].c->years / r[0].c->years) * 100,
			        r[0].c->years_p99 > r[1].c->years_p50 ? "" : " (within the wake-to-wake spread)");
		fputc('\n', out);
		explain(out, d, r, nok);
	} else {
		fprintf(out, "\nno candidate meets the deployment's constraints (reasons above)\n");
		deadline_by_waking(out, x);
	}
	int notes = 0;
	for (size_t i = 0; i < set->n; i++)
		if (!r[i].why[0] && r[i].c->note[0])
			fprintf(out, "%s  %s: %s\n", notes++ ? "" : "\nnotes:\n", r[i].c->variant, r[i].c->note);
	if (d->client_auth == AUTH_TOKEN)
		fprintf(out, "note: devices authenticate by token; dormant's MQTT and AMQP devices connect "
		             "anonymously, so a username and password's bytes are not in their figures.\n");
	print_sensitivity(out, x);
}

static int write_file(const char *dir, const char *name, const char *text, size_t len, char *err, size_t errlen)
{
	char path[4400], tmp[4400];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	snprintf(tmp, sizeof tmp, "%s/.%s.tmp", dir, name);
	FILE *f = fopen(tmp, "w");
	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	fwrite(text, 1, len, f);
	int bad = ferror(f);
	errno = 0;
	if (fclose(f) != 0 || bad || rename(tmp, path) != 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno ? errno : EIO));
		unlink(tmp);
		return -1;
	}
	return 0;
}

/* A figure id base for the report: the same deployment always gets the same,
 * different ones almost never meet (SVG element ids must be unique on the page). */
static int seq_base(const char *name)
{
	uint32_t h = 2166136261u;
	for (const char *p = name; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	return 1000 + (int)(h % 100000u) * 4;
}

/* DIR/section.html (the report's section) and DIR/recommend.html (the page of its own). */
static int write_html(const struct rec *x, const char *dir, const char *linkdir, const char *text, const int *drawn,
                      char *err, size_t errlen)
{
	char *sec = NULL;
	size_t slen = 0;
	FILE *f = open_memstream(&sec, &slen);
	if (!f) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	const struct deployment *d = &x->set->d;
	fputs("<section class=\"rec\" id=\"rec-", f);
	report_esc(f, d->name);
	fputs("\"><h2>Recommendation: ", f);
	report_esc(f, d->name);
	fputs("</h2>\n<p class=\"sub\">", f);
	report_esc(f, d->path);
	fputs(" · runs: ", f);
	for (size_t r = 0; r < x->set->nruns; r++) {
		if (r)
			fputs(", ", f);
		report_esc(f, x->set->rds[r]->dir);
	}
	fputs("</p>\n<div class=\"scroll\"><pre>", f);
	report_esc(f, text);
	fputs("</pre></div>\n<div class=\"figs\">\n", f);
	static const char *const names[] = { "period", "payload" };
	int base = seq_base(d->name);
	for (int a = 0; a < 2; a++) {
		if (!drawn[a])
			continue;
		struct report_fig fig = { .name = names[a], .drawn = 1 };
		if (a == SWEEP_PERIOD) {
			snprintf(fig.title, sizeof fig.title, "Battery life against the wake period");
			snprintf(fig.caption, sizeof fig.caption,
			         "Each candidate's battery life (%g Wh) at every wake period from the measured wakes on %s; "
			         "dashed: a kept connection (steps where a sleep needs one keep-alive more). A point marks "
			         "where the best candidate changes; a curve stops where the deployment's constraints rule "
			         "it out. Letters as in the ranking.",
			         d->battery_wh, d->link.name);
		} else {
			snprintf(fig.title, sizeof fig.title, "Battery life against the payload (modelled)");
			snprintf(fig.caption, sizeof fig.caption,
			         "The same at the deployment's period with each message from 10 B to 10 KB: modelled from the "
			         "measured wake (the extra bytes and segments at %g kbit/s up and %g mW TX), not measured.",
			         d->link.up_kbps, d->link.tx_mw);
		}
		report_figure(f, dir, linkdir, &fig, base + a);
	}
	fputs("</div>\n</section>\n", f);
	if (fclose(f) != 0) {
		free(sec);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	int rc = write_file(dir, "section.html", sec, slen, err, errlen);
	char *page = NULL;
	size_t plen = 0;
	if (rc == 0 && (f = open_memstream(&page, &plen))) {
		char title[100];
		snprintf(title, sizeof title, "dormant: recommend %s", d->name);
		report_head(f, title);
		fwrite(sec, 1, slen, f);
		report_tail(f);
		fclose(f);
		rc = write_file(dir, "recommend.html", page, plen, err, errlen);
		free(page);
	}
	free(sec);
	return rc;
}

/* Figures, recommend.txt, recommend.json, section.html and recommend.html
 * into DIR; report.html of the first run again when DIR is in it. */
static enum dormant_err write_outputs(const struct rec *x, const char *dir, int in_run, const char *text,
                                      json_t *j, FILE *log, char *err, size_t errlen)
{
	if (report_mkdirs(dir) != 0) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return ERR_IO;
	}
	if (write_file(dir, "recommend.txt", text, strlen(text), err, errlen) != 0)
		return ERR_IO;
	char *js = json_dumps(j, JSON_INDENT(2) | JSON_REAL_PRECISION(10));
	if (!js) {
		snprintf(err, errlen, "out of memory");
		return ERR_NOMEM;
	}
	size_t jl = strlen(js);
	int bad = write_file(dir, "recommend.json", js, jl, err, errlen);
	free(js);
	if (bad)
		return ERR_IO;
	static const char *const names[] = { "period", "payload" };
	int drawn[2] = { 0, 0 };
	const char *todo[2];
	size_t ntodo = 0;
	for (int a = 0; a < 2; a++) {
		if (!x->swept[a])
			continue;
		int w = write_sweep_fig(x, &x->sw[a], dir, names[a], err, errlen);
		if (w < 0)
			return ERR_IO;
		if (w > 0)
			todo[ntodo++] = names[a];
	}
	char gp[4096];
	enum dormant_err rc = ERR_OK;
	if (ntodo && gnuplot_find(gp, sizeof gp) == 0) {
		int ok[2] = { 0, 0 };
		char gerr[1024] = "";
		gnuplot_run(dir, todo, ntodo, "png svg", 120, NULL, ok, gerr, sizeof gerr);
		for (size_t i = 0; i < ntodo; i++) {
			char ioerr[1024];
			int chk = gnuplot_outputs_check(dir, todo[i], "png svg", ioerr, sizeof ioerr);
			int a = strcmp(todo[i], "period") == 0 ? SWEEP_PERIOD : SWEEP_PAYLOAD;
			drawn[a] = ok[i] && chk == 0;
			if (chk == -2) {
				snprintf(err, errlen, "%s", ioerr);
				return ERR_IO;
			}
			if (!drawn[a] && rc == ERR_OK) {
				snprintf(err, errlen, "gnuplot did not draw %s/%s.gp: %s", dir, todo[i], gerr[0] ? gerr : ioerr);
				rc = ERR_INTERNAL;
			}
		}
	} else if (ntodo) {
		snprintf(err, errlen, "gnuplot is not installed: the figures' scripts are in %s, not drawn", dir);
		rc = ERR_INTERNAL;
	}
	const char *base = strrchr(dir, '/');
	char linkdir[600];
	snprintf(linkdir, sizeof linkdir, in_run ? "recommend/%s" : ".", base ? base + 1 : dir);
	if (write_html(x, dir, linkdir, text, drawn, err, errlen) != 0)
		return ERR_IO;
	if (log)
		fprintf(log, "\nrecommend: %s/recommend.txt, recommend.json%s\nreport: %s/recommend.html\n", dir,
		        drawn[0] ? ", period.png" : "", dir);
	if (in_run) {
		/* the run's report.html shows every recommendation made from it */
		char perr[1024] = "";
		enum dormant_err e = plot_run(x->set->rds[0]->dir, PLOT_ALL, NULL, NULL, perr, sizeof perr);
		if (e != ERR_OK && rc == ERR_OK) {
			snprintf(err, errlen, "plot %s: %s", x->set->rds[0]->dir, perr);
			rc = e;
		}
		if (log && e == ERR_OK)
			fprintf(log, "report: %s/report.html (section \"Recommendation: %s\")\n", x->set->rds[0]->dir,
			        x->set->d.name);
	}
	return rc;
}

enum dormant_err recommend_run(const struct simulate_opts *o, FILE *out, char *err, size_t errlen)
{
	struct rec x = { 0 };
	enum dormant_err e = sim_load(o->deployment, o->rundirs, o->nruns, o->for_us, &x.set, err, errlen);
	if (e != ERR_OK)
		return e;
	struct sim_set *set = x.set;
	const struct deployment *d = &set->d;
	x.r = calloc(set->n, sizeof(*x.r));
	x.pos = calloc(set->n, sizeof(*x.pos));
	char *text = NULL;
	size_t tlen = 0;
	json_t *j = NULL;
	if (!x.r || !x.pos) {
		e = ERR_NOMEM;
		goto nomem;
	}
	for (size_t i = 0; i < set->n; i++) {
		x.r[i].c = &set->c[i];
		x.r[i].at = i;
		if (!x.r[i].c->usable)
			snprintf(x.r[i].why, sizeof x.r[i].why, "not costed: %.200s", x.r[i].c->note);
		else if (!recommend_rule_out(d, x.r[i].c, x.r[i].why, sizeof x.r[i].why))
			x.nok++;
	}
	qsort(x.r, set->n, sizeof(*x.r), by_years);
	for (size_t i = 0; i < set->n; i++)
		x.pos[x.r[i].c - set->c] = (int)i;
	for (int a = 0; a < 2; a++) {
		if (sweep_run(set, a, a == SWEEP_PERIOD ? SWEEP_POINTS : SWEEP_POINTS / 2, &x.sw[a]) != 0) {
			e = ERR_NOMEM;
			goto nomem;
		}
		x.swept[a] = 1;
	}
	cost_links(&x);

	FILE *t = open_memstream(&text, &tlen);
	if (!t) {
		e = ERR_NOMEM;
		goto nomem;
	}
	print_text(t, &x);
	if (fclose(t) != 0) {
		e = ERR_NOMEM;
		goto nomem;
	}
	char dir[4400];
	int in_run = !o->outdir;
	if (o->outdir)
		snprintf(dir, sizeof dir, "%s", o->outdir);
	else
		snprintf(dir, sizeof dir, "%s/recommend/%s", set->rds[0]->dir, d->name);
	j = rec_json(&x, dir);
	if (!j) {
		e = ERR_NOMEM;
		goto nomem;
	}
	if (o->json) {
		json_dumpf(j, out, JSON_INDENT(2) | JSON_REAL_PRECISION(10));
		fputc('\n', out);
	} else {
		fputs(text, out);
	}
	e = write_outputs(&x, dir, in_run, text, j, o->json ? NULL : out, err, errlen);
	goto done;
nomem:
	snprintf(err, errlen, "out of memory");
done:
	json_decref(j);
	free(text);
	for (int a = 0; a < 2; a++)
		if (x.swept[a])
			sweep_free(&x.sw[a]);
	free(x.r);
	free(x.pos);
	sim_free(set);
	return e;
}
