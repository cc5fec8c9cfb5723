/* LSB-first bit packing of the .ecdc payload (spec 7.1): a writer that appends values of 1..32
 * bits to a byte buffer (caller-provided and fixed, or owned and growable) and a reader that
 * takes its bytes in pieces of any size and says "need more bytes" instead of reading past the
 * end. The no-LM payload uses 10-bit values; the arithmetic coder uses 1-bit values. */
#ifndef ECL_BITPACK_H
#define ECL_BITPACK_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint8_t *buf;   /* output bytes [0, len) */
    size_t len;
    size_t cap;
    int growable;   /* 1: buf is owned and grown with realloc; 0: caller's fixed buffer */
    uint64_t acc;   /* pending bits, LSB first; fewer than 8 between calls */
    int n_bits;
} ecl_bitwriter;

/* Writer into the caller's buffer of cap bytes (ENCODEC_EBUFFER when full). */
void ecl_bitwriter_init_fixed(ecl_bitwriter *w, uint8_t *buf, size_t cap);
/* Writer into an owned buffer that grows as needed; release with ecl_bitwriter_free. */
void ecl_bitwriter_init_growable(ecl_bitwriter *w);
void ecl_bitwriter_free(ecl_bitwriter *w);

/* Append the low `width` bits (1..32) of value. ENCODEC_OK, EINVAL, EBUFFER or ENOMEM; on
 * failure nothing is appended. */
int ecl_bitwriter_push(ecl_bitwriter *w, uint32_t value, int width);
/* Write the pending bits (if any) as one final byte, upper bits zero: the next push starts
 * byte-aligned. */
int ecl_bitwriter_flush(ecl_bitwriter *w);
/* Append whole bytes; only when byte-aligned (no pending bits), else ENCODEC_ESTATE. */
int ecl_bitwriter_put_bytes(ecl_bitwriter *w, const uint8_t *bytes, size_t n);
/* Forget the first n output bytes (already handed on); pending bits are kept. */
void ecl_bitwriter_discard(ecl_bitwriter *w, size_t n);

typedef struct {
    const uint8_t *data; /* current input piece, not owned */
    size_t len;
    size_t pos;          /* bytes of the piece consumed */
    uint64_t acc;        /* bits pulled from consumed bytes but not yet returned */
    int n_bits;
} ecl_bitreader;

void ecl_bitreader_init(ecl_bitreader *r);
/* Give the reader its next piece of input (the previous piece must have been used up, or
 * its rest is abandoned). Pending bits are kept. */
void ecl_bitreader_feed(ecl_bitreader *r, const uint8_t *data, size_t len);
/* Read `width` (1..32) bits. Returns 1 and sets *value, or 0 when the piece ran out: the bits
 * already pulled are kept, so the same call after the next feed continues where it stopped.
 * ENCODEC_EINVAL for a bad width. */
int ecl_bitreader_read(ecl_bitreader *r, int width, uint32_t *value);
/* Drop the pending bits of a partly read byte (end of a byte-aligned section). */
void ecl_bitreader_align(ecl_bitreader *r);
/* Unread bytes left in the current piece. */
static inline size_t ecl_bitreader_available(const ecl_bitreader *r) { return r->len - r->pos; }

#endif
