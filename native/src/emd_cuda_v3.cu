// v3 of the CUDA kernel (issue 11): the two GEMMs of the EMD bound on Hopper's wgmma, fed by TMA through an
// mbarrier pipeline, in persistent blocks of one producer and two consumer warpgroups. Chosen per call by
// tasft_emd_variant.cuda_kernel = TASFT_CUDA_KERNEL_V3; never chosen automatically until it has passed on a GPU
// (v3_validated()). Status: written and compiled for sm_90a, its index arithmetic checked on the CPU
// (test_sm90_layout); it has NOT run on a GPU yet (bench/RESULTS.md says what the first window must run).
//
// Four launches on the caller's stream (tiles and shared-memory map: emd_v3_plan.h):
//   K0 row_stats   one warp per row, 16-byte loads: c = log2(sum_v 2^(z_v log2 e - m)) + m (so p_v = 2^(z_v log2 e - c)),
//                  p_y in fp32, the row's state (ignored / active / bad target).
//   K1 forward     U = P' E per tile of 128 rows x 256 dims, K = the vocabulary in steps of 64. P' (p with p_y = 0
//                  and 0 past V) is made in registers from the TMA-loaded logits tile and fed to wgmma as the A
//                  operand; E comes by TMA as the transposed B operand. Epilogue per 256-dim slice: r = U + (p_y - 1)
//                  e_y in fp32 (v2's accuracy lesson: a bf16 p_y - 1 loses confident rows), R = bf16(r) to the
//                  workspace, and the slice's ||r||^2 and R.u to a [N, D / 256, 2] buffer.
//   K2 finalize    per row, the slices' partial sums in a fixed order: loss = ||r||^2, ru = R . u (deterministic,
//                  no atomics).
//   K3 backward    S = R E^T per tile of 128 rows x 256 vocabulary entries, K = D in steps of 64, both operands by
//                  TMA; epilogue dz = grad_scale * 2 p (S - ru) with p recomputed from z, written in place (each
//                  element is read and written by the thread that owns it; tiles are disjoint).
// Workspace: N D bf16 (R) + N (D / 256) 2 fp32 + O(N): within the N D 4 bytes of the target.
// Limits (v3_supports): an sm_90 device and sm_90a code in this library, bf16 logits and embedding, logits and
// embedding 16-byte aligned with row strides a multiple of 8 elements, D a multiple of 8, no skipping mode.
#include <cinttypes>
#include <cstdint>
#include <cstring>

#include "emd_cuda_common.cuh"
#include "emd_v3_mainloop.cuh"
#include "emd_v3_math.h"

