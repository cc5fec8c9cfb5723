/* SEANet encoder and decoder as chains of streaming layers. Every convolution keeps the part
 * of its padded input that later outputs still need; the reference's reflect padding is
 * reproduced exactly: at the start of a stream a layer waits until it has the samples its left
 * reflection mirrors, and at the end (flush) it appends the right padding the whole-signal
 * computation would have used, including the rule for inputs shorter than the padding.
 * Transposed convolutions keep their last input frames, the LSTM its (h, c). Layers with a
 * time group norm (48 kHz models) need whole-segment statistics, so they hold their input
 * until flush. Whole-signal processing is push-everything-then-flush through the same code,
 * so streaming output equals it bit for bit. All memory is allocated at create. A layer's
 * output is taken over (copied or transformed) by the next stage before any other layer runs,
 * so all layers write their outputs into one shared buffer (and residual blocks their ELU
 * input into a second one): only the state a layer keeps between calls is its own. Holding
 * layers hold one after another: until a holding layer is flushed, the layers after it get
 * nothing, and its flush hands everything on before the next one holds. So they all hold in
 * one shared buffer, and a residual block of holding convolutions needs one more, shared, for
 * its input (the skip; a shortcut convolution holds it there and replaces it by its output):
 * the branch's ELU is applied to conv1's held input in place, and the branch output is added
 * to the skip where it lands. When every layer holds, that skip buffer is also the kernels'
 * scratch (used by the strided and transposed convolutions, outside residual blocks). */
#include "seanet.h"

#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "util.h"

typedef struct {
    float *d;
    int c, n, stride; /* planar view: row i at d + i*stride, n valid columns */
} chunk;

typedef enum { LAYER_CONV, LAYER_CONVTR, LAYER_RES, LAYER_LSTM, LAYER_ELU } layer_kind;

struct stream_ctx;

/* Streaming SConv1d. Column j of buf holds padded position base + j. */
typedef struct {
    const ecl_conv *cv;
    int left, right_fixed, k_eff, retain, hold;
    int cap;
    float *buf;   /* [c_in][cap] */
    int out_cap;  /* output columns per call */
    long base, n_raw, n_out;
    int started;
} sconv;

/* Streaming SConvTranspose1d. Column taps-1 of hist holds input frame `done`. */
typedef struct {
    const ecl_conv *cv;
    int taps, left_trim, right_trim, hold;
    int cap;      /* columns of hist */
    float *hist;  /* [c_in][cap] */
    int full_cap; /* untrimmed output positions per call (the output's row stride) */
    long n_in, done, pos_emitted; /* frames received, frames computed, positions emitted */
} sconvtr;

/* Residual block: branch conv1 -> ELU -> conv2 and the shortcut run side by side; their
 * outputs queue until both sides have them (the branch starts later because of padding). */
typedef struct {
    sconv conv1, conv2, shortcut;
    int true_skip;
    int held;         /* every convolution of the block holds: the shared buffers' path */
    int act_cap;      /* row stride of the ELU of the input (in the shared act buffer) */
    float *q_branch, *q_skip; /* [c][q_cap]; the output has row stride q_cap too */
    int q_cap, n_branch, n_skip;
} sres;

typedef struct {
    const ecl_lstm *ls;
    float *h, *c;      /* [n_layers][dim] */
    float *zx;         /* [4*dim][cap] input projections of the chunk */
    float *seq[2];     /* [dim][cap] layer outputs */
    float *zcol, *ztmp;/* [4*dim] */
    int cap;
} slstm;

typedef struct {
    layer_kind kind;
    int index; /* top-level layer index (state_dict numbering) */
    union {
        sconv conv;
        sconvtr convtr;
        sres res;
        slstm lstm;
    } u;
} layer;

struct ecl_seanet_stream {
    const encodec_model *m;
    int decoder, n_layers, in_max;
    ecl_exec ex;
    layer *layers;
    float *scratch;
    const float **ptrs;
    size_t scratch_floats, n_ptrs;
    float *out_buf, *act_buf; /* shared: every layer's output; residual blocks' ELU input */
    size_t out_floats, act_floats;
    float *hold_buf, *hold_skip; /* shared by holding layers: held input; residual skip */
    size_t hold_floats, hold_skip_floats;
    void **allocs;
    int n_allocs, cap_allocs, failed;
    size_t alloc_floats; /* all of them together */
    ecl_trace_fn trace;
    void *trace_ctx;
};

/* ---- allocation ----------------------------------------------------------------------------- */

