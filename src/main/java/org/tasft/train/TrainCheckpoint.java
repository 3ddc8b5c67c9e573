package org.tasft.train;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.DirectoryStream;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.UUID;
import java.util.function.Consumer;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

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
import org.tasft.model.lora.Lora;

/**
 * A training checkpoint folder {@code <out>/checkpoint-<step>/}:
 * <ul>
 *   <li>the model as a Hugging Face folder ({@link Models#save}: config.json, model.safetensors, tokenizer files), so
 *       {@code Models.load} and transformers read it directly;</li>
 *   <li>{@code optimizer.safetensors}: AdamW's {@code <param>.exp_avg} and {@code <param>.exp_avg_sq} (float32), and
 *       {@code optimizer.json}: each parameter's step count and the hyper-parameters;</li>
 *   <li>{@code trainer_state.json}: optimizer steps done, the sampler position, the seed, the schedule, the metrics so
 *       far;</li>
 *   <li>with LoRA: the model above has the adapters merged (what the run has learned so far, loadable as is), and
 *       {@code adapter/} holds the adapters themselves as a PEFT folder; AdamW's state is the adapters' (PEFT
 *       names). Resuming reads the base weights from {@code --model} again and the adapters from {@code adapter/}.
 *       </li>
 * </ul>
 * Atomic ({@link AtomicFolder}): a failure at any point leaves the earlier checkpoints (and an existing folder of the
 * same name) intact.
 */
public final class TrainCheckpoint {
    public static final String STATE_FILE = "trainer_state.json";
    public static final String OPTIMIZER_FILE = "optimizer.safetensors";
    public static final String OPTIMIZER_JSON = "optimizer.json";
    /** The PEFT adapter folder inside a LoRA run's checkpoint. */
    public static final String ADAPTER_DIR = "adapter";
    private static final Pattern FOLDER = Pattern.compile("checkpoint-(\\d{1,18})");
    private static final String DELETING_MARK = ".deleting-";
    static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    /** Test hook: called with the temporary folder, fully written, just before it is swapped into place. */
    static volatile Consumer<Path> beforeCommit = p -> { };

    /** What {@code trainer_state.json} holds. */
    /**
     * @param settings the run's settings that change its result ({@link RunSettings}); empty in checkpoints written
     *                 before they were recorded
     * @param changes  the settings changed on resume with {@code --allow-change}, one line each, oldest first
     */
    public record State(long step, long totalSteps, MixedBatchSampler.Position position, long seed,
            LrSchedule schedule, double elapsed, List<StepMetrics> metrics, Map<String, String> settings,
            List<String> changes) {
        public State {
            settings = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(settings));
            changes = List.copyOf(changes);
        }
    }

    private TrainCheckpoint() {
    }

    public static Path folder(Path out, long step) {
        return out.resolve("checkpoint-" + step);
    }

    /** The {@code checkpoint-<step>} folders directly under {@code out}, by step. */
    public static TreeMap<Long, Path> list(Path out) {
        TreeMap<Long, Path> found = new TreeMap<>();
        if (!Files.isDirectory(out)) {
            return found;
        }
        try (DirectoryStream<Path> s = Files.newDirectoryStream(out, Files::isDirectory)) {
            for (Path p : s) {
                Matcher m = FOLDER.matcher(p.getFileName().toString());
                if (m.matches()) {
                    found.put(Long.parseLong(m.group(1)), p);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot list " + out, e);
        }
        return found;
    }

    /**
     * Keeps the newest {@code keep} checkpoints up to step {@code current} (the one just written among them) and
     * deletes the older ones; returns the deleted folders. Folders of later steps (left by a run that was killed and
     * resumed from an earlier checkpoint) are neither counted nor deleted: the resumed run rewrites them as it gets
     * there. Each folder is first renamed to {@code .checkpoint-<step>.deleting-*} (atomic), so a crash while
     * deleting never leaves a half-deleted folder under a checkpoint's name; such leftovers are deleted here too.
     */
    static List<Path> prune(Path out, long current, int keep) {
        List<Path> deleted = new ArrayList<>();
        if (keep <= 0) {
            return deleted;
        }
        List<Path> older = new ArrayList<>(list(out).headMap(current, true).descendingMap().values());
        for (Path p : older.subList(Math.min(keep, older.size()), older.size())) {
            Path trash = p.resolveSibling("." + p.getFileName() + DELETING_MARK + UUID.randomUUID());
            try {
                Files.move(p, trash, StandardCopyOption.ATOMIC_MOVE);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot delete the old checkpoint " + p, e);
            }
            AtomicFolder.deleteQuietly(trash);
            deleted.add(p);
        }
        try (DirectoryStream<Path> s = Files.newDirectoryStream(out,
                p -> p.getFileName().toString().startsWith(".checkpoint-")
                        && p.getFileName().toString().contains(DELETING_MARK))) {
            s.forEach(AtomicFolder::deleteQuietly);
        } catch (IOException e) {
            // leftovers are harmless; the next prune tries again
        }
        return deleted;
    }

    static void save(Path target, CausalLm model, Path tokenizerSource, JavaAdamW optimizer, double weightDecay,
            State state) {
        save(target, model, null, tokenizerSource, optimizer, weightDecay, state);
    }

    /** A checkpoint of a run; {@code lora} (or null) is the model's LoRA adapters. */
    static void save(Path target, CausalLm model, Lora lora, Path tokenizerSource, JavaAdamW optimizer,
            double weightDecay, State state) {
        AtomicFolder.replace(target, dir -> {
            ModelFolderWriter.writeInto(dir, lora == null ? model.stateDict() : lora.mergedStateDict(),
                    model.config().text(), tokenizerSource, ModelFolderWriter.Options.defaults());
            if (lora != null) {
                Lora.saveAdapters(model, dir.resolve(ADAPTER_DIR),
                        tokenizerSource == null ? null : tokenizerSource.toAbsolutePath().normalize().toString());
            }
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
        ObjectNode settings = n.putObject("settings");
        s.settings().forEach(settings::put);
        ArrayNode changes = n.putArray("changes");
        s.changes().forEach(changes::add);
        ArrayNode m = n.putArray("metrics");
        for (StepMetrics x : s.metrics()) {
            m.add(x.toJson());
        }
        return n;
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
                metrics.add(StepMetrics.fromJson(m));
            }
            Map<String, String> settings = new LinkedHashMap<>();
            n.path("settings").fields().forEachRemaining(e -> settings.put(e.getKey(), e.getValue().asText()));
            List<String> changes = new ArrayList<>();
            n.path("changes").forEach(c -> changes.add(c.asText()));
            return new State(n.get("step").asLong(), n.get("total_steps").asLong(),
                    new MixedBatchSampler.Position(pos.get("epoch").asLong(), pos.get("step").asLong()),
                    n.get("seed").asLong(),
                    new LrSchedule(LrSchedule.Kind.parse(sch.get("kind").asText()), sch.get("peak_lr").asDouble(),
                            sch.get("warmup_steps").asLong(), sch.get("total_steps").asLong()),
                    n.get("elapsed").asDouble(), metrics, settings, changes);
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
