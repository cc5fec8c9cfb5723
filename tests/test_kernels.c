/* The kernel paths against each other (issue: SIMD kernels checked against the portable one).
 * For every SIMD path this build and CPU have, on random shapes including odd sizes, vector
 * tails, one column, one k and k across block edges:
 *   - the matrix product agrees with the portable path within the float error bound of a
 *     K-term dot product (the paths differ only by fused multiply-adds);
 *   - the product computed in column pieces of random widths, or with 1..3 threads, equals the
 *     whole product bit for bit (what makes streaming equal whole-signal processing);
 *   - with float16 weights, the product equals the one with float32 weights of the same values
 *     bit for bit (whole, in pieces, threads) on every path;
 *   - weights in the panel layout give the same bits as in rows (float32 and float16);
 *   - an LSTM step (SIMD sigmoid and tanh) agrees with the portable one (libm) within 2e-6;
 *   - ELU agrees with the portable path within 1e-6 and gives the same bits whatever the
 *     piece boundaries;
 *   - float32 -> float16 rounds to nearest even (every half value, every midpoint, overflow);
 * and the public path selection reports and refuses paths correctly. */
#include "testutil.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "util.h"

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static float frand(void) /* uniform in [-1, 1) */
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (float)((rng_state >> 40) * (2.0 / 16777216.0) - 1.0);
}

typedef struct {
    int M, N, K;
    float *at, *b, *bias, *c;
    const float **rows;
    ecl_amat a; /* the A the kernels get: at in rows, or a float16 copy, or panels */
} problem;

static problem make_problem(int M, int N, int K, int with_bias)
{
    problem p = {M, N, K, NULL, NULL, NULL, NULL, NULL, {NULL, NULL, 0, 0}};
    p.at = malloc(sizeof(float) * (size_t)K * M);
    p.b = malloc(sizeof(float) * (size_t)K * N);
    p.bias = with_bias ? malloc(sizeof(float) * (size_t)M) : NULL;
    p.c = malloc(sizeof(float) * (size_t)M * N);
    p.rows = malloc(sizeof(*p.rows) * (size_t)K);
    assert_non_null(p.at);
    assert_non_null(p.b);
    assert_non_null(p.c);
    assert_non_null(p.rows);
    for (size_t i = 0; i < (size_t)K * M; i++)
        p.at[i] = frand();
    for (size_t i = 0; i < (size_t)K * N; i++)
        p.b[i] = frand();
    for (int i = 0; with_bias && i < M; i++)
        p.bias[i] = frand();
    for (int k = 0; k < K; k++)
        p.rows[k] = p.b + (size_t)k * N;
    p.a = ecl_amat_rows(p.at, M);
    return p;
}

static void free_problem(problem *p)
{
    free(p->at);
    free(p->b);
    free(p->bias);
    free(p->c);
    free((void *)p->rows);
}

static void run(problem *p, encodec_kernels isa, int threads, float *out)
{
    const ecl_exec ex = {isa, threads};
    ecl_k_gemm_rows(p->M, p->N, p->K, p->a, p->rows, p->bias, out, p->N, &ex);
}

/* Same product in column pieces of random widths: offset row pointers and output columns. */
static void run_in_pieces(problem *p, encodec_kernels isa, float *out)
{
    const float **shifted = malloc(sizeof(*shifted) * (size_t)p->K);
    float *piece = malloc(sizeof(float) * (size_t)p->M * p->N);
    assert_non_null(shifted);
    assert_non_null(piece);
    const ecl_exec ex = {isa, 1};
    for (int n0 = 0; n0 < p->N;) {
        const int w = 1 + (int)((frand() + 1.0f) * 0.5f * 9.0f);
        const int nb = n0 + w > p->N ? p->N - n0 : w;
        for (int k = 0; k < p->K; k++)
            shifted[k] = p->rows[k] + n0;
        ecl_k_gemm_rows(p->M, nb, p->K, p->a, shifted, p->bias, piece, nb, &ex);
        for (int m = 0; m < p->M; m++)
            memcpy(out + (size_t)m * p->N + n0, piece + (size_t)m * nb, sizeof(float) * nb);
        n0 += nb;
    }
    free((void *)shifted);
    free(piece);
}

