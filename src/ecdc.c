/* The .ecdc container: header text and parsing (cJSON), segment geometry, and the incremental
 * writer and reader of the payload (bit-packed codes, or arithmetic-coded codes with CDFs from a
 * callback). The reader is a small state machine (header, scale, payload, done) that keeps its
 * partial progress between input pieces, so bytes may arrive split anywhere; it allocates when
 * the header arrives and never per frame. Reference behaviour: spec sections 7 and 8. */
#include "ecdc.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arith.h"
#include "bitpack.h"
#include "util.h"

/* ------------------------------------------------------------------------------------------ */
/* Geometry                                                                                     */

static int geometry_valid(const ecl_ecdc_geometry *g)
{
    /* frame_rate <= sample_rate keeps every frame count below the sample count (no overflow) */
    if (!g || g->sample_rate < 1 || g->frame_rate < 1 || g->frame_rate > g->sample_rate)
        return 0;
    if (g->bins < 2 || g->bins > (1 << 30) || (g->bins & (g->bins - 1)) != 0)
        return 0;
    if (g->segment_length > 0 &&
        (g->segment_stride < 1 || g->segment_stride > g->segment_length))
        return 0;
    return 1;
}

static int code_width(int bins)
{
    int w = 0;
    while ((1 << w) < bins)
        w++;
    return w;
}

size_t ecl_ecdc_n_segments(const ecl_ecdc_geometry *g, uint64_t al)
{
    if (al == 0)
        return 0;
    if (g->segment_length == 0)
        return 1;
    return (size_t)(al / g->segment_stride + (al % g->segment_stride != 0));
}

size_t ecl_ecdc_segment_frames(const ecl_ecdc_geometry *g, uint64_t al, size_t j)
{
    uint64_t ls = al;
    if (g->segment_length > 0) {
        uint64_t offset = (uint64_t)j * g->segment_stride;
        if (offset >= al)
            return 0;
        ls = al - offset < g->segment_length ? al - offset : g->segment_length;
    }
    /* ceil(ls * fr / sr) without forming ls * fr */
    uint64_t sr = (uint64_t)g->sample_rate, fr = (uint64_t)g->frame_rate;
    return (size_t)((ls / sr) * fr + ((ls % sr) * fr + sr - 1) / sr);
}

size_t ecl_ecdc_total_frames(const ecl_ecdc_geometry *g, uint64_t al)
{
    size_t n = ecl_ecdc_n_segments(g, al), total = 0;
    if (n == 0)
        return 0;
    if (g->segment_length == 0 || n == 1)
        return ecl_ecdc_segment_frames(g, al, 0);
    /* Segments that fit whole are full; the last two can both be short (when the remainder
     * is smaller than the overlap). */
    size_t j = 0;
    if (al >= g->segment_length) {
        j = (size_t)((al - g->segment_length) / g->segment_stride + 1);
        total = j * ecl_ecdc_segment_frames(g, g->segment_length, 0);
    }
    for (; j < n; j++)
        total += ecl_ecdc_segment_frames(g, al, j);
    return total;
}

/* ------------------------------------------------------------------------------------------ */
/* Header                                                                                       */

static uint32_t read_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static void write_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* An integral JSON number in [lo, hi]. */
static int json_integer(const cJSON *item, double lo, double hi, double *out)
{
    if (!cJSON_IsNumber(item))
        return 0;
    double v = item->valuedouble;
    if (!(v >= lo && v <= hi) || floor(v) != v)
        return 0;
    *out = v;
    return 1;
}

static int parse_metadata(const char *text, size_t len, encodec_ecdc_info *info)
{
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!root)
        return ENCODEC_EECDC_HEADER;
    int rc = ENCODEC_EECDC_HEADER;
    /* nothing but whitespace may follow the object (json.loads would refuse it) */
    for (; end && end < text + len; end++)
        if (*end != ' ' && *end != '\t' && *end != '\n' && *end != '\r')
            goto out;
    if (!cJSON_IsObject(root))
        goto out;
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(root, "m");
    const cJSON *al = cJSON_GetObjectItemCaseSensitive(root, "al");
    const cJSON *nc = cJSON_GetObjectItemCaseSensitive(root, "nc");
    const cJSON *lm = cJSON_GetObjectItemCaseSensitive(root, "lm");
    double al_v, nc_v;
    if (!cJSON_IsString(m) || !m->valuestring ||
        strlen(m->valuestring) >= sizeof info->model_name)
        goto out;
    /* al = 0 is refused: the reference cannot decode it (zero segment stride) */
    if (!json_integer(al, 1, (double)ECL_ECDC_MAX_AUDIO_LENGTH, &al_v) ||
        !json_integer(nc, 1, INT_MAX, &nc_v) || !cJSON_IsBool(lm))
        goto out;
    strcpy(info->model_name, m->valuestring);
    info->audio_length = (uint64_t)al_v;
    info->n_codebooks = (int)nc_v;
    info->use_lm = cJSON_IsTrue(lm) ? 1 : 0;
    rc = ENCODEC_OK;
