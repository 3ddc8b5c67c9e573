package org.tasft.checkpoint;

import java.io.IOException;
import java.nio.file.Path;

/**
 * A second process for lock tests: takes the output lock of the folder {@code args[0]} as {@code args[1]} would, says
 * "locked" on stdout, and holds it until its stdin closes (or it is killed).
 */
public final class HoldLock {
    private HoldLock() {
    }

    public static void main(String[] args) throws IOException {
        Path out = Path.of(args[0]);
        try (OutputLock lock = args.length > 2 && args[2].equals("file")
                ? OutputLock.file(out, "--out", args[1], System.err::println)
                : OutputLock.folder(out, "--out", args[1], System.err::println)) {
            System.out.println("locked");
            System.out.flush();
            while (System.in.read() >= 0) {
                // wait for the parent
            }
        }
    }

    /** Starts a JVM holding the lock of {@code folder}; returns once it holds it. */
    public static Process start(Path folder, String command) throws IOException {
        return start(folder, command, "folder");
    }

    /** Starts a JVM holding the lock of the output {@code out} ("folder" or "file"); returns once it holds it. */
    public static Process start(Path out, String command, String kind) throws IOException {
        String cp = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-cp", cp,
                HoldLock.class.getName(), out.toString(), command, kind).redirectErrorStream(true).start();
        String line = new java.io.BufferedReader(new java.io.InputStreamReader(p.getInputStream())).readLine();
        if (!"locked".equals(line)) {
            p.destroyForcibly();
            throw new IOException("the lock holder did not start: " + line);
        }
        return p;
    }
}
