/* Whole-signal .ecdc compression and decompression (spec 8), the public encodec_compress,
 * encodec_decompress and encodec_buffer_free: the encoder/decoder handles turn audio into codes
 * and back, the container (ecdc.c) turns codes and segment scales into bytes and back, with the
 * language model (lm.c) supplying the CDFs of the entropy-coded payload. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "arith.h"
#include "ecdc.h"
#include "encodec.h"
#include "lm.h"
#include "model.h"
#include "util.h"

/* The container's source of CDFs: the model's LM, reset per segment. Decoding runs it a frame
 * at a time (a frame's input is the previous frame's decoded codes); encoding knows every code
 * in advance and runs it ECL_LM_BLOCK frames at a time (ecl_lm_steps: same probabilities, the
 * weights read once per block). */
typedef struct {
    const ecl_lm *lm;
    ecl_lm_state *state;
    float *probs;   /* [ECL_LM_BLOCK or 1][n_codebooks][card] */
    int32_t *prev;  /* [ECL_LM_BLOCK or 1][n_codebooks]: the LM's inputs */
    int n_codebooks; /* of the stream: the buffers are sized for it */
    /* encoder side only: all codes [frames][n_codebooks] and where the block stands */
    const int32_t *codes;
    const ecl_ecdc_geometry *geometry;
    uint64_t audio_length;
    int segment;                  /* current segment, -1 before the first */
    size_t seg_first, seg_frames; /* its first frame in codes, its frame count */
    size_t block_t, block_n;      /* frames [block_t, block_t + block_n) of it are in probs */
} lm_source;

/* Fill probs with the next block of the current segment, from frame t on. */
static int lm_next_block(lm_source *src, size_t t, int n_codebooks)
{
    const size_t left = src->seg_frames - t;
    const int n = left < ECL_LM_BLOCK ? (int)left : ECL_LM_BLOCK;
    for (int u = 0; u < n; u++)
        for (int k = 0; k < n_codebooks; k++)
            src->prev[u * n_codebooks + k] =
                t + (size_t)u == 0
                    ? 0
                    : src->codes[(src->seg_first + t + (size_t)u - 1) * (size_t)n_codebooks +
                                 (size_t)k] + 1;
    src->block_t = t;
    src->block_n = (size_t)n;
    return ecl_lm_steps(src->lm, src->state, src->prev, n, n_codebooks, src->probs);
}

static int lm_frame_cdfs(void *ctx, int segment, size_t t, const int32_t *prev_codes,
                         int n_codebooks, int32_t *cdfs_out)
{
    lm_source *src = ctx;
    const size_t card = (size_t)src->lm->card;
    if (n_codebooks != src->n_codebooks)
        return ENCODEC_ESTATE;
    if (!prev_codes)
        ecl_lm_state_reset(src->state);
    const float *probs = src->probs;
    int err = ENCODEC_OK;
    if (src->codes) {
        if (segment != src->segment) {
            if (src->segment >= 0)
                src->seg_first += src->seg_frames;
            src->segment = segment;
            src->seg_frames = ecl_ecdc_segment_frames(src->geometry, src->audio_length,
                                                      (size_t)segment);
            src->block_n = 0;
        }
        /* the container codes exactly the codes it was given, in order */
        if (t >= src->seg_frames || !prev_codes != (t == 0) ||
            (prev_codes && memcmp(prev_codes, src->codes + (src->seg_first + t - 1) *
                                                               (size_t)n_codebooks,
                                  (size_t)n_codebooks * sizeof *prev_codes) != 0))
            return ENCODEC_ESTATE;
        if (t < src->block_t || t >= src->block_t + src->block_n)
            err = lm_next_block(src, t, n_codebooks);
        probs += (t - src->block_t) * (size_t)n_codebooks * card;
    } else {
        for (int k = 0; k < n_codebooks; k++)
            src->prev[k] = prev_codes ? prev_codes[k] + 1 : 0;
        err = ecl_lm_step(src->lm, src->state, src->prev, n_codebooks, src->probs);
    }
    for (int k = 0; !err && k < n_codebooks; k++)
        err = ecl_quantize_cdf(probs + (size_t)k * card, (int)card, cdfs_out + (size_t)k * card);
    return err < 0 ? err : ENCODEC_OK;
}

/* Set up an LM source for n_codebooks (ENCODEC_EUNSUPPORTED without an LM); codes: all codes
 * of the stream to be written (the encoder's side), or NULL to decode. */
static int lm_source_init(lm_source *src, const encodec_model *m, int n_codebooks,
                          encodec_kernels isa, int n_threads, const int32_t *codes,
                          const ecl_ecdc_geometry *g, uint64_t audio_length)
{
    memset(src, 0, sizeof *src);
    if (!m->lm)
        return ENCODEC_EUNSUPPORTED;
    if (n_codebooks > m->lm->n_q)
        return ENCODEC_EUNSUPPORTED;
    src->lm = m->lm;
    src->n_codebooks = n_codebooks;
    src->codes = codes;
    src->geometry = g;
    src->audio_length = audio_length;
    src->segment = -1;
    const size_t frames = codes ? ECL_LM_BLOCK : 1;
    src->probs = malloc(frames * (size_t)n_codebooks * m->lm->card * sizeof(float));
    src->prev = malloc(frames * (size_t)n_codebooks * sizeof(int32_t));
    if (!src->probs || !src->prev || ecl_lm_state_create(m->lm, 0, &src->state) != ENCODEC_OK) {
        free(src->probs);
        free(src->prev);
        src->probs = NULL;
        src->prev = NULL;
        return ENCODEC_ENOMEM;
    }
    /* The probabilities depend neither on the path nor on the thread count (lm.h): speed only. */
    ecl_lm_state_set_exec(src->state, isa, n_threads);
    return ENCODEC_OK;
}

static void lm_source_free(lm_source *src)
{
    ecl_lm_state_free(src->state);
    free(src->probs);
    free(src->prev);
}

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
    lm_source src;
    ecl_ecdc_lm lm = {lm_frame_cdfs, &src};
    int rc = encodec_encode(encoder, pcm, n_samples, codes, scales, n_frames, &got);
    if (rc == ENCODEC_OK && got != n_frames)
        rc = ENCODEC_EUNSUPPORTED;
    int lm_ready = 0;
    if (rc == ENCODEC_OK && use_lm) {
        rc = lm_source_init(&src, m, K, encodec_encoder_kernels(encoder),
                            ecl_encoder_threads(encoder), codes, &g, n_samples);
        lm_ready = rc == ENCODEC_OK;
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
        lm_source_free(&src);
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
    lm_source src;
    ecl_ecdc_lm lm = {lm_frame_cdfs, &src};
    if (info.use_lm &&
        (rc = lm_source_init(&src, m, info.n_codebooks, encodec_decoder_kernels(decoder),
                             ecl_decoder_threads(decoder), NULL, NULL, 0)) != ENCODEC_OK)
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
        lm_source_free(&src);
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
