/* results.c: wakes.csv rows and the per-variant summary. */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "procstat.h"
#include "results.h"
#include "stats.h"

/* Per-phase columns: for each phase these counters, named <counter>_<phase>. */
#define PHASE_FIELDS(X) X(plain_up) X(plain_down) X(stream_up) X(stream_down) X(ip_up) X(ip_down) X(segs_up) X(segs_down)

struct vstats {
	const struct variant *v;
	uint64_t expected, wakes, ok, failed, late;
	uint64_t fails[ERR__COUNT];
	struct samples wake_ms, acked_ms, wire_ms, client_ms, e2e_ms, cpu_us;
	struct samples t_ms[PHASE_COUNT];
	struct samples plain_up, plain_down, stream_up, stream_down, ip_up, ip_down, segs_up, segs_down;
	double ph_sum[PHASE_COUNT][8];
	/* TLS: full handshakes against resumed ones */
	int tls;
	char suite[64], tls_note[200];
	enum resume_mode offered_mode;
	int verify;
	double tls_init_ms;
	uint64_t offered, resumed, refused;
	struct hs_stats {
		struct samples up, down, ms, cpu_us, heap, wake_ms, session;
	} hs[2]; /* [0] full, [1] resumed */
	uint64_t sent, acked, received, lost, dups, unacked, foreign;
	/* downlink: wakes that checked for commands, and the commands themselves */
	uint64_t polls, cmd_issued, cmd_delivered, cmd_dups, cmd_unsent;
	struct samples cmd_delay_ms;
	uint64_t lib_cpu_ns, engine_cpu_ns;
	double window_s;
	int interrupted, ended;
	char server[32], endpoint[64];
	double server_start_ms;
	int broker_sampled;
	struct procstat_totals broker;
};

struct results {
	char dir[4096];
	FILE *csv;
	const struct scenario *sc;
	struct vstats *vs;
	size_t nvs;
	struct vstats *cur;
};

static void csv_header(FILE *f)
{
	fputs("variant,protocol,broker,tls,resume,qos,fleet,device,seq,due_us,start_unix_us,sched_lag_us,"
	      "local_addr,local_port,server_port,outcome,error_kind,error_detail,messages,acked,"
	      "t_wake_us,t_acked_us,t_tcp_us,t_setup_us,t_data_us,t_teardown_us,t_wire_us,t_client_us,"
	      "t_pre_us,t_conn_idle_us,t_post_us,e2e_us,cpu_us,commands,cmd_delay_us,t_downlink_us,"
	      "plain_up,plain_down,stream_up,stream_down,ip_up,ip_down,segs_up,segs_down,"
	      "retrans,dsack_in,fin_in,rst_in,tcp_info_ok,ip_lower_bound,"
	      "tls_suite,resume_offered,resumed,resume_refused,sid_echo,cert_msgs,tickets,tls_hs_server,"
	      "t_tls_us,tls_hs_cpu_us,tls_cpu_us,tls_heap_peak,tls_session_bytes,resumed_by",
	      f);
	for (int p = 0; p < PHASE_COUNT; p++) {
#define HDR(name) fprintf(f, "," #name "_%s", phase_name((enum phase)p));
		PHASE_FIELDS(HDR)
#undef HDR
	}
	fputc('\n', f);
}

struct results *results_create(const char *dir, const struct scenario *sc, char *err, size_t errlen)
{
	struct results *r = calloc(1, sizeof(*r));
	if (!r) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	snprintf(r->dir, sizeof(r->dir), "%s", dir);
	r->sc = sc;
	r->nvs = sc->nvariants;
	r->vs = calloc(r->nvs, sizeof(*r->vs));
	char path[4200];
	snprintf(path, sizeof(path), "%s/wakes.csv", dir);
	r->csv = r->vs ? fopen(path, "w") : NULL;
	if (!r->csv) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		results_destroy(r);
		return NULL;
	}
	csv_header(r->csv);
	fflush(r->csv);
	return r;
}

static void vstats_free(struct vstats *v)
{
	struct samples *all[] = { &v->wake_ms, &v->acked_ms, &v->wire_ms, &v->client_ms, &v->e2e_ms, &v->cpu_us,
	                          &v->plain_up, &v->plain_down, &v->stream_up, &v->stream_down, &v->ip_up,
	                          &v->ip_down, &v->segs_up, &v->segs_down, &v->cmd_delay_ms };
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		samples_free(all[i]);
	for (int p = 0; p < PHASE_COUNT; p++)
		samples_free(&v->t_ms[p]);
	for (int i = 0; i < 2; i++) {
		struct hs_stats *h = &v->hs[i];
		struct samples *hs[] = { &h->up, &h->down, &h->ms, &h->cpu_us, &h->heap, &h->wake_ms, &h->session };
		for (size_t j = 0; j < sizeof(hs) / sizeof(hs[0]); j++)
			samples_free(hs[j]);
	}
}

