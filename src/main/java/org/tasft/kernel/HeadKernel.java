package org.tasft.kernel;

import java.util.Objects;

import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.MemoryFormatOptional;
import org.bytedeco.pytorch.OptionalDeviceGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * The fused LM head on LibTorch tensors ({@code tasft_head_cpu} / {@code tasft_head_cuda}): from the final hidden
 * states h [rows, hidden] and the head weight W [vocab, hidden], per row either the cross-entropy
 * {@code logsumexp(z) - z_y} or the EMD bound {@code ||softmax(z) @ ehat - ehat[y]||^2} of z = h W^T, and the
 * gradients of {@code sum_n scale(role_n) loss_n} with respect to h and W, without a [rows, vocab] tensor.
 *
 * <p>Inputs are read where they are (no copy). Bad inputs throw {@link IllegalArgumentException} naming the argument
 * before native code runs (targets and roles are checked by the library, with the same exception).
 */
public final class HeadKernel {
    static {
        Loader.load(torch.class);  // LibTorch (and its libgomp) before libtasft, as EmdKernel
    }

    private HeadKernel() {
    }

    /** What a row contributes ({@code tasft_head_role}); the roles tensor holds {@link #code()} as int8. */
    public enum Role {
        IGNORE(EmdNative.TASFT_HEAD_IGNORE), CE(EmdNative.TASFT_HEAD_CE), EMD(EmdNative.TASFT_HEAD_EMD);

        private final int code;

        Role(int code) {
            this.code = code;
        }

        public int code() {
            return code;
        }
    }

    /**
     * @param ignoreIndex  the target that marks a row without one
     * @param ceGradScale  scale of CE rows' gradients
     * @param emdGradScale scale of EMD rows' gradients
     * @param gradHidden   compute {@code d/dh}
     * @param gradWeight   compute {@code d/dW}
     * @param cpuIsa       the CPU kernel's instruction set
     */
    public record Options(long ignoreIndex, float ceGradScale, float emdGradScale, boolean gradHidden,
            boolean gradWeight, EmdKernel.CpuIsa cpuIsa) {
        public Options {
            Objects.requireNonNull(cpuIsa, "cpuIsa");
        }

        public static Options defaults() {
            return new Options(EmdKernel.DEFAULT_IGNORE_INDEX, 1f, 1f, true, true, EmdKernel.CpuIsa.DEFAULT);
        }

        public Options ignoreIndex(long v) {
            return new Options(v, ceGradScale, emdGradScale, gradHidden, gradWeight, cpuIsa);
        }

        public Options scales(float ce, float emd) {
            return new Options(ignoreIndex, ce, emd, gradHidden, gradWeight, cpuIsa);
        }

        public Options gradients(boolean hidden, boolean weight) {
            return new Options(ignoreIndex, ceGradScale, emdGradScale, hidden, weight, cpuIsa);
        }

        public Options cpuIsa(EmdKernel.CpuIsa v) {
            return new Options(ignoreIndex, ceGradScale, emdGradScale, gradHidden, gradWeight, v);
        }
    }

    /**
     * @param lossRows   float32 [rows], 0 for ignored rows
     * @param gradHidden float32 [rows, hidden] or null
     * @param gradWeight float32 [vocab, hidden] or null: the tensor passed to {@link #compute} (accumulated into), or a
     *                   new one
     */
    public record Result(Tensor lossRows, Tensor gradHidden, Tensor gradWeight) {
    }

