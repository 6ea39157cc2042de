/* simulate.c: `dormant simulate` (see simulate.h). */
#include "simulate.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deploy.h"
#include "energy.h"
#include "json.h"
#include "rundata.h"

#define DAY_S 86400.0
#define YEAR_S (365 * DAY_S)


/* The summary's radio entry of VARIANT for LINK, or NULL. */
static const json_t *radio_fleet(const json_t *summary, const char *variant, const char *link, const json_t **vj)
{
	const json_t *vs = json_path(summary, "variants");
	size_t i;
	const json_t *v;
	json_array_foreach(vs, i, v) {
		if (strcmp(json_str_at(v, "name", ""), variant) != 0)
			continue;
		*vj = v;
		size_t k;
		const json_t *f;
		json_array_foreach(json_path(v, "radio.fleets"), k, f)
			if (strcmp(json_str_at(f, "link", ""), link) == 0)
				return f;
	}
	return NULL;
}

int sim_cost(const struct deployment *d, struct rundata *rd, struct rd_variant *v, double span_s, double payload_b,
             struct sim_cand *c)
{
	memset(c, 0, sizeof(*c));
	c->rd = rd;
	c->v = v;
	c->rundir = rd->dir;
	c->variant = v->name;
	c->protocol = v->protocol;
	c->tls = v->tls;
	c->resume = v->resume;
	c->client_cert = strstr(v->name, "client_cert=true") != NULL;
	c->heap_kib = v->heap_kib.n ? samples_max(&v->heap_kib) : NAN;
	c->wakes = v->ok;
	const json_t *vj = NULL, *f = radio_fleet(rd->summary, v->name, d->link.name, &vj);
	if (!f || !v->ok) {
		snprintf(c->note, sizeof c->note, "no ok wake with radio figures on %s", d->link.name);
		return -1;
	}
	double P = (double)d->wake_every_us / 1e6;
	c->kept = strcmp(json_str_at(f, "connection", ""), "persistent") == 0 || json_path(vj, "persistent");
	c->sleep_uw = d->sleep_uw;
	c->cmd_delay_p99_ms = c->cmd_mj = NAN;
	const json_t *lj = json_object_get(f, "listening");
	if (c->kept && lj && json_is_true(lj)) {
		/* It kept its connection to take pushed commands: it never slept deeper than listening. */
		c->listening = 1;
		c->sleep_uw = d->link.can_listen ? d->link.listen_uw : json_num_at(f, "sleep_uw", d->sleep_uw);
		c->cmd_delay_p99_ms = json_num_at(vj, "command_delay_ms.p99", NAN);
		c->cmd_mj = json_num_at(f, "command_mj_mean", NAN);
	}
	double wake_mj = samples_mean(&v->energy_mj), on = samples_mean(&v->radio_on_ms);
	c->p50_mj = samples_pct(&v->energy_mj, 50);
	c->p99_mj = samples_pct(&v->energy_mj, 99);
	c->up_b = rd_total_mean(v, RD_T_IP_UP);
	c->down_b = rd_total_mean(v, RD_T_IP_DOWN);
	struct rd_handshakes *res = &v->hs[1];
	if (!c->kept && strcmp(v->resume, "none") != 0 && v->resume[0] && res->n && res->energy_mj.n) {
		/* A session kept between wakes resumes every time in the field: the
		 * steady state is the resumed wakes; each device's first, full
		 * handshake (once in its life) would weigh a short run down. */
		wake_mj = samples_mean(&res->energy_mj);
		on = samples_mean(&res->radio_on_ms);
		c->p50_mj = samples_pct(&res->energy_mj, 50);
		c->p99_mj = samples_pct(&res->energy_mj, 99);
		c->up_b = res->wake_ip_up / (double)res->n;
		c->down_b = res->wake_ip_down / (double)res->n;
		c->steady = res->n;
	}
	if (c->kept) {
		struct energy_kept k = { .wake_mj = json_num_at(f, "kept_wake_mj_mean", NAN),
		                         .wake_on_ms = json_num_at(f, "kept_radio_on_ms_mean", NAN),
		                         .wake_s = json_num_at(f, "kept_wake_s_mean", NAN),
		                         .ka_mj = json_num_at(f, "keepalive_mj_mean", NAN),
		                         .ka_on_ms = json_num_at(f, "keepalive_radio_on_ms_mean", NAN),
		                         .keepalive_s = json_num_at(f, "keepalive_s", NAN),
		                         .cmd_mj = c->cmd_mj,
		                         .cmd_on_ms = json_num_at(f, "command_radio_on_ms_mean", NAN),
		                         .cmds_per_day = c->listening ? d->commands_per_day : 0 };
		if (isnan(k.wake_on_ms) || isnan(k.wake_s)) {
			snprintf(c->note, sizeof c->note, "its summary.json has no kept-connection figures (an older "
			         "dormant made it): run it again");
			return -1;
		}
		if (energy_kept_period(&k, d->link.nat_timeout_s, P, &wake_mj, &on) < 0) {
			snprintf(c->note, sizeof c->note, "%s",
			         k.keepalive_s >= d->link.nat_timeout_s && d->link.nat_timeout_s > 0
			                 ? "the link's NAT forgets the connection between keep-alives"
			         : k.cmds_per_day > 0 && isnan(k.cmd_mj)
			                 ? "no command pushed to it while asleep was measured (the run's commands all came "
			                   "during wakes)"
			                 : "no keep-alive measured (the run's sleeps were shorter than its keepalive)");
			return -1;
		}
		/* the keep-alives' bytes, as their energy: per keep-alive from the measured sleeps */
		double nka = P > k.wake_s ? floor((P - k.wake_s) / k.keepalive_s) : 0;
		double sleeps = json_num_at(vj, "persistent.sleeps", 0), kas = json_num_at(vj, "persistent.keepalives", 0);
		double per_ka = kas > 0 ? sleeps / kas : 0;
		c->up_b = json_num_at(vj, "persistent.reused_wake_ip_up_mean", NAN) +
		          nka * per_ka * json_num_at(vj, "persistent.sleep_ip_up_mean", 0);
		c->down_b = json_num_at(vj, "persistent.reused_wake_ip_down_mean", NAN) +
		            nka * per_ka * json_num_at(vj, "persistent.sleep_ip_down_mean", 0);
		c->p50_mj = wake_mj - k.wake_mj + c->p50_mj;
		c->p99_mj = wake_mj - k.wake_mj + c->p99_mj;
	}
	double pay = json_num_at(f, "payload_bytes", NAN), msgs = json_num_at(f, "messages_per_wake", NAN);
	c->payload_b = pay;
	c->msgs = msgs;
	if (payload_b >= 0) {
		if (isnan(pay) || isnan(msgs)) {
			snprintf(c->note, sizeof c->note, "its summary.json does not say what a wake sent (an older dormant "
			         "made it): cannot be scaled to another payload");
			return -1;
		}
		/* The model of a payload the run did not send: the difference in
		 * bytes, and a TCP/IP header for each segment more or fewer a
		 * message takes, goes up at the link's rate with the radio at TX
		 * power; the rest of the wake's timeline is unchanged. */
		double mss = d->link.mtu > 52 ? d->link.mtu - 52 : 1448;
		double segs = msgs * (ceil(payload_b / mss) - ceil(pay / mss));
		double db = msgs * (payload_b - pay) + segs * 52;
		double air_ms = (db + segs * d->link.link_overhead_bytes) * 8 / (d->link.up_kbps > 0 ? d->link.up_kbps : 1e6);
		double dmj = air_ms * d->link.tx_mw / 1000;
		wake_mj += dmj;
		on += air_ms;
		c->p50_mj += dmj;
		c->p99_mj += dmj;
		c->up_b += db;
		c->payload_b = payload_b;
		c->modelled = 1;
	}
	c->period_mj = wake_mj;
	c->period_on_ms = on;
	double per_day = DAY_S / P;
	c->day_mj = energy_day_mj(c->sleep_uw, wake_mj, per_day, on);
	c->years = energy_battery_years(d->battery_wh, c->sleep_uw, wake_mj, per_day, on);
	c->years_p50 = energy_battery_years(d->battery_wh, c->sleep_uw, c->p50_mj, per_day, on);
	c->years_p99 = energy_battery_years(d->battery_wh, c->sleep_uw, c->p99_mj, per_day, on);
	c->periods = span_s / P;
	/* The broker's CPU per wake holds its idle CPU over the window too: at a
	 * rate far below the fleet's, that is most of it, and scaling it up
	 * would be nonsense. Given only when the run's rate was within 10x. */
	double cpu = json_num_at(vj, "server_cost.cpu_ms_per_1000_wakes", NAN);
	double window = json_num_at(vj, "window_s", NAN), wakes = json_num_at(vj, "wakes", NAN);
	c->measured_rate = window > 0 ? wakes / window : NAN;
	c->broker_ms_per_wake = c->measured_rate * 10 >= (double)d->devices / P ? cpu / 1000.0 : NAN;
	if (c->modelled)
		return 0;
	if (isnan(pay) || isnan(msgs))
		snprintf(c->note, sizeof c->note, "its summary.json does not say what a wake sent (an older dormant "
		         "made it): the measured wake's figures");
	else if (pay != (double)d->payload_bytes || msgs != (double)d->messages_per_wake)
		snprintf(c->note, sizeof c->note, "measured with %.0f B x %.0f a wake, the deployment sends %llu B x %d: "
		         "the measured wake's figures, not scaled", pay, msgs, (unsigned long long)d->payload_bytes,
		         d->messages_per_wake);
	return 0;
}

