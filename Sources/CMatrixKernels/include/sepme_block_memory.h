// Anonymous mappings for large buffers (TensorEngine's LargeBlockCache).
//
// Mapping with transparent huge pages: the first touch of a fresh page is the costly part of a new buffer
// (a fault and a clear per 4 KiB page, more on a virtual machine); advising a mapping for huge pages makes
// it one fault per 2 MiB extent, where the system allows them (`madvise` mode).
//
// Resizing an anonymous mapping in place of unmapping it and mapping a fresh one: the pages it keeps stay
// resident, so reusing a cached buffer for a request of another size faults in only the pages it grows by
// (LargeBlockCache). Moving a mapping's pages into part of another builds one buffer out of several cached
// ones, again without faulting in what they hold. mremap is variadic in C, which Swift cannot call directly.
#ifndef SEPME_BLOCK_MEMORY_H
#define SEPME_BLOCK_MEMORY_H

#include <stddef.h>

/// A fresh private anonymous read-write mapping of `bytes`, advised for transparent huge pages when
/// `huge` (the advice is a hint: refused advice leaves ordinary pages); NULL where the system refuses.
void *sepme_block_map(size_t bytes, int huge);

/// Moves the pages of the mapping [source, source + bytes) to [destination, destination + bytes), replacing
/// whatever was mapped there, without copying (the pages stay resident); returns 1, or 0 where the system
/// refuses (both ranges then unchanged). Linux only; elsewhere 0.
int sepme_block_move(void *source, size_t bytes, void *destination);

/// The mapping [block, block + old_bytes) resized to new_bytes (moved if it must grow and cannot in
/// place); NULL where the system refuses, the old mapping then unchanged. Linux only; elsewhere NULL.
void *sepme_block_resize(void *block, size_t old_bytes, size_t new_bytes);

#endif
