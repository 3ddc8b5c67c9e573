package org.tasft.checkpoint;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import org.bytedeco.pytorch.Tensor;

/**
 * A sharded Hugging Face checkpoint: {@code model.safetensors.index.json}
 * ({@code {"metadata": {"total_size": ...}, "weight_map": {tensor: shard file}}}) and the shards it names, opened
 * together. The index and the shards must agree exactly: every tensor the index names is in its shard, and every
 * tensor of a shard is in the index under that shard (a disagreement is a partial download or a hand-edited folder,
 * and loading would silently use the wrong or no weights).
 */
public final class ShardedSafetensors implements TensorSource {
    private final Path index;
    private final List<SafetensorsFile> shards;
    private final Map<String, SafetensorsFile> byTensor;
    private final Map<String, String> metadata;

    private ShardedSafetensors(Path index, List<SafetensorsFile> shards, Map<String, SafetensorsFile> byTensor,
            Map<String, String> metadata) {
        this.index = index;
        this.shards = shards;
        this.byTensor = byTensor;
        this.metadata = metadata;
    }

    /** Opens the index file and every shard it names (shards are found next to the index). */
    public static ShardedSafetensors open(Path index) {
        SafetensorsFile.requireRegularFile(index); // a folder or a FIFO: a clear error, not a read that blocks
        JsonNode root;
        try {
            root = SafetensorsFile.JSON.readTree(Files.readAllBytes(index));
        } catch (NoSuchFileException e) {
            throw new CheckpointException(index + ": no such file");
        } catch (JsonProcessingException e) {
            throw new CheckpointException(index + ": not valid JSON: " + e.getOriginalMessage(), e);
        } catch (IOException e) {
            throw new CheckpointException(index + ": cannot read: " + e, e);
        }
        if (root == null || !root.isObject()) {
            throw new CheckpointException(index + ": not a JSON object");
        }
        JsonNode weightMap = root.get("weight_map");
        if (weightMap == null || !weightMap.isObject()) {
            throw new CheckpointException(index + ": no \"weight_map\" object");
        }
        Map<String, String> metadata = new LinkedHashMap<>();
        JsonNode meta = root.get("metadata");
        if (meta != null && meta.isObject()) {
            for (Iterator<Map.Entry<String, JsonNode>> it = meta.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> f = it.next();
                metadata.put(f.getKey(), f.getValue().isTextual() ? f.getValue().asText() : f.getValue().toString());
            }
        }

        // shard file -> the tensors the index puts there; shards in name order (model-00001-of-... first)
        Path dir = index.toAbsolutePath().getParent();
        TreeMap<String, List<String>> planned = new TreeMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = weightMap.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> f = it.next();
            if (!f.getValue().isTextual()) {
                throw new CheckpointException(index + ": weight_map entry for tensor " + f.getKey()
                        + " is not a file name: " + f.getValue());
            }
            String shard = f.getValue().asText();
            Path resolved = dir.resolve(shard).normalize();
            if (shard.isEmpty() || !dir.equals(resolved.getParent())) {
                throw new CheckpointException(index + ": weight_map puts tensor " + f.getKey() + " in \"" + shard
                        + "\", which is not a file name in " + dir);
            }
            planned.computeIfAbsent(shard, k -> new ArrayList<>()).add(f.getKey());
        }
        if (planned.isEmpty()) {
            throw new CheckpointException(index + ": weight_map is empty");
        }

        List<SafetensorsFile> shards = new ArrayList<>();
        try {
            for (Map.Entry<String, List<String>> p : planned.entrySet()) {
                Path shardPath = dir.resolve(p.getKey());
                if (!Files.exists(shardPath)) { // a folder or a FIFO there: SafetensorsFile.open names it
                    throw new CheckpointException(index + ": weight_map puts tensor " + p.getValue().get(0)
                            + (p.getValue().size() > 1 ? " (and " + (p.getValue().size() - 1) + " more)" : "")
                            + " in shard " + p.getKey() + ", which does not exist in " + dir
                            + " (an incomplete download?)");
                }
                shards.add(SafetensorsFile.open(shardPath));
            }
            Map<String, SafetensorsFile> byTensor = new LinkedHashMap<>();
            int i = 0;
            for (Map.Entry<String, List<String>> p : planned.entrySet()) {
                SafetensorsFile shard = shards.get(i++);
                for (String name : p.getValue()) {
                    if (!shard.names().contains(name)) {
                        throw new CheckpointException(index + ": weight_map puts tensor " + name + " in shard "
                                + shard.file() + ", which has no such tensor");
                    }
                }
                Set<String> listed = Set.copyOf(p.getValue());
                for (String name : shard.names()) {
                    if (!listed.contains(name)) {
                        String other = weightMap.has(name) ? "puts it in " + weightMap.get(name).asText()
                                : "does not list it";
                        throw new CheckpointException(shard.file() + ": holds tensor " + name + " but the index "
                                + index + " " + other);
                    }
                    byTensor.put(name, shard);
                }
            }
            return new ShardedSafetensors(index, Collections.unmodifiableList(shards),
                    Collections.unmodifiableMap(byTensor), Collections.unmodifiableMap(metadata));
        } catch (RuntimeException e) {
            shards.forEach(SafetensorsFile::close);
            throw e;
        }
    }

    public Path index() {
        return index;
    }

    /** The shards, in file-name order. */
    public List<SafetensorsFile> shards() {
        return shards;
    }

    /** The index's {@code metadata} (e.g. {@code total_size}, as JSON text where it is not a string). */
    public Map<String, String> metadata() {
        return metadata;
    }

    /** Every tensor name: shard by shard, in file order within a shard. */
    @Override
    public Set<String> names() {
        return byTensor.keySet();
    }

    @Override
    public TensorInfo info(String name) {
        return shard(name).info(name);
    }

    @Override
    public Tensor load(String name) {
        return shard(name).load(name);
    }

    @Override
    public void loadInto(String name, Tensor target) {
        shard(name).loadInto(name, target);
    }

    @Override
    public void close() {
        shards.forEach(SafetensorsFile::close);
    }

    @Override
    public String location() {
        return index.toString();
    }

    @Override
    public String toString() {
        return "ShardedSafetensors[" + index + ", " + shards.size() + " shards, " + byTensor.size() + " tensors]";
    }

    private SafetensorsFile shard(String name) {
        SafetensorsFile shard = byTensor.get(name);
        if (shard == null) {
            throw new CheckpointException(index + ": no tensor named " + name + " in the " + shards.size()
                    + " shards (" + byTensor.size() + " tensors)");
        }
        return shard;
    }
}
