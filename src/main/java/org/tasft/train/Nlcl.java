package org.tasft.train;

import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.tasft.data.Batch;
import org.tasft.model.CausalLm;

/**
 * Unlikelihood / negative-likelihood contrastive baseline ("nlcl"):
 * {@code L = L_SFT + lambda * mean over harmful response tokens of -log(1 - p(y_t))}.
 *
 * <p>Computed stably from {@code l = log p(y_t)} (log_softmax): {@code l} is clamped to at most {@link #MAX_LOG_P}
 * (so that {@code 1 - p >= ~1e-6} and neither value nor gradient becomes infinite when the model is certain), then
 * {@code log(1 - p) = log1p(-exp(l))} for {@code l < -ln 2} and {@code log(-expm1(l))} otherwise (each accurate on
 * its side). Beyond the clamp the gradient is 0.
 */
public final class Nlcl implements Objective {
    /** The largest log p used: log(1 - 1e-6). */
    public static final double MAX_LOG_P = Math.log1p(-1e-6);

    private final double lambda;

    public Nlcl(double lambda) {
        if (!Double.isFinite(lambda)) {
            throw new IllegalArgumentException("lambda: must be finite, got " + lambda);
        }
        this.lambda = lambda;
    }

    @Override
    public String name() {
        return "nlcl";
    }

    public double lambda() {
        return lambda;
    }

    /** {@code log(1 - exp(logp))} elementwise, stably, with logp clamped to {@link #MAX_LOG_P}. */
    public static Tensor log1mExp(Tensor logp) {
        Tensor l = logp.clamp_max(new Scalar(MAX_LOG_P));
        Tensor far = torch.log1p(torch.exp(l).neg());
        Tensor near = torch.log(torch.expm1(l).neg());
        return torch.where(l.lt(new Scalar(-Math.log(2.0))), far, near);
    }

    @Override
    public StepLoss step(CausalLm model, Batch batch, ShardTotals totals) {
        StepForward f = StepForward.run(model, batch);
        StepForward.Rows safe = f.rows(batch.harmful(), false);
        StepForward.Rows harmful = f.rows(batch.harmful(), true);
        double[] n = totals.meanOverRanks(safe.tokens(), harmful.tokens());
        Tensor sft = StepForward.sftLoss(safe, n[0]);
        Tensor term = null;
        if (!harmful.isEmpty()) {
            Tensor logp = StepForward.tokenLogProbs(harmful);
            Tensor mask = harmful.targets().ne(new Scalar(StepForward.IGNORE));
            // Ignored rows have logp = 0 (clamped, finite) and are zeroed by the mask.
            Tensor perToken = log1mExp(logp).neg().masked_fill(mask.logical_not(), new Scalar(0.0));
            term = perToken.sum().mul(new Scalar(lambda / n[1]));
        }
        return GradientAscent.finish(sft, term, safe, harmful);
    }
}
