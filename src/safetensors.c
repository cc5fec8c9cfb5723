/* Safetensors container parser. Owns the validation of a weights/test-vector file held in
 * memory: the 8-byte header length, the JSON header (parsed with cJSON from a private
 * NUL-terminated copy), every tensor entry (dtype, shape, data_offsets, size consistency),
 * duplicate names and overlapping byte ranges, plus the string-only "__metadata__" object.
 * Tensor names and metadata strings point into the kept cJSON tree; tensor data points into
 * the caller's buffer. Every failure returns a specific ENCODEC_EWEIGHTS_* code (or ENOMEM)
 * with a one-line message, and nothing leaks on any path: the input is untrusted (fuzzed). */
#include "safetensors.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* Tensor data is copied with memcpy as raw little-endian bytes: the host must be little-endian
 * (every target we build for is). Fail the build rather than silently byte-swap weights. */
#if defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__)
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "libencodec needs a little-endian host");
#endif

/* The reference implementation refuses headers over 100 MB; ours are a few tens of kB. */
#define ECL_ST_MAX_HEADER ((uint64_t)100 * 1000 * 1000)
/* Largest integer a JSON number (IEEE double) holds exactly. */
#define ECL_ST_MAX_JSON_INT 9007199254740992.0

struct ecl_safetensors {
    cJSON *root;           /* parsed header; owns names and metadata strings */
    const cJSON *metadata; /* "__metadata__" object or NULL */
    ecl_tensor *tensors;   /* in file (JSON) order */
    int count;
};

/* Scratch per tensor while validating: byte range and index for the overlap sort. */
typedef struct {
    uint64_t begin, end;
    int index;
} st_range;

size_t ecl_dtype_size(ecl_dtype dtype)
{
    switch (dtype) {
    case ECL_DTYPE_F32: return 4;
    case ECL_DTYPE_F16: return 2;
    case ECL_DTYPE_I32: return 4;
    case ECL_DTYPE_U8: return 1;
    }
    return 0;
}

static int parse_dtype(const char *s, ecl_dtype *out)
{
    static const struct {
        const char *name;
        ecl_dtype dtype;
    } table[] = {{"F32", ECL_DTYPE_F32}, {"F16", ECL_DTYPE_F16}, {"I32", ECL_DTYPE_I32},
                 {"U8", ECL_DTYPE_U8}};
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        if (strcmp(s, table[i].name) == 0) {
            *out = table[i].dtype;
            return 1;
        }
    }
    return 0;
}

/* JSON number -> integer. Returns 1 for an exact integer in [0, 2^53], 0 for a number that
 * is not an integer (wrong type), -1 for an integer out of range (negative or too large). */
static int json_uint(const cJSON *item, uint64_t *out)
{
    if (!cJSON_IsNumber(item))
        return 0;
    double v = item->valuedouble;
    if (isnan(v))
        return 0;
    if (v < 0.0 || v > ECL_ST_MAX_JSON_INT)
        return isinf(v) || v == floor(v) ? -1 : 0;
    if (v != floor(v))
        return 0;
    *out = (uint64_t)v;
    return 1;
}

static int cmp_range(const void *a, const void *b)
{
    const st_range *x = a, *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return 0;
}

static int cmp_name(const void *a, const void *b)
{
    const ecl_tensor *const *x = a, *const *y = b;
    return strcmp((*x)->name, (*y)->name);
}

void ecl_safetensors_close(ecl_safetensors *st)
{
    if (!st)
        return;
    cJSON_Delete(st->root);
    free(st->tensors);
    free(st);
}

