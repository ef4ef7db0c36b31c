// Fused attention of one head's query rows against a long key sequence (the self-attention of a
// UNet level over its latent pixels), key tile by key tile, on AVX-512F. It is the general path's
// online softmax (AttentionKernel.forwardBlock: FlashAttention-2, Dao 2023, Algorithm 1) without its
// two SGEMM calls per tile: eight query rows at a time, their scores against one key tile land in an
// 8 × tile buffer that stays in L1, the softmax updates them there, and the weighted sum of V's rows
// goes straight into the output rows. The general path instead packs the scaled queries and the
// probability tile for each product, stores a 128 × 512 score tile in L2 and reads it back three times,
// and at a head width of 40 fills only part of the SGEMM micro-kernel's 12 × 32 tile.
//
// Same bits as the general path, step for step (AttentionTests compares them bit for bit):
// - scores: each Σ_l (scale q_l) k_l summed over l in order from zero, as the SGEMM micro-kernel
//   sums a product whose A is scaled by alpha (`sgemm_avx512.c`, pack_left);
// - per tile and row: the maximum (exact in any order), then e^(s − m) and their sum as the row
//   kernel adds them (`sepme_exp_scaled_sum`, vector_math.c: sixteen lanes in order, the AVX2 loops'
//   horizontal sum, the last cols mod 16 one by one); on later tiles m rises to max(m, tile max), the
//   correction is `sepme_exp(m_old − m_new)`, l becomes l · correction + sum (two roundings) and the
//   output rows are multiplied by the correction (softmaxTile);
// - values: the SGEMM's k slices (equal depth, at most SEPME_SGEMM_KC keys), each summed over its keys
//   in order from zero, stored on the first tile's first slice and added after that;
// - lse = m + logf(l), then the output rows multiplied by 1 / l.
//
// PANELS: Kᵀ (and, for the backward, Vᵀ) arrive per head in panels of 16 keys, [⌈lk / 16⌉][d][16],
// zeros past lk: key j, column l at kT[(j / 16) · 16 d + 16 l + j mod 16]. Row-major Kᵀ puts the d rows
// a chunk of keys spans lk floats apart, a multiple of 4 KiB at 1024 or 4096 keys, so they all fall in
// the same L1 sets and every group of query rows fetched them again from L2.
#pragma clang fp contract(off)

#include "sepme_vector_math.h"

#include <math.h>

// Query rows per group: their scores against three vectors of keys (24 sums) stay in registers.
#define ROWS 8
// The largest key tile taken (AttentionKernel's default tile), the row stride of the score buffer.
#define TILE_KEYS_MAX 512
// SEPME_SGEMM_KC: the widest head (its scores are one SGEMM slice) and the deepest value slice.
#define SLICE_MAX 256
// Query rows that meet a key tile one group after another (the forward).
#define BLOCK_ROWS 128

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <immintrin.h>

#include "softmax_lanes.h"
#define AVX512 __attribute__((target("avx512f,avx2,fma")))
#define INLINE static inline __attribute__((always_inline))

// s[r][j] = Σ_l qs[r][l] kT[l][j] for ROWS rows of scaled queries (row stride SLICE_MAX) and NV vectors
// of keys (the last masked by `last`) from kT's panels: 16 keys each, [d][16] (see PANELS).
INLINE AVX512 void tile_scores(const float *qs, ptrdiff_t d, const float *kT, __mmask16 last, float *s, const int NV) {
    __m512 acc[ROWS][3];
    for (int r = 0; r < ROWS; r++)
        for (int v = 0; v < NV; v++) acc[r][v] = _mm512_setzero_ps();
    for (ptrdiff_t l = 0; l < d; l++) {
        const float *row = kT + l * 16;
        __m512 b[3];
        for (int v = 0; v < NV; v++)
            b[v] = v < NV - 1 ? _mm512_loadu_ps(row + 16 * d * v) : _mm512_maskz_loadu_ps(last, row + 16 * d * v);
        for (int r = 0; r < ROWS; r++) {
            __m512 x = _mm512_set1_ps(qs[r * SLICE_MAX + l]);
            for (int v = 0; v < NV; v++) acc[r][v] = _mm512_fmadd_ps(x, b[v], acc[r][v]);
        }
    }
    for (int r = 0; r < ROWS; r++)
        for (int v = 0; v < NV; v++) _mm512_storeu_ps(s + r * TILE_KEYS_MAX + 16 * v, acc[r][v]);
}

