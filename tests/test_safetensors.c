/* Tests of the safetensors container layer (src/safetensors.c) and of the golden-file helpers
 * in testutil.c: the real weight and golden files open with the expected tensors and metadata;
 * small files built in memory and then damaged fail with the specific ENCODEC_EWEIGHTS_* code
 * and a message naming the tensor; F16 conversion is exact for normal, subnormal and special
 * values; and no prefix of a valid file is accepted or crashes the parser. */
#include "testutil.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "safetensors.h"

/* ---- helpers --------------------------------------------------------------------------- */

/* Build "len(json) as u64 LE | json | data" in a malloc'd buffer of exactly *len bytes. */
static uint8_t *build(const char *json, const uint8_t *data, size_t data_len, size_t *len)
{
    size_t n = strlen(json);
    *len = 8 + n + data_len;
    uint8_t *b = malloc(*len ? *len : 1);
    assert_non_null(b);
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)((uint64_t)n >> (8 * i));
    memcpy(b + 8, json, n);
    if (data_len)
        memcpy(b + 8 + n, data, data_len);
    return b;
}

/* Open buf (copied into an exact-size allocation so ASan sees any overread), expect rc and,
 * when want_in_msg is non-NULL, that the message contains it. */
static void expect_open(const uint8_t *buf, size_t len, int want_rc, const char *want_in_msg)
{
    uint8_t *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    if (len)
        memcpy(copy, buf, len);
    ecl_safetensors *st = (ecl_safetensors *)&want_rc; /* must be reset to NULL on failure */
    char msg[512] = "untouched";
    int rc = ecl_safetensors_open(copy, len, &st, msg, sizeof msg);
    if (rc != want_rc)
        fail_msg("expected %d, got %d (%s)", want_rc, rc, msg);
    if (rc == ENCODEC_OK) {
        assert_non_null(st);
        assert_string_equal(msg, "");
    } else {
        assert_null(st);
        assert_true(strlen(msg) > 0);
        assert_null(strchr(msg, '\n'));
        if (want_in_msg && !strstr(msg, want_in_msg))
            fail_msg("message '%s' does not mention '%s'", msg, want_in_msg);
    }
    ecl_safetensors_close(st);
    free(copy);
}

/* Build from json + data and check the outcome. */
static void expect_json(const char *json, const uint8_t *data, size_t data_len, int want_rc,
                        const char *want_in_msg)
{
    size_t len;
    uint8_t *b = build(json, data, data_len, &len);
    expect_open(b, len, want_rc, want_in_msg);
    free(b);
}

/* A valid file: three tensors of three dtypes, metadata, 35 data bytes, F16 data unaligned. */
static const char *VALID_JSON =
    "{\"__metadata__\":{\"format\":\"pt\",\"k\":\"v\"},"
    "\"t.a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
    "\"t.c\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[24,27]},"
    "\"t.b\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[27,35]}}";

static void valid_data(uint8_t data[35])
{
    for (int i = 0; i < 6; i++) {
        float f = (float)i + 0.5f;
        memcpy(data + 4 * i, &f, 4);
    }
    data[24] = 7, data[25] = 8, data[26] = 9;
    const uint16_t h[4] = {0x3c00, 0xc000, 0x3800, 0x0000}; /* 1, -2, 0.5, 0 */
    for (int i = 0; i < 4; i++) {
        data[27 + 2 * i] = (uint8_t)(h[i] & 0xff);
        data[28 + 2 * i] = (uint8_t)(h[i] >> 8);
    }
}

static uint8_t *valid_file(size_t *len)
{
    uint8_t data[35];
    valid_data(data);
    return build(VALID_JSON, data, sizeof data, len);
}

/* ---- real files ------------------------------------------------------------------------ */

