/* Tests of the .ecdc container (src/ecdc.c) against the reference's files: writing the golden
 * codes (and tiny48 scales) gives the golden .ecdc bytes exactly, without LM and with the LM
 * payload driven by the stored coder intervals `lm.intervals`; reading the files gives the codes
 * and scales back, in one piece, byte by byte (each frame as soon as its bytes are in) and in
 * seeded random pieces; damaged streams fail with their specific error, at every cut point, and
 * never read out of bounds (the buffers are exact-size copies; run under ASan too). */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "arith.h"
#include "ecdc.h"


/* ---- the golden streams ------------------------------------------------------------------- */

#define MAX_SEG 4

typedef struct {
    const char *name;        /* model name in the stream */
    ecl_ecdc_geometry geometry;
    uint64_t al;
    int K;
    size_t n_frames;         /* all segments */
    size_t n_segments;
    size_t seg_first[MAX_SEG + 1]; /* first frame of each segment, then the total */
    int32_t *codes;          /* frame-major, segments concatenated */
    float scales[MAX_SEG];
    const int32_t *intervals; /* [n_frames * K][2] */
    uint8_t *nolm, *lm;      /* the .ecdc files */
    size_t nolm_len, lm_len;
    tu_golden *g;
} stream;

/* Append codes stored [K][T] (codebook-major, as in the golden files) frame-major. */
static void append_codes(stream *s, const char *tensor)
{
    int64_t shape[8];
    int nd;
    const int32_t *c = tu_golden_i32(s->g, tensor, shape, &nd, NULL);
    assert_int_equal(nd, 2);
    assert_int_equal(shape[0], s->K);
    const size_t T = (size_t)shape[1], first = s->n_frames;
    s->codes = realloc(s->codes, (first + T) * (size_t)s->K * sizeof *s->codes);
    assert_non_null(s->codes);
    for (size_t t = 0; t < T; t++)
        for (int k = 0; k < s->K; k++)
            s->codes[(first + t) * (size_t)s->K + (size_t)k] = c[(size_t)k * T + t];
    s->seg_first[s->n_segments++] = first;
    s->n_frames += T;
    s->seg_first[s->n_segments] = s->n_frames;
}

static uint8_t *read_data(const char *name, size_t *len)
{
    char *path = tu_data_path(name);
    uint8_t *d = tu_read_file(path, len);
    free(path);
    return d;
}

static void open_stream24(stream *s)
{
    memset(s, 0, sizeof *s);
    s->name = "tiny24";
    s->geometry = (ecl_ecdc_geometry){24000, 75, 1024, 0, 0, 0};
    s->al = 36000;
    s->K = 2;
    s->g = tu_golden_open("tiny24.golden.safetensors");
    append_codes(s, "excerpt.bw1.5.codes");
    s->scales[0] = 1.0f;
    s->nolm = read_data("tiny24_excerpt_bw1.5_nolm.ecdc", &s->nolm_len);
    s->lm = read_data("tiny24_excerpt_bw1.5_lm.ecdc", &s->lm_len);
    size_t n;
    s->intervals = tu_golden_i32(s->g, "lm.intervals", NULL, NULL, &n);
    assert_int_equal(n, s->n_frames * (size_t)s->K * 2);
    /* the files and the golden tensors hold the same bytes */
    const uint8_t *b = tu_golden_u8(s->g, "ecdc.nolm.bytes", &n);
    assert_int_equal(n, s->nolm_len);
    assert_memory_equal(b, s->nolm, n);
    b = tu_golden_u8(s->g, "ecdc.lm.bytes", &n);
    assert_int_equal(n, s->lm_len);
    assert_memory_equal(b, s->lm, n);
}

static void open_stream48(stream *s)
{
    memset(s, 0, sizeof *s);
    s->name = "tiny48";
    s->geometry = (ecl_ecdc_geometry){48000, 150, 1024, 48000, 47520, 1};
    s->al = 49440;
    s->K = 2;
    s->g = tu_golden_open("tiny48.golden.safetensors");
    append_codes(s, "excerpt.bw3.seg0.codes");
    append_codes(s, "excerpt.bw3.seg1.codes");
    size_t n;
    const float *sc = tu_golden_f32(s->g, "excerpt.scales", NULL, NULL, &n);
    assert_int_equal(n, 2);
    memcpy(s->scales, sc, 2 * sizeof *sc);
    s->nolm = read_data("tiny48_excerpt_bw3_nolm.ecdc", &s->nolm_len);
    s->lm = read_data("tiny48_excerpt_bw3_lm.ecdc", &s->lm_len);
    s->intervals = tu_golden_i32(s->g, "lm.intervals", NULL, NULL, &n);
    assert_int_equal(n, s->n_frames * (size_t)s->K * 2);
    const uint8_t *b = tu_golden_u8(s->g, "ecdc.nolm.bytes", &n);
    assert_int_equal(n, s->nolm_len);
    assert_memory_equal(b, s->nolm, n);
    b = tu_golden_u8(s->g, "ecdc.lm.bytes", &n);
    assert_int_equal(n, s->lm_len);
    assert_memory_equal(b, s->lm, n);
}