static float *stream_alloc(ecl_seanet_stream *s, size_t n_floats)
{
    if (s->failed)
        return NULL;
    if (s->n_allocs == s->cap_allocs) {
        int cap = s->cap_allocs ? 2 * s->cap_allocs : 64;
        void **p = realloc(s->allocs, (size_t)cap * sizeof(*p));
        if (!p) {
            s->failed = 1;
            return NULL;
        }
        s->allocs = p;
        s->cap_allocs = cap;
    }
    float *buf = ecl_calloc(n_floats ? n_floats : 1, sizeof(float));
    if (!buf) {
        s->failed = 1;
    } else {
        s->allocs[s->n_allocs++] = buf;
        s->alloc_floats += n_floats;
    }
    return buf;
}

static void need_shared(size_t *have, size_t floats)
{
    if (floats > *have)
        *have = floats;
}

static void need_scratch(ecl_seanet_stream *s, size_t floats, size_t ptrs)
{
    if (floats > s->scratch_floats)
        s->scratch_floats = floats;
    if (ptrs > s->n_ptrs)
        s->n_ptrs = ptrs;
}

/* ---- convolution ------------------------------------------------------------------------------ */

/* Plans buffers for at most in_max input samples per push (all of a segment when holding).
 * shared > 0: a held input goes to the shared hold buffer; < 0: where the caller says (a
 * shortcut: its block's skip queue); both set after the build. */
static int sconv_init(ecl_seanet_stream *s, sconv *sc, const ecl_conv *cv, int in_max,
                      int shared)
{
    const int causal = s->m->cfg.causal, st = cv->stride;
    sc->cv = cv;
    sc->k_eff = (cv->kernel - 1) * cv->dilation + 1;
    const int pad_total = sc->k_eff - st;
    sc->left = causal ? pad_total : pad_total - pad_total / 2;
    sc->right_fixed = causal ? 0 : pad_total / 2;
    const int right_max = sc->right_fixed + st - 1;
    const int m = sc->left > right_max ? sc->left : right_max;
    sc->retain = sc->k_eff > m + 1 ? sc->k_eff : m + 1;
    sc->hold = cv->norm_weight != NULL;
    sc->cap = sc->left + sc->retain + in_max + right_max + 1;
    sc->out_cap = (sc->cap - sc->k_eff) / st + 1;
    if (sc->hold && shared > 0)
        need_shared(&s->hold_floats, (size_t)cv->c_in * sc->cap);
    else if (!sc->hold || shared == 0)
        sc->buf = stream_alloc(s, (size_t)cv->c_in * sc->cap);
    /* else (a residual block's shortcut): set by the block */
    need_shared(&s->out_floats, (size_t)cv->c_out * sc->out_cap);
    need_scratch(s, ecl_k_conv1d_scratch_floats(cv->c_in, sc->cap, st),
                 ecl_k_conv1d_scratch_ptrs(cv->c_in, cv->kernel));
    return sc->out_cap;
}

static void sconv_reset(sconv *sc)
{
    sc->base = sc->n_raw = sc->n_out = 0;
    sc->started = 0;
}

/* Raw sample i lives at padded position left + i. */
static inline float *sconv_col(sconv *sc, int ch, long padded_pos)
{
    return sc->buf + (size_t)ch * sc->cap + (padded_pos - sc->base);
}

/* Compute every output whose window lies inside padded positions [0, padded_len). */
static chunk sconv_emit(ecl_seanet_stream *s, sconv *sc, long padded_len)
{
    const ecl_conv *cv = sc->cv;
    const int st = cv->stride;
    chunk out = {s->out_buf, cv->c_out, 0, 0};
    const long n_avail = padded_len >= sc->k_eff ? (padded_len - sc->k_eff) / st + 1 : 0;
    const int n_new = (int)(n_avail - sc->n_out);
    if (n_new <= 0)
        return out;
    const float *x = sconv_col(sc, 0, sc->n_out * st);
    const int x_len = (n_new - 1) * st + sc->k_eff;
    ecl_k_conv1d(x, cv->c_in, x_len, sc->cap, cv->weight, cv->bias, cv->c_out, cv->kernel, st,
                 cv->dilation, s->out_buf, n_new, s->scratch, s->ptrs, &s->ex);
    if (cv->norm_weight)
        ecl_k_group_norm1(s->out_buf, cv->c_out, n_new, n_new, cv->norm_weight, cv->norm_bias, 1e-5f);
    sc->n_out = n_avail;
    out.n = n_new;
    out.stride = n_new;
    /* Drop what no later output (nor the end padding) reads. */
    long keep_from = sc->n_out * st;
    if (padded_len - sc->retain < keep_from)
        keep_from = padded_len - sc->retain;
    if (keep_from > sc->base) {
        const long shift = keep_from - sc->base, keep = padded_len - keep_from;
        ecl_k_move_rows(sc->buf, (size_t)sc->cap, sc->buf + shift, (size_t)sc->cap, cv->c_in,
                        (size_t)keep, &s->ex);
        sc->base = keep_from;
    }
    return out;
}

