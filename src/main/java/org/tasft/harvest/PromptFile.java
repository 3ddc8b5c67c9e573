package org.tasft.harvest;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

import org.tasft.eval.EvalPrompt;
import org.tasft.eval.PromptSet;
import org.tasft.eval.PromptSets;

/**
 * Reads the prompts to harvest answers to. Structured files go through the evaluation stage's reader
 * ({@link PromptSets}), so harvest and eval accept the same prompt sets:
 * <ul>
 *   <li>{@code .json}: an array of objects with {@code instruction} (or {@code prompt}) and an optional
 *       {@code input} (Alpaca files; an {@code output} is ignored, so a harmful training file can be re-harvested),
 *       or Safety-Tuned-Llamas' {@code {"instructions": [...], "inputs": [...]}};</li>
 *   <li>{@code .jsonl}/{@code .ndjson}: one such object per line;</li>
 *   <li>{@code .csv}: a header and a {@code prompt}, {@code instruction}, {@code goal} (AdvBench's
 *       harmful_behaviors.csv), {@code behavior} or {@code question} column, optional {@code input};</li>
 * </ul>
 * and any other file is plain text: one prompt per line, blank lines skipped, surrounding white space stripped
 * (UTF-8; a byte order mark is skipped). Errors are {@link IllegalArgumentException}s naming the file and line.
 */
public final class PromptFile {
    private PromptFile() {
    }

    /** Whether a file is read by {@link PromptSets} (by its extension) rather than as lines of text. */
    static boolean structured(Path file) {
        String n = file.getFileName().toString().toLowerCase(Locale.ROOT);
        return n.endsWith(".json") || n.endsWith(".jsonl") || n.endsWith(".ndjson") || n.endsWith(".csv");
    }

    public static PromptSet read(Path file) {
        if (!Files.isRegularFile(file)) {
            throw new IllegalArgumentException(file + ": no such file");
        }
        if (structured(file)) {
            return PromptSets.read(file);
        }
        List<EvalPrompt> prompts = new ArrayList<>();
        String[] lines = readText(file).split("\r?\n", -1);
        for (int i = 0; i < lines.length; i++) {
            String s = lines[i].strip();
            if (!s.isEmpty()) {
                prompts.add(new EvalPrompt(s, "", "", i + 1));
            }
        }
        if (prompts.isEmpty()) {
            throw new IllegalArgumentException(file + ": no prompts (expected one prompt per line)");
        }
        String name = file.getFileName().toString();
        return new PromptSet(name.contains(".") ? name.substring(0, name.lastIndexOf('.')) : name, file, prompts);
    }

    private static String readText(Path file) {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot read " + file + ": " + e, e);
        }
        try {
            String text = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(bytes)).toString();
            return text.startsWith("\uFEFF") ? text.substring(1) : text;
        } catch (CharacterCodingException e) {
            throw new IllegalArgumentException(file + ": not UTF-8 text", e);
        }
    }
}
