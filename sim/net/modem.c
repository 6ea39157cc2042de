/* modem.c: the device's interface: the local endpoint the library connects
 * to, the relay between it and the layer stack (layer.h) that reaches the
 * server, phase framing, and the per-wake accounting of every byte and
 * segment. See modem.h for the contract; the IP-byte formula and its
 * constants are in tcp.c. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "layer.h"
#include "linkemu.h"
#include "loop.h"
#include "modem.h"
#include "tls.h"

#define BUF_SIZE (64 * 1024)
#define CLOSE_WAIT_NS (2000ull * 1000 * 1000) /* give up waiting for TCP_CLOSE after 2 s */
#define LAYERS_MAX 4
#define LSN_IDLE_MAX 512

struct buf {
	size_t off, len;
	unsigned char data[BUF_SIZE];
};

/* Splits one direction of the library's stream into packets (see modem_frame_fn). */
struct framer {
	size_t left;               /* bytes of the current packet still to come */
	enum phase ph;             /* its phase */
	unsigned char hdr[MODEM_FRAME_MAX]; /* the start of a packet whose header is incomplete */
	size_t hlen;
	int off;                   /* the stream did not parse: fall back to the adapter's phase */
};

/* The phases of the library's bytes waiting in the up buffer, in order, so
 * what goes on the wire (and the wire figures it moves) is charged to the
 * phase of the plaintext it carries. */
#define SEGS_MAX 256
struct segs {
	struct { enum phase ph; size_t len; } s[SEGS_MAX];
	size_t head, n;
	int apart;                  /* the next bytes start a segment of their own (modem_lib_apart) */
};

/* LISTEN: waiting for the library; CONNECTING: the layers coming up, bottom
 * first; RELAY; CLOSING: both sides done, waiting for TCP_CLOSE; DONE. */
enum conn_state { ST_LISTEN, ST_CONNECTING, ST_RELAY, ST_CLOSING, ST_DONE };

struct modem_conn {
	struct modem *m;
	struct loop_src lsn, cli, srv; /* srv.fd belongs to the bottom layer: never closed here */
	uint16_t lsn_port;          /* where the library connects */
	int lsn_kept;               /* the endpoint whose connection was accepted, until it ends; -1 none */
	int reuse_endpoint;         /* see modem_open_args */
	enum conn_state state;
	struct modem_target target;
	uint32_t device;
	struct tls_profile *tlsp;   /* NULL: plaintext */
	_Atomic int phase;          /* set by the library's threads */
	enum phase acct_phase;      /* phase the wire figures are being charged to */
	enum phase down_phase;      /* phase of the last plaintext read from the server */
	struct net_wire snap;       /* wire figures at the start of acct_phase */
	struct net_layer *layer[LAYERS_MAX]; /* [0] the bottom (TCP) ... [nlayers - 1] the top */
	int nlayers, nup;           /* layers, and how many of them are up */
	int lib_eof;                /* the library closed its side */
	int peer_done;              /* the stack has no more plaintext for the library */
	int srv_eof;                /* the socket is at its end: FIN or failure */
	int srv_shut, cli_shut;     /* our direction to the server ended; the library told */
	int lib_blocked;            /* a direct library could not write all it had: call it again */
	int shut_sampled;           /* the wire was sampled before our direction's end */
	int established;            /* the transport is up: the wire figures can be sampled (c.established_ns
	                             * says when, for the period that saw it: modem_conn_cut clears it) */
	uint64_t closing_since_ns;
	struct segs segs;           /* phases of what up holds */
	struct modem_counts c;
	modem_cb on_accept, on_done;
	modem_frame_fn frame;
	struct framer fr[2];        /* [0] up, [1] down */
	uint32_t frame_state;       /* the framer's, across both directions */
	const struct modem_lib *direct; /* a library on the engine thread, no socket of its own */
	int in_cb;                  /* inside a direct library's callback: pump when it returns */
	int close_notify;           /* with TLS: end with a close_notify */
	void *arg;
	uint32_t user_timeout_ms;   /* see modem_open_args */
	modem_tap_fn tap;           /* see modem_open_args */
	void *tap_arg;
	struct modem_conn *next_closing;
	/* Last, and not zeroed at modem_open (128 KB a wake, most of the
	 * memset a per-wake calloc cost): their off and len are. */
	struct buf up, down;        /* plaintext: up = library -> server; down = server -> library */
};

struct modem {
	int epfd;
	struct modem_conn *closing;
	struct net_dup_watch dups;  /* the namespace of the device sockets */
	struct linkemu *link;       /* NULL: loopback */
	uint64_t settle_ns;         /* with a link: see net_tcp_args */
	/* Local endpoints whose one connection was accepted and has ended,
	 * ready for another wake: a listener made per wake cost five system
	 * calls (socket, bind, listen, getsockname, close) on top of the
	 * accept. Not before the connection ends: a library that caches
	 * connections by host and port (curl) would take a live one of another
	 * device for the new port's; and only per-wake ones (modem_open_args
	 * reuse_endpoint). One that never saw its library connect is closed
	 * instead, since a late connect of that library could still be in its
	 * queue. */
	struct { int fd; uint16_t port; } idle[LSN_IDLE_MAX];
	int nidle;
};

