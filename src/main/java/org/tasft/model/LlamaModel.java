package org.tasft.model;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.function.UnaryOperator;

import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * The Llama family as transformers 5 implements it ({@code LlamaForCausalLM}, {@code MistralForCausalLM},
 * {@code Qwen2ForCausalLM}): token embedding, decoder layers of pre-norm RMSNorm + grouped-query attention with
 * rotary embeddings + pre-norm RMSNorm + gated MLP, a final RMSNorm and the LM head (tied to the embedding or not).
 *
 * <p>The differences are config switches: Qwen2 has biases on the q/k/v projections; Mistral (and Qwen2 with
 * {@code use_sliding_window}) let sliding-attention layers see only the last {@code sliding_window} positions;
 * Llama's {@code attention_bias} / {@code mlp_bias} add biases to all attention / MLP projections.
 *
 * <p>Module tree and parameter names follow transformers exactly: {@code model.embed_tokens.weight},
 * {@code model.layers.{i}.self_attn.{q,k,v,o}_proj.weight(/bias)}, {@code model.layers.{i}.mlp.{gate,up,down}_proj
 * .weight}, {@code model.layers.{i}.input_layernorm.weight}, {@code model.layers.{i}.post_attention_layernorm.weight},
 * {@code model.norm.weight}, {@code lm_head.weight} (absent when tied).
 */
public final class LlamaModel implements CausalLm {
    private final ModelConfig config;
    private final Module root = new Module();
    /** The plain container modules ("model", "model.layers"), held so they stay reachable (see {@link Part}). */
    private final Module baseModule;
    private final Module layersModule;
    private final Embedding embedTokens;
    private final List<DecoderLayer> layers = new ArrayList<>();
    private final RmsNorm norm;
    private final RotaryEmbedding rotary;
    private final Tensor lmHead;
    /** the untied head (null when tied), held so its module stays reachable */
    private final Linear headPart;
    /** Activation checkpointing per decoder layer, or null when off. */
    private LayerCheckpointing checkpointing;

    /** A model with uninitialized weights: {@link Models} loads or initializes them. */
    LlamaModel(ModelConfig config) {
        if (config.architecture() == ModelConfig.Architecture.GPT2) {
            throw new IllegalArgumentException(config.source() + ": GPT-2 configs build a Gpt2Model");
        }
        this.config = config;
        UnaryOperator<Tensor> act = Activations.byName(config.hiddenAct(), config.source());
        Module model = baseModule = root.register_module("model", new Module());
        int pad = config.padTokenId().orElse(-1);
        embedTokens = Part.attach(model, "embed_tokens", new Embedding(config.vocabSize(), config.hiddenSize(),
                pad >= 0 && pad < config.vocabSize() ? pad : -1));
        Module layerList = layersModule = model.register_module("layers", new Module());
        for (int i = 0; i < config.numLayers(); i++) {
            layers.add(Part.attach(layerList, Integer.toString(i), new DecoderLayer(config, i, act)));
        }
        norm = Part.attach(model, "norm", new RmsNorm(config.hiddenSize(), config.normEps()));
        rotary = Part.attach(model, "rotary_emb", new RotaryEmbedding(config));
        if (config.tieWordEmbeddings()) {
            headPart = null;
            lmHead = embedTokens.weight;
        } else {
            headPart = Part.attach(root, "lm_head", new Linear(config.hiddenSize(), config.vocabSize(), false));
            lmHead = headPart.weight;
        }
    }

    @Override
    public ModelConfig config() {
        return config;
    }

    @Override
    public Tensor forward(Tensor inputIds, Tensor attentionMask, KvCache cache) {
        // in the weights' dtype: a bf16 model's [tokens, vocab] logits are never widened here
        return DenseProduct.linear(trunk(inputIds, attentionMask, cache), lmHead, null);
    }

    @Override
    public boolean exposesHiddenStates() {
        return true;
    }

    @Override
    public Tensor hiddenStates(Tensor inputIds, Tensor attentionMask) {
        return trunk(inputIds, attentionMask, null).to(torch.ScalarType.Float);
    }