static void print_table(FILE *out, const struct deployment *d, const struct sim_cand *c, size_t n, double span_s)
{
	double P = (double)d->wake_every_us / 1e6, rate = (double)d->devices / P;
	fprintf(out, "simulate: %s: %llu devices on %s, a wake every %g s, %llu B x %d, %g Wh, over %g days\n\n",
	        d->name, (unsigned long long)d->devices, d->link.name, P, (unsigned long long)d->payload_bytes,
	        d->messages_per_wake, d->battery_wh, span_s / DAY_S);
	int w = 12;
	for (size_t i = 0; i < n; i++)
		if ((int)strlen(c[i].variant) > w)
			w = (int)strlen(c[i].variant);
	fprintf(out, "%-*s %8s %14s %9s %11s %11s %10s %11s %9s %8s\n", w, "candidate", "years", "(p50/p99 wake)",
	        "J/day", "MB/dev up", "MB/dev dn", "cost/dev", "radio h/dev", "wakes/s", "broker");
	for (size_t i = 0; i < n; i++) {
		const struct sim_cand *x = &c[i];
		if (!x->usable) {
			fprintf(out, "%-*s %8s  %s\n", w, x->variant, "-", x->note);
			continue;
		}
		char band[32], price[16], broker[16];
		snprintf(band, sizeof band, "%.2f/%.2f", x->years_p50, x->years_p99);
		if (d->price_per_mb > 0)
			snprintf(price, sizeof price, "%.2f", (x->up_b + x->down_b) * x->periods / 1e6 * d->price_per_mb);
		else
			snprintf(price, sizeof price, "-");
		if (isnan(x->broker_ms_per_wake))
			snprintf(broker, sizeof broker, "-");
		else
			snprintf(broker, sizeof broker, "%.2f", rate * x->broker_ms_per_wake / 1000.0);
		fprintf(out, "%-*s %8.2f %14s %9.1f %11.3f %11.3f %10s %11.1f %9.1f %8s\n", w, x->variant, x->years, band,
		        x->day_mj / 1000.0, x->up_b * x->periods / 1e6, x->down_b * x->periods / 1e6, price,
		        x->period_on_ms * x->periods / 3.6e6, rate, broker);
	}
	fprintf(out, "\nyears: battery life at the mean wake (and at the p50/p99 wake); MB/dev: IP bytes a device "
	             "moves in the span; cost/dev: at price_per_mb; radio h/dev: radio-on hours; wakes/s: the fleet's "
	             "(per-wake: as many connections); broker: cores of the measured broker at that rate (-: measured "
	             "at under a tenth of it, where its idle CPU is most of the figure).\n");
	for (size_t i = 0; i < n; i++)
		fprintf(out, "  %s: %s (%llu ok wakes%s)%s%s\n", c[i].variant, c[i].rundir, (unsigned long long)c[i].wakes,
		        c[i].steady ? ", the resumed ones for the steady state" : "",
		        c[i].note[0] && c[i].usable ? "; " : "", c[i].note[0] && c[i].usable ? c[i].note : "");
}

