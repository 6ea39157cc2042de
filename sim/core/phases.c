/* phases.c: per-phase wire time and its union (see phases.h). */
#include "phases.h"
#include "phase.h"

static int64_t span_us(uint64_t from_ns, uint64_t to_ns)
{
	if (!from_ns || !to_ns || to_ns < from_ns)
		return 0;
	return (int64_t)((to_ns - from_ns) / 1000u);
}

static uint64_t max_u64(uint64_t a, uint64_t b) { return a > b ? a : b; }

int64_t phases_times(const struct phases_stamps *s, int64_t t_us[PHASES_COUNT])
{
	uint64_t from[PHASES_COUNT] = { 0 }, to[PHASES_COUNT] = { 0 };
	from[PHASES_TCP] = s->connect_ns;
	to[PHASES_TCP] = s->established_ns;
	if (s->tls) {
		from[PHASES_TLS] = s->established_ns;
		to[PHASES_TLS] = s->ready_ns;
	}
	for (int p = PHASES_FIRST_FRAMED; p < PHASES_COUNT; p++) {
		if (!s->ph[p].first_up_ns)
			continue;
		/* bytes the library wrote before TCP and TLS were up waited for them, already counted */
		from[p] = max_u64(s->ph[p].first_up_ns, s->ready_ns);
		to[p] = max_u64(s->ph[p].last_up_ns, s->ph[p].last_down_ns);
		if (p == PHASES_TEARDOWN)
			to[p] = max_u64(to[p], max_u64(s->lib_eof_ns, s->server_eof_ns));
	}
	for (int p = 0; p < PHASES_COUNT; p++) {
		t_us[p] = span_us(from[p], to[p]);
		if (!from[p])
			to[p] = 0; /* no start: not an interval, and must not stretch the union's reach */
	}
	/* the union: sweep the intervals in order of their start */
	int64_t wire = 0;
	uint64_t reach = 0;
	for (;;) {
		int next = -1;
		for (int p = 0; p < PHASES_COUNT; p++)
			if (to[p] > from[p] && (next < 0 || from[p] < from[next]))
				next = p;
		if (next < 0)
			break;
		uint64_t a = max_u64(from[next], reach), b = to[next];
		if (b > a) {
			wire += span_us(a, b);
			reach = b;
		}
		to[next] = from[next]; /* taken */
	}
	return wire;
}

static const char *const phase_names[PHASE_COUNT] = {
	[PHASE_TCP] = "tcp", [PHASE_TLS] = "tls", [PHASE_SETUP] = "setup",
	[PHASE_DATA] = "data", [PHASE_DOWNLINK] = "downlink", [PHASE_TEARDOWN] = "teardown",
};

const char *phase_name(enum phase p)
{
	return (unsigned)p < PHASE_COUNT ? phase_names[p] : "?";
}
