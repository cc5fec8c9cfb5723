/* Raw PCM conversion, byte by byte so the result does not depend on the host's endianness. */
#include "raw_pcm.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

int raw_format_parse(const char *name, int *format)
{
    if (strcmp(name, "s16le") == 0 || strcmp(name, "S16_LE") == 0)
        *format = RAW_S16LE;
    else if (strcmp(name, "f32le") == 0 || strcmp(name, "FLOAT_LE") == 0)
        *format = RAW_F32LE;
    else
        return -1;
    return 0;
}

const char *raw_format_name(int format) { return format == RAW_F32LE ? "f32le" : "s16le"; }

size_t raw_sample_bytes(int format) { return format == RAW_F32LE ? 4 : 2; }

void raw_to_float(int format, const unsigned char *in, size_t count, float *out)
{
    if (format == RAW_F32LE) {
        for (size_t i = 0; i < count; i++, in += 4) {
            uint32_t u = (uint32_t)in[0] | (uint32_t)in[1] << 8 | (uint32_t)in[2] << 16 |
                         (uint32_t)in[3] << 24;
            memcpy(&out[i], &u, 4);
        }
    } else {
        for (size_t i = 0; i < count; i++, in += 2) {
            int16_t v = (int16_t)(uint16_t)(in[0] | in[1] << 8);
            out[i] = (float)v / 32768.0f;
        }
    }
}

void raw_from_float(int format, const float *in, size_t count, unsigned char *out)
{
    if (format == RAW_F32LE) {
        for (size_t i = 0; i < count; i++, out += 4) {
            uint32_t u;
            memcpy(&u, &in[i], 4);
            out[0] = (unsigned char)u;
            out[1] = (unsigned char)(u >> 8);
            out[2] = (unsigned char)(u >> 16);
            out[3] = (unsigned char)(u >> 24);
        }
    } else {
        for (size_t i = 0; i < count; i++, out += 2) {
            long v = lrintf(in[i] * 32768.0f);
            uint16_t u = (uint16_t)(int16_t)(v > 32767 ? 32767 : v < -32768 ? -32768 : v);
            out[0] = (unsigned char)u;
            out[1] = (unsigned char)(u >> 8);
        }
    }
}
