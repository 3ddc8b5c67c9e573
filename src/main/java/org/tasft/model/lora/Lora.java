package org.tasft.model.lora;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.TreeSet;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.bytedeco.pytorch.MemoryFormatOptional;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.tasft.checkpoint.AtomicFolder;
import org.tasft.checkpoint.CheckpointException;
import org.tasft.checkpoint.SafetensorsFile;
import org.tasft.checkpoint.SafetensorsWriter;
import org.tasft.model.CausalLm;
import org.tasft.model.LinearLayer;

/**
 * LoRA on a {@link CausalLm}, as PEFT trains it: the base weights frozen, and each targeted projection's output
 * {@code W x + b} extended by {@code (alpha / r) * B A dropout(x)} with trainable A [r, in] and B [out, r].
 *
 * <p>Initialization (PEFT's default, {@code init_lora_weights=True}): B = 0, so the adapted model computes exactly
 * what the base model does; A from kaiming-uniform with a = sqrt(5), i.e. uniform in [-1/sqrt(in), 1/sqrt(in)],
 * drawn from a {@link SplittableRandom} seeded with the given seed (layer by layer in module order), so the same seed
 * gives the same A independently of LibTorch's global generator.
 *
 * <p>The adapter tensors live outside the model's module tree: {@link CausalLm#stateDict()} and
 * {@code module().parameters()} keep listing the base weights only; hand {@link #trainableParameters()} to the
 * optimizer. They are created on the base weight's device in float32 whatever the base's dtype (a bf16 base trains
 * float32 adapters, as PEFT does; move and cast the model before applying LoRA).
 * {@link #merge} folds the update into the base weights and removes the adapters, after which the model saves as a
 * plain Hugging Face checkpoint; {@link #saveAdapters} writes PEFT's adapter folder instead.
 */
public final class Lora {
    /** PEFT's prefix of adapter tensor names in {@code adapter_model.safetensors} ({@code PeftModel.base_model.model}). */
    public static final String PEFT_PREFIX = "base_model.model.";
    public static final String ADAPTER_WEIGHTS = "adapter_model.safetensors";
    public static final String ADAPTER_CONFIG = "adapter_config.json";

    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private final CausalLm model;
    private final LoraConfig config;
    private final LinkedHashMap<String, LoraAdapter> adapters;

    private Lora(CausalLm model, LoraConfig config, LinkedHashMap<String, LoraAdapter> adapters) {
        this.model = model;
        this.config = config;
        this.adapters = adapters;
    }

