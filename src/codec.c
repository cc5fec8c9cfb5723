/* Encoder and decoder handles: streaming push/flush/reset over the SEANet layer chains and the
 * quantizer, interleaved <-> planar conversion, and for segmented models (48 kHz) the 1 s
 * segments with their volume normalisation and the decoder's linear overlap-add. Everything
 * a stream needs is allocated at create; push, flush and reset never allocate. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "model.h"
#include "rvq.h"
#include "seanet.h"
#include "util.h"

/* Audio samples per internal step for unsegmented models: bounds every per-layer buffer. */
#define ECL_CHUNK_SAMPLES 4800
/* Start-up delays searched up to this (samples, frames): a model whose first output needs more
 * could not stream. */
#define ECL_MAX_STARTUP (1L << 24)

struct encodec_encoder {
    const encodec_model *model;
    int n_codebooks, n_threads;
    encodec_kernels kernels;
    ecl_seanet_stream *net;
    int in_max;          /* columns per internal push */
    int seg_len, seg_stride; /* segmented models, else 0 */
    float *planar;       /* [channels][in_max]: input chunk, or the current segment */
    float *normalized;   /* [channels][seg_len]: segment divided by its scale */
    float *rvq_scratch;
    const float **rvq_ptrs;
    size_t startup;
    /* stream state */
    int flushed, seg_fill;
    uint64_t n_in, n_out; /* samples received, frames emitted */
    /* sink of the current call */
    int32_t *out_codes;
    float *out_scales;
    size_t out_frames;
    float cur_scale;
};

struct encodec_decoder {
    const encodec_model *model;
    int n_threads;
    encodec_kernels kernels;
    ecl_seanet_stream *net;
    int in_max;          /* frames per internal push */
    int seg_frames_max, seg_len, seg_stride, ola_cap;
    float *latent;       /* [dimension][in_max] */
    int32_t *seg_codes;  /* [seg_frames_max][n_q] pending frames of the current segment */
    float *seg_audio;    /* [channels][ola_cap] decoded segment */
    float *acc, *wsum;   /* overlap-add: [channels][ola_cap], [ola_cap] */
    float *window;       /* [ola_cap]: triangle weights for the first segment's length */
    size_t startup;
    uint64_t audio_length; /* setting: the stream's length when known (segment boundaries) */
    /* stream state */
    int flushed, n_codebooks, seg_count, seg_index, window_len, acc_len;
    float seg_scale;
    uint64_t n_in, n_out; /* frames received, samples emitted */
    /* sink of the current call */
    float *out_pcm;
    size_t out_samples, seg_audio_len;
};

const encodec_model *ecl_encoder_model(const encodec_encoder *e) { return e->model; }
const encodec_model *ecl_decoder_model(const encodec_decoder *d) { return d->model; }
int ecl_encoder_threads(const encodec_encoder *e) { return e->n_threads; }
int ecl_decoder_threads(const encodec_decoder *d) { return d->n_threads; }

/* ---- frame accounting --------------------------------------------------------------------- */

/* Beyond this no call accepts a stream (encoder push limit); counts saturate there. */
#define ECL_MAX_STREAM_SAMPLES ((uint64_t)1 << 40)

/* Frames of a complete stream of n samples: one per hop, per segment. */
static uint64_t total_frames(const encodec_model *m, uint64_t n)
{
    const uint64_t hop = (uint64_t)m->cfg.hop_length;
    if (n > ECL_MAX_STREAM_SAMPLES)
        n = ECL_MAX_STREAM_SAMPLES;
    if (m->cfg.segment_length == 0)
        return n / hop + (n % hop != 0);
    const uint64_t seg = (uint64_t)m->cfg.segment_length, stride = (uint64_t)m->cfg.segment_stride;
    uint64_t frames = 0, off = 0;
    if (n >= seg) { /* full segments in closed form, then the short ones */
        const uint64_t full = (n - seg) / stride + 1;
        frames = full * ((seg + hop - 1) / hop);
        off = full * stride;
    }
    for (; off < n; off += stride) {
        const uint64_t len = n - off < seg ? n - off : seg;
        frames += (len + hop - 1) / hop;
    }
    return frames;
}

/* ---- encoder -------------------------------------------------------------------------------- */

