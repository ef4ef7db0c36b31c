// Rows whose exponential must give libm's expf bits (CLIP's quick GELU: the embedded toy model's text encoder
// was trained, and its results recorded, with libm's expf), in AVX-512F and AVX2 + FMA versions of the
// algorithm glibc (2.28 and later) runs for expf on CPUs with FMA: in double precision,
//   z = x · 32/ln2,  k = round(z) (by adding and subtracting 1.5 · 2^52),  r = z − k (one fused operation),
//   2^(k/32) = T[k mod 32] with k div 32 added to its exponent,
//   e^x ≈ 2^(k/32) · ((c0 r + c1) r² + (c2 r + 1)),
// rounded once to float at the end. Each step here is the same IEEE operation (fused where glibc's FMA build
// fuses), so every result is glibc's. Of the inputs glibc handles apart (|x| ≥ 88, infinities, NaN), those
// below −0x1.9fe368p6 (−∞ included), for which it returns 0, give 0 here; a vector holding any other is
// passed to libm's expf one value at a time.
#include "sepme_vector_math.h"

#include <math.h>
#include <stdint.h>

// 2^(i/32) rounded to double, as bits, minus i · 2^47 (the part of k's bits shifted into the exponent below).
static const uint64_t two_to_i_over_32[32] = {
    0x3ff0000000000000, 0x3fefd9b0d3158574, 0x3fefb5586cf9890f, 0x3fef9301d0125b51, 0x3fef72b83c7d517b,
    0x3fef54873168b9aa, 0x3fef387a6e756238, 0x3fef1e9df51fdee1, 0x3fef06fe0a31b715, 0x3feef1a7373aa9cb,
    0x3feedea64c123422, 0x3feece086061892d, 0x3feebfdad5362a27, 0x3feeb42b569d4f82, 0x3feeab07dd485429,
    0x3feea47eb03a5585, 0x3feea09e667f3bcd, 0x3fee9f75e8ec5f74, 0x3feea11473eb0187, 0x3feea589994cce13,
    0x3feeace5422aa0db, 0x3feeb737b0cdc5e5, 0x3feec49182a3f090, 0x3feed503b23e255d, 0x3feee89f995ad3ad,
    0x3feeff76f2fb5e47, 0x3fef199bdd85529c, 0x3fef3720dcef9069, 0x3fef5818dcfba487, 0x3fef7c97337b9b5f,
    0x3fefa4afa2a490da, 0x3fefd0765b6e4540};
// glibc's polynomial for 2^(r/32) − 1 in r (its minimax coefficients, which the bits depend on).
#define EXP_C0 0x1.c6af84b912394p-20
#define EXP_C1 0x1.ebfce50fac4f3p-13
#define EXP_C2 0x1.62e42ff0c52d6p-6
#define EXP_INV_LN2_32 0x1.71547652b82fep+5
#define EXP_ROUND_SHIFT 0x1.8p+52
// Float bits (>> 20, sign off) from which glibc leaves the main path: |x| ≥ 88, infinities, NaNs.
#define EXP_SPECIAL_TOP 0x42a
// Below this glibc's expf returns 0.
#define EXP_ZERO_BELOW -0x1.9fe368p6f

static void quick_gelu_scalar(float *out, const float *x, ptrdiff_t n) {
    for (ptrdiff_t i = 0; i < n; i++) out[i] = x[i] / (1.f + expf(-1.702f * x[i]));
}

// The row maximum as Swift's max(m, x) takes it (x when x >= m), from −∞.
static float row_max_swift(const float *x, ptrdiff_t n) {
    float m = -INFINITY;
    for (ptrdiff_t j = 0; j < n; j++) m = x[j] >= m ? x[j] : m;
    return m;
}

static void exp_shifted_scalar(float *y, const float *x, ptrdiff_t n, float m) {
    for (ptrdiff_t j = 0; j < n; j++) y[j] = expf(x[j] - m);
}

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <immintrin.h>
#define AVX2 __attribute__((target("avx2,fma")))
#define AVX512 __attribute__((target("avx512f,avx2,fma")))

