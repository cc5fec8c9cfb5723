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
 *   Property getters given a NULL handle return ENCODEC_EINVAL (int), "" (name), 0 (sizes)
 *   or a negative bandwidth. Thread counts are 1..1024.
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
    ENCODEC_ELENGTH = -9,         /**< more or fewer samples than the length announced */

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
    ENCODEC_EECDC_TRAILING = -45,  /**< bytes after the last frame */
    ENCODEC_EECDC_CORRUPT = -46    /**< payload damaged: undecodable symbol, invalid scale */
};

/** Message for an error code (or "unknown error"); never NULL, static storage. */
ENCODEC_API const char *encodec_strerror(int error);

/** Library version as "MAJOR.MINOR.PATCH". */
ENCODEC_API const char *encodec_version(void);

/**
 * Kernel paths (instruction sets) for the codec's arithmetic. An encoder or decoder uses the
 * fastest path the CPU supports unless told otherwise (encodec_*_set_kernels, or the
 * environment variable ENCODEC_KERNELS=portable|avx2|avx512|neon read when a handle is
 * created). The portable C path is the reference; the SIMD paths use fused multiply-adds and
 * their own exp, so their audio and latents differ from it by float rounding (about 1e-6),
 * which can flip a code that sits on a quantizer tie. Whatever the path, streaming equals
 * whole-signal processing bit for bit, and the thread count never changes a bit. The
 * language model (entropy coding) always uses one bit-exact order on every path and machine.
 */
typedef enum encodec_kernels {
    ENCODEC_KERNELS_AUTO = 0,     /**< the fastest supported path */
    ENCODEC_KERNELS_PORTABLE = 1, /**< plain C, any CPU */
    ENCODEC_KERNELS_AVX2 = 2,     /**< x86-64 with AVX2 and FMA */
    ENCODEC_KERNELS_AVX512 = 3,   /**< x86-64 with AVX-512F */
    ENCODEC_KERNELS_NEON = 4      /**< aarch64 */
} encodec_kernels;

/** Name of a path ("auto", "portable", "avx2", "avx512", "neon"); NULL for a bad value. */
ENCODEC_API const char *encodec_kernels_name(encodec_kernels kernels);
/** 1 if this build has the path and this CPU can run it (AUTO: always 1), else 0. */
ENCODEC_API int encodec_kernels_supported(encodec_kernels kernels);

/* ------------------------------------------------------------------------------------------ */
/* Model                                                                                        */
/* ------------------------------------------------------------------------------------------ */

typedef struct encodec_model encodec_model;

/**
 * Load a model from a native weights file (safetensors with the configuration in its metadata,
 * as written by encodec-convert). The file is memory-mapped, validated completely (header,
 * JSON, dtypes, offsets, overlaps, every tensor the configuration needs with its shape, finite
 * values), and copied into the model; the file can be deleted afterwards. Weight matrices
 * stored as float16 (encodec-convert --f16) stay float16 in memory and are widened exactly in
 * the kernels: half the memory, faster frame-by-frame streaming, results within about 3e-3
 * of the signal range of the float32 model's (see README, "Models and weights").
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
/** Choose the kernel path (ENCODEC_EUNSUPPORTED if this build or CPU lacks it). Only between
 *  streams: ENCODEC_ESTATE after a push until the next reset or flush. */
ENCODEC_API int encodec_encoder_set_kernels(encodec_encoder *encoder, encodec_kernels kernels);
/** The kernel path in use (never AUTO). */
ENCODEC_API encodec_kernels encodec_encoder_kernels(const encodec_encoder *encoder);

