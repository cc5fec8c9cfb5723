/* Test helpers shared by every cmocka program (see testutil.h): paths into tests/data, whole
 * file I/O, temporary directories, golden test-vector access through the library's own
 * safetensors parser (tensors are handed out as aligned copies owned by the tu_golden), and a
 * model loader. Every helper fails the running test with fail_msg instead of returning an
 * error, so tests stay short. */
#include "testutil.h"

#include "rvq.h"
#include "seanet.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "safetensors.h"

#ifndef ENCODEC_TEST_DATA
#error "ENCODEC_TEST_DATA must name the tests/data directory"
#endif

/* One aligned tensor copy handed out by the golden accessors. */
typedef struct tu_copy {
    struct tu_copy *next;
    void *data;
} tu_copy;

struct tu_golden {
    uint8_t *file;
    size_t len;
    ecl_safetensors *st;
    tu_copy *copies;
};

char *tu_data_path(const char *name)
{
    size_t n = strlen(ENCODEC_TEST_DATA) + 1 + strlen(name) + 1;
    char *p = malloc(n);
    if (!p)
        fail_msg("out of memory");
    snprintf(p, n, "%s/%s", ENCODEC_TEST_DATA, name);
    return p;
}

uint8_t *tu_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap);
    if (!buf)
        fail_msg("out of memory");
    /* Read in chunks: works for pipes too and needs no ftell/off_t juggling. */
    for (;;) {
        if (n == cap) {
            cap *= 2;
            uint8_t *nb = realloc(buf, cap);
            if (!nb)
                fail_msg("out of memory reading %s", path);
            buf = nb;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    int err = ferror(f);
    fclose(f);
    if (err)
        fail_msg("cannot read %s", path);
    if (len)
        *len = n;
    return buf;
}

void tu_write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        fail_msg("cannot create %s: %s", path, strerror(errno));
    size_t put = len ? fwrite(data, 1, len, f) : 0;
    int err = fclose(f);
    if (put != len || err != 0)
        fail_msg("cannot write %s", path);
}

char *tu_tmpdir(void)
{
    char tmpl[] = "/tmp/encodec_test_XXXXXX";
    if (!mkdtemp(tmpl))
        fail_msg("mkdtemp: %s", strerror(errno));
    char *p = malloc(sizeof tmpl);
    if (!p)
        fail_msg("out of memory");
    memcpy(p, tmpl, sizeof tmpl);
    return p;
}

/* Recursive removal with opendir/readdir (POSIX) rather than nftw, which needs XSI. Symbolic
 * links are removed, never followed. */
void tu_rmtree(const char *path)
{
    struct stat sb;
    if (lstat(path, &sb) != 0)
        return;
    if (S_ISDIR(sb.st_mode)) {
        DIR *d = opendir(path);
        if (d) {
            struct dirent *e;
            while ((e = readdir(d)) != NULL) {
                if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                    continue;
                size_t n = strlen(path) + 1 + strlen(e->d_name) + 1;
                char *child = malloc(n);
                if (!child)
                    break;
                snprintf(child, n, "%s/%s", path, e->d_name);
                tu_rmtree(child);
                free(child);
            }
            closedir(d);
        }
        rmdir(path);
    } else {
        unlink(path);
    }
}

tu_golden *tu_golden_open(const char *name)
{
    tu_golden *g = calloc(1, sizeof *g);
    if (!g)
        fail_msg("out of memory");
    char *path = tu_data_path(name);
    g->file = tu_read_file(path, &g->len);
    char msg[256];
    int rc = ecl_safetensors_open(g->file, g->len, &g->st, msg, sizeof msg);
    if (rc < 0)
        fail_msg("%s: %s (%d)", path, msg, rc);
    free(path);
    return g;
}

void tu_golden_close(tu_golden *g)
{
    if (!g)
        return;
    while (g->copies) {
        tu_copy *c = g->copies;
        g->copies = c->next;
        free(c->data);
        free(c);
    }
    ecl_safetensors_close(g->st);
    free(g->file);
    free(g);
}

