/* timeline.c: timed events in the loop (see timeline.h). */
#include <stdlib.h>

#include "backend.h"
#include "clock.h"
#include "loop.h"
#include "timeline.h"

void timeline_init(struct timeline *t)
{
	SLIST_INIT(&t->streams);
}

void timeline_add(struct timeline *t, struct timeline_stream *s)
{
	SLIST_INSERT_HEAD(&t->streams, s, link);
}

uint64_t timeline_next_ns(struct timeline *t)
{
	uint64_t next = UINT64_MAX;
	struct timeline_stream *s;
	SLIST_FOREACH(s, &t->streams, link) {
		uint64_t n = s->next_ns(s);
		if (n < next)
			next = n;
	}
	return next;
}

void timeline_run(struct timeline *t, uint64_t now)
{
	struct timeline_stream *s;
	SLIST_FOREACH(s, &t->streams, link)
		if (s->next_ns(s) <= now)
			s->fire(s, now);
}

int timeline_wait_ms(struct timeline *t, uint64_t now, int cap_ms)
{
	uint64_t next = timeline_next_ns(t);
	if (next == UINT64_MAX)
		return cap_ms;
	if (next <= now)
		return 0;
	uint64_t ms = (next - now + 999999) / 1000000;
	return ms < (uint64_t)cap_ms ? (int)ms : cap_ms;
}

/* ---------- the backend's commands ---------- */

static int cmd_due_cmp(const void *a, const void *b)
{
	const struct cmd_rec *x = a, *y = b;
	return x->due_us < y->due_us ? -1 : x->due_us > y->due_us ? 1 : (x->device > y->device) - (x->device < y->device);
}

int timeline_plan_commands(struct cmd_table *cmds, const struct scenario *sc, uint32_t vi)
{
	uint64_t n = 0;
	for (size_t i = 0; i < sc->nfleets; i++) {
		const struct fleet *f = &sc->fleets[i];
		if (f->command_every_us)
			n += (uint64_t)f->count * ((sc->duration_us + f->command_every_us - 1) / f->command_every_us);
	}
	cmds->n = 0;
	/* A variant's own tag: a command left queued from an earlier variant is foreign. */
	cmds->tag = (uint32_t)(clock_mono_ns() ^ ((uint64_t)vi << 24)) | 1u;
	cmds->r = n <= UINT32_MAX ? calloc(n ? n : 1, sizeof(*cmds->r)) : NULL;
	if (!cmds->r)
		return -1;
	for (size_t i = 0; i < sc->nfleets; i++) {
		const struct fleet *f = &sc->fleets[i];
		uint64_t p = f->command_every_us, wk = f->wake_every_us;
		for (uint32_t j = 0; p && j < f->count; j++)
			for (uint64_t t = (uint64_t)j * wk / f->count + wk / 2; t < sc->duration_us; t += p) {
				struct cmd_rec *c = &cmds->r[cmds->n++];
				c->due_us = t;
				c->device = f->first_device + j;
			}
	}
	qsort(cmds->r, cmds->n, sizeof(*cmds->r), cmd_due_cmp);
	return 0;
}

static uint64_t commands_next(struct timeline_stream *s)
{
	struct timeline_commands *c = container_of(s, struct timeline_commands, s);
	return c->next < c->cmds->n ? c->t0_ns + c->cmds->r[c->next].due_us * 1000u : UINT64_MAX;
}

static void commands_fire(struct timeline_stream *s, uint64_t now)
{
	struct timeline_commands *c = container_of(s, struct timeline_commands, s);
	while (c->next < c->cmds->n) {
		struct cmd_rec *r = &c->cmds->r[c->next];
		if (c->t0_ns + r->due_us * 1000u > now)
			return;
		struct cmd_header h = { .magic = CMD_MAGIC, .index = c->next, .device = r->device, .tag = c->cmds->tag };
		h.issue_ns = clock_mono_ns();
		r->issue_ns = h.issue_ns;
		if (backend_command(c->backend, r->device, &h, sizeof(h)) != 0)
			r->issue_ns = 0; /* not sent: it counts as not issued */
		c->next++;
	}
}

void timeline_commands_init(struct timeline_commands *c, struct cmd_table *cmds, struct backend *backend,
                            uint64_t t0_ns)
{
	c->s.next_ns = commands_next;
	c->s.fire = commands_fire;
	c->cmds = cmds;
	c->next = 0;
	c->t0_ns = t0_ns;
	c->backend = backend;
}
