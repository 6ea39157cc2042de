/* rundata.c: wakes.csv and summary.json of a run directory, read back. */
#include <errno.h>
#include <stddef.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "columns.h"
#include "rundata.h"

const char *const rd_phase_names[RD_PHASES] = { "tcp", "tls", "setup", "data", "downlink", "teardown" };
const char *const rd_counter_names[RD_COUNTERS] = { "plain_up", "plain_down", "stream_up", "stream_down",
	                                             "ip_up",    "ip_down",    "segs_up",   "segs_down" };
const char *const rd_total_names[RD_TOTALS] = { "plain_up", "plain_down", "stream_up", "stream_down",
	                                         "ip_up",    "ip_down",    "segs_up",   "segs_down" };

/* A counter's field in a phase of a wake_row, and a total's in the row, in rd_counter order. */
static const size_t counter_off[RD_COUNTERS] = {
	offsetof(struct wake_row_phase, plain_up),  offsetof(struct wake_row_phase, plain_down),
	offsetof(struct wake_row_phase, stream_up), offsetof(struct wake_row_phase, stream_down),
	offsetof(struct wake_row_phase, ip_up),     offsetof(struct wake_row_phase, ip_down),
	offsetof(struct wake_row_phase, segs_up),   offsetof(struct wake_row_phase, segs_down),
};
static const size_t total_off[RD_TOTALS] = {
	offsetof(struct wake_row, plain_up),  offsetof(struct wake_row, plain_down),
	offsetof(struct wake_row, stream_up), offsetof(struct wake_row, stream_down),
	offsetof(struct wake_row, ip_up),     offsetof(struct wake_row, ip_down),
	offsetof(struct wake_row, segs_up),   offsetof(struct wake_row, segs_down),
};

/* Columns whose presence in the header a reader may ask about (rundata.has). */
static const struct {
	const char *name;
	unsigned flag;
} flagged_cols[] = {
	{ "e2e_us", RD_HAS_E2E },          { "cpu_us", RD_HAS_CPU },
	{ "tls_heap_peak", RD_HAS_HEAP },  { "resumed", RD_HAS_RESUMED },
	{ "resume_refused", RD_HAS_REFUSED }, { "t_tls_us", RD_HAS_T_TLS },
	{ "tls_hs_cpu_us", RD_HAS_TLS_CPU }, { "tls_cpu_us", RD_HAS_TLS_CPU },
	{ "ip_lower_bound", RD_HAS_LOWER_BOUND },
};

/* Which table column each field of the file is (-1: a column dormant does not know). */
struct colmap {
	int *col;
	int ncols;
};

static char *slurp(const char *path, size_t max)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *buf = malloc(max + 1);
	size_t n = buf ? fread(buf, 1, max, f) : 0;
	fclose(f);
	if (buf)
		buf[n] = 0;
	return buf;
}

/* An integer column as a double; NaN when absent. */
static double inum(int64_t x)
{
	return x == COLUMN_NONE ? NAN : (double)x;
}

static int64_t ctr(const struct wake_row_phase *p, enum rd_counter c)
{
	return *(const int64_t *)((const char *)p + counter_off[c]);
}

static int map_header(struct colmap *m, char **f, int nf, unsigned *has)
{
	m->col = malloc((size_t)(nf ? nf : 1) * sizeof(*m->col));
	if (!m->col)
		return -1;
	m->ncols = nf;
	for (int i = 0; i < nf; i++) {
		m->col[i] = columns_find(f[i]);
		for (size_t k = 0; k < sizeof(flagged_cols) / sizeof(flagged_cols[0]); k++)
			if (!strcmp(f[i], flagged_cols[k].name))
				*has |= flagged_cols[k].flag;
		/* the table ends with its <counter>_<phase> columns */
		if (m->col[i] >= (int)(columns_count - WAKE_ROW_PHASES * WAKE_ROW_COUNTERS))
			*has |= RD_HAS_PHASES;
	}
	return 0;
}

