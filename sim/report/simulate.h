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
 *   per-wake:   per period  = the variant's mean wake (energy, radio time, bytes)
 *   persistent: per period  = its mean wake on the kept connection
 *                             + floor((P - wake) / keepalive) measured keep-alives
 *                             (energy_kept_period; bytes the same way)
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
};

enum dormant_err simulate_run(const struct simulate_opts *o, FILE *out, char *err, size_t errlen);

#endif
