// Winograd F(4×4, 3×3) transforms (see sepme_winograd.h for the layouts and the matrices' source).
#include "sepme_winograd.h"

#include <string.h>

// No path may fuse a multiply and an add: every path then gives the same bits.
#pragma clang fp contract(off)

// The 1-D transforms of F(4, 3) (Lavin & Gray 2016, section 4.2), written with their common subterms.
// Bᵀ d for the 6 input values d0..d5 of a tile row or column.
// T is float, or a vector of floats (the AVX-512F tile loops below): the same operations per lane.
#define BT_APPLY_T(T, d0, d1, d2, d3, d4, d5, o0, o1, o2, o3, o4, o5)                                     \
    do {                                                                                                   \
        T s12_ = (d1) + (d2), d12_ = (d1) - (d2), d31_ = (d3) - (d1);                                      \
        T s34_ = (d3) + (d4), d43_ = (d4) - (d3), d42_ = (d4) - (d2);                                      \
        o0 = 4.f * (d0) - 5.f * (d2) + (d4);                                                               \
        o1 = s34_ - 4.f * s12_;                                                                            \
        o2 = d43_ + 4.f * d12_;                                                                            \
        o3 = d42_ + 2.f * d31_;                                                                            \
        o4 = d42_ - 2.f * d31_;                                                                            \
        o5 = 4.f * (d1) - 5.f * (d3) + (d5);                                                               \
    } while (0)
#define BT_APPLY(...) BT_APPLY_T(float, __VA_ARGS__)

// G g for the 3 weight values g0..g2 of a kernel row or column.
#define G_APPLY(g0, g1, g2, o0, o1, o2, o3, o4, o5)                                                        \
    do {                                                                                                   \
        float s02_ = (g0) + (g2), q_ = (g0) * (1.f / 24.f) + (g2) * (1.f / 6.f), h1_ = (g1) * (1.f / 12.f);  \
        o0 = (g0) * 0.25f;                                                                                 \
        o1 = (s02_ + (g1)) * (-1.f / 6.f);                                                                 \
        o2 = (s02_ - (g1)) * (-1.f / 6.f);                                                                 \
        o3 = q_ + h1_;                                                                                     \
        o4 = q_ - h1_;                                                                                     \
        o5 = (g2);                                                                                         \
    } while (0)

// Aᵀ m for the 6 transformed values m0..m5 of a tile row or column.
#define AT_APPLY_T(T, m0, m1, m2, m3, m4, m5, o0, o1, o2, o3)                                              \
    do {                                                                                                   \
        T s12_ = (m1) + (m2), d12_ = (m1) - (m2), s34_ = (m3) + (m4), d34_ = (m3) - (m4);                   \
        o0 = (m0) + s12_ + s34_;                                                                           \
        o1 = d12_ + 2.f * d34_;                                                                            \
        o2 = s12_ + 4.f * s34_;                                                                            \
        o3 = d12_ + 8.f * d34_ + (m5);                                                                     \
    } while (0)
#define AT_APPLY(...) AT_APPLY_T(float, __VA_ARGS__)

#define INLINE static inline __attribute__((always_inline))

size_t sepme_winograd_weight_count(ptrdiff_t out_ch, ptrdiff_t in_ch) {
    return (size_t)(SEPME_WINOGRAD_POINTS * out_ch * in_ch);
}

ptrdiff_t sepme_winograd_tiles(ptrdiff_t extent) { return (extent + 3) / 4; }

static ptrdiff_t padded_width(ptrdiff_t w) { return 4 * sepme_winograd_tiles(w) + 2; }

size_t sepme_winograd_scratch_count(ptrdiff_t w) {
    ptrdiff_t tw = sepme_winograd_tiles(w);
    return (size_t)(12 * padded_width(w) + 40 * tw);
}

