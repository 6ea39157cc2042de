/* predict.c: `dormant model` (see predict.h). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "link.h"
#include "model.h"
#include "predict.h"
#include "rundata.h"
#include "stats.h"
#include "trace.h"
#include "ytree.h"

#ifndef DORMANT_LINKS_DIR
#define DORMANT_LINKS_DIR "scenarios/links"
#endif

/* One variant's figures: per wake, predicted and (on the target) measured. */
struct pvar {
	struct rd_variant *v;
	int measured;                /* the variant ran on a link of the target's name */
	uint64_t wakes;              /* ok wakes modelled */
	uint64_t untraced;           /* ok wakes with no packets in packets.csv */
	double src_delay_ms;         /* the first trace's */
	struct samples wake_ms, active_ms, energy_mj, tx_ms, rx_ms, air_up_ms, air_down_ms, flights, host_ms;
	struct samples m_wake_ms, m_active_ms, m_energy_mj;
};

static void pvar_free(struct pvar *p)
{
	struct samples *all[] = { &p->wake_ms,   &p->active_ms, &p->energy_mj, &p->tx_ms,     &p->rx_ms,
	                          &p->air_up_ms, &p->air_down_ms, &p->flights, &p->host_ms, &p->m_wake_ms,
	                          &p->m_active_ms, &p->m_energy_mj };
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		samples_free(all[i]);
}

/* The profile LINK names: a path as it is, else NAME.yaml in scenarios/links/ here or in the source tree. */
static enum dormant_err load_link(const char *link, struct link_profile *p, char *err, size_t errlen)
{
	size_t n = strlen(link);
	if (strchr(link, '/') || (n > 5 && !strcmp(link + n - 5, ".yaml")))
		return link_profile_load(link, p, err, errlen);
	if (!n) {
		snprintf(err, errlen, "--link needs a profile name or path, got ''");
		return ERR_USAGE;
	}
	const char *dirs[] = { "scenarios/links", DORMANT_LINKS_DIR };
	char path[LINK_PATH_MAX];
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s.yaml", dirs[i], link);
		if (access(path, F_OK) == 0)
			return link_profile_load(path, p, err, errlen);
	}
	snprintf(err, errlen, "--link %s: no scenarios/links/%s.yaml here or in %s (give a path to a profile)", link,
	         link, DORMANT_LINKS_DIR);
	return ERR_USAGE;
}

/* The run's seed, from its scenario.yaml copy (scenario.c's default, 1, when it has none). */
static uint64_t run_seed(const struct rundata *rd)
{
	uint64_t seed = 1;
	if (!rd->scenario_text)
		return seed;
	struct yreader r = { .path = "scenario.yaml", .text = rd->scenario_text, .len = strlen(rd->scenario_text),
	                     .what = "scenario" };
	if (ytree_read(&r) == 0 && r.root && r.root->kind == YNODE_MAPPING)
		for (size_t i = 0; i + 1 < r.root->nchild; i += 2) {
			const struct ynode *k = r.root->child[i], *v = r.root->child[i + 1];
			if (k->kind == YNODE_SCALAR && !strcmp(k->text, "seed") && v->kind == YNODE_SCALAR) {
				char *end;
				errno = 0;
				unsigned long long x = strtoull(v->text, &end, 10);
				if (end != v->text && !*end && !errno)
					seed = x;
			}
		}
	ytree_free(r.root);
	return seed;
}

struct reader {
	const char *path;
	const struct link_profile *target;
	uint64_t seed;
	struct pvar *pv;
	size_t npv;
	const char *only;              /* --variant */
	/* the wake being read */
	struct trace_wake w;
	struct trace_packet *p;
	size_t n, cap;
	struct radio_burst *air;
	size_t air_cap;
};

static struct pvar *find_pvar(struct reader *r, const char *name)
{
	for (size_t i = 0; i < r->npv; i++)
		if (!strcmp(r->pv[i].v->name, name))
			return &r->pv[i];
	return NULL;
}

static int add(struct samples *s, double x)
{
	return isnan(x) ? 0 : samples_add(s, x);
}

