// The pipelines of the v3 kernel, shared by the loss kernels (emd_cuda_v3.cu) and the plain GEMMs of the stage-S1
// benchmark (bench/gpu/v3_gemm_bench.cu), so that the benchmark times exactly the loss kernels' main loops.
//
// A persistent block = 1 producer warpgroup (one thread issues the TMA loads) + 2 consumer warpgroups (64 rows each).
// Stages (emd_v3_plan.h) cycle through `full` barriers (the producer's expect_tx + the TMA bytes) and `empty`
// barriers (one arrival per consumer warp once its wgmma have read the stage). Producer and consumers walk the same
// tile sequence (sm90::tile_at), so one running counter `it` names stage (it % kStages) and phase (it / kStages).
// The device code exists in the sm_90a pass only (TASFT_V3_DEVICE); other passes (host, sm_80, compute_90) see the
// host helpers, and the kernels that use it compile to a trap there.
#ifndef TASFT_EMD_V3_MAINLOOP_CUH
#define TASFT_EMD_V3_MAINLOOP_CUH

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900 && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define TASFT_V3_DEVICE 1
#include <cuda/ptx>
#endif

#include <cuda.h>          // CUtensorMap (header only: the driver entry point is fetched at run time)
#include <cudaTypedefs.h>  // PFN_cuTensorMapEncodeTiled
#include <cuda_runtime.h>
#include <cuda_bf16.h>

#include <cstdio>

#include "emd_v3_plan.h"
#include "sm90_wgmma.cuh"

