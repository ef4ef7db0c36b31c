// Direct 3x3 / stride 1 / padding 1 convolution (see sepme_conv3x3.h for the layout and the summation order).
#include "sepme_conv3x3.h"

#include <string.h>

#define MR SEPME_CONV3X3_MR
// Widest pixel tile of any path (AVX-512: 3 vectors of 16); the padded buffer's slack covers one tile
// read past the last plane plus the largest tap offset.
#define MAX_TILE 48

size_t sepme_conv3x3_packed_count(ptrdiff_t cout, ptrdiff_t cin) {
    ptrdiff_t blocks = (cout + MR - 1) / MR;
    return (size_t)(blocks * cin * 9 * MR);
}

void sepme_conv3x3_pack(float *dst, const float *weight, ptrdiff_t cout, ptrdiff_t cin, int adjoint) {
    // The packed operator's output / input channels: (cout, cin), or (cin, cout) for the adjoint.
    ptrdiff_t out_ch = adjoint ? cin : cout, in_ch = adjoint ? cout : cin;
    ptrdiff_t blocks = (out_ch + MR - 1) / MR;
    for (ptrdiff_t b = 0; b < blocks; b++)
        for (ptrdiff_t c = 0; c < in_ch; c++)
            for (int t = 0; t < 9; t++)
                for (int r = 0; r < MR; r++) {
                    ptrdiff_t o = b * MR + r;
                    float v = 0;
                    if (o < out_ch) {
                        // adjoint: w'[o, c, t] = w[c, o, 8 - t] (the 3x3 taps reversed).
                        v = adjoint ? weight[(c * cin + o) * 9 + (8 - t)] : weight[(o * cin + c) * 9 + t];
                    }
                    dst[((b * in_ch + c) * 9 + t) * MR + r] = v;
                }
}

static ptrdiff_t plane_of(ptrdiff_t h, ptrdiff_t w) { return (h + 2) * (w + 2); }

size_t sepme_conv3x3_padded_count(ptrdiff_t cin, ptrdiff_t h, ptrdiff_t w) {
    return (size_t)(cin * plane_of(h, w) + MAX_TILE + 2 * (w + 2) + 2);
}

void sepme_conv3x3_pad(float *padded, const float *x, ptrdiff_t cin, ptrdiff_t h, ptrdiff_t w) {
    ptrdiff_t pw = w + 2, plane = plane_of(h, w);
    for (ptrdiff_t c = 0; c < cin; c++) {
        float *p = padded + c * plane;
        memset(p, 0, sizeof(float) * (size_t)pw);
        for (ptrdiff_t y = 0; y < h; y++) {
            float *row = p + (y + 1) * pw;
            row[0] = 0;
            memcpy(row + 1, x + (c * h + y) * w, sizeof(float) * (size_t)w);
            row[w + 1] = 0;
        }
        memset(p + (h + 1) * pw, 0, sizeof(float) * (size_t)pw);
    }
    memset(padded + cin * plane, 0, sizeof(float) * (size_t)(MAX_TILE + 2 * pw + 2));
}

// Copies a computed tile (MR rows of `tile` pixels in padded-row positions p0, p0 + 1, ...) into out,
// dropping the two padding columns of each row and the positions past the image: one run of
// consecutive pixels of an image row at a time.
static void scatter(const float *tmp, ptrdiff_t tile, ptrdiff_t p0, ptrdiff_t h, ptrdiff_t w, float *out,
                    ptrdiff_t co0, ptrdiff_t rows) {
    ptrdiff_t pw = w + 2, end = p0 + tile < h * pw ? p0 + tile : h * pw;
    for (ptrdiff_t p = p0; p < end;) {
        ptrdiff_t y = p / pw, x = p % pw;
        if (x >= w) {
            p += pw - x;
            continue;
        }
        ptrdiff_t run = w - x < end - p ? w - x : end - p;
        for (ptrdiff_t r = 0; r < rows; r++)
            memcpy(out + (co0 + r) * h * w + y * w + x, tmp + r * MAX_TILE + (p - p0), sizeof(float) * (size_t)run);
        p += run;
    }
}

typedef void (*tile_kernel)(const float *in, ptrdiff_t cin, ptrdiff_t plane, ptrdiff_t pw, const float *wts,
                            const float *bias, float *tmp);

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <immintrin.h>
#define AVX2 __attribute__((target("avx2,fma")))
#define AVX512 __attribute__((target("avx512f")))

// 8 output channels x 48 pixels: 24 accumulators; per (ci, tap) three pixel vectors and eight broadcasts.
AVX512 static void tile_avx512(const float *in, ptrdiff_t cin, ptrdiff_t plane, ptrdiff_t pw, const float *wts,
                               const float *bias, float *tmp) {
    __m512 acc[MR][3];
    for (int r = 0; r < MR; r++) {
        __m512 b = _mm512_set1_ps(bias ? bias[r] : 0.f);
        acc[r][0] = b;
        acc[r][1] = b;
        acc[r][2] = b;
    }
    const ptrdiff_t off[9] = {0, 1, 2, pw, pw + 1, pw + 2, 2 * pw, 2 * pw + 1, 2 * pw + 2};
    for (ptrdiff_t c = 0; c < cin; c++) {
        const float *src = in + c * plane;
        const float *wc = wts + c * 9 * MR;
        for (int t = 0; t < 9; t++) {
            const float *s = src + off[t];
            __m512 v0 = _mm512_loadu_ps(s), v1 = _mm512_loadu_ps(s + 16), v2 = _mm512_loadu_ps(s + 32);
            const float *wt = wc + t * MR;
            for (int r = 0; r < MR; r++) {
                __m512 b = _mm512_set1_ps(wt[r]);
                acc[r][0] = _mm512_fmadd_ps(b, v0, acc[r][0]);
                acc[r][1] = _mm512_fmadd_ps(b, v1, acc[r][1]);
                acc[r][2] = _mm512_fmadd_ps(b, v2, acc[r][2]);
            }
        }
    }
    for (int r = 0; r < MR; r++) {
        _mm512_storeu_ps(tmp + r * MAX_TILE, acc[r][0]);
        _mm512_storeu_ps(tmp + r * MAX_TILE + 16, acc[r][1]);
        _mm512_storeu_ps(tmp + r * MAX_TILE + 32, acc[r][2]);
    }
}

