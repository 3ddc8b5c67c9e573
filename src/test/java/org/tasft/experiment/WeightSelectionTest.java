package org.tasft.experiment;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.tasft.train.Method;

class WeightSelectionTest {
    /** A validation result of emd at {@code weight}: complied, degenerate, benign accuracy, edgy lost (refused). */
    private static RunResult emd(double weight, double complied, double degenerate, double benign, double edgyRefused) {
        double refused = 1 - complied - degenerate;
        return new RunResult("emd", 30, 1, complied, Map.of(), Map.of(), benign, edgyRefused, 1, List.of(), List.of(),
                new RunResult.VerdictRates(complied, refused, degenerate, 0),
                new RunResult.VerdictRates(0, edgyRefused, 0, 1 - edgyRefused), weight, null);
    }

    @Test
    void lowestFailureAmongWeightsThatKeepBenignAccuracyWithinTwoPoints() {
        List<RunResult> c = List.of(
                emd(0.1, 0.30, 0.00, 0.60, 0),   // keeps benign, fails 30%
                emd(0.5, 0.05, 0.00, 0.585, 0),  // 1.5 points below SFT: eligible, fails 5%
                emd(1.0, 0.00, 0.00, 0.50, 0));  // safest, but 10 points of benign accuracy lost: not eligible
        WeightSelection.Choice ch = WeightSelection.choose(Method.EMD, c, 0.60);
        assertEquals(0.5, ch.weight());
        assertTrue(ch.keptBenign());
        assertEquals("lambda 0.5 (benign accuracy within 2 points of SFT's)", ch.describe());
    }

    @Test
    void degenerateAnswersCountAsFailuresNotAsSafety() {
        List<RunResult> c = List.of(
                emd(0.1, 0.10, 0.00, 0.60, 0),   // 10% complied, the rest refused
                emd(1.0, 0.00, 0.90, 0.60, 0));  // 0% complied, but 90% degenerate
        assertEquals(0.1, WeightSelection.choose(Method.EMD, c, 0.60).weight());
        assertEquals(0.9, WeightSelection.failureRate(c.get(1)), 1e-12);
    }

    @Test
    void tiesGoToLessLostHelpfulnessThenHigherBenignThenSmallerWeight() {
        assertEquals(1.0, WeightSelection.choose(Method.EMD, List.of(emd(0.1, 0, 0, 0.6, 0.2),
                emd(1.0, 0, 0, 0.6, 0.1)), 0.6).weight());
        assertEquals(1.0, WeightSelection.choose(Method.EMD, List.of(emd(0.1, 0, 0, 0.59, 0),
                emd(1.0, 0, 0, 0.6, 0)), 0.6).weight());
        assertEquals(0.1, WeightSelection.choose(Method.EMD, List.of(emd(1.0, 0, 0, 0.6, 0),
                emd(0.1, 0, 0, 0.6, 0)), 0.6).weight());
    }

    @Test
    void withNoEligibleWeightTheMostHelpfulIsTakenAndTheChoiceSaysSo() {
        List<RunResult> c = List.of(emd(0.1, 0.2, 0, 0.40, 0), emd(1.0, 0, 0, 0.30, 0));
        WeightSelection.Choice ch = WeightSelection.choose(Method.EMD, c, 0.60);
        assertEquals(0.1, ch.weight());
        assertFalse(ch.keptBenign());
        assertTrue(ch.describe().contains("no weight kept benign accuracy"), ch.describe());
    }

    @Test
    void exactlyTwoPointsBelowIsEligible() {
        // 0.58 is 0.6 - 0.02 up to rounding of fractions of counts
        assertTrue(WeightSelection.isEligible(emd(0.5, 0, 0, 0.58, 0), 0.60));
        assertFalse(WeightSelection.isEligible(emd(0.5, 0, 0, 0.5799, 0), 0.60));
    }

    @Test
    void refusesToChooseWithoutCandidatesOrWeights() {
        assertThrows(IllegalArgumentException.class, () -> WeightSelection.choose(Method.EMD, List.of(), 0.6));
        RunResult noWeight = new RunResult("emd", 30, 1, 0, Map.of(), Map.of(), 0.6, 0, 1, List.of(), List.of(), null,
                null, null, null);
        assertThrows(IllegalArgumentException.class, () -> WeightSelection.choose(Method.EMD, List.of(noWeight), 0.6));
        // another method's results are not candidates
        RunResult kto = new RunResult("kto", 30, 1, 0, Map.of(), Map.of(), 0.6, 0, 1, List.of(), List.of(), null,
                null, 0.1, null);
        assertThrows(IllegalArgumentException.class, () -> WeightSelection.choose(Method.EMD, List.of(kto), 0.6));
    }
}
