package org.tasft.chat;

import java.nio.file.Path;

import org.tasft.tokenizer.Tokenizer;

/**
 * What {@code --template chat[:NAME]} and {@code --system} ask for, before a model folder is opened: the model's own
 * chat template (the default one, or the one named NAME in tokenizer_config.json's list) and a system message.
 *
 * @param templateName a named template of tokenizer_config.json's list, or null for the default
 * @param system       the system message put first in conversations without one, or null
 */
public record ChatSpec(String templateName, String system) {
    /** The {@code --template} value that selects the chat format. */
    public static final String OPTION_VALUE = "chat";

    /** Whether a {@code --template} value asks for the chat format ({@code chat} or {@code chat:NAME}). */
    public static boolean isChat(String templateOption) {
        return templateOption.equals(OPTION_VALUE) || templateOption.startsWith(OPTION_VALUE + ":");
    }

    /** The spec of a {@code --template chat[:NAME]} value; see {@link #isChat}. */
    public static ChatSpec of(String templateOption, String system) {
        if (!isChat(templateOption)) {
            throw new IllegalArgumentException("--template " + templateOption + " is not chat or chat:NAME");
        }
        String name = templateOption.length() > OPTION_VALUE.length()
                ? templateOption.substring(OPTION_VALUE.length() + 1) : null;
        if (name != null && name.isBlank()) {
            throw new IllegalArgumentException("--template chat: needs a template name after the colon");
        }
        return new ChatSpec(name, system);
    }

    /**
     * The chat format of a model folder with its tokenizer.
     *
     * @throws ChatTemplateException the folder has no (such) chat template
     */
    public ChatFormat open(Path modelDir, Tokenizer tokenizer) {
        return new ChatFormat(ChatTemplate.load(modelDir, templateName), tokenizer, system);
    }

    /** The {@code --template} value this came from. */
    public String optionValue() {
        return templateName == null ? OPTION_VALUE : OPTION_VALUE + ":" + templateName;
    }
}