static void encoder_sink(void *ctx, const float *x, int channels, int n, int stride)
{
    encodec_encoder *e = ctx;
    (void)channels;
    const ecl_exec ex = {e->kernels, e->n_threads};
    ecl_rvq_encode(e->model, x, n, stride, e->n_codebooks,
                   e->out_codes + e->out_frames * (size_t)e->n_codebooks, e->rvq_scratch,
                   e->rvq_ptrs, &ex);
    if (e->out_scales)
        for (int t = 0; t < n; t++)
            e->out_scales[e->out_frames + (size_t)t] = e->cur_scale;
    e->out_frames += (size_t)n;
}

int encodec_encoder_create(const encodec_model *model, encodec_encoder **encoder)
{
    if (!encoder)
        return ENCODEC_EINVAL;
    *encoder = NULL;
    if (!model)
        return ENCODEC_EINVAL;
    encodec_encoder *e = calloc(1, sizeof *e);
    if (!e)
        return ENCODEC_ENOMEM;
    const ecl_config *c = &model->cfg;
    e->model = model;
    e->n_codebooks = encodec_model_codebooks_for_bandwidth(model, c->bandwidths[0]);
    e->n_threads = 1;
    e->kernels = ecl_isa_default();
    e->seg_len = c->segment_length;
    e->seg_stride = c->segment_stride;
    e->in_max = e->seg_len ? e->seg_len : ECL_CHUNK_SAMPLES;
    int out_max, err = ecl_seanet_stream_create(model, 0, e->in_max, &e->net, &out_max);
    e->planar = ecl_calloc((size_t)c->channels * e->in_max, sizeof(float));
    if (e->seg_len)
        e->normalized = ecl_calloc((size_t)c->channels * e->seg_len, sizeof(float));
    e->rvq_scratch = ecl_calloc(ecl_rvq_scratch_floats(model), sizeof(float));
    e->rvq_ptrs = (const float **)ecl_calloc(ecl_rvq_scratch_ptrs(model), sizeof(float *));
    if (!err && (!e->planar || (e->seg_len && !e->normalized) || !e->rvq_scratch || !e->rvq_ptrs))
        err = ENCODEC_ENOMEM;
    if (err) {
        encodec_encoder_free(e);
        return err;
    }
    /* Start-up delay: the fewest samples after which a new stream returns a frame. */
    if (e->seg_len)
        e->startup = (size_t)e->seg_len;
    else {
        long lo = 1, hi = 1;
        while (ecl_seanet_stream_outputs_for(e->net, hi) < 1 && hi < ECL_MAX_STARTUP)
            hi *= 2;
        if (ecl_seanet_stream_outputs_for(e->net, hi) < 1) { /* the loader prevents this */
            encodec_encoder_free(e);
            return ENCODEC_EUNSUPPORTED;
        }
        while (lo < hi) {
            const long mid = lo + (hi - lo) / 2;
            if (ecl_seanet_stream_outputs_for(e->net, mid) >= 1)
                hi = mid;
            else
                lo = mid + 1;
        }
        e->startup = (size_t)lo;
    }
    encodec_encoder_reset(e);
    *encoder = e;
    return ENCODEC_OK;
}

void encodec_encoder_free(encodec_encoder *encoder)
{
    if (!encoder)
        return;
    ecl_seanet_stream_free(encoder->net);
    ecl_free(encoder->planar);
    ecl_free(encoder->normalized);
    ecl_free(encoder->rvq_scratch);
    ecl_free((void *)encoder->rvq_ptrs);
    free(encoder);
}

int encodec_encoder_reset(encodec_encoder *encoder)
{
    if (!encoder)
        return ENCODEC_EINVAL;
    ecl_seanet_stream_reset(encoder->net);
    encoder->flushed = 0;
    encoder->seg_fill = 0;
    encoder->n_in = encoder->n_out = 0;
    encoder->cur_scale = 1.0f;
    return ENCODEC_OK;
}

int encodec_encoder_set_bandwidth(encodec_encoder *encoder, float bandwidth_kbps)
{
    if (!encoder)
        return ENCODEC_EINVAL;
    int k = encodec_model_codebooks_for_bandwidth(encoder->model, bandwidth_kbps);
    if (k < 0)
        return k;
    encoder->n_codebooks = k;
    return ENCODEC_OK;
}

