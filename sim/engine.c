/* engine.c: the per-variant sequence: server stack up, window, drain,
 * stack down; and the run around it.
 *
 * Everything runs on this thread, in one loop (loop.h) over the modem's
 * sockets, the adapters', the wakes' done queue and the run's signals.
 * The window's timed events (the wake schedule, command sends) are streams
 * of one timeline (timeline.h) whose next deadline the loop waits on; the
 * wakes themselves are wake.c's, the devices device.c's, the servers
 * brokers/stack.c's, the run directory rundir.c's.
 */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "adapter.h"
#include "backend.h"
#include "clock.h"
#include "device.h"
#include "engine.h"
#include "loop.h"
#include "modem.h"
#include "linkemu.h"
#include "results.h"
#include "rundir.h"
#include "sched.h"
#include "server.h"
#include "procstat.h"
#include "stack.h"
#include "timeline.h"
#include "tls.h"
#include "wake.h"

#define DRAIN_NS (2000ull * 1000 * 1000)         /* end of variant: wait this long for the backend */
#define INTERRUPT_DRAIN_NS (200ull * 1000 * 1000) /* ... after Ctrl-C */
#define LOOP_CAP_MS 200                          /* deadlines are checked at least this often */

struct engine {
	const struct scenario *sc;
	const struct server *servers_before;
	const struct engine_opts *o;
	struct loop *loop;
	struct modem *modem;
	struct results *res;
	struct stack *stack;
	struct wakes *wakes;
	struct linkemu *link;      /* the running variant's, for a second Ctrl-C */
	char rundir[4096];
};

/* The fleet's wake schedule as a stream of the timeline. */
struct sched_stream {
	struct timeline_stream s;
	struct sched *sched;
	struct wakes *wakes;
	uint64_t t0_ns;
};

static uint64_t sched_stream_next(struct timeline_stream *s)
{
	struct sched_stream *ss = container_of(s, struct sched_stream, s);
	uint64_t due = sched_peek(ss->sched);
	return due == UINT64_MAX ? UINT64_MAX : ss->t0_ns + due * 1000u;
}

static void sched_stream_fire(struct timeline_stream *s, uint64_t now)
{
	struct sched_stream *ss = container_of(s, struct sched_stream, s);
	struct sched_wake sw;
	while (sched_stream_next(s) <= now && sched_next(ss->sched, &sw))
		wakes_due(ss->wakes, &sw);
}

static int modem_wait_ms(void *arg)
{
	return modem_timeout_ms(arg);
}

static void modem_run(void *arg)
{
	modem_tick(arg);
}

/* For brokers/: every wait there asks whether the run was interrupted. */
static int interrupted(void *arg)
{
	struct engine *e = arg;
	return loop_signals(e->loop) > 0;
}

/* A second Ctrl-C: rows are on disk already; no grace for anyone. */
static void stop_at_once(void *arg)
{
	struct engine *e = arg;
	server_kill_all();
	/* the TUNs would die with the process, the namespace's mount would not */
	linkemu_close(e->link);
	fprintf(stderr, "\ndormant: interrupted twice, servers killed, results in %s\n", e->rundir);
}

static void progress(struct engine *e, uint32_t vi, uint64_t t0, uint64_t now, int final)
{
	static uint64_t last;
	if (!e->o->progress || (!final && now - last < 200000000ull))
		return;
	last = now;
	struct wakes_counts c = wakes_counts(e->wakes);
	double el = (double)(now - t0) / 1e9, tot = (double)e->sc->duration_us / 1e6;
	/* past the window: the last wakes finishing, or the run fell behind its schedule (the summary tells which) */
	char over[48] = "";
	if (el > tot + 0.5)
		snprintf(over, sizeof(over), "  +%.1fs past the window", el - tot);
	fprintf(stderr, "\r\033[K[%u/%zu] %-24s %6.1f/%.0fs%s  wakes %llu  failed %llu  in flight %u%s", vi + 1,
	        e->sc->nvariants, e->sc->variants[vi].name, el > tot ? tot : el, tot, over, (unsigned long long)c.finished,
	        (unsigned long long)c.failed, c.in_flight, final ? "\n" : "");
	fflush(stderr);
}

static int exit_for(enum dormant_err de)
{
	switch (de) {
	case ERR_OK: return EXIT_OK;
	case ERR_IO: return EXIT_IO;
	case ERR_SERVER: return EXIT_SERVER;
	case ERR_INTERRUPTED: return EXIT_INTERRUPTED;
	default: return EXIT_INTERNAL;
	}
}

