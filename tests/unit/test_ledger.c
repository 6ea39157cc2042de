/* test_ledger.c: command receipts and what became of each command
 * (sim/core/ledger.c): delivered, dropped for want of a session, pending. */
#include "ledger.h"
#include "unit.h"

static void test_command_receipt(void)
{
	struct cmd_rec r[2] = { { .device = 3 }, { .device = 4 } };
	struct cmd_table t = { .n = 2, .tag = 77, .r = r };
	struct cmd_header h = { .magic = CMD_MAGIC, .index = 0, .device = 3, .tag = 77, .issue_ns = 1000 };
	uint64_t waited = 0;
	CHECK_INT_EQ(ledger_command(&t, 3, &h, sizeof(h), 5000, &waited), 0);
	CHECK_U64_EQ(waited, 4000);
	CHECK_INT_EQ(r[0].recv_count, 1);
	CHECK_INT_EQ(ledger_command(&t, 3, &h, sizeof(h), 6000, &waited), 0);
	CHECK_INT_EQ(r[0].recv_count, 2);
	CHECK_U64_EQ(r[0].recv_ns, 5000); /* the first receipt stays */
	CHECK_INT_EQ(ledger_command(&t, 4, &h, sizeof(h), 6000, &waited), -1); /* not this device's */
	h.tag = 78;
	CHECK_INT_EQ(ledger_command(&t, 3, &h, sizeof(h), 6000, &waited), -1); /* an earlier variant's */
	h.tag = 77;
	CHECK_INT_EQ(ledger_command(&t, 3, &h, sizeof(h) - 1, 6000, &waited), -1);
}

static void test_command_fate(void)
{
	struct cmd_rec c = { .issue_ns = 0 };
	CHECK_INT_EQ(ledger_command_fate(&c, 10, 0), CMD_NOT_SENT);
	c.issue_ns = 100;
	/* no session ever: the broker dropped it */
	CHECK_INT_EQ(ledger_command_fate(&c, 0, 50), CMD_DROPPED);
	/* issued before the session began (the SUBACK), not delivered: dropped */
	CHECK_INT_EQ(ledger_command_fate(&c, 101, 50), CMD_DROPPED);
	/* issued at or after it: queued for the device */
	CHECK_INT_EQ(ledger_command_fate(&c, 100, 50), CMD_PENDING_AFTER_LAST);
	CHECK_INT_EQ(ledger_command_fate(&c, 1, 100), CMD_PENDING_AFTER_LAST);
	CHECK_INT_EQ(ledger_command_fate(&c, 1, 0), CMD_PENDING_AFTER_LAST);
	CHECK_INT_EQ(ledger_command_fate(&c, 1, 101), CMD_PENDING_MISSED);
	/* delivered wins over everything, even before the session (a race the broker won) */
	c.recv_count = 1;
	CHECK_INT_EQ(ledger_command_fate(&c, 0, 0), CMD_DELIVERED);
	CHECK_INT_EQ(ledger_command_fate(&c, 200, 0), CMD_DELIVERED);
}

int main(void)
{
	RUN(test_command_receipt);
	RUN(test_command_fate);
	return UNIT_EXIT();
}
