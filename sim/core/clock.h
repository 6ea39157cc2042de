/* clock.h: the clocks dormant measures with.
 * Intervals always use CLOCK_MONOTONIC (clock_mono_us/ns). Wall-clock time
 * (clock_wall_us) is only a label: the start of a wake, so a row can be
 * matched to a packet capture. */
#ifndef DORMANT_CLOCK_H
#define DORMANT_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t clock_ns_of(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
static inline uint64_t clock_mono_ns(void) { return clock_ns_of(CLOCK_MONOTONIC); }
static inline uint64_t clock_mono_us(void) { return clock_mono_ns() / 1000u; }
static inline uint64_t clock_wall_us(void) { return clock_ns_of(CLOCK_REALTIME) / 1000u; }
static inline uint64_t clock_thread_cpu_ns(void) { return clock_ns_of(CLOCK_THREAD_CPUTIME_ID); }
static inline uint64_t clock_process_cpu_ns(void) { return clock_ns_of(CLOCK_PROCESS_CPUTIME_ID); }

/* "2026-12-01T08:03:28Z"-style UTC label for file names: 20261201T080328Z */
void clock_utc_label(char *buf, unsigned len);

#endif
