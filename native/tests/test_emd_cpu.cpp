// Native tests of tasft_emd_cpu against the float64 reference and the PyTorch-made golden cases.
#include <cstdlib>
#include "test_util.h"

extern "C" const char* tasft_cpu_isa(void);

namespace {

enum class Grad { None, NewBuffer, InPlace };

tasft_emd_args base_args(const tt::Case& c) {  // the case's host buffers as inputs; outputs are the caller's
    tasft_emd_args a = tt::shape_args(c);
    a.logits = c.logits.bytes.data();
    a.unit_embedding = c.embedding.bytes.data();
    a.targets = c.targets.data();
    return a;
}

tt::Outputs run_cpu(const tt::Case& c, Grad mode, bool expected = true) {
    tt::Outputs out;
    out.loss.assign(c.spec.rows, -1.0f);
    out.expected.assign(c.spec.rows * c.spec.dim, -1.0f);
    std::vector<unsigned char> logits_copy = c.logits.bytes;  // in-place mode overwrites it
    tasft_emd_args a = base_args(c);
    a.logits = logits_copy.data();
    a.loss_rows = out.loss.data();
    a.expected_embedding = expected ? out.expected.data() : nullptr;
    if (mode == Grad::NewBuffer) {
        out.grad = c.logits.bytes;  // starts as a copy so the NaN padding sentinels are there to be checked
        a.grad_logits = out.grad.data();
    } else if (mode == Grad::InPlace) {
        a.grad_logits = logits_copy.data();
    }
    int st = tasft_emd_cpu(&a);
    CHECK(st == TASFT_OK, "%s: status %d: %s", c.spec.describe().c_str(), st, tasft_last_error());
    if (mode == Grad::InPlace) out.grad = logits_copy;
    return out;
}

// Runs fn once per instruction set this CPU has, so the generic, AVX2 and AVX-512 kernels are all checked.
template <class F>
void for_each_isa(F fn) {
    const char* isas[] = {"generic", "avx2", nullptr};  // nullptr = the default, the widest available
    for (const char* isa : isas) {
        if (isa) setenv("TASFT_CPU_ISA", isa, 1);
        else unsetenv("TASFT_CPU_ISA");
        fn();
    }
    unsetenv("TASFT_CPU_ISA");
}

void check_case(const tt::CaseSpec& s, Grad mode = Grad::NewBuffer) {
    tt::Case c = tt::make_case(s);
    for_each_isa([&] { tt::compare(c, run_cpu(c, mode), mode != Grad::None, true); });
}

}  // namespace

TEST_CASE("golden_f32") {
    auto f = tt::read_safetensors(TASFT_FIXTURES "/emd/cases.safetensors");
    for (int k = 0; k < 5; ++k) {
        std::string p = "case" + std::to_string(k) + ".";
        const tt::Tensor& L = f.at(p + "logits");
        const tt::Tensor& E = f.at(p + "embedding");
        tt::Case c;
        c.spec.rows = L.shape[0];
        c.spec.vocab = L.shape[1];
        c.spec.dim = E.shape[1];
        c.stride = c.spec.vocab;
        std::vector<float> lf(L.data.size() / 4), ef(E.data.size() / 4), unit(ef.size());
        std::memcpy(lf.data(), L.data.data(), L.data.size());
        std::memcpy(ef.data(), E.data.data(), E.data.size());
        // The fixture's embedding is raw: the library's own helper makes it unit-norm.
        CHECK(tasft_normalize_rows_cpu(ef.data(), unit.data(), TASFT_FLOAT32, c.spec.vocab, c.spec.dim) == TASFT_OK, "%s",
              tasft_last_error());
        c.logits.store(lf, TASFT_FLOAT32);
        c.embedding.store(unit, TASFT_FLOAT32);
        for (double t : f.at(p + "targets").as_double()) c.targets.push_back((int64_t)t);
        // The oracle must agree with PyTorch's float64 autograd (up to our fp32 normalisation of the embedding);
        // it also supplies the softmax for the error bound of compare().
        c.expected = ref::emd(c.logits.values, c.spec.rows, c.spec.vocab, c.stride, c.embedding.values, c.spec.dim,
                              c.targets, c.ignore_index);
        std::vector<double> golden_loss = f.at(p + "loss_rows").as_double();
        for (int64_t n = 0; n < c.spec.rows; ++n)
            CHECK(std::fabs(c.expected.loss[n] - golden_loss[n]) <= 1e-6 * golden_loss[n] + 1e-9,
                  "oracle disagrees with golden case %d row %lld: %.12g vs %.12g", k, (long long)n, c.expected.loss[n],
                  golden_loss[n]);
        c.expected.loss = golden_loss;
        c.expected.grad = f.at(p + "grad_logits").as_double();
        c.expected.expected = f.at(p + "expected_embedding").as_double();
        c.spec.seed = 1000 + k;  // only shown in messages
        for_each_isa([&] {
            tt::compare(c, run_cpu(c, Grad::NewBuffer), true, true, 1e-5);
            tt::compare(c, run_cpu(c, Grad::InPlace), true, true, 1e-5);
        });
    }
}

