/* Model loading: the golden tiny models load from file and from memory; broken weight files
 * (wrong shape, missing tensor, wrong dtype, NaN, missing or invalid configuration, truncated,
 * missing file) are rejected with their specific error code and a message naming the problem.
 * Damaged files are made from the golden tiny24.safetensors by editing its JSON header. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

typedef struct {
    uint8_t *file;
    size_t len;
    cJSON *header;
    const uint8_t *data; /* tensor data area inside file */
    size_t data_len;
} weights;

static weights read_weights(void)
{
    weights w;
    char *path = tu_data_path("tiny24.safetensors");
    w.file = tu_read_file(path, &w.len);
    free(path);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = (n << 8) | w.file[i];
    char *json = malloc(n + 1);
    memcpy(json, w.file + 8, n);
    json[n] = 0;
    w.header = cJSON_Parse(json);
    free(json);
    assert_non_null(w.header);
    w.data = w.file + 8 + n;
    w.data_len = w.len - 8 - n;
    return w;
}

/* Serialise header + data (optionally a modified copy of the data) into a new file image. */
static uint8_t *build(const cJSON *header, const uint8_t *data, size_t data_len, size_t *len)
{
    char *json = cJSON_PrintUnformatted(header);
    size_t n = strlen(json);
    *len = 8 + n + data_len;
    uint8_t *out = malloc(*len);
    for (int i = 0; i < 8; i++)
        out[i] = (uint8_t)((uint64_t)n >> (8 * i));
    memcpy(out + 8, json, n);
    memcpy(out + 8 + n, data, data_len);
    free(json);
    return out;
}

/* Load an image from memory, expecting error `want` and a message containing `needle`. */
static void expect_load_error(const uint8_t *image, size_t len, int want, const char *needle)
{
    encodec_model *m = (encodec_model *)1;
    char msg[512];
    int err = encodec_model_load_memory(image, len, &m, msg, sizeof msg);
    print_message("  %-28s -> %s\n", encodec_strerror(err), msg);
    assert_int_equal(err, want);
    assert_null(m);
    if (needle && !strstr(msg, needle))
        fail_msg("message \"%s\" does not mention \"%s\"", msg, needle);
}

static void test_golden_models_load(void **state)
{
    (void)state;
    const char *names[] = {"tiny24.safetensors", "tiny48.safetensors"};
    for (int i = 0; i < 2; i++) {
        encodec_model *m = tu_load_model(names[i]);
        assert_int_equal(encodec_model_hop_length(m), 320);
        encodec_model_free(m);
    }
    weights w = read_weights();
    encodec_model *m;
    char msg[256] = "x";
    assert_int_equal(encodec_model_load_memory(w.file, w.len, &m, msg, sizeof msg), ENCODEC_OK);
    assert_string_equal(msg, "");
    assert_string_equal(encodec_model_name(m), "tiny24");
    encodec_model_free(m);
    cJSON_Delete(w.header);
    free(w.file);
}

static void test_wrong_shape(void **state)
{
    (void)state;
    weights w = read_weights();
    /* Same byte size, other shape: [2, 1, 7] -> [2, 7, 1]. */
    cJSON *t = cJSON_GetObjectItem(w.header, "encoder.model.0.conv.conv.weight_v");
    cJSON_ReplaceItemInObject(t, "shape", cJSON_CreateIntArray((const int[]){2, 7, 1}, 3));
    size_t len;
    uint8_t *img = build(w.header, w.data, w.data_len, &len);
    expect_load_error(img, len, ENCODEC_EWEIGHTS_SHAPE, "encoder.model.0.conv.conv.weight_v");
    free(img);
    cJSON_Delete(w.header);
    free(w.file);
}

static void test_missing_tensor(void **state)
{
    (void)state;
    weights w = read_weights();
    cJSON *t = cJSON_DetachItemFromObject(w.header, "decoder.model.1.lstm.weight_hh_l1");
    cJSON_AddItemToObject(w.header, "decoder.model.1.lstm.renamed", t);
    size_t len;
    uint8_t *img = build(w.header, w.data, w.data_len, &len);
    expect_load_error(img, len, ENCODEC_EWEIGHTS_MISSING, "decoder.model.1.lstm.weight_hh_l1");
    free(img);
    cJSON_Delete(w.header);
    free(w.file);
}

