// v2 of the CUDA kernel: the two GEMMs on tensor cores (bf16 MMA, fp32 accumulation), chosen per call by
// tasft_emd_variant.cuda_kernel = TASFT_CUDA_KERNEL_V2, or AUTO for bf16 / fp16 logits with a bf16 embedding (emd.h).
//
// Four launches on the caller's stream, with a workspace of N*D fp32 (U, later R) + O(N) + the skip flags:
//   1. row_stats   one warp per row: m = max z, inv_s = 1 / sum exp(z - m)  (p = exp(z - m) * inv_s, normalised exactly
//                  as v1 does; a rounded lse would leave sum p off by |lse| * 2^-24)
//   2. forward     U[N, D] = P' @ E over CTA tiles of 64 rows x 256 dims, walking the vocabulary in steps of 32
//                  (split over V when the tiles alone do not fill the device: then fp32 atomics into a zeroed U).
//                  The A operand is made as it is staged: z -> exp(z - m) * inv_s -> bf16 in shared memory (nothing
//                  [N, V] exists), with the target's entry left out (P' = P with p_y = 0); finalize adds
//                  (p_y - 1) e_y in fp32. Why: a confident row (p_y = 0.999) has |r| ~ 1e-3, and u - e_y after a
//                  bf16 p_y (which rounds to 1.0) cancels to nothing: a 1e-1 loss error on the H200 with A = P; with
//                  A = P - Y the bf16 rounding of p_y - 1 costs up to 2^-10 on ordinary rows (5e-4 loss error). Out
//                  of the GEMM, every row's r is as accurate as its non-target terms (see bench/RESULTS.md).
//                  Skipping: a 64 x 32 tile whose p are all below the threshold is neither staged nor multiplied; its
//                  mass goes into q per row and a flag for the backward.
//   3. finalize    one block per row: r = U + (p_y - 1) e_y (U - e_y when the forward skipped the target's tile: p_y
//                  is then part of the skipped mass), u = r + e_y,
//                  loss = ||r||^2, ru = r_b . u, bound; R_b = bf16(r) written over the row's own U memory (row stride
//                  2D bf16), so the workspace stays N*D*4 bytes.
//   4. backward    S = R_b @ E^T over CTA tiles of 64 rows x 128 vocabulary entries, walking D in steps of 32; epilogue
//                  dz = grad_scale * 2 p (S - ru) with p recomputed from z, written in place (each element is read
//                  and written by the same thread; CTAs own disjoint tiles). Skipping: the forward's flags, per 64x32.
// Determinism: with the vocabulary split (small N * D) the fp32 atomics make u, and so the loss, vary in the last bits
// from call to call; with one split (N * D large enough to fill the device) every output is deterministic.
// Precision: P - Y and R are rounded to bf16 for the MMAs, as PyTorch's bf16 computation rounds softmax and its gradient;
// using the same R_b in S and in ru keeps dz the exact gradient of a slightly perturbed r (p one-hot: dz = 0 exactly).
// Limits: the embedding must be bf16 and the device sm_80+ (v2_supports: AUTO then runs v1, an explicit v2
// fails). Logits fp32/bf16/fp16.
// Not yet done (v3): cp.async / TMA double buffering, wgmma on sm_90a, persistent scheduling; see bench/RESULTS.md.
#include <cinttypes>
#include <cstdint>
#include <cmath>

#include <mma.h>

#include "emd_cuda_common.cuh"