void results_destroy(struct results *r)
{
	if (!r)
		return;
	if (r->csv)
		fclose(r->csv);
	for (size_t i = 0; r->vs && i < r->nvs; i++)
		vstats_free(&r->vs[i]);
	free(r->vs);
	free(r);
}

void results_variant_begin(struct results *r, uint32_t vi, uint64_t expected_wakes)
{
	r->cur = &r->vs[vi];
	r->cur->v = &r->sc->variants[vi];
	r->cur->expected = expected_wakes;
}

void results_variant_tls(struct results *r, const char *suite, enum resume_mode offered, int verify, const char *note,
                         double init_ms)
{
	struct vstats *vs = r->cur;
	vs->tls = 1;
	snprintf(vs->suite, sizeof(vs->suite), "%s", suite);
	snprintf(vs->tls_note, sizeof(vs->tls_note), "%s", note ? note : "");
	vs->offered_mode = offered;
	vs->verify = verify;
	vs->tls_init_ms = init_ms;
}

void results_variant_broker(struct results *r, const struct procstat_totals *t)
{
	r->cur->broker = *t;
	r->cur->broker_sampled = t->samples > 0;
}

void results_variant_server(struct results *r, const char *name, const char *endpoint, double start_ms)
{
	snprintf(r->cur->server, sizeof(r->cur->server), "%s", name);
	snprintf(r->cur->endpoint, sizeof(r->cur->endpoint), "%s", endpoint);
	r->cur->server_start_ms = start_ms;
}

/* CSV field: quoted when it has a comma, quote or newline. */
static void csv_text(FILE *f, const char *s)
{
	if (!strpbrk(s, ",\"\n\r")) {
		fputs(s, f);
		return;
	}
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s == '\n' || *s == '\r' ? ' ' : *s, f);
	}
	fputc('"', f);
}

static int64_t span_us(uint64_t from_ns, uint64_t to_ns)
{
	if (!from_ns || !to_ns || to_ns < from_ns)
		return 0;
	return (int64_t)((to_ns - from_ns) / 1000u);
}

static uint64_t max_u64(uint64_t a, uint64_t b) { return a > b ? a : b; }

/* Wire time of each phase, from the modem's socket timestamps: first byte
 * the library wrote in the phase to the last byte the server sent in it. */
/* Each phase's time on the wire, T, and their union, the wire time: phases
 * may overlap (a command coming down while the telemetry goes up). */
static int64_t phase_times(const struct modem_counts *c, int64_t t[PHASE_COUNT])
{
	uint64_t from[PHASE_COUNT] = { 0 }, to[PHASE_COUNT] = { 0 };
	memset(t, 0, sizeof(int64_t) * PHASE_COUNT);
	if (!c)
		return 0;
	from[PHASE_TCP] = c->connect_ns;
	to[PHASE_TCP] = c->established_ns;
	if (c->tls.used) {
		from[PHASE_TLS] = c->established_ns;
		to[PHASE_TLS] = c->ready_ns;
	}
	for (int p = PHASE_SETUP; p < PHASE_COUNT; p++) {
		const struct phase_counts *ph = &c->ph[p];
		if (!ph->first_up_ns)
			continue;
		/* bytes the library wrote before TCP and TLS were up waited for them, already counted */
		from[p] = max_u64(ph->first_up_ns, c->ready_ns);
		to[p] = max_u64(ph->last_up_ns, ph->last_down_ns);
		if (p == PHASE_TEARDOWN)
			to[p] = max_u64(to[p], max_u64(c->lib_eof_ns, c->server_eof_ns));
	}
	for (int p = 0; p < PHASE_COUNT; p++)
		t[p] = span_us(from[p], to[p]);
	/* the union: sweep the intervals in order of their start */
	int64_t wire = 0;
	uint64_t reach = 0;
	for (;;) {
		int next = -1;
		for (int p = 0; p < PHASE_COUNT; p++)
			if (to[p] > from[p] && (next < 0 || from[p] < from[next]))
				next = p;
		if (next < 0)
			break;
		uint64_t a = max_u64(from[next], reach), b = to[next];
		if (b > a) {
			wire += span_us(a, b);
			reach = b;
		}
		to[next] = from[next]; /* taken */
	}
	return wire;
}

