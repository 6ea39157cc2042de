/* broker.h: the variant's broker, whichever it is, and what it cost.
 *
 * broker_start() starts the broker the variant asks for (broker: default
 * means mosquitto for MQTT and HTTP, RabbitMQ for AMQP) in DIR, with the
 * devices' listener over TLS when TLS is given, and samples its processes'
 * CPU and RSS from /proc into DIR/broker.csv until broker_stop(). For HTTP
 * the devices talk to nginx (TLS there), which proxies to the ingest, which
 * publishes into the broker's plaintext backend listener; all three are
 * sampled together, since together they do what one MQTT broker does.
 *
 * Ownership: the caller owns struct broker; broker_stop() releases what a
 * successful broker_start() took and may be called again.
 */
#ifndef DORMANT_BROKER_H
#define DORMANT_BROKER_H

#include <stddef.h>
#include <stdint.h>

#include "ingest.h"
#include "mosq.h"
#include "nginx.h"
#include "procstat.h"
#include "rabbitmq.h"
#include "scenario.h"

struct broker {
	enum broker_kind kind;     /* BROKER_MOSQUITTO or BROKER_RABBITMQ */
	char label[64];            /* what serves the devices: "mosquitto", "nginx+ingest+rabbitmq" */
	struct server mosq;
	struct server ingest, nginx; /* HTTP: nginx (devices) -> ingest -> the broker */
	struct rabbitmq rmq;
	int running;
	uint16_t device_port;      /* where devices connect */
	uint16_t backend_port;     /* where dormant's backend subscribes (MQTT, plaintext) */
	double start_ms;           /* spawn to accepting */
	struct procstat *ps;
};

enum broker_kind broker_resolve(const struct variant *v);
const char *broker_name(enum broker_kind k);
/* DIR is the variant's own directory (config, log, broker.csv); RabbitMQ
 * keeps its node in SHARED_DIR instead, so the variants of a run reuse one
 * database and start warm (about 4 s instead of 9-15 s). */
enum dormant_err broker_start(struct broker *b, const struct variant *v, const char *dir, const char *shared_dir,
                              const struct mosq_tls *tls, const unsigned char *secret, size_t secret_len,
                              char *err, size_t errlen);
/* Stops sampling (totals into TOT if not NULL) and the broker. */
void broker_stop(struct broker *b, struct procstat_totals *tot);

#endif
