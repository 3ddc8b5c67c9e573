package org.tasft.model;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.OptionalInt;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.tasft.io.InputFiles;

/**
 * A Hugging Face {@code config.json} of a supported decoder model, read the way transformers 5 reads it: the same
 * defaults for absent keys (those of {@code LlamaConfig}, {@code MistralConfig}, {@code Qwen2Config},
 * {@code GPT2Config}), GPT-2's own key names mapped onto the common ones, and rotary settings taken from
 * {@code rope_parameters} (transformers 5) or the legacy {@code rope_theta} + {@code rope_scaling}.
 *
 * <p>The original text and tree are kept ({@link #text()}, {@link #json()}) so that a saved model folder carries the
 * config exactly as it came.
 */
public final class ModelConfig {
    /** The model families this project implements. */
    public enum Architecture {
        LLAMA("llama", "LlamaForCausalLM"),
        MISTRAL("mistral", "MistralForCausalLM"),
        QWEN2("qwen2", "Qwen2ForCausalLM"),
        GPT2("gpt2", "GPT2LMHeadModel");

        /** The config's {@code model_type}. */
        public final String modelType;
        /** The transformers class of the causal LM, as in the config's {@code architectures}. */
        public final String causalLmClass;

        Architecture(String modelType, String causalLmClass) {
            this.modelType = modelType;
            this.causalLmClass = causalLmClass;
        }

        static String supported() {
            StringBuilder b = new StringBuilder();
            for (Architecture a : values()) {
                b.append(b.length() == 0 ? "" : ", ").append(a.modelType).append(" (").append(a.causalLmClass)
                        .append(')');
            }
            return b.toString();
        }
    }

    /** How rotary frequencies are scaled ({@code rope_type} in transformers). */
    public enum RopeType {
        DEFAULT("default"), LINEAR("linear"), DYNAMIC("dynamic"), LLAMA3("llama3");

        public final String hfName;

        RopeType(String hfName) {
            this.hfName = hfName;
        }
    }

    /** Attention pattern of one layer ({@code layer_types} in transformers). */
    public enum LayerType {
        FULL_ATTENTION, SLIDING_ATTENTION
    }

    /**
     * Rotary embedding settings.
     *
     * @param theta                         the base ({@code rope_theta})
     * @param type                          the scaling kind
     * @param factor                        scaling factor (linear, dynamic, llama3); 1 for default
     * @param lowFreqFactor                 llama3 only
     * @param highFreqFactor                llama3 only
     * @param originalMaxPositionEmbeddings llama3: the pre-training context; dynamic: the length beyond which the base
     *                                      grows (transformers uses {@code max_position_embeddings} unless the rope
     *                                      parameters give {@code original_max_position_embeddings})
     */
    public record Rope(double theta, RopeType type, double factor, double lowFreqFactor, double highFreqFactor,
                       int originalMaxPositionEmbeddings) {
    }

    private static final ObjectMapper MAPPER = new ObjectMapper();

    private final String text;
    private final JsonNode json;
    private final String source;
    private final Architecture architecture;
    private final int vocabSize;
    private final int hiddenSize;
    private final int intermediateSize;
    private final int numLayers;
    private final int numHeads;
    private final int numKvHeads;
    private final int headDim;
    private final double normEps;
    private final Rope rope;
    private final int maxPositionEmbeddings;
    private final boolean tieWordEmbeddings;
    private final boolean attentionBias;
    private final boolean mlpBias;
    private final Integer slidingWindow;
    private final List<LayerType> layerTypes;
    private final String hiddenAct;
    private final Integer bosTokenId;
    private final List<Integer> eosTokenIds;
    private final Integer padTokenId;
    private final double initializerRange;
    private final double attentionDropout;
    private final double residualDropout;
    private final double embeddingDropout;

    /**
     * Reads and checks a {@code config.json}; errors name the file and the key (a missing, unreadable or non-UTF-8
     * file, or a FIFO, which is refused rather than read: that would block).
     */
    public static ModelConfig read(Path configJson) {
        return parse(InputFiles.readUtf8(configJson, null), configJson.toString());
    }

