// Single-precision product on AVX-512F micro-kernels (see sepme_sgemm.h for the layout, the blocking and
// the summation order).
#include "sgemm_internal.h"

#include <stdint.h>
#include <stdlib.h>

#define MR SEPME_SGEMM_MR
#define NR SEPME_SGEMM_NR
#define KC SEPME_SGEMM_KC
#define MC SEPME_SGEMM_MC

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <immintrin.h>

#include "avx512_lanes.h"
#define AVX512 __attribute__((target("avx512f")))

static int has_avx512f;
__attribute__((constructor)) static void detect_sgemm_path(void) {
    __builtin_cpu_init();
    has_avx512f = __builtin_cpu_supports("avx512f");
}
int sepme_sgemm_available(void) { return has_avx512f; }

// In-register transpose of a 16 x 16 block: on return r[c] holds column c of the rows given.
static inline AVX512 void transpose16(__m512 r[16]) {
    __m512 t[16], u[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    // u[4g + c], 128-bit lane j: rows 4g ... 4g + 3 of column 4j + c.
    for (int g = 0; g < 4; g++) {
        u[4 * g] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], 0x44);
        u[4 * g + 1] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], 0xEE);
        u[4 * g + 2] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0x44);
        u[4 * g + 3] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0xEE);
    }
    for (int c = 0; c < 4; c++) {
        __m512 v = _mm512_shuffle_f32x4(u[c], u[4 + c], 0x88), w = _mm512_shuffle_f32x4(u[c], u[4 + c], 0xDD);
        __m512 x = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0x88), y = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0xDD);
        r[c] = _mm512_shuffle_f32x4(v, x, 0x88);
        r[4 + c] = _mm512_shuffle_f32x4(w, y, 0x88);
        r[8 + c] = _mm512_shuffle_f32x4(v, x, 0xDD);
        r[12 + c] = _mm512_shuffle_f32x4(w, y, 0xDD);
    }
}

// Column panels [p0, p1) of the slice [l0, l0 + kc) of B: panel p holds, for each l, NR values of the
// columns p NR ... p NR + NR - 1 (zeros past n). Where B's column stride is 1, its rows are read in order
// (contiguous runs), the panels written a row at a time.
static AVX512 void pack_right(float *dst, const sepme_sgemm_problem *pr, ptrdiff_t l0, ptrdiff_t kc, ptrdiff_t p0,
                              ptrdiff_t p1) {
    if (pr->b_column_stride == 1) {
        for (ptrdiff_t l = 0; l < kc; l++) {
            const float *src = pr->b + (l0 + l) * pr->b_k_stride;
            for (ptrdiff_t p = p0; p < p1; p++) {
                ptrdiff_t j0 = p * NR, live = pr->n - j0 < NR ? pr->n - j0 : NR;
                __mmask16 m0 = live >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << live) - 1);
                __mmask16 m1 = live >= 32 ? (__mmask16)0xFFFF : (live > 16 ? (__mmask16)((1u << (live - 16)) - 1) : 0);
                float *out = dst + (p - p0) * kc * NR + l * NR;
                _mm512_store_ps(out, _mm512_maskz_loadu_ps(m0, src + j0));
                _mm512_store_ps(out + 16, _mm512_maskz_loadu_ps(m1, src + j0 + 16));
            }
        }
        return;
    }
    for (ptrdiff_t p = p0; p < p1; p++) {
        float *panel = dst + (p - p0) * kc * NR;
        ptrdiff_t j0 = p * NR, live = pr->n - j0 < NR ? pr->n - j0 : NR;
        if (pr->b_k_stride == 1) {
            // Transposed B (a weight W[out, in] used as W^T): each column is contiguous; 16 columns at a time
            // are transposed in registers. Each column's line four ahead is asked for: the NR columns are
            // NR streams a page or more apart, more than the hardware prefetchers follow, and a product of
            // few rows (the text encoder's 77 tokens) spends much of its time reading the weight here.
            for (ptrdiff_t l = 0; l < kc; l += 16) {
                ptrdiff_t width = kc - l < 16 ? kc - l : 16;
                __mmask16 m = width == 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << width) - 1);
                for (int g = 0; g < NR / 16; g++) {
                    __m512 r[16];
                    for (int t = 0; t < 16; t++) {
                        ptrdiff_t j = 16 * g + t;
                        const float *src = pr->b + (j0 + j) * pr->b_column_stride + l0 + l;
                        if (j < live && l + 64 < kc) _mm_prefetch((const char *)(src + 64), _MM_HINT_T0);
                        r[t] = j < live ? _mm512_maskz_loadu_ps(m, src) : _mm512_setzero_ps();
                    }
                    transpose16(r);
                    for (int u = 0; u < width; u++) _mm512_store_ps(panel + (l + u) * NR + 16 * g, r[u]);
                }
            }
            continue;
        }
        for (ptrdiff_t t = 0; t < NR; t++) {
            const float *src = pr->b + (j0 + t) * pr->b_column_stride + l0 * pr->b_k_stride;
            for (ptrdiff_t l = 0; l < kc; l++) panel[l * NR + t] = t < live ? src[l * pr->b_k_stride] : 0;
        }
    }
}

