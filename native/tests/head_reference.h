// The oracle of the fused LM head: logits z = h W^T in float64, then cross-entropy or the EMD bound per row (the EMD
// part is emd_reference.h's), and the gradients by the chain rule. Plain loops; never optimise this file.
#ifndef TASFT_HEAD_REFERENCE_H
#define TASFT_HEAD_REFERENCE_H

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "emd_reference.h"

namespace ref {

struct HeadResult {
    std::vector<double> loss;         // [rows]
    std::vector<double> grad_hidden;  // [rows, hidden]
    std::vector<double> grad_weight;  // [vocab, hidden], the gradient alone (not accumulated)
};

// h: [rows, hidden] (compact), w: [vocab, hidden], ehat: [vocab, dim] (may be empty without EMD rows);
// roles: 0 ignore, 1 CE, 2 EMD.
inline HeadResult head(const std::vector<double>& h, int64_t rows, int64_t hidden, const std::vector<double>& w,
                       int64_t vocab, const std::vector<double>& ehat, int64_t dim,
                       const std::vector<int64_t>& targets, const std::vector<int8_t>& roles, int64_t ignore_index,
                       double ce_scale, double emd_scale) {
    HeadResult r;
    r.loss.assign(rows, 0.0);
    r.grad_hidden.assign(rows * hidden, 0.0);
    r.grad_weight.assign(vocab * hidden, 0.0);
    for (int64_t n = 0; n < rows; ++n) {
        if (roles[n] == 0 || targets[n] == ignore_index) continue;
        std::vector<double> z(vocab, 0.0), g(vocab, 0.0);
        for (int64_t v = 0; v < vocab; ++v)
            for (int64_t d = 0; d < hidden; ++d) z[v] += h[n * hidden + d] * w[v * hidden + d];
        const int64_t y = targets[n];
        if (roles[n] == 1) {
            double m = -std::numeric_limits<double>::infinity();
            for (int64_t v = 0; v < vocab; ++v) m = std::max(m, z[v]);
            double s = 0;
            for (int64_t v = 0; v < vocab; ++v) s += std::exp(z[v] - m);
            r.loss[n] = m + std::log(s) - z[y];
            for (int64_t v = 0; v < vocab; ++v) g[v] = ce_scale * (std::exp(z[v] - m) / s - (v == y ? 1.0 : 0.0));
        } else {
            Result e = emd(z, 1, vocab, vocab, ehat, dim, std::vector<int64_t>{y}, ignore_index);
            r.loss[n] = e.loss[0];
            for (int64_t v = 0; v < vocab; ++v) g[v] = emd_scale * e.grad[v];
        }
        for (int64_t v = 0; v < vocab; ++v)
            for (int64_t d = 0; d < hidden; ++d) {
                r.grad_hidden[n * hidden + d] += g[v] * w[v * hidden + d];
                r.grad_weight[v * hidden + d] += g[v] * h[n * hidden + d];
            }
    }
    return r;
}

}  // namespace ref

#endif
