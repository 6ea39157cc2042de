/* loop.h: the one event loop of the engine thread, passed to whoever needs it.
 *
 * Every file descriptor registered carries a struct loop_src whose fn is
 * called with the ready events; the struct is embedded in its owner, so the
 * owner is found with container_of. No allocation, no dispatch table.
 *
 * struct loop (loop.c) owns the epoll instance and the run's signals: it
 * blocks the signal set (SIGINT, SIGTERM, SIGHUP) in the calling thread,
 * so threads created later inherit the mask, and reads them from a
 * signalfd. The first signal is only counted (loop_signals() says so, and
 * the engine winds down); the second calls the function given to
 * loop_create() and then exits 130 at once, wherever dormant was waiting,
 * because every wait in brokers/ asks loop_signals() through
 * server_set_interrupt(). One ticker (the modem's timers) is asked before
 * each wait how long it may sleep and is run after it.
 *
 * Ownership: loop_create/loop_destroy; sources are their owners'.
 */
#ifndef DORMANT_LOOP_H
#define DORMANT_LOOP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/epoll.h>

struct loop_src {
	void (*fn)(struct loop_src *src, uint32_t events);
	int fd;
	uint32_t events;            /* what epoll was last told to watch for */
};

#define container_of(ptr, type, member) ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

static inline int loop_add(int epfd, struct loop_src *src, int fd, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = src };
	src->fd = fd;
	src->events = events;
	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}
/* A system call only when the mask changes: the modem asks after every
 * event, and most leave it as it was (measured: 22 epoll_ctl a wake, most
 * of them no-ops, each a system call on this virtual machine). */
static inline int loop_mod(int epfd, struct loop_src *src, uint32_t events)
{
	if (events == src->events)
		return 0;
	struct epoll_event ev = { .events = events, .data.ptr = src };
	src->events = events;
	return epoll_ctl(epfd, EPOLL_CTL_MOD, src->fd, &ev);
}
static inline void loop_del(int epfd, struct loop_src *src)
{
	if (src->fd >= 0)
		epoll_ctl(epfd, EPOLL_CTL_DEL, src->fd, NULL);
}

struct loop;

/* The signals that interrupt a run, blocked in the calling thread (and so
 * in every thread it creates afterwards). The one place they are listed. */
void loop_block_signals(void);
/* 1 when one of those signals is pending (blocked and not yet taken), else 0.
 * It stays pending: asking again says 1 again. For work after the loop (the
 * figures of `dormant run`, `dormant plot`), which has no signalfd. */
int loop_signal_pending(void);
/* ON_SECOND(ARG) runs at a second signal, right before _exit(130): it must
 * only kill and say where the results are. NULL with errno on failure. */
struct loop *loop_create(void (*on_second)(void *arg), void *arg);
void loop_destroy(struct loop *l);
int loop_epfd(const struct loop *l);
/* TIMEOUT_MS(ARG) says how soon TICK(ARG) wants to run (-1: no wish). */
void loop_set_ticker(struct loop *l, int (*timeout_ms)(void *arg), void (*tick)(void *arg), void *arg);
/* Waits up to TIMEOUT_MS (-1: no limit) for events, runs their sources, then the ticker. */
void loop_run_once(struct loop *l, int timeout_ms);
/* Signals seen so far (reads any that are pending first). */
int loop_signals(struct loop *l);

#endif
