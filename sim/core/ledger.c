/* ledger.c: message and command receipts (see ledger.h). */
#include <string.h>

#include "ledger.h"

int ledger_receipt(struct msg_table *t, const void *payload, size_t len, uint64_t recv_ns)
{
	struct msg_header h;
	const unsigned char *p = payload;
	/* The header starts the payload; a broker that bridges protocols may hand
	 * over the AMQP-encoded message (sections around the data), so look a
	 * little further for it. */
	size_t off = 0;
	uint32_t magic = MSG_MAGIC;
	while (off + sizeof(h) <= len && off < 64 && memcmp(p + off, &magic, sizeof(magic)) != 0)
		off++;
	if (off + sizeof(h) > len)
		return -1;
	memcpy(&h, p + off, sizeof(h));
	if (h.magic != MSG_MAGIC || h.index >= t->n)
		return -1;
	struct msg_rec *m = &t->r[h.index];
	if (__atomic_load_n(&m->send_ns, __ATOMIC_ACQUIRE) != h.send_ns || m->device != h.device || m->seq != h.seq)
		return -1;
	if (__atomic_fetch_add(&m->recv_count, 1, __ATOMIC_ACQ_REL) == 0)
		__atomic_store_n(&m->recv_ns, recv_ns, __ATOMIC_RELEASE);
	return 0;
}

int ledger_command(struct cmd_table *t, uint32_t device, const void *p, size_t len, uint64_t now_ns,
                   uint64_t *waited_ns)
{
	struct cmd_header h;
	if (len != CMD_BYTES)
		return -1;
	memcpy(&h, p, sizeof(h));
	if (h.magic != CMD_MAGIC || h.tag != t->tag || h.index >= t->n || h.device != device ||
	    t->r[h.index].device != device)
		return -1;
	struct cmd_rec *c = &t->r[h.index];
	if (__atomic_fetch_add(&c->recv_count, 1, __ATOMIC_ACQ_REL) == 0)
		__atomic_store_n(&c->recv_ns, now_ns, __ATOMIC_RELEASE);
	*waited_ns = now_ns > h.issue_ns ? now_ns - h.issue_ns : 0;
	return 0;
}

enum cmd_fate ledger_command_fate(const struct cmd_rec *c, uint64_t session_ns, uint64_t last_wake_ns)
{
	if (!c->issue_ns)
		return CMD_NOT_SENT;
	if (__atomic_load_n(&c->recv_count, __ATOMIC_ACQUIRE))
		return CMD_DELIVERED;
	/* Issued before the SUBACK came: the broker routed it before it held the
	 * subscription (a command routed after it would be queued). */
	if (!session_ns || c->issue_ns < session_ns)
		return CMD_DROPPED;
	return c->issue_ns >= last_wake_ns ? CMD_PENDING_AFTER_LAST : CMD_PENDING_MISSED;
}
