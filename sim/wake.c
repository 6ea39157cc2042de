/* wake.c: the wake lifecycle (see wake.h): due, deferred, started, done
 * (both the adapter said so and the modem accounted its connection), row.
 *
 * Library threads report a finished wake through a queue and an eventfd
 * the engine loop watches; everything else runs on the engine thread. A
 * finished wake's row waits up to ROW_GRACE for the backend to see its
 * messages, so the row carries end-to-end latency.
 */
#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "adapter.h"
#include "clock.h"
#include "device.h"
#include "linkemu.h"
#include "replay.h"
#include "loop.h"
#include "results.h"
#include "sched.h"
#include "tls.h"
#include "trace.h"
#include "wake.h"

#define ROW_GRACE_NS (1000ull * 1000 * 1000)     /* a row waits this long for its messages at the backend */
#define ABORT_GRACE_NS (5000ull * 1000 * 1000)   /* after an abort, the library has this long to report */
#define MAX_LIB_THREADS 16

TAILQ_HEAD(wake_list, wake);

struct wakes {
	struct loop *loop;
	struct results *res;
	struct wakes_variant vc;
	uint32_t msg_next;               /* the next wake's first message */

	struct wake_list active;         /* started, not finished */
	struct wake_list deferred;       /* due, waiting for its device or a slot */
	struct wake_list rows;           /* finished, row not written yet */
	struct wake_list zombies;        /* the library never reported back: kept, never freed */
	struct wake_list setups_done;    /* finished session set-ups, freed once the loop has returned */
	uint32_t in_flight;
	struct wake *alone;              /* the one wake in flight, while it has been alone */
	uint64_t started, finished, failed;
	uint64_t not_started;            /* overrun: stop: due in the window, never started (wakes_stop_window) */
	uint32_t setups_ok, setups_failed; /* set-up connections before the window (not wakes) */
	char setup_why[240];             /* the first set-up failure */

	int evfd;                        /* library threads: "the done queue has wakes" */
	struct loop_src ev_src;
	pthread_mutex_t q_lock;
	SLIST_HEAD(, wake) done_q;

	struct linkemu_burst *bursts;    /* behind a link: a wake's air intervals, read back */
	struct trace_packet *trace;      /* the same as packets.csv rows */
	struct radio_burst *air;         /* ... as the energy model takes them */

	/* stack: replay: each fleet's recording (the first wake that ran well) */
	struct {
		struct replay_rec *rec;
		int recording;               /* its recording wake is running */
		int ready;                   /* the template is built: later wakes replay it */
		uint32_t failures;           /* recordings that could not be replayed */
		char why[200];               /* the last one's reason */
		uint32_t device, seq;        /* the recorded wake */
	} rp[FLEETS_MAX];
	uint64_t replayed;               /* wakes replayed this variant */

	pthread_mutex_t th_lock;         /* library threads seen in callbacks */
	pthread_t th[MAX_LIB_THREADS];
	clockid_t th_clk[MAX_LIB_THREADS];
	int nth;
};

/* ---------- wake_* (any thread) ---------- */

void wake_message(struct wake *w, uint32_t k, unsigned char *buf, uint32_t len)
{
	struct msg_rec *m = &w->msgs->r[w->msg_base + k];
	struct msg_header h = { .magic = MSG_MAGIC, .index = w->msg_base + k, .device = w->device, .seq = w->seq };
	for (uint32_t i = sizeof(h); i < len; i++)
		buf[i] = (unsigned char)(i * 7u + w->device);
	m->device = w->device;
	m->seq = w->seq;
	h.send_ns = clock_mono_ns();
	memcpy(buf, &h, sizeof(h));
	__atomic_store_n(&m->send_ns, h.send_ns, __ATOMIC_RELEASE);
}

int wake_command(struct wake *w, const void *p, size_t len)
{
	uint64_t waited;
	if (ledger_command(w->cmds, w->device, p, len, clock_mono_ns(), &waited) != 0)
		return -1;
	__atomic_fetch_add(&w->commands, 1, __ATOMIC_RELAXED);
	if (waited > w->cmd_delay_ns)
		w->cmd_delay_ns = waited; /* one adapter thread per wake writes it */
	return 0;
}

int wake_persist_command(struct persist *pc, const void *p, size_t len)
{
	uint64_t waited;
	if (ledger_command(pc->set->vc.cmds, pc->device, p, len, clock_mono_ns(), &waited) != 0)
		return -1;
	atomic_fetch_add(&pc->sleep_cmds, 1);
	uint64_t cur = atomic_load(&pc->sleep_cmd_delay_ns);
	while (waited > cur && !atomic_compare_exchange_weak(&pc->sleep_cmd_delay_ns, &cur, waited))
		;
	return 0;
}

void wake_session(struct wake *w)
{
	device_session(w->dev, clock_mono_ns());
}

int wake_has_session(const struct wake *w)
{
	return device_session_ns(w->dev) != 0;
}

void wake_message_sent(struct wake *w, uint32_t k)
{
	__atomic_store_n(&w->msgs->r[w->msg_base + k].sent, 1, __ATOMIC_RELEASE);
	__atomic_fetch_add(&w->sent, 1, __ATOMIC_RELAXED);
}

void wake_message_acked(struct wake *w, uint32_t k)
{
	__atomic_store_n(&w->msgs->r[w->msg_base + k].acked, 1, __ATOMIC_RELEASE);
	__atomic_fetch_add(&w->acked, 1, __ATOMIC_RELAXED);
	__atomic_store_n(&w->acked_ns, clock_mono_ns(), __ATOMIC_RELAXED);
}

void wake_adapter_done(struct wake *w, enum dormant_err err, const char *detail)
{
	struct wakes *ws = w->set;
	w->lib_done_ns = clock_mono_ns();
	pthread_mutex_lock(&ws->q_lock);
	if (err != ERR_OK && w->err == ERR_OK) {
		w->err = err;
		snprintf(w->detail, sizeof(w->detail), "%s", detail ? detail : "");
	}
	SLIST_INSERT_HEAD(&ws->done_q, w, done_link);
	pthread_mutex_unlock(&ws->q_lock);
	uint64_t one = 1;
	(void)!write(ws->evfd, &one, sizeof(one));
}

void wake_persist_lost(struct persist *pc, const char *why)
{
	int expected = 0;
	if (!pc || !atomic_compare_exchange_strong(&pc->lost, &expected, 1))
		return;
	snprintf(pc->lost_why, sizeof(pc->lost_why), "%.119s", why ? why : "connection lost");
	__atomic_thread_fence(__ATOMIC_RELEASE);
}

const struct modem_counts *wake_counts(const struct wake *w)
{
	if (w->pc || w->pcounts)
		return w->pcounts;
	return w->mc ? modem_conn_counts(w->mc) : NULL;
}

