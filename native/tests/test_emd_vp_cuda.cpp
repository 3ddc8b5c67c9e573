// Native tests of the vocabulary-parallel CUDA entry points (tasft_emd_vp_*_cuda): any split of the vocabulary gives
// the float64 oracle's result and the unsplit CUDA kernel's. Built whenever the CUDA kernel is; without a usable
// device every test prints SKIP and passes.
#include "test_cuda_util.h"

namespace {

using Cuts = std::vector<int64_t>;

enum class Grad { NewBuffer, InPlace };
enum class Recipe { Gather, AllReduce };  // as in test_emd_vp_cpu.cpp

struct RunOptions {
    Grad grad = Grad::NewBuffer;
    Recipe recipe = Recipe::Gather;
    float grad_scale = 1.0f;
    cudaStream_t stream = nullptr;
};

tasft_emd_vp_slice_args slice_args(const tt::Case& c, int64_t start, int64_t width, const unsigned char* logits,
                                   const unsigned char* embedding, const int64_t* targets, cudaStream_t stream) {
    tasft_emd_vp_slice_args a{};
    a.logits = logits + start * tt::dsize(c.logits.dtype);  // a column range of the full logits
    a.logits_dtype = c.logits.dtype;
    a.rows = c.spec.rows;
    a.vocab = width;
    a.logits_row_stride = c.stride;
    a.vocab_start = start;
    a.vocab_total = c.spec.vocab;
    a.unit_embedding = embedding + start * c.spec.dim * tt::dsize(c.embedding.dtype);
    a.embedding_dtype = c.embedding.dtype;
    a.dim = c.spec.dim;
    a.targets = targets;
    a.ignore_index = c.ignore_index;
    a.cuda_stream = stream;
    return a;
}

// The three steps on the device over the slices given by `cuts`; one gradient buffer for all slices.
tt::Outputs run_split_cuda(const tt::Case& c, const Cuts& cuts, const RunOptions& o = RunOptions()) {
    const int64_t N = c.spec.rows, D = c.spec.dim, W = TASFT_EMD_VP_STATS(D), K = (int64_t)cuts.size() - 1;
    DeviceBuffer logits(c.logits.bytes.data(), c.logits.bytes.size());
    DeviceBuffer emb(c.embedding.bytes.data(), c.embedding.bytes.size());
    DeviceBuffer tgt(c.targets.data(), c.targets.size() * sizeof(int64_t));
    DeviceBuffer m(K * N * sizeof(float)), stats(K * N * W * sizeof(float));
    DeviceBuffer loss(N * sizeof(float)), row_max(N * sizeof(float)), logl(N * sizeof(float)), ru(N * sizeof(float));
    DeviceBuffer resid(N * D * sizeof(float)), expected(N * D * sizeof(float));
    DeviceBuffer grad(o.grad == Grad::NewBuffer ? c.logits.bytes.size() : 0);
    for (DeviceBuffer* b : {&m, &stats, &loss, &row_max, &logl, &ru, &resid, &expected, &grad}) b->fill_nan();
    CUDA_OK(cudaDeviceSynchronize());
    const auto* L = logits.get<unsigned char>();
    const auto* E = emb.get<unsigned char>();

    for (int64_t k = 0; k < K; ++k) {
        tasft_emd_vp_slice_args a = slice_args(c, cuts[k], cuts[k + 1] - cuts[k], L, E, tgt.get<int64_t>(), o.stream);
        a.slice_max = m.get<float>() + k * N;
        a.slice_stats = stats.get<float>() + k * N * W;
        const int st = tasft_emd_vp_partial_cuda(&a);
        CHECK(st == TASFT_OK, "%s slice %lld: partial status %d: %s", c.spec.describe().c_str(), (long long)k, st,
              tasft_last_error());
    }
    tasft_emd_vp_merge_args mg{};
    mg.rows = N;
    mg.dim = D;
    mg.targets = tgt.get<int64_t>();
    mg.ignore_index = c.ignore_index;
    mg.loss_rows = loss.get<float>();
    mg.row_max = row_max.get<float>();
    mg.row_log_sumexp = logl.get<float>();
    mg.residual = resid.get<float>();
    mg.residual_dot_expected = ru.get<float>();
    mg.expected_embedding = expected.get<float>();
    mg.cuda_stream = o.stream;
    DeviceBuffer global_max(N * sizeof(float)), summed(N * W * sizeof(float));
    if (o.recipe == Recipe::Gather) {
        mg.slices = K;
        mg.slice_max = m.get<float>();
        mg.slice_stats = stats.get<float>();
    } else {
        // What the collectives would do, on the host: the max of m, then (after the rescale) the sum in slice order.
        CUDA_OK(cudaStreamSynchronize(o.stream));
        const std::vector<float> hm = m.download<float>();
        std::vector<float> M(N, -INFINITY);
        for (int64_t k = 0; k < K; ++k)
            for (int64_t n = 0; n < N; ++n) M[n] = std::max(M[n], hm[k * N + n]);
        CUDA_OK(cudaMemcpy(global_max.get(), M.data(), N * sizeof(float), cudaMemcpyHostToDevice));
        for (int64_t k = 0; k < K; ++k) {
            const int st = tasft_emd_vp_rescale_cuda(N, D, m.get<float>() + k * N, global_max.get<float>(),
                                                     stats.get<float>() + k * N * W, o.stream);
            CHECK(st == TASFT_OK, "rescale: %s", tasft_last_error());
        }
        CUDA_OK(cudaStreamSynchronize(o.stream));
        const std::vector<float> hs = stats.download<float>();
        std::vector<float> sum(N * W, 0.0f);
        for (int64_t k = 0; k < K; ++k)
            for (int64_t i = 0; i < N * W; ++i) sum[i] += hs[k * N * W + i];
        CUDA_OK(cudaMemcpy(summed.get(), sum.data(), N * W * sizeof(float), cudaMemcpyHostToDevice));
        mg.slices = 1;
        mg.slice_max = global_max.get<float>();
        mg.slice_stats = summed.get<float>();
    }
    int st = tasft_emd_vp_merge_cuda(&mg);
    CHECK(st == TASFT_OK, "%s: merge status %d: %s", c.spec.describe().c_str(), st, tasft_last_error());

    for (int64_t k = 0; k < K; ++k) {
        tasft_emd_vp_slice_args a = slice_args(c, cuts[k], cuts[k + 1] - cuts[k], L, E, tgt.get<int64_t>(), o.stream);
        a.row_max = row_max.get<float>();
        a.row_log_sumexp = logl.get<float>();
        a.residual = resid.get<float>();
        a.residual_dot_expected = ru.get<float>();
        a.grad_scale = o.grad_scale;
        unsigned char* g = o.grad == Grad::InPlace ? logits.get<unsigned char>() : grad.get<unsigned char>();
        a.grad_logits = g + cuts[k] * tt::dsize(c.logits.dtype);
        st = tasft_emd_vp_backward_cuda(&a);
        CHECK(st == TASFT_OK, "%s slice %lld: backward status %d: %s", c.spec.describe().c_str(), (long long)k, st,
              tasft_last_error());
    }
    CUDA_OK(cudaStreamSynchronize(o.stream));
    CUDA_OK(cudaGetLastError());

    tt::Outputs out;
    out.loss = loss.download<float>();
    out.expected = expected.download<float>();
    // New buffer: it started as NaN (0xFF bytes), so padding columns must still be NaN for compare().
    out.grad = o.grad == Grad::NewBuffer ? grad.download<unsigned char>() : logits.download<unsigned char>();
    return out;
}

// The unsplit CUDA kernel's result in the oracle's place: split and unsplit within the oracle's tolerance.
tt::Case with_expected_from(const tt::Case& c, const tt::Outputs& whole) {
    tt::Case u = c;
    const auto& s = c.spec;
    for (int64_t n = 0; n < s.rows; ++n) u.expected.loss[n] = whole.loss[n];
    for (int64_t i = 0; i < s.rows * s.dim; ++i) u.expected.expected[i] = whole.expected[i];
    for (int64_t n = 0; n < s.rows; ++n)
        for (int64_t v = 0; v < s.vocab; ++v)
            u.expected.grad[n * s.vocab + v] = tt::read_value(whole.grad.data(), s.logits_dtype, n * c.stride + v);
    return u;
}

tt::Outputs run_unsplit_cuda(const tt::Case& c) {
    DeviceBuffer logits(c.logits.bytes.data(), c.logits.bytes.size());
    DeviceBuffer emb(c.embedding.bytes.data(), c.embedding.bytes.size());
    DeviceBuffer tgt(c.targets.data(), c.targets.size() * sizeof(int64_t));
    DeviceBuffer loss(c.spec.rows * sizeof(float)), expected(c.spec.rows * c.spec.dim * sizeof(float));
    DeviceBuffer grad(c.logits.bytes.size());
    grad.fill_nan();
    tasft_emd_args a = tt::shape_args(c);
    a.logits = logits.get();
    a.unit_embedding = emb.get();
    a.targets = tgt.get<int64_t>();
    a.loss_rows = loss.get<float>();
    a.expected_embedding = expected.get<float>();
    a.grad_logits = grad.get();
    CHECK(tasft_emd_cuda(&a) == TASFT_OK, "unsplit: %s", tasft_last_error());
    CUDA_OK(cudaDeviceSynchronize());
    tt::Outputs out;
    out.loss = loss.download<float>();
    out.expected = expected.download<float>();
    out.grad = grad.download<unsigned char>();
    return out;
}

Cuts equal_cuts(int64_t vocab, int64_t k) {
    Cuts c;
    for (int64_t i = 0; i <= k; ++i) c.push_back(vocab * i / k);
    return c;
}

void check_splits(const tt::Case& c, const std::vector<Cuts>& splits, RunOptions o = RunOptions()) {
    const tt::Case vs_unsplit = with_expected_from(c, run_unsplit_cuda(c));
    for (const Cuts& cuts : splits)
        for (Grad g : {Grad::NewBuffer, Grad::InPlace}) {
            o.grad = g;
            const tt::Outputs split = run_split_cuda(c, cuts, o);
            tt::compare(c, split, true, true);
            tt::compare(vs_unsplit, split, true, true);
        }
}

}  // namespace

