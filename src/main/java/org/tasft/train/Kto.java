package org.tasft.train;

import java.util.Objects;

import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.tasft.data.Batch;
import org.tasft.model.CausalLm;

/**
 * KTO baseline ("kto", Ethayarajh et al. 2024): desirable = safe sequences, undesirable = harmful ones, against a
 * frozen reference model. Exactly what is computed, per sequence b of the batch:
 * <pre>
 *   r_b = sum_t log p_policy(y_t | y_&lt;t, x_b) - sum_t log p_ref(y_t | y_&lt;t, x_b)     (over response tokens)
 *   z   = max(0, (1/B) sum_b r_b), detached   (B, |D|, |U|: the whole batch's, over data-parallel ranks)
 *   L   = lambda_D / |D| * sum_{b in D} (1 - sigmoid(beta (r_b - z)))
 *       + lambda_U / |U| * sum_{b in U} (1 - sigmoid(beta (z - r_b)))
 * </pre>
 * (a group without sequences contributes 0). The KL estimate z uses the batch's own (matched) sequences, clamped at 0,
 * a simpler and biased version of the paper's estimate from mismatched (prompt, completion) pairs, which needs extra
 * forward passes on re-assembled sequences. The reference runs under {@code NoGradGuard}: it gets no gradient and
 * builds no graph. {@link StepLoss#sft()} is the desirable part and {@link StepLoss#term()} the undesirable part.
 */
public final class Kto implements Objective {
    public static final double DEFAULT_BETA = 0.1;

    private final CausalLm reference;
    private final double beta;
    private final double lambdaDesirable;
    private final double lambdaUndesirable;

    public Kto(CausalLm reference, double beta, double lambdaDesirable, double lambdaUndesirable) {
        this.reference = Objects.requireNonNull(reference, "reference");
        for (double v : new double[] {beta, lambdaDesirable, lambdaUndesirable}) {
            if (!Double.isFinite(v)) {
                throw new IllegalArgumentException("beta, lambdaDesirable, lambdaUndesirable: must be finite, got "
                        + beta + ", " + lambdaDesirable + ", " + lambdaUndesirable);
            }
        }
        this.beta = beta;
        this.lambdaDesirable = lambdaDesirable;
        this.lambdaUndesirable = lambdaUndesirable;
    }

    public Kto(CausalLm reference) {
        this(reference, DEFAULT_BETA, 1.0, 1.0);
    }

    @Override
    public String name() {
        return "kto";
    }

    public double beta() {
        return beta;
    }

    public CausalLm reference() {
        return reference;
    }

    /** The reference's sequence log-likelihoods [B], outside any graph. */
    Tensor referenceLogProbs(Batch batch) {
        try (NoGradGuard guard = new NoGradGuard()) {
            return StepForward.run(reference, batch).sequenceLogProbs().detach();
        }
    }

    @Override
    public StepLoss step(CausalLm model, Batch batch, ShardTotals totals) {
        Tensor refLogp = referenceLogProbs(batch);
        StepForward f = StepForward.run(model, batch);
        Tensor ratio = f.sequenceLogProbs().sub(refLogp.to(f.logits.device(), torch.ScalarType.Float));

        boolean[] harmful = batch.harmful();
        int undesirable = batch.harmfulCount();
        int desirable = harmful.length - undesirable;
        // z and the group sizes are the whole batch's (over data-parallel ranks): one all-reduce of four numbers.
        double[] n = totals.meanOverRanks(ratio.detach().sum().item_double(), harmful.length, desirable,
                undesirable);
        double z = Math.max(0.0, n[0] / n[1]);
        double desirableShare = n[2];
        double undesirableShare = n[3];
        Tensor desirableLoss = null;
        Tensor undesirableLoss = null;
        for (int b = 0; b < harmful.length; b++) {
            Tensor r = ratio.select(0, b);
            if (harmful[b]) {
                Tensor l = r.neg().add(new Scalar(z)).mul(new Scalar(beta)).sigmoid().neg().add(new Scalar(1.0))
                        .mul(new Scalar(lambdaUndesirable / undesirableShare));
                undesirableLoss = StepForward.add(undesirableLoss, l);
            } else {
                Tensor l = r.sub(new Scalar(z)).mul(new Scalar(beta)).sigmoid().neg().add(new Scalar(1.0))
                        .mul(new Scalar(lambdaDesirable / desirableShare));
                desirableLoss = StepForward.add(desirableLoss, l);
            }
        }
        double d = StepForward.value(desirableLoss);
        double u = StepForward.value(undesirableLoss);
        StepForward.backward(StepForward.add(desirableLoss, undesirableLoss));
        return new StepLoss(d + u, d, u, f.rows(harmful, false).tokens(), f.rows(harmful, true).tokens(),
                desirable, undesirable);
    }
}
