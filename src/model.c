/* Model loading and binding: maps a weights file, validates its configuration against what
 * this library implements, checks that every tensor the configuration implies is present with
 * its exact shape and finite values, folds weight normalisation (w = g * v / ||v||) at load,
 * and answers the public property queries. */
#include "model.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "lm.h"
#include "safetensors.h"
#include "util.h"

typedef struct {
    encodec_model *m;
    const ecl_safetensors *st;
    const char *source; /* file name for messages */
    char *msg;
    size_t msg_size;
    int mapped; /* the data is our read-only mapping of the file: pages read can be dropped */
} loader;

/* Zeroed, aligned memory owned by the model (freed by encodec_model_free). */
static void *model_alloc_bytes(encodec_model *m, size_t bytes)
{
    if (m->n_allocations == m->cap_allocations) {
        int cap = m->cap_allocations ? 2 * m->cap_allocations : 64;
        void **p = realloc(m->allocations, (size_t)cap * sizeof(*p));
        if (!p)
            return NULL;
        m->allocations = p;
        m->cap_allocations = cap;
    }
    void *buf = ecl_calloc(bytes ? bytes : 1, 1);
    if (buf)
        m->allocations[m->n_allocations++] = buf;
    return buf;
}

static float *model_alloc(encodec_model *m, size_t n_floats)
{
    size_t bytes;
    return ecl_mul_size(n_floats, sizeof(float), &bytes) ? model_alloc_bytes(m, bytes) : NULL;
}

void encodec_model_free(encodec_model *model)
{
    if (!model)
        return;
    ecl_lm_free(model->lm);
    for (int i = 0; i < model->n_allocations; i++)
        ecl_free(model->allocations[i]);
    free(model->allocations);
    free(model);
}

/* ---- configuration ------------------------------------------------------------------------ */

static int cfg_error(loader *ld, const char *what)
{
    return ecl_fail(ld->msg, ld->msg_size, ENCODEC_EWEIGHTS_CONFIG, "%s: configuration: %s",
                    ld->source, what);
}

/* Integer field in [lo, hi]; returns 0 on success. */
static int cfg_int(loader *ld, const cJSON *root, const char *key, int lo, int hi, int *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    char buf[160];
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < lo ||
        v->valuedouble > hi) {
        snprintf(buf, sizeof buf, "\"%s\" must be an integer in [%d, %d]", key, lo, hi);
        return cfg_error(ld, buf);
    }
    *out = (int)v->valuedouble;
    return 0;
}

static int cfg_bool(loader *ld, const cJSON *root, const char *key, int *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    char buf[160];
    if (!cJSON_IsBool(v)) {
        snprintf(buf, sizeof buf, "\"%s\" must be true or false", key);
        return cfg_error(ld, buf);
    }
    *out = cJSON_IsTrue(v);
    return 0;
}

/* Optional string field that, when present, must equal `want`. */
static int cfg_expect_string(loader *ld, const cJSON *root, const char *key, const char *want)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    char buf[200];
    if (!v)
        return 0;
    if (!cJSON_IsString(v) || strcmp(v->valuestring, want) != 0) {
        snprintf(buf, sizeof buf, "\"%s\" must be \"%s\" (the only supported value)", key, want);
        return cfg_error(ld, buf);
    }
    return 0;
}

