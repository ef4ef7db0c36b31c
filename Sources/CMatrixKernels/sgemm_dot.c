// C = A Bᵀ for few rows with both operands k-contiguous (a linear layer x Wᵀ on text tokens), as dot
// products: no operand is packed. The panel kernels (sgemm_avx512.c) must transpose every panel of W as
// they pack it, and with 77 rows each packed panel meets only seven row panels; here each tile reads
// its rows of x and of W where they lie and sums along k in vector lanes.
//
// Summation order (sepme_sgemm.h, sepme_sgemm_dot_task), the same on the AVX-512F and AVX2 paths: k is cut
// into slices of equal depth (at most SEPME_SGEMM_DOT_KC); in a slice starting at l0, lane j (0..15) sums
// A[i, l] B[j', l] over l = l0 + j, l0 + j + 16, ... in order (fused multiply-adds from zero; past the
// slice's end, zeros), then the 16 lanes are added as a tree: q_j = p_j + p_{j+8}, r_j = q_j + q_{j+4},
// s_j = r_j + r_{j+2}, t = s_0 + s_1; then C = t (first slice, beta 0), C + t (later slices, or beta 1),
// or fma(beta, C, t).
#include "sgemm_internal.h"

#include <math.h>
#include <stdint.h>

#define DOT_KC SEPME_SGEMM_DOT_KC

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <immintrin.h>
#define AVX512 __attribute__((target("avx512f")))
#define AVX2 __attribute__((target("avx2,fma")))

static int has_avx512f, has_avx2_fma;
__attribute__((constructor)) static void detect_sgemm_dot_paths(void) {
    __builtin_cpu_init();
    has_avx2_fma = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    has_avx512f = __builtin_cpu_supports("avx512f");
}

static inline float combine(float old, float t, int mode, float beta) {
    return mode == SEPME_SGEMM_STORE ? t : (mode == SEPME_SGEMM_ADD ? old + t : fmaf(beta, old, t));
}

// ---- AVX-512F: tiles of 4 rows of A by 6 rows of B, 24 accumulators ----

#define TILE_ROWS 4
#define TILE_COLUMNS 6

// The lane of the reduced vectors (0..15: the first, 16..31: the second) that holds accumulator i
// (row r, column j: i = 6 r + j) after `reduce24`.
static inline int reduced_lane(int i) { return i < 16 ? 4 * (i % 4) + i / 4 : 16 + 4 * ((i - 16) % 4) + (i - 16) / 4; }

// Adds the 16 lanes of each of the 24 accumulators by the tree of the header comment, two to four
// accumulators per instruction; the sums land at `reduced_lane` of *first / *second.
static inline AVX512 void reduce24(__m512 acc[24], __m512 *first, __m512 *second) {
    __m512 w[12], x[6], y[3];
    // q: lanes j and j + 8 (the 256-bit halves), two accumulators per vector.
    for (int p = 0; p < 12; p++)
        w[p] = _mm512_add_ps(_mm512_shuffle_f32x4(acc[2 * p], acc[2 * p + 1], 0x44),
                             _mm512_shuffle_f32x4(acc[2 * p], acc[2 * p + 1], 0xEE));
    // r: lanes j and j + 4 of q (the 128-bit quarters), four accumulators per vector.
    for (int t = 0; t < 6; t++)
        x[t] = _mm512_add_ps(_mm512_shuffle_f32x4(w[2 * t], w[2 * t + 1], 0x88),
                             _mm512_shuffle_f32x4(w[2 * t], w[2 * t + 1], 0xDD));
    // s: lanes j and j + 2 of r, within each quarter.
    for (int u = 0; u < 3; u++)
        y[u] = _mm512_add_ps(_mm512_shuffle_ps(x[2 * u], x[2 * u + 1], 0x44),
                             _mm512_shuffle_ps(x[2 * u], x[2 * u + 1], 0xEE));
    // t: lanes 0 and 1 of s.
    *first = _mm512_add_ps(_mm512_shuffle_ps(y[0], y[1], 0x88), _mm512_shuffle_ps(y[0], y[1], 0xDD));
    *second = _mm512_add_ps(_mm512_shuffle_ps(y[2], y[2], 0x88), _mm512_shuffle_ps(y[2], y[2], 0xDD));
}