/* Value of the zero-extended raw signal (the small-input rule) at raw index i. */
static inline float sconv_ext(sconv *sc, int ch, long i)
{
    return i < sc->n_raw ? *sconv_col(sc, ch, sc->left + i) : 0.0f;
}

/* Left reflection: padded position p < left mirrors raw index left - p. */
static void sconv_fill_left(sconv *sc)
{
    for (int ch = 0; ch < sc->cv->c_in; ch++)
        for (int p = 0; p < sc->left; p++)
            *sconv_col(sc, ch, p) = sconv_ext(sc, ch, sc->left - p);
    sc->started = 1;
}

static chunk sconv_push(ecl_seanet_stream *s, sconv *sc, chunk in)
{
    ecl_k_move_rows(sconv_col(sc, 0, sc->left + sc->n_raw), (size_t)sc->cap, in.d,
                    (size_t)in.stride, in.c, (size_t)in.n, &s->ex);
    sc->n_raw += in.n;
    chunk none = {s->out_buf, sc->cv->c_out, 0, 0};
    if (sc->hold)
        return none;
    if (!sc->started) {
        if (sc->n_raw <= sc->left)
            return none;
        sconv_fill_left(sc);
    }
    return sconv_emit(s, sc, sc->left + sc->n_raw);
}

/* End of stream: the right padding of the whole-signal computation, then the last outputs. */
static chunk sconv_flush(ecl_seanet_stream *s, sconv *sc)
{
    const long len = sc->n_raw, st = sc->cv->stride;
    chunk none = {s->out_buf, sc->cv->c_out, 0, 0};
    if (len == 0)
        return none;
    const long extra = (len + st - 1) / st * st - len;
    const long right = sc->right_fixed + extra;
    const long m = sc->left > right ? sc->left : right;
    const long zeros = len <= m ? m - len + 1 : 0;
    if (!sc->started)
        sconv_fill_left(sc);
    /* Padded tail = the first `right` values of (zeros, reflection of the extended signal). */
    for (int ch = 0; ch < sc->cv->c_in; ch++)
        for (long j = 0; j < right; j++) {
            const long ext_len = len + zeros;
            const float v = j < zeros ? 0.0f : sconv_ext(sc, ch, ext_len - 2 - (j - zeros));
            *sconv_col(sc, ch, sc->left + len + j) = v;
        }
    return sconv_emit(s, sc, sc->left + len + right);
}

/* ---- transposed convolution ----------------------------------------------------------------- */

static int sconvtr_init(ecl_seanet_stream *s, sconvtr *tc, const ecl_conv *cv, int in_max)
{
    const int pad_total = cv->kernel - cv->stride;
    tc->cv = cv;
    tc->taps = ecl_k_convtr_taps(cv->kernel, cv->stride);
    tc->right_trim = s->m->cfg.causal ? pad_total : pad_total / 2;
    tc->left_trim = pad_total - tc->right_trim;
    tc->hold = cv->norm_weight != NULL;
    tc->cap = 2 * (tc->taps - 1) + in_max;
    tc->full_cap = (in_max + tc->taps) * cv->stride;
    if (tc->hold)
        need_shared(&s->hold_floats, (size_t)cv->c_in * tc->cap);
    else
        tc->hist = stream_alloc(s, (size_t)cv->c_in * tc->cap);
    need_shared(&s->out_floats, (size_t)cv->c_out * tc->full_cap);
    need_scratch(s, (size_t)cv->c_out * (in_max + tc->taps), (size_t)cv->c_in * tc->taps);
    return tc->full_cap;
}

static void sconvtr_reset(sconvtr *tc)
{
    tc->n_in = tc->done = tc->pos_emitted = 0;
}

/* Compute frames [done, done + n) (their inputs are in hist) into full; returns positions. */
static int sconvtr_compute(ecl_seanet_stream *s, sconvtr *tc, int n)
{
    const ecl_conv *cv = tc->cv;
    ecl_k_convtr1d(tc->hist, cv->c_in, tc->cap, n, cv->weight, cv->bias, cv->c_out, cv->kernel,
                   cv->stride, s->out_buf, tc->full_cap, s->scratch, s->ptrs, &s->ex);
    tc->done += n;
    /* Keep the last taps-1 frames as history for the next call. */
    for (int i = 0; i < cv->c_in; i++) {
        float *row = tc->hist + (size_t)i * tc->cap;
        memmove(row, row + n, (size_t)(tc->taps - 1) * sizeof(float));
    }
    return n * cv->stride;
}

