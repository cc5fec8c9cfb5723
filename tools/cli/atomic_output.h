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

#endif