static struct rd_variant *add_variant(struct rundata *rd, const char *name)
{
	struct rd_variant *nv = realloc(rd->v, (rd->nv + 1) * sizeof(*nv));
	if (!nv)
		return NULL;
	rd->v = nv;
	struct rd_variant *v = &rd->v[rd->nv++];
	memset(v, 0, sizeof(*v));
	snprintf(v->name, sizeof(v->name), "%s", name);
	v->expected = v->late = v->sent = v->received = v->lost = v->dups = v->unacked = v->lib_us_per_wake = NAN;
	return v;
}

static struct rd_variant *find_variant(struct rundata *rd, const char *name)
{
	for (size_t i = 0; i < rd->nv; i++)
		if (!strcmp(rd->v[i].name, name))
			return &rd->v[i];
	return NULL;
}

static size_t kind_index(struct rundata *rd, const char *kind)
{
	if (!kind[0])
		kind = "unknown";
	for (size_t i = 0; i < rd->nkinds; i++)
		if (!strcmp(rd->kinds[i], kind))
			return i;
	if (rd->nkinds == RD_MAX_KINDS)
		return RD_MAX_KINDS - 1; /* the last slot takes the rest */
	snprintf(rd->kinds[rd->nkinds], sizeof(rd->kinds[0]), "%s", kind);
	return rd->nkinds++;
}

static void set_axis(char *dst, size_t len, const char *s)
{
	if (!dst[0] && s[0])
		snprintf(dst, len, "%s", s);
}

static int add_sample(struct samples *s, double x)
{
	return isnan(x) ? 0 : samples_add(s, x);
}

static int read_row(struct rundata *rd, const struct wake_row *r, struct rd_variant **last)
{
	if (!r->variant[0])
		return 0;
	struct rd_variant *v = *last;
	if (!v || strcmp(v->name, r->variant)) {
		v = find_variant(rd, r->variant);
		if (!v && !(v = add_variant(rd, r->variant)))
			return -1;
		*last = v;
	}
	set_axis(v->protocol, sizeof(v->protocol), r->protocol);
	set_axis(v->broker, sizeof(v->broker), r->broker);
	set_axis(v->tls, sizeof(v->tls), r->tls);
	set_axis(v->resume, sizeof(v->resume), r->resume);
	set_axis(v->link, sizeof(v->link), r->link);
	if (!v->qos[0] && r->qos != COLUMN_NONE)
		snprintf(v->qos, sizeof(v->qos), "%lld", (long long)r->qos);
	v->rows++;
	rd->rows++;
	if (r->ip_lower_bound == 1)
		v->ip_lower_bound++;
	if (r->ip_rst_unsure == 1)
		v->ip_rst_unsure++;
	if (strcmp(r->outcome, "ok")) {
		v->failed++;
		size_t k = kind_index(rd, r->error_kind);
		if (!v->fails[k]++)
			snprintf(v->fail_example[k], sizeof(v->fail_example[k]), "%s", r->error_detail);
		return 0;
	}
	v->ok++;
	if (r->device != COLUMN_NONE && r->seq != COLUMN_NONE) {
		size_t n = v->nwakes;
		if ((n & (n - 1)) == 0) { /* 0, 1, 2, 4, ...: room doubles */
			struct rd_wake *nw = realloc(v->wakes, (n ? 2 * n : 1) * sizeof(*nw));
			if (!nw)
				return -1;
			v->wakes = nw;
		}
		v->wakes[v->nwakes++] = (struct rd_wake){ .device = r->device, .seq = r->seq,
		                                    .wake_ms = inum(r->t_wake_us) / 1000.0, .energy_mj = r->energy_mj };
		v->wakes_sorted = 0;
	}
	if (add_sample(&v->wake_ms, inum(r->t_wake_us) / 1000.0) ||
	    add_sample(&v->acked_ms, inum(r->t_acked_us) / 1000.0) ||
	    add_sample(&v->e2e_ms, inum(r->e2e_us) / 1000.0) || add_sample(&v->cpu_us, r->cpu_us) ||
	    add_sample(&v->cmd_delay_ms, r->cmd_delay_us / 1000.0) ||
	    add_sample(&v->heap_kib, inum(r->tls_heap_peak) / 1024.0) || add_sample(&v->energy_mj, r->energy_mj) ||
	    add_sample(&v->radio_on_ms, r->radio_on_ms))
		return -1;
	if (r->commands != COLUMN_NONE && r->commands > 0)
		v->commands += (uint64_t)r->commands;
	for (int t = 0; t < RD_TOTALS; t++) {
		double x = inum(*(const int64_t *)((const char *)r + total_off[t]));
		if (!isnan(x)) {
			v->total[t] += x;
			v->total_n[t]++;
		}
	}
	for (int p = 0; p < RD_PHASES; p++)
		for (int c = 0; c < RD_COUNTERS; c++) {
			double x = inum(ctr(&r->ph[p], (enum rd_counter)c));
			if (!isnan(x))
				v->ph[p][c] += x;
		}
	if (v->tls[0] && strcmp(v->tls, "none")) {
		struct rd_handshakes *h = &v->hs[r->resumed == 1];
		h->n++;
		const struct wake_row_phase *tp = &r->ph[1]; /* the tls phase */
		double x[4] = { inum(tp->ip_up), inum(tp->ip_down), inum(tp->stream_up), inum(tp->stream_down) };
		double *sum[4] = { &h->ip_up, &h->ip_down, &h->rec_up, &h->rec_down };
		for (int i = 0; i < 4; i++)
			*sum[i] += isnan(x[i]) ? 0 : x[i];
		/* the handshake's CPU; a run that lacks it has the whole TLS CPU */
		double cpu = !isnan(r->tls_hs_cpu_us) ? r->tls_hs_cpu_us : r->tls_cpu_us;
		if (add_sample(&h->t_ms, inum(r->t_tls_us) / 1000.0) || add_sample(&h->cpu_us, cpu) ||
		    add_sample(&h->heap_kib, inum(r->tls_heap_peak) / 1024.0) ||
		    add_sample(&h->session_b, inum(r->tls_session_bytes)) || add_sample(&h->energy_mj, r->energy_mj) ||
		    add_sample(&h->radio_on_ms, r->radio_on_ms))
			return -1;
		h->wake_ip_up += isnan(inum(r->ip_up)) ? 0 : inum(r->ip_up);
		h->wake_ip_down += isnan(inum(r->ip_down)) ? 0 : inum(r->ip_down);
	}
	if (r->resume_refused == 1)
		v->resume_refused++;
	return 0;
}

