package org.tasft.model;

import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptional;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * The products of the dense layers and LM heads, {@code x @ W^T (+ b)} over x's flattened leading dimensions, with
 * one special case: a single row in float32 on the CPU (a generation step at batch 1) goes through a matrix-vector
 * product. The presets' LibTorch sends a one-row product to OpenBLAS's sgemm, which packs all of W first: 3.4x
 * slower for a [32000 x 1024] LM head and 9-10x for a [2752 x 1024] projection than {@code mv} (bench/RESULTS.md).
 * bf16 keeps LibTorch's own path, which is faster than its {@code mv}; other devices keep theirs.
 */
final class DenseProduct {
    private DenseProduct() {
    }

    /** {@code x @ weight^T + bias} for a weight stored [out, in] ({@code nn.Linear}); bias may be null. */
    static Tensor linear(Tensor x, Tensor weight, Tensor bias) {
        if (singleFloatRowOnCpu(x)) {
            return withBias(torch.mv(weight, x.reshape(-1)), bias).view(outShape(x, weight.size(0)));
        }
        return bias == null ? torch.linear(x, weight) : torch.linear(x, weight, new TensorOptional(bias));
    }

    /** {@code x @ weight + bias} for a weight stored [in, out] (GPT-2's Conv1D). */
    static Tensor transposedLinear(Tensor x, Tensor weight, Tensor bias) {
        long[] shape = outShape(x, weight.size(1));
        if (singleFloatRowOnCpu(x)) {
            return withBias(torch.mv(weight.t(), x.reshape(-1)), bias).view(shape);
        }
        return torch.addmm(bias, x.reshape(-1, x.size(-1)), weight).view(shape);
    }

    private static boolean singleFloatRowOnCpu(Tensor x) {
        return x.numel() == x.size(-1) && x.device().is_cpu() && x.scalar_type().intern() == ScalarType.Float;
    }

    private static Tensor withBias(Tensor y, Tensor bias) {
        return bias == null ? y : y.add(bias);
    }

    private static long[] outShape(Tensor x, long out) {
        long[] shape = new long[(int) x.dim()];
        for (int i = 0; i < shape.length - 1; i++) {
            shape[i] = x.size(i);
        }
        shape[shape.length - 1] = out;
        return shape;
    }
}
