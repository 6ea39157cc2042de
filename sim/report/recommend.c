/* recommend.c: `dormant recommend` (see recommend.h). */
#include "recommend.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

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
	if (d->commands_per_day > 0 && deadline > 0) {
		if (c->kept)
			return snprintf(why, n, "could take commands at once, but commands over a kept connection "
			                        "(persistent with downlink) are not built yet"), 1;
		if (P > deadline)
			return snprintf(why, n, "takes a command at its next wake, up to %g s later; the deadline is %g s", P,
			                deadline), 1;
	}
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
static void explain(FILE *out, const struct deployment *d, const struct ranked *r, size_t nok)
{
	const struct sim_cand *w = r[0].c;
	double P = (double)d->wake_every_us / 1e6;
	double attach = d->link.attach_mj, tail = d->link.release_assist ? 0 : d->link.tail_ms * d->link.tail_mw / 1000;
	fprintf(out, "\nWhy: on %s, waking every %g s, %s lasts %.2f years on a %g Wh battery", d->link.name, P,
	        w->variant, w->years, d->battery_wh);
	if (nok < 2) {
		fprintf(out, "; it is the only candidate left.\n");
		return;
	}
	const struct sim_cand *s = r[1].c;
	double margin = (w->years / s->years - 1) * 100;
	int clear = w->years_p99 > s->years_p50;
	fprintf(out, ", %.1f %% longer than %s (%.2f years)%s. A period costs it %.0f mJ against %.0f mJ. ", margin,
	        s->variant, s->years,
	        clear ? "" : ", within the wake-to-wake spread: call it a tie", w->period_mj, s->period_mj);
	if (attach + tail > 0)
		fprintf(out, "Both pay the link's attach (%.0f mJ) and inactivity tail (%.0f mJ) every time the radio "
		             "wakes: %.0f %% of the winner's period. ",
		        attach, tail, 100 * (attach + tail) / w->period_mj);
	fprintf(out, "It moves %.1f kB a period against %.1f kB%s.\n", (w->up_b + w->down_b) / 1e3,
	        (s->up_b + s->down_b) / 1e3,
	        w->kept ? "; it keeps its connection, so the wake skips TCP, TLS and the protocol's set-up" : "");
}

enum dormant_err recommend_run(const struct simulate_opts *o, FILE *out, char *err, size_t errlen)
{
	struct sim_set *set;
	enum dormant_err e = sim_load(o->deployment, o->rundirs, o->nruns, o->for_us, &set, err, errlen);
	if (e != ERR_OK)
		return e;
	const struct deployment *d = &set->d;
	struct ranked *r = calloc(set->n, sizeof(*r));
	if (!r) {
		sim_free(set);
		snprintf(err, errlen, "out of memory");
		return ERR_NOMEM;
	}
	size_t nok = 0;
	for (size_t i = 0; i < set->n; i++) {
		r[i].c = &set->c[i];
		r[i].at = i;
		if (!r[i].c->usable)
			snprintf(r[i].why, sizeof r[i].why, "not costed: %.200s", r[i].c->note);
		else if (!recommend_rule_out(d, r[i].c, r[i].why, sizeof r[i].why))
			nok++;
	}
	qsort(r, set->n, sizeof(*r), by_years);
	if (o->json) {
		json_t *j = json_object(), *a = json_array();
		json_object_set_new(j, "deployment", json_string(d->name));
		json_object_set_new(j, "winner", nok ? json_string(r[0].c->variant) : json_null());
		json_object_set_new(j, "runner_up", nok > 1 ? json_string(r[1].c->variant) : json_null());
		json_object_set_new(j, "margin_pct", nok > 1 ? json_real((r[0].c->years / r[1].c->years - 1) * 100)
		                                             : json_null());
		json_object_set_new(j, "clear", nok > 1 ? json_boolean(r[0].c->years_p99 > r[1].c->years_p50) : json_null());
		for (size_t i = 0; i < set->n; i++) {
			json_t *c = json_object();
			json_object_set_new(c, "rank", r[i].why[0] ? json_null() : json_integer((json_int_t)i + 1));
			json_object_set_new(c, "variant", json_string(r[i].c->variant));
			json_object_set_new(c, "run", json_string(r[i].c->rundir));
			json_object_set_new(c, "ruled_out", r[i].why[0] ? json_string(r[i].why) : json_null());
			json_object_set_new(c, "port", json_integer(recommend_port(r[i].c->protocol, r[i].c->tls)));
			if (r[i].c->usable) {
				json_object_set_new(c, "battery_years", json_real(r[i].c->years));
				json_object_set_new(c, "period_mj", json_real(r[i].c->period_mj));
				json_object_set_new(c, "ip_bytes_per_period", json_real(r[i].c->up_b + r[i].c->down_b));
			}
			json_array_append_new(a, c);
		}
		json_object_set_new(j, "candidates", a);
		json_dumpf(j, out, JSON_INDENT(2) | JSON_REAL_PRECISION(10));
		fputc('\n', out);
		json_decref(j);
	} else {
		fprintf(out, "recommend: %s: %llu devices on %s, a wake every %g s, %g Wh\n\n", d->name,
		        (unsigned long long)d->devices, d->link.name, (double)d->wake_every_us / 1e6, d->battery_wh);
		int w = 12;
		for (size_t i = 0; i < set->n; i++)
			if ((int)strlen(r[i].c->variant) > w)
				w = (int)strlen(r[i].c->variant);
		fprintf(out, "%4s %-*s %6s %8s %15s %11s  %s\n", "rank", w, "candidate", "port", "years", "(p50/p99 wake)",
		        "kB/period", "source");
		for (size_t i = 0; i < set->n; i++) {
			const struct sim_cand *c = r[i].c;
			if (r[i].why[0])
				continue;
			char band[32];
			snprintf(band, sizeof band, "%.2f/%.2f", c->years_p50, c->years_p99);
			fprintf(out, "%4zu %-*s %6d %8.2f %15s %11.2f  %s (%llu wakes)\n", i + 1, w, c->variant,
			        recommend_port(c->protocol, c->tls), c->years, band, (c->up_b + c->down_b) / 1e3, c->rundir,
			        (unsigned long long)c->wakes);
		}
		if (nok < set->n) {
			fprintf(out, "\nruled out:\n");
			for (size_t i = 0; i < set->n; i++)
				if (r[i].why[0])
					fprintf(out, "  %-*s %s\n", w, r[i].c->variant, r[i].why);
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
		}
		if (d->client_auth == AUTH_TOKEN)
			fprintf(out, "note: devices authenticate by token; dormant's MQTT and AMQP devices connect "
			             "anonymously, so a username and password's bytes are not in their figures.\n");
	}
	free(r);
	sim_free(set);
	return ERR_OK;
}
