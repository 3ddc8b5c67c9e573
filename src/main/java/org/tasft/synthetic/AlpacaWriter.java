package org.tasft.synthetic;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.core.util.DefaultIndenter;
import com.fasterxml.jackson.core.util.DefaultPrettyPrinter;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.ObjectWriter;

import org.tasft.data.Example;

/**
 * Writes JSON files in the Alpaca shape ({@code [{"instruction","input","output", ...}]}), byte for byte the same on
 * every platform: UTF-8, two-space indentation, "\n" line ends, fields in insertion order, a final newline.
 */
public final class AlpacaWriter {
    private static final ObjectWriter WRITER;

    static {
        DefaultIndenter indenter = new DefaultIndenter("  ", "\n");
        DefaultPrettyPrinter printer = new DefaultPrettyPrinter()
                .withObjectIndenter(indenter)
                .withArrayIndenter(indenter);
        WRITER = new ObjectMapper().writer(printer);
    }

    private AlpacaWriter() {
    }

    /** One Alpaca record for an example, as an ordered map (callers may add fields). */
    public static Map<String, Object> record(Example e) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("instruction", e.instruction());
        m.put("input", e.input());
        m.put("output", e.output());
        return m;
    }

    /** Writes examples as an Alpaca JSON array. */
    public static void writeExamples(Path file, List<Example> examples) {
        List<Map<String, Object>> records = new ArrayList<>(examples.size());
        for (Example e : examples) {
            records.add(record(e));
        }
        write(file, records);
    }

    /** Writes any JSON value (ordered maps and lists) deterministically. */
    public static void write(Path file, Object value) {
        try {
            byte[] bytes = WRITER.writeValueAsBytes(value);
            byte[] withNewline = new byte[bytes.length + 1];
            System.arraycopy(bytes, 0, withNewline, 0, bytes.length);
            withNewline[bytes.length] = '\n';
            Files.write(file, withNewline);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + file, e);
        }
    }
}
