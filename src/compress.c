/* Whole-signal .ecdc compression and decompression (spec 8), the public encodec_compress,
 * encodec_decompress and encodec_buffer_free: the encoder/decoder handles turn audio into codes
 * and back, the container (ecdc.c) turns codes and segment scales into bytes and back, with the
 * language model (lm_source.c) supplying the CDFs of the entropy-coded payload. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ecdc.h"
#include "encodec.h"
#include "lm_source.h"
#include "model.h"
#include "util.h"

void ecl_ecdc_model_geometry(const encodec_model *m, ecl_ecdc_geometry *g)
{
    memset(g, 0, sizeof *g);
    g->sample_rate = encodec_model_sample_rate(m);
    g->frame_rate = encodec_model_frame_rate(m);
    g->bins = m->cfg.bins;
    g->segment_length = (uint64_t)ecl_model_segment_length(m);
    g->segment_stride = g->segment_length ? (uint64_t)m->cfg.segment_stride : 0;
    g->has_scale = ecl_model_normalize(m) ? 1 : 0;
}

int encodec_compress(encodec_encoder *encoder, const float *pcm, size_t n_samples, int use_lm,
                     uint8_t **out, size_t *out_size)
{
    if (out)
        *out = NULL;
    if (out_size)
        *out_size = 0;
    if (!encoder || !pcm || !out || !out_size || n_samples == 0 ||
        (uint64_t)n_samples > ECL_ECDC_MAX_AUDIO_LENGTH)
        return ENCODEC_EINVAL;
    const encodec_model *m = ecl_encoder_model(encoder);

    ecl_ecdc_geometry g;
    ecl_ecdc_model_geometry(m, &g);
    const int K = encodec_encoder_codebooks(encoder);
    encodec_encoder_reset(encoder);
    const size_t n_frames = encodec_encoder_max_frames(encoder, n_samples);
    /* the container derives the frame count from the length; both must agree */
    if (K < 1 || n_frames != ecl_ecdc_total_frames(&g, n_samples) ||
        (use_lm && (!m->lm || K > m->lm->n_q)))
        return ENCODEC_EUNSUPPORTED;
    size_t n_codes, n_bytes;
    if (!ecl_mul_size(n_frames, (size_t)K, &n_codes) ||
        !ecl_mul_size(n_codes, sizeof(int32_t), &n_bytes))
        return ENCODEC_ENOMEM;
    int32_t *codes = malloc(n_bytes);
    float *scales = malloc(n_frames * sizeof(float));
    if (!codes || !scales) {
        free(codes);
        free(scales);
        return ENCODEC_ENOMEM;
    }
    size_t got = 0;
    ecl_ecdc_writer *w = NULL;
    ecl_lm_source src;
    ecl_ecdc_lm lm = {ecl_lm_source_frame_cdfs, &src};
    int rc = encodec_encode(encoder, pcm, n_samples, codes, scales, n_frames, &got);
    if (rc == ENCODEC_OK && got != n_frames)
        rc = ENCODEC_EUNSUPPORTED;
    int lm_ready = 0;
    if (rc == ENCODEC_OK && use_lm) {
        rc = ecl_lm_source_init(&src, m, K, encodec_encoder_kernels(encoder),
                                ecl_encoder_threads(encoder), &g, n_samples);
        lm_ready = rc == ENCODEC_OK;
        if (lm_ready)
            ecl_lm_source_known(&src, codes, 0, n_frames);
    }
    if (rc == ENCODEC_OK)
        rc = ecl_ecdc_writer_create(&g, encodec_model_name(m), n_samples, K,
                                    use_lm ? &lm : NULL, &w);
    /* segment by segment: its scale, then its frames */
    const size_t n_seg = ecl_ecdc_n_segments(&g, n_samples);
    for (size_t j = 0, first = 0; rc == ENCODEC_OK && j < n_seg; j++) {
        const size_t frames = ecl_ecdc_segment_frames(&g, n_samples, j);
        if (g.has_scale)
            rc = ecl_ecdc_writer_set_scale(w, scales[first]);
        if (rc == ENCODEC_OK)
            rc = ecl_ecdc_writer_add_frames(w, codes + first * (size_t)K, frames);
        first += frames;
    }
    if (rc == ENCODEC_OK && !ecl_ecdc_writer_done(w))
        rc = ENCODEC_ESTATE;
    if (rc == ENCODEC_OK)
        rc = ecl_ecdc_writer_take(w, out, out_size);
    ecl_ecdc_writer_free(w);
    if (lm_ready)
        ecl_lm_source_free(&src);
    free(codes);
    free(scales);
    return rc;
}

