// Native tests of tasft_emd_cuda* (kernel versions v1, v2 and v3, each named explicitly, and the AUTO choice) against
// the float64 reference, the PyTorch-made golden cases and tasft_emd_cpu; the cases and the runner are shared with the
// other backends (test_cases.h). Built whenever the CUDA kernel is; without a usable device every test prints SKIP and passes.
#include "bf16_gemm_tolerance.h"
#include "v3_emulation.h"
#include "test_cuda_util.h"

namespace {

const tt::Backend v1 = cuda_backend(TASFT_CUDA_KERNEL_V1);

tt::Check checks(std::vector<tt::Grad> grads, cudaStream_t stream = nullptr) {
    tt::Check k;
    k.grads = std::move(grads);
    k.base.stream = stream;
    return k;
}
const std::vector<tt::Grad> kNew = {tt::Grad::NewBuffer}, kBoth = {tt::Grad::NewBuffer, tt::Grad::InPlace};

// A small valid call on device buffers, for the argument checks.
struct DeviceCase {
    tt::Case c = tt::make_case(tt::spec(3, 10, 4));
    DeviceBuffer logits{c.logits.bytes.data(), c.logits.bytes.size()};
    DeviceBuffer emb{c.embedding.bytes.data(), c.embedding.bytes.size()};
    DeviceBuffer tgt{c.targets.data(), c.targets.size() * sizeof(int64_t)};
    DeviceBuffer loss{3 * sizeof(float)};
    tasft_emd_args args() const {
        tasft_emd_args a = tt::shape_args(c);
        a.logits = logits.get();
        a.unit_embedding = emb.get();
        a.targets = tgt.get<int64_t>();
        a.loss_rows = loss.get<float>();
        return a;
    }
};

// v2 and v3 round p_v (v != y) and r to bf16 before their GEMMs: bf16_gemm_tolerance.h derives what that may cost.
const tt::ExtraTol& kV2Tol = tt::bf16_gemm_tol();

void compare_v2(const tt::Case& c, const tt::Outputs& out, bool check_grad, bool check_expected) {
    tt::compare_bf16_gemm(c, out, check_grad, check_expected, "v2/v3");
}

}  // namespace

TEST_CASE("golden") {
    require_cuda();
    tt::Check k = checks(kBoth);
    k.tol = tt::Tolerance::oracle(1e-5);
    for (const tt::Case& c : tt::cases::golden(TASFT_FIXTURES "/emd/cases.safetensors")) tt::check_case(v1, c, k);
}

TEST_CASE("random_shapes") {
    require_cuda();
    Stream stream;
    // Single rows over vocabularies that are not multiples of any block or warp size.
    tt::check_cases(v1, tt::cases::shapes({{1, 1, 24}, {1, 7, 24}, {1, 1000, 24}, {1, 4099, 24}, {1, 32003, 24}},
                                          tt::CaseSpec(), 10),
                    checks(kBoth, stream.get()));
    // Dimensions below, at and above the block size, up to 4096.
    tt::check_cases(v1, tt::cases::dims({1, 2, 3, 31, 32, 33, 255, 256, 257, 1000, 4096}, 3, 0.2, 15), checks(kNew));
    // Mixed shapes, some rows ignored.
    tt::check_cases(v1,
                    tt::cases::shapes({{2, 7, 3}, {13, 1000, 33}, {37, 4099, 64}, {50, 513, 16}, {7, 32003, 24}},
                                      tt::CaseSpec().with_ignore(0.15), 26),
                    checks(kNew, stream.get()));
    // More rows than resident blocks: the grid-stride loop reuses each block's workspace row.
    tt::check_case(v1, tt::make_case(tt::spec(5000, 37, 9).with_ignore(0.1).with_seed(32)), checks(kNew));
    // Forward only: no gradient, no expected embedding.
    tt::Check forward = checks({tt::Grad::None});
    forward.base.expected = false;
    tt::check_case(v1, tt::make_case(tt::spec(21, 999, 20).with_pad(1).with_seed(33)), forward);
}

TEST_CASE("low_precision") {
    require_cuda();
    tt::check_cases(v1, tt::cases::dtypes());
    for (tt::CaseSpec s : tt::cases::dtypes()) {  // a wide embedding as well, where one thread owns several dimensions
        s.rows = 4;
        s.dim = 300;
        s.pad = 0;
        s.seed += 50;
        tt::check_case(v1, tt::make_case(s), checks(kNew));
    }
}

TEST_CASE("in_place") {
    require_cuda();
    for (int ld : {TASFT_FLOAT32, TASFT_BFLOAT16, TASFT_FLOAT16}) tt::check_in_place(v1, tt::make_case(tt::cases::in_place(ld)));
}

TEST_CASE("padded_stride") {
    require_cuda();
    tt::check_cases(v1, tt::cases::padded({1, 3, 64, 1000}, {TASFT_FLOAT32, TASFT_BFLOAT16}));
}

