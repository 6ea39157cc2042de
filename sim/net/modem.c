/* modem.c: per-wake relay between a protocol library and the server, and
 * the place where every byte and segment of a wake is counted.
 * See modem.h for the contract and the header-size constants. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/tcp.h> /* struct tcp_info with tcpi_bytes_sent & co; glibc's lacks them */
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <mbedtls/ssl.h>

#include "clock.h"
#include "loop.h"
#include "modem.h"
#include "tls.h"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

/* TCP_CLOSE of the kernel's include/net/tcp_states.h; <linux/tcp.h> has no state names
 * and <netinet/tcp.h> cannot be included beside it. */
#define TCPI_STATE_CLOSE 7

#define BUF_SIZE (64 * 1024)
#define CLOSE_WAIT_NS (2000ull * 1000 * 1000) /* give up waiting for TCP_CLOSE after 2 s */

struct buf {
	size_t off, len;
	unsigned char data[BUF_SIZE];
};

struct kernel_snap {
	uint64_t bytes_sent, bytes_received, segs_out, segs_in;
	uint32_t dsack_dups; /* DSACK blocks the server sent (our segment came twice) */
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
 * what goes on the wire (and the kernel counters it moves) is charged to the
 * phase of the plaintext it carries. */
#define SEGS_MAX 256
struct segs {
	struct { enum phase ph; size_t len; } s[SEGS_MAX];
	size_t head, n;
};

enum conn_state { ST_LISTEN, ST_CONNECTING, ST_TLS, ST_RELAY, ST_CLOSING, ST_DONE };

struct modem_conn {
	struct modem *m;
	struct loop_src lsn, cli, srv;
	enum conn_state state;
	struct modem_target target;
	uint32_t device;
	_Atomic int phase;          /* set by the library's threads */
	enum phase acct_phase;      /* phase the kernel counters are being charged to */
	enum phase down_phase;      /* phase of the last plaintext read from the server */
	struct kernel_snap snap;    /* kernel counters at the start of acct_phase */
	int lib_eof, srv_eof, srv_shut, cli_shut, tls_eof;
	int fin_charged;            /* the FIN byte has been taken out of bytes_received */
	int lib_blocked;            /* a direct library could not write all it had: call it again */
	uint64_t closing_since_ns;
	struct buf up, down;        /* plaintext: up = library -> server; down = server -> library */
	struct segs segs;           /* phases of what up holds */
	struct tls_conn *tls;       /* NULL: plaintext */
	struct tls_profile *tlsp;
	struct buf *in, *out;       /* TLS only: ciphertext from / to the server */
	struct modem_counts c;
	modem_cb on_accept, on_done;
	modem_frame_fn frame;
	struct framer fr[2];        /* [0] up, [1] down */
	uint32_t frame_state;       /* the framer's, across both directions */
	const struct modem_lib *direct; /* a library on the engine thread, no socket of its own */
	int in_cb;                  /* inside a direct library's callback: pump when it returns */
	int close_notify, sent_close_notify; /* send a TLS close_notify when the library closes */
	void *arg;
	struct modem_conn *next_closing;
};

struct modem {
	int epfd;
	struct modem_conn *closing;
};

static const char *const phase_names[PHASE_COUNT] = {
	[PHASE_TCP] = "tcp", [PHASE_TLS] = "tls", [PHASE_SETUP] = "setup",
	[PHASE_DATA] = "data", [PHASE_DOWNLINK] = "downlink", [PHASE_TEARDOWN] = "teardown",
};

const char *phase_name(enum phase p)
{
	return (unsigned)p < PHASE_COUNT ? phase_names[p] : "?";
}

uint32_t modem_device_addr(uint32_t device)
{
	return MODEM_DEVICE_NET + device + 1;
}

struct modem *modem_create(int epfd)
{
	struct modem *m = calloc(1, sizeof(*m));
	if (m)
		m->epfd = epfd;
	return m;
}

void modem_destroy(struct modem *m)
{
	free(m);
}

static void close_src(struct modem_conn *mc, struct loop_src *s)
{
	if (s->fd >= 0) {
		loop_del(mc->m->epfd, s);
		close(s->fd);
		s->fd = -1;
	}
}

static int read_kernel(int fd, struct kernel_snap *k, struct tcp_info *out)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	memset(&ti, 0, sizeof(ti));
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0)
		return -1;
	k->bytes_sent = ti.tcpi_bytes_sent;
	k->bytes_received = ti.tcpi_bytes_received;
	k->segs_out = ti.tcpi_segs_out;
	k->segs_in = ti.tcpi_segs_in;
	k->dsack_dups = ti.tcpi_dsack_dups;
	if (out)
		*out = ti;
	return 0;
}

