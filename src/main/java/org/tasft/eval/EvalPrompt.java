package org.tasft.eval;

import java.util.List;
import java.util.Locale;

import org.tasft.chat.ChatMessage;

/**
 * One prompt of an evaluation set.
 *
 * @param instruction the request (never blank)
 * @param input       optional context ("" for none), formatted by the prompt template's input form
 * @param label       "safe", "unsafe" or another label of the file, lower case; "" when the file gives none
 * @param line        where the prompt starts in its file (1-based; for a JSON file the array index + 1)
 * @param context     a chat row's messages before its last user turn (system message, earlier turns); empty for
 *                    other rows; only {@code --template chat} renders them
 */
public record EvalPrompt(String instruction, String input, String label, long line, List<ChatMessage> context) {
    public EvalPrompt {
        if (instruction == null || instruction.isBlank()) {
            throw new IllegalArgumentException("a prompt needs a non-empty instruction");
        }
        input = input == null ? "" : input;
        label = label == null ? "" : label.strip().toLowerCase(Locale.ROOT);
        context = List.copyOf(context);
    }

    /** A prompt without chat context. */
    public EvalPrompt(String instruction, String input, String label, long line) {
        this(instruction, input, label, line, List.of());
    }

    public static EvalPrompt of(String instruction) {
        return new EvalPrompt(instruction, "", "", 0);
    }

    /** Labelled safe (XSTest's safe half): an over-refusal probe, not a harmful request. */
    public boolean isSafe() {
        return label.equals("safe");
    }
}
