// Native tests of tasft_head_cpu (the fused LM head) on every instruction set this CPU has, against the float64
// oracle (head_reference.h): odd shapes, tied and untied heads, all-CE / all-EMD / mixed / ignored rows, bf16 and
// fp16 inputs, padded hidden rows, large logits, thread counts (and the same bits on a repeat), partial outputs,
// and bad arguments (nothing written).
#include "head_cases.h"

namespace {

const int kIsas[] = {TASFT_CPU_ISA_GENERIC, TASFT_CPU_ISA_AVX2, TASFT_CPU_ISA_AVX512};

// Runs the case on `isa` with `threads` and checks loss, grad_hidden and grad_weight (accumulated onto a non-zero
// start) against the oracle; returns the outputs.
struct Out {
    std::vector<float> loss, gh, gw;
};
Out run_case(const tt::HeadCase& c, int isa, int threads, double tol = 2e-5, bool want_gh = true, bool want_gw = true) {
    Out o;
    o.loss.assign(c.rows, -7.0f);
    o.gh.assign(c.rows * c.hidden, -7.0f);
    o.gw.assign(c.vocab * c.hidden, 0.0f);
    for (size_t i = 0; i < o.gw.size(); ++i) o.gw[i] = (float)((int)(i % 7) - 3) * 0.25f;  // accumulated onto
    const std::vector<float> start = o.gw;
    tasft_head_args a = tt::head_args(c, o.loss.data(), want_gh ? o.gh.data() : nullptr, want_gw ? o.gw.data() : nullptr);
    tasft_emd_variant v{};
    v.cpu_isa = isa;
    tasft_cpu_set_num_threads(threads);
    const int st = tasft_head_cpu_variant(&a, &v);
    tasft_cpu_set_num_threads(0);
    CHECK(st == TASFT_OK, "%s", tasft_last_error());
    char ctx[160];
    std::snprintf(ctx, sizeof ctx, "[%lld x %lld x %lld, dim %lld, %s, %s, %d threads]", (long long)c.rows,
                  (long long)c.vocab, (long long)c.hidden, (long long)c.dim, tt::dname(c.h.dtype),
                  isa == TASFT_CPU_ISA_GENERIC ? "generic" : isa == TASFT_CPU_ISA_AVX2 ? "avx2" : "avx512", threads);
    std::vector<double> wl(c.want.loss);
    std::vector<float> l(o.loss);
    for (int64_t n = 0; n < c.rows; ++n)
        CHECK(std::fabs(l[n] - wl[n]) <= tol * (1.0 + std::fabs(wl[n])) * 4, "%s loss[%lld] = %.9g, want %.9g", ctx,
              (long long)n, (double)l[n], wl[n]);
    tt::counts().checks++;
    if (want_gh) tt::near("grad_hidden", o.gh, c.want.grad_hidden, tol, ctx);
    else for (float x : o.gh) CHECK(x == -7.0f, "%s grad_hidden written though NULL", ctx);
    if (want_gw) {
        std::vector<float> delta(o.gw.size());
        for (size_t i = 0; i < delta.size(); ++i) delta[i] = o.gw[i] - start[i];
        tt::near("grad_weight", delta, c.want.grad_weight, tol, ctx);
    } else {
        CHECK(o.gw == start, "%s grad_weight written though NULL", ctx);
    }
    return o;
}

std::vector<int> isas() {
    std::vector<int> out;
    for (int isa : kIsas)
        if (tasft_cpu_isa_available(isa)) out.push_back(isa);
    return out;
}

}  // namespace

TEST_CASE("random_shapes") {
    struct S { int64_t rows, vocab, hidden, dim; };
    const S shapes[] = {{1, 1, 1, 1}, {3, 2, 5, 3}, {7, 50, 13, 5}, {33, 257, 37, 19}, {130, 1000, 64, 32},
                        {5, 3001, 100, 7}, {301, 517, 48, 17}};
    unsigned seed = 1;
    for (const S& s : shapes)
        for (int isa : isas()) run_case(tt::make_head(s.rows, s.vocab, s.hidden, s.dim, "mixed", false, seed++), isa, 2);
}

TEST_CASE("tied_head") {
    unsigned seed = 100;
    for (int isa : isas()) {
        run_case(tt::make_head(45, 300, 24, 0, "mixed", true, seed++), isa, 2);
        run_case(tt::make_head(17, 1031, 33, 0, "emd", true, seed++), isa, 1);
    }
}

TEST_CASE("all_ce_and_all_emd") {
    unsigned seed = 200;
    for (int isa : isas())
        for (const char* roles : {"ce", "emd"}) {
            run_case(tt::make_head(64, 700, 40, 12, roles, false, seed++), isa, 2);
            run_case(tt::make_head(9, 77, 9, 30, roles, true, seed++), isa, 2);
        }
}

TEST_CASE("low_precision") {
    // The kernel reads bf16 / fp16 exactly and accumulates in fp32: the oracle on the rounded values, same tolerance.
    unsigned seed = 300;
    for (int isa : isas())
        for (int dt : {TASFT_BFLOAT16, TASFT_FLOAT16}) run_case(tt::make_head(29, 411, 21, 11, "mixed", false, seed++, dt), isa, 2);
}

TEST_CASE("padded_and_large_logits") {
    unsigned seed = 400;
    for (int isa : isas()) {
        run_case(tt::make_head(23, 290, 19, 6, "mixed", false, seed++, TASFT_FLOAT32, 5), isa, 2);
        // logits of size ~100: the online max is rescaled many times over the tiles
        run_case(tt::make_head(21, 2000, 16, 8, "mixed", false, seed++, TASFT_FLOAT32, 0, 25.0), isa, 2, 5e-5);
    }
}

