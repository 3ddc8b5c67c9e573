package org.tasft.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.concurrent.TimeUnit;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.tasft.model.ModelConfig;
import org.tasft.testing.SpecialFiles;

/**
 * A model folder that is not what config.json says, or not a folder one can read: one line naming the file (config.json
 * and its key, or the weights file and the tensor), never an allocator's or LibTorch's message, never a hang.
 */
class ModelFolderErrorsTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;
    Path model;

    @BeforeEach
    void modelFolder() throws IOException {
        model = MainTest.tinyLlama(dir);
    }

    private void setConfig(String key, String rawJsonValue) throws IOException {
        ObjectNode config = (ObjectNode) JSON.readTree(model.resolve("config.json").toFile());
        config.set(key, JSON.readTree(rawJsonValue));
        Files.writeString(model.resolve("config.json"), config.toString());
    }

    private MainTest.Run score() {
        return MainTest.run("score", "--model", model.toString(), "--ids", "1,2,3");
    }

    static void assertOneLine(MainTest.Run r, int code, String... fragments) {
        assertEquals(code, r.code(), r.err());
        assertEquals(1, r.errLines().size(), "one line: " + r.err());
        assertFalse(r.err().contains("\tat ") || r.err().contains("Exception"), r.err());
        for (String f : fragments) {
            assertTrue(r.err().contains(f), "'" + f + "' in " + r.err());
        }
    }

    @Test
    void hugeSizesNameConfigJsonAndTheKey() throws IOException {
        String config = model.resolve("config.json").toString();
        setConfig("vocab_size", "1e12");
        assertOneLine(score(), 2, config + ": vocab_size: 'vocab_size' = 1.0E12 is out of range");
        setConfig("vocab_size", "1000000000000");
        assertOneLine(score(), 2, config + ": vocab_size: ", "out of range");
        setConfig("vocab_size", "384");
        setConfig("hidden_size", "3000000000");
        assertOneLine(score(), 2, config + ": hidden_size: ", "out of range");
        setConfig("hidden_size", "64");
        setConfig("num_attention_heads", "0");
        assertOneLine(score(), 2, config + ": num_attention_heads: ", "positive");
        setConfig("num_attention_heads", "4");
        // within int, but terabytes of weights: refused before LibTorch tries to allocate them
        setConfig("intermediate_size", "1600000000");
        assertOneLine(score(), 2, config + ": intermediate_size: 1600000000 makes the model's float32 weights",
                "of memory");
        setConfig("intermediate_size", "160");
        setConfig("vocab_size", "2000000000");
        assertOneLine(score(), 2, config + ": vocab_size: 2000000000 makes", "the embeddings");
    }

    @Test
    void weightsThatDoNotMatchTheConfigNameTheWeightsFileAndTheTensor() throws IOException {
        String weights = model.resolve("model.safetensors").toString();
        setConfig("num_hidden_layers", "3");
        assertOneLine(score(), 1, weights + ": lacks ", "model.layers.2.self_attn.q_proj.weight", "config.json");
        setConfig("num_hidden_layers", "1");
        assertOneLine(score(), 1, weights + ": has ", "model.layers.1.", "config.json");
        setConfig("num_hidden_layers", "2");
        setConfig("intermediate_size", "128");
        assertOneLine(score(), 1, weights + ": tensor model.layers.0.mlp.gate_proj.weight has shape [160, 64]",
                "config.json expects [128, 64]");
    }

    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void weightsThatAreAFolderOrAFifoAreNamed() throws Exception {
        Path weights = model.resolve("model.safetensors");
        Files.delete(weights);
        Files.createDirectory(weights);
        assertOneLine(score(), 1, weights + ": is a folder, not a safetensors file");
        Files.delete(weights);
        assumeTrue(SpecialFiles.mkfifo(weights), "mkfifo is not available");
        assertOneLine(score(), 1, weights + ": is not a regular file (a FIFO, socket or device)");
        // a shard of a sharded checkpoint that is a FIFO: refused too, where opening it would block forever
        Files.delete(weights);
        Files.writeString(model.resolve("model.safetensors.index.json"), "{\"weight_map\": {\"lm_head.weight\": "
                + "\"model-00001-of-00001.safetensors\"}}");
        Path shard = model.resolve("model-00001-of-00001.safetensors");
        assumeTrue(SpecialFiles.mkfifo(shard), "mkfifo is not available");
        assertOneLine(score(), 1, shard + ": is not a regular file (a FIFO, socket or device)");
    }

    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void aTokenizerFileThatIsAFifoIsNamed() throws Exception {
        Path tokenizer = model.resolve("tokenizer.json");
        Files.delete(tokenizer);
        assumeTrue(SpecialFiles.mkfifo(tokenizer), "mkfifo is not available");
        assertOneLine(MainTest.run("score", "--model", model.toString(), "--text", "hello"), 2,
                tokenizer + ": is not a regular file (a FIFO, socket or device)");
        Files.delete(tokenizer);
        MainTest.copy("/fixtures/tokenizer/tokenizer.json", tokenizer);
        Path beside = model.resolve("tokenizer_config.json"); // read for the special tokens: not skipped silently
        assumeTrue(SpecialFiles.mkfifo(beside), "mkfifo is not available");
        assertOneLine(MainTest.run("score", "--model", model.toString(), "--text", "hello"), 2,
                beside + ": is not a regular file");
    }

    @Test
    void aConfigJsonThatIsNotAFileIsNamed() throws Exception {
        Files.delete(model.resolve("config.json"));
        assertOneLine(score(), 2, "--model " + model + ": no config.json");
        Files.createDirectory(model.resolve("config.json"));
        assertOneLine(score(), 2, "--model " + model + ": config.json is a folder, not a file");
        Path notAFolder = Files.writeString(dir.resolve("file"), "x");
        assertOneLine(MainTest.run("score", "--model", notAFolder.toString(), "--ids", "1,2"), 2,
                "--model " + notAFolder + ": not a folder");
    }

    /** Permissions bind only a user other than root: these checks run where the test is not root. */
    @Test
    void unreadableFolderOrConfigIsNotReportedAsMissing() throws IOException {
        Path config = model.resolve("config.json");
        Files.setPosixFilePermissions(config, PosixFilePermissions.fromString("-w-------"));
        try {
            assumeTrue(!Files.isReadable(config), "this user reads files without read permission (root)");
            assertOneLine(score(), 2, "--model " + model + ": cannot read config.json: permission denied");
        } finally {
            Files.setPosixFilePermissions(config, PosixFilePermissions.fromString("rw-------"));
        }
        Files.setPosixFilePermissions(model, PosixFilePermissions.fromString("-w-------"));
        try {
            assertOneLine(score(), 2, "--model " + model + ": cannot read the folder: permission denied");
        } finally {
            Files.setPosixFilePermissions(model, PosixFilePermissions.fromString("rwx------"));
        }
    }

    @Test
    void theWeightEstimateNamesTheLargestPart() throws IOException {
        ModelConfig c = ModelConfig.read(model.resolve("config.json"));
        // 384 x 64 x 2 embeddings, 2 layers of attention (q, o: 64 x 64; k, v: 64 x 32) and MLPs (3 x 64 x 160), norms
        double expected = 384 * 64 * 2 + 2 * (2 * 64 * 64 + 2 * 64 * 32) + 2 * 3 * 64 * 160 + 5 * 64;
        assertEquals(expected, c.parameterCount());
        c.requireWeightsFit(expected * 4);
        String m = assertThrows(IllegalArgumentException.class, () -> c.requireWeightsFit(1000)).getMessage();
        assertTrue(m.contains("config.json: intermediate_size: 160 makes the model's float32 weights 529.3 KiB (most of "
                + "it the MLPs: num_hidden_layers 2 x hidden_size 64 x intermediate_size 160), more than this "
                + "machine's 1000 bytes of memory"), m);
    }
}
