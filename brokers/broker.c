/* broker.c: one entry point for the brokers dormant starts. */
#include <stdio.h>
#include <string.h>

#include "broker.h"
#include "clock.h"

#define SAMPLE_MS 250

static void write_pid(const char *dir, const char *name, pid_t pid)
{
	char path[4300];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	if (f) {
		fprintf(f, "%d\n", (int)pid);
		fclose(f);
	}
}

enum broker_kind broker_resolve(const struct variant *v)
{
	if (v->broker != BROKER_DEFAULT)
		return v->broker;
	return v->protocol == PROTO_AMQP ? BROKER_RABBITMQ : BROKER_MOSQUITTO;
}

const char *broker_name(enum broker_kind k)
{
	return k == BROKER_RABBITMQ ? "rabbitmq" : "mosquitto";
}

enum dormant_err broker_start(struct broker *b, const struct variant *v, const char *dir, const char *shared_dir,
                              const struct mosq_tls *tls, char *err, size_t errlen)
{
	memset(b, 0, sizeof(*b));
	b->kind = broker_resolve(v);
	enum dormant_err e;
	pid_t roots[4];
	int nroots = 0;
	if (b->kind == BROKER_RABBITMQ) {
		if (server_mkdirs(dir) < 0) {
			snprintf(err, errlen, "cannot create %s", dir);
			return ERR_IO;
		}
		if ((e = rabbitmq_start(&b->rmq, shared_dir, tls, err, errlen)) != ERR_OK)
			return e;
		b->backend_port = b->rmq.mqtt;
		if (v->protocol == PROTO_MQTT)
			b->device_port = tls ? b->rmq.mqtts : b->rmq.mqtt;
		else
			b->device_port = b->rmq.srv.port;
		b->start_ms = (double)(b->rmq.srv.ready_ns - b->rmq.epmd.start_ns) / 1e6;
		/* The node lives in SHARED_DIR; the variant's directory records its PIDs too. */
		write_pid(dir, "rabbitmq.pid", b->rmq.beam_pid);
		write_pid(dir, "epmd.pid", b->rmq.epmd_pid);
		nroots = rabbitmq_pids(&b->rmq, roots, 4);
	} else {
		if ((e = mosq_start(&b->mosq, dir, tls, err, errlen)) != ERR_OK)
			return e;
		b->device_port = b->mosq.port;
		b->backend_port = b->mosq.backend_port;
		b->start_ms = (double)(b->mosq.ready_ns - b->mosq.start_ns) / 1e6;
		roots[nroots++] = b->mosq.pid;
	}
	b->running = 1;
	char csv[4300];
	snprintf(csv, sizeof(csv), "%s/broker.csv", dir);
	b->ps = procstat_start(roots, nroots, csv, SAMPLE_MS);
	return ERR_OK;
}

void broker_stop(struct broker *b, struct procstat_totals *tot)
{
	if (tot)
		memset(tot, 0, sizeof(*tot));
	if (b->ps) {
		procstat_stop(b->ps, tot);
		b->ps = NULL;
	}
	if (!b->running)
		return;
	if (b->kind == BROKER_RABBITMQ)
		rabbitmq_stop(&b->rmq);
	else
		server_stop(&b->mosq);
	b->running = 0;
}
