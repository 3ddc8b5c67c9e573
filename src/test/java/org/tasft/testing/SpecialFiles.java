package org.tasft.testing;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;

/** FIFOs and folders one cannot write to, for the tests of the errors they give. */
public final class SpecialFiles {
    private SpecialFiles() {
    }

    /** Makes a FIFO at {@code path}; false where there is no mkfifo. */
    public static boolean mkfifo(Path path) throws InterruptedException {
        return runs("mkfifo", path.toString()) && Files.exists(path) && !Files.isRegularFile(path);
    }

    /**
     * Makes {@code folder} one this process cannot create files in: read-only permissions, and for root (whom
     * permissions do not bind) the immutable attribute where the file system has it. False where neither works;
     * {@link #makeWritable} undoes it.
     */
    public static boolean makeUnwritable(Path folder) throws IOException, InterruptedException {
        Files.setPosixFilePermissions(folder, PosixFilePermissions.fromString("r-x------"));
        if (cannotWrite(folder)) {
            return true;
        }
        return runs("chattr", "+i", folder.toString()) && cannotWrite(folder);
    }

    public static void makeWritable(Path folder) throws IOException, InterruptedException {
        runs("chattr", "-i", folder.toString());
        Files.setPosixFilePermissions(folder, PosixFilePermissions.fromString("rwx------"));
    }

    private static boolean cannotWrite(Path folder) {
        Path probe = folder.resolve(".probe");
        try {
            Files.createFile(probe);
            Files.delete(probe);
            return false;
        } catch (IOException e) {
            return true;
        }
    }

    private static boolean runs(String... command) throws InterruptedException {
        try {
            Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
            p.getInputStream().readAllBytes();
            return p.waitFor() == 0;
        } catch (IOException e) {
            return false;
        }
    }
}