INLINE void weight_body(float *restrict u, const float *restrict weight, ptrdiff_t cout, ptrdiff_t cin, int adjoint,
                        ptrdiff_t o_begin, ptrdiff_t o_end, float *restrict stage) {
    ptrdiff_t out_ch = adjoint ? cin : cout, in_ch = adjoint ? cout : cin;
    ptrdiff_t plane = out_ch * in_ch;
    for (ptrdiff_t o = o_begin; o < o_end; o++) {
        // stage[k][c] = g_oc[k] (k = 3i + j), so the loop below reads each tap as one run over c.
        for (ptrdiff_t c = 0; c < in_ch; c++)
            for (int k = 0; k < 9; k++)
                stage[k * in_ch + c] = adjoint ? weight[(c * cin + o) * 9 + (8 - k)] : weight[(o * cin + c) * 9 + k];
        float *uo = u + o * in_ch;
        // Row a of (G g) Gᵀ for the 3 values of row a of G g, stored at points 6a ... 6a + 5.
#define WEIGHT_ROW(a, t0, t1, t2)                                                                            \
    do {                                                                                                   \
        float r0_, r1_, r2_, r3_, r4_, r5_;                                                                \
        G_APPLY(t0, t1, t2, r0_, r1_, r2_, r3_, r4_, r5_);                                                 \
        float *ua_ = uo + (6 * (a)) * plane + c;                                                           \
        ua_[0] = r0_;                                                                                      \
        ua_[plane] = r1_;                                                                                  \
        ua_[2 * plane] = r2_;                                                                              \
        ua_[3 * plane] = r3_;                                                                              \
        ua_[4 * plane] = r4_;                                                                              \
        ua_[5 * plane] = r5_;                                                                              \
    } while (0)
        // The 36 points' stores go to disjoint runs (plane ≥ in_ch apart).
#pragma clang loop vectorize(assume_safety)
        for (ptrdiff_t c = 0; c < in_ch; c++) {
            // G applied to each column j of g: t{a}{j} = (G g)[a, j].
            float t00, t10, t20, t30, t40, t50, t01, t11, t21, t31, t41, t51, t02, t12, t22, t32, t42, t52;
            G_APPLY(stage[c], stage[3 * in_ch + c], stage[6 * in_ch + c], t00, t10, t20, t30, t40, t50);
            G_APPLY(stage[in_ch + c], stage[4 * in_ch + c], stage[7 * in_ch + c], t01, t11, t21, t31, t41, t51);
            G_APPLY(stage[2 * in_ch + c], stage[5 * in_ch + c], stage[8 * in_ch + c], t02, t12, t22, t32, t42, t52);
            WEIGHT_ROW(0, t00, t01, t02);
            WEIGHT_ROW(1, t10, t11, t12);
            WEIGHT_ROW(2, t20, t21, t22);
            WEIGHT_ROW(3, t30, t31, t32);
            WEIGHT_ROW(4, t40, t41, t42);
            WEIGHT_ROW(5, t50, t51, t52);
        }
#undef WEIGHT_ROW
    }
}

#if defined(__x86_64__)
#include <immintrin.h>

#include "avx512_lanes.h"

#define AVX512 __attribute__((target("avx512f")))

// input_body's B along the rows, sixteen tiles to a vector: for each of the 6 rows `vert` holds (pw
// floats apart), the 6 values of tile t are va[4t ... 4t + 5]; the loads of 64 floats are split by
// lane position mod 4 into d0 ... d3 (two-source permutes, then 256-bit halves), and d4, d5 are d0, d1
// one tile on. The last tw mod 16 tiles use masked loads and stores.
AVX512 static void input_rows_avx512(const float *vert, ptrdiff_t pw, ptrdiff_t tw, float *vt,
                                     ptrdiff_t point_stride) {
    const __m512i even = _mm512_set_epi32(29, 25, 21, 17, 13, 9, 5, 1, 28, 24, 20, 16, 12, 8, 4, 0);
    const __m512i odd = _mm512_set_epi32(31, 27, 23, 19, 15, 11, 7, 3, 30, 26, 22, 18, 14, 10, 6, 2);
    for (int a = 0; a < 6; a++) {
        const float *va = vert + a * pw;
        float *out = vt + (6 * a) * point_stride;
        for (ptrdiff_t tx = 0; tx < tw; tx += 16) {
            ptrdiff_t tiles = tw - tx < 16 ? tw - tx : 16, values = 4 * tiles + 2;
            const float *d = va + 4 * tx;
            __m512 l0 = _mm512_maskz_loadu_ps(first_lanes(values), d);
            __m512 l1 = _mm512_maskz_loadu_ps(first_lanes(values - 16), d + 16);
            __m512 l2 = _mm512_maskz_loadu_ps(first_lanes(values - 32), d + 32);
            __m512 l3 = _mm512_maskz_loadu_ps(first_lanes(values - 48), d + 48);
            __m512 e4 = _mm512_maskz_loadu_ps(first_lanes(values - 64), d + 64);
            __m512 e5 = _mm512_maskz_loadu_ps(first_lanes(values - 65), d + 65);
            __m512 p01 = _mm512_permutex2var_ps(l0, even, l1), q01 = _mm512_permutex2var_ps(l2, even, l3);
            __m512 p23 = _mm512_permutex2var_ps(l0, odd, l1), q23 = _mm512_permutex2var_ps(l2, odd, l3);
            __m512 d0 = _mm512_shuffle_f32x4(p01, q01, 0x44), d1 = _mm512_shuffle_f32x4(p01, q01, 0xEE);
            __m512 d2 = _mm512_shuffle_f32x4(p23, q23, 0x44), d3 = _mm512_shuffle_f32x4(p23, q23, 0xEE);
            __m512 d4 = _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(e4), _mm512_castps_si512(d0), 1));
            __m512 d5 = _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(e5), _mm512_castps_si512(d1), 1));
            __m512 o0, o1, o2, o3, o4, o5;
            BT_APPLY_T(__m512, d0, d1, d2, d3, d4, d5, o0, o1, o2, o3, o4, o5);
            __mmask16 live = first_lanes(tiles);
            _mm512_mask_storeu_ps(out + tx, live, o0);
            _mm512_mask_storeu_ps(out + point_stride + tx, live, o1);
            _mm512_mask_storeu_ps(out + 2 * point_stride + tx, live, o2);
            _mm512_mask_storeu_ps(out + 3 * point_stride + tx, live, o3);
            _mm512_mask_storeu_ps(out + 4 * point_stride + tx, live, o4);
            _mm512_mask_storeu_ps(out + 5 * point_stride + tx, live, o5);
        }
    }
}

