// Row kernels of sepme's fused attention (softmax rows), of GELU and of SiLU, in C so that they can be compiled twice:
// for baseline x86-64 and for AVX2 + FMA (the exponential rows also for AVX-512F), picked once at run
// time from the CPU's feature bits.
// Swift code in this package is built for baseline x86-64 (SSE2), which these loops outgrow.
#ifndef SEPME_VECTOR_MATH_H
#define SEPME_VECTOR_MATH_H

#include <stddef.h>
#include <stdint.h>

/// e^x (the kernels' own exp, for single values).
float sepme_exp(float x);
/// max_i p[i], n >= 1.
float sepme_row_max(const float *p, ptrdiff_t n);
/// p[i] = e^(p[i] - shift) in place.
void sepme_exp_shifted(float *p, ptrdiff_t n, float shift);
/// p[i] = e^(p[i] - shift) in place; returns the sum of the new p[i].
float sepme_exp_shifted_sum(float *p, ptrdiff_t n, float shift);
/// p[i] = e^((p[i] - shift) · scale) in place; returns the sum of the new p[i]. Scale 1 gives
/// sepme_exp_shifted_sum's bits.
float sepme_exp_scaled_sum(float *p, ptrdiff_t n, float shift, float scale);
/// Columns of an s[lines][width] tile (rows `ld` floats apart, lines >= 1), attention_columns.c:
/// top[i] = max_l s[l][i].
void sepme_column_maxima(const float *s, ptrdiff_t lines, ptrdiff_t width, ptrdiff_t ld, float *top);
/// s[l][i] = e^((s[l][i] - shift[i]) · scale) in place, and sum[i] += each, l in order, with the short
/// exponential for values rounded to bf16 next (attention_columns.c: relative error at most a few 1e-6,
/// far below bf16's 2⁻⁹; the same bits on every instruction-set path).
void sepme_exp_columns_short(float *s, ptrdiff_t lines, ptrdiff_t width, ptrdiff_t ld, const float *shift,
                             float scale, float *sum);
/// sepme_exp_columns_short's exponentials and sums, with the exponentials written not into s but into dst as the
/// bf16 right operand of a product that sums over the keys (k = lines, n = width): column panels of `panel`
/// columns (a multiple of 16), each pairs(lines) rows of `panel` words bf16(e[2q][i]) | bf16(e[2q + 1][i]) << 16
/// (nearest even, subnormals to signed zero; zeros past width and past the last key), the words of
/// sepme_bf16_pack_right for that panel width. Returns 1, or 0 without writing where the CPU lacks
/// AVX-512 BF16 or `panel` is not a positive multiple of 16.
int sepme_exp_columns_bf16(uint16_t *dst, const float *s, ptrdiff_t lines, ptrdiff_t width, ptrdiff_t ld,
                           const float *shift, float scale, float *sum, ptrdiff_t panel);
/// s[l][i] *= factor[i].
void sepme_scale_columns(float *s, ptrdiff_t lines, ptrdiff_t width, ptrdiff_t ld, const float *factor);
/// g[i] = p[i] * (g[i] - delta) in place (softmax backward on one row).
void sepme_softmax_gradient(float *g, const float *p, ptrdiff_t n, float delta);
/// out[i] = hidden[i] · gelu(gate[i]), gelu(x) = x Φ(x) (exact erf form, Φ to ≤ 1e-7); hidden may be
/// NULL (plain GELU). out may alias gate.
void sepme_gated_gelu(float *out, const float *hidden, const float *gate, ptrdiff_t n);
/// Backward of sepme_gated_gelu for the incoming gradient g: d_hidden[i] = g[i] · gelu(gate[i])
/// (skipped when d_hidden is NULL), d_gate[i] = g[i] · hidden[i] · (Φ + x φ)(gate[i]) (hidden NULL: 1).
void sepme_gated_gelu_backward(float *d_hidden, float *d_gate, const float *hidden, const float *gate,
                               const float *g, ptrdiff_t n);
/// out[i] = x[i] σ(x[i]) (SiLU); out may alias x.
void sepme_silu(float *out, const float *x, ptrdiff_t n);
/// dx[i] = g[i] σ(x[i]) (1 + x[i] (1 − σ(x[i]))), the SiLU backward; dx may alias g.
void sepme_silu_backward(float *dx, const float *x, const float *g, ptrdiff_t n);
/// out[i] = x[i] / (1 + e^(−1.702 x[i])), CLIP's quick GELU, with e^t computed as glibc's expf computes it
/// (libm_exp_rows.c): the bits of `x / (1.f + expf(-1.702f * x))` with glibc ≥ 2.28 on a CPU with FMA, on
/// every path. out may alias x.
void sepme_quick_gelu(float *out, const float *x, ptrdiff_t n);
/// y = softmax(x) over one row of n values as `Tensor.softmax` computes it in Swift (m the row maximum,
/// y[j] = expf(x[j] − m) summed in order, then each times 1 / sum), e^t with libm's expf bits as above. y
/// may not alias x.
void sepme_softmax_libm_row(float *y, const float *x, ptrdiff_t n);
/// Statistics of one normalisation row (torch's layer_norm / group_norm): mean = Σx / n and
/// rstd = 1 / sqrt(Σ(x − mean)² / n + eps), both sums in double, rounded to float at the end.
void sepme_norm_statistics(const float *x, ptrdiff_t n, float eps, float *mean, float *rstd);
/// out[i] = ((x[i] − mean) · rstd) · scale + shift; out may alias x.
void sepme_norm_apply(float *out, const float *x, ptrdiff_t n, float mean, float rstd, float scale, float shift);
/// out[i] = ((x[i] − mean) · rstd) · w[i] + b[i] (w NULL: 1, b NULL: 0), LayerNorm's per-element affine.
void sepme_norm_apply_row(float *out, const float *x, ptrdiff_t n, float mean, float rstd, const float *w,
                          const float *b);
