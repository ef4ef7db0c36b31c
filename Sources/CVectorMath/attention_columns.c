// The online softmax (FlashAttention-2, Dao 2023, Algorithm 1, lines 9-10) on a transposed score tile:
// keys down, query rows across (Sᵀ, `lines` keys of `width` queries, `ld` floats apart), as the bf16
// attention kernel computes it (BF16AttentionKernel). Each query's maximum, exponentials and sum then
// run down a column, sixteen queries to a vector, with no horizontal reduction, and the exponentials are
// left in the layout the value product packs fastest (pairs of keys, queries side by side); where the CPU
// has AVX-512 BF16, sepme_exp_columns_bf16 writes them packed as they are computed, without the tile's
// round trip through fp32.
//
// Every path computes each column the same way: the maximum (exact in any order); e = e^((s − shift) ·
// scale); sum += e for the keys in order, from the sum passed in. The exponentials are rounded to bf16
// (relative error up to 2⁻⁹) right after, by the value product's packing, so they use a short
// exponential: e = 2^t, t = s · (scale · log₂e) − shift · (scale · log₂e) in one fused multiply-add,
// clamped to [−126, 127]; n = t rounded to the nearest integer, f = t − n (exact) in [−1/2, 1/2]; 2^f by
// a degree-4 polynomial fitted for relative error (at most 3e-6 on that interval, in float arithmetic);
// times 2^n, a normal power of two, in one correctly rounded multiplication (vscalefps on AVX-512F). So
// the AVX-512F, AVX2 and scalar versions give the same bits (BF16AttentionTests, VectorMathTests).
#pragma clang fp contract(off)

#include "sepme_vector_math.h"

#include <math.h>
#include <stdint.h>

static void column_maxima_scalar(const float *s, ptrdiff_t lines, ptrdiff_t width, ptrdiff_t ld, float *top) {
    for (ptrdiff_t i = 0; i < width; i++) top[i] = s[i];
    for (ptrdiff_t l = 1; l < lines; l++)
        for (ptrdiff_t i = 0; i < width; i++) top[i] = s[l * ld + i] > top[i] ? s[l * ld + i] : top[i];
}

static void scale_columns_scalar(float *s, ptrdiff_t lines, ptrdiff_t width, ptrdiff_t ld, const float *factor) {
    for (ptrdiff_t l = 0; l < lines; l++)
        for (ptrdiff_t i = 0; i < width; i++) s[l * ld + i] *= factor[i];
}

// The short exponential's constants: log₂e, the clamp of t, and 2^f's polynomial, constant term first.
#define SHORT_LOG2E 1.44269504f
#define SHORT_LOW -126.f
#define SHORT_HIGH 127.f
#define SHORT_C0 0.999999285f
#define SHORT_C1 0.693121791f
#define SHORT_C2 0.240247443f
#define SHORT_C3 0.0559178628f
#define SHORT_C4 0.00957010128f

// 2^t for t = fma(x, k, −c) (k = scale · log₂e, c = shift · k), the lanes' sequence on one float.
static inline float exp2_short_scalar(float x, float k, float c) {
    float t = fmaf(x, k, -c);
    t = t > SHORT_LOW ? t : SHORT_LOW;  // NaN as well, as vmaxps with the constant second
    t = t < SHORT_HIGH ? t : SHORT_HIGH;
    float n = nearbyintf(t), f = t - n;
    float p = fmaf(SHORT_C4, f, SHORT_C3);
    p = fmaf(p, f, SHORT_C2);
    p = fmaf(p, f, SHORT_C1);
    p = fmaf(p, f, SHORT_C0);
    union {
        uint32_t bits;
        float value;
    } power = {.bits = (uint32_t)((int32_t)n + 127) << 23};
    return p * power.value;
}

static void exp_columns_short_scalar(float *s, ptrdiff_t lines, ptrdiff_t width, ptrdiff_t ld, const float *shift,
                                     float k, float *sum) {
    for (ptrdiff_t i = 0; i < width; i++) {
        float c = shift[i] * k, acc = sum[i];
        for (ptrdiff_t l = 0; l < lines; l++) {
            float e = exp2_short_scalar(s[l * ld + i], k, c);
            s[l * ld + i] = e;
            acc += e;
        }
        sum[i] = acc;
    }
}

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <immintrin.h>

#include "softmax_lanes.h"

#define AVX2 __attribute__((target("avx2,fma")))
#define AVX512 __attribute__((target("avx512f,avx2,fma")))

// Columns in groups of up to four vectors, so that four chains of dependent additions overlap.
#define GROUP 4

