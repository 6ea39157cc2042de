/* modem.h: the device's network interface.
 *
 * Like a cellular module that terminates the connection for its
 * microcontroller, the modem owns the real TCP socket to the server and the
 * protocol library talks to it through a private local endpoint. That is
 * the one place where dormant measures the wire: plaintext bytes per phase
 * and direction, stream bytes, kernel TCP_INFO figures (bytes, segments),
 * IP-level bytes derived from them, and CLOCK_MONOTONIC timestamps at the
 * socket, so library time and wire time can be told apart.
 *
 * One struct modem_conn serves one wake: modem_open() binds a listening
 * socket on 127.0.0.1 with a kernel-chosen port; the library connects to it;
 * on accept the modem builds the connection's layer stack (layer.h: TCP
 * from the device's own source address, DEVICE_NET + device + 1, see
 * modem_device_addr; then TLS if the variant has it), brings it up, relays
 * bytes both ways, and when the library closes it ends its direction,
 * drains the server to EOF, waits for the socket to reach TCP_CLOSE and
 * takes the wire figures once more. Then it calls the done callback
 * (engine thread).
 *
 * The wire figures (IP bytes and segments each way) come from the bottom
 * layer's counts provider: TCP_INFO and the IP-byte formula documented,
 * with its constants, at the top of tcp.c. Stream bytes are the TCP
 * payload each way, plaintext bytes what the library wrote and read; all
 * are charged to the phase of the plaintext they carried.
 *
 * Threads: everything runs on the engine thread except modem_set_phase(),
 * which the library's own threads may call at any time.
 *
 * Ownership: modem_create/modem_destroy; modem_open returns a conn the
 * engine always frees with modem_conn_free(), after the done callback ran
 * (or without waiting, after modem_conn_abort()).
 */
#ifndef DORMANT_MODEM_H
#define DORMANT_MODEM_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "phase.h"
#include "tls.h"

#define MODEM_DEVICE_NET 0x7f500000u /* 127.80.0.0: device d has 127.80.0.0 + d + 1 */
#define MODEM_DEVICE_NET_CIDR "127.80.0.0/14"


struct phase_counts {
	uint64_t plain_up, plain_down;   /* what the protocol stack wrote / read */
	uint64_t stream_up, stream_down; /* TCP stream bytes (= plaintext without TLS) */
	uint64_t ip_up, ip_down;         /* with headers, from TCP_INFO deltas */
	uint64_t segs_up, segs_down;
	uint32_t frames_up;              /* protocol packets the device sent in the phase (0 without a framer) */
	uint64_t first_up_ns;            /* first byte of the phase from the library; 0 if none */
	uint64_t last_up_ns, last_down_ns;
};

struct modem_counts {
	struct phase_counts ph[PHASE_COUNT];
	uint64_t plain_up, plain_down, stream_up, stream_down;
	uint64_t ip_up, ip_down, segs_up, segs_down;
	uint32_t retrans;                /* tcpi_total_retrans */
	uint32_t dsack_in;               /* tcpi_dsack_dups: server ACKs that carried a DSACK block */
	int fin_in;                      /* server sent FIN */
	int rst_in;                      /* connection was reset */
	int tcp_info_ok;                 /* final TCP_INFO was read in TCP_CLOSE */
	int ip_lower_bound;              /* ip_* may fall short of the wire (a duplicate from the server, its SACK
	                                  * blocks after our loss): never missed, may over-mark; see tcp.c */
	int ip_rst_unsure;               /* ip_down may be one bare RST off (40 B short or 12 B over); likewise */
	int link_on;                     /* through an emulated link: ip_ and segs_ are its counts, exact */
	uint64_t ti_ip_up, ti_ip_down, ti_segs_up, ti_segs_down; /* with a link: TCP_INFO's, the cross-check */
	uint64_t link_lost_up, link_lost_down; /* with a link: packets lost on the air each way */
	uint32_t frames_up, frames_down; /* protocol packets the framer found each way (0 without a framer) */
	uint64_t accept_ns;              /* library connected to the modem */
	uint64_t connect_ns;             /* connect() to the server issued */
	uint64_t established_ns;         /* TCP handshake complete */
	uint64_t ready_ns;               /* the library's bytes can flow: TCP (and TLS) up */
	uint64_t lib_eof_ns;             /* library closed its side */
	uint64_t server_eof_ns;          /* server's FIN (or error) read */
	uint64_t closed_ns;              /* final accounting done */
	uint64_t wire_done_ns;           /* both directions closed on the wire (behind a link the figures are
	                                  * final a settle time later, which is no part of the wake) */
	struct tls_stats tls;            /* .used = 0 without TLS */
	uint32_t local_addr;             /* device source address, host order */
	uint16_t local_port;
	uint16_t server_port;            /* with local_addr/local_port: the connection's 4-tuple */
	enum dormant_err err;            /* ERR_OK, or what broke the connection */
	char detail[128];
};

struct modem;
struct modem_conn;

struct modem_target {
	uint32_t addr;   /* server IPv4, host order */
	uint16_t port;
};

typedef void (*modem_cb)(struct modem_conn *mc, void *arg);

/* The protocols' framers: modem_frame_fn in phase.h. */

struct modem *modem_create(int epfd);
void modem_destroy(struct modem *m);

/* A library that runs on the engine thread over any byte stream (proton's
 * connection driver) talks to the modem directly, with no socket of its
 * own: the modem hands it the server's plaintext through DELIVER (which
 * returns how much it took; the rest is offered again; it is also called
 * with no bytes when the modem has room again after a short
 * modem_lib_write) and says through
 * CLOSED that the server is done or the connection failed. The library
 * writes with modem_lib_write() and ends with modem_lib_close(). */