/* Look up name, check its dtype, return a 64-byte aligned copy of its bytes owned by g. */
static const void *golden_copy(tu_golden *g, const char *name, ecl_dtype dtype,
                               const char *dtype_name, int64_t *shape, int *n_dims,
                               size_t *n_elements)
{
    const ecl_tensor *t = ecl_safetensors_find(g->st, name);
    if (!t)
        fail_msg("golden tensor '%s' not found", name);
    if (t->dtype != dtype)
        fail_msg("golden tensor '%s' is not %s", name, dtype_name);
    size_t bytes = t->n_elements * ecl_dtype_size(dtype);
    size_t alloc = (bytes + 63) / 64 * 64;
    tu_copy *c = malloc(sizeof *c);
    void *data = aligned_alloc(64, alloc ? alloc : 64);
    if (!c || !data)
        fail_msg("out of memory copying '%s'", name);
    if (bytes)
        memcpy(data, t->data, bytes);
    c->data = data;
    c->next = g->copies;
    g->copies = c;
    if (shape)
        for (int i = 0; i < t->n_dims; i++)
            shape[i] = t->shape[i];
    if (n_dims)
        *n_dims = t->n_dims;
    if (n_elements)
        *n_elements = t->n_elements;
    return data;
}

const float *tu_golden_f32(tu_golden *g, const char *name, int64_t *shape, int *n_dims,
                           size_t *n_elements)
{
    return golden_copy(g, name, ECL_DTYPE_F32, "F32", shape, n_dims, n_elements);
}

const int32_t *tu_golden_i32(tu_golden *g, const char *name, int64_t *shape, int *n_dims,
                             size_t *n_elements)
{
    return golden_copy(g, name, ECL_DTYPE_I32, "I32", shape, n_dims, n_elements);
}

const uint8_t *tu_golden_u8(tu_golden *g, const char *name, size_t *n_elements)
{
    return golden_copy(g, name, ECL_DTYPE_U8, "U8", NULL, NULL, n_elements);
}

int tu_golden_has(tu_golden *g, const char *name)
{
    return ecl_safetensors_find(g->st, name) != NULL;
}

const char *tu_golden_metadata(tu_golden *g, const char *key)
{
    return ecl_safetensors_metadata(g->st, key);
}

double tu_max_abs_diff(const float *a, const float *b, size_t n)
{
    double m = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        /* NaN or a mismatched infinity must never pass a tolerance check. */
        if (isnan(d)) {
            if (isnan(a[i]) || isnan(b[i]) || a[i] != b[i])
                return INFINITY;
            continue; /* equal infinities */
        }
        if (d > m)
            m = d;
    }
    return m;
}

encodec_model *tu_load_model(const char *name)
{
    char *path = tu_data_path(name);
    encodec_model *m = NULL;
    char msg[256] = "";
    int rc = encodec_model_load_file(path, &m, msg, sizeof msg);
    if (rc < 0 || !m)
        fail_msg("loading %s: %s (%s, %d)", path, msg, encodec_strerror(rc), rc);
    free(path);
    return m;
}

encodec_model *tu_load_model_f16(const char *stem)
{
    char *dir = tu_tmpdir(), cmd[4096], st[1024];
    snprintf(st, sizeof st, "%s/%s_f16.safetensors", dir, stem);
    snprintf(cmd, sizeof cmd, "%s %s/tools/encodec-convert --f16 %s/%s.th %s", PYTHON3,
             ENCODEC_SOURCE_DIR, ENCODEC_TEST_DATA, stem, st);
    if (system(cmd) != 0)
        fail_msg("command failed: %s", cmd);
    encodec_model *m = NULL;
    char msg[256] = "";
    const int rc = encodec_model_load_file(st, &m, msg, sizeof msg);
    tu_rmtree(dir);
    free(dir);
    if (rc < 0 || !m)
        fail_msg("loading %s: %s (%s, %d)", st, msg, encodec_strerror(rc), rc);
    return m;
}

unsigned tu_seed(void)
{
    const char *env = getenv("ENCODEC_TEST_SEED");
    unsigned seed = env ? (unsigned)strtoul(env, NULL, 0) : (unsigned)time(NULL);
    printf("seed %u (set ENCODEC_TEST_SEED to repeat)\n", seed);
    return seed;
}

