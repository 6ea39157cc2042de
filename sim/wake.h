/* wake.h: one awake period of one device, as the engine and the protocol
 * adapters share it, and the set of a variant's wakes (wake.c).
 *
 * The wake set owns every struct wake: it creates it when the wake is due,
 * hands it to the adapter's start(), and frees it after the row was written.
 * Adapters report progress with the wake_* functions below, which are safe
 * to call from any thread (library callbacks run on the library's threads).
 */
#ifndef DORMANT_WAKE_H
#define DORMANT_WAKE_H

#include <stdint.h>
#include <sys/queue.h>

#include "energy.h"
#include "error.h"
#include "ledger.h"
#include "modem.h"
#include "scenario.h"

struct wakes;
struct device;
struct wake;

/* connection: persistent. The connection a device keeps through its
 * sleeps: the modem connection (opened at its first wake, or when the last
 * one was lost) and the adapter's handle on it. Owned by the wake set
 * (wake.c), hung on the device; the adapter owns what ADAPTER points to
 * and releases it in its drop(). */
struct persist {
	struct wakes *set;
	uint32_t device;
	struct modem_conn *mc;
	uint16_t modem_port;      /* the modem endpoint the library connected to, on 127.0.0.1 */
	void *adapter;            /* the adapter's handle (its library client), NULL until start() made one */
	struct wake *w;           /* the wake using it now; NULL while the device sleeps (engine thread) */
	_Atomic int lost;         /* the library or the modem saw it end (any thread: wake_persist_lost) */
	char lost_why[120];       /* why, written once by whoever set lost first */
	uint64_t since_ns;        /* start of the period being counted: the last wake's end (or the connect) */
	uint64_t wake_start_ns;   /* the last wake's start (its end is since_ns); 0: none yet */
	_Atomic uint32_t sleep_cmds;      /* downlink: commands that came while the device slept (wake_persist_command) */
	_Atomic uint64_t sleep_cmd_delay_ns; /* ... the longest any of them waited */
};

/* Why a due wake did not start at once (the rest of its lag). */
enum wake_wait {
	WAIT_NONE,                /* started as soon as the loop saw it due */
	WAIT_DEVICE,              /* its device's previous wake was still running */
	WAIT_SLOT,                /* concurrency wakes were in flight */
	WAIT_RECORD,              /* stack: replay: its fleet's recording wake was still running */
};

struct wake {
	/* set by the engine before start() */
	const struct scenario *sc;
	const struct fleet *fleet;
	const struct variant *variant;
	uint32_t variant_index;
	uint32_t device, seq;
	int qos;
	uint32_t nmsg;            /* messages this wake sends */
	uint32_t msg_base;        /* index of its first message in the message table */
	struct msg_table *msgs;
	struct cmd_table *cmds;
	uint64_t due_us;          /* scheduled start, relative to the window */
	uint64_t start_ns;        /* CLOCK_MONOTONIC when start() was called */
	uint64_t start_wall_us;   /* label only */
	uint64_t sched_lag_us;    /* start_ns - due: the engine's loop, the device or the concurrency limit was busy */
	uint64_t fire_lag_us;     /* ... of it, how late the loop saw it due (the rest it waited, deferred) */
	int start_wait;           /* enum wake_wait: why it waited once due */
	int setup;                /* a set-up connection before the window (adapter prepare()), not a wake:
	                           * no messages (nmsg 0), no row, in none of the window's figures */
	struct modem_conn *mc;    /* the modem endpoint the library must use */
	uint16_t modem_port;      /* ... on 127.0.0.1 */
	void *adapter;            /* the adapter's per-wake state */
	const struct adapter_ops *ops; /* who runs it: the variant's adapter, or the replay (stack: replay) */
	struct replay_rec *replay;     /* the replayed recording; NULL: the library runs it */
	int recording;            /* stack: replay: the library runs it and the modem records it */

	/* the wake set's bookkeeping (wake.c) */
	struct wakes *set;
	struct device *dev;
	TAILQ_ENTRY(wake) link;   /* the list it is on: active, deferred, rows or zombies */
	SLIST_ENTRY(wake) done_link; /* the done queue from library threads (while still on active) */
	uint64_t end_ns;          /* both adapter and modem done (behind a link: the wire, not the settle time) */
	uint64_t accounted_ns;    /* when it was, settle time included: its packets are all before */
	uint64_t deadline_ns;
	int adapter_done, modem_done, timed_out, reaped;
	uint64_t cpu_ns;          /* client CPU while this wake ran alone */
	uint64_t cpu_start_ns;    /* library threads' CPU when it started */
	uint64_t cpu_main_ns;     /* adapter calls on the engine thread */
	int alone;                /* no other wake overlapped this one */
	int nth_at_start;         /* library threads known when it started */
	uint64_t done_at_ns;      /* when finished; rows wait for the backend a little */