TEST_CASE("extreme_logits") {
    require_cuda();
    tt::check_cases(v1, tt::cases::large_scales({TASFT_FLOAT32, TASFT_FLOAT16}));
    tt::check_cases(v1, tt::cases::masked());
    for (int ld : {TASFT_FLOAT32, TASFT_BFLOAT16}) tt::check_case(v1, tt::cases::masked_window(ld), checks(kNew));
}

TEST_CASE("all_rows_ignored") {
    require_cuda();
    const tt::Case c = tt::make_case(tt::cases::all_ignored());
    tt::check_all_ignored(v1, c);
    // An ignore_index that is also a valid token id, with and without the host-side target check.
    tt::Check in_place = checks({tt::Grad::InPlace});
    tt::check_case(v1, tt::cases::ignore_index_5(c), in_place);
    in_place.base.async = true;
    tt::check_case(v1, tt::cases::ignore_index_5(c), in_place);
}

TEST_CASE("bad_arguments") {
    require_cuda();
    DeviceCase dc;
    const tasft_emd_args ok = dc.args();
    CHECK(tasft_emd_cuda(&ok) == TASFT_OK, "valid call failed: %s", tasft_last_error());
    CUDA_OK(cudaDeviceSynchronize());
    const tasft_emd_variant kv1 = {TASFT_CPU_ISA_DEFAULT, TASFT_CUDA_KERNEL_V1};
    // Every entry point names the broken argument, and itself first.
    auto call = [&](int entry, const tasft_emd_args* a, const tasft_emd_variant* v, const char** fn) {
        static const char* names[] = {"tasft_emd_cuda", "tasft_emd_cuda_async", "tasft_emd_cuda_variant",
                                      "tasft_emd_cuda_variant_async"};
        *fn = names[entry];
        switch (entry) {
            case 0: return tasft_emd_cuda(a);
            case 1: return tasft_emd_cuda_async(a);
            case 2: return tasft_emd_cuda_variant(a, nullptr, v);
            default: return tasft_emd_cuda_variant_async(a, nullptr, v);
        }
    };
    auto expect = [&](const tasft_emd_args& a, const tasft_emd_variant& v, const char* needle) {
        for (int entry = 0; entry < 4; ++entry) {
            if (entry < 2 && &v != &kv1) continue;  // a bad variant only reaches the _variant entry points
            const char* fn;
            const int st = call(entry, &a, &v, &fn);
            CHECK(st == TASFT_INVALID_ARGUMENT, "%s: expected INVALID_ARGUMENT for '%s', got %d (%s)", fn, needle, st,
                  tasft_last_error());
            CHECK(std::strstr(tasft_last_error(), needle) != nullptr, "%s: message '%s' does not name '%s'", fn,
                  tasft_last_error(), needle);
            CHECK(std::strncmp(tasft_last_error(), fn, std::strlen(fn)) == 0, "message '%s' does not start with %s",
                  tasft_last_error(), fn);
        }
    };
    for (int entry = 0; entry < 4; ++entry) {
        const char* fn;
        CHECK(call(entry, nullptr, &kv1, &fn) == TASFT_INVALID_ARGUMENT, "%s: NULL args", fn);
    }
    for (const tt::BadArgument& bad : tt::bad_arguments()) {
        tasft_emd_args a = ok;
        bad.apply(a);
        expect(a, kv1, bad.needle);
    }
    for (const auto& bad : tt::bad_variants()) expect(ok, bad.first, bad.second);

    // Out-of-range targets: tasft_emd_cuda names the row and launches nothing.
    std::vector<float> sentinel(3, 42.0f);
    CUDA_OK(cudaMemcpy(dc.loss.get(), sentinel.data(), sentinel.size() * sizeof(float), cudaMemcpyHostToDevice));
    for (int64_t bad_value : {(int64_t)10, (int64_t)-3, (int64_t)1 << 40}) {
        std::vector<int64_t> bad = dc.c.targets;
        bad[2] = bad_value;
        DeviceBuffer bad_tgt(bad.data(), bad.size() * sizeof(int64_t));
        tasft_emd_args a = ok;
        a.targets = bad_tgt.get<int64_t>();
        for (int entry : {0, 2}) {
            const char* fn;
            const int st = call(entry, &a, &kv1, &fn);
            CHECK(st == TASFT_INVALID_ARGUMENT, "%s: target %lld: expected INVALID_ARGUMENT, got %d (%s)", fn,
                  (long long)bad_value, st, tasft_last_error());
            CHECK(std::strstr(tasft_last_error(), "targets[2]") != nullptr, "message '%s' does not name targets[2]",
                  tasft_last_error());
        }
        CUDA_OK(cudaDeviceSynchronize());
    }
    std::vector<float> after(3);
    CUDA_OK(cudaMemcpy(after.data(), dc.loss.get(), after.size() * sizeof(float), cudaMemcpyDeviceToHost));
    CHECK(after == sentinel, "a rejected call wrote loss_rows");

    // rows = 0: nothing to do, NULL buffers allowed.
    tasft_emd_args a{};
    a.vocab = 2;
    a.dim = 2;
    a.logits_row_stride = 2;
    a.unit_embedding = dc.emb.get();
    for (int entry = 0; entry < 4; ++entry) {
        const char* fn;
        CHECK(call(entry, &a, &kv1, &fn) == TASFT_OK, "%s: rows = 0 with NULL buffers: %s", fn, tasft_last_error());
    }

    // A success clears the message.
    a = ok;
    a.logits = nullptr;
    CHECK(tasft_emd_cuda(&a) != TASFT_OK, "NULL logits accepted");
    CHECK(tasft_emd_cuda(&ok) == TASFT_OK && tasft_last_error()[0] == '\0', "message not cleared: '%s'",
          tasft_last_error());
    CUDA_OK(cudaDeviceSynchronize());
    CUDA_OK(cudaGetLastError());
}