// The lane sums of one tile over kc values of k, rows ar[0..rows) of A by rows bc[0..5] of B, reduced by
// `reduce24` into *first / *second (the sums of rows past `rows` are zeros). Out of line, one copy per row
// count, so that the accumulators are allocated registers of their own, a short last row group does not
// multiply repeated rows, and the reduction reads the accumulators from registers.
static inline __attribute__((always_inline)) AVX512 void tile_sums(ptrdiff_t kc, const float *const ar[TILE_ROWS],
                                                                   const float *const bc[TILE_COLUMNS],
                                                                   __m512 *first, __m512 *second, const int rows) {
    __m512 s[TILE_ROWS * TILE_COLUMNS];
    for (int i = 0; i < TILE_ROWS * TILE_COLUMNS; i++) s[i] = _mm512_setzero_ps();
    ptrdiff_t l = 0;
    for (; l + 16 <= kc; l += 16) {
        __m512 x[TILE_ROWS];
        for (int r = 0; r < rows; r++) x[r] = _mm512_loadu_ps(ar[r] + l);
        for (int j = 0; j < TILE_COLUMNS; j++) {
            __m512 w = _mm512_loadu_ps(bc[j] + l);
            for (int r = 0; r < rows; r++) s[r * TILE_COLUMNS + j] = _mm512_fmadd_ps(x[r], w, s[r * TILE_COLUMNS + j]);
        }
    }
    if (l < kc) {  // the slice's last, partial chunk: zeros past its end
        __mmask16 m = (__mmask16)((1u << (kc - l)) - 1);
        __m512 x[TILE_ROWS];
        for (int r = 0; r < rows; r++) x[r] = _mm512_maskz_loadu_ps(m, ar[r] + l);
        for (int j = 0; j < TILE_COLUMNS; j++) {
            __m512 w = _mm512_maskz_loadu_ps(m, bc[j] + l);
            for (int r = 0; r < rows; r++) s[r * TILE_COLUMNS + j] = _mm512_fmadd_ps(x[r], w, s[r * TILE_COLUMNS + j]);
        }
    }
    reduce24(s, first, second);
}
#define TILE_SUMS(R)                                                                                             \
    static __attribute__((noinline)) AVX512 void tile_sums_##R(ptrdiff_t kc, const float *const ar[TILE_ROWS], \
                                                               const float *const bc[TILE_COLUMNS],           \
                                                               __m512 *first, __m512 *second) {               \
        tile_sums(kc, ar, bc, first, second, R);                                                                 \
    }
TILE_SUMS(1)
TILE_SUMS(2)
TILE_SUMS(3)
TILE_SUMS(4)

// One tile: rows [0, rows) of a (row stride lda) by rows [0, cols) of b (row stride ldb) over kc values of
// k; missing rows and columns repeat the first (their sums are not stored).
static inline AVX512 void tile_avx512(ptrdiff_t kc, const float *a, ptrdiff_t lda, int rows, const float *b,
                                      ptrdiff_t ldb, int cols, float *c, ptrdiff_t ldc, int mode, float beta,
                                      const __m512i index[TILE_ROWS]) {
    const float *ar[TILE_ROWS], *bc[TILE_COLUMNS];
    for (int r = 0; r < TILE_ROWS; r++) ar[r] = a + (r < rows ? r : 0) * lda;
    for (int j = 0; j < TILE_COLUMNS; j++) bc[j] = b + (j < cols ? j : 0) * ldb;
    __m512 first, second;
    switch (rows) {
    case 1: tile_sums_1(kc, ar, bc, &first, &second); break;
    case 2: tile_sums_2(kc, ar, bc, &first, &second); break;
    case 3: tile_sums_3(kc, ar, bc, &first, &second); break;
    default: tile_sums_4(kc, ar, bc, &first, &second); break;
    }
    __mmask16 live = (__mmask16)((1u << cols) - 1);
    __m512 vb = _mm512_set1_ps(beta);
    for (int r = 0; r < rows; r++) {
        __m512 t = _mm512_permutex2var_ps(first, index[r], second);
        float *row = c + r * ldc;
        if (mode != SEPME_SGEMM_STORE) {
            __m512 old = _mm512_maskz_loadu_ps(live, row);
            t = mode == SEPME_SGEMM_ADD ? _mm512_add_ps(old, t) : _mm512_fmadd_ps(vb, old, t);
        }
        _mm512_mask_storeu_ps(row, live, t);
    }
}

// The rows of B that the next column tile reads (a weight is read once per call, from memory): each row tile
// of the current column tile asks for its share of their cache lines into L2, so that they arrive while the
// current tile's sums run instead of stalling the next tile's first row tile. Both paths; `columns` (at most
// TILE_COLUMNS) rows of B per tile, `height` rows of A.
typedef struct {
    const char *rows[TILE_COLUMNS];
    ptrdiff_t row_count, lines_per_row, lines_per_part;
    ptrdiff_t row, line;  // the next line to ask for
} next_tile_prefetch;

