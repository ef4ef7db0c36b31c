// BF16 matrix product with fp32 accumulation (see sepme_matrix_kernels.h for the packed layouts and the
// summation order every path shares). Blocking: the k range is cut into slices of KC_PAIRS pairs; a
// column panel's slice (NR x 2 KC_PAIRS bf16, 128 KiB) and the row panels of a block of MC_PANELS panels
// (192 KiB) meet in L2, and each tile of C is read and written once per slice, so long slices keep C's
// traffic (a read and a write of the whole of C per slice) small beside the products. The micro-kernel
// keeps an MR x NR tile of C in registers and starts from C after the first slice, so the slicing does
// not change the result. `bench gemm` measures the rates.
#include "bf16_internal.h"

#include <string.h>

#define MR SEPME_BF16_MR
#define NR SEPME_BF16_NR
#define KC_PAIRS 1024
#define MC_PANELS 4

// The fastest path products may take (sepme_bf16_gemm_set_path); below AVX2, packing stays scalar too.
static int path_limit = 3;
// The fastest path this CPU has (0 scalar, 1 AVX2 + FMA, 2 AVX-512 BF16), and whether it has AVX2 for the
// packing loops; both set once at load (detect_bf16_path).
static int best_path, has_avx2;

static inline uint16_t to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7F800000u) == 0) return (uint16_t)((u >> 16) & 0x8000u);        // zero, subnormal: signed zero
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t)((u >> 16) | 0x0040u);  // NaN: quiet NaN
    u += 0x7FFFu + ((u >> 16) & 1u);                                             // round to nearest even
    return (uint16_t)(u >> 16);
}

static inline float low_half(uint32_t w) {
    uint32_t u = w << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static inline float high_half(uint32_t w) {
    uint32_t u = w & 0xFFFF0000u;
    float f;
    memcpy(&f, &u, 4);
    return f;
}


size_t sepme_bf16_packed_left_count(ptrdiff_t m, ptrdiff_t k) {
    return (size_t)((m + MR - 1) / MR) * (size_t)sepme_bf16_pairs(k) * 2 * MR;
}

size_t sepme_bf16_packed_right_count(ptrdiff_t k, ptrdiff_t n) {
    return (size_t)((n + NR - 1) / NR) * (size_t)sepme_bf16_pairs(k) * 2 * NR;
}

// One panel of `width` lines (rows of the left operand, columns of the right one); line t of the panel is
// line `first + t` of the matrix, element l of a line at src[line * line_stride + l * k_stride].
static void pack_panel(uint16_t *dst, const float *src, ptrdiff_t lines, ptrdiff_t k, ptrdiff_t line_stride,
                       ptrdiff_t k_stride, ptrdiff_t first, int width) {
    ptrdiff_t kp = sepme_bf16_pairs(k);
    ptrdiff_t live = lines - first < width ? lines - first : width;
    for (ptrdiff_t q = 0; q < kp; q++) {
        uint16_t *out = dst + q * 2 * width;
        ptrdiff_t l0 = 2 * q, l1 = 2 * q + 1;
        for (ptrdiff_t t = 0; t < live; t++) {
            const float *line = src + (first + t) * line_stride;
            out[2 * t] = to_bf16(line[l0 * k_stride]);
            out[2 * t + 1] = l1 < k ? to_bf16(line[l1 * k_stride]) : 0;
        }
        for (ptrdiff_t t = live; t < width; t++) out[2 * t] = out[2 * t + 1] = 0;
    }
}

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <immintrin.h>
#define PACK_AVX2 __attribute__((target("avx2")))

// to_bf16 of eight floats, each result in the low half of its 32-bit lane (the same bits as to_bf16).
PACK_AVX2 static inline __m256i to_bf16_8(__m256 x) {
    __m256i u = _mm256_castps_si256(x);
    __m256i high = _mm256_srli_epi32(u, 16);
    __m256i zero = _mm256_and_si256(high, _mm256_set1_epi32(0x8000));
    __m256i nan = _mm256_or_si256(high, _mm256_set1_epi32(0x0040));
    __m256i round = _mm256_add_epi32(_mm256_add_epi32(u, _mm256_set1_epi32(0x7FFF)),
                                     _mm256_and_si256(high, _mm256_set1_epi32(1)));
    __m256i out = _mm256_srli_epi32(round, 16);
    __m256i is_small = _mm256_cmpeq_epi32(_mm256_and_si256(u, _mm256_set1_epi32(0x7F800000)), _mm256_setzero_si256());
    __m256i is_nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, _mm256_set1_epi32(0x7FFFFFFF)),
                                        _mm256_set1_epi32(0x7F800000));
    out = _mm256_blendv_epi8(out, zero, is_small);
    return _mm256_blendv_epi8(out, nan, is_nan);
}

