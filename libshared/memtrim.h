/*
 * memtrim.h - memory given back to the system after peaks (glibc malloc).
 *
 * A process that has handled a burst of large requests keeps what malloc
 * took for them.  glibc raises its mmap threshold to the size of every
 * large block freed (up to 32 MiB), so after the first 8 MiB body the
 * next ones come from the arenas, and what is freed in an arena stays
 * resident: the gateway idled at 136 MB after a bad-input campaign that
 * started it at 11 MB.  memtrim_init() fixes the threshold, so blocks of
 * MEMTRIM_MMAP_MIN and more are mapped for each use and unmapped when
 * freed; memtrim_tick(), from a timer the process already has, returns
 * the arenas' free pages (malloc_trim) when more than min_free bytes are
 * free, at most once a second.  Either is harmless to call with another
 * allocator (they do nothing).  Thread-safe.
 */
#ifndef SH_MEMTRIM_H
#define SH_MEMTRIM_H

#include <stddef.h>
#include <stdint.h>

#define MEMTRIM_MMAP_MIN	(256 * 1024)
#define MEMTRIM_PERIOD_MS	1000
/* Free bytes worth a malloc_trim (the min_free every caller passes). */
#define MEMTRIM_MIN_FREE	(2 * 1024 * 1024)

/* Call once, early in main(), before threads allocate. */
void	 memtrim_init(void);
/* now_ms: monotonic.  Returns 1 when it gave memory back. */
int	 memtrim_tick(uint64_t now_ms, size_t min_free);

#endif /* SH_MEMTRIM_H */