/* Validate one entry of the header object into *t and *r. `data`/`data_len` is the data area. */
static int parse_entry(const cJSON *entry, const uint8_t *data, uint64_t data_len, ecl_tensor *t,
                       st_range *r, char *msg, size_t msg_size)
{
    const char *name = entry->string;
    if (!cJSON_IsObject(entry))
        return ecl_fail(msg, msg_size, ENCODEC_EWEIGHTS_JSON,
                        "safetensors: tensor '%.200s': entry is not an object", name);

    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(entry, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(entry, "shape");
    const cJSON *offs = cJSON_GetObjectItemCaseSensitive(entry, "data_offsets");
    if (!cJSON_IsString(dtype) || !dtype->valuestring)
        return ecl_fail(msg, msg_size, ENCODEC_EWEIGHTS_JSON,
                        "safetensors: tensor '%.200s': missing or non-string \"dtype\"", name);
    if (!cJSON_IsArray(shape))
        return ecl_fail(msg, msg_size, ENCODEC_EWEIGHTS_JSON,
                        "safetensors: tensor '%.200s': missing or non-array \"shape\"", name);
    if (!cJSON_IsArray(offs) || cJSON_GetArraySize(offs) != 2)
        return ecl_fail(msg, msg_size, ENCODEC_EWEIGHTS_JSON,
                        "safetensors: tensor '%.200s': \"data_offsets\" is not [begin, end]", name);
    if (!parse_dtype(dtype->valuestring, &t->dtype))
        return ecl_fail(msg, msg_size, ENCODEC_EWEIGHTS_DTYPE,
                        "safetensors: tensor '%.200s': unsupported dtype '%.32s'", name,
                        dtype->valuestring);

    /* Shape: non-negative integers, element count without overflow. */
    int n_dims = 0;
    size_t n_elements = 1;
    const cJSON *dim;
    cJSON_ArrayForEach(dim, shape)
    {
        if (n_dims >= ECL_ST_MAX_DIMS)
            return ecl_fail(msg, msg_size, ENCODEC_EWEIGHTS_OFFSET,
                            "safetensors: tensor '%.200s': more than %d dimensions", name,
                            ECL_ST_MAX_DIMS);
        uint64_t d = 0;
        int k = json_uint(dim, &d);
        if (k == 0)
            return ecl_fail(msg, msg_size, ENCODEC_EWEIGHTS_JSON,
                            "safetensors: tensor '%.200s': shape entry is not an integer", name);
        if (k < 0 || d > (uint64_t)INT64_MAX || d > SIZE_MAX)
            return ecl_fail(msg, msg_size, ENCODEC_EWEIGHTS_OFFSET,
                            "safetensors: tensor '%.200s': shape entry negative or too large",
                            name);
        if (!ecl_mul_size(n_elements, (size_t)d, &n_elements))
            return ecl_fail(msg, msg_size, ENCODEC_EWEIGHTS_OFFSET,
                            "safetensors: tensor '%.200s': element count overflows", name);
        t->shape[n_dims++] = (int64_t)d;
    }
    t->n_dims = n_dims;
    t->n_elements = n_elements;

    uint64_t begin = 0, end = 0;
    int kb = json_uint(cJSON_GetArrayItem(offs, 0), &begin);
    int ke = json_uint(cJSON_GetArrayItem(offs, 1), &end);
    if (kb == 0 || ke == 0)
        return ecl_fail(msg, msg_size, ENCODEC_EWEIGHTS_JSON,
                        "safetensors: tensor '%.200s': data_offsets are not integers", name);
    if (kb < 0 || ke < 0 || end < begin || end > data_len)
        return ecl_fail(msg, msg_size, ENCODEC_EWEIGHTS_OFFSET,
                        "safetensors: tensor '%.200s': data_offsets outside the data area "
                        "(%llu bytes)",
                        name, (unsigned long long)data_len);
    size_t bytes;
    if (!ecl_mul_size(n_elements, ecl_dtype_size(t->dtype), &bytes) ||
        (uint64_t)bytes != end - begin)
        return ecl_fail(msg, msg_size, ENCODEC_EWEIGHTS_OFFSET,
                        "safetensors: tensor '%.200s': %llu data bytes but shape needs %zu x %zu",
                        name, (unsigned long long)(end - begin), n_elements,
                        ecl_dtype_size(t->dtype));

    t->name = name;
    t->data = data + begin;
    r->begin = begin;
    r->end = end;
    return ENCODEC_OK;
}

/* Parse the JSON header and fill st->tensors; st->root receives the tree. */
static int parse_header(ecl_safetensors *st, const uint8_t *header, size_t header_len,
                        const uint8_t *data, uint64_t data_len, char *msg, size_t msg_size)
{
    /* Private NUL-terminated copy: cJSON then can never read past the header, and an
     * embedded NUL simply ends the parse (caught by the trailing-bytes check). */
    char *text = malloc(header_len + 1);
    if (!text)
        return ecl_fail(msg, msg_size, ENCODEC_ENOMEM, "safetensors: out of memory");
    memcpy(text, header, header_len);
    text[header_len] = '\0';
    const char *end = NULL;
    st->root = cJSON_ParseWithLengthOpts(text, header_len, &end, 0);
    size_t consumed = st->root && end ? (size_t)(end - text) : 0;
    int trailing_ok = 1;
    /* The format pads the header with spaces; anything else after the object is damage. */
    for (size_t i = consumed; st->root && i < header_len; i++)
        if (!strchr(" \t\r\n", text[i]) || text[i] == '\0')
            trailing_ok = 0;
    free(text);
    if (!st->root || !trailing_ok)
        return ecl_fail(msg, msg_size, ENCODEC_EWEIGHTS_JSON,
                        "safetensors: header is not valid JSON");
    if (!cJSON_IsObject(st->root))
        return ecl_fail(msg, msg_size, ENCODEC_EWEIGHTS_JSON,
                        "safetensors: header is not a JSON object");

    int n = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, st->root)
    {
        if (!item->string)
            return ecl_fail(msg, msg_size, ENCODEC_EWEIGHTS_JSON,
                            "safetensors: header entry without a name");
        if (strcmp(item->string, "__metadata__") == 0) {
            if (st->metadata)
                return ecl_fail(msg, msg_size, ENCODEC_EWEIGHTS_JSON,
                                "safetensors: duplicate \"__metadata__\"");
            if (!cJSON_IsObject(item))
                return ecl_fail(msg, msg_size, ENCODEC_EWEIGHTS_JSON,
                                "safetensors: \"__metadata__\" is not an object");
            const cJSON *kv;
            cJSON_ArrayForEach(kv, item)
            {
                if (!cJSON_IsString(kv) || !kv->valuestring || !kv->string)
                    return ecl_fail(msg, msg_size, ENCODEC_EWEIGHTS_JSON,
                                    "safetensors: metadata '%.200s' is not a string",
                                    kv->string ? kv->string : "");
            }
            st->metadata = item;
        } else {
            if (n == INT_MAX)
                return ecl_fail(msg, msg_size, ENCODEC_EWEIGHTS_JSON,
                                "safetensors: too many tensors");
            n++;
        }
    }

    st->tensors = calloc(n ? (size_t)n : 1, sizeof *st->tensors);
    st_range *ranges = calloc(n ? (size_t)n : 1, sizeof *ranges);
    const ecl_tensor **by_name = calloc(n ? (size_t)n : 1, sizeof *by_name);
    int rc = ENCODEC_OK;
    if (!st->tensors || !ranges || !by_name) {
        rc = ecl_fail(msg, msg_size, ENCODEC_ENOMEM, "safetensors: out of memory");
        goto done;
    }

    int i = 0;
    cJSON_ArrayForEach(item, st->root)
    {
        if (item == st->metadata)
            continue;
        rc = parse_entry(item, data, data_len, &st->tensors[i], &ranges[i], msg, msg_size);
        if (rc < 0)
            goto done;
        ranges[i].index = i;
        by_name[i] = &st->tensors[i];
        i++;
    }
    st->count = n;

    /* Duplicate names: cJSON keeps both entries, so look for equal neighbours after sorting. */
    qsort(by_name, (size_t)n, sizeof *by_name, cmp_name);
    for (i = 1; i < n; i++) {
        if (strcmp(by_name[i - 1]->name, by_name[i]->name) == 0) {
            rc = ecl_fail(msg, msg_size, ENCODEC_EWEIGHTS_JSON,
                          "safetensors: tensor '%.200s' appears twice", by_name[i]->name);
            goto done;
        }
    }

    /* Overlaps: sort by offset and compare each range with the furthest end seen so far.
     * Empty tensors own no bytes and cannot overlap anything. */
    qsort(ranges, (size_t)n, sizeof *ranges, cmp_range);
    uint64_t max_end = 0;
    int max_owner = -1;
    for (i = 0; i < n; i++) {
        if (ranges[i].begin == ranges[i].end)
            continue;
        if (max_owner >= 0 && ranges[i].begin < max_end) {
            rc = ecl_fail(msg, msg_size, ENCODEC_EWEIGHTS_OVERLAP,
                          "safetensors: tensors '%.200s' and '%.200s' share bytes",
                          st->tensors[max_owner].name, st->tensors[ranges[i].index].name);
            goto done;
        }
        if (ranges[i].end > max_end) {
            max_end = ranges[i].end;
            max_owner = ranges[i].index;
        }
    }

done:
    free(ranges);
    free(by_name);
    return rc;
}