int encodec_encoder_codebooks(const encodec_encoder *encoder)
{
    return encoder ? encoder->n_codebooks : ENCODEC_EINVAL;
}

/* Validates and resolves (AUTO) a handle's kernel path and applies it between streams. */
static int set_kernels(encodec_kernels requested, int mid_stream, ecl_seanet_stream *net,
                       encodec_kernels *field)
{
    encodec_kernels isa = requested;
    if (requested == ENCODEC_KERNELS_AUTO)
        isa = ecl_isa_default();
    else if (!encodec_kernels_name(requested))
        return ENCODEC_EINVAL;
    else if (!ecl_isa_supported(requested))
        return ENCODEC_EUNSUPPORTED;
    if (mid_stream)
        return ENCODEC_ESTATE;
    *field = isa;
    ecl_seanet_stream_set_kernels(net, isa);
    return ENCODEC_OK;
}

int encodec_encoder_set_kernels(encodec_encoder *encoder, encodec_kernels kernels)
{
    if (!encoder)
        return ENCODEC_EINVAL;
    return set_kernels(kernels, encoder->n_in > 0 && !encoder->flushed, encoder->net,
                       &encoder->kernels);
}

encodec_kernels encodec_encoder_kernels(const encodec_encoder *encoder)
{
    return encoder ? encoder->kernels : ENCODEC_KERNELS_AUTO;
}

int encodec_encoder_set_threads(encodec_encoder *encoder, int n_threads)
{
    if (!encoder || n_threads < 1 || n_threads > 1024)
        return ENCODEC_EINVAL;
    encoder->n_threads = n_threads;
    ecl_seanet_stream_set_threads(encoder->net, n_threads);
    return ENCODEC_OK;
}

size_t encodec_encoder_max_frames(const encodec_encoder *encoder, size_t n_samples)
{
    if (!encoder)
        return 0;
    return (size_t)(total_frames(encoder->model, encoder->n_in + n_samples) - encoder->n_out);
}

int encodec_encoder_latency(const encodec_encoder *encoder, size_t *startup, size_t *steady)
{
    if (!encoder)
        return ENCODEC_EINVAL;
    if (startup)
        *startup = encoder->startup;
    if (steady)
        *steady = encoder->seg_len ? (size_t)encoder->seg_len : 0;
    return ENCODEC_OK;
}

size_t encodec_encoder_state_size(const encodec_encoder *encoder)
{
    if (!encoder)
        return 0;
    const size_t ch = (size_t)encoder->model->cfg.channels;
    return sizeof *encoder + ecl_seanet_stream_state_bytes(encoder->net) +
           sizeof(float) * ch * ((size_t)encoder->in_max + (size_t)encoder->seg_len) +
           sizeof(float) * ecl_rvq_scratch_floats(encoder->model) +
           sizeof(float *) * ecl_rvq_scratch_ptrs(encoder->model);
}

/* Float32 pairwise sum (blocks of 8 lanes, halving above 128 values): the reduction order
 * the reference's float32 mean reproduces on the golden vectors, bit for bit. */
static float pairwise_sum(const float *a, size_t n)
{
    if (n < 8) {
        float res = 0.0f;
        for (size_t i = 0; i < n; i++)
            res += a[i];
        return res;
    }
    if (n <= 128) {
        float r[8];
        size_t i;
        for (int j = 0; j < 8; j++)
            r[j] = a[j];
        for (i = 8; i < n - n % 8; i += 8)
            for (int j = 0; j < 8; j++)
                r[j] += a[i + j];
        float res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; i++)
            res += a[i];
        return res;
    }
    size_t n2 = n / 2;
    n2 -= n2 % 8;
    return pairwise_sum(a, n2) + pairwise_sum(a + n2, n - n2);
}

