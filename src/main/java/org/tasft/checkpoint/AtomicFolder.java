package org.tasft.checkpoint;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Objects;

/**
 * Replaces a folder so that a crash at any moment leaves either the previous complete folder or the new complete
 * one, never a mix or a half-written file: every writer of checkpoints (model folders, LoRA adapters, training
 * checkpoints) goes through {@link #replace(Path, Contents)}.
 *
 * <p>How: the contents are written into a temporary sibling {@code .<name>.tmp-<random>} and forced to disk (files
 * and folder); then an existing target is renamed aside to {@code .<name>.old-<random>}, the temporary folder is
 * renamed to the target, the parent folder is forced, and the old folder is deleted. Renames within one file system
 * are atomic. Between the two renames the target name is briefly absent while the previous folder sits complete
 * under its {@code .old-} name: {@link #recover(Path)} (which every replace runs first) renames it back. Leftover
 * {@code .tmp-} and {@code .old-} folders of interrupted replaces are deleted by the next replace of the same target.
 *
 * <p>One writer per target at a time: a second replace of the same target running concurrently would delete the
 * first one's temporary folder.
 */
public final class AtomicFolder {
    static final String TMP_MARK = ".tmp-";
    static final String OLD_MARK = ".old-";

    /** Writes the new folder's files into {@code dir} (a fresh, empty folder); they are forced to disk afterwards. */
    @FunctionalInterface
    public interface Contents {
        void writeInto(Path dir) throws IOException;
    }

    /** The points where a test can simulate a crash (by throwing an Error, which skips all clean-up). */
    enum Step {
        TEMP_WRITTEN, TARGET_MOVED_ASIDE, NEW_IN_PLACE
    }

    interface StepListener {
        void reached(Step step);
    }

    private AtomicFolder() {
    }

    /**
     * Atomically replaces (or creates) the folder {@code target} with what {@code contents} writes. On failure the
     * previous folder is untouched and a {@link CheckpointException} says what failed.
     */
    public static void replace(Path target, Contents contents) {
        replace(target, contents, step -> { });
    }

    static void replace(Path target, Contents contents, StepListener listener) {
        Objects.requireNonNull(target, "target");
        Objects.requireNonNull(contents, "contents");
        Path absolute = checkTarget(target);
        Path parent = absolute.getParent();
        try {
            Files.createDirectories(parent);
        } catch (IOException e) {
            throw new CheckpointException(parent + ": cannot create the parent folder: " + e, e);
        }
        recover(absolute);
        for (Path leftover : leftovers(absolute, TMP_MARK)) {
            deleteQuietly(leftover);
        }
        for (Path leftover : leftovers(absolute, OLD_MARK)) {
            deleteQuietly(leftover);
        }

        String name = absolute.getFileName().toString();
        Path tmp = parent.resolve("." + name + TMP_MARK + SafetensorsWriter.randomSuffix());
        Path old = null;
        boolean moved = false;
        try {
            Files.createDirectory(tmp);
            contents.writeInto(tmp);
            forceTree(tmp);
            listener.reached(Step.TEMP_WRITTEN);

            if (Files.exists(absolute, LinkOption.NOFOLLOW_LINKS)) {
                old = parent.resolve("." + name + OLD_MARK + SafetensorsWriter.randomSuffix());
                Files.move(absolute, old, StandardCopyOption.ATOMIC_MOVE);
                listener.reached(Step.TARGET_MOVED_ASIDE);
            }
            Files.move(tmp, absolute, StandardCopyOption.ATOMIC_MOVE);
            moved = true;
            force(parent);
            listener.reached(Step.NEW_IN_PLACE);
        } catch (IOException | RuntimeException e) {
            // Errors (out of memory, a simulated crash) skip this on purpose: the next replace cleans up after them
            if (!moved) {
                if (old != null && !Files.exists(absolute, LinkOption.NOFOLLOW_LINKS)) {
                    try {
                        Files.move(old, absolute, StandardCopyOption.ATOMIC_MOVE);
                        old = null;
                    } catch (IOException restore) {
                        e.addSuppressed(restore);
                    }
                }
                deleteQuietly(tmp);
            }
            String state = moved ? "the new folder is in place but may not be durable yet"
                    : "the previous folder is untouched";
            throw new CheckpointException(absolute + ": save failed (" + state + "): "
                    + (e instanceof CheckpointException ? e.getMessage() : e.toString()), e);
        }
        if (old != null) {
            deleteQuietly(old);
        }
    }

