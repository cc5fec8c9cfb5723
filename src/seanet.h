/* SEANet encoder and decoder as streaming layer chains (see seanet.c). A stream takes chunks
 * of at most in_max columns ([channels][n] planar, row stride given) and hands its output
 * chunks to a sink; flush ends the stream with the reference's end padding; reset starts a
 * new one. Pushing a whole signal then flushing is the whole-signal computation. */
#ifndef ECL_SEANET_H
#define ECL_SEANET_H

#include "model.h"

/* Receives output chunks: x [channels][stride], n valid columns. */
typedef void (*ecl_sink_fn)(void *ctx, const float *x, int channels, int n, int stride);
/* Called after every top-level layer i (state_dict numbering) with the chunk it produced. */
typedef void (*ecl_trace_fn)(void *ctx, int layer, const float *x, int channels, int n,
                             int stride);

typedef struct ecl_seanet_stream ecl_seanet_stream;

/* decoder: 0 for the encoder (audio in, latent out), 1 for the decoder. in_max: the largest
 * chunk a push may carry (columns). *out_max receives the largest chunk the sink can get. */
int ecl_seanet_stream_create(const encodec_model *m, int decoder, int in_max,
                             ecl_seanet_stream **s, int *out_max);
void ecl_seanet_stream_free(ecl_seanet_stream *s);
void ecl_seanet_stream_reset(ecl_seanet_stream *s);
void ecl_seanet_stream_set_threads(ecl_seanet_stream *s, int n_threads);
/* isa: a supported path (see ecl_isa_supported), not ENCODEC_KERNELS_AUTO. */
void ecl_seanet_stream_set_kernels(ecl_seanet_stream *s, encodec_kernels isa);
void ecl_seanet_stream_set_trace(ecl_seanet_stream *s, ecl_trace_fn fn, void *ctx);
void ecl_seanet_stream_push(ecl_seanet_stream *s, const float *x, int channels, int n, int stride,
                            ecl_sink_fn sink, void *sink_ctx);
void ecl_seanet_stream_flush(ecl_seanet_stream *s, ecl_sink_fn sink, void *sink_ctx);
/* Output columns a fresh stream has produced after n input columns, before flush. */
long ecl_seanet_stream_outputs_for(const ecl_seanet_stream *s, long n);
/* Bytes of state and buffers held by the stream. */
size_t ecl_seanet_stream_state_bytes(const ecl_seanet_stream *s);

#endif
