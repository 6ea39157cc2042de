/* test_phases.c: per-phase wire time and the wake's wire time
 * (sim/core/phases.c): phases without bytes, overlapping phases, a phase
 * with only server bytes, missing timestamps, and the clock's edge cases. */
#include <stdint.h>

#include "phases.h"
#include "unit.h"

#define MS(x) ((uint64_t)((x) * 1000000.0 + 0.5)) /* a monotonic timestamp, in ns, at X ms */
enum { TCP = PHASES_TCP, TLS = PHASES_TLS, SETUP = PHASES_FIRST_FRAMED, DATA, DOWNLINK, TEARDOWN };

/* Checks every phase's time against WANT and the union against WIRE. */
#define CHECK_TIMES(s, w0, w1, w2, w3, w4, w5, wire)                                 \
	do {                                                                        \
		int64_t t_[PHASES_COUNT], want_[PHASES_COUNT] = { w0, w1, w2, w3, w4, w5 }; \
		int64_t wire_ = phases_times(s, t_);                                \
		for (int p_ = 0; p_ < PHASES_COUNT; p_++)                           \
			if (t_[p_] != want_[p_])                                    \
				UNIT_FAIL_("phase %d: %lld us, want %lld", p_,      \
				           (long long)t_[p_], (long long)want_[p_]); \
		CHECK_INT_EQ(wire_, wire);                                          \
	} while (0)

static void phase(struct phases_stamps *s, int p, uint64_t first_up, uint64_t last_up, uint64_t last_down)
{
	s->ph[p].first_up_ns = first_up;
	s->ph[p].last_up_ns = last_up;
	s->ph[p].last_down_ns = last_down;
}

/* A plain MQTT wake: TCP 1.0-1.1 ms, CONNECT 1.2-1.5, PUBLISH 1.6-2.0,
 * DISCONNECT at 2.1 and 2.2, the library's close at 2.3, FIN at 2.4. */
static struct phases_stamps plain_wake(void)
{
	struct phases_stamps s = { .connect_ns = MS(1.0), .established_ns = MS(1.1), .ready_ns = MS(1.1),
	                           .lib_eof_ns = MS(2.3), .server_eof_ns = MS(2.4) };
	phase(&s, SETUP, MS(1.2), MS(1.2), MS(1.5));
	phase(&s, DATA, MS(1.6), MS(1.6), MS(2.0));
	phase(&s, TEARDOWN, MS(2.1), MS(2.2), 0);
	return s;
}

static void test_no_connection(void)
{
	struct phases_stamps s = { 0 };
	CHECK_TIMES(&s, 0, 0, 0, 0, 0, 0, 0);
}

/* The gaps between phases (the library thinking) are not wire time. */
static void test_plain_wake(void)
{
	struct phases_stamps s = plain_wake();
	CHECK_TIMES(&s, 100, 0, 300, 400, 0, 300, 1100);
}

/* The TLS phase runs from established to ready, only with TLS. */
static void test_tls(void)
{
	struct phases_stamps s = plain_wake();
	s.ready_ns = MS(1.15);
	CHECK_TIMES(&s, 100, 0, 300, 400, 0, 300, 1100); /* tls 0: the 50 us are nobody's */
	s.tls = 1;
	CHECK_TIMES(&s, 100, 50, 300, 400, 0, 300, 1150);
}

/* Bytes the library wrote before the connection was ready (CONNECT queued
 * during the TLS handshake) start their phase at ready, not earlier. */
static void test_written_before_ready(void)
{
	struct phases_stamps s = plain_wake();
	s.tls = 1;
	s.ready_ns = MS(1.4);
	s.ph[SETUP].first_up_ns = MS(1.05);
	CHECK_TIMES(&s, 100, 300, 100, 400, 0, 300, 1200);
}

/* A phase the library wrote nothing in takes no time, whatever its other stamps. */
static void test_phase_without_bytes(void)
{
	struct phases_stamps s = plain_wake();
	phase(&s, DOWNLINK, 0, 0, 0);
	CHECK_TIMES(&s, 100, 0, 300, 400, 0, 300, 1100);
	/* teardown without a byte of its own: the closes do not make it a phase */
	phase(&s, TEARDOWN, 0, 0, 0);
	CHECK_TIMES(&s, 100, 0, 300, 400, 0, 0, 800);
}

/* A command coming down (and its PUBACK going up) while the telemetry goes
 * up: each phase keeps its own time, the wire time counts the overlap once. */
static void test_overlapping_phases(void)
{
	struct phases_stamps s = plain_wake();
	phase(&s, DATA, MS(1.6), MS(1.9), MS(2.0));
	phase(&s, DOWNLINK, MS(1.8), MS(1.8), MS(2.05));
	/* data 400, downlink 250; their union 1.6-2.05 = 450 */
	CHECK_TIMES(&s, 100, 0, 300, 400, 250, 300, 1150);
	/* nested: the downlink inside the data phase adds nothing */
	phase(&s, DOWNLINK, MS(1.7), MS(1.7), MS(1.8));
	CHECK_TIMES(&s, 100, 0, 300, 400, 100, 300, 1100);
	/* overlapping the teardown too: 1.6 to the FIN at 2.4 in one piece, the
	 * gap 2.0-2.1 between data and teardown now on the wire */
	phase(&s, DOWNLINK, MS(1.9), MS(1.9), MS(2.15));
	CHECK_TIMES(&s, 100, 0, 300, 400, 250, 300, 1200);
}

/* A phase with only server bytes (a QoS 0 command: nothing goes up) has no
 * start: it takes 0 time and adds nothing, inside another phase or not. */