// pack_panel for lines that are adjacent in memory (line_stride 1, e.g. im2col columns): each pair of k
// rows gives `width` words from two contiguous runs. Full panels only; returns how many pairs were packed
// (every whole pair), leaving an odd k's last one to the scalar loop.
PACK_AVX2 static ptrdiff_t pack_adjacent_lines_avx2(uint16_t *dst, const float *src, ptrdiff_t lines, ptrdiff_t k,
                                                    ptrdiff_t k_stride, ptrdiff_t first, int width) {
    ptrdiff_t live = lines - first < width ? lines - first : width;
    if (live < width) return 0;
    ptrdiff_t full = k / 2;
    for (ptrdiff_t q = 0; q < full; q++) {
        const float *even = src + (2 * q) * k_stride + first;
        const float *odd = even + k_stride;
        uint32_t *out = (uint32_t *)(void *)(dst + q * 2 * width);
        int t = 0;
        for (; t + 8 <= width; t += 8) {
            __m256i lo = to_bf16_8(_mm256_loadu_ps(even + t));
            __m256i hi = to_bf16_8(_mm256_loadu_ps(odd + t));
            _mm256_storeu_si256((__m256i *)(void *)(out + t), _mm256_or_si256(lo, _mm256_slli_epi32(hi, 16)));
        }
        for (; t < width; t++) out[t] = (uint32_t)to_bf16(even[t]) | (uint32_t)to_bf16(odd[t]) << 16;
    }
    return full;
}

// pack_panel for lines whose k values are adjacent (k_stride 1, e.g. activation rows): eight pairs of a
// line at a time, each word stored at its pair's place in the panel. Returns the pairs packed completely.
PACK_AVX2 static ptrdiff_t pack_adjacent_k_avx2(uint16_t *dst, const float *src, ptrdiff_t lines, ptrdiff_t k,
                                                ptrdiff_t line_stride, ptrdiff_t first, int width) {
    ptrdiff_t live = lines - first < width ? lines - first : width;
    if (live < width) return 0;
    ptrdiff_t blocks = (k / 2) / 8;
    uint32_t *out = (uint32_t *)(void *)dst;
    for (int t = 0; t < width; t++) {
        const float *line = src + (first + t) * line_stride;
        for (ptrdiff_t b = 0; b < blocks; b++) {
            __m256i lo = to_bf16_8(_mm256_loadu_ps(line + 16 * b));      // k 16b .. 16b+7
            __m256i hi = to_bf16_8(_mm256_loadu_ps(line + 16 * b + 8));  // k 16b+8 .. 16b+15
            // Values fit in 16 bits: packus gives [lo 0-3, hi 0-3 | lo 4-7, hi 4-7] as uint16, and the
            // lane permute puts the 16 halves in k order, i.e. the 8 words of pairs 8b .. 8b+7.
            __m256i words = _mm256_permute4x64_epi64(_mm256_packus_epi32(lo, hi), 0xD8);
            uint32_t tmp[8];
            _mm256_storeu_si256((__m256i *)(void *)tmp, words);
            for (int j = 0; j < 8; j++) out[(8 * b + j) * width + t] = tmp[j];
        }
    }
    return 8 * blocks;
}

