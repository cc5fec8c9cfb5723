/* Entry points of the per-ISA kernel files (kernels_avx2.c, kernels_avx512.c,
 * kernels_neon.c); kernels.c dispatches to them. Same contracts as the portable kernels in
 * kernels.h. */
#ifndef ECL_KERNELS_ISA_H
#define ECL_KERNELS_ISA_H

#include <stddef.h>
#include <stdint.h>

#include "kernels.h"

#define ECL_DECLARE_ISA(suffix)                                                              \
    void ecl_k_gemm_rows##suffix(int M, int N, int K, const ecl_amat *a,                     \
                                 const float *const *B, const float *bias, float *C,         \
                                 int ldc, int n_threads);                                    \
    void ecl_k_elu##suffix(const float *src, float *dst, size_t n, float alpha);             \
    void ecl_k_lstm_cell##suffix(int hidden, const float *zx, const float *zh, float *h,     \
                                 float *c);

ECL_DECLARE_ISA(_avx2)
ECL_DECLARE_ISA(_avx512)
ECL_DECLARE_ISA(_neon)

#endif