static int parse_config(loader *ld, const char *json)
{
    ecl_config *c = &ld->m->cfg;
    cJSON *root = cJSON_Parse(json);
    int err = 0;
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return cfg_error(ld, "\"config\" metadata is not a JSON object");
    }
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(root, "name");
    const cJSON *norm = cJSON_GetObjectItemCaseSensitive(root, "norm");
    const cJSON *ratios = cJSON_GetObjectItemCaseSensitive(root, "ratios");
    const cJSON *bws = cJSON_GetObjectItemCaseSensitive(root, "target_bandwidths");
    const cJSON *segment = cJSON_GetObjectItemCaseSensitive(root, "segment");
    const cJSON *overlap = cJSON_GetObjectItemCaseSensitive(root, "overlap");
    const cJSON *alpha = cJSON_GetObjectItemCaseSensitive(root, "activation_alpha");
    const cJSON *final_act = cJSON_GetObjectItemCaseSensitive(root, "final_activation");
    const cJSON *trim = cJSON_GetObjectItemCaseSensitive(root, "trim_right_ratio");

    if (!cJSON_IsString(name) || !name->valuestring[0] ||
        strlen(name->valuestring) >= sizeof c->name)
        err = cfg_error(ld, "\"name\" must be a non-empty string of at most 63 bytes");
    else
        snprintf(c->name, sizeof c->name, "%s", name->valuestring);
    if (!err)
        err = cfg_int(ld, root, "sample_rate", 1000, 1000000, &c->sample_rate);
    if (!err)
        err = cfg_int(ld, root, "channels", 1, 2, &c->channels);
    if (!err)
        err = cfg_bool(ld, root, "causal", &c->causal);
    if (!err) {
        if (cJSON_IsString(norm) && strcmp(norm->valuestring, "weight_norm") == 0)
            c->group_norm = 0;
        else if (cJSON_IsString(norm) && strcmp(norm->valuestring, "time_group_norm") == 0)
            c->group_norm = 1;
        else
            err = cfg_error(ld, "\"norm\" must be \"weight_norm\" or \"time_group_norm\"");
    }
    if (!err)
        err = cfg_int(ld, root, "n_filters", 1, 4096, &c->n_filters);
    if (!err)
        err = cfg_int(ld, root, "dimension", 1, 1024, &c->dimension);
    if (!err)
        err = cfg_int(ld, root, "n_residual_layers", 0, 8, &c->n_residual_layers);
    if (!err)
        err = cfg_int(ld, root, "kernel_size", 1, 64, &c->kernel_size);
    if (!err)
        err = cfg_int(ld, root, "last_kernel_size", 1, 64, &c->last_kernel_size);
    if (!err)
        err = cfg_int(ld, root, "residual_kernel_size", 1, 64, &c->residual_kernel_size);
    if (!err)
        err = cfg_int(ld, root, "dilation_base", 1, 16, &c->dilation_base);
    if (!err)
        err = cfg_int(ld, root, "compress", 1, 64, &c->compress);
    if (!err)
        err = cfg_int(ld, root, "lstm", 0, 8, &c->lstm_layers);
    if (!err)
        err = cfg_bool(ld, root, "true_skip", &c->true_skip);
    if (!err)
        err = cfg_bool(ld, root, "normalize", &c->normalize);
    if (!err)
        err = cfg_int(ld, root, "bins", 2, 1 << 16, &c->bins);
    if (!err)
        err = cfg_expect_string(ld, root, "pad_mode", "reflect");
    if (!err)
        err = cfg_expect_string(ld, root, "activation", "ELU");
    if (!err && final_act && !cJSON_IsNull(final_act))
        err = cfg_error(ld, "\"final_activation\" must be null (the only supported value)");
    if (!err && trim && !(cJSON_IsNumber(trim) && trim->valuedouble == 1.0))
        err = cfg_error(ld, "\"trim_right_ratio\" must be 1.0 (the only supported value)");
    c->elu_alpha = 1.0f;
    if (!err && alpha) {
        if (!cJSON_IsNumber(alpha) || !(alpha->valuedouble > 0 && alpha->valuedouble < 100))
            err = cfg_error(ld, "\"activation_alpha\" must be a positive number");
        else
            c->elu_alpha = (float)alpha->valuedouble;
    }
    if (!err) {
        int n = cJSON_IsArray(ratios) ? cJSON_GetArraySize(ratios) : -1;
        if (n < 1 || n > ECL_MAX_RATIOS)
            err = cfg_error(ld, "\"ratios\" must be an array of 1 to 8 integers");
        c->n_ratios = n;
        c->hop_length = 1;
        for (int i = 0; !err && i < n; i++) {
            const cJSON *r = cJSON_GetArrayItem(ratios, i);
            if (!cJSON_IsNumber(r) || r->valuedouble != floor(r->valuedouble) ||
                r->valuedouble < 1 || r->valuedouble > 64)
                err = cfg_error(ld, "\"ratios\" entries must be integers in [1, 64]");
            else {
                c->ratios[i] = (int)r->valuedouble;
                c->hop_length *= c->ratios[i];
            }
        }
        if (!err && (c->hop_length > 100000 || (c->n_filters << n) > 65536))
            err = cfg_error(ld, "\"ratios\" give an unsupported hop length or width");
    }
    if (!err) {
        int n = cJSON_IsArray(bws) ? cJSON_GetArraySize(bws) : -1;
        if (n < 1 || n > ECL_MAX_BANDWIDTHS)
            err = cfg_error(ld, "\"target_bandwidths\" must be an array of 1 to 16 numbers");
        c->n_bandwidths = n;
        for (int i = 0; !err && i < n; i++) {
            const cJSON *b = cJSON_GetArrayItem(bws, i);
            if (!cJSON_IsNumber(b) || !(b->valuedouble > 0 && b->valuedouble < 10000) ||
                (i > 0 && b->valuedouble <= c->bandwidths[i - 1]))
                err = cfg_error(ld, "\"target_bandwidths\" must be ascending positive numbers");
            else
                c->bandwidths[i] = (float)b->valuedouble;
        }
    }
    if (!err) {
        c->frame_rate = (int)ecl_ceil_div((size_t)c->sample_rate, (size_t)c->hop_length);
        const double bits = log2((double)c->bins);
        if (bits != floor(bits))
            err = cfg_error(ld, "\"bins\" must be a power of two");
        else {
            /* n_q is derived from the largest bandwidth as the reference does. */
            double bw_per_q = bits * c->frame_rate;
            c->n_q = (int)floor(1000.0 * c->bandwidths[c->n_bandwidths - 1] / bw_per_q);
            int cfg_nq = 0;
            if (c->n_q < 1 || c->n_q > 1024)
                err = cfg_error(ld, "the bandwidths give an unsupported number of codebooks");
            else if (cJSON_GetObjectItemCaseSensitive(root, "n_q") &&
                     (cfg_int(ld, root, "n_q", 1, 1024, &cfg_nq) || cfg_nq != c->n_q))
                err = cfg_error(ld, "\"n_q\" disagrees with the largest target bandwidth");
        }
    }
    if (!err) {
        c->segment_length = c->segment_stride = 0;
        if (segment && !cJSON_IsNull(segment)) {
            if (!cJSON_IsNumber(segment) || !(segment->valuedouble > 0) ||
                !cJSON_IsNumber(overlap) || !(overlap->valuedouble >= 0) ||
                !(overlap->valuedouble < 1))
                err = cfg_error(ld, "\"segment\" must be null or a positive number of seconds "
                                    "with \"overlap\" in [0, 1)");
            else {
                double len = segment->valuedouble * c->sample_rate;
                if (len > 1e8)
                    err = cfg_error(ld, "\"segment\" too long");
                else if (len < 1)
                    err = cfg_error(ld, "\"segment\" shorter than one sample");
                else {
                    c->segment_length = (int)len;
                    int stride = (int)((1.0 - overlap->valuedouble) * c->segment_length);
                    c->segment_stride = stride > 1 ? stride : 1;
                }
            }
        }
    }
    /* Group norms need the statistics of a whole segment: without segments no layer could
     * return anything before the end of the stream. */
    if (!err && c->group_norm && c->segment_length < 1)
        err = cfg_error(ld, "\"norm\": \"time_group_norm\" needs a \"segment\"");
    if (!err && c->n_filters * (1 << c->n_ratios) / c->compress < 1)
        err = cfg_error(ld, "\"compress\" too large for \"n_filters\"");
    cJSON_Delete(root);
    return err;
}

