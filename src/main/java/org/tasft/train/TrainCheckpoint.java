package org.tasft.train;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.bytedeco.pytorch.Tensor;
import org.tasft.checkpoint.CheckpointException;
import org.tasft.checkpoint.AtomicFolder;
import org.tasft.checkpoint.ModelFolderWriter;
import org.tasft.checkpoint.SafetensorsFile;
import org.tasft.checkpoint.SafetensorsWriter;
import org.tasft.data.MixedBatchSampler;
import org.tasft.model.CausalLm;
import org.tasft.model.Models;

/**
 * A training checkpoint folder {@code <out>/checkpoint-<step>/}:
 * <ul>
 *   <li>the model as a Hugging Face folder ({@link Models#save}: config.json, model.safetensors, tokenizer files), so
 *       {@code Models.load} and transformers read it directly;</li>
 *   <li>{@code optimizer.safetensors}: AdamW's {@code <param>.exp_avg} and {@code <param>.exp_avg_sq} (float32), and
 *       {@code optimizer.json}: each parameter's step count and the hyper-parameters;</li>
 *   <li>{@code trainer_state.json}: optimizer steps done, the sampler position, the seed, the schedule, the metrics so
 *       far.</li>
 * </ul>
 * Atomic ({@link AtomicFolder}): a failure at any point leaves the earlier checkpoints (and an existing folder of the
 * same name) intact.
 */
public final class TrainCheckpoint {
    public static final String STATE_FILE = "trainer_state.json";
    public static final String OPTIMIZER_FILE = "optimizer.safetensors";
    public static final String OPTIMIZER_JSON = "optimizer.json";
    static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    /** Test hook: called with the temporary folder, fully written, just before it is swapped into place. */
    static volatile Consumer<Path> beforeCommit = p -> { };

    /** What {@code trainer_state.json} holds. */
    public record State(long step, long totalSteps, MixedBatchSampler.Position position, long seed,
            LrSchedule schedule, double elapsed, List<StepMetrics> metrics) {
    }

    private TrainCheckpoint() {
    }

    public static Path folder(Path out, long step) {
        return out.resolve("checkpoint-" + step);
    }

    static void save(Path target, CausalLm model, Path tokenizerSource, JavaAdamW optimizer, double weightDecay,
            State state) {
        AtomicFolder.replace(target, dir -> {
            ModelFolderWriter.writeInto(dir, model.stateDict(), model.config().text(), tokenizerSource,
                    ModelFolderWriter.Options.defaults());
            SafetensorsWriter.write(dir.resolve(OPTIMIZER_FILE), optimizer.stateTensors());
            ObjectNode opt = JSON.createObjectNode();
            opt.put("type", "adamw");
            opt.put("beta1", JavaAdamW.BETA1);
            opt.put("beta2", JavaAdamW.BETA2);
            opt.put("eps", JavaAdamW.EPS);
            opt.put("weight_decay", weightDecay);
            ObjectNode steps = opt.putObject("steps");
            optimizer.stateSteps().forEach(steps::put);
            JSON.writeValue(dir.resolve(OPTIMIZER_JSON).toFile(), opt);
            JSON.writeValue(dir.resolve(STATE_FILE).toFile(), stateJson(state));
            beforeCommit.accept(dir);
        });
    }

    private static ObjectNode stateJson(State s) {
        ObjectNode n = JSON.createObjectNode();
        n.put("step", s.step());
        n.put("total_steps", s.totalSteps());
        ObjectNode pos = n.putObject("sampler_position");
        pos.put("epoch", s.position().epoch());
        pos.put("step", s.position().step());
        n.put("seed", s.seed());
        n.put("rng", "torch.manual_seed(seed + step) before each optimizer step; sampler state = sampler_position");
        ObjectNode sch = n.putObject("schedule");
        sch.put("kind", s.schedule().kind().name().toLowerCase());
        sch.put("peak_lr", s.schedule().peak());
        sch.put("warmup_steps", s.schedule().warmup());
        sch.put("total_steps", s.schedule().total());
        n.put("elapsed", s.elapsed());
        ArrayNode m = n.putArray("metrics");
        for (StepMetrics x : s.metrics()) {
            m.add(metricsJson(x));
        }
        return n;
    }

    static ObjectNode metricsJson(StepMetrics x) {
        ObjectNode o = JSON.createObjectNode();
        o.put("step", x.step());
        o.put("lr", x.lr());
        o.put("loss", x.loss());
        o.put("sft", x.sft());
        o.put("term", x.term());
        o.put("grad_norm", x.gradNorm());
        o.put("tokens", x.tokens());
        o.put("tokens_per_s", x.tokensPerS());
        o.put("elapsed", x.elapsed());
        return o;
    }

    static StepMetrics metrics(JsonNode o) {
        return new StepMetrics(o.get("step").asLong(), o.get("lr").asDouble(), o.get("loss").asDouble(),
                o.get("sft").asDouble(), o.get("term").asDouble(), o.get("grad_norm").asDouble(),
                o.get("tokens").asLong(), o.get("tokens_per_s").asDouble(), o.get("elapsed").asDouble());
    }

    /** Reads {@code trainer_state.json} of a checkpoint folder. */
    public static State readState(Path dir) {
        Path file = dir.resolve(STATE_FILE);
        if (!Files.isRegularFile(file)) {
            throw new IllegalArgumentException("--resume " + dir + ": not a training checkpoint (no " + STATE_FILE
                    + ")");
        }
        try {
            JsonNode n = JSON.readTree(file.toFile());
            JsonNode pos = n.get("sampler_position");
            JsonNode sch = n.get("schedule");
            List<StepMetrics> metrics = new ArrayList<>();
            for (JsonNode m : n.get("metrics")) {
                metrics.add(metrics(m));
            }
            return new State(n.get("step").asLong(), n.get("total_steps").asLong(),
                    new MixedBatchSampler.Position(pos.get("epoch").asLong(), pos.get("step").asLong()),
                    n.get("seed").asLong(),
                    new LrSchedule(LrSchedule.Kind.parse(sch.get("kind").asText()), sch.get("peak_lr").asDouble(),
                            sch.get("warmup_steps").asLong(), sch.get("total_steps").asLong()),
                    n.get("elapsed").asDouble(), metrics);
        } catch (IOException | RuntimeException e) {
            throw new CheckpointException("cannot read " + file + ": " + e.getMessage(), e);
        }
    }

    /** Restores AdamW's state from a checkpoint folder. */
    static void loadOptimizer(Path dir, JavaAdamW optimizer) {
        try {
            JsonNode steps = JSON.readTree(dir.resolve(OPTIMIZER_JSON).toFile()).get("steps");
            Map<String, Long> s = new LinkedHashMap<>();
            steps.fields().forEachRemaining(e -> s.put(e.getKey(), e.getValue().asLong()));
            try (SafetensorsFile f = SafetensorsFile.open(dir.resolve(OPTIMIZER_FILE))) {
                Map<String, Tensor> t = new LinkedHashMap<>();
                for (String name : f.names()) {
                    t.put(name, f.load(name));
                }
                optimizer.loadState(t, s);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the optimizer state of " + dir, e);
        }
    }
}