static AVX512 void scores_of_tile(const float *qs, ptrdiff_t d, const float *kT, ptrdiff_t cols, float *s) {
    for (ptrdiff_t c0 = 0; c0 < cols; c0 += 48) {
        ptrdiff_t left = cols - c0;
        int nv = left >= 48 ? 3 : (int)((left + 15) / 16);
        __mmask16 last = lanes16(left - 16 * (nv - 1));
        if (nv == 3)
            tile_scores(qs, d, kT + c0 * d, last, s + c0, 3);
        else if (nv == 2)
            tile_scores(qs, d, kT + c0 * d, last, s + c0, 2);
        else
            tile_scores(qs, d, kT + c0 * d, last, s + c0, 1);
    }
}

// One key tile of the online softmax for the ROWS rows of s (cols scores each): s becomes e^(s − m),
// m[r] the running maximum, l[r] the running sum, correction[r] the factor for what earlier tiles added
// (1 on the first tile).
static AVX512 void softmax_of_tile(float *s, ptrdiff_t cols, int first, float *m, float *l, float *correction) {
    float tile_max[ROWS], sum[ROWS];
    row_maxima(s, TILE_KEYS_MAX, cols, tile_max, ROWS);
    for (int r = 0; r < ROWS; r++) {
        if (first) {
            m[r] = tile_max[r];
            correction[r] = 1;
        } else {
            float raised = m[r] > tile_max[r] ? m[r] : tile_max[r];
            correction[r] = sepme_exp(m[r] - raised);
            m[r] = raised;
        }
    }
    exp_rows_sums(s, TILE_KEYS_MAX, cols, m, sum, ROWS);
    for (int r = 0; r < ROWS; r++) {
        if (first) {
            l[r] = sum[r];
        } else {
            float kept = l[r] * correction[r];
            l[r] = kept + sum[r];
        }
    }
}

// out_r[c0 …] (+)= Σ_j p[r][j] v[j][c0 …] over `keys` keys for the first `live` of ROWS rows and CH
// vectors of value columns (the last masked by `last`): stored when `store`, else added.
INLINE AVX512 void tile_values(const float *p, const float *v, ptrdiff_t keys, ptrdiff_t dv, __mmask16 last,
                               float *const *out, int live, int store, const int CH) {
    __m512 acc[ROWS][3];
    for (int r = 0; r < ROWS; r++)
        for (int c = 0; c < CH; c++) acc[r][c] = _mm512_setzero_ps();
    for (ptrdiff_t j = 0; j < keys; j++) {
        const float *row = v + j * dv;
        __m512 b[3];
        for (int c = 0; c < CH; c++)
            b[c] = c < CH - 1 ? _mm512_loadu_ps(row + 16 * c) : _mm512_maskz_loadu_ps(last, row + 16 * c);
        for (int r = 0; r < ROWS; r++) {
            __m512 x = _mm512_set1_ps(p[r * TILE_KEYS_MAX + j]);
            for (int c = 0; c < CH; c++) acc[r][c] = _mm512_fmadd_ps(x, b[c], acc[r][c]);
        }
    }
    for (int r = 0; r < ROWS; r++) {
        if (r >= live) break;
        for (int c = 0; c < CH; c++) {
            __mmask16 mask = c < CH - 1 ? (__mmask16)0xFFFF : last;
            float *o = out[r] + 16 * c;
            __m512 sum = store ? acc[r][c] : _mm512_add_ps(_mm512_maskz_loadu_ps(mask, o), acc[r][c]);
            _mm512_mask_storeu_ps(o, mask, sum);
        }
    }
}

// Vectors of value columns in the next pass, for `left` columns still to go.
static inline int ch_of(ptrdiff_t left) {
    ptrdiff_t vectors = (left + 15) / 16, passes = (vectors + 2) / 3;
    return (int)((vectors + passes - 1) / passes);
}

// The value product of one tile, in the SGEMM's k slices: equal depth, at most SLICE_MAX keys each.
static AVX512 void values_of_tile(const float *p, const float *v, ptrdiff_t cols, ptrdiff_t dv, float *const *out,
                                  int live, int first) {
    ptrdiff_t slices = (cols + SLICE_MAX - 1) / SLICE_MAX, depth = (cols + slices - 1) / slices;
    for (ptrdiff_t j0 = 0; j0 < cols; j0 += depth) {
        ptrdiff_t keys = cols - j0 < depth ? cols - j0 : depth;
        int store = first && j0 == 0;
        // Passes over the keys of at most three vectors of columns each, as even as they go (a head of 64
        // is two passes of two vectors: a pass of one would wait on its eight broadcasts).
        for (ptrdiff_t c0 = 0; c0 < dv; c0 += 16 * ch_of(dv - c0)) {
            ptrdiff_t left = dv - c0;
            int ch = ch_of(left);
            __mmask16 last = ch * 16 >= left ? lanes16(left - 16 * (ch - 1)) : (__mmask16)0xFFFF;
            float *outc[ROWS];
            for (int r = 0; r < ROWS; r++) outc[r] = out[r] + c0;
            const float *pj = p + j0, *vj = v + j0 * dv + c0;
            if (ch == 3)
                tile_values(pj, vj, keys, dv, last, outc, live, store, 3);
            else if (ch == 2)
                tile_values(pj, vj, keys, dv, last, outc, live, store, 2);
            else
                tile_values(pj, vj, keys, dv, last, outc, live, store, 1);
        }
    }
}

