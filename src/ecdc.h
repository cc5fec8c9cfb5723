/* The .ecdc container (spec 7, 8): header (magic, version, big-endian metadata length, JSON),
 * segment geometry, and the per-segment payload, either bit-packed codes or arithmetic-coded
 * codes driven by a caller-supplied source of CDFs (the language model). Writer and reader are
 * incremental: the writer emits bytes as frames are added, the reader takes bytes in pieces of
 * any size and yields each frame as soon as it is complete. Neither knows about audio or the
 * neural model beyond the small geometry struct below. */
#ifndef ECL_ECDC_H
#define ECL_ECDC_H

#include <stddef.h>
#include <stdint.h>

#include "encodec.h"

#define ECL_ECDC_MAGIC "ECDC"
#define ECL_ECDC_VERSION 0
#define ECL_ECDC_FIXED_HEADER 9          /* magic, version, metadata length */
#define ECL_ECDC_MAX_METADATA 65536      /* longer metadata is rejected as invalid */
#define ECL_ECDC_MAX_AUDIO_LENGTH (UINT64_C(1) << 53) /* al must be an exact JSON number */

/* How a model cuts the signal into segments and codes. */
typedef struct {
    int sample_rate;         /* Hz */
    int frame_rate;          /* code frames per second */
    int bins;                /* codebook size, a power of two; codes take log2(bins) bits */
    uint64_t segment_length; /* samples per segment; 0: the whole signal is one segment */
    uint64_t segment_stride; /* samples between segment starts (when segment_length > 0) */
    int has_scale;           /* each segment starts with its float32 scale, big-endian */
} ecl_ecdc_geometry;

/* The geometry of a codec model (implemented with the whole-file glue, compress.c). */
void ecl_ecdc_model_geometry(const encodec_model *m, ecl_ecdc_geometry *g);

/* Number of segments for al samples (>= 1 when al >= 1). */
size_t ecl_ecdc_n_segments(const ecl_ecdc_geometry *g, uint64_t al);
/* Frames of segment j: ceil(Ls * frame_rate / sample_rate), Ls = min(al - j*stride, length). */
size_t ecl_ecdc_segment_frames(const ecl_ecdc_geometry *g, uint64_t al, size_t j);
/* Frames of all segments together. */
size_t ecl_ecdc_total_frames(const ecl_ecdc_geometry *g, uint64_t al);

/*
 * Source of the entropy model for the LM payload: fill cdfs_out[k * bins + i] with the
 * quantised CDF (ecl_quantize_cdf) of codebook k for frame t of segment `segment`.
 * prev_codes: the K codes of frame t-1 of the same segment, or NULL when t == 0 (a new segment:
 * the LM starts from a fresh state, input "no previous frame"). Called exactly once per frame,
 * in coding order, by both writer and reader. Return ENCODEC_OK or a negative error, which the
 * writer/reader passes on.
 */
typedef int (*ecl_ecdc_frame_cdfs_fn)(void *ctx, int segment, size_t t,
                                      const int32_t *prev_codes, int n_codebooks,
                                      int32_t *cdfs_out);

typedef struct {
    ecl_ecdc_frame_cdfs_fn frame_cdfs;
    void *ctx;
} ecl_ecdc_lm;

/* ------------------------------------------------------------------------------------------ */
/* Header                                                                                       */

/* Parse the header at the start of data (same contract as encodec_ecdc_probe). */
int ecl_ecdc_parse_header(const uint8_t *data, size_t size, encodec_ecdc_info *info);
/* The metadata JSON exactly as the reference's json.dumps writes it. Returns its length, or
 * ENCODEC_EINVAL (name not valid UTF-8 / too long) / ENCODEC_EBUFFER (out too small). */
int ecl_ecdc_format_metadata(const char *model_name, uint64_t audio_length, int n_codebooks,
                             int use_lm, char *out, size_t out_size);

/* ------------------------------------------------------------------------------------------ */
/* Writer                                                                                       */

typedef struct ecl_ecdc_writer ecl_ecdc_writer;

/* Writes the header at once. lm NULL: bit-packed payload ("lm": false), else entropy coded.
 * ENCODEC_EINVAL for bad geometry/arguments, ENCODEC_ENOMEM. */
int ecl_ecdc_writer_create(const ecl_ecdc_geometry *g, const char *model_name,
                           uint64_t audio_length, int n_codebooks, const ecl_ecdc_lm *lm,
                           ecl_ecdc_writer **out);
