/* mqtt.c: MQTT 3.1.1 on paho.mqtt.c (MQTTAsync), through the modem.
 *
 * How paho is driven, and why (measurements in shared/notes/paho-waits.md):
 * - MQTTAsync, not MQTTClient: the sync client spends ~200 ms per wake in
 *   its own 100 ms polls.
 * - A new handle per wake, the way a sleeping device starts its stack anew;
 *   a reused handle waits ~1 s on reconnect.
 * - Each step is chained from the previous one's callback (connect ->
 *   publish -> disconnect with timeout 0); the engine thread destroys the
 *   handle afterwards, never a paho callback.
 * - The nudge keeper: paho's receive thread polls a stale socket set with a
 *   1 s timeout and never polls for connect completion, so stock MQTTAsync
 *   writes CONNECT only 1-2 s after the TCP connect. Through the public API
 *   alone, one extra handle that stays connected to a tiny endpoint served
 *   here, and gets two PINGRESPs each time a device connection is accepted,
 *   wakes the receive thread at once (0.25-0.5 ms wakes instead of 1-2 s).
 *   It also keeps paho's two threads alive between wakes. The keeper's own
 *   traffic never crosses the modem, so it is not in any wake's bytes; its
 *   CPU, being paho's threads, is in the client CPU figure.
 *   paho's residual lost wake-up (a command delayed 1000 ms, ~3 in 10,000
 *   wakes) is not hidden: it shows in t_client_us.
 * - Downlink (fleet downlink: true): a persistent session (clean session
 *   0, client id dev<N>) with a QoS 1 subscription to
 *   dormant/dev<N>/commands. mosquitto routes a command only to the
 *   subscriptions it holds when the command comes; with none it drops it,
 *   so the device's session counts from the SUBACK (wake_session). With
 *   session: before-window (the default) prepare() makes it before the
 *   window on a set-up connection through the modem (CONNECT, SUBSCRIBE,
 *   DISCONNECT; no row), as a deployed device has had it for long; else
 *   the device's first wake subscribes, when CONNACK says the broker has no
 *   session yet, or when no SUBACK of it was seen (a wake that failed
 *   between CONNACK and SUBACK leaves a session without the subscription). The broker sends
 *   queued commands right after CONNACK, before it reads our PUBLISH, and
 *   paho acknowledges each as it reads it, so by our PUBACK every queued
 *   command is in and acknowledged: checking costs no bytes when there is
 *   nothing to get, and the device never waits for "no command". At QoS 0
 *   nothing comes back for the telemetry, so the device subscribes again
 *   every wake: the SUBACK follows the queued commands and marks their end
 *   (28 + 5 bytes a wake; without it a command could arrive after the
 *   DISCONNECT and wait a whole wake more).
 * - connection: persistent: one handle per device, made at its first wake
 *   (or after a loss) and kept through its sleeps (struct mqtt_conn, in
 *   the device's struct persist), with keepAliveInterval at the fleet's
 *   keepalive: paho itself sends PINGREQ once nothing was sent or received
 *   for that long (its receive thread checks about once a second, so a
 *   PINGREQ comes keepalive to keepalive + ~1.1 s after the last packet),
 *   and closes the connection when no PINGRESP came within another
 *   keepalive. A wake on a connection that is up publishes at once and ends
 *   at the last PUBACK (QoS 0: the write), with no DISCONNECT. paho's
 *   connectionLost (a missing PINGRESP, a closed socket) marks the
 *   connection lost (wake_persist_lost): a wake in flight fails with
 *   `closed`, and the next wake reconnects. Clean session 1, so a lost
 *   connection's in-flight message is not resent: the wake that sent it
 *   counts it unacknowledged.
 * - connection: persistent with downlink: the kept connection subscribes
 *   to its commands right after its CONNACK (clean session 1: every
 *   connect subscribes anew, so the broker drops commands that come while
 *   the device has no connection, as it would in the field), and the
 *   broker pushes each command down it at once, asleep or awake; paho
 *   acknowledges it (PUBACK) from its receive thread. Behind a link the
 *   device listens through its sleeps (link.h), so the command waits for
 *   its next listen occasion in the emulator.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <MQTTAsync.h>

#include "adapter.h"
#include "clock.h"
#include "loop.h"
#include "mqtt_frame.h"

struct mqtt_wake;

/* connection: persistent: a device's handle, kept across its wakes (persist.adapter). */
struct mqtt_conn {
	MQTTAsync h;
	struct persist *pc;
	pthread_mutex_t lock;
	struct mqtt_wake *cur;    /* the wake using it (under lock); NULL while the device sleeps */
	struct mqtt_wake *dead;   /* reaped wakes paho may still hold a callback of (a message not acknowledged):
	                           * freed after MQTTAsync_destroy, which fails what it had in flight */
	_Atomic int state;        /* 0 connecting, 1 connected, -1 gone */
};

