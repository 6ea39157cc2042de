/* loop.h: the one epoll loop of the engine thread.
 * Every file descriptor registered carries a struct loop_src whose fn is
 * called with the ready events; the struct is embedded in its owner, so the
 * owner is found with container_of. No allocation, no dispatch table. */
#ifndef DORMANT_LOOP_H
#define DORMANT_LOOP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/epoll.h>

struct loop_src {
	void (*fn)(struct loop_src *src, uint32_t events);
	int fd;
};

#define container_of(ptr, type, member) ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

static inline int loop_add(int epfd, struct loop_src *src, int fd, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = src };
	src->fd = fd;
	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}
static inline int loop_mod(int epfd, struct loop_src *src, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = src };
	return epoll_ctl(epfd, EPOLL_CTL_MOD, src->fd, &ev);
}
static inline void loop_del(int epfd, struct loop_src *src)
{
	if (src->fd >= 0)
		epoll_ctl(epfd, EPOLL_CTL_DEL, src->fd, NULL);
}

#endif