/* Volume normalisation of one segment [channels][len] (spec 5.2) and its encoding. */
static void encode_segment(encodec_encoder *e, int len)
{
    const int ch = e->model->cfg.channels, stride = e->in_max;
    float *sq = e->normalized; /* scratch until the normalised signal is written */
    for (int t = 0; t < len; t++) {
        float mono = 0.0f;
        for (int c = 0; c < ch; c++)
            mono += e->planar[(size_t)c * stride + t];
        mono /= (float)ch;
        sq[t] = mono * mono;
    }
    float volume = sqrtf(pairwise_sum(sq, (size_t)len) / (float)len);
    if (!isfinite(volume)) { /* float32 overflow for samples beyond ~1e19: use double */
        double sum = 0.0;
        for (int t = 0; t < len; t++) {
            double mono = 0.0;
            for (int c = 0; c < ch; c++)
                mono += e->planar[(size_t)c * stride + t];
            mono /= ch;
            sum += mono * mono;
        }
        volume = (float)sqrt(sum / len);
    }
    const float scale = volume + 1e-8f;
    for (int c = 0; c < ch; c++)
        for (int t = 0; t < len; t++)
            e->normalized[(size_t)c * e->seg_len + t] = e->planar[(size_t)c * stride + t] / scale;
    e->cur_scale = scale;
    ecl_seanet_stream_reset(e->net);
    ecl_seanet_stream_push(e->net, e->normalized, ch, len, e->seg_len, encoder_sink, e);
    ecl_seanet_stream_flush(e->net, encoder_sink, e);
}

/* Drop the first `stride` samples of the segment buffer (the next segment overlaps). */
static void advance_segment(encodec_encoder *e)
{
    const int ch = e->model->cfg.channels, keep = e->seg_fill - e->seg_stride;
    for (int c = 0; c < ch; c++) {
        float *row = e->planar + (size_t)c * e->in_max;
        if (keep > 0)
            memmove(row, row + e->seg_stride, (size_t)keep * sizeof(float));
    }
    e->seg_fill = keep > 0 ? keep : 0;
}

static int check_call(encodec_encoder *e, int32_t *codes, size_t *n_frames)
{
    if (!e || !codes || !n_frames)
        return ENCODEC_EINVAL;
    *n_frames = 0;
    return e->flushed ? ENCODEC_ESTATE : ENCODEC_OK;
}

int encodec_encoder_push(encodec_encoder *e, const float *pcm, size_t n_samples,
                         int32_t *codes, float *scales, size_t max_frames, size_t *n_frames)
{
    int err = check_call(e, codes, n_frames);
    if (err)
        return err;
    if (!pcm && n_samples)
        return ENCODEC_EINVAL;
    if (n_samples > ECL_MAX_STREAM_SAMPLES - e->n_in)
        return ENCODEC_EINVAL;
    if (n_samples == 0)
        return ENCODEC_OK;
    if (max_frames < encodec_encoder_max_frames(e, n_samples))
        return ENCODEC_EBUFFER;
    const int ch = e->model->cfg.channels;
    for (size_t i = 0; i < n_samples * (size_t)ch; i++)
        if (!isfinite(pcm[i]))
            return ENCODEC_EINVAL; /* NaN or infinity: nothing is consumed */
    e->out_codes = codes;
    e->out_scales = scales;
    e->out_frames = 0;
    size_t done = 0;
    while (done < n_samples) {
        const int fill = e->seg_len ? e->seg_fill : 0;
        size_t n = (size_t)(e->in_max - fill);
        if (n > n_samples - done)
            n = n_samples - done;
        const float *src = pcm + done * ch;
        for (size_t t = 0; t < n; t++)
            for (int c = 0; c < ch; c++)
                e->planar[(size_t)c * e->in_max + fill + t] = src[t * ch + c];
        done += n;
        if (!e->seg_len) {
            ecl_seanet_stream_push(e->net, e->planar, ch, (int)n, e->in_max, encoder_sink, e);
        } else {
            e->seg_fill += (int)n;
            if (e->seg_fill == e->seg_len) {
                encode_segment(e, e->seg_len);
                advance_segment(e);
            }
        }
    }
    e->n_in += n_samples;
    e->n_out += e->out_frames;
    *n_frames = e->out_frames;
    return ENCODEC_OK;
}

int encodec_encoder_flush(encodec_encoder *e, int32_t *codes, float *scales, size_t max_frames,
                          size_t *n_frames)
{
    if (!e || !codes || !n_frames)
        return ENCODEC_EINVAL;
    *n_frames = 0;
    if (e->flushed)
        return ENCODEC_OK;
    if (max_frames < encodec_encoder_max_frames(e, 0))
        return ENCODEC_EBUFFER;
    e->out_codes = codes;
    e->out_scales = scales;
    e->out_frames = 0;
    if (!e->seg_len) {
        ecl_seanet_stream_flush(e->net, encoder_sink, e);
    } else {
        /* The remaining segment starts, every one starting before the end of the signal. */
        while (e->seg_fill > 0) {
            encode_segment(e, e->seg_fill);
            advance_segment(e);
        }
    }
    e->flushed = 1;
    e->n_out += e->out_frames;
    *n_frames = e->out_frames;
    return ENCODEC_OK;
}