static void test_server_bytes_only(void)
{
	struct phases_stamps s = plain_wake();
	phase(&s, DOWNLINK, 0, 0, MS(1.9));
	CHECK_TIMES(&s, 100, 0, 300, 400, 0, 300, 1100);
	phase(&s, DOWNLINK, 0, 0, MS(5.0)); /* long after the wake's other phases */
	CHECK_TIMES(&s, 100, 0, 300, 400, 0, 300, 1100);
}

/* A phase's last byte may be only the library's or only the server's. */
static void test_last_byte_either_way(void)
{
	struct phases_stamps s = plain_wake();
	phase(&s, DATA, MS(1.6), MS(2.0), 0); /* QoS 0: no PUBACK */
	CHECK_TIMES(&s, 100, 0, 300, 400, 0, 300, 1100);
	phase(&s, DATA, MS(1.6), MS(1.6), MS(2.0));
	CHECK_TIMES(&s, 100, 0, 300, 400, 0, 300, 1100);
}

/* The teardown ends at the later of the library's close and the server's
 * FIN, or at its last byte if that came later still. */
static void test_teardown_end(void)
{
	struct phases_stamps s = plain_wake();
	s.server_eof_ns = 0; /* reset, no FIN read */
	CHECK_TIMES(&s, 100, 0, 300, 400, 0, 200, 1000);
	s.lib_eof_ns = 0;
	CHECK_TIMES(&s, 100, 0, 300, 400, 0, 100, 900);
	s.ph[TEARDOWN].last_down_ns = MS(2.6);
	s.server_eof_ns = MS(2.5);
	CHECK_TIMES(&s, 100, 0, 300, 400, 0, 500, 1300);
}

/* A wake that failed part-way: what did not happen is 0, and a stamp
 * missing at one end must neither count nor stretch the union over the
 * phases after it. */
static void test_missing_timestamps(void)
{
	/* connect refused: connect() issued, never established */
	struct phases_stamps s = { .connect_ns = MS(1.0) };
	CHECK_TIMES(&s, 0, 0, 0, 0, 0, 0, 0);
	/* TLS failed: established, never ready; the library's ClientHello-time bytes never flowed */
	s = (struct phases_stamps){ .connect_ns = MS(1.0), .established_ns = MS(1.1), .tls = 1 };
	phase(&s, SETUP, MS(1.05), 0, 0);
	CHECK_TIMES(&s, 100, 0, 0, 0, 0, 0, 100);
	/* no connect stamp, established at 3 ms; data from 2 to 4 ms counts whole */
	s = (struct phases_stamps){ .established_ns = MS(3.0) };
	phase(&s, DATA, MS(2.0), MS(4.0), 0);
	CHECK_TIMES(&s, 0, 0, 0, 2000, 0, 0, 2000);
}

/* CLOCK_MONOTONIC stamps: equal ones, an end before its start (a phase
 * whose bytes all came before the connection was ready), sub-microsecond
 * spans (each truncated), and values near the top of the range. */
static void test_clock_edges(void)
{
	struct phases_stamps s = { .connect_ns = MS(1.0), .established_ns = MS(1.0), .ready_ns = MS(1.0) };
	phase(&s, DATA, MS(1.0), MS(1.0), MS(1.0));
	CHECK_TIMES(&s, 0, 0, 0, 0, 0, 0, 0);

	s = (struct phases_stamps){ .connect_ns = MS(1.0), .established_ns = MS(1.1), .ready_ns = MS(1.5), .tls = 1 };
	phase(&s, SETUP, MS(1.2), MS(1.2), MS(1.3)); /* ends before ready: 0, and no part of the union */
	CHECK_TIMES(&s, 100, 400, 0, 0, 0, 0, 500);

	s = (struct phases_stamps){ .connect_ns = 1, .established_ns = 1999, .ready_ns = 1999 };
	phase(&s, SETUP, 2000, 2000, 3999);
	phase(&s, DATA, 4000, 4000, 5999);
	CHECK_TIMES(&s, 1, 0, 1, 1, 0, 0, 3); /* 1998, 1999 and 1999 ns: 1 us each */

	const uint64_t top = UINT64_MAX - MS(10);
	s = (struct phases_stamps){ .connect_ns = top, .established_ns = top + MS(1), .ready_ns = top + MS(1) };
	phase(&s, DATA, top + MS(2), top + MS(2), UINT64_MAX);
	CHECK_TIMES(&s, 1000, 0, 0, 8000, 0, 0, 9000);
}

/* Without overlap the wire time is the sum of the phases. */
static void test_union_is_sum_without_overlap(void)
{
	struct phases_stamps s = plain_wake();
	s.tls = 1;
	s.ready_ns = MS(1.15);
	phase(&s, DOWNLINK, MS(2.02), MS(2.02), MS(2.08));
	int64_t t[PHASES_COUNT], sum = 0;
	int64_t wire = phases_times(&s, t);
	for (int p = 0; p < PHASES_COUNT; p++)
		sum += t[p];
	CHECK_INT_EQ(wire, sum);
	CHECK_INT_EQ(wire, 1210);
}

int main(void)
{
	RUN(test_no_connection);
	RUN(test_plain_wake);
	RUN(test_tls);
	RUN(test_written_before_ready);
	RUN(test_phase_without_bytes);
	RUN(test_overlapping_phases);
	RUN(test_server_bytes_only);
	RUN(test_last_byte_either_way);
	RUN(test_teardown_end);
	RUN(test_missing_timestamps);
	RUN(test_clock_edges);
	RUN(test_union_is_sum_without_overlap);
	return UNIT_EXIT();
}
