// Functions shared by the BF16 product's C files (not part of the module's interface).
#ifndef SEPME_BF16_INTERNAL_H
#define SEPME_BF16_INTERNAL_H

#include "sepme_matrix_kernels.h"
#include "sepme_sgemm.h"

#include <stdint.h>

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
/// Packing loops for CPUs with AVX-512 BF16 (bf16_pack_avx512.c), the same words as the scalar packing.
/// Full panels only (0 otherwise); each returns the whole pairs it packed, leaving an odd k's last value to
/// the scalar loop. Lines adjacent in memory (line stride 1; k rows k_stride apart):
ptrdiff_t sepme_bf16_pack_adjacent_lines_avx512(uint16_t *dst, const float *src, ptrdiff_t lines, ptrdiff_t k,
                                                ptrdiff_t k_stride, ptrdiff_t first, int width);
/// k values adjacent in memory (k stride 1; lines line_stride apart):
ptrdiff_t sepme_bf16_pack_adjacent_k_avx512(uint16_t *dst, const float *src, ptrdiff_t lines, ptrdiff_t k,
                                            ptrdiff_t line_stride, ptrdiff_t first, int width);
/// One full column panel of implicit im2col columns whose 32 pixels are one run of an output row (stride 1).
void sepme_bf16_pack_column_runs_avx512(uint32_t *out, const sepme_sgemm_columns *g, ptrdiff_t k, ptrdiff_t oy0,
                                        ptrdiff_t ox0);
#endif

/// 1 when the CPU has AMX-BF16 and the kernel granted this process the tile data state.
int sepme_bf16_amx_available(void);
/// The product on the AMX tile unit for the rows [row_begin, row_end) (row_end <= m) and the column panels
/// [column_panel_begin, column_panel_end) of the packed operands (same layouts and contract as
/// sepme_bf16_gemm).
void sepme_bf16_gemm_amx(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const uint16_t *left_packed,
                         const uint16_t *right_packed, float *c, ptrdiff_t ldc, int accumulate, ptrdiff_t row_begin,
                         ptrdiff_t row_end, ptrdiff_t column_panel_begin, ptrdiff_t column_panel_end);

/// Configures the AMX tile unit for the kernels here: tiles 0-7 of 16 rows of 64 bytes (palette 1).
/// Only where sepme_bf16_amx_available() is 1.
void sepme_amx_load_full_tiles(void);

#endif
