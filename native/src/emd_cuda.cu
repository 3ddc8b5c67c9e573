// tasft_emd_cuda / tasft_emd_cuda_async: the fused EMD-bound kernel on a CUDA device.
//
// This is the plain, correct version: later fast kernels are checked against it, so every step follows the math in
// tasft/emd.h as directly as it can. One thread block works on one row at a time (a grid-stride loop over rows):
//   1. block reductions give m = max_v z_v and s = sum_v exp(z_v - m); p_v = exp(z_v - m) / s
//   2. u = sum_v p_v e_v: threads own dimensions d; p for a chunk of the vocabulary is staged in shared memory;
//      u lives in a per-block global workspace (dim is unbounded, so it does not go in shared memory)
//   3. r = u - e_y next to u in the workspace; loss = ||r||^2 by a block reduction
//   4. grad_v = grad_scale * 2 p_v (r . e_v - r . u): a warp takes 32 consecutive v; for each of them the lanes
//      split the dot product over d (coalesced rows of e); lane j keeps the result for v0 + j, re-reads z_v, and
//      writes grad_v. So each logit is read and then overwritten by the same thread: in-place gradients are safe.
//      r . u is computed by the same warp dot product as r . e_v, so when p is one-hot (u == e_v bit for bit) the
//      difference, and the gradient, is exactly 0 as in the math.
// All arithmetic is fp32; inputs are fp32, bf16 or fp16 (logits and embedding independently); the gradient is
// stored in the logits dtype.
//
// Skipping mode (kSkip, tasft_emd_skip): the tiles are 32 aligned columns of one row. In step 2 each warp holds 32
// consecutive p of the chunk; when all are below the threshold (a warp vote) the group is left out of u and its mass
// goes into q; in step 4 the warp that owns the same 32 columns recomputes the same p (same expression, same bits),
// takes the same vote and writes zeros without the dot products.
//
// Kernel versions (llm.c's dev/cuda style: every version stays runnable and is timed by bench/gpu):
//   v1 = this file, the oracle on the device;  v2 = emd_cuda_v2.cu, tensor cores;  v3 = emd_cuda_v3.cu, wgmma + TMA.
//   tasft_emd_variant.cuda_kernel names one per call; AUTO picks one by the rule of emd_cuda_choice.h (choose below).
#include <cinttypes>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "emd_cuda_choice.h"
#include "emd_cuda_common.cuh"

