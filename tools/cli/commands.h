/* The jobs: compress (audio -> .ecdc), decompress (.ecdc -> WAV, stream_decompress.c), the
 * compress/decompress cycle (audio -> WAV), and info. Each returns the process exit status. */
#ifndef ENCODEC_CLI_COMMANDS_H
#define ENCODEC_CLI_COMMANDS_H

#include "encodec.h"
#include "input.h"
#include "options.h"

/* 1 if data (the input's bytes) is an .ecdc stream by name or by its magic. */
int is_ecdc(const char *path, const byte_buf *data);

/* Inputs are already read; outputs already checked. out_is_wav selects the cycle. */
int run_compress(const cli_options *o, const byte_buf *in, int out_is_wav);
/* Progressive versions for pipes (stream_*.c). head holds the bytes of stdin already read
 * (at least the 4 of the magic when there are that many); the rest is read from stdin.
 * run_decompress_stream with from_stdin = 0 decodes head alone (a whole file in memory). */
int run_decompress_stream(const cli_options *o, byte_buf *head, int from_stdin);
int run_compress_stream(const cli_options *o, byte_buf *head);
/* The input file read progressively when its format states its length exactly: returns the
 * exit status, or STREAM_FALLBACK (-2) before anything is written or reported when the file
 * needs the whole-file path (other formats, unreadable, length not as announced). */
enum { STREAM_FALLBACK = -2 };
int run_compress_file_stream(const cli_options *o);

/* Helpers shared by the commands. */
/* The model for compression (--model, or encodec_24khz / _48khz with --hq) with the bandwidth
 * checked; prints the error and returns NULL on failure. */
encodec_model *open_compress_model(const cli_options *o, const char *in_name);
/* Raw output has the model's rate and channels: an error (printed, -1) if --rate or
 * --channels ask for others. */
int check_raw_output(const cli_options *o, const encodec_model *m);
/* One message for a decoding failure err of a stream from in_name. */
void report_decode_error(const cli_options *o, const char *in_name, const encodec_model *m,
                         int err);

/* `encodec info FILE`: header, model, duration, bitrate of .ecdc files; format of audio. */
int run_info(const cli_options *o, const char *path);

#endif