TEST_CASE("async_bad_target") {
    require_cuda();
    for (int ld : {TASFT_FLOAT32, TASFT_BFLOAT16}) {
        const tt::CaseSpec s = tt::spec(9, 1234, 40).with_pad(2).with_dtypes(ld, TASFT_FLOAT32).with_ignore(0.2)
                                   .with_seed(600 + ld);
        tt::Case c = tt::make_case(s);
        // Rows 3 and 7 get targets out of range (above and below); the reference treats them as ignored rows.
        const int64_t bad_rows[] = {3, 7};
        std::vector<int64_t> bad = c.targets;
        bad[3] = s.vocab + 5;
        bad[7] = -1;
        for (int64_t n : bad_rows) c.targets[n] = c.ignore_index;
        tt::refresh_expected(c);
        for (tt::Grad mode : {tt::Grad::NewBuffer, tt::Grad::InPlace}) {
            tt::RunOptions o;
            o.async = true;
            o.grad = mode;
            o.targets = &bad;
            tt::Outputs out = run_cuda(c, cuda_kernel(TASFT_CUDA_KERNEL_V1), o);
            const size_t es = tt::dsize(ld);
            for (int64_t n : bad_rows) {
                CHECK(std::isnan(out.loss[n]), "%s: loss[%lld] = %g, want NaN", s.describe().c_str(), (long long)n,
                      out.loss[n]);
                for (int64_t v = 0; v < s.vocab; ++v) {
                    const double g = tt::read_value(out.grad.data(), ld, (size_t)(n * c.stride + v));
                    CHECK(std::isnan(g), "%s: grad[%lld,%lld] = %g, want NaN", s.describe().c_str(), (long long)n,
                          (long long)v, g);
                }
                // Make the bad row look ignored, then every other row must match the reference exactly as usual.
                out.loss[n] = 0.0f;
                std::memset(&out.grad[(size_t)(n * c.stride) * es], 0, (size_t)s.vocab * es);
                std::fill(out.expected.begin() + n * s.dim, out.expected.begin() + (n + 1) * s.dim, 0.0f);
            }
            tt::compare(c, out, true, true);
        }
    }
}

TEST_CASE("matches_cpu") {
    require_cuda();
    // Both are fp32 computations of the same rounded inputs; the gradient is rounded to the logits dtype, where the
    // two may land one unit apart: relative 1e-5 (fp32) or the oracle's 16-bit tolerance, plus 1e-5 of the row's
    // largest gradient.
    tt::Tolerance vs_cpu;
    vs_cpu.loss_rel = vs_cpu.expected_rel = vs_cpu.grad_f32 = 1e-5;
    vs_cpu.cancel = 0;
    vs_cpu.row_max = 1e-5;
    const std::pair<tt::CaseSpec, float> cases[] = {
        {tt::spec(64, 4099, 64), 1.0f},
        {tt::spec(33, 32003, 32).with_pad(5), 1.0f / 33},
        {tt::spec(17, 1000, 257).with_dtypes(TASFT_FLOAT32, TASFT_BFLOAT16), 0.37f},
        {tt::spec(17, 1000, 96).with_pad(3).with_dtypes(TASFT_BFLOAT16, TASFT_BFLOAT16), 1.0f},
        {tt::spec(17, 1000, 96).with_dtypes(TASFT_FLOAT16, TASFT_FLOAT16), 2.0f},
    };
    uint64_t seed = 700;
    for (auto [s, grad_scale] : cases) {
        const tt::Case c = tt::make_case(s.with_ignore(0.1).with_neg_inf(0.02).with_seed(++seed));
        tt::RunOptions o;
        o.grad_scale = grad_scale;
        const tt::Outputs cpu = tt::run_cpu(c, tt::Variant(), o);  // the default instruction set
        tt::compare(tt::with_expected_from(c, cpu), run_cuda(c, cuda_kernel(TASFT_CUDA_KERNEL_V1), o), true, true, vs_cpu);
    }
}

// ---------- skipping mode ----------