int encodec_encode(encodec_encoder *e, const float *pcm, size_t n_samples, int32_t *codes,
                   float *scales, size_t max_frames, size_t *n_frames)
{
    if (n_frames)
        *n_frames = 0;
    if (!e || !pcm || !codes || !n_frames || n_samples == 0 ||
        n_samples > ECL_MAX_STREAM_SAMPLES)
        return ENCODEC_EINVAL;
    encodec_encoder_reset(e);
    if (max_frames < encodec_encoder_max_frames(e, n_samples))
        return ENCODEC_EBUFFER;
    size_t a = 0, b = 0;
    int err = encodec_encoder_push(e, pcm, n_samples, codes, scales, max_frames, &a);
    if (!err)
        err = encodec_encoder_flush(e, codes + a * (size_t)e->n_codebooks,
                                    scales ? scales + a : NULL, max_frames - a, &b);
    encodec_encoder_reset(e);
    *n_frames = err ? 0 : a + b;
    return err;
}

/* ---- decoder -------------------------------------------------------------------------------- */

/* PyTorch's float32 linspace(0, 1, n) as its vectorised CPU kernel computes it (spec 5.5). */
static void linspace01(float *u, int n)
{
    const float step = 1.0f / (float)(n - 1);
    const int half = n / 2, blocked = n - n % 16;
    for (int a = 0; a < blocked; a += 8) {
        const float base = a < half ? fmaf(step, (float)a, 0.0f) : fmaf(-step, (float)(n - 1 - a), 1.0f);
        for (int j = 0; j < 8; j++) {
            const float inc = (float)j * step;
            u[a + j] = base + inc;
        }
    }
    for (int i = blocked; i < n; i++)
        u[i] = i < half ? fmaf(step, (float)i, 0.0f) : fmaf(-step, (float)(n - 1 - i), 1.0f);
}

/* Triangle weights of the overlap-add for a first segment of n samples. */
static void make_window(encodec_decoder *d, int n)
{
    /* u has n + 2 entries; window[i] uses u[i + 1]. acc doubles as scratch here. */
    float *u = d->acc;
    linspace01(u, n + 2);
    for (int i = 0; i < n; i++)
        d->window[i] = 0.5f - fabsf(u[i + 1] - 0.5f);
    memset(d->acc, 0, (size_t)(n + 2) * sizeof(float));
    d->window_len = n;
}

static void decoder_sink(void *ctx, const float *x, int channels, int n, int stride)
{
    encodec_decoder *d = ctx;
    if (!d->seg_len) {
        float *dst = d->out_pcm + d->out_samples * (size_t)channels;
        for (int t = 0; t < n; t++)
            for (int c = 0; c < channels; c++)
                dst[(size_t)t * channels + c] = x[(size_t)c * stride + t];
        d->out_samples += (size_t)n;
        return;
    }
    for (int c = 0; c < channels; c++)
        memcpy(d->seg_audio + (size_t)c * d->ola_cap + d->seg_audio_len, x + (size_t)c * stride,
               (size_t)n * sizeof(float));
    d->seg_audio_len += (size_t)n;
}

/* Emit overlap-added samples [0, n) and move the rest of the accumulator to the front. */
static void ola_emit(encodec_decoder *d, int n)
{
    const int ch = d->model->cfg.channels;
    float *dst = d->out_pcm + d->out_samples * (size_t)ch;
    for (int t = 0; t < n; t++)
        for (int c = 0; c < ch; c++)
            dst[(size_t)t * ch + c] = d->acc[(size_t)c * d->ola_cap + t] / d->wsum[t];
    d->out_samples += (size_t)n;
    const int keep = d->acc_len - n;
    for (int c = 0; c < ch; c++) {
        float *row = d->acc + (size_t)c * d->ola_cap;
        memmove(row, row + n, (size_t)keep * sizeof(float));
        memset(row + keep, 0, (size_t)n * sizeof(float));
    }
    memmove(d->wsum, d->wsum + n, (size_t)keep * sizeof(float));
    memset(d->wsum + keep, 0, (size_t)n * sizeof(float));
    d->acc_len = keep;
}

