/* libFuzzer target for the streaming API, driven by a script in the input. The first bytes
 * choose the model (tiny24 causal / tiny48 segmented), a signal (length and generator seed)
 * and the decoder's bandwidth; every following byte is an operation with its arguments: push
 * N samples to the encoder (small, large, or with one frame too little room, which must be
 * refused with ENCODEC_EBUFFER and consume nothing), flush, reset, change the bandwidth (to
 * an offered or an invalid value), push N code frames to the decoder, flush or reset it.
 * Checked invariants: each push returns at most encodec_*_max_* frames/samples; after a flush
 * pushes fail with ENCODEC_ESTATE and a second flush returns nothing; and every stream that
 * ends with a flush equals the whole-signal call on the same input: the encoder's frames equal
 * encodec_encode() of the samples pushed (each frame's codes the first K of the codes at the
 * largest bandwidth, K being the codebook count when it was returned, since a bandwidth
 * change between pushes only changes how many residual stages are kept), and the decoder's
 * audio equals encodec_decode() of the frames pushed, bit for bit. A reset abandons a stream
 * (it is not compared) and starts a new one from the start of the signal. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_common.h"

#define MAX_COMPARISONS 3 /* whole-signal references per input, to bound the time */

typedef struct {
    encodec_model *m;
    encodec_encoder *enc, *ref_enc; /* ref_enc: whole-signal reference at the largest bandwidth */
    encodec_decoder *dec, *ref_dec;
    int ch, max_k, n_bw;
    size_t max_len; /* longest signal the script may ask for */
} model_ctx;

static model_ctx ctx[2];

static void init(void)
{
    const char *names[2] = {"tiny24.safetensors", "tiny48.safetensors"};
    for (int i = 0; i < 2; i++) {
        model_ctx *c = &ctx[i];
        c->m = fuzz_load_model(names[i], NULL);
        c->ch = encodec_model_channels(c->m);
        c->max_k = encodec_model_max_codebooks(c->m);
        c->n_bw = encodec_model_num_bandwidths(c->m);
        /* tiny24: up to 0.5 s; tiny48: up to 1.25 s (two 1 s segments) */
        c->max_len = i == 0 ? 12000 : 60000;
        if (encodec_encoder_create(c->m, &c->enc) || encodec_encoder_create(c->m, &c->ref_enc) ||
            encodec_decoder_create(c->m, &c->dec) || encodec_decoder_create(c->m, &c->ref_dec) ||
            encodec_encoder_set_bandwidth(c->ref_enc, encodec_model_bandwidth(c->m, c->n_bw - 1)))
            exit(2);
    }
}

/* Input bytes, consumed from the front; zeros once exhausted. */
typedef struct {
    const uint8_t *p;
    size_t n;
} reader;

static unsigned take(reader *r)
{
    if (!r->n)
        return 0;
    r->n--;
    return *r->p++;
}

static unsigned take16(reader *r)
{
    const unsigned lo = take(r);
    return lo | take(r) << 8;
}

/* Deterministic test signal: a chirp and noise (seeded), with a silent stretch for seed & 1
 * (volume normalisation of near-silent segments). */
static void make_signal(float *x, size_t len, int ch, unsigned seed)
{
    uint32_t r = seed * 2654435761u + 1;
    for (size_t t = 0; t < len; t++) {
        const float tt = (float)t / 24000.0f;
        for (int c = 0; c < ch; c++) {
            r = r * 1664525u + 1013904223u;
            const float noise = ((float)(r >> 8) / 16777216.0f - 0.5f) * 0.1f;
            float v = 0.5f * sinf(6.2831853f * (150.0f + 300.0f * (float)(seed % 7)) * tt *
                                  (1.0f + tt)) + noise;
            if ((seed & 1) && t > len / 3 && t < len / 2)
                v = 0.0f;
            x[t * ch + c] = v;
        }
    }
}

/* State of the encoder stream under test. */
typedef struct {
    size_t pos;        /* samples pushed */
    size_t frames;     /* frames received */
    int32_t *codes;    /* [frames][max_k], the first k[t] valid */
    int *k;            /* codebooks of each frame */
    float *scales;
    int flushed;
} enc_stream;

typedef struct {
    size_t pos;        /* frames pushed */
    size_t samples;    /* samples received */
    float *pcm;
    int flushed;
} dec_stream;