    /**
     * Freezes every base parameter ({@code requires_grad = false}) and adds a LoRA adapter to each projection the
     * config targets (see {@link CausalLm#linearLayers()}).
     *
     * @throws IllegalArgumentException a target that matches no projection (the message lists the model's
     *                                  projection names), or a model that already has adapters
     */
    public static Lora apply(CausalLm model, LoraConfig config, long seed) {
        LinkedHashMap<String, LinearLayer> layers = model.linearLayers();
        for (Map.Entry<String, LinearLayer> e : layers.entrySet()) {
            if (e.getValue().adapter() != null) {
                throw new IllegalArgumentException("the model already has an adapter on " + e.getKey()
                        + "; merge it (Lora.merge) before applying LoRA again");
            }
        }
        List<String> unmatched = new ArrayList<>();
        for (String target : config.targetModules()) {
            if (layers.keySet().stream().noneMatch(path -> LoraConfig.matches(target, path))) {
                unmatched.add(target);
            }
        }
        if (!unmatched.isEmpty()) {
            throw new IllegalArgumentException("LoRA target_modules " + unmatched + " match no linear module of this "
                    + model.config().architecture() + " model; its linear modules are " + moduleNames(layers.keySet())
                    + " (e.g. " + (layers.isEmpty() ? "none" : layers.keySet().iterator().next()) + ")");
        }
        for (Tensor p : model.stateDict().values()) {
            p.requires_grad_(false);
        }
        SplittableRandom random = new SplittableRandom(seed);
        LinkedHashMap<String, LoraAdapter> adapters = new LinkedHashMap<>();
        for (Map.Entry<String, LinearLayer> e : layers.entrySet()) {
            if (!config.targets(e.getKey())) {
                continue;
            }
            LinearLayer layer = e.getValue();
            long in = layer.inFeatures();
            int r = config.rank();
            float[] values = new float[Math.toIntExact(r * in)];
            double bound = 1 / Math.sqrt(in);
            for (int i = 0; i < values.length; i++) {
                values[i] = (float) ((2 * random.nextDouble() - 1) * bound);
            }
            Tensor a = torch.empty(new long[] {r, in}, new TensorOptions(ScalarType.Float), new MemoryFormatOptional());
            a.data_ptr_float().put(values);
            org.bytedeco.pytorch.Device device = layer.weight().device();
            a = a.to(device, ScalarType.Float).requires_grad_(true);
            Tensor b = torch.zeros(new long[] {layer.outFeatures(), r}, new TensorOptions(ScalarType.Float)
                    .device(new org.bytedeco.pytorch.DeviceOptional(device))).requires_grad_(true);
            LoraAdapter adapter = new LoraAdapter(e.getKey(), layer, config, a, b);
            layer.adapter(adapter);
            adapters.put(e.getKey(), adapter);
        }
        return new Lora(model, config, adapters);
    }

    /** The LoRA adapters the model carries (after {@link #apply} or {@link #loadAdapters}). */
    public static Lora of(CausalLm model) {
        LinkedHashMap<String, LoraAdapter> adapters = new LinkedHashMap<>();
        LoraConfig config = null;
        for (Map.Entry<String, LinearLayer> e : model.linearLayers().entrySet()) {
            if (e.getValue().adapter() instanceof LoraAdapter a) {
                adapters.put(e.getKey(), a);
                config = a.config();
            }
        }
        if (adapters.isEmpty()) {
            throw new IllegalStateException("the model has no LoRA adapters (Lora.apply or Lora.loadAdapters first)");
        }
        return new Lora(model, config, adapters);
    }

    public CausalLm model() {
        return model;
    }

    public LoraConfig config() {
        return config;
    }

    /** The adapters by module path, in module order. */
    public Map<String, LoraAdapter> adapters() {
        return Collections.unmodifiableMap(adapters);
    }

    /** The trainable tensors, lora_A then lora_B of each adapted layer in module order: what the optimizer gets. */
    public List<Tensor> trainableParameters() {
        return new ArrayList<>(namedParameters().values());
    }

    /** {@link #trainableParameters()} as the TensorVector LibTorch's optimizers take. */
    public TensorVector trainableParameterVector() {
        return new TensorVector(trainableParameters().toArray(new Tensor[0]));
    }

    /** The adapter tensors under their PEFT names ({@code base_model.model.<path>.lora_A.weight} / lora_B). */
    public LinkedHashMap<String, Tensor> namedParameters() {
        LinkedHashMap<String, Tensor> out = new LinkedHashMap<>();
        for (LoraAdapter a : adapters.values()) {
            out.put(pefName(a.path(), "lora_A"), a.a());
            out.put(pefName(a.path(), "lora_B"), a.b());
        }
        return out;
    }

    /**
     * Folds each adapter into its base weight, {@code W += (alpha / r) B A} (transposed for GPT-2's [in, out]
     * Conv1D), and removes the adapters: the model computes what the adapted model computed and
     * {@code stateDict()} / {@code Models.save} write a plain Hugging Face checkpoint. The base weights stay frozen.
     *
     * @return the number of layers merged
     * @throws IllegalStateException when the model has no LoRA adapters
     */
    public static int merge(CausalLm model) {
        Lora lora = of(model);
        try (NoGradGuard g = new NoGradGuard()) {
            for (LoraAdapter a : lora.adapters.values()) {
                Tensor w = a.layer().weight();
                w.add_(a.delta().to(w.scalar_type().intern()));
                a.layer().adapter(null);
            }
        }
        return lora.adapters.size();
    }

