/* LSB-first bit packer and unpacker (spec 7.1). The writer keeps fewer than 8 pending bits
 * between calls and reserves room before touching its state, so a failed push changes nothing;
 * the reader pulls one byte at a time, only when it needs bits, so it never reads beyond the
 * bits asked for and can stop and resume at any byte boundary of its input. */
#include "bitpack.h"

#include <stdlib.h>
#include <string.h>

#include "encodec.h"

void ecl_bitwriter_init_fixed(ecl_bitwriter *w, uint8_t *buf, size_t cap)
{
    memset(w, 0, sizeof *w);
    w->buf = buf;
    w->cap = buf ? cap : 0;
}

void ecl_bitwriter_init_growable(ecl_bitwriter *w)
{
    memset(w, 0, sizeof *w);
    w->growable = 1;
}

void ecl_bitwriter_free(ecl_bitwriter *w)
{
    if (w->growable)
        free(w->buf);
    memset(w, 0, sizeof *w);
}

/* Make room for n more output bytes. */
static int reserve(ecl_bitwriter *w, size_t n)
{
    if (n <= w->cap - w->len)
        return ENCODEC_OK;
    if (!w->growable)
        return ENCODEC_EBUFFER;
    if (n > SIZE_MAX / 2 - w->len)
        return ENCODEC_ENOMEM;
    size_t cap = w->cap ? w->cap : 64;
    while (cap - w->len < n)
        cap *= 2;
    uint8_t *p = realloc(w->buf, cap);
    if (!p)
        return ENCODEC_ENOMEM;
    w->buf = p;
    w->cap = cap;
    return ENCODEC_OK;
}

int ecl_bitwriter_push(ecl_bitwriter *w, uint32_t value, int width)
{
    if (width < 1 || width > 32 || (width < 32 && (value >> width) != 0))
        return ENCODEC_EINVAL;
    int rc = reserve(w, (size_t)(w->n_bits + width) / 8);
    if (rc < 0)
        return rc;
    w->acc |= (uint64_t)value << w->n_bits;
    w->n_bits += width;
    while (w->n_bits >= 8) {
        w->buf[w->len++] = (uint8_t)(w->acc & 0xff);
        w->acc >>= 8;
        w->n_bits -= 8;
    }
    return ENCODEC_OK;
}

int ecl_bitwriter_flush(ecl_bitwriter *w)
{
    if (w->n_bits == 0)
        return ENCODEC_OK;
    int rc = reserve(w, 1);
    if (rc < 0)
        return rc;
    w->buf[w->len++] = (uint8_t)(w->acc & 0xff);
    w->acc = 0;
    w->n_bits = 0;
    return ENCODEC_OK;
}

int ecl_bitwriter_put_bytes(ecl_bitwriter *w, const uint8_t *bytes, size_t n)
{
    if (w->n_bits != 0)
        return ENCODEC_ESTATE;
    if (n == 0)
        return ENCODEC_OK;
    int rc = reserve(w, n);
    if (rc < 0)
        return rc;
    memcpy(w->buf + w->len, bytes, n);
    w->len += n;
    return ENCODEC_OK;
}

void ecl_bitwriter_discard(ecl_bitwriter *w, size_t n)
{
    if (n >= w->len) {
        w->len = 0;
        return;
    }
    memmove(w->buf, w->buf + n, w->len - n);
    w->len -= n;
}

void ecl_bitreader_init(ecl_bitreader *r)
{
    memset(r, 0, sizeof *r);
}

void ecl_bitreader_feed(ecl_bitreader *r, const uint8_t *data, size_t len)
{
    r->data = data;
    r->len = data ? len : 0;
    r->pos = 0;
}

int ecl_bitreader_read(ecl_bitreader *r, int width, uint32_t *value)
{
    if (width < 1 || width > 32)
        return ENCODEC_EINVAL;
    /* at most 31 + 8 bits are ever held, well inside the 64-bit accumulator */
    while (r->n_bits < width) {
        if (r->pos >= r->len)
            return 0;
        r->acc |= (uint64_t)r->data[r->pos++] << r->n_bits;
        r->n_bits += 8;
    }
    *value = (uint32_t)(r->acc & ((UINT64_C(1) << width) - 1));
    r->acc >>= width;
    r->n_bits -= width;
    return 1;
}

void ecl_bitreader_align(ecl_bitreader *r)
{
    r->acc = 0;
    r->n_bits = 0;
}
