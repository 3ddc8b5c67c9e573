package org.tasft.kernel;

import java.lang.reflect.Method;
import java.util.Arrays;
import java.util.Locale;
import java.util.Objects;

import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.DeviceOptional;
import org.bytedeco.pytorch.MemoryFormatOptional;
import org.bytedeco.pytorch.OptionalDeviceGuard;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.ScalarTypeOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * The fused EMD-bound kernel on LibTorch tensors: for each row n with target y,
 * {@code d_n = ||ehat[y] - softmax(logits[n]) @ ehat||^2} and, on request, {@code gradScale * dd_n/dlogits[n]}.
 *
 * <p>Inputs are never copied: the kernel reads the tensors' memory where it is. Logits may be a column slice of a
 * wider tensor (row stride >= vocab, column stride 1); the columns past {@code vocab} are never read or written.
 * CPU tensors run {@code tasft_emd_cpu}; CUDA tensors run {@code tasft_emd_cuda} on the current stream (their
 * {@code _variant} forms where {@link Options} name an instruction set or a CUDA kernel version).
 *
 * <p>Bad inputs throw {@link IllegalArgumentException} whose message starts with the argument's name, before any
 * native code runs, so that a mistake costs an exception and never the JVM.
 */
public final class EmdKernel {
    /** The label that marks a position without a target (prompt tokens, padding). */
    public static final long DEFAULT_IGNORE_INDEX = -100L;

    static {
        // libtasft needs libgomp.so.1. With LibTorch loaded first, the dynamic linker binds it to the copy LibTorch
        // ships (matched by soname), so one OpenMP runtime serves both; loaded the other way round, the process
        // would carry two runtimes with two thread pools.
        Loader.load(torch.class);
    }

    private EmdKernel() {
    }

    /** Where the gradient with respect to the logits goes. */
    public enum GradientMode {
        /** Forward only: per-row losses (and optionally expected embeddings). */
        NONE,
        /** A new contiguous [rows, vocab] tensor in the logits' dtype. */
        NEW_TENSOR,
        /**
         * Over the logits' own memory (their first {@code vocab} columns), saving a logits-sized buffer. The logits'
         * values are gone afterwards; autograd's version counter of the logits is bumped, so a graph node that saved
         * them fails loudly at backward instead of computing with the gradient. Leaf tensors that require grad are
         * refused.
         */
        IN_PLACE
    }

    /**
     * The instruction set of the CPU kernel ({@code tasft_emd_variant.cpu_isa}); every one computes the same math,
     * within fp32 rounding.
     */
    public enum CpuIsa {
        /** The widest this CPU has, or the narrower one the environment variable {@code TASFT_CPU_ISA} names. */
        DEFAULT(EmdNative.TASFT_CPU_ISA_DEFAULT),
        /** Portable code (the x86-64 baseline); runs on every CPU. */
        GENERIC(EmdNative.TASFT_CPU_ISA_GENERIC),
        /** AVX2 + FMA + F16C (x86-64-v3). */
        AVX2(EmdNative.TASFT_CPU_ISA_AVX2),
        /** AVX-512 F, VL, BW, DQ (x86-64-v4). */
        AVX512(EmdNative.TASFT_CPU_ISA_AVX512);

        private final int code;

        CpuIsa(int code) {
            this.code = code;
        }

        /** Its {@code tasft_cpu_isa_id}. */
        int code() {
            return code;
        }

        /** The name {@link #parse} takes: default, generic, avx2 or avx512. */
        public String id() {
            return variantId(this);
        }

        /** Whether this CPU runs it ({@code tasft_cpu_isa_available}; DEFAULT and GENERIC always). */
        public boolean available() {
            return cpuIsaAvailable(code);  // through EmdKernel, so LibTorch is loaded before libtasft
        }

        /** The instruction set named {@code name} (any case); IllegalArgumentException naming the option if none. */
        public static CpuIsa parse(String name) {
            CpuIsa isa = byId(values(), name);
            if (isa != null) {
                return isa;
            }
            throw new IllegalArgumentException("cpuIsa: unknown instruction set '" + name
                    + "' (default, generic, avx2 or avx512)");
        }
    }

