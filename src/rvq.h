/* Residual vector quantizer: nearest-codeword encoding stage by stage and decoding by summing
 * codewords, as the reference computes them. */
#ifndef ECL_RVQ_H
#define ECL_RVQ_H

#include <stdint.h>

#include "model.h"

/* latent [dim][stride] (n_frames columns) -> codes frame-major [n_frames][n_codebooks]. */
void ecl_rvq_encode(const encodec_model *m, const float *latent, int n_frames, int stride,
                    int n_codebooks, int32_t *codes);

/* codes frame-major [n_frames][n_codebooks] (values already checked < bins) -> latent
 * [dim][stride] (n_frames columns). */
void ecl_rvq_decode(const encodec_model *m, const int32_t *codes, int n_frames,
                    int n_codebooks, float *latent, int stride);

#endif
