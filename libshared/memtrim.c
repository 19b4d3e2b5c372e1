/*
 * memtrim.c - memory given back after peaks (see memtrim.h).
 */
#include <malloc.h>
#include <stdatomic.h>

#include "memtrim.h"

static atomic_ullong	memtrim_last;	/* ms of the last check */

void
memtrim_init(void)
{
#ifdef M_MMAP_THRESHOLD
	/* Setting it also stops glibc from moving it (and the trim
	 * threshold) after each large free. */
	mallopt(M_MMAP_THRESHOLD, MEMTRIM_MMAP_MIN);
#endif
}

int
memtrim_tick(uint64_t now_ms, size_t min_free)
{
#if defined(__GLIBC__)
	struct mallinfo2	mi;
	unsigned long long	last = atomic_load(&memtrim_last);

	if (now_ms - last < MEMTRIM_PERIOD_MS ||
	    !atomic_compare_exchange_strong(&memtrim_last, &last, now_ms))
		return (0);
	/* mallinfo2 walks every arena's free lists: cheap once a second,
	 * and it keeps malloc_trim (which touches every free page) for
	 * when there is something to give back. */
	mi = mallinfo2();
	if (mi.fordblks < min_free)
		return (0);
	return (malloc_trim(0));
#else
	(void)now_ms;
	(void)min_free;
	return (0);
#endif
}
