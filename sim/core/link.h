/* link.h: a radio link profile, as read from scenarios/links/NAME.yaml.
 *
 * A profile is the figures of one kind of radio access: what the packet
 * emulator (sim/net/linkemu.c) applies to every IP packet of a device (delay,
 * rate, loss, queue limit, MTU), what the operator's network does to idle
 * connections (the NAT timeout), and what the energy model (energy.h) charges
 * for the radio's states. Every figure in a shipped profile cites its source
 * in a comment beside it.
 *
 * The file is YAML read like a scenario (ytree.h): every key below is
 * required, unknown keys are refused, and a bad value gives one line
 *   FILE:LINE:COL: KEY: expected ..., got "..."
 * Units are in the key names; all figures are plain decimals ("0.015", no
 * exponent).
 *
 *   name                 [A-Za-z0-9_.-]+, names the link in variant names
 *   delay_ms             one-way delay: a number (fixed), or [min, max] from
 *                        which each device draws its own (link_delay_ms)
 *   up_kbps, down_kbps   link rate each way, kbit/s (1 kbit = 1000 bit)
 *   loss_up, loss_down   fraction of packets lost each way, 0..0.5
 *   queue_packets        queue limit per direction, packets
 *   mtu                  largest IP packet, bytes
 *   link_overhead_bytes  radio header per packet, reported apart from IP bytes
 *   attach_ms, attach_mj time and energy from sleep to connected (attach, RRC
 *                        set-up or resume after PSM, Wi-Fi association)
 *   nat_timeout_s        the operator's NAT/firewall idle timeout; 0: none
 *   tx_mw, rx_mw         radio power while sending / receiving
 *   idle_mw              connected, nothing on the air (with its DRX), averaged
 *   tail_ms, tail_mw     inactivity timer after the last packet, and its power
 *   release_assist       true: the radio is released right after the last
 *                        packet (3GPP Release Assistance Indication), no tail
 *   sleep_uw             the floor between wakes (PSM, eDRX or deep sleep), uW
 *
 * Optional, all four or none: a device that keeps a connection and must be
 * reachable through its sleeps (commands pushed to it) cannot sleep that
 * deep; it listens (Wi-Fi power save waking for each DTIM beacon, cellular
 * idle mode waking for each paging occasion):
 *   listen_uw            the average floor while asleep and listening, uW
 *   listen_ms            the listen interval: a packet for the sleeping device
 *                        waits for the next occasion, up to this long
 *                        (the emulator holds it: linkemu.h)
 *   listen_attach_ms, listen_attach_mj
 *                        from listening to connected (Wi-Fi: leaving power
 *                        save; cellular: an RRC connection from idle)
 * A profile without them has no listening device: a kept connection that
 * takes commands is not possible on it.
 *
 * Ownership: a struct link_profile is plain data; no call allocates.
 */
#ifndef DORMANT_LINK_H
#define DORMANT_LINK_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define LINK_NAME_MAX 32
#define LINK_PATH_MAX 4096
#define LINK_FILE_MAX (64u << 10) /* a profile larger than this is a mistake */

struct link_profile {
	char name[LINK_NAME_MAX];
	char path[LINK_PATH_MAX];      /* as opened */
	double delay_ms_min, delay_ms_max; /* one-way; equal: fixed */
	double up_kbps, down_kbps;
	double loss_up, loss_down;     /* fractions of packets */
	int queue_packets, mtu, link_overhead_bytes;
	double attach_ms, attach_mj;
	double nat_timeout_s;          /* 0: no NAT timeout */
	double tx_mw, rx_mw, idle_mw, tail_ms, tail_mw;
	double sleep_uw;
	int release_assist;
	int can_listen;                /* the four listening figures were given (else they are -1) */
	int listening;                 /* made by link_listening(): a listening device's radio */
	double listen_uw, listen_ms, listen_attach_ms, listen_attach_mj;
};

/* Reads the profile at PATH into *out. Returns ERR_OK, or ERR_SCENARIO
 * (ERR_NOMEM) with the one-line message in err and *out unspecified. */
enum dormant_err link_profile_load(const char *path, struct link_profile *out, char *err,
                                   size_t errlen);
/* The same from a buffer; PATH is used in messages and copied to out->path. */
enum dormant_err link_profile_load_buffer(const char *path, const char *text, size_t len,
                                          struct link_profile *out, char *err, size_t errlen);

/* The profile a listening device's radio follows (see above): P with the
 * listening floor for sleep_uw and the listening attach for attach_ms and
 * attach_mj, into *OUT. 0, or -1 when P has no listening figures. */
int link_listening(const struct link_profile *p, struct link_profile *out);

/* The one-way delay of DEVICE on this link, drawn uniformly from
 * [delay_ms_min, delay_ms_max] by a hash of (seed, device): the same for
 * every variant, every run and both directions, independent of the wake
 * schedule's jitter draws. A fixed delay is returned as is. */
double link_delay_ms(const struct link_profile *p, uint64_t seed, uint32_t device);

/* Time to put LEN bytes on the air at KBPS kbit/s, in microseconds
 * (LEN * 8 bits / (KBPS * 1000 bit/s)); what the emulator's serialisation and
 * the energy model's TX/RX bursts both use. 0 when KBPS is 0 (no limit). */
double link_serialise_us(double kbps, size_t len);

/* How long a run waits after a connection's last packet on this link before
 * its figures count as final (the wake's end, t_wake_us, comes that long
 * after it): a reply to the last packet (a bare RST) takes a round trip;
 * when the last packet was lost, the sender's retransmission comes after
 * its timeout (Linux: about the RTT plus TCP_RTO_MIN, 200 ms) and its
 * answer one more round trip later. So two round trips (two one-way delays
 * at delay_ms_max and a full mtu packet's air time each way, each), 200 ms
 * and 100 ms for the hosts. */
double link_settle_ms(const struct link_profile *p);

#endif
