/* sched.h: when each device wakes.
 *
 * Device d (global id) of a fleet with period P and count N, at index j
 * within its fleet, has its nominal wake k at  offset_j + k*P  where
 * offset_j = j*P/N, so a fleet's wakes are spread evenly over the period and
 * the broker sees steady load instead of a swarm. The wake actually starts at
 * nominal + U[0, jitter), where U is drawn from a hash of (seed, device, k):
 * the same seed gives the same schedule for every variant and every run, and
 * the schedule does not depend on the order in which wakes are taken.
 * Only wakes whose start time is below the scenario duration are scheduled.
 *
 * The scheduler hands wakes out in time order. It knows nothing about
 * execution: a device whose previous wake is still running when the next is
 * due is the engine's business (it starts the wake late and records the lag).
 *
 * Ownership: sched_create() returns a scheduler the caller always releases
 * with sched_destroy() (NULL accepted). It keeps a pointer to the scenario,
 * which must outlive it.
 */
#ifndef DORMANT_SCHED_H
#define DORMANT_SCHED_H

#include <stdint.h>

#include "scenario.h"

struct sched;

struct sched_wake {
	uint32_t device;   /* global device id, 0..ndevices-1 */
	uint32_t fleet;    /* index into scenario->fleets */
	uint32_t seq;      /* this device's wake number k, from 0 */
	uint64_t due_us;   /* start time relative to the start of the measurement window */
};

struct sched *sched_create(const struct scenario *s);
void sched_destroy(struct sched *sc);
/* Due time of the next wake, UINT64_MAX when none is left. */
uint64_t sched_peek(const struct sched *sc);
/* What the schedule keeps per device: one heap entry. */
size_t sched_bytes_per_device(void);
/* Takes the next wake in time order (ties: lower device id first). Returns 1, or 0 when none is left. */
int sched_next(struct sched *sc, struct sched_wake *out);
/* The plan's totals, in closed form: one step per device, never one per
 * wake (a week of 100,000 devices every 100 ms is 6e12 wakes), so they are
 * cheap enough for scenario_load() to bound them.
 *
 * Wakes a variant of S schedules in its window (what sched_next hands out in total). */
uint64_t sched_expected_wakes(const struct scenario *s);
/* Messages those wakes send (each fleet's messages_per_wake per wake). */
uint64_t sched_expected_messages(const struct scenario *s);
/* Commands the backend sends in the window: device j of a fleet of N
 * waking every W, with command_every C, gets one at j*W/N + W/2 + i*C for
 * every i that falls in the window (half a wake period after its slots). */
uint64_t sched_expected_commands(const struct scenario *s);
/* The same for fleet FLEET (an index into s->fleets) alone. */
uint64_t sched_fleet_wakes(const struct scenario *s, size_t fleet);
uint64_t sched_fleet_commands(const struct scenario *s, size_t fleet);
/* When the first command of device J (index within fleet F) is due. */
uint64_t sched_command_first(const struct fleet *f, uint32_t j);
/* The start time of wake K of device DEVICE (global id) relative to the window. */
uint64_t sched_due(const struct scenario *s, uint32_t device, uint32_t k);

#endif