    /**
     * Checks that {@code dir} is a model folder this process can read, with a readable {@code config.json}, telling
     * a missing folder or file from one that cannot be read (permission). Errors start with the option and the
     * folder ({@code --model runs/x: no config.json (expected a Hugging Face model folder)}).
     */
    public static void requireFolder(Path dir, String option) {
        String label = option + " " + dir;
        BasicFileAttributes folder = InputFiles.attributes(dir, label + ": no such folder",
                label + ": cannot read it: ");
        if (!folder.isDirectory()) {
            throw new IllegalArgumentException(label + ": not a folder (expected a Hugging Face model folder with "
                    + "config.json)");
        }
        if (!Files.isReadable(dir) || !Files.isExecutable(dir)) {
            throw new IllegalArgumentException(label + ": cannot read the folder: permission denied");
        }
        Path config = dir.resolve("config.json");
        BasicFileAttributes file = InputFiles.attributes(config,
                label + ": no config.json (expected a Hugging Face model folder)",
                label + ": cannot read config.json: ");
        if (file.isDirectory()) {
            throw new IllegalArgumentException(label + ": config.json is a folder, not a file");
        }
        if (!file.isRegularFile()) {
            throw new IllegalArgumentException(label + ": config.json is not a regular file (a FIFO, socket or "
                    + "device)");
        }
        if (!Files.isReadable(config)) {
            throw new IllegalArgumentException(label + ": cannot read config.json: permission denied");
        }
    }

    /** Parses the text of a {@code config.json}. */
    public static ModelConfig parse(String json) {
        return parse(json, "<config.json text>");
    }

    /** Parses the text of a {@code config.json}; {@code source} (a file name) is what error messages cite. */
    public static ModelConfig parse(String json, String source) {
        JsonNode tree;
        try {
            tree = MAPPER.readTree(json);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException(source + ": not valid JSON: " + e.getOriginalMessage(), e);
        }
        if (tree == null || !tree.isObject()) {
            throw new IllegalArgumentException(source + ": a model config must be a JSON object");
        }
        return new ModelConfig(json, tree, source);
    }

