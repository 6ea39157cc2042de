/* stack.c: one server stack per protocol, described once (see stack.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "backend.h"
#include "ingest.h"
#include "mosq.h"
#include "nginx.h"
#include "pki.h"
#include "procstat.h"
#include "rabbitmq.h"
#include "stack.h"

#define SAMPLE_MS 250

/* Which listener of the broker the devices use when nothing is in front. */
enum device_listener { LISTEN_MQTT, LISTEN_AMQP };

/* A protocol's server side, all of it. */
struct stack_desc {
	enum broker_kind broker;       /* for broker: default */
	enum device_listener listener; /* on the broker, when there is no front */
	int http_front;                /* nginx (the devices' TLS) -> dormant-ingest -> the broker's backend listener */
	int secret;                    /* devices' bearer tokens derive from the ingest's secret */
	int command_queues;            /* on RabbitMQ, downlink devices read commands from queues made before the window */
};

static const struct stack_desc stacks[PROTO_COUNT] = {
	[PROTO_MQTT] = { .broker = BROKER_MOSQUITTO, .listener = LISTEN_MQTT },
	/* AMQP 1.0 in RabbitMQ 3.10 cannot bind a queue itself (rabbitmq.h) */
	[PROTO_AMQP] = { .broker = BROKER_RABBITMQ, .listener = LISTEN_AMQP, .command_queues = 1 },
	[PROTO_HTTP] = { .broker = BROKER_MOSQUITTO, .http_front = 1, .secret = 1 },
};

struct stack {
	const struct scenario *sc;
	char rundir[4096];
	struct pki pki;                 /* made at the first TLS variant, kept for the run */
	unsigned char secret[INGEST_SECRET_LEN];
	int have_secret;

	/* the variant's */
	const struct stack_desc *d;
	enum broker_kind kind;
	struct mosq_tls tls;            /* the servers' TLS listener settings */
	int use_tls;
	uint32_t listen_addr;           /* the devices' listeners, host order */
	char crt[4300], key[4300];
	struct server mosq;
	struct server ingest, nginx;
	struct rabbitmq rmq;
	int running;
	struct procstat *ps;
	struct procstat_totals totals;
	struct stack_info info;
};

static const char *kind_name(enum broker_kind k)
{
	return k == BROKER_RABBITMQ ? "rabbitmq" : "mosquitto";
}

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

struct stack *stack_create(const struct scenario *sc, const char *rundir, char *err, size_t errlen)
{
	struct stack *s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, errlen, "out of memory for the server stack");
		return NULL;
	}
	s->sc = sc;
	snprintf(s->rundir, sizeof(s->rundir), "%s", rundir);
	return s;
}

void stack_destroy(struct stack *s)
{
	if (!s)
		return;
	stack_stop(s);
	pki_destroy(&s->pki);
	memset(s->secret, 0, sizeof(s->secret));
	free(s);
}

enum dormant_err stack_prepare(struct stack *s, const struct variant *v, char *err, size_t errlen)
{
	const struct scenario *sc = s->sc;
	s->d = (unsigned)v->protocol < PROTO_COUNT ? &stacks[v->protocol] : NULL;
	if (!s->d) {
		snprintf(err, errlen, "%s: no server stack for this protocol", v->name);
		return ERR_INTERNAL;
	}
	memset(&s->tls, 0, sizeof(s->tls));
	s->use_tls = 0;
	if (s->d->secret && !s->have_secret) {
		if (getrandom(s->secret, sizeof(s->secret), 0) != (ssize_t)sizeof(s->secret)) {
			snprintf(err, errlen, "getrandom: %s", strerror(errno));
			return ERR_INTERNAL;
		}
		s->have_secret = 1;
	}
	if (v->tls == TLS_NONE)
		return ERR_OK;
	enum dormant_err e = ERR_OK;
	if (!s->pki.ready) {
		char dir[sizeof(s->rundir) + 8];
		snprintf(dir, sizeof(dir), "%s/pki", s->rundir);
		e = pki_create(&s->pki, dir, err, errlen);
	}
	if (e == ERR_OK && v->tls == TLS_PSK)
		e = pki_write_psk_file(&s->pki, sc->ndevices, err, errlen);
	else if (e == ERR_OK)
		e = pki_server(&s->pki, v->tls, sc->tls_fault == TLS_FAULT_WRONG_NAME, s->crt, s->key, sizeof(s->crt), err,
		               errlen);
	if (e != ERR_OK)
		return e;
	s->tls.cafile = s->pki.ca_crt;
	if (v->tls == TLS_PSK) {
		s->tls.psk_file = s->pki.psk_file;
	} else {
		s->tls.certfile = s->crt;
		s->tls.keyfile = s->key;
	}
	s->tls.require_certificate = v->client_cert;
	s->use_tls = 1;
	return ERR_OK;
}

