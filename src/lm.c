/* The entropy-coding language model: loading and validation of its weights, the per-stream
 * state with ring buffers of projected keys and values, the one-frame step of spec 10.1-10.3,
 * a whole-sequence reference used by the tests, and the public call that attaches an LM to a
 * codec model. Bit-reproducibility rules (see lm.h): each dot product is accumulated in eight
 * lanes (element i goes to lane i mod 8, lanes summed in a fixed tree), whether the compiler
 * uses SSE, AVX, NEON or scalar code; other sums are sequential; OpenMP splits only output
 * rows; exp/erf/sin/cos/pow are detmath.c's; built with -ffp-contract=off. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF /* GCC ignores this pragma: the build passes -ffp-contract=off */
#endif

#include "lm.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "detmath.h"
#include "kernels.h"
#include "model.h"
#include "safetensors.h"
#include "util.h"

#define LN_EPS 1e-5 /* LayerNorm epsilon of every norm in the reference LM */

/* ---- fixed-order kernels -------------------------------------------------------------------- */

/* Eight float lanes: one 32-byte vector (one AVX register, two SSE or NEON registers: the
 * operations are element-wise IEEE, so any instructions give these exact bits). */
#if defined(__GNUC__) || defined(__clang__)
typedef float lanes8 __attribute__((vector_size(32)));
#define LANES8_ZERO {0, 0, 0, 0, 0, 0, 0, 0}
#define LANES8_SET1(a) ((lanes8){(a), (a), (a), (a), (a), (a), (a), (a)})
#define LANES8_MADD(acc, a, b) ((acc) += (a) * (b))
#else
typedef struct {
    float l[8];
} lanes8;
#define LANES8_ZERO {{0, 0, 0, 0, 0, 0, 0, 0}}
static lanes8 lanes8_set1(float a)
{
    lanes8 v;
    for (int l = 0; l < 8; l++)
        v.l[l] = a;
    return v;
}
#define LANES8_SET1(a) lanes8_set1(a)
#define LANES8_MADD(acc, a, b)                                                                \
    do {                                                                                      \
        const lanes8 a_ = (a), b_ = (b);                                                      \
        for (int l_ = 0; l_ < 8; l_++)                                                        \
            (acc).l[l_] += a_.l[l_] * b_.l[l_];                                               \
    } while (0)
#endif

/* The kernels of one instruction set (lm_kernels.h); the state picks an instance. */
typedef struct {
    void (*matvec)(const ecl_lm_matrix *w, const float *b, const float *x, int rows, int cols,
                   float *y, int n_threads);
    void (*matmat)(const ecl_lm_matrix *w, const float *b, const float *x, size_t ldx, int n_x,
                   int rows, int cols, float *y, size_t ldy, int n_threads);
    float (*dot)(const float *w, const float *x, int n);
    void (*axpy)(float a, const float *v, float *o, int n);
    void (*softmax)(float *v, int n);
    void (*scores)(const float *q, const float *kt, size_t ldk, int hd, int n_slots,
                   float *scores);
    void (*weighted_values)(const float *p, int n, const float *rows, size_t ldv, int first,
                            int window, const float *cur, int hd, float *o);
} lm_kernels;

static inline void lm_half8_generic(lanes8 *v, const uint16_t *p)
{
    float t[8];
    for (int j = 0; j < 8; j++)
        t[j] = ecl_half_to_float(p[j]);
    memcpy(v, t, sizeof t);
}

#define LMK_SUFFIX _generic
#define LMK_CVT8 lm_half8_generic
#define LMK_ROWS 4
#define LMK_MM_ROWS 2
#define LMK_MM_COLS 2
#define LMK_EXPF_N ecl_det_expf_n
#include "lm_kernels.h" /* undefines the LMK_ parameters */

#if defined(ECL_DET_HAVE_AVX2)
#define LM_HAVE_AVX2 1
#include <immintrin.h>
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,f16c"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,f16c")
#endif
static inline void lm_half8_avx2(lanes8 *v, const uint16_t *p)
{
    const __m256 f = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)p));
    memcpy(v, &f, sizeof f);
}
#define LMK_CVT8 lm_half8_avx2
#define LMK_SUFFIX _avx2
#define LMK_ROWS 8
#define LMK_MM_ROWS 2
#define LMK_MM_COLS 4
#define LMK_EXPF_N ecl_det_expf_n_avx2
#include "lm_kernels.h" /* undefines the LMK_ parameters */
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#endif

/* The instance for a kernel path of the codec (results are the same on all). */
static const lm_kernels *lm_kernels_for(encodec_kernels isa)
{
#ifdef LM_HAVE_AVX2
    if ((isa == ENCODEC_KERNELS_AVX2 || isa == ENCODEC_KERNELS_AVX512) &&
        ecl_isa_supported(ENCODEC_KERNELS_AVX2)) /* which includes F16C */
        return &lm_kernels_avx2;
#endif
    (void)isa;
    return &lm_kernels_generic;
}

/* LayerNorm over n values (biased variance, eps 1e-5, affine), statistics in double with
 * sequential sums. y may alias x. */
static void layer_norm(const float *x, const float *w, const float *b, int n, float *y)
{
    double mean = 0.0, var = 0.0;
    for (int i = 0; i < n; i++)
        mean += x[i];
    mean /= n;
    for (int i = 0; i < n; i++) {
        const double d = x[i] - mean;
        var += d * d;
    }
    var /= n;
    const double rstd = 1.0 / sqrt(var + LN_EPS); /* IEEE sqrt: correctly rounded */
    for (int i = 0; i < n; i++)
        y[i] = (float)((x[i] - mean) * rstd * w[i] + b[i]);
}

