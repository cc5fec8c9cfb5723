/* The kernel layer: every numeric primitive the model code uses (matrix products, 1-D
 * convolutions, transposed convolutions, the LSTM recurrence, activations, norms). Model code
 * (seanet.c, rvq.c, ...) calls these and never reimplements them, so that ISA-specific paths
 * can later be slotted in here alone. Tensors are planar [channels][time], row-major float32. */
#ifndef ECL_KERNELS_H
#define ECL_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "encodec.h"

/* How a kernel call runs: the instruction-set path (never ENCODEC_KERNELS_AUTO here) and the
 * number of OpenMP threads. The portable C path is the specification; a SIMD path computes
 * every element with the same summation order but fused multiply-adds (and its own exp), so
 * it agrees with the portable path to rounding, and with itself bit for bit whatever the
 * chunking or thread count. */
typedef struct ecl_exec {
    encodec_kernels isa;
    int n_threads;
} ecl_exec;

/* Whether a loop of `work` units goes to OpenMP threads (more than one thread and at least
 * `min_work`). Loops that stay on one thread must not enter an OpenMP region at all: a region
 * serialised by an if clause still makes libgomp allocate a team, on every call. */
#ifdef _OPENMP
#define ECL_PARALLEL(n_threads, work, min_work) ((n_threads) > 1 && (work) >= (min_work))
#else
#define ECL_PARALLEL(n_threads, work, min_work) ((void)(n_threads), (void)(work), 0)
#endif

/* Whether a path is compiled in and the CPU (and OS) support it. */
int ecl_isa_supported(encodec_kernels isa);
/* The fastest supported path; ENCODEC_KERNELS in the environment may name another. */
encodec_kernels ecl_isa_default(void);

/* A weight matrix stored as float32 (f32) or as IEEE float16 bits (f16, widened exactly in the
 * kernels: the products are those of float32 weights with the same values, at half the memory
 * traffic). Exactly one of the two is set. */
typedef struct ecl_amat {
    const float *f32;
    const uint16_t *f16;
} ecl_amat;

static inline ecl_amat ecl_amat_f32(const float *p)
{
    const ecl_amat a = {p, NULL};
    return a;
}

/* The matrix from element `offset` on. */
static inline ecl_amat ecl_amat_at(ecl_amat a, size_t offset)
{
    const ecl_amat r = {a.f32 ? a.f32 + offset : NULL, a.f16 ? a.f16 + offset : NULL};
    return r;
}

/* C[m][n] = (bias ? bias[m] : 0) + sum_k At[k*ldat + m] * B[k][n] for m < M, n < N, the sum
 * taken in increasing k for every element (so any tiling, chunking or thread count gives the
 * same bits). A is given transposed ([K][ldat]) so that both wide (whole-signal) and narrow
 * (frame-by-frame) tiles read it contiguously. B is given as K row pointers, each to at least
 * N contiguous floats, so that shifted or phase-split views of a signal serve as rows without
 * copying. OpenMP over tiles of C. */
void ecl_k_gemm_rows(int M, int N, int K, ecl_amat at, int ldat, const float *const *B,
                     const float *bias, float *C, int ldc, const ecl_exec *ex);

/* at[c][r] = a[r][c] for a [rows][cols]. */
void ecl_k_transpose(const float *a, int rows, int cols, float *at);

/* A float32 matrix of n values as float16 (round to nearest even); returns 0 if a value is
 * beyond the float16 range (the caller then keeps float32). */
int ecl_k_to_half(const float *src, size_t n, uint16_t *dst);

/* Scratch (in floats, and row pointers) that ecl_k_conv1d needs. */
size_t ecl_k_conv1d_scratch_floats(int c_in, int len_in, int stride);
size_t ecl_k_conv1d_scratch_ptrs(int c_in, int kernel);

/* y[o][t] = bias[o] + sum_i sum_j w[o][i][j] * x[i][t*stride + j*dilation], t < t_out.
 * x: [c_in][x_stride] already padded (needs (t_out-1)*stride + (k-1)*dilation + 1 samples);
 * w: transposed weights [c_in * k][c_out] (ecl_k_transpose of [c_out][c_in * k]);
 * y: [c_out][t_out]. */
void ecl_k_conv1d(const float *x, int c_in, int x_len, int x_stride, ecl_amat w,
                  const float *bias, int c_out, int kernel, int stride, int dilation,
                  float *y, int t_out, float *scratch, const float **ptrs, const ecl_exec *ex);

/* Weights of a transposed conv re-laid for the polyphase form: w_phase[r][i][q][o] =
 * w[i][o][r + q*stride] (zero where r + q*stride >= kernel), q < ecl_k_convtr_taps(). */
int ecl_k_convtr_taps(int kernel, int stride);
void ecl_k_convtr_relayout(const float *w, int c_in, int c_out, int kernel, int stride,
                           float *w_phase);
/* Transposed convolution for n input frames given with their history: frame u (0 <= u < n)
 * produces output columns u*stride + r (r < stride) of
 *   y[o][.] = bias[o] + sum_i sum_q w[i][o][r + q*stride] * x[i][u - q],
 * where x[i][v] (v >= -(taps-1)) is read at xh[i*x_stride + (taps-1) + v]. Output phases are
 * computed separately, so there are no scattered accumulations. y: [c_out][y_stride].
 * scratch: c_out * n floats; ptrs: c_in * taps. */
void ecl_k_convtr1d(const float *xh, int c_in, int x_stride, int n, ecl_amat w_phase,
                    const float *bias, int c_out, int kernel, int stride, float *y, int y_stride,
                    float *scratch, const float **ptrs, const ecl_exec *ex);

/* One LSTM step for a batch-projected input: z = zx (precomputed W_ih x + b_ih + b_hh, [4H]) +
 * W_hh h, with W_hh given transposed ([H][4H]); gates i, f, g, o in PyTorch order; updates
 * h and c ([H]) in place. z_tmp: [4H]; ptrs: H. */
void ecl_k_lstm_step(int hidden, const float *zx, ecl_amat w_hh_t, float *h, float *c,
                     float *z_tmp, const float **ptrs, const ecl_exec *ex);

/* dst = ELU(src) with alpha: x > 0 ? x : alpha * (exp(x) - 1), for n columns of `rows` rows
 * (row strides given); dst may equal src. OpenMP over rows. */
void ecl_k_elu(const float *src, size_t src_stride, float *dst, size_t dst_stride, int rows,
               size_t n, float alpha, const ecl_exec *ex);

/* out = a + b element-wise for n columns of `rows` rows, all with row stride `stride`.
 * OpenMP over rows. */
void ecl_k_add(const float *a, const float *b, float *out, size_t stride, int rows, size_t n,
               const ecl_exec *ex);

/* Row r of dst = row r of src (n floats; a row may overlap its own source, as memmove), for
 * `rows` rows with the given row strides. OpenMP over rows. */
void ecl_k_move_rows(float *dst, size_t dst_stride, const float *src, size_t src_stride,
                     int rows, size_t n, const ecl_exec *ex);

/* GroupNorm with one group over x [channels][stride] (len columns used):
 * (x - mean) / sqrt(var + eps) * gamma[c] + beta[c], statistics accumulated in double. */
void ecl_k_group_norm1(float *x, int channels, int len, int stride, const float *gamma,
                       const float *beta, float eps);

#endif