/* Compare the flushed encoder stream with encodec_encode() of the same samples. */
static void check_encoder(model_ctx *c, const float *x, enc_stream *s, int32_t *tmp_codes,
                          float *tmp_scales, size_t cap)
{
    size_t n = 0;
    if (s->pos == 0) {
        FUZZ_CHECK(s->frames == 0, "%zu frames from an empty stream", s->frames);
        return;
    }
    FUZZ_CHECK(encodec_encode(c->ref_enc, x, s->pos, tmp_codes, tmp_scales, cap, &n) == 0,
               "reference encode");
    FUZZ_CHECK(n == s->frames, "stream gave %zu frames, encode of %zu samples gives %zu",
               s->frames, s->pos, n);
    for (size_t t = 0; t < n; t++) {
        FUZZ_CHECK(memcmp(s->codes + t * c->max_k, tmp_codes + t * c->max_k,
                          (size_t)s->k[t] * sizeof(int32_t)) == 0,
                   "frame %zu of %zu (%d codebooks, %zu samples) differs from encode", t, n,
                   s->k[t], s->pos);
        FUZZ_CHECK(memcmp(&s->scales[t], &tmp_scales[t], sizeof(float)) == 0,
                   "scale of frame %zu differs", t);
    }
}

/* Compare the flushed decoder stream with encodec_decode() of the same frames. */
static void check_decoder(model_ctx *c, const int32_t *codes, const float *scales, int k,
                          dec_stream *s, float *tmp, size_t cap)
{
    size_t n = 0;
    if (s->pos == 0) {
        FUZZ_CHECK(s->samples == 0, "%zu samples from an empty stream", s->samples);
        return;
    }
    FUZZ_CHECK(encodec_decode(c->ref_dec, codes, scales, s->pos, k, tmp, cap, &n) == 0,
               "reference decode");
    FUZZ_CHECK(n == s->samples, "stream gave %zu samples, decode of %zu frames gives %zu",
               s->samples, s->pos, n);
    FUZZ_CHECK(memcmp(s->pcm, tmp, n * (size_t)c->ch * sizeof(float)) == 0,
               "decoded stream of %zu frames differs from decode", s->pos);
}

/* Everything one input works on. */
typedef struct {
    model_ctx *c;
    const float *x;
    size_t len, cap, pcm_cap;
    int dk;                          /* decoder codebooks */
    const int32_t *dcodes;           /* [cap][dk]: the decoder's input */
    const float *scales;             /* [cap] */
    int32_t *out, *tmp_codes;        /* [cap][max_k] */
    float *out_scales, *tmp_scales;  /* [cap] */
    float *tmp_pcm;                  /* [pcm_cap][ch] */
    enc_stream es;
    dec_stream ds;
    int comparisons;
} run;

/* Append the n frames of K codebooks just returned in r->out to the encoder stream. */
static void enc_collect(run *r, size_t n, int K)
{
    const int max_k = r->c->max_k;
    for (size_t t = 0; t < n; t++) {
        memcpy(r->es.codes + (r->es.frames + t) * max_k, r->out + t * K, K * sizeof *r->out);
        r->es.k[r->es.frames + t] = K;
        r->es.scales[r->es.frames + t] = r->out_scales[t];
    }
    r->es.frames += n;
}

static void enc_push(run *r, size_t want, int too_small)
{
    encodec_encoder *e = r->c->enc;
    const int ch = r->c->ch;
    size_t n = 99;
    if (r->es.flushed) {
        FUZZ_CHECK(encodec_encoder_push(e, r->x, want, r->out, NULL, r->cap, &n) ==
                       ENCODEC_ESTATE && n == 0, "push after flush");
        return;
    }
    if (want > r->len - r->es.pos)
        want = r->len - r->es.pos;
    const int K = encodec_encoder_codebooks(e);
    const size_t need = encodec_encoder_max_frames(e, want);
    FUZZ_CHECK(r->es.frames + need <= r->cap, "bound %zu beyond the stream's %zu frames",
               r->es.frames + need, r->cap);
    if (too_small && need > 0 && want > 0) { /* one frame too little: refused, nothing consumed */
        FUZZ_CHECK(encodec_encoder_push(e, r->x + r->es.pos * ch, want, r->out, NULL, need - 1,
                                        &n) == ENCODEC_EBUFFER && n == 0,
                   "push with too little room");
        return;
    }
    FUZZ_CHECK(encodec_encoder_push(e, r->x + r->es.pos * ch, want, r->out, r->out_scales, need,
                                    &n) == ENCODEC_OK, "push of %zu", want);
    FUZZ_CHECK(n <= need, "push returned %zu frames, bound %zu", n, need);
    enc_collect(r, n, K);
    r->es.pos += want;
}

