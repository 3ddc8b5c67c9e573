package org.tasft.checkpoint;

import java.io.IOException;
import java.net.InetAddress;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Instant;
import java.util.Objects;
import java.util.UUID;
import java.util.Optional;
import java.util.function.Consumer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * An exclusive lock on an output (a folder, or the file a command writes), held for a whole run so that two runs
 * never write the same place at once: a lock file ({@code .tasft.lock} in a folder, {@code .<name>.tasft.lock} beside
 * a file) holding the owner's pid, host, command and start time, locked with the operating system's file lock.
 *
 * <p>Why both: the operating system's lock is released when its process dies, however it dies (kill -9 included), so a
 * lock file left behind by a dead run is recognised as stale rather than blocking every later run; the file's text
 * names the owner for the error message of the run that is refused. A stale lock is taken over with a warning that
 * names the dead owner; a lock whose recorded owner is still alive on this host is never taken over, even where the
 * file system does not honour locks (some network file systems).
 */
public final class OutputLock implements AutoCloseable {
    /** The lock file's name inside a locked folder. */
    public static final String FOLDER_LOCK = ".tasft.lock";
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int ATTEMPTS = 5;

    /** The output is in use by another run (or by this process already). */
    public static final class InUseException extends RuntimeException {
        public InUseException(String message) {
            super(message);
        }
    }

    private final Path file;
    private final FileLock lock; // its channel() is the lock file's open channel

    private OutputLock(Path file, FileLock lock) {
        this.file = file;
        this.lock = lock;
    }

    /** The lock file of a folder output. */
    public static Path lockFileOfFolder(Path folder) {
        return folder.toAbsolutePath().normalize().resolve(FOLDER_LOCK);
    }

    /** The lock file of a file output: a hidden sibling. */
    public static Path lockFileOfFile(Path file) {
        Path absolute = file.toAbsolutePath().normalize();
        return absolute.resolveSibling("." + absolute.getFileName() + ".tasft.lock");
    }

    /**
     * Locks the folder {@code folder} (created if missing) for {@code command}; see
     * {@link #acquire(Path, String, String, Consumer)}.
     */
    public static OutputLock folder(Path folder, String what, String command, Consumer<String> warn) {
        Path absolute = folder.toAbsolutePath().normalize();
        try {
            Files.createDirectories(absolute);
        } catch (IOException e) {
            throw new IllegalArgumentException(what + " " + folder + ": cannot create the folder ("
                    + CheckpointException.reason(e) + ")", e);
        }
        return acquire(lockFileOfFolder(absolute), what + " " + folder, command, warn);
    }

    /** Locks the output file {@code file} (its folder created if missing) for {@code command}. */
    public static OutputLock file(Path file, String what, String command, Consumer<String> warn) {
        Path lockFile = lockFileOfFile(file);
        try {
            Files.createDirectories(lockFile.getParent());
        } catch (IOException e) {
            throw new IllegalArgumentException(what + " " + file + ": cannot create its folder ("
                    + CheckpointException.reason(e) + ")", e);
        }
        return acquire(lockFile, what + " " + file, command, warn);
    }

    /**
     * Takes the lock file {@code lockFile}, or throws {@link InUseException} naming the run that holds it.
     *
     * @param output  what is locked, as the user named it (for messages: "--out runs/x")
     * @param command who takes it ("train", "eval", ...), recorded for the next run's message
     * @param warn    told when a stale lock of a dead run is taken over
     */
    static OutputLock acquire(Path lockFile, String output, String command, Consumer<String> warn) {
        for (int attempt = 0; attempt < ATTEMPTS; attempt++) {
            FileChannel channel;
            try {
                channel = FileChannel.open(lockFile, StandardOpenOption.CREATE, StandardOpenOption.READ,
                        StandardOpenOption.WRITE);
            } catch (IOException e) {
                throw new IllegalArgumentException(output + ": cannot create the lock file " + lockFile + " ("
                        + CheckpointException.reason(e) + ")", e);
            }
            boolean keep = false;
            try {
                FileLock lock;
                try {
                    lock = channel.tryLock();
                } catch (OverlappingFileLockException e) {
                    throw new InUseException(output + " is in use by this process already (" + describe(read(channel))
                            + ")");
                }
                if (lock == null) {
                    throw new InUseException(output + " is in use by " + describe(read(channel))
                            + ": wait for that run to end, or choose another output");
                }
                JsonNode previous = read(channel);
                if (previous != null && aliveOnThisHost(previous)) {
                    throw new InUseException(output + " is in use by " + describe(previous)
                            + " (its lock is not honoured by this file system): wait for that run to end");
                }
                // The previous owner may have deleted the file between our open and our lock, so that we hold an
                // unlinked file: only the file under the name counts.
                if (!heldUnderName(lockFile)) {
                    lock.release();
                    continue;
                }
                write(channel, ownerBytes(command));
                if (previous != null) {
                    warn.accept(output + ": took over the lock of " + describe(previous)
                            + ", which ended without releasing it (killed or crashed)");
                }
                keep = true;
                return new OutputLock(lockFile, lock);
            } catch (IOException e) {
                throw new IllegalArgumentException(output + ": cannot write the lock file " + lockFile + " ("
                        + CheckpointException.reason(e) + ")", e);
            } finally {
                if (!keep) {
                    closeQuietly(channel);
                }
            }
        }
        throw new InUseException(output + ": the lock file " + lockFile + " keeps changing; another run is starting "
                + "there");
    }