static void test_missing_codebook(void **state)
{
    (void)state;
    weights w = read_weights();
    cJSON_DeleteItemFromObject(w.header, "quantizer.vq.layers.31._codebook.embed");
    size_t len;
    uint8_t *img = build(w.header, w.data, w.data_len, &len);
    expect_load_error(img, len, ENCODEC_EWEIGHTS_MISSING, "quantizer.vq.layers.31._codebook.embed");
    free(img);
    cJSON_Delete(w.header);
    free(w.file);
}

static void test_integer_weights(void **state)
{
    (void)state;
    weights w = read_weights();
    cJSON *t = cJSON_GetObjectItem(w.header, "encoder.model.0.conv.conv.bias");
    cJSON_ReplaceItemInObject(t, "dtype", cJSON_CreateString("I32"));
    size_t len;
    uint8_t *img = build(w.header, w.data, w.data_len, &len);
    expect_load_error(img, len, ENCODEC_EWEIGHTS_DTYPE, "encoder.model.0.conv.conv.bias");
    free(img);
    cJSON_Delete(w.header);
    free(w.file);
}

static void test_nan_weight(void **state)
{
    (void)state;
    weights w = read_weights();
    cJSON *t = cJSON_GetObjectItem(w.header, "decoder.model.15.conv.conv.weight_v");
    size_t begin = (size_t)cJSON_GetArrayItem(cJSON_GetObjectItem(t, "data_offsets"), 0)->valuedouble;
    uint8_t *data = malloc(w.data_len);
    memcpy(data, w.data, w.data_len);
    const float nan = NAN;
    memcpy(data + begin + 4, &nan, 4);
    size_t len;
    uint8_t *img = build(w.header, data, w.data_len, &len);
    expect_load_error(img, len, ENCODEC_EWEIGHTS_VALUE, "decoder.model.15.conv.conv.weight_v");
    free(img);
    /* An uninitialised codebook (inited = 0) would make the reference run k-means. */
    memcpy(data, w.data, w.data_len);
    t = cJSON_GetObjectItem(w.header, "quantizer.vq.layers.3._codebook.inited");
    begin = (size_t)cJSON_GetArrayItem(cJSON_GetObjectItem(t, "data_offsets"), 0)->valuedouble;
    const float zero = 0.0f;
    memcpy(data + begin, &zero, 4);
    img = build(w.header, data, w.data_len, &len);
    expect_load_error(img, len, ENCODEC_EWEIGHTS_VALUE, "quantizer.vq.layers.3._codebook.inited");
    free(img);
    free(data);
    cJSON_Delete(w.header);
    free(w.file);
}

/* Replace the configuration (NULL removes it) and expect `want`. */
static void expect_config_error(const char *config, int want, const char *needle)
{
    weights w = read_weights();
    cJSON *meta = cJSON_GetObjectItem(w.header, "__metadata__");
    if (config)
        cJSON_ReplaceItemInObject(meta, "config", cJSON_CreateString(config));
    else
        cJSON_DeleteItemFromObject(meta, "config");
    size_t len;
    uint8_t *img = build(w.header, w.data, w.data_len, &len);
    expect_load_error(img, len, want, needle);
    free(img);
    cJSON_Delete(w.header);
    free(w.file);
}

/* The golden configuration with one key replaced by raw JSON text (NULL: removed). */
static char *config_with(const char *key, const char *value)
{
    weights w = read_weights();
    cJSON *cfg = cJSON_Parse(
        cJSON_GetObjectItem(cJSON_GetObjectItem(w.header, "__metadata__"), "config")->valuestring);
    cJSON_DeleteItemFromObject(cfg, key);
    if (value)
        cJSON_AddItemToObject(cfg, key, cJSON_Parse(value));
    char *s = cJSON_PrintUnformatted(cfg);
    cJSON_Delete(cfg);
    cJSON_Delete(w.header);
    free(w.file);
    return s;
}