out:
    cJSON_Delete(root);
    return rc;
}

int ecl_ecdc_parse_header(const uint8_t *data, size_t size, encodec_ecdc_info *info)
{
    if ((!data && size) || !info)
        return ENCODEC_EINVAL;
    if (size == 0)
        return ENCODEC_EECDC_TRUNCATED;
    /* judge the magic on whatever part of it is present */
    if (memcmp(data, ECL_ECDC_MAGIC, size < 4 ? size : 4) != 0)
        return ENCODEC_EECDC_MAGIC;
    if (size < 5)
        return ENCODEC_EECDC_TRUNCATED;
    if (data[4] != ECL_ECDC_VERSION)
        return ENCODEC_EECDC_VERSION;
    if (size < ECL_ECDC_FIXED_HEADER)
        return ENCODEC_EECDC_TRUNCATED;
    uint32_t n = read_be32(data + 5);
    if (n > ECL_ECDC_MAX_METADATA)
        return ENCODEC_EECDC_HEADER;
    if (size - ECL_ECDC_FIXED_HEADER < n)
        return ENCODEC_EECDC_TRUNCATED;
    encodec_ecdc_info tmp;
    memset(&tmp, 0, sizeof tmp);
    int rc = parse_metadata((const char *)data + ECL_ECDC_FIXED_HEADER, n, &tmp);
    if (rc < 0)
        return rc;
    tmp.header_size = ECL_ECDC_FIXED_HEADER + (size_t)n;
    *info = tmp;
    return ENCODEC_OK;
}

int encodec_ecdc_probe(const uint8_t *data, size_t size, encodec_ecdc_info *info)
{
    return ecl_ecdc_parse_header(data, size, info);
}

/* Append s to out at *pos, if it fits (the total length is counted either way). */
static void put(char *out, size_t out_size, size_t *pos, const char *s, size_t n)
{
    if (*pos < out_size)
        memcpy(out + *pos, s, n <= out_size - *pos ? n : out_size - *pos);
    *pos += n;
}

/* Next code point of a strict UTF-8 string, or -1. */
static long utf8_next(const unsigned char **p)
{
    const unsigned char *s = *p;
    long cp;
    int extra;
    if (s[0] < 0x80) {
        *p = s + 1;
        return s[0];
    } else if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        cp = s[0] & 0x1f;
        extra = 1;
    } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
        cp = s[0] & 0x0f;
        extra = 2;
    } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        cp = s[0] & 0x07;
        extra = 3;
    } else {
        return -1;
    }
    for (int i = 1; i <= extra; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return -1;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    static const long min_cp[4] = {0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[extra] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return -1;
    *p = s + 1 + extra;
    return cp;
}

/* json.dumps(str) with ensure_ascii: printable ASCII as is, the short escapes, \u00XX for other
 * controls and DEL, \uXXXX (UTF-16, lowercase hex) for everything else. */
static int json_string(const char *str, char *out, size_t out_size, size_t *pos)
{
    char tmp[32];
    put(out, out_size, pos, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)str; *p;) {
        const unsigned char c = *p;
        const char *esc = NULL;
        switch (c) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        default: break;
        }
        if (esc) {
            put(out, out_size, pos, esc, 2);
            p++;
        } else if (c >= 0x20 && c < 0x7f) {
            put(out, out_size, pos, (const char *)p, 1);
            p++;
        } else {
            long cp = utf8_next(&p);
            if (cp < 0)
                return ENCODEC_EINVAL;
            if (cp >= 0x10000) {
                cp -= 0x10000;
                snprintf(tmp, sizeof tmp, "\\u%04lx\\u%04lx", 0xd800 + (cp >> 10),
                         0xdc00 + (cp & 0x3ff));
            } else {
                snprintf(tmp, sizeof tmp, "\\u%04lx", cp);
            }
            put(out, out_size, pos, tmp, strlen(tmp));
        }
    }
    put(out, out_size, pos, "\"", 1);
    return ENCODEC_OK;
}