static void close_stream(stream *s)
{
    free(s->codes);
    free(s->nolm);
    free(s->lm);
    tu_golden_close(s->g);
}

/* ---- an entropy model made of the stored intervals ----------------------------------------- */

/* The LM callback stand-in: for frame t of a segment it returns, per codebook, a valid CDF in
 * which the golden symbol owns exactly the golden interval [lo, hi) (the other symbols share
 * the rest, each at least 2 units) - enough for the coder to reproduce the reference bytes. It
 * also checks the callback contract: frames in order, prev_codes = the previous frame. */
typedef struct {
    const stream *s;
    size_t calls;
    size_t next_frame;  /* global frame expected next */
} iv_ctx;

static int iv_frame_cdfs(void *vctx, int segment, size_t t, const int32_t *prev, int K,
                         int32_t *cdfs)
{
    iv_ctx *c = vctx;
    const stream *s = c->s;
    const int64_t total = 1 << 24;
    const int bins = s->geometry.bins;
    assert_true(segment >= 0 && (size_t)segment < s->n_segments);
    assert_int_equal(K, s->K);
    const size_t frame = s->seg_first[segment] + t;
    assert_true(frame < s->seg_first[segment + 1]);
    assert_int_equal(frame, c->next_frame);
    c->next_frame++;
    c->calls++;
    if (t == 0)
        assert_null(prev);
    else
        assert_memory_equal(prev, s->codes + (frame - 1) * (size_t)K, (size_t)K * sizeof *prev);
    for (int k = 0; k < K; k++) {
        const size_t i = frame * (size_t)K + (size_t)k;
        const int sym = s->codes[i];
        const int64_t lo = s->intervals[2 * i], hi = s->intervals[2 * i + 1];
        int32_t *cdf = cdfs + (size_t)k * (size_t)bins;
        assert_true(lo >= 2 * (int64_t)sym && hi > lo &&
                    total - hi >= 2 * (int64_t)(bins - 1 - sym));
        for (int j = 0; j < sym; j++)
            cdf[j] = (int32_t)(lo * (j + 1) / sym);
        cdf[sym] = (int32_t)hi;
        for (int j = sym + 1; j < bins; j++)
            cdf[j] = (int32_t)(hi + (total - hi) * (j - sym) / (bins - 1 - sym));
    }
    return ENCODEC_OK;
}

/* ---- writing ------------------------------------------------------------------------------ */

/* Write s (with or without LM), one frame at a time, taking the output as it appears. */
static uint8_t *write_stream(const stream *s, int use_lm, size_t *len)
{
    iv_ctx ctx = {s, 0, 0};
    ecl_ecdc_lm lm = {iv_frame_cdfs, &ctx};
    ecl_ecdc_writer *w;
    assert_int_equal(ecl_ecdc_writer_create(&s->geometry, s->name, s->al, s->K,
                                            use_lm ? &lm : NULL, &w),
                     ENCODEC_OK);
    uint8_t *out = NULL;
    size_t out_len = 0;
    size_t prev_len = 0;
    for (size_t seg = 0; seg < s->n_segments; seg++) {
        if (s->geometry.has_scale)
            assert_int_equal(ecl_ecdc_writer_set_scale(w, s->scales[seg]), ENCODEC_OK);
        for (size_t f = s->seg_first[seg]; f < s->seg_first[seg + 1]; f++) {
            assert_false(ecl_ecdc_writer_done(w));
            assert_int_equal(ecl_ecdc_writer_add_frame(w, s->codes + f * (size_t)s->K),
                             ENCODEC_OK);
            size_t n;
            const uint8_t *d = ecl_ecdc_writer_data(w, &n);
            out = realloc(out, out_len + n + 1);
            assert_non_null(out);
            if (n)
                memcpy(out + out_len, d, n);
            out_len += n;
            ecl_ecdc_writer_discard(w, n);
        }
        /* bytes come out while frames are added, not only at the end */
        assert_true(out_len > prev_len);
        prev_len = out_len;
    }
    assert_true(ecl_ecdc_writer_done(w));
    if (use_lm)
        assert_int_equal(ctx.calls, s->n_frames);
    /* a frame past the end is refused */
    assert_int_equal(ecl_ecdc_writer_add_frame(w, s->codes), ENCODEC_ESTATE);
    ecl_ecdc_writer_free(w);
    *len = out_len;
    return out;
}

static void check_write(stream *s)
{
    size_t len;
    uint8_t *b = write_stream(s, 0, &len);
    assert_int_equal(len, s->nolm_len);
    assert_memory_equal(b, s->nolm, len);
    free(b);
    b = write_stream(s, 1, &len);
    assert_int_equal(len, s->lm_len);
    assert_memory_equal(b, s->lm, len);
    free(b);

    /* all frames at once, then take the buffer */
    ecl_ecdc_writer *w;
    assert_int_equal(ecl_ecdc_writer_create(&s->geometry, s->name, s->al, s->K, NULL, &w),
                     ENCODEC_OK);
    for (size_t seg = 0; seg < s->n_segments; seg++) {
        if (s->geometry.has_scale)
            assert_int_equal(ecl_ecdc_writer_set_scale(w, s->scales[seg]), ENCODEC_OK);
        assert_int_equal(ecl_ecdc_writer_add_frames(w, s->codes + s->seg_first[seg] * 2,
                                                    s->seg_first[seg + 1] - s->seg_first[seg]),
                         ENCODEC_OK);
    }
    assert_int_equal(ecl_ecdc_writer_take(w, &b, &len), ENCODEC_OK);
    assert_int_equal(len, s->nolm_len);
    assert_memory_equal(b, s->nolm, len);
    free(b);
    ecl_ecdc_writer_free(w);
}

