// Native tests of tasft_emd_cpu on every instruction set this CPU has, against the float64 reference and the
// PyTorch-made golden cases; the cases and the runner are shared with the other backends (test_cases.h).
#include <cstdlib>

#include "test_cases.h"
#include "emd_isa.h"  // the instruction-set choice as a pure function: every branch, whatever this CPU has
#include "emd_cuda_choice.h"  // the same for the CUDA kernel version: every branch, with or without a GPU

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
    const tasft_emd_variant generic = {TASFT_CPU_ISA_GENERIC, TASFT_CUDA_KERNEL_AUTO};
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
        const tasft_emd_variant v = {isa, TASFT_CUDA_KERNEL_AUTO};
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

// ---------- the CUDA kernel version (tasft_emd_variant.cuda_kernel): the choice, testable without a GPU ----------

TEST_CASE("cuda_kernel_choice") {
    // The choice itself (emd_cuda_choice.h): every branch of the AUTO rule and of TASFT_CUDA_KERNEL, with each
    // version's answer (v2_supports / v3_supports) given, and which versions were asked.
    const int A = TASFT_CUDA_KERNEL_AUTO, K1 = TASFT_CUDA_KERNEL_V1, K2 = TASFT_CUDA_KERNEL_V2, K3 = TASFT_CUDA_KERNEL_V3;
    const int F32 = TASFT_FLOAT32, BF = TASFT_BFLOAT16, F16 = TASFT_FLOAT16;
    const int OK = TASFT_OK, NO = TASFT_UNSUPPORTED, BAD = TASFT_INVALID_ARGUMENT, ERR = TASFT_CUDA_ERROR;
    struct Row {
        int requested;
        const char* env;
        int logits, embedding;
        bool v3_validated;
        int v2, v3;  // what v2_supports / v3_supports answer
        int status, kernel;
        const char* asked;  // the versions asked, in order ("23": v2 then v3)
        const char* why;    // in `why` ("" when the status is a version's answer)
    };
    const Row rows[] = {
        // AUTO without the variable: v3 (validated, can run) > v2 (16-bit logits, bf16 embedding, can run) > v1
        {A, nullptr, BF, BF, true, OK, OK, OK, K3, "3", ""},
        {A, nullptr, BF, BF, true, OK, NO, OK, K2, "32", ""},
        {A, nullptr, BF, BF, false, OK, OK, OK, K2, "2", ""},       // v3 not validated: never automatic
        {A, nullptr, F16, BF, false, OK, OK, OK, K2, "2", ""},
        {A, nullptr, F32, BF, false, OK, OK, OK, K1, "", ""},       // fp32 logits keep v1's fp32 arithmetic
        {A, nullptr, F32, BF, true, OK, NO, OK, K1, "3", ""},
        {A, nullptr, F32, BF, true, OK, OK, OK, K3, "3", ""},
        {A, nullptr, BF, F32, false, NO, NO, OK, K1, "", ""},       // v2 needs a bf16 embedding
        {A, nullptr, BF, F16, true, NO, NO, OK, K1, "3", ""},
        {A, nullptr, BF, BF, false, NO, OK, OK, K1, "2", ""},       // v2 refuses (an old device): v1
        {A, "", BF, BF, false, OK, OK, OK, K2, "2", ""},            // empty = unset
        {A, "auto", BF, BF, true, OK, OK, OK, K3, "3", ""},
        {A, nullptr, BF, BF, true, OK, ERR, ERR, 0, "3", ""},       // a CUDA error while asking is the call's error
        {A, nullptr, BF, BF, false, ERR, OK, ERR, 0, "2", ""},
        // AUTO with TASFT_CUDA_KERNEL naming a version: that version where it can run the call, else the rule
        {A, "v1", BF, BF, true, OK, OK, OK, K1, "", ""},
        {A, "v2", F32, BF, false, OK, OK, OK, K2, "2", ""},         // the user's v2 even for fp32 logits
        {A, "v2", BF, F32, false, NO, NO, OK, K1, "2", ""},         // v2 cannot run it: the rule (v1 here)
        {A, "v3", BF, BF, false, OK, OK, OK, K3, "3", ""},          // the user's v3 even before it is validated
        {A, "v3", BF, BF, false, OK, NO, OK, K2, "32", ""},
        {A, "v3", F32, F32, true, NO, NO, OK, K1, "3", ""},         // v3 is not asked twice
        {A, "v2", BF, BF, true, NO, OK, OK, K3, "23", ""},
        // a bad value of the variable: the AUTO call fails, naming it
        {A, "v4", BF, BF, true, OK, OK, BAD, 0, "", "the environment variable TASFT_CUDA_KERNEL='v4' is not auto"},
        {A, "V2", BF, BF, true, OK, OK, BAD, 0, "", "TASFT_CUDA_KERNEL='V2'"},
        {A, "default", BF, BF, true, OK, OK, BAD, 0, "", "TASFT_CUDA_KERNEL='default'"},
        // explicit versions ignore the variable (bad values included) and are run or refused, never replaced
        {K1, "v9", BF, BF, true, OK, OK, OK, K1, "", ""},
        {K1, nullptr, F32, F32, true, NO, NO, OK, K1, "", ""},
        {K2, "v3", F32, BF, true, OK, OK, OK, K2, "2", ""},
        {K2, nullptr, BF, F32, true, NO, OK, NO, 0, "2", ""},
        {K3, "v1", BF, BF, false, OK, OK, OK, K3, "3", ""},
        {K3, "bogus", BF, BF, true, OK, NO, NO, 0, "3", ""},
        {K3, nullptr, BF, BF, true, OK, ERR, ERR, 0, "3", ""},
        // not a tasft_cuda_kernel_id
        {4, nullptr, BF, BF, true, OK, OK, BAD, 0, "", "cuda_kernel 4 is not a tasft_cuda_kernel_id"},
        {-1, "v2", BF, BF, true, OK, OK, BAD, 0, "", "cuda_kernel -1 is not a tasft_cuda_kernel_id"},
    };
    for (const Row& r : rows) {
        std::string asked;
        auto supports = [&](int k) {
            asked += (char)('0' + k);
            return k == K3 ? r.v3 : k == K2 ? r.v2 : -100;
        };
        int kernel = -7;
        char why[160] = "x";
        const int st = tasft::choose_cuda_kernel(r.requested, r.env, r.logits, r.embedding, r.v3_validated, supports,
                                                 &kernel, why, sizeof why);
        const bool why_ok = r.why[0] ? std::strstr(why, r.why) != nullptr : why[0] == '\0';
        CHECK(st == r.status && (st != TASFT_OK || kernel == r.kernel) && asked == r.asked && why_ok,
              "choose_cuda_kernel(%d, env %s, logits %s, embedding %s, v3 validated %d, v2 %d, v3 %d) = %d, kernel %d, "
              "asked '%s', why '%s'", r.requested, r.env ? r.env : "unset", tt::dname(r.logits), tt::dname(r.embedding),
              r.v3_validated, r.v2, r.v3, st, kernel, asked.c_str(), why);
    }
    // The variable's values.
    for (const char* ok : {"auto", "v1", "v2", "v3", ""}) {
        int k = -7;
        char why[160] = "";
        CHECK(tasft::parse_cuda_kernel_env(ok, &k, why, sizeof why) == TASFT_OK && k >= A && k <= K3 &&
                  (ok[0] == '\0' ? k == A : std::strcmp(tasft::cuda_kernel_name(k), ok) == 0),
              "TASFT_CUDA_KERNEL=%s: kernel %d", ok, k);
    }
    const std::string long_value(300, 'x');
    for (const char* bad : {"v0", "V1", " v1", "v1 ", "2", "default", "none", long_value.c_str()}) {
        int k = -7;
        char why[160] = "";
        const int st = tasft::parse_cuda_kernel_env(bad, &k, why, sizeof why);
        CHECK(st == TASFT_INVALID_ARGUMENT && std::strstr(why, "TASFT_CUDA_KERNEL") && std::strstr(why, "auto, v1, v2 or v3")
                  && std::strlen(why) < 120 && k == -7,
              "TASFT_CUDA_KERNEL='%.20s': %d, '%s'", bad, st, why);
    }

    // The entry points, on any machine: a variant's cuda_kernel is checked before the device (INVALID_ARGUMENT), V3
    // is a valid value that the CPU entry points ignore, and rows = 0 needs no device.
    const tt::Case c = tt::make_case(tt::spec(5, 40, 8).with_seed(1600));
    std::vector<float> loss(c.spec.rows, 42.0f);
    tasft_emd_args a = host_args(c, loss.data());
    const tt::Outputs plain = cpu.run(c, tt::Variant(), tt::RunOptions());
    for (int k : {A, K1, K2, K3}) {
        const tasft_emd_variant v = {TASFT_CPU_ISA_DEFAULT, k};
        CHECK(tasft_emd_cpu_variant(&a, nullptr, &v) == TASFT_OK && loss == plain.loss,
              "tasft_emd_cpu_variant with cuda_kernel %s: %s", tasft::cuda_kernel_name(k), tasft_last_error());
    }
    const bool cuda_built = std::strcmp(tasft_cuda_kernel(), "none") != 0;
    std::printf("  (tasft_cuda_kernel() = %s, cuda_available %d)\n", tasft_cuda_kernel(), tasft_cuda_available());
    int kernel = -7;
    for (int bad : {4, -1, 1000}) {
        const tasft_emd_variant v = {TASFT_CPU_ISA_DEFAULT, bad};
        const char needle[] = "cuda_kernel";
        int st = tasft_emd_cuda_variant(&a, nullptr, &v);
        CHECK(cuda_built ? st == TASFT_INVALID_ARGUMENT && std::strstr(tasft_last_error(), needle)
                         : st == TASFT_UNSUPPORTED && std::strstr(tasft_last_error(), "without CUDA"),
              "tasft_emd_cuda_variant, cuda_kernel %d: %d '%s'", bad, st, tasft_last_error());
        st = tasft_emd_cuda_kernel_choice(&a, nullptr, &v, &kernel);
        CHECK(cuda_built ? st == TASFT_INVALID_ARGUMENT && std::strstr(tasft_last_error(), needle) &&
                               std::strncmp(tasft_last_error(), "tasft_emd_cuda_kernel_choice:", 29) == 0
                         : st == TASFT_UNSUPPORTED && std::strstr(tasft_last_error(), "without CUDA"),
              "tasft_emd_cuda_kernel_choice, cuda_kernel %d: %d '%s'", bad, st, tasft_last_error());
    }
    CHECK(kernel == -7, "a failed tasft_emd_cuda_kernel_choice wrote *kernel");
    const tasft_emd_variant kv1 = {TASFT_CPU_ISA_DEFAULT, K1};
    CHECK(tasft_emd_cuda_kernel_choice(&a, nullptr, &kv1, nullptr) != TASFT_OK && tasft_last_error()[0] != '\0',
          "tasft_emd_cuda_kernel_choice with kernel NULL");
    tasft_emd_args empty = a;  // rows = 0: nothing to run, on any device or none (where the library has CUDA)
    empty.rows = 0;
    empty.logits = empty.targets = nullptr;
    empty.loss_rows = nullptr;
    if (cuda_built)
        for (int k : {K1, K2, K3}) {
            const tasft_emd_variant v = {TASFT_CPU_ISA_DEFAULT, k};
            CHECK(tasft_emd_cuda_variant(&empty, nullptr, &v) == TASFT_OK && tasft_emd_cuda_variant_async(&empty, nullptr, &v) == TASFT_OK,
                  "rows = 0 with cuda_kernel %s: %s", tasft::cuda_kernel_name(k), tasft_last_error());
        }
    CHECK(loss == plain.loss, "a refused call wrote loss_rows");
}

