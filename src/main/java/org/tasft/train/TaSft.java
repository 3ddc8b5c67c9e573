package org.tasft.train;

import java.util.Objects;

import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.ScalarTypeOptional;
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

    /**
     * The distance cap of the {@link Method#EMD_CAP} variant: 1, the distance at which the expected embedding is a
     * unit away from the harmful token's (from 0 when all mass is on it, up to 4 at its antipode).
     */
    public static final double VARIANT_DISTANCE_CAP = 1.0;

    private final double lambda;
    private final Reduction reduction;
    private final EmbeddingSource embedding;
    private final boolean inPlaceGradient;
    private final FusedHead fusedHead;
    private final double distanceCap;

    public TaSft(double lambda, Reduction reduction, EmbeddingSource embedding) {
        this(lambda, reduction, embedding, false);
    }

    public TaSft(double lambda, Reduction reduction, EmbeddingSource embedding, boolean inPlaceGradient) {
        this(lambda, reduction, embedding, inPlaceGradient, FusedHead.AUTO);
    }

    /**
     * @param fusedHead       whether the step runs through the fused LM head ({@link FusedHeadStep})
     * @param inPlaceGradient the kernel writes lambda * L_EMD's gradient over the harmful rows' logits instead of a
     *                        new buffer (see {@link EmdLoss#withInPlaceGradient}): safe here because L_SFT has read
     *                        the logits before (its log_softmax saves its output, not the logits) and the LM head's
     *                        matmul saves its inputs; saves one buffer the size of the harmful rows' logits (all B*T
     *                        rows when harmful sequences are not contiguous in the batch). Off by default.
     */
    public TaSft(double lambda, Reduction reduction, EmbeddingSource embedding, boolean inPlaceGradient,
            FusedHead fusedHead) {
        this(lambda, reduction, embedding, inPlaceGradient, fusedHead, Double.POSITIVE_INFINITY);
    }

    /**
     * @param distanceCap a token whose distance d has reached this is no longer pushed: the term is
     *                    {@code -(1/N) sum_t min(d_t, cap)} (the {@link Method#EMD_CAP} variant); infinity: TA-SFT.
     *                    A finite cap takes the logits path (the fused head has no cap): {@code fusedHead} ON is
     *                    refused, AUTO means the logits.
     */
    public TaSft(double lambda, Reduction reduction, EmbeddingSource embedding, boolean inPlaceGradient,
            FusedHead fusedHead, double distanceCap) {
        if (!(distanceCap > 0)) {
            throw new IllegalArgumentException("distanceCap: must be > 0, got " + distanceCap);
        }
        if (fusedHead == FusedHead.ON && Double.isFinite(distanceCap)) {
            throw new IllegalArgumentException("--fused-head on: emd-cap's distance cap needs the logits "
                    + "(use --fused-head auto or off)");
        }
        if (!Double.isFinite(lambda)) {
            throw new IllegalArgumentException("lambda: must be finite, got " + lambda);
        }
        this.lambda = lambda;
        this.reduction = Objects.requireNonNull(reduction, "reduction");
        this.embedding = Objects.requireNonNull(embedding, "embedding");
        this.inPlaceGradient = inPlaceGradient;
        this.fusedHead = Objects.requireNonNull(fusedHead, "fusedHead");
        this.distanceCap = distanceCap;
    }

    /** The distance past which a token is not pushed (infinity for TA-SFT itself). */
    public double distanceCap() {
        return distanceCap;
    }

    /** Whether the step runs through the fused LM head ({@link FusedHeadStep}, no logits; inPlaceGradient is then moot). */
    public FusedHead fusedHead() {
        return fusedHead;
    }

    public boolean inPlaceGradient() {
        return inPlaceGradient;
    }

    @Override
    public String name() {
        return Double.isInfinite(distanceCap) ? "emd" : "emd-cap";
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
        if (Double.isInfinite(distanceCap) && fusedHead.use(model)) {  // the cap needs the logits' loss rows
            return FusedHeadStep.emd(model, batch, totals, this);
        }
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
            EmdLoss.Term term = capped(loss.computeWithNormalizer(harmful.logits(), harmful.targets(), n[1]));
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

    /**
     * The term with {@link #distanceCap} applied: rows at or past the cap contribute the cap and no gradient (the
     * kernel's per-row gradient rows are independent, so zeroing a row removes exactly that token's push).
     */
    EmdLoss.Term capped(EmdLoss.Term term) {
        if (Double.isInfinite(distanceCap)) {
            return term;
        }
        Tensor below = term.lossRows().lt(new Scalar(distanceCap));
        term.gradient().mul_(below.to(term.gradient().scalar_type()).unsqueeze(1));
        double sum = term.lossRows().clamp_max(new Scalar(distanceCap))
                .sum(new ScalarTypeOptional(ScalarType.Double)).item_double();
        return new EmdLoss.Term(term.scale() * sum, term.scale(), term.normalizer(), term.lossRows(), term.root(),
                term.gradient());
    }
}
