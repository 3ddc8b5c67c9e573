package org.tasft.data;

import java.util.Objects;

/**
 * One training example in the Alpaca shape: an instruction, an optional input (context; "" when absent) and the
 * output the model is trained on (a safe response) or pushed away from (a harmful response).
 *
 * @param instruction the task or question; never null
 * @param input       extra context for the instruction; "" when there is none, never null
 * @param output      the response; never null (may be empty: then the response is EOS alone)
 * @param kind        {@link Kind#SAFE} (learned with SFT) or {@link Kind#HARMFUL} (unlearned)
 */
public record Example(String instruction, String input, String output, Kind kind) {
    /** Whether an example is learned (safe) or pushed away (harmful). */
    public enum Kind {
        SAFE, HARMFUL
    }

    public Example {
        Objects.requireNonNull(instruction, "instruction");
        Objects.requireNonNull(input, "input");
        Objects.requireNonNull(output, "output");
        Objects.requireNonNull(kind, "kind");
    }

    public static Example safe(String instruction, String input, String output) {
        return new Example(instruction, input, output, Kind.SAFE);
    }

    public static Example harmful(String instruction, String input, String output) {
        return new Example(instruction, input, output, Kind.HARMFUL);
    }

    public boolean isHarmful() {
        return kind == Kind.HARMFUL;
    }
}
