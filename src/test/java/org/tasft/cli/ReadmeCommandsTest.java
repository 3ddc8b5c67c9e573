package org.tasft.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.stream.Stream;

import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.ParseResult;

/**
 * Every {@code ./tasft ...} command shown in README.md's shell code blocks, so the README cannot rot: a command whose
 * input paths all exist (the quick start's fixture commands) runs in-process and must exit 0 (outputs go to a temp
 * folder, never into the repository); any other command (placeholders such as DIR or {@code ...}, files the reader
 * brings, the long default job and the experiment) is parsed by picocli, so every subcommand and option it names must
 * exist and take the value shown. Failures name the README line.
 */
class ReadmeCommandsTest {
    /** Options whose value is written, not read: replaced by a temp path when a command runs. */
    private static final Set<String> OUTPUTS = Set.of("--out", "--log-dir", "--cache");
    private static final Set<String> SHELL = Set.of("bash", "sh", "shell", "console", "zsh");

    @TempDir
    static Path tmp;

    /** One command as the README shows it: its line, its text and its arguments after {@code tasft}. */
    record Shown(int line, String text, List<String> args) {
        boolean placeholder() {
            return args.contains("...");
        }

        List<String> realArgs() {
            return args.stream().filter(a -> !a.equals("...")).toList();
        }

        @Override
        public String toString() {
            return "README.md:" + line + ": " + text;
        }
    }

    static Path root() {
        String base = System.getProperty("basedir");
        Path dir = base != null ? Path.of(base) : Path.of("").toAbsolutePath();
        assertTrue(Files.isRegularFile(dir.resolve("README.md")), "README.md in " + dir);
        return dir;
    }

    /** The commands of README.md's shell blocks (bash, sh, shell, console, zsh), in order. */
    static List<Shown> commands() throws IOException {
        List<String> lines = Files.readAllLines(root().resolve("README.md"));
        List<Shown> out = new ArrayList<>();
        boolean inShell = false;
        boolean inFence = false;
        for (int i = 0; i < lines.size(); i++) {
            String l = lines.get(i);
            if (l.strip().startsWith("```")) {
                inShell = !inFence && SHELL.contains(l.strip().substring(3).strip().toLowerCase(Locale.ROOT));
                inFence = !inFence;
                continue;
            }
            if (!inShell) {
                continue;
            }
            int first = i;
            StringBuilder joined = new StringBuilder(l);
            while (joined.toString().stripTrailing().endsWith("\\") && i + 1 < lines.size()) {
                String s = joined.toString().stripTrailing();
                joined.setLength(0);
                joined.append(s, 0, s.length() - 1).append(' ').append(lines.get(++i).strip());
            }
            for (List<String> words : shellCommands(joined.toString())) {
                List<String> args = tasftArgs(words);
                if (args != null) {
                    out.add(new Shown(first + 1, joined.toString().strip(), args));
                }
            }
        }
        return out;
    }

    /**
     * The simple commands of a shell line as words: quotes and backslashes as the shell reads them, a {@code #} word
     * starts a comment, {@code ;}, {@code &}, {@code &&}, {@code ||} and {@code |} separate commands.
     */
    static List<List<String>> shellCommands(String line) {
        List<List<String>> commands = new ArrayList<>();
        List<String> words = new ArrayList<>();
        StringBuilder word = new StringBuilder();
        boolean inWord = false;
        char quote = 0;
        for (int i = 0; i < line.length(); i++) {
            char c = line.charAt(i);
            if (quote != 0) {
                if (c == quote) {
                    quote = 0;
                } else if (c == '\\' && quote == '"' && i + 1 < line.length()) {
                    word.append(line.charAt(++i));
                } else {
                    word.append(c);
                }
            } else if (c == '\'' || c == '"') {
                quote = c;
                inWord = true;
            } else if (c == '\\' && i + 1 < line.length()) {
                word.append(line.charAt(++i));
                inWord = true;
            } else if (c == '#' && !inWord) {
                break;
            } else if (Character.isWhitespace(c) || c == ';' || c == '&' || c == '|') {
                if (inWord) {
                    words.add(word.toString());
                    word.setLength(0);
                    inWord = false;
                }
                if (!Character.isWhitespace(c) && !words.isEmpty()) {
                    commands.add(words);
                    words = new ArrayList<>();
                }
            } else {
                word.append(c);
                inWord = true;
            }
        }
        if (inWord) {
            words.add(word.toString());
        }
        if (!words.isEmpty()) {
            commands.add(words);
        }
        return commands;
    }

