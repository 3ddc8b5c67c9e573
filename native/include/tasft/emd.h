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

/* ---- vocabulary-parallel form (an LM head split over ranks by vocabulary) ----
 *
 * A slice holds the columns [vocab_start, vocab_start + vocab) of the logits and the same rows of ehat; targets are
 * global ids. The unsplit result follows from three steps (n = row, k = slice, y = targets[n]):
 *
 *   1. tasft_emd_vp_partial_*, per slice:  m_k = max_v z_v            l_k = sum_v exp(z_v - m_k)
 *                                           s_k = sum_v exp(z_v - m_k) ehat_v
 *                                           t_k = 1 if y lies in the slice, else 0;   e_k = t_k ? ehat_y : 0
 *   2. tasft_emd_vp_merge_*, over slices:  M = max_k m_k,  c_k = exp(m_k - M)  (0 where m_k = -inf)
 *                                           L = sum_k c_k l_k,  S = sum_k c_k s_k,  T = sum_k t_k (must be 1),
 *                                           u = S / L,  r = u - sum_k e_k,  loss_rows = ||r||^2,
 *                                           lse = M + log L (kept as the pair M, log L: their sum would round)
 *   3. tasft_emd_vp_backward_*, per slice:  grad[n, v] = grad_scale * 2 exp(z_v - M - log L) (r . ehat_v - r . u)
 *
 * Partial statistics, float32: slice_max [rows] (m) and slice_stats [rows, TASFT_EMD_VP_STATS(dim)], row n =
 *     [0] l    [1] t    [2, 2 + dim) s    [2 + dim, 2 + 2 dim) e
 * so everything that is summed across slices is one buffer. Across ranks (c10d / NCCL), step 2 is
 *     all_reduce(MAX) of slice_max (-> M, in place or a copy);  tasft_emd_vp_rescale_*(rows, dim, m, M, slice_stats);
 *     all_reduce(SUM) of slice_stats;  tasft_emd_vp_merge_* with slices = 1, slice_max = M, the summed stats
 * (every rank gets the same merged values; 4 (rows + rows (2 dim + 2)) bytes per rank instead of a [rows, vocab]
 * gather), or, deterministic given the rank order: all_gather slice_max into [ranks, rows] and slice_stats into
 * [ranks, rows, TASFT_EMD_VP_STATS(dim)], then merge with slices = ranks. Every rank then runs step 3 on its slice.
 * Ignored rows (target == ignore_index): partial m = 0 and stats 0; merged values 0 (loss included); gradient 0.
 * A slice whose logits of a row are all -inf has m = -inf, l = 0, s = 0. The caller makes the slices cover the
 * vocabulary without overlap: the merge can check that each target lies in exactly one slice, nothing more.
 */
#define TASFT_EMD_VP_STATS(dim) (2 * (dim) + 2)

/* One slice, for tasft_emd_vp_partial_* (fills slice_max, slice_stats) and tasft_emd_vp_backward_* (reads the merged
 * statistics, writes grad_logits). Unused fields of the other call may be anything. */
typedef struct {
    const void*    logits;             /* [rows, logits_row_stride] in logits_dtype: the slice's columns, the first
                                          vocab are read */
    int            logits_dtype;       /* tasft_dtype */
    int64_t        rows, vocab, logits_row_stride;  /* vocab = the slice's width (>= 1) */
    int64_t        vocab_start;        /* global id of the slice's column 0 */
    int64_t        vocab_total;        /* the whole vocabulary; vocab_start + vocab <= vocab_total */
    const void*    unit_embedding;     /* [vocab, dim]: the slice's rows of ehat (unit L2 norm), in embedding_dtype */
    int            embedding_dtype;    /* tasft_dtype */
    int64_t        dim;
    const int64_t* targets;            /* [rows] global ids in [0, vocab_total), or ignore_index */
    int64_t        ignore_index;
    /* partial: out */
    float*         slice_max;          /* [rows] m */
    float*         slice_stats;        /* [rows, TASFT_EMD_VP_STATS(dim)] l, t, s, e */
    /* backward: in (from the merge) */
    const float*   row_max;            /* [rows] M */
    const float*   row_log_sumexp;     /* [rows] log L */
    const float*   residual;           /* [rows, dim] r */
    const float*   residual_dot_expected; /* [rows] r . u */
    /* backward: out, as in tasft_emd_args */
    float          grad_scale;
    void*          grad_logits;        /* [rows, logits_row_stride] in logits_dtype; may equal logits; 0 for ignored
                                          rows; columns past vocab never written */
    void*          cuda_stream;        /* cudaStream_t for the _cuda forms */
} tasft_emd_vp_slice_args;

