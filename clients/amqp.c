/* amqp.c: AMQP 1.0 on qpid-proton-c, through the modem with no socket of its own.
 *
 * proton's pn_connection_driver runs the protocol over any byte stream, so
 * it runs on the engine thread and the modem feeds it directly
 * (struct modem_lib): no extra socket, no library threads, no internal
 * polling waits. Per wake: SASL ANONYMOUS, open, begin, attach a sender to
 * /topic/dormant.dev<N>.telemetry (RabbitMQ's amq.topic, where dormant's
 * backend subscribes), wait for credit, transfer each message (QoS 0:
 * pre-settled; QoS 1: unsettled, acknowledged by the broker's accepted
 * disposition), then detach, end and close and wait for the broker's close,
 * so the server ends the TLS session cleanly and keeps it for resumption.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <proton/condition.h>
#include <proton/connection.h>
#include <proton/connection_driver.h>
#include <proton/delivery.h>
#include <proton/event.h>
#include <proton/link.h>
#include <proton/message.h>
#include <proton/sasl.h>
#include <proton/session.h>
#include <proton/terminus.h>
#include <proton/transport.h>
#include <proton/version.h>

#include "adapter.h"
#include "clock.h"

struct amqp_wake {
	struct wake *w;
	pn_connection_driver_t d;
	pn_session_t *session;
	pn_link_t *sender;
	uint32_t sent, settled;
	int closing, finished;
	enum dormant_err err;
	char detail[160];
	unsigned char *payload;
	char *enc;
	size_t enc_cap;
};

/* The first failure of the wake, with its detail. */
static void fail(struct amqp_wake *a, enum dormant_err e, const char *msg)
{
	if (a->err != ERR_OK)
		return;
	a->err = e;
	snprintf(a->detail, sizeof(a->detail), "%s", msg);
}

static void fail_condition(struct amqp_wake *a, pn_condition_t *c, const char *where)
{
	if (c && pn_condition_is_set(c)) {
		char what[160];
		const char *desc = pn_condition_get_description(c);
		snprintf(what, sizeof(what), "%s: %s %s", where, pn_condition_get_name(c), desc ? desc : "");
		fail(a, ERR_PROTOCOL, what);
	}
}

static void close_all(struct amqp_wake *a)
{
	if (a->closing)
		return;
	a->closing = 1;
	if (a->sender)
		pn_link_close(a->sender);
	if (a->session)
		pn_session_close(a->session);
	pn_connection_close(a->d.connection);
}

static void send_messages(struct amqp_wake *a)
{
	struct wake *w = a->w;
	uint32_t len = w->fleet->payload_bytes;
	while (a->sent < w->nmsg && pn_link_credit(a->sender) > 0 && !a->closing) {
		uint32_t k = a->sent;
		unsigned char *p = a->payload + (size_t)k * len;
		pn_delivery_t *dlv = pn_delivery(a->sender, pn_dtag((const char *)&k, sizeof(k)));
		pn_message_t *m = pn_message();
		wake_message(w, k, p, len);
		pn_data_put_binary(pn_message_body(m), pn_bytes(len, (const char *)p));
		for (;;) {
			size_t size = a->enc_cap;
			int rc = pn_message_encode(m, a->enc, &size);
			if (rc == 0) {
				pn_link_send(a->sender, a->enc, size);
				break;
			}
			char *bigger = rc == PN_OVERFLOW ? realloc(a->enc, a->enc_cap * 2) : NULL;
			if (!bigger) {
				fail(a, ERR_LIBRARY, "pn_message_encode failed");
				pn_message_free(m);
				close_all(a);
				return;
			}
			a->enc = bigger;
			a->enc_cap *= 2;
		}
		pn_message_free(m);
		pn_link_advance(a->sender);
		wake_message_sent(w, k);
		a->sent++;
		if (w->qos == 0) {
			/* pre-settled: the transfer is all; "acknowledged" once written */
			pn_delivery_settle(dlv);
			wake_message_acked(w, k);
			a->settled++;
		}
	}
	if (w->qos == 0 && a->settled == w->nmsg)
		close_all(a);
}