static void test_bad_configuration(void **state)
{
    (void)state;
    expect_config_error(NULL, ENCODEC_EWEIGHTS_CONFIG, "config");
    expect_config_error("not json", ENCODEC_EWEIGHTS_CONFIG, "config");
    const struct {
        const char *key, *value, *needle;
    } cases[] = {
        {"sample_rate", NULL, "sample_rate"},
        {"channels", "3", "channels"},
        {"norm", "\"batch_norm\"", "norm"},
        {"ratios", "[]", "ratios"},
        {"ratios", "[8, 5, 4, 2.5]", "ratios"},
        {"target_bandwidths", "[3.0, 1.5]", "target_bandwidths"},
        {"n_q", "16", "n_q"},
        {"pad_mode", "\"constant\"", "pad_mode"},
        {"causal", "1", "causal"},
        {"dimension", "3", "encoder.model.15.conv.conv"}, /* config valid, tensors disagree */
        {"n_filters", "4", "encoder.model.0.conv.conv"},
        {"lstm", "3", "lstm.weight_ih_l2"},
        {"norm", "\"time_group_norm\"", "segment"}, /* no segments (found by fuzzing) */
        {"segment", "1e-9", "segment"},               /* less than a sample */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *cfg = config_with(cases[i].key, cases[i].value);
        int want = ENCODEC_EWEIGHTS_CONFIG;
        if (!strcmp(cases[i].key, "dimension") || !strcmp(cases[i].key, "n_filters"))
            want = ENCODEC_EWEIGHTS_SHAPE;
        if (!strcmp(cases[i].key, "lstm"))
            want = ENCODEC_EWEIGHTS_MISSING;
        expect_config_error(cfg, want, cases[i].needle);
        free(cfg);
    }
}

static void test_truncated_and_missing_files(void **state)
{
    (void)state;
    weights w = read_weights();
    /* Every cut of the file must fail cleanly (sampled: the file is ~1 MB). */
    for (size_t cut = 0; cut < w.len; cut += cut < 64 ? 1 : 7919) {
        encodec_model *m = NULL;
        int err = encodec_model_load_memory(w.file, cut, &m, NULL, 0);
        assert_true(err < 0);
        assert_null(m);
    }
    char *dir = tu_tmpdir();
    char path[512];
    snprintf(path, sizeof path, "%s/cut.safetensors", dir);
    tu_write_file(path, w.file, w.len / 2);
    encodec_model *m;
    char msg[512];
    assert_int_equal(encodec_model_load_file(path, &m, msg, sizeof msg), ENCODEC_EWEIGHTS_OFFSET);
    assert_non_null(strstr(msg, path));
    tu_write_file(path, w.file, 0);
    assert_int_equal(encodec_model_load_file(path, &m, msg, sizeof msg), ENCODEC_EWEIGHTS_TRUNCATED);
    snprintf(path, sizeof path, "%s/absent.safetensors", dir);
    assert_int_equal(encodec_model_load_file(path, &m, msg, sizeof msg), ENCODEC_EIO);
    assert_non_null(strstr(msg, "absent.safetensors"));
    assert_int_equal(encodec_model_load_file(dir, &m, msg, sizeof msg), ENCODEC_EIO);
    assert_int_equal(encodec_model_load_file(NULL, &m, msg, sizeof msg), ENCODEC_EINVAL);
    assert_int_equal(encodec_model_load_file(path, NULL, msg, sizeof msg), ENCODEC_EINVAL);
    tu_rmtree(dir);
    free(dir);
    cJSON_Delete(w.header);
    free(w.file);
}

static void test_strerror(void **state)
{
    (void)state;
    for (int e = -100; e <= 0; e++)
        assert_non_null(encodec_strerror(e));
    assert_string_equal(encodec_strerror(12345), "unknown error");
    assert_string_not_equal(encodec_strerror(ENCODEC_EWEIGHTS_SHAPE), "unknown error");
    char want[32];
    snprintf(want, sizeof want, "%d.%d.%d", ENCODEC_VERSION_MAJOR, ENCODEC_VERSION_MINOR,
             ENCODEC_VERSION_PATCH);
    assert_string_equal(encodec_version(), want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_models_load), cmocka_unit_test(test_wrong_shape),
        cmocka_unit_test(test_missing_tensor),     cmocka_unit_test(test_missing_codebook),
        cmocka_unit_test(test_integer_weights),    cmocka_unit_test(test_nan_weight),
        cmocka_unit_test(test_bad_configuration),  cmocka_unit_test(test_truncated_and_missing_files),
        cmocka_unit_test(test_strerror),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