    private ModelConfig(String text, JsonNode json, String source) {
        this.text = text;
        this.json = json;
        this.source = source;
        Reader r = new Reader(json, source);
        this.architecture = architectureOf(json, source);
        if (architecture == Architecture.GPT2) {
            vocabSize = r.requiredSize("vocab_size");
            hiddenSize = r.requiredSize("n_embd");
            numLayers = r.requiredSize("n_layer");
            numHeads = r.requiredSize("n_head");
            numKvHeads = numHeads;
            if (hiddenSize % numHeads != 0) {
                throw r.error("n_embd", "n_embd = " + hiddenSize + " is not a multiple of n_head = " + numHeads);
            }
            headDim = hiddenSize / numHeads;
            intermediateSize = r.optInt("n_inner", (int) Math.min(Integer.MAX_VALUE, 4L * hiddenSize));
            normEps = r.optDouble("layer_norm_epsilon", 1e-5);
            maxPositionEmbeddings = r.optInt("n_positions", 1024);
            tieWordEmbeddings = r.optBool("tie_word_embeddings", true);
            attentionBias = true;
            mlpBias = true;
            hiddenAct = r.optString("activation_function", "gelu_new");
            rope = null;
            slidingWindow = null;
            bosTokenId = r.optInteger("bos_token_id", 50256);
            eosTokenIds = r.intList("eos_token_id", List.of(50256));
            padTokenId = r.optInteger("pad_token_id", null);
            checkGpt2Unsupported(r);
        } else {
            vocabSize = r.requiredSize("vocab_size");
            hiddenSize = r.requiredSize("hidden_size");
            intermediateSize = r.requiredSize("intermediate_size");
            numLayers = r.requiredSize("num_hidden_layers");
            numHeads = r.requiredSize("num_attention_heads");
            numKvHeads = r.optInt("num_key_value_heads", numHeads);
            if (numKvHeads <= 0 || numHeads % numKvHeads != 0) {
                throw r.error("num_key_value_heads", "num_key_value_heads = " + numKvHeads
                        + " does not divide num_attention_heads = " + numHeads);
            }
            if (r.has("head_dim")) {
                headDim = r.requiredSize("head_dim");
            } else {
                if (hiddenSize % numHeads != 0) {
                    throw r.error("num_attention_heads", "hidden_size = " + hiddenSize
                            + " is not a multiple of num_attention_heads = " + numHeads + " and there is no head_dim");
                }
                headDim = hiddenSize / numHeads;
            }
            if (headDim % 2 != 0) {
                throw r.error("head_dim", "rotary embeddings need an even head_dim, not " + headDim);
            }
            normEps = r.optDouble("rms_norm_eps", 1e-6);
            hiddenAct = r.optString("hidden_act", "silu");
            tieWordEmbeddings = r.optBool("tie_word_embeddings", false);
            switch (architecture) {
                case LLAMA -> {
                    maxPositionEmbeddings = r.optInt("max_position_embeddings", 2048);
                    attentionBias = r.optBool("attention_bias", false);
                    mlpBias = r.optBool("mlp_bias", false);
                    slidingWindow = null;
                    bosTokenId = r.optInteger("bos_token_id", 1);
                    eosTokenIds = r.intList("eos_token_id", List.of(2));
                }
                case MISTRAL -> {
                    maxPositionEmbeddings = r.optInt("max_position_embeddings", 4096 * 32);
                    attentionBias = false;
                    mlpBias = false;
                    slidingWindow = r.optInteger("sliding_window", 4096);
                    bosTokenId = r.optInteger("bos_token_id", 1);
                    eosTokenIds = r.intList("eos_token_id", List.of(2));
                }
                case QWEN2 -> {
                    maxPositionEmbeddings = r.optInt("max_position_embeddings", 32768);
                    attentionBias = true; // q, k and v projections carry a bias, o_proj none
                    mlpBias = false;
                    slidingWindow = r.optBool("use_sliding_window", false) ? r.optInteger("sliding_window", 4096)
                            : null;
                    bosTokenId = r.optInteger("bos_token_id", null);
                    eosTokenIds = r.intList("eos_token_id", List.of());
                }
                default -> throw new AssertionError(architecture);
            }
            padTokenId = r.optInteger("pad_token_id", null);
            if (slidingWindow != null && slidingWindow <= 0) {
                throw r.error("sliding_window", "sliding_window must be positive, not " + slidingWindow);
            }
            rope = ropeOf(r, maxPositionEmbeddings);
        }
        layerTypes = layerTypesOf(r);
        if (!Activations.SUPPORTED.contains(hiddenAct)) {
            String key = architecture == Architecture.GPT2 ? "activation_function" : "hidden_act";
            throw r.error(key, "activation '" + hiddenAct + "' is not supported; supported: " + Activations.SUPPORTED);
        }
        initializerRange = r.optDouble("initializer_range", 0.02);
        if (architecture == Architecture.GPT2) {
            attentionDropout = r.optDouble("attn_pdrop", 0.1);
            residualDropout = r.optDouble("resid_pdrop", 0.1);
            embeddingDropout = r.optDouble("embd_pdrop", 0.1);
        } else {
            attentionDropout = r.optDouble("attention_dropout", 0.0);
            residualDropout = 0.0;
            embeddingDropout = 0.0;
        }
        if (vocabSize <= 0 || hiddenSize <= 0 || numLayers <= 0 || numHeads <= 0 || intermediateSize <= 0
                || headDim <= 0) {
            throw new IllegalArgumentException(source + ": sizes must be positive (vocab " + vocabSize + ", hidden "
                    + hiddenSize + ", layers " + numLayers + ", heads " + numHeads + ", intermediate "
                    + intermediateSize + ", head_dim " + headDim + ")");
        }
    }

    private static Architecture architectureOf(JsonNode json, String source) {
        JsonNode type = json.get("model_type");
        if (type != null && type.isTextual()) {
            for (Architecture a : Architecture.values()) {
                if (a.modelType.equals(type.asText())) {
                    return a;
                }
            }
        }
        JsonNode archs = json.get("architectures");
        if (archs != null && archs.isArray()) {
            for (JsonNode n : archs) {
                for (Architecture a : Architecture.values()) {
                    if (a.causalLmClass.equals(n.asText())) {
                        return a;
                    }
                }
            }
        }
        throw new IllegalArgumentException(source + ": unsupported model (model_type " + json.get("model_type")
                + ", architectures " + json.get("architectures") + "); supported: " + Architecture.supported());
    }

    private static void checkGpt2Unsupported(Reader r) {
        if (r.optBool("scale_attn_by_inverse_layer_idx", false)) {
            throw r.error("scale_attn_by_inverse_layer_idx", "scale_attn_by_inverse_layer_idx = true is not supported");
        }
        if (!r.optBool("scale_attn_weights", true)) {
            throw r.error("scale_attn_weights", "scale_attn_weights = false is not supported");
        }
        if (r.optBool("add_cross_attention", false)) {
            throw r.error("add_cross_attention", "cross attention is not supported");
        }
    }

