/* c_check: run libencodec on raw float32 mono audio, for comparison with the PyTorch model.
 *   c_check MODEL.safetensors BW IN.f32 CODES.i32 OUT.f32 [CODES_IN.i32]
 * Encodes IN at BW kbps -> CODES (frame-major int32, K per frame), decodes CODES -> OUT
 * (n_frames * hop float32).  With CODES_IN, decodes those codes instead of the encoder's
 * (so the decoder can be checked independently of code flips).
 * Build: cc -O2 -I include tools/train/c_check.c -L BUILD -lencodec -o c_check */
#include <stdio.h>
#include <stdlib.h>
#include "encodec.h"

static void *slurp(const char *p, size_t *n) {
    FILE *f = fopen(p, "rb");
    if (!f) { perror(p); exit(1); }
    fseek(f, 0, SEEK_END); *n = (size_t)ftell(f); fseek(f, 0, SEEK_SET);
    void *b = malloc(*n ? *n : 1);
    if (fread(b, 1, *n, f) != *n) { perror(p); exit(1); }
    fclose(f);
    return b;
}

int main(int argc, char **argv) {
    if (argc < 6) { fprintf(stderr, "usage: c_check MODEL BW IN.f32 CODES.i32 OUT.f32 [CODES_IN]\n"); return 2; }
    char msg[512];
    encodec_model *m; encodec_encoder *e; encodec_decoder *d;
    if (encodec_model_load_file(argv[1], &m, msg, sizeof msg)) { fprintf(stderr, "load: %s\n", msg); return 1; }
    if (encodec_encoder_create(m, &e) || encodec_decoder_create(m, &d)) return 1;
    if (encodec_encoder_set_bandwidth(e, (float)atof(argv[2]))) { fprintf(stderr, "bw\n"); return 1; }
    int K = encodec_encoder_codebooks(e);
    size_t nb; float *pcm = slurp(argv[3], &nb); size_t n = nb / 4;
    size_t maxf = encodec_encoder_max_frames(e, n), nf;
    int32_t *codes = malloc(maxf * K * sizeof *codes);
    int r = encodec_encode(e, pcm, n, codes, NULL, maxf, &nf);
    if (r) { fprintf(stderr, "encode: %s\n", encodec_strerror(r)); return 1; }
    FILE *f = fopen(argv[4], "wb"); fwrite(codes, sizeof *codes, nf * K, f); fclose(f);
    if (argc > 6) { size_t cb; free(codes); codes = slurp(argv[6], &cb); nf = cb / 4 / K; }
    size_t maxs = encodec_decoder_max_samples(d, nf), ns;
    float *out = malloc(maxs * sizeof *out);
    r = encodec_decode(d, codes, NULL, nf, K, out, maxs, &ns);
    if (r) { fprintf(stderr, "decode: %s\n", encodec_strerror(r)); return 1; }
    f = fopen(argv[5], "wb"); fwrite(out, sizeof *out, ns, f); fclose(f);
    printf("name=%s sr=%d K=%d frames=%zu samples=%zu\n", encodec_model_name(m),
           encodec_model_sample_rate(m), K, nf, ns);
    encodec_encoder_free(e); encodec_decoder_free(d); encodec_model_free(m);
    return 0;
}
