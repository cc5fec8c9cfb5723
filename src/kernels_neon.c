/* NEON (Advanced SIMD) kernels for aarch64, where NEON is part of the base architecture. */
#include <arm_neon.h>

#define VEC float32x4_t
#define VW 4
#define V_LOADU(p) vld1q_f32(p)
#define V_STOREU(p, v) vst1q_f32(p, v)
#define V_LOADH(p) vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p))) /* float16, exact */
#define V_SET1(x) vdupq_n_f32(x)
#define V_ZERO() vdupq_n_f32(0.0f)
#define V_ADD(a, b) vaddq_f32(a, b)
#define V_SUB(a, b) vsubq_f32(a, b)
#define V_MUL(a, b) vmulq_f32(a, b)
#define V_FMA(a, b, c) vfmaq_f32(c, a, b) /* c + a*b, one rounding */
#define V_DIV(a, b) vdivq_f32(a, b)
#define V_MAX(a, b) vmaxq_f32(a, b)
#define V_FLOOR(a) vrndmq_f32(a)
#define V_SELECT_POS(x, y) vbslq_f32(vcgtq_f32(x, vdupq_n_f32(0.0f)), x, y)
#define V_SELECT_NEG(x, a, b) vbslq_f32(vcltq_f32(x, vdupq_n_f32(0.0f)), a, b)
#define V_POW2I(n)                                                                           \
    vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(n), vdupq_n_s32(127)), 23))

#define MV_WIDE 4 /* 16 rows x 6 columns: 24 accumulators of the 32 registers */
#define NR_WIDE 6
#define MV_TALL 8 /* 32 rows x 2 columns */
#define NR_TALL 2
#define ISA_SUFFIX _neon

#include "kernels_simd.h"