TEST_CASE("splits") {
    require_cuda();
    Stream stream;
    const int64_t shapes[][3] = {{1, 2, 1}, {5, 31, 17}, {13, 1000, 33}, {37, 4099, 64}, {7, 32003, 24}, {3, 301, 300}};
    uint64_t seed = 500;
    for (auto& sh : shapes) {
        tt::CaseSpec s;
        s.rows = sh[0];
        s.vocab = sh[1];
        s.dim = sh[2];
        s.ignore_fraction = 0.15;
        s.seed = ++seed;
        RunOptions o;
        o.stream = seed % 2 ? stream.get() : nullptr;
        std::vector<Cuts> splits = {{0, s.vocab}, equal_cuts(s.vocab, 2)};
        if (s.vocab >= 3) splits.push_back({0, 1, s.vocab / 3 + 1, s.vocab});  // at V = 2 its middle slice is empty
        check_splits(tt::make_case(s), splits, o);
    }
}

TEST_CASE("width_one_and_masked_slices") {
    require_cuda();
    tt::CaseSpec s;
    s.rows = 9;
    s.vocab = 45;
    s.dim = 7;
    s.ignore_fraction = 0.2;
    s.neg_inf_fraction = 0.5;
    s.pad = 3;
    s.seed = 600;
    check_splits(tt::make_case(s), {equal_cuts(s.vocab, s.vocab), equal_cuts(s.vocab, 4)});
    for (double scale : {1e2, 1e4}) {
        s.rows = 17;
        s.vocab = 1001;
        s.dim = 24;
        s.logit_scale = scale;
        s.neg_inf_fraction = 0.0;
        s.pad = 0;
        s.seed = 610 + (uint64_t)scale;
        check_splits(tt::make_case(s), {equal_cuts(s.vocab, 3)});
    }
}

