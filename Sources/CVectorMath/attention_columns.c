// The online softmax (FlashAttention-2, Dao 2023, Algorithm 1, lines 9-10) on a transposed score tile:
// keys down, query rows across (Sᵀ, `lines` keys of `width` queries, `ld` floats apart), as the bf16
// attention kernel computes it (BF16AttentionKernel). Each query's maximum, exponentials and sum then
// run down a column, sixteen queries to a vector, with no horizontal reduction, and the exponentials are
// left in the layout the value product packs fastest (pairs of keys, queries side by side).
//
// Every path computes each column the same way: the maximum (exact in any order); e = e^((s − shift) ·
// scale) with the row kernels' exponential (softmax_lanes.h's exp16 / exp8, vector_math.c's exp_scalar:
// the same operations per lane); sum += e for the keys in order, from the sum passed in. So the AVX-512F,
// AVX2 and scalar versions give the same bits (BF16AttentionTests, VectorMathTests).
#pragma clang fp contract(off)

#include "sepme_vector_math.h"

#include <math.h>

static void column_maxima_scalar(const float *s, ptrdiff_t lines, ptrdiff_t width, ptrdiff_t ld, float *top) {
    for (ptrdiff_t i = 0; i < width; i++) top[i] = s[i];
    for (ptrdiff_t l = 1; l < lines; l++)
        for (ptrdiff_t i = 0; i < width; i++) top[i] = s[l * ld + i] > top[i] ? s[l * ld + i] : top[i];
}

static void exp_columns_scalar(float *s, ptrdiff_t lines, ptrdiff_t width, ptrdiff_t ld, const float *shift,
                               float scale, float *sum) {
    for (ptrdiff_t l = 0; l < lines; l++)
        for (ptrdiff_t i = 0; i < width; i++) {
            float e = sepme_exp((s[l * ld + i] - shift[i]) * scale);
            s[l * ld + i] = e;
            sum[i] += e;
        }
}

static void scale_columns_scalar(float *s, ptrdiff_t lines, ptrdiff_t width, ptrdiff_t ld, const float *factor) {
    for (ptrdiff_t l = 0; l < lines; l++)
        for (ptrdiff_t i = 0; i < width; i++) s[l * ld + i] *= factor[i];
}

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <immintrin.h>

#include "softmax_lanes.h"

#define AVX2 __attribute__((target("avx2,fma")))
#define AVX512 __attribute__((target("avx512f,avx2,fma")))

// Columns in groups of up to four vectors, so that four chains of dependent additions overlap.
#define GROUP 4

static inline __mmask16 lanes16(ptrdiff_t count) {
    return count >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << count) - 1);
}

AVX512 static void column_maxima_avx512(const float *s, ptrdiff_t lines, ptrdiff_t width, ptrdiff_t ld, float *top) {
    for (ptrdiff_t i0 = 0; i0 < width; i0 += 16 * GROUP) {
        __m512 acc[GROUP];
        __mmask16 mask[GROUP];
        for (int g = 0; g < GROUP; g++) {
            mask[g] = i0 + 16 * g < width ? lanes16(width - i0 - 16 * g) : 0;
            acc[g] = _mm512_set1_ps(-INFINITY);
        }
        for (ptrdiff_t l = 0; l < lines; l++)
            for (int g = 0; g < GROUP; g++)
                acc[g] = _mm512_max_ps(acc[g],
                                       _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), mask[g], s + l * ld + i0 + 16 * g));
        for (int g = 0; g < GROUP; g++) _mm512_mask_storeu_ps(top + i0 + 16 * g, mask[g], acc[g]);
    }
}

AVX512 static void exp_columns_avx512(float *s, ptrdiff_t lines, ptrdiff_t width, ptrdiff_t ld, const float *shift,
                                      float scale, float *sum) {
    __m512 k = _mm512_set1_ps(scale);
    for (ptrdiff_t i0 = 0; i0 < width; i0 += 16 * GROUP) {
        __m512 acc[GROUP], top[GROUP];
        __mmask16 mask[GROUP];
        for (int g = 0; g < GROUP; g++) {
            mask[g] = i0 + 16 * g < width ? lanes16(width - i0 - 16 * g) : 0;
            acc[g] = _mm512_maskz_loadu_ps(mask[g], sum + i0 + 16 * g);
            top[g] = _mm512_maskz_loadu_ps(mask[g], shift + i0 + 16 * g);
        }
        for (ptrdiff_t l = 0; l < lines; l++)
            for (int g = 0; g < GROUP; g++) {
                float *x = s + l * ld + i0 + 16 * g;
                __m512 e = exp16(_mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(mask[g], x), top[g]), k));
                _mm512_mask_storeu_ps(x, mask[g], e);
                acc[g] = _mm512_add_ps(acc[g], e);
            }
        for (int g = 0; g < GROUP; g++) _mm512_mask_storeu_ps(sum + i0 + 16 * g, mask[g], acc[g]);
    }
}