int ecl_safetensors_open(const uint8_t *buf, size_t len, ecl_safetensors **out, char *msg,
                         size_t msg_size)
{
    if (msg && msg_size > 0)
        msg[0] = '\0';
    if (!out)
        return ecl_fail(msg, msg_size, ENCODEC_EINVAL, "safetensors: no output pointer");
    *out = NULL;
    if (!buf && len > 0)
        return ecl_fail(msg, msg_size, ENCODEC_EINVAL, "safetensors: no buffer");
    if (len < 8)
        return ecl_fail(msg, msg_size, ENCODEC_EWEIGHTS_TRUNCATED,
                        "safetensors: file has %zu bytes, shorter than the 8-byte header length",
                        len);

    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) /* little-endian, independent of the host */
        n = (n << 8) | buf[i];
    if (n > ECL_ST_MAX_HEADER || n > (uint64_t)(len - 8))
        return ecl_fail(msg, msg_size, ENCODEC_EWEIGHTS_HEADER,
                        "safetensors: header length %llu does not fit in a %zu-byte file",
                        (unsigned long long)n, len);

    ecl_safetensors *st = calloc(1, sizeof *st);
    if (!st)
        return ecl_fail(msg, msg_size, ENCODEC_ENOMEM, "safetensors: out of memory");
    const uint8_t *data = buf + 8 + (size_t)n;
    int rc = parse_header(st, buf + 8, (size_t)n, data, (uint64_t)(len - 8 - (size_t)n), msg,
                          msg_size);
    if (rc < 0) {
        ecl_safetensors_close(st);
        return rc;
    }
    *out = st;
    return ENCODEC_OK;
}

