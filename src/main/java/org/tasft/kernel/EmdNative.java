package org.tasft.kernel;

import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.annotation.Cast;
import org.bytedeco.javacpp.annotation.Const;
import org.bytedeco.javacpp.annotation.Name;
import org.bytedeco.javacpp.annotation.Platform;

/**
 * Hand-written JavaCPP mapping of {@code native/include/tasft/emd.h}, one Java member per C declaration (in the
 * header's order; {@code EmdNativeTest} fails on any declaration without a member, and any member without one).
 *
 * <p>The javacpp Maven plugin turns this class into {@code libjniEmdNative.so}, linked against {@code libtasft.so};
 * both are packaged under {@code org/tasft/kernel/<platform>/}, where {@link Loader#load()} finds them on the class
 * path. Raw pointers only: callers hand in tensor addresses, and {@link EmdKernel} is the checked API on top
 * (which also makes sure LibTorch, and its libgomp, is loaded before this library).
 */
@Platform(include = "tasft/emd.h", link = "tasft")
public final class EmdNative {
    static {
        Loader.load();
    }

    private EmdNative() {
    }

    // tasft_dtype
    public static final int TASFT_FLOAT32 = 0;
    public static final int TASFT_BFLOAT16 = 1;
    public static final int TASFT_FLOAT16 = 2;

    // tasft_status
    public static final int TASFT_OK = 0;
    public static final int TASFT_INVALID_ARGUMENT = 1;
    public static final int TASFT_UNSUPPORTED = 2;
    public static final int TASFT_CUDA_ERROR = 3;
    public static final int TASFT_OUT_OF_MEMORY = 4;

    // tasft_cpu_isa_id
    public static final int TASFT_CPU_ISA_DEFAULT = 0;
    public static final int TASFT_CPU_ISA_GENERIC = 1;
    public static final int TASFT_CPU_ISA_AVX2 = 2;
    public static final int TASFT_CPU_ISA_AVX512 = 3;

    // tasft_cuda_kernel_id
    public static final int TASFT_CUDA_KERNEL_AUTO = 0;
    public static final int TASFT_CUDA_KERNEL_V1 = 1;
    public static final int TASFT_CUDA_KERNEL_V2 = 2;
    public static final int TASFT_CUDA_KERNEL_V3 = 3;
    /** The former name of {@link #TASFT_CUDA_KERNEL_AUTO} (emd.h keeps it as an alias). */
    public static final int TASFT_CUDA_KERNEL_DEFAULT = TASFT_CUDA_KERNEL_AUTO;

    // tasft_head_role
    public static final int TASFT_HEAD_IGNORE = 0;
    public static final int TASFT_HEAD_CE = 1;
    public static final int TASFT_HEAD_EMD = 2;

    /** {@code tasft_emd_args}; each field has a getter and a chaining setter of the same name. */
    @Name("tasft_emd_args")
    public static final class EmdArgs extends Pointer {
        static {
            Loader.load();
        }

        /** A new, zero-initialized struct in native memory, freed when this object is closed or collected. */
        public EmdArgs() {
            super((Pointer) null);
            allocate();
        }

        public EmdArgs(Pointer p) {
            super(p);
        }

        private native void allocate();

        public native @Const Pointer logits();
        public native EmdArgs logits(@Const Pointer setter);

        public native int logits_dtype();
        public native EmdArgs logits_dtype(int setter);

        public native @Cast("int64_t") long rows();
        public native EmdArgs rows(long setter);

        public native @Cast("int64_t") long vocab();
        public native EmdArgs vocab(long setter);

        public native @Cast("int64_t") long logits_row_stride();
        public native EmdArgs logits_row_stride(long setter);

        public native @Const Pointer unit_embedding();
        public native EmdArgs unit_embedding(@Const Pointer setter);

        public native int embedding_dtype();
        public native EmdArgs embedding_dtype(int setter);

        public native @Cast("int64_t") long dim();
        public native EmdArgs dim(long setter);

        public native @Cast("const int64_t*") LongPointer targets();
        public native EmdArgs targets(@Cast("const int64_t*") LongPointer setter);

        public native @Cast("int64_t") long ignore_index();
        public native EmdArgs ignore_index(long setter);

        public native float grad_scale();
        public native EmdArgs grad_scale(float setter);

