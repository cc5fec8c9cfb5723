/* AVX2 + FMA + F16C kernels (x86-64; this file is built with -mavx2 -mfma -mf16c and only called after
 * run-time detection). */
#include <immintrin.h>

static inline __m256 load_half8(const unsigned short *p)
{
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)p));
}

#define VEC __m256
#define VW 8
#define V_LOADU(p) _mm256_loadu_ps(p)
#define V_STOREU(p, v) _mm256_storeu_ps(p, v)
#define V_LOADH(p) load_half8(p)
#define V_SET1(x) _mm256_set1_ps(x)
#define V_ZERO() _mm256_setzero_ps()
#define V_ADD(a, b) _mm256_add_ps(a, b)
#define V_SUB(a, b) _mm256_sub_ps(a, b)
#define V_MUL(a, b) _mm256_mul_ps(a, b)
#define V_FMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define V_DIV(a, b) _mm256_div_ps(a, b)
#define V_MAX(a, b) _mm256_max_ps(a, b)
#define V_FLOOR(a) _mm256_floor_ps(a)
#define V_SELECT_POS(x, y) _mm256_blendv_ps(y, x, _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_GT_OQ))
#define V_SELECT_NEG(x, a, b)                                                                \
    _mm256_blendv_ps(b, a, _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LT_OQ))
#define V_POW2I(n)                                                                           \
    _mm256_castsi256_ps(_mm256_slli_epi32(                                                   \
        _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23))

#define MV_WIDE 2 /* 16 rows x 6 columns: 12 accumulators of the 16 registers */
#define NR_WIDE 6
#define MV_MID 3 /* 24 rows x 4 columns, for 3 to 8 columns */
#define NR_MID 4
#define MV_TALL 6 /* 48 rows x 2 columns */
#define COL_MR 4 /* column tiles: 4 rows x 24 columns */
#define COL_NV 3
#define NR_TALL 2
#define ISA_SUFFIX _avx2

#include "kernels_simd.h"
