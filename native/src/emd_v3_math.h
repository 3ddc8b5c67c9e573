// The per-element arithmetic of the v3 CUDA kernel (emd_cuda_v3.cu), as host/device functions: the kernel calls
// them, and the CPU emulation of its four steps (native/tests/test_v3_emulation.cpp) calls the same ones, so the
// emulation's accuracy against the float64 oracle is the kernel's, up to summation order.
//
// Probabilities are computed in the log2 domain: c = m + log2(sum_v 2^(x_v - m)) with x_v = z_v log2(e), and
// p_v = 2^(x_v - c) (one FMA-able subtract and one ex2 per entry, no division).
#ifndef TASFT_EMD_V3_MATH_H
#define TASFT_EMD_V3_MATH_H

#include <cmath>
#include <cstdint>

#include "sm90_layout.h"  // TASFT_HD

namespace tasft {
namespace v3 {

constexpr float kLog2e = 1.4426950408889634f;

// Online log-sum-exp in the log2 domain: (m, s) absorbs (om, os), both meaning s 2^m. An all -inf side stays neutral.
TASFT_HD void lse2_merge(float& m, float& s, float om, float os) {
    const float nm = fmaxf(m, om);
    if (nm == -INFINITY) return;
    s = s * exp2f(m - nm) + os * exp2f(om - nm);
    m = nm;
}
// c from the merged (m, s): p_v = 2^(z_v log2 e - c). An all-masked row gives -inf + -inf and NaN p, as v1.
TASFT_HD float row_c(float m, float s) { return m + log2f(s); }
TASFT_HD float prob(float z, float c) { return exp2f(z * kLog2e - c); }

// The forward GEMM's A entry: p_v, left out (0) at the target (its term is added in fp32 by the epilogue), past the
// vocabulary (TMA's zero fill would otherwise give 2^-c) and on rows that are not active.
TASFT_HD float forward_a(float z, float c, int64_t v, int64_t vocab, int64_t y, bool live) {
    return (!live || v >= vocab || v == y) ? 0.0f : prob(z, c);
}

// Forward epilogue, one dimension: from U = sum_{v != y} bf16(p_v) e_v,  r = u - e_y with u = U + p_y e_y.
TASFT_HD float residual(float U, float p_y, float e_y) { return U + (p_y - 1.0f) * e_y; }
TASFT_HD float expected(float U, float p_y, float e_y) { return U + p_y * e_y; }

// Backward epilogue: dz_v = grad_scale * 2 p_v (S_v - ru), S_v = R . e_v, ru = R . u (R = the bf16 residual).
TASFT_HD float gradient(float grad_scale, float p, float S, float ru) { return 2.0f * grad_scale * p * (S - ru); }

}  // namespace v3
}  // namespace tasft

#endif