/* Emit full-output positions [first, first + count) of this call's buffer, minus the trims. */
static chunk sconvtr_view(ecl_seanet_stream *s, sconvtr *tc, long first, long count,
                          long final_len)
{
    long lo = first, hi = first + count;
    if (lo < tc->left_trim)
        lo = tc->left_trim;
    if (final_len >= 0 && hi > final_len - tc->right_trim)
        hi = final_len - tc->right_trim;
    chunk out = {s->out_buf + (lo - first), tc->cv->c_out, 0, tc->full_cap};
    out.n = hi > lo ? (int)(hi - lo) : 0;
    tc->pos_emitted = first + count;
    return out;
}

static chunk sconvtr_push(ecl_seanet_stream *s, sconvtr *tc, chunk in)
{
    if (tc->n_in == 0) /* the frames before the stream are zeros (set now: hist may be shared) */
        for (int i = 0; i < tc->cv->c_in; i++)
            memset(tc->hist + (size_t)i * tc->cap, 0, (size_t)(tc->taps - 1) * sizeof(float));
    ecl_k_move_rows(tc->hist + (tc->taps - 1) + (tc->n_in - tc->done), (size_t)tc->cap, in.d,
                    (size_t)in.stride, in.c, (size_t)in.n, &s->ex);
    tc->n_in += in.n;
    if (tc->hold || in.n == 0) {
        chunk none = {s->out_buf, tc->cv->c_out, 0, tc->full_cap};
        return none;
    }
    const long first = tc->pos_emitted;
    const int count = sconvtr_compute(s, tc, (int)(tc->n_in - tc->done));
    return sconvtr_view(s, tc, first, count, -1);
}

static chunk sconvtr_flush(ecl_seanet_stream *s, sconvtr *tc)
{
    const ecl_conv *cv = tc->cv;
    chunk none = {s->out_buf, cv->c_out, 0, tc->full_cap};
    if (tc->n_in == 0)
        return none;
    /* Pending frames plus taps-1 zero frames give the tail of the full output. */
    const long pending = tc->n_in - tc->done;
    for (int i = 0; i < cv->c_in; i++)
        memset(tc->hist + (size_t)i * tc->cap + (tc->taps - 1) + pending, 0,
               (size_t)(tc->taps - 1) * sizeof(float));
    const long first = tc->pos_emitted;
    const long full_len = (tc->n_in - 1) * cv->stride + cv->kernel;
    sconvtr_compute(s, tc, (int)(pending + tc->taps - 1));
    const long count = full_len - first;
    if (cv->norm_weight) /* statistics over the untrimmed output, as the reference */
        ecl_k_group_norm1(s->out_buf, cv->c_out, (int)count, tc->full_cap,
                                  cv->norm_weight, cv->norm_bias, 1e-5f);
    return sconvtr_view(s, tc, first, count, full_len);
}

/* ---- residual block ---------------------------------------------------------------------------- */

static int sres_init(ecl_seanet_stream *s, sres *r, const ecl_resblock *rb, int in_max)
{
    const int c = rb->conv1.c_in;
    r->true_skip = s->m->cfg.true_skip;
    /* convolutions with a group norm hold (sconv_init) */
    r->held = rb->conv1.norm_weight && rb->conv2.norm_weight &&
              (r->true_skip || rb->shortcut.norm_weight);
    const int out1 = sconv_init(s, &r->conv1, &rb->conv1, in_max, 1);
    const int out2 = sconv_init(s, &r->conv2, &rb->conv2, out1, 1);
    int out_skip = in_max;
    if (!r->true_skip) /* a held block's shortcut holds in the block's skip buffer */
        out_skip = sconv_init(s, &r->shortcut, &rb->shortcut, in_max, r->held ? -1 : 0);
    r->act_cap = in_max;
    /* A queue holds one push's output plus what one side lags behind the other: at most the
     * samples the branch's convolutions keep back (their buffers beyond the push size). */
    const int lag = (r->conv1.cap - in_max) + (r->conv2.cap - out1);
    r->q_cap = (out2 > out_skip ? out2 : out_skip) + lag;
    need_shared(&s->out_floats, (size_t)c * r->q_cap);
    if (r->held) { /* the block holds until its flush: its skip is shared */
        need_shared(&s->hold_skip_floats, (size_t)c * r->q_cap);
        if (!r->true_skip)
            need_shared(&s->hold_skip_floats, (size_t)c * r->shortcut.cap);
    } else {
        need_shared(&s->act_floats, (size_t)c * r->act_cap);
        r->q_branch = stream_alloc(s, (size_t)c * r->q_cap);
        r->q_skip = stream_alloc(s, (size_t)c * r->q_cap);
    }
    return r->q_cap;
}

