/* engine.c: the scheduler loop, wake lifecycle, server side per variant.
 *
 * One thread (this one) runs an epoll loop over the modem's sockets, the
 * adapters' sockets, an eventfd through which library threads report
 * finished wakes, and a signalfd for SIGINT/SIGTERM. A wake is finished when
 * both the adapter said so and the modem has accounted its connection; its
 * row waits up to ROW_GRACE for the backend to see its messages, so the row
 * carries end-to-end latency.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "adapter.h"
#include "backend.h"
#include "clock.h"
#include "engine.h"
#include "loop.h"
#include "modem.h"
#include "broker.h"
#include "ingest_token.h"
#include "mosq.h"
#include "pki.h"
#include "tls.h"
#include "results.h"
#include "sched.h"
#include "server.h"

#define ROW_GRACE_NS (1000ull * 1000 * 1000)     /* a row waits this long for its messages at the backend */
#define DRAIN_NS (2000ull * 1000 * 1000)         /* end of variant: wait this long for the backend */
#define ABORT_GRACE_NS (5000ull * 1000 * 1000)   /* after an abort, the library has this long to report */
#define MAX_LIB_THREADS 16

struct engine {
	const struct scenario *sc;
	const struct engine_opts *o;
	int epfd, evfd, sigfd;
	struct loop_src ev_src, sig_src;
	struct modem *modem;
	const struct adapter_ops *ops;
	struct results *res;
	char rundir[4096];
	struct pki pki;                /* made at the first TLS variant */
	unsigned char secret[INGEST_SECRET_LEN]; /* the HTTP ingest's: devices' tokens derive from it */
	int have_secret;
	struct tls_profile *tlsp;      /* the variant's, NULL for plaintext */

	/* the variant being run */
	uint32_t vi;
	const struct variant *v;
	struct modem_target target;
	struct msg_table msgs;
	uint32_t msg_next;
	struct cmd_table cmds;         /* commands the backend sends, in due order */
	uint32_t cmd_next;             /* the next one to send */
	uint8_t *busy;                 /* per device: a wake is in flight */
	struct wake *active;           /* started, not finished */
	struct wake *deferred, **deferred_tail; /* due, waiting for its device or a slot */
	struct wake *rows, **rows_tail;         /* finished, row not written yet */
	struct wake *zombies;          /* the library never reported back: kept, never freed */
	uint32_t in_flight;
	struct wake *alone;            /* the one wake in flight, while it has been alone */
	uint64_t t0_ns;
	uint64_t started, finished, failed;

	pthread_mutex_t q_lock;        /* done queue, from library threads */
	struct wake *done_q;

	pthread_mutex_t th_lock;       /* library threads seen in callbacks */
	pthread_t th[MAX_LIB_THREADS];
	clockid_t th_clk[MAX_LIB_THREADS];
	int nth;

	int interrupted;               /* SIGINT/SIGTERM seen */
	int signals;
};

static struct engine *the_engine; /* for pump() handed to adapters */

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

static int cmd_due_cmp(const void *a, const void *b)
{
	const struct cmd_rec *x = a, *y = b;
	return x->due_us < y->due_us ? -1 : x->due_us > y->due_us ? 1 : (x->device > y->device) - (x->device < y->device);
}

/* The commands of the window: device j of a fleet of N devices waking
 * every W gets one every C from j*W/N + W/2 on: half a wake period after
 * its wake slot, so with C a multiple of W a command waits W/2 for its
 * device (plus the jitter), the mean of commands that arrive at random. */
static int plan_commands(struct engine *e)
{
	const struct scenario *sc = e->sc;
	uint64_t n = 0;
	for (size_t i = 0; i < sc->nfleets; i++) {
		const struct fleet *f = &sc->fleets[i];
		if (f->command_every_us)
			n += (uint64_t)f->count * ((sc->duration_us + f->command_every_us - 1) / f->command_every_us);
	}
	e->cmds.n = 0;
	e->cmds.tag = (uint32_t)(clock_mono_ns() ^ ((uint64_t)e->vi << 24)) | 1u;
	e->cmd_next = 0;
	e->cmds.r = calloc(n ? n : 1, sizeof(*e->cmds.r));
	if (!e->cmds.r || n > UINT32_MAX)
		return -1;
	for (size_t i = 0; i < sc->nfleets; i++) {
		const struct fleet *f = &sc->fleets[i];
		uint64_t p = f->command_every_us, wk = f->wake_every_us;
		for (uint32_t j = 0; p && j < f->count; j++)
			for (uint64_t t = (uint64_t)j * wk / f->count + wk / 2; t < sc->duration_us; t += p) {
				struct cmd_rec *c = &e->cmds.r[e->cmds.n++];
				c->due_us = t;
				c->device = f->first_device + j;
			}
	}
	qsort(e->cmds.r, e->cmds.n, sizeof(*e->cmds.r), cmd_due_cmp);
	return 0;
}

