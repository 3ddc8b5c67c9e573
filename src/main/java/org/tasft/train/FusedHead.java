package org.tasft.train;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

import org.bytedeco.pytorch.Tensor;
import org.tasft.model.CausalLm;

/**
 * Whether sft, stl and emd take their losses through the fused LM head ({@link FusedHeadStep}: the head, the
 * cross-entropy, the EMD term and their gradients from the final hidden states, with no [tokens, vocab] logits)
 * instead of the model's logits ({@code --fused-head}).
 */
public enum FusedHead {
    /** The fused head where it is exact, smaller and not slower: float32 heads on the CPU of a model that exposes its
     *  final hidden states (bench/RESULTS.md); the logits elsewhere (the CUDA head is the plain, slow version). */
    AUTO,
    /** Always the fused head (an error for a model without hidden states). */
    ON,
    /** Always the logits, as before. */
    OFF;

    /** The command-line name: auto, on, off. */
    public String id() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** The value called {@code text} (case ignored). */
    public static FusedHead parse(String text) {
        for (FusedHead f : values()) {
            if (f.id().equalsIgnoreCase(text.strip())) {
                return f;
            }
        }
        throw new IllegalArgumentException("--fused-head: expected one of " + ids() + ", got '" + text + "'");
    }

    public static String ids() {
        return Arrays.stream(values()).map(FusedHead::id).collect(Collectors.joining(", "));
    }

    /** Whether a step on {@code model} uses the fused head. */
    public boolean use(CausalLm model) {
        if (this != AUTO) {
            return this == ON;
        }
        if (!model.exposesHiddenStates()) {
            return false;
        }
        Tensor w = model.lmHeadWeight();
        return use(w.is_cpu(), w.scalar_type().intern() == org.bytedeco.pytorch.global.torch.ScalarType.Float);
    }

    /** Whether a step with its LM head on the CPU ({@code cpu}) in float32 ({@code float32}) uses the fused head. */
    public boolean use(boolean cpu, boolean float32) {
        return switch (this) {
            case ON -> true;
            case OFF -> false;
            case AUTO -> cpu && float32;
        };
    }
}
