/* Raw PCM (headerless, interleaved, little-endian) as used by arecord/aplay/sox/ffmpeg pipes:
 * sample formats and their conversion to and from the float samples of the codec. */
#ifndef ENCODEC_CLI_RAW_PCM_H
#define ENCODEC_CLI_RAW_PCM_H

#include <stddef.h>

enum { RAW_S16LE = 0, RAW_F32LE = 1 };

/* "s16le" or "f32le" -> RAW_*; returns 0 or -1. */
int raw_format_parse(const char *name, int *format);
const char *raw_format_name(int format);
/* Bytes of one sample (one channel). */
size_t raw_sample_bytes(int format);

/* count samples: bytes -> floats (s16: x / 32768, as libsndfile reads 16-bit WAV). */
void raw_to_float(int format, const unsigned char *in, size_t count, float *out);
/* count samples: floats -> bytes (s16: round(x * 32768), saturated, as the WAV output). */
void raw_from_float(int format, const float *in, size_t count, unsigned char *out);

#endif
