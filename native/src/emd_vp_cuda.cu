// The vocabulary-parallel entry points on a CUDA device (tasft_emd_vp_*_cuda): the plain, correct versions, built
// like emd_cuda.cu (one thread block per row, grid-stride over rows). See tasft/emd.h for the math and the layouts.
//   partial : block reductions give the slice's m and l; threads own dimensions d and accumulate
//             s[d] = sum_v exp(z_v - m) e_v[d] straight into the statistics row (p staged in shared memory).
//   merge   : every thread runs the (short) loop over slices for M, L and the target count in the same order;
//             threads own d for S, u and r; the loss and r.u are block reductions.
//   backward: emd_cuda.cu's step 4 with M, log L, r and r.u read from the merge.
//   rescale : elementwise.
// Nothing here copies the targets to the host or waits for the stream.
#include <cinttypes>
#include <cmath>

#include "emd_cuda_common.cuh"

namespace tasft {
namespace {

struct SliceKernelArgs {
    const void* logits;
    void* grad_logits;  // may equal logits
    const void* embedding;
    const int64_t* targets;
    float* slice_max;
    float* slice_stats;
    const float* row_max;
    const float* row_log_sumexp;
    const float* residual;
    const float* residual_dot_expected;
    int64_t rows, vocab, stride, dim, ignore_index, vocab_start;
    float grad_scale;
};

template <typename TL, typename TE>
__global__ void __launch_bounds__(kBlock) vp_partial_kernel(SliceKernelArgs a) {
    __shared__ float red[kWarps + 1];
    __shared__ float p_chunk[kBlock];
    const int tid = threadIdx.x;
    const int64_t vocab = a.vocab, dim = a.dim, width = TASFT_EMD_VP_STATS(dim);
    const TE* emb = static_cast<const TE*>(a.embedding);

    for (int64_t n = blockIdx.x; n < a.rows; n += gridDim.x) {
        const TL* z = static_cast<const TL*>(a.logits) + n * a.stride;
        float* st = a.slice_stats + n * width;
        const int64_t y = a.targets[n];  // block-uniform, as every branch below
        if (y == a.ignore_index) {
            if (tid == 0) a.slice_max[n] = 0.0f;
            for (int64_t i = tid; i < width; i += kBlock) st[i] = 0.0f;
            continue;
        }
        const int64_t local = y - a.vocab_start;
        const bool inside = local >= 0 && local < vocab;
        for (int64_t d = tid; d < dim; d += kBlock)
            st[2 + dim + d] = inside ? to_float(emb[local * dim + d]) : 0.0f;

        float m = -INFINITY;
        for (int64_t v = tid; v < vocab; v += kBlock) m = fmaxf(m, to_float(z[v]));
        m = block_reduce(m, MaxOp(), red);
        if (m == -INFINITY) {  // the slice masks this row completely: l = 0, s = 0 (exp(z - m) would be NaN)
            if (tid == 0) {
                a.slice_max[n] = m;
                st[0] = 0.0f;
                st[1] = inside ? 1.0f : 0.0f;
            }
            for (int64_t d = tid; d < dim; d += kBlock) st[2 + d] = 0.0f;
            continue;
        }
        float l = 0.0f;
        for (int64_t v = tid; v < vocab; v += kBlock) l += expf(to_float(z[v]) - m);
        l = block_reduce(l, SumOp(), red);

        for (int64_t d = tid; d < dim; d += kBlock) st[2 + d] = 0.0f;  // thread tid alone owns these d
        for (int64_t v0 = 0; v0 < vocab; v0 += kBlock) {
            const int64_t v = v0 + tid;
            p_chunk[tid] = v < vocab ? expf(to_float(z[v]) - m) : 0.0f;
            __syncthreads();
            const int count = (int)(vocab - v0 < kBlock ? vocab - v0 : kBlock);
            const TE* e_chunk = emb + v0 * dim;
            for (int64_t d = tid; d < dim; d += kBlock) {
                float acc = 0.0f;
                for (int j = 0; j < count; ++j) acc += p_chunk[j] * to_float(e_chunk[(int64_t)j * dim + d]);
                st[2 + d] += acc;
            }
            __syncthreads();  // p_chunk is overwritten next
        }
        if (tid == 0) {
            a.slice_max[n] = m;
            st[0] = l;
            st[1] = inside ? 1.0f : 0.0f;
        }
    }
}

template <typename TL, typename TE>
__global__ void __launch_bounds__(kBlock) vp_backward_kernel(SliceKernelArgs a) {
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int64_t vocab = a.vocab, dim = a.dim;
    const TE* emb = static_cast<const TE*>(a.embedding);
    const float twice_scale = 2.0f * a.grad_scale;

    for (int64_t n = blockIdx.x; n < a.rows; n += gridDim.x) {
        const TL* z = static_cast<const TL*>(a.logits) + n * a.stride;
        TL* g = static_cast<TL*>(a.grad_logits) + n * a.stride;
        if (a.targets[n] == a.ignore_index) {
            for (int64_t v = tid; v < vocab; v += kBlock) g[v] = from_float<TL>(0.0f);
            continue;
        }
        const float m = a.row_max[n], logl = a.row_log_sumexp[n], ru = a.residual_dot_expected[n];
        const float* r = a.residual + n * dim;
        for (int64_t v0 = (int64_t)warp * 32; v0 < vocab; v0 += (int64_t)kWarps * 32) {
            const int count = (int)(vocab - v0 < 32 ? vocab - v0 : 32);
            float mine = 0.0f;  // r . e_{v0 + lane}
            for (int j = 0; j < count; ++j) {
                const float s_j = warp_dot(r, emb + (v0 + j) * dim, dim, lane);
                if (lane == j) mine = s_j;
            }
            if (lane < count) {
                const int64_t v = v0 + lane;
                const float p = expf((to_float(z[v]) - m) - logl);  // read by the thread that overwrites it
                g[v] = from_float<TL>(twice_scale * p * (mine - ru));
            }
        }
    }
}

struct MergeKernelArgs {
    const float* slice_max;
    const float* slice_stats;
    const int64_t* targets;
    float* loss_rows;
    float* row_max;
    float* row_log_sumexp;
    float* residual;
    float* residual_dot_expected;
    float* expected_embedding;
    int64_t slices, rows, dim, ignore_index;
};

__global__ void __launch_bounds__(kBlock) vp_merge_kernel(MergeKernelArgs a) {
    __shared__ float red[kWarps + 1];
    const int tid = threadIdx.x;
    const int64_t K = a.slices, N = a.rows, D = a.dim, W = TASFT_EMD_VP_STATS(D);
    for (int64_t n = blockIdx.x; n < N; n += gridDim.x) {
        float* r = a.residual + n * D;
        float* ee = a.expected_embedding ? a.expected_embedding + n * D : nullptr;
        if (a.targets[n] == a.ignore_index) {
            if (tid == 0) a.loss_rows[n] = a.row_max[n] = a.row_log_sumexp[n] = a.residual_dot_expected[n] = 0.0f;
            for (int64_t d = tid; d < D; d += kBlock) {
                r[d] = 0.0f;
                if (ee) ee[d] = 0.0f;
            }
            continue;
        }
        // Every thread computes the same M, L and count, in slice order.
        double M = -INFINITY, L = 0.0, count = 0.0;
        for (int64_t k = 0; k < K; ++k) M = fmax(M, (double)a.slice_max[k * N + n]);
        for (int64_t k = 0; k < K; ++k) {
            const double mk = a.slice_max[k * N + n];
            const float* st = a.slice_stats + (k * N + n) * W;
            L += (mk == -INFINITY ? 0.0 : exp(mk - M)) * st[0];
            count += st[1];
        }
        const float poison = count == 1.0 ? 0.0f : NAN;  // the target lies in no slice or in several
        float loss_part = 0.0f, ru_part = 0.0f;
        for (int64_t d = tid; d < D; d += kBlock) {
            double S = 0.0;
            float e = 0.0f;
            for (int64_t k = 0; k < K; ++k) {
                const double mk = a.slice_max[k * N + n];
                const float* st = a.slice_stats + (k * N + n) * W;
                S += (mk == -INFINITY ? 0.0 : exp(mk - M)) * st[2 + d];
                e += st[2 + D + d];  // nonzero in the target's slice only
            }
            const float ud = (float)(S / L);
            const float rd = ud - e + poison;
            loss_part += rd * rd;
            ru_part += rd * ud;
            r[d] = rd;
            if (ee) ee[d] = ud;
        }
        const float loss = block_reduce(loss_part, SumOp(), red);
        const float ru = block_reduce(ru_part, SumOp(), red);
        if (tid == 0) {
            a.loss_rows[n] = loss;
            a.row_max[n] = (float)M + poison;
            a.row_log_sumexp[n] = (float)log(L) + poison;
            a.residual_dot_expected[n] = ru;
        }
    }
}

__global__ void vp_rescale_kernel(int64_t rows, int64_t dim, const float* slice_max, const float* global_max,
                                  float* slice_stats) {
    const int64_t W = TASFT_EMD_VP_STATS(dim), total = rows * W;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
        const int64_t n = i / W, j = i % W;
        if (j == 1 || j >= 2 + dim) continue;  // the target count and row are not scaled
        const float m = slice_max[n];
        slice_stats[i] *= m == -INFINITY ? 0.0f : (float)exp((double)m - (double)global_max[n]);
    }
}

// ---------- host side ----------

template <typename Kernel>
int grid_size(Kernel kernel, int64_t rows, const char* fn, int64_t* grid) {
    int device = 0, sms = 0, per_sm = 0;
    cudaError_t err = cudaGetDevice(&device);
    if (err != cudaSuccess) return cuda_fail(err, fn, "cudaGetDevice");
    err = cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device);
    if (err != cudaSuccess) return cuda_fail(err, fn, "cudaDeviceGetAttribute");
    err = cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, kBlock, 0);
    if (err != cudaSuccess) return cuda_fail(err, fn, "cudaOccupancyMaxActiveBlocksPerMultiprocessor");
    const int64_t max_grid = (int64_t)(sms > 0 ? sms : 1) * (per_sm > 0 ? per_sm : 1);
    *grid = rows < max_grid ? rows : max_grid;
    return TASFT_OK;
}

