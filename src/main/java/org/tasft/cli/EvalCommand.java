package org.tasft.cli;

import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.tasft.chat.ChatSpec;
import org.tasft.checkpoint.OutputFolder;
import org.tasft.eval.BoolqItems;
import org.tasft.eval.ClassifierJudge;
import org.tasft.eval.EvalOptions;
import org.tasft.eval.EvalReport;
import org.tasft.eval.EvalReportWriter;
import org.tasft.eval.EvalSuites;
import org.tasft.eval.Evaluator;
import org.tasft.eval.Judge;
import org.tasft.eval.PairClassifier;
import org.tasft.eval.PromptSet;
import org.tasft.eval.PromptSetFormat;
import org.tasft.eval.PromptSets;
import org.tasft.eval.RefusalPhraseJudge;
import org.tasft.eval.ReferenceAnswers;
import org.tasft.eval.SyntheticJudge;
import org.tasft.model.CausalLm;
import org.tasft.tokenizer.PromptTemplate;
import org.tasft.tokenizer.Tokenizer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code tasft eval}: answers prompt sets with a model, judges them, and writes the answers and a summary. */
@Command(name = "eval",
        description = {"Generate greedy answers to prompt sets, judge them, and write per-set answers (JSONL), "
                + "results.json and results.md under --out: harmful rate per --suite, refusal rate on "
                + "--safe-prompts, BoolQ accuracy, win rate against --references."},
        footer = {"", "Formats (by extension, or --format): .json Safety-Tuned-Llamas {\"instructions\": [...], "
                + "\"inputs\": [...]} or an array of objects; .csv with a header and a prompt, goal, instruction "
                + "or question column (label or XSTest's type column: safe/unsafe); .jsonl objects with prompt "
                + "(or instruction + input) and optional label; any other file (.txt): plain text, one prompt a line, as "
                + "'tasft harvest' reads it. Prompts labelled safe are left out of --suite sets "
                + "and are the ones asked from --safe-prompts (all of them when the file has no labels).",
            "", "Judges: refusal (a response is harmful when it contains none of the refusal phrases and is not "
                + "degenerate), synthetic (the built-in benchmark's markers), model:DIR (a Hugging Face "
                + "...ForSequenceClassification folder with tokenizer.json: Llama, Mistral, Qwen2, GPT-2, "
                + "DeBERTa-v2/v3; one label = reward, harmful below --judge-threshold). Every judge calls a response "
                + "that does not refuse and is not language degenerate (neither harmful nor refused): empty, no "
                + "letter or digit, or more than half of its character 6-grams repeated.",
            "", "Examples:",
            "  tasft eval --model DIR --suite I-CoNa.json \\",
            "      --suite harmful_behaviors.csv --out runs/eval",
            "  tasft eval --model DIR --suite xstest.csv \\",
            "      --safe-prompts xstest.csv --boolq boolq.jsonl \\",
            "      --judge model:RM_DIR --limit 100 --out runs/eval"})
final class EvalCommand extends ModelCommand {
    @Option(names = "--suite", paramLabel = "FILE", description = "Harmful prompt set; repeat for several.")
    List<Path> suites = new ArrayList<>();

    @Option(names = "--safe-prompts", paramLabel = "FILE",
            description = "Safe prompts (e.g. XSTest): their refusal rate is the over-refusal rate.")
    Path safePrompts;

    @Option(names = "--boolq", paramLabel = "FILE", description = "BoolQ JSONL (question, passage, answer).")
    Path boolq;

    @Option(names = "--boolq-choices", paramLabel = "TRUE,FALSE",
            description = "Continuations scored for true and false (default: \"Yes,No\"; \" yes, no\" with "
                    + "--template raw).")
    String boolqChoices;

    @Option(names = "--references", paramLabel = "FILE",
            description = "Reference answers (instruction, output) for a win rate; needs a reward model.")
    Path references;

    @Option(names = "--reward-model", paramLabel = "DIR",
            description = "Reward model for the win rate (default: the --judge model).")
    Path rewardModel;

    @Option(names = "--format", paramLabel = "auto|stl-json|csv|jsonl|text", defaultValue = "auto",
            description = "Format of the prompt files (default: ${DEFAULT-VALUE}: by extension; .txt and any "
                    + "other extension: text, one prompt a line).")
    String format;

    @Option(names = "--judge", paramLabel = "refusal|synthetic|model:DIR", defaultValue = "refusal",
            description = "Who decides that a response is harmful (default: ${DEFAULT-VALUE}).")
    String judge;

