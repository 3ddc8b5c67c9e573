// Native tests of the vocabulary-parallel CPU entry points (tasft_emd_vp_*_cpu): any split of the vocabulary into
// slices must give the unsplit kernel's result (tight tolerance) and the float64 oracle's (the usual tolerance).
#include <cstdlib>
#include "test_util.h"

namespace {

enum class Grad { NewBuffer, InPlace };
enum class Recipe {
    Gather,     // all slices' statistics stacked, one merge (the all_gather recipe, and the host-side merge)
    AllReduce,  // max of m, rescale, sum of the statistics in slice order, merge of one (the all_reduce recipe)
};
enum class Layout {
    View,     // each slice is a column range of the full logits (row stride = the full row) and of ehat
    Compact,  // each slice is copied into its own [rows, width] logits and [width, dim] embedding, as on a rank
};

struct RunSpec {
    Grad grad = Grad::NewBuffer;
    Recipe recipe = Recipe::Gather;
    Layout layout = Layout::View;
    float grad_scale = 1.0f;
};

// Slice boundaries 0 = b_0 < b_1 < ... < b_K = vocab.
using Cuts = std::vector<int64_t>;

tt::Outputs run_unsplit(const tt::Case& c, float grad_scale = 1.0f) {
    tt::Outputs out;
    out.loss.assign(c.spec.rows, -1.0f);
    out.expected.assign(c.spec.rows * c.spec.dim, -1.0f);
    out.grad = c.logits.bytes;  // NaN padding sentinels stay where the kernel must not write
    tasft_emd_args a = tt::shape_args(c);
    a.logits = c.logits.bytes.data();
    a.unit_embedding = c.embedding.bytes.data();
    a.targets = c.targets.data();
    a.loss_rows = out.loss.data();
    a.expected_embedding = out.expected.data();
    a.grad_logits = out.grad.data();
    a.grad_scale = grad_scale;
    const int st = tasft_emd_cpu(&a);
    CHECK(st == TASFT_OK, "unsplit: status %d: %s", st, tasft_last_error());
    return out;
}

// One slice's own buffers (Layout::Compact) or views into the case's buffers (Layout::View).
struct SliceData {
    int64_t start, width, stride;
    std::vector<unsigned char> logits, embedding;  // Compact only
    const unsigned char* logits_ptr;
    const unsigned char* embedding_ptr;
};

SliceData slice_of(const tt::Case& c, int64_t start, int64_t width, Layout layout, const unsigned char* logits_base) {
    const size_t ls = tt::dsize(c.logits.dtype), es = tt::dsize(c.embedding.dtype);
    const int64_t N = c.spec.rows, D = c.spec.dim;
    SliceData s{start, width, c.stride, {}, {}, nullptr, nullptr};
    if (layout == Layout::View) {
        s.logits_ptr = logits_base + start * ls;
        s.embedding_ptr = c.embedding.bytes.data() + start * D * es;
        return s;
    }
    s.stride = width;
    s.logits.resize(N * width * ls);
    for (int64_t n = 0; n < N; ++n)
        std::memcpy(&s.logits[n * width * ls], logits_base + (n * c.stride + start) * ls, width * ls);
    s.embedding.assign(c.embedding.bytes.begin() + start * D * es, c.embedding.bytes.begin() + (start + width) * D * es);
    s.logits_ptr = s.logits.data();
    s.embedding_ptr = s.embedding.data();
    return s;
}

tasft_emd_vp_slice_args slice_args(const tt::Case& c, const SliceData& s) {
    tasft_emd_vp_slice_args a{};
    a.logits = s.logits_ptr;
    a.logits_dtype = c.logits.dtype;
    a.rows = c.spec.rows;
    a.vocab = s.width;
    a.logits_row_stride = s.stride;
    a.vocab_start = s.start;
    a.vocab_total = c.spec.vocab;
    a.unit_embedding = s.embedding_ptr;
    a.embedding_dtype = c.embedding.dtype;
    a.dim = c.spec.dim;
    a.targets = c.targets.data();
    a.ignore_index = c.ignore_index;
    return a;
}

struct Merged {
    std::vector<float> loss, row_max, log_sumexp, residual, ru, expected;
    explicit Merged(int64_t N = 0, int64_t D = 0)
        : loss(N, -1.f), row_max(N, -1.f), log_sumexp(N, -1.f), residual(N * D, -1.f), ru(N, -1.f),
          expected(N * D, -1.f) {}
};

tasft_emd_vp_merge_args merge_args(const tt::Case& c, int64_t slices, const float* m, const float* stats, Merged& out) {
    tasft_emd_vp_merge_args a{};
    a.slices = slices;
    a.rows = c.spec.rows;
    a.dim = c.spec.dim;
    a.slice_max = m;
    a.slice_stats = stats;
    a.targets = c.targets.data();
    a.ignore_index = c.ignore_index;
    a.loss_rows = out.loss.data();
    a.row_max = out.row_max.data();
    a.row_log_sumexp = out.log_sumexp.data();
    a.residual = out.residual.data();
    a.residual_dot_expected = out.ru.data();
    a.expected_embedding = out.expected.data();
    return a;
}

// The three steps over the slices given by `cuts`; the gradient is assembled into one [rows, stride] buffer.
tt::Outputs run_split(const tt::Case& c, const Cuts& cuts, const RunSpec& r = RunSpec()) {
    const int64_t N = c.spec.rows, D = c.spec.dim, W = TASFT_EMD_VP_STATS(D), K = (int64_t)cuts.size() - 1;
    const size_t ls = tt::dsize(c.logits.dtype);
    std::vector<unsigned char> logits = c.logits.bytes;  // in place: the slices' gradients land here
    std::vector<SliceData> slices;
    for (int64_t k = 0; k < K; ++k) slices.push_back(slice_of(c, cuts[k], cuts[k + 1] - cuts[k], r.layout, logits.data()));

    // 1. partial statistics, stacked [K, N] and [K, N, W] (NaN first: everything must be written)
    std::vector<float> m(K * N, NAN), stats(K * N * W, NAN);
    for (int64_t k = 0; k < K; ++k) {
        tasft_emd_vp_slice_args a = slice_args(c, slices[k]);
        a.slice_max = &m[k * N];
        a.slice_stats = &stats[k * N * W];
        const int st = tasft_emd_vp_partial_cpu(&a);
        CHECK(st == TASFT_OK, "%s slice %lld: partial status %d: %s", c.spec.describe().c_str(), (long long)k, st,
              tasft_last_error());
    }
    for (int64_t i = 0; i < K * N; ++i) CHECK(!std::isnan(m[i]), "slice_max[%lld] not written", (long long)i);
    for (int64_t i = 0; i < K * N * W; ++i) CHECK(!std::isnan(stats[i]), "slice_stats[%lld] not written", (long long)i);

    // 2. the merge
    Merged merged(N, D);
    int st;
    if (r.recipe == Recipe::Gather) {
        tasft_emd_vp_merge_args a = merge_args(c, K, m.data(), stats.data(), merged);
        st = tasft_emd_vp_merge_cpu(&a);
    } else {
        std::vector<float> M(N, -INFINITY), sum(N * W, 0.0f);
        for (int64_t k = 0; k < K; ++k)
            for (int64_t n = 0; n < N; ++n) M[n] = std::max(M[n], m[k * N + n]);
        for (int64_t k = 0; k < K; ++k) {
            st = tasft_emd_vp_rescale_cpu(N, D, &m[k * N], M.data(), &stats[k * N * W]);
            CHECK(st == TASFT_OK, "rescale: %s", tasft_last_error());
            for (int64_t i = 0; i < N * W; ++i) sum[i] += stats[k * N * W + i];
        }
        tasft_emd_vp_merge_args a = merge_args(c, 1, M.data(), sum.data(), merged);
        st = tasft_emd_vp_merge_cpu(&a);
    }
    CHECK(st == TASFT_OK, "%s: merge status %d: %s", c.spec.describe().c_str(), st, tasft_last_error());

    // 3. each slice's backward
    tt::Outputs out;
    out.loss = merged.loss;
    out.expected = merged.expected;
    out.grad = c.logits.bytes;  // NewBuffer: NaN padding sentinels must survive
    for (int64_t k = 0; k < K; ++k) {
        tasft_emd_vp_slice_args a = slice_args(c, slices[k]);
        a.row_max = merged.row_max.data();
        a.row_log_sumexp = merged.log_sumexp.data();
        a.residual = merged.residual.data();
        a.residual_dot_expected = merged.ru.data();
        a.grad_scale = r.grad_scale;
        std::vector<unsigned char> own_grad;
        if (r.grad == Grad::InPlace) {
            a.grad_logits = const_cast<unsigned char*>(slices[k].logits_ptr);
        } else if (r.layout == Layout::View) {
            a.grad_logits = out.grad.data() + slices[k].start * ls;
        } else {
            own_grad.assign(slices[k].logits.size(), 0xFF);
            a.grad_logits = own_grad.data();
        }
        st = tasft_emd_vp_backward_cpu(&a);
        CHECK(st == TASFT_OK, "%s slice %lld: backward status %d: %s", c.spec.describe().c_str(), (long long)k, st,
              tasft_last_error());
        if (r.layout == Layout::Compact) {  // gather the slice's gradient into the full buffer
            const unsigned char* g = r.grad == Grad::InPlace ? slices[k].logits.data() : own_grad.data();
            for (int64_t n = 0; n < N; ++n)
                std::memcpy(&out.grad[(n * c.stride + slices[k].start) * ls], g + n * slices[k].width * ls,
                            slices[k].width * ls);
        }
    }
    if (r.grad == Grad::InPlace && r.layout == Layout::View) out.grad = logits;
    return out;
}

// Split against unsplit: the same fp32 math summed in another order (u: float sums per slice and a double merge here,
// one float sum over the whole vocabulary there), so they differ by a few fp32 accumulation errors. Held to a
// quarter of the tolerance against the oracle: loss and expected embedding 5e-6 relative (oracle: 2e-5), gradient
// 5e-6 relative plus half the cancellation term of r.e_v - r.u (where both round r); 16-bit gradients to one unit
// in the last place of the dtype. VP_REPORT=1 prints the largest deviation seen, as a fraction of its tolerance.
double g_worst = 0;
void compare_unsplit(const tt::Case& c, const tt::Outputs& split, const tt::Outputs& whole, const char* what) {
    const auto& s = c.spec;
    const double rel = 5e-6;
    const double grad_rel = s.logits_dtype == TASFT_FLOAT32 ? rel : s.logits_dtype == TASFT_FLOAT16 ? 1e-3 : 8e-3;
    auto within = [&](double x, double y, double tol) {
        if (tol > 0) g_worst = std::max(g_worst, std::fabs(x - y) / tol);
        return std::fabs(x - y) <= tol;
    };
    for (int64_t n = 0; n < s.rows; ++n) {
        const double a = split.loss[n], b = whole.loss[n];
        CHECK(within(a, b, rel * std::fabs(b) + 1e-7), "%s %s: loss[%lld] split %.9g, unsplit %.9g",
              s.describe().c_str(), what, (long long)n, a, b);
        for (int64_t d = 0; d < s.dim; ++d) {
            const double x = split.expected[n * s.dim + d], y = whole.expected[n * s.dim + d];
            CHECK(within(x, y, rel * std::fabs(y) + 5e-7), "%s %s: expected[%lld,%lld] split %.9g, unsplit %.9g",
                  s.describe().c_str(), what, (long long)n, (long long)d, x, y);
        }
        const double cancel = 2.0 * c.expected.rnorm[n] * std::sqrt((double)s.dim) * 5e-7;
        for (int64_t v = 0; v < c.stride; ++v) {
            const double x = tt::read_value(split.grad.data(), s.logits_dtype, n * c.stride + v);
            const double y = tt::read_value(whole.grad.data(), s.logits_dtype, n * c.stride + v);
            if (v >= s.vocab) {
                CHECK(std::isnan(x), "%s %s: padding column grad[%lld,%lld] was written", s.describe().c_str(), what,
                      (long long)n, (long long)v);
                continue;
            }
            const double p = c.expected.prob[n * s.vocab + v];
            const double floor_abs = s.logits_dtype == TASFT_FLOAT16 ? 6e-8 : 1e-30;
            CHECK(within(x, y, grad_rel * std::fabs(y) + cancel * p + floor_abs),
                  "%s %s: grad[%lld,%lld] split %.9g, unsplit %.9g (p %.3g)", s.describe().c_str(), what, (long long)n,
                  (long long)v, x, y, p);
        }
    }
}

// Runs fn once per instruction set this CPU has (generic, AVX2, the widest).
template <class F>
void for_each_isa(F fn) {
    const char* isas[] = {"generic", "avx2", nullptr};
    for (const char* isa : isas) {
        if (isa) setenv("TASFT_CPU_ISA", isa, 1);
        else unsetenv("TASFT_CPU_ISA");
        fn();
    }
    unsetenv("TASFT_CPU_ISA");
}

std::string describe(const Cuts& cuts) {
    std::string s = "cuts";
    for (size_t i = 0; i < cuts.size() && i < 12; ++i) s += " " + std::to_string(cuts[i]);
    if (cuts.size() > 12) s += " ... (" + std::to_string(cuts.size() - 1) + " slices)";
    return s;
}

Cuts equal_cuts(int64_t vocab, int64_t k) {
    Cuts c;
    for (int64_t i = 0; i <= k; ++i) c.push_back(vocab * i / k);
    return c;
}

Cuts random_cuts(int64_t vocab, int64_t k, uint64_t seed) {  // k distinct slices of random widths
    std::mt19937_64 rng(seed);
    std::vector<int64_t> inner;
    for (int64_t v = 1; v < vocab; ++v) inner.push_back(v);
    std::shuffle(inner.begin(), inner.end(), rng);
    inner.resize((size_t)std::min<int64_t>(k - 1, vocab - 1));
    std::sort(inner.begin(), inner.end());
    Cuts c{0};
    c.insert(c.end(), inner.begin(), inner.end());
    c.push_back(vocab);
    return c;
}

// Every split in `splits` against the unsplit kernel and the oracle, with the gradient written both ways.
void check_splits(const tt::Case& c, const std::vector<Cuts>& splits, RunSpec r = RunSpec()) {
    for_each_isa([&] {
        const tt::Outputs whole = run_unsplit(c, r.grad_scale);
        for (const Cuts& cuts : splits) {
            for (Grad g : {Grad::NewBuffer, Grad::InPlace}) {
                r.grad = g;
                const tt::Outputs split = run_split(c, cuts, r);
                const std::string what = describe(cuts) + (g == Grad::InPlace ? " in place" : "");
                compare_unsplit(c, split, whole, what.c_str());
                if (r.grad_scale == 1.0f) tt::compare(c, split, true, true);
            }
        }
    });
}

std::vector<Cuts> standard_splits(int64_t vocab, uint64_t seed) {
    std::vector<Cuts> s = {{0, vocab}};
    if (vocab >= 2) s.push_back(equal_cuts(vocab, 2));
    if (vocab >= 3) s.push_back(random_cuts(vocab, 3, seed));
    if (vocab >= 7) s.push_back(random_cuts(vocab, 7, seed + 1));
    return s;
}

}  // namespace