/* ---- tensors -------------------------------------------------------------------------------- */

/* A tensor checked and copied as float32 (safetensors.h). */
static int load_tensor(loader *ld, const char *name, int n_dims, const int64_t *shape, float *dst)
{
    const int err = ecl_safetensors_read_weight(ld->st, name, n_dims, shape, dst, ld->source,
                                                ld->msg, ld->msg_size);
    const ecl_tensor *t = ecl_safetensors_find(ld->st, name);
    /* Copied: the file's pages need not stay resident beside the copy (peak memory ~ the
     * model, not model + file). Dropped pages read again come back from the file. */
    if (!err && ld->mapped && t)
        ecl_release_pages(t->data, t->n_elements * ecl_dtype_size(t->dtype));
    return err;
}

static int alloc_fail(loader *ld)
{
    return ecl_fail(ld->msg, ld->msg_size, ENCODEC_ENOMEM, "%s: out of memory", ld->source);
}

/* Keep n values in the panel layout (of matrices with K rows) in the model: as float16 when
 * the file stores its tensor `name` as float16, else as float32. The values always fit: they
 * are the file's float16 values, or weight-normalised rows whose entries are at most |g|
 * (itself a float16), so the conversion's range check only guards against a broken
 * invariant. */
static int keep_panels(loader *ld, const char *name, const float *w, size_t n, int K,
                       ecl_amat *out)
{
    const ecl_tensor *t = ecl_safetensors_find(ld->st, name);
    if (t && t->dtype == ECL_DTYPE_F16) {
        uint16_t *h = model_alloc_bytes(ld->m, n * sizeof *h);
        if (!h)
            return alloc_fail(ld);
        if (!ecl_k_to_half(w, n, h))
            return ecl_fail(ld->msg, ld->msg_size, ENCODEC_EWEIGHTS_VALUE,
                            "%s: tensor %s gives weights beyond the float16 range", ld->source,
                            name);
        *out = ecl_amat_panels(NULL, h, K);
        return ENCODEC_OK;
    }
    float *f = model_alloc(ld->m, n);
    if (!f)
        return alloc_fail(ld);
    memcpy(f, w, n * sizeof *f);
    *out = ecl_amat_panels(f, NULL, K);
    return ENCODEC_OK;
}