static void test_write24(void **state)
{
    (void)state;
    stream s;
    open_stream24(&s);
    check_write(&s);
    close_stream(&s);
}

static void test_write48(void **state)
{
    (void)state;
    stream s;
    open_stream48(&s);
    check_write(&s);
    close_stream(&s);
}

static void test_write_errors(void **state)
{
    (void)state;
    stream s;
    open_stream48(&s);
    ecl_ecdc_writer *w;
    ecl_ecdc_geometry bad = s.geometry;
    bad.bins = 1000;
    assert_int_equal(ecl_ecdc_writer_create(&bad, "x", 10, 2, NULL, &w), ENCODEC_EINVAL);
    assert_null(w);
    assert_int_equal(ecl_ecdc_writer_create(&s.geometry, "x", 0, 2, NULL, &w), ENCODEC_EINVAL);
    assert_int_equal(ecl_ecdc_writer_create(&s.geometry, "x", 10, 0, NULL, &w), ENCODEC_EINVAL);
    assert_int_equal(ecl_ecdc_writer_create(&s.geometry, "bad\xff", 10, 1, NULL, &w),
                     ENCODEC_EINVAL);
    assert_int_equal(ecl_ecdc_writer_create(&s.geometry, s.name, s.al, s.K, NULL, &w),
                     ENCODEC_OK);
    /* the segment's scale must come first */
    assert_int_equal(ecl_ecdc_writer_add_frame(w, s.codes), ENCODEC_ESTATE);
    assert_int_equal(ecl_ecdc_writer_set_scale(w, s.scales[0]), ENCODEC_OK);
    assert_int_equal(ecl_ecdc_writer_set_scale(w, s.scales[0]), ENCODEC_ESTATE);
    int32_t bad_codes[2] = {0, 1024};
    assert_int_equal(ecl_ecdc_writer_add_frame(w, bad_codes), ENCODEC_ECODE);
    bad_codes[1] = -1;
    assert_int_equal(ecl_ecdc_writer_add_frame(w, bad_codes), ENCODEC_ECODE);
    assert_int_equal(ecl_ecdc_writer_add_frame(w, s.codes), ENCODEC_OK);
    assert_int_equal(ecl_ecdc_writer_set_scale(w, 1.0f), ENCODEC_ESTATE); /* mid-segment */
    ecl_ecdc_writer_free(w);
    /* scale on a geometry without scales */
    ecl_ecdc_geometry g24 = {24000, 75, 1024, 0, 0, 0};
    assert_int_equal(ecl_ecdc_writer_create(&g24, "x", 10, 1, NULL, &w), ENCODEC_OK);
    assert_int_equal(ecl_ecdc_writer_set_scale(w, 1.0f), ENCODEC_EINVAL);
    ecl_ecdc_writer_free(w);
    close_stream(&s);
}

/* json.dumps with its default ensure_ascii (expected texts from Python). */
static void test_metadata_text(void **state)
{
    (void)state;
    static const struct {
        const char *name, *want;
    } cases[] = {
        {"tiny24", "{\"m\": \"tiny24\", \"al\": 36000, \"nc\": 2, \"lm\": false}"},
        {"a\"b\\c\nd\te\x01" "f\x7fg",
         "{\"m\": \"a\\\"b\\\\c\\nd\\te\\u0001f\\u007fg\", \"al\": 36000, \"nc\": 2, \"lm\": false}"},
        {"caf\xc3\xa9", "{\"m\": \"caf\\u00e9\", \"al\": 36000, \"nc\": 2, \"lm\": false}"},
        {"x\xf0\x9f\x98\x80y",
         "{\"m\": \"x\\ud83d\\ude00y\", \"al\": 36000, \"nc\": 2, \"lm\": false}"},
    };
    char buf[256];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int n = ecl_ecdc_format_metadata(cases[i].name, 36000, 2, 0, buf, sizeof buf);
        assert_int_equal(n, (int)strlen(cases[i].want));
        buf[n] = 0;
        assert_string_equal(buf, cases[i].want);
    }
    int n = ecl_ecdc_format_metadata("encodec_24khz", 123456789012ull, 32, 1, buf, sizeof buf);
    assert_true(n > 0);
    buf[n] = 0;
    assert_string_equal(buf,
                        "{\"m\": \"encodec_24khz\", \"al\": 123456789012, \"nc\": 32, \"lm\": true}");
    assert_int_equal(ecl_ecdc_format_metadata("tiny24", 36000, 2, 0, buf, 10), ENCODEC_EBUFFER);
    /* overlong encodings and lone surrogates are not UTF-8 */
    assert_int_equal(ecl_ecdc_format_metadata("\xc0\xaf", 1, 1, 0, buf, sizeof buf),
                     ENCODEC_EINVAL);
    assert_int_equal(ecl_ecdc_format_metadata("\xed\xa0\x80", 1, 1, 0, buf, sizeof buf),
                     ENCODEC_EINVAL);
}