/* Sends the commands that are due; returns the ms until the next one (or TIMEOUT). */
static int send_commands(struct engine *e, struct backend *b, uint64_t now, int timeout)
{
	while (e->cmd_next < e->cmds.n) {
		struct cmd_rec *c = &e->cmds.r[e->cmd_next];
		uint64_t due = e->t0_ns + c->due_us * 1000u;
		if (due > now) {
			int64_t ms = (int64_t)((due - now + 999999) / 1000000);
			return ms < timeout ? (int)ms : timeout;
		}
		struct cmd_header h = { .magic = CMD_MAGIC, .index = e->cmd_next, .device = c->device, .tag = e->cmds.tag };
		h.issue_ns = clock_mono_ns();
		c->issue_ns = h.issue_ns;
		if (backend_command(b, c->device, &h, sizeof(h)) != 0)
			c->issue_ns = 0; /* not sent: it counts as not issued */
		e->cmd_next++;
	}
	return timeout;
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
	struct engine *e = w->eng;
	w->lib_done_ns = clock_mono_ns();
	pthread_mutex_lock(&e->q_lock);
	if (err != ERR_OK && w->err == ERR_OK) {
		w->err = err;
		snprintf(w->detail, sizeof(w->detail), "%s", detail ? detail : "");
	}
	w->next_done = e->done_q;
	e->done_q = w;
	pthread_mutex_unlock(&e->q_lock);
	uint64_t one = 1;
	(void)!write(e->evfd, &one, sizeof(one));
}

void wake_note_thread(struct wake *w)
{
	struct engine *e = w->eng;
	pthread_t self = pthread_self();
	pthread_mutex_lock(&e->th_lock);
	int known = 0;
	for (int i = 0; i < e->nth; i++)
		if (pthread_equal(e->th[i], self))
			known = 1;
	if (!known && e->nth < MAX_LIB_THREADS && pthread_getcpuclockid(self, &e->th_clk[e->nth]) == 0)
		e->th[e->nth++] = self;
	pthread_mutex_unlock(&e->th_lock);
}

/* ---------- CPU of the library's threads ---------- */