struct pki *stack_pki(struct stack *s)
{
	return s->pki.ready ? &s->pki : NULL;
}

const unsigned char *stack_secret(const struct stack *s, size_t *len)
{
	*len = sizeof(s->secret);
	return s->secret;
}

const struct stack_info *stack_info(const struct stack *s)
{
	return &s->info;
}

/* HTTP: the ingest publishes into the broker's plaintext backend listener,
 * nginx in front of it takes the devices (and their TLS). */
/* The keepalive of V's persistent fleets, seconds (the longest); 0 when none keeps its connection. */
static unsigned kept_keepalive_s(const struct scenario *sc, const struct variant *v)
{
	unsigned ka = 0;
	for (size_t f = 0; f < sc->nfleets; f++)
		if (scenario_connection(v, &sc->fleets[f]) == CONN_PERSISTENT &&
		    sc->fleets[f].keepalive_us / 1000000u > ka)
			ka = (unsigned)(sc->fleets[f].keepalive_us / 1000000u);
	return ka;
}

static enum dormant_err http_front_start(struct stack *s, const char *dir, unsigned idle_s, char *err, size_t errlen)
{
	enum dormant_err e = ingest_start(&s->ingest, dir, s->info.backend_port, s->secret, sizeof(s->secret), err,
	                                  errlen);
	if (e != ERR_OK)
		return e;
	struct nginx_tls nt = { 0 };
	if (s->use_tls) {
		nt.certfile = s->tls.certfile;
		nt.keyfile = s->tls.keyfile;
		nt.cafile = s->tls.cafile;
		nt.require_certificate = s->tls.require_certificate;
	}
	if ((e = nginx_start(&s->nginx, dir, s->listen_addr, s->ingest.port, s->use_tls ? &nt : NULL, idle_s, err,
	                     errlen)) != ERR_OK) {
		server_stop(&s->ingest);
		return e;
	}
	s->info.device_port = s->nginx.port;
	return ERR_OK;
}

/* Downlink devices of an AMQP variant read their commands from queues made for them. */
static enum dormant_err command_queues(struct stack *s, char *err, size_t errlen)
{
	uint32_t first[FLEETS_MAX], count[FLEETS_MAX];
	int n = 0;
	for (size_t i = 0; i < s->sc->nfleets; i++)
		if (s->sc->fleets[i].downlink) {
			first[n] = s->sc->fleets[i].first_device;
			count[n++] = s->sc->fleets[i].count;
		}
	return n ? rabbitmq_command_queues(&s->rmq, first, count, n, err, errlen) : ERR_OK;
}

static void stop_servers(struct stack *s)
{
	/* Front to back: nothing new reaches a broker that is going away. */
	server_stop(&s->nginx);
	server_stop(&s->ingest);
	if (s->kind == BROKER_RABBITMQ)
		rabbitmq_stop(&s->rmq);
	else
		server_stop(&s->mosq);
}