TEST_CASE("normalize_rows") {
    const int64_t rows = 37, dim = 19;
    std::vector<float> e(rows * dim);
    for (size_t i = 0; i < e.size(); ++i) e[i] = (float)((int)(i * 7919 % 200) - 100) * 0.37f;
    for (int64_t d = 0; d < dim; ++d) e[5 * dim + d] = 0.0f;  // a zero row stays zero
    std::vector<double> ed(e.begin(), e.end());
    std::vector<double> want = ref::unit_rows(ed, rows, dim);
    for (int dt : {TASFT_FLOAT32, TASFT_BFLOAT16, TASFT_FLOAT16}) {
        tt::Buffer in;
        in.store(e, dt);
        std::vector<unsigned char> out(in.bytes.size());
        CHECK(tasft_normalize_rows_cpu(in.bytes.data(), out.data(), dt, rows, dim) == TASFT_OK, "%s", tasft_last_error());
        const double tol = dt == TASFT_FLOAT32 ? 1e-6 : dt == TASFT_FLOAT16 ? 1e-3 : 8e-3;
        std::vector<double> w2 = ref::unit_rows(in.values, rows, dim);
        for (int64_t i = 0; i < rows * dim; ++i) {
            double g = tt::read_value(out.data(), dt, i);
            CHECK(std::fabs(g - w2[i]) <= tol, "dtype %s element %lld: %g vs %g", tt::dname(dt), (long long)i, g, w2[i]);
        }
        // in place
        CHECK(tasft_normalize_rows_cpu(in.bytes.data(), in.bytes.data(), dt, rows, dim) == TASFT_OK, "in place");
        CHECK(std::memcmp(in.bytes.data(), out.data(), out.size()) == 0, "in-place result differs (%s)", tt::dname(dt));
    }
    (void)want;
    CHECK(tasft_normalize_rows_cpu(nullptr, nullptr, TASFT_FLOAT32, 3, 4) == TASFT_INVALID_ARGUMENT, "NULL in");
    CHECK(std::strstr(tasft_last_error(), "in is NULL"), "message: %s", tasft_last_error());
    CHECK(tasft_normalize_rows_cpu(e.data(), e.data(), 7, 3, 4) == TASFT_INVALID_ARGUMENT, "bad dtype");
    CHECK(tasft_normalize_rows_cpu(e.data(), e.data(), TASFT_FLOAT32, 3, 0) == TASFT_INVALID_ARGUMENT, "dim 0");
}

