package org.tasft.cli;

import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;

/**
 * The checks every command runs on its output path before any work (loading a model, generating, training), so that
 * an output that cannot be written fails in a second with one line, not after the work with an I/O exception:
 * a file where a folder is expected (or the other way round), and a folder this process may not write into
 * ({@code cannot write --out runs/x: permission denied}). They do not create anything.
 */
final class OutputPaths {
    private OutputPaths() {
    }

    /** {@code dir} is (or will be created as) an output folder: a folder or nothing, in a writable place. */
    static void requireWritableFolder(String option, Path dir) {
        if (Files.exists(dir)) {
            if (!Files.isDirectory(dir)) {
                throw new UsageException(option + " " + dir + " is a file, not a folder");
            }
            requireWritable(option, dir, dir);
            return;
        }
        requireCreatable(option, dir);
    }

    /** {@code file} is an output file (written beside itself and renamed into place): not a folder, in a writable folder. */
    static void requireWritableFile(String option, Path file) {
        if (Files.isDirectory(file)) {
            throw new UsageException(option + " " + file + " is a folder; expected a file name");
        }
        if (Files.exists(file, LinkOption.NOFOLLOW_LINKS) && Files.exists(file) && !Files.isRegularFile(file)) {
            throw new UsageException(option + " " + file + " is not a regular file (a FIFO, socket or device)");
        }
        Path parent = file.toAbsolutePath().getParent();
        if (parent != null) {
            requireWritableFolderFor(option, file, parent);
        }
    }

    private static void requireWritableFolderFor(String option, Path target, Path folder) {
        if (Files.isDirectory(folder)) {
            requireWritable(option, target, folder);
        } else if (Files.exists(folder)) {
            throw new UsageException(option + " " + target + ": " + folder + " is a file, not a folder");
        } else {
            requireCreatable(option, folder, target);
        }
    }

    private static void requireCreatable(String option, Path dir) {
        requireCreatable(option, dir, dir);
    }

    /** {@code missing} does not exist: its nearest existing ancestor must be a folder one can create it in. */
    private static void requireCreatable(String option, Path missing, Path target) {
        Path ancestor = missing.toAbsolutePath().normalize().getParent();
        while (ancestor != null && !Files.exists(ancestor)) {
            ancestor = ancestor.getParent();
        }
        if (ancestor == null) {
            return; // nothing exists up to the root: creating it will say what is wrong
        }
        if (!Files.isDirectory(ancestor)) {
            throw new UsageException(option + " " + target + ": " + ancestor + " is a file, not a folder");
        }
        requireWritable(option, target, ancestor);
    }

    private static void requireWritable(String option, Path target, Path folder) {
        if (!Files.isWritable(folder) || !Files.isExecutable(folder)) {
            boolean same = folder.toAbsolutePath().normalize().equals(target.toAbsolutePath().normalize());
            throw new UsageException("cannot write " + option + " " + target + ": permission denied"
                    + (same ? "" : " (in " + folder + ")"));
        }
    }
}
