/* Progressive compression: audio is read in blocks, mixed to the model's channels, resampled
 * with libsoxr's streaming API and pushed into an encodec_ecdc_writer whose bytes go out at
 * once, so memory stays bounded whatever the length.
 *  - Raw PCM on a pipe (`arecord ... | encodec --raw - -`): a live stream (length unknown until
 *    the end); its final length is the one the whole-file path gives, ceil(n * rate / old rate).
 *  - Audio files whose length the header states exactly (WAV, W64, RF64, AIFF, CAF): a stream
 *    of known length, byte for byte the whole-file path's .ecdc (with --lm too: the LM codes
 *    the frames as they come). Should the file hold another
 *    number of frames than its header says, the output is dropped and the caller falls back
 *    to the whole-file path. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sndfile.h>
#include <soxr.h>

#include "atomic_output.h"
#include "commands.h"
#include "model_path.h"
#include "diag.h"
#include "encodec.h"
#include "progress.h"
#include "raw_pcm.h"

#define READ_BLOCK 65536
#define FILE_BLOCK 16384 /* frames per read from an audio file */

typedef struct {
    float *p;
    size_t frames, cap; /* frames of `channels` samples */
    int channels;
} fbuf;

static int fbuf_reserve(fbuf *b, size_t frames)
{
    if (frames <= b->cap)
        return 0;
    float *p = realloc(b->p, frames * (size_t)b->channels * sizeof *p);
    if (!p)
        return -1;
    b->p = p;
    b->cap = frames;
    return 0;
}

typedef struct {
    const cli_options *o;
    const char *in_name;
    encodec_ecdc_writer *writer;
    out_stream out;
    int out_open;
    int model_ch;
    fbuf stereo;            /* mono repeated for a stereo model */
    unsigned char *bytes;   /* .ecdc bytes of one push */
    size_t bytes_cap;
    uint64_t pushed;        /* frames pushed into the writer */
    uint64_t limit;         /* frames the stream will have (known length), else 0 */
} job;

/* Where the samples come from: raw PCM on stdin (head: bytes read so far), or a file read by
 * libsndfile. */
typedef struct {
    int channels, rate;
    byte_buf *head;
    unsigned char *block;
    int raw_format;
    SNDFILE *sf;
    uint64_t announced; /* the file header's frame count */
} source;

/* Push frames (mix channels: 1, or model_ch) into the writer and write out its bytes. */
static int push(job *j, const float *pcm, size_t frames, int channels)
{
    if (j->limit && frames > j->limit - j->pushed)
        frames = (size_t)(j->limit - j->pushed); /* the resampler's last samples past the end */
    if (frames == 0)
        return 0;
    if (channels == 1 && j->model_ch == 2) {
        if (fbuf_reserve(&j->stereo, frames) != 0)
            goto oom;
        for (size_t t = 0; t < frames; t++)
            j->stereo.p[2 * t] = j->stereo.p[2 * t + 1] = pcm[t];
        pcm = j->stereo.p;
    }
    size_t need = encodec_ecdc_writer_max_bytes(j->writer, frames);
    if (need > j->bytes_cap) {
        unsigned char *p = realloc(j->bytes, need);
        if (!p)
            goto oom;
        j->bytes = p;
        j->bytes_cap = need;
    }
    size_t len = 0;
    int err = encodec_ecdc_writer_push(j->writer, pcm, frames, j->bytes, j->bytes_cap, &len);
    if (err != ENCODEC_OK) {
        diag_error(j->in_name, "encoding failed: %s", encodec_strerror(err));
        return -1;
    }
    j->pushed += frames;
    return output_append(&j->out, j->bytes, len);
oom:
    diag_error(NULL, "out of memory");
    return -1;
}