struct mqtt_msg_ctx {
	struct mqtt_wake *mw;
	uint32_t k;
};

struct mqtt_wake {
	MQTTAsync h;
	struct wake *w;
	char topic[64];
	_Atomic uint32_t finished_msgs;  /* messages done, plus the subscription when one is made */
	uint32_t steps;                  /* what must finish before DISCONNECT */
	_Atomic int done;
	unsigned char *payload;   /* nmsg * payload_bytes */
	struct mqtt_msg_ctx *mctx;
	struct mqtt_conn *conn;   /* connection: persistent: the device's handle (h is conn->h); NULL per-wake */
	struct mqtt_wake *next_dead;
};

/* The fallback phase for bytes the framer cannot place. A persistent
 * connection is the device's, not the wake's: its framer places every byte. */
static void set_phase(struct mqtt_wake *mw, enum phase p)
{
	if (!mw->conn)
		modem_set_phase(mw->w->mc, p);
}

/* The nudge endpoint: a listening socket plus the keeper's connection. */
static struct {
	const struct adapter_env *env;
	struct loop_src lsn, conn;
	unsigned char in[64];
	size_t inlen;
	MQTTAsync keeper;
	_Atomic int keeper_state; /* 0 connecting, 1 connected, -1 failed */
	uint64_t nudges;
} nudge = { .lsn.fd = -1, .conn.fd = -1 };

static void done(struct mqtt_wake *mw, enum dormant_err err, const char *detail)
{
	int expected = 0;
	if (!atomic_compare_exchange_strong(&mw->done, &expected, 1))
		return;
	wake_adapter_done(mw->w, err, detail);
}

static void on_disconnect_ok(void *ctx, MQTTAsync_successData *d)
{
	struct mqtt_wake *mw = ctx;
	wake_note_thread(mw->w);
	done(mw, ERR_OK, NULL);
}

static void on_disconnect_fail(void *ctx, MQTTAsync_failureData *d)
{
	struct mqtt_wake *mw = ctx;
	char why[120];
	snprintf(why, sizeof(why), "disconnect failed: rc=%d %s", d ? d->code : 0, d && d->message ? d->message : "");
	done(mw, ERR_LIBRARY, why);
}

static void message_finished(struct mqtt_wake *mw)
{
	if (atomic_fetch_add(&mw->finished_msgs, 1) + 1 < mw->steps)
		return;
	if (mw->conn) {
		done(mw, ERR_OK, NULL); /* the connection stays up through the sleep */
		return;
	}
	set_phase(mw, PHASE_TEARDOWN);
	MQTTAsync_disconnectOptions o = MQTTAsync_disconnectOptions_initializer;
	o.timeout = 0; /* send DISCONNECT and close now; a timeout would wait for it, in 3 s quanta */
	o.onSuccess = on_disconnect_ok;
	o.onFailure = on_disconnect_fail;
	o.context = mw;
	int rc = MQTTAsync_disconnect(mw->h, &o);
	if (rc != MQTTASYNC_SUCCESS) {
		char why[80];
		snprintf(why, sizeof(why), "MQTTAsync_disconnect: %s", MQTTAsync_strerror(rc));
		done(mw, ERR_LIBRARY, why);
	}
}

static void on_publish_ok(void *ctx, MQTTAsync_successData *d)
{
	struct mqtt_msg_ctx *m = ctx;
	wake_note_thread(m->mw->w);
	wake_message_acked(m->mw->w, m->k);
	message_finished(m->mw);
}

static void on_publish_fail(void *ctx, MQTTAsync_failureData *d)
{
	struct mqtt_msg_ctx *m = ctx;
	char why[120];
	snprintf(why, sizeof(why), "publish failed: rc=%d %s", d ? d->code : 0, d && d->message ? d->message : "");
	done(m->mw, ERR_PROTOCOL, why);
}

