package org.tasft.eval;

import java.util.Locale;

/**
 * One prompt of an evaluation set.
 *
 * @param instruction the request (never blank)
 * @param input       optional context ("" for none), formatted by the prompt template's input form
 * @param label       "safe", "unsafe" or another label of the file, lower case; "" when the file gives none
 * @param line        where the prompt starts in its file (1-based; for a JSON file the array index + 1)
 */
public record EvalPrompt(String instruction, String input, String label, long line) {
    public EvalPrompt {
        if (instruction == null || instruction.isBlank()) {
            throw new IllegalArgumentException("a prompt needs a non-empty instruction");
        }
        input = input == null ? "" : input;
        label = label == null ? "" : label.strip().toLowerCase(Locale.ROOT);
    }

    public static EvalPrompt of(String instruction) {
        return new EvalPrompt(instruction, "", "", 0);
    }

    /** Labelled safe (XSTest's safe half): an over-refusal probe, not a harmful request. */
    public boolean isSafe() {
        return label.equals("safe");
    }
}
