/* The SIMD kernels, written once over a small vector vocabulary. Each ISA file (built with its
 * own compiler flags) defines the vocabulary and includes this file:
 *
 *   VEC, VECI             float / int32 vector types, VW floats each
 *   V_LOADU V_STOREU V_SET1 V_ZERO V_ADD V_SUB V_MUL V_DIV V_FMA(a, b, c) = a*b + c
 *   V_LOADH(p)            VW float16 values (uint16_t bits) widened to float32 (exact)
 *   V_MAX V_FLOOR V_SELECT_POS(x, y) = x > 0 ? x : y, V_SELECT_NEG(x, a, b) = x < 0 ? a : b
 *                         (per lane)
 *   V_POW2I(n)            2^n for an integer-valued float vector n in [-126, 127]
 *   MV_WIDE NR_WIDE       row tile: MV_WIDE vectors of rows x NR_WIDE columns, for products
 *                         of fewer columns than a column tile has (below)
 *   MV_MID NR_MID         (optional) the same for 3 to 2 * NR_MID columns
 *   MV_TALL NR_TALL       tall row tile for a frame or two (frame-by-frame streaming)
 *   COL_MR COL_NV         (optional) column tile: COL_MR rows x COL_NV vectors of columns
 *   ISA_SUFFIX            suffix of the exported names (_avx2, _avx512, _neon)
 *
 * The matrix product computes every element of C as in the portable kernel: the bias (or 0)
 * then one fused multiply-add per k in increasing k. Blocking only splits that chain at
 * points where the float accumulator is stored to C and loaded back, which is exact, so the
 * bits of an element depend neither on tile shapes nor on chunking nor on the thread count. */
#include <math.h>
#include <stddef.h>


#include "kernels.h"
#include "kernels_isa.h"
#include "util.h"

#define ECL_CAT_(a, b) a##b
#define ECL_CAT(a, b) ECL_CAT_(a, b)
#define SIMD_FN(name) ECL_CAT(name, ISA_SUFFIX)

#ifndef MV_MID /* an ISA without a middle tile family uses the wide one there */
#define MV_MID MV_WIDE
#define NR_MID NR_WIDE
#endif
#define MAX3(a, b, c) ((a) > (b) ? ((a) > (c) ? (a) : (c)) : ((b) > (c) ? (b) : (c)))
#define MV_MAX MAX3(MV_WIDE, MV_MID, MV_TALL)
#define NR_MAX MAX3(NR_WIDE, NR_MID, NR_TALL)
#define KC 256 /* k per block: the A panel (KC x tile rows) stays in L1 */

#define ALWAYS_INLINE inline __attribute__((always_inline))

/* Rows m0 .. m0 + mv*VW, columns n0 .. n0 + nb of C, k in [k0, k1); first: start from the
 * bias (else continue from the partial sums in C). A is read as float16 when half. */