namespace tasft {
namespace {
using namespace cuda;

struct KernelArgs {
    const void* logits;
    void* grad_logits;  // may equal logits
    const void* embedding;
    const int64_t* targets;
    float* loss_rows;
    float* expected_embedding;
    float* workspace;  // [gridDim.x, 2, dim]: u and r of the block's current row
    int64_t rows, vocab, stride, dim, ignore_index;
    float grad_scale;
    float threshold;         // kSkip only
    float* loss_error_bound; // kSkip only, may be NULL
    float* skipped_mass;     // kSkip only, may be NULL
};

// No __restrict__ on logits / grad_logits: they may alias, and the loads must not go through the read-only cache.
template <typename TL, typename TE, bool kSkip>
__global__ void __launch_bounds__(kBlock) emd_kernel(KernelArgs a) {
    __shared__ float red[kWarps + 1];
    __shared__ float p_chunk[kBlock];
    __shared__ int group_kept[kWarps];  // kSkip: does warp w's group of 32 columns of the chunk stay in?

    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int64_t vocab = a.vocab, dim = a.dim;
    const TE* emb = static_cast<const TE*>(a.embedding);
    float* u = a.workspace + (int64_t)blockIdx.x * 2 * dim;  // this block's part of the workspace
    float* r = u + dim;

    for (int64_t n = blockIdx.x; n < a.rows; n += gridDim.x) {
        const TL* z = static_cast<const TL*>(a.logits) + n * a.stride;
        TL* g = a.grad_logits ? static_cast<TL*>(a.grad_logits) + n * a.stride : nullptr;
        float* ee = a.expected_embedding ? a.expected_embedding + n * dim : nullptr;
        const int64_t y = a.targets[n];  // the same value in every thread: all branches on it are block-uniform

        if (y == a.ignore_index) {
            if (tid == 0) a.loss_rows[n] = 0.0f;
            if (kSkip && tid == 0) {
                if (a.loss_error_bound) a.loss_error_bound[n] = 0.0f;
                if (a.skipped_mass) a.skipped_mass[n] = 0.0f;
            }
            if (g)
                for (int64_t v = tid; v < vocab; v += kBlock) g[v] = from_float<TL>(0.0f);
            if (ee)
                for (int64_t d = tid; d < dim; d += kBlock) ee[d] = 0.0f;
            continue;
        }
        // Only tasft_emd_cuda_async can get here with a bad target: the row then gets NaN (e_y is never read).
        const bool valid_target = y >= 0 && y < vocab;

        // ---- 1. max and sum of exponentials. Two passes, so a partial max of -inf is never subtracted from
        // itself: with at least one finite logit m is finite and masked (-inf) logits give exp(-inf) = 0.
        // (A row of only -inf logits has no softmax; it yields NaN, as the math does.)
        float m = -INFINITY;
        for (int64_t v = tid; v < vocab; v += kBlock) m = fmaxf(m, to_float(z[v]));
        m = block_reduce(m, MaxOp(), red);
        float s = 0.0f;
        for (int64_t v = tid; v < vocab; v += kBlock) s += expf(to_float(z[v]) - m);
        s = block_reduce(s, SumOp(), red);
        const float inv_s = 1.0f / s;

        // ---- 2. u = sum_v p_v e_v. Thread tid owns d = tid, tid + kBlock, ...: it alone accumulates u[d].
        for (int64_t d = tid; d < dim; d += kBlock) u[d] = 0.0f;
        float q_part = 0.0f;  // kSkip: this thread's share of the skipped mass
        for (int64_t v0 = 0; v0 < vocab; v0 += kBlock) {
            const int64_t v = v0 + tid;
            const float p = v < vocab ? expf(to_float(z[v]) - m) * inv_s : 0.0f;
            p_chunk[tid] = p;
            if (kSkip) {
                // p < threshold is false for NaN: a NaN is never skipped and poisons the row as in the exact kernel.
                const bool all_below = __all_sync(0xffffffffu, p < a.threshold);
                if (lane == 0) group_kept[warp] = !all_below;
                if (all_below) q_part += p;
            }
            __syncthreads();  // the chunk of p is complete
            const int count = (int)(vocab - v0 < kBlock ? vocab - v0 : kBlock);
            const TE* e_chunk = emb + v0 * dim;
            for (int64_t d = tid; d < dim; d += kBlock) {
                float acc = 0.0f;
                if (kSkip) {
                    for (int g = 0; g * 32 < count; ++g) {
                        if (!group_kept[g]) continue;
                        const int end = count < g * 32 + 32 ? count : g * 32 + 32;
                        for (int j = g * 32; j < end; ++j) acc += p_chunk[j] * to_float(e_chunk[(int64_t)j * dim + d]);
                    }
                } else {
                    for (int j = 0; j < count; ++j) acc += p_chunk[j] * to_float(e_chunk[(int64_t)j * dim + d]);
                }
                u[d] += acc;
            }
            __syncthreads();  // everyone is done with p_chunk before the next chunk overwrites it
        }
        float q = 0.0f;
        if (kSkip) q = block_reduce(q_part, SumOp(), red);
        if (ee)
            for (int64_t d = tid; d < dim; d += kBlock) ee[d] = u[d];

        // ---- 3. r = u - e_y, loss = ||r||^2. Same d ownership as step 2.
        float loss_part = 0.0f;
        const TE* e_y = emb + (valid_target ? y : 0) * dim;
        for (int64_t d = tid; d < dim; d += kBlock) {
            const float rd = u[d] - (valid_target ? to_float(e_y[d]) : NAN);
            loss_part += rd * rd;
            r[d] = rd;
        }
        const float loss = block_reduce(loss_part, SumOp(), red);  // its __syncthreads also publish r to the block
        if (tid == 0) a.loss_rows[n] = loss;
        if (kSkip && tid == 0) {
            if (a.loss_error_bound) a.loss_error_bound[n] = 2.0f * sqrtf(loss) * q + q * q;
            if (a.skipped_mass) a.skipped_mass[n] = q;
        }

        // ---- 4. the gradient. Warp `warp` takes v0 = 32 * (warp + k * kWarps); lane j ends up owning v0 + j.
        if (g) {
            const float ru = warp_dot(r, u, dim, lane);  // every warp computes the same value
            const float twice_scale = 2.0f * a.grad_scale;
            for (int64_t v0 = (int64_t)warp * 32; v0 < vocab; v0 += (int64_t)kWarps * 32) {
                const int count = (int)(vocab - v0 < 32 ? vocab - v0 : 32);
                if (kSkip) {
                    // The same 32 columns and the same p as in step 2, so the same vote.
                    const float p = lane < count ? expf(to_float(z[v0 + lane]) - m) * inv_s : 0.0f;
                    if (__all_sync(0xffffffffu, p < a.threshold)) {
                        if (lane < count) g[v0 + lane] = from_float<TL>(0.0f);
                        continue;
                    }
                }
                float mine = 0.0f;  // r . e_{v0 + lane}
                for (int j = 0; j < count; ++j) {
                    const float s_j = warp_dot(r, emb + (v0 + j) * dim, dim, lane);
                    if (lane == j) mine = s_j;
                }
                if (lane < count) {
                    const int64_t v = v0 + lane;
                    const float p = expf(to_float(z[v]) - m) * inv_s;  // read by the thread that overwrites it
                    g[v] = from_float<TL>(twice_scale * p * (mine - ru));
                }
            }
        }
        __syncthreads();  // the workspace row is reused by the block's next row
    }
}

// ---------- host side ----------

template <typename TL, typename TE, bool kSkip>
int launch(const tasft_emd_args* a, const SkipOut& sk, cudaStream_t stream, const char* fn) {
    // Enough blocks to fill the device; each loops over rows, so the workspace is [grid, 2, dim], not [rows, 2, dim].
    int device = 0, sms = 0, per_sm = 0;
    cudaError_t err = cudaGetDevice(&device);
    if (err != cudaSuccess) return cuda_fail(err, fn, "cudaGetDevice");
    err = cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device);
    if (err != cudaSuccess) return cuda_fail(err, fn, "cudaDeviceGetAttribute");
    err = cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, emd_kernel<TL, TE, kSkip>, kBlock, 0);
    if (err != cudaSuccess) return cuda_fail(err, fn, "cudaOccupancyMaxActiveBlocksPerMultiprocessor");
    const int64_t max_grid = (int64_t)(sms > 0 ? sms : 1) * (per_sm > 0 ? per_sm : 1);
    const int64_t grid = a->rows < max_grid ? a->rows : max_grid;

