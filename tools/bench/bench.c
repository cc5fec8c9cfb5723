/* encodec-bench: times whole-signal encode and decode of a synthetic signal with a given model
 * and reports the real-time factor (processing time / audio duration), median of several runs,
 * for each kernel path and thread count asked for; also the CPU time (which a busy machine
 * inflates less than the wall time), frame-by-frame streaming latency, .ecdc with and without
 * the LM, and the peak resident memory. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "encodec.h"

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static const char *row_label; /* "kernels threads" of the lines being printed */

/* The kernel path named by s, or -1 if none is or this machine lacks it. */
static int parse_kernels(const char *s, size_t len)
{
    for (int k = ENCODEC_KERNELS_AUTO; encodec_kernels_name((encodec_kernels)k); k++)
        if (strlen(encodec_kernels_name((encodec_kernels)k)) == len &&
            !strncmp(encodec_kernels_name((encodec_kernels)k), s, len))
            return encodec_kernels_supported((encodec_kernels)k) ? k : -1;
    return -1;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* 1 when the model encodes in segments (no frame-by-frame streaming to time). */
static int is_segmented(const encodec_model *m)
{
    size_t steady = 0;
    encodec_encoder *e;
    if (encodec_encoder_create(m, &e))
        return 1;
    encodec_encoder_latency(e, NULL, &steady);
    encodec_encoder_free(e);
    return steady > 0;
}

static double percentile(double *v, int n, double p)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    int i = (int)(p * (n - 1) + 0.5);
    return v[i];
}

/* Streaming one hop at a time: per-frame time of push, p50 and p99, encoder and decoder. */
static void stream_frame_by_frame(encodec_encoder *enc, encodec_decoder *dec, const float *pcm,
                                  size_t n, int32_t *codes, float *scales, float *out, int threads)
{
    const int hop = 320, ch = 1, K = encodec_encoder_codebooks(enc);
    const int steps = (int)(n / hop);
    double *te = calloc((size_t)steps, sizeof *te), *td = calloc((size_t)steps, sizeof *td);
    size_t frames = 0, got, total_out = 0;
    encodec_encoder_reset(enc);
    encodec_decoder_reset(dec);
    for (int i = 0; i < steps; i++) {
        double t0 = now();
        encodec_encoder_push(enc, pcm + (size_t)i * hop * ch, hop, codes + frames * K,
                             scales + frames, encodec_encoder_max_frames(enc, hop), &got);
        double t1 = now();
        te[i] = t1 - t0;
        size_t made = got;
        double t2 = now();
        encodec_decoder_push(dec, codes + frames * K, scales + frames, made, K, out + total_out,
                             encodec_decoder_max_samples(dec, made), &got);
        td[i] = now() - t2;
        total_out += got;
        frames += made;
    }
    encodec_encoder_reset(enc);
    encodec_decoder_reset(dec);
    /* skip the start-up steps, where frames are held back */
    const int skip = 10 < steps ? 10 : 0;
    (void)threads;
    printf("%s %-8s %9.3f ms %9.3f ms  (per %d-sample hop: p50, p99)\n", row_label,
           "s-encode", 1e3 * percentile(te + skip, steps - skip, 0.5),
           1e3 * percentile(te + skip, steps - skip, 0.99), hop);
    printf("%s %-8s %9.3f ms %9.3f ms  (per frame: p50, p99)\n", row_label, "s-decode",
           1e3 * percentile(td + skip, steps - skip, 0.5),
           1e3 * percentile(td + skip, steps - skip, 0.99));
    free(te);
    free(td);
}