/* The merge of `slices` partial results (in that order; the sums run over k = 0, 1, ...). */
typedef struct {
    int64_t        slices, rows, dim;  /* slices >= 1 */
    const float*   slice_max;          /* [slices, rows] */
    const float*   slice_stats;        /* [slices, rows, TASFT_EMD_VP_STATS(dim)] */
    const int64_t* targets;            /* [rows] global ids or ignore_index */
    int64_t        ignore_index;
    float*         loss_rows;          /* [rows] out: ||r||^2, as tasft_emd_args.loss_rows */
    float*         row_max;            /* [rows] out: M */
    float*         row_log_sumexp;     /* [rows] out: log L */
    float*         residual;           /* [rows, dim] out: r = u - ehat_y */
    float*         residual_dot_expected; /* [rows] out: r . u */
    float*         expected_embedding; /* [rows, dim] out, optional (NULL): u */
    void*          cuda_stream;        /* cudaStream_t for tasft_emd_vp_merge_cuda */
} tasft_emd_vp_merge_args;

/* Host pointers, multi-threaded. Targets are range-checked: INVALID_ARGUMENT names the first bad one; the merge also
 * fails when a row's target lies in no slice or in more than one. Outputs must not overlap inputs (except
 * grad_logits == logits). */
int tasft_emd_vp_partial_cpu(const tasft_emd_vp_slice_args* args);
int tasft_emd_vp_merge_cpu(const tasft_emd_vp_merge_args* args);
int tasft_emd_vp_backward_cpu(const tasft_emd_vp_slice_args* args);
/* slice_stats[n] (l and s) *= exp(slice_max[n] - global_max[n]) (0 where slice_max[n] = -inf), for the all-reduce
 * recipe; global_max[n] >= slice_max[n]. */
int tasft_emd_vp_rescale_cpu(int64_t rows, int64_t dim, const float* slice_max, const float* global_max,
                             float* slice_stats);

/* Device pointers, asynchronous on cuda_stream (no host copy of the targets, no wait): a target outside
 * [0, vocab_total) counts as in no slice, and a row whose target lies in no slice or in several gets NaN (loss,
 * residual, gradient) instead of an error. TASFT_UNSUPPORTED without CUDA. */
int tasft_emd_vp_partial_cuda(const tasft_emd_vp_slice_args* args);
int tasft_emd_vp_merge_cuda(const tasft_emd_vp_merge_args* args);
int tasft_emd_vp_backward_cuda(const tasft_emd_vp_slice_args* args);
int tasft_emd_vp_rescale_cuda(int64_t rows, int64_t dim, const float* slice_max, const float* global_max,
                              float* slice_stats, void* cuda_stream);

/* Threads used by tasft_emd_cpu; n <= 0 restores the default (the OpenMP default, usually one per core). */
void tasft_cpu_set_num_threads(int n);
int tasft_cpu_get_num_threads(void);

/* Instruction set the _cpu entry points use by default on this CPU (TASFT_CPU_ISA_DEFAULT below): "avx512", "avx2"
 * or "generic"; the environment variable TASFT_CPU_ISA=generic|avx2 narrows the default. A tasft_emd_variant picks
 * one per call instead. */
const char* tasft_cpu_isa(void);

