// The mask of a partial 16-lane vector, shared by the AVX-512 kernels of this module (sgemm_avx512.c,
// bf16_pack_avx512.c, winograd.c; not part of the module's interface). x86-64 only; include after
// <immintrin.h>.
#ifndef SEPME_AVX512_LANES_H
#define SEPME_AVX512_LANES_H

#include <stddef.h>

// Lanes [0, count) of a 16-lane vector (count clamped to [0, 16]).
static inline __mmask16 first_lanes(ptrdiff_t count) {
    return count >= 16 ? (__mmask16)0xFFFF : (count > 0 ? (__mmask16)((1u << count) - 1) : (__mmask16)0);
}

#endif