const char *const rd_battery_periods[RD_BATTERY_PERIODS] = { "1m", "15m", "1h", "1d" };

static void read_summary(struct rundata *rd)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/summary.json", rd->dir);
	rd->summary = json_read_file(path, rd->summary_err, sizeof(rd->summary_err));
	const char *name = json_str_at(rd->summary, "scenario", NULL);
	if (name)
		snprintf(rd->name, sizeof(rd->name), "%s", name);
	const json_t *vs = json_path(rd->summary, "variants");
	for (size_t i = 0; i < json_array_size(vs); i++) {
		const json_t *j = json_array_get(vs, i);
		const char *vn = json_str_at(j, "name", NULL);
		if (!vn)
			continue;
		struct rd_variant *v = find_variant(rd, vn);
		if (!v && !(v = add_variant(rd, vn)))
			return;
		set_axis(v->protocol, sizeof(v->protocol), json_str_at(j, "protocol", ""));
		set_axis(v->broker, sizeof(v->broker), json_str_at(j, "broker", ""));
		set_axis(v->tls, sizeof(v->tls), json_str_at(j, "tls", ""));
		set_axis(v->resume, sizeof(v->resume), json_str_at(j, "resume", ""));
		double q = json_num_at(j, "qos", NAN);
		if (!isnan(q))
			snprintf(v->qos, sizeof(v->qos), "%.0f", q);
		v->expected = json_num_at(j, "expected_wakes", NAN);
		v->late = json_num_at(j, "late_wakes", NAN);
		v->not_started = json_num_at(j, "schedule.not_started", NAN);
		v->achieved_per_s = json_num_at(j, "schedule.achieved_wakes_per_s", NAN);
		v->scheduled_per_s = json_num_at(j, "schedule.scheduled_wakes_per_s", NAN);
		v->lag_p99_ms = json_num_at(j, "schedule.lag_ms.p99", NAN);
		snprintf(v->limit, sizeof(v->limit), "%s", json_str_at(j, "schedule.limit", ""));
		snprintf(v->sched_why, sizeof(v->sched_why), "%s", json_str_at(j, "schedule.why", ""));
		v->sent = json_num_at(j, "messages.sent", NAN);
		v->received = json_num_at(j, "messages.received", NAN);
		v->lost = json_num_at(j, "messages.lost", NAN);
		v->dups = json_num_at(j, "messages.duplicates", NAN);
		v->unacked = json_num_at(j, "messages.unacked", NAN);
		v->lib_us_per_wake = json_num_at(j, "cpu.library_us_per_wake", NAN);
		v->interrupted = json_num_at(j, "interrupted", 0) != 0;
		v->cmd_issued = json_num_at(j, "commands.issued", NAN);
		v->polls = json_num_at(j, "commands.polls", NAN);
		v->cmd_pending = json_num_at(j, "commands.pending", NAN);
		v->cmd_dropped = json_num_at(j, "commands.dropped", NAN);
		v->sessions_before = json_num_at(j, "sessions.made_before_window", NAN);
		const json_t *fl = json_array_get(json_path(j, "radio.fleets"), 0);
		for (int k = 0; k < RD_BATTERY_PERIODS; k++) {
			char key[48];
			snprintf(key, sizeof(key), "battery_years_at.%s", rd_battery_periods[k]);
			v->years_at[k] = fl ? json_num_at(fl, key, NAN) : NAN;
		}
	}
}

