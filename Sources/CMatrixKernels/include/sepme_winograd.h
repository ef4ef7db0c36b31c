// Winograd F(4×4, 3×3) pieces for 3x3 convolutions with stride 1 and padding 1, NCHW (Lavin & Gray,
// "Fast Algorithms for Convolutional Neural Networks", CVPR 2016, eq. 8: Y = Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A,
// with the F(4, 3) matrices for the points 0, ±1, ±2, ∞). Each 4×4 block of output pixels (a tile) is
// computed from the 6×6 block of the zero-padded input around it; in the transformed domain a
// convolution is 36 independent matrix products, one per point ξ = 6a + b of the 6×6 tile:
//   M[ξ] (out_ch × tiles) = U[ξ] (out_ch × in_ch) · V[ξ] (in_ch × tiles).
// These functions compute U from the weight, V from the image and the output from M; the products are
// the caller's (`WinogradConv3x3`). The tiles of one image's tile rows are numbered row-major from the
// pointer the caller passes, t = (ty − ty_begin) · tiles_x + tx.
//
// The transforms are the same arithmetic on every path (the file is compiled without floating-point
// contraction, so no path fuses a multiply and an add), hence the same bits on AVX-512F, AVX2 and baseline
// x86-64; the paths differ only in vector width.
#ifndef SEPME_WINOGRAD_H
#define SEPME_WINOGRAD_H

#include <stddef.h>

/// Points of the transformed tile (6 × 6).
#define SEPME_WINOGRAD_POINTS 36

/// Floats of the transformed weight of `out_ch` output and `in_ch` input channels: [36][out_ch][in_ch].
size_t sepme_winograd_weight_count(ptrdiff_t out_ch, ptrdiff_t in_ch);
/// Writes U[ξ][o][c] = (G g_oc Gᵀ)[ξ] for output channels o in [o_begin, o_end) of the operator, where the
/// operator is the weight [cout, cin, 3, 3] itself (g_oc = weight[o, c]; out_ch = cout, in_ch = cin) or,
/// with adjoint = 1, the input gradient's, g_oc[i, j] = weight[c, o, 2 − i, 2 − j] (out_ch = cin,
/// in_ch = cout). `stage` holds 9 · in_ch floats.
void sepme_winograd_weight(float *u, const float *weight, ptrdiff_t cout, ptrdiff_t cin, int adjoint,
                           ptrdiff_t o_begin, ptrdiff_t o_end, float *stage);
/// Tiles along each side of an h × w image.
ptrdiff_t sepme_winograd_tiles(ptrdiff_t extent);
/// Floats of the scratch the input and output transforms take for images w pixels wide.
size_t sepme_winograd_scratch_count(ptrdiff_t w);
/// V[ξ][c][t] (element ξ · point_stride + c · ldv + t) for `channels` planes of one image x [channels, h, w]
/// and the tiles of tile rows [ty_begin, ty_end): (Bᵀ d B)[ξ], d the 6×6 input block at rows 4ty − 1 ...
/// 4ty + 4 and columns 4tx − 1 ... 4tx + 4 (zero outside the image).
void sepme_winograd_input(float *v, ptrdiff_t ldv, ptrdiff_t point_stride, const float *x, ptrdiff_t channels,
                          ptrdiff_t h, ptrdiff_t w, ptrdiff_t ty_begin, ptrdiff_t ty_end, float *scratch);
/// out[o, 4ty + i, 4tx + j] = bias[o] (0 when bias is NULL) + (Aᵀ m A)[i, j] for `channels` planes of one
/// image out [channels, h, w] and the tiles of tile rows [ty_begin, ty_end), m[ξ] = M[ξ · point_stride +
/// o · ldm + t]; pixels past the image are dropped. Every pixel of those rows is written.
void sepme_winograd_output(float *out, const float *m, ptrdiff_t ldm, ptrdiff_t point_stride, ptrdiff_t channels,
                           ptrdiff_t h, ptrdiff_t w, ptrdiff_t ty_begin, ptrdiff_t ty_end, const float *bias,
                           float *scratch);
/// Path in use: 2 = AVX-512F, 1 = AVX2, 0 = baseline x86-64 (or the build's only path elsewhere).
int sepme_winograd_path(void);
/// Tests: the highest path to use (honoured only up to what the CPU has); returns the previous limit.
/// Not for use while transforms run on other threads.
int sepme_winograd_set_path(int path);

#endif
