/*
 * tasft/emd.h - the fused EMD-bound kernel of TA-SFT.
 *
 * For every row n with a target y = targets[n] (rows whose target is ignore_index are skipped):
 *   p    = softmax(logits[n, 0:vocab])                  (-inf logits are masked tokens, probability 0)
 *   u    = sum_v p_v * ehat_v                           (the expected embedding)
 *   r    = u - ehat_y
 *   loss_rows[n]          = ||r||^2                     (0 <= loss <= 4 for unit rows)
 *   grad_logits[n, v]     = grad_scale * 2 p_v (r . ehat_v - r . u)
 * computed in one pass over the vocabulary per block of rows, accumulated in fp32 or better, without a
 * logits-sized intermediate. Columns past `vocab` in a padded row are never read or written.
 */
#ifndef TASFT_EMD_H
#define TASFT_EMD_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { TASFT_FLOAT32 = 0, TASFT_BFLOAT16 = 1, TASFT_FLOAT16 = 2 } tasft_dtype;
typedef enum { TASFT_OK = 0, TASFT_INVALID_ARGUMENT = 1, TASFT_UNSUPPORTED = 2, TASFT_CUDA_ERROR = 3,
               TASFT_OUT_OF_MEMORY = 4 } tasft_status;
typedef struct {
    const void*    logits;             /* [rows, logits_row_stride] in logits_dtype; only the first vocab columns are read */
    int            logits_dtype;       /* tasft_dtype */
    int64_t        rows, vocab, logits_row_stride;
    const void*    unit_embedding;     /* [vocab, dim], rows of unit L2 norm, row-major, in embedding_dtype */
    int            embedding_dtype;    /* tasft_dtype */
    int64_t        dim;
    const int64_t* targets;            /* [rows]; ignore_index marks a row without a target */
    int64_t        ignore_index;
    float          grad_scale;         /* grad_logits = grad_scale * d loss_rows[n] / d logits[n, :] */
    float*         loss_rows;          /* [rows] out: ||ehat[y] - softmax(logits[n]) @ ehat||^2, 0 for ignored rows */
    void*          grad_logits;        /* [rows, logits_row_stride] out, in logits_dtype; NULL = forward only;
                                          may equal logits (gradient written in place); 0 for ignored rows */
    float*         expected_embedding; /* [rows, dim] out, optional (NULL); 0 for ignored rows */
    void*          cuda_stream;        /* cudaStream_t for tasft_emd_cuda; ignored by tasft_emd_cpu */
} tasft_emd_args;

/* Host pointers. Multi-threaded (OpenMP); returns a tasft_status. */
int tasft_emd_cpu(const tasft_emd_args* args);

/* Device pointers, asynchronous on cuda_stream. The targets are range-checked before the launch, which copies
 * them to the host and waits for the stream; TASFT_UNSUPPORTED when the library was built without CUDA. */
int tasft_emd_cuda(const tasft_emd_args* args);

/* Message of this thread's last failure ("" if none). Valid until this thread's next call into the library. */
const char* tasft_last_error(void);

/* ---- additions beyond the fixed core API ---- */

/* As tasft_emd_cuda, but fully asynchronous: the targets are not checked on the host. A row whose target is out of
 * range (and not ignore_index) gets a NaN loss and a NaN gradient instead of an error. */
int tasft_emd_cuda_async(const tasft_emd_args* args);

/* 1 when the library was compiled with CUDA and a CUDA device is usable, else 0. */
int tasft_cuda_available(void);

/* Scales each row of a [rows, dim] matrix to unit L2 norm: out = in / max(||in||, 1e-12) (rows of zeros stay 0).
 * `in` and `out` have the same dtype and may be the same buffer. Host pointers. */
int tasft_normalize_rows_cpu(const void* in, void* out, int dtype, int64_t rows, int64_t dim);

/* Threads used by tasft_emd_cpu; n <= 0 restores the default (the OpenMP default, usually one per core). */
void tasft_cpu_set_num_threads(int n);
int tasft_cpu_get_num_threads(void);

/* Instruction set tasft_emd_cpu uses on this CPU: "avx512", "avx2" or "generic" (the environment variable
 * TASFT_CPU_ISA=generic|avx2 forces a narrower one). */
const char* tasft_cpu_isa(void);

/* Version string of the library, e.g. "0.1.0 (cuda sm_80,sm_90a)" or "0.1.0 (cpu only)". */
const char* tasft_version(void);

#ifdef __cplusplus
}
#endif

#endif /* TASFT_EMD_H */
