package org.tasft.tokenizer;

import java.nio.file.Files;
import java.nio.file.Path;

import org.tasft.io.InputFiles;

/**
 * Turns an instruction (and an optional input) into the prompt text a model is trained and asked with.
 *
 * <p>{@link #ALPACA} is the Stanford Alpaca template as Safety-Tuned-Llamas uses it, with its two forms (with and
 * without an input). {@link #RAW} passes the instruction through unchanged. A template file holds the text with
 * {@code {instruction}} and {@code {input}} placeholders; an input given to a template without {@code {input}} is
 * an error rather than silently dropped.
 */
public final class PromptTemplate {
    private static final String INSTRUCTION = "{instruction}";
    private static final String INPUT = "{input}";

    public static final PromptTemplate ALPACA = new PromptTemplate("alpaca",
            "Below is an instruction that describes a task. Write a response that appropriately completes the "
                    + "request.\n\n### Instruction:\n{instruction}\n\n### Response:\n",
            "Below is an instruction that describes a task, paired with an input that provides further context. "
                    + "Write a response that appropriately completes the request.\n\n### Instruction:\n"
                    + "{instruction}\n\n### Input:\n{input}\n\n### Response:\n");

    public static final PromptTemplate RAW = new PromptTemplate("raw", INSTRUCTION, null);

    private final String name;
    private final String withoutInput;
    private final String withInput;

    private PromptTemplate(String name, String withoutInput, String withInput) {
        this.name = name;
        this.withoutInput = withoutInput;
        this.withInput = withInput;
    }

    /**
     * A template from one text with placeholders: {@code {instruction}} is required; where the text has
     * {@code {input}}, an empty input leaves it empty.
     */
    public static PromptTemplate of(String name, String text) {
        if (!text.contains(INSTRUCTION)) {
            throw new IllegalArgumentException("template " + name + " has no " + INSTRUCTION + " placeholder");
        }
        return new PromptTemplate(name, text, text.contains(INPUT) ? text : null);
    }

    /** {@code alpaca}, {@code raw}, or the path of a UTF-8 template file. */
    public static PromptTemplate named(String nameOrFile) {
        switch (nameOrFile) {
            case "alpaca":
                return ALPACA;
            case "raw":
                return RAW;
            default:
                Path file = Path.of(nameOrFile);
                if (!Files.exists(file)) {
                    throw new IllegalArgumentException("unknown template '" + nameOrFile
                            + "': expected alpaca, raw or a template file");
                }
                return of(file.toString(), InputFiles.readUtf8(file, "--template"));
        }
    }

    /** The prompt for an instruction with no input. */
    public String format(String instruction) {
        return format(instruction, null);
    }

    /** The prompt for an instruction and an input (null or empty: the no-input form). */
    public String format(String instruction, String input) {
        boolean hasInput = input != null && !input.isEmpty();
        if (hasInput && withInput == null) {
            throw new IllegalArgumentException("template " + name + " has no " + INPUT + " placeholder");
        }
        String template = hasInput ? withInput : withoutInput;
        // One pass over the template, so that placeholders inside the instruction or input are left alone.
        StringBuilder out = new StringBuilder(template.length() + instruction.length() + 16);
        int i = 0;
        while (i < template.length()) {
            if (template.startsWith(INSTRUCTION, i)) {
                out.append(instruction);
                i += INSTRUCTION.length();
            } else if (template.startsWith(INPUT, i)) {
                out.append(hasInput ? input : "");
                i += INPUT.length();
            } else {
                out.append(template.charAt(i++));
            }
        }
        return out.toString();
    }

    public String name() {
        return name;
    }

    @Override
    public String toString() {
        return name;
    }
}