    /**
     * The CUDA kernel version ({@code tasft_emd_variant.cuda_kernel}); every one computes the same math, v2 and v3
     * within bf16 error bounds. An explicit version (V1, V2, V3) runs the call or makes it throw
     * {@link UnsupportedOperationException} saying why, before anything is written; it never reads the environment.
     */
    public enum CudaKernel {
        /**
         * The fastest version valid for the call on its device: v3 where it has been validated on GPUs and can run
         * the call; else v2 for bfloat16 or float16 logits with a bfloat16 embedding where v2 can run the call (sm_80+);
         * else v1 (float32 logits keep v1's float32 arithmetic). The environment variable
         * {@code TASFT_CUDA_KERNEL=auto|v1|v2|v3} changes this for users who cannot change the calling code: vN runs
         * where it can, the rule elsewhere; any other value makes AUTO calls throw {@link IllegalArgumentException}.
         * {@link #parse} also takes "default", the former name.
         */
        AUTO(EmdNative.TASFT_CUDA_KERNEL_AUTO),
        /** One block per row, fp32: any dtypes, any device the library was built for. */
        V1(EmdNative.TASFT_CUDA_KERNEL_V1),
        /** Tensor cores (bf16 MMA): a bfloat16 embedding and an sm_80+ device, else the call throws. */
        V2(EmdNative.TASFT_CUDA_KERNEL_V2),
        /** wgmma + TMA on sm_90a (Hopper): where it cannot run the call, the call throws naming why. */
        V3(EmdNative.TASFT_CUDA_KERNEL_V3);

        private final int code;

        CudaKernel(int code) {
            this.code = code;
        }

        /** Its {@code tasft_cuda_kernel_id}. */
        int code() {
            return code;
        }

        /** The name {@link #parse} takes: auto, v1, v2 or v3. */
        public String id() {
            return variantId(this);
        }

        /** The version with this {@code tasft_cuda_kernel_id}. */
        static CudaKernel ofCode(int code) {
            for (CudaKernel k : values()) {
                if (k.code == code) {
                    return k;
                }
            }
            throw new IllegalArgumentException("cudaKernel: unknown tasft_cuda_kernel_id " + code);
        }

        /**
         * The version named {@code name} (any case): auto, v1, v2 or v3, and "default" for AUTO (its former name);
         * IllegalArgumentException naming the option and the valid names if none.
         */
        public static CudaKernel parse(String name) {
            CudaKernel kernel = byId(values(), name);
            if (kernel != null) {
                return kernel;
            }
            if (name != null && name.strip().equalsIgnoreCase("default")) {
                return AUTO;
            }
            throw new IllegalArgumentException("cudaKernel: unknown CUDA kernel '" + name + "' (auto, v1, v2 or v3)");
        }
    }

    /** The name of a variant ({@link CpuIsa}, {@link CudaKernel}): its constant's name in lower case. */
    private static String variantId(Enum<?> variant) {
        return variant.name().toLowerCase(Locale.ROOT);
    }

    /** The variant of {@code values} whose id is {@code name} (any case, surrounding blanks ignored), or null. */
    private static <E extends Enum<E>> E byId(E[] values, String name) {
        String wanted = name == null ? "" : name.strip();
        for (E variant : values) {
            if (variantId(variant).equalsIgnoreCase(wanted)) {
                return variant;
            }
        }
        return null;
    }

