// Functions shared by the BF16 product's C files (not part of the module's interface).
#ifndef SEPME_BF16_INTERNAL_H
#define SEPME_BF16_INTERNAL_H

#include "sepme_matrix_kernels.h"
#include "sepme_sgemm.h"

#include <stdint.h>

/// Pairs of consecutive k indices a packed operand of depth k holds (an odd k's last pair half empty).
static inline ptrdiff_t sepme_bf16_pairs(ptrdiff_t k) { return (k + 1) / 2; }

/// Where k row l of the implicit im2col columns `g` meets a column panel whose SEPME_BF16_NR pixels are one
/// run of an output row, from output pixel (oy0, ox0) at stride 1: whether the row reads the image at all
/// (l < k and its image row inside), the run of the image row it reads (run[t] for panel column t; NULL
/// when not inside), the lanes [lo, hi) of the panel that fall inside the image row, and its tap's column
/// kx (0: the first tap on that image row).
typedef struct {
    int inside;
    const float *run;
    ptrdiff_t lo, hi, kx;
} sepme_bf16_tap_run;

static inline sepme_bf16_tap_run sepme_bf16_tap_run_at(const sepme_sgemm_columns *g, ptrdiff_t l, ptrdiff_t k,
                                                       ptrdiff_t oy0, ptrdiff_t ox0) {
    ptrdiff_t taps = g->kernel_h * g->kernel_w;
    ptrdiff_t c = l / taps, ky = (l % taps) / g->kernel_w, kx = l % g->kernel_w;
    ptrdiff_t iy = oy0 * g->stride_h - g->pad_h + ky, ix0 = ox0 - g->pad_w + kx;
    sepme_bf16_tap_run r;
    r.inside = l < k && iy >= 0 && iy < g->height;
    r.run = r.inside ? g->image + (c * g->height + iy) * g->width + ix0 : NULL;
    r.lo = ix0 < 0 ? -ix0 : 0;
    r.hi = g->width - ix0 < SEPME_BF16_NR ? g->width - ix0 : SEPME_BF16_NR;
    r.kx = kx;
    return r;
}

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
