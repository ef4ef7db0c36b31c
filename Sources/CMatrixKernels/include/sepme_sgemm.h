// Single-precision matrix product with AVX-512F micro-kernels, for CPUs where the linked BLAS does not run
// at the processor's peak (an OpenBLAS limited to its AVX2 kernels, as OPENBLAS_CORETYPE=Haswell makes it,
// reaches about half of an AVX-512 core's FMA rate).
//
// C[i, j] = alpha * sum_l A[i, l] B[l, j] + beta * C[i, j], A (m x k) element (i, l) at
// a[i * a_row_stride + l * a_k_stride], B (k x n) element (l, j) at b[l * b_k_stride + j * b_column_stride],
// C row-major with leading dimension ldc (any of the four transpose cases is a choice of strides).
//
// Blocking (after Goto and van de Geijn, "Anatomy of high-performance matrix multiplication", 2008): the
// k range is cut into slices of equal depth, at most SEPME_SGEMM_KC; for each slice, a block of at most
// SEPME_SGEMM_MC rows of A (packed into row panels of SEPME_SGEMM_MR where A is transposed or scaled by
// alpha, read in place where it is row-major) stays in L2, then each column panel of SEPME_SGEMM_NR columns
// of B is packed (k-major; it stays in L1) and met by every row panel of the block; the micro-kernel keeps
// an MR x NR tile of C in 24 vector registers. A task of at most 48 rows with both operands row-major reads
// B in place too (its panels would meet too few row panels to repay packing), and covers a last 33 to 48
// columns in one pass of 8 x 48 tiles (also 24 registers) instead of a 12 x 32 and a 12 x 16 one.
//
// Summation order, the same for every element whatever the split into tasks: for each k slice in order,
// s = sum over the slice's l in order (fused multiply-adds from zero), then C = C + s (C = beta C + s for
// the first slice; C = s when beta is 0).
#ifndef SEPME_SGEMM_H
#define SEPME_SGEMM_H

#include <stddef.h>

#define SEPME_SGEMM_MR 12
#define SEPME_SGEMM_NR 32
#define SEPME_SGEMM_KC 256
#define SEPME_SGEMM_MC 384
/// The deepest k slice of the dot-product route (sgemm_dot.c): each slice ends in a 16-lane reduction of
/// every element of C, so deeper slices reduce less often, while one tile's rows of A and B over a slice
/// must still fit in L1 on the AVX2 path, whose 3 × 2 tiles load five values per six multiply-adds.
#define SEPME_SGEMM_DOT_KC 1536

/// B given implicitly as the im2col columns of one image (PyTorch Conv2d, no dilation): B (k x n) element
/// (l, j), with l = (c kernel_h + ky) kernel_w + kx and output pixel (oy, ox) = (row_begin + j / out_w,
/// j % out_w), is image[c][oy stride_h - pad_h + ky][ox stride_w - pad_w + kx], zero outside the image.
/// Each panel of B is gathered from the image as it is packed, so the column matrix is never written;
/// the packed values, and so the results, are those of an explicit im2col.
typedef struct {
    const float *image;  // [channels, height, width]
    ptrdiff_t height, width;
    ptrdiff_t kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w;
    ptrdiff_t out_w, row_begin;
} sepme_sgemm_columns;

/// Element of the implicit columns `g` in the row of tap (c, ky, kx) and column j (output pixel
/// (row_begin + j / out_w, j % out_w)): the image value there, 0 outside the image.
static inline float sepme_columns_value(const sepme_sgemm_columns *g, ptrdiff_t c, ptrdiff_t ky, ptrdiff_t kx,
                                        ptrdiff_t j) {
    ptrdiff_t oy = g->row_begin + j / g->out_w, ox = j % g->out_w;
    ptrdiff_t iy = oy * g->stride_h - g->pad_h + ky, ix = ox * g->stride_w - g->pad_w + kx;
    if (iy < 0 || iy >= g->height || ix < 0 || ix >= g->width) return 0.0f;
    return g->image[(c * g->height + iy) * g->width + ix];
}

typedef struct {
    ptrdiff_t m, n, k;
    float alpha, beta;
    const float *a;
    ptrdiff_t a_row_stride, a_k_stride;
    const float *b;
    ptrdiff_t b_k_stride, b_column_stride;
    float *c;
    ptrdiff_t ldc;
    const sepme_sgemm_columns *b_columns;  // when not NULL, B is these columns (b and its strides unused)
} sepme_sgemm_problem;

/// 1 when this CPU has AVX-512F (the micro-kernels' instruction set).
int sepme_sgemm_available(void);

/// One task: the rows [row_begin, row_end) and the column panels [column_panel_begin, column_panel_end)
/// of C, over the whole k range. Tasks with disjoint rows or column panels may run at the same time; each
/// packs into its thread's own buffers (allocated on the thread's first task, kept for its life).
/// Returns 0, or -1 when that buffer could not be allocated or the CPU lacks AVX-512F (C untouched).
int sepme_sgemm_task(const sepme_sgemm_problem *problem, ptrdiff_t row_begin, ptrdiff_t row_end,
                     ptrdiff_t column_panel_begin, ptrdiff_t column_panel_end);

/// 1 when this CPU has AVX2 and FMA (sgemm_avx2.c's instruction set).
int sepme_sgemm_avx2_available(void);

/// The same task on AVX2 + FMA micro-kernels (sgemm_avx2.c), with the same panels, slices and summation
/// order, so the same result to the bit. Returns -1 (C untouched) where the CPU lacks AVX2 or FMA, the
/// buffer could not be allocated, or B is implicit im2col columns (b_columns), which this path leaves to
/// the caller's fallback.
int sepme_sgemm_avx2_task(const sepme_sgemm_problem *problem, ptrdiff_t row_begin, ptrdiff_t row_end,
                          ptrdiff_t column_panel_begin, ptrdiff_t column_panel_end);

/// C = A Bᵀ as dot products (sgemm_dot.c), for products of few rows whose operands are both k-contiguous
/// (a_k_stride and b_k_stride 1, alpha 1, no implicit columns: a linear layer x Wᵀ): the columns
/// [column_begin, column_end) of C, every row, over the whole k range, on AVX-512F (avx512 1) or AVX2 + FMA
/// (avx512 0), with the same summation order on both (sgemm_dot.c's header), which differs from the panel
/// kernels'. Returns 0, or -1 (C untouched) where the problem does not qualify or the CPU lacks the path.
int sepme_sgemm_dot_task(const sepme_sgemm_problem *problem, ptrdiff_t column_begin, ptrdiff_t column_end,
                         int avx512);

#endif
