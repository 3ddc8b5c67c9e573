// Native tests of the vocabulary-parallel CPU entry points (tasft_emd_vp_*_cpu): any split of the vocabulary into
// slices, on every instruction set, must give the unsplit kernel's result (tight tolerance) and the float64 oracle's
// (the usual tolerance). The cases and the runner are shared with the other backends (test_cases.h).
#include <cstdlib>
#include "test_cases.h"

namespace {

using tt::Cuts;
using tt::equal_cuts;

// One slice's own buffers (compact: copied into its own [rows, width] logits and [width, dim] embedding, as on a
// rank) or views into the case's buffers (a column range of the full logits, row stride = the full row, and of ehat).
struct SliceData {
    int64_t start, width, stride;
    std::vector<unsigned char> logits, embedding;  // Compact only
    const unsigned char* logits_ptr;
    const unsigned char* embedding_ptr;
};

SliceData slice_of(const tt::Case& c, int64_t start, int64_t width, bool compact, const unsigned char* logits_base) {
    const size_t ls = tt::dsize(c.logits.dtype), es = tt::dsize(c.embedding.dtype);
    const int64_t N = c.spec.rows, D = c.spec.dim;
    SliceData s{start, width, c.stride, {}, {}, nullptr, nullptr};
    if (!compact) {
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

// The three steps over the slices of v.cuts (none: one slice) on v's instruction set; the gradient is assembled into
// one [rows, stride] buffer. r.all_reduce: max of m, rescale, sum of the statistics in slice order, merge of one (the
// all_reduce recipe); else all slices' statistics stacked, one merge (the all_gather recipe).
tt::Outputs run_split(const tt::Case& c, const tt::Variant& v, const tt::RunOptions& r) {
    CHECK(r.grad != tt::Grad::None && !r.skip() && !r.targets, "the vocabulary-parallel form has no such mode");
    const Cuts cuts = v.cuts.empty() ? Cuts{0, c.spec.vocab} : v.cuts;
    const int64_t N = c.spec.rows, D = c.spec.dim, W = TASFT_EMD_VP_STATS(D), K = (int64_t)cuts.size() - 1;
    const size_t ls = tt::dsize(c.logits.dtype);
    const tasft_emd_variant* kernel = v.is_default() ? nullptr : &v.kernel;  // NULL: the entry points without one
    auto partial = [&](tasft_emd_vp_slice_args* a) {
        return kernel ? tasft_emd_vp_partial_cpu_variant(a, kernel) : tasft_emd_vp_partial_cpu(a);
    };
    auto backward = [&](tasft_emd_vp_slice_args* a) {
        return kernel ? tasft_emd_vp_backward_cpu_variant(a, kernel) : tasft_emd_vp_backward_cpu(a);
    };
    std::vector<unsigned char> logits = c.logits.bytes;  // in place: the slices' gradients land here
    std::vector<SliceData> slices;
    for (int64_t k = 0; k < K; ++k) slices.push_back(slice_of(c, cuts[k], cuts[k + 1] - cuts[k], r.compact, logits.data()));

    // 1. partial statistics, stacked [K, N] and [K, N, W] (NaN first: everything must be written)
    std::vector<float> m(K * N, NAN), stats(K * N * W, NAN);
    for (int64_t k = 0; k < K; ++k) {
        tasft_emd_vp_slice_args a = slice_args(c, slices[k]);
        a.slice_max = &m[k * N];
        a.slice_stats = &stats[k * N * W];
        const int st = partial(&a);
        CHECK(st == TASFT_OK, "%s slice %lld: partial status %d: %s", c.spec.describe().c_str(), (long long)k, st,
              tasft_last_error());
    }
    for (int64_t i = 0; i < K * N; ++i) CHECK(!std::isnan(m[i]), "slice_max[%lld] not written", (long long)i);
    for (int64_t i = 0; i < K * N * W; ++i) CHECK(!std::isnan(stats[i]), "slice_stats[%lld] not written", (long long)i);

    // 2. the merge
    Merged merged(N, D);
    int st;
    if (!r.all_reduce) {
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
    out.grad = c.logits.bytes;  // new buffer: NaN padding sentinels must survive
    for (int64_t k = 0; k < K; ++k) {
        tasft_emd_vp_slice_args a = slice_args(c, slices[k]);
        a.row_max = merged.row_max.data();
        a.row_log_sumexp = merged.log_sumexp.data();
        a.residual = merged.residual.data();
        a.residual_dot_expected = merged.ru.data();
        a.grad_scale = r.grad_scale;
        std::vector<unsigned char> own_grad;
        if (r.grad == tt::Grad::InPlace) {
            a.grad_logits = const_cast<unsigned char*>(slices[k].logits_ptr);
        } else if (!r.compact) {
            a.grad_logits = out.grad.data() + slices[k].start * ls;
        } else {
            own_grad.assign(slices[k].logits.size(), 0xFF);
            a.grad_logits = own_grad.data();
        }
        st = backward(&a);
        CHECK(st == TASFT_OK, "%s slice %lld: backward status %d: %s", c.spec.describe().c_str(), (long long)k, st,
              tasft_last_error());
        if (r.compact) {  // gather the slice's gradient into the full buffer
            const unsigned char* g = r.grad == tt::Grad::InPlace ? slices[k].logits.data() : own_grad.data();
            for (int64_t n = 0; n < N; ++n)
                std::memcpy(&out.grad[(n * c.stride + slices[k].start) * ls], g + n * slices[k].width * ls,
                            slices[k].width * ls);
        }
    }
    if (r.grad == tt::Grad::InPlace && !r.compact) out.grad = logits;
    return out;
}

// Split against unsplit (Tolerance::same_math). VP_REPORT=1 prints the largest deviation seen, as a fraction of its
// tolerance.
double g_worst = 0;

const tt::Backend& vp_cpu() {
    static const tt::Backend b = [] {
        tt::Tolerance close = tt::Tolerance::same_math();
        close.worst = &g_worst;
        return tt::Backend{"vp_cpu", tt::cpu_variants, run_split, tt::run_cpu, close};
    }();
    return b;
}

// Every split in `splits`, on every instruction set, with the gradient written both ways, against the unsplit
// kernel and the oracle.
void check_splits(const tt::Case& c, const std::vector<Cuts>& splits, const tt::RunOptions& base = tt::RunOptions()) {
    tt::check_splits(vp_cpu(), c, splits, base);
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

std::vector<Cuts> standard_splits(int64_t vocab, uint64_t seed) {
    std::vector<Cuts> s = {{0, vocab}};
    if (vocab >= 2) s.push_back(equal_cuts(vocab, 2));
    if (vocab >= 3) s.push_back(random_cuts(vocab, 3, seed));
    if (vocab >= 7) s.push_back(random_cuts(vocab, 7, seed + 1));
    return s;
}

}  // namespace

TEST_CASE("one_slice") {
    const tt::Case c = tt::make_case(tt::spec(29, 1001, 40).with_ignore(0.2).with_seed(1));
    check_splits(c, {{0, c.spec.vocab}});
    // One slice is the unsplit kernel's own loops: the loss and the gradient agree to the last bit but for the
    // order of the final sums (u = S / L in double here, U * (1 / l) in float there).
    const tt::Outputs whole = tt::run_cpu(c, tt::Variant(), tt::RunOptions());
    const tt::Outputs one = run_split(c, tt::split_variant({0, c.spec.vocab}), tt::RunOptions());
    for (int64_t n = 0; n < c.spec.rows; ++n)
        CHECK(std::fabs(one.loss[n] - whole.loss[n]) <= 1e-6 * whole.loss[n] + 1e-9, "loss[%lld]", (long long)n);
}

TEST_CASE("equal_slices") {
    for (int64_t k : {2, 4, 8})
        check_splits(tt::make_case(tt::spec(23, 4096, 64).with_ignore(0.1).with_seed(10 + k)), {equal_cuts(4096, k)});
}

TEST_CASE("uneven_slices") {
    for (const tt::CaseSpec& s : tt::cases::shapes({{1, 2, 1}, {5, 31, 17}, {13, 1000, 33}, {37, 4099, 64},
                                                    {7, 32003, 24}, {97, 257, 100}},
                                                   tt::CaseSpec().with_ignore(0.15), 20)) {
        std::vector<Cuts> splits = standard_splits(s.vocab, s.seed);
        if (s.vocab > 300) splits.push_back({0, 1, s.vocab - 1, s.vocab});  // slices of width 1 at both ends
        check_splits(tt::make_case(s), splits);
    }
}

TEST_CASE("width_one_slices") {
    for (int64_t dim : {1, 7, 32})  // most width-1 slices of a row are all -inf
        check_splits(tt::make_case(tt::spec(9, 45, dim).with_ignore(0.2).with_neg_inf(0.3).with_seed(30 + dim)),
                     {equal_cuts(45, 45)});
}

TEST_CASE("slice_without_target") {
    const tt::CaseSpec s = tt::spec(16, 600, 12).with_seed(40);
    tt::Case c = tt::make_case(s);
    for (int64_t n = 0; n < s.rows; ++n) c.targets[n] = (n * 37) % 200;  // all in the first third
    tt::refresh_expected(c);
    check_splits(c, {{0, 200, 600}, {0, 200, 400, 600}, {0, 100, 200, 201, 600}});
    // The partial statistics of a slice without the target: t = 0 and a zero target row.
    const int64_t W = TASFT_EMD_VP_STATS(s.dim);
    std::vector<float> m(s.rows), st(s.rows * W, NAN);
    SliceData sd = slice_of(c, 200, 400, false, c.logits.bytes.data());
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
    const tt::CaseSpec s = tt::spec(11, 300, 9).with_ignore(0.2).with_neg_inf(0.5).with_scale(20).with_seed(45);
    const tt::Case c = tt::make_case(s);
    const int64_t W = TASFT_EMD_VP_STATS(s.dim);
    const Cuts cuts = {0, 3, 150, 299, 300};
    for (size_t k = 0; k + 1 < cuts.size(); ++k) {
        const int64_t v0 = cuts[k], v1 = cuts[k + 1];
        std::vector<float> m(s.rows), st(s.rows * W);
        SliceData sd = slice_of(c, v0, v1 - v0, true, c.logits.bytes.data());
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
    tt::Case c = tt::make_case(tt::cases::all_ignored(50));
    tt::check_all_ignored(vp_cpu(), c);  // one slice
    check_splits(c, standard_splits(c.spec.vocab, 51));
    const tt::Outputs o = run_split(c, tt::split_variant({0, 100, 333}), tt::RunOptions());
    for (int64_t n = 0; n < c.spec.rows; ++n) CHECK(o.loss[n] == 0.0f, "loss[%lld] = %g", (long long)n, o.loss[n]);
    // a custom ignore index, on some rows only
    for (int64_t n = 0; n < c.spec.rows; ++n) c.targets[n] = n % 3 == 0 ? 5 : n;
    c.ignore_index = 5;
    tt::refresh_expected(c);
    check_splits(c, {{0, 4, 6, 333}});
}

TEST_CASE("extreme_logits") {
    for (const tt::CaseSpec& s : tt::cases::large_scales({TASFT_FLOAT32}, 60))
        check_splits(tt::make_case(s), standard_splits(s.vocab, s.seed));
    for (const tt::CaseSpec& s : tt::cases::masked()) check_splits(tt::make_case(s), standard_splits(s.vocab, s.seed));
    // Whole slices of -inf around the finite window of each row.
    tt::Case c = tt::cases::masked_window(TASFT_FLOAT32, 80);
    for (int64_t n = 0; n < c.spec.rows; ++n) c.targets[n] = n == 0 ? 3 : 1500 + 2 * n;  // a target with probability 0 too
    tt::refresh_expected(c);
    check_splits(c, {{0, 1000, 2000}, {0, 1500, 1505, 2000}, equal_cuts(c.spec.vocab, 16)});
}

TEST_CASE("odd_dims") {
    for (const tt::CaseSpec& s : tt::cases::dims({1, 2, 3, 15, 17, 33, 130, 1000}, 9, 0.1, 90))
        check_splits(tt::make_case(s), {equal_cuts(s.vocab, 2), random_cuts(s.vocab, 5, s.seed)});
}

TEST_CASE("padded_compact_and_scaled") {
    const tt::Case c = tt::make_case(tt::spec(11, 517, 20).with_pad(3).with_ignore(0.2).with_seed(100));
    tt::RunOptions r;
    r.compact = true;
    check_splits(c, standard_splits(c.spec.vocab, 101), r);
    r.compact = false;
    r.grad_scale = -0.37f;  // the gradient is grad_scale times that of the loss, as in tasft_emd_cpu
    check_splits(c, standard_splits(c.spec.vocab, 102), r);
}

TEST_CASE("low_precision") {
    for (const tt::CaseSpec& s : tt::cases::dtypes()) {
        tt::RunOptions r;
        r.compact = s.logits_dtype == s.embedding_dtype;
        check_splits(tt::make_case(s), {equal_cuts(s.vocab, 2), random_cuts(s.vocab, 4, s.seed)}, r);
    }
}

TEST_CASE("all_reduce_recipe") {
    const tt::Case c = tt::make_case(
        tt::spec(31, 2049, 48).with_ignore(0.25).with_neg_inf(0.2).with_scale(30).with_seed(120));
    tt::RunOptions r;
    r.all_reduce = true;
    check_splits(c, {{0, 2049}, equal_cuts(2049, 4), random_cuts(2049, 6, 121), equal_cuts(2049, 683)}, r);
    // Deterministic: the same split twice gives the same bits, whatever the thread count.
    const tt::Variant cuts = tt::split_variant(random_cuts(2049, 5, 122));
    const tt::Outputs a = run_split(c, cuts, tt::RunOptions());
    for (int t : {1, 2, 3}) {
        tasft_cpu_set_num_threads(t);
        const tt::Outputs b = run_split(c, cuts, tt::RunOptions());
        CHECK(a.loss == b.loss && a.grad == b.grad && a.expected == b.expected, "%d threads: another result", t);
    }
    tasft_cpu_set_num_threads(0);
}

TEST_CASE("bad_arguments") {
    const tt::CaseSpec s = tt::spec(3, 10, 4).with_seed(130);
    tt::Case c = tt::make_case(s);
    const int64_t W = TASFT_EMD_VP_STATS(s.dim);
    std::vector<float> m(2 * 3), st(2 * 3 * W), one(3), resid(3 * 4), grad(3 * 10);
    SliceData lo = slice_of(c, 0, 6, false, c.logits.bytes.data());
    SliceData hi = slice_of(c, 6, 4, false, c.logits.bytes.data());
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