    float* workspace = nullptr;
    const size_t ws_bytes = (size_t)grid * 2 * (size_t)a->dim * sizeof(float);
    if (int st = device_alloc(reinterpret_cast<void**>(&workspace), ws_bytes, stream, fn)) return st;

    KernelArgs k;
    k.logits = a->logits;
    k.grad_logits = a->grad_logits;
    k.embedding = a->unit_embedding;
    k.targets = a->targets;
    k.loss_rows = a->loss_rows;
    k.expected_embedding = a->expected_embedding;
    k.workspace = workspace;
    k.rows = a->rows;
    k.vocab = a->vocab;
    k.stride = a->logits_row_stride;
    k.dim = a->dim;
    k.ignore_index = a->ignore_index;
    k.grad_scale = a->grad_scale;
    k.threshold = sk.threshold;
    k.loss_error_bound = sk.loss_error_bound;
    k.skipped_mass = sk.skipped_mass;
    emd_kernel<TL, TE, kSkip><<<(unsigned)grid, kBlock, 0, stream>>>(k);
    const cudaError_t launch_err = cudaGetLastError();
    // Freed in stream order: the memory returns to the pool once the kernel is done with it.
    const cudaError_t free_err = cudaFreeAsync(workspace, stream);
    if (launch_err != cudaSuccess) return cuda_fail(launch_err, fn, "launching the kernel");
    if (free_err != cudaSuccess) return cuda_fail(free_err, fn, "cudaFreeAsync of the workspace");
    return TASFT_OK;
}

template <typename TL, typename TE>
int launch_skip(const tasft_emd_args* a, const SkipOut& sk, cudaStream_t stream, const char* fn) {
    return sk.threshold > 0.0f ? launch<TL, TE, true>(a, sk, stream, fn) : launch<TL, TE, false>(a, sk, stream, fn);
}

template <typename TL>
int dispatch_embedding(const tasft_emd_args* a, const SkipOut& sk, cudaStream_t stream, const char* fn) {
    switch (a->embedding_dtype) {
        case TASFT_FLOAT32: return launch_skip<TL, float>(a, sk, stream, fn);
        case TASFT_BFLOAT16: return launch_skip<TL, __nv_bfloat16>(a, sk, stream, fn);
        case TASFT_FLOAT16: return launch_skip<TL, __half>(a, sk, stream, fn);
    }
    return fail(TASFT_INVALID_ARGUMENT, "%s: bad embedding_dtype %d", fn, a->embedding_dtype);  // check_shapes caught it
}

