// The tiling of the v3 CUDA kernel (emd_cuda_v3.cu): tile shapes, the shared-memory map of a pipeline stage, and the
// wgmma descriptors and fragment addresses the kernels use, as host/device functions so that the CPU test
// (native/tests/test_sm90_layout.cpp) checks the very values the kernels compute.
//
//   K1 forward  U[128 rows, 256 dims] += P'[128, 64 vocab] @ E[64 vocab, 256 dims] per step over the vocabulary.
//               A (P') is made in registers from the logits tile, which TMA stores K-major (64 vocab = 128 bytes per
//               row, 128 rows); B is the embedding tile as TMA stores it: 4 boxes of [64 vocab rows x 64 dims], each
//               an MN-major swizzled block (rows = K), read with the transposed-B flag.
//   K3 backward S[128 rows, 256 vocab] += R[128 rows, 64 dims] @ E[256 vocab, 64 dims]^T per step over the dims:
//               both operands K-major: TMA boxes [128 rows x 64 dims] of R and [256 vocab x 64 dims] of E.
// Two consumer warpgroups take 64 rows each (wgmma m64n256k16, 128 fp32 accumulators per thread); one producer
// warpgroup issues the TMA loads.
#ifndef TASFT_EMD_V3_PLAN_H
#define TASFT_EMD_V3_PLAN_H

#include "sm90_layout.h"

namespace tasft {
namespace v3 {

using sm90::kElemBytes;
using sm90::kSwizzleBytes;

constexpr uint32_t kBM = 128;          // rows per tile (2 consumer warpgroups x 64)
constexpr uint32_t kBN = 256;          // K1: dims per tile; K3: vocabulary entries per tile (wgmma N)
constexpr uint32_t kBK = 64;           // K per pipeline stage (128 bytes of 16-bit elements: one swizzled row)
constexpr uint32_t kWgRows = 64;       // rows per consumer warpgroup (wgmma M)
constexpr uint32_t kInstK = 16;        // K per wgmma instruction
constexpr uint32_t kStages = 4;        // pipeline depth
constexpr uint32_t kConsumers = 2;     // consumer warpgroups
constexpr uint32_t kThreads = 128 * (kConsumers + 1);
constexpr uint32_t kSliceDims = kBN;   // K1's epilogue writes one partial per 256-dim slice

// One stage: A tile [kBM x kBK] then B tile [kBK x kBN] (K1) or [kBN x kBK] (K3): both 16 KiB + 32 KiB.
constexpr uint32_t kTileABytes = kBM * kBK * kElemBytes;  // 16384
constexpr uint32_t kTileBBytes = kBN * kBK * kElemBytes;  // 32768
constexpr uint32_t kStageBytes = kTileABytes + kTileBBytes;
// Shared memory: the stages (1024-byte aligned), then 2 x kStages mbarriers (full, empty) and a small scratch area.
constexpr uint32_t kBarrierBytes = 2 * kStages * 8;
constexpr uint32_t kSmemBytes = kStages * kStageBytes + kBarrierBytes + 1024 /* alignment slack */;
static_assert(kSmemBytes <= 227 * 1024, "fits the 227 KiB of shared memory a Hopper block can have");
static_assert(kTileABytes % sm90::kSwizzleAtom == 0 && kTileBBytes % sm90::kSwizzleAtom == 0,
              "every tile starts on a 1024-byte boundary (swizzle base offset 0)");
static_assert(kBK * kElemBytes == kSwizzleBytes, "a stage's K extent is exactly one 128-byte swizzled row");
static_assert(kBM == kConsumers * kWgRows, "each consumer warpgroup owns 64 rows");

TASFT_HD constexpr uint32_t stage_a(uint32_t smem_base, uint32_t stage) { return smem_base + stage * kStageBytes; }
TASFT_HD constexpr uint32_t stage_b(uint32_t smem_base, uint32_t stage) {
    return smem_base + stage * kStageBytes + kTileABytes;
}

// ---- K1 (forward) ----
// TMA boxes: logits [kBM rows x 64 vocab] at stage_a; embedding 4 boxes [64 vocab rows x 64 dims], box j (dims
// 64 j .. 64 j + 63) at stage_b + j * kK1BoxBytes.
constexpr uint32_t kK1BoxBytes = kBK * kSwizzleBytes;  // 64 vocab rows x 128 bytes = 8 KiB
constexpr uint32_t kK1Boxes = kBN / sm90::kRowElems;   // 4
// Logit (row, k) of the stage's A tile, as TMA wrote it: the consumer loads its A fragments from here.
TASFT_HD constexpr uint32_t k1_logit_addr(uint32_t a_base, uint32_t row, uint32_t k) {
    return sm90::tma_sw128_offset(a_base, row, k);
}
// B descriptor of instruction `step` (k16 step 0-3 in the stage): MN-major, LBO = next 64 dims (next box),
// SBO = next 8 vocabulary rows.
TASFT_HD constexpr uint64_t k1_b_desc(uint32_t b_base, uint32_t step) {
    return sm90::make_desc(b_base + step * kInstK * kSwizzleBytes, kK1BoxBytes, 8 * kSwizzleBytes);
}

// ---- K3 (backward) ----
// TMA boxes: R [kBM rows x 64 dims] at stage_a, E [kBN vocab x 64 dims] at stage_b, both K-major.
// A descriptor of consumer warpgroup `wg`, instruction `step`: its 64 rows start 64 x 128 bytes in; K moves by 32
// bytes per instruction inside the swizzled row (the hardware applies the swizzle to the final address).
TASFT_HD constexpr uint64_t k3_a_desc(uint32_t a_base, uint32_t wg, uint32_t step) {
    return sm90::make_desc(a_base + wg * kWgRows * kSwizzleBytes + step * kInstK * kElemBytes, 16,
                           8 * kSwizzleBytes);
}
TASFT_HD constexpr uint64_t k3_b_desc(uint32_t b_base, uint32_t step) {
    return sm90::make_desc(b_base + step * kInstK * kElemBytes, 16, 8 * kSwizzleBytes);
}

// Group of row tiles the scheduler keeps together (sm90::tile_at): 8 row tiles x all column tiles.
constexpr uint32_t kGroupRows = 8;

}  // namespace v3
}  // namespace tasft

#endif
