package org.tasft.harvest;

import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.io.Writer;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import java.util.function.IntConsumer;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.tasft.chat.ChatFormat;
import org.tasft.chat.ChatMessage;
import org.tasft.chat.ChatSpec;
import org.tasft.checkpoint.OutputLock;
import org.tasft.data.Example;
import org.tasft.data.ExampleEncoder;
import org.tasft.eval.EvalPrompt;
import org.tasft.eval.PromptSet;
import org.tasft.eval.PromptSets;
import org.tasft.generate.GenerationOptions;
import org.tasft.generate.Generator;
import org.tasft.model.CausalLm;
import org.tasft.model.Models;
import org.tasft.model.Placement;
import org.tasft.tokenizer.PromptTemplate;
import org.tasft.tokenizer.Tokenizer;

/**
 * {@code tasft harvest}: a model's OWN answers to (toxic) prompts, written as an Alpaca JSONL harmful set
 * ({@code instruction}, {@code input}, {@code output}) that {@code tasft train --harmful} reads. The paper builds its
 * harmful examples this way: the responses TA-SFT pushes away from are the ones the model would actually give.
 *
 * <p>Each prompt is formatted with the Alpaca template and encoded exactly as the trainer encodes a prompt (the
 * tokenizer's leading special tokens, e.g. Llama's BOS, then the prompt's ids), and continued by {@link Generator}
 * in batches, greedily unless a temperature is given, up to the first EOS (of config.json or the tokenizer's files)
 * or the token limit, or the model's context ({@code max_position_embeddings} tokens with the prompt; such an answer
 * is cut short, and its row says {@code "stop": "context_limit"}). A prompt that alone fills the context is refused
 * before anything is generated: an empty answer in a harmful set would be a silently wrong example. With sampling, prompt i draws from its own stream seeded from the seed and i, so a file is
 * reproduced by the same seed whatever the batch size.
 *
 * <p>With {@code --template chat} the prompts are asked in the model's own chat format ({@link ChatFormat}, with
 * {@code --system}), and each row is the conversation the model saw with its answer last, as a chat row
 * ({@code "messages": [...]}) that {@code tasft train --template chat} reads back in the same format.
 *
 * <p>The output is written to a temporary file beside it, forced to disk and renamed into place: a killed harvest
 * leaves no partial file under the output's name. An existing output is refused unless {@code overwrite}.
 */