    /**
     * Runs the kernel.
     *
     * @param hidden        [rows, hidden] float32, bfloat16 or float16, column stride 1, row stride >= hidden
     * @param weight        [vocab, hidden] float32, bfloat16 or float16, contiguous
     * @param unitEmbedding [vocab, dim] contiguous unit rows, or null when no row is {@link Role#EMD}
     * @param targets       [rows] int64, contiguous
     * @param roles         [rows] int8 ({@link Role#code()}), contiguous
     * @param gradWeightInto float32 [vocab, hidden] contiguous tensor the weight gradient is ADDED to, or null for a
     *                      new zero-initialised one (only read when {@link Options#gradWeight()})
     */
    public static Result compute(Tensor hidden, Tensor weight, Tensor unitEmbedding, Tensor targets, Tensor roles,
            Tensor gradWeightInto, Options options) {
        Objects.requireNonNull(options, "options");
        EmdKernel.requireTensor(hidden, "hidden");
        EmdKernel.requireTensor(weight, "weight");
        EmdKernel.requireTensor(targets, "targets");
        EmdKernel.requireTensor(roles, "roles");
        Device device = hidden.device();
        if (hidden.dim() != 2 || hidden.stride(1) != 1 || hidden.stride(0) < hidden.size(1)) {
            throw new IllegalArgumentException("hidden: expected [rows, hidden] with column stride 1, got shape "
                    + EmdKernel.shape(hidden) + " strides " + EmdKernel.strides(hidden));
        }
        long rows = hidden.size(0);
        long dimH = hidden.size(1);
        if (weight.dim() != 2 || weight.size(1) != dimH || !weight.is_contiguous()) {
            throw new IllegalArgumentException("weight: expected a contiguous [vocab, " + dimH + "] tensor, got shape "
                    + EmdKernel.shape(weight));
        }
        long vocab = weight.size(0);
        Integer hiddenType = dtypeOf(hidden, "hidden");
        Integer weightType = dtypeOf(weight, "weight");
        Integer embeddingType = EmdNative.TASFT_FLOAT32;
        if (unitEmbedding != null) {
            EmdKernel.requireTensor(unitEmbedding, "unitEmbedding");
            if (unitEmbedding.dim() != 2 || unitEmbedding.size(0) != vocab || !unitEmbedding.is_contiguous()) {
                throw new IllegalArgumentException("unitEmbedding: expected a contiguous [" + vocab
                        + ", dim] tensor, got shape " + EmdKernel.shape(unitEmbedding));
            }
            embeddingType = dtypeOf(unitEmbedding, "unitEmbedding");
            EmdKernel.requireSameDevice(unitEmbedding, "unitEmbedding", device);
        }
        requireVector(targets, "targets", rows, ScalarType.Long);
        requireVector(roles, "roles", rows, ScalarType.Char);
        EmdKernel.requireSameDevice(weight, "weight", device);
        EmdKernel.requireSameDevice(targets, "targets", device);
        EmdKernel.requireSameDevice(roles, "roles", device);

        Tensor loss = torch.empty(new long[] {rows}, EmdKernel.options(ScalarType.Float, device),
                new MemoryFormatOptional());
        Tensor gh = options.gradHidden() ? torch.empty(new long[] {rows, dimH},
                EmdKernel.options(ScalarType.Float, device), new MemoryFormatOptional()) : null;
        Tensor gw = null;
        if (options.gradWeight()) {
            if (gradWeightInto == null) {
                gw = torch.zeros(new long[] {vocab, dimH}, EmdKernel.options(ScalarType.Float, device));
            } else {
                EmdKernel.requireTensor(gradWeightInto, "gradWeightInto");
                if (EmdKernel.dtype(gradWeightInto) != ScalarType.Float || !gradWeightInto.is_contiguous()
                        || gradWeightInto.dim() != 2 || gradWeightInto.size(0) != vocab
                        || gradWeightInto.size(1) != dimH) {
                    throw new IllegalArgumentException("gradWeightInto: expected a contiguous float32 [" + vocab + ", "
                            + dimH + "] tensor, got " + EmdKernel.dtype(gradWeightInto) + " "
                            + EmdKernel.shape(gradWeightInto));
                }
                EmdKernel.requireSameDevice(gradWeightInto, "gradWeightInto", device);
                gw = gradWeightInto;
            }
        }
        if (rows == 0) {
            return new Result(loss, gh, gw);
        }
        try (EmdNative.HeadArgs args = new EmdNative.HeadArgs()) {
            args.hidden(hidden.const_data_ptr()).hidden_dtype(hiddenType).rows(rows).hidden_dim(dimH)
                    .hidden_row_stride(hidden.stride(0))
                    .weight(weight.const_data_ptr()).weight_dtype(weightType).vocab(vocab)
                    .unit_embedding(unitEmbedding == null ? null : unitEmbedding.const_data_ptr())
                    .embedding_dtype(embeddingType).dim(unitEmbedding == null ? 0 : unitEmbedding.size(1))
                    .targets(new LongPointer(targets.const_data_ptr())).ignore_index(options.ignoreIndex())
                    .roles(new BytePointer(roles.const_data_ptr()))
                    .ce_grad_scale(options.ceGradScale()).emd_grad_scale(options.emdGradScale())
                    .loss_rows(new FloatPointer(loss.mutable_data_ptr()))
                    .grad_hidden(gh == null ? null : new FloatPointer(gh.mutable_data_ptr()))
                    .grad_weight(gw == null ? null : new FloatPointer(gw.mutable_data_ptr()))
                    .cuda_stream(null);
            int status;
            if (device.is_cuda()) {
                try (OptionalDeviceGuard guard = new OptionalDeviceGuard(device)) {
                    args.cuda_stream(EmdKernel.CudaStreams.current(device));
                    status = EmdNative.tasft_head_cuda(args);
                }
            } else if (options.cpuIsa() == EmdKernel.CpuIsa.DEFAULT) {
                status = EmdNative.tasft_head_cpu(args);
            } else {
                try (EmdNative.EmdVariant variant = new EmdNative.EmdVariant().cpu_isa(options.cpuIsa().code())) {
                    status = EmdNative.tasft_head_cpu_variant(args, variant);
                }
            }
            EmdKernel.check(status, "tasft_head");
        }
        return new Result(loss, gh, gw);
    }

    private static Integer dtypeOf(Tensor t, String name) {
        Integer code = EmdKernel.kernelDtype(EmdKernel.dtype(t));
        if (code == null) {
            throw new IllegalArgumentException(name + ": expected float32, bfloat16 or float16, got "
                    + EmdKernel.dtype(t));
        }
        return code;
    }

    private static void requireVector(Tensor t, String name, long rows, ScalarType type) {
        if (t.dim() != 1 || t.size(0) != rows || !t.is_contiguous() || EmdKernel.dtype(t) != type) {
            throw new IllegalArgumentException(name + ": expected a contiguous " + type + " [" + rows + "] tensor, got "
                    + EmdKernel.dtype(t) + " " + EmdKernel.shape(t));
        }
    }
}