    /** Everything but the LM head: the final norm's output [batch, seq, hidden]. */
    private Tensor trunk(Tensor inputIds, Tensor attentionMask, KvCache cache) {
        DynamicKvCache kv = cache == null ? null : DynamicKvCache.of(cache, this);
        long past = kv == null ? 0 : kv.length();
        CausalAttention.checkMask(inputIds, attentionMask, past);
        long seq = inputIds.size(1);
        Tensor positions = CausalAttention.positionIds(inputIds, attentionMask, past);
        double dropout = root.is_training() ? config.attentionDropout() : 0.0;
        Tensor h = embedTokens.forward(inputIds);
        Tensor[] cosSin = rotary.cosSin(positions, h.scalar_type().intern());
        Tensor full = null;
        Tensor sliding = null;
        boolean checkpoint = checkpointing != null && kv == null && LayerCheckpointing.applies(root.is_training());
        List<UnaryOperator<Tensor>> deferred = checkpoint ? new ArrayList<>() : null;
        for (DecoderLayer layer : layers) {
            Tensor allowed;
            if (layer.slidingWindow > 0) {
                if (sliding == null) {
                    sliding = CausalAttention.allowed(attentionMask, past, seq, layer.slidingWindow, inputIds.device());
                }
                allowed = sliding;
            } else {
                if (full == null) {
                    full = CausalAttention.allowed(attentionMask, past, seq, 0, inputIds.device());
                }
                allowed = full;
            }
            if (checkpoint) {
                Tensor mask = allowed;
                deferred.add(x -> layer.forward(x, cosSin[0], cosSin[1], mask, null, dropout));
            } else if (kv == null) {
                Tensor in = h;
                Tensor mask = allowed;
                h = ForwardScope.keepOnly(() -> layer.forward(in, cosSin[0], cosSin[1], mask, null, dropout));
            } else {
                h = layer.forward(h, cosSin[0], cosSin[1], allowed, kv, dropout);
            }
        }
        if (checkpoint) {
            h = checkpointing.forward(h, deferred);
        }
        if (kv != null) {
            kv.advance(seq);
        }
        return norm.forward(h);
    }

    @Override
    public void gradientCheckpointing(boolean on) {
        checkpointing = on ? new LayerCheckpointing() : null;
    }

    @Override
    public boolean gradientCheckpointing() {
        return checkpointing != null;
    }

    @Override
    public void backwardCheckpointedLayers() {
        if (checkpointing != null) {
            checkpointing.backward();
        }
    }

    @Override
    public KvCache newCache() {
        return new DynamicKvCache(this, layers.size());
    }

    @Override
    public LinkedHashMap<String, Tensor> stateDict() {
        return Models.namedParameters(root);
    }

    @Override
    public LinkedHashMap<String, LinearLayer> linearLayers() {
        LinkedHashMap<String, LinearLayer> out = new LinkedHashMap<>();
        for (DecoderLayer layer : layers) {
            String p = "model.layers." + layer.index + ".";
            out.put(p + "self_attn.q_proj", layer.selfAttn.qProj);
            out.put(p + "self_attn.k_proj", layer.selfAttn.kProj);
            out.put(p + "self_attn.v_proj", layer.selfAttn.vProj);
            out.put(p + "self_attn.o_proj", layer.selfAttn.oProj);
            out.put(p + "mlp.gate_proj", layer.mlp.gateProj);
            out.put(p + "mlp.up_proj", layer.mlp.upProj);
            out.put(p + "mlp.down_proj", layer.mlp.downProj);
        }
        return out;
    }

    @Override
    public Tensor inputEmbeddingWeight() {
        return embedTokens.weight;
    }

    @Override
    public Tensor lmHeadWeight() {
        return lmHead;
    }

    @Override
    public Module module() {
        return root;
    }

    /** The rotary embedding's current inverse frequencies [headDim / 2] (dynamic scaling changes them). */
    public Tensor rotaryInverseFrequencies() {
        return rotary.currentInverseFrequencies();
    }