void wake_note_thread(struct wake *w)
{
	struct wakes *ws = w->set;
	pthread_t self = pthread_self();
	pthread_mutex_lock(&ws->th_lock);
	int known = 0;
	for (int i = 0; i < ws->nth; i++)
		if (pthread_equal(ws->th[i], self))
			known = 1;
	if (!known && ws->nth < MAX_LIB_THREADS && pthread_getcpuclockid(self, &ws->th_clk[ws->nth]) == 0)
		ws->th[ws->nth++] = self;
	pthread_mutex_unlock(&ws->th_lock);
}

/* ---------- CPU of the library's threads ---------- */

uint64_t wakes_lib_cpu_ns(struct wakes *ws)
{
	uint64_t sum = 0;
	pthread_mutex_lock(&ws->th_lock);
	for (int i = 0; i < ws->nth; i++) {
		struct timespec ts;
		if (clock_gettime(ws->th_clk[i], &ts) == 0)
			sum += (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	}
	pthread_mutex_unlock(&ws->th_lock);
	return sum;
}

static void forget_threads(struct wakes *ws)
{
	pthread_mutex_lock(&ws->th_lock);
	ws->nth = 0; /* the library's threads start and end with the variant */
	pthread_mutex_unlock(&ws->th_lock);
}

/* ---------- finishing ---------- */

static void queue_row(struct wakes *ws, struct wake *w)
{
	w->done_at_ns = clock_mono_ns();
	TAILQ_INSERT_TAIL(&ws->rows, w, link);
}

/* W leaves the active list: its device sleeps, its slot is free. */
static void retire(struct wakes *ws, struct wake *w)
{
	if (w->pc && w->pc->w == w)
		w->pc->w = NULL;
	TAILQ_REMOVE(&ws->active, w, link);
	ws->in_flight--;
	device_sleep(w->dev);
	ws->finished++;
	if (w->err != ERR_OK)
		ws->failed++;
	if (ws->alone == w)
		ws->alone = NULL;
}

/* A set-up connection is done: counted apart, no row. */
static void count_setup(struct wakes *ws, const struct wake *w)
{
	/* The set-up leaves the device's session at the broker, not its TLS session in the profile. */
	tls_profile_forget_session(ws->vc.tlsp, w->device);
	if (w->err == ERR_OK) {
		ws->setups_ok++;
		return;
	}
	if (!ws->setups_failed++)
		snprintf(ws->setup_why, sizeof(ws->setup_why), "device %u: %s: %s", w->device, dormant_strerror(w->err),
		         w->detail);
}

static void end_setup(struct wakes *ws, struct wake *w)
{
	TAILQ_REMOVE(&ws->active, w, link);
	ws->in_flight--;
	count_setup(ws, w);
	/* Not freed here: this runs inside the modem's done callback, and later
	 * events of the same epoll batch may still name its connection. */
	TAILQ_INSERT_TAIL(&ws->setups_done, w, link);
}

static void free_setups(struct wakes *ws)
{
	struct wake *w;
	while ((w = TAILQ_FIRST(&ws->setups_done))) {
		TAILQ_REMOVE(&ws->setups_done, w, link);
		modem_conn_free(w->mc);
		free(w);
	}
}

#define REPLAY_TRIES 3 /* recordings of a fleet that may fail before its wakes fail with the reason */

static size_t fleet_index(const struct wakes *ws, const struct wake *w)
{
	return (size_t)(w->fleet - ws->vc.sc->fleets);
}

/* stack: replay: W, its fleet's recording wake, has ended: its template, or another try. */
static void replay_recorded(struct wakes *ws, struct wake *w)
{
	size_t fi = fleet_index(ws, w);
	ws->rp[fi].recording = 0;
	char why[sizeof(ws->rp[fi].why)] = "";
	if (w->err == ERR_OK &&
	    replay_rec_finish(ws->rp[fi].rec, w->nmsg, w->fleet->payload_bytes, why, sizeof(why)) == 0) {
		ws->rp[fi].ready = 1;
		ws->rp[fi].device = w->device;
		ws->rp[fi].seq = w->seq;
		return;
	}
	if (w->err != ERR_OK)
		snprintf(why, sizeof(why), "the recorded wake failed: %s: %.150s", dormant_strerror(w->err), w->detail);
	snprintf(ws->rp[fi].why, sizeof(ws->rp[fi].why), "%s", why);
	ws->rp[fi].failures++;
	replay_rec_free(ws->rp[fi].rec);
	ws->rp[fi].rec = NULL;
}

/* stack: replay: whether W must wait, as its fleet is being recorded. */
static int replay_hold(const struct wakes *ws, const struct wake *w)
{
	return ws->vc.v->stack == STACK_REPLAY && ws->rp[fleet_index(ws, w)].recording;
}

static void finish_wake(struct wakes *ws, struct wake *w)
{
	if (!w->adapter_done || !w->modem_done || w->reaped)
		return;
	w->end_ns = w->accounted_ns = clock_mono_ns();
	/* A modem-side failure (refused, reset) is what broke the wake, if the adapter saw only its effect. */
	const struct modem_counts *c = wake_counts(w);
	/* Behind a link the modem waits a settle time after the wire is quiet
	 * before its figures are final: the wake ended with the wire (or the
	 * library's last callback, if later). A kept connection's wire never
	 * closes: its wake ends as before. */
	if (c && c->link_on && c->wire_done_ns && c->wire_done_ns < w->end_ns)
		w->end_ns = c->wire_done_ns > w->lib_done_ns ? c->wire_done_ns : w->lib_done_ns;
	if (c && c->err != ERR_OK && (w->err == ERR_OK || w->err == ERR_CLOSED || w->err == ERR_CONNECT) &&
	    !w->timed_out && w->err != ERR_INTERRUPTED) {
		w->err = c->err;
		snprintf(w->detail, sizeof(w->detail), "%s", c->detail);
	}
	if (w->err == ERR_OK && w->acked < w->nmsg) {
		w->err = ERR_PROTOCOL;
		snprintf(w->detail, sizeof(w->detail), "%u of %u messages acknowledged", w->acked, w->nmsg);
	}
	uint64_t cpu0 = clock_thread_cpu_ns();
	w->ops->reap(w);
	w->cpu_main_ns += clock_thread_cpu_ns() - cpu0;
	w->reaped = 1;
	if (w->recording)
		replay_recorded(ws, w);
	if (w->setup) {
		end_setup(ws, w);
		return;
	}
	/* Wakes that saw a library thread for the first time carry its start-up: not a wake's cost. */
	if (w->alone && ws->alone == w && ws->nth == w->nth_at_start)
		w->cpu_ns = wakes_lib_cpu_ns(ws) - w->cpu_start_ns + w->cpu_main_ns;
	else
		w->alone = 0;
	retire(ws, w);
	queue_row(ws, w);
}

/* ---------- connection: persistent ---------- */

static void counts_add(struct modem_counts *a, const struct modem_counts *b);
static int persist_restart(struct wakes *ws, struct wake *w);

/* W is done with the device's kept connection: its share of it is
 * everything since the sleep before it ended, up to now (the last
 * acknowledgement, or QoS 0's write). What comes later (the device's ACK
 * of the last PUBACK, keep-alives) is the next sleep's. */
static void persist_cut_wake(struct wakes *ws, struct wake *w)
{
	struct persist *pc = w->pc;
	struct modem_counts now;
	memset(&now, 0, sizeof(now));
	if (pc->mc)
		modem_conn_cut(pc->mc, &now);
	if (!w->pcounts)
		w->pcounts = calloc(1, sizeof(*w->pcounts));
	if (w->pcounts)
		counts_add(w->pcounts, &now);
	pc->since_ns = clock_mono_ns();
	pc->wake_start_ns = w->start_ns;
	w->modem_done = 1;
	w->mc = NULL; /* the connection is the device's, not the wake's */
	if (!modem_conn_alive(pc->mc) && !atomic_load(&pc->lost))
		wake_persist_lost(pc, w->err != ERR_OK && w->detail[0] ? w->detail : "connection closed during the wake");
}

static void on_persist_done(struct modem_conn *mc, void *arg)
{
	struct persist *pc = arg;
	const struct modem_counts *c = modem_conn_counts(mc);
	char why[160];
	snprintf(why, sizeof(why), "the modem connection ended%s%.90s", c->err != ERR_OK ? ": " : " (server closed)",
	         c->err != ERR_OK ? c->detail : "");
	wake_persist_lost(pc, why);
}

static void on_persist_accept(struct modem_conn *mc, void *arg)
{
	struct persist *pc = arg;
	if (pc->w && pc->set->vc.ops->accepted)
		pc->set->vc.ops->accepted(pc->w);
}

/* Releases the device's kept connection: the adapter's handle, then the modem connection. */
static void persist_drop(struct wakes *ws, struct persist *pc)
{
	if (ws->vc.ops->drop)
		ws->vc.ops->drop(pc);
	if (pc->mc)
		modem_conn_abort(pc->mc, ERR_CLOSED, "persistent connection closed");
	modem_conn_free(pc->mc);
	ws->vc.devices->d[pc->device].conn = NULL;
	free(pc);
}

/* The emulator lists a downlink packet when it is queued, one delay before
 * it reaches the device, so its list is not in air order: the energy model
 * and the trace both want it by start (insertion sort, stable: the list is
 * nearly in order). */
static void sort_bursts(struct linkemu_burst *v, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		struct linkemu_burst b = v[i];
		size_t j = i;
		while (j > 0 && v[j - 1].start_ns > b.start_ns) {
			v[j] = v[j - 1];
			j--;
		}
		v[j] = b;
	}
}

