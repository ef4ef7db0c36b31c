// Out-of-place transposition of a float matrix, for the permutations that swap a tensor's two innermost
// (coalesced) dimensions (`permuteKernel`: image [C, H·W] to tokens [H·W, C] and back). Eight-by-eight
// blocks transposed in registers where the CPU has AVX2 (AVX), the edges one element at a time. Copies only:
// every path writes the same bits.
#ifndef SEPME_TRANSPOSE_H
#define SEPME_TRANSPOSE_H

#include <stddef.h>

/// dst[j · ldd + i] = src[i · lds + j] for i < rows, j < cols (the blocks must not overlap).
void sepme_transpose(float *dst, ptrdiff_t ldd, const float *src, ptrdiff_t lds, ptrdiff_t rows, ptrdiff_t cols);

/// The path in use: 0 element by element, 1 eight-by-eight register blocks (AVX2 CPUs).
int sepme_transpose_path(void);

/// Chooses a path at most the CPU's best; returns the previous one (for tests).
int sepme_transpose_set_path(int path);

#endif