    /** One decoder layer: {@code h + attn(norm(h))}, then {@code h + mlp(norm(h))}. */
    private static final class DecoderLayer extends Part {
        final int index;
        final int slidingWindow;
        final Attention selfAttn;
        final Mlp mlp;
        final RmsNorm inputLayernorm;
        final RmsNorm postAttentionLayernorm;

        DecoderLayer(ModelConfig config, int index, UnaryOperator<Tensor> act) {
            this.index = index;
            this.slidingWindow = config.layerTypes().get(index) == ModelConfig.LayerType.SLIDING_ATTENTION
                    ? config.slidingWindow().getAsInt() : 0;
            selfAttn = child("self_attn", new Attention(config, index));
            mlp = child("mlp", new Mlp(config, act));
            inputLayernorm = child("input_layernorm", new RmsNorm(config.hiddenSize(), config.normEps()));
            postAttentionLayernorm = child("post_attention_layernorm",
                    new RmsNorm(config.hiddenSize(), config.normEps()));
        }

        Tensor forward(Tensor h, Tensor cos, Tensor sin, Tensor allowed, DynamicKvCache cache, double dropout) {
            Tensor residual = h;
            h = selfAttn.forward(inputLayernorm.forward(h), cos, sin, allowed, cache, dropout);
            h = residual.add(h);
            residual = h;
            h = mlp.forward(postAttentionLayernorm.forward(h));
            return residual.add(h);
        }
    }

    private static final class Attention extends Part {
        final int layer;
        final int heads;
        final int kvHeads;
        final int headDim;
        final double scaling;
        final Linear qProj;
        final Linear kProj;
        final Linear vProj;
        final Linear oProj;

        Attention(ModelConfig config, int layer) {
            this.layer = layer;
            this.heads = config.numHeads();
            this.kvHeads = config.numKvHeads();
            this.headDim = config.headDim();
            this.scaling = Math.pow(headDim, -0.5);
            boolean qkvBias = config.attentionBias();
            // Qwen2: bias on q, k, v only; Llama's attention_bias: on all four
            boolean oBias = config.attentionBias() && config.architecture() == ModelConfig.Architecture.LLAMA;
            long hidden = config.hiddenSize();
            qProj = child("q_proj", new Linear(hidden, (long) heads * headDim, qkvBias));
            kProj = child("k_proj", new Linear(hidden, (long) kvHeads * headDim, qkvBias));
            vProj = child("v_proj", new Linear(hidden, (long) kvHeads * headDim, qkvBias));
            oProj = child("o_proj", new Linear((long) heads * headDim, hidden, oBias));
        }

        Tensor forward(Tensor h, Tensor cos, Tensor sin, Tensor allowed, DynamicKvCache cache, double dropout) {
            long b = h.size(0);
            long s = h.size(1);
            Tensor q = qProj.forward(h).view(b, s, -1, headDim).transpose(1, 2);
            Tensor k = kProj.forward(h).view(b, s, -1, headDim).transpose(1, 2);
            Tensor v = vProj.forward(h).view(b, s, -1, headDim).transpose(1, 2);
            q = RotaryEmbedding.apply(q, cos, sin);
            k = RotaryEmbedding.apply(k, cos, sin);
            if (cache != null) {
                Tensor[] kvAll = cache.append(layer, k, v);
                k = kvAll[0];
                v = kvAll[1];
            }
            return oProj.forward(CausalAttention.attend(q, k, v, allowed, scaling, false, dropout));
        }
    }

    private static final class Mlp extends Part {
        final Linear gateProj;
        final Linear upProj;
        final Linear downProj;
        final UnaryOperator<Tensor> act;

        Mlp(ModelConfig config, UnaryOperator<Tensor> act) {
            this.act = act;
            boolean bias = config.mlpBias();
            gateProj = child("gate_proj", new Linear(config.hiddenSize(), config.intermediateSize(), bias));
            upProj = child("up_proj", new Linear(config.hiddenSize(), config.intermediateSize(), bias));
            downProj = child("down_proj", new Linear(config.intermediateSize(), config.hiddenSize(), bias));
        }

        Tensor forward(Tensor x) {
            return downProj.forward(act.apply(gateProj.forward(x)).mul(upProj.forward(x)));
        }
    }
}
