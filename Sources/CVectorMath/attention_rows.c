// Fused attention of one head's query rows against at most 128 keys (cross-attention to the 77 text
// tokens), on AVX-512F: the scores of a few query rows stay in registers while K's rows stream past,
// the softmax runs on them in a small buffer, and the weighted sum of V's rows is scaled and stored
// once. The general path (AttentionKernel.forwardBlock) spends most of its time at these shapes in what
// surrounds its two thin products: packing Q scaled and Kᵀ, storing and reloading the score tile,
// per-row calls, a second pass to normalise the output.
//
// Same bits as the general path: each score is Σ_l (scale q_l) k_l summed over l in order from zero,
// as the SGEMM micro-kernel sums a product whose A is scaled by alpha (`sgemm_avx512.c`, pack_left);
// each row's maximum is exact in any order, and its exponentials and their sum are those of the row
// kernel the general path calls (`sepme_exp_scaled_sum` with scale 1: softmax_rows); each output is
// Σ_j p_j v_j summed over j in order from zero, then multiplied by 1 / l; lse = m + logf(l). So the
// fused rows need no tolerance of their own (AttentionTests compares them with the general path bit
// for bit).
#include "sepme_vector_math.h"

#include <math.h>
#include <string.h>

// Row stride of the score buffer: the most keys the fused rows take.
#define KEYS_MAX 128
// The longest sum the SGEMM does in one slice (SEPME_SGEMM_KC): the widest head the fused rows
// take (their scores' sums) and the most rows the key-gradient sums take; also the row stride of
// the scaled queries.
#define HEAD_MAX 256

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <immintrin.h>

#include "softmax_lanes.h"
#define AVX512 __attribute__((target("avx512f,avx2,fma")))
#define INLINE static inline __attribute__((always_inline))

static int cpu_has_avx512f;
__attribute__((constructor)) static void detect_attention_rows(void) {
    __builtin_cpu_init();
    cpu_has_avx512f = __builtin_cpu_supports("avx512f");
}
int sepme_attention_rows_available(void) { return cpu_has_avx512f; }

// dst[l] = src[l] · scale.
static AVX512 void scale_row(float *dst, const float *src, ptrdiff_t n, float scale) {
    __m512 k = _mm512_set1_ps(scale);
    ptrdiff_t l = 0;
    for (; l + 16 <= n; l += 16) _mm512_storeu_ps(dst + l, _mm512_mul_ps(_mm512_loadu_ps(src + l), k));
    if (l < n) _mm512_mask_storeu_ps(dst + l, lanes16(n - l), _mm512_mul_ps(_mm512_maskz_loadu_ps(lanes16(n - l), src + l), k));
}

// The vectors of columns c0 … of n that one pass takes (at most six: 96 columns), and the lanes of
// the last of them.
static inline int column_chunk(ptrdiff_t n, ptrdiff_t c0, __mmask16 *last) {
    int ch = (int)((n - c0 + 15) / 16);
    if (ch > 6) ch = 6;
    *last = lanes16(n - c0 - 16 * (ch - 1));
    return ch;
}

// Query rows per group for nv vectors of keys: as many as keep their scores and a row of Kᵀ in
// registers (the R scores_of takes for each nv).
static int rows_per_group(int nv) { return nv <= 5 ? 4 : (nv <= 7 ? 3 : 2); }

// s[r][j] = Σ_l qs[r][l] kT[l][j] for R rows of (scaled) queries (row stride HEAD_MAX) and NV vectors
// of keys (the last one masked).
INLINE AVX512 void scores(const float *qs, ptrdiff_t d, const float *kT, ptrdiff_t lk, float *s, const int R,
                          const int NV) {
    __mmask16 last = lanes16(lk - 16 * (NV - 1));
    __m512 acc[4][8];
    for (int r = 0; r < R; r++)
        for (int v = 0; v < NV; v++) acc[r][v] = _mm512_setzero_ps();
    for (ptrdiff_t l = 0; l < d; l++) {
        const float *row = kT + l * lk;
        __m512 b[8];
        for (int v = 0; v < NV; v++)
            b[v] = v < NV - 1 ? _mm512_loadu_ps(row + 16 * v) : _mm512_maskz_loadu_ps(last, row + 16 * v);
        for (int r = 0; r < R; r++) {
            __m512 x = _mm512_set1_ps(qs[r * HEAD_MAX + l]);
            for (int v = 0; v < NV; v++) acc[r][v] = _mm512_fmadd_ps(x, b[v], acc[r][v]);
        }
    }
    for (int r = 0; r < R; r++)
        for (int v = 0; v < NV; v++) _mm512_storeu_ps(s + r * KEYS_MAX + 16 * v, acc[r][v]);
}

