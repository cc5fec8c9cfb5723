/* encodec-soak: streams a long synthetic signal (default one hour) through an encoder pushed
 * with random chunk sizes and, in lockstep, a second encoder pushed in the fixed large chunks of
 * whole-signal processing; the codes must be identical frame for frame. The codes then go
 * through two decoders the same way (random frame counts vs everything at once per block) and
 * the audio must be identical. The resident memory is sampled every audio minute and must stay
 * flat. Exit status 0 when all holds. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "encodec.h"

static long resident_kb(void)
{
    long pages = 0, rss = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
            rss = 0;
        fclose(f);
    }
    return rss * (sysconf(_SC_PAGESIZE) / 1024);
}

static uint32_t rng(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

int main(int argc, char **argv)
{
    const char *path = NULL;
    double minutes = 60.0;
    uint32_t seed = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--minutes") && i + 1 < argc)
            minutes = atof(argv[++i]);
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
            seed = (uint32_t)strtoul(argv[++i], NULL, 10);
        else if (argv[i][0] != '-')
            path = argv[i];
        else
            path = NULL, minutes = -1;
    }
    if (!path || minutes <= 0 || seed == 0) {
        fprintf(stderr, "usage: encodec-soak MODEL [--minutes N (default 60)] [--seed S]\n");
        return 2;
    }
    encodec_model *m;
    char msg[512];
    if (encodec_model_load_file(path, &m, msg, sizeof msg)) {
        fprintf(stderr, "encodec-soak: %s\n", msg);
        return 1;
    }
    const int sr = encodec_model_sample_rate(m), ch = encodec_model_channels(m);
    const size_t block = (size_t)sr; /* one second per step of the fixed-chunk side */
    const uint64_t total = (uint64_t)(minutes * 60.0 * sr);
    encodec_encoder *er, *ef;
    encodec_decoder *dr, *df;
    if (encodec_encoder_create(m, &er) || encodec_encoder_create(m, &ef) ||
        encodec_decoder_create(m, &dr) || encodec_decoder_create(m, &df)) {
        fprintf(stderr, "encodec-soak: cannot create handles\n");
        return 1;
    }
    const int K = encodec_encoder_codebooks(er);
    const size_t fcap = encodec_encoder_max_frames(er, 0) + 4 * block / 320 + 64;
    float *x = malloc(block * ch * sizeof *x);
    int32_t *cr = malloc(4 * fcap * K * sizeof *cr), *cf = malloc(4 * fcap * K * sizeof *cf);
    float *sr_s = malloc(4 * fcap * sizeof *sr_s), *sf_s = malloc(4 * fcap * sizeof *sf_s);
    float *ar = malloc(8 * fcap * 320 * ch * sizeof *ar), *af = malloc(8 * fcap * 320 * ch * sizeof *af);
    size_t nr = 0, nf = 0, dec_r = 0, dec_f = 0; /* pending codes / decoded samples per side */
    uint64_t done = 0, frames = 0, samples = 0;
    long rss_first = 0, rss_min = 0, rss_max = 0;
    double phase = 0.0;
    int failed = 0;
    for (int minute = 0; done < total && !failed;) {
        const size_t n = total - done < block ? (size_t)(total - done) : block;
        for (size_t t = 0; t < n; t++) { /* a slow chirp with noise bursts */
            phase += 2 * 3.14159265358979 * (100.0 + 50.0 * sin((double)(done + t) / sr / 7.0)) / sr;
            for (int c = 0; c < ch; c++)
                x[t * ch + c] = (float)(0.3 * sin(phase + c)) +
                                (((done + t) / sr) % 5 == 0 ? 0.05f * ((float)(rng(&seed) >> 8) / 16777216.0f - 0.5f) : 0.0f);
        }
        /* fixed side: the whole block at once */
        size_t got;
        if (encodec_encoder_push(ef, x, n, cf + nf * K, sf_s + nf, 4 * fcap - nf, &got)) {
            failed = 1;
            break;
        }
        nf += got;
        /* random side: chunks of 1..5000 samples */
        for (size_t pos = 0; pos < n;) {
            size_t c = 1 + rng(&seed) % 5000;
            c = c < n - pos ? c : n - pos;
            if (encodec_encoder_push(er, x + pos * ch, c, cr + nr * K, sr_s + nr, 4 * fcap - nr, &got)) {
                failed = 1;
                break;
            }
            nr += got;
            pos += c;
        }
        const size_t common = nr < nf ? nr : nf;
        if (memcmp(cr, cf, common * K * sizeof *cr) || memcmp(sr_s, sf_s, common * sizeof *sr_s)) {
            fprintf(stderr, "encodec-soak: codes differ near frame %llu\n", (unsigned long long)frames);
            failed = 1;
            break;
        }
        /* decode the common frames: fixed side at once, random side in pieces */
        if (encodec_decoder_push(df, cf, sf_s, common, K, af + dec_f * ch, 8 * fcap * 320 - dec_f, &got)) {
            failed = 1;
            break;
        }
        dec_f += got;
        for (size_t pos = 0; pos < common;) {
            size_t c = 1 + rng(&seed) % 40;
            c = c < common - pos ? c : common - pos;
            if (encodec_decoder_push(dr, cr + pos * K, sr_s + pos, c, K, ar + dec_r * ch,
                                     8 * fcap * 320 - dec_r, &got)) {
                failed = 1;
                break;
            }
            dec_r += got;
            pos += c;
        }
        const size_t same = dec_r < dec_f ? dec_r : dec_f;
        if (memcmp(ar, af, same * ch * sizeof *ar)) {
            fprintf(stderr, "encodec-soak: audio differs near sample %llu\n", (unsigned long long)samples);
            failed = 1;
            break;
        }
        /* keep what one side has and the other not yet */
        memmove(cr, cr + common * K, (nr - common) * K * sizeof *cr);
        memmove(sr_s, sr_s + common, (nr - common) * sizeof *sr_s);
        memmove(cf, cf + common * K, (nf - common) * K * sizeof *cf);
        memmove(sf_s, sf_s + common, (nf - common) * sizeof *sf_s);
        nr -= common;
        nf -= common;
        memmove(ar, ar + same * ch, (dec_r - same) * ch * sizeof *ar);
        memmove(af, af + same * ch, (dec_f - same) * ch * sizeof *af);
        dec_r -= same;
        dec_f -= same;
        frames += common;
        samples += same;
        done += n;
        if (done / ((uint64_t)sr * 60) > (uint64_t)minute) {
            minute++;
            const long rss = resident_kb();
            if (!rss_first)
                rss_first = rss_min = rss_max = rss;
            rss_min = rss < rss_min ? rss : rss_min;
            rss_max = rss > rss_max ? rss : rss_max;
            printf("minute %d: %llu frames and %llu samples identical, resident %ld kB\n", minute,
                   (unsigned long long)frames, (unsigned long long)samples, rss);
            fflush(stdout);
        }
    }
    if (!failed) {
        printf("%s: %.1f minutes streamed, %llu frames identical to fixed-chunk processing; "
               "resident memory %ld..%ld kB\n", encodec_model_name(m), (double)done / sr / 60.0,
               (unsigned long long)frames, rss_min, rss_max);
        if (rss_max - rss_min > 1024) {
            fprintf(stderr, "encodec-soak: resident memory grew by %ld kB\n", rss_max - rss_min);
            failed = 1;
        }
    }
    encodec_encoder_free(er);
    encodec_encoder_free(ef);
    encodec_decoder_free(dr);
    encodec_decoder_free(df);
    encodec_model_free(m);
    free(x);
    free(cr);
    free(cf);
    free(sr_s);
    free(sf_s);
    free(ar);
    free(af);
    return failed;
}