uint32_t modem_device_addr(const struct modem *m, uint32_t device)
{
	return (m->link ? LINKEMU_DEVICE_NET : MODEM_DEVICE_NET) + device + 1;
}

uint64_t modem_settle_ns(const struct modem *m)
{
	return m->settle_ns;
}

void modem_set_link(struct modem *m, struct linkemu *link, double settle_ms)
{
	m->link = link;
	m->settle_ns = link ? (uint64_t)(settle_ms * 1e6) : 0;
}

struct modem *modem_create(int epfd)
{
	struct modem *m = calloc(1, sizeof(*m));
	if (m) {
		m->epfd = epfd;
		net_dup_watch_init(&m->dups);
	}
	return m;
}

void modem_destroy(struct modem *m)
{
	if (m) {
		net_dup_watch_close(&m->dups);
		for (int i = 0; i < m->nidle; i++)
			close(m->idle[i].fd);
	}
	free(m);
}

static struct net_layer *top(const struct modem_conn *mc)
{
	return mc->layer[mc->nlayers - 1];
}

static void close_src(struct modem_conn *mc, struct loop_src *s, int owned)
{
	if (s->fd >= 0) {
		loop_del(mc->m->epfd, s);
		if (owned)
			close(s->fd);
		s->fd = -1;
	}
}

static void set_error(struct modem_conn *mc, enum dormant_err e, const char *what, int errnum)
{
	if (mc->c.err != ERR_OK)
		return;
	mc->c.err = e;
	if (errnum)
		snprintf(mc->c.detail, sizeof(mc->c.detail), "%s: %s", what, strerror(errnum));
	else
		snprintf(mc->c.detail, sizeof(mc->c.detail), "%s", what);
}

/* Charges the wire figures since the last sample to acct_phase. The FIN
 * the kernel counted as a received byte comes out of the cumulative
 * figure once the TCP layer knows of it, which can be after a sample that
 * held it: then the byte is taken back from the phase charged with it. */
static void charge_wire(struct modem_conn *mc, const struct net_wire *now)
{
	struct phase_counts *ph = &mc->c.ph[mc->acct_phase];
	ph->segs_up += now->segs_up - mc->snap.segs_up;
	ph->segs_down += now->segs_down - mc->snap.segs_down;
	ph->ip_up += now->ip_up - mc->snap.ip_up;
	if (now->ip_down >= mc->snap.ip_down) {
		ph->ip_down += now->ip_down - mc->snap.ip_down;
	} else {
		uint64_t back = mc->snap.ip_down - now->ip_down;
		for (int p = PHASE_COUNT - 1; p >= 0 && back; p--) {
			uint64_t t = mc->c.ph[p].ip_down < back ? mc->c.ph[p].ip_down : back;
			mc->c.ph[p].ip_down -= t;
			back -= t;
		}
	}
	mc->snap = *now;
}

/* Reads the counts provider (the bottom layer); 0, or -1 if it has no figures. */
static int sample_wire(struct modem_conn *mc, struct net_wire *w)
{
	struct net_layer *b = mc->layer[0];
	if (!mc->nlayers || !mc->established || b->ops->counts(b, w) < 0)
		return -1;
	return 0;
}

/* The wire figures move when bytes are sent: switch the phase they are
 * charged to when the first byte of a new phase goes out. */
static void sending_phase(struct modem_conn *mc, enum phase p)
{
	if (p == mc->acct_phase)
		return;
	struct net_wire w;
	if (sample_wire(mc, &w) == 0)
		charge_wire(mc, &w);
	mc->acct_phase = p;
}

static void lib_shut(struct modem_conn *mc);

static void finalize(struct modem_conn *mc, int tcp_closed)
{
	struct modem_counts *c = &mc->c;
	struct net_wire w;
	memset(&w, 0, sizeof(w));
	if (sample_wire(mc, &w) == 0) {
		charge_wire(mc, &w);
		c->tcp_info_ok = tcp_closed;
	} else if (mc->nlayers) {
		mc->layer[0]->ops->counts(mc->layer[0], &w); /* stream totals even without a handshake */
	}
	close_src(mc, &mc->lsn, 1);
	close_src(mc, &mc->cli, 1);
	close_src(mc, &mc->srv, 0);
	if (mc->lsn_kept >= 0) {
		struct modem *m = mc->m;
		if (m->nidle < LSN_IDLE_MAX) {
			m->idle[m->nidle].fd = mc->lsn_kept;
			m->idle[m->nidle].port = mc->lsn_port;
			m->nidle++;
		} else {
			close(mc->lsn_kept);
		}
		mc->lsn_kept = -1;
	}
	for (int i = mc->nlayers - 1; i >= 0; i--)
		mc->layer[i]->ops->report(mc->layer[i], c);
	for (int i = mc->nlayers - 1; i >= 0; i--)
		mc->layer[i]->ops->close(mc->layer[i]);
	mc->nlayers = mc->nup = 0;
	uint64_t su = 0, sd = 0;
	for (int p = 0; p < PHASE_COUNT; p++) {
		su += c->ph[p].stream_up;
		sd += c->ph[p].stream_down;
	}
	/* Stream bytes are what the socket carried: what a layer read but
	 * never handed on (RabbitMQ's last TLS record after the device's close,
	 * drained to EOF) is the teardown's. */
	if (w.stream_down > sd)
		c->ph[PHASE_TEARDOWN].stream_down += w.stream_down - sd;
	if (w.stream_up > su)
		c->ph[PHASE_TEARDOWN].stream_up += w.stream_up - su;
	for (int p = 0; p < PHASE_COUNT; p++) {
		struct phase_counts *ph = &c->ph[p];
		c->plain_up += ph->plain_up;
		c->plain_down += ph->plain_down;
		c->stream_up += ph->stream_up;
		c->stream_down += ph->stream_down;
		c->ip_up += ph->ip_up;
		c->ip_down += ph->ip_down;
		c->segs_up += ph->segs_up;
		c->segs_down += ph->segs_down;
	}
	c->closed_ns = clock_mono_ns();
	mc->state = ST_DONE;
	lib_shut(mc); /* a direct library learns here that its connection is gone */
}

