/* The loaded model: configuration and weights of the SEANet encoder/decoder and the residual
 * vector quantizer, immutable after load. Also the internal accessors other files use. */
#ifndef ECL_MODEL_H
#define ECL_MODEL_H

#include "encodec.h"
#include "kernels.h"

#define ECL_MAX_RATIOS 8
#define ECL_MAX_BANDWIDTHS 16

/* A convolution (or transposed convolution) with effective (weight-norm folded) weights. */
typedef struct {
    int c_in, c_out, kernel, stride, dilation;
    ecl_amat weight;    /* in panels (kernels.h); conv: transposed [c_in * kernel][c_out];
                           transposed conv: polyphase, stride matrices [c_in * taps][c_out]
                           (ecl_k_convtr_relayout); float16 when the file stores the weights
                           as float16 */
    float *bias;        /* [c_out] */
    float *norm_weight; /* [c_out] GroupNorm affine (time_group_norm models), else NULL */
    float *norm_bias;   /* [c_out] */
} ecl_conv;

/* Residual block: shortcut(x) + conv2(elu(conv1(elu(x)))). */
typedef struct {
    ecl_conv conv1;     /* C -> C/compress, residual kernel, dilation base^j */
    ecl_conv conv2;     /* C/compress -> C, kernel 1 */
    ecl_conv shortcut;  /* C -> C, kernel 1; unused when true_skip */
} ecl_resblock;

/* Multi-layer LSTM with input = hidden = dim, plus skip. */
typedef struct {
    int dim, n_layers;
    ecl_amat *w_ih;   /* [n_layers] of [dim][4*dim] in panels: W_ih transposed */
    ecl_amat *w_hh_t; /* [n_layers] of [dim][4*dim] in panels: W_hh transposed */
    float **bias;  /* [n_layers] of [4*dim]: b_ih + b_hh */
} ecl_lstm;

/* Encoder: conv_in, then per stage (res blocks, ELU, down conv), LSTM, ELU, conv_out.
 * Decoder: conv_in, LSTM, then per stage (ELU, up transposed conv, res blocks), ELU, conv_out. */
typedef struct {
    ecl_conv conv_in;
    ecl_resblock *res;   /* [n_stages * n_residual_layers], stage-major */
    ecl_conv *resample;  /* [n_stages]: down convs (encoder) or up transposed convs (decoder) */
    ecl_lstm lstm;       /* n_layers 0 when the model has no LSTM */
    ecl_conv conv_out;
} ecl_seanet;

typedef struct {
    char name[64];
    int sample_rate, channels, causal, normalize, true_skip;
    int group_norm;               /* 1 for time_group_norm, 0 for weight_norm */
    int n_filters, dimension, n_residual_layers, dilation_base, compress, lstm_layers;
    int kernel_size, last_kernel_size, residual_kernel_size;
    int n_ratios, ratios[ECL_MAX_RATIOS]; /* decoder order, e.g. 8 5 4 2 */
    int hop_length, frame_rate, bins, n_q;
    int n_bandwidths;
    float bandwidths[ECL_MAX_BANDWIDTHS];
    int segment_length, segment_stride;   /* 0 when unsegmented */
    float elu_alpha;
} ecl_config;

struct encodec_model {
    ecl_config cfg;
    ecl_seanet encoder, decoder;
    ecl_amat *codebooks;    /* [n_q] of [dimension][bins] in panels: codewords as columns,
                               float16 when the file stores them so */
    float *codebook_norms;  /* [n_q][bins]: |e|^2 */
    struct ecl_lm *lm;      /* attached entropy-coding LM (lm.h), or NULL */
    void **allocations;     /* everything above but the LM, freed together */
    int n_allocations, cap_allocations;
};

const encodec_model *ecl_encoder_model(const encodec_encoder *encoder);
const encodec_model *ecl_decoder_model(const encodec_decoder *decoder);
/* OpenMP threads a handle may use (encodec_*_set_threads). */
int ecl_encoder_threads(const encodec_encoder *encoder);
int ecl_decoder_threads(const encodec_decoder *decoder);
/* Segment length in samples (0 = whole signal in one segment) and whether segments carry a
 * volume scale. */
int ecl_model_segment_length(const encodec_model *model);
int ecl_model_normalize(const encodec_model *model);

#endif
