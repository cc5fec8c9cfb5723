/* Finding and loading models: --model FILE, or NAME.safetensors in the search path
 * ($ENCODEC_MODEL_PATH, the source tree's weights/, the installed data folder). */
#ifndef ENCODEC_CLI_MODEL_PATH_H
#define ENCODEC_CLI_MODEL_PATH_H

#include <stddef.h>

#include "encodec.h"

/* Load the model from file if given, else find name in the search path. context names the
 * file that asked for the model (an .ecdc input) in messages, or is NULL. Prints the error and
 * returns NULL on failure. */
/* The 24 kHz model trained by this project, shipped in weights/ (used when the official
 * encodec_24khz is not installed). */
#define BUNDLED_MODEL_24KHZ "libencodec_24khz"

encodec_model *model_open(const char *file, const char *name, const char *context);

/* Attach the language model (entropy coding) to m: lm_file if given, else NAME_lm.safetensors
 * beside model_file (when the model came from --model), else in the search path. Call before
 * any encoder or decoder is made from m. Prints the error naming context; returns 0 or -1. */
int model_attach_lm(encodec_model *m, const char *model_file, const char *lm_file,
                    const char *context);

/* Find name in the search path: returns 0 and fills path, or -1 (no message). */
int model_find(const char *name, char *path, size_t size);

/* The search path, colon-separated, for messages and --help. */
void model_search_path(char *out, size_t size);

#endif
