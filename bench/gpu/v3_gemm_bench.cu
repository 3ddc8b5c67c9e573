// Stage S1 of issue 11: the v3 kernel's two main loops (native/src/emd_v3_mainloop.cuh) as plain bf16 GEMMs with
// fp32 output, timed against cublasGemmEx on the same inputs in the same run, and checked against it.
//
//   v3_gemm_k3  C[M, N] = A[M, K] B[N, K]^T   both operands K-major by TMA (the loss's backward, S = R E^T)
//   v3_gemm_k1  C[M, N] = A[M, K] B[K, N]     A through registers, B transposed (the loss's forward, U = P' E)
//
//   v3_gemm_bench [--shapes M,N,K;M,N,K...] [--iters 10] [--warmup 2] [--out FILE.tsv] [--ops k1,k3]
// Defaults: the loss's GEMMs at N = 8192 rows, D = 4096: forward 8192 x 4096 x {32000, 128256}, backward
// 8192 x {32000, 128256} x 4096. Median of --iters runs with CUDA events, L2 flushed before each. Exit code 1 when a
// result disagrees with cuBLAS beyond bf16-input / fp32-accumulation rounding (max |diff| > 1e-2 max |C|), so the
// first GPU window learns both speed and correctness; 2 on bad arguments or a CUDA error.
#include <cuda_runtime.h>
#include <cuda_bf16.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "cublas_loader.h"
#include "emd_v3_mainloop.cuh"

#define CK(call)                                                                                                    \
    do {                                                                                                            \
        cudaError_t e_ = (call);                                                                                    \
        if (e_ != cudaSuccess) {                                                                                    \
            std::fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call, cudaGetErrorString(e_));             \
            std::exit(2);                                                                                           \
        }                                                                                                           \
    } while (0)

namespace {

using namespace tasft::v3;
namespace sm90 = tasft::sm90;

struct GemmParams {
    float* C;
    uint32_t M, N, K, row_tiles, col_tiles, ksteps;
};

#if defined(TASFT_V3_DEVICE)
// Plain epilogue: the accumulators to C (fp32), rows < M and columns < N.
__device__ __forceinline__ void store_tile(const GemmParams& g, const float (&acc)[128], uint32_t row0, uint32_t col0,
                                           uint32_t t) {
#pragma unroll
    for (int i = 0; i < 128; ++i) {
        const sm90::RowCol f = sm90::acc_fragment(t, i);
        const uint32_t r = row0 + f.row, c = col0 + f.col;
        if (r < g.M && c < g.N) g.C[(size_t)r * g.N + c] = acc[i];
    }
}
#endif

__global__ void __launch_bounds__(kThreads, 1)
    v3_gemm_k3(const __grid_constant__ CUtensorMap tm_a, const __grid_constant__ CUtensorMap tm_b, GemmParams g) {
#if defined(TASFT_V3_DEVICE)
    const Smem sm = setup_block();
    const uint32_t wg = threadIdx.x / 128;
    if (wg == 0) {
        produce_k3(sm, &tm_a, &tm_b, g.row_tiles, g.col_tiles, g.ksteps);
        return;
    }
    consumer_registers();
    const uint32_t cw = wg - 1, t = threadIdx.x % 128;
    float acc[128];
    uint32_t it = 0;
    for_each_tile(g.row_tiles, g.col_tiles, [&](const sm90::Tile& tile) {
        mainloop_k3(sm, acc, it, g.ksteps, cw);
        store_tile(g, acc, tile.row_tile * kBM + cw * kWgRows, tile.col_tile * kBN, t);
    });
#else
    __trap();
#endif
}

__global__ void __launch_bounds__(kThreads, 1)
    v3_gemm_k1(const __grid_constant__ CUtensorMap tm_a, const __grid_constant__ CUtensorMap tm_b, GemmParams g) {
#if defined(TASFT_V3_DEVICE)
    const Smem sm = setup_block();
    const uint32_t wg = threadIdx.x / 128;
    if (wg == 0) {
        produce_k1(sm, &tm_a, &tm_b, g.row_tiles, g.col_tiles, g.ksteps);
        return;
    }
    consumer_registers();
    const uint32_t cw = wg - 1, t = threadIdx.x % 128;
    // A's fragments straight from the TMA tile (the loss kernel makes p = exp(z - lse) here instead).
    auto make_a = [&](uint32_t a_base, uint32_t, uint32_t (&a)[4][4]) {
#pragma unroll
        for (uint32_t step = 0; step < kBK / kInstK; ++step)
#pragma unroll
            for (uint32_t reg = 0; reg < 4; ++reg) {
                const sm90::RowCol f = sm90::a_fragment(t, reg, 0);
                const uint32_t addr = k1_logit_addr(a_base, cw * kWgRows + f.row, step * kInstK + f.col);
                asm volatile("ld.shared.b32 %0, [%1];\n" : "=r"(a[step][reg]) : "r"(addr));
            }
    };
    float acc[128];
    uint32_t it = 0;
    for_each_tile(g.row_tiles, g.col_tiles, [&](const sm90::Tile& tile) {
        mainloop_k1(sm, acc, it, g.ksteps, make_a);
        store_tile(g, acc, tile.row_tile * kBM + cw * kWgRows, tile.col_tile * kBN, t);
    });
#else
    __trap();
#endif
}

__global__ void fill_random(__nv_bfloat16* x, size_t n, uint32_t seed, float scale) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        uint32_t h = (uint32_t)i * 2654435761u ^ seed;
        h ^= h >> 15;
        h *= 2246822519u;
        h ^= h >> 13;
        x[i] = __float2bfloat16(((float)(h & 0xFFFFFF) / 16777216.0f - 0.5f) * scale);
    }
}