    /**
     * transformers 5's {@code convert_rope_params_to_dict} + {@code standardize_rope_params}: a legacy
     * {@code rope_scaling} object wins over {@code rope_parameters}; {@code rope_theta} comes from that object, else
     * the top level, else 10000; {@code type} is the legacy name of {@code rope_type}; llama3's
     * {@code original_max_position_embeddings} defaults to the top-level key of that name, else
     * {@code max_position_embeddings}; dynamic scaling always grows from {@code max_position_embeddings}.
     */
    private Rope ropeOf(Reader r, int maxPositions) {
        JsonNode legacy = json.get("rope_scaling");
        JsonNode params = json.get("rope_parameters");
        String where;
        JsonNode scaling;
        if (legacy != null && !legacy.isNull() && !(legacy.isObject() && legacy.isEmpty())) {
            where = "rope_scaling";
            scaling = legacy;
        } else if (params != null && !params.isNull()) {
            where = "rope_parameters";
            scaling = params;
        } else {
            return new Rope(r.optDouble("rope_theta", 10000.0), RopeType.DEFAULT, 1.0, 0, 0, maxPositions);
        }
        if (!scaling.isObject()) {
            throw r.error(where, where + " must be an object, not " + scaling);
        }
        if (scaling.has("full_attention") || scaling.has("sliding_attention")) {
            throw r.error(where, "per-layer-type rotary settings are not supported: " + scaling);
        }
        double theta = scaling.has("rope_theta") && !scaling.get("rope_theta").isNull()
                ? ropeNumber(r, scaling, where, "rope_theta") : r.optDouble("rope_theta", 10000.0);
        JsonNode partial = scaling.has("partial_rotary_factor") ? scaling.get("partial_rotary_factor")
                : json.get("partial_rotary_factor");
        if (partial != null && !partial.isNull() && partial.asDouble() != 1.0) {
            throw r.error(where, "partial_rotary_factor " + partial + " is not supported");
        }
        JsonNode typeNode = scaling.has("rope_type") ? scaling.get("rope_type") : scaling.get("type");
        String typeName = typeNode == null || typeNode.isNull() ? "default" : typeNode.asText();
        RopeType type = null;
        for (RopeType t : RopeType.values()) {
            if (t.hfName.equals(typeName)) {
                type = t;
            }
        }
        if (type == null) {
            throw r.error(where, "rope type '" + typeName + "' is not supported; supported: default, linear, "
                    + "dynamic, llama3");
        }
        if (!(theta > 0)) {
            throw r.error(where, "rope_theta must be positive, not " + theta);
        }
        if (type == RopeType.DEFAULT) {
            return new Rope(theta, type, 1.0, 0, 0, maxPositions);
        }
        double factor = ropeNumber(r, scaling, where, "factor");
        if (!(factor > 0)) {
            throw r.error(where, where + ".factor must be positive, not " + factor);
        }
        if (type == RopeType.LLAMA3) {
            double low = ropeNumber(r, scaling, where, "low_freq_factor");
            double high = ropeNumber(r, scaling, where, "high_freq_factor");
            int original = scaling.has("original_max_position_embeddings")
                    ? (int) ropeNumber(r, scaling, where, "original_max_position_embeddings")
                    : r.optInt("original_max_position_embeddings", maxPositions);
            if (!(high > low)) {
                throw r.error(where, where + ": high_freq_factor (" + high + ") must exceed low_freq_factor (" + low
                        + ")");
            }
            return new Rope(theta, type, factor, low, high, original);
        }
        return new Rope(theta, type, factor, 0, 0, maxPositions);
    }

    private static double ropeNumber(Reader r, JsonNode scaling, String where, String key) {
        JsonNode n = scaling.get(key);
        if (n == null || !n.isNumber()) {
            throw r.error(where, "missing or non-numeric " + where + "." + key);
        }
        return n.asDouble();
    }