TEST_CASE("random_shapes") {
    const int64_t shapes[][3] = {{1, 1, 1},   {2, 7, 3},    {5, 31, 17},  {13, 1000, 33}, {37, 4099, 64},
                                 {50, 513, 16}, {7, 32003, 24}, {97, 257, 100}, {200, 300, 8}, {3, 9000, 130}};
    uint64_t seed = 10;
    for (auto& sh : shapes) {
        tt::CaseSpec s;
        s.rows = sh[0];
        s.vocab = sh[1];
        s.dim = sh[2];
        s.ignore_fraction = 0.15;
        s.seed = ++seed;
        check_case(s);
    }
}

TEST_CASE("dims_1_to_4096") {
    uint64_t seed = 100;
    for (int64_t dim : {1, 2, 3, 15, 16, 31, 33, 64, 255, 1000, 4096}) {
        tt::CaseSpec s;
        s.rows = 9;
        s.vocab = dim > 1000 ? 301 : 777;
        s.dim = dim;
        s.seed = ++seed;
        check_case(s);
    }
}

TEST_CASE("single_row") {
    for (int64_t v : {1, 2, 100, 50001}) {
        tt::CaseSpec s;
        s.rows = 1;
        s.vocab = v;
        s.dim = 40;
        s.seed = 7 + v;
        check_case(s);
    }
}

TEST_CASE("all_rows_ignored") {
    tt::CaseSpec s;
    s.rows = 20;
    s.vocab = 333;
    s.dim = 12;
    s.ignore_fraction = 1.0;
    tt::Case c = tt::make_case(s);
    tt::Outputs o = run_cpu(c, Grad::NewBuffer);
    for (int64_t n = 0; n < s.rows; ++n) CHECK(o.loss[n] == 0.0f, "loss[%lld] = %g", (long long)n, o.loss[n]);
    tt::compare(c, o, true, true);
    // a custom ignore index
    for (auto& t : c.targets) t = 5;
    c.ignore_index = 5;
    c.expected = ref::emd(c.logits.values, s.rows, s.vocab, c.stride, c.embedding.values, s.dim, c.targets, 5);
    tt::compare(c, run_cpu(c, Grad::InPlace), true, true);
}

TEST_CASE("padded_stride") {
    for (int64_t pad : {1, 3, 64}) {
        tt::CaseSpec s;
        s.rows = 11;
        s.vocab = 517;
        s.dim = 20;
        s.pad = pad;
        s.ignore_fraction = 0.2;
        s.seed = 200 + pad;
        check_case(s, Grad::NewBuffer);
        check_case(s, Grad::InPlace);
    }
}

TEST_CASE("extreme_logits") {
    for (double scale : {1e2, 1e3, 1e4}) {
        tt::CaseSpec s;
        s.rows = 17;
        s.vocab = 1001;
        s.dim = 24;
        s.logit_scale = scale;
        s.seed = (uint64_t)scale;
        check_case(s);
    }
}

TEST_CASE("masked_logits") {
    for (double frac : {0.3, 0.99}) {
        tt::CaseSpec s;
        s.rows = 23;
        s.vocab = 700;
        s.dim = 10;
        s.neg_inf_fraction = frac;
        s.pad = 2;
        s.seed = 300 + (uint64_t)(frac * 100);
        check_case(s);
        check_case(s, Grad::InPlace);
    }
    // whole tiles of -inf before and after the only finite logits
    tt::CaseSpec s;
    s.rows = 4;
    s.vocab = 2000;
    s.dim = 8;
    tt::Case c = tt::make_case(s);
    std::vector<float> z(c.logits.values.begin(), c.logits.values.end());
    for (int64_t n = 0; n < s.rows; ++n)
        for (int64_t v = 0; v < s.vocab; ++v)
            if (v < 1500 + n || v > 1510 + n) z[n * c.stride + v] = -INFINITY;
    c.logits.store(z, TASFT_FLOAT32);
    c.expected = ref::emd(c.logits.values, s.rows, s.vocab, c.stride, c.embedding.values, s.dim, c.targets, -100);
    for_each_isa([&] { tt::compare(c, run_cpu(c, Grad::NewBuffer), true, true); });
}

