/* nat.h: the operator's NAT (or stateful firewall) as a link sees it, for
 * one flow: pure, so tests/unit/test_nat.c checks it alone and the link
 * emulator (sim/net/linkemu.c) applies it per TCP connection.
 *
 * A NAT keeps a flow's mapping while packets cross it; after TIMEOUT with
 * no packet either way it forgets the mapping, silently: from then on every
 * packet of the flow, in either direction, is dropped (nothing tells either
 * end). A new SYN from the device (a new connection, even on the same
 * 4-tuple) makes a new mapping. Timeout 0: no NAT timeout.
 */
#ifndef DORMANT_NAT_H
#define DORMANT_NAT_H

#include <stdint.h>

struct nat_flow {
	uint64_t last_ns;   /* the last packet that crossed; 0: none yet */
	int dead;           /* the mapping was forgotten */
};

/* A packet of flow F at NOW_NS (SYN: a device's SYN without ACK). Returns
 * 1 if it crosses, 0 if the NAT drops it. */
static inline int nat_pass(struct nat_flow *f, uint64_t now_ns, uint64_t timeout_ns, int syn)
{
	if (!timeout_ns)
		return 1;
	if (f->dead && syn)
		f->dead = 0; /* a new mapping */
	else if (!f->dead && f->last_ns && now_ns > f->last_ns && now_ns - f->last_ns > timeout_ns)
		f->dead = 1;
	if (f->dead)
		return 0;
	f->last_ns = now_ns;
	return 1;
}

#endif
