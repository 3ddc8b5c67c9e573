package org.tasft.train;

/**
 * One optimizer step's line of {@code metrics.jsonl}.
 *
 * @param step       optimizer steps done (1 for the first)
 * @param lr         the learning rate the step used
 * @param loss       the loss, averaged over the step's micro-batches
 * @param sft        its safe part (L_SFT; KTO's desirable part)
 * @param term       its harmful part, weight included
 * @param gradNorm   the global gradient norm before clipping
 * @param tokens     real (unpadded) input tokens of the step's micro-batches
 * @param tokensPerS tokens / the step's wall time
 * @param elapsed    seconds since the run started (across resumes)
 * @param skipped    the step's loss or gradient norm was not finite and the weights were left as they were (only
 *                   with {@code skipNonFinite}; otherwise such a step stops the run)
 */
public record StepMetrics(long step, double lr, double loss, double sft, double term, double gradNorm, long tokens,
        double tokensPerS, double elapsed, boolean skipped) {
    /** A step that updated the weights. */
    public StepMetrics(long step, double lr, double loss, double sft, double term, double gradNorm, long tokens,
            double tokensPerS, double elapsed) {
        this(step, lr, loss, sft, term, gradNorm, tokens, tokensPerS, elapsed, false);
    }
}
