/* test_sched.c: the wake schedule (period, jitter, spread, determinism, order). */
#include <stdlib.h>

#include "scenario.h"
#include "sched.h"
#include "unit.h"

#define MS UINT64_C(1000)
#define S (1000 * MS)

/* Two fleets: 7 devices every 2s with 300ms of jitter, 5 every 1.5s without. */
static const char two_fleets[] =
	"name: sched\n"
	"seed: 7\n"
	"duration: 20s\n"
	"fleets:\n"
	"  - name: jittery\n"
	"    count: 7\n"
	"    wake_every: 2s\n"
	"    jitter: 300ms\n"
	"  - name: steady\n"
	"    count: 5\n"
	"    wake_every: 1.5s\n";

static struct scenario *load(const char *text)
{
	struct scenario *s = NULL;
	char err[512];
	if (scenario_load_buffer("test.yaml", text, strlen(text), &s, err, sizeof err) != ERR_OK) {
		fprintf(stderr, "cannot load test scenario: %s\n", err);
		exit(2);
	}
	return s;
}

/* Takes every wake of S in order. Returns how many; *out (malloc'd) holds them. */
static size_t drain(const struct scenario *s, struct sched_wake **out)
{
	struct sched *sc = sched_create(s);
	size_t n = 0, cap = 64;
	struct sched_wake *w = malloc(cap * sizeof *w);

	if (!sc || !w)
		abort();
	for (;;) {
		uint64_t peek = sched_peek(sc);
		if (n == cap && !(w = realloc(w, (cap *= 2) * sizeof *w)))
			abort();
		memset(&w[n], 0, sizeof w[n]); /* the padding too: test_seed compares with memcmp */
		if (!sched_next(sc, &w[n])) {
			CHECK_U64_EQ(peek, UINT64_MAX);
			break;
		}
		CHECK_U64_EQ(peek, w[n].due_us);
		n++;
	}
	CHECK_INT_EQ(sched_next(sc, &w[n]), 0); /* stays empty */
	sched_destroy(sc);
	*out = w;
	return n;
}

static uint64_t nominal(const struct scenario *s, const struct sched_wake *w)
{
	const struct fleet *f = &s->fleets[w->fleet];
	uint64_t j = w->device - f->first_device;
	return j * f->wake_every_us / f->count + (uint64_t)w->seq * f->wake_every_us;
}

static void test_order_and_count(void)
{
	struct scenario *s = load(two_fleets);
	struct sched_wake *w;
	size_t n = drain(s, &w);

	CHECK_U64_EQ(n, sched_expected_wakes(s));
	CHECK(n > 100);
	for (size_t i = 0; i < n; i++) {
		CHECK(w[i].due_us < s->duration_us);
		CHECK(w[i].device < s->ndevices);
		CHECK_U64_EQ(w[i].due_us, sched_due(s, w[i].device, w[i].seq));
		if (i > 0) {
			CHECK(w[i - 1].due_us <= w[i].due_us);
			if (w[i - 1].due_us == w[i].due_us)
				CHECK(w[i - 1].device < w[i].device);
		}
		const struct fleet *f = &s->fleets[w[i].fleet];
		CHECK(w[i].device >= f->first_device && w[i].device < f->first_device + f->count);
	}

	/* Each device's wakes are k = 0, 1, 2, ... with none missing: the next
	 * one after the last handed out is beyond the window. */
	uint32_t next_seq[12] = { 0 };
	CHECK_INT_EQ(s->ndevices, 12);
	for (size_t i = 0; i < n; i++) {
		CHECK_INT_EQ(w[i].seq, next_seq[w[i].device]);
		next_seq[w[i].device]++;
	}
	for (uint32_t d = 0; d < 12; d++) {
		CHECK(next_seq[d] > 0);
		CHECK(sched_due(s, d, next_seq[d]) >= s->duration_us);
	}

	/* The closed-form count matches counting device by device. */
	uint64_t brute = 0;
	for (uint32_t d = 0; d < s->ndevices; d++)
		for (uint32_t k = 0; sched_due(s, d, k) < s->duration_us; k++)
			brute++;
	CHECK_U64_EQ(brute, n);

	free(w);
	scenario_free(s);
}

static void test_period_and_jitter(void)
{
	struct scenario *s = load(two_fleets);
	struct sched_wake *w;
	size_t n = drain(s, &w);
	uint64_t last[12];
	int have[12] = { 0 };
	uint64_t jitter_sum = 0, jitter_n = 0, jitter_max = 0;

	for (size_t i = 0; i < n; i++) {
		const struct fleet *f = &s->fleets[w[i].fleet];
		uint64_t nom = nominal(s, &w[i]);
		CHECK(w[i].due_us >= nom);
		CHECK(w[i].due_us < nom + (f->jitter_us ? f->jitter_us : 1));
		if (f->jitter_us) {
			jitter_sum += w[i].due_us - nom;
			jitter_n++;
			if (w[i].due_us - nom > jitter_max)
				jitter_max = w[i].due_us - nom;
		}
		uint32_t d = w[i].device;
		if (have[d]) {
			uint64_t gap = w[i].due_us - last[d];
			if (f->jitter_us == 0) {
				CHECK_U64_EQ(gap, f->wake_every_us);
			} else { /* P - J < gap < P + J */
				CHECK(gap + f->jitter_us > f->wake_every_us);
				CHECK(gap < f->wake_every_us + f->jitter_us);
			}
		}
		last[d] = w[i].due_us;
		have[d] = 1;
	}
	/* Jitter is spread over [0, 300ms): mean near 150ms, some near the top. */
	CHECK(jitter_n > 50);
	CHECK(jitter_sum / jitter_n > 100 * MS && jitter_sum / jitter_n < 200 * MS);
	CHECK(jitter_max > 200 * MS);

	free(w);
	scenario_free(s);
}

