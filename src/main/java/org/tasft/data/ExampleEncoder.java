package org.tasft.data;

import java.lang.System.Logger.Level;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicLong;

import org.tasft.tokenizer.PromptTemplate;
import org.tasft.tokenizer.Tokenizer;

/**
 * Turns an {@link Example} into token ids and labels for supervised fine-tuning.
 *
 * <pre>
 *   prompt   = template.format(instruction, input)          (Alpaca by default)
 *   ids      = lead + encode(prompt) + encode(output) + [eos]
 *   labels   = -100 over lead + prompt, the ids themselves over the response and the EOS
 * </pre>
 * {@code lead} are the special tokens the tokenizer's post-processor puts before a single text (Llama's BOS; none
 * for GPT-2 or Qwen2): they are found once, by comparing {@code encode(probe, true)} with {@code encode(probe,
 * false)}. Special tokens a post-processor appends are not used: the encoder appends the EOS itself.
 *
 * <p><b>Label boundary.</b> The prompt and the response are encoded separately and concatenated, so the boundary
 * between ignored and learned positions is exact by construction. Stanford Alpaca's {@code train.py} (which
 * Safety-Tuned-Llamas trains with) instead encodes {@code prompt + output + eos} as one text and ignores its first
 * {@code len(tokenizer(prompt))} tokens; both give the same ids whenever no token would span the end of the prompt,
 * which the Alpaca template (its prompt ends with a newline) makes the usual case for byte-level BPE tokenizers.
 * One known difference: SentencePiece-style tokenizers that prepend a word-boundary marker to every text they
 * encode (older Llama tokenizer.json files with a {@code Prepend("▁")} normaliser) give the response a leading
 * {@code ▁} that the joint encoding would not have.
 *
 * <p><b>Truncation</b> to {@code maxLength}: the response is cut at its end first (losing the EOS), keeping the whole
 * prompt and at least one response token. When the lead and the prompt alone leave no room for one response token,
 * the prompt is cut from the left (its start, the template's preamble, goes first; the lead stays) so that exactly
 * one response token remains; this is counted in {@link #promptTruncated()} and logged, not thrown.
 *
 * <p>Instances are thread-safe if the tokenizer is (the counters are atomic).
 */
public final class ExampleEncoder {
    private static final System.Logger LOG = System.getLogger(ExampleEncoder.class.getName());
    private static final String PROBE = "Hello world";

    private final Tokenizer tokenizer;
    private final PromptTemplate template;
    private final int maxLength;
    private final long eosId;
    private final long[] lead;
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

    public ExampleEncoder(Tokenizer tokenizer, PromptTemplate template, int maxLength, long eosId) {
        this.tokenizer = Objects.requireNonNull(tokenizer, "tokenizer");
        this.template = Objects.requireNonNull(template, "template");
        if (eosId < 0 || eosId >= tokenizer.vocabSize()) {
            throw new IllegalArgumentException("eosId " + eosId + " is outside the vocabulary [0, "
                    + tokenizer.vocabSize() + ")");
        }
        this.eosId = eosId;
        this.lead = leadingSpecialTokens(tokenizer);
        if (maxLength < lead.length + 2) {
            throw new IllegalArgumentException("maxLength " + maxLength + " leaves no room for a prompt token and a"
                    + " response token after " + lead.length + " leading special token(s)");
        }
        this.maxLength = maxLength;
    }

    /** The ids the post-processor puts before a single text: encode(probe, true) = lead + encode(probe) + ... */
    static long[] leadingSpecialTokens(Tokenizer tokenizer) {
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
        String prompt = template.format(example.instruction(), example.input());
        long[] promptIds = tokenizer.encode(prompt, false);
        long[] outputIds = tokenizer.encode(example.output(), false);
        long[] response = Arrays.copyOf(outputIds, outputIds.length + 1);
        response[outputIds.length] = eosId;

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

    public PromptTemplate template() {
        return template;
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
