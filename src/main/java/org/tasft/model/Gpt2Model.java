package org.tasft.model;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.function.UnaryOperator;

import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;

/**
 * GPT-2 as transformers 5 implements it ({@code GPT2LMHeadModel}): token + learned position embeddings, pre-norm
 * blocks of LayerNorm + multi-head attention (fused q/k/v projection {@code c_attn}) and LayerNorm + MLP
 * ({@code c_fc}, gelu_new, {@code c_proj}), a final LayerNorm and the LM head tied to the token embedding.
 * Projections are {@code Conv1D}s whose weights are stored [in, out], as in the checkpoint.
 *
 * <p>Parameter names: {@code transformer.wte.weight}, {@code transformer.wpe.weight},
 * {@code transformer.h.{i}.ln_1.{weight,bias}}, {@code .attn.c_attn.{weight,bias}}, {@code .attn.c_proj.*},
 * {@code .ln_2.*}, {@code .mlp.c_fc.*}, {@code .mlp.c_proj.*}, {@code transformer.ln_f.{weight,bias}}; the head has no
 * name of its own when tied (the GPT-2 default), {@code lm_head.weight} otherwise.
 */
public final class Gpt2Model implements CausalLm {
    private final ModelConfig config;
    private final Module root = new Module();
    /** The plain container modules ("transformer", "transformer.h"), held so they stay reachable (see {@link Part}). */
    private final Module transformerModule;
    private final Module blocksModule;
    private final Embedding wte;
    private final Embedding wpe;
    private final List<Block> blocks = new ArrayList<>();
    private final LayerNorm lnF;
    private final Tensor lmHead;
    /** the untied head (null when tied), held so its module stays reachable */
    private final Linear headPart;
    /** Activation checkpointing per block, or null when off. */
    private LayerCheckpointing checkpointing;

