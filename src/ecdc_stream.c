/* Incremental .ecdc byte streams: encodec_ecdc_writer (audio in, container bytes out as soon as
 * frames are complete) and encodec_ecdc_reader (bytes in, split anywhere, audio out as soon as
 * each frame's bits are in). Streams of announced length are byte for byte what
 * encodec_compress() writes; streams of unknown length ("live") use the extension documented in
 * encodec.h: "al": 0 and "live": true in the header, a continuation bit before each frame
 * (unsegmented models) or an FF FF FF FF mark in place of a segment scale (segmented models),
 * then the true length and the last frames in the layout of a file of that length. Each handle
 * drives an encoder or decoder handle and allocates everything at create; push and finish only
 * write into the caller's buffers, sized by the _max_ functions. The exceptions are in the
 * reader's header: its JSON, parsed once by cJSON (temporary allocations, freed before
 * returning), and for an LM-coded stream the LM's state, sized by the header's codebooks.
 * LM-coded streams (known length only) run the model's LM frame by frame (lm_source.c) and
 * code the frames with the arithmetic coder instead of packing them. */
#include <cjson/cJSON.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "arith.h"
#include "bitpack.h"
#include "ecdc.h"
#include "encodec.h"
#include "lm_source.h"
#include "model.h"
#include "util.h"

#define LIVE_END_MARK UINT32_C(0xFFFFFFFF) /* segmented live streams: where a scale would be */
#define LIVE_LENGTH_BYTES 8                /* final length after the end mark, big-endian */
#define MAX_HEADER (ECL_ECDC_FIXED_HEADER + ECL_ECDC_MAX_METADATA)
#define META_CAP 512                       /* our own metadata: name < 64 bytes, escaped */

static int code_width(int bins)
{
    int w = 0;
    while ((1 << w) < bins)
        w++;
    return w;
}