int sepme_attention_tiles(const float *q, const float *kT, const float *v, ptrdiff_t rows, ptrdiff_t d, ptrdiff_t lk,
                          ptrdiff_t dv, ptrdiff_t key_block, float scale, float *out, float *lse) {
    // Every tile but the first starts a panel.
    if (!sepme_attention_rows_available() || lk < 1 || key_block < 1 || key_block > TILE_KEYS_MAX ||
        (key_block % 16 != 0 && key_block < lk) ||
        d < 1 || d > SLICE_MAX || dv < 1 || rows < 0)
        return -1;
    __attribute__((aligned(64))) float s[ROWS * TILE_KEYS_MAX];
    __attribute__((aligned(64))) float qs[ROWS * SLICE_MAX];
    // Blocks of up to BLOCK_ROWS query rows meet each key tile in turn, group by group, so that the
    // tile's keys and values stay in L2 while every group of the block reads them; each row keeps
    // its running maximum and sum (slots past the block's last row: the repeated rows' scratch).
    float m[BLOCK_ROWS + ROWS], l[BLOCK_ROWS + ROWS], correction[ROWS];
    for (ptrdiff_t b0 = 0; b0 < rows; b0 += BLOCK_ROWS) {
        ptrdiff_t block_end = rows - b0 < BLOCK_ROWS ? rows : b0 + BLOCK_ROWS;
        for (ptrdiff_t j0 = 0; j0 < lk; j0 += key_block) {
            ptrdiff_t cols = lk - j0 < key_block ? lk - j0 : key_block;
            int first = j0 == 0;
            for (ptrdiff_t i0 = b0; i0 < block_end; i0 += ROWS) {
                int live = block_end - i0 < ROWS ? (int)(block_end - i0) : ROWS;
                // Rows past the last one repeat it: computed, never stored.
                float *outr[ROWS];
                for (int r = 0; r < ROWS; r++) {
                    ptrdiff_t i = i0 + (r < live ? r : live - 1);
                    outr[r] = out + i * dv;
                    // The SGEMM's A scaled by alpha (pack_left's product).
                    for (ptrdiff_t c = 0; c < d; c++) qs[r * SLICE_MAX + c] = q[i * d + c] * scale;
                }
                float *mr = m + (i0 - b0), *lr = l + (i0 - b0);
                scores_of_tile(qs, d, kT + j0 * d, cols, s);
                softmax_of_tile(s, cols, first, mr, lr, correction);
                if (!first)
                    for (int r = 0; r < live; r++)
                        if (correction[r] != 1)
                            for (ptrdiff_t c = 0; c < dv; c++) outr[r][c] *= correction[r];
                values_of_tile(s, v + j0 * dv, cols, dv, outr, live, first);
            }
        }
        for (ptrdiff_t i = b0; i < block_end; i++) {
            lse[i] = m[i - b0] + logf(l[i - b0]);
            float inv = 1.f / l[i - b0];
            for (ptrdiff_t c = 0; c < dv; c++) out[i * dv + c] *= inv;
        }
    }
    return 0;
}

