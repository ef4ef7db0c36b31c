// Anonymous mappings for large buffers (TensorEngine's LargeBlockCache).
//
// Mapping with transparent huge pages: the first touch of a fresh page is the costly part of a new buffer
// (a fault and a clear per 4 KiB page, more on a virtual machine); advising a mapping for huge pages makes
// it one fault per 2 MiB extent, where the system allows them (`madvise` mode).
//
// Moving a mapping's pages into part of another builds one buffer out of several cached ones without
// faulting in what they hold: the pages stay resident, only their page tables move (LargeBlockCache). mremap
// is variadic in C, which Swift cannot call directly.
#ifndef SEPME_BLOCK_MEMORY_H
#define SEPME_BLOCK_MEMORY_H

#include <stddef.h>

/// A fresh private anonymous read-write mapping of `bytes`, advised for transparent huge pages when
/// `huge` (the advice is a hint: refused advice leaves ordinary pages); NULL where the system refuses.
void *sepme_block_map(size_t bytes, int huge);

/// Moves the pages of [source, source + bytes), a range inside one mapping, to [destination, destination +
/// bytes), replacing whatever was mapped there, without copying (the pages stay resident; the source range is
/// left unmapped); returns 1, or 0 where the system refuses (both ranges then unchanged, as for a range that
/// spans two mappings). Linux only; elsewhere 0.
int sepme_block_move(void *source, size_t bytes, void *destination);

#endif
