package org.tasft.cli;

import java.nio.file.Path;

import org.tasft.chat.ChatFormat;
import org.tasft.chat.ChatSpec;
import org.tasft.tokenizer.PromptTemplate;
import org.tasft.tokenizer.Tokenizer;
import picocli.CommandLine.Option;

/**
 * {@code --template} and {@code --system}: how a prompt becomes the model's input, for every command that turns
 * prompts into tokens (harvest, train, eval, generate, score). {@code chat} (or {@code chat:NAME}) is the model's own
 * chat template ({@link ChatSpec}); the others are text templates ({@link PromptTemplate}). Each command has its own
 * default and may accept only some of them.
 */
final class TemplateOptions {
    @Option(names = "--template", paramLabel = "alpaca|raw|chat|FILE",
            description = "How a prompt becomes the model's input: alpaca (as Safety-Tuned-Llamas trains), raw "
                    + "(as is), chat (the model's own chat template from tokenizer_config.json or chat_template.jinja; "
                    + "chat:NAME for a named one), or a file with an {instruction} placeholder (default: alpaca; "
                    + "score: the text as is).")
    String template;

    @Option(names = "--system", paramLabel = "TEXT",
            description = "A system message, first in every conversation that has none (needs --template chat).")
    String system;

    /** The {@code --template} value, or the command's default. */
    String value(String defaultValue) {
        return template == null ? defaultValue : template;
    }

    boolean isChat() {
        return template != null && ChatSpec.isChat(template);
    }

    /** The chat spec, or null for a text template; {@code --system} without {@code --template chat} is refused. */
    ChatSpec chatSpec() {
        if (!isChat()) {
            if (system != null) {
                throw new UsageException("--system needs --template chat (a text template has no system message)");
            }
            return null;
        }
        try {
            return ChatSpec.of(template, system);
        } catch (IllegalArgumentException e) {
            throw new UsageException(e.getMessage(), e);
        }
    }

    /** The text template of {@code --template} (or {@code defaultValue}); not for chat. */
    PromptTemplate textTemplate(String defaultValue) {
        chatSpec(); // --system without chat
        try {
            return PromptTemplate.named(value(defaultValue));
        } catch (IllegalArgumentException e) {
            throw new UsageException("--template: " + e.getMessage(), e);
        }
    }

    /** Refuses a {@code --template} value the command does not take. */
    void requireOneOf(String command, String... allowed) {
        String v = template == null ? null : isChat() ? ChatSpec.OPTION_VALUE : template;
        if (v == null) {
            return;
        }
        for (String a : allowed) {
            if (a.equals(v)) {
                return;
            }
        }
        throw new UsageException(command + " takes --template " + String.join(" or ", allowed) + ", not '"
                + template + "'");
    }

    /**
     * The model folder's chat format; a folder without the template is a usage error (exit 2) saying so.
     */
    static ChatFormat open(ChatSpec spec, Path modelDir, Tokenizer tokenizer) {
        try {
            return spec.open(modelDir, tokenizer);
        } catch (IllegalArgumentException e) {
            throw new UsageException(e.getMessage(), e);
        }
    }
}
