package org.tasft.kernel;

import java.util.Arrays;
import java.util.List;
import java.util.Objects;

import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.MemoryFormatOptional;
import org.bytedeco.pytorch.OptionalDeviceGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.tasft.kernel.EmdKernel.GradientMode;
import org.tasft.kernel.EmdKernel.Options;

/**
 * The fused EMD-bound kernel with the LM head split by vocabulary (tensor parallelism): each rank holds the logits
 * [rows, width] and unit embedding rows [width, dim] of its slice of the vocabulary; targets are global ids.
 *
 * <p>Three steps give exactly what {@link EmdKernel#compute} gives on the whole vocabulary:
 * <ol>
 *   <li>{@link #partial}: per slice and row, the max m, the sum of exponentials l, the unnormalised expected
 *       embedding s and the target's row if it lies in the slice ({@code tasft_emd_vp_partial_*});</li>
 *   <li>{@link #merge}: log-sum-exp algebra over the slices, in list order, giving the per-row loss and what the
 *       backward needs ({@code tasft_emd_vp_merge_*}); across ranks, gather the partials, or all-reduce (MAX) the
 *       maxima, {@link #rescale}, all-reduce (SUM) the statistics and merge the one result;</li>
 *   <li>{@link #backward}: each slice's gradient from the merged statistics ({@code tasft_emd_vp_backward_*}).</li>
 * </ol>
 * Options are {@link EmdKernel.Options}: the ignore index everywhere, the expected embedding in the merge, the
 * gradient's scale and destination in the backward, the CPU instruction set in the partial and the backward (the
 * CUDA kernel version does not apply: the vocabulary-parallel form has one CUDA kernel). Bad input throws {@link IllegalArgumentException} naming the
 * argument, before native code runs, as {@link EmdKernel} does. CUDA tensors run the asynchronous {@code _cuda}
 * forms, which do not check targets: a row whose target lies in no slice gets a NaN loss and gradient there.
 */
public final class VocabParallelEmd {
    private VocabParallelEmd() {
    }

    /** A slice's place in the vocabulary: its columns are global ids [start, start + width) of [0, total). */
    public record Slice(long start, long total) {
        public Slice {
            if (start < 0 || total < 1 || start >= total) {
                throw new IllegalArgumentException("slice: need 0 <= start < total, got start " + start + ", total "
                        + total);
            }
        }
    }

    /**
     * One slice's statistics, float32 on the inputs' device.
     *
     * @param sliceMax   [rows]: m (0 for ignored rows, -inf where the slice masks the whole row)
     * @param sliceStats [rows, {@link #statsWidth}(dim)]: l, t (1 if the target is in the slice), s, the target's row
     */
    public record Partial(Tensor sliceMax, Tensor sliceStats) {
    }

    /**
     * The merged statistics, float32 on the inputs' device; all 0 for ignored rows.
     *
     * @param lossRows            [rows]: d = ||r||^2, as {@link EmdKernel.Result#lossRows()}
     * @param rowMax              [rows]: M, the max logit over the vocabulary
     * @param rowLogSumExp        [rows]: log sum_v exp(z_v - M)
     * @param residual            [rows, dim]: r = u - ehat_y
     * @param residualDotExpected [rows]: r . u
     * @param expectedEmbedding   [rows, dim]: u, or null when not asked for
     */
    public record Merged(Tensor lossRows, Tensor rowMax, Tensor rowLogSumExp, Tensor residual,
            Tensor residualDotExpected, Tensor expectedEmbedding) {
        /** log sum_v exp(z_v) per row (what a vocabulary-parallel cross-entropy needs). */
        public Tensor logSumExp() {
            return rowMax.add(rowLogSumExp);
        }
    }

    /** Columns of a row of {@link Partial#sliceStats()}: {@code 2 * dim + 2}. */
    public static long statsWidth(long dim) {
        return EmdNative.tasftEmdVpStats(dim);
    }