/* Version string of the library, e.g. "0.1.0 (cuda sm_80,sm_90a)" or "0.1.0 (cpu only)". */
const char* tasft_version(void);

/* ---- skipping mode: skip vocabulary tiles of negligible probability, with a reported error bound ----
 *
 * After the log-sum-exp pass p_v = exp(z_v - lse) is known for every entry. A tile of the vocabulary (a few rows
 * by a few columns; the tile shape is the implementation's: CPU forward up to 8 rows x 64-256 columns, CPU backward
 * up to 8 rows x 16-32 columns, CUDA v1 1 row x 32 columns, CUDA v2 64 rows x 32 columns) is skipped when EVERY p_v in
 * it is below `threshold`: in the forward its terms p_v e_v are left out of u, in the backward its gradient entries
 * are written as 0 without computing r . e_v. Forward and backward decide independently (their tiles differ), each
 * skipping only entries with p_v < threshold. The mass of what the forward skipped is known exactly (up to fp32
 * rounding of p), and from it the kernel reports a bound on the loss error of each row.
 *
 * Derivation (per row; unit embedding rows, so ||e_v|| = 1, ||u|| <= 1, ||r|| <= 2):
 *   S = entries the forward skipped,  q = sum_{v in S} p_v  (skipped_mass),  delta = sum_{v in S} p_v e_v,
 *   ||delta|| <= sum_{v in S} p_v ||e_v|| = q                                   (triangle inequality)
 *   computed: u' = u - delta,  r' = u' - e_y = r - delta,  L' = ||r'||^2 (what loss_rows holds)
 *   exact:    L = ||r||^2 = ||r' + delta||^2 = L' + 2 r'.delta + ||delta||^2
 *   so        |L - L'| <= 2 ||r'|| q + q^2 = 2 sqrt(L') q + q^2                  (loss_error_bound)
 * The bound covers the skipping only; the fp32 rounding of the exact kernel (about 1e-6 relative) comes on top.
 * Gradient (grad_scale = 1; both follow from dz_v = 2 p_v (r.e_v - r.u) with r = r' + delta, u = u' + delta):
 *   kept entries:    |dz_v - dz'_v| = 2 p_v |delta.e_v - r'.delta - delta.u' - ||delta||^2|
 *                                  <= 2 p_v q (1 + ||r'|| + ||u'|| + q)
 *   skipped entries: |dz_v| = 2 p_v |r.(e_v - u)| <= 2 p_v (||r'|| + q)(1 + ||u'|| + q) < 8 threshold.
 * Since p_v < threshold for every skipped entry, q <= threshold * (entries skipped); on the peaked distributions of
 * trained language models (most of a 32k-128k vocabulary below 1e-6) q is far smaller than that worst case.
 *
 * threshold 0 skips nothing and gives exactly the results of tasft_emd_cpu / tasft_emd_cuda (same code path, same
 * bits), with loss_error_bound and skipped_mass 0. Ignored rows get bound 0 and mass 0. */
typedef struct {
    float  threshold;         /* skip tiles whose every p_v < threshold; 0 = exact; must be in [0, 1] */
    float* loss_error_bound;  /* [rows] out, optional (NULL): 2 sqrt(loss) q + q^2 per row */
    float* skipped_mass;      /* [rows] out, optional (NULL): q, the probability mass the forward left out */
} tasft_emd_skip;

/* tasft_emd_cpu with skipping (host pointers); skip == NULL is tasft_emd_cpu. */
int tasft_emd_cpu_skip(const tasft_emd_args* args, const tasft_emd_skip* skip);

/* tasft_emd_cuda / tasft_emd_cuda_async with skipping (device pointers, loss_error_bound and skipped_mass included);
 * skip == NULL is the call without it. */
int tasft_emd_cuda_skip(const tasft_emd_args* args, const tasft_emd_skip* skip);
int tasft_emd_cuda_skip_async(const tasft_emd_args* args, const tasft_emd_skip* skip);