int results_row(struct results *r, const struct wake *w, const struct modem_counts *c)
{
	struct vstats *vs = r->cur;
	const struct variant *v = w->variant;
	FILE *f = r->csv;
	enum dormant_err err = w->err;
	const char *detail = w->detail;
	int ok = err == ERR_OK;

	int64_t t[PHASE_COUNT];
	int64_t wire = phase_times(c, t);
	int64_t wake_us = span_us(w->start_ns, w->end_ns);
	int64_t acked_us = span_us(w->start_ns, w->acked_ns);
	int64_t client = wake_us - wire;
	/* Library time around the wire, as in shared/notes/paho-waits.md §4:
	 * pre = start to the library's connect reaching the modem; conn_idle =
	 * accept to the first protocol byte; post = the library's close to the
	 * adapter's last callback. */
	int64_t pre = c ? span_us(w->start_ns, c->accept_ns) : 0;
	int64_t conn_idle = c ? span_us(c->accept_ns, c->ph[PHASE_SETUP].first_up_ns) : 0;
	int64_t post = c ? span_us(c->lib_eof_ns, w->lib_done_ns) : 0;

	/* e2e: the slowest message of the wake, if all of them arrived */
	int64_t e2e = -1;
	if (w->msgs && w->nmsg) {
		for (uint32_t k = 0; k < w->nmsg; k++) {
			const struct msg_rec *m = &w->msgs->r[w->msg_base + k];
			uint64_t rv = __atomic_load_n(&m->recv_ns, __ATOMIC_ACQUIRE);
			if (!rv || !m->send_ns) {
				e2e = -1;
				break;
			}
			int64_t d = rv > m->send_ns ? (int64_t)((rv - m->send_ns) / 1000u) : 0;
			if (d > e2e)
				e2e = d;
		}
	}

	char addr[INET_ADDRSTRLEN] = "";
	if (c && c->local_addr) {
		struct in_addr ia = { htonl(c->local_addr) };
		inet_ntop(AF_INET, &ia, addr, sizeof(addr));
	}
	char qos[8];
	snprintf(qos, sizeof(qos), "%d", w->qos);
	csv_text(f, v->name);
	fprintf(f, ",%s,%s,%s,%s,%s,", protocol_name(v->protocol), broker_kind_name(v->broker), tls_mode_name(v->tls),
	        resume_mode_name(v->resume), qos);
	csv_text(f, w->fleet->name);
	int64_t sched_lag = (int64_t)(w->sched_lag_us);
	fprintf(f, ",%u,%u,%llu,%llu,%lld,%s,%u,%u,%s,%s,", w->device, w->seq, (unsigned long long)w->due_us,
	        (unsigned long long)w->start_wall_us, (long long)sched_lag, addr, c ? c->local_port : 0,
	        c ? c->server_port : 0, ok ? "ok" : "failed", ok ? "" : dormant_strerror(err));
	csv_text(f, ok ? "" : detail);
	fprintf(f, ",%u,%u,%lld,%lld,%lld,%lld,%lld,%lld,%lld,%lld,%lld,%lld,%lld,", w->nmsg, w->acked,
	        (long long)wake_us, (long long)acked_us, (long long)t[PHASE_TCP], (long long)t[PHASE_SETUP],
	        (long long)t[PHASE_DATA], (long long)t[PHASE_TEARDOWN], (long long)wire, (long long)client,
	        (long long)pre, (long long)conn_idle, (long long)post);
	if (e2e >= 0)
		fprintf(f, "%lld", (long long)e2e);
	fputc(',', f);
	if (w->alone)
		fprintf(f, "%.1f", (double)w->cpu_ns / 1000.0);
	fprintf(f, ",%u,", w->commands);
	if (w->commands)
		fprintf(f, "%.1f", (double)w->cmd_delay_ns / 1000.0);
	fprintf(f, ",%lld", (long long)t[PHASE_DOWNLINK]);
	static const struct modem_counts zero;
	const struct modem_counts *cc = c ? c : &zero;
	fprintf(f, ",%llu,%llu,%llu,%llu,%llu,%llu,%llu,%llu,%u,%u,%d,%d,%d,%d", (unsigned long long)cc->plain_up,
	        (unsigned long long)cc->plain_down, (unsigned long long)cc->stream_up,
	        (unsigned long long)cc->stream_down, (unsigned long long)cc->ip_up, (unsigned long long)cc->ip_down,
	        (unsigned long long)cc->segs_up, (unsigned long long)cc->segs_down, cc->retrans, cc->dsack_in,
	        cc->fin_in, cc->rst_in, cc->tcp_info_ok, cc->ip_lower_bound);
	const struct tls_stats *ts = &cc->tls;
	if (ts->used) {
		fprintf(f, ",%s,%d,%d,%d,%d,%d,%d,%s,%lld,%.1f,%.1f,", vs->suite, ts->offered, ts->resumed, ts->refused,
		        ts->sid_echo, ts->cert_msgs, ts->tickets, ts->hs_server[0] ? ts->hs_server : "-",
		        (long long)t[PHASE_TLS], (double)ts->hs_cpu_ns / 1000.0, (double)ts->cpu_ns / 1000.0);
		if (ts->heap_peak >= 0)
			fprintf(f, "%lld", (long long)ts->heap_peak);
		fputc(',', f);
		if (ts->session_bytes >= 0)
			fprintf(f, "%lld", (long long)ts->session_bytes);
		fprintf(f, ",%s", ts->resumed_by);
	} else {
		fputs(",,,,,,,,,,,,,,", f);
	}
	for (int p = 0; p < PHASE_COUNT; p++) {
#define COL(name) fprintf(f, ",%llu", (unsigned long long)cc->ph[p].name);
		PHASE_FIELDS(COL)
#undef COL
	}
	fputc('\n', f);
	fflush(f);

	vs->wakes++;
	if (w->sched_lag_us > 1000)
		vs->late++;
	if (!ok) {
		vs->failed++;
		vs->fails[err]++;
		return ferror(f) ? -1 : 0;
	}
	vs->ok++;
	if (w->fleet->downlink)
		vs->polls++;
	samples_add(&vs->wake_ms, (double)wake_us / 1000.0);
	if (w->acked_ns)
		samples_add(&vs->acked_ms, (double)acked_us / 1000.0);
	samples_add(&vs->wire_ms, (double)wire / 1000.0);
	samples_add(&vs->client_ms, (double)client / 1000.0);
	for (int p = 0; p < PHASE_COUNT; p++)
		samples_add(&vs->t_ms[p], (double)t[p] / 1000.0);
	if (w->alone)
		samples_add(&vs->cpu_us, (double)w->cpu_ns / 1000.0);
	samples_add(&vs->plain_up, (double)cc->plain_up);
	samples_add(&vs->plain_down, (double)cc->plain_down);
	samples_add(&vs->stream_up, (double)cc->stream_up);
	samples_add(&vs->stream_down, (double)cc->stream_down);
	samples_add(&vs->ip_up, (double)cc->ip_up);
	samples_add(&vs->ip_down, (double)cc->ip_down);
	samples_add(&vs->segs_up, (double)cc->segs_up);
	samples_add(&vs->segs_down, (double)cc->segs_down);
	for (int p = 0; p < PHASE_COUNT; p++) {
		const struct phase_counts *ph = &cc->ph[p];
		double vals[8] = { (double)ph->plain_up, (double)ph->plain_down, (double)ph->stream_up,
		                   (double)ph->stream_down, (double)ph->ip_up, (double)ph->ip_down,
		                   (double)ph->segs_up, (double)ph->segs_down };
		for (int i = 0; i < 8; i++)
			vs->ph_sum[p][i] += vals[i];
	}
	if (ts->used) {
		vs->offered += (uint64_t)ts->offered;
		vs->resumed += (uint64_t)ts->resumed;
		vs->refused += (uint64_t)ts->refused;
		struct hs_stats *h = &vs->hs[ts->resumed ? 1 : 0];
		samples_add(&h->up, (double)cc->ph[PHASE_TLS].stream_up);
		samples_add(&h->down, (double)cc->ph[PHASE_TLS].stream_down);
		samples_add(&h->ms, (double)t[PHASE_TLS] / 1000.0);
		samples_add(&h->cpu_us, (double)ts->hs_cpu_ns / 1000.0);
		samples_add(&h->wake_ms, (double)wake_us / 1000.0);
		if (ts->heap_peak >= 0)
			samples_add(&h->heap, (double)ts->heap_peak);
		if (ts->session_bytes >= 0)
			samples_add(&h->session, (double)ts->session_bytes);
	}
	return ferror(f) ? -1 : 0;
}