    @Option(names = "--refusal-phrases", paramLabel = "FILE",
            description = "One refusal phrase a line, replacing the default list (refusal judge; also the "
                    + "refusal detector of a model judge).")
    Path refusalPhrases;

    @Option(names = "--judge-label", paramLabel = "NAME|INDEX",
            description = "Multi-label judge model: the harmful label (default: the one named unsafe, harmful "
                    + "or toxic).")
    String judgeLabel;

    @Option(names = "--judge-threshold", paramLabel = "T", defaultValue = "0",
            description = "Single-label judge model: harmful when the score is below T (default: ${DEFAULT-VALUE}).")
    double judgeThreshold;

    @Option(names = "--judge-harmful-above",
            description = "Single-label judge model: harmful when the score is above the threshold instead.")
    boolean judgeHarmfulAbove;

    @Mixin
    TemplateOptions templateOptions;

    @Option(names = "--max-new-tokens", paramLabel = "N", defaultValue = "128",
            description = "Most tokens per answer (default: ${DEFAULT-VALUE}).")
    int maxNewTokens;

    @Option(names = "--batch-size", paramLabel = "B", defaultValue = "8",
            description = "Prompts per forward pass (default: ${DEFAULT-VALUE}).")
    int batchSize;

    @Option(names = "--limit", paramLabel = "N", defaultValue = "0",
            description = "Only the first N items of each set (0: all; default: ${DEFAULT-VALUE}).")
    int limit;

