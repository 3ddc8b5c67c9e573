package org.tasft.data;

import java.util.List;
import java.util.Objects;

import org.bytedeco.pytorch.MemoryFormatOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.tasft.tokenizer.Tokenizer;

/**
 * Pads encoded examples into a {@link Batch}: right padding to the longest example, the pad id in the input ids,
 * {@link Batch#IGNORE_INDEX} in the labels and 0 in the attention mask on padding. The tensors are int64 on the
 * CPU; the harmful flags follow each example's kind, in the order given.
 */
public final class Collator {
    private final long padId;

    public Collator(long padId) {
        if (padId < 0) {
            throw new IllegalArgumentException("padId must be a token id, got " + padId);
        }
        this.padId = padId;
    }

    /** Pads with the tokenizer's pad id, or its EOS id when it has none (Llama's files name no pad token). */
    public static Collator forTokenizer(Tokenizer tokenizer) {
        if (tokenizer.padId().isPresent()) {
            return new Collator(tokenizer.padId().getAsLong());
        }
        if (tokenizer.eosId().isPresent()) {
            return new Collator(tokenizer.eosId().getAsLong());
        }
        throw new IllegalArgumentException("the tokenizer " + tokenizer.file() + " names neither a pad nor an EOS"
                + " token: give the pad id explicitly");
    }

    public long padId() {
        return padId;
    }

    public Batch collate(List<EncodedExample> examples) {
        Objects.requireNonNull(examples, "examples");
        if (examples.isEmpty()) {
            throw new IllegalArgumentException("cannot collate an empty list of examples");
        }
        int b = examples.size();
        int t = 0;
        for (EncodedExample e : examples) {
            t = Math.max(t, e.length());
        }
        long[] ids = new long[b * t];
        long[] labels = new long[b * t];
        long[] mask = new long[b * t];
        boolean[] harmful = new boolean[b];
        for (int i = 0; i < b; i++) {
            EncodedExample e = examples.get(i);
            int n = e.length();
            int row = i * t;
            System.arraycopy(e.inputIds(), 0, ids, row, n);
            System.arraycopy(e.labels(), 0, labels, row, n);
            java.util.Arrays.fill(mask, row, row + n, 1L);
            java.util.Arrays.fill(ids, row + n, row + t, padId);
            java.util.Arrays.fill(labels, row + n, row + t, Batch.IGNORE_INDEX);
            harmful[i] = e.isHarmful();
        }
        return new Batch(longs(ids, b, t), longs(labels, b, t), longs(mask, b, t), harmful);
    }

    private static Tensor longs(long[] values, int rows, int columns) {
        Tensor tensor = torch.empty(new long[] {rows, columns}, new TensorOptions(ScalarType.Long),
                new MemoryFormatOptional());
        tensor.data_ptr_long().put(values);
        return tensor;
    }
}