/* The sleep before W, behind a link: what the device's packets between
 * the last wake's end and W's start (keep-alives, the ACK of the last
 * PUBACK, retransmissions into a dead NAT mapping) add to the radio, as the
 * energy model (sim/core/energy.h) has it: the last wake and the sleep
 * together, less the last wake alone. A packet within the wake's tail only
 * stretches the tail; one after a release pays an attach and a tail of its
 * own. WAKE_START/WAKE_END: the last wake's bounds. */
static void sleep_radio(struct wakes *ws, struct wake *w, uint64_t wake_start_ns, uint64_t wake_end_ns,
                        uint64_t to_ns)
{
	struct link_profile lbuf;
	const struct link_profile *p = scenario_radio(w->sc, w->variant, w->fleet, &lbuf);
	if (!ws->vc.link || !p || !wake_start_ns)
		return;
	if (!ws->bursts && !(ws->bursts = malloc(LINKEMU_BURSTS * sizeof(*ws->bursts))))
		return;
	if (!ws->air && !(ws->air = malloc(LINKEMU_BURSTS * sizeof(*ws->air))))
		return;
	uint32_t addr = modem_device_addr(ws->vc.modem, w->device);
	size_t n = linkemu_bursts(ws->vc.link, addr, wake_start_ns, ws->bursts, LINKEMU_BURSTS), k = 0, kw = 0;
	sort_bursts(ws->bursts, n);
	for (size_t i = 0; i < n; i++) {
		const struct linkemu_burst *b = &ws->bursts[i];
		if (b->start_ns < wake_start_ns || b->start_ns >= to_ns || (b->dir == LINKEMU_DOWN && b->lost))
			continue;
		ws->air[k++] = (struct radio_burst){ .start_us = b->start_ns / 1000, .end_us = b->end_ns / 1000,
		                                      .up = b->dir == LINKEMU_UP };
		if (b->start_ns <= wake_end_ns)
			kw = k; /* in time order: the wake's come first */
	}
	uint64_t attach_us = (uint64_t)(p->attach_ms * 1000.0);
	uint64_t start_us = wake_start_ns / 1000 > attach_us ? wake_start_ns / 1000 - attach_us : 0;
	struct energy_result all, alone;
	energy_wake(p, start_us, ws->air, k, &all);
	energy_wake(p, start_us, ws->air, kw, &alone);
	w->sleep_radio = 1;
	w->sleep_energy = (struct energy_result){
		.radio_on_ms = all.radio_on_ms - alone.radio_on_ms, .attach_ms = all.attach_ms - alone.attach_ms,
		.tx_ms = all.tx_ms - alone.tx_ms, .rx_ms = all.rx_ms - alone.rx_ms, .idle_ms = all.idle_ms - alone.idle_ms,
		.tail_ms = all.tail_ms - alone.tail_ms, .attaches = all.attaches - alone.attaches,
		.energy_mj = all.energy_mj - alone.energy_mj };
}

/* Why PC's connection was lost, for reconnect_why: the modem's own error
 * (in C, its last cut)
 * when it has one (a reset; TCP giving up, "Connection timed out"), which
 * is the cause; else the first word of whoever saw the loss (the library:
 * curl, for one, reports only its retry's failure on the closed endpoint). */
static const char *lost_why(const struct persist *pc, const struct modem_counts *c)
{
	static char buf[160]; /* engine thread */
	if (c && c->err != ERR_OK && c->detail[0]) {
		snprintf(buf, sizeof(buf), "the connection ended: %.120s", c->detail);
		return buf;
	}
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	return atomic_load(&pc->lost) ? pc->lost_why : "connection gone while asleep";
}

