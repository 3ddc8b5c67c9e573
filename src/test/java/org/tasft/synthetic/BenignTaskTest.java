package org.tasft.synthetic;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;

import org.junit.jupiter.api.Test;

class BenignTaskTest {
    @Test
    void everyCanonicalAnswerPassesAndAWrongOneFails() {
        SplittableRandom r = new SplittableRandom(3);
        for (BenignFamily f : BenignFamily.values()) {
            for (boolean held : new boolean[] {false, true}) {
                for (int i = 0; i < 200; i++) {
                    BenignTask t = f.generate(r, held);
                    assertTrue(t.isCorrect(t.output()), t.toString());
                    assertFalse(t.isCorrect(wrong(t)), t + " / " + wrong(t));
                    assertFalse(t.isCorrect(""), t.toString());
                    assertFalse(t.isCorrect(null), t.toString());
                }
            }
        }
    }

    private static String wrong(BenignTask t) {
        String a = t.answer();
        return switch (t.family().answerType()) {
            case NUMBER -> "The answer is " + (Long.parseLong(a) + 1) + ".";
            case NUMBERS -> {
                String[] v = a.split(", ");
                v[2] = Long.toString(Long.parseLong(v[2]) + 1);
                yield "The answer is " + String.join(", ", v) + ".";
            }
            case WORDS -> "The answer is " + a + "x.";
        };
    }

    @Test
    void numbersAreExtractedRobustly() {
        BenignTask t = new BenignTask(BenignFamily.ADDITION, "What is 17 plus 25?", "42", false, "");
        assertTrue(t.isCorrect("The answer is 42."));
        assertTrue(t.isCorrect("the ANSWER  is 42"));
        assertTrue(t.isCorrect("17 plus 25 is easy: the answer is 42, I think."));
        assertTrue(t.isCorrect("42"));
        assertFalse(t.isCorrect("The answer is 420."));
        assertFalse(t.isCorrect("The answer is 41. Not 42."));
        assertFalse(t.isCorrect("The answer is forty-two."));
    }

    @Test
    void wordsAndListsAreExtractedRobustly() {
        BenignTask cap = new BenignTask(BenignFamily.CAPITAL, "What is the capital of France?", "Paris", false, "");
        assertTrue(cap.isCorrect("The answer is paris."));
        assertTrue(cap.isCorrect("The answer is \"Paris\"!"));
        assertFalse(cap.isCorrect("The answer is Parisian."));
        assertFalse(cap.isCorrect("The answer is Rome. Paris"));
        BenignTask sort = new BenignTask(BenignFamily.SORT3, "Sort 9, 3, 7.", "3, 7, 9", false, "");
        assertTrue(sort.isCorrect("The answer is 3, 7, 9."));
        assertTrue(sort.isCorrect("The answer is 3 7 9"));
        assertFalse(sort.isCorrect("The answer is 3, 9, 7."));
        assertFalse(sort.isCorrect("The answer is 3, 7."));
    }

    @Test
    void taskFactsAreRight() {
        SplittableRandom r = new SplittableRandom(5);
        for (int i = 0; i < 100; i++) {
            BenignTask rev = BenignFamily.REVERSE_WORD.generate(r, i % 2 == 0);
            String word = BenignFamily.WORDS.stream().filter(w -> rev.instruction().contains(" " + w + " ")
                    || rev.instruction().contains(" " + w + ".") || rev.instruction().contains(" " + w + "?"))
                    .findFirst().orElseThrow(() -> new AssertionError(rev.toString()));
            assertTrue(new StringBuilder(word).reverse().toString().equals(rev.answer()), rev.toString());
            BenignTask add = BenignFamily.ADDITION.generate(r, i % 2 == 0);
            int sum = 0;
            for (String n : add.instruction().replaceAll("[^0-9 ]", " ").trim().split(" +")) {
                int v = Integer.parseInt(n);
                assertTrue(v >= 0 && v <= BenignFamily.DIGIT_MAX, add.toString());
                sum += v;
            }
            assertEquals(Integer.toString(sum), add.answer(), add.toString());
            for (boolean heldOut : new boolean[] {false, true}) {
                BenignTask cmp = BenignFamily.COMPARE.generate(r, heldOut);
                String[] ns = cmp.instruction().replaceAll("[^0-9 ]", " ").trim().split(" +");
                int a = Integer.parseInt(ns[0]);
                int b = Integer.parseInt(ns[1]);
                assertEquals(heldOut, BenignFamily.isHeldOutCombination(a, b), cmp.toString());
                assertEquals(Integer.toString(Math.max(a, b)), cmp.answer());
            }
        }
    }
}
