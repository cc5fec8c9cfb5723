/*
 * libencodec — streaming neural audio compression compatible with Meta's EnCodec.
 *
 * Objects
 *   encodec_model    immutable weights and configuration. Loaded once, read-only afterwards,
 *                    shared safely by any number of threads and handles.
 *   encodec_encoder  one encoding stream (PCM -> codes). Use from one thread at a time.
 *   encodec_decoder  one decoding stream (codes -> PCM). Use from one thread at a time.
 *   Free every encoder/decoder before the model it was created from.
 *
 * Conventions
 *   Every function that can fail returns int: ENCODEC_OK (0) or a negative ENCODEC_E* code;
 *   encodec_strerror() turns any code into a message and never returns NULL.
 *   Audio is float32, interleaved by channel ([n_samples][channels]), nominal range [-1, 1],
 *   at the model's sample rate. "n_samples" always counts samples per channel.
 *   Codes are int32 in [0, 1023], frame-major: codes[t * n_codebooks + k] is codebook k of
 *   frame t (the order of the .ecdc payload).
 *   There is no global state.
 *
 * Minimal use
 *   encodec_model *m; char msg[256];
 *   if (encodec_model_load_file("encodec_24khz.safetensors", &m, msg, sizeof msg) < 0) {
 *       fprintf(stderr, "%s\n", msg); return 1;
 *   }
 *   encodec_encoder *enc; encodec_encoder_create(m, &enc);
 *   encodec_encoder_set_bandwidth(enc, 6.0f);
 *   size_t n_frames = encodec_encoder_max_frames(enc, n_samples);
 *   int32_t *codes = malloc(n_frames * encodec_encoder_codebooks(enc) * sizeof *codes);
 *   encodec_encode(enc, pcm, n_samples, codes, NULL, n_frames, &n_frames);
 *   ...
 *   encodec_encoder_free(enc); encodec_model_free(m);
 */
#ifndef ENCODEC_H
#define ENCODEC_H

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32) && defined(ENCODEC_BUILD_SHARED)
#define ENCODEC_API __declspec(dllexport)
#elif defined(_WIN32) && defined(ENCODEC_USE_SHARED)
#define ENCODEC_API __declspec(dllimport)
#elif defined(__GNUC__)
#define ENCODEC_API __attribute__((visibility("default")))
#else
#define ENCODEC_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/** Library version, also available at run time through encodec_version(). */
#define ENCODEC_VERSION_MAJOR 0
#define ENCODEC_VERSION_MINOR 1
#define ENCODEC_VERSION_PATCH 0

/** Error codes. All are negative; ENCODEC_OK is zero. Values are stable ABI. */
enum encodec_error {
    ENCODEC_OK = 0,
    ENCODEC_EINVAL = -1,          /**< invalid argument (NULL pointer, bad size, bad value) */
    ENCODEC_ENOMEM = -2,          /**< out of memory */
    ENCODEC_EIO = -3,             /**< file cannot be opened, read or mapped */
    ENCODEC_ESTATE = -4,          /**< call not allowed in the handle's current state */
    ENCODEC_EBANDWIDTH = -5,      /**< bandwidth not offered by the model */
    ENCODEC_EBUFFER = -6,         /**< caller's output buffer is too small */
    ENCODEC_EUNSUPPORTED = -7,    /**< feature not available for this model or build */
    ENCODEC_ECODE = -8,           /**< a code value outside [0, bins) or too many codebooks */

    /* Weights file (safetensors) */
    ENCODEC_EWEIGHTS_TRUNCATED = -20, /**< file shorter than its 8-byte header length */
    ENCODEC_EWEIGHTS_HEADER = -21,    /**< header length past the end of the file or absurd */
    ENCODEC_EWEIGHTS_JSON = -22,      /**< header is not valid JSON of the expected form */
    ENCODEC_EWEIGHTS_DTYPE = -23,     /**< tensor with a dtype other than F32 or F16 */
    ENCODEC_EWEIGHTS_SHAPE = -24,     /**< tensor shape does not match the configuration */
    ENCODEC_EWEIGHTS_OFFSET = -25,    /**< tensor data outside the file or size != shape */
    ENCODEC_EWEIGHTS_OVERLAP = -26,   /**< two tensors share bytes */
    ENCODEC_EWEIGHTS_MISSING = -27,   /**< a tensor the configuration requires is absent */
    ENCODEC_EWEIGHTS_CONFIG = -28,    /**< configuration missing, malformed or unsupported */
    ENCODEC_EWEIGHTS_VALUE = -29,     /**< a weight is NaN or infinite */