/* A new kept connection for W's device (its first wake, or after a loss). 0, or -1 with W->err set. */
static int persist_open(struct wakes *ws, struct wake *w)
{
	const struct wakes_variant *vc = &ws->vc;
	struct persist *pc = calloc(1, sizeof(*pc));
	if (!pc) {
		w->err = ERR_NOMEM;
		snprintf(w->detail, sizeof(w->detail), "out of memory for the connection");
		return -1;
	}
	pc->set = ws;
	pc->device = w->device;
	enum dormant_err err = ERR_OK;
	struct modem_open_args oa = { .target = *vc->target, .device = w->device, .tls = vc->tlsp,
	                              .frame = vc->ops->frame, .direct = vc->ops->direct ? vc->ops->direct_persist : NULL,
	                              .on_accept = on_persist_accept, .on_done = on_persist_done, .arg = pc,
	                              .user_timeout_ms = vc->ops->persist_user_timeout
	                                                     ? (uint32_t)(w->fleet->keepalive_us / 1000u) : 0 };
	pc->mc = modem_open(vc->modem, &oa, &err, w->detail, sizeof(w->detail));
	if (!pc->mc) {
		w->err = err;
		free(pc);
		return -1;
	}
	pc->modem_port = modem_conn_port(pc->mc);
	modem_conn_set_close_notify(pc->mc, vc->ops->tls_close_notify);
	pc->since_ns = clock_mono_ns();
	w->dev->conn = pc;
	w->connected = 1;
	pc->w = w;
	w->pc = pc;
	w->mc = pc->mc;
	w->modem_port = pc->modem_port;
	return 0;
}

/* W of a persistent fleet is starting: its share of the sleep before it
 * (the kept connection's figures since the last wake, or the lost one's
 * final figures) and the connection it uses, reused or opened now. 0, or
 * -1 with W->err set. */
static int persist_begin(struct wakes *ws, struct wake *w)
{
	struct device *dev = w->dev;
	struct persist *pc = dev->conn;
	uint64_t now = clock_mono_ns();
	if (pc) {
		w->sleep = calloc(1, sizeof(*w->sleep));
		if (w->sleep && pc->mc)
			modem_conn_cut(pc->mc, w->sleep);
		w->sleep_ns = now - pc->since_ns;
		sleep_radio(ws, w, pc->wake_start_ns, pc->since_ns, now);
		w->sleep_commands = atomic_exchange(&pc->sleep_cmds, 0);
		uint64_t d = atomic_exchange(&pc->sleep_cmd_delay_ns, 0);
		w->commands += w->sleep_commands;
		if (d > w->cmd_delay_ns)
			w->cmd_delay_ns = d;
		if (atomic_load(&pc->lost) || !modem_conn_alive(pc->mc) || !pc->adapter) {
			w->reconnected = 1;
			snprintf(w->reconnect_why, sizeof(w->reconnect_why), "%.119s", lost_why(pc, w->sleep));
			persist_drop(ws, pc);
			pc = NULL;
		}
	}
	if (!pc)
		return persist_open(ws, w);
	pc->w = w;
	w->pc = pc;
	w->mc = pc->mc;
	w->modem_port = pc->modem_port;
	return 0;
}

/* Adds the figures of B to A: one wake's shares of two connections (the
 * kept one that died under it, then the new one). The stamps and the
 * 4-tuple are the later connection's. */
static void counts_add(struct modem_counts *a, const struct modem_counts *b)
{
	for (int p = 0; p < PHASE_COUNT; p++) {
		struct phase_counts *x = &a->ph[p];
		const struct phase_counts *y = &b->ph[p];
		x->plain_up += y->plain_up;
		x->plain_down += y->plain_down;
		x->stream_up += y->stream_up;
		x->stream_down += y->stream_down;
		x->ip_up += y->ip_up;
		x->ip_down += y->ip_down;
		x->segs_up += y->segs_up;
		x->segs_down += y->segs_down;
		x->frames_up += y->frames_up;
		if (y->first_up_ns && (!x->first_up_ns || y->first_up_ns < x->first_up_ns))
			x->first_up_ns = y->first_up_ns;
		if (y->last_up_ns > x->last_up_ns)
			x->last_up_ns = y->last_up_ns;
		if (y->last_down_ns > x->last_down_ns)
			x->last_down_ns = y->last_down_ns;
	}
	a->plain_up += b->plain_up;
	a->plain_down += b->plain_down;
	a->stream_up += b->stream_up;
	a->stream_down += b->stream_down;
	a->ip_up += b->ip_up;
	a->ip_down += b->ip_down;
	a->segs_up += b->segs_up;
	a->segs_down += b->segs_down;
	a->frames_up += b->frames_up;
	a->frames_down += b->frames_down;
	a->link_lost_up += b->link_lost_up;
	a->link_lost_down += b->link_lost_down;
	a->retrans += b->retrans;
	a->accept_ns = b->accept_ns;
	a->connect_ns = b->connect_ns;
	a->established_ns = b->established_ns;
	a->ready_ns = b->ready_ns;
	a->local_addr = b->local_addr;
	a->local_port = b->local_port;
	a->server_port = b->server_port;
	a->link_on |= b->link_on;
	if (b->tls.used)
		a->tls = b->tls;
	if (b->err != ERR_OK) {
		a->err = b->err;
		snprintf(a->detail, sizeof(a->detail), "%s", b->detail);
	}
}

/* W's kept connection died under it (the library saw it, before every
 * message was acknowledged): the device notices at this send, reconnects
 * and sends again within the same wake, which pays for both. The part of
 * the dead connection it used stays in its figures. 0, or -1 if it could
 * not start again (W->err set). */
static int persist_restart(struct wakes *ws, struct wake *w)
{
	struct persist *pc = w->pc;
	struct modem_counts part;
	memset(&part, 0, sizeof(part));
	if (pc->mc)
		modem_conn_cut(pc->mc, &part);
	if (!w->pcounts && !(w->pcounts = calloc(1, sizeof(*w->pcounts))))
		return -1;
	/* What broke the dead connection is in reconnect_why; the wake is judged by the new one. */
	snprintf(w->reconnect_why, sizeof(w->reconnect_why), "during the wake: %.100s", lost_why(pc, &part));
	part.err = ERR_OK;
	part.detail[0] = 0;
	counts_add(w->pcounts, &part);
	persist_drop(ws, pc); /* the library gives up what it had in flight on it ... */
	w->pc = NULL;
	w->mc = NULL;
	ws->vc.ops->reap(w);  /* ... then the adapter lets go of the attempt */
	w->reconnected = 1;
	w->err = ERR_OK;
	w->detail[0] = 0;
	w->sent = 0;
	w->adapter_done = 0;
	if (persist_open(ws, w) < 0)
		return -1;
	uint64_t cpu0 = clock_thread_cpu_ns();
	enum dormant_err err = ws->vc.ops->start(w);
	w->cpu_main_ns += clock_thread_cpu_ns() - cpu0;
	if (err != ERR_OK) {
		w->err = err;
		if (!w->detail[0])
			snprintf(w->detail, sizeof(w->detail), "%s adapter did not start again", ws->vc.ops->name);
		return -1;
	}
	if (ws->vc.ops->direct)
		modem_conn_start(w->mc); /* as start_wake() does for a new connection */
	return 0;
}

