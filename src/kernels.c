/* Portable C kernels (the reference path): a register-blocked matrix product over row
 * pointers, convolutions expressed through it, the LSTM recurrence and activations. Every
 * output element is computed by exactly one thread in a fixed order, so results do not depend
 * on the thread count. */
#include "kernels.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels_isa.h"
#include "util.h"

#ifdef _OPENMP
#include <omp.h>
#endif

#define MB 32 /* rows of C per tile (the vectorised dimension) */
#define NB 8  /* most columns of C per tile */

/* Every element of C is bias + sum over k in increasing order of a*b (separate multiply and
 * add), whatever the tile shape, so results do not depend on chunk sizes or thread counts:
 * streaming and whole-signal processing give the same bits. */

/* MB x nb tile (nb <= NB): broadcast B, vectorise over the rows of A^T. */
static void tile_full(int nb, int K, const ecl_amat *at, const float *const *B, int n0,
                      const float *bias, int m0, float *C, int ldc)
{
    float acc[NB][MB], a[MB];
    for (int c = 0; c < nb; c++)
        for (int r = 0; r < MB; r++)
            acc[c][r] = bias ? bias[m0 + r] : 0.0f;
    for (int k = 0; k < K; k++) {
        for (int p = 0; p < MB; p += ECL_PANEL) { /* MB rows: whole panels */
            const size_t i = ecl_amat_index(at, k, m0 + p);
            for (int r = 0; r < ECL_PANEL; r++)
                a[p + r] = at->f16 ? ecl_half_to_float(at->f16[i + r]) : at->f32[i + r];
        }
        for (int c = 0; c < nb; c++) {
            const float b = B[k][n0 + c];
            for (int r = 0; r < MB; r++)
                acc[c][r] += a[r] * b;
        }
    }
    for (int c = 0; c < nb; c++)
        for (int r = 0; r < MB; r++)
            C[(size_t)(m0 + r) * ldc + n0 + c] = acc[c][r];
}

/* Fewer than MB rows at the edge. */
static void tile_edge(int mb, int nb, int K, const ecl_amat *at, const float *const *B, int n0,
                      const float *bias, int m0, float *C, int ldc)
{
    for (int r = 0; r < mb; r++)
        for (int c = 0; c < nb; c++) {
            float acc = bias ? bias[m0 + r] : 0.0f;
            for (int k = 0; k < K; k++)
                acc += ecl_amat_get(at, k, m0 + r) * B[k][n0 + c];
            C[(size_t)(m0 + r) * ldc + n0 + c] = acc;
        }
}

const char *encodec_kernels_name(encodec_kernels kernels)
{
    switch (kernels) {
    case ENCODEC_KERNELS_AUTO: return "auto";
    case ENCODEC_KERNELS_PORTABLE: return "portable";
    case ENCODEC_KERNELS_AVX2: return "avx2";
    case ENCODEC_KERNELS_AVX512: return "avx512";
    case ENCODEC_KERNELS_NEON: return "neon";
    }
    return NULL;
}

int encodec_kernels_supported(encodec_kernels kernels)
{
    return kernels == ENCODEC_KERNELS_AUTO || ecl_isa_supported(kernels);
}

#if defined(ECL_HAVE_AVX2)
#include <cpuid.h>
/* CPUID leaf 1, ECX bit 29 (not every compiler's __builtin_cpu_supports knows "f16c"). */
static int cpu_has_f16c(void)
{
    unsigned a, b, c, d;
    return __get_cpuid(1, &a, &b, &c, &d) && (c >> 29 & 1);
}
#endif

int ecl_isa_supported(encodec_kernels isa)
{
    switch (isa) {
    case ENCODEC_KERNELS_PORTABLE: return 1;
#if defined(ECL_HAVE_AVX2)
    case ENCODEC_KERNELS_AVX2:
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
               cpu_has_f16c(); /* float16 weights */
#endif
#if defined(ECL_HAVE_AVX512)
    case ENCODEC_KERNELS_AVX512:
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma");
#endif
#if defined(ECL_HAVE_NEON)
    case ENCODEC_KERNELS_NEON: return 1; /* part of the aarch64 base architecture */
#endif
    default: return 0;
    }
}

