/* nginx.h: a private nginx in front of the HTTP ingest, for one variant.
 *
 * nginx_start() writes DIR/nginx.conf and starts nginx 1.22 from the private
 * prefix DIR (every temp path inside it, `-e stderr`, `daemon off;`) with
 * one listener for the devices on a free 127.0.0.1 port, TLS when asked,
 * that proxies to the ingest over keep-alive HTTP/1.1 upstream connections.
 * It waits until the listener accepts. Stop it with server_stop().
 */
#ifndef DORMANT_NGINX_H
#define DORMANT_NGINX_H

#include <stddef.h>
#include <stdint.h>

#include "server.h"

/* TLS listener settings; NULL for plaintext. nginx 1.22 has no TLS-PSK. */
struct nginx_tls {
	const char *certfile, *keyfile;
	const char *cafile;       /* verifies client certificates (mutual TLS) */
	int require_certificate;
};

/* LISTEN_ADDR (host order): where the devices' listener binds.
 * IDLE_S: how long an idle client connection is kept (keepalive_timeout;
 * 0: 60 s), for devices that keep theirs between wakes. */
enum dormant_err nginx_start(struct server *s, const char *dir, uint32_t listen_addr, uint16_t upstream_port,
                             const struct nginx_tls *tls, unsigned idle_s, char *err, size_t errlen);
/* "nginx/1.22.1" */
void nginx_version(char *buf, size_t len);

#endif
