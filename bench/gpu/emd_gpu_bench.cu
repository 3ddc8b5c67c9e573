// GPU benchmark harness of the fused EMD kernel (issue 5), in the manner of llm.c's dev/cuda: every kernel version of
// libtasft (v1, v2, v3, each named by tasft_emd_variant, and "auto", the version AUTO picks for the call, named in the
// output) and a naive CUDA version (cuBLAS GEMMs + simple kernels) are
// timed by the same code on the same inputs, with CUDA events, warm-up, the median of many runs, logits larger than L2
// (restored from a pristine copy before every run, then L2 flushed), the gradient written in place, bf16 inputs, fp32
// accumulation; extra device memory from the stream-ordered pool's high watermark; error against a float64 reference
// computed on the device for sampled rows.
//
//   emd_gpu_bench [--shapes N,V,D;N,V,D...] [--impls v1,v2,v2fwd,v3,v3fwd,auto,naive,floor] [--iters K] [--warmup W]
//                 [--out FILE.tsv] [--skip 1e-6,1e-5,1e-4] [--skip-impls v1,v2,v3,auto] [--entropy 2] [--sanitize]
// --sanitize runs one small case of every implementation once and checks it (for compute-sanitizer).
// A version that cannot run a case on this device (tasft_emd_cuda_kernel_choice answers TASFT_UNSUPPORTED, e.g. v3
// off sm_90 or before its kernels are built) gets a "skipped: <reason>" line instead of a timing.
// Output: one line per (shape, implementation) on stdout and as TSV rows in --out (bench/gpu/make_table.py merges
// them with torch_anchor.py's rows into the table of bench/RESULTS.md).
//
// cuBLAS is loaded at run time (dlopen of libcublas.so.13 / .12 / .so) through the five declarations below, so the
// harness compiles wherever nvcc is (CI has no cuBLAS) and the naive / floor rows appear wherever cuBLAS is.
#include <cuda_runtime.h>
#include <cuda_bf16.h>
#include <dlfcn.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "cublas_loader.h"
#include "lm_logits.h"
#include "tasft/emd.h"

#define CK(call)                                                                                                    \
    do {                                                                                                            \
        cudaError_t e_ = (call);                                                                                    \
        if (e_ != cudaSuccess) {                                                                                    \
            std::fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call, cudaGetErrorString(e_));             \
            std::exit(1);                                                                                           \
        }                                                                                                           \
    } while (0)

namespace {

// ---------------- cuBLAS, loaded at run time (cublas_loader.h) ----------------
Cublas g_cublas;

// ---------------- inputs ----------------
__global__ void fill_logits(__nv_bfloat16* z, int64_t N, int64_t V, lm::Params p, int lm_mode, float scale) {
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= N * V) return;
    const int64_t n = i / V, v = i % V;
    const double x = lm_mode ? lm::logit(p, n, v, V) : scale * lm::normal(p.seed, (uint64_t)n, (uint64_t)v);
    z[i] = __float2bfloat16_rn((float)x);
}
__global__ void fill_embedding(__nv_bfloat16* e, int64_t V, int64_t D, uint64_t seed) {
    const int64_t v = blockIdx.x;
    __shared__ float red[32];
    float ss = 0.0f;
    for (int64_t d = threadIdx.x; d < D; d += blockDim.x) {
        const float x = (float)lm::normal(seed, (uint64_t)v, (uint64_t)d);
        ss += x * x;
    }
    for (int o = 16; o > 0; o >>= 1) ss += __shfl_xor_sync(0xffffffffu, ss, o);
    if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = ss;
    __syncthreads();
    float tot = 0.0f;
    for (int w = 0; w < (int)(blockDim.x / 32); ++w) tot += red[w];
    const float inv = 1.0f / sqrtf(tot);
    for (int64_t d = threadIdx.x; d < D; d += blockDim.x)
        e[v * D + d] = __float2bfloat16_rn((float)lm::normal(seed, (uint64_t)v, (uint64_t)d) * inv);
}

// ---------------- float64 reference for sampled rows (the oracle on the device) ----------------
// Up to kRef rows at once, so the embedding is streamed once for all of them: P (softmax, double), U = P @ E with
// atomics over vocabulary chunks, r / loss / r.u per row, then d loss / d z = 2 p (r.e_v - r.u) with a warp per v.
constexpr int kRef = 16;

