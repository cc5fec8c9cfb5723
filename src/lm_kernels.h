/* The language model's fixed-order kernels, written once and included by lm.c for each
 * instruction set, which defines the parameters first (this file undefines them):
 *   LMK_SUFFIX   suffix of the instance's names
 *   LMK_ROWS     rows per pass of a matrix-vector product
 *   LMK_MM_ROWS, LMK_MM_COLS   tile of a matrix-matrix product (rows x frames)
 *   LMK_CVT8     eight float16 weights to float32 lanes;  LMK_EXPF_N  detmath's array exp
 * Every result has the same bits in every instance: a dot product is accumulated in eight
 * lanes (element i into lane i mod 8, in increasing i, the tail zero-padded), the lanes added
 * in one fixed tree; element-wise loops keep their order per element. Only separate IEEE
 * multiplies and adds are used (lm.c is built without FMA contraction), so the vector width
 * changes the instructions, never the arithmetic. */

#define LMK_CAT_(a, b) a##b
#define LMK_CAT(a, b) LMK_CAT_(a, b)
#define LMK(name) LMK_CAT(name, LMK_SUFFIX)

/* (Helpers pass vectors by pointer: by value would be a different ABI per instance.) */

/* The last n < 8 elements in lanes 0..n-1, zeros after them (a zero product adds nothing). */
static inline void LMK(load_tail)(lanes8 *v, const float *p, int n)
{
    float t[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    memcpy(t, p, (size_t)n * sizeof *p);
    memcpy(v, t, sizeof *v);
}

/* The fixed lane reduction shared by every dot product. */
static inline float LMK(hsum8)(const lanes8 *a)
{
    float l[8];
    memcpy(l, a, sizeof l);
    return ((l[0] + l[4]) + (l[2] + l[6])) + ((l[1] + l[5]) + (l[3] + l[7]));
}

/* Eight weights as float32 lanes, from float32 or float16 (exact conversion). */
static inline __attribute__((always_inline)) void LMK(load_w)(lanes8 *v, const void *w,
                                                              size_t i, int f16)
{
    if (f16)
        LMK_CVT8(v, (const uint16_t *)w + i);
    else
        memcpy(v, (const float *)w + i, sizeof *v);
}

/* The last n < 8 weights from i on, zero-padded. */
static inline void LMK(load_w_tail)(lanes8 *v, const void *w, size_t i, int n, int f16)
{
    float t[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int j = 0; j < n; j++)
        t[j] = f16 ? ecl_half_to_float(((const uint16_t *)w)[i + j]) : ((const float *)w)[i + j];
    memcpy(v, t, sizeof *v);
}

/* The one dot-product routine: rows r0 .. r0 + R - 1 of w (n wide) against inputs x[0..C)
 * (row stride ldx), out[c * ldo + r] = sum_i w[r][i] x[c][i] in lane order. A weight vector is
 * loaded once for the C inputs and an input vector once for the R rows; the R x C independent
 * chains keep the adder busy. R, C and f16 are constants at every call (always inlined). */
#define LMK_TILE_MAX (LMK_ROWS > LMK_MM_ROWS ? LMK_ROWS : LMK_MM_ROWS)
static inline __attribute__((always_inline)) void LMK(dot_tile)(const void *w, int f16,
                                                                size_t r0, const int R,
                                                                const float *x, size_t ldx,
                                                                const int C, int n, float *out,
                                                                size_t ldo)
{
    lanes8 acc[LMK_TILE_MAX][LMK_MM_COLS], xv[LMK_MM_COLS], u;
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++)
            acc[r][c] = (lanes8)LANES8_ZERO;
    int i = 0;
    for (; i + 8 <= n; i += 8) {
#pragma GCC unroll 8
        for (int c = 0; c < C; c++)
            memcpy(&xv[c], x + (size_t)c * ldx + i, sizeof xv[c]);
#pragma GCC unroll 8
        for (int r = 0; r < R; r++) {
            LMK(load_w)(&u, w, (r0 + (size_t)r) * (size_t)n + (size_t)i, f16);
#pragma GCC unroll 8
            for (int c = 0; c < C; c++)
                LANES8_MADD(acc[r][c], u, xv[c]);
        }
    }
    if (i < n) {
        for (int c = 0; c < C; c++)
            LMK(load_tail)(&xv[c], x + (size_t)c * ldx + i, n - i);
        for (int r = 0; r < R; r++) {
            LMK(load_w_tail)(&u, w, (r0 + (size_t)r) * (size_t)n + (size_t)i, n - i, f16);
            for (int c = 0; c < C; c++)
                LANES8_MADD(acc[r][c], u, xv[c]);
        }
    }
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++)
            out[(size_t)c * ldo + (size_t)r] = LMK(hsum8)(&acc[r][c]);
}

