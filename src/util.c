/* Error strings, version, message formatting and aligned allocation. */
#define _DEFAULT_SOURCE /* madvise(MADV_DONTNEED): posix_madvise's is a no-op in glibc */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define ECL_STR2(x) #x
#define ECL_STR(x) ECL_STR2(x)

const char *encodec_version(void)
{
    return ECL_STR(ENCODEC_VERSION_MAJOR) "." ECL_STR(ENCODEC_VERSION_MINOR) "." ECL_STR(
        ENCODEC_VERSION_PATCH);
}

const char *encodec_strerror(int error)
{
    switch (error) {
    case ENCODEC_OK: return "success";
    case ENCODEC_EINVAL: return "invalid argument";
    case ENCODEC_ENOMEM: return "out of memory";
    case ENCODEC_EIO: return "cannot read file";
    case ENCODEC_ESTATE: return "call not allowed in the current state";
    case ENCODEC_EBANDWIDTH: return "bandwidth not offered by the model";
    case ENCODEC_EBUFFER: return "output buffer too small";
    case ENCODEC_EUNSUPPORTED: return "not supported for this model";
    case ENCODEC_ECODE: return "code value or codebook count out of range";
    case ENCODEC_ELENGTH: return "stream length differs from the length announced";
    case ENCODEC_EWEIGHTS_TRUNCATED: return "weights file truncated";
    case ENCODEC_EWEIGHTS_HEADER: return "weights file header length invalid";
    case ENCODEC_EWEIGHTS_JSON: return "weights file header is not valid JSON";
    case ENCODEC_EWEIGHTS_DTYPE: return "weights file has a tensor of unsupported dtype";
    case ENCODEC_EWEIGHTS_SHAPE: return "weights file has a tensor of the wrong shape";
    case ENCODEC_EWEIGHTS_OFFSET: return "weights file has tensor data outside the file";
    case ENCODEC_EWEIGHTS_OVERLAP: return "weights file has overlapping tensors";
    case ENCODEC_EWEIGHTS_MISSING: return "weights file lacks a required tensor";
    case ENCODEC_EWEIGHTS_CONFIG: return "weights file configuration missing or invalid";
    case ENCODEC_EWEIGHTS_VALUE: return "weights file has a NaN or infinite value";
    case ENCODEC_EECDC_MAGIC: return "not an .ecdc stream";
    case ENCODEC_EECDC_VERSION: return "unsupported .ecdc version";
    case ENCODEC_EECDC_HEADER: return ".ecdc header invalid";
    case ENCODEC_EECDC_MODEL: return ".ecdc stream does not match the model";
    case ENCODEC_EECDC_TRUNCATED: return ".ecdc stream truncated";
    case ENCODEC_EECDC_TRAILING: return ".ecdc stream has trailing bytes";
    case ENCODEC_EECDC_CORRUPT: return ".ecdc payload is damaged";
    default: return "unknown error";
    }
}

int ecl_fail(char *msg, size_t msg_size, int error, const char *fmt, ...)
{
    if (msg && msg_size > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, msg_size, fmt, ap);
        va_end(ap);
    }
    return error;
}

int ecl_mul_size(size_t a, size_t b, size_t *out)
{
    if (b != 0 && a > SIZE_MAX / b)
        return 0;
    *out = a * b;
    return 1;
}

void *ecl_calloc(size_t n, size_t size)
{
    size_t bytes;
    if (!ecl_mul_size(n, size, &bytes) || bytes > SIZE_MAX - 64)
        return NULL;
    bytes = (bytes + 63) & ~(size_t)63;
    if (bytes == 0)
        bytes = 64;
    void *p = aligned_alloc(64, bytes);
    if (p)
        memset(p, 0, bytes);
    return p;
}

void ecl_free(void *p) { free(p); }

int ecl_map_file(const char *path, const uint8_t **data, size_t *size, char *msg,
                 size_t msg_size)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return ecl_fail(msg, msg_size, ENCODEC_EIO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return ecl_fail(msg, msg_size, ENCODEC_EIO, "%s: not a regular file", path);
    }
    if (sb.st_size == 0) {
        close(fd);
        return ecl_fail(msg, msg_size, ENCODEC_EWEIGHTS_TRUNCATED, "%s: empty file", path);
    }
    void *map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED)
        return ecl_fail(msg, msg_size, ENCODEC_EIO, "%s: cannot map: %s", path, strerror(errno));
    *data = map;
    *size = (size_t)sb.st_size;
    return ENCODEC_OK;
}

void ecl_unmap_file(const uint8_t *data, size_t size) { munmap((void *)data, size); }

void ecl_release_pages(const void *p, size_t len)
{
    const long page_size = sysconf(_SC_PAGESIZE);
    if (page_size <= 0 || len == 0)
        return;
    const uintptr_t page = (uintptr_t)page_size, start = (uintptr_t)p;
    const uintptr_t first = (start + page - 1) / page * page, end = (start + len) / page * page;
    if (end > first)
        madvise((void *)first, end - first, MADV_DONTNEED);
}

uint16_t ecl_float_to_half(float f)
{
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    const uint16_t sign = (uint16_t)(x >> 16 & 0x8000u);
    x &= 0x7fffffffu;
    if (x > 0x7f800000u)
        return sign | 0x7e00u; /* NaN */
    if (x >= 0x477ff000u)      /* 65520 and above round to infinity */
        return sign | 0x7c00u;
    if (x >= 0x38800000u) {    /* normal: rebias, round the 13 dropped bits to even */
        uint32_t h = x - 0x38000000u;
        h += 0xfffu + (h >> 13 & 1u);
        return sign | (uint16_t)(h >> 13);
    }
    /* A subnormal half (multiple of 2^-24); rounding up to 1024 gives the smallest normal. */
    const int shift = 126 - (int)(x >> 23);
    if (shift > 24)
        return sign;
    const uint32_t mant = (x & 0x7fffffu) | 0x800000u, half = 1u << (shift - 1);
    uint32_t q = mant >> shift;
    const uint32_t rem = mant & ((1u << shift) - 1u);
    if (rem > half || (rem == half && (q & 1u)))
        q++;
    return sign | (uint16_t)q;
}