static json_t *jreal(double v) { return isfinite(v) ? json_real(v) : json_null(); }

static void print_json(FILE *out, const struct deployment *d, const struct sim_cand *c, size_t n, double span_s)
{
	double P = (double)d->wake_every_us / 1e6;
	json_t *o = json_object(), *a = json_array();
	json_object_set_new(o, "deployment", json_string(d->name));
	json_object_set_new(o, "devices", json_integer((json_int_t)d->devices));
	json_object_set_new(o, "link", json_string(d->link.name));
	json_object_set_new(o, "span_s", json_real(span_s));
	json_object_set_new(o, "fleet_wakes_per_s", json_real((double)d->devices / P));
	for (size_t i = 0; i < n; i++) {
		const struct sim_cand *x = &c[i];
		json_t *j = json_object();
		json_object_set_new(j, "variant", json_string(x->variant));
		json_object_set_new(j, "run", json_string(x->rundir));
		json_object_set_new(j, "wakes_measured", json_integer((json_int_t)x->wakes));
		json_object_set_new(j, "steady_state_wakes", json_integer((json_int_t)(x->steady ? x->steady : x->wakes)));
		json_object_set_new(j, "connection", json_string(x->kept ? "persistent" : "per-wake"));
		json_object_set_new(j, "note", json_string(x->note));
		json_object_set_new(j, "measured_wakes_per_s", jreal(x->measured_rate));
		if (x->usable) {
			json_object_set_new(j, "period_mj", jreal(x->period_mj));
			json_object_set_new(j, "period_radio_on_ms", jreal(x->period_on_ms));
			json_object_set_new(j, "energy_per_day_mj", jreal(x->day_mj));
			json_object_set_new(j, "battery_years", jreal(x->years));
			json_object_set_new(j, "battery_years_p50_wake", jreal(x->years_p50));
			json_object_set_new(j, "battery_years_p99_wake", jreal(x->years_p99));
			json_object_set_new(j, "ip_up_bytes_per_device", jreal(x->up_b * x->periods));
			json_object_set_new(j, "ip_down_bytes_per_device", jreal(x->down_b * x->periods));
			json_object_set_new(j, "ip_bytes_fleet", jreal((x->up_b + x->down_b) * x->periods * (double)d->devices));
			json_object_set_new(j, "energy_mj_per_device", jreal(x->period_mj * x->periods));
			json_object_set_new(j, "data_cost_per_device",
			                    d->price_per_mb > 0 ? jreal((x->up_b + x->down_b) * x->periods / 1e6 * d->price_per_mb)
			                                        : json_null());
			json_object_set_new(j, "broker_cores", jreal((double)d->devices / P * x->broker_ms_per_wake / 1000.0));
		}
		json_array_append_new(a, j);
	}
	json_object_set_new(o, "candidates", a);
	json_dumpf(o, out, JSON_INDENT(2) | JSON_REAL_PRECISION(10));
	fputc('\n', out);
	json_decref(o);
}