/* What TASFT_CUDA_KERNEL_AUTO (below) means in general: "auto" (the rule below), or "v1", "v2", "v3" where the
 * environment variable TASFT_CUDA_KERNEL names a version; "invalid" when the variable holds anything else (the calls
 * that would read it then fail with TASFT_INVALID_ARGUMENT naming it); "none" without CUDA. The variable is read on
 * every call. Which version one particular call runs: tasft_emd_cuda_kernel_choice. */
const char* tasft_cuda_kernel(void);

/* ---- explicit variants: which implementation of the same math one call runs ----
 *
 * The CPU kernel is compiled for three instruction sets and the CUDA kernel exists in three versions; all compute the
 * math at the top of this header (v2 and v3 within the bf16 error bounds of test_emd_cuda.cpp). A call without a
 * variant (every entry point above, or variant == NULL below) takes the defaults: the widest instruction set the CPU
 * has, narrowed by the environment variable TASFT_CPU_ISA (see tasft_cpu_isa), and the CUDA kernel AUTO picks. A
 * variant names the implementation instead: tests cover every one, benchmarks time one, users pin one. An explicit
 * choice (cpu_isa GENERIC / AVX2 / AVX512, cuda_kernel V1 / V2 / V3) ignores the environment variables and is either
 * run or refused before anything is written: TASFT_UNSUPPORTED, with tasft_last_error() saying why, never a silent
 * substitute.
 *
 * TASFT_CUDA_KERNEL_AUTO, the fastest version valid for the call's arguments on the current device:
 *   v3  when v3 has been validated on GPUs (a property of the library build, until then never automatic) and it can
 *       run the call (an sm_90 device and library code for it, its dtypes, alignment and options);
 *   v2  else when the logits are bf16 or fp16, the embedding is bf16 and v2 can run the call (sm_80+, grid limits):
 *       25x faster than v1 on an H200 at 1,024-8,192 rows, errors within the bf16 bounds (bench/RESULTS.md);
 *   v1  else (fp32 logits keep v1's fp32 arithmetic: v2 rounds p and r to bf16 for its tensor-core GEMMs).
 * The environment variable TASFT_CUDA_KERNEL=auto|v1|v2|v3 changes what AUTO means, for users who cannot change the
 * calling code: vN runs version N wherever it can run the call (v3 even before it is validated) and the rule above
 * everywhere else; auto (or unset, or empty) is the rule; any other value makes every AUTO call fail with
 * TASFT_INVALID_ARGUMENT naming the variable. Explicit versions never read it. */
typedef enum { TASFT_CPU_ISA_DEFAULT = 0, TASFT_CPU_ISA_GENERIC = 1, TASFT_CPU_ISA_AVX2 = 2,
               TASFT_CPU_ISA_AVX512 = 3 } tasft_cpu_isa_id;
typedef enum { TASFT_CUDA_KERNEL_AUTO = 0, TASFT_CUDA_KERNEL_V1 = 1, TASFT_CUDA_KERNEL_V2 = 2,
               TASFT_CUDA_KERNEL_V3 = 3,
               TASFT_CUDA_KERNEL_DEFAULT = TASFT_CUDA_KERNEL_AUTO /* the former name of AUTO */ } tasft_cuda_kernel_id;
typedef struct {
    int cpu_isa;      /* tasft_cpu_isa_id, used by the _cpu entry points:
                           GENERIC  portable C++ (x86-64 baseline), runs on every CPU
                           AVX2     AVX2 + FMA + F16C (x86-64-v3)
                           AVX512   AVX-512 F, VL, BW, DQ (x86-64-v4)
                         TASFT_UNSUPPORTED when this CPU (or a build for another architecture) lacks it */
    int cuda_kernel;  /* tasft_cuda_kernel_id, used by tasft_emd_cuda_variant* (and tasft_emd_cuda_kernel_choice):
                           AUTO the rule above
                           V1  one block per row, fp32 (any dtypes, any device the library was built for)
                           V2  tensor cores (bf16 WMMA); TASFT_UNSUPPORTED unless the embedding is bf16, the device
                               is sm_80+ and rows / vocab fit its grid (rows <= 4,194,240)
                           V3  wgmma + TMA on sm_90a (emd_cuda_v3.cu); TASFT_UNSUPPORTED where it cannot run the
                               call, the message says why */
} tasft_emd_variant;        /* both fields are checked by every _variant entry point (INVALID_ARGUMENT when out of
                               range), each used where it applies; zero-initialised = the defaults */

