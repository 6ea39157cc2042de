/* linkemu.h: the packet-level radio link emulator (shared/DESIGN.md, "Links").
 *
 * Topology. linkemu_open() creates a private network namespace for the
 * devices, named dormant-<pid> and bind-mounted at /run/netns/dormant-<pid>
 * (so `ip netns list` shows it and `ip netns exec` can capture in it), and
 * two TUN devices (IFF_TUN | IFF_NO_PI, not persistent):
 *   - "radio0" inside the namespace. Every device address 198.18.x.y is
 *     local there (route: local 198.18.0.0/16 dev lo, table local), and
 *     198.19.0.0/16 is routed via radio0;
 *   - "dormant<pid>" in the caller's (root) namespace, carrying the server
 *     address 198.19.0.1/32, with 198.18.0.0/16 routed via it.
 * Both TUNs have IPv6 disabled. The routes are symmetric (a packet from
 * 198.18.x.y arrives on the TUN that routes back to 198.18.0.0/16, one from
 * 198.19.0.1 on radio0, which routes 198.19.0.0/16), so strict rp_filter
 * passes them, and no source address is local where it arrives, so
 * accept_local is not needed. The device namespace is new: its sysctls
 * (TCP ones included) are the kernel's defaults, not the root namespace's
 * (identical on these VMs, whose root namespace has the defaults too).
 * The emulator thread moves every IPv4 packet read from one TUN to the
 * other through the device's own queue for that direction (the device is
 * the packet's source address uplink, its destination downlink). Packets
 * for an address that was never added, and non-IPv4 packets, are dropped
 * and counted in linkemu_stats.
 *
 * The link model, per device and direction:
 *   - a packet enters the link when the emulator reads it from the TUN
 *     (the thread's wake-up, tens of us to a millisecond on a loaded VM,
 *     comes on top of the delay);
 *   - serialisation: a packet of L IP bytes occupies the radio for
 *     L * 8 / rate; a packet waits for the one before it (rate 0: no limit);
 *   - then the one-way delay (fixed per device), so a packet is released at
 *     (end of its serialisation) + delay, by an absolute timerfd
 *     (TFD_TIMER_ABSTIME, CLOCK_MONOTONIC);
 *   - queue limit: a packet arriving while queue_packets packets are still
 *     waiting for or in serialisation is tail-dropped (0: no limit);
 *   - loss: each serialised packet is lost with probability loss_up /
 *     loss_down, drawn from a per-device, per-direction generator seeded
 *     from `seed`, so the n-th packet of a direction is lost or not
 *     whatever the other direction does (deterministic given the packets);
 *   - MTU: a packet longer than the device's mtu is dropped and counted.
 *     No ICMP "fragmentation needed" is sent back, as on many cellular
 *     links: a TCP sender that produced such a segment would retransmit it
 *     until it timed out (Linux probes smaller segments only with
 *     net.ipv4.tcp_mtu_probing, off by default). So nothing oversized is
 *     produced normally: radio0's MTU and its route's mtu are the largest
 *     device mtu, and linkemu_socket() clamps a TCP socket's MSS to the
 *     device's mtu - 40 (TCP_MAXSEG, which also sets the MSS advertised in
 *     its SYN, so the server's segments fit too). A UDP datagram over the
 *     device mtu (but within radio0's) reaches the emulator and is dropped;
 *     one over radio0's MTU with DF gets EMSGSIZE from the kernel.
 * Where the delay sits: on the network side of the radio in both
 * directions. Uplink air time is at the device's transmitter (before the
 * delay), downlink air time at its receiver (after the delay).
 *
 * Counting, at the emulator, from each packet's IPv4 and TCP/UDP headers
 * (IP bytes = the IPv4 total length, headers and options included):
 *   uplink:   packets/bytes are what the device's radio transmitted: counted
 *             when a packet is accepted into the radio queue (its air time
 *             is then fixed and it will be sent), lost ones included (the
 *             radio sent them; `lost` says how many the network never got).
 *             Queue and MTU drops never reached the air and are not in
 *             packets/bytes. So a device socket's tcpi_segs_out equals
 *             packets + queue_drops + mtu_drops, and the server's
 *             tcpi_segs_in equals packets - lost.
 *   downlink: packets/bytes are what the device received: counted when a
 *             packet is delivered to the device namespace. `lost` counts
 *             packets sent on the air and not received (not in packets);
 *             queue and MTU drops are counted apart. So the device's
 *             tcpi_segs_in equals packets, and the server's tcpi_segs_out
 *             equals packets + lost + queue_drops + mtu_drops minus its
 *             SYN-ACKs (the request socket sends them; the accepted socket
 *             does not count them, while its segs_in counts the SYN).
 * syn/fin/rst count packets with that flag among `packets`.
 *
 * NAT timeout (nat_timeout_s > 0): per TCP connection (4-tuple), the
 * operator's NAT of sim/core/nat.h, applied when a packet reaches the
 * emulator: once the flow was idle (no packet either way) longer than the
 * timeout, every packet of it is dropped silently and counted in nat_drops
 * (uplink ones were on the air: in packets and air time, never delivered;
 * downlink ones never reach the radio); a new SYN from the device makes a
 * new mapping.
 *
 * Listening (listen_ms > 0): a device asleep but reachable (Wi-Fi power
 * save, cellular idle mode) hears the network only at its listen
 * occasions, every listen_ms from a phase drawn from `seed`. Once none of
 * its packets was on the air for asleep_after_ms, a downlink packet that
 * reaches its radio waits for the next occasion (the access point's or
 * the base station's buffer) and its air time, and the release, move by
 * that wait; any packet on the air, either way, wakes the radio again. The
 * attach from listening to connected is the energy model's, not a delay
 * here, as for every attach.
 *
 * Threads: one emulator thread (epoll on both TUNs, the timerfd and a stop
 * eventfd), all signals blocked, 1 ns timer slack, SCHED_FIFO priority 1
 * when allowed (wake-ups under load: see linkemu_stats.realtime). Every function here may be called from any thread, while the
 * emulator runs; reads are consistent snapshots under one mutex.
 * linkemu_socket() switches the *calling* thread into the device namespace
 * and back (setns): the caller must be in the namespace that was current
 * for the thread that called linkemu_open().
 *
 * Privileges: CAP_NET_ADMIN and CAP_SYS_ADMIN (setns, mount). Without them
 * linkemu_open() fails with one line starting "links need CAP_NET_ADMIN".
 *
 * What is left after each exit path:
 *   - linkemu_close(): nothing (TUNs closed, so they and their routes and
 *     the server address vanish; the namespace unmounted and unlinked; it is
 *     freed once the last socket made in it is closed);
 *   - Ctrl-C: the emulator thread never takes signals; the caller's SIGINT
 *     path must reach linkemu_close() like any other exit;
 *   - exit() without linkemu_close, a crash, SIGKILL: the kernel closes the
 *     TUN fds, so both TUNs and every route and address on them vanish; the
 *     bind mount /run/netns/dormant-<pid> (with lo and its local route)
 *     stays until linkemu_cleanup_stale() at the next start removes it,
 *     since its pid is dead. A stale namespace holds no address the next run
 *     could collide with (the next run uses its own namespace).
 *
 * Ownership: linkemu_open/linkemu_close; the caller owns every fd that
 * linkemu_socket() returns and may keep it past linkemu_close() (it then
 * talks to nothing). Output structs are the caller's.
 */
