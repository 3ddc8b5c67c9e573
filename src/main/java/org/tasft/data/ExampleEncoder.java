package org.tasft.data;

import java.lang.System.Logger.Level;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicLong;

import org.tasft.chat.ChatFormat;
import org.tasft.tokenizer.PromptTemplate;
import org.tasft.tokenizer.Tokenizer;

/**
 * Turns an {@link Example} into token ids and labels for supervised fine-tuning.
 *
 * <pre>
 *   prompt   = template.format(instruction, input)          (Alpaca by default)
 *   ids      = lead + encode(prompt) + response(output) + [eos]
 *   labels   = -100 over lead + prompt, the ids themselves over the response and the EOS
 * </pre>
 * {@code lead} are the special tokens the tokenizer's post-processor puts before a single text (Llama's BOS; none
 * for GPT-2 or Qwen2): they are found once, by comparing {@code encode(probe, true)} with {@code encode(probe,
 * false)}. Special tokens a post-processor appends are not used: the encoder appends the EOS itself.
 *
 * <p><b>Label boundary.</b> The label boundary is exact by construction: the prompt is encoded on its own and its ids
 * are the ignored ones, exactly the ids a model is given at inference. How the response is tokenized is a
 * {@link ResponseTokenization}:
 * <ul>
 * <li>{@link ResponseTokenization#SEPARATE}: {@code encode(output)} on its own, concatenated.</li>
 * <li>{@link ResponseTokenization#IN_CONTEXT} (the default): the ids {@code encode(prompt + output)} has after the
 * prompt's ids, when the prompt's ids are a prefix of it (no token spans the boundary); otherwise as SEPARATE,
 * counted in {@link #boundaryFallbacks()}.</li>
 * </ul>
 * Stanford Alpaca's {@code train.py} (which Safety-Tuned-Llamas trains with) encodes {@code prompt + output + eos}
 * as one text and ignores its first {@code len(tokenizer(prompt))} positions, whether or not a token spans the
 * boundary. IN_CONTEXT gives the same ids and labels whenever that boundary is clean, and an exact boundary where it
 * is not. The two modes agree for byte-level BPE tokenizers (GPT-2, Llama 3, Qwen2) with the Alpaca template, whose
 * prompt ends in a newline; they differ for SentencePiece-style tokenizers that put a word-boundary marker before
 * every text they encode (Llama 2 and Mistral: a {@code Prepend("▁")} normaliser or a Metaspace pre-tokenizer): there
 * SEPARATE would start every response with a spurious {@code ▁} the model never sees after a prompt ending in a
 * newline, which is why it is not the default.
 *
 * <p><b>Truncation</b> to {@code maxLength}: the response is cut at its end first (losing the EOS), keeping the whole
 * prompt and at least one response token. When the lead and the prompt alone leave no room for one response token,
 * the prompt is cut from the left (its start, the template's preamble, goes first; the lead stays) so that exactly
 * one response token remains; this is counted in {@link #promptTruncated()} and logged, not thrown.
 *
 * <p><b>Chat format</b> ({@link #ExampleEncoder(Tokenizer, ChatFormat, int)}, {@code --template chat}): the example is
 * the conversation (its chat context, the system message, the user turn) rendered by the model's chat template, and
 * the labelled ids are exactly the assistant turn's, found by rendering ({@link ChatFormat#turn}): the template's
 * own end-of-turn tokens end the response, no EOS is appended and no leading special tokens are added (the template
 * writes its own BOS). Truncation works as above with no lead.
 *
 * <p>Instances are thread-safe if the tokenizer is (the counters are atomic).
 */
public final class ExampleEncoder {
    /** How the response is tokenized; see the class comment. */
    public enum ResponseTokenization {
        /** {@code encode(output)} on its own. */
        SEPARATE,
        /** The ids after the prompt's in {@code encode(prompt + output)}; SEPARATE where a token spans the boundary. */
        IN_CONTEXT
    }

    private static final System.Logger LOG = System.getLogger(ExampleEncoder.class.getName());
    private static final String PROBE = "Hello world";

