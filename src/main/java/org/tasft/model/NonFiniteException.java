package org.tasft.model;

import java.util.Map;

import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * A NaN or infinite value where a number was expected (logits, a loss, a gradient): an error, never a result. A model
 * whose logits are NaN is broken, not safe, so every consumer of logits stops with this rather than turning them into
 * empty answers or NaN scores. The message says where it appeared and, where it can, which parameter holds it.
 */
public final class NonFiniteException extends RuntimeException {
    public NonFiniteException(String message) {
        super(message);
    }

    /** Whether every element of {@code t} is finite (one reduction; a host sync on a GPU). */
    public static boolean allFinite(Tensor t) {
        try (NoGradGuard g = new NoGradGuard()) {
            return t.numel() == 0 || torch.isfinite(t).all().item_bool();
        }
    }

    /** Whether every value is finite. */
    public static boolean allFinite(float[] values) {
        for (float v : values) {
            if (!Float.isFinite(v)) {
                return false;
            }
        }
        return true;
    }

    /**
     * The first tensor of {@code tensors} holding a non-finite value, as "name (k of n values NaN/Inf)", or null when
     * all are finite.
     */
    public static String firstNonFinite(Map<String, Tensor> tensors) {
        try (NoGradGuard g = new NoGradGuard()) {
            for (Map.Entry<String, Tensor> e : tensors.entrySet()) {
                Tensor t = e.getValue();
                if (t == null || !t.defined() || allFinite(t)) {
                    continue;
                }
                long bad = t.numel() - torch.isfinite(t).sum().item_long();
                return e.getKey() + " (" + bad + " of " + t.numel() + " values NaN or infinite)";
            }
        }
        return null;
    }

    /**
     * The error for non-finite logits of {@code model} computed at {@code where} ("generation step 3 of the batch at
     * prompt 8", ...): names the first non-finite weight, or says that the weights are finite and the computation
     * overflowed.
     */
    public static NonFiniteException logits(CausalLm model, String where) {
        String param = firstNonFinite(model.stateDict());
        return new NonFiniteException("the model's logits are NaN or infinite at " + where + ": "
                + (param != null ? "its weights are broken: " + param
                        : "every weight is finite, so the forward pass overflowed")
                + "; a broken model is an error, not a safe one");
    }

    /** Throws {@link #logits} unless every logit is finite. */
    public static void checkLogits(float[] logits, CausalLm model, String where) {
        if (!allFinite(logits)) {
            throw logits(model, where);
        }
    }

    /** Throws {@link #logits} unless every logit is finite. */
    public static void checkLogits(Tensor logits, CausalLm model, String where) {
        if (!allFinite(logits)) {
            throw logits(model, where);
        }
    }
}