        public native FloatPointer loss_rows();
        public native EmdArgs loss_rows(FloatPointer setter);

        public native Pointer grad_logits();
        public native EmdArgs grad_logits(Pointer setter);

        public native FloatPointer expected_embedding();
        public native EmdArgs expected_embedding(FloatPointer setter);

        public native Pointer cuda_stream();
        public native EmdArgs cuda_stream(Pointer setter);
    }

    public static native int tasft_emd_cpu(@Const EmdArgs args);

    public static native int tasft_emd_cuda(@Const EmdArgs args);

    public static native int tasft_emd_cuda_async(@Const EmdArgs args);

    public static native @Cast("const char*") String tasft_last_error();

    public static native int tasft_cuda_available();

    public static native int tasft_normalize_rows_cpu(@Const Pointer in, Pointer out, int dtype,
            @Cast("int64_t") long rows, @Cast("int64_t") long dim);

    /** Columns of one row of the vocabulary-parallel partial statistics: {@code TASFT_EMD_VP_STATS(dim)}. */
    public static long tasftEmdVpStats(long dim) {
        return 2 * dim + 2;
    }

    /** {@code tasft_emd_vp_slice_args}: one vocabulary slice, for the partial and the backward. */
    @Name("tasft_emd_vp_slice_args")
    public static final class VpSliceArgs extends Pointer {
        static {
            Loader.load();
        }

        /** A new, zero-initialized struct in native memory, freed when this object is closed or collected. */
        public VpSliceArgs() {
            super((Pointer) null);
            allocate();
        }

        public VpSliceArgs(Pointer p) {
            super(p);
        }

        private native void allocate();

        public native @Const Pointer logits();
        public native VpSliceArgs logits(@Const Pointer setter);

        public native int logits_dtype();
        public native VpSliceArgs logits_dtype(int setter);

        public native @Cast("int64_t") long rows();
        public native VpSliceArgs rows(long setter);

        public native @Cast("int64_t") long vocab();
        public native VpSliceArgs vocab(long setter);

        public native @Cast("int64_t") long logits_row_stride();
        public native VpSliceArgs logits_row_stride(long setter);

        public native @Cast("int64_t") long vocab_start();
        public native VpSliceArgs vocab_start(long setter);

        public native @Cast("int64_t") long vocab_total();
        public native VpSliceArgs vocab_total(long setter);

        public native @Const Pointer unit_embedding();
        public native VpSliceArgs unit_embedding(@Const Pointer setter);

        public native int embedding_dtype();
        public native VpSliceArgs embedding_dtype(int setter);

        public native @Cast("int64_t") long dim();
        public native VpSliceArgs dim(long setter);

        public native @Cast("const int64_t*") LongPointer targets();
        public native VpSliceArgs targets(@Cast("const int64_t*") LongPointer setter);

        public native @Cast("int64_t") long ignore_index();
        public native VpSliceArgs ignore_index(long setter);

        public native FloatPointer slice_max();
        public native VpSliceArgs slice_max(FloatPointer setter);

        public native FloatPointer slice_stats();
        public native VpSliceArgs slice_stats(FloatPointer setter);

        public native @Const FloatPointer row_max();
        public native VpSliceArgs row_max(@Const FloatPointer setter);

        public native @Const FloatPointer row_log_sumexp();
        public native VpSliceArgs row_log_sumexp(@Const FloatPointer setter);

        public native @Const FloatPointer residual();
        public native VpSliceArgs residual(@Const FloatPointer setter);

        public native @Const FloatPointer residual_dot_expected();
        public native VpSliceArgs residual_dot_expected(@Const FloatPointer setter);

        public native float grad_scale();
        public native VpSliceArgs grad_scale(float setter);

        public native Pointer grad_logits();
        public native VpSliceArgs grad_logits(Pointer setter);

        public native Pointer cuda_stream();
        public native VpSliceArgs cuda_stream(Pointer setter);
    }

    /** {@code tasft_emd_vp_merge_args}: the merge of stacked partial statistics. */
    @Name("tasft_emd_vp_merge_args")
    public static final class VpMergeArgs extends Pointer {
        static {
            Loader.load();
        }

        /** A new, zero-initialized struct in native memory, freed when this object is closed or collected. */
        public VpMergeArgs() {
            super((Pointer) null);
            allocate();
        }

