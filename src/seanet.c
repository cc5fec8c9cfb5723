/* SEANet forward passes for a whole segment. Each layer allocates its output and frees its
 * input; the kernels do the arithmetic. Streaming (per-layer history) is layered on the same
 * kernels elsewhere. */
#include "seanet.h"

#include <string.h>

#include "kernels.h"
#include "util.h"

typedef struct {
    const encodec_model *m;
    int n_threads;
} ctx_t;

/* Reflect-pad x [c][len] by (left, right) into a new [c][len+left+right] buffer, following
 * PyTorch's reflect, and the reference's rule for inputs no longer than the padding: extend
 * with zeros to max(left, right) + 1 samples, pad, drop the added tail. */
static float *pad_reflect(const float *x, int c, int len, int left, int right)
{
    const int m = left > right ? left : right;
    const int extra = len <= m ? m - len + 1 : 0;
    const int ext_len = len + extra, out_len = len + left + right;
    float *out = ecl_calloc((size_t)c * out_len, sizeof(float));
    if (!out)
        return NULL;
    const int full = ext_len + left + right;
    for (int ch = 0; ch < c; ch++) {
        const float *src = x + (size_t)ch * len;
        float *dst = out + (size_t)ch * out_len;
        /* value of the zero-extended signal at position p (0 <= p < ext_len) */
#define EXT(p) ((p) < len ? src[(p)] : 0.0f)
        for (int p = 0; p < full && p < out_len; p++) {
            int q;
            if (p < left)
                q = left - p;
            else if (p < left + ext_len)
                q = p - left;
            else
                q = ext_len - 2 - (p - left - ext_len);
            dst[p] = EXT(q);
        }
#undef EXT
    }
    return out;
}

static int conv_forward(const ctx_t *cx, const ecl_conv *cv, const float *x, int len, float **y,
                        int *y_len)
{
    const int k_eff = (cv->kernel - 1) * cv->dilation + 1;
    const int pad_total = k_eff - cv->stride;
    const int t_out = (int)ecl_ceil_div((size_t)len, (size_t)cv->stride);
    const int extra = t_out * cv->stride - len;
    int left, right;
    if (cx->m->cfg.causal) {
        left = pad_total;
        right = extra;
    } else {
        right = pad_total / 2;
        left = pad_total - right;
        right += extra;
    }
    float *xp = pad_reflect(x, cv->c_in, len, left, right);
    const int xp_len = len + left + right;
    float *out = ecl_calloc((size_t)cv->c_out * t_out, sizeof(float));
    float *scratch = ecl_calloc(ecl_k_conv1d_scratch_floats(cv->c_in, xp_len, cv->stride) + 1,
                                sizeof(float));
    const float **ptrs = ecl_calloc(ecl_k_conv1d_scratch_ptrs(cv->c_in, cv->kernel), sizeof(*ptrs));
    int err = ENCODEC_ENOMEM;
    if (xp && out && scratch && ptrs) {
        ecl_k_conv1d(xp, cv->c_in, xp_len, xp_len, cv->weight, cv->bias, cv->c_out, cv->kernel,
                     cv->stride, cv->dilation, out, t_out, scratch, ptrs, cx->n_threads);
        if (cv->norm_weight)
            ecl_k_group_norm1(out, cv->c_out, t_out, cv->norm_weight, cv->norm_bias, 1e-5f);
        err = ENCODEC_OK;
    }
    ecl_free(xp);
    ecl_free(scratch);
    ecl_free((void *)ptrs);
    if (err) {
        ecl_free(out);
        return err;
    }
    *y = out;
    *y_len = t_out;
    return ENCODEC_OK;
}

static int convtr_forward(const ctx_t *cx, const ecl_conv *cv, const float *x, int len,
                          float **y, int *y_len)
{
    const int full_len = (len - 1) * cv->stride + cv->kernel;
    const int pad_total = cv->kernel - cv->stride;
    int left, right;
    if (cx->m->cfg.causal) {
        left = 0;
        right = pad_total;
    } else {
        right = pad_total / 2;
        left = pad_total - right;
    }
    const int out_len = full_len - left - right;
    float *full = ecl_calloc((size_t)cv->c_out * full_len, sizeof(float));
    float *out = ecl_calloc((size_t)cv->c_out * out_len, sizeof(float));
    float *scratch = ecl_calloc(
        ecl_k_convtr_scratch_floats(cv->c_in, cv->c_out, len, cv->kernel, cv->stride),
        sizeof(float));
    const float **ptrs =
        ecl_calloc(ecl_k_convtr_scratch_ptrs(cv->c_in, cv->kernel, cv->stride), sizeof(*ptrs));
    int err = ENCODEC_ENOMEM;
    if (full && out && scratch && ptrs) {
        ecl_k_convtr1d(x, cv->c_in, len, cv->weight, cv->bias, cv->c_out, cv->kernel,
                       cv->stride, full, scratch, ptrs, cx->n_threads);
        if (cv->norm_weight)
            ecl_k_group_norm1(full, cv->c_out, full_len, cv->norm_weight, cv->norm_bias, 1e-5f);
        for (int o = 0; o < cv->c_out; o++)
            memcpy(out + (size_t)o * out_len, full + (size_t)o * full_len + left,
                   (size_t)out_len * sizeof(float));
        err = ENCODEC_OK;
    }
    ecl_free(full);
    ecl_free(scratch);
    ecl_free((void *)ptrs);
    if (err) {
        ecl_free(out);
        return err;
    }
    *y = out;
    *y_len = out_len;
    return ENCODEC_OK;
}

