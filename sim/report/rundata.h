/* rundata.h: a run directory read back, for plots, the report and compare.
 *
 * wakes.csv is read by column name, through the one column table
 * (sim/core/columns.h) the writer uses too: columns it does not know are
 * ignored and columns a run lacks are absent (the has_* flags say so), so a
 * run written by an older or newer dormant still reads. summary.json adds what the rows
 * cannot say (expected wakes, messages lost and duplicated); it may be
 * missing (an interrupted run) and then those figures are NaN.
 *
 * Distributions and means are over the wakes whose outcome is "ok", with
 * the percentile rule of stats.c (nearest rank), so they equal summary.json.
 *
 * Ownership: rundata_load returns a struct the caller frees with
 * rundata_free; everything it points to belongs to it.
 */
#ifndef DORMANT_RUNDATA_H
#define DORMANT_RUNDATA_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "json.h"
#include "stats.h"

#define RD_PHASES 6
#define RD_MAX_KINDS 32

/* The phases of wakes.csv's <counter>_<phase> columns, in wire order. */
extern const char *const rd_phase_names[RD_PHASES];

/* Per-phase counters, as <counter>_<phase> in wakes.csv. */
enum rd_counter {
	RD_PLAIN_UP, RD_PLAIN_DOWN, RD_STREAM_UP, RD_STREAM_DOWN, RD_IP_UP, RD_IP_DOWN, RD_SEGS_UP, RD_SEGS_DOWN,
	RD_COUNTERS
};
extern const char *const rd_counter_names[RD_COUNTERS];

/* Whole-wake byte totals. */
enum rd_total {
	RD_T_PLAIN_UP, RD_T_PLAIN_DOWN, RD_T_STREAM_UP, RD_T_STREAM_DOWN,
	RD_T_IP_UP, RD_T_IP_DOWN, RD_T_SEGS_UP, RD_T_SEGS_DOWN, RD_TOTALS
};
extern const char *const rd_total_names[RD_TOTALS];

/* One ok wake, for readers that match it with another file (packets.csv). */
struct rd_wake {
	int64_t device, seq;
	double wake_ms;      /* t_wake_us / 1000 */
	double energy_mj;    /* NaN: no radio figures (no link) */
};

/* Handshakes of one kind: [0] full, [1] resumed. */
struct rd_handshakes {
	uint64_t n;
	double ip_up, ip_down;          /* sums of ip_up_tls, ip_down_tls */
	double rec_up, rec_down;        /* sums of stream_up_tls, stream_down_tls: TLS record bytes */
	struct samples t_ms;            /* t_tls_us / 1000 */
	struct samples cpu_us;          /* tls_hs_cpu_us (else tls_cpu_us): the handshake's CPU */
	struct samples heap_kib;        /* tls_heap_peak / 1024 */
	struct samples session_b;       /* tls_session_bytes */
	/* the whole wakes of this kind: their energy and radio time (behind a
	 * link) and IP bytes, for the steady state of a resumed session */
	struct samples energy_mj, radio_on_ms;
	double wake_ip_up, wake_ip_down;
};

#define RD_BATTERY_PERIODS 4
extern const char *const rd_battery_periods[RD_BATTERY_PERIODS]; /* "1m" ... as summary.json names them */

struct rd_variant {
	char name[128], protocol[32], broker[32], tls[32], resume[32], qos[24];
	char link[32];                           /* the link column of its first row; "" on loopback */
	struct rd_wake *wakes;                   /* its ok wakes (file order until rundata_wake sorts them) */
	int wakes_sorted;
	size_t nwakes;
	uint64_t rows, ok, failed;
	uint64_t ip_lower_bound;                 /* wakes whose ip_* may fall short of the wire (ip_lower_bound=1) */
	uint64_t ip_rst_unsure;                  /* wakes whose ip_down may be one bare RST off (ip_rst_unsure=1) */
	uint64_t fails[RD_MAX_KINDS];            /* by rundata.kinds */
	char fail_example[RD_MAX_KINDS][160];    /* first error_detail of each kind */
	struct samples wake_ms, acked_ms, e2e_ms, cpu_us;
	struct samples heap_kib;                 /* the heap column (rundata.heap_col), KiB */
	double total[RD_TOTALS];                 /* sums over ok wakes that have the value */
	uint64_t total_n[RD_TOTALS];
	double ph[RD_PHASES][RD_COUNTERS];       /* sums over ok wakes */
	struct rd_handshakes hs[2];
	uint64_t resume_refused;
	uint64_t commands;                       /* commands received, over ok wakes */
	struct samples cmd_delay_ms;             /* cmd_delay_us / 1000, wakes that got one */
	/* from summary.json; NaN when absent */
	double expected, late, sent, received, lost, dups, unacked, lib_us_per_wake;
	double cmd_issued, polls;                /* commands sent by the backend; wakes that checked */
	double cmd_pending, cmd_dropped;         /* still queued at the end; dropped by the broker (no session) */
	double sessions_before;                  /* sessions made before the window (NaN: none made) */
	int interrupted;
	/* the schedule (summary.json schedule): the limit is "none" when it was kept */
	double not_started, achieved_per_s, scheduled_per_s, lag_p99_ms;
	char limit[16], sched_why[520];
	/* behind a link: per ok wake, and battery life (summary.json radio.fleets[0]) */
	struct samples energy_mj, radio_on_ms;
	double years_at[RD_BATTERY_PERIODS];     /* waking every 1m, 15m, 1h, 1d; NaN when absent */
};

enum rd_col_flag {
	RD_HAS_E2E = 1 << 0,
	RD_HAS_CPU = 1 << 1,
	RD_HAS_HEAP = 1 << 2,
	RD_HAS_RESUMED = 1 << 3,
	RD_HAS_REFUSED = 1 << 4,
	RD_HAS_T_TLS = 1 << 5,
	RD_HAS_TLS_CPU = 1 << 6,
	RD_HAS_PHASES = 1 << 7,
	RD_HAS_LOWER_BOUND = 1 << 8,
};

struct rundata {
	char dir[4096];
	char name[128];                 /* scenario name (summary.json, else the directory) */
	struct rd_variant *v;
	size_t nv;
	char kinds[RD_MAX_KINDS][32];   /* error kinds seen, in order of appearance */
	size_t nkinds;
	unsigned has;                   /* rd_col_flag */
	int any_tls;                    /* a variant with tls other than none */
	char heap_col[64];              /* tls_heap_peak (the TLS context's heap); "" when absent */
	uint64_t rows;
	json_t *summary, *env;          /* NULL when missing or unreadable ... */
	char summary_err[512], env_err[512]; /* ... and why: "PATH:LINE:COL: message" for a syntax error */
	char *scenario_text, *env_text; /* NULL when missing */
};

/* ERR_USAGE: DIR has no wakes.csv (not a run directory); ERR_IO: unreadable;
 * ERR_NOMEM. ERR holds one line. */
enum dormant_err rundata_load(const char *dir, struct rundata **out, char *err, size_t errlen);
void rundata_free(struct rundata *rd);

struct rd_variant *rundata_variant(struct rundata *rd, const char *name);
/* The ok wake (DEVICE, SEQ) of V, or NULL. The first call sorts V->wakes. */
const struct rd_wake *rundata_wake(struct rd_variant *v, int64_t device, int64_t seq);
/* Mean of a per-phase counter over ok wakes, of a total over ok wakes with
 * a value in its column; NaN when there were none. */
double rd_phase_mean(const struct rd_variant *v, int phase, enum rd_counter c);
double rd_total_mean(const struct rd_variant *v, enum rd_total t);

#endif