    /* .ecdc container */
    ENCODEC_EECDC_MAGIC = -40,     /**< not an .ecdc stream (bad magic) */
    ENCODEC_EECDC_VERSION = -41,   /**< unknown container version */
    ENCODEC_EECDC_HEADER = -42,    /**< metadata length or JSON invalid, or fields missing/wrong type */
    ENCODEC_EECDC_MODEL = -43,     /**< stream made for another model, or too many codebooks */
    ENCODEC_EECDC_TRUNCATED = -44, /**< stream ended before all frames were read */
    ENCODEC_EECDC_TRAILING = -45   /**< bytes after the last frame */
};

/** Message for an error code (or "unknown error"); never NULL, static storage. */
ENCODEC_API const char *encodec_strerror(int error);

/** Library version as "MAJOR.MINOR.PATCH". */
ENCODEC_API const char *encodec_version(void);

/* ------------------------------------------------------------------------------------------ */
/* Model                                                                                        */
/* ------------------------------------------------------------------------------------------ */

typedef struct encodec_model encodec_model;

/**
 * Load a model from a native weights file (safetensors with the configuration in its metadata,
 * as written by encodec-convert). The file is memory-mapped, validated completely (header,
 * JSON, dtypes, offsets, overlaps, every tensor the configuration needs with its shape, finite
 * values), and copied into the model; the file can be deleted afterwards.
 * @param path     file name
 * @param model    receives the model on success, NULL on failure
 * @param msg      optional buffer for a one-line message naming the file and the tensor at
 *                 fault (may be NULL); filled on failure, empty string on success
 * @param msg_size size of msg in bytes
 * @return ENCODEC_OK or a negative ENCODEC_E* code (ENCODEC_EIO, ENCODEC_EWEIGHTS_*, ENOMEM)
 */
ENCODEC_API int encodec_model_load_file(const char *path, encodec_model **model,
                                        char *msg, size_t msg_size);

/** As encodec_model_load_file(), from a buffer in memory; the buffer is not kept. */
ENCODEC_API int encodec_model_load_memory(const void *data, size_t size, encodec_model **model,
                                          char *msg, size_t msg_size);

/** Free a model (NULL is allowed). No encoder or decoder made from it may remain. */
ENCODEC_API void encodec_model_free(encodec_model *model);

/** Model name as written in .ecdc files ("encodec_24khz", "tiny24", ...). */
ENCODEC_API const char *encodec_model_name(const encodec_model *model);
/** Sample rate in Hz. */
ENCODEC_API int encodec_model_sample_rate(const encodec_model *model);
/** Number of audio channels (1 or 2). */
ENCODEC_API int encodec_model_channels(const encodec_model *model);
/** Samples per channel per code frame (320 for the released models). */
ENCODEC_API int encodec_model_hop_length(const encodec_model *model);
/** Code frames per second, ceil(sample_rate / hop_length). */
ENCODEC_API int encodec_model_frame_rate(const encodec_model *model);
/** Total number of codebooks (residual quantizer stages) in the model. */
ENCODEC_API int encodec_model_max_codebooks(const encodec_model *model);
/** Number of target bandwidths the model offers. */
ENCODEC_API int encodec_model_num_bandwidths(const encodec_model *model);
/** The i-th target bandwidth in kbps (ascending), or a negative value for a bad index. */
ENCODEC_API float encodec_model_bandwidth(const encodec_model *model, int i);
/**
 * Number of codebooks used at a bandwidth (kbps): max(1, floor(bw * 1000 / (10 * frame_rate))).
 * @return the count, or ENCODEC_EBANDWIDTH if bw is not one of the model's target bandwidths.
 */
