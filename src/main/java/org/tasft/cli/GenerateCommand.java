package org.tasft.cli;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.tasft.chat.ChatFormat;
import org.tasft.chat.ChatSpec;
import org.tasft.generate.GenerationOptions;
import org.tasft.generate.Generator;
import org.tasft.model.CausalLm;
import org.tasft.tokenizer.PromptTemplate;
import org.tasft.tokenizer.Tokenizer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code tasft generate}: completions of one or more prompts, batched. */
@Command(name = "generate",
        description = {"Print the model's completion of each prompt. Several --prompt values run as one batch.",
            "Greedy by default; --temperature > 0 samples (reproducibly for a given --seed)."},
        footer = {"", "Examples:",
            "  tasft generate --model DIR --prompt \"Give three tips for staying healthy.\"",
            "  tasft generate --model DIR --template raw --prompt \"Once upon a time\" \\",
            "      --temperature 0.7 --top-p 0.9 --seed 1",
            "  tasft generate --model DIR --template chat --system \"You are a helpful assistant.\" \\",
            "      --prompt \"Give three tips for staying healthy.\""})
final class GenerateCommand extends ModelCommand {
    @Option(names = "--prompt", required = true, paramLabel = "TEXT",
            description = "An instruction (or, with --template raw, the prompt itself); repeat for a batch.")
    List<String> prompts;

    @Mixin
    TemplateOptions templateOptions;

    @Option(names = "--max-new-tokens", paramLabel = "N", defaultValue = "64",
            description = "Most tokens to generate per prompt (default: ${DEFAULT-VALUE}).")
    int maxNewTokens;

    @Mixin
    SamplingOptions sampling;

    @Option(names = "--no-cache", description = "Recompute the whole sequence at every step (slow; for checks).")
    boolean noCache;

    @Option(names = "--no-special-tokens",
            description = "Do not let the tokenizer add its special tokens (e.g. Llama's BOS) to the prompt.")
    boolean noSpecialTokens;

    @Option(names = "--json", description = "Print a JSON array of {prompt, completion, ids, stop} objects "
            + "(stop: eos, max_new_tokens or context_limit).")
    boolean json;

    @Override
    public Integer call() {
        GenerationOptions options;
        ChatSpec chatSpec = templateOptions.chatSpec();
        PromptTemplate promptTemplate = chatSpec == null ? templateOptions.textTemplate("alpaca") : null;
        if (chatSpec != null && noSpecialTokens) {
            throw new UsageException("--no-special-tokens does not go with --template chat: the chat template writes "
                    + "its own special tokens and none are added");
        }
        try {
            options = GenerationOptions.defaults().maxNewTokens(maxNewTokens).temperature(sampling.temperature)
                    .topP(sampling.topP).seed(sampling.seed).useCache(!noCache);
        } catch (IllegalArgumentException e) {
            throw new UsageException(e.getMessage(), e);
        }
        ModelFolder folder = modelFolder();
        String template = templateOptions.value("alpaca");
        try (Tokenizer tokenizer = folder.tokenizer("generate")) {
            ChatFormat chat = chatSpec == null ? null : TemplateOptions.open(chatSpec, folder.dir(), tokenizer);
            List<long[]> encoded = new ArrayList<>();
            for (String prompt : prompts) {
                long[] ids = chat != null ? chat.promptIds(chat.conversation(List.of(), prompt, ""))
                        : tokenizer.encode(promptTemplate.format(prompt), !noSpecialTokens);
                if (ids.length == 0) {
                    throw new UsageException("--prompt \"" + prompt + "\" gives no tokens");
                }
                encoded.add(ids);
            }
            CausalLm lm = folder.loadModel(placement);
            int context = lm.config().maxPositionEmbeddings();
            for (int i = 0; i < encoded.size(); i++) {
                if (encoded.get(i).length >= context) {
                    // nothing could be generated: an empty answer would look like the model's choice
                    throw new UsageException(describe(i) + " is " + encoded.get(i).length + " tokens"
                            + (template.equals("raw") ? "" : " in the " + template + " template")
                            + ": it fills the model's context of " + context
                            + " tokens (max_position_embeddings), so nothing can be generated");
                }
            }
            // Stop at every EOS the model config or the tokenizer's files name.
            Set<Long> stop = new LinkedHashSet<>();
            lm.config().eosTokenIds().forEach(id -> stop.add(id.longValue()));
            stop.addAll(tokenizer.eosIds());
            if (chat != null) {
                stop.addAll(chat.endOfTurnIds()); // the end of the assistant's turn
            }
            options = options.stopTokens(stop.stream().mapToLong(Long::longValue).toArray());

            List<Generator.Generation> generations = new Generator(lm).generate(encoded, options);
            noteContextLimit(spec.commandLine().getErr(), generations, context);
            PrintWriter out = spec.commandLine().getOut();
            if (json) {
                printJson(out, prompts, generations, tokenizer);
            } else {
                for (int i = 0; i < generations.size(); i++) {
                    if (generations.size() > 1) {
                        out.println("--- completion " + (i + 1) + " of " + generations.size() + " ---");
                    }
                    out.println(tokenizer.decode(generations.get(i).tokens(), true));
                }
            }
            out.flush();
            return 0;
        }
    }

    /** "--prompt "Give three tips..."" (the first 40 characters), with its place when there are several. */
    private String describe(int i) {
        String p = prompts.get(i);
        String shown = p.length() > 40 ? p.substring(0, 40) + "..." : p;
        return "--prompt " + (prompts.size() > 1 ? (i + 1) + " of " + prompts.size() + " " : "")
                + "\"" + shown.replace("\n", " ") + "\"";
    }

    /** One line on stderr when completions were cut by the context rather than ended by the model. */
    private void noteContextLimit(PrintWriter err, List<Generator.Generation> generations, int context) {
        List<Integer> cut = new ArrayList<>();
        for (int i = 0; i < generations.size(); i++) {
            if (generations.get(i).reason() == Generator.StopReason.CONTEXT_LIMIT) {
                cut.add(i + 1);
            }
        }
        if (cut.isEmpty()) {
            return;
        }
        String which = generations.size() == 1 ? "the completion"
                : "completion" + (cut.size() > 1 ? "s " : " ") + cut.stream().map(String::valueOf)
                        .collect(Collectors.joining(", ")) + " of " + generations.size();
        String after = generations.size() == 1 ? " after " + generations.get(0).tokens().length + " new tokens"
                : "";
        err.println("tasft generate: note: " + which + " stopped at the model's context limit" + after + " ("
                + context + " tokens with the prompt, max_position_embeddings) before --max-new-tokens "
                + maxNewTokens + "; the text is cut short");
        err.flush();
    }

    private static void printJson(PrintWriter out, List<String> prompts, List<Generator.Generation> generations,
            Tokenizer tokenizer) {
        ObjectMapper mapper = new ObjectMapper();
        ArrayNode root = mapper.createArrayNode();
        for (int i = 0; i < generations.size(); i++) {
            Generator.Generation g = generations.get(i);
            ObjectNode o = root.addObject();
            o.put("prompt", prompts.get(i));
            o.put("completion", tokenizer.decode(g.tokens(), true));
            ArrayNode ids = o.putArray("ids");
            for (long id : g.tokens()) {
                ids.add(id);
            }
            o.put("stop", g.reason().label());
        }
        out.println(root.toString());
    }
}
