/* rundata.c: wakes.csv and summary.json of a run directory, read back. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rundata.h"

const char *const rd_phase_names[RD_PHASES] = { "tcp", "tls", "setup", "data", "downlink", "teardown" };
const char *const rd_counter_names[RD_COUNTERS] = { "plain_up", "plain_down", "stream_up", "stream_down",
	                                             "ip_up",    "ip_down",    "segs_up",   "segs_down" };
const char *const rd_total_names[RD_TOTALS] = { "plain_up", "plain_down", "stream_up", "stream_down",
	                                         "ip_up",    "ip_down",    "segs_up",   "segs_down" };

/* The columns read; every other column is ignored. */
enum col {
	C_VARIANT, C_PROTOCOL, C_BROKER, C_TLS, C_RESUME, C_QOS, C_OUTCOME, C_ERROR_KIND, C_ERROR_DETAIL,
	C_T_WAKE, C_T_ACKED, C_E2E, C_CPU, C_HEAP, C_TLS_HEAP, C_RESUMED, C_REFUSED, C_T_TLS, C_TLS_HS_CPU,
	C_TLS_CPU, C_TLS_SESSION, C_COMMANDS, C_CMD_DELAY, C__NAMED
};

static const struct {
	const char *name;
	unsigned flag;
	int prefix; /* matches any column starting with the name */
} named_cols[C__NAMED] = {
	[C_VARIANT] = { "variant", 0, 0 },
	[C_PROTOCOL] = { "protocol", 0, 0 },
	[C_BROKER] = { "broker", 0, 0 },
	[C_TLS] = { "tls", 0, 0 },
	[C_RESUME] = { "resume", 0, 0 },
	[C_QOS] = { "qos", 0, 0 },
	[C_OUTCOME] = { "outcome", 0, 0 },
	[C_ERROR_KIND] = { "error_kind", 0, 0 },
	[C_ERROR_DETAIL] = { "error_detail", 0, 0 },
	[C_T_WAKE] = { "t_wake_us", 0, 0 },
	[C_T_ACKED] = { "t_acked_us", 0, 0 },
	[C_E2E] = { "e2e_us", RD_HAS_E2E, 0 },
	[C_CPU] = { "cpu_us", RD_HAS_CPU, 0 },
	[C_HEAP] = { "heap_peak", RD_HAS_HEAP, 1 },
	[C_TLS_HEAP] = { "tls_heap_peak", RD_HAS_HEAP, 1 },
	[C_RESUMED] = { "resumed", RD_HAS_RESUMED, 0 },
	[C_REFUSED] = { "resume_refused", RD_HAS_REFUSED, 0 },
	[C_T_TLS] = { "t_tls_us", RD_HAS_T_TLS, 0 },
	[C_TLS_HS_CPU] = { "tls_hs_cpu_us", RD_HAS_TLS_CPU, 0 },
	[C_TLS_CPU] = { "tls_cpu_us", RD_HAS_TLS_CPU, 0 },
	[C_TLS_SESSION] = { "tls_session_bytes", 0, 0 },
	[C_COMMANDS] = { "commands", 0, 0 },
	[C_CMD_DELAY] = { "cmd_delay_us", 0, 0 },
};

