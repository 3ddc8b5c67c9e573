package org.tasft.train;

/**
 * How an objective turns its batch's counts into normalizers when the batch is split over data-parallel ranks.
 *
 * <p>Each loss is a sum over this rank's part of the batch divided by a count (safe response tokens, harmful
 * sequences, ...). For W ranks to compute what one process computes on the whole batch, each rank divides its partial
 * sum by the WHOLE batch's count divided by W: the ranks' gradients are then averaged (all-reduce / W), and the
 * average of {@code S_r / (N / W)} is {@code sum_r S_r / N}, the whole batch's mean. {@link #meanOverRanks} gives
 * that share: one all-reduce of a few doubles per micro-batch.
 *
 * <p>Every rank must call it the same number of times per micro-batch (it is a collective), whatever its own part
 * holds: objectives call it exactly once per {@link Objective#step}, with all the counts they need.
 */
@FunctionalInterface
public interface ShardTotals {
    /** One process: the counts are the batch's own. */
    ShardTotals SINGLE_PROCESS = local -> local.clone();

    /** For each value, its sum over the ranks' parts of this micro-batch divided by the number of ranks. */
    double[] meanOverRanks(double... local);
}
