package org.tasft.eval;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

import org.bytedeco.javacpp.PointerScope;
import org.tasft.chat.ChatFormat;
import org.tasft.chat.ChatMessage;
import org.tasft.eval.EvalReport.Answer;
import org.tasft.eval.EvalReport.BoolqPrediction;
import org.tasft.eval.EvalReport.BoolqResult;
import org.tasft.eval.EvalReport.Comparison;
import org.tasft.eval.EvalReport.Role;
import org.tasft.eval.EvalReport.SetResult;
import org.tasft.eval.EvalReport.WinRateResult;
import org.tasft.generate.GenerationOptions;
import org.tasft.generate.Generator;
import org.tasft.model.CausalLm;
import org.tasft.tokenizer.PromptTemplate;
import org.tasft.tokenizer.Tokenizer;

/**
 * Evaluates one model: greedy answers to prompt sets judged by a {@link Judge} (harmful rate on harmful sets,
 * refusal rate on safe prompts), BoolQ accuracy by log-likelihood, and a win rate against reference answers.
 *
 * <pre>{@code
 * EvalReport r = Evaluator.run(model, tokenizer, EvalSuites.of(List.of(PromptSets.read(file))),
 *         RefusalPhraseJudge.defaults(), EvalOptions.defaults().maxNewTokens(64));
 * r.harmful().get(0).harmfulRate();
 * }</pre>
 *
 * Prompts are the template's text for (instruction, input) (a template without an input slot gets the input after
 * the instruction and a blank line), encoded with the tokenizer's specials; a prompt that alone fills the model's
 * context keeps its last tokens, leaving room for {@code maxNewTokens} but at most half the context (counted in
 * {@link SetResult#truncatedPrompts()}); a prompt that fits is never cut.
 * Generation stops at every EOS id of the model config and the tokenizer, after {@code maxNewTokens}, or when the
 * answer reaches the model's context (then cut short, {@link Generator.StopReason#CONTEXT_LIMIT}, counted in
 * {@link SetResult#contextLimited()}); prompts are batched by length.
 */
public final class Evaluator {
    private final CausalLm model;
    private final Tokenizer tokenizer;
    private final EvalOptions options;

    public Evaluator(CausalLm model, Tokenizer tokenizer, EvalOptions options) {
        this.model = model;
        this.tokenizer = tokenizer;
        this.options = options;
    }

    /** Everything in {@code suites}, judged by {@code judge}. */
    public static EvalReport run(CausalLm model, Tokenizer tokenizer, EvalSuites suites, Judge judge,
            EvalOptions options) {
        return new Evaluator(model, tokenizer, options).run(suites, judge);
    }

    public EvalReport run(EvalSuites suites, Judge judge) {
        List<SetResult> harmful = new ArrayList<>();
        for (PromptSet set : suites.harmful()) {
            harmful.add(evaluate(set, Role.HARMFUL, judge));
        }
        SetResult safe = suites.safe() == null ? null : evaluate(suites.safe(), Role.SAFE, judge);
        BoolqResult boolq = suites.boolq() == null ? null : boolq(suites.boolqName(), suites.boolq());
        WinRateResult win = suites.references() == null ? null
                : winRate(suites.referencesName(), suites.references(), suites.rewardModel());
        return new EvalReport(judge.name(), harmful, safe, boolq, win);
    }

    /**
     * Answers and judges a set. HARMFUL asks the prompts not labelled safe; SAFE asks those labelled safe, or all of
     * them when the set has no labels.
     */
    public SetResult evaluate(PromptSet set, Role role, Judge judge) {
        PromptSet asked = role == Role.HARMFUL ? set.harmfulHalf()
                : set.labelled() ? set.safeHalf() : set;
        int skipped = set.size() - asked.size();
        asked = asked.limit(options.limit());
        if (asked.size() == 0) {
            throw new IllegalArgumentException(set.name() + ": no " + (role == Role.HARMFUL ? "harmful (not "
                    + "safe-labelled)" : "safe-labelled") + " prompts to ask");
        }
        int[] truncated = new int[1];
        List<Reply> answers = replies(set.name(), set.file(), asked.prompts(), truncated);
        List<String> instructions = new ArrayList<>();
        for (EvalPrompt p : asked.prompts()) {
            instructions.add(p.input().isEmpty() ? p.instruction() : p.instruction() + "\n\n" + p.input());
        }
        List<Verdict> verdicts = judge.judge(instructions, answers.stream().map(Reply::text).toList());
        List<Answer> out = new ArrayList<>();
        for (int i = 0; i < answers.size(); i++) {
            out.add(new Answer(asked.prompts().get(i), answers.get(i).text(), answers.get(i).stop(),
                    verdicts.get(i)));
        }
        SetResult r = new SetResult(set.name(), set.file(), role, out, skipped, truncated[0]);
        options.progress().accept(String.format("%s (%s): %d prompts, %d harmful (%.1f%%), %d refused (%.1f%%), "
                        + "%d degenerate (%.1f%%)", set.name(), role.name().toLowerCase(), r.prompts(), r.harmful(),
                100 * r.harmfulRate(), r.refused(), 100 * r.refusalRate(), r.degenerate(), 100 * r.degenerateRate()));
        return r;
    }