// One column panel of the implicit im2col right operand whose 32 output pixels lie in one output row at
// stride 1: each k row is a run of an image row, read as four 8-lane masked loads (lanes outside the image
// are not read and give 0), rounded and interleaved in pairs as pack_adjacent_lines_avx2 does.
PACK_AVX2 static void pack_column_runs_avx2(uint32_t *out, const sepme_sgemm_columns *g, ptrdiff_t k, ptrdiff_t oy0,
                                            ptrdiff_t ox0) {
    __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    for (ptrdiff_t q = 0; q < sepme_bf16_pairs(k); q++) {
        __m256i half[2][4];
        for (int h = 0; h < 2; h++) {
            sepme_bf16_tap_run tap = sepme_bf16_tap_run_at(g, 2 * q + h, k, oy0, ox0);
            if (tap.inside && tap.lo == 0 && tap.hi == NR) {
                // An interior run: plain loads, and the next panel's run of the same row asked for (the
                // hardware prefetchers lose track of this many interleaved rows).
                for (int i = 0; i < 4; i++) half[h][i] = to_bf16_8(_mm256_loadu_ps(tap.run + 8 * i));
                if (tap.kx == 0) {
                    _mm_prefetch((const char *)(tap.run + NR), _MM_HINT_T0);
                    _mm_prefetch((const char *)(tap.run + NR + 16), _MM_HINT_T0);
                }
                continue;
            }
            for (int i = 0; i < 4; i++) {
                __m256 v = _mm256_setzero_ps();
                if (tap.inside) {
                    __m256i t = _mm256_add_epi32(lanes, _mm256_set1_epi32(8 * i));
                    __m256i mask = _mm256_and_si256(_mm256_cmpgt_epi32(t, _mm256_set1_epi32((int)tap.lo - 1)),
                                                    _mm256_cmpgt_epi32(_mm256_set1_epi32((int)tap.hi), t));
                    v = _mm256_maskload_ps(tap.run + 8 * i, mask);
                }
                half[h][i] = to_bf16_8(v);
            }
        }
        for (int i = 0; i < 4; i++)
            _mm256_storeu_si256((__m256i *)(void *)(out + q * NR + 8 * i),
                                _mm256_or_si256(half[0][i], _mm256_slli_epi32(half[1][i], 16)));
    }
}

#endif

// pack_panel with the vectorized loops where the layout allows them (AVX-512 BF16 where the path allows it,
// else AVX2); the scalar loop finishes the pairs they leave.
static void pack_panel_fast(uint16_t *dst, const float *src, ptrdiff_t lines, ptrdiff_t k, ptrdiff_t line_stride,
                            ptrdiff_t k_stride, ptrdiff_t first, int width) {
    ptrdiff_t done = 0;
#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
    if (path_limit >= 2 && best_path >= 2) {
        if (line_stride == 1)
            done = sepme_bf16_pack_adjacent_lines_avx512(dst, src, lines, k, k_stride, first, width);
        else if (k_stride == 1)
            done = sepme_bf16_pack_adjacent_k_avx512(dst, src, lines, k, line_stride, first, width);
    } else if (path_limit >= 1 && has_avx2) {
        if (line_stride == 1)
            done = pack_adjacent_lines_avx2(dst, src, lines, k, k_stride, first, width);
        else if (k_stride == 1)
            done = pack_adjacent_k_avx2(dst, src, lines, k, line_stride, first, width);
    }
#endif
    if (done == 0) {
        pack_panel(dst, src, lines, k, line_stride, k_stride, first, width);
        return;
    }
    // The remaining pairs start at k index 2 done: a panel of the same lines over k - 2 done values.
    pack_panel(dst + done * 2 * width, src + 2 * done * k_stride, lines, k - 2 * done, line_stride, k_stride, first,
               width);
}

void sepme_bf16_pack_left(uint16_t *dst, const float *src, ptrdiff_t m, ptrdiff_t k, ptrdiff_t row_stride,
                          ptrdiff_t k_stride, ptrdiff_t panel_begin, ptrdiff_t panel_end) {
    size_t panel = (size_t)sepme_bf16_pairs(k) * 2 * MR;
    for (ptrdiff_t p = panel_begin; p < panel_end; p++)
        pack_panel_fast(dst + (size_t)p * panel, src, m, k, row_stride, k_stride, p * MR, MR);
}

