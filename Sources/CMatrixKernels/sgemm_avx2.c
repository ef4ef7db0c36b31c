// Single-precision product on AVX2 + FMA micro-kernels, for CPUs without AVX-512F (see sepme_sgemm.h for the
// layout, the blocking and the summation order, which this file shares with sgemm_avx512.c: the same row and
// column panels, the same k slices, so every element is summed in the same order and rounds to the same
// float on both paths). A 12 x 32 tile of C is computed as four 6 x 16 sub-tiles, each kept in 12 of the
// 16 ymm registers.
#include "sgemm_internal.h"

#include <stdint.h>
#include <stdlib.h>

#define MR SEPME_SGEMM_MR
#define NR SEPME_SGEMM_NR
#define KC SEPME_SGEMM_KC
#define MC SEPME_SGEMM_MC
#define SUB_ROWS 6
#define SUB_COLUMNS 16

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <immintrin.h>
#define AVX2 __attribute__((target("avx2,fma")))

static int has_avx2_fma;
__attribute__((constructor)) static void detect_sgemm_avx2_path(void) {
    __builtin_cpu_init();
    has_avx2_fma = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
int sepme_sgemm_avx2_available(void) { return has_avx2_fma; }

// Column panel p of the slice [l0, l0 + kc) of B in the layout of sgemm_avx512.c's pack_right: for each l,
// NR values of the columns p NR ... p NR + NR - 1, zeros past n.
static AVX2 void pack_right(float *dst, const sepme_sgemm_problem *pr, ptrdiff_t l0, ptrdiff_t kc, ptrdiff_t p) {
    ptrdiff_t j0 = p * NR, live = pr->n - j0 < NR ? pr->n - j0 : NR;
    if (pr->b_column_stride == 1) {
        __m256i mask[NR / 8];
        for (int v = 0; v < NR / 8; v++) mask[v] = sepme_sgemm_first_lanes(live - 8 * v);
        for (ptrdiff_t l = 0; l < kc; l++) {
            const float *src = pr->b + (l0 + l) * pr->b_k_stride + j0;
            for (int v = 0; v < NR / 8; v++)
                _mm256_store_ps(dst + l * NR + 8 * v, _mm256_maskload_ps(src + 8 * v, mask[v]));
        }
        return;
    }
    // Transposed B (a weight W[out, in] used as W^T, or the keys of an attention product): each column is
    // read along its contiguous run and written down the panel.
    for (ptrdiff_t t = 0; t < NR; t++) {
        const float *src = pr->b + (j0 + t) * pr->b_column_stride + l0 * pr->b_k_stride;
        if (t < live)
            for (ptrdiff_t l = 0; l < kc; l++) dst[l * NR + t] = src[l * pr->b_k_stride];
        else
            for (ptrdiff_t l = 0; l < kc; l++) dst[l * NR + t] = 0.0f;
    }
}

// Rows [i0, i0 + mc) of the slice [l0, l0 + kc) of A, times alpha, in row panels of MR (zeros past mc), as
// sgemm_avx512.c's pack_left lays them out: for transposed A the MR values of each l are adjacent in A.
static AVX2 void pack_left(float *dst, const sepme_sgemm_problem *pr, ptrdiff_t i0, ptrdiff_t mc, ptrdiff_t l0,
                           ptrdiff_t kc) {
    for (ptrdiff_t q = 0; q * MR < mc; q++) {
        float *panel = dst + q * kc * MR;
        ptrdiff_t live = mc - q * MR < MR ? mc - q * MR : MR;
        const float *rows = pr->a + (i0 + q * MR) * pr->a_row_stride + l0 * pr->a_k_stride;
        for (ptrdiff_t l = 0; l < kc; l++)
            for (ptrdiff_t r = 0; r < MR; r++)
                panel[l * MR + r] = r < live ? pr->alpha * rows[r * pr->a_row_stride + l * pr->a_k_stride] : 0.0f;
    }
}

static inline AVX2 void finish(float *c, __m256i mask, int full, __m256 s, int mode, __m256 beta) {
    if (mode != SEPME_SGEMM_STORE) {
        __m256 old = full ? _mm256_loadu_ps(c) : _mm256_maskload_ps(c, mask);
        s = mode == SEPME_SGEMM_ADD ? _mm256_add_ps(old, s) : _mm256_fmadd_ps(beta, old, s);
    }
    if (full) _mm256_storeu_ps(c, s);
    else _mm256_maskstore_ps(c, mask, s);
}

// One 6 x 16 sub-tile of C (mr <= 6 rows, nr <= 16 columns stored) from kc steps. Element (r, l) of A is at
// a[r * rs + l * ls] (a packed row panel: rs 1, ls MR; rows in place: rs lda, ls 1), rows from `readable` on
// read row 0 instead (their sums are not stored); B's k row l starts at b + l * bs (a packed panel, bs NR,
// zeros past n; or B in place, bs its k stride, lanes past nr masked off).
static inline __attribute__((always_inline)) AVX2 void sub_tile(ptrdiff_t kc, const float *a, ptrdiff_t rs,
                                                                 ptrdiff_t ls, int readable, const float *b,
                                                                 ptrdiff_t bs, int packed, float *c, ptrdiff_t ldc,
                                                                 int mr, int nr, int mode, float beta) {
    const float *row[SUB_ROWS];
    for (int r = 0; r < SUB_ROWS; r++) row[r] = a + (r < readable ? r : 0) * rs;
    __m256 acc[SUB_ROWS][2];
    for (int r = 0; r < SUB_ROWS; r++) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
    __m256i m0 = sepme_sgemm_first_lanes(nr), m1 = sepme_sgemm_first_lanes(nr - 8);
    int full0 = nr >= 8, full1 = nr >= 16;
    // A packed panel holds zeros past n, and a whole row of B in place is readable: plain loads; only
    // a partial row of B in place needs masked ones (the condition is loop-invariant).
    int plain = packed || (full0 && full1);
    for (ptrdiff_t l = 0; l < kc; l++) {
        const float *line = b + l * bs;
        __m256 b0 = plain ? _mm256_loadu_ps(line) : _mm256_maskload_ps(line, m0);
        __m256 b1 = plain ? _mm256_loadu_ps(line + 8) : _mm256_maskload_ps(line + 8, m1);
        for (int r = 0; r < SUB_ROWS; r++) {
            __m256 x = _mm256_broadcast_ss(row[r] + l * ls);
            acc[r][0] = _mm256_fmadd_ps(x, b0, acc[r][0]);
            acc[r][1] = _mm256_fmadd_ps(x, b1, acc[r][1]);
        }
    }
    __m256 vb = _mm256_set1_ps(beta);
    for (int r = 0; r < mr && r < SUB_ROWS; r++) {
        if (nr > 0) finish(c + r * ldc, m0, full0, acc[r][0], mode, vb);
        if (nr > 8) finish(c + r * ldc + 8, m1, full1, acc[r][1], mode, vb);
    }
}

// The MR x NR tile as four sub-tiles (those with rows or columns to store).
static AVX2 void tile(ptrdiff_t kc, const float *a, ptrdiff_t rs, ptrdiff_t ls, int readable, const float *b,
                      ptrdiff_t bs, int packed, float *c, ptrdiff_t ldc, int mr, int nr, int mode, float beta) {
    for (int h = 0; h * SUB_ROWS < mr; h++) {
        int rows = mr - h * SUB_ROWS < SUB_ROWS ? mr - h * SUB_ROWS : SUB_ROWS;
        int readable_rows = readable - h * SUB_ROWS;
        const float *ah = a + h * SUB_ROWS * rs;
        for (int v = 0; v * SUB_COLUMNS < nr; v++) {
            int columns = nr - v * SUB_COLUMNS < SUB_COLUMNS ? nr - v * SUB_COLUMNS : SUB_COLUMNS;
            sub_tile(kc, ah, rs, ls, readable_rows, b + v * SUB_COLUMNS, bs, packed,
                     c + h * SUB_ROWS * ldc + v * SUB_COLUMNS, ldc, rows, columns, mode, beta);
        }
    }
}

static _Thread_local float *thread_scratch;

int sepme_sgemm_avx2_task(const sepme_sgemm_problem *pr, ptrdiff_t row_begin, ptrdiff_t row_end,
                          ptrdiff_t column_panel_begin, ptrdiff_t column_panel_end) {
    if (!has_avx2_fma || pr->b_columns) return -1;
    if (row_end <= row_begin || column_panel_end <= column_panel_begin) return 0;
    if (!thread_scratch) {
        thread_scratch = aligned_alloc(64, sizeof(float) * (size_t)(MC * KC + KC * NR));
        if (!thread_scratch) return -1;
    }
    float *packed_left = thread_scratch;
    float *packed_right = thread_scratch + MC * KC;
    // The blocking of sgemm_avx512.c (sgemm_internal.h): the same slices, so the same summation order.
    sepme_sgemm_blocking cut = sepme_sgemm_blocking_of(pr, row_begin, row_end);
    ptrdiff_t depth = cut.depth, block = cut.block;
    int direct_left = cut.direct_left, direct_right = cut.direct_right;
    for (ptrdiff_t l0 = 0; l0 < pr->k; l0 += depth) {
        ptrdiff_t kc = pr->k - l0 < depth ? pr->k - l0 : depth;
        int mode = sepme_sgemm_slice_mode(pr, l0);
        for (ptrdiff_t i0 = row_begin; i0 < row_end; i0 += block) {
            ptrdiff_t mc = row_end - i0 < block ? row_end - i0 : block;
            if (!direct_left) pack_left(packed_left, pr, i0, mc, l0, kc);
            for (ptrdiff_t p = column_panel_begin; p < column_panel_end; p++) {
                ptrdiff_t j0 = p * NR;
                int nr = pr->n - j0 < NR ? (int)(pr->n - j0) : NR;
                const float *b = packed_right;
                ptrdiff_t ldb = NR;
                if (direct_right) {
                    b = pr->b + l0 * pr->b_k_stride + j0;
                    ldb = pr->b_k_stride;
                } else {
                    pack_right(packed_right, pr, l0, kc, p);
                }
                for (ptrdiff_t q = 0; q * MR < mc; q++) {
                    int mr = mc - q * MR < MR ? (int)(mc - q * MR) : MR;
                    float *c = pr->c + (i0 + q * MR) * pr->ldc + j0;
                    if (direct_left)
                        tile(kc, pr->a + (i0 + q * MR) * pr->a_row_stride + l0, pr->a_row_stride, 1, mr, b, ldb,
                             !direct_right, c, pr->ldc, mr, nr, mode, pr->beta);
                    else
                        tile(kc, packed_left + q * kc * MR, 1, MR, MR, b, ldb, !direct_right, c, pr->ldc, mr, nr,
                             mode, pr->beta);
                }
            }
        }
    }
    return 0;
}
#else
int sepme_sgemm_avx2_available(void) { return 0; }
int sepme_sgemm_avx2_task(const sepme_sgemm_problem *pr, ptrdiff_t row_begin, ptrdiff_t row_end,
                          ptrdiff_t column_panel_begin, ptrdiff_t column_panel_end) {
    (void)pr, (void)row_begin, (void)row_end, (void)column_panel_begin, (void)column_panel_end;
    return -1;
}
#endif
