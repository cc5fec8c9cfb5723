/* Deterministic float32 transcendental functions for everything that feeds the entropy coder's
 * CDFs (the language model): exp, erf, GELU, sin, cos and the positional-embedding power
 * 10000^e. libm results may differ by an ulp between platforms and library versions, which
 * would change quantised CDFs and make LM-coded streams undecodable elsewhere, so these are our
 * own implementations built only from IEEE-754 binary64 +, -, *, / and exact conversions, each
 * evaluated in a fixed order (no FMA contraction: this file must be compiled with
 * -ffp-contract=off, which Clang is also told by the STDC pragma; no -ffast-math;
 * round-to-nearest and no flush-to-zero, the default floating-point environment). Results are
 * therefore bit-identical on any x86-64 or AArch64 machine, compiler, vector width and thread
 * count.
 *
 * Accuracy (each value is computed in double and rounded once to float). Measured exhaustively
 * over every float of the range against double-precision glibc rounded to float:
 *   ecl_det_expf   [-110, 89] (0 below, +inf above): <= 1 ulp, 2 of 2.2e9 inputs not
 *                  correctly rounded
 *   ecl_det_erff   all floats: correctly rounded (erf = +-1 for |x| >= 4)
 *   ecl_det_sinf / ecl_det_cosf  |x| <= ECL_DET_TRIG_MAX (2^28): correctly rounded; NaN beyond
 *   ecl_det_pow10000f  exponent in [0, 1] (10000^e): correctly rounded
 * tests/test_lm.c repeats these checks on a sample (1 ulp bound).
 * NaN in gives NaN out. */
#ifndef ECL_DETMATH_H
#define ECL_DETMATH_H

/* Largest |x| accepted by ecl_det_sinf/cosf: the argument reduction is exact up to here. */
#define ECL_DET_TRIG_MAX 268435456.0f

float ecl_det_expf(float x);
/* y[i] = ecl_det_expf(x[i]) for i < n, several at a time (y may equal x). */
void ecl_det_expf_n(const float *x, float *y, int n);
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define ECL_DET_HAVE_AVX2 1
void ecl_det_expf_n_avx2(const float *x, float *y, int n); /* only where the CPU has AVX2 */
#endif
float ecl_det_erff(float x);
float ecl_det_sinf(float x);
float ecl_det_cosf(float x);
/* 10000^e for e in [0, 1] (the positional embedding's frequencies). */
float ecl_det_pow10000f(float e);
/* PyTorch's exact-erf GELU with its float32 operation order:
 * (x * 0.5f) * (1.0f + erf(x * (float)M_SQRT1_2)). */
float ecl_det_gelu(float x);

#endif