void ecl_ecdc_writer_free(ecl_ecdc_writer *w);
/* Scale of the segment about to start (geometries with has_scale: required before its first
 * frame, else ENCODEC_ESTATE). Stored bit for bit. */
int ecl_ecdc_writer_set_scale(ecl_ecdc_writer *w, float scale);
/* Add the next frame: K codes in [0, bins) (ENCODEC_ECODE otherwise). The segment is closed
 * and padded after its last frame. ENCODEC_ESTATE once every frame has been written. */
int ecl_ecdc_writer_add_frame(ecl_ecdc_writer *w, const int32_t *codes);
/* Add n frames, frame-major. */
int ecl_ecdc_writer_add_frames(ecl_ecdc_writer *w, const int32_t *codes, size_t n);
/* 1 when every frame of every segment has been written (the stream is complete). */
int ecl_ecdc_writer_done(const ecl_ecdc_writer *w);
/* Bytes produced and not yet discarded. */
const uint8_t *ecl_ecdc_writer_data(const ecl_ecdc_writer *w, size_t *len);
/* Drop the first n produced bytes (the caller has passed them on). */
void ecl_ecdc_writer_discard(ecl_ecdc_writer *w, size_t n);
/* Hand the produced bytes over (malloc'd; free() them); the writer keeps an empty buffer.
 * *buf may be NULL when nothing is pending. */
int ecl_ecdc_writer_take(ecl_ecdc_writer *w, uint8_t **buf, size_t *len);

/* ------------------------------------------------------------------------------------------ */
/* Reader                                                                                       */

typedef struct {
    ecl_ecdc_geometry geometry;
    const char *model_name;  /* stream must name this model (ENCODEC_EECDC_MODEL); NULL: any */
    int max_codebooks;       /* nc above this is ENCODEC_EECDC_MODEL; must be >= 1 */
    const ecl_ecdc_lm *lm;   /* needed for "lm": true streams (else ENCODEC_EUNSUPPORTED) */
} ecl_ecdc_reader_params;

typedef struct ecl_ecdc_reader ecl_ecdc_reader;

/* What ecl_ecdc_reader_push reports. */
enum {
    ECL_ECDC_NEED_INPUT = 0, /* every byte given was consumed; feed more (or call _end) */
    ECL_ECDC_HEADER = 1,     /* header parsed: ecl_ecdc_reader_info is valid from now on */
    ECL_ECDC_FRAME = 2,      /* a frame is ready in *frame */
    ECL_ECDC_DONE = 3        /* all frames were read; further bytes are ENCODEC_EECDC_TRAILING */
};

typedef struct {
    const int32_t *codes; /* K codes of the frame, valid until the next call */
    int segment;          /* segment index */
    size_t t;             /* frame index in the segment */
    size_t n_frames;      /* frames in this segment */
    float scale;          /* segment scale (1 when the geometry has none) */
} ecl_ecdc_frame;

int ecl_ecdc_reader_create(const ecl_ecdc_reader_params *p, ecl_ecdc_reader **out);
void ecl_ecdc_reader_free(ecl_ecdc_reader *r);
/* Consume bytes of data[0, len) up to the next event; *consumed receives how many were used
 * (the caller passes the rest in the next call). Returns an ECL_ECDC_* event or a negative
 * error (ENCODEC_EECDC_MAGIC/_VERSION/_HEADER/_MODEL/_TRAILING, ENCODEC_EUNSUPPORTED,
 * ENCODEC_ENOMEM, coder errors, or the LM callback's error); after an error the reader only
 * repeats it. */
int ecl_ecdc_reader_push(ecl_ecdc_reader *r, const uint8_t *data, size_t len, size_t *consumed,
                         ecl_ecdc_frame *frame);
/* End of input: ENCODEC_OK when the stream was complete, ENCODEC_EECDC_TRUNCATED otherwise
 * (or the earlier error). */
int ecl_ecdc_reader_end(ecl_ecdc_reader *r);
/* The parsed header, or NULL before ECL_ECDC_HEADER. */
const encodec_ecdc_info *ecl_ecdc_reader_info(const ecl_ecdc_reader *r);

/* One-shot read of a whole stream: *codes (malloc'd, free()) receives every frame, all
 * segments concatenated frame-major, *scales (malloc'd, or NULL when the geometry has none)
 * one scale per segment. */
int ecl_ecdc_read_all(const ecl_ecdc_reader_params *p, const uint8_t *data, size_t size,
                      encodec_ecdc_info *info, int32_t **codes, size_t *n_frames,
                      float **scales, size_t *n_segments);

#endif