    /**
     * Knobs of one kernel call; immutable, with withers (as {@link org.tasft.distributed.DistributedOptions}). Every
     * value is checked here, so that a wither and the constructor refuse the same values with the same message.
     */
    public record Options(long ignoreIndex, float gradScale, GradientMode gradient, boolean expectedEmbedding,
            boolean cudaAsync, CpuIsa cpuIsa, CudaKernel cudaKernel) {
        private static final Options DEFAULTS = new Options(DEFAULT_IGNORE_INDEX, 1.0f, GradientMode.NONE, false,
                false, CpuIsa.DEFAULT, CudaKernel.AUTO);

        public Options {
            if (!Float.isFinite(gradScale)) {
                throw new IllegalArgumentException("gradScale: must be finite, got " + gradScale);
            }
            Objects.requireNonNull(gradient, "gradient");
            if (cpuIsa == null) {
                throw new IllegalArgumentException("cpuIsa: must not be null (CpuIsa.DEFAULT is the default)");
            }
            if (cudaKernel == null) {
                throw new IllegalArgumentException("cudaKernel: must not be null (CudaKernel.AUTO is the default)");
            }
        }

        /**
         * Ignore index -100, forward only, grad scale 1, no expected embedding, checked CUDA launch, the default
         * instruction set and the CUDA kernel {@link CudaKernel#AUTO} picks.
         */
        public static Options defaults() {
            return DEFAULTS;
        }

        public Options ignoreIndex(long value) {
            return new Options(value, gradScale, gradient, expectedEmbedding, cudaAsync, cpuIsa, cudaKernel);
        }

        /** The factor applied to dd/dlogits, e.g. the loss term's {@code -lambda / normalizer}. */
        public Options gradScale(float value) {
            return new Options(ignoreIndex, value, gradient, expectedEmbedding, cudaAsync, cpuIsa, cudaKernel);
        }

        public Options gradient(GradientMode value) {
            return new Options(ignoreIndex, gradScale, value, expectedEmbedding, cudaAsync, cpuIsa, cudaKernel);
        }

        /** Also return the expected embeddings {@code softmax(logits) @ ehat} as a float32 [rows, dim] tensor. */
        public Options expectedEmbedding(boolean value) {
            return new Options(ignoreIndex, gradScale, gradient, value, cudaAsync, cpuIsa, cudaKernel);
        }

        /**
         * CUDA only: skip the host-side target check, which copies the targets to the host and waits for the stream.
         * A row with an out-of-range target then gets a NaN loss and gradient instead of an exception.
         */
        public Options cudaAsync(boolean value) {
            return new Options(ignoreIndex, gradScale, gradient, expectedEmbedding, value, cpuIsa, cudaKernel);
        }

        /**
         * CPU tensors: the kernel's instruction set, instead of the default (ignored for CUDA tensors). One this CPU
         * lacks ({@link CpuIsa#available()}) makes the call throw {@link UnsupportedOperationException} naming it.
         */
        public Options cpuIsa(CpuIsa value) {
            return new Options(ignoreIndex, gradScale, gradient, expectedEmbedding, cudaAsync, value, cudaKernel);
        }

        /** {@link #cpuIsa(CpuIsa)} by name: default, generic, avx2 or avx512. */
        public Options cpuIsa(String name) {
            return cpuIsa(CpuIsa.parse(name));
        }

        /**
         * CUDA tensors: the kernel version, instead of {@link CudaKernel#AUTO} (ignored for CPU tensors and by
         * {@link VocabParallelEmd}, which has one CUDA kernel). An explicit version that cannot run the call (v2 on
         * an embedding that is not bfloat16 or a device before sm_80; v3 where {@code v3_supports} refuses) throws
         * {@link UnsupportedOperationException} naming why; {@link EmdKernel#cudaKernelFor} tells beforehand.
         */
        public Options cudaKernel(CudaKernel value) {
            return new Options(ignoreIndex, gradScale, gradient, expectedEmbedding, cudaAsync, cpuIsa, value);
        }

        /** {@link #cudaKernel(CudaKernel)} by name: auto, v1, v2 or v3 ("default" = auto). */
        public Options cudaKernel(String name) {
            return cudaKernel(CudaKernel.parse(name));
        }

        /** The options' variant as the C struct, or null for the defaults (the entry points without a variant). */
        EmdNative.EmdVariant nativeVariant() {
            if (cpuIsa == CpuIsa.DEFAULT && cudaKernel == CudaKernel.AUTO) {
                return null;
            }
            return new EmdNative.EmdVariant().cpu_isa(cpuIsa.code).cuda_kernel(cudaKernel.code);
        }
    }