int encodec_decompress(encodec_decoder *decoder, const uint8_t *data, size_t size, float **pcm,
                       size_t *n_samples)
{
    if (pcm)
        *pcm = NULL;
    if (n_samples)
        *n_samples = 0;
    if (!decoder || (!data && size) || !pcm || !n_samples)
        return ENCODEC_EINVAL;
    const encodec_model *m = ecl_decoder_model(decoder);

    /* the header first, so that a stream for another model is named as such before its
     * payload is examined */
    encodec_ecdc_info info;
    int rc = ecl_ecdc_parse_header(data, size, &info);
    if (rc < 0)
        return rc;
    if (strcmp(info.model_name, encodec_model_name(m)) != 0 ||
        info.n_codebooks > encodec_model_max_codebooks(m))
        return ENCODEC_EECDC_MODEL;
    ecl_lm_source src;
    ecl_ecdc_lm lm = {ecl_lm_source_frame_cdfs, &src};
    if (info.use_lm &&
        (rc = ecl_lm_source_init(&src, m, info.n_codebooks, encodec_decoder_kernels(decoder),
                                 ecl_decoder_threads(decoder), NULL, 0)) != ENCODEC_OK)
        return rc;

    ecl_ecdc_reader_params p;
    ecl_ecdc_model_geometry(m, &p.geometry);
    p.model_name = encodec_model_name(m);
    p.max_codebooks = encodec_model_max_codebooks(m);
    p.lm = info.use_lm ? &lm : NULL;
    int32_t *codes = NULL;
    float *seg_scales = NULL, *scales = NULL;
    size_t n_frames = 0, n_seg = 0;
    rc = ecl_ecdc_read_all(&p, data, size, &info, &codes, &n_frames, &seg_scales, &n_seg);
    if (info.use_lm)
        ecl_lm_source_free(&src);
    if (rc < 0)
        return rc;
    for (size_t j = 0; seg_scales && j < n_seg; j++)
        if (!(seg_scales[j] > 0.0f) || !isfinite(seg_scales[j])) {
            free(codes);
            free(seg_scales);
            return ENCODEC_EECDC_CORRUPT;
        }
    if (seg_scales) { /* the decoder takes one scale per frame */
        scales = malloc(n_frames * sizeof(float));
        for (size_t j = 0, first = 0; scales && j < n_seg; j++) {
            const size_t frames = ecl_ecdc_segment_frames(&p.geometry, info.audio_length, j);
            for (size_t t = 0; t < frames; t++)
                scales[first + t] = seg_scales[j];
            first += frames;
        }
        free(seg_scales);
        if (!scales) {
            free(codes);
            return ENCODEC_ENOMEM;
        }
    }

    const size_t hop = (size_t)encodec_model_hop_length(m);
    const size_t channels = (size_t)encodec_model_channels(m);
    size_t max_samples, n_floats, n_bytes;
    float *audio = NULL;
    if (!ecl_mul_size(n_frames, hop, &max_samples) ||
        !ecl_mul_size(max_samples, channels, &n_floats) ||
        !ecl_mul_size(n_floats, sizeof(float), &n_bytes) || !(audio = malloc(n_bytes))) {
        free(codes);
        free(scales);
        return ENCODEC_ENOMEM;
    }
    size_t decoded = 0;
    encodec_decoder_set_audio_length(decoder, info.audio_length);
    rc = encodec_decode(decoder, codes, scales, n_frames, info.n_codebooks, audio, max_samples,
                        &decoded);
    encodec_decoder_set_audio_length(decoder, 0);
    free(codes);
    free(scales);
    if (rc == ENCODEC_OK && decoded < info.audio_length)
        rc = ENCODEC_EUNSUPPORTED; /* cannot happen: frames cover the length by construction */
    if (rc < 0) {
        free(audio);
        return rc;
    }
    /* keep the first al samples of each channel (interleaved: a prefix of the buffer) */
    const size_t al = (size_t)info.audio_length;
    if (al < decoded) {
        float *shrunk = realloc(audio, al * channels * sizeof(float));
        if (shrunk)
            audio = shrunk;
    }
    *pcm = audio;
    *n_samples = al;
    return ENCODEC_OK;
}

void encodec_buffer_free(void *buffer)
{
    free(buffer);
}
