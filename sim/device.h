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
 *   - whether the broker holds a session for it (MQTT clean session 0), so
 *     a command the broker dropped for want of one is counted as dropped.
 * The device table lives for one variant: a broker start is a new world.
 *
 * Ownership: device_table_create/device_table_destroy. Engine thread only.
 */
#ifndef DORMANT_DEVICE_H
#define DORMANT_DEVICE_H

#include <stdint.h>

struct wake;

struct device {
	uint32_t id;
	struct wake *awake;   /* the wake in flight, NULL while the device sleeps */
	uint32_t wakes;       /* wakes started in this variant */
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

#endif