encodec_kernels ecl_isa_default(void)
{
    const char *env = getenv("ENCODEC_KERNELS");
    if (env && *env) {
        for (int isa = ENCODEC_KERNELS_PORTABLE; isa <= ENCODEC_KERNELS_NEON; isa++)
            if (strcmp(env, encodec_kernels_name((encodec_kernels)isa)) == 0 &&
                ecl_isa_supported((encodec_kernels)isa))
                return (encodec_kernels)isa;
    }
    static const encodec_kernels best_first[] = {ENCODEC_KERNELS_AVX512, ENCODEC_KERNELS_AVX2,
                                                 ENCODEC_KERNELS_NEON};
    for (size_t i = 0; i < sizeof best_first / sizeof best_first[0]; i++)
        if (ecl_isa_supported(best_first[i]))
            return best_first[i];
    return ENCODEC_KERNELS_PORTABLE;
}

/* Tile number `tile` of C; row tiles innermost, so that consecutive tiles share a B panel. */
static inline void portable_tile(long tile, int m_tiles, int M, int N, int K,
                                 const ecl_amat *at, const float *const *B, const float *bias,
                                 float *C, int ldc)
{
    const int m0 = (int)(tile % m_tiles) * MB, n0 = (int)(tile / m_tiles) * NB;
    const int mb = M - m0 < MB ? M - m0 : MB, nb = N - n0 < NB ? N - n0 : NB;
    if (mb == MB)
        tile_full(nb, K, at, B, n0, bias, m0, C, ldc);
    else
        tile_edge(mb, nb, K, at, B, n0, bias, m0, C, ldc);
}

static void gemm_rows_portable(int M, int N, int K, const ecl_amat *at, const float *const *B,
                               const float *bias, float *C, int ldc, int n_threads)
{
    const int m_tiles = (M + MB - 1) / MB, n_tiles = (N + NB - 1) / NB;
    const long tiles = (long)m_tiles * n_tiles;
    if (ECL_PARALLEL(n_threads, (double)M * N * K, 2e5)) {
#pragma omp parallel for schedule(dynamic, 1) num_threads(n_threads)
        for (long tile = 0; tile < tiles; tile++)
            portable_tile(tile, m_tiles, M, N, K, at, B, bias, C, ldc);
    } else {
        for (long tile = 0; tile < tiles; tile++)
            portable_tile(tile, m_tiles, M, N, K, at, B, bias, C, ldc);
    }
}

void ecl_k_gemm_rows(int M, int N, int K, ecl_amat a, const float *const *B, const float *bias,
                     float *C, int ldc, const ecl_exec *ex)
{
    switch (ex->isa) {
#if defined(ECL_HAVE_AVX2)
    case ENCODEC_KERNELS_AVX2:
        ecl_k_gemm_rows_avx2(M, N, K, &a, B, bias, C, ldc, ex->n_threads);
        return;
#endif
#if defined(ECL_HAVE_AVX512)
    case ENCODEC_KERNELS_AVX512:
        ecl_k_gemm_rows_avx512(M, N, K, &a, B, bias, C, ldc, ex->n_threads);
        return;
#endif
#if defined(ECL_HAVE_NEON)
    case ENCODEC_KERNELS_NEON:
        ecl_k_gemm_rows_neon(M, N, K, &a, B, bias, C, ldc, ex->n_threads);
        return;
#endif
    default: gemm_rows_portable(M, N, K, &a, B, bias, C, ldc, ex->n_threads);
    }
}

void ecl_k_to_panels(const float *w, int K, int M, size_t k_step, size_t m_step, float *panels)
{
    const ecl_amat layout = ecl_amat_panels(panels, NULL, K);
    memset(panels, 0, ecl_panels_size(M, K) * sizeof *panels);
    for (int k = 0; k < K; k++)
        for (int m = 0; m < M; m++)
            panels[ecl_amat_index(&layout, k, m)] = w[(size_t)k * k_step + (size_t)m * m_step];
}

