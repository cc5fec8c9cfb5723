/* Audio I/O through libsndfile (virtual I/O on memory buffers, so files and pipes behave the
 * same) and resampling through libsoxr. */
#include "audio_io.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sndfile.h>
#include <soxr.h>

#include "diag.h"
#include "raw_pcm.h"

/* ---- libsndfile virtual I/O over a byte_buf ---------------------------------------------- */

typedef struct {
    byte_buf *buf;          /* for writing */
    const unsigned char *data; /* for reading */
    sf_count_t size, pos;
} vio_ctx;

static sf_count_t vio_len(void *u) { return ((vio_ctx *)u)->size; }

static sf_count_t vio_seek(sf_count_t off, int whence, void *u)
{
    vio_ctx *c = u;
    sf_count_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? c->pos : c->size;
    if (base + off < 0)
        return -1;
    c->pos = base + off;
    return c->pos;
}

static sf_count_t vio_read(void *ptr, sf_count_t count, void *u)
{
    vio_ctx *c = u;
    sf_count_t left = c->pos < c->size ? c->size - c->pos : 0;
    if (count > left)
        count = left;
    if (count > 0)
        memcpy(ptr, c->data + c->pos, (size_t)count);
    c->pos += count;
    return count;
}

static sf_count_t vio_write(const void *ptr, sf_count_t count, void *u)
{
    vio_ctx *c = u;
    byte_buf *b = c->buf;
    size_t end = (size_t)(c->pos + count);
    /* grow, zero-filling any gap left by a seek past the end */
    if (end > b->size && byte_buf_append(b, NULL, end - b->size) != 0)
        return 0;
    memcpy(b->data + c->pos, ptr, (size_t)count);
    c->pos += count;
    if (c->pos > c->size)
        c->size = c->pos;
    c->data = b->data;
    return count;
}

static sf_count_t vio_tell(void *u) { return ((vio_ctx *)u)->pos; }

static SF_VIRTUAL_IO vio = {vio_len, vio_seek, vio_read, vio_write, vio_tell};

/* ---- reading ---------------------------------------------------------------------------- */

static void describe_format(SNDFILE *sf, int format, char *out, size_t size)
{
    SF_FORMAT_INFO major = {.format = format & SF_FORMAT_TYPEMASK};
    SF_FORMAT_INFO sub = {.format = format & SF_FORMAT_SUBMASK};
    const char *mn = sf_command(sf, SFC_GET_FORMAT_INFO, &major, sizeof major) == 0 ? major.name
                                                                                   : "audio";
    const char *sn = sf_command(sf, SFC_GET_FORMAT_INFO, &sub, sizeof sub) == 0 ? sub.name : "";
    snprintf(out, size, "%s%s%s", mn, *sn ? ", " : "", sn);
}

static SNDFILE *open_read(const void *data, size_t size, vio_ctx *ctx, SF_INFO *info)
{
    memset(ctx, 0, sizeof *ctx);
    ctx->data = data;
    ctx->size = (sf_count_t)size;
    memset(info, 0, sizeof *info);
    return sf_open_virtual(&vio, SFM_READ, info, ctx);
}

int audio_probe(const void *data, size_t size, audio_buf *props)
{
    vio_ctx ctx;
    SF_INFO info;
    memset(props, 0, sizeof *props);
    SNDFILE *sf = open_read(data, size, &ctx, &info);
    if (!sf)
        return -1;
    props->frames = info.frames > 0 ? (size_t)info.frames : 0;
    props->channels = info.channels;
    props->rate = info.samplerate;
    describe_format(sf, info.format, props->format, sizeof props->format);
    sf_close(sf);
    return 0;
}