static void test_tiny24_weights(void **state)
{
    (void)state;
    char *path = tu_data_path("tiny24.safetensors");
    size_t len;
    uint8_t *buf = tu_read_file(path, &len);
    ecl_safetensors *st;
    char msg[256];
    int rc = ecl_safetensors_open(buf, len, &st, msg, sizeof msg);
    if (rc != ENCODEC_OK)
        fail_msg("%s", msg);
    assert_int_equal(ecl_safetensors_count(st), 252);

    const ecl_tensor *t = ecl_safetensors_find(st, "encoder.model.0.conv.conv.weight_v");
    assert_non_null(t);
    assert_string_equal(t->name, "encoder.model.0.conv.conv.weight_v");
    assert_int_equal(t->dtype, ECL_DTYPE_F32);
    assert_int_equal(t->n_dims, 3);
    assert_int_equal(t->shape[0], 2);
    assert_int_equal(t->shape[1], 1);
    assert_int_equal(t->shape[2], 7);
    assert_int_equal(t->n_elements, 14);
    float w[14];
    ecl_tensor_read_f32(t, w);
    for (int i = 0; i < 14; i++)
        assert_true(isfinite(w[i]));

    /* File order is kept; the first tensor is the first conv's bias. */
    assert_string_equal(ecl_safetensors_at(st, 0)->name, "encoder.model.0.conv.conv.bias");
    assert_null(ecl_safetensors_at(st, 252));
    assert_null(ecl_safetensors_at(st, -1));
    assert_null(ecl_safetensors_find(st, "no.such.tensor"));
    for (int i = 0; i < ecl_safetensors_count(st); i++) {
        const ecl_tensor *u = ecl_safetensors_at(st, i);
        assert_int_equal(u->dtype, ECL_DTYPE_F32);
        assert_ptr_equal(ecl_safetensors_find(st, u->name), u);
        assert_true(u->data >= buf && u->data + u->n_elements * 4 <= buf + len);
    }

    assert_string_equal(ecl_safetensors_metadata(st, "format"), "pt");
    assert_null(ecl_safetensors_metadata(st, "no-such-key"));
    const char *config = ecl_safetensors_metadata(st, "config");
    assert_non_null(config);
    cJSON *cfg = cJSON_Parse(config);
    assert_non_null(cfg);
    assert_true(cJSON_IsObject(cfg));
    cJSON_Delete(cfg);

    ecl_safetensors_close(st);
    free(buf);
    free(path);
}

static void test_tiny24_golden(void **state)
{
    (void)state;
    tu_golden *g = tu_golden_open("tiny24.golden.safetensors");
    int64_t shape[8];
    int n_dims;
    size_t n;
    const float *audio = tu_golden_f32(g, "excerpt.audio", shape, &n_dims, &n);
    assert_int_equal(n_dims, 2);
    assert_int_equal(shape[0], 1);
    assert_int_equal(shape[1], 36000);
    assert_int_equal(n, 36000);
    assert_true(((uintptr_t)audio & 63) == 0);
    assert_true(tu_max_abs_diff(audio, audio, n) == 0.0);

    /* lm.cdf sits at an odd offset in the file: the copy must still be aligned. */
    const int32_t *cdf = tu_golden_i32(g, "lm.cdf", shape, &n_dims, &n);
    assert_int_equal(n_dims, 3);
    assert_int_equal(n, 4 * 2 * 1024);
    assert_true(((uintptr_t)cdf & 63) == 0);
    for (size_t i = 1; i < 1024; i++)
        assert_true(cdf[i] >= cdf[i - 1]); /* a CDF is non-decreasing */

    /* ecdc.nolm.bytes is a copy of the .ecdc file. */
    const uint8_t *bytes = tu_golden_u8(g, "ecdc.nolm.bytes", &n);
    char *path = tu_data_path("tiny24_excerpt_bw1.5_nolm.ecdc");
    size_t len;
    uint8_t *file = tu_read_file(path, &len);
    assert_int_equal(n, len);
    assert_memory_equal(bytes, file, len);
    free(file);
    free(path);

    assert_true(tu_golden_has(g, "short.trace.enc.15"));
    assert_false(tu_golden_has(g, "short.trace.enc.16"));
    assert_string_equal(tu_golden_metadata(g, "lm_window_past_context"), "4");
    assert_null(tu_golden_metadata(g, "nope"));
    tu_golden_close(g);
}

