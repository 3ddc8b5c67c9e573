package org.tasft.checkpoint;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.function.Consumer;
import java.util.function.Predicate;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * A folder a command writes its outputs into ({@code --out}), which it may later delete only where it can prove it
 * wrote them: the folder's manifest {@code .tasft-outputs.json} lists, by name, every entry a tasft command put there,
 * and each entry is listed BEFORE it is created, so that a crash at any point leaves nothing of ours unlisted.
 *
 * <p>Rules: an absent or empty folder is taken; a folder with a manifest is taken by the command that wrote it (what it
 * does with the earlier outputs, continue or replace, is that command's decision); a folder with files and no manifest
 * is refused, since nothing proves that they are ours (notes, data, a home folder) — except that a command may adopt
 * a
 * folder that holds nothing but entries with its own output names (written by a tasft version before manifests).
 * Deleting an earlier output deletes exactly the listed entries and the hidden leftovers that tasft's atomic writes
 * leave beside them ({@code .<entry>.tmp-*}, {@code .<entry>.old-*}, {@code .<entry>.deleting-*}); any other file in
 * the folder is left alone. Opening also takes the folder's {@link OutputLock} for the handle's lifetime.
 */
public final class OutputFolder implements AutoCloseable {
    /** The manifest's file name. */
    public static final String MANIFEST = ".tasft-outputs.json";
    private static final String STAGING = ".tasft-staging-";
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    /** Writes new outputs into an empty folder (see {@link #publish}). */
    @FunctionalInterface
    public interface Writer {
        void writeInto(Path dir) throws IOException;
    }

    private final Path dir;
    private final String option;
    private final String command;
    private final OutputLock lock;
    private final boolean created;

    private OutputFolder(Path dir, String option, String command, OutputLock lock, boolean created) {
        this.dir = dir;
        this.option = option;
        this.command = command;
        this.lock = lock;
        this.created = created;
    }

    /**
     * Locks {@code out} (created if missing) for {@code command} and checks that it is ours to write.
     *
     * @param option   the option that named it, for messages ("--out")
     * @param command  the command writing it ("train", "eval", ...); a folder of another command is refused
     * @param adoptable names this command's outputs had before manifests existed (null: adopt nothing)
     * @param warn     told of a stale lock taken over and of an adopted folder
     * @throws IllegalArgumentException a file, a folder with files of unknown origin, or another command's folder
     * @throws OutputLock.InUseException another run holds the folder
     */
    public static OutputFolder open(Path out, String option, String command, Predicate<String> adoptable,
            Consumer<String> warn) {
        Path absolute = out.toAbsolutePath().normalize();
        if (Files.exists(absolute, LinkOption.NOFOLLOW_LINKS) && !Files.isDirectory(absolute)) {
            throw new IllegalArgumentException(option + " " + out + " is a file, not a folder");
        }
        if (Files.exists(absolute) && !Files.isWritable(absolute)) {
            throw new IllegalArgumentException("cannot write " + option + " " + out + ": permission denied");
        }
        boolean created = !Files.exists(absolute, LinkOption.NOFOLLOW_LINKS);
        OutputLock lock = OutputLock.folder(absolute, option, command, warn);
        OutputFolder folder = new OutputFolder(absolute, option, command, lock, created);
        try {
            folder.check(out, adoptable, warn);
            return folder;
        } catch (RuntimeException e) {
            lock.close();
            if (created) {
                deleteIfEmpty(absolute);
            }
            throw e;
        }
    }

    private void check(Path out, Predicate<String> adoptable, Consumer<String> warn) {
        JsonNode manifest = readManifest(dir);
        List<String> unlisted = unlisted();
        if (manifest == null) {
            if (unlisted.isEmpty()) {
                writeManifest(dir, command, List.of()); // the folder is ours from now on
                return;
            }
            if (adoptable != null && unlisted.stream().allMatch(adoptable)) {
                for (String name : unlisted) {
                    claim(dir, name, command);
                }
                warn.accept(option + " " + out + ": adopted " + String.join(", ", unlisted)
                        + " as the outputs of an earlier tasft " + command + " (written before output manifests)");
                return;
            }
            throw new IllegalArgumentException(option + " " + out + " holds files that tasft did not write ("
                    + names(unlisted) + "): choose a new or empty folder");
        }
        String owner = manifest.path("command").asText("");
        if (!owner.equals(command) && !previousEntries().isEmpty()) {
            throw new IllegalArgumentException(option + " " + out + " holds the outputs of tasft " + owner
                    + ", not of tasft " + command + ": choose another folder");
        }
    }

    /** The folder. */
    public Path dir() {
        return dir;
    }

    /** The listed entries that exist now, in the order they were listed. */
    public List<String> previousEntries() {
        List<String> found = new ArrayList<>();
        for (String name : listed(dir)) {
            if (Files.exists(dir.resolve(name), LinkOption.NOFOLLOW_LINKS) || !leftovers(name).isEmpty()) {
                found.add(name);
            }
        }
        return found;
    }

    /** Lists {@code name} as this folder's output (before it is written). */
    public void claim(String name) {
        claim(dir, name, command);
    }

    /**
     * Deletes every listed entry (and its leftovers) and empties the manifest; files not listed stay.
     *
     * @throws IllegalStateException an entry could not be deleted
     */
    public void deletePrevious() {
        for (String name : previousEntries()) {
            delete(name);
        }
        writeManifest(dir, command, List.of());
    }

    /**
     * Replaces this folder's outputs with what {@code writer} writes, leaving every file that is not listed in place:
     * the new entries are written into a hidden staging folder, listed, and moved in; the earlier listed entries are
     * deleted. An entry name that exists but is not listed (a file of the user's) is never replaced: that is an error.
     */
    public void publish(Writer writer) {
        String stagingName = STAGING + SafetensorsWriter.randomSuffix();
        claim(stagingName);
        Path staging = dir.resolve(stagingName);
        List<String> fresh = new ArrayList<>();
        boolean published = false;
        try {
            Files.createDirectory(staging);
            writer.writeInto(staging);
            AtomicFolder.forceTree(staging);
            try (DirectoryStream<Path> s = Files.newDirectoryStream(staging)) {
                s.forEach(p -> fresh.add(p.getFileName().toString()));
            }
            fresh.sort(null);
            Set<String> listed = new LinkedHashSet<>(listed(dir));
            for (String name : fresh) {
                if (Files.exists(dir.resolve(name), LinkOption.NOFOLLOW_LINKS) && !listed.contains(name)) {
                    throw new IllegalArgumentException(option + " " + dir.resolve(name)
                            + " exists and was not written by tasft: not replacing it (move it away or choose "
                            + "another folder)");
                }
            }
            for (String name : fresh) {
                claim(name);
            }
            for (String name : previousEntries()) {
                if (!name.equals(stagingName)) {
                    delete(name);
                }
            }
            for (String name : fresh) {
                Files.move(staging.resolve(name), dir.resolve(name), StandardCopyOption.ATOMIC_MOVE);
            }
            AtomicFolder.force(dir);
            published = true;
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot write " + option + " " + dir + ": "
                    + CheckpointException.reason(e), e);
        } finally {
            AtomicFolder.deleteQuietly(staging);
            List<String> keep = new ArrayList<>(published ? fresh : listed(dir));
            keep.remove(stagingName);
            writeManifest(dir, command, keep);
        }
    }

    /**
     * Releases the lock. The manifest stays, unless nothing was written (a run refused or failed before its first
     * output): then the folder is left as it was found, and removed if this handle created it.
     */
    @Override
    public void close() {
        if (listed(dir).isEmpty()) {
            try {
                Files.deleteIfExists(dir.resolve(MANIFEST));
            } catch (IOException e) {
                // an empty manifest is harmless
            }
        }
        lock.close();
        if (created) {
            deleteIfEmpty(dir);
        }
    }

    private static void deleteIfEmpty(Path dir) {
        try {
            Files.deleteIfExists(dir);
        } catch (IOException e) {
            // not empty (a run wrote into it) or not ours to remove
        }
    }

    private void delete(String name) {
        Path p = dir.resolve(name);
        deleteEntry(p);
        for (Path leftover : leftovers(name)) {
            deleteEntry(leftover);
        }
        if (Files.exists(p, LinkOption.NOFOLLOW_LINKS)) {
            throw new IllegalStateException(option + ": cannot delete " + p);
        }
    }

    private static void deleteEntry(Path p) {
        if (Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS)) {
            AtomicFolder.deleteQuietly(p); // does not follow links out of the folder
        } else {
            try {
                Files.deleteIfExists(p);
            } catch (IOException e) {
                // reported by the caller's check
            }
        }
    }

    /** The hidden leftovers of tasft's atomic writes of {@code name}: {@code .<name>.tmp-*}, {@code .old-*}, .... */
    private List<Path> leftovers(String name) {
        List<Path> found = new ArrayList<>();
        String prefix = "." + name + ".";
        try (DirectoryStream<Path> s = Files.newDirectoryStream(dir, p -> isLeftoverOf(prefix,
                p.getFileName().toString()))) {
            s.forEach(found::add);
        } catch (IOException e) {
            return found;
        }
        return found;
    }

    private static boolean isLeftoverOf(String prefix, String file) {
        if (!file.startsWith(prefix)) {
            return false;
        }
        String rest = file.substring(prefix.length());
        return rest.startsWith("tmp-") || rest.startsWith("old-") || rest.startsWith("deleting-");
    }

    /** The folder's entries that are neither tasft's bookkeeping nor listed (nor leftovers of listed entries). */
    private List<String> unlisted() {
        Set<String> listed = new LinkedHashSet<>(listed(dir));
        List<String> found = new ArrayList<>();
        try (DirectoryStream<Path> s = Files.newDirectoryStream(dir)) {
            for (Path p : s) {
                String name = p.getFileName().toString();
                if (name.equals(MANIFEST) || name.startsWith("." + MANIFEST + ".tmp-") || name.equals(OutputLock.FOLDER_LOCK)
                        || listed.contains(name)) {
                    continue;
                }
                boolean leftover = false;
                for (String entry : listed) {
                    leftover |= isLeftoverOf("." + entry + ".", name);
                }
                if (!leftover) {
                    found.add(name);
                }
            }
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot read " + option + " " + dir + ": "
                    + CheckpointException.reason(e), e);
        }
        found.sort(null);
        return found;
    }

    private static String names(List<String> names) {
        return String.join(", ", names.subList(0, Math.min(4, names.size()))) + (names.size() > 4 ? ", ..." : "");
    }

    /**
     * Lists {@code name} in {@code dir}'s manifest (creating it for {@code command} when there is none): what a writer
     * calls before it creates an entry, so that a later overwrite can prove the entry is tasft's.
     */
    public static void claim(Path dir, String name, String command) {
        if (name.isEmpty() || name.contains("/") || name.contains("\\") || name.equals(".") || name.equals("..")
                || name.equals(MANIFEST)) {
            throw new IllegalArgumentException("not an output entry name: '" + name + "'");
        }
        Path absolute = dir.toAbsolutePath().normalize();
        JsonNode manifest = readManifest(absolute);
        List<String> names = entries(manifest);
        if (names.contains(name)) {
            return;
        }
        names.add(name);
        String owner = manifest == null ? command : manifest.path("command").asText(command);
        writeManifest(absolute, owner, names);
    }

    /** The entries {@code dir}'s manifest lists (empty without a manifest). */
    public static List<String> listed(Path dir) {
        return entries(readManifest(dir));
    }

    /** A manifest's entry names (empty for none), leaving out any that would point outside the folder. */
    private static List<String> entries(JsonNode manifest) {
        List<String> names = new ArrayList<>();
        if (manifest != null) {
            for (JsonNode n : manifest.path("entries")) {
                String name = n.asText("");
                if (!name.isEmpty() && !name.contains("/") && !name.equals(".") && !name.equals("..")) {
                    names.add(name);
                }
            }
        }
        return names;
    }

    /** The command that wrote {@code dir}'s manifest, or null when it has none. */
    public static String owner(Path dir) {
        JsonNode manifest = readManifest(dir);
        return manifest == null ? null : manifest.path("command").asText(null);
    }

    private static JsonNode readManifest(Path dir) {
        Path file = dir.resolve(MANIFEST);
        if (!Files.isRegularFile(file, LinkOption.NOFOLLOW_LINKS)) {
            return null;
        }
        try {
            JsonNode n = JSON.readTree(file.toFile());
            if (n == null || !n.isObject() || !n.path("entries").isArray()) {
                throw new IllegalArgumentException(file + " is not a tasft output manifest; delete it only if you "
                        + "know the folder's files are not needed");
            }
            return n;
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot read " + file + ": " + CheckpointException.reason(e), e);
        }
    }

    private static void writeManifest(Path dir, String command, List<String> names) {
        ObjectNode n = JSON.createObjectNode();
        n.put("about", "the files tasft wrote here; tasft deletes only these when it replaces its outputs");
        n.put("command", command);
        ArrayNode entries = n.putArray("entries");
        names.forEach(entries::add);
        try {
            Files.createDirectories(dir);
            // synced and renamed into place, as the checkpoints' small files are
            SafetensorsWriter.writeBytes(dir.resolve(MANIFEST),
                    (JSON.writeValueAsString(n) + "\n").getBytes(StandardCharsets.UTF_8), true);
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot write " + dir + ": " + CheckpointException.reason(e), e);
        } catch (CheckpointException e) {
            IOException cause = e.getCause() instanceof IOException io ? io : new IOException(e.getMessage());
            throw new IllegalArgumentException("cannot write " + dir + ": " + CheckpointException.reason(cause), e);
        }
    }
}