int ecl_k_to_half(const float *src, size_t n, uint16_t *dst)
{
    for (size_t i = 0; i < n; i++) {
        dst[i] = ecl_float_to_half(src[i]);
        if ((dst[i] & 0x7c00u) == 0x7c00u)
            return 0;
    }
    return 1;
}

size_t ecl_k_conv1d_scratch_floats(int c_in, int len_in, int stride)
{
    /* Phase-split copy of the input for strided convolutions (+ NB slack per row). */
    return stride > 1 ? (size_t)c_in * ((size_t)len_in + (size_t)stride * (NB + 1)) : 0;
}

size_t ecl_k_conv1d_scratch_ptrs(int c_in, int kernel) { return (size_t)c_in * kernel; }

void ecl_k_conv1d(const float *x, int c_in, int x_len, int x_stride, ecl_amat w,
                  const float *bias, int c_out, int kernel, int stride, int dilation,
                  float *y, int t_out, float *scratch, const float **ptrs, const ecl_exec *ex)
{
    if (stride == 1) {
        for (int i = 0; i < c_in; i++)
            for (int j = 0; j < kernel; j++)
                ptrs[i * kernel + j] = x + (size_t)i * x_stride + (size_t)j * dilation;
    } else {
        /* phase p holds x[i][u*stride + p]; tap offset o = j*dilation reads phase o % stride
         * at u + o / stride, a contiguous row. */
        const int phase_len = (x_len + stride - 1) / stride;
        for (int p = 0; p < stride; p++)
            for (int i = 0; i < c_in; i++) {
                float *dst = scratch + ((size_t)p * c_in + i) * phase_len;
                const float *src = x + (size_t)i * x_stride;
                for (int u = 0; u < phase_len; u++) {
                    const long pos = (long)u * stride + p;
                    dst[u] = pos < x_len ? src[pos] : 0.0f;
                }
            }
        for (int i = 0; i < c_in; i++)
            for (int j = 0; j < kernel; j++) {
                const int off = j * dilation;
                ptrs[i * kernel + j] =
                    scratch + ((size_t)(off % stride) * c_in + i) * phase_len + off / stride;
            }
    }
    ecl_k_gemm_rows(c_out, t_out, c_in * kernel, w, ptrs, bias, y, t_out, ex);
}

int ecl_k_convtr_taps(int kernel, int stride) { return (kernel + stride - 1) / stride; }

void ecl_k_convtr_relayout(const float *w, int c_in, int c_out, int kernel, int stride,
                           float *w_phase)
{
    const int taps = ecl_k_convtr_taps(kernel, stride), K = c_in * taps;
    const size_t phase_size = ecl_panels_size(c_out, K);
    memset(w_phase, 0, (size_t)stride * phase_size * sizeof *w_phase);
    for (int r = 0; r < stride; r++) {
        const ecl_amat phase = ecl_amat_panels(w_phase + (size_t)r * phase_size, NULL, K);
        for (int o = 0; o < c_out; o++)
            for (int i = 0; i < c_in; i++)
                for (int q = 0; q < taps; q++) {
                    const int j = r + q * stride;
                    if (j < kernel)
                        w_phase[(size_t)r * phase_size +
                                ecl_amat_index(&phase, i * taps + q, o)] =
                            w[((size_t)i * c_out + o) * kernel + j];
                }
    }
}

void ecl_k_convtr1d(const float *xh, int c_in, int x_stride, int n, ecl_amat w_phase,
                    const float *bias, int c_out, int kernel, int stride, float *y, int y_stride,
                    float *scratch, const float **ptrs, const ecl_exec *ex)
{
    const int taps = ecl_k_convtr_taps(kernel, stride);
    /* Output phase r of frame u reads x[i][u - q]: row (i, q) starts at xh + (taps-1) - q. */
    for (int i = 0; i < c_in; i++)
        for (int q = 0; q < taps; q++)
            ptrs[i * taps + q] = xh + (size_t)i * x_stride + (taps - 1) - q;
    for (int r = 0; r < stride; r++) {
        const ecl_amat a = ecl_amat_at(w_phase, (size_t)r * ecl_panels_size(c_out, c_in * taps));
        ecl_k_gemm_rows(c_out, n, c_in * taps, a, ptrs, bias, scratch, n, ex);
        for (int o = 0; o < c_out; o++) {
            const float *src = scratch + (size_t)o * n;
            float *dst = y + (size_t)o * y_stride + r;
            for (int u = 0; u < n; u++)
                dst[(size_t)u * stride] = src[u];
        }
    }
}