    /**
     * The model's state dict as {@link #merge} would leave it, without changing the model (training can go on):
     * each adapted layer's weight is a new tensor {@code W + (alpha / r) B A} (computed as {@code merge} computes
     * it), every other entry is the model's own tensor. What a Hugging Face checkpoint of the adapted model holds.
     */
    public LinkedHashMap<String, Tensor> mergedStateDict() {
        LinkedHashMap<String, Tensor> state = model.stateDict();
        try (NoGradGuard g = new NoGradGuard()) {
            for (LoraAdapter a : adapters.values()) {
                String name = a.path() + ".weight";
                if (!state.containsKey(name)) {
                    throw new IllegalStateException("the state dict has no " + name + " for the adapter on "
                            + a.path());
                }
                Tensor w = a.layer().weight();
                state.put(name, w.add(a.delta().to(w.scalar_type().intern())));
            }
        }
        return state;
    }

    /**
     * {@link #saveAdapters(CausalLm, Path, String)} naming the base model by the folder its config.json came from.
     */
    public static void saveAdapters(CausalLm model, Path dir) {
        Path source = Path.of(model.config().source()).toAbsolutePath().getParent();
        saveAdapters(model, dir, source == null ? null : source.toString());
    }

    /**
     * Writes PEFT's adapter folder: {@code adapter_model.safetensors} (float32, PEFT's tensor names) and
     * {@code adapter_config.json}, which {@code PeftModel.from_pretrained(base, dir)} reads. Atomic: the folder is
     * written under a temporary name beside {@code dir} and renamed into place; a failure leaves a previous
     * {@code dir} as it was.
     *
     * @param baseModel {@code base_model_name_or_path} (may be null)
     */
    public static void saveAdapters(CausalLm model, Path dir, String baseModel) {
        Lora lora = of(model);
        LinkedHashMap<String, Tensor> tensors = new LinkedHashMap<>();
        lora.namedParameters().forEach((n, t) -> tensors.put(n, t.detach()));
        byte[] json;
        try {
            json = JSON.writeValueAsBytes(lora.peftConfig(baseModel));
        } catch (IOException e) {
            throw new CheckpointException("cannot write " + ADAPTER_CONFIG + ": " + e, e);
        }
        AtomicFolder.replace(dir, tmp -> {
            SafetensorsWriter.write(tmp.resolve(ADAPTER_WEIGHTS), tensors);
            Files.write(tmp.resolve(ADAPTER_CONFIG), json);
        });
    }

    /**
     * Reads a PEFT LoRA folder ({@code adapter_config.json} + {@code adapter_model.safetensors}) onto a model
     * without adapters: applies LoRA with the folder's r, lora_alpha, lora_dropout and target_modules, then copies
     * lora_A / lora_B in, checked name by name and shape by shape.
     */
    public static Lora loadAdapters(CausalLm model, Path dir) {
        LoraConfig config = readConfig(dir.resolve(ADAPTER_CONFIG));
        Lora lora = apply(model, config, 0);
        LinkedHashMap<String, Tensor> params = lora.namedParameters();
        Path file = dir.resolve(ADAPTER_WEIGHTS);
        try (SafetensorsFile source = SafetensorsFile.open(file); NoGradGuard g = new NoGradGuard()) {
            Set<String> names = source.names();
            List<String> missing = new ArrayList<>();
            for (String n : params.keySet()) {
                if (!names.contains(n)) {
                    missing.add(n);
                }
            }
            Set<String> unexpected = new TreeSet<>(names);
            unexpected.removeAll(params.keySet());
            if (!missing.isEmpty() || !unexpected.isEmpty()) {
                throw new CheckpointException(file + ": the adapter tensors do not fit this model: missing "
                        + missing + ", unexpected " + unexpected);
            }
            for (Map.Entry<String, Tensor> e : params.entrySet()) {
                long[] expected = e.getValue().sizes().vec().get();
                long[] actual = source.info(e.getKey()).shape();
                if (!Arrays.equals(expected, actual)) {
                    throw new CheckpointException(file + ": tensor " + e.getKey() + " has shape "
                            + Arrays.toString(actual) + ", the model expects " + Arrays.toString(expected));
                }
                Tensor t = source.load(e.getKey());
                e.getValue().copy_(t);
                t.close();
            }
        } catch (RuntimeException e) {
            for (LoraAdapter a : lora.adapters.values()) {
                a.layer().adapter(null);
            }
            throw e;
        }
        return lora;
    }