    /** The arguments after {@code ./tasft} (past VAR=value assignments and srun), or null if not a tasft command. */
    static List<String> tasftArgs(List<String> words) {
        int i = 0;
        while (i < words.size() && (words.get(i).matches("[A-Za-z_][A-Za-z0-9_]*=.*")
                || words.get(i).equals("srun") || words.get(i).equals("exec"))) {
            i++;
        }
        if (i == words.size()) {
            return null;
        }
        String program = words.get(i);
        boolean tasft = program.equals("tasft") || program.endsWith("/tasft");
        return tasft ? List.copyOf(words.subList(i + 1, words.size())) : null;
    }

    /** The long jobs that are only parsed: the default job (train without --model and --safe) and the experiment. */
    static boolean longJob(List<String> args) {
        if (args.isEmpty()) {
            return false;
        }
        return args.get(0).equals("experiment")
                || args.get(0).equals("train") && !args.contains("--model") && !args.contains("--safe")
                        && !args.contains("--help") && !args.contains("-h");
    }

    /** The Path-typed options a parse matched, with their values. */
    private static List<String[]> pathOptions(ParseResult parsed) {
        List<String[]> out = new ArrayList<>();
        for (ParseResult p = parsed; p != null; p = p.subcommand()) {
            for (OptionSpec o : p.matchedOptions()) {
                boolean path = o.type() == Path.class
                        || Stream.of(o.auxiliaryTypes()).anyMatch(t -> t == Path.class);
                if (path) {
                    for (String v : o.stringValues()) {
                        out.add(new String[] {o.longestName(), v});
                    }
                }
            }
        }
        return out;
    }

    /** What happens to a command, and why. */
    static String plan(Shown c) {
        if (c.placeholder()) {
            return "parsed (placeholder ...)";
        }
        if (longJob(c.args())) {
            return "parsed (long job)";
        }
        ParseResult parsed = new CommandLine(new Main()).parseArgs(c.args().toArray(String[]::new));
        for (String[] o : pathOptions(parsed)) {
            if (!OUTPUTS.contains(o[0]) && !Files.exists(root().resolve(o[1]))) {
                return "parsed (" + o[0] + " " + o[1] + " does not exist here)";
            }
        }
        return "run";
    }

    @TestFactory
    Stream<DynamicTest> everyReadmeCommandParsesOrRuns() throws IOException {
        return commands().stream().map(c -> DynamicTest.dynamicTest(c.toString(), () -> check(c)));
    }

    private static void check(Shown c) {
        // picocli first: an unknown subcommand or option, or a value of the wrong type, fails with the line
        try {
            new CommandLine(new Main()).parseArgs(c.realArgs().toArray(String[]::new));
        } catch (CommandLine.MissingParameterException e) {
            if (!c.placeholder()) {
                fail(c + ": " + e.getMessage());
            }
            // "..." stands for the options shown in the lines above, required ones among them
        } catch (CommandLine.ParameterException e) {
            fail(c + ": " + e.getMessage());
        }
        String plan = plan(c);
        System.out.println(c + "  ->  " + plan);
        if (plan.equals("run")) {
            String[] args = runnable(c);
            StringWriter out = new StringWriter();
            StringWriter err = new StringWriter();
            int code = Main.execute(new PrintWriter(out), new PrintWriter(err), args);
            assertEquals(0, code, c + " exited " + code + ": " + err);
        }
    }