/* sum_i w[i] x[i] in lane order. */
static float LMK(dot)(const float *w, const float *x, int n)
{
    float d;
    LMK(dot_tile)(w, 0, 0, 1, x, 0, 1, n, &d, 0);
    return d;
}

/* Y[c] = W X[c] + b for rows [row0, row1): one input in tiles of LMK_ROWS rows, several in
 * tiles of LMK_MM_ROWS x LMK_MM_COLS, the rest row by row. */
static inline __attribute__((always_inline)) void LMK(products)(
    const void *w, int f16, const float *b, const float *x, size_t ldx, int n_x, int cols,
    float *y, size_t ldy, int row0, int row1)
{
    for (int c0 = 0; c0 < n_x; c0 += LMK_MM_COLS) {
        const int C = n_x - c0 < LMK_MM_COLS ? n_x - c0 : LMK_MM_COLS;
        const float *xc = x + (size_t)c0 * ldx;
        float *yc = y + (size_t)c0 * ldy;
        int r0 = row0;
        if (C == 1)
            for (; r0 + LMK_ROWS <= row1; r0 += LMK_ROWS)
                LMK(dot_tile)(w, f16, (size_t)r0, LMK_ROWS, xc, ldx, 1, cols, yc + r0, ldy);
        else if (C == LMK_MM_COLS)
            for (; r0 + LMK_MM_ROWS <= row1; r0 += LMK_MM_ROWS)
                LMK(dot_tile)(w, f16, (size_t)r0, LMK_MM_ROWS, xc, ldx, LMK_MM_COLS, cols,
                              yc + r0, ldy);
        for (; r0 < row1; r0++)
            LMK(dot_tile)(w, f16, (size_t)r0, 1, xc, ldx, C, cols, yc + r0, ldy);
        for (int c = 0; c < C; c++)
            for (int r = row0; r < row1; r++)
                yc[(size_t)c * ldy + (size_t)r] += b[r];
    }
}

/* Rows [row0, row0 + per_block) (clipped to rows) of the product below. */
static inline void LMK(block)(const ecl_lm_matrix *w, const float *b, const float *x, size_t ldx,
                              int n_x, int rows, int cols, float *y, size_t ldy, int row0,
                              int per_block)
{
    const int row1 = row0 + per_block < rows ? row0 + per_block : rows;
    if (w->f16)
        LMK(products)(w->f16, 1, b, x, ldx, n_x, cols, y, ldy, row0, row1);
    else
        LMK(products)(w->f32, 0, b, x, ldx, n_x, cols, y, ldy, row0, row1);
}

/* Y[t] = W X[t] + b for n_x inputs X[t] (row stride ldx) into Y[t] (row stride ldy); every
 * element's bits are the same whatever n_x, the tiling or the thread count. OpenMP over blocks
 * of rows, each output computed by one thread. */
static void LMK(matmat)(const ecl_lm_matrix *w, const float *b, const float *x, size_t ldx,
                        int n_x, int rows, int cols, float *y, size_t ldy, int n_threads)
{
    const int per_block = 16 * LMK_ROWS, blocks = (rows + per_block - 1) / per_block;
    /* a parallel region costs microseconds: only products of a million multiply-adds (the
     * heads, the blocks of frames) gain from a second thread */
    if (ECL_PARALLEL(n_threads, (double)rows * cols * n_x, 1 << 20)) {
#pragma omp parallel for schedule(static) num_threads(n_threads)
        for (int blk = 0; blk < blocks; blk++)
            LMK(block)(w, b, x, ldx, n_x, rows, cols, y, ldy, blk * per_block, per_block);
    } else {
        for (int blk = 0; blk < blocks; blk++)
            LMK(block)(w, b, x, ldx, n_x, rows, cols, y, ldy, blk * per_block, per_block);
    }
}

/* y = W x + b for W [rows][cols]. */
static void LMK(matvec)(const ecl_lm_matrix *w, const float *b, const float *x, int rows,
                        int cols, float *y, int n_threads)
{
    LMK(matmat)(w, b, x, (size_t)cols, 1, rows, cols, y, (size_t)rows, n_threads);
}