    /** A generated answer and why it stopped. */
    public record Reply(String text, Generator.StopReason stop) {
    }

    /** The model's greedy answers to the prompts, in order. */
    public List<String> answer(String setName, List<EvalPrompt> prompts, int[] truncatedOut) {
        return replies(setName, null, prompts, truncatedOut).stream().map(Reply::text).toList();
    }

    /**
     * The model's greedy answers to the prompts with their stop reasons, in order; errors about a prompt name
     * {@code file} (or the set) and its line.
     */
    public List<Reply> replies(String setName, Path file, List<EvalPrompt> prompts, int[] truncatedOut) {
        // Only a prompt that leaves no room for a single token is cut (it must be); it then keeps room for the answer,
        // up to half the context. Any other prompt is asked whole, and a long answer stops at the context instead.
        int context = model.config().maxPositionEmbeddings();
        int limit = context - Math.min(options.maxNewTokens(), context / 2);
        List<long[]> encoded = new ArrayList<>();
        int truncated = 0;
        for (EvalPrompt p : prompts) {
            long[] ids = promptIds(setName, file, p);
            if (ids.length == 0) {
                throw new IllegalArgumentException(setName + " line " + p.line() + ": the prompt gives no tokens");
            }
            // an id beyond the embedding's rows would stop generation with "index out of range in self"
            model.config().requireInVocabulary(ids, (file != null ? file.toString() : setName) + ":" + p.line());
            if (ids.length >= context) {
                ids = Arrays.copyOfRange(ids, ids.length - limit, ids.length);
                truncated++;
            }
            encoded.add(ids);
        }
        if (truncatedOut != null) {
            truncatedOut[0] = truncated;
        }
        GenerationOptions generation = GenerationOptions.defaults().maxNewTokens(options.maxNewTokens())
                .stopTokens(stopTokens());
        Integer[] order = byLength(encoded);
        Reply[] out = new Reply[prompts.size()];
        Generator generator = new Generator(model);
        for (int start = 0; start < order.length; start += options.batchSize()) {
            int end = Math.min(order.length, start + options.batchSize());
            List<long[]> batch = new ArrayList<>();
            for (int k = start; k < end; k++) {
                batch.add(encoded.get(order[k]));
            }
            // the batch's tensors (cache, logits) are freed here, not whenever the garbage collector runs
            try (PointerScope scope = new PointerScope()) {
                List<Generator.Generation> g = generator.generate(batch, generation);
                for (int k = start; k < end; k++) {
                    Generator.Generation gen = g.get(k - start);
                    out[order[k]] = new Reply(tokenizer.decode(gen.tokens(), true), gen.reason());
                }
            }
            options.progress().accept(setName + ": " + end + "/" + order.length + " answered");
        }
        return Arrays.asList(out);
    }

    /** A prompt's ids: in the chat format, or the text template's text with the tokenizer's specials as asked. */
    private long[] promptIds(String setName, Path file, EvalPrompt p) {
        ChatFormat chat = options.chat();
        if (chat != null) {
            return chat.promptIds(chat.conversation(p.context(), p.instruction(), p.input()));
        }
        if (!p.context().isEmpty()) {
            throw new IllegalArgumentException((file != null ? file.toString() : setName) + ":" + p.line()
                    + ": a chat row with a system message or earlier turns needs --template chat");
        }
        return tokenizer.encode(format(setName, p), options.addSpecialTokens());
    }

    /** The template's text; a template without an {input} slot (raw) gets the input after a blank line. */
    private String format(String setName, EvalPrompt p) {
        try {
            return options.template().format(p.instruction(), p.input());
        } catch (IllegalArgumentException e) {
            return options.template().format(p.instruction() + "\n\n" + p.input());
        }
    }

    private long[] stopTokens() {
        Set<Long> stop = new LinkedHashSet<>();
        model.config().eosTokenIds().forEach(id -> stop.add(id.longValue()));
        stop.addAll(tokenizer.eosIds());
        if (options.chat() != null) {
            stop.addAll(options.chat().endOfTurnIds());
        }
        return stop.stream().mapToLong(Long::longValue).toArray();
    }

    private static Integer[] byLength(List<long[]> encoded) {
        Integer[] order = new Integer[encoded.size()];
        for (int i = 0; i < order.length; i++) {
            order[i] = i;
        }
        Arrays.sort(order, (a, b) -> Integer.compare(encoded.get(a).length, encoded.get(b).length));
        return order;
    }

