// Softmax row kernels: a scalar version for any CPU and an AVX2 + FMA version (eight lanes, fused
// multiply-add) for x86-64 CPUs that have them, chosen once from cpuid (the exponential rows also in
// an AVX-512F version with the AVX2 version's results). Both compute e^x the same
// way: Cody-Waite reduction x = n ln2 + r, the Cephes expf polynomial for e^r, 2^n built in the
// exponent bits, n rounded with the 1.5 * 2^23 trick; about 2 ulp on [-87.3, 88.3], inputs below
// give ~6e-39 instead of 0 (harmless in a softmax), larger ones saturate.
// GELU rows (exact erf form): Φ(x) = ½(1 + erf(x/√2)) from Abramowitz & Stegun 7.1.26
// (erf(z) = 1 − t·P(t)·e^(−z²), t = 1/(1 + p|z|), |error| ≤ 1.5e-7), whose e^(−z²) = e^(−x²/2) is also
// the density that the backward needs; same arithmetic on both paths.
#include "sepme_vector_math.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

static inline float exp_scalar(float v) {
    float x = v < -87.3f ? -87.3f : (v > 88.3f ? 88.3f : v);
    float shifted = fmaf(x, 1.44269504f, 12582912.f);
    float n = shifted - 12582912.f;
    float r = fmaf(-n, 0.693359375f, x);
    r = fmaf(-n, -2.12194440e-4f, r);
    float p = 1.9875691500e-4f;
    p = fmaf(p, r, 1.3981999507e-3f);
    p = fmaf(p, r, 8.3334519073e-3f);
    p = fmaf(p, r, 4.1665795894e-2f);
    p = fmaf(p, r, 1.6666665459e-1f);
    p = fmaf(p, r, 5.0000001201e-1f);
    p = fmaf(p, r * r, r + 1.f);
    uint32_t bits;
    memcpy(&bits, &shifted, 4);
    int32_t ni = (int32_t)(bits - 0x4B400000u);
    uint32_t e = (uint32_t)(ni + 127) << 23;
    float scale;
    memcpy(&scale, &e, 4);
    return p * scale;
}

static float row_max_scalar(const float *p, ptrdiff_t n) {
    float m = p[0];
    for (ptrdiff_t i = 1; i < n; i++) m = p[i] > m ? p[i] : m;
    return m;
}

static float exp_shifted_sum_scalar(float *p, ptrdiff_t n, float shift, float scale) {
    float s = 0;
    for (ptrdiff_t i = 0; i < n; i++) { p[i] = exp_scalar((p[i] - shift) * scale); s += p[i]; }
    return s;
}

static void softmax_gradient_scalar(float *g, const float *p, ptrdiff_t n, float delta) {
    for (ptrdiff_t i = 0; i < n; i++) g[i] = p[i] * (g[i] - delta);
}

// Abramowitz & Stegun 7.1.26 coefficients.
#define GELU_P 0.3275911f
#define GELU_A1 0.254829592f
#define GELU_A2 -0.284496736f
#define GELU_A3 1.421413741f
#define GELU_A4 -1.453152027f
#define GELU_A5 1.061405429f
#define INV_SQRT2 0.70710678118654752f
#define INV_SQRT2PI 0.39894228040143268f

// Φ(x); *density = e^(−x²/2).
static inline float gelu_cdf_scalar(float x, float *density) {
    float z = fabsf(x) * INV_SQRT2;
    float t = 1.f / fmaf(GELU_P, z, 1.f);
    float e = exp_scalar(-0.5f * x * x);
    float q = fmaf(fmaf(fmaf(fmaf(GELU_A5, t, GELU_A4), t, GELU_A3), t, GELU_A2), t, GELU_A1) * t * e;  // 1 − erf(|z|)
    *density = e;
    return x >= 0 ? fmaf(-0.5f, q, 1.f) : 0.5f * q;
}

static void gated_gelu_scalar(float *out, const float *hidden, const float *gate, ptrdiff_t n) {
    for (ptrdiff_t i = 0; i < n; i++) {
        float e, x = gate[i];
        float y = x * gelu_cdf_scalar(x, &e);
        out[i] = hidden ? hidden[i] * y : y;
    }
}

