/* wake.h: one awake period of one device, as the engine and the protocol
 * adapters share it.
 *
 * The engine owns every struct wake: it creates it when the wake is due,
 * hands it to the adapter's start(), and frees it after the row was written.
 * Adapters report progress with the wake_* functions below, which are safe
 * to call from any thread (library callbacks run on the library's threads).
 */
#ifndef DORMANT_WAKE_H
#define DORMANT_WAKE_H

#include <stdint.h>

#include "error.h"
#include "ledger.h"
#include "modem.h"
#include "scenario.h"

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
	uint64_t sched_lag_us;    /* start_ns - due: the device or the concurrency limit was busy */
	struct modem_conn *mc;    /* the modem endpoint the library must use */
	uint16_t modem_port;      /* ... on 127.0.0.1 */
	void *adapter;            /* the adapter's per-wake state */

	/* engine-private bookkeeping */
	struct engine *eng;
	struct wake *next;        /* the engine list it is on: active, deferred or rows */
	struct wake *next_done;   /* the done queue from library threads (while still on active) */
	uint64_t end_ns;          /* both adapter and modem done */
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
	int done_flag;            /* wake_adapter_done() was called (atomic) */
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
/* The library's thread that called this counts as a client thread for CPU accounting. */
void wake_note_thread(struct wake *w);

#endif