    /**
     * What one call produced, all on the inputs' device.
     *
     * @param lossRows          float32 [rows]: d per row, 0 for ignored rows
     * @param gradLogits        null for {@link GradientMode#NONE}; for {@link GradientMode#IN_PLACE}, the logits tensor
     *                          itself (now holding the gradient)
     * @param expectedEmbedding float32 [rows, dim] or null
     */
    public record Result(Tensor lossRows, Tensor gradLogits, Tensor expectedEmbedding) {
    }

    /** Per-row losses only. */
    public static Tensor lossRows(Tensor logits, Tensor unitEmbedding, Tensor targets, long ignoreIndex) {
        return compute(logits, unitEmbedding, targets, Options.defaults().ignoreIndex(ignoreIndex)).lossRows();
    }

    /**
     * Runs the kernel.
     *
     * @param logits        [rows, vocab] float32, bfloat16 or float16; column stride 1, row stride >= vocab
     * @param unitEmbedding [vocab, dim] float32, bfloat16 or float16, contiguous, rows of unit L2 norm (see
     *                      {@link #unitEmbedding(Tensor)})
     * @param targets       [rows] int64, contiguous; each in [0, vocab) or the ignore index
     */
    public static Result compute(Tensor logits, Tensor unitEmbedding, Tensor targets, Options options) {
        Objects.requireNonNull(options, "options");
        Layout layout = validate(logits, unitEmbedding, targets, options);
        Device device = logits.device();
        Outputs out = allocate(logits, layout, options);
        Tensor grad = out.grad();
        if (layout.rows == 0) {
            return new Result(out.lossRows(), grad, out.expected());
        }

        try (EmdNative.EmdArgs args = nativeArgs(logits, unitEmbedding, targets, layout, options, out)) {
            int status;
            EmdNative.EmdVariant variant = options.nativeVariant();
            try {
                if (device.is_cuda()) {
                    try (OptionalDeviceGuard guard = new OptionalDeviceGuard(device)) {
                        args.cuda_stream(CudaStreams.current(device));
                        if (variant == null) {
                            status = options.cudaAsync()
                                    ? EmdNative.tasft_emd_cuda_async(args)
                                    : EmdNative.tasft_emd_cuda(args);
                        } else {
                            status = options.cudaAsync()
                                    ? EmdNative.tasft_emd_cuda_variant_async(args, null, variant)
                                    : EmdNative.tasft_emd_cuda_variant(args, null, variant);
                        }
                    }
                } else {
                    status = variant == null
                            ? EmdNative.tasft_emd_cpu(args)
                            : EmdNative.tasft_emd_cpu_variant(args, null, variant);
                }
            } finally {
                if (variant != null) {
                    variant.close();
                }
            }
            check(status, "tasft_emd");
        }
        if (options.gradient() == GradientMode.IN_PLACE) {
            bumpVersion(logits);
        } else if (grad != null && out.padded()) {
            grad = grad.contiguous();
        }
        return new Result(out.lossRows(), grad, out.expected());
    }

    /**
     * The CUDA kernel version {@link #compute} runs for these arguments (CUDA tensors) on their device, without
     * running it ({@code tasft_emd_cuda_kernel_choice}): {@link CudaKernel#AUTO} resolved to V1, V2 or V3 by its
     * rule (and {@code TASFT_CUDA_KERNEL}), or the options' explicit version. For logs and benchmarks. Throws what
     * compute would before its launch: {@link IllegalArgumentException} for bad arguments or a bad
     * {@code TASFT_CUDA_KERNEL} under AUTO, {@link UnsupportedOperationException} for an explicit version that cannot
     * run the call (naming why) or CPU tensors. Allocates the call's outputs, as compute does, but writes nothing.
     */
    public static CudaKernel cudaKernelFor(Tensor logits, Tensor unitEmbedding, Tensor targets, Options options) {
        Objects.requireNonNull(options, "options");
        Layout layout = validate(logits, unitEmbedding, targets, options);
        Device device = logits.device();
        if (!device.is_cuda()) {
            throw new UnsupportedOperationException("logits: the CUDA kernel version is a question about CUDA "
                    + "tensors, these are on " + describe(device));
        }
        Outputs out = allocate(logits, layout, options);
        try (EmdNative.EmdArgs args = nativeArgs(logits, unitEmbedding, targets, layout, options, out);
             EmdNative.EmdVariant variant = new EmdNative.EmdVariant().cuda_kernel(options.cudaKernel().code());
             IntPointer kernel = new IntPointer(1);
             OptionalDeviceGuard guard = new OptionalDeviceGuard(device)) {
            args.cuda_stream(CudaStreams.current(device));
            check(EmdNative.tasft_emd_cuda_kernel_choice(args, null, variant, kernel), "tasft_emd_cuda_kernel_choice");
            return CudaKernel.ofCode(kernel.get());
        }
    }

