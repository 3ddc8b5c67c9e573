package org.tasft.data;

import java.util.List;
import java.util.Objects;

import org.tasft.chat.ChatMessage;

/**
 * One training example in the Alpaca shape: an instruction, an optional input (context; "" when absent) and the
 * output the model is trained on (a safe response) or pushed away from (a harmful response).
 *
 * @param instruction the task or question; never null
 * @param input       extra context for the instruction; "" when there is none, never null
 * @param output      the response; never null (may be empty: then the response is EOS alone)
 * @param kind        {@link Kind#SAFE} (learned with SFT) or {@link Kind#HARMFUL} (unlearned)
 * @param context     a chat row's messages before its last user turn (a system message, earlier turns); empty for
 *                    Alpaca rows. Only a chat template renders them ({@code --template chat}).
 */
public record Example(String instruction, String input, String output, Kind kind, List<ChatMessage> context) {
    /** Whether an example is learned (safe) or pushed away (harmful). */
    public enum Kind {
        SAFE, HARMFUL
    }

    public Example {
        Objects.requireNonNull(instruction, "instruction");
        Objects.requireNonNull(input, "input");
        Objects.requireNonNull(output, "output");
        Objects.requireNonNull(kind, "kind");
        context = List.copyOf(context);
    }

    /** An Alpaca-shaped example (no chat context). */
    public Example(String instruction, String input, String output, Kind kind) {
        this(instruction, input, output, kind, List.of());
    }

    /** The same prompt (instruction, input, context) with another output and kind: STL's refusal pairs. */
    public Example withOutput(String newOutput, Kind newKind) {
        return new Example(instruction, input, newOutput, newKind, context);
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