    /** The LoraConfig of a PEFT {@code adapter_config.json}. */
    public static LoraConfig readConfig(Path file) {
        JsonNode json;
        try {
            json = JSON.readTree(file.toFile());
        } catch (IOException e) {
            throw new CheckpointException(file + ": cannot read the adapter config: " + e.getMessage(), e);
        }
        if (json == null || !json.isObject()) {
            throw new CheckpointException(file + ": not a JSON object");
        }
        if (!"LORA".equals(json.path("peft_type").asText())) {
            throw new CheckpointException(file + ": peft_type is " + json.get("peft_type") + ", not \"LORA\"");
        }
        JsonNode targets = json.path("target_modules");
        if (!targets.isArray()) {
            throw new CheckpointException(file + ": target_modules must be a list of module names (a regular "
                    + "expression is not supported), got " + targets);
        }
        List<String> names = new ArrayList<>();
        targets.forEach(t -> names.add(t.asText()));
        if (!json.path("r").isIntegralNumber() || !json.path("lora_alpha").isNumber()) {
            throw new CheckpointException(file + ": r must be an integer and lora_alpha a number");
        }
        String bias = json.path("bias").asText("none");
        if (!"none".equals(bias)) {
            throw new CheckpointException(file + ": bias \"" + bias + "\" is not supported (only \"none\")");
        }
        try {
            return new LoraConfig(json.get("r").asInt(), json.get("lora_alpha").asDouble(),
                    json.path("lora_dropout").asDouble(0.0), names);
        } catch (IllegalArgumentException e) {
            throw new CheckpointException(file + ": " + e.getMessage(), e);
        }
    }

    private ObjectNode peftConfig(String baseModel) {
        ObjectNode c = JSON.createObjectNode();
        c.put("peft_type", "LORA");
        c.put("task_type", "CAUSAL_LM");
        if (baseModel == null) {
            c.putNull("base_model_name_or_path");
        } else {
            c.put("base_model_name_or_path", baseModel);
        }
        c.put("r", config.rank());
        if (config.alpha() == Math.rint(config.alpha()) && Math.abs(config.alpha()) < 1e15) {
            c.put("lora_alpha", (long) config.alpha());
        } else {
            c.put("lora_alpha", config.alpha());
        }
        c.put("lora_dropout", config.dropout());
        ArrayNode targets = c.putArray("target_modules");
        config.targetModules().forEach(targets::add);
        c.put("bias", "none");
        c.put("fan_in_fan_out", adapters.values().stream().anyMatch(a -> a.layer().fanInFanOut()));
        c.put("init_lora_weights", true);
        c.put("inference_mode", true);
        c.putNull("modules_to_save");
        return c;
    }

    private static String pefName(String path, String which) {
        return PEFT_PREFIX + path + "." + which + ".weight";
    }

    /** The distinct last components of the module paths (q_proj, k_proj, ...), in order. */
    private static Set<String> moduleNames(Set<String> paths) {
        Set<String> names = new LinkedHashSet<>();
        for (String p : paths) {
            names.add(p.substring(p.lastIndexOf('.') + 1));
        }
        return names;
    }
}
