/* `encodec info`: what an .ecdc file holds (header fields, the model's rate when the model can
 * be found, duration, bitrate), or the format of an audio file. Prints "key: value" lines. */
#include <stdio.h>
#include <string.h>

#include "audio_io.h"
#include "commands.h"
#include "diag.h"
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

static int info_ecdc(const cli_options *o, const char *name, const byte_buf *in)
{
    encodec_ecdc_info h;
    int err = encodec_ecdc_probe(in->data, in->size, &h);
    if (err != ENCODEC_OK) {
        diag_error(name, "corrupt .ecdc file: %s", encodec_strerror(err));
        return 1;
    }
    encodec_model *m = quiet_model(o, h.model_name);
    printf("file: %s\n", name);
    printf("type: ecdc (version %d)\n", in->data[4]);
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
