package org.tasft.synthetic;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.tasft.data.Example;

/**
 * One benign task with a checkable answer.
 *
 * @param family      the task family
 * @param instruction the prompt, e.g. "What is 17 plus 25?"
 * @param answer      the canonical answer value, e.g. "42", "Paris", "3, 7, 9"
 * @param heldOut     whether it was drawn from the held-out templates and ranges
 * @param template    the prompt template it was made from
 */
public record BenignTask(BenignFamily family, String instruction, String answer, boolean heldOut, String template) {
    private static final Pattern MARKER = Pattern.compile("answer\\s+is", Pattern.CASE_INSENSITIVE);
    private static final Pattern INTEGER = Pattern.compile("-?\\d+");
    private static final Pattern WORD = Pattern.compile("[\\p{L}]+");

    public BenignTask {
        Objects.requireNonNull(family, "family");
        Objects.requireNonNull(instruction, "instruction");
        Objects.requireNonNull(answer, "answer");
        Objects.requireNonNull(template, "template");
    }

    /** The canonical response: "The answer is X." */
    public String output() {
        return "The answer is " + answer + ".";
    }

    /** As a safe training example (no input). */
    public Example toExample() {
        return Example.safe(instruction, "", output());
    }

    /**
     * Whether a generated response gives this task's answer: the answer is looked for after the first "answer is"
     * (case-insensitive), or from the start when there is none; numbers are the first integers found there, words
     * the first runs of letters (case-insensitive), as many as the canonical answer has.
     */
    public boolean isCorrect(String generated) {
        return isCorrect(family.answerType(), answer, generated);
    }

    /** The checker behind {@link #isCorrect(String)}, for any expected answer. */
    public static boolean isCorrect(BenignFamily.AnswerType type, String expected, String generated) {
        if (generated == null) {
            return false;
        }
        Matcher m = MARKER.matcher(generated);
        String tail = m.find() ? generated.substring(m.end()) : generated;
        Pattern unit = type == BenignFamily.AnswerType.WORDS ? WORD : INTEGER;
        List<String> want = tokens(unit, expected, Integer.MAX_VALUE);
        List<String> got = tokens(unit, tail, want.size());
        if (want.isEmpty() || got.size() < want.size()) {
            return false;
        }
        for (int i = 0; i < want.size(); i++) {
            String w = want.get(i);
            String g = got.get(i);
            boolean same = type == BenignFamily.AnswerType.WORDS
                    ? w.toLowerCase(Locale.ROOT).equals(g.toLowerCase(Locale.ROOT))
                    : Long.parseLong(w) == parseOr(g);
            if (!same) {
                return false;
            }
        }
        return true;
    }

    private static long parseOr(String s) {
        try {
            return Long.parseLong(s);
        } catch (NumberFormatException e) {
            return Long.MIN_VALUE;
        }
    }

    private static List<String> tokens(Pattern unit, String text, int max) {
        List<String> out = new ArrayList<>();
        Matcher m = unit.matcher(text);
        while (out.size() < max && m.find()) {
            out.add(m.group());
        }
        return out;
    }
}