TEST_CASE("skip_v1") {
    require_cuda();
    Stream stream;
    const tt::CaseSpec shapes[] = {tt::spec(40, 5003, 32),
                                   tt::spec(19, 20000, 16).with_pad(5).with_dtypes(TASFT_BFLOAT16, TASFT_BFLOAT16),
                                   tt::spec(9, 3000, 300).with_dtypes(TASFT_FLOAT16, TASFT_FLOAT32)};
    uint64_t seed = 1100;
    for (tt::CaseSpec s : shapes) {
        const tt::Case c = tt::make_lm_case(s.with_ignore(0.15).with_seed(++seed), 2.0);
        tt::check_threshold_zero(v1, c, {tt::Grad::NewBuffer});
        for (float thr : {1e-8f, 1e-6f, 1e-4f, 1e-2f}) {
            tt::RunOptions o;
            o.threshold = thr;
            o.grad = thr < 1e-3f ? tt::Grad::InPlace : tt::Grad::NewBuffer;
            o.stream = stream.get();
            o.async = thr == 1e-6f;
            tt::check_skip(v1, c, o);
        }
    }
    // Bad thresholds are argument errors naming the threshold.
    DeviceCase dc;
    const tasft_emd_args a = dc.args();
    const tasft_emd_variant kv1 = {TASFT_CPU_ISA_DEFAULT, TASFT_CUDA_KERNEL_V1};
    for (float bad : {-1.0f, 2.0f, std::nanf("")}) {
        tasft_emd_skip sk{};
        sk.threshold = bad;
        CHECK(tasft_emd_cuda_skip(&a, &sk) == TASFT_INVALID_ARGUMENT && std::strstr(tasft_last_error(), "threshold"),
              "threshold %g: %s", bad, tasft_last_error());
        CHECK(tasft_emd_cuda_skip_async(&a, &sk) == TASFT_INVALID_ARGUMENT, "async threshold %g", bad);
        CHECK(tasft_emd_cuda_variant(&a, &sk, &kv1) == TASFT_INVALID_ARGUMENT, "variant threshold %g", bad);
    }
    CUDA_OK(cudaDeviceSynchronize());
}

// ---------- the tensor-core versions v2 (WMMA) and v3 (wgmma + TMA), each named by tasft_emd_variant ----------
//
// Both are held to the bf16 bounds above (kV2Tol) on the same cases. v2 must run every one of them (sm_80+). v3 may
// refuse a case (v3_supports: not an sm_90 device, a library without sm_90a code, dtypes, alignment, skipping): the
// refusal must name v3 and write nothing (try_run_cuda checks every output), and a test in which v3 ran no case SKIPs
// with v3's reason, so these tests check v3 by themselves wherever it runs.

class TensorCore {
public:
    explicit TensorCore(int kernel) : kernel_(kernel) {}
    const char* name() const { return kernel_ == TASFT_CUDA_KERNEL_V3 ? "v3" : "v2"; }
    tt::Variant variant() const { return cuda_kernel(kernel_); }

    // Runs the case on this version: false when it refused (checked: no output written, the reason names it).
    bool run(const tt::Case& c, const tt::RunOptions& o, tt::Outputs* out) {
        std::string why;
        std::optional<tt::Outputs> r = try_run_cuda(c, variant(), o, &why);
        ++calls_;
        if (!r) {
            CHECK(kernel_ != TASFT_CUDA_KERNEL_V2, "%s: v2 refused: %s", c.spec.describe().c_str(), why.c_str());
            CHECK(std::strstr(why.c_str(), name()) != nullptr, "%s: the refusal '%s' does not name %s",
                  c.spec.describe().c_str(), why.c_str(), name());
            if (reason_.empty()) reason_ = why;
            return false;
        }
        ++ran_;
        *out = std::move(*r);
        return true;
    }

    // The shared runner's checks (check_skip) on this version; a refused case ends the check quietly.
    struct Refused {};
    tt::Backend backend() {
        return tt::Backend{std::string("cuda ") + name(), [this] { return std::vector<tt::Variant>{variant()}; },
                           [this](const tt::Case& c, const tt::Variant&, const tt::RunOptions& o) {
                               tt::Outputs out;
                               if (!run(c, o, &out)) throw Refused();
                               return out;
                           },
                           nullptr, tt::Tolerance()};
    }

    // The end of a test: SKIP when this version ran nothing, else say how much it refused.
    void finish() const {
        if (ran_ == 0)
            throw tt::Skipped(std::string(name()) + " refused all " + std::to_string(calls_) + " calls: " + reason_);
        if (ran_ < calls_) std::printf("  (%s refused %d of %d calls, e.g. %s)\n", name(), calls_ - ran_, calls_, reason_.c_str());
    }

private:
    int kernel_;
    int calls_ = 0, ran_ = 0;
    std::string reason_;
};

