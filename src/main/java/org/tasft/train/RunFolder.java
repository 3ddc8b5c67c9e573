package org.tasft.train;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.function.Consumer;

import org.tasft.checkpoint.OutputFolder;
import org.tasft.checkpoint.OutputLock;

/**
 * The output folder of a training run ({@code --out}): an {@link OutputFolder} (locked for the run; only the entries
 * tasft listed in it are ever deleted) with the training run's rules: a folder holding another run's outputs is
 * refused unless the run resumes (it continues that run) or {@code overwrite} is given, so that one run never silently
 * mixes its checkpoints and metrics with another's or overwrites them; a folder holding only the start of a run that
 * saved nothing (no checkpoint, no final/: a first attempt killed early) is simply started over.
 *
 * <p>A run's outputs are what {@link Trainer}'s listeners write (and list before writing): {@code checkpoint-<step>/},
 * {@code final/}, {@code adapter/}, {@code metrics.jsonl}, {@code loss.png}, and the hidden leftovers of interrupted
 * saves. Other files in the folder are not a run's and are left alone.
 */
public final class RunFolder implements AutoCloseable {
    /** The command that training run folders are recorded under. */
    public static final String COMMAND = "train";
    private static final List<String> FILES = List.of(MetricsJsonlWriter.FILE, FinalOutputs.LOSS_PLOT);
    private static final List<String> FOLDERS = List.of(FinalOutputs.MODEL_DIR, Trainer.ADAPTER_DIR);

    private final OutputFolder folder;
    private final boolean replacing;

    private RunFolder(OutputFolder folder, boolean replacing) {
        this.folder = folder;
        this.replacing = replacing;
    }

    /** Whether {@code name} is one of a training run's output names. */
    public static boolean isRunOutput(String name) {
        return FILES.contains(name) || FOLDERS.contains(name) || name.matches("checkpoint-\\d{1,18}");
    }

    /** Whether a run that wrote these entries saved anything to continue from or keep. */
    private static boolean savedSomething(List<String> entries) {
        return entries.stream().anyMatch(n -> FOLDERS.contains(n) || n.matches("checkpoint-\\d{1,18}"));
    }

    /**
     * Opens {@code out} (locked until {@link #close}) before a run. Nothing is deleted here, so that a run that fails
     * to start (bad data, say) leaves the old one in place: {@link #deletePrevious} does it once the run has started.
     *
     * @param warn told of a restarted unfinished run, a stale lock taken over, an adopted older folder
     * @throws IllegalArgumentException a file, a folder of files tasft did not write, a folder with another run and
     *                                  neither resume nor overwrite
     * @throws OutputLock.InUseException another run holds the folder
     */
    public static RunFolder open(Path out, boolean resuming, boolean overwrite, Consumer<String> warn) {
        OutputFolder folder = OutputFolder.open(out, "--out", COMMAND, RunFolder::isRunOutput, warn);
        List<String> previous = folder.previousEntries();
        if (previous.isEmpty() || resuming) {
            return new RunFolder(folder, false);
        }
        if (!savedSomething(previous)) {
            warn.accept("--out " + out + " holds the start of a run that saved no checkpoint ("
                    + String.join(", ", previous) + "): starting over");
            return new RunFolder(folder, true);
        }
        if (!overwrite) {
            folder.close();
            List<String> names = previous.subList(0, Math.min(4, previous.size()));
            throw new IllegalArgumentException("--out " + out + " holds another run (" + String.join(", ", names)
                    + (previous.size() > 4 ? ", ..." : "") + "): give --resume " + latestCheckpoint(out, previous)
                    + " to continue it, --overwrite to replace it, or another --out");
        }
        return new RunFolder(folder, true);
    }

    private static String latestCheckpoint(Path out, List<String> entries) {
        long best = -1;
        for (String n : entries) {
            if (n.matches("checkpoint-\\d{1,18}")) {
                best = Math.max(best, Long.parseLong(n.substring("checkpoint-".length())));
            }
        }
        return out.resolve(best < 0 ? "checkpoint-<step>" : "checkpoint-" + best).toString();
    }

    /** Deletes the previous run's outputs when this run replaces them (overwrite, or an unfinished start). */
    public void deletePrevious() {
        if (replacing) {
            folder.deletePrevious();
        }
    }

    /** Releases the folder's lock. */
    @Override
    public void close() {
        folder.close();
    }

    /** Creates {@code out} if it is not there (a run started without {@link #open}, through the API). */
    static void createFolder(Path out) {
        try {
            Files.createDirectories(out);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create --out " + out, e);
        }
    }

    /** Lists {@code name} in the run folder {@code out}'s manifest before the trainer writes it. */
    static void claim(Path out, String name) {
        OutputFolder.claim(out, name, COMMAND);
    }
}