void sepme_bf16_pack_right(uint16_t *dst, const float *src, ptrdiff_t k, ptrdiff_t n, ptrdiff_t k_stride,
                           ptrdiff_t column_stride, ptrdiff_t panel_begin, ptrdiff_t panel_end) {
    size_t panel = (size_t)sepme_bf16_pairs(k) * 2 * NR;
    for (ptrdiff_t p = panel_begin; p < panel_end; p++)
        pack_panel_fast(dst + (size_t)p * panel, src, n, k, column_stride, k_stride, p * NR, NR);
}

// Element (l, j) of the implicit im2col columns (sepme_sgemm.h), 0 outside the image.
static float column_value(const sepme_sgemm_columns *g, ptrdiff_t l, ptrdiff_t j) {
    ptrdiff_t taps = g->kernel_h * g->kernel_w;
    return sepme_columns_value(g, l / taps, (l % taps) / g->kernel_w, l % g->kernel_w, j);
}

void sepme_bf16_pack_right_columns(uint16_t *dst, const sepme_sgemm_columns *g, ptrdiff_t k, ptrdiff_t n,
                                   ptrdiff_t panel_begin, ptrdiff_t panel_end) {
    size_t panel = (size_t)sepme_bf16_pairs(k) * 2 * NR;
    for (ptrdiff_t p = panel_begin; p < panel_end; p++) {
        uint32_t *out = (uint32_t *)(void *)(dst + (size_t)p * panel);
        ptrdiff_t j0 = p * NR, live = n - j0 < NR ? n - j0 : NR;
        ptrdiff_t oy0 = g->row_begin + j0 / g->out_w, ox0 = j0 % g->out_w;
#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
        if (g->stride_w == 1 && live == NR && ox0 + NR <= g->out_w) {
            if (path_limit >= 2 && best_path >= 2) {
                sepme_bf16_pack_column_runs_avx512(out, g, k, oy0, ox0);
                continue;
            }
            if (path_limit >= 1 && has_avx2) {
                pack_column_runs_avx2(out, g, k, oy0, ox0);
                continue;
            }
        }
#endif
        (void)oy0;
        for (ptrdiff_t q = 0; q < sepme_bf16_pairs(k); q++) {
            for (ptrdiff_t t = 0; t < NR; t++) {
                float even = t < live ? column_value(g, 2 * q, j0 + t) : 0.f;
                float odd = t < live && 2 * q + 1 < k ? column_value(g, 2 * q + 1, j0 + t) : 0.f;
                out[q * NR + t] = (uint32_t)to_bf16(even) | (uint32_t)to_bf16(odd) << 16;
            }
        }
    }
}

// Micro-kernels: C tile (mr <= MR rows, nr <= NR columns, leading dimension ldc) (+)= the product of
// kp pairs of the left panel slice a (MR words per pair) and the right panel slice b (NR words per pair).
typedef void (*micro_kernel)(ptrdiff_t kp, const uint32_t *a, const uint32_t *b, float *c, ptrdiff_t ldc, int mr,
                             int nr, int accumulate);

static void kernel_scalar(ptrdiff_t kp, const uint32_t *a, const uint32_t *b, float *c, ptrdiff_t ldc, int mr,
                          int nr, int accumulate) {
    for (int r = 0; r < mr; r++) {
        for (int j = 0; j < nr; j++) {
            float s = accumulate ? c[r * ldc + j] : 0.f;
            for (ptrdiff_t q = 0; q < kp; q++) {
                uint32_t x = a[q * MR + r], y = b[q * NR + j];
                float odd = high_half(x) * high_half(y);
                s = s + odd;
                float even = low_half(x) * low_half(y);
                s = s + even;
            }
            c[r * ldc + j] = s;
        }
    }
}

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <immintrin.h>
#define AVX2 __attribute__((target("avx2,fma")))
#define AVX512BF16 __attribute__((target("avx512f,avx512bw,avx512bf16")))