/* Whole-file .ecdc compress and decompress with and without the LM: median times, sizes. */
static void bench_lm(encodec_encoder *enc, encodec_decoder *dec, const float *pcm, size_t n,
                     double seconds, int runs, int threads, int frame_rate)
{
    double t[2][2][64];
    size_t size[2] = {0, 0};
    for (int lm = 0; lm < 2; lm++)
        for (int r = 0; r < runs && r < 64; r++) {
            uint8_t *bytes;
            float *back;
            size_t n_back;
            double t0 = now();
            int err = encodec_compress(enc, pcm, n, lm, &bytes, &size[lm]);
            double t1 = now();
            if (!err)
                err = encodec_decompress(dec, bytes, size[lm], &back, &n_back);
            double t2 = now();
            if (err) {
                fprintf(stderr, "encodec-bench: lm=%d: %s\n", lm, encodec_strerror(err));
                return;
            }
            encodec_buffer_free(bytes);
            encodec_buffer_free(back);
            t[lm][0][r] = t1 - t0;
            t[lm][1][r] = t2 - t1;
        }
    const int nr = runs < 64 ? runs : 64;
    const double frames = seconds * frame_rate;
    double c0 = median(t[0][0], nr), d0 = median(t[0][1], nr);
    double c1 = median(t[1][0], nr), d1 = median(t[1][1], nr);
    (void)threads;
    printf("%s %-8s %9.4f %9s %9.3f  (%zu bytes)\n", row_label, "compress", c0 / seconds, "", c0,
           size[0]);
    printf("%s %-8s %9.4f %9s %9.3f  (%zu bytes, %+.1f%% time, LM step %.3f ms/frame)\n",
           row_label, "c+lm", c1 / seconds, "", c1, size[1], 100 * (c1 - c0) / c0,
           1e3 * (c1 - c0) / frames);
    printf("%s %-8s %9.4f %9s %9.3f\n", row_label, "decomp", d0 / seconds, "", d0);
    printf("%s %-8s %9.4f %9s %9.3f  (%+.1f%% time)\n", row_label, "d+lm", d1 / seconds, "", d1,
           100 * (d1 - d0) / d0);
}

static void usage(void)
{
    fprintf(stderr, "usage: encodec-bench MODEL.safetensors [-s SECONDS] [-r RUNS] [-b KBPS] "
                    "[-t THREADS[,THREADS...]] [-k KERNELS[,KERNELS...]] [--lm LM.safetensors]\n"
                    "Times whole-signal encode and decode and prints the real-time factor "
                    "(median over RUNS),\nfor each kernel path (portable, avx2, avx512, neon, "
                    "auto; default portable,auto) and thread count.\n");
}