enum dormant_err rundata_load(const char *dir, struct rundata **out, char *err, size_t errlen)
{
	*out = NULL;
	struct rundata *rd = calloc(1, sizeof(*rd));
	if (!rd) {
		snprintf(err, errlen, "out of memory");
		return ERR_NOMEM;
	}
	size_t dl = strlen(dir);
	while (dl > 1 && dir[dl - 1] == '/')
		dl--;
	snprintf(rd->dir, sizeof(rd->dir), "%.*s", (int)dl, dir);
	const char *base = strrchr(rd->dir, '/');
	snprintf(rd->name, sizeof(rd->name), "%.127s", base ? base + 1 : rd->dir);

	char path[4200];
	snprintf(path, sizeof(path), "%s/wakes.csv", rd->dir);
	FILE *f = fopen(path, "r");
	if (!f) {
		int e = errno;
		snprintf(err, errlen, "%s: %s%s", path, strerror(e), e == ENOENT ? " (not a run directory?)" : "");
		rundata_free(rd);
		return e == ENOENT || e == ENOTDIR ? ERR_USAGE : ERR_IO;
	}
	/* summary.json first: its variant order is the run's order */
	read_summary(rd);
	snprintf(path, sizeof(path), "%s/env.json", rd->dir);
	rd->env = json_read_file(path, rd->env_err, sizeof(rd->env_err));
	rd->env_text = slurp(path, 1 << 20);
	snprintf(path, sizeof(path), "%s/scenario.yaml", rd->dir);
	rd->scenario_text = slurp(path, 1 << 20);

