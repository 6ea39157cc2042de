/* simulate.h: `dormant simulate`, measured wakes carried to a deployment.
 *
 * simulate_run() reads a deployment file (sim/core/deploy.h) and one or
 * more run directories, and costs every variant that ran on the
 * deployment's link (by the link's name) as that deployment's devices
 * would pay it, over a year (or --for DURATION): per device its energy, battery life,
 * radio-on time and IP bytes each way (and their price when the deployment
 * gives one); for the fleet its wakes per second, connections opened per
 * second and the broker's CPU (cores) at that rate. The arithmetic is
 * closed-form, so a million devices cost no more than one:
 *
 *   per-wake:   per period  = the variant's mean wake (energy, radio time, bytes);
 *                             with TLS resumption its mean resumed wake (each
 *                             device's one full handshake left out)
 *   persistent: per period  = its mean wake on the kept connection
 *                             + floor((P - wake) / keepalive) measured keep-alives
 *                             (energy_kept_period; bytes the same way)
 *               listening:    + commands_per_day x P / 86400 measured commands
 *                             pushed in a sleep; its floor the link's
 *                             listening one (listen_uw), not sleep_uw
 *   per device and year     = periods a year x per period, + the sleep floor
 *   battery years           = energy_battery_years (sim/core/energy.h)
 *
 * The band beside the battery life is the wake-to-wake spread: the same
 * with the variant's p50 and p99 wake energy instead of the mean. Figures
 * are the measured wake's: a deployment whose payload or messages per wake
 * differ from the run's gets a note saying so, not a scaled figure.
 * Every figure names the run directory and variant it came from.
 *
 * Returns ERR_OK; ERR_SCENARIO for a bad deployment (its one-line message);
 * ERR_USAGE when a run directory is not one, or no variant of any ran on
 * the deployment's link; ERR_IO, ERR_NOMEM. ERR holds one line.
 */
#ifndef DORMANT_SIMULATE_H
#define DORMANT_SIMULATE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "error.h"

struct simulate_opts {
	const char *deployment;
	const char *const *rundirs;
	size_t nruns;
	uint64_t for_us;       /* 0: a year (365 days) */
	int json;
	const char *outdir;    /* recommend: where its figures and pages go (NULL: RUN_DIR/recommend/NAME) */
};

enum dormant_err simulate_run(const struct simulate_opts *o, FILE *out, char *err, size_t errlen);

/* ---- the candidates themselves, for recommend ---- */

#include "deploy.h"

struct rundata;
struct rd_variant;

/* One candidate: a measured variant costed for the deployment (per device). */
struct sim_cand {
	struct rundata *rd;
	struct rd_variant *v;
	const char *rundir, *variant;    /* where its figures came from */
	const char *protocol, *tls, *resume;
	int client_cert;                 /* the variant's devices presented a certificate */
	int kept;                        /* connection: persistent */
	int usable;                      /* 0: could not be costed (note says why) */
	double period_mj, period_on_ms;  /* per wake period of one device */
	double p50_mj, p99_mj;           /* the same with the p50 / p99 wake */
	double up_b, down_b;             /* IP bytes per period */
	double years, years_p50, years_p99;
	double day_mj;
	double periods;                  /* wake periods in the span */
	double broker_ms_per_wake;       /* NaN: not measured (external broker), or at too low a rate */
	double measured_rate;            /* the run's wakes per second, where the broker's CPU was measured */
	uint64_t wakes;                  /* ok wakes measured */
	uint64_t steady;                 /* resumed TLS: the resumed wakes its figures are from (0: all ok wakes) */
	double heap_kib;                 /* the TLS context's measured heap peak, max over wakes (NaN: none) */
	double payload_b;                /* the payload its figures are for (NaN: unknown) */
	double msgs;                     /* the messages a wake the run sent (NaN: unknown) */
	int modelled;                    /* 1: scaled to a payload the run did not send */
	int listening;                   /* kept, with commands pushed down it: the device listened through its sleeps */
	double sleep_uw;                 /* its floor between wakes: the deployment's, or the link's listening one */
	double cmd_delay_p99_ms;         /* listening: the measured command delay, issue to receipt, p99 (NaN: none) */
	double cmd_mj;                   /* listening: what a command pushed in a sleep cost (NaN: none measured) */
	char note[200];
};

struct sim_set {
	struct deployment d;
	double span_s;
	struct rundata **rds;
	size_t nruns;
	struct sim_cand *c;
	size_t n;
};

/* The deployment and every variant of the runs on its link, costed
 * (FOR_US 0: a year). Errors as simulate_run(); *OUT is freed with sim_free(). */
enum dormant_err sim_load(const char *deployment, const char *const *rundirs, size_t nruns, uint64_t for_us,
                          struct sim_set **out, char *err, size_t errlen);
/* The same, with no run (NRUNS 0) or none on the deployment's link allowed: SET->n 0. */
enum dormant_err sim_load_any(const char *deployment, const char *const *rundirs, size_t nruns,
                              struct sim_set **out, char *err, size_t errlen);
void sim_free(struct sim_set *set);

/* Variant V of run RD costed for deployment D (its period, link, battery)
 * over SPAN_S into *C: 0, or -1 when it cannot be (C->note says why).
 * PAYLOAD_B < 0: the measured wake's figures; else the wake modelled with
 * each message PAYLOAD_B bytes (C->modelled): the difference in bytes and
 * in TCP segments goes up at the link's rate, at TX power. For sweeps. */
int sim_cost(const struct deployment *d, struct rundata *rd, struct rd_variant *v, double span_s, double payload_b,
             struct sim_cand *c);

#endif
