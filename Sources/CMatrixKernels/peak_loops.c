// Peak-rate loops: twelve independent multiply-add chains per thread (enough to cover a four-cycle
// latency on two vector units), with operands that keep every chain bounded and normal (a <- a m + c
// converges to c / (1 - m) = 1; the dot-product chains grow by 2^-19 per round). The results go to a
// volatile sink so that the loops cannot be removed.
#include "bf16_internal.h"

static volatile float sink;

#define CHAINS 12

static double loop_scalar(long iterations) {
    float a[CHAINS];
    for (int j = 0; j < CHAINS; j++) a[j] = 0.5f + 0.01f * (float)j;
    for (long i = 0; i < iterations; i++) {
        for (int j = 0; j < CHAINS; j++) a[j] = a[j] * 0.999999f + 1e-6f;
    }
    float s = 0;
    for (int j = 0; j < CHAINS; j++) s += a[j];
    sink = s;
    return 2.0 * CHAINS * (double)iterations;
}

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <immintrin.h>

__attribute__((target("avx2,fma"))) static double loop_avx2(long iterations) {
    __m256 a[CHAINS];
    for (int j = 0; j < CHAINS; j++) a[j] = _mm256_set1_ps(0.5f + 0.01f * (float)j);
    const __m256 m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-6f);
    for (long i = 0; i < iterations; i++) {
        for (int j = 0; j < CHAINS; j++) a[j] = _mm256_fmadd_ps(a[j], m, c);
    }
    __m256 s = a[0];
    for (int j = 1; j < CHAINS; j++) s = _mm256_add_ps(s, a[j]);
    float out[8];
    _mm256_storeu_ps(out, s);
    sink = out[0];
    return 2.0 * 8 * CHAINS * (double)iterations;
}

__attribute__((target("avx512f"))) static double loop_avx512(long iterations) {
    __m512 a[CHAINS];
    for (int j = 0; j < CHAINS; j++) a[j] = _mm512_set1_ps(0.5f + 0.01f * (float)j);
    const __m512 m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-6f);
    for (long i = 0; i < iterations; i++) {
        for (int j = 0; j < CHAINS; j++) a[j] = _mm512_fmadd_ps(a[j], m, c);
    }
    __m512 s = a[0];
    for (int j = 1; j < CHAINS; j++) s = _mm512_add_ps(s, a[j]);
    sink = _mm512_reduce_add_ps(s);
    return 2.0 * 16 * CHAINS * (double)iterations;
}

// vdpbf16ps: 16 lanes, each 2 bf16 products added to an fp32 sum: 64 operations per instruction.
__attribute__((target("avx512f,avx512bw,avx512bf16"))) static double loop_avx512_bf16(long iterations) {
    __m512 a[CHAINS];
    for (int j = 0; j < CHAINS; j++) a[j] = _mm512_set1_ps((float)j);
    const __m512bh x = (__m512bh)_mm512_set1_epi16((short)0x3A80);  // 2^-10 in bf16
    for (long i = 0; i < iterations; i++) {
        for (int j = 0; j < CHAINS; j++) a[j] = _mm512_dpbf16_ps(a[j], x, x);
    }
    __m512 s = a[0];
    for (int j = 1; j < CHAINS; j++) s = _mm512_add_ps(s, a[j]);
    sink = _mm512_reduce_add_ps(s);
    return 64.0 * CHAINS * (double)iterations;
}

// tdpbf16ps: a 16 x 16 fp32 tile += (16 x 32 bf16) (32 x 16 bf16), 8192 products and additions per
// instruction; six independent C tiles.
__attribute__((target("amx-tile,amx-bf16"))) static double loop_amx(long iterations) {
    _Alignas(64) uint16_t operand[512];
    for (int i = 0; i < 512; i++) operand[i] = 0x3A80;  // 2^-10 in bf16
    _Alignas(64) float out[256];
    sepme_amx_load_full_tiles();
    _tile_loadd(6, operand, 64);
    _tile_loadd(7, operand, 64);
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
    _tile_zero(4);
    _tile_zero(5);
    for (long i = 0; i < iterations; i++) {
        _tile_dpbf16ps(0, 6, 7);
        _tile_dpbf16ps(1, 6, 7);
        _tile_dpbf16ps(2, 6, 7);
        _tile_dpbf16ps(3, 6, 7);
        _tile_dpbf16ps(4, 6, 7);
        _tile_dpbf16ps(5, 6, 7);
    }
    _tile_stored(0, out, 64);
    _tile_release();
    sink = out[0];
    return 2.0 * 8192 * 6 * (double)iterations;
}

static int fp32_isa, has_bf16;
__attribute__((constructor)) static void detect_peak_isa(void) {
    __builtin_cpu_init();
    fp32_isa = 1;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) fp32_isa = 2;
    if (__builtin_cpu_supports("avx512f")) fp32_isa = 3;
    has_bf16 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512bf16");
}

double sepme_peak_loop(int kind, long iterations) {
    if (iterations <= 0) return 0;
    if (kind == 1) return has_bf16 ? loop_avx512_bf16(iterations) : 0;
    if (kind == 2) return sepme_bf16_amx_available() ? loop_amx(iterations) : 0;
    if (kind != 0) return 0;
    if (fp32_isa == 3) return loop_avx512(iterations);
    if (fp32_isa == 2) return loop_avx2(iterations);
    return loop_scalar(iterations);
}
int sepme_peak_fp32_isa(void) { return fp32_isa; }
int sepme_cpu_has_avx512_bf16(void) { return has_bf16; }
int sepme_cpu_has_amx_bf16(void) { return sepme_bf16_amx_available(); }
#else
double sepme_peak_loop(int kind, long iterations) {
    return kind == 0 && iterations > 0 ? loop_scalar(iterations) : 0;
}
int sepme_peak_fp32_isa(void) { return 1; }
int sepme_cpu_has_avx512_bf16(void) { return 0; }
int sepme_cpu_has_amx_bf16(void) { return 0; }
#endif
