/* energy.c: the radio state machine and battery arithmetic (see energy.h).
 *
 * A wake is cut into connected periods: each starts when its attach ends
 * and ends at the last packet before a gap longer than tail_ms. Inside a
 * period the packets' union gives TX and RX time and the rest is idle; each
 * period but the last is followed by a full tail, a release and an attach.
 * Time is summed in whole microseconds and converted once, so figures add up
 * exactly.
 */
#include "energy.h"

#include <math.h>

#define MS_PER_DAY 86400000.0
#define MJ_PER_WH 3600000.0       /* 1 Wh = 3600 J */
#define DAYS_PER_YEAR 365.0       /* TR 45.820's battery-life formula */

/* A profile's milliseconds as whole microseconds. */
static uint64_t ms_to_us(double ms)
{
	return ms > 0 ? (uint64_t)llround(ms * 1000.0) : 0;
}

static double us_to_ms(uint64_t us)
{
	return (double)us / 1000.0;
}

/* One connected period: bursts [i, j) from seg_start (the attach's end). */
struct period {
	uint64_t start, end;          /* end: the last packet's end, at least start */
	uint64_t tx, busy;            /* union of uplink bursts; union of all */
};

/* The union of the bursts of [i, j) (only uplink ones when up_only),
 * clipped to start no earlier than FROM. Sorted by start, so a running
 * end is enough. */
static uint64_t union_us(const struct radio_burst *b, size_t i, size_t j, uint64_t from, int up_only)
{
	uint64_t total = 0, cur_s = 0, cur_e = 0;
	int open = 0;

	for (size_t k = i; k < j; k++) {
		if (up_only && !b[k].up)
			continue;
		uint64_t s = b[k].start_us > from ? b[k].start_us : from;
		uint64_t e = b[k].end_us > from ? b[k].end_us : from;
		if (e <= s)
			continue;
		if (open && s <= cur_e) {
			if (e > cur_e)
				cur_e = e;
			continue;
		}
		if (open)
			total += cur_e - cur_s;
		cur_s = s;
		cur_e = e;
		open = 1;
	}
	if (open)
		total += cur_e - cur_s;
	return total;
}

static void measure(const struct radio_burst *b, size_t i, size_t j, struct period *pd)
{
	pd->end = pd->start;
	for (size_t k = i; k < j; k++)
		if (b[k].end_us > pd->end)
			pd->end = b[k].end_us;
	pd->tx = union_us(b, i, j, pd->start, 1);
	pd->busy = union_us(b, i, j, pd->start, 0);
}

void energy_wake(const struct link_profile *p, uint64_t wake_start_us, const struct radio_burst *b,
                 size_t n, struct energy_result *out)
{
	const uint64_t attach = ms_to_us(p->attach_ms), tail = ms_to_us(p->tail_ms);
	uint64_t tx = 0, rx = 0, idle = 0, tail_sum = 0, released = 0;
	/* A link whose attach costs nothing (Ethernet) is never released:
	 * releasing it would only count attaches that did not happen. */
	const int never_release = attach == 0 && p->attach_mj <= 0;
	int attaches = 1;
	struct period pd = { .start = wake_start_us + attach };
	size_t i = 0;

	for (;;) {
		/* The period's bursts: up to the first that starts more than tail
		 * after everything before it has ended. */
		uint64_t cover = pd.start;
		size_t j = i;
		while (j < n && (never_release || b[j].start_us <= cover || b[j].start_us - cover <= tail)) {
			if (b[j].end_us > cover)
				cover = b[j].end_us;
			j++;
		}
		measure(b, i, j, &pd);
		tx += pd.tx;
		rx += pd.busy - pd.tx;
		idle += (pd.end - pd.start) - pd.busy;
		if (j == n) {
			if (!p->release_assist)
				tail_sum += tail;
			break;
		}
		/* Released: the tail, asleep, and an attach that ends as the next
		 * packet starts (or starts at the release, if that is later). */
		tail_sum += tail;
		uint64_t release = pd.end + tail;
		uint64_t next = b[j].start_us;
		uint64_t attach_at = next > release + attach ? next - attach : release;
		released += attach_at - release;
		attaches++;
		pd = (struct period){ .start = attach_at + attach };
		i = j;
	}

	out->attaches = attaches;
	out->attach_ms = us_to_ms(attach * (uint64_t)attaches);
	out->tx_ms = us_to_ms(tx);
	out->rx_ms = us_to_ms(rx);
	out->idle_ms = us_to_ms(idle);
	out->tail_ms = us_to_ms(tail_sum);
	out->released_ms = us_to_ms(released);
	out->radio_on_ms = us_to_ms(attach * (uint64_t)attaches + tx + rx + idle + tail_sum);
	out->span_ms = out->radio_on_ms + out->released_ms;
	out->energy_mj = attaches * p->attach_mj +
	                 (p->tx_mw * out->tx_ms + p->rx_mw * out->rx_ms + p->idle_mw * out->idle_ms +
	                  p->tail_mw * out->tail_ms) / 1000.0;
}

double energy_day_mj(double sleep_uw, double wake_mj, double wakes_per_day, double awake_ms_per_wake)
{
	double asleep_ms = MS_PER_DAY - wakes_per_day * awake_ms_per_wake;
	if (asleep_ms < 0)
		asleep_ms = 0;
	/* uW / 1000 = mW; mW x ms / 1000 = mJ */
	return wakes_per_day * wake_mj + sleep_uw / 1000.0 * asleep_ms / 1000.0;
}

double energy_battery_years(double battery_wh, double sleep_uw, double wake_mj, double wakes_per_day,
                            double awake_ms_per_wake)
{
	double day = energy_day_mj(sleep_uw, wake_mj, wakes_per_day, awake_ms_per_wake);
	if (day <= 0)
		return INFINITY;
	return battery_wh * MJ_PER_WH / day / DAYS_PER_YEAR;
}

int energy_kept_period(const struct energy_kept *k, double nat_timeout_s, double period_s, double *mj,
                       double *on_ms)
{
	if (isnan(k->wake_mj) || k->keepalive_s <= 0 ||
	    (nat_timeout_s > 0 && k->keepalive_s >= nat_timeout_s && period_s > nat_timeout_s))
		return -1;
	double nka = period_s > k->wake_s ? floor((period_s - k->wake_s) / k->keepalive_s) : 0;
	if (nka > 0 && isnan(k->ka_mj))
		return -1;
	double ncmd = k->cmds_per_day > 0 ? k->cmds_per_day * period_s / 86400.0 : 0;
	if (ncmd > 0 && isnan(k->cmd_mj))
		return -1;
	*mj = k->wake_mj + (nka > 0 ? nka * k->ka_mj : 0) + (ncmd > 0 ? ncmd * k->cmd_mj : 0);
	*on_ms = k->wake_on_ms + (nka > 0 ? nka * k->ka_on_ms : 0) + (ncmd > 0 ? ncmd * k->cmd_on_ms : 0);
	return 0;
}