static int resblock_forward(const ctx_t *cx, const ecl_resblock *rb, const float *x, int c,
                            int len, float **y)
{
    const float alpha = cx->m->cfg.elu_alpha;
    const size_t n = (size_t)c * len;
    float *act = ecl_calloc(n, sizeof(float));
    float *h1 = NULL, *h2 = NULL, *skip = NULL;
    int l1, l2, ls, err = ENCODEC_ENOMEM;
    if (!act)
        return err;
    ecl_k_elu_copy(x, act, n, alpha);
    err = conv_forward(cx, &rb->conv1, act, len, &h1, &l1);
    ecl_free(act);
    if (err)
        return err;
    ecl_k_elu(h1, (size_t)rb->conv1.c_out * l1, alpha);
    err = conv_forward(cx, &rb->conv2, h1, l1, &h2, &l2);
    ecl_free(h1);
    if (err)
        return err;
    if (!cx->m->cfg.true_skip) {
        err = conv_forward(cx, &rb->shortcut, x, len, &skip, &ls);
        if (err) {
            ecl_free(h2);
            return err;
        }
        for (size_t i = 0; i < n; i++)
            h2[i] = skip[i] + h2[i];
        ecl_free(skip);
    } else {
        for (size_t i = 0; i < n; i++)
            h2[i] = x[i] + h2[i];
    }
    *y = h2;
    return ENCODEC_OK;
}

/* Multi-layer LSTM over x [dim][len] from zero state, output = top layer h + x. */
static int lstm_forward(const ctx_t *cx, const ecl_lstm *ls, const float *x, int len, float **y)
{
    const int d = ls->dim, rows = 4 * d;
    float *zx = ecl_calloc((size_t)rows * len, sizeof(float));
    float *seq_a = ecl_calloc((size_t)d * len, sizeof(float));
    float *seq_b = ecl_calloc((size_t)d * len, sizeof(float));
    float *state = ecl_calloc((size_t)2 * d + 2 * (size_t)rows, sizeof(float));
    const float **ptrs = ecl_calloc((size_t)d, sizeof(*ptrs));
    if (!zx || !seq_a || !seq_b || !state || !ptrs) {
        ecl_free(zx);
        ecl_free(seq_a);
        ecl_free(seq_b);
        ecl_free(state);
        ecl_free((void *)ptrs);
        return ENCODEC_ENOMEM;
    }
    float *h = state, *c = state + d, *zcol = state + 2 * d, *ztmp = zcol + rows;
    const float *in = x;
    float *out = seq_a;
    for (int l = 0; l < ls->n_layers; l++) {
        for (int k = 0; k < d; k++)
            ptrs[k] = in + (size_t)k * len;
        /* Input projection for the whole sequence at once; only h W_hh is sequential. */
        ecl_k_gemm_rows(rows, len, d, ls->w_ih[l], d, ptrs, ls->bias[l], zx, len, cx->n_threads);
        memset(h, 0, 2 * (size_t)d * sizeof(float));
        for (int t = 0; t < len; t++) {
            for (int r = 0; r < rows; r++)
                zcol[r] = zx[(size_t)r * len + t];
            ecl_k_lstm_step(d, zcol, ls->w_hh_t[l], h, c, ztmp, cx->n_threads);
            for (int k = 0; k < d; k++)
                out[(size_t)k * len + t] = h[k];
        }
        in = out;
        out = out == seq_a ? seq_b : seq_a;
    }
    float *result = in == seq_a ? seq_a : seq_b;
    for (size_t i = 0; i < (size_t)d * len; i++)
        result[i] += x[i];
    ecl_free(result == seq_a ? seq_b : seq_a);
    ecl_free(zx);
    ecl_free(state);
    ecl_free((void *)ptrs);
    *y = result;
    return ENCODEC_OK;
}

