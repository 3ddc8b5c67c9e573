package org.tasft.checkpoint;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tasft.checkpoint.CheckpointTesting.assertCheckpointError;
import static org.tasft.checkpoint.CheckpointTesting.assertSameFiles;
import static org.tasft.checkpoint.CheckpointTesting.assertSameValues;
import static org.tasft.checkpoint.CheckpointTesting.fixture;
import static org.tasft.checkpoint.CheckpointTesting.smallStateDict;
import static org.tasft.checkpoint.CheckpointTesting.snapshot;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.AbstractMap;
import java.util.AbstractSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.DeviceOptional;
import org.bytedeco.pytorch.MemoryFormatOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tasft.checkpoint.ModelFolderWriter.Options;
import org.tasft.checkpoint.AtomicFolder.Step;

/** Saving model folders: contents, replacement, and what failures and crashes at every step leave behind. */
class ModelFolderWriterTest {
    private static final String CONFIG = "{\"model_type\":\"llama\",\"hidden_size\":8,\"rms_norm_eps\":1e-05,"
            + "\"architectures\":[\"LlamaForCausalLM\"],\"rope_parameters\":{\"rope_theta\":10000.0}}";
    /** Four shards for smallStateDict, so a failure can come after some shards are written. */
    private static final Options SHARDED = Options.defaults().maxShardBytes(400);

    @TempDir
    Path root;
    Path target;
    Path tokenizer;

    /** Thrown from a step listener: an Error skips all clean-up, as a crash would. */
    private static final class SimulatedCrash extends Error {
        SimulatedCrash(Step step) {
            super("crash at " + step);
        }
    }

    @BeforeEach
    void setUp() throws IOException {
        target = root.resolve("runs").resolve("model");
        tokenizer = Files.createDirectories(root.resolve("tok"));
        Files.copy(fixture("tokenizer/tokenizer.json"), tokenizer.resolve("tokenizer.json"));
        Files.writeString(tokenizer.resolve("tokenizer_config.json"), "{\"model_max_length\": 128}\n");
        Files.writeString(tokenizer.resolve("generation_config.json"), "{\"do_sample\": false}\n");
        Files.writeString(tokenizer.resolve("notes.txt"), "not a tokenizer file\n");
    }

    private List<String> siblings() throws IOException {
        try (Stream<Path> s = Files.list(target.getParent())) {
            return s.map(p -> p.getFileName().toString()).sorted().collect(Collectors.toList());
        }
    }

    @Test
    void savesWeightsConfigAndTokenizerFiles() throws IOException {
        LinkedHashMap<String, Tensor> state = smallStateDict(1);
        ModelFolderWriter.save(target, state, CONFIG, tokenizer, Options.defaults().dtype(ScalarType.BFloat16));
        assertEquals(List.of("config.json", "generation_config.json", "model.safetensors", "tokenizer.json",
                "tokenizer_config.json"), List.copyOf(snapshot(target).keySet()));
        assertEquals(List.of("model"), siblings(), "no temporary folders left");
        assertSameFiles(Map.of("tokenizer.json", Files.readAllBytes(tokenizer.resolve("tokenizer.json"))),
                Map.of("tokenizer.json", Files.readAllBytes(target.resolve("tokenizer.json"))), "copied");

        String config = Files.readString(target.resolve("config.json"));
        assertTrue(config.startsWith("{\n  \"model_type\": \"llama\",\n  \"hidden_size\": 8,\n"), config);
        assertTrue(config.contains("\"architectures\": [\n    \"LlamaForCausalLM\"\n  ]"), config);
        assertTrue(config.endsWith("}\n"));
        ObjectMapper json = new ObjectMapper();
        assertEquals(json.readTree(CONFIG), json.readTree(config), "same JSON, pretty-printed");

        try (TensorSource s = Checkpoints.open(target)) {
            assertEquals(List.copyOf(state.keySet()), List.copyOf(s.names()));
            assertEquals("BF16", s.info("lm_head.weight").dtype());
            Tensor expected = state.get("lm_head.weight").to(ScalarType.BFloat16).to(ScalarType.Float);
            assertSameValues(expected, s.load("lm_head.weight"), "lm_head");
        }
    }