/* dormant's resident set now, KiB; 0 when /proc cannot say. Freed heap is
 * given back first (malloc_trim), so what is counted is what is held. */
static uint64_t self_rss_kib(void)
{
	struct procstat_proc p;
	malloc_trim(0);
	return procstat_read(getpid(), &p) == 0 ? p.rss_kib : 0;
}

/* What one variant holds while it runs; run_variant releases all of it on every path. */
struct variant_run {
	struct tls_profile *tlsp;
	struct msg_table msgs;
	struct cmd_table cmds;
	struct device_table devices;
	struct backend *backend;
	struct sched *sched;
	struct linkemu *link;      /* the variant's emulated links; NULL: loopback */
	int stack_up, adapter_up, window_done;
};

/* How long after a connection's last packet more of it may still cross V's
 * links: the longest link_settle_ms() of its fleets' links (link.h says
 * why); 0 when V has no link. */
static double links_settle_ms(const struct scenario *sc, const struct variant *v)
{
	double worst = 0;
	for (size_t f = 0; f < sc->nfleets; f++) {
		const struct link_profile *p = scenario_link(sc, v, &sc->fleets[f]);
		if (!p)
			continue;
		double t = link_settle_ms(p);
		if (t > worst)
			worst = t;
	}
	return worst;
}

/* The devices' namespace and radio queues, each device with its fleet's
 * profile and its own delay drawn from the seed. ERR_SERVER with ERR set
 * when the emulator cannot start (no CAP_NET_ADMIN, no /dev/net/tun). */
static enum dormant_err links_open(struct engine *e, const struct variant *v, struct variant_run *r, char *err,
                                   size_t errlen)
{
	const struct scenario *sc = e->sc;
	if (!(r->link = linkemu_open(err, errlen)))
		return ERR_SERVER;
	for (size_t f = 0; f < sc->nfleets; f++) {
		const struct fleet *fl = &sc->fleets[f];
		const struct link_profile *p = scenario_link(sc, v, fl);
		for (uint32_t i = 0; p && i < fl->count; i++) {
			uint32_t d = fl->first_device + i;
			struct linkemu_params lp = { .delay_ms = link_delay_ms(p, sc->seed, d), .up_kbps = p->up_kbps,
			                             .down_kbps = p->down_kbps, .loss_up = p->loss_up,
			                             .loss_down = p->loss_down, .queue_packets = p->queue_packets,
			                             .mtu = p->mtu, .seed = sc->seed * 1000003u + d,
			                             .nat_timeout_s = p->nat_timeout_s };
			if (scenario_listens(v, fl, p)) {
				lp.listen_ms = p->listen_ms;
				lp.asleep_after_ms = p->release_assist ? 0 : p->tail_ms;
			}
			char why[256];
			if (linkemu_add_device(r->link, LINKEMU_DEVICE_NET + d + 1, &lp, why, sizeof(why)) < 0) {
				snprintf(err, errlen, "%s: device %u on link %s: %s", v->name, d, p->name, why);
				return ERR_INTERNAL;
			}
		}
	}
	modem_set_link(e->modem, r->link, links_settle_ms(sc, v));
	e->link = r->link;
	return ERR_OK;
}

static void links_close(struct engine *e, struct variant_run *r)
{
	modem_set_link(e->modem, NULL, 0);
	e->link = NULL;
	linkemu_close(r->link);
	r->link = NULL;
}

/* The window: wakes on schedule, commands on time, until both are done (or Ctrl-C). */
static void run_window(struct engine *e, uint32_t vi, struct variant_run *r, uint64_t t0)
{
	struct timeline tl;
	struct sched_stream ss = { .s = { .next_ns = sched_stream_next, .fire = sched_stream_fire },
	                           .sched = r->sched, .wakes = e->wakes, .t0_ns = t0 };
	struct timeline_commands tc;
	timeline_init(&tl);
	timeline_add(&tl, &ss.s);
	timeline_commands_init(&tc, &r->cmds, r->backend, t0);
	timeline_add(&tl, &tc.s);
	uint64_t end_ns = t0 + e->sc->duration_us * 1000u;
	int stopped = 0;
	for (;;) {
		if (loop_signals(e->loop))
			break;
		uint64_t now = clock_mono_ns();
		wakes_start_deferred(e->wakes); /* older wakes first */
		timeline_run(&tl, now);
		/* overrun: stop: every wake is due before the window's end, so what
		 * still waits to start now is what the run fell behind by */
		if (e->sc->overrun == OVERRUN_STOP && !stopped && now >= end_ns) {
			results_variant_not_started(e->res, wakes_stop_window(e->wakes));
			stopped = 1;
		}
		wakes_check_deadlines(e->wakes);
		wakes_flush_rows(e->wakes, 0);
		progress(e, vi, t0, now, 0);
		if (timeline_next_ns(&tl) == UINT64_MAX && wakes_idle(e->wakes))
			break;
		int timeout = timeline_wait_ms(&tl, now, LOOP_CAP_MS);
		if (wakes_rows_waiting(e->wakes) && timeout > 20)
			timeout = 20;
		loop_run_once(e->loop, timeout);
	}
}