void results_variant_end(struct results *r, const struct msg_table *t, const struct cmd_table *ct, uint64_t foreign,
                         uint64_t lib_cpu_ns, uint64_t engine_cpu_ns, double window_s, int interrupted)
{
	struct vstats *vs = r->cur;
	for (uint32_t i = 0; ct && i < ct->n; i++) {
		const struct cmd_rec *c = &ct->r[i];
		uint32_t n = __atomic_load_n(&c->recv_count, __ATOMIC_ACQUIRE);
		if (!c->issue_ns) {
			vs->cmd_unsent++; /* due after an interrupt, or the publish failed */
			continue;
		}
		vs->cmd_issued++;
		if (!n)
			continue;
		vs->cmd_delivered++;
		vs->cmd_dups += n - 1;
		uint64_t rv = __atomic_load_n(&c->recv_ns, __ATOMIC_ACQUIRE);
		samples_add(&vs->cmd_delay_ms, rv > c->issue_ns ? (double)(rv - c->issue_ns) / 1e6 : 0.0);
	}
	for (uint32_t i = 0; t && i < t->n; i++) {
		const struct msg_rec *m = &t->r[i];
		uint32_t n = __atomic_load_n(&m->recv_count, __ATOMIC_ACQUIRE);
		uint64_t rv = __atomic_load_n(&m->recv_ns, __ATOMIC_ACQUIRE);
		if (!m->sent)
			continue;
		vs->sent++;
		if (m->acked)
			vs->acked++;
		if (n) {
			vs->received++;
			if (n > 1)
				vs->dups += n - 1;
			samples_add(&vs->e2e_ms, rv > m->send_ns ? (double)(rv - m->send_ns) / 1e6 : 0.0);
		} else if (m->acked) {
			vs->lost++; /* the device was told it arrived (QoS 1) or wrote it (QoS 0) */
		} else {
			vs->unacked++; /* the device knows this one failed */
		}
	}
	vs->foreign = foreign;
	vs->lib_cpu_ns = lib_cpu_ns;
	vs->engine_cpu_ns = engine_cpu_ns;
	vs->window_s = window_s;
	vs->interrupted = interrupted;
	vs->ended = 1;
}