struct Shape {
    uint32_t M, N, K;
};

Cublas g_cublas;
cudaStream_t g_stream;
void* g_flush = nullptr;
size_t g_flush_bytes = 0;

template <typename Fn>
double median_ms(Fn&& fn, int iters, int warmup) {
    for (int i = 0; i < warmup; ++i) fn();
    cudaEvent_t a, b;
    CK(cudaEventCreate(&a));
    CK(cudaEventCreate(&b));
    std::vector<double> ms;
    for (int i = 0; i < iters; ++i) {
        CK(cudaMemsetAsync(g_flush, 0, g_flush_bytes, g_stream));
        CK(cudaEventRecord(a, g_stream));
        fn();
        CK(cudaEventRecord(b, g_stream));
        CK(cudaEventSynchronize(b));
        float t = 0;
        CK(cudaEventElapsedTime(&t, a, b));
        ms.push_back(t);
    }
    CK(cudaEventDestroy(a));
    CK(cudaEventDestroy(b));
    std::sort(ms.begin(), ms.end());
    return ms[ms.size() / 2];
}

bool map_or_die(CUtensorMap* m, const void* p, uint64_t rows, uint64_t cols, uint32_t box_rows, const char* what) {
    char why[256];
    if (encode_tma_2d(m, p, rows, cols, cols, box_rows, why, sizeof why) != kTmaOk) {
        std::fprintf(stderr, "v3_gemm_bench: cannot map %s: %s\n", what, why);
        return false;
    }
    return true;
}