static void enc_flush(run *r)
{
    encodec_encoder *e = r->c->enc;
    size_t n = 99;
    if (r->es.flushed) {
        FUZZ_CHECK(encodec_encoder_flush(e, r->out, NULL, 0, &n) == ENCODEC_OK && n == 0,
                   "second flush");
        return;
    }
    const int K = encodec_encoder_codebooks(e);
    const size_t need = encodec_encoder_max_frames(e, 0);
    FUZZ_CHECK(encodec_encoder_flush(e, r->out, r->out_scales, need, &n) == ENCODEC_OK, "flush");
    FUZZ_CHECK(n == need, "flush gave %zu frames, bound %zu", n, need);
    enc_collect(r, n, K);
    r->es.flushed = 1;
    if (r->comparisons++ < MAX_COMPARISONS)
        check_encoder(r->c, r->x, &r->es, r->tmp_codes, r->tmp_scales, r->cap);
}

static void dec_push(run *r, size_t want, int too_small)
{
    encodec_decoder *d = r->c->dec;
    const int ch = r->c->ch, dk = r->dk;
    size_t n = 99;
    if (r->ds.flushed) {
        FUZZ_CHECK(encodec_decoder_push(d, r->dcodes, r->scales, 1, dk, r->tmp_pcm, r->pcm_cap,
                                        &n) == ENCODEC_ESTATE && n == 0,
                   "decoder push after flush");
        return;
    }
    if (want > r->cap - r->ds.pos)
        want = r->cap - r->ds.pos;
    const size_t need = encodec_decoder_max_samples(d, want);
    FUZZ_CHECK(r->ds.samples + need <= r->pcm_cap, "decoder bound beyond the stream");
    const int32_t *codes = r->dcodes + r->ds.pos * dk;
    const float *scales = r->scales + r->ds.pos;
    float *pcm = r->ds.pcm + r->ds.samples * ch;
    if (too_small && want > 0 && need > 0) {
        FUZZ_CHECK(encodec_decoder_push(d, codes, scales, want, dk, pcm, need - 1, &n) ==
                       ENCODEC_EBUFFER && n == 0,
                   "decoder push with too little room");
        return;
    }
    FUZZ_CHECK(encodec_decoder_push(d, codes, scales, want, dk, pcm, need, &n) == ENCODEC_OK,
               "decoder push of %zu", want);
    FUZZ_CHECK(n <= need, "decoder push returned %zu samples, bound %zu", n, need);
    r->ds.samples += n;
    r->ds.pos += want;
}

static void dec_flush(run *r)
{
    encodec_decoder *d = r->c->dec;
    size_t n = 99;
    if (r->ds.flushed) {
        FUZZ_CHECK(encodec_decoder_flush(d, r->tmp_pcm, 0, &n) == ENCODEC_OK && n == 0,
                   "second decoder flush");
        return;
    }
    const size_t need = encodec_decoder_max_samples(d, 0);
    FUZZ_CHECK(encodec_decoder_flush(d, r->ds.pcm + r->ds.samples * r->c->ch, need, &n) ==
                   ENCODEC_OK, "decoder flush");
    FUZZ_CHECK(n <= need, "decoder flush gave %zu, bound %zu", n, need);
    r->ds.samples += n;
    r->ds.flushed = 1;
    if (r->comparisons++ < MAX_COMPARISONS)
        check_decoder(r->c, r->dcodes, r->scales, r->dk, &r->ds, r->tmp_pcm, r->pcm_cap);
}