void sim_free(struct sim_set *set)
{
	if (!set)
		return;
	for (size_t r = 0; r < set->nruns; r++)
		if (set->rds[r])
			rundata_free(set->rds[r]);
	free(set->rds);
	free(set->c);
	free(set);
}

static enum dormant_err load_set(const char *deployment, const char *const *rundirs, size_t nruns, uint64_t for_us,
                                 int need, struct sim_set **out, char *err, size_t errlen)
{
	struct sim_set *set = calloc(1, sizeof(*set));
	*out = NULL;
	if (!set || !(set->rds = calloc(nruns ? nruns : 1, sizeof(*set->rds)))) {
		free(set);
		snprintf(err, errlen, "out of memory");
		return ERR_NOMEM;
	}
	set->nruns = nruns;
	enum dormant_err e = deploy_load(deployment, &set->d, err, errlen);
	set->span_s = for_us ? (double)for_us / 1e6 : YEAR_S;
	size_t cap = 0;
	for (size_t r = 0; r < nruns && e == ERR_OK; r++) {
		if ((e = rundata_load(rundirs[r], &set->rds[r], err, errlen)) != ERR_OK)
			break;
		if (!set->rds[r]->summary) {
			snprintf(err, errlen, "%s: no readable summary.json (%s)", rundirs[r], set->rds[r]->summary_err);
			e = ERR_USAGE;
			break;
		}
		for (size_t i = 0; i < set->rds[r]->nv; i++) {
			struct rd_variant *v = &set->rds[r]->v[i];
			if (strcmp(v->link, set->d.link.name) != 0)
				continue;
			if (set->n == cap) {
				struct sim_cand *nc = realloc(set->c, (cap = cap ? cap * 2 : 16) * sizeof(*nc));
				if (!nc) {
					e = ERR_NOMEM;
					snprintf(err, errlen, "out of memory");
					break;
				}
				set->c = nc;
			}
			struct sim_cand *c = &set->c[set->n++];
			c->usable = sim_cost(&set->d, set->rds[r], v, set->span_s, -1, c) == 0;
		}
	}
	if (e == ERR_OK && !set->n && need) {
		snprintf(err, errlen, "no variant of %s ran on link %s (the deployment's): run a scenario with `link: %s`",
		         nruns == 1 ? rundirs[0] : "these runs", set->d.link.name, set->d.link.name);
		e = ERR_USAGE;
	}
	if (e != ERR_OK) {
		sim_free(set);
		return e;
	}
	*out = set;
	return ERR_OK;
}

enum dormant_err sim_load(const char *deployment, const char *const *rundirs, size_t nruns, uint64_t for_us,
                          struct sim_set **out, char *err, size_t errlen)
{
	return load_set(deployment, rundirs, nruns, for_us, 1, out, err, errlen);
}

enum dormant_err sim_load_any(const char *deployment, const char *const *rundirs, size_t nruns,
                              struct sim_set **out, char *err, size_t errlen)
{
	return load_set(deployment, rundirs, nruns, 0, 0, out, err, errlen);
}

enum dormant_err simulate_run(const struct simulate_opts *o, FILE *out, char *err, size_t errlen)
{
	struct sim_set *set;
	enum dormant_err e = sim_load(o->deployment, o->rundirs, o->nruns, o->for_us, &set, err, errlen);
	if (e != ERR_OK)
		return e;
	if (o->json)
		print_json(out, &set->d, set->c, set->n, set->span_s);
	else
		print_table(out, &set->d, set->c, set->n, set->span_s);
	sim_free(set);
	return ERR_OK;
}