/* ---- one frame, shared by the step and the sequence reference -------------------------------- */

/* x = LayerNorm_in(sum_k emb_k[prev[k]]) + positional embedding of `offset` (spec 10.1-10.2). */
static void embed_frame(const ecl_lm *lm, const int32_t *prev, int n_codebooks, int64_t offset,
                        float *x)
{
    const int d = lm->dim, half = d / 2;
    const float *e0 = lm->emb + (size_t)prev[0] * d;
    memcpy(x, e0, (size_t)d * sizeof *x);
    for (int k = 1; k < n_codebooks; k++) {
        const float *e = lm->emb + ((size_t)k * (lm->card + 1) + (size_t)prev[k]) * d;
        for (int i = 0; i < d; i++)
            x[i] += e[i];
    }
    layer_norm(x, lm->norm_in_w, lm->norm_in_b, d, x);
    /* PyTorch turns the int64 position into float32, then divides by the float32 frequency */
    const float pos = (float)offset;
    for (int j = 0; j < half; j++) {
        const float phase = pos / lm->pos_freq[j];
        x[j] += ecl_det_cosf(phase);
        x[half + j] += ecl_det_sinf(phase);
    }
}

/* Multi-head attention of one query over n keys/values given by row pointers in chronological
 * order (the window). qkv: the query's projections [q | k | v]; scores: [n]; o: [dim]. */
static void attention(const ecl_lm *lm, const lm_kernels *kern, const float *qkv,
                      const float *const *keys, const float *const *values, int n,
                      float *q_scaled, float *scores, float *o)
{
    const int d = lm->dim, hd = lm->head_dim;
    for (int i = 0; i < d; i++)
        q_scaled[i] = qkv[i] / lm->q_divisor; /* the reference scales q before the product */
    for (int h = 0; h < lm->num_heads; h++) {
        const int off = h * hd;
        for (int j = 0; j < n; j++)
            scores[j] = kern->dot(q_scaled + off, keys[j] + off, hd);
        kern->softmax(scores, n);
        float *oh = o + off;
        for (int i = 0; i < hd; i++)
            oh[i] = 0.0f;
        for (int j = 0; j < n; j++)
            kern->axpy(scores[j], values[j] + off, oh, hd);
    }
}

/* The same attention over a layer's ring: n past entries from slot `oldest` (chronological
 * order wraps at `window`), keys transposed (kt[e * ldk + slot]), values as rows, then the
 * frame's own key and value in qkv. The same bits as attention() over those rows in order.
 * slot_scores: [ldk]; scores: [window + 1]. */
static void attention_ring(const ecl_lm *lm, const lm_kernels *kern, const float *qkv,
                           const float *kt, size_t ldk, const float *values, int n, int oldest,
                           int window, float *q_scaled, float *slot_scores, float *scores,
                           float *o)
{
    const int d = lm->dim, hd = lm->head_dim;
    for (int i = 0; i < d; i++)
        q_scaled[i] = qkv[i] / lm->q_divisor;
    /* slots [oldest, oldest + n) wrapped: chronological order is two runs of slots */
    const int run1 = n < window - oldest ? n : window - oldest;
    for (int h = 0; h < lm->num_heads; h++) {
        const int off = h * hd;
        /* the ring fills slots 0.. first, so its entries are always slots [0, n) */
        kern->scores(q_scaled + off, kt + (size_t)off * ldk, ldk, hd, n, slot_scores);
        memcpy(scores, slot_scores + oldest, (size_t)run1 * sizeof *scores);
        memcpy(scores + run1, slot_scores, (size_t)(n - run1) * sizeof *scores);
        scores[n] = kern->dot(q_scaled + off, qkv + d + off, hd);
        kern->softmax(scores, n + 1);
        kern->weighted_values(scores, n, values + off, (size_t)d, oldest, window,
                              qkv + 2 * d + off, hd, o + off);
    }
}

/* Scratch of one frame's layer computation. */
typedef struct {
    float *qkv;      /* [3 * dim] */
    float *q_scaled; /* [dim] */
    float *attn;     /* [dim] concatenated head outputs */
    float *tmp;      /* [dim] */
    float *hidden;   /* [ff_dim] */
    float *scores;   /* [window + 1] */
} frame_scratch;

/* The rest of a post-norm layer after attention: x = LN2(x1 + FF(x1)), x1 = LN1(x + out(o)). */
/* x = LayerNorm(x + y) (the post-norm residual); y is overwritten. */
static void residual_norm(float *x, float *y, int d, const float *w, const float *b)
{
    for (int i = 0; i < d; i++)
        y[i] = x[i] + y[i];
    layer_norm(y, w, b, d, x);
}

static void layer_finish(const ecl_lm *lm, const lm_kernels *kern, const ecl_lm_layer *ly,
                         float *x, frame_scratch *s, int n_threads)
{
    const int d = lm->dim;
    kern->matvec(&ly->out_proj, ly->out_proj_b, s->attn, d, d, s->tmp, n_threads);
    residual_norm(x, s->tmp, d, ly->norm1_w, ly->norm1_b);
    kern->matvec(&ly->linear1, ly->linear1_b, x, lm->ff_dim, d, s->hidden, n_threads);
    for (int i = 0; i < lm->ff_dim; i++)
        s->hidden[i] = ecl_det_gelu(s->hidden[i]);
    kern->matvec(&ly->linear2, ly->linear2_b, s->hidden, d, lm->ff_dim, s->tmp, n_threads);
    residual_norm(x, s->tmp, d, ly->norm2_w, ly->norm2_b);
}

/* probs[k][:] = softmax(head_k(x)) for k < n_codebooks: the first n_codebooks heads are one
 * contiguous [n_codebooks * card][dim] matrix. */