    /**
     * Which layers slide. Mistral: all of them when sliding_window is set. Qwen2 (only with use_sliding_window): the
     * config's {@code layer_types} when given (transformers 5 writes it), else layers from {@code max_window_layers}
     * on. A sliding layer with no window attends fully, as in transformers.
     */
    private List<LayerType> layerTypesOf(Reader r) {
        List<LayerType> types = new ArrayList<>();
        JsonNode given = json.get("layer_types");
        if (architecture == Architecture.QWEN2 && given != null && given.isArray()) {
            if (given.size() != numLayers) {
                throw r.error("layer_types", "layer_types has " + given.size() + " entries for " + numLayers
                        + " layers");
            }
            for (JsonNode n : given) {
                switch (n.asText()) {
                    case "full_attention" -> types.add(LayerType.FULL_ATTENTION);
                    case "sliding_attention" -> types.add(slidingWindow == null ? LayerType.FULL_ATTENTION
                            : LayerType.SLIDING_ATTENTION);
                    default -> throw r.error("layer_types", "unsupported layer type " + n);
                }
            }
            return Collections.unmodifiableList(types);
        }
        int firstSliding = architecture == Architecture.QWEN2 ? r.optInt("max_window_layers", 28) : 0;
        for (int i = 0; i < numLayers; i++) {
            types.add(slidingWindow != null && i >= firstSliding ? LayerType.SLIDING_ATTENTION
                    : LayerType.FULL_ATTENTION);
        }
        return Collections.unmodifiableList(types);
    }

    /** Reads keys of one JSON object with error messages that name the file and the key. */
    private static final class Reader {
        private final JsonNode json;
        private final String source;

        Reader(JsonNode json, String source) {
            this.json = json;
            this.source = source;
        }

        IllegalArgumentException error(String key, String message) {
            return new IllegalArgumentException(source + ": " + key + ": " + message);
        }

        boolean has(String key) {
            JsonNode n = json.get(key);
            return n != null && !n.isNull();
        }

        int requiredInt(String key) {
            if (!has(key)) {
                throw error(key, "missing required key '" + key + "'");
            }
            return intValue(key, json.get(key));
        }

        /** A required size: a positive integer (a zero or negative size would fail later, less clearly). */
        int requiredSize(String key) {
            int v = requiredInt(key);
            if (v <= 0) {
                throw error(key, "'" + key + "' must be a positive integer, not " + v);
            }
            return v;
        }

        int optInt(String key, int fallback) {
            return has(key) ? intValue(key, json.get(key)) : fallback;
        }

        /** Absent: the fallback (transformers' default); an explicit null: null (e.g. no sliding window). */
        Integer optInteger(String key, Integer fallback) {
            if (!json.has(key)) {
                return fallback;
            }
            return has(key) ? Integer.valueOf(intValue(key, json.get(key))) : null;
        }

        double optDouble(String key, double fallback) {
            if (!has(key)) {
                return fallback;
            }
            JsonNode n = json.get(key);
            if (!n.isNumber()) {
                throw error(key, "'" + key + "' must be a number, not " + n);
            }
            return n.asDouble();
        }

        boolean optBool(String key, boolean fallback) {
            if (!has(key)) {
                return fallback;
            }
            JsonNode n = json.get(key);
            if (!n.isBoolean()) {
                throw error(key, "'" + key + "' must be true or false, not " + n);
            }
            return n.asBoolean();
        }

        String optString(String key, String fallback) {
            if (!has(key)) {
                return fallback;
            }
            JsonNode n = json.get(key);
            if (!n.isTextual()) {
                throw error(key, "'" + key + "' must be a string, not " + n);
            }
            return n.asText();
        }

        /** An int or a list of ints (eos_token_id may be either). */
        List<Integer> intList(String key, List<Integer> fallback) {
            if (!json.has(key)) {
                return fallback;
            }
            if (!has(key)) {
                return List.of();
            }
            JsonNode n = json.get(key);
            if (n.isArray()) {
                List<Integer> out = new ArrayList<>();
                for (JsonNode e : n) {
                    out.add(intValue(key, e));
                }
                return Collections.unmodifiableList(out);
            }
            return List.of(intValue(key, n));
        }

        private int intValue(String key, JsonNode n) {
            if (!n.isIntegralNumber() && !(n.isNumber() && n.asDouble() == Math.rint(n.asDouble()))) {
                throw error(key, "'" + key + "' must be an integer, not " + n);
            }
            // asInt() would wrap or saturate a value beyond int (vocab_size 1e12 read as 2147483647)
            if (n.isIntegralNumber() ? !n.canConvertToInt()
                    : n.asDouble() > Integer.MAX_VALUE || n.asDouble() < Integer.MIN_VALUE) {
                throw error(key, "'" + key + "' = " + n + " is out of range (at most " + Integer.MAX_VALUE + ")");
            }
            return n.asInt();
        }
    }