int dispatch_v1(const tasft_emd_args* a, const SkipOut& sk, cudaStream_t stream, const char* fn) {
    switch (a->logits_dtype) {
        case TASFT_FLOAT32: return dispatch_embedding<float>(a, sk, stream, fn);
        case TASFT_BFLOAT16: return dispatch_embedding<__nv_bfloat16>(a, sk, stream, fn);
        case TASFT_FLOAT16: return dispatch_embedding<__half>(a, sk, stream, fn);
    }
    return fail(TASFT_INVALID_ARGUMENT, "%s: bad logits_dtype %d", fn, a->logits_dtype);
}

// The value of TASFT_CUDA_KERNEL, which changes what AUTO means (tasft/emd.h); NULL when unset.
const char* cuda_kernel_env() { return std::getenv("TASFT_CUDA_KERNEL"); }

// Checks TASFT_CUDA_KERNEL where the call would read it (AUTO), before the device is looked at: a bad value fails the
// call whatever it is (rows = 0 and no GPU included), never silently ignored.
int check_env(const tasft_emd_variant* variant, const char* fn) {
    if (variant && variant->cuda_kernel != TASFT_CUDA_KERNEL_AUTO) return TASFT_OK;  // explicit: not read
    int preferred = TASFT_CUDA_KERNEL_AUTO;
    char why[160];
    if (int st = parse_cuda_kernel_env(cuda_kernel_env(), &preferred, why, sizeof why)) return fail(st, "%s: %s", fn, why);
    return TASFT_OK;
}

// The version this call runs (tasft/emd.h's AUTO rule, in emd_cuda_choice.h), decided before anything is written: an
// explicit v2 / v3 that cannot run the call is refused with v2_supports' / v3_supports' reason; AUTO asks them and
// moves on. Needs the device (the supports checks read its compute capability).
int choose(const tasft_emd_args* a, const SkipOut& sk, const tasft_emd_variant* variant, const char* fn, int* kernel) {
    auto supports = [&](int k) {
        return k == TASFT_CUDA_KERNEL_V3 ? v3_supports(a, sk, fn) : v2_supports(a, fn);
    };
    char why[160];
    const int st = choose_cuda_kernel(variant ? variant->cuda_kernel : TASFT_CUDA_KERNEL_AUTO, cuda_kernel_env(),
                                      a->logits_dtype, a->embedding_dtype, v3_validated(), supports, kernel, why,
                                      sizeof why);
    if (st != TASFT_OK) return why[0] ? fail(st, "%s: %s", fn, why) : st;
    clear_error();  // AUTO may have left a version's reason for not running behind
    return TASFT_OK;
}

int dispatch(const tasft_emd_args* a, const SkipOut& sk, int kernel, cudaStream_t stream, const char* fn) {
    // Threshold 0 is the exact kernel; the skipping outputs are then zeros (also for ignored rows).
    if (sk.threshold == 0.0f) {
        for (float* out : {sk.loss_error_bound, sk.skipped_mass}) {
            if (!out) continue;
            const cudaError_t err = cudaMemsetAsync(out, 0, (size_t)a->rows * sizeof(float), stream);
            if (err != cudaSuccess) return cuda_fail(err, fn, "cudaMemsetAsync of the skipping outputs");
        }
    }
    switch (kernel) {
        case TASFT_CUDA_KERNEL_V3: return launch_v3(a, sk, stream, fn);
        case TASFT_CUDA_KERNEL_V2: return launch_v2(a, sk, stream, fn);
        default: return dispatch_v1(a, sk, stream, fn);
    }
}

SkipOut skip_out(const tasft_emd_skip* skip) {
    SkipOut sk;
    if (skip) {
        sk.threshold = skip->threshold;
        sk.loss_error_bound = skip->loss_error_bound;
        sk.skipped_mass = skip->skipped_mass;
    }
    return sk;
}

// The checks every entry point makes before it needs the device.
int check_call(const tasft_emd_args* a, const tasft_emd_skip* skip, const tasft_emd_variant* variant, const char* fn) {
    int st = check_shapes(a, fn);
    if (st == TASFT_OK) st = check_skip(skip, fn);
    if (st == TASFT_OK) st = check_variant(variant, fn);
    if (st == TASFT_OK) st = check_env(variant, fn);
    return st;
}

