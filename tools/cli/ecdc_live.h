/* Live .ecdc streams: see ecdc_live.c. */
#ifndef ENCODEC_CLI_ECDC_LIVE_H
#define ENCODEC_CLI_ECDC_LIVE_H

#include <stddef.h>

/* Whether data (a whole file or at least its header) is a live .ecdc stream. */
int ecdc_is_live(const unsigned char *data, size_t size);
/* The value of "m" in header JSON p[0..n) (flat objects only, as the writers make; the reader
 * validates the rest) into name. Returns 0, or -1 when there is none or it does not fit. */
int ecdc_live_model_name(const unsigned char *p, size_t n, char *name, size_t size);

#endif