static void json_num(FILE *f, double x)
{
	if (isnan(x) || isinf(x))
		fputs("null", f);
	else if (x == floor(x) && fabs(x) < 1e15)
		fprintf(f, "%.0f", x);
	else
		fprintf(f, "%.4g", x);
}

static void json_dist(FILE *f, const char *key, struct samples *s, const char *tail)
{
	fprintf(f, "      \"%s\": {\"n\": %zu, \"p50\": ", key, s->n);
	json_num(f, samples_pct(s, 50));
	fputs(", \"p90\": ", f);
	json_num(f, samples_pct(s, 90));
	fputs(", \"p99\": ", f);
	json_num(f, samples_pct(s, 99));
	fputs(", \"max\": ", f);
	json_num(f, samples_max(s));
	fputs(", \"mean\": ", f);
	json_num(f, samples_mean(s));
	fprintf(f, "}%s\n", tail);
}

static void json_updown(FILE *f, const char *key, struct samples *up, struct samples *down, const char *tail)
{
	fprintf(f, "        \"%s\": {\"up\": ", key);
	json_num(f, samples_mean(up));
	fputs(", \"down\": ", f);
	json_num(f, samples_mean(down));
	fprintf(f, "}%s\n", tail);
}


static void write_variant(FILE *f, struct vstats *vs, int last)
{
	const struct variant *v = vs->v;
	fputs("    {\n      \"name\": ", f);
	json_write_str(f, v->name);
	fprintf(f, ",\n      \"protocol\": \"%s\", \"broker\": \"%s\", \"tls\": \"%s\", \"resume\": \"%s\", \"qos\": %d,\n",
	        protocol_name(v->protocol), broker_kind_name(v->broker), tls_mode_name(v->tls),
	        resume_mode_name(v->resume), v->qos);
	fputs("      \"server\": ", f);
	json_write_str(f, vs->server);
	fputs(", \"endpoint\": ", f);
	json_write_str(f, vs->endpoint);
	fputs(", \"server_start_ms\": ", f);
	json_num(f, vs->server_start_ms);
	fprintf(f, ",\n      \"interrupted\": %s, \"window_s\": ", vs->interrupted ? "true" : "false");
	json_num(f, vs->window_s);
	fprintf(f, ",\n      \"expected_wakes\": %llu, \"wakes\": %llu, \"ok\": %llu, \"failed\": %llu, \"late_wakes\": %llu,\n",
	        (unsigned long long)vs->expected, (unsigned long long)vs->wakes, (unsigned long long)vs->ok,
	        (unsigned long long)vs->failed, (unsigned long long)vs->late);
	fputs("      \"failures\": {", f);
	int first = 1;
	for (int e = 0; e < ERR__COUNT; e++)
		if (vs->fails[e]) {
			fprintf(f, "%s\"%s\": %llu", first ? "" : ", ", dormant_strerror((enum dormant_err)e),
			        (unsigned long long)vs->fails[e]);
			first = 0;
		}
	fputs("},\n", f);
	fprintf(f, "      \"messages\": {\"sent\": %llu, \"acked\": %llu, \"received\": %llu, \"lost\": %llu, "
	           "\"duplicates\": %llu, \"unacked\": %llu, \"foreign\": %llu},\n",
	        (unsigned long long)vs->sent, (unsigned long long)vs->acked, (unsigned long long)vs->received,
	        (unsigned long long)vs->lost, (unsigned long long)vs->dups, (unsigned long long)vs->unacked,
	        (unsigned long long)vs->foreign);
	json_dist(f, "wake_ms", &vs->wake_ms, ",");
	json_dist(f, "acked_ms", &vs->acked_ms, ",");
	json_dist(f, "e2e_ms", &vs->e2e_ms, ",");
	json_dist(f, "wire_ms", &vs->wire_ms, ",");
	json_dist(f, "client_ms", &vs->client_ms, ",");
	json_dist(f, "cpu_us_alone", &vs->cpu_us, ",");
	fputs("      \"phase_ms\": {\n", f);
	for (int p = 0; p < PHASE_COUNT; p++) {
		char key[32];
		snprintf(key, sizeof(key), "  %s", phase_name((enum phase)p));
		json_dist(f, key, &vs->t_ms[p], p + 1 < PHASE_COUNT ? "," : "");
	}
	fputs("      },\n", f);
	fprintf(f, "      \"commands\": {\"polls\": %llu, \"issued\": %llu, \"delivered\": %llu, \"pending\": %llu, "
	           "\"duplicates\": %llu, \"not_sent\": %llu},\n",
	        (unsigned long long)vs->polls, (unsigned long long)vs->cmd_issued, (unsigned long long)vs->cmd_delivered,
	        (unsigned long long)(vs->cmd_issued - vs->cmd_delivered), (unsigned long long)vs->cmd_dups,
	        (unsigned long long)vs->cmd_unsent);
	json_dist(f, "command_delay_ms", &vs->cmd_delay_ms, ",");
	fputs("      \"cpu\": {\"library_threads_ms\": ", f);
	json_num(f, (double)vs->lib_cpu_ns / 1e6);
	fputs(", \"engine_thread_ms\": ", f);
	json_num(f, (double)vs->engine_cpu_ns / 1e6);
	fputs(", \"library_us_per_wake\": ", f);
	json_num(f, vs->ok ? (double)vs->lib_cpu_ns / 1e3 / (double)vs->wakes : NAN);
	fputs("},\n", f);
	if (vs->broker_sampled) {
		double cpu = vs->broker.cpu_user_ms + vs->broker.cpu_sys_ms;
		fputs("      \"server_cost\": {\"cpu_ms\": ", f);
		json_num(f, cpu);
		fputs(", \"cpu_ms_per_1000_wakes\": ", f);
		json_num(f, vs->wakes ? cpu * 1000.0 / (double)vs->wakes : NAN);
		fprintf(f, ", \"rss_peak_kib\": %llu, \"rss_mean_kib\": %llu, \"rss_first_kib\": %llu, \"samples\": %d, "
		           "\"processes\": %d, \"window_s\": ",
		        (unsigned long long)vs->broker.rss_peak_kib, (unsigned long long)vs->broker.rss_mean_kib,
		        (unsigned long long)vs->broker.rss_first_kib, vs->broker.samples, vs->broker.max_procs);
		json_num(f, vs->broker.window_s);
		fputs("},\n", f);
	}
	fputs("      \"bytes_per_wake\": {\n", f);
	json_updown(f, "plaintext", &vs->plain_up, &vs->plain_down, ",");
	json_updown(f, "stream", &vs->stream_up, &vs->stream_down, ",");
	json_updown(f, "ip", &vs->ip_up, &vs->ip_down, ",");
	json_updown(f, "segments", &vs->segs_up, &vs->segs_down, ",");
	fputs("        \"phases\": {\n", f);
	static const char *const names[8] = { "plain_up", "plain_down", "stream_up", "stream_down",
		                              "ip_up",    "ip_down",    "segs_up",   "segs_down" };
	for (int p = 0; p < PHASE_COUNT; p++) {
		fprintf(f, "          \"%s\": {", phase_name((enum phase)p));
		for (int i = 0; i < 8; i++) {
			fprintf(f, "%s\"%s\": ", i ? ", " : "", names[i]);
			json_num(f, vs->ok ? vs->ph_sum[p][i] / (double)vs->ok : NAN);
		}
		fprintf(f, "}%s\n", p + 1 < PHASE_COUNT ? "," : "");
	}
	fputs("        }\n      }", f);
	if (vs->tls) {
		fputs(",\n      \"tls_handshakes\": {\"suite\": ", f);
		json_write_str(f, vs->suite);
		fprintf(f, ", \"resume_offered\": \"%s\", \"verify\": %s, \"note\": ", resume_mode_name(vs->offered_mode),
		        vs->verify ? "true" : "false");
		json_write_str(f, vs->tls_note);
		fputs(", \"profile_init_ms\": ", f);
		json_num(f, vs->tls_init_ms);
		fprintf(f, ",\n        \"offered\": %llu, \"resumed\": %llu, \"refused\": %llu,\n",
		        (unsigned long long)vs->offered, (unsigned long long)vs->resumed, (unsigned long long)vs->refused);
		for (int i = 0; i < 2; i++) {
			struct hs_stats *h = &vs->hs[i];
			fprintf(f, "        \"%s\": {\"n\": %zu, \"hs_bytes_up\": ", i ? "resumed" : "full", h->up.n);
			json_num(f, samples_mean(&h->up));
			fputs(", \"hs_bytes_down\": ", f);
			json_num(f, samples_mean(&h->down));
			fputs(", \"hs_ms_p50\": ", f);
			json_num(f, samples_pct(&h->ms, 50));
			fputs(", \"hs_cpu_us_p50\": ", f);
			json_num(f, samples_pct(&h->cpu_us, 50));
			fputs(", \"heap_peak_p50\": ", f);
			json_num(f, samples_pct(&h->heap, 50));
			fputs(", \"session_bytes_p50\": ", f);
			json_num(f, samples_pct(&h->session, 50));
			fputs(", \"wake_ms_p50\": ", f);
			json_num(f, samples_pct(&h->wake_ms, 50));
			fprintf(f, "}%s\n", i ? "" : ",");
		}
		fputs("      }", f);
	}
	fprintf(f, "\n    }%s\n", last ? "" : ",");
}

