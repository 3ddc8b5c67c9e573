package org.tasft.eval;

import java.io.IOException;
import java.io.Reader;
import java.io.StringReader;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.commons.csv.CSVFormat;
import org.apache.commons.csv.CSVParser;
import org.apache.commons.csv.CSVRecord;
import org.tasft.io.InputFiles;

/**
 * Reads the rows of a prompt file, whatever its format, as field maps with the line each row starts on; the callers
 * ({@link PromptSets}, {@link ReferenceAnswers}) pick their fields. Every error is one line naming the file and the
 * line: {@code harmful.csv:14: ...}.
 */
final class PromptFiles {
    /** A record of the file: its fields (lower-case names, text values) and its first line. */
    record Row(Map<String, String> fields, long line) {
        /** The first present, non-null field of {@code names}, or null. */
        String first(String... names) {
            for (String n : names) {
                String v = fields.get(n);
                if (v != null) {
                    return v;
                }
            }
            return null;
        }
    }

    private static final ObjectMapper JSON = new ObjectMapper();

    private PromptFiles() {
    }

    static List<Row> read(Path file, PromptSetFormat format) {
        // a missing file, a folder, a FIFO, no permission or bytes that are not UTF-8: one line naming file and line
        String text = InputFiles.readUtf8(file, null);
        PromptSetFormat f = format == PromptSetFormat.AUTO ? PromptSetFormat.byExtension(file) : format;
        try {
            return switch (f) {
                case CSV -> csv(file, text);
                case JSONL -> jsonl(file, text);
                case STL_JSON -> json(file, text);
                case TEXT -> lines(file, text);
                case AUTO -> throw new IllegalStateException();
            };
        } catch (IOException e) { // reading a string: cannot happen
            throw new UncheckedIOException("cannot read " + file + ": " + e.getMessage(), e);
        }
    }

    static IllegalArgumentException error(Path file, long line, String message) {
        return new IllegalArgumentException(file + ":" + line + ": " + message);
    }

    // ---- CSV ----

    private static List<Row> csv(Path file, String text) throws IOException {
        List<Row> rows = new ArrayList<>();
        CSVFormat format = CSVFormat.RFC4180.builder().setHeader().setSkipHeaderRecord(true)
                .setIgnoreEmptyLines(true).get();
        try (Reader reader = new StringReader(text);
                CSVParser parser = parse(file, reader, format)) {
            List<String> header = new ArrayList<>();
            for (String h : parser.getHeaderNames()) {
                header.add(h.strip().toLowerCase(Locale.ROOT));
            }
            if (header.isEmpty()) {
                throw error(file, 1, "empty CSV file (expected a header line)");
            }
            long previousEnd = parser.getCurrentLineNumber();
            Iterator<CSVRecord> it = parser.iterator();
            while (true) {
                CSVRecord record;
                try {
                    if (!it.hasNext()) {
                        break;
                    }
                    record = it.next();
                } catch (UncheckedIOException | IllegalStateException e) {
                    throw error(file, previousEnd + 1, "malformed CSV: " + rootMessage(e));
                }
                long line = Math.max(previousEnd + 1, 2);
                previousEnd = parser.getCurrentLineNumber();
                if (record.size() == 1 && record.get(0).isBlank()) {
                    continue;
                }
                if (record.size() != header.size()) {
                    throw error(file, line, "a row of " + record.size() + " fields under a header of "
                            + header.size() + " (" + String.join(",", header) + ")");
                }
                Map<String, String> fields = new LinkedHashMap<>();
                for (int i = 0; i < header.size(); i++) {
                    fields.putIfAbsent(header.get(i), record.get(i));
                }
                rows.add(new Row(fields, line));
            }
        }
        return rows;
    }

    private static CSVParser parse(Path file, Reader reader, CSVFormat format) throws IOException {
        try {
            return CSVParser.builder().setReader(reader).setFormat(format).get();
        } catch (IllegalArgumentException | UncheckedIOException e) {
            throw error(file, 1, "bad CSV header: " + rootMessage(e));
        }
    }

    private static String rootMessage(Throwable e) {
        Throwable t = e;
        while (t.getCause() != null && t.getCause() != t) {
            t = t.getCause();
        }
        String m = t.getMessage();
        return m == null ? t.getClass().getSimpleName() : m;
    }

    // ---- plain text: one prompt a line ----

    /** One prompt a line (field "prompt"), surrounding white space stripped, blank lines skipped. */
    private static List<Row> lines(Path file, String text) {
        List<Row> rows = new ArrayList<>();
        for (InputFiles.Line line : InputFiles.nonBlankLines(text)) {
            rows.add(new Row(Map.of("prompt", line.text().strip()), line.number()));
        }
        return rows;
    }

    // ---- JSONL ----