static inline float sigmoidf(float x) { return 1.0f / (1.0f + expf(-x)); }

void ecl_k_lstm_step(int hidden, const float *zx, ecl_amat w_hh_t, float *h, float *c,
                     float *z_tmp, const float **ptrs, const ecl_exec *ex)
{
    /* The recurrent product is a one-column matrix product over the transposed W_hh; the
     * input part is added after, as a separate rounding. */
    for (int k = 0; k < hidden; k++)
        ptrs[k] = h + k;
    ecl_k_gemm_rows(4 * hidden, 1, hidden, w_hh_t, ptrs, NULL, z_tmp, 1, ex);
    switch (ex->isa) {
#if defined(ECL_HAVE_AVX2)
    case ENCODEC_KERNELS_AVX2: ecl_k_lstm_cell_avx2(hidden, zx, z_tmp, h, c); return;
#endif
#if defined(ECL_HAVE_AVX512)
    case ENCODEC_KERNELS_AVX512: ecl_k_lstm_cell_avx512(hidden, zx, z_tmp, h, c); return;
#endif
#if defined(ECL_HAVE_NEON)
    case ENCODEC_KERNELS_NEON: ecl_k_lstm_cell_neon(hidden, zx, z_tmp, h, c); return;
#endif
    default: break;
    }
    for (int r = 0; r < 4 * hidden; r++)
        z_tmp[r] = zx[r] + z_tmp[r];
    for (int k = 0; k < hidden; k++) {
        const float ig = sigmoidf(z_tmp[k]);
        const float fg = sigmoidf(z_tmp[hidden + k]);
        const float gg = tanhf(z_tmp[2 * hidden + k]);
        const float og = sigmoidf(z_tmp[3 * hidden + k]);
        c[k] = fg * c[k] + ig * gg;
        h[k] = og * tanhf(c[k]);
    }
}

static void elu_range(const float *src, float *dst, size_t n, float alpha, encodec_kernels isa)
{
    switch (isa) {
#if defined(ECL_HAVE_AVX2)
    case ENCODEC_KERNELS_AVX2: ecl_k_elu_avx2(src, dst, n, alpha); return;
#endif
#if defined(ECL_HAVE_AVX512)
    case ENCODEC_KERNELS_AVX512: ecl_k_elu_avx512(src, dst, n, alpha); return;
#endif
#if defined(ECL_HAVE_NEON)
    case ENCODEC_KERNELS_NEON: ecl_k_elu_neon(src, dst, n, alpha); return;
#endif
    default:
        for (size_t i = 0; i < n; i++)
            dst[i] = src[i] > 0.0f ? src[i] : alpha * (expf(src[i]) - 1.0f);
    }
}

/* Rows this short are packed together and go through the vector code as one: a call per row
 * would cost more than its few elements (a frame at a time, at the low-rate layers). */
#define ELU_PACK_FLOATS 1024