static void sres_reset(sres *r)
{
    sconv_reset(&r->conv1);
    sconv_reset(&r->conv2);
    if (!r->true_skip)
        sconv_reset(&r->shortcut);
    r->n_branch = r->n_skip = 0;
}

static void queue_append(const ecl_exec *ex, float *q, int q_cap, int *q_len, chunk in)
{
    ecl_k_move_rows(q + *q_len, (size_t)q_cap, in.d, (size_t)in.stride, in.c, (size_t)in.n, ex);
    *q_len += in.n;
}

static void sres_branch_tail(ecl_seanet_stream *s, sres *r, chunk h)
{
    ecl_k_elu(h.d, (size_t)h.stride, h.d, (size_t)h.stride, h.c, (size_t)h.n,
              s->m->cfg.elu_alpha, &s->ex);
    if (h.n > 0)
        queue_append(&s->ex, r->q_branch, r->q_cap, &r->n_branch, sconv_push(s, &r->conv2, h));
}

/* Output every position both sides have: shortcut + branch. */
static chunk sres_pair(ecl_seanet_stream *s, sres *r, int c)
{
    const int n = r->n_branch < r->n_skip ? r->n_branch : r->n_skip;
    ecl_k_add(r->q_skip, r->q_branch, s->out_buf, (size_t)r->q_cap, c, (size_t)n, &s->ex);
    const size_t cap = (size_t)r->q_cap;
    ecl_k_move_rows(r->q_branch, cap, r->q_branch + n, cap, c, (size_t)(r->n_branch - n), &s->ex);
    ecl_k_move_rows(r->q_skip, cap, r->q_skip + n, cap, c, (size_t)(r->n_skip - n), &s->ex);
    r->n_branch -= n;
    r->n_skip -= n;
    chunk out = {s->out_buf, c, n, r->q_cap};
    return out;
}

/* A held block's push: the input goes to the skip (or the shortcut, holding it there) and,
 * through its ELU applied in place, to conv1's held input. Nothing comes out before the
 * flush. */
static chunk sres_push_held(ecl_seanet_stream *s, sres *r, chunk in)
{
    if (r->true_skip)
        queue_append(&s->ex, r->q_skip, r->q_cap, &r->n_skip, in);
    else
        sconv_push(s, &r->shortcut, in);
    sconv_push(s, &r->conv1, in);
    sconv *c1 = &r->conv1;
    float *x = sconv_col(c1, 0, c1->left + c1->n_raw - in.n);
    ecl_k_elu(x, (size_t)c1->cap, x, (size_t)c1->cap, in.c, (size_t)in.n, s->m->cfg.elu_alpha,
              &s->ex);
    chunk none = {s->out_buf, in.c, 0, 1};
    return none;
}

/* A held block's flush: the shortcut's output replaces its held input in the skip buffer,
 * then the branch runs, and its output (in the shared output buffer) gets the skip added. */
static chunk sres_flush_held(ecl_seanet_stream *s, sres *r)
{
    if (!r->true_skip) {
        r->n_skip = 0;
        queue_append(&s->ex, r->q_skip, r->q_cap, &r->n_skip, sconv_flush(s, &r->shortcut));
    }
    chunk h = sconv_flush(s, &r->conv1);
    ecl_k_elu(h.d, (size_t)h.stride, h.d, (size_t)h.stride, h.c, (size_t)h.n,
              s->m->cfg.elu_alpha, &s->ex);
    if (h.n > 0)
        sconv_push(s, &r->conv2, h);
    chunk b = sconv_flush(s, &r->conv2);
    if (b.n > r->n_skip)
        b.n = r->n_skip; /* both sides have the input's length */
    for (int i = 0; i < b.c; i++) /* the rows have different strides */
        ecl_k_add(r->q_skip + (size_t)i * r->q_cap, b.d + (size_t)i * b.stride,
                  b.d + (size_t)i * b.stride, 0, 1, (size_t)b.n, &s->ex);
    r->n_skip = 0;
    return b;
}

static chunk sres_push(ecl_seanet_stream *s, sres *r, chunk in)
{
    if (r->held)
        return sres_push_held(s, r, in);
    ecl_k_elu(in.d, (size_t)in.stride, s->act_buf, (size_t)r->act_cap, in.c, (size_t)in.n,
              s->m->cfg.elu_alpha, &s->ex);
    /* The input (in the shared output buffer) is queued before the branch writes there. */
    queue_append(&s->ex, r->q_skip, r->q_cap, &r->n_skip,
                 r->true_skip ? in : sconv_push(s, &r->shortcut, in));
    chunk act = {s->act_buf, in.c, in.n, r->act_cap};
    sres_branch_tail(s, r, sconv_push(s, &r->conv1, act));
    return sres_pair(s, r, in.c);
}

