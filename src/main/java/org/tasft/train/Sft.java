package org.tasft.train;

import org.bytedeco.pytorch.Tensor;
import org.tasft.data.Batch;
import org.tasft.model.CausalLm;

/**
 * Plain supervised fine-tuning ("sft"): {@code L = L_SFT}, the mean over SAFE sequences' response tokens of
 * {@code -log p(y_t)}; harmful sequences are ignored entirely (they are still in the forward pass, which does not mix
 * sequences, but take no loss). With STL data (harmful prompts paired with safe refusals, marked safe) this is the STL
 * baseline.
 */
public final class Sft implements Objective {
    private final FusedHead fusedHead;

    /** With {@link FusedHead#AUTO}. */
    public Sft() {
        this(FusedHead.AUTO);
    }

    /** @param fusedHead whether the step runs through the fused LM head ({@link FusedHeadStep}) */
    public Sft(FusedHead fusedHead) {
        this.fusedHead = java.util.Objects.requireNonNull(fusedHead, "fusedHead");
    }

    public FusedHead fusedHead() {
        return fusedHead;
    }

    @Override
    public String name() {
        return "sft";
    }

    @Override
    public StepLoss step(CausalLm model, Batch batch, ShardTotals totals) {
        if (fusedHead.use(model)) {
            return FusedHeadStep.sft(model, batch, totals);
        }
        StepForward f = StepForward.run(model, batch);
        StepForward.Rows safe = f.rows(batch.harmful(), false);
        long harmfulTokens = f.rows(batch.harmful(), true).tokens();
        Tensor sft = StepForward.sftLoss(safe, totals.meanOverRanks(safe.tokens())[0]);
        double value = StepForward.value(sft);
        StepForward.backward(sft);
        return new StepLoss(value, value, 0.0, safe.tokens(), harmfulTokens, safe.sequences(), batch.harmfulCount());
    }
}