/* float16 A against float32 A holding the same values: the same bits, whole, in pieces and
 * with threads (buffers of M x N floats to work in). */
static void check_half_weights(problem *p, encodec_kernels isa, float *want, float *got,
                               float *alt)
{
    const size_t n_a = (size_t)p->K * p->M, n = (size_t)p->M * p->N;
    uint16_t *h = malloc(sizeof *h * n_a);
    assert_non_null(h);
    assert_true(ecl_k_to_half(p->at, n_a, h));
    for (size_t i = 0; i < n_a; i++)
        p->at[i] = ecl_half_to_float(h[i]);
    run(p, isa, 1, want);
    p->a = (ecl_amat){NULL, h, (size_t)p->M, ECL_PANEL};
    run(p, isa, 1, got);
    assert_memory_equal(got, want, sizeof(float) * n);
    run_in_pieces(p, isa, alt);
    assert_memory_equal(alt, want, sizeof(float) * n);
    run(p, isa, 2, alt);
    assert_memory_equal(alt, want, sizeof(float) * n);
    p->a = ecl_amat_rows(p->at, p->M);
    free(h);
}

/* The weights in panels against the same weights in rows: the same bits, in float32 (want:
 * the rows' result) and in float16 (on two threads); got: room for a result. */
static void check_panels(problem *p, encodec_kernels isa, const float *want, float *got)
{
    const size_t n = (size_t)p->M * p->N, n_a = (size_t)p->K * p->M;
    const size_t n_panels = ecl_panels_size(p->M, p->K);
    float *panels = malloc(sizeof *panels * n_panels), *at = malloc(sizeof *at * n_a);
    float *rows_result = malloc(sizeof *rows_result * n);
    uint16_t *h = malloc(sizeof *h * n_panels);
    assert_non_null(panels);
    assert_non_null(at);
    assert_non_null(rows_result);
    assert_non_null(h);
    ecl_k_to_panels(p->at, p->K, p->M, (size_t)p->M, 1, panels);
    p->a = ecl_amat_panels(panels, NULL, p->K);
    run(p, isa, 1, got);
    assert_memory_equal(got, want, sizeof(float) * n);
    memcpy(at, p->at, sizeof *at * n_a); /* then the float16 values */
    assert_true(ecl_k_to_half(p->at, n_a, h));
    for (size_t i = 0; i < n_a; i++)
        p->at[i] = ecl_half_to_float(h[i]);
    p->a = ecl_amat_rows(p->at, p->M);
    run(p, isa, 1, rows_result);
    ecl_k_to_panels(p->at, p->K, p->M, (size_t)p->M, 1, panels);
    assert_true(ecl_k_to_half(panels, n_panels, h));
    p->a = ecl_amat_panels(NULL, h, p->K);
    run(p, isa, 2, got);
    assert_memory_equal(got, rows_result, sizeof(float) * n);
    memcpy(p->at, at, sizeof *at * n_a);
    p->a = ecl_amat_rows(p->at, p->M);
    free(at);
    free(panels);
    free(rows_result);
    free(h);
}

