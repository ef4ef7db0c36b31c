// Packing loops of the BF16 product for CPUs with AVX-512 BF16: the same words as the scalar packing
// (bf16_gemm.c's to_bf16 and pack_panel), with the rounding done by vcvtne2ps2bf16 (nearest even, subnormal
// inputs to signed zero, NaN kept quiet: to_bf16's rules, instruction for instruction; see the Intel SDM's
// convert_fp32_to_bfloat16) sixteen or thirty-two values at a time instead of the AVX2 loops' emulation of
// it. bf16_gemm.c calls them where the path allows AVX-512 BF16; BF16GEMMTests checks them word for word
// against the scalar packing, special values included.
#include "bf16_internal.h"

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <immintrin.h>

#include "avx512_lanes.h"

#define TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
#define NR SEPME_BF16_NR

// Words bf16(even[t]) | bf16(odd[t]) << 16 for the sixteen lanes t.
TARGET static inline __m512i interleaved_pairs(__m512 even, __m512 odd) {
    // cvtne2ps gives the even values' bf16 in words 0-15 and the odd ones' in words 16-31.
    const __m512i order = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7, 22, 6,
                                           21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    return _mm512_permutexvar_epi16(order, (__m512i)_mm512_cvtne2ps_pbh(odd, even));
}

// Words bf16(x[2j]) | bf16(x[2j+1]) << 16, j = 0..15, from the 32 consecutive values lo (x[0..15]) and
// hi (x[16..31]): converted in order, the bf16 halves already sit in pairs.
TARGET static inline __m512i adjacent_pairs(__m512 lo, __m512 hi) { return (__m512i)_mm512_cvtne2ps_pbh(hi, lo); }