TEST_CASE("in_place") {
    tt::CaseSpec s;
    s.rows = 31;
    s.vocab = 2049;
    s.dim = 48;
    s.ignore_fraction = 0.25;
    tt::Case c = tt::make_case(s);
    tt::Outputs a = run_cpu(c, Grad::NewBuffer), b = run_cpu(c, Grad::InPlace);
    CHECK(a.grad == b.grad, "in-place gradient differs from the gradient written to a new buffer");
    CHECK(a.loss == b.loss, "in-place loss differs");
    tt::compare(c, b, true, true);
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
            s.seed = 400 + ld * 3 + ed;
            check_case(s);
            check_case(s, Grad::InPlace);
        }
}

TEST_CASE("forward_only") {
    tt::CaseSpec s;
    s.rows = 40;
    s.vocab = 999;
    s.dim = 20;
    s.pad = 1;
    tt::Case c = tt::make_case(s);
    std::vector<unsigned char> before = c.logits.bytes;
    tt::Outputs o = run_cpu(c, Grad::None, false);
    tt::compare(c, o, false, false);
    CHECK(c.logits.bytes == before, "forward-only call modified the logits");
    for (float x : o.expected) CHECK(x == -1.0f, "expected_embedding written although NULL was passed");
}

TEST_CASE("thread_counts") {
    tt::CaseSpec s;
    s.rows = 61;
    s.vocab = 3001;
    s.dim = 40;
    s.ignore_fraction = 0.1;
    tt::Case c = tt::make_case(s);
    tt::Outputs ref1;
    for (int t : {1, 2, 3, 8}) {
        tasft_cpu_set_num_threads(t);
        CHECK(tasft_cpu_get_num_threads() == t, "thread count %d not applied", t);
        tt::Outputs o = run_cpu(c, Grad::NewBuffer);
        tt::compare(c, o, true, true);
    }
    tasft_cpu_set_num_threads(0);
    CHECK(tasft_cpu_get_num_threads() >= 1, "default thread count");
    std::printf("  (cpu isa: %s, version: %s)\n", tasft_cpu_isa(), tasft_version());
}

TEST_CASE("bad_arguments") {
    tt::CaseSpec s;
    s.rows = 3;
    s.vocab = 10;
    s.dim = 4;
    tt::Case c = tt::make_case(s);
    std::vector<float> loss(3);
    auto expect = [&](tasft_emd_args a, const char* needle) {
        int st = tasft_emd_cpu(&a);
        CHECK(st == TASFT_INVALID_ARGUMENT, "expected INVALID_ARGUMENT for '%s', got %d", needle, st);
        CHECK(std::strstr(tasft_last_error(), needle) != nullptr, "message '%s' does not name '%s'", tasft_last_error(),
              needle);
    };
    tasft_emd_args ok = base_args(c);
    ok.loss_rows = loss.data();
    CHECK(tasft_emd_cpu(&ok) == TASFT_OK, "valid call failed: %s", tasft_last_error());
    CHECK(tasft_emd_cpu(nullptr) == TASFT_INVALID_ARGUMENT, "NULL args");
    tasft_emd_args a = ok;
    a.logits = nullptr; expect(a, "logits");
    a = ok; a.unit_embedding = nullptr; expect(a, "unit_embedding");
    a = ok; a.targets = nullptr; expect(a, "targets");
    a = ok; a.loss_rows = nullptr; expect(a, "loss_rows");
    a = ok; a.rows = -1; expect(a, "rows");
    a = ok; a.vocab = 0; expect(a, "vocab");
    a = ok; a.dim = 0; expect(a, "dim");
    a = ok; a.dim = -5; expect(a, "dim");
    a = ok; a.logits_row_stride = 9; expect(a, "logits_row_stride");
    a = ok; a.logits_dtype = 3; expect(a, "logits_dtype");
    a = ok; a.embedding_dtype = -1; expect(a, "embedding_dtype");
    std::vector<int64_t> bad = c.targets;
    bad[2] = 10;
    a = ok; a.targets = bad.data(); expect(a, "targets[2]");
    bad[2] = -3;
    expect(a, "targets[2] = -3");
    // nothing was written by a rejected call
    std::vector<float> untouched(3, 42.0f);
    a.loss_rows = untouched.data();
    tasft_emd_cpu(&a);
    CHECK(untouched[0] == 42.0f && untouched[1] == 42.0f, "a rejected call wrote loss_rows");
    // a success clears the message
    CHECK(tasft_emd_cpu(&ok) == TASFT_OK && tasft_last_error()[0] == '\0', "message not cleared");
    // Without a GPU the CUDA entry point answers with an error and a message, not a crash. (With one, these host
    // pointers must not be handed to it: the CUDA tests cover that entry point.)
    if (!tasft_cuda_available()) {
        int st = tasft_emd_cuda(&ok);
        CHECK(st != TASFT_OK && tasft_last_error()[0] != '\0', "cuda without device: %d", st);
    }
}