static inline next_tile_prefetch next_tile(const sepme_sgemm_problem *pr, ptrdiff_t l0, ptrdiff_t kc, ptrdiff_t j0,
                                           ptrdiff_t column_end, ptrdiff_t columns, ptrdiff_t height) {
    next_tile_prefetch t;
    t.row_count = column_end - j0 < columns ? column_end - j0 : columns;
    if (t.row_count < 0) t.row_count = 0;
    for (ptrdiff_t j = 0; j < t.row_count; j++) t.rows[j] = (const char *)(pr->b + (j0 + j) * pr->b_column_stride + l0);
    t.lines_per_row = (kc * (ptrdiff_t)sizeof(float) + 63) / 64 + 1;  // + 1: a row need not start on a line
    ptrdiff_t parts = (pr->m + height - 1) / height;
    t.lines_per_part = (t.row_count * t.lines_per_row + parts - 1) / parts;
    t.row = t.line = 0;
    return t;
}

// Asks for the next `lines_per_part` lines (called once per row tile).
static inline void prefetch_part(next_tile_prefetch *t) {
    for (ptrdiff_t n = 0; n < t->lines_per_part && t->row < t->row_count; n++) {
        _mm_prefetch(t->rows[t->row] + t->line * 64, _MM_HINT_T1);
        if (++t->line == t->lines_per_row) {
            t->line = 0;
            t->row++;
        }
    }
}

static AVX512 void task_avx512(const sepme_sgemm_problem *pr, ptrdiff_t depth, ptrdiff_t column_begin,
                               ptrdiff_t column_end) {
    int lanes[16];
    __m512i index[TILE_ROWS];
    for (int r = 0; r < TILE_ROWS; r++) {
        for (int j = 0; j < 16; j++) lanes[j] = reduced_lane(r * TILE_COLUMNS + (j < TILE_COLUMNS ? j : 0));
        index[r] = _mm512_loadu_si512(lanes);
    }
    for (ptrdiff_t l0 = 0; l0 < pr->k; l0 += depth) {
        ptrdiff_t kc = pr->k - l0 < depth ? pr->k - l0 : depth;
        int mode = sepme_sgemm_slice_mode(pr, l0);
        for (ptrdiff_t j0 = column_begin; j0 < column_end; j0 += TILE_COLUMNS) {
            int cols = column_end - j0 < TILE_COLUMNS ? (int)(column_end - j0) : TILE_COLUMNS;
            const float *b = pr->b + j0 * pr->b_column_stride + l0;
            next_tile_prefetch ahead = next_tile(pr, l0, kc, j0 + TILE_COLUMNS, column_end, TILE_COLUMNS, TILE_ROWS);
            for (ptrdiff_t i0 = 0; i0 < pr->m; i0 += TILE_ROWS) {
                int rows = pr->m - i0 < TILE_ROWS ? (int)(pr->m - i0) : TILE_ROWS;
                prefetch_part(&ahead);
                tile_avx512(kc, pr->a + i0 * pr->a_row_stride + l0, pr->a_row_stride, rows, b, pr->b_column_stride,
                            cols, pr->c + i0 * pr->ldc + j0, pr->ldc, mode, pr->beta, index);
            }
        }
    }
}

// ---- AVX2 + FMA: the same lanes as two 8-wide halves, tiles of 3 rows by 2 columns ----

static inline AVX2 float reduce16(__m256 low, __m256 high) {
    __m256 q = _mm256_add_ps(low, high);
    __m128 r = _mm_add_ps(_mm256_castps256_ps128(q), _mm256_extractf128_ps(q, 1));
    __m128 s = _mm_add_ps(r, _mm_movehl_ps(r, r));
    return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
}

