/* bare_paho.c: paho.mqtt.c's MQTTAsync without dormant, for `dormant bench`.
 *
 * The loop an application would write: per wake a new handle straight to
 * the broker (the device's source address is the one thing paho cannot
 * take, so these wakes come from 127.0.0.1), connect, publish at QoS 1
 * from the connect's success callback, disconnect with timeout 0 from the
 * publish's, and the handle destroyed by the main thread once the
 * disconnect succeeded (paho forbids destroying from its own callbacks).
 * No nudge keeper: paho's own waits (shared/notes/paho-waits.md) are what
 * this row is there to show. CPU is the whole process's: paho's two
 * threads and the main thread's create/destroy.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <MQTTAsync.h>

#include "bench.h"
#include "clock.h"

struct pw {
	MQTTAsync h;
	uint32_t device;
	uint64_t start_ns;
	int state;                 /* 0 idle, 1 in flight, 2 done ok, 3 failed */
	char why[160];
	struct bare *b;
	char topic[64];
};

struct bare {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct pw *slots;
	int ndone;
	char uri[48];
	const struct bench_load *l;
};

static void finish(struct pw *w, int ok, const char *why)
{
	struct bare *b = w->b;
	pthread_mutex_lock(&b->mu);
	w->state = ok ? 2 : 3;
	if (!ok)
		snprintf(w->why, sizeof(w->why), "%s", why);
	b->ndone++;
	pthread_cond_signal(&b->cv);
	pthread_mutex_unlock(&b->mu);
}

static void on_disc(void *ctx, MQTTAsync_successData *d)
{
	finish(ctx, 1, NULL);
}

static void on_fail(void *ctx, MQTTAsync_failureData *d)
{
	char why[160];
	snprintf(why, sizeof(why), "rc=%d %s", d ? d->code : 0, d && d->message ? d->message : "");
	finish(ctx, 0, why);
}

static void on_pub(void *ctx, MQTTAsync_successData *d)
{
	struct pw *w = ctx;
	MQTTAsync_disconnectOptions o = MQTTAsync_disconnectOptions_initializer;
	o.timeout = 0;
	o.onSuccess = on_disc;
	o.onFailure = on_fail;
	o.context = w;
	int rc = MQTTAsync_disconnect(w->h, &o);
	if (rc != MQTTASYNC_SUCCESS)
		finish(w, 0, MQTTAsync_strerror(rc));
}

static void on_conn(void *ctx, MQTTAsync_successData *d)
{
	struct pw *w = ctx;
	static char payload[65536];
	MQTTAsync_message m = MQTTAsync_message_initializer;
	m.payload = payload;
	m.payloadlen = (int)w->b->l->payload;
	m.qos = 1;
	MQTTAsync_responseOptions o = MQTTAsync_responseOptions_initializer;
	o.onSuccess = on_pub;
	o.onFailure = on_fail;
	o.context = w;
	int rc = MQTTAsync_sendMessage(w->h, w->topic, &m, &o);
	if (rc != MQTTASYNC_SUCCESS)
		finish(w, 0, MQTTAsync_strerror(rc));
}

static int start(struct bare *b, struct pw *w, uint32_t device)
{
	char id[24];
	snprintf(id, sizeof(id), "dev%u", device);
	snprintf(w->topic, sizeof(w->topic), "dormant/dev%u/telemetry", device);
	w->device = device;
	w->b = b;
	w->state = 1;
	w->start_ns = clock_mono_ns();
	MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer;
	co.MQTTVersion = MQTTVERSION_3_1_1;
	int rc = MQTTAsync_createWithOptions(&w->h, b->uri, id, MQTTCLIENT_PERSISTENCE_NONE, NULL, &co);
	if (rc != MQTTASYNC_SUCCESS) {
		snprintf(w->why, sizeof(w->why), "MQTTAsync_create: %s", MQTTAsync_strerror(rc));
		w->h = NULL;
		return -1;
	}
	MQTTAsync_connectOptions o = MQTTAsync_connectOptions_initializer;
	o.keepAliveInterval = 60;
	o.cleansession = 1;
	o.MQTTVersion = MQTTVERSION_3_1_1;
	o.onSuccess = on_conn;
	o.onFailure = on_fail;
	o.context = w;
	rc = MQTTAsync_connect(w->h, &o);
	if (rc != MQTTASYNC_SUCCESS) {
		snprintf(w->why, sizeof(w->why), "MQTTAsync_connect: %s", MQTTAsync_strerror(rc));
		return -1;
	}
	return 0;
}

