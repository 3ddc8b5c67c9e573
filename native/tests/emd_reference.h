// The oracle: the EMD bound and its gradient in float64, written as plainly as the math. Never optimise this file.
#ifndef TASFT_EMD_REFERENCE_H
#define TASFT_EMD_REFERENCE_H

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace ref {

struct Result {
    std::vector<double> loss;      // [rows]
    std::vector<double> grad;      // [rows, vocab], d loss[n] / d logits[n, :] (grad_scale = 1)
    std::vector<double> expected;  // [rows, dim]
    std::vector<double> prob;      // [rows, vocab] softmax, for error bounds
    std::vector<double> rnorm;     // [rows] ||r||
};

// logits: [rows, stride] (first `vocab` columns used), ehat: [vocab, dim] unit rows, all as double.
inline Result emd(const std::vector<double>& logits, int64_t rows, int64_t vocab, int64_t stride,
                  const std::vector<double>& ehat, int64_t dim, const std::vector<int64_t>& targets,
                  int64_t ignore_index) {
    Result r;
    r.loss.assign(rows, 0.0);
    r.grad.assign(rows * vocab, 0.0);
    r.expected.assign(rows * dim, 0.0);
    r.prob.assign(rows * vocab, 0.0);
    r.rnorm.assign(rows, 0.0);
    for (int64_t n = 0; n < rows; ++n) {
        if (targets[n] == ignore_index) continue;
        const double* z = &logits[n * stride];
        double m = -std::numeric_limits<double>::infinity();
        for (int64_t v = 0; v < vocab; ++v) m = std::max(m, z[v]);
        double s = 0;
        for (int64_t v = 0; v < vocab; ++v) s += std::exp(z[v] - m);
        std::vector<double> p(vocab), u(dim, 0.0), res(dim);
        for (int64_t v = 0; v < vocab; ++v) p[v] = std::exp(z[v] - m) / s;
        for (int64_t v = 0; v < vocab; ++v)
            for (int64_t d = 0; d < dim; ++d) u[d] += p[v] * ehat[v * dim + d];
        const int64_t y = targets[n];
        double loss = 0, ru = 0;
        for (int64_t d = 0; d < dim; ++d) {
            res[d] = u[d] - ehat[y * dim + d];
            loss += res[d] * res[d];
            ru += res[d] * u[d];
        }
        r.loss[n] = loss;
        r.rnorm[n] = std::sqrt(loss);
        for (int64_t v = 0; v < vocab; ++v) r.prob[n * vocab + v] = p[v];
        for (int64_t d = 0; d < dim; ++d) r.expected[n * dim + d] = u[d];
        for (int64_t v = 0; v < vocab; ++v) {
            double re = 0;
            for (int64_t d = 0; d < dim; ++d) re += res[d] * ehat[v * dim + d];
            r.grad[n * vocab + v] = 2.0 * p[v] * (re - ru);
        }
    }
    return r;
}

// Rows scaled to unit L2 norm, in double.
inline std::vector<double> unit_rows(const std::vector<double>& e, int64_t rows, int64_t dim) {
    std::vector<double> out(e.size());
    for (int64_t v = 0; v < rows; ++v) {
        double s = 0;
        for (int64_t d = 0; d < dim; ++d) s += e[v * dim + d] * e[v * dim + d];
        double inv = 1.0 / std::max(std::sqrt(s), 1e-12);
        for (int64_t d = 0; d < dim; ++d) out[v * dim + d] = e[v * dim + d] * inv;
    }
    return out;
}

}  // namespace ref

#endif