    /**
     * Checks token ids against the model's embedding rows, {@code [0, vocab_size)}, before a forward pass would fail
     * with LibTorch's "index out of range in self": an error starting with {@code where} (the file and line or
     * example the ids come from) naming the id and this config's vocab_size.
     */
    public void requireInVocabulary(long[] ids, String where) {
        for (long id : ids) {
            if (id < 0 || id >= vocabSize) {
                throw new IllegalArgumentException(where + ": token id " + id + " is outside the model's vocabulary "
                        + "[0, " + vocabSize + ") (vocab_size of " + source + "): the tokenizer does not match the "
                        + "model");
            }
        }
    }

    /**
     * The number of weights the model has (float64: a config can describe more than a long counts), from the sizes:
     * token (and GPT-2's position) embeddings, the head unless tied, attention and MLP projections, norms; biases
     * are left out (a fraction of a percent).
     */
    public double parameterCount() {
        double[] groups = parameterGroups();
        return groups[0] + groups[1] + groups[2];
    }

    /** {embeddings and head, attention, MLP} weights. */
    private double[] parameterGroups() {
        double h = hiddenSize;
        double layers = numLayers;
        double embeddings = (double) vocabSize * h * (tieWordEmbeddings ? 1 : 2)
                + (architecture == Architecture.GPT2 ? (double) maxPositionEmbeddings * h : 0);
        double attention = layers * (2 * h * numHeads * headDim + 2 * h * numKvHeads * headDim);
        double mlp = layers * (architecture == Architecture.GPT2 ? 2 : 3) * h * intermediateSize;
        double norms = (2 * layers + 1) * h;
        return new double[] {embeddings + norms, attention, mlp};
    }

    /**
     * Checks that the model's float32 weights fit in {@code availableBytes} (a machine's memory) before anything is
     * allocated: a config with absurd sizes (a typo, {@code vocab_size: 1e9}) would otherwise fail deep in LibTorch's
     * allocator, or allocate for minutes. The error names this config file and the size key of the largest part.
     */
    public void requireWeightsFit(double availableBytes) {
        double bytes = parameterCount() * Float.BYTES;
        if (bytes <= availableBytes) {
            return;
        }
        double[] groups = parameterGroups();
        boolean gpt2 = architecture == Architecture.GPT2;
        String hidden = gpt2 ? "n_embd" : "hidden_size";
        String layers = gpt2 ? "n_layer" : "num_hidden_layers";
        String[] keys;
        long[] values;
        String part;
        if (groups[2] >= groups[0] && groups[2] >= groups[1]) {
            part = "the MLPs";
            keys = new String[] {layers, hidden, gpt2 ? "n_inner" : "intermediate_size"};
            values = new long[] {numLayers, hiddenSize, intermediateSize};
        } else if (groups[1] >= groups[0]) {
            part = "attention";
            keys = new String[] {layers, hidden, gpt2 ? "n_head" : "num_attention_heads", "head_dim"};
            values = new long[] {numLayers, hiddenSize, numHeads, headDim};
        } else {
            part = "the embeddings";
            keys = gpt2 ? new String[] {"vocab_size", hidden, "n_positions"} : new String[] {"vocab_size", hidden};
            values = gpt2 ? new long[] {vocabSize, hiddenSize, maxPositionEmbeddings}
                    : new long[] {vocabSize, hiddenSize};
        }
        int largest = 0;
        StringBuilder sizes = new StringBuilder();
        for (int i = 0; i < keys.length; i++) {
            if (values[i] > values[largest]) {
                largest = i;
            }
            sizes.append(i == 0 ? "" : " x ").append(keys[i]).append(' ').append(values[i]);
        }
        throw new IllegalArgumentException(String.format(Locale.ROOT, "%s: %s: %d makes the model's float32 weights "
                + "%s (most of it %s: %s), more than this machine's %s of memory", source, keys[largest],
                values[largest], bytesInWords(bytes), part, sizes, bytesInWords(availableBytes)));
    }