// rows x vocab x dim: tile edges (64 rows, 32/128 vocabulary, 256/32 dims), odd sizes, several row tiles; logits fp32,
// bf16 and fp16 with a bf16 embedding, ignored rows, masked logits, padded rows; a new gradient buffer and in place.
void tensor_core_random_shapes(int kernel) {
    require_cuda();
    TensorCore tc(kernel);
    Stream stream;
    const tt::cases::Shape shapes[] = {{1, 1, 8},      {1, 7, 1},      {3, 1000, 33},  {37, 4099, 64}, {64, 128, 256},
                                       {65, 129, 257}, {130, 513, 72}, {7, 32003, 24}, {200, 300, 8},  {5, 301, 4096}};
    uint64_t seed = 1200;
    for (const auto& sh : shapes)
        for (int ld : {TASFT_FLOAT32, TASFT_BFLOAT16, TASFT_FLOAT16}) {
            const tt::CaseSpec s = tt::spec(sh.rows, sh.vocab, sh.dim).with_pad(sh.vocab % 3 == 0 ? 0 : 3)
                                       .with_dtypes(ld, TASFT_BFLOAT16).with_ignore(0.15).with_neg_inf(0.02)
                                       .with_seed(++seed);
            const tt::Case c = tt::make_case(s);
            tt::RunOptions o;
            o.stream = stream.get();
            tt::Outputs a, b;
            const bool ran_a = tc.run(c, o, &a);
            if (ran_a) compare_v2(c, a, true, true);
            o.grad = tt::Grad::InPlace;
            if (!tc.run(c, o, &b)) continue;
            compare_v2(c, b, true, true);
            // (Not bit for bit: with the vocabulary split over CTAs the fp32 atomics add in any order.)
            if (ran_a)
                for (int64_t n = 0; n < s.rows; ++n)
                    CHECK(std::fabs(a.loss[n] - b.loss[n]) <= 1e-6 * std::fabs(a.loss[n]) + 1e-9,
                          "%s: %s in-place loss[%lld] %.9g vs %.9g", s.describe().c_str(), tc.name(), (long long)n,
                          a.loss[n], b.loss[n]);
        }
    tc.finish();
}

// Near one-hot rows, masked logits, a row of one finite logit, all rows ignored, forward only, bad async targets.
void tensor_core_extreme_and_ignored(int kernel) {
    require_cuda();
    TensorCore tc(kernel);
    tt::Outputs out;
    for (double scale : {1e2, 1e4}) {
        const tt::Case c = tt::make_case(tt::spec(70, 1001, 40).with_pad(2).with_scale(scale).with_neg_inf(0.3)
                                             .with_ignore(0.2).with_dtypes(TASFT_BFLOAT16, TASFT_BFLOAT16)
                                             .with_seed(1300 + (uint64_t)scale));
        if (tc.run(c, tt::RunOptions(), &out)) compare_v2(c, out, true, true);
    }
    {
        tt::Case c = tt::make_case(tt::spec(9, 700, 16).with_neg_inf(1.0).with_dtypes(TASFT_FLOAT32, TASFT_BFLOAT16)
                                       .with_seed(1310));
        // Target = the only finite logit: p is one-hot at y, so r = 0 exactly (P' = 0, p_y - 1 = 0): loss, gradient 0.
        for (int64_t n = 0; n < c.spec.rows; ++n)
            for (int64_t v = 0; v < c.spec.vocab; ++v)
                if (std::isfinite(c.logits.values[n * c.stride + v])) c.targets[n] = v;
        tt::refresh_expected(c);
        if (tc.run(c, tt::RunOptions(), &out)) {
            compare_v2(c, out, true, true);
            for (int64_t n = 0; n < c.spec.rows; ++n) {
                CHECK(out.loss[n] == 0.0f, "%s: one-hot row %lld: loss %g", tc.name(), (long long)n, out.loss[n]);
                for (int64_t v = 0; v < c.spec.vocab; ++v)
                    CHECK(tt::read_value(out.grad.data(), c.spec.logits_dtype, (size_t)(n * c.stride + v)) == 0.0,
                          "%s: one-hot row %lld: grad[%lld] not 0", tc.name(), (long long)n, (long long)v);
            }
        }
    }
    {
        const tt::CaseSpec s = tt::cases::all_ignored().with_dtypes(TASFT_FLOAT32, TASFT_BFLOAT16);
        const tt::Case c = tt::make_case(s);
        if (tc.run(c, tt::RunOptions(), &out)) {
            for (int64_t n = 0; n < s.rows; ++n)
                CHECK(out.loss[n] == 0.0f, "%s: ignored row %lld: loss %g", tc.name(), (long long)n, out.loss[n]);
            compare_v2(c, out, true, true);
        }
        tt::CaseSpec f = s;
        const tt::Case cf = tt::make_case(f.with_ignore(0.1).with_seed(1311));
        tt::RunOptions fo;
        fo.grad = tt::Grad::None;
        fo.expected = false;
        if (tc.run(cf, fo, &out)) compare_v2(cf, out, false, false);  // run_cuda also checks the logits are untouched
    }
    {
        const tt::Case c = tt::make_case(tt::spec(9, 1234, 40).with_pad(2).with_dtypes(TASFT_BFLOAT16, TASFT_BFLOAT16)
                                             .with_seed(1320));
        std::vector<int64_t> bad = c.targets;
        bad[3] = c.spec.vocab + 5;
        bad[7] = -1;
        tt::RunOptions o;
        o.async = true;
        o.targets = &bad;
        if (tc.run(c, o, &out))
            for (int64_t n : {3, 7}) {
                CHECK(std::isnan(out.loss[n]), "%s bad target row %lld: loss %g", tc.name(), (long long)n, out.loss[n]);
                for (int64_t v = 0; v < c.spec.vocab; ++v)
                    CHECK(std::isnan(tt::read_value(out.grad.data(), c.spec.logits_dtype, (size_t)(n * c.stride + v))),
                          "%s bad target row %lld: grad[%lld] not NaN", tc.name(), (long long)n, (long long)v);
            }
    }
    tc.finish();
}