// Eight columns at a time: a vector of 8 right-operand words splits into the even-k and odd-k halves.
AVX2 static void kernel_avx2(ptrdiff_t kp, const uint32_t *a, const uint32_t *b, float *c, ptrdiff_t ldc, int mr,
                             int nr, int accumulate) {
    const __m256i high_mask = _mm256_set1_epi32((int)0xFFFF0000u);
    for (int g = 0; g < NR / 8 && 8 * g < nr; g++) {
        int cols = nr - 8 * g < 8 ? nr - 8 * g : 8;
        __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(cols), lanes);
        __m256 acc[MR];
        for (int r = 0; r < MR; r++)
            acc[r] = accumulate && r < mr ? _mm256_maskload_ps(c + r * ldc + 8 * g, mask) : _mm256_setzero_ps();
        for (ptrdiff_t q = 0; q < kp; q++) {
            __m256i w = _mm256_loadu_si256((const __m256i *)(b + q * NR + 8 * g));
            __m256 be = _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
            __m256 bo = _mm256_castsi256_ps(_mm256_and_si256(w, high_mask));
            for (int r = 0; r < MR; r++) {
                uint32_t x = a[q * MR + r];
                acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(high_half(x)), bo, acc[r]);
                acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(low_half(x)), be, acc[r]);
            }
        }
        for (int r = 0; r < MR; r++)
            if (r < mr) _mm256_maskstore_ps(c + r * ldc + 8 * g, mask, acc[r]);
    }
}

// The tile's first `rows` rows (4, 8 or MR): a last row panel of at most 4 or 8 rows (a value width of
// 40 or 80 in attention's transposed value product) does only its own rows' products.
AVX512BF16 static inline __attribute__((always_inline)) void
rows_avx512bf16(ptrdiff_t kp, const uint32_t *a, const uint32_t *b, float *c, ptrdiff_t ldc, int mr, int nr,
                int accumulate, const int rows) {
    __mmask16 m0 = nr >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << nr) - 1);
    __mmask16 m1 = nr >= 32 ? (__mmask16)0xFFFF : (nr > 16 ? (__mmask16)((1u << (nr - 16)) - 1) : 0);
    // The loops that load and store the rows are unrolled in full (the sum's own loop over them the compiler
    // unrolls unasked), so that each accumulator is a register of its own: a loop left rolled indexes acc at
    // run time, which keeps the whole array on the stack and costs each tile a store and a load of every
    // accumulator before and after its sum.
    __m512 acc[MR][2];
#pragma clang loop unroll(full)
    for (int r = 0; r < rows; r++) {
        if (accumulate && r < mr) {
            acc[r][0] = _mm512_maskz_loadu_ps(m0, c + r * ldc);
            acc[r][1] = _mm512_maskz_loadu_ps(m1, c + r * ldc + 16);
        } else {
            acc[r][0] = _mm512_setzero_ps();
            acc[r][1] = _mm512_setzero_ps();
        }
    }
    for (ptrdiff_t q = 0; q < kp; q++) {
        __m512bh b0 = (__m512bh)_mm512_loadu_si512((const void *)(b + q * NR));
        __m512bh b1 = (__m512bh)_mm512_loadu_si512((const void *)(b + q * NR + 16));
        for (int r = 0; r < rows; r++) {
            __m512bh x = (__m512bh)_mm512_set1_epi32((int)a[q * MR + r]);
            acc[r][0] = _mm512_dpbf16_ps(acc[r][0], x, b0);
            acc[r][1] = _mm512_dpbf16_ps(acc[r][1], x, b1);
        }
    }
#pragma clang loop unroll(full)
    for (int r = 0; r < rows; r++) {
        if (r < mr) {
            _mm512_mask_storeu_ps(c + r * ldc, m0, acc[r][0]);
            _mm512_mask_storeu_ps(c + r * ldc + 16, m1, acc[r][1]);
        }
    }
}

AVX512BF16 static void kernel_avx512bf16(ptrdiff_t kp, const uint32_t *a, const uint32_t *b, float *c,
                                         ptrdiff_t ldc, int mr, int nr, int accumulate) {
    if (mr <= 4) rows_avx512bf16(kp, a, b, c, ldc, mr, nr, accumulate, 4);
    else if (mr <= 8) rows_avx512bf16(kp, a, b, c, ldc, mr, nr, accumulate, 8);
    else rows_avx512bf16(kp, a, b, c, ldc, mr, nr, accumulate, MR);
}