struct colmap {
	int named[C__NAMED];
	int total[RD_TOTALS];
	int ph[RD_PHASES][RD_COUNTERS];
	double heap_scale, tls_heap_scale; /* heap columns to KiB */
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

/* Splits LINE in place into at most MAX fields (RFC 4180 quoting, "" inside
 * quotes). Returns the number of fields. */
static int csv_split(char *line, char **fields, int max)
{
	int n = 0;
	char *p = line;
	for (;;) {
		if (n == max)
			return n;
		if (*p == '"') {
			char *o = ++p;
			fields[n++] = o;
			while (*p) {
				if (*p == '"' && p[1] == '"') {
					*o++ = '"';
					p += 2;
				} else if (*p == '"') {
					p++;
					break;
				} else {
					*o++ = *p++;
				}
			}
			while (*p && *p != ',')
				p++;
			char end = *p;
			*o = 0;
			if (!end)
				return n;
			p++;
		} else {
			fields[n++] = p;
			p += strcspn(p, ",");
			if (!*p)
				return n;
			*p++ = 0;
		}
	}
}

static double num(char **f, int nf, int col)
{
	if (col < 0 || col >= nf || !f[col][0])
		return NAN;
	char *end;
	double x = strtod(f[col], &end);
	return end == f[col] ? NAN : x;
}

static const char *text(char **f, int nf, int col)
{
	return col >= 0 && col < nf ? f[col] : "";
}

static int truthy(const char *s)
{
	return !strcmp(s, "1") || !strcasecmp(s, "true") || !strcasecmp(s, "yes");
}

static void map_header(struct colmap *m, char **f, int nf, unsigned *has)
{
	memset(m, 0xff, sizeof(*m)); /* every index -1 */
	m->heap_scale = m->tls_heap_scale = 1.0 / 1024.0;
	m->ncols = nf;
	for (int i = 0; i < nf; i++) {
		const char *h = f[i];
		for (int c = 0; c < C__NAMED; c++) {
			size_t n = strlen(named_cols[c].name);
			if (m->named[c] < 0 &&
			    (!strcmp(h, named_cols[c].name) || (named_cols[c].prefix && !strncmp(h, named_cols[c].name, n)))) {
				m->named[c] = i;
				*has |= named_cols[c].flag;
				if (c == C_HEAP || c == C_TLS_HEAP) {
					const char *unit = h + n;
					double *scale = c == C_HEAP ? &m->heap_scale : &m->tls_heap_scale;
					if (!strcmp(unit, "_kib") || !strcmp(unit, "_kb"))
						*scale = 1.0;
					else if (!strcmp(unit, "_mib") || !strcmp(unit, "_mb"))
						*scale = 1024.0;
				}
			}
		}
		for (int t = 0; t < RD_TOTALS; t++)
			if (!strcmp(h, rd_total_names[t]))
				m->total[t] = i;
		for (int p = 0; p < RD_PHASES; p++)
			for (int c = 0; c < RD_COUNTERS; c++) {
				size_t n = strlen(rd_counter_names[c]);
				if (!strncmp(h, rd_counter_names[c], n) && h[n] == '_' && !strcmp(h + n + 1, rd_phase_names[p])) {
					m->ph[p][c] = i;
					*has |= RD_HAS_PHASES;
				}
			}
	}
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

static int read_row(struct rundata *rd, const struct colmap *m, char **f, int nf, struct rd_variant **last)
{
	const char *name = text(f, nf, m->named[C_VARIANT]);
	if (!name[0])
		return 0;
	struct rd_variant *v = *last;
	if (!v || strcmp(v->name, name)) {
		v = find_variant(rd, name);
		if (!v && !(v = add_variant(rd, name)))
			return -1;
		*last = v;
	}
	set_axis(v->protocol, sizeof(v->protocol), text(f, nf, m->named[C_PROTOCOL]));
	set_axis(v->broker, sizeof(v->broker), text(f, nf, m->named[C_BROKER]));
	set_axis(v->tls, sizeof(v->tls), text(f, nf, m->named[C_TLS]));
	set_axis(v->resume, sizeof(v->resume), text(f, nf, m->named[C_RESUME]));
	set_axis(v->qos, sizeof(v->qos), text(f, nf, m->named[C_QOS]));
	v->rows++;
	rd->rows++;
	const char *outcome = text(f, nf, m->named[C_OUTCOME]);
	if (strcmp(outcome, "ok")) {
		v->failed++;
		size_t k = kind_index(rd, text(f, nf, m->named[C_ERROR_KIND]));
		if (!v->fails[k]++)
			snprintf(v->fail_example[k], sizeof(v->fail_example[k]), "%s", text(f, nf, m->named[C_ERROR_DETAIL]));
		return 0;
	}
	v->ok++;
	if (add_sample(&v->wake_ms, num(f, nf, m->named[C_T_WAKE]) / 1000.0) ||
	    add_sample(&v->acked_ms, num(f, nf, m->named[C_T_ACKED]) / 1000.0) ||
	    add_sample(&v->e2e_ms, num(f, nf, m->named[C_E2E]) / 1000.0) ||
	    add_sample(&v->cpu_us, num(f, nf, m->named[C_CPU])) ||
	    add_sample(&v->cmd_delay_ms, num(f, nf, m->named[C_CMD_DELAY]) / 1000.0) ||
	    add_sample(&v->heap_kib, m->named[C_HEAP] >= 0 ? num(f, nf, m->named[C_HEAP]) * m->heap_scale
	                                                   : num(f, nf, m->named[C_TLS_HEAP]) * m->tls_heap_scale))
		return -1;
	double cmds = num(f, nf, m->named[C_COMMANDS]);
	if (!isnan(cmds))
		v->commands += (uint64_t)cmds;
	for (int t = 0; t < RD_TOTALS; t++) {
		double x = num(f, nf, m->total[t]);
		if (!isnan(x)) {
			v->total[t] += x;
			v->total_n[t]++;
		}
	}
	for (int p = 0; p < RD_PHASES; p++)
		for (int c = 0; c < RD_COUNTERS; c++) {
			double x = num(f, nf, m->ph[p][c]);
			if (!isnan(x))
				v->ph[p][c] += x;
		}
	if (v->tls[0] && strcmp(v->tls, "none")) {
		struct rd_handshakes *h = &v->hs[truthy(text(f, nf, m->named[C_RESUMED]))];
		h->n++;
		double x[4] = { num(f, nf, m->ph[1][RD_IP_UP]), num(f, nf, m->ph[1][RD_IP_DOWN]),
		                 num(f, nf, m->ph[1][RD_STREAM_UP]), num(f, nf, m->ph[1][RD_STREAM_DOWN]) };
		double *sum[4] = { &h->ip_up, &h->ip_down, &h->rec_up, &h->rec_down };
		for (int i = 0; i < 4; i++)
			*sum[i] += isnan(x[i]) ? 0 : x[i];
		int cpu_col = m->named[C_TLS_HS_CPU] >= 0 ? m->named[C_TLS_HS_CPU] : m->named[C_TLS_CPU];
		if (add_sample(&h->t_ms, num(f, nf, m->named[C_T_TLS]) / 1000.0) ||
		    add_sample(&h->cpu_us, num(f, nf, cpu_col)) ||
		    add_sample(&h->heap_kib, num(f, nf, m->named[C_TLS_HEAP]) * m->tls_heap_scale) ||
		    add_sample(&h->session_b, num(f, nf, m->named[C_TLS_SESSION])))
			return -1;
	}
	if (truthy(text(f, nf, m->named[C_REFUSED])))
		v->resume_refused++;
	return 0;
}

static void read_summary(struct rundata *rd)
{
	char err[512];
	char path[4200];
	snprintf(path, sizeof(path), "%s/summary.json", rd->dir);
	rd->summary = json_load(path, err, sizeof(err));
	const char *name = json_str_at(rd->summary, "scenario", NULL);
	if (name)
		snprintf(rd->name, sizeof(rd->name), "%s", name);
	const struct json *vs = json_get(rd->summary, "variants");
	for (size_t i = 0; vs && i < vs->nkids; i++) {
		const struct json *j = vs->kids[i];
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
		v->sent = json_num_at(j, "messages.sent", NAN);
		v->received = json_num_at(j, "messages.received", NAN);
		v->lost = json_num_at(j, "messages.lost", NAN);
		v->dups = json_num_at(j, "messages.duplicates", NAN);
		v->unacked = json_num_at(j, "messages.unacked", NAN);
		v->lib_us_per_wake = json_num_at(j, "cpu.library_us_per_wake", NAN);
		v->interrupted = json_num_at(j, "interrupted", 0) != 0;
		v->cmd_issued = json_num_at(j, "commands.issued", NAN);
		v->polls = json_num_at(j, "commands.polls", NAN);
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
	char jerr[512];
	rd->env = json_load(path, jerr, sizeof(jerr));
	rd->env_text = slurp(path, 1 << 20);
	snprintf(path, sizeof(path), "%s/scenario.yaml", rd->dir);
	rd->scenario_text = slurp(path, 1 << 20);

	enum dormant_err rc = ERR_OK;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	char **fields = NULL;
	int maxf = 0;
	struct colmap m;
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
			if (!fields) {
				rc = ERR_NOMEM;
				break;
			}
			int nf = csv_split(line, fields, maxf);
			map_header(&m, fields, nf, &rd->has);
			if (m.named[C_HEAP] >= 0 || m.named[C_TLS_HEAP] >= 0)
				snprintf(rd->heap_col, sizeof(rd->heap_col), "%.63s",
				         fields[m.named[C_HEAP] >= 0 ? m.named[C_HEAP] : m.named[C_TLS_HEAP]]);
			if (m.named[C_VARIANT] < 0 || m.named[C_OUTCOME] < 0) {
				snprintf(err, errlen, "%s/wakes.csv: no 'variant' or 'outcome' column in the header", rd->dir);
				rc = ERR_IO;
				break;
			}
			header = 0;
			continue;
		}
		int nf = csv_split(line, fields, maxf);
		if (read_row(rd, &m, fields, nf, &last) != 0) {
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
		samples_free(&v->acked_ms);
		samples_free(&v->e2e_ms);
		samples_free(&v->cmd_delay_ms);
		samples_free(&v->cpu_us);
		samples_free(&v->heap_kib);
		for (int k = 0; k < 2; k++) {
			samples_free(&v->hs[k].t_ms);
			samples_free(&v->hs[k].cpu_us);
			samples_free(&v->hs[k].heap_kib);
			samples_free(&v->hs[k].session_b);
		}
	}
	free(rd->v);
	json_free(rd->summary);
	json_free(rd->env);
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