// Runs one op at one shape; returns false when it disagrees with cuBLAS.
bool run_case(const std::string& op, const Shape& s, int iters, int warmup, int sms, FILE* tsv) {
    const bool k1 = op == "k1";
    const size_t a_n = (size_t)s.M * s.K, b_n = (size_t)s.N * s.K, c_n = (size_t)s.M * s.N;
    __nv_bfloat16 *A, *B;
    float *C, *Cref;
    CK(cudaMalloc(&A, a_n * 2));
    CK(cudaMalloc(&B, b_n * 2));
    CK(cudaMalloc(&C, c_n * 4));
    CK(cudaMalloc(&Cref, c_n * 4));
    fill_random<<<1024, 256, 0, g_stream>>>(A, a_n, 17u, 2.0f);
    fill_random<<<1024, 256, 0, g_stream>>>(B, b_n, 91u, 2.0f);
    CK(cudaMemsetAsync(C, 0xFF, c_n * 4, g_stream));  // NaN: a tile the kernel never writes shows up

    CUtensorMap ta, tb;
    bool ok = map_or_die(&ta, A, s.M, s.K, kBM, "A");
    // k1: B is [K, N] (rows = K), loaded in boxes of 64 K-rows; k3: B is [N, K], boxes of kBN rows.
    ok = ok && (k1 ? map_or_die(&tb, B, s.K, s.N, kBK, "B") : map_or_die(&tb, B, s.N, s.K, kBN, "B"));
    double ms = NAN, ms_ref = NAN, max_diff = NAN, max_ref = NAN;
    if (ok) {
        GemmParams g{C, s.M, s.N, s.K, (s.M + kBM - 1) / kBM, (s.N + kBN - 1) / kBN, (s.K + kBK - 1) / kBK};
        const unsigned grid = sm90::persistent_grid(g.row_tiles * g.col_tiles, (uint32_t)sms);
        auto launch = [&] {
            if (k1) v3_gemm_k1<<<grid, kThreads, kSmemBytes, g_stream>>>(ta, tb, g);
            else v3_gemm_k3<<<grid, kThreads, kSmemBytes, g_stream>>>(ta, tb, g);
            CK(cudaGetLastError());
        };
        launch();
        CK(cudaStreamSynchronize(g_stream));
        ms = median_ms(launch, iters, warmup);
        if (g_cublas.ok) {
            auto ref = [&] {
                g_cublas.matmul((int)s.M, (int)s.N, (int)s.K, A, (int)s.K, B, k1 ? (int)s.N : (int)s.K, !k1, Cref,
                                kR32F, (int)s.N, g_stream);
            };
            ref();
            CK(cudaStreamSynchronize(g_stream));
            ms_ref = median_ms(ref, iters, warmup);
            // Compare on the host (one pass over C; the shapes are at most 8192 x 128256 fp32 = 4 GB: sample rows).
            const uint32_t step = std::max<uint32_t>(1, s.M / 64);
            std::vector<float> c(s.N), r(s.N);
            max_diff = 0;
            max_ref = 0;
            for (uint32_t row = 0; row < s.M; row += step) {
                CK(cudaMemcpy(c.data(), C + (size_t)row * s.N, s.N * 4, cudaMemcpyDeviceToHost));
                CK(cudaMemcpy(r.data(), Cref + (size_t)row * s.N, s.N * 4, cudaMemcpyDeviceToHost));
                for (uint32_t j = 0; j < s.N; ++j) {
                    const double d = std::fabs((double)c[j] - r[j]);
                    max_diff = std::isnan(d) ? INFINITY : std::max(max_diff, d);
                    max_ref = std::max(max_ref, (double)std::fabs(r[j]));
                }
            }
        }
    }
    const double tflops = 2.0 * s.M * s.N * s.K / (ms * 1e-3) / 1e12;
    const bool agrees = !g_cublas.ok || (ok && max_diff <= 1e-2 * max_ref);
    std::printf("%-3s M=%-6u N=%-6u K=%-6u  v3 %8.3f ms %6.1f TFLOP/s | cuBLAS %8.3f ms | v3/cuBLAS speed %.3f | "
                "max|diff| %.3g (max|C| %.3g) %s\n",
                op.c_str(), s.M, s.N, s.K, ms, tflops, ms_ref, ms_ref / ms, max_diff, max_ref,
                agrees ? "ok" : "MISMATCH");
    if (tsv)
        std::fprintf(tsv, "%s\t%u\t%u\t%u\t%.4f\t%.4f\t%.4f\t%.3g\t%.3g\t%s\n", op.c_str(), s.M, s.N, s.K, ms, ms_ref,
                     ms_ref / ms, max_diff, max_ref, agrees ? "ok" : "MISMATCH");
    CK(cudaFree(A));
    CK(cudaFree(B));
    CK(cudaFree(C));
    CK(cudaFree(Cref));
    return agrees && ok;
}