    private static String bytesInWords(double bytes) {
        String[] units = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
        int u = 0;
        while (bytes >= 1024 && u < units.length - 1) {
            bytes /= 1024;
            u++;
        }
        return u == 0 ? String.format(Locale.ROOT, "%.0f bytes", bytes)
                : String.format(Locale.ROOT, "%.1f %s", bytes, units[u]);
    }

    /** The original config.json text, byte for byte as read (to save a model folder back unchanged). */
    public String text() {
        return text;
    }

    /** A copy of the original JSON tree, including keys this class does not interpret. */
    public JsonNode json() {
        return json.deepCopy();
    }

    /** Where the config came from (a file path), as error messages cite it. */
    public String source() {
        return source;
    }

    public Architecture architecture() {
        return architecture;
    }

    public int vocabSize() {
        return vocabSize;
    }

    public int hiddenSize() {
        return hiddenSize;
    }

    /** MLP width: {@code intermediate_size}, GPT-2's {@code n_inner} or 4 x hidden. */
    public int intermediateSize() {
        return intermediateSize;
    }

    public int numLayers() {
        return numLayers;
    }

    public int numHeads() {
        return numHeads;
    }

    /** Key/value heads (grouped-query attention); equal to {@link #numHeads()} for GPT-2. */
    public int numKvHeads() {
        return numKvHeads;
    }

    public int headDim() {
        return headDim;
    }

    /** RMSNorm eps ({@code rms_norm_eps}) or GPT-2's LayerNorm eps ({@code layer_norm_epsilon}). */
    public double normEps() {
        return normEps;
    }

    /** Rotary settings; null for GPT-2 (learned positions). */
    public Rope rope() {
        return rope;
    }

    public double ropeTheta() {
        return rope == null ? Double.NaN : rope.theta();
    }

    public int maxPositionEmbeddings() {
        return maxPositionEmbeddings;
    }

    public boolean tieWordEmbeddings() {
        return tieWordEmbeddings;
    }

    /** Bias on the q/k/v (and, for Llama's attention_bias, o) projections. Qwen2: q/k/v only; GPT-2: all. */
    public boolean attentionBias() {
        return attentionBias;
    }

    public boolean mlpBias() {
        return mlpBias;
    }

    /** Sliding attention window (keys a query sees, itself included), or empty when attention is full. */
    public OptionalInt slidingWindow() {
        return slidingWindow == null ? OptionalInt.empty() : OptionalInt.of(slidingWindow);
    }

    /** Per-layer attention pattern (sliding layers use {@link #slidingWindow()}). */
    public List<LayerType> layerTypes() {
        return layerTypes;
    }

    /** The activation name as the config gives it ({@code hidden_act} or GPT-2's {@code activation_function}). */
    public String hiddenAct() {
        return hiddenAct;
    }

    public OptionalInt bosTokenId() {
        return bosTokenId == null ? OptionalInt.empty() : OptionalInt.of(bosTokenId);
    }

    /** End-of-sequence ids ({@code eos_token_id} may be one int or a list); possibly empty. */
    public List<Integer> eosTokenIds() {
        return eosTokenIds;
    }

    public OptionalInt padTokenId() {
        return padTokenId == null ? OptionalInt.empty() : OptionalInt.of(padTokenId);
    }

    /** Standard deviation of the random initialization ({@code initializer_range}, default 0.02). */
    public double initializerRange() {
        return initializerRange;
    }

    /** Dropout on attention probabilities in training mode ({@code attention_dropout}, GPT-2's {@code attn_pdrop}). */
    public double attentionDropout() {
        return attentionDropout;
    }

    /** GPT-2's {@code resid_pdrop}: dropout on the attention and MLP outputs in training mode (0 for the others). */
    public double residualDropout() {
        return residualDropout;
    }

    /** GPT-2's {@code embd_pdrop}: dropout on token + position embeddings in training mode (0 for the others). */
    public double embeddingDropout() {
        return embeddingDropout;
    }

    @Override
    public String toString() {
        return String.format(Locale.ROOT, "%s(vocab=%d, hidden=%d, intermediate=%d, layers=%d, heads=%d, kvHeads=%d, "
                        + "headDim=%d, eps=%g, rope=%s, maxPos=%d, tied=%b, act=%s, slidingWindow=%s) from %s",
                architecture, vocabSize, hiddenSize, intermediateSize, numLayers, numHeads, numKvHeads, headDim,
                normEps, rope, maxPositionEmbeddings, tieWordEmbeddings, hiddenAct, slidingWindow, source);
    }
}