/* Keep the matrix w of M rows by K as the file stores it ([M][K]) as A^T (K x M) in panels. */
static int keep_matrix(loader *ld, const char *name, const float *w, int M, int K, ecl_amat *out)
{
    const size_t n = ecl_panels_size(M, K);
    float *panels = ecl_calloc(n, sizeof(float));
    if (!panels)
        return alloc_fail(ld);
    ecl_k_to_panels(w, K, M, 1, (size_t)K, panels);
    const int err = keep_panels(ld, name, panels, n, K, out);
    ecl_free(panels);
    return err;
}

static int bind_conv_weights(loader *ld, const char *base, const char *inner, int transposed,
                             const int64_t *wshape, size_t n, float *w, ecl_conv *cv);
static int relayout_conv(loader *ld, const char *name, int transposed, int c_in, int c_out,
                         int kernel, int stride, const float *w, ecl_conv *cv);

/* Bind a (transposed) convolution whose module path is `base` (e.g. "encoder.model.0.conv"):
 * weights under base.conv / base.convtr, GroupNorm under base.norm. */
static int bind_conv(loader *ld, const char *base, int transposed, int c_in, int c_out,
                     int kernel, int stride, int dilation, ecl_conv *cv)
{
    encodec_model *m = ld->m;
    const char *inner = transposed ? "convtr" : "conv";
    const int64_t wshape[3] = {transposed ? c_in : c_out, transposed ? c_out : c_in, kernel};
    const size_t n = (size_t)c_in * c_out * kernel;
    int err;
    cv->c_in = c_in;
    cv->c_out = c_out;
    cv->kernel = kernel;
    cv->stride = stride;
    cv->dilation = dilation;
    cv->bias = model_alloc(m, (size_t)c_out);
    if (!cv->bias)
        return alloc_fail(ld);
    /* The stored layout is only a step towards the kernels' layout: keep it temporarily. */
    float *w = ecl_calloc(n, sizeof(float));
    if (!w)
        return alloc_fail(ld);
    err = bind_conv_weights(ld, base, inner, transposed, wshape, n, w, cv);
    char name[256]; /* the tensor whose storage type the kernels' copy follows */
    snprintf(name, sizeof name, "%s.%s.%s", base, inner,
             ld->m->cfg.group_norm ? "weight" : "weight_v");
    if (!err)
        err = relayout_conv(ld, name, transposed, c_in, c_out, kernel, stride, w, cv);
    ecl_free(w);
    return err;
}

