/* mosq.h: a private mosquitto for one variant.
 * mosq_start() writes DIR/mosquitto.conf, starts the broker with two
 * listeners on free 127.0.0.1 ports, the devices' (s->port, TLS if asked)
 * and the backend's (s->backend_port, plaintext), its log in
 * DIR/mosquitto.log, and waits until both accept. Stop it with server_stop(). */
#ifndef DORMANT_MOSQ_H
#define DORMANT_MOSQ_H

#include <stddef.h>

#include "server.h"

/* TLS listener settings; NULL for a plaintext listener. */
struct mosq_tls {
	const char *cafile;      /* verifies client certificates (mutual TLS) */
	const char *certfile, *keyfile; /* NULL with psk_file */
	const char *psk_file;    /* TLS-PSK listener */
	int require_certificate; /* mutual TLS */
};

/* LISTEN_ADDR (host order): where the devices' listener binds (127.0.0.1, or
 * an emulated link's server address); the backend's stays on 127.0.0.1. */
enum dormant_err mosq_start(struct server *s, const char *dir, uint32_t listen_addr, const struct mosq_tls *tls, char *err,
                            size_t errlen);
/* "mosquitto version 2.0.11" */
void mosq_version(char *buf, size_t len);

#endif
