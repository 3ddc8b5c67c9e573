package org.tasft.loss;

import java.util.Objects;

import org.bytedeco.pytorch.BoolOptional;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.ScalarTypeOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorArrayRefOptional;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.tasft.kernel.EmdKernel;
import org.tasft.kernel.EmdKernel.GradientMode;

/**
 * The TA-SFT term {@code lambda * L_EMD = -lambda / normalizer * sum_t d_t} over harmful response tokens, computed by
 * the fused kernel, which returns the value and the gradient with respect to the logits in one pass; the gradient
 * then enters LibTorch's autograd through the logits (the kernel itself is not an autograd node).
 *
 * <p>Typical use in a training step, with the SFT loss in the same graph:
 * <pre>{@code
 * EmdLoss.Term emd = emdLoss.compute(harmfulLogits, harmfulTargets, harmfulSequences);
 * EmdLoss.backward(sftLoss, emd);          // one traversal for both roots
 * double total = sftLoss.item_double() + emd.value();
 * }</pre>
 *
 * <p>Normalizers: {@link Reduction#SEQUENCE} divides by the number of harmful sequences (the paper's form),
 * {@link Reduction#TOKEN} by the number of non-ignored harmful target tokens.
 */
public final class EmdLoss {
    /** What {@code sum_t d_t} is divided by. */
    public enum Reduction {
        /** The number of harmful sequences in the batch. */
        SEQUENCE,
        /** The number of non-ignored harmful target tokens (a mean over tokens). */
        TOKEN
    }

    private final Tensor unitEmbedding;
    private final double lambda;
    private final Reduction reduction;
    private final long ignoreIndex;
    private final boolean inPlaceGradient;

    /**
     * @param unitEmbedding [vocab, dim] rows of unit norm, a constant (see {@link EmdKernel#unitEmbedding(Tensor)});
     *                      on the logits' device
     * @param lambda        the weight of L_EMD in {@code L = L_SFT + lambda * L_EMD}
     */
    public EmdLoss(Tensor unitEmbedding, double lambda, Reduction reduction) {
        this(unitEmbedding, lambda, reduction, EmdKernel.DEFAULT_IGNORE_INDEX, false);
    }

    private EmdLoss(Tensor unitEmbedding, double lambda, Reduction reduction, long ignoreIndex,
            boolean inPlaceGradient) {
        this.unitEmbedding = Objects.requireNonNull(unitEmbedding, "unitEmbedding");
        if (!Double.isFinite(lambda)) {
            throw new IllegalArgumentException("lambda: must be finite, got " + lambda);
        }
        this.lambda = lambda;
        this.reduction = Objects.requireNonNull(reduction, "reduction");
        this.ignoreIndex = ignoreIndex;
        this.inPlaceGradient = inPlaceGradient;
    }

    public EmdLoss withIgnoreIndex(long value) {
        return new EmdLoss(unitEmbedding, lambda, reduction, value, inPlaceGradient);
    }

    /**
     * Writes the gradient over the logits' memory instead of a new logits-sized tensor (one less [rows, vocab]
     * buffer, the largest activation of a step). Safe only when
     * <ul>
     *   <li>every forward use of these logits has already happened (e.g. the SFT cross-entropy over the same
     *       tensor), since their values are replaced by the gradient, and</li>
     *   <li>no graph node saved the logits' values for its backward. The LM-head matmul saves its inputs, not its
     *       output, and log_softmax saves its output, so the usual {@code logits = h @ W^T -> cross_entropy} graph
     *       qualifies; a logsumexp z-loss or a soft-capping tanh applied in-graph after the logits (which saves
     *       them) does not.</li>
     * </ul>
     * The kernel bumps the logits' autograd version counter, so a node that saved them makes backward fail with
     * LibTorch's "modified by an inplace operation" error rather than compute with wrong values.
     */
    public EmdLoss withInPlaceGradient(boolean value) {
        return new EmdLoss(unitEmbedding, lambda, reduction, ignoreIndex, value);
    }

    public double lambda() {
        return lambda;
    }

    public Reduction reduction() {
        return reduction;
    }

    public long ignoreIndex() {
        return ignoreIndex;
    }

    public boolean inPlaceGradient() {
        return inPlaceGradient;
    }

