// Normalisation rows (LayerNorm, GroupNorm): the statistics with double sums, and the normalise-then-affine
// pass, in a scalar version and an AVX2 + FMA version (picked with the rest of CVectorMath, see
// sepme_vector_math_uses_avx2). The AVX2 sums run in four double lanes, so the statistics can differ from
// the scalar ones in the last bits of the double sums; the affine pass fuses its multiply-add.
#include "sepme_vector_math.h"

#include <math.h>

static void statistics_scalar(const float *x, ptrdiff_t n, float eps, float *mean, float *rstd) {
    double s = 0;
    for (ptrdiff_t i = 0; i < n; i++) s += (double)x[i];
    double mu = s / (double)n, v = 0;
    for (ptrdiff_t i = 0; i < n; i++) {
        double d = (double)x[i] - mu;
        v += d * d;
    }
    *mean = (float)mu;
    *rstd = (float)(1.0 / sqrt(v / (double)n + (double)eps));
}

static void apply_scalar(float *out, const float *x, ptrdiff_t n, float mean, float rstd, const float *w,
                         const float *b, float scale, float shift) {
    for (ptrdiff_t i = 0; i < n; i++) {
        float h = (x[i] - mean) * rstd;
        out[i] = h * (w ? w[i] : scale) + (b ? b[i] : shift);
    }
}

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <immintrin.h>
#define AVX2 __attribute__((target("avx2,fma")))

AVX2 static inline double hsum4(__m256d v) {
    __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}

AVX2 static void statistics_avx2(const float *x, ptrdiff_t n, float eps, float *mean, float *rstd) {
    __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
    ptrdiff_t i = 0;
    for (; i + 8 <= n; i += 8) {
        s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm_loadu_ps(x + i)));
        s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm_loadu_ps(x + i + 4)));
    }
    double s = hsum4(_mm256_add_pd(s0, s1));
    for (; i < n; i++) s += (double)x[i];
    double mu = s / (double)n;
    __m256d m = _mm256_set1_pd(mu), v0 = _mm256_setzero_pd(), v1 = _mm256_setzero_pd();
    for (i = 0; i + 8 <= n; i += 8) {
        __m256d d0 = _mm256_sub_pd(_mm256_cvtps_pd(_mm_loadu_ps(x + i)), m);
        __m256d d1 = _mm256_sub_pd(_mm256_cvtps_pd(_mm_loadu_ps(x + i + 4)), m);
        v0 = _mm256_fmadd_pd(d0, d0, v0);
        v1 = _mm256_fmadd_pd(d1, d1, v1);
    }
    double v = hsum4(_mm256_add_pd(v0, v1));
    for (; i < n; i++) {
        double d = (double)x[i] - mu;
        v += d * d;
    }
    *mean = (float)mu;
    *rstd = (float)(1.0 / sqrt(v / (double)n + (double)eps));
}

AVX2 static void apply_avx2(float *out, const float *x, ptrdiff_t n, float mean, float rstd, const float *w,
                            const float *b, float scale, float shift) {
    __m256 mu = _mm256_set1_ps(mean), rs = _mm256_set1_ps(rstd);
    __m256 sc = _mm256_set1_ps(scale), sh = _mm256_set1_ps(shift);
    ptrdiff_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 h = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), mu), rs);
        __m256 wi = w ? _mm256_loadu_ps(w + i) : sc, bi = b ? _mm256_loadu_ps(b + i) : sh;
        _mm256_storeu_ps(out + i, _mm256_fmadd_ps(h, wi, bi));
    }
    for (; i < n; i++) {
        float h = (x[i] - mean) * rstd;
        out[i] = fmaf(h, w ? w[i] : scale, b ? b[i] : shift);
    }
}
#else
#define statistics_avx2 statistics_scalar
#define apply_avx2 apply_scalar
#endif

void sepme_norm_statistics(const float *x, ptrdiff_t n, float eps, float *mean, float *rstd) {
    if (sepme_vector_math_uses_avx2()) statistics_avx2(x, n, eps, mean, rstd);
    else statistics_scalar(x, n, eps, mean, rstd);
}

void sepme_norm_apply(float *out, const float *x, ptrdiff_t n, float mean, float rstd, float scale, float shift) {
    if (sepme_vector_math_uses_avx2()) apply_avx2(out, x, n, mean, rstd, NULL, NULL, scale, shift);
    else apply_scalar(out, x, n, mean, rstd, NULL, NULL, scale, shift);
}

void sepme_norm_apply_row(float *out, const float *x, ptrdiff_t n, float mean, float rstd, const float *w,
                          const float *b) {
    if (sepme_vector_math_uses_avx2()) apply_avx2(out, x, n, mean, rstd, w, b, 1.f, 0.f);
    else apply_scalar(out, x, n, mean, rstd, w, b, 1.f, 0.f);
}