/* ---- reading ------------------------------------------------------------------------------ */

static ecl_ecdc_reader_params params_for(const stream *s, ecl_ecdc_lm *lm)
{
    ecl_ecdc_reader_params p = {s->geometry, s->name, 32, lm};
    return p;
}

static uint8_t *copy_exact(const uint8_t *d, size_t n)
{
    uint8_t *c = malloc(n ? n : 1);
    assert_non_null(c);
    if (n)
        memcpy(c, d, n);
    return c;
}

/* read_all on an exact-size copy; returns the error code, checks the result when OK. */
static int read_all_check(const stream *s, const uint8_t *data, size_t len, int use_lm)
{
    iv_ctx ctx = {s, 0, 0};
    ecl_ecdc_lm lm = {iv_frame_cdfs, &ctx};
    ecl_ecdc_reader_params p = params_for(s, use_lm ? &lm : NULL);
    uint8_t *copy = copy_exact(data, len);
    encodec_ecdc_info info;
    int32_t *codes = (int32_t *)&info; /* must be reset */
    float *scales = NULL;
    size_t n_frames = 99, n_seg = 99;
    int rc = ecl_ecdc_read_all(&p, copy, len, &info, &codes, &n_frames, &scales, &n_seg);
    free(copy);
    if (rc < 0) {
        assert_null(codes);
        assert_null(scales);
        assert_int_equal(n_frames, 0);
        return rc;
    }
    assert_string_equal(info.model_name, s->name);
    assert_int_equal(info.audio_length, s->al);
    assert_int_equal(info.n_codebooks, s->K);
    assert_int_equal(info.use_lm, use_lm);
    assert_int_equal(n_frames, s->n_frames);
    assert_int_equal(n_seg, s->n_segments);
    assert_memory_equal(codes, s->codes, n_frames * (size_t)s->K * sizeof *codes);
    if (s->geometry.has_scale) {
        assert_non_null(scales);
        assert_memory_equal(scales, s->scales, n_seg * sizeof *scales); /* bit for bit */
    } else {
        assert_null(scales);
    }
    free(codes);
    free(scales);
    return rc;
}

/* Push data in pieces chosen by rng (rng NULL: one byte at a time); check every frame as it
 * arrives, and (byte-wise, no LM) that each frame comes out as soon as its last byte is in.
 * Returns the end status. */
static int read_pieces(const stream *s, const uint8_t *data, size_t len, int use_lm,
                       uint32_t *rng)
{
    iv_ctx ctx = {s, 0, 0};
    ecl_ecdc_lm lm = {iv_frame_cdfs, &ctx};
    ecl_ecdc_reader_params p = params_for(s, use_lm ? &lm : NULL);
    ecl_ecdc_reader *r;
    assert_int_equal(ecl_ecdc_reader_create(&p, &r), ENCODEC_OK);
    assert_null(ecl_ecdc_reader_info(r));
    uint8_t *copy = copy_exact(data, len);
    size_t fed = 0, frames = 0, header_size = 0;
    int seen_header = 0, done = 0, rc = 0;
    while (!done) {
        size_t piece = rng ? tu_rand(rng) % 9 : 1; /* empty pieces too */
        if (piece > len - fed)
            piece = len - fed;
        const uint8_t *chunk = copy + fed;
        fed += piece;
        size_t off = 0;
        for (;;) {
            size_t used;
            ecl_ecdc_frame fr;
            rc = ecl_ecdc_reader_push(r, chunk + off, piece - off, &used, &fr);
            off += used;
            assert_true(off <= piece);
            if (rc < 0) {
                done = 1;
                break;
            }
            if (rc == ECL_ECDC_NEED_INPUT) {
                assert_int_equal(off, piece);
                if (fed == len)
                    done = 1;
                break;
            }
            if (rc == ECL_ECDC_DONE) {
                done = 1;
                break;
            }
            if (rc == ECL_ECDC_HEADER) {
                assert_false(seen_header);
                seen_header = 1;
                const encodec_ecdc_info *info = ecl_ecdc_reader_info(r);
                assert_non_null(info);
                header_size = info->header_size;
                assert_int_equal(fed - (piece - off), header_size);
                continue;
            }
            assert_int_equal(rc, ECL_ECDC_FRAME);
            assert_true(seen_header);
            const encodec_ecdc_info *info = ecl_ecdc_reader_info(r);
            if (info->audio_length != s->al || info->n_codebooks != s->K) {
                frames++; /* a damaged header: the frames are not the golden ones */
                continue;
            }
            assert_true(frames < s->n_frames);
            assert_int_equal(fr.segment >= 0, 1);
            assert_int_equal(s->seg_first[fr.segment] + fr.t, frames);
            assert_int_equal(fr.n_frames,
                             s->seg_first[fr.segment + 1] - s->seg_first[fr.segment]);
            assert_memory_equal(&fr.scale, &s->scales[fr.segment], sizeof fr.scale);
            assert_memory_equal(fr.codes, s->codes + frames * (size_t)s->K,
                                (size_t)s->K * sizeof *fr.codes);
            if (!rng && !use_lm && fr.segment == 0) {
                /* frame t is complete with the byte holding its last bit */
                size_t bits = (fr.t + 1) * (size_t)s->K * 10;
                size_t scale_bytes = s->geometry.has_scale ? 4 : 0;
                assert_int_equal(fed - (piece - off), header_size + scale_bytes + (bits + 7) / 8);
            }
            frames++;
        }
    }
    free(copy);
    if (rc >= 0)
        rc = fed < len ? ENCODEC_EECDC_TRAILING : ecl_ecdc_reader_end(r);
    if (rc == ENCODEC_OK)
        assert_int_equal(frames, s->n_frames);
    ecl_ecdc_reader_free(r);
    return rc;
}