namespace tasft {
namespace cuda {
namespace {

using namespace v3;

enum RowState : int8_t { kIgnored = 0, kActive = 1, kBadTarget = 2 };

struct Params {
    const __nv_bfloat16* logits;
    __nv_bfloat16* grad;         // may equal logits; NULL = forward only
    const __nv_bfloat16* emb;
    const int64_t* targets;
    float* loss_rows;
    float* expected;             // optional
    // workspace
    __nv_bfloat16* R;            // [N, D]
    float* partial;              // [N, slices, 2]: ||r||^2, R.u per 256-dim slice
    float* c;                    // [N] log2-domain normaliser
    float* p_y;                  // [N]
    float* ru;                   // [N]
    int8_t* state;               // [N]
    int64_t N, V, D, stride, ignore;
    float grad_scale;
    uint32_t row_tiles, dim_tiles, vocab_tiles, dim_ksteps, vocab_ksteps, slices;
};

// ---------------- K0: row statistics ----------------
__global__ void __launch_bounds__(256) v3_row_stats(Params p) {
    const int lane = threadIdx.x & 31;
    const int64_t row = (int64_t)blockIdx.x * 8 + (threadIdx.x >> 5);
    if (row >= p.N) return;
    const __nv_bfloat16* z = p.logits + row * p.stride;
    float m = -INFINITY, s = 0.0f;
    // 8 bf16 per 16-byte load (the row start is 16-byte aligned: stride % 8 == 0, base checked on the host).
    const int64_t vec_end = p.V / 8 * 8;
    for (int64_t v = (int64_t)lane * 8; v < vec_end; v += 256) {
        const uint4 raw = *reinterpret_cast<const uint4*>(z + v);
        const __nv_bfloat162* h = reinterpret_cast<const __nv_bfloat162*>(&raw);
        float x[8];
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            const float2 f = __bfloat1622float2(h[j]);
            x[2 * j] = f.x * kLog2e;
            x[2 * j + 1] = f.y * kLog2e;
        }
        float mx = x[0];
#pragma unroll
        for (int j = 1; j < 8; ++j) mx = fmaxf(mx, x[j]);
        float sx = 0.0f;
        if (mx != -INFINITY) {
#pragma unroll
            for (int j = 0; j < 8; ++j) sx += exp2f(x[j] - mx);
        }
        lse2_merge(m, s, mx, sx);
    }
    for (int64_t v = vec_end + lane; v < p.V; v += 32) {
        const float x = __bfloat162float(z[v]) * kLog2e;
        lse2_merge(m, s, x, x == -INFINITY ? 0.0f : 1.0f);
    }
    for (int off = 16; off > 0; off >>= 1) {
        const float om = __shfl_xor_sync(0xffffffffu, m, off), os = __shfl_xor_sync(0xffffffffu, s, off);
        lse2_merge(m, s, om, os);
    }
    if (lane != 0) return;
    const float c = row_c(m, s);
    const int64_t y = p.targets[row];
    int8_t st = kActive;
    float py = 0.0f;
    if (y == p.ignore) st = kIgnored;
    else if (y < 0 || y >= p.V) st = kBadTarget;
    else py = prob(__bfloat162float(z[y]), c);
    p.c[row] = c;
    p.p_y[row] = py;
    p.state[row] = st;
}

// ---------------- K2: finalize ----------------
__global__ void __launch_bounds__(256) v3_finalize(Params p) {
    const int64_t row = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (row >= p.N) return;
    float loss = 0.0f, ru = 0.0f;
    for (uint32_t s = 0; s < p.slices; ++s) {
        loss += p.partial[(row * p.slices + s) * 2];
        ru += p.partial[(row * p.slices + s) * 2 + 1];
    }
    const int8_t st = p.state[row];
    if (st == kIgnored) loss = ru = 0.0f;
    if (st == kBadTarget) loss = ru = NAN;
    p.loss_rows[row] = loss;
    p.ru[row] = ru;
}

// ---------------- K1: forward GEMM and its epilogue ----------------
__global__ void __launch_bounds__(kThreads, 1)
    v3_forward(const __grid_constant__ CUtensorMap tm_z, const __grid_constant__ CUtensorMap tm_e, Params p) {
#if defined(TASFT_V3_DEVICE)
    const Smem sm = setup_block();
    const uint32_t wg = threadIdx.x / 128;

    if (wg == 0) {
        produce_k1(sm, &tm_z, &tm_e, p.row_tiles, p.dim_tiles, p.vocab_ksteps);
        return;
    }
    consumer_registers();
    const uint32_t cw = wg - 1, t = threadIdx.x % 128, lane = t % 32;
    float acc[128];
    uint32_t it = 0;
    for_each_tile(p.row_tiles, p.dim_tiles, [&](const sm90::Tile& tile) {
        const int64_t row0 = (int64_t)tile.row_tile * kBM + cw * kWgRows;
        const int64_t d0 = (int64_t)tile.col_tile * kBN;
        // This thread's two rows (fragment rows f and f + 8) and what makes their P'.
        int64_t rows[2], ys[2];
        float cs[2];
        bool live[2];
#pragma unroll
        for (int h = 0; h < 2; ++h) {
            const uint32_t f = sm90::a_fragment(t, h, 0).row;  // reg 0 -> row f, reg 1 -> row f + 8
            rows[h] = row0 + f;
            live[h] = rows[h] < p.N && p.state[rows[h]] == kActive;
            ys[h] = live[h] ? p.targets[rows[h]] : -1;
            cs[h] = live[h] ? p.c[rows[h]] : 0.0f;
        }
        // A fragments of one stage: 4 instructions x 4 registers, made from the logits tile in shared memory.
        auto make_a = [&](uint32_t a_base, uint32_t k, uint32_t (&a)[4][4]) {
#pragma unroll
            for (uint32_t step = 0; step < kBK / kInstK; ++step)
#pragma unroll
                for (uint32_t reg = 0; reg < 4; ++reg) {
                    const sm90::RowCol f = sm90::a_fragment(t, reg, 0);
                    const uint32_t kk = step * kInstK + f.col;
                    const uint32_t addr = k1_logit_addr(a_base, cw * kWgRows + f.row, kk);
                    uint32_t raw;
                    asm volatile("ld.shared.b32 %0, [%1];\n" : "=r"(raw) : "r"(addr));
                    const float2 z = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&raw));
                    const int h = reg % 2;
                    const int64_t v = (int64_t)k * kBK + kk;
                    a[step][reg] = pack_bf16(forward_a(z.x, cs[h], v, p.V, ys[h], live[h]),
                                             forward_a(z.y, cs[h], v + 1, p.V, ys[h], live[h]));
                }
        };
        mainloop_k1(sm, acc, it, p.vocab_ksteps, make_a);

        // Epilogue: r = U + (p_y - 1) e_y, R = bf16(r), the slice's ||r||^2 and R.u per row.
        const uint32_t slice = tile.col_tile;
#pragma unroll
        for (int h = 0; h < 2; ++h) {
            const int64_t row = rows[h];
            float ss = 0.0f, su = 0.0f;
            const int8_t st = row < p.N ? p.state[row] : kIgnored;
            const float py = st == kActive ? p.p_y[row] : 0.0f;
            const __nv_bfloat16* ey = st == kActive ? p.emb + ys[h] * p.D : nullptr;
#pragma unroll
            for (int i = 0; i < 128; i += 2) {
                if (((i / 2) % 2) != h) continue;  // registers (i, i + 1) belong to row f + 8 ((i / 2) % 2)
                const sm90::RowCol f = sm90::acc_fragment(t, i);
                const int64_t d = d0 + f.col;
                if (row >= p.N || d >= p.D) continue;  // D % 8 == 0: d and d + 1 are both inside or both outside
                float r0 = 0.0f, r1 = 0.0f, u0 = 0.0f, u1 = 0.0f;
                if (st == kActive) {
                    const float2 e = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(ey + d));
                    u0 = expected(acc[i], py, e.x);
                    u1 = expected(acc[i + 1], py, e.y);
                    r0 = residual(acc[i], py, e.x);
                    r1 = residual(acc[i + 1], py, e.y);
                }
                const __nv_bfloat162 rb = __floats2bfloat162_rn(r0, r1);
                *reinterpret_cast<__nv_bfloat162*>(p.R + row * p.D + d) = rb;
                const float2 rf = __bfloat1622float2(rb);
                ss += r0 * r0 + r1 * r1;
                su += rf.x * u0 + rf.y * u1;
                if (p.expected) {
                    p.expected[row * p.D + d] = u0;
                    p.expected[row * p.D + d + 1] = u1;
                }
            }
            // The 4 lanes of a row (lane bits 0-1) add their columns in a fixed order.
            ss += __shfl_xor_sync(0xffffffffu, ss, 1);
            su += __shfl_xor_sync(0xffffffffu, su, 1);
            ss += __shfl_xor_sync(0xffffffffu, ss, 2);
            su += __shfl_xor_sync(0xffffffffu, su, 2);
            if ((lane & 3) == 0 && row < p.N) {
                p.partial[(row * p.slices + slice) * 2] = ss;
                p.partial[(row * p.slices + slice) * 2 + 1] = su;
            }
        }
    });
