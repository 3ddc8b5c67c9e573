// Native tests of the vocabulary-parallel CUDA entry points (tasft_emd_vp_*_cuda): any split of the vocabulary gives
// the float64 oracle's result and the unsplit CUDA kernel's (v1); the cases and the runner are shared with the other
// backends (test_cases.h). Built whenever the CUDA kernel is; without a usable device every test prints SKIP and passes.
#include "test_cuda_util.h"

namespace {

using tt::Cuts;
using tt::equal_cuts;

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

// The three steps on the device over the slices of v.cuts (none: one slice); one gradient buffer for all slices.
// o.all_reduce: the all_reduce recipe (max, rescale, sum on the host as the collectives would, merge of one), else
// all slices' statistics stacked into one merge.
tt::Outputs run_split_cuda(const tt::Case& c, const tt::Variant& v, const tt::RunOptions& o) {
    CHECK(o.grad != tt::Grad::None && !o.skip() && !o.targets && !o.async && !o.compact,
          "the vocabulary-parallel CUDA form has no such mode");
    const Cuts cuts = v.cuts.empty() ? Cuts{0, c.spec.vocab} : v.cuts;
    cudaStream_t stream = static_cast<cudaStream_t>(o.stream);
    const int64_t N = c.spec.rows, D = c.spec.dim, W = TASFT_EMD_VP_STATS(D), K = (int64_t)cuts.size() - 1;
    DeviceBuffer logits(c.logits.bytes.data(), c.logits.bytes.size());
    DeviceBuffer emb(c.embedding.bytes.data(), c.embedding.bytes.size());
    DeviceBuffer tgt(c.targets.data(), c.targets.size() * sizeof(int64_t));
    DeviceBuffer m(K * N * sizeof(float)), stats(K * N * W * sizeof(float));
    DeviceBuffer loss(N * sizeof(float)), row_max(N * sizeof(float)), logl(N * sizeof(float)), ru(N * sizeof(float));
    DeviceBuffer resid(N * D * sizeof(float)), expected(N * D * sizeof(float));
    DeviceBuffer grad(o.grad == tt::Grad::NewBuffer ? c.logits.bytes.size() : 0);
    for (DeviceBuffer* b : {&m, &stats, &loss, &row_max, &logl, &ru, &resid, &expected, &grad}) b->fill_nan();
    CUDA_OK(cudaDeviceSynchronize());
    const auto* L = logits.get<unsigned char>();
    const auto* E = emb.get<unsigned char>();

    for (int64_t k = 0; k < K; ++k) {
        tasft_emd_vp_slice_args a = slice_args(c, cuts[k], cuts[k + 1] - cuts[k], L, E, tgt.get<int64_t>(), stream);
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
    mg.cuda_stream = stream;
    DeviceBuffer global_max(N * sizeof(float)), summed(N * W * sizeof(float));
    if (!o.all_reduce) {
        mg.slices = K;
        mg.slice_max = m.get<float>();
        mg.slice_stats = stats.get<float>();
    } else {
        // What the collectives would do, on the host: the max of m, then (after the rescale) the sum in slice order.
        CUDA_OK(cudaStreamSynchronize(stream));
        const std::vector<float> hm = m.download<float>();
        std::vector<float> M(N, -INFINITY);
        for (int64_t k = 0; k < K; ++k)
            for (int64_t n = 0; n < N; ++n) M[n] = std::max(M[n], hm[k * N + n]);
        CUDA_OK(cudaMemcpy(global_max.get(), M.data(), N * sizeof(float), cudaMemcpyHostToDevice));
        for (int64_t k = 0; k < K; ++k) {
            const int st = tasft_emd_vp_rescale_cuda(N, D, m.get<float>() + k * N, global_max.get<float>(),
                                                     stats.get<float>() + k * N * W, stream);
            CHECK(st == TASFT_OK, "rescale: %s", tasft_last_error());
        }
        CUDA_OK(cudaStreamSynchronize(stream));
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
        tasft_emd_vp_slice_args a = slice_args(c, cuts[k], cuts[k + 1] - cuts[k], L, E, tgt.get<int64_t>(), stream);
        a.row_max = row_max.get<float>();
        a.row_log_sumexp = logl.get<float>();
        a.residual = resid.get<float>();
        a.residual_dot_expected = ru.get<float>();
        a.grad_scale = o.grad_scale;
        unsigned char* g = o.grad == tt::Grad::InPlace ? logits.get<unsigned char>() : grad.get<unsigned char>();
        a.grad_logits = g + cuts[k] * tt::dsize(c.logits.dtype);
        st = tasft_emd_vp_backward_cuda(&a);
        CHECK(st == TASFT_OK, "%s slice %lld: backward status %d: %s", c.spec.describe().c_str(), (long long)k, st,
              tasft_last_error());
    }
    CUDA_OK(cudaStreamSynchronize(stream));
    CUDA_OK(cudaGetLastError());

    tt::Outputs out;
    out.loss = loss.download<float>();
    out.expected = expected.download<float>();
    // New buffer: it started as NaN (0xFF bytes), so padding columns must still be NaN for compare().
    out.grad = o.grad == tt::Grad::NewBuffer ? grad.download<unsigned char>() : logits.download<unsigned char>();
    return out;
}

// The unsplit kernel is v1, named explicitly; split and unsplit are held to the oracle's tolerance.
const tt::Backend vp_cuda{"vp_cuda", [] { return std::vector<tt::Variant>{tt::Variant()}; }, run_split_cuda,
                          [](const tt::Case& c, const tt::Variant&, const tt::RunOptions& o) {
                              return run_cuda(c, cuda_kernel(TASFT_CUDA_KERNEL_V1), o);
                          },
                          tt::Tolerance()};

}  // namespace

TEST_CASE("splits") {
    require_cuda();
    Stream stream;
    for (const tt::CaseSpec& s : tt::cases::shapes({{1, 2, 1}, {5, 31, 17}, {13, 1000, 33}, {37, 4099, 64},
                                                    {7, 32003, 24}, {3, 301, 300}},
                                                   tt::CaseSpec().with_ignore(0.15), 500)) {
        tt::RunOptions o;
        o.stream = s.seed % 2 ? stream.get() : nullptr;
        std::vector<Cuts> splits = {{0, s.vocab}, equal_cuts(s.vocab, 2)};
        if (s.vocab >= 3) splits.push_back({0, 1, s.vocab / 3 + 1, s.vocab});  // at V = 2 its middle slice is empty
        tt::check_splits(vp_cuda, tt::make_case(s), splits, o);
    }
}

TEST_CASE("width_one_and_masked_slices") {
    require_cuda();
    tt::check_splits(vp_cuda, tt::make_case(tt::spec(9, 45, 7).with_pad(3).with_ignore(0.2).with_neg_inf(0.5).with_seed(600)),
                     {equal_cuts(45, 45), equal_cuts(45, 4)});
    for (double scale : {1e2, 1e4})
        tt::check_splits(vp_cuda,
                         tt::make_case(tt::spec(17, 1001, 24).with_scale(scale).with_ignore(0.2)
                                           .with_seed(610 + (uint64_t)scale)),
                         {equal_cuts(1001, 3)});
}

TEST_CASE("low_precision") {
    require_cuda();
    for (const tt::CaseSpec& s : tt::cases::dtypes(700))
        tt::check_splits(vp_cuda, tt::make_case(s), {{0, 400, 1003}}, tt::RunOptions(), false);
}

TEST_CASE("all_reduce_recipe_and_scale") {
    require_cuda();
    const tt::Case c = tt::make_case(
        tt::spec(31, 2049, 48).with_ignore(0.25).with_neg_inf(0.2).with_scale(30).with_seed(800));
    tt::RunOptions o;
    o.all_reduce = true;
    tt::check_splits(vp_cuda, c, {{0, 2049}, equal_cuts(2049, 4), equal_cuts(2049, 683)}, o);
    // grad_scale multiplies the gradient only
    tt::Check k;
    k.splits = {equal_cuts(2049, 3)};
    k.grads = {tt::Grad::NewBuffer};
    k.base.grad_scale = -0.5f;
    k.vs_unsplit = false;
    tt::check_case(vp_cuda, c, k);
}

TEST_CASE("target_in_no_slice_is_nan") {
    require_cuda();
    tt::Case c = tt::make_case(tt::spec(6, 100, 8).with_seed(900));
    c.targets = {3, 60, -100, 99, 0, 10};
    tt::refresh_expected(c);  // row 4's expectation is not used
    c.targets[4] = 150;        // outside the vocabulary: in no slice
    const tt::Outputs o = run_split_cuda(c, tt::split_variant({0, 50, 100}), tt::RunOptions());
    for (int64_t n = 0; n < c.spec.rows; ++n) {
        if (n == 4) {
            CHECK(std::isnan(o.loss[n]), "row 4: loss %g, want NaN", o.loss[n]);
            for (int64_t v = 0; v < c.spec.vocab; ++v)
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
    const tt::Case c = tt::make_case(tt::spec(3, 10, 4).with_seed(950));
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
