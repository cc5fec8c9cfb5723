/* SEANet encoder and decoder forward passes over one whole segment, with the reference's
 * padding rules (causal or split, reflect with the small-input rule), trimming of transposed
 * convolutions, residual blocks and the LSTM with skip. */
#ifndef ECL_SEANET_H
#define ECL_SEANET_H

#include "model.h"

/* Called after every top-level layer i (the index in the state_dict names) with its output
 * [channels][len]; for tests and debugging. */
typedef void (*ecl_trace_fn)(void *ctx, int layer, const float *x, int channels, int len);

/* audio [channels][len] -> *latent [dimension][ceil(len / hop)] (allocated with ecl_calloc). */
int ecl_seanet_encode(const encodec_model *m, const float *audio, int len, float **latent,
                      int *n_frames, int n_threads, ecl_trace_fn trace, void *trace_ctx);

/* latent [dimension][n_frames] -> *audio [channels][n_frames * hop] (ecl_calloc). */
int ecl_seanet_decode(const encodec_model *m, const float *latent, int n_frames, float **audio,
                      int n_threads, ecl_trace_fn trace, void *trace_ctx);

#endif