/* Decode the pending frames of one segment, scale it and add it to the overlap-add. */
static void decode_segment(encodec_decoder *d, int final)
{
    const ecl_config *c = &d->model->cfg;
    const int frames = d->seg_count, ch = c->channels;
    ecl_seanet_stream_reset(d->net);
    ecl_rvq_decode(d->model, d->seg_codes, frames, d->n_codebooks, d->latent, d->in_max);
    d->seg_audio_len = 0;
    ecl_seanet_stream_push(d->net, d->latent, c->dimension, frames, d->in_max, decoder_sink, d);
    ecl_seanet_stream_flush(d->net, decoder_sink, d);
    const int len = (int)d->seg_audio_len;
    if (d->window_len == 0)
        make_window(d, len);
    for (int cc = 0; cc < ch; cc++) {
        const float *y = d->seg_audio + (size_t)cc * d->ola_cap;
        float *acc = d->acc + (size_t)cc * d->ola_cap;
        for (int i = 0; i < len; i++)
            acc[i] += d->window[i] * (y[i] * d->seg_scale);
    }
    for (int i = 0; i < len; i++)
        d->wsum[i] += d->window[i];
    if (len > d->acc_len)
        d->acc_len = len;
    d->seg_count = 0;
    d->seg_index++;
    /* Positions before the next segment's start are final. */
    if (!final)
        ola_emit(d, d->seg_stride < d->acc_len ? d->seg_stride : d->acc_len);
}

int encodec_decoder_create(const encodec_model *model, encodec_decoder **decoder)
{
    if (!decoder)
        return ENCODEC_EINVAL;
    *decoder = NULL;
    if (!model)
        return ENCODEC_EINVAL;
    encodec_decoder *d = calloc(1, sizeof *d);
    if (!d)
        return ENCODEC_ENOMEM;
    const ecl_config *c = &model->cfg;
    d->model = model;
    d->n_threads = 1;
    d->kernels = ecl_isa_default();
    d->seg_len = c->segment_length;
    d->seg_stride = c->segment_stride;
    if (d->seg_len) {
        d->seg_frames_max = (int)ecl_ceil_div((size_t)d->seg_len, (size_t)c->hop_length);
        d->in_max = d->seg_frames_max;
        d->ola_cap = d->seg_frames_max * c->hop_length + 2;
    } else {
        d->in_max = (int)ecl_ceil_div(ECL_CHUNK_SAMPLES, (size_t)c->hop_length);
    }
    int out_max, err = ecl_seanet_stream_create(model, 1, d->in_max, &d->net, &out_max);
    d->latent = ecl_calloc((size_t)c->dimension * d->in_max, sizeof(float));
    int ok = d->latent != NULL;
    if (d->seg_len) {
        d->seg_codes = ecl_calloc((size_t)d->seg_frames_max * c->n_q, sizeof(int32_t));
        d->seg_audio = ecl_calloc((size_t)c->channels * d->ola_cap, sizeof(float));
        d->acc = ecl_calloc((size_t)c->channels * d->ola_cap, sizeof(float));
        d->wsum = ecl_calloc((size_t)d->ola_cap, sizeof(float));
        d->window = ecl_calloc((size_t)d->ola_cap, sizeof(float));
        ok = ok && d->seg_codes && d->seg_audio && d->acc && d->wsum && d->window;
    }
    if (!err && !ok)
        err = ENCODEC_ENOMEM;
    if (err) {
        encodec_decoder_free(d);
        return err;
    }
    if (d->seg_len)
        d->startup = (size_t)d->seg_frames_max;
    else {
        long n = 1;
        while (ecl_seanet_stream_outputs_for(d->net, n) < 1 && n < ECL_MAX_STARTUP)
            n++;
        if (n >= ECL_MAX_STARTUP) { /* the loader prevents this */
            encodec_decoder_free(d);
            return ENCODEC_EUNSUPPORTED;
        }
        d->startup = (size_t)n;
    }
    encodec_decoder_reset(d);
    *decoder = d;
    return ENCODEC_OK;
}

