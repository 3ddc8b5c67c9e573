package org.tasft.model;

import java.util.List;

/**
 * A Hugging Face sequence-classification model ({@code ...ForSequenceClassification}): one row of logits per input
 * sequence. A single label is a reward (or regression) model, whose one logit is its score.
 *
 * <p>Inputs are token ids as the model's tokenizer gives them, special tokens included (transformers'
 * {@code tokenizer(text, pair)}), with their token type ids for encoders that use them. Build one with
 * {@link SequenceClassifiers#load(java.nio.file.Path)}.
 */
public interface SequenceClassifier {
    /**
     * One input sequence.
     *
     * @param ids     token ids, at least one
     * @param typeIds token type (segment) ids of the same length, or null for all zeros
     */
    record Input(long[] ids, long[] typeIds) {
        public Input {
            if (ids == null || ids.length == 0) {
                throw new IllegalArgumentException("a classifier input needs at least one token");
            }
            if (typeIds != null && typeIds.length != ids.length) {
                throw new IllegalArgumentException("typeIds has " + typeIds.length + " entries for " + ids.length
                        + " ids");
            }
        }

        public static Input of(long... ids) {
            return new Input(ids, null);
        }
    }

    /** The transformers class of the checkpoint (config.json's {@code architectures}). */
    String architecture();

    /** Label names in id order (config.json's {@code id2label}); one label for a reward model. */
    List<String> labels();

    /** Longest input the model takes (its position limit). */
    int maxLength();

    /** Logits [inputs.size()][labels().size()], one forward for the whole list (the caller batches). */
    float[][] classify(List<Input> inputs);
}
