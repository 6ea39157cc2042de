/* results.c: wakes.csv rows and the per-variant summary. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "columns.h"
#include "device.h"
#include "phases.h"
#include "results.h"
#include "energy.h"
#include "stats.h"
#include "trace.h"

/* A wake is late when it starts this long after its due time: the loop
 * waits in whole milliseconds, so wakes on time start up to about 1.3 ms
 * after it (measured: p100 of every shipped deployment's runs). */
#define LATE_MS 10.0

/* wakes.csv's phase columns are the modem's phases, in the same order. */
_Static_assert(PHASE_COUNT == WAKE_ROW_PHASES, "sim/core/columns.h has a phase the modem does not, or the reverse");

struct vstats {
	const struct variant *v;
	uint64_t expected, wakes, ok, failed;
	/* the schedule kept or not: every wake's start lag; the late ones (over
	 * LATE_MS) by why they waited; the lag's sum by who held it; the last start */
	struct samples lag_ms;
	struct samples alone_ms;         /* wake time of ok wakes no other overlapped: unloaded */
	uint64_t late, late_by[4];       /* [0] the loop saw it due late, [1] its device was awake, [2] no slot,
	                                  * [3] stack: replay: its fleet's recording was running */
	double lag_ms_by[4];
	double last_start_s;
	uint64_t not_started;            /* overrun: stop */
	double machine_busy, machine_steal; /* the machine's CPU over the window, share of all cores; NAN: unknown */
	int mem_known;
	struct results_memory mem;
	/* stack: replay: each fleet's recording (results_variant_replay) */
	int replay_known[FLEETS_MAX];
	struct results_replay replay[FLEETS_MAX];
	char replay_why[FLEETS_MAX][200];
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
	uint64_t cmd_dropped, cmd_pending, cmd_pending_missed; /* pending: issued after the session began */
	int setups_ran;                  /* sessions made before the window (results_variant_sessions) */
	uint32_t setups_ok, setups_failed;
	char setup_why[240];
	double setup_ms, setup_cpu_ms;
	struct samples cmd_delay_ms;
	uint64_t lib_cpu_ns, engine_cpu_ns;
	double window_s;
	int interrupted, ended;
	char server[32], endpoint[64];
	double server_start_ms;
	int broker_sampled;
	struct results_server_cost broker;
	uint64_t ip_lower_bound; /* wakes whose ip_* may fall short of the wire */
	uint64_t ip_rst_unsure;  /* wakes whose ip_down may be one bare RST off */
	/* behind links: the radio per ok wake, and per fleet for battery life */
	int radio;
	struct samples energy_mj, radio_on_ms, tx_ms, rx_ms, tail_ms;
	double fleet_mj[FLEETS_MAX], fleet_on_ms[FLEETS_MAX];
	/* connection: persistent, per fleet, for battery life at other periods:
	 * ok wakes on a kept connection (energy, radio time, wake time), and the
	 * keep-alives of sleeps the connection survived (count, what they added) */
	double kept_n[FLEETS_MAX], kept_mj[FLEETS_MAX], kept_on_ms[FLEETS_MAX], kept_t_s[FLEETS_MAX];
	double ka_n[FLEETS_MAX], ka_mj[FLEETS_MAX], ka_on_ms[FLEETS_MAX];
	/* ... with downlink, the sleeps commands were pushed in: commands, their keep-alives, energy, radio time */
	double cs_n[FLEETS_MAX], cs_ka[FLEETS_MAX], cs_mj[FLEETS_MAX], cs_on_ms[FLEETS_MAX];
	/* ... and the steady state: such a wake with the sleep before it (energy, radio time) */
	double steady_n[FLEETS_MAX], steady_mj[FLEETS_MAX], steady_on_ms[FLEETS_MAX];
	uint64_t fleet_wakes[FLEETS_MAX], link_lost_up, link_lost_down;
	/* connection: persistent: connects and what the sleeps between wakes cost */
	int persistent;
	uint64_t p_wakes, p_connects, p_reconnects, p_sleeps, p_keepalives, p_nat_drops, p_sleep_cmds;
	double p_sleep_s, p_sleep_ip_up, p_sleep_ip_down, p_sleep_mj, p_reused_ip, p_reused_up, p_all_ip;
	uint64_t p_reused;
	char p_why[120];           /* the first reconnect's reason */
};

/* A CSV file written in whole rows: wakes.csv, packets.csv. */
struct csv_file {
	int fd;               /* -1: not open */
	off_t len;            /* its length: whole rows only */
	int err;              /* errno of the first write that failed; no row is written after it */
	uint64_t unwritten;   /* rows (packets.csv: wakes' blocks of rows) not written */
};

struct results {
	char dir[4096];
	struct csv_file csv;  /* wakes.csv */
	struct csv_file pk;   /* packets.csv: with links only */
	struct column_buf row, pkrows;
	const struct scenario *sc;
	struct vstats *vs;
	size_t nvs;
	struct vstats *cur;
};

/* Writes N bytes at the end of F, all of them or none: a row that did not
 * fit (a full disk) is cut off again, so the file always ends in a whole
 * row. After the first failure nothing more is written: a row missing in
 * the middle would go unnoticed. */
/* Keep-alives a device sent while asleep: its protocol packets of the
 * data phase (MQTT PINGREQ, AMQP empty frames) and the downlink phase
 * (HTTP's command poll); not a teardown (a DISCONNECT), and not the
 * acknowledgement of a command pushed to it (MQTT's PUBACK, one per
 * command: CMDS). */
static uint64_t sleep_keepalives(const struct modem_counts *c, uint32_t cmds)
{
	uint64_t n = c->ph[PHASE_DATA].frames_up + c->ph[PHASE_DOWNLINK].frames_up;
	return n > cmds ? n - cmds : 0;
}

static int csv_append(struct csv_file *f, const char *p, size_t n)
{
	if (f->err)
		return -1;
	size_t done = 0;
	while (done < n) {
		ssize_t k = write(f->fd, p + done, n - done);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			f->err = k < 0 ? errno : ENOSPC;
			if (done && ftruncate(f->fd, f->len) != 0)
				f->err = errno;
			return -1;
		}
		done += (size_t)k;
	}
	f->len += (off_t)n;
	return 0;
}

/* Creates DIR/NAME with the header in B. 0, or -1 with the reason in ERR
 * (no header-less file is left behind). */
static int csv_create(struct csv_file *f, const char *dir, const char *name, int header_rc,
                      const struct column_buf *b, char *err, size_t errlen)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
	if (f->fd < 0 || header_rc != 0 || csv_append(f, b->p, b->len) != 0) {
		int e = f->fd < 0 ? errno : header_rc == 0 ? f->err : ENOMEM;
		snprintf(err, errlen, "%s: %s", path, strerror(e));
		if (f->fd >= 0) {
			close(f->fd);
			f->fd = -1;
			unlink(path);
		}
		return -1;
	}
	return 0;
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
	r->csv.fd = r->pk.fd = -1;
	if (!r->vs) {
		snprintf(err, errlen, "out of memory");
		results_destroy(r);
		return NULL;
	}
	if (csv_create(&r->csv, dir, "wakes.csv", columns_format_header(&r->row), &r->row, err, errlen) != 0 ||
	    (scenario_has_links(sc) &&
	     csv_create(&r->pk, dir, TRACE_FILE, trace_format_header(&r->pkrows), &r->pkrows, err, errlen) != 0)) {
		results_destroy(r);
		return NULL;
	}
	return r;
}

