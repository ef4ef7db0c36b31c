// The blocking both fp32 product paths share (sgemm_avx512.c, sgemm_avx2.c; not part of the module's
// interface): the same k slices and row blocks give every element the same summation order on both.
#ifndef SEPME_SGEMM_INTERNAL_H
#define SEPME_SGEMM_INTERNAL_H

#include "sepme_sgemm.h"

#ifndef SEPME_SGEMM_DIRECT_RIGHT_ROWS
#define SEPME_SGEMM_DIRECT_RIGHT_ROWS 48
#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <immintrin.h>
/// Lanes [0, live) of an 8-lane vector, as a maskload/maskstore mask (live clamped to [0, 8]).
static inline __attribute__((target("avx2"))) __m256i sepme_sgemm_first_lanes(ptrdiff_t live) {
    int n = live < 0 ? 0 : (live > 8 ? 8 : (int)live);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
#endif

#endif

/// How a task over rows [row_begin, row_end) cuts its work: k slices of equal depth (at most KC: a short
/// last slice would pay the C tile's loads and stores for little work), row blocks of equal size (whole
/// panels, at most MC rows); A read in place where row-major and unscaled; B read in place too where it is
/// row-major and the task has few rows (an attention tile's queries: each panel of B would meet too few row
/// panels to repay packing it).
typedef struct {
    ptrdiff_t depth, block;
    int direct_left, direct_right;
} sepme_sgemm_blocking;

static inline sepme_sgemm_blocking sepme_sgemm_blocking_of(const sepme_sgemm_problem *pr, ptrdiff_t row_begin,
                                                           ptrdiff_t row_end) {
    sepme_sgemm_blocking b;
    ptrdiff_t slices = (pr->k + SEPME_SGEMM_KC - 1) / SEPME_SGEMM_KC;
    b.depth = (pr->k + slices - 1) / slices;
    ptrdiff_t blocks = (row_end - row_begin + SEPME_SGEMM_MC - 1) / SEPME_SGEMM_MC;
    b.block = ((row_end - row_begin + blocks - 1) / blocks + SEPME_SGEMM_MR - 1) / SEPME_SGEMM_MR * SEPME_SGEMM_MR;
    b.direct_left = pr->a_k_stride == 1 && pr->alpha == 1.0f;
    b.direct_right = b.direct_left && !pr->b_columns && pr->b_column_stride == 1 &&
                     row_end - row_begin <= SEPME_SGEMM_DIRECT_RIGHT_ROWS;
    return b;
}

/// How the sums of the k slice starting at l0 meet C.
enum { SEPME_SGEMM_STORE = 0, SEPME_SGEMM_ADD = 1, SEPME_SGEMM_SCALE_ADD = 2 };
static inline int sepme_sgemm_slice_mode(const sepme_sgemm_problem *pr, ptrdiff_t l0) {
    if (l0 > 0) return SEPME_SGEMM_ADD;
    return pr->beta == 0.0f ? SEPME_SGEMM_STORE : (pr->beta == 1.0f ? SEPME_SGEMM_ADD : SEPME_SGEMM_SCALE_ADD);
}

#endif
