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
 * socket is in TCP_CLOSE, or the figures wobble.
 *
 * A RST the server's kernel sends for a socket that no longer exists
 * carries no options: HDR_BARE_RST bytes, not 52. RabbitMQ closes with
 * linger 0, so its own RST (ACK+RST, from the live socket) has timestamps,
 * and that is what nearly every AMQP wake ends with (rst_in=1, 52 B: right
 * as charged). But when that RST crosses a segment of ours (the ACK our
 * recv() sends for its last TLS records, or our close_notify or FIN), our
 * segment finds no socket and is answered by a second, bare RST; both
 * reach our socket while a call of ours holds it, so TCP_INFO counts two
 * (2 of 99 AMQP TLS wakes on lo). The sign, looked for across each of our
 * calls from shutdown() on (TCP_INFO before and after; a few calls a wake):
 * the socket went to TCP_CLOSE within the call, and at least two segments
 * without payload came in that acknowledged nothing new (RSTs; an ACK of
 * our close_notify or FIN moves tcpi_bytes_acked). Then, the connection
 * being reset (rst_in), the last of them is charged 40 B. Two cases no
 * per-socket counter tells apart (2 of 950 AMQP TLS wakes on lo): the bare
 * RST arrives after RabbitMQ's has closed our socket, which no longer
 * exists to count it (ip_down 40 B and one segment short); or both arrive
 * outside any call of ours, or RabbitMQ's is lost, and the bare one is
 * charged 52 B (12 B over). What does record a bare RST is the namespace:
 * Tcp OutRsts counts every RST sent, a kernel's answer for a missing
 * socket included, and an abortive close (linger 0, or unread data) counts
 * TCPAbortOnData or TCPAbortOnClose beside its own RST. So a connection
 * during whose life OutRsts moved by more than those two is marked
 * ip_rst_unsure: like ip_lower_bound it never misses and, under
 * concurrency, over-marks its neighbours.
 *
 * Where the formula falls short, and how a row says so (ip_lower_bound):
 * when the server sends a segment twice (a tail loss probe, or a
 * retransmission whose original was not lost), the kernel counts the
 * duplicate in tcpi_segs_in (52 B of headers) but not its payload in
 * tcpi_bytes_received, and answers with an ACK carrying a DSACK block (12 B)
 * that no per-socket counter records. Linux 6.x keeps no per-socket trace
 * of a duplicate received (tcpi_dsack_dups counts DSACKs the *server* sent
 * us; tcpi_data_segs_in counts the duplicate like any segment). What does
 * record it is the namespace's TcpExt counters: every duplicate, whole or
 * partial, in order or not, passes through tcp_dsack_set(), which counts
 * TCPDSACKOldSent or TCPDSACKOfoSent, and a whole duplicate also counts
 * DelayedACKLost (with SACK off too). So a connection is marked when the sum
 * of those three moved between a reading taken before its connect() and
 * one taken after its last TCP_INFO. Under concurrency that marks the
 * connections beside the one that got the duplicate too: it never misses,
 * and over-marks. A second way to fall short, per socket: when one of our
 * segments is lost, the server's ACKs carry SACK blocks (12 B for one, 8
 * per further block) until our retransmission fills the hole; so a
 * connection that retransmitted anything but a SYN (tcpi_total_retrans
 * beyond the SYN retries) is marked too. Neither covers what comes after
 * TCP_CLOSE: when our last ACK is lost, the server sends its FIN again and
 * our socket's TIME_WAIT successor answers, two segments no TCP_INFO has
 * (seen under 3 % loss towards the server; an emulated link counts them). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/tcp.h> /* struct tcp_info with tcpi_bytes_sent & co; glibc's lacks them */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "layer.h"
#include "clock.h"
#include "linkemu.h"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

/* Header sizes on the wire (see the top of the file). */
enum {
	HDR_SEGMENT = 52,   /* IPv4 20 + TCP 20 + timestamps option 12 */
	HDR_SYN_EXTRA = 8,  /* SYN options are 20 bytes instead of 12 */
	HDR_DSACK = 12,     /* NOP NOP SACK(2 + 8): an ACK reporting one duplicate */
	HDR_BARE_RST = 40,  /* IPv4 20 + TCP 20: a RST from a kernel with no socket for the segment */
};

/* The kernel's TCP states (include/net/tcp_states.h); <linux/tcp.h> has no
 * names for them and <netinet/tcp.h> cannot be included beside it. */
enum { TCPS_ESTABLISHED = 1, TCPS_SYN_SENT = 2, TCPS_TIME_WAIT = 6, TCPS_CLOSE = 7, TCPS_CLOSE_WAIT = 8,
       TCPS_LAST_ACK = 9, TCPS_CLOSING = 11 };