// e^x for 4 floats widened to double, rounded back to float.
AVX2 static inline __m128 libm_exp4(__m128 x) {
    __m256d xd = _mm256_cvtps_pd(x);
    __m256d shifted = _mm256_fmadd_pd(_mm256_set1_pd(EXP_INV_LN2_32), xd, _mm256_set1_pd(EXP_ROUND_SHIFT));
    __m256i ki = _mm256_castpd_si256(shifted);
    __m256d kd = _mm256_sub_pd(shifted, _mm256_set1_pd(EXP_ROUND_SHIFT));
    __m256d r = _mm256_fmsub_pd(_mm256_set1_pd(EXP_INV_LN2_32), xd, kd);
    __m256i index = _mm256_and_si256(ki, _mm256_set1_epi64x(31));
    __m256i t = _mm256_i64gather_epi64((const long long *)two_to_i_over_32, index, 8);
    __m256d s = _mm256_castsi256_pd(_mm256_add_epi64(t, _mm256_slli_epi64(ki, 47)));
    __m256d z = _mm256_fmadd_pd(r, _mm256_set1_pd(EXP_C0), _mm256_set1_pd(EXP_C1));
    __m256d r2 = _mm256_mul_pd(r, r);
    __m256d y = _mm256_fmadd_pd(r, _mm256_set1_pd(EXP_C2), _mm256_set1_pd(1.0));
    y = _mm256_fmadd_pd(z, r2, y);
    return _mm256_cvtpd_ps(_mm256_mul_pd(y, s));
}

// e^x of 8 floats into *e, as glibc's expf gives it; 0 where a lane needs libm's expf itself (*e unset).
AVX2 static inline int libm_exp_avx2(__m256 x, __m256 *e) {
    __m256i top = _mm256_and_si256(_mm256_srli_epi32(_mm256_castps_si256(x), 20), _mm256_set1_epi32(0x7ff));
    __m256 special = _mm256_castsi256_ps(_mm256_cmpgt_epi32(top, _mm256_set1_epi32(EXP_SPECIAL_TOP)));
    __m256 zero = _mm256_cmp_ps(x, _mm256_set1_ps(EXP_ZERO_BELOW), _CMP_LT_OQ);
    if (!_mm256_testz_ps(_mm256_andnot_ps(zero, special), special)) return 0;
    __m256 v = _mm256_set_m128(libm_exp4(_mm256_extractf128_ps(x, 1)), libm_exp4(_mm256_castps256_ps128(x)));
    *e = _mm256_andnot_ps(zero, v);
    return 1;
}

AVX2 static void quick_gelu_avx2(float *out, const float *x, ptrdiff_t n) {
    ptrdiff_t i = 0;
    __m256 one = _mm256_set1_ps(1.f), slope = _mm256_set1_ps(-1.702f);
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i), e;
        if (!libm_exp_avx2(_mm256_mul_ps(slope, v), &e)) {
            quick_gelu_scalar(out + i, x + i, 8);
            continue;
        }
        _mm256_storeu_ps(out + i, _mm256_div_ps(v, _mm256_add_ps(one, e)));
    }
    quick_gelu_scalar(out + i, x + i, n - i);
}

// e^x for 8 floats widened to double, rounded back to float (libm_exp4's steps, eight lanes).
AVX512 static inline __m256 libm_exp8(__m256 x) {
    __m512d xd = _mm512_cvtps_pd(x);
    __m512d shifted = _mm512_fmadd_pd(_mm512_set1_pd(EXP_INV_LN2_32), xd, _mm512_set1_pd(EXP_ROUND_SHIFT));
    __m512i ki = _mm512_castpd_si512(shifted);
    __m512d kd = _mm512_sub_pd(shifted, _mm512_set1_pd(EXP_ROUND_SHIFT));
    __m512d r = _mm512_fmsub_pd(_mm512_set1_pd(EXP_INV_LN2_32), xd, kd);
    // The table's 32 entries in four registers; bits 0-3 of the index pick within a pair, bit 4 the pair.
    __m512i index = _mm512_and_si512(ki, _mm512_set1_epi64(31));
    const __m512i *table = (const __m512i *)two_to_i_over_32;
    __m512i low = _mm512_permutex2var_epi64(_mm512_loadu_si512(table), index, _mm512_loadu_si512(table + 1));
    __m512i high = _mm512_permutex2var_epi64(_mm512_loadu_si512(table + 2), index, _mm512_loadu_si512(table + 3));
    __mmask8 upper = _mm512_test_epi64_mask(index, _mm512_set1_epi64(16));
    __m512i t = _mm512_mask_blend_epi64(upper, low, high);
    __m512d s = _mm512_castsi512_pd(_mm512_add_epi64(t, _mm512_slli_epi64(ki, 47)));
    __m512d z = _mm512_fmadd_pd(r, _mm512_set1_pd(EXP_C0), _mm512_set1_pd(EXP_C1));
    __m512d r2 = _mm512_mul_pd(r, r);
    __m512d y = _mm512_fmadd_pd(r, _mm512_set1_pd(EXP_C2), _mm512_set1_pd(1.0));
    y = _mm512_fmadd_pd(z, r2, y);
    return _mm512_cvtpd_ps(_mm512_mul_pd(y, s));
}

