/* Reading inputs into memory. */
#include "input.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "diag.h"

int byte_buf_append(byte_buf *b, const void *data, size_t size)
{
    if (size > b->capacity - b->size) {
        size_t cap = b->capacity ? b->capacity : 65536;
        while (cap - b->size < size) {
            if (cap > ((size_t)-1) / 2)
                return -1;
            cap *= 2;
        }
        unsigned char *p = realloc(b->data, cap);
        if (!p)
            return -1;
        b->data = p;
        b->capacity = cap;
    }
    if (size && data)
        memcpy(b->data + b->size, data, size);
    else if (size)
        memset(b->data + b->size, 0, size);
    b->size += size;
    return 0;
}

void byte_buf_free(byte_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

int input_read(const char *path, byte_buf *out)
{
    memset(out, 0, sizeof *out);
    return input_read_append(path, out);
}

long input_read_some(int fd, void *buf, size_t cap)
{
    for (;;) {
        ssize_t n = read(fd, buf, cap);
        if (n >= 0 || errno != EINTR)
            return (long)n;
    }
}

int input_fill(int fd, byte_buf *out, size_t want)
{
    unsigned char chunk[65536];
    while (out->size < want) {
        size_t ask = want - out->size < sizeof chunk ? want - out->size : sizeof chunk;
        long n = input_read_some(fd, chunk, ask);
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        if (byte_buf_append(out, chunk, (size_t)n) != 0) {
            errno = ENOMEM;
            return -1;
        }
    }
    return 0;
}

/* Open an input file (not stdin) for reading; prints the problem and returns NULL. */
static FILE *open_input(const char *path, const char *name)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        if (errno == ENOENT)
            diag_error(name, "input file does not exist");
        else
            diag_error(name, "cannot access input: %s", strerror(errno));
        return NULL;
    }
    if (S_ISDIR(st.st_mode)) {
        diag_error(name, "input is a directory");
        return NULL;
    }
    FILE *f = fopen(path, "rb");
    if (!f)
        diag_error(name, "cannot open input: %s", strerror(errno));
    return f;
}

/* Append what f gives, up to limit bytes. Returns 0 or an errno value. */
static int read_into(FILE *f, byte_buf *out, size_t limit)
{
    unsigned char chunk[65536];
    size_t n;
    while (limit > 0 && (n = fread(chunk, 1, limit < sizeof chunk ? limit : sizeof chunk, f)) > 0) {
        if (byte_buf_append(out, chunk, n) != 0)
            return ENOMEM;
        limit -= n;
    }
    return ferror(f) ? (errno ? errno : EIO) : 0;
}

/* Append up to limit bytes of path ("-" = stdin) to out; errors printed, -1. */
static int read_path(const char *path, byte_buf *out, size_t limit)
{
    const int is_stdin = strcmp(path, "-") == 0;
    const char *name = diag_name(path, 0);
    FILE *f = is_stdin ? stdin : open_input(path, name);
    if (!f)
        return -1;
    const int err = read_into(f, out, limit);
    if (!is_stdin)
        fclose(f);
    if (err) {
        diag_error(name, "cannot read input: %s", strerror(err));
        byte_buf_free(out);
        return -1;
    }
    return 0;
}

int input_read_head(const char *path, byte_buf *out, size_t n)
{
    memset(out, 0, sizeof *out);
    return read_path(path, out, n);
}

int input_read_append(const char *path, byte_buf *out) { return read_path(path, out, SIZE_MAX); }
