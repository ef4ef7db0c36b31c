// Resizing an anonymous mapping in place of unmapping it and mapping a fresh one: the pages it keeps stay
// resident, so reusing a cached buffer for a request of another size faults in only the pages it grows by
// (TensorEngine's LargeBlockCache). mremap is variadic in C, which Swift cannot call directly.
#ifndef SEPME_BLOCK_MEMORY_H
#define SEPME_BLOCK_MEMORY_H

#include <stddef.h>

/// The mapping [block, block + old_bytes) resized to new_bytes (moved if it must grow and cannot in
/// place); NULL where the system refuses, the old mapping then unchanged. Linux only; elsewhere NULL.
void *sepme_block_resize(void *block, size_t old_bytes, size_t new_bytes);

#endif
