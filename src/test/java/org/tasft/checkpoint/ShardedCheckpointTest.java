package org.tasft.checkpoint;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tasft.checkpoint.CheckpointTesting.assertCheckpointError;
import static org.tasft.checkpoint.CheckpointTesting.assertSameValues;
import static org.tasft.checkpoint.CheckpointTesting.randn;
import static org.tasft.checkpoint.CheckpointTesting.smallStateDict;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Sharded writing as transformers does it, reading it back, and every way index and shards can disagree. */
class ShardedCheckpointTest {
    @TempDir
    Path dir;

    /** smallStateDict's tensors are 352, 256, 160, 32, 32, 352 bytes in float32: 400-byte shards give 4 of them. */
    private List<Path> writeFourShards(Map<String, Tensor> tensors) {
        return SafetensorsWriter.writeSharded(dir, tensors, 400, null, ScalarType.Float);
    }

    private static List<String> fileNames(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().collect(Collectors.toList());
        }
    }

    @Test
    void shardsAndIndexAreLaidOutLikeTransformers() throws IOException {
        LinkedHashMap<String, Tensor> tensors = smallStateDict(10);
        List<Path> written = writeFourShards(tensors);
        assertEquals(List.of("model-00001-of-00004.safetensors", "model-00002-of-00004.safetensors",
                "model-00003-of-00004.safetensors", "model-00004-of-00004.safetensors",
                "model.safetensors.index.json"), fileNames(dir));
        assertEquals(5, written.size());
        JsonNode index = new ObjectMapper().readTree(dir.resolve("model.safetensors.index.json").toFile());
        assertEquals(352 + 256 + 160 + 32 + 32 + 352, index.get("metadata").get("total_size").asLong());
        JsonNode map = index.get("weight_map");
        assertEquals("model-00001-of-00004.safetensors", map.get("model.embed_tokens.weight").asText());
        assertEquals("model-00002-of-00004.safetensors", map.get("model.layers.0.self_attn.q_proj.weight").asText());
        // 160 + 32 + 32 fit together under 400 bytes
        assertEquals("model-00003-of-00004.safetensors", map.get("model.layers.0.mlp.up_proj.weight").asText());
        assertEquals("model-00003-of-00004.safetensors", map.get("model.norm.weight").asText());
        assertEquals("model-00004-of-00004.safetensors", map.get("lm_head.weight").asText());
        List<String> keys = List.copyOf(iterable(map.fieldNames()));
        assertEquals(keys.stream().sorted().collect(Collectors.toList()), keys, "weight_map sorted by name");
        String text = Files.readString(dir.resolve("model.safetensors.index.json"), StandardCharsets.UTF_8);
        assertTrue(text.startsWith("{\n  \"metadata\": {\n    \"total_size\": 1184\n  },\n  \"weight_map\": {\n"),
                text);
        assertTrue(text.endsWith("}\n"));
    }

    @Test
    void shardedCheckpointReadsBackTheSameTensorsInOrder() {
        LinkedHashMap<String, Tensor> tensors = smallStateDict(11);
        writeFourShards(tensors);
        try (TensorSource s = Checkpoints.open(dir)) {
            assertInstanceOf(ShardedSafetensors.class, s);
            assertEquals(List.copyOf(tensors.keySet()), List.copyOf(s.names()));
            assertEquals(4, ((ShardedSafetensors) s).shards().size());
            assertEquals("1184", ((ShardedSafetensors) s).metadata().get("total_size"));
            assertEquals(dir.resolve("model-00004-of-00004.safetensors"), s.info("lm_head.weight").file());
            for (Map.Entry<String, Tensor> e : tensors.entrySet()) {
                assertSameValues(e.getValue(), s.load(e.getKey()), e.getKey());
            }
            assertCheckpointError(() -> s.load("nope"), "model.safetensors.index.json", "no tensor named nope");
        }
        // the index file itself is accepted as the path too
        try (TensorSource s = Checkpoints.open(dir.resolve(Checkpoints.INDEX_FILE))) {
            assertEquals(6, s.names().size());
        }
    }

    @Test
    void aTensorLargerThanTheShardSizeGetsAShardOfItsOwn() throws IOException {
        LinkedHashMap<String, Tensor> tensors = new LinkedHashMap<>();
        tensors.put("small.a", randn(1, 4));
        tensors.put("huge", randn(2, 100));
        tensors.put("small.b", randn(3, 4));
        SafetensorsWriter.writeSharded(dir, tensors, 64, null, ScalarType.BFloat16);
        JsonNode map = new ObjectMapper().readTree(dir.resolve(Checkpoints.INDEX_FILE).toFile()).get("weight_map");
        assertEquals("model-00001-of-00003.safetensors", map.get("small.a").asText());
        assertEquals("model-00002-of-00003.safetensors", map.get("huge").asText());
        assertEquals("model-00003-of-00003.safetensors", map.get("small.b").asText());
        try (TensorSource s = Checkpoints.open(dir)) {
            assertEquals("BF16", s.info("huge").dtype());
        }
    }

    @Test
    void oneShardIsASingleModelFileAndStaleWeightFilesGo() throws IOException {
        writeFourShards(smallStateDict(12));
        Files.writeString(dir.resolve("config.json"), "{}");
        List<Path> written = SafetensorsWriter.writeSharded(dir, smallStateDict(13));
        assertEquals(List.of(dir.resolve("model.safetensors")), written);
        assertEquals(List.of("config.json", "model.safetensors"), fileNames(dir), "only weight files are removed");
        try (TensorSource s = Checkpoints.open(dir)) {
            assertInstanceOf(SafetensorsFile.class, s);
            assertSameValues(smallStateDict(13).get("lm_head.weight"), s.load("lm_head.weight"), "lm_head");
        }
    }

    @Test
    void missingShard() throws IOException {
        writeFourShards(smallStateDict(14));
        Files.delete(dir.resolve("model-00002-of-00004.safetensors"));
        assertCheckpointError(() -> Checkpoints.open(dir), dir.resolve(Checkpoints.INDEX_FILE).toString(),
                "model-00002-of-00004.safetensors", "does not exist", "model.layers.0.self_attn.q_proj.weight");
    }

    @Test
    void indexNamesATensorItsShardDoesNotHave() throws IOException {
        writeFourShards(smallStateDict(15));
        editIndex(map -> map.put("model.layers.0.ghost.weight", "model-00003-of-00004.safetensors"));
        assertCheckpointError(() -> Checkpoints.open(dir), Checkpoints.INDEX_FILE, "model.layers.0.ghost.weight",
                "model-00003-of-00004.safetensors", "has no such tensor");
    }

    @Test
    void shardLacksATensorTheIndexPutsThere() {
        LinkedHashMap<String, Tensor> tensors = smallStateDict(16);
        writeFourShards(tensors);
        // rewrite shard 3 without model.norm.weight
        LinkedHashMap<String, Tensor> shard3 = new LinkedHashMap<>();
        shard3.put("model.layers.0.mlp.up_proj.weight", tensors.get("model.layers.0.mlp.up_proj.weight"));
        shard3.put("model.layers.0.input_layernorm.weight", tensors.get("model.layers.0.input_layernorm.weight"));
        SafetensorsWriter.write(dir.resolve("model-00003-of-00004.safetensors"), shard3);
        assertCheckpointError(() -> Checkpoints.open(dir), Checkpoints.INDEX_FILE, "model.norm.weight",
                "model-00003-of-00004.safetensors", "has no such tensor");
    }

    @Test
    void shardHoldsATensorTheIndexDoesNotList() throws IOException {
        LinkedHashMap<String, Tensor> tensors = smallStateDict(17);
        writeFourShards(tensors);
        editIndex(map -> map.remove("model.norm.weight"));
        assertCheckpointError(() -> Checkpoints.open(dir), "model-00003-of-00004.safetensors",
                "holds tensor model.norm.weight", "does not list it");
        // or lists it under another shard
        editIndex(map -> map.put("model.norm.weight", "model-00001-of-00004.safetensors"));
        assertCheckpointError(() -> Checkpoints.open(dir), "model.norm.weight");
    }

    @Test
    void brokenIndexFiles() throws IOException {
        writeFourShards(smallStateDict(18));
        Path index = dir.resolve(Checkpoints.INDEX_FILE);
        Files.writeString(index, "{\"weight_map\": {\"a\": ");
        assertCheckpointError(() -> Checkpoints.open(dir), index.toString(), "not valid JSON");
        Files.writeString(index, "{\"metadata\": {}}");
        assertCheckpointError(() -> Checkpoints.open(dir), index.toString(), "no \"weight_map\"");
        Files.writeString(index, "{\"weight_map\": {\"a\": \"../elsewhere.safetensors\"}}");
        assertCheckpointError(() -> Checkpoints.open(dir), index.toString(), "tensor a", "not a file name in");
        // a shard that is itself corrupt is named as such
        writeFourShards(smallStateDict(18));
        Files.write(dir.resolve("model-00004-of-00004.safetensors"), new byte[] {0, 1});
        assertCheckpointError(() -> Checkpoints.open(dir), "model-00004-of-00004.safetensors", "shorter than");
    }

    @Test
    void foldersWithoutASafetensorsCheckpointSayWhatWasExpected() throws IOException {
        assertCheckpointError(() -> Checkpoints.open(dir), dir.toString(), "no model.safetensors or "
                + "model.safetensors.index.json", "empty");
        Files.writeString(dir.resolve("config.json"), "{}");
        Files.write(dir.resolve("pytorch_model.bin"), new byte[] {1});
        assertCheckpointError(() -> Checkpoints.open(dir), "pytorch_model.bin",
                "only safetensors checkpoints are supported", "convert with", "save_pretrained");
        Files.delete(dir.resolve("pytorch_model.bin"));
        SafetensorsWriter.write(dir.resolve("adapter_model.safetensors"), smallStateDict(1));
        assertCheckpointError(() -> Checkpoints.open(dir), "adapter_model.safetensors");
        Path nowhere = dir.resolve("nowhere");
        assertCheckpointError(() -> Checkpoints.open(nowhere), nowhere.toString(), "no such file or folder");
        assertFalse(Files.exists(nowhere));
    }

    private void editIndex(java.util.function.Consumer<ObjectNode> edit) throws IOException {
        Path index = dir.resolve(Checkpoints.INDEX_FILE);
        ObjectMapper json = new ObjectMapper();
        ObjectNode root = (ObjectNode) json.readTree(index.toFile());
        edit.accept((ObjectNode) root.get("weight_map"));
        json.writeValue(index.toFile(), root);
    }

    private static <T> List<T> iterable(java.util.Iterator<T> it) {
        List<T> out = new java.util.ArrayList<>();
        it.forEachRemaining(out::add);
        return out;
    }
}