static void check_isa_gemm(encodec_kernels isa)
{
    static const int Ms[] = {1, 7, 8, 15, 16, 17, 33, 48, 97, 130};
    /* tall (1-2), middle (3-16) and wide (17-47) row tiles; column tiles from 48 on */
    static const int Ns[] = {1, 2, 3, 5, 6, 7, 13, 30, 47, 64, 193, 400};
    static const int Ks[] = {1, 3, 17, 255, 256, 257, 600};
    int cases = 0;
    for (size_t mi = 0; mi < sizeof Ms / sizeof *Ms; mi++)
        for (size_t ni = 0; ni < sizeof Ns / sizeof *Ns; ni++) {
            /* Every M x N pair, with a K (and bias or not) chosen by the case number. */
            const int K = Ks[(mi * 3 + ni) % (sizeof Ks / sizeof *Ks)];
            problem p = make_problem(Ms[mi], Ns[ni], K, (int)((mi + ni) & 1));
            const size_t n = (size_t)p.M * p.N;
            float *ref = malloc(sizeof(float) * n), *got = malloc(sizeof(float) * n);
            float *alt = malloc(sizeof(float) * n);
            assert_non_null(ref);
            assert_non_null(got);
            assert_non_null(alt);
            run(&p, ENCODEC_KERNELS_PORTABLE, 1, ref);
            run(&p, isa, 1, got);
            for (int m = 0; m < p.M; m++)
                for (int c = 0; c < p.N; c++) {
                    double mag = p.bias ? fabs(p.bias[m]) : 0.0;
                    for (int k = 0; k < K; k++)
                        mag += fabs((double)p.at[(size_t)k * p.M + m] * p.rows[k][c]);
                    const double tol = (K + 2) * 1.2e-7 * mag + 1e-30;
                    const double err = fabs((double)got[(size_t)m * p.N + c] - ref[(size_t)m * p.N + c]);
                    if (!(err <= tol))
                        fail_msg("%s M=%d N=%d K=%d (%d,%d): %.9g vs portable %.9g (tol %.3g)",
                                 encodec_kernels_name(isa), p.M, p.N, K, m, c,
                                 got[(size_t)m * p.N + c], ref[(size_t)m * p.N + c], tol);
                }
            run_in_pieces(&p, isa, alt);
            assert_memory_equal(alt, got, sizeof(float) * n);
            for (int threads = 2; threads <= 3; threads++) {
                run(&p, isa, threads, alt);
                assert_memory_equal(alt, got, sizeof(float) * n);
            }
            check_panels(&p, ENCODEC_KERNELS_PORTABLE, ref, alt);
            check_panels(&p, isa, got, alt);
            check_half_weights(&p, isa, ref, got, alt);
            free(ref);
            free(got);
            free(alt);
            free_problem(&p);
            cases++;
        }
    assert_int_equal(cases, 120);
}

static void check_isa_elu(encodec_kernels isa)
{
    enum { N = 1000 };
    float x[N], ref[N], got[N], pieces[N];
    for (int i = 0; i < N; i++)
        x[i] = (i % 10 == 0) ? 0.0f : frand() * (i % 3 == 0 ? 100.0f : 4.0f);
    x[1] = -1e-30f;
    x[2] = -87.5f;
    x[3] = -1000.0f;
    const ecl_exec port = {ENCODEC_KERNELS_PORTABLE, 1}, ex = {isa, 1};
    ecl_k_elu(x, 0, ref, 0, 1, N, 1.0f, &port);
    ecl_k_elu(x, 0, got, 0, 1, N, 1.0f, &ex);
    for (int i = 0; i < N; i++)
        if (!(fabsf(got[i] - ref[i]) <= 1e-6f))
            fail_msg("%s elu(%.9g) = %.9g, portable %.9g", encodec_kernels_name(isa), x[i],
                     got[i], ref[i]);
    for (int i0 = 0; i0 < N;) {
        const int w = 1 + (int)((frand() + 1.0f) * 0.5f * 20.0f);
        const int n = i0 + w > N ? N - i0 : w;
        ecl_k_elu(x + i0, 0, pieces + i0, 0, 1, (size_t)n, 1.0f, &ex);
        i0 += n;
    }
    assert_memory_equal(pieces, got, sizeof got);
    /* In place equals out of place. */
    ecl_k_elu(x, 0, x, 0, 1, N, 1.0f, &ex);
    assert_memory_equal(x, got, sizeof got);
    /* Many rows (strided, output to another stride) are split over threads: the same bits
     * with 1, 2 and 3, and as row-by-row calls. */
    enum { ROWS = 37, COLS = 1891, BIG = ROWS * COLS };
    float *bx = malloc(sizeof(float) * BIG), *b1 = malloc(sizeof(float) * BIG);
    float *bt = malloc(sizeof(float) * BIG);
    assert_non_null(bx);
    assert_non_null(b1);
    assert_non_null(bt);
    for (int i = 0; i < BIG; i++)
        bx[i] = frand() * 6.0f;
    for (int r = 0; r < ROWS; r++)
        ecl_k_elu(bx + (size_t)r * COLS, 0, b1 + (size_t)r * COLS, 0, 1, COLS - 5, 1.0f, &ex);
    for (int threads = 1; threads <= 3; threads++) {
        const ecl_exec ext = {isa, threads};
        memset(bt, 0, sizeof(float) * BIG);
        ecl_k_elu(bx, COLS, bt, COLS, ROWS, COLS - 5, 1.0f, &ext);
        for (int r = 0; r < ROWS; r++)
            assert_memory_equal(bt + (size_t)r * COLS, b1 + (size_t)r * COLS,
                                sizeof(float) * (COLS - 5));
    }
    /* Short rows, many of them (a frame at a time: packed together before the vector code),
     * the same bits as one row at a time; in place too. */
    for (int n = 1; n <= 70; n += 3) {
        const int rows = 700, stride = 75;
        for (int r = 0; r < rows; r++)
            ecl_k_elu(bx + (size_t)r * stride, 0, b1 + (size_t)r * stride, 0, 1, (size_t)n,
                      1.0f, &ex);
        ecl_k_elu(bx, (size_t)stride, bt, (size_t)stride, rows, (size_t)n, 1.0f, &ex);
        for (int r = 0; r < rows; r++)
            assert_memory_equal(bt + (size_t)r * stride, b1 + (size_t)r * stride,
                                sizeof(float) * (size_t)n);
        memcpy(bt, bx, sizeof(float) * (size_t)rows * stride);
        ecl_k_elu(bt, (size_t)stride, bt, (size_t)stride, rows, (size_t)n, 1.0f, &ex);
        for (int r = 0; r < rows; r++)
            assert_memory_equal(bt + (size_t)r * stride, b1 + (size_t)r * stride,
                                sizeof(float) * (size_t)n);
    }
    free(bx);
    free(b1);
    free(bt);
}