    private static List<Row> jsonl(Path file, String all) {
        List<Row> rows = new ArrayList<>();
        for (InputFiles.Line line : InputFiles.nonBlankLines(all)) {
            JsonNode node;
            try {
                node = JSON.readTree(line.text());
            } catch (JsonProcessingException e) {
                throw error(file, line.number(), "malformed JSON: " + e.getOriginalMessage());
            }
            if (node == null || !node.isObject()) {
                throw error(file, line.number(), "expected a JSON object, got "
                        + (node == null ? "nothing" : node.getNodeType()));
            }
            rows.add(new Row(fields(file, line.number(), node), line.number()));
        }
        return rows;
    }

    private static Map<String, String> fields(Path file, long line, JsonNode object) {
        Map<String, String> fields = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = object.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            JsonNode v = e.getValue();
            String key = e.getKey().strip().toLowerCase(Locale.ROOT);
            if (v.isNull()) {
                continue;
            }
            // containers are kept as JSON text: an error arises only if a caller needs the field as text
            fields.putIfAbsent(key, v.isContainerNode() ? "\u0000" + v : v.asText());
        }
        return fields;
    }

    /** A field the caller uses must be text, not an object or array. */
    static String text(Path file, Row row, String name, String value) {
        if (value != null && value.startsWith("\u0000")) {
            throw error(file, row.line(), "field \"" + name + "\" must be a string, got " + value.substring(1));
        }
        return value;
    }

    // ---- JSON: Safety-Tuned-Llamas' object, or an array of records ----

    private static List<Row> json(Path file, String text) throws IOException {
        try (JsonParser p = JSON.getFactory().createParser(text)) {
            JsonToken first = p.nextToken();
            List<Row> rows;
            if (first == JsonToken.START_OBJECT) {
                rows = stlObject(file, p);
            } else if (first == JsonToken.START_ARRAY) {
                rows = new ArrayList<>();
                while (p.nextToken() != JsonToken.END_ARRAY) {
                    long line = p.currentTokenLocation().getLineNr();
                    if (p.currentToken() != JsonToken.START_OBJECT) {
                        throw error(file, line, "expected a JSON object in the array, got " + p.currentToken());
                    }
                    rows.add(new Row(fields(file, line, JSON.readTree(p)), line));
                }
            } else {
                throw error(file, 1, "expected {\"instructions\": [...]} or a JSON array of objects");
            }
            if (p.nextToken() != null) {
                throw error(file, p.currentTokenLocation().getLineNr(), "unexpected content after the JSON value");
            }
            return rows;
        } catch (JsonProcessingException e) {
            long line = e.getLocation() == null ? 0 : e.getLocation().getLineNr();
            throw error(file, line, "malformed JSON: " + e.getOriginalMessage());
        }
    }

    /** {"instructions": [...], "inputs": [...]}: other keys are skipped; inputs may be absent or shorter (empty). */
    private static List<Row> stlObject(Path file, JsonParser p) throws IOException {
        List<String> instructions = null;
        List<Long> lines = new ArrayList<>();
        List<String> inputs = null;
        long inputsLine = 0;
        while (p.nextToken() == JsonToken.FIELD_NAME) {
            String key = p.currentName();
            JsonToken value = p.nextToken();
            long line = p.currentTokenLocation().getLineNr();
            if (key.equals("instructions") || key.equals("inputs")) {
                if (value != JsonToken.START_ARRAY) {
                    throw error(file, line, "\"" + key + "\" must be an array of strings");
                }
                List<String> values = new ArrayList<>();
                List<Long> at = new ArrayList<>();
                while (p.nextToken() != JsonToken.END_ARRAY) {
                    long l = p.currentTokenLocation().getLineNr();
                    if (p.currentToken() == JsonToken.VALUE_STRING) {
                        values.add(p.getText());
                    } else if (p.currentToken() == JsonToken.VALUE_NULL && key.equals("inputs")) {
                        values.add("");
                    } else {
                        throw error(file, l, "\"" + key + "\"[" + values.size() + "] must be a string, got "
                                + p.currentToken());
                    }
                    at.add(l);
                }
                if (key.equals("instructions")) {
                    instructions = values;
                    lines = at;
                } else {
                    inputs = values;
                    inputsLine = line;
                }
            } else {
                p.skipChildren();
            }
        }
        if (instructions == null) {
            throw error(file, 1, "no \"instructions\" array (Safety-Tuned-Llamas' format is "
                    + "{\"instructions\": [...], \"inputs\": [...]})");
        }
        if (inputs != null && inputs.size() > instructions.size()) {
            throw error(file, inputsLine, "\"inputs\" has " + inputs.size() + " entries for "
                    + instructions.size() + " instructions");
        }
        List<Row> rows = new ArrayList<>();
        for (int i = 0; i < instructions.size(); i++) {
            Map<String, String> fields = new LinkedHashMap<>();
            fields.put("instruction", instructions.get(i));
            fields.put("input", inputs != null && i < inputs.size() ? inputs.get(i) : "");
            rows.add(new Row(fields, lines.get(i)));
        }
        return rows;
    }
}
