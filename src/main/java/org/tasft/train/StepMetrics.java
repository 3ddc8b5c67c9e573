package org.tasft.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

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

    /**
     * The step as JSON: a line of {@code metrics.jsonl} and an entry of {@code trainer_state.json}'s "metrics" (the one
     * format of both). A non-finite loss, part or norm (a skipped step's) is null: JSON has no NaN.
     */
    public ObjectNode toJson() {
        ObjectNode o = JsonNodeFactory.instance.objectNode();
        o.put("step", step);
        o.put("lr", lr);
        putNumber(o, "loss", loss);
        putNumber(o, "sft", sft);
        putNumber(o, "term", term);
        putNumber(o, "grad_norm", gradNorm);
        o.put("tokens", tokens);
        o.put("tokens_per_s", tokensPerS);
        o.put("elapsed", elapsed);
        if (skipped) {
            o.put("skipped", true);
        }
        return o;
    }

    /** The step {@link #toJson} wrote (null numbers read back as NaN). */
    public static StepMetrics fromJson(JsonNode o) {
        return new StepMetrics(o.get("step").asLong(), o.get("lr").asDouble(), number(o, "loss"), number(o, "sft"),
                number(o, "term"), number(o, "grad_norm"), o.get("tokens").asLong(), o.get("tokens_per_s").asDouble(),
                o.get("elapsed").asDouble(), o.path("skipped").asBoolean(false));
    }

    private static void putNumber(ObjectNode o, String key, double v) {
        if (Double.isFinite(v)) {
            o.put(key, v);
        } else {
            o.putNull(key);
        }
    }

    private static double number(JsonNode o, String key) {
        JsonNode n = o.get(key);
        return n == null || n.isNull() ? Double.NaN : n.asDouble();
    }
}
