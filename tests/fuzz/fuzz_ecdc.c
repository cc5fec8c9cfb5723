/* libFuzzer target for the .ecdc readers: the whole input goes to encodec_ecdc_probe(), to
 * encodec_decompress() on four decoders (tiny24 and tiny48, each without and with its LM, so
 * both payload kinds are parsed whichever model the stream names), and to the incremental
 * encodec_ecdc_reader (without LM: in two pushes, header and rest; with LM: through
 * encodec_ecdc_reader_push_partial and its smallest output buffer), which must agree with
 * encodec_decompress() (same audio, or failure for damaged known-length streams; it also
 * reads live streams, which encodec_decompress() refuses). Beyond "no crash, no
 * sanitizer report", the results must be consistent with the API contract: error codes from
 * the documented set, outputs cleared on failure, a header error reported identically by
 * probe and decompress, and on success exactly audio_length finite samples per channel from a
 * stream naming the decoder's model. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_common.h"

enum { N_DECODERS = 4 };
static encodec_model *models[N_DECODERS];
static encodec_decoder *decoders[N_DECODERS];

static void init(void)
{
    static const char *names[N_DECODERS][2] = {{"tiny24.safetensors", NULL},
                                               {"tiny24.safetensors", "tiny24_lm.safetensors"},
                                               {"tiny48.safetensors", NULL},
                                               {"tiny48.safetensors", "tiny48_lm.safetensors"}};
    for (int i = 0; i < N_DECODERS; i++) {
        models[i] = fuzz_load_model(names[i][0], names[i][1]);
        if (encodec_decoder_create(models[i], &decoders[i]) != ENCODEC_OK)
            exit(2);
    }
}

static int is_header_error(int rc)
{
    return rc == ENCODEC_EECDC_TRUNCATED || rc == ENCODEC_EECDC_MAGIC ||
           rc == ENCODEC_EECDC_VERSION || rc == ENCODEC_EECDC_HEADER;
}

/* What encodec_decompress() may return for damaged or foreign streams: the .ecdc codes
 * (ENCODEC_EECDC_CORRUPT for a payload no symbol fits or a bad scale: before it existed, the
 * first found here, regressions/fuzz_ecdc/lm_payload_no_symbol_fits.ecdc, gave ENCODEC_ECODE),
 * and ENCODEC_EUNSUPPORTED for an LM-coded stream without an LM, with more codebooks than the
 * LM has tables, or whose arithmetic coder state overflows (accepted for LM streams only). */
static int is_stream_error(int rc)
{
    return rc <= ENCODEC_EECDC_MAGIC && rc >= ENCODEC_EECDC_CORRUPT;
}

/* Push data[0, len) into the incremental reader, appending the audio to *pcm / *n (grown as
 * the reader's bound asks). Returns the push's code; 1 when the bound is too large to try. */
static int reader_push(encodec_ecdc_reader *r, const uint8_t *data, size_t len, float **pcm,
                       size_t *n, size_t *cap, int ch)
{
    const size_t need = encodec_ecdc_reader_max_samples(r, len);
    if (need > ((size_t)1 << 24))
        return 1;
    if (*n + need > *cap) {
        *cap = *n + need;
        *pcm = realloc(*pcm, (*cap ? *cap : 1) * ch * sizeof **pcm);
    }
    size_t got = 12345;
    /* no pointer arithmetic on NULL (an empty buffer) */
    float *dst = *pcm ? *pcm + *n * ch : NULL;
    const int rc = encodec_ecdc_reader_push(r, data, len, dst, need, &got);
    FUZZ_CHECK(rc != ENCODEC_EBUFFER, "reader push refused its own bound %zu", need);
    if (rc == ENCODEC_OK) {
        FUZZ_CHECK(got <= need, "reader push gave %zu samples, bound %zu", got, need);
        *n += got;
    }
    return rc;
}

/* Decode data[0, len) with push_partial into an output of buf_cap samples, appending the audio
 * to *pcm / *n. Every call must use bytes or give audio. Returns the first error or OK. */
static int reader_partial(encodec_ecdc_reader *r, const uint8_t *data, size_t len, float **pcm,
                          size_t *n, size_t *cap, int ch, float *buf, size_t buf_cap)
{
    while (len > 0) {
        size_t used = 12345, got = 12345;
        const int rc = encodec_ecdc_reader_push_partial(r, data, len, &used, buf, buf_cap, &got);
        if (rc != ENCODEC_OK) {
            FUZZ_CHECK(rc < 0 && used == 0 && got == 0, "push_partial %d, %zu, %zu", rc, used,
                       got);
            return rc;
        }
        FUZZ_CHECK(used <= len && got <= buf_cap && used + got > 0,
                   "push_partial used %zu of %zu, gave %zu of %zu", used, len, got, buf_cap);
        if (*n + got > *cap) {
            *cap = 2 * (*n + got);
            *pcm = realloc(*pcm, *cap * ch * sizeof **pcm);
        }
        if (got)
            memcpy(*pcm + *n * ch, buf, got * ch * sizeof *buf);
        *n += got;
        data += used;
        len -= used;
    }
    return ENCODEC_OK;
}

/* The incremental reader on the same input, in two pieces (header, rest): it must agree with
 * encodec_decompress(): the same audio when that succeeded (ref, ref_n), a failure when that
 * failed for a stream of known length. */
