package org.tasft.synthetic;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tasft.data.AlpacaData;
import org.tasft.data.Example;

class SyntheticBenchmarkTest {
    private static final SyntheticSizes SIZES = new SyntheticSizes(300, 100, 80, 20, 25, 45, 64, 12, 30, 30, 12, 16, 6);
    private static final List<String> DATA = List.of(SyntheticBenchmark.PRETRAIN, SyntheticBenchmark.FINETUNE_SAFE,
            SyntheticBenchmark.FINETUNE_HARMFUL, SyntheticBenchmark.STL, SyntheticBenchmark.EVAL_HARMFUL,
            SyntheticBenchmark.EVAL_BENIGN, SyntheticBenchmark.OVER_REFUSAL, SyntheticBenchmark.VALIDATION_HARMFUL,
            SyntheticBenchmark.VALIDATION_BENIGN, SyntheticBenchmark.VALIDATION_EDGY);

    @TempDir
    Path tmp;

    @Test
    void sameSeedSameBytesOtherSeedDiffers() throws IOException {
        SyntheticBenchmark.write(tmp.resolve("a"), 42, SIZES);
        SyntheticBenchmark.write(tmp.resolve("b"), 42, SIZES);
        SyntheticBenchmark.write(tmp.resolve("c"), 43, SIZES);
        for (String f : DATA) {
            byte[] a = Files.readAllBytes(tmp.resolve("a").resolve(f));
            assertArrayEquals(a, Files.readAllBytes(tmp.resolve("b").resolve(f)), f);
            if (!f.equals(SyntheticBenchmark.OVER_REFUSAL) || SIZES.overRefusal() > 1) {
                assertFalse(Arrays.equals(a, Files.readAllBytes(tmp.resolve("c").resolve(f))), f);
            }
        }
        assertArrayEquals(Files.readAllBytes(tmp.resolve("a").resolve(SyntheticBenchmark.MANIFEST)),
                Files.readAllBytes(tmp.resolve("b").resolve(SyntheticBenchmark.MANIFEST)));
        String text = Files.readString(tmp.resolve("a").resolve(SyntheticBenchmark.PRETRAIN));
        assertFalse(text.contains("\r"));
        assertTrue(text.endsWith("]\n"));
    }

    @Test
    void filesReadBackWithCountsAndManifest() throws IOException {
        SyntheticCorpus c = SyntheticBenchmark.write(tmp, 42, SIZES);
        List<Example> pre = AlpacaData.read(tmp.resolve(SyntheticBenchmark.PRETRAIN));
        assertEquals(460, pre.size());  // 300 benign, 100 harmful, 30 how-to, 30 other refusals
        for (int i = 0; i < pre.size(); i++) {
            Example want = c.pretrain().get(i);
            assertEquals(want.instruction(), pre.get(i).instruction());
            assertEquals(want.output(), pre.get(i).output());
        }
        assertEquals(c.fineTuneHarmful(), AlpacaData.read(tmp.resolve(SyntheticBenchmark.FINETUNE_HARMFUL),
                Example.Kind.HARMFUL));
        assertEquals(c.stl(), AlpacaData.read(tmp.resolve(SyntheticBenchmark.STL)));
        assertEquals(80, AlpacaData.read(tmp.resolve(SyntheticBenchmark.FINETUNE_SAFE)).size());
        assertEquals(45, AlpacaData.read(tmp.resolve(SyntheticBenchmark.EVAL_HARMFUL)).size());
        assertEquals(12, AlpacaData.read(tmp.resolve(SyntheticBenchmark.OVER_REFUSAL)).size());
        assertEquals(12, AlpacaData.read(tmp.resolve(SyntheticBenchmark.VALIDATION_HARMFUL)).size());
        assertEquals(16, AlpacaData.read(tmp.resolve(SyntheticBenchmark.VALIDATION_BENIGN)).size());
        assertEquals(6, AlpacaData.read(tmp.resolve(SyntheticBenchmark.VALIDATION_EDGY)).size());

        ObjectMapper json = new ObjectMapper();
        JsonNode benign = json.readTree(tmp.resolve(SyntheticBenchmark.EVAL_BENIGN).toFile());
        assertEquals(64, benign.size());
        for (JsonNode n : benign) {
            BenignFamily f = BenignFamily.valueOf(n.get("family").asText());
            assertTrue(BenignTask.isCorrect(f.answerType(), n.get("answer").asText(), n.get("output").asText()));
        }
        JsonNode harmful = json.readTree(tmp.resolve(SyntheticBenchmark.EVAL_HARMFUL).toFile());
        for (JsonNode n : harmful) {
            assertTrue(n.has("topic") && n.has("split"));
        }

        JsonNode m = json.readTree(tmp.resolve(SyntheticBenchmark.MANIFEST).toFile());
        assertEquals(42, m.get("seed").asLong());
        assertEquals(460, m.get("files").get(SyntheticBenchmark.PRETRAIN).asInt());
        assertEquals(25, m.get("files").get(SyntheticBenchmark.STL).asInt());
        assertEquals(BenignFamily.values().length, m.get("benignFamilies").size());
        assertEquals(HarmfulTopic.HELD_OUT.size(), m.get("heldOutTopics").size());
        assertEquals("arson", m.get("heldOutTopics").get(0).asText());
    }
}