// Column panel p of the implicit im2col B (pr->b_columns), rows [l0, l0 + kc), in the layout of pack_right.
// A panel whose 32 output pixels lie in one output row at stride 1 reads each row of B as one run of the
// image row (masked at the image's left and right edges); a full panel of two or four whole output rows of
// 16 or 8 pixels (stride 1) reads one such run per output row; any other panel is gathered value by value.
static AVX512 void pack_columns(float *dst, const sepme_sgemm_problem *pr, ptrdiff_t l0, ptrdiff_t kc, ptrdiff_t p) {
    const sepme_sgemm_columns *g = pr->b_columns;
    ptrdiff_t j0 = p * NR, live = pr->n - j0 < NR ? pr->n - j0 : NR;
    ptrdiff_t taps = g->kernel_h * g->kernel_w;
    ptrdiff_t oy0 = g->row_begin + j0 / g->out_w, ox0 = j0 % g->out_w;
    // (c, ky, kx) of row l0 + l, stepped along with l (no division per row).
    ptrdiff_t c = l0 / taps, ky = (l0 % taps) / g->kernel_w, kx = l0 % g->kernel_w;
    if (g->stride_w == 1 && live == NR && ox0 + NR <= g->out_w) {
        // Per kx: the lanes [lo, hi) that fall inside an image row, as two 16-lane masks.
        __mmask16 low[16], high[16];
        int masks = g->kernel_w <= 16;
        for (ptrdiff_t x = 0; masks && x < g->kernel_w; x++) {
            ptrdiff_t ix0 = ox0 - g->pad_w + x;
            ptrdiff_t lo = ix0 < 0 ? -ix0 : 0, hi = g->width - ix0 < NR ? g->width - ix0 : NR;
            uint32_t bits = lo >= hi ? 0 : (uint32_t)(((uint64_t)1 << hi) - ((uint64_t)1 << lo));
            low[x] = (__mmask16)(bits & 0xFFFF);
            high[x] = (__mmask16)(bits >> 16);
        }
        if (masks) {
            for (ptrdiff_t l = 0; l < kc; l++) {
                float *out = dst + l * NR;
                ptrdiff_t iy = oy0 * g->stride_h - g->pad_h + ky;
                if (iy >= 0 && iy < g->height) {
                    // Masked-off lanes are not read, so the run may start before the row or end after it.
                    const float *run = g->image + (c * g->height + iy) * g->width + ox0 - g->pad_w + kx;
                    _mm512_store_ps(out, _mm512_maskz_loadu_ps(low[kx], run));
                    _mm512_store_ps(out + 16, _mm512_maskz_loadu_ps(high[kx], run + 16));
                    // The next panel's run of the same row (the hardware prefetchers lose track of this
                    // many interleaved rows).
                    if (kx == 0) {
                        _mm_prefetch((const char *)(run + NR), _MM_HINT_T0);
                        _mm_prefetch((const char *)(run + NR + 16), _MM_HINT_T0);
                    }
                } else {
                    _mm512_store_ps(out, _mm512_setzero_ps());
                    _mm512_store_ps(out + 16, _mm512_setzero_ps());
                }
                if (++kx == g->kernel_w) {
                    kx = 0;
                    if (++ky == g->kernel_h) ky = 0, c++;
                }
            }
            return;
        }
    }
    if (g->stride_w == 1 && live == NR && (g->out_w == 16 || g->out_w == 8) && g->kernel_w <= 16) {
        // Output rows of 16 or 8 pixels: the panel holds NR / out_w whole output rows (panels start at a
        // row, as 32 is a multiple of out_w), each k row one masked run of out_w lanes per output row.
        ptrdiff_t w = g->out_w, rows = NR / w;
        __mmask16 mask[16];
        for (ptrdiff_t x = 0; x < g->kernel_w; x++) {
            ptrdiff_t ix0 = x - g->pad_w;
            ptrdiff_t lo = ix0 < 0 ? -ix0 : 0, hi = g->width - ix0 < w ? g->width - ix0 : w;
            mask[x] = lo >= hi ? 0 : (__mmask16)((1u << hi) - (1u << lo));
        }
        for (ptrdiff_t l = 0; l < kc; l++) {
            float *out = dst + l * NR;
            for (ptrdiff_t r = 0; r < rows; r++) {
                ptrdiff_t iy = (oy0 + r) * g->stride_h - g->pad_h + ky;
                __m512 v = _mm512_setzero_ps();
                // Masked-off lanes are not read, so the run may start before the row or end after it.
                if (iy >= 0 && iy < g->height)
                    v = _mm512_maskz_loadu_ps(mask[kx], g->image + (c * g->height + iy) * g->width + kx - g->pad_w);
                if (w == 16) _mm512_store_ps(out + 16 * r, v);
                else _mm256_store_ps(out + 8 * r, _mm512_castps512_ps256(v));
            }
            if (++kx == g->kernel_w) {
                kx = 0;
                if (++ky == g->kernel_h) ky = 0, c++;
            }
        }
        return;
    }
    for (ptrdiff_t l = 0; l < kc; l++) {
        float *out = dst + l * NR;
        for (ptrdiff_t t = 0; t < NR; t++) out[t] = t < live ? sepme_columns_value(g, c, ky, kx, j0 + t) : 0.0f;
        if (++kx == g->kernel_w) {
            kx = 0;
            if (++ky == g->kernel_h) ky = 0, c++;
        }
    }
}