template <typename Kernel, typename Args>
int launch_rows(Kernel kernel, const Args& k, int64_t rows, cudaStream_t stream, const char* fn) {
    int64_t grid = 0;
    if (int st = grid_size(kernel, rows, fn, &grid)) return st;
    kernel<<<(unsigned)grid, kBlock, 0, stream>>>(k);
    const cudaError_t err = cudaGetLastError();
    if (err != cudaSuccess) return cuda_fail(err, fn, "launching the kernel");
    return TASFT_OK;
}

template <typename TL, typename TE>
int launch_slice(const SliceKernelArgs& k, bool backward, cudaStream_t stream, const char* fn) {
    return backward ? launch_rows(vp_backward_kernel<TL, TE>, k, k.rows, stream, fn)
                    : launch_rows(vp_partial_kernel<TL, TE>, k, k.rows, stream, fn);
}

template <typename TL>
int dispatch_embedding(const SliceKernelArgs& k, int embedding_dtype, bool backward, cudaStream_t stream,
                       const char* fn) {
    switch (embedding_dtype) {
        case TASFT_FLOAT32: return launch_slice<TL, float>(k, backward, stream, fn);
        case TASFT_BFLOAT16: return launch_slice<TL, __nv_bfloat16>(k, backward, stream, fn);
        case TASFT_FLOAT16: return launch_slice<TL, __half>(k, backward, stream, fn);
    }
    return fail(TASFT_INVALID_ARGUMENT, "%s: bad embedding_dtype %d", fn, embedding_dtype);
}

