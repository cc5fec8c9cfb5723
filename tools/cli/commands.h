/* The jobs: compress (audio -> .ecdc), decompress (.ecdc -> WAV), the compress/decompress
 * cycle (audio -> WAV), and info. Each returns the process exit status. */
#ifndef ENCODEC_CLI_COMMANDS_H
#define ENCODEC_CLI_COMMANDS_H

#include "input.h"
#include "options.h"

/* 1 if data (the input's bytes) is an .ecdc stream by name or by its magic. */
int is_ecdc(const char *path, const byte_buf *data);

/* Inputs are already read; outputs already checked. out_is_wav selects the cycle. */
int run_compress(const cli_options *o, const byte_buf *in, int out_is_wav);
int run_decompress(const cli_options *o, const byte_buf *in);
/* `encodec info FILE`: header, model, duration, bitrate of .ecdc files; format of audio. */
int run_info(const cli_options *o, const char *path);

#endif
