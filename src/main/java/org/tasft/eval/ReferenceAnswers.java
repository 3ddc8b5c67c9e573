package org.tasft.eval;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Reference answers for a pairwise win rate (AlpacaEval's reference outputs: a JSON array of
 * {@code {instruction, output, ...}}, or JSONL / CSV with prompt or instruction (+ input) and output, response or
 * reference).
 */
public final class ReferenceAnswers {
    /** A prompt and the reference answer the model's answer is compared with. */
    public record Reference(EvalPrompt prompt, String answer) {
    }

    private ReferenceAnswers() {
    }

    public static List<Reference> read(Path file, PromptSetFormat format) {
        List<Reference> out = new ArrayList<>();
        for (PromptFiles.Row row : PromptFiles.read(file, format)) {
            String instruction = PromptFiles.text(file, row, "instruction", row.first(PromptSets.PROMPT_FIELDS));
            String answer = PromptFiles.text(file, row, "output", row.first("output", "response", "reference"));
            if (instruction == null || instruction.isBlank()) {
                throw PromptFiles.error(file, row.line(), "no prompt (expected instruction or prompt)");
            }
            if (answer == null) {
                throw PromptFiles.error(file, row.line(), "no reference answer (expected output, response or "
                        + "reference)");
            }
            String input = PromptFiles.text(file, row, "input", row.fields().get("input"));
            out.add(new Reference(new EvalPrompt(instruction, input, "", row.line()), answer));
        }
        if (out.isEmpty()) {
            throw new IllegalArgumentException(file + ": no reference answers");
        }
        return out;
    }
}
