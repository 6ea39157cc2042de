/* test_receipts.c: message and command receipts (sim/core/ledger.c): what
 * the backend counts as ours, once or as a duplicate, and what it refuses
 * as foreign; what a device counts as one of its commands. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ledger.h"
#include "unit.h"

/* A table of N messages, message I sent by device 10+I at wake I with send time 1000+I. */
static struct msg_rec recs[4];
static struct msg_table table = { .n = 4, .r = recs };

static void setup(void)
{
	memset(recs, 0, sizeof(recs));
	for (uint32_t i = 0; i < table.n; i++) {
		recs[i].device = 10 + i;
		recs[i].seq = i;
		recs[i].send_ns = 1000 + i;
	}
}

/* The payload message I would carry, LEN bytes, with the header at OFF. */
static size_t payload(unsigned char *buf, size_t len, size_t off, uint32_t i)
{
	struct msg_header h = { .magic = MSG_MAGIC, .index = i, .device = 10 + i, .seq = i, .send_ns = 1000 + i };
	memset(buf, 0xa5, len);
	memcpy(buf + off, &h, sizeof(h));
	return len;
}

static void receipt_once_then_duplicate(void)
{
	setup();
	unsigned char p[48];
	CHECK_INT_EQ(ledger_receipt(&table, p, payload(p, sizeof(p), 0, 2), 5000), 0);
	CHECK_U64_EQ(recs[2].recv_ns, 5000);
	CHECK_INT_EQ(recs[2].recv_count, 1);
	/* The second receipt counts as a duplicate and keeps the first time. */
	CHECK_INT_EQ(ledger_receipt(&table, p, sizeof(p), 7000), 0);
	CHECK_U64_EQ(recs[2].recv_ns, 5000);
	CHECK_INT_EQ(recs[2].recv_count, 2);
	/* Others are untouched. */
	CHECK_INT_EQ(recs[1].recv_count, 0);
	CHECK_U64_EQ(recs[1].recv_ns, 0);
}

static void receipt_header_inside_a_bridged_message(void)
{
	setup();
	unsigned char p[128];
	/* A broker that bridges AMQP to MQTT hands over the encoded message: sections before the data. */
	CHECK_INT_EQ(ledger_receipt(&table, p, payload(p, sizeof(p), 17, 1), 42), 0);
	CHECK_INT_EQ(recs[1].recv_count, 1);
	/* The search stops at 64 bytes: a header further in is not ours. */
	CHECK_INT_EQ(ledger_receipt(&table, p, payload(p, sizeof(p), 65, 3), 42), -1);
	CHECK_INT_EQ(recs[3].recv_count, 0);
}

static void receipt_refuses_foreign(void)
{
	setup();
	unsigned char p[48];
	struct msg_header h;
	/* Too short for a header. */
	payload(p, sizeof(p), 0, 0);
	CHECK_INT_EQ(ledger_receipt(&table, p, sizeof(h) - 1, 1), -1);
	/* No magic anywhere. */
	memset(p, 0, sizeof(p));
	CHECK_INT_EQ(ledger_receipt(&table, p, sizeof(p), 1), -1);
	/* An index past the table (a message of a larger, earlier variant). */
	payload(p, sizeof(p), 0, 0);
	memcpy(&h, p, sizeof(h));
	h.index = table.n;
	memcpy(p, &h, sizeof(h));
	CHECK_INT_EQ(ledger_receipt(&table, p, sizeof(p), 1), -1);
	/* Same index, other send time, device or seq: an earlier variant's message left queued. */
	static const size_t fields[] = { offsetof(struct msg_header, send_ns), offsetof(struct msg_header, device),
		                         offsetof(struct msg_header, seq) };
	for (size_t f = 0; f < sizeof(fields) / sizeof(fields[0]); f++) {
		payload(p, sizeof(p), 0, 0);
		p[fields[f]] ^= 1;
		CHECK_INT_EQ(ledger_receipt(&table, p, sizeof(p), 1), -1);
	}
	/* A message not sent yet (no send time stamped) is not ours either. */
	recs[0].send_ns = 0;
	payload(p, sizeof(p), 0, 0);
	CHECK_INT_EQ(ledger_receipt(&table, p, sizeof(p), 1), -1);
	for (uint32_t i = 0; i < table.n; i++)
		CHECK_INT_EQ(recs[i].recv_count, 0);
}

static void command_receipt(void)
{
	struct cmd_rec c[3] = { { .device = 4 }, { .device = 5 }, { .device = 4 } };
	struct cmd_table t = { .n = 3, .tag = 0x77, .r = c };
	struct cmd_header h = { .magic = CMD_MAGIC, .index = 1, .device = 5, .tag = 0x77, .issue_ns = 100 };
	uint64_t waited = 0;
	CHECK_INT_EQ(ledger_command(&t, 5, &h, sizeof(h), 350, &waited), 0);
	CHECK_U64_EQ(waited, 250);
	CHECK_INT_EQ(c[1].recv_count, 1);
	CHECK_U64_EQ(c[1].recv_ns, 350);
	/* Delivered again: a duplicate, the first receipt kept. */
	CHECK_INT_EQ(ledger_command(&t, 5, &h, sizeof(h), 900, &waited), 0);
	CHECK_INT_EQ(c[1].recv_count, 2);
	CHECK_U64_EQ(c[1].recv_ns, 350);
	/* A clock that went backwards never gives a negative wait. */
	CHECK_INT_EQ(ledger_command(&t, 5, &h, sizeof(h), 50, &waited), 0);
	CHECK_U64_EQ(waited, 0);
	/* Another device's command, another variant's tag, a bad size or magic, an index past the table. */
	CHECK_INT_EQ(ledger_command(&t, 4, &h, sizeof(h), 350, &waited), -1);
	struct cmd_header x = h;
	x.tag = 0x78;
	CHECK_INT_EQ(ledger_command(&t, 5, &x, sizeof(x), 350, &waited), -1);
	CHECK_INT_EQ(ledger_command(&t, 5, &h, sizeof(h) - 1, 350, &waited), -1);
	x = h;
	x.magic = MSG_MAGIC;
	CHECK_INT_EQ(ledger_command(&t, 5, &x, sizeof(x), 350, &waited), -1);
	x = h;
	x.index = 3;
	CHECK_INT_EQ(ledger_command(&t, 5, &x, sizeof(x), 350, &waited), -1);
	/* A header naming device 5 for an entry the table gave to device 4. */
	x = h;
	x.index = 2;
	CHECK_INT_EQ(ledger_command(&t, 5, &x, sizeof(x), 350, &waited), -1);
	CHECK_INT_EQ(c[0].recv_count, 0);
	CHECK_INT_EQ(c[2].recv_count, 0);
}

int main(void)
{
	RUN(receipt_once_then_duplicate);
	RUN(receipt_header_inside_a_bridged_message);
	RUN(receipt_refuses_foreign);
	RUN(command_receipt);
	return UNIT_EXIT();
}