/// 1 when the CPU has AVX-512F, which `sepme_attention_rows` needs.
int sepme_attention_rows_available(void);
/// One head's attention for `rows` query rows against lk <= 128 keys, fused (attention_rows.c):
/// out = softmax(scale q kT) v, lse = the rows' log-sum-exp, and, when `probabilities` is not NULL, the
/// softmax itself. q: [rows, d], kT: [d, lk], v: [lk, dv], out: [rows, dv], lse: [rows],
/// probabilities: [rows, lk]. The general path's bits while the row kernels run their AVX2 / AVX-512F
/// versions. Returns 0, or -1 (nothing written) without AVX-512F or for sizes out of range.
int sepme_attention_rows(const float *q, const float *kT, const float *v, ptrdiff_t rows, ptrdiff_t d, ptrdiff_t lk,
                         ptrdiff_t dv, float scale, float *out, float *lse, float *probabilities);
/// One head's attention for `rows` query rows against any number of keys, in key tiles of `key_block`
/// <= 512 with an online softmax, fused (attention_tiles.c): out = softmax(scale q kT) v and lse, as
/// `AttentionKernel.forwardBlock` computes them with sepme's AVX-512F SGEMM, bit for bit, while the row
/// kernels run their AVX2 / AVX-512F versions. q: [rows, d], kT: Kᵀ in panels of 16 keys,
/// [⌈lk / 16⌉][d][16] (key j, column l at kT[(j / 16) 16 d + 16 l + j mod 16]), v: [lk, dv], out:
/// [rows, dv], lse: [rows]. Returns 0, or -1 (nothing written) without AVX-512F or for sizes out of
/// range (d > 256; key_block not a multiple of 16 with more than one tile).
int sepme_attention_tiles(const float *q, const float *kT, const float *v, ptrdiff_t rows, ptrdiff_t d, ptrdiff_t lk,
                          ptrdiff_t dv, ptrdiff_t key_block, float scale, float *out, float *lse);
/// The backward of one block of `rows` query rows against one key tile of `cols` <= 512 keys, fused
/// (attention_tiles.c), with `AttentionKernel.backwardHead`'s bits: p = e^(scale q kTᵀ − lse), dss =
/// scale · p ∘ (dOut vTᵀ − delta), and, when dq is not NULL, dq = dss k (stored when `first`, else
/// added). q: [rows, d], kT and vT: the tile's panels of 16 keys ([⌈cols / 16⌉][d][16] and
/// [⌈cols / 16⌉][dv][16], as `sepme_attention_tiles` reads Kᵀ), k: [cols, d], dout: [rows, dv], lse,
/// delta: [rows], p, dss: [rows, cols], dq: [rows, d]. Returns 0, or -1 (nothing written) without
/// AVX-512F or for sizes out of range (d or dv > 256).
int sepme_attention_tiles_backward(const float *q, const float *kT, const float *k, const float *vT, const float *dout,
                                   const float *lse, const float *delta, ptrdiff_t rows, ptrdiff_t d, ptrdiff_t cols,
                                   ptrdiff_t dv, float scale, float *p, float *dss, float *dq, int first);
/// The backward rows of one head's short-key attention from the forward's probabilities, fused
/// (attention_rows.c): dss = scale · P ∘ (dOut vTᵀ − rowsum(dOut ∘ out)) and, when dq is not NULL,
/// dq = dss k. dout, out: [rows, dv], p: [rows, lk], vT: [dv, lk], k: [lk, d], dss: [rows, lk],
/// dq: [rows, d]. The general path's bits; returns 0, or -1 (nothing written) as sepme_attention_rows.
int sepme_attention_rows_backward(const float *dout, const float *out, const float *p, const float *vT, const float *k,
                                  ptrdiff_t rows, ptrdiff_t d, ptrdiff_t lk, ptrdiff_t dv, float scale, float *dss,
                                  float *dq);
/// c += aᵀ b over rows <= 256 (one SGEMM slice) for the first `keys` columns of a: the key gradients
/// of the backward rows (dV += Pᵀ dOut, dK += dssᵀ q) with the SGEMM's bits. a: [rows, lda],
/// b: [rows, n], c: [keys, n]. Returns 0, or -1 (nothing written) without AVX-512F or out of range.
int sepme_attention_rows_accumulate(const float *a, ptrdiff_t lda, const float *b, ptrdiff_t rows, ptrdiff_t keys,
                                    ptrdiff_t n, float *c);
/// 1 when the AVX2 + FMA versions are in use.
int sepme_vector_math_uses_avx2(void);
/// Tests: use (enabled = 1, honoured only where the CPU has AVX2 + FMA) or avoid (0) the AVX2
/// versions; returns the previous setting. Not for use while kernels run on other threads.
int sepme_vector_math_set_avx2(int enabled);
/// 1 when the AVX-512F exponential rows are in use (only together with the AVX2 versions).
int sepme_vector_math_uses_avx512(void);
/// Tests: use (1, where the CPU has AVX-512F) or avoid (0) the AVX-512F exponential rows; returns the
/// previous setting. Not for use while kernels run on other threads.
int sepme_vector_math_set_avx512(int enabled);

#endif