static void check_read(const stream *s)
{
    assert_int_equal(read_all_check(s, s->nolm, s->nolm_len, 0), ENCODEC_OK);
    assert_int_equal(read_all_check(s, s->lm, s->lm_len, 1), ENCODEC_OK);
    assert_int_equal(read_pieces(s, s->nolm, s->nolm_len, 0, NULL), ENCODEC_OK);
    assert_int_equal(read_pieces(s, s->lm, s->lm_len, 1, NULL), ENCODEC_OK);
    uint32_t rng = tu_seed();
    for (int i = 0; i < 20; i++) {
        assert_int_equal(read_pieces(s, s->nolm, s->nolm_len, 0, &rng), ENCODEC_OK);
        assert_int_equal(read_pieces(s, s->lm, s->lm_len, 1, &rng), ENCODEC_OK);
    }
}

static void test_read24(void **state)
{
    (void)state;
    stream s;
    open_stream24(&s);
    check_read(&s);
    close_stream(&s);
}

static void test_read48(void **state)
{
    (void)state;
    stream s;
    open_stream48(&s);
    check_read(&s);
    close_stream(&s);
}

static void test_probe(void **state)
{
    (void)state;
    stream s;
    open_stream24(&s);
    encodec_ecdc_info info;
    assert_int_equal(encodec_ecdc_probe(s.nolm, s.nolm_len, &info), ENCODEC_OK);
    assert_string_equal(info.model_name, "tiny24");
    assert_int_equal(info.audio_length, 36000);
    assert_int_equal(info.n_codebooks, 2);
    assert_int_equal(info.use_lm, 0);
    assert_int_equal(info.header_size, 9 + 50);
    /* the header alone is enough; anything shorter asks for more */
    assert_int_equal(encodec_ecdc_probe(s.lm, 59, &info), ENCODEC_OK);
    assert_int_equal(info.use_lm, 1);
    for (size_t n = 0; n < 59; n++) {
        uint8_t *c = copy_exact(s.nolm, n);
        assert_int_equal(encodec_ecdc_probe(c, n, &info), ENCODEC_EECDC_TRUNCATED);
        free(c);
    }
    assert_int_equal(encodec_ecdc_probe(NULL, 0, &info), ENCODEC_EECDC_TRUNCATED);
    assert_int_equal(encodec_ecdc_probe(s.nolm, s.nolm_len, NULL), ENCODEC_EINVAL);
    assert_int_equal(encodec_ecdc_probe((const uint8_t *)"RIFF", 4, &info), ENCODEC_EECDC_MAGIC);
    assert_int_equal(encodec_ecdc_probe((const uint8_t *)"EX", 2, &info), ENCODEC_EECDC_MAGIC);
    close_stream(&s);
}

/* ---- damage ------------------------------------------------------------------------------- */

/* The stream's payload behind a header with other metadata text. */
static uint8_t *with_metadata(const uint8_t *file, size_t len, const char *json, size_t *out_len)
{
    encodec_ecdc_info info;
    assert_int_equal(encodec_ecdc_probe(file, len, &info), ENCODEC_OK);
    size_t n = strlen(json), payload = len - info.header_size;
    *out_len = 9 + n + payload;
    uint8_t *b = malloc(*out_len);
    assert_non_null(b);
    memcpy(b, "ECDC\0", 5);
    b[5] = (uint8_t)(n >> 24);
    b[6] = (uint8_t)(n >> 16);
    b[7] = (uint8_t)(n >> 8);
    b[8] = (uint8_t)n;
    memcpy(b + 9, json, n);
    memcpy(b + 9 + n, file + info.header_size, payload);
    return b;
}

static int read_with_metadata(const stream *s, const char *json)
{
    size_t len;
    uint8_t *b = with_metadata(s->nolm, s->nolm_len, json, &len);
    int rc = read_all_check(s, b, len, 0);
    /* the piecewise reader and the probe agree */
    uint32_t rng = 12345;
    int rc2 = read_pieces(s, b, len, 0, &rng);
    if (rc2 != rc)
        fail_msg("%s: read_all %d, pieces %d", json, rc, rc2);
    encodec_ecdc_info info;
    int rc3 = encodec_ecdc_probe(b, len, &info);
    if ((rc == ENCODEC_EECDC_HEADER || rc == ENCODEC_EECDC_MAGIC ||
         rc == ENCODEC_EECDC_VERSION) && rc3 != rc)
        fail_msg("%s: read_all %d, probe %d", json, rc, rc3);
    free(b);
    return rc;
}