// Skipping on tensor cores: the loss error within the reported bound plus the bf16 allowance.
void tensor_core_skip(int kernel) {
    require_cuda();
    TensorCore tc(kernel);
    const tt::Backend b = tc.backend();
    uint64_t seed = 1410;
    for (int64_t rows : {40, 130})
        for (float thr : {1e-6f, 1e-4f, 1e-2f}) {
            const tt::Case c = tt::make_lm_case(tt::spec(rows, 20000, 64).with_pad(1)
                                                    .with_dtypes(TASFT_BFLOAT16, TASFT_BFLOAT16).with_ignore(0.1)
                                                    .with_seed(++seed),
                                                2.0);
            tt::RunOptions o;
            o.threshold = thr;
            o.grad = tt::Grad::InPlace;
            try {
                tt::check_skip(b, c, o, true, kV2Tol);
            } catch (const TensorCore::Refused&) {
            }
        }
    tc.finish();
}

// The version tasft_emd_cuda_kernel_choice names for the case under `o` (its dtypes, gradient mode, skipping), asked
// with device buffers of the case's sizes; fails the test when the question fails.
int chosen_kernel(const tt::Case& c, const tt::RunOptions& o, int requested) {
    const DeviceCall call(c, o);
    const tasft_emd_variant v = {TASFT_CPU_ISA_DEFAULT, requested};
    int kernel = -1;
    const int st = tasft_emd_cuda_kernel_choice(&call.args, call.skip(o), &v, &kernel);
    CHECK(st == TASFT_OK && kernel >= TASFT_CUDA_KERNEL_V1 && kernel <= TASFT_CUDA_KERNEL_V3,
          "%s: tasft_emd_cuda_kernel_choice(%d): %d, kernel %d: %s", c.spec.describe().c_str(), requested, st, kernel,
          tasft_last_error());
    return kernel;
}

// v3 against its CPU replay (v3_emulation.h: the same element functions and rounding points), case by case and
// output by output, with allowances for summation order only: a row or column the kernel mixes up is off by the size
// of the value itself, which the oracle's bf16 bounds (also checked) could let through. Then determinism (two calls
// and in place vs a new buffer: bit for bit, there are no atomics) on shapes v3 takes: bf16, strides and dims that
// are multiples of 8, several row, dim and vocabulary tiles, tails, LM-like and extreme logits, ignored, one-hot and
// bad-target rows, a negative grad scale, forward only.
void v3_close_to_emulation(const tt::Case& c, const tt::Outputs& gpu, const tt::Outputs& emu, bool grad) {
    const auto& s = c.spec;
    for (int64_t n = 0; n < s.rows; ++n) {
        const double L = gpu.loss[n], E = emu.loss[n];
        if (std::isnan(E)) {
            CHECK(std::isnan(L), "%s: v3 loss[%lld] %g, replay NaN", s.describe().c_str(), (long long)n, L);
            continue;
        }
        CHECK(std::fabs(L - E) <= 1e-4 * std::fabs(E) + 1e-6, "%s: v3 loss[%lld] %.9g, replay %.9g",
              s.describe().c_str(), (long long)n, L, E);
        for (int64_t d = 0; d < s.dim; ++d) {
            const double u = gpu.expected[n * s.dim + d], w = emu.expected[n * s.dim + d];
            CHECK(std::fabs(u - w) <= 1e-4 * std::fabs(w) + 2e-6, "%s: v3 expected[%lld,%lld] %.9g, replay %.9g",
                  s.describe().c_str(), (long long)n, (long long)d, u, w);
        }
        if (!grad) continue;
        // |d(S - ru)| <= 2 x 2^-8 ||r|| when the kernel's and the replay's bf16 R differ by an ulp somewhere.
        const double rn = std::sqrt(std::max(E, 0.0));
        for (int64_t v = 0; v < s.vocab; ++v) {
            const size_t i = (size_t)(n * c.stride + v);
            const double g = tt::read_value(gpu.grad.data(), TASFT_BFLOAT16, i);
            const double w = tt::read_value(emu.grad.data(), TASFT_BFLOAT16, i);
            const double p = c.expected.prob[n * s.vocab + v];
            const double allowed = std::ldexp(std::fabs(w), -6) + 8.0 * std::ldexp(p, -8) * (rn + 1e-3) + 1e-12;
            CHECK((std::isnan(w) && std::isnan(g)) || std::fabs(g - w) <= allowed,
                  "%s: v3 grad[%lld,%lld] %.9g, replay %.9g (p %.3g)", s.describe().c_str(), (long long)n,
                  (long long)v, g, w, p);
        }
    }
    ++tt::counts().checks;
}

