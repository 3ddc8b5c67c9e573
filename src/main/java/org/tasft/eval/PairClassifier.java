package org.tasft.eval;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import org.bytedeco.javacpp.PointerScope;
import org.tasft.model.NonFiniteException;
import org.tasft.model.SequenceClassifier;
import org.tasft.model.SequenceClassifiers;
import org.tasft.tokenizer.Tokenizer;

/**
 * A sequence-classification checkpoint with its tokenizer, reading (prompt, response) pairs as transformers'
 * {@code tokenizer(prompt, response)} encodes them (the tokenizer's pair template, e.g. DeBERTa's
 * {@code [CLS] prompt [SEP] response [SEP]}), the way reward models such as OpenAssistant's are queried. A pair longer
 * than the model's limit keeps its first tokens and its last one (the closing special token).
 */
public final class PairClassifier implements AutoCloseable {
    private final SequenceClassifier classifier;
    private final Tokenizer tokenizer;
    private final Path dir;

    public PairClassifier(SequenceClassifier classifier, Tokenizer tokenizer, Path dir) {
        this.classifier = classifier;
        this.tokenizer = tokenizer;
        this.dir = dir;
    }

    /** A model folder with config.json, weights and tokenizer.json. */
    public static PairClassifier load(Path dir) {
        if (!java.nio.file.Files.isDirectory(dir)) {
            throw new IllegalArgumentException(dir + ": no such folder (expected a judge model folder)");
        }
        if (!java.nio.file.Files.isRegularFile(dir.resolve(Tokenizer.FILE_NAME))) {
            throw new IllegalArgumentException(dir + ": no " + Tokenizer.FILE_NAME + " (a judge model folder needs "
                    + "its tokenizer)");
        }
        SequenceClassifier c = SequenceClassifiers.load(dir);
        return new PairClassifier(c, Tokenizer.load(dir), dir);
    }

    public SequenceClassifier classifier() {
        return classifier;
    }

    public Path dir() {
        return dir;
    }

    /** Logits [n][labels] of the pairs, {@code batchSize} pairs per forward. */
    public float[][] logits(List<String> prompts, List<String> responses, int batchSize) {
        if (prompts.size() != responses.size()) {
            throw new IllegalArgumentException(prompts.size() + " prompts for " + responses.size() + " responses");
        }
        List<SequenceClassifier.Input> inputs = new ArrayList<>();
        for (int i = 0; i < prompts.size(); i++) {
            inputs.add(encode(prompts.get(i), responses.get(i)));
        }
        float[][] out = new float[inputs.size()][];
        // similar lengths together: less padding
        Integer[] order = new Integer[inputs.size()];
        for (int i = 0; i < order.length; i++) {
            order[i] = i;
        }
        Arrays.sort(order, (a, b) -> Integer.compare(inputs.get(a).ids().length, inputs.get(b).ids().length));
        int step = Math.max(1, batchSize);
        for (int start = 0; start < order.length; start += step) {
            List<SequenceClassifier.Input> batch = new ArrayList<>();
            for (int k = start; k < Math.min(order.length, start + step); k++) {
                batch.add(inputs.get(order[k]));
            }
            float[][] logits;
            try (PointerScope scope = new PointerScope()) {
                logits = classifier.classify(batch);
            }
            for (int k = 0; k < logits.length; k++) {
                if (!NonFiniteException.allFinite(logits[k])) {
                    // a NaN score would silently read as "not harmful" (or "harmful"): the judge is broken
                    throw new NonFiniteException("the judge model's scores are NaN or infinite (pair "
                            + (order[start + k] + 1) + " of " + inputs.size() + ")");
                }
                out[order[start + k]] = logits[k];
            }
        }
        return out;
    }

    SequenceClassifier.Input encode(String prompt, String response) {
        Tokenizer.Encoding e = tokenizer.encodePair(prompt, response == null ? "" : response, true);
        long[] ids = e.ids();
        long[] types = e.typeIds();
        int max = classifier.maxLength();
        if (ids.length == 0) {
            throw new IllegalArgumentException("the judge's tokenizer gives no tokens for a prompt and response");
        }
        if (ids.length > max) {
            ids = cut(ids, max);
            types = types == null ? null : cut(types, max);
        }
        return new SequenceClassifier.Input(ids, types != null && types.length == ids.length ? types : null);
    }

    private static long[] cut(long[] a, int max) {
        long[] out = Arrays.copyOf(a, max);
        out[max - 1] = a[a.length - 1];
        return out;
    }

    @Override
    public void close() {
        tokenizer.close();
    }
}
