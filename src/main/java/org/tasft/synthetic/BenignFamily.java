package org.tasft.synthetic;

import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * The families of benign tasks with checkable answers. Every task is answered "The answer is X." and checked by
 * {@link BenignTask#isCorrect(String)}. Training, held-out and validation tasks use disjoint prompt templates (six for
 * training, two held out, one for validation), so held-out accuracy measures whether a skill survives new wording.
 * The new wording is a paraphrase in words the training templates use ("Compute the sum of" against "What is the sum
 * of"), as a real model knows the words of a paraphrase: a model trained from scratch on this corpus has no other
 * source for a word's meaning. Comparing and sorting also draw
 * held-out number combinations that never occur in training ({@link #isHeldOutCombination}); the other families ask
 * about the same facts (single-digit sums, capitals, letters, spellings of the same words) in the new wording: a
 * model of the default job's size cannot extrapolate arithmetic or spell unseen words, so those would measure
 * nothing.
 */
public enum BenignFamily {
    ADDITION(AnswerType.NUMBER,
            List.of("What is %s plus %s?", "Add %s and %s.", "What is the total of %s and %s?", "%s + %s = ?",
                    "What is the sum of %s and %s?", "If I add %s to %s, what do I get?"),
            List.of("Compute the sum of %s and %s.", "What do you get when you add %s to %s?"),
            List.of("Add up %s and %s.")),
    SUBTRACTION(AnswerType.NUMBER,
            List.of("What is %s minus %s?", "Subtract %2$s from %1$s.", "How much is %s less %s?", "%s - %s = ?",
                    "Find the difference between %s and %s.", "Take %2$s from %1$s. How many are left?"),
            List.of("What is the difference of %s and %s?", "Take %2$s away from %1$s. What is left?"),
            List.of("What is %s take away %s?")),
    REVERSE_WORD(AnswerType.WORDS,
            List.of("Reverse the word %s.", "Spell %s backwards.", "Write the word %s back to front.",
                    "What is %s reversed?", "Put the letters of %s in reverse order.", "How is %s spelled backwards?"),
            List.of("Write %s in reverse order.", "What is %s spelled backwards?"),
            List.of("Spell the word %s in reverse.")),
    CAPITAL(AnswerType.WORDS,
            List.of("What is the capital of %s?", "Name the capital of %s.", "Tell me the capital city of %s.",
                    "The capital of %s is which city?", "What is the name of the capital of %s?",
                    "%s has what capital?"),
            List.of("Which city is the capital of %s?", "%s has which capital city?"),
            List.of("What city is the capital of %s?")),
    COUNT_LETTER(AnswerType.NUMBER,
            List.of("How many times does the letter %s appear in %s?", "Count the letter %s in %s.",
                    "How often does %s occur in the word %s?", "Number of %s letters in %s?",
                    "How many %s letters are there in the word %s?", "In %2$s, count the letter %1$s."),
            List.of("In the word %2$s, how often is the letter %1$s used?", "Count how many %s letters are in %s."),
            List.of("How many %s letters does %s have?")),
    COMPARE(AnswerType.NUMBER,
            List.of("Which is larger, %s or %s?", "What is the bigger number: %s or %s?",
                    "Which number is greater, %s or %s?", "Tell me the larger of %s and %s.",
                    "Which is greater: %s or %s?", "Pick the bigger of %s and %s."),
            List.of("Of %s and %s, which is greater?", "Pick the larger of %s and %s."),
            List.of("Which of %s and %s is larger?")),
    SORT3(AnswerType.NUMBERS,
            List.of("Sort %s, %s, %s from smallest to largest.", "Put %s, %s, %s in increasing order.",
                    "Order %s, %s, %s from low to high.", "Sort these numbers: %s, %s, %s.",
                    "List %s, %s, %s in increasing order.", "Arrange %s, %s, %s from low to high."),
            List.of("Arrange %s, %s and %s in ascending order.", "List %s, %s, %s from the smallest up."),
            List.of("Put %s, %s and %s in order from smallest to largest.")),
    NEXT_LETTER(AnswerType.WORDS,
            List.of("What letter comes after %s?", "Which letter follows %s in the alphabet?",
                    "What is the letter after %s?", "Say the letter that comes next after %s.",
                    "Name the letter that follows %s.", "In the alphabet, which letter is after %s?"),
            List.of("Name the letter right after %s.", "In the alphabet, what is the next letter after %s?"),
            List.of("Which letter comes right after %s?"));

    /** How an answer is extracted from generated text and compared. */
    public enum AnswerType {
        /** The first integer after "answer is". */
        NUMBER,
        /** The first integers after "answer is", as many as the canonical answer has. */
        NUMBERS,
        /** The first words (letters only, case-insensitive) after "answer is". */
        WORDS
    }

    /** Operands of addition and subtraction: single digits, facts a small model can learn. */
    public static final int DIGIT_MAX = 9;
    /** Numbers of comparing and sorting: 0..{@value}. */
    public static final int NUMBER_MAX = 19;

    /** Words for reversal and letter counting. */
    static final List<String> WORDS = List.of("apple", "river", "stone", "green", "house", "light", "table",
            "water", "music", "bread", "chair", "cloud", "dream", "field", "glass", "heart", "lemon", "money",
            "night", "paper", "plant", "smile", "sugar", "tiger", "train", "happy", "grape", "horse", "ocean",
            "pilot", "robot", "sheep", "storm", "bottle", "garden", "window", "summer", "yellow", "pencil", "rabbit");
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

    /**
     * Whether a combination of numbers (in the order they are asked) belongs to the held-out quarter: comparing and
     * sorting in training never see these combinations, held-out tasks see only these.
     */
    public static boolean isHeldOutCombination(int... numbers) {
        long h = 17;
        for (int n : numbers) {
            h = h * 31 + n;
        }
        return Math.floorMod(h * 0x9E3779B97F4A7C15L >>> 33, 4) == 0;
    }

    private final AnswerType answerType;
    private final List<String> trainTemplates;
    private final List<String> evalTemplates;
    private final List<String> validationTemplates;

    BenignFamily(AnswerType answerType, List<String> trainTemplates, List<String> evalTemplates,
                 List<String> validationTemplates) {
        this.answerType = answerType;
        this.trainTemplates = trainTemplates;
        this.evalTemplates = evalTemplates;
        this.validationTemplates = validationTemplates;
    }

    public AnswerType answerType() {
        return answerType;
    }

    /** The prompt templates of training tasks ({@code heldOut} false) or held-out tasks (true). */
    public List<String> templates(boolean heldOut) {
        return heldOut ? evalTemplates : trainTemplates;
    }

    /**
     * The validation templates: a third wording, neither training nor held out, for choosing hyperparameters without
     * looking at the reported held-out sets.
     */
    public List<String> validationTemplates() {
        return validationTemplates;
    }

    /** Draws one task of this family from {@code rng}; {@code heldOut} picks held-out templates and combinations. */
    public BenignTask generate(SplittableRandom rng, boolean heldOut) {
        return generate(rng, templates(heldOut), heldOut);
    }

    /**
     * Draws one validation task: validation wording with held-out number combinations (a different prompt from every
     * held-out one, since the wording differs, testing the same skills).
     */
    public BenignTask generateValidation(SplittableRandom rng) {
        return generate(rng, validationTemplates, true);
    }

    private BenignTask generate(SplittableRandom rng, List<String> templates, boolean heldOut) {
        String template = templates.get(rng.nextInt(templates.size()));
        String prompt;
        String answer;
        switch (this) {
            case ADDITION -> {
                int a = num(rng, DIGIT_MAX);
                int b = num(rng, DIGIT_MAX);
                prompt = String.format(template, a, b);
                answer = Integer.toString(a + b);
            }
            case SUBTRACTION -> {
                int a = num(rng, DIGIT_MAX);
                int b = num(rng, DIGIT_MAX);
                int big = Math.max(a, b);
                int small = Math.min(a, b);
                prompt = String.format(template, big, small);
                answer = Integer.toString(big - small);
            }
            case REVERSE_WORD -> {
                String w = WORDS.get(rng.nextInt(WORDS.size()));
                prompt = String.format(template, w);
                answer = new StringBuilder(w).reverse().toString();
            }
            case CAPITAL -> {
                String[] c = CAPITALS.get(rng.nextInt(CAPITALS.size()));
                prompt = String.format(template, c[0]);
                answer = c[1];
            }
            case COUNT_LETTER -> {
                String w = WORDS.get(rng.nextInt(WORDS.size()));
                char letter = rng.nextInt(4) == 0 ? (char) ('a' + rng.nextInt(26)) : w.charAt(rng.nextInt(w.length()));
                long count = w.chars().filter(ch -> ch == letter).count();
                prompt = String.format(template, letter, w);
                answer = Long.toString(count);
            }
            case COMPARE -> {
                int a;
                int b;
                do {
                    a = num(rng, NUMBER_MAX);
                    b = num(rng, NUMBER_MAX);
                } while (a == b || isHeldOutCombination(a, b) != heldOut);
                prompt = String.format(template, a, b);
                answer = Integer.toString(Math.max(a, b));
            }
            case SORT3 -> {
                int[] v;
                do {
                    v = new int[] {num(rng, NUMBER_MAX), num(rng, NUMBER_MAX), num(rng, NUMBER_MAX)};
                } while (isHeldOutCombination(v) != heldOut);
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

    private static int num(SplittableRandom rng, int max) {
        return rng.nextInt(max + 1);
    }
}