namespace tasft {
namespace cuda {
namespace {

constexpr int kThreads = 256;  // 8 warps
// forward tile
constexpr int F_BM = 64, F_BD = 256, F_BK = 32;
constexpr int F_LDA = F_BK + 8, F_LDB = F_BD + 8;  // padded leading dimensions (multiples of 8 elements, 16 bytes)
// backward tile
constexpr int B_BM = 64, B_BN = 128, B_BK = 32;
constexpr int B_LDA = B_BK + 8, B_LDB = B_BK + 8;
static_assert(B_BN % F_BK == 0, "backward tiles must cover whole forward skip tiles");
static_assert(B_BM == F_BM, "forward and backward share the row tiling (skip flags)");

enum RowState : int8_t { kRowIgnored = 0, kRowActive = 1, kRowBadTarget = 2 };

struct Params {
    const void* logits;
    void* grad;  // may equal logits; NULL = forward only
    const __nv_bfloat16* emb;
    const int64_t* targets;
    float* loss_rows;
    float* expected;
    float* bound;
    float* mass;
    // workspace
    float* U;         // [N, D] fp32; after finalize: R_b as bf16 with row stride 2 * D elements
    float* stats;     // [N, 4]: m, inv_s, ru, q
    int8_t* state;    // [N]
    uint8_t* skip;    // [ceil(N / 64), ceil(V / 32)]: 1 = the forward skipped this 64 x 32 tile
    int64_t N, V, D, stride, ignore;
    float grad_scale, threshold;
    int splits;       // forward split over the vocabulary
    int64_t k_tiles;  // ceil(V / 32)
    bool skip_on;     // threshold > 0: the skip flags are valid
};

__device__ __forceinline__ float warp_sum(float x) {
    for (int o = 16; o > 0; o >>= 1) x += __shfl_xor_sync(0xffffffffu, x, o);
    return x;
}
__device__ __forceinline__ float warp_max(float x) {
    for (int o = 16; o > 0; o >>= 1) x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, o));
    return x;
}

// ---------------- 1. row statistics ----------------
template <typename TL>
__global__ void __launch_bounds__(kThreads) row_stats(Params a) {
    const int lane = threadIdx.x & 31;
    const int64_t n = (int64_t)blockIdx.x * (kThreads / 32) + (threadIdx.x >> 5);
    if (n >= a.N) return;
    const int64_t y = a.targets[n];
    float* st = a.stats + n * 4;
    if (y == a.ignore || y < 0 || y >= a.V) {
        if (lane == 0) {
            a.state[n] = y == a.ignore ? kRowIgnored : kRowBadTarget;
            st[0] = INFINITY;  // p = exp(z - inf) * 0 = 0 for finite z; the kernels also test the state
            st[1] = 0.0f;
            st[2] = 0.0f;
            st[3] = 0.0f;
        }
        return;
    }
    // One pass (the logits are read once): each lane keeps a running max and a sum rescaled when the max grows,
    // then the lanes' (max, sum) pairs are merged. A lane that saw only -inf has sum 0 and never subtracts -inf
    // from itself.
    const TL* z = static_cast<const TL*>(a.logits) + n * a.stride;
    float m = -INFINITY, s = 0.0f;
    for (int64_t v = lane; v < a.V; v += 32) {
        const float x = to_float(z[v]);
        if (x > m) {
            s = (m == -INFINITY ? 0.0f : s * __expf(m - x)) + 1.0f;
            m = x;
        } else if (x != -INFINITY) {  // -inf adds 0 (and -inf - -inf would be NaN); NaN poisons s as softmax would
            s += __expf(x - m);
        }
    }
    const float row_max = warp_max(m);
    s = warp_sum(m == -INFINITY ? 0.0f : s * __expf(m - row_max));
    m = row_max;
    if (lane == 0) {
        a.state[n] = kRowActive;
        st[0] = m;
        st[1] = 1.0f / s;
        st[2] = 0.0f;
        st[3] = 0.0f;
    }
}

#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 800
#define TASFT_V2_DEVICE_OK 1
#endif

// ---------------- 2. forward: U = P @ E ----------------
// grid: x = D tiles, y = row tiles, z = vocabulary splits. Warps 2 x 4, each 32 rows x 64 dims (2 x 4 fragments).
template <typename TL, bool kSkip>
__global__ void __launch_bounds__(kThreads) forward(Params a) {
#ifdef TASFT_V2_DEVICE_OK
    using namespace nvcuda;
    __shared__ __align__(128) __nv_bfloat16 As[F_BM * F_LDA];
    __shared__ __align__(128) __nv_bfloat16 Bs[F_BK * F_LDB];
    __shared__ __align__(128) float scratch[8][16 * 16];
    __shared__ float s_m[F_BM], s_inv[F_BM], s_q[F_BM];
    __shared__ int64_t s_y[F_BM];  // target of an active row, -1 otherwise

    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int wr = warp >> 2, wc = warp & 3;
    const int64_t row0 = (int64_t)blockIdx.y * F_BM, d0 = (int64_t)blockIdx.x * F_BD;
    const bool owner = blockIdx.x == 0;  // the D-tile-0 CTAs account the skipped mass and write the flags

    if (tid < F_BM) {
        const int64_t n = row0 + tid;
        const bool active = n < a.N && a.state[n] == kRowActive;
        s_m[tid] = active ? a.stats[n * 4] : INFINITY;
        s_inv[tid] = active ? a.stats[n * 4 + 1] : 0.0f;
        s_q[tid] = 0.0f;
        s_y[tid] = active ? a.targets[n] : -1;
    }
    // This split's range of vocabulary steps.
    const int64_t steps = a.k_tiles, per = (steps + a.splits - 1) / a.splits;
    const int64_t k_begin = (int64_t)blockIdx.z * per, k_end = k_begin + per < steps ? k_begin + per : steps;

    wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[2][4];
    #pragma unroll
    for (int i = 0; i < 2; ++i)
        #pragma unroll
        for (int j = 0; j < 4; ++j) wmma::fill_fragment(acc[i][j], 0.0f);
    __syncthreads();

    const TL* logits = static_cast<const TL*>(a.logits);
    const bool vec_e = (a.D % 8 == 0) && ((reinterpret_cast<uintptr_t>(a.emb) & 15) == 0);
    for (int64_t kt = k_begin; kt < k_end; ++kt) {
        const int64_t v0 = kt * F_BK;
        // Stage A: thread (warp, lane) makes p for rows warp + 8 i, column lane: a row's 32 columns are one warp.
        bool keep = false;
        for (int i = 0; i < F_BM / 8; ++i) {
            const int r = warp + 8 * i;
            const int64_t n = row0 + r, v = v0 + lane;
            float p = 0.0f;
            if (n < a.N && v < a.V && s_inv[r] != 0.0f)  // s_inv = 0: an inactive row, whose logits are not read
                p = __expf(to_float(logits[n * a.stride + v]) - s_m[r]) * s_inv[r];
            As[r * F_LDA + lane] = __float2bfloat16_rn(v == s_y[r] ? 0.0f : p);  // the target's term: in finalize
            if (kSkip) {
                keep = keep || !(p < a.threshold);  // NaN keeps
                const float row_mass = warp_sum(p);
                if (lane == 0) scratch[warp][i] = row_mass;  // kept until the vote below
            }
        }
        if (kSkip) {
            if (!__syncthreads_or(keep)) {  // every p of the 64 x 32 tile is below the threshold
                if (owner) {
                    if (lane == 0)
                        for (int i = 0; i < F_BM / 8; ++i) s_q[warp + 8 * i] += scratch[warp][i];
                    if (tid == 0) a.skip[(int64_t)blockIdx.y * a.k_tiles + kt] = 1;
                }
                __syncthreads();  // scratch and As are rewritten by the next step
                continue;
            }
            if (owner && tid == 0) a.skip[(int64_t)blockIdx.y * a.k_tiles + kt] = 0;
        }
        // Stage B: E[v0 : v0 + 32, d0 : d0 + 256] (zeros outside), 16-byte loads where the layout allows.
        if (vec_e && d0 + F_BD <= a.D) {
            for (int idx = tid; idx < F_BK * F_BD / 8; idx += kThreads) {
                const int r = idx / (F_BD / 8), c8 = idx % (F_BD / 8);
                const int64_t v = v0 + r;
                uint4 val = make_uint4(0, 0, 0, 0);
                if (v < a.V) val = *reinterpret_cast<const uint4*>(a.emb + v * a.D + d0 + c8 * 8);
                *reinterpret_cast<uint4*>(&Bs[r * F_LDB + c8 * 8]) = val;
            }
        } else {
            for (int idx = tid; idx < F_BK * F_BD; idx += kThreads) {
                const int r = idx / F_BD, c = idx % F_BD;
                const int64_t v = v0 + r, d = d0 + c;
                Bs[r * F_LDB + c] = (v < a.V && d < a.D) ? a.emb[v * a.D + d] : __float2bfloat16_rn(0.0f);
            }
        }
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < F_BK; kk += 16) {
            wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> fa[2];
            wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::row_major> fb[4];
            #pragma unroll
            for (int i = 0; i < 2; ++i) wmma::load_matrix_sync(fa[i], &As[(wr * 32 + i * 16) * F_LDA + kk], F_LDA);
            #pragma unroll
            for (int j = 0; j < 4; ++j) wmma::load_matrix_sync(fb[j], &Bs[kk * F_LDB + wc * 64 + j * 16], F_LDB);
            #pragma unroll
            for (int i = 0; i < 2; ++i)
                #pragma unroll
                for (int j = 0; j < 4; ++j) wmma::mma_sync(acc[i][j], fa[i], fb[j], acc[i][j]);
        }
        __syncthreads();
    }

