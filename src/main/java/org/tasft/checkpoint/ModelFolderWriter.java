package org.tasft.checkpoint;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Objects;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * Saves a Hugging Face model folder (weights, config.json, tokenizer files) so that a crash at any moment leaves
 * either the previous complete folder or the new complete one, never a mix or a half-written file.
 *
 * <p>How: everything is written into a temporary sibling {@code .<name>.tmp-<random>} and forced to disk (files and
 * folder); then an existing target is renamed aside to {@code .<name>.old-<random>}, the temporary folder is renamed
 * to the target, the parent folder is forced, and the old folder is deleted. Renames within one file system are
 * atomic. Between the two renames the target name is briefly absent while the previous checkpoint sits complete
 * under its {@code .old-} name: {@link #recover(Path)} (which every save runs first) renames it back. Leftover
 * {@code .tmp-} and {@code .old-} folders of interrupted saves are deleted by the next save of the same target.
 *
 * <p>One writer per target at a time: a second save of the same target running concurrently would delete the
 * first one's temporary folder.
 */
public final class ModelFolderWriter {
    /** The files copied from a tokenizer folder when present (Hugging Face's names). */
    public static final List<String> TOKENIZER_FILES = List.of("tokenizer.json", "tokenizer_config.json",
            "special_tokens_map.json", "generation_config.json", "added_tokens.json", "chat_template.jinja",
            "tokenizer.model", "vocab.json", "merges.txt");

    static final String TMP_MARK = ".tmp-";
    static final String OLD_MARK = ".old-";

    /** The points where a test can simulate a crash (by throwing an Error, which skips all clean-up). */
    enum Step {
        TEMP_WRITTEN, TARGET_MOVED_ASIDE, NEW_IN_PLACE
    }

    interface StepListener {
        void reached(Step step);
    }

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
        Objects.requireNonNull(configJson, "configJson");
        JsonNode config;
        try {
            config = SafetensorsFile.JSON.readTree(configJson);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("configJson: not valid JSON: " + e.getOriginalMessage(), e);
        }
        save(target, stateDict, config, tokenizerSourceDir, options);
    }

    static void save(Path target, Map<String, Tensor> stateDict, JsonNode config, Path tokenizerSourceDir,
            Options options, StepListener listener) {
        Objects.requireNonNull(target, "target");
        Objects.requireNonNull(stateDict, "stateDict");
        Objects.requireNonNull(options, "options");
        Path absolute = target.toAbsolutePath().normalize();
        if (absolute.getFileName() == null) {
            throw new IllegalArgumentException("target: " + target + " has no folder name");
        }
        if (Files.exists(absolute, LinkOption.NOFOLLOW_LINKS) && !Files.isDirectory(absolute)) {
            throw new CheckpointException(absolute + ": exists and is not a folder; refusing to replace it");
        }
        List<Path> tokenizerFiles = tokenizerFiles(tokenizerSourceDir);
        Path parent = absolute.getParent();
        try {
            Files.createDirectories(parent);
        } catch (IOException e) {
            throw new CheckpointException(parent + ": cannot create the parent folder: " + e, e);
        }
        recover(absolute);
        for (Path leftover : leftovers(absolute, TMP_MARK)) {
            deleteQuietly(leftover);
        }
        for (Path leftover : leftovers(absolute, OLD_MARK)) {
            deleteQuietly(leftover);
        }

        String name = absolute.getFileName().toString();
        Path tmp = parent.resolve("." + name + TMP_MARK + SafetensorsWriter.randomSuffix());
        Path old = null;
        boolean moved = false;
        try {
            Files.createDirectory(tmp);
            SafetensorsWriter.writeSharded(tmp, stateDict, options.maxShardBytes(), null, options.dtype(), true);
            SafetensorsWriter.writeBytes(tmp.resolve(Checkpoints.CONFIG_FILE),
                    SafetensorsWriter.prettyJson(config), true);
            for (Path source : tokenizerFiles) {
                Path copy = tmp.resolve(source.getFileName().toString());
                Files.copy(source, copy, StandardCopyOption.REPLACE_EXISTING);
                force(copy);
            }
            force(tmp);
            listener.reached(Step.TEMP_WRITTEN);

            if (Files.exists(absolute, LinkOption.NOFOLLOW_LINKS)) {
                old = parent.resolve("." + name + OLD_MARK + SafetensorsWriter.randomSuffix());
                Files.move(absolute, old, StandardCopyOption.ATOMIC_MOVE);
                listener.reached(Step.TARGET_MOVED_ASIDE);
            }
            Files.move(tmp, absolute, StandardCopyOption.ATOMIC_MOVE);
            moved = true;
            force(parent);
            listener.reached(Step.NEW_IN_PLACE);
        } catch (IOException | RuntimeException e) {
            // Errors (out of memory, a simulated crash) skip this on purpose: the next save cleans up after them
            if (!moved) {
                if (old != null && !Files.exists(absolute, LinkOption.NOFOLLOW_LINKS)) {
                    try {
                        Files.move(old, absolute, StandardCopyOption.ATOMIC_MOVE);
                        old = null;
                    } catch (IOException restore) {
                        e.addSuppressed(restore);
                    }
                }
                deleteQuietly(tmp);
            }
            String state = moved ? "the new folder is in place but may not be durable yet"
                    : "the previous folder is untouched";
            throw new CheckpointException(absolute + ": save failed (" + state + "): "
                    + (e instanceof CheckpointException ? e.getMessage() : e.toString()), e);
        }
        if (old != null) {
            deleteQuietly(old);
        }
    }

    /**
     * Repairs what an interrupted save can leave: if {@code target} is missing while a previous checkpoint sits
     * renamed aside ({@code .<name>.old-*}), renames the newest such folder back. Returns whether it did.
     */
    public static boolean recover(Path target) {
        Path absolute = target.toAbsolutePath().normalize();
        if (Files.exists(absolute, LinkOption.NOFOLLOW_LINKS)) {
            return false;
        }
        List<Path> aside = leftovers(absolute, OLD_MARK);
        if (aside.isEmpty()) {
            return false;
        }
        try {
            Files.move(aside.get(0), absolute, StandardCopyOption.ATOMIC_MOVE);
            force(absolute.getParent());
            return true;
        } catch (IOException e) {
            throw new CheckpointException(absolute + ": cannot restore the previous checkpoint from " + aside.get(0)
                    + ": " + e, e);
        }
    }

    /** The {@code .<name><mark>*} siblings of a target, newest first. */
    static List<Path> leftovers(Path target, String mark) {
        Path absolute = target.toAbsolutePath().normalize();
        Path parent = absolute.getParent();
        if (parent == null || absolute.getFileName() == null || !Files.isDirectory(parent)) {
            return List.of();
        }
        String prefix = "." + absolute.getFileName() + mark;
        List<Path> found = new ArrayList<>();
        try (DirectoryStream<Path> s = Files.newDirectoryStream(parent, p -> p.getFileName().toString()
                .startsWith(prefix))) {
            s.forEach(found::add);
        } catch (IOException e) {
            return List.of();
        }
        found.sort(Comparator.comparing(ModelFolderWriter::modified).reversed());
        return found;
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

    private static long modified(Path p) {
        try {
            return Files.getLastModifiedTime(p, LinkOption.NOFOLLOW_LINKS).toMillis();
        } catch (IOException e) {
            return 0;
        }
    }

    /** fsync of a file or a folder (a folder's entry list is what makes a rename durable). */
    private static void force(Path p) throws IOException {
        try (FileChannel c = FileChannel.open(p, StandardOpenOption.READ)) {
            c.force(true);
        } catch (IOException e) {
            if (!Files.isDirectory(p)) {
                throw e;
            }
            // some file systems refuse to open or sync a folder; the files themselves were synced
        }
    }

    private static void deleteQuietly(Path root) {
        if (!Files.exists(root, LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        try {
            Files.walkFileTree(root, new SimpleFileVisitor<>() {
                @Override
                public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
                    Files.delete(file);
                    return FileVisitResult.CONTINUE;
                }

                @Override
                public FileVisitResult postVisitDirectory(Path dir, IOException e) throws IOException {
                    Files.delete(dir);
                    return FileVisitResult.CONTINUE;
                }
            });
        } catch (IOException e) {
            // a leftover that the next save tries again to remove
        }
    }
}