static void vstats_free(struct vstats *v)
{
	struct samples *all[] = { &v->wake_ms, &v->acked_ms, &v->wire_ms, &v->client_ms, &v->e2e_ms, &v->cpu_us,
	                          &v->plain_up, &v->plain_down, &v->stream_up, &v->stream_down, &v->ip_up,
	                          &v->ip_down, &v->segs_up, &v->segs_down, &v->cmd_delay_ms, &v->energy_mj,
	                          &v->radio_on_ms, &v->tx_ms, &v->rx_ms, &v->tail_ms, &v->lag_ms, &v->alone_ms };
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
	if (r->csv.fd >= 0)
		close(r->csv.fd);
	if (r->pk.fd >= 0)
		close(r->pk.fd);
	column_buf_free(&r->row);
	column_buf_free(&r->pkrows);
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
	r->cur->machine_busy = r->cur->machine_steal = NAN;
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

void results_variant_sessions(struct results *r, uint32_t ok, uint32_t failed, const char *why, double ms,
                              double lib_cpu_ms)
{
	struct vstats *vs = r->cur;
	vs->setups_ran = 1;
	vs->setups_ok = ok;
	vs->setups_failed = failed;
	snprintf(vs->setup_why, sizeof(vs->setup_why), "%s", why ? why : "");
	vs->setup_ms = ms;
	vs->setup_cpu_ms = lib_cpu_ms;
}

/* A wake's start lag: the loop's share (it saw the wake due late) and the
 * wait after it (its device, or a slot), each to whoever held it. */
static void schedule_row(struct vstats *vs, const struct wake *w)
{
	double lag = (double)w->sched_lag_us / 1000.0;
	double fire = (double)(w->fire_lag_us < w->sched_lag_us ? w->fire_lag_us : w->sched_lag_us) / 1000.0;
	int why = w->start_wait == WAIT_DEVICE ? 1 : w->start_wait == WAIT_SLOT ? 2 : w->start_wait == WAIT_RECORD ? 3 : 0;
	samples_add(&vs->lag_ms, lag);
	vs->lag_ms_by[0] += fire;
	if (why)
		vs->lag_ms_by[why] += lag - fire;
	if (lag > LATE_MS) {
		vs->late++;
		vs->late_by[why && lag - fire >= fire ? why : 0]++;
	}
	double start_s = ((double)w->due_us + (double)w->sched_lag_us) / 1e6;
	if (start_s > vs->last_start_s)
		vs->last_start_s = start_s;
}

void results_variant_replay(struct results *r, size_t fleet, const struct results_replay *rp, const char *why)
{
	if (fleet >= FLEETS_MAX)
		return;
	r->cur->replay_known[fleet] = 1;
	r->cur->replay[fleet] = *rp;
	snprintf(r->cur->replay_why[fleet], sizeof(r->cur->replay_why[fleet]), "%s", why ? why : "");
}

void results_variant_memory(struct results *r, const struct results_memory *m)
{
	r->cur->mem = *m;
	r->cur->mem_known = 1;
}

static uint64_t vstats_samples_bytes(const struct vstats *v)
{
	const struct samples *all[] = { &v->wake_ms, &v->acked_ms, &v->wire_ms, &v->client_ms, &v->e2e_ms, &v->cpu_us,
	                                &v->plain_up, &v->plain_down, &v->stream_up, &v->stream_down, &v->ip_up,
	                                &v->ip_down, &v->segs_up, &v->segs_down, &v->cmd_delay_ms, &v->energy_mj,
	                                &v->radio_on_ms, &v->tx_ms, &v->rx_ms, &v->tail_ms, &v->lag_ms, &v->alone_ms };
	uint64_t n = 0;
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		n += all[i]->cap;
	for (int p = 0; p < PHASE_COUNT; p++)
		n += v->t_ms[p].cap;
	for (int i = 0; i < 2; i++) {
		const struct hs_stats *h = &v->hs[i];
		n += h->up.cap + h->down.cap + h->ms.cap + h->cpu_us.cap + h->heap.cap + h->wake_ms.cap + h->session.cap;
	}
	return n * sizeof(double);
}

uint64_t results_variant_records_bytes(const struct results *r)
{
	return r->cur ? vstats_samples_bytes(r->cur) : 0;
}

void results_variant_machine(struct results *r, double busy, double steal)
{
	r->cur->machine_busy = busy;
	r->cur->machine_steal = steal;
}

void results_variant_not_started(struct results *r, uint64_t n)
{
	r->cur->not_started += n;
}

void results_variant_broker(struct results *r, const struct results_server_cost *t)
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

static int64_t span_us(uint64_t from_ns, uint64_t to_ns)
{
	if (!from_ns || !to_ns || to_ns < from_ns)
		return 0;
	return (int64_t)((to_ns - from_ns) / 1000u);
}

/* Each phase's time on the wire, T, and their union, the wire time
 * (sim/core/phases.h says how), from the modem's socket timestamps. */
_Static_assert((int)PHASE_COUNT == PHASES_COUNT && (int)PHASE_TCP == PHASES_TCP && (int)PHASE_TLS == PHASES_TLS &&
                       (int)PHASE_SETUP == PHASES_FIRST_FRAMED && (int)PHASE_TEARDOWN == PHASES_TEARDOWN,
               "sim/core/phases.h numbers the phases as enum phase does");

static int64_t phase_times(const struct modem_counts *c, int64_t t[PHASE_COUNT])
{
	struct phases_stamps s = { 0 };
	if (c) {
		s.connect_ns = c->connect_ns;
		s.established_ns = c->established_ns;
		s.ready_ns = c->ready_ns;
		s.tls = c->tls.used != 0;
		s.lib_eof_ns = c->lib_eof_ns;
		s.server_eof_ns = c->server_eof_ns;
		for (int p = 0; p < PHASE_COUNT; p++) {
			s.ph[p].first_up_ns = c->ph[p].first_up_ns;
			s.ph[p].last_up_ns = c->ph[p].last_up_ns;
			s.ph[p].last_down_ns = c->ph[p].last_down_ns;
		}
	}
	return phases_times(&s, t);
}

static int64_t i64(uint64_t x)
{
	return x > INT64_MAX ? INT64_MAX : (int64_t)x;
}

/* The row's labels and counters (everything but the times, which
 * results_row works out). HAVE_CONN: the wake got a modem connection. */
static void fill_row(struct wake_row *row, const struct vstats *vs, const struct wake *w,
                     const struct modem_counts *cc, int have_conn)
{
	const struct variant *v = w->variant;
	int ok = w->err == ERR_OK;
	wake_row_clear(row);
	snprintf(row->variant, sizeof(row->variant), "%s", v->name);
	snprintf(row->protocol, sizeof(row->protocol), "%s", protocol_name(v->protocol));
	snprintf(row->broker, sizeof(row->broker), "%s", broker_kind_name(v->broker));
	snprintf(row->tls, sizeof(row->tls), "%s", tls_mode_name(v->tls));
	snprintf(row->resume, sizeof(row->resume), "%s", resume_mode_name(v->resume));
	row->qos = w->qos;
	snprintf(row->fleet, sizeof(row->fleet), "%s", w->fleet->name);
	row->device = w->device;
	row->seq = w->seq;
	row->due_us = i64(w->due_us);
	row->start_unix_us = i64(w->start_wall_us);
	row->sched_lag_us = i64(w->sched_lag_us);
	if (have_conn && cc->local_addr) {
		struct in_addr ia = { htonl(cc->local_addr) };
		inet_ntop(AF_INET, &ia, row->local_addr, sizeof(row->local_addr));
	}
	row->local_port = cc->local_port;
	row->server_port = cc->server_port;
	snprintf(row->outcome, sizeof(row->outcome), "%s", ok ? "ok" : "failed");
	snprintf(row->error_kind, sizeof(row->error_kind), "%s", ok ? "" : dormant_strerror(w->err));
	snprintf(row->error_detail, sizeof(row->error_detail), "%s", ok ? "" : w->detail);
	row->messages = w->nmsg;
	row->acked = w->acked;
	if (w->alone)
		row->cpu_us = (double)w->cpu_ns / 1000.0;
	row->commands = w->commands;
	if (w->commands)
		row->cmd_delay_us = (double)w->cmd_delay_ns / 1000.0;
	row->plain_up = i64(cc->plain_up);
	row->plain_down = i64(cc->plain_down);
	row->stream_up = i64(cc->stream_up);
	row->stream_down = i64(cc->stream_down);
	row->ip_up = i64(cc->ip_up);
	row->ip_down = i64(cc->ip_down);
	row->segs_up = i64(cc->segs_up);
	row->segs_down = i64(cc->segs_down);
	row->retrans = cc->retrans;
	row->dsack_in = cc->dsack_in;
	row->fin_in = cc->fin_in;
	row->rst_in = cc->rst_in;
	row->tcp_info_ok = cc->tcp_info_ok;
	row->ip_lower_bound = cc->ip_lower_bound;
	row->ip_rst_unsure = cc->ip_rst_unsure;
	if (cc->link_on) {
		const struct link_profile *lp = scenario_link(w->sc, v, w->fleet);
		snprintf(row->link, sizeof(row->link), "%s", lp ? lp->name : "?");
		row->ti_ip_up = i64(cc->ti_ip_up);
		row->ti_ip_down = i64(cc->ti_ip_down);
		row->ti_segs_up = i64(cc->ti_segs_up);
		row->ti_segs_down = i64(cc->ti_segs_down);
		row->link_lost_up = i64(cc->link_lost_up);
		row->link_lost_down = i64(cc->link_lost_down);
	}
	if (w->radio) {
		const struct energy_result *en = &w->energy;
		row->link_overhead_up = i64(w->overhead_up);
		row->link_overhead_down = i64(w->overhead_down);
		row->radio_attaches = en->attaches;
		row->radio_on_ms = en->radio_on_ms;
		row->attach_ms = en->attach_ms;
		row->tx_ms = en->tx_ms;
		row->rx_ms = en->rx_ms;
		row->idle_ms = en->idle_ms;
		row->tail_ms = en->tail_ms;
		row->energy_mj = en->energy_mj;
	}
	snprintf(row->connection, sizeof(row->connection), "%s", conn_mode_name(scenario_connection(v, w->fleet)));
	if (!w->pc && have_conn) {
		row->connected = 1; /* per-wake: every wake connects */
		row->reconnected = 0;
	}
	if (w->pc) {
		row->connected = w->connected;
		row->reconnected = w->reconnected;
		snprintf(row->reconnect_why, sizeof(row->reconnect_why), "%s", w->reconnect_why);
		if (w->sleep) {
			row->sleep_us = i64(w->sleep_ns / 1000u);
			row->sleep_ip_up = i64(w->sleep->ip_up);
			row->sleep_ip_down = i64(w->sleep->ip_down);
			row->sleep_pkts_up = i64(w->sleep->segs_up);
			row->sleep_pkts_down = i64(w->sleep->segs_down);
			row->keepalives = sleep_keepalives(w->sleep, w->sleep_commands);
			row->sleep_commands = w->sleep_commands;
		}
		if (w->sleep_radio) {
			row->sleep_radio_on_ms = w->sleep_energy.radio_on_ms;
			row->sleep_energy_mj = w->sleep_energy.energy_mj;
		}
	}
	if (cc->link_on)
		row->nat_drops = i64(w->nat_drops);
	const struct tls_stats *ts = &cc->tls;
	if (ts->used) {
		snprintf(row->tls_suite, sizeof(row->tls_suite), "%s", vs->suite);
		row->resume_offered = ts->offered;
		row->resumed = ts->resumed;
		row->resume_refused = ts->refused;
		row->sid_echo = ts->sid_echo;
		row->cert_msgs = ts->cert_msgs;
		row->tickets = ts->tickets;
		snprintf(row->tls_hs_server, sizeof(row->tls_hs_server), "%s", ts->hs_server[0] ? ts->hs_server : "-");
		row->tls_hs_cpu_us = (double)ts->hs_cpu_ns / 1000.0;
		row->tls_cpu_us = (double)ts->cpu_ns / 1000.0;
		if (ts->heap_peak >= 0)
			row->tls_heap_peak = ts->heap_peak;
		if (ts->session_bytes >= 0)
			row->tls_session_bytes = ts->session_bytes;
		snprintf(row->resumed_by, sizeof(row->resumed_by), "%s", ts->resumed_by);
	}
	for (int p = 0; p < PHASE_COUNT; p++) {
		const struct phase_counts *ph = &cc->ph[p];
		struct wake_row_phase *o = &row->ph[p];
		o->plain_up = i64(ph->plain_up);
		o->plain_down = i64(ph->plain_down);
		o->stream_up = i64(ph->stream_up);
		o->stream_down = i64(ph->stream_down);
		o->ip_up = i64(ph->ip_up);
		o->ip_down = i64(ph->ip_down);
		o->segs_up = i64(ph->segs_up);
		o->segs_down = i64(ph->segs_down);
	}
}

int results_packets(struct results *r, const struct wake *w, int64_t delay_us, int64_t settle_us,
                    const struct trace_packet *p, size_t n)
{
	if (r->pk.fd < 0 || !n)
		return 0;
	struct trace_wake tw = { .device = w->device, .seq = w->seq, .delay_us = delay_us, .settle_us = settle_us };
	snprintf(tw.variant, sizeof(tw.variant), "%s", w->variant->name);
	/* the wake's rows as one block, written whole */
	if (trace_format_rows(&tw, p, n, &r->pkrows) == 0 && csv_append(&r->pk, r->pkrows.p, r->pkrows.len) == 0)
		return 0;
	if (!r->pk.err)
		r->pk.err = ENOMEM;
	r->pk.unwritten++;
	return -1;
}

int results_row(struct results *r, const struct wake *w, const struct modem_counts *c)
{
	struct vstats *vs = r->cur;
	enum dormant_err err = w->err;
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

	static const struct modem_counts zero;
	const struct modem_counts *cc = c ? c : &zero;
	const struct tls_stats *ts = &cc->tls;
	struct wake_row row;
	fill_row(&row, vs, w, cc, c != NULL);
	row.t_wake_us = wake_us;
	row.t_acked_us = acked_us;
	row.t_tcp_us = t[PHASE_TCP];
	row.t_setup_us = t[PHASE_SETUP];
	row.t_data_us = t[PHASE_DATA];
	row.t_teardown_us = t[PHASE_TEARDOWN];
	row.t_wire_us = wire;
	row.t_client_us = client;
	row.t_pre_us = pre;
	row.t_conn_idle_us = conn_idle;
	row.t_post_us = post;
	row.e2e_us = e2e >= 0 ? e2e : COLUMN_NONE;
	row.t_downlink_us = t[PHASE_DOWNLINK];
	if (ts->used)
		row.t_tls_us = t[PHASE_TLS];
	/* formatted whole in memory, written whole: a full disk never leaves half a row */
	int wrc = columns_format_row(&row, &r->row) == 0 ? csv_append(&r->csv, r->row.p, r->row.len) : -1;
	if (wrc != 0) {
		if (!r->csv.err)
			r->csv.err = ENOMEM;
		r->csv.unwritten++;
	}

	if (w->pc) {
		vs->persistent = 1;
		vs->p_wakes++;
		vs->p_connects += w->connected != 0;
		if (w->reconnected && !vs->p_reconnects++)
			snprintf(vs->p_why, sizeof(vs->p_why), "%s", w->reconnect_why);
		if (w->sleep) {
			vs->p_sleeps++;
			vs->p_sleep_s += (double)w->sleep_ns / 1e9;
			vs->p_keepalives += sleep_keepalives(w->sleep, w->sleep_commands);
			vs->p_sleep_cmds += w->sleep_commands;
			vs->p_sleep_ip_up += (double)w->sleep->ip_up;
			vs->p_sleep_ip_down += (double)w->sleep->ip_down;
		}
		if (w->sleep_radio)
			vs->p_sleep_mj += w->sleep_energy.energy_mj;
		vs->p_all_ip += (double)(cc->ip_up + cc->ip_down) +
		                (w->sleep ? (double)(w->sleep->ip_up + w->sleep->ip_down) : 0);
		if (ok && !w->connected) {
			vs->p_reused++;
			vs->p_reused_ip += (double)(cc->ip_up + cc->ip_down);
			vs->p_reused_up += (double)cc->ip_up;
		}
	}
	vs->p_nat_drops += w->nat_drops;
	if (cc->ip_lower_bound)
		vs->ip_lower_bound++;
	if (cc->ip_rst_unsure)
		vs->ip_rst_unsure++;
	vs->wakes++;
	schedule_row(vs, w);
	if (!ok) {
		vs->failed++;
		vs->fails[err]++;
		return wrc;
	}
	vs->ok++;
	if (w->fleet->downlink)
		vs->polls++;
	samples_add(&vs->wake_ms, (double)wake_us / 1000.0);
	if (w->alone)
		samples_add(&vs->alone_ms, (double)wake_us / 1000.0);
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
	if (w->radio) {
		size_t f = (size_t)(w->fleet - w->sc->fleets);
		vs->radio = 1;
		samples_add(&vs->energy_mj, w->energy.energy_mj);
		samples_add(&vs->radio_on_ms, w->energy.radio_on_ms);
		samples_add(&vs->tx_ms, w->energy.tx_ms);
		samples_add(&vs->rx_ms, w->energy.rx_ms);
		samples_add(&vs->tail_ms, w->energy.tail_ms);
		if (f < FLEETS_MAX) {
			/* a persistent device's sleep before the wake (keep-alives) counts with the wake */
			vs->fleet_mj[f] += w->energy.energy_mj + (w->sleep_radio ? w->sleep_energy.energy_mj : 0);
			vs->fleet_on_ms[f] += w->energy.radio_on_ms + (w->sleep_radio ? w->sleep_energy.radio_on_ms : 0);
			vs->fleet_wakes[f]++;
			if (w->pc && ok && !w->connected && !w->reconnected) {
				vs->kept_n[f]++;
				vs->kept_mj[f] += w->energy.energy_mj;
				vs->kept_on_ms[f] += w->energy.radio_on_ms;
				vs->kept_t_s[f] += (double)wake_us / 1e6;
				if (w->sleep_radio) {
					vs->steady_n[f]++;
					vs->steady_mj[f] += w->energy.energy_mj + w->sleep_energy.energy_mj;
					vs->steady_on_ms[f] += w->energy.radio_on_ms + w->sleep_energy.radio_on_ms;
				}
				uint64_t ka = w->sleep ? sleep_keepalives(w->sleep, w->sleep_commands) : 0;
				if (w->sleep_commands && w->sleep_radio) {
					/* a sleep with commands: what they cost beyond its keep-alives (kept_measured) */
					vs->cs_n[f] += w->sleep_commands;
					vs->cs_ka[f] += (double)ka;
					vs->cs_mj[f] += w->sleep_energy.energy_mj;
					vs->cs_on_ms[f] += w->sleep_energy.radio_on_ms;
				} else if (ka && w->sleep_radio) {
					vs->ka_n[f] += (double)ka;
					vs->ka_mj[f] += w->sleep_energy.energy_mj;
					vs->ka_on_ms[f] += w->sleep_energy.radio_on_ms;
				}
			}
		}
		vs->link_lost_up += cc->link_lost_up;
		vs->link_lost_down += cc->link_lost_down;
	}
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
	return wrc;
}

void results_variant_end(struct results *r, const struct msg_table *t, const struct cmd_table *ct,
                         const struct device_table *dev, uint64_t foreign, uint64_t lib_cpu_ns, uint64_t engine_cpu_ns,
                         double window_s, int interrupted)
{
	struct vstats *vs = r->cur;
	for (uint32_t i = 0; ct && i < ct->n; i++) {
		const struct cmd_rec *c = &ct->r[i];
		uint32_t n = __atomic_load_n(&c->recv_count, __ATOMIC_ACQUIRE);
		const struct device *d = dev && c->device < dev->n ? &dev->d[c->device] : NULL;
		enum cmd_fate fate = ledger_command_fate(c, d ? device_session_ns(d) : 1, d ? d->last_wake_ns : 0);
		if (fate == CMD_NOT_SENT) {
			vs->cmd_unsent++; /* due after an interrupt, or the publish failed */
			continue;
		}
		vs->cmd_issued++;
		if (fate == CMD_DROPPED)
			vs->cmd_dropped++;
		else if (fate == CMD_PENDING_AFTER_LAST)
			vs->cmd_pending++;
		else if (fate == CMD_PENDING_MISSED)
			vs->cmd_pending++, vs->cmd_pending_missed++;
		if (fate != CMD_DELIVERED)
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

/* A figure: an integer when it is whole (counts, bytes), null when there is none. */
static json_t *jnum(double x)
{
	if (isnan(x) || isinf(x))
		return json_null();
	if (x == floor(x) && fabs(x) < 1e15)
		return json_integer((json_int_t)x);
	return json_real(x);
}

static json_t *ju64(uint64_t x)
{
	return json_integer(x > (uint64_t)LLONG_MAX ? LLONG_MAX : (json_int_t)x); /* json_int_t is long long */
}

/* json_object_set_new takes the value even when it fails; a failure shows
 * as a NULL somewhere, which results_finish catches by checking the tree. */
static void put(json_t *o, const char *key, json_t *v)
{
	if (json_object_set_new(o, key, v) != 0)
		json_object_set_new(o, "_incomplete", json_true());
}

static json_t *jdist(struct samples *s)
{
	json_t *o = json_object();
	put(o, "n", ju64(s->n));
	put(o, "p50", jnum(samples_pct(s, 50)));
	put(o, "p90", jnum(samples_pct(s, 90)));
	put(o, "p99", jnum(samples_pct(s, 99)));
	put(o, "max", jnum(samples_max(s)));
	put(o, "mean", jnum(samples_mean(s)));
	return o;
}

static json_t *jupdown(struct samples *up, struct samples *down)
{
	json_t *o = json_object();
	put(o, "up", jnum(samples_mean(up)));
	put(o, "down", jnum(samples_mean(down)));
	return o;
}

/* Battery life is also given at these wake periods: a per-wake device pays
 * the same measured wake whatever its period (its TLS session kept between
 * wakes), so only the number of wakes a day and the sleep between change.
 * A kept connection's sleep at period P holds floor((P - wake) / keepalive)
 * keep-alives (the first a keepalive after the wake, as measured; paho's
 * PINGREQ comes up to 1.1 s late, so MQTT may have one fewer), each
 * costing what the measured ones added on average, and its wake is the
 * measured wake on a kept connection. Not given (NaN) when the link's NAT
 * forgets the connection between keep-alives (keepalive >= nat_timeout_s,
 * P > nat_timeout_s: it reconnects every wake), when no wake on a kept
 * connection succeeded, or when P needs keep-alives and none was measured
 * (the measured period was shorter than the keepalive). */
static const struct {
	const char *name;
	double s;
} battery_periods[] = { { "1m", 60 }, { "15m", 900 }, { "1h", 3600 }, { "1d", 86400 } };
#define NPERIODS (sizeof(battery_periods) / sizeof(battery_periods[0]))

/* A fleet's device on the variant's link: wakes a day from its period, the
 * mean measured wake, and the sleep floor between wakes. */
struct fleet_battery {
	double wakes_per_day, wake_mj, awake_ms, day_mj, years;
	double battery_wh, sleep_uw;
	double years_at[NPERIODS];      /* the same at battery_periods */
	int kept;                       /* persistent: years_at from the kept wake and keep-alives */
	struct energy_kept km;          /* ... as measured (NaN: none) */
};

/* What fleet F's kept connections measured (energy.h), NaN where nothing was. */
static struct energy_kept kept_measured(const struct vstats *vs, size_t f, const struct fleet *fl)
{
	double n = vs->kept_n[f], k = vs->ka_n[f], c = vs->cs_n[f];
	struct energy_kept e = { .wake_mj = n ? vs->kept_mj[f] / n : NAN, .wake_on_ms = n ? vs->kept_on_ms[f] / n : NAN,
	                         .wake_s = n ? vs->kept_t_s[f] / n : NAN, .ka_mj = k ? vs->ka_mj[f] / k : NAN,
	                         .ka_on_ms = k ? vs->ka_on_ms[f] / k : NAN,
	                         .keepalive_s = (double)fl->keepalive_us / 1e6, .cmd_mj = NAN, .cmd_on_ms = NAN,
	                         .cmds_per_day = fl->downlink && fl->command_every_us ? 86400e6 / (double)fl->command_every_us
	                                                                              : 0 };
	/* A command pushed in a sleep: what the sleeps with commands cost beyond
	 * their keep-alives (at the keep-alive-only sleeps' cost), per command. */
	if (c && (vs->cs_ka[f] == 0 || k)) {
		e.cmd_mj = (vs->cs_mj[f] - (vs->cs_ka[f] ? vs->cs_ka[f] * e.ka_mj : 0)) / c;
		e.cmd_on_ms = (vs->cs_on_ms[f] - (vs->cs_ka[f] ? vs->cs_ka[f] * e.ka_on_ms : 0)) / c;
	}
	return e;
}

static int fleet_battery(const struct results *r, const struct vstats *vs, size_t f, struct fleet_battery *b)
{
	const struct fleet *fl = &r->sc->fleets[f];
	struct link_profile lbuf;
	const struct link_profile *lp = scenario_radio(r->sc, vs->v, fl, &lbuf); /* a listening device's floor */
	if (!vs->fleet_wakes[f] || !lp)
		return -1;
	b->wakes_per_day = 86400e6 / (double)fl->wake_every_us;
	b->wake_mj = vs->fleet_mj[f] / (double)vs->fleet_wakes[f];
	b->awake_ms = vs->fleet_on_ms[f] / (double)vs->fleet_wakes[f];
	/* A kept connection in its steady state: a wake on it and the sleep before
	 * it, as measured. Its connect (once in a device's life) and the sleep
	 * after each device's last wake (no row) would bias a short run. */
	if (scenario_connection(vs->v, fl) == CONN_PERSISTENT && vs->steady_n[f]) {
		b->wake_mj = vs->steady_mj[f] / vs->steady_n[f];
		b->awake_ms = vs->steady_on_ms[f] / vs->steady_n[f];
	}
	b->battery_wh = fl->battery_wh;
	b->sleep_uw = scenario_sleep_uw(fl, lp);
	b->day_mj = energy_day_mj(b->sleep_uw, b->wake_mj, b->wakes_per_day, b->awake_ms);
	b->years = energy_battery_years(b->battery_wh, b->sleep_uw, b->wake_mj, b->wakes_per_day, b->awake_ms);
	/* A kept connection's sleeps cost what its keep-alives make of them,
	 * which depends on the period (see battery_periods). */
	b->kept = scenario_connection(vs->v, fl) == CONN_PERSISTENT;
	b->km = kept_measured(vs, f, fl);
	for (size_t k = 0; k < NPERIODS; k++) {
		double mj = b->wake_mj, on = b->awake_ms, ps = battery_periods[k].s;
		if (b->kept && energy_kept_period(&b->km, lp->nat_timeout_s, ps, &mj, &on) < 0)
			b->years_at[k] = NAN;
		else
			b->years_at[k] = energy_battery_years(b->battery_wh, b->sleep_uw, mj, 86400.0 / ps, on);
	}
	return 0;
}

static json_t *radio_json(const struct results *r, struct vstats *vs)
{
	json_t *o = json_object(), *fleets = json_array();
	put(o, "energy_mj", jdist(&vs->energy_mj));
	put(o, "radio_on_ms", jdist(&vs->radio_on_ms));
	put(o, "tx_ms", jdist(&vs->tx_ms));
	put(o, "rx_ms", jdist(&vs->rx_ms));
	put(o, "tail_ms", jdist(&vs->tail_ms));
	put(o, "link_lost_up", ju64(vs->link_lost_up));
	put(o, "link_lost_down", ju64(vs->link_lost_down));
	for (size_t f = 0; f < r->sc->nfleets; f++) {
		struct fleet_battery b;
		if (fleet_battery(r, vs, f, &b) < 0)
			continue;
		json_t *j = json_object();
		put(j, "fleet", json_string(r->sc->fleets[f].name));
		put(j, "link", json_string(scenario_link(r->sc, vs->v, &r->sc->fleets[f])->name));
		/* what simulate and recommend need to tell whether a deployment sends the same */
		put(j, "connection", json_string(b.kept ? "persistent" : "per-wake"));
		put(j, "payload_bytes", ju64(r->sc->fleets[f].payload_bytes));
		put(j, "messages_per_wake", ju64(r->sc->fleets[f].messages_per_wake));
		put(j, "wakes_per_day", jnum(b.wakes_per_day));
		put(j, "wake_mj_mean", jnum(b.wake_mj));
		put(j, "radio_on_ms_mean", jnum(b.awake_ms));
		put(j, "sleep_uw", jnum(b.sleep_uw));
		put(j, "energy_per_day_mj", jnum(b.day_mj));
		put(j, "battery_wh", jnum(b.battery_wh));
		put(j, "battery_years", jnum(b.years));
		json_t *at = json_object();
		for (size_t k = 0; k < NPERIODS; k++)
			put(at, battery_periods[k].name, jnum(b.years_at[k]));
		put(j, "battery_years_at", at);
		if (b.kept) {
			/* what battery_years_at of a kept connection is made of */
			put(j, "kept_wake_mj_mean", jnum(b.km.wake_mj));
			put(j, "kept_radio_on_ms_mean", jnum(b.km.wake_on_ms));
			put(j, "kept_wake_s_mean", jnum(b.km.wake_s));
			put(j, "keepalive_mj_mean", jnum(b.km.ka_mj));
			put(j, "keepalive_radio_on_ms_mean", jnum(b.km.ka_on_ms));
			put(j, "keepalive_s", jnum(b.km.keepalive_s));
			if (r->sc->fleets[f].downlink) {
				/* a listening device (link.h): its floor is the listening one (sleep_uw above) */
				const struct link_profile *lp = scenario_link(r->sc, vs->v, &r->sc->fleets[f]);
				put(j, "listening", json_boolean(scenario_listens(vs->v, &r->sc->fleets[f], lp)));
				put(j, "listen_ms", jnum(lp && lp->can_listen ? lp->listen_ms : NAN));
				put(j, "command_mj_mean", jnum(b.km.cmd_mj));
				put(j, "command_radio_on_ms_mean", jnum(b.km.cmd_on_ms));
				put(j, "commands_in_sleeps", jnum(vs->cs_n[f]));
			}
			put(j, "nat_timeout_s", jnum(scenario_link(r->sc, vs->v, &r->sc->fleets[f])->nat_timeout_s));
		}
		json_array_append_new(fleets, j);
	}
	put(o, "fleets", fleets);
	return o;
}

/* Whether a variant kept its schedule, and if not, what held it: the
 * rates, the CPU each side used over the window, and the verdict. */
struct schedule_view {
	double scheduled_per_s, achieved_per_s, span_s;
	double engine_busy;   /* the engine thread's CPU over the window, 0..1 */
	double client_cores;  /* the engine's and the library's threads, cores */
	double broker_cores;  /* the servers', cores; NAN: not sampled */
	int cores;
	int behind;           /* a wake started late, or one never started */
	const char *limit;    /* none, generator, server, machine, concurrency, devices, loop */
	char why[520];
};

#define BUSY 0.8          /* a thread or server this busy over the window counts as the limit */
#define SLOWED 3.0        /* a wake under load this many times an unloaded one: the wakes shared the CPUs */
#define MACHINE_FULL 0.9  /* ... and the machine with this share of all its cores busy or stolen */

static void schedule_judge(const struct results *r, struct vstats *vs, struct schedule_view *sv)
{
	double dur = (double)r->sc->duration_us / 1e6, win = vs->window_s > 0 ? vs->window_s : dur;
	long nc = sysconf(_SC_NPROCESSORS_ONLN);
	memset(sv, 0, sizeof(*sv));
	sv->cores = nc > 0 ? (int)nc : 1;
	sv->span_s = vs->last_start_s > dur ? vs->last_start_s : dur;
	sv->scheduled_per_s = (double)vs->expected / dur;
	sv->achieved_per_s = (double)vs->wakes / sv->span_s;
	sv->engine_busy = (double)vs->engine_cpu_ns / 1e9 / win;
	sv->client_cores = (double)(vs->engine_cpu_ns + vs->lib_cpu_ns) / 1e9 / win;
	sv->broker_cores = vs->broker_sampled && vs->broker.window_s > 0
	                           ? (vs->broker.cpu_user_ms + vs->broker.cpu_sys_ms) / 1000.0 / vs->broker.window_s
	                           : NAN;
	sv->behind = vs->late > 0 || vs->not_started > 0;
	if (!sv->behind) {
		sv->limit = "none";
		snprintf(sv->why, sizeof(sv->why), "every wake started within %.0f ms of its time", LATE_MS);
		return;
	}
	int held = 0; /* who held the most lag: the loop, the devices, the slots */
	for (int k = 1; k < 3; k++)
		if (vs->lag_ms_by[k] > vs->lag_ms_by[held])
			held = k;
	double srv_c = isnan(sv->broker_cores) ? 0 : sv->broker_cores;
	int gen = sv->engine_busy >= BUSY || sv->client_cores >= BUSY * sv->cores;
	int srv = srv_c >= BUSY; /* mosquitto runs on one core: this saturates it */
	int full = !isnan(vs->machine_busy) && vs->machine_busy + vs->machine_steal >= MACHINE_FULL;
	/* An unloaded wake's time: the median of the wakes that ran alone; with
	 * none on loopback, the CPU a wake cost both sides (a loopback wake
	 * alone takes about that: 0.58 ms against 0.70 ms of CPU, MQTT QoS 1);
	 * behind a link, unknown (its delays are the wake). */
	double unloaded = NAN;
	const char *unloaded_is = "";
	if (vs->alone_ms.n >= 3) {
		unloaded = samples_pct(&vs->alone_ms, 50);
		unloaded_is = "the median of the wakes that ran alone";
	} else if (!vs->radio && vs->wakes) {
		unloaded = (sv->client_cores + srv_c) * win / (double)vs->wakes * 1000.0;
		unloaded_is = "the CPU a wake cost both sides, as none ran alone";
	}
	double loaded = unloaded > 0 ? samples_mean(&vs->wake_ms) / unloaded : 0;
	if (loaded < SLOWED)
		loaded = 0;
	char cpu[240];
	int n = snprintf(cpu, sizeof(cpu), "engine thread %.0f %% busy; dormant's threads %.2f cores, the server %.2f",
	                 100 * sv->engine_busy, sv->client_cores, srv_c);
	if (!isnan(vs->machine_busy) && n > 0 && (size_t)n < sizeof(cpu)) {
		char steal[32] = "";
		if (vs->machine_steal > 0.005)
			snprintf(steal, sizeof(steal), " and %.0f %% stolen", 100 * vs->machine_steal);
		snprintf(cpu + n, sizeof(cpu) - (size_t)n, ", the machine %.0f %% of %d cores busy%s", 100 * vs->machine_busy,
		         sv->cores, steal);
	}
	if (held == 1) {
		sv->limit = "devices";
		snprintf(sv->why, sizeof(sv->why), "the devices: a wake outlasted its device's period, so the next one "
		         "waited for it (wake p50 %.4g ms; %s)", samples_pct(&vs->wake_ms, 50), cpu);
	} else if (gen && !srv) {
		sv->limit = "generator";
		snprintf(sv->why, sizeof(sv->why), "the generator (dormant), not the server: %s", cpu);
	} else if (srv && !gen) {
		sv->limit = "server";
		snprintf(sv->why, sizeof(sv->why), "the server: %s", cpu);
	} else if (gen || full) {
		/* every core busy: the side that used more of them is the limit */
		sv->limit = sv->client_cores >= srv_c ? "generator" : "server";
		snprintf(sv->why, sizeof(sv->why), "the %s: the machine's cores were all busy, %s the most: %s",
		         sv->client_cores >= srv_c ? "generator (dormant)" : "server",
		         sv->client_cores >= srv_c ? "dormant's threads using" : "the server using", cpu);
	} else if (held == 2 && loaded > 0) {
		/* no CPU saturated, yet a wake under load took many times an unloaded
		 * one: the wakes shared the machine's threads (the engine, the
		 * library's, the server's), so more in flight would only lengthen
		 * them. The side that spent more CPU per wake is the limit. */
		sv->limit = sv->client_cores >= srv_c ? "generator" : "server";
		snprintf(sv->why, sizeof(sv->why), "the %s: with %u wakes in flight a wake took %.3g ms, %.0f times an "
		         "unloaded one (%.3g ms: %s), so more in flight would only lengthen them; %s",
		         sv->client_cores >= srv_c ? "generator (dormant), not the server" : "server", r->sc->concurrency,
		         samples_mean(&vs->wake_ms), loaded, unloaded, unloaded_is, cpu);
	} else if (held == 2) {
		double wake_s = samples_mean(&vs->wake_ms) / 1000.0;
		sv->limit = "concurrency";
		snprintf(sv->why, sizeof(sv->why), "the scenario's concurrency: %u wake%s in flight at a mean wake of %.3g ms "
		         "allow about %.0f wakes/s, and no CPU was saturated (%s)", r->sc->concurrency,
		         r->sc->concurrency == 1 ? "" : "s", wake_s * 1000, wake_s > 0 ? r->sc->concurrency / wake_s : 0, cpu);
	} else {
		sv->limit = "loop";
		snprintf(sv->why, sizeof(sv->why), "the engine's loop saw wakes due late though no CPU was saturated: %s", cpu);
	}
}

/* dormant's RSS growth over the variant, per device, and what it knows of it. */
static double mem_per_device(const struct results_memory *m)
{
	return m->devices && m->rss_after_kib >= m->rss_before_kib
	               ? (double)(m->rss_after_kib - m->rss_before_kib) * 1024.0 / m->devices
	               : NAN;
}

static json_t *memory_json(const struct results_memory *m)
{
	json_t *o = json_object();
	put(o, "devices", json_integer(m->devices));
	put(o, "rss_before_kib", ju64(m->rss_before_kib));
	put(o, "rss_after_kib", ju64(m->rss_after_kib));
	put(o, "rss_per_device_b", jnum(round(mem_per_device(m))));
	/* of it, what dormant knows it keeps: per device, and the run's records per wake */
	put(o, "state_per_device_b", ju64(m->state_per_device));
	put(o, "sessions_stored", ju64(m->sessions));
	put(o, "session_b_mean", jnum(m->sessions ? round((double)m->session_bytes / (double)m->sessions) : NAN));
	put(o, "records_b_per_device", jnum(m->devices ? round((double)m->records_bytes / m->devices) : NAN));
	return o;
}

static json_t *schedule_json(const struct results *r, struct vstats *vs)
{
	struct schedule_view sv;
	schedule_judge(r, vs, &sv);
	json_t *o = json_object();
	put(o, "scheduled_wakes_per_s", jnum(sv.scheduled_per_s));
	put(o, "achieved_wakes_per_s", jnum(sv.achieved_per_s));
	/* from the window's start to the last wake's start, or the window when that is longer */
	put(o, "span_s", jnum(sv.span_s));
	put(o, "late_ms", jnum(LATE_MS));
	put(o, "late", ju64(vs->late));
	json_t *by = json_object();
	put(by, "loop", ju64(vs->late_by[0]));
	put(by, "device", ju64(vs->late_by[1]));
	put(by, "slot", ju64(vs->late_by[2]));
	put(by, "recording", ju64(vs->late_by[3]));
	put(o, "late_by", by);
	json_t *held = json_object();
	put(held, "loop", jnum(vs->lag_ms_by[0] / 1000.0));
	put(held, "device", jnum(vs->lag_ms_by[1] / 1000.0));
	put(held, "slot", jnum(vs->lag_ms_by[2] / 1000.0));
	put(held, "recording", jnum(vs->lag_ms_by[3] / 1000.0));
	put(o, "lag_s_held_by", held);
	put(o, "lag_ms", jdist(&vs->lag_ms));
	put(o, "overrun", json_string(overrun_name(r->sc->overrun)));
	put(o, "not_started", ju64(vs->not_started));
	put(o, "engine_busy", jnum(sv.engine_busy));
	put(o, "client_cores", jnum(sv.client_cores));
	put(o, "server_cores", jnum(sv.broker_cores));
	put(o, "alone_wake_ms", jdist(&vs->alone_ms)); /* wakes no other overlapped */
	put(o, "cores", json_integer(sv.cores));
	put(o, "machine_busy", jnum(vs->machine_busy));   /* share of all cores, over the window */
	put(o, "machine_steal", jnum(vs->machine_steal));
	put(o, "limit", json_string(sv.limit));
	put(o, "why", json_string(sv.why));
	return o;
}

static json_t *variant_json(const struct results *r, struct vstats *vs)
{
	const struct variant *v = vs->v;
	json_t *o = json_object();
	put(o, "name", json_string(v->name));
	put(o, "protocol", json_string(protocol_name(v->protocol)));
	put(o, "broker", json_string(broker_kind_name(v->broker)));
	put(o, "tls", json_string(tls_mode_name(v->tls)));
	put(o, "resume", json_string(resume_mode_name(v->resume)));
	put(o, "qos", json_integer(v->qos));
	put(o, "server", json_string(vs->server));
	put(o, "endpoint", json_string(vs->endpoint));
	put(o, "server_start_ms", jnum(vs->server_start_ms));
	put(o, "interrupted", json_boolean(vs->interrupted));
	put(o, "window_s", jnum(vs->window_s));
	put(o, "expected_wakes", ju64(vs->expected));
	put(o, "wakes", ju64(vs->wakes));
	put(o, "ok", ju64(vs->ok));
	put(o, "failed", ju64(vs->failed));
	put(o, "late_wakes", ju64(vs->late));
	put(o, "schedule", schedule_json(r, vs));
	if (vs->mem_known)
		put(o, "client_memory", memory_json(&vs->mem));
	/* rows whose ip_* the kernel could not make exact: the figures below are lower bounds for them */
	put(o, "ip_lower_bound_wakes", ju64(vs->ip_lower_bound));
	/* rows whose ip_down may be one bare RST off (a RST crossed our last segment) */
	put(o, "ip_rst_unsure_wakes", ju64(vs->ip_rst_unsure));
	if (vs->radio)
		put(o, "radio", radio_json(r, vs));
	if (vs->persistent) {
		/* connection: persistent: the sleeps are each reported in the row of the wake after them */
		json_t *p = json_object();
		put(p, "wakes", ju64(vs->p_wakes));
		put(p, "connects", ju64(vs->p_connects));
		put(p, "reconnects", ju64(vs->p_reconnects));
		put(p, "first_reconnect_why", json_string(vs->p_why));
		put(p, "reused_wakes", ju64(vs->p_reused));
		put(p, "reused_wake_ip_bytes_mean", jnum(vs->p_reused ? vs->p_reused_ip / (double)vs->p_reused : 0));
		put(p, "reused_wake_ip_up_mean", jnum(vs->p_reused ? vs->p_reused_up / (double)vs->p_reused : 0));
		put(p, "reused_wake_ip_down_mean",
		    jnum(vs->p_reused ? (vs->p_reused_ip - vs->p_reused_up) / (double)vs->p_reused : 0));
		/* comparable with a per-wake variant's mean ip_up + ip_down: every byte of the run per wake */
		put(p, "ip_bytes_per_wake_with_sleeps", jnum(vs->p_wakes ? vs->p_all_ip / (double)vs->p_wakes : 0));
		put(p, "sleeps", ju64(vs->p_sleeps));
		put(p, "sleep_s_mean", jnum(vs->p_sleeps ? vs->p_sleep_s / (double)vs->p_sleeps : 0));
		put(p, "keepalives", ju64(vs->p_keepalives));
		put(p, "sleep_commands", ju64(vs->p_sleep_cmds));
		put(p, "sleep_ip_up_mean", jnum(vs->p_sleeps ? vs->p_sleep_ip_up / (double)vs->p_sleeps : 0));
		put(p, "sleep_ip_down_mean", jnum(vs->p_sleeps ? vs->p_sleep_ip_down / (double)vs->p_sleeps : 0));
		put(p, "sleep_energy_mj_mean", jnum(vs->p_sleeps ? vs->p_sleep_mj / (double)vs->p_sleeps : 0));
		put(p, "nat_drops", ju64(vs->p_nat_drops));
		put(o, "persistent", p);
	}
	json_t *fails = json_object();
	for (int e = 0; e < ERR__COUNT; e++)
		if (vs->fails[e])
			put(fails, dormant_strerror((enum dormant_err)e), ju64(vs->fails[e]));
	put(o, "failures", fails);
	json_t *m = json_object();
	put(m, "sent", ju64(vs->sent));
	put(m, "acked", ju64(vs->acked));
	put(m, "received", ju64(vs->received));
	put(m, "lost", ju64(vs->lost));
	put(m, "duplicates", ju64(vs->dups));
	put(m, "unacked", ju64(vs->unacked));
	put(m, "foreign", ju64(vs->foreign));
	put(o, "messages", m);
	put(o, "wake_ms", jdist(&vs->wake_ms));
	put(o, "acked_ms", jdist(&vs->acked_ms));
	put(o, "e2e_ms", jdist(&vs->e2e_ms));
	put(o, "wire_ms", jdist(&vs->wire_ms));
	put(o, "client_ms", jdist(&vs->client_ms));
	put(o, "cpu_us_alone", jdist(&vs->cpu_us));
	json_t *ph = json_object();
	for (int p = 0; p < PHASE_COUNT; p++)
		put(ph, phase_name((enum phase)p), jdist(&vs->t_ms[p]));
	put(o, "phase_ms", ph);
	json_t *cmd = json_object();
	put(cmd, "polls", ju64(vs->polls));
	put(cmd, "issued", ju64(vs->cmd_issued));
	put(cmd, "delivered", ju64(vs->cmd_delivered));
	/* issued = delivered + pending + dropped */
	put(cmd, "pending", ju64(vs->cmd_pending));
	put(cmd, "pending_missed", ju64(vs->cmd_pending_missed)); /* pending though a wake of the device came after */
	put(cmd, "dropped", ju64(vs->cmd_dropped)); /* by the broker: no session for the device yet */
	put(cmd, "duplicates", ju64(vs->cmd_dups));
	put(cmd, "not_sent", ju64(vs->cmd_unsent));
	put(o, "commands", cmd);
	put(o, "command_delay_ms", jdist(&vs->cmd_delay_ms));
	json_t *rps = NULL;
	for (size_t f = 0; f < r->sc->nfleets && f < FLEETS_MAX; f++) {
		if (!vs->replay_known[f])
			continue;
		/* stack: replay: which wake of the fleet the library ran and the modem recorded; the rest replayed it */
		const struct results_replay *rp = &vs->replay[f];
		json_t *o2 = json_object();
		put(o2, "fleet", json_string(r->sc->fleets[f].name));
		put(o2, "recorded", json_boolean(rp->ready));
		put(o2, "device", rp->ready ? ju64(rp->device) : json_null());
		put(o2, "seq", rp->ready ? ju64(rp->seq) : json_null());
		put(o2, "pieces_up", ju64(rp->chunks));
		put(o2, "packets_up", ju64(rp->packets_up));
		put(o2, "packets_down", ju64(rp->packets_down));
		put(o2, "failed_recordings", ju64(rp->failures));
		put(o2, "last_failure", rp->failures ? json_string(vs->replay_why[f]) : json_null());
		if (!rps)
			rps = json_array();
		json_array_append_new(rps, o2);
	}
	if (rps) {
		json_t *ro = json_object();
		put(ro, "wakes_replayed", ju64(vs->replay[0].replayed));
		put(ro, "fleets", rps);
		put(o, "replay", ro);
	}
	if (vs->setups_ran) {
		/* Sessions made before the window (session: before-window): not wakes, in no figure above. */
		json_t *ss = json_object();
		put(ss, "made_before_window", ju64(vs->setups_ok));
		put(ss, "failed", ju64(vs->setups_failed));
		put(ss, "first_failure", vs->setups_failed ? json_string(vs->setup_why) : json_null());
		put(ss, "set_up_ms", jnum(vs->setup_ms));
		put(ss, "library_cpu_ms", jnum(vs->setup_cpu_ms));
		put(o, "sessions", ss);
	}
	json_t *cpu = json_object();
	put(cpu, "library_threads_ms", jnum((double)vs->lib_cpu_ns / 1e6));
	put(cpu, "engine_thread_ms", jnum((double)vs->engine_cpu_ns / 1e6));
	put(cpu, "library_us_per_wake", jnum(vs->ok ? (double)vs->lib_cpu_ns / 1e3 / (double)vs->wakes : NAN));
	put(o, "cpu", cpu);
	if (vs->broker_sampled) {
		double c = vs->broker.cpu_user_ms + vs->broker.cpu_sys_ms;
		json_t *sc = json_object();
		put(sc, "cpu_ms", jnum(c));
		put(sc, "cpu_ms_per_1000_wakes", jnum(vs->wakes ? c * 1000.0 / (double)vs->wakes : NAN));
		put(sc, "rss_peak_kib", ju64(vs->broker.rss_peak_kib));
		put(sc, "rss_mean_kib", ju64(vs->broker.rss_mean_kib));
		put(sc, "rss_first_kib", ju64(vs->broker.rss_first_kib));
		put(sc, "samples", json_integer(vs->broker.samples));
		put(sc, "processes", json_integer(vs->broker.processes));
		put(sc, "window_s", jnum(vs->broker.window_s));
		put(o, "server_cost", sc);
	}
	json_t *b = json_object();
	put(b, "plaintext", jupdown(&vs->plain_up, &vs->plain_down));
	put(b, "stream", jupdown(&vs->stream_up, &vs->stream_down));
	put(b, "ip", jupdown(&vs->ip_up, &vs->ip_down));
	put(b, "segments", jupdown(&vs->segs_up, &vs->segs_down));
	static const char *const names[8] = { "plain_up", "plain_down", "stream_up", "stream_down",
		                              "ip_up",    "ip_down",    "segs_up",   "segs_down" };
	json_t *phases = json_object();
	for (int p = 0; p < PHASE_COUNT; p++) {
		json_t *one = json_object();
		for (int i = 0; i < 8; i++)
			put(one, names[i], jnum(vs->ok ? vs->ph_sum[p][i] / (double)vs->ok : NAN));
		put(phases, phase_name((enum phase)p), one);
	}
	put(b, "phases", phases);
	put(o, "bytes_per_wake", b);
	if (vs->tls) {
		json_t *t = json_object();
		put(t, "suite", json_string(vs->suite));
		put(t, "resume_offered", json_string(resume_mode_name(vs->offered_mode)));
		put(t, "verify", json_boolean(vs->verify));
		put(t, "note", json_string(vs->tls_note));
		put(t, "profile_init_ms", jnum(vs->tls_init_ms));
		put(t, "offered", ju64(vs->offered));
		put(t, "resumed", ju64(vs->resumed));
		put(t, "refused", ju64(vs->refused));
		for (int i = 0; i < 2; i++) {
			struct hs_stats *h = &vs->hs[i];
			json_t *k = json_object();
			put(k, "n", ju64(h->up.n));
			put(k, "hs_bytes_up", jnum(samples_mean(&h->up)));
			put(k, "hs_bytes_down", jnum(samples_mean(&h->down)));
			put(k, "hs_ms_p50", jnum(samples_pct(&h->ms, 50)));
			put(k, "hs_cpu_us_p50", jnum(samples_pct(&h->cpu_us, 50)));
			put(k, "heap_peak_p50", jnum(samples_pct(&h->heap, 50)));
			put(k, "session_bytes_p50", jnum(samples_pct(&h->session, 50)));
			put(k, "wake_ms_p50", jnum(samples_pct(&h->wake_ms, 50)));
			put(t, i ? "resumed" : "full", k);
		}
		put(o, "tls_handshakes", t);
	}
	return o;
}

static void fmt_lag(char *b, size_t n, double ms)
{
	if (ms >= 1000)
		snprintf(b, n, "%.3g s", ms / 1000);
	else
		snprintf(b, n, "%.3g ms", ms);
}

/* A variant that fell behind its schedule says so, by how much and why. */
static void print_schedule(const struct results *r, struct vstats *vs, FILE *out, int w)
{
	struct schedule_view sv;
	schedule_judge(r, vs, &sv);
	if (!sv.behind)
		return;
	char p50[24], p99[24], mx[24];
	fmt_lag(p50, sizeof(p50), samples_pct(&vs->lag_ms, 50));
	fmt_lag(p99, sizeof(p99), samples_pct(&vs->lag_ms, 99));
	fmt_lag(mx, sizeof(mx), samples_max(&vs->lag_ms));
	fprintf(out, "%-*s   late: %llu of %llu wakes started over %.0f ms late (lag p50 %s, p99 %s, max %s); "
	        "%.1f wakes/s achieved of %.1f scheduled, the last start at %.4g s of a %.4g s window\n", w, "",
	        (unsigned long long)vs->late, (unsigned long long)vs->wakes, LATE_MS, p50, p99, mx, sv.achieved_per_s,
	        sv.scheduled_per_s, vs->last_start_s, (double)r->sc->duration_us / 1e6);
	if (vs->not_started)
		fprintf(out, "%-*s   not started: %llu wakes still waited when the window ended (overrun: stop); no rows\n",
		        w, "", (unsigned long long)vs->not_started);
	fprintf(out, "%-*s   limit: %s\n", w, "", sv.why);
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
		char wakes[24], wk[24], e2e[24], plain[24], ip[24], segs[24], lost[24], cpu[24];
		snprintf(wakes, sizeof(wakes), "%llu/%llu", (unsigned long long)vs->wakes, (unsigned long long)vs->expected);
		snprintf(wk, sizeof(wk), "%.2f/%.2f", samples_pct(&vs->wake_ms, 50), samples_pct(&vs->wake_ms, 99));
		snprintf(e2e, sizeof(e2e), "%.2f/%.2f", samples_pct(&vs->e2e_ms, 50), samples_pct(&vs->e2e_ms, 99));
		snprintf(plain, sizeof(plain), "%.0f/%.0f", samples_mean(&vs->plain_up), samples_mean(&vs->plain_down));
		snprintf(ip, sizeof(ip), "%.0f/%.0f", samples_mean(&vs->ip_up), samples_mean(&vs->ip_down));
		snprintf(segs, sizeof(segs), "%.1f/%.1f", samples_mean(&vs->segs_up), samples_mean(&vs->segs_down));
		snprintf(lost, sizeof(lost), "%llu/%llu", (unsigned long long)vs->lost, (unsigned long long)vs->dups);
		/* the median over wakes that ran alone; under load there are none, and the
		 * library threads' CPU per wake stands in, marked, with a note below */
		if (vs->cpu_us.n)
			snprintf(cpu, sizeof(cpu), "%.0f", samples_pct(&vs->cpu_us, 50));
		else if (vs->wakes && vs->ok)
			snprintf(cpu, sizeof(cpu), "%.0f*", (double)vs->lib_cpu_ns / 1e3 / (double)vs->wakes);
		else
			snprintf(cpu, sizeof(cpu), "-");
		fprintf(out, "%-*s %9s %5llu %15s %15s %8.3f %8.3f %13s %13s %9s %7s %9s%s\n", w, vs->v->name, wakes,
		        (unsigned long long)vs->failed, wk, e2e, samples_pct(&vs->wire_ms, 50),
		        samples_pct(&vs->client_ms, 50), plain, ip, segs, cpu, lost,
		        vs->interrupted ? "  (interrupted)" : "");
		if (!vs->cpu_us.n && vs->ok)
			fprintf(out, "%-*s   cpu: no figure: no wake ran alone (each overlapped another, so its library "
			             "CPU cannot be told apart); %s\n",
			        w, "", vs->wakes ? "* is the library threads' CPU over the variant per wake" : "");
		if (vs->ip_lower_bound)
			fprintf(out, "%-*s   IP B: %llu of %llu wakes are lower bounds (ip_lower_bound: the server sent a "
			             "segment twice, which TCP_INFO does not count)\n",
			        w, "", (unsigned long long)vs->ip_lower_bound, (unsigned long long)vs->wakes);
		if (vs->ip_rst_unsure)
			fprintf(out, "%-*s   IP B: %llu of %llu wakes may be one bare RST off, -40 or +12 B down "
			             "(ip_rst_unsure: a RST crossed a segment of ours, which TCP_INFO may not count)\n",
			        w, "", (unsigned long long)vs->ip_rst_unsure, (unsigned long long)vs->wakes);
		for (int e = 0; e < ERR__COUNT; e++)
			if (vs->fails[e])
				fprintf(out, "%-*s   %llu failed: %s\n", w, "", (unsigned long long)vs->fails[e],
				        dormant_strerror((enum dormant_err)e));
		print_schedule(r, vs, out, w);
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
		fprintf(out, "\n%-*s %7s %22s %17s %15s %13s\n", w, "downlink", "polls", "cmds sent/got/pend/drop",
		        "delay ms p50/99", "plain B up/dn", "IP B up/dn");
		for (size_t i = 0; i < r->nvs; i++) {
			struct vstats *vs = &r->vs[i];
			if (!vs->v || !vs->polls)
				continue;
			const double *d = vs->ph_sum[PHASE_DOWNLINK];
			double n = (double)vs->polls;
			char cmds[64], delay[32], plain[32], ip[32];
			snprintf(cmds, sizeof(cmds), "%llu/%llu/%llu/%llu", (unsigned long long)vs->cmd_issued,
			         (unsigned long long)vs->cmd_delivered, (unsigned long long)vs->cmd_pending,
			         (unsigned long long)vs->cmd_dropped);
			snprintf(delay, sizeof(delay), "%.1f/%.1f", samples_pct(&vs->cmd_delay_ms, 50),
			         samples_pct(&vs->cmd_delay_ms, 99));
			snprintf(plain, sizeof(plain), "%.0f/%.0f", d[0] / n, d[1] / n);
			snprintf(ip, sizeof(ip), "%.0f/%.0f", d[4] / n, d[5] / n);
			fprintf(out, "%-*s %7llu %22s %17s %15s %13s\n", w, vs->v->name, (unsigned long long)vs->polls, cmds,
			        delay, plain, ip);
		}
		/* Why a command was not delivered. */
		for (size_t i = 0; i < r->nvs; i++) {
			struct vstats *vs = &r->vs[i];
			if (!vs->v || !vs->polls)
				continue;
			if (vs->cmd_dropped)
				fprintf(out, "%-*s %llu dropped by the broker: no session for the device yet (issued before "
				        "its first subscription; session: first-wake, or its set-up failed)\n",
				        w, vs->v->name, (unsigned long long)vs->cmd_dropped);
			if (vs->cmd_pending > vs->cmd_pending_missed)
				fprintf(out, "%-*s %llu pending: queued for the device, issued after its last wake began; its "
				        "next wake gets them\n", w, vs->v->name,
				        (unsigned long long)(vs->cmd_pending - vs->cmd_pending_missed));
			if (vs->cmd_pending_missed)
				fprintf(out, "%-*s %llu of them though a wake of the device began after them (an HTTP poll takes one "
				        "command; elsewhere not explained)\n", w,
				        vs->v->name, (unsigned long long)vs->cmd_pending_missed);
			if (vs->setups_ran)
				fprintf(out, "%-*s sessions made before the window: %u in %.0f ms (not wakes, in no figure)%s%s\n",
				        w, vs->v->name, vs->setups_ok, vs->setup_ms, vs->setups_failed ? "; failed: " : "",
				        vs->setups_failed ? vs->setup_why : "");
		}
	}
	for (size_t i = 0; i < r->nvs; i++) {
		const struct vstats *vs = &r->vs[i];
		if (!vs->v)
			continue;
		for (size_t f = 0; f < r->sc->nfleets && f < FLEETS_MAX; f++) {
			const struct results_replay *rp = &vs->replay[f];
			if (!vs->replay_known[f])
				continue;
			if (rp->ready)
				fprintf(out, "%-*s replay: fleet %s recorded from device %u's wake %u on the library "
				        "(%u pieces, %u packets up, %u down)%s; %llu wakes of the variant replayed\n", w,
				        vs->v->name, r->sc->fleets[f].name, rp->device, rp->seq, rp->chunks, rp->packets_up,
				        rp->packets_down, rp->failures ? " after failed tries" : "",
				        (unsigned long long)rp->replayed);
			else
				fprintf(out, "%-*s replay: fleet %s was never recorded (%u tries): %s\n", w, vs->v->name,
				        r->sc->fleets[f].name, rp->failures, vs->replay_why[f]);
		}
	}
	int any_persistent = 0;
	for (size_t i = 0; i < r->nvs; i++)
		any_persistent |= r->vs[i].v && r->vs[i].persistent;
	if (any_persistent) {
		fprintf(out, "\n%-*s %8s %10s %12s %12s %10s %11s %14s %9s %9s\n", w, "persistent", "connects",
		        "reconnects", "reused B/wk", "all-in B/wk", "sleep s", "keepalives", "sleep B up/dn", "sleep mJ",
		        "nat drops");
		for (size_t i = 0; i < r->nvs; i++) {
			struct vstats *vs = &r->vs[i];
			if (!vs->v || !vs->persistent)
				continue;
			double ns = vs->p_sleeps ? (double)vs->p_sleeps : 1;
			char b[40];
			snprintf(b, sizeof(b), "%.0f/%.0f", vs->p_sleep_ip_up / ns, vs->p_sleep_ip_down / ns);
			fprintf(out, "%-*s %8llu %10llu %12.0f %12.0f %10.1f %11.2f %14s %9.1f %9llu\n", w, vs->v->name,
			        (unsigned long long)vs->p_connects, (unsigned long long)vs->p_reconnects,
			        vs->p_reused ? vs->p_reused_ip / (double)vs->p_reused : 0,
			        vs->p_wakes ? vs->p_all_ip / (double)vs->p_wakes : 0, vs->p_sleep_s / ns,
			        (double)vs->p_keepalives / ns, b, vs->p_sleep_mj / ns, (unsigned long long)vs->p_nat_drops);
			if (vs->p_reconnects)
				fprintf(out, "%-*s   first reconnect: %s\n", w, "", vs->p_why);
		}
		fprintf(out, "persistent: per sleep between two wakes of a device (reported in the later wake's row; "
		             "the last sleep has no row); reused B/wk: IP bytes up+down of a wake on a kept connection; all-in B/wk: every "
		             "byte of the variant's wakes and sleeps per wake, to compare with a per-wake variant's IP B up+dn.\n");
	}
	int any_radio = 0;
	for (size_t i = 0; i < r->nvs; i++)
		any_radio |= r->vs[i].v && r->vs[i].radio;
	if (any_radio) {
		fprintf(out, "\n%-*s %-12s %15s %9s %9s %9s %14s %10s %9s %8s  %s\n", w, "radio", "link", "on ms p50/99",
		        "tx ms", "rx ms", "tail ms", "mJ/wake p50/99", "wakes/day", "J/day", "years",
		        "years waking every 1m/15m/1h/1d");
		for (size_t i = 0; i < r->nvs; i++) {
			struct vstats *vs = &r->vs[i];
			if (!vs->v || !vs->radio)
				continue;
			for (size_t f = 0; f < r->sc->nfleets; f++) {
				struct fleet_battery b;
				if (fleet_battery(r, vs, f, &b) < 0)
					continue;
				char on[32], mj[32];
				snprintf(on, sizeof(on), "%.0f/%.0f", samples_pct(&vs->radio_on_ms, 50),
				         samples_pct(&vs->radio_on_ms, 99));
				snprintf(mj, sizeof(mj), "%.1f/%.1f", samples_pct(&vs->energy_mj, 50),
				         samples_pct(&vs->energy_mj, 99));
				char at[64];
				size_t used = 0;
				for (size_t k = 0; k < NPERIODS && used < sizeof(at); k++)
					used += (size_t)snprintf(at + used, sizeof(at) - used, isnan(b.years_at[k]) ? "%s-" : "%s%.2f",
					                         k ? "/" : "", b.years_at[k]);
				fprintf(out, "%-*s %-12s %15s %9.1f %9.1f %9.0f %14s %10.1f %9.2f %8.2f  %s\n", w, vs->v->name,
				        scenario_link(r->sc, vs->v, &r->sc->fleets[f])->name, on, samples_mean(&vs->tx_ms),
				        samples_mean(&vs->rx_ms), samples_mean(&vs->tail_ms), mj, b.wakes_per_day,
				        b.day_mj / 1000.0, b.years, at);
			}
			if (vs->link_lost_up || vs->link_lost_down)
				fprintf(out, "%-*s   lost on the air: %llu packets up, %llu down (retransmitted by TCP, "
				             "counted in the bytes and the energy)\n", w, "",
				        (unsigned long long)vs->link_lost_up, (unsigned long long)vs->link_lost_down);
		}
		fprintf(out, "radio: tx/rx/tail ms are means per wake; years: the battery at the fleet's period, "
		             "its mean wake and the sleep floor (sim/core/energy.h), and the same wake at other periods "
		             "(persistent: its mean wake on the kept connection plus a measured keep-alive per keepalive "
		             "of sleep; -: not measured, or the NAT forgets the connection); several fleets: one line "
		             "each.\n");
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
	for (size_t i = 0, first = 1; i < r->nvs; i++) {
		struct vstats *vs = &r->vs[i];
		const struct results_memory *m = &vs->mem;
		if (!vs->v || !vs->mem_known || m->devices < 1000)
			continue;
		if (first)
			fprintf(out, "\n%-*s\n", w, "dormant's memory");
		first = 0;
		/* a fleet big enough for it to matter: what dormant holds per sleeping device */
		fprintf(out, "%-*s RSS %.1f -> %.1f MiB with %u devices asleep: %.0f B a device (state %zu B, "
		        "%llu stored TLS sessions of %.0f B, the run's records %.0f B a device)\n",
		        w, vs->v->name, (double)m->rss_before_kib / 1024.0,
		        (double)m->rss_after_kib / 1024.0, m->devices, mem_per_device(m), m->state_per_device,
		        (unsigned long long)m->sessions, m->sessions ? (double)m->session_bytes / (double)m->sessions : 0.0,
		        (double)m->records_bytes / m->devices);
	}
	fprintf(out, "\nwake: start to connection closed; wire: the phases' time on the socket; lib: the rest "
	             "(library and its idle waits); cpu: client library threads, median over wakes that ran alone "
	             "(*: none did; the threads' CPU per wake instead).\n");
}

/* Writes the N bytes of TEXT to DIR/NAME through DIR/.NAME.tmp and
 * rename(), so NAME is whole or not there; the temporary file never stays.
 * 0, or -1 with ERR naming NAME. */
static int write_whole(const char *dir, const char *name, const char *text, size_t n, char *err, size_t errlen)
{
	char tmp[4200], path[4200];
	snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	size_t done = 0;
	int e = 0;
	while (done < n && !e) {
		ssize_t k = write(fd, text + done, n - done);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			e = k < 0 ? errno : ENOSPC;
		else
			done += (size_t)k;
	}
	if (close(fd) != 0 && !e)
		e = errno;
	if (!e && rename(tmp, path) != 0)
		e = errno;
	if (e) {
		unlink(tmp);
		snprintf(err, errlen, "%s: %s", path, strerror(e));
		return -1;
	}
	return 0;
}

int results_finish(struct results *r, FILE *out, char *err, size_t errlen)
{
	int rc = 0;
	json_t *root = json_object(), *vars = json_array();
	if (root && vars) {
		put(root, "scenario", json_string(r->sc->name));
		for (size_t i = 0; i < r->nvs; i++)
			if (r->vs[i].v && json_array_append_new(vars, variant_json(r, &r->vs[i])) != 0)
				put(root, "_incomplete", json_true());
		put(root, "variants", json_incref(vars));
	}
	/* insertion order: jansson keeps it always since 2.5 (its changelog); the flag says it here too */
	char *text = root && vars && !json_object_get(root, "_incomplete")
	                     ? json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(4))
	                     : NULL;
	json_decref(vars);
	json_decref(root);
	if (!text) {
		snprintf(err, errlen, "%s/summary.json: out of memory", r->dir);
		rc = -1;
	} else {
		size_t n = strlen(text);
		text[n] = '\n'; /* json_dumps ends without a line break; its NUL is ours to replace */
		rc = write_whole(r->dir, "summary.json", text, n + 1, err, errlen);
		free(text);
	}
	/* rows that could not be written are the first thing to say: the run's record is incomplete */
	if (r->pk.err) {
		snprintf(err, errlen, "%s/%s: %s: the packets of %llu wake%s not written", r->dir, TRACE_FILE,
		         strerror(r->pk.err), (unsigned long long)r->pk.unwritten, r->pk.unwritten == 1 ? "" : "s");
		rc = -1;
	}
	if (r->csv.err) {
		snprintf(err, errlen, "%s/wakes.csv: %s: %llu row%s not written", r->dir, strerror(r->csv.err),
		         (unsigned long long)r->csv.unwritten, r->csv.unwritten == 1 ? "" : "s");
		rc = -1;
	}
	if (out)
		print_table(r, out);
	return rc;
}
