/* stack.h: the server side of a run, one stack per protocol, described once.
 *
 * Every protocol's stack is one line of the table in stack.c: which broker
 * takes the messages (broker: default means mosquitto for MQTT and HTTP,
 * RabbitMQ for AMQP), what sits in front of it (HTTP: nginx terminating the
 * devices' TLS, proxying to dormant's ingest, which publishes into the
 * broker's plaintext backend listener), and what the devices need from the
 * server side before a wake: the run's PKI for TLS variants (server
 * certificates, a PSK file), the ingest's token secret (HTTP), a command
 * queue per downlink device (AMQP on RabbitMQ). Nothing outside clients/
 * and brokers/ tests a protocol or broker kind: the engine asks the stack.
 *
 * Per variant, in order:
 *   stack_prepare()  PKI files and secrets the variant needs (before the
 *                    devices' TLS profile is built from stack_pki())
 *   stack_start()    the servers, in DIR, waited for until they are proven
 *                    ready (server.h), and sampled from /proc into
 *                    DIR/broker.csv; or nothing with `endpoint:`
 *   stack_stop()     front to back, TERM then KILL
 * stack_destroy() stops whatever still runs and releases the PKI.
 *
 * Ownership: stack_create/stack_destroy; the scenario and RUNDIR must
 * outlive the stack. stack_stop may be called any number of times.
 */
#ifndef DORMANT_STACK_H
#define DORMANT_STACK_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "scenario.h"

struct stack;
struct pki;
struct procstat_totals;

/* Where the variant's devices and dormant's backend connect. */
struct stack_info {
	int external;              /* `endpoint:`: nothing was started */
	char label[64];            /* what serves the devices: "mosquitto", "nginx+ingest+rabbitmq", "external" */
	char endpoint[272];        /* "127.0.0.1:PORT" or the scenario's endpoint */
	uint32_t device_addr;      /* IPv4, host order */
	uint16_t device_port;
	char backend_host[256];    /* the backend subscribes here over plaintext MQTT */
	uint16_t backend_port;
	double start_ms;           /* spawn to the whole stack accepting (0 external) */
};

struct stack *stack_create(const struct scenario *sc, const char *rundir, char *err, size_t errlen);
void stack_destroy(struct stack *s);
/* What V's devices need from the server side: the PKI (made in RUNDIR/pki
 * at the first TLS variant) with V's server certificate or PSK file, and
 * the ingest's secret. ERR_IO when files cannot be written. */
enum dormant_err stack_prepare(struct stack *s, const struct variant *v, char *err, size_t errlen);
/* The run's PKI for the devices' TLS (sim/tls.c), NULL before a TLS variant was prepared. */
struct pki *stack_pki(struct stack *s);
/* The secret devices derive their bearer tokens from (ingest_token.h). */
const unsigned char *stack_secret(const struct stack *s, size_t *len);
/* Starts V's stack in DIR (the variant's own directory), the devices'
 * listeners on LISTEN_ADDR (host order; 0: 127.0.0.1; with links the
 * emulator's server address), everything else on 127.0.0.1. ERR_SERVER (a
 * server would not start or did not prove ready), ERR_IO, ERR_INTERRUPTED. */
enum dormant_err stack_start(struct stack *s, const struct variant *v, const char *dir, uint32_t listen_addr,
                             char *err, size_t errlen);
const struct stack_info *stack_info(const struct stack *s);
/* Stops sampling and the servers; returns the servers' CPU and RSS over the
 * variant (NULL when nothing was started: external, or not started). Valid
 * until the next stack_start. */
const struct procstat_totals *stack_stop(struct stack *s);
/* Versions of every server program a stack may start, one PUT(ARG, key, value) each, for env.json. */
void stack_versions(void (*put)(void *arg, const char *key, const char *value), void *arg);

#endif