int main(int argc, char **argv)
{
    const char *model_path = NULL, *threads_arg = "1,2", *lm_path = NULL;
    const char *kernels_arg = "portable,auto";
    double seconds = 10.0, bandwidth = 6.0;
    int runs = 5;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-s") && i + 1 < argc)
            seconds = atof(argv[++i]);
        else if (!strcmp(argv[i], "-r") && i + 1 < argc)
            runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-b") && i + 1 < argc)
            bandwidth = atof(argv[++i]);
        else if (!strcmp(argv[i], "-t") && i + 1 < argc)
            threads_arg = argv[++i];
        else if (!strcmp(argv[i], "-k") && i + 1 < argc)
            kernels_arg = argv[++i];
        else if (!strcmp(argv[i], "--lm") && i + 1 < argc)
            lm_path = argv[++i];
        else if (argv[i][0] == '-') {
            usage();
            return strcmp(argv[i], "-h") && strcmp(argv[i], "--help") ? 2 : 0;
        } else
            model_path = argv[i];
    }
    if (!model_path || seconds <= 0 || runs < 1 || runs > 1000) {
        usage();
        return 2;
    }
    for (const char *k = kernels_arg;;) { /* checked before anything is allocated */
        const size_t len = strcspn(k, ",");
        if (parse_kernels(k, len) < 0) {
            fprintf(stderr, "encodec-bench: kernels %.*s not available here\n", (int)len, k);
            return 2;
        }
        if (!k[len])
            break;
        k += len + 1;
    }
    char msg[512];
    encodec_model *model;
    int err = encodec_model_load_file(model_path, &model, msg, sizeof msg);
    if (err) {
        fprintf(stderr, "encodec-bench: %s\n", msg);
        return 1;
    }
    if (lm_path && encodec_model_load_lm_file(model, lm_path, msg, sizeof msg)) {
        fprintf(stderr, "encodec-bench: %s\n", msg);
        return 1;
    }
    const int sr = encodec_model_sample_rate(model), ch = encodec_model_channels(model);
    const size_t n = (size_t)(seconds * sr);
    float *pcm = malloc(n * ch * sizeof *pcm);
    const size_t max_frames = 2 * encodec_model_frames_for_samples(model, n) + 8;
    const size_t max_samples = max_frames * encodec_model_hop_length(model);
    float *out = malloc(max_samples * ch * sizeof *out);
    int32_t *codes = malloc(max_frames * encodec_model_max_codebooks(model) * sizeof *codes);
    float *scales = malloc(max_frames * sizeof *scales);
    unsigned seed = 12345;
    for (size_t i = 0; i < n * ch; i++) { /* a chirp with a little noise */
        seed = seed * 1103515245u + 12345u;
        pcm[i] = 0.3f * sinf((float)(0.002 * i + 1e-8 * (double)i * i)) +
                 0.01f * ((float)(seed >> 8) / 16777216.0f - 0.5f);
    }
    encodec_encoder *enc;
    encodec_decoder *dec;
    if (encodec_encoder_create(model, &enc) || encodec_decoder_create(model, &dec) ||
        encodec_encoder_set_bandwidth(enc, (float)bandwidth)) {
        fprintf(stderr, "encodec-bench: cannot set up (bandwidth %.1f offered?)\n", bandwidth);
        return 1;
    }
    printf("model %s, %.1f s of audio at %d Hz, %d channel(s), %.1f kbps, median of %d runs\n",
           encodec_model_name(model), seconds, sr, ch, bandwidth, runs);
    printf("%-8s %-7s %-8s %9s %9s %9s\n", "kernels", "threads", "op", "rtf", "cpu-rtf",
           "seconds");
    char *klist = strdup(kernels_arg);
    char *ksave = NULL, *tsave = NULL;
    for (char *ktok = strtok_r(klist, ",", &ksave); ktok; ktok = strtok_r(NULL, ",", &ksave)) {
        const encodec_kernels kernels = (encodec_kernels)parse_kernels(ktok, strlen(ktok));
        encodec_encoder_set_kernels(enc, kernels);
        encodec_decoder_set_kernels(dec, kernels);
        const char *kname = encodec_kernels_name(encodec_encoder_kernels(enc));
        char *list = strdup(threads_arg);
        for (char *tok = strtok_r(list, ",", &tsave); tok; tok = strtok_r(NULL, ",", &tsave)) {
            int threads = atoi(tok);
            if (encodec_encoder_set_threads(enc, threads) ||
                encodec_decoder_set_threads(dec, threads)) {
                fprintf(stderr, "encodec-bench: bad thread count %s\n", tok);
                return 2;
            }
            char label[64];
            snprintf(label, sizeof label, "%-8s %-7d", kname, threads);
            row_label = label;
            double *t = calloc(4 * (size_t)runs, sizeof *t);
            size_t frames = 0, got = 0;
            for (int r = 0; r < runs; r++) {
                const double t0 = now(), c0 = cpu_now();
                err = encodec_encode(enc, pcm, n, codes, scales, max_frames, &frames);
                const double t1 = now(), c1 = cpu_now();
                if (!err)
                    err = encodec_decode(dec, codes, scales, frames,
                                         encodec_encoder_codebooks(enc), out, max_samples, &got);
                const double t2 = now(), c2 = cpu_now();
                if (err) {
                    fprintf(stderr, "encodec-bench: %s\n", encodec_strerror(err));
                    return 1;
                }
                t[r] = t1 - t0;
                t[runs + r] = c1 - c0;
                t[2 * runs + r] = t2 - t1;
                t[3 * runs + r] = c2 - c1;
            }
            const double me = median(t, runs), ce = median(t + runs, runs);
            const double md = median(t + 2 * runs, runs), cd = median(t + 3 * runs, runs);
            printf("%s %-8s %9.4f %9.4f %9.3f\n", label, "encode", me / seconds, ce / seconds, me);
            printf("%s %-8s %9.4f %9.4f %9.3f\n", label, "decode", md / seconds, cd / seconds, md);
            if (!is_segmented(model) && ch == 1)
                stream_frame_by_frame(enc, dec, pcm, n, codes, scales, out, threads);
            if (lm_path)
                bench_lm(enc, dec, pcm, n, seconds, runs, threads, encodec_model_frame_rate(model));
            free(t);
        }
        free(list);
    }
    free(klist);
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0)
        printf("peak resident memory %.1f MB\n", ru.ru_maxrss / 1024.0);
    encodec_encoder_free(enc);
    encodec_decoder_free(dec);
    encodec_model_free(model);
    free(pcm);
    free(out);
    free(codes);
    free(scales);
    return 0;
}