// out_r[c0 + c] = (Σ_j p[r][j] v[j][c0 + c]) · inv[r] for R rows (the first `live` stored) and CH vectors
// of value columns from c0 (the last one masked by `last`).
INLINE AVX512 void weighted_values(const float *p, const float *v, ptrdiff_t lk, ptrdiff_t dv, ptrdiff_t c0,
                                   __mmask16 last, const float *inv, float *const *out, int live, const int R,
                                   const int CH) {
    __m512 acc[4][6];
    for (int r = 0; r < R; r++)
        for (int c = 0; c < CH; c++) acc[r][c] = _mm512_setzero_ps();
    for (ptrdiff_t j = 0; j < lk; j++) {
        const float *row = v + j * dv + c0;
        __m512 b[6];
        for (int c = 0; c < CH; c++)
            b[c] = c < CH - 1 ? _mm512_loadu_ps(row + 16 * c) : _mm512_maskz_loadu_ps(last, row + 16 * c);
        for (int r = 0; r < R; r++) {
            __m512 x = _mm512_set1_ps(p[r * KEYS_MAX + j]);
            for (int c = 0; c < CH; c++) acc[r][c] = _mm512_fmadd_ps(x, b[c], acc[r][c]);
        }
    }
    for (int r = 0; r < R; r++) {
        if (r >= live) break;
        __m512 k = _mm512_set1_ps(inv[r]);
        for (int c = 0; c < CH; c++)
            _mm512_mask_storeu_ps(out[r] + c0 + 16 * c, c < CH - 1 ? (__mmask16)0xFFFF : last, _mm512_mul_ps(acc[r][c], k));
    }
}

// Each of R rows of s (lk values) becomes e^(x − m), m its maximum, and l[r] its sum, added as
// exp_shifted_sum_avx512 adds a row: the full vectors of 16 lane-wise in order, the AVX2 loops'
// horizontal sum, then the last lk mod 16 values one by one. The R rows run interleaved, so that
// their chains of dependent additions overlap (one row at a time, the softmax took as long as both
// products).
INLINE AVX512 void softmax_rows(float *s, ptrdiff_t lk, float *m, float *l, const int R) {
    row_maxima(s, KEYS_MAX, lk, m, R);
    exp_rows_sums(s, KEYS_MAX, lk, m, l, R);
}

static AVX512 void softmax_of(float *s, ptrdiff_t lk, float *m, float *l, int group) {
    if (group == 4)
        softmax_rows(s, lk, m, l, 4);
    else if (group == 3)
        softmax_rows(s, lk, m, l, 3);
    else
        softmax_rows(s, lk, m, l, 2);
}

static AVX512 void scores_of(const float *qs, ptrdiff_t d, const float *kT, ptrdiff_t lk, float *s, int nv) {
    switch (nv) {
    case 1: scores(qs, d, kT, lk, s, 4, 1); break;
    case 2: scores(qs, d, kT, lk, s, 4, 2); break;
    case 3: scores(qs, d, kT, lk, s, 4, 3); break;
    case 4: scores(qs, d, kT, lk, s, 4, 4); break;
    case 5: scores(qs, d, kT, lk, s, 4, 5); break;
    case 6: scores(qs, d, kT, lk, s, 3, 6); break;
    case 7: scores(qs, d, kT, lk, s, 3, 7); break;
    default: scores(qs, d, kT, lk, s, 2, 8); break;
    }
}

