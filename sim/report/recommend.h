/* recommend.h: `dormant recommend`, a ranked and explained choice for a deployment.
 *
 * recommend_run() costs every measured variant on the deployment's link as
 * simulate does (simulate.h, sim_load), rules candidates out by the
 * deployment's constraints, each with its reason, and ranks the rest by
 * battery life (then by IP bytes a year):
 *
 *   encryption: required      a plaintext variant is out
 *   ports                     a variant whose server port (MQTT 1883/8883,
 *                             AMQP 5672/5671, HTTP 80/443) the site cannot
 *                             reach is out
 *   client_auth: certificate  only variants measured with a client
 *                             certificate (client_cert=true); psk: tls=psk
 *   command_deadline          a per-wake device takes a command at its next
 *                             wake: out when the period is longer than the
 *                             deadline; a kept connection that listens for
 *                             pushed commands is out when its measured p99
 *                             command delay (the listen wait included) is
 *                             longer; one measured without commands is out
 *                             whenever the deployment sends some
 *   wake_every                a per-wake variant whose wake keeps the radio
 *                             on (attach and tail included) for the period or
 *                             longer is out: it could never sleep
 *   ram_budget                out when the variant's measured TLS heap peak
 *                             exceeds it (the library's own RAM is not
 *                             measured: said so)
 *
 * It prints the ranked table, the winner and the runner-up with the margin
 * and whether it exceeds the wake-to-wake spread, a paragraph of why (the
 * link's attach and tail that every candidate pays, and what is left that
 * they differ by), and for every figure the run and variant it came from.
 * The same as JSON with --json. Errors as simulate_run().
 */
#ifndef DORMANT_RECOMMEND_H
#define DORMANT_RECOMMEND_H

#include <stddef.h>
#include <stdio.h>

#include "error.h"
#include "simulate.h"

enum dormant_err recommend_run(const struct simulate_opts *o, FILE *out, char *err, size_t errlen);

/* Why C is ruled out for D (into WHY), or 0 when it is not. Pure: for tests and the report. */
int recommend_rule_out(const struct deployment *d, const struct sim_cand *c, char *why, size_t n);
/* The server port a variant of PROTOCOL with TLS mode TLS ("none": plaintext) uses. */
int recommend_port(const char *protocol, const char *tls);

#endif
