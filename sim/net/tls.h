/* tls.h: the device's TLS, on mbedTLS, inside the modem.
 *
 * One TLS stack for every protocol, as on a constrained device whose modem
 * terminates TLS: TLS 1.2 only (Debian's mbedTLS 2.28 has no usable 1.3),
 * one pinned cipher suite per mode so ClientHellos are comparable, P-256
 * for ECDHE, server verification on by default.
 *
 * A profile is a variant's TLS set-up; it keeps each device's session
 * between wakes and offers it back (resume session-id or ticket). Each
 * wake's connection proves resumption from the handshake itself: the modem's
 * bytes pass through a record parser that reads the ClientHello's session
 * id, the ServerHello's, and which server messages came. A wake counts as
 * resumed only if the server echoed the offered session id AND sent no
 * Certificate message.
 *
 * Ownership: tls_profile_create/destroy (the profile must outlive its
 * connections); a connection's layer is freed by its close(). All on the
 * engine thread.
 */
#ifndef DORMANT_TLS_H
#define DORMANT_TLS_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "scenario.h"

struct pki;
struct tls_profile;
struct net_layer;
struct net_io;

/* What one wake's TLS did, for its row. */
struct tls_stats {
	int used;
	int offered;            /* a stored session was offered */
	int resumed;            /* proven: server echoed the session id, no Certificate message */
	int refused;            /* offered, but the server did a full handshake; or, resume ticket, it issued no ticket */
	char resumed_by[12];    /* "ticket" or "session-id" when resumed */
	int cert_msgs;          /* Certificate messages from the server */
	int tickets;            /* NewSessionTicket messages from the server */
	int sid_echo;           /* ServerHello session id equals the ClientHello's (non-empty) */
	uint64_t hs_cpu_ns;     /* CPU in the handshake */
	uint64_t cpu_ns;        /* CPU in all TLS calls of the wake */
	int64_t heap_peak;      /* high-water of the TLS context's heap; -1 unknown */
	int64_t session_bytes;  /* serialized size of the session the device keeps asleep; -1 none */
	char hs_server[48];     /* server handshake message types in order, e.g. "2/11/12/14" */
};

/* Builds V's TLS profile (NULL result with *ERR set on failure). NOTE gets a
 * one-line remark for the results when the set-up differs from what V asks
 * (resumption not offered on PSK). */
struct tls_profile *tls_profile_create(const struct scenario *sc, const struct variant *v, struct pki *pki,
                                       char *note, size_t notelen, char *err, size_t errlen);
void tls_profile_destroy(struct tls_profile *p);
const char *tls_profile_suite(const struct tls_profile *p);
enum resume_mode tls_profile_resume(const struct tls_profile *p);
/* DEVICE keeps no TLS session from now on: what a set-up connection before
 * the window stored is forgotten, so the window's first wake of the device
 * handshakes as it would have without the set-up. */
void tls_profile_forget_session(struct tls_profile *p, uint32_t device);
/* What the devices of P keep while they sleep: the bytes of each one's
 * record (*PER_DEVICE, every device has one) and of the sessions stored
 * now (*STORED of them, *BYTES in all, as serialized). */
void tls_profile_memory(const struct tls_profile *p, size_t *per_device, uint64_t *stored, uint64_t *bytes);
/* CPU spent building the profile (CA parse, device keys): first-use cost, reported apart. */
uint64_t tls_profile_init_ns(const struct tls_profile *p);

/* The TLS layer over BELOW (layer.h), for DEVICE with profile P: the
 * handshake is its connect() (charged to PHASE_TLS), records its write and
 * read; with CLOSE_NOTIFY its shutdown() sends a close_notify before the
 * layer below ends (else only TCP's FIN: an alert after MQTT's DISCONNECT
 * meets a socket mosquitto already closed, and draws a RST). Its report()
 * fills the wake's struct tls_stats. NULL with IO's err and detail set on
 * failure. It owns neither P nor BELOW. */
struct net_layer *net_tls_open(struct tls_profile *p, uint32_t device, int close_notify, struct net_layer *below,
                               struct net_io *io);

#endif