static void test_all_data_files_open(void **state)
{
    (void)state;
    static const char *const files[] = {"tiny24.safetensors", "tiny24_lm.safetensors",
                                        "tiny48.safetensors", "tiny48_lm.safetensors",
                                        "tiny24.golden.safetensors",
                                        "tiny48.golden.safetensors"};
    static const int counts[] = {252, 35, 224, 35, -1, -1};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        tu_golden *g = tu_golden_open(files[i]);
        assert_non_null(tu_golden_metadata(g, "config"));
        tu_golden_close(g);
        if (counts[i] < 0)
            continue;
        char *path = tu_data_path(files[i]);
        size_t len;
        uint8_t *buf = tu_read_file(path, &len);
        ecl_safetensors *st;
        assert_int_equal(ecl_safetensors_open(buf, len, &st, NULL, 0), ENCODEC_OK);
        assert_int_equal(ecl_safetensors_count(st), counts[i]);
        ecl_safetensors_close(st);
        free(buf);
        free(path);
    }
}

static void test_tmpdir_roundtrip(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    char path[512];
    snprintf(path, sizeof path, "%s/x.bin", dir);
    size_t len;
    uint8_t *b = valid_file(&len);
    tu_write_file(path, b, len);
    size_t len2;
    uint8_t *b2 = tu_read_file(path, &len2);
    assert_int_equal(len, len2);
    assert_memory_equal(b, b2, len);
    tu_rmtree(dir);
    FILE *f = fopen(path, "rb");
    assert_null(f);
    free(b);
    free(b2);
    free(dir);
}

/* ---- a valid hand-made file -------------------------------------------------------------- */

static void test_valid_small(void **state)
{
    (void)state;
    size_t len;
    uint8_t *b = valid_file(&len);
    ecl_safetensors *st;
    char msg[256];
    assert_int_equal(ecl_safetensors_open(b, len, &st, msg, sizeof msg), ENCODEC_OK);
    assert_int_equal(ecl_safetensors_count(st), 3);
    assert_string_equal(ecl_safetensors_at(st, 0)->name, "t.a");
    assert_string_equal(ecl_safetensors_at(st, 1)->name, "t.c");
    assert_string_equal(ecl_safetensors_at(st, 2)->name, "t.b");
    assert_string_equal(ecl_safetensors_metadata(st, "k"), "v");

    const ecl_tensor *a = ecl_safetensors_find(st, "t.a");
    float fa[6];
    ecl_tensor_read_f32(a, fa);
    for (int i = 0; i < 6; i++)
        assert_true(fa[i] == (float)i + 0.5f);
    const ecl_tensor *c = ecl_safetensors_find(st, "t.c");
    assert_int_equal(c->dtype, ECL_DTYPE_U8);
    assert_int_equal(c->data[1], 8);
    const ecl_tensor *h = ecl_safetensors_find(st, "t.b");
    assert_int_equal(h->dtype, ECL_DTYPE_F16);
    float fh[4];
    ecl_tensor_read_f32(h, fh);
    assert_true(fh[0] == 1.0f && fh[1] == -2.0f && fh[2] == 0.5f && fh[3] == 0.0f);
    ecl_safetensors_close(st);
    free(b);

    assert_int_equal(ecl_dtype_size(ECL_DTYPE_F32), 4);
    assert_int_equal(ecl_dtype_size(ECL_DTYPE_F16), 2);
    assert_int_equal(ecl_dtype_size(ECL_DTYPE_I32), 4);
    assert_int_equal(ecl_dtype_size(ECL_DTYPE_U8), 1);
    ecl_safetensors_close(NULL);
}

