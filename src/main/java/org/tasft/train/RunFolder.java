package org.tasft.train;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import org.tasft.checkpoint.AtomicFolder;

/**
 * The output folder of a training run ({@code --out}): a new run refuses a folder that holds another run's
 * outputs, so that one run never silently mixes its checkpoints and metrics with another's or overwrites them.
 *
 * <p>A run's outputs are what {@link Trainer} writes: {@code checkpoint-<step>/}, {@code final/}, {@code adapter/},
 * {@code metrics.jsonl}, {@code loss.png}, and the hidden leftovers of interrupted saves ({@code .checkpoint-*},
 * {@code .final.*}, {@code .adapter.*}). Other files in the folder are not a run's and are left alone.
 */
public final class RunFolder {
    private static final List<String> FILES = List.of("metrics.jsonl", "loss.png");
    private static final List<String> FOLDERS = List.of("final", Trainer.ADAPTER_DIR);

    private RunFolder() {
    }

    /** The run outputs found directly in {@code out}, by name (empty when there are none or no folder). */
    public static List<Path> runOutputs(Path out) {
        List<Path> found = new ArrayList<>();
        if (!Files.isDirectory(out)) {
            return found;
        }
        try (DirectoryStream<Path> s = Files.newDirectoryStream(out)) {
            for (Path p : s) {
                if (isRunOutput(p.getFileName().toString())) {
                    found.add(p);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot list --out " + out, e);
        }
        found.sort(null);
        return found;
    }

    private static boolean isRunOutput(String name) {
        if (FILES.contains(name) || FOLDERS.contains(name) || name.matches("checkpoint-\\d+")) {
            return true;
        }
        return name.startsWith(".checkpoint-") || name.startsWith(".final.") || name.startsWith(".adapter.");
    }

    /**
     * Checks {@code out} before a run: a folder holding another run's outputs is refused unless the run resumes
     * (it continues that run) or {@code overwrite} is given. Returns the outputs to {@link #delete} before the new
     * run starts (those of the other run when overwriting; none otherwise). Nothing is deleted here, so that a run
     * that fails to start (bad data, say) leaves the old one in place.
     *
     * @throws IllegalArgumentException a folder with another run and neither resume nor overwrite, or an
     *                                  {@code --out} that is a file
     */
    public static List<Path> check(Path out, boolean resuming, boolean overwrite) {
        if (Files.exists(out, LinkOption.NOFOLLOW_LINKS) && !Files.isDirectory(out)) {
            throw new IllegalArgumentException("--out " + out + " is a file, not a folder");
        }
        List<Path> outputs = runOutputs(out);
        if (outputs.isEmpty() || resuming) {
            return List.of();
        }
        if (!overwrite) {
            List<String> names = new ArrayList<>();
            for (Path p : outputs.subList(0, Math.min(4, outputs.size()))) {
                names.add(p.getFileName().toString());
            }
            throw new IllegalArgumentException("--out " + out + " holds another run (" + String.join(", ", names)
                    + (outputs.size() > 4 ? ", ..." : "") + "): give --resume " + out
                    + "/checkpoint-<step> to continue it, --overwrite to replace it, or another --out");
        }
        return outputs;
    }

    /** Deletes the given run outputs (from {@link #check}). */
    public static void delete(List<Path> outputs) {
        for (Path p : outputs) {
            if (Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS)) {
                AtomicFolder.deleteQuietly(p);
            } else {
                try {
                    Files.deleteIfExists(p);
                } catch (IOException e) {
                    throw new UncheckedIOException("--overwrite: cannot delete " + p, e);
                }
            }
            if (Files.exists(p, LinkOption.NOFOLLOW_LINKS)) {
                throw new IllegalStateException("--overwrite: cannot delete " + p);
            }
        }
    }
}