// Asks for the source lines of rows [l, l + count) (at most `left` of them) of column panel p of B, so that
// packing that panel, next, finds them in cache.
static inline void prefetch_right(const sepme_sgemm_problem *pr, ptrdiff_t l, ptrdiff_t count, ptrdiff_t left,
                                  ptrdiff_t p) {
    ptrdiff_t end = count < left ? count : left;
    if (pr->b_k_stride == 1 && end > 0) {
        // Transposed B (a weight read as W^T): the share's lines of each of the panel's NR columns, into L2.
        ptrdiff_t j0 = p * NR, live = pr->n - j0 < NR ? pr->n - j0 : NR;
        for (ptrdiff_t j = 0; j < live; j++) {
            const char *run = (const char *)(pr->b + (j0 + j) * pr->b_column_stride + l);
            for (ptrdiff_t off = 0; off < end * (ptrdiff_t)sizeof(float); off += 64) _mm_prefetch(run + off, _MM_HINT_T1);
        }
        return;
    }
    if (pr->b_column_stride != 1) return;
    const float *src = pr->b + l * pr->b_k_stride + p * NR;
    for (ptrdiff_t t = 0; t < end; t++) {
        _mm_prefetch((const char *)(src + t * pr->b_k_stride), _MM_HINT_T1);
        _mm_prefetch((const char *)(src + t * pr->b_k_stride + 16), _MM_HINT_T1);
    }
}

// Rows [i0, i0 + mc) of the slice [l0, l0 + kc) of A, times alpha, in row panels of MR (zeros past mc).
// Row-major A (k stride 1) is transposed 16 columns at a time in registers; transposed A (row stride 1)
// is copied MR values per l.
static AVX512 void pack_left(float *dst, const sepme_sgemm_problem *pr, ptrdiff_t i0, ptrdiff_t mc, ptrdiff_t l0,
                             ptrdiff_t kc) {
    const __mmask16 panel_mask = (__mmask16)((1u << MR) - 1);
    const __m512 alpha = _mm512_set1_ps(pr->alpha);
    const int scale = pr->alpha != 1.0f;
    for (ptrdiff_t q = 0; q * MR < mc; q++) {
        float *panel = dst + q * kc * MR;
        ptrdiff_t live = mc - q * MR < MR ? mc - q * MR : MR;
        const float *rows = pr->a + (i0 + q * MR) * pr->a_row_stride + l0 * pr->a_k_stride;
        if (pr->a_k_stride == 1) {
            for (ptrdiff_t l = 0; l < kc; l += 16) {
                ptrdiff_t width = kc - l < 16 ? kc - l : 16;
                __mmask16 m = width == 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << width) - 1);
                __m512 r[16];
                for (int t = 0; t < 16; t++) {
                    r[t] = t < live ? _mm512_maskz_loadu_ps(m, rows + t * pr->a_row_stride + l) : _mm512_setzero_ps();
                    if (scale) r[t] = _mm512_mul_ps(r[t], alpha);
                }
                transpose16(r);
                for (int t = 0; t < width; t++) _mm512_mask_storeu_ps(panel + (l + t) * MR, panel_mask, r[t]);
            }
        } else if (pr->a_row_stride == 1) {
            __mmask16 m = (__mmask16)((1u << live) - 1);
            for (ptrdiff_t l = 0; l < kc; l++) {
                __m512 v = _mm512_maskz_loadu_ps(m, rows + l * pr->a_k_stride);
                if (scale) v = _mm512_mul_ps(v, alpha);
                _mm512_mask_storeu_ps(panel + l * MR, panel_mask, v);
            }
        } else {
            for (ptrdiff_t r = 0; r < MR; r++)
                for (ptrdiff_t l = 0; l < kc; l++)
                    panel[l * MR + r] = r < live ? pr->alpha * rows[r * pr->a_row_stride + l * pr->a_k_stride] : 0;
        }
    }
}