    /**
     * Step 1 on one slice.
     *
     * @param logits        [rows, width] of the slice; column stride 1, row stride >= width (a column range of the
     *                      full logits works as it is)
     * @param unitEmbedding [width, dim], contiguous: the slice's rows of ehat
     * @param targets       [rows] int64: global ids in [0, slice.total()) or the ignore index
     */
    public static Partial partial(Tensor logits, Tensor unitEmbedding, Tensor targets, Slice slice,
            Options options) {
        Objects.requireNonNull(slice, "slice");
        Objects.requireNonNull(options, "options");
        EmdKernel.Layout layout = validateSlice(logits, unitEmbedding, targets, slice, options);
        Device device = logits.device();
        Tensor sliceMax = empty(device, layout.rows());
        Tensor sliceStats = empty(device, layout.rows(), statsWidth(layout.dim()));
        if (layout.rows() == 0) {
            return new Partial(sliceMax, sliceStats);
        }
        try (EmdNative.VpSliceArgs args = sliceArgs(logits, unitEmbedding, targets, slice, options, layout)) {
            args.slice_max(floats(sliceMax)).slice_stats(floats(sliceStats));
            run(device, args, false, options);
        }
        return new Partial(sliceMax, sliceStats);
    }

    /** Step 2 on partials of the same rows (one per slice, in this order, which fixes the order of the sums). */
    public static Merged merge(List<Partial> slices, Tensor targets, Options options) {
        Objects.requireNonNull(slices, "slices");
        if (slices.isEmpty()) {
            throw new IllegalArgumentException("slices: at least one partial result is needed");
        }
        TensorVector maxima = new TensorVector();
        TensorVector stats = new TensorVector();
        for (int k = 0; k < slices.size(); k++) {
            Partial p = Objects.requireNonNull(slices.get(k), "slices[" + k + "]");
            EmdKernel.requireTensor(p.sliceMax(), "slices[" + k + "].sliceMax");
            EmdKernel.requireTensor(p.sliceStats(), "slices[" + k + "].sliceStats");
            if (k > 0 && (!EmdKernel.shape(p.sliceMax()).equals(EmdKernel.shape(slices.get(0).sliceMax()))
                    || !EmdKernel.shape(p.sliceStats()).equals(EmdKernel.shape(slices.get(0).sliceStats())))) {
                throw new IllegalArgumentException("slices[" + k + "]: shapes " + EmdKernel.shape(p.sliceMax()) + ", "
                        + EmdKernel.shape(p.sliceStats()) + " differ from slices[0]'s "
                        + EmdKernel.shape(slices.get(0).sliceMax()) + ", "
                        + EmdKernel.shape(slices.get(0).sliceStats()));
            }
            maxima.push_back(p.sliceMax());
            stats.push_back(p.sliceStats());
        }
        return merge(torch.stack(maxima), torch.stack(stats), targets, options);
    }

    /**
     * Step 2 on stacked partials, e.g. what an all_gather returns, or (one slice) the all-reduced maxima and
     * statistics after {@link #rescale}.
     *
     * @param sliceMax   [slices, rows] float32, contiguous
     * @param sliceStats [slices, rows, statsWidth(dim)] float32, contiguous
     */
    public static Merged merge(Tensor sliceMax, Tensor sliceStats, Tensor targets, Options options) {
        Objects.requireNonNull(options, "options");
        EmdKernel.requireTensor(sliceMax, "sliceMax");
        EmdKernel.requireTensor(sliceStats, "sliceStats");
        EmdKernel.requireTensor(targets, "targets");
        Device device = sliceMax.device();
        requireDevice(device, "sliceMax");
        EmdKernel.requireSameDevice(sliceStats, "sliceStats", device);
        EmdKernel.requireSameDevice(targets, "targets", device);
        requireFloat(sliceMax, "sliceMax", 2);
        requireFloat(sliceStats, "sliceStats", 3);
        long slices = sliceMax.size(0);
        long rows = sliceMax.size(1);
        long width = sliceStats.size(2);
        if (slices < 1) {
            throw new IllegalArgumentException("sliceMax: at least one slice is needed, got shape "
                    + EmdKernel.shape(sliceMax));
        }
        if (sliceStats.size(0) != slices || sliceStats.size(1) != rows || width < 4 || width % 2 != 0) {
            throw new IllegalArgumentException("sliceStats: expected [" + slices + ", " + rows
                    + ", 2 * dim + 2] to match sliceMax " + EmdKernel.shape(sliceMax) + ", got "
                    + EmdKernel.shape(sliceStats));
        }
        long dim = (width - 2) / 2;
        requireTargets(targets, rows);
        if (device.is_cpu() && rows > 0) {
            checkTargetsNotNegative(targets, rows, options.ignoreIndex());
        }
        Tensor lossRows = empty(device, rows);
        Tensor rowMax = empty(device, rows);
        Tensor rowLogSumExp = empty(device, rows);
        Tensor residual = empty(device, rows, dim);
        Tensor residualDotExpected = empty(device, rows);
        Tensor expected = options.expectedEmbedding() ? empty(device, rows, dim) : null;
        Merged merged = new Merged(lossRows, rowMax, rowLogSumExp, residual, residualDotExpected, expected);
        if (rows == 0) {
            return merged;
        }
        try (EmdNative.VpMergeArgs args = new EmdNative.VpMergeArgs()) {
            args.slices(slices).rows(rows).dim(dim)
                    .slice_max(constFloats(sliceMax)).slice_stats(constFloats(sliceStats))
                    .targets(new LongPointer(targets.const_data_ptr())).ignore_index(options.ignoreIndex())
                    .loss_rows(floats(lossRows)).row_max(floats(rowMax)).row_log_sumexp(floats(rowLogSumExp))
                    .residual(floats(residual)).residual_dot_expected(floats(residualDotExpected))
                    .expected_embedding(expected == null ? null : floats(expected))
                    .cuda_stream(null);
            int status;
            if (device.is_cuda()) {
                try (OptionalDeviceGuard guard = new OptionalDeviceGuard(device)) {
                    args.cuda_stream(EmdKernel.CudaStreams.current(device));
                    status = EmdNative.tasft_emd_vp_merge_cuda(args);
                }
            } else {
                status = EmdNative.tasft_emd_vp_merge_cpu(args);
            }
            EmdKernel.check(status, "tasft_emd_vp_merge");
        }
        return merged;
    }