/* Models the wake read so far, if it is an ok wake of a variant asked for. -1: out of memory. */
static int flush_wake(struct reader *r)
{
	if (!r->n)
		return 0;
	size_t n = r->n;
	r->n = 0;
	struct pvar *pv = find_pvar(r, r->w.variant);
	if (!pv)
		return 0;
	const struct rd_wake *wk = rundata_wake(pv->v, r->w.device, r->w.seq);
	if (!wk || isnan(wk->wake_ms))
		return 0; /* a failed wake */
	if (n > r->air_cap) {
		struct radio_burst *a = realloc(r->air, n * sizeof(*a));
		if (!a)
			return -1;
		r->air = a;
		r->air_cap = n;
	}
	struct model_source src = { r->p, n, (double)r->w.delay_us / 1000.0, wk->wake_ms,
	                            (double)r->w.settle_us / 1000.0 };
	double dt = link_delay_ms(r->target, r->seed, (uint32_t)r->w.device);
	struct model_result m;
	model_predict(&src, r->target, dt, r->air, &m);
	if (!pv->wakes)
		pv->src_delay_ms = src.delay_ms;
	pv->wakes++;
	if (add(&pv->wake_ms, m.wake_ms) || add(&pv->active_ms, m.active_ms) || add(&pv->energy_mj, m.energy.energy_mj) || add(&pv->tx_ms, m.energy.tx_ms) ||
	    add(&pv->rx_ms, m.energy.rx_ms) || add(&pv->air_up_ms, m.air_up_ms) || add(&pv->air_down_ms, m.air_down_ms) ||
	    add(&pv->flights, (double)m.flights) || add(&pv->host_ms, m.host_ms))
		return -1;
	if (pv->measured && (add(&pv->m_wake_ms, wk->wake_ms) || add(&pv->m_active_ms, wk->wake_ms - src.settle_ms) ||
	                     add(&pv->m_energy_mj, wk->energy_mj)))
		return -1;
	return 0;
}

static int same_wake(const struct trace_wake *a, const struct trace_wake *b)
{
	return a->device == b->device && a->seq == b->seq && !strcmp(a->variant, b->variant);
}

static enum dormant_err read_packets(struct reader *r, FILE *f, char *err, size_t errlen)
{
	enum dormant_err rc = ERR_OK;
	char *line = NULL, **fields = NULL;
	size_t cap = 0;
	ssize_t len;
	int *map = NULL, maxf = 0;
	unsigned long lineno = 0;
	while ((len = getline(&line, &cap, f)) > 0) {
		lineno++;
		while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = 0;
		if (!len)
			continue;
		if (!fields) {
			maxf = 1;
			for (char *c = line; *c; c++)
				maxf += *c == ',';
			fields = malloc((size_t)maxf * sizeof(*fields));
			map = malloc((size_t)maxf * sizeof(*map));
			if (!fields || !map) {
				rc = ERR_NOMEM;
				break;
			}
			const char *missing = "";
			if (trace_map_header(fields, columns_split(line, fields, maxf), map, &missing) != 0) {
				snprintf(err, errlen, "%s:1: no '%s' column in the header", r->path, missing);
				rc = ERR_IO;
				break;
			}
			continue;
		}
		struct trace_wake w = { 0 };
		struct trace_packet p;
		int nf = columns_split(line, fields, maxf);
		if (trace_parse_row(fields, nf, map, &w, &p) != 0) {
			snprintf(err, errlen, "%s:%lu: not a packet row (%d fields)", r->path, lineno, nf);
			rc = ERR_IO;
			break;
		}
		if (r->n && !same_wake(&w, &r->w) && flush_wake(r) != 0) {
			rc = ERR_NOMEM;
			break;
		}
		if (r->n == r->cap) {
			size_t nc = r->cap ? 2 * r->cap : 64;
			struct trace_packet *np = realloc(r->p, nc * sizeof(*np));
			if (!np) {
				rc = ERR_NOMEM;
				break;
			}
			r->p = np;
			r->cap = nc;
		}
		r->w = w;
		r->p[r->n++] = p;
	}
	if (rc == ERR_OK && flush_wake(r) != 0)
		rc = ERR_NOMEM;
	if (rc == ERR_OK && !fields)
		snprintf(err, errlen, "%s: empty (no header)", r->path), rc = ERR_IO;
	if (rc == ERR_OK && ferror(f))
		snprintf(err, errlen, "%s: read error", r->path), rc = ERR_IO;
	if (rc == ERR_NOMEM)
		snprintf(err, errlen, "out of memory reading %s", r->path);
	free(line);
	free(fields);
	free(map);
	return rc;
}

static double med(struct samples *s)
{
	return samples_pct(s, 50);
}

static double ratio(double a, double b)
{
	return b > 0 && !isnan(a) ? a / b : NAN;
}

