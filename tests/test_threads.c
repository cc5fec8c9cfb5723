/* Thread safety: 8 POSIX threads share ONE model (tiny24, then tiny48), each with its own
 * encoder and decoder, and run whole-signal encode + decode, a chunked streaming encode +
 * decode, and compress + decompress on the same and on different signals (the golden excerpt,
 * the golden synthetic signal, a generated chirp with noise) at different bandwidths, several
 * rounds each, starting together at a barrier. Every result must be bit-identical (memcmp) to
 * the same job run alone on the main thread. Variants: with the LM attached (entropy-coded
 * compress/decompress, use_lm = 1), and with every handle set to 2 OpenMP threads, compared
 * with the 1-thread reference bits.
 *
 * ThreadSanitizer: OpenMP's runtime is not TSan-instrumented (it reports false races), so build
 * a separate tree without it and run only this test:
 *   cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DENCODEC_BUILD_CLI=OFF \
 *         -DENCODEC_OPENMP=OFF -DCMAKE_C_FLAGS=-fsanitize=thread
 *   cmake --build build-tsan --target test_threads && \
 *   TSAN_OPTIONS=halt_on_error=1 build-tsan/tests/test_threads
 * (.ci/reliability does this.) encodec_*_set_threads(2) is then accepted but runs serially. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* Under ThreadSanitizer (5-15x slower) one round is enough, and the OpenMP cases are skipped:
 * that build has no OpenMP, so they would repeat the 1-thread cases. */
#if defined(__SANITIZE_THREAD__)
#define ECL_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define ECL_TSAN 1
#endif
#endif
#ifndef ECL_TSAN
#define ECL_TSAN 0
#endif

#define N_THREADS 8
#define N_ROUNDS (ECL_TSAN ? 1 : 2)

typedef struct {
    const float *pcm; /* interleaved */
    size_t len;
} signal_ref;

/* One unit of work and everything it produces. */
typedef struct {
    const encodec_model *m;
    signal_ref sig;
    float bandwidth;
    int omp_threads; /* per handle */
    int use_lm;
    /* results */
    int32_t *codes;
    float *scales;
    size_t n_frames;
    int n_codebooks;
    float *audio;
    size_t n_audio;
    int32_t *stream_codes; /* chunked streaming encode */
    size_t n_stream_frames;
    float *stream_audio; /* chunked streaming decode */
    size_t n_stream_audio;
    uint8_t *bytes; /* compress */
    size_t n_bytes;
    float *decompressed;
    size_t n_decompressed;
    char error[256]; /* first failure, empty when all went well */
} job;

#define CHECK(j, call)                                                                       \
    do {                                                                                     \
        const int rc_ = (call);                                                              \
        if (rc_ != ENCODEC_OK) {                                                             \
            if (!(j)->error[0])                                                              \
                snprintf((j)->error, sizeof (j)->error, "%s: %s", #call,                     \
                         encodec_strerror(rc_));                                             \
            goto out;                                                                        \
        }                                                                                    \
    } while (0)

static void job_clear(job *j)
{
    free(j->codes);
    free(j->scales);
    free(j->audio);
    free(j->stream_codes);
    free(j->stream_audio);
    encodec_buffer_free(j->bytes);
    encodec_buffer_free(j->decompressed);
    j->codes = j->stream_codes = NULL;
    j->scales = j->audio = j->stream_audio = j->decompressed = NULL;
    j->bytes = NULL;
    j->error[0] = 0;
}

/* Chunk sizes of the streaming runs: a fixed irregular pattern (same in every thread). */
static size_t chunk_at(size_t i, size_t unit) { return (i * 7919 % 13 + 1) * unit / 4; }

