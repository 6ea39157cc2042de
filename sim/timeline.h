/* timeline.h: the timed events of a variant's window, and the one next
 * deadline the engine's loop waits on.
 *
 * A timeline is a list of streams; each stream knows when its next event
 * is due (CLOCK_MONOTONIC ns) and fires what is due. Today's streams: the
 * fleet's wake schedule (engine.c) and the backend's command sends (below).
 * Faults (a broker restart or pause, a certificate rotation) and link
 * outages are streams of their own when they come: a stream, not an edit
 * of the loop.
 *
 * Ownership: the caller owns the timeline and its streams (embedded);
 * timeline_add links a stream in, nothing is allocated. Engine thread.
 */
#ifndef DORMANT_TIMELINE_H
#define DORMANT_TIMELINE_H

#include <stdint.h>
#include <sys/queue.h>

#include "ledger.h"
#include "scenario.h"

struct backend;

struct timeline_stream {
	/* When its next event is due; UINT64_MAX when it has none left. */
	uint64_t (*next_ns)(struct timeline_stream *s);
	/* Fires every event of its due at or before NOW. */
	void (*fire)(struct timeline_stream *s, uint64_t now);
	SLIST_ENTRY(timeline_stream) link;
};

struct timeline {
	SLIST_HEAD(, timeline_stream) streams;
};

void timeline_init(struct timeline *t);
void timeline_add(struct timeline *t, struct timeline_stream *s);
/* The earliest event of all streams; UINT64_MAX when none is left. */
uint64_t timeline_next_ns(struct timeline *t);
/* Fires, stream by stream, everything due at or before NOW. */
void timeline_run(struct timeline *t, uint64_t now);
/* Milliseconds from NOW to the next event, rounded up, at most CAP_MS. */
int timeline_wait_ms(struct timeline *t, uint64_t now, int cap_ms);

/* The backend's commands of a window, in due order: device j of a fleet
 * of N waking every W gets one every C from j*W/N + W/2 on, half a wake
 * period after its wake slot (see README "Downlink"). */
struct timeline_commands {
	struct timeline_stream s;
	struct cmd_table *cmds;
	uint32_t next;            /* the next one to send */
	uint64_t t0_ns;           /* the window's start */
	struct backend *backend;
};

/* Fills CMDS (its r[] allocated here, freed by the caller) with the plan
 * of SC's window for variant VI. 0, or -1 when out of memory. */
int timeline_plan_commands(struct cmd_table *cmds, const struct scenario *sc, uint32_t vi);
/* A stream sending CMDS through BACKEND from T0_NS on. */
void timeline_commands_init(struct timeline_commands *c, struct cmd_table *cmds, struct backend *backend,
                            uint64_t t0_ns);

#endif
