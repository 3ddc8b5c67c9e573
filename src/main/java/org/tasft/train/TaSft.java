package org.tasft.train;

import java.util.Objects;

import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.tasft.data.Batch;
import org.tasft.kernel.EmdKernel;
import org.tasft.loss.EmdLoss;
import org.tasft.loss.EmdLoss.Reduction;
import org.tasft.model.CausalLm;

/**
 * TA-SFT ("emd"): {@code L = L_SFT + lambda * L_EMD}.
 * <ul>
 *   <li>L_SFT = mean over the SAFE sequences' response tokens of {@code -log p(y_t)} (harmful sequences contribute
 *       nothing to it);</li>
 *   <li>L_EMD = {@code -(1 / N) sum_t d_t} over the HARMFUL sequences' response tokens,
 *       {@code d_t = ||ehat[y_t] - softmax(z_t) @ ehat||^2}, with N the number of harmful sequences
 *       ({@link Reduction#SEQUENCE}, the paper's) or of harmful response tokens ({@link Reduction#TOKEN});</li>
 *   <li>ehat = rows of the model's input embedding (or, as an option, of the LM head) scaled to unit norm, detached
 *       and recomputed every step since the weights change; all-zero rows (e.g. transformers' padding_idx row) stay
 *       zero ({@code e / max(||e||, 1e-12)}).</li>
 * </ul>
 * L_EMD's value and gradient come from the fused kernel through {@link EmdLoss} (no [tokens, vocab] softmax is
 * materialised for it), and enter autograd together with L_SFT in ONE multi-root backward
 * ({@link EmdLoss#backward}). See {@link StepForward} for how the rows of harmful sequences are selected without a
 * copy of the logits and what the kernel's gradient buffer then costs.
 */
public final class TaSft implements Objective {
    /** Whose rows make the unit embedding ehat. */
    public enum EmbeddingSource {
        /** The input token embedding (the paper's; for tied models the same matrix as the LM head). */
        INPUT,
        /** The LM head's weight. */
        LM_HEAD
    }

    private final double lambda;
    private final Reduction reduction;
    private final EmbeddingSource embedding;
    private final boolean inPlaceGradient;

    public TaSft(double lambda, Reduction reduction, EmbeddingSource embedding) {
        this(lambda, reduction, embedding, false);
    }

    /**
     * @param inPlaceGradient the kernel writes lambda * L_EMD's gradient over the harmful rows' logits instead of a
     *                        new buffer (see {@link EmdLoss#withInPlaceGradient}): safe here because L_SFT has read
     *                        the logits before (its log_softmax saves its output, not the logits) and the LM head's
     *                        matmul saves its inputs; saves one buffer the size of the harmful rows' logits (all B*T
     *                        rows when harmful sequences are not contiguous in the batch). Off by default.
     */
    public TaSft(double lambda, Reduction reduction, EmbeddingSource embedding, boolean inPlaceGradient) {
        if (!Double.isFinite(lambda)) {
            throw new IllegalArgumentException("lambda: must be finite, got " + lambda);
        }
        this.lambda = lambda;
        this.reduction = Objects.requireNonNull(reduction, "reduction");
        this.embedding = Objects.requireNonNull(embedding, "embedding");
        this.inPlaceGradient = inPlaceGradient;
    }

    public boolean inPlaceGradient() {
        return inPlaceGradient;
    }

    @Override
    public String name() {
        return "emd";
    }

    public double lambda() {
        return lambda;
    }

    public Reduction reduction() {
        return reduction;
    }

    public EmbeddingSource embedding() {
        return embedding;
    }

    /** The unit embedding this objective uses for a model now (a new detached tensor). */
    public Tensor unitEmbedding(CausalLm model) {
        Tensor w = embedding == EmbeddingSource.INPUT ? model.inputEmbeddingWeight() : model.lmHeadWeight();
        return EmdKernel.unitEmbedding(w);
    }

    @Override
    public StepLoss step(CausalLm model, Batch batch, ShardTotals totals) {
        StepForward f = StepForward.run(model, batch);
        StepForward.Rows safe = f.rows(batch.harmful(), false);
        StepForward.Rows harmful = f.rows(batch.harmful(), true);
        // L_EMD's normalizer: harmful sequences (SEQUENCE) or harmful response tokens (TOKEN), over the whole batch.
        double[] n = totals.meanOverRanks(safe.tokens(),
                reduction == Reduction.SEQUENCE ? harmful.sequences() : harmful.tokens());
        Tensor sft = StepForward.sftLoss(safe, n[0]);
        double sftValue = StepForward.value(sft);

        double termValue = 0.0;
        if (harmful.isEmpty()) {
            StepForward.backward(sft);
        } else {
            // Reduced-precision logits: the kernel reads them as they are (no float32 copy) and writes its gradient
            // over them, so the step holds no second [rows, vocab] buffer either.
            boolean inPlace = inPlaceGradient || f.logits.scalar_type().intern() != ScalarType.Float;
            EmdLoss loss = new EmdLoss(unitEmbedding(model), lambda, reduction).withIgnoreIndex(StepForward.IGNORE)
                    .withInPlaceGradient(inPlace);
            EmdLoss.Term term = loss.computeWithNormalizer(harmful.logits(), harmful.targets(), n[1]);
            termValue = term.value();
            if (sft == null) {
                term.backward();
            } else {
                EmdLoss.backward(sft, term);
            }
        }
        return new StepLoss(sftValue + termValue, sftValue, termValue, safe.tokens(), harmful.tokens(),
                safe.sequences(), harmful.sequences());
    }
}
