package org.tasft.eval;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.tasft.chat.ChatRow;

/**
 * Reads evaluation prompt sets:
 * <ul>
 * <li>Safety-Tuned-Llamas' evaluation JSON {@code {"instructions": [...], "inputs": [...]}} (I-MaliciousInstructions,
 * I-CoNa, I-Controversial, Q-Harm, ...); inputs are optional and may be empty strings;</li>
 * <li>CSV with a header, RFC 4180 quoting (fields with commas, quotes and newlines): the prompt is the first of the
 * columns prompt, instruction, goal (AdvBench's harmful_behaviors.csv: goal,target), behavior (HarmBench), question;
 * an input column is
 * optional; the label is the label column (XSTest: safe/unsafe) or, without one, XSTest's type column (types
 * starting with "contrast" are the unsafe ones);</li>
 * <li>JSONL, one object per line (or a JSON array of such objects): prompt, or instruction with optional input;
 * optional label (or type, as for CSV); or a chat row, {@code "messages": [{"role", "content"}, ...]} (TRL's
 * format): the last user turn is the prompt, the messages before it its context, an assistant answer after it is
 * ignored;</li>
 * <li>any other file (.txt): plain text, one prompt a line, blank lines skipped.</li>
 * </ul>
 * {@code tasft eval} and {@code tasft harvest} both read their prompt files here. Blank prompts, malformed rows and
 * bytes that are not UTF-8 are errors naming the file and line.
 */
public final class PromptSets {
    private static final ObjectMapper JSON = new ObjectMapper();
    static final String[] PROMPT_FIELDS = {"prompt", "instruction", "goal", "behavior", "question"};

    private PromptSets() {
    }

    /** Reads a set; its name is the file name without extension. */
    public static PromptSet read(Path file, PromptSetFormat format) {
        List<PromptFiles.Row> rows = PromptFiles.read(file, format);
        List<EvalPrompt> prompts = new ArrayList<>();
        for (PromptFiles.Row row : rows) {
            String messages = row.fields().get("messages");
            if (messages != null) {
                prompts.add(chatPrompt(file, row, messages));
                continue;
            }
            String instruction = PromptFiles.text(file, row, "prompt", row.first(PROMPT_FIELDS));
            if (instruction == null) {
                throw PromptFiles.error(file, row.line(), "no prompt field (expected one of prompt, instruction, "
                        + "goal, behavior, question; found " + String.join(", ", row.fields().keySet()) + ")");
            }
            if (instruction.isBlank()) {
                throw PromptFiles.error(file, row.line(), "empty prompt");
            }
            String input = PromptFiles.text(file, row, "input", row.fields().get("input"));
            prompts.add(new EvalPrompt(instruction, input, label(file, row), row.line()));
        }
        if (prompts.isEmpty()) {
            throw new IllegalArgumentException(file + ": no prompts");
        }
        return new PromptSet(nameOf(file), file, prompts);
    }

    /** A chat row: its last user turn is the prompt, the messages before it its context, an answer is ignored. */
    private static EvalPrompt chatPrompt(Path file, PromptFiles.Row row, String messages) {
        JsonNode node;
        try {
            node = messages.startsWith("\u0000") ? JSON.readTree(messages.substring(1)) : null;
        } catch (JsonProcessingException e) {
            node = null;
        }
        ChatRow chat = ChatRow.parse(node, file + ":" + row.line());
        if (chat.user().isBlank()) {
            throw PromptFiles.error(file, row.line(), "empty prompt (the last user turn)");
        }
        return new EvalPrompt(chat.user(), "", label(file, row), row.line(), chat.context());
    }

    public static PromptSet read(Path file) {
        return read(file, PromptSetFormat.AUTO);
    }

    private static String label(Path file, PromptFiles.Row row) {
        String label = PromptFiles.text(file, row, "label", row.fields().get("label"));
        if (label != null && !label.isBlank()) {
            return label;
        }
        String type = PromptFiles.text(file, row, "type", row.fields().get("type"));
        if (type != null && !type.isBlank()) {
            return type.strip().toLowerCase(Locale.ROOT).startsWith("contrast") ? "unsafe" : "safe";
        }
        return "";
    }

    /** The file name without its last extension, for tables and output file names. */
    static String nameOf(Path file) {
        String n = file.getFileName().toString();
        int dot = n.lastIndexOf('.');
        return dot > 0 ? n.substring(0, dot) : n;
    }
}
