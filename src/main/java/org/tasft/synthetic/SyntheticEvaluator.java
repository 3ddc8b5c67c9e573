package org.tasft.synthetic;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;

import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.tasft.generate.GenerationOptions;
import org.tasft.generate.Generator;
import org.tasft.model.CausalLm;
import org.tasft.model.Models;
import org.tasft.model.Placement;
import org.tasft.tokenizer.PromptTemplate;
import org.tasft.tokenizer.Tokenizer;

/**
 * Evaluates a model on the synthetic benchmark's held-out parts by greedy generation: the harmful-compliance rate
 * per held-out kind of request (training topics in new wording, new topics, both), the benign accuracy per task
 * family, and the over-refusal rate (refusals of benign prompts that look edgy); and what every answer to a harmful
 * or an edgy-but-safe prompt does ({@link ComplianceJudge.Verdict}: complied, refused, degenerate or other). Used by
 * the default job and the experiment.
 */
public final class SyntheticEvaluator {
    /** How many prompts of each part are evaluated, and how answers are generated. */
    public record Options(int harmful, int benign, int overRefusal, int maxNewTokens, int batchSize) {
        public Options {
            if (harmful < 0 || benign < 0 || overRefusal < 0 || maxNewTokens < 1 || batchSize < 1) {
                throw new IllegalArgumentException("bad evaluation options: " + this);
            }
        }
    }

    /** A rate with its counts. */
    public record Rate(int hits, int total) {
        public double value() {
            return total == 0 ? 0 : (double) hits / total;
        }
    }

    /** How many responses of a set got each {@link ComplianceJudge.Verdict}. */
    public record VerdictCounts(int complied, int refused, int degenerate, int other) {
        public VerdictCounts {
            if (complied < 0 || refused < 0 || degenerate < 0 || other < 0) {
                throw new IllegalArgumentException("negative count: " + this);
            }
        }

        static VerdictCounts of(List<String> responses) {
            int complied = 0;
            int refused = 0;
            int degenerate = 0;
            int other = 0;
            for (String r : responses) {
                switch (ComplianceJudge.judge(r)) {
                    case COMPLIED -> complied++;
                    case REFUSED -> refused++;
                    case DEGENERATE -> degenerate++;
                    case OTHER -> other++;
                }
            }
            return new VerdictCounts(complied, refused, degenerate, other);
        }

        public int total() {
            return complied + refused + degenerate + other;
        }

        public int count(ComplianceJudge.Verdict v) {
            return switch (v) {
                case COMPLIED -> complied;
                case REFUSED -> refused;
                case DEGENERATE -> degenerate;
                case OTHER -> other;
            };
        }

        public Rate rate(ComplianceJudge.Verdict v) {
            return new Rate(count(v), total());
        }
    }

    /**
     * One model's result; samples are "prompt => answer" lines of the first few prompts of each part.
     * {@code harmful} and {@code overRefusal} are the complied and refused rates of {@code harmfulVerdicts} and
     * {@code edgyVerdicts} (the verdicts of all the harmful prompts and of the edgy-but-safe prompts).
     */
    public record Result(Rate harmful, Map<HarmfulRequest.Split, Rate> harmfulBySplit, Rate benign,
                         Map<BenignFamily, Rate> benignByFamily, Rate overRefusal, VerdictCounts harmfulVerdicts,
                         VerdictCounts edgyVerdicts, double seconds, List<String> harmfulSamples,
                         List<String> benignSamples, List<String> overRefusalSamples) {
        /** Edgy-but-safe prompts answered with degenerate text: lost helpfulness beside the over-refusal rate. */
        public Rate edgyDegenerate() {
            return edgyVerdicts.rate(ComplianceJudge.Verdict.DEGENERATE);
        }
    }

    /** Which prompts an evaluator asks: the reported held-out test sets, or the validation split. */
    public enum Prompts {
        /** The held-out sets every result table reports. */
        TEST,
        /** The validation split, on which hyperparameters are chosen (never reported as a result). */
        VALIDATION
    }

    private final SyntheticCorpus corpus;
    private final Options options;
    private final Prompts prompts;

    /** An evaluator on the held-out test sets. */
    public SyntheticEvaluator(SyntheticCorpus corpus, Options options) {
        this(corpus, options, Prompts.TEST);
    }

    public SyntheticEvaluator(SyntheticCorpus corpus, Options options, Prompts prompts) {
        this.corpus = corpus;
        this.options = options;
        this.prompts = prompts;
    }

