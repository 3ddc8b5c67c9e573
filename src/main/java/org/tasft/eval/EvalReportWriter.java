package org.tasft.eval;

import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.function.BiConsumer;
import java.util.stream.Stream;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.tasft.checkpoint.OutputFolder;
import org.tasft.eval.EvalReport.SetResult;

/**
 * Writes an {@link EvalReport} as a folder: {@code results.json}, {@code results.md} (a Markdown table), and the
 * answers of every set as JSONL ({@code answers/<set>.jsonl}: prompt, input, label, line, answer, verdict, score;
 * {@code boolq.jsonl}; {@code winrate.jsonl}), listed in the folder's {@link OutputFolder} manifest; an earlier eval's
 * outputs are replaced only with {@code overwrite}, and nothing else in the folder is ever touched.
 */
public final class EvalReportWriter {
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private EvalReportWriter() {
    }

    /** The names of the entries eval writes into its folder (what it adopts from a folder written before manifests). */
    public static final java.util.List<String> OUTPUT_NAMES = java.util.List.of("results.json", "results.md",
            "answers", "boolq.jsonl", "winrate.jsonl");

    /** The command name eval's output folders are recorded under ({@link OutputFolder}). */
    public static final String COMMAND = "eval";

    /**
     * Opens {@code out} for eval's outputs: locked, and refused when it holds files that tasft did not write, the
     * outputs of another command, or an earlier eval's outputs without {@code overwrite}.
     */
    public static OutputFolder open(Path out, boolean overwrite, java.util.function.Consumer<String> warn) {
        OutputFolder folder = OutputFolder.open(out, "--out", COMMAND, OUTPUT_NAMES::contains, warn);
        java.util.List<String> previous = folder.previousEntries();
        if (!previous.isEmpty() && !overwrite) {
            folder.close();
            throw new IllegalArgumentException("--out " + out + " holds the results of an earlier eval ("
                    + String.join(", ", previous.subList(0, Math.min(4, previous.size())))
                    + (previous.size() > 4 ? ", ..." : "") + "): pass --overwrite to replace them, or choose "
                    + "another folder");
        }
        return folder;
    }

    /** {@link #open}, {@link #write(EvalReport, OutputFolder, Map)} and close, in one call. */
    public static void write(EvalReport report, Path out, boolean overwrite, Map<String, Object> about) {
        try (OutputFolder folder = open(out, overwrite, line -> { })) {
            write(report, folder, about);
        }
    }

    /**
     * Writes the report into {@code folder}, replacing the earlier eval's outputs there (and only those: files that
     * tasft did not write stay).
     *
     * @param about free-form facts for results.json's {@code "run"} object (model folder, options, ...)
     */
    public static void write(EvalReport report, OutputFolder folder, Map<String, Object> about) {
        Map<SetResult, String> files = answerFiles(report);
        folder.publish(dir -> {
            Files.createDirectories(dir.resolve("answers"));
            for (Map.Entry<SetResult, String> e : files.entrySet()) {
                writeAnswers(dir.resolve(e.getValue()), e.getKey());
            }
            if (report.boolq() != null) {
                writeBoolq(dir.resolve("boolq.jsonl"), report.boolq());
            }
            if (report.winRate() != null) {
                writeWinRate(dir.resolve("winrate.jsonl"), report.winRate());
            }
            Files.writeString(dir.resolve("results.json"), JSON.writeValueAsString(json(report, files, about)) + "\n",
                    StandardCharsets.UTF_8);
            Files.writeString(dir.resolve("results.md"), markdown(report, files, about), StandardCharsets.UTF_8);
        });
    }

    /** answers/<name>.jsonl per set, safe sets as <name>.safe.jsonl, names made unique. */
    static Map<SetResult, String> answerFiles(EvalReport report) {
        Map<SetResult, String> files = new LinkedHashMap<>();
        Set<String> used = new HashSet<>();
        java.util.List<SetResult> all = new java.util.ArrayList<>(report.harmful());
        if (report.safe() != null) {
            all.add(report.safe());
        }
        for (SetResult s : all) {
            String base = s.name().replaceAll("[^A-Za-z0-9._-]+", "_")
                    + (s.role() == EvalReport.Role.SAFE ? ".safe" : "");
            String name = base;
            for (int k = 2; !used.add(name.toLowerCase(Locale.ROOT)); k++) {
                name = base + "-" + k;
            }
            files.put(s, "answers/" + name + ".jsonl");
        }
        return files;
    }

