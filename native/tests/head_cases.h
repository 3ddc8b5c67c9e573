// Random cases of the fused LM head and their float64 results (head_reference.h), shared by test_head_cpu and
// test_head_cuda.
#ifndef TASFT_HEAD_CASES_H
#define TASFT_HEAD_CASES_H

#include "head_reference.h"
#include "test_util.h"

namespace tt {

struct HeadCase {
    int64_t rows, vocab, hidden, dim, stride;
    Buffer h, w, e;            // hidden [rows, stride], weight [vocab, hidden], ehat [vocab, dim]
    std::vector<int64_t> targets;
    std::vector<int8_t> roles;
    float ce_scale = 0.37f, emd_scale = -1.3f;
    ref::HeadResult want;
};

// roles: "mixed" (CE, EMD and ignored rows), "ce", "emd"; tied: W = the embedding, ehat = its unit rows (dim = hidden).
inline HeadCase make_head(int64_t rows, int64_t vocab, int64_t hidden, int64_t dim, const char* roles, bool tied,
                   unsigned seed, int dtype = TASFT_FLOAT32, int64_t pad = 0, double scale = 1.0) {
    counts().cases++;
    HeadCase c;
    c.rows = rows, c.vocab = vocab, c.hidden = hidden, c.dim = tied ? hidden : dim, c.stride = hidden + pad;
    std::mt19937 rng(seed);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    std::vector<float> h(rows * c.stride), w(vocab * hidden), e(vocab * c.dim);
    for (auto& x : h) x = nd(rng) * (float)scale;
    for (auto& x : w) x = nd(rng) / std::sqrt((float)hidden) * 2.0f;
    for (auto& x : e) x = nd(rng);
    c.h.store(h, dtype);
    c.w.store(w, dtype);
    std::vector<double> ew = tied ? c.w.values : std::vector<double>(e.begin(), e.end());
    std::vector<double> unit = ref::unit_rows(ew, vocab, c.dim);
    std::vector<float> unitf(unit.begin(), unit.end());
    c.e.store(unitf, dtype);
    std::uniform_int_distribution<int64_t> tok(0, vocab - 1);
    for (int64_t n = 0; n < rows; ++n) {
        c.targets.push_back(tok(rng));
        int8_t role = std::strcmp(roles, "ce") == 0 ? 1 : std::strcmp(roles, "emd") == 0 ? 2 : (int8_t)(n % 3);
        c.roles.push_back(role);
        if (std::strcmp(roles, "mixed") == 0 && n % 5 == 4) c.targets[n] = -100;  // a role with no target: ignored
    }
    std::vector<double> hc(rows * hidden);
    for (int64_t n = 0; n < rows; ++n)
        for (int64_t d = 0; d < hidden; ++d) hc[n * hidden + d] = c.h.values[n * c.stride + d];
    c.want = ref::head(hc, rows, hidden, c.w.values, vocab, c.e.values, c.dim, c.targets, c.roles, -100, c.ce_scale,
                       c.emd_scale);
    return c;
}

inline tasft_head_args head_args(const HeadCase& c, float* loss, float* gh, float* gw) {
    tasft_head_args a{};
    a.hidden = c.h.bytes.data();
    a.hidden_dtype = c.h.dtype;
    a.rows = c.rows;
    a.hidden_dim = c.hidden;
    a.hidden_row_stride = c.stride;
    a.weight = c.w.bytes.data();
    a.weight_dtype = c.w.dtype;
    a.vocab = c.vocab;
    a.unit_embedding = c.e.bytes.data();
    a.embedding_dtype = c.e.dtype;
    a.dim = c.dim;
    a.targets = c.targets.data();
    a.ignore_index = -100;
    a.roles = c.roles.data();
    a.ce_grad_scale = c.ce_scale;
    a.emd_grad_scale = c.emd_scale;
    a.loss_rows = loss;
    a.grad_hidden = gh;
    a.grad_weight = gw;
    return a;
}

// ||got - want|| <= tol * max(||want||, floor), and per element within tol * (|want|inf + floor)
inline void near(const char* what, const std::vector<float>& got, const std::vector<double>& want, double tol,
          const std::string& ctx) {
    counts().checks++;
    double diff = 0, norm = 0, worst = 0, inf = 0;
    for (size_t i = 0; i < want.size(); ++i) inf = std::max(inf, std::fabs(want[i]));
    for (size_t i = 0; i < want.size(); ++i) {
        const double d = (double)got[i] - want[i];
        CHECK(std::isfinite((double)got[i]), "%s %s[%zu] is %g", ctx.c_str(), what, i, (double)got[i]);
        diff += d * d;
        norm += want[i] * want[i];
        worst = std::max(worst, std::fabs(d));
    }
    const double rel = std::sqrt(diff) / std::max(std::sqrt(norm), 1e-6);
    CHECK(rel <= tol, "%s %s: relative error %.3g > %.3g", ctx.c_str(), what, rel, tol);
    CHECK(worst <= tol * (inf + 1e-3) * 4, "%s %s: worst element error %.3g (max |want| %.3g)", ctx.c_str(), what,
          worst, inf);
}

}  // namespace tt

#endif