static void finish(struct modem_conn *mc, int tcp_closed)
{
	finalize(mc, tcp_closed);
	if (mc->on_done)
		mc->on_done(mc, mc->arg);
}

/* Both directions are closed: wait (polled from modem_tick) until the
 * kernel has the final ACK, so the wire figures no longer move. */
static void maybe_close(struct modem_conn *mc)
{
	if (mc->state != ST_RELAY || !mc->lib_eof || !mc->srv_eof || !mc->srv_shut || mc->down.len)
		return;
	lib_shut(mc);
	if (mc->state != ST_RELAY)
		return; /* the library's close callback ended the connection */
	mc->c.wire_done_ns = clock_mono_ns();
	struct net_wire w;
	if (sample_wire(mc, &w) == 0 && w.closed) {
		finish(mc, 1);
		return;
	}
	mc->state = ST_CLOSING;
	mc->closing_since_ns = clock_mono_ns();
	loop_del(mc->m->epfd, &mc->srv);
	loop_del(mc->m->epfd, &mc->cli);
	mc->next_closing = mc->m->closing;
	mc->m->closing = mc;
}

static size_t stack_pending(const struct modem_conn *mc)
{
	size_t n = 0;
	for (int i = 0; i < mc->nlayers; i++)
		n += mc->layer[i]->ops->pending(mc->layer[i]);
	return n;
}

static void update_events(struct modem_conn *mc)
{
	if (mc->state != ST_RELAY && mc->state != ST_CONNECTING)
		return;
	uint32_t ce = 0, se = 0;
	if (!mc->lib_eof && mc->up.len < BUF_SIZE)
		ce |= EPOLLIN;
	if (mc->down.len)
		ce |= EPOLLOUT;
	if (mc->state == ST_CONNECTING && mc->nup == 0) {
		se = EPOLLOUT; /* the TCP handshake */
	} else {
		if (!mc->srv_eof && (mc->peer_done || mc->down.len < BUF_SIZE))
			se |= EPOLLIN;
		/* In RELAY, library bytes still waiting mean the stack would not take them. */
		if (stack_pending(mc) || (mc->state == ST_RELAY && mc->up.len && !mc->srv_shut))
			se |= EPOLLOUT;
	}
	if (mc->cli.fd >= 0)
		loop_mod(mc->m->epfd, &mc->cli, ce);
	if (mc->srv.fd >= 0)
		loop_mod(mc->m->epfd, &mc->srv, se);
}

/* Writes BUF to FD (the library's socket). Returns 0, or an errno. */
static int flush_cli(int fd, struct buf *b)
{
	while (b->len) {
		ssize_t n = send(fd, b->data + b->off, b->len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			return errno;
		}
		b->off += (size_t)n;
		b->len -= (size_t)n;
	}
	if (!b->len)
		b->off = 0;
	return 0;
}

static void compact(struct buf *b)
{
	if (b->off && b->len)
		memmove(b->data, b->data + b->off, b->len);
	if (!b->len || b->off)
		b->off = 0;
}

/* The server is done: tell the library (EOF on its socket, or its close callback). */
static void lib_shut(struct modem_conn *mc)
{
	if (mc->cli_shut)
		return;
	mc->cli_shut = 1;
	if (mc->direct) {
		mc->in_cb++;
		mc->direct->closed(mc->arg);
		mc->in_cb--;
	} else if (mc->cli.fd >= 0) {
		shutdown(mc->cli.fd, SHUT_WR);
	}
}

static void segs_push(struct segs *q, enum phase ph, size_t n)
{
	int apart = q->apart;
	q->apart = 0;
	if (q->n && !apart) {
		size_t last = (q->head + q->n - 1) % SEGS_MAX;
		if (q->s[last].ph == ph) {
			q->s[last].len += n;
			return;
		}
	}
	if (q->n == SEGS_MAX) { /* more phase changes in flight than slots: merge into the newest */
		q->s[(q->head + q->n - 1) % SEGS_MAX].len += n;
		return;
	}
	size_t i = (q->head + q->n++) % SEGS_MAX;
	q->s[i].ph = ph;
	q->s[i].len = n;
}


static void fail_conn(struct modem_conn *mc, enum dormant_err e, const char *detail)
{
	set_error(mc, e, detail, 0);
	mc->c.server_eof_ns = clock_mono_ns();
	/* The library sees its connection closed, as it would on a real failure. */
	finish(mc, 0);
}

