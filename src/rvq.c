/* Residual vector quantizer. The distance is evaluated as the reference does,
 * (|r|^2 - 2 r.e) + |e|^2 in float32, keeping the first index of the minimum, which keeps
 * near-ties resolved the same way as often as float round-off allows. */
#include "rvq.h"

#include <float.h>

#define ECL_RVQ_MAX_DIM 1024

void ecl_rvq_encode(const encodec_model *m, const float *latent, int n_frames, int stride,
                    int n_codebooks, int32_t *codes)
{
    const int dim = m->cfg.dimension, bins = m->cfg.bins;
    float r[ECL_RVQ_MAX_DIM], r2[ECL_RVQ_MAX_DIM];
    for (int t = 0; t < n_frames; t++) {
        for (int d = 0; d < dim; d++)
            r[d] = latent[(size_t)d * stride + t];
        for (int q = 0; q < n_codebooks; q++) {
            const float *book = m->codebooks + (size_t)q * bins * dim;
            const float *norms = m->codebook_norms + (size_t)q * bins;
            float rr = 0.0f;
            for (int d = 0; d < dim; d++) {
                rr += r[d] * r[d];
                r2[d] = 2.0f * r[d];
            }
            int best = 0;
            float best_score = -FLT_MAX;
            for (int j = 0; j < bins; j++) {
                const float *e = book + (size_t)j * dim;
                float dot = 0.0f;
                for (int d = 0; d < dim; d++)
                    dot += r2[d] * e[d];
                const float score = -((rr - dot) + norms[j]);
                if (score > best_score) {
                    best_score = score;
                    best = j;
                }
            }
            codes[(size_t)t * n_codebooks + q] = best;
            const float *e = book + (size_t)best * dim;
            for (int d = 0; d < dim; d++)
                r[d] = r[d] - e[d];
        }
    }
}

void ecl_rvq_decode(const encodec_model *m, const int32_t *codes, int n_frames,
                    int n_codebooks, float *latent, int stride)
{
    const int dim = m->cfg.dimension, bins = m->cfg.bins;
    for (int t = 0; t < n_frames; t++)
        for (int d = 0; d < dim; d++) {
            float acc = 0.0f;
            for (int q = 0; q < n_codebooks; q++) {
                const int32_t c = codes[(size_t)t * n_codebooks + q];
                acc += m->codebooks[((size_t)q * bins + c) * dim + d];
            }
            latent[(size_t)d * stride + t] = acc;
        }
}
