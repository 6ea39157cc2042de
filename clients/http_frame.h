/* http_frame.h: which phase each HTTP/1.1 message belongs to, for the modem.
 *
 * http_frame() is a modem_frame_fn (sim/core/phase.h). A message is its head up
 * to the blank line plus Content-Length bytes of body. Going up, a POST
 * (telemetry) is data and a GET (a command poll) downlink; a response does
 * not say which request it answers, but they come back in order (no
 * pipelining), so STATE (never NULL) queues the phase of each unanswered
 * request. A response is charged to the oldest one's phase; a 1xx leaves
 * it unanswered; 204 and 304 have no body. Chunked bodies, bodies up to
 * the close, other methods, a response with no request waiting and more
 * than 26 requests unanswered are -1. A head longer than MODEM_FRAME_MAX
 * stays 0 (the modem then stops framing the connection).
 */
#ifndef DORMANT_HTTP_FRAME_H
#define DORMANT_HTTP_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "phase.h"

int http_frame(int down, const unsigned char *p, size_t avail, size_t *len, enum phase *ph, uint32_t *state);

#endif
