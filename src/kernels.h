/* The kernel layer: every numeric primitive the model code uses (matrix products, 1-D
 * convolutions, transposed convolutions, the LSTM recurrence, activations, norms). Model code
 * (seanet.c, rvq.c, ...) calls these and never reimplements them, so that ISA-specific paths
 * can later be slotted in here alone. Tensors are planar [channels][time], row-major float32. */
#ifndef ECL_KERNELS_H
#define ECL_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "encodec.h"
#include "util.h"

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

/* The A operand of the matrix product, A^T of K rows (k) by M columns (m), stored as float32
 * (f32) or as IEEE float16 bits (f16, widened exactly in the kernels: the products are those
 * of float32 weights with the same values, at half the memory traffic); exactly one of the two
 * is set. Element (k, m) lies at (m / ECL_PANEL) * panel_stride + k * k_stride + m % ECL_PANEL,
 * which describes two layouts:
 *   rows    [K][ld] (k_stride = ld, panel_stride = ECL_PANEL): ecl_amat_rows();
 *   panels  ECL_PANEL columns of every row k, one panel after the other (k_stride = ECL_PANEL,
 *           panel_stride = ECL_PANEL * K, M rounded up with zeros): ecl_k_to_panels().
 * Weights use panels: a tile reads each panel as one sequential stream, which the hardware
 * prefetches, whereas the rows of the other layout lie a page or more apart (read a frame at
 * a time from memory, panels go 2.6x faster). A vector of any kernel path lies in one panel. */
#define ECL_PANEL 16
typedef struct ecl_amat {
    const float *f32;
    const uint16_t *f16;
    size_t k_stride, panel_stride;
} ecl_amat;

static inline ecl_amat ecl_amat_rows(const float *p, int ld)
{
    const ecl_amat a = {p, NULL, (size_t)ld, ECL_PANEL};
    return a;
}

static inline size_t ecl_amat_index(const ecl_amat *a, int k, int m)
{
    return (size_t)(m / ECL_PANEL) * a->panel_stride + (size_t)k * a->k_stride +
           (size_t)(m % ECL_PANEL);
}

/* Floats of an M x K matrix laid out in panels. */
static inline size_t ecl_panels_size(int M, int K)
{
    return (size_t)(M + ECL_PANEL - 1) / ECL_PANEL * ECL_PANEL * (size_t)K;
}

/* Element (k, m) of A, widened. */
static inline float ecl_amat_get(const ecl_amat *a, int k, int m)
{
    const size_t i = ecl_amat_index(a, k, m);
    return a->f16 ? ecl_half_to_float(a->f16[i]) : a->f32[i];
}

/* The panel layout (ecl_panels_size(M, K) floats out, padding zero) of the K x M matrix whose
 * element (k, m) is w[k * k_step + m * m_step]: k_step = M, m_step = 1 for A^T given as
 * [K][M]; k_step = 1, m_step = K for a weight as its file stores it, [M][K]. */
void ecl_k_to_panels(const float *w, int K, int M, size_t k_step, size_t m_step, float *panels);

/* An M x K matrix in panels at p (f32) or h (f16, the other NULL). */
static inline ecl_amat ecl_amat_panels(const float *p, const uint16_t *h, int K)
{
    const ecl_amat a = {p, h, ECL_PANEL, (size_t)ECL_PANEL * (size_t)K};
    return a;
}

/* The same layout from element `offset` on (the next of matrices stored one after the other). */
static inline ecl_amat ecl_amat_at(ecl_amat a, size_t offset)
{
    a.f32 = a.f32 ? a.f32 + offset : NULL;
    a.f16 = a.f16 ? a.f16 + offset : NULL;
    return a;
}

/* C[m][n] = (bias ? bias[m] : 0) + sum_k A(k, m) * B[k][n] for m < M, n < N, the sum taken in
 * increasing k for every element (so any tiling, chunking, layout or thread count gives the
 * same bits). B is given as K row pointers, each to at least N contiguous floats, so that
 * shifted or phase-split views of a signal serve as rows without copying. OpenMP over tiles
 * of C. */
void ecl_k_gemm_rows(int M, int N, int K, ecl_amat a, const float *const *B, const float *bias,
                     float *C, int ldc, const ecl_exec *ex);

/* A float32 matrix of n values as float16 (round to nearest even); returns 0 if a value is
 * beyond the float16 range (the caller then keeps float32). */
int ecl_k_to_half(const float *src, size_t n, uint16_t *dst);

/* Scratch (in floats, and row pointers) that ecl_k_conv1d needs. */
size_t ecl_k_conv1d_scratch_floats(int c_in, int len_in, int stride);
size_t ecl_k_conv1d_scratch_ptrs(int c_in, int kernel);

/* y[o][t] = bias[o] + sum_i sum_j w[o][i][j] * x[i][t*stride + j*dilation], t < t_out.
 * x: [c_in][x_stride] already padded (needs (t_out-1)*stride + (k-1)*dilation + 1 samples);
 * w: the weights as A^T, [c_in * k][c_out] (any layout); y: [c_out][t_out]. */
void ecl_k_conv1d(const float *x, int c_in, int x_len, int x_stride, ecl_amat w,
                  const float *bias, int c_out, int kernel, int stride, int dilation,
                  float *y, int t_out, float *scratch, const float **ptrs, const ecl_exec *ex);

/* Weights of a transposed conv re-laid for the polyphase form, `stride` matrices of K =
 * c_in * taps rows by c_out, each in panels (ecl_panels_size(c_out, K) floats, one after the
 * other): phase r holds (k = i * taps + q, o) = w[i][o][r + q*stride] (zero where r + q*stride
 * >= kernel), q < ecl_k_convtr_taps(). */
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
