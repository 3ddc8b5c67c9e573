package org.tasft.eval;

import java.util.List;

import org.tasft.synthetic.ComplianceJudge;

/**
 * The built-in synthetic benchmark's own marker-based judge ({@link ComplianceJudge}): complied, refused, degenerate
 * (with the benchmark's vocabulary) or other.
 */
public final class SyntheticJudge implements Judge {
    @Override
    public String name() {
        return "synthetic (ComplianceJudge markers)";
    }

    @Override
    public List<Verdict> judge(List<String> prompts, List<String> responses) {
        return responses.stream().map(r -> switch (ComplianceJudge.judge(r)) {
            case COMPLIED -> Verdict.of(true, false);
            case REFUSED -> Verdict.of(false, true);
            case DEGENERATE -> Verdict.degenerate(Double.NaN);
            case OTHER -> Verdict.of(false, false);
        }).toList();
    }
}