/* Load (and for weight_norm fold) the weight of a conv into w, in the stored layout. */
static int bind_conv_weights(loader *ld, const char *base, const char *inner, int transposed,
                             const int64_t *wshape, size_t n, float *w, ecl_conv *cv)
{
    encodec_model *m = ld->m;
    const int c_out = cv->c_out;
    const int64_t gshape[3] = {wshape[0], 1, 1};
    const int64_t bshape[1] = {c_out};
    char name[256];
    int err;
    (void)transposed;
    (void)m;
    snprintf(name, sizeof name, "%s.%s.bias", base, inner);
    if ((err = load_tensor(ld, name, 1, bshape, cv->bias)))
        return err;
    if (!m->cfg.group_norm) {
        float *g = ecl_calloc((size_t)wshape[0], sizeof(float));
        if (!g)
            return alloc_fail(ld);
        snprintf(name, sizeof name, "%s.%s.weight_g", base, inner);
        err = load_tensor(ld, name, 3, gshape, g);
        snprintf(name, sizeof name, "%s.%s.weight_v", base, inner);
        if (!err)
            err = load_tensor(ld, name, 3, wshape, w);
        if (err) {
            ecl_free(g);
            return err;
        }
        /* PyTorch weight_norm (dim 0): one norm per index of the stored tensor's axis 0 —
         * output channels for conv, input channels for transposed conv. */
        const size_t row = n / (size_t)wshape[0];
        for (int64_t r = 0; r < wshape[0]; r++) {
            float *v = w + (size_t)r * row;
            double ss = 0.0;
            for (size_t i = 0; i < row; i++)
                ss += (double)v[i] * v[i];
            const float scale = g[r] / (float)sqrt(ss);
            if (!isfinite(scale)) {
                ecl_free(g);
                return ecl_fail(ld->msg, ld->msg_size, ENCODEC_EWEIGHTS_VALUE,
                                "%s: tensor %s has an all-zero row %lld (weight norm undefined)",
                                ld->source, name, (long long)r);
            }
            for (size_t i = 0; i < row; i++)
                v[i] = v[i] * scale;
        }
        ecl_free(g);
    } else {
        snprintf(name, sizeof name, "%s.%s.weight", base, inner);
        if ((err = load_tensor(ld, name, 3, wshape, w)))
            return err;
        cv->norm_weight = model_alloc(m, (size_t)c_out);
        cv->norm_bias = model_alloc(m, (size_t)c_out);
        if (!cv->norm_weight || !cv->norm_bias)
            return alloc_fail(ld);
        snprintf(name, sizeof name, "%s.norm.weight", base);
        if ((err = load_tensor(ld, name, 1, bshape, cv->norm_weight)))
            return err;
        snprintf(name, sizeof name, "%s.norm.bias", base);
        if ((err = load_tensor(ld, name, 1, bshape, cv->norm_bias)))
            return err;
    }
    return ENCODEC_OK;
}

/* The kernels' layouts: transposed for convolutions, polyphase for transposed ones (w: as in
 * the file). */
static int relayout_conv(loader *ld, const char *name, int transposed, int c_in, int c_out,
                         int kernel, int stride, const float *w, ecl_conv *cv)
{
    if (!transposed)
        return keep_matrix(ld, name, w, c_out, c_in * kernel, &cv->weight);
    const int K = c_in * ecl_k_convtr_taps(kernel, stride);
    const size_t n_out = (size_t)stride * ecl_panels_size(c_out, K);
    float *laid = ecl_calloc(n_out, sizeof(float));
    if (!laid)
        return alloc_fail(ld);
    ecl_k_convtr_relayout(w, c_in, c_out, kernel, stride, laid);
    const int err = keep_panels(ld, name, laid, n_out, K, &cv->weight);
    ecl_free(laid);
    return err;
}

static int bind_resblock(loader *ld, const char *side, int index, int dim, int dilation,
                         ecl_resblock *rb)
{
    const ecl_config *c = &ld->m->cfg;
    const int hidden = dim / c->compress;
    char base[128];
    int err;
    snprintf(base, sizeof base, "%s.model.%d.block.1.conv", side, index);
    if ((err = bind_conv(ld, base, 0, dim, hidden, c->residual_kernel_size, 1, dilation,
                         &rb->conv1)))
        return err;
    snprintf(base, sizeof base, "%s.model.%d.block.3.conv", side, index);
    if ((err = bind_conv(ld, base, 0, hidden, dim, 1, 1, 1, &rb->conv2)))
        return err;
    if (c->true_skip)
        return ENCODEC_OK;
    snprintf(base, sizeof base, "%s.model.%d.shortcut.conv", side, index);
    return bind_conv(ld, base, 0, dim, dim, 1, 1, 1, &rb->shortcut);
}

