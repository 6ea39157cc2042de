/* rundir.h: a run's directory, RESULTS_ROOT/<name>-<UTC time>/.
 *
 * rundir_create() makes it private (0700; the process umask is 077 while
 * the engine runs, so the configs, keys, secrets and logs the servers get
 * inside it are nobody else's to read), copies the scenario in as
 * scenario.yaml and writes env.json: versions of dormant, the libraries
 * and the server programs, the kernel, the CPU, and the TCP settings that
 * shape every byte count and timing. results.h writes the rest.
 */
#ifndef DORMANT_RUNDIR_H
#define DORMANT_RUNDIR_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "scenario.h"

/* Makes the run directory of SC under ROOT (created if needed) into OUT.
 * ERR_IO with ERR filled on failure. */
enum dormant_err rundir_create(const struct scenario *sc, const char *root, char *out, size_t len, char *err,
                               size_t errlen);
/* RUNDIR/servers/NN-<variant name, made a file name>: variant VI's servers. */
void rundir_servers(const char *rundir, uint32_t vi, const char *variant, char *out, size_t len);

#endif
