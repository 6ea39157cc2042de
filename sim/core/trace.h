/* trace.h: packets.csv, a wake's flight trace, described once.
 *
 * With links on, every wake's packets as its radio saw them go to
 * packets.csv in the run directory, one row per IP packet, in the order
 * they went on the air at the device:
 *
 *   variant, device, seq   the wake (as in wakes.csv, where its t_wake_us,
 *                          outcome and link are)
 *   offset_us              start of the packet's air time at the device, from
 *                          the wake's start (uplink: when the device's radio
 *                          began sending it; downlink: when it began arriving)
 *   air_us                 its air time at the device (serialisation at the
 *                          link's rate)
 *   dir                    up or down
 *   ip_bytes               IPv4 total length, headers included
 *   lost                   1: on the air but never delivered
 *   flags                  its TCP flags as letters, in the order
 *                          S(YN) F(IN) R(ST) P(SH) A(CK) U(RG) E(CE) C(WR):
 *                          "SA", "PA", "FA", "A"; empty for a packet not TCP
 *   data                   1: it carries payload, SYN or FIN (0: a bare ACK
 *                          or RST, which answers and never asks)
 *   delay_us               the one-way delay of the device's link, each way
 *                          (the same on every row of a wake: what the model
 *                          takes off to find the hosts' own time)
 *   settle_us              how long the run waited after the connection's
 *                          last packet before the wake ended (link_settle_ms,
 *                          link.h): part of t_wake_us that is the run's, not
 *                          the device's
 *
 * The packets are those whose air time starts within the wake (start to
 * t_wake_us), which is what the wake's energy is computed from: packets
 * after the wake's end (a last ACK, a late retransmission) are in neither.
 * A downlink packet lost on the way is listed (lost 1) although the energy
 * leaves it out: the device never received it.
 *
 * The writer (sim/results.c) formats through trace_format_rows, the reader
 * (the `model` command, sim/report/) maps the header with trace_map_header
 * and parses with trace_parse_row, so the two share the one column list
 * below. Rows of one wake are formatted as one block, written whole.
 *
 * Pure: no I/O, no allocation except the caller's buffer.
 */
#ifndef DORMANT_TRACE_H
#define DORMANT_TRACE_H

#include <stddef.h>
#include <stdint.h>

#include "columns.h"

#define TRACE_FILE "packets.csv"

enum trace_col {
	TRACE_VARIANT, TRACE_DEVICE, TRACE_SEQ, TRACE_OFFSET_US, TRACE_AIR_US, TRACE_DIR, TRACE_IP_BYTES,
	TRACE_LOST, TRACE_FLAGS, TRACE_DATA, TRACE_DELAY_US, TRACE_SETTLE_US, TRACE_COLS
};

/* The header's names, in file order. */
extern const char *const trace_col_names[TRACE_COLS];

/* One packet on the air at the device. Times are microseconds. */
struct trace_packet {
	int64_t offset_us;   /* air start, from the wake's start (may be < 0 only in a hand-made trace) */
	int64_t air_us;      /* >= 0 */
	int up;              /* 1 uplink (TX), 0 downlink (RX) */
	int64_t bytes;       /* IP bytes */
	int lost;            /* 1: lost on the air */
	unsigned tcp_flags;  /* the TCP flags byte (FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10, ...) */
	int data;            /* 1: payload, SYN or FIN */
};

/* The wake a trace belongs to. */
struct trace_wake {
	char variant[128];
	int64_t device, seq;
	int64_t delay_us;    /* the link's one-way delay for this device */
	int64_t settle_us;   /* the run's wait after the last packet, in t_wake_us */
};

/* Replaces B's text with the header line; 0, or -1 out of memory. */
int trace_format_header(struct column_buf *b);
/* Replaces B's text with the N rows of W's packets P, each ending in '\n'
 * (N == 0: B is empty). 0, or -1 out of memory (B then holds nothing). */
int trace_format_rows(const struct trace_wake *w, const struct trace_packet *p, size_t n,
                      struct column_buf *b);

/* MAP[i] = the trace column of header field i, -1 for one it does not know.
 * Returns 0, or -1 when a column is missing (its name in *missing). */
int trace_map_header(char *const *fields, int nf, int *map, const char **missing);
/* One row's fields into *W and *P: 0, or -1 when a field is not a valid
 * value (bad number, dir neither up nor down, lost not 0/1). */
int trace_parse_row(char *const *fields, int nf, const int *map, struct trace_wake *w, struct trace_packet *p);

#endif