    @Test
    void savingOverAFolderReplacesItCompletely() throws IOException {
        JsonNode config = new ObjectMapper().readTree(CONFIG);
        ModelFolderWriter.save(target, smallStateDict(1), config, tokenizer, SHARDED);
        Files.writeString(target.resolve("optimizer.pt"), "stale");
        assertTrue(Files.exists(target.resolve(Checkpoints.INDEX_FILE)));

        ModelFolderWriter.save(target, smallStateDict(2), config, null, Options.defaults());
        assertEquals(List.of("config.json", "model.safetensors"), List.copyOf(snapshot(target).keySet()),
                "nothing of the old folder survives (shards, index, tokenizer, other files)");
        assertEquals(List.of("model"), siblings());
        try (TensorSource s = Checkpoints.open(target)) {
            assertSameValues(smallStateDict(2).get("model.norm.weight"), s.load("model.norm.weight"), "new");
        }
    }

    @Test
    void theTargetCanBeItsOwnTokenizerSource() throws IOException {
        ModelFolderWriter.save(target, smallStateDict(1), CONFIG, tokenizer, Options.defaults());
        ModelFolderWriter.save(target, smallStateDict(2), CONFIG, target, Options.defaults());
        assertEquals(Files.readString(tokenizer.resolve("tokenizer_config.json")),
                Files.readString(target.resolve("tokenizer_config.json")));
    }

    @Test
    void aTensorThatFailsMidwayLeavesThePreviousFolderByteIdentical() throws IOException {
        ModelFolderWriter.save(target, smallStateDict(1), CONFIG, tokenizer, SHARDED);
        Map<String, byte[]> before = snapshot(target);

        // a meta tensor has a shape but no data: planning passes, writing its shard fails after earlier shards
        LinkedHashMap<String, Tensor> state = smallStateDict(2);
        state.put("lm_head.weight", torch.empty(new long[] {11, 8},
                new TensorOptions(ScalarType.Float).device(new DeviceOptional(new Device("meta"))), new MemoryFormatOptional()));
        String message = assertCheckpointError(
                () -> ModelFolderWriter.save(target, state, CONFIG, tokenizer, SHARDED),
                target.toString(), "previous folder is untouched", "model-00004-of-00004.safetensors",
                "lm_head.weight");
        assertSameFiles(before, snapshot(target), "after " + message);
        assertEquals(List.of("model"), siblings(), "the temporary folder is removed");
    }

    @Test
    void aStateDictWhoseIterationThrowsLeavesThePreviousFolderByteIdentical() throws IOException {
        ModelFolderWriter.save(target, smallStateDict(1), CONFIG, tokenizer, SHARDED);
        Map<String, byte[]> before = snapshot(target);
        Map<String, Tensor> exploding = new AbstractMap<>() {
            @Override
            public Set<Entry<String, Tensor>> entrySet() {
                return new AbstractSet<>() {
                    @Override
                    public Iterator<Entry<String, Tensor>> iterator() {
                        Iterator<Entry<String, Tensor>> it = smallStateDict(2).entrySet().iterator();
                        return new Iterator<>() {
                            int served;

                            @Override
                            public boolean hasNext() {
                                return true;
                            }

                            @Override
                            public Entry<String, Tensor> next() {
                                if (++served > 3) {
                                    throw new IllegalStateException("parameter store went away");
                                }
                                return it.next();
                            }
                        };
                    }

                    @Override
                    public int size() {
                        return 6;
                    }
                };
            }
        };
        assertCheckpointError(() -> ModelFolderWriter.save(target, exploding, CONFIG, tokenizer, SHARDED),
                "parameter store went away");
        assertSameFiles(before, snapshot(target), "after a failing iteration");
        assertEquals(List.of("model"), siblings());
    }

