/* phases.h: each phase's time on the wire, and the wake's wire time, from
 * the modem's timestamps (sim/net/modem.h struct modem_counts).
 *
 * A phase runs from the first byte the library wrote in it (not before the
 * connection was ready: bytes written early waited for TCP and TLS, whose
 * time is already theirs) to the last byte of the phase either way; the
 * TCP phase from connect() to established, the TLS phase from established
 * to ready; teardown also to the library's close and the server's FIN.
 * A phase with no byte from the library has no start and takes 0 time
 * (a server-only phase is covered by whatever phase spans it). The wire
 * time t_wire is the union of the phases, not their sum: phases overlap (a
 * command coming down while the telemetry goes up). t_client = t_wake -
 * t_wire (sim/results.c).
 *
 * Timestamps are CLOCK_MONOTONIC nanoseconds, 0 for "did not happen". A
 * span with either end missing, or ending before it starts, is 0 and adds
 * nothing to the union. Spans are truncated to whole microseconds each.
 * Pure: no runtime header, so tests/unit/test_phases.c runs it alone.
 */
#ifndef DORMANT_PHASES_H
#define DORMANT_PHASES_H

#include <stdint.h>

#include "columns.h"

/* The phases in enum phase's order (sim/net/modem.h; results.c checks). */
enum {
	PHASES_TCP,
	PHASES_TLS,
	PHASES_FIRST_FRAMED, /* setup: the first phase of protocol bytes */
	PHASES_TEARDOWN = WAKE_ROW_PHASES - 1,
	PHASES_COUNT = WAKE_ROW_PHASES,
};

struct phases_stamps {
	uint64_t connect_ns;     /* connect() to the server issued */
	uint64_t established_ns; /* TCP handshake complete */
	uint64_t ready_ns;       /* TCP (and TLS) up: the library's bytes can flow */
	int tls;                 /* there was a TLS handshake, from established_ns to ready_ns */
	uint64_t lib_eof_ns;     /* the library closed its side */
	uint64_t server_eof_ns;  /* the server's FIN (or error) read */
	struct {
		uint64_t first_up_ns; /* the library's first byte in the phase; 0: none */
		uint64_t last_up_ns, last_down_ns;
	} ph[PHASES_COUNT];      /* read from PHASES_FIRST_FRAMED on */
};

/* Each phase's wire time into T_US (microseconds); returns their union. */
int64_t phases_times(const struct phases_stamps *s, int64_t t_us[PHASES_COUNT]);

#endif