static int simd_paths(encodec_kernels *out)
{
    int n = 0;
    for (int isa = ENCODEC_KERNELS_AVX2; isa <= ENCODEC_KERNELS_NEON; isa++)
        if (ecl_isa_supported((encodec_kernels)isa))
            out[n++] = (encodec_kernels)isa;
    return n;
}

static void test_simd_gemm_matches_portable(void **state)
{
    (void)state;
    encodec_kernels paths[4];
    const int n = simd_paths(paths);
    for (int i = 0; i < n; i++)
        check_isa_gemm(paths[i]);
    /* The portable path against itself in pieces and threads. */
    check_isa_gemm(ENCODEC_KERNELS_PORTABLE);
}

static void test_simd_elu_matches_portable(void **state)
{
    (void)state;
    encodec_kernels paths[4];
    const int n = simd_paths(paths);
    for (int i = 0; i < n; i++)
        check_isa_elu(paths[i]);
    check_isa_elu(ENCODEC_KERNELS_PORTABLE);
}

/* LSTM steps (recurrent product, then the cell with its own sigmoid and tanh on the SIMD
 * paths) against the portable step with libm: h and c within 2e-6 over 20 steps, for gate
 * inputs up to +-60 (saturating, never NaN), hidden sizes with and without a vector tail. */
static void test_simd_lstm_matches_portable(void **state)
{
    (void)state;
    encodec_kernels paths[4];
    const int n_paths = simd_paths(paths);
    static const int hiddens[] = {5, 16, 37, 64};
    for (size_t hi = 0; hi < sizeof hiddens / sizeof *hiddens; hi++) {
        const int H = hiddens[hi];
        float *w_hh_t = malloc(sizeof(float) * 4 * H * H), *zx = malloc(sizeof(float) * 4 * H);
        float *z_tmp = malloc(sizeof(float) * 4 * H);
        const float **ptrs = malloc(sizeof(*ptrs) * H);
        float h_ref[64], c_ref[64], h[64], c[64];
        assert_non_null(w_hh_t);
        assert_non_null(zx);
        assert_non_null(z_tmp);
        assert_non_null(ptrs);
        for (int i = 0; i < 4 * H * H; i++)
            w_hh_t[i] = frand() * 2.0f / sqrtf((float)H);
        const ecl_amat w = ecl_amat_rows(w_hh_t, 4 * H);
        for (int p = 0; p < n_paths; p++) {
            const ecl_exec port = {ENCODEC_KERNELS_PORTABLE, 1}, ex = {paths[p], 1};
            for (int k = 0; k < H; k++)
                h_ref[k] = h[k] = c_ref[k] = c[k] = frand();
            for (int step = 0; step < 20; step++) {
                const float scale = step < 10 ? 4.0f : 60.0f;
                for (int r = 0; r < 4 * H; r++)
                    zx[r] = frand() * scale;
                ecl_k_lstm_step(H, zx, w, h_ref, c_ref, z_tmp, ptrs, &port);
                ecl_k_lstm_step(H, zx, w, h, c, z_tmp, ptrs, &ex);
                for (int k = 0; k < H; k++) {
                    if (!(fabsf(h[k] - h_ref[k]) <= 2e-6f) || !(fabsf(c[k] - c_ref[k]) <= 2e-6f))
                        fail_msg("%s H=%d step %d unit %d: h %.9g c %.9g, portable %.9g %.9g",
                                 encodec_kernels_name(paths[p]), H, step, k, h[k], c[k],
                                 h_ref[k], c_ref[k]);
                    h[k] = h_ref[k]; /* each step from the same state */
                    c[k] = c_ref[k];
                }
            }
        }
        free(w_hh_t);
        free(zx);
        free(z_tmp);
        free((void *)ptrs);
    }
}