static void test_damaged_header(void **state)
{
    (void)state;
    stream s;
    open_stream24(&s);
    uint8_t *b = copy_exact(s.nolm, s.nolm_len);

    b[3] = 'X';
    assert_int_equal(read_all_check(&s, b, s.nolm_len, 0), ENCODEC_EECDC_MAGIC);
    assert_int_equal(read_pieces(&s, b, s.nolm_len, 0, NULL), ENCODEC_EECDC_MAGIC);
    b[3] = 'C';
    b[4] = 1;
    assert_int_equal(read_all_check(&s, b, s.nolm_len, 0), ENCODEC_EECDC_VERSION);
    assert_int_equal(read_pieces(&s, b, s.nolm_len, 0, NULL), ENCODEC_EECDC_VERSION);
    b[4] = 0;
    /* metadata length past the end of the stream */
    b[7] = 0x01;
    b[8] = 0x60; /* 352 > 342 - 9 */
    assert_int_equal(read_all_check(&s, b, s.nolm_len, 0), ENCODEC_EECDC_TRUNCATED);
    assert_int_equal(read_pieces(&s, b, s.nolm_len, 0, NULL), ENCODEC_EECDC_TRUNCATED);
    encodec_ecdc_info info;
    assert_int_equal(encodec_ecdc_probe(b, s.nolm_len, &info), ENCODEC_EECDC_TRUNCATED);
    /* an absurd metadata length is invalid at once */
    b[5] = 0x7f;
    assert_int_equal(encodec_ecdc_probe(b, s.nolm_len, &info), ENCODEC_EECDC_HEADER);
    assert_int_equal(read_pieces(&s, b, s.nolm_len, 0, NULL), ENCODEC_EECDC_HEADER);
    b[5] = 0;
    /* metadata shorter than the JSON: the object is cut */
    b[7] = 0;
    b[8] = 49;
    assert_int_equal(encodec_ecdc_probe(b, s.nolm_len, &info), ENCODEC_EECDC_HEADER);
    free(b);

    const int H = ENCODEC_EECDC_HEADER;
    static const struct {
        const char *json;
        int want;
    } cases[] = {
        /* any key order and whitespace is fine; unknown keys are ignored */
        {"{ \"lm\" :false,\"nc\":2,\n\"al\" : 36000 , \"m\":\"tiny24\", \"x\": [1]}\n ", 0},
        {"{\"m\": \"tiny24\", \"al\": 36000, \"nc\": 2, \"lm\": fals}", H},
        {"{\"m\": \"tiny24\", \"al\": 36000, \"nc\": 2, \"lm\": false", H},
        {"{\"m\": \"tiny24\", \"al\": 36000, \"nc\": 2, \"lm\": false}x", H},
        {"[\"tiny24\", 36000, 2, false]", H},
        {"", H},
        {"{\"al\": 36000, \"nc\": 2, \"lm\": false}", H},
        {"{\"m\": \"tiny24\", \"nc\": 2, \"lm\": false}", H},
        {"{\"m\": \"tiny24\", \"al\": 36000, \"lm\": false}", H},
        {"{\"m\": \"tiny24\", \"al\": 36000, \"nc\": 2}", H},
        {"{\"M\": \"tiny24\", \"al\": 36000, \"nc\": 2, \"lm\": false}", H},
        {"{\"m\": 24, \"al\": 36000, \"nc\": 2, \"lm\": false}", H},
        {"{\"m\": \"tiny24\", \"al\": \"36000\", \"nc\": 2, \"lm\": false}", H},
        {"{\"m\": \"tiny24\", \"al\": 36000, \"nc\": \"2\", \"lm\": false}", H},
        {"{\"m\": \"tiny24\", \"al\": 36000, \"nc\": 2, \"lm\": 0}", H},
        {"{\"m\": \"tiny24\", \"al\": 36000, \"nc\": 2, \"lm\": null}", H},
        {"{\"m\": \"tiny24\", \"al\": -36000, \"nc\": 2, \"lm\": false}", H},
        {"{\"m\": \"tiny24\", \"al\": 36000.5, \"nc\": 2, \"lm\": false}", H},
        {"{\"m\": \"tiny24\", \"al\": 0, \"nc\": 2, \"lm\": false}", H},
        {"{\"m\": \"tiny24\", \"al\": 1e300, \"nc\": 2, \"lm\": false}", H},
        {"{\"m\": \"tiny24\", \"al\": 36000, \"nc\": 0, \"lm\": false}", H},
        {"{\"m\": \"tiny24\", \"al\": 36000, \"nc\": -2, \"lm\": false}", H},
        {"{\"m\": \"tiny24\", \"al\": 36000, \"nc\": 1.5, \"lm\": false}", H},
        {"{\"m\": \"tiny24\", \"al\": 36000, \"nc\": 3e9, \"lm\": false}", H},
        {"{\"m\": \"0123456789012345678901234567890123456789012345678901234567890123\", "
         "\"al\": 36000, \"nc\": 2, \"lm\": false}",
         H},
        /* valid headers that do not fit the model (or this reader) */
        {"{\"m\": \"tiny48\", \"al\": 36000, \"nc\": 2, \"lm\": false}", ENCODEC_EECDC_MODEL},
        {"{\"m\": \"tiny24\", \"al\": 36000, \"nc\": 33, \"lm\": false}", ENCODEC_EECDC_MODEL},
        {"{\"m\": \"tiny24\", \"al\": 36000, \"nc\": 2, \"lm\": true}", ENCODEC_EUNSUPPORTED},
        /* a consistent header with a payload of another size */
        {"{\"m\": \"tiny24\", \"al\": 36161, \"nc\": 2, \"lm\": false}", ENCODEC_EECDC_TRUNCATED},
        {"{\"m\": \"tiny24\", \"al\": 35000, \"nc\": 2, \"lm\": false}", ENCODEC_EECDC_TRAILING},
        {"{\"m\": \"tiny24\", \"al\": 36000, \"nc\": 1, \"lm\": false}", ENCODEC_EECDC_TRAILING},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = read_with_metadata(&s, cases[i].json);
        if (rc != cases[i].want)
            fail_msg("case %zu '%s': got %d want %d", i, cases[i].json, rc, cases[i].want);
    }
    close_stream(&s);
}