// output_body's Aᵀ along the columns and the bias, sixteen tiles to a vector: y_i for the 4 columns j
// of each tile, then each output row's four vectors interleaved (pixel 4t + j) by two rounds of
// two-source permutes.
AVX512 static void output_rows_avx512(const float *half, ptrdiff_t tw, float b, float *rows) {
    const __m512i pairs_low = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    const __m512i pairs_high = _mm512_set_epi32(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8);
    const __m512i quads_low = _mm512_set_epi32(23, 22, 7, 6, 21, 20, 5, 4, 19, 18, 3, 2, 17, 16, 1, 0);
    const __m512i quads_high = _mm512_set_epi32(31, 30, 15, 14, 29, 28, 13, 12, 27, 26, 11, 10, 25, 24, 9, 8);
    __m512 bias = _mm512_set1_ps(b);
    for (ptrdiff_t tx = 0; tx < tw; tx += 16) {
        ptrdiff_t tiles = tw - tx < 16 ? tw - tx : 16;
        __mmask16 live = first_lanes(tiles);
        __m512 y[4][4];  // y[i][j]: pixel (i, j) of the sixteen tiles
        for (int j = 0; j < 4; j++) {
            const float *hj = half + j * tw + tx;
            __m512 y0, y1, y2, y3;
            AT_APPLY_T(__m512, _mm512_maskz_loadu_ps(live, hj), _mm512_maskz_loadu_ps(live, hj + 4 * tw),
                       _mm512_maskz_loadu_ps(live, hj + 8 * tw), _mm512_maskz_loadu_ps(live, hj + 12 * tw),
                       _mm512_maskz_loadu_ps(live, hj + 16 * tw), _mm512_maskz_loadu_ps(live, hj + 20 * tw), y0, y1,
                       y2, y3);
            y[0][j] = bias + y0;
            y[1][j] = bias + y1;
            y[2][j] = bias + y2;
            y[3][j] = bias + y3;
        }
        for (int i = 0; i < 4; i++) {
            __m512 p01l = _mm512_permutex2var_ps(y[i][0], pairs_low, y[i][1]);
            __m512 p01h = _mm512_permutex2var_ps(y[i][0], pairs_high, y[i][1]);
            __m512 p23l = _mm512_permutex2var_ps(y[i][2], pairs_low, y[i][3]);
            __m512 p23h = _mm512_permutex2var_ps(y[i][2], pairs_high, y[i][3]);
            float *r = rows + i * 4 * tw + 4 * tx;
            ptrdiff_t values = 4 * tiles;
            _mm512_mask_storeu_ps(r, first_lanes(values), _mm512_permutex2var_ps(p01l, quads_low, p23l));
            _mm512_mask_storeu_ps(r + 16, first_lanes(values - 16), _mm512_permutex2var_ps(p01l, quads_high, p23l));
            _mm512_mask_storeu_ps(r + 32, first_lanes(values - 32), _mm512_permutex2var_ps(p01h, quads_low, p23h));
            _mm512_mask_storeu_ps(r + 48, first_lanes(values - 48), _mm512_permutex2var_ps(p01h, quads_high, p23h));
        }
    }
}
#endif

