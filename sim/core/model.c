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
	return bytes > 0 ? link_serialise_us(kbps, (size_t)bytes) : 0;
}

/* In the trace: when the sender put P on the link (uplink: its air start;
 * downlink: the server started it one delay before it reached the device),
 * when it had all reached the other host, and when the run counted it
 * (linkemu.h: uplink entering serialisation, downlink on delivery). */
static double src_emit(const struct trace_packet *p, double ds)
{
	return (double)p->offset_us - (p->up ? 0 : ds);
}

static double src_arrive(const struct trace_packet *p, double ds)
{
	return (double)(p->offset_us + p->air_us) + (p->up ? ds : 0);
}

static double src_count(const struct trace_packet *p)
{
	return (double)(p->offset_us + (p->up ? 0 : p->air_us));
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
	const uint64_t attach = to_us(target->attach_ms * 1000.0);

	/* Per direction [up]: when the link is free again; the last packet the
	 * sender sent: its emit time in the trace, its ready time here. */
	double free_at[2] = { 0, 0 }, last_emit[2] = { 0, 0 }, last_ready[2] = { 0, 0 };
	int sent[2] = { 0, 0 };
	double count_src = 0, count_tgt = 0, host = 0;
	size_t k = 0, prev = src->n;
	for (size_t i = next_kept(src, 0); i < src->n; i = next_kept(src, i + 1)) {
		const struct trace_packet *p = &src->p[i];
		int d = p->up ? 1 : 0;
		double emit = src_emit(p, ds);
		/* its cause: the packet of the other direction that reached this
		 * sender last before it sent P (on a ping-pong, the previous
		 * flight's last packet) */
		double cause_src = -1, cause_tgt = 0;
		for (size_t j = 0, qi = next_kept(src, 0); j < k; j++, qi = next_kept(src, qi + 1)) {
			const struct trace_packet *q = &src->p[qi];
			if (q->up == p->up || !q->data)
				continue; /* a bare ACK answers; it asks for nothing */
			double a = src_arrive(q, ds);
			if (a <= emit && a > cause_src) {
				cause_src = a;
				/* its arrival here, from its burst (air[j] is kept packet j until the sort below) */
				cause_tgt = (double)(air[j].end_us - attach) + (q->up ? dt : 0);
			}
		}
		double ready = cause_src >= 0 ? cause_tgt + (emit - cause_src) : emit;
		/* the sender's own order and spacing */
		if (sent[d] && ready < last_ready[d] + (emit - last_emit[d]))
			ready = last_ready[d] + (emit - last_emit[d]);
		if (prev == src->n || src->p[prev].up != p->up) { /* a flight starts */
			out->flights++;
			host += cause_src >= 0 ? emit - cause_src : emit;
		}
		double ser = air_us(p->up ? target->up_kbps : target->down_kbps, p->bytes);
		double s = ready > free_at[d] ? ready : free_at[d];
		double e = s + ser;
		free_at[d] = e;
		last_ready[d] = ready;
		last_emit[d] = emit;
		sent[d] = 1;
		/* at the device: uplink as sent, downlink one delay later */
		double at_s = p->up ? s : s + dt, at_e = p->up ? e : e + dt;
		if (p->up)
			out->air_up_ms += ser / 1000.0;
		else
			out->air_down_ms += ser / 1000.0;
		double c = p->up ? at_s : at_e;
		if (c > count_tgt)
			count_tgt = c;
		if (src_count(p) > count_src)
			count_src = src_count(p);
		air[k++] = (struct radio_burst){ .start_us = attach + to_us(at_s), .end_us = attach + to_us(at_e),
		                                 .up = p->up };
		prev = i;
	}
	out->packets = k;
	/* after the last packet: the run's wait (the source's, then the
	 * target's), and what the hosts took beyond it */
	double rest = src->wake_ms * 1000.0 - src->settle_ms * 1000.0 - count_src;
	if (rest < 0)
		rest = 0;
	host += rest;
	out->host_ms = host / 1000.0;
	out->active_ms = (count_tgt + rest) / 1000.0;
	out->wake_ms = out->active_ms + (src->settle_ms > 0 ? link_settle_ms(target) : 0);
	/* energy_wake wants the bursts by start (insertion sort: nearly sorted) */
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
