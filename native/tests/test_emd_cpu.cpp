// Native tests of tasft_emd_cpu on every instruction set this CPU has, against the float64 reference and the
// PyTorch-made golden cases; the cases and the runner are shared with the other backends (test_cases.h).
#include "test_cases.h"
#include "emd_isa.h"  // the instruction-set choice as a pure function: every branch, whatever this CPU has

namespace {

const tt::Backend& cpu = tt::cpu_backend();

tt::Check new_buffer_only() {
    tt::Check k;
    k.grads = {tt::Grad::NewBuffer};
    return k;
}

tasft_emd_args host_args(const tt::Case& c, float* loss) {  // the case's host buffers as inputs, loss_rows out
    tasft_emd_args a = tt::shape_args(c);
    a.logits = c.logits.bytes.data();
    a.unit_embedding = c.embedding.bytes.data();
    a.targets = c.targets.data();
    a.loss_rows = loss;
    return a;
}

}  // namespace

TEST_CASE("golden_f32") {
    tt::Check k;
    k.tol = tt::Tolerance::oracle(1e-5);
    for (const tt::Case& c : tt::cases::golden(TASFT_FIXTURES "/emd/cases.safetensors")) tt::check_case(cpu, c, k);
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
    tt::check_cases(cpu,
                    tt::cases::shapes({{1, 1, 1}, {2, 7, 3}, {5, 31, 17}, {13, 1000, 33}, {37, 4099, 64},
                                       {50, 513, 16}, {7, 32003, 24}, {97, 257, 100}, {200, 300, 8}, {3, 9000, 130}},
                                      tt::CaseSpec().with_ignore(0.15), 10),
                    new_buffer_only());
}

TEST_CASE("dims_1_to_4096") {
    tt::check_cases(cpu, tt::cases::dims({1, 2, 3, 15, 16, 31, 33, 64, 255, 1000, 4096}, 9, 0.0, 100), new_buffer_only());
}

TEST_CASE("single_row") {
    for (int64_t v : {1, 2, 100, 50001}) tt::check_case(cpu, tt::make_case(tt::spec(1, v, 40).with_seed(7 + v)), new_buffer_only());
}

TEST_CASE("all_rows_ignored") {
    const tt::Case c = tt::make_case(tt::cases::all_ignored());
    tt::check_all_ignored(cpu, c);
    tt::Check in_place;
    in_place.grads = {tt::Grad::InPlace};
    tt::check_case(cpu, tt::cases::ignore_index_5(c), in_place);
}

TEST_CASE("padded_stride") { tt::check_cases(cpu, tt::cases::padded({1, 3, 64}, {TASFT_FLOAT32})); }

TEST_CASE("extreme_logits") { tt::check_cases(cpu, tt::cases::large_scales({TASFT_FLOAT32}), new_buffer_only()); }

TEST_CASE("masked_logits") {
    tt::check_cases(cpu, tt::cases::masked());
    tt::check_case(cpu, tt::cases::masked_window(TASFT_FLOAT32), new_buffer_only());
}

TEST_CASE("in_place") {
    for (int ld : {TASFT_FLOAT32, TASFT_BFLOAT16, TASFT_FLOAT16}) tt::check_in_place(cpu, tt::make_case(tt::cases::in_place(ld)));
}

TEST_CASE("low_precision") { tt::check_cases(cpu, tt::cases::dtypes()); }

TEST_CASE("forward_only") {
    tt::Check k;  // run_cpu also checks that neither the logits nor the expected embedding were written
    k.grads = {tt::Grad::None};
    k.base.expected = false;
    tt::check_case(cpu, tt::make_case(tt::spec(40, 999, 20).with_pad(1)), k);
}

TEST_CASE("thread_counts") {
    const tt::Case c = tt::make_case(tt::spec(61, 3001, 40).with_ignore(0.1));
    for (int t : {1, 2, 3, 8}) {
        tasft_cpu_set_num_threads(t);
        CHECK(tasft_cpu_get_num_threads() == t, "thread count %d not applied", t);
        tt::check_case(cpu, c, new_buffer_only());
    }
    tasft_cpu_set_num_threads(0);
    CHECK(tasft_cpu_get_num_threads() >= 1, "default thread count");
    std::printf("  (cpu isa: %s, version: %s)\n", tasft_cpu_isa(), tasft_version());
}

