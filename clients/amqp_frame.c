/* amqp_frame.c: the AMQP 1.0 framer and the little of AMQP's type system
 * it and clients/amqp.c read (see amqp_frame.h). Pure: no library, no
 * socket, so tests/unit/test_framers.c links it alone. */
#include "amqp_frame.h"

#include <string.h>

uint32_t amqp_be32(const unsigned char *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* The end of the encoded value at P, or NULL if it runs past END. */
static const unsigned char *value_end(const unsigned char *p, const unsigned char *end, int depth)
{
	if (p >= end || depth > 8)
		return NULL;
	unsigned c = *p++;
	size_t n;
	switch (c) {
	case 0x00: /* described: a descriptor, then the value */
		p = value_end(p, end, depth + 1);
		return p ? value_end(p, end, depth + 1) : NULL;
	case 0x40: case 0x41: case 0x42: case 0x43: case 0x44: case 0x45:
		return p;
	case 0x50: case 0x51: case 0x52: case 0x53: case 0x54: case 0x55: case 0x56:
		n = 1;
		break;
	case 0x60: case 0x61:
		n = 2;
		break;
	case 0x70: case 0x71: case 0x72: case 0x73:
		n = 4;
		break;
	case 0x80: case 0x81: case 0x82: case 0x83: case 0x84:
		n = 8;
		break;
	case 0x94: case 0x98:
		n = 16;
		break;
	case 0xa0: case 0xa1: case 0xa3: case 0xc0: case 0xc1: case 0xe0: /* one-byte size */
		if (p >= end)
			return NULL;
		n = 1 + (size_t)*p;
		break;
	case 0xb0: case 0xb1: case 0xb3: case 0xd0: case 0xd1: case 0xf0: /* four-byte size */
		if (end - p < 4)
			return NULL;
		n = 4 + (size_t)amqp_be32(p);
		break;
	default:
		return NULL;
	}
	return (size_t)(end - p) >= n ? p + n : NULL;
}

/* An unsigned integer at P: 1 (in *V), 0 when null, -1 when something else. */
int amqp_uint_at(const unsigned char *p, const unsigned char *end, uint64_t *v)
{
	if (p >= end)
		return -1;
	size_t left = (size_t)(end - p) - 1;
	switch (*p) {
	case 0x40: return 0;
	case 0x43: case 0x44: *v = 0; return 1;
	case 0x50: case 0x52: case 0x53: if (left < 1) return -1; *v = p[1]; return 1;
	case 0x60: if (left < 2) return -1; *v = ((uint64_t)p[1] << 8) | p[2]; return 1;
	case 0x70: if (left < 4) return -1; *v = amqp_be32(p + 1); return 1;
	case 0x80: if (left < 8) return -1; *v = ((uint64_t)amqp_be32(p + 1) << 32) | amqp_be32(p + 5); return 1;
	default: return -1;
	}
}

/* Field I of the performative whose list starts at P (after the 0x00 0x53 <code>
 * descriptor): its first byte, or NULL if the list has fewer fields. */
const unsigned char *amqp_field(const unsigned char *p, const unsigned char *end, unsigned i)
{
	if (p >= end)
		return NULL;
	uint32_t count;
	if (*p == 0x45)
		return NULL;
	if (*p == 0xc0 && end - p >= 3) {
		count = p[2];
		p += 3;
	} else if (*p == 0xd0 && end - p >= 9) {
		count = amqp_be32(p + 5);
		p += 9;
	} else {
		return NULL;
	}
	if (i >= count)
		return NULL;
	for (unsigned k = 0; k < i && p; k++)
		p = value_end(p, end, 0);
	return p && p < end ? p : NULL;
}

/* An attach's handle and role (1: receiver, 0: sender); -1 if unreadable. */
int amqp_attach_fields(const unsigned char *list, const unsigned char *end, uint64_t *handle)
{
	const unsigned char *h = amqp_field(list, end, 1), *r = amqp_field(list, end, 2);
	if (!h || !r || amqp_uint_at(h, end, handle) != 1)
		return -1;
	if (*r == 0x41 || (*r == 0x56 && r + 1 < end && r[1]))
		return 1;
	return *r == 0x42 || *r == 0x56 ? 0 : -1;
}

/* AMQP 1.0 frames: 4-byte size, data offset (4-byte words), type (0 AMQP,
 * 1 SASL), channel, then the performative's descriptor 0x00 0x53 <code>.
 * The 8-byte protocol headers ("AMQP" 3/0 1 0 0) open a connection. */
int amqp_frame(int down, const unsigned char *p, size_t avail, size_t *len, enum phase *ph, uint32_t *state)
{
	if (avail < 8)
		return 0;
	if (!memcmp(p, "AMQP", 4)) {
		*len = 8;
		*ph = PHASE_SETUP;
		return 1;
	}
	size_t size = amqp_be32(p);
	size_t doff = (size_t)p[4] * 4;
	if (size < 8 || doff < 8 || doff > size)
		return -1;
	*len = size;
	if (p[5] == 1) { /* SASL */
		*ph = PHASE_SETUP;
		return 1;
	}
	if (size == doff) { /* an empty frame: a heartbeat */
		*ph = PHASE_DATA;
		return 1;
	}
	if (avail < doff + 3)
		return doff + 3 > MODEM_FRAME_MAX ? -1 : 0;
	if (p[doff] != 0x00 || p[doff + 1] != 0x53)
		return -1;
	/* The commands link (downlink) is told from the telemetry link by the
	 * handles of its attaches, kept in STATE: bits 0-7 ours + 1, 8-15 the
	 * broker's + 1. Only commands come down in transfers, and only they get
	 * the device's dispositions. */
	const unsigned char *list = p + doff + 3, *end = p + size;
	uint64_t h;
	int shift = down ? 8 : 0;
	switch (p[doff + 2]) {
	case 0x10: case 0x11: /* open, begin */
		*ph = PHASE_SETUP;
		break;
	case 0x12: { /* attach: ours as receiver, or the broker's as sender, is the commands link */
		if (avail < size)
			return size > MODEM_FRAME_MAX ? -1 : 0;
		int role = amqp_attach_fields(list, end, &h);
		int cmd = role == (down ? 0 : 1);
		if (cmd && state && h < 255)
			*state = (*state & ~(0xffu << shift)) | (uint32_t)(h + 1) << shift;
		*ph = cmd ? PHASE_DOWNLINK : PHASE_SETUP;
		break;
	}
	case 0x13: { /* flow: on the commands link, asking for commands or saying how many wait */
		if (avail < size)
			return size > MODEM_FRAME_MAX ? -1 : 0;
		const unsigned char *hf = amqp_field(list, end, 4);
		uint32_t mine = state ? (*state >> shift) & 0xffu : 0;
		*ph = mine && hf && amqp_uint_at(hf, end, &h) == 1 && h + 1 == mine ? PHASE_DOWNLINK : PHASE_DATA;
		break;
	}
	case 0x14: /* transfer */
		*ph = down ? PHASE_DOWNLINK : PHASE_DATA;
		break;
	case 0x15: /* disposition */
		*ph = down ? PHASE_DATA : PHASE_DOWNLINK;
		break;
	case 0x16: case 0x17: case 0x18: /* detach, end, close */
		*ph = PHASE_TEARDOWN;
		break;
	default:
		return -1;
	}
	return 1;
}