static void output_heads(const ecl_lm *lm, const lm_kernels *kern, const float *x,
                         int n_codebooks, float *probs, int n_threads)
{
    kern->matvec(&lm->head, lm->head_b, x, n_codebooks * lm->card, lm->dim, probs, n_threads);
    if (ECL_PARALLEL(n_threads, (double)n_codebooks * lm->card, 1 << 16)) {
#pragma omp parallel for schedule(static) num_threads(n_threads)
        for (int k = 0; k < n_codebooks; k++)
            kern->softmax(probs + (size_t)k * lm->card, lm->card);
    } else {
        for (int k = 0; k < n_codebooks; k++)
            kern->softmax(probs + (size_t)k * lm->card, lm->card);
    }
}

static int check_inputs(const ecl_lm *lm, const int32_t *prev, int n_codebooks)
{
    if (n_codebooks < 1 || n_codebooks > lm->n_q)
        return ENCODEC_EINVAL;
    for (int k = 0; k < n_codebooks; k++)
        if (prev[k] < 0 || prev[k] > lm->card)
            return ENCODEC_ECODE;
    return ENCODEC_OK;
}

/* ---- loading -------------------------------------------------------------------------------- */

typedef struct {
    const ecl_safetensors *st;
    const char *source;
    char *msg;
    size_t msg_size;
} lm_loader;

static int lm_cfg_error(lm_loader *ld, const char *what)
{
    return ecl_fail(ld->msg, ld->msg_size, ENCODEC_EWEIGHTS_CONFIG, "%s: LM configuration: %s",
                    ld->source, what);
}

static int lm_cfg_int(lm_loader *ld, const cJSON *root, const char *key, int lo, int hi,
                      int *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    char buf[160];
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < lo ||
        v->valuedouble > hi) {
        snprintf(buf, sizeof buf, "\"%s\" must be an integer in [%d, %d]", key, lo, hi);
        return lm_cfg_error(ld, buf);
    }
    *out = (int)v->valuedouble;
    return 0;
}

/* Optional boolean that, when present, must have the only value this library implements. */
static int lm_cfg_expect_bool(lm_loader *ld, const cJSON *root, const char *key, int want)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    char buf[160];
    if (v && !(cJSON_IsBool(v) && cJSON_IsTrue(v) == want)) {
        snprintf(buf, sizeof buf, "\"%s\" must be %s (the only supported value)", key,
                 want ? "true" : "false");
        return lm_cfg_error(ld, buf);
    }
    return 0;
}

static int lm_parse_config(lm_loader *ld, const char *json, ecl_lm *lm)
{
    cJSON *root = cJSON_Parse(json);
    int err = 0;
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return lm_cfg_error(ld, "\"config\" metadata is not a JSON object");
    }
    const cJSON *hs = cJSON_GetObjectItemCaseSensitive(root, "hidden_scale");
    const cJSON *mp = cJSON_GetObjectItemCaseSensitive(root, "max_period");
    const cJSON *dropout = cJSON_GetObjectItemCaseSensitive(root, "dropout");
    if (!err)
        err = lm_cfg_int(ld, root, "n_q", 1, 1024, &lm->n_q);
    if (!err)
        err = lm_cfg_int(ld, root, "card", 2, 65536, &lm->card);
    if (!err)
        err = lm_cfg_int(ld, root, "dim", 4, 8192, &lm->dim);
    if (!err)
        err = lm_cfg_int(ld, root, "num_heads", 1, 8192, &lm->num_heads);
    if (!err)
        err = lm_cfg_int(ld, root, "num_layers", 1, 256, &lm->num_layers);
    if (!err)
        err = lm_cfg_int(ld, root, "past_context", 1, 1 << 20, &lm->past_context);
    if (!err && (lm->dim % 2 || lm->dim % lm->num_heads))
        err = lm_cfg_error(ld, "\"dim\" must be even and a multiple of \"num_heads\"");
    if (!err) {
        if (!cJSON_IsNumber(hs) || !(hs->valuedouble > 0) ||
            !(hs->valuedouble * lm->dim >= 1 && hs->valuedouble * lm->dim <= 1 << 20))
            err = lm_cfg_error(ld, "\"hidden_scale\" must be a positive number");
        else
            lm->ff_dim = (int)(hs->valuedouble * lm->dim); /* Python's int(): truncation */
    }
    /* The positional embedding's frequencies are computed for max_period 10000 only. */
    if (!err && mp && !(cJSON_IsNumber(mp) && mp->valuedouble == 10000.0))
        err = lm_cfg_error(ld, "\"max_period\" must be 10000 (the only supported value)");
    if (!err && dropout && !(cJSON_IsNumber(dropout) && dropout->valuedouble >= 0 &&
                             dropout->valuedouble < 1))
        err = lm_cfg_error(ld, "\"dropout\" must be a number in [0, 1) (unused at inference)");
    if (!err)
        err = lm_cfg_expect_bool(ld, root, "gelu", 1);
    if (!err)
        err = lm_cfg_expect_bool(ld, root, "norm_in", 1);
    if (!err)
        err = lm_cfg_expect_bool(ld, root, "norm_first", 0);
    cJSON_Delete(root);
    lm->head_dim = err ? 0 : lm->dim / lm->num_heads;
    return err;
}

/* A tensor checked and copied as float32 (safetensors.h). */
static int lm_load_tensor(lm_loader *ld, const char *name, int n_dims, const int64_t *shape, float *dst)
{
    return ecl_safetensors_read_weight(ld->st, name, n_dims, shape, dst, ld->source, ld->msg,
                                       ld->msg_size);
}

