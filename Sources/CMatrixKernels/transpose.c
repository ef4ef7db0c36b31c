// Matrix transposition (sepme_transpose.h).
#include "sepme_transpose.h"

static void transpose_generic(float *dst, ptrdiff_t ldd, const float *src, ptrdiff_t lds, ptrdiff_t rows,
                              ptrdiff_t cols) {
    for (ptrdiff_t i = 0; i < rows; i++)
        for (ptrdiff_t j = 0; j < cols; j++) dst[j * ldd + i] = src[i * lds + j];
}

static int best_path, path;

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <immintrin.h>

// The 8 × 8 block at src (rows lds apart) into dst (rows ldd apart), transposed: pairs of rows
// interleaved, then pairs of pairs, then the 128-bit halves exchanged.
__attribute__((target("avx2"))) static inline void block8(float *dst, ptrdiff_t ldd, const float *src,
                                                          ptrdiff_t lds) {
    __m256 r0 = _mm256_loadu_ps(src), r1 = _mm256_loadu_ps(src + lds), r2 = _mm256_loadu_ps(src + 2 * lds),
           r3 = _mm256_loadu_ps(src + 3 * lds), r4 = _mm256_loadu_ps(src + 4 * lds),
           r5 = _mm256_loadu_ps(src + 5 * lds), r6 = _mm256_loadu_ps(src + 6 * lds),
           r7 = _mm256_loadu_ps(src + 7 * lds);
    // t0 = [a00 a10 a01 a11 | a04 a14 a05 a15], t1 = [a02 a12 a03 a13 | a06 a16 a07 a17], ...
    __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
    __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
    __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
    __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
    // u0 = [a00 a10 a20 a30 | a04 a14 a24 a34], u1 = column 1 and 5 of rows 0-3, ...
    __m256 u0 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0));
    __m256 u1 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
    __m256 u2 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0));
    __m256 u3 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
    __m256 u4 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(1, 0, 1, 0));
    __m256 u5 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(3, 2, 3, 2));
    __m256 u6 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(1, 0, 1, 0));
    __m256 u7 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(3, 2, 3, 2));
    _mm256_storeu_ps(dst, _mm256_permute2f128_ps(u0, u4, 0x20));
    _mm256_storeu_ps(dst + ldd, _mm256_permute2f128_ps(u1, u5, 0x20));
    _mm256_storeu_ps(dst + 2 * ldd, _mm256_permute2f128_ps(u2, u6, 0x20));
    _mm256_storeu_ps(dst + 3 * ldd, _mm256_permute2f128_ps(u3, u7, 0x20));
    _mm256_storeu_ps(dst + 4 * ldd, _mm256_permute2f128_ps(u0, u4, 0x31));
    _mm256_storeu_ps(dst + 5 * ldd, _mm256_permute2f128_ps(u1, u5, 0x31));
    _mm256_storeu_ps(dst + 6 * ldd, _mm256_permute2f128_ps(u2, u6, 0x31));
    _mm256_storeu_ps(dst + 7 * ldd, _mm256_permute2f128_ps(u3, u7, 0x31));
}

// Strips of eight source rows, each across every column: the strip's reads run along its rows, and its
// writes fill 32 bytes of each destination row, whose next 32 the next strip writes while the lines are
// still cached.
__attribute__((target("avx2"))) static void transpose_avx2(float *dst, ptrdiff_t ldd, const float *src, ptrdiff_t lds,
                                                           ptrdiff_t rows, ptrdiff_t cols) {
    ptrdiff_t whole_rows = rows / 8 * 8, whole_cols = cols / 8 * 8;
    for (ptrdiff_t i0 = 0; i0 < whole_rows; i0 += 8) {
        for (ptrdiff_t j0 = 0; j0 < whole_cols; j0 += 8) block8(dst + j0 * ldd + i0, ldd, src + i0 * lds + j0, lds);
        transpose_generic(dst + whole_cols * ldd + i0, ldd, src + i0 * lds + whole_cols, lds, 8, cols - whole_cols);
    }
    transpose_generic(dst + whole_rows, ldd, src + whole_rows * lds, lds, rows - whole_rows, cols);
}

__attribute__((constructor)) static void detect_transpose_path(void) {
    __builtin_cpu_init();
    best_path = __builtin_cpu_supports("avx2") ? 1 : 0;
    path = best_path;
}
#endif

void sepme_transpose(float *dst, ptrdiff_t ldd, const float *src, ptrdiff_t lds, ptrdiff_t rows, ptrdiff_t cols) {
#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
    if (path == 1) {
        transpose_avx2(dst, ldd, src, lds, rows, cols);
        return;
    }
#endif
    transpose_generic(dst, ldd, src, lds, rows, cols);
}

int sepme_transpose_path(void) { return path; }

int sepme_transpose_set_path(int wanted) {
    int previous = path;
    path = wanted < 0 ? 0 : (wanted > best_path ? best_path : wanted);
    return previous;
}