/* Nothing more can go to the server: what the library writes is dropped, as on a dead socket. */
static void drop_up(struct modem_conn *mc)
{
	mc->up.off = mc->up.len = 0;
	mc->segs.head = mc->segs.n = 0;
}

/* Library plaintext to the server, one phase segment at a time. Returns -1
 * if the connection failed (and was finished). */
static int pump_up(struct modem_conn *mc)
{
	if (mc->state != ST_RELAY)
		return 0;
	if (mc->srv_shut)
		drop_up(mc);
	struct net_layer *t = top(mc);
	while (mc->up.len && mc->segs.n) {
		struct segs *q = &mc->segs;
		enum phase p = q->s[q->head].ph;
		size_t seglen = q->s[q->head].len < mc->up.len ? q->s[q->head].len : mc->up.len;
		sending_phase(mc, p);
		struct net_io io = { 0 };
		long n = t->ops->write(t, mc->up.data + mc->up.off, seglen, &io);
		mc->c.ph[p].stream_up += io.up;
		if (n == NET_FAIL) {
			if (io.fatal) {
				fail_conn(mc, io.err, io.detail);
				return -1;
			}
			set_error(mc, io.err, io.detail, 0);
			drop_up(mc);
			break;
		}
		if (n == NET_AGAIN)
			break; /* the socket is full: EPOLLOUT */
		if (mc->tap)
			mc->tap(mc->tap_arg, MODEM_TAP_UP, mc->up.data + mc->up.off, (size_t)n);
		mc->up.off += (size_t)n;
		mc->up.len -= (size_t)n;
		if (!mc->up.len)
			mc->up.off = 0;
		q->s[q->head].len -= (size_t)n;
		if (!q->s[q->head].len) {
			q->head = (q->head + 1) % SEGS_MAX;
			q->n--;
		}
	}
	if (stack_pending(mc)) {
		struct net_io io = { 0 };
		if (t->ops->flush(t, &io) == NET_FAIL)
			set_error(mc, io.err, io.detail, 0);
	}
	if (mc->direct && mc->lib_blocked && !mc->in_cb && mc->up.len < BUF_SIZE / 2 && mc->state == ST_RELAY) {
		/* Room again: a direct library that was cut short writes the rest
		 * (it gets no bytes, only the chance to write). */
		mc->lib_blocked = 0;
		mc->in_cb++;
		mc->direct->deliver(mc->arg, NULL, 0);
		mc->in_cb--;
		if (mc->state != ST_RELAY)
			return -1;
		return pump_up(mc);
	}
	if (mc->lib_eof && !mc->up.len && !mc->srv_shut) {
		/* The library said goodbye: end our direction (the TLS layer sends a
		 * close_notify first if asked to; TCP sends its FIN). The wire is
		 * sampled right before, even within the teardown phase: the TCP
		 * layer tells from what moved during these last sends whether a
		 * RST crossed them (see tcp.c). */
		if (!mc->shut_sampled) {
			struct net_wire w;
			mc->shut_sampled = 1;
			if (sample_wire(mc, &w) == 0)
				charge_wire(mc, &w);
		}
		mc->acct_phase = PHASE_TEARDOWN;
		struct net_io io = { 0 };
		int rc = t->ops->shutdown(t, &io);
		mc->c.ph[PHASE_TEARDOWN].stream_up += io.up;
		if (rc == NET_FAIL)
			set_error(mc, io.err, io.detail, 0);
		if (rc != NET_AGAIN)
			mc->srv_shut = 1;
	}
	return 0;
}

static void pump_down(struct modem_conn *mc)
{
	if (mc->direct) {
		mc->in_cb++;
		while (mc->down.len) {
			size_t n = mc->direct->deliver(mc->arg, mc->down.data + mc->down.off, mc->down.len);
			if (!n)
				break;
			mc->down.off += n;
			mc->down.len -= n;
		}
		mc->in_cb--;
		if (!mc->down.len)
			mc->down.off = 0;
		/* what the library wrote in answer goes out now, and its close (a
		 * close inside the callback with nothing left to write would
		 * otherwise wait for the next event, which may never come) */
		if (!mc->in_cb && (mc->up.len || (mc->lib_eof && !mc->srv_shut)) && pump_up(mc) < 0)
			return;
	} else if (mc->cli.fd >= 0) {
		if (flush_cli(mc->cli.fd, &mc->down))
			mc->down.len = 0; /* the library went away; what it did not read is its loss */
	} else {
		return;
	}
	if (mc->peer_done && !mc->down.len)
		lib_shut(mc);
}

static void account(struct modem_conn *mc, int down, const unsigned char *p, size_t n, uint64_t now, uint64_t stream);

/* Reads what the stack has for the library into DOWN, until it would
 * block, DOWN is full, or the socket is at its end; after the plaintext
 * ended it goes on reading (the layers drain the socket, and count what
 * they drain) until then. Returns -1 if it failed the connection. */