static ALWAYS_INLINE void tile(const int mv, const int nb, const int half, int k0, int k1,
                               const ecl_amat *A, const float *const *B, int n0,
                               const float *bias, int m0, float *C, int ldc, int first)
{
    const float *at = A->f32;
    const uint16_t *ah = A->f16;
    const size_t k_stride = A->k_stride;
    size_t a[MV_MAX]; /* where vector v of the tile reads row k of A */
#pragma GCC unroll 16
    for (int v = 0; v < mv; v++)
        a[v] = ecl_amat_index(A, k0, m0 + v * VW);
    VEC acc[MV_MAX][NR_MAX];
    float tmp[NR_MAX][MV_MAX * VW];
    if (first) {
#pragma GCC unroll 16
        for (int v = 0; v < mv; v++) {
            const VEC b0 = bias ? V_LOADU(bias + m0 + v * VW) : V_ZERO();
#pragma GCC unroll 16
            for (int c = 0; c < nb; c++)
                acc[v][c] = b0;
        }
    } else {
        for (int c = 0; c < nb; c++)
            for (int r = 0; r < mv * VW; r++)
                tmp[c][r] = C[(size_t)(m0 + r) * ldc + n0 + c];
#pragma GCC unroll 16
        for (int v = 0; v < mv; v++)
#pragma GCC unroll 16
            for (int c = 0; c < nb; c++)
                acc[v][c] = V_LOADU(&tmp[c][v * VW]);
    }
    for (int k = k0; k < k1; k++) {
        const float *b = B[k] + n0;
        VEC av[MV_MAX];
#pragma GCC unroll 16
        for (int v = 0; v < mv; v++) {
            av[v] = half ? V_LOADH(ah + a[v]) : V_LOADU(at + a[v]);
            a[v] += k_stride;
        }
#pragma GCC unroll 16
        for (int c = 0; c < nb; c++) {
            const VEC bc = V_SET1(b[c]);
#pragma GCC unroll 16
            for (int v = 0; v < mv; v++)
                acc[v][c] = V_FMA(av[v], bc, acc[v][c]);
        }
    }
#pragma GCC unroll 16
    for (int v = 0; v < mv; v++)
#pragma GCC unroll 16
        for (int c = 0; c < nb; c++)
            V_STOREU(&tmp[c][v * VW], acc[v][c]);
    for (int c = 0; c < nb; c++)
        for (int r = 0; r < mv * VW; r++)
            C[(size_t)(m0 + r) * ldc + n0 + c] = tmp[c][r];
}

/* Only the shapes the tile families can produce are instantiated. */
#define TILE_SHAPE_USED(MVC, NBC)                                                            \
    (((MVC) <= MV_WIDE && (NBC) <= NR_WIDE) || ((MVC) <= MV_MID && (NBC) <= NR_MID) ||       \
     ((MVC) <= MV_TALL && (NBC) <= NR_TALL))
#define TILE_CASE(MVC, NBC)                                                                  \
    case NBC:                                                                                \
        if (TILE_SHAPE_USED(MVC, NBC) && A->f16)                                             \
            tile(MVC, NBC, 1, k0, k1, A, B, n0, bias, m0, C, ldc, first);                    \
        else if (TILE_SHAPE_USED(MVC, NBC))                                                  \
            tile(MVC, NBC, 0, k0, k1, A, B, n0, bias, m0, C, ldc, first);                    \
        break;
#define TILE_NB_SWITCH(MVC)                                                                  \
    switch (nb) {                                                                            \
        TILE_CASE(MVC, 1) TILE_CASE(MVC, 2) TILE_CASE(MVC, 3) TILE_CASE(MVC, 4)               \
        TILE_CASE(MVC, 5) TILE_CASE(MVC, 6) TILE_CASE(MVC, 7) TILE_CASE(MVC, 8)               \
        TILE_CASE(MVC, 9) TILE_CASE(MVC, 10) TILE_CASE(MVC, 11) TILE_CASE(MVC, 12)            \
    }
#define TILE_MV_CASE(MVC)                                                                    \
    case MVC:                                                                                \
        if (MVC <= MV_MAX)                                                                   \
            TILE_NB_SWITCH(MVC)                                                              \
        break;

/* A tile with run-time shape: calls the instance unrolled for that shape. */
static void tile_any(int mv, int nb, int k0, int k1, const ecl_amat *A, const float *const *B,
                     int n0, const float *bias, int m0, float *C, int ldc, int first)
{
    switch (mv) {
        TILE_MV_CASE(1) TILE_MV_CASE(2) TILE_MV_CASE(3) TILE_MV_CASE(4)
        TILE_MV_CASE(5) TILE_MV_CASE(6) TILE_MV_CASE(7) TILE_MV_CASE(8)
    }
}

/* A narrow product by row tiles, a work item per block of rows (all of its few columns). */
typedef struct {
    int M, N, K, ldc, nr, rows_per_tile, col_tiles;
    const ecl_amat *A;
    const float *const *B;
    const float *bias;
    float *C;
} gemm_plan;