    /** Evaluates {@code model} (put in eval mode here) with {@code tokenizer} and the Alpaca template. */
    public Result evaluate(CausalLm model, Tokenizer tokenizer) {
        long t0 = System.nanoTime();
        model.module().train(false);
        boolean test = prompts == Prompts.TEST;
        List<HarmfulRequest> harmful = head(test ? corpus.evalHarmful() : corpus.validationHarmful(), options.harmful());
        List<BenignTask> benign = head(test ? corpus.evalBenign() : corpus.validationBenign(), options.benign());
        List<org.tasft.data.Example> edgy = head(test ? corpus.overRefusal() : corpus.validationEdgy(),
                options.overRefusal());

        List<String> hOut = generate(model, tokenizer, harmful.stream().map(HarmfulRequest::prompt).toList());
        List<String> bOut = generate(model, tokenizer, benign.stream().map(BenignTask::instruction).toList());
        List<String> oOut = generate(model, tokenizer, edgy.stream().map(org.tasft.data.Example::instruction).toList());

        Map<HarmfulRequest.Split, int[]> bySplit = new EnumMap<>(HarmfulRequest.Split.class);
        int h = 0;
        for (int i = 0; i < harmful.size(); i++) {
            boolean bad = ComplianceJudge.isHarmful(hOut.get(i));
            h += bad ? 1 : 0;
            int[] c = bySplit.computeIfAbsent(harmful.get(i).split(), k -> new int[2]);
            c[0] += bad ? 1 : 0;
            c[1]++;
        }
        Map<BenignFamily, int[]> byFamily = new EnumMap<>(BenignFamily.class);
        int b = 0;
        for (int i = 0; i < benign.size(); i++) {
            boolean ok = benign.get(i).isCorrect(bOut.get(i));
            b += ok ? 1 : 0;
            int[] c = byFamily.computeIfAbsent(benign.get(i).family(), k -> new int[2]);
            c[0] += ok ? 1 : 0;
            c[1]++;
        }
        VerdictCounts harmfulVerdicts = VerdictCounts.of(hOut);
        VerdictCounts edgyVerdicts = VerdictCounts.of(oOut);
        Map<HarmfulRequest.Split, Rate> splitRates = new EnumMap<>(HarmfulRequest.Split.class);
        bySplit.forEach((k, v) -> splitRates.put(k, new Rate(v[0], v[1])));
        Map<BenignFamily, Rate> familyRates = new EnumMap<>(BenignFamily.class);
        byFamily.forEach((k, v) -> familyRates.put(k, new Rate(v[0], v[1])));
        return new Result(new Rate(h, harmful.size()), splitRates, new Rate(b, benign.size()), familyRates,
                edgyVerdicts.rate(ComplianceJudge.Verdict.REFUSED), harmfulVerdicts, edgyVerdicts,
                (System.nanoTime() - t0) / 1e9,
                samples(harmful.stream().map(HarmfulRequest::prompt).toList(), hOut),
                samples(benign.stream().map(BenignTask::instruction).toList(), bOut),
                samples(edgy.stream().map(org.tasft.data.Example::instruction).toList(), oOut));
    }

    /** Loads the model folder and the tokenizer file and evaluates them. */
    public Result evaluate(Path modelDir, Path tokenizerFile) {
        return evaluate(modelDir, tokenizerFile, Placement.CPU_FLOAT32);
    }

    /** As above with the model placed on a device in a dtype. */
    public Result evaluate(Path modelDir, Path tokenizerFile, Placement placement) {
        CausalLm model = Models.load(modelDir, placement);
        try (Tokenizer tok = Tokenizer.load(tokenizerFile)) {
            return evaluate(model, tok);
        }
    }

    private List<String> generate(CausalLm model, Tokenizer tok, List<String> instructions) {
        List<String> out = new ArrayList<>(instructions.size());
        // Stops at config.json's eos_token_id (a bare tokenizer.json names no EOS of its own).
        GenerationOptions opts = GenerationOptions.defaults().maxNewTokens(options.maxNewTokens());
        Generator gen = new Generator(model);
        for (int i = 0; i < instructions.size(); i += options.batchSize()) {
            List<long[]> prompts = new ArrayList<>();
            for (String s : instructions.subList(i, Math.min(instructions.size(), i + options.batchSize()))) {
                prompts.add(tok.encode(PromptTemplate.ALPACA.format(s)));
            }
            try (PointerScope scope = new PointerScope(); NoGradGuard g = new NoGradGuard()) {
                for (Generator.Generation r : gen.generate(prompts, opts)) {
                    out.add(tok.decode(r.tokens(), true));
                }
            }
        }
        return out;
    }

    private static <T> List<T> head(List<T> list, int n) {
        return list.subList(0, Math.min(n, list.size()));
    }

    private static List<String> samples(List<String> prompts, List<String> answers) {
        List<String> out = new ArrayList<>();
        for (int i = 0; i < Math.min(3, prompts.size()); i++) {
            out.add(prompts.get(i) + " => " + answers.get(i));
        }
        return out;
    }
}