/* Rows moved within themselves (overlapping, as the stream buffers drop consumed columns) and
 * between buffers, with 1 and 3 threads: each row as memmove gives it. */
static void test_move_rows(void **state)
{
    (void)state;
    enum { ROWS = 37, STRIDE = 3001, N = 2000, SHIFT = 777 };
    float *src = malloc(sizeof(float) * ROWS * STRIDE), *want = malloc(sizeof(float) * ROWS * STRIDE);
    float *got = malloc(sizeof(float) * ROWS * STRIDE), *dst = malloc(sizeof(float) * ROWS * N);
    assert_non_null(src);
    assert_non_null(want);
    assert_non_null(got);
    assert_non_null(dst);
    for (int i = 0; i < ROWS * STRIDE; i++)
        src[i] = frand();
    memcpy(want, src, sizeof(float) * ROWS * STRIDE);
    for (int r = 0; r < ROWS; r++)
        memmove(want + (size_t)r * STRIDE, want + (size_t)r * STRIDE + SHIFT, sizeof(float) * N);
    for (int threads = 1; threads <= 3; threads += 2) {
        const ecl_exec ex = {ENCODEC_KERNELS_PORTABLE, threads};
        memcpy(got, src, sizeof(float) * ROWS * STRIDE);
        ecl_k_move_rows(got, STRIDE, got + SHIFT, STRIDE, ROWS, N, &ex);
        assert_memory_equal(got, want, sizeof(float) * ROWS * STRIDE);
        ecl_k_move_rows(dst, N, src + 5, STRIDE, ROWS, N, &ex);
        for (int r = 0; r < ROWS; r++)
            assert_memory_equal(dst + (size_t)r * N, src + (size_t)r * STRIDE + 5, sizeof(float) * N);
    }
    free(src);
    free(want);
    free(got);
    free(dst);
}

static void test_half_rounding(void **state)
{
    (void)state;
    for (uint32_t h = 0; h < 0x10000u; h++) {
        if ((h & 0x7c00u) == 0x7c00u)
            continue; /* inf, NaN */
        const float f = ecl_half_to_float((uint16_t)h);
        assert_int_equal(ecl_float_to_half(f), h);
        if ((h & 0x7fffu) == 0x7bffu)
            continue;
        /* Between h and the next half away from zero: the midpoint goes to the even one,
         * anything nearer to one side to that side. */
        const float next = ecl_half_to_float((uint16_t)(h + 1));
        const float mid = f + (next - f) * 0.5f;
        assert_int_equal(ecl_float_to_half(mid), (h & 1u) ? h + 1 : h);
        assert_int_equal(ecl_float_to_half(nextafterf(mid, f)), h);
        assert_int_equal(ecl_float_to_half(nextafterf(mid, next)), h + 1);
    }
    assert_int_equal(ecl_float_to_half(65519.99f), 0x7bffu);
    assert_int_equal(ecl_float_to_half(65520.0f), 0x7c00u);
    assert_int_equal(ecl_float_to_half(-1e30f), 0xfc00u);
    assert_int_equal(ecl_float_to_half(1e-30f), 0);
    assert_int_equal(ecl_float_to_half(-0.0f), 0x8000u);
    assert_int_equal(ecl_float_to_half(NAN) & 0x7e00u, 0x7e00u);
    const float fits[3] = {1.0f, -65504.0f, 3e-8f}, too_big[3] = {1.0f, 70000.0f, 0.0f};
    uint16_t h[3];
    assert_true(ecl_k_to_half(fits, 3, h));
    assert_int_equal(h[1], 0xfbffu);
    assert_false(ecl_k_to_half(too_big, 3, h));
}

