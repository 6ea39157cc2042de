/* sched.c: the wake schedule (see sched.h).
 *
 * A binary min-heap holds each device's next wake, keyed by (due, device);
 * taking a wake replaces it with the device's following one, so memory is
 * one entry per device however long the run.
 */
#include "sched.h"

#include <stdlib.h>

struct entry {
	uint64_t due_us;
	uint32_t device;
	uint32_t fleet;
	uint32_t seq;
};

struct sched {
	const struct scenario *s;
	struct entry *heap;
	size_t n;
};

/* splitmix64's finalizer: a well-mixed 64-bit function of its input. */
static uint64_t mix64(uint64_t z)
{
	z += UINT64_C(0x9e3779b97f4a7c15);
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* Uniform in [0, jitter) from (seed, device, k). The modulo's bias is below
 * jitter / 2^64 (under 1e-8 for a day of jitter). */
static uint64_t jitter_draw(uint64_t seed, uint32_t device, uint32_t k, uint64_t jitter)
{
	if (jitter == 0)
		return 0;
	uint64_t h = mix64(mix64(mix64(seed) ^ device) ^ k);
	return h % jitter;
}

/* The fleet of global device DEVICE, or -1. */
static int fleet_of(const struct scenario *s, uint32_t device)
{
	for (size_t i = 0; i < s->nfleets; i++) {
		const struct fleet *f = &s->fleets[i];
		if (device >= f->first_device && device - f->first_device < f->count)
			return (int)i;
	}
	return -1;
}

static uint64_t due(const struct scenario *s, const struct fleet *f, uint32_t device, uint32_t k)
{
	uint64_t j = device - f->first_device;
	uint64_t offset = j * f->wake_every_us / f->count; /* j < 1e5, P <= 1d: fits */
	uint64_t t;
	if (__builtin_mul_overflow((uint64_t)k, f->wake_every_us, &t) ||
	    __builtin_add_overflow(t, offset, &t) ||
	    __builtin_add_overflow(t, jitter_draw(s->seed, device, k, f->jitter_us), &t))
		return UINT64_MAX;
	return t;
}

uint64_t sched_due(const struct scenario *s, uint32_t device, uint32_t k)
{
	int fi = fleet_of(s, device);
	if (fi < 0)
		return UINT64_MAX;
	return due(s, &s->fleets[fi], device, k);
}

/* Wake k's nominal time is offset + k*P and the jitter is below P, so only
 * the last wake whose nominal time is in the window can be pushed out of it:
 * count the nominal wakes, then check that one. One step per device, never
 * one per wake. */
uint64_t sched_fleet_wakes(const struct scenario *s, size_t fleet)
{
	const struct fleet *f = &s->fleets[fleet];
	uint64_t total = 0;

	for (uint32_t j = 0; j < f->count; j++) {
		uint64_t offset = (uint64_t)j * f->wake_every_us / f->count;
		if (offset >= s->duration_us)
			continue;
		uint64_t last = (s->duration_us - 1 - offset) / f->wake_every_us;
		total += last;
		if (last <= UINT32_MAX && due(s, f, f->first_device + j, (uint32_t)last) < s->duration_us)
			total++;
	}
	return total;
}

/* Device j's commands are due at t0 + i*C for t0 = j*W/N + W/2 (see
 * sched.h), those below the window's end: (D - 1 - t0) / C + 1 of them. */
uint64_t sched_fleet_commands(const struct scenario *s, size_t fleet)
{
	const struct fleet *f = &s->fleets[fleet];
	uint64_t total = 0;

	for (uint32_t j = 0; f->command_every_us && j < f->count; j++) {
		uint64_t t0 = sched_command_first(f, j);
		if (t0 < s->duration_us)
			total += (s->duration_us - 1 - t0) / f->command_every_us + 1;
	}
	return total;
}

uint64_t sched_command_first(const struct fleet *f, uint32_t j)
{
	return (uint64_t)j * f->wake_every_us / f->count + f->wake_every_us / 2;
}

uint64_t sched_expected_wakes(const struct scenario *s)
{
	uint64_t n = 0;
	for (size_t i = 0; i < s->nfleets; i++)
		n += sched_fleet_wakes(s, i);
	return n;
}

uint64_t sched_expected_messages(const struct scenario *s)
{
	uint64_t n = 0;
	for (size_t i = 0; i < s->nfleets; i++)
		n += sched_fleet_wakes(s, i) * s->fleets[i].messages_per_wake;
	return n;
}

uint64_t sched_expected_commands(const struct scenario *s)
{
	uint64_t n = 0;
	for (size_t i = 0; i < s->nfleets; i++)
		n += sched_fleet_commands(s, i);
	return n;
}

static int entry_less(const struct entry *a, const struct entry *b)
{
	if (a->due_us != b->due_us)
		return a->due_us < b->due_us;
	return a->device < b->device;
}

static void sift_down(struct sched *sc, size_t i)
{
	struct entry *h = sc->heap;
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < sc->n && entry_less(&h[l], &h[m]))
			m = l;
		if (r < sc->n && entry_less(&h[r], &h[m]))
			m = r;
		if (m == i)
			return;
		struct entry t = h[i];
		h[i] = h[m];
		h[m] = t;
		i = m;
	}
}

struct sched *sched_create(const struct scenario *s)
{
	struct sched *sc = calloc(1, sizeof *sc);
	if (!sc)
		return NULL;
	sc->s = s;
	sc->heap = calloc(s->ndevices ? s->ndevices : 1, sizeof *sc->heap);
	if (!sc->heap) {
		free(sc);
		return NULL;
	}
	for (size_t i = 0; i < s->nfleets; i++) {
		const struct fleet *f = &s->fleets[i];
		for (uint32_t j = 0; j < f->count && sc->n < s->ndevices; j++) {
			uint32_t d = f->first_device + j;
			uint64_t t = due(s, f, d, 0);
			if (t < s->duration_us)
				sc->heap[sc->n++] = (struct entry){ t, d, (uint32_t)i, 0 };
		}
	}
	for (size_t i = sc->n / 2; i-- > 0;)
		sift_down(sc, i);
	return sc;
}

void sched_destroy(struct sched *sc)
{
	if (!sc)
		return;
	free(sc->heap);
	free(sc);
}

size_t sched_bytes_per_device(void)
{
	return sizeof(struct entry);
}

uint64_t sched_peek(const struct sched *sc)
{
	return sc->n ? sc->heap[0].due_us : UINT64_MAX;
}

int sched_next(struct sched *sc, struct sched_wake *out)
{
	if (sc->n == 0)
		return 0;
	struct entry *top = &sc->heap[0];
	*out = (struct sched_wake){ .device = top->device, .fleet = top->fleet, .seq = top->seq,
	                            .due_us = top->due_us };

	const struct fleet *f = &sc->s->fleets[top->fleet];
	uint64_t t = top->seq < UINT32_MAX ? due(sc->s, f, top->device, top->seq + 1) : UINT64_MAX;
	if (t < sc->s->duration_us) {
		top->seq++;
		top->due_us = t;
	} else {
		sc->heap[0] = sc->heap[--sc->n];
	}
	sift_down(sc, 0);
	return 1;
}
