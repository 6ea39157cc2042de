/* mosq.h: a private mosquitto for one variant.
 * mosq_start() writes DIR/mosquitto.conf, starts the broker on a free
 * 127.0.0.1 port with its log in DIR/mosquitto.log, and waits until it
 * accepts. Stop it with server_stop(). */
#ifndef DORMANT_MOSQ_H
#define DORMANT_MOSQ_H

#include <stddef.h>

#include "server.h"

enum dormant_err mosq_start(struct server *s, const char *dir, char *err, size_t errlen);
/* "mosquitto version 2.0.11" */
void mosq_version(char *buf, size_t len);

#endif
