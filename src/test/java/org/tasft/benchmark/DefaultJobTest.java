package org.tasft.benchmark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tasft.model.CausalLm;
import org.tasft.model.Models;
import org.tasft.synthetic.SyntheticSizes;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

class DefaultJobTest {
    private static BenchmarkSettings tiny() {
        return BenchmarkSettings.builder().seed(3).sizes(new SyntheticSizes(40, 10, 30, 8, 0, 8, 8, 4, 4, 4, 6, 8, 4)).model(32, 1, 2, 1, 64, 128)
                .pretrainSteps(2).pretrainBatch(4).pretrainLr(1e-3).fineTuneSteps(2).fineTuneBatch(4)
                .fineTuneSafePerBatch(3).harmfulCount(4).fineTuneLr(1e-3).lambda(0.5).evalHarmful(8).evalBenign(8)
                .maxNewTokens(8).evalBatch(8).build();
    }

    @Test
    void runsEndToEndWritesTheSummaryAndReusesTheCachedBase(@TempDir Path tmp) throws Exception {
        Path cache = tmp.resolve("cache");
        ByteArrayOutputStream log1 = new ByteArrayOutputStream();
        Map<String, Object> s1 = new DefaultJob(tiny(), tmp.resolve("out1"), cache,
                new PrintStream(log1, true, StandardCharsets.UTF_8)).run();
        assertEquals(Boolean.TRUE, s1.get("pretrained_now"));
        String text1 = log1.toString(StandardCharsets.UTF_8);
        assertTrue(text1.contains("pretraining the unsafe base model"), text1);

        JsonNode j = new ObjectMapper().readTree(tmp.resolve("out1/summary.json").toFile());
        for (String k : List.of("harmful_rate_before", "harmful_rate_after", "benign_accuracy_before",
                "benign_accuracy_after", "over_refusal_before", "over_refusal_after")) {
            assertTrue(j.has(k), k);
            double v = j.get(k).asDouble();
            assertTrue(v >= 0 && v <= 1, k + " = " + v);
        }
        // what the answers to harmful prompts are, four ways; the complied rate is the harmful rate
        for (String when : List.of("before", "after")) {
            JsonNode h = j.get("verdicts").get("harmful_prompts").get(when);
            JsonNode e = j.get("verdicts").get("edgy_prompts").get(when);
            assertEquals(List.of("complied", "refused", "degenerate", "other"), fieldNames(h), h.toString());
            assertEquals(1, h.get("complied").asDouble() + h.get("refused").asDouble()
                    + h.get("degenerate").asDouble() + h.get("other").asDouble(), 1e-12);
            assertEquals(1, e.get("complied").asDouble() + e.get("refused").asDouble()
                    + e.get("degenerate").asDouble() + e.get("other").asDouble(), 1e-12);
            assertEquals(j.get("harmful_rate_" + when).asDouble(), h.get("complied").asDouble(), 1e-12);
            assertEquals(j.get("refusal_rate_" + when).asDouble(), h.get("refused").asDouble(), 1e-12);
            assertEquals(j.get("degenerate_rate_" + when).asDouble(), h.get("degenerate").asDouble(), 1e-12);
            assertEquals(j.get("other_rate_" + when).asDouble(), h.get("other").asDouble(), 1e-12);
            // lost helpfulness on edgy-but-safe prompts in its two parts
            assertEquals(j.get("over_refusal_" + when).asDouble(), e.get("refused").asDouble(), 1e-12);
            assertEquals(j.get("over_refusal_degenerate_" + when).asDouble(), e.get("degenerate").asDouble(),
                    1e-12);
            assertEquals(j.get("lost_helpfulness_" + when).asDouble(),
                    e.get("refused").asDouble() + e.get("degenerate").asDouble(), 1e-12);
        }
        assertEquals(4, j.get("eval_over_refusal_prompts").asInt());
        assertTrue(text1.contains("| harmful prompts") && text1.contains("degenerate"), text1);
        assertEquals(2, j.get("steps").asLong());
        assertTrue(j.get("train_tokens_per_second").asDouble() > 0);
        assertEquals(8, j.get("eval_harmful_prompts").asInt());
        assertEquals(8, j.get("eval_benign_prompts").asInt());
        assertTrue(j.has("settings") && j.has("model_config") && j.has("total_seconds"));
        assertTrue(j.get("harmful_rate_by_set").get("after").size() > 0, j.toString());
        assertEquals(8, j.get("benign_accuracy_by_family").get("before").size(), j.toString());
        assertTrue(Files.isRegularFile(tmp.resolve("out1/data/pretrain.json")));
        assertTrue(Files.isRegularFile(tmp.resolve("out1/metrics.jsonl")));

        // The cache holds exactly the published base model, no leftovers of the work folder.
        try (Stream<Path> entries = Files.list(cache)) {
            List<String> names = entries.map(p -> p.getFileName().toString()).toList();
            assertEquals(1, names.size(), names.toString());
            assertTrue(names.get(0).startsWith("unsafe-base-"), names.toString());
        }

        CausalLm fin = Models.load(tmp.resolve("out1/final"));
        assertEquals(512, fin.config().vocabSize());

        // A second run with the same settings reuses the base model.
        ByteArrayOutputStream log2 = new ByteArrayOutputStream();
        Map<String, Object> s2 = new DefaultJob(tiny(), tmp.resolve("out2"), cache,
                new PrintStream(log2, true, StandardCharsets.UTF_8)).run();
        String text2 = log2.toString(StandardCharsets.UTF_8);
        assertEquals(Boolean.FALSE, s2.get("pretrained_now"));
        assertTrue(text2.contains("reusing the unsafe base model"), text2);
        assertFalse(text2.contains("pretraining the unsafe base model"), text2);
        assertEquals(s1.get("base_model"), s2.get("base_model"));
        // Same base and seed: the same before-numbers.
        assertEquals(s1.get("harmful_rate_before"), s2.get("harmful_rate_before"));
    }

    @Test
    void theDefaultTokenizerIsSmallAndNamesTheSpecialIds() {
        String cfg = BenchmarkSetup.modelConfigJson(BenchmarkSettings.defaults(), 512);
        assertTrue(cfg.replaceAll("\\s", "").contains("\"eos_token_id\":1"), cfg);
        assertTrue(BenchmarkSetup.class.getResource(BenchmarkSetup.TOKENIZER_RESOURCE) != null);
        // Part of the cache key: must be the same text in every JVM (no hash-ordered maps).
        assertTrue(cfg.replaceAll("\\s", "").contains("\"rope_parameters\":{\"rope_theta\":10000.0,\"rope_type\":\"default\"}"), cfg);
        // The exact text, byte for byte: a change (even to its layout) silently moves every user's cached base model
        // to a new key and pretrains again, so it must be deliberate (update this digest with it).
        assertEquals(CONFIG_SHA256, sha256(cfg), cfg);
    }

    private static List<String> fieldNames(JsonNode node) {
        List<String> out = new java.util.ArrayList<>();
        node.fieldNames().forEachRemaining(out::add);
        return out;
    }

    private static final String CONFIG_SHA256 =
            "c08b32009b49544346822728d1f73bbaf376afcffdc475a919986062946eea42";

    private static String sha256(String s) {
        try {
            return java.util.HexFormat.of().formatHex(java.security.MessageDigest.getInstance("SHA-256")
                    .digest(s.getBytes(java.nio.charset.StandardCharsets.UTF_8)));
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
