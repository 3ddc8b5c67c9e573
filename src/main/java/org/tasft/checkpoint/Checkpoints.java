package org.tasft.checkpoint;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/** Opens the weights of a Hugging Face model folder, sharded or not, as one {@link TensorSource}. */
public final class Checkpoints {
    /** The weights of an unsharded checkpoint. */
    public static final String SINGLE_FILE = "model.safetensors";
    /** The index of a sharded checkpoint; its shards are {@code model-0000K-of-0000N.safetensors}. */
    public static final String INDEX_FILE = "model.safetensors.index.json";
    public static final String CONFIG_FILE = "config.json";

    private Checkpoints() {
    }

    /**
     * The tensors of {@code path}: a folder with {@code model.safetensors}, or with
     * {@code model.safetensors.index.json} and its shards (the single file wins when both are there, as in
     * transformers), or a single {@code .safetensors} file.
     */
    public static TensorSource open(Path path) {
        if (!Files.isDirectory(path) && Files.exists(path)) { // a file (a FIFO or a device is refused there)
            if (path.getFileName().toString().endsWith(".json")) {
                return ShardedSafetensors.open(path);
            }
            return SafetensorsFile.open(path);
        }
        if (!Files.isDirectory(path)) {
            throw new CheckpointException(path + ": no such file or folder" + interruptedSaveHint(path));
        }
        // Present under its name, model.safetensors is the weights: a folder or a FIFO there is an error naming it
        Path single = path.resolve(SINGLE_FILE);
        if (Files.exists(single)) {
            return SafetensorsFile.open(single);
        }
        Path index = path.resolve(INDEX_FILE);
        if (Files.exists(index)) {
            return ShardedSafetensors.open(index);
        }
        throw new CheckpointException(path + ": no " + SINGLE_FILE + " or " + INDEX_FILE + " in this folder"
                + whatIsThere(path));
    }

    private static String whatIsThere(Path dir) {
        List<String> files;
        try (Stream<Path> s = Files.list(dir)) {
            files = s.map(p -> p.getFileName().toString()).sorted().collect(Collectors.toList());
        } catch (IOException e) {
            return "";
        }
        List<String> pickles = files.stream()
                .filter(f -> f.matches("pytorch_model.*\\.bin(\\.index\\.json)?") || f.equals("model.pt")
                        || f.equals("model.pth"))
                .collect(Collectors.toList());
        if (!pickles.isEmpty()) {
            return "; it holds a PyTorch pickle checkpoint (" + String.join(", ", pickles) + "), but only"
                    + " safetensors checkpoints are supported; convert with:"
                    + " python -c \"from transformers import AutoModelForCausalLM;"
                    + " AutoModelForCausalLM.from_pretrained('" + dir + "').save_pretrained('" + dir
                    + "-safetensors', safe_serialization=True)\" (and copy the tokenizer files)";
        }
        List<String> safetensors = files.stream().filter(f -> f.endsWith(".safetensors")).collect(Collectors.toList());
        if (!safetensors.isEmpty()) {
            return "; it has " + String.join(", ", safetensors) + " (open one of those files directly if it is the"
                    + " model)";
        }
        if (files.isEmpty()) {
            return "; the folder is empty";
        }
        return "; it has " + String.join(", ", files.subList(0, Math.min(10, files.size())))
                + (files.size() > 10 ? ", ..." : "");
    }

    private static String interruptedSaveHint(Path path) {
        List<Path> aside = AtomicFolder.leftovers(path, AtomicFolder.OLD_MARK);
        if (aside.isEmpty()) {
            return "";
        }
        return " (a save was interrupted while replacing it: " + aside.get(0).getFileName()
                + " holds the previous checkpoint; ModelFolderWriter.recover(path) puts it back)";
    }
}
