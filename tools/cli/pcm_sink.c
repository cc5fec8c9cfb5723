/* Progressive audio output. The WAV header is the canonical 44 bytes that libsndfile writes
 * for 16-bit PCM (so streamed and whole-file WAVs are identical); a stream of unknown length
 * gets the sizes 0xFFFFFFFF that players read as "until the end", corrected at the end when the
 * output is a file. */
#include "pcm_sink.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "atomic_output.h"
#include "diag.h"
#include "raw_pcm.h"

#define CLIP_LIMIT 0.99f
#define WAV_HEADER 44

struct pcm_sink {
    out_stream out;
    const char *name;
    int raw, channels, rate, rescale;
    int header_done;
    uint64_t length;  /* announced, 0 = unknown */
    uint64_t written; /* frames written */
    float peak;
    size_t over;
    float *held;      /* rescale: everything, until the end */
    size_t held_frames, held_cap;
    unsigned char block[16384];
};

pcm_sink *sink_open(const char *path, int force, int raw, int channels, int rate, int rescale)
{
    pcm_sink *s = calloc(1, sizeof *s);
    if (!s) {
        diag_error(NULL, "out of memory");
        return NULL;
    }
    s->name = diag_name(path, 1);
    s->raw = raw;
    s->channels = channels;
    s->rate = rate;
    s->rescale = rescale;
    if (output_open(&s->out, path, force) != 0) {
        free(s);
        return NULL;
    }
    return s;
}

void sink_set_length(pcm_sink *s, uint64_t frames) { s->length = frames; }

static void put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put16(unsigned char *p, unsigned v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}

static void wav_header(unsigned char *h, int channels, int rate, uint64_t frames, int known)
{
    const unsigned align = 2u * (unsigned)channels;
    const uint64_t data = frames * align;
    const int fits = known && data <= 0xFFFFFFFFu - 36;
    memcpy(h, "RIFF", 4);
    put32(h + 4, fits ? (uint32_t)(data + 36) : 0xFFFFFFFFu);
    memcpy(h + 8, "WAVEfmt ", 8);
    put32(h + 16, 16);
    put16(h + 20, 1); /* PCM */
    put16(h + 22, (unsigned)channels);
    put32(h + 24, (uint32_t)rate);
    put32(h + 28, (uint32_t)rate * align);
    put16(h + 32, align);
    put16(h + 34, 16);
    memcpy(h + 36, "data", 4);
    put32(h + 40, fits ? (uint32_t)data : 0xFFFFFFFFu);
}

static int write_header(pcm_sink *s)
{
    s->header_done = 1;
    if (s->raw)
        return 0;
    unsigned char h[WAV_HEADER];
    wav_header(h, s->channels, s->rate, s->length, s->length > 0);
    return output_append(&s->out, h, sizeof h);
}

/* Convert and write, in blocks. */
static int emit(pcm_sink *s, const float *pcm, size_t frames)
{
    if (!s->header_done && write_header(s) != 0)
        return -1;
    const int fmt = s->raw ? s->raw - 1 : RAW_S16LE;
    const size_t per = sizeof s->block / raw_sample_bytes(fmt);
    size_t count = frames * (size_t)s->channels;
    for (size_t i = 0; i < count; i += per) {
        size_t m = count - i < per ? count - i : per;
        raw_from_float(fmt, pcm + i, m, s->block);
        if (output_append(&s->out, s->block, m * raw_sample_bytes(fmt)) != 0)
            return -1;
    }
    s->written += frames;
    return 0;
}

int sink_write(pcm_sink *s, float *pcm, size_t frames)
{
    const size_t count = frames * (size_t)s->channels;
    for (size_t i = 0; i < count; i++) {
        float v = fabsf(pcm[i]);
        if (!(v <= 3.4e38f)) /* NaN or infinity: treat as silence rather than full scale */
            pcm[i] = v = 0;
        if (v > s->peak)
            s->peak = v;
        s->over += v > CLIP_LIMIT;
        if (!s->rescale)
            pcm[i] = pcm[i] > CLIP_LIMIT ? CLIP_LIMIT : pcm[i] < -CLIP_LIMIT ? -CLIP_LIMIT : pcm[i];
    }
    if (!s->rescale)
        return emit(s, pcm, frames);
    if (frames > s->held_cap - s->held_frames) { /* hold everything: the peak is needed */
        size_t cap = s->held_cap ? s->held_cap : 65536;
        while (cap - s->held_frames < frames)
            cap *= 2;
        float *p = realloc(s->held, cap * (size_t)s->channels * sizeof *p);
        if (!p) {
            diag_error(s->name, "out of memory holding the audio for --rescale");
            return -1;
        }
        s->held = p;
        s->held_cap = cap;
    }
    memcpy(s->held + s->held_frames * (size_t)s->channels, pcm, count * sizeof *pcm);
    s->held_frames += frames;
    return 0;
}

static void sink_free(pcm_sink *s)
{
    free(s->held);
    free(s);
}

int sink_finish(pcm_sink *s)
{
    int rc = 0;
    if (s->rescale) {
        if (s->peak > CLIP_LIMIT) {
            const float g = CLIP_LIMIT / s->peak;
            for (size_t i = 0; i < s->held_frames * (size_t)s->channels; i++)
                s->held[i] *= g;
        }
        if (!s->header_done && !s->length)
            s->length = s->held_frames;
        rc = emit(s, s->held, s->held_frames);
    } else if (s->peak > CLIP_LIMIT) {
        diag_warn(s->name, "decoded audio peaks at %.3f (%+.1f dBFS): %zu samples clipped "
                  "to +-%.2f; use -r/--rescale to scale the output down instead",
                  s->peak, 20 * log10f(s->peak), s->over, CLIP_LIMIT);
    }
    if (rc == 0 && !s->header_done)
        rc = write_header(s);
    if (rc == 0 && !s->raw && (s->length != s->written || !s->length)) { /* files get the true length */
        unsigned char h[WAV_HEADER];
        wav_header(h, s->channels, s->rate, s->written, 1);
        rc = output_rewrite(&s->out, 0, h, sizeof h);
    }
    if (rc == 0)
        rc = output_commit(&s->out);
    else
        output_abort(&s->out);
    sink_free(s);
    return rc;
}

void sink_abort(pcm_sink *s)
{
    output_abort(&s->out);
    sink_free(s);
}
