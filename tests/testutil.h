/* Helpers for the cmocka tests: test-data paths, whole-file reads, golden tensors. Every helper
 * fails the current test (cmocka fail_msg) instead of returning an error. */
#ifndef ENCODEC_TESTUTIL_H
#define ENCODEC_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "encodec.h"

/* Path of a file in tests/data (returned string is malloc'd; free it). */
char *tu_data_path(const char *name);
/* Whole file into a malloc'd buffer; *len receives its size. */
uint8_t *tu_read_file(const char *path, size_t *len);
/* Write a buffer to a file. */
void tu_write_file(const char *path, const void *data, size_t len);
/* A fresh temporary directory (malloc'd path); removed with tu_rmtree. */
char *tu_tmpdir(void);
void tu_rmtree(const char *path);

/* A golden test-vector file (e.g. "tiny24.golden.safetensors") opened from tests/data. */
typedef struct tu_golden tu_golden;
tu_golden *tu_golden_open(const char *name);
void tu_golden_close(tu_golden *g);
/* Tensor by name as an aligned copy owned by g; shape (up to 8 dims) and n_dims optional.
 * Fails the test if absent or of another dtype. n_elements optional. */
const float *tu_golden_f32(tu_golden *g, const char *name, int64_t *shape, int *n_dims,
                           size_t *n_elements);
const int32_t *tu_golden_i32(tu_golden *g, const char *name, int64_t *shape, int *n_dims,
                             size_t *n_elements);
const uint8_t *tu_golden_u8(tu_golden *g, const char *name, size_t *n_elements);
/* 1 if the golden file has a tensor of that name. */
int tu_golden_has(tu_golden *g, const char *name);
/* String value from the golden file's __metadata__, or NULL. */
const char *tu_golden_metadata(tu_golden *g, const char *key);

/* Max |a - b| over n floats. */
/* ecl_rvq_encode on the default kernel path, with its own scratch. */
void tu_rvq_encode(const encodec_model *m, const float *latent, int n_frames, int stride,
                   int n_codebooks, int32_t *codes);

double tu_max_abs_diff(const float *a, const float *b, size_t n);

/* Seed for randomised tests: ENCODEC_TEST_SEED if set, else the clock; always printed. */
unsigned tu_seed(void);
/* xorshift32: a small deterministic generator, independent of the C library's rand(). */
uint32_t tu_rand(uint32_t *state);

/* Collects the chunks a stream (seanet.h) hands to its layer trace or sink, per slot:
 * slots 0..TU_SLOTS-2 are layer indices, TU_SLOT_OUT the stream's output. */
#define TU_SLOTS 33
#define TU_SLOT_OUT (TU_SLOTS - 1)
typedef struct {
    float *data[TU_SLOTS]; /* [channels][cols] */
    int channels[TU_SLOTS], len[TU_SLOTS], cols;
} tu_collector;
void tu_collector_init(tu_collector *c, int cols);
void tu_collector_free(tu_collector *c);
void tu_collect(tu_collector *c, int slot, const float *x, int channels, int n, int stride);
/* Max abs difference between a slot and a golden [shape[0]][shape[1]] tensor (asserts shape). */
double tu_collector_compare(const tu_collector *c, int slot, const float *want,
                            const int64_t *shape);

/* Run a whole signal [channels][n] through a fresh SEANet encoder (decoder = 0) or decoder
 * stream (push all, flush), collecting its output in TU_SLOT_OUT and, with trace, every
 * layer's output in the slot of its index. */
void tu_run_stream(const encodec_model *m, int decoder, const float *x, int channels, int n,
                   tu_collector *c, int trace);
/* Compare traced layers 0..15 with the golden "short.trace.<side>.<i>" (max abs 1e-4, the
 * golden README's threshold); prints the largest difference. */
void tu_check_traces(tu_golden *g, const tu_collector *c, const char *side);

/* Load a model from tests/data, failing the test on error. */
encodec_model *tu_load_model(const char *name);
/* The checkpoint tests/data/<stem>.th converted with encodec-convert --f16 and loaded (the
 * converted file is removed again). */
encodec_model *tu_load_model_f16(const char *stem);

#endif
