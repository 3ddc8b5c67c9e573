package org.tasft.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tasft.kernel.EmdKernel;
import picocli.CommandLine;
import picocli.CommandLine.Model.OptionSpec;

/** The options every command has: --version, --threads, and the defaults that every --help shows. */
class GlobalOptionsTest {
    @TempDir
    Path dir;

    /** The project's version as the pom gives it (the test runs in the project's folder). */
    private static String pomVersion() throws IOException {
        String pom = Files.readString(Path.of("pom.xml"));
        Matcher m = Pattern.compile("<artifactId>tasft</artifactId>\\s*<version>([^<]+)</version>").matcher(pom);
        assertTrue(m.find(), "the pom's version");
        return m.group(1).strip();
    }

    @Test
    void versionIsThePomsVersion() throws IOException {
        for (String flag : List.of("--version", "-V")) {
            MainTest.Run r = MainTest.run(flag);
            assertEquals(0, r.code(), r.err());
            assertEquals("tasft " + pomVersion(), r.out().strip());
            assertEquals("", r.err());
        }
        assertEquals(pomVersion(), VersionProvider.version());
    }

    @Test
    void threadsSetsLibTorchsAndTheKernelsThreadCount() throws IOException {
        int torchBefore = torch.get_num_threads();
        int kernelBefore = EmdKernel.numThreads();
        Path model = dir.resolve("tiny-llama");
        Files.createDirectories(model);
        MainTest.copy("/fixtures/tiny-llama/config.json", model.resolve("config.json"));
        MainTest.copy("/fixtures/tiny-llama/model.safetensors", model.resolve("model.safetensors"));
        try {
            int n = torchBefore == 1 ? 2 : 1;
            MainTest.Run r = MainTest.run("--threads", String.valueOf(n), "score", "--model", model.toString(),
                    "--ids", "1,2,3");
            assertEquals(0, r.code(), r.err());
            assertEquals(n, torch.get_num_threads(), "torch.get_num_threads()");
            assertEquals(n, EmdKernel.numThreads(), "the fused kernel's threads");
            // inherited: after the command name too
            r = MainTest.run("score", "--threads", "3", "--model", model.toString(), "--ids", "1,2,3");
            assertEquals(0, r.code(), r.err());
            assertEquals(3, torch.get_num_threads());
            assertEquals(3, EmdKernel.numThreads());

            for (String bad : List.of("0", "-2")) {
                r = MainTest.run("--threads", bad, "score", "--model", model.toString(), "--ids", "1,2");
                assertEquals(Main.USAGE, r.code(), r.err());
                assertEquals(1, r.errLines().size(), r.err());
                assertTrue(r.err().contains("--threads must be >= 1, got " + bad), r.err());
            }
            assertEquals(3, torch.get_num_threads(), "a refused value changes nothing");
        } finally {
            torch.set_num_threads(torchBefore);
            EmdKernel.setNumThreads(kernelBefore);
        }
    }

    /** Every command line of the tree: tasft, its commands, their commands. */
    private static List<CommandLine> commands(CommandLine root) {
        List<CommandLine> all = new ArrayList<>();
        all.add(root);
        for (CommandLine sub : root.getSubcommands().values()) {
            if (!all.contains(sub)) {
                all.addAll(commands(sub));
            }
        }
        return all;
    }

    @Test
    void everyOptionWithADefaultShowsItInTheHelp() {
        List<String> hidden = new ArrayList<>();
        int checked = 0;
        for (CommandLine cl : commands(new CommandLine(new Main()))) {
            for (OptionSpec option : cl.getCommandSpec().options()) {
                String value = defaultOf(cl, option);
                if (value == null || option.usageHelp() || option.versionHelp()) {
                    continue;
                }
                checked++;
                String help = cl.getHelp().optionListExcludingGroups(List.of(option))
                        .replaceAll("\\s+", " ").toLowerCase(Locale.ROOT);
                if (!help.contains(("default: " + value).toLowerCase(Locale.ROOT))) {
                    hidden.add(cl.getCommandName() + " " + option.longestName() + " (default " + value + "):"
                            + help);
                }
            }
        }
        assertTrue(checked > 30, "options with defaults found: " + checked);
        assertTrue(hidden.isEmpty(), "options whose --help does not show their default:\n"
                + String.join("\n", hidden));
    }

    /** The option's default: its annotation's, else the command's default provider's (train's TrainDefaults). */
    static String defaultOf(CommandLine cl, OptionSpec option) {
        if (option.defaultValue() != null || cl.getDefaultValueProvider() == null) {
            return option.defaultValue();
        }
        try {
            return cl.getDefaultValueProvider().defaultValue(option);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }
}