TEST_CASE("empty_rows") {
    tasft_emd_args a{};
    float emb[4] = {1, 0, 0, 1};
    a.rows = 0;
    a.vocab = 2;
    a.dim = 2;
    a.logits_row_stride = 2;
    a.unit_embedding = emb;
    CHECK(tasft_emd_cpu(&a) == TASFT_OK, "rows = 0 with NULL buffers must be accepted: %s", tasft_last_error());
}

// ---------- skipping mode (tasft_emd_cpu_skip) ----------
namespace {

struct SkipRun {
    tt::Outputs out;
    std::vector<float> bound, mass;
};

SkipRun run_cpu_skip(const tt::Case& c, Grad mode, float threshold, bool expected = true) {
    SkipRun r;
    r.out.loss.assign(c.spec.rows, -1.0f);
    r.out.expected.assign(c.spec.rows * c.spec.dim, -1.0f);
    r.bound.assign(c.spec.rows, -1.0f);
    r.mass.assign(c.spec.rows, -1.0f);
    std::vector<unsigned char> logits_copy = c.logits.bytes;
    tasft_emd_args a = base_args(c);
    a.logits = logits_copy.data();
    a.loss_rows = r.out.loss.data();
    a.expected_embedding = expected ? r.out.expected.data() : nullptr;
    if (mode == Grad::NewBuffer) {
        r.out.grad = c.logits.bytes;
        a.grad_logits = r.out.grad.data();
    } else if (mode == Grad::InPlace) {
        a.grad_logits = logits_copy.data();
    }
    tasft_emd_skip sk{};
    sk.threshold = threshold;
    sk.loss_error_bound = r.bound.data();
    sk.skipped_mass = r.mass.data();
    const int st = tasft_emd_cpu_skip(&a, &sk);
    CHECK(st == TASFT_OK, "%s: threshold %g: status %d: %s", c.spec.describe().c_str(), threshold, st,
          tasft_last_error());
    if (mode == Grad::InPlace) r.out.grad = logits_copy;
    return r;
}

}  // namespace