/* Run the resampler on n frames (in NULL: end of input) and append its output to res. */
static int resample(soxr_t soxr, const float *in, size_t n, fbuf *res, const char *name)
{
    res->frames = 0;
    for (;;) {
        if (fbuf_reserve(res, res->frames + n * 4 + 4096) != 0) {
            diag_error(NULL, "out of memory");
            return -1;
        }
        size_t idone = 0, odone = 0;
        soxr_error_t e = soxr_process(soxr, in, in ? n : 0, &idone, res->p +
                                      res->frames * (size_t)res->channels,
                                      res->cap - res->frames, &odone);
        if (e) {
            diag_error(name, "resampling failed: %s", e);
            return -1;
        }
        res->frames += odone;
        if (in) {
            in += idone * (size_t)res->channels;
            n -= idone;
            if (n == 0)
                return 0;
        } else if (odone == 0) {
            return 0; /* drained */
        }
    }
}

/* The next block of frames into in (source channels): the count, 0 at the end, -1 on an error
 * (printed). */
static long source_read(job *j, source *src, fbuf *in, uint64_t done)
{
    if (src->sf) {
        if (fbuf_reserve(in, FILE_BLOCK) != 0)
            goto oom;
        const sf_count_t got = sf_readf_float(src->sf, in->p, FILE_BLOCK);
        if (got > 0)
            return (long)got;
        const int err = sf_error(src->sf);
        if (err != SF_ERR_NO_ERROR && done == 0) {
            diag_error(j->in_name, "cannot decode the audio (%s)", sf_error_number(err));
            return -1;
        }
        return 0;
    }
    const size_t frame_bytes = raw_sample_bytes(src->raw_format) * (size_t)src->channels;
    byte_buf *head = src->head;
    for (;;) {
        const size_t frames = head->size / frame_bytes;
        if (frames) {
            if (fbuf_reserve(in, frames) != 0)
                goto oom;
            raw_to_float(src->raw_format, head->data, frames * (size_t)src->channels, in->p);
            const size_t used = frames * frame_bytes;
            memmove(head->data, head->data + used, head->size - used);
            head->size -= used;
            return (long)frames;
        }
        const long got = input_read_some(STDIN_FILENO, src->block, READ_BLOCK);
        if (got < 0) {
            diag_error(j->in_name, "cannot read input: %s", strerror(errno));
            return -1;
        }
        if (got == 0) {
            if (head->size)
                diag_warn(j->in_name, "ignoring %zu bytes at the end (not a whole %s sample "
                          "frame of %d channels)", head->size,
                          raw_format_name(src->raw_format), src->channels);
            return 0;
        }
        if (byte_buf_append(head, src->block, (size_t)got) != 0)
            goto oom;
    }
oom:
    diag_error(NULL, "out of memory");
    return -1;
}

/* The whole job for a source. Returns 0, 1 (failed, reported), or STREAM_FALLBACK (nothing
 * written, nothing reported: use the whole-file path). */
