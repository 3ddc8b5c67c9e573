package org.tasft.train;

/**
 * The values of one training step's loss, for logging; the gradients are already in the parameters.
 *
 * @param total            the loss that was back-propagated ({@code sft + term})
 * @param sft              the part taken on SAFE sequences: L_SFT (mean cross entropy over safe response tokens) for
 *                         the cross-entropy methods; KTO's desirable part for {@link Kto}. 0 when the batch has no safe
 *                         response token
 * @param term             the part taken on HARMFUL sequences, weight included: {@code lambda * L_EMD} for
 *                         {@link TaSft}, {@code lambda * L_NLCL}, {@code lambda * L_GA}, KTO's undesirable part; 0 for
 *                         {@link Sft} and when the batch has no harmful response token
 * @param safeTokens       response tokens (targets other than the ignore index) of safe sequences
 * @param harmfulTokens    response tokens of harmful sequences
 * @param safeSequences    safe sequences in the batch
 * @param harmfulSequences harmful sequences in the batch
 */
public record StepLoss(double total, double sft, double term, long safeTokens, long harmfulTokens,
        int safeSequences, int harmfulSequences) {
}
