/* backend.c: the MQTT backend subscriber on libmosquitto. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <mosquitto.h>

#include "backend.h"
#include "clock.h"
#include "server.h"

#define READY_TIMEOUT_MS 5000

struct backend {
	struct mosquitto *mosq;
	/* Commands go out on a connection of their own: on the subscriber's, the
	 * broker's PUBACK for a command would hold the next telemetry PUBLISH
	 * behind Nagle until our delayed ACK (a 40 ms e2e tail, measured). */
	struct mosquitto *cmd;
	_Atomic int cmd_state;        /* 0 connecting, 1 connected, -1 refused */
	struct msg_table *t;
	_Atomic int state;            /* 0 connecting, 1 subscribed, -1 refused */
	_Atomic uint64_t foreign;
};

/* mosquitto does not set TCP_NODELAY by default, so each PUBLISH it sends
 * us while its previous segment is unacknowledged waits for our delayed
 * ACK: up to 40 ms on the first message after the SUBACK and on QoS 0
 * deliveries, which send nothing back (measured on lo). Quick ACKs, which
 * Linux drops again after a while, are asked for after every read, so the
 * backend, dormant's instrument, adds no such wait to e2e. */
static void quickack(struct mosquitto *m)
{
	int one = 1;
	int fd = mosquitto_socket(m);
	if (fd >= 0)
		setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
}

static void on_connect(struct mosquitto *m, void *ctx, int rc)
{
	struct backend *b = ctx;
	if (rc != 0) {
		atomic_store(&b->state, -1);
		return;
	}
	/* QoS 1: what the broker accepted at QoS 1 must reach us, not be dropped on our side. */
	mosquitto_subscribe(m, NULL, BACKEND_TOPIC_FILTER, 1);
}

static void on_cmd_connect(struct mosquitto *m, void *ctx, int rc)
{
	struct backend *b = ctx;
	atomic_store(&b->cmd_state, rc == 0 ? 1 : -1);
}

static void on_subscribe(struct mosquitto *m, void *ctx, int mid, int n, const int *granted)
{
	struct backend *b = ctx;
	quickack(m);
	atomic_store(&b->state, n >= 1 && granted[0] <= 2 ? 1 : -1);
}

static void on_message(struct mosquitto *m, void *ctx, const struct mosquitto_message *msg)
{
	struct backend *b = ctx;
	uint64_t now = clock_mono_ns();
	quickack(m);
	if (ledger_receipt(b->t, msg->payload, (size_t)msg->payloadlen, now) != 0)
		atomic_fetch_add(&b->foreign, 1);
}

int backend_command(struct backend *b, uint32_t device, const void *p, size_t len)
{
	char topic[48];
	snprintf(topic, sizeof(topic), "dormant/dev%u/commands", device);
	if (!b->cmd)
		return -1;
	return mosquitto_publish(b->cmd, NULL, topic, (int)len, p, 1, false) == MOSQ_ERR_SUCCESS ? 0 : -1;
}

/* Waits for *STATE to leave 0 (the library's thread sets it): its value,
 * 0 past READY_TIMEOUT_MS, 2 when the run was interrupted meanwhile. */
