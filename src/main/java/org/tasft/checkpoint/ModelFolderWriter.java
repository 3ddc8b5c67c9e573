package org.tasft.checkpoint;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * Saves a Hugging Face model folder (weights, config.json, tokenizer files) through {@link AtomicFolder}, so that a
 * crash at any moment leaves either the previous complete folder or the new complete one, never a mix or a
 * half-written file.
 */
public final class ModelFolderWriter {
    /** The files copied from a tokenizer folder when present (Hugging Face's names). */
    public static final List<String> TOKENIZER_FILES = List.of("tokenizer.json", "tokenizer_config.json",
            "special_tokens_map.json", "generation_config.json", "added_tokens.json", "chat_template.jinja",
            "tokenizer.model", "vocab.json", "merges.txt");

    /** How the weights are written; immutable, with withers. */
    public static final class Options {
        private static final Options DEFAULTS = new Options(ScalarType.Float,
                SafetensorsWriter.DEFAULT_MAX_SHARD_BYTES);

        private final ScalarType dtype;
        private final long maxShardBytes;

        private Options(ScalarType dtype, long maxShardBytes) {
            SafetensorsDtype.forWriting(dtype);
            if (maxShardBytes <= 0) {
                throw new IllegalArgumentException("maxShardBytes: must be > 0, got " + maxShardBytes);
            }
            this.dtype = dtype;
            this.maxShardBytes = maxShardBytes;
        }

        /** float32, shards of at most 5 GB (transformers' default). */
        public static Options defaults() {
            return DEFAULTS;
        }

        /** {@code Float}, {@code Half} or {@code BFloat16}. */
        public Options dtype(ScalarType value) {
            return new Options(Objects.requireNonNull(value, "dtype"), maxShardBytes);
        }

        public Options maxShardBytes(long value) {
            return new Options(dtype, value);
        }

        public ScalarType dtype() {
            return dtype;
        }

        public long maxShardBytes() {
            return maxShardBytes;
        }
    }

    private ModelFolderWriter() {
    }

    /** {@link #save(Path, Map, String, Path, Options)} with a parsed config. */
    public static void save(Path target, Map<String, Tensor> stateDict, JsonNode config, Path tokenizerSourceDir,
            Options options) {
        Objects.requireNonNull(config, "config");
        if (!config.isObject()) {
            throw new IllegalArgumentException("config: must be a JSON object, got " + config.getNodeType());
        }
        save(target, stateDict, config, tokenizerSourceDir, options, step -> { });
    }

    /**
     * Atomically replaces {@code target} with a model folder holding {@code stateDict} (in its order; see
     * {@link SafetensorsWriter#writeSharded}), {@code config.json} and the {@link #TOKENIZER_FILES} found in
     * {@code tokenizerSourceDir} (null: no tokenizer). The source folder may be the target itself. On failure the
     * previous folder is untouched and a {@link CheckpointException} says what failed.
     *
     * @param configJson the config.json text, a JSON object; written pretty-printed
     */
    public static void save(Path target, Map<String, Tensor> stateDict, String configJson, Path tokenizerSourceDir,
            Options options) {
        save(target, stateDict, parseConfig(configJson), tokenizerSourceDir, options);
    }

    static void save(Path target, Map<String, Tensor> stateDict, JsonNode config, Path tokenizerSourceDir,
            Options options, AtomicFolder.StepListener listener) {
        Objects.requireNonNull(target, "target");
        Objects.requireNonNull(stateDict, "stateDict");
        Objects.requireNonNull(options, "options");
        AtomicFolder.checkTarget(target);
        List<Path> tokenizerFiles = tokenizerFiles(tokenizerSourceDir);  // checked before anything is touched
        AtomicFolder.replace(target, dir -> write(dir, stateDict, config, tokenizerFiles, options), listener);
    }

    /**
     * Writes the folder's files into {@code dir}, an existing folder, WITHOUT the atomic swap: for callers that put
     * more files beside the model inside their own {@link AtomicFolder#replace} (training checkpoints).
     */
    public static void writeInto(Path dir, Map<String, Tensor> stateDict, String configJson, Path tokenizerSourceDir,
            Options options) throws IOException {
        Objects.requireNonNull(stateDict, "stateDict");
        Objects.requireNonNull(options, "options");
        write(dir, stateDict, parseConfig(configJson), tokenizerFiles(tokenizerSourceDir), options);
    }

    private static void write(Path dir, Map<String, Tensor> stateDict, JsonNode config, List<Path> tokenizerFiles,
            Options options) throws IOException {
        SafetensorsWriter.writeSharded(dir, stateDict, options.maxShardBytes(), null, options.dtype(), true);
        SafetensorsWriter.writeBytes(dir.resolve(Checkpoints.CONFIG_FILE), SafetensorsWriter.prettyJson(config), true);
        for (Path source : tokenizerFiles) {
            Files.copy(source, dir.resolve(source.getFileName().toString()), StandardCopyOption.REPLACE_EXISTING);
        }
    }

    /** {@link AtomicFolder#recover(Path)}: puts back a previous folder that an interrupted save left aside. */
    public static boolean recover(Path target) {
        return AtomicFolder.recover(target);
    }

    private static List<Path> tokenizerFiles(Path dir) {
        if (dir == null) {
            return List.of();
        }
        if (!Files.isDirectory(dir)) {
            throw new CheckpointException(dir + ": tokenizer source is not a folder");
        }
        List<Path> found = new ArrayList<>();
        for (String f : TOKENIZER_FILES) {
            Path p = dir.resolve(f);
            if (Files.isRegularFile(p)) {
                found.add(p);
            }
        }
        if (found.isEmpty()) {
            throw new CheckpointException(dir + ": none of the tokenizer files " + TOKENIZER_FILES
                    + " is there; pass null to save without a tokenizer");
        }
        return found;
    }

    private static JsonNode parseConfig(String configJson) {
        Objects.requireNonNull(configJson, "configJson");
        JsonNode config;
        try {
            config = SafetensorsFile.JSON.readTree(configJson);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("configJson: not valid JSON: " + e.getOriginalMessage(), e);
        }
        if (config == null || !config.isObject()) {
            throw new IllegalArgumentException("configJson: must be a JSON object");
        }
        return config;
    }
}