const ecl_tensor *ecl_safetensors_find(const ecl_safetensors *st, const char *name)
{
    if (!st || !name)
        return NULL;
    for (int i = 0; i < st->count; i++) /* ~300 tensors, looked up once per load */
        if (strcmp(st->tensors[i].name, name) == 0)
            return &st->tensors[i];
    return NULL;
}

int ecl_safetensors_count(const ecl_safetensors *st) { return st ? st->count : 0; }

const ecl_tensor *ecl_safetensors_at(const ecl_safetensors *st, int i)
{
    if (!st || i < 0 || i >= st->count)
        return NULL;
    return &st->tensors[i];
}

const char *ecl_safetensors_metadata(const ecl_safetensors *st, const char *key)
{
    if (!st || !st->metadata || !key)
        return NULL;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(st->metadata, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* IEEE 754 binary16 -> binary32, exact for every input (subnormals, inf, NaN payloads). */
static float half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t mant = h & 0x3ffu;
    uint32_t bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (mant << 13);
    } else if (exp != 0) {
        bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
    } else if (mant == 0) {
        bits = sign;
    } else {
        /* Subnormal half: normalise the mantissa; every such value is a normal float. */
        int e = -1;
        do {
            e++;
            mant <<= 1;
        } while (!(mant & 0x400u));
        bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((mant & 0x3ffu) << 13);
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

void ecl_tensor_read_f32(const ecl_tensor *t, float *dst)
{
    if (!t || !dst)
        return;
    const uint8_t *p = t->data;
    size_t n = t->n_elements;
    switch (t->dtype) {
    case ECL_DTYPE_F32:
        if (n > 0)
            memcpy(dst, p, n * sizeof *dst); /* data may be unaligned; host is little-endian */
        break;
    case ECL_DTYPE_F16:
        for (size_t i = 0; i < n; i++)
            dst[i] = half_to_float((uint16_t)(p[2 * i] | (p[2 * i + 1] << 8)));
        break;
    /* Not weights, but converting is cheaper than a crash if a caller gets it wrong. */
    case ECL_DTYPE_I32:
        for (size_t i = 0; i < n; i++) {
            int32_t v;
            memcpy(&v, p + 4 * i, sizeof v);
            dst[i] = (float)v;
        }
        break;
    case ECL_DTYPE_U8:
        for (size_t i = 0; i < n; i++)
            dst[i] = (float)p[i];
        break;
    }
}

int ecl_safetensors_read_weight(const ecl_safetensors *st, const char *name, int n_dims,
                                const int64_t *shape, float *dst, const char *source,
                                char *msg, size_t msg_size)
{
    const ecl_tensor *t = ecl_safetensors_find(st, name);
    if (!t)
        return ecl_fail(msg, msg_size, ENCODEC_EWEIGHTS_MISSING, "%s: missing tensor %s", source,
                        name);
    if (t->dtype != ECL_DTYPE_F32 && t->dtype != ECL_DTYPE_F16)
        return ecl_fail(msg, msg_size, ENCODEC_EWEIGHTS_DTYPE,
                        "%s: tensor %s must be F32 or F16", source, name);
    int same = t->n_dims == n_dims;
    for (int i = 0; same && i < n_dims; i++)
        same = t->shape[i] == shape[i];
    if (!same) {
        char want[128] = "", got[128] = "";
        size_t wl = 0, gl = 0;
        for (int i = 0; i < n_dims && wl < sizeof want - 24; i++)
            wl += (size_t)snprintf(want + wl, sizeof want - wl, "%s%lld", i ? ", " : "",
                                   (long long)shape[i]);
        for (int i = 0; i < t->n_dims && gl < sizeof got - 24; i++)
            gl += (size_t)snprintf(got + gl, sizeof got - gl, "%s%lld", i ? ", " : "",
                                   (long long)t->shape[i]);
        return ecl_fail(msg, msg_size, ENCODEC_EWEIGHTS_SHAPE,
                        "%s: tensor %s has shape [%s], expected [%s]", source, name, got, want);
    }
    if (!dst)
        return ENCODEC_OK;
    ecl_tensor_read_f32(t, dst);
    for (size_t i = 0; i < t->n_elements; i++)
        if (!isfinite(dst[i]))
            return ecl_fail(msg, msg_size, ENCODEC_EWEIGHTS_VALUE,
                            "%s: tensor %s has a NaN or infinite value at index %zu", source,
                            name, i);
    return ENCODEC_OK;
}