/**
 * Encode a whole signal exactly as the reference encodes a file in one piece (for segmented
 * models: 1 s segments with their volume scales). Equivalent to reset + push + flush; the
 * encoder is left reset.
 * @param pcm        interleaved samples, n_samples per channel (n_samples >= 1), all finite
 *                   (NaN or infinity: ENCODEC_EINVAL, nothing consumed)
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
 * encodec_encoder_max_frames(encoder, n_samples) or nothing is consumed (ENCODEC_EBUFFER);
 * a push of 0 samples returns no frames and needs no room.
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
/** As encodec_encoder_set_kernels(), for a decoder. */
ENCODEC_API int encodec_decoder_set_kernels(encodec_decoder *decoder, encodec_kernels kernels);
/** The kernel path in use (never AUTO). */
ENCODEC_API encodec_kernels encodec_decoder_kernels(const encodec_decoder *decoder);

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
 * concatenated output of all pushes and the flush equals encodec_decode() of all frames. Every
 * push of a stream must use the same number of codebooks (else ENCODEC_ECODE). No
 * allocation, lock, log or I/O.
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
/**
 * Segmented models (48 kHz): tell the decoder the length of the original signal in samples
 * per channel, so that it knows where segments end. Without it (0, the default) every segment
 * but the one ended by the flush is taken to be full (ceil(segment / hop) frames), which is
 * wrong only for the about 1% of lengths whose second-to-last segment is short (length mod
 * stride in (0, segment - stride)). encodec_decompress() and the .ecdc reader set it from the
 * stream. A setting: it survives encodec_decoder_reset(); no effect on unsegmented models.
 */
ENCODEC_API int encodec_decoder_set_audio_length(encodec_decoder *decoder, uint64_t n_samples);
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
 * more codebooks than the model has, ENCODEC_EUNSUPPORTED for an entropy-coded stream when no
 * LM is attached, and with the other ENCODEC_EECDC_* codes for damage (ENCODEC_EECDC_CORRUPT
 * for a payload that cannot be decoded).
 */
ENCODEC_API int encodec_decompress(encodec_decoder *decoder, const uint8_t *data, size_t size,
                                   float **pcm, size_t *n_samples);

/** Release a buffer returned by the library (NULL is allowed). */
ENCODEC_API void encodec_buffer_free(void *buffer);

/* Incremental .ecdc byte streams */

/**
 * A writer turns audio into .ecdc bytes as it arrives, a reader turns .ecdc bytes into audio as
 * they arrive. Each drives an encoder or decoder handle (kept by reference, reset at create;
 * do not use it otherwise until the writer/reader is freed). Everything is allocated at
 * create: push and finish allocate nothing (except that the reader parses the header JSON
 * once, with short-lived allocations), take no lock, log nothing and do no I/O; they write
 * into the caller's buffers, whose required sizes the _max_ functions give. A call that fails
 * with ENCODEC_EBUFFER, ENCODEC_ESTATE, or ENCODEC_EINVAL for its arguments consumed nothing;
 * any other failure is sticky (every later push/finish repeats it).
 *
 * Streams of known length (audio_length > 0) are byte for byte the reference's .ecdc files
 * (and encodec_compress()'s output). In that layout a frame's last bits can share a byte
 * with the next frame (10 * K bits per frame; when K is not a multiple of 4), so such a byte
 * comes out with the next frame or at finish.
 *
 * Live streams (length unknown in advance; writer created with audio_length = 0):
 *   header  the reference's four keys with "al": 0, plus "live": true, e.g.
 *           {"m": "encodec_24khz", "al": 0, "nc": 2, "lm": false, "live": true}
 *   payload models without segments (24 kHz): every frame is preceded by a 1 bit (all bits
 *           LSB first, codes of 10 bits as in the reference); a 0 bit is a "sync": the rest
 *           of its byte is zero padding. The writer ends every push with a sync unless its
 *           bits end on a byte boundary, so the bytes of a push hold all of its frames.
 *           Segmented models (48 kHz): full 1 s segments exactly as in the reference (scale,
 *           frames, padding to a byte).
 *   end     unsegmented: two syncs in a row (the second is a whole zero byte); segmented:
 *           the 4 bytes FF FF FF FF where the next segment's scale would be. Then the length
 *           in samples per channel as 8 bytes big-endian, then the remaining frames laid out
 *           as in a file of that length (unsegmented: the rest of its single segment, without
 *           continuation bits, padded to a byte; segmented: the remaining segments with their
 *           scales). Nothing follows.
 * The frames before the end mark are the ones the encoder returns while audio is still
 * coming, which lie entirely inside the audio, so a reader plays them at once; the final,
 * trimmed frames come after the length, so the reader trims exactly as encodec_decompress().
 * The codes are the same as in a file of known length made from the same audio, hence so is
 * the decoded audio. The reference decoder (and encodec_ecdc_probe() / encodec_decompress(),
 * ENCODEC_EECDC_HEADER) reject live files at once: with "al": 0 its segment loop fails (zero
 * step for 24 kHz, overlap-add of no segments for 48 kHz). Live streams are bit-packed: the
 * LM's entropy coding is defined for streams of known length only.
 */
