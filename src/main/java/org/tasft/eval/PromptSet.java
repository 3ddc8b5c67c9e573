package org.tasft.eval;

import java.nio.file.Path;
import java.util.List;

/**
 * A named list of prompts read from one file.
 *
 * @param name    a short name for tables and file names (the file name without its extension)
 * @param file    where it was read from (null for sets made in memory)
 * @param prompts in file order
 */
public record PromptSet(String name, Path file, List<EvalPrompt> prompts) {
    public PromptSet {
        if (name == null || name.isBlank()) {
            throw new IllegalArgumentException("a prompt set needs a name");
        }
        prompts = List.copyOf(prompts);
    }

    public static PromptSet of(String name, List<String> instructions) {
        return new PromptSet(name, null, instructions.stream().map(EvalPrompt::of).toList());
    }

    /** The prompts labelled safe (XSTest's safe half). */
    public PromptSet safeHalf() {
        return new PromptSet(name, file, prompts.stream().filter(EvalPrompt::isSafe).toList());
    }

    /** The prompts not labelled safe: the harmful requests (all of them in an unlabelled set). */
    public PromptSet harmfulHalf() {
        return new PromptSet(name, file, prompts.stream().filter(p -> !p.isSafe()).toList());
    }

    /** Whether any prompt carries a label. */
    public boolean labelled() {
        return prompts.stream().anyMatch(p -> !p.label().isEmpty());
    }

    /** The first {@code n} prompts (all when n <= 0 or n >= size). */
    public PromptSet limit(int n) {
        return n <= 0 || n >= prompts.size() ? this : new PromptSet(name, file, prompts.subList(0, n));
    }

    public int size() {
        return prompts.size();
    }
}