__global__ void ref_softmax(const __nv_bfloat16* z, const int64_t* rows, int64_t V, double* P) {
    __shared__ double red[33];
    const int tid = threadIdx.x, nt = blockDim.x;
    const __nv_bfloat16* zr = z + rows[blockIdx.x] * V;
    auto reduce = [&](double x, bool is_max) {
        for (int o = 16; o > 0; o >>= 1) {
            const double y = __shfl_xor_sync(0xffffffffu, x, o);
            x = is_max ? fmax(x, y) : x + y;
        }
        if ((tid & 31) == 0) red[tid >> 5] = x;
        __syncthreads();
        if (tid == 0) {
            double t = red[0];
            for (int w = 1; w < nt / 32; ++w) t = is_max ? fmax(t, red[w]) : t + red[w];
            red[32] = t;
        }
        __syncthreads();
        const double out = red[32];
        __syncthreads();
        return out;
    };
    double m = -INFINITY;
    for (int64_t v = tid; v < V; v += nt) m = fmax(m, (double)__bfloat162float(zr[v]));
    m = reduce(m, true);
    double s = 0;
    for (int64_t v = tid; v < V; v += nt) s += exp((double)__bfloat162float(zr[v]) - m);
    s = reduce(s, false);
    for (int64_t v = tid; v < V; v += nt) P[(int64_t)blockIdx.x * V + v] = exp((double)__bfloat162float(zr[v]) - m) / s;
}
// grid: x = chunks of 256 dims, y = vocabulary chunks; U must be zeroed.
__global__ void ref_u(const double* P, const __nv_bfloat16* e, int k, int64_t V, int64_t D, int64_t v_chunk, double* U) {
    const int64_t d = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (d >= D) return;
    const int64_t v0 = (int64_t)blockIdx.y * v_chunk, v1 = v0 + v_chunk < V ? v0 + v_chunk : V;
    double acc[kRef];
#pragma unroll
    for (int j = 0; j < kRef; ++j) acc[j] = 0;
    for (int64_t v = v0; v < v1; ++v) {
        const double ev = (double)__bfloat162float(e[v * D + d]);
#pragma unroll
        for (int j = 0; j < kRef; ++j)
            if (j < k) acc[j] += P[j * V + v] * ev;
    }
#pragma unroll
    for (int j = 0; j < kRef; ++j)
        if (j < k) atomicAdd(&U[j * D + d], acc[j]);
}
__global__ void ref_residual(const double* U, const __nv_bfloat16* e, const int64_t* targets, const int64_t* rows,
                             int64_t D, double* R, double* loss, double* ru) {
    __shared__ double red[2][32];
    const int j = blockIdx.x;
    const int64_t y = targets[rows[j]];
    double lp = 0, rp = 0;
    for (int64_t d = threadIdx.x; d < D; d += blockDim.x) {
        const double u = U[j * D + d], r = u - (double)__bfloat162float(e[y * D + d]);
        R[j * D + d] = r;
        lp += r * r;
        rp += r * u;
    }
    for (int o = 16; o > 0; o >>= 1) {
        lp += __shfl_xor_sync(0xffffffffu, lp, o);
        rp += __shfl_xor_sync(0xffffffffu, rp, o);
    }
    if ((threadIdx.x & 31) == 0) {
        red[0][threadIdx.x >> 5] = lp;
        red[1][threadIdx.x >> 5] = rp;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        double a = 0, b = 0;
        for (int w = 0; w < (int)(blockDim.x / 32); ++w) {
            a += red[0][w];
            b += red[1][w];
        }
        loss[j] = a;
        ru[j] = b;
    }
}
// one warp per vocabulary entry
__global__ void ref_grad(const double* P, const double* R, const double* ru, const __nv_bfloat16* e, int k, int64_t V,
                         int64_t D, double* G) {
    const int lane = threadIdx.x & 31;
    const int64_t v = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    if (v >= V) return;
    double acc[kRef];
#pragma unroll
    for (int j = 0; j < kRef; ++j) acc[j] = 0;
    for (int64_t d = lane; d < D; d += 32) {
        const double ev = (double)__bfloat162float(e[v * D + d]);
#pragma unroll
        for (int j = 0; j < kRef; ++j)
            if (j < k) acc[j] += R[j * D + d] * ev;
    }
#pragma unroll
    for (int j = 0; j < kRef; ++j) {
        double x = acc[j];
        for (int o = 16; o > 0; o >>= 1) x += __shfl_xor_sync(0xffffffffu, x, o);
        if (lane == 0 && j < k) G[j * V + v] = 2.0 * P[j * V + v] * (x - ru[j]);
    }
}

// ---------------- the naive CUDA version: softmax -> GEMM -> residual -> GEMM -> softmax backward ----------------
__global__ void naive_softmax(const __nv_bfloat16* z, __nv_bfloat16* P, int64_t V) {
    __shared__ float red[33];
    const int64_t n = blockIdx.x;
    const int tid = threadIdx.x, nt = blockDim.x;
    auto reduce = [&](float x, bool is_max) {
        for (int o = 16; o > 0; o >>= 1) {
            const float y = __shfl_xor_sync(0xffffffffu, x, o);
            x = is_max ? fmaxf(x, y) : x + y;
        }
        if ((tid & 31) == 0) red[tid >> 5] = x;
        __syncthreads();
        if (tid == 0) {
            float t = red[0];
            for (int w = 1; w < nt / 32; ++w) t = is_max ? fmaxf(t, red[w]) : t + red[w];
            red[32] = t;
        }
        __syncthreads();
        const float out = red[32];
        __syncthreads();
        return out;
    };
    float m = -INFINITY;
    for (int64_t v = tid; v < V; v += nt) m = fmaxf(m, __bfloat162float(z[n * V + v]));
    m = reduce(m, true);
    float s = 0;
    for (int64_t v = tid; v < V; v += nt) s += expf(__bfloat162float(z[n * V + v]) - m);
    s = reduce(s, false);
    const float inv = 1.0f / s;
    for (int64_t v = tid; v < V; v += nt) P[n * V + v] = __float2bfloat16_rn(expf(__bfloat162float(z[n * V + v]) - m) * inv);
}
// r = u - e_y (bf16 R for the second GEMM), loss, ru = R_b . u
__global__ void naive_residual(const float* U, const __nv_bfloat16* E, const int64_t* targets, int64_t D,
                               __nv_bfloat16* R, float* loss, float* ru_out) {
    __shared__ float red[2][32];
    const int64_t n = blockIdx.x;
    const int64_t y = targets[n];
    float lp = 0, rp = 0;
    for (int64_t d = threadIdx.x; d < D; d += blockDim.x) {
        const float u = U[n * D + d], r = u - __bfloat162float(E[y * D + d]);
        const __nv_bfloat16 rb = __float2bfloat16_rn(r);
        R[n * D + d] = rb;
        lp += r * r;
        rp += __bfloat162float(rb) * u;
    }
    for (int o = 16; o > 0; o >>= 1) {
        lp += __shfl_xor_sync(0xffffffffu, lp, o);
        rp += __shfl_xor_sync(0xffffffffu, rp, o);
    }
    if ((threadIdx.x & 31) == 0) {
        red[0][threadIdx.x >> 5] = lp;
        red[1][threadIdx.x >> 5] = rp;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        float a = 0, b = 0;
        for (int w = 0; w < (int)(blockDim.x / 32); ++w) {
            a += red[0][w];
            b += red[1][w];
        }
        loss[n] = a;
        ru_out[n] = b;
    }
}
__global__ void naive_grad(const float* S, const __nv_bfloat16* P, const float* ru, __nv_bfloat16* grad, int64_t N,
                           int64_t V, float scale) {
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= N * V) return;
    const int64_t n = i / V;
    grad[i] = __float2bfloat16_rn(2.0f * scale * __bfloat162float(P[i]) * (S[i] - ru[n]));
}