typedef struct encodec_ecdc_writer encodec_ecdc_writer;
typedef struct encodec_ecdc_reader encodec_ecdc_reader;

/**
 * Create a writer that encodes with `encoder` at its current bandwidth (which must not change
 * until the stream is finished: ENCODEC_ESTATE). The encoder is reset.
 * @param audio_length samples per channel the stream will have (at most 2^53), or 0 for a live
 *                     stream whose length is known only at finish
 * @param use_lm       1 for a payload entropy-coded with the model's LM (attached with
 *                     encodec_model_load_lm_file()): the bytes are those encodec_compress()
 *                     writes with use_lm = 1. Needs an announced length: live streams are
 *                     bit-packed only.
 * @return ENCODEC_OK, ENCODEC_EINVAL, ENCODEC_ENOMEM, ENCODEC_EUNSUPPORTED (use_lm with a live
 *         stream, without an LM, or with more codebooks than the LM has)
 */
ENCODEC_API int encodec_ecdc_writer_create(encodec_encoder *encoder, uint64_t audio_length,
                                           int use_lm, encodec_ecdc_writer **writer);
/** Free a writer (NULL is allowed); the encoder stays. */
ENCODEC_API void encodec_ecdc_writer_free(encodec_ecdc_writer *writer);
/**
 * Push n_samples samples (interleaved; 0 allowed) and receive the bytes of every frame now
 * complete: the header comes with the first push (or the finish).
 * @param out     room for out_cap bytes; out_cap must be at least
 *                encodec_ecdc_writer_max_bytes(writer, n_samples) (else ENCODEC_EBUFFER)
 * @param out_len receives the bytes written
 * @return ENCODEC_OK; ENCODEC_EINVAL (NULL arguments); ENCODEC_ELENGTH (more samples than
 *         audio_length announced; nothing consumed); ENCODEC_EBUFFER; ENCODEC_ESTATE after the finish or
 *         when the encoder's bandwidth changed; ENCODEC_EINVAL also for a live segment whose
 *         scale is NaN with the end mark's bits (NaN input; sticky)
 */
ENCODEC_API int encodec_ecdc_writer_push(encodec_ecdc_writer *writer, const float *pcm,
                                         size_t n_samples, uint8_t *out, size_t out_cap,
                                         size_t *out_len);
/**
 * End the stream: the last frames (and for a live stream the end mark and length).
 * out_cap must be at least encodec_ecdc_writer_max_bytes(writer, 0).
 * @return ENCODEC_OK (a second finish returns no bytes), ENCODEC_ELENGTH when fewer samples
 *         than audio_length were pushed (nothing consumed: push the rest, finish again),
 *         ENCODEC_EINVAL, ENCODEC_EBUFFER
 */
ENCODEC_API int encodec_ecdc_writer_finish(encodec_ecdc_writer *writer, uint8_t *out,
                                           size_t out_cap, size_t *out_len);
/** Most bytes the next push of n_samples (or the finish, n_samples = 0) can write. */
ENCODEC_API size_t encodec_ecdc_writer_max_bytes(const encodec_ecdc_writer *writer,
                                                 size_t n_samples);

/**
 * Create a reader that decodes with `decoder` (reset now). It accepts streams of known length
 * and live streams for the decoder's model.
 * @return ENCODEC_OK, ENCODEC_EINVAL or ENCODEC_ENOMEM
 */
ENCODEC_API int encodec_ecdc_reader_create(encodec_decoder *decoder,
                                           encodec_ecdc_reader **reader);
