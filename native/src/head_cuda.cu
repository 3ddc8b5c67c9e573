// tasft_head_cuda: the fused LM head on the GPU, the plain, correct version (fp32 CUDA cores, any dtypes; speed comes
// with the v3 kernel machinery). Three kernels, each recomputing z = h . W_v where it needs it, so that no
// [rows, vocab] buffer exists:
//   head_stats        one block per row: online max / sum of exp over the vocabulary (per thread, then reduced),
//                     z_y; the CE loss, or for EMD rows u = sum_v p_v e_v (a chunk of p in shared memory at a
//                     time), r = u - e_y, the loss and r.u; per row m, log l, r.u and r go to the workspace.
//   head_grad_hidden  one block per row: g_v for a chunk of v in shared memory, grad_hidden[n] = sum_v g_v W_v.
//   head_grad_weight  one block per vocabulary entry: g_nv for a chunk of rows, grad_weight[v] += sum_n g_nv h_n
//                     (each entry has one owner: no atomics, deterministic).
#include <cinttypes>
#include <vector>

#include "emd_cuda_common.cuh"

namespace tasft {
namespace {

__device__ __forceinline__ float ld(const void* p, int dtype, int64_t i) {
    if (dtype == TASFT_FLOAT32) return static_cast<const float*>(p)[i];
    if (dtype == TASFT_BFLOAT16) return __bfloat162float(static_cast<const __nv_bfloat16*>(p)[i]);
    return __half2float(static_cast<const __half*>(p)[i]);
}

struct HeadDev {  // the arguments, by value, plus the workspace
    const void* hidden; int hdt; int64_t rows, H, hstride;
    const void* weight; int wdt; int64_t V;
    const void* emb; int edt; int64_t D;
    const int64_t* targets; int64_t ignore; const int8_t* roles;
    float ce, emd;
    float* loss; float* gh; float* gw;
    float* m; float* logl; float* ru; float* R;  // workspace: [rows] x 3, [rows, D]
};

__device__ __forceinline__ bool active(const HeadDev& a, int64_t n) {
    return a.roles[n] != TASFT_HEAD_IGNORE && a.targets[n] != a.ignore;
}

// z = x . W_v with x a float row in shared memory
__device__ __forceinline__ float dot_w(const HeadDev& a, const float* x, int64_t v) {
    float z = 0.0f;
    for (int64_t d = 0; d < a.H; ++d) z += x[d] * ld(a.weight, a.wdt, v * a.H + d);
    return z;
}
__device__ __forceinline__ float dot_e(const HeadDev& a, const float* x, int64_t v) {
    float s = 0.0f;
    for (int64_t d = 0; d < a.D; ++d) s += x[d] * ld(a.emb, a.edt, v * a.D + d);
    return s;
}

// The gradient of row n at entry v: scale (p - [v == y]) or scale 2 p (r.e_v - r.u); r in shared memory (EMD rows).
__device__ __forceinline__ float grad_entry(const HeadDev& a, int64_t n, int64_t v, float z, const float* r) {
    const float p = expf((z - a.m[n]) - a.logl[n]);
    if (a.roles[n] == TASFT_HEAD_CE) return a.ce * (p - (v == a.targets[n] ? 1.0f : 0.0f));
    return a.emd * 2.0f * p * (dot_e(a, r, v) - a.ru[n]);
}

__global__ void head_stats(HeadDev a) {
    extern __shared__ float sh[];  // h [H], p chunk [kBlock], red [kWarps + 1]
    float* h = sh;
    float* pch = sh + a.H;
    float* red = pch + kBlock;
    const int64_t n = blockIdx.x;
    if (!active(a, n)) {
        if (threadIdx.x == 0) a.loss[n] = a.m[n] = a.logl[n] = a.ru[n] = 0.0f;
        return;
    }
    for (int64_t d = threadIdx.x; d < a.H; d += blockDim.x) h[d] = ld(a.hidden, a.hdt, n * a.hstride + d);
    __syncthreads();
    const int64_t y = a.targets[n];
    float mt = -INFINITY, lt = 0.0f, zy = 0.0f;
    bool has_y = false;
    for (int64_t v = threadIdx.x; v < a.V; v += blockDim.x) {
        const float z = dot_w(a, h, v);
        if (v == y) zy = z, has_y = true;
        if (z > mt) {
            lt = lt * expf(mt - z) + 1.0f;
            mt = z;
        } else {
            lt += expf(z - mt);
        }
    }
    const float M = block_reduce(mt, MaxOp(), red);
    const float L = block_reduce(mt == -INFINITY ? 0.0f : lt * expf(mt - M), SumOp(), red);
    const float logl = logf(L);
    if (a.roles[n] == TASFT_HEAD_CE) {
        const float z_y = block_reduce(has_y ? zy : 0.0f, SumOp(), red);
        if (threadIdx.x == 0) {
            a.loss[n] = (M - z_y) + logl;
            a.m[n] = M;
            a.logl[n] = logl;
            a.ru[n] = 0.0f;
        }
        return;
    }
    float* u = a.R + n * a.D;  // u accumulates here; thread t owns d = t, t + blockDim, ...
    for (int64_t d = threadIdx.x; d < a.D; d += blockDim.x) u[d] = 0.0f;
    for (int64_t c0 = 0; c0 < a.V; c0 += blockDim.x) {
        const int64_t v = c0 + threadIdx.x;
        pch[threadIdx.x] = v < a.V ? expf((dot_w(a, h, v) - M) - logl) : 0.0f;
        __syncthreads();
        const int64_t cnt = a.V - c0 < (int64_t)blockDim.x ? a.V - c0 : (int64_t)blockDim.x;
        for (int64_t d = threadIdx.x; d < a.D; d += blockDim.x) {
            float acc = u[d];
            for (int64_t k = 0; k < cnt; ++k) acc += pch[k] * ld(a.emb, a.edt, (c0 + k) * a.D + d);
            u[d] = acc;
        }
        __syncthreads();
    }
    float loss = 0.0f, ru = 0.0f;
    for (int64_t d = threadIdx.x; d < a.D; d += blockDim.x) {
        const float ud = u[d], rd = ud - ld(a.emb, a.edt, y * a.D + d);
        loss += rd * rd;
        ru += rd * ud;
        u[d] = rd;
    }
    loss = block_reduce(loss, SumOp(), red);
    ru = block_reduce(ru, SumOp(), red);
    if (threadIdx.x == 0) {
        a.loss[n] = loss;
        a.m[n] = M;
        a.logl[n] = logl;
        a.ru[n] = ru;
    }
}

__global__ void head_grad_hidden(HeadDev a) {
    extern __shared__ float sh[];  // h [H], r [D], g chunk [kBlock]
    float* h = sh;
    float* r = sh + a.H;
    float* g = r + a.D;
    const int64_t n = blockIdx.x;
    float* out = a.gh + n * a.H;
    if (!active(a, n)) {
        for (int64_t d = threadIdx.x; d < a.H; d += blockDim.x) out[d] = 0.0f;
        return;
    }
    for (int64_t d = threadIdx.x; d < a.H; d += blockDim.x) h[d] = ld(a.hidden, a.hdt, n * a.hstride + d);
    const bool emd = a.roles[n] == TASFT_HEAD_EMD;
    if (emd)
        for (int64_t d = threadIdx.x; d < a.D; d += blockDim.x) r[d] = a.R[n * a.D + d];
    for (int64_t d = threadIdx.x; d < a.H; d += blockDim.x) out[d] = 0.0f;
    __syncthreads();
    for (int64_t c0 = 0; c0 < a.V; c0 += blockDim.x) {
        const int64_t v = c0 + threadIdx.x;
        g[threadIdx.x] = v < a.V ? grad_entry(a, n, v, dot_w(a, h, v), r) : 0.0f;
        __syncthreads();
        const int64_t cnt = a.V - c0 < (int64_t)blockDim.x ? a.V - c0 : (int64_t)blockDim.x;
        for (int64_t d = threadIdx.x; d < a.H; d += blockDim.x) {
            float acc = out[d];
            for (int64_t k = 0; k < cnt; ++k) acc += g[k] * ld(a.weight, a.wdt, (c0 + k) * a.H + d);
            out[d] = acc;
        }
        __syncthreads();
    }
}

__global__ void head_grad_weight(HeadDev a) {
    extern __shared__ float sh[];  // W_v [H], e_v [D], g chunk [kBlock]
    float* w = sh;
    float* e = sh + a.H;
    float* g = e + a.D;
    const int64_t v = blockIdx.x;
    for (int64_t d = threadIdx.x; d < a.H; d += blockDim.x) w[d] = ld(a.weight, a.wdt, v * a.H + d);
    for (int64_t d = threadIdx.x; d < a.D; d += blockDim.x) e[d] = ld(a.emb, a.edt, v * a.D + d);
    __syncthreads();
    float* out = a.gw + v * a.H;
    for (int64_t c0 = 0; c0 < a.rows; c0 += blockDim.x) {
        const int64_t n = c0 + threadIdx.x;
        float gv = 0.0f;
        if (n < a.rows && active(a, n)) {
            float z = 0.0f;
            for (int64_t d = 0; d < a.H; ++d) z += w[d] * ld(a.hidden, a.hdt, n * a.hstride + d);
            const float p = expf((z - a.m[n]) - a.logl[n]);
            if (a.roles[n] == TASFT_HEAD_CE) {
                gv = a.ce * (p - (v == a.targets[n] ? 1.0f : 0.0f));
            } else {
                float s = 0.0f;
                for (int64_t d = 0; d < a.D; ++d) s += a.R[n * a.D + d] * e[d];
                gv = a.emd * 2.0f * p * (s - a.ru[n]);
            }
        }
        g[threadIdx.x] = gv;
        __syncthreads();
        const int64_t cnt = a.rows - c0 < (int64_t)blockDim.x ? a.rows - c0 : (int64_t)blockDim.x;
        for (int64_t d = threadIdx.x; d < a.H; d += blockDim.x) {
            float acc = out[d];
            for (int64_t k = 0; k < cnt; ++k)
                if (g[k] != 0.0f) acc += g[k] * ld(a.hidden, a.hdt, (c0 + k) * a.hstride + d);
            out[d] = acc;
        }
        __syncthreads();
    }
}

int launch(const char* fn, const char* what, cudaStream_t stream) {
    const cudaError_t err = cudaGetLastError();
    (void)stream;
    return err == cudaSuccess ? TASFT_OK : cuda_fail(err, fn, what);
}

int head_cuda(const tasft_head_args* a, const char* fn) {
    clear_error();
    if (int st = check_head(a, fn)) return st;
    if (a->rows == 0) return TASFT_OK;
    if (int st = check_device(fn)) return st;
    cudaStream_t stream = static_cast<cudaStream_t>(a->cuda_stream);
    // Roles and targets back to the host and checked there, so a bad one is an error naming the row.
    std::vector<int64_t> targets((size_t)a->rows);
    std::vector<int8_t> roles((size_t)a->rows);
    cudaError_t err = cudaMemcpyAsync(targets.data(), a->targets, (size_t)a->rows * 8, cudaMemcpyDeviceToHost, stream);
    if (err == cudaSuccess)
        err = cudaMemcpyAsync(roles.data(), a->roles, (size_t)a->rows, cudaMemcpyDeviceToHost, stream);
    if (err != cudaSuccess) return cuda_fail(err, fn, "copying the targets and roles to the host");
    err = cudaStreamSynchronize(stream);
    if (err != cudaSuccess) return cuda_fail(err, fn, "cudaStreamSynchronize before the row check");
    if (int st = check_head_rows(a, roles.data(), targets.data(), fn)) return st;
    bool emd = false;
    for (int64_t n = 0; n < a->rows; ++n) emd = emd || (roles[n] == TASFT_HEAD_EMD && head_row_active(a, roles[n], targets[n]));

    HeadDev d{};
    d.hidden = a->hidden, d.hdt = a->hidden_dtype, d.rows = a->rows, d.H = a->hidden_dim, d.hstride = a->hidden_row_stride;
    d.weight = a->weight, d.wdt = a->weight_dtype, d.V = a->vocab;
    d.emb = emd ? a->unit_embedding : nullptr, d.edt = a->embedding_dtype, d.D = emd ? a->dim : 0;
    d.targets = a->targets, d.ignore = a->ignore_index, d.roles = a->roles;
    d.ce = a->ce_grad_scale, d.emd = a->emd_grad_scale;
    d.loss = a->loss_rows, d.gh = a->grad_hidden, d.gw = a->grad_weight;
    void* ws = nullptr;
    const size_t bytes = (size_t)a->rows * (3 + (size_t)d.D) * 4;
    if (int st = device_alloc(&ws, bytes, stream, fn)) return st;
    d.m = static_cast<float*>(ws);
    d.logl = d.m + a->rows;
    d.ru = d.logl + a->rows;
    d.R = d.ru + a->rows;

    const size_t sh_stats = ((size_t)d.H + kBlock + kWarps + 1) * 4;
    const size_t sh_grad = ((size_t)d.H + (size_t)d.D + kBlock) * 4;
    int st = TASFT_OK;
    for (size_t need : {sh_stats, sh_grad})
        if (need > 48 * 1024 && st == TASFT_OK)
            st = fail(TASFT_UNSUPPORTED, "%s: hidden_dim + dim = %" PRId64 " needs %zu bytes of shared memory (max 48 KiB)",
                      fn, d.H + d.D, need);
    if (st == TASFT_OK) {
        head_stats<<<(unsigned)a->rows, kBlock, sh_stats, stream>>>(d);
        st = launch(fn, "launching head_stats", stream);
    }
    if (st == TASFT_OK && a->grad_hidden) {
        head_grad_hidden<<<(unsigned)a->rows, kBlock, sh_grad, stream>>>(d);
        st = launch(fn, "launching head_grad_hidden", stream);
    }
    if (st == TASFT_OK && a->grad_weight) {
        head_grad_weight<<<(unsigned)a->vocab, kBlock, sh_grad, stream>>>(d);
        st = launch(fn, "launching head_grad_weight", stream);
    }
    const cudaError_t free_err = cudaFreeAsync(ws, stream);
    if (st == TASFT_OK && free_err != cudaSuccess) return cuda_fail(free_err, fn, "cudaFreeAsync of the workspace");
    return st;
}

}  // namespace
}  // namespace tasft

extern "C" int tasft_head_cuda(const tasft_head_args* args) { return tasft::head_cuda(args, "tasft_head_cuda"); }
