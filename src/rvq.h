/* Residual vector quantizer: nearest-codeword encoding stage by stage and decoding by summing
 * codewords, as the reference computes them. */
#ifndef ECL_RVQ_H
#define ECL_RVQ_H

#include <stdint.h>

#include "kernels.h"
#include "model.h"

/* Scratch (floats, row pointers) that ecl_rvq_encode needs, whatever the number of frames. */
size_t ecl_rvq_scratch_floats(const encodec_model *m);
size_t ecl_rvq_scratch_ptrs(const encodec_model *m);

/* latent [dim][stride] (n_frames columns) -> codes frame-major [n_frames][n_codebooks]. */
void ecl_rvq_encode(const encodec_model *m, const float *latent, int n_frames, int stride,
                    int n_codebooks, int32_t *codes, float *scratch, const float **ptrs,
                    const ecl_exec *ex);

/* codes frame-major [n_frames][n_codebooks] (values already checked < bins) -> latent
 * [dim][stride] (n_frames columns). */
void ecl_rvq_decode(const encodec_model *m, const int32_t *codes, int n_frames,
                    int n_codebooks, float *latent, int stride);

#endif