    /**
     * For the all-reduce recipe: scales l and s of {@code partial} (in place) to the all-reduced maximum,
     * {@code *= exp(sliceMax - globalMax)}, so that summing the ranks' statistics is the merge's sum.
     *
     * @param globalMax [rows] float32: the element-wise max of every slice's {@link Partial#sliceMax()}
     */
    public static void rescale(Partial partial, Tensor globalMax) {
        Objects.requireNonNull(partial, "partial");
        EmdKernel.requireTensor(partial.sliceMax(), "partial.sliceMax");
        EmdKernel.requireTensor(partial.sliceStats(), "partial.sliceStats");
        EmdKernel.requireTensor(globalMax, "globalMax");
        Device device = partial.sliceMax().device();
        requireDevice(device, "partial.sliceMax");
        EmdKernel.requireSameDevice(partial.sliceStats(), "partial.sliceStats", device);
        EmdKernel.requireSameDevice(globalMax, "globalMax", device);
        requireFloat(partial.sliceMax(), "partial.sliceMax", 1);
        requireFloat(partial.sliceStats(), "partial.sliceStats", 2);
        requireFloat(globalMax, "globalMax", 1);
        long rows = partial.sliceMax().size(0);
        long width = partial.sliceStats().size(1);
        if (partial.sliceStats().size(0) != rows || width < 4 || width % 2 != 0 || globalMax.size(0) != rows) {
            throw new IllegalArgumentException("globalMax: shapes do not match: sliceMax "
                    + EmdKernel.shape(partial.sliceMax()) + ", sliceStats " + EmdKernel.shape(partial.sliceStats())
                    + ", globalMax " + EmdKernel.shape(globalMax));
        }
        if (rows == 0) {
            return;
        }
        long dim = (width - 2) / 2;
        int status;
        if (device.is_cuda()) {
            try (OptionalDeviceGuard guard = new OptionalDeviceGuard(device)) {
                status = EmdNative.tasft_emd_vp_rescale_cuda(rows, dim, constFloats(partial.sliceMax()), constFloats(globalMax),
                        floats(partial.sliceStats()), EmdKernel.CudaStreams.current(device));
            }
        } else {
            status = EmdNative.tasft_emd_vp_rescale_cpu(rows, dim, constFloats(partial.sliceMax()), constFloats(globalMax),
                    floats(partial.sliceStats()));
        }
        EmdKernel.check(status, "tasft_emd_vp_rescale");
    }

