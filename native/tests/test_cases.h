// The shared half of the EMD tests: the case table (tt::cases), the backend interface and the runner that holds every
// backend (tasft_emd_cpu, tasft_emd_cuda, the vocabulary-parallel CPU and CUDA forms) to the float64 oracle, so that a
// test says which cases run where and the run-and-compare loop exists once.
//
// A Backend runs one case on one Variant (an instruction set, a CUDA kernel version, a split of the vocabulary) and
// returns the outputs on the host; check_case runs a case on every variant the backend lists, in each gradient mode.
// Variants are chosen explicitly (tasft_emd_variant), never through the environment.
#ifndef TASFT_TEST_CASES_H
#define TASFT_TEST_CASES_H

#include <initializer_list>
#include <memory>

#include "test_util.h"

namespace tt {

enum class Grad { None, NewBuffer, InPlace };
inline const char* grad_name(Grad g) { return g == Grad::None ? "none" : g == Grad::NewBuffer ? "new buffer" : "in place"; }

// Slice boundaries 0 = b_0 < b_1 < ... < b_K = vocab of the vocabulary-parallel form.
using Cuts = std::vector<int64_t>;

inline std::string describe(const Cuts& cuts) {
    std::string s = "cuts";
    for (size_t i = 0; i < cuts.size() && i < 12; ++i) s += " " + std::to_string(cuts[i]);
    if (cuts.size() > 12) s += " ... (" + std::to_string(cuts.size() - 1) + " slices)";
    return s;
}

// k slices of (nearly) equal width.
inline Cuts equal_cuts(int64_t vocab, int64_t k) {
    Cuts c;
    for (int64_t i = 0; i <= k; ++i) c.push_back(vocab * i / k);
    return c;
}

// Which implementation runs: the kernel variant (all zero = the entry points without a variant) and, for the
// vocabulary-parallel backends, the split.
struct Variant {
    tasft_emd_variant kernel{};
    Cuts cuts;
    bool is_default() const {
        return kernel.cpu_isa == TASFT_CPU_ISA_DEFAULT && kernel.cuda_kernel == TASFT_CUDA_KERNEL_AUTO;
    }
    std::string describe() const {
        static const char* isa[] = {"default isa", "generic", "avx2", "avx512"};
        static const char* cuda[] = {"auto kernel", "v1", "v2", "v3"};
        std::string s = kernel.cuda_kernel ? cuda[kernel.cuda_kernel & 3] : isa[kernel.cpu_isa & 3];
        return cuts.empty() ? s : s + ", " + tt::describe(cuts);
    }
};

// What one call is asked for.
struct RunOptions {
    Grad grad = Grad::NewBuffer;
    bool expected = true;                           // ask for expected_embedding
    float grad_scale = 1.0f;
    float threshold = -1.0f;                        // >= 0: the skipping entry point with this threshold
    const std::vector<int64_t>* targets = nullptr;  // overrides the case's targets (bad-target tests)
    bool async = false;                             // CUDA: the _async entry point (no host-side target check)
    void* stream = nullptr;                         // CUDA: the cudaStream_t (NULL: the legacy default stream)
    bool all_reduce = false;  // vocabulary-parallel: max, rescale, sum, merge of one (else all slices in one merge)
    bool compact = false;     // vocabulary-parallel CPU: each slice copied into its own buffers (else column views)
    bool skip() const { return threshold >= 0.0f; }
};

struct Backend {
    std::string name;
    std::function<std::vector<Variant>()> variants;  // the kernel variants every case runs on
    std::function<Outputs(const Case&, const Variant&, const RunOptions&)> run;
    // Vocabulary-parallel backends: the unsplit kernel on the same kernel variant, which each split must also match
    // within `unsplit_tol` (tighter than the oracle's where the arithmetic is the same).
    std::function<Outputs(const Case&, const Variant&, const RunOptions&)> unsplit;
    Tolerance unsplit_tol;
};

// How check_case runs a case.
struct Check {
    std::vector<Grad> grads = {Grad::NewBuffer, Grad::InPlace};
    RunOptions base;              // everything but the gradient mode
    Tolerance tol;                // against the oracle
    std::vector<Cuts> splits;     // vocabulary-parallel backends: the splits, each run on every kernel variant
    bool vs_unsplit = true;       // vocabulary-parallel backends: also hold each split to the unsplit kernel
};

// Runs the case on every variant of the backend (crossed with the splits), in each gradient mode, and holds each
// result to the float64 oracle (gradients times grad_scale) and, for a split, to the unsplit kernel. A failure names
// the backend, the variant and the mode.
inline void check_case(const Backend& b, const Case& c, const Check& k = Check()) {
    for (const Variant& kernel : b.variants()) {
        std::vector<Variant> runs;
        if (k.splits.empty()) runs.push_back(kernel);
        for (const Cuts& cuts : k.splits) {
            runs.push_back(kernel);
            runs.back().cuts = cuts;
        }
        std::unique_ptr<Case> whole;  // the case with the unsplit kernel's results, made once per kernel variant
        for (const Variant& v : runs)
            for (Grad g : k.grads) {
                RunOptions o = k.base;
                o.grad = g;
                try {
                    const Outputs out = b.run(c, v, o);
                    compare(c, out, g != Grad::None, o.expected, k.tol, o.grad_scale);
                    if (v.cuts.empty() || !b.unsplit || !k.vs_unsplit) continue;
                    if (!whole) {
                        RunOptions w = o;
                        w.grad = Grad::NewBuffer;
                        w.expected = true;
                        whole = std::make_unique<Case>(with_expected_from(c, b.unsplit(c, kernel, w)));
                    }
                    compare(*whole, out, g != Grad::None, o.expected, b.unsplit_tol);
                } catch (const Failure& e) {
                    throw Failure(b.name + " " + v.describe() + ", gradient " + grad_name(g) + ": " + e.what());
                }
            }
    }
}

inline void check_cases(const Backend& b, const std::vector<CaseSpec>& specs, const Check& k = Check()) {
    for (const CaseSpec& s : specs) check_case(b, make_case(s), k);
}

// A vocabulary-parallel backend on each split, with the gradient written both ways.
inline void check_splits(const Backend& b, const Case& c, const std::vector<Cuts>& splits,
                         const RunOptions& base = RunOptions(), bool vs_unsplit = true) {
    Check k;
    k.splits = splits;
    k.base = base;
    k.vs_unsplit = vs_unsplit;
    check_case(b, c, k);
}

inline Variant split_variant(const Cuts& cuts) {
    Variant v;
    v.cuts = cuts;
    return v;
}

// Every row ignored: loss and expected embedding exactly 0 (and the gradient 0, which check_case holds to the oracle).
inline void check_all_ignored(const Backend& b, const Case& c) {
    for (const Variant& v : b.variants()) {
        const Outputs o = b.run(c, v, RunOptions());
        for (int64_t n = 0; n < c.spec.rows; ++n)
            CHECK(o.loss[n] == 0.0f, "%s %s: loss[%lld] = %g", b.name.c_str(), v.describe().c_str(), (long long)n,
                  o.loss[n]);
        for (size_t i = 0; i < o.expected.size(); ++i)
            CHECK(o.expected[i] == 0.0f, "%s %s: expected_embedding[%zu] = %g", b.name.c_str(), v.describe().c_str(), i,
                  o.expected[i]);
    }
    check_case(b, c);
}

// In place, the very bits of the gradient written to a new buffer (the same arithmetic in the same order) in the
// first vocab columns (the padding holds other NaN sentinels in the two buffers; compare checks it), and the same
// losses; then grad_scale (a power of two, so the scaled oracle is exact) without expected_embedding.
inline void check_in_place(const Backend& b, const Case& c) {
    const auto& s = c.spec;
    const size_t es = dsize(s.logits_dtype);
    for (const Variant& v : b.variants()) {
        RunOptions o;
        const Outputs a = b.run(c, v, o);
        o.grad = Grad::InPlace;
        const Outputs in_place = b.run(c, v, o);
        for (int64_t n = 0; n < s.rows; ++n)
            CHECK(std::memcmp(&a.grad[(size_t)(n * c.stride) * es], &in_place.grad[(size_t)(n * c.stride) * es],
                              (size_t)s.vocab * es) == 0,
                  "%s %s: %s: row %lld: the in-place gradient differs from the one written to a new buffer",
                  b.name.c_str(), v.describe().c_str(), s.describe().c_str(), (long long)n);
        CHECK(a.loss == in_place.loss, "%s %s: %s: in-place loss differs", b.name.c_str(), v.describe().c_str(),
              s.describe().c_str());
        compare(c, in_place, true, true);
        o.grad_scale = 0.5f;
        o.expected = false;
        compare(c, b.run(c, v, o), true, false, Tolerance(), 0.5);
    }
}

// Threshold 0 of the skipping mode is the exact kernel: the same bits, bound and mass 0, on every variant.
inline void check_threshold_zero(const Backend& b, const Case& c, std::initializer_list<Grad> grads) {
    for (const Variant& v : b.variants())
        for (Grad g : grads) {
            RunOptions o;
            o.grad = g;
            const Outputs exact = b.run(c, v, o);
            o.threshold = 0.0f;
            const Outputs z = b.run(c, v, o);
            CHECK(z.loss == exact.loss && z.expected == exact.expected && z.grad == exact.grad,
                  "%s %s: %s: threshold 0 differs from the exact entry point", b.name.c_str(), v.describe().c_str(),
                  c.spec.describe().c_str());
            for (int64_t n = 0; n < c.spec.rows; ++n)
                CHECK(z.bound[n] == 0.0f && z.mass[n] == 0.0f, "%s %s: row %lld: bound %g mass %g at threshold 0",
                      b.name.c_str(), v.describe().c_str(), (long long)n, z.bound[n], z.mass[n]);
        }
}

// The skipping mode (o.threshold) against the oracle with the bounds of tasft/emd.h, on every variant; on peaked
// logits (`peaked`), some row must actually skip from a threshold of 1e-4 on. Fails naming the variant.
inline void check_skip(const Backend& b, const Case& c, const RunOptions& o, bool peaked = true,
                       const ExtraTol& extra = ExtraTol()) {
    for (const Variant& v : b.variants()) {
        const Outputs r = b.run(c, v, o);
        try {
            const int skipping = check_skip_result(c, r, r.bound, r.mass, o.threshold, o.grad != Grad::None, extra);
            if (peaked && o.threshold >= 1e-4f)
                CHECK(skipping > 0, "%s: threshold %g skipped nothing on peaked logits", c.spec.describe().c_str(),
                      o.threshold);
        } catch (const Failure& e) {
            throw Failure(b.name + " " + v.describe() + ": " + e.what());
        }
    }
}

// Argument errors every tasft_emd_args entry point must refuse, naming the argument in its message.
struct BadArgument {
    const char* needle;                  // what the message must contain
    void (*apply)(tasft_emd_args& a);    // breaks a valid argument struct
};
inline const std::vector<BadArgument>& bad_arguments() {
    static const std::vector<BadArgument> table = {
        {"logits", [](tasft_emd_args& a) { a.logits = nullptr; }},
        {"unit_embedding", [](tasft_emd_args& a) { a.unit_embedding = nullptr; }},
        {"targets", [](tasft_emd_args& a) { a.targets = nullptr; }},
        {"loss_rows", [](tasft_emd_args& a) { a.loss_rows = nullptr; }},
        {"rows", [](tasft_emd_args& a) { a.rows = -1; }},
        {"vocab", [](tasft_emd_args& a) { a.vocab = 0; }},
        {"dim", [](tasft_emd_args& a) { a.dim = 0; }},
        {"dim", [](tasft_emd_args& a) { a.dim = -5; }},
        {"logits_row_stride", [](tasft_emd_args& a) { a.logits_row_stride = a.vocab - 1; }},
        {"logits_dtype", [](tasft_emd_args& a) { a.logits_dtype = 3; }},
        {"embedding_dtype", [](tasft_emd_args& a) { a.embedding_dtype = -1; }},
    };
    return table;
}

// Out-of-range variant fields: INVALID_ARGUMENT naming the field, from every _variant entry point.
inline const std::vector<std::pair<tasft_emd_variant, const char*>>& bad_variants() {
    static const std::vector<std::pair<tasft_emd_variant, const char*>> table = {
        {{4, 0}, "cpu_isa 4"}, {{-1, 0}, "cpu_isa -1"}, {{0, 4}, "cuda_kernel 4"}, {{0, -2}, "cuda_kernel -2"}};
    return table;
}

// ---------- the case table: each family once, for every backend that runs it ----------
namespace cases {

struct Shape {
    int64_t rows, vocab, dim;
};

// One case per shape on `base`, seeds seed0 + 1, seed0 + 2, ...
inline std::vector<CaseSpec> shapes(std::initializer_list<Shape> list, CaseSpec base, uint64_t seed0) {
    std::vector<CaseSpec> out;
    for (const Shape& sh : list) {
        CaseSpec s = base;
        s.rows = sh.rows;
        s.vocab = sh.vocab;
        s.dim = sh.dim;
        s.seed = ++seed0;
        out.push_back(s);
    }
    return out;
}

// Embedding widths around the kernels' vector and block sizes (vocabulary 777, 301 above 1000 dimensions).
inline std::vector<CaseSpec> dims(std::initializer_list<int64_t> list, int64_t rows, double ignore, uint64_t seed0) {
    std::vector<CaseSpec> out;
    for (int64_t d : list) out.push_back(spec(rows, d > 1000 ? 301 : 777, d).with_ignore(ignore).with_seed(++seed0));
    return out;
}

// Every pair of logits and embedding dtypes, padded rows, ignored rows, a few masked logits.
inline std::vector<CaseSpec> dtypes(uint64_t seed0 = 400) {
    std::vector<CaseSpec> out;
    for (int ld : {TASFT_FLOAT32, TASFT_BFLOAT16, TASFT_FLOAT16})
        for (int ed : {TASFT_FLOAT32, TASFT_BFLOAT16, TASFT_FLOAT16})
            out.push_back(spec(19, 1003, 36).with_pad(5).with_dtypes(ld, ed).with_ignore(0.1).with_neg_inf(0.05)
                              .with_seed(seed0 + ld * 3 + ed));
    return out;
}

// Row strides past the vocabulary: the padding columns hold NaN and must never be read or written.
inline std::vector<CaseSpec> padded(std::initializer_list<int64_t> pads, std::initializer_list<int> logits_dtypes) {
    std::vector<CaseSpec> out;
    for (int64_t pad : pads)
        for (int ld : logits_dtypes)
            out.push_back(spec(11, 517, 20).with_pad(pad).with_dtypes(ld, TASFT_FLOAT32).with_ignore(0.2)
                              .with_seed(200 + pad + ld));
    return out;
}

// Logit scales 1e2 to 1e4: exp underflows for most of the vocabulary, rows are near one-hot.
inline std::vector<CaseSpec> large_scales(std::initializer_list<int> logits_dtypes, uint64_t seed0 = 0) {
    std::vector<CaseSpec> out;
    for (double scale : {1e2, 1e3, 1e4})
        for (int ld : logits_dtypes)
            out.push_back(spec(17, 1001, 24).with_scale(scale).with_dtypes(ld, TASFT_FLOAT32)
                              .with_seed(seed0 + (uint64_t)scale + ld));
    return out;
}

// -inf masked logits, up to rows with a single finite logit (p one-hot), at an ordinary and a large scale.
inline std::vector<CaseSpec> masked() {
    std::vector<CaseSpec> out;
    for (double frac : {0.3, 0.99, 1.0})
        for (double scale : {3.0, 1e3})
            out.push_back(spec(23, 700, 10).with_pad(2).with_neg_inf(frac).with_scale(scale).with_ignore(0.1)
                              .with_seed(300 + (uint64_t)(frac * 100) + (uint64_t)scale));
    return out;
}

// The only finite logits of row n are [1500 + n, 1510 + n]: whole tiles, blocks and slices of -inf around them.
inline Case masked_window(int logits_dtype, uint64_t seed = 1) {
    Case c = make_case(spec(4, 2000, 8).with_dtypes(logits_dtype, TASFT_FLOAT32).with_seed(seed));
    std::vector<float> z(c.logits.values.begin(), c.logits.values.end());
    for (int64_t n = 0; n < c.spec.rows; ++n)
        for (int64_t v = 0; v < c.spec.vocab; ++v)
            if (v < 1500 + n || v > 1510 + n) z[n * c.stride + v] = -INFINITY;
    c.logits.store(z, logits_dtype);
    refresh_expected(c);
    return c;
}

// Every row ignored (loss, gradient and expected embedding 0), padded.
inline CaseSpec all_ignored(uint64_t seed = 1) { return spec(20, 333, 12).with_pad(4).with_ignore(1.0).with_seed(seed); }

// The case with every target set to 5 and 5 as the ignore index: an ignore index that is also a token id.
inline Case ignore_index_5(Case c) {
    for (auto& t : c.targets) t = 5;
    c.ignore_index = 5;
    refresh_expected(c);
    return c;
}

// A mid-sized case with many ignored rows, for in-place and recipe checks.
inline CaseSpec in_place(int logits_dtype) {
    return spec(31, 2049, 48).with_pad(3).with_dtypes(logits_dtype, TASFT_FLOAT32).with_ignore(0.25)
        .with_seed(500 + logits_dtype);
}

// The PyTorch-made golden cases (src/test/resources/fixtures/emd/cases.safetensors): raw embedding rows made unit-norm
// by the library's helper, the oracle checked against PyTorch's float64 autograd, then PyTorch's results as expected.
inline std::vector<Case> golden(const std::string& path) {
    auto f = read_safetensors(path);
    std::vector<Case> out;
    for (int k = 0; k < 5; ++k) {
        const std::string p = "case" + std::to_string(k) + ".";
        const Tensor& L = f.at(p + "logits");
        const Tensor& E = f.at(p + "embedding");
        CHECK(L.dtype == "F32" && E.dtype == "F32" && L.shape.size() == 2 && E.shape.size() == 2 &&
                  L.shape[1] == E.shape[0],
              "unexpected fixture layout for case %d", k);
        ++counts().cases;
        Case c;
        c.spec = spec(L.shape[0], L.shape[1], E.shape[1]).with_seed(1000 + k);  // the seed only shows in messages
        c.stride = c.spec.vocab;
        std::vector<float> lf(L.data.size() / 4), ef(E.data.size() / 4), unit(ef.size());
        std::memcpy(lf.data(), L.data.data(), L.data.size());
        std::memcpy(ef.data(), E.data.data(), E.data.size());
        CHECK(tasft_normalize_rows_cpu(ef.data(), unit.data(), TASFT_FLOAT32, c.spec.vocab, c.spec.dim) == TASFT_OK,
              "%s", tasft_last_error());
        c.logits.store(lf, TASFT_FLOAT32);
        c.embedding.store(unit, TASFT_FLOAT32);
        for (double t : f.at(p + "targets").as_double()) c.targets.push_back((int64_t)t);
        // The oracle must agree with PyTorch's float64 autograd (up to our fp32 normalisation of the embedding);
        // it also supplies the softmax for the tolerances of compare().
        refresh_expected(c);
        const std::vector<double> golden_loss = f.at(p + "loss_rows").as_double();
        for (int64_t n = 0; n < c.spec.rows; ++n)
            CHECK(std::fabs(c.expected.loss[n] - golden_loss[n]) <= 1e-6 * golden_loss[n] + 1e-9,
                  "oracle disagrees with golden case %d row %lld: %.12g vs %.12g", k, (long long)n,
                  c.expected.loss[n], golden_loss[n]);
        c.expected.loss = golden_loss;
        c.expected.grad = f.at(p + "grad_logits").as_double();
        c.expected.expected = f.at(p + "expected_embedding").as_double();
        out.push_back(std::move(c));
    }
    return out;
}

}  // namespace cases

// ---------- the CPU backend (also the reference the CUDA and vocabulary-parallel tests compare with) ----------

// Every instruction set this CPU has, named explicitly (tasft_emd_cpu_variant).
inline std::vector<Variant> cpu_variants() {
    std::vector<Variant> out;
    for (int isa : {TASFT_CPU_ISA_GENERIC, TASFT_CPU_ISA_AVX2, TASFT_CPU_ISA_AVX512})
        if (tasft_cpu_isa_available(isa)) {
            out.emplace_back();
            out.back().kernel.cpu_isa = isa;
        }
    return out;
}

// tasft_emd_cpu / _skip (default variant) or tasft_emd_cpu_variant on host copies of the case's buffers. Outputs
// start as -1 (the gradient as a copy of the logits, NaN padding included) so that anything unwritten shows.
inline Outputs run_cpu(const Case& c, const Variant& v, const RunOptions& o) {
    const int64_t rows = c.spec.rows;
    Outputs out;
    out.loss.assign(rows, -1.0f);
    out.expected.assign(rows * c.spec.dim, -1.0f);
    out.bound.assign(rows, -1.0f);
    out.mass.assign(rows, -1.0f);
    std::vector<unsigned char> logits = c.logits.bytes;  // in-place mode overwrites it
    tasft_emd_args a = shape_args(c);
    a.logits = logits.data();
    a.unit_embedding = c.embedding.bytes.data();
    a.targets = o.targets ? o.targets->data() : c.targets.data();
    a.loss_rows = out.loss.data();
    a.expected_embedding = o.expected ? out.expected.data() : nullptr;
    a.grad_scale = o.grad_scale;
    if (o.grad == Grad::NewBuffer) out.grad = c.logits.bytes;
    a.grad_logits = o.grad == Grad::NewBuffer ? (void*)out.grad.data() : o.grad == Grad::InPlace ? logits.data() : nullptr;
    tasft_emd_skip sk{};
    sk.threshold = o.threshold;
    sk.loss_error_bound = out.bound.data();
    sk.skipped_mass = out.mass.data();
    const int st = !v.is_default() ? tasft_emd_cpu_variant(&a, o.skip() ? &sk : nullptr, &v.kernel)
                   : o.skip()      ? tasft_emd_cpu_skip(&a, &sk)
                                   : tasft_emd_cpu(&a);
    CHECK(st == TASFT_OK, "%s: %s: status %d: %s", c.spec.describe().c_str(), v.describe().c_str(), st,
          tasft_last_error());
    if (o.grad == Grad::InPlace) out.grad = logits;
    if (o.grad == Grad::None)
        CHECK(logits == c.logits.bytes, "%s: a forward-only call modified the logits", c.spec.describe().c_str());
    if (!o.expected)
        for (float x : out.expected) CHECK(x == -1.0f, "expected_embedding written although NULL was passed");
    return out;
}

inline const Backend& cpu_backend() {
    static const Backend b{"cpu", cpu_variants, run_cpu, nullptr, Tolerance()};
    return b;
}

}  // namespace tt

#endif