// The sums of a 3 × 2 tile (rows ar[0..2] of A by rows bc[0..1] of B) over kc values of k, each element's
// low and high 8 lanes reduced by `reduce16` into t[2 r + j]. Out of line, as tile_sums (which also reduces
// from registers); one half at a time, so that the twelve accumulators, three rows of A and one of B fit
// the sixteen registers.
static __attribute__((noinline)) AVX2 void tile_sums_avx2(ptrdiff_t kc, const float *const ar[3],
                                                          const float *const bc[2], float t[6]) {
    __m256 s[12];
    for (int i = 0; i < 12; i++) s[i] = _mm256_setzero_ps();
    const float *a0 = ar[0], *a1 = ar[1], *a2 = ar[2], *b0 = bc[0], *b1 = bc[1];
    ptrdiff_t l = 0;
    for (; l + 16 <= kc; l += 16) {
        for (int h = 0; h < 2; h++) {
            ptrdiff_t o = l + 8 * h;
            __m256 x0 = _mm256_loadu_ps(a0 + o), x1 = _mm256_loadu_ps(a1 + o), x2 = _mm256_loadu_ps(a2 + o);
            __m256 w = _mm256_loadu_ps(b0 + o);
            s[0 + h] = _mm256_fmadd_ps(x0, w, s[0 + h]);
            s[4 + h] = _mm256_fmadd_ps(x1, w, s[4 + h]);
            s[8 + h] = _mm256_fmadd_ps(x2, w, s[8 + h]);
            w = _mm256_loadu_ps(b1 + o);
            s[2 + h] = _mm256_fmadd_ps(x0, w, s[2 + h]);
            s[6 + h] = _mm256_fmadd_ps(x1, w, s[6 + h]);
            s[10 + h] = _mm256_fmadd_ps(x2, w, s[10 + h]);
        }
    }
    if (l < kc) {  // the slice's last, partial chunk: zeros past its end
        __m256i m0 = sepme_sgemm_first_lanes(kc - l), m1 = sepme_sgemm_first_lanes(kc - l - 8);
        for (int r = 0; r < 3; r++) {
            __m256 x = _mm256_maskload_ps(ar[r] + l, m0), xh = _mm256_maskload_ps(ar[r] + l + 8, m1);
            for (int j = 0; j < 2; j++) {
                __m256 w = _mm256_maskload_ps(bc[j] + l, m0), wh = _mm256_maskload_ps(bc[j] + l + 8, m1);
                s[(2 * r + j) * 2] = _mm256_fmadd_ps(x, w, s[(2 * r + j) * 2]);
                s[(2 * r + j) * 2 + 1] = _mm256_fmadd_ps(xh, wh, s[(2 * r + j) * 2 + 1]);
            }
        }
    }
    for (int i = 0; i < 6; i++) t[i] = reduce16(s[2 * i], s[2 * i + 1]);
}

static AVX2 void tile_avx2(ptrdiff_t kc, const float *a, ptrdiff_t lda, int rows, const float *b, ptrdiff_t ldb,
                           int cols, float *c, ptrdiff_t ldc, int mode, float beta) {
    const float *ar[3] = {a, a + (rows > 1 ? lda : 0), a + (rows > 2 ? 2 * lda : 0)};
    const float *bc[2] = {b, b + (cols > 1 ? ldb : 0)};
    float t[6];
    tile_sums_avx2(kc, ar, bc, t);
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < cols; j++) {
            float *out = c + r * ldc + j;
            *out = combine(*out, t[2 * r + j], mode, beta);
        }
}

static AVX2 void task_avx2(const sepme_sgemm_problem *pr, ptrdiff_t depth, ptrdiff_t column_begin,
                           ptrdiff_t column_end) {
    for (ptrdiff_t l0 = 0; l0 < pr->k; l0 += depth) {
        ptrdiff_t kc = pr->k - l0 < depth ? pr->k - l0 : depth;
        int mode = sepme_sgemm_slice_mode(pr, l0);
        for (ptrdiff_t j0 = column_begin; j0 < column_end; j0 += 2) {
            int cols = column_end - j0 < 2 ? 1 : 2;
            next_tile_prefetch ahead = next_tile(pr, l0, kc, j0 + 2, column_end, 2, 3);
            for (ptrdiff_t i0 = 0; i0 < pr->m; i0 += 3) {
                prefetch_part(&ahead);
                int rows = pr->m - i0 < 3 ? (int)(pr->m - i0) : 3;
                tile_avx2(kc, pr->a + i0 * pr->a_row_stride + l0, pr->a_row_stride, rows,
                          pr->b + j0 * pr->b_column_stride + l0, pr->b_column_stride, cols, pr->c + i0 * pr->ldc + j0,
                          pr->ldc, mode, pr->beta);
            }
        }
    }
}

int sepme_sgemm_dot_task(const sepme_sgemm_problem *pr, ptrdiff_t column_begin, ptrdiff_t column_end,
                         int avx512) {
    if (pr->a_k_stride != 1 || pr->b_k_stride != 1 || pr->alpha != 1.0f || pr->b_columns) return -1;
    if (avx512 ? !has_avx512f : !has_avx2_fma) return -1;
    if (column_end <= column_begin || pr->m <= 0) return 0;
    ptrdiff_t slices = (pr->k + DOT_KC - 1) / DOT_KC;
    ptrdiff_t depth = (pr->k + slices - 1) / slices;
    if (avx512) task_avx512(pr, depth, column_begin, column_end);
    else task_avx2(pr, depth, column_begin, column_end);
    return 0;
}
#else
int sepme_sgemm_dot_task(const sepme_sgemm_problem *pr, ptrdiff_t column_begin, ptrdiff_t column_end,
                         int avx512) {
    (void)pr, (void)column_begin, (void)column_end, (void)avx512;
    return -1;
}
#endif