    // Epilogue: fragment -> the warp's scratch -> U (plain stores, or atomics when the vocabulary is split).
    #pragma unroll
    for (int i = 0; i < 2; ++i)
        #pragma unroll
        for (int j = 0; j < 4; ++j) {
            wmma::store_matrix_sync(scratch[warp], acc[i][j], 16, wmma::mem_row_major);
            __syncwarp();
            for (int e = lane; e < 256; e += 32) {
                const int64_t n = row0 + wr * 32 + i * 16 + e / 16, d = d0 + wc * 64 + j * 16 + e % 16;
                if (n < a.N && d < a.D) {
                    if (a.splits > 1) atomicAdd(&a.U[n * a.D + d], scratch[warp][e]);
                    else a.U[n * a.D + d] = scratch[warp][e];
                }
            }
            __syncwarp();
        }
    if (kSkip && owner) {
        __syncthreads();
        if (tid < F_BM && row0 + tid < a.N && s_q[tid] != 0.0f) atomicAdd(&a.stats[(row0 + tid) * 4 + 3], s_q[tid]);
    }
#endif
}

// ---------------- 3. finalize: r, loss, ru, bound; R_b over U ----------------
__device__ float block_sum(float x, float* red) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    x = warp_sum(x);
    if (lane == 0) red[warp] = x;
    __syncthreads();
    float t = 0.0f;
    for (int w = 0; w < kThreads / 32; ++w) t += red[w];
    __syncthreads();
    return t;
}