void wakes_close_persistent(struct wakes *ws)
{
	struct device_table *t = ws->vc.devices;
	for (uint32_t i = 0; t && i < t->n; i++)
		if (t->d[i].conn && !t->d[i].conn->w)
			persist_drop(ws, t->d[i].conn);
}

static void on_done_queue(struct loop_src *src, uint32_t events)
{
	struct wakes *ws = container_of(src, struct wakes, ev_src);
	uint64_t n;
	(void)!read(ws->evfd, &n, sizeof(n));
	pthread_mutex_lock(&ws->q_lock);
	struct wake *list = SLIST_FIRST(&ws->done_q);
	SLIST_INIT(&ws->done_q);
	pthread_mutex_unlock(&ws->q_lock);
	while (list) {
		struct wake *w = list;
		list = SLIST_NEXT(w, done_link);
		w->adapter_done = 1;
		/* A kept connection that died under a wake it did not open: reconnect now, once. */
		if (w->pc && !w->modem_done && !w->connected && !w->timed_out && w->err != ERR_OK &&
		    w->acked < w->nmsg && atomic_load(&w->pc->lost) && persist_restart(ws, w) == 0)
			continue;
		if (w->pc && !w->modem_done)
			persist_cut_wake(ws, w);
		else if (!w->pc && w->pcounts)
			w->modem_done = 1; /* a restart that could not open its connection */
		finish_wake(ws, w);
	}
}

static void on_modem_done(struct modem_conn *mc, void *arg)
{
	struct wake *w = arg;
	w->modem_done = 1;
	finish_wake(w->set, w);
}

static void on_modem_accept(struct modem_conn *mc, void *arg)
{
	struct wake *w = arg;
	if (w->ops->accepted)
		w->ops->accepted(w);
}

/* ---------- rows ---------- */

/* Behind a link: the wake's radio timeline is its packets on the air (the
 * emulator's air intervals from the wake's start to its accounting, which comes
 * after the last reply could arrive), preceded by the profile's attach,
 * which the packet path does not delay: the device starts to send as the
 * attach ends. The energy model (sim/core/energy.h) turns it into radio
 * time and energy. A lost downlink packet never reached the receiver: it is
 * no RX time. */
static void radio_figures(struct wakes *ws, struct wake *w)
{
	struct link_profile lbuf;
	const struct link_profile *p = scenario_radio(w->sc, w->variant, w->fleet, &lbuf); /* a listening one's, too */
	const struct modem_counts *c = wake_counts(w);
	if (!ws->vc.link || !p || !c)
		return;
	if (!ws->bursts && !(ws->bursts = malloc(LINKEMU_BURSTS * sizeof(*ws->bursts))))
		return;
	if (!ws->air && !(ws->air = malloc(LINKEMU_BURSTS * sizeof(*ws->air))))
		return;
	if (!ws->trace && !(ws->trace = malloc(LINKEMU_BURSTS * sizeof(*ws->trace))))
		return;
	uint32_t addr = modem_device_addr(ws->vc.modem, w->device);
	struct linkemu_dev_info di;
	if (linkemu_dev_info(ws->vc.link, addr, &di) == 0) {
		/* the NAT's drops of the device's flows since its last row: this wake and the sleep before it */
		uint64_t nd = di.counts.up.nat_drops + di.counts.down.nat_drops;
		w->nat_drops = nd - w->dev->nat_drops_seen;
		w->dev->nat_drops_seen = nd;
	}
	size_t n = linkemu_bursts(ws->vc.link, addr, w->start_ns, ws->bursts, LINKEMU_BURSTS), k = 0, nt = 0;
	sort_bursts(ws->bursts, n);
	for (size_t i = 0; i < n; i++) {
		const struct linkemu_burst *b = &ws->bursts[i];
		if (b->start_ns > w->accounted_ns || b->start_ns < w->start_ns)
			continue;
		/* the flight trace has every packet on the air; the energy leaves out what the device never got */
		ws->trace[nt++] = (struct trace_packet){ .offset_us = (int64_t)((b->start_ns - w->start_ns) / 1000),
		                                         .air_us = (int64_t)((b->end_ns - b->start_ns) / 1000),
		                                         .up = b->dir == LINKEMU_UP, .bytes = b->bytes, .lost = b->lost,
		                                         .tcp_flags = b->tcp_flags, .data = b->data };
		if (b->dir == LINKEMU_DOWN && b->lost)
			continue;
		ws->air[k++] = (struct radio_burst){ .start_us = b->start_ns / 1000, .end_us = b->end_ns / 1000,
		                                      .up = b->dir == LINKEMU_UP };
	}
	double delay_ms = link_delay_ms(p, w->sc->seed, w->device);
	/* settle_us: how much of t_wake_us is the run's wait for late packets;
	 * none since a wake ends with its wire (runs before that carry it) */
	results_packets(ws->res, w, (int64_t)llround(delay_ms * 1000.0), 0, ws->trace, nt);
	uint64_t attach_us = (uint64_t)(p->attach_ms * 1000.0);
	uint64_t start_us = w->start_ns / 1000;
	energy_wake(p, start_us > attach_us ? start_us - attach_us : 0, ws->air, k, &w->energy);
	w->overhead_up = (uint64_t)p->link_overhead_bytes * c->segs_up;
	w->overhead_down = (uint64_t)p->link_overhead_bytes * c->segs_down;
	w->radio = 1;
}

static void write_row(struct wakes *ws, struct wake *w)
{
	radio_figures(ws, w);
	results_row(ws->res, w, wake_counts(w));
	if (!w->pc)
		modem_conn_free(w->mc);
	free(w->pcounts);
	free(w->sleep);
	free(w);
}

static int row_ready(const struct wake *w, uint64_t now)
{
	if (now - w->done_at_ns > ROW_GRACE_NS)
		return 1;
	for (uint32_t k = 0; k < w->nmsg; k++) {
		const struct msg_rec *m = &w->msgs->r[w->msg_base + k];
		if (__atomic_load_n(&m->sent, __ATOMIC_ACQUIRE) && !__atomic_load_n(&m->recv_ns, __ATOMIC_ACQUIRE))
			return 0;
	}
	return 1;
}

/* Rows go out in finishing order; one waiting for the backend holds back the rest only up to ROW_GRACE. */
void wakes_flush_rows(struct wakes *ws, int all)
{
	uint64_t now = clock_mono_ns();
	struct wake *w;
	while ((w = TAILQ_FIRST(&ws->rows)) && (all || row_ready(w, now))) {
		TAILQ_REMOVE(&ws->rows, w, link);
		write_row(ws, w);
	}
}

int wakes_rows_waiting(const struct wakes *ws)
{
	return !TAILQ_EMPTY(&ws->rows);
}

/* ---------- starting ---------- */

