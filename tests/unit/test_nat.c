/* test_nat.c: the operator's NAT of one flow (sim/core/nat.h): a flow idle
 * longer than the timeout is dropped both ways from then on, silently; a
 * new SYN makes a new mapping; timeout 0 never forgets. */
#include "nat.h"
#include "unit.h"

#define MS(x) ((uint64_t)(x) * 1000000u)

static void test_idle_forgets(void)
{
	struct nat_flow f = { 0 };
	uint64_t t = MS(1000), to = MS(1500);
	CHECK_INT_EQ(nat_pass(&f, t, to, 1), 1);            /* SYN */
	CHECK_INT_EQ(nat_pass(&f, t + MS(10), to, 0), 1);   /* SYN-ACK */
	CHECK_INT_EQ(nat_pass(&f, t + MS(1510), to, 0), 1); /* 1500 ms idle: exactly the timeout still passes */
	CHECK_INT_EQ(nat_pass(&f, t + MS(3011), to, 0), 0); /* 1501 ms idle: forgotten */
	CHECK_INT_EQ(f.dead, 1);
	/* every later packet of the flow, either way, however soon */
	CHECK_INT_EQ(nat_pass(&f, t + MS(3012), to, 0), 0);
	CHECK_INT_EQ(nat_pass(&f, t + MS(3013), to, 0), 0);
	/* a device's new SYN on the same 4-tuple: a new mapping */
	CHECK_INT_EQ(nat_pass(&f, t + MS(9000), to, 1), 1);
	CHECK_INT_EQ(nat_pass(&f, t + MS(9001), to, 0), 1);
	CHECK_INT_EQ(f.dead, 0);
}

static void test_traffic_keeps_it(void)
{
	struct nat_flow f = { 0 };
	uint64_t to = MS(1000);
	/* a packet every 900 ms, for a minute: never idle past the timeout */
	for (uint64_t t = MS(1); t < MS(60000); t += MS(900))
		CHECK_INT_EQ(nat_pass(&f, t, to, 0), 1);
	/* the first packet of a flow passes whatever the clock */
	struct nat_flow g = { 0 };
	CHECK_INT_EQ(nat_pass(&g, MS(999999), to, 0), 1);
}

static void test_no_timeout(void)
{
	struct nat_flow f = { 0 };
	CHECK_INT_EQ(nat_pass(&f, MS(1), 0, 1), 1);
	CHECK_INT_EQ(nat_pass(&f, MS(1) + MS(86400000), 0, 0), 1);
	CHECK_INT_EQ(f.dead, 0);
}

int main(void)
{
	RUN(test_idle_forgets);
	RUN(test_traffic_keeps_it);
	RUN(test_no_timeout);
	return UNIT_EXIT();
}