template <typename TL>
__global__ void __launch_bounds__(kThreads) finalize(Params a) {
    __shared__ float red[kThreads / 32];
    const int64_t n = blockIdx.x;
    const int tid = threadIdx.x;
    const int8_t state = a.state[n];
    float* u = a.U + n * a.D;
    __nv_bfloat16* rb = reinterpret_cast<__nv_bfloat16*>(u);  // R_b[n, d] lives at bf16 index d of the row's memory
    const int64_t y = a.targets[n];
    const __nv_bfloat16* ey = a.emb + (state == kRowActive ? y : 0) * a.D;
    // The GEMM left out the target's term: r = U + (p_y - 1) e_y, with p_y in fp32 from the logits (still intact: the
    // backward overwrites them later). If the forward skipped the target's tile, p_y e_y belongs to the skipped mass q
    // like every skipped term, and r' = U - e_y.
    const bool target_skipped =
        a.skip_on && state == kRowActive && a.skip[(n / F_BM) * a.k_tiles + y / F_BK] != 0;
    float tail = -1.0f;  // p_y - 1
    if (state == kRowActive && !target_skipped) {
        const float* st = a.stats + n * 4;
        tail = __expf(to_float(static_cast<const TL*>(a.logits)[n * a.stride + y]) - st[0]) * st[1] - 1.0f;
    }

    float loss_part = 0.0f, ru_part = 0.0f;
    // Chunks of kThreads dims: everyone reads the chunk's U, barrier, then writes R_b, which lands at byte 2d, i.e.
    // inside U[d / 2] with d / 2 < the chunk's end: only elements already read are overwritten.
    for (int64_t c0 = 0; c0 < a.D; c0 += kThreads) {
        const int64_t d = c0 + tid;
        float ud = 0.0f, rd = 0.0f;
        if (d < a.D) {
            if (state == kRowActive) {
                const float eyd = __bfloat162float(ey[d]);
                rd = u[d] + tail * eyd;
                ud = rd + eyd;
                loss_part += rd * rd;
                ru_part += __bfloat162float(__float2bfloat16_rn(rd)) * ud;
            } else {
                ud = u[d];
            }
            if (a.expected) a.expected[n * a.D + d] = state == kRowIgnored ? 0.0f : ud;
        }
        __syncthreads();
        if (d < a.D) rb[d] = __float2bfloat16_rn(rd);
    }
    const float loss = block_sum(loss_part, red);
    const float ru = block_sum(ru_part, red);
    if (tid == 0) {
        float* st = a.stats + n * 4;
        const float q = st[3];
        if (state == kRowActive) {
            a.loss_rows[n] = loss;
            st[2] = ru;
            if (a.bound) a.bound[n] = 2.0f * sqrtf(loss) * q + q * q;
            if (a.mass) a.mass[n] = q;
        } else {
            // ignored: 0; a bad target (only the async entry points get here): NaN loss and, through ru, NaN gradient
            const float v = state == kRowIgnored ? 0.0f : NAN;
            a.loss_rows[n] = v;
            st[2] = v;
            if (a.bound) a.bound[n] = v;
            if (a.mass) a.mass[n] = v;
        }
    }
}