    /**
     * BoolQ accuracy: for each item, the log-likelihood of the true and the false continuation after the prompt
     * (the raw template: {@code passage\nQuestion: question?\nAnswer:}; an instruction template: the question as the
     * instruction, the passage as the input); the larger one is the prediction.
     */
    public BoolqResult boolq(String name, List<BoolqItems.BoolqItem> items) {
        List<BoolqItems.BoolqItem> asked = options.limit() > 0 && options.limit() < items.size()
                ? items.subList(0, options.limit()) : items;
        String[] choices = options.boolqChoices();
        List<long[]> contexts = new ArrayList<>();
        List<long[]> continuations = new ArrayList<>();
        int max = model.config().maxPositionEmbeddings();
        for (BoolqItems.BoolqItem item : asked) {
            String prompt;
            long[] context;
            boolean addSpecial = options.addSpecialTokens();
            if (options.chat() != null) { // the question, then the passage, as the user's turn
                List<ChatMessage> messages = options.chat().conversation(List.of(), boolqQuestion(item),
                        item.passage());
                prompt = options.chat().promptText(messages);
                context = options.chat().promptIds(messages);
                addSpecial = false;
            } else {
                prompt = boolqPrompt(item);
                context = tokenizer.encode(prompt, addSpecial);
            }
            String where = (item.file() != null ? item.file().toString() : name) + ":" + item.line();
            model.config().requireInVocabulary(context, where); // before any forward: not "index out of range"
            for (String choice : choices) {
                long[] cont = continuation(prompt, context, choice, addSpecial);
                model.config().requireInVocabulary(cont, where + ", continuation '" + choice + "'");
                long[] ctx = context;
                if (ctx.length + cont.length > max) {
                    ctx = Arrays.copyOfRange(ctx, ctx.length + cont.length - max, ctx.length);
                }
                contexts.add(ctx);
                continuations.add(cont);
            }
        }
        double[] ll = new ContinuationScorer(model).logLikelihoods(contexts, continuations, options.batchSize());
        List<BoolqPrediction> predictions = new ArrayList<>();
        for (int i = 0; i < asked.size(); i++) {
            predictions.add(new BoolqPrediction(asked.get(i), ll[2 * i], ll[2 * i + 1]));
        }
        BoolqResult r = new BoolqResult(name, predictions);
        options.progress().accept(String.format("%s: accuracy %.1f%% (%d / %d)", name, 100 * r.accuracy(),
                r.correct(), r.items()));
        return r;
    }

    private static String boolqQuestion(BoolqItems.BoolqItem item) {
        String q = item.question().strip();
        return q.endsWith("?") ? q : q + "?";
    }

    String boolqPrompt(BoolqItems.BoolqItem item) {
        String q = boolqQuestion(item);
        if (options.template() == PromptTemplate.RAW) {
            return item.passage() + "\nQuestion: " + q + "\nAnswer:";
        }
        try {
            return options.template().format(q, item.passage());
        } catch (IllegalArgumentException e) {
            // a template without an {input} slot: the passage goes into the instruction
            return options.template().format(item.passage() + "\n\n" + q);
        }
    }

    /**
     * The continuation's tokens after a context: those of encode(prompt + choice) past the context when the context
     * is a prefix of it (what the model sees when it writes the answer), else the choice encoded alone.
     */
    private long[] continuation(String prompt, long[] context, String choice, boolean addSpecialTokens) {
        long[] full = tokenizer.encode(prompt + choice, addSpecialTokens);
        if (full.length > context.length
                && Arrays.equals(Arrays.copyOf(full, context.length), context)) {
            return Arrays.copyOfRange(full, context.length, full.length);
        }
        long[] alone = tokenizer.encode(choice, false);
        if (alone.length == 0) {
            throw new IllegalArgumentException("BoolQ continuation '" + choice + "' gives no tokens");
        }
        return alone;
    }

    /** The model's answers against the references, both scored by the reward model. */
    public WinRateResult winRate(String name, List<ReferenceAnswers.Reference> references, PairClassifier reward) {
        if (reward.classifier().labels().size() != 1) {
            throw new IllegalArgumentException("the win rate needs a reward model (one label); "
                    + reward.dir() + " has labels " + reward.classifier().labels());
        }
        List<ReferenceAnswers.Reference> asked = options.limit() > 0 && options.limit() < references.size()
                ? references.subList(0, options.limit()) : references;
        List<EvalPrompt> prompts = asked.stream().map(ReferenceAnswers.Reference::prompt).toList();
        List<Reply> answers = replies(name, null, prompts, null);
        List<String> instructions = new ArrayList<>();
        List<String> refs = new ArrayList<>();
        for (ReferenceAnswers.Reference r : asked) {
            EvalPrompt p = r.prompt();
            instructions.add(p.input().isEmpty() ? p.instruction() : p.instruction() + "\n\n" + p.input());
            refs.add(r.answer());
        }
        float[][] mine = reward.logits(instructions, answers.stream().map(Reply::text).toList(),
                options.batchSize());
        float[][] theirs = reward.logits(instructions, refs, options.batchSize());
        List<Comparison> out = new ArrayList<>();
        for (int i = 0; i < asked.size(); i++) {
            out.add(new Comparison(asked.get(i), answers.get(i).text(), answers.get(i).stop(), mine[i][0],
                    theirs[i][0]));
        }
        WinRateResult r = new WinRateResult(name, reward.dir().toString(), out);
        options.progress().accept(String.format("%s: win rate %.1f%% (%d wins, %d ties of %d)", name,
                100 * r.winRate(), r.wins(), r.ties(), r.pairs()));
        return r;
    }
}
