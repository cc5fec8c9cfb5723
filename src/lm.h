/* The EnCodec language model used for entropy coding (spec sections 1, 2, 10): a small
 * streaming transformer that, given the previous frame's codes, predicts one distribution over
 * the codebook entries per codebook. The weights (ecl_lm) are immutable after loading and
 * shared; each coded stream owns an ecl_lm_state (per-layer ring buffers of projected keys and
 * values, the frame offset, scratch), allocated once at create so that a step never allocates,
 * locks, logs or does I/O. Everything here feeds the arithmetic coder's CDFs, so the
 * probabilities must be bit-identical wherever a stream is decoded: every sum has a fixed
 * order independent of the SIMD width and thread count (threads only split independent output
 * rows), transcendental functions come from detmath.c, and this code is compiled without FMA
 * contraction. */
#ifndef ECL_LM_H
#define ECL_LM_H

#include <stddef.h>
#include <stdint.h>

#include "encodec.h"

/* Largest frame offset a state accepts (positions up to 2^28 keep the positional embedding's
 * argument reduction exact): 41 days of 75 Hz frames per segment. */
#define ECL_LM_MAX_OFFSET (INT64_C(1) << 28)

/* A weight matrix [rows][cols], kept in the file's precision: float32, or float16 (converted
 * exactly to float32 inside the kernels: the same values either way, half the memory traffic).
 * Exactly one of the pointers is set. */
typedef struct {
    float *f32;
    uint16_t *f16;
} ecl_lm_matrix;

/* One post-norm transformer layer; linear weights are [out][in] as in PyTorch. */
typedef struct {
    ecl_lm_matrix in_proj;  /* [3 * dim][dim]: rows of W_q, then W_k, then W_v */
    float *in_proj_b;       /* [3 * dim] */
    ecl_lm_matrix out_proj; /* [dim][dim] */
    float *out_proj_b;      /* [dim] */
    ecl_lm_matrix linear1;  /* [ff_dim][dim] */
    float *linear1_b;       /* [ff_dim] */
    ecl_lm_matrix linear2;  /* [dim][ff_dim] */
    float *linear2_b;       /* [dim] */
    float *norm1_w, *norm1_b; /* [dim] LayerNorm after attention */
    float *norm2_w, *norm2_b; /* [dim] LayerNorm after the feed-forward block */
} ecl_lm_layer;

typedef struct ecl_lm {
    int n_q;          /* embedding tables / output heads (streams may use fewer) */
    int card;         /* symbols per codebook (the codec's bins) */
    int dim;          /* model width d */
    int num_heads, head_dim;
    int num_layers;
    int ff_dim;       /* int(hidden_scale * dim) */
    int past_context; /* attention window in frames */
    float q_divisor;  /* float32(sqrt(head_dim)): queries are divided by it */
    int f16;          /* the matrices are float16 (every one of them is in the file) */
    float *norm_in_w, *norm_in_b; /* [dim] LayerNorm of the summed embeddings */
    ecl_lm_layer *layers;         /* [num_layers] */
    float *emb;       /* [n_q][card + 1][dim]; row 0 = "no previous code" */
    ecl_lm_matrix head; /* [n_q * card][dim]: the heads one after the other */
    float *head_b;    /* [n_q][card] */
    float *pos_freq;  /* [dim / 2]: f_j = 10000^(j / (dim/2 - 1)) in float32 */
    void *block;      /* the single allocation holding every array above */
} ecl_lm;

typedef struct ecl_lm_state ecl_lm_state;

/* Parse and validate an LM weights file held in memory (safetensors with the LM configuration
 * JSON in __metadata__.config): configuration values, every tensor by name and shape, finite
 * values. `source` names the data in messages. Errors: ENCODEC_EWEIGHTS_* (CONFIG, MISSING,
 * SHAPE, DTYPE, VALUE, and the container's), ENCODEC_ENOMEM. The buffer is not kept. */
int ecl_lm_load(const uint8_t *data, size_t size, const char *source, ecl_lm **out, char *msg,
                size_t msg_size);
void ecl_lm_free(ecl_lm *lm);

/* A stream state for lm, already reset. past_context > 0 overrides the model's window (tests
 * use the golden file's window of 4); 0 keeps it. */
int ecl_lm_state_create(const ecl_lm *lm, int past_context, ecl_lm_state **out);
void ecl_lm_state_free(ecl_lm_state *st);
/* Back to the start of a segment: one zero input vector per layer, offset 0. */
void ecl_lm_state_reset(ecl_lm_state *st);
/* The codec's kernel path (picks the LM's instruction set: the results are the same on all;
 * the default follows ecl_isa_default) and OpenMP threads for the step (>= 1, default 1;
 * results do not depend on it: more than one splits output rows and heads). */
int ecl_lm_state_set_exec(ecl_lm_state *st, encodec_kernels isa, int n_threads);
/* Frames processed since the last reset. */
int64_t ecl_lm_state_offset(const ecl_lm_state *st);

/* One frame (spec 10.1): prev[k] for k < n_codebooks is the previous frame's code of codebook
 * k plus one, or 0 at the start of a segment; probs receives n_codebooks distributions of
 * lm->card float32 values (probs[k * card + i]). Uses the first n_codebooks embeddings and
 * heads. ENCODEC_EINVAL (NULL, state of another LM, n_codebooks outside 1..n_q),
 * ENCODEC_ECODE (prev value outside 0..card), ENCODEC_EUNSUPPORTED (offset past
 * ECL_LM_MAX_OFFSET); the state is unchanged on error. */
int ecl_lm_step(const ecl_lm *lm, ecl_lm_state *st, const int32_t *prev, int n_codebooks,
                float *probs);

/* Frames the state can take in one ecl_lm_steps call. */
#define ECL_LM_BLOCK 16

/* n_frames (1..ECL_LM_BLOCK) consecutive frames at once, when their inputs are all known (the
 * encoder's side): prev [n_frames][n_codebooks], probs [n_frames][n_codebooks][card]. The same
 * bits as n_frames calls of ecl_lm_step, with every weight matrix read once per block instead
 * of once per frame. Errors as ecl_lm_step, also ENCODEC_EINVAL for n_frames out of range. */
int ecl_lm_steps(const ecl_lm *lm, ecl_lm_state *st, const int32_t *prev, int n_frames,
                 int n_codebooks, float *probs);

/* Reference for tests: all n_frames of a segment at once, layer by layer over the whole
 * sequence with explicit window masking instead of ring buffers (past_context as for
 * ecl_lm_state_create). prev: [n_frames][n_codebooks] as for ecl_lm_step; probs:
 * [n_frames][n_codebooks][card]. Bit-identical to n_frames calls of ecl_lm_step after a reset.
 * Allocates its working memory. */
int ecl_lm_forward_sequence(const ecl_lm *lm, int past_context, const int32_t *prev,
                            int n_frames, int n_codebooks, float *probs, int n_threads);

#endif