static void on_event(struct amqp_wake *a, pn_event_t *ev)
{
	switch (pn_event_type(ev)) {
	case PN_LINK_FLOW:
		if (pn_event_link(ev) == a->sender)
			send_messages(a);
		break;
	case PN_DELIVERY: {
		pn_delivery_t *dlv = pn_event_delivery(ev);
		/* RabbitMQ settles as it accepts (one disposition, settled=true):
		 * an update is the answer, whether or not the broker also settled. */
		if (!pn_delivery_updated(dlv))
			break;
		uint64_t state = pn_delivery_remote_state(dlv);
		uint32_t k;
		pn_delivery_tag_t tag = pn_delivery_tag(dlv);
		memcpy(&k, tag.start, sizeof(k) <= tag.size ? sizeof(k) : tag.size);
		if (state == PN_ACCEPTED)
			wake_message_acked(a->w, k);
		else if (state)
			fail(a, ERR_PROTOCOL, state == PN_REJECTED   ? "broker rejected a message"
			                      : state == PN_RELEASED ? "broker released a message"
			                                             : "broker modified a message");
		pn_delivery_settle(dlv);
		if (++a->settled == a->w->nmsg)
			close_all(a);
		break;
	}
	case PN_LINK_REMOTE_CLOSE:
		fail_condition(a, pn_link_remote_condition(pn_event_link(ev)), "link closed");
		close_all(a);
		break;
	case PN_SESSION_REMOTE_CLOSE:
		fail_condition(a, pn_session_remote_condition(pn_event_session(ev)), "session closed");
		close_all(a);
		break;
	case PN_CONNECTION_REMOTE_CLOSE:
		fail_condition(a, pn_connection_remote_condition(pn_event_connection(ev)), "connection closed");
		close_all(a);
		break;
	case PN_TRANSPORT_ERROR:
		fail_condition(a, pn_transport_condition(pn_event_transport(ev)), "transport");
		break;
	default:
		break;
	}
}

/* Runs proton's events, then hands what it wrote to the modem. */
static void process(struct amqp_wake *a)
{
	uint64_t cpu0 = clock_thread_cpu_ns();
	for (;;) {
		pn_event_t *ev;
		while ((ev = pn_connection_driver_next_event(&a->d)))
			on_event(a, ev);
		pn_bytes_t wb = pn_connection_driver_write_buffer(&a->d);
		if (!wb.size)
			break;
		size_t n = modem_lib_write(a->w->mc, (const unsigned char *)wb.start, wb.size);
		pn_connection_driver_write_done(&a->d, n);
		if (n < wb.size)
			break; /* the modem is full; it calls deliver() again, which resumes here */
	}
	a->w->cpu_main_ns += clock_thread_cpu_ns() - cpu0;
	if (!a->finished && pn_connection_driver_finished(&a->d)) {
		a->finished = 1;
		struct wake *w = a->w;
		if (a->err == ERR_OK && !(a->closing && pn_connection_state(a->d.connection) & PN_REMOTE_CLOSED))
			fail(a, ERR_CLOSED, "connection ended before the broker closed it");
		if (a->err == ERR_OK && w->acked < w->nmsg)
			fail(a, ERR_PROTOCOL, "connection closed with messages unacknowledged");
		modem_lib_close(w->mc);
		wake_adapter_done(w, a->err, a->detail);
	}
}

static size_t amqp_deliver(void *arg, const unsigned char *p, size_t n)
{
	struct wake *w = arg;
	struct amqp_wake *a = w->adapter;
	if (!a || a->finished)
		return n;
	size_t take = 0;
	if (n) { /* n == 0: the modem has room again for what proton still has to write */
		pn_rwbytes_t rb = pn_connection_driver_read_buffer(&a->d);
		take = n < rb.size ? n : rb.size;
		memcpy(rb.start, p, take);
		pn_connection_driver_read_done(&a->d, take);
	}
	process(a);
	return take;
}

static void amqp_closed(void *arg)
{
	struct wake *w = arg;
	struct amqp_wake *a = w->adapter;
	if (!a || a->finished)
		return;
	/* The server is done or the connection failed: nothing more comes, nothing more goes. */
	pn_connection_driver_read_close(&a->d);
	pn_connection_driver_write_close(&a->d);
	process(a);
}

static const struct modem_lib amqp_lib = { .deliver = amqp_deliver, .closed = amqp_closed };

static void amqp_free(struct amqp_wake *a)
{
	pn_connection_driver_destroy(&a->d);
	free(a->payload);
	free(a->enc);
	free(a);
}

