/* replay.h: wakes replayed from the bytes a protocol library produced (stack: replay).
 *
 * A variant with `stack: replay` runs the first wake of each fleet on the
 * real library, as any wake, while the modem records its exchange
 * (modem_tap_fn): every chunk of plaintext the library wrote, as the modem
 * read it, and how many of the server's packets the library had been
 * handed before it; and when it closed. replay_rec_finish() turns that
 * into a template: the library's packets, split by the protocol's framer,
 * with the fields that belong to a device or a wake found in them. Every
 * later wake of the fleet runs the template through the same modem, TLS
 * and accounting, on the engine thread with no library and no local hop
 * (the modem's direct interface, struct modem_lib), patching per wake:
 *
 *   MQTT: the client id and the topic ("dev<N>" in every length-prefixed
 *         string of CONNECT and PUBLISH, lengths re-encoded), the message
 *         payload (wake_message); packet ids as the library numbered them,
 *         since each wake's connection starts them anew.
 *   HTTP: "dev<N>" in each request head (its path), the bearer token
 *         (ingest_token), each POST body (wake_message); Content-Length is
 *         the payload's, the same for every wake of the fleet.
 *   AMQP: every frame re-encoded value by value with the same
 *         constructors: "dev<N>" in every string and symbol (the
 *         container id, the link name, the target address), the sizes of
 *         the lists around them and of the frame recomputed, the data
 *         section's binary the message payload; delivery ids and tags as
 *         proton numbered them (per connection, from 0).
 *
 * A chunk is what the modem wrote down the stack in one go for the library
 * (one TLS record). It is written once the server has sent as many
 * packets as the library had been handed when the modem sent it, so the
 * replay waits where the library waited and writes in the same pieces:
 * stream bytes come out as the library's. What the
 * library spent between packets (its threads, its polling) is not
 * replayed: a replayed wake's time and CPU are the replay's own, which is
 * the point (a fleet's scale on this machine).
 *
 * A server packet is read for what the device must know: MQTT CONNACK's
 * return code, PUBACK's packet id (the message acknowledged); an HTTP
 * response's status (a 2xx acknowledges the POST it answers); AMQP's SASL
 * outcome, a disposition (accepted settles the transfers it names), a
 * detach or close with an error. Anything else fails the wake as the
 * library would have.
 *
 * Built for per-wake connections without downlink (the scenario loader
 * refuses the rest): a recording cannot answer what a broker pushes.
 */
#ifndef DORMANT_REPLAY_H
#define DORMANT_REPLAY_H

#include <stddef.h>
#include <stdint.h>

#include "adapter.h"
#include "modem.h"

struct replay_rec;

/* A recording of device DEVICE's wake of protocol P (HTTP: SECRET is the
 * ingest's, for its token). NULL when out of memory. */
struct replay_rec *replay_rec_new(enum protocol p, uint32_t device, const unsigned char *secret, size_t secret_len);
void replay_rec_free(struct replay_rec *r);
/* The modem's tap (modem_open_args.tap, with the rec as its argument). */
void replay_tap(void *rec, enum modem_tap_event ev, const unsigned char *p, size_t n);
/* The recorded wake ended well with NMSG messages of PAYLOAD bytes each:
 * build the template. Returns 0, or -1 with WHY (what could not be
 * replayed, and why). */
int replay_rec_finish(struct replay_rec *r, uint32_t nmsg, uint32_t payload, char *why, size_t whylen);
/* Chunks and packets the template has, for the summary. */
void replay_rec_size(const struct replay_rec *r, uint32_t *chunks, uint32_t *packets_up, uint32_t *packets_down);

/* The adapter that replays: start() needs W->replay set to a finished
 * recording; the wake's modem connection is opened with REPLAY_LIB as its
 * direct library and the real adapter's framer and close_notify. */
extern const struct adapter_ops replay_adapter;
extern const struct modem_lib replay_lib;

#endif