static void print_table(const struct reader *r, const char *rundir, FILE *out)
{
	const struct link_profile *t = r->target;
	fprintf(out, "model: %s on link %s (%s): delay %.6g", rundir, t->name, t->path, t->delay_ms_min);
	if (t->delay_ms_max > t->delay_ms_min)
		fprintf(out, "-%.6g", t->delay_ms_max);
	fprintf(out, " ms, up %.6g kbit/s, down %.6g kbit/s\n", t->up_kbps, t->down_kbps);
	int w = 7;
	for (size_t i = 0; i < r->npv; i++)
		if ((int)strlen(r->pv[i].v->name) > w)
			w = (int)strlen(r->pv[i].v->name);
	fprintf(out, "%-*s %-10s %6s %7s %10s %10s %6s %10s %10s %6s %10s %10s %6s %9s %9s\n", w, "variant",
	        "from link", "wakes", "flights", "wake ms", "measured", "ratio", "active ms", "measured", "ratio", "mJ",
	        "measured", "ratio", "tx ms", "rx ms");
	for (size_t i = 0; i < r->npv; i++) {
		struct pvar *p = &r->pv[i];
		char src[32];
		snprintf(src, sizeof(src), "%s", p->v->link[0] ? p->v->link : "none");
		if (!p->wakes) {
			fprintf(out, "%-*s %-10s %6s  no ok wake with a trace\n", w, p->v->name, src, "0");
			continue;
		}
		char mw[16] = "-", rw[16] = "-", ma[16] = "-", ra[16] = "-", me[16] = "-", re[16] = "-";
		if (p->measured) {
			snprintf(ma, sizeof(ma), "%.1f", med(&p->m_active_ms));
			snprintf(ra, sizeof(ra), "%.3f", ratio(med(&p->active_ms), med(&p->m_active_ms)));
			snprintf(mw, sizeof(mw), "%.1f", med(&p->m_wake_ms));
			snprintf(rw, sizeof(rw), "%.3f", ratio(med(&p->wake_ms), med(&p->m_wake_ms)));
			snprintf(me, sizeof(me), "%.2f", med(&p->m_energy_mj));
			snprintf(re, sizeof(re), "%.3f", ratio(med(&p->energy_mj), med(&p->m_energy_mj)));
		}
		fprintf(out, "%-*s %-10s %6llu %7.0f %10.1f %10s %6s %10.1f %10s %6s %10.2f %10s %6s %9.1f %9.1f\n", w,
		        p->v->name, src, (unsigned long long)p->wakes, med(&p->flights), med(&p->wake_ms), mw, rw,
		        med(&p->active_ms), ma, ra, med(&p->energy_mj), me, re, med(&p->tx_ms), med(&p->rx_ms));
	}
	fprintf(out, "medians per wake over the ok wakes with a trace; active: without the run's wait after the last "
	             "packet (%.0f ms on %s); measured and ratio (model / measured) when the variant ran on a link named "
	             "%s\n", link_settle_ms(t), t->name, t->name);
}

static json_t *num(double x)
{
	return isfinite(x) ? json_real(x) : json_null();
}

