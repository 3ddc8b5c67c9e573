package org.tasft.model;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.BiConsumer;
import java.util.function.Function;

import org.bytedeco.pytorch.GeneratorOptional;
import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.StringTensorDict;
import org.bytedeco.pytorch.StringTensorDictItem;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.tasft.checkpoint.CheckpointException;
import org.tasft.checkpoint.Checkpoints;
import org.tasft.checkpoint.ModelFolderWriter;
import org.tasft.checkpoint.TensorSource;

/**
 * Builds {@link CausalLm}s: from a config alone (random weights, as transformers initializes them) or from a config and
 * the named tensors of a checkpoint, checked name by name and shape by shape.
 */
public final class Models {
    private Models() {
    }

    /** The model class for the config's architecture, with random weights (see {@link #initialize}). */
    public static CausalLm create(ModelConfig config) {
        CausalLm model = uninitialized(config);
        initialize(model);
        return model;
    }

    /** {@link #create(ModelConfig)} after {@code torch.manual_seed(seed)}: the same seed gives the same weights. */
    public static CausalLm create(ModelConfig config, long seed) {
        torch.manual_seed(seed);
        return create(config);
    }

    /**
     * {@link #create(ModelConfig, long)} placed on a device in a dtype, the random weights drawn there (a model too
     * large for the host in float32 is never made on the host).
     */
    public static CausalLm create(ModelConfig config, long seed, Placement placement) {
        torch.manual_seed(seed);
        CausalLm model = placement.apply(uninitialized(config));
        initialize(model);
        return model;
    }

    /**
     * A Hugging Face model folder: {@code config.json} and its safetensors weights ({@code model.safetensors} or the
     * sharded index), converted to float32 on load.
     */
    public static CausalLm load(Path modelDir) {
        return load(modelDir, Placement.CPU_FLOAT32);
    }

    /**
     * A Hugging Face model folder with its weights placed on a device in a dtype: the model is moved there before the
     * checkpoint is read, and each tensor is copied from the file straight into its parameter (a bf16 checkpoint
     * loaded as bfloat16 is never upcast; a GPU model never exists whole on the host).
     */
    public static CausalLm load(Path modelDir, Placement placement) {
        ModelConfig config = ModelConfig.read(modelDir.resolve("config.json"));
        try (TensorSource source = Checkpoints.open(modelDir)) {
            return fromTensors(config, source, placement);
        }
    }

    /**
     * Writes {@code model} as a Hugging Face folder that transformers loads back unchanged: its weights under their
     * Hugging Face names, the config.json it was built from, and the tokenizer files of {@code tokenizerSourceDir}
     * (null: none). Atomic: a crash mid-save leaves the previous folder intact (see {@link ModelFolderWriter}).
     */
    public static void save(CausalLm model, Path target, Path tokenizerSourceDir, ModelFolderWriter.Options options) {
        ModelFolderWriter.save(target, model.stateDict(), model.config().text(), tokenizerSourceDir, options);
    }

    /**
     * Reads {@code config.json} from a Hugging Face model folder and its weights through {@code opener}, which is
     * closed afterwards.
     */
    public static CausalLm load(Path modelDir, Function<Path, TensorSource> opener) {
        ModelConfig config = ModelConfig.read(modelDir.resolve("config.json"));
        try (TensorSource source = opener.apply(modelDir)) {
            return fromTensors(config, source);
        }
    }

    /**
     * The model with the weights of a checkpoint. Each tensor is shape-checked from its header before it is read,
     * copied into the model's parameter (converted to its dtype) and released.
     */
    public static CausalLm fromTensors(ModelConfig config, TensorSource source) {
        return fromTensors(config, source, Placement.CPU_FLOAT32);
    }

    /** As {@link #fromTensors(ModelConfig, TensorSource)}, the parameters placed before they are read. */
    public static CausalLm fromTensors(ModelConfig config, TensorSource source, Placement placement) {
        return fromTensors(config, source.location(), source.names(), name -> source.info(name).shape(),
                source::loadInto, placement);
    }

    /**
     * The model with the weights {@code loader} gives for {@code names} (the checkpoint's tensor names). The loader's
     * tensors stay the caller's: they are copied, not closed.
     */
    public static CausalLm fromTensors(ModelConfig config, Function<String, Tensor> loader, Set<String> names) {
        return fromTensors(config, "the checkpoint", names, null, (name, param) -> {
            Tensor t = loader.apply(name);
            if (t == null) {
                throw new CheckpointException("the checkpoint: no tensor " + name);
            }
            checkShape(config, "the checkpoint", name, shapeOf(t), shapeOf(param));
            param.copy_(t);
        }, Placement.CPU_FLOAT32);
    }

    /**
     * Errors about the weights name {@code weights} (the safetensors file or index) first, and the config whose model
     * they do not match: a missing or extra tensor is the weights' fault as often as the config's.
     */
    private static CausalLm fromTensors(ModelConfig config, String weights, Set<String> names,
            Function<String, long[]> shapes, BiConsumer<String, Tensor> into, Placement placement) {
        CausalLm model = placement.apply(uninitialized(config));
        LinkedHashMap<String, Tensor> params = model.stateDict();
        Map<String, String> sourceOf = new LinkedHashMap<>();
        List<String> missing = new ArrayList<>();
        for (String name : params.keySet()) {
            String found = resolve(name, names, config);
            if (found == null) {
                missing.add(name);
            } else {
                sourceOf.put(name, found);
            }
        }
        if (!missing.isEmpty()) {
            throw new CheckpointException(weights + ": lacks " + missing.size() + " of the " + params.size()
                    + " tensors of the " + config.architecture() + " model that " + config.source() + " describes: "
                    + firstFew(missing));
        }
        Set<String> used = new LinkedHashSet<>(sourceOf.values());
        List<String> unexpected = new ArrayList<>();
        for (String name : names) {
            if (!used.contains(name) && !ignorable(name, config)) {
                unexpected.add(name);
            }
        }
        if (!unexpected.isEmpty()) {
            throw new CheckpointException(weights + ": has " + unexpected.size() + " tensors that the "
                    + config.architecture() + " model of " + config.source() + " does not: " + firstFew(unexpected));
        }
        try (NoGradGuard g = new NoGradGuard()) {
            for (Map.Entry<String, Tensor> e : params.entrySet()) {
                String name = sourceOf.get(e.getKey());
                Tensor param = e.getValue();
                long[] expected = shapeOf(param);
                if (shapes != null) {
                    checkShape(config, weights, name, shapes.apply(name), expected);
                }
                into.accept(name, param);
            }
        }
        return model;
    }