	enum dormant_err rc = ERR_OK;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	char **fields = NULL;
	int maxf = 0;
	struct colmap m = { NULL, 0 };
	int header = 1;
	struct rd_variant *last = NULL;
	while ((len = getline(&line, &cap, f)) > 0) {
		while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = 0;
		if (!len)
			continue;
		if (header) {
			maxf = 1;
			for (char *p = line; *p; p++)
				maxf += *p == ',';
			maxf += 8;
			fields = malloc((size_t)maxf * sizeof(*fields));
			int nf = fields ? columns_split(line, fields, maxf) : 0;
			if (!fields || map_header(&m, fields, nf, &rd->has) != 0) {
				rc = ERR_NOMEM;
				break;
			}
			if (rd->has & RD_HAS_HEAP)
				snprintf(rd->heap_col, sizeof(rd->heap_col), "tls_heap_peak");
			int have_variant = 0, have_outcome = 0;
			for (int i = 0; i < nf; i++) {
				have_variant |= !strcmp(fields[i], "variant");
				have_outcome |= !strcmp(fields[i], "outcome");
			}
			if (!have_variant || !have_outcome) {
				snprintf(err, errlen, "%s/wakes.csv: no 'variant' or 'outcome' column in the header", rd->dir);
				rc = ERR_IO;
				break;
			}
			header = 0;
			continue;
		}
		int nf = columns_split(line, fields, maxf);
		struct wake_row r;
		wake_row_clear(&r);
		for (int i = 0; i < nf && i < m.ncols; i++)
			if (m.col[i] >= 0)
				columns_parse(m.col[i], fields[i], &r); /* a bad figure reads as absent */
		if (read_row(rd, &r, &last) != 0) {
			rc = ERR_NOMEM;
			break;
		}
	}
	if (rc == ERR_OK && ferror(f)) {
		snprintf(err, errlen, "%s/wakes.csv: read error", rd->dir);
		rc = ERR_IO;
	}
	if (rc == ERR_NOMEM)
		snprintf(err, errlen, "out of memory reading %s/wakes.csv", rd->dir);
	free(fields);
	free(m.col);
	free(line);
	fclose(f);
	for (size_t i = 0; i < rd->nv; i++)
		if (rd->v[i].tls[0] && strcmp(rd->v[i].tls, "none"))
			rd->any_tls = 1;
	if (rc != ERR_OK) {
		rundata_free(rd);
		return rc;
	}
	*out = rd;
	return ERR_OK;
}

void rundata_free(struct rundata *rd)
{
	if (!rd)
		return;
	for (size_t i = 0; i < rd->nv; i++) {
		struct rd_variant *v = &rd->v[i];
		samples_free(&v->wake_ms);
		free(v->wakes);
		samples_free(&v->acked_ms);
		samples_free(&v->e2e_ms);
		samples_free(&v->cmd_delay_ms);
		samples_free(&v->cpu_us);
		samples_free(&v->heap_kib);
		samples_free(&v->energy_mj);
		samples_free(&v->radio_on_ms);
		for (int k = 0; k < 2; k++) {
			samples_free(&v->hs[k].t_ms);
			samples_free(&v->hs[k].cpu_us);
			samples_free(&v->hs[k].heap_kib);
			samples_free(&v->hs[k].energy_mj);
			samples_free(&v->hs[k].radio_on_ms);
			samples_free(&v->hs[k].session_b);
		}
	}
	free(rd->v);
	json_decref(rd->summary);
	json_decref(rd->env);
	free(rd->scenario_text);
	free(rd->env_text);
	free(rd);
}

struct rd_variant *rundata_variant(struct rundata *rd, const char *name)
{
	for (size_t i = 0; i < rd->nv; i++)
		if (!strcmp(rd->v[i].name, name))
			return &rd->v[i];
	return NULL;
}

double rd_phase_mean(const struct rd_variant *v, int phase, enum rd_counter c)
{
	return v->ok ? v->ph[phase][c] / (double)v->ok : NAN;
}

double rd_total_mean(const struct rd_variant *v, enum rd_total t)
{
	return v->total_n[t] ? v->total[t] / (double)v->total_n[t] : NAN;
}

static int wake_cmp(const void *a, const void *b)
{
	const struct rd_wake *x = a, *y = b;
	if (x->device != y->device)
		return x->device < y->device ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

const struct rd_wake *rundata_wake(struct rd_variant *v, int64_t device, int64_t seq)
{
	if (!v->wakes_sorted) {
		if (v->nwakes)
			qsort(v->wakes, v->nwakes, sizeof(*v->wakes), wake_cmp);
		v->wakes_sorted = 1;
	}
	struct rd_wake key = { .device = device, .seq = seq };
	return v->nwakes ? bsearch(&key, v->wakes, v->nwakes, sizeof(*v->wakes), wake_cmp) : NULL;
}
