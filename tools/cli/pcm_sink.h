/* Decoded audio out, progressively: 16-bit WAV or raw PCM (s16le/f32le), to stdout or to an
 * atomic output file, with the reference's clipping rule (clip at +-0.99 with a warning, or
 * with rescale scale the whole signal down, which needs all of it before anything is written). */
#ifndef ENCODEC_CLI_PCM_SINK_H
#define ENCODEC_CLI_PCM_SINK_H

#include <stddef.h>
#include <stdint.h>

typedef struct pcm_sink pcm_sink;

/* raw: 0 for WAV, else 1 + RAW_* format. Opens the output (prints the error); NULL on failure. */
pcm_sink *sink_open(const char *path, int force, int raw, int channels, int rate, int rescale);
/* Samples per channel the output will have, for the WAV header; call before the first write
 * (without it, or with 0, the header says "unknown length" until the end of a file). */
void sink_set_length(pcm_sink *s, uint64_t frames);
/* Append frames interleaved samples (modified: NaN silenced, clipped). Returns 0 or -1. */
int sink_write(pcm_sink *s, float *pcm, size_t frames);
/* Finish: write what is held back, fix the WAV header of a file, publish it; frees s. */
int sink_finish(pcm_sink *s);
/* Give up: no output file remains; frees s. */
void sink_abort(pcm_sink *s);

#endif
