package org.tasft.chat;

import java.util.Objects;

/**
 * One message of a conversation, as Hugging Face chat templates and TRL's datasets hold it:
 * {@code {"role": "user", "content": "..."}}. Roles are free text ({@code system}, {@code user}, {@code assistant}, or
 * whatever a template accepts); the template decides what it renders or refuses.
 */
public record ChatMessage(String role, String content) {
    public static final String SYSTEM = "system";
    public static final String USER = "user";
    public static final String ASSISTANT = "assistant";

    public ChatMessage {
        Objects.requireNonNull(role, "role");
        Objects.requireNonNull(content, "content");
    }

    public static ChatMessage system(String content) {
        return new ChatMessage(SYSTEM, content);
    }

    public static ChatMessage user(String content) {
        return new ChatMessage(USER, content);
    }

    public static ChatMessage assistant(String content) {
        return new ChatMessage(ASSISTANT, content);
    }

    public boolean isSystem() {
        return SYSTEM.equals(role);
    }
}