/* tasft_emd_cpu / tasft_emd_cpu_skip with an explicit variant: skip == NULL is the exact kernel, variant == NULL the
 * defaults (tasft_emd_cpu_variant(a, NULL, NULL) is tasft_emd_cpu(a), same bits). Host pointers. */
int tasft_emd_cpu_variant(const tasft_emd_args* args, const tasft_emd_skip* skip, const tasft_emd_variant* variant);

/* tasft_emd_cuda(_skip) and tasft_emd_cuda(_skip)_async with an explicit variant; NULLs as in tasft_emd_cpu_variant.
 * Device pointers; the _async form does not check the targets on the host, as tasft_emd_cuda_async. */
int tasft_emd_cuda_variant(const tasft_emd_args* args, const tasft_emd_skip* skip, const tasft_emd_variant* variant);
int tasft_emd_cuda_variant_async(const tasft_emd_args* args, const tasft_emd_skip* skip,
                                 const tasft_emd_variant* variant);

/* The CUDA kernel version (TASFT_CUDA_KERNEL_V1, _V2 or _V3) that tasft_emd_cuda_variant(args, skip, variant) runs on
 * the calling thread's current device, in *kernel, without running it: for logs and benchmarks. The same checks and
 * the same failures as that call before its launch (bad arguments, a bad TASFT_CUDA_KERNEL under AUTO, no device, an
 * explicit version that cannot run the call: *kernel is then left alone), except that the targets are not read, and
 * that rows = 0, where the call returns at once, still gets its answer (the device is needed then too). Device
 * pointers are only checked for NULL and alignment, never dereferenced. TASFT_UNSUPPORTED without CUDA. */
int tasft_emd_cuda_kernel_choice(const tasft_emd_args* args, const tasft_emd_skip* skip,
                                 const tasft_emd_variant* variant, int* kernel);

/* tasft_emd_vp_partial_cpu / tasft_emd_vp_backward_cpu on an explicit instruction set (variant->cpu_isa; NULL = the
 * default). The merge and the rescale are plain loops without variants; the _cuda forms have one kernel. */
int tasft_emd_vp_partial_cpu_variant(const tasft_emd_vp_slice_args* args, const tasft_emd_variant* variant);
int tasft_emd_vp_backward_cpu_variant(const tasft_emd_vp_slice_args* args, const tasft_emd_variant* variant);

/* 1 when the _cpu entry points can run `cpu_isa` (a tasft_cpu_isa_id; DEFAULT and GENERIC always) on this CPU, else 0
 * (also for values that are not a tasft_cpu_isa_id). */
int tasft_cpu_isa_available(int cpu_isa);