/* Everything one thread does, with its own handles on the shared model. */
static void run_job(job *j)
{
    encodec_encoder *e = NULL;
    encodec_decoder *d = NULL;
    const int ch = encodec_model_channels(j->m), hop = encodec_model_hop_length(j->m);
    job_clear(j);
    CHECK(j, encodec_encoder_create(j->m, &e));
    CHECK(j, encodec_decoder_create(j->m, &d));
    CHECK(j, encodec_encoder_set_bandwidth(e, j->bandwidth));
    CHECK(j, encodec_encoder_set_threads(e, j->omp_threads));
    CHECK(j, encodec_decoder_set_threads(d, j->omp_threads));
    j->n_codebooks = encodec_encoder_codebooks(e);
    const size_t cap = encodec_encoder_max_frames(e, j->sig.len), K = (size_t)j->n_codebooks;

    /* whole signal */
    j->codes = malloc(cap * K * sizeof *j->codes);
    j->scales = malloc(cap * sizeof *j->scales);
    CHECK(j, encodec_encode(e, j->sig.pcm, j->sig.len, j->codes, j->scales, cap, &j->n_frames));
    const size_t out_cap = encodec_decoder_max_samples(d, j->n_frames);
    j->audio = malloc(out_cap * ch * sizeof *j->audio);
    CHECK(j, encodec_decode(d, j->codes, j->scales, j->n_frames, j->n_codebooks, j->audio,
                            out_cap, &j->n_audio));

    /* streaming in irregular chunks */
    j->stream_codes = malloc(cap * K * sizeof *j->stream_codes);
    float *stream_scales = malloc(cap * sizeof *stream_scales);
    size_t n, done = 0, got = 0;
    for (size_t i = 0; done < j->sig.len; i++) {
        size_t c = chunk_at(i, (size_t)hop);
        if (c > j->sig.len - done)
            c = j->sig.len - done;
        const int rc = encodec_encoder_push(e, j->sig.pcm + done * ch, c,
                                            j->stream_codes + got * K, stream_scales + got,
                                            cap - got, &n);
        if (rc) {
            free(stream_scales);
            CHECK(j, rc);
        }
        got += n;
        done += c;
    }
    const int frc = encodec_encoder_flush(e, j->stream_codes + got * K, stream_scales + got,
                                          cap - got, &n);
    free(stream_scales);
    CHECK(j, frc);
    j->n_stream_frames = got + n;
    j->stream_audio = malloc(out_cap * ch * sizeof *j->stream_audio);
    got = 0;
    for (size_t i = 0, t = 0; t < j->n_frames; i++) {
        size_t c = chunk_at(i, 4) / 2 + 1;
        if (c > j->n_frames - t)
            c = j->n_frames - t;
        CHECK(j, encodec_decoder_push(d, j->codes + t * K, j->scales + t, c, j->n_codebooks,
                                      j->stream_audio + got * ch, out_cap - got, &n));
        got += n;
        t += c;
    }
    CHECK(j, encodec_decoder_flush(d, j->stream_audio + got * ch, out_cap - got, &n));
    j->n_stream_audio = got + n;

    /* .ecdc */
    CHECK(j, encodec_compress(e, j->sig.pcm, j->sig.len, j->use_lm, &j->bytes, &j->n_bytes));
    CHECK(j, encodec_decompress(d, j->bytes, j->n_bytes, &j->decompressed, &j->n_decompressed));
out:
    encodec_encoder_free(e);
    encodec_decoder_free(d);
}

/* Results of a and b must be identical; `what` names the comparison. */
static void expect_same(const job *a, const job *b, const char *what)
{
    if (a->error[0])
        fail_msg("%s: reference failed: %s", what, a->error);
    if (b->error[0])
        fail_msg("%s: %s", what, b->error);
    const size_t ch = (size_t)encodec_model_channels(a->m), K = (size_t)a->n_codebooks;
    assert_int_equal(a->n_codebooks, b->n_codebooks);
    assert_int_equal(a->n_frames, b->n_frames);
    assert_int_equal(a->n_stream_frames, b->n_stream_frames);
    assert_int_equal(a->n_audio, b->n_audio);
    assert_int_equal(a->n_stream_audio, b->n_stream_audio);
    assert_int_equal(a->n_bytes, b->n_bytes);
    assert_int_equal(a->n_decompressed, b->n_decompressed);
    if (memcmp(a->codes, b->codes, a->n_frames * K * sizeof *a->codes) ||
        memcmp(a->scales, b->scales, a->n_frames * sizeof *a->scales))
        fail_msg("%s: codes or scales differ", what);
    if (memcmp(a->stream_codes, b->stream_codes, a->n_frames * K * sizeof *a->codes))
        fail_msg("%s: streamed codes differ", what);
    if (memcmp(a->audio, b->audio, a->n_audio * ch * sizeof *a->audio))
        fail_msg("%s: decoded audio differs", what);
    if (memcmp(a->stream_audio, b->stream_audio, a->n_audio * ch * sizeof *a->audio))
        fail_msg("%s: streamed decoded audio differs", what);
    if (memcmp(a->bytes, b->bytes, a->n_bytes))
        fail_msg("%s: .ecdc bytes differ", what);
    if (memcmp(a->decompressed, b->decompressed, a->n_decompressed * ch * sizeof(float)))
        fail_msg("%s: decompressed audio differs", what);
}