/* Starts W's wake; one that could not start counts as ended and failed
 * (the callbacks of other wakes may be running: under the lock). */
static void start_or_fail(struct bare *b, struct pw *w, uint32_t device)
{
	if (start(b, w, device) == 0)
		return;
	pthread_mutex_lock(&b->mu);
	w->state = 3;
	b->ndone++;
	pthread_mutex_unlock(&b->mu);
}

int bare_paho_run(const struct bench_target *t, const struct bench_load *l, struct bench_result *r)
{
	memset(r, 0, sizeof(*r));
	if (t->tls) {
		snprintf(r->why, sizeof(r->why), "not run: Debian's paho does TLS with OpenSSL, not mbedTLS");
		return -1;
	}
	struct bare b = { .l = l };
	pthread_mutex_init(&b.mu, NULL);
	pthread_cond_init(&b.cv, NULL);
	snprintf(b.uri, sizeof(b.uri), "tcp://127.0.0.1:%u", t->port);
	b.slots = calloc((size_t)l->concurrency, sizeof(*b.slots));
	if (!b.slots) {
		snprintf(r->why, sizeof(r->why), "out of memory");
		return -1;
	}
	uint64_t started = 0, ended = 0;
	uint64_t c0 = clock_process_cpu_ns(), t0 = clock_mono_ns();
	for (int i = 0; i < l->concurrency && started < l->wakes; i++) {
		uint32_t dev = bench_slot_device(l, i, started);
		started++;
		start_or_fail(&b, &b.slots[i], dev);
	}
	pthread_mutex_lock(&b.mu);
	while (ended < l->wakes) {
		while (!b.ndone) {
			struct timespec dl;
			clock_gettime(CLOCK_REALTIME, &dl);
			dl.tv_sec += 30;
			if (pthread_cond_timedwait(&b.cv, &b.mu, &dl) == ETIMEDOUT)
				break;
		}
		if (!b.ndone) {
			snprintf(r->why, sizeof(r->why), "paho: no wake ended for 30 s");
			break;
		}
		for (int i = 0; i < l->concurrency; i++) {
			struct pw *w = &b.slots[i];
			if (w->state < 2)
				continue;
			int ok = w->state == 2;
			b.ndone--;
			w->state = 0;
			pthread_mutex_unlock(&b.mu);
			ended++;
			if (ok) {
				samples_add(&r->lat, (double)(clock_mono_ns() - w->start_ns) / 1e6);
			} else {
				if (!r->failed)
					snprintf(r->why, sizeof(r->why), "dev%u: %s", w->device, w->why);
				r->failed++;
			}
			if (w->h)
				MQTTAsync_destroy(&w->h);
			if (started < l->wakes) {
				uint32_t dev = bench_slot_device(l, i, started);
				started++;
				start_or_fail(&b, w, dev);
			}
			pthread_mutex_lock(&b.mu);
		}
	}
	pthread_mutex_unlock(&b.mu);
	r->wall_s = (double)(clock_mono_ns() - t0) / 1e9;
	r->client_cpu_s = (double)(clock_process_cpu_ns() - c0) / 1e9;
	r->wakes = ended;
	int rc = ended == l->wakes ? 0 : -1;
	/* a wake still in flight after a stall: its handle is left to paho (destroying it here could race a callback) */
	free(rc == 0 ? b.slots : NULL);
	return rc;
}