/* ---- fused LM head: the TA-SFT loss from the final hidden states, with no [rows, vocab] logits in memory ----
 *
 * For every row n whose role is CE or EMD and whose target y = targets[n] is not ignore_index, with the logits
 * z = W h_n (z_v = weight[v] . hidden[n], v < vocab) computed tile by tile over the vocabulary and never stored:
 *   TASFT_HEAD_CE   loss_rows[n] = logsumexp(z) - z_y                      (cross-entropy, -log softmax(z)_y)
 *                   dloss/dz_v   = p_v - [v == y]
 *   TASFT_HEAD_EMD  loss_rows[n] = ||u - ehat_y||^2, u = sum_v p_v ehat_v (the EMD bound, as tasft_emd_cpu)
 *                   dloss/dz_v   = 2 p_v (r . ehat_v - r . u),  r = u - ehat_y
 * with p = softmax(z). With g_nv = scale(role of n) * dloss_n/dz_v (scale = ce_grad_scale or emd_grad_scale), the
 * gradients of sum_n scale(n) loss_rows[n] are
 *   grad_hidden[n, :] = sum_v g_nv weight[v, :]       written (0 for ignored rows)
 *   grad_weight[v, :] += sum_n g_nv hidden[n, :]      ACCUMULATED into what the buffer holds (zero it for a plain
 *                                                      gradient; pass the input embedding's gradient for a tied head)
 * Ignored rows (role TASFT_HEAD_IGNORE, or target == ignore_index) get loss 0 and gradient 0. The CPU form makes two
 * passes over the vocabulary tiles (log-sum-exp, z_y and u, then the backward GEMMs); it holds per row only
 * O(dim) statistics, per thread a few tiles, and per thread one [rows, hidden_dim] float accumulator of grad_hidden
 * (the backward pass is split over the vocabulary). Dtypes: hidden, weight and unit_embedding in any tasft_dtype,
 * accumulation in fp32 (sums of exponentials in fp64), the gradients in float32. */
typedef enum { TASFT_HEAD_IGNORE = 0, TASFT_HEAD_CE = 1, TASFT_HEAD_EMD = 2 } tasft_head_role;
typedef struct {
    const void*    hidden;             /* [rows, hidden_row_stride] in hidden_dtype: the final hidden states (after the
                                          last norm); the first hidden_dim columns are read */
    int            hidden_dtype;       /* tasft_dtype */
    int64_t        rows, hidden_dim, hidden_row_stride;
    const void*    weight;             /* [vocab, hidden_dim] in weight_dtype, row-major, contiguous: the LM head */
    int            weight_dtype;       /* tasft_dtype */
    int64_t        vocab;
    const void*    unit_embedding;     /* [vocab, dim], unit rows, in embedding_dtype; read only when a row is EMD
                                          (may be NULL when none is) */
    int            embedding_dtype;    /* tasft_dtype */
    int64_t        dim;                /* > 0 when unit_embedding is given; ignored otherwise */
    const int64_t* targets;            /* [rows]; ignore_index marks a row without a target */
    int64_t        ignore_index;
    const int8_t*  roles;              /* [rows] tasft_head_role */
    float          ce_grad_scale;      /* scale of CE rows' gradients (e.g. 1 / safe tokens) */
    float          emd_grad_scale;     /* scale of EMD rows' gradients (e.g. -lambda / harmful sequences) */
    float*         loss_rows;          /* [rows] out, float32 */
    float*         grad_hidden;        /* [rows, hidden_dim] out, float32, compact; NULL = not computed */
    float*         grad_weight;        /* [vocab, hidden_dim] in/out, float32, compact, accumulated; NULL = not
                                          computed (a frozen head). Both NULL = forward only */
    void*          cuda_stream;        /* cudaStream_t for tasft_head_cuda; ignored by the CPU form */
} tasft_head_args;

/* Host pointers, multi-threaded. Bad arguments (shapes, dtypes, a role outside tasft_head_role, a target outside
 * [0, vocab) that is not ignore_index, an EMD row without unit_embedding) return TASFT_INVALID_ARGUMENT with the
 * argument named, before anything is written. Outputs must not overlap the inputs. */
int tasft_head_cpu(const tasft_head_args* args);
/* tasft_head_cpu on an explicit instruction set (variant->cpu_isa; NULL = the default), as tasft_emd_cpu_variant. */
int tasft_head_cpu_variant(const tasft_head_args* args, const tasft_emd_variant* variant);
/* Device pointers, on cuda_stream: a plain, correct version (one block per row for the statistics and grad_hidden,
 * one per vocabulary entry for grad_weight, fp32). The targets and roles are copied to the host and checked first
 * (the call waits for the stream). TASFT_UNSUPPORTED without CUDA. */
int tasft_head_cuda(const tasft_head_args* args);

#ifdef __cplusplus
}
#endif

#endif /* TASFT_EMD_H */