static int has_bf16;
__attribute__((constructor)) static void detect_bf16(void) {
    __builtin_cpu_init();
    has_bf16 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512bf16");
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

// The short exponential (exp2_short_scalar) on sixteen lanes: 2^n by vscalefps, which for a normal
// power of two rounds p · 2^n as the scalar multiplication does.
AVX512 static inline __m512 exp2_short16(__m512 x, __m512 k, __m512 c) {
    __m512 t = _mm512_fmsub_ps(x, k, c);
    t = _mm512_min_ps(_mm512_max_ps(t, _mm512_set1_ps(SHORT_LOW)), _mm512_set1_ps(SHORT_HIGH));
    __m512 n = _mm512_roundscale_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 f = _mm512_sub_ps(t, n);
    __m512 p = _mm512_fmadd_ps(_mm512_set1_ps(SHORT_C4), f, _mm512_set1_ps(SHORT_C3));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(SHORT_C2));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(SHORT_C1));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(SHORT_C0));
    return _mm512_scalef_ps(p, n);
}

AVX512 static void exp_columns_short_avx512(float *s, ptrdiff_t lines, ptrdiff_t width, ptrdiff_t ld,
                                            const float *shift, float k, float *sum) {
    __m512 kv = _mm512_set1_ps(k);
    for (ptrdiff_t i0 = 0; i0 < width; i0 += 16 * GROUP) {
        __m512 acc[GROUP], c[GROUP];
        __mmask16 mask[GROUP];
        for (int g = 0; g < GROUP; g++) {
            mask[g] = i0 + 16 * g < width ? lanes16(width - i0 - 16 * g) : 0;
            acc[g] = _mm512_maskz_loadu_ps(mask[g], sum + i0 + 16 * g);
            c[g] = _mm512_mul_ps(_mm512_maskz_loadu_ps(mask[g], shift + i0 + 16 * g), kv);
        }
        for (ptrdiff_t l = 0; l < lines; l++)
            for (int g = 0; g < GROUP; g++) {
                float *x = s + l * ld + i0 + 16 * g;
                __m512 e = exp2_short16(_mm512_maskz_loadu_ps(mask[g], x), kv, c[g]);
                _mm512_mask_storeu_ps(x, mask[g], e);
                acc[g] = _mm512_add_ps(acc[g], e);
            }
        for (int g = 0; g < GROUP; g++) _mm512_mask_storeu_ps(sum + i0 + 16 * g, mask[g], acc[g]);
    }
}

// exp_columns_short_avx512's exponentials and sums, the exponentials written as the bf16 right operand of
// the value product instead of back into s: for each panel of `panel` columns and each pair of keys (2q,
// 2q + 1), the words bf16(e[2q][i]) | bf16(e[2q + 1][i]) << 16 for the panel's columns i (vcvtne2ps2bf16:
// nearest even, subnormals to signed zero, as the packing's to_bf16), zeros past `width` and for the key
// after an odd last one. Each column's sum adds its exponentials in key order, as
// exp_columns_short_avx512.
#define BF16 __attribute__((target("avx512f,avx512bw,avx512bf16,avx2,fma")))

// Words bf16(even[t]) | bf16(odd[t]) << 16 for the sixteen lanes t.
BF16 static inline __m512i bf16_pairs(__m512 even, __m512 odd) {
    const __m512i order = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7, 22, 6,
                                           21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    return _mm512_permutexvar_epi16(order, (__m512i)_mm512_cvtne2ps_pbh(odd, even));
}