static inline AVX512 void finish(float *c, __mmask16 mask, __m512 s, int mode, __m512 beta) {
    if (mode == SEPME_SGEMM_STORE) {
        _mm512_mask_storeu_ps(c, mask, s);
        return;
    }
    __m512 old = _mm512_maskz_loadu_ps(mask, c);
    __m512 v = mode == SEPME_SGEMM_ADD ? _mm512_add_ps(old, s) : _mm512_fmadd_ps(beta, old, s);
    _mm512_mask_storeu_ps(c, mask, v);
}

// The micro-kernels. C tile (mr <= `rows` rows, nr <= 16 `vectors` columns) from kc steps of A and of B
// (a packed column panel, bs = NR, or B's rows where they lie). Element (r, l) of the tile's A is at
// a[r * rs + l * ls]: a packed row panel (rs 1, ls MR; its padding rows are zeros) or the rows where they
// lie (rs lda, ls 1): sequential streams, which the caches serve as well as a packed panel, without the
// transposition packing a row-major A needs (which costs about as much as the products when n is small).
// Rows from `readable` on read row 0 instead (their sums are not stored). `vectors` of 16 columns: one
// (nr <= 16) or two (a panel of NR) with MR or MR / 2 rows; three (32 < nr <= 48, a product's last two
// panels read in place, as attention's values 40 wide are) with 8 or 4 rows, one pass over A's rows where a
// 32-wide and a 16-wide tile would read them twice and leave half the second tile's lanes idle. Each
// element's sum is the same sequence of multiply-adds whatever the tile's shape.
static inline __attribute__((always_inline)) AVX512 void tile(ptrdiff_t kc, const float *a, ptrdiff_t rs,
                                                               ptrdiff_t ls, int readable, const float *b,
                                                               ptrdiff_t bs, float *c, ptrdiff_t ldc, int mr, int nr,
                                                               int mode, float beta, const int vectors,
                                                               const int rows) {
    const float *row[MR];
    for (int r = 0; r < rows; r++) row[r] = a + (r < readable ? r : 0) * rs;
    __m512 acc[MR][3];
#pragma clang loop unroll(full)
    for (int r = 0; r < rows; r++)
#pragma clang loop unroll(full)
        for (int v = 0; v < vectors; v++) acc[r][v] = _mm512_setzero_ps();
    // The C tile is read (or written) only at the end: ask for its lines now.
    for (int r = 0; r < mr; r++)
        for (int v = 0; v < vectors; v++) _mm_prefetch((const char *)(c + r * ldc + 16 * v), _MM_HINT_T0);
    // Columns past nr: zeros in a packed panel; masked off where B is read in place (bs != NR).
    __mmask16 mask[3];
#pragma clang loop unroll(full)
    for (int v = 0; v < vectors; v++) mask[v] = first_lanes(nr - 16 * v);
    for (ptrdiff_t l = 0; l < kc; l++) {
        __m512 bv[3];
#pragma clang loop unroll(full)
        for (int v = 0; v < vectors; v++) {
            _mm_prefetch((const char *)(b + (l + 8) * bs + 16 * v), _MM_HINT_T0);
            bv[v] = _mm512_maskz_loadu_ps(mask[v], b + l * bs + 16 * v);
        }
#pragma clang loop unroll(full)
        for (int r = 0; r < rows; r++) {
            __m512 x = _mm512_set1_ps(row[r][l * ls]);
#pragma clang loop unroll(full)
            for (int v = 0; v < vectors; v++) acc[r][v] = _mm512_fmadd_ps(x, bv[v], acc[r][v]);
        }
    }
    __m512 vb = _mm512_set1_ps(beta);
    // Unrolled in full, so that each accumulator stays a register of its own (a rolled loop indexes acc
    // at run time and keeps the whole array on the stack, a store and a load of each per tile).
#pragma clang loop unroll(full)
    for (int r = 0; r < rows; r++)
        if (r < mr) {
#pragma clang loop unroll(full)
            for (int v = 0; v < vectors; v++)
                if (v == 0 || mask[v]) finish(c + r * ldc + 16 * v, mask[v], acc[r][v], mode, vb);
        }
}

