/* Compression, decompression and the compress/decompress cycle on whole files, following the
 * reference CLI: read and convert the audio, encode at the chosen bandwidth, write .ecdc or
 * decode again to WAV; .ecdc inputs name the model that decodes them. */
#include "commands.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "atomic_output.h"
#include "audio_io.h"
#include "pcm_sink.h"
#include "diag.h"
#include "encodec.h"
#include "model_path.h"
#include "progress.h"

static const unsigned char ECDC_MAGIC[4] = {'E', 'C', 'D', 'C'};

int is_ecdc(const char *path, const byte_buf *data)
{
    size_t n = strlen(path);
    if (n >= 5 && strcasecmp(path + n - 5, ".ecdc") == 0)
        return 1;
    return data->size >= 4 && memcmp(data->data, ECDC_MAGIC, 4) == 0;
}

/* "in.wav -> out.ecdc" with folders left out, for the progress line. */
static void job_label(const cli_options *o, char *out, size_t size)
{
    const char *in = diag_name(o->input, 0), *outp = diag_name(o->output, 1);
    const char *a = strrchr(in, '/'), *b = strrchr(outp, '/');
    snprintf(out, size, "%s -> %s", a ? a + 1 : in, b ? b + 1 : outp);
}

/* "1.5, 3, 6, 12, 24" */
static void list_bandwidths(const encodec_model *m, char *out, size_t size)
{
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0; i < encodec_model_num_bandwidths(m) && used < size; i++) {
        int n = snprintf(out + used, size - used, "%s%g", i ? ", " : "",
                         (double)encodec_model_bandwidth(m, i));
        if (n < 0)
            break;
        used += (size_t)n;
    }
}

/* Name for messages about the model: its file if given, else its name. */
static const char *model_label(const cli_options *o, const encodec_model *m)
{
    return o->model_file ? o->model_file : encodec_model_name(m);
}

static int write_wav(const cli_options *o, float *pcm, size_t n, const encodec_model *m)
{
    if (o->raw_out) { /* raw PCM: same clipping rule and samples as the WAV */
        progress_stage("writing", 0.97, 1.0);
        pcm_sink *s = sink_open(o->output, o->force, 1 + o->raw_format,
                                encodec_model_channels(m), encodec_model_sample_rate(m),
                                o->rescale);
        if (!s)
            return -1;
        if (sink_write(s, pcm, n) != 0) {
            sink_abort(s);
            return -1;
        }
        return sink_finish(s);
    }
    byte_buf wav;
    const char *out_name = diag_name(o->output, 1);
    if (audio_encode_wav(out_name, pcm, n, encodec_model_channels(m),
                         encodec_model_sample_rate(m), o->rescale, &wav) != 0)
        return -1;
    progress_stage("writing", 0.97, 1.0);
    int rc = output_write(o->output, wav.data, wav.size, o->force);
    byte_buf_free(&wav);
    return rc;
}

void report_decode_error(const cli_options *o, const char *in_name, const encodec_model *m,
                         int err)
{
    if (err == ENCODEC_EECDC_MODEL)
        diag_error(in_name, "stream does not fit model \"%s\" (%s): made with another model "
                   "or with more codebooks than it has", encodec_model_name(m),
                   model_label(o, m));
    else if (err <= ENCODEC_EECDC_MAGIC && err >= ENCODEC_EECDC_TRAILING)
        diag_error(in_name, "corrupt .ecdc file: %s", encodec_strerror(err));
    else if (err == ENCODEC_EUNSUPPORTED)
        diag_error(in_name, "cannot decode with model \"%s\": not supported for this "
                   "model by this version of libencodec", encodec_model_name(m));
    else
        diag_error(in_name, "decoding failed: %s", encodec_strerror(err));
}

/* Decode an .ecdc stream made here or read from a file; in_name names it in messages. */
static int decompress_to_wav(const cli_options *o, const char *in_name, const encodec_model *m,
                             const unsigned char *data, size_t size, double from)
{
    encodec_decoder *dec = NULL;
    float *pcm = NULL;
    size_t n = 0;
    int err = encodec_decoder_create(m, &dec);
    if (err == ENCODEC_OK)
        err = encodec_decoder_set_threads(dec, o->threads);
    progress_stage("decoding", from, 0.97);
    if (err == ENCODEC_OK)
        err = encodec_decompress(dec, data, size, &pcm, &n);
    encodec_decoder_free(dec);
    if (err != ENCODEC_OK) {
        report_decode_error(o, in_name, m, err);
        encodec_buffer_free(pcm);
        return -1;
    }
    int rc = write_wav(o, pcm, n, m);
    encodec_buffer_free(pcm);
    return rc;
}