enum dormant_err stack_start(struct stack *s, const struct variant *v, const char *dir, uint32_t listen_addr, char *err,
                             size_t errlen)
{
	s->listen_addr = listen_addr ? listen_addr : INADDR_LOOPBACK;
	const struct scenario *sc = s->sc;
	memset(&s->info, 0, sizeof(s->info));
	memset(&s->totals, 0, sizeof(s->totals));
	if (!s->d) {
		snprintf(err, errlen, "%s: stack_start before stack_prepare", v->name);
		return ERR_INTERNAL;
	}
	if (sc->endpoint_host[0]) {
		struct in_addr ia;
		if (inet_pton(AF_INET, sc->endpoint_host, &ia) != 1) {
			snprintf(err, errlen, "endpoint %s is not an IPv4 address", sc->endpoint_host);
			return ERR_SERVER;
		}
		s->info.external = 1;
		snprintf(s->info.label, sizeof(s->info.label), "external");
		snprintf(s->info.endpoint, sizeof(s->info.endpoint), "%s", sc->endpoint_host);
		snprintf(s->info.backend_host, sizeof(s->info.backend_host), "%s", sc->endpoint_host);
		s->info.device_addr = ntohl(ia.s_addr);
		s->info.device_port = s->info.backend_port = sc->endpoint_port;
		return ERR_OK;
	}
	s->kind = v->broker != BROKER_DEFAULT ? v->broker : s->d->broker;
	const struct mosq_tls *btls = s->use_tls && !s->d->http_front ? &s->tls : NULL; /* a front has the TLS */
	pid_t roots[8];
	int nroots = 0;
	uint64_t t0;
	enum dormant_err e;
	if (server_mkdirs(dir) < 0) {
		snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
		return ERR_IO;
	}
	if (s->kind == BROKER_RABBITMQ) {
		/* The variants of a run share one node directory, so only the first start is cold. */
		char shared[sizeof(s->rundir) + 32];
		snprintf(shared, sizeof(shared), "%s/servers/rabbitmq", s->rundir);
		/* Kept AMQP connections: the broker's idle-time-out is twice the
		 * devices' keepalive, so proton's empty frames come at keepalive
		 * (the loader allows one keepalive per variant for them). */
		unsigned heartbeat_s = v->protocol == PROTO_AMQP ? 2 * kept_keepalive_s(sc, v) : 0;
		if ((e = rabbitmq_start(&s->rmq, shared, s->listen_addr, btls, heartbeat_s, err, errlen)) != ERR_OK)
			return e;
		s->info.backend_port = s->rmq.mqtt;
		s->info.device_port = s->d->listener == LISTEN_MQTT ? (btls ? s->rmq.mqtts : s->rmq.mqtt) : s->rmq.srv.port;
		t0 = s->rmq.epmd.start_ns;
		s->info.start_ms = (double)(s->rmq.srv.ready_ns - t0) / 1e6;
		/* The node lives in the shared directory; the variant's directory records its PIDs too. */
		write_pid(dir, "rabbitmq.pid", s->rmq.beam_pid);
		write_pid(dir, "epmd.pid", s->rmq.epmd_pid);
		nroots = rabbitmq_pids(&s->rmq, roots, 4);
	} else {
		/* behind an HTTP front the devices reach nginx, not mosquitto */
		uint32_t at = s->d->http_front ? INADDR_LOOPBACK : s->listen_addr;
		if ((e = mosq_start(&s->mosq, dir, at, btls, err, errlen)) != ERR_OK)
			return e;
		s->info.device_port = s->mosq.port;
		s->info.backend_port = s->mosq.backend_port;
		t0 = s->mosq.start_ns;
		s->info.start_ms = (double)(s->mosq.ready_ns - t0) / 1e6;
		roots[nroots++] = s->mosq.pid;
	}
	s->running = 1;
	snprintf(s->info.label, sizeof(s->info.label), "%s", kind_name(s->kind));
	if (s->d->http_front) {
		/* nginx keeps an idle device connection for two keep-alives (its default 60 s at least) */
		unsigned kept = kept_keepalive_s(sc, v);
		if ((e = http_front_start(s, dir, kept ? (2 * kept > 60 ? 2 * kept : 60) : 0, err, errlen)) != ERR_OK) {
			stack_stop(s);
			return e;
		}
		/* Devices can send once nginx accepts: the HTTP stack's start is all three. */
		s->info.start_ms = (double)(s->nginx.ready_ns - t0) / 1e6;
		roots[nroots++] = s->ingest.pid;
		roots[nroots++] = s->nginx.pid;
		snprintf(s->info.label, sizeof(s->info.label), "nginx+ingest+%s", kind_name(s->kind));
	}
	if (s->d->command_queues && s->kind == BROKER_RABBITMQ && (e = command_queues(s, err, errlen)) != ERR_OK) {
		stack_stop(s);
		return e;
	}
	s->info.device_addr = s->listen_addr;
	char ip[INET_ADDRSTRLEN];
	snprintf(s->info.endpoint, sizeof(s->info.endpoint), "%s:%u", server_addr_str(s->listen_addr, ip, sizeof(ip)),
	         s->info.device_port);
	snprintf(s->info.backend_host, sizeof(s->info.backend_host), "127.0.0.1");
	char csv[4300];
	snprintf(csv, sizeof(csv), "%s/broker.csv", dir);
	s->ps = procstat_start(roots, nroots, csv, SAMPLE_MS);
	return ERR_OK;
}

const struct procstat_totals *stack_stop(struct stack *s)
{
	if (s->ps) {
		procstat_stop(s->ps, &s->totals);
		s->ps = NULL;
	}
	if (!s->running)
		return s->info.external ? NULL : &s->totals;
	stop_servers(s);
	s->running = 0;
	return &s->totals;
}

void stack_versions(void (*put)(void *arg, const char *key, const char *value), void *arg)
{
	char buf[512];
	backend_version(buf, sizeof(buf));
	put(arg, "backend", buf);
	mosq_version(buf, sizeof(buf));
	put(arg, "mosquitto", buf);
	rabbitmq_version(buf, sizeof(buf));
	put(arg, "rabbitmq", buf);
	nginx_version(buf, sizeof(buf));
	put(arg, "nginx", buf);
	ingest_version(buf, sizeof(buf));
	put(arg, "ingest", buf);
}