/* Charges the kernel counters since the last snapshot to acct_phase. */
/* Charges the kernel counters since the last snapshot to acct_phase. The
 * kernel counts the server's FIN as a received byte: it is taken out once,
 * from the first charge that holds it (FINAL: the last charge, which must). */
static void charge_kernel(struct modem_conn *mc, const struct kernel_snap *now, int final)
{
	struct phase_counts *ph = &mc->c.ph[mc->acct_phase];
	uint64_t ds = now->bytes_sent - mc->snap.bytes_sent;
	uint64_t dr = now->bytes_received - mc->snap.bytes_received;
	if (mc->c.fin_in && !mc->fin_charged && dr > 0) {
		dr--;
		mc->fin_charged = 1;
	} else if (final && mc->c.fin_in && !mc->fin_charged) {
		/* The FIN came before the last snapshot but after we read it: take it
		 * from the phase that was charged with it. */
		for (int p = PHASE_COUNT - 1; p >= 0; p--)
			if (mc->c.ph[p].ip_down > 0) {
				mc->c.ph[p].ip_down--;
				break;
			}
		mc->fin_charged = 1;
	}
	uint64_t dso = now->segs_out - mc->snap.segs_out;
	uint64_t dsi = now->segs_in - mc->snap.segs_in;
	ph->segs_up += dso;
	ph->segs_down += dsi;
	ph->ip_up += ds + MODEM_HDR_SEGMENT * dso;
	/* A segment of ours that reached the server twice (a tail loss probe
	 * under load, say) is answered with an ACK that carries a DSACK block:
	 * 12 option bytes beyond the usual 52 (seen in captures on lo). */
	uint32_t dd = now->dsack_dups - mc->snap.dsack_dups;
	ph->ip_down += dr + MODEM_HDR_SEGMENT * dsi + MODEM_HDR_DSACK * dd;
	mc->c.dsack_in += dd;
	mc->snap = *now;
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

static void lib_shut(struct modem_conn *mc);

static void finalize(struct modem_conn *mc, int tcp_closed)
{
	struct kernel_snap k;
	struct tcp_info ti;
	if (mc->srv.fd >= 0 && mc->c.established_ns && read_kernel(mc->srv.fd, &k, &ti) == 0) {
		charge_kernel(mc, &k, 1);
		mc->c.retrans = ti.tcpi_total_retrans;
		mc->c.tcp_info_ok = tcp_closed;
	}
	close_src(mc, &mc->lsn);
	close_src(mc, &mc->cli);
	close_src(mc, &mc->srv);
	struct modem_counts *c = &mc->c;
	if (mc->tls) {
		tls_conn_stats(mc->tls, &c->tls);
		tls_conn_free(mc->tls);
		mc->tls = NULL;
	}
	for (int p = 0; p < PHASE_COUNT; p++) {
		struct phase_counts *ph = &c->ph[p];
		if (!mc->tlsp) {
			/* Without TLS the stream carries exactly the plaintext. */
			ph->stream_up = ph->plain_up;
			ph->stream_down = ph->plain_down;
		}
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
 * kernel has the final ACK, so TCP_INFO no longer moves. */
/* Both directions are closed: wait (polled from modem_tick) until the
 * kernel has the final ACK, so TCP_INFO no longer moves. */
static void maybe_close(struct modem_conn *mc)
{
	if (mc->state != ST_RELAY || !mc->lib_eof || !mc->srv_eof || !mc->srv_shut || mc->down.len)
		return;
	lib_shut(mc);
	if (mc->state != ST_RELAY)
		return; /* the library's close callback ended the connection */
	struct tcp_info ti;
	struct kernel_snap k;
	if (read_kernel(mc->srv.fd, &k, &ti) == 0 && ti.tcpi_state == TCPI_STATE_CLOSE) {
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

static void update_events(struct modem_conn *mc)
{
	if (mc->state != ST_RELAY && mc->state != ST_CONNECTING && mc->state != ST_TLS)
		return;
	uint32_t ce = 0, se = 0;
	if (!mc->lib_eof && mc->up.len < BUF_SIZE)
		ce |= EPOLLIN;
	if (mc->down.len)
		ce |= EPOLLOUT;
	if (mc->state == ST_CONNECTING) {
		se = EPOLLOUT;
	} else {
		size_t in_len = mc->in ? mc->in->off + mc->in->len : mc->down.len;
		if (!mc->srv_eof && in_len < BUF_SIZE)
			se |= EPOLLIN;
		if ((mc->out ? mc->out->len : 0) || (!mc->tls && mc->up.len))
			se |= EPOLLOUT;
	}
	if (mc->cli.fd >= 0)
		loop_mod(mc->m->epfd, &mc->cli, ce);
	if (mc->srv.fd >= 0)
		loop_mod(mc->m->epfd, &mc->srv, se);
}

/* Writes up to MAX bytes of BUF to FD. Returns bytes written (>= 0), or -errno. */
static ssize_t flush_some(int fd, struct buf *b, size_t max)
{
	size_t done = 0;
	while (b->len && done < max) {
		size_t want = b->len < max - done ? b->len : max - done;
		ssize_t n = send(fd, b->data + b->off, want, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			return -errno;
		}
		b->off += (size_t)n;
		b->len -= (size_t)n;
		done += (size_t)n;
	}
	if (!b->len)
		b->off = 0;
	return (ssize_t)done;
}

static int flush(int fd, struct buf *b)
{
	ssize_t n = flush_some(fd, b, SIZE_MAX);
	return n < 0 ? (int)-n : 0;
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
	if (q->n) {
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

/* The kernel counters move when bytes are sent: switch the phase they are
 * charged to when the first byte of a new phase goes out. */
static void sending_phase(struct modem_conn *mc, enum phase p)
{
	if (p == mc->acct_phase)
		return;
	struct kernel_snap k;
	if (read_kernel(mc->srv.fd, &k, NULL) == 0)
		charge_kernel(mc, &k, 0);
	mc->acct_phase = p;
}

static void fail_conn(struct modem_conn *mc, enum dormant_err e, const char *detail)
{
	set_error(mc, e, detail, 0);
	if (mc->out)
		(void)flush(mc->srv.fd, mc->out); /* the alert, if mbedTLS wrote one */
	mc->c.server_eof_ns = clock_mono_ns();
	/* The library sees its connection closed, as it would on a real failure. */
	finish(mc, 0);
}

/* Library plaintext to the server, one phase segment at a time. Returns -1
 * if the connection failed (and was finished). */
static int pump_up(struct modem_conn *mc)
{
	if (mc->state != ST_RELAY)
		return 0;
	while (mc->up.len && mc->segs.n) {
		struct segs *q = &mc->segs;
		enum phase p = q->s[q->head].ph;
		size_t seglen = q->s[q->head].len < mc->up.len ? q->s[q->head].len : mc->up.len;
		sending_phase(mc, p);
		size_t done;
		if (!mc->tls) {
			ssize_t n = flush_some(mc->srv.fd, &mc->up, seglen);
			if (n < 0) {
				set_error(mc, n == -ECONNRESET || n == -EPIPE ? ERR_RESET : ERR_CLOSED, "send to server", (int)-n);
				mc->up.len = 0;
				break;
			}
			done = (size_t)n;
		} else {
			size_t before = mc->out->len;
			enum dormant_err e = ERR_OK;
			char d[128];
			long n = tls_conn_write(mc->tls, mc->up.data + mc->up.off, seglen, &e, d, sizeof(d));
			if (n < 0) {
				fail_conn(mc, e, d);
				return -1;
			}
			mc->c.ph[p].stream_up += mc->out->len - before;
			done = (size_t)n;
			mc->up.off += done;
			mc->up.len -= done;
			if (!mc->up.len)
				mc->up.off = 0;
			int fe = flush(mc->srv.fd, mc->out);
			if (fe) {
				set_error(mc, fe == ECONNRESET || fe == EPIPE ? ERR_RESET : ERR_CLOSED, "send to server", fe);
				mc->up.len = 0;
				break;
			}
			if (!done && !mc->out->len)
				continue; /* mbedTLS waited for room in OUT, and the socket just took it all */
		}
		q->s[q->head].len -= done;
		if (!q->s[q->head].len) {
			q->head = (q->head + 1) % SEGS_MAX;
			q->n--;
		}
		/* Plaintext: a short write means the socket is full. TLS: mbedTLS takes
		 * at most one record a call, so only no progress means waiting. */
		if (mc->tls ? !done : done < seglen)
			break;
	}
	if (mc->tls && mc->out->len) {
		int fe = flush(mc->srv.fd, mc->out);
		if (fe)
			set_error(mc, ERR_RESET, "send to server", fe);
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
	if (mc->lib_eof && !mc->up.len && !mc->srv_shut && mc->tls && mc->close_notify && !mc->sent_close_notify) {
		/* Protocols whose server waits for the TLS close (AMQP on RabbitMQ) get one. */
		mc->sent_close_notify = 1;
		sending_phase(mc, PHASE_TEARDOWN);
		size_t before = mc->out->len;
		tls_conn_close_notify(mc->tls);
		mc->c.ph[PHASE_TEARDOWN].stream_up += mc->out->len - before;
		(void)flush(mc->srv.fd, mc->out);
	}
	if (mc->lib_eof && !mc->up.len && !mc->srv_shut && !(mc->out && mc->out->len)) {
		/* Otherwise no close_notify after the protocol's own goodbye: the
		 * server closes on it (MQTT DISCONNECT), and an alert arriving at a
		 * closed socket draws a RST. */
		sending_phase(mc, PHASE_TEARDOWN);
		shutdown(mc->srv.fd, SHUT_WR);
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
		/* what the library wrote in answer goes out now */
		if (!mc->in_cb && mc->up.len && pump_up(mc) < 0)
			return;
	} else if (mc->cli.fd >= 0) {
		int e = flush(mc->cli.fd, &mc->down);
		if (e)
			mc->down.len = 0; /* the library went away; what it did not read is its loss */
	} else {
		return;
	}
	int server_done = mc->tls ? (mc->tls_eof || mc->srv_eof) : mc->srv_eof;
	if (server_done && !mc->down.len)
		lib_shut(mc);
}

/* Charges N plaintext bytes read at NOW to phase P in one direction. */
static void charge_bytes(struct modem_conn *mc, int down, enum phase p, size_t n, uint64_t now)
{
	struct phase_counts *ph = &mc->c.ph[p];
	if (down) {
		ph->plain_down += n;
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
 * report a step done before the modem has read its bytes. */
static void account(struct modem_conn *mc, int down, const unsigned char *p, size_t n, uint64_t now)
{
	struct framer *f = &mc->fr[down];
	if (!mc->frame || f->off) {
		charge_bytes(mc, down, (enum phase)atomic_load(&mc->phase), n, now);
		return;
	}
	while (n) {
		if (f->left) {
			size_t t = n < f->left ? n : f->left;
			charge_bytes(mc, down, f->ph, t, now);
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
			charge_bytes(mc, down, (enum phase)atomic_load(&mc->phase), f->hlen + n, now);
			f->hlen = 0;
			return;
		}
		f->ph = ph;
		f->left = len - f->hlen;
		if (f->hlen)
			charge_bytes(mc, down, ph, f->hlen, now);
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
			ssize_t n = recv(src->fd, mc->up.data + mc->up.off + mc->up.len,
			                 BUF_SIZE - mc->up.off - mc->up.len, 0);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && errno == EAGAIN)
				break;
			uint64_t now = clock_mono_ns();
			if (n <= 0) {
				mc->lib_eof = 1;
				mc->c.lib_eof_ns = now;
				break;
			}
			account(mc, 0, mc->up.data + mc->up.off + mc->up.len, (size_t)n, now);
			mc->up.len += (size_t)n;
		}
	}
	if (events & EPOLLOUT)
		pump_down(mc);
	if (pump_up(mc) < 0)
		return;
	update_events(mc);
	maybe_close(mc);
}

/* BIO for mbedTLS: ciphertext goes to OUT, comes from IN. */
static int tls_send(void *ctx, unsigned char *buf, size_t len)
{
	struct modem_conn *mc = ctx;
	struct buf *b = mc->out;
	compact(b);
	size_t room = BUF_SIZE - b->len;
	if (!room)
		return MBEDTLS_ERR_SSL_WANT_WRITE;
	size_t n = len < room ? len : room;
	memcpy(b->data + b->len, buf, n);
	b->len += n;
	return (int)n;
}

static int tls_recv(void *ctx, unsigned char *buf, size_t len)
{
	struct modem_conn *mc = ctx;
	struct buf *b = mc->in;
	if (!b->len)
		return mc->srv_eof ? 0 : MBEDTLS_ERR_SSL_WANT_READ;
	size_t n = len < b->len ? len : b->len;
	memcpy(buf, b->data + b->off, n);
	b->off += n;
	b->len -= n;
	if (!b->len)
		b->off = 0;
	return (int)n;
}

/* Reads what the server sent into BUF (plaintext: down; TLS: in), up to EOF, EAGAIN or a full BUF. */
static void read_server(struct modem_conn *mc, struct buf *b)
{
	compact(b);
	while (!mc->srv_eof && b->off + b->len < BUF_SIZE) {
		ssize_t n = recv(mc->srv.fd, b->data + b->off + b->len, BUF_SIZE - b->off - b->len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		uint64_t now = clock_mono_ns();
		if (n < 0) {
			mc->c.rst_in = errno == ECONNRESET;
			if (!mc->lib_eof)
				set_error(mc, errno == ECONNRESET ? ERR_RESET : ERR_CLOSED, "recv from server", errno);
			mc->srv_eof = 1;
			mc->srv_shut = 1; /* nothing more can be sent on a reset socket */
			mc->up.len = 0;
			mc->c.server_eof_ns = now;
			break;
		}
		if (n == 0) {
			mc->srv_eof = 1;
			mc->c.fin_in = 1;
			mc->c.server_eof_ns = now;
			break;
		}
		if (b == &mc->down)
			account(mc, 1, b->data + b->off + b->len, (size_t)n, now);
		b->len += (size_t)n;
	}
}

/* TLS: decrypts what IN holds into DOWN, charging the records consumed to
 * the phase of the plaintext they carried. Returns -1 if it failed the conn. */
static int decrypt_down(struct modem_conn *mc)
{
	while (!mc->tls_eof) {
		compact(&mc->down);
		size_t room = BUF_SIZE - mc->down.len;
		if (!room)
			break;
		size_t before = mc->in->len;
		enum dormant_err e = ERR_OK;
		char d[128];
		long n = tls_conn_read(mc->tls, mc->down.data + mc->down.len, room, &e, d, sizeof(d));
		uint64_t now = clock_mono_ns();
		size_t used = before - mc->in->len;
		if (n > 0) {
			account(mc, 1, mc->down.data + mc->down.len, (size_t)n, now);
			mc->down.len += (size_t)n;
			mc->c.ph[mc->down_phase].stream_down += used;
			continue;
		}
		if (n == -2) { /* close_notify or EOF: the server is done */
			mc->tls_eof = 1;
			mc->c.ph[PHASE_TEARDOWN].stream_down += used;
			mc->c.ph[PHASE_TEARDOWN].last_down_ns = now;
			break;
		}
		mc->c.ph[mc->down_phase].stream_down += used;
		if (n < 0) {
			if (mc->lib_eof) { /* after the library's goodbye, a failed read is only the end */
				mc->tls_eof = 1;
				break;
			}
			pump_down(mc); /* what was decrypted before the failure still reaches the library */
			fail_conn(mc, e, d);
			return -1;
		}
		break;
	}
	return 0;
}

/* Drives the handshake; on completion starts relaying. Returns -1 if it failed the conn. */
static int drive_handshake(struct modem_conn *mc)
{
	size_t in0 = mc->in->len, out0 = mc->out->len;
	enum dormant_err e = ERR_OK;
	char d[128];
	int rc = tls_conn_handshake(mc->tls, &e, d, sizeof(d));
	struct phase_counts *ph = &mc->c.ph[PHASE_TLS];
	ph->stream_down += in0 - mc->in->len;
	ph->stream_up += mc->out->len - out0;
	int fe = flush(mc->srv.fd, mc->out);
	uint64_t now = clock_mono_ns();
	if (mc->out->len < out0 || mc->out->len == 0)
		ph->last_up_ns = now;
	if (rc < 0) {
		fail_conn(mc, e, d);
		return -1;
	}
	if (fe) {
		fail_conn(mc, ERR_RESET, "send to server during the handshake");
		return -1;
	}
	if (rc == 1) {
		ph->last_down_ns = now;
		mc->c.ready_ns = now;
		mc->state = ST_RELAY;
		if (pump_up(mc) < 0)
			return -1;
		/* Application data may have come with the server's last flight. */
		if (decrypt_down(mc) < 0)
			return -1;
		pump_down(mc);
	} else if (mc->srv_eof) {
		fail_conn(mc, ERR_TLS_HANDSHAKE, "server closed the connection during the handshake");
		return -1;
	}
	return 0;
}

static void on_established(struct modem_conn *mc)
{
	uint64_t now = clock_mono_ns();
	mc->c.established_ns = now;
	struct phase_counts *ph = &mc->c.ph[PHASE_TCP];
	ph->first_up_ns = mc->c.connect_ns;
	ph->last_up_ns = now;
	ph->last_down_ns = now;
	/* The SYN and SYN-ACK carry 8 option bytes more than other segments.
	 * Every retransmission so far was a SYN (nothing else has been sent),
	 * and every segment received so far a SYN-ACK. */
	struct kernel_snap k;
	struct tcp_info ti;
	memset(&mc->snap, 0, sizeof(mc->snap));
	mc->acct_phase = PHASE_TCP;
	if (read_kernel(mc->srv.fd, &k, &ti) == 0) {
		ph->ip_up += MODEM_HDR_SYN_EXTRA * (1 + ti.tcpi_total_retrans);
		ph->ip_down += MODEM_HDR_SYN_EXTRA * (k.segs_in > 1 ? k.segs_in : 1);
		charge_kernel(mc, &k, 0);
	} else {
		ph->ip_up += MODEM_HDR_SYN_EXTRA;
		ph->ip_down += MODEM_HDR_SYN_EXTRA;
	}
	struct sockaddr_in sa;
	socklen_t sal = sizeof(sa);
	if (getsockname(mc->srv.fd, (struct sockaddr *)&sa, &sal) == 0)
		mc->c.local_port = ntohs(sa.sin_port);
	mc->c.server_port = mc->target.port;
	if (!mc->tlsp) {
		mc->c.ready_ns = now;
		mc->state = ST_RELAY;
		if (pump_up(mc) == 0)
			update_events(mc);
		return;
	}
	/* A device's modem brings TLS up before the device's first byte goes out:
	 * what the library wrote meanwhile waits in the up buffer. */
	mc->state = ST_TLS;
	mc->acct_phase = PHASE_TLS;
	mc->c.ph[PHASE_TLS].first_up_ns = now;
	enum dormant_err e = ERR_OK;
	char d[128];
	mc->tls = tls_conn_create(mc->tlsp, mc->device, tls_send, tls_recv, mc, &e, d, sizeof(d));
	if (!mc->tls) {
		fail_conn(mc, e, d);
		return;
	}
	if (drive_handshake(mc) == 0)
		update_events(mc);
}

static void on_srv(struct loop_src *src, uint32_t events)
{
	struct modem_conn *mc = container_of(src, struct modem_conn, srv);
	if (mc->state == ST_DONE || mc->state == ST_CLOSING)
		return; /* an event from the same epoll batch as the one that ended it */
	if (mc->state == ST_CONNECTING) {
		int soerr = 0;
		socklen_t sl = sizeof(soerr);
		getsockopt(src->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
		if (soerr || (events & (EPOLLERR | EPOLLHUP))) {
			set_error(mc, ERR_CONNECT, "connect", soerr ? soerr : ECONNREFUSED);
			mc->c.server_eof_ns = clock_mono_ns();
			finish(mc, 0);
			return;
		}
		on_established(mc);
		return;
	}
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		read_server(mc, mc->tls ? mc->in : &mc->down);
	if (mc->state == ST_TLS) {
		if (drive_handshake(mc) == 0)
			update_events(mc);
		return;
	}
	if (mc->tls && decrypt_down(mc) < 0)
		return;
	pump_down(mc);
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
	close_src(mc, &mc->lsn);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	loop_add(mc->m->epfd, &mc->cli, fd, EPOLLIN);
	if (mc->on_accept)
		mc->on_accept(mc, mc->arg);
	start_connect(mc);
}

/* The device asked for a connection: connect to the server from its own address. */
static void start_connect(struct modem_conn *mc)
{
	int one = 1;
	int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s < 0) {
		set_error(mc, ERR_CONNECT, "socket", errno);
		finish(mc, 0);
		return;
	}
	setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* Each device is its own host: bind its source address, let connect()
	 * pick the port (no TIME_WAIT port hunting on one shared address). */
	setsockopt(s, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
	struct sockaddr_in local = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(modem_device_addr(mc->device)) };
	mc->c.local_addr = modem_device_addr(mc->device);
	struct sockaddr_in remote = { .sin_family = AF_INET, .sin_port = htons(mc->target.port),
	                              .sin_addr.s_addr = htonl(mc->target.addr) };
	mc->state = ST_CONNECTING;
	mc->c.connect_ns = clock_mono_ns();
	if (bind(s, (struct sockaddr *)&local, sizeof(local)) < 0 ||
	    (connect(s, (struct sockaddr *)&remote, sizeof(remote)) < 0 && errno != EINPROGRESS)) {
		int e = errno;
		close(s);
		set_error(mc, ERR_CONNECT, "connect", e);
		finish(mc, 0);
		return;
	}
	loop_add(mc->m->epfd, &mc->srv, s, EPOLLOUT);
	update_events(mc);
}

struct modem_conn *modem_open(struct modem *m, const struct modem_open_args *a, enum dormant_err *err, char *detail,
                              size_t detail_len)
{
	struct tls_profile *tls = a->tls;
	struct modem_conn *mc = calloc(1, sizeof(*mc));
	if (mc && tls) {
		mc->tlsp = tls;
		mc->in = malloc(sizeof(*mc->in));
		mc->out = malloc(sizeof(*mc->out));
		if (!mc->in || !mc->out) {
			free(mc->in);
			free(mc->out);
			free(mc);
			mc = NULL;
		} else {
			mc->in->off = mc->in->len = mc->out->off = mc->out->len = 0;
		}
	}
	if (!mc) {
		*err = ERR_NOMEM;
		snprintf(detail, detail_len, "out of memory");
		return NULL;
	}
	mc->m = m;
	mc->lsn.fd = mc->cli.fd = mc->srv.fd = -1;
	mc->lsn.fn = on_lsn;
	mc->cli.fn = on_cli;
	mc->srv.fn = on_srv;
	mc->target = a->target;
	mc->device = a->device;
	mc->on_accept = a->on_accept;
	mc->on_done = a->on_done;
	mc->frame = a->frame;
	mc->direct = a->direct;
	mc->arg = a->arg;
	atomic_init(&mc->phase, PHASE_SETUP);
	mc->acct_phase = PHASE_TCP;
	if (a->direct) {
		mc->state = ST_LISTEN; /* until modem_conn_start() */
		return mc;
	}

	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 1) < 0) {
		*err = ERR_INTERNAL;
		snprintf(detail, detail_len, "modem endpoint: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		free(mc->in);
		free(mc->out);
		free(mc);
		return NULL;
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
	account(mc, 0, mc->up.data + mc->up.len, take, clock_mono_ns());
	mc->up.len += take;
	if (take < n)
		mc->lib_blocked = 1;
	if (!mc->in_cb && pump_up(mc) == 0) {
		update_events(mc);
		maybe_close(mc);
	}
	return take;
}

void modem_lib_close(struct modem_conn *mc)
{
	if (mc->state == ST_DONE || mc->state == ST_CLOSING || mc->lib_eof)
		return;
	mc->lib_eof = 1;
	mc->c.lib_eof_ns = clock_mono_ns();
	if (!mc->in_cb && pump_up(mc) == 0) {
		update_events(mc);
		maybe_close(mc);
	}
}

uint16_t modem_conn_port(const struct modem_conn *mc)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	if (mc->lsn.fd < 0 || getsockname(mc->lsn.fd, (struct sockaddr *)&sa, &len) < 0)
		return 0;
	return ntohs(sa.sin_port);
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

void modem_conn_free(struct modem_conn *mc)
{
	if (!mc)
		return;
	if (mc->state != ST_DONE)
		modem_conn_abort(mc, ERR_INTERNAL, "freed while open");
	free(mc->in);
	free(mc->out);
	free(mc);
}

void modem_tick(struct modem *m)
{
	uint64_t now = clock_mono_ns();
	struct modem_conn **pp = &m->closing;
	while (*pp) {
		struct modem_conn *mc = *pp;
		struct tcp_info ti;
		struct kernel_snap k;
		int closed = read_kernel(mc->srv.fd, &k, &ti) == 0 && ti.tcpi_state == TCPI_STATE_CLOSE;
		if (closed || now - mc->closing_since_ns > CLOSE_WAIT_NS) {
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
