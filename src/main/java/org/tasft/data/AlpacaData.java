package org.tasft.data;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.tasft.chat.ChatRow;
import org.tasft.io.InputFiles;

/**
 * Reads instruction data in the Stanford Alpaca shape, safe or harmful alike.
 *
 * <p>Two layouts, told apart by the first character that is not white space:
 * <ul>
 * <li>{@code [} a JSON file holding a top-level array of objects (alpaca_data.json, Safety-Tuned-Llamas' files);</li>
 * <li>{@code {} JSONL: one object per line; blank lines are skipped.</li>
 * </ul>
 * Each object has {@code instruction} (required; alias {@code prompt}), {@code input} (optional, default "";
 * {@code null} counts as absent) and {@code output} (required; alias {@code response}), all strings. Other fields
 * are ignored. Giving a field and its alias together is an error (which one would be meant is unclear).
 *
 * <p>A chat row, as TRL's SFT datasets hold them, is accepted too: {@code "messages": [{"role", "content"}, ...]}
 * ending with the assistant's answer (the output); the last user turn is the instruction and the messages before it
 * (a system message, earlier turns) the example's context ({@link ChatRow}). A row with both {@code messages} and
 * Alpaca fields is an error.
 *
 * <p>Every error is an {@link IllegalArgumentException} whose message names the file, where in it (the JSONL line,
 * or the array index, or the JSON parser's line and column) and the field: a file that is not JSON, not an array
 * or JSONL of objects, a missing or non-string field, an empty file or one with no examples.
 */
public final class AlpacaData {
    private static final ObjectMapper JSON = new ObjectMapper()
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION);

    private AlpacaData() {
    }

    /** Reads safe examples (instruction data or safe refusals). */
    public static List<Example> read(Path file) {
        return read(file, Example.Kind.SAFE);
    }

    /** Reads examples of the given kind from an Alpaca JSON array or JSONL file; see the class comment. */
    public static List<Example> read(Path file, Example.Kind kind) {
        String text = readText(file);
        int first = 0;
        while (first < text.length() && Character.isWhitespace(text.charAt(first))) {
            first++;
        }
        if (first == text.length()) {
            throw new IllegalArgumentException(file + ": empty file (expected a JSON array of objects or JSONL)");
        }
        List<Example> examples;
        char c = text.charAt(first);
        if (c == '[') {
            examples = readArray(file, text, kind);
        } else if (c == '{') {
            examples = readLines(file, text, kind);
        } else {
            throw new IllegalArgumentException(file + ": not JSON or JSONL of Alpaca objects: the file starts with '"
                    + c + "' (expected '[' for a JSON array or '{' for JSONL)");
        }
        if (examples.isEmpty()) {
            throw new IllegalArgumentException(file + ": no examples (the array is empty)");
        }
        return Collections.unmodifiableList(examples);
    }

    private static String readText(Path file) {
        return InputFiles.readUtf8(file, null); // errors name the file, and the line of bytes that are not UTF-8
    }

    private static List<Example> readArray(Path file, String text, Example.Kind kind) {
        JsonNode root;
        try {
            root = JSON.readTree(text);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException(file + ": not JSON" + where(e.getLocation()) + ": "
                    + e.getOriginalMessage(), e);
        }
        List<Example> out = new ArrayList<>(root.size());
        for (int i = 0; i < root.size(); i++) {
            out.add(example(root.get(i), kind, file + ": [" + i + "]"));
        }
        return out;
    }

    private static List<Example> readLines(Path file, String text, Example.Kind kind) {
        List<Example> out = new ArrayList<>();
        for (InputFiles.Line line : InputFiles.nonBlankLines(text)) {
            String at = file + ": line " + line.number();
            JsonNode node;
            try {
                node = JSON.readTree(line.text());
            } catch (JsonProcessingException e) {
                String hint = line.number() == 1 && isSingleObject(text)
                        ? " (the file holds one JSON object spread over lines: expected an array of objects or one"
                                + " object per line)"
                        : "";
                throw new IllegalArgumentException(at + ": not JSON: " + e.getOriginalMessage() + hint, e);
            }
            out.add(example(node, kind, at));
        }
        return out;
    }

    private static boolean isSingleObject(String text) {
        try {
            return JSON.readTree(text).isObject();
        } catch (JsonProcessingException e) {
            return false;
        }
    }

    private static String where(JsonLocation location) {
        if (location == null || location.getLineNr() < 1) {
            return "";
        }
        return " at line " + location.getLineNr() + ", column " + location.getColumnNr();
    }

    private static Example example(JsonNode node, Example.Kind kind, String at) {
        if (!node.isObject()) {
            throw new IllegalArgumentException(at + ": expected an object with instruction/input/output (or "
                    + "messages), got "
                    + describe(node));
        }
        if (node.has("messages")) {
            for (String f : new String[] {"instruction", "prompt", "output", "response", "input"}) {
                if (node.has(f)) {
                    throw new IllegalArgumentException(at + ": both \"messages\" and \"" + f + "\" are given (a "
                            + "chat row or an Alpaca row, not both)");
                }
            }
            ChatRow row = ChatRow.parse(node.get("messages"), at);
            if (row.answer() == null) {
                throw new IllegalArgumentException(at + ": \"messages\" must end with the \"assistant\" answer to "
                        + "train on");
            }
            return new Example(row.user(), "", row.answer(), kind, row.context());
        }
        String instruction = field(node, "instruction", "prompt", true, at);
        String input = field(node, "input", null, false, at);
        String output = field(node, "output", "response", true, at);
        return new Example(instruction, input == null ? "" : input, output, kind);
    }

    private static String field(JsonNode node, String name, String alias, boolean required, String at) {
        JsonNode value = node.get(name);
        String used = name;
        if (alias != null && node.has(alias)) {
            if (value != null) {
                throw new IllegalArgumentException(at + ": both \"" + name + "\" and its alias \"" + alias
                        + "\" are given");
            }
            value = node.get(alias);
            used = alias;
        }
        if (value == null || value.isNull()) {
            if (required) {
                throw new IllegalArgumentException(at + ": missing field \"" + name + "\""
                        + (alias == null ? "" : " (or \"" + alias + "\")"));
            }
            return null;
        }
        if (!value.isTextual()) {
            throw new IllegalArgumentException(at + ": field \"" + used + "\" must be a string, got "
                    + describe(value));
        }
        return value.textValue();
    }

    private static String describe(JsonNode node) {
        switch (node.getNodeType()) {
            case ARRAY:
                return "an array";
            case OBJECT:
                return "an object";
            case NUMBER:
                return "a number (" + node + ")";
            case BOOLEAN:
                return "a boolean (" + node + ")";
            case STRING:
                return "a string";
            case NULL:
                return "null";
            default:
                return node.getNodeType().toString().toLowerCase();
        }
    }
}
