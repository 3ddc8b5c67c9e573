// Index arithmetic of the v3 CUDA kernel (emd_cuda_v3.cu) on Hopper: shared-memory swizzling, wgmma matrix
// descriptors and fragment maps, the persistent tile scheduler, and the parameters of the TMA tensor maps.
//
// Pure integer functions, compiled for the host and the device: the kernel uses them, and the CPU test
// (native/tests/test_sm90_layout.cpp) checks them against each other and against the layouts the PTX ISA documents
// (section "Asynchronous Warpgroup Level Matrix Shared Memory Layout", canonical layouts in CuTe notation), without a
// GPU. Everything here is for 16-bit elements (bf16 / fp16) and the 128-byte swizzle, the only mode v3 uses.
#ifndef TASFT_SM90_LAYOUT_H
#define TASFT_SM90_LAYOUT_H

#include <cstdint>

#if defined(__CUDACC__)
#define TASFT_HD __host__ __device__ __forceinline__
#else
#define TASFT_HD inline
#endif

namespace tasft {
namespace sm90 {

// ---------- 128-byte swizzle (TMA CU_TENSOR_MAP_SWIZZLE_128B, wgmma layout type 1, CuTe Swizzle<3,4,3>) ----------
// The 16-byte chunk index (address bits 4-6) is XORed with the 128-byte row index modulo 8 (bits 7-9). Applied to
// absolute shared-memory addresses, so every swizzled tile starts on a 1024-byte boundary (base_offset 0).
constexpr uint32_t kSwizzleBytes = 128;   // one swizzled row
constexpr uint32_t kSwizzleAtom = 1024;   // 8 rows: the period of the pattern, the tiles' alignment
constexpr uint32_t kElemBytes = 2;        // bf16 / fp16
constexpr uint32_t kRowElems = kSwizzleBytes / kElemBytes;  // 64 elements per swizzled row

TASFT_HD constexpr uint32_t swizzle128(uint32_t addr) { return addr ^ (((addr >> 7) & 7u) << 4); }

// Where TMA (box inner extent = 128 bytes, SWIZZLE_128B) puts element (row, col) of a box that it writes at `base`
// (1024-byte aligned): rows of 128 bytes, one after another, each with its chunks permuted.
TASFT_HD constexpr uint32_t tma_sw128_offset(uint32_t base, uint32_t row, uint32_t col) {
    return swizzle128(base + row * kSwizzleBytes + col * kElemBytes);
}

// ---------- wgmma shared-memory matrix descriptor (PTX ISA "Matrix Descriptor Format") ----------
//   bits  0-13  start address >> 4        bits 16-29  leading dimension byte offset (LBO) >> 4
//   bits 32-45  stride dimension byte offset (SBO) >> 4     bits 49-51  base offset     bits 62-63  layout type
enum LayoutType : uint32_t { kInterleave = 0, kSwizzle128 = 1, kSwizzle64 = 2, kSwizzle32 = 3 };

TASFT_HD constexpr uint64_t make_desc(uint32_t smem_addr, uint32_t lbo_bytes, uint32_t sbo_bytes,
                                      uint32_t layout = kSwizzle128, uint32_t base_offset = 0) {
    return (uint64_t)((smem_addr >> 4) & 0x3FFFu) | ((uint64_t)((lbo_bytes >> 4) & 0x3FFFu) << 16) |
           ((uint64_t)((sbo_bytes >> 4) & 0x3FFFu) << 32) | ((uint64_t)(base_offset & 7u) << 49) |
           ((uint64_t)(layout & 3u) << 62);
}
TASFT_HD constexpr uint32_t desc_start(uint64_t d) { return (uint32_t)(d & 0x3FFFu) << 4; }
TASFT_HD constexpr uint32_t desc_lbo(uint64_t d) { return (uint32_t)((d >> 16) & 0x3FFFu) << 4; }
TASFT_HD constexpr uint32_t desc_sbo(uint64_t d) { return (uint32_t)((d >> 32) & 0x3FFFu) << 4; }
TASFT_HD constexpr uint32_t desc_layout(uint64_t d) { return (uint32_t)(d >> 62); }
// Moving a descriptor along K by `bytes` (a multiple of 16) adds to the start address field only.
TASFT_HD constexpr uint64_t desc_advance(uint64_t d, uint32_t bytes) { return d + (uint64_t)(bytes >> 4); }

static_assert(make_desc(0x400, 16, 1024) == ((uint64_t)1 << 62 | (uint64_t)64 << 32 | (uint64_t)1 << 16 | 0x40),
              "descriptor bit fields: start >> 4 in 0-13, LBO >> 4 in 16-29, SBO >> 4 in 32-45, layout in 62-63");
static_assert(desc_start(make_desc(0x3FFF0, 0, 0)) == 0x3FFF0, "start address keeps 18 bits (14 stored)");
static_assert(desc_sbo(make_desc(0, 0, 1024)) == 1024 && desc_lbo(make_desc(0, 8192, 0)) == 8192, "LBO / SBO");
static_assert(desc_layout(make_desc(0, 0, 0, kSwizzle128)) == 1, "layout type 1 = 128-byte swizzle");
static_assert(desc_start(desc_advance(make_desc(1024, 16, 1024), 32)) == 1056, "advance moves the start only");

// The byte address wgmma reads for element (mn, k) of an operand described by `desc`, per the PTX ISA's canonical
// layouts for the 128-byte swizzle with 16-bit elements (T = 8 elements = 16 bytes), then swizzled:
//   K-major   ((8,m),(T,2k)):((8T,SBO),(1,T))        rows of 64 K-elements (128 bytes), 8-row groups SBO apart
//   MN-major  ((T,8,m),(8,k)):((1,T,LBO),(8T,SBO))   rows of 64 MN-elements, K rows 128 bytes apart, 8-row K groups
//                                                    SBO apart, 64-element MN groups LBO apart
// k counts from the descriptor's start (one k16 instruction reads k in [0, 16)).
TASFT_HD constexpr uint32_t wgmma_k_major_addr(uint64_t desc, uint32_t mn, uint32_t k) {
    return swizzle128(desc_start(desc) + (mn % 8) * kSwizzleBytes + (mn / 8) * desc_sbo(desc) + k * kElemBytes);
}
TASFT_HD constexpr uint32_t wgmma_mn_major_addr(uint64_t desc, uint32_t mn, uint32_t k) {
    return swizzle128(desc_start(desc) + (mn % kRowElems) * kElemBytes + (mn / kRowElems) * desc_lbo(desc) +
                      (k % 8) * kSwizzleBytes + (k / 8) * desc_sbo(desc));
}

// ---------- register fragments of wgmma.m64nNk16 (PTX ISA "Register Fragments") ----------
// Thread t of the warpgroup (0-127): warp w = t / 32, lane l. Accumulator register i of N/2 (f32):
//   row = 16 w + l / 4 + 8 ((i / 2) % 2),   col = 8 (i / 4) + 2 (l % 4) + i % 2
struct RowCol {
    uint32_t row, col;
};
TASFT_HD constexpr RowCol acc_fragment(uint32_t thread, uint32_t reg) {
    return {16 * (thread / 32) + (thread % 32) / 4 + 8 * ((reg / 2) % 2), 8 * (reg / 4) + 2 * (thread % 4) + reg % 2};
}
// A operand from registers (bf16, m64k16): 4 registers of 2 elements; element h of register j:
//   row = 16 w + l / 4 + 8 (j % 2),   k = 2 (l % 4) + h + 8 (j / 2)
TASFT_HD constexpr RowCol a_fragment(uint32_t thread, uint32_t reg, uint32_t half) {
    return {16 * (thread / 32) + (thread % 32) / 4 + 8 * (reg % 2), 2 * (thread % 4) + half + 8 * (reg / 2)};
}

// ---------- persistent tile scheduler ----------
// A grid of `ctas` blocks walks tiles = row_tiles x col_tiles: block b takes the linear indices b, b + ctas, ...
// Linear index -> tile groups `group_rows` row tiles: within a group the row tile runs fastest, so the blocks that
// run at the same time share the same few column tiles (of the embedding) and row tiles (of the logits) in L2.
struct Tile {
    uint32_t row_tile, col_tile;
};
TASFT_HD constexpr Tile tile_at(uint32_t linear, uint32_t row_tiles, uint32_t col_tiles, uint32_t group_rows) {
    const uint32_t per_group = group_rows * col_tiles;
    const uint32_t group = linear / per_group, first_row = group * group_rows;
    const uint32_t rows_here = row_tiles - first_row < group_rows ? row_tiles - first_row : group_rows;
    const uint32_t in_group = linear - group * per_group;
    return {first_row + in_group % rows_here, in_group / rows_here};
}
TASFT_HD constexpr uint32_t tile_count(uint32_t row_tiles, uint32_t col_tiles) { return row_tiles * col_tiles; }
// Blocks of a persistent grid: one per SM, no more than there are tiles.
TASFT_HD constexpr uint32_t persistent_grid(uint32_t tiles, uint32_t sms) { return tiles < sms ? tiles : sms; }
// How many tiles block b of `ctas` takes.
TASFT_HD constexpr uint32_t tiles_of_block(uint32_t b, uint32_t ctas, uint32_t tiles) {
    return b < tiles ? (tiles - b + ctas - 1) / ctas : 0;
}

// ---------- TMA tensor map of a row-major [rows, cols] matrix of 16-bit elements ----------
// Loaded in boxes of box_rows x 64 columns (128 bytes, swizzled); reads past cols or rows are zero-filled by TMA
// and stores there are dropped, so tails need no padding. The row stride may exceed cols (padded rows): the padding
// is never read, because dims[0] is cols, not the stride.
struct TmaMap2d {
    uint64_t dims[2];      // {cols, rows}: innermost first, as cuTensorMapEncodeTiled takes them
    uint64_t stride_bytes; // between rows (globalStrides[0])
    uint32_t box[2];       // {64, box_rows}
    const char* error;     // nullptr when TMA can take it, else why not
};
TASFT_HD constexpr TmaMap2d tma_map_2d(uint64_t base_addr, uint64_t rows, uint64_t cols, uint64_t row_stride_elems,
                                       uint32_t box_rows) {
    TmaMap2d m{{cols, rows}, row_stride_elems * kElemBytes, {kRowElems, box_rows}, nullptr};
    if (base_addr % 16 != 0) m.error = "the matrix does not start on a 16-byte boundary";
    else if (m.stride_bytes % 16 != 0) m.error = "the row stride is not a multiple of 16 bytes (8 elements)";
    else if (row_stride_elems < cols) m.error = "the row stride is smaller than the row";
    else if (m.stride_bytes >= ((uint64_t)1 << 40)) m.error = "the row stride is 2^40 bytes or more";
    else if (cols == 0 || rows == 0) m.error = "the matrix is empty";
    else if (cols > ((uint64_t)1 << 32) || rows > ((uint64_t)1 << 32)) m.error = "a dimension exceeds 2^32";
    else if (box_rows == 0 || box_rows > 256) m.error = "the box has 0 or more than 256 rows";
    return m;
}
// The element a box load at coordinates (col0, row0) delivers at (r, c) of the box: {row, col} of the matrix, or
// `inside` false where TMA zero-fills (past cols or rows).
struct BoxSource {
    uint64_t row, col;
    bool inside;
};
TASFT_HD constexpr BoxSource tma_box_source(const TmaMap2d& m, int64_t col0, int64_t row0, uint32_t r, uint32_t c) {
    const int64_t row = row0 + r, col = col0 + c;
    const bool inside = row >= 0 && col >= 0 && (uint64_t)row < m.dims[1] && (uint64_t)col < m.dims[0];
    return {(uint64_t)row, (uint64_t)col, inside};
}

}  // namespace sm90
}  // namespace tasft

#endif