/* ---- signals -------------------------------------------------------------------------------- */

typedef struct {
    float *pcm[3];
    size_t len[3];
} signals;

static float *interleave(const float *planar, int ch, size_t len)
{
    float *x = malloc(len * ch * sizeof *x);
    for (size_t t = 0; t < len; t++)
        for (int c = 0; c < ch; c++)
            x[t * ch + c] = planar[c * len + t];
    return x;
}

/* The golden excerpt and synthetic signal, and a chirp with noise of 0.7 s. */
static signals load_signals(const char *golden, int rate, int ch)
{
    signals s;
    tu_golden *g = tu_golden_open(golden);
    const char *names[2] = {"excerpt.audio", "synth.audio"};
    for (int i = 0; i < 2; i++) {
        int64_t shape[8];
        const float *x = tu_golden_f32(g, names[i], shape, NULL, NULL);
        assert_int_equal(shape[0], ch);
        s.len[i] = (size_t)shape[1];
        s.pcm[i] = interleave(x, ch, s.len[i]);
    }
    tu_golden_close(g);
    s.len[2] = (size_t)rate * 7 / 10;
    s.pcm[2] = malloc(s.len[2] * ch * sizeof(float));
    unsigned r = 12345;
    for (size_t t = 0; t < s.len[2]; t++) {
        const double tt = (double)t / rate;
        for (int c = 0; c < ch; c++) {
            r = r * 1664525u + 1013904223u;
            const double noise = ((double)(r >> 8) / (1 << 24) - 0.5) * 0.05;
            s.pcm[2][t * ch + c] =
                (float)(0.4 * sin(2 * 3.14159265358979 * (100 + 2000 * tt) * tt + c) + noise);
        }
    }
    return s;
}

static void free_signals(signals *s)
{
    for (int i = 0; i < 3; i++)
        free(s->pcm[i]);
}

/* ---- the threaded runs ---------------------------------------------------------------------- */

typedef struct {
    job *jobs; /* N_ROUNDS jobs of this thread */
    pthread_barrier_t *start;
} thread_arg;

static void *thread_main(void *p)
{
    thread_arg *a = p;
    pthread_barrier_wait(a->start);
    for (int r = 0; r < N_ROUNDS; r++)
        run_job(&a->jobs[r]);
    return NULL;
}

/* Thread i runs signal i % 3 at bandwidth i % 2 of `bws` (two threads share each combination
 * of signal and bandwidth at least once), N_ROUNDS times; compare with the main thread's run. */
