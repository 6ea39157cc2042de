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

/* HTTP: the ingest publishes into the broker's plaintext backend listener,
 * nginx in front of it takes the devices (and their TLS). */
static enum dormant_err http_front_start(struct broker *b, const char *dir, const struct mosq_tls *tls,
                                         const unsigned char *secret, size_t secret_len, char *err, size_t errlen)
{
	enum dormant_err e = ingest_start(&b->ingest, dir, b->backend_port, secret, secret_len, err, errlen);
	if (e != ERR_OK)
		return e;
	struct nginx_tls nt = { 0 };
	if (tls) {
		nt.certfile = tls->certfile;
		nt.keyfile = tls->keyfile;
		nt.cafile = tls->cafile;
		nt.require_certificate = tls->require_certificate;
	}
	if ((e = nginx_start(&b->nginx, dir, b->ingest.port, tls ? &nt : NULL, err, errlen)) != ERR_OK) {
		server_stop(&b->ingest);
		return e;
	}
	b->device_port = b->nginx.port;
	return ERR_OK;
}

enum dormant_err broker_start(struct broker *b, const struct variant *v, const char *dir, const char *shared_dir,
                              const struct mosq_tls *tls, const unsigned char *secret, size_t secret_len,
                              char *err, size_t errlen)
{
	memset(b, 0, sizeof(*b));
	b->kind = broker_resolve(v);
	enum dormant_err e;
	pid_t roots[8];
	int nroots = 0;
	int http = v->protocol == PROTO_HTTP;
	const struct mosq_tls *btls = http ? NULL : tls; /* HTTP's TLS is nginx's */
	if (b->kind == BROKER_RABBITMQ) {
		if (server_mkdirs(dir) < 0) {
			snprintf(err, errlen, "cannot create %s", dir);
			return ERR_IO;
		}
		if ((e = rabbitmq_start(&b->rmq, shared_dir, btls, err, errlen)) != ERR_OK)
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
		if ((e = mosq_start(&b->mosq, dir, btls, err, errlen)) != ERR_OK)
			return e;
		b->device_port = b->mosq.port;
		b->backend_port = b->mosq.backend_port;
		b->start_ms = (double)(b->mosq.ready_ns - b->mosq.start_ns) / 1e6;
		roots[nroots++] = b->mosq.pid;
	}
	snprintf(b->label, sizeof(b->label), "%s", broker_name(b->kind));
	if (http) {
		if ((e = http_front_start(b, dir, tls, secret, secret_len, err, errlen)) != ERR_OK) {
			if (b->kind == BROKER_RABBITMQ)
				rabbitmq_stop(&b->rmq);
			else
				server_stop(&b->mosq);
			return e;
		}
		/* Devices can send once nginx accepts: the HTTP stack's start is all three. */
		uint64_t t0 = b->kind == BROKER_RABBITMQ ? b->rmq.epmd.start_ns : b->mosq.start_ns;
		b->start_ms = (double)(b->nginx.ready_ns - t0) / 1e6;
		roots[nroots++] = b->ingest.pid;
		roots[nroots++] = b->nginx.pid;
		snprintf(b->label, sizeof(b->label), "nginx+ingest+%s", broker_name(b->kind));
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
	/* Front to back: nothing new reaches a broker that is going away. */
	server_stop(&b->nginx);
	server_stop(&b->ingest);
	if (b->kind == BROKER_RABBITMQ)
		rabbitmq_stop(&b->rmq);
	else
		server_stop(&b->mosq);
	b->running = 0;
}