static void test_path_selection(void **state)
{
    (void)state;
    assert_string_equal(encodec_kernels_name(ENCODEC_KERNELS_PORTABLE), "portable");
    assert_null(encodec_kernels_name((encodec_kernels)99));
    assert_true(encodec_kernels_supported(ENCODEC_KERNELS_AUTO));
    assert_true(encodec_kernels_supported(ENCODEC_KERNELS_PORTABLE));
    assert_false(encodec_kernels_supported((encodec_kernels)-1));

    char *path = tu_data_path("tiny24.safetensors");
    encodec_model *m = NULL;
    assert_int_equal(encodec_model_load_file(path, &m, NULL, 0), ENCODEC_OK);
    free(path);
    encodec_encoder *e;
    encodec_decoder *d;
    assert_int_equal(encodec_encoder_create(m, &e), ENCODEC_OK);
    assert_int_equal(encodec_decoder_create(m, &d), ENCODEC_OK);
    /* AUTO resolves to a concrete supported path. */
    const encodec_kernels best = encodec_encoder_kernels(e);
    assert_int_not_equal(best, ENCODEC_KERNELS_AUTO);
    assert_true(encodec_kernels_supported(best));
    assert_int_equal(encodec_decoder_kernels(d), best);
    for (int isa = ENCODEC_KERNELS_PORTABLE; isa <= ENCODEC_KERNELS_NEON; isa++) {
        const int want = encodec_kernels_supported((encodec_kernels)isa) ? ENCODEC_OK
                                                                          : ENCODEC_EUNSUPPORTED;
        assert_int_equal(encodec_encoder_set_kernels(e, (encodec_kernels)isa), want);
        assert_int_equal(encodec_decoder_set_kernels(d, (encodec_kernels)isa), want);
        if (want == ENCODEC_OK) {
            assert_int_equal(encodec_encoder_kernels(e), isa);
            assert_int_equal(encodec_decoder_kernels(d), isa);
        }
    }
    assert_int_equal(encodec_encoder_set_kernels(e, (encodec_kernels)7), ENCODEC_EINVAL);
    assert_int_equal(encodec_decoder_set_kernels(d, (encodec_kernels)-3), ENCODEC_EINVAL);
    assert_int_equal(encodec_encoder_set_kernels(NULL, ENCODEC_KERNELS_AUTO), ENCODEC_EINVAL);
    assert_int_equal(encodec_decoder_set_kernels(NULL, ENCODEC_KERNELS_AUTO), ENCODEC_EINVAL);
    assert_int_equal(encodec_encoder_set_kernels(e, ENCODEC_KERNELS_AUTO), ENCODEC_OK);
    assert_int_equal(encodec_encoder_kernels(e), best);

    /* Not in the middle of a stream. */
    float pcm[1000] = {0};
    int32_t codes[64 * 32];
    size_t frames;
    assert_int_equal(encodec_encoder_push(e, pcm, 1000, codes, NULL, 64, &frames), ENCODEC_OK);
    assert_int_equal(encodec_encoder_set_kernels(e, ENCODEC_KERNELS_PORTABLE), ENCODEC_ESTATE);
    assert_int_equal(encodec_encoder_reset(e), ENCODEC_OK);
    assert_int_equal(encodec_encoder_set_kernels(e, ENCODEC_KERNELS_PORTABLE), ENCODEC_OK);
    encodec_encoder_free(e);
    encodec_decoder_free(d);
    encodec_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simd_gemm_matches_portable),
        cmocka_unit_test(test_simd_elu_matches_portable),
        cmocka_unit_test(test_simd_lstm_matches_portable),
        cmocka_unit_test(test_move_rows),
        cmocka_unit_test(test_half_rounding),
        cmocka_unit_test(test_path_selection),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
