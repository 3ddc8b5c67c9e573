package org.tasft.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tasft.model.TinyModels.maxAbsDiff;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import com.fasterxml.jackson.databind.node.ObjectNode;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tasft.checkpoint.CheckpointException;
import org.tasft.checkpoint.TensorInfo;
import org.tasft.checkpoint.TensorSource;
import org.tasft.testing.TensorAssert;

/** Loading weights by name: Hugging Face names and order, and an error naming the tensor for every mismatch. */
class ModelsTest {
    /** A TensorSource over a map, counting what was loaded and whether it was closed. */
    static final class MapSource implements TensorSource {
        final LinkedHashMap<String, Tensor> tensors;
        final List<String> loaded = new ArrayList<>();
        boolean closed;

        MapSource(Map<String, Tensor> tensors) {
            this.tensors = new LinkedHashMap<>(tensors);
        }

        @Override
        public Set<String> names() {
            return tensors.keySet();
        }

        @Override
        public TensorInfo info(String name) {
            return new TensorInfo(name, "F32", TensorAssert.shape(tensors.get(name)), Path.of("model.safetensors"));
        }

        @Override
        public Tensor load(String name) {
            loaded.add(name);
            return tensors.get(name).clone();
        }

        @Override
        public void close() {
            closed = true;
        }
    }

    private static LinkedHashMap<String, Tensor> detachedCopy(CausalLm model) {
        LinkedHashMap<String, Tensor> out = new LinkedHashMap<>();
        model.stateDict().forEach((n, t) -> out.put(n, t.detach().clone()));
        return out;
    }

    private static CausalLm reload(ObjectNode json, Map<String, Tensor> tensors) {
        return Models.fromTensors(TinyModels.config(json), tensors::get, tensors.keySet());
    }

    @Test
    void llamaNamesAndOrderAreTransformers() {
        ObjectNode json = TinyModels.qwen2(4, 2);
        json.put("num_hidden_layers", 1);
        List<String> names = new ArrayList<>(TinyModels.model(json, 1).stateDict().keySet());
        assertEquals(List.of("model.embed_tokens.weight",
                "model.layers.0.self_attn.q_proj.weight", "model.layers.0.self_attn.q_proj.bias",
                "model.layers.0.self_attn.k_proj.weight", "model.layers.0.self_attn.k_proj.bias",
                "model.layers.0.self_attn.v_proj.weight", "model.layers.0.self_attn.v_proj.bias",
                "model.layers.0.self_attn.o_proj.weight",
                "model.layers.0.mlp.gate_proj.weight", "model.layers.0.mlp.up_proj.weight",
                "model.layers.0.mlp.down_proj.weight",
                "model.layers.0.input_layernorm.weight", "model.layers.0.post_attention_layernorm.weight",
                "model.norm.weight", "lm_head.weight"), names);
    }

    @Test
    void gpt2NamesShapesAndTiedHead() {
        CausalLm model = TinyModels.model(TinyModels.gpt2(), 1);
        LinkedHashMap<String, Tensor> sd = model.stateDict();
        assertEquals("transformer.wte.weight", sd.keySet().iterator().next());
        assertFalse(sd.containsKey("lm_head.weight"));
        assertArrayEquals(new long[] {48, 144}, TensorAssert.shape(sd.get("transformer.h.0.attn.c_attn.weight")));
        assertArrayEquals(new long[] {48, 192}, TensorAssert.shape(sd.get("transformer.h.1.mlp.c_fc.weight")));
        assertArrayEquals(new long[] {64, 48}, TensorAssert.shape(sd.get("transformer.wpe.weight")));
        assertEquals(2 + 2 * 12 + 2, sd.size());
        assertTrue(model.lmHeadWeight().is_same(model.inputEmbeddingWeight()));
        assertEquals(sd.size(), model.module().parameters().size());
    }

    @Test
    void tiedLlamaHasNoHeadParameter() {
        ObjectNode json = TinyModels.llama(4, 2);
        json.put("tie_word_embeddings", true);
        CausalLm model = TinyModels.model(json, 1);
        assertFalse(model.stateDict().containsKey("lm_head.weight"));
        assertTrue(model.lmHeadWeight().is_same(model.inputEmbeddingWeight()));
    }

    @Test
    void roundTripThroughTensorSourceGivesTheSameModel() {
        ObjectNode json = TinyModels.mistral(4, 2, 3);
        CausalLm model = TinyModels.model(json, 5);
        MapSource source = new MapSource(detachedCopy(model));
        CausalLm copy = Models.fromTensors(TinyModels.config(json), source);
        assertEquals(new ArrayList<>(source.names()), source.loaded);
        Tensor ids = TinyModels.ids(3, 2, 7);
        try (NoGradGuard g = new NoGradGuard()) {
            assertEquals(0.0, maxAbsDiff(copy.forward(ids), model.forward(ids)));
        }
    }