	/* written by the adapter (any thread), read by the engine after done */
	enum dormant_err err;
	char detail[160];
	uint32_t sent, acked;
	uint64_t lib_done_ns;     /* adapter's last callback */
	uint64_t acked_ns;        /* last message acknowledged (QoS 0: written) */
	uint32_t commands;        /* commands this wake received */
	uint64_t cmd_delay_ns;    /* the longest a received command waited for the device */
	uint32_t sleep_commands;  /* persistent: commands pushed to it in the sleep before it (in cmd_delay_ns too) */

	/* connection: persistent (wake.c): the device's kept connection, and
	 * what this wake and the sleep before it took of it */
	struct persist *pc;       /* NULL: per-wake */
	int connected;            /* this wake opened the connection (first wake, or after a loss) */
	int reconnected;          /* ... because the one before was lost; reconnect_why says how */
	char reconnect_why[120];
	struct modem_counts *pcounts; /* the wake's share of the connection (a cut), once the adapter is done */
	struct modem_counts *sleep;   /* the sleep before it: keep-alives and what else crossed; NULL: none */
	uint64_t sleep_ns;        /* that sleep's length */
	int sleep_radio;          /* 1: sleep_energy is set (behind a link) */
	struct energy_result sleep_energy;
	uint64_t nat_drops;       /* behind a link: packets of the device's flows the NAT dropped, wake and sleep */

	/* behind an emulated link: the radio's figures, from its packets (wake.c) */
	int radio;                /* 1: the figures below are set */
	struct energy_result energy;
	uint64_t overhead_up, overhead_down; /* the radio's own headers, B */
};

/* Fills BUF (LEN >= PAYLOAD_MIN bytes) with message K of wake W and stamps
 * its send time: call it right before handing the message to the library. */
void wake_message(struct wake *w, uint32_t k, unsigned char *buf, uint32_t len);
/* Message K was accepted by the library (QoS 0: written) / acknowledged (QoS 1). */
void wake_message_sent(struct wake *w, uint32_t k);
void wake_message_acked(struct wake *w, uint32_t k);
/* The adapter has finished with W (successfully if ERR is ERR_OK). The
 * first failure recorded wins. Any thread; exactly once per wake. */
void wake_adapter_done(struct wake *w, enum dormant_err err, const char *detail);
/* The device received command payload P (LEN bytes). Returns 0 if it is
 * one of the variant's, -1 if it is not a command dormant sent. Any thread. */
int wake_command(struct wake *w, const void *p, size_t len);
/* connection: persistent: the device of PC received command payload P (LEN
 * bytes) on its kept connection while asleep (no wake on it); the next
 * wake's row counts it (sleep_commands). 0, or -1 as wake_command. Any thread. */
int wake_persist_command(struct persist *pc, const void *p, size_t len);
/* The server holds W's device's session from now on (MQTT: its subscription
 * was acknowledged; or CONNACK said a session is present); the first call of
 * a device counts. Commands issued before it and not delivered are counted
 * as dropped by the broker. Any thread. */
void wake_session(struct wake *w);
/* Whether wake_session() was called for W's device (or its server needs none). Any thread. */
int wake_has_session(const struct wake *w);
/* connection: persistent: the library saw the device's kept connection end
 * (WHY: how). The next wake reconnects and says so. Any thread; the first call counts. */
void wake_persist_lost(struct persist *pc, const char *why);
/* The modem figures of W: its share of a persistent connection, or its own connection's; NULL: none. */
const struct modem_counts *wake_counts(const struct wake *w);
/* The library's thread that called this counts as a client thread for CPU accounting. */
void wake_note_thread(struct wake *w);

/* ---------- the engine's side: a variant's wakes (wake.c) ----------
 *
 * The set keeps the wakes of a variant on four lists (sys/queue.h): due
 * but waiting for their device or a slot of `concurrency` (deferred, in
 * due order), in flight (active), finished with their row waiting a
 * little for the backend (rows), and those whose library never reported
 * back (zombies: kept, never freed, so a late callback finds memory). It
 * enforces each wake's deadline and accounts client CPU: the library's
 * threads (seen in callbacks, wake_note_thread) and the adapter's calls on
 * the engine thread, per wake while it ran alone.
 *
 * Ownership: wakes_create/wakes_destroy, for the run; wakes_begin and
 * wakes_end bracket each variant. Engine thread, except the wake_* above.
 */