struct tcp_layer {
	struct net_layer l;
	int fd;
	struct net_dup_watch *dups;
	uint64_t dups_at_open;                 /* the namespace's duplicate counters before connect() */
	uint64_t rsts_at_open, aborts_at_open; /* its RSTs sent and abortive closes, likewise */
	int dups_ok;
	uint32_t local_addr;
	uint16_t local_port;
	int established;
	uint32_t syn_retrans;                  /* SYNs sent again */
	uint64_t syn_extra_up, syn_extra_down; /* SYN options, fixed at the handshake */
	uint64_t sent, received;               /* stream bytes through send() / recv() */
	int fin_in, rst_in;
	int bare_rst;                          /* a second, option-less RST came with RabbitMQ's */
	int shut;                              /* our direction ended: watch each call for the crossing */
	struct tcp_info ti;                    /* the last reading */
	int ti_ok;
	uint16_t remote_port;
	struct linkemu *link;                  /* NULL: loopback, TCP_INFO counts */
	uint64_t settle_ns;
	struct net_wire ti_wire;               /* with a link: TCP_INFO's figures, the cross-check */
	struct linkemu_counts lc;              /* with a link: its last count of this connection */
};

static int read_info(struct tcp_layer *t)
{
	socklen_t len = sizeof(t->ti);
	memset(&t->ti, 0, sizeof(t->ti));
	t->ti_ok = getsockopt(t->fd, IPPROTO_TCP, TCP_INFO, &t->ti, &len) == 0;
	return t->ti_ok ? 0 : -1;
}

/* After one of our calls from shutdown() on: did a RST cross a segment of
 * ours within it (see the top of the file)? BEFORE is TCP_INFO from before
 * the call (the modem samples right before our last sends). */