/* Carves the arrays of an ecl_lm out of one block: first pass counts, second assigns. */
typedef struct {
    float *base;
    size_t used;
    int overflow;
} carver;

static float *carve(carver *c, size_t a, size_t b)
{
    size_t n;
    if (!ecl_mul_size(a, b, &n) || n > SIZE_MAX / 4 - c->used - 16) {
        c->overflow = 1;
        return NULL;
    }
    float *p = c->base ? c->base + c->used : NULL;
    c->used += (n + 15) & ~(size_t)15; /* keep every array 64-byte aligned */
    return p;
}

/* A matrix of rows x cols in the LM's weight precision (float16 takes half the floats). */
static ecl_lm_matrix carve_matrix(carver *c, const ecl_lm *lm, size_t rows, size_t cols)
{
    ecl_lm_matrix m = {NULL, NULL};
    size_t n = 0;
    if (!ecl_mul_size(rows, cols, &n)) {
        c->overflow = 1;
        return m;
    }
    if (lm->f16)
        m.f16 = (uint16_t *)carve(c, n / 2 + 1, 1);
    else
        m.f32 = carve(c, n, 1);
    return m;
}

static void carve_all(ecl_lm *lm, carver *c)
{
    const size_t d = (size_t)lm->dim, ff = (size_t)lm->ff_dim;
    lm->norm_in_w = carve(c, d, 1);
    lm->norm_in_b = carve(c, d, 1);
    for (int l = 0; l < lm->num_layers; l++) {
        ecl_lm_layer *ly = &lm->layers[l];
        ly->in_proj = carve_matrix(c, lm, 3 * d, d);
        ly->in_proj_b = carve(c, 3 * d, 1);
        ly->out_proj = carve_matrix(c, lm, d, d);
        ly->out_proj_b = carve(c, d, 1);
        ly->linear1 = carve_matrix(c, lm, ff, d);
        ly->linear1_b = carve(c, ff, 1);
        ly->linear2 = carve_matrix(c, lm, d, ff);
        ly->linear2_b = carve(c, d, 1);
        ly->norm1_w = carve(c, d, 1);
        ly->norm1_b = carve(c, d, 1);
        ly->norm2_w = carve(c, d, 1);
        ly->norm2_b = carve(c, d, 1);
    }
    lm->emb = carve(c, (size_t)lm->n_q * ((size_t)lm->card + 1), d);
    lm->head = carve_matrix(c, lm, (size_t)lm->n_q * (size_t)lm->card, d);
    lm->head_b = carve(c, (size_t)lm->n_q, (size_t)lm->card);
    lm->pos_freq = carve(c, d / 2, 1);
}

/* A float16 matrix tensor checked as lm_load_tensor does and copied bit for bit. */
static int lm_load_f16(lm_loader *ld, const char *name, int n_dims, const int64_t *shape,
                       uint16_t *dst)
{
    int err = ecl_safetensors_read_weight(ld->st, name, n_dims, shape, NULL, ld->source,
                                          ld->msg, ld->msg_size);
    if (err)
        return err;
    const ecl_tensor *t = ecl_safetensors_find(ld->st, name);
    for (size_t i = 0; i < t->n_elements; i++) {
        dst[i] = (uint16_t)(t->data[2 * i] | t->data[2 * i + 1] << 8);
        if ((dst[i] & 0x7c00u) == 0x7c00u)
            return ecl_fail(ld->msg, ld->msg_size, ENCODEC_EWEIGHTS_VALUE,
                            "%s: tensor %s has a NaN or infinite value at index %zu",
                            ld->source, name, i);
    }
    return ENCODEC_OK;
}

/* Whether every matrix tensor of the file is float16 (then they stay float16 in memory). */
static int lm_matrices_f16(const ecl_safetensors *st, const ecl_lm *lm)
{
    static const char *const layer_matrices[4] = {"self_attn.in_proj_weight",
                                                  "self_attn.out_proj.weight",
                                                  "linear1.weight", "linear2.weight"};
    char name[160];
    const ecl_tensor *t;
    for (int l = 0; l < lm->num_layers; l++)
        for (int i = 0; i < 4; i++) {
            snprintf(name, sizeof name, "transformer.layers.%d.%s", l, layer_matrices[i]);
            if (!(t = ecl_safetensors_find(st, name)) || t->dtype != ECL_DTYPE_F16)
                return 0;
        }
    for (int k = 0; k < lm->n_q; k++) {
        snprintf(name, sizeof name, "linears.%d.weight", k);
        if (!(t = ecl_safetensors_find(st, name)) || t->dtype != ECL_DTYPE_F16)
            return 0;
    }
    return 1;
}