static int compress_source(const cli_options *o, source *src, const char *in_name)
{
    job j;
    memset(&j, 0, sizeof j);
    j.o = o;
    j.in_name = in_name;
    encodec_model *m = NULL;
    encodec_encoder *enc = NULL;
    soxr_t soxr = NULL;
    fbuf in = {0}, mix = {0}, res = {0};
    int status = 1;
    char label[160];
    const char *a = strrchr(in_name, '/'), *out_name = diag_name(o->output, 1);
    const char *b = strrchr(out_name, '/');
    snprintf(label, sizeof label, "%s -> %s", a ? a + 1 : in_name, b ? b + 1 : out_name);
    progress_begin(!o->quiet, label);
    progress_stage("loading", 0, 0.05);
    m = open_compress_model(o, j.in_name);
    if (!m)
        goto done;
    if (o->lm && !encodec_model_has_lm(m) &&
        model_attach_lm(m, o->model_file, o->lm_file, "--lm") != 0)
        goto done;
    const int rate = encodec_model_sample_rate(m);
    const int in_rate = src->rate ? src->rate : rate;
    const int in_ch = src->channels ? src->channels : encodec_model_channels(m);
    src->channels = in_ch;
    j.model_ch = encodec_model_channels(m);
    if (in_ch != j.model_ch && j.model_ch != 1 && !(j.model_ch == 2 && in_ch == 1)) {
        diag_error(j.in_name, "has %d channels; only mono or stereo audio can be converted to "
                   "the model's %d channels", in_ch, j.model_ch);
        goto done;
    }
    /* mean to mono before resampling, repeat to stereo after, as the whole-file path */
    const int mix_ch = j.model_ch == 1 ? 1 : in_ch;
    in.channels = in_ch;
    mix.channels = res.channels = mix_ch;
    j.stereo.channels = 2;
    /* ceil(n * rate / old rate) for n frames */
#define RESAMPLED(n) (((uint64_t)(n) * (uint64_t)rate + (uint64_t)in_rate - 1) / (uint64_t)in_rate)
    j.limit = src->sf ? RESAMPLED(src->announced) : 0;

    if (o->lm && j.limit == 0) {
        status = STREAM_FALLBACK; /* LM-coded streams need their length up front */
        goto done;
    }
    int err = encodec_encoder_create(m, &enc);
    if (err == ENCODEC_OK)
        err = encodec_encoder_set_bandwidth(enc, o->bandwidth);
    if (err == ENCODEC_OK)
        err = encodec_encoder_set_threads(enc, o->threads);
    if (err == ENCODEC_OK)
        err = encodec_ecdc_writer_create(enc, j.limit, o->lm, &j.writer);
    if (err == ENCODEC_EUNSUPPORTED && o->lm) { /* as the whole-file path says it */
        diag_error(j.in_name, "--lm: entropy coding is not supported with model \"%s\" in "
                   "this version of libencodec", encodec_model_name(m));
        goto done;
    }
    if (err != ENCODEC_OK) {
        diag_error(j.in_name, "cannot encode with model \"%s\": %s", encodec_model_name(m),
                   encodec_strerror(err));
        goto done;
    }
    if (in_rate != rate) {
        soxr_error_t e = NULL;
        soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I);
        soxr_quality_spec_t q = soxr_quality_spec(SOXR_VHQ, 0);
        soxr = soxr_create((double)in_rate, (double)rate, (unsigned)mix_ch, &e, &io, &q, NULL);
        if (!soxr) {
            diag_error(j.in_name, "resampling from %d Hz to %d Hz failed: %s", in_rate, rate,
                       e ? e : "unknown error");
            goto done;
        }
    }
    if (output_open(&j.out, o->output, o->force) != 0)
        goto done;
    j.out_open = 1;
    progress_stage("streaming", 0.05, 1.0);
    if (src->sf)
        progress_set_audio_seconds((double)src->announced / in_rate);

    uint64_t total_in = 0;
    for (;;) {
        const long n = source_read(&j, src, &in, total_in);
        if (n < 0)
            goto done;
        if (n == 0)
            break;
        const size_t frames = (size_t)n;
        if (src->sf && total_in + frames > src->announced) {
            status = STREAM_FALLBACK;
            goto done;
        }
        const float *x = in.p;
        if (mix_ch == 1 && in_ch > 1) {
            if (fbuf_reserve(&mix, frames) != 0) {
                diag_error(NULL, "out of memory");
                goto done;
            }
            for (size_t t = 0; t < frames; t++) {
                float s = 0;
                for (int c = 0; c < in_ch; c++)
                    s += in.p[t * (size_t)in_ch + (size_t)c];
                mix.p[t] = s / (float)in_ch;
            }
            x = mix.p;
        }
        total_in += frames;
        if (soxr) {
            if (resample(soxr, x, frames, &res, j.in_name) != 0 ||
                push(&j, res.p, res.frames, mix_ch) != 0)
                goto done;
        } else if (push(&j, x, frames, mix_ch) != 0) {
            goto done;
        }
    }
    if (src->sf && total_in != src->announced) {
        status = STREAM_FALLBACK; /* fewer frames than the header says */
        goto done;
    }
    if (total_in == 0) {
        diag_error(j.in_name, "audio is empty (no samples)");
        goto done;
    }
    if (soxr) { /* drain, then cut or pad to ceil(n * rate / old rate) */
        const uint64_t want = RESAMPLED(total_in);
        if (resample(soxr, NULL, 0, &res, j.in_name) != 0)
            goto done;
        size_t left = want > j.pushed ? (size_t)(want - j.pushed) : 0;
        if (fbuf_reserve(&res, left) != 0) {
            diag_error(NULL, "out of memory");
            goto done;
        }
        if (res.frames < left)
            memset(res.p + res.frames * (size_t)mix_ch, 0,
                   (left - res.frames) * (size_t)mix_ch * sizeof(float));
        if (push(&j, res.p, left, mix_ch) != 0)
            goto done;
    }
