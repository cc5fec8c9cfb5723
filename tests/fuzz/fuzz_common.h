/* Shared by the libFuzzer targets: loading the tiny test models once per process (from
 * tests/data, whose path is compiled in as ENCODEC_TEST_DATA), and a check macro that prints
 * what was violated and aborts, so that libFuzzer records the input as a crash. Header-only
 * (static inline functions) so that each target stays a single translation unit. */
#ifndef ENCODEC_FUZZ_COMMON_H
#define ENCODEC_FUZZ_COMMON_H

#include <stdio.h>
#include <stdlib.h>

#include "encodec.h"

#ifndef ENCODEC_TEST_DATA
#error "ENCODEC_TEST_DATA (the tests/data directory) must be defined"
#endif

/* An invariant of the API; on violation the input is a finding. */
#define FUZZ_CHECK(cond, ...)                                                                \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            fprintf(stderr, "FUZZ CHECK FAILED %s:%d: %s: ", __FILE__, __LINE__, #cond);     \
            fprintf(stderr, __VA_ARGS__);                                                    \
            fprintf(stderr, "\n");                                                           \
            abort();                                                                         \
        }                                                                                    \
    } while (0)

/* Load tests/data/<name> (and attach tests/data/<lm> when lm is not NULL); exits on failure,
 * since a target without its model cannot run at all. */
static inline encodec_model *fuzz_load_model(const char *name, const char *lm)
{
    char path[1024], msg[512];
    encodec_model *m = NULL;
    snprintf(path, sizeof path, "%s/%s", ENCODEC_TEST_DATA, name);
    if (encodec_model_load_file(path, &m, msg, sizeof msg) != ENCODEC_OK) {
        fprintf(stderr, "fuzz: cannot load %s: %s\n", path, msg);
        exit(2);
    }
    if (lm) {
        snprintf(path, sizeof path, "%s/%s", ENCODEC_TEST_DATA, lm);
        if (encodec_model_load_lm_file(m, path, msg, sizeof msg) != ENCODEC_OK) {
            fprintf(stderr, "fuzz: cannot attach %s: %s\n", path, msg);
            exit(2);
        }
    }
    return m;
}

/* Whole file into a malloc'd buffer (exits on failure). */
static inline unsigned char *fuzz_read_data(const char *name, size_t *len)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", ENCODEC_TEST_DATA, name);
    FILE *f = fopen(path, "rb");
    if (!f || fseek(f, 0, SEEK_END) != 0) {
        fprintf(stderr, "fuzz: cannot read %s\n", path);
        exit(2);
    }
    const long n = ftell(f);
    unsigned char *b = malloc(n > 0 ? (size_t)n : 1);
    rewind(f);
    if (n < 0 || !b || fread(b, 1, (size_t)n, f) != (size_t)n) {
        fprintf(stderr, "fuzz: cannot read %s\n", path);
        exit(2);
    }
    fclose(f);
    *len = (size_t)n;
    return b;
}

#endif