static int wait_state(_Atomic int *state)
{
	uint64_t deadline = clock_mono_ns() + (uint64_t)READY_TIMEOUT_MS * 1000000u;
	while (atomic_load(state) == 0 && clock_mono_ns() < deadline) {
		if (server_interrupted())
			return 2;
		struct timespec ts = { 0, 2 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	return atomic_load(state);
}

static enum dormant_err start_commander(struct backend *b, const char *host, uint16_t port, char *err, size_t errlen)
{
	char id[48];
	snprintf(id, sizeof(id), "dormant-commands-%d", (int)getpid());
	if (!(b->cmd = mosquitto_new(id, true, b))) {
		snprintf(err, errlen, "backend: mosquitto_new failed");
		return ERR_SERVER;
	}
	mosquitto_connect_callback_set(b->cmd, on_cmd_connect);
	mosquitto_max_inflight_messages_set(b->cmd, 0); /* every command when due, not 20 at a time */
	mosquitto_int_option(b->cmd, MOSQ_OPT_TCP_NODELAY, 1);
	int rc = mosquitto_connect(b->cmd, host, port, 60);
	if (rc == MOSQ_ERR_SUCCESS)
		rc = mosquitto_loop_start(b->cmd);
	if (rc != MOSQ_ERR_SUCCESS) {
		snprintf(err, errlen, "backend: commands: connect %s:%u: %s", host, port, mosquitto_strerror(rc));
		return ERR_SERVER;
	}
	int st = wait_state(&b->cmd_state);
	if (st == 2) {
		snprintf(err, errlen, "backend: interrupted while connecting to %s:%u", host, port);
		return ERR_INTERRUPTED;
	}
	if (st != 1) {
		snprintf(err, errlen, "backend: commands: no CONNACK from %s:%u within %d ms", host, port, READY_TIMEOUT_MS);
		return ERR_SERVER;
	}
	return ERR_OK;
}

struct backend *backend_start(const char *host, uint16_t port, struct msg_table *t, int commands,
                              enum dormant_err *e, char *err, size_t errlen)
{
	static int lib_ready;
	if (!lib_ready) {
		mosquitto_lib_init();
		lib_ready = 1;
	}
	struct backend *b = calloc(1, sizeof(*b));
	if (!b) {
		*e = ERR_NOMEM;
		snprintf(err, errlen, "backend: out of memory");
		return NULL;
	}
	b->t = t;
	char id[48];
	snprintf(id, sizeof(id), "dormant-backend-%d", (int)getpid());
	b->mosq = mosquitto_new(id, true, b);
	if (!b->mosq)
		goto fail;
	mosquitto_connect_callback_set(b->mosq, on_connect);
	mosquitto_subscribe_callback_set(b->mosq, on_subscribe);
	mosquitto_message_callback_set(b->mosq, on_message);
	int rc = mosquitto_connect(b->mosq, host, port, 60);
	if (rc != MOSQ_ERR_SUCCESS) {
		snprintf(err, errlen, "backend: connect %s:%u: %s", host, port, mosquitto_strerror(rc));
		goto fail_free;
	}
	if ((rc = mosquitto_loop_start(b->mosq)) != MOSQ_ERR_SUCCESS) {
		snprintf(err, errlen, "backend: loop: %s", mosquitto_strerror(rc));
		goto fail_free;
	}
	int st = wait_state(&b->state);
	if (st != 1) {
		if (st == 2)
			snprintf(err, errlen, "backend: interrupted while subscribing on %s:%u", host, port);
		else
			snprintf(err, errlen, "backend: no subscription to %s on %s:%u within %d ms", BACKEND_TOPIC_FILTER,
			         host, port, READY_TIMEOUT_MS);
		backend_stop(b);
		*e = st == 2 ? ERR_INTERRUPTED : ERR_SERVER;
		return NULL;
	}
	if (commands && (*e = start_commander(b, host, port, err, errlen)) != ERR_OK) {
		backend_stop(b);
		return NULL;
	}
	return b;
fail:
	snprintf(err, errlen, "backend: mosquitto_new failed");
fail_free:
	if (b->mosq)
		mosquitto_destroy(b->mosq);
	free(b);
	*e = ERR_SERVER;
	return NULL;
}

void backend_stop(struct backend *b)
{
	if (!b)
		return;
	if (b->cmd) {
		mosquitto_disconnect(b->cmd);
		mosquitto_loop_stop(b->cmd, false);
		mosquitto_destroy(b->cmd);
	}
	mosquitto_disconnect(b->mosq);
	mosquitto_loop_stop(b->mosq, false);
	mosquitto_destroy(b->mosq);
	free(b);
}

uint64_t backend_foreign(const struct backend *b) { return atomic_load(&b->foreign); }

void backend_version(char *buf, size_t len)
{
	int ma, mi, rv;
	mosquitto_lib_version(&ma, &mi, &rv);
	snprintf(buf, len, "libmosquitto %d.%d.%d", ma, mi, rv);
}
