/* Progressive decompression of .ecdc streams: bytes are pushed into an encodec_ecdc_reader as
 * they arrive (stdin) or from a file read into memory, decoded as far as a fixed audio buffer
 * takes, and the audio is written at once (WAV or raw PCM), so `cat x.ecdc | encodec - - |
 * aplay` plays while the input is still coming and memory does not grow with the length.
 * LM-coded streams too: a frame's audio goes out as soon as its symbols are decoded. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>

#include "commands.h"
#include "diag.h"
#include "ecdc_live.h"
#include "encodec.h"
#include "model_path.h"
#include "pcm_sink.h"
#include "progress.h"
#include "raw_pcm.h"

#define READ_BLOCK 65536
#define PCM_FRAMES 8192 /* audio buffer (per channel), at least the reader's minimum */
#define MAX_HEADER (1u << 20) /* JSON metadata beyond this is not an .ecdc header */

/* Read the header (magic, version, length, JSON) and find the model it names. Returns 0, or
 * an ENCODEC_EECDC_* code. */
static int read_header(byte_buf *head, int from_stdin, char *model, size_t size, int *use_lm)
{
    if (from_stdin && input_fill(STDIN_FILENO, head, 9) != 0)
        return ENCODEC_EIO;
    if (head->size >= 9) {
        const unsigned char *h = head->data;
        uint32_t json = (uint32_t)h[5] << 24 | (uint32_t)h[6] << 16 | (uint32_t)h[7] << 8 | h[8];
        if (json > MAX_HEADER)
            return ENCODEC_EECDC_HEADER;
        if (from_stdin && input_fill(STDIN_FILENO, head, 9 + (size_t)json) != 0)
            return ENCODEC_EIO;
    }
    encodec_ecdc_info info;
    int err = encodec_ecdc_probe(head->data, head->size, &info);
    *use_lm = 0;
    if (err == ENCODEC_OK) {
        *use_lm = info.use_lm;
        snprintf(model, size, "%s", info.model_name);
        return 0;
    }
    if (err == ENCODEC_EECDC_HEADER && ecdc_live_model_name(head->data + 9, head->size - 9, model,
                                                            size) == 0)
        return 0; /* a live stream, or a header the reader will reject precisely */
    return err;
}

int run_decompress_stream(const cli_options *o, byte_buf *head, int from_stdin)
{
    const char *in_name = diag_name(o->input, 0);
    char model_name[64];
    int use_lm = 0;
    int err = read_header(head, from_stdin, model_name, sizeof model_name, &use_lm);
    if (err == ENCODEC_EIO) {
        diag_error(in_name, "cannot read input: %s", strerror(errno));
        return 1;
    }
    if (err != ENCODEC_OK) {
        diag_error(in_name, "corrupt .ecdc file: %s", encodec_strerror(err));
        return 1;
    }

    encodec_model *m = NULL;
    encodec_decoder *dec = NULL;
    encodec_ecdc_reader *reader = NULL;
    pcm_sink *sink = NULL;
    float *pcm = NULL;
    size_t pcm_cap = 0;
    unsigned char *block = malloc(READ_BLOCK);
    int ok = 0;
    char label[160];
    snprintf(label, sizeof label, "%s -> %s", in_name, diag_name(o->output, 1));
    progress_begin(!o->quiet, label);
    progress_stage("loading", 0, 0.05);
    if (!block) {
        diag_error(NULL, "out of memory");
        goto done;
    }
    m = model_open(o->model_file, model_name, in_name);
    if (!m || (o->raw_out && check_raw_output(o, m) != 0))
        goto done;
    if (use_lm && !encodec_model_has_lm(m) &&
        model_attach_lm(m, o->model_file, o->lm_file, in_name) != 0)
        goto done;
    const int ch = encodec_model_channels(m);
    err = encodec_decoder_create(m, &dec);
    if (err == ENCODEC_OK)
        err = encodec_decoder_set_threads(dec, o->threads);
    if (err == ENCODEC_OK)
        err = encodec_ecdc_reader_create(dec, &reader);
    if (err != ENCODEC_OK) {
        diag_error(in_name, "decoding failed: %s", encodec_strerror(err));
        goto done;
    }
    pcm_cap = encodec_ecdc_reader_min_samples(reader);
    pcm_cap = pcm_cap > PCM_FRAMES ? pcm_cap : PCM_FRAMES;
    if (!(pcm = malloc(pcm_cap * (size_t)ch * sizeof *pcm))) {
        diag_error(NULL, "out of memory");
        goto done;
    }
    progress_stage("streaming", 0.05, 1.0);
    const unsigned char *data = head->data;
    size_t len = head->size;
    uint64_t total = 0;
    for (;;) {
        while (len > 0) { /* decode what we have, as far as the audio buffer takes */
            size_t n = 0, used = 0;
            err = encodec_ecdc_reader_push_partial(reader, data, len, &used, pcm, pcm_cap, &n);
            if (err != ENCODEC_OK) {
                report_decode_error(o, in_name, m, err);
                goto done;
            }
            data += used;
            len -= used;
            if (!sink) { /* the header has been accepted: the output can start */
                encodec_ecdc_info info;
                sink = sink_open(o->output, o->force, o->raw_out ? 1 + o->raw_format : 0, ch,
                                 encodec_model_sample_rate(m), o->rescale);
                if (!sink)
                    goto done;
                if (encodec_ecdc_reader_info(reader, &info) == ENCODEC_OK)
                    sink_set_length(sink, info.audio_length);
            }
            if (n && sink_write(sink, pcm, n) != 0)
                goto done;
            total += n;
        }
        long got = from_stdin ? input_read_some(STDIN_FILENO, block, READ_BLOCK) : 0;
        if (got < 0) {
            diag_error(in_name, "cannot read input: %s", strerror(errno));
            goto done;
        }
        if (got == 0)
            break;
        data = block;
        len = (size_t)got;
    }
    size_t n = 0;
    err = encodec_ecdc_reader_finish(reader, pcm, pcm_cap, &n);
    if (err != ENCODEC_OK) {
        report_decode_error(o, in_name, m, err);
        goto done;
    }
    if (!sink) { /* cannot happen after a complete stream, but stay safe */
        diag_error(in_name, "corrupt .ecdc file: %s", encodec_strerror(ENCODEC_EECDC_TRUNCATED));
        goto done;
    }
    if (n && sink_write(sink, pcm, n) != 0)
        goto done;
    total += n;
    progress_set_audio_seconds((double)total / encodec_model_sample_rate(m));
    err = sink_finish(sink);
    sink = NULL;
    ok = err == 0;
done:
    progress_end(ok);
    if (sink)
        sink_abort(sink);
    encodec_ecdc_reader_free(reader);
    encodec_decoder_free(dec);
    encodec_model_free(m);
    free(pcm);
    free(block);
    return ok ? 0 : 1;
}
