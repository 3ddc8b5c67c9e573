package org.tasft.data;

import java.util.Objects;

/**
 * A prompt without a response (what {@code tasft harvest} asks a model): an instruction, an optional input, and where
 * it came from, for error messages.
 *
 * @param instruction the request; never null or blank
 * @param input       extra context; "" when there is none, never null
 * @param source      where it was read, e.g. {@code prompts.jsonl: line 7} or {@code advbench.csv: record 3 (line 4)}
 */
public record Prompt(String instruction, String input, String source) {
    public Prompt {
        Objects.requireNonNull(instruction, "instruction");
        Objects.requireNonNull(input, "input");
        Objects.requireNonNull(source, "source");
    }
}