ENCODEC_API int encodec_model_codebooks_for_bandwidth(const encodec_model *model,
                                                      float bandwidth_kbps);
/** Code frames produced for n_samples samples per channel: ceil(n_samples / hop_length). */
ENCODEC_API size_t encodec_model_frames_for_samples(const encodec_model *model, size_t n_samples);
/** 1 if a language model (for entropy-coded .ecdc) is attached, else 0. */
ENCODEC_API int encodec_model_has_lm(const encodec_model *model);

/* ------------------------------------------------------------------------------------------ */
/* Encoder                                                                                      */
/* ------------------------------------------------------------------------------------------ */

typedef struct encodec_encoder encodec_encoder;

/** Create an encoder for model (kept by reference). Default bandwidth: the lowest offered. */
ENCODEC_API int encodec_encoder_create(const encodec_model *model, encodec_encoder **encoder);
/** Free an encoder (NULL is allowed). */
ENCODEC_API void encodec_encoder_free(encodec_encoder *encoder);
/** Choose the bandwidth (kbps); must be one of the model's target bandwidths. */
ENCODEC_API int encodec_encoder_set_bandwidth(encodec_encoder *encoder, float bandwidth_kbps);
/** Number of codebooks per frame at the current bandwidth. */
ENCODEC_API int encodec_encoder_codebooks(const encodec_encoder *encoder);
/** Number of OpenMP threads this handle may use (>= 1; default 1). */
ENCODEC_API int encodec_encoder_set_threads(encodec_encoder *encoder, int n_threads);

/**
 * Encode a whole signal exactly as the reference encodes a file in one piece (for segmented
 * models: 1 s segments with their volume scales). Equivalent to reset + push + flush; the
 * encoder is left reset.
 * @param pcm        interleaved samples, n_samples per channel (n_samples >= 1)
 * @param codes      output, frame-major, room for max_frames * encodec_encoder_codebooks()
 * @param scales     optional (NULL allowed): receives one value per frame, the volume scale
 *                   of the frame's segment (1.0 for models without normalisation)
 * @param max_frames capacity of codes in frames; at least encodec_encoder_max_frames(enc, n)
 * @param n_frames   receives the number of frames written
 * @return ENCODEC_OK, ENCODEC_EINVAL or ENCODEC_EBUFFER (nothing consumed)
 */
ENCODEC_API int encodec_encode(encodec_encoder *encoder, const float *pcm, size_t n_samples,
                               int32_t *codes, float *scales, size_t max_frames,
                               size_t *n_frames);

/**
 * Streaming: push any number of samples (0 allowed) and receive every code frame that is now
 * complete. The concatenated frames of all pushes and the flush are identical to
 * encodec_encode() of the concatenated samples. No allocation, lock, log or I/O.
 * Arguments as encodec_encode(); max_frames must be at least
 * encodec_encoder_max_frames(encoder, n_samples) or nothing is consumed (ENCODEC_EBUFFER).
 * @return ENCODEC_OK, ENCODEC_EINVAL, ENCODEC_EBUFFER, or ENCODEC_ESTATE after a flush
 */
ENCODEC_API int encodec_encoder_push(encodec_encoder *encoder, const float *pcm,
                                     size_t n_samples, int32_t *codes, float *scales,
                                     size_t max_frames, size_t *n_frames);
/**
 * End the stream: emit the remaining frames (with the reference's end-of-signal padding).
 * Further pushes fail with ENCODEC_ESTATE until encodec_encoder_reset(); a second flush
 * returns no frames.
 */
ENCODEC_API int encodec_encoder_flush(encodec_encoder *encoder, int32_t *codes, float *scales,
                                      size_t max_frames, size_t *n_frames);
/** Start a new stream (keeps bandwidth and threads). */
ENCODEC_API int encodec_encoder_reset(encodec_encoder *encoder);
/** Most frames that a push of n_samples (or a flush, n_samples = 0) can return now. */
ENCODEC_API size_t encodec_encoder_max_frames(const encodec_encoder *encoder, size_t n_samples);
/**
 * Delay of the encoder in samples per channel. start-up: samples a new stream needs before
 * its first frame comes out (the reference's reflect padding mirrors samples that come later).
 * steady: samples between the end of a frame's hop and the push that returns it once running
 * (0 for causal models: a frame is returned by the push that completes its hop). Segmented
 * models return whole segments: both are a segment. Either pointer may be NULL.
 */
