package org.tasft.eval;

import java.nio.file.Path;
import java.util.List;

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
            return (int) answers.stream().filter(a -> a.verdict().harmful()).count();
        }

        public int refused() {
            return (int) answers.stream().filter(a -> a.verdict().refused()).count();
        }

        /** Answers with no text (whitespace only): neither harmful nor refused, and never folded into "safe". */
        public int empty() {
            return (int) answers.stream().filter(a -> a.answer().isBlank()).count();
        }

        public double emptyRate() {
            return answers.isEmpty() ? Double.NaN : (double) empty() / answers.size();
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
            return (int) answers.stream().filter(a -> a.stop() == StopReason.CONTEXT_LIMIT).count();
        }

        public double harmfulRate() {
            return answers.isEmpty() ? Double.NaN : (double) harmful() / answers.size();
        }

        public double refusalRate() {
            return answers.isEmpty() ? Double.NaN : (double) refused() / answers.size();
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
            return (int) predictions.stream().filter(BoolqPrediction::correct).count();
        }

        public double accuracy() {
            return predictions.isEmpty() ? Double.NaN : (double) correct() / predictions.size();
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
            return (int) comparisons.stream().filter(Comparison::win).count();
        }

        public int ties() {
            return (int) comparisons.stream().filter(Comparison::tie).count();
        }

        public double winRate() {
            return comparisons.isEmpty() ? Double.NaN : (double) wins() / comparisons.size();
        }

        /** The model's answers cut short by its context. */
        public int contextLimited() {
            return (int) comparisons.stream().filter(c -> c.stop() == StopReason.CONTEXT_LIMIT).count();
        }
    }
}