/* The wake of SW, its messages reserved in the table; NULL when out of memory. */
static struct wake *new_wake(struct wakes *ws, const struct sched_wake *sw)
{
	struct wake *w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	const struct wakes_variant *vc = &ws->vc;
	const struct fleet *f = &vc->sc->fleets[sw->fleet];
	w->set = ws;
	w->dev = device_get(vc->devices, sw->device);
	w->sc = vc->sc;
	w->fleet = f;
	w->variant = vc->v;
	w->variant_index = vc->vi;
	w->device = sw->device;
	w->seq = sw->seq;
	w->due_us = sw->due_us;
	w->qos = scenario_qos(vc->v, f);
	w->nmsg = f->messages_per_wake;
	w->msgs = vc->msgs;
	w->cmds = vc->cmds;
	w->msg_base = ws->msg_next;
	w->ops = vc->ops;
	ws->msg_next += w->nmsg;
	return w;
}

/* No memory for the wake itself: its row is written at once from the
 * stack, failed, so no wake of the plan vanishes without a row. */
static void row_without_memory(struct wakes *ws, const struct sched_wake *sw)
{
	const struct wakes_variant *vc = &ws->vc;
	const struct fleet *f = &vc->sc->fleets[sw->fleet];
	struct wake w = { .set = ws, .sc = vc->sc, .fleet = f, .variant = vc->v, .variant_index = vc->vi,
	                  .device = sw->device, .seq = sw->seq, .due_us = sw->due_us, .qos = scenario_qos(vc->v, f),
	                  .nmsg = f->messages_per_wake, .msgs = vc->msgs, .cmds = vc->cmds, .msg_base = ws->msg_next,
	                  .err = ERR_NOMEM };
	ws->msg_next += w.nmsg; /* its messages stay unsent in the table */
	w.start_ns = w.end_ns = clock_mono_ns();
	w.start_wall_us = clock_wall_us();
	uint64_t due_ns = vc->t0_ns + w.due_us * 1000u;
	w.sched_lag_us = w.start_ns > due_ns ? (w.start_ns - due_ns) / 1000u : 0;
	w.fire_lag_us = w.sched_lag_us;
	snprintf(w.detail, sizeof(w.detail), "out of memory for the wake");
	ws->started++;
	ws->finished++;
	ws->failed++;
	results_row(ws->res, &w, NULL);
}

/* Starts W now. A wake that cannot start is a failed row, not an exit. */
static void start_wake(struct wakes *ws, struct wake *w)
{
	const struct wakes_variant *vc = &ws->vc;
	const struct adapter_ops *ops = vc->ops;
	uint64_t now = clock_mono_ns();
	w->start_ns = now;
	w->start_wall_us = clock_wall_us();
	uint64_t due_ns = vc->t0_ns + w->due_us * 1000u;
	w->sched_lag_us = now > due_ns ? (now - due_ns) / 1000u : 0;
	w->deadline_ns = now + vc->sc->wake_timeout_us * 1000u;
	ws->started++;

	enum dormant_err err = ERR_OK;
	size_t fi = fleet_index(ws, w);
	if (vc->v->stack == STACK_REPLAY) {
		/* The fleet's template once it is recorded; else this wake records it on the library. */
		if (ws->rp[fi].ready) {
			w->ops = &replay_adapter;
			w->replay = ws->rp[fi].rec;
			ws->replayed++;
		} else if (ws->rp[fi].failures >= REPLAY_TRIES) {
			err = ERR_INTERNAL;
			snprintf(w->detail, sizeof(w->detail), "replay: no recording of fleet %.30s after %u tries: %.70s",
			         w->fleet->name, ws->rp[fi].failures, ws->rp[fi].why);
		} else if (!(ws->rp[fi].rec = replay_rec_new(vc->v->protocol, w->device, vc->secret, vc->secret_len))) {
			err = ERR_NOMEM;
			snprintf(w->detail, sizeof(w->detail), "replay: out of memory for a recording");
		} else {
			w->recording = 1;
			ws->rp[fi].recording = 1;
		}
	}
	if (err != ERR_OK) {
		/* below: a failed row */
	} else if (scenario_connection(vc->v, w->fleet) == CONN_PERSISTENT) {
		if (persist_begin(ws, w) < 0)
			err = w->err;
	} else {
		struct modem_open_args oa = { .target = *vc->target, .device = w->device, .tls = vc->tlsp,
		                              .frame = ops->frame, .direct = w->ops->direct, .on_accept = on_modem_accept,
		                              .on_done = on_modem_done, .arg = w, .reuse_endpoint = 1,
		                              .tap = w->recording ? replay_tap : NULL,
		                              .tap_arg = w->recording ? ws->rp[fi].rec : NULL };
		w->mc = modem_open(vc->modem, &oa, &err, w->detail, sizeof(w->detail));
		if (w->mc) {
			w->modem_port = modem_conn_port(w->mc);
			modem_conn_set_close_notify(w->mc, ops->tls_close_notify);
		}
	}
	if (w->mc) {
		if (ws->in_flight == 0) {
			w->alone = 1;
			w->cpu_start_ns = wakes_lib_cpu_ns(ws);
			w->nth_at_start = ws->nth;
			ws->alone = w;
		} else if (ws->alone) {
			ws->alone->alone = 0;
			ws->alone = NULL;
		}
		uint64_t cpu0 = clock_thread_cpu_ns();
		err = w->ops->start(w);
		w->cpu_main_ns += clock_thread_cpu_ns() - cpu0;
		if (err == ERR_OK && (!w->pc || w->connected))
			modem_conn_start(w->mc); /* direct libraries: the device asks for its connection now */
	}
	if (err != ERR_OK) {
		w->err = err;
		if (!w->detail[0])
			snprintf(w->detail, sizeof(w->detail), "%s adapter did not start", w->ops->name);
		if (w->mc)
			modem_conn_abort(w->mc, err, w->detail);
		if (w->recording)
			replay_recorded(ws, w);
		if (w->pc) {
			wake_persist_lost(w->pc, w->detail);
			persist_cut_wake(ws, w);
			w->pc->w = NULL;
		}
		if (ws->alone == w)
			ws->alone = NULL;
		w->alone = 0;
		w->end_ns = clock_mono_ns();
		ws->finished++;
		ws->failed++;
		queue_row(ws, w);
		return;
	}
	ws->in_flight++;
	device_wake(w->dev, w);
	TAILQ_INSERT_TAIL(&ws->active, w, link);
}