static enum dormant_err amqp_start(struct wake *w)
{
	struct amqp_wake *a = calloc(1, sizeof(*a));
	if (!a)
		return ERR_NOMEM;
	a->w = w;
	a->payload = malloc((size_t)w->nmsg * w->fleet->payload_bytes);
	a->enc_cap = (size_t)w->fleet->payload_bytes + 256;
	a->enc = malloc(a->enc_cap);
	if (!a->payload || !a->enc || pn_connection_driver_init(&a->d, NULL, NULL) != 0) {
		free(a->payload);
		free(a->enc);
		free(a);
		return ERR_NOMEM;
	}
	char id[32], name[48], addr[80];
	snprintf(id, sizeof(id), "dev%u", w->device);
	snprintf(name, sizeof(name), "dev%u-telemetry", w->device);
	snprintf(addr, sizeof(addr), "/topic/dormant.dev%u.telemetry", w->device);
	pn_sasl_allowed_mechs(pn_sasl(a->d.transport), "ANONYMOUS");
	pn_connection_set_container(a->d.connection, id);
	pn_connection_open(a->d.connection);
	a->session = pn_session(a->d.connection);
	pn_session_open(a->session);
	a->sender = pn_sender(a->session, name);
	pn_terminus_set_address(pn_link_target(a->sender), addr);
	pn_link_set_snd_settle_mode(a->sender, w->qos == 0 ? PN_SND_SETTLED : PN_SND_UNSETTLED);
	pn_link_open(a->sender);
	w->adapter = a;
	process(a);
	return ERR_OK;
}

static void amqp_abort(struct wake *w)
{
	/* The engine closed the modem side: amqp_closed() has ended the wake. */
}

static void amqp_reap(struct wake *w)
{
	struct amqp_wake *a = w->adapter;
	if (!a)
		return;
	amqp_free(a);
	w->adapter = NULL;
}

/* AMQP 1.0 frames: 4-byte size, data offset (4-byte words), type (0 AMQP,
 * 1 SASL), channel, then the performative's descriptor 0x00 0x53 <code>.
 * The 8-byte protocol headers ("AMQP" 3/0 1 0 0) open a connection. */
static int amqp_frame(int down, const unsigned char *p, size_t avail, size_t *len, enum phase *ph, uint32_t *state)
{
	if (avail < 8)
		return 0;
	if (!memcmp(p, "AMQP", 4)) {
		*len = 8;
		*ph = PHASE_SETUP;
		return 1;
	}
	size_t size = ((size_t)p[0] << 24) | ((size_t)p[1] << 16) | ((size_t)p[2] << 8) | p[3];
	size_t doff = (size_t)p[4] * 4;
	if (size < 8 || doff < 8 || doff > size)
		return -1;
	*len = size;
	if (p[5] == 1) { /* SASL */
		*ph = PHASE_SETUP;
		return 1;
	}
	if (size == doff) { /* an empty frame: a heartbeat */
		*ph = PHASE_DATA;
		return 1;
	}
	if (avail < doff + 3)
		return doff + 3 > MODEM_FRAME_MAX ? -1 : 0;
	if (p[doff] != 0x00 || p[doff + 1] != 0x53)
		return -1;
	switch (p[doff + 2]) {
	case 0x10: case 0x11: case 0x12: /* open, begin, attach */
		*ph = PHASE_SETUP;
		break;
	case 0x13: case 0x14: case 0x15: /* flow, transfer, disposition */
		*ph = PHASE_DATA;
		break;
	case 0x16: case 0x17: case 0x18: /* detach, end, close */
		*ph = PHASE_TEARDOWN;
		break;
	default:
		return -1;
	}
	return 1;
}

static enum dormant_err amqp_init(const struct adapter_env *env, char *err, size_t errlen) { return ERR_OK; }
static void amqp_fini(void) { }

static void amqp_version(char *buf, size_t len)
{
	snprintf(buf, len, "; qpid-proton-c %d.%d.%d", PN_VERSION_MAJOR, PN_VERSION_MINOR, PN_VERSION_POINT);
}

const struct adapter_ops amqp_adapter = {
	.name = "amqp",
	.protocol = PROTO_AMQP,
	.init = amqp_init,
	.fini = amqp_fini,
	.start = amqp_start,
	.frame = amqp_frame,
	.direct = &amqp_lib,
	/* Measured: after the AMQP close exchange RabbitMQ (Erlang ssl) keeps the
	 * TCP connection open until the client's close_notify. */
	.tls_close_notify = 1,
	.abort = amqp_abort,
	.reap = amqp_reap,
	.version = amqp_version,
};