    private static void writeAnswers(Path file, SetResult set) throws IOException {
        writeJsonl(file, set.answers(), (a, o) -> {
            o.put("prompt", a.prompt().instruction());
            if (!a.prompt().input().isEmpty()) {
                o.put("input", a.prompt().input());
            }
            if (!a.prompt().label().isEmpty()) {
                o.put("label", a.prompt().label());
            }
            o.put("line", a.prompt().line());
            o.put("answer", a.answer());
            o.put("stop", a.stop().label());
            o.put("verdict", a.verdict().label());
            o.put("harmful", a.verdict().harmful());
            o.put("refused", a.verdict().refused());
            o.put("degenerate", a.verdict().degenerate());
            if (!Double.isNaN(a.verdict().score())) {
                o.put("score", a.verdict().score());
            }
        });
    }

    private static void writeBoolq(Path file, EvalReport.BoolqResult r) throws IOException {
        writeJsonl(file, r.predictions(), (p, o) -> {
            o.put("line", p.item().line());
            o.put("question", p.item().question());
            o.put("answer", p.item().answer());
            o.put("predicted", p.predicted());
            o.put("loglik_true", p.logLikelihoodTrue());
            o.put("loglik_false", p.logLikelihoodFalse());
        });
    }

    private static void writeWinRate(Path file, EvalReport.WinRateResult r) throws IOException {
        writeJsonl(file, r.comparisons(), (c, o) -> {
            o.put("prompt", c.reference().prompt().instruction());
            o.put("answer", c.answer());
            o.put("stop", c.stop().label());
            o.put("reference", c.reference().answer());
            o.put("answer_score", c.answerScore());
            o.put("reference_score", c.referenceScore());
            o.put("result", c.win() ? "win" : c.tie() ? "tie" : "loss");
        });
    }

    /** One JSON object a line, UTF-8: {@code fill} puts each item's fields into its object. */
    private static <T> void writeJsonl(Path file, List<T> items, BiConsumer<T, ObjectNode> fill) throws IOException {
        try (BufferedWriter w = Files.newBufferedWriter(file, StandardCharsets.UTF_8)) {
            for (T item : items) {
                ObjectNode o = JSON.createObjectNode();
                fill.accept(item, o);
                w.write(o.toString());
                w.write('\n');
            }
        }
    }

    static ObjectNode json(EvalReport report, Map<SetResult, String> files, Map<String, Object> about) {
        ObjectNode root = JSON.createObjectNode();
        root.set("run", JSON.valueToTree(about == null ? Map.of() : about));
        root.put("judge", report.judge());
        ArrayNode sets = root.putArray("sets");
        for (SetResult s : report.harmful()) {
            sets.add(setJson(s, files.get(s)));
        }
        if (report.safe() != null) {
            root.set("safe", setJson(report.safe(), files.get(report.safe())));
        }
        if (report.boolq() != null) {
            ObjectNode b = root.putObject("boolq");
            b.put("name", report.boolq().name());
            b.put("items", report.boolq().items());
            b.put("correct", report.boolq().correct());
            putRate(b, "accuracy", report.boolq().accuracy());
            b.put("predictions_file", "boolq.jsonl");
        }
        if (report.winRate() != null) {
            EvalReport.WinRateResult w = report.winRate();
            ObjectNode o = root.putObject("win_rate");
            o.put("name", w.name());
            o.put("reward_model", w.rewardModel());
            o.put("pairs", w.pairs());
            o.put("wins", w.wins());
            o.put("ties", w.ties());
            putRate(o, "win_rate", w.winRate());
            o.put("context_limited_answers", w.contextLimited());
            o.put("comparisons_file", "winrate.jsonl");
        }
        return root;
    }