void wakes_due(struct wakes *ws, const struct sched_wake *sw)
{
	struct wake *w = new_wake(ws, sw);
	if (!w) {
		row_without_memory(ws, sw);
		return;
	}
	/* how late the loop saw it due: the engine's own lag, apart from the waits below */
	uint64_t now = clock_mono_ns(), due_ns = ws->vc.t0_ns + w->due_us * 1000u;
	w->fire_lag_us = now > due_ns ? (now - due_ns) / 1000u : 0;
	if (w->dev->awake || ws->in_flight >= ws->vc.sc->concurrency || replay_hold(ws, w)) {
		w->start_wait = w->dev->awake ? WAIT_DEVICE : ws->in_flight >= ws->vc.sc->concurrency ? WAIT_SLOT : WAIT_RECORD;
		TAILQ_INSERT_TAIL(&ws->deferred, w, link);
	} else {
		start_wake(ws, w);
	}
}

uint64_t wakes_stop_window(struct wakes *ws)
{
	uint64_t n = 0;
	struct wake *w;
	while ((w = TAILQ_FIRST(&ws->deferred))) {
		TAILQ_REMOVE(&ws->deferred, w, link);
		free(w); /* its messages stay unsent in the table: neither lost nor sent */
		n++;
	}
	ws->not_started += n;
	return n;
}

void wakes_start_deferred(struct wakes *ws)
{
	struct wake *w, *next;
	for (w = TAILQ_FIRST(&ws->deferred); w && ws->in_flight < ws->vc.sc->concurrency; w = next) {
		next = TAILQ_NEXT(w, link);
		if (w->dev->awake || replay_hold(ws, w))
			continue;
		TAILQ_REMOVE(&ws->deferred, w, link);
		start_wake(ws, w);
	}
}

/* ---------- deadlines ---------- */

static void abort_wake(struct wakes *ws, struct wake *w, enum dormant_err why, const char *detail)
{
	if (w->timed_out)
		return;
	w->timed_out = 1;
	pthread_mutex_lock(&ws->q_lock);
	if (w->err == ERR_OK || why == ERR_INTERRUPTED) {
		w->err = why;
		snprintf(w->detail, sizeof(w->detail), "%s", detail);
	}
	pthread_mutex_unlock(&ws->q_lock);
	w->deadline_ns = clock_mono_ns() + ABORT_GRACE_NS;
	if (!w->modem_done) {
		modem_conn_abort(w->mc, why, detail);
		w->modem_done = 1;
		if (w->pc) {
			/* the kept connection goes with the wake: the next one reconnects */
			wake_persist_lost(w->pc, detail);
			persist_cut_wake(ws, w);
		}
	}
	w->ops->abort(w);
	finish_wake(ws, w);
}

/* The library never reported back on W: its row is written from a copy,
 * W itself is kept (a late callback must not find freed memory). */
static void bury(struct wakes *ws, struct wake *w)
{
	if (!w->err)
		w->err = ERR_TIMEOUT;
	if (w->setup) {
		TAILQ_REMOVE(&ws->active, w, link);
		ws->in_flight--;
		count_setup(ws, w);
		w->reaped = 1;
		w->adapter_done = w->modem_done = 1;
		TAILQ_INSERT_TAIL(&ws->zombies, w, link);
		return;
	}
	struct wake *z = calloc(1, sizeof(*z));
	retire(ws, w);
	if (w->recording) {
		/* the fleet's wakes wait for this recording: it failed, the next wake records */
		w->recording = 0;
		replay_recorded(ws, w);
	}
	if (z) {
		*z = *w;
		z->adapter = NULL;
		w->mc = NULL; /* the copy writes the row and frees the modem connection */
		w->pcounts = w->sleep = NULL; /* ... and its persistent shares */
		snprintf(z->detail + strlen(z->detail), sizeof(z->detail) - strlen(z->detail),
		         "; library never reported back");
		z->end_ns = clock_mono_ns();
		z->alone = 0;
		queue_row(ws, z);
	}
	/* A late callback must find the wake finished (not finish it twice)
	 * and no modem (modem_set_phase ignores NULL). */
	w->reaped = 1;
	w->adapter_done = w->modem_done = 1;
	TAILQ_INSERT_TAIL(&ws->zombies, w, link);
}

void wakes_check_deadlines(struct wakes *ws)
{
	uint64_t now = clock_mono_ns();
	struct wake *w, *next;
	for (w = TAILQ_FIRST(&ws->active); w; w = next) {
		next = TAILQ_NEXT(w, link);
		if (now < w->deadline_ns)
			continue;
		if (!w->timed_out) {
			char d[80];
			snprintf(d, sizeof(d), "wake did not finish within %llu ms",
			         (unsigned long long)(ws->vc.sc->wake_timeout_us / 1000u));
			abort_wake(ws, w, ERR_TIMEOUT, d);
		} else {
			bury(ws, w);
		}
	}
}

int wakes_idle(const struct wakes *ws)
{
	return TAILQ_EMPTY(&ws->deferred) && TAILQ_EMPTY(&ws->active);
}

void wakes_interrupt(struct wakes *ws)
{
	struct wake *w, *next;
	for (w = TAILQ_FIRST(&ws->active); w; w = next) {
		next = TAILQ_NEXT(w, link);
		abort_wake(ws, w, ERR_INTERRUPTED, "run interrupted");
	}
	/* Past ABORT_GRACE, wakes_check_deadlines turns what is left into rows. */
	uint64_t until = clock_mono_ns() + ABORT_GRACE_NS + 1000000000ull;
	while (!TAILQ_EMPTY(&ws->active) && clock_mono_ns() < until) {
		loop_run_once(ws->loop, 20);
		wakes_check_deadlines(ws);
	}
	/* Wakes that never started have no row: the summary counts them as not run. */
	while ((w = TAILQ_FIRST(&ws->deferred))) {
		TAILQ_REMOVE(&ws->deferred, w, link);
		free(w);
	}
}

void wakes_drain(struct wakes *ws, uint64_t drain_ns)
{
	uint64_t until = clock_mono_ns() + drain_ns;
	while (!TAILQ_EMPTY(&ws->rows) && clock_mono_ns() < until) {
		wakes_flush_rows(ws, 0);
		if (!TAILQ_EMPTY(&ws->rows))
			loop_run_once(ws->loop, 10);
	}
	wakes_flush_rows(ws, 1);
}

/* ---------- sessions before the window ---------- */

/* A set-up connection for DEVICE of fleet FI: a wake's modem connection and
 * adapter state, but no messages, no schedule slot, no row. */