int run_slice(const tasft_emd_vp_slice_args* s, bool backward, const char* fn) {
    clear_error();
    tasft_emd_args view;
    if (int st = check_slice(s, backward, fn, &view)) return st;
    if (s->rows == 0) return TASFT_OK;
    if (int st = check_device(fn)) return st;
    SliceKernelArgs k;
    k.logits = s->logits;
    k.grad_logits = s->grad_logits;
    k.embedding = s->unit_embedding;
    k.targets = s->targets;
    k.slice_max = s->slice_max;
    k.slice_stats = s->slice_stats;
    k.row_max = s->row_max;
    k.row_log_sumexp = s->row_log_sumexp;
    k.residual = s->residual;
    k.residual_dot_expected = s->residual_dot_expected;
    k.rows = s->rows;
    k.vocab = s->vocab;
    k.stride = s->logits_row_stride;
    k.dim = s->dim;
    k.ignore_index = s->ignore_index;
    k.vocab_start = s->vocab_start;
    k.grad_scale = s->grad_scale;
    cudaStream_t stream = static_cast<cudaStream_t>(s->cuda_stream);
    switch (s->logits_dtype) {
        case TASFT_FLOAT32: return dispatch_embedding<float>(k, s->embedding_dtype, backward, stream, fn);
        case TASFT_BFLOAT16: return dispatch_embedding<__nv_bfloat16>(k, s->embedding_dtype, backward, stream, fn);
        case TASFT_FLOAT16: return dispatch_embedding<__half>(k, s->embedding_dtype, backward, stream, fn);
    }
    return fail(TASFT_INVALID_ARGUMENT, "%s: bad logits_dtype %d", fn, s->logits_dtype);
}

}  // namespace
}  // namespace tasft