static void test_even_spread(void)
{
	struct scenario *s = load("name: spread\n"
	                          "duration: 10s\n"
	                          "fleets:\n"
	                          "  - name: a\n"
	                          "    count: 3\n"
	                          "    wake_every: 1s\n"
	                          "  - name: b\n"
	                          "    count: 7\n"
	                          "    wake_every: 1s\n");
	const struct fleet *b = &s->fleets[1];

	CHECK_INT_EQ(b->first_device, 3);
	/* Fleet a: 0, 333333, 666666 us. */
	CHECK_U64_EQ(sched_due(s, 0, 0), 0);
	CHECK_U64_EQ(sched_due(s, 1, 0), 333333);
	CHECK_U64_EQ(sched_due(s, 2, 0), 666666);
	CHECK_U64_EQ(sched_due(s, 2, 4), 4 * S + 666666);
	/* Fleet b starts again at 0: index within the fleet, not global id. */
	CHECK_U64_EQ(sched_due(s, 3, 0), 0);
	for (uint32_t j = 0; j < b->count; j++) {
		uint64_t off = sched_due(s, b->first_device + j, 0);
		CHECK_U64_EQ(off, (uint64_t)j * S / 7);
		if (j > 0) {
			uint64_t gap = off - sched_due(s, b->first_device + j - 1, 0);
			CHECK(gap == S / 7 || gap == S / 7 + 1);
		}
	}
	/* Beyond the devices there is nothing. */
	CHECK_U64_EQ(sched_due(s, 10, 0), UINT64_MAX);
	CHECK_U64_EQ(sched_expected_wakes(s), 100);
	scenario_free(s);
}

static void test_seed(void)
{
	struct scenario *a = load(two_fleets);
	struct scenario *b = load(two_fleets);
	struct scenario *c = load(two_fleets);
	c->seed = 8;
	struct sched_wake *wa, *wb, *wc;
	size_t na = drain(a, &wa), nb = drain(b, &wb), nc = drain(c, &wc);

	CHECK_U64_EQ(na, nb);
	CHECK(memcmp(wa, wb, na * sizeof *wa) == 0);

	size_t differ = 0;
	for (uint32_t d = 0; d < 7; d++)
		for (uint32_t k = 0; k < 9; k++)
			differ += sched_due(a, d, k) != sched_due(c, d, k);
	CHECK(differ > 50); /* of 63 jittered wakes */
	/* The jitter-free fleet does not depend on the seed. */
	for (uint32_t d = 7; d < 12; d++)
		CHECK_U64_EQ(sched_due(a, d, 3), sched_due(c, d, 3));
	(void)nc;

	free(wa);
	free(wb);
	free(wc);
	scenario_free(a);
	scenario_free(b);
	scenario_free(c);
}

static void test_window_edges(void)
{
	/* A long period and a short window: only devices whose offset falls
	 * in the window wake, once each. */
	struct scenario *s = load("name: edge\n"
	                          "duration: 1s\n"
	                          "fleets:\n"
	                          "  - name: slow\n"
	                          "    count: 100\n"
	                          "    wake_every: 10s\n");
	struct sched_wake *w;
	size_t n = drain(s, &w);
	CHECK_U64_EQ(n, 10); /* offsets 0, 100ms, ..., 900ms */
	CHECK_U64_EQ(sched_expected_wakes(s), 10);
	for (size_t i = 0; i < n; i++) {
		CHECK_INT_EQ(w[i].device, i);
		CHECK_INT_EQ(w[i].seq, 0);
		CHECK_U64_EQ(w[i].due_us, i * 100 * MS);
	}
	free(w);

	/* Huge k saturates instead of wrapping. */
	CHECK_U64_EQ(sched_due(s, 0, UINT32_MAX), (uint64_t)UINT32_MAX * 10 * S);
	s->fleets[0].wake_every_us = UINT64_MAX / 2;
	CHECK_U64_EQ(sched_due(s, 0, 3), UINT64_MAX);
	scenario_free(s);

	/* No devices: nothing to hand out. */
	struct scenario empty = { .duration_us = S };
	struct sched *sc = sched_create(&empty);
	struct sched_wake x;
	CHECK(sc != NULL);
	CHECK_U64_EQ(sched_peek(sc), UINT64_MAX);
	CHECK_INT_EQ(sched_next(sc, &x), 0);
	CHECK_U64_EQ(sched_expected_wakes(&empty), 0);
	sched_destroy(sc);
	sched_destroy(NULL);
}