static chunk sres_flush(ecl_seanet_stream *s, sres *r)
{
    if (r->held)
        return sres_flush_held(s, r);
    sres_branch_tail(s, r, sconv_flush(s, &r->conv1));
    queue_append(&s->ex, r->q_branch, r->q_cap, &r->n_branch, sconv_flush(s, &r->conv2));
    if (!r->true_skip)
        queue_append(&s->ex, r->q_skip, r->q_cap, &r->n_skip, sconv_flush(s, &r->shortcut));
    return sres_pair(s, r, r->conv1.cv->c_in);
}

/* ---- LSTM ---------------------------------------------------------------------------------------- */

static int slstm_init(ecl_seanet_stream *s, slstm *l, const ecl_lstm *ls, int in_max)
{
    const int d = ls->dim;
    l->ls = ls;
    l->cap = in_max;
    l->h = stream_alloc(s, (size_t)ls->n_layers * d);
    l->c = stream_alloc(s, (size_t)ls->n_layers * d);
    l->zx = stream_alloc(s, (size_t)4 * d * in_max);
    l->seq[0] = stream_alloc(s, (size_t)d * in_max);
    l->seq[1] = stream_alloc(s, (size_t)d * in_max);
    l->zcol = stream_alloc(s, (size_t)4 * d);
    l->ztmp = stream_alloc(s, (size_t)4 * d);
    need_scratch(s, 0, (size_t)d);
    return in_max;
}

static void slstm_reset(slstm *l)
{
    const size_t n = (size_t)l->ls->n_layers * l->ls->dim;
    memset(l->h, 0, n * sizeof(float));
    memset(l->c, 0, n * sizeof(float));
}

static chunk slstm_push(ecl_seanet_stream *s, slstm *l, chunk in)
{
    const ecl_lstm *ls = l->ls;
    const int d = ls->dim, rows = 4 * d, n = in.n;
    chunk cur = in;
    for (int li = 0; li < ls->n_layers; li++) {
        float *out = l->seq[li & 1], *h = l->h + (size_t)li * d, *c = l->c + (size_t)li * d;
        for (int k = 0; k < d; k++)
            s->ptrs[k] = cur.d + (size_t)k * cur.stride;
        /* Input projections for the whole chunk at once; only h W_hh is sequential. */
        ecl_k_gemm_rows(rows, n, d, ls->w_ih[li], s->ptrs, ls->bias[li], l->zx, l->cap, &s->ex);
        for (int t = 0; t < n; t++) {
            for (int r = 0; r < rows; r++)
                l->zcol[r] = l->zx[(size_t)r * l->cap + t];
            ecl_k_lstm_step(d, l->zcol, ls->w_hh_t[li], h, c, l->ztmp, s->ptrs, &s->ex);
            for (int k = 0; k < d; k++)
                out[(size_t)k * l->cap + t] = h[k];
        }
        cur.d = out;
        cur.stride = l->cap;
    }
    for (int k = 0; k < d; k++) { /* skip connection */
        float *o = cur.d + (size_t)k * cur.stride;
        const float *x = in.d + (size_t)k * in.stride;
        for (int t = 0; t < n; t++)
            o[t] += x[t];
    }
    return cur;
}

/* ---- the chain --------------------------------------------------------------------------------- */

static layer *add_layer(ecl_seanet_stream *s, layer_kind kind, int index)
{
    layer *l = &s->layers[s->n_layers++];
    l->kind = kind;
    l->index = index;
    return l;
}

