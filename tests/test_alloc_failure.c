/* Allocation failure at every allocation site of the calls that allocate (model and LM load,
 * encoder/decoder create, the .ecdc writer/reader create, compress and decompress): each
 * attempt fails the n-th allocation for n = 1, 2, ... until the call succeeds; every failing
 * attempt must return ENCODEC_ENOMEM, leave its output NULL, and free everything it had
 * allocated. The allocation functions are wrapped at link time (tests/CMakeLists.txt); cJSON is
 * a shared library, so its own allocations are outside this test. */
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static long countdown = -1; /* fail when it reaches 0; -1: never */
static long live;           /* allocations not yet freed, while armed */
static int armed;

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void *__real_aligned_alloc(size_t alignment, size_t n);
void __real_free(void *p);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
void *__wrap_aligned_alloc(size_t alignment, size_t n);
void __wrap_free(void *p);

static int should_fail(void)
{
    if (!armed)
        return 0;
    if (countdown == 0)
        return 1;
    if (countdown > 0)
        countdown--;
    return 0;
}

void *__wrap_malloc(size_t n)
{
    if (should_fail())
        return NULL;
    void *p = __real_malloc(n);
    live += armed && p;
    return p;
}
void *__wrap_calloc(size_t n, size_t size)
{
    if (should_fail())
        return NULL;
    void *p = __real_calloc(n, size);
    live += armed && p;
    return p;
}
void *__wrap_realloc(void *p, size_t n)
{
    if (should_fail())
        return NULL;
    void *q = __real_realloc(p, n);
    live += armed && q && !p;
    return q;
}
void *__wrap_aligned_alloc(size_t alignment, size_t n)
{
    if (should_fail())
        return NULL;
    void *p = __real_aligned_alloc(alignment, n);
    live += armed && p;
    return p;
}
void __wrap_free(void *p)
{
    live -= armed && p;
    __real_free(p);
}

/* Run `call` with the n-th allocation failing, for every n until it succeeds; returns how many
 * sites were exercised. `undo` frees what a successful call made. */
typedef int (*call_fn)(void *ctx);
static int every_site(const char *what, call_fn call, void (*undo)(void *ctx), void *ctx)
{
    for (long n = 0;; n++) {
        live = 0;
        countdown = n;
        armed = 1;
        const int rc = call(ctx);
        armed = 0;
        countdown = -1;
        if (rc == ENCODEC_OK) {
            undo(ctx);
            print_message("%s: %ld allocation sites, each failing cleanly\n", what, n);
            return (int)n;
        }
        if (rc != ENCODEC_ENOMEM)
            fail_msg("%s: allocation %ld failing gave %s, not ENCODEC_ENOMEM", what, n + 1,
                     encodec_strerror(rc));
        if (live != 0)
            fail_msg("%s: allocation %ld failing leaked %ld blocks", what, n + 1, live);
    }
}

typedef struct {
    uint8_t *file, *lm_file, *ecdc;
    size_t size, lm_size, ecdc_size;
    encodec_model *model;
    encodec_encoder *enc;
    encodec_decoder *dec;
    void *out;
    float *pcm;
    size_t n;
} ctx_t;

static int do_load(void *p)
{
    ctx_t *c = p;
    encodec_model *m = (encodec_model *)1;
    int rc = encodec_model_load_memory(c->file, c->size, &m, NULL, 0);
    if (rc)
        assert_null(m);
    c->out = m;
    return rc;
}
static void undo_load(void *p) { encodec_model_free(((ctx_t *)p)->out); }

static int do_lm(void *p)
{
    ctx_t *c = p;
    return encodec_model_load_lm_memory(c->model, c->lm_file, c->lm_size, NULL, 0);
}
static void undo_nothing(void *p) { (void)p; }

static int do_encoder(void *p)
{
    ctx_t *c = p;
    encodec_encoder *e = (encodec_encoder *)1;
    int rc = encodec_encoder_create(c->model, &e);
    if (rc)
        assert_null(e);
    c->out = e;
    return rc;
}
static void undo_encoder(void *p) { encodec_encoder_free(((ctx_t *)p)->out); }

static int do_decoder(void *p)
{
    ctx_t *c = p;
    encodec_decoder *d = (encodec_decoder *)1;
    int rc = encodec_decoder_create(c->model, &d);
    if (rc)
        assert_null(d);
    c->out = d;
    return rc;
}
static void undo_decoder(void *p) { encodec_decoder_free(((ctx_t *)p)->out); }

