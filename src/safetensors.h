/* Safetensors container: parse and validate the header of a weights file held in memory
 * (8-byte little-endian header length, JSON header, raw little-endian tensor data), and give
 * access to each tensor by name. Knows nothing about models: shape checks against a
 * configuration are the model binder's job (model.c). */
#ifndef ECL_SAFETENSORS_H
#define ECL_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#define ECL_ST_MAX_DIMS 8

/* The container accepts these dtypes; weights must be F32 or F16 (checked by model.c),
 * the others occur in test-vector files. Anything else is ENCODEC_EWEIGHTS_DTYPE. */
typedef enum { ECL_DTYPE_F32, ECL_DTYPE_F16, ECL_DTYPE_I32, ECL_DTYPE_U8 } ecl_dtype;

typedef struct {
    const char *name;                 /* points into the parsed JSON; valid while the file is */
    ecl_dtype dtype;
    int n_dims;
    int64_t shape[ECL_ST_MAX_DIMS];
    size_t n_elements;
    const uint8_t *data;              /* inside the caller's buffer; may be unaligned */
} ecl_tensor;

typedef struct ecl_safetensors ecl_safetensors;

/* Parse and validate buf[0..len). The buffer must outlive the returned object.
 * Checks: header length fits, JSON object, every entry has a known dtype, a shape of
 * non-negative ints, data_offsets [begin, end] inside the data area with end - begin equal to
 * the shape's byte size, no two tensors overlapping. On failure returns an ENCODEC_EWEIGHTS_*
 * (or ENCODEC_ENOMEM) code and writes a message naming the tensor into msg. */
int ecl_safetensors_open(const uint8_t *buf, size_t len, ecl_safetensors **out,
                         char *msg, size_t msg_size);
void ecl_safetensors_close(ecl_safetensors *st);

/* Tensor by exact name, or NULL. */
const ecl_tensor *ecl_safetensors_find(const ecl_safetensors *st, const char *name);
int ecl_safetensors_count(const ecl_safetensors *st);
const ecl_tensor *ecl_safetensors_at(const ecl_safetensors *st, int i);

/* String value of a key of "__metadata__", or NULL if absent. */
const char *ecl_safetensors_metadata(const ecl_safetensors *st, const char *key);

/* Copy a tensor's elements into dst as float32 (converting F16), n = t->n_elements.
 * Only for F32/F16 tensors. */
void ecl_tensor_read_f32(const ecl_tensor *t, float *dst);
/* A weight tensor as a model needs it: present (else ENCODEC_EWEIGHTS_MISSING), F32 or F16
 * (ENCODEC_EWEIGHTS_DTYPE), of exactly this shape (ENCODEC_EWEIGHTS_SHAPE), all values finite
 * (ENCODEC_EWEIGHTS_VALUE); copied into dst as float32 (dst may be NULL to only check the
 * first three). Messages name `source` and the tensor. */
int ecl_safetensors_read_weight(const ecl_safetensors *st, const char *name, int n_dims,
                                const int64_t *shape, float *dst, const char *source,
                                char *msg, size_t msg_size);

/* Element size in bytes of a dtype. */
size_t ecl_dtype_size(ecl_dtype dtype);

#endif