/* Replace *cur by the result of a layer, freeing the previous buffer. */
#define STEP(call)                                                                             \
    do {                                                                                       \
        float *next_ = NULL;                                                                   \
        int err_ = (call);                                                                     \
        if (err_) {                                                                            \
            ecl_free(cur);                                                                     \
            return err_;                                                                       \
        }                                                                                      \
        ecl_free(cur);                                                                         \
        cur = next_;                                                                           \
    } while (0)

static void trace(ecl_trace_fn fn, void *ctx, int layer, const float *x, int c, int len)
{
    if (fn)
        fn(ctx, layer, x, c, len);
}

int ecl_seanet_encode(const encodec_model *m, const float *audio, int len, float **latent,
                      int *n_frames, int n_threads, ecl_trace_fn trace_fn, void *trace_ctx)
{
    const ecl_config *cfg = &m->cfg;
    const ecl_seanet *net = &m->encoder;
    const ctx_t cx = {m, n_threads};
    float *cur = NULL;
    int c = cfg->channels, layer = 0;
    int err = conv_forward(&cx, &net->conv_in, audio, len, &cur, &len);
    if (err)
        return err;
    c = net->conv_in.c_out;
    trace(trace_fn, trace_ctx, layer++, cur, c, len);
    for (int s = 0; s < cfg->n_ratios; s++) {
        for (int j = 0; j < cfg->n_residual_layers; j++) {
            STEP(resblock_forward(&cx, &net->res[s * cfg->n_residual_layers + j], cur, c, len,
                                  &next_));
            trace(trace_fn, trace_ctx, layer++, cur, c, len);
        }
        ecl_k_elu(cur, (size_t)c * len, cfg->elu_alpha);
        trace(trace_fn, trace_ctx, layer++, cur, c, len);
        int new_len;
        STEP(conv_forward(&cx, &net->resample[s], cur, len, &next_, &new_len));
        len = new_len;
        c = net->resample[s].c_out;
        trace(trace_fn, trace_ctx, layer++, cur, c, len);
    }
    if (net->lstm.n_layers > 0) {
        STEP(lstm_forward(&cx, &net->lstm, cur, len, &next_));
        trace(trace_fn, trace_ctx, layer++, cur, c, len);
    }
    ecl_k_elu(cur, (size_t)c * len, cfg->elu_alpha);
    trace(trace_fn, trace_ctx, layer++, cur, c, len);
    int new_len;
    STEP(conv_forward(&cx, &net->conv_out, cur, len, &next_, &new_len));
    trace(trace_fn, trace_ctx, layer++, cur, net->conv_out.c_out, new_len);
    *latent = cur;
    *n_frames = new_len;
    return ENCODEC_OK;
}

int ecl_seanet_decode(const encodec_model *m, const float *latent, int n_frames, float **audio,
                      int n_threads, ecl_trace_fn trace_fn, void *trace_ctx)
{
    const ecl_config *cfg = &m->cfg;
    const ecl_seanet *net = &m->decoder;
    const ctx_t cx = {m, n_threads};
    float *cur = NULL;
    int len = n_frames, layer = 0;
    int err = conv_forward(&cx, &net->conv_in, latent, len, &cur, &len);
    if (err)
        return err;
    int c = net->conv_in.c_out;
    trace(trace_fn, trace_ctx, layer++, cur, c, len);
    if (net->lstm.n_layers > 0) {
        STEP(lstm_forward(&cx, &net->lstm, cur, len, &next_));
        trace(trace_fn, trace_ctx, layer++, cur, c, len);
    }
    for (int s = 0; s < cfg->n_ratios; s++) {
        ecl_k_elu(cur, (size_t)c * len, cfg->elu_alpha);
        trace(trace_fn, trace_ctx, layer++, cur, c, len);
        int new_len;
        STEP(convtr_forward(&cx, &net->resample[s], cur, len, &next_, &new_len));
        len = new_len;
        c = net->resample[s].c_out;
        trace(trace_fn, trace_ctx, layer++, cur, c, len);
        for (int j = 0; j < cfg->n_residual_layers; j++) {
            STEP(resblock_forward(&cx, &net->res[s * cfg->n_residual_layers + j], cur, c, len,
                                  &next_));
            trace(trace_fn, trace_ctx, layer++, cur, c, len);
        }
    }
    ecl_k_elu(cur, (size_t)c * len, cfg->elu_alpha);
    trace(trace_fn, trace_ctx, layer++, cur, c, len);
    int new_len;
    STEP(conv_forward(&cx, &net->conv_out, cur, len, &next_, &new_len));
    trace(trace_fn, trace_ctx, layer++, cur, net->conv_out.c_out, new_len);
    *audio = cur;
    return ENCODEC_OK;
}