    /**
     * Step 3 on one slice: {@code gradScale * d loss_rows / d logits} for the slice's columns, as
     * {@link EmdKernel#compute} writes it ({@link GradientMode#NEW_TENSOR} or {@link GradientMode#IN_PLACE}).
     * The arguments are those of {@link #partial}, and the merge of every slice's partial.
     */
    public static Tensor backward(Tensor logits, Tensor unitEmbedding, Tensor targets, Slice slice, Merged merged,
            Options options) {
        Objects.requireNonNull(slice, "slice");
        Objects.requireNonNull(merged, "merged");
        Objects.requireNonNull(options, "options");
        if (options.gradient() == GradientMode.NONE) {
            throw new IllegalArgumentException("options: gradient NONE leaves the backward nothing to do; use "
                    + "NEW_TENSOR or IN_PLACE");
        }
        EmdKernel.Layout layout = validateSlice(logits, unitEmbedding, targets, slice, options);
        Device device = logits.device();
        long rows = layout.rows();
        long dim = layout.dim();
        requireMerged(merged.rowMax(), "merged.rowMax", device, rows);
        requireMerged(merged.rowLogSumExp(), "merged.rowLogSumExp", device, rows);
        requireMerged(merged.residualDotExpected(), "merged.residualDotExpected", device, rows);
        requireMerged(merged.residual(), "merged.residual", device, rows, dim);

        boolean padded = layout.rowStride() != layout.vocab();
        Tensor grad = switch (options.gradient()) {
            case NEW_TENSOR -> padded
                    ? torch.empty(new long[] {rows, layout.rowStride()},
                            EmdKernel.options(EmdKernel.dtype(logits), device), new MemoryFormatOptional())
                            .narrow(1, 0, layout.vocab())
                    : torch.empty(new long[] {rows, layout.vocab()},
                            EmdKernel.options(EmdKernel.dtype(logits), device), new MemoryFormatOptional());
            case IN_PLACE -> logits;
            case NONE -> throw new AssertionError();
        };
        if (rows == 0) {
            return grad;
        }
        try (EmdNative.VpSliceArgs args = sliceArgs(logits, unitEmbedding, targets, slice, options, layout)) {
            args.row_max(constFloats(merged.rowMax())).row_log_sumexp(constFloats(merged.rowLogSumExp()))
                    .residual(constFloats(merged.residual()))
                    .residual_dot_expected(constFloats(merged.residualDotExpected()))
                    .grad_scale(options.gradScale()).grad_logits(grad.mutable_data_ptr());
            run(device, args, true, options);
        }
        if (options.gradient() == GradientMode.IN_PLACE) {
            EmdKernel.bumpVersion(logits);
        } else if (padded) {
            grad = grad.contiguous();
        }
        return grad;
    }

    // ---- helpers ----

    private static EmdKernel.Layout validateSlice(Tensor logits, Tensor unitEmbedding, Tensor targets, Slice slice,
            Options options) {
        EmdKernel.requireTensor(logits, "logits");
        if (logits.dim() == 2 && slice.start() + logits.size(1) > slice.total()) {
            throw new IllegalArgumentException("slice: columns [" + slice.start() + ", "
                    + (slice.start() + logits.size(1)) + ") of the logits do not fit the vocabulary of "
                    + slice.total());
        }
        return EmdKernel.validate(logits, unitEmbedding, targets, options, slice.total());
    }

    private static EmdNative.VpSliceArgs sliceArgs(Tensor logits, Tensor unitEmbedding, Tensor targets, Slice slice,
            Options options, EmdKernel.Layout layout) {
        EmdNative.VpSliceArgs args = new EmdNative.VpSliceArgs();
        args.logits(logits.const_data_ptr())
                .logits_dtype(layout.logitsDtype())
                .rows(layout.rows())
                .vocab(layout.vocab())
                .logits_row_stride(layout.rowStride())
                .vocab_start(slice.start())
                .vocab_total(slice.total())
                .unit_embedding(unitEmbedding.const_data_ptr())
                .embedding_dtype(layout.embeddingDtype())
                .dim(layout.dim())
                .targets(new LongPointer(targets.const_data_ptr()))
                .ignore_index(options.ignoreIndex())
                .cuda_stream(null);
        return args;
    }

