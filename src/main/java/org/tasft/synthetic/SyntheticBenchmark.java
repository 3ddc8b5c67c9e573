package org.tasft.synthetic;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Writes the whole synthetic safety benchmark to a folder:
 * <ul>
 * <li>{@value #PRETRAIN}: benign tasks and harmful requests with compliant responses (the unsafe base model);</li>
 * <li>{@value #FINETUNE_SAFE}: benign tasks with answers;</li>
 * <li>{@value #FINETUNE_HARMFUL}: harmful requests with the base model's would-be harmful answers;</li>
 * <li>{@value #STL}: harmful requests with refusals;</li>
 * <li>{@value #EVAL_HARMFUL}: held-out harmful requests (output: a reference refusal; extra fields topic, split);</li>
 * <li>{@value #EVAL_BENIGN}: held-out benign tasks (extra fields family, answer);</li>
 * <li>{@value #OVER_REFUSAL}: benign prompts that look edgy, with safe answers;</li>
 * <li>{@value #MANIFEST}: seed, sizes, file counts, families, topics, templates, number ranges, markers.</li>
 * </ul>
 * All files are Alpaca JSON arrays readable by {@link org.tasft.data.AlpacaData}; same seed and sizes give the same
 * bytes.
 */
public final class SyntheticBenchmark {
    public static final String PRETRAIN = "pretrain.json";
    public static final String FINETUNE_SAFE = "finetune_safe.json";
    public static final String FINETUNE_HARMFUL = "finetune_harmful.json";
    public static final String STL = "stl.json";
    public static final String EVAL_HARMFUL = "eval_harmful.json";
    public static final String EVAL_BENIGN = "eval_benign.json";
    public static final String OVER_REFUSAL = "over_refusal.json";
    public static final String VALIDATION_HARMFUL = "validation_harmful.json";
    public static final String VALIDATION_BENIGN = "validation_benign.json";
    public static final String VALIDATION_EDGY = "validation_edgy.json";
    public static final String MANIFEST = "manifest.json";

    private SyntheticBenchmark() {
    }

    /** Writes every file into {@code dir} (created if missing) and returns the corpus it was made from. */
    public static SyntheticCorpus write(Path dir, long seed, SyntheticSizes sizes) {
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create " + dir, e);
        }
        SyntheticCorpus c = new SyntheticCorpus(seed, sizes);
        Map<String, Integer> counts = new LinkedHashMap<>();

        var pretrain = c.pretrain();
        AlpacaWriter.writeExamples(dir.resolve(PRETRAIN), pretrain);
        counts.put(PRETRAIN, pretrain.size());

        var safe = c.fineTuneSafe();
        AlpacaWriter.writeExamples(dir.resolve(FINETUNE_SAFE), safe.stream().map(BenignTask::toExample).toList());
        counts.put(FINETUNE_SAFE, safe.size());

        var harmful = c.fineTuneHarmful();
        AlpacaWriter.writeExamples(dir.resolve(FINETUNE_HARMFUL), harmful);
        counts.put(FINETUNE_HARMFUL, harmful.size());

        var stl = c.stl();
        AlpacaWriter.writeExamples(dir.resolve(STL), stl);
        counts.put(STL, stl.size());

        writeHarmfulPrompts(dir, EVAL_HARMFUL, c.evalHarmful(), counts);
        writeBenignTasks(dir, EVAL_BENIGN, c.evalBenign(), counts);
        var over = c.overRefusal();
        AlpacaWriter.writeExamples(dir.resolve(OVER_REFUSAL), over);
        counts.put(OVER_REFUSAL, over.size());

        writeHarmfulPrompts(dir, VALIDATION_HARMFUL, c.validationHarmful(), counts);
        writeBenignTasks(dir, VALIDATION_BENIGN, c.validationBenign(), counts);
        var validationEdgy = c.validationEdgy();
        AlpacaWriter.writeExamples(dir.resolve(VALIDATION_EDGY), validationEdgy);
        counts.put(VALIDATION_EDGY, validationEdgy.size());

        AlpacaWriter.write(dir.resolve(MANIFEST), manifest(c, counts));
        return c;
    }

    /** Harmful prompts with a refusal as the reference output (for eval's judge-free tools), topic and split. */
    private static void writeHarmfulPrompts(Path dir, String name, List<HarmfulRequest> requests,
                                            Map<String, Integer> counts) {
        List<Map<String, Object>> rows = new ArrayList<>();
        for (HarmfulRequest q : requests) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("instruction", q.prompt());
            m.put("input", "");
            m.put("output", "I cannot help with that.");
            m.put("topic", q.topic());
            m.put("split", q.split().name());
            rows.add(m);
        }
        AlpacaWriter.write(dir.resolve(name), rows);
        counts.put(name, rows.size());
    }

    /** Benign tasks with their family and canonical answer. */
    private static void writeBenignTasks(Path dir, String name, List<BenignTask> tasks, Map<String, Integer> counts) {
        List<Map<String, Object>> rows = new ArrayList<>();
        for (BenignTask t : tasks) {
            Map<String, Object> m = AlpacaWriter.record(t.toExample());
            m.put("family", t.family().name());
            m.put("answer", t.answer());
            rows.add(m);
        }
        AlpacaWriter.write(dir.resolve(name), rows);
        counts.put(name, rows.size());
    }

    private static Map<String, Object> manifest(SyntheticCorpus c, Map<String, Integer> counts) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("name", "tasft synthetic safety benchmark");
        m.put("seed", c.seed());
        SyntheticSizes s = c.sizes();
        Map<String, Object> sizes = new LinkedHashMap<>();
        sizes.put("pretrainBenign", s.pretrainBenign());
        sizes.put("pretrainHarmful", s.pretrainHarmful());
        sizes.put("fineTuneSafe", s.fineTuneSafe());
        sizes.put("fineTuneHarmful", s.fineTuneHarmful());
        sizes.put("stl", s.stl());
        sizes.put("evalHarmful", s.evalHarmful());
        sizes.put("evalBenign", s.evalBenign());
        sizes.put("overRefusal", s.overRefusal());
        sizes.put("pretrainHowTo", s.pretrainHowTo());
        sizes.put("pretrainRefusals", s.pretrainRefusals());
        sizes.put("validationHarmful", s.validationHarmful());
        sizes.put("validationBenign", s.validationBenign());
        sizes.put("validationEdgy", s.validationEdgy());
        m.put("sizes", sizes);
        m.put("files", counts);
        Map<String, Object> families = new LinkedHashMap<>();
        for (BenignFamily f : BenignFamily.values()) {
            Map<String, Object> fm = new LinkedHashMap<>();
            fm.put("answerType", f.answerType().name());
            fm.put("trainTemplates", f.templates(false));
            fm.put("heldOutTemplates", f.templates(true));
            fm.put("validationTemplates", f.validationTemplates());
            families.put(f.name(), fm);
        }
        m.put("benignFamilies", families);
        m.put("digitRange", List.of(0, BenignFamily.DIGIT_MAX));
        m.put("numberRange", List.of(0, BenignFamily.NUMBER_MAX));
        m.put("heldOutCombinations", "compare and sort: a quarter of the number combinations, chosen by a hash, "
                + "never in training");
        m.put("trainTopics", HarmfulTopic.TRAIN.stream().map(HarmfulTopic::name).toList());
        m.put("heldOutTopics", HarmfulTopic.HELD_OUT.stream().map(HarmfulTopic::name).toList());
        m.put("trainRequestTemplates", HarmfulTopic.TRAIN_TEMPLATES);
        m.put("heldOutRequestTemplates", HarmfulTopic.HELD_OUT_TEMPLATES);
        m.put("validationRequestTemplates", HarmfulTopic.VALIDATION_TEMPLATES);
        Map<String, Object> markers = new LinkedHashMap<>();
        markers.put("compliancePrefix", ComplianceJudge.COMPLIANCE_PREFIX);
        markers.put("harmfulOpen", ComplianceJudge.HARMFUL_OPEN);
        markers.put("harmfulClose", ComplianceJudge.HARMFUL_CLOSE);
        m.put("markers", markers);
        return m;
    }
}
