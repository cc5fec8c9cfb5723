/* The language model as the .ecdc container's source of CDFs (spec 10.2): the model's LM run
 * frame by frame and reset at every segment, its probabilities quantised for the arithmetic
 * coder. Decoding runs it one frame at a time (a frame's input is the previous frame's decoded
 * codes). Encoding knows codes ahead: the caller announces them (ecl_lm_source_known) and the
 * source runs ECL_LM_BLOCK frames at once (ecl_lm_steps: the same probabilities, the weights
 * read once per block). Used by the whole-stream functions (compress.c) and the incremental
 * writer and reader (ecdc_stream.c). */
#ifndef ECL_LM_SOURCE_H
#define ECL_LM_SOURCE_H

#include <stddef.h>
#include <stdint.h>

#include "ecdc.h"
#include "encodec.h"
#include "lm.h"

typedef struct {
    const ecl_lm *lm;
    ecl_lm_state *state;
    float *probs;    /* [ECL_LM_BLOCK or 1][n_codebooks][card] */
    int32_t *prev;   /* [ECL_LM_BLOCK or 1][n_codebooks]: the LM's inputs */
    int n_codebooks; /* of the stream: the buffers are sized for it */
    /* encoder side only: the geometry, the stream's length, the frames known so far */
    int encoding;
    ecl_ecdc_geometry geometry;
    uint64_t audio_length;
    const int32_t *known;         /* [known_n][n_codebooks]: frames known_first... */
    uint64_t known_first;
    size_t known_n;
    int segment;                  /* current segment, -1 before the first */
    uint64_t seg_first;           /* its first frame in the stream */
    size_t seg_frames;            /* its frame count */
    size_t block_t, block_n;      /* frames [block_t, block_t + block_n) of it are in probs */
} ecl_lm_source;

/* Set up a source for streams of n_codebooks over the model's LM (ENCODEC_EUNSUPPORTED without
 * one, or with fewer heads than n_codebooks; ENCODEC_ENOMEM). g non-NULL: the encoder's side,
 * for a stream of audio_length samples in that geometry; NULL: the decoder's. The kernel path
 * and thread count change the speed only (lm.h). */
int ecl_lm_source_init(ecl_lm_source *src, const encodec_model *m, int n_codebooks,
                       encodec_kernels isa, int n_threads, const ecl_ecdc_geometry *g,
                       uint64_t audio_length);
void ecl_lm_source_free(ecl_lm_source *src);

/* Encoder side: frames [first, first + n) of the stream (counted over all segments) are
 * codes[0 .. n) and about to be coded; codes must stay valid until the next call. */
void ecl_lm_source_known(ecl_lm_source *src, const int32_t *codes, uint64_t first, size_t n);

/* An ecl_ecdc_frame_cdfs_fn over an ecl_lm_source (ctx). Encoder side: ENCODEC_ESTATE when the
 * frame or its previous codes are not the ones announced. */
int ecl_lm_source_frame_cdfs(void *ctx, int segment, size_t t, const int32_t *prev_codes,
                             int n_codebooks, int32_t *cdfs_out);

#endif
