/* test_energy.c: the radio state machine on hand-computed timelines, and the
 * battery arithmetic against 3GPP TR 45.820's assumptions. */
#include <math.h>

#include "energy.h"
#include "unit.h"

#define CHECK_NEAR(a, b, eps)                                                        \
	do {                                                                         \
		double a_ = (a), b_ = (b);                                           \
		if (!(fabs(a_ - b_) <= (eps)))                                       \
			UNIT_FAIL_("CHECK_NEAR(%s, %s) failed: %.9g != %.9g (eps %g)", \
			           #a, #b, a_, b_, (double)(eps));                   \
	} while (0)

/* Exact in binary except where noted, so most checks allow only rounding. */
#define EPS 1e-9
#define S(x) ((uint64_t)((x) * 1e6)) /* seconds to microseconds, for readable timelines */

/* Round figures, so the arithmetic below is done by hand. */
static struct link_profile hand(void)
{
	struct link_profile p = { .name = "hand" };
	p.attach_ms = 1000;
	p.attach_mj = 500;
	p.tx_mw = 800;
	p.rx_mw = 200;
	p.idle_mw = 20;
	p.tail_ms = 5000;
	p.tail_mw = 10;
	p.sleep_uw = 15;
	return p;
}

static void test_hand_timeline(void)
{
	struct link_profile p = hand();
	/* Wake at 0: attach [0, 1.0 s). Then
	 *   up   [1.00, 1.10)  100 ms TX
	 *   down [1.50, 1.55)   50 ms RX
	 *   up   [1.60, 1.62)   20 ms TX
	 *   down [1.61, 1.65)   overlaps the uplink 1.61-1.62: TX wins, RX 30 ms
	 * Connected 1.00-1.65 = 650 ms, of which on the air 100+50+50 = 200 ms:
	 *   tx = 100 + 20 = 120 ms, rx = 50 + 30 = 80 ms, idle = 650 - 200 = 450 ms
	 * tail 5000 ms. energy = 500 + (800*120 + 200*80 + 20*450 + 10*5000) / 1000
	 *                      = 500 + (96000 + 16000 + 9000 + 50000) / 1000 = 671 mJ
	 * radio on = 1000 + 120 + 80 + 450 + 5000 = 6650 ms. */
	const struct radio_burst b[] = {
		{ S(1.00), S(1.10), 1 },
		{ S(1.50), S(1.55), 0 },
		{ S(1.60), S(1.62), 1 },
		{ S(1.61), S(1.65), 0 },
	};
	struct energy_result r;
	energy_wake(&p, 0, b, 4, &r);
	CHECK_INT_EQ(r.attaches, 1);
	CHECK_NEAR(r.attach_ms, 1000, EPS);
	CHECK_NEAR(r.tx_ms, 120, EPS);
	CHECK_NEAR(r.rx_ms, 80, EPS);
	CHECK_NEAR(r.idle_ms, 450, EPS);
	CHECK_NEAR(r.tail_ms, 5000, EPS);
	CHECK_NEAR(r.released_ms, 0, EPS);
	CHECK_NEAR(r.radio_on_ms, 6650, EPS);
	CHECK_NEAR(r.span_ms, 6650, EPS);
	CHECK_NEAR(r.energy_mj, 671, 1e-9);

	/* The same wake at another origin gives the same figures. */
	struct radio_burst moved[4];
	for (int i = 0; i < 4; i++)
		moved[i] = (struct radio_burst){ b[i].start_us + S(1000), b[i].end_us + S(1000), b[i].up };
	struct energy_result r2;
	energy_wake(&p, S(1000), moved, 4, &r2);
	CHECK_NEAR(r2.energy_mj, r.energy_mj, EPS);
	CHECK_NEAR(r2.radio_on_ms, r.radio_on_ms, EPS);
}

static void test_overlap(void)
{
	struct link_profile p = hand();
	/* A downlink packet wholly inside an uplink one: all TX.
	 *   up [1.0, 1.3), down [1.1, 1.2): tx 300, rx 0, idle 0.
	 * Then a downlink one that starts inside the next uplink and outlasts it:
	 *   up [1.4, 1.5), down [1.45, 1.6): tx 100, rx 100, idle 1.3-1.4 = 100.
	 * energy = 500 + (800*400 + 200*100 + 20*100 + 10*5000)/1000 = 500 + 392 = 892 */
	const struct radio_burst b[] = {
		{ S(1.0), S(1.3), 1 },
		{ S(1.1), S(1.2), 0 },
		{ S(1.4), S(1.5), 1 },
		{ S(1.45), S(1.6), 0 },
	};
	struct energy_result r;
	energy_wake(&p, 0, b, 4, &r);
	CHECK_NEAR(r.tx_ms, 400, EPS);
	CHECK_NEAR(r.rx_ms, 100, EPS);
	CHECK_NEAR(r.idle_ms, 100, EPS);
	CHECK_NEAR(r.energy_mj, 892, 1e-9);
	/* A packet that starts during the attach counts as attach for that part:
	 * down [0.9, 1.1) gives 100 ms RX. */
	const struct radio_burst early[] = { { S(0.9), S(1.1), 0 } };
	energy_wake(&p, 0, early, 1, &r);
	CHECK_NEAR(r.rx_ms, 100, EPS);
	CHECK_NEAR(r.radio_on_ms, 1000 + 100 + 5000, EPS);
}

static void test_gap_reattach(void)
{
	struct link_profile p = hand();
	/* up [1.0, 1.1), then up [10.0, 10.1): a gap of 8.9 s > tail 5 s.
	 * The radio idles out: tail 5 s until 6.1 s, releases, sleeps until the
	 * attach that ends as the packet starts (9.0-10.0), sends.
	 *   attaches 2, attach 2000 ms, tx 200, idle 0, tail 2 x 5000,
	 *   released 9.0 - 6.1 = 2900 ms
	 *   energy = 2*500 + (800*200 + 10*10000)/1000 = 1000 + 260 = 1260 mJ
	 *   radio on = 2000 + 200 + 10000 = 12200 ms; span 15100 = 10.1 s + 5 s */
	const struct radio_burst b[] = { { S(1.0), S(1.1), 1 }, { S(10.0), S(10.1), 1 } };
	struct energy_result r;
	energy_wake(&p, 0, b, 2, &r);
	CHECK_INT_EQ(r.attaches, 2);
	CHECK_NEAR(r.attach_ms, 2000, EPS);
	CHECK_NEAR(r.tx_ms, 200, EPS);
	CHECK_NEAR(r.idle_ms, 0, EPS);
	CHECK_NEAR(r.tail_ms, 10000, EPS);
	CHECK_NEAR(r.released_ms, 2900, 1e-6);
	CHECK_NEAR(r.radio_on_ms, 12200, EPS);
	CHECK_NEAR(r.span_ms, 15100, 1e-6);
	CHECK_NEAR(r.energy_mj, 1260, 1e-9);

	/* A gap of exactly tail_ms keeps the radio connected: 1.1 -> 6.1 is idle. */
	const struct radio_burst edge[] = { { S(1.0), S(1.1), 1 }, { S(6.1), S(6.2), 1 } };
	energy_wake(&p, 0, edge, 2, &r);
	CHECK_INT_EQ(r.attaches, 1);
	CHECK_NEAR(r.idle_ms, 5000, 1e-6);
	CHECK_NEAR(r.tail_ms, 5000, EPS);

	/* Released at 6.1 s with the next packet at 6.5 s: less than attach_ms
	 * left, so the attach starts at the release (6.1-7.1) and covers the
	 * packet [6.5, 6.6) wholly: no second TX, no sleep. */
	const struct radio_burst late[] = { { S(1.0), S(1.1), 1 }, { S(6.5), S(6.6), 1 } };
	energy_wake(&p, 0, late, 2, &r);
	CHECK_INT_EQ(r.attaches, 2);
	CHECK_NEAR(r.tx_ms, 100, EPS);
	CHECK_NEAR(r.released_ms, 0, EPS);

	/* Ethernet-like: an attach that costs nothing never releases; the gap is idle. */
	struct link_profile e = hand();
	e.attach_ms = 0;
	e.attach_mj = 0;
	energy_wake(&e, 0, b, 2, &r);
	CHECK_INT_EQ(r.attaches, 1);
	CHECK_NEAR(r.idle_ms, 1000 + 8900, 1e-6); /* 0 -> 1.0 and 1.1 -> 10.0 */
}

static void test_release_assist(void)
{
	struct link_profile p = hand();
	p.release_assist = 1;
	/* The timeline of test_hand_timeline without its 5 s tail:
	 * energy 671 - 10*5000/1000 = 621 mJ, radio on 6650 - 5000 = 1650 ms. */
	const struct radio_burst b[] = {
		{ S(1.00), S(1.10), 1 },
		{ S(1.50), S(1.55), 0 },
		{ S(1.60), S(1.62), 1 },
		{ S(1.61), S(1.65), 0 },
	};
	struct energy_result r;
	energy_wake(&p, 0, b, 4, &r);
	CHECK_NEAR(r.tail_ms, 0, EPS);
	CHECK_NEAR(r.radio_on_ms, 1650, EPS);
	CHECK_NEAR(r.energy_mj, 621, 1e-9);
	/* A wake with no packet: attach, then release (or the tail without RAI). */
	energy_wake(&p, 0, NULL, 0, &r);
	CHECK_NEAR(r.radio_on_ms, 1000, EPS);
	CHECK_NEAR(r.energy_mj, 500, EPS);
	p.release_assist = 0;
	energy_wake(&p, 0, NULL, 0, &r);
	CHECK_NEAR(r.radio_on_ms, 6000, EPS);
	CHECK_NEAR(r.energy_mj, 550, EPS);
}

static void test_battery(void)
{
	/* 3GPP TR 45.820: 5 Wh, deep sleep 0.015 mW, nothing else:
	 * 5 Wh / 0.015 mW = 333,333 h = 13,888.9 days = 38.05 years of 365 days. */
	double y = energy_battery_years(5, 15, 0, 0, 0);
	CHECK_NEAR(y, 5.0 / 0.015e-3 / 24 / 365, 1e-9);
	CHECK_NEAR(y, 38.05, 0.005);
	/* A day of it: 0.015 mW x 86,400 s = 1296 mJ. */
	CHECK_NEAR(energy_day_mj(15, 0, 0, 0), 1296, 1e-9);

	/* Hourly wakes of test_hand_timeline (671 mJ, 6650 ms radio on):
	 * day = 24 x 671 + 0.015 mW x (86,400,000 - 24 x 6650) ms / 1000
	 *     = 16104 + 0.015 x 86,240,400 / 1000 = 16104 + 1293.606 = 17397.606 mJ
	 * years = 5 x 3.6e6 mJ / 17397.606 / 365 = 2.83459 */
	CHECK_NEAR(energy_day_mj(15, 671, 24, 6650), 17397.606, 1e-6);
	CHECK_NEAR(energy_battery_years(5, 15, 671, 24, 6650), 2.834589339, 1e-8);

	/* TR 45.820's transmit power alone: 500 mW all day empties 5 Wh in 10 h. */
	double day = energy_day_mj(0, 500.0 * 86400, 1, 86400e3);
	CHECK_NEAR(energy_battery_years(5, 0, 500.0 * 86400, 1, 86400e3) * 365 * 24, 10, 1e-9);
	CHECK_NEAR(day, 43.2e6, 1e-3);
	/* Nothing drawn: forever. */
	CHECK(isinf(energy_battery_years(5, 0, 0, 0, 0)));
}

/* A kept connection's period: its wake, then a keep-alive per keepalive of the sleep after it. */
static void test_kept_period(void)
{
	struct energy_kept k = { .wake_mj = 500, .wake_on_ms = 22000, .wake_s = 2.5, .ka_mj = 980, .ka_on_ms = 23000,
	                         .keepalive_s = 25 };
	double mj = -1, on = -1;
	/* 60 s: floor((60 - 2.5) / 25) = 2 keep-alives */
	CHECK_INT_EQ(energy_kept_period(&k, 300, 60, &mj, &on), 0);
	CHECK(mj == 500 + 2 * 980 && on == 22000 + 2 * 23000);
	/* 15 min: floor(897.5 / 25) = 35 */
	CHECK_INT_EQ(energy_kept_period(&k, 300, 900, &mj, &on), 0);
	CHECK(mj == 500 + 35 * 980.0);
	/* a period under keepalive + wake: none */
	CHECK_INT_EQ(energy_kept_period(&k, 300, 20, &mj, &on), 0);
	CHECK(mj == 500 && on == 22000);
	/* the NAT forgets the connection between keep-alives: not given past its timeout */
	k.keepalive_s = 400;
	CHECK_INT_EQ(energy_kept_period(&k, 300, 900, &mj, &on), -1);
	CHECK_INT_EQ(energy_kept_period(&k, 300, 200, &mj, &on), 0); /* within it: the wakes keep it fresh */
	CHECK_INT_EQ(energy_kept_period(&k, 0, 900, &mj, &on), 0);   /* no NAT timeout */
	CHECK(mj == 500 + 2 * 980.0);
	/* nothing measured */
	k.keepalive_s = 25;
	k.ka_mj = k.ka_on_ms = NAN;
	CHECK_INT_EQ(energy_kept_period(&k, 300, 900, &mj, &on), -1);
	CHECK_INT_EQ(energy_kept_period(&k, 300, 20, &mj, &on), 0);
	k.wake_mj = NAN;
	CHECK_INT_EQ(energy_kept_period(&k, 300, 20, &mj, &on), -1);

	/* commands pushed to the sleeping device: 24 a day, 10 s periods: 24 * 10 / 86400 a period at 80 mJ */
	struct energy_kept c = { .wake_mj = 100, .wake_on_ms = 300, .wake_s = 0.1, .ka_mj = NAN, .ka_on_ms = NAN,
	                         .keepalive_s = 60, .cmd_mj = 80, .cmd_on_ms = 240, .cmds_per_day = 24 };
	CHECK_INT_EQ(energy_kept_period(&c, 0, 10, &mj, &on), 0);
	CHECK_NEAR(mj, 100 + 24 * 10 / 86400.0 * 80, 1e-12);
	CHECK_NEAR(on, 300 + 24 * 10 / 86400.0 * 240, 1e-12);
	c.cmd_mj = NAN; /* commands come but none was measured: cannot be told */
	CHECK_INT_EQ(energy_kept_period(&c, 0, 10, &mj, &on), -1);
	c.cmds_per_day = 0;
	CHECK_INT_EQ(energy_kept_period(&c, 0, 10, &mj, &on), 0);
	CHECK(mj == 100);
}

int main(void)
{
	RUN(test_kept_period);
	RUN(test_hand_timeline);
	RUN(test_overlap);
	RUN(test_gap_reattach);
	RUN(test_release_assist);
	RUN(test_battery);
	return UNIT_EXIT();
}