static void check_crossing(struct tcp_layer *t, const struct tcp_info *before)
{
	if (t->bare_rst || before->tcpi_state == TCPS_CLOSE || read_info(t) < 0)
		return;
	const struct tcp_info *now = &t->ti;
	uint32_t pure_before = before->tcpi_segs_in - before->tcpi_data_segs_in;
	uint32_t pure_now = now->tcpi_segs_in - now->tcpi_data_segs_in;
	if (now->tcpi_state == TCPS_CLOSE && pure_now >= pure_before + 2 &&
	    now->tcpi_bytes_acked == before->tcpi_bytes_acked)
		t->bare_rst = 1;
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

/* ---- duplicates in the namespace (see the top of the file) ---- */

static const char *const dup_counters[3] = { "TCPDSACKOldSent", "TCPDSACKOfoSent", "DelayedACKLost" };

void net_dup_watch_init(struct net_dup_watch *w)
{
	memset(w, 0, sizeof(*w));
	w->fd = -1;
	w->snmp_fd = -1;
}

void net_dup_watch_close(struct net_dup_watch *w)
{
	if (w->fd >= 0)
		close(w->fd);
	if (w->snmp_fd >= 0)
		close(w->snmp_fd);
	w->fd = w->snmp_fd = -1;
	w->ok = 0;
}

/* In /proc/net/netstat and /proc/net/snmp a line "PREFIX: name name ..."
 * names the counters and the next line with the same prefix has their
 * values in the same order. Adds the values of NAMES[0..N) into SUM;
 * IDX caches their positions (0: not found yet). Returns 0, or -1 if one is
 * missing. */
static int counters_sum(const char *text, const char *prefix, const char *const *names, int n, int *idx,
                        uint64_t *sum)
{
	size_t plen = strlen(prefix);
	const char *head = strstr(text, prefix);
	const char *vals = head ? strstr(head + plen, prefix) : NULL;
	if (!vals)
		return -1;
	if (!idx[0]) {
		int i = 0;
		for (const char *p = head + plen; *p && *p != '\n'; i++) {
			while (*p == ' ')
				p++;
			size_t len = strcspn(p, " \n");
			for (int k = 0; k < n; k++)
				if (len == strlen(names[k]) && !strncmp(p, names[k], len))
					idx[k] = i + 1;
			p += len;
		}
		for (int k = 0; k < n; k++)
			if (!idx[k])
				return -1;
	}
	uint64_t s = 0;
	int found = 0;
	const char *p = vals + plen;
	for (int i = 1; *p && *p != '\n'; i++) {
		char *end;
		unsigned long long v = strtoull(p, &end, 10);
		if (end == p)
			break;
		for (int k = 0; k < n; k++)
			if (idx[k] == i) {
				s += v;
				found++;
			}
		p = end;
	}
	if (found != n)
		return -1;
	*sum = s;
	return 0;
}

/* The whole of a /proc file through FD (opened as PATH on first use) into
 * BUF. Returns 0, or -1. */
static int proc_read(int *fd, const char *path, char *buf, size_t size)
{
	if (*fd < 0)
		*fd = open(path, O_RDONLY | O_CLOEXEC);
	if (*fd < 0)
		return -1;
	size_t len = 0;
	for (;;) {
		ssize_t n = pread(*fd, buf + len, size - 1 - len, (off_t)len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		if (len == size - 1)
			break;
	}
	buf[len] = 0;
	return len ? 0 : -1;
}

static const char *const rst_counters[1] = { "OutRsts" };
static const char *const abort_counters[2] = { "TCPAbortOnData", "TCPAbortOnClose" };

/* A fresh reading into W; -1 (and W->ok 0) if there is none. */
static int dup_read(struct net_dup_watch *w)
{
	char buf[8192];
	w->ok = 0;
	uint64_t dups, rsts, aborts;
	if (proc_read(&w->fd, "/proc/net/netstat", buf, sizeof(buf)) < 0 ||
	    counters_sum(buf, "TcpExt:", dup_counters, 3, w->idx, &dups) < 0 ||
	    counters_sum(buf, "TcpExt:", abort_counters, 2, w->abort_idx, &aborts) < 0 ||
	    proc_read(&w->snmp_fd, "/proc/net/snmp", buf, sizeof(buf)) < 0 ||
	    counters_sum(buf, "Tcp:", rst_counters, 1, w->rst_idx, &rsts) < 0)
		return -1;
	w->last = dups;
	w->rsts = rsts;
	w->aborts = aborts;
	w->ok = 1;
	return 0;
}

int net_tcp_socket(struct linkemu *link, uint32_t local_addr)
{
	int one = 1;
	if (link) {
		/* made in the devices' namespace, bound, its MSS fitted to the link's MTU */
		int s = linkemu_socket(link, local_addr, SOCK_STREAM | SOCK_NONBLOCK);
		if (s >= 0)
			setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		return s;
	}
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
	/* Any reading older than connect() will do as the start (the counters
	 * only grow): the last one, which the previous connection took at its end. */
	t->dups = a->dups;
	if (t->dups && (t->dups->ok || dup_read(t->dups) == 0)) {
		t->dups_at_open = t->dups->last;
		t->rsts_at_open = t->dups->rsts;
		t->aborts_at_open = t->dups->aborts;
		t->dups_ok = 1;
	}
	t->link = a->link;
	t->settle_ns = a->settle_ns;
	t->remote_port = a->remote_port;
	t->fd = net_tcp_socket(a->link, a->local_addr);
	if (t->fd < 0) {
		io_fail(io, ERR_CONNECT, "socket", errno, 1);
		free(t);
		return NULL;
	}
	if (a->user_timeout_ms) {
		unsigned int ut = a->user_timeout_ms;
		setsockopt(t->fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &ut, sizeof(ut));
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
	t->syn_retrans = t->ti.tcpi_total_retrans;
	t->syn_extra_up = HDR_SYN_EXTRA * (1ull + t->syn_retrans);
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
		struct tcp_info before = t->ti; /* after shutdown(), t->ti is from the end of our last call */
		ssize_t r = recv(t->fd, p, n, 0);
		if (t->shut && t->ti_ok && !t->bare_rst)
			check_crossing(t, &before);
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
	struct tcp_layer *t = (struct tcp_layer *)l;
	struct tcp_info before = t->ti;
	shutdown(t->fd, SHUT_WR);
	t->shut = 1;
	if (t->ti_ok && t->established)
		check_crossing(t, &before);
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

/* With a link, the wire figures are its count of every packet of the
 * connection (linkemu.h, "Counting": up, what the radio sent, lost ones
 * included; down, what reached the device), exact whatever the loss,
 * retransmissions, RSTs or SYN retries; TCP_INFO's formula is kept as the
 * cross-check. The figures are final once TCP is closed and no reply to
 * the last packet can still be on its way. */
static void link_counts(struct tcp_layer *t, struct net_wire *w)
{
	t->ti_wire = *w;
	if (linkemu_conn_counts(t->link, t->local_addr, t->local_port, t->remote_port, &t->lc) < 0)
		memset(&t->lc, 0, sizeof(t->lc));
	w->ip_up = t->lc.up.bytes;
	w->segs_up = t->lc.up.packets;
	w->ip_down = t->lc.down.bytes;
	w->segs_down = t->lc.down.packets;
	w->closed = w->closed && clock_mono_ns() > t->lc.last_ns + t->settle_ns;
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
	if (t->bare_rst && t->rst_in)
		w->ip_down -= HDR_SEGMENT - HDR_BARE_RST;
	w->closed = st == TCPS_CLOSE;
	if (t->link)
		link_counts(t, w);
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
	/* After the last TCP_INFO (report follows the final counts): without
	 * both readings nothing says the figures are exact. */
	int resent = t->ti_ok && t->ti.tcpi_total_retrans > t->syn_retrans;
	if (t->link) {
		/* the link counted every packet: nothing to mark */
		c->link_on = 1;
		c->ti_ip_up = t->ti_wire.ip_up;
		c->ti_ip_down = t->ti_wire.ip_down;
		c->ti_segs_up = t->ti_wire.segs_up;
		c->ti_segs_down = t->ti_wire.segs_down;
		c->link_lost_up = t->lc.up.lost;
		c->link_lost_down = t->lc.down.lost;
		c->ip_lower_bound = c->ip_rst_unsure = 0;
		linkemu_conn_forget(t->link, t->local_addr, t->local_port, t->remote_port);
		return;
	}
	int seen = t->dups_ok && t->dups && dup_read(t->dups) == 0;
	c->ip_lower_bound = resent || !seen || t->dups->last != t->dups_at_open;
	/* a bare RST sent in the namespace: more RSTs than abortive closes */
	c->ip_rst_unsure = !seen || t->dups->rsts - t->rsts_at_open > t->dups->aborts - t->aborts_at_open;
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