static void gated_gelu_backward_scalar(float *d_hidden, float *d_gate, const float *hidden, const float *gate,
                                       const float *g, ptrdiff_t n) {
    for (ptrdiff_t i = 0; i < n; i++) {
        float e, x = gate[i];
        float cdf = gelu_cdf_scalar(x, &e);
        float slope = fmaf(x * INV_SQRT2PI, e, cdf);                  // d/dx x Φ(x) = Φ(x) + x φ(x)
        if (d_hidden) d_hidden[i] = g[i] * x * cdf;
        d_gate[i] = hidden ? g[i] * hidden[i] * slope : g[i] * slope;
    }
}

// SiLU (torch.nn.functional.silu): x σ(x), σ(x) = 1 / (1 + e^(−x)); the clamped exp keeps both tails
// finite (σ → 0 below about −88, → 1 above about 87).
static inline float sigmoid_scalar(float x) { return 1.f / (1.f + exp_scalar(-x)); }

static void silu_scalar(float *out, const float *x, ptrdiff_t n) {
    for (ptrdiff_t i = 0; i < n; i++) out[i] = x[i] * sigmoid_scalar(x[i]);
}

// d/dx x σ(x) = σ(x) (1 + x (1 − σ(x))).
static void silu_backward_scalar(float *dx, const float *x, const float *g, ptrdiff_t n) {
    for (ptrdiff_t i = 0; i < n; i++) {
        float s = sigmoid_scalar(x[i]);
        dx[i] = g[i] * s * fmaf(x[i], 1.f - s, 1.f);
    }
}

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <immintrin.h>
#define AVX2 __attribute__((target("avx2,fma")))

#include "softmax_lanes.h"

AVX2 static float row_max_avx2(const float *p, ptrdiff_t n) {
    ptrdiff_t i = 0;
    float m = p[0];
    if (n >= 16) {
        __m256 a = _mm256_loadu_ps(p), b = _mm256_loadu_ps(p + 8);
        for (i = 16; i + 16 <= n; i += 16) {
            a = _mm256_max_ps(a, _mm256_loadu_ps(p + i));
            b = _mm256_max_ps(b, _mm256_loadu_ps(p + i + 8));
        }
        a = _mm256_max_ps(a, b);
        __m128 s = _mm_max_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
        s = _mm_max_ps(s, _mm_movehl_ps(s, s));
        s = _mm_max_ss(s, _mm_shuffle_ps(s, s, 1));
        m = _mm_cvtss_f32(s);
    }
    for (; i < n; i++) m = p[i] > m ? p[i] : m;
    return m;
}

AVX2 static float exp_shifted_sum_avx2(float *p, ptrdiff_t n, float shift, float scale) {
    __m256 c = _mm256_set1_ps(shift), k = _mm256_set1_ps(scale), s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    ptrdiff_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 a = exp8(_mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(p + i), c), k));
        __m256 b = exp8(_mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(p + i + 8), c), k));
        _mm256_storeu_ps(p + i, a);
        _mm256_storeu_ps(p + i + 8, b);
        s0 = _mm256_add_ps(s0, a);
        s1 = _mm256_add_ps(s1, b);
    }
    float s = hsum8(_mm256_add_ps(s0, s1));
    for (; i < n; i++) { p[i] = exp_scalar((p[i] - shift) * scale); s += p[i]; }
    return s;
}

// The AVX2 row loop on 16 lanes: lanes 0-7 of one zmm step through p[i .. i+7] and lanes 8-15 through
// p[i+8 .. i+15], exactly as the AVX2 loop's two accumulators do, and e^x is the same sequence of
// operations per lane, so both give the same bits (values and sum); only the instruction count halves.
#define AVX512 __attribute__((target("avx512f,avx2,fma")))


AVX512 static float exp_shifted_sum_avx512(float *p, ptrdiff_t n, float shift, float scale) {
    __m512 c = _mm512_set1_ps(shift), k = _mm512_set1_ps(scale), acc = _mm512_setzero_ps();
    ptrdiff_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 a = exp16(_mm512_mul_ps(_mm512_sub_ps(_mm512_loadu_ps(p + i), c), k));
        _mm512_storeu_ps(p + i, a);
        acc = _mm512_add_ps(acc, a);
    }
    __m256 low = _mm512_castps512_ps256(acc);
    __m256 high = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(acc), 1));
    float s = hsum8(_mm256_add_ps(low, high));
    if (i < n) {
        // The last n - i < 16 values: e^x in one masked vector (exp16's lanes are exp_scalar's bits),
        // added to the sum one by one, as the AVX2 loop's scalar tail adds them.
        __mmask16 live = (__mmask16)((1u << (n - i)) - 1);
        __m512 x = _mm512_maskz_loadu_ps(live, p + i);
        _mm512_mask_storeu_ps(p + i, live, exp16(_mm512_mul_ps(_mm512_sub_ps(x, c), k)));
        for (; i < n; i++) s += p[i];
    }
    return s;
}

