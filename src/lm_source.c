/* The LM as the container's source of CDFs: see lm_source.h. */
#include "lm_source.h"

#include <stdlib.h>
#include <string.h>

#include "arith.h"
#include "model.h"

int ecl_lm_source_init(ecl_lm_source *src, const encodec_model *m, int n_codebooks,
                       encodec_kernels isa, int n_threads, const ecl_ecdc_geometry *g,
                       uint64_t audio_length)
{
    memset(src, 0, sizeof *src);
    if (!m->lm || n_codebooks < 1 || n_codebooks > m->lm->n_q)
        return ENCODEC_EUNSUPPORTED;
    src->lm = m->lm;
    src->n_codebooks = n_codebooks;
    src->encoding = g != NULL;
    if (g)
        src->geometry = *g;
    src->audio_length = audio_length;
    src->segment = -1;
    const size_t frames = g ? ECL_LM_BLOCK : 1;
    src->probs = malloc(frames * (size_t)n_codebooks * m->lm->card * sizeof(float));
    src->prev = malloc(frames * (size_t)n_codebooks * sizeof(int32_t));
    if (!src->probs || !src->prev || ecl_lm_state_create(m->lm, 0, &src->state) != ENCODEC_OK) {
        ecl_lm_source_free(src);
        return ENCODEC_ENOMEM;
    }
    ecl_lm_state_set_exec(src->state, isa, n_threads);
    return ENCODEC_OK;
}

void ecl_lm_source_free(ecl_lm_source *src)
{
    ecl_lm_state_free(src->state);
    free(src->probs);
    free(src->prev);
    memset(src, 0, sizeof *src);
}

void ecl_lm_source_known(ecl_lm_source *src, const int32_t *codes, uint64_t first, size_t n)
{
    src->known = codes;
    src->known_first = first;
    src->known_n = n;
}

/* Encoder side: the probabilities of frame t of the current segment, computing the block that
 * starts there when it is not in probs yet. */
static int block_probs(ecl_lm_source *src, size_t t, const int32_t *prev_codes,
                       const float **probs)
{
    const int K = src->n_codebooks;
    const uint64_t frame = src->seg_first + t;
    if (t >= src->seg_frames || frame < src->known_first ||
        frame - src->known_first >= src->known_n)
        return ENCODEC_ESTATE;
    if (t < src->block_t || t >= src->block_t + src->block_n) {
        size_t n = src->seg_frames - t;
        const size_t ahead = (size_t)(src->known_first + src->known_n - frame);
        n = n < ahead ? n : ahead;
        n = n < ECL_LM_BLOCK ? n : ECL_LM_BLOCK;
        /* inputs: the previous codes given, then the announced ones */
        const int32_t *known = src->known + (size_t)(frame - src->known_first) * (size_t)K;
        for (size_t u = 0; u < n; u++)
            for (int k = 0; k < K; k++)
                src->prev[u * (size_t)K + (size_t)k] =
                    u == 0 ? (prev_codes ? prev_codes[k] + 1 : 0)
                           : known[(u - 1) * (size_t)K + (size_t)k] + 1;
        int rc = ecl_lm_steps(src->lm, src->state, src->prev, (int)n, K, src->probs);
        if (rc < 0)
            return rc;
        src->block_t = t;
        src->block_n = n;
    }
    /* the container must code exactly the frames the block was computed for */
    const int32_t *input = src->prev + (t - src->block_t) * (size_t)K;
    for (int k = 0; k < K; k++)
        if (input[k] != (prev_codes ? prev_codes[k] + 1 : 0))
            return ENCODEC_ESTATE;
    *probs = src->probs + (t - src->block_t) * (size_t)K * (size_t)src->lm->card;
    return ENCODEC_OK;
}

int ecl_lm_source_frame_cdfs(void *ctx, int segment, size_t t, const int32_t *prev_codes,
                             int n_codebooks, int32_t *cdfs_out)
{
    ecl_lm_source *src = ctx;
    const size_t card = (size_t)src->lm->card;
    if (n_codebooks != src->n_codebooks || !prev_codes != (t == 0))
        return ENCODEC_ESTATE;
    if (!prev_codes)
        ecl_lm_state_reset(src->state);
    const float *probs = src->probs;
    int err = ENCODEC_OK;
    if (src->encoding) {
        if (segment != src->segment || t == 0) {
            if (segment != src->segment + 1 || t != 0)
                return ENCODEC_ESTATE; /* segments come once each, in order, from frame 0 */
            if (src->segment >= 0)
                src->seg_first += src->seg_frames;
            src->segment = segment;
            src->seg_frames = ecl_ecdc_segment_frames(&src->geometry, src->audio_length,
                                                      (size_t)segment);
            src->block_t = src->block_n = 0;
        }
        err = block_probs(src, t, prev_codes, &probs);
    } else {
        for (int k = 0; k < n_codebooks; k++)
            src->prev[k] = prev_codes ? prev_codes[k] + 1 : 0;
        err = ecl_lm_step(src->lm, src->state, src->prev, n_codebooks, src->probs);
    }
    for (int k = 0; !err && k < n_codebooks; k++)
        err = ecl_quantize_cdf(probs + (size_t)k * card, (int)card, cdfs_out + (size_t)k * card);
    return err < 0 ? err : ENCODEC_OK;
}