void encodec_decoder_free(encodec_decoder *d)
{
    if (!d)
        return;
    ecl_seanet_stream_free(d->net);
    ecl_free(d->latent);
    ecl_free(d->seg_codes);
    ecl_free(d->seg_audio);
    ecl_free(d->acc);
    ecl_free(d->wsum);
    ecl_free(d->window);
    free(d);
}

int encodec_decoder_reset(encodec_decoder *d)
{
    if (!d)
        return ENCODEC_EINVAL;
    ecl_seanet_stream_reset(d->net);
    d->flushed = 0;
    d->n_codebooks = 0;
    d->seg_count = 0;
    d->seg_index = 0;
    d->window_len = 0;
    d->acc_len = 0;
    d->n_in = d->n_out = 0;
    if (d->seg_len) {
        memset(d->acc, 0, sizeof(float) * (size_t)d->model->cfg.channels * d->ola_cap);
        memset(d->wsum, 0, sizeof(float) * (size_t)d->ola_cap);
    }
    return ENCODEC_OK;
}

int encodec_decoder_set_kernels(encodec_decoder *d, encodec_kernels kernels)
{
    if (!d)
        return ENCODEC_EINVAL;
    return set_kernels(kernels, d->n_in > 0 && !d->flushed, d->net, &d->kernels);
}

encodec_kernels encodec_decoder_kernels(const encodec_decoder *d)
{
    return d ? d->kernels : ENCODEC_KERNELS_AUTO;
}

int encodec_decoder_set_threads(encodec_decoder *d, int n_threads)
{
    if (!d || n_threads < 1 || n_threads > 1024)
        return ENCODEC_EINVAL;
    d->n_threads = n_threads;
    ecl_seanet_stream_set_threads(d->net, n_threads);
    return ENCODEC_OK;
}

int encodec_decoder_set_audio_length(encodec_decoder *d, uint64_t n_samples)
{
    if (!d)
        return ENCODEC_EINVAL;
    d->audio_length = n_samples;
    return ENCODEC_OK;
}

/* Frames of the current segment: full segments, unless the stream's length says the last
 * two are shorter (segment j covers [j*stride, j*stride + length) of the signal). */
static int segment_target(const encodec_decoder *d)
{
    if (!d->audio_length)
        return d->seg_frames_max;
    const uint64_t off = (uint64_t)d->seg_index * (uint64_t)d->seg_stride;
    if (off >= d->audio_length)
        return d->seg_frames_max;
    const uint64_t rest = d->audio_length - off, len = rest < (uint64_t)d->seg_len ? rest : (uint64_t)d->seg_len;
    const uint64_t hop = (uint64_t)d->model->cfg.hop_length;
    return (int)((len + hop - 1) / hop);
}

size_t encodec_decoder_max_samples(const encodec_decoder *d, size_t n_frames)
{
    if (!d)
        return 0;
    const uint64_t hop = (uint64_t)d->model->cfg.hop_length;
    if ((uint64_t)n_frames > (UINT64_MAX >> 20) / hop)
        return SIZE_MAX;
    /* Segmented: the overlap-add's pending samples plus a hop per frame of the current and
     * the new segments (segments overlap, so counting every frame's hop since the start would
     * grow without bound). Otherwise what the layers hold plus a hop per frame. */
    const uint64_t n = d->seg_len ? (uint64_t)d->acc_len + ((uint64_t)d->seg_count + n_frames) * hop
                                  : (d->n_in + n_frames) * hop - d->n_out;
    return n > SIZE_MAX ? SIZE_MAX : (size_t)n;
}

int encodec_decoder_latency(const encodec_decoder *d, size_t *startup, size_t *steady)
{
    if (!d)
        return ENCODEC_EINVAL;
    if (startup)
        *startup = d->startup;
    if (steady)
        *steady = d->seg_len ? (size_t)d->seg_frames_max : 0;
    return ENCODEC_OK;
}

size_t encodec_decoder_state_size(const encodec_decoder *d)
{
    if (!d)
        return 0;
    const ecl_config *c = &d->model->cfg;
    size_t bytes = sizeof *d + ecl_seanet_stream_state_bytes(d->net) +
                   sizeof(float) * (size_t)c->dimension * d->in_max;
    if (d->seg_len)
        bytes += sizeof(int32_t) * (size_t)d->seg_frames_max * c->n_q +
                 sizeof(float) * (size_t)d->ola_cap * (2 * (size_t)c->channels + 2);
    return bytes;
}