static uint64_t lib_cpu_ns(struct engine *e)
{
	uint64_t sum = 0;
	pthread_mutex_lock(&e->th_lock);
	for (int i = 0; i < e->nth; i++) {
		struct timespec ts;
		if (clock_gettime(e->th_clk[i], &ts) == 0)
			sum += (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	}
	pthread_mutex_unlock(&e->th_lock);
	return sum;
}

/* ---------- the loop ---------- */

static void finish_wake(struct engine *e, struct wake *w);

static void on_done_queue(struct loop_src *src, uint32_t events)
{
	struct engine *e = container_of(src, struct engine, ev_src);
	uint64_t n;
	(void)!read(e->evfd, &n, sizeof(n));
	pthread_mutex_lock(&e->q_lock);
	struct wake *list = e->done_q;
	e->done_q = NULL;
	pthread_mutex_unlock(&e->q_lock);
	while (list) {
		struct wake *w = list;
		list = w->next_done;
		w->next_done = NULL;
		w->adapter_done = 1;
		finish_wake(e, w);
	}
}

static void on_signal(struct loop_src *src, uint32_t events)
{
	struct engine *e = container_of(src, struct engine, sig_src);
	struct signalfd_siginfo si;
	while (read(e->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		e->interrupted = 1;
		if (++e->signals >= 2) {
			/* Second Ctrl-C: rows are on disk already; stop the servers and go. */
			server_stop_all();
			fprintf(stderr, "\ndormant: interrupted twice, servers stopped, results in %s\n", e->rundir);
			_exit(EXIT_INTERRUPTED);
		}
		fprintf(stderr, "\ndormant: interrupted; finishing wakes in flight (Ctrl-C again to stop at once)\n");
	}
}

static void pump_with(struct engine *e, int timeout_ms)
{
	struct epoll_event evs[64];
	int mt = modem_timeout_ms(e->modem);
	if (mt >= 0 && (timeout_ms < 0 || mt < timeout_ms))
		timeout_ms = mt;
	int n = epoll_wait(e->epfd, evs, 64, timeout_ms);
	for (int i = 0; i < n; i++) {
		struct loop_src *s = evs[i].data.ptr;
		s->fn(s, evs[i].events);
	}
	modem_tick(e->modem);
}

static void pump(int timeout_ms)
{
	pump_with(the_engine, timeout_ms);
}

/* ---------- wakes ---------- */

static void list_remove(struct wake **head, struct wake *w)
{
	for (struct wake **pp = head; *pp; pp = &(*pp)->next)
		if (*pp == w) {
			*pp = w->next;
			w->next = NULL;
			return;
		}
}

static void queue_row(struct engine *e, struct wake *w)
{
	w->done_at_ns = clock_mono_ns();
	w->next = NULL;
	*e->rows_tail = w;
	e->rows_tail = &w->next;
}

static void on_modem_done(struct modem_conn *mc, void *arg)
{
	struct wake *w = arg;
	w->modem_done = 1;
	finish_wake(w->eng, w);
}

static void on_modem_accept(struct modem_conn *mc, void *arg)
{
	struct wake *w = arg;
	if (w->eng->ops->accepted)
		w->eng->ops->accepted(w);
}

static void finish_wake(struct engine *e, struct wake *w)
{
	if (!w->adapter_done || !w->modem_done || w->reaped)
		return;
	w->end_ns = clock_mono_ns();
	/* A modem-side failure (refused, reset) is what broke the wake, if the adapter saw only its effect. */
	const struct modem_counts *c = w->mc ? modem_conn_counts(w->mc) : NULL;
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
	e->ops->reap(w);
	w->cpu_main_ns += clock_thread_cpu_ns() - cpu0;
	w->reaped = 1;
	/* Wakes that saw a library thread for the first time carry its start-up: not a wake's cost. */
	if (w->alone && e->alone == w && e->nth == w->nth_at_start)
		w->cpu_ns = lib_cpu_ns(e) - w->cpu_start_ns + w->cpu_main_ns;
	else
		w->alone = 0;
	if (e->alone == w)
		e->alone = NULL;
	list_remove(&e->active, w);
	e->in_flight--;
	e->busy[w->device] = 0;
	e->finished++;
	if (w->err != ERR_OK)
		e->failed++;
	queue_row(e, w);
}

static void write_row(struct engine *e, struct wake *w)
{
	results_row(e->res, w, w->mc ? modem_conn_counts(w->mc) : NULL);
	modem_conn_free(w->mc);
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
static void flush_rows(struct engine *e, int all)
{
	uint64_t now = clock_mono_ns();
	while (e->rows && (all || row_ready(e->rows, now))) {
		struct wake *w = e->rows;
		e->rows = w->next;
		if (!e->rows)
			e->rows_tail = &e->rows;
		write_row(e, w);
	}
}

static struct wake *new_wake(struct engine *e, const struct sched_wake *sw)
{
	struct wake *w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	const struct fleet *f = &e->sc->fleets[sw->fleet];
	w->eng = e;
	w->sc = e->sc;
	w->fleet = f;
	w->variant = e->v;
	w->variant_index = e->vi;
	w->device = sw->device;
	w->seq = sw->seq;
	w->due_us = sw->due_us;
	w->qos = scenario_qos(e->v, f);
	w->nmsg = f->messages_per_wake;
	w->msgs = &e->msgs;
	w->cmds = &e->cmds;
	w->msg_base = e->msg_next;
	e->msg_next += w->nmsg;
	return w;
}

/* Starts W now. A wake that cannot start is a failed row, not an exit. */
static void start_wake(struct engine *e, struct wake *w)
{
	uint64_t now = clock_mono_ns();
	w->start_ns = now;
	w->start_wall_us = clock_wall_us();
	uint64_t due_ns = e->t0_ns + w->due_us * 1000u;
	w->sched_lag_us = now > due_ns ? (now - due_ns) / 1000u : 0;
	w->deadline_ns = now + e->sc->wake_timeout_us * 1000u;
	e->started++;

	enum dormant_err err = ERR_OK;
	struct modem_open_args oa = { .target = e->target, .device = w->device, .tls = e->tlsp, .frame = e->ops->frame,
	                              .direct = e->ops->direct, .on_accept = on_modem_accept, .on_done = on_modem_done,
	                              .arg = w };
	w->mc = modem_open(e->modem, &oa, &err, w->detail, sizeof(w->detail));
	if (w->mc) {
		w->modem_port = modem_conn_port(w->mc);
		modem_conn_set_close_notify(w->mc, e->ops->tls_close_notify);
		if (e->in_flight == 0) {
			w->alone = 1;
			w->cpu_start_ns = lib_cpu_ns(e);
			w->nth_at_start = e->nth;
			e->alone = w;
		} else if (e->alone) {
			e->alone->alone = 0;
			e->alone = NULL;
		}
		uint64_t cpu0 = clock_thread_cpu_ns();
		err = e->ops->start(w);
		w->cpu_main_ns += clock_thread_cpu_ns() - cpu0;
		if (err == ERR_OK)
			modem_conn_start(w->mc); /* direct libraries: the device asks for its connection now */
	}
	if (err != ERR_OK) {
		w->err = err;
		if (!w->detail[0])
			snprintf(w->detail, sizeof(w->detail), "%s adapter did not start", e->ops->name);
		if (w->mc)
			modem_conn_abort(w->mc, err, w->detail);
		if (e->alone == w)
			e->alone = NULL;
		w->alone = 0;
		w->end_ns = clock_mono_ns();
		e->finished++;
		e->failed++;
		queue_row(e, w);
		return;
	}
	e->in_flight++;
	e->busy[w->device] = 1;
	w->next = e->active;
	e->active = w;
}

static void abort_wake(struct engine *e, struct wake *w, enum dormant_err why, const char *detail)
{
	if (w->timed_out)
		return;
	w->timed_out = 1;
	pthread_mutex_lock(&e->q_lock);
	if (w->err == ERR_OK || why == ERR_INTERRUPTED) {
		w->err = why;
		snprintf(w->detail, sizeof(w->detail), "%s", detail);
	}
	pthread_mutex_unlock(&e->q_lock);
	w->deadline_ns = clock_mono_ns() + ABORT_GRACE_NS;
	if (!w->modem_done) {
		modem_conn_abort(w->mc, why, detail);
		w->modem_done = 1;
	}
	e->ops->abort(w);
	finish_wake(e, w);
}

static void check_deadlines(struct engine *e)
{
	uint64_t now = clock_mono_ns();
	struct wake *next;
	for (struct wake *w = e->active; w; w = next) {
		next = w->next;
		if (now < w->deadline_ns)
			continue;
		if (!w->timed_out) {
			char d[80];
			snprintf(d, sizeof(d), "wake did not finish within %llu ms",
			         (unsigned long long)(e->sc->wake_timeout_us / 1000u));
			abort_wake(e, w, ERR_TIMEOUT, d);
		} else {
			/* The library never reported back: keep its state alive (a late
			 * callback must not find freed memory) and write the row without it. */
			struct wake *z = calloc(1, sizeof(*z));
			list_remove(&e->active, w);
			e->in_flight--;
			e->busy[w->device] = 0;
			e->finished++;
			e->failed++;
			if (e->alone == w)
				e->alone = NULL;
			if (z) {
				*z = *w;
				z->adapter = NULL;
				z->mc = w->mc;
				w->mc = NULL;
				snprintf(z->detail + strlen(z->detail), sizeof(z->detail) - strlen(z->detail),
				         "; library never reported back");
				z->end_ns = clock_mono_ns();
				z->alone = 0;
				queue_row(e, z);
			}
			/* A late callback must find the wake finished (not finish it twice)
			 * and no modem (modem_set_phase ignores NULL). */
			w->reaped = 1;
			w->adapter_done = w->modem_done = 1;
			w->next = e->zombies;
			e->zombies = w;
		}
	}
}

/* Starts deferred wakes whose device is free, in due order, while slots last. */
static void start_deferred(struct engine *e)
{
	struct wake **pp = &e->deferred;
	while (*pp && e->in_flight < e->sc->concurrency) {
		struct wake *w = *pp;
		if (e->busy[w->device]) {
			pp = &w->next;
			continue;
		}
		*pp = w->next;
		w->next = NULL;
		start_wake(e, w);
	}
	e->deferred_tail = &e->deferred;
	while (*e->deferred_tail)
		e->deferred_tail = &(*e->deferred_tail)->next;
}

static void progress(struct engine *e, uint64_t now, int final)
{
	static uint64_t last;
	if (!e->o->progress || (!final && now - last < 200000000ull))
		return;
	last = now;
	double el = (double)(now - e->t0_ns) / 1e9, tot = (double)e->sc->duration_us / 1e6;
	fprintf(stderr, "\r\033[K[%u/%zu] %-24s %6.1f/%.0fs  wakes %llu  failed %llu  in flight %u%s", e->vi + 1,
	        e->sc->nvariants, e->v->name, el > tot ? tot : el, tot, (unsigned long long)e->finished,
	        (unsigned long long)e->failed, e->in_flight, final ? "\n" : "");
	fflush(stderr);
}

static void slug(const char *in, char *out, size_t len)
{
	size_t j = 0;
	for (; *in && j + 1 < len; in++)
		out[j++] = (*in == ' ' || *in == '=' || *in == '/') ? '-' : *in;
	out[j] = 0;
}

/* AMQP devices of downlink fleets read their commands from queues made for them. */
static enum dormant_err command_queues(struct engine *e, struct broker *b, char *err, size_t errlen)
{
	uint32_t first[FLEETS_MAX], count[FLEETS_MAX];
	int n = 0;
	for (size_t i = 0; i < e->sc->nfleets; i++)
		if (e->sc->fleets[i].downlink) {
			first[n] = e->sc->fleets[i].first_device;
			count[n++] = e->sc->fleets[i].count;
		}
	if (!n || b->kind != BROKER_RABBITMQ)
		return ERR_OK;
	return rabbitmq_command_queues(&b->rmq, first, count, n, err, errlen);
}

/* The variant's message and command tables and device flags. */
static void free_tables(struct engine *e)
{
	free(e->msgs.r);
	e->msgs.r = NULL;
	free(e->cmds.r);
	e->cmds.r = NULL;
	free(e->busy);
	e->busy = NULL;
}

/* Runs variant VI. Returns EXIT_OK, EXIT_SERVER (err set), or EXIT_INTERRUPTED. */
static int run_variant(struct engine *e, uint32_t vi, char *err, size_t errlen)
{
	const struct scenario *sc = e->sc;
	e->vi = vi;
	e->v = &sc->variants[vi];
	e->ops = adapter_for(e->v->protocol);
	if (!e->ops) {
		snprintf(err, errlen, "%s: no adapter built for protocol %s", e->v->name, protocol_name(e->v->protocol));
		return EXIT_INTERNAL;
	}
	uint64_t expected = sched_expected_wakes(sc);
	results_variant_begin(e->res, vi, expected);

	/* device TLS: the run's PKI, the server's side of it, the devices' profile */
	struct mosq_tls mt = { 0 }, *mtp = NULL;
	char crt[4300], key[4300];
	e->tlsp = NULL;
	if (e->v->tls != TLS_NONE) {
		enum dormant_err te = ERR_OK;
		if (!e->pki.ready) {
			char dir[sizeof(e->rundir) + 8];
			snprintf(dir, sizeof(dir), "%s/pki", e->rundir);
			te = pki_create(&e->pki, dir, err, errlen);
		}
		if (te == ERR_OK && e->v->tls == TLS_PSK)
			te = pki_write_psk_file(&e->pki, sc->ndevices, err, errlen);
		else if (te == ERR_OK)
			te = pki_server(&e->pki, e->v->tls, sc->tls_fault == TLS_FAULT_WRONG_NAME, crt, key, sizeof(crt), err,
			                errlen);
		if (te != ERR_OK)
			return te == ERR_IO ? EXIT_IO : EXIT_INTERNAL;
		mt.cafile = e->pki.ca_crt;
		if (e->v->tls == TLS_PSK) {
			mt.psk_file = e->pki.psk_file;
		} else {
			mt.certfile = crt;
			mt.keyfile = key;
		}
		mt.require_certificate = e->v->client_cert;
		mtp = &mt;
		char note[200];
		e->tlsp = tls_profile_create(sc, e->v, &e->pki, note, sizeof(note), err, errlen);
		if (!e->tlsp)
			return EXIT_INTERNAL;
		results_variant_tls(e->res, tls_profile_suite(e->tlsp), tls_profile_resume(e->tlsp), sc->tls_verify, note,
		                    (double)tls_profile_init_ns(e->tlsp) / 1e6);
	}

	/* server side */
	struct broker broker = { 0 };
	char host[sizeof(sc->endpoint_host)];
	uint16_t backend_port;
	if (sc->endpoint_host[0]) {
		snprintf(host, sizeof(host), "%s", sc->endpoint_host);
		e->target.port = backend_port = sc->endpoint_port;
		results_variant_server(e->res, "external", sc->endpoint_host, 0);
	} else {
		char dir[sizeof(e->rundir) + 256], s[sizeof(e->v->name)];
		slug(e->v->name, s, sizeof(s));
		snprintf(dir, sizeof(dir), "%s/servers/%02u-%s", e->rundir, vi + 1, s);
		char shared[sizeof(e->rundir) + 32];
		snprintf(shared, sizeof(shared), "%s/servers/rabbitmq", e->rundir);
		if (e->v->protocol == PROTO_HTTP && !e->have_secret) {
			if (getrandom(e->secret, sizeof(e->secret), 0) != (ssize_t)sizeof(e->secret)) {
				snprintf(err, errlen, "getrandom: %s", strerror(errno));
				tls_profile_destroy(e->tlsp);
				e->tlsp = NULL;
				return EXIT_INTERNAL;
			}
			e->have_secret = 1;
		}
		enum dormant_err se = broker_start(&broker, e->v, dir, shared, mtp, e->secret, sizeof(e->secret), err,
		                                   errlen);
		if (se != ERR_OK) {
			tls_profile_destroy(e->tlsp);
			e->tlsp = NULL;
			if (se == ERR_INTERRUPTED)
				e->interrupted = 1;
			return se == ERR_IO ? EXIT_IO : se == ERR_INTERRUPTED ? EXIT_INTERRUPTED : EXIT_SERVER;
		}
		if (e->v->protocol == PROTO_AMQP && (se = command_queues(e, &broker, err, errlen)) != ERR_OK) {
			broker_stop(&broker, NULL);
			tls_profile_destroy(e->tlsp);
			e->tlsp = NULL;
			if (se == ERR_INTERRUPTED)
				e->interrupted = 1;
			return se == ERR_INTERRUPTED ? EXIT_INTERRUPTED : EXIT_SERVER;
		}
		snprintf(host, sizeof(host), "127.0.0.1");
		e->target.port = broker.device_port;
		backend_port = broker.backend_port;
		char ep[64];
		snprintf(ep, sizeof(ep), "127.0.0.1:%u", broker.device_port);
		results_variant_server(e->res, broker.label, ep, broker.start_ms);
	}
	struct in_addr ia;
	inet_pton(AF_INET, host, &ia);
	e->target.addr = ntohl(ia.s_addr);

	uint64_t nmsgs = sched_expected_messages(sc);
	e->msgs.n = (uint32_t)nmsgs;
	e->msgs.r = calloc(nmsgs ? nmsgs : 1, sizeof(*e->msgs.r));
	e->msg_next = 0;
	e->busy = calloc(sc->ndevices, 1);
	if (!e->msgs.r || !e->busy) {
		snprintf(err, errlen, "out of memory for %llu messages", (unsigned long long)nmsgs);
		free_tables(e);
		broker_stop(&broker, NULL);
		return EXIT_INTERNAL;
	}
	if (plan_commands(e) < 0) {
		snprintf(err, errlen, "out of memory for the commands");
		free_tables(e);
		broker_stop(&broker, NULL);
		return EXIT_INTERNAL;
	}
	enum dormant_err be = ERR_OK;
	struct backend *backend = backend_start(host, backend_port, &e->msgs, e->cmds.n > 0, &be, err, errlen);
	if (!backend) {
		free_tables(e);
		broker_stop(&broker, NULL);
		return EXIT_SERVER;
	}
	struct adapter_env env = { .epfd = e->epfd, .sc = sc, .variant = e->v, .pump = pump, .secret = e->secret,
	                           .secret_len = sizeof(e->secret) };
	pthread_mutex_lock(&e->th_lock);
	e->nth = 0;
	pthread_mutex_unlock(&e->th_lock);
	if (e->ops->init(&env, err, errlen) != ERR_OK) {
		e->ops->fini();
		backend_stop(backend);
		free_tables(e);
		broker_stop(&broker, NULL);
		return EXIT_INTERNAL;
	}

	struct sched *sched = sched_create(sc);
	e->deferred = NULL;
	e->deferred_tail = &e->deferred;
	e->rows = NULL;
	e->rows_tail = &e->rows;
	e->started = e->finished = e->failed = 0;
	uint64_t engine_cpu0 = clock_thread_cpu_ns();
	e->t0_ns = clock_mono_ns();

	for (;;) {
		uint64_t now = clock_mono_ns();
		if (e->interrupted)
			break;
		start_deferred(e);
		while (sched_peek(sched) != UINT64_MAX && e->t0_ns + sched_peek(sched) * 1000u <= now) {
			struct sched_wake sw;
			sched_next(sched, &sw);
			struct wake *w = new_wake(e, &sw);
			if (!w)
				continue;
			if (e->busy[w->device] || e->in_flight >= sc->concurrency) {
				*e->deferred_tail = w;
				e->deferred_tail = &w->next;
			} else {
				start_wake(e, w);
			}
		}
		check_deadlines(e);
		flush_rows(e, 0);
		progress(e, now, 0);
		if (sched_peek(sched) == UINT64_MAX && !e->deferred && !e->active && e->cmd_next == e->cmds.n)
			break;
		int timeout = send_commands(e, backend, now, 200);
		uint64_t next = sched_peek(sched);
		if (next != UINT64_MAX) {
			uint64_t due = e->t0_ns + next * 1000u;
			int64_t ms = due > now ? (int64_t)((due - now + 999999) / 1000000) : 0;
			if (ms < timeout)
				timeout = (int)ms;
		}
		if (e->rows && timeout > 20)
			timeout = 20;
		pump_with(e, timeout);
	}
	double window_s = (double)(clock_mono_ns() - e->t0_ns) / 1e9;

	int interrupted = e->interrupted;
	if (interrupted) {
		/* Abort what is in flight; give the library a moment to report back. */
		struct wake *next;
		for (struct wake *w = e->active; w; w = next) {
			next = w->next;
			abort_wake(e, w, ERR_INTERRUPTED, "run interrupted");
		}
		/* Past ABORT_GRACE, check_deadlines turns what is left into rows. */
		uint64_t until = clock_mono_ns() + ABORT_GRACE_NS + 1000000000ull;
		while (e->active && clock_mono_ns() < until) {
			pump_with(e, 20);
			check_deadlines(e);
		}
		while (e->deferred) {
			struct wake *w = e->deferred;
			e->deferred = w->next;
			free(w);
		}
	}
	/* Let the backend catch up, then write every row. */
	uint64_t until = clock_mono_ns() + (interrupted ? 200000000ull : DRAIN_NS);
	while (e->rows && clock_mono_ns() < until) {
		flush_rows(e, 0);
		if (e->rows)
			pump_with(e, 10);
	}
	flush_rows(e, 1);
	/* The library's threads start and end with the variant (the adapter's
	 * init and fini), so their whole CPU clock belongs to it. */
	uint64_t lib_cpu = lib_cpu_ns(e);
	progress(e, clock_mono_ns(), 1);
	uint64_t foreign = backend_foreign(backend);
	e->ops->fini();
	pthread_mutex_lock(&e->th_lock);
	e->nth = 0; /* the library's threads may end with the variant */
	pthread_mutex_unlock(&e->th_lock);
	backend_stop(backend);
	struct procstat_totals bt;
	broker_stop(&broker, &bt);
	if (!sc->endpoint_host[0])
		results_variant_broker(e->res, &(struct results_server_cost){ .window_s = bt.window_s,
			.cpu_user_ms = bt.cpu_user_ms, .cpu_sys_ms = bt.cpu_sys_ms, .rss_peak_kib = bt.rss_peak_kib,
			.rss_mean_kib = bt.rss_mean_kib, .rss_first_kib = bt.rss_first_kib, .samples = bt.samples,
			.processes = bt.max_procs });
	results_variant_end(e->res, &e->msgs, &e->cmds, foreign, lib_cpu, clock_thread_cpu_ns() - engine_cpu0, window_s,
	                    interrupted);
	sched_destroy(sched);
	tls_profile_destroy(e->tlsp);
	e->tlsp = NULL;
	free_tables(e);
	return interrupted ? EXIT_INTERRUPTED : EXIT_OK;
}

/* ---------- the run ---------- */

static int copy_file(const char *from, const char *to)
{
	FILE *in = fopen(from, "rb");
	if (!in)
		return -1;
	FILE *out = fopen(to, "wb");
	if (!out) {
		fclose(in);
		return -1;
	}
	char buf[8192];
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		fwrite(buf, 1, n, out);
	fclose(in);
	return fclose(out);
}

static int make_rundir(const struct scenario *sc, const char *root, char *out, size_t len)
{
	char label[32];
	clock_utc_label(label, sizeof(label));
	/* Absolute: servers run from their own directories and get paths from us. */
	char abs[4096];
	if (server_mkdirs(root) < 0 || !realpath(root, abs))
		return -1;
	for (int i = 1; i < 100; i++) {
		int n = i == 1 ? snprintf(out, len, "%s/%s-%s", abs, sc->name, label)
		               : snprintf(out, len, "%s/%s-%s-%d", abs, sc->name, label, i);
		if (n < 0 || (size_t)n >= len) {
			errno = ENAMETOOLONG;
			return -1;
		}
		if (mkdir(out, 0755) == 0)
			return 0;
		if (errno != EEXIST)
			return -1;
	}
	errno = EEXIST;
	return -1;
}

int engine_run(const struct scenario *sc, const struct engine_opts *o, char *rundir, size_t rundir_len, char *err,
               size_t errlen)
{
	struct engine e = { .sc = sc, .o = o, .epfd = -1, .evfd = -1, .sigfd = -1 };
	pthread_mutex_init(&e.q_lock, NULL);
	pthread_mutex_init(&e.th_lock, NULL);
	the_engine = &e;
	int rc = EXIT_INTERNAL;

	if (make_rundir(sc, o->results_root, e.rundir, sizeof(e.rundir)) < 0) {
		snprintf(err, errlen, "%s: cannot create run directory: %s", o->results_root, strerror(errno));
		return EXIT_IO;
	}
	snprintf(rundir, rundir_len, "%s", e.rundir);
	char path[4200];
	snprintf(path, sizeof(path), "%s/scenario.yaml", e.rundir);
	if (copy_file(sc->path, path) != 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return EXIT_IO;
	}
	char versions[512] = "";
	for (int p = 0; p < PROTO_COUNT; p++) {
		const struct adapter_ops *a = adapter_for((enum protocol)p);
		if (a && a->version) {
			size_t l = strlen(versions);
			a->version(versions + l, sizeof(versions) - l);
		}
	}
	if (env_write(e.rundir, versions) != 0) {
		snprintf(err, errlen, "%s/env.json: %s", e.rundir, strerror(errno));
		return EXIT_IO;
	}
	e.res = results_create(e.rundir, sc, err, errlen);
	if (!e.res)
		return EXIT_IO;

	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	e.epfd = epoll_create1(EPOLL_CLOEXEC);
	e.evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	e.sigfd = signalfd(-1, &sigs, SFD_NONBLOCK | SFD_CLOEXEC);
	e.modem = modem_create(e.epfd);
	if (e.epfd < 0 || e.evfd < 0 || e.sigfd < 0 || !e.modem) {
		snprintf(err, errlen, "engine set-up: %s", strerror(errno));
		goto out;
	}
	e.ev_src.fn = on_done_queue;
	e.sig_src.fn = on_signal;
	loop_add(e.epfd, &e.ev_src, e.evfd, EPOLLIN);
	loop_add(e.epfd, &e.sig_src, e.sigfd, EPOLLIN);
	server_set_interrupt_fd(e.sigfd);

	rc = EXIT_OK;
	for (uint32_t vi = 0; vi < sc->nvariants && rc == EXIT_OK; vi++)
		rc = run_variant(&e, vi, err, errlen);
	char ferr[4400];
	if (results_finish(e.res, stdout, ferr, sizeof(ferr)) != 0 && rc == EXIT_OK) {
		snprintf(err, errlen, "%s", ferr);
		rc = EXIT_IO;
	}
out:
	server_set_interrupt_fd(-1);
	server_stop_all();
	tls_profile_destroy(e.tlsp);
	free(e.msgs.r);
	free(e.busy);
	pki_destroy(&e.pki);
	results_destroy(e.res);
	modem_destroy(e.modem);
	if (e.sigfd >= 0)
		close(e.sigfd);
	if (e.evfd >= 0)
		close(e.evfd);
	if (e.epfd >= 0)
		close(e.epfd);
	return rc;
}
