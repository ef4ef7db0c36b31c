// BF16 matrix product with fp32 accumulation, and the FMA / BF16 dot-product loops that measure the
// machine's peak rate. Compiled for baseline x86-64; the AVX2 + FMA, AVX-512F and AVX-512 BF16 versions
// carry target attributes and are picked at run time from the CPU's feature bits.
//
// Packed operands. A matrix enters a product as the left operand (m x k, rows in panels of
// SEPME_BF16_MR) or the right operand (k x n, columns in panels of SEPME_BF16_NR). Each panel holds,
// for every pair of consecutive k indices p = (2q, 2q+1), one 32-bit word per row (or column): the bf16
// of index 2q in its low half, of index 2q+1 in its high half (the operand layout of vdpbf16ps). Odd k
// and partial panels are padded with zeros. Conversion from fp32 rounds to nearest even; subnormal
// inputs become signed zeros (as vdpbf16ps reads them), NaN stays NaN, values above the bf16 range round
// to infinity.
//
// Every path but AMX computes each output element the same way: starting from C (accumulate) or 0, for q in
// order: s += a[2q+1] b[2q+1], then s += a[2q] b[2q], each sum rounded to fp32. Products of two bf16
// values are exact in fp32, so a fused and an unfused multiply-add give the same sum.
#ifndef SEPME_MATRIX_KERNELS_H
#define SEPME_MATRIX_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "sepme_sgemm.h"

#define SEPME_BF16_MR 12
#define SEPME_BF16_NR 32

/// Number of uint16 values of a packed left operand (m x k) or right operand (k x n).
size_t sepme_bf16_packed_left_count(ptrdiff_t m, ptrdiff_t k);
size_t sepme_bf16_packed_right_count(ptrdiff_t k, ptrdiff_t n);

/// Packs row panels [panel_begin, panel_end) of the m x k left operand whose element (i, l) is
/// src[i * row_stride + l * k_stride].
void sepme_bf16_pack_left(uint16_t *dst, const float *src, ptrdiff_t m, ptrdiff_t k, ptrdiff_t row_stride,
                          ptrdiff_t k_stride, ptrdiff_t panel_begin, ptrdiff_t panel_end);
/// Packs column panels [panel_begin, panel_end) of the k x n right operand whose element (l, j) is
/// src[l * k_stride + j * column_stride].
void sepme_bf16_pack_right(uint16_t *dst, const float *src, ptrdiff_t k, ptrdiff_t n, ptrdiff_t k_stride,
                           ptrdiff_t column_stride, ptrdiff_t panel_begin, ptrdiff_t panel_end);

/// Packs column panels [panel_begin, panel_end) of the k x n right operand that is the implicit im2col
/// columns `columns` (sepme_sgemm.h: k = channels kernel_h kernel_w, n output pixels from its row_begin),
/// gathered from the image while packing: the words sepme_bf16_pack_right gives on the explicit columns.
void sepme_bf16_pack_right_columns(uint16_t *dst, const sepme_sgemm_columns *columns, ptrdiff_t k, ptrdiff_t n,
                                   ptrdiff_t panel_begin, ptrdiff_t panel_end);

/// C[i, j] (+)= sum_l A[i, l] B[l, j] for the row panels [row_panel_begin, row_panel_end) of the packed
/// left operand and the column panels [column_panel_begin, column_panel_end) of the packed right
/// operand; C is row-major with leading dimension ldc. accumulate = 0: C is overwritten.
void sepme_bf16_gemm(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const uint16_t *left, const uint16_t *right, float *c,
                     ptrdiff_t ldc, int accumulate, ptrdiff_t row_panel_begin, ptrdiff_t row_panel_end,
                     ptrdiff_t column_panel_begin, ptrdiff_t column_panel_end);

/// Kernel path in use: 3 = AMX-BF16 tiles (tdpbf16ps; its own summation order, see bf16_amx.c),
/// 2 = AVX-512 BF16 (vdpbf16ps), 1 = AVX2 + FMA (bf16 widened to fp32), 0 = scalar.
int sepme_bf16_gemm_path(void);
/// Tests: the highest path to use (honoured only up to what the CPU has); returns the previous limit.
/// Not for use while products run on other threads.
int sepme_bf16_gemm_set_path(int path);
/// Highest path this CPU supports.
int sepme_bf16_gemm_best_path(void);

/// Peak-rate loops, run on the calling thread: `iterations` rounds of independent multiply-add chains.
/// Returns the floating-point operations done (a multiply-add counts 2), or 0 when the CPU lacks the
/// instructions. kind 0: fp32 FMA with the widest vectors this CPU has (AVX-512F, AVX2 + FMA, or scalar
/// multiply and add); kind 1: BF16 dot products (vdpbf16ps, 32 products and 32 additions per instruction);
/// kind 2: AMX-BF16 tile products (tdpbf16ps, 8192 products and 8192 additions per instruction).
double sepme_peak_loop(int kind, long iterations);
/// Instruction set kind 0 uses: 3 = AVX-512F, 2 = AVX2 + FMA, 1 = scalar.
int sepme_peak_fp32_isa(void);
/// 1 when the CPU has AVX-512 BF16.
int sepme_cpu_has_avx512_bf16(void);
/// 1 when the CPU has AMX-BF16 and the OS granted this process the tile state.
int sepme_cpu_has_amx_bf16(void);

#endif