TEST_CASE("partial_outputs") {
    tt::HeadCase c = tt::make_head(40, 333, 20, 9, "mixed", false, 500);
    for (int isa : isas()) {
        run_case(c, isa, 2, 2e-5, false, false);  // forward only
        run_case(c, isa, 2, 2e-5, true, false);   // frozen head: grad_hidden only
        run_case(c, isa, 2, 2e-5, false, true);
    }
}

TEST_CASE("thread_counts") {
    tt::HeadCase c = tt::make_head(97, 1500, 40, 10, "mixed", false, 600);
    for (int isa : isas())
        for (int t : {1, 2, 3, 5}) {
            Out a = run_case(c, isa, t), b = run_case(c, isa, t);
            CHECK(a.loss == b.loss && a.gh == b.gh && a.gw == b.gw, "%d threads: a repeat gave other bits", t);
        }
}

TEST_CASE("no_active_rows") {
    tt::HeadCase c = tt::make_head(6, 40, 8, 4, "mixed", false, 700);
    for (auto& r : c.roles) r = 0;
    c.want = ref::HeadResult{std::vector<double>(6, 0.0), std::vector<double>(6 * 8, 0.0),
                             std::vector<double>(40 * 8, 0.0)};
    for (int isa : isas()) run_case(c, isa, 2);
    tasft_head_args a = tt::head_args(c, nullptr, nullptr, nullptr);
    a.rows = 0;
    CHECK(tasft_head_cpu(&a) == TASFT_OK, "rows 0: %s", tasft_last_error());
}

TEST_CASE("bad_arguments") {
    tt::HeadCase c = tt::make_head(4, 30, 6, 5, "mixed", false, 800);
    std::vector<float> loss(4, 9.0f), gh(24, 9.0f), gw(180, 9.0f);
    auto expect = [&](tasft_head_args a, int status, const char* needle) {
        const int st = tasft_head_cpu(&a);
        CHECK(st == status, "status %d, want %d (%s)", st, status, tasft_last_error());
        CHECK(std::strstr(tasft_last_error(), needle), "message '%s' lacks '%s'", tasft_last_error(), needle);
        CHECK(std::strstr(tasft_last_error(), "tasft_head_cpu"), "message '%s' names no function", tasft_last_error());
        for (float x : loss) CHECK(x == 9.0f, "loss_rows written on failure");
        for (float x : gh) CHECK(x == 9.0f, "grad_hidden written on failure");
        for (float x : gw) CHECK(x == 9.0f, "grad_weight written on failure");
        tt::counts().checks++;
    };
    tasft_head_args ok = tt::head_args(c, loss.data(), gh.data(), gw.data());
    CHECK(tasft_head_cpu(nullptr) == TASFT_INVALID_ARGUMENT, "NULL args");
    tasft_head_args a = ok;
    a.vocab = 0;
    expect(a, TASFT_INVALID_ARGUMENT, "vocab must be > 0");
    a = ok;
    a.hidden_dim = 0;
    expect(a, TASFT_INVALID_ARGUMENT, "hidden_dim must be > 0");
    a = ok;
    a.hidden_row_stride = 3;
    expect(a, TASFT_INVALID_ARGUMENT, "hidden_row_stride");
    a = ok;
    a.weight_dtype = 9;
    expect(a, TASFT_INVALID_ARGUMENT, "weight_dtype 9");
    a = ok;
    a.hidden = nullptr;
    expect(a, TASFT_INVALID_ARGUMENT, "hidden is NULL");
    a = ok;
    a.roles = nullptr;
    expect(a, TASFT_INVALID_ARGUMENT, "roles is NULL");
    a = ok;
    a.loss_rows = nullptr;
    expect(a, TASFT_INVALID_ARGUMENT, "loss_rows is NULL");
    a = ok;
    a.dim = 0;
    expect(a, TASFT_INVALID_ARGUMENT, "dim must be > 0");
    std::vector<int8_t> roles = c.roles;
    roles[2] = 3;
    a = ok;
    a.roles = roles.data();
    expect(a, TASFT_INVALID_ARGUMENT, "roles[2] = 3");
    std::vector<int64_t> targets = c.targets;
    targets[1] = 30;
    std::vector<int8_t> all_ce(4, 1);
    a = ok;
    a.targets = targets.data();
    a.roles = all_ce.data();
    expect(a, TASFT_INVALID_ARGUMENT, "targets[1] = 30 is outside [0, 30)");
    std::vector<int8_t> all_emd(4, 2);
    a = ok;
    a.roles = all_emd.data();
    a.unit_embedding = nullptr;
    expect(a, TASFT_INVALID_ARGUMENT, "is EMD but unit_embedding is NULL");
    a = ok;
    a.emd_grad_scale = std::nanf("");
    expect(a, TASFT_INVALID_ARGUMENT, "NaN");
    tasft_emd_variant v{};
    v.cpu_isa = 17;
    CHECK(tasft_head_cpu_variant(&ok, &v) == TASFT_INVALID_ARGUMENT, "bad variant");
    CHECK(std::strstr(tasft_last_error(), "cpu_isa 17"), "%s", tasft_last_error());
    // a target outside the range on an ignored row is not an error (as roles say it is not read)
    std::vector<int8_t> ignore_1 = all_ce;
    ignore_1[1] = 0;
    a = ok;
    a.targets = targets.data();
    a.roles = ignore_1.data();
    CHECK(tasft_head_cpu(&a) == TASFT_OK, "%s", tasft_last_error());
    CHECK(loss[1] == 0.0f, "ignored row's loss %g", (double)loss[1]);
}

int main(int argc, char** argv) { return tt::run_main(argc, argv); }
