// CPU emulation of the v3 CUDA kernel's arithmetic (issue 11, S0), held to the float64 oracle with the accuracy
// contract of the bf16 tensor-core kernels (bf16_gemm_tolerance.h). No GPU: it runs in CI.
//
// It replays (v3_emulation.h) the four launches of emd_cuda_v3.cu row by row with the kernel's own element functions (emd_v3_math.h)
// and its rounding points: K0 the log2-domain statistics in 8-wide chunks, K1 U = sum_{v != y} bf16(p_v) e_v in fp32,
// the per-256-dim-slice epilogue (r in fp32, R = bf16(r), partial ||r||^2 and R.u), K2 the slice sums in order, K3
// S = R . e_v in fp32 and dz = 2 g p (S - ru) rounded to bf16. What it cannot show is the CUDA code's indexing and
// pipelines (test_sm90_layout checks the index arithmetic; a GPU runs test_emd_cuda's v3 cases): if the kernel
// computes what this emulation computes, it meets the contract on these cases.
#include <cmath>
#include <vector>

#include "bf16_gemm_tolerance.h"
#include "v3_emulation.h"

namespace {

using tt::EmuOptions;
using tt::emulate_v3;

tt::CaseSpec bf(tt::CaseSpec s) { return s.with_dtypes(TASFT_BFLOAT16, TASFT_BFLOAT16); }

TEST_CASE("random_shapes") {
    // Tails everywhere: V not a multiple of 64 or 256, D a multiple of 8 but not of 64 or 256, one and many slices,
    // padded strides (multiples of 8, as v3 requires), ignored rows.
    const int64_t shapes[][4] = {{1, 1, 8, 0},     {3, 63, 8, 8},     {5, 64, 16, 0},   {17, 257, 264, 8},
                                 {31, 1000, 40, 16}, {9, 4099, 512, 0}, {130, 333, 24, 8}, {4, 2, 520, 0}};
    uint64_t seed = 2100;
    for (const auto& sh : shapes) {
        const tt::Case c = tt::make_case(bf(tt::spec(sh[0], sh[1], sh[2]).with_pad(sh[3]).with_ignore(0.2)
                                                .with_seed(seed++)));
        tt::compare_bf16_gemm(c, emulate_v3(c), true, true, "v3 emulation");
    }
}

TEST_CASE("extreme_and_masked_logits") {
    for (double scale : {1e2, 1e4}) {
        const tt::Case c = tt::make_case(bf(tt::spec(70, 1001, 40).with_pad(8).with_scale(scale).with_neg_inf(0.3)
                                                .with_ignore(0.2).with_seed(2200 + (uint64_t)scale)));
        tt::compare_bf16_gemm(c, emulate_v3(c), true, true, "v3 emulation");
    }
    // Language-model-like rows (a few nats of entropy, confident targets): where a bf16 p_y - 1 would lose most of r;
    // v3 adds the target's term in fp32.
    for (double entropy : {0.3, 2.0}) {
        const tt::Case c = tt::make_lm_case(bf(tt::spec(40, 3000, 64).with_ignore(0.1).with_seed(2210)), entropy);
        tt::compare_bf16_gemm(c, emulate_v3(c), true, true, "v3 emulation");
    }
}

TEST_CASE("one_hot_rows_are_exactly_zero") {
    // Target = the only finite logit: P' = 0 and p_y - 1 = 0, so r = 0: loss and gradient exactly 0.
    tt::Case c = tt::make_case(bf(tt::spec(9, 700, 16).with_neg_inf(1.0).with_seed(2300)));
    for (int64_t n = 0; n < c.spec.rows; ++n)
        for (int64_t v = 0; v < c.spec.vocab; ++v)
            if (std::isfinite(c.logits.values[n * c.stride + v])) c.targets[n] = v;
    tt::refresh_expected(c);
    const tt::Outputs o = emulate_v3(c);
    tt::compare_bf16_gemm(c, o, true, true, "v3 emulation");
    for (int64_t n = 0; n < c.spec.rows; ++n) {
        CHECK(o.loss[n] == 0.0f, "one-hot row %lld: loss %g", (long long)n, o.loss[n]);
        for (int64_t v = 0; v < c.spec.vocab; ++v)
            CHECK(tt::read_value(o.grad.data(), TASFT_BFLOAT16, (size_t)(n * c.stride + v)) == 0.0,
                  "one-hot row %lld: grad[%lld] not 0", (long long)n, (long long)v);
    }
}

TEST_CASE("ignored_bad_targets_and_scale") {
    const tt::Case all = tt::make_case(bf(tt::spec(20, 333, 16).with_pad(8).with_ignore(1.0).with_seed(2400)));
    const tt::Outputs oa = emulate_v3(all);
    for (int64_t n = 0; n < all.spec.rows; ++n) CHECK(oa.loss[n] == 0.0f, "ignored row %lld", (long long)n);
    tt::compare_bf16_gemm(all, oa, true, true, "v3 emulation");

    const tt::Case c = tt::make_case(bf(tt::spec(9, 1234, 40).with_pad(8).with_seed(2410)));
    std::vector<int64_t> bad = c.targets;
    bad[3] = c.spec.vocab + 5;
    bad[7] = -1;
    EmuOptions o;
    o.targets = &bad;
    const tt::Outputs ob = emulate_v3(c, o);
    for (int64_t n : {3, 7}) {
        CHECK(std::isnan(ob.loss[n]), "bad target row %lld: loss %g", (long long)n, ob.loss[n]);
        for (int64_t v = 0; v < c.spec.vocab; ++v)
            CHECK(std::isnan(tt::read_value(ob.grad.data(), TASFT_BFLOAT16, (size_t)(n * c.stride + v))),
                  "bad target row %lld: grad[%lld] not NaN", (long long)n, (long long)v);
    }
    // grad_scale multiplies the gradient (here -0.25, as TA-SFT's negative weight does), nothing else.
    EmuOptions sc;
    sc.grad_scale = -0.25f;
    const tt::Outputs o1 = emulate_v3(c), o2 = emulate_v3(c, sc);
    for (int64_t i = 0; i < c.spec.rows * c.stride; ++i) {
        if (i % c.stride >= c.spec.vocab) continue;
        const double g1 = tt::read_value(o1.grad.data(), TASFT_BFLOAT16, (size_t)i);
        const double g2 = tt::read_value(o2.grad.data(), TASFT_BFLOAT16, (size_t)i);
        CHECK(std::fabs(g2 + 0.25 * g1) <= 8e-3 * std::fabs(g1) + 1e-30, "scaled grad[%lld] %g vs %g", (long long)i,
              g2, g1);
    }
    tt::counts().checks += 3;
}

}  // namespace

int main(int argc, char** argv) { return tt::run_main(argc, argv); }
