// Direct 3x3 convolution, stride 1, padding 1, NCHW (torch.nn.functional.conv2d with those settings),
// without an im2col column matrix: the kernel reads the zero-padded image as one flat plane per input
// channel, so output pixel p = y * (w + 2) + x of the padded row layout takes tap (i, j) from padded
// position p + i * (w + 2) + j (the two pixels past each row are computed and dropped). Output channels go
// in blocks of SEPME_CONV3X3_MR against vectors of pixels: an outer-product micro-kernel whose right
// operand is loaded straight from the padded plane.
//
// Each output is bias (or 0), then for ci in order, for taps (i, j) in row-major order, one fused
// multiply-add in fp32, so the AVX-512F and the AVX2 + FMA paths give the same bits. Without AVX2 + FMA
// the kernel is unavailable (sepme_conv3x3_path() == 0) and callers keep their im2col route.
#ifndef SEPME_CONV3X3_H
#define SEPME_CONV3X3_H

#include <stddef.h>

#define SEPME_CONV3X3_MR 8

/// Floats of the packed weights for `cout` output and `cin` input channels (cout rounded up to MR).
size_t sepme_conv3x3_packed_count(ptrdiff_t cout, ptrdiff_t cin);
/// Packs a weight [cout, cin, 3, 3] as blocks [cout / MR][cin][9][MR] (missing channels zero). With
/// adjoint = 1 it packs the weight of the input gradient instead, w'[ci, co, i, j] = w[co, ci, 2 - i, 2 - j]
/// (cout' = cin, cin' = cout): dx = conv3x3(dy, w') for a stride-1, padding-1 convolution.
void sepme_conv3x3_pack(float *dst, const float *weight, ptrdiff_t cout, ptrdiff_t cin, int adjoint);
/// Floats of one image's padded input (with the slack the pixel vectors read past the last plane).
size_t sepme_conv3x3_padded_count(ptrdiff_t cin, ptrdiff_t h, ptrdiff_t w);
/// Writes x [cin, h, w] zero-padded into `padded` (sepme_conv3x3_padded_count floats).
void sepme_conv3x3_pad(float *padded, const float *x, ptrdiff_t cin, ptrdiff_t h, ptrdiff_t w);
/// out[co, y, x] = bias[co] (0 when bias is NULL) + the convolution of the padded image, for output
/// channels in [co_begin, co_end), co_begin a multiple of MR. `packed` from sepme_conv3x3_pack for `cout`
/// channels; out is [cout, h, w]; every element of those channels is written. Does nothing when the path is 0.
void sepme_conv3x3_run(const float *padded, ptrdiff_t cin, ptrdiff_t h, ptrdiff_t w, const float *packed,
                       ptrdiff_t cout, const float *bias, float *out, ptrdiff_t co_begin, ptrdiff_t co_end);
/// Path in use: 2 = AVX-512F, 1 = AVX2 + FMA, 0 = none (use im2col).
int sepme_conv3x3_path(void);
/// Tests: the highest path to use (honoured only up to what the CPU has); returns the previous limit.
/// Not for use while convolutions run on other threads.
int sepme_conv3x3_set_path(int path);

#endif