// ---------------- harness ----------------
struct Shape {
    int64_t N, V, D;
};

struct Problem {
    Shape s;
    __nv_bfloat16 *pristine = nullptr, *logits = nullptr, *emb = nullptr;
    int64_t* targets = nullptr;
    float* loss = nullptr;
    float *bound = nullptr, *mass = nullptr;
    // reference
    std::vector<int64_t> sample;
    std::vector<double> ref_loss, ref_grad;  // [samples], [samples, V]
    std::vector<double> ref_tail;            // [samples]: 1 - p_y
};

struct Result {
    double median_ms = NAN, min_ms = NAN;
    double extra_mib = NAN;
    double loss_err = NAN, grad_err = NAN;      // max over sampled rows: relative loss error, relative gradient norm error
    // skipping mode, over the sampled rows: sum of reported bounds / sum of float64 losses, sum of true errors / sum
    // of losses (relative to the batch loss: one peaked row's loss can be 1e-7), rows whose true error exceeds their
    // bound plus a bf16-computation allowance (must be 0), mean skipped mass over all rows
    double bound_rel = NAN, true_rel = NAN, mean_mass = NAN;
    int beyond = -1;
};

cudaStream_t g_stream;
void* g_flush = nullptr;
size_t g_flush_bytes = 0;
cudaMemPool_t g_pool;

void flush_l2() { CK(cudaMemsetAsync(g_flush, 0, g_flush_bytes, g_stream)); }

size_t pool_used() {
    uint64_t v = 0;
    CK(cudaMemPoolGetAttribute(g_pool, cudaMemPoolAttrUsedMemCurrent, &v));
    return (size_t)v;
}
void pool_reset_high() {
    uint64_t zero = 0;
    CK(cudaMemPoolSetAttribute(g_pool, cudaMemPoolAttrUsedMemHigh, &zero));
}
size_t pool_high() {
    uint64_t v = 0;
    CK(cudaMemPoolGetAttribute(g_pool, cudaMemPoolAttrUsedMemHigh, &v));
    return (size_t)v;
}

template <class T>
T* dalloc(size_t count) {
    void* p = nullptr;
    CK(cudaMallocAsync(&p, count * sizeof(T), g_stream));  // from the pool: counted in the high watermark
    return static_cast<T*>(p);
}