static void check_truncation_and_trailing(const stream *s)
{
    for (int use_lm = 0; use_lm < 2; use_lm++) {
        const uint8_t *file = use_lm ? s->lm : s->nolm;
        const size_t len = use_lm ? s->lm_len : s->nolm_len;
        for (size_t cut = 0; cut < len; cut++) {
            int rc = read_all_check(s, file, cut, use_lm);
            if (rc != ENCODEC_EECDC_TRUNCATED)
                fail_msg("%s lm=%d cut at %zu of %zu: got %d", s->name, use_lm, cut, len, rc);
            if (cut % 17 == 0 || cut + 3 > len)
                assert_int_equal(read_pieces(s, file, cut, use_lm, NULL),
                                 ENCODEC_EECDC_TRUNCATED);
        }
        uint8_t *longer = malloc(len + 1);
        assert_non_null(longer);
        memcpy(longer, file, len);
        longer[len] = 0;
        assert_int_equal(read_all_check(s, longer, len + 1, use_lm), ENCODEC_EECDC_TRAILING);
        assert_int_equal(read_pieces(s, longer, len + 1, use_lm, NULL), ENCODEC_EECDC_TRAILING);
        free(longer);
    }
}

static void test_truncation24(void **state)
{
    (void)state;
    stream s;
    open_stream24(&s);
    check_truncation_and_trailing(&s);
    close_stream(&s);
}

static void test_truncation48(void **state)
{
    (void)state;
    stream s;
    open_stream48(&s);
    check_truncation_and_trailing(&s);
    close_stream(&s);
}

/* Reader parameters: the model name and the codebook limit; errors are sticky. */
static void test_reader_params(void **state)
{
    (void)state;
    stream s;
    open_stream24(&s);
    ecl_ecdc_reader_params p = params_for(&s, NULL);
    int32_t *codes;
    size_t n;
    p.max_codebooks = 1;
    assert_int_equal(ecl_ecdc_read_all(&p, s.nolm, s.nolm_len, NULL, &codes, &n, NULL, NULL),
                     ENCODEC_EECDC_MODEL);
    p.max_codebooks = 2;
    p.model_name = "tiny48";
    assert_int_equal(ecl_ecdc_read_all(&p, s.nolm, s.nolm_len, NULL, &codes, &n, NULL, NULL),
                     ENCODEC_EECDC_MODEL);
    p.model_name = NULL; /* any model */
    assert_int_equal(ecl_ecdc_read_all(&p, s.nolm, s.nolm_len, NULL, &codes, &n, NULL, NULL),
                     ENCODEC_OK);
    assert_int_equal(n, s.n_frames);
    free(codes);
    p.max_codebooks = 0;
    ecl_ecdc_reader *r;
    assert_int_equal(ecl_ecdc_reader_create(&p, &r), ENCODEC_EINVAL);
    assert_null(r);

    /* an LM stream without an entropy model */
    p.max_codebooks = 2;
    assert_int_equal(ecl_ecdc_read_all(&p, s.lm, s.lm_len, NULL, &codes, &n, NULL, NULL),
                     ENCODEC_EUNSUPPORTED);

    /* after an error the reader repeats it */
    assert_int_equal(ecl_ecdc_reader_create(&p, &r), ENCODEC_OK);
    size_t used;
    ecl_ecdc_frame fr;
    assert_int_equal(ecl_ecdc_reader_push(r, (const uint8_t *)"ECDC\1", 5, &used, &fr),
                     ENCODEC_EECDC_VERSION);
    assert_int_equal(ecl_ecdc_reader_push(r, s.nolm, s.nolm_len, &used, &fr),
                     ENCODEC_EECDC_VERSION);
    assert_int_equal(used, 0);
    assert_int_equal(ecl_ecdc_reader_end(r), ENCODEC_EECDC_VERSION);
    ecl_ecdc_reader_free(r);
    close_stream(&s);
}

/* An LM stream decoded with CDFs that do not match: a clean error or wrong codes, never a
 * crash; an error from the callback is passed on. ctx: {frame to fail at, units per symbol}. */
