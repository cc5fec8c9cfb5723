/* Reading inputs: whole (formats that need it), or the first bytes for a look at the magic
 * before a file is streamed; a pipe on stdin is inspected the same way. */
#ifndef ENCODEC_CLI_INPUT_H
#define ENCODEC_CLI_INPUT_H

#include <stddef.h>

typedef struct byte_buf {
    unsigned char *data;
    size_t size;
    size_t capacity;
} byte_buf;

/* Append bytes (zeros if data is NULL), growing the buffer; returns 0 or -1 (no memory). */
int byte_buf_append(byte_buf *b, const void *data, size_t size);
void byte_buf_free(byte_buf *b);

/* Read all of path ("-" = stdin). Prints "encodec: FILE: problem" and returns -1 on error. */
int input_read(const char *path, byte_buf *out);

/* The first n bytes (fewer if the file is shorter) of the file at path, not stdin; errors as
 * input_read. */
int input_read_head(const char *path, byte_buf *out, size_t n);

/* As input_read, appending to out (which may already hold bytes read from the start). */
int input_read_append(const char *path, byte_buf *out);

/* One read(2) from fd into buf: what is available now (waits for at least a byte). Returns
 * the bytes read, 0 at the end, -1 on error (errno set). */
long input_read_some(int fd, void *buf, size_t cap);

/* Read from fd until out holds at least want bytes or the input ends. Returns 0 or -1. */
int input_fill(int fd, byte_buf *out, size_t want);

#endif