// ---------------- 4. backward: dz = grad_scale * 2 p (R_b E^T - ru) ----------------
// A 1-D grid of row tiles (64) x vocabulary tiles (128), rasterised in groups of kGroup row tiles (consecutive CTAs
// walk kGroup row tiles, then the next vocabulary tile), so that a wave's slabs of R_b and E both stay in L2: E is
// read from DRAM N / (64 kGroup) times, R_b about V / (128 waves' worth of tiles) times.
// Warps 2 x 4, each 32 rows x 32 columns (2 x 2 fragments).
constexpr int64_t kGroup = 32;
template <typename TL, bool kSkip>
__global__ void __launch_bounds__(kThreads) backward(Params a) {
#ifdef TASFT_V2_DEVICE_OK
    using namespace nvcuda;
    __shared__ __align__(128) __nv_bfloat16 As[B_BM * B_LDA];
    __shared__ __align__(128) __nv_bfloat16 Bs[B_BN * B_LDB];  // Bs[v][d]: E^T as a column-major B operand
    __shared__ __align__(128) float scratch[8][16 * 16];
    __shared__ float s_m[B_BM], s_inv[B_BM], s_ru[B_BM];
    __shared__ int8_t s_state[B_BM];
    __shared__ uint8_t s_skip[B_BN / F_BK];

    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int wr = warp >> 2, wc = warp & 3;
    const int64_t row_tiles = (a.N + B_BM - 1) / B_BM, v_tiles = (a.V + B_BN - 1) / B_BN;
    const int64_t pid = blockIdx.x, group = pid / (kGroup * v_tiles), first = group * kGroup;
    const int64_t group_rows = row_tiles - first < kGroup ? row_tiles - first : kGroup;
    const int64_t row_tile = first + (pid % (kGroup * v_tiles)) % group_rows;
    const int64_t v_tile = (pid % (kGroup * v_tiles)) / group_rows;
    const int64_t row0 = row_tile * B_BM, v0 = v_tile * B_BN;
    TL* grad = static_cast<TL*>(a.grad);
    const TL* logits = static_cast<const TL*>(a.logits);

    if (tid < B_BM) {
        const int64_t n = row0 + tid;
        s_state[tid] = n < a.N ? a.state[n] : kRowIgnored;
        s_m[tid] = n < a.N ? a.stats[n * 4] : 0.0f;
        s_inv[tid] = n < a.N ? a.stats[n * 4 + 1] : 0.0f;
        s_ru[tid] = n < a.N ? a.stats[n * 4 + 2] : 0.0f;
    }
    bool all_skipped = false;
    if (kSkip) {
        if (tid < B_BN / F_BK) {
            const int64_t kt = v0 / F_BK + tid;
            s_skip[tid] = kt < a.k_tiles ? a.skip[row_tile * a.k_tiles + kt] : 1;
        }
        __syncthreads();
        all_skipped = true;
        for (int t = 0; t < B_BN / F_BK; ++t) all_skipped = all_skipped && s_skip[t];
    }
    __syncthreads();

    if (all_skipped) {  // the forward skipped all four 64 x 32 tiles: zeros, no GEMM
        for (int e = tid; e < B_BM * B_BN; e += kThreads) {
            const int64_t n = row0 + e / B_BN, v = v0 + e % B_BN;
            if (n < a.N && v < a.V)
                grad[n * a.stride + v] = s_state[e / B_BN] == kRowBadTarget ? from_float<TL>(NAN) : from_float<TL>(0.0f);
        }
        return;
    }

    wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[2][2];
    #pragma unroll
    for (int i = 0; i < 2; ++i)
        #pragma unroll
        for (int j = 0; j < 2; ++j) wmma::fill_fragment(acc[i][j], 0.0f);

    const __nv_bfloat16* R = reinterpret_cast<const __nv_bfloat16*>(a.U);  // row stride 2 * D
    const int64_t ldr = 2 * a.D;
    const bool vec = (a.D % 8 == 0) && ((reinterpret_cast<uintptr_t>(a.emb) & 15) == 0);
    for (int64_t k0 = 0; k0 < a.D; k0 += B_BK) {
        if (vec && k0 + B_BK <= a.D) {
            for (int idx = tid; idx < B_BM * B_BK / 8; idx += kThreads) {  // A: 64 x 32 of R_b
                const int r = idx / (B_BK / 8), c8 = idx % (B_BK / 8);
                const int64_t n = row0 + r;
                uint4 val = make_uint4(0, 0, 0, 0);
                if (n < a.N) val = *reinterpret_cast<const uint4*>(R + n * ldr + k0 + c8 * 8);
                *reinterpret_cast<uint4*>(&As[r * B_LDA + c8 * 8]) = val;
            }
            for (int idx = tid; idx < B_BN * B_BK / 8; idx += kThreads) {  // B: 128 rows of E, 32 dims each
                const int r = idx / (B_BK / 8), c8 = idx % (B_BK / 8);
                const int64_t v = v0 + r;
                uint4 val = make_uint4(0, 0, 0, 0);
                if (v < a.V) val = *reinterpret_cast<const uint4*>(a.emb + v * a.D + k0 + c8 * 8);
                *reinterpret_cast<uint4*>(&Bs[r * B_LDB + c8 * 8]) = val;
            }
        } else {
            for (int idx = tid; idx < B_BM * B_BK; idx += kThreads) {
                const int r = idx / B_BK, c = idx % B_BK;
                const int64_t n = row0 + r, d = k0 + c;
                As[r * B_LDA + c] = (n < a.N && d < a.D) ? R[n * ldr + d] : __float2bfloat16_rn(0.0f);
            }
            for (int idx = tid; idx < B_BN * B_BK; idx += kThreads) {
                const int r = idx / B_BK, c = idx % B_BK;
                const int64_t v = v0 + r, d = k0 + c;
                Bs[r * B_LDB + c] = (v < a.V && d < a.D) ? a.emb[v * a.D + d] : __float2bfloat16_rn(0.0f);
            }
        }
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < B_BK; kk += 16) {
            wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> fa[2];
            wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::col_major> fb[2];
            #pragma unroll
            for (int i = 0; i < 2; ++i) wmma::load_matrix_sync(fa[i], &As[(wr * 32 + i * 16) * B_LDA + kk], B_LDA);
            // B(k, n) = E[v0 + n][k0 + k] = Bs[n * B_LDB + k]: column-major with leading dimension B_LDB.
            #pragma unroll
            for (int j = 0; j < 2; ++j) wmma::load_matrix_sync(fb[j], &Bs[(wc * 32 + j * 16) * B_LDB + kk], B_LDB);
            #pragma unroll
            for (int i = 0; i < 2; ++i)
                #pragma unroll
                for (int j = 0; j < 2; ++j) wmma::mma_sync(acc[i][j], fa[i], fb[j], acc[i][j]);
        }
        __syncthreads();
    }

    // Epilogue: dz = 2 grad_scale p (s - ru), p from z read by the thread that overwrites it.
    const float c2 = 2.0f * a.grad_scale;
    #pragma unroll
    for (int i = 0; i < 2; ++i)
        #pragma unroll
        for (int j = 0; j < 2; ++j) {
            wmma::store_matrix_sync(scratch[warp], acc[i][j], 16, wmma::mem_row_major);
            __syncwarp();
            for (int e = lane; e < 256; e += 32) {
                const int r = wr * 32 + i * 16 + e / 16, c = wc * 32 + j * 16 + e % 16;
                const int64_t n = row0 + r, v = v0 + c;
                if (n >= a.N || v >= a.V) continue;
                float dz;
                if (s_state[r] == kRowIgnored || (kSkip && s_skip[c / F_BK])) {
                    dz = s_state[r] == kRowBadTarget ? NAN : 0.0f;
                } else if (s_state[r] == kRowBadTarget) {
                    dz = NAN;
                } else {
                    const float p = __expf(to_float(logits[n * a.stride + v]) - s_m[r]) * s_inv[r];
                    dz = c2 * p * (scratch[warp][e] - s_ru[r]);
                }
                grad[n * a.stride + v] = from_float<TL>(dz);
            }
            __syncwarp();
        }