    /** The buffers one call writes, on the inputs' device; padded: the gradient buffer has the logits' row stride. */
    private record Outputs(Tensor lossRows, Tensor grad, Tensor expected, boolean padded) {
    }

    private static Outputs allocate(Tensor logits, Layout layout, Options options) {
        Device device = logits.device();
        long rows = layout.rows;
        Tensor lossRows = torch.empty(new long[] {rows}, options(ScalarType.Float, device), new MemoryFormatOptional());
        Tensor expected = options.expectedEmbedding()
                ? torch.empty(new long[] {rows, layout.dim}, options(ScalarType.Float, device),
                        new MemoryFormatOptional())
                : null;
        // The C API gives logits and gradient one row stride, so a padded input gets a padded gradient buffer,
        // compacted by compute.
        boolean padded = layout.rowStride != layout.vocab;
        Tensor grad = switch (options.gradient()) {
            case NONE -> null;
            case NEW_TENSOR -> padded
                    ? torch.empty(new long[] {rows, layout.rowStride}, options(dtype(logits), device),
                            new MemoryFormatOptional()).narrow(1, 0, layout.vocab)
                    : torch.empty(new long[] {rows, layout.vocab}, options(dtype(logits), device),
                            new MemoryFormatOptional());
            case IN_PLACE -> logits;
        };
        return new Outputs(lossRows, grad, expected, padded);
    }

    /** The C struct of one call (cuda_stream NULL; the caller sets it). */
    private static EmdNative.EmdArgs nativeArgs(Tensor logits, Tensor unitEmbedding, Tensor targets, Layout layout,
            Options options, Outputs out) {
        return new EmdNative.EmdArgs().logits(logits.const_data_ptr())
                .logits_dtype(layout.logitsDtype)
                .rows(layout.rows)
                .vocab(layout.vocab)
                .logits_row_stride(layout.rowStride)
                .unit_embedding(unitEmbedding.const_data_ptr())
                .embedding_dtype(layout.embeddingDtype)
                .dim(layout.dim)
                .targets(new LongPointer(targets.const_data_ptr()))
                .ignore_index(options.ignoreIndex())
                .grad_scale(options.gradScale())
                .loss_rows(new FloatPointer(out.lossRows().mutable_data_ptr()))
                .grad_logits(out.grad() == null ? null : out.grad().mutable_data_ptr())
                .expected_embedding(out.expected() == null ? null : new FloatPointer(out.expected().mutable_data_ptr()))
                .cuda_stream(null);
    }

