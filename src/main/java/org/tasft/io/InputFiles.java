package org.tasft.io;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The checks and the reading that every input file of the command line goes through, so that each kind of bad file
 * gets the same one-line message wherever it is given: a missing file, a folder, something that is not a regular
 * file (a FIFO, which would block a reader forever, a device, a socket), a file without read permission, and text
 * that is not UTF-8 ({@code file:line: not UTF-8 text (byte 0xE9 at column 7)}).
 *
 * <p>Every error is an {@link IllegalArgumentException} whose message starts with the file (after the option that
 * named it, where the caller gives one).
 */
public final class InputFiles {
    private InputFiles() {
    }

    /**
     * Checks that {@code file} is a regular file this process may read, without opening it (opening a FIFO for
     * reading blocks until a writer comes).
     *
     * @param option the command-line option that named the file (e.g. {@code --safe}), or null
     */
    public static void requireReadableFile(Path file, String option) {
        String label = option == null ? file.toString() : option + " " + file;
        BasicFileAttributes attributes = attributes(file, label + ": no such file", label + ": cannot read it: ");
        if (attributes.isDirectory()) {
            throw new IllegalArgumentException(label + ": is a folder, not a file");
        }
        if (!attributes.isRegularFile()) {
            throw new IllegalArgumentException(label + ": is not a regular file (a FIFO, socket or device); "
                    + "give a file");
        }
        if (!Files.isReadable(file)) {
            throw new IllegalArgumentException(label + ": cannot read it: permission denied");
        }
    }

    /**
     * The attributes of {@code path}, read without opening it: a missing path is the error {@code missing}, any other
     * failure is {@code unreadable} followed by the reason ({@link #describe}: "permission denied", ...).
     */
    public static BasicFileAttributes attributes(Path path, String missing, String unreadable) {
        try {
            return Files.readAttributes(path, BasicFileAttributes.class);
        } catch (NoSuchFileException e) {
            throw new IllegalArgumentException(missing, e);
        } catch (IOException e) {
            throw new IllegalArgumentException(unreadable + describe(e), e);
        }
    }

    /**
     * The text of a UTF-8 file (a leading byte order mark dropped), after {@link #requireReadableFile}. Bytes that
     * are not UTF-8 are an error naming the file, the line and the column (in bytes) of the first one.
     *
     * @param option the command-line option that named the file, or null
     */
    public static String readUtf8(Path file, String option) {
        requireReadableFile(file, option);
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (IOException e) {
            throw new IllegalArgumentException((option == null ? "" : option + " ") + file + ": cannot read it: "
                    + describe(e), e);
        }
        return decodeUtf8(bytes, file.toString());
    }

    /** A line of a text file: its 1-based number and its text, without the line end. */
    public record Line(int number, String text) {
    }

    /**
     * The lines of {@code text} (ended by \n or \r\n) that are not blank, numbered as an editor numbers them: what
     * every line-per-record input (JSONL, one prompt or phrase a line) reads, so that messages cite the same line.
     */
    public static List<Line> nonBlankLines(String text) {
        String[] lines = text.split("\r?\n", -1);
        List<Line> out = new ArrayList<>();
        for (int i = 0; i < lines.length; i++) {
            if (!lines[i].isBlank()) {
                out.add(new Line(i + 1, lines[i]));
            }
        }
        return out;
    }

    /** {@code bytes} as UTF-8 text (a leading byte order mark dropped); errors name {@code source}, line, column. */
    public static String decodeUtf8(byte[] bytes, String source) {
        CharsetDecoder decoder = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT);
        ByteBuffer in = ByteBuffer.wrap(bytes);
        CharBuffer out = CharBuffer.allocate(bytes.length + 1); // UTF-8 never gives more chars than bytes
        CoderResult result = decoder.decode(in, out, true);
        if (!result.isError()) {
            result = decoder.flush(out);
        }
        if (result.isError()) {
            int at = in.position();
            int line = 1;
            int lineStart = 0;
            for (int i = 0; i < at; i++) {
                if (bytes[i] == '\n') {
                    line++;
                    lineStart = i + 1;
                }
            }
            String badByte = at < bytes.length
                    ? String.format(Locale.ROOT, "byte 0x%02X at column %d", bytes[at] & 0xFF, at - lineStart + 1)
                    : "an incomplete character at the end";
            throw new IllegalArgumentException(source + ":" + line + ": not UTF-8 text (" + badByte
                    + "); save the file as UTF-8");
        }
        out.flip();
        String text = out.toString();
        return text.startsWith("\uFEFF") ? text.substring(1) : text;
    }

    /** An I/O error in words: the reason the operating system gave, without the exception's class name. */
    public static String describe(IOException e) {
        if (e instanceof AccessDeniedException) {
            return "permission denied";
        }
        if (e instanceof NoSuchFileException) {
            return "no such file";
        }
        if (e instanceof java.nio.file.FileSystemException f && f.getReason() != null) {
            return f.getReason();
        }
        String m = e.getMessage();
        return m == null || m.isBlank() ? e.getClass().getSimpleName() : m;
    }
}