// 4 output channels x 24 pixels per pass (12 accumulators of the 16 registers), two passes per block.
AVX2 static void half_avx2(const float *in, ptrdiff_t cin, ptrdiff_t plane, const ptrdiff_t *off, const float *wts,
                           int r0, const float *bias, float *tmp) {
    __m256 acc[4][3];
    for (int r = 0; r < 4; r++) {
        __m256 b = _mm256_set1_ps(bias ? bias[r0 + r] : 0.f);
        acc[r][0] = b;
        acc[r][1] = b;
        acc[r][2] = b;
    }
    for (ptrdiff_t c = 0; c < cin; c++) {
        const float *src = in + c * plane;
        const float *wc = wts + c * 9 * MR + r0;
        for (int t = 0; t < 9; t++) {
            const float *s = src + off[t];
            __m256 v0 = _mm256_loadu_ps(s), v1 = _mm256_loadu_ps(s + 8), v2 = _mm256_loadu_ps(s + 16);
            const float *wt = wc + t * MR;
            for (int r = 0; r < 4; r++) {
                __m256 b = _mm256_broadcast_ss(wt + r);
                acc[r][0] = _mm256_fmadd_ps(b, v0, acc[r][0]);
                acc[r][1] = _mm256_fmadd_ps(b, v1, acc[r][1]);
                acc[r][2] = _mm256_fmadd_ps(b, v2, acc[r][2]);
            }
        }
    }
    for (int r = 0; r < 4; r++) {
        _mm256_storeu_ps(tmp + (r0 + r) * MAX_TILE, acc[r][0]);
        _mm256_storeu_ps(tmp + (r0 + r) * MAX_TILE + 8, acc[r][1]);
        _mm256_storeu_ps(tmp + (r0 + r) * MAX_TILE + 16, acc[r][2]);
    }
}

AVX2 static void tile_avx2(const float *in, ptrdiff_t cin, ptrdiff_t plane, ptrdiff_t pw, const float *wts,
                           const float *bias, float *tmp) {
    const ptrdiff_t off[9] = {0, 1, 2, pw, pw + 1, pw + 2, 2 * pw, 2 * pw + 1, 2 * pw + 2};
    half_avx2(in, cin, plane, off, wts, 0, bias, tmp);
    half_avx2(in, cin, plane, off, wts, 4, bias, tmp);
}

static int best_path, path_limit = 2;
__attribute__((constructor)) static void detect_conv3x3_path(void) {
    __builtin_cpu_init();
    best_path = 0;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) best_path = 1;
    if (__builtin_cpu_supports("avx512f")) best_path = 2;
}
static tile_kernel kernel_for(int path, ptrdiff_t *tile) {
    *tile = path == 2 ? 48 : 24;
    return path == 2 ? tile_avx512 : (path == 1 ? tile_avx2 : NULL);
}
#else
static int best_path, path_limit = 2;
static tile_kernel kernel_for(int path, ptrdiff_t *tile) {
    (void)path;
    *tile = 0;
    return NULL;
}
#endif

int sepme_conv3x3_path(void) { return best_path < path_limit ? best_path : path_limit; }
int sepme_conv3x3_set_path(int path) {
    int previous = path_limit;
    path_limit = path < 0 ? 0 : path;
    return previous;
}

void sepme_conv3x3_run(const float *padded, ptrdiff_t cin, ptrdiff_t h, ptrdiff_t w, const float *packed,
                       ptrdiff_t cout, const float *bias, float *out, ptrdiff_t co_begin, ptrdiff_t co_end) {
    ptrdiff_t tile;
    tile_kernel kernel = kernel_for(sepme_conv3x3_path(), &tile);
    if (!kernel || h <= 0 || w <= 0) return;
    ptrdiff_t pw = w + 2, plane = plane_of(h, w), pixels = h * pw;
    if (co_end > cout) co_end = cout;
    float tmp[MR * MAX_TILE];
    float block_bias[MR];
    // Pixel tiles outer, channel blocks inner: a tile reads 3 rows of every input plane (cin strided
    // runs, which hardware prefetchers do not follow), and those stay in L2 while every block of the
    // packed weights, one contiguous stream, passes over them. Blocks outer would stream the whole
    // padded image from the last-level cache once per block of MR channels. Each output's sum is the
    // same either way.
    for (ptrdiff_t p0 = 0; p0 < pixels; p0 += tile) {
        for (ptrdiff_t co0 = co_begin; co0 < co_end; co0 += MR) {
            ptrdiff_t rows = co_end - co0 < MR ? co_end - co0 : MR;
            for (int r = 0; r < MR; r++) block_bias[r] = bias && r < rows ? bias[co0 + r] : 0.f;
            const float *wts = packed + (co0 / MR) * cin * 9 * MR;
            kernel(padded + p0, cin, plane, pw, wts, bias ? block_bias : NULL, tmp);
            scatter(tmp, tile, p0, h, w, out, co0, rows);
        }
    }
}
