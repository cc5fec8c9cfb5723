/* Streaming calls never allocate: every allocation happens at create. The test is linked with
 * -Wl,--wrap for the allocation functions (tests/CMakeLists.txt), so it counts every malloc,
 * calloc, realloc and aligned_alloc the library makes while encoders and decoders push, flush
 * and reset — for the 24 kHz model and the segmented 48 kHz one. The OpenMP runtime is counted
 * too: libgomp allocates with memalign, which this program defines (so that the shared
 * library's calls bind to it), e.g. for every OpenMP region entered only to run on one thread
 * (not with the sanitizers, whose allocators must see every block). */
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static long allocations;
static int counting;

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void *__real_aligned_alloc(size_t alignment, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
void *__wrap_aligned_alloc(size_t alignment, size_t n);

void *__wrap_malloc(size_t n)
{
    allocations += counting;
    return __real_malloc(n);
}
void *__wrap_calloc(size_t n, size_t size)
{
    allocations += counting;
    return __real_calloc(n, size);
}
void *__wrap_realloc(void *p, size_t n)
{
    allocations += counting;
    return __real_realloc(p, n);
}
void *__wrap_aligned_alloc(size_t alignment, size_t n)
{
    allocations += counting;
    return __real_aligned_alloc(alignment, n);
}

#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
extern void *__libc_memalign(size_t alignment, size_t n);
__attribute__((visibility("default"))) void *memalign(size_t alignment, size_t n);
void *memalign(size_t alignment, size_t n)
{
    allocations += counting;
    return __libc_memalign(alignment, n);
}
#endif

static void stream(const char *model_name, float bandwidth)
{
    encodec_model *m = tu_load_model(model_name);
    const int ch = encodec_model_channels(m);
    const size_t len = 60000;
    float *pcm = calloc(len * ch, sizeof *pcm);
    for (size_t i = 0; i < len * ch; i++)
        pcm[i] = 0.1f * (float)((i * 7919) % 200) / 200.0f - 0.05f;
    encodec_encoder *e;
    encodec_decoder *d;
    assert_int_equal(encodec_encoder_create(m, &e), 0);
    assert_int_equal(encodec_decoder_create(m, &d), 0);
    assert_int_equal(encodec_encoder_set_bandwidth(e, bandwidth), 0);
    const int K = encodec_encoder_codebooks(e);
    const size_t max = encodec_encoder_max_frames(e, len);
    int32_t *codes = malloc(max * K * sizeof *codes);
    float *scales = malloc(max * sizeof *scales);
    float *out = malloc((max * 320 + 320) * ch * sizeof *out);
    for (int round = 0; round < 2; round++) {
        allocations = 0;
        counting = 1;
        size_t nf, ns, done = 0;
        for (size_t chunk = 1; done < len; chunk = chunk * 5 % 3001 + 1) {
            const size_t c = chunk < len - done ? chunk : len - done;
            assert_int_equal(encodec_encoder_push(e, pcm + done * ch, c, codes, scales, max, &nf), 0);
            assert_int_equal(encodec_decoder_push(d, codes, scales, nf, K, out,
                                                  encodec_decoder_max_samples(d, nf), &ns), 0);
            done += c;
        }
        assert_int_equal(encodec_encoder_flush(e, codes, scales, max, &nf), 0);
        assert_int_equal(encodec_decoder_push(d, codes, scales, nf, K, out,
                                              encodec_decoder_max_samples(d, nf), &ns), 0);
        assert_int_equal(encodec_decoder_flush(d, out, encodec_decoder_max_samples(d, 0), &ns), 0);
        assert_int_equal(encodec_encoder_reset(e), 0);
        assert_int_equal(encodec_decoder_reset(d), 0);
        counting = 0;
        print_message("%s: %ld allocations while streaming (round %d)\n", model_name,
                      allocations, round);
        assert_int_equal(allocations, 0);
    }
    free(codes);
    free(scales);
    free(out);
    free(pcm);
    encodec_encoder_free(e);
    encodec_decoder_free(d);
    encodec_model_free(m);
}

static void test_tiny24(void **state)
{
    (void)state;
    stream("tiny24.safetensors", 6.0f);
}

static void test_tiny48(void **state)
{
    (void)state;
    stream("tiny48.safetensors", 6.0f);
}

/* The incremental .ecdc writer and reader: push and finish allocate nothing either (the reader
 * parses the header's JSON once, before the counted part). */
static void test_byte_streams(void **state)
{
    (void)state;
    encodec_model *m = tu_load_model("tiny24.safetensors");
    encodec_encoder *e;
    encodec_decoder *d;
    encodec_ecdc_writer *w;
    encodec_ecdc_reader *r;
    assert_int_equal(encodec_encoder_create(m, &e), 0);
    assert_int_equal(encodec_decoder_create(m, &d), 0);
    const size_t len = 20000;
    float *pcm = calloc(len, sizeof *pcm), *out = malloc(4 * len * sizeof *out);
    for (size_t i = 0; i < len; i++)
        pcm[i] = 0.1f * (float)((i * 7919) % 200) / 200.0f - 0.05f;
    uint8_t *bytes = malloc(65536);
    size_t size = 0, n, ns;
    static const char *const kinds[] = {"known length", "live", "LM-coded"};
    for (int kind = 0; kind < 3; kind++) {
        const int live = kind == 1, use_lm = kind == 2;
        if (use_lm) {
            char *path = tu_data_path("tiny24_lm.safetensors"), msg[256];
            assert_int_equal(encodec_model_load_lm_file(m, path, msg, sizeof msg), 0);
            free(path);
        }
        assert_int_equal(encodec_ecdc_writer_create(e, live ? 0 : len, use_lm, &w), 0);
        allocations = 0;
        counting = 1;
        size = 0;
        for (size_t done = 0, chunk = 100; done < len; done += chunk, chunk = chunk * 3 % 997 + 1) {
            const size_t c = chunk < len - done ? chunk : len - done;
            assert_int_equal(encodec_ecdc_writer_push(w, pcm + done, c, bytes + size,
                                                      65536 - size, &n), 0);
            size += n;
            chunk = c;
        }
        assert_int_equal(encodec_ecdc_writer_finish(w, bytes + size, 65536 - size, &n), 0);
        size += n;
        counting = 0;
        print_message("writer (%s): %ld allocations\n", kinds[kind], allocations);
        assert_int_equal(allocations, 0);
        encodec_ecdc_writer_free(w);

        assert_int_equal(encodec_ecdc_reader_create(d, &r), 0);
        size_t header = 96; /* the header (and a little payload) first: its JSON is parsed once */
        assert_int_equal(encodec_ecdc_reader_push(r, bytes, header, out, 4 * len, &ns), 0);
        allocations = 0;
        counting = 1;
        for (size_t pos = header, used; pos < size; pos += use_lm ? used : 7) {
            const size_t c = size - pos < 7 ? size - pos : 7;
            if (use_lm) /* decoded as far as the smallest output takes */
                assert_int_equal(encodec_ecdc_reader_push_partial(
                                     r, bytes + pos, c, &used, out,
                                     encodec_ecdc_reader_min_samples(r), &ns), 0);
            else
                assert_int_equal(encodec_ecdc_reader_push(r, bytes + pos, c, out,
                                                          encodec_ecdc_reader_max_samples(r, c),
                                                          &ns), 0);
        }
        assert_int_equal(encodec_ecdc_reader_finish(r, out, 4 * len, &ns), 0);
        counting = 0;
        print_message("reader (%s): %ld allocations after the header\n", kinds[kind],
                      allocations);
        assert_int_equal(allocations, 0);
        encodec_ecdc_reader_free(r);
    }
    free(bytes);
    free(pcm);
    free(out);
    encodec_encoder_free(e);
    encodec_decoder_free(d);
    encodec_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tiny24),
        cmocka_unit_test(test_tiny48),
        cmocka_unit_test(test_byte_streams),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