#define VALUES(R)                                                                                                  \
    switch (ch) {                                                                                                  \
    case 1: weighted_values(p, v, lk, dv, c0, last, inv, out, live, R, 1); break;                                  \
    case 2: weighted_values(p, v, lk, dv, c0, last, inv, out, live, R, 2); break;                                  \
    case 3: weighted_values(p, v, lk, dv, c0, last, inv, out, live, R, 3); break;                                  \
    case 4: weighted_values(p, v, lk, dv, c0, last, inv, out, live, R, 4); break;                                  \
    case 5: weighted_values(p, v, lk, dv, c0, last, inv, out, live, R, 5); break;                                  \
    default: weighted_values(p, v, lk, dv, c0, last, inv, out, live, R, 6); break;                                 \
    }

static AVX512 void values_of(const float *p, const float *v, ptrdiff_t lk, ptrdiff_t dv, const float *inv,
                             float *const *out, int live, int group) {
    for (ptrdiff_t c0 = 0; c0 < dv; c0 += 96) {
        __mmask16 last;
        int ch = column_chunk(dv, c0, &last);
        if (group == 4) {
            VALUES(4)
        } else if (group == 3) {
            VALUES(3)
        } else {
            VALUES(2)
        }
    }
}

int sepme_attention_rows(const float *q, const float *kT, const float *v, ptrdiff_t rows, ptrdiff_t d, ptrdiff_t lk,
                         ptrdiff_t dv, float scale, float *out, float *lse, float *probabilities) {
    if (!cpu_has_avx512f || lk < 1 || lk > KEYS_MAX || d < 1 || d > HEAD_MAX || dv < 1 || rows < 0) return -1;
    int nv = (int)((lk + 15) / 16);
    int group = rows_per_group(nv);
    __attribute__((aligned(64))) float s[4 * KEYS_MAX];
    __attribute__((aligned(64))) float qs[4 * HEAD_MAX];
    for (ptrdiff_t i0 = 0; i0 < rows; i0 += group) {
        int live = rows - i0 < group ? (int)(rows - i0) : group;
        // Rows past the last one repeat it: computed, never stored.
        float *outr[4];
        for (int r = 0; r < group; r++) {
            ptrdiff_t i = i0 + (r < live ? r : live - 1);
            outr[r] = out + i * dv;
            // The SGEMM's A scaled by alpha, once per row (pack_left's product).
            scale_row(qs + r * HEAD_MAX, q + i * d, d, scale);
        }
        scores_of(qs, d, kT, lk, s, nv);
        float m[4], l[4], inv[4] = {1, 1, 1, 1};
        softmax_of(s, lk, m, l, group);
        for (int r = 0; r < group; r++) {
            inv[r] = 1.f / l[r];
            if (r < live) lse[i0 + r] = m[r] + logf(l[r]);
        }
        values_of(s, v, lk, dv, inv, outr, live, group);
        if (probabilities)
            for (int r = 0; r < live; r++) scale_row(probabilities + (i0 + r) * lk, s + r * KEYS_MAX, lk, inv[r]);
    }
    return 0;
}

// Σ a[i] b[i] as AttentionKernel's delta sums it (VectorMath.dot): eight partial sums of products
// (each product rounded, then added), combined pairwise, then the last n mod 8 added one by one.
static AVX512 float dot_rows(const float *a, const float *b, ptrdiff_t n) {
    __m256 acc = _mm256_setzero_ps();
    ptrdiff_t i = 0;
    for (; i + 8 <= n; i += 8) acc = _mm256_add_ps(acc, _mm256_mul_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)));
    float t[8];
    _mm256_storeu_ps(t, acc);
    float s = ((t[0] + t[1]) + (t[2] + t[3])) + ((t[4] + t[5]) + (t[6] + t[7]));
    for (; i < n; i++) {
        float product = a[i] * b[i];
        s += product;
    }
    return s;
}