static int pull_down(struct modem_conn *mc)
{
	struct net_layer *t = top(mc);
	while (!mc->srv_eof && mc->state == ST_RELAY) {
		compact(&mc->down);
		size_t room = BUF_SIZE - mc->down.len;
		if (!room && !mc->peer_done)
			break;
		struct net_io io = { 0 };
		unsigned char *dst = mc->down.data + mc->down.len;
		long n = t->ops->read(t, dst, room, &io);
		uint64_t now = clock_mono_ns();
		if (n > 0) {
			account(mc, 1, dst, (size_t)n, now, io.down);
			mc->down.len += (size_t)n;
			/* Plain TCP read short: the socket is empty now, and the
			 * (level-triggered) loop says when more comes; asking again
			 * would only be told EAGAIN, one system call more a packet. */
			if (mc->nlayers == 1 && (size_t)n < room)
				break;
			continue;
		}
		if (io.down) {
			/* records that carried no plaintext: an alert, the close_notify */
			enum phase p = n == NET_EOF ? PHASE_TEARDOWN : mc->down_phase;
			mc->c.ph[p].stream_down += io.down;
			mc->c.ph[p].last_down_ns = now;
		}
		if (n == NET_AGAIN)
			break;
		if (n == NET_FAIL && io.fatal && !mc->lib_eof) {
			pump_down(mc); /* what was read before the failure still reaches the library */
			fail_conn(mc, io.err, io.detail);
			return -1;
		}
		/* The end of the plaintext; after the library's goodbye a failed
		 * read is only that. A failed socket (a RST) is the wake's error
		 * unless the library had closed already. */
		if (!mc->peer_done)
			mc->c.server_eof_ns = now;
		mc->peer_done = 1;
		if (n == NET_FAIL && !io.fatal) {
			if (!mc->lib_eof)
				set_error(mc, io.err, io.detail, 0);
			mc->srv_shut = 1; /* nothing more can be sent on a reset socket */
			drop_up(mc);
		}
		if (io.closed) {
			mc->srv_eof = 1;
			mc->c.server_eof_ns = now;
		}
	}
	return 0;
}

/* Server to library: read, hand on, and read again while handing on made
 * room for what a layer holds already. Returns -1 if the conn failed. */
static int relay_down(struct modem_conn *mc)
{
	for (int i = 0; i < 4 && mc->state == ST_RELAY; i++) {
		if (pull_down(mc) < 0)
			return -1;
		pump_down(mc);
		if (mc->state != ST_RELAY || mc->down.len == BUF_SIZE || !top(mc)->ops->buffered(top(mc)))
			break;
	}
	return 0;
}

/* Charges N plaintext bytes read at NOW to phase P in one direction; with
 * SAME, the stream carried exactly these bytes (no layer transformed
 * them), and they are the phase's stream bytes too. */
static void charge_bytes(struct modem_conn *mc, int down, enum phase p, size_t n, uint64_t now, int same)
{
	struct phase_counts *ph = &mc->c.ph[p];
	if (down) {
		ph->plain_down += n;
		if (same)
			ph->stream_down += n;
		ph->last_down_ns = now;
		mc->down_phase = p;
		return;
	}
	segs_push(&mc->segs, p, n);
	if (!ph->first_up_ns)
		ph->first_up_ns = now;
	ph->last_up_ns = now;
	ph->plain_up += n;
}

/* Charges the N bytes at P to the phases of the packets they belong to.
 * With a framer the phase comes from the bytes themselves, exactly; the
 * adapter's modem_set_phase() is only the fallback, since a library may
 * report a step done before the modem has read its bytes. Down, STREAM
 * is what the stack consumed off the socket for them: the same bytes
 * (plaintext) are charged packet by packet, others (TLS records) to the
 * phase of the last packet they carried. */
static void account_bytes(struct modem_conn *mc, int down, const unsigned char *p, size_t n, uint64_t now, int same);

static void account(struct modem_conn *mc, int down, const unsigned char *p, size_t n, uint64_t now, uint64_t stream)
{
	if (mc->tap && down)
		mc->tap(mc->tap_arg, MODEM_TAP_DOWN, p, n);
	int same = down && stream == n;
	account_bytes(mc, down, p, n, now, same);
	if (down && !same)
		mc->c.ph[mc->down_phase].stream_down += stream;
}

static void account_bytes(struct modem_conn *mc, int down, const unsigned char *p, size_t n, uint64_t now, int same)
{
	struct framer *f = &mc->fr[down];
	if (!mc->frame || f->off) {
		charge_bytes(mc, down, (enum phase)atomic_load(&mc->phase), n, now, same);
		return;
	}
	while (n) {
		if (f->left) {
			size_t t = n < f->left ? n : f->left;
			charge_bytes(mc, down, f->ph, t, now, same);
			f->left -= t;
			p += t;
			n -= t;
			continue;
		}
		size_t take = sizeof(f->hdr) - f->hlen;
		if (take > n)
			take = n;
		memcpy(f->hdr + f->hlen, p, take);
		size_t len = 0;
		enum phase ph = PHASE_DATA;
		int r = mc->frame(down, f->hdr, f->hlen + take, &len, &ph, &mc->frame_state);
		if (r == 0 && f->hlen + take < sizeof(f->hdr)) {
			f->hlen += take; /* header incomplete: wait for the next read */
			return;
		}
		if (r <= 0 || len < f->hlen || (unsigned)ph >= PHASE_COUNT) {
			f->off = 1;
			charge_bytes(mc, down, (enum phase)atomic_load(&mc->phase), f->hlen + n, now, same);
			f->hlen = 0;
			return;
		}
		f->ph = ph;
		f->left = len - f->hlen;
		if (down) {
			mc->c.frames_down++;
		} else {
			mc->c.frames_up++;
			mc->c.ph[ph].frames_up++;
		}
		if (f->hlen)
			charge_bytes(mc, down, ph, f->hlen, now, same);
		f->hlen = 0;
	}
}