static int do_writer(void *p)
{
    ctx_t *c = p;
    encodec_ecdc_writer *w = NULL;
    int rc = encodec_ecdc_writer_create(c->enc, 1000, 0, &w);
    c->out = w;
    return rc;
}
static void undo_writer(void *p) { encodec_ecdc_writer_free(((ctx_t *)p)->out); }

static int do_reader(void *p)
{
    ctx_t *c = p;
    encodec_ecdc_reader *r = NULL;
    int rc = encodec_ecdc_reader_create(c->dec, &r);
    c->out = r;
    return rc;
}
static void undo_reader(void *p) { encodec_ecdc_reader_free(((ctx_t *)p)->out); }

static int do_writer_lm(void *p)
{
    ctx_t *c = p;
    encodec_ecdc_writer *w = NULL;
    int rc = encodec_ecdc_writer_create(c->enc, 1000, 1, &w);
    c->out = w;
    return rc;
}

/* An LM-coded stream through the incremental reader: the LM's state is set up at its header.
 * A failed push leaves the reader (in its error state): freed here, so nothing stays. */
static int do_reader_lm(void *p)
{
    ctx_t *c = p;
    static float pcm[1 << 14];
    encodec_ecdc_reader *r = NULL;
    int rc = encodec_ecdc_reader_create(c->dec, &r);
    assert_true(rc != ENCODEC_OK || encodec_ecdc_reader_min_samples(r) <= 1 << 14);
    for (size_t pos = 0, used, got; rc == ENCODEC_OK && pos < c->ecdc_size; pos += used)
        rc = encodec_ecdc_reader_push_partial(r, c->ecdc + pos, c->ecdc_size - pos, &used, pcm,
                                              1 << 14, &got);
    if (rc != ENCODEC_OK) {
        encodec_ecdc_reader_free(r);
        r = NULL;
    }
    c->out = r;
    return rc;
}

static int do_compress(void *p)
{
    ctx_t *c = p;
    uint8_t *bytes = NULL;
    size_t size;
    int rc = encodec_compress(c->enc, c->pcm, c->n, 1, &bytes, &size);
    c->out = bytes;
    return rc;
}
static int do_decompress(void *p)
{
    ctx_t *c = p;
    float *pcm = NULL;
    size_t n;
    int rc = encodec_decompress(c->dec, c->ecdc, c->ecdc_size, &pcm, &n);
    c->out = pcm;
    return rc;
}
static void undo_buffer(void *p) { encodec_buffer_free(((ctx_t *)p)->out); }

static void test_every_site(void **state)
{
    (void)state;
    ctx_t c = {0};
    char *path = tu_data_path("tiny24.safetensors");
    c.file = tu_read_file(path, &c.size);
    free(path);
    path = tu_data_path("tiny24_lm.safetensors");
    c.lm_file = tu_read_file(path, &c.lm_size);
    free(path);
    assert_true(every_site("model load", do_load, undo_load, &c) > 10);
    c.model = tu_load_model("tiny24.safetensors");
    assert_true(every_site("LM attach", do_lm, undo_nothing, &c) > 0);
    assert_int_equal(encodec_model_has_lm(c.model), 1);
    assert_true(every_site("encoder create", do_encoder, undo_encoder, &c) > 10);
    assert_true(every_site("decoder create", do_decoder, undo_decoder, &c) > 10);
    assert_int_equal(encodec_encoder_create(c.model, &c.enc), 0);
    assert_int_equal(encodec_decoder_create(c.model, &c.dec), 0);
    every_site("ecdc writer create", do_writer, undo_writer, &c);
    every_site("ecdc reader create", do_reader, undo_reader, &c);
    c.n = 4000;
    c.pcm = calloc(c.n, sizeof(float));
    for (size_t i = 0; i < c.n; i++)
        c.pcm[i] = 0.01f * (float)(i % 100);
    assert_true(every_site("compress (LM)", do_compress, undo_buffer, &c) > 0);
    assert_int_equal(encodec_compress(c.enc, c.pcm, c.n, 1, &c.ecdc, &c.ecdc_size), 0);
    assert_true(every_site("decompress (LM)", do_decompress, undo_buffer, &c) > 0);
    assert_true(every_site("ecdc writer create (LM)", do_writer_lm, undo_writer, &c) > 0);
    assert_true(every_site("ecdc reader, LM-coded stream", do_reader_lm, undo_reader, &c) > 0);
    encodec_buffer_free(c.ecdc);
    free(c.pcm);
    encodec_encoder_free(c.enc);
    encodec_decoder_free(c.dec);
    encodec_model_free(c.model);
    free(c.file);
    free(c.lm_file);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_every_site)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