#endif
}

// ---------------- host ----------------
template <typename TL, bool kSkip>
int launch_all(Params& p, cudaStream_t stream, const char* fn) {
    const unsigned row_tiles = (unsigned)((p.N + F_BM - 1) / F_BM);
    row_stats<TL><<<(unsigned)((p.N + 7) / 8), kThreads, 0, stream>>>(p);
    const dim3 fgrid((unsigned)((p.D + F_BD - 1) / F_BD), row_tiles, (unsigned)p.splits);
    forward<TL, kSkip><<<fgrid, kThreads, 0, stream>>>(p);
    finalize<TL><<<(unsigned)p.N, kThreads, 0, stream>>>(p);
    if (p.grad) {
        const int64_t ctas = (int64_t)row_tiles * ((p.V + B_BN - 1) / B_BN);
        backward<TL, kSkip><<<(unsigned)ctas, kThreads, 0, stream>>>(p);
    }
    const cudaError_t err = cudaGetLastError();
    if (err != cudaSuccess) return cuda_fail(err, fn, "launching the v2 kernels");
    return TASFT_OK;
}

template <typename TL>
int launch_dtype(Params& p, bool skip, cudaStream_t stream, const char* fn) {
    return skip ? launch_all<TL, true>(p, stream, fn) : launch_all<TL, false>(p, stream, fn);
}

}  // namespace