    @Test
    void loadReadsConfigAndClosesTheSource(@TempDir Path dir) throws Exception {
        ObjectNode json = TinyModels.gpt2();
        Files.writeString(dir.resolve("config.json"), json.toString());
        CausalLm model = TinyModels.model(json, 2);
        MapSource source = new MapSource(detachedCopy(model));
        CausalLm loaded = Models.load(dir, d -> {
            assertEquals(dir, d);
            return source;
        });
        assertTrue(source.closed);
        assertEquals(dir.resolve("config.json").toString(), loaded.config().source());
        Tensor ids = TinyModels.ids(3, 1, 5);
        try (NoGradGuard g = new NoGradGuard()) {
            assertEquals(0.0, maxAbsDiff(loaded.forward(ids), model.forward(ids)));
        }
    }

    @Test
    void missingTensorIsNamed() {
        ObjectNode json = TinyModels.llama(4, 2);
        LinkedHashMap<String, Tensor> tensors = detachedCopy(TinyModels.model(json, 1));
        tensors.remove("model.layers.1.mlp.up_proj.weight");
        String m = assertThrows(CheckpointException.class, () -> reload(json, tensors)).getMessage();
        assertTrue(m.contains("model.layers.1.mlp.up_proj.weight") && m.contains("lacks"), m);
    }

    @Test
    void unexpectedTensorIsNamed() {
        ObjectNode json = TinyModels.llama(4, 2);
        LinkedHashMap<String, Tensor> tensors = detachedCopy(TinyModels.model(json, 1));
        tensors.put("model.layers.0.self_attn.q_norm.weight", torch.ones(16));
        String m = assertThrows(CheckpointException.class, () -> reload(json, tensors)).getMessage();
        assertTrue(m.contains("model.layers.0.self_attn.q_norm.weight"), m);
    }

    @Test
    void shapeMismatchIsNamedBeforeLoading() {
        ObjectNode json = TinyModels.llama(4, 2);
        LinkedHashMap<String, Tensor> tensors = detachedCopy(TinyModels.model(json, 1));
        tensors.put("model.layers.0.self_attn.k_proj.weight", torch.zeros(64, 64));
        MapSource source = new MapSource(tensors);
        String m = assertThrows(CheckpointException.class,
                () -> Models.fromTensors(TinyModels.config(json), source)).getMessage();
        assertTrue(m.contains("model.layers.0.self_attn.k_proj.weight") && m.contains("[64, 64]")
                && m.contains("[32, 64]"), m);
        assertFalse(source.loaded.contains("model.layers.0.self_attn.k_proj.weight"));
        m = assertThrows(CheckpointException.class, () -> reload(json, tensors)).getMessage();
        assertTrue(m.contains("model.layers.0.self_attn.k_proj.weight"), m);
    }

    @Test
    void buffersTransformersIgnoresAreIgnored() {
        ObjectNode llama = TinyModels.llama(4, 2);
        llama.put("tie_word_embeddings", true);
        CausalLm model = TinyModels.model(llama, 1);
        LinkedHashMap<String, Tensor> tensors = detachedCopy(model);
        tensors.put("model.layers.0.self_attn.rotary_emb.inv_freq", torch.ones(8));
        tensors.put("model.rotary_emb.inv_freq", torch.ones(8));
        tensors.put("lm_head.weight", tensors.get("model.embed_tokens.weight").clone());
        CausalLm copy = reload(llama, tensors);
        assertEquals(0.0, maxAbsDiff(copy.inputEmbeddingWeight(), model.inputEmbeddingWeight()));

        ObjectNode gpt2 = TinyModels.gpt2();
        LinkedHashMap<String, Tensor> g = detachedCopy(TinyModels.model(gpt2, 1));
        g.put("transformer.h.0.attn.bias", torch.ones(1, 1, 64, 64));
        g.put("transformer.h.1.attn.masked_bias", torch.ones(1));
        reload(gpt2, g);
    }

    /** The original gpt2 checkpoints name tensors without the base-model prefix ("h.0.attn.c_attn.weight"). */
    @Test
    void gpt2WithoutTransformerPrefix() {
        ObjectNode json = TinyModels.gpt2();
        CausalLm model = TinyModels.model(json, 4);
        LinkedHashMap<String, Tensor> bare = new LinkedHashMap<>();
        detachedCopy(model).forEach((n, t) -> bare.put(n.substring("transformer.".length()), t));
        CausalLm copy = reload(json, bare);
        Tensor ids = TinyModels.ids(3, 1, 5);
        try (NoGradGuard g = new NoGradGuard()) {
            assertEquals(0.0, maxAbsDiff(copy.forward(ids), model.forward(ids)));
        }
    }