int ecl_ecdc_format_metadata(const char *model_name, uint64_t audio_length, int n_codebooks,
                             int use_lm, char *out, size_t out_size)
{
    if (!model_name || strlen(model_name) >= sizeof((encodec_ecdc_info *)0)->model_name ||
        (!out && out_size))
        return ENCODEC_EINVAL;
    size_t pos = 0;
    char num[96];
    put(out, out_size, &pos, "{\"m\": ", 6);
    int rc = json_string(model_name, out, out_size, &pos);
    if (rc < 0)
        return rc;
    snprintf(num, sizeof num, ", \"al\": %llu, \"nc\": %d, \"lm\": %s}",
             (unsigned long long)audio_length, n_codebooks, use_lm ? "true" : "false");
    put(out, out_size, &pos, num, strlen(num));
    if (pos > out_size || pos > INT_MAX)
        return ENCODEC_EBUFFER;
    return (int)pos;
}

/* ------------------------------------------------------------------------------------------ */
/* Writer                                                                                       */

struct ecl_ecdc_writer {
    ecl_ecdc_geometry geometry;
    uint64_t audio_length;
    int n_codebooks;     /* K */
    int width;           /* bits per code (no-LM payload) */
    int use_lm;
    ecl_ecdc_lm lm;
    size_t n_segments;
    size_t segment;      /* segment being written; == n_segments when done */
    size_t seg_frames;   /* frames of that segment */
    size_t t;            /* next frame in it */
    int scale_written;   /* the current segment's scale is out */
    int error;           /* sticky: the stream is inconsistent after a failed write */
    ecl_bitwriter out;
    ecl_ac_encoder ac;
    int32_t *prev;       /* [K] codes of frame t-1 (LM) */
    int32_t *cdfs;       /* [K][bins] (LM) */
};

int ecl_ecdc_writer_create(const ecl_ecdc_geometry *g, const char *model_name,
                           uint64_t audio_length, int n_codebooks, const ecl_ecdc_lm *lm,
                           ecl_ecdc_writer **out)
{
    if (!out)
        return ENCODEC_EINVAL;
    *out = NULL;
    if (!geometry_valid(g) || !model_name || audio_length < 1 ||
        audio_length > ECL_ECDC_MAX_AUDIO_LENGTH || n_codebooks < 1 || n_codebooks > 65536 ||
        (lm && !lm->frame_cdfs))
        return ENCODEC_EINVAL;
    char meta[512];
    int meta_len = ecl_ecdc_format_metadata(model_name, audio_length, n_codebooks, lm != NULL,
                                            meta, sizeof meta);
    if (meta_len < 0)
        return meta_len == ENCODEC_EBUFFER ? ENCODEC_EINVAL : meta_len;

    ecl_ecdc_writer *w = calloc(1, sizeof *w);
    if (!w)
        return ENCODEC_ENOMEM;
    w->geometry = *g;
    w->audio_length = audio_length;
    w->n_codebooks = n_codebooks;
    w->width = code_width(g->bins);
    w->use_lm = lm != NULL;
    if (lm)
        w->lm = *lm;
    w->n_segments = ecl_ecdc_n_segments(g, audio_length);
    w->seg_frames = ecl_ecdc_segment_frames(g, audio_length, 0);
    ecl_bitwriter_init_growable(&w->out);
    ecl_ac_encoder_init(&w->ac);
    if (w->use_lm) {
        w->prev = calloc((size_t)n_codebooks, sizeof *w->prev);
        w->cdfs = calloc((size_t)n_codebooks * (size_t)g->bins, sizeof *w->cdfs);
        if (!w->prev || !w->cdfs) {
            ecl_ecdc_writer_free(w);
            return ENCODEC_ENOMEM;
        }
    }
    uint8_t fixed[ECL_ECDC_FIXED_HEADER] = {'E', 'C', 'D', 'C', ECL_ECDC_VERSION};
    write_be32(fixed + 5, (uint32_t)meta_len);
    int rc = ecl_bitwriter_put_bytes(&w->out, fixed, sizeof fixed);
    if (rc == ENCODEC_OK)
        rc = ecl_bitwriter_put_bytes(&w->out, (const uint8_t *)meta, (size_t)meta_len);
    if (rc < 0) {
        ecl_ecdc_writer_free(w);
        return rc;
    }
    *out = w;
    return ENCODEC_OK;
}