static void put_be(uint8_t *p, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static uint64_t get_be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

static size_t sat_size(uint64_t v)
{
    return v > SIZE_MAX ? SIZE_MAX : (size_t)v;
}

/* ------------------------------------------------------------------------------------------ */
/* Writer                                                                                       */

struct encodec_ecdc_writer {
    encodec_encoder *enc;
    ecl_ecdc_geometry g;
    int K, width, channels, hop;
    int live;             /* length unknown until finish */
    int tail;             /* live: end mark written, the rest follows the known-length layout */
    uint64_t al;          /* announced length (live: set at finish) */
    uint64_t n_in;        /* samples pushed */
    size_t full_seg_frames;

    uint8_t header[ECL_ECDC_FIXED_HEADER + META_CAP];
    size_t header_len;
    int header_out;

    uint64_t acc;         /* bits not yet in a whole byte (< 8) */
    int n_bits;
    /* layout position: segment `seg` of `n_segments`, frame seg_t of its seg_frames */
    size_t seg, n_segments, seg_t, seg_frames;
    uint64_t frames;      /* frames written */
    int last_sync;        /* live, unsegmented: the last unit was a sync */

    size_t chunk;         /* samples per encoder push, so that frames_cap always suffices */
    size_t frames_cap;
    int32_t *codes;       /* [frames_cap][K] */
    float *scales;        /* [frames_cap] */

    /* entropy-coded payload: the LM's CDFs drive the arithmetic coder */
    int use_lm;
    ecl_lm_source lm;
    ecl_ac_encoder ac;
    int32_t *cdfs;        /* [K][bins] */
    int32_t *prev;        /* [K]: the previous frame's codes, the LM's input */
    int finished, error;
};

/* True while frames carry a continuation bit (live stream of an unsegmented model). */
static int writer_flagged(const encodec_ecdc_writer *w)
{
    return w->live && !w->tail && w->g.segment_length == 0;
}

int encodec_ecdc_writer_create(encodec_encoder *enc, uint64_t audio_length, int use_lm,
                               encodec_ecdc_writer **out)
{
    if (!out)
        return ENCODEC_EINVAL;
    *out = NULL;
    if (!enc || audio_length > ECL_ECDC_MAX_AUDIO_LENGTH || (use_lm != 0 && use_lm != 1))
        return ENCODEC_EINVAL;
    /* live streams are defined for bit-packed payloads only */
    if (use_lm && audio_length == 0)
        return ENCODEC_EUNSUPPORTED;
    const encodec_model *m = ecl_encoder_model(enc);
    encodec_ecdc_writer *w = calloc(1, sizeof *w);
    if (!w)
        return ENCODEC_ENOMEM;
    w->enc = enc;
    ecl_ecdc_model_geometry(m, &w->g);
    w->K = encodec_encoder_codebooks(enc);
    w->width = code_width(w->g.bins);
    w->channels = encodec_model_channels(m);
    w->hop = encodec_model_hop_length(m);
    w->live = audio_length == 0;
    w->al = audio_length;
    if (w->g.segment_length)
        w->full_seg_frames = ecl_ecdc_segment_frames(&w->g, w->g.segment_length, 0);
    if (use_lm) {
        int rc = ecl_lm_source_init(&w->lm, m, w->K, encodec_encoder_kernels(enc),
                                    ecl_encoder_threads(enc), &w->g, audio_length);
        if (rc < 0) {
            free(w);
            return rc;
        }
        w->use_lm = 1;
        ecl_ac_encoder_init(&w->ac);
    }

    char meta[META_CAP];
    int n = ecl_ecdc_format_metadata(encodec_model_name(m), audio_length, w->K, use_lm, meta,
                                     sizeof meta - 16);
    if (n < 0) {
        encodec_ecdc_writer_free(w);
        return n == ENCODEC_EBUFFER ? ENCODEC_EINVAL : n;
    }
    if (w->live) { /* the reference's four keys, then ours in place of the closing brace */
        static const char live_key[] = ", \"live\": true}";
        memcpy(meta + n - 1, live_key, sizeof live_key - 1);
        n += (int)sizeof live_key - 2;
    }
    memcpy(w->header, "ECDC", 4);
    w->header[4] = ECL_ECDC_VERSION;
    put_be(w->header + 5, (uint64_t)n, 4);
    memcpy(w->header + ECL_ECDC_FIXED_HEADER, meta, (size_t)n);
    w->header_len = ECL_ECDC_FIXED_HEADER + (size_t)n;

    /* Feed the encoder a segment (or a second) at a time: the frames it can return for such a
     * push, start-up delay included, are bounded, so the code buffer is too. */
    size_t startup = 0;
    encodec_encoder_latency(enc, &startup, NULL);
    w->chunk = w->g.segment_length ? (size_t)w->g.segment_length : (size_t)w->g.sample_rate;
    w->frames_cap = ecl_ecdc_total_frames(&w->g, (uint64_t)w->chunk + startup +
                                                     w->g.segment_length + (uint64_t)w->hop) + 2;
    w->codes = malloc(w->frames_cap * (size_t)w->K * sizeof *w->codes);
    w->scales = malloc(w->frames_cap * sizeof *w->scales);
    if (use_lm) {
        w->cdfs = malloc((size_t)w->K * (size_t)w->g.bins * sizeof *w->cdfs);
        w->prev = malloc((size_t)w->K * sizeof *w->prev);
    }
    if (!w->codes || !w->scales || (use_lm && (!w->cdfs || !w->prev))) {
        encodec_ecdc_writer_free(w);
        return ENCODEC_ENOMEM;
    }
    w->n_segments = w->live ? 0 : ecl_ecdc_n_segments(&w->g, audio_length);
    w->seg_frames = w->live ? w->full_seg_frames : ecl_ecdc_segment_frames(&w->g, w->al, 0);
    encodec_encoder_reset(enc);
    *out = w;
    return ENCODEC_OK;
}

void encodec_ecdc_writer_free(encodec_ecdc_writer *w)
{
    if (!w)
        return;
    free(w->codes);
    free(w->scales);
    free(w->cdfs);
    free(w->prev);
    if (w->use_lm)
        ecl_lm_source_free(&w->lm);
    free(w);
}

size_t encodec_ecdc_writer_max_bytes(const encodec_ecdc_writer *w, size_t n_samples)
{
    if (!w || w->finished)
        return 0;
    if ((uint64_t)n_samples > ECL_ECDC_MAX_AUDIO_LENGTH)
        return SIZE_MAX; /* more than any stream may hold: push refuses it */
    const uint64_t frames = encodec_encoder_max_frames(w->enc, n_samples);
    /* codes plus a continuation bit per frame, the pending bits and one padded byte. The
     * arithmetic coder: a symbol leaves an interval of at least 1 of 2^24 (every range is at
     * least 2 of 2^24), so it adds at most 24 pending bits, plus those pending from before. */
    const uint64_t per_code = w->use_lm ? ECL_AC_RANGE_BITS : (uint64_t)w->width;
    uint64_t bits = frames * ((uint64_t)w->K * per_code + 1) + (uint64_t)w->n_bits;
    if (w->use_lm)
        bits += ECL_AC_MAX_BIT + 1;
    uint64_t bytes = bits / 8 + 2;
    /* per segment: scale and padding; the frames can span a few short segments at the end */
    uint64_t segs = w->g.segment_length ? frames / w->full_seg_frames + 3 : 1;
    bytes += segs * 5;
    bytes += 2 + 4 + LIVE_LENGTH_BYTES; /* end of a live stream */
    if (!w->header_out)
        bytes += w->header_len;
    return sat_size(bytes);
}

/* Layout of a known-length stream: advance to segment `seg` (frames from seg_t on). */
static void writer_segment(encodec_ecdc_writer *w)
{
    w->seg_frames = ecl_ecdc_segment_frames(&w->g, w->al, w->seg);
    if (w->seg < w->n_segments && w->seg_t >= w->seg_frames) { /* nothing left of it */
        w->seg++;
        w->seg_t = 0;
        w->seg_frames = ecl_ecdc_segment_frames(&w->g, w->al, w->seg);
    }
}

/* One frame: its continuation bit or segment scale, then the codes; closes full segments. */
static int put_frame(encodec_ecdc_writer *w, ecl_bitwriter *bw, const int32_t *codes,
                     float scale)
{
    int rc = ENCODEC_OK;
    const int flagged = writer_flagged(w);
    if (!flagged && (!w->live || w->tail) && w->seg >= w->n_segments)
        return ENCODEC_EUNSUPPORTED; /* more frames than the length implies: cannot happen */
    if (flagged) {
        rc = ecl_bitwriter_push(bw, 1, 1);
        w->last_sync = 0;
    } else if (w->g.has_scale && w->seg_t == 0) {
        uint32_t bits;
        uint8_t be[4];
        memcpy(&bits, &scale, sizeof bits);
        if (w->live && !w->tail && bits == LIVE_END_MARK)
            return ENCODEC_EINVAL; /* only from NaN input, and undecodable anyway */
        put_be(be, bits, 4);
        rc = ecl_bitwriter_put_bytes(bw, be, sizeof be);
    }
    if (w->use_lm) {
        if (rc == ENCODEC_OK)
            rc = ecl_lm_source_frame_cdfs(&w->lm, (int)w->seg, w->seg_t,
                                          w->seg_t ? w->prev : NULL, w->K, w->cdfs);
        if (rc == ENCODEC_OK)
            rc = ecl_ac_encode_frame(&w->ac, bw, w->cdfs, w->g.bins, codes, w->K);
        memcpy(w->prev, codes, (size_t)w->K * sizeof *codes);
    } else {
        for (int k = 0; k < w->K && rc == ENCODEC_OK; k++)
            rc = ecl_bitwriter_push(bw, (uint32_t)codes[k], w->width);
    }
    if (rc < 0)
        return rc;
    w->frames++;
    if (flagged || ++w->seg_t < w->seg_frames)
        return ENCODEC_OK;
    /* end of a segment: pad to a byte, as the reference does */
    rc = w->use_lm ? ecl_ac_encoder_finish(&w->ac, bw) : ecl_bitwriter_flush(bw);
    if (rc < 0)
        return rc;
    w->seg++;
    w->seg_t = 0;
    if (w->live && !w->tail)
        w->seg_frames = w->full_seg_frames; /* live segments before the end are full */
    else
        writer_segment(w);
    return ENCODEC_OK;
}

static int put_frames(encodec_ecdc_writer *w, ecl_bitwriter *bw, size_t n)
{
    if (w->use_lm)
        ecl_lm_source_known(&w->lm, w->codes, w->frames, n);
    for (size_t i = 0; i < n; i++) {
        int rc = put_frame(w, bw, w->codes + i * (size_t)w->K, w->scales[i]);
        if (rc < 0)
            return rc;
    }
    return ENCODEC_OK;
}

/* Argument and state checks shared by push and finish; ENCODEC_OK to go on. */
static int writer_check(encodec_ecdc_writer *w, const uint8_t *out, size_t out_cap,
                        size_t *out_len)
{
    if (out_len)
        *out_len = 0;
    if (!w || !out_len || (!out && out_cap))
        return ENCODEC_EINVAL;
    if (w->finished)
        return ENCODEC_ESTATE;
    if (w->error)
        return w->error;
    /* the header announced K codebooks: the encoder's bandwidth must not change */
    if (encodec_encoder_codebooks(w->enc) != w->K)
        return ENCODEC_ESTATE;
    return ENCODEC_OK;
}

static void writer_begin(encodec_ecdc_writer *w, ecl_bitwriter *bw, uint8_t *out, size_t cap)
{
    ecl_bitwriter_init_fixed(bw, out, cap);
    bw->acc = w->acc;
    bw->n_bits = w->n_bits;
}

/* Keep the pending bits; report the bytes, or make a failure sticky (state is mid-frame). */
static int writer_end(encodec_ecdc_writer *w, ecl_bitwriter *bw, int rc, size_t *out_len)
{
    w->acc = bw->acc;
    w->n_bits = bw->n_bits;
    if (rc < 0) {
        w->error = rc;
        return rc;
    }
    *out_len = bw->len;
    return ENCODEC_OK;
}

static int put_header(encodec_ecdc_writer *w, ecl_bitwriter *bw)
{
    if (w->header_out)
        return ENCODEC_OK;
    w->header_out = 1;
    return ecl_bitwriter_put_bytes(bw, w->header, w->header_len);
}

int encodec_ecdc_writer_push(encodec_ecdc_writer *w, const float *pcm, size_t n_samples,
                             uint8_t *out, size_t out_cap, size_t *out_len)
{
    int rc = writer_check(w, out, out_cap, out_len);
    if (rc < 0)
        return rc;
    if (!pcm && n_samples)
        return ENCODEC_EINVAL;
    const uint64_t limit = w->live ? ECL_ECDC_MAX_AUDIO_LENGTH : w->al;
    if ((uint64_t)n_samples > limit - w->n_in)
        return ENCODEC_ELENGTH; /* more than announced: nothing consumed */
    if (out_cap < encodec_ecdc_writer_max_bytes(w, n_samples))
        return ENCODEC_EBUFFER;
    ecl_bitwriter bw;
    writer_begin(w, &bw, out, out_cap);
    rc = put_header(w, &bw);
    for (size_t done = 0; done < n_samples && rc == ENCODEC_OK;) {
        size_t c = n_samples - done < w->chunk ? n_samples - done : w->chunk, got = 0;
        while (c > 1 && encodec_encoder_max_frames(w->enc, c) > w->frames_cap)
            c /= 2;
        rc = encodec_encoder_push(w->enc, pcm + done * (size_t)w->channels, c, w->codes,
                                  w->scales, w->frames_cap, &got);
        if (rc == ENCODEC_OK)
            rc = put_frames(w, &bw, got);
        done += c;
        w->n_in += c;
    }
    /* live, unsegmented: a sync completes the last byte, so these bytes hold every frame */
    if (rc == ENCODEC_OK && writer_flagged(w) && bw.n_bits) {
        rc = ecl_bitwriter_push(&bw, 0, 1);
        if (rc == ENCODEC_OK)
            rc = ecl_bitwriter_flush(&bw);
        w->last_sync = 1;
    }
    return writer_end(w, &bw, rc, out_len);
}

/* Live stream: the end mark and the final length; what follows is laid out as in a file of
 * that length, from where the live part stopped. */
static int put_live_end(encodec_ecdc_writer *w, ecl_bitwriter *bw)
{
    int rc = ENCODEC_OK;
    const uint64_t al = w->n_in;
    uint8_t be[4 + LIVE_LENGTH_BYTES];
    size_t n = 0;
    if (w->g.segment_length == 0) {
        /* frames before the mark must lie inside the audio: a reader plays them untrimmed */
        if (w->frames * (uint64_t)w->hop > al)
            return ENCODEC_EUNSUPPORTED;
        /* two syncs in a row (a sync after a sync is a whole zero byte) */
        for (int i = w->last_sync; i < 2 && rc == ENCODEC_OK; i++) {
            rc = ecl_bitwriter_push(bw, 0, 1);
            if (rc == ENCODEC_OK)
                rc = ecl_bitwriter_flush(bw);
        }
    } else {
        /* segments so far were full ones (the encoder's pushes return only those) */
        if (w->seg_t != 0 ||
            (w->seg > 0 && (w->seg - 1) * w->g.segment_stride + w->g.segment_length > al))
            return ENCODEC_EUNSUPPORTED;
        put_be(be, LIVE_END_MARK, 4);
        n = 4;
    }
    put_be(be + n, al, LIVE_LENGTH_BYTES);
    n += LIVE_LENGTH_BYTES;
    if (rc == ENCODEC_OK)
        rc = ecl_bitwriter_put_bytes(bw, be, n);
    if (rc < 0)
        return rc;
    w->tail = 1;
    w->al = al;
    w->n_segments = ecl_ecdc_n_segments(&w->g, al);
    if (w->g.segment_length == 0) {
        w->seg = 0;
        w->seg_t = (size_t)w->frames; /* of the single segment, the live part had these */
    }
    writer_segment(w);
    return ENCODEC_OK;
}

int encodec_ecdc_writer_finish(encodec_ecdc_writer *w, uint8_t *out, size_t out_cap,
                               size_t *out_len)
{
    if (w && w->finished && out_len) { /* a second finish has nothing more to say */
        *out_len = 0;
        return ENCODEC_OK;
    }
    int rc = writer_check(w, out, out_cap, out_len);
    if (rc < 0)
        return rc;
    if (!w->live && w->n_in < w->al)
        return ENCODEC_ELENGTH; /* fewer samples than announced: push the rest first */
    if (out_cap < encodec_ecdc_writer_max_bytes(w, 0))
        return ENCODEC_EBUFFER;
    ecl_bitwriter bw;
    writer_begin(w, &bw, out, out_cap);
    size_t got = 0;
    rc = put_header(w, &bw);
    if (rc == ENCODEC_OK)
        rc = encodec_encoder_flush(w->enc, w->codes, w->scales, w->frames_cap, &got);
    if (rc == ENCODEC_OK && w->live)
        rc = put_live_end(w, &bw);
    if (rc == ENCODEC_OK)
        rc = put_frames(w, &bw, got);
    /* the frames must be exactly those the length implies */
    if (rc == ENCODEC_OK && (w->seg < w->n_segments || bw.n_bits))
        rc = ENCODEC_EUNSUPPORTED;
    rc = writer_end(w, &bw, rc, out_len);
    if (rc == ENCODEC_OK)
        w->finished = 1;
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* Reader                                                                                       */

enum {
    R_HEADER,    /* collecting the header */
    R_SEGMENT,   /* next segment of the known-length layout (or the end) */
    R_SCALE,     /* 4 bytes: a segment's scale (live: or the end mark) */
    R_FLAG,      /* live, unsegmented: continuation bit or sync */
    R_FRAME,     /* codes of a frame */
    R_LENGTH,    /* live: the final length after the end mark */
    R_DONE
};

struct encodec_ecdc_reader {
    encodec_decoder *dec;
    const encodec_model *model;
    ecl_ecdc_geometry g;
    int width, channels, hop, max_codebooks;
    size_t full_seg_frames;

    uint8_t *header;      /* [MAX_HEADER] */
    size_t header_have, header_need;
    encodec_ecdc_info info;
    int have_info;
    int live, tail;       /* as in the writer */

    int state;
    ecl_bitreader bits;
    uint8_t field[LIVE_LENGTH_BYTES];
    int field_have;
    int k;                /* next code of the frame being read */
    size_t seg, n_segments, seg_t, seg_frames;
    float scale;
    uint64_t frames;      /* frames read */
    int last_sync;

    int32_t *batch;       /* [batch_cap][max_codebooks] frames read, not yet decoded */
    float *batch_scales;
    size_t batch_n, batch_cap;

    /* entropy-coded payload (set up when the header says so) */
    ecl_lm_source lm;
    int lm_ready;
    ecl_ac_decoder ac;
    int32_t *cdfs;        /* [n_codebooks][bins] of the frame under way */
    int cdfs_ready;
    int32_t *prev;        /* [n_codebooks]: the previous frame's codes, the LM's input */

    /* output of the current call */
    float *pcm;
    size_t pcm_got, pcm_max;
    int partial;          /* stop before a frame the output cannot take (else: error) */
    uint64_t out_total;   /* samples per channel handed out */
    int finished, error;
};

int encodec_ecdc_reader_create(encodec_decoder *dec, encodec_ecdc_reader **out)
{
    if (!out)
        return ENCODEC_EINVAL;
    *out = NULL;
    if (!dec)
        return ENCODEC_EINVAL;
    encodec_ecdc_reader *r = calloc(1, sizeof *r);
    if (!r)
        return ENCODEC_ENOMEM;
    r->dec = dec;
    r->model = ecl_decoder_model(dec);
    ecl_ecdc_model_geometry(r->model, &r->g);
    r->width = code_width(r->g.bins);
    r->channels = encodec_model_channels(r->model);
    r->hop = encodec_model_hop_length(r->model);
    r->max_codebooks = encodec_model_max_codebooks(r->model);
    if (r->g.segment_length)
        r->full_seg_frames = ecl_ecdc_segment_frames(&r->g, r->g.segment_length, 0);
    /* a segment per decoder push for segmented models (it decodes whole segments anyway) */
    r->batch_cap = r->full_seg_frames ? r->full_seg_frames : 64;
    r->header = malloc(MAX_HEADER);
    r->batch = malloc(r->batch_cap * (size_t)r->max_codebooks * sizeof *r->batch);
    r->batch_scales = malloc(r->batch_cap * sizeof *r->batch_scales);
    if (!r->header || !r->batch || !r->batch_scales) {
        encodec_ecdc_reader_free(r);
        return ENCODEC_ENOMEM;
    }
    r->header_need = ECL_ECDC_FIXED_HEADER;
    r->state = R_HEADER;
    encodec_decoder_reset(dec);
    encodec_decoder_set_audio_length(dec, 0); /* set from the header */
    *out = r;
    return ENCODEC_OK;
}

void encodec_ecdc_reader_free(encodec_ecdc_reader *r)
{
    if (!r)
        return;
    free(r->header);
    free(r->batch);
    free(r->batch_scales);
    free(r->cdfs);
    free(r->prev);
    if (r->lm_ready)
        ecl_lm_source_free(&r->lm);
    free(r);
}

int encodec_ecdc_reader_info(const encodec_ecdc_reader *r, encodec_ecdc_info *info)
{
    if (!r || !info)
        return ENCODEC_EINVAL;
    if (!r->have_info)
        return r->error ? r->error : ENCODEC_EECDC_TRUNCATED;
    *info = r->info;
    return ENCODEC_OK;
}

size_t encodec_ecdc_reader_max_samples(const encodec_ecdc_reader *r, size_t n_bytes)
{
    if (!r || r->finished || r->error || r->state == R_DONE || n_bytes == 0)
        return 0;
    /* bytes that are still header cannot complete a frame */
    size_t header_left = 0;
    if (r->state == R_HEADER)
        header_left = r->header_need - r->header_have + (r->header_have < 9 ? 2 : 0);
    if (n_bytes <= header_left)
        return 0;
    if (n_bytes - header_left > ((size_t)1 << 40))
        return SIZE_MAX; /* beyond any stream's audio */
    if (r->have_info && r->info.use_lm) {
        /* a frame can take less than a bit: only the rest of the stream bounds the audio */
        const uint64_t total = ecl_ecdc_total_frames(&r->g, r->info.audio_length);
        const uint64_t left = total > r->frames ? total - r->frames : 0;
        return encodec_decoder_max_samples(r->dec, (size_t)left + r->batch_n);
    }
    /* every frame but the one under way needs all its bits from the new bytes */
    const uint64_t K = r->have_info ? (uint64_t)r->info.n_codebooks : 1;
    const uint64_t frame_bits = (uint64_t)r->width * K;
    const uint64_t frames = (uint64_t)(n_bytes - header_left) * 8 / frame_bits + 1;
    return encodec_decoder_max_samples(r->dec, (size_t)frames);
}

/* Hand decoded samples to the caller, trimmed to the length once it is known. */
static void reader_emit(encodec_ecdc_reader *r, size_t n)
{
    if (r->live && !r->tail) { /* before the end mark everything lies inside the audio */
        r->pcm_got += n;
        r->out_total += n;
        return;
    }
    const uint64_t al = r->info.audio_length;
    const uint64_t left = al > r->out_total ? al - r->out_total : 0;
    const size_t keep = (uint64_t)n < left ? n : (size_t)left;
    r->pcm_got += keep;
    r->out_total += keep;
}

/* Decode the batched frames. */
static int reader_decode(encodec_ecdc_reader *r)
{
    if (r->batch_n == 0)
        return ENCODEC_OK;
    size_t n = 0;
    int rc = encodec_decoder_push(r->dec, r->batch, r->g.has_scale ? r->batch_scales : NULL,
                                  r->batch_n, r->info.n_codebooks,
                                  r->pcm + r->pcm_got * (size_t)r->channels,
                                  r->pcm_max - r->pcm_got, &n);
    /* the codes of a frame under way move to the front with it */
    const size_t K = (size_t)r->info.n_codebooks;
    memmove(r->batch, r->batch + r->batch_n * K, (size_t)r->k * sizeof *r->batch);
    r->batch_n = 0;
    if (rc < 0)
        return rc;
    reader_emit(r, n);
    return ENCODEC_OK;
}

#define OUTPUT_FULL 1 /* reader_run: the output cannot take the next frame's audio */

/* Room in the output for the batch plus `extra` frames, counting all the audio the decoder may
 * still give (its flush included); the batch is decoded first when that makes room.
 * ENCODEC_OK, OUTPUT_FULL, or an error. */
static int reader_room(encodec_ecdc_reader *r, size_t extra)
{
    /* a full push was checked against its bound, which only counts frames that complete */
    if (!r->partial)
        return ENCODEC_OK;
    if (encodec_decoder_max_samples(r->dec, r->batch_n + extra) <= r->pcm_max - r->pcm_got)
        return ENCODEC_OK;
    if (r->batch_n == 0)
        return OUTPUT_FULL;
    int rc = reader_decode(r);
    if (rc < 0)
        return rc;
    return encodec_decoder_max_samples(r->dec, extra) <= r->pcm_max - r->pcm_got ? ENCODEC_OK
                                                                                  : OUTPUT_FULL;
}

/* Every frame is in: the rest of the audio is final. */
static int reader_complete(encodec_ecdc_reader *r)
{
    int rc = reader_decode(r);
    size_t n = 0;
    if (rc == ENCODEC_OK && r->frames > 0) {
        rc = encodec_decoder_flush(r->dec, r->pcm + r->pcm_got * (size_t)r->channels,
                                   r->pcm_max - r->pcm_got, &n);
        if (rc == ENCODEC_OK)
            reader_emit(r, n);
    }
    r->state = R_DONE;
    return rc;
}

/* A live header: the reference's keys with "al": 0, and "live": true. */
static int parse_live_metadata(const char *text, size_t len, encodec_ecdc_info *info)
{
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!root)
        return ENCODEC_EECDC_HEADER;
    int rc = ENCODEC_EECDC_HEADER;
    for (; end && end < text + len; end++)
        if (*end != ' ' && *end != '\t' && *end != '\n' && *end != '\r')
            goto out;
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(root, "m");
    const cJSON *al = cJSON_GetObjectItemCaseSensitive(root, "al");
    const cJSON *nc = cJSON_GetObjectItemCaseSensitive(root, "nc");
    const cJSON *lm = cJSON_GetObjectItemCaseSensitive(root, "lm");
    const cJSON *live = cJSON_GetObjectItemCaseSensitive(root, "live");
    if (!cJSON_IsObject(root) || !cJSON_IsTrue(live) || !cJSON_IsNumber(al) ||
        al->valuedouble != 0.0 || !cJSON_IsString(m) || !m->valuestring ||
        strlen(m->valuestring) >= sizeof info->model_name || !cJSON_IsNumber(nc) ||
        !(nc->valuedouble >= 1 && nc->valuedouble <= INT_MAX) ||
        floor(nc->valuedouble) != nc->valuedouble || !cJSON_IsBool(lm))
        goto out;
    memset(info, 0, sizeof *info);
    strcpy(info->model_name, m->valuestring);
    info->audio_length = 0; /* unknown until the end of the stream */
    info->n_codebooks = (int)nc->valuedouble;
    info->use_lm = cJSON_IsTrue(lm);
    info->header_size = ECL_ECDC_FIXED_HEADER + len;
    rc = ENCODEC_OK;
out:
    cJSON_Delete(root);
    return rc;
}

/* Set up the segment r->seg of the known-length layout (frames from r->seg_t on). */
static void reader_segment(encodec_ecdc_reader *r)
{
    if (r->seg >= r->n_segments) {
        r->state = R_SEGMENT; /* leads to the end */
        return;
    }
    r->seg_frames = ecl_ecdc_segment_frames(&r->g, r->info.audio_length, r->seg);
    ecl_bitreader_align(&r->bits);
    ecl_ac_decoder_init(&r->ac);
    r->cdfs_ready = 0;
    r->scale = 1.0f;
    r->field_have = 0;
    r->state = r->g.has_scale && r->seg_t == 0 ? R_SCALE : R_FRAME;
    if (r->seg_t >= r->seg_frames) { /* nothing of it left to read */
        r->seg++;
        r->seg_t = 0;
        r->state = R_SEGMENT;
    }
}

/* An entropy-coded stream: the LM source and the coder's buffers (live streams are defined
 * for bit-packed payloads only). */
static int reader_lm_start(encodec_ecdc_reader *r, const encodec_ecdc_info *info)
{
    if (r->live)
        return ENCODEC_EUNSUPPORTED;
    int rc = ecl_lm_source_init(&r->lm, r->model, info->n_codebooks,
                                encodec_decoder_kernels(r->dec), ecl_decoder_threads(r->dec),
                                NULL, 0);
    if (rc < 0)
        return rc;
    r->lm_ready = 1;
    r->cdfs = malloc((size_t)info->n_codebooks * (size_t)r->g.bins * sizeof *r->cdfs);
    r->prev = malloc((size_t)info->n_codebooks * sizeof *r->prev);
    return r->cdfs && r->prev ? ENCODEC_OK : ENCODEC_ENOMEM;
}

/* Header bytes; 1 once it is complete and accepted, 0 for more input, or an error. */
static int reader_header(encodec_ecdc_reader *r, const uint8_t *data, size_t len, size_t *pos)
{
    for (;;) {
        size_t n = r->header_need - r->header_have;
        if (n > len - *pos)
            n = len - *pos;
        if (n)
            memcpy(r->header + r->header_have, data + *pos, n);
        r->header_have += n;
        *pos += n;
        encodec_ecdc_info info;
        int rc = ecl_ecdc_parse_header(r->header, r->header_have, &info);
        if (rc == ENCODEC_EECDC_TRUNCATED) {
            if (r->header_have < r->header_need)
                return 0;
            /* the fixed part is in (and was checked): now the metadata length is known */
            r->header_need = ECL_ECDC_FIXED_HEADER + (size_t)get_be(r->header + 5, 4);
            continue;
        }
        if (rc == ENCODEC_EECDC_HEADER &&
            parse_live_metadata((const char *)r->header + ECL_ECDC_FIXED_HEADER,
                                r->header_have - ECL_ECDC_FIXED_HEADER, &info) == ENCODEC_OK) {
            r->live = 1;
            rc = ENCODEC_OK;
        }
        if (rc < 0)
            return rc;
        /* the checks encodec_decompress makes, in its order */
        if (strcmp(info.model_name, encodec_model_name(r->model)) != 0 ||
            info.n_codebooks > r->max_codebooks)
            return ENCODEC_EECDC_MODEL;
        if (info.use_lm && (rc = reader_lm_start(r, &info)) < 0)
            return rc;
        r->info = info;
        r->have_info = 1;
        encodec_decoder_set_audio_length(r->dec, info.audio_length); /* 0 while live */
        if (r->live) {
            r->state = r->g.segment_length ? R_SCALE : R_FLAG;
            r->seg_frames = r->full_seg_frames;
        } else {
            r->n_segments = ecl_ecdc_n_segments(&r->g, info.audio_length);
            reader_segment(r);
        }
        return 1;
    }
}

/* Bytes of a byte-aligned field; 1 when all `need` are in. */
static int take_field(encodec_ecdc_reader *r, int need, const uint8_t *data, size_t len,
                      size_t *pos)
{
    while (r->field_have < need && *pos < len)
        r->field[r->field_have++] = data[(*pos)++];
    return r->field_have == need;
}

/* Bits from the input: 1 and *v, or 0 when the input ran out (progress is kept). */
static int take_bits(encodec_ecdc_reader *r, int width, uint32_t *v, const uint8_t *data,
                     size_t len, size_t *pos)
{
    ecl_bitreader_feed(&r->bits, data + *pos, len - *pos);
    int got = ecl_bitreader_read(&r->bits, width, v);
    *pos += r->bits.pos;
    ecl_bitreader_feed(&r->bits, NULL, 0);
    return got;
}

/* The final length of a live stream: check it against what was read, then continue in the
 * known-length layout. */
static int reader_live_end(encodec_ecdc_reader *r, uint64_t al)
{
    if (al > ECL_ECDC_MAX_AUDIO_LENGTH)
        return ENCODEC_EECDC_HEADER;
    if (r->g.segment_length == 0) {
        if (r->frames * (uint64_t)r->hop > al)
            return ENCODEC_EECDC_HEADER;
    } else if (r->seg > 0 &&
               (r->seg - 1) * r->g.segment_stride + r->g.segment_length > al) {
        return ENCODEC_EECDC_HEADER;
    }
    if (r->out_total > al) /* cannot happen after the checks above; audio cannot be recalled */
        return ENCODEC_EECDC_HEADER;
    r->tail = 1;
    r->info.audio_length = al;
    encodec_decoder_set_audio_length(r->dec, al);
    r->n_segments = ecl_ecdc_n_segments(&r->g, al);
    if (r->g.segment_length == 0) {
        r->seg = 0;
        r->seg_t = (size_t)r->frames;
    }
    reader_segment(r);
    return ENCODEC_OK;
}

/* A complete frame: batch it, decode when the batch is full; then what comes next. */
static int reader_frame_done(encodec_ecdc_reader *r)
{
    r->batch_scales[r->batch_n++] = r->scale;
    r->frames++;
    r->k = 0;
    if (r->batch_n == r->batch_cap) {
        int rc = reader_decode(r);
        if (rc < 0)
            return rc;
    }
    if (r->live && !r->tail && r->g.segment_length == 0) {
        r->last_sync = 0;
        r->state = R_FLAG;
    } else if (++r->seg_t == r->seg_frames) {
        r->seg++;
        r->seg_t = 0;
        if (r->live && !r->tail) {
            ecl_bitreader_align(&r->bits);
            r->field_have = 0;
            r->state = R_SCALE;
        } else {
            reader_segment(r);
        }
    }
    return ENCODEC_OK;
}

/* The codes of the frame under way, bit-packed: 1 when complete, 0 when the input ran out. */
static int read_packed(encodec_ecdc_reader *r, int32_t *codes, const uint8_t *data, size_t len,
                       size_t *pos)
{
    uint32_t v;
    for (; r->k < r->info.n_codebooks; r->k++) {
        int rc = take_bits(r, r->width, &v, data, len, pos);
        if (rc <= 0)
            return rc;
        codes[r->k] = (int32_t)v;
    }
    return 1;
}

/* The same, entropy-coded: the LM gives the frame's CDFs once, then symbol after symbol. */
static int read_coded(encodec_ecdc_reader *r, int32_t *codes, const uint8_t *data, size_t len,
                      size_t *pos)
{
    const int K = r->info.n_codebooks;
    if (!r->cdfs_ready) {
        int rc = ecl_lm_source_frame_cdfs(&r->lm, (int)r->seg, r->seg_t,
                                          r->seg_t ? r->prev : NULL, K, r->cdfs);
        if (rc < 0)
            return rc;
        r->cdfs_ready = 1;
    }
    ecl_bitreader_feed(&r->bits, data + *pos, len - *pos);
    const int rc = ecl_ac_decode_frame(&r->ac, &r->bits, r->cdfs, r->g.bins, codes, K, &r->k);
    *pos += r->bits.pos;
    ecl_bitreader_feed(&r->bits, NULL, 0);
    if (rc <= 0)
        return rc;
    memcpy(r->prev, codes, (size_t)K * sizeof *codes);
    r->cdfs_ready = 0;
    return 1;
}

/* Consume a prefix of data[0, len) (*pos counts the bytes): every complete frame is batched or
 * decoded. ENCODEC_OK when all was consumed, OUTPUT_FULL when the output cannot take the next
 * frame, or an error. */
static int reader_run(encodec_ecdc_reader *r, const uint8_t *data, size_t len, size_t *pos)
{
    uint32_t v;
    int rc = ENCODEC_OK;
    for (;;) {
        if (rc != ENCODEC_OK)
            return rc;
        switch (r->state) {
        case R_HEADER:
            rc = reader_header(r, data, len, pos);
            if (rc <= 0)
                return rc;
            rc = ENCODEC_OK;
            break;
        case R_SEGMENT:
            if (r->seg < r->n_segments) {
                reader_segment(r);
                break;
            }
            if ((rc = reader_room(r, 0)) == ENCODEC_OK)
                rc = reader_complete(r);
            break;
        case R_SCALE:
            if (!take_field(r, 4, data, len, pos))
                return ENCODEC_OK;
            r->field_have = 0;
            v = (uint32_t)get_be(r->field, 4);
            if (r->live && !r->tail && v == LIVE_END_MARK) {
                r->state = R_LENGTH;
                break;
            }
            memcpy(&r->scale, &v, sizeof v);
            if (!(r->scale > 0.0f) || !isfinite(r->scale))
                return ENCODEC_EECDC_CORRUPT; /* the decoder could not use it */
            r->state = R_FRAME;
            break;
        case R_FLAG:
            if ((rc = take_bits(r, 1, &v, data, len, pos)) <= 0)
                return rc;
            rc = ENCODEC_OK;
            if (v) {
                r->state = R_FRAME;
                break;
            }
            ecl_bitreader_align(&r->bits); /* a sync; after another one, the end */
            if (r->last_sync) {
                r->field_have = 0;
                r->state = R_LENGTH;
            }
            r->last_sync = 1;
            break;
        case R_FRAME: {
            /* partial: checked on every call, as the frame's audio goes out in the call that
             * completes it */
            if ((rc = reader_room(r, 1)) != ENCODEC_OK)
                break;
            int32_t *codes = r->batch + r->batch_n * (size_t)r->info.n_codebooks;
            rc = r->info.use_lm ? read_coded(r, codes, data, len, pos)
                                : read_packed(r, codes, data, len, pos);
            if (rc <= 0)
                return rc;
            rc = reader_frame_done(r);
            break;
        }
        case R_LENGTH:
            if (!take_field(r, LIVE_LENGTH_BYTES, data, len, pos))
                return ENCODEC_OK;
            r->field_have = 0;
            rc = reader_live_end(r, get_be(r->field, LIVE_LENGTH_BYTES));
            break;
        case R_DONE:
            return *pos < len ? ENCODEC_EECDC_TRAILING : ENCODEC_OK;
        default:
            return ENCODEC_EINVAL;
        }
    }
}

/* Decode from data[0, len) into pcm as far as it takes; *consumed bytes were used. */
static int reader_decode_some(encodec_ecdc_reader *r, const uint8_t *data, size_t len,
                              size_t *consumed, float *pcm, size_t max_samples, size_t *n_samples,
                              int partial)
{
    r->partial = partial;
    r->pcm = pcm;
    r->pcm_got = 0;
    r->pcm_max = max_samples;
    size_t pos = 0;
    int rc = reader_run(r, data, len, &pos);
    if (rc >= 0)
        rc = reader_decode(r); /* frames read so far are final: their audio goes out now */
    r->pcm = NULL;
    *consumed = pos;
    *n_samples = r->pcm_got;
    return rc;
}

static int reader_check(const encodec_ecdc_reader *r, const uint8_t *data, size_t len,
                        const float *pcm, size_t max_samples, const size_t *n_samples)
{
    if (!r || !n_samples || (!data && len) || (!pcm && max_samples))
        return ENCODEC_EINVAL;
    if (r->finished)
        return ENCODEC_ESTATE;
    return r->error;
}

int encodec_ecdc_reader_push(encodec_ecdc_reader *r, const uint8_t *data, size_t len,
                             float *pcm, size_t max_samples, size_t *n_samples)
{
    if (n_samples)
        *n_samples = 0;
    int rc = reader_check(r, data, len, pcm, max_samples, n_samples);
    if (rc < 0)
        return rc;
    if (max_samples < encodec_ecdc_reader_max_samples(r, len))
        return ENCODEC_EBUFFER;
    if (len == 0)
        return ENCODEC_OK;
    size_t consumed = 0, n = 0;
    /* (only an LM stream whose header came in this push can outgrow the bound: the decoder
     * then refuses the frames, ENCODEC_EBUFFER) */
    rc = reader_decode_some(r, data, len, &consumed, pcm, max_samples, &n, 0);
    if (rc < 0) {
        r->error = rc;
        return rc;
    }
    *n_samples = n;
    return ENCODEC_OK;
}

int encodec_ecdc_reader_push_partial(encodec_ecdc_reader *r, const uint8_t *data, size_t len,
                                     size_t *consumed, float *pcm, size_t max_samples,
                                     size_t *n_samples)
{
    if (n_samples)
        *n_samples = 0;
    if (consumed)
        *consumed = 0;
    int rc = reader_check(r, data, len, pcm, max_samples, n_samples);
    if (rc == ENCODEC_OK && !consumed)
        rc = ENCODEC_EINVAL;
    if (rc < 0)
        return rc;
    if (max_samples < encodec_ecdc_reader_min_samples(r))
        return ENCODEC_EBUFFER;
    if (len == 0)
        return ENCODEC_OK;
    rc = reader_decode_some(r, data, len, consumed, pcm, max_samples, n_samples, 1);
    if (rc == OUTPUT_FULL)
        rc = ENCODEC_OK;
    if (rc == ENCODEC_OK && *consumed == 0 && *n_samples == 0)
        rc = ENCODEC_EBUFFER; /* no progress: cannot happen with min_samples of room */
    if (rc < 0) {
        *consumed = 0;
        *n_samples = 0;
        r->error = rc;
    }
    return rc;
}

size_t encodec_ecdc_reader_min_samples(const encodec_ecdc_reader *r)
{
    if (!r)
        return 0;
    /* a frame and the frames the decoder holds back (its delays, in frames) */
    size_t startup = 0, steady = 0;
    encodec_decoder_latency(r->dec, &startup, &steady);
    return (startup + steady + 1) * (size_t)r->hop;
}

int encodec_ecdc_reader_finish(encodec_ecdc_reader *r, float *pcm, size_t max_samples,
                               size_t *n_samples)
{
    if (n_samples)
        *n_samples = 0;
    if (!r || !n_samples || (!pcm && max_samples))
        return ENCODEC_EINVAL;
    r->finished = 1;
    if (r->error)
        return r->error;
    /* the last push already handed out all audio of a complete stream */
    if (r->state != R_DONE)
        r->error = ENCODEC_EECDC_TRUNCATED;
    return r->error;
}