static inline void gemm_item(const gemm_plan *p, int item)
{
    const int M = p->M, N = p->N, K = p->K, nr = p->nr, rows_per_tile = p->rows_per_tile;
    const int m0 = item * rows_per_tile;
    const int m_end = M - m0 < rows_per_tile ? M : m0 + rows_per_tile;
    const int mv = (m_end - m0) / VW;
    int k0 = 0;
    do {
        const int k1 = K - k0 > KC ? k0 + KC : K;
        for (int ct = 0; ct < p->col_tiles; ct++) {
            const int n0 = ct * nr, nb = N - n0 < nr ? N - n0 : nr;
            tile_any(mv, nb, k0, k1, p->A, p->B, n0, p->bias, m0, p->C, p->ldc, k0 == 0);
        }
        k0 = k1;
    } while (k0 < K);
}

/* Products over many columns (a chunk of a signal) go by column tiles: COL_MR rows of C by
 * COL_NV vectors of columns, A broadcast (widened on the stack, a k block of COL_MR rows at a
 * time), B read and C written as vectors; the last columns, short of a vector, through a
 * zero-padded copy. Work items are blocks of COL_BLOCK columns, whose B block stays in L2.
 * Row tiles (below) would write C through a transpose: 10-20 % slower on 48 or more columns,
 * twice as slow for a short k; they serve the narrow products. */
#ifndef COL_MR
#define COL_MR 8
#define COL_NV 3
#endif
#define COL_BLOCK 384

/* Rows m0 .. m0 + mr of C (c: row m0, column n0; bias_m0: bias + m0 or NULL), columns n0 ..
 * n0 + nv*VW, k in [k0, k0 + kn) with A's values in a[k - k0][r]; first: start from the bias
 * (else from the partial sums in C). */
static ALWAYS_INLINE void col_tile(const int mr, const int nv, int k0, int kn,
                                   const float (*a)[COL_MR], const float *const *B, int n0,
                                   const float *bias_m0, float *c, int ldc, int first)
{
    VEC acc[COL_MR][COL_NV];
#pragma GCC unroll 16
    for (int r = 0; r < mr; r++)
#pragma GCC unroll 16
        for (int v = 0; v < nv; v++)
            acc[r][v] = first ? V_SET1(bias_m0 ? bias_m0[r] : 0.0f)
                              : V_LOADU(c + (size_t)r * ldc + v * VW);
    for (int k = 0; k < kn; k++) {
        const float *b = B[k0 + k] + n0;
        VEC bv[COL_NV];
#pragma GCC unroll 16
        for (int v = 0; v < nv; v++)
            bv[v] = V_LOADU(b + v * VW);
#pragma GCC unroll 16
        for (int r = 0; r < mr; r++) {
            const VEC ar = V_SET1(a[k][r]);
#pragma GCC unroll 16
            for (int v = 0; v < nv; v++)
                acc[r][v] = V_FMA(ar, bv[v], acc[r][v]);
        }
    }
#pragma GCC unroll 16
    for (int r = 0; r < mr; r++)
#pragma GCC unroll 16
        for (int v = 0; v < nv; v++)
            V_STOREU(c + (size_t)r * ldc + v * VW, acc[r][v]);
}

#define COL_CASE(MRC, NVC)                                                                   \
    case NVC:                                                                                \
        if ((MRC) <= COL_MR && (NVC) <= COL_NV)                                              \
            col_tile(MRC, NVC, k0, kn, a, B, n0, bias_m0, c, ldc, first);                    \
        break;
#define COL_MR_CASE(MRC)                                                                     \
    case MRC:                                                                                \
        switch (nv) { COL_CASE(MRC, 1) COL_CASE(MRC, 2) COL_CASE(MRC, 3) COL_CASE(MRC, 4) } \
        break;

