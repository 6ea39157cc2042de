/* measure.h: `dormant recommend --measure`, the runs a deployment needs and
 * its given runs lack, measured by `dormant run` before it recommends.
 *
 * The candidates a deployment needs are per-wake MQTT, AMQP and HTTP on
 * the server ports it can reach, over TLS (ECDSA; plaintext too when
 * encryption is optional; TLS-PSK for MQTT when the devices authenticate
 * by PSK), with a client certificate when they authenticate by one, with
 * a full handshake and with the session resumed; with the deployment's
 * payload, messages a wake, link and command check (downlink when it has
 * commands). A candidate is missing unless some given run measured it on
 * the deployment's link with that payload and those messages.
 *
 * The missing ones become one small scenario, written to
 * ROOT/<deployment>-measure.yaml (its header says where it came from): 2
 * devices, three wakes each (every 30 s on a link whose one-way delay is
 * 100 ms or more, else every 10 s, or the deployment's own period if
 * shorter), which measure_missing() announces with its variants and an
 * estimate of the time, then runs as `dormant run FILE -o ROOT
 * --no-progress` (its summary goes to LOG). Ctrl-C stops that run as it
 * would stop `dormant run` (it keeps its rows); measure_missing then
 * returns ERR_INTERRUPTED.
 *
 * When the deployment's commands have a deadline under its period (no
 * per-wake device meets it), its link can listen (link.h) and MQTT's port
 * is reachable, it also needs a kept MQTT connection that takes pushed
 * commands; unless a given run measured one on its link, a second
 * scenario, ROOT/<deployment>-measure-kept.yaml, measures it (2 devices,
 * six periods of the deployment's, at most 30 s each, a command every 0.7
 * of one), run after the first.
 *
 * Returns ERR_OK with the new run directories in *OUT (n 0: nothing was
 * missing), or the error with one line in ERR (*OUT holds the runs that
 * finished before it).
 */
#ifndef DORMANT_MEASURE_H
#define DORMANT_MEASURE_H

#include <stddef.h>
#include <stdio.h>

#include "error.h"

struct measured {
	char dir[2][4200]; /* the new run directories, per-wake first */
	int n;
};

enum dormant_err measure_missing(const char *deployment, const char *const *rundirs, size_t nruns, const char *root,
                                 FILE *log, struct measured *out, char *err, size_t errlen);

#endif