int v2_supports(const tasft_emd_args* a, const char* fn) {
    if (a->embedding_dtype != TASFT_BFLOAT16)
        return fail(TASFT_UNSUPPORTED, "%s: cuda_kernel v2 needs a bfloat16 embedding (embedding_dtype %d)", fn,
                    a->embedding_dtype);
    int device = 0, major = 0, minor = 0;
    cudaError_t err = cudaGetDevice(&device);
    if (err != cudaSuccess) return cuda_fail(err, fn, "cudaGetDevice");
    err = cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device);
    if (err == cudaSuccess) err = cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device);
    if (err != cudaSuccess) return cuda_fail(err, fn, "cudaDeviceGetAttribute");
    if (major < 8)
        return fail(TASFT_UNSUPPORTED, "%s: cuda_kernel v2 needs a device of compute capability 8.0 or newer, device %d "
                    "is %d.%d", fn, device, major, minor);
    // Grid limits: row tiles are the forward's grid y (<= 65535), the backward's 1-D grid must fit 2^31 - 1.
    const int64_t max_row_tiles = 65535, max_ctas = ((int64_t)1 << 31) - 1;
    if ((a->rows + F_BM - 1) / F_BM > max_row_tiles ||
        ((a->rows + B_BM - 1) / B_BM) * ((a->vocab + B_BN - 1) / B_BN) > max_ctas)
        return fail(TASFT_UNSUPPORTED, "%s: cuda_kernel v2 cannot launch %" PRId64 " rows x %" PRId64
                    " vocabulary entries (grid limits: rows <= %" PRId64 ")", fn, a->rows, a->vocab,
                    max_row_tiles * F_BM);
    return TASFT_OK;
}