int audio_decode(const char *name, const void *data, size_t size, audio_buf *out)
{
    vio_ctx ctx;
    SF_INFO info;
    memset(out, 0, sizeof *out);
    if (size == 0) {
        diag_error(name, "input file is empty");
        return -1;
    }
    SNDFILE *sf = open_read(data, size, &ctx, &info);
    if (!sf) {
        diag_error(name, "not a supported audio file (%s)", sf_strerror(NULL));
        return -1;
    }
    if (info.channels < 1 || info.samplerate < 1) {
        diag_error(name, "invalid audio: %d channels at %d Hz", info.channels, info.samplerate);
        sf_close(sf);
        return -1;
    }
    describe_format(sf, info.format, out->format, sizeof out->format);
    out->channels = info.channels;
    out->rate = info.samplerate;
    /* Read in blocks until the end rather than trusting info.frames, which some formats only
     * estimate. */
    const size_t ch = (size_t)info.channels;
    /* start from the announced length, but not trusting a damaged header with a huge one */
    size_t cap = info.frames > 0 && info.frames < (1 << 22) ? (size_t)info.frames + 1 : 65536;
    float *pcm = malloc(cap * ch * sizeof *pcm);
    size_t n = 0;
    while (pcm) {
        if (n == cap) {
            float *p = cap < SIZE_MAX / 2 / sizeof(float) / ch ? realloc(pcm, 2 * cap * ch * sizeof *pcm)
                                                               : NULL;
            if (!p) {
                free(pcm);
                pcm = NULL;
                break;
            }
            pcm = p;
            cap *= 2;
        }
        sf_count_t got = sf_readf_float(sf, pcm + n * ch, (sf_count_t)(cap - n));
        if (got <= 0)
            break;
        n += (size_t)got;
    }
    int err = sf_error(sf);
    sf_close(sf);
    if (!pcm) {
        diag_error(name, "out of memory reading the audio");
        return -1;
    }
    if (err != SF_ERR_NO_ERROR && n == 0) {
        diag_error(name, "cannot decode the audio (%s)", sf_error_number(err));
        free(pcm);
        return -1;
    }
    if (n == 0) {
        diag_error(name, "audio is empty (no samples)");
        free(pcm);
        return -1;
    }
    out->pcm = pcm;
    out->frames = n;
    return 0;
}

int audio_decode_raw(const char *name, const void *data, size_t size, int format, int rate,
                     int channels, audio_buf *out)
{
    memset(out, 0, sizeof *out);
    const size_t frame_bytes = raw_sample_bytes(format) * (size_t)channels;
    const size_t frames = size / frame_bytes;
    if (frames == 0) {
        diag_error(name, size ? "audio is empty (less than one sample frame)"
                              : "input file is empty");
        return -1;
    }
    if (size % frame_bytes)
        diag_warn(name, "ignoring %zu bytes at the end (not a whole %s sample frame of %d "
                  "channels)", size % frame_bytes, raw_format_name(format), channels);
    out->pcm = malloc(frames * (size_t)channels * sizeof *out->pcm);
    if (!out->pcm) {
        diag_error(name, "out of memory reading the audio");
        return -1;
    }
    raw_to_float(format, data, frames * (size_t)channels, out->pcm);
    out->frames = frames;
    out->channels = channels;
    out->rate = rate;
    snprintf(out->format, sizeof out->format, "raw %s", raw_format_name(format));
    return 0;
}

/* ---- conversion ------------------------------------------------------------------------- */

static int resample(const char *name, audio_buf *a, int rate)
{
    /* ceil(frames * rate / old), the length the reference's resampler gives */
    const uint64_t want64 = ((uint64_t)a->frames * (uint64_t)rate + (uint64_t)a->rate - 1) /
                            (uint64_t)a->rate;
    const size_t ch = (size_t)a->channels;
    if (want64 == 0 || want64 > SIZE_MAX / sizeof(float) / ch) {
        diag_error(name, "audio too long to resample");
        return -1;
    }
    const size_t want = (size_t)want64;
    float *out = calloc(want * ch, sizeof *out);
    if (!out) {
        diag_error(name, "out of memory resampling the audio");
        return -1;
    }
    soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I);
    soxr_quality_spec_t q = soxr_quality_spec(SOXR_VHQ, 0);
    size_t done = 0;
    soxr_error_t e = soxr_oneshot((double)a->rate, (double)rate, (unsigned)ch, a->pcm, a->frames,
                                  NULL, out, want, &done, &io, &q, NULL);
    if (e) {
        diag_error(name, "resampling from %d Hz to %d Hz failed: %s", a->rate, rate, e);
        free(out);
        return -1;
    }
    /* soxr may deliver a sample less than the ceiling at the very end: the rest stays 0. */
    free(a->pcm);
    a->pcm = out;
    a->frames = want;
    a->rate = rate;
    return 0;
}