TEST_CASE("one_slice") {
    tt::CaseSpec s;
    s.rows = 29;
    s.vocab = 1001;
    s.dim = 40;
    s.ignore_fraction = 0.2;
    s.seed = 1;
    tt::Case c = tt::make_case(s);
    check_splits(c, {{0, s.vocab}});
    // One slice is the unsplit kernel's own loops: the loss and the gradient agree to the last bit but for the
    // order of the final sums (u = S / L in double here, U * (1 / l) in float there).
    tt::Outputs whole = run_unsplit(c), split = run_split(c, {0, s.vocab});
    for (int64_t n = 0; n < s.rows; ++n)
        CHECK(std::fabs(split.loss[n] - whole.loss[n]) <= 1e-6 * whole.loss[n] + 1e-9, "loss[%lld]", (long long)n);
}

TEST_CASE("equal_slices") {
    for (int64_t k : {2, 4, 8}) {
        tt::CaseSpec s;
        s.rows = 23;
        s.vocab = 4096;
        s.dim = 64;
        s.ignore_fraction = 0.1;
        s.seed = 10 + k;
        check_splits(tt::make_case(s), {equal_cuts(s.vocab, k)});
    }
}

TEST_CASE("uneven_slices") {
    const int64_t shapes[][3] = {{1, 2, 1}, {5, 31, 17}, {13, 1000, 33}, {37, 4099, 64}, {7, 32003, 24}, {97, 257, 100}};
    uint64_t seed = 20;
    for (auto& sh : shapes) {
        tt::CaseSpec s;
        s.rows = sh[0];
        s.vocab = sh[1];
        s.dim = sh[2];
        s.ignore_fraction = 0.15;
        s.seed = ++seed;
        tt::Case c = tt::make_case(s);
        std::vector<Cuts> splits = standard_splits(s.vocab, seed);
        if (s.vocab > 300) splits.push_back({0, 1, s.vocab - 1, s.vocab});  // slices of width 1 at both ends
        check_splits(c, splits);
    }
}