static int lm_bind(lm_loader *ld, ecl_lm *lm)
{
    const int64_t d = lm->dim, ff = lm->ff_dim, card = lm->card;
    char name[160];
    int err;
#define LOAD(nd, dst, ...)                                                                    \
    do {                                                                                      \
        const int64_t shape_[] = {__VA_ARGS__};                                               \
        if ((err = lm_load_tensor(ld, name, nd, shape_, dst)))                                \
            return err;                                                                       \
    } while (0)
#define LOAD_MATRIX(m, offset, rows, cols)                                                    \
    do {                                                                                      \
        const int64_t shape_[] = {rows, cols};                                                \
        if ((err = lm->f16 ? lm_load_f16(ld, name, 2, shape_, (m).f16 + (offset))             \
                           : lm_load_tensor(ld, name, 2, shape_, (m).f32 + (offset))))        \
            return err;                                                                       \
    } while (0)
    snprintf(name, sizeof name, "transformer.norm_in.weight");
    LOAD(1, lm->norm_in_w, d);
    snprintf(name, sizeof name, "transformer.norm_in.bias");
    LOAD(1, lm->norm_in_b, d);
    for (int l = 0; l < lm->num_layers; l++) {
        ecl_lm_layer *ly = &lm->layers[l];
        const char *p = "transformer.layers";
        snprintf(name, sizeof name, "%s.%d.self_attn.in_proj_weight", p, l);
        LOAD_MATRIX(ly->in_proj, 0, 3 * d, d);
        snprintf(name, sizeof name, "%s.%d.self_attn.in_proj_bias", p, l);
        LOAD(1, ly->in_proj_b, 3 * d);
        snprintf(name, sizeof name, "%s.%d.self_attn.out_proj.weight", p, l);
        LOAD_MATRIX(ly->out_proj, 0, d, d);
        snprintf(name, sizeof name, "%s.%d.self_attn.out_proj.bias", p, l);
        LOAD(1, ly->out_proj_b, d);
        snprintf(name, sizeof name, "%s.%d.linear1.weight", p, l);
        LOAD_MATRIX(ly->linear1, 0, ff, d);
        snprintf(name, sizeof name, "%s.%d.linear1.bias", p, l);
        LOAD(1, ly->linear1_b, ff);
        snprintf(name, sizeof name, "%s.%d.linear2.weight", p, l);
        LOAD_MATRIX(ly->linear2, 0, d, ff);
        snprintf(name, sizeof name, "%s.%d.linear2.bias", p, l);
        LOAD(1, ly->linear2_b, d);
        snprintf(name, sizeof name, "%s.%d.norm1.weight", p, l);
        LOAD(1, ly->norm1_w, d);
        snprintf(name, sizeof name, "%s.%d.norm1.bias", p, l);
        LOAD(1, ly->norm1_b, d);
        snprintf(name, sizeof name, "%s.%d.norm2.weight", p, l);
        LOAD(1, ly->norm2_w, d);
        snprintf(name, sizeof name, "%s.%d.norm2.bias", p, l);
        LOAD(1, ly->norm2_b, d);
    }
    for (int k = 0; k < lm->n_q; k++) {
        snprintf(name, sizeof name, "emb.%d.weight", k);
        LOAD(2, lm->emb + (size_t)k * (card + 1) * d, card + 1, d);
        snprintf(name, sizeof name, "linears.%d.weight", k);
        LOAD_MATRIX(lm->head, (size_t)k * card * d, card, d);
        snprintf(name, sizeof name, "linears.%d.bias", k);
        LOAD(1, lm->head_b + (size_t)k * card, card);
    }
#undef LOAD
#undef LOAD_MATRIX
    return ENCODEC_OK;
}

int ecl_lm_load(const uint8_t *data, size_t size, const char *source, ecl_lm **out, char *msg,
                size_t msg_size)
{
    ecl_safetensors *st = NULL;
    lm_loader ld = {NULL, source, msg, msg_size};
    *out = NULL;
    int err = ecl_safetensors_open(data, size, &st, msg, msg_size);
    if (err) {
        if (msg && msg_size) { /* prefix the container's message with the source */
            char inner[256];
            snprintf(inner, sizeof inner, "%s", msg);
            snprintf(msg, msg_size, "%s: %s", source, inner);
        }
        return err;
    }
    ld.st = st;
    ecl_lm *lm = calloc(1, sizeof *lm);
    if (!lm) {
        ecl_safetensors_close(st);
        return ecl_fail(msg, msg_size, ENCODEC_ENOMEM, "%s: out of memory", source);
    }
    const char *config = ecl_safetensors_metadata(st, "config");
    if (!config)
        err = ecl_fail(msg, msg_size, ENCODEC_EWEIGHTS_CONFIG,
                       "%s: no \"config\" in the metadata (convert LM checkpoints with "
                       "encodec-convert)",
                       source);
    if (!err)
        err = lm_parse_config(&ld, config, lm);
    if (!err) {
        lm->layers = calloc((size_t)lm->num_layers, sizeof *lm->layers);
        lm->f16 = lm_matrices_f16(st, lm);
        carver c = {NULL, 0, 0};
        if (lm->layers)
            carve_all(lm, &c);
        if (c.overflow)
            err = ecl_fail(msg, msg_size, ENCODEC_EWEIGHTS_CONFIG,
                           "%s: LM configuration too large", source);
        else if (!lm->layers || !(lm->block = ecl_calloc(c.used, sizeof(float))))
            err = ecl_fail(msg, msg_size, ENCODEC_ENOMEM, "%s: out of memory", source);
        else {
            c.base = lm->block;
            c.used = 0;
            carve_all(lm, &c);
        }
    }
    if (!err)
        err = lm_bind(&ld, lm);
    ecl_safetensors_close(st);
    if (err) {
        ecl_lm_free(lm);
        return err;
    }
    /* Frequencies as the reference computes them in float32: 10000 ** (j / (half - 1)). */
    const int half = lm->dim / 2;
    for (int j = 0; j < half; j++)
        lm->pos_freq[j] = ecl_det_pow10000f((float)j / (float)(half - 1));
    lm->q_divisor = (float)sqrt((double)lm->head_dim);
    *out = lm;
    return ENCODEC_OK;
}

void ecl_lm_free(ecl_lm *lm)
{
    if (!lm)
        return;
    ecl_free(lm->block);
    free(lm->layers);
    free(lm);
}

/* ---- stream state --------------------------------------------------------------------------- */