/* Runs variant VI. Returns EXIT_OK, or EXIT_* with ERR set (EXIT_INTERRUPTED: Ctrl-C). */
static int run_variant(struct engine *e, uint32_t vi, char *err, size_t errlen)
{
	const struct scenario *sc = e->sc;
	const struct variant *v = &sc->variants[vi];
	const struct adapter_ops *ops = adapter_for(v->protocol);
	if (!ops) {
		snprintf(err, errlen, "%s: no adapter built for protocol %s", v->name, protocol_name(v->protocol));
		return EXIT_INTERNAL;
	}
	results_variant_begin(e->res, vi, sched_expected_wakes(sc));
	struct variant_run r = { 0 };
	int rc = EXIT_OK;
	enum dormant_err de;
	uint64_t engine_cpu0 = clock_thread_cpu_ns(), t0 = clock_mono_ns();
	uint64_t rss0 = self_rss_kib(); /* before anything of the variant is allocated */
	double window_s = 0;
	uint64_t setup_lib_cpu = 0;

	/* the server side's files first: the devices' TLS profile is built from the run's PKI */
	if ((de = stack_prepare(e->stack, v, err, errlen)) != ERR_OK) {
		rc = exit_for(de);
		goto out;
	}
	if (v->tls != TLS_NONE) {
		char note[200];
		r.tlsp = tls_profile_create(sc, v, stack_pki(e->stack), note, sizeof(note), err, errlen);
		if (!r.tlsp) {
			rc = EXIT_INTERNAL;
			goto out;
		}
		results_variant_tls(e->res, tls_profile_suite(r.tlsp), tls_profile_resume(r.tlsp), sc->tls_verify, note,
		                    (double)tls_profile_init_ns(r.tlsp) / 1e6);
	}

	/* Links before the servers: these bind the emulator's server address. */
	if (scenario_variant_has_link(sc, v) && (de = links_open(e, v, &r, err, errlen)) != ERR_OK) {
		rc = exit_for(de);
		goto out;
	}
	char dir[sizeof(e->rundir) + 256];
	rundir_servers(e->rundir, vi, v->name, dir, sizeof(dir));
	if ((de = stack_start(e->stack, v, dir, r.link ? linkemu_server_addr() : 0, err, errlen)) != ERR_OK) {
		rc = exit_for(de);
		goto out;
	}
	r.stack_up = 1;
	const struct stack_info *si = stack_info(e->stack);
	results_variant_server(e->res, si->label, si->endpoint, si->start_ms);
	struct modem_target target = { .addr = si->device_addr, .port = si->device_port };

	uint64_t nmsgs = sched_expected_messages(sc);
	r.msgs.n = (uint32_t)nmsgs;
	r.msgs.r = calloc(nmsgs ? nmsgs : 1, sizeof(*r.msgs.r));
	if (!r.msgs.r || nmsgs > UINT32_MAX || device_table_create(&r.devices, sc->ndevices) < 0) {
		snprintf(err, errlen, "out of memory for %llu messages", (unsigned long long)nmsgs);
		rc = EXIT_INTERNAL;
		goto out;
	}
	if (timeline_plan_commands(&r.cmds, sc, vi) < 0) {
		snprintf(err, errlen, "out of memory for the commands");
		rc = EXIT_INTERNAL;
		goto out;
	}
	r.backend = backend_start(si->backend_host, si->backend_port, &r.msgs, r.cmds.n > 0, &de, err, errlen);
	if (!r.backend) {
		rc = exit_for(de);
		goto out;
	}

	size_t secret_len;
	const unsigned char *secret = stack_secret(e->stack, &secret_len);
	struct wakes_variant wv = { .sc = sc, .v = v, .vi = vi, .ops = ops, .modem = e->modem, .target = &target,
	                            .tlsp = r.tlsp, .devices = &r.devices, .msgs = &r.msgs, .cmds = &r.cmds,
	                            .link = r.link, .secret = secret, .secret_len = secret_len };
	wakes_begin(e->wakes, &wv);
	struct adapter_env env = { .epfd = loop_epfd(e->loop), .loop = e->loop, .sc = sc, .variant = v,
	                           .secret = secret, .secret_len = secret_len };
	r.adapter_up = 1; /* fini() follows init() whatever init says */
	if (ops->init(&env, err, errlen) != ERR_OK) {
		rc = EXIT_INTERNAL;
		goto out;
	}
	if (!(r.sched = sched_create(sc))) {
		snprintf(err, errlen, "out of memory for the schedule");
		rc = EXIT_INTERNAL;
		goto out;
	}

	/* The devices' sessions, before the window and outside its figures: the
	 * library threads' CPU meanwhile (the process's less this thread's) is
	 * taken off theirs. */
	uint64_t proc_cpu0 = clock_process_cpu_ns(), eng_cpu0 = clock_thread_cpu_ns(), setup_t0 = clock_mono_ns();
	uint32_t setups_failed = 0;
	char setup_why[200];
	uint32_t setups = wakes_prepare_sessions(e->wakes, &setups_failed, setup_why, sizeof(setup_why));
	uint64_t proc_d = clock_process_cpu_ns() - proc_cpu0, eng_d = clock_thread_cpu_ns() - eng_cpu0;
	setup_lib_cpu = proc_d > eng_d ? proc_d - eng_d : 0;
	if (setups || setups_failed)
		results_variant_sessions(e->res, setups, setups_failed, setup_why,
		                         (double)(clock_mono_ns() - setup_t0) / 1e6, (double)setup_lib_cpu / 1e6);
	if (loop_signals(e->loop))
		goto out;

	engine_cpu0 = clock_thread_cpu_ns();
	t0 = clock_mono_ns();
	wv.t0_ns = t0;
	wakes_begin(e->wakes, &wv);
	struct procstat_machine m0, m1;
	int machine = procstat_machine(&m0) == 0;
	run_window(e, vi, &r, t0);
	window_s = (double)(clock_mono_ns() - t0) / 1e9;
	/* the whole machine's CPU over the window: what a saturated machine (or a shared one's neighbours) took */
	if (machine && procstat_machine(&m1) == 0 && m1.total > m0.total)
		results_variant_machine(e->res, (double)(m1.busy - m0.busy) / (double)(m1.total - m0.total),
		                        (double)(m1.steal - m0.steal) / (double)(m1.total - m0.total));
	int intr = loop_signals(e->loop) > 0;
	if (intr)
		wakes_interrupt(e->wakes);
	/* Let the backend catch up, then write every row. */
	wakes_drain(e->wakes, intr ? INTERRUPT_DRAIN_NS : DRAIN_NS);
	r.window_done = 1;
	/* every row written and every device asleep: what a sleeping fleet costs dormant */
	struct results_memory mem = { .rss_before_kib = rss0, .rss_after_kib = self_rss_kib(), .devices = sc->ndevices,
	                              .state_per_device = sizeof(struct device) + sched_bytes_per_device() };
	if (r.tlsp) {
		size_t per;
		tls_profile_memory(r.tlsp, &per, &mem.sessions, &mem.session_bytes);
		mem.state_per_device += per;
	}
	mem.records_bytes = results_variant_records_bytes(e->res) + (uint64_t)r.msgs.n * sizeof(*r.msgs.r) +
	                    (uint64_t)r.cmds.n * sizeof(*r.cmds.r);
	if (rss0 && mem.rss_after_kib)
		results_variant_memory(e->res, &mem);

out:
	if (rc == EXIT_OK && loop_signals(e->loop)) {
		rc = EXIT_INTERRUPTED;
		snprintf(err, errlen, "interrupted during %s", v->name);
	}
	/* The library's threads start and end with the variant (the adapter's
	 * init and fini), so their whole CPU clock belongs to it. */
	uint64_t lib_cpu = r.adapter_up ? wakes_lib_cpu_ns(e->wakes) : 0;
	lib_cpu = lib_cpu > setup_lib_cpu ? lib_cpu - setup_lib_cpu : 0;
	if (r.window_done)
		progress(e, vi, t0, clock_mono_ns(), 1);
	uint64_t foreign = r.backend ? backend_foreign(r.backend) : 0;
	if (r.window_done && v->stack == STACK_REPLAY)
		for (size_t f = 0; f < sc->nfleets; f++) {
			struct wakes_replay wr = wakes_replay(e->wakes, f);
			results_variant_replay(e->res, f, &(struct results_replay){ .ready = wr.ready, .failures = wr.failures,
				.device = wr.device, .seq = wr.seq, .chunks = wr.chunks, .packets_up = wr.packets_up,
				.packets_down = wr.packets_down, .replayed = wakes_replayed(e->wakes) }, wr.why);
		}
	if (r.adapter_up) {
		wakes_close_persistent(e->wakes); /* connection: persistent: the devices' kept connections */
		ops->fini();
		wakes_end(e->wakes);
	}
	backend_stop(r.backend);
	if (r.stack_up) {
		const struct procstat_totals *bt = stack_stop(e->stack);
		if (bt)
			results_variant_broker(e->res, &(struct results_server_cost){ .window_s = bt->window_s,
				.cpu_user_ms = bt->cpu_user_ms, .cpu_sys_ms = bt->cpu_sys_ms, .rss_peak_kib = bt->rss_peak_kib,
				.rss_mean_kib = bt->rss_mean_kib, .rss_first_kib = bt->rss_first_kib, .samples = bt->samples,
				.processes = bt->max_procs });
	} else {
		stack_stop(e->stack); /* a failed start leaves nothing running; this says so */
	}
	/* the servers are gone: nothing talks to the link any more */
	if (r.link)
		links_close(e, &r);
	/* An interrupted variant says so, however far it got. */
	if (r.window_done || rc == EXIT_INTERRUPTED)
		results_variant_end(e->res, &r.msgs, &r.cmds, &r.devices, foreign, lib_cpu, clock_thread_cpu_ns() - engine_cpu0,
		                    window_s, rc == EXIT_INTERRUPTED);
	sched_destroy(r.sched);
	tls_profile_destroy(r.tlsp);
	free(r.msgs.r);
	free(r.cmds.r);
	device_table_destroy(&r.devices);
	return rc;
}