TEST_CASE("width_one_slices") {
    for (int64_t dim : {1, 7, 32}) {
        tt::CaseSpec s;
        s.rows = 9;
        s.vocab = 45;
        s.dim = dim;
        s.ignore_fraction = 0.2;
        s.neg_inf_fraction = 0.3;  // most width-1 slices of a row are then all -inf
        s.seed = 30 + dim;
        check_splits(tt::make_case(s), {equal_cuts(s.vocab, s.vocab)});
    }
}

TEST_CASE("slice_without_target") {
    tt::CaseSpec s;
    s.rows = 16;
    s.vocab = 600;
    s.dim = 12;
    s.seed = 40;
    tt::Case c = tt::make_case(s);
    for (int64_t n = 0; n < s.rows; ++n) c.targets[n] = (n * 37) % 200;  // all in the first third
    c.expected = ref::emd(c.logits.values, s.rows, s.vocab, c.stride, c.embedding.values, s.dim, c.targets, -100);
    check_splits(c, {{0, 200, 600}, {0, 200, 400, 600}, {0, 100, 200, 201, 600}});
    // The partial statistics of a slice without the target: t = 0 and a zero target row.
    const int64_t W = TASFT_EMD_VP_STATS(s.dim);
    std::vector<float> m(s.rows), st(s.rows * W, NAN);
    SliceData sd = slice_of(c, 200, 400, Layout::View, c.logits.bytes.data());
    tasft_emd_vp_slice_args a = slice_args(c, sd);
    a.slice_max = m.data();
    a.slice_stats = st.data();
    CHECK(tasft_emd_vp_partial_cpu(&a) == TASFT_OK, "%s", tasft_last_error());
    for (int64_t n = 0; n < s.rows; ++n) {
        CHECK(st[n * W + 1] == 0.0f, "row %lld: t = %g", (long long)n, st[n * W + 1]);
        for (int64_t d = 0; d < s.dim; ++d) CHECK(st[n * W + 2 + s.dim + d] == 0.0f, "row %lld: e[%lld]", (long long)n, (long long)d);
        CHECK(st[n * W] >= 1.0f, "row %lld: l = %g (the max term alone is 1)", (long long)n, st[n * W]);
    }
}