#else
    __trap();  // not sm_90a code: v3_supports refuses such devices, so this never runs
#endif
}

// ---------------- K3: backward GEMM and the gradient epilogue ----------------
__global__ void __launch_bounds__(kThreads, 1)
    v3_backward(const __grid_constant__ CUtensorMap tm_r, const __grid_constant__ CUtensorMap tm_e, Params p) {
#if defined(TASFT_V3_DEVICE)
    const Smem sm = setup_block();
    const uint32_t wg = threadIdx.x / 128;

    if (wg == 0) {
        produce_k3(sm, &tm_r, &tm_e, p.row_tiles, p.vocab_tiles, p.dim_ksteps);
        return;
    }
    consumer_registers();
    const uint32_t cw = wg - 1, t = threadIdx.x % 128;
    float acc[128];
    uint32_t it = 0;
    for_each_tile(p.row_tiles, p.vocab_tiles, [&](const sm90::Tile& tile) {
        const int64_t row0 = (int64_t)tile.row_tile * kBM + cw * kWgRows;
        const int64_t v0 = (int64_t)tile.col_tile * kBN;
        mainloop_k3(sm, acc, it, p.dim_ksteps, cw);

        // Epilogue: dz = grad_scale * 2 p (S - ru), p from z, in place.
#pragma unroll
        for (int h = 0; h < 2; ++h) {
            const int64_t row = row0 + sm90::acc_fragment(t, 2 * h).row;
            if (row >= p.N) continue;
            const int8_t st = p.state[row];
            const float c = p.c[row], ru = p.ru[row];
            const __nv_bfloat16* z = p.logits + row * p.stride;
            __nv_bfloat16* g = p.grad + row * p.stride;
#pragma unroll
            for (int i = 0; i < 128; i += 2) {
                if (((i / 2) % 2) != h) continue;
                const int64_t v = v0 + sm90::acc_fragment(t, i).col;
                if (v >= p.V) continue;
                float g0, g1 = 0.0f;
                const bool pair = v + 1 < p.V;
                if (st == kIgnored) {
                    g0 = g1 = 0.0f;
                } else if (st == kBadTarget) {
                    g0 = g1 = NAN;
                } else if (pair) {
                    const float2 zz = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(z + v));
                    g0 = gradient(p.grad_scale, prob(zz.x, c), acc[i], ru);
                    g1 = gradient(p.grad_scale, prob(zz.y, c), acc[i + 1], ru);
                } else {
                    g0 = gradient(p.grad_scale, prob(__bfloat162float(z[v]), c), acc[i], ru);
                }
                if (pair) *reinterpret_cast<__nv_bfloat162*>(g + v) = __floats2bfloat162_rn(g0, g1);
                else g[v] = __float2bfloat16_rn(g0);
            }
        }
    });
