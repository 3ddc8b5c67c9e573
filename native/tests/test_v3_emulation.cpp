// CPU emulation of the v3 CUDA kernel's arithmetic (issue 11, S0), held to the float64 oracle with the accuracy
// contract of the bf16 tensor-core kernels (bf16_gemm_tolerance.h). No GPU: it runs in CI.
//
// It replays the four launches of emd_cuda_v3.cu row by row with the kernel's own element functions (emd_v3_math.h)
// and its rounding points: K0 the log2-domain statistics in 8-wide chunks, K1 U = sum_{v != y} bf16(p_v) e_v in fp32,
// the per-256-dim-slice epilogue (r in fp32, R = bf16(r), partial ||r||^2 and R.u), K2 the slice sums in order, K3
// S = R . e_v in fp32 and dz = 2 g p (S - ru) rounded to bf16. What it cannot show is the CUDA code's indexing and
// pipelines (test_sm90_layout checks the index arithmetic; a GPU runs test_emd_cuda's v3 cases): if the kernel
// computes what this emulation computes, it meets the contract on these cases.
#include <cmath>
#include <vector>

#include "bf16_gemm_tolerance.h"
#include "emd_v3_math.h"
#include "emd_v3_plan.h"
#include "test_util.h"

namespace {

using namespace tasft;

float bf16(float x) { return tt::from_bf16(tt::to_bf16(x)); }

struct EmuOptions {
    float grad_scale = 1.0f;
    bool grad = true;
    const std::vector<int64_t>* targets = nullptr;  // overrides the case's (bad-target rows)
};

tt::Outputs emulate_v3(const tt::Case& c, const EmuOptions& o = EmuOptions()) {
    const auto& s = c.spec;
    CHECK(s.logits_dtype == TASFT_BFLOAT16 && s.embedding_dtype == TASFT_BFLOAT16, "v3 takes bf16 only");
    const int64_t N = s.rows, V = s.vocab, D = s.dim;
    const std::vector<int64_t>& targets = o.targets ? *o.targets : c.targets;
    const uint32_t slices = (uint32_t)((D + v3::kSliceDims - 1) / v3::kSliceDims);
    tt::Outputs out;
    out.loss.assign(N, 0.0f);
    out.expected.assign(N * D, 0.0f);
    out.grad = c.logits.bytes;  // in place: the padding keeps its sentinel unless something writes it
    auto z = [&](int64_t n, int64_t v) { return (float)c.logits.values[n * c.stride + v]; };
    auto e = [&](int64_t v, int64_t d) { return (float)c.embedding.values[v * D + d]; };
    for (int64_t n = 0; n < N; ++n) {
        const int64_t y = targets[n];
        const bool ignored = y == c.ignore_index, bad = !ignored && (y < 0 || y >= V);
        // K0: chunks of 8 (one 16-byte load), each reduced then merged, as a lane does.
        float m = -INFINITY, sum = 0.0f;
        for (int64_t v0 = 0; v0 < V; v0 += 8) {
            float mx = -INFINITY, sx = 0.0f;
            for (int64_t v = v0; v < std::min(V, v0 + 8); ++v) mx = fmaxf(mx, z(n, v) * v3::kLog2e);
            if (mx != -INFINITY)
                for (int64_t v = v0; v < std::min(V, v0 + 8); ++v) sx += exp2f(z(n, v) * v3::kLog2e - mx);
            v3::lse2_merge(m, sum, mx, sx);
        }
        const float cc = v3::row_c(m, sum);
        const bool live = !ignored && !bad;
        const float p_y = live ? v3::prob(z(n, y), cc) : 0.0f;
        // K1: U over the vocabulary in fp32 from bf16 products; epilogue per slice.
        std::vector<float> U(D, 0.0f), R(D, 0.0f);
        for (int64_t v = 0; v < V; ++v) {
            const float a = bf16(v3::forward_a(z(n, v), cc, v, V, y, live));
            if (a != 0.0f)
                for (int64_t d = 0; d < D; ++d) U[d] += a * e(v, d);
        }
        float loss = 0.0f, ru = 0.0f;
        for (uint32_t sl = 0; sl < slices; ++sl) {
            float ss = 0.0f, su = 0.0f;
            for (int64_t d = sl * v3::kSliceDims; d < std::min<int64_t>(D, (sl + 1) * v3::kSliceDims); ++d) {
                float r = 0.0f, u = 0.0f;
                if (live) {
                    r = v3::residual(U[d], p_y, e(y, d));
                    u = v3::expected(U[d], p_y, e(y, d));
                }
                R[d] = bf16(r);
                ss += r * r;
                su += R[d] * u;
                out.expected[n * D + d] = u;
            }
            loss += ss;  // K2: the slices in order
            ru += su;
        }
        if (ignored) loss = ru = 0.0f;
        if (bad) loss = ru = NAN;
        out.loss[n] = loss;
        if (!o.grad) continue;
        // K3
        for (int64_t v = 0; v < V; ++v) {
            float g;
            if (ignored) {
                g = 0.0f;
            } else if (bad) {
                g = NAN;
            } else {
                float S = 0.0f;
                for (int64_t d = 0; d < D; ++d) S += R[d] * e(v, d);
                g = v3::gradient(o.grad_scale, v3::prob(z(n, v), cc), S, ru);
            }
            const uint16_t h = tt::to_bf16(g);
            std::memcpy(&out.grad[(n * c.stride + v) * 2], &h, 2);
        }
    }
    return out;
}

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