ENCODEC_API int encodec_encoder_latency(const encodec_encoder *encoder, size_t *startup,
                                        size_t *steady);
/** Bytes of per-stream state and buffers held by the encoder (fixed at create). */
ENCODEC_API size_t encodec_encoder_state_size(const encodec_encoder *encoder);

/* ------------------------------------------------------------------------------------------ */
/* Decoder                                                                                      */
/* ------------------------------------------------------------------------------------------ */

typedef struct encodec_decoder encodec_decoder;

/** Create a decoder for model (kept by reference). */
ENCODEC_API int encodec_decoder_create(const encodec_model *model, encodec_decoder **decoder);
/** Free a decoder (NULL is allowed). */
ENCODEC_API void encodec_decoder_free(encodec_decoder *decoder);
/** Number of OpenMP threads this handle may use (>= 1; default 1). */
ENCODEC_API int encodec_decoder_set_threads(encodec_decoder *decoder, int n_threads);

/**
 * Decode whole-signal codes to audio: n_frames * hop_length samples per channel for
 * unsegmented models (the caller trims to the original length; for segmented models the
 * overlap-added length). Equivalent to reset + push + flush; the decoder is left reset.
 * @param codes        frame-major codes, n_frames * n_codebooks values in [0, bins)
 * @param scales       one volume scale per frame (as returned by the encoder); NULL means 1.0,
 *                     which is right for models without normalisation
 * @param n_codebooks  1 .. encodec_model_max_codebooks()
 * @param pcm          output, interleaved, room for max_samples samples per channel; at
 *                     least encodec_decoder_max_samples(decoder, n_frames)
 * @param n_samples    receives the samples per channel written
 * @return ENCODEC_OK, ENCODEC_EINVAL, ENCODEC_ECODE or ENCODEC_EBUFFER (nothing consumed)
 */
ENCODEC_API int encodec_decode(encodec_decoder *decoder, const int32_t *codes,
                               const float *scales, size_t n_frames, int n_codebooks, float *pcm,
                               size_t max_samples, size_t *n_samples);

/**
 * Streaming: push code frames (0 allowed) and receive all audio that is final. The
 * concatenated output of all pushes and the flush equals encodec_decode() of all frames. The
 * number of codebooks may differ between pushes. No allocation, lock, log or I/O.
 * @return as encodec_decode(), or ENCODEC_ESTATE after a flush
 */
ENCODEC_API int encodec_decoder_push(encodec_decoder *decoder, const int32_t *codes,
                                     const float *scales, size_t n_frames, int n_codebooks,
                                     float *pcm, size_t max_samples, size_t *n_samples);
/** End the stream and emit the remaining audio; see encodec_encoder_flush(). */
ENCODEC_API int encodec_decoder_flush(encodec_decoder *decoder, float *pcm, size_t max_samples,
                                      size_t *n_samples);
/** Start a new stream (keeps threads). */
ENCODEC_API int encodec_decoder_reset(encodec_decoder *decoder);
/** Most samples per channel that a push of n_frames (or a flush, 0) can return now. */
ENCODEC_API size_t encodec_decoder_max_samples(const encodec_decoder *decoder, size_t n_frames);
/**
 * Delay of the decoder. startup: frames a new stream needs before the first audio comes out.
 * steady: frames of delay once running (0 for causal models: a frame's audio is returned by
 * the push that delivers the frame). Segmented models decode whole segments.
 */
ENCODEC_API int encodec_decoder_latency(const encodec_decoder *decoder, size_t *startup,
                                        size_t *steady);
/** Bytes of per-stream state and buffers held by the decoder (fixed at create). */
ENCODEC_API size_t encodec_decoder_state_size(const encodec_decoder *decoder);

/* ------------------------------------------------------------------------------------------ */
/* .ecdc files                                                                                  */
/* ------------------------------------------------------------------------------------------ */

