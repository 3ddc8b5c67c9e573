package org.tasft.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.Function;

import org.tasft.model.CausalLm;
import org.tasft.model.ModelConfig;
import org.tasft.model.Models;
import org.tasft.model.Placement;
import org.tasft.tokenizer.Tokenizer;

/** A Hugging Face model folder named on the command line: config.json, weights, maybe tokenizer.json. */
final class ModelFolder {
    /** How a model folder becomes a model (config.json, then the safetensors weights); tests may swap in another. */
    static final Function<Path, CausalLm> DEFAULT_LOADER = Models::load;
    static volatile Function<Path, CausalLm> loader = DEFAULT_LOADER;

    private final Path dir;

    ModelFolder(Path dir) {
        try {
            ModelConfig.requireFolder(dir, "--model"); // missing, unreadable (permission), no config.json, ...
        } catch (IllegalArgumentException e) {
            throw new UsageException(e.getMessage(), e);
        }
        this.dir = dir;
    }

    Path dir() {
        return dir;
    }

    /** Whether the folder has a tokenizer.json (one that is a folder or a FIFO counts: loading it names the fault). */
    boolean hasTokenizer() {
        return Files.exists(dir.resolve(Tokenizer.FILE_NAME));
    }

    /** The folder's tokenizer; a usage error naming the file when there is none. */
    Tokenizer tokenizer(String why) {
        if (!hasTokenizer()) {
            throw new UsageException(why + " needs " + dir.resolve(Tokenizer.FILE_NAME) + ", which does not exist");
        }
        return Tokenizer.load(dir);
    }

    CausalLm loadModel() {
        return loader.apply(dir);
    }

    /** The model placed on a device in a dtype (read straight into place, see {@link Models#load(Path, Placement)}). */
    CausalLm loadModel(Placement placement) {
        Function<Path, CausalLm> l = loader;
        if (placement.isDefault()) {
            return l.apply(dir);
        }
        return l == DEFAULT_LOADER ? Models.load(dir, placement) : placement.apply(l.apply(dir));
    }
}