    private final Tokenizer tokenizer;
    private final PromptTemplate template;
    /** The chat format, or null for a text template. */
    private final ChatFormat chat;
    private final int maxLength;
    private final long eosId;
    private final long[] lead;
    private final ResponseTokenization responseTokenization;
    private final AtomicLong boundaryFallbacks = new AtomicLong();
    private final AtomicLong encoded = new AtomicLong();
    private final AtomicLong responseTruncated = new AtomicLong();
    private final AtomicLong promptTruncated = new AtomicLong();

    /** An encoder with the Alpaca template and the tokenizer's EOS id. */
    public ExampleEncoder(Tokenizer tokenizer, int maxLength) {
        this(tokenizer, PromptTemplate.ALPACA, maxLength);
    }

    /** An encoder with the tokenizer's EOS id ({@link Tokenizer#eosId()}); an error when it has none. */
    public ExampleEncoder(Tokenizer tokenizer, PromptTemplate template, int maxLength) {
        this(tokenizer, template, maxLength, tokenizer.eosId().orElseThrow(() -> new IllegalArgumentException(
                "the tokenizer " + tokenizer.file() + " names no EOS token (tokenizer_config.json eos_token or "
                        + "config.json eos_token_id): give the EOS id explicitly")));
    }

    /** An encoder with {@link ResponseTokenization#IN_CONTEXT}. */
    public ExampleEncoder(Tokenizer tokenizer, PromptTemplate template, int maxLength, long eosId) {
        this(tokenizer, template, maxLength, eosId, ResponseTokenization.IN_CONTEXT);
    }

    public ExampleEncoder(Tokenizer tokenizer, PromptTemplate template, int maxLength, long eosId,
            ResponseTokenization responseTokenization) {
        this.responseTokenization = Objects.requireNonNull(responseTokenization, "responseTokenization");
        this.tokenizer = Objects.requireNonNull(tokenizer, "tokenizer");
        this.template = Objects.requireNonNull(template, "template");
        this.chat = null;
        if (eosId < 0 || eosId >= tokenizer.vocabSize()) {
            throw new IllegalArgumentException("eosId " + eosId + " is outside the vocabulary [0, "
                    + tokenizer.vocabSize() + ")");
        }
        this.eosId = eosId;
        this.lead = leadingSpecialTokens(tokenizer);
        if (maxLength < lead.length + 2) {
            throw new IllegalArgumentException("--max-length " + maxLength + " leaves no room for a prompt token and a"
                    + " response token after " + lead.length + " leading special token(s)");
        }
        this.maxLength = maxLength;
    }

    /**
     * An encoder in a model's chat format: the conversation rendered by its chat template, the loss on the assistant
     * turn's ids (see the class comment). The EOS id (for {@link #eosId()}) is the tokenizer's, -1 if it has none.
     */
    public ExampleEncoder(Tokenizer tokenizer, ChatFormat chat, int maxLength) {
        this.tokenizer = Objects.requireNonNull(tokenizer, "tokenizer");
        this.chat = Objects.requireNonNull(chat, "chat");
        this.template = null;
        this.responseTokenization = ResponseTokenization.IN_CONTEXT;
        this.eosId = tokenizer.eosId().orElse(-1);
        this.lead = new long[0];
        if (maxLength < 2) {
            throw new IllegalArgumentException("--max-length " + maxLength + " leaves no room for a prompt token and a"
                    + " response token");
        }
        this.maxLength = maxLength;
    }

    /** The ids the post-processor puts before a single text: encode(probe, true) = lead + encode(probe) + ... */
    public static long[] leadingSpecialTokens(Tokenizer tokenizer) {
        long[] plain = tokenizer.encode(PROBE, false);
        long[] with = tokenizer.encode(PROBE, true);
        for (int start = 0; start + plain.length <= with.length; start++) {
            if (Arrays.equals(with, start, start + plain.length, plain, 0, plain.length)) {
                return Arrays.copyOf(with, start);
            }
        }
        throw new IllegalArgumentException("the post-processor of " + tokenizer.file() + " changes the text's own"
                + " ids (encode with special tokens does not contain the plain encoding)");
    }