int encodec_decoder_push(encodec_decoder *d, const int32_t *codes, const float *scales,
                         size_t n_frames, int n_codebooks, float *pcm, size_t max_samples,
                         size_t *n_samples)
{
    if (!d || !pcm || !n_samples || (!codes && n_frames))
        return ENCODEC_EINVAL;
    *n_samples = 0;
    if (d->flushed)
        return ENCODEC_ESTATE;
    if (n_frames == 0)
        return ENCODEC_OK;
    const ecl_config *c = &d->model->cfg;
    if (n_codebooks < 1 || n_codebooks > c->n_q ||
        (d->n_codebooks && n_codebooks != d->n_codebooks))
        return ENCODEC_ECODE;
    if (n_frames > ((size_t)1 << 32))
        return ENCODEC_EINVAL;
    for (size_t i = 0; i < n_frames * (size_t)n_codebooks; i++)
        if (codes[i] < 0 || codes[i] >= c->bins)
            return ENCODEC_ECODE;
    if (scales)
        for (size_t t = 0; t < n_frames; t++)
            if (!(scales[t] > 0.0f) || !isfinite(scales[t]))
                return ENCODEC_EINVAL;
    if (max_samples < encodec_decoder_max_samples(d, n_frames))
        return ENCODEC_EBUFFER;
    d->n_codebooks = n_codebooks;
    d->out_pcm = pcm;
    d->out_samples = 0;
    for (size_t done = 0; done < n_frames;) {
        if (!d->seg_len) {
            size_t n = n_frames - done < (size_t)d->in_max ? n_frames - done : (size_t)d->in_max;
            ecl_rvq_decode(d->model, codes + done * n_codebooks, (int)n, n_codebooks, d->latent,
                           d->in_max);
            ecl_seanet_stream_push(d->net, d->latent, c->dimension, (int)n, d->in_max,
                                   decoder_sink, d);
            done += n;
        } else {
            if (d->seg_count == 0)
                d->seg_scale = scales ? scales[done] : 1.0f;
            memcpy(d->seg_codes + (size_t)d->seg_count * n_codebooks, codes + done * n_codebooks,
                   (size_t)n_codebooks * sizeof(int32_t));
            d->seg_count++;
            done++;
            if (d->seg_count == segment_target(d))
                decode_segment(d, 0);
        }
    }
    d->n_in += n_frames;
    d->n_out += d->out_samples;
    *n_samples = d->out_samples;
    return ENCODEC_OK;
}

int encodec_decoder_flush(encodec_decoder *d, float *pcm, size_t max_samples, size_t *n_samples)
{
    if (!d || !pcm || !n_samples)
        return ENCODEC_EINVAL;
    *n_samples = 0;
    if (d->flushed)
        return ENCODEC_OK;
    if (max_samples < encodec_decoder_max_samples(d, 0))
        return ENCODEC_EBUFFER;
    d->out_pcm = pcm;
    d->out_samples = 0;
    if (!d->seg_len) {
        ecl_seanet_stream_flush(d->net, decoder_sink, d);
    } else {
        if (d->seg_count > 0)
            decode_segment(d, 1);
        ola_emit(d, d->acc_len);
    }
    d->flushed = 1;
    d->n_out += d->out_samples;
    *n_samples = d->out_samples;
    return ENCODEC_OK;
}

int encodec_decode(encodec_decoder *d, const int32_t *codes, const float *scales,
                   size_t n_frames, int n_codebooks, float *pcm, size_t max_samples,
                   size_t *n_samples)
{
    if (n_samples)
        *n_samples = 0;
    if (!d || !codes || !pcm || !n_samples || n_frames == 0)
        return ENCODEC_EINVAL;
    encodec_decoder_reset(d);
    if (max_samples < encodec_decoder_max_samples(d, n_frames))
        return ENCODEC_EBUFFER;
    const int ch = d->model->cfg.channels;
    size_t a = 0, b = 0;
    int err = encodec_decoder_push(d, codes, scales, n_frames, n_codebooks, pcm, max_samples, &a);
    if (!err)
        err = encodec_decoder_flush(d, pcm + a * ch, max_samples - a, &b);
    encodec_decoder_reset(d);
    *n_samples = err ? 0 : a + b;
    return err;
}