TEST_CASE("skip_threshold_zero") {
    // Threshold 0 is the exact kernel: the same bits, bound and mass 0. A tiny positive threshold runs the skipping
    // code path (LSE pass, then normalised probabilities) and must agree with the oracle at the exact tolerances.
    tt::CaseSpec s;
    s.rows = 37;
    s.vocab = 3001;
    s.dim = 40;
    s.pad = 3;
    s.ignore_fraction = 0.2;
    s.neg_inf_fraction = 0.1;
    s.seed = 900;
    for (int lm_logits = 0; lm_logits < 2; ++lm_logits) {
        tt::Case c = lm_logits ? tt::make_lm_case(s, 2.0) : tt::make_case(s);
        for_each_isa([&] {
            for (Grad mode : {Grad::NewBuffer, Grad::InPlace}) {
                tt::Outputs exact = run_cpu(c, mode);
                SkipRun z = run_cpu_skip(c, mode, 0.0f);
                CHECK(z.out.loss == exact.loss && z.out.expected == exact.expected && z.out.grad == exact.grad,
                      "%s: threshold 0 differs from tasft_emd_cpu", s.describe().c_str());
                for (int64_t n = 0; n < s.rows; ++n)
                    CHECK(z.bound[n] == 0.0f && z.mass[n] == 0.0f, "row %lld: bound %g mass %g at threshold 0",
                          (long long)n, z.bound[n], z.mass[n]);
                SkipRun t = run_cpu_skip(c, mode, 1e-37f);
                if (!lm_logits) tt::compare(c, t.out, true, true);  // (peaked rows: check_skip_result's tolerance)
                tt::check_skip_result(c, t.out, t.bound, t.mass, 1e-37f, true);
            }
        });
    }
}

TEST_CASE("skip_bound") {
    // LM-like peaked logits: the true loss error (against float64) lies within the reported bound, the gradient
    // within the bounds of tasft/emd.h, for thresholds from harmless to brutal; skipping must actually happen.
    struct Shape { int64_t rows, vocab, dim, pad; int ld, ed; double entropy; };
    const Shape shapes[] = {
        {40, 5003, 32, 0, TASFT_FLOAT32, TASFT_FLOAT32, 2.0},
        {19, 20000, 16, 5, TASFT_FLOAT32, TASFT_FLOAT32, 1.0},
        {23, 4099, 70, 2, TASFT_BFLOAT16, TASFT_BFLOAT16, 3.0},
        {9, 3000, 24, 0, TASFT_FLOAT16, TASFT_FLOAT32, 2.0},
    };
    uint64_t seed = 950;
    for (const Shape& sh : shapes) {
        tt::CaseSpec s;
        s.rows = sh.rows;
        s.vocab = sh.vocab;
        s.dim = sh.dim;
        s.pad = sh.pad;
        s.logits_dtype = sh.ld;
        s.embedding_dtype = sh.ed;
        s.ignore_fraction = 0.15;
        s.seed = ++seed;
        tt::Case c = tt::make_lm_case(s, sh.entropy);
        for (float thr : {1e-8f, 1e-6f, 1e-4f, 1e-2f}) {
            for_each_isa([&] {
                SkipRun r = run_cpu_skip(c, thr < 1e-3f ? Grad::InPlace : Grad::NewBuffer, thr);
                const int skipping = tt::check_skip_result(c, r.out, r.bound, r.mass, thr, true);
                if (thr >= 1e-4f)
                    CHECK(skipping > 0, "%s: threshold %g skipped nothing on peaked logits", s.describe().c_str(), thr);
            });
        }
    }
}