TEST_CASE("v3_matches_emulation") {
    require_cuda();
    TensorCore tc(TASFT_CUDA_KERNEL_V3);
    auto bf = [](tt::CaseSpec s) { return s.with_dtypes(TASFT_BFLOAT16, TASFT_BFLOAT16); };
    std::vector<tt::Case> cases;
    const int64_t shapes[][4] = {{1, 1, 8, 0},      {3, 63, 8, 8},       {5, 64, 16, 0},    {17, 257, 264, 8},
                                 {31, 1000, 40, 16}, {9, 4099, 512, 0},   {130, 333, 24, 8}, {4, 2, 520, 0},
                                 {129, 2048, 256, 0}, {257, 777, 64, 8}, {300, 5000, 520, 8}};
    uint64_t seed = 2500;
    for (const auto& sh : shapes)
        cases.push_back(tt::make_case(bf(tt::spec(sh[0], sh[1], sh[2]).with_pad(sh[3]).with_ignore(0.2)
                                             .with_neg_inf(0.02).with_seed(seed++))));
    for (double entropy : {0.3, 2.0})
        cases.push_back(tt::make_lm_case(bf(tt::spec(200, 3000, 128).with_ignore(0.1).with_seed(seed++)), entropy));
    for (double scale : {1e2, 1e4})
        cases.push_back(tt::make_case(bf(tt::spec(70, 1001, 40).with_pad(8).with_scale(scale).with_neg_inf(0.3)
                                             .with_ignore(0.2).with_seed(seed++))));
    cases.push_back(tt::make_case(bf(tt::cases::all_ignored().with_pad(8))));
    {
        tt::Case c = tt::make_case(bf(tt::spec(9, 700, 16).with_neg_inf(1.0).with_seed(seed++)));
        for (int64_t n = 0; n < c.spec.rows; ++n)  // one-hot rows: loss and gradient exactly 0
            for (int64_t v = 0; v < c.spec.vocab; ++v)
                if (std::isfinite(c.logits.values[n * c.stride + v])) c.targets[n] = v;
        tt::refresh_expected(c);
        cases.push_back(std::move(c));
    }
    for (const tt::Case& c : cases) {
        tt::RunOptions o;
        tt::Outputs a, b, again;
        if (!tc.run(c, o, &a)) continue;
        compare_v2(c, a, true, true);
        v3_close_to_emulation(c, a, tt::emulate_v3(c), true);
        CHECK(tc.run(c, o, &again) && again.loss == a.loss && again.grad == a.grad && again.expected == a.expected,
              "%s: v3 is not deterministic (two calls differ)", c.spec.describe().c_str());
        o.grad = tt::Grad::InPlace;
        CHECK(tc.run(c, o, &b) && b.loss == a.loss && b.grad == a.grad,
              "%s: v3 in place differs from a new gradient buffer", c.spec.describe().c_str());
    }
    {
        const tt::Case& c = cases[4];
        std::vector<int64_t> bad = c.targets;
        bad[3] = c.spec.vocab + 5;
        bad[7] = -1;
        tt::RunOptions o;
        o.async = true;
        o.targets = &bad;
        o.grad_scale = -0.25f;
        tt::Outputs out;
        if (tc.run(c, o, &out)) {
            tt::EmuOptions eo;
            eo.targets = &bad;
            eo.grad_scale = -0.25f;
            v3_close_to_emulation(c, out, tt::emulate_v3(c, eo), true);
        }
        o = tt::RunOptions();
        o.grad = tt::Grad::None;
        if (tc.run(c, o, &out)) {  // forward only: run_cuda checks that the logits stay untouched
            tt::EmuOptions eo;
            eo.grad = false;
            v3_close_to_emulation(c, out, tt::emulate_v3(c, eo), false);
        }
    }
    tc.finish();
}

TEST_CASE("v2_random_shapes") { tensor_core_random_shapes(TASFT_CUDA_KERNEL_V2); }
TEST_CASE("v3_random_shapes") { tensor_core_random_shapes(TASFT_CUDA_KERNEL_V3); }
TEST_CASE("v2_extreme_and_ignored") { tensor_core_extreme_and_ignored(TASFT_CUDA_KERNEL_V2); }
TEST_CASE("v3_extreme_and_ignored") { tensor_core_extreme_and_ignored(TASFT_CUDA_KERNEL_V3); }
TEST_CASE("v3_skip") { tensor_core_skip(TASFT_CUDA_KERNEL_V3); }