static void on_cli(struct loop_src *src, uint32_t events)
{
	struct modem_conn *mc = container_of(src, struct modem_conn, cli);
	if (mc->state == ST_DONE || mc->state == ST_CLOSING)
		return; /* an event from the same epoll batch as the one that ended it */
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		/* The hop from the library to us is dormant's, not the device's: it
		 * must add no wait. paho sets no TCP_NODELAY, so a packet it writes
		 * behind an unacknowledged one (a telemetry PUBLISH right after the
		 * PUBACK of a command) waits for our ACK, which Linux delays by up
		 * to 40 ms (measured). Quick ACKs, asked for again on every read
		 * since Linux drops them, keep the hop transparent. */
		int one = 1;
		setsockopt(src->fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
		compact(&mc->up);
		while (!mc->lib_eof && mc->up.off + mc->up.len < BUF_SIZE) {
			size_t room = BUF_SIZE - mc->up.off - mc->up.len;
			ssize_t n = recv(src->fd, mc->up.data + mc->up.off + mc->up.len, room, 0);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && errno == EAGAIN)
				break;
			uint64_t now = clock_mono_ns();
			if (n <= 0) {
				mc->lib_eof = 1;
				mc->c.lib_eof_ns = now;
				if (mc->tap)
					mc->tap(mc->tap_arg, MODEM_TAP_LIB_EOF, NULL, 0);
				break;
			}
			account(mc, 0, mc->up.data + mc->up.off + mc->up.len, (size_t)n, now, 0);
			mc->up.len += (size_t)n;
			if ((size_t)n < room)
				break; /* read short: nothing more waits (see pull_down) */
		}
	}
	if ((events & EPOLLOUT) && relay_down(mc) < 0)
		return;
	if (pump_up(mc) < 0)
		return;
	update_events(mc);
	maybe_close(mc);
}


/* The bottom layer is up: the transport is established. */
static void bottom_up(struct modem_conn *mc, uint64_t now)
{
	mc->c.established_ns = now;
	mc->established = 1;
	struct phase_counts *ph = &mc->c.ph[PHASE_TCP];
	ph->first_up_ns = mc->c.connect_ns;
	ph->last_up_ns = now;
	ph->last_down_ns = now;
	mc->c.server_port = mc->target.port;
	memset(&mc->snap, 0, sizeof(mc->snap));
	mc->acct_phase = mc->layer[0]->phase;
	struct net_wire w;
	if (sample_wire(mc, &w) == 0)
		charge_wire(mc, &w);
	/* A device's modem brings every layer up before the device's first
	 * byte goes out: what the library wrote meanwhile waits in the up buffer. */
	if (mc->nlayers > 1)
		mc->acct_phase = mc->layer[1]->phase;
}

/* Drives each layer's set-up in turn, bottom first, then starts relaying.
 * Returns -1 if it failed the conn. */
static int bring_up(struct modem_conn *mc)
{
	uint64_t now = clock_mono_ns();
	while (mc->nup < mc->nlayers) {
		struct net_layer *l = mc->layer[mc->nup];
		struct phase_counts *ph = &mc->c.ph[l->phase];
		if (mc->nup > 0) {
			sending_phase(mc, l->phase);
			if (!ph->first_up_ns)
				ph->first_up_ns = now;
		}
		struct net_io io = { 0 };
		int rc = l->ops->connect(l, &io);
		now = clock_mono_ns();
		ph->stream_up += io.up;
		ph->stream_down += io.down;
		if (io.up)
			ph->last_up_ns = now;
		if (rc == NET_FAIL) {
			fail_conn(mc, io.err, io.detail);
			return -1;
		}
		if (rc == NET_AGAIN)
			return 0;
		if (mc->nup++ == 0)
			bottom_up(mc, now);
		else
			ph->last_down_ns = now;
	}
	mc->c.ready_ns = now;
	mc->state = ST_RELAY;
	if (pump_up(mc) < 0)
		return -1;
	/* Application data may have come with the server's last flight. */
	return relay_down(mc);
}

static void on_srv(struct loop_src *src, uint32_t events)
{
	struct modem_conn *mc = container_of(src, struct modem_conn, srv);
	if (mc->state == ST_DONE || mc->state == ST_CLOSING)
		return; /* an event from the same epoll batch as the one that ended it */
	if (mc->state == ST_CONNECTING) {
		if (bring_up(mc) == 0) {
			update_events(mc);
			maybe_close(mc);
		}
		return;
	}
	if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && relay_down(mc) < 0)
		return;
	if (mc->state == ST_RELAY && pump_up(mc) < 0)
		return;
	update_events(mc);
	maybe_close(mc);
}

static void start_connect(struct modem_conn *mc);

