/* results.h: the run directory's files.
 *
 *   wakes.csv     one row per wake, success or failure (columns: README)
 *   summary.json  per variant: counts, failures by kind, percentiles, mean bytes
 *   (scenario.yaml, env.json and servers/ are written by the engine)
 *
 * Rows are flushed as they are written, so an interrupted run keeps every
 * row it has. results_finish() writes summary.json through a temporary file
 * and rename(), so it is never half-written, and prints the summary table.
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

struct results *results_create(const char *dir, const struct scenario *sc, char *err, size_t errlen);
void results_destroy(struct results *r);

void results_variant_begin(struct results *r, uint32_t vi, uint64_t expected_wakes);
/* Server-side facts for the variant's summary. */
void results_variant_server(struct results *r, const char *name, const char *endpoint, double start_ms);
/* TLS set-up of the variant: suite, resumption offered, verification, a remark, profile build time. */
void results_variant_tls(struct results *r, const char *suite, enum resume_mode offered, int verify, const char *note,
                         double init_ms);
/* The broker's CPU and RSS over the variant (brokers/procstat.h). */
struct procstat_totals;
void results_variant_broker(struct results *r, const struct procstat_totals *t);
/* One row; C is the wake's modem counts (NULL when the wake never got a modem). */
int results_row(struct results *r, const struct wake *w, const struct modem_counts *c);
/* Closes the variant: message accounting from T, CPU totals. */
void results_variant_end(struct results *r, const struct msg_table *t, const struct cmd_table *ct, uint64_t foreign,
                         uint64_t lib_cpu_ns, uint64_t engine_cpu_ns, double window_s, int interrupted);
/* Writes summary.json and prints the table to OUT. Returns 0 or -1 (errno). */
int results_finish(struct results *r, FILE *out);

#endif