static void col_tile_any(int mr, int nv, int k0, int kn, const float (*a)[COL_MR],
                         const float *const *B, int n0, const float *bias_m0, float *c, int ldc,
                         int first)
{
    switch (mr) {
        COL_MR_CASE(1) COL_MR_CASE(2) COL_MR_CASE(3) COL_MR_CASE(4)
        COL_MR_CASE(5) COL_MR_CASE(6) COL_MR_CASE(7) COL_MR_CASE(8)
    }
}

/* Rows m_begin .. m_end, columns n0 .. n1 of the product. */
static void col_item(int n0, int n1, int m_begin, int m_end, int N, int K, const ecl_amat *A,
                     const float *const *B, const float *bias, float *C, int ldc)
{
    float a[KC][COL_MR];
    float tail_b[KC][VW], tail_c[COL_MR][VW];
    const float *tail_rows[KC];
    const int step = COL_NV * VW, n_vec = N - N % VW, v_end = n1 < n_vec ? n1 : n_vec;
    const int tail = n1 - v_end; /* columns short of a vector, at the very end */
    int k0 = 0;
    do { /* once at least: K = 0 gives the bias */
        const int kn = K - k0 < KC ? K - k0 : KC;
        for (int k = 0; tail && k < kn; k++) {
            for (int j = 0; j < VW; j++)
                tail_b[k][j] = j < tail ? B[k0 + k][v_end + j] : 0.0f;
            tail_rows[k] = tail_b[k];
        }
        for (int m0 = m_begin; m0 < m_end; m0 += COL_MR) {
            const int mr = m_end - m0 < COL_MR ? m_end - m0 : COL_MR;
            const float *bias_m0 = bias ? bias + m0 : NULL;
            for (int k = 0; k < kn; k++) {
                const size_t i = ecl_amat_index(A, k0 + k, m0);
                /* rows m0 .. m0 + mr lie together in A: m0 is a multiple of COL_MR (or of
                 * VW, for the rows short of a vector), which divides ECL_PANEL */
                for (int r = 0; r < mr; r++)
                    a[k][r] = A->f16 ? ecl_half_to_float(A->f16[i + r]) : A->f32[i + r];
            }
            for (int n = n0; n < v_end; n += step)
                col_tile_any(mr, (v_end - n < step ? v_end - n : step) / VW, k0, kn,
                             (const float (*)[COL_MR])a, B, n, bias_m0,
                             C + (size_t)m0 * ldc + n, ldc, k0 == 0);
            if (tail) {
                for (int r = 0; r < mr && k0 > 0; r++)
                    for (int j = 0; j < tail; j++)
                        tail_c[r][j] = C[(size_t)(m0 + r) * ldc + v_end + j];
                col_tile_any(mr, 1, 0, kn, (const float (*)[COL_MR])a, tail_rows, 0, bias_m0,
                             &tail_c[0][0], VW, k0 == 0);
                for (int r = 0; r < mr; r++)
                    for (int j = 0; j < tail; j++)
                        C[(size_t)(m0 + r) * ldc + v_end + j] = tail_c[r][j];
            }
        }
        k0 += KC;
    } while (k0 < K);
}

/* Work item i: a block of columns by a group of rows. */
static void col_item_at(int i, int col_blocks, int group_rows, int M, int N, int K,
                        const ecl_amat *A, const float *const *B, const float *bias, float *C,
                        int ldc)
{
    const int cb = i % col_blocks, m0 = i / col_blocks * group_rows;
    const int n1 = N - cb * COL_BLOCK < COL_BLOCK ? N : (cb + 1) * COL_BLOCK;
    col_item(cb * COL_BLOCK, n1, m0, M - m0 < group_rows ? M : m0 + group_rows, N, K, A, B, bias,
             C, ldc);
}