static void test_valid_edge_cases(void **state)
{
    (void)state;
    uint8_t d[8] = {0};
    /* No tensors at all; trailing space padding; scalar (0-dim) and empty tensors. */
    expect_json("{}", NULL, 0, ENCODEC_OK, NULL);
    expect_json("{\"__metadata__\":{}}   \n ", NULL, 0, ENCODEC_OK, NULL);
    expect_json("{\"s\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}", d, 4,
                ENCODEC_OK, NULL);
    /* An empty tensor inside another's range owns no bytes: no overlap. */
    expect_json("{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                "\"e\":{\"dtype\":\"F32\",\"shape\":[0,5],\"data_offsets\":[4,4]}}",
                d, 8, ENCODEC_OK, NULL);
    /* Data area longer than the tensors need is allowed (not every writer packs). */
    expect_json("{\"s\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", d, 8,
                ENCODEC_OK, NULL);
    /* NULL msg is fine. */
    size_t len;
    uint8_t *b = valid_file(&len);
    ecl_safetensors *st;
    assert_int_equal(ecl_safetensors_open(b, 3, &st, NULL, 0), ENCODEC_EWEIGHTS_TRUNCATED);
    assert_null(st);
    assert_int_equal(ecl_safetensors_open(b, len, NULL, NULL, 0), ENCODEC_EINVAL);
    free(b);
}

/* ---- damaged files ----------------------------------------------------------------------- */

static void test_truncated(void **state)
{
    (void)state;
    size_t len;
    uint8_t *b = valid_file(&len);
    for (size_t n = 0; n < 8; n++)
        expect_open(b, n, ENCODEC_EWEIGHTS_TRUNCATED, NULL);
    /* Cut inside the data area: the last tensor (t.b, bytes 27..35) no longer fits. */
    expect_open(b, len - 1, ENCODEC_EWEIGHTS_OFFSET, "t.b");
    expect_open(b, len - 8, ENCODEC_EWEIGHTS_OFFSET, "t.b");
    /* Cut inside the header. */
    expect_open(b, 20, ENCODEC_EWEIGHTS_HEADER, NULL);
    free(b);
}

static void test_header_length(void **state)
{
    (void)state;
    size_t len;
    uint8_t *b = valid_file(&len);
    uint64_t bad[] = {len - 8 + 1, (uint64_t)1 << 40, UINT64_MAX, (uint64_t)1 << 63};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        for (int i = 0; i < 8; i++)
            b[i] = (uint8_t)(bad[k] >> (8 * i));
        expect_open(b, len, ENCODEC_EWEIGHTS_HEADER, NULL);
    }
    /* A header length that swallows the data area leaves trailing non-space bytes. */
    uint64_t n = len - 8;
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(n >> (8 * i));
    expect_open(b, len, ENCODEC_EWEIGHTS_JSON, NULL);
    /* Zero-length header is not a JSON object. */
    memset(b, 0, 8);
    expect_open(b, len, ENCODEC_EWEIGHTS_JSON, NULL);
    free(b);
}