TEST_CASE("skip_extreme") {
    // Near one-hot rows (logit scales 1e2-1e4), masked -inf logits, a row of only one finite logit, ignored rows,
    // forward only; a NaN logit still poisons its row (it is never skipped).
    for (double scale : {1e2, 1e4}) {
        tt::CaseSpec s;
        s.rows = 17;
        s.vocab = 1001;
        s.dim = 24;
        s.pad = 1;
        s.logit_scale = scale;
        s.neg_inf_fraction = 0.3;
        s.ignore_fraction = 0.2;
        s.seed = 970 + (uint64_t)scale;
        tt::Case c = tt::make_case(s);
        for (float thr : {1e-6f, 0.5f, 1.0f})
            for_each_isa([&] {
                SkipRun r = run_cpu_skip(c, Grad::NewBuffer, thr);
                tt::check_skip_result(c, r.out, r.bound, r.mass, thr, true);
            });
    }
    {
        tt::CaseSpec s;
        s.rows = 5;
        s.vocab = 700;
        s.dim = 10;
        s.neg_inf_fraction = 1.0;  // one finite logit per row: p one-hot, loss exact, nothing to skip but zeros
        s.seed = 990;
        tt::Case c = tt::make_case(s);
        SkipRun r = run_cpu_skip(c, Grad::InPlace, 1e-3f);
        tt::check_skip_result(c, r.out, r.bound, r.mass, 1e-3f, true);
        for (int64_t n = 0; n < s.rows; ++n) CHECK(r.mass[n] == 0.0f, "one-hot row %lld: mass %g", (long long)n, r.mass[n]);
        SkipRun f = run_cpu_skip(c, Grad::None, 1e-3f, false);
        for (int64_t n = 0; n < s.rows; ++n)
            CHECK(f.out.loss[n] == r.out.loss[n], "forward only: loss[%lld] %g vs %g", (long long)n, f.out.loss[n],
                  r.out.loss[n]);
    }
    {
        tt::CaseSpec s;
        s.rows = 3;
        s.vocab = 2000;
        s.dim = 8;
        s.logit_scale = 30;
        s.seed = 991;
        tt::Case c = tt::make_case(s);
        std::vector<float> z(c.logits.values.begin(), c.logits.values.end());
        z[1 * c.stride + 1999] = std::nanf("");  // deep in the tail of row 1
        c.logits.store(z, TASFT_FLOAT32);
        SkipRun r = run_cpu_skip(c, Grad::NewBuffer, 0.1f);
        CHECK(std::isnan(r.out.loss[1]), "a NaN logit was skipped: loss %g", r.out.loss[1]);
        CHECK(!std::isnan(r.out.loss[0]) && !std::isnan(r.out.loss[2]), "NaN leaked into other rows");
    }
    // All rows ignored: everything 0.
    tt::CaseSpec s;
    s.rows = 6;
    s.vocab = 300;
    s.dim = 5;
    s.ignore_fraction = 1.0;
    tt::Case c = tt::make_case(s);
    SkipRun r = run_cpu_skip(c, Grad::NewBuffer, 1e-4f);
    tt::check_skip_result(c, r.out, r.bound, r.mass, 1e-4f, true);
}

TEST_CASE("skip_bad_arguments") {
    tt::CaseSpec s;
    s.rows = 3;
    s.vocab = 10;
    s.dim = 4;
    tt::Case c = tt::make_case(s);
    std::vector<float> loss(3, 42.0f);
    tasft_emd_args a = base_args(c);
    a.loss_rows = loss.data();
    for (float bad : {-1e-9f, 1.5f, std::nanf(""), INFINITY}) {
        tasft_emd_skip sk{};
        sk.threshold = bad;
        CHECK(tasft_emd_cpu_skip(&a, &sk) == TASFT_INVALID_ARGUMENT, "threshold %g accepted", bad);
        CHECK(std::strstr(tasft_last_error(), "threshold") && std::strstr(tasft_last_error(), "tasft_emd_cpu_skip"),
              "message: %s", tasft_last_error());
    }
    CHECK(loss[0] == 42.0f, "a rejected call wrote loss_rows");
    CHECK(tasft_emd_cpu_skip(&a, nullptr) == TASFT_OK, "skip = NULL: %s", tasft_last_error());
    tasft_emd_args bad = a;
    bad.logits = nullptr;
    tasft_emd_skip sk{};
    sk.threshold = 1e-3f;
    CHECK(tasft_emd_cpu_skip(&bad, &sk) == TASFT_INVALID_ARGUMENT && std::strstr(tasft_last_error(), "logits"),
          "NULL logits: %s", tasft_last_error());
    if (!tasft_cuda_available()) {
        CHECK(tasft_emd_cuda_skip(&a, &sk) != TASFT_OK && tasft_last_error()[0] != '\0', "cuda skip without device");
    }
}

int main(int argc, char** argv) { return tt::run_main(argc, argv); }