    private static void run(Device device, EmdNative.VpSliceArgs args, boolean backward, Options options) {
        int status;
        if (device.is_cuda()) {
            try (OptionalDeviceGuard guard = new OptionalDeviceGuard(device)) {
                args.cuda_stream(EmdKernel.CudaStreams.current(device));
                status = backward ? EmdNative.tasft_emd_vp_backward_cuda(args)
                        : EmdNative.tasft_emd_vp_partial_cuda(args);
            }
        } else if (options.cpuIsa() == EmdKernel.CpuIsa.DEFAULT) {
            status = backward ? EmdNative.tasft_emd_vp_backward_cpu(args) : EmdNative.tasft_emd_vp_partial_cpu(args);
        } else {
            try (EmdNative.EmdVariant variant = options.nativeVariant()) {
                status = backward ? EmdNative.tasft_emd_vp_backward_cpu_variant(args, variant)
                        : EmdNative.tasft_emd_vp_partial_cpu_variant(args, variant);
            }
        }
        EmdKernel.check(status, backward ? "tasft_emd_vp_backward" : "tasft_emd_vp_partial");
    }

    private static void requireDevice(Device device, String name) {
        if (!device.is_cpu() && !device.is_cuda()) {
            throw new IllegalArgumentException(name + ": unsupported device " + EmdKernel.describe(device)
                    + " (CPU or CUDA expected)");
        }
        if (device.is_cuda() && !EmdKernel.cudaAvailable()) {
            throw new UnsupportedOperationException(name + ": CUDA tensors need libtasft built with CUDA and a "
                    + "usable device; this library is " + EmdKernel.version());
        }
    }

    private static void requireFloat(Tensor t, String name, int dims) {
        if (EmdKernel.dtype(t) != ScalarType.Float) {
            throw new IllegalArgumentException(name + ": dtype " + EmdKernel.dtype(t) + " not supported (Float)");
        }
        if (t.dim() != dims) {
            throw new IllegalArgumentException(name + ": expected a " + dims + "-D tensor, got shape "
                    + EmdKernel.shape(t));
        }
        if (!t.is_contiguous()) {
            throw new IllegalArgumentException(name + ": must be contiguous, got strides " + EmdKernel.strides(t));
        }
    }

    private static void requireMerged(Tensor t, String name, Device device, long... shape) {
        EmdKernel.requireTensor(t, name);
        EmdKernel.requireSameDevice(t, name, device);
        requireFloat(t, name, shape.length);
        for (int i = 0; i < shape.length; i++) {
            if (t.size(i) != shape[i]) {
                throw new IllegalArgumentException(name + ": expected shape " + Arrays.toString(shape)
                        + " (the logits' rows and the embedding's dim), got " + EmdKernel.shape(t));
            }
        }
    }

    private static void requireTargets(Tensor targets, long rows) {
        if (EmdKernel.dtype(targets) != ScalarType.Long) {
            throw new IllegalArgumentException("targets: dtype " + EmdKernel.dtype(targets) + " not supported (Long)");
        }
        if (targets.dim() != 1 || targets.size(0) != rows) {
            throw new IllegalArgumentException("targets: expected [" + rows + "] to match the statistics' rows, got "
                    + EmdKernel.shape(targets));
        }
        if (!targets.is_contiguous()) {
            throw new IllegalArgumentException("targets: must be contiguous, got stride " + EmdKernel.strides(targets));
        }
    }

    /** The merge knows no vocabulary size: it checks that each target lies in exactly one slice, and this the sign. */
    private static void checkTargetsNotNegative(Tensor targets, long rows, long ignoreIndex) {
        LongPointer data = new LongPointer(targets.const_data_ptr());
        for (long row = 0; row < rows; row++) {
            long t = data.get(row);
            if (t < 0 && t != ignoreIndex) {
                throw new IllegalArgumentException("targets: targets[" + row + "] = " + t
                        + " is negative and not the ignore index " + ignoreIndex);
            }
        }
    }

    private static Tensor empty(Device device, long... shape) {
        return torch.empty(shape, EmdKernel.options(ScalarType.Float, device), new MemoryFormatOptional());
    }

    private static FloatPointer floats(Tensor t) {
        return new FloatPointer(t.mutable_data_ptr());
    }

    private static FloatPointer constFloats(Tensor t) {
        return new FloatPointer(t.const_data_ptr());
    }
}