    private static ObjectNode setJson(SetResult s, String file) {
        ObjectNode o = JSON.createObjectNode();
        o.put("name", s.name());
        o.put("file", s.file() == null ? null : s.file().toString());
        o.put("role", s.role().name().toLowerCase(Locale.ROOT));
        o.put("prompts", s.prompts());
        o.put("harmful", s.harmful());
        putRate(o, "harmful_rate", s.harmfulRate());
        o.put("refused", s.refused());
        putRate(o, "refusal_rate", s.refusalRate());
        o.put("empty", s.empty());
        putRate(o, "empty_rate", s.emptyRate());
        o.put("degenerate", s.degenerate());
        putRate(o, "degenerate_rate", s.degenerateRate());
        o.put("skipped", s.skipped());
        o.put("truncated_prompts", s.truncatedPrompts());
        o.put("context_limited_answers", s.contextLimited());
        o.put("answers_file", file);
        return o;
    }

    private static void putRate(ObjectNode o, String key, double value) {
        if (Double.isNaN(value)) {
            o.putNull(key);
        } else {
            o.put(key, value);
        }
    }

    static String markdown(EvalReport report, Map<SetResult, String> files, Map<String, Object> about) {
        StringBuilder b = new StringBuilder("# Evaluation\n\n");
        if (about != null && about.get("model") != null) {
            b.append("Model: `").append(about.get("model")).append("`  \n");
        }
        b.append("Judge: ").append(report.judge()).append("\n\n");
        b.append("| set | role | prompts | harmful | harmful rate | refused | refusal rate | empty | degenerate "
                + "| answers |\n");
        b.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---|\n");
        for (SetResult s : report.harmful()) {
            row(b, s, files.get(s), true);
        }
        if (report.safe() != null) {
            row(b, report.safe(), files.get(report.safe()), false);
        }
        b.append('\n');
        int empty = report.harmful().stream().mapToInt(SetResult::empty).sum()
                + (report.safe() == null ? 0 : report.safe().empty());
        int degenerate = report.harmful().stream().mapToInt(SetResult::degenerate).sum()
                + (report.safe() == null ? 0 : report.safe().degenerate());
        if (empty > 0 || degenerate > 0) {
            // an empty or degenerate answer is not a safe one: a model that says nothing, or loops, is broken
            b.append(String.format(Locale.ROOT, "Warning: %d answers are empty and %d degenerate (not language; "
                    + "the empty ones among them); they count as neither harmful nor refused (read the answers "
                    + "files before calling the model safe).%n%n", empty, degenerate));
        }
        if (report.safe() != null) {
            b.append(String.format(Locale.ROOT, "Over-refusal: %s of safe prompts refused (%d / %d).%n%n",
                    percent(report.safe().refusalRate()), report.safe().refused(), report.safe().prompts()));
        }
        if (report.boolq() != null) {
            b.append(String.format(Locale.ROOT, "BoolQ (%s): accuracy %s (%d / %d).%n%n", report.boolq().name(),
                    percent(report.boolq().accuracy()), report.boolq().correct(), report.boolq().items()));
        }
        if (report.winRate() != null) {
            EvalReport.WinRateResult w = report.winRate();
            b.append(String.format(Locale.ROOT, "Win rate against %s: %s (%d wins, %d ties, %d losses of %d; "
                    + "reward model `%s`).%n%n", w.name(), percent(w.winRate()), w.wins(), w.ties(),
                    w.pairs() - w.wins() - w.ties(), w.pairs(), w.rewardModel()));
        }
        return b.toString();
    }

    /** The results table and the summary lines (what {@code tasft eval} prints). */
    public static String markdownTable(EvalReport report) {
        String md = markdown(report, answerFiles(report), null);
        return md.substring(md.indexOf("| set"));
    }

    private static void row(StringBuilder b, SetResult s, String file, boolean harmfulRole) {
        b.append("| ").append(s.name().replace("|", "\\|")).append(" | ")
                .append(harmfulRole ? "harmful" : "safe").append(" | ").append(s.prompts()).append(" | ")
                .append(harmfulRole ? Integer.toString(s.harmful()) : "–").append(" | ")
                .append(harmfulRole ? percent(s.harmfulRate()) : "–").append(" | ")
                .append(s.refused()).append(" | ").append(percent(s.refusalRate())).append(" | ")
                .append(s.empty()).append(" | ").append(s.degenerate()).append(" | ").append(file).append(" |\n");
    }

    private static String percent(double rate) {
        return Double.isNaN(rate) ? "–" : String.format(Locale.ROOT, "%.1f%%", 100 * rate);
    }
}
