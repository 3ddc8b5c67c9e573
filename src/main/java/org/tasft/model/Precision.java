package org.tasft.model;

import java.util.Locale;

import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * The dtype of a model's weights and of its compute ({@code --dtype}). Activations and logits follow the weights;
 * what stays in float32 regardless is named where it happens (softmax statistics inside the kernels, the rotary
 * frequencies, AdamW's master weights and state, LoRA adapters).
 */
public enum Precision {
    FLOAT32("float32", ScalarType.Float, 4),
    BFLOAT16("bfloat16", ScalarType.BFloat16, 2),
    FLOAT16("float16", ScalarType.Half, 2);

    private final String id;
    private final ScalarType scalarType;
    private final int bytes;

    Precision(String id, ScalarType scalarType, int bytes) {
        this.id = id;
        this.scalarType = scalarType;
        this.bytes = bytes;
    }

    /** The command-line name: float32, bfloat16 or float16. */
    public String id() {
        return id;
    }

    public ScalarType scalarType() {
        return scalarType;
    }

    /** Bytes per element. */
    public int bytes() {
        return bytes;
    }

    public boolean isReduced() {
        return this != FLOAT32;
    }

    /** float32 | bfloat16 | float16, or their short forms fp32, bf16, fp16. */
    public static Precision parse(String text) {
        String s = text == null ? "" : text.strip().toLowerCase(Locale.ROOT);
        return switch (s) {
            case "float32", "fp32", "float" -> FLOAT32;
            case "bfloat16", "bf16" -> BFLOAT16;
            case "float16", "fp16", "half" -> FLOAT16;
            default -> throw new IllegalArgumentException("--dtype: unknown dtype '" + text
                    + "' (float32, bfloat16 or float16)");
        };
    }

    @Override
    public String toString() {
        return id;
    }
}
