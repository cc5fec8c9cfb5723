/* encodec-realtime: feeds fixed-size blocks (10 or 20 ms) of a signal through a streaming
 * encoder and decoder the way a live pipeline would, and reports per-block processing time
 * (median, p99, max) against the block duration, plus the algorithmic latency of the chain:
 * how long after a sample enters the encoder its decoded version leaves the decoder. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "encodec.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double pct(const double *sorted, int n, double p)
{
    return sorted[(int)(p * (n - 1) + 0.5)];
}

int main(int argc, char **argv)
{
    const char *path = NULL;
    double block_ms = 10.0, seconds = 10.0, bandwidth = 6.0;
    int threads = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--block-ms") && i + 1 < argc)
            block_ms = atof(argv[++i]);
        else if (!strcmp(argv[i], "-s") && i + 1 < argc)
            seconds = atof(argv[++i]);
        else if (!strcmp(argv[i], "-b") && i + 1 < argc)
            bandwidth = atof(argv[++i]);
        else if (!strcmp(argv[i], "-t") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (argv[i][0] != '-')
            path = argv[i];
        else {
            fprintf(stderr, "usage: encodec-realtime MODEL [--block-ms 10|20] [-s SECONDS] "
                            "[-b KBPS] [-t THREADS]\n");
            return 2;
        }
    }
    if (!path || block_ms <= 0 || seconds <= 0) {
        fprintf(stderr, "usage: encodec-realtime MODEL [--block-ms 10|20] [-s SECONDS] [-b KBPS] [-t THREADS]\n");
        return 2;
    }
    encodec_model *m;
    char msg[512];
    if (encodec_model_load_file(path, &m, msg, sizeof msg)) {
        fprintf(stderr, "encodec-realtime: %s\n", msg);
        return 1;
    }
    const int sr = encodec_model_sample_rate(m), ch = encodec_model_channels(m);
    const int hop = encodec_model_hop_length(m);
    const size_t block = (size_t)(block_ms * sr / 1000.0 + 0.5);
    const int n_blocks = (int)(seconds * sr / block);
    encodec_encoder *enc;
    encodec_decoder *dec;
    if (encodec_encoder_create(m, &enc) || encodec_decoder_create(m, &dec) ||
        encodec_encoder_set_bandwidth(enc, (float)bandwidth) ||
        encodec_encoder_set_threads(enc, threads) || encodec_decoder_set_threads(dec, threads)) {
        fprintf(stderr, "encodec-realtime: cannot set up (is %.1f kbps offered?)\n", bandwidth);
        return 1;
    }
    const int K = encodec_encoder_codebooks(enc);
    size_t enc_startup, enc_steady, dec_startup, dec_steady;
    encodec_encoder_latency(enc, &enc_startup, &enc_steady);
    encodec_decoder_latency(dec, &dec_startup, &dec_steady);
    float *in = malloc(block * ch * sizeof *in);
    const size_t max_frames = encodec_encoder_max_frames(enc, 0) + block / hop + 16;
    int32_t *codes = malloc(max_frames * 4 * K * sizeof *codes);
    float *scales = malloc(max_frames * 4 * sizeof *scales);
    float *out = malloc((max_frames * 4 * hop + block) * ch * sizeof *out);
    double *t_block = malloc((size_t)n_blocks * sizeof *t_block);
    size_t samples_in = 0, samples_out = 0, first_out_at = 0, max_lag = 0;
    double phase = 0.0;
    for (int b = 0; b < n_blocks; b++) {
        for (size_t t = 0; t < block; t++, phase += 2 * 3.14159265358979 * 220.0 / sr)
            for (int c = 0; c < ch; c++)
                in[t * ch + c] = 0.3f * (float)sin(phase);
        size_t frames = 0, got = 0;
        const double t0 = now();
        int err = encodec_encoder_push(enc, in, block, codes, scales,
                                       encodec_encoder_max_frames(enc, block), &frames);
        if (!err && frames)
            err = encodec_decoder_push(dec, codes, scales, frames, K, out,
                                       encodec_decoder_max_samples(dec, frames), &got);
        t_block[b] = now() - t0;
        if (err) {
            fprintf(stderr, "encodec-realtime: %s\n", encodec_strerror(err));
            return 1;
        }
        samples_in += block;
        if (got && !samples_out)
            first_out_at = samples_in;
        samples_out += got;
        if (first_out_at && samples_in - samples_out > max_lag)
            max_lag = samples_in - samples_out;
    }
    qsort(t_block, (size_t)n_blocks, sizeof *t_block, cmp_double);
    const double block_s = (double)block / sr;
    printf("model %s, %d Hz, %d channel(s), %.1f kbps, %d thread(s), %d blocks of %zu samples "
           "(%.1f ms)\n", encodec_model_name(m), sr, ch, bandwidth, threads, n_blocks, block,
           1e3 * block_s);
    printf("per block: median %.3f ms, p99 %.3f ms, max %.3f ms (%.1f%% / %.1f%% / %.1f%% of "
           "the block)\n", 1e3 * pct(t_block, n_blocks, 0.5), 1e3 * pct(t_block, n_blocks, 0.99),
           1e3 * t_block[n_blocks - 1], 100 * pct(t_block, n_blocks, 0.5) / block_s,
           100 * pct(t_block, n_blocks, 0.99) / block_s, 100 * t_block[n_blocks - 1] / block_s);
    /* Once running, the output trails the input by less than a hop plus the block rounding. */
    printf("algorithmic latency: start-up %.1f ms (first audio after %zu input samples: encoder "
           "%zu samples + decoder %zu frames of look-ahead at the stream start), then at most "
           "%.1f ms (input pushed minus audio returned, steady state)\n",
           1e3 * first_out_at / sr, first_out_at, enc_startup, dec_startup,
           1e3 * (double)max_lag / sr);
    encodec_encoder_free(enc);
    encodec_decoder_free(dec);
    encodec_model_free(m);
    free(in);
    free(codes);
    free(scales);
    free(out);
    free(t_block);
    return 0;
}