void ecl_k_elu(const float *src, size_t src_stride, float *dst, size_t dst_stride, int rows,
               size_t n, float alpha, const ecl_exec *ex)
{
    if (n > 0 && n * 16 <= ELU_PACK_FLOATS && rows > 1) {
        /* element-wise: where an element sits in the vector does not change its value */
        float packed[ELU_PACK_FLOATS];
        const int per_pack = (int)(ELU_PACK_FLOATS / n);
        for (int r0 = 0; r0 < rows; r0 += per_pack) {
            const int nr = rows - r0 < per_pack ? rows - r0 : per_pack;
            for (int r = 0; r < nr; r++)
                memcpy(packed + (size_t)r * n, src + (size_t)(r0 + r) * src_stride,
                       n * sizeof(float));
            elu_range(packed, packed, (size_t)nr * n, alpha, ex->isa);
            for (int r = 0; r < nr; r++)
                memcpy(dst + (size_t)(r0 + r) * dst_stride, packed + (size_t)r * n,
                       n * sizeof(float));
        }
        return;
    }
    /* element-wise: rows on several threads give the same bits */
    if (ECL_PARALLEL(ex->n_threads, (double)rows * (double)n, 32768)) {
#pragma omp parallel for schedule(static) num_threads(ex->n_threads)
        for (int r = 0; r < rows; r++)
            elu_range(src + (size_t)r * src_stride, dst + (size_t)r * dst_stride, n, alpha,
                      ex->isa);
    } else {
        for (int r = 0; r < rows; r++)
            elu_range(src + (size_t)r * src_stride, dst + (size_t)r * dst_stride, n, alpha,
                      ex->isa);
    }
}

static inline void add_row(const float *a, const float *b, float *out, size_t n)
{
    for (size_t t = 0; t < n; t++)
        out[t] = a[t] + b[t];
}

void ecl_k_add(const float *a, const float *b, float *out, size_t stride, int rows, size_t n,
               const ecl_exec *ex)
{
    if (ECL_PARALLEL(ex->n_threads, (double)rows * (double)n, 32768)) {
#pragma omp parallel for schedule(static) num_threads(ex->n_threads)
        for (int r = 0; r < rows; r++)
            add_row(a + (size_t)r * stride, b + (size_t)r * stride, out + (size_t)r * stride, n);
    } else {
        for (int r = 0; r < rows; r++)
            add_row(a + (size_t)r * stride, b + (size_t)r * stride, out + (size_t)r * stride, n);
    }
}

void ecl_k_move_rows(float *dst, size_t dst_stride, const float *src, size_t src_stride,
                     int rows, size_t n, const ecl_exec *ex)
{
    if (n == 0)
        return;
    if (ECL_PARALLEL(ex->n_threads, (double)rows * (double)n, 32768)) {
#pragma omp parallel for schedule(static) num_threads(ex->n_threads)
        for (int r = 0; r < rows; r++)
            memmove(dst + (size_t)r * dst_stride, src + (size_t)r * src_stride, n * sizeof(float));
    } else {
        for (int r = 0; r < rows; r++)
            memmove(dst + (size_t)r * dst_stride, src + (size_t)r * src_stride, n * sizeof(float));
    }
}

/* Sum of row[t] (centre 0) or of (row[t] - centre)^2, in double: eight partial sums (lanes
 * t mod 8), then added pairwise, so that the additions do not wait on each other. */
static double row_sum(const float *row, int len, double centre, int squares)
{
    double part[8] = {0};
    int t = 0;
    for (; t + 8 <= len; t += 8)
        for (int j = 0; j < 8; j++) {
            const double d = (double)row[t + j] - centre;
            part[j] += squares ? d * d : d;
        }
    for (int j = 0; t < len; t++, j++) {
        const double d = (double)row[t] - centre;
        part[j] += squares ? d * d : d;
    }
    return ((part[0] + part[1]) + (part[2] + part[3])) +
           ((part[4] + part[5]) + (part[6] + part[7]));
}

void ecl_k_group_norm1(float *x, int channels, int len, int stride, const float *gamma,
                       const float *beta, float eps)
{
    const size_t n = (size_t)channels * len;
    double sum = 0.0, sq = 0.0;
    for (int ch = 0; ch < channels; ch++)
        sum += row_sum(x + (size_t)ch * stride, len, 0.0, 0);
    const double mean = sum / (double)n;
    for (int ch = 0; ch < channels; ch++)
        sq += row_sum(x + (size_t)ch * stride, len, mean, 1);
    const float rstd = (float)(1.0 / sqrt(sq / (double)n + eps));
    for (int ch = 0; ch < channels; ch++) {
        const float a = rstd * gamma[ch], b = beta[ch] - (float)mean * a;
        float *row = x + (size_t)ch * stride;
        for (int t = 0; t < len; t++)
            row[t] = row[t] * a + b;
    }
}