#undef RESAMPLED
    size_t need = encodec_ecdc_writer_max_bytes(j.writer, 0), len = 0;
    if (need > j.bytes_cap) {
        unsigned char *p = realloc(j.bytes, need);
        if (!p) {
            diag_error(NULL, "out of memory");
            goto done;
        }
        j.bytes = p;
        j.bytes_cap = need;
    }
    err = encodec_ecdc_writer_finish(j.writer, j.bytes, j.bytes_cap, &len);
    if (err != ENCODEC_OK) {
        diag_error(j.in_name, "encoding failed: %s", encodec_strerror(err));
        goto done;
    }
    if (output_append(&j.out, j.bytes, len) != 0)
        goto done;
    progress_set_audio_seconds((double)j.pushed / rate);
    j.out_open = 0;
    status = output_commit(&j.out) == 0 ? 0 : 1;
done:
    progress_end(status == 0);
    if (j.out_open)
        output_abort(&j.out);
    if (soxr)
        soxr_delete(soxr);
    encodec_ecdc_writer_free(j.writer);
    encodec_encoder_free(enc);
    encodec_model_free(m);
    free(in.p);
    free(mix.p);
    free(res.p);
    free(j.stereo.p);
    free(j.bytes);
    return status;
}

int run_compress_stream(const cli_options *o, byte_buf *head)
{
    source src;
    memset(&src, 0, sizeof src);
    src.head = head;
    src.raw_format = o->raw_format;
    src.rate = o->raw_rate;
    src.channels = o->raw_channels;
    src.block = malloc(READ_BLOCK);
    if (!src.block) {
        diag_error(NULL, "out of memory");
        return 1;
    }
    const int status = compress_source(o, &src, diag_name("-", 0));
    free(src.block);
    return status == 0 ? 0 : 1;
}

int run_compress_file_stream(const cli_options *o)
{
    SF_INFO info;
    memset(&info, 0, sizeof info);
    SNDFILE *sf = sf_open(o->input, SFM_READ, &info);
    if (!sf)
        return STREAM_FALLBACK; /* the whole-file path reports why */
    /* Containers of uncompressed audio, whose frame count is exact. */
    const int major = info.format & SF_FORMAT_TYPEMASK;
    const int exact = major == SF_FORMAT_WAV || major == SF_FORMAT_WAVEX ||
                      major == SF_FORMAT_W64 || major == SF_FORMAT_RF64 ||
                      major == SF_FORMAT_AIFF || major == SF_FORMAT_CAF;
    int status = STREAM_FALLBACK;
    if (exact && info.frames > 0 && info.channels >= 1 && info.samplerate >= 1) {
        source src;
        memset(&src, 0, sizeof src);
        src.sf = sf;
        src.channels = info.channels;
        src.rate = info.samplerate;
        src.announced = (uint64_t)info.frames;
        status = compress_source(o, &src, diag_name(o->input, 0));
    }
    sf_close(sf);
    return status;
}
