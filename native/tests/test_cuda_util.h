// Test helpers for the CUDA tests: a CUDA_OK check, a skip without a device, self-freeing device buffers, streams,
// and the CUDA backend of the shared runner (test_cases.h).
#ifndef TASFT_TEST_CUDA_UTIL_H
#define TASFT_TEST_CUDA_UTIL_H

#include <cuda_runtime.h>

#include <optional>
#include <string>

#include "test_cases.h"

namespace {

#define CUDA_OK(call)                                                                                        \
    do {                                                                                                     \
        cudaError_t cuda_ok_err = (call);                                                                    \
        CHECK(cuda_ok_err == cudaSuccess, "%s: %s", #call, cudaGetErrorString(cuda_ok_err));                 \
    } while (0)

void require_cuda() {
    if (!tasft_cuda_available()) throw tt::Skipped("no CUDA device");
}

// Device memory that frees itself, so a failed CHECK does not leak.
class DeviceBuffer {
public:
    explicit DeviceBuffer(size_t bytes) : bytes_(bytes) {
        if (bytes) CUDA_OK(cudaMalloc(&ptr_, bytes));
    }
    DeviceBuffer(const void* host, size_t bytes) : DeviceBuffer(bytes) {
        if (bytes) CUDA_OK(cudaMemcpy(ptr_, host, bytes, cudaMemcpyHostToDevice));
    }
    ~DeviceBuffer() {
        if (ptr_) cudaFree(ptr_);
    }
    DeviceBuffer(const DeviceBuffer&) = delete;
    DeviceBuffer& operator=(const DeviceBuffer&) = delete;
    template <class T = void>
    T* get() const { return static_cast<T*>(ptr_); }
    // Every byte 0xFF: a NaN in f32, bf16 and f16, so any element left unwritten fails the comparison.
    void fill_nan() {
        if (bytes_) CUDA_OK(cudaMemset(ptr_, 0xFF, bytes_));
    }
    template <class T>
    std::vector<T> download() const {
        std::vector<T> out(bytes_ / sizeof(T));
        if (bytes_) CUDA_OK(cudaMemcpy(out.data(), ptr_, bytes_, cudaMemcpyDeviceToHost));
        return out;
    }

private:
    void* ptr_ = nullptr;
    size_t bytes_;
};

// RAII for a non-default stream (so both the legacy default stream and user streams get exercised).
class Stream {
public:
    Stream() { CUDA_OK(cudaStreamCreateWithFlags(&s_, cudaStreamNonBlocking)); }
    ~Stream() { cudaStreamDestroy(s_); }
    Stream(const Stream&) = delete;
    Stream& operator=(const Stream&) = delete;
    cudaStream_t get() const { return s_; }

private:
    cudaStream_t s_ = nullptr;
};

tt::Variant cuda_kernel(int kernel) {
    tt::Variant v;
    v.kernel.cuda_kernel = kernel;
    return v;
}

// A case's buffers on the device and the arguments of a call over them, for the options `o`: the inputs copied (the
// case's targets or o.targets; in-place mode overwrites the logits), every output filled with 0xFF bytes (NaN in
// every dtype) so that padding must stay NaN and every other element must be written.
struct DeviceCall {
    DeviceBuffer logits, emb, tgt, loss, expected, grad, bound, mass;
    tasft_emd_args args;
    tasft_emd_skip skip_args{};

    DeviceCall(const tt::Case& c, const tt::RunOptions& o)
        : logits(c.logits.bytes.data(), c.logits.bytes.size()),
          emb(c.embedding.bytes.data(), c.embedding.bytes.size()),
          tgt(targets(c, o).data(), targets(c, o).size() * sizeof(int64_t)),
          loss((size_t)c.spec.rows * sizeof(float)),
          expected(o.expected ? (size_t)c.spec.rows * (size_t)c.spec.dim * sizeof(float) : 0),
          grad(o.grad == tt::Grad::NewBuffer ? c.logits.bytes.size() : 0),
          bound(o.skip() ? (size_t)c.spec.rows * sizeof(float) : 0),
          mass(o.skip() ? (size_t)c.spec.rows * sizeof(float) : 0),
          args(tt::shape_args(c)) {
        for (DeviceBuffer* b : {&loss, &expected, &grad, &bound, &mass}) b->fill_nan();
        // The copies and memsets above ran on the legacy default stream, which a non-blocking stream does not wait for.
        CUDA_OK(cudaDeviceSynchronize());
        args.logits = logits.get();
        args.unit_embedding = emb.get();
        args.targets = tgt.get<int64_t>();
        args.loss_rows = loss.get<float>();
        args.expected_embedding = o.expected ? expected.get<float>() : nullptr;
        args.grad_logits = o.grad == tt::Grad::NewBuffer ? grad.get()
                           : o.grad == tt::Grad::InPlace ? logits.get() : nullptr;
        args.grad_scale = o.grad_scale;
        args.cuda_stream = o.stream;
        skip_args.threshold = o.threshold;
        skip_args.loss_error_bound = bound.get<float>();
        skip_args.skipped_mass = mass.get<float>();
    }
    // The skipping arguments when the options ask for the skipping mode, else NULL.
    const tasft_emd_skip* skip(const tt::RunOptions& o) const { return o.skip() ? &skip_args : nullptr; }

private:
    static const std::vector<int64_t>& targets(const tt::Case& c, const tt::RunOptions& o) {
        return o.targets ? *o.targets : c.targets;
    }
};

// Copies the case to the device, runs tasft_emd_cuda(_skip)(_async) (the default variant) or
// tasft_emd_cuda_variant(_async), waits for it and copies every output back. With `refused` given, a call answered
// TASFT_UNSUPPORTED (an explicit version that cannot run it) is no failure: the outputs and the logits must then be
// untouched, *refused gets the message, and the result is empty.
std::optional<tt::Outputs> try_run_cuda(const tt::Case& c, const tt::Variant& v, const tt::RunOptions& o,
                                        std::string* refused) {
    DeviceCall call(c, o);
    DeviceBuffer &logits = call.logits, &loss = call.loss, &expected = call.expected, &grad = call.grad;
    DeviceBuffer &bound = call.bound, &mass = call.mass;
    const tasft_emd_args& a = call.args;
    const tasft_emd_skip* skip = call.skip(o);
    cudaStream_t stream = static_cast<cudaStream_t>(o.stream);
    int st;
    if (!v.is_default())
        st = o.async ? tasft_emd_cuda_variant_async(&a, skip, &v.kernel) : tasft_emd_cuda_variant(&a, skip, &v.kernel);
    else if (skip)
        st = o.async ? tasft_emd_cuda_skip_async(&a, skip) : tasft_emd_cuda_skip(&a, skip);
    else
        st = o.async ? tasft_emd_cuda_async(&a) : tasft_emd_cuda(&a);
    if (refused && st == TASFT_UNSUPPORTED) {
        *refused = tasft_last_error();
        CHECK(!refused->empty(), "%s: %s refused without a message", c.spec.describe().c_str(), v.describe().c_str());
        CUDA_OK(cudaDeviceSynchronize());
        for (DeviceBuffer* b : {&loss, &expected, &grad, &bound, &mass})
            for (unsigned char x : b->download<unsigned char>())
                CHECK(x == 0xFF, "%s: %s was refused (%s) but wrote an output", c.spec.describe().c_str(),
                      v.describe().c_str(), refused->c_str());
        CHECK(logits.download<unsigned char>() == c.logits.bytes, "%s: %s was refused but changed the logits",
              c.spec.describe().c_str(), v.describe().c_str());
        return std::nullopt;
    }
    CHECK(st == TASFT_OK, "%s: %s: status %d: %s", c.spec.describe().c_str(), v.describe().c_str(), st,
          tasft_last_error());
    CHECK(tasft_last_error()[0] == '\0', "a successful call left the message '%s'", tasft_last_error());
    CUDA_OK(cudaStreamSynchronize(stream));  // also surfaces a fault inside the kernel
    CUDA_OK(cudaGetLastError());

    tt::Outputs out;
    out.loss = loss.download<float>();
    if (o.expected) out.expected = expected.download<float>();
    if (o.skip()) {
        out.bound = bound.download<float>();
        out.mass = mass.download<float>();
    }
    if (o.grad == tt::Grad::NewBuffer) out.grad = grad.download<unsigned char>();
    if (o.grad == tt::Grad::InPlace) out.grad = logits.download<unsigned char>();
    if (o.grad == tt::Grad::None)  // the logits must come back unchanged from a forward-only call
        CHECK(logits.download<unsigned char>() == c.logits.bytes, "%s: forward-only call modified the logits",
              c.spec.describe().c_str());
    return out;
}

tt::Outputs run_cuda(const tt::Case& c, const tt::Variant& v, const tt::RunOptions& o) {
    return *try_run_cuda(c, v, o, nullptr);
}

// The CUDA backend on one kernel version, named explicitly (without a device, every test using it skips).
tt::Backend cuda_backend(int kernel) {
    return tt::Backend{"cuda", [kernel] { return std::vector<tt::Variant>{cuda_kernel(kernel)}; }, run_cuda, nullptr,
                       tt::Tolerance()};
}

}  // namespace

#endif
