package org.tasft.synthetic;

import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * The families of benign tasks with checkable answers. Every task is answered "The answer is X." and checked by
 * {@link BenignTask#isCorrect(String)}. Training and held-out tasks use disjoint prompt templates; the numeric
 * families also draw their numbers from disjoint ranges ({@link #TRAIN_MIN}..{@link #TRAIN_MAX} for training,
 * {@link #EVAL_MIN}..{@link #EVAL_MAX} held out), the word families from disjoint word lists. Capitals and next
 * letters are facts: held-out tasks ask about the same countries and letters in new wording.
 */
public enum BenignFamily {
    ADDITION(AnswerType.NUMBER,
            List.of("What is %s plus %s?", "Add %s and %s."),
            List.of("Compute the sum of %s and %s.", "What do you get when you add %s to %s?")),
    SUBTRACTION(AnswerType.NUMBER,
            List.of("What is %s minus %s?", "Subtract %2$s from %1$s."),
            List.of("What is the difference of %s and %s?", "Take %2$s away from %1$s. What is left?")),
    REVERSE_WORD(AnswerType.WORDS,
            List.of("Reverse the word %s.", "Spell %s backwards."),
            List.of("Write %s in reverse order.", "What is %s spelled backwards?")),
    CAPITAL(AnswerType.WORDS,
            List.of("What is the capital of %s?", "Name the capital of %s."),
            List.of("Which city is the capital of %s?", "%s has which capital city?")),
    COUNT_LETTER(AnswerType.NUMBER,
            List.of("How many times does the letter %s appear in %s?", "Count the letter %s in %s."),
            List.of("In the word %2$s, how often is the letter %1$s used?", "Count how many %s letters are in %s.")),
    COMPARE(AnswerType.NUMBER,
            List.of("Which is larger, %s or %s?", "What is the bigger number: %s or %s?"),
            List.of("Of %s and %s, which is greater?", "Pick the larger of %s and %s.")),
    SORT3(AnswerType.NUMBERS,
            List.of("Sort %s, %s, %s from smallest to largest.", "Put %s, %s, %s in increasing order."),
            List.of("Arrange %s, %s and %s in ascending order.", "List %s, %s, %s from low to high.")),
    NEXT_LETTER(AnswerType.WORDS,
            List.of("What letter comes after %s?", "Which letter follows %s in the alphabet?"),
            List.of("Name the letter right after %s.", "In the alphabet, what is the next letter after %s?"));

    /** How an answer is extracted from generated text and compared. */
    public enum AnswerType {
        /** The first integer after "answer is". */
        NUMBER,
        /** The first integers after "answer is", as many as the canonical answer has. */
        NUMBERS,
        /** The first words (letters only, case-insensitive) after "answer is". */
        WORDS
    }

    public static final int TRAIN_MIN = 0;
    public static final int TRAIN_MAX = 49;
    public static final int EVAL_MIN = 50;
    public static final int EVAL_MAX = 99;

    /** Words for reversal and letter counting in training. */
    static final List<String> TRAIN_WORDS = List.of("apple", "river", "stone", "green", "house", "light", "table",
            "water", "music", "bread", "chair", "cloud", "dream", "field", "glass", "heart", "lemon", "money",
            "night", "paper", "plant", "smile", "sugar", "tiger", "train", "happy", "grape", "horse", "ocean",
            "pilot", "robot", "sheep", "storm", "bottle", "garden", "window", "summer", "yellow", "pencil", "rabbit");
    /** Words for reversal and letter counting in held-out tasks, none in {@link #TRAIN_WORDS}. */
    static final List<String> EVAL_WORDS = List.of("candle", "forest", "planet", "silver", "winter", "castle",
            "orange", "basket", "rocket", "dinner", "flower", "guitar", "island", "jacket", "market");
    /** Countries with one-word capitals. */
    static final List<String[]> CAPITALS = List.of(
            new String[] {"France", "Paris"}, new String[] {"Germany", "Berlin"}, new String[] {"Italy", "Rome"},
            new String[] {"Spain", "Madrid"}, new String[] {"Japan", "Tokyo"}, new String[] {"Egypt", "Cairo"},
            new String[] {"Kenya", "Nairobi"}, new String[] {"Peru", "Lima"}, new String[] {"Canada", "Ottawa"},
            new String[] {"Russia", "Moscow"}, new String[] {"China", "Beijing"}, new String[] {"Greece", "Athens"},
            new String[] {"Norway", "Oslo"}, new String[] {"Sweden", "Stockholm"}, new String[] {"Poland", "Warsaw"},
            new String[] {"Austria", "Vienna"}, new String[] {"Portugal", "Lisbon"}, new String[] {"Ireland", "Dublin"},
            new String[] {"Chile", "Santiago"}, new String[] {"Cuba", "Havana"}, new String[] {"Thailand", "Bangkok"},
            new String[] {"Turkey", "Ankara"}, new String[] {"Iran", "Tehran"}, new String[] {"Finland", "Helsinki"});

    private final AnswerType answerType;
    private final List<String> trainTemplates;
    private final List<String> evalTemplates;

    BenignFamily(AnswerType answerType, List<String> trainTemplates, List<String> evalTemplates) {
        this.answerType = answerType;
        this.trainTemplates = trainTemplates;
        this.evalTemplates = evalTemplates;
    }

    public AnswerType answerType() {
        return answerType;
    }

    /** The prompt templates of training tasks ({@code heldOut} false) or held-out tasks (true). */
    public List<String> templates(boolean heldOut) {
        return heldOut ? evalTemplates : trainTemplates;
    }

    /** Draws one task of this family from {@code rng}; {@code heldOut} picks held-out templates, ranges and words. */
    public BenignTask generate(SplittableRandom rng, boolean heldOut) {
        List<String> templates = templates(heldOut);
        int t = rng.nextInt(templates.size());
        String template = templates.get(t);
        int lo = heldOut ? EVAL_MIN : TRAIN_MIN;
        int hi = heldOut ? EVAL_MAX : TRAIN_MAX;
        List<String> words = heldOut ? EVAL_WORDS : TRAIN_WORDS;
        String prompt;
        String answer;
        switch (this) {
            case ADDITION -> {
                int a = num(rng, lo, hi);
                int b = num(rng, lo, hi);
                prompt = String.format(template, a, b);
                answer = Integer.toString(a + b);
            }
            case SUBTRACTION -> {
                int a = num(rng, lo, hi);
                int b = num(rng, lo, hi);
                int big = Math.max(a, b);
                int small = Math.min(a, b);
                prompt = String.format(template, big, small);
                answer = Integer.toString(big - small);
            }
            case REVERSE_WORD -> {
                String w = words.get(rng.nextInt(words.size()));
                prompt = String.format(template, w);
                answer = new StringBuilder(w).reverse().toString();
            }
            case CAPITAL -> {
                String[] c = CAPITALS.get(rng.nextInt(CAPITALS.size()));
                prompt = String.format(template, c[0]);
                answer = c[1];
            }
            case COUNT_LETTER -> {
                String w = words.get(rng.nextInt(words.size()));
                char letter = rng.nextInt(4) == 0 ? (char) ('a' + rng.nextInt(26)) : w.charAt(rng.nextInt(w.length()));
                long count = w.chars().filter(ch -> ch == letter).count();
                prompt = String.format(template, letter, w);
                answer = Long.toString(count);
            }
            case COMPARE -> {
                int a = num(rng, lo, hi);
                int b;
                do {
                    b = num(rng, lo, hi);
                } while (b == a);
                prompt = String.format(template, a, b);
                answer = Integer.toString(Math.max(a, b));
            }
            case SORT3 -> {
                int[] v = {num(rng, lo, hi), num(rng, lo, hi), num(rng, lo, hi)};
                prompt = String.format(template, v[0], v[1], v[2]);
                int[] s = v.clone();
                Arrays.sort(s);
                answer = s[0] + ", " + s[1] + ", " + s[2];
            }
            case NEXT_LETTER -> {
                char l = (char) ('a' + rng.nextInt(25));
                prompt = String.format(template, l);
                answer = Character.toString((char) (l + 1));
            }
            default -> throw new AssertionError(this);
        }
        return new BenignTask(this, prompt, answer, heldOut, template);
    }

    private static int num(SplittableRandom rng, int lo, int hi) {
        return rng.nextInt(lo, hi + 1);
    }
}