static void on_subscribe_ok(void *ctx, MQTTAsync_successData *d)
{
	struct mqtt_wake *mw = ctx;
	wake_note_thread(mw->w);
	if (d && d->alt.qos != 1) {
		char why[64];
		snprintf(why, sizeof(why), "SUBACK granted qos %d, asked for 1", d->alt.qos);
		done(mw, ERR_PROTOCOL, why);
		return;
	}
	wake_session(mw->w); /* the broker holds the subscription: commands from now on are queued */
	message_finished(mw);
}

static void on_subscribe_fail(void *ctx, MQTTAsync_failureData *d)
{
	struct mqtt_wake *mw = ctx;
	char why[120];
	snprintf(why, sizeof(why), "subscribe failed: rc=%d %s", d ? d->code : 0, d && d->message ? d->message : "");
	done(mw, ERR_PROTOCOL, why);
}

static void publish_all(struct mqtt_wake *mw);

static void on_connect_ok(void *ctx, MQTTAsync_successData *d)
{
	struct mqtt_wake *mw = ctx;
	struct wake *w = mw->w;
	wake_note_thread(w);
	if (mw->conn)
		atomic_store(&mw->conn->state, 1);
	mw->steps = w->nmsg;
	if (w->fleet->downlink &&
	    (w->setup || w->qos == 0 || !(d && d->alt.connect.sessionPresent) || !wake_has_session(w))) {
		/* No session on the broker yet: ask for the commands once; the
		 * session keeps the subscription across the device's sleeps. At
		 * QoS 0 the SUBACK is also the mark that every queued command is in. */
		char ctopic[64];
		snprintf(ctopic, sizeof(ctopic), "dormant/dev%u/commands", w->device);
		MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
		ro.onSuccess = on_subscribe_ok;
		ro.onFailure = on_subscribe_fail;
		ro.context = mw;
		mw->steps++;
		int rc = MQTTAsync_subscribe(mw->h, ctopic, 1, &ro);
		if (rc != MQTTASYNC_SUCCESS) {
			char why[80];
			snprintf(why, sizeof(why), "MQTTAsync_subscribe: %s", MQTTAsync_strerror(rc));
			done(mw, ERR_LIBRARY, why);
			return;
		}
	}
	publish_all(mw);
}

/* Hands the wake's messages to paho (from CONNACK, or at once on a kept connection). */
static void publish_all(struct mqtt_wake *mw)
{
	struct wake *w = mw->w;
	set_phase(mw, PHASE_DATA);
	uint32_t len = w->fleet->payload_bytes;
	for (uint32_t k = 0; k < w->nmsg; k++) {
		unsigned char *p = mw->payload + (size_t)k * len;
		MQTTAsync_message msg = MQTTAsync_message_initializer;
		MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
		mw->mctx[k] = (struct mqtt_msg_ctx){ mw, k };
		ro.onSuccess = on_publish_ok;
		ro.onFailure = on_publish_fail;
		ro.context = &mw->mctx[k];
		wake_message(w, k, p, len);
		msg.payload = p;
		msg.payloadlen = (int)len;
		msg.qos = w->qos;
		msg.retained = 0;
		int rc = MQTTAsync_sendMessage(mw->h, mw->topic, &msg, &ro);
		if (rc != MQTTASYNC_SUCCESS) {
			char why[80];
			snprintf(why, sizeof(why), "MQTTAsync_sendMessage: %s", MQTTAsync_strerror(rc));
			done(mw, ERR_LIBRARY, why);
			return;
		}
		wake_message_sent(w, k);
	}
}

static void on_connect_fail(void *ctx, MQTTAsync_failureData *d)
{
	struct mqtt_wake *mw = ctx;
	char why[120];
	int code = d ? d->code : 0;
	if (mw->conn)
		atomic_store(&mw->conn->state, -1);
	/* 1..5 are CONNACK return codes: the broker refused; anything else is paho's own failure to connect. */
	if (code >= 1 && code <= 5) {
		snprintf(why, sizeof(why), "CONNACK return code %d", code);
		done(mw, ERR_PROTOCOL, why);
	} else {
		snprintf(why, sizeof(why), "connect failed: rc=%d %s", code, d && d->message ? d->message : "");
		done(mw, ERR_CONNECT, why);
	}
	if (mw->conn)
		wake_persist_lost(mw->conn->pc, why);
}

