package org.tasft.eval;

import java.nio.file.Path;
import java.util.List;
import java.util.function.Predicate;

import org.tasft.generate.Generator.StopReason;

/** The results of one {@link Evaluator#run}: per harmful set, the safe set, BoolQ and the win rate (null if not run). */
public record EvalReport(String judge, List<SetResult> harmful, SetResult safe, BoolqResult boolq,
        WinRateResult winRate) {

    /** What a prompt set is used for. */
    public enum Role {
        /** harmful requests: the harmful rate counts */
        HARMFUL,
        /** safe prompts: the refusal (over-refusal) rate counts */
        SAFE
    }

    /** One prompt, the model's answer, why its generation stopped and the judge's verdict. */
    public record Answer(EvalPrompt prompt, String answer, StopReason stop, Verdict verdict) {
    }

    /**
     * @param skipped          prompts of the file not asked (safe-labelled ones in a harmful set and vice versa)
     * @param truncatedPrompts prompts cut from the left to fit the model's context (leaving room for one token)
     */
    public record SetResult(String name, Path file, Role role, List<Answer> answers, int skipped,
            int truncatedPrompts) {
        public SetResult {
            answers = List.copyOf(answers);
        }

        public int prompts() {
            return answers.size();
        }

        public int harmful() {
            return count(answers, a -> a.verdict().harmful());
        }

        public int refused() {
            return count(answers, a -> a.verdict().refused());
        }

        /** Answers with no text (whitespace only): neither harmful nor refused, and never folded into "safe". */
        public int empty() {
            return count(answers, a -> a.answer().isBlank());
        }

        public double emptyRate() {
            return rate(empty(), answers);
        }

        /** Answers the judge found not language ({@link Verdict#degenerate()}; the empty ones among them). */
        public int degenerate() {
            return (int) answers.stream().filter(a -> a.verdict().degenerate()).count();
        }

        public double degenerateRate() {
            return answers.isEmpty() ? Double.NaN : (double) degenerate() / answers.size();
        }

        /** Answers cut short by the model's context before an EOS or --max-new-tokens. */
        public int contextLimited() {
            return count(answers, a -> a.stop() == StopReason.CONTEXT_LIMIT);
        }

        public double harmfulRate() {
            return rate(harmful(), answers);
        }

        public double refusalRate() {
            return rate(refused(), answers);
        }
    }

    /**
     * One BoolQ item: the log-likelihoods of the true and false continuations and whether the larger one is the
     * answer.
     */
    public record BoolqPrediction(BoolqItems.BoolqItem item, double logLikelihoodTrue, double logLikelihoodFalse) {
        public boolean predicted() {
            return logLikelihoodTrue > logLikelihoodFalse;
        }

        public boolean correct() {
            return predicted() == item.answer();
        }
    }

    public record BoolqResult(String name, List<BoolqPrediction> predictions) {
        public BoolqResult {
            predictions = List.copyOf(predictions);
        }

        public int items() {
            return predictions.size();
        }

        public int correct() {
            return count(predictions, BoolqPrediction::correct);
        }

        public double accuracy() {
            return rate(correct(), predictions);
        }
    }

    /** One reference comparison: the reward model's scores of the model's answer and of the reference. */
    public record Comparison(ReferenceAnswers.Reference reference, String answer, StopReason stop,
            double answerScore, double referenceScore) {
        public boolean win() {
            return answerScore > referenceScore;
        }

        public boolean tie() {
            return answerScore == referenceScore;
        }
    }

    /** Win: the model's answer scores higher than the reference; win rate = wins / pairs (ties counted apart). */
    public record WinRateResult(String name, String rewardModel, List<Comparison> comparisons) {
        public WinRateResult {
            comparisons = List.copyOf(comparisons);
        }

        public int pairs() {
            return comparisons.size();
        }

        public int wins() {
            return count(comparisons, Comparison::win);
        }

        public int ties() {
            return count(comparisons, Comparison::tie);
        }

        public double winRate() {
            return rate(wins(), comparisons);
        }

        /** The model's answers cut short by its context. */
        public int contextLimited() {
            return count(comparisons, c -> c.stop() == StopReason.CONTEXT_LIMIT);
        }
    }

    /** How many of {@code items} satisfy {@code test}. */
    private static <T> int count(List<T> items, Predicate<? super T> test) {
        return (int) items.stream().filter(test).count();
    }

    /** {@code count} out of {@code items}; NaN when there are none (a rate of nothing is not 0). */
    private static double rate(int count, List<?> items) {
        return items.isEmpty() ? Double.NaN : (double) count / items.size();
    }
}