// The partial statistics themselves against float64: m, l, s, t, e of every slice.
TEST_CASE("partial_statistics") {
    tt::CaseSpec s;
    s.rows = 11;
    s.vocab = 300;
    s.dim = 9;
    s.ignore_fraction = 0.2;
    s.neg_inf_fraction = 0.5;
    s.logit_scale = 20;
    s.seed = 45;
    tt::Case c = tt::make_case(s);
    const int64_t W = TASFT_EMD_VP_STATS(s.dim);
    const Cuts cuts = {0, 3, 150, 299, 300};
    for (size_t k = 0; k + 1 < cuts.size(); ++k) {
        const int64_t v0 = cuts[k], v1 = cuts[k + 1];
        std::vector<float> m(s.rows), st(s.rows * W);
        SliceData sd = slice_of(c, v0, v1 - v0, Layout::Compact, c.logits.bytes.data());
        tasft_emd_vp_slice_args a = slice_args(c, sd);
        a.slice_max = m.data();
        a.slice_stats = st.data();
        CHECK(tasft_emd_vp_partial_cpu(&a) == TASFT_OK, "%s", tasft_last_error());
        for (int64_t n = 0; n < s.rows; ++n) {
            const float* row = &st[n * W];
            const int64_t y = c.targets[n];
            if (y == c.ignore_index) {
                CHECK(m[n] == 0.0f, "ignored row %lld: m = %g", (long long)n, m[n]);
                for (int64_t i = 0; i < W; ++i) CHECK(row[i] == 0.0f, "ignored row %lld: stats[%lld]", (long long)n, (long long)i);
                continue;
            }
            double wm = -INFINITY;
            for (int64_t v = v0; v < v1; ++v) wm = std::max(wm, c.logits.values[n * c.stride + v]);
            CHECK(m[n] == (float)wm, "row %lld slice %zu: m = %.9g, want %.9g", (long long)n, k, m[n], wm);
            double wl = 0;
            std::vector<double> ws(s.dim, 0.0);
            if (wm != -INFINITY)
                for (int64_t v = v0; v < v1; ++v) {
                    const double p = std::exp(c.logits.values[n * c.stride + v] - wm);
                    wl += p;
                    for (int64_t d = 0; d < s.dim; ++d) ws[d] += p * c.embedding.values[v * s.dim + d];
                }
            CHECK(std::fabs(row[0] - wl) <= 2e-6 * wl, "row %lld slice %zu: l = %.9g, want %.9g", (long long)n, k, row[0], wl);
            const bool inside = y >= v0 && y < v1;
            CHECK(row[1] == (inside ? 1.0f : 0.0f), "row %lld slice %zu: t = %g", (long long)n, k, row[1]);
            for (int64_t d = 0; d < s.dim; ++d) {
                CHECK(std::fabs(row[2 + d] - ws[d]) <= 2e-6 * (wl + 1e-30), "row %lld slice %zu: s[%lld] = %.9g, want %.9g",
                      (long long)n, k, (long long)d, row[2 + d], ws[d]);
                const double we = inside ? c.embedding.values[y * s.dim + d] : 0.0;
                CHECK(row[2 + s.dim + d] == (float)we, "row %lld slice %zu: e[%lld]", (long long)n, k, (long long)d);
            }
        }
    }
}

