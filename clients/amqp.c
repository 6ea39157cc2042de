/* amqp.c: AMQP 1.0 on qpid-proton-c, through the modem with no socket of its own.
 *
 * proton's pn_connection_driver runs the protocol over any byte stream, so
 * it runs on the engine thread and the modem feeds it directly
 * (struct modem_lib): no extra socket, no library threads, no internal
 * polling waits. Per wake: SASL ANONYMOUS, open, begin, attach a sender to
 * /topic/dormant.dev<N>.telemetry (RabbitMQ's amq.topic, where dormant's
 * backend subscribes), wait for credit, transfer each message (QoS 0:
 * pre-settled; QoS 1: unsettled, acknowledged by the broker's accepted
 * disposition), then detach the links and wait for the broker's detaches,
 * then end and close and wait for the broker's close, so the server ends
 * the TLS session cleanly and keeps it for resumption.
 *
 * Why the detaches are awaited (measured on RabbitMQ 3.10.8): the broker's
 * session process hands a transfer on to a backing AMQP 0-9-1 channel by an
 * asynchronous cast (rabbit_amqp1_0_incoming_link:transfer), and the
 * device's end and close tear the session and that channel down at once;
 * gen_server2 takes a parent's shutdown ahead of the messages already
 * queued. With end and close 2-20 us behind a pre-settled (QoS 0) transfer,
 * 4 of 9,023 wakes lost their message so, though the broker's TCP had
 * acknowledged it (the broker then answered close only, no detach, no
 * end). The broker answers a detach only after the frames before it, and a
 * receiver link's detach only after a synchronous basic.cancel on the
 * backing channel, queued behind the publish. So end and close go once
 * every detach is answered, one round trip later in a segment of their own
 * (no frame more: the broker's detaches, which the RST often cut off
 * before, now always arrive).
 *
 * Downlink (fleet downlink: true): a receiver link on the same session from
 * /amq/queue/dormant.dev<N>.commands, a durable queue bound to amq.topic
 * that brokers/rabbitmq.c declares for each device (AMQP 1.0 in RabbitMQ
 * 3.10 cannot: /topic and /exchange sources leave a new queue behind on
 * every attach). The device grants CMD_CREDIT. RabbitMQ 3.10 answers a
 * drain request on a classic queue with a session error (fixed only in
 * later releases), but it answers the credit with a flow whose `available`
 * says how many messages are ready, before their transfers. proton 0.37
 * does not decode that field for receivers, so the adapter reads it from
 * the incoming frames itself: the device knows at once whether commands
 * wait, and closes after accepting them, without a timeout.
 *
 * connection: persistent: the device's driver, session and sender link are
 * made at its first wake (or after a loss) and kept through its sleeps
 * (this struct is the device's struct persist's adapter; the modem calls
 * it through amqp_kept_lib with the persist). A wake on a kept connection
 * transfers at once and ends at the last accepted disposition (QoS 0: once
 * proton's bytes are with the modem), with no detach, end or close. The
 * keep-alive is AMQP's own: RabbitMQ announces an idle-time-out of twice
 * the fleet's keepalive (brokers/stack.c), and proton sends an empty frame
 * (8 bytes) once it wrote nothing for half of that, from
 * pn_transport_tick, which one timerfd of ours runs for every kept
 * connection. The device announces no idle-time-out of its own: RabbitMQ
 * would then send it empty frames, and every one would page a sleeping
 * radio. So nothing answers a keep-alive, and proton cannot tell a dead
 * connection from a quiet one; the modem's TCP gives up instead once data
 * went unacknowledged for a keepalive (TCP_USER_TIMEOUT,
 * adapter_ops.persist_user_timeout), which is how a NAT that forgot the
 * flow shows: a keep-alive or a transfer goes unanswered, the connection
 * ends, the next wake (or this one) reconnects.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

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
#include "amqp_frame.h"
#include "clock.h"
#include "loop.h"

#define CMD_CREDIT 8u

/* The incoming frames, seen before proton gets them: for the flow that
 * says how many commands wait. Frames larger than the buffer (transfers
 * of big messages) are skipped. */