AVX512 static void scale_columns_avx512(float *s, ptrdiff_t lines, ptrdiff_t width, ptrdiff_t ld, const float *factor) {
    for (ptrdiff_t i0 = 0; i0 < width; i0 += 16) {
        __mmask16 mask = lanes16(width - i0);
        __m512 f = _mm512_maskz_loadu_ps(mask, factor + i0);
        for (ptrdiff_t l = 0; l < lines; l++) {
            float *x = s + l * ld + i0;
            _mm512_mask_storeu_ps(x, mask, _mm512_mul_ps(_mm512_maskz_loadu_ps(mask, x), f));
        }
    }
}

// The AVX2 versions: eight lanes, whole vectors; the last width mod 8 columns go to the scalar loops.
AVX2 static ptrdiff_t column_maxima_avx2(const float *s, ptrdiff_t lines, ptrdiff_t width, ptrdiff_t ld, float *top) {
    ptrdiff_t whole = width / 8 * 8;
    for (ptrdiff_t i0 = 0; i0 < whole; i0 += 8) {
        __m256 acc = _mm256_loadu_ps(s + i0);
        for (ptrdiff_t l = 1; l < lines; l++) acc = _mm256_max_ps(_mm256_loadu_ps(s + l * ld + i0), acc);
        _mm256_storeu_ps(top + i0, acc);
    }
    return whole;
}

AVX2 static ptrdiff_t exp_columns_avx2(float *s, ptrdiff_t lines, ptrdiff_t width, ptrdiff_t ld, const float *shift,
                                       float scale, float *sum) {
    ptrdiff_t whole = width / 8 * 8;
    __m256 k = _mm256_set1_ps(scale);
    for (ptrdiff_t i0 = 0; i0 < whole; i0 += 8) {
        __m256 acc = _mm256_loadu_ps(sum + i0), top = _mm256_loadu_ps(shift + i0);
        for (ptrdiff_t l = 0; l < lines; l++) {
            float *x = s + l * ld + i0;
            __m256 e = exp8(_mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x), top), k));
            _mm256_storeu_ps(x, e);
            acc = _mm256_add_ps(acc, e);
        }
        _mm256_storeu_ps(sum + i0, acc);
    }
    return whole;
}

void sepme_column_maxima(const float *s, ptrdiff_t lines, ptrdiff_t width, ptrdiff_t ld, float *top) {
    if (sepme_vector_math_uses_avx512()) {
        column_maxima_avx512(s, lines, width, ld, top);
        return;
    }
    ptrdiff_t done = sepme_vector_math_uses_avx2() ? column_maxima_avx2(s, lines, width, ld, top) : 0;
    column_maxima_scalar(s + done, lines, width - done, ld, top + done);
}

void sepme_exp_columns(float *s, ptrdiff_t lines, ptrdiff_t width, ptrdiff_t ld, const float *shift, float scale,
                       float *sum) {
    if (sepme_vector_math_uses_avx512()) {
        exp_columns_avx512(s, lines, width, ld, shift, scale, sum);
        return;
    }
    ptrdiff_t done = sepme_vector_math_uses_avx2() ? exp_columns_avx2(s, lines, width, ld, shift, scale, sum) : 0;
    exp_columns_scalar(s + done, lines, width - done, ld, shift + done, scale, sum + done);
}

void sepme_scale_columns(float *s, ptrdiff_t lines, ptrdiff_t width, ptrdiff_t ld, const float *factor) {
    if (sepme_vector_math_uses_avx512()) scale_columns_avx512(s, lines, width, ld, factor);
    else scale_columns_scalar(s, lines, width, ld, factor);
}

#else

void sepme_column_maxima(const float *s, ptrdiff_t lines, ptrdiff_t width, ptrdiff_t ld, float *top) {
    column_maxima_scalar(s, lines, width, ld, top);
}

void sepme_exp_columns(float *s, ptrdiff_t lines, ptrdiff_t width, ptrdiff_t ld, const float *shift, float scale,
                       float *sum) {
    exp_columns_scalar(s, lines, width, ld, shift, scale, sum);
}

void sepme_scale_columns(float *s, ptrdiff_t lines, ptrdiff_t width, ptrdiff_t ld, const float *factor) {
    scale_columns_scalar(s, lines, width, ld, factor);
}

#endif