// A tile of `mr` rows: the full MR-row tile, or, for a last row panel of at most HALF_MR rows (77 text
// tokens: 6 panels of 12 and one of 5), the half-height one, which does not multiply the padding rows.
// Each element's sum is the same sequence of multiply-adds in both.
#define HALF_MR (MR / 2)
static AVX512 void kernel_packed_32(ptrdiff_t kc, const float *a, const float *b, float *c, ptrdiff_t ldc, int mr,
                                    int nr, int mode, float beta) {
    if (mr <= HALF_MR) tile(kc, a, 1, MR, MR, b, NR, c, ldc, mr, nr, mode, beta, 2, HALF_MR);
    else tile(kc, a, 1, MR, MR, b, NR, c, ldc, mr, nr, mode, beta, 2, MR);
}
static AVX512 void kernel_packed_16(ptrdiff_t kc, const float *a, const float *b, float *c, ptrdiff_t ldc, int mr,
                                    int nr, int mode, float beta) {
    if (mr <= HALF_MR) tile(kc, a, 1, MR, MR, b, NR, c, ldc, mr, nr, mode, beta, 1, HALF_MR);
    else tile(kc, a, 1, MR, MR, b, NR, c, ldc, mr, nr, mode, beta, 1, MR);
}
// A's rows in place; B packed (ldb NR) or, for products of few rows, read in place (ldb its row stride).
static AVX512 void kernel_rows_32(ptrdiff_t kc, const float *a, ptrdiff_t lda, const float *b, ptrdiff_t ldb,
                                  float *c, ptrdiff_t ldc, int mr, int nr, int mode, float beta) {
    if (mr <= HALF_MR) tile(kc, a, lda, 1, mr, b, ldb, c, ldc, mr, nr, mode, beta, 2, HALF_MR);
    else tile(kc, a, lda, 1, mr, b, ldb, c, ldc, mr, nr, mode, beta, 2, MR);
}
static AVX512 void kernel_rows_16(ptrdiff_t kc, const float *a, ptrdiff_t lda, const float *b, ptrdiff_t ldb,
                                  float *c, ptrdiff_t ldc, int mr, int nr, int mode, float beta) {
    if (mr <= HALF_MR) tile(kc, a, lda, 1, mr, b, ldb, c, ldc, mr, nr, mode, beta, 1, HALF_MR);
    else tile(kc, a, lda, 1, mr, b, ldb, c, ldc, mr, nr, mode, beta, 1, MR);
}

// The last 33 to 48 columns in one pass (see `tile`): 8-row tiles, a 4-row one for a short last group.
static AVX512 void kernel_rows_48(ptrdiff_t kc, const float *a, ptrdiff_t lda, const float *b, ptrdiff_t ldb, float *c,
                                  ptrdiff_t ldc, int mr, int nr, int mode, float beta) {
    if (mr <= 4) tile(kc, a, lda, 1, mr, b, ldb, c, ldc, mr, nr, mode, beta, 3, 4);
    else tile(kc, a, lda, 1, mr, b, ldb, c, ldc, mr, nr, mode, beta, 3, 8);
}

// Each thread's packing buffers, allocated on its first product and kept for the thread's life (a fresh
// allocation per product would map and clear its pages every time).
static _Thread_local float *thread_scratch;

