package org.tasft.cli;

import java.nio.file.Path;

import picocli.CommandLine.Option;

/** {@code --model DIR}, required, for the commands that run a model (score, generate, harvest, eval). */
final class ModelOption {
    @Option(names = "--model", required = true, paramLabel = "DIR",
            description = "Hugging Face model folder (config.json, *.safetensors, tokenizer.json).")
    Path dir;
}
