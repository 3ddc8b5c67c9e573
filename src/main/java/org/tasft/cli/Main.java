package org.tasft.cli;

import java.io.IOException;
import java.io.OutputStreamWriter;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.Callable;

import org.bytedeco.pytorch.global.torch;
import org.tasft.checkpoint.CheckpointException;
import org.tasft.checkpoint.OutputLock;
import org.tasft.distributed.RankFailureException;
import org.tasft.io.InputFiles;
import org.tasft.kernel.EmdKernel;
import org.tasft.model.NonFiniteException;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.ParseResult;
import picocli.CommandLine.ScopeType;
import picocli.CommandLine.Spec;

/**
 * The {@code tasft} command line: one subcommand per job ({@code score}, {@code generate}, {@code harvest},
 * {@code train}, {@code eval}, {@code experiment}).
 *
 * <p>Exit codes: 0 success, 2 bad arguments (picocli's parse errors, {@link UsageException}, and the
 * {@link IllegalArgumentException}s the library throws for inputs it refuses), 1 any other failure. Errors are one line on stderr ({@code tasft score: error: ...}); {@code --debug} adds the stack trace.
 */
@Command(name = "tasft",
        description = "Data-efficient safety fine-tuning (TA-SFT) of language models on the JVM.",
        subcommands = {ScoreCommand.class, GenerateCommand.class, HarvestCommand.class, TrainCommand.class,
                EvalCommand.class, ExperimentCommand.class, CommandLine.HelpCommand.class},
        synopsisSubcommandLabel = "COMMAND",
        versionProvider = VersionProvider.class,
        footer = {"", "Run 'tasft COMMAND --help' for a command's options."})
public final class Main implements Callable<Integer> {
    /** Exit code of a bad argument. */
    public static final int USAGE = CommandLine.ExitCode.USAGE;
    /** Exit code of a failure while running. */
    public static final int FAILURE = CommandLine.ExitCode.SOFTWARE;

    @Spec
    CommandSpec spec;

    @Mixin
    HelpOption help;

    @Option(names = "--debug", scope = ScopeType.INHERIT,
            description = "Print the stack trace of an error.")
    boolean debug;

    @Option(names = "--threads", scope = ScopeType.INHERIT, paramLabel = "N",
            description = "Threads of LibTorch's operations (torch.set_num_threads) and of the fused EMD kernel "
                    + "(default: LibTorch's, one per core).")
    Integer threads;

    @Option(names = {"-V", "--version"}, versionHelp = true, description = "Print the version and exit.")
    boolean version;

    @Override
    public Integer call() {
        throw new ParameterException(spec.commandLine(), "no command given (try 'tasft --help')");
    }

    public static void main(String[] args) {
        PrintWriter out = new PrintWriter(new OutputStreamWriter(System.out, StandardCharsets.UTF_8), true);
        PrintWriter err = new PrintWriter(new OutputStreamWriter(System.err, StandardCharsets.UTF_8), true);
        int code = execute(out, err, args);
        out.flush();
        err.flush();
        System.exit(code);
    }

    /** Runs the command line with the given streams and returns the exit code (what tests call). */
    public static int execute(PrintWriter out, PrintWriter err, String... args) {
        boolean debug = debugRequested(args);
        CommandLine cli = new CommandLine(new Main());
        cli.setOut(out);
        cli.setErr(err);
        cli.setParameterExceptionHandler((e, arguments) -> {
            // a converter's own one-line message as it is, without picocli's "Invalid value for option ..." prefix
            report(e.getCommandLine(), err, e.getCause() instanceof OptionValueException v ? v : e, false, debug);
            return USAGE;
        });
        cli.setExecutionStrategy(parseResult -> {
            applyThreads(parseResult); // --threads, wherever it was given, before the command runs
            return new CommandLine.RunLast().execute(parseResult);
        });
        cli.setExecutionExceptionHandler((e, commandLine, parseResult) -> {
            boolean badArgument = isBadArgument(e);
            // An unexpected exception's type says what went wrong where its message may not.
            report(commandLine, err, e, !badArgument && !(e instanceof CheckpointException)
                    && !(e instanceof RankFailureException) && !(e instanceof OutputLock.InUseException) && !(e instanceof NonFiniteException), debug);
            return badArgument ? USAGE : FAILURE;
        });
        int code = cli.execute(args);
        out.flush();
        err.flush();
        return code;
    }

    /**
     * {@code --threads N} (an inherited option: before or after the command name): LibTorch's intra-op threads and
     * the fused kernel's. Without it both keep their defaults (one thread per core).
     */
    private static void applyThreads(ParseResult parseResult) {
        Integer n = null;
        CommandLine where = parseResult.commandSpec().commandLine();
        for (ParseResult pr = parseResult; pr != null; pr = pr.subcommand()) {
            if (pr.hasMatchedOption("--threads")) {
                n = pr.matchedOptionValue("--threads", null);
                where = pr.commandSpec().commandLine();
            }
        }
        if (n == null) {
            return;
        }
        if (n < 1) {
            throw new ParameterException(where, "--threads must be >= 1, got " + n);
        }
        torch.set_num_threads(n);
        try {
            EmdKernel.setNumThreads(n);
        } catch (LinkageError e) {
            // no libtasft here: there is no fused kernel to run, nor to give threads to
        }
    }

    private static boolean isBadArgument(Throwable e) {
        return e instanceof UsageException || e instanceof IllegalArgumentException
                || e instanceof ParameterException;
    }

    private static boolean debugRequested(String[] args) {
        for (String a : args) {
            if (a.equals("--")) {
                return false;
            }
            if (a.equals("--debug")) {
                return true;
            }
        }
        return false;
    }

    private static void report(CommandLine commandLine, PrintWriter err, Exception e, boolean withType,
            boolean debug) {
        String message = oneLine(e);
        IOException io = ioCause(e);
        if (io != null) {
            // a file that could not be written or read: what and why ("permission denied"), not the wrapper's type
            withType = false;
            String reason = InputFiles.describe(io);
            if (!message.contains(reason)) {
                message = message + ": " + reason;
            }
        }
        String type = withType ? e.getClass().getSimpleName() + ": " : "";
        err.println(commandName(commandLine) + ": error: " + type + message);
        if (debug) {
            e.printStackTrace(err);
        }
        err.flush();
    }

    private static String commandName(CommandLine commandLine) {
        StringBuilder name = new StringBuilder(commandLine.getCommandName());
        for (CommandLine c = commandLine.getParent(); c != null; c = c.getParent()) {
            name.insert(0, c.getCommandName() + " ");
        }
        return name.toString();
    }

    /** The I/O error an UncheckedIOException (or an IOException itself) reports, or null. */
    private static IOException ioCause(Throwable e) {
        if (e instanceof IOException io) {
            return io;
        }
        if (e instanceof UncheckedIOException u) {
            return u.getCause();
        }
        return null;
    }

    /** The message's first line; the exception's type where the message says nothing. */
    static String oneLine(Throwable e) {
        String message = e.getMessage();
        if (message == null || message.isBlank()) {
            Throwable cause = e.getCause();
            return cause != null && cause != e ? oneLine(cause) : e.getClass().getSimpleName();
        }
        message = message.strip();
        if (message.startsWith("Error: ")) { // picocli's argument-group messages
            message = message.substring("Error: ".length());
        }
        int newline = message.indexOf('\n');
        return newline < 0 ? message : message.substring(0, newline).strip() + " ...";
    }
}
