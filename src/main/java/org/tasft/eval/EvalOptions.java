package org.tasft.eval;

import java.util.function.Consumer;

import org.tasft.chat.ChatFormat;
import org.tasft.tokenizer.PromptTemplate;

/**
 * How {@link Evaluator} asks and scores: the prompt template, greedy generation of at most {@code maxNewTokens},
 * {@code batchSize} prompts per forward, the first {@code limit} items of every set (0 = all), and BoolQ's two
 * continuations. Immutable; each setter returns a copy.
 */
public final class EvalOptions {
    private final PromptTemplate template;
    private final int maxNewTokens;
    private final int batchSize;
    private final int limit;
    private final boolean addSpecialTokens;
    private final String[] boolqChoices;
    private final Consumer<String> progress;
    /** The model's chat format ({@code --template chat}), or null for the text template. */
    private final ChatFormat chat;

    private EvalOptions(PromptTemplate template, int maxNewTokens, int batchSize, int limit, boolean addSpecialTokens,
            String[] boolqChoices, Consumer<String> progress, ChatFormat chat) {
        this.chat = chat;
        this.template = template;
        this.maxNewTokens = maxNewTokens;
        this.batchSize = batchSize;
        this.limit = limit;
        this.addSpecialTokens = addSpecialTokens;
        this.boolqChoices = boolqChoices;
        this.progress = progress;
    }

    /** Alpaca template, 128 new tokens, batches of 8, no limit, the tokenizer's specials, no progress output. */
    public static EvalOptions defaults() {
        return new EvalOptions(PromptTemplate.ALPACA, 128, 8, 0, true, null, s -> { }, null);
    }

    public EvalOptions template(PromptTemplate value) {
        return new EvalOptions(value, maxNewTokens, batchSize, limit, addSpecialTokens, boolqChoices, progress, chat);
    }

    public EvalOptions maxNewTokens(int value) {
        if (value < 1) {
            throw new IllegalArgumentException("--max-new-tokens must be >= 1, got " + value);
        }
        return new EvalOptions(template, value, batchSize, limit, addSpecialTokens, boolqChoices, progress, chat);
    }

    public EvalOptions batchSize(int value) {
        if (value < 1) {
            throw new IllegalArgumentException("--batch-size must be >= 1, got " + value);
        }
        return new EvalOptions(template, maxNewTokens, value, limit, addSpecialTokens, boolqChoices, progress, chat);
    }

    /** Evaluate only the first {@code value} items of each set; 0 = all. */
    public EvalOptions limit(int value) {
        if (value < 0) {
            throw new IllegalArgumentException("--limit must be >= 0, got " + value);
        }
        return new EvalOptions(template, maxNewTokens, batchSize, value, addSpecialTokens, boolqChoices, progress, chat);
    }

    /** Whether prompts get the tokenizer's post-processor specials (Llama's BOS), as transformers' tokenizer(). */
    public EvalOptions addSpecialTokens(boolean value) {
        return new EvalOptions(template, maxNewTokens, batchSize, limit, value, boolqChoices, progress, chat);
    }

    /**
     * BoolQ's continuations for true and false. Default: " yes" / " no" after the raw template's
     * {@code passage\nQuestion: question?\nAnswer:}, "Yes" / "No" after an instruction template's response header.
     */
    public EvalOptions boolqChoices(String yes, String no) {
        if (yes == null || no == null || yes.isEmpty() || no.isEmpty() || yes.equals(no)) {
            throw new IllegalArgumentException("--boolq-choices needs two different, non-empty continuations");
        }
        return new EvalOptions(template, maxNewTokens, batchSize, limit, addSpecialTokens, new String[] {yes, no},
                progress, chat);
    }

    /** Receives one line per finished batch and set (e.g. System.err::println). */
    public EvalOptions progress(Consumer<String> value) {
        return new EvalOptions(template, maxNewTokens, batchSize, limit, addSpecialTokens, boolqChoices,
                value == null ? s -> { } : value, chat);
    }

    /**
     * Asks in the model's chat format instead of the text template: prompts (with their chat context) are rendered by
     * its chat template with the generation prompt, and no special tokens are added to them.
     */
    public EvalOptions chat(ChatFormat value) {
        return new EvalOptions(template, maxNewTokens, batchSize, limit, addSpecialTokens, boolqChoices, progress,
                value);
    }

    /** The chat format, or null. */
    public ChatFormat chat() {
        return chat;
    }

    public PromptTemplate template() {
        return template;
    }

    public int maxNewTokens() {
        return maxNewTokens;
    }

    public int batchSize() {
        return batchSize;
    }

    public int limit() {
        return limit;
    }

    public boolean addSpecialTokens() {
        return addSpecialTokens;
    }

    /** {yes, no}: the given ones or the template's defaults. */
    public String[] boolqChoices() {
        if (boolqChoices != null) {
            return boolqChoices.clone();
        }
        return template == PromptTemplate.RAW ? new String[] {" yes", " no"} : new String[] {"Yes", "No"};
    }

    Consumer<String> progress() {
        return progress;
    }
}
