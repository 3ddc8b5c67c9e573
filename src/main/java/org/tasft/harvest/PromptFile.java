package org.tasft.harvest;

import java.io.IOException;
import java.io.StringReader;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

import org.apache.commons.csv.CSVFormat;
import org.apache.commons.csv.CSVParser;
import org.apache.commons.csv.CSVRecord;
import org.tasft.data.AlpacaData;
import org.tasft.data.Prompt;

/**
 * Reads the prompts to harvest answers to, in one of three shapes:
 * <ul>
 *   <li>Alpaca JSON (an array of objects) or JSONL (one object per line): {@code instruction} (alias
 *       {@code prompt}) and the optional {@code input} ({@link AlpacaData#readPrompts}); an {@code output} is
 *       ignored, so a harmful training file can be re-harvested;</li>
 *   <li>CSV with a header row and a {@code prompt}, {@code goal} (AdvBench's harmful_behaviors.csv) or
 *       {@code instruction} column (names case-insensitive; the first of these present is used) and an optional
 *       {@code input} column; RFC 4180 quoting (Apache Commons CSV);</li>
 *   <li>plain text: one prompt per line; blank lines are skipped, surrounding white space stripped.</li>
 * </ul>
 * The shape comes from the extension ({@code .json}/{@code .jsonl}, {@code .csv}, {@code .txt}); other names are
 * JSON when their first non-blank character is {@code [} or {@code {}, else plain text. Files are UTF-8 (a byte
 * order mark is skipped). Every error is an {@link IllegalArgumentException} naming the file and the line, record
 * or array index.
 */
public final class PromptFile {
    /** The CSV columns that hold the prompt, in order of preference. */
    public static final List<String> CSV_PROMPT_COLUMNS = List.of("prompt", "goal", "instruction");

    private PromptFile() {
    }

    public static List<Prompt> read(Path file) {
        if (!Files.isRegularFile(file)) {
            throw new IllegalArgumentException(file + ": no such file");
        }
        String name = file.getFileName().toString().toLowerCase(Locale.ROOT);
        List<Prompt> prompts;
        if (name.endsWith(".json") || name.endsWith(".jsonl")) {
            prompts = AlpacaData.readPrompts(file);
        } else if (name.endsWith(".csv")) {
            prompts = readCsv(file, readText(file));
        } else if (name.endsWith(".txt")) {
            prompts = readLines(file, readText(file));
        } else {
            String text = readText(file);
            String head = text.stripLeading();
            prompts = head.startsWith("[") || head.startsWith("{") ? AlpacaData.readPrompts(file)
                    : readLines(file, text);
        }
        if (prompts.isEmpty()) {
            throw new IllegalArgumentException(file + ": no prompts");
        }
        return prompts;
    }

    private static String readText(Path file) {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot read " + file + ": " + e, e);
        }
        try {
            String text = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(bytes)).toString();
            return text.startsWith("\uFEFF") ? text.substring(1) : text;
        } catch (CharacterCodingException e) {
            throw new IllegalArgumentException(file + ": not UTF-8 text", e);
        }
    }

    private static List<Prompt> readLines(Path file, String text) {
        List<Prompt> out = new ArrayList<>();
        String[] lines = text.split("\r?\n", -1);
        for (int i = 0; i < lines.length; i++) {
            String s = lines[i].strip();
            if (!s.isEmpty()) {
                out.add(new Prompt(s, "", file + ": line " + (i + 1)));
            }
        }
        return out;
    }

    private static List<Prompt> readCsv(Path file, String text) {
        CSVFormat format = CSVFormat.DEFAULT.builder().setHeader().setSkipHeaderRecord(true).setIgnoreEmptyLines(true)
                .get();
        List<Prompt> out = new ArrayList<>();
        try (CSVParser parser = CSVParser.parse(new StringReader(text), format)) {
            List<String> header = parser.getHeaderNames();
            String promptColumn = null;
            for (String wanted : CSV_PROMPT_COLUMNS) {
                for (String h : header) {
                    if (promptColumn == null && h.strip().equalsIgnoreCase(wanted)) {
                        promptColumn = h;
                    }
                }
            }
            if (promptColumn == null) {
                throw new IllegalArgumentException(file + ": line 1: no " + String.join(", ", CSV_PROMPT_COLUMNS)
                        + " column in the header (it has: " + String.join(", ", header) + ")");
            }
            String inputColumn = null;
            for (String h : header) {
                if (h.strip().equalsIgnoreCase("input")) {
                    inputColumn = h;
                }
            }
            long previousLine = parser.getCurrentLineNumber();
            for (CSVRecord record : parser) {
                long line = parser.getCurrentLineNumber();
                // a record ends on the line the parser stands at; where it started, for a one-line record, too
                String at = file + ": record " + record.getRecordNumber() + " (line "
                        + (line > previousLine + 1 ? (previousLine + 1) + "-" + line : String.valueOf(line)) + ")";
                previousLine = line;
                if (!record.isConsistent()) {
                    throw new IllegalArgumentException(at + ": " + record.size() + " fields, the header has "
                            + header.size());
                }
                String prompt = record.get(promptColumn).strip();
                if (prompt.isEmpty()) {
                    throw new IllegalArgumentException(at + ": the " + promptColumn + " column is empty");
                }
                out.add(new Prompt(prompt, inputColumn == null ? "" : record.get(inputColumn), at));
            }
        } catch (UncheckedIOException | IllegalStateException e) {
            throw new IllegalArgumentException(file + ": not valid CSV: " + rootMessage(e), e);
        } catch (IOException e) {
            throw new IllegalArgumentException(file + ": not valid CSV: " + e.getMessage(), e);
        } catch (IllegalArgumentException e) {
            if (e.getMessage() != null && e.getMessage().startsWith(file.toString())) {
                throw e;
            }
            throw new IllegalArgumentException(file + ": line 1: not a valid CSV header: " + e.getMessage(), e);
        }
        return out;
    }

    private static String rootMessage(Throwable e) {
        Throwable t = e;
        while (t.getCause() != null && t.getCause() != t) {
            t = t.getCause();
        }
        return t.getMessage() == null ? t.toString() : t.getMessage();
    }
}