struct ecl_lm_state {
    const ecl_lm *lm;
    int window;     /* past_context: ring capacity */
    int n_threads;
    const lm_kernels *kern;
    /* ---- reset marker: below, the stream's history (set by ecl_lm_state_reset) ---- */
    int64_t offset; /* frames processed in this segment */
    int n_past;     /* entries in every layer's ring (1..window) */
    int oldest;     /* ring slot of the oldest entry (0 until the ring is full) */
    size_t ldk;     /* window rounded up to 8 */
    float *keys;    /* [num_layers][dim][ldk]: W_k s + b_k of past layer inputs s, transposed
                       (element e of slot r at [e * ldk + r]: the scores are vectors of slots) */
    float *values;  /* [num_layers][window][dim]: W_v s + b_v */
    /* ---- scratch ---- */
    float *x;                /* [dim] the current frame's activation */
    frame_scratch s;
    float *bx, *bqkv, *battn, *btmp, *bhidden; /* [ECL_LM_BLOCK][...] for ecl_lm_steps */
    float *slot_scores;       /* [ldk] */
    void *block;
};

int ecl_lm_state_create(const ecl_lm *lm, int past_context, ecl_lm_state **out)
{
    if (!out)
        return ENCODEC_EINVAL;
    *out = NULL;
    if (!lm || past_context < 0 || past_context > (1 << 20))
        return ENCODEC_EINVAL;
    ecl_lm_state *st = calloc(1, sizeof *st);
    if (!st)
        return ENCODEC_ENOMEM;
    st->lm = lm;
    st->window = past_context ? past_context : lm->past_context;
    st->n_threads = 1;
    st->kern = lm_kernels_for(ecl_isa_default());
    const size_t d = (size_t)lm->dim, w = (size_t)st->window;
    st->ldk = (w + 7) & ~(size_t)7;
    size_t ring, total;
    if (!ecl_mul_size((size_t)lm->num_layers * st->ldk, d, &ring) || ring > SIZE_MAX / 4) {
        free(st);
        return ENCODEC_ENOMEM;
    }
    /* rings, x, qkv, q_scaled, attn, tmp, hidden, slot scores, scores (each rounded to 16
     * floats) */
    const size_t ffr = ((size_t)lm->ff_dim + 15) & ~(size_t)15;
    total = 2 * ring + (d + 16) * 7 + ffr + st->ldk + w + 1 + 32 +
            ECL_LM_BLOCK * ((d + 16) * 6 + ffr);
    st->block = ecl_calloc(total, sizeof(float));
    if (!st->block) {
        ecl_lm_state_free(st);
        return ENCODEC_ENOMEM;
    }
    float *p = st->block;
    const size_t dr = (d + 15) & ~(size_t)15;
    st->keys = p, p += ring;
    st->values = p, p += ring;
    st->x = p, p += dr;
    st->s.qkv = p, p += 3 * dr;
    st->s.q_scaled = p, p += dr;
    st->s.attn = p, p += dr;
    st->s.tmp = p, p += dr;
    st->s.hidden = p, p += ffr;
    st->bx = p, p += ECL_LM_BLOCK * dr;
    st->bqkv = p, p += ECL_LM_BLOCK * 3 * dr;
    st->battn = p, p += ECL_LM_BLOCK * dr;
    st->btmp = p, p += ECL_LM_BLOCK * dr;
    st->bhidden = p, p += ECL_LM_BLOCK * ffr;
    st->slot_scores = p, p += (st->ldk + 15) & ~(size_t)15;
    st->s.scores = p;
    ecl_lm_state_reset(st);
    *out = st;
    return ENCODEC_OK;
}

void ecl_lm_state_free(ecl_lm_state *st)
{
    if (!st)
        return;
    ecl_free(st->block);
    free(st);
}

/* Key k of layer l into ring slot `slot` (transposed). */
static void store_key(ecl_lm_state *st, int l, int slot, const float *k)
{
    const size_t d = (size_t)st->lm->dim;
    float *kt = st->keys + (size_t)l * d * st->ldk + (size_t)slot;
    for (size_t e = 0; e < d; e++)
        kt[e * st->ldk] = k[e];
}

void ecl_lm_state_reset(ecl_lm_state *st)
{
    if (!st)
        return;
    const ecl_lm *lm = st->lm;
    const size_t d = (size_t)lm->dim;
    /* The reference starts every layer's past with one zero input vector, whose projected key
     * and value are just the biases. */
    for (int l = 0; l < lm->num_layers; l++) {
        const float *b = lm->layers[l].in_proj_b;
        store_key(st, l, 0, b + d);
        memcpy(st->values + (size_t)l * st->window * d, b + 2 * d, d * sizeof(float));
    }
    st->n_past = 1;
    st->oldest = 0;
    st->offset = 0;
}

int ecl_lm_state_set_exec(ecl_lm_state *st, encodec_kernels isa, int n_threads)
{
    if (!st || n_threads < 1)
        return ENCODEC_EINVAL;
    st->n_threads = n_threads;
    st->kern = lm_kernels_for(isa);
    return ENCODEC_OK;
}

int64_t ecl_lm_state_offset(const ecl_lm_state *st) { return st ? st->offset : 0; }