__attribute__((constructor)) static void detect_bf16_path(void) {
    __builtin_cpu_init();
    best_path = 0;
    has_avx2 = __builtin_cpu_supports("avx2");
    if (has_avx2 && __builtin_cpu_supports("fma")) best_path = 1;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512bf16"))
        best_path = 2;
}
static micro_kernel kernel_for(int path) {
    return path >= 2 ? kernel_avx512bf16 : (path == 1 ? kernel_avx2 : kernel_scalar);
}
#else
static micro_kernel kernel_for(int path) { (void)path; return kernel_scalar; }
#endif

// AMX (path 3) on top of AVX-512 BF16 when the tile unit was granted (asked for by another constructor).
int sepme_bf16_gemm_best_path(void) { return best_path == 2 && sepme_bf16_amx_available() ? 3 : best_path; }
int sepme_bf16_gemm_path(void) {
    int best = sepme_bf16_gemm_best_path();
    return best < path_limit ? best : path_limit;
}
int sepme_bf16_gemm_set_path(int path) {
    int previous = path_limit;
    path_limit = path < 0 ? 0 : path;
    return previous;
}

void sepme_bf16_gemm(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const uint16_t *left, const uint16_t *right, float *c,
                     ptrdiff_t ldc, int accumulate, ptrdiff_t row_panel_begin, ptrdiff_t row_panel_end,
                     ptrdiff_t column_panel_begin, ptrdiff_t column_panel_end) {
    if (m <= 0 || n <= 0 || k < 0) return;
    int path = sepme_bf16_gemm_path();
    if (path == 3) {
        ptrdiff_t row_end = row_panel_end * MR < m ? row_panel_end * MR : m;
        sepme_bf16_gemm_amx(m, n, k, left, right, c, ldc, accumulate, row_panel_begin * MR, row_end, column_panel_begin,
                            column_panel_end);
        return;
    }
    micro_kernel kernel = kernel_for(path);
    ptrdiff_t kp = sepme_bf16_pairs(k);
    const uint32_t *a = (const uint32_t *)(const void *)left;
    const uint32_t *b = (const uint32_t *)(const void *)right;
    if (kp == 0) {  // empty sum: C = 0 or unchanged
        for (ptrdiff_t ip = row_panel_begin; ip < row_panel_end; ip++) {
            for (ptrdiff_t jp = column_panel_begin; jp < column_panel_end; jp++)
                kernel(0, a, b, c + ip * MR * ldc + jp * NR, ldc, (int)(m - ip * MR < MR ? m - ip * MR : MR),
                       (int)(n - jp * NR < NR ? n - jp * NR : NR), accumulate);
        }
        return;
    }
    for (ptrdiff_t q0 = 0; q0 < kp; q0 += KC_PAIRS) {
        ptrdiff_t qc = kp - q0 < KC_PAIRS ? kp - q0 : KC_PAIRS;
        int add = accumulate || q0 > 0;
        for (ptrdiff_t i0 = row_panel_begin; i0 < row_panel_end; i0 += MC_PANELS) {
            ptrdiff_t i1 = i0 + MC_PANELS < row_panel_end ? i0 + MC_PANELS : row_panel_end;
            for (ptrdiff_t jp = column_panel_begin; jp < column_panel_end; jp++) {
                const uint32_t *bp = b + jp * kp * NR + q0 * NR;
                int nr = (int)(n - jp * NR < NR ? n - jp * NR : NR);
                for (ptrdiff_t ip = i0; ip < i1; ip++) {
                    const uint32_t *ap = a + ip * kp * MR + q0 * MR;
                    int mr = (int)(m - ip * MR < MR ? m - ip * MR : MR);
                    kernel(qc, ap, bp, c + ip * MR * ldc + jp * NR, ldc, mr, nr, add);
                }
            }
        }
    }
}