static int other_cdfs(void *ctx, int segment, size_t t, const int32_t *prev, int K,
                      int32_t *cdfs)
{
    const int *cfg = ctx;
    (void)segment;
    (void)prev;
    if ((int)t == cfg[0])
        return ENCODEC_ENOMEM;
    for (int k = 0; k < K; k++)
        for (int i = 0; i < 1024; i++)
            cdfs[k * 1024 + i] = (i + 1) * cfg[1];
    return ENCODEC_OK;
}

static void test_lm_mismatched_cdfs(void **state)
{
    (void)state;
    stream s;
    open_stream24(&s);
    int cfg[2];
    ecl_ecdc_lm lm = {other_cdfs, cfg};
    ecl_ecdc_reader_params p = params_for(&s, &lm);
    int32_t *codes;
    size_t n;
    /* uniform over all of [0, 2^24): every payload decodes to something */
    cfg[0] = -1;
    cfg[1] = 16384;
    int rc = ecl_ecdc_read_all(&p, s.lm, s.lm_len, NULL, &codes, &n, NULL, NULL);
    assert_true(rc == ENCODEC_OK || rc == ENCODEC_EECDC_TRUNCATED ||
                rc == ENCODEC_EECDC_TRAILING);
    if (rc == ENCODEC_OK)
        free(codes);
    /* only the lower half of the range is used: the payload soon points outside */
    cfg[1] = 8192;
    assert_int_equal(ecl_ecdc_read_all(&p, s.lm, s.lm_len, NULL, &codes, &n, NULL, NULL),
                     ECL_AC_ECORRUPT);
    /* the callback's own error */
    cfg[0] = 3;
    cfg[1] = 16384;
    assert_int_equal(ecl_ecdc_read_all(&p, s.lm, s.lm_len, NULL, &codes, &n, NULL, NULL),
                     ENCODEC_ENOMEM);
    /* and on the writing side */
    ecl_ecdc_writer *w;
    assert_int_equal(ecl_ecdc_writer_create(&s.geometry, s.name, s.al, s.K, &lm, &w),
                     ENCODEC_OK);
    for (int t = 0; t < 3; t++)
        assert_int_equal(ecl_ecdc_writer_add_frame(w, s.codes + t * 2), ENCODEC_OK);
    assert_int_equal(ecl_ecdc_writer_add_frame(w, s.codes + 6), ENCODEC_ENOMEM);
    assert_int_equal(ecl_ecdc_writer_add_frame(w, s.codes + 6), ENCODEC_ENOMEM); /* sticky */
    ecl_ecdc_writer_free(w);
    close_stream(&s);
}

/* Segment geometry of both models (spec 7). */
static void test_geometry(void **state)
{
    (void)state;
    ecl_ecdc_geometry g24 = {24000, 75, 1024, 0, 0, 0};
    ecl_ecdc_geometry g48 = {48000, 150, 1024, 48000, 47520, 1};
    assert_int_equal(ecl_ecdc_n_segments(&g24, 36000), 1);
    assert_int_equal(ecl_ecdc_segment_frames(&g24, 36000, 0), 113);
    assert_int_equal(ecl_ecdc_total_frames(&g24, 36000), 113);
    assert_int_equal(ecl_ecdc_total_frames(&g24, 1), 1);
    assert_int_equal(ecl_ecdc_total_frames(&g24, 320), 1);
    assert_int_equal(ecl_ecdc_total_frames(&g24, 321), 2);
    assert_int_equal(ecl_ecdc_n_segments(&g48, 49440), 2);
    assert_int_equal(ecl_ecdc_segment_frames(&g48, 49440, 0), 150);
    assert_int_equal(ecl_ecdc_segment_frames(&g48, 49440, 1), 6);
    assert_int_equal(ecl_ecdc_total_frames(&g48, 49440), 156);
    assert_int_equal(ecl_ecdc_n_segments(&g48, 47520), 1);
    assert_int_equal(ecl_ecdc_n_segments(&g48, 47521), 2);
    assert_int_equal(ecl_ecdc_segment_frames(&g48, 47521, 1), 1);
    /* both segments short: 47521 samples (149 frames) and the 1 past the stride (1 frame) */
    assert_int_equal(ecl_ecdc_total_frames(&g48, 47521), 150);
    assert_int_equal(ecl_ecdc_total_frames(&g48, 48000), 152); /* 150 + 2 for the 480 past 47520 */
    /* nine full segments, then 47525 samples (149 frames) and 5 (1 frame) */
    assert_int_equal(ecl_ecdc_total_frames(&g48, 10 * 47520 + 5), 9 * 150 + 149 + 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_geometry),
        cmocka_unit_test(test_metadata_text),
        cmocka_unit_test(test_write24),
        cmocka_unit_test(test_write48),
        cmocka_unit_test(test_write_errors),
        cmocka_unit_test(test_probe),
        cmocka_unit_test(test_read24),
        cmocka_unit_test(test_read48),
        cmocka_unit_test(test_damaged_header),
        cmocka_unit_test(test_truncation24),
        cmocka_unit_test(test_truncation48),
        cmocka_unit_test(test_reader_params),
        cmocka_unit_test(test_lm_mismatched_cdfs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