/* Build the layer list of spec section 4; returns the output capacity of the last layer. */
static int build(ecl_seanet_stream *s)
{
    const ecl_config *c = &s->m->cfg;
    const ecl_seanet *net = s->decoder ? &s->m->decoder : &s->m->encoder;
    const int R = c->n_residual_layers;
    int idx = 0, cap = s->in_max;
    layer *l = add_layer(s, LAYER_CONV, idx++);
    cap = sconv_init(s, &l->u.conv, &net->conv_in, cap, 1);
    if (s->decoder && net->lstm.n_layers > 0) {
        l = add_layer(s, LAYER_LSTM, idx++);
        cap = slstm_init(s, &l->u.lstm, &net->lstm, cap);
    }
    for (int st = 0; st < c->n_ratios; st++) {
        if (s->decoder) {
            add_layer(s, LAYER_ELU, idx++);
            l = add_layer(s, LAYER_CONVTR, idx++);
            cap = sconvtr_init(s, &l->u.convtr, &net->resample[st], cap);
        }
        for (int j = 0; j < R; j++) {
            l = add_layer(s, LAYER_RES, idx++);
            cap = sres_init(s, &l->u.res, &net->res[st * R + j], cap);
        }
        if (!s->decoder) {
            add_layer(s, LAYER_ELU, idx++);
            l = add_layer(s, LAYER_CONV, idx++);
            cap = sconv_init(s, &l->u.conv, &net->resample[st], cap, 1);
        }
    }
    if (!s->decoder && net->lstm.n_layers > 0) {
        l = add_layer(s, LAYER_LSTM, idx++);
        cap = slstm_init(s, &l->u.lstm, &net->lstm, cap);
    }
    add_layer(s, LAYER_ELU, idx++);
    l = add_layer(s, LAYER_CONV, idx++);
    return sconv_init(s, &l->u.conv, &net->conv_out, cap, 1);
}

static int every_layer_holds(const ecl_seanet_stream *s)
{
    for (int i = 0; i < s->n_layers; i++) {
        const layer *l = &s->layers[i];
        if ((l->kind == LAYER_CONV && !l->u.conv.hold) ||
            (l->kind == LAYER_CONVTR && !l->u.convtr.hold) ||
            (l->kind == LAYER_RES && !l->u.res.held))
            return 0;
    }
    return 1;
}

/* Point the holding layers at the shared buffers (allocated after the build sized them). */
static void share_hold_buffers(ecl_seanet_stream *s)
{
    for (int i = 0; i < s->n_layers; i++) {
        layer *l = &s->layers[i];
        if (l->kind == LAYER_CONV && !l->u.conv.buf) {
            l->u.conv.buf = s->hold_buf;
        } else if (l->kind == LAYER_CONVTR && !l->u.convtr.hist) {
            l->u.convtr.hist = s->hold_buf;
        } else if (l->kind == LAYER_RES) {
            sres *r = &l->u.res;
            if (!r->conv1.buf)
                r->conv1.buf = s->hold_buf;
            if (!r->conv2.buf)
                r->conv2.buf = s->hold_buf;
            if (r->held) {
                r->q_skip = s->hold_skip;
                if (!r->true_skip)
                    r->shortcut.buf = s->hold_skip;
            }
        }
    }
}

int ecl_seanet_stream_create(const encodec_model *m, int decoder, int in_max,
                             ecl_seanet_stream **out, int *out_max)
{
    *out = NULL;
    ecl_seanet_stream *s = calloc(1, sizeof *s);
    if (!s)
        return ENCODEC_ENOMEM;
    s->m = m;
    s->decoder = decoder;
    s->in_max = in_max;
    s->ex.n_threads = 1;
    s->ex.isa = ecl_isa_default();
    const int max_layers = 4 + m->cfg.n_ratios * (2 + m->cfg.n_residual_layers);
    s->layers = calloc((size_t)max_layers, sizeof(layer));
    if (!s->layers) {
        free(s);
        return ENCODEC_ENOMEM;
    }
    const int cap = build(s);
    const int all_hold = every_layer_holds(s);
    if (all_hold)
        need_shared(&s->hold_skip_floats, s->scratch_floats);
    s->out_buf = stream_alloc(s, s->out_floats);
    s->hold_buf = stream_alloc(s, s->hold_floats);
    s->hold_skip = stream_alloc(s, s->hold_skip_floats);
    s->scratch = all_hold ? s->hold_skip : stream_alloc(s, s->scratch_floats);
    s->act_buf = stream_alloc(s, s->act_floats);
    share_hold_buffers(s);
    s->ptrs = (const float **)calloc(s->n_ptrs ? s->n_ptrs : 1, sizeof(*s->ptrs));
    if (s->failed || !s->ptrs) {
        ecl_seanet_stream_free(s);
        return ENCODEC_ENOMEM;
    }
    ecl_seanet_stream_reset(s);
    *out_max = cap;
    *out = s;
    return ENCODEC_OK;
}

void ecl_seanet_stream_free(ecl_seanet_stream *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->n_allocs; i++)
        ecl_free(s->allocs[i]);
    free(s->allocs);
    free((void *)s->ptrs);
    free(s->layers);
    free(s);
}