TEST_CASE("all_rows_ignored") {
    tt::CaseSpec s;
    s.rows = 20;
    s.vocab = 333;
    s.dim = 12;
    s.ignore_fraction = 1.0;
    s.seed = 50;
    tt::Case c = tt::make_case(s);
    check_splits(c, standard_splits(s.vocab, 51));
    tt::Outputs o = run_split(c, {0, 100, 333});
    for (int64_t n = 0; n < s.rows; ++n) CHECK(o.loss[n] == 0.0f, "loss[%lld] = %g", (long long)n, o.loss[n]);
    // a custom ignore index, on some rows only
    for (int64_t n = 0; n < s.rows; ++n) c.targets[n] = n % 3 == 0 ? 5 : n;
    c.ignore_index = 5;
    c.expected = ref::emd(c.logits.values, s.rows, s.vocab, c.stride, c.embedding.values, s.dim, c.targets, 5);
    check_splits(c, {{0, 4, 6, 333}});
}

TEST_CASE("extreme_logits") {
    for (double scale : {1e2, 1e3, 1e4}) {
        tt::CaseSpec s;
        s.rows = 17;
        s.vocab = 1001;
        s.dim = 24;
        s.logit_scale = scale;
        s.seed = 60 + (uint64_t)scale;
        check_splits(tt::make_case(s), standard_splits(s.vocab, s.seed));
    }
    for (double frac : {0.3, 0.99}) {
        tt::CaseSpec s;
        s.rows = 23;
        s.vocab = 700;
        s.dim = 10;
        s.neg_inf_fraction = frac;
        s.pad = 2;
        s.ignore_fraction = 0.1;
        s.seed = 70 + (uint64_t)(frac * 100);
        check_splits(tt::make_case(s), standard_splits(s.vocab, s.seed));
    }
    // Whole slices of -inf: the finite logits of each row sit in [1500 + n, 1510 + n].
    tt::CaseSpec s;
    s.rows = 4;
    s.vocab = 2000;
    s.dim = 8;
    s.seed = 80;
    tt::Case c = tt::make_case(s);
    std::vector<float> z(c.logits.values.begin(), c.logits.values.end());
    for (int64_t n = 0; n < s.rows; ++n) {
        for (int64_t v = 0; v < s.vocab; ++v)
            if (v < 1500 + n || v > 1510 + n) z[n * c.stride + v] = -INFINITY;
        c.targets[n] = n == 0 ? 3 : 1500 + 2 * n;  // a target with probability 0 too
    }
    c.logits.store(z, TASFT_FLOAT32);
    c.expected = ref::emd(c.logits.values, s.rows, s.vocab, c.stride, c.embedding.values, s.dim, c.targets, -100);
    check_splits(c, {{0, 1000, 2000}, {0, 1500, 1505, 2000}, equal_cuts(s.vocab, 16)});
}

