/* tcp.c: the bottom layer of the network seam: the device's real socket,
 * and the wire figures of its connection from TCP_INFO.
 *
 * IP-level bytes, from TCP_INFO (IPv4, Linux defaults; verified against
 * captures on lo, and every capture test checks them wake by wake through
 * check_bytes_equal_capture in tests/it/itlib.py):
 *   every segment but the SYN carries 20 (IP) + 20 (TCP) + 12 (timestamps
 *   option) = HDR_SEGMENT bytes of headers; SYN and SYN-ACK carry 20 option
 *   bytes (MSS, SACK_PERM, timestamps, NOP, window scale), HDR_SYN_EXTRA more.
 *     ip_up   = bytes_sent + 52 * segs_out + 8 * (1 + SYNs sent again)
 *     ip_down = bytes_received - fin_in + 52 * segs_in + 8 * SYN-ACKs
 *               + 12 * dsack_dups
 *   where fin_in is 1 once the server's FIN arrived (the kernel counts it in
 *   tcpi_bytes_received; tcpi_bytes_acked is not used: it counts SYN and
 *   FIN). SYNs sent again are tcpi_total_retrans when the handshake
 *   completes (nothing else was sent yet), SYN-ACKs every segment received
 *   by then. When a segment of ours reached the server twice, its ACK
 *   carries a DSACK block, HDR_DSACK option bytes more, one per
 *   tcpi_dsack_dups.
 * TCP_INFO is read after shutdown(SHUT_WR) and draining to EOF, once the
 * socket is in TCP_CLOSE, or the figures wobble. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/tcp.h> /* struct tcp_info with tcpi_bytes_sent & co; glibc's lacks them */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "layer.h"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

/* Header sizes on the wire (see the top of the file). */
enum {
	HDR_SEGMENT = 52,   /* IPv4 20 + TCP 20 + timestamps option 12 */
	HDR_SYN_EXTRA = 8,  /* SYN options are 20 bytes instead of 12 */
	HDR_DSACK = 12,     /* NOP NOP SACK(2 + 8): an ACK reporting one duplicate */
};

/* The kernel's TCP states (include/net/tcp_states.h); <linux/tcp.h> has no
 * names for them and <netinet/tcp.h> cannot be included beside it. */
enum { TCPS_ESTABLISHED = 1, TCPS_SYN_SENT = 2, TCPS_TIME_WAIT = 6, TCPS_CLOSE = 7, TCPS_CLOSE_WAIT = 8,
       TCPS_LAST_ACK = 9, TCPS_CLOSING = 11 };

struct tcp_layer {
	struct net_layer l;
	int fd;
	uint32_t local_addr;
	uint16_t local_port;
	int established;
	uint64_t syn_extra_up, syn_extra_down; /* SYN options, fixed at the handshake */
	uint64_t sent, received;               /* stream bytes through send() / recv() */
	int fin_in, rst_in;
	struct tcp_info ti;                    /* the last reading */
	int ti_ok;
};

static int read_info(struct tcp_layer *t)
{
	socklen_t len = sizeof(t->ti);
	memset(&t->ti, 0, sizeof(t->ti));
	t->ti_ok = getsockopt(t->fd, IPPROTO_TCP, TCP_INFO, &t->ti, &len) == 0;
	return t->ti_ok ? 0 : -1;
}

static void io_fail(struct net_io *io, enum dormant_err e, const char *what, int errnum, int fatal)
{
	io->err = e;
	io->fatal = fatal;
	if (errnum)
		snprintf(io->detail, sizeof(io->detail), "%s: %s", what, strerror(errnum));
	else
		snprintf(io->detail, sizeof(io->detail), "%s", what);
}

int net_tcp_socket(uint32_t local_addr)
{
	int one = 1;
	int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -1;
	setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* Each device is its own host: bind its source address, let connect()
	 * pick the port (no TIME_WAIT port hunting on one shared address). */
	setsockopt(s, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
	struct sockaddr_in local = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(local_addr) };
	if (bind(s, (struct sockaddr *)&local, sizeof(local)) < 0) {
		int e = errno;
		close(s);
		errno = e;
		return -1;
	}
	return s;
}

static const struct net_layer_ops tcp_ops;

struct net_layer *net_tcp_open(const struct net_tcp_args *a, struct net_io *io)
{
	struct tcp_layer *t = calloc(1, sizeof(*t));
	if (!t) {
		io_fail(io, ERR_NOMEM, "out of memory", 0, 1);
		return NULL;
	}
	t->l.ops = &tcp_ops;
	t->l.phase = PHASE_TCP;
	t->local_addr = a->local_addr;
	t->fd = net_tcp_socket(a->local_addr);
	if (t->fd < 0) {
		io_fail(io, ERR_CONNECT, "socket", errno, 1);
		free(t);
		return NULL;
	}
	struct sockaddr_in remote = { .sin_family = AF_INET, .sin_port = htons(a->remote_port),
	                              .sin_addr.s_addr = htonl(a->remote_addr) };
	if (connect(t->fd, (struct sockaddr *)&remote, sizeof(remote)) < 0 && errno != EINPROGRESS) {
		io_fail(io, ERR_CONNECT, "connect", errno, 1);
		close(t->fd);
		free(t);
		return NULL;
	}
	return &t->l;
}

int net_tcp_fd(const struct net_layer *l)
{
	return ((const struct tcp_layer *)l)->fd;
}

/* Done once the kernel says ESTABLISHED (or later: the server may have
 * closed already); the SYN options are fixed here. */
