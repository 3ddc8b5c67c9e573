// Native tests of tasft_head_cuda against the float64 oracle (head_cases.h), the same cases as test_head_cpu; each
// prints SKIP without a GPU.
#include "head_cases.h"
#include "test_cuda_util.h"

namespace {

struct DevOut {
    std::vector<float> loss, gh, gw;
};

// Runs the case on the device (grad_weight accumulated onto a non-zero start) and checks it against the oracle.
DevOut run_cuda(const tt::HeadCase& c, double tol = 2e-5, bool want_grads = true) {
    require_cuda();
    DeviceBuffer h(c.h.bytes.data(), c.h.bytes.size()), w(c.w.bytes.data(), c.w.bytes.size()),
        e(c.e.bytes.data(), c.e.bytes.size()), t(c.targets.data(), c.targets.size() * 8),
        r(c.roles.data(), c.roles.size());
    std::vector<float> start(c.vocab * c.hidden);
    for (size_t i = 0; i < start.size(); ++i) start[i] = (float)((int)(i % 7) - 3) * 0.25f;
    DeviceBuffer loss(c.rows * 4), gh(c.rows * c.hidden * 4), gw(start.data(), start.size() * 4);
    loss.fill_nan();
    gh.fill_nan();
    tasft_head_args a = tt::head_args(c, loss.get<float>(), want_grads ? gh.get<float>() : nullptr,
                                      want_grads ? gw.get<float>() : nullptr);
    a.hidden = h.get(), a.weight = w.get(), a.unit_embedding = e.get();
    a.targets = t.get<int64_t>(), a.roles = r.get<int8_t>();
    CHECK(tasft_head_cuda(&a) == TASFT_OK, "%s", tasft_last_error());
    CUDA_OK(cudaDeviceSynchronize());
    DevOut o{std::vector<float>(c.rows), std::vector<float>(c.rows * c.hidden), std::vector<float>(start.size())};
    CUDA_OK(cudaMemcpy(o.loss.data(), loss.get(), o.loss.size() * 4, cudaMemcpyDeviceToHost));
    CUDA_OK(cudaMemcpy(o.gh.data(), gh.get(), o.gh.size() * 4, cudaMemcpyDeviceToHost));
    CUDA_OK(cudaMemcpy(o.gw.data(), gw.get(), o.gw.size() * 4, cudaMemcpyDeviceToHost));
    const std::string ctx = "[cuda " + std::to_string(c.rows) + " x " + std::to_string(c.vocab) + " x " +
                            std::to_string(c.hidden) + ", " + tt::dname(c.h.dtype) + "]";
    for (int64_t n = 0; n < c.rows; ++n)
        CHECK(std::fabs(o.loss[n] - c.want.loss[n]) <= tol * (1.0 + std::fabs(c.want.loss[n])) * 4,
              "%s loss[%lld] = %.9g, want %.9g", ctx.c_str(), (long long)n, (double)o.loss[n], c.want.loss[n]);
    if (want_grads) {
        tt::near("grad_hidden", o.gh, c.want.grad_hidden, tol, ctx);
        for (size_t i = 0; i < start.size(); ++i) o.gw[i] -= start[i];
        tt::near("grad_weight", o.gw, c.want.grad_weight, tol, ctx);
    } else {
        for (size_t i = 0; i < start.size(); ++i) CHECK(o.gw[i] == start[i], "%s grad_weight written", ctx.c_str());
    }
    return o;
}

}  // namespace

TEST_CASE("random_shapes") {
    run_cuda(tt::make_head(1, 1, 1, 1, "mixed", false, 1));
    run_cuda(tt::make_head(7, 50, 13, 5, "mixed", false, 2));
    run_cuda(tt::make_head(301, 517, 48, 17, "mixed", false, 3));
    run_cuda(tt::make_head(5, 3001, 100, 7, "mixed", false, 4));
}

TEST_CASE("tied_and_roles") {
    run_cuda(tt::make_head(45, 300, 24, 0, "mixed", true, 10));
    run_cuda(tt::make_head(64, 700, 40, 12, "ce", false, 11));
    run_cuda(tt::make_head(64, 700, 40, 12, "emd", true, 12));
    run_cuda(tt::make_head(40, 333, 20, 9, "mixed", false, 13), 2e-5, false);
}

TEST_CASE("low_precision_and_large_logits") {
    run_cuda(tt::make_head(29, 411, 21, 11, "mixed", false, 20, TASFT_BFLOAT16));
    run_cuda(tt::make_head(29, 411, 21, 11, "mixed", false, 21, TASFT_FLOAT16, 3));
    run_cuda(tt::make_head(21, 2000, 16, 8, "mixed", false, 22, TASFT_FLOAT32, 0, 25.0), 5e-5);
}

TEST_CASE("bad_arguments") {
    require_cuda();
    tt::HeadCase c = tt::make_head(4, 30, 6, 5, "ce", false, 30);
    c.targets[2] = 99;
    DeviceBuffer h(c.h.bytes.data(), c.h.bytes.size()), w(c.w.bytes.data(), c.w.bytes.size()),
        t(c.targets.data(), c.targets.size() * 8), r(c.roles.data(), c.roles.size()), loss(16);
    tasft_head_args a = tt::head_args(c, loss.get<float>(), nullptr, nullptr);
    a.hidden = h.get(), a.weight = w.get(), a.unit_embedding = nullptr;
    a.targets = t.get<int64_t>(), a.roles = r.get<int8_t>();
    CHECK(tasft_head_cuda(&a) == TASFT_INVALID_ARGUMENT, "%s", tasft_last_error());
    CHECK(std::strstr(tasft_last_error(), "targets[2] = 99"), "%s", tasft_last_error());
}

int main(int argc, char** argv) { return tt::run_main(argc, argv); }
