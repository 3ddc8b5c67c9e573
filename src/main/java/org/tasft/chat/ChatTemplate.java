package org.tasft.chat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.hubspot.jinjava.interpret.RenderResult;
import com.hubspot.jinjava.interpret.TemplateError;
import org.tasft.io.InputFiles;

/**
 * A model's chat template: the Jinja text that turns a conversation into the model's prompt, as transformers'
 * {@code apply_chat_template(messages, tokenize=False, add_generation_prompt=...)} renders it. It is read from a model
 * folder: {@code chat_template.jinja} when present (transformers saves it there since 4.50), else
 * {@code tokenizer_config.json}'s {@code chat_template}, a string or a list of {@code {"name", "template"}} (the one
 * named {@code default} unless a name is asked for; a named one may also be
 * {@code additional_chat_templates/NAME.jinja}). The template sees {@code messages}, {@code add_generation_prompt}
 * and the special tokens of tokenizer_config.json ({@code bos_token}, {@code eos_token}, {@code unk_token},
 * {@code pad_token}), and writes its own special tokens: the rendered text is tokenized without adding any.
 *
 * <p>Rendering runs on Jinjava ({@link HfJinja}); a template that calls {@code raise_exception} or uses a feature
 * Jinjava lacks is a {@link ChatTemplateException} naming it, never a prompt rendered differently.
 */
public final class ChatTemplate {
    /** The file transformers writes a template to. */
    public static final String JINJA_FILE = "chat_template.jinja";
    /** Where transformers saves named templates, one {@code NAME.jinja} each. */
    public static final String ADDITIONAL_DIR = "additional_chat_templates";
    private static final String CONFIG_FILE = "tokenizer_config.json";
    private static final ObjectMapper JSON = new ObjectMapper();

    private final String source;
    /** The source as Jinjava is given it ({@link JinjaSource#withJinjaNotPrecedence}). */
    private final String jinjavaSource;
    private final Map<String, String> specialTokens;
    private final String origin;

    private ChatTemplate(String source, Map<String, String> specialTokens, String origin) {
        // Jinja drops one trailing newline of a template (keep_trailing_newline=False); Jinjava would keep it
        this.source = source.endsWith("\n") ? source.substring(0, source.length() - 1) : source;
        this.specialTokens = Map.copyOf(specialTokens);
        this.origin = origin;
        this.jinjavaSource = JinjaSource.withJinjaNotPrecedence(this.source);
        List<String> unsupported = JinjaSource.unsupportedFeatures(this.source);
        if (!unsupported.isEmpty()) {
            throw new ChatTemplateException("the chat template (" + origin + ") uses " + String.join(", ", unsupported)
                    + ", which tasft's Jinja (Jinjava) does not render as Jinja does");
        }
    }

    /**
     * A template from its text.
     *
     * @param specialTokens {@code bos_token}, {@code eos_token}, ... by name, as the template sees them
     * @param origin        where it came from, for messages
     */
    public static ChatTemplate of(String source, Map<String, String> specialTokens, String origin) {
        return new ChatTemplate(source, specialTokens, origin);
    }

    /**
     * The chat template of a model folder.
     *
     * @param name a template of tokenizer_config.json's list by name, or null for the default
     * @throws ChatTemplateException the folder has no template (or not the named one)
     */
    public static ChatTemplate load(Path modelDir, String name) {
        Path config = modelDir.resolve(CONFIG_FILE);
        JsonNode root = null;
        if (Files.exists(config)) {
            InputFiles.requireReadableFile(config, null);
            try {
                root = JSON.readTree(config.toFile());
            } catch (IOException e) {
                throw new ChatTemplateException("cannot read " + config + ": " + e.getMessage(), e);
            }
        }
        Map<String, String> special = specialTokens(root);
        if (root == null || !root.has("bos_token")) {
            JsonNode map = readOptional(modelDir.resolve("special_tokens_map.json"));
            specialTokens(map).forEach(special::putIfAbsent);
        }
        Path jinja = modelDir.resolve(JINJA_FILE);
        if (Files.exists(jinja) && name == null) {
            return new ChatTemplate(InputFiles.readUtf8(jinja, null), special, jinja.toString());
        }
        Path named = name == null ? null : modelDir.resolve(ADDITIONAL_DIR).resolve(name + ".jinja");
        if (named != null && Files.exists(named)) {
            return new ChatTemplate(InputFiles.readUtf8(named, null), special, named.toString());
        }
        JsonNode t = root == null ? null : root.get("chat_template");
        if (t == null || t.isNull()) {
            throw new ChatTemplateException(modelDir + " has no chat template (no " + JINJA_FILE + " and no "
                    + "\"chat_template\" in " + CONFIG_FILE + "): --template chat needs the model's own template; "
                    + "use --template alpaca or raw for a model without one");
        }
        if (t.isTextual()) {
            if (name != null && !name.equals("default")) {
                throw new ChatTemplateException(config + " has one unnamed chat template, not one named '" + name
                        + "': use --template chat");
            }
            return new ChatTemplate(t.textValue(), special, config + " chat_template");
        }
        List<String> names = new ArrayList<>();
        String wanted = name == null ? "default" : name;
        for (JsonNode entry : t) {
            String n = entry.path("name").asText("");
            names.add(n);
            if (n.equals(wanted) && entry.path("template").isTextual()) {
                return new ChatTemplate(entry.get("template").textValue(), special,
                        config + " chat_template '" + n + "'");
            }
        }
        throw new ChatTemplateException(config + " has no chat template named '" + wanted + "' (it has "
                + String.join(", ", names) + "): use --template chat:NAME");
    }

