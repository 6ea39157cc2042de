/* heap.c: the allocator wrappers behind heap.h.
 * Built only without sanitizers (DORMANT_HEAP_TRACK): ASan must own malloc. */
#include <malloc.h>
#include <stddef.h>

#include "heap.h"

#ifdef DORMANT_HEAP_TRACK

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);

static __thread struct heap_scope *scope;

static void charge(int64_t d)
{
	struct heap_scope *s = scope;
	if (!s)
		return;
	s->cur += d;
	if (s->cur > s->peak)
		s->peak = s->cur;
}

void *malloc(size_t n)
{
	void *p = __libc_malloc(n);
	if (p && scope)
		charge((int64_t)malloc_usable_size(p));
	return p;
}

void *calloc(size_t n, size_t m)
{
	void *p = __libc_calloc(n, m);
	if (p && scope)
		charge((int64_t)malloc_usable_size(p));
	return p;
}

void *realloc(void *old, size_t n)
{
	int64_t before = old && scope ? (int64_t)malloc_usable_size(old) : 0;
	void *p = __libc_realloc(old, n);
	if (scope && (p || n == 0))
		charge((p ? (int64_t)malloc_usable_size(p) : 0) - before);
	return p;
}

void free(void *p)
{
	if (p && scope)
		charge(-(int64_t)malloc_usable_size(p));
	__libc_free(p);
}

int heap_available(void) { return 1; }

struct heap_scope *heap_enter(struct heap_scope *s)
{
	struct heap_scope *prev = scope;
	scope = s;
	return prev;
}

void heap_leave(struct heap_scope *prev)
{
	scope = prev;
}

#else

int heap_available(void) { return 0; }
struct heap_scope *heap_enter(struct heap_scope *s) { return NULL; }
void heap_leave(struct heap_scope *prev) { }

#endif