encodec_model *open_compress_model(const cli_options *o, const char *in_name)
{
    /* 24 kHz: the official model when its converted weights are in the search path, else
     * the model trained by this project and shipped in weights/. */
    const char *default_model = o->hq ? "encodec_48khz" : "encodec_24khz";
    char found[4096];
    if (!o->hq && !o->model_file && model_find(default_model, found, sizeof found) != 0 &&
        model_find(BUNDLED_MODEL_24KHZ, found, sizeof found) == 0)
        default_model = BUNDLED_MODEL_24KHZ;
    if (o->hq && !o->model_file) {
        char path[4096];
        if (model_find(default_model, path, sizeof path) != 0) {
            char dirs[4096];
            model_search_path(dirs, sizeof dirs);
            diag_error(in_name, "--hq needs the 48 kHz model \"%s\", which was not found (no "
                       "%s.safetensors in %s); use --model FILE or set ENCODEC_MODEL_PATH", default_model, default_model,
                       dirs[0] ? dirs : "(empty search path)");
            return NULL;
        }
    }
    encodec_model *m = model_open(o->model_file, default_model, in_name);
    if (!m)
        return NULL;
    if (encodec_model_codebooks_for_bandwidth(m, o->bandwidth) < 0) {
        char list[128];
        list_bandwidths(m, list, sizeof list);
        diag_error(model_label(o, m), "model \"%s\" does not offer %g kbps (choose -b from %s)",
                   encodec_model_name(m), (double)o->bandwidth, list);
        goto fail;
    }
    return m;
fail:
    encodec_model_free(m);
    return NULL;
}

int run_compress(const cli_options *o, const byte_buf *in, int out_is_wav)
{
    const char *in_name = diag_name(o->input, 0);
    encodec_model *m = NULL;
    encodec_encoder *enc = NULL;
    uint8_t *ecdc = NULL;
    size_t ecdc_size = 0;
    audio_buf a;
    memset(&a, 0, sizeof a);
    int ok = 0;
    char label[160];
    job_label(o, label, sizeof label);

    progress_begin(!o->quiet, label);
    progress_stage("reading", 0, 0.03);
    if (!o->raw && audio_decode(in_name, in->data, in->size, &a) != 0)
        goto done;
    progress_stage("loading", 0.03, 0.06);
    m = open_compress_model(o, in_name);
    if (!m)
        goto done;
    if (o->lm && !encodec_model_has_lm(m) &&
        model_attach_lm(m, o->model_file, o->lm_file, "--lm") != 0)
        goto done;
    if (o->raw && audio_decode_raw(in_name, in->data, in->size, o->raw_format,
                                   o->raw_rate ? o->raw_rate : encodec_model_sample_rate(m),
                                   o->raw_channels ? o->raw_channels : encodec_model_channels(m),
                                   &a) != 0)
        goto done;
    progress_stage("resampling", 0.06, 0.1);
    if (audio_convert(in_name, &a, encodec_model_sample_rate(m), encodec_model_channels(m)) != 0)
        goto done;
    progress_set_audio_seconds((double)a.frames / encodec_model_sample_rate(m));

    int err = encodec_encoder_create(m, &enc);
    if (err == ENCODEC_OK)
        err = encodec_encoder_set_bandwidth(enc, o->bandwidth);
    if (err == ENCODEC_OK)
        err = encodec_encoder_set_threads(enc, o->threads);
    progress_stage("encoding", 0.1, out_is_wav ? 0.5 : 0.97);
    if (err == ENCODEC_OK)
        err = encodec_compress(enc, a.pcm, a.frames, o->lm, &ecdc, &ecdc_size);
    if (err != ENCODEC_OK) {
        if (err == ENCODEC_EUNSUPPORTED && o->lm)
            diag_error(in_name, "--lm: entropy coding is not supported with model \"%s\" in "
                       "this version of libencodec", encodec_model_name(m));
        else if (err == ENCODEC_EUNSUPPORTED)
            diag_error(in_name, "cannot encode with model \"%s\"%s: not supported for this "
                       "model by this version of libencodec", encodec_model_name(m),
                       o->hq ? " (--hq)" : "");
        else
            diag_error(in_name, "encoding failed: %s", encodec_strerror(err));
        goto done;
    }
    if (out_is_wav) {
        if (decompress_to_wav(o, in_name, m, ecdc, ecdc_size, 0.5) != 0)
            goto done;
    } else {
        progress_stage("writing", 0.97, 1.0);
        if (output_write(o->output, ecdc, ecdc_size, o->force) != 0)
            goto done;
    }
    ok = 1;
done:
    progress_end(ok);
    encodec_buffer_free(ecdc);
    encodec_encoder_free(enc);
    encodec_model_free(m);
    audio_free(&a);
    return ok ? 0 : 1;
}

/* The raw output has the model's rate and channels; other values asked for are an error. */
int check_raw_output(const cli_options *o, const encodec_model *m)
{
    if ((o->raw_rate && o->raw_rate != encodec_model_sample_rate(m)) ||
        (o->raw_channels && o->raw_channels != encodec_model_channels(m))) {
        diag_error(diag_name(o->output, 1), "decoded audio has the model's %d Hz and %d "
                   "channel(s); --rate/--channels cannot change that",
                   encodec_model_sample_rate(m), encodec_model_channels(m));
        return -1;
    }
    return 0;
}