/* The quickstart shape at full size: 100000 devices, the heap stays one
 * entry per device and hands out the exact count. */
static void test_large(void)
{
	struct scenario *s = load("name: large\n"
	                          "seed: 3\n"
	                          "duration: 3s\n"
	                          "fleets:\n"
	                          "  - name: big\n"
	                          "    count: 100000\n"
	                          "    wake_every: 2s\n"
	                          "    jitter: 1999ms\n");
	struct sched *sc = sched_create(s);
	struct sched_wake w;
	uint64_t n = 0, prev = 0;
	int ordered = 1;
	while (sched_next(sc, &w)) {
		ordered &= w.due_us >= prev && w.due_us < s->duration_us;
		prev = w.due_us;
		n++;
	}
	CHECK(ordered);
	CHECK_U64_EQ(n, sched_expected_wakes(s));
	CHECK(n > 100000 && n < 200000);
	sched_destroy(sc);
	scenario_free(s);
}

/* Walks every wake (sched_next) and enumerates every command the way the
 * engine plans them (a loop per device, t += command_every), for the
 * closed forms to be checked against. */
static void walk(const struct scenario *s, uint64_t *wakes, uint64_t *msgs, uint64_t *cmds)
{
	struct sched *sc = sched_create(s);
	struct sched_wake w;
	*wakes = *msgs = *cmds = 0;
	while (sc && sched_next(sc, &w)) {
		(*wakes)++;
		*msgs += s->fleets[w.fleet].messages_per_wake;
	}
	sched_destroy(sc);
	for (size_t i = 0; i < s->nfleets; i++) {
		const struct fleet *f = &s->fleets[i];
		for (uint32_t j = 0; f->command_every_us && j < f->count; j++)
			for (uint64_t t = (uint64_t)j * f->wake_every_us / f->count + f->wake_every_us / 2;
			     t < s->duration_us; t += f->command_every_us)
				(*cmds)++;
	}
}

/* The closed-form totals equal the walk, on plans whose edges differ:
 * windows that are and are not multiples of the period, jitter that pushes
 * the last wake out, commands not a multiple of the period, first commands
 * beyond the window, several fleets. */
static void test_totals_closed_form(void)
{
	static const char *const plans[] = {
		two_fleets,
		"name: p1\nduration: 10s\nfleets:\n"
		"  - {name: a, count: 3, wake_every: 1s}\n"
		"  - {name: b, count: 7, wake_every: 1s, messages_per_wake: 3}\n",
		"name: p2\nseed: 11\nduration: 7.3s\nfleets:\n"
		"  - {name: a, count: 13, wake_every: 700ms, jitter: 699ms, messages_per_wake: 5,"
		" downlink: true, command_every: 1.1s}\n"
		"  - {name: b, count: 1, wake_every: 2s, jitter: 1s, downlink: true, command_every: 2s}\n",
		"name: p3\nduration: 1s\nfleets:\n"
		"  - {name: slow, count: 100, wake_every: 10s, downlink: true, command_every: 1s}\n",
		"name: p4\nseed: 99\nduration: 20s\nfleets:\n"
		"  - {name: a, count: 250, wake_every: 3s, jitter: 2999ms, messages_per_wake: 100,"
		" downlink: true, command_every: 100ms}\n"
		"  - {name: b, count: 17, wake_every: 100ms, jitter: 50ms}\n"
		"  - {name: c, count: 5, wake_every: 1d, downlink: true, command_every: 1d}\n",
	};
	for (size_t i = 0; i < sizeof plans / sizeof plans[0]; i++) {
		struct scenario *s = load(plans[i]);
		uint64_t w, m, c;
		walk(s, &w, &m, &c);
		printf("  plan %zu: %" PRIu64 " wakes, %" PRIu64 " messages, %" PRIu64 " commands\n", i, w, m, c);
		CHECK(w > 0);
		CHECK_U64_EQ(sched_expected_wakes(s), w);
		CHECK_U64_EQ(sched_expected_messages(s), m);
		CHECK_U64_EQ(sched_expected_commands(s), c);
		uint64_t fw = 0, fc = 0;
		for (size_t f = 0; f < s->nfleets; f++) {
			fw += sched_fleet_wakes(s, f);
			fc += sched_fleet_commands(s, f);
		}
		CHECK_U64_EQ(fw, w);
		CHECK_U64_EQ(fc, c);
		/* Every seed and every jitter: p2 again with other seeds. */
		if (i == 2)
			for (uint64_t seed = 1; seed < 40; seed++) {
				s->seed = seed;
				walk(s, &w, &m, &c);
				CHECK_U64_EQ(sched_expected_wakes(s), w);
				CHECK_U64_EQ(sched_expected_messages(s), m);
			}
		scenario_free(s);
	}
}

int main(void)
{
	RUN(test_order_and_count);
	RUN(test_period_and_jitter);
	RUN(test_even_spread);
	RUN(test_seed);
	RUN(test_window_edges);
	RUN(test_large);
	RUN(test_totals_closed_form);
	return UNIT_EXIT();
}