static int bind_lstm(loader *ld, const char *side, int index, int dim, ecl_lstm *ls)
{
    encodec_model *m = ld->m;
    const int layers = m->cfg.lstm_layers;
    const int64_t wshape[2] = {4 * (int64_t)dim, dim}, bshape[1] = {4 * (int64_t)dim};
    char name[160];
    int err;
    ls->dim = dim;
    ls->n_layers = layers;
    if (layers == 0)
        return ENCODEC_OK;
    ls->w_ih = model_alloc_bytes(m, (size_t)layers * sizeof(ecl_amat));
    ls->w_hh_t = model_alloc_bytes(m, (size_t)layers * sizeof(ecl_amat));
    ls->bias = model_alloc_bytes(m, (size_t)layers * sizeof(float *));
    if (!ls->w_ih || !ls->w_hh_t || !ls->bias)
        return alloc_fail(ld);
    float *w_tmp = ecl_calloc((size_t)4 * dim * dim, sizeof(float)), *b_hh = w_tmp;
    if (!w_tmp)
        return alloc_fail(ld);
    err = ENCODEC_OK;
    for (int l = 0; l < layers; l++) {
        ls->bias[l] = model_alloc(m, (size_t)4 * dim);
        if (!ls->bias[l]) {
            err = alloc_fail(ld);
            break;
        }
        snprintf(name, sizeof name, "%s.model.%d.lstm.weight_ih_l%d", side, index, l);
        if ((err = load_tensor(ld, name, 2, wshape, w_tmp)))
            break;
        if ((err = keep_matrix(ld, name, w_tmp, 4 * dim, dim, &ls->w_ih[l])))
            break;
        snprintf(name, sizeof name, "%s.model.%d.lstm.weight_hh_l%d", side, index, l);
        if ((err = load_tensor(ld, name, 2, wshape, w_tmp)))
            break;
        if ((err = keep_matrix(ld, name, w_tmp, 4 * dim, dim, &ls->w_hh_t[l])))
            break;
        snprintf(name, sizeof name, "%s.model.%d.lstm.bias_ih_l%d", side, index, l);
        if ((err = load_tensor(ld, name, 1, bshape, ls->bias[l])))
            break;
        snprintf(name, sizeof name, "%s.model.%d.lstm.bias_hh_l%d", side, index, l);
        if ((err = load_tensor(ld, name, 1, bshape, b_hh)))
            break;
        for (int i = 0; i < 4 * dim; i++)
            ls->bias[l][i] += b_hh[i];
    }
    ecl_free(w_tmp);
    return err;
}

static int alloc_stages(loader *ld, ecl_seanet *net)
{
    const ecl_config *c = &ld->m->cfg;
    const size_t n_res = (size_t)c->n_ratios * c->n_residual_layers;
    net->res = model_alloc_bytes(ld->m, n_res * sizeof(ecl_resblock));
    net->resample = model_alloc_bytes(ld->m, (size_t)c->n_ratios * sizeof(ecl_conv));
    return net->res && net->resample ? ENCODEC_OK : alloc_fail(ld);
}

/* Layer lists of the reference SEANet (spec section 4), generic in every hyperparameter. */
static int bind_encoder(loader *ld)
{
    const ecl_config *c = &ld->m->cfg;
    ecl_seanet *net = &ld->m->encoder;
    char base[128];
    int err, idx = 0, mult = 1;
    if ((err = alloc_stages(ld, net)))
        return err;
    snprintf(base, sizeof base, "encoder.model.%d.conv", idx++);
    if ((err = bind_conv(ld, base, 0, c->channels, c->n_filters, c->kernel_size, 1, 1,
                         &net->conv_in)))
        return err;
    for (int s = 0; s < c->n_ratios; s++) {
        const int ratio = c->ratios[c->n_ratios - 1 - s], dim = mult * c->n_filters;
        for (int j = 0, dil = 1; j < c->n_residual_layers; j++, dil *= c->dilation_base)
            if ((err = bind_resblock(ld, "encoder", idx++, dim, dil,
                                     &net->res[s * c->n_residual_layers + j])))
                return err;
        idx++; /* ELU */
        snprintf(base, sizeof base, "encoder.model.%d.conv", idx++);
        if ((err = bind_conv(ld, base, 0, dim, 2 * dim, 2 * ratio, ratio, 1, &net->resample[s])))
            return err;
        mult *= 2;
    }
    if (c->lstm_layers > 0 &&
        (err = bind_lstm(ld, "encoder", idx++, mult * c->n_filters, &net->lstm)))
        return err;
    idx++; /* ELU */
    snprintf(base, sizeof base, "encoder.model.%d.conv", idx++);
    return bind_conv(ld, base, 0, mult * c->n_filters, c->dimension, c->last_kernel_size, 1, 1,
                     &net->conv_out);
}