/* connection: persistent: paho lost the device's kept connection (no
 * PINGRESP within the keep-alive, or the socket closed), asleep or awake. */
static void conn_lost(void *ctx, char *cause)
{
	struct mqtt_conn *cn = ctx;
	char why[120];
	atomic_store(&cn->state, -1);
	snprintf(why, sizeof(why), "connection lost (paho: no PINGRESP within keepalive, or the socket closed)%s%s",
	         cause ? ": " : "", cause ? cause : "");
	wake_persist_lost(cn->pc, why);
	pthread_mutex_lock(&cn->lock);
	if (cn->cur)
		done(cn->cur, ERR_CLOSED, why);
	pthread_mutex_unlock(&cn->lock);
}

/* connection: persistent with downlink: a command pushed down the kept
 * connection, to the wake on it or, while the device sleeps, to the
 * connection (the next wake's row counts it). paho acknowledges it (PUBACK)
 * when this returns 1. */
static int conn_message(void *ctx, char *topic, int tlen, MQTTAsync_message *m)
{
	struct mqtt_conn *cn = ctx;
	pthread_mutex_lock(&cn->lock);
	if (cn->cur) {
		wake_note_thread(cn->cur->w);
		wake_command(cn->cur->w, m->payload, (size_t)m->payloadlen);
	} else {
		wake_persist_command(cn->pc, m->payload, (size_t)m->payloadlen); /* one not from this run is ignored */
	}
	pthread_mutex_unlock(&cn->lock);
	MQTTAsync_freeMessage(&m);
	MQTTAsync_free(topic);
	return 1;
}

static void on_connection_lost(void *ctx, char *cause)
{
	struct mqtt_wake *mw = ctx;
	char why[120];
	snprintf(why, sizeof(why), "connection lost%s%s", cause ? ": " : "", cause ? cause : "");
	done(mw, ERR_CLOSED, why);
}

static int on_message(void *ctx, char *topic, int tlen, MQTTAsync_message *m)
{
	struct mqtt_wake *mw = ctx;
	wake_note_thread(mw->w);
	wake_command(mw->w, m->payload, (size_t)m->payloadlen); /* one not from this run is ignored */
	MQTTAsync_freeMessage(&m);
	MQTTAsync_free(topic);
	return 1;
}

/* ---- nudge endpoint ---- */

static void nudge_conn_close(void)
{
	if (nudge.conn.fd >= 0) {
		loop_del(nudge.env->epfd, &nudge.conn);
		close(nudge.conn.fd);
		nudge.conn.fd = -1;
	}
}

/* Answers the keeper as a broker would: CONNECT -> CONNACK, PINGREQ -> PINGRESP. */
static void on_nudge_conn(struct loop_src *src, uint32_t events)
{
	ssize_t n = recv(src->fd, nudge.in + nudge.inlen, sizeof(nudge.in) - nudge.inlen, 0);
	if (n <= 0) {
		if (n < 0 && errno == EAGAIN)
			return;
		nudge_conn_close();
		return;
	}
	nudge.inlen += (size_t)n;
	for (;;) {
		size_t len;
		enum phase ph;
		int r = mqtt_frame(0, nudge.in, nudge.inlen, &len, &ph, NULL);
		if (r == 0)
			break;
		if (r < 0 || len > sizeof(nudge.in)) {
			nudge_conn_close();
			return;
		}
		if (nudge.inlen < len)
			break;
		unsigned type = nudge.in[0] >> 4;
		static const unsigned char connack[] = { 0x20, 0x02, 0x00, 0x00 };
		static const unsigned char pingresp[] = { 0xd0, 0x00 };
		if (type == 1)
			(void)!send(src->fd, connack, sizeof(connack), MSG_NOSIGNAL);
		else if (type == 12)
			(void)!send(src->fd, pingresp, sizeof(pingresp), MSG_NOSIGNAL);
		memmove(nudge.in, nudge.in + len, nudge.inlen - len);
		nudge.inlen -= len;
	}
}

