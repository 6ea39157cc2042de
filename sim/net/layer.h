/* layer.h: the network seam under the modem.
 *
 * Between the device's interface (sim/net/modem.c: local endpoint, relay,
 * phase framing, per-wake accounting) and the server sits a small stack of
 * layers, each behind this one table, chosen once per connection when it
 * starts (as wrk swaps its struct sock for TLS at start-up):
 *
 *   modem ── [TLS (tls.c)] ── TCP (tcp.c) ── kernel socket ── server
 *
 * The modem only ever talks to the top layer, and asks the bottom one for
 * the wire figures; it never knows which layers there are. A layer talks
 * only to the one below it (->below). Adding one (a link, a proxy) means a
 * new file filling this table and one line where the stack is built
 * (modem.c, build_stack); the relay and the framers do not change.
 *
 * Stream accounting: every call that moves bytes says in *IO how many bytes
 * of the TCP stream it produced (io->up) or consumed (io->down) for them,
 * so the modem charges ciphertext to the phase of the plaintext it
 * carried. TCP's are its own bytes; TLS reports the records it wrote and
 * the ciphertext mbedTLS took from its input buffer. Bytes a layer read
 * from the socket but never handed on (a record after the device's close)
 * are still in the bottom layer's stream_down: the modem charges the
 * difference to the teardown phase, so stream bytes always equal the TCP
 * payload on the wire.
 *
 * All calls run on the engine thread. Return codes: NET_DONE (> 0) or a
 * byte count, NET_AGAIN (0: wait for the socket), NET_EOF, NET_FAIL (the
 * reason in io->err and io->detail).
 */
#ifndef DORMANT_NET_LAYER_H
#define DORMANT_NET_LAYER_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "modem.h"

enum { NET_DONE = 1, NET_AGAIN = 0, NET_FAIL = -1, NET_EOF = -2 };

struct net_io {
	uint64_t up, down;          /* TCP-stream bytes this call produced / consumed */
	enum dormant_err err;       /* NET_FAIL: what broke */
	int fatal;                  /* NET_FAIL: the connection is unusable (else: stop sending, keep reading) */
	int closed;                 /* read: the socket is at its end (FIN or failure); nothing more will come */
	char detail[128];
};

/* What the wire carried since connect(), cumulative. A counts provider fills
 * it: by default the TCP layer from TCP_INFO and its IP-byte formula (see
 * tcp.c); an emulated link that sees every packet can count instead. */
struct net_wire {
	uint64_t stream_up, stream_down; /* TCP payload sent / taken from the socket */
	uint64_t ip_up, ip_down;         /* with IP and TCP headers */
	uint64_t segs_up, segs_down;
	int closed;                      /* the connection reached TCP_CLOSE: the figures no longer move */
};

struct net_layer;

struct net_layer_ops {
	const char *name;
	/* Brings this layer up (the ones below are up): NET_DONE, NET_AGAIN, NET_FAIL. */
	int (*connect)(struct net_layer *l, struct net_io *io);
	/* Plaintext in: bytes taken (> 0), NET_AGAIN, NET_FAIL. */
	long (*write)(struct net_layer *l, const unsigned char *p, size_t n, struct net_io *io);
	/* Plaintext out: bytes (> 0), NET_AGAIN, NET_EOF (no more plaintext), NET_FAIL.
	 * After NET_EOF the modem keeps calling read() until io->closed, so
	 * that what the server still sends (a TLS record after close_notify)
	 * is read off the socket and counted. */
	long (*read)(struct net_layer *l, unsigned char *p, size_t n, struct net_io *io);
	/* Ends our direction (TLS: close_notify if asked for; TCP: FIN), once
	 * what is buffered is out: NET_DONE, NET_AGAIN, NET_FAIL. */
	int (*shutdown)(struct net_layer *l, struct net_io *io);
	/* Pushes buffered bytes down: NET_DONE (nothing left), NET_AGAIN, NET_FAIL. */
	int (*flush)(struct net_layer *l, struct net_io *io);
	/* Bytes waiting for the layer below (the socket wants EPOLLOUT); bytes
	 * readable without the socket (read() should be called again). */
	size_t (*pending)(const struct net_layer *l);
	size_t (*buffered)(const struct net_layer *l);
	/* Counts provider (bottom layer; NULL elsewhere): 0, or -1 if unreadable. */
	int (*counts)(struct net_layer *l, struct net_wire *w);
	/* Adds this layer's own facts to the wake's row (TCP: retransmissions,
	 * FIN, RST, port; TLS: the handshake's evidence). */
	void (*report)(struct net_layer *l, struct modem_counts *c);
	/* Frees the layer (not the one below); closes what it owns. */
	void (*close)(struct net_layer *l);
};

struct net_layer {
	const struct net_layer_ops *ops;
	struct net_layer *below;    /* NULL: the bottom layer, which owns the socket */
	enum phase phase;           /* the phase its set-up (connect) is charged to */
};

/* ---- the TCP layer (tcp.c) ---- */

/* Evidence, for the network namespace the sockets live in, that a segment
 * reached one of them twice: TCP_INFO counts such a duplicate in
 * tcpi_segs_in but not its bytes, and the DSACK we answer with in no
 * per-socket counter, so the IP figures of a connection that got one are a
 * lower bound. Read from /proc/net/netstat (tcp.c); one per namespace,
 * owned by whoever owns the sockets (the modem), -1 fd until first use. */
struct net_dup_watch {
	int fd, snmp_fd;            /* /proc/net/netstat, /proc/net/snmp */
	uint64_t last;              /* the last reading: duplicates */
	uint64_t rsts, aborts;      /* RSTs sent (Tcp OutRsts), abortive closes (see tcp.c: ip_rst_unsure) */
	int ok;                     /* the readings are valid */
	int idx[3];                 /* positions of the counters in the TcpExt line; 0: not found yet */
	int abort_idx[2], rst_idx[1];
};
void net_dup_watch_init(struct net_dup_watch *w);
void net_dup_watch_close(struct net_dup_watch *w);

struct linkemu;

struct net_tcp_args {
	uint32_t local_addr;        /* source address, host order (the device's own) */
	uint32_t remote_addr;       /* host order */
	uint16_t remote_port;
	struct net_dup_watch *dups; /* the namespace's; must outlive the layer */
	/* An emulated link (linkemu.h), or NULL for loopback. With one, the
	 * socket is made in the devices' namespace and the wire figures are the
	 * link's count of every packet; TCP_INFO's become the cross-check.
	 * SETTLE_NS: how long after the connection's last packet a reply to it
	 * may still be on its way (two one-way delays and air time), so the
	 * figures count as final only after it. */
	struct linkemu *link;
	uint64_t settle_ns;
	uint32_t user_timeout_ms;   /* 0, or TCP_USER_TIMEOUT (modem_open_args) */
};

/* The one function that creates a device's socket: non-blocking, TCP_NODELAY,
 * bound to LOCAL_ADDR with the port left to connect(); with LINK, inside
 * the devices' namespace (a socket belongs to the namespace it was made
 * in), and nothing else changes. Returns the fd, or -1 with errno set. */
int net_tcp_socket(struct linkemu *link, uint32_t local_addr);

/* Creates the socket and starts a non-blocking connect. NULL with IO's
 * err and detail set on failure. */
struct net_layer *net_tcp_open(const struct net_tcp_args *a, struct net_io *io);
int net_tcp_fd(const struct net_layer *l);

#endif