static void check_reader(int i, const uint8_t *data, size_t size, const encodec_ecdc_info *info,
                         int probe, int drc, const float *ref, size_t ref_n)
{
    encodec_ecdc_reader *r;
    FUZZ_CHECK(encodec_ecdc_reader_create(decoders[i], &r) == ENCODEC_OK, "reader_create");
    const int ch = encodec_model_channels(models[i]);
    const size_t first = probe == ENCODEC_OK ? info->header_size : size < 9 ? size : 9;
    float *pcm = NULL;
    size_t n = 0, cap = 0;
    int rc;
    if (encodec_model_has_lm(models[i])) { /* LM-coded streams: audio per byte is unbounded */
        const size_t buf_cap = encodec_ecdc_reader_min_samples(r);
        float *buf = malloc(buf_cap * ch * sizeof *buf);
        rc = reader_partial(r, data, size, &pcm, &n, &cap, ch, buf, buf_cap);
        free(buf);
    } else {
        rc = reader_push(r, data, first, &pcm, &n, &cap, ch);
        if (rc == ENCODEC_OK)
            rc = reader_push(r, size > first ? data + first : data, size - first, &pcm, &n,
                             &cap, ch);
    }
    if (rc != 1) {
        size_t tail = 12345;
        const size_t need = encodec_ecdc_reader_max_samples(r, 0);
        if (n + need > cap) {
            cap = n + need;
            pcm = realloc(pcm, (cap ? cap : 1) * ch * sizeof *pcm);
        }
        const int frc = encodec_ecdc_reader_finish(r, pcm ? pcm + n * ch : NULL, need, &tail);
        if (rc == ENCODEC_OK)
            rc = frc;
        if (frc == ENCODEC_OK)
            n += tail;
        if (drc == ENCODEC_OK) {
            FUZZ_CHECK(rc == ENCODEC_OK, "decompress succeeded, reader %d", rc);
            FUZZ_CHECK(n == ref_n && memcmp(pcm, ref, n * ch * sizeof *pcm) == 0,
                       "reader audio (%zu samples) differs from decompress (%zu)", n, ref_n);
        } else if (probe == ENCODEC_OK && drc != ENCODEC_ENOMEM) {
            FUZZ_CHECK(rc != ENCODEC_OK, "decompress failed (%d), reader succeeded", drc);
        }
    }
    free(pcm);
    encodec_ecdc_reader_free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!decoders[0])
        init();

    encodec_ecdc_info info;
    const int probe = encodec_ecdc_probe(data, size, &info);
    FUZZ_CHECK(probe == ENCODEC_OK || is_header_error(probe), "probe returned %d", probe);
    if (probe == ENCODEC_OK) {
        FUZZ_CHECK(info.header_size >= 9 && info.header_size <= size, "header_size %zu of %zu",
                   info.header_size, size);
        FUZZ_CHECK(memchr(info.model_name, 0, sizeof info.model_name) != NULL, "unterminated name");
        FUZZ_CHECK(info.n_codebooks >= 1 && info.audio_length >= 1, "nc %d, al %llu",
                   info.n_codebooks, (unsigned long long)info.audio_length);
        FUZZ_CHECK(info.use_lm == 0 || info.use_lm == 1, "use_lm %d", info.use_lm);
        /* the header alone is enough, whatever follows */
        encodec_ecdc_info again;
        FUZZ_CHECK(encodec_ecdc_probe(data, info.header_size, &again) == ENCODEC_OK &&
                       memcmp(&again, &info, sizeof info) == 0,
                   "probe of the header alone differs");
    }

    for (int i = 0; i < N_DECODERS; i++) {
        /* a bit-packed stream decodes alike with or without an LM: once is enough (time) */
        if (probe == ENCODEC_OK && !info.use_lm && encodec_model_has_lm(models[i]))
            continue;
        float *pcm = (float *)&info;
        size_t n = 12345;
        const int rc = encodec_decompress(decoders[i], data, size, &pcm, &n);
        if (rc != ENCODEC_OK) {
            FUZZ_CHECK(pcm == NULL && n == 0, "outputs not cleared on error %d", rc);
            if (probe != ENCODEC_OK)
                FUZZ_CHECK(rc == probe, "decompress %d but probe %d", rc, probe);
            const int lm_stream = probe == ENCODEC_OK && info.use_lm;
            const int has_lm = encodec_model_has_lm(models[i]);
            const int lm_damage = lm_stream && has_lm && rc == ENCODEC_EUNSUPPORTED;
            const int lm_refused = lm_stream && rc == ENCODEC_EUNSUPPORTED &&
                                   (!has_lm || info.n_codebooks > 3); /* tiny LMs: 3 tables */
            FUZZ_CHECK(is_stream_error(rc) || lm_damage || lm_refused || rc == ENCODEC_ENOMEM,
                       "decoder %d: decompress returned %d (%s)", i, rc, encodec_strerror(rc));
            check_reader(i, data, size, &info, probe, rc, NULL, 0);
            continue;
        }
        FUZZ_CHECK(probe == ENCODEC_OK, "decompress succeeded where probe failed (%d)", probe);
        FUZZ_CHECK(strcmp(info.model_name, encodec_model_name(models[i])) == 0,
                   "decoded a stream of %s with %s", info.model_name,
                   encodec_model_name(models[i]));
        FUZZ_CHECK(n == info.audio_length, "%zu samples, header says %llu", n,
                   (unsigned long long)info.audio_length);
        FUZZ_CHECK(!info.use_lm || encodec_model_has_lm(models[i]), "LM stream without LM");
        const size_t total = n * (size_t)encodec_model_channels(models[i]);
        for (size_t k = 0; k < total; k++)
            FUZZ_CHECK(isfinite(pcm[k]), "sample %zu is %g", k, (double)pcm[k]);
        check_reader(i, data, size, &info, probe, rc, pcm, n);
        encodec_buffer_free(pcm);
    }
    return 0;
}