    @Test
    void tiedEmbeddingSavedOnlyAsHead() {
        ObjectNode json = TinyModels.llama(4, 2);
        json.put("tie_word_embeddings", true);
        LinkedHashMap<String, Tensor> tensors = detachedCopy(TinyModels.model(json, 1));
        Tensor embed = tensors.remove("model.embed_tokens.weight");
        tensors.put("lm_head.weight", embed);
        assertEquals(0.0, maxAbsDiff(reload(json, tensors).lmHeadWeight(), embed));
    }

    @Test
    void randomInitializationFollowsTransformers() {
        ObjectNode json = TinyModels.llama(4, 2);
        CausalLm a = Models.create(TinyModels.config(json), 42);
        CausalLm b = Models.create(TinyModels.config(json), 42);
        assertEquals(0.0, maxAbsDiff(a.inputEmbeddingWeight(), b.inputEmbeddingWeight()));
        assertEquals(0.0, torch.abs(a.inputEmbeddingWeight().select(0, 2)).sum().item_double()); // pad row
        assertEquals(1.0, a.stateDict().get("model.norm.weight").mean().item_double());
        double std = Math.sqrt(a.stateDict().get("model.layers.0.mlp.up_proj.weight").var().item_double());
        assertEquals(0.2, std, 0.02);
    }

    /** Models come in eval mode, as from_pretrained; train() turns on the dropouts the config asks for. */
    @Test
    void trainModeAppliesTheConfigsDropout() {
        Tensor ids = TinyModels.ids(3, 2, 6);
        CausalLm gpt2 = TinyModels.model(TinyModels.gpt2(), 1); // attn/resid/embd_pdrop default 0.1
        assertFalse(gpt2.module().is_training());
        Tensor eval = gpt2.forward(ids);
        assertEquals(0.0, maxAbsDiff(gpt2.forward(ids), eval));
        gpt2.module().train(true);
        assertTrue(maxAbsDiff(gpt2.forward(ids), eval) > 1e-3);
        gpt2.module().eval();
        assertEquals(0.0, maxAbsDiff(gpt2.forward(ids), eval));

        CausalLm llama = TinyModels.model(TinyModels.llama(4, 2), 1); // attention_dropout 0.0
        Tensor l = llama.forward(ids);
        llama.module().train(true);
        assertEquals(0.0, maxAbsDiff(llama.forward(ids), l));
        ObjectNode dropping = TinyModels.llama(4, 2);
        dropping.put("attention_dropout", 0.5);
        CausalLm d = TinyModels.model(dropping, 1);
        Tensor dl = d.forward(ids);
        d.module().train(true);
        assertTrue(maxAbsDiff(d.forward(ids), dl) > 1e-3);
    }

    @Test
    void embeddingPaddingRowGetsNoGradient() {
        // transformers builds the Llama embedding with padding_idx = pad_token_id: that row's gradient is zero
        CausalLm model = TinyModels.model(TinyModels.llama(4, 2), 3);
        Tensor ids = TinyModels.ids(1, 1, 6);
        ids.select(1, 2).fill_(new Scalar(2L));
        model.forward(ids).sum().backward();
        Tensor grad = model.inputEmbeddingWeight().grad();
        assertEquals(0.0, torch.abs(grad.select(0, 2)).sum().item_double());
        assertTrue(torch.abs(grad.select(0, ids.select(1, 0).item_long())).sum().item_double() > 0);
    }

    @Test
    void wrongCacheOrMaskIsRefused() {
        CausalLm model = TinyModels.model(TinyModels.llama(4, 2), 3);
        Tensor ids = TinyModels.ids(1, 2, 4);
        Tensor shortMask = torch.ones(2, 3).to(torch.ScalarType.Long);
        assertThrows(IllegalArgumentException.class, () -> model.forward(ids, shortMask, null));
        CausalLm gpt2 = TinyModels.model(TinyModels.gpt2(), 3);
        assertThrows(IllegalArgumentException.class, () -> model.forward(ids, null, gpt2.newCache()));
        assertThrows(IllegalArgumentException.class, () -> gpt2.forward(TinyModels.ids(1, 1, 65)));
        Set<String> none = new LinkedHashSet<>();
        assertThrows(CheckpointException.class, () -> Models.fromTensors(model.config(), n -> null, none));
        assertSame(model.config(), model.config());
    }
}
