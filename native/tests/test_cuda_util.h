// Test helpers for the CUDA tests: a CUDA_OK check, a skip without a device, self-freeing device buffers, streams.
#ifndef TASFT_TEST_CUDA_UTIL_H
#define TASFT_TEST_CUDA_UTIL_H

#include <cuda_runtime.h>

#include "test_util.h"

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

}  // namespace

#endif
