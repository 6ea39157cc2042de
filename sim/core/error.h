/* error.h: the one error enum of dormant.
 *
 * Two families share it: errors that stop the program (scenario, usage,
 * server start, I/O) and error kinds of a single wake, which are results and
 * end up in the error_kind column of wakes.csv. dormant_strerror() gives the
 * stable lower-case name used in files; the detail (errno, paho rc, ...) is
 * captured at the failure site into the wake's error_detail text.
 */
#ifndef DORMANT_ERROR_H
#define DORMANT_ERROR_H

enum dormant_err {
	ERR_OK = 0,
	/* program errors */
	ERR_USAGE,           /* bad command line */
	ERR_SCENARIO,        /* invalid scenario file */
	ERR_SERVER,          /* a server could not be started */
	ERR_IO,              /* results could not be written */
	ERR_NOMEM,
	ERR_INTERNAL,
	/* wake error kinds */
	ERR_CONNECT,         /* TCP connect to the server failed (refused, unreachable) */
	ERR_TIMEOUT,         /* the wake did not finish within wake_timeout */
	ERR_PROTOCOL,        /* the server answered with a protocol-level refusal */
	ERR_RESET,           /* the connection was reset */
	ERR_CLOSED,          /* the server closed the connection early */
	ERR_LIBRARY,         /* the protocol library failed a call */
	ERR_TLS_HANDSHAKE,   /* TLS handshake failed */
	ERR_TLS_VERIFY,      /* server certificate did not verify */
	ERR_TLS_RECORD,      /* TLS failed after the handshake (bad record, alert) */
	ERR_INTERRUPTED,     /* the run was interrupted while the wake was in flight */
	ERR_AUTH,            /* the server refused the device's credentials (HTTP 401) */
	ERR__COUNT
};

const char *dormant_strerror(enum dormant_err e);

#endif