TEST_CASE("odd_dims") {
    uint64_t seed = 90;
    for (int64_t dim : {1, 2, 3, 15, 17, 33, 130, 1000}) {
        tt::CaseSpec s;
        s.rows = 9;
        s.vocab = dim > 200 ? 301 : 777;
        s.dim = dim;
        s.ignore_fraction = 0.1;
        s.seed = ++seed;
        check_splits(tt::make_case(s), {equal_cuts(s.vocab, 2), random_cuts(s.vocab, 5, seed)});
    }
}

TEST_CASE("padded_compact_and_scaled") {
    tt::CaseSpec s;
    s.rows = 11;
    s.vocab = 517;
    s.dim = 20;
    s.pad = 3;
    s.ignore_fraction = 0.2;
    s.seed = 100;
    tt::Case c = tt::make_case(s);
    RunSpec r;
    r.layout = Layout::Compact;
    check_splits(c, standard_splits(s.vocab, 101), r);
    r.layout = Layout::View;
    r.grad_scale = -0.37f;  // the gradient is grad_scale times that of the loss, as in tasft_emd_cpu
    check_splits(c, standard_splits(s.vocab, 102), r);
}

TEST_CASE("low_precision") {
    for (int ld : {TASFT_FLOAT32, TASFT_BFLOAT16, TASFT_FLOAT16})
        for (int ed : {TASFT_FLOAT32, TASFT_BFLOAT16, TASFT_FLOAT16}) {
            tt::CaseSpec s;
            s.rows = 19;
            s.vocab = 1003;
            s.dim = 36;
            s.pad = 5;
            s.logits_dtype = ld;
            s.embedding_dtype = ed;
            s.ignore_fraction = 0.1;
            s.neg_inf_fraction = 0.05;
            s.seed = 110 + ld * 3 + ed;
            RunSpec r;
            r.layout = ld == ed ? Layout::Compact : Layout::View;
            check_splits(tt::make_case(s), {equal_cuts(s.vocab, 2), random_cuts(s.vocab, 4, s.seed)}, r);
        }
}

TEST_CASE("all_reduce_recipe") {
    tt::CaseSpec s;
    s.rows = 31;
    s.vocab = 2049;
    s.dim = 48;
    s.ignore_fraction = 0.25;
    s.neg_inf_fraction = 0.2;
    s.logit_scale = 30;
    s.seed = 120;
    tt::Case c = tt::make_case(s);
    RunSpec r;
    r.recipe = Recipe::AllReduce;
    check_splits(c, {{0, s.vocab}, equal_cuts(s.vocab, 4), random_cuts(s.vocab, 6, 121), equal_cuts(s.vocab, 683)}, r);
    // Deterministic: the same split twice gives the same bits, whatever the thread count.
    const Cuts cuts = random_cuts(s.vocab, 5, 122);
    tt::Outputs a = run_split(c, cuts);
    for (int t : {1, 2, 3}) {
        tasft_cpu_set_num_threads(t);
        tt::Outputs b = run_split(c, cuts);
        CHECK(a.loss == b.loss && a.grad == b.grad && a.expected == b.expected, "%d threads: another result", t);
    }
    tasft_cpu_set_num_threads(0);
}