void ecl_seanet_stream_reset(ecl_seanet_stream *s)
{
    for (int i = 0; i < s->n_layers; i++) {
        layer *l = &s->layers[i];
        switch (l->kind) {
        case LAYER_CONV: sconv_reset(&l->u.conv); break;
        case LAYER_CONVTR: sconvtr_reset(&l->u.convtr); break;
        case LAYER_RES: sres_reset(&l->u.res); break;
        case LAYER_LSTM: slstm_reset(&l->u.lstm); break;
        case LAYER_ELU: break;
        }
    }
}

void ecl_seanet_stream_set_threads(ecl_seanet_stream *s, int n_threads)
{
    s->ex.n_threads = n_threads;
}

void ecl_seanet_stream_set_kernels(ecl_seanet_stream *s, encodec_kernels isa)
{
    s->ex.isa = isa;
}

void ecl_seanet_stream_set_trace(ecl_seanet_stream *s, ecl_trace_fn fn, void *ctx)
{
    s->trace = fn;
    s->trace_ctx = ctx;
}

/* Run a chunk through layers [first, n_layers) and hand the result to the sink. */
static void run_from(ecl_seanet_stream *s, int first, chunk x, ecl_sink_fn sink, void *sink_ctx)
{
    for (int i = first; i < s->n_layers && x.n > 0; i++) {
        layer *l = &s->layers[i];
        switch (l->kind) {
        case LAYER_CONV: x = sconv_push(s, &l->u.conv, x); break;
        case LAYER_CONVTR: x = sconvtr_push(s, &l->u.convtr, x); break;
        case LAYER_RES: x = sres_push(s, &l->u.res, x); break;
        case LAYER_LSTM: x = slstm_push(s, &l->u.lstm, x); break;
        case LAYER_ELU:
            ecl_k_elu(x.d, (size_t)x.stride, x.d, (size_t)x.stride, x.c, (size_t)x.n,
                      s->m->cfg.elu_alpha, &s->ex);
            break;
        }
        if (s->trace && x.n > 0)
            s->trace(s->trace_ctx, l->index, x.d, x.c, x.n, x.stride);
    }
    if (x.n > 0)
        sink(sink_ctx, x.d, x.c, x.n, x.stride);
}

void ecl_seanet_stream_push(ecl_seanet_stream *s, const float *x, int channels, int n, int stride,
                            ecl_sink_fn sink, void *sink_ctx)
{
    chunk in = {(float *)x, channels, n, stride};
    run_from(s, 0, in, sink, sink_ctx);
}

void ecl_seanet_stream_flush(ecl_seanet_stream *s, ecl_sink_fn sink, void *sink_ctx)
{
    for (int i = 0; i < s->n_layers; i++) {
        layer *l = &s->layers[i];
        chunk x = {NULL, 0, 0, 0};
        switch (l->kind) {
        case LAYER_CONV: x = sconv_flush(s, &l->u.conv); break;
        case LAYER_CONVTR: x = sconvtr_flush(s, &l->u.convtr); break;
        case LAYER_RES: x = sres_flush(s, &l->u.res); break;
        case LAYER_LSTM:
        case LAYER_ELU: continue;
        }
        if (x.n == 0)
            continue;
        if (s->trace)
            s->trace(s->trace_ctx, l->index, x.d, x.c, x.n, x.stride);
        run_from(s, i + 1, x, sink, sink_ctx);
    }
}

/* ---- latency ------------------------------------------------------------------------------------ */

static long conv_outputs(const sconv *sc, long n)
{
    if (sc->hold || n <= sc->left)
        return 0;
    const long padded = sc->left + n;
    return padded >= sc->k_eff ? (padded - sc->k_eff) / sc->cv->stride + 1 : 0;
}

long ecl_seanet_stream_outputs_for(const ecl_seanet_stream *s, long n)
{
    for (int i = 0; i < s->n_layers && n > 0; i++) {
        const layer *l = &s->layers[i];
        switch (l->kind) {
        case LAYER_CONV: n = conv_outputs(&l->u.conv, n); break;
        case LAYER_CONVTR:
            n = l->u.convtr.hold ? 0 : n * l->u.convtr.cv->stride - l->u.convtr.left_trim;
            break;
        case LAYER_RES: {
            const sres *r = &l->u.res;
            const long branch = conv_outputs(&r->conv2, conv_outputs(&r->conv1, n));
            const long skip = r->true_skip ? n : conv_outputs(&r->shortcut, n);
            n = branch < skip ? branch : skip;
            break;
        }
        case LAYER_LSTM:
        case LAYER_ELU: break;
        }
    }
    return n > 0 ? n : 0;
}

size_t ecl_seanet_stream_state_bytes(const ecl_seanet_stream *s)
{
    return sizeof *s + (size_t)s->n_layers * sizeof(layer) + s->n_ptrs * sizeof(float *) +
           s->alloc_floats * sizeof(float);
}
