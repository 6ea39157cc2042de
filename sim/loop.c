/* loop.c: epoll, the run's signals and the one ticker (see loop.h). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "engine.h"
#include "loop.h"

struct loop {
	int epfd, sigfd;
	struct loop_src sig_src;
	int signals;
	void (*on_second)(void *arg);
	void *on_second_arg;
	int (*tick_timeout)(void *arg);
	void (*tick)(void *arg);
	void *tick_arg;
};

static void signal_set(sigset_t *s)
{
	sigemptyset(s);
	sigaddset(s, SIGINT);
	sigaddset(s, SIGTERM);
	sigaddset(s, SIGHUP);
}

void loop_block_signals(void)
{
	sigset_t s;
	signal_set(&s);
	pthread_sigmask(SIG_BLOCK, &s, NULL);
}

int loop_signal_pending(void)
{
	sigset_t run, pending;
	signal_set(&run);
	if (sigpending(&pending) != 0)
		return 0;
	for (int sig = 1; sig < NSIG; sig++)
		if (sigismember(&run, sig) == 1 && sigismember(&pending, sig) == 1)
			return 1;
	return 0;
}

int loop_signals(struct loop *l)
{
	struct signalfd_siginfo si;
	while (read(l->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (++l->signals >= 2) {
			/* Second Ctrl-C: rows are on disk already; kill the servers and go. */
			if (l->on_second)
				l->on_second(l->on_second_arg);
			_exit(EXIT_INTERRUPTED);
		}
		fprintf(stderr, "\ndormant: interrupted; finishing what is in flight (Ctrl-C again to stop at once)\n");
	}
	return l->signals;
}

static void on_signal(struct loop_src *src, uint32_t events)
{
	struct loop *l = container_of(src, struct loop, sig_src);
	(void)loop_signals(l);
}

struct loop *loop_create(void (*on_second)(void *arg), void *arg)
{
	struct loop *l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	sigset_t s;
	signal_set(&s);
	loop_block_signals();
	l->on_second = on_second;
	l->on_second_arg = arg;
	l->sigfd = -1;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	l->sigfd = signalfd(-1, &s, SFD_NONBLOCK | SFD_CLOEXEC);
	l->sig_src.fn = on_signal;
	if (l->epfd < 0 || l->sigfd < 0 || loop_add(l->epfd, &l->sig_src, l->sigfd, EPOLLIN) < 0) {
		int saved = errno;
		loop_destroy(l);
		errno = saved;
		return NULL;
	}
	return l;
}

void loop_destroy(struct loop *l)
{
	if (!l)
		return;
	if (l->sigfd >= 0)
		close(l->sigfd);
	if (l->epfd >= 0)
		close(l->epfd);
	free(l);
}

int loop_epfd(const struct loop *l)
{
	return l->epfd;
}

void loop_set_ticker(struct loop *l, int (*timeout_ms)(void *arg), void (*tick)(void *arg), void *arg)
{
	l->tick_timeout = timeout_ms;
	l->tick = tick;
	l->tick_arg = arg;
}

void loop_run_once(struct loop *l, int timeout_ms)
{
	struct epoll_event evs[64];
	int mt = l->tick_timeout ? l->tick_timeout(l->tick_arg) : -1;
	if (mt >= 0 && (timeout_ms < 0 || mt < timeout_ms))
		timeout_ms = mt;
	int n = epoll_wait(l->epfd, evs, 64, timeout_ms);
	for (int i = 0; i < n; i++) {
		struct loop_src *s = evs[i].data.ptr;
		s->fn(s, evs[i].events);
	}
	if (l->tick)
		l->tick(l->tick_arg);
}
