package org.tasft.checkpoint;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Output folders delete only what the manifest proves is theirs; locks keep one run per folder. */
class OutputFolderTest {
    @TempDir
    Path dir;

    private final List<String> warnings = new ArrayList<>();

    private OutputFolder open(Path out, String command) {
        return OutputFolder.open(out, "--out", command, null, warnings::add);
    }

    private static List<String> names(Path d) throws IOException {
        try (Stream<Path> s = Files.list(d)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    @Test
    void aFolderWithFilesTasftDidNotWriteIsRefusedAndUntouched() throws IOException {
        Path home = Files.createDirectories(dir.resolve("home"));
        Files.writeString(home.resolve("notes.txt"), "mine");
        Files.createDirectories(home.resolve("results.json")); // even under an output's name
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> open(home, "eval"));
        assertEquals("--out " + home + " holds files that tasft did not write (notes.txt, results.json): choose a "
                + "new or empty folder", e.getMessage());
        assertEquals(List.of("notes.txt", "results.json"), names(home), "nothing added, nothing deleted");
    }

    @Test
    void publishReplacesOnlyTheEarlierOutputs() throws IOException {
        Path out = dir.resolve("out");
        try (OutputFolder f = open(out, "eval")) {
            f.publish(d -> {
                Files.writeString(d.resolve("results.json"), "1");
                Files.createDirectories(d.resolve("answers")).resolve("a.jsonl").toFile().createNewFile();
                Files.writeString(d.resolve("boolq.jsonl"), "b");
            });
        }
        assertEquals(List.of(OutputFolder.MANIFEST, "answers", "boolq.jsonl", "results.json"), names(out));
        // the user adds files beside the outputs, and a link out of the folder
        Files.writeString(out.resolve("notes.txt"), "mine");
        Path precious = Files.writeString(dir.resolve("precious.txt"), "keep");
        Files.createSymbolicLink(out.resolve("link"), precious);
        try (OutputFolder f = open(out, "eval")) {
            assertEquals(List.of("answers", "boolq.jsonl", "results.json"), f.previousEntries());
            f.publish(d -> Files.writeString(d.resolve("results.json"), "2"));
        }
        assertEquals(List.of(OutputFolder.MANIFEST, "link", "notes.txt", "results.json"), names(out));
        assertEquals("2", Files.readString(out.resolve("results.json")));
        assertEquals("mine", Files.readString(out.resolve("notes.txt")));
        assertEquals("keep", Files.readString(precious));
        assertEquals(List.of("results.json"), OutputFolder.listed(out));
    }

    @Test
    void publishNeverReplacesAFileItDidNotList() throws IOException {
        Path out = dir.resolve("out");
        try (OutputFolder f = open(out, "eval")) {
            f.publish(d -> Files.writeString(d.resolve("results.json"), "1"));
        }
        Files.writeString(out.resolve("results.md"), "the user's own");
        try (OutputFolder f = open(out, "eval")) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> f.publish(d -> {
                Files.writeString(d.resolve("results.json"), "2");
                Files.writeString(d.resolve("results.md"), "2");
            }));
            assertTrue(e.getMessage().contains("results.md exists and was not written by tasft"), e.getMessage());
        }
        assertEquals("the user's own", Files.readString(out.resolve("results.md")));
        assertEquals("1", Files.readString(out.resolve("results.json")));
        assertFalse(names(out).stream().anyMatch(n -> n.startsWith(".tasft-staging")), names(out).toString());
    }

    @Test
    void deletePreviousDeletesListedEntriesAndTheirLeftoversOnly() throws IOException {
        Path out = dir.resolve("out");
        try (OutputFolder f = open(out, "train")) {
            f.claim("checkpoint-2");
            Files.createDirectories(out.resolve("checkpoint-2"));
            Files.createDirectories(out.resolve(".checkpoint-2.tmp-abc"));
            Files.createDirectories(out.resolve(".final.tmp-abc")); // final was never listed: not ours
            Files.writeString(out.resolve("checkpoint-3"), "the user's");
            f.deletePrevious();
        }
        assertEquals(List.of(".final.tmp-abc", "checkpoint-3"), names(out));
    }

    @Test
    void anotherCommandsFolderIsRefused() throws IOException {
        Path out = dir.resolve("out");
        try (OutputFolder f = open(out, "train")) {
            f.claim("metrics.jsonl");
            Files.writeString(out.resolve("metrics.jsonl"), "");
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> open(out, "eval"));
        assertEquals("--out " + out + " holds the outputs of tasft train, not of tasft eval: choose another folder",
                e.getMessage());
    }

    @Test
    void olderFoldersWithOnlyTheCommandsOwnNamesAreAdopted() throws IOException {
        Path out = Files.createDirectories(dir.resolve("old"));
        Files.writeString(out.resolve("results.json"), "{}");
        Files.createDirectories(out.resolve("answers"));
        try (OutputFolder f = OutputFolder.open(out, "--out", "eval", List.of("results.json", "answers")::contains,
                warnings::add)) {
            assertEquals(List.of("answers", "results.json"), f.previousEntries());
        }
        assertTrue(warnings.get(0).contains("adopted answers, results.json"), warnings.toString());
        Files.writeString(out.resolve("notes.txt"), "mine");
        Path other = Files.createDirectories(dir.resolve("old2"));
        Files.writeString(other.resolve("results.json"), "{}");
        Files.writeString(other.resolve("notes.txt"), "mine");
        assertThrows(IllegalArgumentException.class, () -> OutputFolder.open(other, "--out", "eval",
                List.of("results.json")::contains, warnings::add));
    }

    @Test
    void aRefusedOrEmptyRunLeavesTheFolderAsItWas() throws IOException {
        Path fresh = dir.resolve("fresh");
        open(fresh, "train").close();
        assertFalse(Files.exists(fresh), "a folder created for nothing is removed again");
        Path empty = Files.createDirectories(dir.resolve("empty"));
        open(empty, "train").close();
        assertEquals(List.of(), names(empty));
    }

    @Test
    void aFileIsNotAFolder() throws IOException {
        Path file = Files.writeString(dir.resolve("f"), "x");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> open(file, "eval"));
        assertEquals("--out " + file + " is a file, not a folder", e.getMessage());
    }

    @Test
    void aLockedFolderIsRefusedWhileHeldAndFreeAfterwards() {
        Path out = dir.resolve("out");
        try (OutputFolder held = open(out, "train")) {
            OutputLock.InUseException e = assertThrows(OutputLock.InUseException.class, () -> open(out, "train"));
            assertTrue(e.getMessage().startsWith("--out " + out + " is in use by this process already (tasft train "
                    + "(pid " + ProcessHandle.current().pid() + " on "), e.getMessage());
            assertTrue(Files.isRegularFile(out.resolve(OutputLock.FOLDER_LOCK)));
        }
        assertFalse(Files.exists(out.resolve(OutputLock.FOLDER_LOCK)), "released and removed");
        open(out, "train").close();
        assertTrue(warnings.isEmpty(), warnings.toString());
    }

    @Test
    void aStaleLockOfADeadProcessIsTakenOverWithAWarning() throws IOException, InterruptedException {
        Path out = Files.createDirectories(dir.resolve("out"));
        Process dead = new ProcessBuilder("true").start();
        dead.waitFor();
        Files.writeString(out.resolve(OutputLock.FOLDER_LOCK), "{\"pid\": " + dead.pid() + ", \"host\": \"h\", "
                + "\"command\": \"train\", \"started\": \"2026-01-01T00:00:00Z\"}\n");
        try (OutputFolder f = open(out, "eval")) {
            assertEquals(1, warnings.size(), warnings.toString());
            assertEquals("--out " + out + ": took over the lock of tasft train (pid " + dead.pid() + " on h, since "
                    + "2026-01-01T00:00:00Z), which ended without releasing it (killed or crashed)", warnings.get(0));
        }
    }

    @Test
    void aLockWhoseOwnerIsAliveIsNotTakenOverEvenIfTheFileSystemIgnoresLocks() throws IOException {
        // this process is alive: a lock file naming it (as a file system without locks would leave) is honoured
        Path out = Files.createDirectories(dir.resolve("out"));
        ProcessHandle self = ProcessHandle.current();
        String start = self.info().startInstant().map(Object::toString).orElse("");
        Files.writeString(out.resolve(OutputLock.FOLDER_LOCK), "{\"pid\": " + self.pid() + ", \"host\": \""
                + java.net.InetAddress.getLocalHost().getHostName() + "\", \"command\": \"train\", \"started\": \"x\", "
                + "\"process_start\": \"" + start + "\"}\n");
        OutputLock.InUseException e = assertThrows(OutputLock.InUseException.class, () -> open(out, "train"));
        assertTrue(e.getMessage().contains("is in use by tasft train (pid " + self.pid()), e.getMessage());
    }

    @Test
    void aFileOutputHasItsOwnLockBesideIt() throws IOException {
        Path file = dir.resolve("harmful.jsonl");
        try (OutputLock lock = OutputLock.file(file, "--out", "harvest", warnings::add)) {
            assertEquals(dir.resolve(".harmful.jsonl.tasft.lock"), lock.file());
            assertThrows(OutputLock.InUseException.class, () -> OutputLock.file(file, "--out", "harvest",
                    warnings::add));
            // another file in the same folder is free
            OutputLock.file(dir.resolve("other.jsonl"), "--out", "harvest", warnings::add).close();
        }
        assertEquals(List.of(), names(dir));
    }
}
