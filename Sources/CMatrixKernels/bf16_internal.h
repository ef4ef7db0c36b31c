// Functions shared by the BF16 product's C files (not part of the module's interface).
#ifndef SEPME_BF16_INTERNAL_H
#define SEPME_BF16_INTERNAL_H

#include "sepme_matrix_kernels.h"

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