static void gemm_by_columns(int M, int N, int K, const ecl_amat *A, const float *const *B,
                            const float *bias, float *C, int ldc, int n_threads)
{
    const int col_blocks = (N + COL_BLOCK - 1) / COL_BLOCK;
    if (ECL_PARALLEL(n_threads, (double)M * N * K, 2e5)) {
        /* Enough items for the threads: rows split into groups when columns are few. */
        const int row_blocks = (M + COL_MR - 1) / COL_MR;
        int groups = (4 * n_threads + col_blocks - 1) / col_blocks;
        groups = groups < row_blocks ? groups : row_blocks;
        const int group_rows = (row_blocks + groups - 1) / groups * COL_MR;
        const int items = col_blocks * ((M + group_rows - 1) / group_rows);
#pragma omp parallel for schedule(dynamic, 1) num_threads(n_threads)
        for (int i = 0; i < items; i++)
            col_item_at(i, col_blocks, group_rows, M, N, K, A, B, bias, C, ldc);
    } else {
        for (int i = 0; i < col_blocks; i++)
            col_item_at(i, col_blocks, M, M, N, K, A, B, bias, C, ldc);
    }
}

void SIMD_FN(ecl_k_gemm_rows)(int M, int N, int K, const ecl_amat *A, const float *const *B,
                              const float *bias, float *C, int ldc, int n_threads)
{
    if (M <= 0 || N <= 0)
        return;
    if (N >= COL_NV * VW) { /* at least one whole column tile */
        gemm_by_columns(M, N, K, A, B, bias, C, ldc, n_threads);
        return;
    }
    const int M_vec = M - M % VW;
    if (M_vec < M) /* rows short of a vector */
        col_item(0, N, M_vec, M, N, K, A, B, bias, C, ldc);
    M = M_vec;
    /* Narrow products (a frame at a time) get tall tiles to keep enough sums in flight, and
     * a few columns (a chunk of frames) middle ones, which leave no thin last tile. */
    const int tall = N <= NR_TALL, mid = !tall && N <= 2 * NR_MID;
    const int mv_full = tall ? MV_TALL : mid ? MV_MID : MV_WIDE;
    const int nr = tall ? NR_TALL : mid ? NR_MID : NR_WIDE;
    const int rows_per_tile = mv_full * VW;
    const int items = (M + rows_per_tile - 1) / rows_per_tile;
    const gemm_plan plan = {M, N, K, ldc, nr, rows_per_tile, (N + nr - 1) / nr, A, B, bias, C};
    /* Items are handed out one at a time: a thread that the OS has descheduled holds up
     * nobody. */
    if (ECL_PARALLEL(n_threads, (double)M * N * (K > 0 ? K : 1), 2e5)) {
#pragma omp parallel for schedule(dynamic, 1) num_threads(n_threads)
        for (int item = 0; item < items; item++)
            gemm_item(&plan, item);
    } else {
        for (int item = 0; item < items; item++)
            gemm_item(&plan, item);
    }
}

/* exp(x) for x <= 0 (Cephes' single-precision reduction and polynomial). */
static ALWAYS_INLINE VEC exp_nonpositive(VEC x)
{
    x = V_MAX(x, V_SET1(-87.0f));
    const VEC n = V_FLOOR(V_FMA(x, V_SET1(1.44269504088896341f), V_SET1(0.5f)));
    VEC r = V_FMA(n, V_SET1(-0.693359375f), x);
    r = V_FMA(n, V_SET1(2.12194440e-4f), r);
    VEC p = V_SET1(1.9875691500e-4f);
    p = V_FMA(p, r, V_SET1(1.3981999507e-3f));
    p = V_FMA(p, r, V_SET1(8.3334519073e-3f));
    p = V_FMA(p, r, V_SET1(4.1665795894e-2f));
    p = V_FMA(p, r, V_SET1(1.6666665459e-1f));
    p = V_FMA(p, r, V_SET1(5.0000001201e-1f));
    p = V_FMA(p, V_MUL(r, r), V_ADD(r, V_SET1(1.0f)));
    return V_MUL(p, V_POW2I(n));
}