int sepme_sgemm_task(const sepme_sgemm_problem *pr, ptrdiff_t row_begin, ptrdiff_t row_end,
                     ptrdiff_t column_panel_begin, ptrdiff_t column_panel_end) {
    if (row_end <= row_begin || column_panel_end <= column_panel_begin) return 0;
    if (!thread_scratch) {
        thread_scratch = aligned_alloc(64, sizeof(float) * (size_t)(MC * KC + KC * NR));
        if (!thread_scratch) return -1;
    }
    float *scratch = thread_scratch;
    float *packed_left = scratch;
    float *packed_right = scratch + MC * KC;
    // Row-major A is read in place (see tile); transposed A, or A scaled by alpha, is packed
    // (sgemm_internal.h).
    sepme_sgemm_blocking cut = sepme_sgemm_blocking_of(pr, row_begin, row_end);
    ptrdiff_t depth = cut.depth, block = cut.block;
    int direct_left = cut.direct_left, direct_right = cut.direct_right;
    for (ptrdiff_t l0 = 0; l0 < pr->k; l0 += depth) {
        ptrdiff_t kc = pr->k - l0 < depth ? pr->k - l0 : depth;
        int mode = sepme_sgemm_slice_mode(pr, l0);
        for (ptrdiff_t i0 = row_begin; i0 < row_end; i0 += block) {
            ptrdiff_t mc = row_end - i0 < block ? row_end - i0 : block;
            // The block of A stays in L2; each panel of B is packed just before its use and stays in L1
            // while every row panel of the block meets it.
            if (!direct_left) pack_left(packed_left, pr, i0, mc, l0, kc);
            for (ptrdiff_t p = column_panel_begin; p < column_panel_end; p++) {
                ptrdiff_t j0 = p * NR;
                // The product's last two panels, 33 to 48 columns, both operands in place: one pass of
                // three-vector tiles over the block's rows covers them both.
                if (direct_right && p + 2 == column_panel_end && pr->n - j0 > NR && pr->n - j0 <= NR + 16) {
                    for (ptrdiff_t r0 = 0; r0 < mc; r0 += 8) {
                        int mr = mc - r0 < 8 ? (int)(mc - r0) : 8;
                        kernel_rows_48(kc, pr->a + (i0 + r0) * pr->a_row_stride + l0, pr->a_row_stride,
                                       pr->b + l0 * pr->b_k_stride + j0, pr->b_k_stride, pr->c + (i0 + r0) * pr->ldc + j0,
                                       pr->ldc, mr, (int)(pr->n - j0), mode, pr->beta);
                    }
                    break;
                }
                int nr = pr->n - j0 < NR ? (int)(pr->n - j0) : NR;
                const float *b = packed_right;
                ptrdiff_t ldb = NR;
                if (direct_right) {
                    b = pr->b + l0 * pr->b_k_stride + j0;
                    ldb = pr->b_k_stride;
                } else if (pr->b_columns) {
                    pack_columns(packed_right, pr, l0, kc, p);
                } else {
                    pack_right(packed_right, pr, l0, kc, p, p + 1);
                }
                ptrdiff_t row_panels = (mc + MR - 1) / MR, step = (kc + row_panels - 1) / row_panels;
                for (ptrdiff_t q = 0; q * MR < mc; q++) {
                    int mr = mc - q * MR < MR ? (int)(mc - q * MR) : MR;
                    if (!direct_right && !pr->b_columns && p + 1 < column_panel_end)
                        prefetch_right(pr, l0 + q * step, step, kc - q * step, p + 1);
                    float *c = pr->c + (i0 + q * MR) * pr->ldc + j0;
                    const float *a = packed_left + q * kc * MR;
                    if (direct_left && nr > 16)
                        kernel_rows_32(kc, pr->a + (i0 + q * MR) * pr->a_row_stride + l0, pr->a_row_stride, b, ldb,
                                       c, pr->ldc, mr, nr, mode, pr->beta);
                    else if (direct_left)
                        kernel_rows_16(kc, pr->a + (i0 + q * MR) * pr->a_row_stride + l0, pr->a_row_stride, b, ldb,
                                       c, pr->ldc, mr, nr, mode, pr->beta);
                    else if (nr > 16)
                        kernel_packed_32(kc, a, packed_right, c, pr->ldc, mr, nr, mode, pr->beta);
                    else
                        kernel_packed_16(kc, a, packed_right, c, pr->ldc, mr, nr, mode, pr->beta);
                }
            }
        }
    }
    return 0;
}
#else
int sepme_sgemm_available(void) { return 0; }
int sepme_sgemm_task(const sepme_sgemm_problem *pr, ptrdiff_t row_begin, ptrdiff_t row_end,
                     ptrdiff_t column_panel_begin, ptrdiff_t column_panel_end) {
    (void)pr, (void)row_begin, (void)row_end, (void)column_panel_begin, (void)column_panel_end;
    return -1;
}
#endif