namespace tasft {
namespace v3 {

// ---------------- host: TMA tensor maps ----------------
enum { kTmaOk = 0, kTmaRefused = 1, kTmaDriverError = 2 };

// A 2-D map of a row-major bf16 matrix [rows, cols] (row stride stride_elems) in boxes of box_rows x 64 columns with
// the 128-byte swizzle (sm90::tma_map_2d checks the parameters). kTmaRefused: the shape cannot be mapped (why says
// which rule); kTmaDriverError: the driver failed. cuTensorMapEncodeTiled comes from the driver at run time, so the
// library needs no -lcuda.
inline int encode_tma_2d(CUtensorMap* map, const void* ptr, uint64_t rows, uint64_t cols, uint64_t stride_elems,
                         uint32_t box_rows, char* why, size_t why_size) {
    const sm90::TmaMap2d m = sm90::tma_map_2d((uint64_t)(uintptr_t)ptr, rows, cols, stride_elems, box_rows);
    if (m.error) {
        std::snprintf(why, why_size, "%s", m.error);
        return kTmaRefused;
    }
    static PFN_cuTensorMapEncodeTiled_v12000 encode = nullptr;
    if (!encode) {
        cudaDriverEntryPointQueryResult q{};
        void* f = nullptr;
        const cudaError_t err =
            cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &f, 12000, cudaEnableDefault, &q);
        if (err != cudaSuccess || q != cudaDriverEntryPointSuccess || !f) {
            cudaGetLastError();
            std::snprintf(why, why_size, "the driver has no cuTensorMapEncodeTiled (%s)",
                          err != cudaSuccess ? cudaGetErrorString(err) : "symbol not found");
            return kTmaDriverError;
        }
        encode = reinterpret_cast<PFN_cuTensorMapEncodeTiled_v12000>(f);
    }
    const cuuint64_t dims[2] = {m.dims[0], m.dims[1]};
    const cuuint64_t strides[1] = {m.stride_bytes};
    const cuuint32_t box[2] = {m.box[0], m.box[1]};
    const cuuint32_t elem_strides[2] = {1, 1};
    const CUresult r = encode(map, CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 2, const_cast<void*>(ptr), dims, strides, box,
                              elem_strides, CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
                              CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
    if (r != CUDA_SUCCESS) {
        std::snprintf(why, why_size, "cuTensorMapEncodeTiled failed (CUresult %d)", (int)r);
        return kTmaDriverError;
    }
    return kTmaOk;
}

#if defined(TASFT_V3_DEVICE)
namespace ptx = ::cuda::ptx;

__device__ __forceinline__ uint32_t smem_u32(const void* p) { return (uint32_t)__cvta_generic_to_shared(p); }

__device__ __forceinline__ uint64_t global_ns() {
    uint64_t t;
    asm volatile("mov.u64 %0, %globaltimer;" : "=l"(t));
    return t;
}

// Bounded wait: a pipeline bug traps (a launch failure the caller sees, "unspecified launch failure" / illegal
// instruction) instead of hanging the GPU. No legitimate wait here lasts more than microseconds; the limit is 10 s,
// 0.5 s in debug builds (TASFT_V3_DEBUG), checked on the global timer every 256 failed tries.
__device__ __forceinline__ void wait_parity(uint64_t* bar, uint32_t parity) {
#ifdef TASFT_V3_DEBUG
    constexpr uint64_t kLimitNs = 500ull * 1000 * 1000;
#else
    constexpr uint64_t kLimitNs = 10ull * 1000 * 1000 * 1000;
#endif
    if (ptx::mbarrier_try_wait_parity(bar, parity)) return;
    const uint64_t start = global_ns();
    for (uint32_t tries = 1; !ptx::mbarrier_try_wait_parity(bar, parity); ++tries)
        if ((tries & 255) == 0 && global_ns() - start > kLimitNs) __trap();
}

// The producer's arrival on a full barrier, announcing the bytes its TMA loads will deliver (by value: the wrapper
// takes a reference, which a constexpr cannot bind to in device code).
__device__ __forceinline__ void expect_bytes(uint64_t* bar, uint32_t bytes) {
    ptx::mbarrier_arrive_expect_tx(ptx::sem_release, ptx::scope_cta, ptx::space_shared, bar, bytes);
}

__device__ __forceinline__ void tma_load(void* dst, const CUtensorMap* map, int32_t c0, int32_t c1, uint64_t* bar) {
    const int32_t coords[2] = {c0, c1};
    ptx::cp_async_bulk_tensor(ptx::space_cluster, ptx::space_global, dst, map, coords, bar);
}

// The block's shared memory, 1024-byte aligned: kStages stages, then the full and empty barriers.
struct Smem {
    uint8_t* stages;
    uint64_t* full;
    uint64_t* empty;
};
__device__ __forceinline__ Smem smem_map(uint8_t* raw) {
    uint8_t* base = raw + ((1024 - (smem_u32(raw) & 1023)) & 1023);
    uint64_t* bars = reinterpret_cast<uint64_t*>(base + kStages * kStageBytes);
    return {base, bars, bars + kStages};
}

// Barrier setup by thread 0 (every thread of the block calls it): full = 1 arrival + the bytes, empty = one arrival
// per consumer warp.
__device__ __forceinline__ void init_barriers(const Smem& sm) {
    if (threadIdx.x == 0) {
        for (uint32_t s = 0; s < kStages; ++s) {
            ptx::mbarrier_init(&sm.full[s], 1);
            ptx::mbarrier_init(&sm.empty[s], kConsumers * 4);
        }
        ptx::fence_mbarrier_init(ptx::sem_release, ptx::scope_cluster);
    }
    __syncthreads();
}

// The start of every v3 kernel (all threads): the dynamic shared memory mapped and the barriers initialised.
__device__ __forceinline__ Smem setup_block() {
    extern __shared__ __align__(1024) uint8_t smem_raw[];
    const Smem sm = smem_map(smem_raw);
    init_barriers(sm);
    return sm;
}

__device__ __forceinline__ void release_stage(const Smem& sm, uint32_t stage) {
    __syncwarp();
    if ((threadIdx.x & 31) == 0) ptx::mbarrier_arrive(&sm.empty[stage]);
}

__device__ __forceinline__ uint32_t pack_bf16(float lo, float hi) {
    const __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<const uint32_t*>(&h);
}

// Registers move from the producer warpgroup (which only issues TMA) to the consumers: 128 x 40 + 256 x 232 fits
// the 64K of an SM. Every thread of the warpgroup executes these.
__device__ __forceinline__ void producer_registers() { asm volatile("setmaxnreg.dec.sync.aligned.u32 40;\n"); }
__device__ __forceinline__ void consumer_registers() { asm volatile("setmaxnreg.inc.sync.aligned.u32 232;\n"); }

// The block's tiles of a persistent grid, in the order producer and consumers both walk them: tiles b, b + gridDim.x,
// ... of sm90::tile_at's order (test_sm90_layout checks that the blocks cover every tile once).
template <typename Fn>
__device__ __forceinline__ void for_each_tile(uint32_t row_tiles, uint32_t col_tiles, Fn&& fn) {
    const uint32_t tiles = sm90::tile_count(row_tiles, col_tiles);
    for (uint32_t t = blockIdx.x; t < tiles; t += gridDim.x) fn(sm90::tile_at(t, row_tiles, col_tiles, kGroupRows));
}

// The producer warpgroup (warpgroup 0; thread 0 works, the others leave) walks the block's tiles: per tile of
// kBM rows x kBN columns, ksteps stages, each refilled once the consumers have released it; load(stage bytes, row0,
// col0, k, full barrier) issues the stage's TMA loads (kStageBytes in all).
template <typename Load>
__device__ __forceinline__ void produce(const Smem& sm, uint32_t row_tiles, uint32_t col_tiles, uint32_t ksteps,
                                        Load&& load) {
    producer_registers();
    if (threadIdx.x != 0) return;
    uint32_t it = 0;
    for_each_tile(row_tiles, col_tiles, [&](const sm90::Tile& tile) {
        const int32_t row0 = (int32_t)(tile.row_tile * kBM), col0 = (int32_t)(tile.col_tile * kBN);
        for (uint32_t k = 0; k < ksteps; ++k, ++it) {
            const uint32_t stage = it % kStages;
            wait_parity(&sm.empty[stage], ((it / kStages) & 1) ^ 1);
            expect_bytes(&sm.full[stage], kStageBytes);
            load(sm.stages + stage * kStageBytes, row0, col0, (int32_t)(k * kBK), &sm.full[stage]);
        }
    });
}

// K1's loads: A [kBM x 64] at {64 k, row0}, and 4 boxes of B [64 K-rows x 64 columns] at {col0 + 64 j, 64 k}.
__device__ __forceinline__ void produce_k1(const Smem& sm, const CUtensorMap* tm_a, const CUtensorMap* tm_b,
                                           uint32_t row_tiles, uint32_t col_tiles, uint32_t ksteps) {
    produce(sm, row_tiles, col_tiles, ksteps, [&](uint8_t* a, int32_t row0, int32_t col0, int32_t k0, uint64_t* bar) {
        tma_load(a, tm_a, k0, row0, bar);
#pragma unroll
        for (uint32_t j = 0; j < kK1Boxes; ++j)
            tma_load(a + kTileABytes + j * kK1BoxBytes, tm_b, col0 + (int32_t)(j * 64), k0, bar);
    });
}

// K3's loads: A [kBM x 64] at {64 k, row0} and B [kBN x 64] at {64 k, col0}, both K-major.
__device__ __forceinline__ void produce_k3(const Smem& sm, const CUtensorMap* tm_a, const CUtensorMap* tm_b,
                                           uint32_t row_tiles, uint32_t col_tiles, uint32_t ksteps) {
    produce(sm, row_tiles, col_tiles, ksteps, [&](uint8_t* a, int32_t row0, int32_t col0, int32_t k0, uint64_t* bar) {
        tma_load(a, tm_a, k0, row0, bar);
        tma_load(a + kTileABytes, tm_b, k0, col0, bar);
    });
}

// K1 consumer main loop of one tile: acc = sum_k A_k B_k with A made by make_a(a_base, k, a[4][4]) from the stage's
// A tile (its 4 instructions' register fragments) and B by the transposed descriptors. One stage at a time (make A,
// 4 instructions, wait): the two consumer warpgroups interleave on the SM; double-buffering A would cost 16
// registers and spill at the 168 that 384 threads allow.
template <typename MakeA>
__device__ __forceinline__ void mainloop_k1(const Smem& sm, float (&acc)[128], uint32_t& it, uint32_t ksteps,
                                            MakeA&& make_a) {
    const uint32_t base = smem_u32(sm.stages);
#pragma unroll
    for (int i = 0; i < 128; ++i) acc[i] = 0.0f;
    for (uint32_t k = 0; k < ksteps; ++k, ++it) {
        const uint32_t stage = it % kStages;
        wait_parity(&sm.full[stage], (it / kStages) & 1);
        uint32_t a[4][4];
        make_a(stage_a(base, stage), k, a);
        sm90::wgmma_fence();
#pragma unroll
        for (uint32_t step = 0; step < kBK / kInstK; ++step)
            sm90::wgmma_rs<1>(acc, a[step], k1_b_desc(stage_b(base, stage), step), 1);
        sm90::wgmma_commit();
        sm90::wgmma_wait<0>();
        sm90::fence_operands(acc);
        release_stage(sm, stage);
    }
}

// K3 consumer main loop of one tile (consumer warpgroup cw): acc = sum_k A_k B_k^T, both from shared memory. One
// batch stays in flight: when batch k is issued, batch k - 1 is done and its stage goes back to the producer.
__device__ __forceinline__ void mainloop_k3(const Smem& sm, float (&acc)[128], uint32_t& it, uint32_t ksteps,
                                            uint32_t cw) {
    const uint32_t base = smem_u32(sm.stages);
#pragma unroll
    for (int i = 0; i < 128; ++i) acc[i] = 0.0f;
    for (uint32_t k = 0; k < ksteps; ++k, ++it) {
        const uint32_t stage = it % kStages;
        wait_parity(&sm.full[stage], (it / kStages) & 1);
        sm90::wgmma_fence();
#pragma unroll
        for (uint32_t step = 0; step < kBK / kInstK; ++step)
            sm90::wgmma_ss(acc, k3_a_desc(stage_a(base, stage), cw, step), k3_b_desc(stage_b(base, stage), step), 1);
        sm90::wgmma_commit();
        sm90::wgmma_wait<1>();
        if (k > 0) release_stage(sm, (it - 1) % kStages);
    }
    sm90::wgmma_wait<0>();
    sm90::fence_operands(acc);
    if (ksteps > 0) release_stage(sm, (it - 1) % kStages);
}
#endif  // TASFT_V3_DEVICE

}  // namespace v3
}  // namespace tasft

#endif
