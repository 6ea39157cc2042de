/* backend.c: the MQTT backend subscriber on libmosquitto. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mosquitto.h>

#include "backend.h"
#include "clock.h"

#define READY_TIMEOUT_MS 5000

struct backend {
	struct mosquitto *mosq;
	struct msg_table *t;
	_Atomic int state;            /* 0 connecting, 1 subscribed, -1 refused */
	_Atomic uint64_t received, foreign;
};

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

static void on_subscribe(struct mosquitto *m, void *ctx, int mid, int n, const int *granted)
{
	struct backend *b = ctx;
	atomic_store(&b->state, n >= 1 && granted[0] <= 2 ? 1 : -1);
}

static void on_message(struct mosquitto *m, void *ctx, const struct mosquitto_message *msg)
{
	struct backend *b = ctx;
	uint64_t now = clock_mono_ns();
	atomic_fetch_add(&b->received, 1);
	if (msg_table_receipt(b->t, msg->payload, (size_t)msg->payloadlen, now) != 0)
		atomic_fetch_add(&b->foreign, 1);
}

struct backend *backend_start(const char *host, uint16_t port, struct msg_table *t, enum dormant_err *e,
                              char *err, size_t errlen)
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
	uint64_t deadline = clock_mono_ns() + (uint64_t)READY_TIMEOUT_MS * 1000000u;
	while (atomic_load(&b->state) == 0 && clock_mono_ns() < deadline) {
		struct timespec ts = { 0, 2 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	if (atomic_load(&b->state) != 1) {
		snprintf(err, errlen, "backend: no subscription to %s on %s:%u within %d ms", BACKEND_TOPIC_FILTER, host,
		         port, READY_TIMEOUT_MS);
		backend_stop(b);
		*e = ERR_SERVER;
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
	mosquitto_disconnect(b->mosq);
	mosquitto_loop_stop(b->mosq, false);
	mosquitto_destroy(b->mosq);
	free(b);
}

uint64_t backend_received(const struct backend *b) { return atomic_load(&b->received); }
uint64_t backend_foreign(const struct backend *b) { return atomic_load(&b->foreign); }

void backend_version(char *buf, size_t len)
{
	int ma, mi, rv;
	mosquitto_lib_version(&ma, &mi, &rv);
	snprintf(buf, len, "libmosquitto %d.%d.%d", ma, mi, rv);
}