    /**
     * A new tensor holding the rows of {@code embedding} [vocab, dim] scaled to unit L2 norm
     * ({@code e / max(||e||, 1e-12)}), in the same dtype and device, contiguous, outside any autograd graph.
     */
    public static Tensor unitEmbedding(Tensor embedding) {
        requireTensor(embedding, "embedding");
        if (embedding.dim() != 2) {
            throw new IllegalArgumentException("embedding: expected a 2-D tensor [vocab, dim], got shape "
                    + shape(embedding));
        }
        Tensor source = embedding.detach();
        ScalarType type = dtype(source);
        Integer kernelType = kernelDtype(type);
        if (source.is_cpu() && kernelType != null) {
            source = source.contiguous();
            Tensor out = torch.empty(new long[] {source.size(0), source.size(1)},
                    options(type, source.device()), new MemoryFormatOptional());
            if (source.numel() > 0) {
                check(EmdNative.tasft_normalize_rows_cpu(source.const_data_ptr(), out.mutable_data_ptr(), kernelType,
                        source.size(0), source.size(1)), "tasft_normalize_rows_cpu");
            }
            return out;
        }
        if (!source.is_floating_point()) {
            throw new IllegalArgumentException("embedding: expected a floating-point tensor, got " + type);
        }
        // Other devices and dtypes: the same formula in LibTorch ops, accumulated in at least float32.
        ScalarType work = type == ScalarType.Double ? ScalarType.Double : ScalarType.Float;
        Tensor wide = source.to(work);
        Tensor norms = torch.linalg_vector_norm(wide, new Scalar(2.0), new long[] {1}, true, new ScalarTypeOptional());
        return wide.div(norms.clamp_min(new Scalar(1e-12))).to(type).contiguous();
    }

    /** Threads used by the CPU kernel; {@code n <= 0} restores the default (one per core). */
    public static void setNumThreads(int n) {
        EmdNative.tasft_cpu_set_num_threads(n);
    }

    public static int numThreads() {
        return EmdNative.tasft_cpu_get_num_threads();
    }

    /** Whether libtasft was built with CUDA and sees a usable device. */
    public static boolean cudaAvailable() {
        return EmdNative.tasft_cuda_available() != 0;
    }

    private static boolean cpuIsaAvailable(int code) {
        return EmdNative.tasft_cpu_isa_available(code) != 0;
    }

    /** The instruction set {@link CpuIsa#DEFAULT} runs on this CPU: avx512, avx2 or generic. */
    public static String defaultCpuIsa() {
        return EmdNative.tasft_cpu_isa();
    }

    /**
     * What {@link CudaKernel#AUTO} means in this process: "auto" (the rule), "v1", "v2" or "v3" where the
     * environment variable {@code TASFT_CUDA_KERNEL} names one, "invalid" where it holds anything else (AUTO calls
     * then throw), "none" without CUDA. Which version one call runs: {@link #cudaKernelFor}.
     */
    public static String defaultCudaKernel() {
        return EmdNative.tasft_cuda_kernel();
    }

    /** libtasft's version string, e.g. {@code "0.1.0 (cpu only)"}. */
    public static String version() {
        return EmdNative.tasft_version();
    }

    // ---- checks ----

    record Layout(long rows, long vocab, long rowStride, long dim, int logitsDtype, int embeddingDtype) {
    }

    private static Layout validate(Tensor logits, Tensor unitEmbedding, Tensor targets, Options options) {
        return validate(logits, unitEmbedding, targets, options, -1);
    }

