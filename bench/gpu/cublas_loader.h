// cuBLAS loaded at run time (dlopen of libcublas.so.13 / .12 / .so) through the declarations below, so the GPU
// benchmarks (emd_gpu_bench.cu, v3_gemm_bench.cu) compile wherever nvcc is, and their cuBLAS rows appear wherever
// cuBLAS is.
#ifndef TASFT_BENCH_CUBLAS_LOADER_H
#define TASFT_BENCH_CUBLAS_LOADER_H

#include <cuda_runtime.h>
#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>

namespace {

typedef struct cublasContext* cublasHandle_t;
typedef int (*CublasCreate)(cublasHandle_t*);
typedef int (*CublasSetStream)(cublasHandle_t, cudaStream_t);
typedef int (*CublasGemmEx)(cublasHandle_t, int, int, int, int, int, const void*, const void*, int, int, const void*,
                            int, int, const void*, void*, int, int, int, int);
constexpr int kOpN = 0, kOpT = 1, kR16BF = 14, kR32F = 0, kCompute32F = 68, kGemmDefault = -1;

struct Cublas {
    void* lib = nullptr;
    CublasCreate create = nullptr;
    CublasSetStream set_stream = nullptr;
    CublasGemmEx gemm = nullptr;
    cublasHandle_t handle = nullptr;
    bool ok = false;
    void load() {
        for (const char* name : {"libcublas.so.13", "libcublas.so.12", "libcublas.so"}) {
            lib = dlopen(name, RTLD_NOW | RTLD_GLOBAL);
            if (lib) break;
        }
        if (!lib) return;
        create = (CublasCreate)dlsym(lib, "cublasCreate_v2");
        set_stream = (CublasSetStream)dlsym(lib, "cublasSetStream_v2");
        gemm = (CublasGemmEx)dlsym(lib, "cublasGemmEx");
        ok = create && set_stream && gemm && create(&handle) == 0;
    }
    // Row-major C[M, N] (ldc) = A[M, K] @ op(B), bf16 inputs, fp32 compute; b_transposed: B given as [N, K] rows.
    void matmul(int M, int N, int K, const void* A, int lda, const void* B, int ldb, bool b_transposed, void* C,
                int ctype, int ldc, cudaStream_t s) {
        const float one = 1.0f, zero = 0.0f;
        set_stream(handle, s);
        // Column-major view: C^T[N, M] = op(B)^T[N, K] @ A^T[K, M].
        const int st = gemm(handle, b_transposed ? kOpT : kOpN, kOpN, N, M, K, &one, B, kR16BF, ldb, A, kR16BF, lda, &zero,
                            C, ctype, ldc, kCompute32F, kGemmDefault);
        if (st != 0) {
            std::fprintf(stderr, "cublasGemmEx failed with status %d\n", st);
            std::exit(1);
        }
    }
};

}  // namespace

#endif