static void on_nudge_listen(struct loop_src *src, uint32_t events)
{
	int fd = accept4(src->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	nudge_conn_close();
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	nudge.inlen = 0;
	nudge.conn.fn = on_nudge_conn;
	loop_add(nudge.env->epfd, &nudge.conn, fd, EPOLLIN);
}

static int keeper_message(void *ctx, char *topic, int tlen, MQTTAsync_message *m)
{
	MQTTAsync_freeMessage(&m); /* the keeper subscribes to nothing */
	MQTTAsync_free(topic);
	return 1;
}

static void keeper_ok(void *ctx, MQTTAsync_successData *d) { atomic_store(&nudge.keeper_state, 1); }
static void keeper_fail(void *ctx, MQTTAsync_failureData *d) { atomic_store(&nudge.keeper_state, -1); }
static void keeper_lost(void *ctx, char *cause) { atomic_store(&nudge.keeper_state, -1); }

static enum dormant_err mqtt_init(const struct adapter_env *env, char *err, size_t errlen)
{
	nudge.env = env;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &sl) < 0) {
		snprintf(err, errlen, "mqtt: nudge endpoint: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return ERR_INTERNAL;
	}
	nudge.lsn.fn = on_nudge_listen;
	loop_add(env->epfd, &nudge.lsn, fd, EPOLLIN);

	char uri[64];
	snprintf(uri, sizeof(uri), "tcp://127.0.0.1:%u", ntohs(sa.sin_port));
	MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer;
	co.MQTTVersion = MQTTVERSION_3_1_1;
	int rc = MQTTAsync_createWithOptions(&nudge.keeper, uri, "__dormant_nudge__", MQTTCLIENT_PERSISTENCE_NONE, NULL, &co);
	if (rc == MQTTASYNC_SUCCESS)
		rc = MQTTAsync_setCallbacks(nudge.keeper, NULL, keeper_lost, keeper_message, NULL);
	MQTTAsync_connectOptions o = MQTTAsync_connectOptions_initializer;
	o.keepAliveInterval = 0; /* the keeper must never time out */
	o.cleansession = 1;
	o.MQTTVersion = MQTTVERSION_3_1_1;
	o.onSuccess = keeper_ok;
	o.onFailure = keeper_fail;
	atomic_store(&nudge.keeper_state, 0);
	if (rc == MQTTASYNC_SUCCESS)
		rc = MQTTAsync_connect(nudge.keeper, &o);
	if (rc != MQTTASYNC_SUCCESS) {
		snprintf(err, errlen, "mqtt: nudge keeper: %s", MQTTAsync_strerror(rc));
		return ERR_LIBRARY;
	}
	uint64_t deadline = clock_mono_ns() + 5000000000ull;
	while (atomic_load(&nudge.keeper_state) == 0 && clock_mono_ns() < deadline)
		loop_run_once(env->loop, 10);
	if (atomic_load(&nudge.keeper_state) != 1) {
		snprintf(err, errlen, "mqtt: nudge keeper did not connect within 5 s");
		return ERR_LIBRARY;
	}
	return ERR_OK;
}

static void mqtt_fini(void)
{
	if (nudge.keeper) {
		MQTTAsync_disconnectOptions o = MQTTAsync_disconnectOptions_initializer;
		o.timeout = 0;
		MQTTAsync_disconnect(nudge.keeper, &o);
		MQTTAsync_destroy(&nudge.keeper);
		nudge.keeper = NULL;
	}
	nudge_conn_close();
	if (nudge.lsn.fd >= 0) {
		loop_del(nudge.env->epfd, &nudge.lsn);
		close(nudge.lsn.fd);
		nudge.lsn.fd = -1;
	}
}

static void mqtt_accepted(struct wake *w)
{
	/* Two PINGRESPs: the first ends the receive thread's stale poll, the
	 * second makes its poll on the fresh socket set (with this connection
	 * in it) return at once. */
	static const unsigned char two[] = { 0xd0, 0x00, 0xd0, 0x00 };
	if (nudge.conn.fd >= 0 && send(nudge.conn.fd, two, sizeof(two), MSG_NOSIGNAL) == (ssize_t)sizeof(two))
		nudge.nudges++;
}

static void mqtt_wake_free(struct mqtt_wake *mw)
{
	free(mw->payload);
	free(mw->mctx);
	free(mw);
}

/* connection: persistent: publish over the device's kept connection, or make it. */
/* A paho handle for W's device that connects to its modem endpoint: MQTT
 * 3.1.1, nothing queued while disconnected. paho's return code; on failure
 * W->detail says why. */