// `wide`: the AVX-512F path, whose second stage runs on input_rows_avx512 (the same operations per value).
INLINE void input_body(float *restrict v, ptrdiff_t ldv, ptrdiff_t point_stride, const float *restrict x,
                       ptrdiff_t channels, ptrdiff_t h, ptrdiff_t w, ptrdiff_t ty_begin, ptrdiff_t ty_end,
                       float *restrict scratch, int wide) {
    ptrdiff_t tw = sepme_winograd_tiles(w), pw = padded_width(w);
    float *rows = scratch, *vert = scratch + 6 * pw;
    for (ptrdiff_t c = 0; c < channels; c++) {
        const float *xc = x + c * h * w;
        for (ptrdiff_t ty = ty_begin; ty < ty_end; ty++) {
            // The 6 input rows of this tile row, zero-padded: rows[r][s] = x[c, 4ty − 1 + r, s − 1].
            for (int r = 0; r < 6; r++) {
                float *row = rows + r * pw;
                ptrdiff_t y = 4 * ty - 1 + r;
                if (y < 0 || y >= h) {
                    memset(row, 0, sizeof(float) * (size_t)pw);
                    continue;
                }
                row[0] = 0;
                memcpy(row + 1, xc + y * w, sizeof(float) * (size_t)w);
                memset(row + 1 + w, 0, sizeof(float) * (size_t)(pw - 1 - w));
            }
            // Bᵀ along the columns, over the whole row at once.
            for (ptrdiff_t s = 0; s < pw; s++)
                BT_APPLY(rows[s], rows[pw + s], rows[2 * pw + s], rows[3 * pw + s], rows[4 * pw + s], rows[5 * pw + s],
                         vert[s], vert[pw + s], vert[2 * pw + s], vert[3 * pw + s], vert[4 * pw + s], vert[5 * pw + s]);
            // B along the rows, one tile per step (6 values from column 4tx).
            float *vt = v + c * ldv + (ty - ty_begin) * tw;
#if defined(__x86_64__)
            if (wide) {
                input_rows_avx512(vert, pw, tw, vt, point_stride);
                continue;
            }
#endif
            for (int a = 0; a < 6; a++) {
                const float *va = vert + a * pw;
                float *out = vt + (6 * a) * point_stride;
                for (ptrdiff_t tx = 0; tx < tw; tx++) {
                    const float *d = va + 4 * tx;
                    float o0, o1, o2, o3, o4, o5;
                    BT_APPLY(d[0], d[1], d[2], d[3], d[4], d[5], o0, o1, o2, o3, o4, o5);
                    out[tx] = o0;
                    out[point_stride + tx] = o1;
                    out[2 * point_stride + tx] = o2;
                    out[3 * point_stride + tx] = o3;
                    out[4 * point_stride + tx] = o4;
                    out[5 * point_stride + tx] = o5;
                }
            }
        }
    }
}

// `wide`: the AVX-512F path, whose second stage runs on output_rows_avx512 (the same operations per value).
INLINE void output_body(float *restrict out, const float *restrict m, ptrdiff_t ldm, ptrdiff_t point_stride,
                        ptrdiff_t channels, ptrdiff_t h, ptrdiff_t w, ptrdiff_t ty_begin, ptrdiff_t ty_end,
                        const float *restrict bias, float *restrict scratch, int wide) {
    ptrdiff_t tw = sepme_winograd_tiles(w);
    float *half = scratch, *rows = scratch + 24 * tw;  // half: [6][4][tw], rows: [4][4 tw]
    for (ptrdiff_t o = 0; o < channels; o++) {
        float b = bias ? bias[o] : 0.f;
        for (ptrdiff_t ty = ty_begin; ty < ty_end; ty++) {
            const float *mt = m + o * ldm + (ty - ty_begin) * tw;
            // A along the rows: half[a][j] = Σ_b m[6a + b] A[b][j].
            for (int a = 0; a < 6; a++) {
                const float *ma = mt + (6 * a) * point_stride;
                float *ha = half + (4 * a) * tw;
                for (ptrdiff_t tx = 0; tx < tw; tx++)
                    AT_APPLY(ma[tx], ma[point_stride + tx], ma[2 * point_stride + tx], ma[3 * point_stride + tx],
                             ma[4 * point_stride + tx], ma[5 * point_stride + tx], ha[tx], ha[tw + tx], ha[2 * tw + tx],
                             ha[3 * tw + tx]);
            }
            // Aᵀ along the columns, then the bias; pixel (i, j) of tile tx goes to rows[i][4tx + j].
#if defined(__x86_64__)
            if (wide) output_rows_avx512(half, tw, b, rows);
            else
#endif
            for (int j = 0; j < 4; j++)
                for (ptrdiff_t tx = 0; tx < tw; tx++) {
                    const float *hj = half + j * tw + tx;
                    float y0, y1, y2, y3;
                    AT_APPLY(hj[0], hj[4 * tw], hj[8 * tw], hj[12 * tw], hj[16 * tw], hj[20 * tw], y0, y1, y2, y3);
                    rows[4 * tx + j] = b + y0;
                    rows[4 * tw + 4 * tx + j] = b + y1;
                    rows[8 * tw + 4 * tx + j] = b + y2;
                    rows[12 * tw + 4 * tx + j] = b + y3;
                }
            for (int i = 0; i < 4; i++) {
                ptrdiff_t y = 4 * ty + i;
                if (y < h) memcpy(out + (o * h + y) * w, rows + i * 4 * tw, sizeof(float) * (size_t)w);
            }
        }
    }
}