uint32_t tu_rand(uint32_t *state)
{
    uint32_t x = *state ? *state : 0x9e3779b9u;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *state = x;
}

void tu_collector_init(tu_collector *c, int cols)
{
    memset(c, 0, sizeof *c);
    c->cols = cols;
}

void tu_collector_free(tu_collector *c)
{
    for (int i = 0; i < TU_SLOTS; i++)
        free(c->data[i]);
    memset(c->data, 0, sizeof c->data);
}

void tu_collect(tu_collector *c, int slot, const float *x, int channels, int n, int stride)
{
    assert_true(slot >= 0 && slot < TU_SLOTS);
    if (!c->data[slot])
        c->data[slot] = calloc((size_t)channels * c->cols, sizeof(float));
    assert_non_null(c->data[slot]);
    assert_true(c->len[slot] + n <= c->cols);
    for (int ch = 0; ch < channels; ch++)
        memcpy(c->data[slot] + (size_t)ch * c->cols + c->len[slot], x + (size_t)ch * stride,
               (size_t)n * sizeof(float));
    c->channels[slot] = channels;
    c->len[slot] += n;
}

double tu_collector_compare(const tu_collector *c, int slot, const float *want,
                            const int64_t *shape)
{
    assert_int_equal(c->channels[slot], shape[0]);
    assert_int_equal(c->len[slot], shape[1]);
    double worst = 0;
    for (int ch = 0; ch < shape[0]; ch++) {
        const double d = tu_max_abs_diff(c->data[slot] + (size_t)ch * c->cols,
                                         want + ch * shape[1], (size_t)shape[1]);
        worst = d > worst ? d : worst;
    }
    return worst;
}

static void trace_to_collector(void *ctx, int layer, const float *x, int channels, int n,
                               int stride)
{
    tu_collect(ctx, layer, x, channels, n, stride);
}

static void sink_to_collector(void *ctx, const float *x, int channels, int n, int stride)
{
    tu_collect(ctx, TU_SLOT_OUT, x, channels, n, stride);
}

void tu_run_stream(const encodec_model *m, int decoder, const float *x, int channels, int n,
                   tu_collector *c, int trace)
{
    ecl_seanet_stream *s;
    int out_max;
    assert_int_equal(ecl_seanet_stream_create(m, decoder, n, &s, &out_max), ENCODEC_OK);
    if (trace)
        ecl_seanet_stream_set_trace(s, trace_to_collector, c);
    ecl_seanet_stream_push(s, x, channels, n, n, sink_to_collector, c);
    ecl_seanet_stream_flush(s, sink_to_collector, c);
    ecl_seanet_stream_free(s);
}

void tu_check_traces(tu_golden *g, const tu_collector *c, const char *side)
{
    double worst = 0;
    for (int layer = 0; layer < 16; layer++) {
        char name[64];
        int64_t shape[8];
        snprintf(name, sizeof name, "short.trace.%s.%d", side, layer);
        const double d =
            tu_collector_compare(c, layer, tu_golden_f32(g, name, shape, NULL, NULL), shape);
        if (d > 1e-4)
            fail_msg("%s: max abs diff %g > 1e-4", name, d);
        worst = d > worst ? d : worst;
    }
    print_message("layer traces %s: max abs diff %.3g\n", side, worst);
}

void tu_rvq_encode(const encodec_model *m, const float *latent, int n_frames, int stride,
                   int n_codebooks, int32_t *codes)
{
    float *scratch = malloc(sizeof(float) * ecl_rvq_scratch_floats(m));
    const float **ptrs = malloc(sizeof(*ptrs) * ecl_rvq_scratch_ptrs(m));
    assert_non_null(scratch);
    assert_non_null(ptrs);
    const ecl_exec ex = {ecl_isa_default(), 1};
    ecl_rvq_encode(m, latent, n_frames, stride, n_codebooks, codes, scratch, ptrs, &ex);
    free(scratch);
    free((void *)ptrs);
}
