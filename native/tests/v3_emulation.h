// The CPU replay of the v3 CUDA kernel (emd_cuda_v3.cu): the four launches row by row with the kernel's own element
// functions (emd_v3_math.h) and its rounding points. Used by test_v3_emulation (against the oracle, no GPU) and by
// test_emd_cuda's v3 cases (the GPU result against this replay: a tight check that catches indexing bugs which the
// bf16 tolerances would hide).
#ifndef TASFT_V3_EMULATION_H
#define TASFT_V3_EMULATION_H

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "emd_v3_math.h"
#include "emd_v3_plan.h"
#include "test_util.h"

namespace tt {

inline float round_bf16(float x) { return from_bf16(to_bf16(x)); }

struct EmuOptions {
    float grad_scale = 1.0f;
    bool grad = true;
    const std::vector<int64_t>* targets = nullptr;  // overrides the case's (bad-target rows)
};

inline Outputs emulate_v3(const Case& c, const EmuOptions& o = EmuOptions()) {
    const auto& s = c.spec;
    CHECK(s.logits_dtype == TASFT_BFLOAT16 && s.embedding_dtype == TASFT_BFLOAT16, "v3 takes bf16 only");
    const int64_t N = s.rows, V = s.vocab, D = s.dim;
    const std::vector<int64_t>& targets = o.targets ? *o.targets : c.targets;
    const uint32_t slices = (uint32_t)((D + tasft::v3::kSliceDims - 1) / tasft::v3::kSliceDims);
    Outputs out;
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
            for (int64_t v = v0; v < std::min(V, v0 + 8); ++v) mx = fmaxf(mx, z(n, v) * tasft::v3::kLog2e);
            if (mx != -INFINITY)
                for (int64_t v = v0; v < std::min(V, v0 + 8); ++v) sx += exp2f(z(n, v) * tasft::v3::kLog2e - mx);
            tasft::v3::lse2_merge(m, sum, mx, sx);
        }
        const float cc = tasft::v3::row_c(m, sum);
        const bool live = !ignored && !bad;
        const float p_y = live ? tasft::v3::prob(z(n, y), cc) : 0.0f;
        // K1: U over the vocabulary in fp32 from bf16 products; epilogue per slice.
        std::vector<float> U(D, 0.0f), R(D, 0.0f);
        for (int64_t v = 0; v < V; ++v) {
            const float a = round_bf16(tasft::v3::forward_a(z(n, v), cc, v, V, y, live));
            if (a != 0.0f)
                for (int64_t d = 0; d < D; ++d) U[d] += a * e(v, d);
        }
        float loss = 0.0f, ru = 0.0f;
        for (uint32_t sl = 0; sl < slices; ++sl) {
            float ss = 0.0f, su = 0.0f;
            for (int64_t d = sl * tasft::v3::kSliceDims; d < std::min<int64_t>(D, (sl + 1) * tasft::v3::kSliceDims); ++d) {
                float r = 0.0f, u = 0.0f;
                if (live) {
                    r = tasft::v3::residual(U[d], p_y, e(y, d));
                    u = tasft::v3::expected(U[d], p_y, e(y, d));
                }
                R[d] = round_bf16(r);
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
                g = tasft::v3::gradient(o.grad_scale, tasft::v3::prob(z(n, v), cc), S, ru);
            }
            const uint16_t h = to_bf16(g);
            std::memcpy(&out.grad[(n * c.stride + v) * 2], &h, 2);
        }
    }
    return out;
}

}  // namespace tt

#endif
