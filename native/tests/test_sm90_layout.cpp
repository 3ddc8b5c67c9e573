// CPU emulation of the v3 kernel's index arithmetic (sm90_layout.h, emd_v3_plan.h): no GPU needed, runs in CI.
// Each test emulates one side of a hardware contract with our own functions and checks it against the other side:
// what TMA writes (tma_sw128_offset) must be what wgmma reads through our descriptors (the PTX ISA's canonical
// layouts), the register fragments must cover their tiles exactly once, and so on.
#include <set>
#include <vector>

#include "emd_v3_plan.h"
#include "test_util.h"

namespace {

using namespace tasft;

TEST_CASE("swizzle_is_a_chunk_permutation") {
    // Within every 1024-byte atom the swizzle permutes 16-byte chunks: a bijection that keeps bytes of a chunk
    // together and keeps each 128-byte row in place.
    for (uint32_t atom = 0; atom < 4; ++atom) {
        std::set<uint32_t> seen;
        for (uint32_t off = 0; off < sm90::kSwizzleAtom; ++off) {
            const uint32_t a = atom * sm90::kSwizzleAtom + off, s = sm90::swizzle128(a);
            CHECK(s / sm90::kSwizzleBytes == a / sm90::kSwizzleBytes, "row moved: %u -> %u", a, s);
            CHECK(s % 16 == a % 16, "byte within chunk moved: %u -> %u", a, s);
            seen.insert(s);
        }
        CHECK(seen.size() == sm90::kSwizzleAtom, "not a bijection in atom %u", atom);
        tt::counts().checks++;
    }
    // Row r's chunk c lands in chunk c ^ (r % 8) (the TMA SWIZZLE_128B pattern).
    for (uint32_t r = 0; r < 16; ++r)
        for (uint32_t c = 0; c < 8; ++c)
            CHECK(sm90::swizzle128(r * 128 + c * 16) == r * 128 + ((c ^ (r % 8)) * 16), "row %u chunk %u", r, c);
}

TEST_CASE("descriptor_fields") {
    const uint64_t d = sm90::make_desc(0x1A400, 8192, 1024);
    CHECK(sm90::desc_start(d) == 0x1A400 && sm90::desc_lbo(d) == 8192 && sm90::desc_sbo(d) == 1024, "round trip");
    CHECK(sm90::desc_layout(d) == sm90::kSwizzle128, "layout type");
    CHECK(((d >> 49) & 7) == 0, "base offset 0 for 1024-aligned tiles");
    CHECK((d & 0xC000u) == 0 && ((d >> 30) & 3) == 0 && ((d >> 46) & 7) == 0, "reserved bits stay 0");
    // The largest shared-memory address of a 227 KiB block fits the 14-bit (>> 4) field.
    CHECK(sm90::desc_start(sm90::make_desc(227 * 1024 - 16, 0, 0)) == 227 * 1024 - 16, "top of shared memory");
    tt::counts().checks += 3;
}

// K1: the A fragments each consumer thread loads from the logits tile (k1_logit_addr) are the elements the wgmma
// A-from-registers layout (a_fragment) asks for, read as aligned 4-byte pairs, without bank conflicts.
TEST_CASE("k1_a_fragments_from_the_tma_tile") {
    const uint32_t smem = 0x400 * 3;  // any 1024-byte aligned base
    for (uint32_t stage = 0; stage < v3::kStages; ++stage) {
        const uint32_t a_base = v3::stage_a(smem, stage);
        CHECK(a_base % sm90::kSwizzleAtom == 0, "stage %u A tile not 1024-aligned", stage);
        // Logical element (row, k) of the TMA tile at byte address tma_sw128_offset; fill a map address -> (row, k).
        std::vector<int> at(v3::kTileABytes / 2, -1);
        for (uint32_t row = 0; row < v3::kBM; ++row)
            for (uint32_t k = 0; k < v3::kBK; ++k) {
                const uint32_t addr = sm90::tma_sw128_offset(a_base, row, k) - a_base;
                CHECK(addr < v3::kTileABytes && at[addr / 2] < 0, "TMA layout collides at (%u, %u)", row, k);
                at[addr / 2] = (int)(row * v3::kBK + k);
            }
        for (uint32_t wg = 0; wg < v3::kConsumers; ++wg)
            for (uint32_t step = 0; step < v3::kBK / v3::kInstK; ++step)
                for (uint32_t reg = 0; reg < 4; ++reg) {
                    for (uint32_t warp = 0; warp < 4; ++warp) {
                        std::set<uint32_t> banks;
                        for (uint32_t lane = 0; lane < 32; ++lane) {
                            const uint32_t t = warp * 32 + lane;
                            const sm90::RowCol f0 = sm90::a_fragment(t, reg, 0), f1 = sm90::a_fragment(t, reg, 1);
                            const uint32_t row = wg * v3::kWgRows + f0.row, k = step * v3::kInstK + f0.col;
                            const uint32_t addr = v3::k1_logit_addr(a_base, row, k);
                            CHECK(addr % 4 == 0, "fragment pair not 4-byte aligned");
                            CHECK(f1.row == f0.row && f1.col == f0.col + 1, "pair not consecutive in k");
                            CHECK(at[(addr - a_base) / 2] == (int)(row * v3::kBK + k), "element mismatch");
                            CHECK(at[(addr - a_base) / 2 + 1] == (int)(row * v3::kBK + k + 1), "second element");
                            banks.insert((addr / 4) % 32);
                        }
                        CHECK(banks.size() == 32, "bank conflict: wg %u step %u reg %u warp %u uses %zu banks", wg,
                              step, reg, warp, banks.size());
                        tt::counts().checks++;
                    }
                }
    }
}

// K1: the transposed-B descriptors read the embedding tile where TMA put it: element (n = dim, k = vocab row) of
// instruction `step` is box n / 64's row 16 step + k, column n % 64.
TEST_CASE("k1_b_descriptor_matches_tma_boxes") {
    const uint32_t smem = 0x2000;
    for (uint32_t stage = 0; stage < v3::kStages; ++stage) {
        const uint32_t b_base = v3::stage_b(smem, stage);
        CHECK(b_base % sm90::kSwizzleAtom == 0, "B tile alignment");
        std::set<uint32_t> addrs;
        for (uint32_t step = 0; step < v3::kBK / v3::kInstK; ++step) {
            const uint64_t d = v3::k1_b_desc(b_base, step);
            CHECK(sm90::desc_start(d) % sm90::kSwizzleAtom == 0, "descriptor start must stay atom-aligned");
            for (uint32_t n = 0; n < v3::kBN; ++n)
                for (uint32_t k = 0; k < v3::kInstK; ++k) {
                    const uint32_t box = n / 64;
                    const uint32_t want = sm90::tma_sw128_offset(b_base + box * v3::kK1BoxBytes,
                                                                 step * v3::kInstK + k, n % 64);
                    const uint32_t got = sm90::wgmma_mn_major_addr(d, n, k);
                    CHECK(got == want, "stage %u step %u (n %u, k %u): wgmma reads %u, TMA wrote %u", stage, step, n,
                          k, got, want);
                    addrs.insert(got);
                }
        }
        CHECK(addrs.size() == v3::kBN * v3::kBK, "the 4 instructions together read every element once");
        tt::counts().checks++;
    }
}

// K3: both operands K-major; the descriptors advanced by 32 bytes per instruction read what TMA wrote.
TEST_CASE("k3_descriptors_match_tma_boxes") {
    const uint32_t smem = 0x1000;
    for (uint32_t stage = 0; stage < v3::kStages; ++stage) {
        const uint32_t a_base = v3::stage_a(smem, stage), b_base = v3::stage_b(smem, stage);
        std::set<uint32_t> a_addrs, b_addrs;
        for (uint32_t step = 0; step < v3::kBK / v3::kInstK; ++step) {
            for (uint32_t wg = 0; wg < v3::kConsumers; ++wg) {
                const uint64_t d = v3::k3_a_desc(a_base, wg, step);
                for (uint32_t m = 0; m < v3::kWgRows; ++m)
                    for (uint32_t k = 0; k < v3::kInstK; ++k) {
                        const uint32_t want = sm90::tma_sw128_offset(a_base, wg * v3::kWgRows + m,
                                                                     step * v3::kInstK + k);
                        const uint32_t got = sm90::wgmma_k_major_addr(d, m, k);
                        CHECK(got == want, "A: stage %u wg %u step %u (m %u, k %u): %u vs %u", stage, wg, step, m, k,
                              got, want);
                        a_addrs.insert(got);
                    }
            }
            const uint64_t d = v3::k3_b_desc(b_base, step);
            for (uint32_t n = 0; n < v3::kBN; ++n)
                for (uint32_t k = 0; k < v3::kInstK; ++k) {
                    const uint32_t want = sm90::tma_sw128_offset(b_base, n, step * v3::kInstK + k);
                    const uint32_t got = sm90::wgmma_k_major_addr(d, n, k);
                    CHECK(got == want, "B: stage %u step %u (n %u, k %u): %u vs %u", stage, step, n, k, got, want);
                    b_addrs.insert(got);
                }
        }
        CHECK(a_addrs.size() == v3::kBM * v3::kBK && b_addrs.size() == v3::kBN * v3::kBK, "full coverage");
        tt::counts().checks += 2;
    }
}

TEST_CASE("fragments_cover_their_tiles_once") {
    std::vector<int> acc(v3::kWgRows * v3::kBN, 0);
    for (uint32_t t = 0; t < 128; ++t)
        for (uint32_t i = 0; i < v3::kBN / 2; ++i) {
            const sm90::RowCol f = sm90::acc_fragment(t, i);
            CHECK(f.row < v3::kWgRows && f.col < v3::kBN, "accumulator (%u, %u) outside", t, i);
            acc[f.row * v3::kBN + f.col]++;
        }
    for (int c : acc) CHECK(c == 1, "accumulator tile not covered exactly once");
    std::vector<int> a(v3::kWgRows * v3::kInstK, 0);
    for (uint32_t t = 0; t < 128; ++t)
        for (uint32_t j = 0; j < 4; ++j)
            for (uint32_t h = 0; h < 2; ++h) {
                const sm90::RowCol f = sm90::a_fragment(t, j, h);
                CHECK(f.row < v3::kWgRows && f.col < v3::kInstK, "A fragment outside");
                a[f.row * v3::kInstK + f.col]++;
            }
    for (int c : a) CHECK(c == 1, "A tile not covered exactly once");
    // The four lanes that share a row in the accumulator are consecutive (l / 4 equal): the epilogue reduces a
    // row's partial sums with shuffles over lane bits 0-1.
    for (uint32_t t = 0; t < 128; ++t)
        CHECK(sm90::acc_fragment(t, 0).row == sm90::acc_fragment(t ^ 1, 0).row &&
                  sm90::acc_fragment(t, 0).row == sm90::acc_fragment(t ^ 2, 0).row, "row partners");
    tt::counts().checks += 3;
}

TEST_CASE("scheduler_covers_every_tile_once") {
    const uint32_t shapes[][2] = {{1, 1}, {1, 16}, {64, 16}, {64, 125}, {64, 502}, {7, 3}, {9, 1}, {17, 5}, {3, 2}};
    const uint32_t grids[] = {1, 2, 7, 66, 114, 132, 1000};
    const uint32_t groups[] = {1, 3, 8, 64};
    for (auto& s : shapes)
        for (uint32_t ctas : grids)
            for (uint32_t g : groups) {
                const uint32_t tiles = sm90::tile_count(s[0], s[1]);
                std::vector<int> seen(tiles, 0);
                uint32_t total = 0;
                for (uint32_t b = 0; b < ctas; ++b) {
                    const uint32_t mine = sm90::tiles_of_block(b, ctas, tiles);
                    for (uint32_t i = 0; i < mine; ++i) {
                        const uint32_t linear = b + i * ctas;
                        CHECK(linear < tiles, "block %u walks past the last tile", b);
                        const sm90::Tile t = sm90::tile_at(linear, s[0], s[1], g);
                        CHECK(t.row_tile < s[0] && t.col_tile < s[1], "tile (%u, %u) outside %ux%u", t.row_tile,
                              t.col_tile, s[0], s[1]);
                        seen[t.row_tile * s[1] + t.col_tile]++;
                    }
                    total += mine;
                }
                CHECK(total == tiles, "%u tiles taken of %u", total, tiles);
                for (uint32_t i = 0; i < tiles; ++i)
                    CHECK(seen[i] == 1, "tile %u taken %d times (%ux%u, %u blocks, group %u)", i, seen[i], s[0], s[1],
                          ctas, g);
                tt::counts().checks++;
            }
}

TEST_CASE("tensor_map_parameters") {
    // The loss's shapes: logits [8192, 32000] with a padded stride, the embedding [128256, 4096].
    sm90::TmaMap2d m = sm90::tma_map_2d(0x10000, 8192, 32000, 32008, v3::kBM);
    CHECK(!m.error, "padded stride refused: %s", m.error);
    CHECK(m.dims[0] == 32000 && m.dims[1] == 8192 && m.stride_bytes == 64016, "dims / stride");
    CHECK(m.box[0] == 64 && m.box[1] == v3::kBM, "box");
    // A box over the last, partial column tile: the padding (cols 32000..32007) is never delivered, zeros instead.
    const int64_t col0 = 32000 / 64 * 64;  // 31936
    for (uint32_t r = 0; r < m.box[1]; ++r)
        for (uint32_t c = 0; c < m.box[0]; ++c) {
            const sm90::BoxSource s = sm90::tma_box_source(m, col0, 8192 - 64, r, c);
            const bool want = col0 + c < 32000 && 8192 - 64 + r < 8192;
            CHECK(s.inside == want, "box element (%u, %u) inside=%d", r, c, (int)s.inside);
            if (s.inside) CHECK(s.col < 32000 && s.row < 8192, "delivers padding or a row past the end");
        }
    CHECK(!sm90::tma_map_2d(0, 128256, 4096, 4096, 256).error, "embedding");
    CHECK(sm90::tma_map_2d(0, 10, 30, 30, 64).error, "row stride of 60 bytes must be refused");
    CHECK(sm90::tma_map_2d(8, 10, 32, 32, 64).error, "misaligned base must be refused");
    CHECK(sm90::tma_map_2d(0, 10, 32, 24, 64).error, "stride below the row must be refused");
    CHECK(sm90::tma_map_2d(0, 10, 32, 32, 257).error, "box of 257 rows must be refused");
    CHECK(sm90::tma_map_2d(0, 0, 32, 32, 64).error, "empty matrix must be refused");
    tt::counts().checks += 8;
}

}  // namespace

int main(int argc, char** argv) { return tt::run_main(argc, argv); }