static void start_setup(struct wakes *ws, size_t fi, uint32_t device)
{
	const struct wakes_variant *vc = &ws->vc;
	const struct adapter_ops *ops = vc->ops;
	const struct fleet *f = &vc->sc->fleets[fi];
	struct wake *w = calloc(1, sizeof(*w));
	if (!w) {
		struct wake none = { .device = device, .err = ERR_NOMEM };
		snprintf(none.detail, sizeof(none.detail), "out of memory for the set-up");
		count_setup(ws, &none);
		return;
	}
	*w = (struct wake){ .set = ws, .dev = device_get(vc->devices, device), .sc = vc->sc, .fleet = f,
	                    .variant = vc->v, .variant_index = vc->vi, .device = device, .qos = scenario_qos(vc->v, f),
	                    .msgs = vc->msgs, .cmds = vc->cmds, .setup = 1, .ops = ops };
	w->start_ns = clock_mono_ns();
	w->start_wall_us = clock_wall_us();
	w->deadline_ns = w->start_ns + vc->sc->wake_timeout_us * 1000u;
	enum dormant_err err = ERR_OK;
	struct modem_open_args oa = { .target = *vc->target, .device = device, .tls = vc->tlsp, .frame = ops->frame,
	                              .direct = ops->direct, .on_accept = on_modem_accept, .on_done = on_modem_done,
	                              .arg = w };
	w->mc = modem_open(vc->modem, &oa, &err, w->detail, sizeof(w->detail));
	if (w->mc) {
		w->modem_port = modem_conn_port(w->mc);
		modem_conn_set_close_notify(w->mc, ops->tls_close_notify);
		err = ops->prepare(w);
		if (err == ERR_OK)
			modem_conn_start(w->mc);
	}
	if (err != ERR_OK) {
		w->err = err;
		if (!w->detail[0])
			snprintf(w->detail, sizeof(w->detail), "%s adapter did not start the set-up", ops->name);
		if (w->mc)
			modem_conn_abort(w->mc, err, w->detail);
		count_setup(ws, w);
		modem_conn_free(w->mc);
		free(w);
		return;
	}
	ws->in_flight++;
	TAILQ_INSERT_TAIL(&ws->active, w, link);
}

static void run_setups(struct wakes *ws, uint32_t below)
{
	while (ws->in_flight > below) {
		if (loop_signals(ws->loop)) {
			struct wake *w, *next;
			for (w = TAILQ_FIRST(&ws->active); w; w = next) {
				next = TAILQ_NEXT(w, link);
				abort_wake(ws, w, ERR_INTERRUPTED, "run interrupted");
			}
		}
		loop_run_once(ws->loop, 20);
		free_setups(ws);
		wakes_check_deadlines(ws);
	}
	free_setups(ws);
}

uint32_t wakes_prepare_sessions(struct wakes *ws, uint32_t *failed, char *why, size_t whylen)
{
	const struct wakes_variant *vc = &ws->vc;
	ws->setups_ok = ws->setups_failed = 0;
	ws->setup_why[0] = 0;
	uint64_t now = clock_mono_ns();
	for (size_t fi = 0; fi < vc->sc->nfleets; fi++) {
		const struct fleet *f = &vc->sc->fleets[fi];
		if (!f->downlink)
			continue;
		/* A kept connection subscribes when it connects (clean session): the
		 * broker holds its commands from that SUBACK on, as wake_session says. */
		if (scenario_connection(vc->v, f) == CONN_PERSISTENT)
			continue;
		for (uint32_t j = 0; j < f->count; j++) {
			uint32_t device = f->first_device + j;
			if (!vc->ops->prepare) {
				/* The server queues this device's commands from before the window without one. */
				device_session(device_get(vc->devices, device), now);
				continue;
			}
			if (f->session != SESSION_BEFORE_WINDOW)
				continue;
			if (loop_signals(ws->loop))
				break;
			run_setups(ws, vc->sc->concurrency - 1);
			start_setup(ws, fi, device);
		}
	}
	run_setups(ws, 0);
	*failed = ws->setups_failed;
	snprintf(why, whylen, "%s", ws->setup_why);
	return ws->setups_ok;
}

/* ---------- the set ---------- */

struct wakes *wakes_create(struct loop *l, struct results *res, char *err, size_t errlen)
{
	struct wakes *ws = calloc(1, sizeof(*ws));
	if (!ws) {
		snprintf(err, errlen, "out of memory for the wakes");
		return NULL;
	}
	ws->loop = l;
	ws->res = res;
	TAILQ_INIT(&ws->active);
	TAILQ_INIT(&ws->deferred);
	TAILQ_INIT(&ws->rows);
	TAILQ_INIT(&ws->zombies);
	TAILQ_INIT(&ws->setups_done);
	SLIST_INIT(&ws->done_q);
	pthread_mutex_init(&ws->q_lock, NULL);
	pthread_mutex_init(&ws->th_lock, NULL);
	ws->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	ws->ev_src.fn = on_done_queue;
	if (ws->evfd < 0 || loop_add(loop_epfd(l), &ws->ev_src, ws->evfd, EPOLLIN) < 0) {
		snprintf(err, errlen, "wakes: eventfd: %s", strerror(errno));
		if (ws->evfd >= 0)
			close(ws->evfd);
		pthread_mutex_destroy(&ws->q_lock);
		pthread_mutex_destroy(&ws->th_lock);
		free(ws);
		return NULL;
	}
	return ws;
}

static void replay_forget(struct wakes *ws);

void wakes_destroy(struct wakes *ws)
{
	if (!ws)
		return;
	/* Zombies stay allocated on purpose: a library thread may still hold
	 * them. The process ends right after, so nothing is reclaimed late. */
	free_setups(ws);
	replay_forget(ws);
	loop_del(loop_epfd(ws->loop), &ws->ev_src);
	close(ws->evfd);
	free(ws->bursts);
	free(ws->air);
	free(ws->trace);
	free(ws);
}

static void replay_forget(struct wakes *ws)
{
	for (size_t i = 0; i < FLEETS_MAX; i++)
		replay_rec_free(ws->rp[i].rec);
	memset(ws->rp, 0, sizeof(ws->rp));
	ws->replayed = 0;
}

void wakes_begin(struct wakes *ws, const struct wakes_variant *vc)
{
	replay_forget(ws);
	ws->vc = *vc;
	ws->msg_next = 0;
	ws->started = ws->finished = ws->failed = ws->not_started = 0;
	ws->in_flight = 0;
	ws->alone = NULL;
	forget_threads(ws);
}

void wakes_end(struct wakes *ws)
{
	forget_threads(ws);
}

struct wakes_replay wakes_replay(const struct wakes *ws, size_t fleet)
{
	struct wakes_replay r = { .ready = ws->rp[fleet].ready, .failures = ws->rp[fleet].failures,
	                          .device = ws->rp[fleet].device, .seq = ws->rp[fleet].seq };
	snprintf(r.why, sizeof(r.why), "%s", ws->rp[fleet].why);
	if (ws->rp[fleet].rec)
		replay_rec_size(ws->rp[fleet].rec, &r.chunks, &r.packets_up, &r.packets_down);
	return r;
}

uint64_t wakes_replayed(const struct wakes *ws)
{
	return ws->replayed;
}

struct wakes_counts wakes_counts(const struct wakes *ws)
{
	return (struct wakes_counts){ .started = ws->started, .finished = ws->finished, .failed = ws->failed,
	                              .in_flight = ws->in_flight, .not_started = ws->not_started };
}