// The variable TASFT_CUDA_KERNEL, end to end: ctest runs this case with several values of it (CMakeLists.txt:
// cpu.cuda_kernel_env_*; the test never sets it itself). Whatever the value, it is checked against the parser.
TEST_CASE("cuda_kernel_env") {
    const char* env = std::getenv("TASFT_CUDA_KERNEL");
    int want = -1;
    char why[160] = "";
    const bool valid = tasft::parse_cuda_kernel_env(env, &want, why, sizeof why) == TASFT_OK;
    std::printf("  (TASFT_CUDA_KERNEL %s%s%s, tasft_cuda_kernel() = %s)\n", env ? "'" : "unset", env ? env : "",
                env ? "'" : "", tasft_cuda_kernel());
    if (std::strcmp(tasft_cuda_kernel(), "none") == 0) {  // a library without CUDA: the variable means nothing
        CHECK(!tasft_cuda_available(), "tasft_cuda_kernel() = none with a CUDA device");
        return;
    }
    CHECK(std::strcmp(tasft_cuda_kernel(), valid ? tasft::cuda_kernel_name(want) : "invalid") == 0,
          "tasft_cuda_kernel() = %s with TASFT_CUDA_KERNEL %s", tasft_cuda_kernel(), env ? env : "unset");
    // rows = 0 with valid pointers: no device is needed to get past the checks.
    const tt::Case c = tt::make_case(tt::spec(3, 10, 4).with_seed(1610));
    std::vector<float> loss(c.spec.rows, 42.0f);
    tasft_emd_args empty = host_args(c, loss.data());
    empty.rows = 0;
    const tasft_emd_variant kv1 = {TASFT_CPU_ISA_DEFAULT, TASFT_CUDA_KERNEL_V1};
    const tasft_emd_variant kauto = {TASFT_CPU_ISA_DEFAULT, TASFT_CUDA_KERNEL_AUTO};
    // Explicit versions never read the variable; the CPU entry points neither.
    CHECK(tasft_emd_cuda_variant(&empty, nullptr, &kv1) == TASFT_OK, "explicit v1, rows 0: %s", tasft_last_error());
    std::vector<float> cpu_loss(c.spec.rows);
    tasft_emd_args full = host_args(c, cpu_loss.data());
    CHECK(tasft_emd_cpu(&full) == TASFT_OK, "tasft_emd_cpu: %s", tasft_last_error());
    // The calls that read it: every AUTO entry point.
    tasft_emd_skip sk{};
    struct Entry {
        const char* fn;
        std::function<int()> call;
    };
    int kernel = -7;
    const Entry entries[] = {
        {"tasft_emd_cuda", [&] { return tasft_emd_cuda(&empty); }},
        {"tasft_emd_cuda_async", [&] { return tasft_emd_cuda_async(&empty); }},
        {"tasft_emd_cuda_skip", [&] { return tasft_emd_cuda_skip(&empty, &sk); }},
        {"tasft_emd_cuda_skip_async", [&] { return tasft_emd_cuda_skip_async(&empty, &sk); }},
        {"tasft_emd_cuda_variant", [&] { return tasft_emd_cuda_variant(&empty, nullptr, nullptr); }},
        {"tasft_emd_cuda_variant_async", [&] { return tasft_emd_cuda_variant_async(&empty, nullptr, &kauto); }},
        {"tasft_emd_cuda_kernel_choice", [&] { return tasft_emd_cuda_kernel_choice(&empty, nullptr, &kauto, &kernel); }},
    };
    for (const Entry& e : entries) {
        const int st = e.call();
        if (!valid) {
            CHECK(st == TASFT_INVALID_ARGUMENT && std::strncmp(tasft_last_error(), e.fn, std::strlen(e.fn)) == 0 &&
                      std::strstr(tasft_last_error(), "TASFT_CUDA_KERNEL") && !std::strchr(tasft_last_error(), '\n'),
                  "%s with TASFT_CUDA_KERNEL='%s': %d '%s'", e.fn, env, st, tasft_last_error());
        } else if (std::strcmp(e.fn, "tasft_emd_cuda_kernel_choice") != 0) {
            CHECK(st == TASFT_OK, "%s, rows 0: %d '%s'", e.fn, st, tasft_last_error());
        } else if (tasft_cuda_available()) {  // the choice needs the device; here it is one of the versions
            CHECK(st == TASFT_OK && kernel >= TASFT_CUDA_KERNEL_V1 && kernel <= TASFT_CUDA_KERNEL_V3 &&
                      (want != TASFT_CUDA_KERNEL_V1 || kernel == TASFT_CUDA_KERNEL_V1),
                  "tasft_emd_cuda_kernel_choice: %d, kernel %d '%s'", st, kernel, tasft_last_error());
            std::printf("  (AUTO on a 0 x 10 x 4 fp32 call runs %s)\n", tasft::cuda_kernel_name(kernel));
        } else {
            CHECK(st == TASFT_CUDA_ERROR, "tasft_emd_cuda_kernel_choice without a device: %d '%s'", st, tasft_last_error());
        }
    }
    CHECK(loss == std::vector<float>(c.spec.rows, 42.0f), "a call with rows = 0 wrote loss_rows");
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
    const tasft_emd_variant generic = {TASFT_CPU_ISA_GENERIC, TASFT_CUDA_KERNEL_AUTO};
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
