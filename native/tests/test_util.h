// A small test harness shared by the native tests: registration, checks, random cases, the golden fixture reader.
#ifndef TASFT_TEST_UTIL_H
#define TASFT_TEST_UTIL_H

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "emd_reference.h"
#include "lm_logits.h"
#include "tasft/emd.h"

namespace tt {

// ---------- registration and checks ----------
struct Test {
    const char* name;
    std::function<void()> fn;
};
inline std::vector<Test>& registry() {
    static std::vector<Test> r;
    return r;
}
struct Register {
    Register(const char* n, std::function<void()> f) { registry().push_back({n, std::move(f)}); }
};
#define TT_CAT2(a, b) a##b
#define TT_CAT(a, b) TT_CAT2(a, b)
#define TEST_CASE(name)                                           \
    static void TT_CAT(test_fn_, __LINE__)();                     \
    static tt::Register TT_CAT(test_reg_, __LINE__)(name, TT_CAT(test_fn_, __LINE__)); \
    static void TT_CAT(test_fn_, __LINE__)()

struct Failure : std::runtime_error {
    using std::runtime_error::runtime_error;
};
// Thrown by a test that cannot run here (no GPU): counted as skipped, not passed.
struct Skipped : std::runtime_error {
    using std::runtime_error::runtime_error;
};

#define CHECK(cond, ...)                                                              \
    do {                                                                              \
        if (!(cond)) {                                                                \
            char tt_buf[768];                                                         \
            std::snprintf(tt_buf, sizeof tt_buf, __VA_ARGS__);                        \
            throw tt::Failure(std::string(__FILE__ ":") + std::to_string(__LINE__) + \
                              ": " #cond ": " + tt_buf);                              \
        }                                                                             \
    } while (0)

// What a test did, for its PASS line: cases made (make_case, make_lm_case, golden) and outputs checked (compare,
// check_skip_result), so a refactoring can show that it kept every case.
struct Counts {
    int cases = 0, checks = 0;
};
inline Counts& counts() {
    static Counts c;
    return c;
}

// Runs the test named argv[1] (or every test); prints one line per test and a count. Exit code 0 = no failure.
inline int run_main(int argc, char** argv) {
    int passed = 0, failed = 0, skipped = 0;
    for (auto& t : registry()) {
        if (argc > 1 && std::strcmp(argv[1], t.name) != 0) continue;
        try {
            counts() = Counts();
            t.fn();
            std::printf("PASS %s (%d cases, %d checks)\n", t.name, counts().cases, counts().checks);
            ++passed;
        } catch (const Skipped& e) {
            std::printf("SKIP %s: %s\n", t.name, e.what());
            ++skipped;
        } catch (const std::exception& e) {
            std::printf("FAIL %s: %s\n", t.name, e.what());
            ++failed;
        }
    }
    if (argc > 1 && passed + failed + skipped == 0) {
        std::printf("no test named %s\n", argv[1]);
        return 2;
    }
    std::printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    std::fflush(stdout);
    return failed ? 1 : 0;
}

// ---------- dtype helpers (test side, independent of the library's own) ----------
inline uint16_t to_bf16(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return 0x7fc0;
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}
inline float from_bf16(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}
inline uint16_t to_fp16(float f) {
    _Float16 h = (_Float16)f;
    uint16_t u;
    std::memcpy(&u, &h, 2);
    return u;
}
inline float from_fp16(uint16_t u) {
    _Float16 h;
    std::memcpy(&h, &u, 2);
    return (float)h;
}
inline size_t dsize(int dtype) { return dtype == TASFT_FLOAT32 ? 4 : 2; }
inline const char* dname(int dtype) {
    return dtype == TASFT_FLOAT32 ? "f32" : dtype == TASFT_BFLOAT16 ? "bf16" : "f16";
}

// Typed storage: `bytes` holds the values in `dtype`; `values` the same values read back as double.
struct Buffer {
    int dtype = TASFT_FLOAT32;
    std::vector<unsigned char> bytes;
    std::vector<double> values;
    void store(const std::vector<float>& src, int dt) {
        dtype = dt;
        bytes.assign(src.size() * dsize(dt), 0);
        values.resize(src.size());
        for (size_t i = 0; i < src.size(); ++i) {
            if (dt == TASFT_FLOAT32) {
                std::memcpy(&bytes[i * 4], &src[i], 4);
                values[i] = src[i];
            } else {
                uint16_t h = dt == TASFT_BFLOAT16 ? to_bf16(src[i]) : to_fp16(src[i]);
                std::memcpy(&bytes[i * 2], &h, 2);
                values[i] = dt == TASFT_BFLOAT16 ? from_bf16(h) : from_fp16(h);
            }
        }
    }
};
inline double read_value(const void* base, int dtype, size_t i) {
    if (dtype == TASFT_FLOAT32) return static_cast<const float*>(base)[i];
    uint16_t h = static_cast<const uint16_t*>(base)[i];
    return dtype == TASFT_BFLOAT16 ? from_bf16(h) : from_fp16(h);
}

// ---------- random cases ----------
struct CaseSpec {
    int64_t rows = 4, vocab = 50, dim = 8, pad = 0;  // row stride = vocab + pad
    int logits_dtype = TASFT_FLOAT32, embedding_dtype = TASFT_FLOAT32;
    double logit_scale = 3.0;
    double ignore_fraction = 0.0;
    double neg_inf_fraction = 0.0;  // fraction of logits set to -inf (never the whole row)
    uint64_t seed = 1;
    // Chainable setters, so a case table reads as one line per case.
    CaseSpec& with_pad(int64_t p) { pad = p; return *this; }
    CaseSpec& with_dtypes(int logits, int embedding) { logits_dtype = logits; embedding_dtype = embedding; return *this; }
    CaseSpec& with_scale(double s) { logit_scale = s; return *this; }
    CaseSpec& with_ignore(double f) { ignore_fraction = f; return *this; }
    CaseSpec& with_neg_inf(double f) { neg_inf_fraction = f; return *this; }
    CaseSpec& with_seed(uint64_t s) { seed = s; return *this; }
    std::string describe() const {
        std::ostringstream s;
        s << "N=" << rows << " V=" << vocab << " D=" << dim << " pad=" << pad << " logits=" << dname(logits_dtype)
          << " emb=" << dname(embedding_dtype) << " scale=" << logit_scale << " ignore=" << ignore_fraction
          << " -inf=" << neg_inf_fraction << " seed=" << seed;
        return s.str();
    }
};

inline CaseSpec spec(int64_t rows, int64_t vocab, int64_t dim) {
    CaseSpec s;
    s.rows = rows;
    s.vocab = vocab;
    s.dim = dim;
    return s;
}

struct Case {
    CaseSpec spec;
    int64_t stride;
    Buffer logits, embedding;  // logits padded columns hold a sentinel (NaN) that must never be read
    std::vector<int64_t> targets;
    int64_t ignore_index = -100;
    ref::Result expected;
};

// The oracle's result for the case's (rounded) inputs, after a test changed its logits, targets or ignore index.
inline void refresh_expected(Case& c) {
    c.expected = ref::emd(c.logits.values, c.spec.rows, c.spec.vocab, c.stride, c.embedding.values, c.spec.dim,
                          c.targets, c.ignore_index);
}

inline Case make_case(const CaseSpec& s) {
    ++counts().cases;
    Case c;
    c.spec = s;
    c.stride = s.vocab + s.pad;
    std::mt19937_64 rng(s.seed);
    std::normal_distribution<float> normal(0.f, 1.f);
    std::uniform_real_distribution<double> unif(0.0, 1.0);
    std::vector<float> z(s.rows * c.stride);
    for (int64_t n = 0; n < s.rows; ++n) {
        int64_t keep = (int64_t)(unif(rng) * s.vocab);  // one column that always stays finite
        for (int64_t v = 0; v < c.stride; ++v) {
            float& x = z[n * c.stride + v];
            if (v >= s.vocab) x = std::nanf("");  // padding: reading it would poison the row
            else if (v != keep && unif(rng) < s.neg_inf_fraction) x = -INFINITY;
            else x = (float)(s.logit_scale * normal(rng));
        }
    }
    c.logits.store(z, s.logits_dtype);
    std::vector<float> e(s.vocab * s.dim);
    for (int64_t v = 0; v < s.vocab; ++v) {
        double norm = 0;
        for (int64_t d = 0; d < s.dim; ++d) {
            e[v * s.dim + d] = normal(rng);
            norm += (double)e[v * s.dim + d] * e[v * s.dim + d];
        }
        for (int64_t d = 0; d < s.dim; ++d) e[v * s.dim + d] = (float)(e[v * s.dim + d] / std::sqrt(norm));
    }
    c.embedding.store(e, s.embedding_dtype);
    std::uniform_int_distribution<int64_t> tok(0, s.vocab - 1);
    c.targets.resize(s.rows);
    for (int64_t n = 0; n < s.rows; ++n) c.targets[n] = unif(rng) < s.ignore_fraction ? c.ignore_index : tok(rng);
    refresh_expected(c);
    return c;
}

// A case with LM-like peaked logits (lm_logits.h; mean entropy `entropy` nats) instead of Gaussian ones; the
// embedding, padding sentinels and ignored rows as in make_case.
inline Case make_lm_case(const CaseSpec& s, double entropy) {
    Case c = make_case(s);  // embedding, NaN padding and the ignored rows
    lm::Params p;
    p.seed = s.seed;
    lm::calibrate_temperature(p, s.vocab, entropy, 4);
    std::vector<float> z(c.logits.values.size());
    for (int64_t n = 0; n < s.rows; ++n)
        for (int64_t v = 0; v < c.stride; ++v)
            z[n * c.stride + v] = v < s.vocab ? (float)lm::logit(p, n, v, s.vocab) : std::nanf("");
    c.logits.store(z, s.logits_dtype);
    for (int64_t n = 0; n < s.rows; ++n)
        if (c.targets[n] != c.ignore_index) c.targets[n] = lm::target(p, n, s.vocab);
    refresh_expected(c);
    return c;
}

// The case's sizes, dtypes and ignore index as kernel arguments; no buffer pointers (host or device is the
// caller's business), grad_scale 1.
inline tasft_emd_args shape_args(const Case& c) {
    tasft_emd_args a{};
    a.logits_dtype = c.logits.dtype;
    a.rows = c.spec.rows;
    a.vocab = c.spec.vocab;
    a.logits_row_stride = c.stride;
    a.embedding_dtype = c.embedding.dtype;
    a.dim = c.spec.dim;
    a.ignore_index = c.ignore_index;
    a.grad_scale = 1.0f;
    return a;
}

// ---------- comparison ----------
struct Outputs {
    std::vector<float> loss;
    std::vector<unsigned char> grad;  // [rows, stride] in logits dtype (may alias the logits copy)
    std::vector<float> expected;
    std::vector<float> bound, mass;   // skipping mode: loss_error_bound, skipped_mass
};

// How far a kernel's outputs may be from what compare() holds them to. The defaults are the float64 oracle's:
// losses and expected embeddings are fp32 outputs, so they are held to fp32 accuracy whatever the input dtype (the
// reference sees the same rounded inputs); gradients are stored in the logits dtype. dz_v = 2 p_v (r.e_v - r.u)
// subtracts two dot products that are nearly equal where p_v ~ 1, so any fp32 computation (PyTorch's too) has an
// absolute error of about 2 p_v |r| sqrt(D) eps: `cancel` is that eps (16 of fp32's).
struct Tolerance {
    double loss_rel = 2e-5, loss_abs = 1e-6;
    double expected_rel = 2e-5, expected_abs = 2e-6;
    double grad_f32 = 2e-5, grad_f16 = 2e-3, grad_bf16 = 1.6e-2;  // relative, by logits dtype
    double cancel = 1e-6;
    double row_max = 0;      // + row_max * max_v |want_v| of the row (one implementation against another)
    double grad_abs = 1e-12;  // floor; fp16 gradients below its smallest normal get one subnormal step (6e-8) instead
    double* worst = nullptr;  // where to keep the largest deviation seen, as a fraction of its tolerance (or NULL)

    double grad_rel(int dtype) const {
        return dtype == TASFT_FLOAT32 ? grad_f32 : dtype == TASFT_FLOAT16 ? grad_f16 : grad_bf16;
    }
    // Against the oracle, with another loss tolerance (the golden cases hold the loss to 1e-5).
    static Tolerance oracle(double loss_rel = 2e-5) {
        Tolerance t;
        t.loss_rel = loss_rel;
        return t;
    }
    // The same fp32 math summed in another order (the vocabulary-parallel split against the unsplit kernel: u in
    // float sums per slice and a double merge there, one float sum over the whole vocabulary here): a quarter of the
    // oracle's tolerances, 16-bit gradients to one unit in the last place of the dtype.
    static Tolerance same_math() {
        Tolerance t;
        t.loss_rel = t.expected_rel = t.grad_f32 = 5e-6;
        t.loss_abs = 1e-7;
        t.expected_abs = 5e-7;
        t.grad_f16 = 1e-3;
        t.grad_bf16 = 8e-3;
        t.cancel = 5e-7;
        t.grad_abs = 1e-30;
        return t;
    }
};
inline double grad_tolerance(int dtype) { return Tolerance().grad_rel(dtype); }

// Holds `out` to the case's expected values (c.expected: the oracle's, or another implementation's), gradients
// times grad_scale, within `tol`; the padding columns of the gradient must still hold their NaN sentinels.
inline void compare(const Case& c, const Outputs& out, bool check_grad, bool check_expected,
                    const Tolerance& tol = Tolerance(), double grad_scale = 1.0) {
    ++counts().checks;
    const auto& s = c.spec;
    auto within = [&](double x, double want, double allowed) {
        if (tol.worst && allowed > 0) *tol.worst = std::max(*tol.worst, std::fabs(x - want) / allowed);
        return std::fabs(x - want) <= allowed;
    };
    for (int64_t n = 0; n < s.rows; ++n) {
        const bool ignored = c.targets[n] == c.ignore_index;
        double want = c.expected.loss[n], got = out.loss[n];
        CHECK(within(got, want, tol.loss_rel * std::fabs(want) + tol.loss_abs), "%s: loss[%lld] = %.9g, want %.9g",
              s.describe().c_str(), (long long)n, got, want);
        if (check_expected)
            for (int64_t d = 0; d < s.dim; ++d) {
                double w = ignored ? 0.0 : c.expected.expected[n * s.dim + d], g = out.expected[n * s.dim + d];
                CHECK(within(g, w, tol.expected_rel * std::fabs(w) + tol.expected_abs),
                      "%s: expected_embedding[%lld,%lld] = %.9g, want %.9g", s.describe().c_str(), (long long)n,
                      (long long)d, g, w);
            }
        if (!check_grad) continue;
        const double rel = tol.grad_rel(s.logits_dtype);
        const double cancel = 2.0 * c.expected.rnorm.at(n) * std::sqrt((double)s.dim) * tol.cancel *
                              std::max(1.0, std::fabs(grad_scale));
        const double floor_abs = s.logits_dtype == TASFT_FLOAT16 ? 6e-8 : tol.grad_abs;
        double row_max = 0;
        if (tol.row_max > 0)
            for (int64_t v = 0; v < s.vocab; ++v)
                row_max = std::max(row_max, std::fabs(grad_scale * c.expected.grad[n * s.vocab + v]));
        for (int64_t v = 0; v < c.stride; ++v) {
            double g = read_value(out.grad.data(), s.logits_dtype, n * c.stride + v);
            if (v >= s.vocab) {  // padding must be left untouched (still the NaN sentinel)
                CHECK(std::isnan(g), "%s: padding column grad[%lld,%lld] was written", s.describe().c_str(),
                      (long long)n, (long long)v);
                continue;
            }
            double w = grad_scale * c.expected.grad[n * s.vocab + v];
            const double p = c.expected.prob.empty() ? 1.0 : c.expected.prob[n * s.vocab + v];
            CHECK(within(g, w, rel * std::fabs(w) + cancel * p + tol.row_max * row_max + floor_abs),
                  "%s: grad[%lld,%lld] = %.9g, want %.9g (p %.3g)", s.describe().c_str(), (long long)n,
                  (long long)v, g, w, p);
        }
    }
}

// The case with another implementation's outputs in the oracle's place (for compare against that implementation);
// the oracle's probabilities and |r| stay, for the tolerances.
inline Case with_expected_from(const Case& c, const Outputs& other) {
    Case u = c;
    const auto& s = c.spec;
    for (int64_t n = 0; n < s.rows; ++n) u.expected.loss[n] = other.loss[n];
    if (!other.expected.empty())
        for (int64_t i = 0; i < s.rows * s.dim; ++i) u.expected.expected[i] = other.expected[i];
    if (!other.grad.empty())
        for (int64_t n = 0; n < s.rows; ++n)
            for (int64_t v = 0; v < s.vocab; ++v)
                u.expected.grad[n * s.vocab + v] = read_value(other.grad.data(), s.logits_dtype, n * c.stride + v);
    return u;
}

// Checks a skipping-mode result against the float64 oracle with the bounds derived in tasft/emd.h: the loss error
// within the reported bound (plus the exact kernel's fp32 tolerance), the skipped mass at most the oracle's total
// mass below the threshold, the gradient within the kept/skipped bounds. Returns the number of rows that skipped
// something, so callers can insist that skipping happened.
// Extra allowances for kernels that round to bf16 for tensor-core GEMMs (CUDA v2, derived in test_emd_cuda.cpp),
// added on top of the fp32 ones; zero for fp32 kernels. tail = 1 - p_y (the oracle's), |r| the oracle's.
struct ExtraTol {
    double loss_r_tail = 0, loss_tail2 = 0;  // loss: + loss_r_tail * |r| * tail + loss_tail2 * tail^2
    double grad_p = 0;                       // gradient: + grad_p * p_v * (|r| + tail)
};

inline int check_skip_result(const Case& c, const Outputs& out, const std::vector<float>& bound,
                             const std::vector<float>& mass, float threshold, bool check_grad,
                             const ExtraTol& extra = ExtraTol()) {
    ++counts().checks;
    const auto& s = c.spec;
    int rows_skipping = 0;
    for (int64_t n = 0; n < s.rows; ++n) {
        const bool ignored = c.targets[n] == c.ignore_index;
        const double L = out.loss[n], L64 = c.expected.loss[n], B = bound[n], q = mass[n];
        if (ignored) {
            CHECK(L == 0 && B == 0 && q == 0, "%s: ignored row %lld: loss %g bound %g mass %g", s.describe().c_str(),
                  (long long)n, L, B, q);
            continue;
        }
        double below = 0;  // the oracle's mass below the threshold: q can only be part of it
        for (int64_t v = 0; v < s.vocab; ++v)
            if (c.expected.prob[n * s.vocab + v] < threshold * (1 + 1e-4)) below += c.expected.prob[n * s.vocab + v];
        CHECK(q >= 0 && q <= below * (1 + 1e-4) + 1e-30, "%s: row %lld: skipped mass %.9g > mass below threshold %.9g",
              s.describe().c_str(), (long long)n, q, below);
        const double want_bound = 2.0 * std::sqrt(std::max(L, 0.0)) * q + q * q;
        CHECK(std::fabs(B - want_bound) <= 1e-5 * want_bound + 1e-30, "%s: row %lld: bound %.9g, 2 sqrt(L) q + q^2 = %.9g",
              s.describe().c_str(), (long long)n, B, want_bound);
        const double tail = 1.0 - c.expected.prob[n * s.vocab + c.targets[n]], rn64 = c.expected.rnorm[n];
        CHECK(std::fabs(L - L64) <= B + 2e-5 * std::fabs(L64) + 1e-6 + extra.loss_r_tail * rn64 * tail +
                                         extra.loss_tail2 * tail * tail,
              "%s: row %lld: loss %.9g, float64 %.9g: error %.3g beyond the reported bound %.3g (mass %.3g)",
              s.describe().c_str(), (long long)n, L, L64, std::fabs(L - L64), B, q);
        if (q > 0) ++rows_skipping;
        if (!check_grad) continue;
        double unorm = 0;
        for (int64_t d = 0; d < s.dim; ++d) unorm += (double)out.expected[n * s.dim + d] * out.expected[n * s.dim + d];
        unorm = std::sqrt(unorm);
        const double rn = std::sqrt(std::max(L, 0.0));
        const double tol = grad_tolerance(s.logits_dtype);
        // As in compare(), but r = u - e_y is rounded relative to |u| and |e_y| (= 1), not to |r|: on peaked rows
        // (p_y ~ 0.9997, |r| ~ 3e-4) any fp32 computation, the exact kernel's too, is off by 1e-3 relative there.
        const double cancel = 2.0 * (c.expected.rnorm.at(n) + 1.0) * std::sqrt((double)s.dim) * 1e-6;
        for (int64_t v = 0; v < s.vocab; ++v) {
            const double g = read_value(out.grad.data(), s.logits_dtype, n * c.stride + v);
            const double w = c.expected.grad[n * s.vocab + v], p = c.expected.prob[n * s.vocab + v];
            double allowed = tol * std::fabs(w) + cancel * p + (s.logits_dtype == TASFT_FLOAT16 ? 6e-8 : 1e-12) +
                             extra.grad_p * p * (rn64 + tail);
            allowed += 2 * p * q * (1 + rn + unorm + q) * (1 + 1e-3);              // kept entries
            if (p < threshold * (1 + 1e-4)) allowed += 2 * p * (rn + q) * (1 + unorm + q) * (1 + 1e-3);  // skipped
            CHECK(std::fabs(g - w) <= allowed, "%s: grad[%lld,%lld] = %.9g, want %.9g (p %.3g, mass %.3g)",
                  s.describe().c_str(), (long long)n, (long long)v, g, w, p, q);
        }
        for (int64_t v = s.vocab; v < c.stride; ++v)
            CHECK(std::isnan(read_value(out.grad.data(), s.logits_dtype, n * c.stride + v)),
                  "%s: padding grad[%lld,%lld] was written", s.describe().c_str(), (long long)n, (long long)v);
    }
    return rows_skipping;
}

// ---------- the golden fixture (safetensors: 8-byte header length, JSON header, raw little-endian data) ----------
struct Tensor {
    std::string dtype;
    std::vector<int64_t> shape;
    std::vector<unsigned char> data;
    std::vector<double> as_double() const {
        size_t n = 1;
        for (auto d : shape) n *= (size_t)d;
        std::vector<double> out(n);
        for (size_t i = 0; i < n; ++i) {
            if (dtype == "F64") std::memcpy(&out[i], &data[i * 8], 8);
            else if (dtype == "F32") { float f; std::memcpy(&f, &data[i * 4], 4); out[i] = f; }
            else if (dtype == "I64") { int64_t v; std::memcpy(&v, &data[i * 8], 8); out[i] = (double)v; }
            else throw Failure("unsupported fixture dtype " + dtype);
        }
        return out;
    }
};

// Minimal reader for the flat headers the fixtures use: {"name": {"dtype": "F32", "shape": [..], "data_offsets": [a, b]}, ...}
inline std::map<std::string, Tensor> read_safetensors(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) throw Failure("cannot open " + path);
    uint64_t hlen = 0;
    f.read(reinterpret_cast<char*>(&hlen), 8);
    std::string h(hlen, ' ');
    f.read(&h[0], (std::streamsize)hlen);
    std::vector<unsigned char> body((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    std::map<std::string, Tensor> out;
    size_t pos = 0;
    auto next_string = [&](size_t& p) {
        size_t a = h.find('"', p), b = h.find('"', a + 1);
        p = b + 1;
        return h.substr(a + 1, b - a - 1);
    };
    auto numbers_after = [&](const std::string& key, size_t from, size_t to) {
        std::vector<int64_t> v;
        size_t k = h.find("\"" + key + "\"", from);
        if (k == std::string::npos || k > to) throw Failure("fixture header lacks " + key);
        size_t a = h.find('[', k), b = h.find(']', a);
        std::string inner = h.substr(a + 1, b - a - 1);
        std::stringstream ss(inner);
        std::string item;
        while (std::getline(ss, item, ','))
            if (item.find_first_of("0123456789") != std::string::npos) v.push_back(std::stoll(item));
        return v;
    };
    while (true) {
        size_t q = h.find('"', pos);
        if (q == std::string::npos) break;
        std::string name = next_string(pos);
        size_t open = h.find('{', pos), close = h.find('}', open);
        if (name != "__metadata__") {
            Tensor t;
            size_t dt = h.find("\"dtype\"", open);
            size_t p2 = h.find(':', dt) + 1;
            t.dtype = next_string(p2);
            t.shape = numbers_after("shape", open, close);
            auto off = numbers_after("data_offsets", open, close);
            t.data.assign(body.begin() + off[0], body.begin() + off[1]);
            out[name] = std::move(t);
        }
        pos = close + 1;
    }
    return out;
}

}  // namespace tt

#endif