static int bind_decoder(loader *ld)
{
    const ecl_config *c = &ld->m->cfg;
    ecl_seanet *net = &ld->m->decoder;
    char base[128];
    int err, idx = 0, mult = 1 << c->n_ratios;
    if ((err = alloc_stages(ld, net)))
        return err;
    snprintf(base, sizeof base, "decoder.model.%d.conv", idx++);
    if ((err = bind_conv(ld, base, 0, c->dimension, mult * c->n_filters, c->kernel_size, 1, 1,
                         &net->conv_in)))
        return err;
    if (c->lstm_layers > 0 &&
        (err = bind_lstm(ld, "decoder", idx++, mult * c->n_filters, &net->lstm)))
        return err;
    for (int s = 0; s < c->n_ratios; s++) {
        const int ratio = c->ratios[s], dim = mult * c->n_filters;
        idx++; /* ELU */
        snprintf(base, sizeof base, "decoder.model.%d.convtr", idx++);
        if ((err = bind_conv(ld, base, 1, dim, dim / 2, 2 * ratio, ratio, 1, &net->resample[s])))
            return err;
        for (int j = 0, dil = 1; j < c->n_residual_layers; j++, dil *= c->dilation_base)
            if ((err = bind_resblock(ld, "decoder", idx++, dim / 2, dil,
                                     &net->res[s * c->n_residual_layers + j])))
                return err;
        mult /= 2;
    }
    idx++; /* ELU */
    snprintf(base, sizeof base, "decoder.model.%d.conv", idx++);
    return bind_conv(ld, base, 0, c->n_filters, c->channels, c->last_kernel_size, 1, 1,
                     &net->conv_out);
}

static int bind_quantizer(loader *ld)
{
    encodec_model *m = ld->m;
    const ecl_config *c = &m->cfg;
    const int64_t eshape[2] = {c->bins, c->dimension}, ishape[1] = {1};
    char name[128];
    int err;
    m->codebooks = model_alloc_bytes(m, (size_t)c->n_q * sizeof *m->codebooks);
    m->codebook_norms = model_alloc(m, (size_t)c->n_q * c->bins);
    float *book = ecl_calloc((size_t)c->bins * c->dimension, sizeof(float));
    if (!m->codebooks || !m->codebook_norms || !book) {
        ecl_free(book);
        return alloc_fail(ld);
    }
    err = ENCODEC_OK;
    for (int q = 0; q < c->n_q && !err; q++) {
        snprintf(name, sizeof name, "quantizer.vq.layers.%d._codebook.embed", q);
        if ((err = load_tensor(ld, name, 2, eshape, book)))
            break;
        /* An uninitialised codebook would make the reference run k-means: refuse it. */
        snprintf(name, sizeof name, "quantizer.vq.layers.%d._codebook.inited", q);
        if (ecl_safetensors_find(ld->st, name)) {
            float inited;
            if ((err = load_tensor(ld, name, 1, ishape, &inited)))
                break;
            if (inited != 1.0f) {
                err = ecl_fail(ld->msg, ld->msg_size, ENCODEC_EWEIGHTS_VALUE,
                               "%s: tensor %s is not 1 (codebook never initialised)",
                               ld->source, name);
                break;
            }
        }
        for (int j = 0; j < c->bins; j++) {
            const float *e = book + (size_t)j * c->dimension;
            float s = 0.0f;
            for (int d = 0; d < c->dimension; d++)
                s += e[d] * e[d];
            m->codebook_norms[(size_t)q * c->bins + j] = s;
        }
        snprintf(name, sizeof name, "quantizer.vq.layers.%d._codebook.embed", q);
        err = keep_matrix(ld, name, book, c->bins, c->dimension, &m->codebooks[q]);
    }
    ecl_free(book);
    return err;
}