static void test_bad_json(void **state)
{
    (void)state;
    uint8_t d[8] = {0};
    const int J = ENCODEC_EWEIGHTS_JSON;
    expect_json("{\"t.a\": ", NULL, 0, J, NULL);
    expect_json("not json", NULL, 0, J, NULL);
    expect_json("[1, 2]", NULL, 0, J, NULL);
    expect_json("\"str\"", NULL, 0, J, NULL);
    expect_json("{} trailing", NULL, 0, J, NULL);
    expect_json("{}{}", NULL, 0, J, NULL);
    /* Embedded NUL in the header. */
    {
        size_t len;
        uint8_t *b = build("{}  ", NULL, 0, &len);
        b[len - 1] = 0;
        expect_open(b, len, J, NULL);
        free(b);
    }
    expect_json("{\"w.x\": 5}", NULL, 0, J, "w.x");
    expect_json("{\"w.x\": [1]}", NULL, 0, J, "w.x");
    expect_json("{\"w.x\":{\"shape\":[1],\"data_offsets\":[0,4]}}", d, 4, J, "w.x");
    expect_json("{\"w.x\":{\"dtype\":7,\"shape\":[1],\"data_offsets\":[0,4]}}", d, 4, J, "w.x");
    expect_json("{\"w.x\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", d, 4, J, "w.x");
    expect_json("{\"w.x\":{\"dtype\":\"F32\",\"shape\":1,\"data_offsets\":[0,4]}}", d, 4, J,
                "w.x");
    expect_json("{\"w.x\":{\"dtype\":\"F32\",\"shape\":[\"1\"],\"data_offsets\":[0,4]}}", d, 4,
                J, "w.x");
    expect_json("{\"w.x\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", d, 4, J,
                "w.x");
    expect_json("{\"w.x\":{\"dtype\":\"F32\",\"shape\":[1]}}", d, 4, J, "w.x");
    expect_json("{\"w.x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", d, 4, J,
                "w.x");
    expect_json("{\"w.x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", d, 8, J,
                "w.x");
    expect_json("{\"w.x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,\"4\"]}}", d, 4,
                J, "w.x");
    expect_json("{\"w.x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":{\"a\":0}}}", d, 4,
                J, "w.x");
    expect_json("{\"__metadata__\":{\"k\":1}}", NULL, 0, J, "k");
    expect_json("{\"__metadata__\":{\"k\":null}}", NULL, 0, J, "k");
    expect_json("{\"__metadata__\":[\"k\"]}", NULL, 0, J, "__metadata__");
    expect_json("{\"__metadata__\":{},\"__metadata__\":{}}", NULL, 0, J, "__metadata__");
}

static void test_bad_dtype(void **state)
{
    (void)state;
    uint8_t d[8] = {0};
    expect_json("{\"w.bf\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[0,4]}}", d, 4,
                ENCODEC_EWEIGHTS_DTYPE, "w.bf");
    expect_json("{\"w.lc\":{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}}", d, 4,
                ENCODEC_EWEIGHTS_DTYPE, "w.lc");
    expect_json("{\"w.em\":{\"dtype\":\"\",\"shape\":[1],\"data_offsets\":[0,4]}}", d, 4,
                ENCODEC_EWEIGHTS_DTYPE, "w.em");
}

static void test_bad_offsets(void **state)
{
    (void)state;
    uint8_t d[32] = {0};
    const int O = ENCODEC_EWEIGHTS_OFFSET;
    /* end past the data area */
    expect_json("{\"w.o\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", d, 8, O,
                "w.o");
    expect_json("{\"w.o\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1e15,1e15]}}", d, 8,
                O, "w.o");
    expect_json("{\"w.o\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1e300]}}", d, 8, O,
                "w.o");
    /* end < begin */
    expect_json("{\"w.o\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[4,0]}}", d, 8, O,
                "w.o");
    /* negative offsets */
    expect_json("{\"w.o\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[-4,0]}}", d, 8, O,
                "w.o");
    /* size mismatch */
    expect_json("{\"w.s\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,24]}}", d, 32,
                O, "w.s");
    expect_json("{\"w.s\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[0,12]}}", d, 32, O,
                "w.s");
    /* negative dimension, too many dimensions, overflowing element count */
    expect_json("{\"w.n\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", d, 8, O,
                "w.n");
    expect_json("{\"w.d\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],"
                "\"data_offsets\":[0,1]}}",
                d, 8, O, "w.d");
    expect_json("{\"w.v\":{\"dtype\":\"F32\",\"shape\":[1048576,1048576,1048576,1048576],"
                "\"data_offsets\":[0,0]}}",
                d, 8, O, "w.v");
    /* product fits in size_t but times the dtype size does not */
    expect_json("{\"w.v\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904],"
                "\"data_offsets\":[0,0]}}",
                d, 8, O, "w.v");
    /* dimension beyond what a double holds exactly */
    expect_json("{\"w.v\":{\"dtype\":\"U8\",\"shape\":[1e300],\"data_offsets\":[0,1]}}", d, 8, O,
                "w.v");
    /* with 8 dims exactly it is fine */
    expect_json("{\"w.d\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1],"
                "\"data_offsets\":[0,1]}}",
                d, 8, ENCODEC_OK, NULL);
}

static void test_overlap(void **state)
{
    (void)state;
    uint8_t d[32] = {0};
    expect_json("{\"w.first\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                "\"w.second\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[12,20]}}",
                d, 32, ENCODEC_EWEIGHTS_OVERLAP, "w.second");
    /* Same range twice; listed out of order in the file. */
    expect_json("{\"w.z\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[8,12]},"
                "\"w.a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
                "\"w.y\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[8,12]}}",
                d, 32, ENCODEC_EWEIGHTS_OVERLAP, "w.");
    /* A small tensor nested in a big one that is not its sorted neighbour. */
    expect_json("{\"w.big\":{\"dtype\":\"U8\",\"shape\":[20],\"data_offsets\":[0,20]},"
                "\"w.mid\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[2,4]},"
                "\"w.in\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[10,12]}}",
                d, 32, ENCODEC_EWEIGHTS_OVERLAP, "w.big");
    /* Adjacent ranges do not overlap. */
    expect_json("{\"w.a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[4,8]},"
                "\"w.b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]}}",
                d, 8, ENCODEC_OK, NULL);
}

static void test_duplicate(void **state)
{
    (void)state;
    uint8_t d[16] = {0};
    expect_json("{\"w.dup\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
                "\"w.other\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[4,8]},"
                "\"w.dup\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[8,12]}}",
                d, 16, ENCODEC_EWEIGHTS_JSON, "w.dup");
}

/* ---- F16 ------------------------------------------------------------------------------- */

static void test_f16(void **state)
{
    (void)state;
    static const struct {
        uint16_t h;
        float f;
    } cases[] = {
        {0x0000, 0.0f},
        {0x3c00, 1.0f},
        {0xc000, -2.0f},
        {0x3555, 0.333251953125f},
        {0x7bff, 65504.0f},
        {0xfbff, -65504.0f},
        {0x0400, 6.103515625e-05f},           /* smallest normal, 2^-14 */
        {0x0001, 5.9604644775390625e-08f},    /* smallest subnormal, 2^-24 */
        {0x03ff, 6.0975551605224609375e-05f}, /* largest subnormal, 1023 * 2^-24 */
        {0x0200, 3.0517578125e-05f},          /* 2^-15 */
        {0x8001, -5.9604644775390625e-08f},
        {0x7c00, INFINITY},
        {0xfc00, -INFINITY},
    };
    enum { N = sizeof cases / sizeof cases[0] + 3 };
    /* One U8 first so the F16 data starts at an odd address in the data area. */
    uint8_t d[1 + 2 * N];
    d[0] = 0xaa;
    uint16_t hs[N];
    for (size_t i = 0; i < N - 3; i++)
        hs[i] = cases[i].h;
    hs[N - 3] = 0x7e00; /* quiet NaN */
    hs[N - 2] = 0x7c01; /* signalling NaN pattern */
    hs[N - 1] = 0x8000; /* -0 */
    for (int i = 0; i < N; i++) {
        d[1 + 2 * i] = (uint8_t)(hs[i] & 0xff);
        d[2 + 2 * i] = (uint8_t)(hs[i] >> 8);
    }
    char json[256];
    snprintf(json, sizeof json,
             "{\"p\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
             "\"h\":{\"dtype\":\"F16\",\"shape\":[%d],\"data_offsets\":[1,%d]}}",
             N, 1 + 2 * N);
    size_t len;
    uint8_t *b = build(json, d, sizeof d, &len);
    ecl_safetensors *st;
    char msg[256];
    int rc = ecl_safetensors_open(b, len, &st, msg, sizeof msg);
    if (rc != ENCODEC_OK)
        fail_msg("%s", msg);
    const ecl_tensor *t = ecl_safetensors_find(st, "h");
    assert_non_null(t);
    float f[N];
    ecl_tensor_read_f32(t, f);
    for (size_t i = 0; i < N - 3; i++)
        if (!(f[i] == cases[i].f && signbit(f[i]) == signbit(cases[i].f)))
            fail_msg("half 0x%04x: got %.10g, want %.10g", cases[i].h, f[i], cases[i].f);
    assert_true(isnan(f[N - 3]));
    assert_true(isnan(f[N - 2]));
    assert_true(f[N - 1] == 0.0f && signbit(f[N - 1]));

    /* Every finite half converts exactly: check against ldexp of its fields. */
    for (uint32_t h = 0; h < 0x10000; h++) {
        uint32_t e = (h >> 10) & 0x1f, m = h & 0x3ff;
        if (e == 0x1f)
            continue;
        double want = e ? ldexp(1024.0 + m, (int)e - 25) : ldexp((double)m, -24);
        if (h & 0x8000)
            want = -want;
        uint8_t hb[2] = {(uint8_t)(h & 0xff), (uint8_t)(h >> 8)};
        ecl_tensor one = {.name = "x", .dtype = ECL_DTYPE_F16, .n_dims = 1, .n_elements = 1,
                          .data = hb};
        float got;
        ecl_tensor_read_f32(&one, &got);
        if ((double)got != want)
            fail_msg("half 0x%04x: got %.10g, want %.10g", (unsigned)h, got, want);
    }
    ecl_safetensors_close(st);
    free(b);
}

/* Unaligned F32 data is read correctly (memcpy, not a cast). */
static void test_f32_unaligned(void **state)
{
    (void)state;
    uint8_t d[1 + 12];
    d[0] = 0;
    const float v[3] = {1.25f, -3.5f, 1e-30f};
    memcpy(d + 1, v, sizeof v);
    size_t len;
    uint8_t *b = build("{\"p\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
                       "\"f\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[1,13]}}",
                       d, sizeof d, &len);
    ecl_safetensors *st;
    assert_int_equal(ecl_safetensors_open(b, len, &st, NULL, 0), ENCODEC_OK);
    float out[3];
    ecl_tensor_read_f32(ecl_safetensors_find(st, "f"), out);
    assert_memory_equal(out, v, sizeof v);
    ecl_safetensors_close(st);
    free(b);
}

/* ---- robustness ------------------------------------------------------------------------ */

/* Every proper prefix of a valid file fails cleanly; the whole file opens. */
static void test_every_prefix(void **state)
{
    (void)state;
    size_t len;
    uint8_t *b = valid_file(&len);
    for (size_t n = 0; n <= len; n++) {
        uint8_t *copy = malloc(n ? n : 1);
        assert_non_null(copy);
        memcpy(copy, b, n);
        ecl_safetensors *st;
        char msg[256];
        int rc = ecl_safetensors_open(copy, n, &st, msg, sizeof msg);
        if (n < len && rc >= 0)
            fail_msg("prefix of %zu/%zu bytes accepted", n, len);
        if (n == len && rc != ENCODEC_OK)
            fail_msg("whole file rejected: %s", msg);
        ecl_safetensors_close(st);
        free(copy);
    }
    free(b);
}

/* Flip every byte of the header (and a few values per byte): never a crash, and whatever is
 * accepted must describe tensors inside the buffer. */
static void test_byte_flips(void **state)
{
    (void)state;
    size_t len;
    uint8_t *b = valid_file(&len);
    static const uint8_t vals[] = {0x00, 0xff, '"', '{', '}', '[', ']', ',', ':', '-', '9', ' '};
    uint8_t *copy = malloc(len);
    assert_non_null(copy);
    for (size_t i = 0; i < len; i++) {
        for (size_t k = 0; k < sizeof vals; k++) {
            memcpy(copy, b, len);
            copy[i] = vals[k];
            ecl_safetensors *st;
            if (ecl_safetensors_open(copy, len, &st, NULL, 0) == ENCODEC_OK) {
                for (int j = 0; j < ecl_safetensors_count(st); j++) {
                    const ecl_tensor *t = ecl_safetensors_at(st, j);
                    size_t bytes = t->n_elements * ecl_dtype_size(t->dtype);
                    assert_true(t->data >= copy && t->data + bytes <= copy + len);
                }
                ecl_safetensors_close(st);
            }
        }
    }
    free(copy);
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tiny24_weights),  cmocka_unit_test(test_tiny24_golden),
        cmocka_unit_test(test_all_data_files_open), cmocka_unit_test(test_tmpdir_roundtrip),
        cmocka_unit_test(test_valid_small),     cmocka_unit_test(test_valid_edge_cases),
        cmocka_unit_test(test_truncated),       cmocka_unit_test(test_header_length),
        cmocka_unit_test(test_bad_json),        cmocka_unit_test(test_bad_dtype),
        cmocka_unit_test(test_bad_offsets),     cmocka_unit_test(test_overlap),
        cmocka_unit_test(test_duplicate),       cmocka_unit_test(test_f16),
        cmocka_unit_test(test_f32_unaligned),   cmocka_unit_test(test_every_prefix),
        cmocka_unit_test(test_byte_flips),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
