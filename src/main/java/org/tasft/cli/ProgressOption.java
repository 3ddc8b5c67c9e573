package org.tasft.cli;

import picocli.CommandLine.Option;

/** {@code --no-progress}, for the commands with a progress bar (train, harvest, experiment). */
final class ProgressOption {
    @Option(names = "--no-progress", description = "No progress bar.")
    boolean off;

    boolean show() {
        return !off;
    }
}
