/* Output files that appear whole or not at all: written to a temporary file in the same
 * folder, then renamed over the final name. "-" means standard output. */
#ifndef ENCODEC_CLI_ATOMIC_OUTPUT_H
#define ENCODEC_CLI_ATOMIC_OUTPUT_H

#include <stddef.h>

/* Remove a pending temporary file when SIGINT/SIGTERM/SIGHUP arrives, then die by it. */
void output_install_signal_handlers(void);

/* Check before any work: the folder exists, and the file does not unless force is set.
 * Prints the error; returns 0 or -1. */
int output_check(const char *path, int force);

/* Write data to path (temporary file + rename; without force an output that appeared since
 * the check is not replaced), or to stdout for "-". Prints the error; returns 0 or -1. */
int output_write(const char *path, const void *data, size_t size, int force);

/* An output written progressively: stdout (each append goes out at once), or a temporary file
 * that becomes the final name only at commit. */
typedef struct out_stream {
    int fd;
    int is_stdout;
    int force;
    const char *path;
} out_stream;

/* Open for appending (creates the temporary file). Prints the error; returns 0 or -1. */
int output_open(out_stream *s, const char *path, int force);
int output_append(out_stream *s, const void *data, size_t size);
/* Overwrite bytes at offset (a header once the length is known); files only, a no-op on
 * stdout. */
int output_rewrite(out_stream *s, size_t offset, const void *data, size_t size);
/* Publish the file under its name (fsync + rename); stdout: nothing to do. */
int output_commit(out_stream *s);
/* Remove the temporary file (no message). */
void output_abort(out_stream *s);

#endif
