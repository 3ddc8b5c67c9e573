package org.tasft.synthetic;

import java.util.Objects;

/**
 * One harmful request.
 *
 * @param topic    the topic name
 * @param act      the request phrase
 * @param prompt   the request text
 * @param template the template it was made from
 * @param split    how it relates to training data
 */
public record HarmfulRequest(String topic, String act, String prompt, String template, Split split) {
    /** Where a request comes from. */
    public enum Split {
        /** A training topic in training wording. */
        TRAIN,
        /** Held out: a training topic in held-out wording. */
        HELD_OUT_WORDING,
        /** Held out: a held-out topic in training wording. */
        HELD_OUT_TOPIC,
        /** Held out: a held-out topic in held-out wording. */
        HELD_OUT_BOTH,
        /** Validation (for choosing hyperparameters): a training topic in validation wording, never reported as a test. */
        VALIDATION
    }

    public HarmfulRequest {
        Objects.requireNonNull(topic, "topic");
        Objects.requireNonNull(act, "act");
        Objects.requireNonNull(prompt, "prompt");
        Objects.requireNonNull(template, "template");
        Objects.requireNonNull(split, "split");
    }
}