/* o[i] += a * v[i] for i < n: independent elements, so vectors of eight change nothing. */
static void LMK(axpy)(float a, const float *v, float *o, int n)
{
    int i = 0;
    const lanes8 av = LANES8_SET1(a);
    lanes8 ov, vv;
    for (; i + 8 <= n; i += 8) {
        memcpy(&ov, o + i, sizeof ov);
        memcpy(&vv, v + i, sizeof vv);
        LANES8_MADD(ov, av, vv);
        memcpy(o + i, &ov, sizeof ov);
    }
    for (; i < n; i++)
        o[i] += a * v[i];
}

/* Attention scores of one head for key slots [0, n_slots) rounded up to eight: keys stored
 * transposed, element i of slot s at kt[i * ldk + s] (ldk a multiple of eight). scores[s] has
 * exactly dot()'s bits for q and that key: element i accumulated in lane i mod 8 in increasing
 * i, the lanes added in hsum8's tree; here a vector holds eight slots, one per lane, and the
 * eight "lanes" of dot() are eight vectors. */
static void LMK(scores)(const float *q, const float *kt, size_t ldk, int hd, int n_slots,
                        float *scores)
{
    for (int s = 0; s < n_slots; s += 8) {
        lanes8 acc[8], kv;
        for (int l = 0; l < 8; l++)
            acc[l] = (lanes8)LANES8_ZERO;
        for (int i = 0; i < hd; i++) {
            memcpy(&kv, kt + (size_t)i * ldk + (size_t)s, sizeof kv);
            LANES8_MADD(acc[i & 7], LANES8_SET1(q[i]), kv);
        }
        float a[8][8];
        memcpy(a, acc, sizeof a);
        for (int j = 0; j < 8; j++)
            scores[s + j] = ((a[0][j] + a[4][j]) + (a[2][j] + a[6][j])) +
                            ((a[1][j] + a[5][j]) + (a[3][j] + a[7][j]));
    }
}

/* o[i] = sum_j p[j] v_j[i] for i < hd, in increasing j (axpy's arithmetic): v_j for j < n is
 * the value in ring slot (first + j) mod window (rows of stride ldv), v_n is cur. */
static void LMK(weighted_values)(const float *p, int n, const float *rows, size_t ldv, int first,
                                 int window, const float *cur, int hd, float *o)
{
    for (int i = 0; i < hd; i++)
        o[i] = 0.0f;
    for (int j = 0, slot = first; j < n; j++, slot = slot + 1 == window ? 0 : slot + 1)
        LMK(axpy)(p[j], rows + (size_t)slot * ldv, o, hd);
    LMK(axpy)(p[n], cur, o, hd);
}

/* In-place softmax of n values: exp(v - max) from detmath, sequential double sum, each value
 * divided by the sum in double and rounded once (the subtraction and division are element-wise,
 * so vectors change nothing). */
static void LMK(softmax)(float *v, int n)
{
    float m = v[0];
    for (int i = 1; i < n; i++)
        m = v[i] > m ? v[i] : m;
    int i = 0;
#if defined(__GNUC__) || defined(__clang__)
    const lanes8 mv = LANES8_SET1(m);
    for (lanes8 t; i + 8 <= n; i += 8) {
        memcpy(&t, v + i, sizeof t);
        t -= mv;
        memcpy(v + i, &t, sizeof t);
    }
#endif
    for (; i < n; i++)
        v[i] -= m;
    LMK_EXPF_N(v, v, n);
    double sum = 0.0;
    for (i = 0; i < n; i++)
        sum += v[i];
    i = 0;
#if defined(__GNUC__) || defined(__clang__)
    typedef float f4 __attribute__((vector_size(16)));
    typedef double d4 __attribute__((vector_size(32)));
    for (f4 t; i + 4 <= n; i += 4) {
        memcpy(&t, v + i, sizeof t);
        t = __builtin_convertvector(__builtin_convertvector(t, d4) / sum, f4);
        memcpy(v + i, &t, sizeof t);
    }
#endif
    for (; i < n; i++)
        v[i] = (float)(v[i] / sum);
}

static const lm_kernels LMK(lm_kernels) = {LMK(matvec), LMK(matmat), LMK(dot), LMK(axpy),
                                         LMK(softmax), LMK(scores), LMK(weighted_values)};

#undef LMK
#undef LMK_CAT
#undef LMK_CAT_
#undef LMK_SUFFIX
#undef LMK_ROWS
#undef LMK_MM_ROWS
#undef LMK_MM_COLS
#undef LMK_EXPF_N
#undef LMK_CVT8
#undef LMK_TILE_MAX
