/* Audio in and out: decoding any libsndfile format from memory, conversion to the model's
 * channels and rate (as the reference's convert_audio), and 16-bit WAV output with the
 * reference's clipping rule. */
#ifndef ENCODEC_CLI_AUDIO_IO_H
#define ENCODEC_CLI_AUDIO_IO_H

#include <stddef.h>

#include "input.h"

typedef struct audio_buf {
    float *pcm;      /* interleaved, frames * channels */
    size_t frames;   /* samples per channel */
    int channels;
    int rate;
    char format[96]; /* e.g. "WAV (Microsoft), Signed 16 bit PCM" */
} audio_buf;

/* Properties only (no samples): for `encodec info`. Returns 0, or -1 if not audio (no message). */
int audio_probe(const void *data, size_t size, audio_buf *props);

/* Decode all samples as float. name is used in messages; returns 0 or -1 (message printed).
 * Fails on data libsndfile does not recognise and on audio without samples. */
int audio_decode(const char *name, const void *data, size_t size, audio_buf *out);

/* Raw PCM (format RAW_*, channels interleaved) as float. Fails on input without a whole
 * sample frame; a trailing partial frame is ignored with a warning. Returns 0 or -1. */
int audio_decode_raw(const char *name, const void *data, size_t size, int format, int rate,
                     int channels, audio_buf *out);

/* Convert in place to channels (mono: mean of all channels; stereo: from mono by repetition
 * or unchanged) and then to rate with libsoxr; the length becomes ceil(frames * rate / old).
 * Returns 0 or -1 (message printed). */
int audio_convert(const char *name, audio_buf *a, int rate, int channels);

/* Encode as 16-bit PCM WAV. Without rescale, samples beyond +-0.99 are clipped there and a
 * warning naming out_name is printed; with rescale, the whole signal is scaled so its peak is
 * 0.99 if it exceeds that. pcm is modified. Returns 0 or -1 (message printed). */
int audio_encode_wav(const char *out_name, float *pcm, size_t frames, int channels, int rate,
                     int rescale, byte_buf *out);

void audio_free(audio_buf *a);

#endif
