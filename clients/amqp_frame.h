/* amqp_frame.h: which phase each AMQP 1.0 frame belongs to, for the modem,
 * and enough of AMQP's type system to read an attach and a flow.
 *
 * amqp_frame() is a modem_frame_fn (sim/core/phase.h). A frame is a 4-byte
 * size, a data offset in 4-byte words, a type (0 AMQP, 1 SASL) and a
 * channel, then the performative's descriptor 0x00 0x53 <code>; the 8-byte
 * protocol headers ("AMQP" then 3 1 0 0 for SASL, 0 1 0 0 for AMQP) open a
 * connection. Protocol headers,
 * SASL frames, open and begin are setup; heartbeats (empty frames) data;
 * detach, end and close teardown. Attaches, flows, transfers and
 * dispositions are data or downlink by link: an attach whose role makes it
 * the commands link (ours as receiver, the broker's as sender) puts its
 * handle in STATE (bits 0-7 ours + 1, 8-15 the broker's + 1), and a flow
 * on that handle is downlink. Attaches and flows are read whole, so one
 * larger than MODEM_FRAME_MAX is -1, as is anything not AMQP 1.0.
 * STATE may be NULL (then no flow is downlink).
 */
#ifndef DORMANT_AMQP_FRAME_H
#define DORMANT_AMQP_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "phase.h"

int amqp_frame(int down, const unsigned char *p, size_t avail, size_t *len, enum phase *ph, uint32_t *state);

/* The big-endian 32-bit number at P. */
uint32_t amqp_be32(const unsigned char *p);
/* An unsigned integer at P (before END): 1 (in *V), 0 when null, -1 when something else. */
int amqp_uint_at(const unsigned char *p, const unsigned char *end, uint64_t *v);
/* Field I of the performative whose list starts at P (after the 0x00 0x53
 * <code> descriptor): its first byte, or NULL if the list has fewer fields. */
const unsigned char *amqp_field(const unsigned char *p, const unsigned char *end, unsigned i);
/* An attach's handle and role (1: receiver, 0: sender); -1 if unreadable. */
int amqp_attach_fields(const unsigned char *list, const unsigned char *end, uint64_t *handle);

#endif
