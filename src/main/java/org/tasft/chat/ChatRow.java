package org.tasft.chat;

import java.util.ArrayList;
import java.util.List;

import com.fasterxml.jackson.databind.JsonNode;

/**
 * A chat data row ({@code "messages": [{"role", "content"}, ...]}, as TRL's SFT datasets) split into what a prompt and
 * its answer need: the messages before the last user turn (a system message, earlier turns), the last user turn,
 * and the assistant's answer after it (null when the row ends with the user turn, as a prompt set's rows may).
 * Only the last answer is trained or judged; earlier assistant turns are the conversation's history.
 */
public record ChatRow(List<ChatMessage> context, String user, String answer) {
    public ChatRow {
        context = List.copyOf(context);
    }

    /**
     * Parses a {@code messages} array.
     *
     * @param where the file and line (or index), for messages
     * @throws IllegalArgumentException naming {@code where}: not an array of {role, content} string objects, no user
     *                                  turn, or anything but one assistant message after the last user turn
     */
    public static ChatRow parse(JsonNode messages, String where) {
        if (messages == null || !messages.isArray() || messages.isEmpty()) {
            throw new IllegalArgumentException(where + ": \"messages\" must be a non-empty array of {\"role\", "
                    + "\"content\"} objects");
        }
        List<ChatMessage> all = new ArrayList<>();
        for (int i = 0; i < messages.size(); i++) {
            JsonNode m = messages.get(i);
            JsonNode role = m.get("role");
            JsonNode content = m.get("content");
            if (!m.isObject() || role == null || !role.isTextual() || content == null || !content.isTextual()) {
                throw new IllegalArgumentException(where + ": messages[" + i + "] must be an object with string "
                        + "\"role\" and \"content\"");
            }
            all.add(new ChatMessage(role.textValue(), content.textValue()));
        }
        return of(all, where);
    }

    /** Splits a conversation; see {@link #parse}. */
    public static ChatRow of(List<ChatMessage> messages, String where) {
        int lastUser = -1;
        for (int i = 0; i < messages.size(); i++) {
            if (ChatMessage.USER.equals(messages.get(i).role())) {
                lastUser = i;
            }
        }
        if (lastUser < 0) {
            throw new IllegalArgumentException(where + ": \"messages\" has no \"user\" turn");
        }
        int after = messages.size() - lastUser - 1;
        if (after > 1 || (after == 1 && !ChatMessage.ASSISTANT.equals(messages.get(lastUser + 1).role()))) {
            throw new IllegalArgumentException(where + ": after the last \"user\" turn expected at most one "
                    + "\"assistant\" message, got " + messages.subList(lastUser + 1, messages.size()).stream()
                            .map(ChatMessage::role).toList());
        }
        return new ChatRow(messages.subList(0, lastUser), messages.get(lastUser).content(),
                after == 1 ? messages.get(lastUser + 1).content() : null);
    }
}