TEST_CASE("low_precision") {
    require_cuda();
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
            s.seed = 700 + ld * 3 + ed;
            tt::Case c = tt::make_case(s);
            for (Grad g : {Grad::NewBuffer, Grad::InPlace}) {
                RunOptions o;
                o.grad = g;
                tt::compare(c, run_split_cuda(c, {0, 400, 1003}, o), true, true);
            }
        }
}

TEST_CASE("all_reduce_recipe_and_scale") {
    require_cuda();
    tt::CaseSpec s;
    s.rows = 31;
    s.vocab = 2049;
    s.dim = 48;
    s.ignore_fraction = 0.25;
    s.neg_inf_fraction = 0.2;
    s.logit_scale = 30;
    s.seed = 800;
    tt::Case c = tt::make_case(s);
    RunOptions o;
    o.recipe = Recipe::AllReduce;
    check_splits(c, {{0, s.vocab}, equal_cuts(s.vocab, 4), equal_cuts(s.vocab, 683)}, o);
    // grad_scale multiplies the gradient only
    o.recipe = Recipe::Gather;
    o.grad_scale = -0.5f;
    const tt::Outputs scaled = run_split_cuda(c, equal_cuts(s.vocab, 3), o);
    tt::Case half = c;
    for (double& g : half.expected.grad) g *= -0.5;
    tt::compare(half, scaled, true, true);
}