#else
    __trap();
#endif
}

// ---------------- host side ----------------
bool library_has_sm90a() { return std::strstr(TASFT_CUDA_ARCHS, "90a") != nullptr; }

int encode_map(CUtensorMap* map, const void* ptr, uint64_t rows, uint64_t cols, uint64_t stride_elems,
               uint32_t box_rows, const char* what, const char* fn) {
    char why[256];
    const int r = encode_tma_2d(map, ptr, rows, cols, stride_elems, box_rows, why, sizeof why);
    if (r == kTmaRefused) return fail(TASFT_UNSUPPORTED, "%s: cuda_kernel v3 cannot map the %s: %s", fn, what, why);
    if (r != kTmaOk) return fail(TASFT_CUDA_ERROR, "%s: cuda_kernel v3, the %s: %s", fn, what, why);
    return TASFT_OK;
}

size_t align256(size_t n) { return (n + 255) / 256 * 256; }

}  // namespace

int v3_supports(const tasft_emd_args* a, const SkipOut& sk, const char* fn) {
    if (a->logits_dtype != TASFT_BFLOAT16 || a->embedding_dtype != TASFT_BFLOAT16)
        return fail(TASFT_UNSUPPORTED, "%s: cuda_kernel v3 needs bfloat16 logits and embedding (dtypes %d, %d)", fn,
                    a->logits_dtype, a->embedding_dtype);
    if (sk.threshold > 0.0f)
        return fail(TASFT_UNSUPPORTED, "%s: cuda_kernel v3 has no skipping mode yet (threshold %g): use v2 or v1", fn,
                    (double)sk.threshold);
    if (a->logits_row_stride % 8 != 0 || a->dim % 8 != 0)
        return fail(TASFT_UNSUPPORTED, "%s: cuda_kernel v3 needs the logits row stride (%" PRId64 ") and dim (%" PRId64
                    ") to be multiples of 8 elements", fn, a->logits_row_stride, a->dim);
    if ((uintptr_t)a->logits % 16 != 0 || (uintptr_t)a->unit_embedding % 16 != 0 ||
        (a->grad_logits && (uintptr_t)a->grad_logits % 16 != 0))
        return fail(TASFT_UNSUPPORTED, "%s: cuda_kernel v3 needs 16-byte aligned logits, gradient and embedding", fn);
    // Tile indices are 32-bit and TMA coordinates signed 32-bit.
    const int64_t row_tiles = (a->rows + kBM - 1) / kBM, vocab_tiles = (a->vocab + kBN - 1) / kBN;
    if (a->rows >= ((int64_t)1 << 31) || a->vocab >= ((int64_t)1 << 31) || a->dim >= ((int64_t)1 << 24) ||
        row_tiles * vocab_tiles >= ((int64_t)1 << 31))
        return fail(TASFT_UNSUPPORTED, "%s: cuda_kernel v3 takes rows, vocab < 2^31, dim < 2^24 and fewer than 2^31 "
                    "tiles of 128 x 256 (rows %" PRId64 ", vocab %" PRId64 ", dim %" PRId64 ")", fn, a->rows, a->vocab,
                    a->dim);
    if (!library_has_sm90a())
        return fail(TASFT_UNSUPPORTED, "%s: cuda_kernel v3 needs sm_90a code; this library has %s", fn,
                    TASFT_CUDA_ARCHS);
    int device = 0, major = 0, minor = 0;
    cudaError_t err = cudaGetDevice(&device);
    if (err != cudaSuccess) return cuda_fail(err, fn, "cudaGetDevice");
    err = cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device);
    if (err == cudaSuccess) err = cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device);
    if (err != cudaSuccess) return cuda_fail(err, fn, "cudaDeviceGetAttribute");
    if (major != 9 || minor != 0)
        return fail(TASFT_UNSUPPORTED, "%s: cuda_kernel v3 needs a compute capability 9.0 device (H100/H200), device %d "
                    "is %d.%d", fn, device, major, minor);
    return TASFT_OK;
}