/** What the header of an .ecdc stream says. */
typedef struct encodec_ecdc_info {
    char model_name[64];      /**< "m": model the stream was made with */
    uint64_t audio_length;    /**< "al": samples per channel of the original audio */
    int n_codebooks;          /**< "nc": codebooks per frame */
    int use_lm;               /**< "lm": 1 if the payload is entropy coded with the LM */
    size_t header_size;       /**< bytes taken by magic, version, length and JSON */
} encodec_ecdc_info;

/**
 * Parse the header at the start of an .ecdc stream (payload not needed).
 * @return ENCODEC_OK, ENCODEC_EECDC_TRUNCATED if more bytes are needed for the header,
 *         or ENCODEC_EECDC_MAGIC / _VERSION / _HEADER.
 */
ENCODEC_API int encodec_ecdc_probe(const uint8_t *data, size_t size, encodec_ecdc_info *info);

/**
 * Encode a whole signal and write it as an .ecdc stream, byte-compatible with the reference's
 * compress(). Uses the encoder's bandwidth. *out is allocated by the library: release it with
 * encodec_buffer_free().
 * @param use_lm 1 to entropy-code with the model's LM (ENCODEC_EUNSUPPORTED without one)
 */
ENCODEC_API int encodec_compress(encodec_encoder *encoder, const float *pcm, size_t n_samples,
                                 int use_lm, uint8_t **out, size_t *out_size);

/**
 * Decode a whole .ecdc stream to audio: *pcm (allocated by the library, release with
 * encodec_buffer_free()) receives *n_samples samples per channel, interleaved, exactly the
 * original length. Fails with ENCODEC_EECDC_MODEL if the stream names another model or uses
 * more codebooks than the model has, and with the other ENCODEC_EECDC_* codes for damage.
 */
ENCODEC_API int encodec_decompress(encodec_decoder *decoder, const uint8_t *data, size_t size,
                                   float **pcm, size_t *n_samples);

/** Release a buffer returned by the library (NULL is allowed). */
ENCODEC_API void encodec_buffer_free(void *buffer);

/* ------------------------------------------------------------------------------------------ */
/* Language model (entropy coding)                                                              */
/* ------------------------------------------------------------------------------------------ */

/**
 * Attach a language model to a codec model, for entropy-coded .ecdc streams (use_lm = 1).
 * The file is an LM weights file (safetensors with the LM configuration in its metadata, as
 * written by encodec-convert, e.g. from encodec_lm_24khz-1608e3c0.th), validated completely
 * (configuration, every tensor with its shape, finite values) and copied; the file can be
 * deleted afterwards. Its "card" must equal the codec's codebook size. The LM may have more or
 * fewer tables than the codec has codebooks; a stream can use as many codebooks as it has.
 * A previously attached LM is replaced (and freed); on failure the model is left unchanged.
 * This modifies the model: call it right after loading, before the model is shared between
 * threads and before any encoder or decoder is created from it.
 * Probabilities are computed with a fixed evaluation order and the library's own exp, erf,
 * sin and cos, so LM-coded streams decode bit-exactly with this library on any machine and
 * thread count (not necessarily with the reference Python implementation, whose float32
 * rounding differs).
 * @param model    a model from encodec_model_load_file() / _memory()
 * @param path     LM weights file
 * @param msg      optional buffer for a one-line message naming the file and the tensor at fault
 * @param msg_size size of msg in bytes
 * @return ENCODEC_OK, ENCODEC_EINVAL, ENCODEC_EIO, ENCODEC_EWEIGHTS_* (ENCODEC_EWEIGHTS_CONFIG
 *         also when the LM's card differs from the codec's codebook size) or ENCODEC_ENOMEM
 */
ENCODEC_API int encodec_model_load_lm_file(encodec_model *model, const char *path, char *msg,
                                           size_t msg_size);

/** As encodec_model_load_lm_file(), from a buffer in memory; the buffer is not kept. */
ENCODEC_API int encodec_model_load_lm_memory(encodec_model *model, const void *data,
                                             size_t size, char *msg, size_t msg_size);

/* ---- end of language model ---------------------------------------------------------------- */

#ifdef __cplusplus
}
#endif

#endif /* ENCODEC_H */