    /** The checkpoint name holding a parameter: the same name, or the same without the base-model prefix. */
    private static String resolve(String name, Set<String> names, ModelConfig config) {
        if (names.contains(name)) {
            return name;
        }
        String prefix = config.architecture() == ModelConfig.Architecture.GPT2 ? "transformer." : "model.";
        // checkpoints saved from the base model (GPT2Model, LlamaModel) have no prefix, e.g. the original gpt2 files
        if (name.startsWith(prefix) && names.contains(name.substring(prefix.length()))) {
            return name.substring(prefix.length());
        }
        // a tied head saved under the head's name only
        if (config.tieWordEmbeddings() && name.equals(embeddingName(config)) && names.contains("lm_head.weight")) {
            return "lm_head.weight";
        }
        return null;
    }

    /** The token embedding's parameter name. */
    static String embeddingName(ModelConfig config) {
        return config.architecture() == ModelConfig.Architecture.GPT2 ? "transformer.wte.weight"
                : "model.embed_tokens.weight";
    }

    /**
     * Buffers transformers never loads: rotary inv_freq, GPT-2's causal-mask buffers, and the head's copy of a tied
     * embedding.
     */
    private static boolean ignorable(String name, ModelConfig config) {
        if (name.endsWith("rotary_emb.inv_freq")) {
            return true;
        }
        if (config.architecture() == ModelConfig.Architecture.GPT2
                && (name.endsWith(".attn.bias") || name.endsWith(".attn.masked_bias"))) {
            return true;
        }
        return config.tieWordEmbeddings() && name.equals("lm_head.weight");
    }

    private static void checkShape(ModelConfig config, String weights, String name, long[] actual,
            long[] expected) {
        if (!Arrays.equals(actual, expected)) {
            throw new CheckpointException(weights + ": tensor " + name + " has shape " + Arrays.toString(actual)
                    + ", the model of " + config.source() + " expects " + Arrays.toString(expected));
        }
    }

    private static long[] shapeOf(Tensor t) {
        long[] s = new long[(int) t.dim()];
        for (int i = 0; i < s.length; i++) {
            s[i] = t.size(i);
        }
        return s;
    }

    private static String firstFew(List<String> names) {
        return names.size() <= 8 ? names.toString()
                : names.subList(0, 8) + " and " + (names.size() - 8) + " more";
    }

    /** A model in eval mode (as transformers' from_pretrained returns it): module().train() turns dropout on. */
    private static CausalLm uninitialized(ModelConfig config) {
        config.requireWeightsFit(machineMemoryBytes()); // absurd sizes: one line naming the key, not an allocator error
        CausalLm model = config.architecture() == ModelConfig.Architecture.GPT2 ? new Gpt2Model(config)
                : new LlamaModel(config);
        model.module().eval();
        return model;
    }

    /** The machine's (or container's) memory in bytes; infinite where the JVM cannot tell. */
    static double machineMemoryBytes() {
        java.lang.management.OperatingSystemMXBean os = java.lang.management.ManagementFactory
                .getOperatingSystemMXBean();
        if (os instanceof com.sun.management.OperatingSystemMXBean sun && sun.getTotalMemorySize() > 0) {
            return sun.getTotalMemorySize();
        }
        return Double.POSITIVE_INFINITY;
    }

    /**
     * Random weights as transformers' {@code _init_weights}: projection and embedding weights from N(0,
     * initializer_range), biases 0, norm weights 1 (LayerNorm biases 0), the padding row of the token embedding 0.
     */
    public static void initialize(CausalLm model) {
        ModelConfig config = model.config();
        double std = config.initializerRange();
        try (NoGradGuard g = new NoGradGuard()) {
            for (Map.Entry<String, Tensor> e : model.stateDict().entrySet()) {
                String name = e.getKey();
                Tensor t = e.getValue();
                if (name.endsWith("norm.weight") || name.matches(".*\\.ln_(1|2|f)\\.weight")) {
                    t.fill_(new Scalar(1.0));
                } else if (name.endsWith(".bias")) {
                    t.zero_();
                } else {
                    t.normal_(0.0, std, new GeneratorOptional());
                }
            }
            int pad = config.padTokenId().orElse(-1);
            if (config.architecture() != ModelConfig.Architecture.GPT2 && pad >= 0 && pad < config.vocabSize()) {
                model.inputEmbeddingWeight().select(0, pad).zero_();
            }
        }
    }

    /** A module's parameters under their dotted names, in registration order (transformers' state-dict order). */
    static LinkedHashMap<String, Tensor> namedParameters(Module root) {
        LinkedHashMap<String, Tensor> out = new LinkedHashMap<>();
        StringTensorDict dict = root.named_parameters(true);
        for (long i = 0; i < dict.size(); i++) {
            StringTensorDictItem item = dict.get(i);
            out.put(item.key().getString(), new Tensor(item.value()));
        }
        return out;
    }
}