    public EncodedExample encode(Example example) {
        long[] promptIds;
        long[] response;
        if (chat != null) {
            ChatFormat.Turn turn = chat.turn(chat.conversation(example.context(), example.instruction(),
                    example.input()), example.output());
            promptIds = turn.promptIds();
            response = turn.answerIds();
            if (turn.boundaryFallback()) {
                boundaryFallbacks.incrementAndGet();
            }
            if (response.length == 0) {
                throw new IllegalArgumentException("the chat template (" + chat.template().origin() + ") renders the "
                        + "assistant's turn as no tokens: there is nothing to train on");
            }
        } else {
            if (!example.context().isEmpty()) {
                throw new IllegalArgumentException("a chat row with a system message or earlier turns needs --template"
                        + " chat: the " + template.name() + " template has no place for them");
            }
            String prompt = template.format(example.instruction(), example.input());
            promptIds = tokenizer.encode(prompt, false);
            long[] outputIds = responseIds(prompt, promptIds, example.output());
            response = Arrays.copyOf(outputIds, outputIds.length + 1);
            response[outputIds.length] = eosId;
        }

        int promptKeep = promptIds.length;
        int responseKeep = response.length;
        boolean truncated = false;
        if (lead.length + promptIds.length + response.length > maxLength) {
            truncated = true;
            if (lead.length + promptIds.length + 1 <= maxLength) {
                responseKeep = maxLength - lead.length - promptIds.length;
                responseTruncated.incrementAndGet();
            } else {
                responseKeep = 1;
                promptKeep = maxLength - lead.length - 1;
                long n = promptTruncated.incrementAndGet();
                if (n == 1 || Long.bitCount(n) == 1) { // the 1st, 2nd, 4th, 8th ... time
                    LOG.log(Level.WARNING, "prompt of " + promptIds.length + " tokens is longer than maxLength "
                            + maxLength + ": kept its last " + promptKeep + " tokens and one response token ("
                            + n + " prompt(s) cut so far)");
                }
            }
        }
        int length = lead.length + promptKeep + responseKeep;
        long[] ids = new long[length];
        long[] labels = new long[length];
        System.arraycopy(lead, 0, ids, 0, lead.length);
        System.arraycopy(promptIds, promptIds.length - promptKeep, ids, lead.length, promptKeep);
        int boundary = lead.length + promptKeep;
        System.arraycopy(response, 0, ids, boundary, responseKeep);
        Arrays.fill(labels, 0, boundary, Batch.IGNORE_INDEX);
        System.arraycopy(response, 0, labels, boundary, responseKeep);
        encoded.incrementAndGet();
        return new EncodedExample(ids, labels, example.kind(), boundary, truncated);
    }

    private long[] responseIds(String prompt, long[] promptIds, String output) {
        if (responseTokenization == ResponseTokenization.IN_CONTEXT) {
            if (output.isEmpty()) {
                return new long[0];
            }
            long[] joint = tokenizer.encode(prompt + output, false);
            if (joint.length >= promptIds.length
                    && Arrays.equals(joint, 0, promptIds.length, promptIds, 0, promptIds.length)) {
                return Arrays.copyOfRange(joint, promptIds.length, joint.length);
            }
            boundaryFallbacks.incrementAndGet();
        }
        return tokenizer.encode(output, false);
    }

    public List<EncodedExample> encodeAll(List<Example> examples) {
        List<EncodedExample> out = new ArrayList<>(examples.size());
        for (Example e : examples) {
            out.add(encode(e));
        }
        return out;
    }

    /** The special tokens put before every prompt (a copy). */
    public long[] leadingTokens() {
        return lead.clone();
    }

    public long eosId() {
        return eosId;
    }

    public int maxLength() {
        return maxLength;
    }

    /** The text template, or null in the chat format. */
    public PromptTemplate template() {
        return template;
    }

    /** The chat format, or null with a text template. */
    public ChatFormat chat() {
        return chat;
    }

    public ResponseTokenization responseTokenization() {
        return responseTokenization;
    }

    /** IN_CONTEXT encodings where a token spanned the prompt's end, so the response was encoded on its own. */
    public long boundaryFallbacks() {
        return boundaryFallbacks.get();
    }

    /** Examples encoded so far. */
    public long encodedCount() {
        return encoded.get();
    }

    /** Examples whose response was cut (the prompt kept whole). */
    public long responseTruncated() {
        return responseTruncated.get();
    }

    /** Examples whose prompt was cut from the left (one response token kept). */
    public long promptTruncated() {
        return promptTruncated.get();
    }
}