static int load_buffer(const uint8_t *data, size_t size, int mapped, const char *source,
                       encodec_model **model, char *msg, size_t msg_size)
{
    ecl_safetensors *st = NULL;
    loader ld = {NULL, NULL, source, msg, msg_size, mapped};
    int err = ecl_safetensors_open(data, size, &st, msg, msg_size);
    if (err) {
        /* Prefix the container's message with the source name. */
        if (msg && msg_size) {
            char inner[256];
            snprintf(inner, sizeof inner, "%s", msg);
            snprintf(msg, msg_size, "%s: %s", source, inner);
        }
        return err;
    }
    ld.st = st;
    ld.m = calloc(1, sizeof(encodec_model));
    if (!ld.m) {
        ecl_safetensors_close(st);
        return alloc_fail(&ld);
    }
    const char *config = ecl_safetensors_metadata(st, "config");
    if (!config)
        err = ecl_fail(msg, msg_size, ENCODEC_EWEIGHTS_CONFIG,
                       "%s: no \"config\" in the metadata (convert checkpoints with "
                       "encodec-convert)",
                       source);
    if (!err)
        err = parse_config(&ld, config);
    if (!err)
        err = bind_encoder(&ld);
    if (!err)
        err = bind_decoder(&ld);
    if (!err)
        err = bind_quantizer(&ld);
    ecl_safetensors_close(st);
    if (err) {
        encodec_model_free(ld.m);
        return err;
    }
    *model = ld.m;
    return ENCODEC_OK;
}

int encodec_model_load_memory(const void *data, size_t size, encodec_model **model, char *msg,
                              size_t msg_size)
{
    if (msg && msg_size)
        msg[0] = 0;
    if (!model)
        return ecl_fail(msg, msg_size, ENCODEC_EINVAL, "model pointer is NULL");
    *model = NULL;
    if (!data && size)
        return ecl_fail(msg, msg_size, ENCODEC_EINVAL, "data is NULL");
    return load_buffer(data, size, 0, "<memory>", model, msg, msg_size);
}

int encodec_model_load_file(const char *path, encodec_model **model, char *msg, size_t msg_size)
{
    if (msg && msg_size)
        msg[0] = 0;
    if (!model)
        return ecl_fail(msg, msg_size, ENCODEC_EINVAL, "model pointer is NULL");
    *model = NULL;
    if (!path)
        return ecl_fail(msg, msg_size, ENCODEC_EINVAL, "path is NULL");
    const uint8_t *data;
    size_t size;
    int err = ecl_map_file(path, &data, &size, msg, msg_size);
    if (err)
        return err;
    err = load_buffer(data, size, 1, path, model, msg, msg_size);
    ecl_unmap_file(data, size);
    return err;
}

/* ---- properties ----------------------------------------------------------------------------- */

const char *encodec_model_name(const encodec_model *m) { return m ? m->cfg.name : ""; }
int encodec_model_sample_rate(const encodec_model *m) { return m ? m->cfg.sample_rate : ENCODEC_EINVAL; }
int encodec_model_channels(const encodec_model *m) { return m ? m->cfg.channels : ENCODEC_EINVAL; }
int encodec_model_hop_length(const encodec_model *m) { return m ? m->cfg.hop_length : ENCODEC_EINVAL; }
int encodec_model_frame_rate(const encodec_model *m) { return m ? m->cfg.frame_rate : ENCODEC_EINVAL; }
int encodec_model_max_codebooks(const encodec_model *m) { return m ? m->cfg.n_q : ENCODEC_EINVAL; }
int encodec_model_num_bandwidths(const encodec_model *m) { return m ? m->cfg.n_bandwidths : ENCODEC_EINVAL; }
int encodec_model_has_lm(const encodec_model *m) { return m && m->lm ? 1 : 0; }
int ecl_model_segment_length(const encodec_model *m) { return m->cfg.segment_length; }
int ecl_model_normalize(const encodec_model *m) { return m->cfg.normalize; }

float encodec_model_bandwidth(const encodec_model *m, int i)
{
    if (!m || i < 0 || i >= m->cfg.n_bandwidths)
        return -1.0f;
    return m->cfg.bandwidths[i];
}

int encodec_model_codebooks_for_bandwidth(const encodec_model *m, float bandwidth_kbps)
{
    if (!m)
        return ENCODEC_EINVAL;
    for (int i = 0; i < m->cfg.n_bandwidths; i++)
        if (m->cfg.bandwidths[i] == bandwidth_kbps) {
            const double bw_per_q = log2((double)m->cfg.bins) * m->cfg.frame_rate;
            int k = (int)floor(bandwidth_kbps * 1000.0 / bw_per_q);
            return k < 1 ? 1 : k;
        }
    return ENCODEC_EBANDWIDTH;
}

size_t encodec_model_frames_for_samples(const encodec_model *m, size_t n_samples)
{
    return m ? ecl_ceil_div(n_samples, (size_t)m->cfg.hop_length) : 0;
}