struct modem_lib {
	size_t (*deliver)(void *arg, const unsigned char *p, size_t n);
	void (*closed)(void *arg);
};

/* A recorder of the library's exchange (clients/replay.h): UP, the
 * library's bytes as the modem sends them, one call per write down the
 * stack (one TLS record each); DOWN, the server's plaintext as the modem hands it to the library;
 * LIB_EOF, the library closed its side. Engine thread, in the order the
 * modem saw them. */
enum modem_tap_event { MODEM_TAP_UP, MODEM_TAP_DOWN, MODEM_TAP_LIB_EOF };
typedef void (*modem_tap_fn)(void *arg, enum modem_tap_event ev, const unsigned char *p, size_t n);

/* What one wake's connection is: who, to where, over what, told how. */
struct modem_open_args {
	struct modem_target target;   /* the server */
	uint32_t device;              /* the device's index: its source address and TLS session */
	struct tls_profile *tls;      /* NULL: plaintext; else must outlive the conn */
	modem_frame_fn frame;         /* NULL: bytes go to the phase last set with modem_set_phase */
	const struct modem_lib *direct; /* NULL: the library connects to modem_conn_port() */
	modem_cb on_accept;           /* may be NULL: the library connected */
	modem_cb on_done;             /* the connection is fully accounted */
	void *arg;                    /* passed to the callbacks and to DIRECT */
	/* 0: the kernel's default. Else TCP_USER_TIMEOUT on the device's socket:
	 * data unacknowledged this long ends the connection (connection:
	 * persistent, for a library that cannot notice a dead one itself). */
	uint32_t user_timeout_ms;
	/* 1: once this connection has ended, its local endpoint may serve
	 * another (a pool of listeners, five system calls a wake fewer). Only
	 * for a connection whose library keeps nothing by host and port after
	 * it: a per-wake one. A kept connection's endpoint is never reused,
	 * since curl's cache would hand a later device's request to the old,
	 * dead connection of that port. */
	int reuse_endpoint;
	modem_tap_fn tap;             /* NULL: nothing records the exchange */
	void *tap_arg;
};

/* Opens a per-wake endpoint as A says (copied: A need not outlive the
 * call). Returns NULL with *ERR and DETAIL set on failure. */
struct modem_conn *modem_open(struct modem *m, const struct modem_open_args *a, enum dormant_err *err, char *detail,
                              size_t detail_len);
/* With TLS: end with a close_notify when the library closes (default: TCP FIN only). */
void modem_conn_set_close_notify(struct modem_conn *mc, int on);
/* Direct libraries: connect to the server now (a socket library's connect does it for the others). */
void modem_conn_start(struct modem_conn *mc);
/* Direct libraries: bytes to the server; returns how many were taken (the rest: try again after DELIVER). */
size_t modem_lib_write(struct modem_conn *mc, const unsigned char *p, size_t n);
void modem_lib_close(struct modem_conn *mc);
/* Direct libraries: what is written next goes down the stack in a write of
 * its own, not joined to bytes still waiting (a replay keeps the library's
 * pieces apart, as the modem's separate reads of a socket library's bytes). */
void modem_lib_apart(struct modem_conn *mc);
/* Local port the library must connect to (on 127.0.0.1). */
uint16_t modem_conn_port(const struct modem_conn *mc);
/* Thread-safe: bytes the library writes from now on belong to phase P. */
void modem_set_phase(struct modem_conn *mc, enum phase p);
/* Closes every socket at once (timeout, interrupt); counts what it has. ON_DONE is not called. */
void modem_conn_abort(struct modem_conn *mc, enum dormant_err err, const char *why);
const struct modem_counts *modem_conn_counts(const struct modem_conn *mc);
/* connection: persistent. A connection outlives the wakes that use it, so
 * each wake (and each sleep between them) takes its own share: the figures
 * since the previous cut (or the connection's start) go into OUT, totals
 * summed and the 4-tuple filled, and counting starts anew from here (the
 * wire is sampled now). Works on a live connection and, once, on a finished
 * one (what it counted since the last cut, its final figures included).
 * Live: no TLS statistics (they are reported when the connection ends). */
void modem_conn_cut(struct modem_conn *mc, struct modem_counts *out);
/* Whether the connection still relays (connected, neither side closed nor failed). */
int modem_conn_alive(const struct modem_conn *mc);
void modem_conn_free(struct modem_conn *mc);

/* Conns waiting for TCP_CLOSE are polled: call modem_tick() whenever the
 * loop wakes; modem_timeout_ms() says how soon it wants to be called
 * again (-1: no wish). */
void modem_tick(struct modem *m);
int modem_timeout_ms(const struct modem *m);

uint32_t modem_device_addr(const struct modem *m, uint32_t device);
/* From now on, devices reach the servers through LINK (linkemu.h; NULL:
 * loopback again): sockets in its namespace, addresses in 198.18.0.0/16,
 * the wire figures its counts. SETTLE_MS: the longest a reply to a
 * connection's last packet can take to arrive (two one-way delays and air
 * time); a connection's figures are final only after it. */
struct linkemu;
void modem_set_link(struct modem *m, struct linkemu *link, double settle_ms);
/* The settle time modem_set_link() was given, in ns (0 without a link). */
uint64_t modem_settle_ns(const struct modem *m);

#endif