    Gpt2Model(ModelConfig config) {
        if (config.architecture() != ModelConfig.Architecture.GPT2) {
            throw new IllegalArgumentException(config.source() + ": " + config.architecture()
                    + " configs build a LlamaModel");
        }
        this.config = config;
        UnaryOperator<Tensor> act = Activations.byName(config.hiddenAct(), config.source());
        Module transformer = transformerModule = root.register_module("transformer", new Module());
        wte = Part.attach(transformer, "wte", new Embedding(config.vocabSize(), config.hiddenSize(), -1));
        wpe = Part.attach(transformer, "wpe",
                new Embedding(config.maxPositionEmbeddings(), config.hiddenSize(), -1));
        Module h = blocksModule = transformer.register_module("h", new Module());
        for (int i = 0; i < config.numLayers(); i++) {
            blocks.add(Part.attach(h, Integer.toString(i), new Block(config, i, act)));
        }
        lnF = Part.attach(transformer, "ln_f", new LayerNorm(config.hiddenSize(), config.normEps()));
        if (config.tieWordEmbeddings()) {
            headPart = null;
            lmHead = wte.weight;
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
        // The limit is on position ids, not columns: a left-padded batch is wider than its sequences' positions.
        long needed = attentionMask == null ? past + seq
                : positions.numel() == 0 ? 0 : positions.max().item_long() + 1;
        if (needed > config.maxPositionEmbeddings()) {
            throw new IllegalArgumentException("GPT-2 has learned positions for " + config.maxPositionEmbeddings()
                    + " tokens (n_positions); asked for " + needed);
        }
        Tensor allowed = CausalAttention.allowed(attentionMask, past, seq, 0, inputIds.device());
        boolean training = root.is_training();
        Dropouts p = training ? new Dropouts(config.attentionDropout(), config.residualDropout()) : Dropouts.NONE;
        Tensor h = wte.forward(inputIds).add(wpe.forward(positions));
        if (training) {
            h = CausalAttention.dropout(h, config.embeddingDropout());
        }
        if (checkpointing != null && kv == null && LayerCheckpointing.applies(training)) {
            List<UnaryOperator<Tensor>> deferred = new ArrayList<>();
            for (Block block : blocks) {
                deferred.add(x -> block.forward(x, allowed, null, p));
            }
            h = checkpointing.forward(h, deferred);
        } else {
            for (Block block : blocks) {
                if (kv == null) {
                    Tensor in = h;
                    h = ForwardScope.keepOnly(() -> block.forward(in, allowed, null, p));
                } else {
                    h = block.forward(h, allowed, kv, p);
                }
            }
        }
        if (kv != null) {
            kv.advance(seq);
        }
        return lnF.forward(h);
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
        return new DynamicKvCache(this, blocks.size());
    }

    @Override
    public LinkedHashMap<String, Tensor> stateDict() {
        return Models.namedParameters(root);
    }

    @Override
    public LinkedHashMap<String, LinearLayer> linearLayers() {
        LinkedHashMap<String, LinearLayer> out = new LinkedHashMap<>();
        for (Block block : blocks) {
            String p = "transformer.h." + block.index + ".";
            out.put(p + "attn.c_attn", block.attn.cAttn);
            out.put(p + "attn.c_proj", block.attn.cProj);
            out.put(p + "mlp.c_fc", block.mlp.cFc);
            out.put(p + "mlp.c_proj", block.mlp.cProj);
        }
        return out;
    }

    @Override
    public Tensor inputEmbeddingWeight() {
        return wte.weight;
    }

    @Override
    public Tensor lmHeadWeight() {
        return lmHead;
    }

    @Override
    public Module module() {
        return root;
    }

    /** Dropout probabilities of one forward: GPT-2's attn_pdrop and resid_pdrop in training mode, else none. */
    private record Dropouts(double attention, double residual) {
        static final Dropouts NONE = new Dropouts(0, 0);
    }

    private static final class Block extends Part {
        final int index;
        final LayerNorm ln1;
        final Attention attn;
        final LayerNorm ln2;
        final Mlp mlp;

        Block(ModelConfig config, int index, UnaryOperator<Tensor> act) {
            this.index = index;
            ln1 = child("ln_1", new LayerNorm(config.hiddenSize(), config.normEps()));
            attn = child("attn", new Attention(config, index));
            ln2 = child("ln_2", new LayerNorm(config.hiddenSize(), config.normEps()));
            mlp = child("mlp", new Mlp(config, act));
        }

        Tensor forward(Tensor h, Tensor allowed, DynamicKvCache cache, Dropouts p) {
            h = attn.forward(ln1.forward(h), allowed, cache, p).add(h);
            return CausalAttention.dropout(mlp.forward(ln2.forward(h)), p.residual()).add(h);
        }
    }

    private static final class Attention extends Part {
        final int layer;
        final int heads;
        final int headDim;
        final long hidden;
        final double divisor;
        final Conv1d cAttn;
        final Conv1d cProj;

        Attention(ModelConfig config, int layer) {
            this.layer = layer;
            this.heads = config.numHeads();
            this.headDim = config.headDim();
            this.hidden = config.hiddenSize();
            this.divisor = Math.sqrt(headDim);
            cAttn = child("c_attn", new Conv1d(hidden, 3 * hidden));
            cProj = child("c_proj", new Conv1d(hidden, hidden));
        }

        Tensor forward(Tensor h, Tensor allowed, DynamicKvCache cache, Dropouts p) {
            long b = h.size(0);
            long s = h.size(1);
            TensorVector qkv = cAttn.forward(h).split(hidden, 2);
            Tensor q = qkv.get(0).view(b, s, -1, headDim).transpose(1, 2);
            Tensor k = qkv.get(1).view(b, s, -1, headDim).transpose(1, 2);
            Tensor v = qkv.get(2).view(b, s, -1, headDim).transpose(1, 2);
            if (cache != null) {
                Tensor[] kvAll = cache.append(layer, k, v);
                k = kvAll[0];
                v = kvAll[1];
            }
            Tensor out = cProj.forward(CausalAttention.attend(q, k, v, allowed, divisor, true, p.attention()));
            return CausalAttention.dropout(out, p.residual());
        }
    }

    private static final class Mlp extends Part {
        final Conv1d cFc;
        final Conv1d cProj;
        final UnaryOperator<Tensor> act;

        Mlp(ModelConfig config, UnaryOperator<Tensor> act) {
            this.act = act;
            cFc = child("c_fc", new Conv1d(config.hiddenSize(), config.intermediateSize()));
            cProj = child("c_proj", new Conv1d(config.intermediateSize(), config.hiddenSize()));
        }

        Tensor forward(Tensor x) {
            return cProj.forward(act.apply(cFc.forward(x)));
        }
    }
}
