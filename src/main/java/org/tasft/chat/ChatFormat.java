package org.tasft.chat;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.OptionalLong;

import org.tasft.tokenizer.Tokenizer;

/**
 * A conversation as token ids in a model's own chat format: {@link ChatTemplate} renders it and the tokenizer encodes
 * the text WITHOUT adding special tokens, as transformers' {@code apply_chat_template(..., tokenize=True)} does (the
 * template writes its own BOS; adding the tokenizer's would give two).
 *
 * <p>The assistant turn is found by rendering, not by searching for strings: the prompt is the conversation rendered
 * with the generation prompt, the whole turn the conversation with the answer appended; the prompt's text must be a
 * prefix of the whole turn's (a template that is not prefix-stable is an error), and the answer's ids are those after
 * the prompt's ids, which are exactly the ids a model is asked with. Where a token spans the boundary (the prompt's
 * ids are not a prefix of the whole turn's), the answer's text is encoded on its own after the prompt's ids
 * ({@link Turn#boundaryFallback()}). The answer's ids include what the template puts after the content (Llama 3's
 * {@code <|eot_id|>}, Llama 2's {@code </s>}, Qwen's {@code <|im_end|>\n}): the model learns to end its turn.
 *
 * <p>A system message ({@code --system}) is put first when the conversation has none of its own.
 */
public final class ChatFormat {
    private final ChatTemplate template;
    private final Tokenizer tokenizer;
    private final String system;

    /**
     * @param system a system message for conversations without one, or null
     */
    public ChatFormat(ChatTemplate template, Tokenizer tokenizer, String system) {
        this.template = Objects.requireNonNull(template, "template");
        this.tokenizer = Objects.requireNonNull(tokenizer, "tokenizer");
        this.system = system;
    }

    /**
     * A prompt's ids, the answer's ids after them, and whether a token spanned their boundary (the answer was
     * encoded on its own).
     */
    public record Turn(long[] promptIds, long[] answerIds, boolean boundaryFallback) {
    }

    /**
     * The conversation of an instruction: the context (earlier messages, possibly a system message), the
     * system message of this format first where the context has none, then the user turn (the input, if any, after
     * a blank line, as the evaluation puts an input into a template without an input slot).
     */
    public List<ChatMessage> conversation(List<ChatMessage> context, String instruction, String input) {
        List<ChatMessage> messages = new ArrayList<>(context.size() + 2);
        boolean hasSystem = !context.isEmpty() && context.get(0).isSystem();
        if (system != null && !hasSystem) {
            messages.add(ChatMessage.system(system));
        }
        messages.addAll(context);
        messages.add(ChatMessage.user(input == null || input.isEmpty() ? instruction : instruction + "\n\n" + input));
        return messages;
    }

    /** The ids a model is asked with: the conversation (ending in a user turn) with the generation prompt. */
    public long[] promptIds(List<ChatMessage> messages) {
        return encode(template.render(messages, true));
    }

    /** The text a model is asked with (for messages and logs). */
    public String promptText(List<ChatMessage> messages) {
        return template.render(messages, true);
    }

    /**
     * The conversation with {@code answer} as the assistant's turn, split at the answer; see the class comment.
     *
     * @throws ChatTemplateException the template is not prefix-stable (the prompt's text is not where the whole
     *                               turn's text starts), or it refuses the conversation
     */
    public Turn turn(List<ChatMessage> messages, String answer) {
        String prompt = template.render(messages, true);
        List<ChatMessage> answered = new ArrayList<>(messages);
        answered.add(ChatMessage.assistant(answer));
        String whole = template.render(answered, false);
        if (!whole.startsWith(prompt)) {
            throw new ChatTemplateException("the chat template (" + template.origin() + ") is not prefix-stable: "
                    + "the conversation with the assistant's answer does not start with its generation prompt "
                    + "(prompt ends \"" + tail(prompt) + "\", the answered conversation has \""
                    + tail(whole.substring(0, Math.min(whole.length(), prompt.length()))) + "\" there), so the "
                    + "answer's tokens cannot be found by rendering");
        }
        long[] promptIds = encode(prompt);
        long[] wholeIds = encode(whole);
        if (wholeIds.length >= promptIds.length
                && Arrays.equals(wholeIds, 0, promptIds.length, promptIds, 0, promptIds.length)) {
            return new Turn(promptIds, Arrays.copyOfRange(wholeIds, promptIds.length, wholeIds.length), false);
        }
        return new Turn(promptIds, tokenizer.encode(whole.substring(prompt.length()), false), true);
    }

    /**
     * The special tokens that close an assistant turn in this template (Llama 3's {@code <|eot_id|>}, Qwen's
     * {@code <|im_end|>}, Gemma's {@code <end_of_turn>}, Llama 2's {@code </s>}): the first special token of an
     * empty answer's turn. Generation stops there too, so a folder whose config names only the base model's EOS
     * (Llama 3's {@code <|end_of_text|>}) still ends a chat answer where the model ends its turn.
     */
    public List<Long> endOfTurnIds() {
        long[] answer;
        try {
            answer = turn(conversation(List.of(), "Hi", ""), "").answerIds();
        } catch (ChatTemplateException e) {
            return List.of(); // a template that needs more than this probe conversation: no extra stop token
        }
        for (long id : answer) {
            String content = tokenizer.decode(new long[] {id});
            if (tokenizer.specialTokenId(content).orElse(-1) == id) {
                return List.of(id);
            }
        }
        return List.of();
    }

    private static String tail(String s) {
        String t = s.length() > 30 ? s.substring(s.length() - 30) : s;
        return t.replace("\n", "\\n");
    }

    /** The rendered text's ids, no special tokens added; a text that starts with two BOS is refused. */
    private long[] encode(String text) {
        long[] ids = tokenizer.encode(text, false);
        OptionalLong bos = tokenizer.bosId();
        if (bos.isPresent() && ids.length >= 2 && ids[0] == bos.getAsLong() && ids[1] == bos.getAsLong()) {
            throw new ChatTemplateException("the chat template (" + template.origin() + ") renders two BOS tokens at "
                    + "the start (its text begins with the BOS token twice): the model would read a double BOS");
        }
        return ids;
    }

    public ChatTemplate template() {
        return template;
    }

    /** The system message put first where a conversation has none, or null. */
    public String system() {
        return system;
    }
}
