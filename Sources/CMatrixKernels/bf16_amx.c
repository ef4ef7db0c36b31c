// The AMX-BF16 path of the BF16 product (tdpbf16ps on 16 x 16 fp32 tiles), for CPUs with AMX whose kernel
// grants the process the tile data state (Linux arch_prctl ARCH_REQ_XCOMP_PERM, asked once at load).
// It reads the same packed operands as the other paths: a right panel's 16 pair rows x 16 columns are a B
// tile as they lie (row stride NR words); the rows of the left panels are gathered, per block of 32 rows,
// into A tiles (16 rows x 16 pairs). Eight tiles: C = 2 x 2 tiles (32 rows x 32 columns), two A, two B.
// The tile unit sums each pair of products in its own order, so results differ from the other paths in
// the last bits; they obey the same summation bound. The k range is cut into slices of KC_PAIRS pairs so
// that a slice of the right operand stays in L2 while the row blocks pass over it; each slice's sums start
// from 0 and are added to C (the first slice overwrites C unless accumulating).
#include "bf16_internal.h"

#include <stdlib.h>
#include <string.h>

#define MR SEPME_BF16_MR
#define NR SEPME_BF16_NR
#define KC_PAIRS 256

#if defined(__x86_64__) && defined(__linux__) && (defined(__clang__) || defined(__GNUC__))
#include <cpuid.h>
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>

#define AMX __attribute__((target("amx-tile,amx-bf16")))

static int amx_ready;
__attribute__((constructor)) static void request_amx(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return;
    int has_tile = (d >> 24) & 1, has_bf16 = (d >> 22) & 1;
    if (!has_tile || !has_bf16) return;
    // ARCH_REQ_XCOMP_PERM (0x1023) for XFEATURE_XTILEDATA (18).
    amx_ready = syscall(SYS_arch_prctl, 0x1023, 18) == 0;
}

int sepme_bf16_amx_available(void) { return amx_ready; }

struct tile_config {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
};

AMX void sepme_amx_load_full_tiles(void) {
    struct tile_config config;
    memset(&config, 0, sizeof config);
    config.palette = 1;
    for (int t = 0; t < 8; t++) {
        config.colsb[t] = 64;
        config.rows[t] = 16;
    }
    _tile_loadconfig(&config);
}

// Left rows [r0, r0 + 32) (rows >= m read as zero), pair words [q0, q0 + count16) (pairs >= kp read as
// zero), as A tiles: block kb, tile t holds rows r0 + 16 t ... at a[(kb * 2 + t) * 256 + row * 16 + word].
static void gather_left(uint32_t *a, const uint32_t *left, ptrdiff_t m, ptrdiff_t kp, ptrdiff_t q0, ptrdiff_t count16,
                        ptrdiff_t r0) {
    for (int t = 0; t < 2; t++) {
        for (int row = 0; row < 16; row++) {
            ptrdiff_t r = r0 + 16 * t + row;
            const uint32_t *line = r < m ? left + (r / MR) * kp * MR + r % MR : NULL;
            for (ptrdiff_t q = 0; q < count16; q++) {
                uint32_t w = line && q0 + q < kp ? line[(q0 + q) * MR] : 0;
                a[((q / 16) * 2 + t) * 256 + row * 16 + q % 16] = w;
            }
        }
    }
}