static void run_threads(const encodec_model *m, const signals *s, const float bws[2],
                        int omp_threads, int use_lm, const char *label)
{
    job ref[3][2];
    memset(ref, 0, sizeof ref);
    for (int si = 0; si < 3; si++)
        for (int b = 0; b < 2; b++) {
            job *j = &ref[si][b];
            j->m = m;
            j->sig.pcm = s->pcm[si];
            j->sig.len = s->len[si];
            j->bandwidth = bws[b];
            j->omp_threads = 1; /* the reference is always single-threaded */
            j->use_lm = use_lm;
            run_job(j);
            if (j->error[0])
                fail_msg("%s: reference job failed: %s", label, j->error);
        }

    job *jobs = calloc(N_THREADS * N_ROUNDS, sizeof *jobs);
    thread_arg args[N_THREADS];
    pthread_t tid[N_THREADS];
    pthread_barrier_t start;
    assert_int_equal(pthread_barrier_init(&start, NULL, N_THREADS), 0);
    for (int i = 0; i < N_THREADS; i++) {
        for (int r = 0; r < N_ROUNDS; r++) {
            job *j = &jobs[i * N_ROUNDS + r];
            *j = ref[i % 3][i % 2];
            j->codes = j->stream_codes = NULL;
            j->scales = j->audio = j->stream_audio = j->decompressed = NULL;
            j->bytes = NULL;
            j->omp_threads = omp_threads;
        }
        args[i].jobs = &jobs[i * N_ROUNDS];
        args[i].start = &start;
        assert_int_equal(pthread_create(&tid[i], NULL, thread_main, &args[i]), 0);
    }
    for (int i = 0; i < N_THREADS; i++)
        assert_int_equal(pthread_join(tid[i], NULL), 0);
    pthread_barrier_destroy(&start);

    for (int i = 0; i < N_THREADS; i++)
        for (int r = 0; r < N_ROUNDS; r++) {
            char what[128];
            snprintf(what, sizeof what, "%s, thread %d, round %d (signal %d, %g kbps)", label, i,
                     r, i % 3, (double)bws[i % 2]);
            expect_same(&ref[i % 3][i % 2], &jobs[i * N_ROUNDS + r], what);
            job_clear(&jobs[i * N_ROUNDS + r]);
        }
    print_message("%s: %d threads x %d rounds identical to single-threaded\n", label, N_THREADS,
                  N_ROUNDS);
    free(jobs);
    for (int si = 0; si < 3; si++)
        for (int b = 0; b < 2; b++)
            job_clear(&ref[si][b]);
}

static void threads_case(const char *model_file, const char *golden, const char *lm_file,
                         int omp_threads, const char *label)
{
    encodec_model *m = tu_load_model(model_file);
    if (lm_file) {
        /* the LM is attached before the model is shared, as the API requires */
        char *path = tu_data_path(lm_file);
        char msg[256];
        if (encodec_model_load_lm_file(m, path, msg, sizeof msg) != ENCODEC_OK)
            fail_msg("%s", msg);
        free(path);
    }
    signals s = load_signals(golden, encodec_model_sample_rate(m), encodec_model_channels(m));
    /* the lowest bandwidth and the next one (LM: both within the tiny LM's 3 tables only for
     * the lowest, so the LM runs use it twice with different signals) */
    float bws[2] = {encodec_model_bandwidth(m, 0), encodec_model_bandwidth(m, 1)};
    if (lm_file)
        bws[1] = bws[0];
    run_threads(m, &s, bws, omp_threads, lm_file != NULL, label);
    free_signals(&s);
    encodec_model_free(m);
}

static void test_threads24(void **state)
{
    (void)state;
    threads_case("tiny24.safetensors", "tiny24.golden.safetensors", NULL, 1, "tiny24");
}

static void test_threads48(void **state)
{
    (void)state;
    threads_case("tiny48.safetensors", "tiny48.golden.safetensors", NULL, 1, "tiny48");
}

static void test_threads24_lm(void **state)
{
    (void)state;
    threads_case("tiny24.safetensors", "tiny24.golden.safetensors", "tiny24_lm.safetensors", 1,
                 "tiny24 + LM");
}

static void test_threads48_lm(void **state)
{
    (void)state;
    threads_case("tiny48.safetensors", "tiny48.golden.safetensors", "tiny48_lm.safetensors", 1,
                 "tiny48 + LM");
}

/* Each of the 8 handles pairs also uses 2 OpenMP threads: same bits as 1 thread. */
static void test_threads24_omp2(void **state)
{
    (void)state;
    if (ECL_TSAN)
        skip();
    threads_case("tiny24.safetensors", "tiny24.golden.safetensors", NULL, 2,
                 "tiny24, 2 OpenMP threads per handle");
}

static void test_threads48_omp2(void **state)
{
    (void)state;
    if (ECL_TSAN)
        skip();
    threads_case("tiny48.safetensors", "tiny48.golden.safetensors", NULL, 2,
                 "tiny48, 2 OpenMP threads per handle");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_threads24),     cmocka_unit_test(test_threads48),
        cmocka_unit_test(test_threads24_lm),  cmocka_unit_test(test_threads48_lm),
        cmocka_unit_test(test_threads24_omp2), cmocka_unit_test(test_threads48_omp2),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