#ifndef DORMANT_LINKEMU_H
#define DORMANT_LINKEMU_H

#include <stddef.h>
#include <stdint.h>

#define LINKEMU_DEVICE_NET  0xc6120000u /* 198.18.0.0/16: device addresses */
#define LINKEMU_SERVER_ADDR 0xc6130001u /* 198.19.0.1: the servers' address */
#define LINKEMU_BURSTS      4096        /* air intervals kept per device */

struct linkemu;

struct linkemu_params {
	double delay_ms;            /* one-way, each direction, >= 0 */
	double up_kbps, down_kbps;  /* link rate, kbit/s (1000 bit/s); 0: unlimited */
	double loss_up, loss_down;  /* probability per packet, 0..1 */
	int queue_packets;          /* per direction, waiting or in serialisation; 0: unlimited */
	int mtu;                    /* IP bytes, 68..65535 */
	uint64_t seed;              /* loss generator seed for this device */
	double nat_timeout_s;       /* the operator's NAT idle timeout per TCP flow (sim/core/nat.h); 0: none */
	double listen_ms;           /* a listening device (see "Listening"): its listen interval; 0: not one */
	double asleep_after_ms;     /* ... asleep once no packet was on its air for this long (the tail) */
};

struct linkemu_dir_counts {
	uint64_t packets, bytes;    /* see "Counting" above for each direction */
	uint64_t syn, fin, rst;     /* TCP packets with the flag, among packets */
	uint64_t lost;              /* on the air, never delivered (not in packets downlink) */
	uint64_t lost_data;         /* of lost: those carrying payload, SYN or FIN */
	uint64_t queue_drops;       /* tail drops: queue full */
	uint64_t mtu_drops;         /* longer than the device's mtu */
	uint64_t nat_drops;         /* the NAT had forgotten the flow: up, sent on the air (in packets) and dropped
	                             * behind it; down, dropped before the air (not in packets) */
};

struct linkemu_counts {
	struct linkemu_dir_counts up, down;
	uint64_t first_ns, last_ns; /* CLOCK_MONOTONIC of the first and last packet counted or dropped */
};