BF16 static void exp_columns_bf16(uint16_t *dst, const float *s, ptrdiff_t lines, ptrdiff_t width, ptrdiff_t ld,
                                  const float *shift, float k, float *sum, ptrdiff_t panel) {
    __m512 kv = _mm512_set1_ps(k);
    ptrdiff_t pairs = (lines + 1) / 2, vectors = panel / 16;
    for (ptrdiff_t p = 0; p * panel < width; p++) {
        uint32_t *out = (uint32_t *)(void *)(dst + p * pairs * 2 * panel);
        for (ptrdiff_t v = 0; v < vectors; v++) {
            ptrdiff_t i0 = p * panel + 16 * v;
            __mmask16 mask = i0 < width ? lanes16(width - i0) : 0;
            __m512 acc = _mm512_maskz_loadu_ps(mask, sum + i0);
            __m512 c = _mm512_mul_ps(_mm512_maskz_loadu_ps(mask, shift + i0), kv);
            for (ptrdiff_t q = 0; q < pairs; q++) {
                const float *x = s + 2 * q * ld + i0;
                __m512 even = exp2_short16(_mm512_maskz_loadu_ps(mask, x), kv, c);
                acc = _mm512_add_ps(acc, even);
                __m512 odd = _mm512_setzero_ps();
                if (2 * q + 1 < lines) {
                    odd = exp2_short16(_mm512_maskz_loadu_ps(mask, x + ld), kv, c);
                    acc = _mm512_add_ps(acc, odd);
                }
                _mm512_storeu_si512(out + q * panel + 16 * v, _mm512_maskz_mov_epi32(mask, bf16_pairs(even, odd)));
            }
            _mm512_mask_storeu_ps(sum + i0, mask, acc);
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

// The short exponential on eight lanes: 2^n built in the exponent field (n in [−126, 127]: a normal
// power of two), then one multiplication.
AVX2 static inline __m256 exp2_short8(__m256 x, __m256 k, __m256 c) {
    __m256 t = _mm256_fmsub_ps(x, k, c);
    t = _mm256_min_ps(_mm256_max_ps(t, _mm256_set1_ps(SHORT_LOW)), _mm256_set1_ps(SHORT_HIGH));
    __m256 n = _mm256_round_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 f = _mm256_sub_ps(t, n);
    __m256 p = _mm256_fmadd_ps(_mm256_set1_ps(SHORT_C4), f, _mm256_set1_ps(SHORT_C3));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(SHORT_C2));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(SHORT_C1));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(SHORT_C0));
    __m256i power = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(power));
}

AVX2 static ptrdiff_t exp_columns_short_avx2(float *s, ptrdiff_t lines, ptrdiff_t width, ptrdiff_t ld,
                                             const float *shift, float k, float *sum) {
    ptrdiff_t whole = width / 8 * 8;
    __m256 kv = _mm256_set1_ps(k);
    for (ptrdiff_t i0 = 0; i0 < whole; i0 += 8) {
        __m256 acc = _mm256_loadu_ps(sum + i0), c = _mm256_mul_ps(_mm256_loadu_ps(shift + i0), kv);
        for (ptrdiff_t l = 0; l < lines; l++) {
            float *x = s + l * ld + i0;
            __m256 e = exp2_short8(_mm256_loadu_ps(x), kv, c);
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

void sepme_exp_columns_short(float *s, ptrdiff_t lines, ptrdiff_t width, ptrdiff_t ld, const float *shift,
                             float scale, float *sum) {
    float k = scale * SHORT_LOG2E;
    if (sepme_vector_math_uses_avx512()) {
        exp_columns_short_avx512(s, lines, width, ld, shift, k, sum);
        return;
    }
    ptrdiff_t done = sepme_vector_math_uses_avx2() ? exp_columns_short_avx2(s, lines, width, ld, shift, k, sum) : 0;
    exp_columns_short_scalar(s + done, lines, width - done, ld, shift + done, k, sum + done);
}

int sepme_exp_columns_bf16(uint16_t *dst, const float *s, ptrdiff_t lines, ptrdiff_t width, ptrdiff_t ld,
                           const float *shift, float scale, float *sum, ptrdiff_t panel) {
    if (!has_bf16 || !sepme_vector_math_uses_avx512() || panel <= 0 || panel % 16 != 0) return 0;
    exp_columns_bf16(dst, s, lines, width, ld, shift, scale * SHORT_LOG2E, sum, panel);
    return 1;
}

void sepme_scale_columns(float *s, ptrdiff_t lines, ptrdiff_t width, ptrdiff_t ld, const float *factor) {
    if (sepme_vector_math_uses_avx512()) scale_columns_avx512(s, lines, width, ld, factor);
    else scale_columns_scalar(s, lines, width, ld, factor);
}

#else

int sepme_exp_columns_bf16(uint16_t *dst, const float *s, ptrdiff_t lines, ptrdiff_t width, ptrdiff_t ld,
                           const float *shift, float scale, float *sum, ptrdiff_t panel) {
    (void)dst, (void)s, (void)lines, (void)width, (void)ld, (void)shift, (void)scale, (void)sum, (void)panel;
    return 0;
}

void sepme_column_maxima(const float *s, ptrdiff_t lines, ptrdiff_t width, ptrdiff_t ld, float *top) {
    column_maxima_scalar(s, lines, width, ld, top);
}

void sepme_exp_columns_short(float *s, ptrdiff_t lines, ptrdiff_t width, ptrdiff_t ld, const float *shift,
                             float scale, float *sum) {
    exp_columns_short_scalar(s, lines, width, ld, shift, scale * SHORT_LOG2E, sum);
}

void sepme_scale_columns(float *s, ptrdiff_t lines, ptrdiff_t width, ptrdiff_t ld, const float *factor) {
    scale_columns_scalar(s, lines, width, ld, factor);
}

#endif
