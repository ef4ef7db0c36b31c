// See sepme_block_memory.h.
#if defined(__linux__)
#define _GNU_SOURCE
#include <sys/mman.h>
#endif
#include "sepme_block_memory.h"

#if defined(__linux__)
void *sepme_block_resize(void *block, size_t old_bytes, size_t new_bytes) {
    void *moved = mremap(block, old_bytes, new_bytes, MREMAP_MAYMOVE);
    return moved == MAP_FAILED ? NULL : moved;
}
#else
void *sepme_block_resize(void *block, size_t old_bytes, size_t new_bytes) {
    (void)block, (void)old_bytes, (void)new_bytes;
    return NULL;
}
#endif