enum linkemu_dir { LINKEMU_UP, LINKEMU_DOWN };

struct linkemu_burst {
	uint64_t start_ns, end_ns;  /* CLOCK_MONOTONIC air interval at the device */
	uint32_t bytes;             /* IP bytes */
	uint8_t dir;                /* enum linkemu_dir */
	uint8_t lost;               /* 1: on the air but not delivered */
	uint8_t tcp_flags;          /* the TCP header's flags byte (FIN 0x01 ... CWR 0x80); 0: not TCP */
	uint8_t data;               /* 1: carries payload, SYN or FIN (0: a bare ACK or RST) */
};

struct linkemu_dev_info {
	struct linkemu_counts counts; /* every packet of the device, any protocol */
	uint64_t bursts_overwritten;  /* oldest air intervals dropped from the ring */
	uint64_t listen_waits;        /* listening: downlink packets held for a listen occasion */
};

struct linkemu_stats {
	uint64_t moved;             /* packets released to the other TUN */
	uint64_t unknown, non_ipv4; /* dropped: no such device / not IPv4 */
	uint64_t cpu_ns;            /* emulator thread CPU time so far */
	uint64_t deliver_cpu_ns;    /* of which in write() to a TUN (sampled): the kernel runs the receiving
	                             * stack (IP, TCP, waking the reader) in the writer's context */
	uint64_t late_p50_ns, late_p99_ns, late_max_ns; /* release lateness, last 8192 releases */
	int realtime;               /* 1: the thread runs SCHED_FIFO (shorter wake-ups under load) */
	int tun_errno;              /* != 0: a TUN read failed and the link stopped (errno) */
};

/* Namespace, TUNs, routes, thread. NULL with a one-line reason in err;
 * errno EADDRINUSE when 198.19.0.1 or the route to 198.18.0.0/16 already
 * exists in the caller's namespace (another run's emulator: one per
 * namespace; it is never taken over). */
struct linkemu *linkemu_open(char *err, size_t errlen);
/* Stops the thread and removes everything linkemu_open created. NULL: no-op. */
void linkemu_close(struct linkemu *e);

/* addr in host order within 198.18.0.0/16 (not .0.0 or .255.255); before or
 * while running. 0, or -1 with errno (EINVAL bad params or address,
 * EEXIST already added) and a reason in err. */
int linkemu_add_device(struct linkemu *e, uint32_t addr, const struct linkemu_params *p,
                       char *err, size_t errlen);

/* A socket (AF_INET, type | SOCK_CLOEXEC) created inside the device
 * namespace, on the calling thread. dev_addr != 0: it is bound to that
 * device's address (port 0; IP_BIND_ADDRESS_NO_PORT for TCP) and a TCP
 * socket gets TCP_MAXSEG = the device's mtu - 40. The fd, or -1 with errno
 * (ENOENT: no such device). */
int linkemu_socket(struct linkemu *e, uint32_t dev_addr, int type);

uint32_t linkemu_server_addr(void);              /* 198.19.0.1, host order */
const char *linkemu_netns_name(const struct linkemu *e); /* "dormant-<pid>" */
const char *linkemu_server_ifname(const struct linkemu *e); /* the root-side TUN */

/* Cumulative counts of one TCP connection, by the device's address and port
 * and the server's port (host order). 0, or -1 if the emulator never saw
 * it (out zeroed). */
int linkemu_conn_counts(struct linkemu *e, uint32_t dev_addr, uint16_t dev_port, uint16_t srv_port,
                        struct linkemu_counts *out);
/* Forget a connection's counts (after the caller took its final figures; a
 * later packet of the same 4-tuple starts a new entry; one the NAT had
 * forgotten stays forgotten until a new SYN). */
void linkemu_conn_forget(struct linkemu *e, uint32_t dev_addr, uint16_t dev_port, uint16_t srv_port);
/* A device's totals; 0, or -1 if no such device. */
int linkemu_dev_info(struct linkemu *e, uint32_t dev_addr, struct linkemu_dev_info *out);

/* The device's air intervals whose end is after since_ns, oldest first, at
 * most max of them: the number written. Downlink intervals are known (and
 * listed) as soon as a packet is queued, so they may lie in the future. */
size_t linkemu_bursts(struct linkemu *e, uint32_t dev_addr, uint64_t since_ns,
                      struct linkemu_burst *out, size_t max);

void linkemu_get_stats(struct linkemu *e, struct linkemu_stats *out);

/* Removes namespaces /run/netns/dormant-<pid> whose process is gone (never
 * this process's own). msg lists what it removed ("" if nothing). The number
 * removed, or -1 with the failure in msg. */
int linkemu_cleanup_stale(char *msg, size_t len);

#endif