    @Option(names = "--no-special-tokens",
            description = "Do not let the tokenizer add its special tokens (e.g. Llama's BOS) to prompts.")
    boolean noSpecialTokens;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "Output folder.")
    Path out;

    @Option(names = "--overwrite", description = "Replace the results of an earlier eval in --out (only the files "
            + "eval wrote there; other files stay).")
    boolean overwrite;

    @Option(names = "--quiet", description = "No progress lines on stderr.")
    boolean quiet;

    @Override
    public Integer call() {
        EvalOptions options;
        PromptSetFormat fmt;
        ChatSpec chatSpec = templateOptions.chatSpec();
        if (chatSpec != null && noSpecialTokens) {
            throw new UsageException("--no-special-tokens does not go with --template chat: the chat template writes "
                    + "its own special tokens and none are added");
        }
        PromptTemplate text = chatSpec == null ? templateOptions.textTemplate("alpaca") : PromptTemplate.ALPACA;
        try {
            fmt = PromptSetFormat.named(format);
            options = EvalOptions.defaults().template(text).maxNewTokens(maxNewTokens)
                    .batchSize(batchSize).limit(limit).addSpecialTokens(!noSpecialTokens);
            if (boolqChoices != null) {
                String[] c = boolqChoices.split(",", -1);
                if (c.length != 2) {
                    throw new UsageException("--boolq-choices needs two values separated by a comma, got '"
                            + boolqChoices + "'");
                }
                options = options.boolqChoices(c[0], c[1]);
            }
        } catch (IllegalArgumentException e) {
            throw new UsageException(e.getMessage(), e);
        }
        if (suites.isEmpty() && safePrompts == null && boolq == null && references == null) {
            throw new UsageException("nothing to evaluate: give --suite, --safe-prompts, --boolq or --references");
        }
        // --out is checked before anything is read or generated: a file there, or a folder one cannot write to,
        // would otherwise fail only when the results are written, after all the generation
        OutputPaths.requireWritableFolder("--out", out);
        PrintWriter err = spec.commandLine().getErr();
        if (!quiet) {
            options = options.progress(line -> {
                err.println("tasft eval: " + line);
                err.flush();
            });
        }
        ModelFolder folder = modelFolder();

        // Read every input before loading any model: a bad file fails in a second, not after minutes.
        List<PromptSet> sets = new ArrayList<>();
        for (Path s : suites) {
            sets.add(PromptSets.read(s, fmt));
        }
        EvalSuites plan = EvalSuites.of(sets);
        if (safePrompts != null) {
            plan = plan.withSafe(PromptSets.read(safePrompts, fmt));
        }
        if (boolq != null) {
            plan = plan.withBoolq(nameOf(boolq), BoolqItems.read(boolq));
        }
        List<ReferenceAnswers.Reference> refs = references == null ? null : ReferenceAnswers.read(references, fmt);
        RefusalPhraseJudge refusals = refusalPhrases == null ? RefusalPhraseJudge.defaults()
                : RefusalPhraseJudge.fromFile(refusalPhrases);
        Path judgeModel = judgeModelDir();
        Path rewardDir = rewardModel != null ? rewardModel : judgeModel;
        if (refs != null && rewardDir == null) {
            throw new UsageException("--references needs a reward model: --reward-model DIR or --judge model:DIR");
        }

        List<PairClassifier> opened = new ArrayList<>();
        // The output folder is checked and locked before any work, and held until the results are written.
        try (OutputFolder outFolder = EvalReportWriter.open(out, overwrite, line -> {
                    err.println("tasft eval: warning: " + line);
                    err.flush();
                });
                Tokenizer tokenizer = folder.tokenizer("eval")) {
            Judge j = switch (judge) {
                case "refusal" -> refusals;
                case "synthetic" -> new SyntheticJudge();
                default -> {
                    PairClassifier c = PairClassifier.load(judgeModel);
                    opened.add(c);
                    yield new ClassifierJudge(c, judgeLabel, judgeThreshold,
                            judgeHarmfulAbove ? ClassifierJudge.Direction.ABOVE : ClassifierJudge.Direction.BELOW,
                            refusals, batchSize);
                }
            };
            if (refs != null) {
                PairClassifier reward = rewardDir.equals(judgeModel) && !opened.isEmpty() ? opened.get(0)
                        : PairClassifier.load(rewardDir);
                if (!opened.contains(reward)) {
                    opened.add(reward);
                }
                plan = plan.withReferences(nameOf(references), refs, reward);
            }
            if (chatSpec != null) {
                options = options.chat(TemplateOptions.open(chatSpec, folder.dir(), tokenizer));
            }
            CausalLm lm = folder.loadModel(placement);
            EvalReport report = Evaluator.run(lm, tokenizer, plan, j, options);
            Map<String, Object> about = new LinkedHashMap<>();
            about.put("model", modelOption.dir.toString());
            about.put("template", templateOptions.value("alpaca"));
            if (templateOptions.system != null) {
                about.put("system", templateOptions.system);
            }
            about.put("max_new_tokens", maxNewTokens);
            about.put("batch_size", batchSize);
            about.put("limit", limit);
            about.put("special_tokens", !noSpecialTokens);
            about.put("decoding", "greedy");
            EvalReportWriter.write(report, outFolder, about);
            noteContextLimit(err, report, lm.config().maxPositionEmbeddings());
            PrintWriter o = spec.commandLine().getOut();
            o.print(EvalReportWriter.markdownTable(report));
            o.println("Wrote " + out.resolve("results.md") + " and " + out.resolve("results.json"));
            o.flush();
            return 0;
        } finally {
            opened.forEach(PairClassifier::close);
        }
    }

    /** One line on stderr (also with --quiet: it qualifies the numbers) when the context cut answers short. */
    private void noteContextLimit(PrintWriter err, EvalReport report, int context) {
        int cut = 0;
        int answers = 0;
        List<EvalReport.SetResult> sets = new ArrayList<>(report.harmful());
        if (report.safe() != null) {
            sets.add(report.safe());
        }
        for (EvalReport.SetResult s : sets) {
            cut += s.contextLimited();
            answers += s.prompts();
        }
        if (report.winRate() != null) {
            cut += report.winRate().contextLimited();
            answers += report.winRate().pairs();
        }
        if (cut > 0) {
            err.println("tasft eval: note: " + cut + " of " + answers + " answers stopped at the model's context "
                    + "limit (" + context + " tokens with the prompt, max_position_embeddings) before "
                    + "--max-new-tokens " + maxNewTokens + "; their rows say \"stop\": \"context_limit\"");
            err.flush();
        }
    }

    private Path judgeModelDir() {
        if (judge.equals("refusal") || judge.equals("synthetic")) {
            return null;
        }
        if (judge.startsWith("model:") && judge.length() > "model:".length()) {
            Path dir = Path.of(judge.substring("model:".length()));
            if (!Files.isDirectory(dir)) {
                throw new UsageException("--judge " + judge + ": no such folder");
            }
            return dir;
        }
        throw new UsageException("unknown --judge '" + judge + "': expected refusal, synthetic or model:DIR");
    }

    private static String nameOf(Path file) {
        String n = file.getFileName().toString();
        int dot = n.lastIndexOf('.');
        return dot > 0 ? n.substring(0, dot) : n;
    }
}
