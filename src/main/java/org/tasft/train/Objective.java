package org.tasft.train;

import org.tasft.data.Batch;
import org.tasft.model.CausalLm;

/**
 * A training objective: one step's loss and gradients.
 *
 * <p>{@link #step} runs the model forward on the batch, computes the loss terms, runs ONE backward pass (gradients
 * ACCUMULATE into the parameters' {@code grad()}: zeroing them is the optimizer loop's job) and returns the values
 * as doubles. Causal shift: logits at position t predict {@code labels[t + 1]}; labels equal to
 * {@link Batch#IGNORE_INDEX} (prompt, padding) carry no loss.
 *
 * <p>Implementations: {@link TaSft} (the product, "emd"), and the baselines {@link Sft} ("sft"), {@link Nlcl} ("nlcl"),
 * {@link GradientAscent} ("ga"), {@link Kto} ("kto"); {@link Method#objective} builds them. STL (safety-tuned Llamas: harmful
 * prompts paired with safe refusals) is a data recipe, not an objective: its batches mark every sequence safe and are
 * trained with {@link Sft}.
 */
public sealed interface Objective permits TaSft, Sft, Nlcl, GradientAscent, Kto {
    /** Its name in logs: the id of the {@link Method} it trains. */
    String name();

    /** Forward, loss, one backward (accumulating into the parameters' gradients); the values. */
    default StepLoss step(CausalLm model, Batch batch) {
        StepLoss loss = step(model, batch, ShardTotals.SINGLE_PROCESS);
        model.backwardCheckpointedLayers(); // with gradient checkpointing: the layers' part of the backward
        return loss;
    }

    /**
     * As {@link #step(CausalLm, Batch)} on this rank's part of a batch split over data-parallel ranks: the losses are
     * normalised by the whole batch's counts ({@link ShardTotals}), so that the ranks' averaged gradients and values
     * equal one process's on the whole batch. Calls {@code totals} exactly once.
     */
    StepLoss step(CausalLm model, Batch batch, ShardTotals totals);
}