AVX2 static void softmax_gradient_avx2(float *g, const float *p, ptrdiff_t n, float delta) {
    __m256 d = _mm256_set1_ps(delta);
    ptrdiff_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(g + i, _mm256_mul_ps(_mm256_loadu_ps(p + i), _mm256_sub_ps(_mm256_loadu_ps(g + i), d)));
    for (; i < n; i++) g[i] = p[i] * (g[i] - delta);
}

AVX2 static inline __m256 gelu_cdf8(__m256 x, __m256 *density) {
    __m256 sign = _mm256_set1_ps(-0.f);
    __m256 z = _mm256_mul_ps(_mm256_andnot_ps(sign, x), _mm256_set1_ps(INV_SQRT2));
    __m256 t = _mm256_div_ps(_mm256_set1_ps(1.f), _mm256_fmadd_ps(_mm256_set1_ps(GELU_P), z, _mm256_set1_ps(1.f)));
    __m256 e = exp8(_mm256_mul_ps(_mm256_set1_ps(-0.5f), _mm256_mul_ps(x, x)));
    __m256 p = _mm256_fmadd_ps(_mm256_set1_ps(GELU_A5), t, _mm256_set1_ps(GELU_A4));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(GELU_A3));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(GELU_A2));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(GELU_A1));
    __m256 q = _mm256_mul_ps(_mm256_mul_ps(p, t), e);
    __m256 upper = _mm256_fnmadd_ps(_mm256_set1_ps(0.5f), q, _mm256_set1_ps(1.f));
    __m256 lower = _mm256_mul_ps(_mm256_set1_ps(0.5f), q);
    *density = e;
    return _mm256_blendv_ps(upper, lower, _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LT_OQ));
}

AVX2 static void gated_gelu_avx2(float *out, const float *hidden, const float *gate, ptrdiff_t n) {
    ptrdiff_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 e, x = _mm256_loadu_ps(gate + i);
        __m256 y = _mm256_mul_ps(x, gelu_cdf8(x, &e));
        _mm256_storeu_ps(out + i, hidden ? _mm256_mul_ps(_mm256_loadu_ps(hidden + i), y) : y);
    }
    gated_gelu_scalar(out + i, hidden ? hidden + i : NULL, gate + i, n - i);
}

AVX2 static void gated_gelu_backward_avx2(float *d_hidden, float *d_gate, const float *hidden, const float *gate,
                                          const float *g, ptrdiff_t n) {
    ptrdiff_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 e, x = _mm256_loadu_ps(gate + i), gi = _mm256_loadu_ps(g + i);
        __m256 cdf = gelu_cdf8(x, &e);
        __m256 slope = _mm256_fmadd_ps(_mm256_mul_ps(x, _mm256_set1_ps(INV_SQRT2PI)), e, cdf);
        if (d_hidden) _mm256_storeu_ps(d_hidden + i, _mm256_mul_ps(_mm256_mul_ps(gi, x), cdf));
        __m256 dg = _mm256_mul_ps(gi, slope);
        _mm256_storeu_ps(d_gate + i, hidden ? _mm256_mul_ps(dg, _mm256_loadu_ps(hidden + i)) : dg);
    }
    gated_gelu_backward_scalar(d_hidden ? d_hidden + i : NULL, d_gate + i, hidden ? hidden + i : NULL, gate + i, g + i, n - i);
}

AVX2 static inline __m256 sigmoid8(__m256 x) {
    __m256 one = _mm256_set1_ps(1.f);
    return _mm256_div_ps(one, _mm256_add_ps(one, exp8(_mm256_sub_ps(_mm256_setzero_ps(), x))));
}

AVX2 static void silu_avx2(float *out, const float *x, ptrdiff_t n) {
    ptrdiff_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        _mm256_storeu_ps(out + i, _mm256_mul_ps(v, sigmoid8(v)));
    }
    silu_scalar(out + i, x + i, n - i);
}