        public VpMergeArgs(Pointer p) {
            super(p);
        }

        private native void allocate();

        public native @Cast("int64_t") long slices();
        public native VpMergeArgs slices(long setter);

        public native @Cast("int64_t") long rows();
        public native VpMergeArgs rows(long setter);

        public native @Cast("int64_t") long dim();
        public native VpMergeArgs dim(long setter);

        public native @Const FloatPointer slice_max();
        public native VpMergeArgs slice_max(@Const FloatPointer setter);

        public native @Const FloatPointer slice_stats();
        public native VpMergeArgs slice_stats(@Const FloatPointer setter);

        public native @Cast("const int64_t*") LongPointer targets();
        public native VpMergeArgs targets(@Cast("const int64_t*") LongPointer setter);

        public native @Cast("int64_t") long ignore_index();
        public native VpMergeArgs ignore_index(long setter);

        public native FloatPointer loss_rows();
        public native VpMergeArgs loss_rows(FloatPointer setter);

        public native FloatPointer row_max();
        public native VpMergeArgs row_max(FloatPointer setter);

        public native FloatPointer row_log_sumexp();
        public native VpMergeArgs row_log_sumexp(FloatPointer setter);

        public native FloatPointer residual();
        public native VpMergeArgs residual(FloatPointer setter);

        public native FloatPointer residual_dot_expected();
        public native VpMergeArgs residual_dot_expected(FloatPointer setter);

        public native FloatPointer expected_embedding();
        public native VpMergeArgs expected_embedding(FloatPointer setter);

        public native Pointer cuda_stream();
        public native VpMergeArgs cuda_stream(Pointer setter);
    }

    public static native int tasft_emd_vp_partial_cpu(@Const VpSliceArgs args);

    public static native int tasft_emd_vp_merge_cpu(@Const VpMergeArgs args);

    public static native int tasft_emd_vp_backward_cpu(@Const VpSliceArgs args);

    public static native int tasft_emd_vp_rescale_cpu(@Cast("int64_t") long rows, @Cast("int64_t") long dim,
            @Const FloatPointer slice_max, @Const FloatPointer global_max, FloatPointer slice_stats);

    public static native int tasft_emd_vp_partial_cuda(@Const VpSliceArgs args);

    public static native int tasft_emd_vp_merge_cuda(@Const VpMergeArgs args);

    public static native int tasft_emd_vp_backward_cuda(@Const VpSliceArgs args);

    public static native int tasft_emd_vp_rescale_cuda(@Cast("int64_t") long rows, @Cast("int64_t") long dim,
            @Const FloatPointer slice_max, @Const FloatPointer global_max, FloatPointer slice_stats,
            Pointer cuda_stream);

    public static native void tasft_cpu_set_num_threads(int n);

    public static native int tasft_cpu_get_num_threads();

    public static native @Cast("const char*") String tasft_cpu_isa();

    public static native @Cast("const char*") String tasft_version();

    /** {@code tasft_emd_skip}: the skipping mode's threshold and its optional per-row outputs. */
    @Name("tasft_emd_skip")
    public static final class EmdSkip extends Pointer {
        static {
            Loader.load();
        }

        /** A new, zero-initialized struct in native memory, freed when this object is closed or collected. */
        public EmdSkip() {
            super((Pointer) null);
            allocate();
        }

        public EmdSkip(Pointer p) {
            super(p);
        }

        private native void allocate();

        public native float threshold();
        public native EmdSkip threshold(float setter);

        public native FloatPointer loss_error_bound();
        public native EmdSkip loss_error_bound(FloatPointer setter);

        public native FloatPointer skipped_mass();
        public native EmdSkip skipped_mass(FloatPointer setter);
    }

    public static native int tasft_emd_cpu_skip(@Const EmdArgs args, @Const EmdSkip skip);

    public static native int tasft_emd_cuda_skip(@Const EmdArgs args, @Const EmdSkip skip);

    public static native int tasft_emd_cuda_skip_async(@Const EmdArgs args, @Const EmdSkip skip);

    public static native @Cast("const char*") String tasft_cuda_kernel();

    /** {@code tasft_emd_variant}: the instruction set and CUDA kernel version one call runs (0 = the defaults). */
    @Name("tasft_emd_variant")
    public static final class EmdVariant extends Pointer {
        static {
            Loader.load();
        }