// e^x of 16 floats into *e, as glibc's expf gives it; 0 where a lane needs libm's expf itself (*e unset).
AVX512 static inline int libm_exp_avx512(__m512 x, __m512 *e) {
    __m512i top = _mm512_and_si512(_mm512_srli_epi32(_mm512_castps_si512(x), 20), _mm512_set1_epi32(0x7ff));
    __mmask16 special = _mm512_cmpgt_epi32_mask(top, _mm512_set1_epi32(EXP_SPECIAL_TOP));
    __mmask16 zero = _mm512_cmp_ps_mask(x, _mm512_set1_ps(EXP_ZERO_BELOW), _CMP_LT_OQ);
    if (special & ~zero) return 0;
    __m256 e0 = libm_exp8(_mm512_castps512_ps256(x));
    __m256 e1 = libm_exp8(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(x), 1)));
    __m512 v = _mm512_castpd_ps(_mm512_insertf64x4(_mm512_castpd256_pd512(_mm256_castps_pd(e0)), _mm256_castps_pd(e1), 1));
    *e = _mm512_maskz_mov_ps((__mmask16)~zero, v);
    return 1;
}

AVX512 static void quick_gelu_avx512(float *out, const float *x, ptrdiff_t n) {
    ptrdiff_t i = 0;
    __m512 one = _mm512_set1_ps(1.f), slope = _mm512_set1_ps(-1.702f);
    for (; i + 16 <= n; i += 16) {
        __m512 v = _mm512_loadu_ps(x + i), e;
        if (!libm_exp_avx512(_mm512_mul_ps(slope, v), &e)) {
            quick_gelu_scalar(out + i, x + i, 16);
            continue;
        }
        _mm512_storeu_ps(out + i, _mm512_div_ps(v, _mm512_add_ps(one, e)));
    }
    quick_gelu_avx2(out + i, x + i, n - i);
}

// The exponentials e^(x − m) of a softmax row into y (y[j] = expf(x[j] − m) bit for bit).
AVX2 static void exp_shifted_avx2(float *y, const float *x, ptrdiff_t n, float m) {
    ptrdiff_t j = 0;
    __m256 vm = _mm256_set1_ps(m);
    for (; j + 8 <= n; j += 8) {
        __m256 t = _mm256_sub_ps(_mm256_loadu_ps(x + j), vm), e;
        if (libm_exp_avx2(t, &e)) _mm256_storeu_ps(y + j, e);
        else exp_shifted_scalar(y + j, x + j, 8, m);
    }
    exp_shifted_scalar(y + j, x + j, n - j, m);
}

AVX512 static void exp_shifted_avx512(float *y, const float *x, ptrdiff_t n, float m) {
    ptrdiff_t j = 0;
    __m512 vm = _mm512_set1_ps(m);
    for (; j + 16 <= n; j += 16) {
        __m512 t = _mm512_sub_ps(_mm512_loadu_ps(x + j), vm), e;
        if (libm_exp_avx512(t, &e)) _mm512_storeu_ps(y + j, e);
        else exp_shifted_scalar(y + j, x + j, 16, m);
    }
    exp_shifted_avx2(y + j, x + j, n - j, m);
}

void sepme_quick_gelu(float *out, const float *x, ptrdiff_t n) {
    if (sepme_vector_math_uses_avx512()) quick_gelu_avx512(out, x, n);
    else if (sepme_vector_math_uses_avx2()) quick_gelu_avx2(out, x, n);
    else quick_gelu_scalar(out, x, n);
}

static void exp_shifted(float *y, const float *x, ptrdiff_t n, float m) {
    if (sepme_vector_math_uses_avx512()) exp_shifted_avx512(y, x, n, m);
    else if (sepme_vector_math_uses_avx2()) exp_shifted_avx2(y, x, n, m);
    else exp_shifted_scalar(y, x, n, m);
}
#else
void sepme_quick_gelu(float *out, const float *x, ptrdiff_t n) { quick_gelu_scalar(out, x, n); }
#define exp_shifted exp_shifted_scalar
#endif

void sepme_softmax_libm_row(float *y, const float *x, ptrdiff_t n) {
    float m = row_max_swift(x, n), s = 0;
    exp_shifted(y, x, n, m);
    for (ptrdiff_t j = 0; j < n; j++) s += y[j];  // in order, as Tensor.softmax always summed
    float inv = 1.f / s;
    for (ptrdiff_t j = 0; j < n; j++) y[j] *= inv;
}
