/* mqtt_frame.c: the MQTT 3.1.1 framer (see mqtt_frame.h). Pure: no
 * library, no socket, so tests/unit/test_framers.c links it alone. */
#include "mqtt_frame.h"

/* MQTT fixed header: type in the high nibble of byte 0, then the remaining
 * length in 1-4 bytes of 7 bits each. */
int mqtt_frame(int down, const unsigned char *p, size_t avail, size_t *len, enum phase *ph, uint32_t *state)
{
	if (avail < 2)
		return 0;
	size_t rl = 0, i = 1, mult = 1;
	for (;;) {
		if (i >= avail)
			return i > 4 ? -1 : 0;
		rl += (size_t)(p[i] & 0x7f) * mult;
		mult *= 128;
		if (!(p[i++] & 0x80))
			break;
		if (i > 4)
			return -1;
	}
	*len = i + rl;
	switch (p[0] >> 4) {
	case 1: case 2: /* CONNECT, CONNACK */
		*ph = PHASE_SETUP;
		break;
	case 3: /* PUBLISH: uplink telemetry, or a command coming down */
		*ph = down ? PHASE_DOWNLINK : PHASE_DATA;
		break;
	case 4: case 5: case 6: case 7: /* PUBACK, PUBREC, PUBREL, PUBCOMP */
		/* the device acknowledges only commands; the broker only telemetry */
		*ph = down ? PHASE_DATA : PHASE_DOWNLINK;
		break;
	case 8: case 9: case 10: case 11: /* (UN)SUBSCRIBE and acks: asking for commands */
		*ph = PHASE_DOWNLINK;
		break;
	case 12: case 13: /* PINGREQ, PINGRESP */
		*ph = PHASE_DATA;
		break;
	case 14: /* DISCONNECT */
		*ph = PHASE_TEARDOWN;
		break;
	default:
		return -1;
	}
	return 1;
}
