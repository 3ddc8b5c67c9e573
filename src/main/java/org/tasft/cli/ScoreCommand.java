package org.tasft.cli;

import java.io.PrintWriter;
import java.nio.file.Path;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.List;

import org.tasft.chat.ChatFormat;
import org.tasft.chat.ChatMessage;
import org.tasft.chat.ChatSpec;
import org.tasft.generate.Scorer;
import org.tasft.model.CausalLm;
import org.tasft.tokenizer.Tokenizer;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code tasft score}: the log-probability a model gives each token of a sequence, and the mean NLL. */
@Command(name = "score",
        description = {"Print log p(token t | tokens before t) for every position t >= 1 and the mean negative "
                + "log-likelihood of a token sequence."},
        footer = {"", "Examples:",
            "  tasft score --model DIR --ids 5,17,42,99",
            "  tasft score --model DIR --text \"Paris is in France.\" --json",
            "  tasft score --model DIR --template chat --text \"Where is Paris?\" --response \"In France.\""})
final class ScoreCommand extends ModelCommand {
    static final class Input {
        @Option(names = "--ids", paramLabel = "ID,ID,...", description = "Token ids, comma-separated.")
        String ids;

        @Option(names = "--text", paramLabel = "TEXT", description = "Text, tokenized with DIR/tokenizer.json.")
        String text;
    }

    @ArgGroup(exclusive = true, multiplicity = "1")
    Input input;

    @Option(names = "--no-special-tokens",
            description = "With --text: do not let the tokenizer add its special tokens (e.g. Llama's BOS).")
    boolean noSpecialTokens;

    @Option(names = "--json", description = "Print one JSON object {\"ids\", \"logprobs\", \"mean_nll\"} (with "
            + "--response also \"response_start\" and \"response_mean_nll\").")
    boolean json;

    @Mixin
    TemplateOptions templateOptions;

    @Option(names = "--response", paramLabel = "TEXT", description = "With --template chat: the assistant's answer "
            + "to --text; its tokens (the assistant turn, found by rendering) get their own mean NLL.")
    String response;

    @Override
    public Integer call() {
        templateOptions.requireOneOf("score", "chat");
        ChatSpec chatSpec = templateOptions.chatSpec();
        if (chatSpec != null && input.text == null) {
            throw new UsageException("--template chat needs --text (the user's message), not --ids");
        }
        if (chatSpec != null && noSpecialTokens) {
            throw new UsageException("--no-special-tokens does not go with --template chat: the chat template writes "
                    + "its own special tokens and none are added");
        }
        if (response != null && chatSpec == null) {
            throw new UsageException("--response needs --template chat");
        }
        ModelFolder folder = modelFolder();
        Tokenizer tokenizer = null;
        try {
            long[] ids;
            int responseStart = -1;
            if (chatSpec != null) {
                tokenizer = folder.tokenizer("--text");
                ChatFormat chat = TemplateOptions.open(chatSpec, folder.dir(), tokenizer);
                List<ChatMessage> conversation = chat.conversation(List.of(), input.text, "");
                if (response == null) {
                    ids = chat.promptIds(conversation);
                } else {
                    ChatFormat.Turn turn = chat.turn(conversation, response);
                    ids = concat(turn.promptIds(), turn.answerIds());
                    responseStart = turn.promptIds().length;
                }
            } else if (input.text != null) {
                tokenizer = folder.tokenizer("--text");
                ids = tokenizer.encode(input.text, !noSpecialTokens);
            } else {
                ids = parseIds(input.ids);
                if (!json && folder.hasTokenizer()) {
                    tokenizer = folder.tokenizer("the token column");
                }
            }
            if (ids.length < 2) {
                throw new UsageException("scoring needs at least 2 tokens, got " + ids.length);
            }
            CausalLm lm = folder.loadModel(placement);
            int vocab = lm.config().vocabSize();
            for (long id : ids) {
                if (id < 0 || id >= vocab) {
                    throw new UsageException("token id " + id + " is outside the model's vocabulary [0, " + vocab
                            + ")");
                }
            }
            Scorer.Score score = new Scorer(lm).score(ids);
            PrintWriter out = spec.commandLine().getOut();
            if (json) {
                printJson(out, score, responseStart);
            } else {
                printTable(out, score, tokenizer);
                if (responseStart > 0) {
                    out.printf("response mean NLL: %.6f over %d tokens (from position %d)%n",
                            responseNll(score, responseStart), ids.length - responseStart, responseStart);
                }
            }
            out.flush();
            return 0;
        } finally {
            if (tokenizer != null) {
                tokenizer.close();
            }
        }
    }

    static long[] parseIds(String text) {
        String[] parts = text.split(",", -1);
        long[] ids = new long[parts.length];
        for (int i = 0; i < parts.length; i++) {
            try {
                ids[i] = Long.parseLong(parts[i].strip());
            } catch (NumberFormatException e) {
                throw new UsageException("--ids: '" + parts[i] + "' is not a token id (expected e.g. --ids 5,17,42)");
            }
        }
        return ids;
    }

    private static long[] concat(long[] a, long[] b) {
        long[] out = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    /** Mean NLL of the tokens from {@code start} on (logprobs[t - 1] is token t's). */
    static double responseNll(Scorer.Score score, int start) {
        double sum = 0;
        int n = 0;
        for (int t = start; t < score.ids().length; t++) {
            sum -= score.logprobs()[t - 1];
            n++;
        }
        return n == 0 ? Double.NaN : sum / n;
    }

    private static void printJson(PrintWriter out, Scorer.Score score, int responseStart) {
        ObjectMapper mapper = new ObjectMapper();
        ObjectNode root = mapper.createObjectNode();
        ArrayNode ids = root.putArray("ids");
        for (long id : score.ids()) {
            ids.add(id);
        }
        ArrayNode logprobs = root.putArray("logprobs");
        for (double lp : score.logprobs()) {
            logprobs.add(lp);
        }
        root.put("mean_nll", score.meanNll());
        if (responseStart > 0) {
            root.put("response_start", responseStart);
            root.put("response_mean_nll", responseNll(score, responseStart));
        }
        out.println(root.toString());
    }

    private static void printTable(PrintWriter out, Scorer.Score score, Tokenizer tokenizer) {
        out.printf("%8s  %8s  %-24s  %12s%n", "position", "id", "token", "logprob");
        long[] ids = score.ids();
        for (int t = 0; t < ids.length; t++) {
            boolean known = tokenizer != null && ids[t] < tokenizer.vocabSize();
            String token = known ? quote(tokenizer.decode(new long[] {ids[t]})) : "";
            String logprob = t == 0 ? "-" : String.format("%.6f", score.logprobs()[t - 1]);
            out.printf("%8d  %8d  %-24s  %12s%n", t, ids[t], token, logprob);
        }
        out.printf("mean NLL: %.6f over %d tokens (perplexity %.4f)%n", score.meanNll(), ids.length - 1,
                Math.exp(score.meanNll()));
    }

    /** The token's text in quotes, with control characters escaped so that each token stays on its line. */
    static String quote(String text) {
        StringBuilder s = new StringBuilder("\"");
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            switch (c) {
                case '\n' -> s.append("\\n");
                case '\r' -> s.append("\\r");
                case '\t' -> s.append("\\t");
                case '"' -> s.append("\\\"");
                case '\\' -> s.append("\\\\");
                default -> {
                    if (c < 0x20 || c == 0x7f) {
                        s.append(String.format("\\u%04x", (int) c));
                    } else {
                        s.append(c);
                    }
                }
            }
        }
        return s.append('"').toString();
    }
}
