/* mqtt_frame.h: which phase each MQTT 3.1.1 packet belongs to, for the modem.
 *
 * mqtt_frame() is a modem_frame_fn (sim/core/phase.h): from the first AVAIL bytes
 * of a packet it tells its whole length (fixed header, 1-4 bytes of
 * remaining length, then that many bytes) and its phase: CONNECT and
 * CONNACK setup; PUBLISH data going up, downlink coming down; PUBACK to
 * PUBCOMP the other way round (the device acknowledges only commands);
 * (UN)SUBSCRIBE and their acks downlink; PINGREQ/PINGRESP data; DISCONNECT
 * teardown. It needs at most 5 bytes; packet type 0 or 15, or a remaining
 * length over 4 bytes, is -1. STATE is not used (may be NULL).
 * clients/mqtt.c's nudge endpoint splits its input with it too.
 */
#ifndef DORMANT_MQTT_FRAME_H
#define DORMANT_MQTT_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "phase.h"

int mqtt_frame(int down, const unsigned char *p, size_t avail, size_t *len, enum phase *ph, uint32_t *state);

#endif