static int create_handle(MQTTAsync *h, struct wake *w)
{
	char uri[48], client_id[24];
	snprintf(uri, sizeof(uri), "tcp://127.0.0.1:%u", w->modem_port);
	snprintf(client_id, sizeof(client_id), "dev%u", w->device);
	MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer;
	co.MQTTVersion = MQTTVERSION_3_1_1;
	co.sendWhileDisconnected = 0;
	/* paho refuses a publish once this many commands wait in its queue,
	 * connected or not (default 100): a wake hands it all its messages at
	 * once, plus the SUBSCRIBE. */
	co.maxBufferedMessages = (int)w->fleet->messages_per_wake + 8;
	if (co.maxBufferedMessages < 100)
		co.maxBufferedMessages = 100;
	int rc = MQTTAsync_createWithOptions(h, uri, client_id, MQTTCLIENT_PERSISTENCE_NONE, NULL, &co);
	if (rc != MQTTASYNC_SUCCESS)
		snprintf(w->detail, sizeof(w->detail), "MQTTAsync_create: %s", MQTTAsync_strerror(rc));
	return rc;
}

static enum dormant_err persist_start(struct mqtt_wake *mw)
{
	struct wake *w = mw->w;
	struct persist *pc = w->pc;
	struct mqtt_conn *cn = pc->adapter;
	if (cn && !w->connected) {
		mw->conn = cn;
		mw->h = cn->h;
		w->adapter = mw;
		pthread_mutex_lock(&cn->lock);
		cn->cur = mw;
		pthread_mutex_unlock(&cn->lock);
		if (atomic_load(&cn->state) != 1) {
			done(mw, ERR_CLOSED, "the kept connection is not up");
			return ERR_OK;
		}
		mw->steps = w->nmsg;
		publish_all(mw); /* ends in done(), here or on paho's threads */
		return ERR_OK;
	}
	cn = calloc(1, sizeof(*cn));
	if (!cn) {
		mqtt_wake_free(mw);
		return ERR_NOMEM;
	}
	pthread_mutex_init(&cn->lock, NULL);
	cn->pc = pc;
	int rc = create_handle(&cn->h, w);
	if (rc != MQTTASYNC_SUCCESS) {
		pthread_mutex_destroy(&cn->lock);
		free(cn);
		mqtt_wake_free(mw);
		return ERR_LIBRARY;
	}
	MQTTAsync_setCallbacks(cn->h, cn, conn_lost, conn_message, NULL);
	mw->conn = cn;
	mw->h = cn->h;
	cn->cur = mw;
	pc->adapter = cn; /* drop() releases it, whatever happens next */
	w->adapter = mw;
	MQTTAsync_connectOptions o = MQTTAsync_connectOptions_initializer;
	o.keepAliveInterval = (int)(w->fleet->keepalive_us / 1000000u);
	o.cleansession = 1;
	o.MQTTVersion = MQTTVERSION_3_1_1;
	o.connectTimeout = (int)(w->sc->wake_timeout_us / 1000000u);
	o.onSuccess = on_connect_ok;
	o.onFailure = on_connect_fail;
	o.context = mw;
	rc = MQTTAsync_connect(cn->h, &o);
	if (rc != MQTTASYNC_SUCCESS) {
		snprintf(w->detail, sizeof(w->detail), "MQTTAsync_connect: %s", MQTTAsync_strerror(rc));
		cn->cur = NULL;
		atomic_store(&cn->state, -1);
		mqtt_wake_free(mw);
		w->adapter = NULL;
		return ERR_LIBRARY;
	}
	return ERR_OK;
}

static void mqtt_drop(struct persist *pc)
{
	struct mqtt_conn *cn = pc->adapter;
	if (!cn)
		return;
	if (atomic_load(&cn->state) == 1 && MQTTAsync_isConnected(cn->h)) {
		MQTTAsync_disconnectOptions o = MQTTAsync_disconnectOptions_initializer;
		o.timeout = 0;
		MQTTAsync_disconnect(cn->h, &o);
	}
	MQTTAsync_destroy(&cn->h);
	while (cn->dead) {
		struct mqtt_wake *mw = cn->dead;
		cn->dead = mw->next_dead;
		mqtt_wake_free(mw);
	}
	pthread_mutex_destroy(&cn->lock);
	free(cn);
	pc->adapter = NULL;
}