int ecl_lm_step(const ecl_lm *lm, ecl_lm_state *st, const int32_t *prev, int n_codebooks,
                float *probs)
{
    if (!lm || !st || !prev || !probs || st->lm != lm)
        return ENCODEC_EINVAL;
    int err = check_inputs(lm, prev, n_codebooks);
    if (err)
        return err;
    if (st->offset >= ECL_LM_MAX_OFFSET)
        return ENCODEC_EUNSUPPORTED;
    const size_t d = (size_t)lm->dim, w = (size_t)st->window;
    const int n = st->n_past;
    /* where this frame's key/value go: the next free slot, or over the oldest when full */
    const int slot = n < st->window ? (st->oldest + n) % st->window : st->oldest;
    float *x = st->x;
    frame_scratch *s = &st->s;

    embed_frame(lm, prev, n_codebooks, st->offset, x);
    for (int l = 0; l < lm->num_layers; l++) {
        const ecl_lm_layer *ly = &lm->layers[l];
        const float *ring_k = st->keys + (size_t)l * d * st->ldk;
        float *ring_v = st->values + (size_t)l * w * d;
        st->kern->matvec(&ly->in_proj, ly->in_proj_b, x, 3 * lm->dim, lm->dim, s->qkv,
                         st->n_threads);
        attention_ring(lm, st->kern, s->qkv, ring_k, st->ldk, ring_v, n, st->oldest, st->window,
                       s->q_scaled, st->slot_scores, s->scores, s->attn);
        /* the ring keeps projections of this layer's input, never re-projected */
        store_key(st, l, slot, s->qkv + d);
        memcpy(ring_v + (size_t)slot * d, s->qkv + 2 * d, d * sizeof(float));
        layer_finish(lm, st->kern, ly, x, s, st->n_threads);
    }
    output_heads(lm, st->kern, x, n_codebooks, probs, st->n_threads);
    if (n < st->window)
        st->n_past = n + 1;
    else
        st->oldest = (st->oldest + 1) % st->window;
    st->offset++;
    return ENCODEC_OK;
}

int ecl_lm_steps(const ecl_lm *lm, ecl_lm_state *st, const int32_t *prev, int n_frames,
                 int n_codebooks, float *probs)
{
    if (!lm || !st || !prev || !probs || st->lm != lm || n_frames < 1 ||
        n_frames > ECL_LM_BLOCK)
        return ENCODEC_EINVAL;
    for (int t = 0; t < n_frames; t++) {
        int err = check_inputs(lm, prev + (size_t)t * n_codebooks, n_codebooks);
        if (err)
            return err;
    }
    if (st->offset + n_frames - 1 >= ECL_LM_MAX_OFFSET)
        return ENCODEC_EUNSUPPORTED;
    const lm_kernels *kern = st->kern;
    const int nt = st->n_threads, B = n_frames, window = st->window;
    const size_t d = (size_t)lm->dim, dr = (d + 15) & ~(size_t)15;
    const size_t ffr = ((size_t)lm->ff_dim + 15) & ~(size_t)15;
    float *X = st->bx, *QKV = st->bqkv, *A = st->battn, *T = st->btmp, *H = st->bhidden;
    int n_past = st->n_past, oldest = st->oldest;
    for (int t = 0; t < B; t++)
        embed_frame(lm, prev + (size_t)t * n_codebooks, n_codebooks, st->offset + t,
                    X + (size_t)t * dr);
    for (int l = 0; l < lm->num_layers; l++) {
        const ecl_lm_layer *ly = &lm->layers[l];
        const float *ring_k = st->keys + (size_t)l * d * st->ldk;
        float *ring_v = st->values + (size_t)l * (size_t)window * d;
        kern->matmat(&ly->in_proj, ly->in_proj_b, X, dr, B, 3 * lm->dim, lm->dim, QKV, 3 * dr,
                     nt);
        /* attention frame by frame, each seeing the ring as ecl_lm_step would */
        n_past = st->n_past, oldest = st->oldest;
        for (int t = 0; t < B; t++) {
            const float *qkv = QKV + (size_t)t * 3 * dr;
            const int n = n_past;
            const int slot = n < window ? (oldest + n) % window : oldest;
            attention_ring(lm, kern, qkv, ring_k, st->ldk, ring_v, n, oldest, window,
                           st->s.q_scaled, st->slot_scores, st->s.scores, A + (size_t)t * dr);
            store_key(st, l, slot, qkv + d);
            memcpy(ring_v + (size_t)slot * d, qkv + 2 * d, d * sizeof(float));
            if (n < window)
                n_past = n + 1;
            else
                oldest = (oldest + 1) % window;
        }
        /* the rest of the layer (layer_finish) for all frames at once */
        kern->matmat(&ly->out_proj, ly->out_proj_b, A, dr, B, lm->dim, lm->dim, T, dr, nt);
        for (int t = 0; t < B; t++)
            residual_norm(X + (size_t)t * dr, T + (size_t)t * dr, lm->dim, ly->norm1_w,
                          ly->norm1_b);
        kern->matmat(&ly->linear1, ly->linear1_b, X, dr, B, lm->ff_dim, lm->dim, H, ffr, nt);
        for (int t = 0; t < B; t++)
            for (int i = 0; i < lm->ff_dim; i++)
                H[(size_t)t * ffr + i] = ecl_det_gelu(H[(size_t)t * ffr + i]);
        kern->matmat(&ly->linear2, ly->linear2_b, H, ffr, B, lm->dim, lm->ff_dim, T, dr, nt);
        for (int t = 0; t < B; t++)
            residual_norm(X + (size_t)t * dr, T + (size_t)t * dr, lm->dim, ly->norm2_w,
                          ly->norm2_b);
    }
    const size_t per_frame = (size_t)n_codebooks * (size_t)lm->card;
    kern->matmat(&lm->head, lm->head_b, X, dr, B, n_codebooks * lm->card, lm->dim, probs,
                 per_frame, nt);
    for (size_t k = 0; k < (size_t)B * (size_t)n_codebooks; k++)
        kern->softmax(probs + k * (size_t)lm->card, lm->card);
    st->n_past = n_past;
    st->oldest = oldest;
    st->offset += B;
    return ENCODEC_OK;
}

/* ---- whole-sequence reference --------------------------------------------------------------- */