static int tcp_connect(struct net_layer *l, struct net_io *io)
{
	struct tcp_layer *t = (struct tcp_layer *)l;
	int soerr = 0;
	socklen_t sl = sizeof(soerr);
	getsockopt(t->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
	if (soerr) {
		io_fail(io, ERR_CONNECT, "connect", soerr, 1);
		return NET_FAIL;
	}
	if (read_info(t) < 0) {
		io_fail(io, ERR_CONNECT, "connect: TCP_INFO", errno, 1);
		return NET_FAIL;
	}
	if (t->ti.tcpi_state == TCPS_SYN_SENT)
		return NET_AGAIN;
	if (t->ti.tcpi_state == TCPS_CLOSE) {
		io_fail(io, ERR_CONNECT, "connect", ECONNREFUSED, 1);
		return NET_FAIL;
	}
	t->established = 1;
	/* Every retransmission so far was a SYN (nothing else has been sent),
	 * and every segment received so far a SYN-ACK. */
	t->syn_extra_up = HDR_SYN_EXTRA * (1ull + t->ti.tcpi_total_retrans);
	t->syn_extra_down = HDR_SYN_EXTRA * (t->ti.tcpi_segs_in > 1 ? (uint64_t)t->ti.tcpi_segs_in : 1);
	struct sockaddr_in sa;
	socklen_t sal = sizeof(sa);
	if (getsockname(t->fd, (struct sockaddr *)&sa, &sal) == 0)
		t->local_port = ntohs(sa.sin_port);
	return NET_DONE;
}

static long tcp_write(struct net_layer *l, const unsigned char *p, size_t n, struct net_io *io)
{
	struct tcp_layer *t = (struct tcp_layer *)l;
	for (;;) {
		ssize_t w = send(t->fd, p, n, MSG_NOSIGNAL);
		if (w >= 0) {
			t->sent += (uint64_t)w;
			io->up += (uint64_t)w;
			return w;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN)
			return NET_AGAIN;
		io_fail(io, errno == ECONNRESET || errno == EPIPE ? ERR_RESET : ERR_CLOSED, "send to server", errno, 0);
		return NET_FAIL;
	}
}

static long tcp_read(struct net_layer *l, unsigned char *p, size_t n, struct net_io *io)
{
	struct tcp_layer *t = (struct tcp_layer *)l;
	for (;;) {
		ssize_t r = recv(t->fd, p, n, 0);
		if (r > 0) {
			t->received += (uint64_t)r;
			io->down += (uint64_t)r;
			return r;
		}
		if (r == 0) {
			t->fin_in = 1;
			io->closed = 1;
			return NET_EOF;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN)
			return NET_AGAIN;
		t->rst_in = errno == ECONNRESET;
		io->closed = 1;
		io_fail(io, errno == ECONNRESET ? ERR_RESET : ERR_CLOSED, "recv from server", errno, 0);
		return NET_FAIL;
	}
}

static int tcp_shutdown(struct net_layer *l, struct net_io *io)
{
	shutdown(((struct tcp_layer *)l)->fd, SHUT_WR);
	return NET_DONE;
}

static int tcp_flush(struct net_layer *l, struct net_io *io)
{
	return NET_DONE;
}

static size_t tcp_nothing(const struct net_layer *l)
{
	return 0;
}

/* The counts provider: TCP_INFO through the formula at the top. */
static int tcp_counts(struct net_layer *l, struct net_wire *w)
{
	struct tcp_layer *t = (struct tcp_layer *)l;
	memset(w, 0, sizeof(*w));
	w->stream_up = t->sent;
	w->stream_down = t->received;
	if (!t->established || read_info(t) < 0)
		return -1;
	const struct tcp_info *ti = &t->ti;
	uint8_t st = ti->tcpi_state;
	/* The FIN is in bytes_received as soon as the kernel has it, which may
	 * be before recv() says EOF; these states come only after it. */
	int fin = t->fin_in || st == TCPS_CLOSE_WAIT || st == TCPS_LAST_ACK || st == TCPS_CLOSING ||
	          st == TCPS_TIME_WAIT;
	uint64_t rcvd = ti->tcpi_bytes_received;
	if (fin && rcvd > 0)
		rcvd--;
	w->segs_up = ti->tcpi_segs_out;
	w->segs_down = ti->tcpi_segs_in;
	w->ip_up = ti->tcpi_bytes_sent + HDR_SEGMENT * w->segs_up + t->syn_extra_up;
	w->ip_down = rcvd + HDR_SEGMENT * w->segs_down + t->syn_extra_down + HDR_DSACK * (uint64_t)ti->tcpi_dsack_dups;
	w->closed = st == TCPS_CLOSE;
	return 0;
}

static void tcp_report(struct net_layer *l, struct modem_counts *c)
{
	struct tcp_layer *t = (struct tcp_layer *)l;
	c->local_addr = t->local_addr;
	c->local_port = t->local_port;
	c->fin_in = t->fin_in;
	c->rst_in = t->rst_in;
	if (t->ti_ok) {
		c->retrans = t->ti.tcpi_total_retrans;
		c->dsack_in = t->ti.tcpi_dsack_dups;
	}
}

static void tcp_close(struct net_layer *l)
{
	struct tcp_layer *t = (struct tcp_layer *)l;
	if (t->fd >= 0)
		close(t->fd);
	free(t);
}

static const struct net_layer_ops tcp_ops = {
	.name = "tcp",
	.connect = tcp_connect,
	.write = tcp_write,
	.read = tcp_read,
	.shutdown = tcp_shutdown,
	.flush = tcp_flush,
	.pending = tcp_nothing,
	.buffered = tcp_nothing,
	.counts = tcp_counts,
	.report = tcp_report,
	.close = tcp_close,
};
