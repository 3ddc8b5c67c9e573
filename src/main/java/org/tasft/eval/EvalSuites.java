package org.tasft.eval;

import java.util.List;

/**
 * What to evaluate: harmful prompt sets (their prompts labelled safe are left out), safe prompts for the
 * over-refusal rate (only those labelled safe where the set has labels), BoolQ items, and reference answers with the
 * reward model that compares them. Everything but the harmful sets is optional (null).
 */
public record EvalSuites(List<PromptSet> harmful, PromptSet safe, String boolqName,
        List<BoolqItems.BoolqItem> boolq, String referencesName, List<ReferenceAnswers.Reference> references,
        PairClassifier rewardModel) {
    public EvalSuites {
        harmful = harmful == null ? List.of() : List.copyOf(harmful);
        boolq = boolq == null ? null : List.copyOf(boolq);
        references = references == null ? null : List.copyOf(references);
        if (references != null && rewardModel == null) {
            throw new IllegalArgumentException("a win rate against reference answers needs a reward model");
        }
    }

    public static EvalSuites of(List<PromptSet> harmful) {
        return new EvalSuites(harmful, null, null, null, null, null, null);
    }

    public EvalSuites withSafe(PromptSet value) {
        return new EvalSuites(harmful, value, boolqName, boolq, referencesName, references, rewardModel);
    }

    public EvalSuites withBoolq(String name, List<BoolqItems.BoolqItem> items) {
        return new EvalSuites(harmful, safe, name, items, referencesName, references, rewardModel);
    }

    public EvalSuites withReferences(String name, List<ReferenceAnswers.Reference> value, PairClassifier model) {
        return new EvalSuites(harmful, safe, boolqName, boolq, name, value, model);
    }
}
