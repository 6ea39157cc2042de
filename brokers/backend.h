/* backend.h: dormant's own consumer on the server side.
 * It subscribes to every device topic and records, for each message the
 * devices sent, when it arrived and how often (sim/core/ledger.h struct msg_table):
 * the source of end-to-end latency, loss and duplicate figures. It runs on
 * libmosquitto's thread, not on paho's, so it never competes with the
 * devices' library for paho's two global threads.
 * Ownership: backend_start returns a backend the caller always releases with
 * backend_stop (NULL accepted). The table must outlive it. */
#ifndef DORMANT_BACKEND_H
#define DORMANT_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "ledger.h"

#define BACKEND_TOPIC_FILTER "dormant/+/telemetry"

struct backend;

/* COMMANDS: the variant sends commands (backend_command); they get a connection of their own.
 * On failure NULL, with *E ERR_SERVER, or ERR_INTERRUPTED when the run was
 * interrupted while it waited (server_interrupted, server.h). */
struct backend *backend_start(const char *host, uint16_t port, struct msg_table *t, int commands,
                              enum dormant_err *e, char *err, size_t errlen);
void backend_stop(struct backend *b);
/* Publishes command P (LEN bytes) to dormant/dev<DEVICE>/commands at QoS 1,
 * where the device's server side (the HTTP ingest) queues it. 0 or -1. Any thread. */
int backend_command(struct backend *b, uint32_t device, const void *p, size_t len);
uint64_t backend_foreign(const struct backend *b);    /* not from this variant's devices */
void backend_version(char *buf, size_t len);

#endif