        /** A new, zero-initialized struct (the defaults) in native memory, freed when closed or collected. */
        public EmdVariant() {
            super((Pointer) null);
            allocate();
        }

        public EmdVariant(Pointer p) {
            super(p);
        }

        private native void allocate();

        public native int cpu_isa();
        public native EmdVariant cpu_isa(int setter);

        public native int cuda_kernel();
        public native EmdVariant cuda_kernel(int setter);
    }

    public static native int tasft_emd_cpu_variant(@Const EmdArgs args, @Const EmdSkip skip,
            @Const EmdVariant variant);

    public static native int tasft_emd_cuda_variant(@Const EmdArgs args, @Const EmdSkip skip,
            @Const EmdVariant variant);

    public static native int tasft_emd_cuda_variant_async(@Const EmdArgs args, @Const EmdSkip skip,
            @Const EmdVariant variant);

    public static native int tasft_emd_cuda_kernel_choice(@Const EmdArgs args, @Const EmdSkip skip,
            @Const EmdVariant variant, IntPointer kernel);

    public static native int tasft_emd_vp_partial_cpu_variant(@Const VpSliceArgs args, @Const EmdVariant variant);

    public static native int tasft_emd_vp_backward_cpu_variant(@Const VpSliceArgs args, @Const EmdVariant variant);

    public static native int tasft_cpu_isa_available(int cpu_isa);

    /** {@code tasft_head_args}: the fused LM head (hidden states and head weight in, loss rows and gradients out). */
    @Name("tasft_head_args")
    public static final class HeadArgs extends Pointer {
        static {
            Loader.load();
        }

        /** A new, zero-initialized struct in native memory, freed when this object is closed or collected. */
        public HeadArgs() {
            super((Pointer) null);
            allocate();
        }

        public HeadArgs(Pointer p) {
            super(p);
        }

        private native void allocate();

        public native @Const Pointer hidden();
        public native HeadArgs hidden(@Const Pointer setter);

        public native int hidden_dtype();
        public native HeadArgs hidden_dtype(int setter);

        public native @Cast("int64_t") long rows();
        public native HeadArgs rows(long setter);

        public native @Cast("int64_t") long hidden_dim();
        public native HeadArgs hidden_dim(long setter);

        public native @Cast("int64_t") long hidden_row_stride();
        public native HeadArgs hidden_row_stride(long setter);

        public native @Const Pointer weight();
        public native HeadArgs weight(@Const Pointer setter);

        public native int weight_dtype();
        public native HeadArgs weight_dtype(int setter);

        public native @Cast("int64_t") long vocab();
        public native HeadArgs vocab(long setter);

        public native @Const Pointer unit_embedding();
        public native HeadArgs unit_embedding(@Const Pointer setter);

        public native int embedding_dtype();
        public native HeadArgs embedding_dtype(int setter);

        public native @Cast("int64_t") long dim();
        public native HeadArgs dim(long setter);

        public native @Cast("const int64_t*") LongPointer targets();
        public native HeadArgs targets(@Cast("const int64_t*") LongPointer setter);

        public native @Cast("int64_t") long ignore_index();
        public native HeadArgs ignore_index(long setter);

        public native @Cast("const int8_t*") BytePointer roles();
        public native HeadArgs roles(@Cast("const int8_t*") BytePointer setter);

        public native float ce_grad_scale();
        public native HeadArgs ce_grad_scale(float setter);

        public native float emd_grad_scale();
        public native HeadArgs emd_grad_scale(float setter);

        public native FloatPointer loss_rows();
        public native HeadArgs loss_rows(FloatPointer setter);

        public native FloatPointer grad_hidden();
        public native HeadArgs grad_hidden(FloatPointer setter);

        public native FloatPointer grad_weight();
        public native HeadArgs grad_weight(FloatPointer setter);

        public native Pointer cuda_stream();
        public native HeadArgs cuda_stream(Pointer setter);
    }

    public static native int tasft_head_cpu(@Const HeadArgs args);

    public static native int tasft_head_cpu_variant(@Const HeadArgs args, @Const EmdVariant variant);

    public static native int tasft_head_cuda(@Const HeadArgs args);
}
