package org.tasft.cli;

import picocli.CommandLine.Option;

/** How tokens are drawn, for the commands that generate free text (generate, harvest). */
final class SamplingOptions {
    @Option(names = "--temperature", paramLabel = "T", defaultValue = "0",
            description = "0 = greedy; > 0 samples from softmax(logits / T) (default: ${DEFAULT-VALUE}).")
    double temperature;

    @Option(names = "--top-p", paramLabel = "P", defaultValue = "1",
            description = "Nucleus sampling: draw from the most likely tokens holding mass P (default: "
                    + "${DEFAULT-VALUE}).")
    double topP;

    @Option(names = "--seed", paramLabel = "S", defaultValue = "0",
            description = "Seed of sampling (default: ${DEFAULT-VALUE}).")
    long seed;
}
