/* device.c: per-device state that outlives a wake (see device.h). */
#include <stdlib.h>

#include "clock.h"
#include "device.h"

int device_table_create(struct device_table *t, uint32_t n)
{
	t->n = n;
	t->d = calloc(n ? n : 1, sizeof(*t->d));
	if (!t->d) {
		t->n = 0;
		return -1;
	}
	for (uint32_t i = 0; i < n; i++)
		t->d[i].id = i;
	return 0;
}

void device_table_destroy(struct device_table *t)
{
	free(t->d);
	t->d = NULL;
	t->n = 0;
}

void device_wake(struct device *d, struct wake *w)
{
	d->awake = w;
	d->wakes++;
	d->last_wake_ns = clock_mono_ns();
}

void device_sleep(struct device *d)
{
	d->awake = NULL;
}

void device_session(struct device *d, uint64_t now_ns)
{
	uint64_t none = 0;
	__atomic_compare_exchange_n(&d->session_ns, &none, now_ns ? now_ns : 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}