TEST_CASE("target_in_no_slice_is_nan") {
    require_cuda();
    tt::CaseSpec s;
    s.rows = 6;
    s.vocab = 100;
    s.dim = 8;
    s.seed = 900;
    tt::Case c = tt::make_case(s);
    c.targets = {3, 60, -100, 99, 150, 10};  // 150 is outside the vocabulary: in no slice
    c.expected = ref::emd(c.logits.values, s.rows, s.vocab, c.stride, c.embedding.values, s.dim,
                          std::vector<int64_t>{3, 60, -100, 99, 0, 10}, -100);
    const tt::Outputs o = run_split_cuda(c, {0, 50, 100});
    for (int64_t n = 0; n < s.rows; ++n) {
        if (n == 4) {
            CHECK(std::isnan(o.loss[n]), "row 4: loss %g, want NaN", o.loss[n]);
            for (int64_t v = 0; v < s.vocab; ++v)
                CHECK(std::isnan(tt::read_value(o.grad.data(), c.logits.dtype, n * c.stride + v)), "row 4: grad[%lld]",
                      (long long)v);
            continue;
        }
        CHECK(std::fabs(o.loss[n] - c.expected.loss[n]) <= 2e-5 * c.expected.loss[n] + 1e-6, "row %lld: loss %g vs %g",
              (long long)n, o.loss[n], c.expected.loss[n]);
    }
}

TEST_CASE("bad_arguments") {
    require_cuda();
    tt::CaseSpec s;
    s.rows = 3;
    s.vocab = 10;
    s.dim = 4;
    s.seed = 950;
    tt::Case c = tt::make_case(s);
    DeviceBuffer logits(c.logits.bytes.data(), c.logits.bytes.size());
    DeviceBuffer emb(c.embedding.bytes.data(), c.embedding.bytes.size());
    DeviceBuffer tgt(c.targets.data(), c.targets.size() * sizeof(int64_t));
    DeviceBuffer m(3 * sizeof(float)), st(3 * TASFT_EMD_VP_STATS(4) * sizeof(float));
    tasft_emd_vp_slice_args ok = slice_args(c, 0, 6, logits.get<unsigned char>(), emb.get<unsigned char>(),
                                            tgt.get<int64_t>(), nullptr);
    ok.slice_max = m.get<float>();
    ok.slice_stats = st.get<float>();
    CHECK(tasft_emd_vp_partial_cuda(&ok) == TASFT_OK, "valid partial: %s", tasft_last_error());
    CUDA_OK(cudaDeviceSynchronize());
    auto expect = [&](int code, const char* needle) {
        CHECK(code == TASFT_INVALID_ARGUMENT, "expected INVALID_ARGUMENT for '%s', got %d", needle, code);
        CHECK(std::strstr(tasft_last_error(), needle) != nullptr, "message '%s' does not name '%s'", tasft_last_error(),
              needle);
    };
    tasft_emd_vp_slice_args a = ok;
    a.vocab_start = 5; expect(tasft_emd_vp_partial_cuda(&a), "vocab_total");
    a = ok; a.slice_stats = nullptr; expect(tasft_emd_vp_partial_cuda(&a), "slice_stats");
    a = ok; a.grad_logits = nullptr; expect(tasft_emd_vp_backward_cuda(&a), "row_max");
    tasft_emd_vp_merge_args mg{};
    mg.slices = 0;
    mg.rows = 3;
    mg.dim = 4;
    expect(tasft_emd_vp_merge_cuda(&mg), "slices");
    expect(tasft_emd_vp_rescale_cuda(3, 4, nullptr, nullptr, nullptr, nullptr), "slice_max");
}

int main(int argc, char** argv) { return tt::run_main(argc, argv); }
