/* device.h: what a device keeps between its wakes, for the variant it runs in.
 *
 * A wake (wake.h) is one awake period; a device is what wakes up again.
 * Today it keeps only whether a wake of it is in flight, so a wake due
 * while its device is still awake starts late instead of beside it. This
 * is where per-device state that outlives a wake belongs as it comes:
 *   - the connection a `persistent` device keeps through its sleeps (the
 *     modem connection and the library handle, closed by the device, not
 *     by the wake; keep-alive traffic charged to the sleep it falls in);
 *   - the TLS session it stores while asleep (today kept per device inside
 *     the variant's tls_profile);
 *   - its queue of messages a failed wake could not send, bounded, sent at
 *     the next wake, overflow counted as dropped at the device; its
 *     reconnect backoff;
 *   - since when the broker holds its session (session_ns below), so a
 *     command the broker dropped for want of one is counted as dropped.
 * The device table lives for one variant: a broker start is a new world.
 *
 * Ownership: device_table_create/device_table_destroy. Engine thread only.
 */
#ifndef DORMANT_DEVICE_H
#define DORMANT_DEVICE_H

#include <stdint.h>

struct wake;
struct persist;

struct device {
	uint32_t id;
	struct wake *awake;   /* the wake in flight, NULL while the device sleeps */
	uint32_t wakes;       /* wakes started in this variant */
	uint64_t last_wake_ns; /* CLOCK_MONOTONIC start of its latest wake; 0: none yet */
	/* Since when the server keeps commands for it (CLOCK_MONOTONIC), 0: not
	 * yet. MQTT: when the SUBACK of its persistent session's subscription
	 * came (a set-up before the window, or its first wake); protocols whose
	 * server queues per device from before the window: the window's start.
	 * Written once, by the adapter's thread (device_session) or the engine. */
	uint64_t session_ns;
	struct persist *conn;  /* connection: persistent: the connection it keeps (wake.c); NULL: none */
	uint64_t nat_drops_seen; /* behind a link: the NAT drops of its flows up to its last row */
};

struct device_table {
	uint32_t n;
	struct device *d;
};

/* N devices, ids 0..N-1, all asleep. 0, or -1 when out of memory. */
int device_table_create(struct device_table *t, uint32_t n);
void device_table_destroy(struct device_table *t);
/* Device ID of T (ID < T->n). */
static inline struct device *device_get(struct device_table *t, uint32_t id)
{
	return &t->d[id];
}
/* W has started: its device is awake until device_sleep(). */
void device_wake(struct device *d, struct wake *w);
void device_sleep(struct device *d);
/* The server holds D's session from NOW_NS on, unless it did already. Any thread. */
void device_session(struct device *d, uint64_t now_ns);
static inline uint64_t device_session_ns(const struct device *d)
{
	return __atomic_load_n(&d->session_ns, __ATOMIC_ACQUIRE);
}

#endif
