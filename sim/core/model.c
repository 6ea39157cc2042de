/* model.c: a wake's flight trace replayed on another link (see model.h).
 *
 * Times are microseconds as doubles, from the wake's start; the bursts given
 * to energy_wake() are rounded to whole microseconds once, at the end.
 */
#include <math.h>

#include "model.h"

/* The next packet of SRC at or after I that was not lost; SRC->n if none. */
static size_t next_kept(const struct model_source *src, size_t i)
{
	while (i < src->n && src->p[i].lost)
		i++;
	return i;
}

size_t model_flights(const struct model_source *src)
{
	size_t flights = 0;
	int dir = -1;
	for (size_t i = next_kept(src, 0); i < src->n; i = next_kept(src, i + 1))
		if (src->p[i].up != dir) {
			flights++;
			dir = src->p[i].up;
		}
	return flights;
}

static double air_us(double kbps, int64_t bytes)
{
	return kbps > 0 && bytes > 0 ? link_serialise_us(kbps, (size_t)bytes) : 0;
}

static double end_us(const struct trace_packet *p)
{
	return (double)p->offset_us + (double)p->air_us;
}

/* The host's time before the flight that starts with packet F, after the
 * flight that ended with packet L (NULL: F starts the wake), from the trace
 * with the source's delay DS taken off (model.h, "Flights"). */
static double host_gap_us(const struct trace_packet *l, const struct trace_packet *f, double ds)
{
	double g;
	if (!l)
		g = (double)f->offset_us - (f->up ? 0 : ds);
	else if (f->up)
		g = (double)f->offset_us - end_us(l);               /* the device answers what it received */
	else
		g = ((double)f->offset_us - ds) - (end_us(l) + ds); /* the server answers what reached it */
	return g > 0 ? g : 0;
}

static uint64_t to_us(double t)
{
	return t > 0 ? (uint64_t)llround(t) : 0;
}

void model_predict(const struct model_source *src, const struct link_profile *target, double target_delay_ms,
                   struct radio_burst *air, struct model_result *out)
{
	*out = (struct model_result){ 0 };
	const double ds = src->delay_ms * 1000.0, dt = target_delay_ms * 1000.0;
	const double src_wake = src->wake_ms * 1000.0;
	const uint64_t attach = to_us(target->attach_ms * 1000.0);

	/* The anchor: the last kept packet fully at the device by the wake's end. */
	size_t anchor = src->n;
	for (size_t i = next_kept(src, 0); i < src->n; i = next_kept(src, i + 1))
		if (end_us(&src->p[i]) <= src_wake)
			anchor = i;

	double free_at[2] = { 0, 0 };       /* [up] when that direction of the target link is free */
	double arrived = 0;                 /* the previous flight's last packet at its receiving host */
	double first_ready = 0, first_src = 0;
	double anchor_end = 0, host = 0;
	const struct trace_packet *last = NULL;
	size_t k = 0;
	for (size_t i = next_kept(src, 0); i < src->n; i = next_kept(src, i + 1)) {
		const struct trace_packet *p = &src->p[i];
		if (!last || p->up != last->up) { /* a new flight */
			double gap = host_gap_us(last, p, ds);
			host += gap;
			first_ready = arrived + gap;
			first_src = (double)p->offset_us;
			out->flights++;
		}
		/* the sender's spacing inside the flight is kept */
		double ready = first_ready + ((double)p->offset_us - first_src);
		double ser = air_us(p->up ? target->up_kbps : target->down_kbps, p->bytes);
		double s = ready > free_at[p->up] ? ready : free_at[p->up];
		double e = s + ser;
		free_at[p->up] = e;
		/* at the device: uplink as sent, downlink one delay later */
		double at_s = p->up ? s : s + dt, at_e = p->up ? e : e + dt;
		arrived = e + dt; /* uplink at the server, downlink at the device */
		if (p->up)
			out->air_up_ms += ser / 1000.0;
		else
			out->air_down_ms += ser / 1000.0;
		if (i == anchor)
			anchor_end = at_e;
		air[k++] = (struct radio_burst){ .start_us = attach + to_us(at_s), .end_us = attach + to_us(at_e),
		                                 .up = p->up };
		last = p;
	}
	out->packets = k;
	double post = src_wake;
	if (anchor < src->n) {
		post = src_wake - end_us(&src->p[anchor]);
		if (post < 0)
			post = 0;
	}
	host += post;
	out->host_ms = host / 1000.0;
	out->wake_ms = (anchor_end + post) / 1000.0;
	/* energy_wake wants the bursts by start: they are, but for a flight that
	 * overtakes nothing; keep the order exact anyway (insertion sort, n small) */
	for (size_t a = 1; a < k; a++) {
		struct radio_burst b = air[a];
		size_t j = a;
		while (j > 0 && air[j - 1].start_us > b.start_us) {
			air[j] = air[j - 1];
			j--;
		}
		air[j] = b;
	}
	energy_wake(target, 0, air, k, &out->energy);
}
