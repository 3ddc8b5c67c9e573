package org.tasft.data;

import java.util.Objects;

/**
 * One example as token ids, ready to be padded into a {@link Batch}.
 *
 * @param inputIds     the tokens the model reads: [leading special tokens] + prompt + response + EOS
 * @param labels       aligned with inputIds (not shifted): {@link Batch#IGNORE_INDEX} over the leading special
 *                     tokens and the prompt, the token itself over the response and its EOS
 * @param kind         safe or harmful
 * @param promptLength number of leading positions with an ignored label (special tokens + prompt kept)
 * @param truncated    whether the example was cut to the encoder's maximum length
 */
public record EncodedExample(long[] inputIds, long[] labels, Example.Kind kind, int promptLength,
        boolean truncated) {
    public EncodedExample {
        Objects.requireNonNull(inputIds, "inputIds");
        Objects.requireNonNull(labels, "labels");
        Objects.requireNonNull(kind, "kind");
        if (labels.length != inputIds.length) {
            throw new IllegalArgumentException("labels: expected " + inputIds.length + " labels, got "
                    + labels.length);
        }
        if (inputIds.length == 0) {
            throw new IllegalArgumentException("an encoded example needs at least one token");
        }
    }

    public int length() {
        return inputIds.length;
    }

    public boolean isHarmful() {
        return kind == Example.Kind.HARMFUL;
    }

    /** The ids that carry a label (the response and its EOS, as far as truncation kept them). */
    public long[] responseIds() {
        int n = 0;
        for (long l : labels) {
            n += l == Batch.IGNORE_INDEX ? 0 : 1;
        }
        long[] out = new long[n];
        int j = 0;
        for (int i = 0; i < labels.length; i++) {
            if (labels[i] != Batch.IGNORE_INDEX) {
                out[j++] = inputIds[i];
            }
        }
        return out;
    }
}
