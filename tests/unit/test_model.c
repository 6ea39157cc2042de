/* test_model.c: the analytic wake model (sim/core/model.h) on hand-computed
 * traces, and packets.csv rows formatted and parsed back (sim/core/trace.h). */
#include <math.h>
#include <stdlib.h>

#include "model.h"
#include "trace.h"
#include "unit.h"

#define CHECK_NEAR(a, b, eps)                                                        \
	do {                                                                         \
		double a_ = (a), b_ = (b);                                           \
		if (!(fabs(a_ - b_) <= (eps)))                                       \
			UNIT_FAIL_("CHECK_NEAR(%s, %s) failed: %.9g != %.9g (eps %g)", \
			           #a, #b, a_, b_, (double)(eps));                   \
	} while (0)

#define EPS 1e-6

/* A TCP handshake and an MQTT CONNECT on a link of 10 ms each way at
 * 100 kbit/s both ways (80 us per byte), worked by hand:
 *   SYN      up   60 B: device starts it at 1000, air 4800 -> 5800; at the server 15800
 *   SYN-ACK  down 60 B: the server answers at once: device air [25800, 30600]
 *   ACK      up   52 B: the device 200 us later: [30800, 34960]
 *   CONNECT  up  100 B: right behind it: [34960, 42960]; at the server 52960
 *   CONNACK  down 56 B: the server 500 us later, 53460: device air [63460, 67940]
 *   the wake ends 300 us after: 68240. Host time 1000 + 0 + 200 + 500 + 300 = 2000 us. */
#define SYN 0x02
#define ACK 0x10
#define PSH 0x08
static const struct trace_packet connect_trace[] = {
	{ 1000, 4800, 1, 60, 0, SYN, 1 },         { 25800, 4800, 0, 60, 0, SYN | ACK, 1 },
	{ 30800, 4160, 1, 52, 0, ACK, 0 },        { 34960, 8000, 1, 100, 0, PSH | ACK, 1 },
	{ 63460, 4480, 0, 56, 0, PSH | ACK, 1 },
};
#define NCONNECT (sizeof(connect_trace) / sizeof(connect_trace[0]))

static struct link_profile link_of(double delay_ms, double up_kbps, double down_kbps)
{
	struct link_profile p = { .name = "hand" };
	p.delay_ms_min = p.delay_ms_max = delay_ms;
	p.up_kbps = up_kbps;
	p.down_kbps = down_kbps;
	p.attach_ms = 1000;
	p.attach_mj = 500;
	p.tx_mw = 800;
	p.rx_mw = 200;
	p.idle_mw = 20;
	p.tail_ms = 5000;
	p.tail_mw = 10;
	return p;
}

/* On its own link the model gives the trace back. */
static void test_same_link(void)
{
	struct model_source src = { connect_trace, NCONNECT, 10, 68.24, 0 };
	struct link_profile p = link_of(10, 100, 100);
	struct radio_burst air[NCONNECT];
	struct model_result r;
	CHECK_INT_EQ(model_flights(&src), 4);
	model_predict(&src, &p, 10, air, &r);
	CHECK_INT_EQ(r.flights, 4);
	CHECK_INT_EQ(r.packets, 5);
	CHECK_NEAR(r.wake_ms, 68.24, EPS);
	CHECK_NEAR(r.host_ms, 2.0, EPS);
	CHECK_NEAR(r.air_up_ms, (60 + 52 + 100) * 0.08, EPS);
	CHECK_NEAR(r.air_down_ms, (60 + 56) * 0.08, EPS);
	/* the bursts are the trace's, one attach (1 s) later */
	for (size_t i = 0; i < NCONNECT; i++) {
		CHECK_U64_EQ(air[i].start_us, 1000000 + (uint64_t)connect_trace[i].offset_us);
		CHECK_U64_EQ(air[i].end_us, 1000000 + (uint64_t)(connect_trace[i].offset_us + connect_trace[i].air_us));
		CHECK_INT_EQ(air[i].up, connect_trace[i].up);
	}
}

/* The same wake on 100 ms each way, 10 kbit/s up (800 us/B), 20 down (400 us/B):
 *   SYN      ready 1000, air 48000: [1000, 49000]; at the server 149000
 *   SYN-ACK  ready 149000, air 24000: server [149000, 173000], device [249000, 273000]
 *   ACK      ready 273200, air 41600: [273200, 314800]
 *   CONNECT  ready 273200 + 4160 = 277360, link busy until 314800: [314800, 394800]; at the server 494800
 *   CONNACK  ready 495300, air 22400: device [595300, 617700]
 *   wake = 617700 + 300 = 618000 us.
 * Energy: attach 500 mJ; connected from the attach's end to 617.7 ms after it,
 * TX 169.6 ms, RX 46.4 ms, idle 617.7 - 216 = 401.7 ms; tail 5 s at 10 mW:
 *   500 + (800 * 169.6 + 200 * 46.4 + 20 * 401.7 + 10 * 5000) / 1000 = 702.994 mJ. */
static void test_slow_link(void)
{
	struct model_source src = { connect_trace, NCONNECT, 10, 68.24, 0 };
	struct link_profile p = link_of(100, 10, 20);
	struct radio_burst air[NCONNECT];
	struct model_result r;
	model_predict(&src, &p, 100, air, &r);
	CHECK_NEAR(r.wake_ms, 618.0, EPS);
	CHECK_NEAR(r.air_up_ms, 169.6, EPS);
	CHECK_NEAR(r.air_down_ms, 46.4, EPS);
	CHECK_U64_EQ(air[3].start_us, 1000000 + 314800);
	CHECK_U64_EQ(air[4].start_us, 1000000 + 595300);
	CHECK_U64_EQ(air[4].end_us, 1000000 + 617700);
	CHECK_INT_EQ(r.energy.attaches, 1);
	CHECK_NEAR(r.energy.tx_ms, 169.6, EPS);
	CHECK_NEAR(r.energy.rx_ms, 46.4, EPS);
	CHECK_NEAR(r.energy.idle_ms, 401.7, EPS);
	CHECK_NEAR(r.energy.tail_ms, 5000, EPS);
	CHECK_NEAR(r.energy.energy_mj, 702.994, 1e-6);
	CHECK_NEAR(r.active_ms, 618.0, EPS);
}

/* The run's wait after the last packet is the link's, not the device's: the
 * same wake measured with a 300 ms wait (t_wake 368.24 ms: the CONNACK
 * counted at 67.94 ms, 0.3 ms of host time, 300 ms) on the slow link above
 * with a 1000 B MTU: link_settle_ms = 2 * (2 * 100 + 800 + 400) + 300 = 3100 ms.
 *   active = 617.7 + 0.3 = 618.0 ms; wake = 618.0 + 3100 = 3718.0 ms. */
static void test_settle(void)
{
	struct model_source src = { connect_trace, NCONNECT, 10, 368.24, 300 };
	struct link_profile p = link_of(100, 10, 20);
	p.mtu = 1000;
	CHECK_NEAR(link_settle_ms(&p), 3100, EPS);
	struct radio_burst air[NCONNECT];
	struct model_result r;
	model_predict(&src, &p, 100, air, &r);
	CHECK_NEAR(r.active_ms, 618.0, EPS);
	CHECK_NEAR(r.wake_ms, 3718.0, EPS);
	CHECK_NEAR(r.host_ms, 2.0, EPS);
}

/* Lost packets are left out; the host's time after the last packet is kept.
 * Source: 1 ms each way, no wait after the last packet.
 *   up   100 B at 0, air 10                 (end 10, at the server 1010)
 *   down 100 B at 2500, air 10: server gap 2500 - 1000 - 1010 = 490
 *   down 100 B at 2600, lost
 *   up    52 B at 2800, air 5: device gap 2800 - 2510 = 290; counted at
 *        2800 (its start), the wake ends 3 us later
 * Target: 50 ms each way, no rate limit (zero air time):
 *   up [0, 0], at the server 50000; down ready 50490, device 100490;
 *   up ready 100780. wake = 100780 + 3 = 100783 us; host 490 + 290 + 3.
 * Energy on a link with no attach: connected idle 0..100.78 ms at 10 mW,
 * no tail: 1.0078 mJ. */
static void test_lost_and_late(void)
{
	static const struct trace_packet t[] = {
		{ 0, 10, 1, 100, 0, PSH | ACK, 1 },   { 2500, 10, 0, 100, 0, PSH | ACK, 1 },
		{ 2600, 10, 0, 100, 1, PSH | ACK, 1 }, { 2800, 5, 1, 52, 0, ACK, 0 },
	};
	struct model_source src = { t, 4, 1, 2.803, 0 };
	struct link_profile p = { .name = "free", .delay_ms_min = 50, .delay_ms_max = 50, .tx_mw = 100,
	                          .rx_mw = 50, .idle_mw = 10 };
	struct radio_burst air[4];
	struct model_result r;
	CHECK_INT_EQ(model_flights(&src), 3);
	model_predict(&src, &p, 50, air, &r);
	CHECK_INT_EQ(r.packets, 3);
	CHECK_INT_EQ(r.flights, 3);
	CHECK_NEAR(r.wake_ms, 100.783, EPS);
	CHECK_NEAR(r.host_ms, 0.783, EPS);
	CHECK_U64_EQ(air[2].start_us, 100780);
	CHECK_NEAR(r.energy.idle_ms, 100.78, EPS);
	CHECK_NEAR(r.energy.energy_mj, 1.0078, EPS);
}

/* A packet sent before anything of the other direction reached its sender
 * waits for nothing; an empty trace keeps the wake's duration. */
static void test_edges(void)
{
	static const struct trace_packet t[] = { { 0, 100, 1, 60, 0, SYN, 1 }, { 1500, 100, 0, 60, 0, SYN | ACK, 1 } };
	/* the server started the downlink packet at 1500 - 1000 = 500, before the
	 * uplink one reached it (1100): no cause, ready at 500 on the target too */
	struct model_source src = { t, 2, 1, 1.6, 0 };
	struct link_profile p = { .name = "x", .delay_ms_min = 2, .delay_ms_max = 2 };
	struct radio_burst air[2];
	struct model_result r;
	model_predict(&src, &p, 2, air, &r);
	CHECK_NEAR(r.host_ms, 0.5, EPS);
	CHECK_NEAR(r.wake_ms, 2.5, EPS); /* down started at 500, at the device 2000 later, nothing after */
	struct model_source none = { t, 0, 1, 12.5, 0 };
	model_predict(&none, &p, 2, air, &r);
	CHECK_INT_EQ(r.packets, 0);
	CHECK_NEAR(r.wake_ms, 12.5, EPS);
}

/* A bare ACK is never a cause. Source 1 ms each way, no air time:
 *   up   D1 data at 0, at the server 1000
 *   down R1 data at 2000 (the server at once)
 *   up   A  bare ACK at 2100, at the server 3100
 *   down R2 data at 9000: the server sent it at 8000, after A arrived, but A
 *        asks for nothing: its cause is D1 (at 1000), 7000 us of server time
 * Target 100 ms each way: D1 at 0, at the server 100000; R1 at the device
 * 200000; R2 ready 107000, at the device 207000; A at 200100. The wake ends
 * with R2: 207 ms (with A as its cause it would be 300100 + 4900 + 100000). */
static void test_bare_ack(void)
{
	static const struct trace_packet t[] = {
		{ 0, 0, 1, 100, 0, PSH | ACK, 1 },   { 2000, 0, 0, 100, 0, PSH | ACK, 1 },
		{ 2100, 0, 1, 52, 0, ACK, 0 },       { 9000, 0, 0, 100, 0, PSH | ACK, 1 },
	};
	struct model_source src = { t, 4, 1, 9.0, 0 };
	struct link_profile p = { .name = "x", .delay_ms_min = 100, .delay_ms_max = 100 };
	struct radio_burst air[4];
	struct model_result r;
	model_predict(&src, &p, 100, air, &r);
	CHECK_NEAR(r.wake_ms, 207.0, EPS);
	CHECK_INT_EQ(r.flights, 4);
}

/* packets.csv: a wake's rows formatted, split and parsed back. */
static void test_trace_rows(void)
{
	struct column_buf b = { 0 };
	CHECK_INT_EQ(trace_format_header(&b), 0);
	CHECK_STR_EQ(b.p, "variant,device,seq,offset_us,air_us,dir,ip_bytes,lost,flags,data,delay_us,settle_us\n");
	struct trace_wake w = { "mqtt, qos=1", 7, 3, 200000, 1200000 };
	static const struct trace_packet t[] = { { 12, 4800, 1, 60, 0, SYN, 1 }, { 400100, 9600, 0, 1500, 1, PSH | ACK, 1 } };
	CHECK_INT_EQ(trace_format_rows(&w, t, 2, &b), 0);
	CHECK_STR_EQ(b.p, "\"mqtt, qos=1\",7,3,12,4800,up,60,0,S,1,200000,1200000\n"
	                  "\"mqtt, qos=1\",7,3,400100,9600,down,1500,1,PA,1,200000,1200000\n");
	char hdr[] = "variant,device,seq,offset_us,air_us,dir,ip_bytes,lost,flags,data,delay_us,settle_us,later";
	char *f[16];
	int map[16], nf = columns_split(hdr, f, 16);
	const char *missing = NULL;
	CHECK_INT_EQ(trace_map_header(f, nf, map, &missing), 0);
	CHECK_INT_EQ(map[12], -1);
	char *line = b.p + strlen("\"mqtt, qos=1\",7,3,12,4800,up,60,0,S,1,200000,1200000\n");
	line[strlen(line) - 1] = 0;
	nf = columns_split(line, f, 16);
	struct trace_wake rw;
	struct trace_packet rp;
	CHECK_INT_EQ(trace_parse_row(f, nf, map, &rw, &rp), 0);
	CHECK_STR_EQ(rw.variant, "mqtt, qos=1");
	CHECK_INT_EQ(rw.device, 7);
	CHECK_INT_EQ(rw.seq, 3);
	CHECK_INT_EQ(rw.delay_us, 200000);
	CHECK_INT_EQ(rw.settle_us, 1200000);
	CHECK_INT_EQ(rp.offset_us, 400100);
	CHECK_INT_EQ(rp.air_us, 9600);
	CHECK_INT_EQ(rp.up, 0);
	CHECK_INT_EQ(rp.bytes, 1500);
	CHECK_INT_EQ(rp.lost, 1);
	CHECK_INT_EQ(rp.tcp_flags, PSH | ACK);
	CHECK_INT_EQ(rp.data, 1);
	char bad[] = "v,1,2,3,4,sideways,5,0,A,0,6,7";
	nf = columns_split(bad, f, 16);
	CHECK_INT_EQ(trace_parse_row(f, nf, map, &rw, &rp), -1);
	char short_hdr[] = "variant,device,seq";
	nf = columns_split(short_hdr, f, 16);
	CHECK_INT_EQ(trace_map_header(f, nf, map, &missing), -1);
	CHECK_STR_EQ(missing, "offset_us");
	column_buf_free(&b);
}

int main(void)
{
	RUN(test_same_link);
	RUN(test_slow_link);
	RUN(test_settle);
	RUN(test_lost_and_late);
	RUN(test_edges);
	RUN(test_bare_ack);
	RUN(test_trace_rows);
	return UNIT_EXIT();
}