struct wakes;
struct loop;
struct results;
struct adapter_ops;
struct tls_profile;
struct device_table;
struct sched_wake;

/* What every wake of a variant shares; the pointers must outlive wakes_end. */
struct wakes_variant {
	const struct scenario *sc;
	const struct variant *v;
	uint32_t vi;
	const struct adapter_ops *ops;
	struct modem *modem;
	const struct modem_target *target;
	struct tls_profile *tlsp;       /* NULL for plaintext */
	struct device_table *devices;
	struct msg_table *msgs;
	struct cmd_table *cmds;
	uint64_t t0_ns;                 /* the window's start */
	struct linkemu *link;           /* the devices' emulated links; NULL: loopback */
	const unsigned char *secret;    /* the HTTP ingest's (a replayed device's token); may be NULL */
	size_t secret_len;
};

struct wakes_counts {
	uint64_t started, finished, failed, not_started;
	uint32_t in_flight;
};

/* NULL with ERR filled on failure. */
struct wakes *wakes_create(struct loop *l, struct results *res, char *err, size_t errlen);
void wakes_destroy(struct wakes *ws);
/* A new variant: the library's threads seen so far are forgotten. */
void wakes_begin(struct wakes *ws, const struct wakes_variant *vc);
/* Wake SW is due: start it now, or defer it while its device is awake or
 * every slot is taken. A wake that cannot start is a failed row. */
void wakes_due(struct wakes *ws, const struct sched_wake *sw);
/* overrun: stop, at the window's end: the deferred wakes are dropped,
 * counted as not started (no row; their messages stay unsent). Returns how many. */
uint64_t wakes_stop_window(struct wakes *ws);
/* Starts deferred wakes whose device sleeps, in due order, while slots last. */
void wakes_start_deferred(struct wakes *ws);
/* Aborts wakes past their deadline; turns those whose library never reported back into rows. */
void wakes_check_deadlines(struct wakes *ws);
/* Writes finished rows whose messages reached the backend (or waited long enough); ALL: every one. */
void wakes_flush_rows(struct wakes *ws, int all);
int wakes_idle(const struct wakes *ws);          /* nothing deferred or in flight */
int wakes_rows_waiting(const struct wakes *ws);  /* finished rows not written yet */
/* Before the window: runs the adapter's prepare() for every downlink device
 * of a fleet with session: before-window, on set-up connections through the
 * modem like a wake's (up to `concurrency` at once, each within
 * wake_timeout) that produce no row and count in none of the window's
 * figures; returns when all are done (Ctrl-C aborts them). Returns how many
 * succeeded, sets *FAILED and WHY (the first failure); a device whose
 * set-up failed gets its session at its first wake instead. With an adapter
 * without prepare(), the server queues commands per device anyway: every
 * downlink device's session is marked as begun now. Call after
 * wakes_begin, before the window. */
uint32_t wakes_prepare_sessions(struct wakes *ws, uint32_t *failed, char *why, size_t whylen);
/* connection: persistent: closes every device's kept connection (the
 * adapter disconnects and drops its handle; the modem connection is
 * closed). After the drain, before the adapter's fini(). */
void wakes_close_persistent(struct wakes *ws);
/* Interrupted: aborts every wake in flight (rows say `interrupted`), gives
 * the library up to a few seconds to report back, drops deferred wakes. */
void wakes_interrupt(struct wakes *ws);
/* Writes every row, waiting up to DRAIN_NS for the backend. */
void wakes_drain(struct wakes *ws, uint64_t drain_ns);
/* CPU of the library's threads seen in this variant. */
uint64_t wakes_lib_cpu_ns(struct wakes *ws);
void wakes_end(struct wakes *ws);
struct wakes_counts wakes_counts(const struct wakes *ws);
/* stack: replay: fleet FLEET's recording in this variant (clients/replay.h). */
struct wakes_replay {
	int ready;                      /* recorded: its later wakes were replayed */
	uint32_t failures;              /* recordings that could not be used */
	char why[200];                  /* ... the last one's reason */
	uint32_t device, seq;           /* the recorded wake */
	uint32_t chunks, packets_up, packets_down; /* what it holds */
};
struct wakes_replay wakes_replay(const struct wakes *ws, size_t fleet);
/* Wakes replayed in this variant. */
uint64_t wakes_replayed(const struct wakes *ws);

#endif