int ecl_lm_forward_sequence(const ecl_lm *lm, int past_context, const int32_t *prev,
                            int n_frames, int n_codebooks, float *probs, int n_threads)
{
    if (!lm || !prev || !probs || n_frames < 0 || past_context < 0 || n_threads < 1)
        return ENCODEC_EINVAL;
    if (n_frames == 0)
        return ENCODEC_OK;
    if ((int64_t)n_frames > ECL_LM_MAX_OFFSET)
        return ENCODEC_EUNSUPPORTED;
    for (int t = 0; t < n_frames; t++) {
        int err = check_inputs(lm, prev + (size_t)t * n_codebooks, n_codebooks);
        if (err)
            return err;
    }
    const int window = past_context ? past_context : lm->past_context;
    const lm_kernels *gen = &lm_kernels_generic; /* the specification, whatever the CPU */
    const size_t d = (size_t)lm->dim, T = (size_t)n_frames;
    /* X: [T][dim] activations; K, V: [T + 1][dim] projections of every layer input, row 0 the
     * initial zero vector and row t + 1 frame t */
    float *X = malloc(T * d * sizeof(float));
    float *K = malloc((T + 1) * d * sizeof(float));
    float *V = malloc((T + 1) * d * sizeof(float));
    float *Q = malloc(T * 3 * d * sizeof(float));
    float *work = malloc((d * 4 + (size_t)lm->ff_dim + T + 2) * sizeof(float));
    const float **rows_k = malloc((T + 1) * sizeof *rows_k);
    const float **rows_v = malloc((T + 1) * sizeof *rows_v);
    int err = ENCODEC_OK;
    if (!X || !K || !V || !Q || !work || !rows_k || !rows_v) {
        err = ENCODEC_ENOMEM;
        goto done;
    }
    frame_scratch s;
    s.q_scaled = work;
    s.attn = work + d;
    s.tmp = work + 2 * d;
    s.hidden = work + 3 * d;
    s.scores = work + 3 * d + lm->ff_dim;
    for (size_t t = 0; t < T; t++)
        embed_frame(lm, prev + t * n_codebooks, n_codebooks, (int64_t)t, X + t * d);
    for (int l = 0; l < lm->num_layers; l++) {
        const ecl_lm_layer *ly = &lm->layers[l];
        memcpy(K, ly->in_proj_b + d, d * sizeof(float));
        memcpy(V, ly->in_proj_b + 2 * d, d * sizeof(float));
        /* project every frame's layer input first (all layer inputs are known now) */
        for (size_t t = 0; t < T; t++) {
            float *q = Q + t * 3 * d;
            gen->matvec(&ly->in_proj, ly->in_proj_b, X + t * d, 3 * lm->dim, lm->dim, q,
                   n_threads);
            memcpy(K + (t + 1) * d, q + d, d * sizeof(float));
            memcpy(V + (t + 1) * d, q + 2 * d, d * sizeof(float));
        }
        for (size_t t = 0; t < T; t++) {
            /* query at absolute index t + 1 sees indices t + 1 - window .. t + 1 */
            const size_t first = t + 1 > (size_t)window ? t + 1 - (size_t)window : 0;
            const int n = (int)(t + 2 - first);
            for (int j = 0; j < n; j++) {
                rows_k[j] = K + (first + (size_t)j) * d;
                rows_v[j] = V + (first + (size_t)j) * d;
            }
            attention(lm, gen, Q + t * 3 * d, rows_k, rows_v, n, s.q_scaled, s.scores, s.attn);
            layer_finish(lm, gen, ly, X + t * d, &s, n_threads);
        }
    }
    for (size_t t = 0; t < T; t++)
        output_heads(lm, gen, X + t * d, n_codebooks, probs + t * n_codebooks * lm->card,
                     n_threads);
done:
    free(X);
    free(K);
    free(V);
    free(Q);
    free(work);
    free(rows_k);
    free(rows_v);
    return err;
}

/* ---- public: attach an LM to a codec model -------------------------------------------------- */

static int attach(encodec_model *model, const uint8_t *data, size_t size, const char *source,
                  char *msg, size_t msg_size)
{
    ecl_lm *lm;
    int err = ecl_lm_load(data, size, source, &lm, msg, msg_size);
    if (err)
        return err;
    if (lm->card != model->cfg.bins) {
        err = ecl_fail(msg, msg_size, ENCODEC_EWEIGHTS_CONFIG,
                       "%s: LM card %d does not match the codec's %d codebook entries", source,
                       lm->card, model->cfg.bins);
        ecl_lm_free(lm);
        return err;
    }
    ecl_lm_free(model->lm);
    model->lm = lm;
    return ENCODEC_OK;
}

int encodec_model_load_lm_memory(encodec_model *model, const void *data, size_t size,
                                 char *msg, size_t msg_size)
{
    if (msg && msg_size)
        msg[0] = 0;
    if (!model)
        return ecl_fail(msg, msg_size, ENCODEC_EINVAL, "model is NULL");
    if (!data && size)
        return ecl_fail(msg, msg_size, ENCODEC_EINVAL, "data is NULL");
    return attach(model, data, size, "<memory>", msg, msg_size);
}

int encodec_model_load_lm_file(encodec_model *model, const char *path, char *msg,
                               size_t msg_size)
{
    if (msg && msg_size)
        msg[0] = 0;
    if (!model)
        return ecl_fail(msg, msg_size, ENCODEC_EINVAL, "model is NULL");
    if (!path)
        return ecl_fail(msg, msg_size, ENCODEC_EINVAL, "path is NULL");
    const uint8_t *data;
    size_t size;
    int err = ecl_map_file(path, &data, &size, msg, msg_size);
    if (err)
        return err;
    err = attach(model, data, size, path, msg, msg_size);
    ecl_unmap_file(data, size);
    return err;
}