// r[i] (16 dwords each) becomes column i: r[i][j] <- r[j][i].
TARGET static void transpose16(__m512i r[16]) {
    __m512i a[16], b[16];
    for (int i = 0; i < 8; i++) {
        a[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
        a[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
    }
    // b[4g + e], lane L: rows 4g..4g+3 at element 4L + e.
    for (int g = 0; g < 4; g++) {
        b[4 * g] = _mm512_unpacklo_epi64(a[4 * g], a[4 * g + 2]);
        b[4 * g + 1] = _mm512_unpackhi_epi64(a[4 * g], a[4 * g + 2]);
        b[4 * g + 2] = _mm512_unpacklo_epi64(a[4 * g + 1], a[4 * g + 3]);
        b[4 * g + 3] = _mm512_unpackhi_epi64(a[4 * g + 1], a[4 * g + 3]);
    }
    for (int e = 0; e < 4; e++) {
        __m512i c01 = _mm512_shuffle_i32x4(b[e], b[4 + e], 0x88), c23 = _mm512_shuffle_i32x4(b[e], b[4 + e], 0xDD);
        __m512i d01 = _mm512_shuffle_i32x4(b[8 + e], b[12 + e], 0x88);
        __m512i d23 = _mm512_shuffle_i32x4(b[8 + e], b[12 + e], 0xDD);
        r[e] = _mm512_shuffle_i32x4(c01, d01, 0x88);
        r[8 + e] = _mm512_shuffle_i32x4(c01, d01, 0xDD);
        r[4 + e] = _mm512_shuffle_i32x4(c23, d23, 0x88);
        r[12 + e] = _mm512_shuffle_i32x4(c23, d23, 0xDD);
    }
}

TARGET ptrdiff_t sepme_bf16_pack_adjacent_lines_avx512(uint16_t *dst, const float *src, ptrdiff_t lines, ptrdiff_t k,
                                                       ptrdiff_t k_stride, ptrdiff_t first, int width) {
    ptrdiff_t live = lines - first < width ? lines - first : width;
    if (live < width) return 0;
    ptrdiff_t full = k / 2;
    for (ptrdiff_t q = 0; q < full; q++) {
        const float *even = src + (2 * q) * k_stride + first;
        const float *odd = even + k_stride;
        uint32_t *out = (uint32_t *)(void *)(dst + q * 2 * width);
        for (int t = 0; t < width; t += 16) {
            __mmask16 mask = first_lanes(width - t);
            __m512i words = interleaved_pairs(_mm512_maskz_loadu_ps(mask, even + t), _mm512_maskz_loadu_ps(mask, odd + t));
            _mm512_mask_storeu_epi32(out + t, mask, words);
        }
    }
    return full;
}

TARGET ptrdiff_t sepme_bf16_pack_adjacent_k_avx512(uint16_t *dst, const float *src, ptrdiff_t lines, ptrdiff_t k,
                                                   ptrdiff_t line_stride, ptrdiff_t first, int width) {
    ptrdiff_t live = lines - first < width ? lines - first : width;
    if (live < width) return 0;
    ptrdiff_t full = k / 2;
    uint32_t *out = (uint32_t *)(void *)dst;
    // Sixteen lines by sixteen pairs at a time: each line's 32 values give its 16 words in pair order, and
    // the transpose turns them into 16 runs of the panel (one pair each, the lines side by side).
    for (int g0 = 0; g0 < width; g0 += 16) {
        int group = width - g0 < 16 ? width - g0 : 16;
        __mmask16 store = first_lanes(group);
        for (ptrdiff_t p0 = 0; p0 < full; p0 += 16) {
            ptrdiff_t count = full - p0 < 16 ? full - p0 : 16;  // whole pairs in this block
            __mmask16 lo = first_lanes(2 * count), hi = first_lanes(2 * count - 16);
            __m512i r[16];
            for (int i = 0; i < 16; i++) {
                if (i >= group) {
                    r[i] = _mm512_setzero_si512();
                    continue;
                }
                const float *line = src + (first + g0 + i) * line_stride + 2 * p0;
                r[i] = adjacent_pairs(_mm512_maskz_loadu_ps(lo, line), _mm512_maskz_loadu_ps(hi, line + 16));
            }
            transpose16(r);
            for (ptrdiff_t j = 0; j < count; j++) _mm512_mask_storeu_epi32(out + (p0 + j) * width + g0, store, r[j]);
        }
    }
    return full;
}

TARGET void sepme_bf16_pack_column_runs_avx512(uint32_t *out, const sepme_sgemm_columns *g, ptrdiff_t k, ptrdiff_t oy0,
                                               ptrdiff_t ox0) {
    for (ptrdiff_t q = 0; q < sepme_bf16_pairs(k); q++) {
        __m512 half[2][2];
        for (int h = 0; h < 2; h++) {
            sepme_bf16_tap_run tap = sepme_bf16_tap_run_at(g, 2 * q + h, k, oy0, ox0);
            if (!tap.inside) {
                half[h][0] = half[h][1] = _mm512_setzero_ps();
                continue;
            }
            if (tap.lo == 0 && tap.hi == NR) {
                // An interior run: plain loads, and the next panel's run of the same row asked for.
                half[h][0] = _mm512_loadu_ps(tap.run);
                half[h][1] = _mm512_loadu_ps(tap.run + 16);
                if (tap.kx == 0) {
                    _mm_prefetch((const char *)(tap.run + NR), _MM_HINT_T0);
                    _mm_prefetch((const char *)(tap.run + NR + 16), _MM_HINT_T0);
                }
                continue;
            }
            for (int i = 0; i < 2; i++) {
                __mmask16 mask = (__mmask16)(first_lanes(tap.hi - 16 * i) & ~first_lanes(tap.lo - 16 * i));
                half[h][i] = _mm512_maskz_loadu_ps(mask, tap.run + 16 * i);
            }
        }
        _mm512_storeu_si512((void *)(out + q * NR), interleaved_pairs(half[0][0], half[1][0]));
        _mm512_storeu_si512((void *)(out + q * NR + 16), interleaved_pairs(half[0][1], half[1][1]));
    }
}

#endif
