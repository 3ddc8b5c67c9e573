package org.tasft.loss;

import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.ScalarTypeOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * The EMD lower bound in plain LibTorch ops, differentiable by autograd: the slow, obviously right version kept as
 * the oracle for {@link EmdLoss} and the baseline of its benchmarks. It materializes softmax(logits) ([rows, vocab]
 * in the compute dtype), which the fused kernel avoids.
 *
 * <p>{@code d_n = ||ehat[y_n] - softmax(logits[n]) @ ehat||^2}, 0 where {@code y_n} is the ignore index; ehat is
 * treated as a constant (detached).
 */
public final class NaiveEmdLoss {
    private NaiveEmdLoss() {
    }

    /** Per-row d in float32 (whatever the logits' dtype), in the logits' autograd graph. */
    public static Tensor lossRows(Tensor logits, Tensor unitEmbedding, Tensor targets, long ignoreIndex) {
        return lossRows(logits, unitEmbedding, targets, ignoreIndex, ScalarType.Float);
    }

    /**
     * Per-row d computed in {@code computeType} (Float, or Double for finite-difference checks), in the logits'
     * autograd graph.
     */
    public static Tensor lossRows(Tensor logits, Tensor unitEmbedding, Tensor targets, long ignoreIndex,
            ScalarType computeType) {
        Tensor ignored = targets.eq(new Scalar(ignoreIndex));
        Tensor safeTargets = targets.masked_fill(ignored, new Scalar(0L)); // any valid row; masked out below
        Tensor r = expectedEmbedding(logits, unitEmbedding, computeType)
                .sub(unitEmbedding.detach().to(computeType).index_select(0, safeTargets));
        return r.mul(r).sum(new long[] {1}, false, new ScalarTypeOptional()).masked_fill(ignored, new Scalar(0.0));
    }

    /** softmax(logits) @ ehat per row (for every row, ignored or not), in {@code computeType}. */
    public static Tensor expectedEmbedding(Tensor logits, Tensor unitEmbedding, ScalarType computeType) {
        Tensor p = logits.to(computeType).softmax(1);
        return p.matmul(unitEmbedding.detach().to(computeType));
    }

    /** The loss term {@code -lambda / normalizer * sum(d)} as a 0-dim tensor in the logits' graph. */
    public static Tensor lossTerm(Tensor logits, Tensor unitEmbedding, Tensor targets, long ignoreIndex, double lambda,
            double normalizer) {
        double scale = normalizer > 0 ? -lambda / normalizer : 0.0;
        return lossRows(logits, unitEmbedding, targets, ignoreIndex).sum().mul(new Scalar(scale));
    }
}
