package org.tasft.chat;

/**
 * A chat template that cannot be found, parsed or rendered: the template's own {@code raise_exception(...)}, a Jinja
 * feature this implementation lacks (named), or a folder without a template. One line, meant for the user.
 */
public final class ChatTemplateException extends IllegalArgumentException {
    private static final long serialVersionUID = 1L;

    public ChatTemplateException(String message) {
        super(message);
    }

    public ChatTemplateException(String message, Throwable cause) {
        super(message, cause);
    }
}