    /** The command's arguments with its outputs moved to a temp folder and its input paths made absolute. */
    private static String[] runnable(Shown c) {
        ParseResult parsed = new CommandLine(new Main()).parseArgs(c.args().toArray(String[]::new));
        Set<String> pathNames = new HashSet<>();
        for (ParseResult p = parsed; p != null; p = p.subcommand()) {
            for (OptionSpec o : p.commandSpec().options()) {
                if (o.type() == Path.class || Stream.of(o.auxiliaryTypes()).anyMatch(t -> t == Path.class)) {
                    pathNames.addAll(List.of(o.names()));
                }
            }
        }
        List<String> args = new ArrayList<>(c.args());
        Path outputs = tmp.resolve("line-" + c.line());
        for (int i = 0; i < args.size(); i++) {
            String a = args.get(i);
            String name = a.contains("=") ? a.substring(0, a.indexOf('=')) : a;
            if (!pathNames.contains(name)) {
                continue;
            }
            boolean inline = a.contains("=");
            int at = inline ? i : i + 1;
            if (at >= args.size()) {
                continue;
            }
            String value = inline ? a.substring(a.indexOf('=') + 1) : args.get(at);
            String moved = OUTPUTS.contains(name) ? outputs.resolve(Path.of(value).getFileName()).toString()
                    : root().resolve(value).toString();
            args.set(at, inline ? name + "=" + moved : moved);
            i = at;
        }
        return args.toArray(String[]::new);
    }

    @Test
    void theExtractorFindsTheQuickStartAndRunsItsFixtureCommands() throws IOException {
        List<Shown> all = commands();
        assertTrue(all.size() >= 20, "README commands found: " + all.size());
        List<Shown> run = all.stream().filter(c -> plan(c).equals("run")).toList();
        assertTrue(run.stream().anyMatch(c -> c.args().get(0).equals("score")
                && c.args().contains("src/test/resources/fixtures/tiny-llama")), run.toString());
        assertTrue(run.stream().anyMatch(c -> c.args().get(0).equals("generate")
                && c.args().contains("src/test/resources/fixtures/tiny-gpt2")), run.toString());
        // the default job is shown but only parsed
        assertTrue(all.stream().anyMatch(c -> c.args().equals(List.of("train"))
                && plan(c).equals("parsed (long job)")));
    }

    @Test
    void anUnknownOptionOrABadValueFailsWithTheReadmeLine() {
        for (List<String> args : List.of(List.of("train", "...", "--frobnicate", "3"),
                List.of("generate", "--model", "DIR", "--prompt", "x", "--max-new-tokens", "many"),
                List.of("scroe", "--model", "DIR"))) {
            AssertionError e = assertThrows(AssertionError.class,
                    () -> check(new Shown(7, "./tasft " + String.join(" ", args), args)));
            assertTrue(e.getMessage().startsWith("README.md:7: ./tasft "), e.getMessage());
        }
        // a command without placeholders must give the required options too
        AssertionError e = assertThrows(AssertionError.class,
                () -> check(new Shown(9, "./tasft generate --model DIR", List.of("generate", "--model", "DIR"))));
        assertTrue(e.getMessage().contains("--prompt"), e.getMessage());
    }

    @Test
    void shellWordsCommentsSeparatorsAndContinuations() {
        assertEquals(List.of(List.of("./tasft", "--help"), List.of("./tasft", "generate", "--help")),
                shellCommands("./tasft --help; ./tasft generate --help   # two"));
        assertEquals(List.of(List.of("A=1", "./tasft", "train", "..."), List.of("B=2", "./tasft", "x")),
                shellCommands("A=1 ./tasft train ... & B=2 ./tasft x"));
        assertEquals(List.of(List.of("./tasft", "generate", "--prompt", "Give three tips.", "--json")),
                shellCommands("./tasft generate --prompt \"Give three tips.\" --json  # {\"a\": 1}"));
        assertEquals(List.of("train", "..."), tasftArgs(List.of("RANK=0", "./tasft", "train", "...")));
        assertEquals(List.of("train"), tasftArgs(List.of("srun", "./tasft", "train")));
        assertEquals(null, tasftArgs(List.of("mvn", "-B", "test")));
    }
}