static enum dormant_err mqtt_start(struct wake *w)
{
	struct mqtt_wake *mw = calloc(1, sizeof(*mw));
	if (!mw)
		return ERR_NOMEM;
	mw->w = w;
	mw->payload = malloc(w->nmsg ? (size_t)w->nmsg * w->fleet->payload_bytes : 1); /* a set-up sends none */
	mw->mctx = calloc(w->nmsg ? w->nmsg : 1, sizeof(*mw->mctx));
	if (!mw->payload || !mw->mctx) {
		mqtt_wake_free(mw);
		return ERR_NOMEM;
	}
	snprintf(mw->topic, sizeof(mw->topic), "dormant/dev%u/telemetry", w->device);
	if (w->pc)
		return persist_start(mw);
	int rc = create_handle(&mw->h, w);
	if (rc != MQTTASYNC_SUCCESS) {
		mqtt_wake_free(mw);
		return ERR_LIBRARY;
	}
	MQTTAsync_setCallbacks(mw->h, mw, on_connection_lost, on_message, NULL);
	MQTTAsync_connectOptions o = MQTTAsync_connectOptions_initializer;
	o.keepAliveInterval = 60;
	o.cleansession = w->fleet->downlink ? 0 : 1; /* a session keeps the commands while the device sleeps */
	o.MQTTVersion = MQTTVERSION_3_1_1; /* the default would retry with 3.1 on refusal */
	o.connectTimeout = (int)(w->sc->wake_timeout_us / 1000000u);
	o.onSuccess = on_connect_ok;
	o.onFailure = on_connect_fail;
	o.context = mw;
	w->adapter = mw;
	modem_set_phase(w->mc, PHASE_SETUP);
	rc = MQTTAsync_connect(mw->h, &o);
	if (rc != MQTTASYNC_SUCCESS) {
		snprintf(w->detail, sizeof(w->detail), "MQTTAsync_connect: %s", MQTTAsync_strerror(rc));
		MQTTAsync_destroy(&mw->h);
		mqtt_wake_free(mw);
		w->adapter = NULL;
		return ERR_LIBRARY;
	}
	return ERR_OK;
}

/* The device's persistent session and subscription, before the window:
 * the same connection as a wake's (CONNECT clean session 0, SUBSCRIBE QoS 1,
 * DISCONNECT), no PUBLISH (w->nmsg is 0). */
static enum dormant_err mqtt_prepare(struct wake *w)
{
	return mqtt_start(w);
}

static void mqtt_abort(struct wake *w)
{
	/* The modem side is closed already; paho reports the lost connection
	 * (or its connect failure) through the callbacks, which end the wake. */
}

static void mqtt_reap(struct wake *w)
{
	struct mqtt_wake *mw = w->adapter;
	if (!mw)
		return;
	if (mw->conn) {
		/* the handle is the device's: only this wake lets go of it */
		struct mqtt_conn *cn = mw->conn;
		w->adapter = NULL;
		if (w->pc && w->pc->adapter == cn) {
			pthread_mutex_lock(&cn->lock);
			if (cn->cur == mw)
				cn->cur = NULL;
			if (w->acked < w->nmsg) {
				mw->next_dead = cn->dead; /* paho may still fail its message: kept until drop */
				cn->dead = mw;
				mw = NULL;
			}
			pthread_mutex_unlock(&cn->lock);
		}
		if (mw)
			mqtt_wake_free(mw);
		return;
	}
	MQTTAsync_destroy(&mw->h);
	mqtt_wake_free(mw);
	w->adapter = NULL;
}

static void mqtt_version(char *buf, size_t len)
{
	const char *v = "?";
	for (MQTTAsync_nameValue *nv = MQTTAsync_getVersionInfo(); nv && nv->name; nv++)
		if (!strcmp(nv->name, "Version"))
			v = nv->value;
	snprintf(buf, len, "paho.mqtt.c MQTTAsync %s", v);
}

const struct adapter_ops mqtt_adapter = {
	.name = "mqtt",
	.protocol = PROTO_MQTT,
	.init = mqtt_init,
	.fini = mqtt_fini,
	.start = mqtt_start,
	.prepare = mqtt_prepare,
	.frame = mqtt_frame,
	.accepted = mqtt_accepted,
	.abort = mqtt_abort,
	.reap = mqtt_reap,
	.drop = mqtt_drop,
	.version = mqtt_version,
};