    /**
     * The checks of {@link #compute}; targets must lie in [0, targetBound) (or be the ignore index), where
     * targetBound < 0 means the logits' vocab. The vocabulary-parallel API passes the whole vocabulary's size.
     */
    static Layout validate(Tensor logits, Tensor unitEmbedding, Tensor targets, Options options, long targetBound) {
        requireTensor(logits, "logits");
        requireTensor(unitEmbedding, "unitEmbedding");
        requireTensor(targets, "targets");

        Device device = logits.device();
        if (!device.is_cpu() && !device.is_cuda()) {
            throw new IllegalArgumentException("logits: unsupported device " + describe(device)
                    + " (CPU or CUDA expected)");
        }
        requireSameDevice(unitEmbedding, "unitEmbedding", device);
        requireSameDevice(targets, "targets", device);
        if (device.is_cuda() && !cudaAvailable()) {
            throw new UnsupportedOperationException("logits: CUDA tensors need libtasft built with CUDA and a usable "
                    + "device; this library is " + version());
        }

        if (logits.dim() != 2) {
            throw new IllegalArgumentException("logits: expected a 2-D tensor [rows, vocab], got shape "
                    + shape(logits));
        }
        Integer logitsDtype = kernelDtype(dtype(logits));
        if (logitsDtype == null) {
            throw new IllegalArgumentException("logits: dtype " + dtype(logits)
                    + " not supported (Float, BFloat16 or Half)");
        }
        long rows = logits.size(0);
        long vocab = logits.size(1);
        if (vocab < 1) {
            throw new IllegalArgumentException("logits: vocab (size of dim 1) must be >= 1, got shape "
                    + shape(logits));
        }
        if (vocab > 1 && logits.stride(1) != 1) {
            throw new IllegalArgumentException("logits: columns must be contiguous (stride 1), got strides "
                    + strides(logits) + " for shape " + shape(logits) + "; a transposed tensor needs .contiguous()");
        }
        long rowStride = logits.stride(0);
        if (rows > 1 && rowStride < vocab) {
            throw new IllegalArgumentException("logits: row stride " + rowStride + " is smaller than vocab " + vocab
                    + " (strides " + strides(logits) + "); rows must not overlap");
        }
        if (rows <= 1) {
            rowStride = vocab; // one row: its stride is never used, and a compact gradient needs no copy
        }

        if (unitEmbedding.dim() != 2) {
            throw new IllegalArgumentException("unitEmbedding: expected a 2-D tensor [vocab, dim], got shape "
                    + shape(unitEmbedding));
        }
        Integer embeddingDtype = kernelDtype(dtype(unitEmbedding));
        if (embeddingDtype == null) {
            throw new IllegalArgumentException("unitEmbedding: dtype " + dtype(unitEmbedding)
                    + " not supported (Float, BFloat16 or Half)");
        }
        if (unitEmbedding.size(0) != vocab) {
            throw new IllegalArgumentException("unitEmbedding: vocab mismatch: " + unitEmbedding.size(0)
                    + " rows, but logits have vocab " + vocab);
        }
        long dim = unitEmbedding.size(1);
        if (dim < 1) {
            throw new IllegalArgumentException("unitEmbedding: dim (size of dim 1) must be >= 1, got shape "
                    + shape(unitEmbedding));
        }
        if (!unitEmbedding.is_contiguous()) {
            throw new IllegalArgumentException("unitEmbedding: must be contiguous (row-major), got strides "
                    + strides(unitEmbedding) + " for shape " + shape(unitEmbedding));
        }

        if (dtype(targets) != ScalarType.Long) {
            throw new IllegalArgumentException("targets: dtype " + dtype(targets) + " not supported (Long)");
        }
        if (targets.dim() != 1) {
            throw new IllegalArgumentException("targets: expected a 1-D tensor [rows], got shape " + shape(targets));
        }
        if (targets.size(0) != rows) {
            throw new IllegalArgumentException("targets: rows mismatch: " + targets.size(0)
                    + " targets, but logits have " + rows + " rows");
        }
        if (!targets.is_contiguous()) {
            throw new IllegalArgumentException("targets: must be contiguous, got stride " + strides(targets));
        }

        if (options.gradient() == GradientMode.IN_PLACE && logits.requires_grad() && logits.is_leaf()) {
            throw new IllegalArgumentException("logits: IN_PLACE gradient over a leaf tensor that requires grad "
                    + "would overwrite a parameter; use NEW_TENSOR");
        }
        if (device.is_cpu() && rows > 0) {
            checkTargetsOnHost(targets, rows, targetBound < 0 ? vocab : targetBound, options.ignoreIndex());
        }
        return new Layout(rows, vocab, rowStride, dim, logitsDtype, embeddingDtype);
    }

    /** Names the first bad target; the native side checks again (and on CUDA is the only check). */
    private static void checkTargetsOnHost(Tensor targets, long rows, long vocab, long ignoreIndex) {
        LongPointer data = new LongPointer(targets.const_data_ptr());
        long[] chunk = new long[(int) Math.min(rows, 1 << 16)];
        for (long start = 0; start < rows; start += chunk.length) {
            int count = (int) Math.min(chunk.length, rows - start);
            data.position(start).get(chunk, 0, count);
            for (int i = 0; i < count; i++) {
                long t = chunk[i];
                if (t != ignoreIndex && (t < 0 || t >= vocab)) {
                    throw new IllegalArgumentException("targets: targets[" + (start + i) + "] = " + t
                            + " is outside [0, " + vocab + ") and is not the ignore index " + ignoreIndex);
                }
            }
        }
    }

