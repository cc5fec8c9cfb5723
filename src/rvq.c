/* Residual vector quantizer. The distance is evaluated as the reference does,
 * (|r|^2 - 2 r.e) + |e|^2 in float32, keeping the first index of the minimum, which keeps
 * near-ties resolved the same way as often as float round-off allows. The dot products of a
 * block of frames with every codeword are one matrix product (codewords as columns of the
 * transposed codebook), summed over the dimension in increasing order. */
#include "rvq.h"

#include <float.h>


#define RVQ_BLOCK 32 /* frames per matrix product */

size_t ecl_rvq_scratch_floats(const encodec_model *m)
{
    return (size_t)RVQ_BLOCK * (2 * (size_t)m->cfg.dimension + (size_t)m->cfg.bins);
}

size_t ecl_rvq_scratch_ptrs(const encodec_model *m) { return (size_t)m->cfg.dimension; }

void ecl_rvq_encode(const encodec_model *m, const float *latent, int n_frames, int stride,
                    int n_codebooks, int32_t *codes, float *scratch, const float **ptrs,
                    const ecl_exec *ex)
{
    const int dim = m->cfg.dimension, bins = m->cfg.bins;
    float *r = scratch;                              /* [dim][RVQ_BLOCK] residuals */
    float *r2 = r + (size_t)dim * RVQ_BLOCK;         /* [dim][RVQ_BLOCK] 2 r */
    float *dots = r2 + (size_t)dim * RVQ_BLOCK;      /* [bins][n]: 2 r.e */
    for (int d = 0; d < dim; d++)
        ptrs[d] = r2 + (size_t)d * RVQ_BLOCK;
    for (int t0 = 0; t0 < n_frames; t0 += RVQ_BLOCK) {
        const int n = n_frames - t0 < RVQ_BLOCK ? n_frames - t0 : RVQ_BLOCK;
        for (int d = 0; d < dim; d++)
            for (int t = 0; t < n; t++)
                r[(size_t)d * RVQ_BLOCK + t] = latent[(size_t)d * stride + t0 + t];
        for (int q = 0; q < n_codebooks; q++) {
            const ecl_amat *book = &m->codebooks[q];
            const float *norms = m->codebook_norms + (size_t)q * bins;
            float rr[RVQ_BLOCK] = {0}, best_score[RVQ_BLOCK];
            int best[RVQ_BLOCK] = {0};
            for (int d = 0; d < dim; d++)
                for (int t = 0; t < n; t++) {
                    const float x = r[(size_t)d * RVQ_BLOCK + t];
                    rr[t] += x * x;
                    r2[(size_t)d * RVQ_BLOCK + t] = 2.0f * x;
                }
            ecl_k_gemm_rows(bins, n, dim, *book, ptrs, NULL, dots, n, ex);
            for (int t = 0; t < n; t++)
                best_score[t] = -FLT_MAX;
            for (int j = 0; j < bins; j++)
                for (int t = 0; t < n; t++) {
                    const float score = -((rr[t] - dots[(size_t)j * n + t]) + norms[j]);
                    if (score > best_score[t]) {
                        best_score[t] = score;
                        best[t] = j;
                    }
                }
            for (int t = 0; t < n; t++)
                codes[(size_t)(t0 + t) * n_codebooks + q] = best[t];
            for (int d = 0; d < dim; d++)
                for (int t = 0; t < n; t++)
                    r[(size_t)d * RVQ_BLOCK + t] -= ecl_amat_get(book, d, best[t]);
        }
    }
}

void ecl_rvq_decode(const encodec_model *m, const int32_t *codes, int n_frames,
                    int n_codebooks, float *latent, int stride)
{
    const int dim = m->cfg.dimension;
    for (int t = 0; t < n_frames; t++)
        for (int d = 0; d < dim; d++) {
            float acc = 0.0f;
            for (int q = 0; q < n_codebooks; q++)
                acc += ecl_amat_get(&m->codebooks[q], d, codes[(size_t)t * n_codebooks + q]);
            latent[(size_t)d * stride + t] = acc;
        }
}
