// See sepme_block_memory.h.
#if defined(__linux__)
#define _GNU_SOURCE
#endif
#include <sys/mman.h>

#include "sepme_block_memory.h"

void *sepme_block_map(size_t bytes, int huge) {
    void *block = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (block == MAP_FAILED) return NULL;
#if defined(MADV_HUGEPAGE)
    if (huge) (void)madvise(block, bytes, MADV_HUGEPAGE);
#else
    (void)huge;
#endif
    return block;
}

#if defined(__linux__)
int sepme_block_move(void *source, size_t bytes, void *destination) {
    void *moved = mremap(source, bytes, bytes, MREMAP_MAYMOVE | MREMAP_FIXED, destination);
    return moved == destination;
}
#else
int sepme_block_move(void *source, size_t bytes, void *destination) {
    (void)source, (void)bytes, (void)destination;
    return 0;
}
#endif