/* One operation of the script. */
static void step(run *r, reader *in)
{
    const unsigned op = take(in);
    encodec_encoder *e = r->c->enc;
    if (op < 128) { /* encoder push: small, medium or large; 120..127 with too little room */
        const size_t want = op < 64 ? take(in) : op < 112 ? take(in) * 37u : take16(in);
        enc_push(r, want, op >= 120);
    } else if (op < 136) {
        enc_flush(r);
    } else if (op < 144) { /* a new stream from the start of the signal */
        FUZZ_CHECK(encodec_encoder_reset(e) == ENCODEC_OK, "reset");
        r->es.pos = r->es.frames = 0;
        r->es.flushed = 0;
    } else if (op < 160) { /* bandwidth: an offered one (at any time), or a refused one */
        const unsigned arg = take(in);
        const int before = encodec_encoder_codebooks(e);
        if (arg & 0x80) {
            const float bad[3] = {0.0f, -1.0f, 1.25f};
            FUZZ_CHECK(encodec_encoder_set_bandwidth(e, bad[arg % 3]) == ENCODEC_EBANDWIDTH &&
                           encodec_encoder_codebooks(e) == before,
                       "invalid bandwidth accepted");
        } else {
            const float bw = encodec_model_bandwidth(r->c->m, (int)arg % r->c->n_bw);
            FUZZ_CHECK(encodec_encoder_set_bandwidth(e, bw) == ENCODEC_OK, "set_bandwidth");
        }
    } else if (op < 240) { /* decoder push of 0..31 frames; 224..239 with too little room */
        dec_push(r, (op - 160) % 32, op >= 224);
    } else if (op < 248) {
        dec_flush(r);
    } else {
        FUZZ_CHECK(encodec_decoder_reset(r->c->dec) == ENCODEC_OK, "decoder reset");
        r->ds.pos = r->ds.samples = 0;
        r->ds.flushed = 0;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ctx[0].m)
        init();
    reader in = {data, size};
    const unsigned head = take(&in);
    model_ctx *c = &ctx[head & 1];
    run r;
    memset(&r, 0, sizeof r);
    r.c = c;
    /* quadratic in the 16-bit value: short signals (fast runs) are the common case */
    const uint64_t v = take16(&in);
    r.len = 1 + (size_t)(v * v * c->max_len >> 32);
    const unsigned seed = take(&in);
    const int ch = c->ch, max_k = c->max_k;
    float *x = malloc(r.len * ch * sizeof *x);
    make_signal(x, r.len, ch, seed);
    r.x = x;
    /* the handles are reused between inputs: start from a known state */
    encodec_encoder_reset(c->enc);
    encodec_decoder_reset(c->dec);
    encodec_encoder_set_bandwidth(c->enc, encodec_model_bandwidth(c->m, 0));

    /* whole-signal codes at the largest bandwidth; the decoder gets their first dk */
    r.cap = encodec_encoder_max_frames(c->ref_enc, r.len);
    int32_t *all = malloc(r.cap * max_k * sizeof *all);
    float *scales = malloc(r.cap * sizeof *scales);
    size_t n_all;
    FUZZ_CHECK(encodec_encode(c->ref_enc, x, r.len, all, scales, r.cap, &n_all) == ENCODEC_OK,
               "encode");
    FUZZ_CHECK(n_all == r.cap, "encode gave %zu of %zu frames", n_all, r.cap);
    r.dk = encodec_model_codebooks_for_bandwidth(
        c->m, encodec_model_bandwidth(c->m, (int)(head >> 4) % c->n_bw));
    int32_t *dcodes = malloc(r.cap * r.dk * sizeof *dcodes);
    for (size_t t = 0; t < r.cap; t++)
        memcpy(dcodes + t * r.dk, all + t * max_k, (size_t)r.dk * sizeof *dcodes);
    r.dcodes = dcodes;
    r.scales = scales;
    r.pcm_cap = encodec_decoder_max_samples(c->ref_dec, r.cap);
    r.out = malloc(r.cap * max_k * sizeof *r.out);
    r.tmp_codes = all; /* reused: the reference is no longer needed */
    r.out_scales = malloc(r.cap * sizeof(float));
    r.tmp_scales = malloc(r.cap * sizeof(float));
    r.tmp_pcm = malloc(r.pcm_cap * ch * sizeof(float));
    r.es.codes = malloc(r.cap * max_k * sizeof(int32_t));
    r.es.k = malloc(r.cap * sizeof(int));
    r.es.scales = malloc(r.cap * sizeof(float));
    r.ds.pcm = malloc(r.pcm_cap * ch * sizeof(float));

    while (in.n)
        step(&r, &in);
    /* the end of the script ends both streams: the rest of the input, then a flush */
    if (!r.es.flushed) {
        enc_push(&r, r.len - r.es.pos, 0);
        enc_flush(&r);
    }
    if (!r.ds.flushed) {
        dec_push(&r, r.cap - r.ds.pos, 0);
        dec_flush(&r);
    }

    free(x);
    free(all);
    free(scales);
    free(dcodes);
    free(r.out);
    free(r.out_scales);
    free(r.tmp_scales);
    free(r.tmp_pcm);
    free(r.es.codes);
    free(r.es.k);
    free(r.es.scales);
    free(r.ds.pcm);
    return 0;
}