    private static JsonNode readOptional(Path file) {
        if (!Files.exists(file)) {
            return null;
        }
        try {
            return JSON.readTree(file.toFile());
        } catch (IOException e) {
            throw new ChatTemplateException("cannot read " + file + ": " + e.getMessage(), e);
        }
    }

    private static Map<String, String> specialTokens(JsonNode config) {
        Map<String, String> out = new HashMap<>();
        if (config == null) {
            return out;
        }
        for (String key : List.of("bos_token", "eos_token", "unk_token", "pad_token")) {
            JsonNode v = config.get(key);
            if (v != null && v.isTextual()) {
                out.put(key, v.textValue());
            } else if (v != null && v.path("content").isTextual()) { // an AddedToken object
                out.put(key, v.get("content").textValue());
            }
        }
        return out;
    }

    /**
     * The prompt text of a conversation.
     *
     * @param addGenerationPrompt end with what opens the assistant's turn (for generation)
     * @throws ChatTemplateException the template refused the conversation or cannot be rendered here
     */
    public String render(List<ChatMessage> messages, boolean addGenerationPrompt) {
        List<Map<String, Object>> list = new ArrayList<>(messages.size());
        for (ChatMessage m : messages) {
            Map<String, Object> o = new LinkedHashMap<>();
            o.put("role", m.role());
            o.put("content", m.content());
            list.add(o);
        }
        Map<String, Object> context = new HashMap<>(specialTokens);
        HfJinja.GLOBALS.forEach(context::put); // `strftime_now is defined` (Llama 3.1) is true, as in transformers
        context.put("messages", list);
        context.put("add_generation_prompt", addGenerationPrompt);
        RenderResult result;
        try {
            result = HfJinja.JINJAVA.renderForResult(jinjavaSource, context);
        } catch (RuntimeException e) {
            throw failure(e, null);
        }
        for (TemplateError error : result.getErrors()) {
            if (error.getSeverity() == TemplateError.ErrorType.FATAL) {
                throw failure(error.getException(), error);
            }
        }
        return result.getOutput();
    }

    private ChatTemplateException failure(Throwable e, TemplateError error) {
        for (Throwable t = e; t != null; t = t.getCause() == t ? null : t.getCause()) {
            if (t instanceof HfJinja.Raised) {
                return new ChatTemplateException("the chat template (" + origin + ") refused the conversation: "
                        + t.getMessage());
            }
            if (t instanceof HfJinja.Unsupported u) {
                return new ChatTemplateException(u.getMessage() + " (" + origin + ")", u);
            }
        }
        String message = error != null ? error.getMessage() : e.getMessage();
        String line = error != null && error.getLineno() > 0 ? " at line " + error.getLineno() : "";
        return new ChatTemplateException("the chat template (" + origin + ") cannot be rendered by tasft's Jinja "
                + "(Jinjava)" + line + ": " + message, e);
    }

    /** The template's Jinja text. */
    public String source() {
        return source;
    }

    /** A special token as the template sees it ({@code bos_token}, ...), or null. */
    public String specialToken(String name) {
        return specialTokens.get(name);
    }

    /** Where the template came from (file and key), for messages. */
    public String origin() {
        return origin;
    }

    @Override
    public String toString() {
        return "chat template (" + origin + ")";
    }
}