    public Tensor unitEmbedding() {
        return unitEmbedding;
    }

    /** The normalizer this loss's reduction uses for a batch. */
    public double normalizer(Tensor targets, long harmfulSequences) {
        return switch (reduction) {
            case SEQUENCE -> {
                if (harmfulSequences < 0) {
                    throw new IllegalArgumentException("harmfulSequences: must be >= 0, got " + harmfulSequences);
                }
                yield harmfulSequences;
            }
            case TOKEN -> countTargets(targets);
        };
    }

    /**
     * The loss term and its gradient for one batch of harmful rows.
     *
     * @param logits           [rows, vocab] in an autograd graph (a column slice of a wider tensor is fine)
     * @param targets          [rows] int64; the ignore index marks positions outside harmful responses
     * @param harmfulSequences the number of harmful sequences (used by {@link Reduction#SEQUENCE})
     */
    public Term compute(Tensor logits, Tensor targets, long harmfulSequences) {
        return computeWithNormalizer(logits, targets, normalizer(targets, harmfulSequences));
    }

    /**
     * As {@link #compute(Tensor, Tensor, long)} with an explicit normalizer (e.g. summed over data-parallel ranks).
     * A normalizer of 0 means there is nothing to normalize: value and gradient are 0.
     */
    public Term computeWithNormalizer(Tensor logits, Tensor targets, double normalizer) {
        if (!(normalizer >= 0) || Double.isInfinite(normalizer)) {
            throw new IllegalArgumentException("normalizer: must be finite and >= 0, got " + normalizer);
        }
        double scale = normalizer > 0 ? -lambda / normalizer : 0.0;
        EmdKernel.Result result = EmdKernel.compute(logits, unitEmbedding, targets, EmdKernel.Options.defaults()
                .ignoreIndex(ignoreIndex)
                .gradScale((float) scale)
                .gradient(inPlaceGradient ? GradientMode.IN_PLACE : GradientMode.NEW_TENSOR)
                // CUDA: launch on LibTorch's current stream without the host-side target check (it copies the
                // targets to the host and waits); the one wait left is the value read below, which is logged
                .cudaAsync(logits.is_cuda()));
        double sum = result.lossRows().sum(new ScalarTypeOptional(ScalarType.Double)).item_double();
        // In place, the gradient is the logits' memory; detached, so that autograd takes it as a plain value.
        Tensor grad = inPlaceGradient ? logits.detach() : result.gradLogits();
        return new Term(scale * sum, scale, normalizer, result.lossRows(), logits, grad);
    }

    /**
     * Back-propagates an SFT loss (a scalar) and the EMD term through their shared graph in one traversal.
     */
    public static void backward(Tensor sftLoss, Term term) {
        Objects.requireNonNull(sftLoss, "sftLoss");
        Objects.requireNonNull(term, "term");
        TensorVector roots = new TensorVector(sftLoss, term.root());
        TensorVector grads = new TensorVector(torch.ones_like(sftLoss), term.gradient());
        torch.backward(roots, grads, new BoolOptional(), false, new TensorVector());
    }

    private long countTargets(Tensor targets) {
        Objects.requireNonNull(targets, "targets");
        return targets.ne(new Scalar(ignoreIndex)).sum().item_long();
    }

    /**
     * One batch's EMD term: the value for logging and the gradient to feed autograd.
     *
     * @param value      {@code -lambda / normalizer * sum(d)}, the term added to the total loss
     * @param scale      {@code -lambda / normalizer} (0 when the normalizer is 0)
     * @param normalizer what {@code sum(d)} was divided by
     * @param lossRows   float32 [rows]: d per row, 0 for ignored rows (no gradient attached)
     * @param root       the logits, the root at which {@link #gradient()} enters the graph
     * @param gradient   {@code d value / d logits}, in the logits' dtype
     */
    public record Term(double value, double scale, double normalizer, Tensor lossRows, Tensor root,
            Tensor gradient) {
        /** {@code logits.backward(gradient)}: gradients flow into whatever produced the logits. */
        public void backward() {
            backward(false);
        }

        public void backward(boolean retainGraph) {
            root.backward(gradient, new BoolOptional(retainGraph), false, new TensorArrayRefOptional());
        }
    }
}
