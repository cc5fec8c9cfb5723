/* AVX-512F kernels (x86-64; this file is built with -mavx512f -mfma and only called after
 * run-time detection). */
#include <immintrin.h>

#define VEC __m512
#define VW 16
#define V_LOADU(p) _mm512_loadu_ps(p)
#define V_STOREU(p, v) _mm512_storeu_ps(p, v)
#define V_LOADH(p) _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)(p)))
#define V_SET1(x) _mm512_set1_ps(x)
#define V_ZERO() _mm512_setzero_ps()
#define V_ADD(a, b) _mm512_add_ps(a, b)
#define V_SUB(a, b) _mm512_sub_ps(a, b)
#define V_MUL(a, b) _mm512_mul_ps(a, b)
#define V_FMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define V_DIV(a, b) _mm512_div_ps(a, b)
#define V_MAX(a, b) _mm512_max_ps(a, b)
#define V_FLOOR(a) _mm512_roundscale_ps(a, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC)
#define V_SELECT_POS(x, y)                                                                   \
    _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_GT_OQ), y, x)
#define V_SELECT_NEG(x, a, b)                                                                \
    _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ), b, a)
#define V_POW2I(n)                                                                           \
    _mm512_castsi512_ps(_mm512_slli_epi32(                                                   \
        _mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23))

#define MV_WIDE 2 /* 32 rows x 12 columns: 24 accumulators of the 32 registers */
#define NR_WIDE 12
#define MV_MID 3 /* 48 rows x 8 columns, for 3 to 16 columns */
#define NR_MID 8
#define MV_TALL 6 /* 96 rows x 2 columns */
#define NR_TALL 2
#define ISA_SUFFIX _avx512

#include "kernels_simd.h"
