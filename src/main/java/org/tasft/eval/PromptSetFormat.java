package org.tasft.eval;

import java.nio.file.Path;
import java.util.Locale;

/** The file formats {@link PromptSets} reads. */
public enum PromptSetFormat {
    /**
     * By extension: .csv, .jsonl/.ndjson; .json is Safety-Tuned-Llamas' object or a JSON array of records; any other
     * file (.txt) is plain text, one prompt a line.
     */
    AUTO("auto"),
    /** Safety-Tuned-Llamas' evaluation JSON: {"instructions": [...], "inputs": [...]} (inputs optional). */
    STL_JSON("stl-json"),
    /** CSV with a header and a prompt column (prompt, goal, instruction or question). */
    CSV("csv"),
    /** One JSON object per line with prompt (or instruction + input) and an optional label. */
    JSONL("jsonl"),
    /** Plain text: one prompt a line, surrounding white space stripped, blank lines skipped. */
    TEXT("text");

    public final String cliName;

    PromptSetFormat(String cliName) {
        this.cliName = cliName;
    }

    public static PromptSetFormat named(String name) {
        for (PromptSetFormat f : values()) {
            if (f.cliName.equals(name.toLowerCase(Locale.ROOT)) || f.name().equalsIgnoreCase(name)) {
                return f;
            }
        }
        throw new IllegalArgumentException("unknown prompt set format '" + name
                + "': expected auto, stl-json, csv, jsonl or text");
    }

    /**
     * The format of a file by its extension (for AUTO); JSON files are told apart by their content; a file that is
     * not .json, .jsonl, .ndjson or .csv is plain text (as {@code tasft harvest} has always read its prompts).
     */
    static PromptSetFormat byExtension(Path file) {
        String n = file.getFileName().toString().toLowerCase(Locale.ROOT);
        if (n.endsWith(".csv")) {
            return CSV;
        }
        if (n.endsWith(".jsonl") || n.endsWith(".ndjson")) {
            return JSONL;
        }
        if (n.endsWith(".json")) {
            return STL_JSON;
        }
        return TEXT;
    }
}
