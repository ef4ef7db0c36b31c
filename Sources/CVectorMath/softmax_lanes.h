// The softmax rows' vector pieces, shared by vector_math.c, attention_rows.c, attention_tiles.c and
// attention_columns.c so that the fused attention rows, tiles and columns add and exponentiate exactly as
// the row kernels do: e^x on sixteen and on eight lanes (the Cody-Waite reduction and Cephes polynomial of
// vector_math.c's header comment, the same sequence of operations per lane as its exp_scalar), the AVX2
// loops' horizontal sum of eight lanes, the mask of a partial 16-lane vector, and, built on them, the
// maxima and exponentials of several rows interleaved. x86-64 with GCC or Clang only; include after <immintrin.h> and <math.h>.
#ifndef SEPME_SOFTMAX_LANES_H
#define SEPME_SOFTMAX_LANES_H

// Lanes [0, count) of a 16-lane vector, the mask of a partial vector (count clamped to [0, 16]).
static inline __mmask16 lanes16(ptrdiff_t count) {
    return count >= 16 ? (__mmask16)0xFFFF : (count > 0 ? (__mmask16)((1u << count) - 1) : (__mmask16)0);
}

__attribute__((target("avx2,fma"))) static inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}

// e^x on eight lanes: exp16's operations on AVX2 + FMA.
__attribute__((target("avx2,fma"))) static inline __m256 exp8(__m256 v) {
    __m256 x = _mm256_min_ps(_mm256_max_ps(v, _mm256_set1_ps(-87.3f)), _mm256_set1_ps(88.3f));
    __m256 shifted = _mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504f), _mm256_set1_ps(12582912.f));
    __m256 n = _mm256_sub_ps(shifted, _mm256_set1_ps(12582912.f));
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.f)));
    __m256i ni = _mm256_sub_epi32(_mm256_castps_si256(shifted), _mm256_set1_epi32(0x4B400000));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(ni, _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

__attribute__((target("avx512f,avx2,fma"))) static inline __m512 exp16(__m512 v) {
    __m512 x = _mm512_min_ps(_mm512_max_ps(v, _mm512_set1_ps(-87.3f)), _mm512_set1_ps(88.3f));
    __m512 shifted = _mm512_fmadd_ps(x, _mm512_set1_ps(1.44269504f), _mm512_set1_ps(12582912.f));
    __m512 n = _mm512_sub_ps(shifted, _mm512_set1_ps(12582912.f));
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.f)));
    __m512i ni = _mm512_sub_epi32(_mm512_castps_si512(shifted), _mm512_set1_epi32(0x4B400000));
    __m512i e = _mm512_slli_epi32(_mm512_add_epi32(ni, _mm512_set1_epi32(127)), 23);
    return _mm512_mul_ps(p, _mm512_castsi512_ps(e));
}

// The maxima of R rows of s (rows `stride` apart, n values each), each exact in any order.
__attribute__((target("avx512f,avx2,fma"))) static inline __attribute__((always_inline)) void
row_maxima(const float *s, ptrdiff_t stride, ptrdiff_t n, float *top, const int R) {
    ptrdiff_t full = n / 16, rest = n % 16;
    __m512 acc[8];
    for (int r = 0; r < R; r++) acc[r] = _mm512_set1_ps(-INFINITY);
    for (ptrdiff_t v = 0; v < full; v++)
        for (int r = 0; r < R; r++) acc[r] = _mm512_max_ps(acc[r], _mm512_loadu_ps(s + r * stride + 16 * v));
    if (rest) {
        __mmask16 tail = (__mmask16)((1u << rest) - 1);
        for (int r = 0; r < R; r++)
            acc[r] = _mm512_max_ps(acc[r],
                                   _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), tail, s + r * stride + 16 * full));
    }
    for (int r = 0; r < R; r++) top[r] = _mm512_reduce_max_ps(acc[r]);
}

// R rows of s (rows `stride` apart, n values each) become e^(x − shift[r]), and sum[r] their sum, added
// as the AVX-512F row kernel adds a row (exp_shifted_sum_avx512, vector_math.c): the full vectors of 16
// lane-wise in order, the AVX2 loops' horizontal sum, then the last n mod 16 values one by one. The R
// rows run interleaved, so that their chains of dependent additions overlap.
__attribute__((target("avx512f,avx2,fma"))) static inline __attribute__((always_inline)) void
exp_rows_sums(float *s, ptrdiff_t stride, ptrdiff_t n, const float *shift, float *sum, const int R) {
    ptrdiff_t full = n / 16, rest = n % 16;
    __m512 top[8], acc[8];
    for (int r = 0; r < R; r++) {
        top[r] = _mm512_set1_ps(shift[r]);
        acc[r] = _mm512_setzero_ps();
    }
    for (ptrdiff_t v = 0; v < full; v++)
        for (int r = 0; r < R; r++) {
            float *x = s + r * stride + 16 * v;
            __m512 e = exp16(_mm512_sub_ps(_mm512_loadu_ps(x), top[r]));
            _mm512_storeu_ps(x, e);
            acc[r] = _mm512_add_ps(acc[r], e);
        }
    for (int r = 0; r < R; r++) {
        __m256 low = _mm512_castps512_ps256(acc[r]);
        __m256 high = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(acc[r]), 1));
        sum[r] = hsum8(_mm256_add_ps(low, high));
    }
    if (rest) {
        __mmask16 tail = (__mmask16)((1u << rest) - 1);
        for (int r = 0; r < R; r++) {
            float *x = s + r * stride + 16 * full;
            _mm512_mask_storeu_ps(x, tail, exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(tail, x), top[r])));
        }
        for (ptrdiff_t i = 0; i < rest; i++)
            for (int r = 0; r < R; r++) sum[r] += s[r * stride + 16 * full + i];
    }
}

#endif
