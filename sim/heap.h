/* heap.h: heap high-water marks of one piece of work (a device's TLS context).
 *
 * The executable defines malloc/calloc/realloc/free over glibc's __libc_*
 * (heap.c), so libraries' allocations are seen too. A thread that entered a
 * scope has every allocation and free it makes charged to that scope until
 * it leaves. Under AddressSanitizer the allocator belongs to ASan: then
 * heap_available() is 0 and dormant reports no heap figures rather than
 * wrong ones.
 */
#ifndef DORMANT_HEAP_H
#define DORMANT_HEAP_H

#include <stdint.h>

struct heap_scope {
	int64_t cur;    /* bytes live now (usable sizes), charged to this scope */
	int64_t peak;   /* high-water of cur */
};

int heap_available(void);
/* Charges this thread's allocations to S until heap_leave(); returns the previous scope. */
struct heap_scope *heap_enter(struct heap_scope *s);
void heap_leave(struct heap_scope *prev);

#endif