static ALWAYS_INLINE VEC elu_vec(VEC x, VEC alpha)
{
    return V_SELECT_POS(x, V_MUL(alpha, V_SUB(exp_nonpositive(x), V_SET1(1.0f))));
}

/* -|x| */
static ALWAYS_INLINE VEC neg_abs(VEC x) { return V_SUB(V_ZERO(), V_MAX(x, V_SUB(V_ZERO(), x))); }

/* 1 / (1 + exp(-x)) from exp(-|x|), which never overflows. */
static ALWAYS_INLINE VEC sigmoid_vec(VEC x)
{
    const VEC e = exp_nonpositive(neg_abs(x));
    const VEC of_abs = V_DIV(V_SET1(1.0f), V_ADD(V_SET1(1.0f), e));
    return V_SELECT_NEG(x, V_MUL(e, of_abs), of_abs);
}

/* tanh(x) = sign(x) (1 - e) / (1 + e), e = exp(-2|x|): within about 1e-7 of it. */
static ALWAYS_INLINE VEC tanh_vec(VEC x)
{
    const VEC e = exp_nonpositive(V_ADD(neg_abs(x), neg_abs(x)));
    const VEC t = V_DIV(V_SUB(V_SET1(1.0f), e), V_ADD(V_SET1(1.0f), e));
    return V_SELECT_NEG(x, V_SUB(V_ZERO(), t), t);
}

/* Units k .. k + VW of the LSTM cell; z = zx + zh per gate (i, f, g, o at 0, H, 2H, 3H). */
static ALWAYS_INLINE void lstm_cell_vec(int hidden, const float *zx, const float *zh, float *h,
                                        float *c, int k)
{
#define GATE(g) V_ADD(V_LOADU(zx + (g) * hidden + k), V_LOADU(zh + (g) * hidden + k))
    const VEC ig = sigmoid_vec(GATE(0)), fg = sigmoid_vec(GATE(1));
    const VEC gg = tanh_vec(GATE(2)), og = sigmoid_vec(GATE(3));
#undef GATE
    const VEC c_new = V_ADD(V_MUL(fg, V_LOADU(c + k)), V_MUL(ig, gg));
    V_STOREU(c + k, c_new);
    V_STOREU(h + k, V_MUL(og, tanh_vec(c_new)));
}

void SIMD_FN(ecl_k_lstm_cell)(int hidden, const float *zx, const float *zh, float *h, float *c)
{
    int k = 0;
    for (; k + VW <= hidden; k += VW)
        lstm_cell_vec(hidden, zx, zh, h, c, k);
    if (k < hidden) { /* the last units through the same code, laid out as a hidden of VW */
        float zxt[4 * VW] = {0}, zht[4 * VW] = {0}, ht[VW] = {0}, ct[VW] = {0};
        for (int j = k; j < hidden; j++) {
            for (int g = 0; g < 4; g++) {
                zxt[g * VW + j - k] = zx[g * hidden + j];
                zht[g * VW + j - k] = zh[g * hidden + j];
            }
            ct[j - k] = c[j];
        }
        lstm_cell_vec(VW, zxt, zht, ht, ct, 0);
        for (int j = k; j < hidden; j++) {
            h[j] = ht[j - k];
            c[j] = ct[j - k];
        }
    }
}

void SIMD_FN(ecl_k_elu)(const float *src, float *dst, size_t n, float alpha)
{
    const VEC va = V_SET1(alpha);
    size_t i = 0;
    for (; i + VW <= n; i += VW)
        V_STOREU(dst + i, elu_vec(V_LOADU(src + i), va));
    if (i < n) {
        /* The tail goes through the same vector code, so that an element's value does not
         * depend on where a chunk boundary fell. */
        float tail[VW] = {0};
        for (size_t j = i; j < n; j++)
            tail[j - i] = src[j];
        V_STOREU(tail, elu_vec(V_LOADU(tail), va));
        for (size_t j = i; j < n; j++)
            dst[j] = tail[j - i];
    }
}