    /** The lock file of this lock. */
    public Path file() {
        return file;
    }

    /**
     * Empties and deletes the lock file, then releases the lock: a run that opened the file before it was deleted
     * finds it empty and no longer under its name, and tries again.
     */
    @Override
    public void close() {
        FileChannel channel = lock.channel();
        try {
            channel.truncate(0);
            if (heldUnderName(file)) {
                Files.deleteIfExists(file);
            }
        } catch (IOException e) {
            // the next run finds a released lock file and takes it over as stale
        }
        try {
            lock.release();
        } catch (IOException e) {
            // closing the channel releases it too
        }
        closeQuietly(channel);
    }

    /**
     * Whether the file under the name {@code lockFile} is one this process has open (the locked one). Never opens the
     * file itself: closing any descriptor of a file drops the process's POSIX locks on it. Linux's /proc/self/fd
     * tells; where it is missing, the lock is trusted as it is.
     */
    private static boolean heldUnderName(Path lockFile) throws IOException {
        Path fds = Path.of("/proc/self/fd");
        if (!Files.isDirectory(fds)) {
            return true;
        }
        Object key;
        try {
            key = Files.readAttributes(lockFile, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS).fileKey();
        } catch (NoSuchFileException e) {
            return false;
        }
        try (DirectoryStream<Path> s = Files.newDirectoryStream(fds)) {
            for (Path fd : s) {
                try {
                    // a deleted file's link reads "<path> (deleted)"; stat through the link does not open the file
                    if (Files.readSymbolicLink(fd).equals(lockFile)
                            && Objects.equals(key, Files.readAttributes(fd, BasicFileAttributes.class).fileKey())) {
                        return true;
                    }
                } catch (IOException e) {
                    // a descriptor closed meanwhile
                }
            }
        }
        return false;
    }

    private static JsonNode read(FileChannel channel) throws IOException {
        long size = channel.size();
        if (size == 0 || size > 1 << 16) {
            return null;
        }
        ByteBuffer buf = ByteBuffer.allocate((int) size);
        channel.read(buf, 0);
        try {
            JsonNode n = JSON.readTree(new String(buf.array(), 0, buf.position(), StandardCharsets.UTF_8));
            return n != null && n.isObject() ? n : null;
        } catch (IOException e) {
            return null; // a half-written lock file of a run killed while taking it
        }
    }

    private static void write(FileChannel channel, byte[] bytes) throws IOException {
        channel.truncate(0);
        ByteBuffer buf = ByteBuffer.wrap(bytes);
        long at = 0;
        while (buf.hasRemaining()) {
            at += channel.write(buf, at);
        }
        channel.force(true);
    }

    private static byte[] ownerBytes(String command) {
        return (owner(command).toString() + "\n").getBytes(StandardCharsets.UTF_8);
    }

    private static ObjectNode owner(String command) {
        ProcessHandle self = ProcessHandle.current();
        ObjectNode o = JSON.createObjectNode();
        o.put("pid", self.pid());
        o.put("host", hostName());
        o.put("command", command);
        o.put("started", Instant.now().toString());
        self.info().startInstant().ifPresent(t -> o.put("process_start", t.toString()));
        o.put("nonce", UUID.randomUUID().toString()); // tells two locks of one process apart
        return o;
    }

    /** Whether the owner recorded in a lock file is a live process of this host (the same pid AND start time). */
    static boolean aliveOnThisHost(JsonNode owner) {
        if (owner == null || !hostName().equals(owner.path("host").asText()) || !owner.path("pid").canConvertToLong()) {
            return false;
        }
        Optional<ProcessHandle> p = ProcessHandle.of(owner.get("pid").asLong());
        if (p.isEmpty() || !p.get().isAlive()) {
            return false;
        }
        String recorded = owner.path("process_start").asText("");
        Optional<Instant> start = p.get().info().startInstant();
        // A reused pid belongs to a process started at another time.
        return recorded.isEmpty() || start.isEmpty() || start.get().toString().equals(recorded);
    }

    static String describe(JsonNode owner) {
        if (owner == null) {
            return "another tasft run";
        }
        return "tasft " + owner.path("command").asText("?") + " (pid " + owner.path("pid").asText("?") + " on "
                + owner.path("host").asText("?") + ", since " + owner.path("started").asText("?") + ")";
    }

    private static String hostName() {
        try {
            return InetAddress.getLocalHost().getHostName();
        } catch (IOException e) {
            String env = System.getenv("HOSTNAME");
            return env == null ? "unknown-host" : env;
        }
    }

    private static void closeQuietly(FileChannel c) {
        try {
            c.close();
        } catch (IOException e) {
            // nothing left to do
        }
    }
}
