/* model.h: an analytic model of one wake over a link, from its flight trace
 * on another link.
 *
 * Input: one wake's packets as packets.csv has them (trace.h), taken on a
 * source link with one-way delay d_s, and the wake's duration there; a
 * target link profile (link.h) and the device's one-way delay on it, d_t.
 * Output: the same wake predicted on the target: its duration, its TX and
 * RX air time, and its radio energy through energy_wake() (energy.h) on the
 * packets synthesized on the target, exactly as a run computes the energy
 * of an emulated wake.
 *
 * Flights. The packets, in the order they went on the air at the device
 * (lost ones left out), form flights: maximal runs of packets in one
 * direction. Between two flights lies a host's time, measured from the
 * trace minus the source link's own delay and air time:
 *   - before an uplink packet, the device's: from the end of the arrival of
 *     the last downlink packet it had received to its start;
 *   - before a downlink packet, the server's: from the last uplink packet's
 *     arrival at the server (its air end + d_s) to the downlink packet's
 *     start there (its air start at the device - d_s);
 *   - before the first packet, the device's from the wake's start (library
 *     start-up, connect).
 * That last packet of the other direction is the packet's cause: on a
 * ping-pong, the previous flight's last packet. Only a packet with data
 * (payload, SYN or FIN: the trace's data column) is a cause; a bare ACK
 * answers and asks for nothing (the servers here never speak first, and
 * the congestion window, which an ACK opens, is ignored below). A packet the trace shows
 * sent before anything of the other direction had reached its sender
 * (the server's close racing the device's, an unsolicited ACK) waits for
 * nothing of it here either. Inside a flight the sender's spacing is kept:
 * a packet is never ready sooner after the one before it than in the trace
 * (on a fast source link that is the sender's own spacing).
 *
 * The target. Packet by packet, flight after flight:
 *   - a packet is ready at its cause's arrival on the target plus the
 *     host's time measured above;
 *   - a packet of L bytes takes L * 8 / rate of air time (up_kbps uplink,
 *     down_kbps downlink) and starts when it is ready and the link's
 *     direction is free: packets of a flight pipeline, their serialisation
 *     adds up, and the one-way delay counts once per flight;
 *   - uplink packets are on the air at the device when sent and reach the
 *     server d_t after their air ends; downlink packets are on the air at
 *     the device d_t after the server starts them (the emulator's
 *     placement, linkemu.h).
 * The wake's end. Runs before 2026-12-03 ended a wake settle_ms after the
 * connection's last packet (link_settle_ms, link.h: a wait for late replies
 * that is the run's, not the device's; the trace gives it as settle_us);
 * since then a wake ends with its wire and settle_us is 0. So
 *   active  = the last packet counted on the target (uplink at its start,
 *             downlink at its arrival, as the emulator counts) + the host
 *             time the trace has after its own last packet and the wait;
 *   wake    = active + link_settle_ms(target) (none when the source had no
 *             wait: a hand-made trace).
 * energy = energy_wake(target, the synthesized air intervals), the wake
 * starting attach_ms before its first host time, as sim/wake.c does for an
 * emulated wake.
 *
 * What the model ignores, and when that matters:
 *   - loss and retransmission: lost packets of the trace are dropped and
 *     the target is lossless. A lost packet costs at least one RTO (200 ms
 *     to 1 s, doubling) and its air time again; the model is then low by
 *     about loss rate x packets x RTO. It matters on lossy profiles (the
 *     -poor ones): model those from emulated runs.
 *   - TCP's congestion window growth: a flight is sent as fast as the link
 *     takes it, with no wait for ACKs. Linux starts at 10 segments
 *     (~14 KB at MSS 1460, less at a small MTU), so it matters only for a
 *     flight of more than about 10 packets (a certificate chain at MTU 576,
 *     a large payload): each extra window costs a round trip the model
 *     leaves out.
 *   - delayed ACK timers: an ACK the source trace shows 40 ms (up to
 *     200 ms) after data is kept as host time after its cause, and an ACK
 *     that on the target would have ridden on the next data, or been sent
 *     at once in quickack mode, is not. Likewise a packet whose cause the
 *     trace cannot tell apart from a coincidence (within the source's
 *     2 d_s) is taken to answer it. It matters when the trace shows such
 *     timers (ACKs not piggybacked); Nagle against a delayed ACK (a stall of
 *     up to 200 ms) appears only if the source trace has it.
 *   - ACKs and RSTs that only the target's timing produces: segments that
 *     arrive together on a fast link get one ACK, and each its own when a
 *     slow link spaces them out; a close racing a late ACK draws a RST. The
 *     model keeps the trace's packets only. Measured: AMQP's wake has three
 *     more bare ACKs and one more RST at 50 kbit/s than at 100 Mbit/s, and
 *     the model's energy is 2.3 % low; it matters for chatty protocols on
 *     slow links, little for wake time (an ACK waits for nothing).
 *   - SYN retries when the RTT exceeds 1 s: Linux's initial RTO is 1 s, so
 *     on a target whose 2 d_t + SYN air time exceeds it, the SYN (and then
 *     the SYN-ACK) is sent again, 2-3 times per connect, adding air time,
 *     energy and duplicate packets the model does not have (NB-IoT's
 *     ~1 s one-way delay, the gprs-poor profile). Also any other RTO that
 *     a long RTT triggers before the first RTT sample.
 *   - queue limits, MTU and the per-packet radio header: the packets are the
 *     trace's, of the trace's sizes; a target with a smaller MTU would cut
 *     them into more.
 *   - the host's time is assumed independent of the link (the same CPU
 *     work); library timers that depend on the RTT (paho's polls) are not.
 *
 * Cost: O(n^2) in the packets of a wake (each looks for its cause), a few
 * thousand at most. Pure: no I/O; no allocation (the caller gives room for
 * the bursts).
 */
#ifndef DORMANT_MODEL_H
#define DORMANT_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "energy.h"
#include "link.h"
#include "trace.h"

/* One wake's trace on its source link. */
struct model_source {
	const struct trace_packet *p;  /* in air-start order at the device */
	size_t n;
	double delay_ms;               /* the source link's one-way delay for the device */
	double wake_ms;                /* the wake's duration there (t_wake_us) */
	double settle_ms;              /* the run's wait after the last packet, in wake_ms (settle_us) */
};

struct model_result {
	double wake_ms;                /* predicted duration on the target, as t_wake_us measures it */
	double active_ms;              /* the same without the run's wait after the last packet */
	double host_ms;                /* host time kept from the trace (before the flights, between, after) */
	double air_up_ms, air_down_ms; /* serialisation summed per direction on the target */
	struct energy_result energy;   /* energy_wake() on the synthesized bursts: tx_ms, rx_ms, energy_mj, ... */
	size_t packets;                /* packets modelled (the trace's, lost ones left out) */
	size_t flights;
};

/* The number of flights of SRC (lost packets left out). */
size_t model_flights(const struct model_source *src);

/* Predicts SRC's wake on TARGET, with the device's one-way delay there
 * TARGET_DELAY_MS (link_delay_ms() for the device). AIR has room for SRC->n
 * bursts (scratch; what is left in it are the synthesized bursts, in start
 * order, OUT->packets of them). *OUT is always written. */
void model_predict(const struct model_source *src, const struct link_profile *target, double target_delay_ms,
                   struct radio_burst *air, struct model_result *out);

#endif