// Every entry point: checks, the choice of the version, then (when asked) the host-side target check, then the launch.
int run(const tasft_emd_args* a, const tasft_emd_skip* skip, const tasft_emd_variant* variant,
        bool check_targets_on_host, const char* fn) {
    clear_error();
    int st = check_call(a, skip, variant, fn);
    if (st != TASFT_OK) return st;
    const SkipOut sk = skip_out(skip);
    if (a->rows == 0) return TASFT_OK;  // nothing to do; the pointers may be NULL
    st = check_device(fn);
    if (st != TASFT_OK) return st;
    int kernel = TASFT_CUDA_KERNEL_V1;
    st = choose(a, sk, variant, fn, &kernel);
    if (st != TASFT_OK) return st;
    cudaStream_t stream = static_cast<cudaStream_t>(a->cuda_stream);

    if (check_targets_on_host) {
        // Copy the targets back and wait for them: an out-of-range target becomes an error naming the row.
        std::vector<int64_t> host_targets((size_t)a->rows);
        cudaError_t err = cudaMemcpyAsync(host_targets.data(), a->targets, (size_t)a->rows * sizeof(int64_t),
                                          cudaMemcpyDeviceToHost, stream);
        if (err != cudaSuccess) return cuda_fail(err, fn, "copying the targets to the host");
        err = cudaStreamSynchronize(stream);
        if (err != cudaSuccess) return cuda_fail(err, fn, "cudaStreamSynchronize before the target check");
        st = check_targets(host_targets.data(), a->rows, a->vocab, a->ignore_index, fn);
        if (st != TASFT_OK) return st;
    }
    return dispatch(a, sk, kernel, stream, fn);
}

int kernel_choice(const tasft_emd_args* a, const tasft_emd_skip* skip, const tasft_emd_variant* variant, int* kernel,
                  const char* fn) {
    clear_error();
    if (!kernel) return fail(TASFT_INVALID_ARGUMENT, "%s: kernel is NULL", fn);
    int st = check_call(a, skip, variant, fn);
    if (st == TASFT_OK) st = check_device(fn);
    int chosen = TASFT_CUDA_KERNEL_V1;
    if (st == TASFT_OK) st = choose(a, skip_out(skip), variant, fn, &chosen);
    if (st == TASFT_OK) *kernel = chosen;
    return st;
}

}  // namespace
}  // namespace tasft

extern "C" int tasft_emd_cuda(const tasft_emd_args* args) {
    return tasft::run(args, nullptr, nullptr, true, "tasft_emd_cuda");
}

extern "C" int tasft_emd_cuda_async(const tasft_emd_args* args) {
    return tasft::run(args, nullptr, nullptr, false, "tasft_emd_cuda_async");
}

extern "C" int tasft_emd_cuda_skip(const tasft_emd_args* args, const tasft_emd_skip* skip) {
    return tasft::run(args, skip, nullptr, true, "tasft_emd_cuda_skip");
}

extern "C" int tasft_emd_cuda_skip_async(const tasft_emd_args* args, const tasft_emd_skip* skip) {
    return tasft::run(args, skip, nullptr, false, "tasft_emd_cuda_skip_async");
}

extern "C" int tasft_emd_cuda_variant(const tasft_emd_args* args, const tasft_emd_skip* skip,
                                      const tasft_emd_variant* variant) {
    return tasft::run(args, skip, variant, true, "tasft_emd_cuda_variant");
}

extern "C" int tasft_emd_cuda_variant_async(const tasft_emd_args* args, const tasft_emd_skip* skip,
                                            const tasft_emd_variant* variant) {
    return tasft::run(args, skip, variant, false, "tasft_emd_cuda_variant_async");
}

extern "C" int tasft_emd_cuda_kernel_choice(const tasft_emd_args* args, const tasft_emd_skip* skip,
                                            const tasft_emd_variant* variant, int* kernel) {
    return tasft::kernel_choice(args, skip, variant, kernel, "tasft_emd_cuda_kernel_choice");
}

extern "C" const char* tasft_cuda_kernel(void) {
    int kernel = TASFT_CUDA_KERNEL_AUTO;
    char why[160];
    if (tasft::parse_cuda_kernel_env(tasft::cuda_kernel_env(), &kernel, why, sizeof why) != TASFT_OK) return "invalid";
    return tasft::cuda_kernel_name(kernel);
}

extern "C" int tasft_cuda_available(void) {
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess) {
        cudaGetLastError();  // clear the error so it does not surface in a later, unrelated check
        return 0;
    }
    return count > 0 ? 1 : 0;
}
