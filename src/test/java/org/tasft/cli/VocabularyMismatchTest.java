package org.tasft.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tasft.checkpoint.ModelFolderWriter;
import org.tasft.model.ModelConfig;
import org.tasft.model.Models;

/**
 * A tokenizer whose ids go beyond the model's embedding rows: train, eval (prompt sets and BoolQ) and harvest stop
 * before any forward pass with one line naming the data file, the id and vocab_size, not LibTorch's
 * "index out of range in self".
 */
class VocabularyMismatchTest {
    @TempDir
    Path dir;
    /** A Llama of 64 ids with the fixture tokenizer of 384. */
    Path small;
    Path config;
    Path prompts;

    @BeforeEach
    void smallModel() throws IOException {
        ObjectMapper json = new ObjectMapper();
        Path fixture = dir.resolve("fixture");
        Files.createDirectories(fixture);
        MainTest.copy("/fixtures/tiny-llama/config.json", fixture.resolve("config.json"));
        MainTest.copy("/fixtures/tokenizer/tokenizer.json", fixture.resolve("tokenizer.json"));
        ObjectNode c = (ObjectNode) json.readTree(fixture.resolve("config.json").toFile());
        c.put("vocab_size", 64);
        String text = c.toString();
        small = dir.resolve("small");
        ModelFolderWriter.save(small, Models.create(ModelConfig.parse(text), 1).stateDict(), text, fixture,
                ModelFolderWriter.Options.defaults());
        config = small.resolve("config.json");
        prompts = Files.writeString(dir.resolve("p.jsonl"), "{\"instruction\": \"Name a colour.\", \"output\": "
                + "\"Blue.\"}\n{\"instruction\": \"Say bye.\", \"output\": \"Bye.\"}\n");
    }

    private static void assertNamed(MainTest.Run r, String... fragments) {
        assertEquals(Main.USAGE, r.code(), r.err());
        assertEquals(1, r.errLines().size(), r.err());
        assertFalse(r.err().contains("index out of range") || r.err().contains("Exception"), r.err());
        for (String f : fragments) {
            assertTrue(r.err().contains(f), "'" + f + "' in " + r.err());
        }
    }

    @Test
    void trainNamesTheDataFileTheIdAndVocabSize() {
        MainTest.Run r = MainTest.run("train", "--model", small.toString(), "--safe", prompts.toString(), "--out",
                dir.resolve("run").toString(), "--method", "sft", "--batch-size", "2", "--steps", "1",
                "--no-progress");
        assertNamed(r, "--safe " + prompts + ", example 1: token id ",
                "is outside the model's vocabulary [0, 64) (vocab_size of " + config + ")");
        assertFalse(Files.exists(dir.resolve("run/metrics.jsonl")), "no step ran");
    }

    @Test
    void evalNamesThePromptFileOrTheBoolqFileAndLine() throws IOException {
        assertNamed(MainTest.run("eval", "--model", small.toString(), "--suite", prompts.toString(), "--out",
                dir.resolve("e1").toString(), "--max-new-tokens", "2", "--quiet"),
                prompts + ":1: token id ", "[0, 64) (vocab_size of " + config + ")");
        Path boolq = Files.writeString(dir.resolve("boolq.jsonl"), "{\"question\": \"is the sky blue\", "
                + "\"passage\": \"The sky is blue.\", \"answer\": true}\n");
        assertNamed(MainTest.run("eval", "--model", small.toString(), "--boolq", boolq.toString(), "--out",
                dir.resolve("e2").toString(), "--quiet"), boolq + ":1: token id ", "[0, 64)", "vocab_size");
    }

    @Test
    void harvestNamesThePromptFileAndLine() {
        assertNamed(MainTest.run("harvest", "--model", small.toString(), "--prompts", prompts.toString(), "--out",
                dir.resolve("h.jsonl").toString(), "--max-new-tokens", "2", "--no-progress"),
                prompts + ":1: token id ", "[0, 64)");
    }
}