// Makes the inputs: exact mode 3 * N(0, 1) logits and uniform targets; lm mode the LM-like generator (lm_logits.h).
void make_problem(Problem& pb, const Shape& s, bool lm_mode, double entropy, uint64_t seed) {
    pb.s = s;
    const size_t nv = (size_t)s.N * (size_t)s.V;
    CK(cudaMalloc(&pb.pristine, nv * 2));  // plain cudaMalloc: inputs are not the kernels' extra memory
    CK(cudaMalloc(&pb.logits, nv * 2));
    CK(cudaMalloc(&pb.emb, (size_t)s.V * (size_t)s.D * 2));
    CK(cudaMalloc(&pb.targets, (size_t)s.N * 8));
    CK(cudaMalloc(&pb.loss, (size_t)s.N * 4));
    CK(cudaMalloc(&pb.bound, (size_t)s.N * 4));
    CK(cudaMalloc(&pb.mass, (size_t)s.N * 4));
    lm::Params p;
    p.seed = seed;
    if (lm_mode) {
        const double h = lm::calibrate_temperature(p, s.V, entropy, 4);
        std::printf("  lm logits: V=%lld temperature %.4f, mean entropy %.3f nats (4 rows)\n", (long long)s.V,
                    p.temperature, h);
    }
    fill_logits<<<(unsigned)((nv + 255) / 256), 256, 0, g_stream>>>(pb.pristine, s.N, s.V, p, lm_mode ? 1 : 0, 3.0f);
    fill_embedding<<<(unsigned)s.V, 256, 0, g_stream>>>(pb.emb, s.V, s.D, seed + 77);
    std::vector<int64_t> t((size_t)s.N);
    for (int64_t n = 0; n < s.N; ++n)
        t[(size_t)n] = lm_mode ? lm::target(p, n, s.V) : (int64_t)(lm::uniform(seed, (uint64_t)n, 9, 5) * (double)s.V);
    CK(cudaMemcpyAsync(pb.targets, t.data(), t.size() * 8, cudaMemcpyHostToDevice, g_stream));
    CK(cudaStreamSynchronize(g_stream));

    // The float64 reference for up to kRef rows spread over the batch.
    const int k = (int)std::min<int64_t>(kRef, s.N);
    for (int i = 0; i < k; ++i) pb.sample.push_back((int64_t)i * s.N / k);
    int64_t* rows_d;
    double *P, *U, *R, *loss_d, *ru_d, *G;
    CK(cudaMalloc(&rows_d, (size_t)k * 8));
    CK(cudaMalloc(&P, (size_t)k * (size_t)s.V * 8));
    CK(cudaMalloc(&U, (size_t)k * (size_t)s.D * 8));
    CK(cudaMalloc(&R, (size_t)k * (size_t)s.D * 8));
    CK(cudaMalloc(&loss_d, (size_t)k * 8));
    CK(cudaMalloc(&ru_d, (size_t)k * 8));
    CK(cudaMalloc(&G, (size_t)k * (size_t)s.V * 8));
    CK(cudaMemcpy(rows_d, pb.sample.data(), (size_t)k * 8, cudaMemcpyHostToDevice));
    CK(cudaMemset(U, 0, (size_t)k * (size_t)s.D * 8));
    ref_softmax<<<k, 256, 0, g_stream>>>(pb.pristine, rows_d, s.V, P);
    const int64_t v_chunk = 512;
    const dim3 ugrid((unsigned)((s.D + 255) / 256), (unsigned)((s.V + v_chunk - 1) / v_chunk));
    ref_u<<<ugrid, 256, 0, g_stream>>>(P, pb.emb, k, s.V, s.D, v_chunk, U);
    ref_residual<<<k, 256, 0, g_stream>>>(U, pb.emb, pb.targets, rows_d, s.D, R, loss_d, ru_d);
    ref_grad<<<(unsigned)((s.V * 32 + 255) / 256), 256, 0, g_stream>>>(P, R, ru_d, pb.emb, k, s.V, s.D, G);
    CK(cudaStreamSynchronize(g_stream));
    CK(cudaGetLastError());
    pb.ref_loss.resize((size_t)k);
    pb.ref_grad.resize((size_t)k * (size_t)s.V);
    for (int j = 0; j < k; ++j) {
        double py = 0;
        CK(cudaMemcpy(&py, P + (size_t)j * s.V + (size_t)t[(size_t)pb.sample[(size_t)j]], 8, cudaMemcpyDeviceToHost));
        pb.ref_tail.push_back(1.0 - py);
    }
    CK(cudaMemcpy(pb.ref_loss.data(), loss_d, (size_t)k * 8, cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(pb.ref_grad.data(), G, (size_t)k * (size_t)s.V * 8, cudaMemcpyDeviceToHost));
    for (void* p : {(void*)rows_d, (void*)P, (void*)U, (void*)R, (void*)loss_d, (void*)ru_d, (void*)G}) CK(cudaFree(p));
}

void free_problem(Problem& pb) {
    for (void* p : {(void*)pb.pristine, (void*)pb.logits, (void*)pb.emb, (void*)pb.targets, (void*)pb.loss,
                    (void*)pb.bound, (void*)pb.mass})
        CK(cudaFree(p));
    pb = Problem();
}

// One implementation's forward + backward, gradient in place over pb.logits. threshold > 0: skipping mode.
enum class Impl { V1, V2, V2Fwd, V3, V3Fwd, Auto, Naive, Floor };
const char* impl_name(Impl i) {
    switch (i) {
        case Impl::V1: return "fused v1";
        case Impl::V2: return "fused v2";
        case Impl::V2Fwd: return "fused v2, forward only";
        case Impl::V3: return "fused v3";
        case Impl::V3Fwd: return "fused v3, forward only";
        case Impl::Auto: return "fused auto";
        case Impl::Naive: return "naive CUDA (cuBLAS)";
        case Impl::Floor: return "cuBLAS two-GEMM floor";
    }
    return "?";
}
bool is_fused(Impl i) { return i != Impl::Naive && i != Impl::Floor; }
bool is_forward_only(Impl i) { return i == Impl::V2Fwd || i == Impl::V3Fwd; }
int cuda_kernel_of(Impl i) {
    switch (i) {
        case Impl::V1: return TASFT_CUDA_KERNEL_V1;
        case Impl::V2: case Impl::V2Fwd: return TASFT_CUDA_KERNEL_V2;
        case Impl::V3: case Impl::V3Fwd: return TASFT_CUDA_KERNEL_V3;
        default: return TASFT_CUDA_KERNEL_AUTO;
    }
}

struct NaiveBuffers {  // the floor's operands, made once per shape (its timing is the two GEMMs alone)
    __nv_bfloat16 *P = nullptr, *R = nullptr, *S = nullptr, *U = nullptr;
};

// One fused call of the library: the arguments, the skipping settings and the variant (every version is named per
// call; Auto leaves the choice to the library).
struct FusedCall {
    tasft_emd_args a{};
    tasft_emd_skip sk{};
    tasft_emd_variant variant{};
};
FusedCall fused_call(Impl impl, Problem& pb, float threshold) {
    const Shape& s = pb.s;
    FusedCall f;
    f.variant.cuda_kernel = cuda_kernel_of(impl);
    tasft_emd_args& a = f.a;
    a.logits = pb.logits;
    a.logits_dtype = TASFT_BFLOAT16;
    a.rows = s.N;
    a.vocab = s.V;
    a.logits_row_stride = s.V;
    a.unit_embedding = pb.emb;
    a.embedding_dtype = TASFT_BFLOAT16;
    a.dim = s.D;
    a.targets = pb.targets;
    a.ignore_index = -100;
    a.grad_scale = 1.0f;
    a.loss_rows = pb.loss;
    a.grad_logits = is_forward_only(impl) ? nullptr : pb.logits;  // forward only: where the time goes
    a.cuda_stream = g_stream;
    f.sk.threshold = threshold;
    f.sk.loss_error_bound = pb.bound;
    f.sk.skipped_mass = pb.mass;
    return f;
}

// The version a fused implementation runs for this problem ("v1", "v2", "v3"), or "" with the reason in *why when it
// cannot (TASFT_UNSUPPORTED); any other failure ends the run.
std::string fused_version(Impl impl, Problem& pb, float threshold, std::string* why) {
    FusedCall f = fused_call(impl, pb, threshold);
    int kernel = 0;
    const int st = tasft_emd_cuda_kernel_choice(&f.a, &f.sk, &f.variant, &kernel);
    if (st == TASFT_UNSUPPORTED) {
        *why = tasft_last_error();
        return "";
    }
    if (st != TASFT_OK) {
        std::fprintf(stderr, "%s: tasft_emd_cuda_kernel_choice: %s\n", impl_name(impl), tasft_last_error());
        std::exit(1);
    }
    return kernel == TASFT_CUDA_KERNEL_V3 ? "v3" : kernel == TASFT_CUDA_KERNEL_V2 ? "v2" : "v1";
}

void run_impl(Impl impl, Problem& pb, float threshold, NaiveBuffers* fb) {
    const Shape& s = pb.s;
    if (is_fused(impl)) {
        FusedCall f = fused_call(impl, pb, threshold);
        const int st = tasft_emd_cuda_variant_async(&f.a, &f.sk, &f.variant);
        if (st != TASFT_OK) {
            std::fprintf(stderr, "%s: %s\n", impl_name(impl), tasft_last_error());
            std::exit(1);
        }
        return;
    }
    const int N = (int)s.N, V = (int)s.V, D = (int)s.D;
    if (impl == Impl::Floor) {  // U = P @ E, S = R @ E^T, bf16 in and out: what a framework's two matmuls cost
        g_cublas.matmul(N, D, V, fb->P, V, pb.emb, D, false, fb->U, kR16BF, D, g_stream);
        g_cublas.matmul(N, V, D, fb->R, D, pb.emb, D, true, fb->S, kR16BF, V, g_stream);
        return;
    }
    // naive: every intermediate materialised (P bf16 [N, V], U fp32, R bf16, S fp32 [N, V]), freed after the call
    __nv_bfloat16* P = dalloc<__nv_bfloat16>((size_t)N * V);
    float* U = dalloc<float>((size_t)N * D);
    __nv_bfloat16* R = dalloc<__nv_bfloat16>((size_t)N * D);
    float* ru = dalloc<float>((size_t)N);
    float* S = dalloc<float>((size_t)N * V);
    naive_softmax<<<N, 256, 0, g_stream>>>(pb.logits, P, V);
    g_cublas.matmul(N, D, V, P, V, pb.emb, D, false, U, kR32F, D, g_stream);
    naive_residual<<<N, 256, 0, g_stream>>>(U, pb.emb, pb.targets, D, R, pb.loss, ru);
    g_cublas.matmul(N, V, D, R, D, pb.emb, D, true, S, kR32F, V, g_stream);
    naive_grad<<<(unsigned)(((size_t)N * V + 255) / 256), 256, 0, g_stream>>>(S, P, ru, pb.logits, N, V, 1.0f);
    for (void* p : {(void*)P, (void*)U, (void*)R, (void*)ru, (void*)S}) CK(cudaFreeAsync(p, g_stream));
}

double bf16_at(const std::vector<__nv_bfloat16>& v, size_t i) { return (double)__bfloat162float(v[i]); }

// Errors of the last run against the float64 reference, on the sampled rows.
void measure_error(Problem& pb, Result& r, bool skipping, bool forward_only) {
    const Shape& s = pb.s;
    std::vector<float> loss((size_t)s.N), bound((size_t)s.N), mass((size_t)s.N);
    CK(cudaMemcpy(loss.data(), pb.loss, loss.size() * 4, cudaMemcpyDeviceToHost));
    if (skipping) {
        CK(cudaMemcpy(bound.data(), pb.bound, bound.size() * 4, cudaMemcpyDeviceToHost));
        CK(cudaMemcpy(mass.data(), pb.mass, mass.size() * 4, cudaMemcpyDeviceToHost));
        double sb = 0, se = 0, sl = 0, mm = 0;
        int beyond = 0;
        for (size_t i = 0; i < pb.sample.size(); ++i) {
            const int64_t n = pb.sample[i];
            const double L = pb.ref_loss[i], err = std::fabs(loss[(size_t)n] - L);
            sb += bound[(size_t)n];
            se += err;
            sl += L;
            // the bf16 allowance of v2 and v3 (test_emd_cuda.cpp's kV2Tol: 2^-6 |r| tail + 2^-15 tail^2) plus fp32's
            const double tail = pb.ref_tail[i];
            beyond += err > bound[(size_t)n] + std::ldexp(std::sqrt(L) * tail, -6) + std::ldexp(tail * tail, -15) +
                                2e-5 * L + 1e-6;
        }
        for (int64_t n = 0; n < s.N; ++n) mm += mass[(size_t)n] / (double)s.N;
        r.bound_rel = sb / sl;
        r.true_rel = se / sl;
        r.beyond = beyond;
        r.mean_mass = mm;
    }
    std::vector<__nv_bfloat16> g((size_t)s.V);
    double le = 0, ge = 0;
    for (size_t i = 0; i < pb.sample.size(); ++i) {
        const int64_t n = pb.sample[i];
        le = std::max(le, std::fabs(loss[(size_t)n] - pb.ref_loss[i]) / std::max(pb.ref_loss[i], 1e-30));
        CK(cudaMemcpy(g.data(), pb.logits + (size_t)n * s.V, (size_t)s.V * 2, cudaMemcpyDeviceToHost));
        double num = 0, den = 0;
        for (int64_t v = 0; v < s.V; ++v) {
            const double w = pb.ref_grad[i * (size_t)s.V + (size_t)v], x = bf16_at(g, (size_t)v);
            num += (x - w) * (x - w);
            den += w * w;
        }
        ge = std::max(ge, std::sqrt(num / std::max(den, 1e-300)));
    }
    r.loss_err = le;
    r.grad_err = forward_only ? NAN : ge;
}

Result time_impl(Impl impl, Problem& pb, float threshold, int iters, int warmup) {
    const Shape& s = pb.s;
    const size_t nv_bytes = (size_t)s.N * (size_t)s.V * 2;
    NaiveBuffers fb;
    if (impl == Impl::Floor) {
        CK(cudaMalloc(&fb.P, nv_bytes));
        CK(cudaMalloc(&fb.S, nv_bytes));
        CK(cudaMalloc(&fb.R, (size_t)s.N * s.D * 2));
        CK(cudaMalloc(&fb.U, (size_t)s.N * s.D * 2));
        CK(cudaMemcpy(fb.P, pb.pristine, nv_bytes, cudaMemcpyDeviceToDevice));  // any bf16 values will do
        lm::Params rp;  // random R (zeros would let the tensor cores draw less power and clock higher)
        rp.seed = 99;
        fill_logits<<<(unsigned)(((size_t)s.N * s.D + 255) / 256), 256, 0, g_stream>>>(fb.R, s.N, s.D, rp, 0, 0.02f);
        CK(cudaStreamSynchronize(g_stream));
    }
    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    std::vector<double> ms;
    Result r;
    for (int it = 0; it < warmup + iters; ++it) {
        CK(cudaMemcpyAsync(pb.logits, pb.pristine, nv_bytes, cudaMemcpyDeviceToDevice, g_stream));
        flush_l2();
        CK(cudaStreamSynchronize(g_stream));
        const size_t before = pool_used();
        pool_reset_high();
        CK(cudaEventRecord(e0, g_stream));
        run_impl(impl, pb, threshold, &fb);
        CK(cudaEventRecord(e1, g_stream));
        CK(cudaEventSynchronize(e1));
        CK(cudaGetLastError());
        float t = 0;
        CK(cudaEventElapsedTime(&t, e0, e1));
        const double extra = (double)(pool_high() - before) / 1048576.0;
        if (it >= warmup) {
            ms.push_back(t);
            r.extra_mib = std::isnan(r.extra_mib) ? extra : std::max(r.extra_mib, extra);
        }
        // v1 takes seconds at the large shapes: fewer runs there (at least 2 timed).
        if (it == 0 && t > 1000.0f) {
            warmup = std::min(warmup, 1);
            iters = std::min(iters, 2);
        }
    }
    std::sort(ms.begin(), ms.end());
    r.median_ms = ms[ms.size() / 2];
    r.min_ms = ms[0];
    if (impl != Impl::Floor) measure_error(pb, r, threshold > 0.0f, is_forward_only(impl));
    if (impl == Impl::Floor)
        for (void* p : {(void*)fb.P, (void*)fb.S, (void*)fb.R, (void*)fb.U}) CK(cudaFree(p));
    CK(cudaEventDestroy(e0));
    CK(cudaEventDestroy(e1));
    return r;
}

std::vector<std::string> split(const std::string& s, char sep) {
    std::vector<std::string> out;
    size_t a = 0;
    while (a <= s.size()) {
        const size_t b = s.find(sep, a);
        out.push_back(s.substr(a, b == std::string::npos ? std::string::npos : b - a));
        if (b == std::string::npos) break;
        a = b + 1;
    }
    return out;
}

void report(FILE* tsv, const char* card, const Shape& s, const char* impl, float thr, const Result& r) {
    const double tflops = 4.0 * (double)s.N * (double)s.V * (double)s.D / (r.median_ms * 1e-3) / 1e12;
    std::printf("  %-24s thr=%-7g %9.3f ms (min %9.3f) %7.1f TFLOP/s  extra %9.1f MiB  loss err %.2e  grad err %.2e",
                impl, thr, r.median_ms, r.min_ms, tflops, r.extra_mib, r.loss_err, r.grad_err);
    if (thr > 0)
        std::printf("  sum bound/sum L %.2e  sum err/sum L %.2e  rows beyond bound %d  mean mass %.2e", r.bound_rel,
                    r.true_rel, r.beyond, r.mean_mass);
    std::printf("\n");
    std::fflush(stdout);
    if (tsv) {
        std::fprintf(tsv, "native\t%s\t%lld\t%lld\t%lld\t%s\t%g\t%.4f\t%.4f\t%.1f\t%.1f\t%.3e\t%.3e\t%.3e\t%.3e\t%.3e\t%d\n",
                     card, (long long)s.N, (long long)s.V, (long long)s.D, impl, thr, r.median_ms, r.min_ms, tflops,
                     r.extra_mib, r.loss_err, r.grad_err, r.bound_rel, r.true_rel, r.mean_mass, r.beyond);
        std::fflush(tsv);
    }
}

// A small case of every implementation, checked loosely against the float64 reference: for compute-sanitizer.
int sanitize_case() {
    const Shape shapes[] = {{70, 1003, 72}, {5, 300, 40}};
    int bad = 0;
    for (const Shape& s : shapes) {
        for (int lm_mode = 0; lm_mode < 2; ++lm_mode) {
            Problem pb;
            make_problem(pb, s, lm_mode, 2.0, 5);
            for (Impl impl : {Impl::V1, Impl::V2, Impl::V3})
                for (float thr : {0.0f, 1e-4f}) {
                    std::string why;
                    if (fused_version(impl, pb, thr, &why).empty()) {  // (v3 off sm_90: nothing to sanitize)
                        std::printf("sanitize %s N=%lld V=%lld D=%lld lm=%d thr=%g: skipped: %s\n", impl_name(impl),
                                    (long long)s.N, (long long)s.V, (long long)s.D, lm_mode, thr, why.c_str());
                        continue;
                    }
                    Result r = time_impl(impl, pb, thr, 1, 0);
                    // The sanitizer is the point here; the numbers only have to be sane (peaked LM rows have tiny
                    // losses, whose bf16 relative errors are large by nature: the ctest cases check them properly).
                    const bool finite = std::isfinite(r.loss_err) && std::isfinite(r.grad_err);
                    const bool ok = finite && (thr > 0 ? r.beyond == 0 : true) &&
                                    (lm_mode || (r.loss_err < 2e-2 && r.grad_err < 5e-2));
                    std::printf("sanitize %s N=%lld V=%lld D=%lld lm=%d thr=%g: loss err %.2e grad err %.2e %s\n",
                                impl_name(impl), (long long)s.N, (long long)s.V, (long long)s.D, lm_mode, thr,
                                r.loss_err, r.grad_err, ok ? "ok" : "BAD");
                    bad += !ok;
                }
            free_problem(pb);
        }
    }
    return bad ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
    std::string shapes_arg = "8192,32000,4096;8192,128256,4096;4096,32000,5120;2048,32000,2048;1024,32000,1024";
    std::string impls_arg = "v1,v2,v2fwd,v3,v3fwd,naive,floor", skip_arg = "1e-6,1e-5,1e-4", skip_impls_arg = "v2,v3";
    std::string out_path;
    int iters = 10, warmup = 2;
    double v1_max_work = 2048.0 * 32000 * 2048;  // v1 streams the embedding once per row: only up to this N*V*D
    double entropy = 2.0;
    bool sanitize = false;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto next = [&]() -> std::string {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "emd_gpu_bench: %s needs a value\n", a.c_str());
                std::exit(2);
            }
            return argv[++i];
        };
        if (a == "--shapes") shapes_arg = next();
        else if (a == "--impls") impls_arg = next();
        else if (a == "--iters") iters = std::atoi(next().c_str());
        else if (a == "--warmup") warmup = std::atoi(next().c_str());
        else if (a == "--out") out_path = next();
        else if (a == "--skip") skip_arg = next();
        else if (a == "--skip-impls") skip_impls_arg = next();
        else if (a == "--entropy") entropy = std::atof(next().c_str());
        else if (a == "--sanitize") sanitize = true;
        else if (a == "--v1-max-work") v1_max_work = std::atof(next().c_str());
        else {
            std::fprintf(stderr, "emd_gpu_bench: unknown argument %s (see the comment at the top of emd_gpu_bench.cu)\n",
                         a.c_str());
            return 2;
        }
    }
    if (iters < 1 || warmup < 0) {
        std::fprintf(stderr, "emd_gpu_bench: --iters must be >= 1 and --warmup >= 0\n");
        return 2;
    }
    if (!tasft_cuda_available()) {
        std::fprintf(stderr, "emd_gpu_bench: no usable CUDA device\n");
        return 1;
    }
    int dev = 0;
    cudaDeviceProp prop;
    CK(cudaGetDevice(&dev));
    CK(cudaGetDeviceProperties(&prop, dev));
    CK(cudaStreamCreateWithFlags(&g_stream, cudaStreamNonBlocking));
    CK(cudaDeviceGetDefaultMemPool(&g_pool, dev));
    uint64_t keep = UINT64_MAX;  // keep freed pool memory reserved: allocation cost out of the timing, usage still counted
    CK(cudaMemPoolSetAttribute(g_pool, cudaMemPoolAttrReleaseThreshold, &keep));
    g_flush_bytes = (size_t)std::max(prop.l2CacheSize, 1 << 20) * 2;
    CK(cudaMalloc(&g_flush, g_flush_bytes));
    if (!sanitize) g_cublas.load();  // (the sanitizer case needs no cuBLAS, and its leak check wants nothing left over)
    std::printf("emd_gpu_bench: %s (sm_%d%d, %d SMs, L2 %d MiB), libtasft %s, cuBLAS %s\n", prop.name, prop.major,
                prop.minor, prop.multiProcessorCount, prop.l2CacheSize >> 20, tasft_version(),
                g_cublas.ok ? "loaded" : "not found (naive and floor rows skipped)");
    if (sanitize) {
        const int rc = sanitize_case();
        CK(cudaFree(g_flush));
        CK(cudaStreamDestroy(g_stream));
        return rc;
    }

    FILE* tsv = out_path.empty() ? nullptr : std::fopen(out_path.c_str(), "a");
    if (!out_path.empty() && !tsv) {
        std::fprintf(stderr, "emd_gpu_bench: cannot open %s\n", out_path.c_str());
        return 1;
    }
    std::vector<Shape> shapes;
    for (const std::string& t : split(shapes_arg, ';')) {
        const auto f = split(t, ',');
        if (f.size() != 3) {
            std::fprintf(stderr, "emd_gpu_bench: bad shape '%s' (want N,V,D)\n", t.c_str());
            return 2;
        }
        shapes.push_back({std::atoll(f[0].c_str()), std::atoll(f[1].c_str()), std::atoll(f[2].c_str())});
    }
    auto impl_of = [](const std::string& n, Impl* out) {
        if (n == "v1") *out = Impl::V1;
        else if (n == "v2") *out = Impl::V2;
        else if (n == "v2fwd") *out = Impl::V2Fwd;
        else if (n == "v3") *out = Impl::V3;
        else if (n == "v3fwd") *out = Impl::V3Fwd;
        else if (n == "auto") *out = Impl::Auto;
        else if (n == "naive") *out = Impl::Naive;
        else if (n == "floor") *out = Impl::Floor;
        else return false;
        return true;
    };
    std::vector<Impl> impls, skip_impls;
    for (const std::string& n : split(impls_arg, ',')) {
        Impl i;
        if (!impl_of(n, &i)) {
            std::fprintf(stderr, "emd_gpu_bench: unknown implementation '%s' (v1, v2, v2fwd, v3, v3fwd, auto, naive, "
                         "floor)\n", n.c_str());
            return 2;
        }
        impls.push_back(i);
    }
    for (const std::string& n : split(skip_impls_arg, ',')) {
        Impl i;
        if (!n.empty() && impl_of(n, &i) && is_fused(i) && !is_forward_only(i)) skip_impls.push_back(i);
    }
    std::vector<float> thresholds;
    for (const std::string& t : split(skip_arg, ','))
        if (!t.empty()) thresholds.push_back((float)std::atof(t.c_str()));

    for (const Shape& s : shapes) {
        std::printf("== N=%lld V=%lld D=%lld (logits %.0f MiB bf16)\n", (long long)s.N, (long long)s.V, (long long)s.D,
                    (double)s.N * s.V * 2 / 1048576.0);
        // The row name of an implementation on this problem, or "" when it does not run here (the line says why):
        // a version the library refuses for this call on this device, v1 above --v1-max-work. "auto" names the
        // version it resolved to.
        auto row_name = [&](Impl impl, Problem& pb, float thr, const char* suffix) -> std::string {
            std::string name = std::string(impl_name(impl)) + suffix, version = "v1";
            if (is_fused(impl)) {
                std::string why;
                version = fused_version(impl, pb, thr, &why);
                if (version.empty()) {
                    std::printf("  %-24s thr=%-7g skipped: %s\n", name.c_str(), thr, why.c_str());
                    return "";
                }
                if (impl == Impl::Auto) name = std::string(impl_name(impl)) + " (" + version + ")" + suffix;
            }
            if (is_fused(impl) && version == "v1" && (double)s.N * s.V * s.D > v1_max_work) {
                std::printf("  %-24s skipped: N*V*D above --v1-max-work %.3g (one block per row: hours here)\n",
                            name.c_str(), v1_max_work);
                return "";
            }
            return name;
        };
        Problem pb;
        make_problem(pb, s, false, entropy, 1);
        for (Impl impl : impls) {
            if ((impl == Impl::Naive || impl == Impl::Floor) && !g_cublas.ok) continue;
            const std::string name = row_name(impl, pb, 0.0f, "");
            if (!name.empty()) report(tsv, prop.name, s, name.c_str(), 0.0f, time_impl(impl, pb, 0.0f, iters, warmup));
        }
        free_problem(pb);
        if (thresholds.empty() || skip_impls.empty()) continue;
        std::printf("  -- skipping mode on LM-like logits (entropy %.1f nats)\n", entropy);
        make_problem(pb, s, true, entropy, 2);
        for (Impl impl : skip_impls) {
            std::string name = row_name(impl, pb, 0.0f, " exact, lm");
            if (!name.empty()) report(tsv, prop.name, s, name.c_str(), 0.0f, time_impl(impl, pb, 0.0f, iters, warmup));
            for (float thr : thresholds) {
                name = row_name(impl, pb, thr, " skip, lm");
                if (!name.empty()) report(tsv, prop.name, s, name.c_str(), thr, time_impl(impl, pb, thr, iters, warmup));
            }
        }
        free_problem(pb);
    }
    if (tsv) std::fclose(tsv);
    return 0;
}