// The backward of one row block against one key tile (FlashAttention-2, Algorithm 2, lines 11–16),
// up to the key gradients: P = e^(scale q kT − lse) as the row kernel exponentiates
// (`sepme_exp_shifted`), dP = dO vTᵀ summed over the value columns in order, dS = P ∘ (dP − delta) as
// `sepme_softmax_gradient` computes it, scale · dS (the SGEMM's A scaled by alpha, for dQ and dK), and
// dQ (+)= scale · dS K in the SGEMM's slices. The caller adds dV += Pᵀ dO and dK += (scale dS)ᵀ Q
// (`sepme_attention_rows_accumulate`).
static AVX512 void backward_tile(const float *q, const float *kT, const float *k, const float *vT, const float *dout,
                                 const float *lse, const float *delta, ptrdiff_t rows, ptrdiff_t d, ptrdiff_t cols,
                                 ptrdiff_t dv, float scale, float *p, float *dss, float *dq, int first) {
    __attribute__((aligned(64))) float s[ROWS * TILE_KEYS_MAX];
    __attribute__((aligned(64))) float g[ROWS * TILE_KEYS_MAX];
    __attribute__((aligned(64))) float qs[ROWS * SLICE_MAX];
    __attribute__((aligned(64))) float gs[ROWS * SLICE_MAX];
    ptrdiff_t full = cols / 16;
    __mmask16 tail = lanes16(cols % 16);
    const __m512 k8 = _mm512_set1_ps(scale);
    for (ptrdiff_t i0 = 0; i0 < rows; i0 += ROWS) {
        int live = rows - i0 < ROWS ? (int)(rows - i0) : ROWS;
        float *dqr[ROWS];
        for (int r = 0; r < ROWS; r++) {
            ptrdiff_t i = i0 + (r < live ? r : live - 1);
            dqr[r] = dq ? dq + i * d : NULL;
            for (ptrdiff_t c = 0; c < d; c++) qs[r * SLICE_MAX + c] = q[i * d + c] * scale;
            for (ptrdiff_t c = 0; c < dv; c++) gs[r * SLICE_MAX + c] = dout[i * dv + c];
        }
        scores_of_tile(qs, d, kT, cols, s);
        scores_of_tile(gs, dv, vT, cols, g);
        for (int r = 0; r < ROWS; r++) {
            ptrdiff_t i = i0 + (r < live ? r : live - 1);
            __m512 shift = _mm512_set1_ps(lse[i]), dl = _mm512_set1_ps(delta[i]);
            float *sr = s + r * TILE_KEYS_MAX, *gr = g + r * TILE_KEYS_MAX;
            for (ptrdiff_t v = 0; v <= full; v++) {
                __mmask16 m = v < full ? (__mmask16)0xFFFF : tail;
                if (!m) break;
                __m512 pv = exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, sr + 16 * v), shift));
                __m512 ds = _mm512_mul_ps(pv, _mm512_sub_ps(_mm512_maskz_loadu_ps(m, gr + 16 * v), dl));
                __m512 scaled = _mm512_mul_ps(ds, k8);
                if (r < live) {
                    _mm512_mask_storeu_ps(p + (i0 + r) * cols + 16 * v, m, pv);
                    _mm512_mask_storeu_ps(dss + (i0 + r) * cols + 16 * v, m, scaled);
                }
                _mm512_mask_storeu_ps(gr + 16 * v, m, scaled);
            }
        }
        if (dq) values_of_tile(g, k, cols, d, dqr, live, first);
    }
}

int sepme_attention_tiles_backward(const float *q, const float *kT, const float *k, const float *vT, const float *dout,
                                   const float *lse, const float *delta, ptrdiff_t rows, ptrdiff_t d, ptrdiff_t cols,
                                   ptrdiff_t dv, float scale, float *p, float *dss, float *dq, int first) {
    if (!sepme_attention_rows_available() || cols < 1 || cols > TILE_KEYS_MAX || d < 1 ||
        d > SLICE_MAX || dv < 1 || dv > SLICE_MAX || rows < 0)
        return -1;
    backward_tile(q, kT, k, vT, dout, lse, delta, rows, d, cols, dv, scale, p, dss, dq, first);
    return 0;
}
#else
int sepme_attention_tiles(const float *q, const float *kT, const float *v, ptrdiff_t rows, ptrdiff_t d, ptrdiff_t lk,
                          ptrdiff_t dv, ptrdiff_t key_block, float scale, float *out, float *lse) {
    (void)q, (void)kT, (void)v, (void)rows, (void)d, (void)lk, (void)dv, (void)key_block, (void)scale;
    (void)out, (void)lse;
    return -1;
}
int sepme_attention_tiles_backward(const float *q, const float *kT, const float *k, const float *vT, const float *dout,
                                   const float *lse, const float *delta, ptrdiff_t rows, ptrdiff_t d, ptrdiff_t cols,
                                   ptrdiff_t dv, float scale, float *p, float *dss, float *dq, int first) {
    (void)q, (void)kT, (void)k, (void)vT, (void)dout, (void)lse, (void)delta, (void)rows, (void)d;
    (void)cols, (void)dv, (void)scale, (void)p, (void)dss, (void)dq, (void)first;
    return -1;
}
#endif
