package org.tasft.bench;

import java.nio.ByteOrder;
import java.nio.ShortBuffer;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

import org.bytedeco.cuda.cublas.cublasContext;
import org.bytedeco.cuda.global.cublas;
import org.bytedeco.cuda.global.cudart;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.Pointer;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.tasft.kernel.EmdNative;

/**
 * The JNI binding on device memory (issue 5): {@code tasft_emd_cuda_async} through {@link EmdNative} on buffers
 * allocated with the JavaCPP presets for CUDA ({@code org.bytedeco:cuda}), against the cuBLAS two-GEMM floor called
 * through the same presets: {@code P @ E} and {@code R @ E^T}, bf16 in and out, which no implementation of the math can
 * beat. bf16 logits and unit embedding, gradient in place; each invocation first restores the logits from a pristine
 * device copy (untimed). The kernel version is the parameter {@code kernel} (auto, v1, v2 or v3; default v2 and v3,
 * each named per call through {@code tasft_emd_cuda_variant_async}; v1 takes hours at this shape): a version that
 * cannot run here (v3 off sm_90) fails its trial with the library's reason, the others run. Needs no LibTorch:
 * bench/gpu/prepare-jvm.sh packs only the jars this class uses.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"-Xmx2g"})
@State(org.openjdk.jmh.annotations.Scope.Benchmark)
public class EmdCudaBenchmark {
    @org.openjdk.jmh.annotations.Param({"8192"})
    public int rows;
    @org.openjdk.jmh.annotations.Param({"32000"})
    public int vocab;
    @org.openjdk.jmh.annotations.Param({"4096"})
    public int dim;
    /** The CUDA kernel version: auto, v1, v2 or v3 ({@code tasft_emd_variant.cuda_kernel}). */
    @org.openjdk.jmh.annotations.Param({"v2", "v3"})
    public String kernel;

    private Pointer pristine, logits, emb, targets, loss, p, r, u, s;
    private cublasContext handle;
    private EmdNative.EmdArgs args;
    private EmdNative.EmdVariant variant;
    private long logitsBytes;

    private static void check(int status, String what) {
        if (status != cudart.cudaSuccess) {
            BytePointer msg = cudart.cudaGetErrorString(status);
            throw new IllegalStateException(what + " failed: " + (msg == null ? status : msg.getString()));
        }
    }

    private static Pointer deviceAlloc(long bytes) {
        Pointer ptr = new Pointer();
        check(cudart.cudaMalloc(ptr, bytes), "cudaMalloc(" + bytes + ")");
        return ptr;
    }

    /** bf16 bits of x (round to nearest even). */
    private static short bf16(float x) {
        int b = Float.floatToRawIntBits(x);
        b += 0x7fff + ((b >>> 16) & 1);
        return (short) (b >>> 16);
    }

    /** Host bf16 values into a device buffer, made chunk by chunk so the heap stays small. */
    private static void upload(Pointer device, long count, java.util.function.LongToDoubleFunction value) {
        final int chunk = 1 << 22;
        org.bytedeco.javacpp.ShortPointer host = new org.bytedeco.javacpp.ShortPointer(chunk);
        ShortBuffer buf = host.asByteBuffer().order(ByteOrder.nativeOrder()).asShortBuffer();
        for (long start = 0; start < count; start += chunk) {
            int n = (int) Math.min(chunk, count - start);
            buf.clear();
            for (int i = 0; i < n; ++i) {
                buf.put(bf16((float) value.applyAsDouble(start + i)));
            }
            BytePointer at = new BytePointer(device).position(2 * start);  // device address + 2 * start bytes
            check(cudart.cudaMemcpy(at, host, 2L * n, cudart.cudaMemcpyHostToDevice), "cudaMemcpy of the inputs");
        }
        host.close();
    }

    @Setup(Level.Trial)
    public void setUp() {
        int[] count = {0};
        check(cudart.cudaGetDeviceCount(count), "cudaGetDeviceCount");
        if (count[0] < 1 || EmdNative.tasft_cuda_available() != 1) {
            throw new IllegalStateException("no CUDA device (or libtasft built without CUDA)");
        }
        logitsBytes = 2L * rows * vocab;
        // A table of normal deviates makes the 10^8-10^9 inputs fast to produce; values only matter for realism.
        SplittableRandom rng = new SplittableRandom(42);
        double[] normal = new double[1 << 16];
        for (int i = 0; i < normal.length; ++i) {
            normal[i] = rng.nextGaussian();
        }
        long seedMul = 0x9E3779B97F4A7C15L;
        pristine = deviceAlloc(logitsBytes);
        upload(pristine, (long) rows * vocab, i -> 3.0 * normal[(int) ((i * seedMul) >>> 48)]);
        // Unit rows: entries normal / sqrt(dim) have norm ~1; exact unit norm is not needed for timing.
        emb = deviceAlloc(2L * vocab * dim);
        double scale = 1.0 / Math.sqrt(dim);
        upload(emb, (long) vocab * dim, i -> scale * normal[(int) (((i + 7) * seedMul) >>> 48)]);
        LongPointer hostTargets = new LongPointer(rows);
        for (int n = 0; n < rows; ++n) {
            hostTargets.put(n, rng.nextInt(vocab));
        }
        targets = deviceAlloc(8L * rows);
        check(cudart.cudaMemcpy(targets, hostTargets, 8L * rows, cudart.cudaMemcpyHostToDevice), "cudaMemcpy targets");
        logits = deviceAlloc(logitsBytes);
        loss = deviceAlloc(4L * rows);
        args = new EmdNative.EmdArgs()
                .logits(logits).logits_dtype(EmdNative.TASFT_BFLOAT16)
                .rows(rows).vocab(vocab).logits_row_stride(vocab)
                .unit_embedding(emb).embedding_dtype(EmdNative.TASFT_BFLOAT16).dim(dim)
                .targets(new LongPointer(targets)).ignore_index(-100).grad_scale(1f)
                .loss_rows(new FloatPointer(loss)).grad_logits(logits);
        variant = new EmdNative.EmdVariant().cuda_kernel(kernelCode(kernel));
        // Which version runs (auto resolved), or why this one cannot run here: before any timing.
        try (org.bytedeco.javacpp.IntPointer chosen = new org.bytedeco.javacpp.IntPointer(1)) {
            int st = EmdNative.tasft_emd_cuda_kernel_choice(args, null, variant, chosen);
            if (st != EmdNative.TASFT_OK) {
                throw new IllegalStateException("kernel " + kernel + " does not run here: "
                        + EmdNative.tasft_last_error());
            }
            System.out.println("EmdCudaBenchmark: kernel " + kernel + " runs v" + chosen.get());
        }
        // The floor's operands: P [rows, vocab], R [rows, dim], outputs U [rows, dim] and S [rows, vocab], all bf16.
        p = deviceAlloc(logitsBytes);
        check(cudart.cudaMemcpy(p, pristine, logitsBytes, cudart.cudaMemcpyDeviceToDevice), "cudaMemcpy P");
        r = deviceAlloc(2L * rows * dim);
        upload(r, (long) rows * dim, i -> 0.02 * normal[(int) (((i + 13) * seedMul) >>> 48)]);
        u = deviceAlloc(2L * rows * dim);
        s = deviceAlloc(logitsBytes);
        handle = new cublasContext();
        if (cublas.cublasCreate_v2(handle) != cublas.CUBLAS_STATUS_SUCCESS) {
            throw new IllegalStateException("cublasCreate failed");
        }
        check(cudart.cudaDeviceSynchronize(), "setup");
    }

    @Setup(Level.Invocation)
    public void restoreLogits() {
        check(cudart.cudaMemcpy(logits, pristine, logitsBytes, cudart.cudaMemcpyDeviceToDevice), "restoring logits");
        check(cudart.cudaDeviceSynchronize(), "restoring logits");
    }

    private static int kernelCode(String name) {
        return switch (name) {
            case "auto" -> EmdNative.TASFT_CUDA_KERNEL_AUTO;
            case "v1" -> EmdNative.TASFT_CUDA_KERNEL_V1;
            case "v2" -> EmdNative.TASFT_CUDA_KERNEL_V2;
            case "v3" -> EmdNative.TASFT_CUDA_KERNEL_V3;
            default -> throw new IllegalArgumentException("kernel: unknown CUDA kernel '" + name
                    + "' (auto, v1, v2 or v3)");
        };
    }

    /** Forward + backward of the fused kernel, gradient in place, through the JNI binding. */
    @Benchmark
    public int fused() {
        int st = EmdNative.tasft_emd_cuda_variant_async(args, null, variant);
        if (st != EmdNative.TASFT_OK) {
            throw new IllegalStateException(EmdNative.tasft_last_error());
        }
        check(cudart.cudaDeviceSynchronize(), "fused");
        return st;
    }

    /** The two GEMMs alone (row-major through cuBLAS's column-major view: C^T = op(B)^T A^T). */
    @Benchmark
    public int cublasFloor() {
        FloatPointer one = new FloatPointer(1f), zero = new FloatPointer(0f);
        // U[rows, dim] = P[rows, vocab] @ E[vocab, dim]
        int a = cublas.cublasGemmEx(handle, cublas.CUBLAS_OP_N, cublas.CUBLAS_OP_N, dim, rows, vocab, one,
                emb, cudart.CUDA_R_16BF, dim, p, cudart.CUDA_R_16BF, vocab, zero, u, cudart.CUDA_R_16BF, dim,
                cublas.CUBLAS_COMPUTE_32F, cublas.CUBLAS_GEMM_DEFAULT);
        // S[rows, vocab] = R[rows, dim] @ E^T
        int b = cublas.cublasGemmEx(handle, cublas.CUBLAS_OP_T, cublas.CUBLAS_OP_N, vocab, rows, dim, one,
                emb, cudart.CUDA_R_16BF, dim, r, cudart.CUDA_R_16BF, dim, zero, s, cudart.CUDA_R_16BF, vocab,
                cublas.CUBLAS_COMPUTE_32F, cublas.CUBLAS_GEMM_DEFAULT);
        check(cudart.cudaDeviceSynchronize(), "cublasFloor");
        one.close();
        zero.close();
        if (a != 0 || b != 0) {
            throw new IllegalStateException("cublasGemmEx failed: " + a + ", " + b);
        }
        return a + b;
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        for (Pointer ptr : new Pointer[] {pristine, logits, emb, targets, loss, p, r, u, s}) {
            if (ptr != null) {
                cudart.cudaFree(ptr);
            }
        }
        if (handle != null) {
            cublas.cublasDestroy_v2(handle);
        }
    }
}