static int print_json(const struct reader *r, const char *rundir, FILE *out)
{
	const struct link_profile *t = r->target;
	json_t *root = json_object(), *vars = json_array();
	json_object_set_new(root, "run", json_string(rundir));
	json_t *lk = json_object();
	json_object_set_new(lk, "name", json_string(t->name));
	json_object_set_new(lk, "path", json_string(t->path));
	json_object_set_new(lk, "delay_ms_min", num(t->delay_ms_min));
	json_object_set_new(lk, "delay_ms_max", num(t->delay_ms_max));
	json_object_set_new(lk, "up_kbps", num(t->up_kbps));
	json_object_set_new(lk, "down_kbps", num(t->down_kbps));
	json_object_set_new(lk, "settle_ms", num(link_settle_ms(t)));
	json_object_set_new(root, "link", lk);
	for (size_t i = 0; i < r->npv; i++) {
		struct pvar *p = &r->pv[i];
		json_t *v = json_object(), *pr = json_object();
		json_object_set_new(v, "name", json_string(p->v->name));
		json_object_set_new(v, "protocol", json_string(p->v->protocol));
		json_object_set_new(v, "from_link", json_string(p->v->link));
		json_object_set_new(v, "from_delay_ms", p->wakes ? num(p->src_delay_ms) : json_null());
		json_object_set_new(v, "wakes", json_integer((json_int_t)p->wakes));
		json_object_set_new(v, "untraced_wakes", json_integer((json_int_t)p->untraced));
		json_object_set_new(pr, "wake_ms_p50", num(med(&p->wake_ms)));
		json_object_set_new(pr, "active_ms_p50", num(med(&p->active_ms)));
		json_object_set_new(pr, "energy_mj_p50", num(med(&p->energy_mj)));
		json_object_set_new(pr, "tx_ms_p50", num(med(&p->tx_ms)));
		json_object_set_new(pr, "rx_ms_p50", num(med(&p->rx_ms)));
		json_object_set_new(pr, "air_up_ms_p50", num(med(&p->air_up_ms)));
		json_object_set_new(pr, "air_down_ms_p50", num(med(&p->air_down_ms)));
		json_object_set_new(pr, "host_ms_p50", num(med(&p->host_ms)));
		json_object_set_new(pr, "flights_p50", num(med(&p->flights)));
		json_object_set_new(v, "predicted", pr);
		if (p->measured) {
			json_t *m = json_object(), *ra = json_object();
			json_object_set_new(m, "wake_ms_p50", num(med(&p->m_wake_ms)));
			json_object_set_new(m, "active_ms_p50", num(med(&p->m_active_ms)));
			json_object_set_new(m, "energy_mj_p50", num(med(&p->m_energy_mj)));
			json_object_set_new(ra, "wake_ms", num(ratio(med(&p->wake_ms), med(&p->m_wake_ms))));
			json_object_set_new(ra, "active_ms", num(ratio(med(&p->active_ms), med(&p->m_active_ms))));
			json_object_set_new(ra, "energy_mj", num(ratio(med(&p->energy_mj), med(&p->m_energy_mj))));
			json_object_set_new(v, "measured", m);
			json_object_set_new(v, "ratio", ra);
		} else {
			json_object_set_new(v, "measured", json_null());
			json_object_set_new(v, "ratio", json_null());
		}
		json_array_append_new(vars, v);
	}
	json_object_set_new(root, "variants", vars);
	int rc = json_dumpf(root, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
	fputc('\n', out);
	json_decref(root);
	return rc;
}

enum dormant_err predict_run(const struct predict_opts *o, FILE *out, char *err, size_t errlen)
{
	struct link_profile target;
	enum dormant_err rc = load_link(o->link, &target, err, errlen);
	if (rc != ERR_OK)
		return rc;
	struct rundata *rd = NULL;
	if ((rc = rundata_load(o->rundir, &rd, err, errlen)) != ERR_OK)
		return rc;
	char path[4200];
	snprintf(path, sizeof(path), "%s/%s", rd->dir, TRACE_FILE);
	struct reader r = { .path = path, .target = &target, .seed = run_seed(rd), .only = o->variant };
	FILE *f = NULL;
	if (!(r.pv = calloc(rd->nv ? rd->nv : 1, sizeof(*r.pv)))) {
		snprintf(err, errlen, "out of memory");
		rc = ERR_NOMEM;
		goto done;
	}
	for (size_t i = 0; i < rd->nv; i++) {
		if (o->variant && strcmp(rd->v[i].name, o->variant))
			continue;
		struct pvar *p = &r.pv[r.npv++];
		p->v = &rd->v[i];
		p->measured = p->v->link[0] && !strcmp(p->v->link, target.name);
	}
	if (!r.npv) {
		snprintf(err, errlen, "%s has no variant %s", rd->dir, o->variant ? o->variant : "at all");
		rc = ERR_USAGE;
		goto done;
	}
	if (!(f = fopen(path, "r"))) {
		int e = errno;
		snprintf(err, errlen, "%s: %s%s", path, strerror(e),
		         e == ENOENT ? " (the run had no links: the model needs a flight trace)" : "");
		rc = e == ENOENT ? ERR_USAGE : ERR_IO;
		goto done;
	}
	if ((rc = read_packets(&r, f, err, errlen)) != ERR_OK)
		goto done;
	for (size_t i = 0; i < r.npv; i++)
		r.pv[i].untraced = r.pv[i].v->nwakes - r.pv[i].wakes;
	if (o->json)
		print_json(&r, rd->dir, out);
	else
		print_table(&r, rd->dir, out);
done:
	if (f)
		fclose(f);
	for (size_t i = 0; i < r.npv; i++)
		pvar_free(&r.pv[i]);
	free(r.pv);
	free(r.p);
	free(r.air);
	rundata_free(rd);
	return rc;
}
