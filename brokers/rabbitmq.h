/* rabbitmq.h: a private RabbitMQ (AMQP 1.0 and MQTT plugins) for one variant.
 *
 * rabbitmq_start() writes DIR/config/{rabbitmq.conf,enabled_plugins}, starts
 * a private epmd and then the broker, every listener on a free 127.0.0.1
 * port, and waits until they accept:
 *   amqp   AMQP 0-9-1/1.0, plaintext (always; the devices' port without TLS)
 *   amqps  AMQP over TLS 1.2 (with TLS; then the devices' port)
 *   mqtt   MQTT plaintext: dormant's backend subscribes here
 *          (topic dormant/+/telemetry = routing key dormant.*.telemetry on
 *          amq.topic, where AMQP devices publish too)
 *   mqtts  MQTT over TLS 1.2 (with TLS): MQTT devices on RabbitMQ
 *   dist   the Erlang distribution port, epmd_port the private epmd's.
 * r->srv.port is the devices' AMQP port (amqps with TLS, else amqp),
 * r->srv.backend_port the plaintext MQTT port. Anonymous AMQP 1.0 (SASL
 * ANONYMOUS) and anonymous MQTT both act as user guest.
 *
 * Both processes are direct children of the caller, started by
 * server_spawn(): registered (server_stop_all() stops them, the broker
 * first), PR_SET_PDEATHSIG (they get SIGTERM if the thread that started them
 * ends: call rabbitmq_start() from a thread that outlives the variant).
 * A cold start (new DIR) takes 8-15 s; passing the DIR of an earlier,
 * stopped instance again reuses its
 * node name and database and skips the MQTT plugin's 3-6 s wait for
 * cluster peers (warm start). State such as durable queues and retained
 * messages survives a warm start.
 *
 * Ownership: the caller owns struct rabbitmq (usually embedded). After a
 * failed start nothing runs and nothing needs releasing; after a successful
 * one the caller always calls rabbitmq_stop(), which may be called any
 * number of times. */
#ifndef DORMANT_RABBITMQ_H
#define DORMANT_RABBITMQ_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "mosq.h"
#include "server.h"

struct rabbitmq {
	struct server srv;      /* beam.smp itself: srv.pid is the broker's PID */
	struct server epmd;     /* the private epmd, started before the broker */
	char node[96];          /* dormant-<pid>-<n>@localhost */
	uint16_t amqp, amqps, mqtt, mqtts, dist, epmd_port; /* 0: no such listener */
	pid_t beam_pid, epmd_pid; /* as started; kept after stop for checks */
	int tls;                /* 1 when started with TLS listeners */
	int warm;               /* 1 when an earlier database in DIR was reused */
};

/* TLS: cafile, certfile, keyfile and require_certificate are used; psk_file
 * is refused (ERR_SERVER): Erlang's TLS-PSK needs code in the broker. */
/* LISTEN_ADDR (host order): where the devices' AMQP listener binds (with TLS
 * the amqps one; the plaintext diagnostic one and the backend's MQTT stay
 * on 127.0.0.1). HEARTBEAT_S: RabbitMQ's `heartbeat` (0: its default,
 * 60 s). For AMQP 1.0 it is the idle-time-out the broker announces in its
 * open (heartbeat x 1000 ms): the client must send a frame at least that
 * often (proton sends an empty frame after half of it without output),
 * and the broker closes a connection that sent nothing for twice the
 * heartbeat. The client's own idle-time-out, if it announces one, is how
 * often the broker sends it empty frames. (rabbit_amqp1_0_reader,
 * RabbitMQ 3.10.8, read from its beam's abstract code.) */
enum dormant_err rabbitmq_start(struct rabbitmq *r, const char *dir, uint32_t listen_addr, const struct mosq_tls *tls,
                                unsigned heartbeat_s, char *err, size_t errlen);
/* Declares (if needed), binds to amq.topic and empties a durable queue
 * dormant.dev<D>.commands for each device D of the N ranges FIRST[i] ..
 * FIRST[i] + COUNT[i] - 1: where AMQP devices find the commands the backend
 * publishes to dormant/dev<D>/commands over MQTT. Runs rabbitmqctl eval
 * (about 0.5 s); its output goes to DIR/log/command-queues.log. */
enum dormant_err rabbitmq_command_queues(struct rabbitmq *r, const uint32_t *first, const uint32_t *count, int n,
                                         char *err, size_t errlen);
/* Stops the broker (TERM, KILL after a grace period), then epmd, then any
 * process still carrying this instance's tag (helpers, a stray epmd), and
 * checks by PID that none is left. */
void rabbitmq_stop(struct rabbitmq *r);
/* The live processes of this instance (beam.smp, its helpers, epmd), for
 * sampling; returns how many were written to PIDS (at most MAX). */
int rabbitmq_pids(const struct rabbitmq *r, pid_t *pids, int max);
/* "RabbitMQ 3.10.8 on Erlang/OTP 25" */
void rabbitmq_version(char *buf, size_t len);

#endif