TEST_CASE("bad_arguments") {
    tt::CaseSpec s;
    s.rows = 3;
    s.vocab = 10;
    s.dim = 4;
    s.seed = 130;
    tt::Case c = tt::make_case(s);
    const int64_t W = TASFT_EMD_VP_STATS(s.dim);
    std::vector<float> m(2 * 3), st(2 * 3 * W), one(3), resid(3 * 4), grad(3 * 10);
    SliceData lo = slice_of(c, 0, 6, Layout::View, c.logits.bytes.data());
    SliceData hi = slice_of(c, 6, 4, Layout::View, c.logits.bytes.data());
    tasft_emd_vp_slice_args ok = slice_args(c, lo);
    ok.slice_max = m.data();
    ok.slice_stats = st.data();
    ok.row_max = one.data();
    ok.row_log_sumexp = one.data();
    ok.residual = resid.data();
    ok.residual_dot_expected = one.data();
    ok.grad_logits = grad.data();
    CHECK(tasft_emd_vp_partial_cpu(&ok) == TASFT_OK, "valid partial failed: %s", tasft_last_error());
    CHECK(tasft_emd_vp_backward_cpu(&ok) == TASFT_OK, "valid backward failed: %s", tasft_last_error());

    auto expect = [&](int st_code, const char* needle) {
        CHECK(st_code == TASFT_INVALID_ARGUMENT, "expected INVALID_ARGUMENT for '%s', got %d", needle, st_code);
        CHECK(std::strstr(tasft_last_error(), needle) != nullptr, "message '%s' does not name '%s'", tasft_last_error(),
              needle);
    };
    auto both = [&](tasft_emd_vp_slice_args a, const char* needle) {
        expect(tasft_emd_vp_partial_cpu(&a), needle);
        expect(tasft_emd_vp_backward_cpu(&a), needle);
    };
    CHECK(tasft_emd_vp_partial_cpu(nullptr) == TASFT_INVALID_ARGUMENT, "NULL args");
    tasft_emd_vp_slice_args a = ok;
    a.logits = nullptr; both(a, "logits");
    a = ok; a.unit_embedding = nullptr; both(a, "unit_embedding");
    a = ok; a.targets = nullptr; both(a, "targets");
    a = ok; a.vocab = 0; both(a, "vocab");
    a = ok; a.dim = 0; both(a, "dim");
    a = ok; a.logits_row_stride = 5; both(a, "logits_row_stride");
    a = ok; a.logits_dtype = 9; both(a, "logits_dtype");
    a = ok; a.vocab_start = -1; both(a, "vocab_start");
    a = ok; a.vocab_start = 5; both(a, "is not inside [0, vocab_total)");
    a = ok; a.vocab_total = 5; both(a, "is not inside [0, vocab_total)");
    a = ok; a.slice_max = nullptr; expect(tasft_emd_vp_partial_cpu(&a), "slice_max");
    a = ok; a.slice_stats = nullptr; expect(tasft_emd_vp_partial_cpu(&a), "slice_stats");
    a = ok; a.row_max = nullptr; expect(tasft_emd_vp_backward_cpu(&a), "row_max");
    a = ok; a.row_log_sumexp = nullptr; expect(tasft_emd_vp_backward_cpu(&a), "row_log_sumexp");
    a = ok; a.residual = nullptr; expect(tasft_emd_vp_backward_cpu(&a), "residual");
    a = ok; a.residual_dot_expected = nullptr; expect(tasft_emd_vp_backward_cpu(&a), "residual_dot_expected");
    a = ok; a.grad_logits = nullptr; expect(tasft_emd_vp_backward_cpu(&a), "grad_logits");
    std::vector<int64_t> bad = c.targets;
    bad[1] = 10;  // global ids: 10 is outside the vocabulary of 10 although the slice ends at 6
    a = ok; a.targets = bad.data(); both(a, "targets[1] = 10");
    bad[1] = -2;
    both(a, "targets[1] = -2");

    // The merge: slices that miss a target or hold it twice.
    tasft_emd_vp_slice_args b = slice_args(c, hi);
    b.slice_max = m.data() + 3;
    b.slice_stats = st.data() + 3 * W;
    CHECK(tasft_emd_vp_partial_cpu(&b) == TASFT_OK, "%s", tasft_last_error());
    Merged out(3, 4);
    tasft_emd_vp_merge_args mg = merge_args(c, 2, m.data(), st.data(), out);
    CHECK(tasft_emd_vp_merge_cpu(&mg) == TASFT_OK, "valid merge failed: %s", tasft_last_error());
    int64_t missing = -1;  // a row whose target is in the high slice
    for (int64_t n = 0; n < 3; ++n)
        if (c.targets[n] >= 6) missing = n;
    if (missing < 0) {
        c.targets[0] = 8;
        missing = 0;
        CHECK(tasft_emd_vp_partial_cpu(&b) == TASFT_OK, "%s", tasft_last_error());
        tasft_emd_vp_slice_args again = ok;
        CHECK(tasft_emd_vp_partial_cpu(&again) == TASFT_OK, "%s", tasft_last_error());
    }
    Merged untouched(3, 4);
    tasft_emd_vp_merge_args only_low = merge_args(c, 1, m.data(), st.data(), untouched);
    char needle[64];
    std::snprintf(needle, sizeof needle, "targets[%lld] = %lld lies in 0 of the 1 slices", (long long)missing,
                  (long long)c.targets[missing]);
    expect(tasft_emd_vp_merge_cpu(&only_low), needle);
    CHECK(untouched.loss == std::vector<float>(3, -1.f), "a rejected merge wrote loss_rows");
    std::vector<float> m2 = {m[3], m[4], m[5], m[3], m[4], m[5]};
    std::vector<float> st2(st.begin() + 3 * W, st.end());
    st2.insert(st2.end(), st.begin() + 3 * W, st.end());
    tasft_emd_vp_merge_args twice = merge_args(c, 2, m2.data(), st2.data(), untouched);
    std::snprintf(needle, sizeof needle, "targets[%lld] = %lld lies in 2 of the 2 slices", (long long)missing,
                  (long long)c.targets[missing]);
    expect(tasft_emd_vp_merge_cpu(&twice), needle);
    tasft_emd_vp_merge_args mb = mg;
    mb.slices = 0; expect(tasft_emd_vp_merge_cpu(&mb), "slices");
    mb = mg; mb.dim = 0; expect(tasft_emd_vp_merge_cpu(&mb), "dim");
    mb = mg; mb.rows = -1; expect(tasft_emd_vp_merge_cpu(&mb), "rows");
    mb = mg; mb.residual = nullptr; expect(tasft_emd_vp_merge_cpu(&mb), "residual");
    mb = mg; mb.slice_stats = nullptr; expect(tasft_emd_vp_merge_cpu(&mb), "slice_stats");
    mb = mg; mb.expected_embedding = nullptr;
    CHECK(tasft_emd_vp_merge_cpu(&mb) == TASFT_OK && tasft_last_error()[0] == '\0', "expected_embedding is optional");
    std::vector<int64_t> neg = c.targets;
    neg[2] = -7;
    mb = mg; mb.targets = neg.data(); expect(tasft_emd_vp_merge_cpu(&mb), "targets[2] = -7");
    expect(tasft_emd_vp_rescale_cpu(3, 4, nullptr, one.data(), st.data()), "slice_max");
    expect(tasft_emd_vp_rescale_cpu(3, 0, m.data(), one.data(), st.data()), "dim");
    CHECK(tasft_emd_vp_rescale_cpu(0, 4, nullptr, nullptr, nullptr) == TASFT_OK, "rows = 0 with NULL buffers");
    // rows = 0 with NULL buffers everywhere else too
    tasft_emd_vp_slice_args empty = ok;
    empty.rows = 0;
    empty.logits = nullptr;
    empty.targets = nullptr;
    empty.slice_max = nullptr;
    empty.grad_logits = nullptr;
    CHECK(tasft_emd_vp_partial_cpu(&empty) == TASFT_OK && tasft_emd_vp_backward_cpu(&empty) == TASFT_OK, "rows = 0: %s",
          tasft_last_error());
    // Without a GPU the CUDA forms answer with an error and a message, not a crash.
    if (!tasft_cuda_available()) {
        CHECK(tasft_emd_vp_partial_cuda(&ok) != TASFT_OK && tasft_last_error()[0] != '\0', "cuda partial");
        CHECK(tasft_emd_vp_merge_cuda(&mg) != TASFT_OK && tasft_last_error()[0] != '\0', "cuda merge");
        CHECK(tasft_emd_vp_backward_cuda(&ok) != TASFT_OK && tasft_last_error()[0] != '\0', "cuda backward");
        CHECK(tasft_emd_vp_rescale_cuda(3, 4, m.data(), one.data(), st.data(), nullptr) != TASFT_OK, "cuda rescale");
    }
}

int main(int argc, char** argv) {
    const int rc = tt::run_main(argc, argv);
    if (std::getenv("VP_REPORT")) std::printf("largest split-vs-unsplit deviation: %.3f of the tolerance\n", g_worst);
    return rc;
}
