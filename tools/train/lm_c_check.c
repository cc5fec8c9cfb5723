/* lm_c_check: run libencodec's language model (the streaming step that compress/decompress use)
 * over given codes, for comparison with the PyTorch LM (tools/train/compare_lm_c.py).
 *   lm_c_check LM.safetensors K CODES.i32 PROBS.f32
 * CODES: frame-major int32 codes, K per frame (0..card-1). For every frame t the LM input is
 * the codes of frame t-1 plus one (0 for frame 0), exactly as the compress loop; PROBS gets
 * [T][K][card] float32. Uses the library's internal LM interface (src/lm.h), so it links the
 * static library:
 *   cc -O2 -std=c11 -I include -I src tools/train/lm_c_check.c BUILD/libencodec.a \
 *      -lcjson -lm -fopenmp -o lm_c_check */
#include <stdio.h>
#include <stdlib.h>

#include "encodec.h"
#include "lm.h"

static void *slurp(const char *p, size_t *n)
{
    FILE *f = fopen(p, "rb");
    if (!f) {
        perror(p);
        exit(1);
    }
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    void *b = malloc(*n ? *n : 1);
    if (!b || fread(b, 1, *n, f) != *n) {
        perror(p);
        exit(1);
    }
    fclose(f);
    return b;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: lm_c_check LM.safetensors K CODES.i32 PROBS.f32\n");
        return 2;
    }
    char msg[512] = "";
    size_t n;
    uint8_t *data = slurp(argv[1], &n);
    ecl_lm *lm;
    int r = ecl_lm_load(data, n, argv[1], &lm, msg, sizeof msg);
    if (r) {
        fprintf(stderr, "load: %s (%s)\n", msg, encodec_strerror(r));
        return 1;
    }
    free(data);
    const int K = atoi(argv[2]);
    size_t nb;
    int32_t *codes = slurp(argv[3], &nb);
    const size_t T = nb / sizeof(int32_t) / (size_t)(K > 0 ? K : 1);
    ecl_lm_state *st;
    if (K < 1 || K > lm->n_q || ecl_lm_state_create(lm, 0, &st)) {
        fprintf(stderr, "bad K %d (LM has %d heads)\n", K, lm->n_q);
        return 1;
    }
    float *probs = malloc((size_t)K * lm->card * sizeof *probs);
    int32_t *prev = calloc((size_t)K, sizeof *prev);
    FILE *f = fopen(argv[4], "wb");
    if (!f || !probs || !prev) {
        perror(argv[4]);
        return 1;
    }
    for (size_t t = 0; t < T; t++) {
        r = ecl_lm_step(lm, st, prev, K, probs);
        if (r) {
            fprintf(stderr, "step %zu: %s\n", t, encodec_strerror(r));
            return 1;
        }
        fwrite(probs, sizeof *probs, (size_t)K * lm->card, f);
        for (int k = 0; k < K; k++)
            prev[k] = codes[t * (size_t)K + (size_t)k] + 1;
    }
    fclose(f);
    printf("n_q=%d card=%d dim=%d heads=%d layers=%d ff=%d past_context=%d K=%d frames=%zu\n",
           lm->n_q, lm->card, lm->dim, lm->num_heads, lm->num_layers, lm->ff_dim,
           lm->past_context, K, T);
    ecl_lm_state_free(st);
    ecl_lm_free(lm);
    free(probs);
    free(prev);
    free(codes);
    return 0;
}
