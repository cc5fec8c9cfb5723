/* Encoder and decoder handles and their whole-signal calls: layout conversion between
 * interleaved PCM and planar tensors, the SEANet passes and the quantizer. */
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "rvq.h"
#include "seanet.h"
#include "util.h"

struct encodec_encoder {
    const encodec_model *model;
    int n_codebooks;
    int n_threads;
};

struct encodec_decoder {
    const encodec_model *model;
    int n_threads;
};

const encodec_model *ecl_encoder_model(const encodec_encoder *e) { return e->model; }
const encodec_model *ecl_decoder_model(const encodec_decoder *d) { return d->model; }

/* Largest signal the int-indexed kernels handle in one call (about 24 h at 24 kHz). */
#define ECL_MAX_SAMPLES ((size_t)1 << 31)

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
    e->model = model;
    e->n_codebooks = encodec_model_codebooks_for_bandwidth(model, model->cfg.bandwidths[0]);
    e->n_threads = 1;
    *encoder = e;
    return ENCODEC_OK;
}

void encodec_encoder_free(encodec_encoder *encoder) { free(encoder); }

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

int encodec_encoder_set_threads(encodec_encoder *encoder, int n_threads)
{
    if (!encoder || n_threads < 1 || n_threads > 1024)
        return ENCODEC_EINVAL;
    encoder->n_threads = n_threads;
    return ENCODEC_OK;
}

int encodec_encode(encodec_encoder *encoder, const float *pcm, size_t n_samples, int32_t *codes,
                   size_t max_frames, size_t *n_frames)
{
    if (!encoder || !pcm || !codes || !n_frames || n_samples == 0 || n_samples >= ECL_MAX_SAMPLES)
        return ENCODEC_EINVAL;
    *n_frames = 0;
    const encodec_model *m = encoder->model;
    if (m->cfg.segment_length > 0 || m->cfg.normalize)
        return ENCODEC_EUNSUPPORTED;
    const size_t frames = encodec_model_frames_for_samples(m, n_samples);
    if (max_frames < frames)
        return ENCODEC_EBUFFER;
    const int ch = m->cfg.channels;
    float *planar = ecl_calloc(n_samples * ch, sizeof(float));
    if (!planar)
        return ENCODEC_ENOMEM;
    for (size_t t = 0; t < n_samples; t++)
        for (int c = 0; c < ch; c++)
            planar[(size_t)c * n_samples + t] = pcm[t * ch + c];
    float *latent = NULL;
    int t_lat = 0;
    int err = ecl_seanet_encode(m, planar, (int)n_samples, &latent, &t_lat, encoder->n_threads,
                                NULL, NULL);
    ecl_free(planar);
    if (err)
        return err;
    ecl_rvq_encode(m, latent, t_lat, encoder->n_codebooks, codes);
    ecl_free(latent);
    *n_frames = (size_t)t_lat;
    return ENCODEC_OK;
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
    d->model = model;
    d->n_threads = 1;
    *decoder = d;
    return ENCODEC_OK;
}

void encodec_decoder_free(encodec_decoder *decoder) { free(decoder); }

int encodec_decoder_set_threads(encodec_decoder *decoder, int n_threads)
{
    if (!decoder || n_threads < 1 || n_threads > 1024)
        return ENCODEC_EINVAL;
    decoder->n_threads = n_threads;
    return ENCODEC_OK;
}

int encodec_decode(encodec_decoder *decoder, const int32_t *codes, size_t n_frames,
                   int n_codebooks, float *pcm, size_t max_samples, size_t *n_samples)
{
    if (!decoder || !codes || !pcm || !n_samples || n_frames == 0)
        return ENCODEC_EINVAL;
    *n_samples = 0;
    const encodec_model *m = decoder->model;
    const size_t hop = (size_t)m->cfg.hop_length;
    if (n_frames >= ECL_MAX_SAMPLES / hop)
        return ENCODEC_EINVAL;
    if (n_codebooks < 1 || n_codebooks > m->cfg.n_q)
        return ENCODEC_ECODE;
    for (size_t i = 0; i < n_frames * (size_t)n_codebooks; i++)
        if (codes[i] < 0 || codes[i] >= m->cfg.bins)
            return ENCODEC_ECODE;
    if (m->cfg.segment_length > 0 || m->cfg.normalize)
        return ENCODEC_EUNSUPPORTED;
    const size_t out_len = n_frames * hop;
    if (max_samples < out_len)
        return ENCODEC_EBUFFER;
    float *latent = ecl_calloc((size_t)m->cfg.dimension * n_frames, sizeof(float));
    if (!latent)
        return ENCODEC_ENOMEM;
    ecl_rvq_decode(m, codes, (int)n_frames, n_codebooks, latent);
    float *audio = NULL;
    int err = ecl_seanet_decode(m, latent, (int)n_frames, &audio, decoder->n_threads, NULL, NULL);
    ecl_free(latent);
    if (err)
        return err;
    const int ch = m->cfg.channels;
    for (size_t t = 0; t < out_len; t++)
        for (int c = 0; c < ch; c++)
            pcm[t * ch + c] = audio[(size_t)c * out_len + t];
    ecl_free(audio);
    *n_samples = out_len;
    return ENCODEC_OK;
}
