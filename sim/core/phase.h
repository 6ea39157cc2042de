/* phase.h: the phases of a wake, and the framer type that tells them apart.
 *
 * Every byte of a wake is charged to one phase. The modem (sim/net/modem.c)
 * accounts per phase; the protocols' framers (clients/mqtt_frame.c and the others) are pure
 * functions of the bytes that say which phase a packet belongs to, so they
 * and their tests need nothing of the runtime: this header is all they see.
 */
#ifndef DORMANT_PHASE_H
#define DORMANT_PHASE_H

#include <stddef.h>
#include <stdint.h>

enum phase {
	PHASE_TCP,       /* TCP handshake */
	PHASE_TLS,       /* TLS handshake (mbedTLS, sim/net/tls.c); empty without TLS */
	PHASE_SETUP,     /* protocol connection set-up: MQTT CONNECT/CONNACK */
	PHASE_DATA,      /* uplink messages and their acknowledgements */
	PHASE_DOWNLINK,  /* checking for / receiving a command */
	PHASE_TEARDOWN,  /* protocol close, TCP close */
	PHASE_COUNT
};
/* "tcp", "tls", ...; "?" for anything else. */
const char *phase_name(enum phase p);

/* A protocol's framer: P holds the first AVAIL bytes of a packet in one
 * direction (DOWN: server to library). Returns 1 and sets *LEN (the whole
 * packet, header included) and *PH (the phase it belongs to) once it can
 * tell, 0 if it needs more bytes (it is never given more than
 * MODEM_FRAME_MAX), -1 if the bytes are not its protocol. STATE is the
 * connection's, shared by both directions, 0 at first: HTTP keeps there
 * which phase each unanswered request was, since a response does not say. */
#define MODEM_FRAME_MAX 2048u
typedef int (*modem_frame_fn)(int down, const unsigned char *p, size_t avail, size_t *len, enum phase *ph,
                              uint32_t *state);

#endif