AMX void sepme_bf16_gemm_amx(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const uint16_t *left_packed,
                             const uint16_t *right_packed, float *c, ptrdiff_t ldc, int accumulate, ptrdiff_t row_begin,
                             ptrdiff_t row_end, ptrdiff_t column_panel_begin, ptrdiff_t column_panel_end) {
    const uint32_t *left = (const uint32_t *)(const void *)left_packed;
    const uint32_t *right = (const uint32_t *)(const void *)right_packed;
    ptrdiff_t kp = sepme_bf16_pairs(k);
    ptrdiff_t slice16 = kp < KC_PAIRS ? (kp + 15) / 16 * 16 : KC_PAIRS;
    uint32_t *a = aligned_alloc(64, (size_t)(slice16 > 0 ? slice16 / 16 : 1) * 512 * sizeof(uint32_t));
    if (!a) return;
    _Alignas(64) uint32_t tail[2][256];  // the last, partial block of pair rows of a B tile, zero-padded
    _Alignas(64) float out[32][32];
    sepme_amx_load_full_tiles();
    ptrdiff_t q0 = 0;
    do {  // at least once: k = 0 still writes C
        ptrdiff_t qc = kp - q0 < KC_PAIRS ? kp - q0 : KC_PAIRS;
        ptrdiff_t blocks = (qc + 15) / 16;
        int add = accumulate || q0 > 0;
        for (ptrdiff_t r0 = row_begin; r0 < row_end; r0 += 32) {
            gather_left(a, left, row_end < m ? row_end : m, kp, q0, blocks * 16, r0);
            for (ptrdiff_t jp = column_panel_begin; jp < column_panel_end; jp++) {
                const uint32_t *panel = right + jp * kp * NR + q0 * NR;
                _tile_zero(0);
                _tile_zero(1);
                _tile_zero(2);
                _tile_zero(3);
                for (ptrdiff_t kb = 0; kb < blocks; kb++) {
                    const uint32_t *a0 = a + kb * 512, *a1 = a0 + 256;
                    _tile_loadd(4, a0, 64);
                    _tile_loadd(5, a1, 64);
                    ptrdiff_t live = qc - kb * 16 < 16 ? qc - kb * 16 : 16;
                    if (live == 16) {
                        _tile_loadd(6, panel + kb * 16 * NR, NR * 4);
                        _tile_loadd(7, panel + kb * 16 * NR + 16, NR * 4);
                    } else {
                        memset(tail, 0, sizeof tail);
                        for (ptrdiff_t q = 0; q < live; q++) {
                            memcpy(tail[0] + q * 16, panel + (kb * 16 + q) * NR, 64);
                            memcpy(tail[1] + q * 16, panel + (kb * 16 + q) * NR + 16, 64);
                        }
                        _tile_loadd(6, tail[0], 64);
                        _tile_loadd(7, tail[1], 64);
                    }
                    _tile_dpbf16ps(0, 4, 6);
                    _tile_dpbf16ps(1, 4, 7);
                    _tile_dpbf16ps(2, 5, 6);
                    _tile_dpbf16ps(3, 5, 7);
                }
                _tile_stored(0, &out[0][0], 128);
                _tile_stored(1, &out[0][16], 128);
                _tile_stored(2, &out[16][0], 128);
                _tile_stored(3, &out[16][16], 128);
                ptrdiff_t rows = row_end - r0 < 32 ? row_end - r0 : 32;
                ptrdiff_t cols = n - jp * NR < NR ? n - jp * NR : NR;
                for (ptrdiff_t i = 0; i < rows; i++) {
                    float *dst = c + (r0 + i) * ldc + jp * NR;
                    if (add) {
                        for (ptrdiff_t j = 0; j < cols; j++) dst[j] += out[i][j];
                    } else {
                        memcpy(dst, out[i], (size_t)cols * sizeof(float));
                    }
                }
            }
        }
        q0 += qc;
    } while (q0 < kp);
    _tile_release();
    free(a);
}
#else
int sepme_bf16_amx_available(void) { return 0; }
void sepme_amx_load_full_tiles(void) {}
void sepme_bf16_gemm_amx(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const uint16_t *left_packed,
                         const uint16_t *right_packed, float *c, ptrdiff_t ldc, int accumulate, ptrdiff_t row_begin,
                         ptrdiff_t row_end, ptrdiff_t column_panel_begin, ptrdiff_t column_panel_end) {
    (void)m, (void)n, (void)k, (void)left_packed, (void)right_packed, (void)c, (void)ldc, (void)accumulate;
    (void)row_begin, (void)row_end, (void)column_panel_begin, (void)column_panel_end;
}
#endif