int audio_convert(const char *name, audio_buf *a, int rate, int channels)
{
    const size_t n = a->frames;
    if (channels == 1 && a->channels > 1) {
        /* mean over channels, as the reference */
        const int ch = a->channels;
        for (size_t t = 0; t < n; t++) {
            float s = 0;
            for (int c = 0; c < ch; c++)
                s += a->pcm[t * (size_t)ch + (size_t)c];
            a->pcm[t] = s / (float)ch;
        }
        a->channels = 1;
    } else if (channels != a->channels && !(channels == 2 && a->channels == 1)) {
        diag_error(name, "has %d channels; only mono or stereo audio can be converted to the "
                         "model's %d channels", a->channels, channels);
        return -1;
    }
    if (a->rate != rate && resample(name, a, rate) != 0)
        return -1;
    if (channels == 2 && a->channels == 1) { /* repeat mono, after resampling (same result) */
        float *p = realloc(a->pcm, a->frames * 2 * sizeof *p);
        if (!p) {
            diag_error(name, "out of memory converting the audio to stereo");
            return -1;
        }
        for (size_t t = a->frames; t-- > 0;)
            p[2 * t] = p[2 * t + 1] = p[t];
        a->pcm = p;
        a->channels = 2;
    }
    return 0;
}

/* ---- writing ---------------------------------------------------------------------------- */

int audio_encode_wav(const char *out_name, float *pcm, size_t frames, int channels, int rate,
                     int rescale, byte_buf *out)
{
    const float limit = 0.99f;
    const size_t count = frames * (size_t)channels;
    float peak = 0;
    size_t over = 0;
    for (size_t i = 0; i < count; i++) {
        float v = fabsf(pcm[i]);
        if (!(v <= 3.4e38f)) /* NaN or infinity: treat as silence rather than full scale */
            pcm[i] = v = 0;
        if (v > peak)
            peak = v;
        over += v > limit;
    }
    if (peak > limit) {
        if (rescale) {
            const float g = limit / peak;
            for (size_t i = 0; i < count; i++)
                pcm[i] *= g;
        } else {
            for (size_t i = 0; i < count; i++)
                pcm[i] = pcm[i] > limit ? limit : pcm[i] < -limit ? -limit : pcm[i];
            diag_warn(out_name, "decoded audio peaks at %.3f (%+.1f dBFS): %zu samples clipped "
                      "to +-%.2f; use -r/--rescale to scale the output down instead",
                      peak, 20 * log10f(peak), over, limit);
        }
    }

    vio_ctx ctx = {.buf = out};
    memset(out, 0, sizeof *out);
    SF_INFO info = {.samplerate = rate, .channels = channels,
                    .format = SF_FORMAT_WAV | SF_FORMAT_PCM_16};
    SNDFILE *sf = sf_open_virtual(&vio, SFM_WRITE, &info, &ctx);
    if (!sf) {
        diag_error(out_name, "cannot create WAV: %s", sf_strerror(NULL));
        return -1;
    }
    /* Convert to 16 bit here (round(x * 32768)) so the bits do not depend on the libsndfile
     * version's float scaling. */
    short block[8192];
    const size_t per = sizeof block / sizeof block[0] / (size_t)channels;
    int ok = 1;
    for (size_t t = 0; t < frames && ok; t += per) {
        size_t m = frames - t < per ? frames - t : per;
        for (size_t i = 0; i < m * (size_t)channels; i++) {
            long v = lrintf(pcm[t * (size_t)channels + i] * 32768.0f);
            block[i] = (short)(v > 32767 ? 32767 : v < -32768 ? -32768 : v);
        }
        ok = sf_writef_short(sf, block, (sf_count_t)m) == (sf_count_t)m;
    }
    if (sf_close(sf) != 0 || !ok) {
        diag_error(out_name, "cannot encode WAV (out of memory?)");
        byte_buf_free(out);
        return -1;
    }
    out->size = (size_t)ctx.size;
    return 0;
}

void audio_free(audio_buf *a)
{
    free(a->pcm);
    memset(a, 0, sizeof *a);
}