int engine_run(const struct scenario *sc, const struct engine_opts *o, char *rundir, size_t rundir_len, char *err,
               size_t errlen)
{
	/* the servers a caller already runs (dormant bench's broker) are not ours to stop */
	struct engine e = { .sc = sc, .o = o, .servers_before = server_registry_top() };
	int rc = EXIT_INTERNAL;
	/* What dormant creates is its own: run directory, configs, keys, logs. */
	mode_t old_umask = umask(077);
	if (!(e.loop = loop_create(stop_at_once, &e))) {
		snprintf(err, errlen, "engine set-up: %s", strerror(errno));
		goto out;
	}
	enum dormant_err de = rundir_create(sc, o->results_root, e.rundir, sizeof(e.rundir), err, errlen);
	if (de != ERR_OK) {
		rc = exit_for(de);
		goto out;
	}
	snprintf(rundir, rundir_len, "%s", e.rundir);
	if (!(e.res = results_create(e.rundir, sc, err, errlen))) {
		rc = EXIT_IO;
		goto out;
	}
	if (!(e.stack = stack_create(sc, e.rundir, err, errlen)) ||
	    !(e.wakes = wakes_create(e.loop, e.res, err, errlen)))
		goto out;
	if (!(e.modem = modem_create(loop_epfd(e.loop)))) {
		snprintf(err, errlen, "engine set-up: %s", strerror(errno));
		goto out;
	}
	loop_set_ticker(e.loop, modem_wait_ms, modem_run, e.modem);
	server_set_interrupt(interrupted, &e);
	if (scenario_has_links(sc)) {
		/* a namespace a killed run left (its TUNs and routes died with it) */
		char msg[1024];
		if (linkemu_cleanup_stale(msg, sizeof(msg)) != 0 && msg[0])
			fprintf(stderr, "dormant: %s\n", msg);
	}

	rc = EXIT_OK;
	for (uint32_t vi = 0; vi < sc->nvariants && rc == EXIT_OK; vi++)
		rc = run_variant(&e, vi, err, errlen);
	char ferr[4400];
	if (results_finish(e.res, stdout, ferr, sizeof(ferr)) != 0 && rc == EXIT_OK) {
		snprintf(err, errlen, "%s", ferr);
		rc = EXIT_IO;
	}
out:
	server_set_interrupt(NULL, NULL);
	server_stop_newer(e.servers_before);
	stack_destroy(e.stack);
	wakes_destroy(e.wakes);
	modem_destroy(e.modem);
	results_destroy(e.res);
	loop_destroy(e.loop);
	umask(old_umask);
	return rc;
}
