/* `encodec info`: what an .ecdc file holds (header fields, the model's rate when the model can
 * be found, duration, bitrate), or the format of an audio file. Prints "key: value" lines.
 * A live stream's length is written at its end, so it is read through the model's decoder. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audio_io.h"
#include "commands.h"
#include "diag.h"
#include "ecdc_live.h"
#include "encodec.h"
#include "model_path.h"

/* The model for an .ecdc header, without messages: info works without one. */
static encodec_model *quiet_model(const cli_options *o, const char *name)
{
    char path[4096];
    const char *file = o->model_file;
    if (!file) {
        if (model_find(name, path, sizeof path) != 0)
            return NULL;
        file = path;
    }
    encodec_model *m = NULL;
    if (encodec_model_load_file(file, &m, NULL, 0) != ENCODEC_OK)
        return NULL;
    return m;
}

/* Header and length of a live stream: the whole stream through an incremental reader (the
 * audio is decoded and dropped). Returns ENCODEC_OK or the reader's error. */
static int read_live(encodec_model *m, const byte_buf *in, encodec_ecdc_info *h)
{
    enum { BLOCK = 65536 };
    encodec_decoder *dec = NULL;
    encodec_ecdc_reader *reader = NULL;
    float *pcm = NULL;
    int err = encodec_decoder_create(m, &dec);
    if (!err)
        err = encodec_ecdc_reader_create(dec, &reader);
    size_t cap = 0;
    for (size_t off = 0; !err && off < in->size; off += BLOCK) {
        const size_t len = in->size - off < BLOCK ? in->size - off : BLOCK;
        const size_t need = encodec_ecdc_reader_max_samples(reader, len) *
                            (size_t)encodec_model_channels(m);
        if (need > cap) {
            float *grown = realloc(pcm, need * sizeof *pcm);
            if (!grown) {
                err = ENCODEC_ENOMEM;
                break;
            }
            pcm = grown, cap = need;
        }
        size_t got;
        err = encodec_ecdc_reader_push(reader, in->data + off, len, pcm,
                                       cap / (size_t)encodec_model_channels(m), &got);
    }
    if (!err) {
        const size_t need = encodec_ecdc_reader_max_samples(reader, 0) *
                            (size_t)encodec_model_channels(m);
        float *grown = need > cap ? realloc(pcm, need * sizeof *pcm) : pcm;
        size_t got;
        if (!grown)
            err = ENCODEC_ENOMEM;
        else
            pcm = grown, err = encodec_ecdc_reader_finish(reader, pcm, need, &got);
    }
    if (!err)
        err = encodec_ecdc_reader_info(reader, h);
    free(pcm);
    encodec_ecdc_reader_free(reader);
    encodec_decoder_free(dec);
    return err;
}

static int info_ecdc(const cli_options *o, const char *name, const byte_buf *in)
{
    encodec_ecdc_info h;
    int err = encodec_ecdc_probe(in->data, in->size, &h);
    int live = 0;
    if (err == ENCODEC_EECDC_HEADER && ecdc_is_live(in->data, in->size)) {
        char model[64];
        const size_t json = (size_t)in->data[5] << 24 | (size_t)in->data[6] << 16 |
                            (size_t)in->data[7] << 8 | in->data[8];
        if (ecdc_live_model_name(in->data + 9, json, model, sizeof model) == 0) {
            encodec_model *m = quiet_model(o, model);
            if (!m) {
                printf("file: %s\n", name);
                printf("type: ecdc (version %d, live stream)\n", in->data[4]);
                printf("model: %s (not found: the length of a live stream is read with its "
                       "model)\n", model);
                printf("size: %zu bytes\n", in->size);
                return 0;
            }
            err = read_live(m, in, &h);
            encodec_model_free(m);
            live = 1;
        }
    }
    if (err != ENCODEC_OK) {
        diag_error(name, "corrupt .ecdc file: %s", encodec_strerror(err));
        return 1;
    }
    encodec_model *m = quiet_model(o, h.model_name);
    printf("file: %s\n", name);
    printf("type: ecdc (version %d%s)\n", in->data[4], live ? ", live stream" : "");
    printf("model: %s%s\n", h.model_name, m ? "" : " (not found: rate and duration unknown)");
    if (m) {
        int sr = encodec_model_sample_rate(m);
        int fr = encodec_model_frame_rate(m);
        double seconds = (double)h.audio_length / sr;
        printf("sample_rate: %d\n", sr);
        printf("channels: %d\n", encodec_model_channels(m));
        printf("samples: %llu\n", (unsigned long long)h.audio_length);
        printf("duration: %.3f s\n", seconds);
        printf("codebooks: %d\n", h.n_codebooks);
        /* each code is log2(1024) = 10 bits */
        printf("bandwidth: %g kbps\n", h.n_codebooks * fr * 10 / 1000.0);
        printf("lm: %s\n", h.use_lm ? "yes" : "no");
        printf("size: %zu bytes (header %zu)\n", in->size, h.header_size);
        if (seconds > 0)
            printf("bitrate: %.2f kbps\n", in->size * 8 / seconds / 1000);
        encodec_model_free(m);
    } else {
        printf("samples: %llu\n", (unsigned long long)h.audio_length);
        printf("codebooks: %d\n", h.n_codebooks);
        printf("lm: %s\n", h.use_lm ? "yes" : "no");
        printf("size: %zu bytes (header %zu)\n", in->size, h.header_size);
    }
    return 0;
}

static int info_audio(const char *name, const byte_buf *in)
{
    audio_buf a;
    if (in->size == 0) {
        diag_error(name, "input file is empty");
        return 1;
    }
    if (audio_probe(in->data, in->size, &a) != 0) {
        diag_error(name, "neither an .ecdc file nor a supported audio file");
        return 1;
    }
    double seconds = a.rate > 0 ? (double)a.frames / a.rate : 0;
    printf("file: %s\n", name);
    printf("type: audio (%s)\n", a.format);
    printf("sample_rate: %d\n", a.rate);
    printf("channels: %d\n", a.channels);
    printf("samples: %zu\n", a.frames);
    printf("duration: %.3f s\n", seconds);
    printf("size: %zu bytes\n", in->size);
    if (seconds > 0)
        printf("bitrate: %.2f kbps\n", in->size * 8 / seconds / 1000);
    return 0;
}

int run_info(const cli_options *o, const char *path)
{
    byte_buf in;
    const char *name = diag_name(path, 0);
    if (input_read(path, &in) != 0)
        return 1;
    int rc = is_ecdc(path, &in) ? info_ecdc(o, name, &in) : info_audio(name, &in);
    byte_buf_free(&in);
    fflush(stdout);
    return rc;
}