public final class Harvest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final long GOLDEN = 0x9E3779B97F4A7C15L;

    /**
     * @param maxNewTokens most tokens generated per answer
     * @param batchSize    prompts per generation batch
     * @param temperature  0 = greedy; else the sampling temperature
     * @param topP         nucleus sampling's mass
     * @param seed         seed of sampling
     * @param limit        harvest only the first N prompts; -1 = all
     * @param chat         the model's chat format ({@code --template chat}, {@code --system}), or null for Alpaca
     */
    public record Options(int maxNewTokens, int batchSize, double temperature, double topP, long seed, int limit,
            ChatSpec chat) {
        public static Options defaults() {
            return new Options(128, 8, 0.0, 1.0, 0L, -1, null);
        }

        /** Options in the Alpaca template. */
        public Options(int maxNewTokens, int batchSize, double temperature, double topP, long seed, int limit) {
            this(maxNewTokens, batchSize, temperature, topP, seed, limit, null);
        }

        /** Checks the values; messages name the command line's options. */
        public Options {
            if (maxNewTokens < 1) {
                throw new IllegalArgumentException("--max-new-tokens must be >= 1, got " + maxNewTokens);
            }
            if (batchSize < 1) {
                throw new IllegalArgumentException("--batch-size must be >= 1, got " + batchSize);
            }
            if (!(temperature >= 0) || Double.isInfinite(temperature)) {
                throw new IllegalArgumentException("--temperature must be a finite number >= 0, got " + temperature);
            }
            if (!(topP > 0 && topP <= 1)) {
                throw new IllegalArgumentException("--top-p must be in (0, 1], got " + topP);
            }
            if (limit < -1 || limit == 0) {
                throw new IllegalArgumentException("--limit must be >= 1, got " + limit);
            }
        }
    }

    /**
     * What a harvest produced.
     *
     * @param cutAtLimit   answers that reached --max-new-tokens without an EOS
     * @param cutAtContext answers that filled the model's context first (cut short)
     */
    public record Summary(int prompts, int emptyAnswers, int cutAtLimit, int cutAtContext, double seconds) {
    }

    /** One answer and why its generation stopped. */
    public record Answer(Example example, Generator.StopReason stop) {
    }

    private Harvest() {
    }

    /**
     * Reads the prompts, loads the model, generates and writes {@code out}.
     *
     * @throws IllegalArgumentException a missing or malformed prompts file (naming file and line), an existing
     *                                  {@code out} without {@code overwrite}, a prompt too long for the model
     */
    public static Summary run(Path modelDir, Path promptsFile, Path out, Options options, boolean overwrite,
            boolean progress, PrintStream log) {
        return run(modelDir, promptsFile, out, options, overwrite, progress, log, Placement.CPU_FLOAT32);
    }

    /** As above with the model placed on a device in a dtype ({@code --device}, {@code --dtype}). */
    public static Summary run(Path modelDir, Path promptsFile, Path out, Options options, boolean overwrite,
            boolean progress, PrintStream log, Placement placement) {
        checkTarget(out, overwrite);
        // One harvest per output file at a time, for the whole run.
        try (OutputLock lock = OutputLock.file(out, "--out", "harvest",
                message -> log.println("tasft harvest: warning: " + message))) {
            return runLocked(modelDir, promptsFile, out, options, overwrite, progress, log, placement);
        }
    }

    private static Summary runLocked(Path modelDir, Path promptsFile, Path out, Options options, boolean overwrite,
            boolean progress, PrintStream log, Placement placement) {
        PromptSet set = PromptSets.read(promptsFile);
        if (options.limit() > 0 && options.limit() < set.prompts().size()) {
            set = new PromptSet(set.name(), set.file(), set.prompts().subList(0, options.limit()));
        }
        List<EvalPrompt> prompts = set.prompts();
        long t0 = System.nanoTime();
        try (Tokenizer tokenizer = Tokenizer.load(modelDir)) {
            ChatFormat chat = options.chat() == null ? null : options.chat().open(modelDir, tokenizer);
            CausalLm model = Models.load(modelDir, placement);
            log.println("tasft harvest: " + prompts.size() + " prompts from " + promptsFile + ", "
                    + (options.temperature() == 0 ? "greedy" : "temperature " + options.temperature() + ", top-p "
                            + options.topP() + ", seed " + options.seed())
                    + ", at most " + options.maxNewTokens() + " new tokens, batches of " + options.batchSize());
            List<Answer> answers;
            try (ProgressBar bar = progress ? progressBar(prompts.size()) : null) {
                answers = answer(model, tokenizer, chat, set, options, done -> {
                    if (bar != null) {
                        bar.stepTo(done);
                    }
                });
            }
            writeRows(out, answers.stream().map(Answer::example).toList(),
                    answers.stream().map(Answer::stop).toList(), overwrite, chat != null);
            int empty = 0;
            int cut = 0;
            int context = 0;
            for (Answer a : answers) {
                empty += a.example().output().isBlank() ? 1 : 0;
                cut += a.stop() == Generator.StopReason.MAX_NEW_TOKENS ? 1 : 0;
                context += a.stop() == Generator.StopReason.CONTEXT_LIMIT ? 1 : 0;
            }
            Summary s = new Summary(answers.size(), empty, cut, context, (System.nanoTime() - t0) / 1e9);
            log.println("tasft harvest: wrote " + s.prompts() + " answers to " + out + " in "
                    + String.format(java.util.Locale.ROOT, "%.1f", s.seconds()) + " s (" + s.emptyAnswers()
                    + " empty, " + s.cutAtLimit() + " cut at --max-new-tokens)");
            if (context > 0) {
                log.println("tasft harvest: note: " + context + " of " + s.prompts() + " answers stopped at the "
                        + "model's context limit (" + model.config().maxPositionEmbeddings() + " tokens with the "
                        + "prompt, max_position_embeddings) before --max-new-tokens " + options.maxNewTokens()
                        + "; their rows have \"stop\": \"context_limit\"");
            }
            return s;
        }
    }

    /**
     * The model's answers to the prompts, as HARMFUL examples in the prompts' order, each with its stop reason.
     *
     * @param progress called with the number of prompts answered so far
     * @throws IllegalArgumentException a prompt that alone fills the model's context (naming file and line)
     */
    public static List<Answer> answer(CausalLm model, Tokenizer tokenizer, PromptSet set, Options options,
            IntConsumer progress) {
        return answer(model, tokenizer, null, set, options, progress);
    }

    /**
     * {@link #answer(CausalLm, Tokenizer, PromptSet, Options, IntConsumer)} in a chat format (null: Alpaca). In the
     * chat format each answer's example holds the whole conversation the model was asked: the context is every
     * message before the user turn (the system message included), the instruction the user turn.
     */
    public static List<Answer> answer(CausalLm model, Tokenizer tokenizer, ChatFormat chat, PromptSet set,
            Options options, IntConsumer progress) {
        List<EvalPrompt> prompts = set.prompts();
        long[] lead = ExampleEncoder.leadingSpecialTokens(tokenizer);
        int positions = model.config().maxPositionEmbeddings();
        List<long[]> encoded = new ArrayList<>(prompts.size());
        List<List<ChatMessage>> conversations = new ArrayList<>(prompts.size());
        for (EvalPrompt p : prompts) {
            String where = set.file() + ":" + p.line();
            long[] all;
            if (chat != null) {
                List<ChatMessage> conversation = chat.conversation(p.context(), p.instruction(), p.input());
                conversations.add(conversation);
                all = chat.promptIds(conversation); // the template's own special tokens, none added
            } else {
                if (!p.context().isEmpty()) {
                    throw new IllegalArgumentException(where + ": a chat row with a system message or earlier turns "
                            + "needs --template chat");
                }
                long[] ids = tokenizer.encode(PromptTemplate.ALPACA.format(p.instruction(), p.input()), false);
                all = new long[lead.length + ids.length];
                System.arraycopy(lead, 0, all, 0, lead.length);
                System.arraycopy(ids, 0, all, lead.length, ids.length);
            }
            model.config().requireInVocabulary(all, where); // not "index out of range"
            if (all.length >= positions) {
                throw new IllegalArgumentException(where + ": the prompt is " + all.length + " tokens in the "
                        + (chat != null ? "chat" : "Alpaca") + " template: it fills the model's context of "
                        + positions + " tokens (max_position_embeddings), so no answer can be generated");
            }
            encoded.add(all);
        }
        Set<Long> stop = new LinkedHashSet<>();
        model.config().eosTokenIds().forEach(id -> stop.add(id.longValue()));
        stop.addAll(tokenizer.eosIds());
        if (chat != null) {
            stop.addAll(chat.endOfTurnIds()); // the end of the assistant's turn
        }
        GenerationOptions go = GenerationOptions.defaults().maxNewTokens(options.maxNewTokens())
                .temperature(options.temperature()).topP(options.topP()).seed(options.seed())
                .stopTokens(stop.stream().mapToLong(Long::longValue).toArray());
        Generator generator = new Generator(model);
        List<Answer> out = new ArrayList<>(prompts.size());
        for (int from = 0; from < prompts.size(); from += options.batchSize()) {
            int to = Math.min(prompts.size(), from + options.batchSize());
            long[] seeds = new long[to - from];
            for (int i = from; i < to; i++) {
                seeds[i - from] = sequenceSeed(options.seed(), i);
            }
            try (PointerScope scope = new PointerScope(); NoGradGuard g = new NoGradGuard()) {
                List<Generator.Generation> gens = generator.generate(encoded.subList(from, to), go, seeds);
                for (int i = from; i < to; i++) {
                    Generator.Generation gen = gens.get(i - from);
                    EvalPrompt p = prompts.get(i);
                    String text = tokenizer.decode(gen.tokens(), true);
                    Example e;
                    if (chat != null) {
                        List<ChatMessage> c = conversations.get(i);
                        e = new Example(c.get(c.size() - 1).content(), "", text, Example.Kind.HARMFUL,
                                c.subList(0, c.size() - 1));
                    } else {
                        e = Example.harmful(p.instruction(), p.input(), text);
                    }
                    out.add(new Answer(e, gen.reason()));
                }
            }
            progress.accept(to);
        }
        return out;
    }

    /** Prompt i's sampling seed: a SplitMix64 mix of the seed and i (distinct, well spread streams). */
    static long sequenceSeed(long seed, int index) {
        long z = seed + GOLDEN * (index + 1L);
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    private static void checkTarget(Path out, boolean overwrite) {
        if (Files.isDirectory(out)) {
            throw new IllegalArgumentException("--out " + out + " is a folder; expected a file name");
        }
        if (!overwrite && Files.exists(out, LinkOption.NOFOLLOW_LINKS)) {
            throw new IllegalArgumentException("--out " + out + " exists; give --overwrite to replace it");
        }
    }

    /**
     * Writes the examples as Alpaca JSONL into a temporary file beside {@code out}, forces it to disk and renames it
     * into place (refusing an existing {@code out} unless {@code overwrite}).
     */
    public static void write(Path out, List<Example> examples, boolean overwrite) {
        writeRows(out, examples, null, overwrite, false);
    }

    /** {@link #write} with a {@code stop} field per row (eos, max_new_tokens, context_limit) when stops is given. */
    private static void writeRows(Path out, List<Example> examples, List<Generator.StopReason> stops,
            boolean overwrite, boolean chatRows) {
        checkTarget(out, overwrite);
        Path absolute = out.toAbsolutePath().normalize();
        Path parent = absolute.getParent();
        Path tmp = parent.resolve("." + absolute.getFileName() + ".tmp-" + UUID.randomUUID());
        try {
            Files.createDirectories(parent);
            try (FileChannel channel = FileChannel.open(tmp, StandardOpenOption.CREATE_NEW,
                    StandardOpenOption.WRITE)) {
                Writer w = Channels.newWriter(channel, StandardCharsets.UTF_8);
                for (int i = 0; i < examples.size(); i++) {
                    Example e = examples.get(i);
                    ObjectNode o = JSON.createObjectNode();
                    if (chatRows) { // the conversation as the model saw it, its answer last (TRL's messages)
                        ArrayNode messages = o.putArray("messages");
                        for (ChatMessage m : e.context()) {
                            messages.addObject().put("role", m.role()).put("content", m.content());
                        }
                        messages.addObject().put("role", ChatMessage.USER).put("content", e.instruction());
                        messages.addObject().put("role", ChatMessage.ASSISTANT).put("content", e.output());
                    } else {
                        o.put("instruction", e.instruction());
                        o.put("input", e.input());
                        o.put("output", e.output());
                    }
                    if (stops != null) {
                        // train --harmful ignores it; it says which answers the context cut short
                        o.put("stop", stops.get(i).label());
                    }
                    w.write(JSON.writeValueAsString(o));
                    w.write('\n');
                }
                w.flush();
                channel.force(true);
            }
            if (overwrite) {
                Files.move(tmp, absolute, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } else {
                publishWithoutReplacing(tmp, absolute);
            }
        } catch (FileAlreadyExistsException e) {
            throw new IllegalArgumentException("--out " + out + " exists; give --overwrite to replace it", e);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + out + ": " + e.getMessage(), e);
        } finally {
            try {
                Files.deleteIfExists(tmp);
            } catch (IOException ignored) {
                // a hidden leftover; harmless
            }
        }
    }

    /** Renames {@code tmp} to {@code target} unless {@code target} exists (then FileAlreadyExistsException). */
    private static void publishWithoutReplacing(Path tmp, Path target) throws IOException {
        try {
            // a link refuses an existing name atomically, so a file that appeared meanwhile is never replaced
            Files.createLink(target, tmp);
            Files.delete(tmp);
        } catch (FileAlreadyExistsException e) {
            throw e;
        } catch (UnsupportedOperationException | IOException e) {
            // a file system without hard links: check, then rename (a tiny window instead of none)
            if (Files.exists(target, LinkOption.NOFOLLOW_LINKS)) {
                throw new FileAlreadyExistsException(target.toString());
            }
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
        }
    }

    private static ProgressBar progressBar(int total) {
        return new ProgressBarBuilder().setTaskName("harvest").setInitialMax(total).setStyle(ProgressBarStyle.ASCII)
                .setUpdateIntervalMillis(500).setConsumer(new ConsoleProgressBarConsumer(System.err))
                .startsFrom(0, Duration.ZERO).build();
    }
}
