package org.tasft.cli;

import picocli.CommandLine.Option;

/** {@code -h/--help} for every command (a mixin: an inherited option would clash with the {@code help} command's). */
final class HelpOption {
    @Option(names = {"-h", "--help"}, usageHelp = true, description = "Show this help and exit.")
    boolean help;
}