void ecl_ecdc_writer_free(ecl_ecdc_writer *w)
{
    if (!w)
        return;
    ecl_bitwriter_free(&w->out);
    free(w->prev);
    free(w->cdfs);
    free(w);
}

int ecl_ecdc_writer_set_scale(ecl_ecdc_writer *w, float scale)
{
    if (!w)
        return ENCODEC_EINVAL;
    if (w->error)
        return w->error;
    if (!w->geometry.has_scale)
        return ENCODEC_EINVAL;
    if (w->segment >= w->n_segments || w->t != 0 || w->scale_written)
        return ENCODEC_ESTATE;
    uint32_t bits;
    uint8_t be[4];
    memcpy(&bits, &scale, sizeof bits);
    write_be32(be, bits);
    int rc = ecl_bitwriter_put_bytes(&w->out, be, sizeof be);
    if (rc < 0)
        return rc; /* nothing was written */
    w->scale_written = 1;
    return ENCODEC_OK;
}

static int write_frame(ecl_ecdc_writer *w, const int32_t *codes)
{
    const int K = w->n_codebooks;
    int rc;
    if (!w->use_lm) {
        for (int k = 0; k < K; k++)
            if ((rc = ecl_bitwriter_push(&w->out, (uint32_t)codes[k], w->width)) < 0)
                return rc;
    } else {
        rc = w->lm.frame_cdfs(w->lm.ctx, (int)w->segment, w->t, w->t ? w->prev : NULL, K,
                              w->cdfs);
        if (rc < 0)
            return rc;
        if ((rc = ecl_ac_encode_frame(&w->ac, &w->out, w->cdfs, w->geometry.bins, codes, K)) < 0)
            return rc;
        memcpy(w->prev, codes, (size_t)K * sizeof *codes);
    }
    if (++w->t < w->seg_frames)
        return ENCODEC_OK;
    /* end of segment: byte-align so the next one starts on a fresh byte */
    rc = w->use_lm ? ecl_ac_encoder_finish(&w->ac, &w->out) : ecl_bitwriter_flush(&w->out);
    if (rc < 0)
        return rc;
    w->segment++;
    w->t = 0;
    w->scale_written = 0;
    w->seg_frames = ecl_ecdc_segment_frames(&w->geometry, w->audio_length, w->segment);
    return ENCODEC_OK;
}

int ecl_ecdc_writer_add_frame(ecl_ecdc_writer *w, const int32_t *codes)
{
    if (!w || !codes)
        return ENCODEC_EINVAL;
    if (w->error)
        return w->error;
    if (w->segment >= w->n_segments)
        return ENCODEC_ESTATE;
    if (w->geometry.has_scale && w->t == 0 && !w->scale_written)
        return ENCODEC_ESTATE;
    for (int k = 0; k < w->n_codebooks; k++)
        if (codes[k] < 0 || codes[k] >= w->geometry.bins)
            return ENCODEC_ECODE;
    int rc = write_frame(w, codes);
    if (rc < 0)
        w->error = rc;
    return rc;
}

int ecl_ecdc_writer_add_frames(ecl_ecdc_writer *w, const int32_t *codes, size_t n)
{
    if (!w || (!codes && n))
        return ENCODEC_EINVAL;
    for (size_t i = 0; i < n; i++) {
        int rc = ecl_ecdc_writer_add_frame(w, codes + i * (size_t)w->n_codebooks);
        if (rc < 0)
            return rc;
    }
    return ENCODEC_OK;
}

int ecl_ecdc_writer_done(const ecl_ecdc_writer *w)
{
    return w && !w->error && w->segment >= w->n_segments;
}

const uint8_t *ecl_ecdc_writer_data(const ecl_ecdc_writer *w, size_t *len)
{
    *len = w->out.len;
    return w->out.buf;
}

void ecl_ecdc_writer_discard(ecl_ecdc_writer *w, size_t n)
{
    ecl_bitwriter_discard(&w->out, n);
}