struct frame_scan {
	unsigned char buf[512];
	size_t len;   /* bytes in buf */
	size_t skip;  /* bytes of an oversized frame still to pass */
	int off;      /* the stream made no sense: stop looking */
};

struct amqp_wake {
	struct wake *w;           /* the wake it serves; persistent: NULL while the device sleeps */
	struct modem_conn *mc;    /* where proton's bytes go: the wake's, or the kept connection's */
	struct persist *pc;       /* connection: persistent: the device's (this struct is pc->adapter), else NULL */
	int wake_complete;        /* persistent: every message settled; the wake ends once proton's bytes are out */
	int64_t tick_at;          /* persistent: proton's next timer (its keep-alive), ms; 0: none */
	struct amqp_wake *next_kept; /* the list of kept connections, for their timers */
	pn_connection_driver_t d;
	pn_session_t *session;
	pn_link_t *sender;
	pn_link_t *receiver;      /* downlink: the commands */
	int cmd_handle;           /* the broker's handle for the commands link; -1 until its attach */
	int cmd_known;            /* its flow said how many are available */
	uint32_t cmd_expected, cmd_got;
	struct frame_scan scan;
	char *rbuf;
	size_t rbuf_cap;
	uint32_t sent, settled;
	int closing;              /* 1: links detached, waiting for the broker's; 2: ending everything */
	int snd_detached, rcv_detached; /* the broker detached that link */
	int finished;
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

/* A complete incoming frame (SIZE bytes at F): the broker's attach of the
 * commands link gives its handle; its first flow on that handle how many
 * commands wait. */
static void on_frame_in(struct amqp_wake *a, const unsigned char *f, size_t size)
{
	size_t doff = (size_t)f[4] * 4;
	if (f[5] != 0 || size < doff + 4 || f[doff] != 0x00 || f[doff + 1] != 0x53)
		return;
	const unsigned char *list = f + doff + 3, *end = f + size;
	uint64_t h, avail;
	if (f[doff + 2] == 0x12 && amqp_attach_fields(list, end, &h) == 0 && h < 255)
		a->cmd_handle = (int)h; /* the broker's end is the sender: our commands */
	else if (f[doff + 2] == 0x13 && a->cmd_handle >= 0 && !a->cmd_known) {
		const unsigned char *hf = amqp_field(list, end, 4), *af = amqp_field(list, end, 7);
		if (hf && amqp_uint_at(hf, end, &h) == 1 && h == (uint64_t)a->cmd_handle) {
			if (!af || amqp_uint_at(af, end, &avail) != 1)
				avail = 0;
			a->cmd_expected = avail < CMD_CREDIT ? (uint32_t)avail : CMD_CREDIT;
			a->cmd_known = 1;
		}
	}
}

static void scan_in(struct amqp_wake *a, const unsigned char *p, size_t n)
{
	struct frame_scan *s = &a->scan;
	while (n && !s->off) {
		if (s->skip) {
			size_t t = n < s->skip ? n : s->skip;
			s->skip -= t;
			p += t;
			n -= t;
			continue;
		}
		size_t need = s->len < 8 ? 8 : amqp_be32(s->buf);
		size_t t = need - s->len < n ? need - s->len : n;
		memcpy(s->buf + s->len, p, t);
		s->len += t;
		p += t;
		n -= t;
		if (s->len < 8)
			continue;
		if (s->len == 8 && !memcmp(s->buf, "AMQP", 4)) { /* a protocol header */
			s->len = 0;
			continue;
		}
		size_t size = amqp_be32(s->buf);
		if (size < 8) {
			s->off = 1;
		} else if (size > sizeof(s->buf)) {
			s->skip = size - s->len;
			s->len = 0;
		} else if (s->len == size) {
			on_frame_in(a, s->buf, size);
			s->len = 0;
		}
	}
}

/* Ends links, session and connection at once: on a failure, or once the broker has detached the links. */
static void close_all(struct amqp_wake *a)
{
	if (a->closing == 2)
		return;
	a->closing = 2;
	if (a->receiver)
		pn_link_close(a->receiver);
	if (a->sender)
		pn_link_close(a->sender);
	if (a->session)
		pn_session_close(a->session);
	pn_connection_close(a->d.connection);
}

/* The normal end of a wake: detach the links; on_event ends the session and
 * the connection once the broker has answered both (see the top of the file). */
static void close_links(struct amqp_wake *a)
{
	if (a->closing)
		return;
	a->closing = 1;
	if (a->receiver)
		pn_link_close(a->receiver);
	if (a->sender)
		pn_link_close(a->sender);
}

static int links_detached(const struct amqp_wake *a)
{
	return (!a->receiver || a->rcv_detached) && (!a->sender || a->snd_detached);
}

/* Done once every message is acknowledged and every command that waited
 * is in. A kept connection stays open: process() ends the wake. */
static void maybe_close(struct amqp_wake *a)
{
	if (!a->w || a->settled < a->w->nmsg)
		return;
	if (a->receiver && (!a->cmd_known || a->cmd_got < a->cmd_expected))
		return;
	if (a->pc) {
		a->wake_complete = 1;
		return;
	}
	close_links(a);
}

/* A command arrived on the receiver: hand it to the wake, accept it. */
static void take_command(struct amqp_wake *a, pn_delivery_t *dlv)
{
	pn_link_t *l = pn_delivery_link(dlv);
	if (!pn_delivery_readable(dlv) || pn_delivery_partial(dlv))
		return;
	size_t len = pn_delivery_pending(dlv);
	if (len > a->rbuf_cap) {
		char *b = realloc(a->rbuf, len);
		if (!b) {
			fail(a, ERR_NOMEM, "out of memory for a command");
			close_all(a);
			return;
		}
		a->rbuf = b;
		a->rbuf_cap = len;
	}
	ssize_t got = pn_link_recv(l, a->rbuf, len);
	pn_message_t *m = pn_message();
	if (got > 0 && pn_message_decode(m, a->rbuf, (size_t)got) == 0) {
		pn_data_t *body = pn_message_body(m);
		pn_data_rewind(body);
		if (pn_data_next(body) && pn_data_type(body) == PN_BINARY) {
			pn_bytes_t b = pn_data_get_binary(body);
			if (a->w)
				wake_command(a->w, b.start, b.size); /* one not from this run is ignored */
		}
	}
	pn_message_free(m);
	pn_delivery_update(dlv, PN_ACCEPTED);
	pn_delivery_settle(dlv);
	a->cmd_got++;
	maybe_close(a);
}

static void send_messages(struct amqp_wake *a)
{
	struct wake *w = a->w;
	if (!w || a->wake_complete)
		return; /* a kept connection between wakes: nothing to send */
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
		maybe_close(a);
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
		if (pn_link_is_receiver(pn_delivery_link(dlv))) {
			take_command(a, dlv);
			break;
		}
		/* RabbitMQ settles as it accepts (one disposition, settled=true):
		 * an update is the answer, whether or not the broker also settled. */
		if (!pn_delivery_updated(dlv))
			break;
		uint64_t state = pn_delivery_remote_state(dlv);
		uint32_t k = 0;
		pn_delivery_tag_t tag = pn_delivery_tag(dlv);
		memcpy(&k, tag.start, sizeof(k) <= tag.size ? sizeof(k) : tag.size);
		if (!a->w) { /* a kept connection: the wake that sent it has ended (it failed) */
			pn_delivery_settle(dlv);
			break;
		}
		if (state == PN_ACCEPTED)
			wake_message_acked(a->w, k);
		else if (state)
			fail(a, ERR_PROTOCOL, state == PN_REJECTED   ? "broker rejected a message"
			                      : state == PN_RELEASED ? "broker released a message"
			                                             : "broker modified a message");
		pn_delivery_settle(dlv);
		++a->settled;
		maybe_close(a);
		break;
	}
	case PN_LINK_REMOTE_CLOSE:
	case PN_LINK_REMOTE_DETACH: /* RabbitMQ answers a closing detach with closed unset */
		if (pn_event_link(ev) == a->sender)
			a->snd_detached = 1;
		else if (pn_event_link(ev) == a->receiver)
			a->rcv_detached = 1;
		fail_condition(a, pn_link_remote_condition(pn_event_link(ev)), "link closed");
		if (a->closing == 1 && a->err == ERR_OK && !links_detached(a))
			break; /* the other link's detach is still to come */
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

/* ---------- kept connections' timers ---------- */

/* Every kept connection of the variant, and the one timerfd that runs
 * proton's timers for them (engine thread). A linear scan: persistent
 * fleets are at most PERSISTENT_DEVICES_MAX devices. */
static struct {
	struct amqp_wake *kept;
	struct loop_src src;
	int epfd;
	int64_t armed; /* ms, 0: disarmed */
} T = { .src.fd = -1 };

static int64_t now_ms(void) { return (int64_t)(clock_mono_ns() / 1000000u); }

/* Arms the timerfd for NEXT (ms; 0: disarmed). */
static void kept_arm(int64_t next)
{
	if (next == T.armed || T.src.fd < 0)
		return;
	T.armed = next;
	struct itimerspec its = { 0 };
	if (next) {
		its.it_value.tv_sec = next / 1000;
		its.it_value.tv_nsec = (long)(next % 1000) * 1000000L;
	}
	timerfd_settime(T.src.fd, TFD_TIMER_ABSTIME, &its, NULL);
}

/* Arms it for the earliest timer of every kept connection (a scan). */
static void kept_rearm(void)
{
	int64_t next = 0;
	for (struct amqp_wake *a = T.kept; a; a = a->next_kept)
		if (a->tick_at && (!next || a->tick_at < next))
			next = a->tick_at;
	kept_arm(next);
}

static void kept_unlist(struct amqp_wake *a)
{
	for (struct amqp_wake **pp = &T.kept; *pp; pp = &(*pp)->next_kept)
		if (*pp == a) {
			*pp = a->next_kept;
			break;
		}
	a->tick_at = 0;
	kept_rearm();
}

static void process(struct amqp_wake *a);

static void on_kept_timer(struct loop_src *src, uint32_t events)
{
	uint64_t n;
	(void)!read(src->fd, &n, sizeof(n));
	T.armed = 0;
	int64_t now = now_ms();
	struct amqp_wake *a = T.kept, *next;
	for (; a; a = next) {
		next = a->next_kept; /* process() may unlist A, never another */
		if (a->tick_at && a->tick_at <= now)
			process(a);
	}
	kept_rearm();
}

/* ---------- the driver ---------- */

/* The end of a connection proton is done with: a per-wake wake ends; a
 * kept one is lost, and the wake on it (if any) fails. */
static void finish(struct amqp_wake *a)
{
	a->finished = 1;
	struct wake *w = a->w;
	if (a->pc) {
		char why[200];
		snprintf(why, sizeof(why), "%s", a->err != ERR_OK ? a->detail : "the connection ended (broker or TCP)");
		wake_persist_lost(a->pc, why);
		modem_lib_close(a->mc);
		kept_unlist(a);
		if (w) {
			a->w = NULL;
			wake_adapter_done(w, a->err != ERR_OK ? a->err : ERR_CLOSED, why);
		}
		return;
	}
	if (a->err == ERR_OK && !(a->closing && pn_connection_state(a->d.connection) & PN_REMOTE_CLOSED))
		fail(a, ERR_CLOSED, "connection ended before the broker closed it");
	if (a->err == ERR_OK && w->acked < w->nmsg)
		fail(a, ERR_PROTOCOL, "connection closed with messages unacknowledged");
	modem_lib_close(a->mc);
	wake_adapter_done(w, a->err, a->detail);
}

/* Runs proton's events (and, on a kept connection, its timers), then hands
 * what it wrote to the modem. */
static void process(struct amqp_wake *a)
{
	uint64_t cpu0 = clock_thread_cpu_ns();
	struct wake *w0 = a->w;
	for (;;) {
		pn_event_t *ev;
		while ((ev = pn_connection_driver_next_event(&a->d)))
			on_event(a, ev);
		pn_bytes_t wb = pn_connection_driver_write_buffer(&a->d);
		if (wb.size) {
			size_t n = modem_lib_write(a->mc, (const unsigned char *)wb.start, wb.size);
			pn_connection_driver_write_done(&a->d, n);
			if (n < wb.size)
				break; /* the modem is full; it calls deliver() again, which resumes here */
			continue;
		}
		if (!a->pc || a->finished)
			break;
		/* A kept connection: proton's timer, now that its output is out.
		 * Right after output it only moves the keep-alive deadline; once
		 * the deadline passed with nothing written it queues an empty frame. */
		a->tick_at = pn_transport_tick(a->d.transport, now_ms());
		if (!pn_connection_driver_write_buffer(&a->d).size && !pn_connection_driver_has_event(&a->d))
			break;
	}
	if (w0)
		w0->cpu_main_ns += clock_thread_cpu_ns() - cpu0;
	if (!a->finished && pn_connection_driver_finished(&a->d)) {
		finish(a);
		return;
	}
	if (a->pc) {
		/* No scan per delivery: only a sooner timer re-arms. One that moved
		 * later may fire early; on_kept_timer then runs what is due and scans. */
		if (a->tick_at && (!T.armed || a->tick_at < T.armed))
			kept_arm(a->tick_at);
		if (a->wake_complete && a->w && !pn_connection_driver_write_buffer(&a->d).size) {
			struct wake *w = a->w;
			a->w = NULL;
			a->wake_complete = 0;
			wake_adapter_done(w, a->err, a->detail);
		}
	}
}

static size_t deliver(struct amqp_wake *a, const unsigned char *p, size_t n)
{
	if (!a || a->finished)
		return n;
	size_t take = 0;
	if (n) { /* n == 0: the modem has room again for what proton still has to write */
		pn_rwbytes_t rb = pn_connection_driver_read_buffer(&a->d);
		take = n < rb.size ? n : rb.size;
		memcpy(rb.start, p, take);
		int known = a->cmd_known;
		scan_in(a, p, take);
		pn_connection_driver_read_done(&a->d, take);
		if (!known && a->cmd_known)
			maybe_close(a); /* nothing (more) waits: QoS 0 telemetry has no later event to do it */
	}
	process(a);
	return take;
}

static void closed(struct amqp_wake *a)
{
	if (!a || a->finished)
		return;
	/* A kept connection says why it was lost in the modem's words (a reset,
	 * or TCP giving up: "Connection timed out"), not proton's "aborted". */
	const struct modem_counts *c = a->pc ? modem_conn_counts(a->mc) : NULL;
	if (c && c->err != ERR_OK) {
		char why[sizeof(a->detail)];
		snprintf(why, sizeof(why), "the connection ended: %.140s", c->detail);
		fail(a, ERR_CLOSED, why);
	}
	/* The server is done or the connection failed: nothing more comes, nothing more goes. */
	pn_connection_driver_read_close(&a->d);
	pn_connection_driver_write_close(&a->d);
	process(a);
}

static size_t amqp_deliver(void *arg, const unsigned char *p, size_t n)
{
	return deliver(((struct wake *)arg)->adapter, p, n);
}

static void amqp_closed(void *arg) { closed(((struct wake *)arg)->adapter); }

static const struct modem_lib amqp_lib = { .deliver = amqp_deliver, .closed = amqp_closed };

/* A kept connection: the modem's argument is the device's struct persist. */
static size_t amqp_kept_deliver(void *arg, const unsigned char *p, size_t n)
{
	return deliver(((struct persist *)arg)->adapter, p, n);
}

static void amqp_kept_closed(void *arg) { closed(((struct persist *)arg)->adapter); }

static const struct modem_lib amqp_kept_lib = { .deliver = amqp_kept_deliver, .closed = amqp_kept_closed };

static void amqp_free(struct amqp_wake *a)
{
	pn_connection_driver_destroy(&a->d);
	free(a->payload);
	free(a->enc);
	free(a->rbuf);
	free(a);
}

/* A driver with its connection, session and sender (and, with downlink,
 * the receiver) opened for W's device, writing to MC. NULL: no memory. */
static struct amqp_wake *amqp_new(struct wake *w, struct modem_conn *mc)
{
	struct amqp_wake *a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	a->w = w;
	a->mc = mc;
	a->payload = malloc(w->nmsg ? (size_t)w->nmsg * w->fleet->payload_bytes : 1);
	a->enc_cap = (size_t)w->fleet->payload_bytes + 256;
	a->enc = malloc(a->enc_cap);
	if (!a->payload || !a->enc || pn_connection_driver_init(&a->d, NULL, NULL) != 0) {
		free(a->payload);
		free(a->enc);
		free(a);
		return NULL;
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
	a->cmd_handle = -1;
	if (w->fleet->downlink) {
		char rname[48], src[80];
		snprintf(rname, sizeof(rname), "dev%u-commands", w->device);
		snprintf(src, sizeof(src), "/amq/queue/dormant.dev%u.commands", w->device);
		a->receiver = pn_receiver(a->session, rname);
		pn_terminus_set_address(pn_link_source(a->receiver), src);
		pn_link_open(a->receiver);
		pn_link_flow(a->receiver, (int)CMD_CREDIT);
	}
	return a;
}

/* connection: persistent: transfer over the device's kept connection, or make it. */
static enum dormant_err kept_start(struct wake *w)
{
	struct persist *pc = w->pc;
	struct amqp_wake *a = pc->adapter;
	if (a) {
		if (a->finished) {
			wake_adapter_done(w, ERR_CLOSED, "the kept connection is not up");
			return ERR_OK;
		}
		unsigned char *p = realloc(a->payload, w->nmsg ? (size_t)w->nmsg * w->fleet->payload_bytes : 1);
		if (!p)
			return ERR_NOMEM;
		a->payload = p;
		a->w = w;
		a->sent = a->settled = 0;
		a->err = ERR_OK;
		a->detail[0] = 0;
		a->wake_complete = 0;
		send_messages(a); /* the sender's credit is left from earlier wakes */
		process(a);
		return ERR_OK;
	}
	if (!(a = amqp_new(w, pc->mc)))
		return ERR_NOMEM;
	a->pc = pc;
	pc->adapter = a; /* drop() releases it, whatever happens next */
	a->next_kept = T.kept;
	T.kept = a;
	process(a);
	return ERR_OK;
}

static enum dormant_err amqp_start(struct wake *w)
{
	if (w->pc)
		return kept_start(w);
	struct amqp_wake *a = amqp_new(w, w->mc);
	if (!a)
		return ERR_NOMEM;
	w->adapter = a;
	process(a);
	return ERR_OK;
}

static void amqp_abort(struct wake *w)
{
	/* Per wake: the engine closed the modem side, and amqp_closed() ends
	 * the wake. A kept connection's modem side is gone too (the next wake
	 * reconnects); the wake on it ends here. */
	struct amqp_wake *a = w->pc ? w->pc->adapter : NULL;
	if (a && a->w == w) {
		a->w = NULL;
		a->wake_complete = 0;
		wake_adapter_done(w, ERR_TIMEOUT, "wake deadline passed");
	}
}

static void amqp_reap(struct wake *w)
{
	struct amqp_wake *a = w->adapter;
	if (!a)
		return; /* a kept connection's wake: the driver is the device's (drop() frees it) */
	amqp_free(a);
	w->adapter = NULL;
}

/* A kept connection goes for good: at the run's end, or after a loss. */
static void amqp_drop(struct persist *pc)
{
	struct amqp_wake *a = pc->adapter;
	if (!a)
		return;
	kept_unlist(a);
	pc->adapter = NULL;
	amqp_free(a);
}

static enum dormant_err amqp_init(const struct adapter_env *env, char *err, size_t errlen)
{
	T.kept = NULL;
	T.armed = 0;
	T.epfd = env->epfd;
	int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	T.src.fn = on_kept_timer;
	if (fd < 0 || loop_add(env->epfd, &T.src, fd, EPOLLIN) != 0) {
		snprintf(err, errlen, "amqp: timerfd: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		T.src.fd = -1;
		return ERR_INTERNAL;
	}
	return ERR_OK;
}

static void amqp_fini(void)
{
	if (T.src.fd >= 0) {
		loop_del(T.epfd, &T.src);
		close(T.src.fd);
		T.src.fd = -1;
	}
	T.kept = NULL;
}

static void amqp_version(char *buf, size_t len)
{
	snprintf(buf, len, "qpid-proton-c %d.%d.%d", PN_VERSION_MAJOR, PN_VERSION_MINOR, PN_VERSION_POINT);
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
	.drop = amqp_drop,
	.direct_persist = &amqp_kept_lib,
	.persist_user_timeout = 1,
	.version = amqp_version,
};
