package org.tasft.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tasft.tokenizer.Tokenizer;

class CollatorTest {
    private static long[] values(Tensor t) {
        assertEquals(ScalarType.Long, t.scalar_type().intern());
        long[] out = new long[(int) t.numel()];
        t.contiguous().data_ptr_long().get(out);
        return out;
    }

    private static final long I = Batch.IGNORE_INDEX;

    @Test
    void padsToTheLongestOnTheRight() {
        EncodedExample a = new EncodedExample(new long[] {10, 11, 12}, new long[] {I, 11, 12},
                Example.Kind.SAFE, 1, false);
        EncodedExample b = new EncodedExample(new long[] {20, 21, 22, 23, 24}, new long[] {I, I, I, 23, 24},
                Example.Kind.HARMFUL, 3, false);
        EncodedExample c = new EncodedExample(new long[] {30}, new long[] {30}, Example.Kind.SAFE, 0, true);
        Batch batch = new Collator(2).collate(List.of(a, b, c));
        assertArrayEquals(new long[] {3, 5}, batch.inputIds().sizes().vec().get());
        assertArrayEquals(new long[] {
                10, 11, 12, 2, 2,
                20, 21, 22, 23, 24,
                30, 2, 2, 2, 2}, values(batch.inputIds()));
        assertArrayEquals(new long[] {
                I, 11, 12, I, I,
                I, I, I, 23, 24,
                30, I, I, I, I}, values(batch.labels()));
        assertArrayEquals(new long[] {
                1, 1, 1, 0, 0,
                1, 1, 1, 1, 1,
                1, 0, 0, 0, 0}, values(batch.attentionMask()));
        assertArrayEquals(new boolean[] {false, true, false}, batch.harmful());
        assertEquals(1, batch.harmfulCount());
    }

    @Test
    void encodedExamplesFromTheEncoderCollate(@TempDir Path dir) {
        try (Tokenizer tok = DataFixtures.tokenizer(dir, true)) {
            ExampleEncoder encoder = new ExampleEncoder(tok, 256);
            List<EncodedExample> encoded = encoder.encodeAll(List.of(
                    Example.safe("Hi", "", "Hello there, how are you?"),
                    Example.harmful("Do harm", "", "No")));
            assertEquals(0, encoder.promptTruncated() + encoder.responseTruncated());
            Batch batch = Collator.forTokenizer(tok).collate(encoded);
            int t = Math.max(encoded.get(0).length(), encoded.get(1).length());
            assertEquals(t, batch.inputIds().size(1));
            long[] ids = values(batch.inputIds());
            long[] labels = values(batch.labels());
            EncodedExample shorter = encoded.get(1);
            for (int i = shorter.length(); i < t; i++) {
                assertEquals(DataFixtures.PAD, ids[t + i]);
                assertEquals(I, labels[t + i]);
            }
            assertArrayEquals(new boolean[] {false, true}, batch.harmful());
        }
    }

    @Test
    void padIdFallsBackToEos(@TempDir Path dir) throws Exception {
        try (Tokenizer withPad = DataFixtures.tokenizer(Files.createDirectory(dir.resolve("a")), true);
                Tokenizer noPad = DataFixtures.tokenizer(Files.createDirectory(dir.resolve("b")), false);
                Tokenizer nothing = Tokenizer.load(DataFixtures.tokenizerFile())) {
            assertEquals(DataFixtures.PAD, Collator.forTokenizer(withPad).padId());
            assertEquals(DataFixtures.EOS, Collator.forTokenizer(noPad).padId());
            assertThrows(IllegalArgumentException.class, () -> Collator.forTokenizer(nothing));
        }
        assertThrows(IllegalArgumentException.class, () -> new Collator(2).collate(List.of()));
        assertThrows(IllegalArgumentException.class, () -> new Collator(-1));
    }
}