/** Free a reader (NULL is allowed); the decoder stays. */
ENCODEC_API void encodec_ecdc_reader_free(encodec_ecdc_reader *reader);
/**
 * Push the next len bytes of the stream (split anywhere, down to single bytes) and receive all
 * audio that is final given the bytes so far: the audio of every frame whose last bit is in
 * (as much as the decoder gives for those frames), trimmed to the stream's length; once the
 * last frame is in, all the rest.
 *
 * LM-coded streams (use_lm): a frame can take less than a bit, so a few bytes can complete
 * any number of frames; once their header is in, encodec_ecdc_reader_max_samples() bounds
 * the rest of the stream. Decode them with encodec_ecdc_reader_push_partial(), which takes
 * an output buffer of any size from encodec_ecdc_reader_min_samples() on. (A push that
 * completes such a header and brings payload whose audio exceeds max_samples fails with
 * ENCODEC_EBUFFER, sticky.)
 * @param pcm       interleaved output, room for max_samples samples per channel, at least
 *                  encodec_ecdc_reader_max_samples(reader, len) (else ENCODEC_EBUFFER, nothing
 *                  consumed); may be NULL when max_samples is 0
 * @param n_samples receives the samples per channel written
 * @return ENCODEC_OK; ENCODEC_EINVAL; ENCODEC_EBUFFER; ENCODEC_ESTATE after the finish;
 *         ENCODEC_EECDC_MAGIC / _VERSION / _HEADER (also for an inconsistent live length);
 *         ENCODEC_EECDC_MODEL (another model's stream or more codebooks than the model has);
 *         ENCODEC_EUNSUPPORTED (an LM-coded stream and no LM attached to the model, or more
 *         codebooks than it has; a live LM-coded stream); ENCODEC_EECDC_TRAILING (bytes after
 *         the end); ENCODEC_EECDC_CORRUPT (sticky) for a segment scale that is not a positive
 *         finite number or a symbol the entropy decoder cannot decode; ENCODEC_ENOMEM
 */
ENCODEC_API int encodec_ecdc_reader_push(encodec_ecdc_reader *reader, const uint8_t *data,
                                         size_t len, float *pcm, size_t max_samples,
                                         size_t *n_samples);
/**
 * As encodec_ecdc_reader_push(), but decoding only as much of data[0, len) as the output can
 * take: *consumed receives the bytes used; when it is less than len, the output is full: hand
 * on the audio and call again with the rest. Works for every stream, and is the way to decode
 * LM-coded ones with a small buffer.
 * @param max_samples at least encodec_ecdc_reader_min_samples(reader) (else ENCODEC_EBUFFER,
 *                    nothing consumed)
 * @return as encodec_ecdc_reader_push(); after an error *consumed and *n_samples are 0
 */
ENCODEC_API int encodec_ecdc_reader_push_partial(encodec_ecdc_reader *reader,
                                                 const uint8_t *data, size_t len,
                                                 size_t *consumed, float *pcm,
                                                 size_t max_samples, size_t *n_samples);
/** Smallest output (samples per channel) with which encodec_ecdc_reader_push_partial() always
 *  makes progress: a frame, plus what the decoder holds back (its start-up delay, a segment). */
ENCODEC_API size_t encodec_ecdc_reader_min_samples(const encodec_ecdc_reader *reader);
/**
 * End of input. Returns ENCODEC_OK when the stream was complete, ENCODEC_EECDC_TRUNCATED when
 * it ended early, or the earlier error. The audio has all been handed out by the pushes with
 * the formats defined so far (*n_samples = 0); pcm needs room for
 * encodec_ecdc_reader_max_samples(reader, 0) samples. Later pushes: ENCODEC_ESTATE.
 */
ENCODEC_API int encodec_ecdc_reader_finish(encodec_ecdc_reader *reader, float *pcm,
                                           size_t max_samples, size_t *n_samples);
/**
 * The header, once it has been read: ENCODEC_OK; ENCODEC_EECDC_TRUNCATED before, or the error
 * that stopped the reader. audio_length is 0 for a live stream until its end has been read,
 * then the true length.
 */
ENCODEC_API int encodec_ecdc_reader_info(const encodec_ecdc_reader *reader,
                                         encodec_ecdc_info *info);
/** Most samples per channel a push of n_bytes bytes can return (tighter once the header
 *  is in: push the header's bytes first for a small bound); 0 for n_bytes = 0. For an
 *  LM-coded stream whose header is in: all the rest of the stream (see the push). */
ENCODEC_API size_t encodec_ecdc_reader_max_samples(const encodec_ecdc_reader *reader,
                                                   size_t n_bytes);

/* ---- end of incremental .ecdc byte streams ------------------------------------------------ */

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
