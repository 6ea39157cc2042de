/* error.c: names of dormant_err values (stable: they appear in wakes.csv). */
#include "error.h"

static const char *const names[ERR__COUNT] = {
	[ERR_OK] = "ok",
	[ERR_USAGE] = "usage",
	[ERR_SCENARIO] = "scenario",
	[ERR_SERVER] = "server",
	[ERR_IO] = "io",
	[ERR_NOMEM] = "nomem",
	[ERR_INTERNAL] = "internal",
	[ERR_CONNECT] = "connect",
	[ERR_TIMEOUT] = "timeout",
	[ERR_PROTOCOL] = "protocol",
	[ERR_RESET] = "reset",
	[ERR_CLOSED] = "closed",
	[ERR_LIBRARY] = "library",
	[ERR_TLS_HANDSHAKE] = "tls_handshake",
	[ERR_TLS_VERIFY] = "tls_verify",
	[ERR_TLS_RECORD] = "tls_record",
	[ERR_INTERRUPTED] = "interrupted",
	[ERR_AUTH] = "auth",
};

const char *dormant_strerror(enum dormant_err e)
{
	if ((unsigned)e >= ERR__COUNT || !names[e])
		return "unknown";
	return names[e];
}