TEST_CASE("v2_fallback_and_skip") {
    require_cuda();
    // An explicit v2 that cannot run the call (fp32 or fp16 embedding) is refused, naming why, and writes nothing.
    for (int ed : {TASFT_FLOAT32, TASFT_FLOAT16}) {
        const tt::Case c = tt::make_case(tt::spec(13, 777, 20).with_dtypes(TASFT_FLOAT32, ed).with_seed(1400 + ed));
        DeviceBuffer logits(c.logits.bytes.data(), c.logits.bytes.size()), emb(c.embedding.bytes.data(), c.embedding.bytes.size());
        DeviceBuffer tgt(c.targets.data(), c.targets.size() * sizeof(int64_t)), loss(13 * sizeof(float));
        loss.fill_nan();
        tasft_emd_args a = tt::shape_args(c);
        a.logits = logits.get();
        a.unit_embedding = emb.get();
        a.targets = tgt.get<int64_t>();
        a.loss_rows = loss.get<float>();
        const tasft_emd_variant kv2 = {TASFT_CPU_ISA_DEFAULT, TASFT_CUDA_KERNEL_V2};
        int kernel = -1;
        for (int entry = 0; entry < 3; ++entry) {
            const int st = entry == 0   ? tasft_emd_cuda_variant(&a, nullptr, &kv2)
                           : entry == 1 ? tasft_emd_cuda_variant_async(&a, nullptr, &kv2)
                                        : tasft_emd_cuda_kernel_choice(&a, nullptr, &kv2, &kernel);
            CHECK(st == TASFT_UNSUPPORTED && std::strstr(tasft_last_error(), "v2 needs a bfloat16 embedding"),
                  "embedding %s: explicit v2 (entry %d) gave %d: %s", tt::dname(ed), entry, st, tasft_last_error());
        }
        CUDA_OK(cudaDeviceSynchronize());
        for (float x : loss.download<float>()) CHECK(std::isnan(x), "a refused v2 call wrote loss_rows");
        CHECK(kernel == -1, "a refused choice wrote *kernel");
    }
    tensor_core_skip(TASFT_CUDA_KERNEL_V2);
}

TEST_CASE("auto_choice") {
    require_cuda();
    // AUTO (the entry points without a variant, and variant AUTO) runs what tasft_emd_cuda_kernel_choice names, by the
    // rule of tasft/emd.h: never v2 for fp32 logits or a non-bf16 embedding; v2 for 16-bit logits with a bf16
    // embedding unless v3 is validated and takes the call. The result is the named version's: v1's bits, or a
    // tensor-core version within the bf16 bounds. (TASFT_CUDA_KERNEL, if the user set it, changes the choice; the
    // choice and the run still agree.)
    const bool env_free = std::strcmp(tasft_cuda_kernel(), "auto") == 0;
    const tasft_emd_variant kauto = {TASFT_CPU_ISA_DEFAULT, TASFT_CUDA_KERNEL_AUTO};
    uint64_t seed = 1700;
    for (int ld : {TASFT_FLOAT32, TASFT_BFLOAT16, TASFT_FLOAT16})
        for (int ed : {TASFT_FLOAT32, TASFT_BFLOAT16, TASFT_FLOAT16}) {
            const tt::Case c = tt::make_case(tt::spec(70, 1001, 40).with_pad(3).with_dtypes(ld, ed).with_ignore(0.1)
                                                 .with_neg_inf(0.02).with_seed(++seed));
            for (int mode = 0; mode < 4; ++mode) {
                tt::RunOptions o;  // sync / async, exact / skipping
                o.async = mode & 1;
                o.threshold = mode & 2 ? 1e-4f : -1.0f;
                const int k = chosen_kernel(c, o, TASFT_CUDA_KERNEL_AUTO);
                CHECK(k == chosen_kernel(c, o, TASFT_CUDA_KERNEL_AUTO), "the choice changed between two asks");
                for (int explicit_k : {TASFT_CUDA_KERNEL_V1, TASFT_CUDA_KERNEL_V2}) {  // explicit: itself or refused
                    if (explicit_k == TASFT_CUDA_KERNEL_V2 && ed != TASFT_BFLOAT16) continue;
                    CHECK(chosen_kernel(c, o, explicit_k) == explicit_k, "explicit %d named another version", explicit_k);
                }
                if (env_free) {
                    const bool v2_fits = ld != TASFT_FLOAT32 && ed == TASFT_BFLOAT16;
                    CHECK(k == TASFT_CUDA_KERNEL_V3 || k == (v2_fits ? TASFT_CUDA_KERNEL_V2 : TASFT_CUDA_KERNEL_V1),
                          "%s, mode %d: AUTO chose %d", c.spec.describe().c_str(), mode, k);
                }
                tt::Variant vauto;
                vauto.kernel = kauto;  // is_default(): the entry points without a variant
                const tt::Outputs plain = run_cuda(c, vauto, o);
                if (k == TASFT_CUDA_KERNEL_V1) {
                    const tt::Outputs pinned = run_cuda(c, cuda_kernel(TASFT_CUDA_KERNEL_V1), o);
                    CHECK(plain.loss == pinned.loss && plain.grad == pinned.grad && plain.expected == pinned.expected &&
                              plain.bound == pinned.bound && plain.mass == pinned.mass,
                          "%s, mode %d: AUTO chose v1 but differs from the explicit v1", c.spec.describe().c_str(), mode);
                } else if (o.skip()) {
                    tt::check_skip_result(c, plain, plain.bound, plain.mass, o.threshold, true, kV2Tol);
                } else {
                    compare_v2(c, plain, true, true);
                }
                std::printf("  %s mode %d: AUTO runs %s\n", c.spec.describe().c_str(), mode,
                            k == TASFT_CUDA_KERNEL_V3 ? "v3" : k == TASFT_CUDA_KERNEL_V2 ? "v2" : "v1");
            }
        }
}

int main(int argc, char** argv) { return tt::run_main(argc, argv); }