static AVX512 void backward_rows(const float *dout, const float *out, const float *p, const float *vT, const float *k,
                                 ptrdiff_t rows, ptrdiff_t d, ptrdiff_t lk, ptrdiff_t dv, float scale, float *dss,
                                 float *dq) {
    int nv = (int)((lk + 15) / 16);
    int group = rows_per_group(nv);
    __attribute__((aligned(64))) float s[4 * KEYS_MAX];
    __attribute__((aligned(64))) float g[4 * HEAD_MAX];
    const float one[4] = {1, 1, 1, 1};
    __mmask16 tail = lanes16(lk % 16);
    ptrdiff_t full = lk / 16;
    for (ptrdiff_t i0 = 0; i0 < rows; i0 += group) {
        int live = rows - i0 < group ? (int)(rows - i0) : group;
        float *dqr[4];
        float delta[4];
        for (int r = 0; r < group; r++) {
            ptrdiff_t i = i0 + (r < live ? r : live - 1);
            if (dq) dqr[r] = dq + i * d;
            memcpy(g + r * HEAD_MAX, dout + i * dv, sizeof(float) * (size_t)dv);
            delta[r] = dot_rows(dout + i * dv, out + i * dv, dv);
        }
        // dP = dO Vᵀ, summed over the value columns in order (the SGEMM's sums).
        scores_of(g, dv, vT, lk, s, nv);
        // dS = P ∘ (dP − delta) (sepme_softmax_gradient) and scale · dS (the SGEMM's A scaled by alpha,
        // for dQ and dK), stored; s keeps scale · dS for dQ.
        for (int r = 0; r < group; r++) {
            const float *pr = p + (i0 + (r < live ? r : live - 1)) * lk;
            float *sr = s + r * KEYS_MAX, *dssr = dss + (i0 + r) * lk;
            __m512 dl = _mm512_set1_ps(delta[r]), k8 = _mm512_set1_ps(scale);
            for (ptrdiff_t v = 0; v <= full; v++) {
                __mmask16 m = v < full ? (__mmask16)0xFFFF : tail;
                if (!m) break;
                __m512 x = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, pr + 16 * v),
                                         _mm512_sub_ps(_mm512_maskz_loadu_ps(m, sr + 16 * v), dl));
                __m512 xs = _mm512_mul_ps(x, k8);
                if (r < live) _mm512_mask_storeu_ps(dssr + 16 * v, m, xs);
                _mm512_mask_storeu_ps(sr + 16 * v, m, xs);
            }
        }
        // dQ = scale · dS K: the SGEMM's A scaled by alpha, summed over the keys in order.
        if (dq) values_of(s, k, lk, d, one, dqr, live, group);
    }
}

int sepme_attention_rows_backward(const float *dout, const float *out, const float *p, const float *vT, const float *k,
                                  ptrdiff_t rows, ptrdiff_t d, ptrdiff_t lk, ptrdiff_t dv, float scale, float *dss,
                                  float *dq) {
    if (!cpu_has_avx512f || lk < 1 || lk > KEYS_MAX || d < 1 || dv < 1 || dv > HEAD_MAX || rows < 0) return -1;
    backward_rows(dout, out, p, vT, k, rows, d, lk, dv, scale, dss, dq);
    return 0;
}

// c[j + r][c0 + 16 c + t] += Σ_i a[i][j + r] b[i][c0 + 16 c + t] for KR keys (the first `live` stored)
// and CH vectors of columns from c0 (the last one masked by `last`): summed over i in order from zero,
// then added to c, as the SGEMM sums a product of a transposed A with beta 1.
INLINE AVX512 void accumulate_tile(const float *a, ptrdiff_t lda, const float *b, ptrdiff_t n, ptrdiff_t rows,
                                   const ptrdiff_t *key, int live, ptrdiff_t c0, __mmask16 last, float *c, const int KR,
                                   const int CH) {
    __m512 acc[6][6];
    for (int r = 0; r < KR; r++)
        for (int v = 0; v < CH; v++) acc[r][v] = _mm512_setzero_ps();
    for (ptrdiff_t i = 0; i < rows; i++) {
        const float *row = b + i * n + c0;
        __m512 y[6];
        for (int v = 0; v < CH; v++)
            y[v] = v < CH - 1 ? _mm512_loadu_ps(row + 16 * v) : _mm512_maskz_loadu_ps(last, row + 16 * v);
        for (int r = 0; r < KR; r++) {
            __m512 x = _mm512_set1_ps(a[i * lda + key[r]]);
            for (int v = 0; v < CH; v++) acc[r][v] = _mm512_fmadd_ps(x, y[v], acc[r][v]);
        }
    }
    for (int r = 0; r < KR; r++) {
        if (r >= live) break;
        float *out = c + key[r] * n + c0;
        for (int v = 0; v < CH; v++) {
            __mmask16 m = v < CH - 1 ? (__mmask16)0xFFFF : last;
            _mm512_mask_storeu_ps(out + 16 * v, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, out + 16 * v), acc[r][v]));
        }
    }
}