#define DEFINE_PATH(suffix, attributes, wide)                                                                   \
    attributes static void weight_##suffix(float *u, const float *weight, ptrdiff_t cout, ptrdiff_t cin,         \
                                           int adjoint, ptrdiff_t o_begin, ptrdiff_t o_end, float *stage) {      \
        weight_body(u, weight, cout, cin, adjoint, o_begin, o_end, stage);                                      \
    }                                                                                                           \
    attributes static void input_##suffix(float *v, ptrdiff_t ldv, ptrdiff_t point_stride, const float *x,       \
                                          ptrdiff_t channels, ptrdiff_t h, ptrdiff_t w, ptrdiff_t ty_begin,      \
                                          ptrdiff_t ty_end, float *scratch) {                                    \
        input_body(v, ldv, point_stride, x, channels, h, w, ty_begin, ty_end, scratch, wide);                   \
    }                                                                                                           \
    attributes static void output_##suffix(float *out, const float *m, ptrdiff_t ldm, ptrdiff_t point_stride,    \
                                           ptrdiff_t channels, ptrdiff_t h, ptrdiff_t w, ptrdiff_t ty_begin,     \
                                           ptrdiff_t ty_end, const float *bias, float *scratch) {                \
        output_body(out, m, ldm, point_stride, channels, h, w, ty_begin, ty_end, bias, scratch, wide);          \
    }

DEFINE_PATH(generic, , 0)

static int best_path, path_limit = 2;

#if defined(__x86_64__)
DEFINE_PATH(avx2, __attribute__((target("avx2,fma"))), 0)
DEFINE_PATH(avx512, __attribute__((target("avx512f"))), 1)

__attribute__((constructor)) static void detect_winograd_path(void) {
    __builtin_cpu_init();
    best_path = 0;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) best_path = 1;
    if (__builtin_cpu_supports("avx512f")) best_path = 2;
}
#define DISPATCH(name, ...)                                                                                     \
    switch (sepme_winograd_path()) {                                                                            \
    case 2: name##_avx512(__VA_ARGS__); break;                                                                  \
    case 1: name##_avx2(__VA_ARGS__); break;                                                                    \
    default: name##_generic(__VA_ARGS__); break;                                                                \
    }
#else
#define DISPATCH(name, ...) name##_generic(__VA_ARGS__)
#endif

int sepme_winograd_path(void) { return best_path < path_limit ? best_path : path_limit; }
int sepme_winograd_set_path(int path) {
    int previous = path_limit;
    path_limit = path < 0 ? 0 : path;
    return previous;
}

void sepme_winograd_weight(float *u, const float *weight, ptrdiff_t cout, ptrdiff_t cin, int adjoint,
                           ptrdiff_t o_begin, ptrdiff_t o_end, float *stage) {
    DISPATCH(weight, u, weight, cout, cin, adjoint, o_begin, o_end, stage);
}

void sepme_winograd_input(float *v, ptrdiff_t ldv, ptrdiff_t point_stride, const float *x, ptrdiff_t channels,
                          ptrdiff_t h, ptrdiff_t w, ptrdiff_t ty_begin, ptrdiff_t ty_end, float *scratch) {
    DISPATCH(input, v, ldv, point_stride, x, channels, h, w, ty_begin, ty_end, scratch);
}

void sepme_winograd_output(float *out, const float *m, ptrdiff_t ldm, ptrdiff_t point_stride, ptrdiff_t channels,
                           ptrdiff_t h, ptrdiff_t w, ptrdiff_t ty_begin, ptrdiff_t ty_end, const float *bias,
                           float *scratch) {
    DISPATCH(output, out, m, ldm, point_stride, channels, h, w, ty_begin, ty_end, bias, scratch);
}