    static void requireTensor(Tensor t, String name) {
        Objects.requireNonNull(t, name);
        if (t.isNull() || !t.defined()) {
            throw new IllegalArgumentException(name + ": undefined tensor");
        }
        torch.Layout layout = t.layout().intern();
        if (layout != torch.Layout.Strided) {
            throw new IllegalArgumentException(name + ": expected a dense (strided) tensor, got layout " + layout);
        }
        if (!t.has_storage() || t.is_meta()) {
            throw new IllegalArgumentException(name + ": tensor has no data (meta or storage-less tensor)");
        }
    }

    static void requireSameDevice(Tensor t, String name, Device device) {
        Device other = t.device();
        if (!other.equals(device)) {
            throw new IllegalArgumentException(name + ": on device " + describe(other)
                    + " but logits are on " + describe(device));
        }
    }

    static void check(int status, String function) {
        if (status == EmdNative.TASFT_OK) {
            return;
        }
        String message = function + ": " + EmdNative.tasft_last_error();
        switch (status) {
            case EmdNative.TASFT_INVALID_ARGUMENT -> throw new IllegalArgumentException(message);
            case EmdNative.TASFT_UNSUPPORTED -> throw new UnsupportedOperationException(message);
            default -> throw new EmdKernelException(status, message + " (status " + status + ")");
        }
    }

    /**
     * The kernel wrote through a raw pointer, which autograd cannot see. An in-place op on an empty view of a
     * detached alias (both share the logits' version counter) makes the write visible at no cost: backward through
     * a node that saved the old logits then fails instead of silently using the gradient as values.
     */
    static void bumpVersion(Tensor logits) {
        if (logits.is_inference()) {
            return; // inference tensors have no version counter
        }
        logits.detach().narrow(1, 0, 0).zero_();
    }

    /**
     * The tensor's dtype as the canonical enum constant. Enums returned by the presets' native methods are fresh
     * objects (ordinal 0, null name) until {@code intern()}ed, so == and switch need this.
     */
    static ScalarType dtype(Tensor t) {
        return t.scalar_type().intern();
    }

    static Integer kernelDtype(ScalarType type) {
        return switch (type) {
            case Float -> EmdNative.TASFT_FLOAT32;
            case BFloat16 -> EmdNative.TASFT_BFLOAT16;
            case Half -> EmdNative.TASFT_FLOAT16;
            default -> null;
        };
    }

    static TensorOptions options(ScalarType type, Device device) {
        return new TensorOptions(type).device(new DeviceOptional(device));
    }

    static String shape(Tensor t) {
        long[] s = new long[(int) t.dim()];
        for (int i = 0; i < s.length; i++) {
            s[i] = t.size(i);
        }
        return Arrays.toString(s);
    }

    static String strides(Tensor t) {
        long[] s = new long[(int) t.dim()];
        for (int i = 0; i < s.length; i++) {
            s[i] = t.stride(i);
        }
        return Arrays.toString(s);
    }

    static String describe(Device device) {
        return device.str().getString();
    }

    /**
     * The current CUDA stream's {@code cudaStream_t}. {@code CUDAStream.stream()} returns the CUDA presets'
     * {@code CUstream_st}, a class only the GPU build has on its class path, hence reflection: the CPU build neither
     * compiles against nor loads it.
     */
    static final class CudaStreams {
        static Pointer current(Device device) {
            try {
                Class<?> global = Class.forName("org.bytedeco.pytorch.global.torch_cuda");
                Object stream = global.getMethod("getCurrentCUDAStream", byte.class).invoke(null, device.index());
                Method raw = stream.getClass().getMethod("stream");
                return (Pointer) raw.invoke(stream);
            } catch (ReflectiveOperationException | LinkageError e) {
                throw new UnsupportedOperationException("logits: cannot get the current CUDA stream; the GPU build "
                        + "of LibTorch and org.bytedeco:cuda must be on the class path (mvn -Pgpu)", e);
            }
        }
    }
}
