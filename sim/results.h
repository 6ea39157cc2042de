/* results.h: the run directory's files.
 *
 *   wakes.csv     one row per wake, success or failure; its columns are
 *                 sim/core/columns.h's table, which the analysis reads by
 *   summary.json  per variant: counts, failures by kind, percentiles, mean bytes
 *   packets.csv   with links only: every wake's packets at its radio, the
 *                 flight trace (its columns: sim/core/trace.h)
 *   (scenario.yaml, env.json and servers/ are written by the engine)
 *
 * Each row is formatted whole in memory and written with one write(2) as
 * its wake is accounted, so an interrupted run keeps every row it has, and
 * a full disk leaves the file ending in a whole row: a row that did not fit
 * is cut off again, no row is written after it, and results_finish() says
 * so. packets.csv is written the same way, a wake's rows as one block. results_finish() writes summary.json through a temporary file and
 * rename() (the temporary file is removed when that fails), so it is never
 * half-written, and prints the summary table.
 *
 * Ownership: results_create/results_destroy.
 */
#ifndef DORMANT_RESULTS_H
#define DORMANT_RESULTS_H

#include <stdint.h>
#include <stdio.h>

#include "modem.h"
#include "scenario.h"
#include "wake.h"

struct results;

struct device_table;

struct results *results_create(const char *dir, const struct scenario *sc, char *err, size_t errlen);
void results_destroy(struct results *r);

void results_variant_begin(struct results *r, uint32_t vi, uint64_t expected_wakes);
/* Server-side facts for the variant's summary. */
void results_variant_server(struct results *r, const char *name, const char *endpoint, double start_ms);
/* TLS set-up of the variant: suite, resumption offered, verification, a remark, profile build time. */
void results_variant_tls(struct results *r, const char *suite, enum resume_mode offered, int verify, const char *note,
                         double init_ms);
/* The server's CPU and RSS over the variant, as the broker sampler measured them. */
struct results_server_cost {
	double window_s;                 /* from start to the final sample */
	double cpu_user_ms, cpu_sys_ms;  /* the whole process tree, in the window */
	uint64_t rss_peak_kib, rss_mean_kib, rss_first_kib;
	int samples;                     /* 0: nothing was sampled, and the summary has no server_cost */
	int processes;                   /* most processes seen in one sample */
};
void results_variant_broker(struct results *r, const struct results_server_cost *t);
/* One row; C is the wake's modem counts (NULL when the wake never got a
 * modem). 0, or -1 when the row could not be written (results_finish tells
 * why; later rows are not written either). */
int results_row(struct results *r, const struct wake *w, const struct modem_counts *c);
/* W's flight trace, N packets P, to packets.csv (DELAY_US: its link's
 * one-way delay for the device; SETTLE_US: the modem's wait after the
 * connection's last packet); nothing without links or packets. 0, or
 * -1 when the block could not be written (results_finish tells why; later
 * blocks are not written either). */
struct trace_packet;
int results_packets(struct results *r, const struct wake *w, int64_t delay_us, int64_t settle_us,
                    const struct trace_packet *p, size_t n);
/* Closes the variant: message accounting from T, CPU totals. */
/* The set-up connections before the window that made the devices' sessions
 * (OK made, FAILED not; WHY the first failure), how long they took and the
 * library threads' CPU meanwhile; none of it is in the window's figures. */
void results_variant_sessions(struct results *r, uint32_t ok, uint32_t failed, const char *why, double ms,
                              double lib_cpu_ms);
/* dormant's own memory around the running variant's window: its RSS
 * before the variant (nothing of it allocated yet) and after the window
 * (every row written, every device asleep; malloc_trim'd first, so freed
 * memory is not counted), and what it knows it keeps per device. */
struct results_memory {
	uint64_t rss_before_kib, rss_after_kib;
	uint32_t devices;
	size_t state_per_device;   /* B: device, schedule entry, TLS record */
	uint64_t sessions, session_bytes; /* TLS sessions stored at the end, serialized */
	uint64_t records_bytes;    /* the run's per-wake and per-message records (for percentiles and the ledger) */
};
void results_variant_memory(struct results *r, const struct results_memory *m);
/* stack: replay: fleet FLEET's recording in the running variant (clients/replay.h); WHY: the last failed try's reason. */
struct results_replay {
	int ready;
	uint32_t failures, device, seq, chunks, packets_up, packets_down;
	uint64_t replayed;           /* wakes of the variant replayed (every fleet) */
};
void results_variant_replay(struct results *r, size_t fleet, const struct results_replay *rp, const char *why);
/* Bytes the running variant's per-wake samples hold now (their capacity). */
uint64_t results_variant_records_bytes(const struct results *r);
/* The whole machine's CPU over the running variant's window: the share of
 * all cores busy, and the share the hypervisor stole (0..1 each). */
void results_variant_machine(struct results *r, double busy, double steal);
/* overrun: stop: N wakes of the running variant were due in its window
 * and never started; they have no row. */
void results_variant_not_started(struct results *r, uint64_t n);
/* The variant's end: its messages T, its commands CT, judged against the
 * sessions of its devices DEV (a command issued before its device's session
 * began and not delivered was dropped by the broker). */
void results_variant_end(struct results *r, const struct msg_table *t, const struct cmd_table *ct,
                         const struct device_table *dev, uint64_t foreign, uint64_t lib_cpu_ns, uint64_t engine_cpu_ns,
                         double window_s, int interrupted);
/* Writes summary.json and prints the table to OUT (may be NULL). Returns 0,
 * or -1 with ERR naming the file: wakes.csv when rows could not be written
 * (how many, and why), else summary.json. */
int results_finish(struct results *r, FILE *out, char *err, size_t errlen);

#endif