TEST_CASE("bad_arguments") {
    const tt::Case c = tt::make_case(tt::spec(3, 10, 4));
    std::vector<float> loss(3);
    const tasft_emd_args ok = host_args(c, loss.data());
    const tasft_emd_variant generic = {TASFT_CPU_ISA_GENERIC, TASFT_CUDA_KERNEL_DEFAULT};
    // Each entry point names the broken argument (and itself) in its message.
    auto expect = [&](const tasft_emd_args& a, const char* needle) {
        for (int variant = 0; variant < 2; ++variant) {
            const int st = variant ? tasft_emd_cpu_variant(&a, nullptr, &generic) : tasft_emd_cpu(&a);
            const char* fn = variant ? "tasft_emd_cpu_variant" : "tasft_emd_cpu";
            CHECK(st == TASFT_INVALID_ARGUMENT, "%s: expected INVALID_ARGUMENT for '%s', got %d", fn, needle, st);
            CHECK(std::strstr(tasft_last_error(), needle) != nullptr && std::strncmp(tasft_last_error(), fn, std::strlen(fn)) == 0,
                  "%s: message '%s' does not name '%s'", fn, tasft_last_error(), needle);
        }
    };
    CHECK(tasft_emd_cpu(&ok) == TASFT_OK, "valid call failed: %s", tasft_last_error());
    CHECK(tasft_emd_cpu(nullptr) == TASFT_INVALID_ARGUMENT, "NULL args");
    CHECK(tasft_emd_cpu_variant(nullptr, nullptr, nullptr) == TASFT_INVALID_ARGUMENT, "NULL args (variant)");
    for (const tt::BadArgument& bad : tt::bad_arguments()) {
        tasft_emd_args a = ok;
        bad.apply(a);
        expect(a, bad.needle);
    }
    std::vector<int64_t> bad = c.targets;
    bad[2] = 10;
    tasft_emd_args a = ok;
    a.targets = bad.data();
    expect(a, "targets[2]");
    bad[2] = -3;
    expect(a, "targets[2] = -3");
    // nothing was written by a rejected call
    std::vector<float> untouched(3, 42.0f);
    a.loss_rows = untouched.data();
    tasft_emd_cpu(&a);
    CHECK(untouched[0] == 42.0f && untouched[1] == 42.0f, "a rejected call wrote loss_rows");
    // a success clears the message
    CHECK(tasft_emd_cpu(&ok) == TASFT_OK && tasft_last_error()[0] == '\0', "message not cleared");
    // Without a GPU the CUDA entry points answer with an error and a message, not a crash. (With one, these host
    // pointers must not be handed to them: the CUDA tests cover those entry points.)
    if (!tasft_cuda_available()) {
        int st = tasft_emd_cuda(&ok);
        CHECK(st != TASFT_OK && tasft_last_error()[0] != '\0', "cuda without device: %d", st);
        st = tasft_emd_cuda_variant(&ok, nullptr, nullptr);
        CHECK(st != TASFT_OK && tasft_last_error()[0] != '\0', "cuda variant without device: %d", st);
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
    for (const tt::Variant& v : tt::cpu_variants())
        CHECK(tasft_emd_cpu_variant(&a, nullptr, &v.kernel) == TASFT_OK, "rows = 0 (%s): %s", v.describe().c_str(),
              tasft_last_error());
}

// ---------- explicit variants (tasft_emd_variant) ----------

TEST_CASE("variants") {
    // The choice itself (emd_isa.h), for CPUs with and without AVX2 / AVX-512 and every value of TASFT_CPU_ISA.
    struct Row {
        int requested;
        bool avx2, avx512;
        const char* env;
        int status, isa;
        const char* why;
    };
    const int D = TASFT_CPU_ISA_DEFAULT, G = TASFT_CPU_ISA_GENERIC, A2 = TASFT_CPU_ISA_AVX2, A5 = TASFT_CPU_ISA_AVX512;
    const Row rows[] = {
        {D, true, true, nullptr, TASFT_OK, A5, ""},
        {D, true, false, nullptr, TASFT_OK, A2, ""},
        {D, false, false, nullptr, TASFT_OK, G, ""},
        {D, true, true, "generic", TASFT_OK, G, ""},  // the variable narrows the default ...
        {D, true, true, "avx2", TASFT_OK, A2, ""},
        {D, false, false, "avx2", TASFT_OK, G, ""},   // ... to what the CPU has; other values are ignored
        {D, true, true, "avx512", TASFT_OK, A5, ""},
        {D, true, false, "sse4", TASFT_OK, A2, ""},
        {G, true, true, "avx2", TASFT_OK, G, ""},     // an explicit choice overrides the variable
        {A2, true, true, "generic", TASFT_OK, A2, ""},
        {A5, true, true, nullptr, TASFT_OK, A5, ""},
        {A2, false, false, nullptr, TASFT_UNSUPPORTED, 0, "cpu_isa avx2 is not available on this CPU (it has generic)"},
        {A5, true, false, "avx512", TASFT_UNSUPPORTED, 0,
         "cpu_isa avx512 is not available on this CPU (it has generic, avx2)"},
        {4, true, true, nullptr, TASFT_INVALID_ARGUMENT, 0, "cpu_isa 4 is not a tasft_cpu_isa_id"},
        {-1, true, true, nullptr, TASFT_INVALID_ARGUMENT, 0, "cpu_isa -1 is not a tasft_cpu_isa_id"},
    };
    for (const Row& r : rows) {
        int isa = -7;
        char why[160] = "";
        const int st = tasft::resolve_cpu_isa(r.requested, {r.avx2, r.avx512}, r.env, &isa, why, sizeof why);
        CHECK(st == r.status && (st != TASFT_OK || isa == r.isa) && std::strstr(why, r.why),
              "resolve_cpu_isa(%d, avx2 %d, avx512 %d, env %s) = %d, isa %d, '%s'", r.requested, r.avx2, r.avx512,
              r.env ? r.env : "unset", st, isa, why);
    }

    // This CPU: GENERIC and DEFAULT always run; the default is the instruction set tasft_cpu_isa() names.
    CHECK(tasft_cpu_isa_available(TASFT_CPU_ISA_DEFAULT) && tasft_cpu_isa_available(TASFT_CPU_ISA_GENERIC) &&
              !tasft_cpu_isa_available(4) && !tasft_cpu_isa_available(-1),
          "tasft_cpu_isa_available");
    int named = -1;
    for (int isa : {G, A2, A5})
        if (std::strcmp(tasft::cpu_isa_name(isa), tasft_cpu_isa()) == 0) named = isa;
    CHECK(named > 0 && tasft_cpu_isa_available(named), "tasft_cpu_isa() = %s", tasft_cpu_isa());

    // The entry points without a variant, and with variant NULL, are that variant bit for bit (with skipping too).
    const tt::Case c = tt::make_lm_case(tt::spec(13, 2000, 20).with_pad(2).with_ignore(0.2).with_seed(1500), 2.0);
    tt::Variant pinned;
    pinned.kernel.cpu_isa = named;
    for (float threshold : {-1.0f, 1e-4f}) {
        tt::RunOptions o;
        o.threshold = threshold;
        const tt::Outputs plain = cpu.run(c, tt::Variant(), o), explicit_ = cpu.run(c, pinned, o);
        CHECK(plain.loss == explicit_.loss && plain.grad == explicit_.grad && plain.expected == explicit_.expected &&
                  plain.bound == explicit_.bound && plain.mass == explicit_.mass,
              "threshold %g: the default entry point differs from cpu_isa %s", threshold, tasft_cpu_isa());
        std::vector<float> loss(c.spec.rows);
        tasft_emd_args a = host_args(c, loss.data());
        tasft_emd_skip sk{};
        sk.threshold = threshold < 0 ? 0.0f : threshold;
        CHECK(tasft_emd_cpu_variant(&a, threshold < 0 ? nullptr : &sk, nullptr) == TASFT_OK && loss == plain.loss,
              "variant NULL: %s", tasft_last_error());
    }

    // Refused variants write nothing: an instruction set this CPU lacks (where it lacks one), and bad values.
    std::vector<float> loss(c.spec.rows, 42.0f);
    const tasft_emd_args a = host_args(c, loss.data());
    for (int isa : {A2, A5}) {
        if (tasft_cpu_isa_available(isa)) continue;
        const tasft_emd_variant v = {isa, TASFT_CUDA_KERNEL_DEFAULT};
        CHECK(tasft_emd_cpu_variant(&a, nullptr, &v) == TASFT_UNSUPPORTED &&
                  std::strstr(tasft_last_error(), "is not available on this CPU"),
              "cpu_isa %s on a CPU without it: %s", tasft::cpu_isa_name(isa), tasft_last_error());
        std::printf("  (cpu_isa %s refused: %s)\n", tasft::cpu_isa_name(isa), tasft_last_error());
    }
    tasft_emd_vp_slice_args slice{};  // a valid slice: the variant is what is refused
    slice.logits = c.logits.bytes.data();
    slice.logits_dtype = c.logits.dtype;
    slice.rows = c.spec.rows;
    slice.vocab = slice.vocab_total = c.spec.vocab;
    slice.logits_row_stride = c.stride;
    slice.unit_embedding = c.embedding.bytes.data();
    slice.embedding_dtype = c.embedding.dtype;
    slice.dim = c.spec.dim;
    slice.targets = c.targets.data();
    slice.ignore_index = c.ignore_index;
    std::vector<float> m(c.spec.rows, 42.0f), stats(c.spec.rows * TASFT_EMD_VP_STATS(c.spec.dim));
    std::vector<float> merged(c.spec.rows * c.spec.dim), grad(c.spec.rows * c.stride, 42.0f);
    slice.slice_max = m.data();
    slice.slice_stats = stats.data();
    slice.row_max = slice.row_log_sumexp = slice.residual = slice.residual_dot_expected = merged.data();
    slice.grad_logits = grad.data();
    for (const auto& bad : tt::bad_variants()) {
        for (int k = 0; k < 3; ++k) {
            const int st = k == 0   ? tasft_emd_cpu_variant(&a, nullptr, &bad.first)
                           : k == 1 ? tasft_emd_vp_partial_cpu_variant(&slice, &bad.first)
                                    : tasft_emd_vp_backward_cpu_variant(&slice, &bad.first);
            CHECK(st == TASFT_INVALID_ARGUMENT && std::strstr(tasft_last_error(), bad.second),
                  "entry point %d: variant '%s': status %d, message '%s'", k, bad.second, st, tasft_last_error());
        }
    }
    CHECK(loss == std::vector<float>(c.spec.rows, 42.0f) && m == std::vector<float>(c.spec.rows, 42.0f) &&
              grad == std::vector<float>(c.spec.rows * c.stride, 42.0f),
          "a refused variant wrote outputs");
}

// ---------- skipping mode (tasft_emd_cpu_skip) ----------

TEST_CASE("skip_threshold_zero") {
    // Threshold 0 is the exact kernel: the same bits, bound and mass 0. A tiny positive threshold runs the skipping
    // code path (LSE pass, then normalised probabilities) and must agree with the oracle at the exact tolerances.
    const tt::CaseSpec s = tt::spec(37, 3001, 40).with_pad(3).with_ignore(0.2).with_neg_inf(0.1).with_seed(900);
    for (int lm_logits = 0; lm_logits < 2; ++lm_logits) {
        const tt::Case c = lm_logits ? tt::make_lm_case(s, 2.0) : tt::make_case(s);
        tt::check_threshold_zero(cpu, c, {tt::Grad::NewBuffer, tt::Grad::InPlace});
        for (tt::Grad g : {tt::Grad::NewBuffer, tt::Grad::InPlace}) {
            tt::RunOptions o;
            o.grad = g;
            o.threshold = 1e-37f;
            if (!lm_logits)  // (peaked rows: check_skip_result's tolerance only)
                for (const tt::Variant& v : cpu.variants()) tt::compare(c, cpu.run(c, v, o), true, true);
            tt::check_skip(cpu, c, o);
        }
    }
}

TEST_CASE("skip_bound") {
    // LM-like peaked logits: the true loss error (against float64) lies within the reported bound, the gradient
    // within the bounds of tasft/emd.h, for thresholds from harmless to brutal; skipping must actually happen.
    const std::pair<tt::CaseSpec, double> cases[] = {
        {tt::spec(40, 5003, 32), 2.0},
        {tt::spec(19, 20000, 16).with_pad(5), 1.0},
        {tt::spec(23, 4099, 70).with_pad(2).with_dtypes(TASFT_BFLOAT16, TASFT_BFLOAT16), 3.0},
        {tt::spec(9, 3000, 24).with_dtypes(TASFT_FLOAT16, TASFT_FLOAT32), 2.0},
    };
    uint64_t seed = 950;
    for (auto [s, entropy] : cases) {
        const tt::Case c = tt::make_lm_case(s.with_ignore(0.15).with_seed(++seed), entropy);
        for (float thr : {1e-8f, 1e-6f, 1e-4f, 1e-2f}) {
            tt::RunOptions o;
            o.threshold = thr;
            o.grad = thr < 1e-3f ? tt::Grad::InPlace : tt::Grad::NewBuffer;
            tt::check_skip(cpu, c, o);
        }
    }
}

TEST_CASE("skip_extreme") {
    // Near one-hot rows (logit scales 1e2-1e4), masked -inf logits, a row of only one finite logit, ignored rows,
    // forward only; a NaN logit still poisons its row (it is never skipped).
    for (double scale : {1e2, 1e4}) {
        const tt::Case c = tt::make_case(tt::spec(17, 1001, 24).with_pad(1).with_scale(scale).with_neg_inf(0.3)
                                             .with_ignore(0.2).with_seed(970 + (uint64_t)scale));
        for (float thr : {1e-6f, 0.5f, 1.0f}) {
            tt::RunOptions o;
            o.threshold = thr;
            tt::check_skip(cpu, c, o, false);
        }
    }
    {
        // one finite logit per row: p one-hot, loss exact, nothing to skip but zeros
        const tt::Case c = tt::make_case(tt::spec(5, 700, 10).with_neg_inf(1.0).with_seed(990));
        tt::RunOptions o;
        o.grad = tt::Grad::InPlace;
        o.threshold = 1e-3f;
        tt::check_skip(cpu, c, o, false);
        for (const tt::Variant& v : cpu.variants()) {
            const tt::Outputs r = cpu.run(c, v, o);
            for (int64_t n = 0; n < c.spec.rows; ++n) CHECK(r.mass[n] == 0.0f, "one-hot row %lld: mass %g", (long long)n, r.mass[n]);
            tt::RunOptions f = o;
            f.grad = tt::Grad::None;
            f.expected = false;
            CHECK(cpu.run(c, v, f).loss == r.loss, "%s: forward only: another loss", v.describe().c_str());
        }
    }
    {
        tt::Case c = tt::make_case(tt::spec(3, 2000, 8).with_scale(30).with_seed(991));
        std::vector<float> z(c.logits.values.begin(), c.logits.values.end());
        z[1 * c.stride + 1999] = std::nanf("");  // deep in the tail of row 1
        c.logits.store(z, TASFT_FLOAT32);
        tt::RunOptions o;
        o.threshold = 0.1f;
        for (const tt::Variant& v : cpu.variants()) {
            const tt::Outputs r = cpu.run(c, v, o);
            CHECK(std::isnan(r.loss[1]), "%s: a NaN logit was skipped: loss %g", v.describe().c_str(), r.loss[1]);
            CHECK(!std::isnan(r.loss[0]) && !std::isnan(r.loss[2]), "%s: NaN leaked into other rows", v.describe().c_str());
        }
    }
    // All rows ignored: everything 0.
    tt::RunOptions o;
    o.threshold = 1e-4f;
    tt::check_skip(cpu, tt::make_case(tt::spec(6, 300, 5).with_ignore(1.0)), o, false);
}

TEST_CASE("skip_bad_arguments") {
    const tt::Case c = tt::make_case(tt::spec(3, 10, 4));
    std::vector<float> loss(3, 42.0f);
    const tasft_emd_args a = host_args(c, loss.data());
    const tasft_emd_variant generic = {TASFT_CPU_ISA_GENERIC, TASFT_CUDA_KERNEL_DEFAULT};
    for (float bad : {-1e-9f, 1.5f, std::nanf(""), INFINITY}) {
        tasft_emd_skip sk{};
        sk.threshold = bad;
        CHECK(tasft_emd_cpu_skip(&a, &sk) == TASFT_INVALID_ARGUMENT, "threshold %g accepted", bad);
        CHECK(std::strstr(tasft_last_error(), "threshold") && std::strstr(tasft_last_error(), "tasft_emd_cpu_skip"),
              "message: %s", tasft_last_error());
        CHECK(tasft_emd_cpu_variant(&a, &sk, &generic) == TASFT_INVALID_ARGUMENT &&
                  std::strstr(tasft_last_error(), "threshold"),
              "variant: threshold %g accepted", bad);
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