// Tiles of six keys where the columns take at most four vectors (24 sums and four loads in registers),
// else of four.
static AVX512 void accumulate_rows(const float *a, ptrdiff_t lda, const float *b, ptrdiff_t rows, ptrdiff_t keys,
                                   ptrdiff_t n, float *c) {
    for (ptrdiff_t c0 = 0; c0 < n; c0 += 96) {
        __mmask16 last;
        int ch = column_chunk(n, c0, &last);
        int kr = ch <= 4 ? 6 : 4;
        for (ptrdiff_t j0 = 0; j0 < keys; j0 += kr) {
            int live = keys - j0 < kr ? (int)(keys - j0) : kr;
            ptrdiff_t key[6];
            for (int r = 0; r < 6; r++) key[r] = j0 + (r < live ? r : live - 1);
            switch (ch) {
            case 1: accumulate_tile(a, lda, b, n, rows, key, live, c0, last, c, 6, 1); break;
            case 2: accumulate_tile(a, lda, b, n, rows, key, live, c0, last, c, 6, 2); break;
            case 3: accumulate_tile(a, lda, b, n, rows, key, live, c0, last, c, 6, 3); break;
            case 4: accumulate_tile(a, lda, b, n, rows, key, live, c0, last, c, 6, 4); break;
            case 5: accumulate_tile(a, lda, b, n, rows, key, live, c0, last, c, 4, 5); break;
            default: accumulate_tile(a, lda, b, n, rows, key, live, c0, last, c, 4, 6); break;
            }
        }
    }
}

int sepme_attention_rows_accumulate(const float *a, ptrdiff_t lda, const float *b, ptrdiff_t rows, ptrdiff_t keys,
                                    ptrdiff_t n, float *c) {
    // More rows than one SGEMM slice would be summed in another order.
    if (!cpu_has_avx512f || rows < 0 || rows > HEAD_MAX || keys < 1 || keys > lda || n < 1) return -1;
    accumulate_rows(a, lda, b, rows, keys, n, c);
    return 0;
}
#else
int sepme_attention_rows_available(void) { return 0; }
int sepme_attention_rows(const float *q, const float *kT, const float *v, ptrdiff_t rows, ptrdiff_t d, ptrdiff_t lk,
                         ptrdiff_t dv, float scale, float *out, float *lse, float *probabilities) {
    (void)q, (void)kT, (void)v, (void)rows, (void)d, (void)lk, (void)dv, (void)scale, (void)out, (void)lse,
        (void)probabilities;
    return -1;
}
int sepme_attention_rows_backward(const float *dout, const float *out, const float *p, const float *vT, const float *k,
                                  ptrdiff_t rows, ptrdiff_t d, ptrdiff_t lk, ptrdiff_t dv, float scale, float *dss,
                                  float *dq) {
    (void)dout, (void)out, (void)p, (void)vT, (void)k, (void)rows, (void)d, (void)lk, (void)dv, (void)scale, (void)dss,
        (void)dq;
    return -1;
}
int sepme_attention_rows_accumulate(const float *a, ptrdiff_t lda, const float *b, ptrdiff_t rows, ptrdiff_t keys,
                                    ptrdiff_t n, float *c) {
    (void)a, (void)lda, (void)b, (void)rows, (void)keys, (void)n, (void)c;
    return -1;
}
#endif