int launch_v2(const tasft_emd_args* a, const SkipOut& sk, cudaStream_t stream, const char* fn) {
    if (int st = v2_supports(a, fn)) return st;
    int device = 0, sms = 0;
    cudaError_t err = cudaGetDevice(&device);
    if (err != cudaSuccess) return cuda_fail(err, fn, "cudaGetDevice");
    err = cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device);
    if (err != cudaSuccess) return cuda_fail(err, fn, "cudaDeviceGetAttribute");

    Params p{};
    p.logits = a->logits;
    p.grad = a->grad_logits;
    p.emb = static_cast<const __nv_bfloat16*>(a->unit_embedding);
    p.targets = a->targets;
    p.loss_rows = a->loss_rows;
    p.expected = a->expected_embedding;
    p.bound = sk.threshold > 0.0f ? sk.loss_error_bound : nullptr;  // threshold 0: the caller zeroed them
    p.mass = sk.threshold > 0.0f ? sk.skipped_mass : nullptr;
    p.N = a->rows;
    p.V = a->vocab;
    p.D = a->dim;
    p.stride = a->logits_row_stride;
    p.ignore = a->ignore_index;
    p.grad_scale = a->grad_scale;
    p.threshold = sk.threshold;
    p.k_tiles = (p.V + F_BK - 1) / F_BK;
    p.skip_on = sk.threshold > 0.0f;
    const int64_t row_tiles = (p.N + F_BM - 1) / F_BM, ctas = row_tiles * ((p.D + F_BD - 1) / F_BD);
    // Split the vocabulary only when the output tiles cannot fill two waves; at least 8 steps per split.
    int64_t splits = 1;
    if (ctas < 2 * (int64_t)sms) splits = (2 * (int64_t)sms + ctas - 1) / ctas;
    const int64_t max_splits = p.k_tiles / 8 > 1 ? p.k_tiles / 8 : 1;
    p.splits = (int)(splits < max_splits ? splits : max_splits);
    if (p.splits > 65535) p.splits = 65535;

    // Workspace: U [N, D] fp32 | stats [N, 4] fp32 | state [N] | skip flags [row_tiles, k_tiles].
    const size_t u_bytes = (size_t)p.N * (size_t)p.D * 4, stats_bytes = (size_t)p.N * 16;
    const size_t state_off = u_bytes + stats_bytes, skip_off = (state_off + (size_t)p.N + 255) / 256 * 256;
    const size_t skip_bytes = sk.threshold > 0.0f ? (size_t)row_tiles * (size_t)p.k_tiles : 0;
    const size_t total = skip_off + skip_bytes;
    char* ws = nullptr;
    if (int st = device_alloc(reinterpret_cast<void**>(&ws), total, stream, fn)) return st;
    p.U = reinterpret_cast<float*>(ws);
    p.stats = reinterpret_cast<float*>(ws + u_bytes);
    p.state = reinterpret_cast<int8_t*>(ws + state_off);
    p.skip = reinterpret_cast<uint8_t*>(ws + skip_off);
    int st = TASFT_OK;
    if (p.splits > 1) {
        err = cudaMemsetAsync(p.U, 0, u_bytes, stream);
        if (err != cudaSuccess) st = cuda_fail(err, fn, "cudaMemsetAsync of the workspace");
    }
    if (st == TASFT_OK) {
        const bool skip = sk.threshold > 0.0f;
        switch (a->logits_dtype) {
            case TASFT_FLOAT32: st = launch_dtype<float>(p, skip, stream, fn); break;
            case TASFT_BFLOAT16: st = launch_dtype<__nv_bfloat16>(p, skip, stream, fn); break;
            case TASFT_FLOAT16: st = launch_dtype<__half>(p, skip, stream, fn); break;
            default: st = fail(TASFT_INVALID_ARGUMENT, "%s: bad logits_dtype %d", fn, a->logits_dtype);
        }
    }
    const cudaError_t free_err = cudaFreeAsync(ws, stream);
    if (st != TASFT_OK) return st;
    if (free_err != cudaSuccess) return cuda_fail(free_err, fn, "cudaFreeAsync of the workspace");
    return TASFT_OK;
}

}  // namespace cuda
}  // namespace tasft