extern "C" int tasft_emd_vp_partial_cuda(const tasft_emd_vp_slice_args* args) {
    return tasft::run_slice(args, false, "tasft_emd_vp_partial_cuda");
}

extern "C" int tasft_emd_vp_backward_cuda(const tasft_emd_vp_slice_args* args) {
    return tasft::run_slice(args, true, "tasft_emd_vp_backward_cuda");
}

extern "C" int tasft_emd_vp_merge_cuda(const tasft_emd_vp_merge_args* m) {
    using namespace tasft;
    clear_error();
    const char* fn = "tasft_emd_vp_merge_cuda";
    if (int st = check_merge(m, fn)) return st;
    if (m->rows == 0) return TASFT_OK;
    if (int st = check_device(fn)) return st;
    MergeKernelArgs k;
    k.slice_max = m->slice_max;
    k.slice_stats = m->slice_stats;
    k.targets = m->targets;
    k.loss_rows = m->loss_rows;
    k.row_max = m->row_max;
    k.row_log_sumexp = m->row_log_sumexp;
    k.residual = m->residual;
    k.residual_dot_expected = m->residual_dot_expected;
    k.expected_embedding = m->expected_embedding;
    k.slices = m->slices;
    k.rows = m->rows;
    k.dim = m->dim;
    k.ignore_index = m->ignore_index;
    return launch_rows(vp_merge_kernel, k, m->rows, static_cast<cudaStream_t>(m->cuda_stream), fn);
}

extern "C" int tasft_emd_vp_rescale_cuda(int64_t rows, int64_t dim, const float* slice_max, const float* global_max,
                                         float* slice_stats, void* cuda_stream) {
    using namespace tasft;
    clear_error();
    const char* fn = "tasft_emd_vp_rescale_cuda";
    if (int st = check_rescale(rows, dim, slice_max, global_max, slice_stats, fn)) return st;
    if (rows == 0) return TASFT_OK;
    if (int st = check_device(fn)) return st;
    const int64_t total = rows * TASFT_EMD_VP_STATS(dim);
    const int64_t blocks = (total + kBlock - 1) / kBlock;
    vp_rescale_kernel<<<(unsigned)(blocks < 65535 ? blocks : 65535), kBlock, 0, static_cast<cudaStream_t>(cuda_stream)>>>(
        rows, dim, slice_max, global_max, slice_stats);
    const cudaError_t err = cudaGetLastError();
    if (err != cudaSuccess) return cuda_fail(err, fn, "launching the kernel");
    return TASFT_OK;
}
