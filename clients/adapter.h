/* adapter.h: the one table every protocol adapter fills (see clients/README.md).
 *
 * An adapter drives a real protocol library for one wake at a time (many
 * wakes may be in flight), always through the modem endpoint it is given,
 * never to the server directly. All functions are called on the engine
 * thread; the library's callbacks may run on other threads and talk back
 * only through the wake_* functions of sim/wake.h.
 */
#ifndef DORMANT_ADAPTER_H
#define DORMANT_ADAPTER_H

#include <stddef.h>
#include <stdint.h>

#include "scenario.h"
#include "wake.h"

struct loop;

struct adapter_env {
	int epfd;                   /* the engine loop's epoll, for adapters that need a socket of their own */
	struct loop *loop;          /* ... and the loop itself: loop_run_once(loop, ms) (sim/loop.h) runs it for a
	                             * while, for an init that waits on its own sockets */
	const struct scenario *sc;
	const struct variant *variant;
	/* The HTTP ingest's secret: a device's bearer token is ingest_token(secret, device). */
	const unsigned char *secret;
	size_t secret_len;
};

struct adapter_ops {
	const char *name;
	enum protocol protocol;
	/* Once per variant, before the first wake. Returns ERR_OK or writes why into err. */
	enum dormant_err (*init)(const struct adapter_env *env, char *err, size_t errlen);
	/* Once per variant after the last wake was reaped. */
	void (*fini)(void);
	/* Starts wake W asynchronously; must end in exactly one wake_adapter_done(W, ...),
	 * possibly before returning. Returning non-OK means it did not start (no done call). */
	enum dormant_err (*start)(struct wake *w);
	/* Optional: before the window, makes what the server keeps for device
	 * W->device so it can hold commands while the device sleeps (MQTT: the
	 * persistent session and its QoS 1 subscription), over W's modem
	 * endpoint like start(), with W->setup set and no messages (W->nmsg 0);
	 * must call wake_session(W) once the server holds it, and end in exactly
	 * one wake_adapter_done(W, ...). Not a wake: no row, in no figure. NULL:
	 * the server queues each device's commands from before the window
	 * without it (AMQP's queues, the HTTP ingest). */
	enum dormant_err (*prepare)(struct wake *w);
	/* Tells the phase of each packet of the protocol (see modem_frame_fn). May be NULL. */
	modem_frame_fn frame;
	/* Set for a library that runs on the engine thread over the modem's byte
	 * stream (modem.h struct modem_lib, called with the wake as argument);
	 * NULL for a library with its own socket (it connects to w->modem_port). */
	const struct modem_lib *direct;
	/* With TLS, the modem ends with a close_notify after the library closed:
	 * for protocols whose server waits for it rather than closing first. */
	int tls_close_notify;
	/* The library has connected to W's modem endpoint (engine thread). May be NULL. */
	void (*accepted)(struct wake *w);
	/* W's deadline passed: make the library give up soon (the engine has already
	 * closed the modem side); wake_adapter_done must still follow. */
	void (*abort)(struct wake *w);
	/* After wake_adapter_done: release the library handle. Engine thread. */
	void (*reap)(struct wake *w);
	/* connection: persistent; NULL where it is not built (the scenario
	 * loader refuses it). start() then sees W->pc: with W->pc->adapter set
	 * and the connection up it sends over it (no connect, no close), else
	 * it makes the handle (stored in W->pc->adapter), connects to
	 * W->modem_port and keeps the connection open after the wake, with the
	 * protocol's keep-alive at the fleet's keepalive. A loss it sees is
	 * reported with wake_persist_lost(). drop() releases W->pc->adapter for
	 * good (disconnecting first if it is up). Engine thread. */
	void (*drop)(struct persist *pc);
	/* connection: persistent with a direct library: its modem callbacks
	 * for a kept connection, called with the device's struct persist (the
	 * connection outlives the wakes). */
	const struct modem_lib *direct_persist;
	/* connection: persistent: the library has no way of its own to notice
	 * a dead kept connection (no answer to its keep-alive), so the modem's
	 * TCP gives up once data went unacknowledged for a keepalive
	 * (TCP_USER_TIMEOUT), as paho gives up without a PINGRESP. */
	int persist_user_timeout;
	/* Library name and version for env.json. */
	void (*version)(char *buf, size_t len);
};

/* The adapter for protocol P, or NULL if none is built in. */
const struct adapter_ops *adapter_for(enum protocol p);
/* Every built-in adapter's library and version, one after another, for env.json. */
void adapter_versions(char *buf, size_t len);

extern const struct adapter_ops mqtt_adapter;
extern const struct adapter_ops amqp_adapter;
extern const struct adapter_ops http_adapter;

#endif