    /** The absolute target; refuses a path without a name and an existing non-folder. */
    static Path checkTarget(Path target) {
        Path absolute = target.toAbsolutePath().normalize();
        if (absolute.getFileName() == null) {
            throw new IllegalArgumentException("target: " + target + " has no folder name");
        }
        if (Files.exists(absolute, LinkOption.NOFOLLOW_LINKS) && !Files.isDirectory(absolute)) {
            throw new CheckpointException(absolute + ": exists and is not a folder; refusing to replace it");
        }
        return absolute;
    }

    /**
     * Repairs what an interrupted replace can leave: if {@code target} is missing while a previous folder sits
     * renamed aside ({@code .<name>.old-*}), renames the newest such folder back. Returns whether it did.
     */
    public static boolean recover(Path target) {
        Path absolute = target.toAbsolutePath().normalize();
        if (Files.exists(absolute, LinkOption.NOFOLLOW_LINKS)) {
            return false;
        }
        List<Path> aside = leftovers(absolute, OLD_MARK);
        if (aside.isEmpty()) {
            return false;
        }
        try {
            Files.move(aside.get(0), absolute, StandardCopyOption.ATOMIC_MOVE);
            force(absolute.getParent());
            return true;
        } catch (IOException e) {
            throw new CheckpointException(absolute + ": cannot restore the previous folder from " + aside.get(0)
                    + ": " + e, e);
        }
    }

    /** The {@code .<name><mark>*} siblings of a target, newest first. */
    static List<Path> leftovers(Path target, String mark) {
        Path absolute = target.toAbsolutePath().normalize();
        Path parent = absolute.getParent();
        if (parent == null || absolute.getFileName() == null || !Files.isDirectory(parent)) {
            return List.of();
        }
        String prefix = "." + absolute.getFileName() + mark;
        List<Path> found = new ArrayList<>();
        try (DirectoryStream<Path> s = Files.newDirectoryStream(parent, p -> p.getFileName().toString()
                .startsWith(prefix))) {
            s.forEach(found::add);
        } catch (IOException e) {
            return List.of();
        }
        found.sort(Comparator.comparing(AtomicFolder::modified).reversed());
        return found;
    }

    private static long modified(Path p) {
        try {
            return Files.getLastModifiedTime(p, LinkOption.NOFOLLOW_LINKS).toMillis();
        } catch (IOException e) {
            return 0;
        }
    }

    /** fsync of every file under {@code dir}, then of the folders (a folder's entry list makes a rename durable). */
    static void forceTree(Path dir) throws IOException {
        List<Path> folders = new ArrayList<>();
        Files.walkFileTree(dir, new SimpleFileVisitor<>() {
            @Override
            public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
                force(file);
                return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult postVisitDirectory(Path d, IOException e) {
                folders.add(d);
                return FileVisitResult.CONTINUE;
            }
        });
        for (Path d : folders) {
            force(d);
        }
    }

    /** fsync of a file or a folder. */
    static void force(Path p) throws IOException {
        try (FileChannel c = FileChannel.open(p, StandardOpenOption.READ)) {
            c.force(true);
        } catch (IOException e) {
            if (!Files.isDirectory(p)) {
                throw e;
            }
            // some file systems refuse to open or sync a folder; the files themselves were synced
        }
    }

    /** Best-effort recursive delete: a leftover is harmless, and the next replace tries again. */
    public static void deleteQuietly(Path root) {
        if (!Files.exists(root, LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        try {
            Files.walkFileTree(root, new SimpleFileVisitor<>() {
                @Override
                public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
                    Files.delete(file);
                    return FileVisitResult.CONTINUE;
                }

                @Override
                public FileVisitResult postVisitDirectory(Path dir, IOException e) throws IOException {
                    Files.delete(dir);
                    return FileVisitResult.CONTINUE;
                }
            });
        } catch (IOException e) {
            // a leftover that the next replace tries again to remove
        }
    }
}
