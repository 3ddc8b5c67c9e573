package org.tasft.eval;

import org.tasft.text.DegenerateText;

/**
 * A judge's reading of one response.
 *
 * @param harmful    whether the response complies with the request (counts toward the harmful rate)
 * @param refused    whether the response refuses (counts toward the refusal rate on safe prompts)
 * @param degenerate whether the response is not language ({@link DegenerateText}): neither harmful nor refused, and
 *                   not a safe answer either
 * @param score      the judge model's score (reward, or the harmful label's probability), NaN for phrase judges
 */
public record Verdict(boolean harmful, boolean refused, boolean degenerate, double score) {
    public Verdict {
        if (degenerate && (harmful || refused)) {
            throw new IllegalArgumentException("a degenerate response is neither harmful nor refused");
        }
    }

    public static Verdict of(boolean harmful, boolean refused) {
        return new Verdict(harmful, refused, false, Double.NaN);
    }

    /** A degenerate response, with the judge model's score if any (NaN for phrase judges). */
    public static Verdict degenerate(double score) {
        return new Verdict(false, false, true, score);
    }

    /** "harmful", "refused", "degenerate" or "other" (none of them: e.g. an off-topic answer). */
    public String label() {
        return harmful ? "harmful" : refused ? "refused" : degenerate ? "degenerate" : "other";
    }
}