std::vector<Shape> parse_shapes(const std::string& arg) {
    std::vector<Shape> out;
    size_t pos = 0;
    while (pos < arg.size()) {
        size_t end = arg.find(';', pos);
        if (end == std::string::npos) end = arg.size();
        Shape s{};
        if (std::sscanf(arg.substr(pos, end - pos).c_str(), "%u,%u,%u", &s.M, &s.N, &s.K) != 3 || !s.M || !s.N || !s.K ||
            s.K % 8 || s.N % 8) {
            std::fprintf(stderr, "v3_gemm_bench: bad shape '%s' (M,N,K with N and K multiples of 8)\n",
                         arg.substr(pos, end - pos).c_str());
            std::exit(2);
        }
        out.push_back(s);
        pos = end + 1;
    }
    return out;
}

}  // namespace

int main(int argc, char** argv) {
    std::string k1_shapes = "8192,4096,32000;8192,4096,128256", k3_shapes = "8192,32000,4096;8192,128256,4096";
    std::string shapes_arg, ops = "k1,k3", out_path;
    int iters = 10, warmup = 2;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto next = [&]() -> std::string {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "v3_gemm_bench: %s needs a value\n", a.c_str());
                std::exit(2);
            }
            return argv[++i];
        };
        if (a == "--shapes") shapes_arg = next();
        else if (a == "--ops") ops = next();
        else if (a == "--iters") iters = std::atoi(next().c_str());
        else if (a == "--warmup") warmup = std::atoi(next().c_str());
        else if (a == "--out") out_path = next();
        else {
            std::fprintf(stderr, "v3_gemm_bench: unknown argument %s\n", a.c_str());
            return 2;
        }
    }
    if (iters < 1 || warmup < 0) {
        std::fprintf(stderr, "v3_gemm_bench: --iters must be >= 1 and --warmup >= 0\n");
        return 2;
    }
    int dev = 0;
    cudaDeviceProp prop{};
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
        std::fprintf(stderr, "v3_gemm_bench: no usable CUDA device\n");
        return 2;
    }
    CK(cudaGetDevice(&dev));
    CK(cudaGetDeviceProperties(&prop, dev));
    if (prop.major != 9 || prop.minor != 0) {
        std::printf("SKIP v3_gemm_bench: needs an sm_90 device, this is %s (%d.%d)\n", prop.name, prop.major,
                    prop.minor);
        return 0;
    }
    CK(cudaStreamCreate(&g_stream));
    g_flush_bytes = (size_t)std::max(prop.l2CacheSize, 1 << 20) * 2;
    CK(cudaMalloc(&g_flush, g_flush_bytes));
    CK(cudaFuncSetAttribute(v3_gemm_k1, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)kSmemBytes));
    CK(cudaFuncSetAttribute(v3_gemm_k3, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)kSmemBytes));
    g_cublas.load();
    std::printf("device %s, %d SMs; cuBLAS %s; iters %d, warmup %d\n", prop.name, prop.multiProcessorCount,
                g_cublas.ok ? "loaded" : "NOT FOUND (no reference: times only)", iters, warmup);
    FILE* tsv = out_path.empty() ? nullptr : std::fopen(out_path.c_str(), "w");
    if (tsv) std::fprintf(tsv, "op\tM\tN\tK\tv3_ms\tcublas_ms\tspeed_vs_cublas\tmax_abs_diff\tmax_abs_ref\tcheck\n");
    bool all_ok = true;
    for (const std::string op : {"k1", "k3"}) {
        if (ops.find(op) == std::string::npos) continue;
        for (const Shape& s : parse_shapes(shapes_arg.empty() ? (op == "k1" ? k1_shapes : k3_shapes) : shapes_arg))
            all_ok = run_case(op, s, iters, warmup, prop.multiProcessorCount, tsv) && all_ok;
    }
    if (tsv) std::fclose(tsv);
    return all_ok ? 0 : 1;
}