int launch_v3(const tasft_emd_args* a, const SkipOut& sk, cudaStream_t stream, const char* fn) {
    if (int st = v3_supports(a, sk, fn)) return st;
    int device = 0, sms = 0;
    cudaError_t err = cudaGetDevice(&device);
    if (err == cudaSuccess) err = cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device);
    if (err != cudaSuccess) return cuda_fail(err, fn, "cudaDeviceGetAttribute");

    Params p{};
    p.logits = static_cast<const __nv_bfloat16*>(a->logits);
    p.grad = static_cast<__nv_bfloat16*>(a->grad_logits);
    p.emb = static_cast<const __nv_bfloat16*>(a->unit_embedding);
    p.targets = a->targets;
    p.loss_rows = a->loss_rows;
    p.expected = a->expected_embedding;
    p.N = a->rows;
    p.V = a->vocab;
    p.D = a->dim;
    p.stride = a->logits_row_stride;
    p.ignore = a->ignore_index;
    p.grad_scale = a->grad_scale;
    p.row_tiles = (uint32_t)((p.N + kBM - 1) / kBM);
    p.dim_tiles = (uint32_t)((p.D + kBN - 1) / kBN);
    p.vocab_tiles = (uint32_t)((p.V + kBN - 1) / kBN);
    p.dim_ksteps = (uint32_t)((p.D + kBK - 1) / kBK);
    p.vocab_ksteps = (uint32_t)((p.V + kBK - 1) / kBK);
    p.slices = p.dim_tiles;

    // Workspace: R, the partial sums, then the per-row vectors.
    const size_t N = (size_t)p.N;
    const size_t r_bytes = align256(N * (size_t)p.D * 2), part_bytes = align256(N * p.slices * 2 * sizeof(float));
    const size_t vec_bytes = align256(N * sizeof(float));
    const size_t total = r_bytes + part_bytes + 3 * vec_bytes + align256(N);
    void* ws = nullptr;
    if (int st = device_alloc(&ws, total, stream, fn)) return st;
    uint8_t* w = static_cast<uint8_t*>(ws);
    p.R = reinterpret_cast<__nv_bfloat16*>(w);
    p.partial = reinterpret_cast<float*>(w + r_bytes);
    p.c = reinterpret_cast<float*>(w + r_bytes + part_bytes);
    p.p_y = reinterpret_cast<float*>(w + r_bytes + part_bytes + vec_bytes);
    p.ru = reinterpret_cast<float*>(w + r_bytes + part_bytes + 2 * vec_bytes);
    p.state = reinterpret_cast<int8_t*>(w + r_bytes + part_bytes + 3 * vec_bytes);

    int st = TASFT_OK;
    CUtensorMap tm_z, tm_e_fwd, tm_r, tm_e_bwd;
    if (!st) st = encode_map(&tm_z, p.logits, p.N, p.V, p.stride, kBM, "logits", fn);
    if (!st) st = encode_map(&tm_e_fwd, p.emb, p.V, p.D, p.D, kBK, "embedding (forward)", fn);
    if (!st) st = encode_map(&tm_r, p.R, p.N, p.D, p.D, kBM, "residual workspace", fn);
    if (!st) st = encode_map(&tm_e_bwd, p.emb, p.V, p.D, p.D, kBN, "embedding (backward)", fn);
    if (!st) {  // per call: the attribute belongs to the current device, and a process may use several
        err = cudaFuncSetAttribute(v3_forward, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)kSmemBytes);
        if (err == cudaSuccess)
            err = cudaFuncSetAttribute(v3_backward, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)kSmemBytes);
        if (err != cudaSuccess) st = cuda_fail(err, fn, "cudaFuncSetAttribute (shared memory)");
    }
    if (!st) {
        const uint32_t fwd_grid = sm90::persistent_grid(p.row_tiles * p.dim_tiles, (uint32_t)sms);
        const uint32_t bwd_grid = sm90::persistent_grid(p.row_tiles * p.vocab_tiles, (uint32_t)sms);
        v3_row_stats<<<(unsigned)((N + 7) / 8), 256, 0, stream>>>(p);
        v3_forward<<<fwd_grid, kThreads, kSmemBytes, stream>>>(tm_z, tm_e_fwd, p);
        v3_finalize<<<(unsigned)((N + 255) / 256), 256, 0, stream>>>(p);
        if (p.grad) v3_backward<<<bwd_grid, kThreads, kSmemBytes, stream>>>(tm_r, tm_e_bwd, p);
        err = cudaGetLastError();
        if (err != cudaSuccess) st = cuda_fail(err, fn, "launching the v3 kernels");
    }
    // Freed in stream order, after the kernels are done with it.
    const cudaError_t free_err = cudaFreeAsync(ws, stream);
    if (!st && free_err != cudaSuccess) st = cuda_fail(free_err, fn, "cudaFreeAsync of the workspace");
    return st;
}

bool v3_validated() { return false; }

}  // namespace cuda
}  // namespace tasft