static void on_lsn(struct loop_src *src, uint32_t events)
{
	struct modem_conn *mc = container_of(src, struct modem_conn, lsn);
	int fd = accept4(src->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	mc->c.accept_ns = clock_mono_ns();
	/* one to reuse is kept (out of the epoll set) until the connection
	 * ends, see struct modem's idle; any other is done with */
	if (mc->reuse_endpoint)
		mc->lsn_kept = mc->lsn.fd;
	close_src(mc, &mc->lsn, !mc->reuse_endpoint);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	loop_add(mc->m->epfd, &mc->cli, fd, EPOLLIN);
	if (mc->on_accept)
		mc->on_accept(mc, mc->arg);
	start_connect(mc);
}

/* The layers of this connection, bottom first: TCP from the device's own
 * address, then TLS when the variant has it. A new layer is one more step
 * here (and its own file); nothing else in the modem knows which there are. */
static int build_stack(struct modem_conn *mc, struct net_io *io)
{
	struct net_tcp_args ta = { .local_addr = modem_device_addr(mc->m, mc->device), .remote_addr = mc->target.addr,
	                           .remote_port = mc->target.port, .dups = &mc->m->dups, .link = mc->m->link,
	                           .settle_ns = mc->m->settle_ns, .user_timeout_ms = mc->user_timeout_ms };
	struct net_layer *l = net_tcp_open(&ta, io);
	if (!l)
		return -1;
	mc->layer[mc->nlayers++] = l;
	if (mc->tlsp) {
		l = net_tls_open(mc->tlsp, mc->device, mc->close_notify, l, io);
		if (!l)
			return -1;
		mc->layer[mc->nlayers++] = l;
	}
	return 0;
}

/* The device asked for a connection: build its stack and connect. */
static void start_connect(struct modem_conn *mc)
{
	mc->c.local_addr = modem_device_addr(mc->m, mc->device);
	mc->state = ST_CONNECTING;
	mc->c.connect_ns = clock_mono_ns();
	struct net_io io = { 0 };
	if (build_stack(mc, &io) < 0) {
		set_error(mc, io.err, io.detail, 0);
		mc->c.server_eof_ns = clock_mono_ns();
		finish(mc, 0);
		return;
	}
	loop_add(mc->m->epfd, &mc->srv, net_tcp_fd(mc->layer[0]), EPOLLOUT);
	update_events(mc);
}

struct modem_conn *modem_open(struct modem *m, const struct modem_open_args *a, enum dormant_err *err, char *detail,
                              size_t detail_len)
{
	struct modem_conn *mc = malloc(sizeof(*mc));
	if (!mc) {
		*err = ERR_NOMEM;
		snprintf(detail, detail_len, "out of memory");
		return NULL;
	}
	memset(mc, 0, offsetof(struct modem_conn, up));
	mc->up.off = mc->up.len = mc->down.off = mc->down.len = 0;
	mc->m = m;
	mc->lsn.fd = mc->cli.fd = mc->srv.fd = mc->lsn_kept = -1;
	mc->lsn.fn = on_lsn;
	mc->cli.fn = on_cli;
	mc->srv.fn = on_srv;
	mc->target = a->target;
	mc->device = a->device;
	mc->tlsp = a->tls;
	mc->on_accept = a->on_accept;
	mc->on_done = a->on_done;
	mc->frame = a->frame;
	mc->direct = a->direct;
	mc->arg = a->arg;
	mc->user_timeout_ms = a->user_timeout_ms;
	mc->reuse_endpoint = a->reuse_endpoint;
	mc->tap = a->tap;
	mc->tap_arg = a->tap_arg;
	atomic_init(&mc->phase, PHASE_SETUP);
	mc->acct_phase = PHASE_TCP;
	if (a->direct) {
		mc->state = ST_LISTEN; /* until modem_conn_start() */
		return mc;
	}

	int fd;
	if (m->nidle) {
		m->nidle--;
		fd = m->idle[m->nidle].fd;
		mc->lsn_port = m->idle[m->nidle].port;
	} else {
		fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		socklen_t len = sizeof(sa);
		if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 1) < 0 ||
		    getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
			*err = ERR_INTERNAL;
			snprintf(detail, detail_len, "modem endpoint: %s", strerror(errno));
			if (fd >= 0)
				close(fd);
			free(mc);
			return NULL;
		}
		mc->lsn_port = ntohs(sa.sin_port);
	}
	loop_add(m->epfd, &mc->lsn, fd, EPOLLIN);
	mc->state = ST_LISTEN;
	return mc;
}

void modem_conn_set_close_notify(struct modem_conn *mc, int on)
{
	mc->close_notify = on;
}

void modem_conn_start(struct modem_conn *mc)
{
	if (!mc->direct || mc->state != ST_LISTEN)
		return;
	mc->c.accept_ns = clock_mono_ns();
	start_connect(mc);
}

size_t modem_lib_write(struct modem_conn *mc, const unsigned char *p, size_t n)
{
	if (mc->state == ST_DONE || mc->state == ST_CLOSING || mc->lib_eof)
		return n; /* the connection is gone: the bytes go nowhere, as on a dead socket */
	compact(&mc->up);
	size_t room = BUF_SIZE - mc->up.len;
	size_t take = n < room ? n : room;
	memcpy(mc->up.data + mc->up.len, p, take);
	account(mc, 0, mc->up.data + mc->up.len, take, clock_mono_ns(), 0);
	mc->up.len += take;
	if (take < n)
		mc->lib_blocked = 1;
	if (!mc->in_cb && pump_up(mc) == 0) {
		update_events(mc);
		maybe_close(mc);
	}
	return take;
}