static void print_table(struct results *r, FILE *out)
{
	int w = 24;
	for (size_t i = 0; i < r->nvs; i++)
		if (r->vs[i].v && (int)strlen(r->vs[i].v->name) > w)
			w = (int)strlen(r->vs[i].v->name);
	fprintf(out, "\n%-*s %9s %5s %15s %15s %8s %8s %13s %13s %9s %7s %9s\n", w, "variant", "wakes", "fail",
	        "wake ms p50/99", "e2e ms p50/99", "wire ms", "lib ms", "plain B up/dn", "IP B up/dn", "segs u/d",
	        "cpu us", "lost/dup");
	for (size_t i = 0; i < r->nvs; i++) {
		struct vstats *vs = &r->vs[i];
		if (!vs->v)
			continue;
		char wakes[24], wk[24], e2e[24], plain[24], ip[24], segs[24], lost[24];
		snprintf(wakes, sizeof(wakes), "%llu/%llu", (unsigned long long)vs->wakes, (unsigned long long)vs->expected);
		snprintf(wk, sizeof(wk), "%.2f/%.2f", samples_pct(&vs->wake_ms, 50), samples_pct(&vs->wake_ms, 99));
		snprintf(e2e, sizeof(e2e), "%.2f/%.2f", samples_pct(&vs->e2e_ms, 50), samples_pct(&vs->e2e_ms, 99));
		snprintf(plain, sizeof(plain), "%.0f/%.0f", samples_mean(&vs->plain_up), samples_mean(&vs->plain_down));
		snprintf(ip, sizeof(ip), "%.0f/%.0f", samples_mean(&vs->ip_up), samples_mean(&vs->ip_down));
		snprintf(segs, sizeof(segs), "%.1f/%.1f", samples_mean(&vs->segs_up), samples_mean(&vs->segs_down));
		snprintf(lost, sizeof(lost), "%llu/%llu", (unsigned long long)vs->lost, (unsigned long long)vs->dups);
		fprintf(out, "%-*s %9s %5llu %15s %15s %8.3f %8.3f %13s %13s %9s %7.0f %9s%s\n", w, vs->v->name, wakes,
		        (unsigned long long)vs->failed, wk, e2e, samples_pct(&vs->wire_ms, 50),
		        samples_pct(&vs->client_ms, 50), plain, ip, segs, samples_pct(&vs->cpu_us, 50), lost,
		        vs->interrupted ? "  (interrupted)" : "");
		for (int e = 0; e < ERR__COUNT; e++)
			if (vs->fails[e])
				fprintf(out, "%-*s   %llu failed: %s\n", w, "", (unsigned long long)vs->fails[e],
				        dormant_strerror((enum dormant_err)e));
	}
	int any_tls = 0;
	for (size_t i = 0; i < r->nvs; i++)
		any_tls |= r->vs[i].v && r->vs[i].tls;
	if (any_tls) {
		fprintf(out, "\n%-*s %-8s %6s %13s %9s %9s %9s %9s\n", w, "TLS handshakes", "", "n", "hs B up/dn", "hs ms",
		        "cpu ms", "heap KiB", "wake ms");
		for (size_t i = 0; i < r->nvs; i++) {
			struct vstats *vs = &r->vs[i];
			if (!vs->v || !vs->tls)
				continue;
			for (int k = 0; k < 2; k++) {
				struct hs_stats *h = &vs->hs[k];
				if (!h->up.n && k)
					continue;
				char b[32];
				snprintf(b, sizeof(b), "%.0f/%.0f", samples_mean(&h->up), samples_mean(&h->down));
				fprintf(out, "%-*s %-8s %6zu %13s %9.3f %9.3f %9.1f %9.3f\n", w, k ? "" : vs->v->name,
				        k ? "resumed" : "full", h->up.n, b, samples_pct(&h->ms, 50),
				        samples_pct(&h->cpu_us, 50) / 1000.0, samples_pct(&h->heap, 50) / 1024.0,
				        samples_pct(&h->wake_ms, 50));
			}
			if (vs->offered || vs->refused)
				fprintf(out, "%-*s %llu of %llu offered sessions resumed, %llu refused%s\n", w, "",
				        (unsigned long long)vs->resumed, (unsigned long long)vs->offered,
				        (unsigned long long)vs->refused,
				        vs->offered_mode == RESUME_TICKET && !vs->resumed && vs->refused
				                ? " (the server issues no session tickets)"
				                : "");
			if (vs->tls_note[0])
				fprintf(out, "%-*s %s\n", w, "", vs->tls_note);
			if (!vs->verify)
				fprintf(out, "%-*s tls_verify: false: the server certificate was NOT verified\n", w, "");
		}
	}
	int any_poll = 0;
	for (size_t i = 0; i < r->nvs; i++)
		any_poll |= r->vs[i].v && r->vs[i].polls;
	if (any_poll) {
		/* What checking for commands costs: the downlink phase's bytes per poll. */
		fprintf(out, "\n%-*s %7s %15s %17s %15s %13s\n", w, "downlink", "polls", "commands sent/got",
		        "delay ms p50/99", "plain B up/dn", "IP B up/dn");
		for (size_t i = 0; i < r->nvs; i++) {
			struct vstats *vs = &r->vs[i];
			if (!vs->v || !vs->polls)
				continue;
			const double *d = vs->ph_sum[PHASE_DOWNLINK];
			double n = (double)vs->polls;
			char cmds[32], delay[32], plain[32], ip[32];
			snprintf(cmds, sizeof(cmds), "%llu/%llu", (unsigned long long)vs->cmd_issued,
			         (unsigned long long)vs->cmd_delivered);
			snprintf(delay, sizeof(delay), "%.1f/%.1f", samples_pct(&vs->cmd_delay_ms, 50),
			         samples_pct(&vs->cmd_delay_ms, 99));
			snprintf(plain, sizeof(plain), "%.0f/%.0f", d[0] / n, d[1] / n);
			snprintf(ip, sizeof(ip), "%.0f/%.0f", d[4] / n, d[5] / n);
			fprintf(out, "%-*s %7llu %15s %17s %15s %13s\n", w, vs->v->name, (unsigned long long)vs->polls, cmds,
			        delay, plain, ip);
		}
	}
	int sw = 10;
	for (size_t i = 0; i < r->nvs; i++)
		if (r->vs[i].v && (int)strlen(r->vs[i].server) > sw)
			sw = (int)strlen(r->vs[i].server);
	fprintf(out, "\n%-*s %-*s %10s %16s %13s %13s\n", w, "broker cost", sw, "broker", "start ms", "CPU ms/1k wakes",
	        "RSS peak MiB", "RSS mean MiB");
	for (size_t i = 0; i < r->nvs; i++) {
		struct vstats *vs = &r->vs[i];
		if (!vs->v || !vs->broker_sampled)
			continue;
		double cpu = vs->broker.cpu_user_ms + vs->broker.cpu_sys_ms;
		fprintf(out, "%-*s %-*s %10.0f %16.1f %13.1f %13.1f\n", w, vs->v->name, sw, vs->server, vs->server_start_ms,
		        vs->wakes ? cpu * 1000.0 / (double)vs->wakes : NAN, (double)vs->broker.rss_peak_kib / 1024.0,
		        (double)vs->broker.rss_mean_kib / 1024.0);
	}
	fprintf(out, "\nwake: start to connection closed; wire: the phases' time on the socket; lib: the rest "
	             "(library and its idle waits); cpu: client library threads, median over wakes that ran alone.\n");
}

int results_finish(struct results *r, FILE *out)
{
	char tmp[4200], path[4200];
	snprintf(tmp, sizeof(tmp), "%s/.summary.json.tmp", r->dir);
	snprintf(path, sizeof(path), "%s/summary.json", r->dir);
	FILE *f = fopen(tmp, "w");
	if (!f)
		return -1;
	fputs("{\n  \"scenario\": ", f);
	json_write_str(f, r->sc->name);
	fputs(",\n  \"variants\": [\n", f);
	size_t last = 0;
	for (size_t i = 0; i < r->nvs; i++)
		if (r->vs[i].v)
			last = i;
	for (size_t i = 0; i < r->nvs; i++)
		if (r->vs[i].v)
			write_variant(f, &r->vs[i], i == last);
	fputs("  ]\n}\n", f);
	if (fclose(f) != 0 || rename(tmp, path) != 0)
		return -1;
	if (out)
		print_table(r, out);
	return 0;
}
