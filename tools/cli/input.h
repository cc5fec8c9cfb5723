/* Whole input files in memory: the codec works on complete signals, and reading once lets a
 * pipe on stdin be inspected (for the .ecdc magic) and then decoded like a file. */
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

#endif