AVX2 static void silu_backward_avx2(float *dx, const float *x, const float *g, ptrdiff_t n) {
    ptrdiff_t i = 0;
    __m256 one = _mm256_set1_ps(1.f);
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i), s = sigmoid8(v);
        __m256 slope = _mm256_mul_ps(s, _mm256_fmadd_ps(v, _mm256_sub_ps(one, s), one));
        _mm256_storeu_ps(dx + i, _mm256_mul_ps(_mm256_loadu_ps(g + i), slope));
    }
    silu_backward_scalar(dx + i, x + i, g + i, n - i);
}

static int avx2_available, avx2_enabled, avx512_available, avx512_enabled;
__attribute__((constructor)) static void detect_avx2(void) {
    __builtin_cpu_init();
    avx2_available = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    avx2_enabled = avx2_available;
    avx512_available = avx2_available && __builtin_cpu_supports("avx512f");
    avx512_enabled = avx512_available;
}
static inline int has_avx2(void) { return avx2_enabled; }
static inline int has_avx512(void) { return avx2_enabled && avx512_enabled; }
static int set_avx2(int enabled) {
    int previous = avx2_enabled;
    avx2_enabled = enabled && avx2_available;
    return previous;
}
static int set_avx512(int enabled) {
    int previous = avx512_enabled;
    avx512_enabled = enabled && avx512_available;
    return previous;
}
#else
static inline int has_avx2(void) { return 0; }
static inline int has_avx512(void) { return 0; }
static int set_avx2(int enabled) { (void)enabled; return 0; }
static int set_avx512(int enabled) { (void)enabled; return 0; }
#define row_max_avx2 row_max_scalar
#define exp_shifted_sum_avx2 exp_shifted_sum_scalar
#define exp_shifted_sum_avx512 exp_shifted_sum_scalar
#define softmax_gradient_avx2 softmax_gradient_scalar
#define gated_gelu_avx2 gated_gelu_scalar
#define gated_gelu_backward_avx2 gated_gelu_backward_scalar
#define silu_avx2 silu_scalar
#define silu_backward_avx2 silu_backward_scalar
#endif

int sepme_vector_math_uses_avx2(void) { return has_avx2(); }
int sepme_vector_math_set_avx2(int enabled) { return set_avx2(enabled); }
int sepme_vector_math_uses_avx512(void) { return has_avx512(); }
int sepme_vector_math_set_avx512(int enabled) { return set_avx512(enabled); }

float sepme_exp(float x) { return exp_scalar(x); }

float sepme_row_max(const float *p, ptrdiff_t n) {
    return has_avx2() ? row_max_avx2(p, n) : row_max_scalar(p, n);
}

float sepme_exp_scaled_sum(float *p, ptrdiff_t n, float shift, float scale) {
    if (has_avx512()) return exp_shifted_sum_avx512(p, n, shift, scale);
    return has_avx2() ? exp_shifted_sum_avx2(p, n, shift, scale) : exp_shifted_sum_scalar(p, n, shift, scale);
}

// (x − shift) · 1 is x − shift exactly, so these are the unscaled rows bit for bit.
float sepme_exp_shifted_sum(float *p, ptrdiff_t n, float shift) { return sepme_exp_scaled_sum(p, n, shift, 1.f); }

void sepme_exp_shifted(float *p, ptrdiff_t n, float shift) { (void)sepme_exp_shifted_sum(p, n, shift); }

void sepme_softmax_gradient(float *g, const float *p, ptrdiff_t n, float delta) {
    if (has_avx2()) softmax_gradient_avx2(g, p, n, delta); else softmax_gradient_scalar(g, p, n, delta);
}

void sepme_gated_gelu(float *out, const float *hidden, const float *gate, ptrdiff_t n) {
    if (has_avx2()) gated_gelu_avx2(out, hidden, gate, n); else gated_gelu_scalar(out, hidden, gate, n);
}

void sepme_gated_gelu_backward(float *d_hidden, float *d_gate, const float *hidden, const float *gate,
                               const float *g, ptrdiff_t n) {
    if (has_avx2()) gated_gelu_backward_avx2(d_hidden, d_gate, hidden, gate, g, n);
    else gated_gelu_backward_scalar(d_hidden, d_gate, hidden, gate, g, n);
}

void sepme_silu(float *out, const float *x, ptrdiff_t n) {
    if (has_avx2()) silu_avx2(out, x, n); else silu_scalar(out, x, n);
}

void sepme_silu_backward(float *dx, const float *x, const float *g, ptrdiff_t n) {
    if (has_avx2()) silu_backward_avx2(dx, x, g, n); else silu_backward_scalar(dx, x, g, n);
}
