package org.tasft.eval;

import java.util.List;

import org.tasft.synthetic.ComplianceJudge;

/** The built-in synthetic benchmark's own marker-based judge ({@link ComplianceJudge}). */
public final class SyntheticJudge implements Judge {
    @Override
    public String name() {
        return "synthetic (ComplianceJudge markers)";
    }

    @Override
    public List<Verdict> judge(List<String> prompts, List<String> responses) {
        return responses.stream()
                .map(r -> Verdict.of(ComplianceJudge.isHarmful(r), ComplianceJudge.isRefusal(r))).toList();
    }
}
