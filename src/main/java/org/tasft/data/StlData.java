package org.tasft.data;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

import org.tasft.io.InputFiles;

/**
 * The STL baseline's data (Safety-Tuned-Llamas): harmful prompts paired with safe refusals, as SAFE examples that
 * plain SFT learns. Each harmful example keeps its instruction and input; its output becomes a refusal sentence,
 * drawn for example i (in file order) as the i-th draw of one {@link SplittableRandom} seeded with the seed, so the
 * pairing depends only on the seed and the refusal list, not on which examples a run later picks.
 */
public final class StlData {
    /**
     * Varied refusals, so the model learns to refuse rather than to repeat one sentence; each opens the way refusals
     * usually do ("I cannot", "I'm sorry", ...), which marker-based judges look for.
     */
    public static final List<String> BUILT_IN_REFUSALS = List.of(
            "I'm sorry, but I can't help with that.",
            "I cannot help with that request.",
            "I'm unable to assist with this, as it could cause harm.",
            "Sorry, I won't provide instructions for something that could hurt people.",
            "I can't assist with that. If you or someone else is in danger, please contact local emergency services.",
            "I won't do that: the request asks for something harmful.",
            "I'm sorry, I can't do that. Is there something else I can help you with?",
            "I won't help with this because it could be dangerous or illegal.",
            "I cannot support requests that could harm others.",
            "I must decline. Helping with this could put people at risk.",
            "I'm unable to help with that, but I'm happy to help with something safe instead.",
            "No, I can't provide that information. It could be used to cause harm.");

    private static final long PAIRING_SALT = 0x5DEECE66DL;

    private StlData() {
    }

    /**
     * One SAFE example per harmful example: its instruction and input with a refusal as the output.
     *
     * @param harmful   the harmful examples, in file order
     * @param refusals  the refusal sentences to draw from (at least one)
     * @param seed      the run's seed
     */
    public static List<Example> pairWithRefusals(List<Example> harmful, List<String> refusals, long seed) {
        if (refusals.isEmpty()) {
            throw new IllegalArgumentException("STL needs at least one refusal sentence");
        }
        SplittableRandom random = new SplittableRandom(seed ^ PAIRING_SALT);
        List<Example> out = new ArrayList<>(harmful.size());
        for (Example e : harmful) {
            out.add(e.withOutput(refusals.get(random.nextInt(refusals.size())), Example.Kind.SAFE)); // same prompt, chat context too
        }
        return out;
    }

    /**
     * Refusal sentences from a UTF-8 text file, one per line; surrounding white space is stripped and blank lines
     * are skipped. Errors name the file (and the line).
     */
    public static List<String> readRefusals(Path file) {
        String text = InputFiles.readUtf8(file, "--refusals");
        List<String> out = new ArrayList<>();
        for (InputFiles.Line line : InputFiles.nonBlankLines(text)) {
            out.add(line.text().strip());
        }
        if (out.isEmpty()) {
            throw new IllegalArgumentException(file + ": no refusals (expected one refusal sentence per line)");
        }
        return List.copyOf(out);
    }
}
