/* ingest.h: the HTTP ingest of a run (dormant-ingest, brokers/ingest_main.c),
 * started like a broker and stopped with server_stop().
 *
 * ingest_start() writes the token secret to DIR/ingest.secret (0600, hex;
 * never on the command line), starts the dormant-ingest found next to the
 * running dormant executable on a free 127.0.0.1 port, publishing to the
 * broker's plaintext listener at BROKER_PORT, its log in DIR/ingest.log, and
 * waits until it accepts, which it does only once its broker connection and
 * command subscription are up. S->port is where nginx proxies to.
 * Ownership: the caller owns S (see server.h) and the secret, which is
 * copied; on failure nothing is left running. */
#ifndef DORMANT_INGEST_H
#define DORMANT_INGEST_H

#include <stddef.h>
#include <stdint.h>

#include "ingest_token.h"
#include "server.h"

/* SECRET_LEN must be INGEST_SECRET_LEN. */
enum dormant_err ingest_start(struct server *s, const char *dir, uint16_t broker_port, const unsigned char *secret,
                              size_t secret_len, char *err, size_t errlen);
/* "dormant-ingest 0.1.0 (libmicrohttpd 0.9.75, libmosquitto 2.0.11)", or "" if it is not there. */
void ingest_version(char *buf, size_t len);

#endif
