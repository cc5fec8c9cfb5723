/* Small helpers shared by the whole library: error messages into caller buffers, aligned
 * allocation, integer arithmetic with overflow checks. */
#ifndef ECL_UTIL_H
#define ECL_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "encodec.h"

/* snprintf into msg if msg is non-NULL and msg_size > 0; returns error unchanged so that
 * `return ecl_fail(msg, n, ENCODEC_EX, "...", ...)` reads naturally. */
int ecl_fail(char *msg, size_t msg_size, int error, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* 64-byte aligned, zeroed allocation (NULL on failure or overflow); free with ecl_free. */
void *ecl_calloc(size_t n, size_t size);
void ecl_free(void *p);

/* a * b into *out; returns 0 on overflow. */
int ecl_mul_size(size_t a, size_t b, size_t *out);

/* Map a whole regular, non-empty file read-only. ENCODEC_EIO (cannot open, not a regular
 * file, cannot map) or ENCODEC_EWEIGHTS_TRUNCATED (empty), with a message naming the path.
 * Release with ecl_unmap_file. */
int ecl_map_file(const char *path, const uint8_t **data, size_t *size, char *msg,
                 size_t msg_size);
void ecl_unmap_file(const uint8_t *data, size_t size);
/* Let the kernel drop the whole pages of [p, p + len) inside a read-only file mapping from
 * ecl_map_file (they are read from the file again if touched). */
void ecl_release_pages(const void *p, size_t len);

/* float16 bits -> float32, exact for finite values (callers reject others): the bits moved to
 * float32's places, then scaled by 2^112 (exact; also right for subnormals). */
static inline float ecl_half_to_float(uint16_t h)
{
    const uint32_t magnitude = (uint32_t)(h & 0x7fffu) << 13;
    float f;
    memcpy(&f, &magnitude, sizeof f);
    f *= 0x1p112f;
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    bits |= (uint32_t)(h & 0x8000u) << 16;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* float32 -> float16 bits, rounded to nearest even; beyond the float16 range: infinity. */
uint16_t ecl_float_to_half(float f);

/* ceil(a / b) without overflow for any a. */
static inline size_t ecl_ceil_div(size_t a, size_t b) { return a / b + (a % b != 0); }

#endif