int ecl_ecdc_writer_take(ecl_ecdc_writer *w, uint8_t **buf, size_t *len)
{
    if (!w || !buf || !len)
        return ENCODEC_EINVAL;
    *len = w->out.len;
    *buf = w->out.buf;
    /* pending bits (mid-segment) stay with the writer */
    uint64_t acc = w->out.acc;
    int n_bits = w->out.n_bits;
    ecl_bitwriter_init_growable(&w->out);
    w->out.acc = acc;
    w->out.n_bits = n_bits;
    return ENCODEC_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* Reader                                                                                       */

enum { RD_HEADER, RD_SEGMENT, RD_SCALE, RD_PAYLOAD, RD_DONE, RD_ERROR };

struct ecl_ecdc_reader {
    ecl_ecdc_geometry geometry;
    char model_name[64];
    int check_name;
    int max_codebooks;
    int have_lm;
    ecl_ecdc_lm lm;

    int state;
    int error;               /* RD_ERROR: repeated by every call */

    uint8_t fixed[ECL_ECDC_FIXED_HEADER];
    uint8_t *header;         /* whole header once its length is known */
    size_t header_need;      /* bytes of header expected so far (9, then 9 + N) */
    size_t header_have;
    encodec_ecdc_info info;
    int have_info;

    int width;
    size_t n_segments, segment, seg_frames, t;
    int k;                   /* next codebook of the frame being read */
    uint8_t scale_bytes[4];
    size_t scale_have;
    float scale;
    ecl_bitreader bits;
    ecl_ac_decoder ac;
    int32_t *codes[2];       /* [2][K]: frame being read and the previous one */
    int cur;                 /* which of codes[] is being read */
    int32_t *cdfs;           /* [K][bins] for the frame being read (LM) */
    int cdfs_ready;
};

int ecl_ecdc_reader_create(const ecl_ecdc_reader_params *p, ecl_ecdc_reader **out)
{
    if (!out)
        return ENCODEC_EINVAL;
    *out = NULL;
    if (!p || !geometry_valid(&p->geometry) || p->max_codebooks < 1 ||
        p->max_codebooks > 65536 || (p->lm && !p->lm->frame_cdfs) ||
        (p->model_name && strlen(p->model_name) >= 64))
        return ENCODEC_EINVAL;
    ecl_ecdc_reader *r = calloc(1, sizeof *r);
    if (!r)
        return ENCODEC_ENOMEM;
    r->geometry = p->geometry;
    if (p->model_name) {
        strcpy(r->model_name, p->model_name);
        r->check_name = 1;
    }
    r->max_codebooks = p->max_codebooks;
    if (p->lm) {
        r->have_lm = 1;
        r->lm = *p->lm;
    }
    r->state = RD_HEADER;
    r->header_need = ECL_ECDC_FIXED_HEADER;
    r->width = code_width(p->geometry.bins);
    *out = r;
    return ENCODEC_OK;
}

void ecl_ecdc_reader_free(ecl_ecdc_reader *r)
{
    if (!r)
        return;
    free(r->header);
    free(r->codes[0]);
    free(r->codes[1]);
    free(r->cdfs);
    free(r);
}

const encodec_ecdc_info *ecl_ecdc_reader_info(const ecl_ecdc_reader *r)
{
    return r && r->have_info ? &r->info : NULL;
}

static int reader_fail(ecl_ecdc_reader *r, int error)
{
    r->state = RD_ERROR;
    r->error = error;
    return error;
}

/* Header complete: check it against the model and prepare for the payload. */
static int reader_start(ecl_ecdc_reader *r, const encodec_ecdc_info *info)
{
    if (r->check_name && strcmp(info->model_name, r->model_name) != 0)
        return ENCODEC_EECDC_MODEL;
    if (info->n_codebooks > r->max_codebooks)
        return ENCODEC_EECDC_MODEL;
    if (info->use_lm && !r->have_lm)
        return ENCODEC_EUNSUPPORTED;
    const size_t K = (size_t)info->n_codebooks;
    r->codes[0] = calloc(K, sizeof(int32_t));
    r->codes[1] = calloc(K, sizeof(int32_t));
    if (!r->codes[0] || !r->codes[1])
        return ENCODEC_ENOMEM;
    if (info->use_lm && !(r->cdfs = calloc(K * (size_t)r->geometry.bins, sizeof(int32_t))))
        return ENCODEC_ENOMEM;
    r->info = *info;
    r->have_info = 1;
    r->n_segments = ecl_ecdc_n_segments(&r->geometry, info->audio_length);
    r->segment = 0;
    return ENCODEC_OK;
}

/* Take header bytes; ECL_ECDC_HEADER once complete, NEED_INPUT, or an error. */
static int reader_header(ecl_ecdc_reader *r, const uint8_t *data, size_t len, size_t *pos)
{
    for (;;) {
        uint8_t *buf = r->header ? r->header : r->fixed;
        size_t n = r->header_need - r->header_have;
        if (n > len - *pos)
            n = len - *pos;
        if (n)
            memcpy(buf + r->header_have, data + *pos, n);
        r->header_have += n;
        *pos += n;
        encodec_ecdc_info info;
        int rc = ecl_ecdc_parse_header(buf, r->header_have, &info);
        if (rc == ENCODEC_EECDC_TRUNCATED) {
            if (r->header_have < r->header_need)
                return ECL_ECDC_NEED_INPUT;
            /* fixed part complete: now the metadata length is known (and was checked) */
            size_t need = ECL_ECDC_FIXED_HEADER + (size_t)read_be32(r->fixed + 5);
            if (!(r->header = malloc(need)))
                return ENCODEC_ENOMEM;
            memcpy(r->header, r->fixed, ECL_ECDC_FIXED_HEADER);
            r->header_need = need;
            continue;
        }
        if (rc < 0)
            return rc;
        if ((rc = reader_start(r, &info)) < 0)
            return rc;
        r->state = RD_SEGMENT;
        return ECL_ECDC_HEADER;
    }
}

/* Read codes of the current frame; 1 when complete, 0 when input ran out, or an error. */
static int reader_frame(ecl_ecdc_reader *r)
{
    const int K = r->info.n_codebooks;
    int32_t *codes = r->codes[r->cur];
    if (!r->info.use_lm) {
        for (; r->k < K; r->k++) {
            uint32_t v;
            int got = ecl_bitreader_read(&r->bits, r->width, &v);
            if (got <= 0)
                return got;
            codes[r->k] = (int32_t)v;
        }
        return 1;
    }
    if (!r->cdfs_ready) {
        int rc = r->lm.frame_cdfs(r->lm.ctx, (int)r->segment, r->t,
                                  r->t ? r->codes[!r->cur] : NULL, K, r->cdfs);
        if (rc < 0)
            return rc;
        r->cdfs_ready = 1;
    }
    return ecl_ac_decode_frame(&r->ac, &r->bits, r->cdfs, r->geometry.bins, codes, K, &r->k);
}

int ecl_ecdc_reader_push(ecl_ecdc_reader *r, const uint8_t *data, size_t len, size_t *consumed,
                         ecl_ecdc_frame *frame)
{
    size_t pos = 0;
    if (consumed)
        *consumed = 0;
    if (!r || !consumed || !frame || (!data && len))
        return ENCODEC_EINVAL;
    for (;;) {
        switch (r->state) {
        case RD_ERROR:
            return r->error;
        case RD_HEADER: {
            int rc = reader_header(r, data, len, &pos);
            *consumed = pos;
            return rc < 0 ? reader_fail(r, rc) : rc;
        }
        case RD_SEGMENT:
            r->seg_frames = ecl_ecdc_segment_frames(&r->geometry, r->info.audio_length,
                                                    r->segment);
            r->t = 0;
            r->k = 0;
            r->scale = 1.0f;
            r->scale_have = 0;
            r->cdfs_ready = 0;
            ecl_bitreader_align(&r->bits);
            ecl_ac_decoder_init(&r->ac);
            r->state = r->geometry.has_scale ? RD_SCALE : RD_PAYLOAD;
            break;
        case RD_SCALE: {
            size_t n = 4 - r->scale_have;
            if (n > len - pos)
                n = len - pos;
            if (n)
                memcpy(r->scale_bytes + r->scale_have, data + pos, n);
            r->scale_have += n;
            pos += n;
            if (r->scale_have < 4) {
                *consumed = pos;
                return ECL_ECDC_NEED_INPUT;
            }
            uint32_t bits = read_be32(r->scale_bytes);
            memcpy(&r->scale, &bits, sizeof bits);
            r->state = RD_PAYLOAD;
            break;
        }
        case RD_PAYLOAD: {
            ecl_bitreader_feed(&r->bits, data ? data + pos : NULL, len - pos);
            int rc = reader_frame(r);
            pos += r->bits.pos;
            ecl_bitreader_feed(&r->bits, NULL, 0);
            *consumed = pos;
            if (rc < 0)
                return reader_fail(r, rc);
            if (rc == 0)
                return ECL_ECDC_NEED_INPUT;
            frame->codes = r->codes[r->cur];
            frame->segment = (int)r->segment;
            frame->t = r->t;
            frame->n_frames = r->seg_frames;
            frame->scale = r->scale;
            r->cur = !r->cur;
            r->k = 0;
            r->cdfs_ready = 0;
            if (++r->t == r->seg_frames)
                r->state = ++r->segment < r->n_segments ? RD_SEGMENT : RD_DONE;
            return ECL_ECDC_FRAME;
        }
        case RD_DONE:
            if (pos < len)
                return reader_fail(r, ENCODEC_EECDC_TRAILING);
            return ECL_ECDC_DONE;
        default:
            return ENCODEC_EINVAL;
        }
    }
}

int ecl_ecdc_reader_end(ecl_ecdc_reader *r)
{
    if (!r)
        return ENCODEC_EINVAL;
    if (r->state == RD_ERROR)
        return r->error;
    return r->state == RD_DONE ? ENCODEC_OK : ENCODEC_EECDC_TRUNCATED;
}

/* Grow *buf (elements of size `size`) to hold at least n. */
static int grow(void **buf, size_t *cap, size_t n, size_t size)
{
    if (n <= *cap)
        return ENCODEC_OK;
    size_t c = *cap ? *cap : 64;
    while (c < n) {
        if (c > SIZE_MAX / 2 / size)
            return ENCODEC_ENOMEM;
        c *= 2;
    }
    void *p = realloc(*buf, c * size);
    if (!p)
        return ENCODEC_ENOMEM;
    *buf = p;
    *cap = c;
    return ENCODEC_OK;
}

int ecl_ecdc_read_all(const ecl_ecdc_reader_params *p, const uint8_t *data, size_t size,
                      encodec_ecdc_info *info, int32_t **codes, size_t *n_frames,
                      float **scales, size_t *n_segments)
{
    if (!codes || !n_frames || (!data && size))
        return ENCODEC_EINVAL;
    *codes = NULL;
    *n_frames = 0;
    if (scales)
        *scales = NULL;
    if (n_segments)
        *n_segments = 0;
    ecl_ecdc_reader *r;
    int rc = ecl_ecdc_reader_create(p, &r);
    if (rc < 0)
        return rc;
    /* buffers grow with the frames actually present, so a header announcing a huge length
     * cannot make a small stream allocate much */
    int32_t *c = NULL;
    float *s = NULL;
    size_t c_cap = 0, s_cap = 0, frames = 0, segs = 0, pos = 0;
    int K = 0;
    for (;;) {
        size_t used;
        ecl_ecdc_frame fr;
        rc = ecl_ecdc_reader_push(r, size ? data + pos : data, size - pos, &used, &fr);
        pos += used;
        if (rc < 0)
            break;
        if (rc == ECL_ECDC_HEADER) {
            K = ecl_ecdc_reader_info(r)->n_codebooks;
        } else if (rc == ECL_ECDC_FRAME) {
            if ((rc = grow((void **)&c, &c_cap, (frames + 1) * (size_t)K, sizeof *c)) < 0)
                break;
            memcpy(c + frames * (size_t)K, fr.codes, (size_t)K * sizeof *c);
            frames++;
            if (fr.t == 0) {
                if ((rc = grow((void **)&s, &s_cap, segs + 1, sizeof *s)) < 0)
                    break;
                s[segs++] = fr.scale;
            }
        } else if (rc == ECL_ECDC_DONE || rc == ECL_ECDC_NEED_INPUT) {
            rc = ecl_ecdc_reader_end(r);
            break;
        }
    }
    if (rc == ENCODEC_OK && info)
        *info = *ecl_ecdc_reader_info(r);
    ecl_ecdc_reader_free(r);
    if (rc < 0) {
        free(c);
        free(s);
        return rc;
    }
    *codes = c;
    *n_frames = frames;
    if (n_segments)
        *n_segments = segs;
    if (scales && p->geometry.has_scale)
        *scales = s;
    else
        free(s);
    return ENCODEC_OK;
}
