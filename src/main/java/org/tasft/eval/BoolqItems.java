package org.tasft.eval;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.tasft.io.InputFiles;

/**
 * BoolQ's JSONL: {@code {"question": ..., "passage": ..., "answer": true|false}} per line (also the SuperGLUE copy's
 * {@code "label": 0|1} and "true"/"false" strings). Errors name the file and line.
 */
public final class BoolqItems {
    /** One yes/no question about a passage, from {@code line} of {@code file} (null when it came from no file). */
    public record BoolqItem(String question, String passage, boolean answer, long line, Path file) {
        public BoolqItem(String question, String passage, boolean answer, long line) {
            this(question, passage, answer, line, null);
        }
    }

    private static final ObjectMapper JSON = new ObjectMapper();

    private BoolqItems() {
    }

    public static List<BoolqItem> read(Path file) {
        // a missing file, a folder, a FIFO, no permission or bytes that are not UTF-8: one line naming file and line
        List<BoolqItem> items = new ArrayList<>();
        for (InputFiles.Line numbered : InputFiles.nonBlankLines(InputFiles.readUtf8(file, null))) {
            long line = numbered.number();
            JsonNode n;
            try {
                n = JSON.readTree(numbered.text());
            } catch (JsonProcessingException e) {
                throw PromptFiles.error(file, line, "malformed JSON: " + e.getOriginalMessage());
            }
            if (n == null || !n.isObject()) {
                throw PromptFiles.error(file, line, "expected a JSON object");
            }
            String question = n.path("question").isTextual() ? n.get("question").asText() : null;
            String passage = n.path("passage").isTextual() ? n.get("passage").asText() : null;
            if (question == null || question.isBlank()) {
                throw PromptFiles.error(file, line, "no \"question\" string");
            }
            if (passage == null) {
                throw PromptFiles.error(file, line, "no \"passage\" string");
            }
            items.add(new BoolqItem(question, passage, answer(file, line, n), line, file));
        }
        if (items.isEmpty()) {
            throw new IllegalArgumentException(file + ": no BoolQ items");
        }
        return items;
    }

    private static boolean answer(Path file, long line, JsonNode n) {
        JsonNode a = n.has("answer") ? n.get("answer") : n.get("label");
        if (a != null) {
            if (a.isBoolean()) {
                return a.asBoolean();
            }
            if (a.isInt() && (a.asInt() == 0 || a.asInt() == 1)) {
                return a.asInt() == 1;
            }
            String s = a.asText().strip().toLowerCase(Locale.ROOT);
            if (s.equals("true") || s.equals("yes")) {
                return true;
            }
            if (s.equals("false") || s.equals("no")) {
                return false;
            }
        }
        throw PromptFiles.error(file, line, "\"answer\" must be true or false, got " + a);
    }
}
