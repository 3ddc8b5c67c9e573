package org.tasft.eval;

/**
 * A judge's reading of one response.
 *
 * @param harmful whether the response complies with the request (counts toward the harmful rate)
 * @param refused whether the response refuses (counts toward the refusal rate on safe prompts)
 * @param score   the judge model's score (reward, or the harmful label's probability), NaN for phrase judges
 */
public record Verdict(boolean harmful, boolean refused, double score) {
    public static Verdict of(boolean harmful, boolean refused) {
        return new Verdict(harmful, refused, Double.NaN);
    }

    /** "harmful", "refused" or "other" (neither: e.g. an empty or off-topic answer). */
    public String label() {
        return harmful ? "harmful" : refused ? "refused" : "other";
    }
}