    @Test
    void aCrashAtAnyStepLeavesTheOldOrTheNewCheckpointAndTheNextSaveCleansUp() throws IOException {
        for (Step step : Step.values()) {
            ModelFolderWriter.save(target, smallStateDict(1), CONFIG, tokenizer, SHARDED);
            Map<String, byte[]> before = snapshot(target);
            assertThrows(SimulatedCrash.class, () -> ModelFolderWriter.save(target, smallStateDict(2),
                    new ObjectMapper().readTree(CONFIG), tokenizer, Options.defaults(),
                    reached -> {
                        if (reached == step) {
                            throw new SimulatedCrash(step);
                        }
                    }));
            switch (step) {
                case TEMP_WRITTEN -> assertSameFiles(before, snapshot(target), step + ": old folder in place");
                case TARGET_MOVED_ASIDE -> {
                    // the one window where the name is missing: the old folder sits complete under .model.old-*
                    assertFalse(Files.exists(target));
                    assertCheckpointError(() -> Checkpoints.open(target), "interrupted", ".model.old-", "recover");
                    assertTrue(ModelFolderWriter.recover(target));
                    assertSameFiles(before, snapshot(target), step + ": old folder restored");
                }
                case NEW_IN_PLACE -> {
                    Map<String, byte[]> after = snapshot(target);
                    assertNotEquals(before.keySet(), after.keySet());
                    try (TensorSource s = Checkpoints.open(target)) {
                        assertSameValues(smallStateDict(2).get("lm_head.weight"), s.load("lm_head.weight"), "new");
                    }
                }
                default -> throw new AssertionError(step);
            }
            assertTrue(siblings().size() > 1, step + ": leftovers of the crash");

            ModelFolderWriter.save(target, smallStateDict(3), CONFIG, null, Options.defaults());
            assertEquals(List.of("model"), siblings(), step + ": the next save removes the leftovers");
            try (TensorSource s = Checkpoints.open(target)) {
                assertSameValues(smallStateDict(3).get("lm_head.weight"), s.load("lm_head.weight"), "after");
            }
        }
    }

    @Test
    void aSaveAfterACrashBetweenTheRenamesRestoresFirst() throws IOException {
        ModelFolderWriter.save(target, smallStateDict(1), CONFIG, tokenizer, Options.defaults());
        assertThrows(SimulatedCrash.class, () -> ModelFolderWriter.save(target, smallStateDict(2),
                new ObjectMapper().readTree(CONFIG), null, Options.defaults(), reached -> {
                    if (reached == Step.TARGET_MOVED_ASIDE) {
                        throw new SimulatedCrash(reached);
                    }
                }));
        // the next save fails early (bad tokenizer folder): the old checkpoint must be back in place anyway
        Map<String, byte[]> expected = snapshot(root.resolve("runs").resolve(siblings().stream()
                .filter(n -> n.startsWith(".model.old-")).findFirst().orElseThrow()));
        Files.delete(tokenizer.resolve("tokenizer.json"));
        Files.delete(tokenizer.resolve("tokenizer_config.json"));
        Files.delete(tokenizer.resolve("generation_config.json"));
        assertCheckpointError(() -> ModelFolderWriter.save(target, smallStateDict(3), CONFIG, tokenizer,
                Options.defaults()), "none of the tokenizer files");
        assertFalse(Files.exists(target), "nothing was changed before the arguments were checked");
        assertTrue(ModelFolderWriter.recover(target));
        assertSameFiles(expected, snapshot(target), "restored");
        assertFalse(ModelFolderWriter.recover(target), "nothing left to recover");
    }

    @Test
    void refusesARegularFileTargetAndBadArguments() throws IOException {
        Files.createDirectories(target.getParent());
        Files.writeString(target, "precious");
        assertCheckpointError(() -> ModelFolderWriter.save(target, smallStateDict(1), CONFIG, null,
                Options.defaults()), target.toString(), "not a folder");
        assertEquals("precious", Files.readString(target));
        Files.delete(target);

        assertThrows(IllegalArgumentException.class, () -> ModelFolderWriter.save(target, smallStateDict(1),
                "{\"model_type\": ", null, Options.defaults()));
        assertThrows(IllegalArgumentException.class, () -> ModelFolderWriter.save(target, smallStateDict(1),
                "[1]", null, Options.defaults()));
        assertThrows(IllegalArgumentException.class, () -> Options.defaults().dtype(ScalarType.Double));
        assertThrows(IllegalArgumentException.class, () -> Options.defaults().maxShardBytes(0));
        assertCheckpointError(() -> ModelFolderWriter.save(target, smallStateDict(1), CONFIG,
                root.resolve("no-such-tokenizer"), Options.defaults()), "no-such-tokenizer", "not a folder");
        assertFalse(Files.exists(target));
        assertEquals(List.of(), siblings());
    }
}