void modem_lib_apart(struct modem_conn *mc)
{
	if (mc->up.len)
		mc->segs.apart = 1;
}

void modem_lib_close(struct modem_conn *mc)
{
	if (mc->state == ST_DONE || mc->state == ST_CLOSING || mc->lib_eof)
		return;
	mc->lib_eof = 1;
	mc->c.lib_eof_ns = clock_mono_ns();
	if (mc->tap)
		mc->tap(mc->tap_arg, MODEM_TAP_LIB_EOF, NULL, 0);
	if (!mc->in_cb && pump_up(mc) == 0) {
		update_events(mc);
		maybe_close(mc);
	}
}

uint16_t modem_conn_port(const struct modem_conn *mc)
{
	return mc->lsn.fd < 0 ? 0 : mc->lsn_port;
}

void modem_set_phase(struct modem_conn *mc, enum phase p)
{
	if (!mc)
		return; /* a late callback of a wake the engine has given up on */
	atomic_store(&mc->phase, (int)p);
}

static void unlink_closing(struct modem_conn *mc)
{
	for (struct modem_conn **pp = &mc->m->closing; *pp; pp = &(*pp)->next_closing)
		if (*pp == mc) {
			*pp = mc->next_closing;
			return;
		}
}

void modem_conn_abort(struct modem_conn *mc, enum dormant_err err, const char *why)
{
	if (mc->state == ST_DONE)
		return;
	if (mc->state == ST_CLOSING)
		unlink_closing(mc);
	set_error(mc, err, why, 0);
	finalize(mc, 0);
}

const struct modem_counts *modem_conn_counts(const struct modem_conn *mc)
{
	return &mc->c;
}

int modem_conn_alive(const struct modem_conn *mc)
{
	return mc && (mc->state == ST_RELAY || mc->state == ST_CONNECTING) && !mc->lib_eof && !mc->srv_eof &&
	       !mc->peer_done && mc->c.err == ERR_OK;
}

void modem_conn_cut(struct modem_conn *mc, struct modem_counts *out)
{
	struct modem_counts *c = &mc->c;
	int live = mc->state != ST_DONE;
	struct net_wire w;
	if (live && sample_wire(mc, &w) == 0)
		charge_wire(mc, &w);
	*out = *c;
	if (live) {
		/* finalize() sums the totals of a finished connection; a live one's are summed here */
		out->plain_up = out->plain_down = out->stream_up = out->stream_down = 0;
		out->ip_up = out->ip_down = out->segs_up = out->segs_down = 0;
		for (int p = 0; p < PHASE_COUNT; p++) {
			const struct phase_counts *ph = &c->ph[p];
			out->plain_up += ph->plain_up;
			out->plain_down += ph->plain_down;
			out->stream_up += ph->stream_up;
			out->stream_down += ph->stream_down;
			out->ip_up += ph->ip_up;
			out->ip_down += ph->ip_down;
			out->segs_up += ph->segs_up;
			out->segs_down += ph->segs_down;
		}
		out->local_addr = modem_device_addr(mc->m, mc->device);
		out->server_port = mc->target.port;
		out->link_on = mc->m->link != NULL;
		struct sockaddr_in sa;
		socklen_t sl = sizeof(sa);
		if (mc->nlayers && getsockname(net_tcp_fd(mc->layer[0]), (struct sockaddr *)&sa, &sl) == 0)
			out->local_port = ntohs(sa.sin_port);
		/* The period that brought the layers up has their facts (TLS: the
		 * handshake's evidence); the bottom layer reports only at the end. */
		if (c->ready_ns)
			for (int i = mc->nlayers - 1; i >= 1; i--)
				mc->layer[i]->ops->report(mc->layer[i], out);
	}
	/* What identifies the connection stays; every figure and stamp starts anew. */
	struct modem_counts keep = { .local_addr = out->local_addr, .local_port = out->local_port,
	                             .server_port = out->server_port, .link_on = out->link_on };
	if (!live)
		keep.closed_ns = c->closed_ns;
	*c = keep;
}

void modem_conn_free(struct modem_conn *mc)
{
	if (!mc)
		return;
	if (mc->state != ST_DONE)
		modem_conn_abort(mc, ERR_INTERNAL, "freed while open");
	free(mc);
}

void modem_tick(struct modem *m)
{
	uint64_t now = clock_mono_ns();
	struct modem_conn **pp = &m->closing;
	while (*pp) {
		struct modem_conn *mc = *pp;
		struct net_wire w;
		int closed = sample_wire(mc, &w) == 0 && w.closed;
		if (closed || now - mc->closing_since_ns > CLOSE_WAIT_NS + m->settle_ns) {
			*pp = mc->next_closing;
			finish(mc, closed);
			continue;
		}
		pp = &mc->next_closing;
	}
}

int modem_timeout_ms(const struct modem *m)
{
	return m->closing ? 1 : -1;
}
